"""Build tests/data/pymarket_random_books.json: 1,000 random order books and pymarket's clearing.

Run with a Python that has pymarket 0.7.6 (MIT, https://github.com/gus0k/pymarket) installed, NOT
bessgym's environment (pymarket pulls pulp, networkx and matplotlib):

    python tests/data/make_pymarket_books.py

Books: 1-5 buyers and 1-5 sellers, prices uniform on [0.05, 0.55] $/kWh at 4 decimals and all
distinct within a book (pymarket's ``intersect_stepwise`` finds no crossing when a bid equals an
ask at the margin, and pandas' unstable sort leaves tied ranks open), quantities multiples of
0.5 kWh in [0.5, 4] so that both marginal orders often end at the crossing exactly. Recorded per
book: ``intersect_stepwise``'s quantity and price for k = 0, 0.5, 1 (null when it finds no
crossing), ``huang_auction``'s quantity per order and its buy and sell prices, and
``mcafee_single``: whether McAfee's single-price branch applies, computed here on pymarket's
demand and supply curves (the orders ranked after the marginal ones: p0 = their mean price,
single when ask_m <= p0 <= bid_m; false when a side has no such order).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pymarket
from pymarket.bids import BidManager
from pymarket.bids.demand_curves import demand_curve_from_bids, intersect_stepwise, supply_curve_from_bids
from pymarket.mechanisms import huang_auction

SEED = 20
N_BOOKS = 1000
OUT = Path(__file__).with_name("pymarket_random_books.json")


def draw_book(rng: np.random.Generator) -> tuple[list[float], list[float], list[float], list[float]]:
    n_b, n_s = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    while True:
        prices = np.round(rng.uniform(0.05, 0.55, n_b + n_s), 4)
        if len(set(prices.tolist())) == n_b + n_s:
            break
    qty = rng.integers(1, 9, n_b + n_s) * 0.5
    return prices[:n_b].tolist(), qty[:n_b].tolist(), prices[n_b:].tolist(), qty[n_b:].tolist()


def num(x: object) -> float | None:
    return None if x is None else float(x)


def clear(bp: list[float], bq: list[float], ap: list[float], aq: list[float]) -> dict:
    bm = BidManager()
    for i, (p, q) in enumerate(zip(bp, bq)):
        bm.add_bid(q, p, i, True, 0)
    for i, (p, q) in enumerate(zip(ap, aq)):
        bm.add_bid(q, p, len(bp) + i, False, 0)
    df = bm.get_df()
    demand, _ = demand_curve_from_bids(df)
    supply, _ = supply_curve_from_bids(df)
    out: dict = {}
    for key, k in (("k0", 0.0), ("k05", 0.5), ("k1", 1.0)):
        q, b_, s_, v = intersect_stepwise(demand, supply, k=k)
        out["quantity"] = num(q)
        out["price_" + key] = num(v) if q is not None else None
    single = False
    if b_ is not None:
        # Curves end with a sentinel row (inf, 0) / (inf, inf): a next order exists below it.
        if b_ + 1 < len(demand) - 1 and s_ + 1 < len(supply) - 1:
            p0 = 0.5 * (demand[b_ + 1, 1] + supply[s_ + 1, 1])
            single = bool(supply[s_, 1] <= p0 <= demand[b_, 1])
    out["mcafee_single"] = single
    trans, extra = huang_auction(df)
    bought, sold = [0.0] * len(bp), [0.0] * len(ap)
    for bid, quantity in trans.get_df()[["bid", "quantity"]].values.tolist():
        if int(bid) < len(bp):
            bought[int(bid)] = float(quantity)
        else:
            sold[int(bid) - len(bp)] = float(quantity)
    out["huang_bought"], out["huang_sold"] = bought, sold
    out["huang_price_buy"] = num(extra.get("price_buy"))
    out["huang_price_sell"] = num(extra.get("price_sell"))
    return out


def main() -> None:
    rng = np.random.default_rng(SEED)
    cols: dict[str, list] = {}
    for _ in range(N_BOOKS):
        bp, bq, ap, aq = draw_book(rng)
        row = {"bid_price": bp, "bid_qty": bq, "ask_price": ap, "ask_qty": aq, **clear(bp, bq, ap, aq)}
        for key, value in row.items():
            cols.setdefault(key, []).append(value)
    doc = {
        "source": {
            "library": "pymarket",
            "version": pymarket.__version__,
            "licence": "MIT",
            "url": "https://github.com/gus0k/pymarket",
            "functions": "pymarket.bids.demand_curves.intersect_stepwise, pymarket.mechanisms.huang_auction",
            "generator": "tests/data/make_pymarket_books.py",
            "seed": SEED,
            "units": "prices $/kWh, quantities kWh",
        },
        "books": cols,
    }
    OUT.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {N_BOOKS} books)")


if __name__ == "__main__":
    main()
