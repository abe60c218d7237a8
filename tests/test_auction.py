"""The neighbourhood double auction: pymarket's own cases, 1,000 books cleared by pymarket,
McAfee's unit mechanism by hand, and balance / rationality / efficiency properties."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from bessgym.community.auction import Clearing, k_double_auction, max_welfare, mcafee, welfare

BOOKS = Path(__file__).parent / "data" / "pymarket_random_books.json"
MECHANISMS = {"k_double_auction": k_double_auction, "mcafee": mcafee}


def book(bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> tuple[np.ndarray, ...]:
    """One book from (quantity, price) pairs, the order of pymarket's ``add_bid``."""
    return (
        np.array([[p for _, p in bids]], float),
        np.array([[q for q, _ in bids]], float),
        np.array([[p for _, p in asks]], float),
        np.array([[q for q, _ in asks]], float),
    )


# pymarket 0.7.6's fixtures (tests/conftest.py, test_market.py, huang_auction's docstring) and the
# results its tests assert or that it returns: intersect_stepwise's quantity and price at k = 0,
# 0.5, 1; huang_auction's quantity per buyer and seller, buy and sell price; the welfare LP.
PYMARKET_CASES = {
    "bid_dataset_0": (
        book([(1, 3), (2, 4), (5, 1)], [(4, 2), (1, 1), (5, 6)]),
        3.0, (2.0, 2.0, 2.0), ([0, 1, 0], [0, 1, 0], 3.0, 2.0), 6.0,
    ),
    "bid_dataset_1": (
        book(
            [(1, 6.7), (1, 6.6), (1, 6.5), (1, 6.4), (1, 6.3), (1, 6)],
            [(1, 1), (1, 2), (2, 3), (2, 4), (1, 6.1)],
        ),
        6.0, (6.0, 5.0, 4.0), ([0.8, 0.8, 0.8, 0.8, 0.8, 0], [1, 1, 2, 0, 0], 6.0, 4.0), 21.5,
    ),
    "bid_dataset_3": (
        book([(1, 6), (0.1, 5), (1.9, 4), (1, 3)], [(1, 1), (1.5, 2), (1, 2.5), (1, 4)]),
        3.5, (3.0, 3.0, 3.0), ([0.8, 0, 1.7, 0], [1, 1.5, 0, 0], 3.0, 2.5), 9.1,
    ),
    "test_market": (
        book([(1, 4), (1, 3), (1, 2), (1, 1)], [(1, 1), (1, 2), (1, 3)]),
        2.0, (3.0, 2.5, 2.0), ([1, 0, 0, 0], [1, 0, 0], 3.0, 2.0), 4.0,
    ),
    "huang_docstring_no_trade": (
        book([(1, 3), (2, 1)], [(2, 2)]),
        1.0, (2.0, 2.0, 2.0), ([0, 0], [0], np.nan, np.nan), 1.0,
    ),
    "huang_docstring_small_bids": (
        book([(1, 3), (2, 1), (0.2, 3.3)], [(2, 2), (0.3, 1)]),
        1.2, (2.0, 2.0, 2.0), ([0, 0, 0.2], [0, 0.2], 3.0, 2.0), 1.56,
    ),
}


@pytest.mark.parametrize("name", list(PYMARKET_CASES))
def test_pymarket_cases(name: str) -> None:
    args, quantity, prices, huang, lp_welfare = PYMARKET_CASES[name]
    for k, price in zip((0.0, 0.5, 1.0), prices):
        c = k_double_auction(*args, k=k)
        assert c.traded[0] == pytest.approx(quantity, abs=1e-12)
        assert c.price[0] == pytest.approx(price, abs=1e-12)
        assert c.sell_price[0] == c.price[0] and c.surplus[0] == 0.0
    assert max_welfare(*args)[0] == pytest.approx(lp_welfare, abs=1e-9)
    m = mcafee(*args)
    if name == "test_market":
        # McAfee's first branch, which huang_auction lacks: k = 2 efficient trades, p0 = (2 + 3) / 2
        # lies in [s_2, b_2] = [2, 3], so both trade at 2.5 (huang: one unit, buyer 3, seller 2).
        np.testing.assert_array_equal(m.bought[0], [1, 1, 0, 0])
        np.testing.assert_array_equal(m.sold[0], [1, 1, 0])
        assert (m.price[0], m.sell_price[0], m.surplus[0]) == (2.5, 2.5, 0.0)
        return
    bought, sold, price_buy, price_sell = huang
    np.testing.assert_allclose(m.bought[0], bought, atol=1e-12)
    np.testing.assert_allclose(m.sold[0], sold, atol=1e-12)
    np.testing.assert_equal((m.price[0], m.sell_price[0]), (price_buy, price_sell))


def load_books() -> tuple[dict, list[tuple[np.ndarray, ...]]]:
    doc = json.loads(BOOKS.read_text())
    assert doc["source"]["library"] == "pymarket" and doc["source"]["licence"] == "MIT"
    b = doc["books"]
    return b, [
        tuple(np.array([b[key][i]], float) for key in ("bid_price", "bid_qty", "ask_price", "ask_qty"))
        for i in range(len(b["bid_price"]))
    ]


def test_random_books_match_pymarket() -> None:
    """1,000 tie-free books cleared by pymarket 0.7.6 (tests/data/make_pymarket_books.py)."""
    b, books = load_books()
    assert len(books) == 1000
    counts = {"no_cross": 0, "both_step": 0, "single": 0, "reduction_trades": 0}
    for i, args in enumerate(books):
        for key, k in (("price_k0", 0.0), ("price_k05", 0.5), ("price_k1", 1.0)):
            c = k_double_auction(*args, k=k)
            if b["quantity"][i] is None:
                assert c.traded[0] == 0.0 and np.isnan(c.price[0])
            else:
                assert c.traded[0] == pytest.approx(b["quantity"][i], abs=1e-12)
                assert c.price[0] == pytest.approx(b[key][i], abs=1e-12)
        if b["quantity"][i] is None:
            counts["no_cross"] += 1
        elif b["price_k0"][i] != b["price_k1"][i]:
            counts["both_step"] += 1
        m = mcafee(*args)
        huang_bought, huang_sold = np.array(b["huang_bought"][i]), np.array(b["huang_sold"][i])
        if b["mcafee_single"][i]:
            counts["single"] += 1
            eff = k_double_auction(*args)
            np.testing.assert_array_equal(m.bought, eff.bought)
            np.testing.assert_array_equal(m.sold, eff.sold)
            assert m.price[0] == m.sell_price[0] and m.surplus[0] == 0.0
            assert m.traded[0] >= huang_bought.sum() - 1e-12
            w_huang = welfare(args[0], huang_bought[None], args[2], huang_sold[None])
            assert welfare(args[0], m.bought, args[2], m.sold) >= w_huang - 1e-12
        else:
            np.testing.assert_allclose(m.bought[0], huang_bought, atol=1e-9)
            np.testing.assert_allclose(m.sold[0], huang_sold, atol=1e-9)
            if huang_bought.sum() > 0:
                counts["reduction_trades"] += 1
                assert m.price[0] == b["huang_price_buy"][i]
                assert m.sell_price[0] == b["huang_price_sell"][i]
            else:
                assert m.traded[0] == 0.0 and np.isnan(m.price[0])
    # every branch is exercised many times
    assert min(counts.values()) >= 100, counts


def random_books(
    rng: np.random.Generator, t: int, n_b: int, n_s: int, grid: bool
) -> tuple[np.ndarray, ...]:
    """T books padded with zero quantities; ``grid`` draws prices from 6 values (many ties)."""
    def prices(n: int) -> np.ndarray:
        return rng.integers(0, 6, (t, n)) * 0.05 + 0.1 if grid else rng.uniform(-0.05, 0.6, (t, n))

    def qty(n: int) -> np.ndarray:
        q = rng.choice([0.5, 1.0, 1.5, 2.0], (t, n)) if grid else rng.exponential(1.5, (t, n))
        return np.where(rng.random((t, n)) < 0.25, 0.0, q)

    return prices(n_b), qty(n_b), prices(n_s), qty(n_s)


def lp_welfare(bp: np.ndarray, bq: np.ndarray, ap: np.ndarray, aq: np.ndarray) -> float:
    """The efficient gains from trade of one book by linear programming (scipy's HiGHS)."""
    c = np.concatenate([-bp, ap])
    a_eq = np.concatenate([np.ones_like(bp), -np.ones_like(ap)])[None]
    res = linprog(c, A_eq=a_eq, b_eq=[0.0], bounds=list(zip(np.zeros(c.size), np.concatenate([bq, aq]))))
    assert res.status == 0
    return -res.fun


def check_properties(
    c: Clearing, bp: np.ndarray, bq: np.ndarray, ap: np.ndarray, aq: np.ndarray, priority: bool = True
) -> None:
    """What every clearing must satisfy, per interval and per order; ``priority``: price priority
    (not McAfee's trade reduction, which cuts the long side by equal shares)."""
    np.testing.assert_allclose(c.bought.sum(1), c.sold.sum(1), atol=1e-9)
    np.testing.assert_allclose(c.traded, c.bought.sum(1), atol=1e-12)
    np.testing.assert_allclose(c.paid.sum(1), c.received.sum(1) + c.surplus, atol=1e-9)
    assert (c.surplus >= -1e-12).all()
    # individually rational, quantities within the orders, zero orders never trade
    assert (c.paid <= bp * c.bought + 1e-12).all() and (c.received >= ap * c.sold - 1e-12).all()
    assert ((c.bought >= 0) & (c.bought <= bq)).all() and ((c.sold >= 0) & (c.sold <= aq)).all()
    assert (c.bought[bq == 0] == 0).all() and (c.sold[aq == 0] == 0).all()
    best_bid = np.where(bq > 0, bp, -np.inf).max(1, initial=-np.inf)
    best_ask = np.where(aq > 0, ap, np.inf).min(1, initial=np.inf)
    assert (c.traded[best_bid < best_ask] == 0).all()
    trades = c.traded > 0
    assert np.isnan(c.price[~trades]).all() and np.isfinite(c.price[trades]).all()
    assert (c.paid[~trades] == 0).all() and (c.surplus[~trades] == 0).all()
    # price priority: an order is served only when every better-priced order is served in full
    if not priority:
        return
    for price, qty, got, sign in ((bp, bq, c.bought, 1.0), (ap, aq, c.sold, -1.0)):
        better = sign * price[:, :, None] > sign * price[:, None, :]  # [t, i, j]: i beats j
        unfilled = got < qty - 1e-12
        assert not (better & unfilled[:, :, None] & (got > 0)[:, None, :]).any()


@pytest.mark.parametrize("grid", [False, True])
@pytest.mark.parametrize("mechanism", list(MECHANISMS))
def test_properties_on_random_books(mechanism: str, grid: bool) -> None:
    rng = np.random.default_rng(2001 + grid)
    args = random_books(rng, 3000, 7, 6, grid)
    check_properties(MECHANISMS[mechanism](*args), *args, priority=mechanism == "k_double_auction")


@pytest.mark.parametrize("grid", [False, True])
def test_k_double_auction_is_efficient(grid: bool) -> None:
    rng = np.random.default_rng(7 + grid)
    args = random_books(rng, 150, 6, 5, grid)
    best = max_welfare(*args)
    for k in (0.0, 0.3, 1.0):
        c = k_double_auction(*args, k=k)
        np.testing.assert_array_equal(c.surplus, 0.0)
        np.testing.assert_allclose(welfare(args[0], c.bought, args[2], c.sold), best, atol=1e-12)
        # the price lies between every trading order's limit: bids >= price >= asks
        assert (np.where(c.bought > 0, args[0] - c.price[:, None], 0) >= 0).all()
        assert (np.where(c.sold > 0, c.price[:, None] - args[2], 0) >= 0).all()
    lp = np.array([lp_welfare(*(a[t] for a in args)) for t in range(150)])
    np.testing.assert_allclose(best, lp, atol=1e-7)
    assert (best > 0).sum() > 100


def test_mcafee_loses_at_most_the_marginal_orders() -> None:
    """Divisible orders: the volume lost is at most the larger marginal order's fill, and each
    lost kWh costs at most the widest bid-ask spread."""
    rng = np.random.default_rng(11)
    args = random_books(rng, 3000, 6, 6, grid=False)
    bp, bq, ap, aq = args
    eff, m = k_double_auction(*args), mcafee(*args)
    lost = eff.traded - m.traded
    assert (lost >= -1e-9).all() and (lost > 1e-9).sum() > 500
    # the marginal orders are the worst-priced orders the efficient allocation serves
    worst_b = np.where(eff.bought > 0, bp, np.inf).argmin(1)
    worst_s = np.where(eff.sold > 0, ap, -np.inf).argmax(1)
    rows = np.arange(len(lost))
    marginal = np.maximum(eff.bought[rows, worst_b], eff.sold[rows, worst_s])
    assert (lost <= np.where(eff.traded > 0, marginal, 0) + 1e-9).all()
    # widest spread; the 1e9 fillers only matter where a side is empty, so nothing is lost
    spread = np.where(bq > 0, bp, -1e9).max(1) - np.where(aq > 0, ap, 1e9).min(1)
    loss = max_welfare(*args) - welfare(bp, m.bought, ap, m.sold)
    assert (loss >= -1e-9).all()
    assert (loss <= np.where(lost > 0, spread * lost, 0) + 1e-9).all()


def mcafee_unit_reference(bids: list[float], asks: list[float]) -> tuple[int, float, float]:
    """McAfee (1992) for unit orders, by hand: (trades, price buyers pay, price sellers get)."""
    b, s = sorted(bids, reverse=True), sorted(asks)
    k = sum(1 for i in range(min(len(b), len(s))) if b[i] >= s[i])
    if k == 0:
        return 0, np.nan, np.nan
    if k < len(b) and k < len(s):
        p0 = (b[k] + s[k]) / 2
        if s[k - 1] <= p0 <= b[k - 1]:
            return k, p0, p0
    if k == 1:
        return 0, np.nan, np.nan
    return k - 1, b[k - 1], s[k - 1]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(0, 20), min_size=1, max_size=8),
    st.lists(st.integers(0, 20), min_size=1, max_size=8),
)
def test_mcafee_is_mcafee_for_unit_orders(bids: list[int], asks: list[int]) -> None:
    bp, ap = np.array([bids], float) / 10, np.array([asks], float) / 10
    bq, aq = np.ones_like(bp), np.ones_like(ap)
    c = mcafee(bp, bq, ap, aq)
    trades, price, sell_price = mcafee_unit_reference(list(bp[0]), list(ap[0]))
    assert c.traded[0] == trades
    np.testing.assert_equal((c.price[0], c.sell_price[0]), (price, sell_price))
    check_properties(c, bp, bq, ap, aq, priority=False)
    # the loss is at most the marginal (k-th) pair's gain, b_k - s_k
    b, s = sorted(bp[0], reverse=True), sorted(ap[0])
    k = int(k_double_auction(bp, bq, ap, aq).traded[0])
    loss = max_welfare(bp, bq, ap, aq)[0] - welfare(bp, c.bought, ap, c.sold)[0]
    assert loss <= (b[k - 1] - s[k - 1] if k else 0.0) + 1e-12


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_order_of_orders_is_irrelevant(data: st.DataObject) -> None:
    """Permuting the orders permutes the result (distinct prices, so ranks are unique)."""
    n_b, n_s = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 6))
    prices = data.draw(st.lists(st.integers(1, 99), min_size=n_b + n_s, max_size=n_b + n_s, unique=True))
    qty = data.draw(st.lists(st.integers(0, 4), min_size=n_b + n_s, max_size=n_b + n_s))
    bp, ap = np.array([prices[:n_b]], float) / 100, np.array([prices[n_b:]], float) / 100
    bq, aq = np.array([qty[:n_b]], float) / 2, np.array([qty[n_b:]], float) / 2
    pb, ps = data.draw(st.permutations(range(n_b))), data.draw(st.permutations(range(n_s)))
    for f in (k_double_auction, mcafee):
        c, d = f(bp, bq, ap, aq), f(bp[:, pb], bq[:, pb], ap[:, ps], aq[:, ps])
        np.testing.assert_allclose(d.bought, c.bought[:, pb], atol=1e-12)
        np.testing.assert_allclose(d.sold, c.sold[:, ps], atol=1e-12)
        np.testing.assert_equal(d.price, c.price)
        check_properties(c, bp, bq, ap, aq, priority=f is k_double_auction)


def test_ties_are_rationed_by_index() -> None:
    # two buyers at 0.3 compete for 1.5 kWh offered at 0.1: the lower index is served first
    c = k_double_auction([[0.3, 0.3]], [[1.0, 1.0]], [[0.1]], [[1.5]])
    np.testing.assert_array_equal(c.bought, [[1.0, 0.5]])
    assert c.price[0] == 0.3  # only the supply ends at the crossing: the rationed bid sets it
    # a bid equal to the ask trades (no gain); pymarket's intersect_stepwise finds no crossing here
    c = k_double_auction([[0.2]], [[1.0]], [[0.2]], [[2.0]])
    assert (c.traded[0], c.price[0]) == (1.0, 0.2)


def test_uniform_price_need_not_clear_the_excluded_orders() -> None:
    """pymarket's price when both marginal orders end at the crossing: k * ask_m + (1 - k) * bid_m,
    not a Walrasian price; here the excluded buyer's bid 0.55 exceeds it and the buyer gets nothing."""
    c = k_double_auction([[0.6, 0.55]], [[1.0, 1.0]], [[0.4, 0.61]], [[1.0, 1.0]], k=0.5)
    assert c.price[0] == pytest.approx(0.5)
    np.testing.assert_array_equal(c.bought, [[1.0, 0.0]])


def test_degenerate_books() -> None:
    empty = np.zeros((3, 0))
    for f in MECHANISMS.values():
        c = f(np.ones((3, 2)), np.ones((3, 2)), empty, empty)
        assert c.sold.shape == (3, 0) and (c.traded == 0).all() and np.isnan(c.price).all()
        c = f(empty, empty, np.ones((3, 2)), np.ones((3, 2)))
        assert c.bought.shape == (3, 0) and (c.traded == 0).all()
        c = f(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros((0, 1)), np.zeros((0, 1)))
        assert c.price.shape == (0,)
        # all-padding books
        c = f(np.ones((2, 3)), np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((2, 3)))
        assert (c.traded == 0).all()
    # McAfee with one buyer and one seller: the marginal pair is excluded, nothing trades
    assert mcafee([[1.0]], [[1.0]], [[0.5]], [[1.0]]).traded[0] == 0.0


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([[np.nan]], [[1.0]], [[0.1]], [[1.0]]), "bid_price must be finite"),
        (([[0.2]], [[np.inf]], [[0.1]], [[1.0]]), "bid_qty must be finite"),
        (([[0.2]], [[1.0]], [[0.1]], [[-1.0]]), r"ask_qty must be >= 0 kWh .*got -1.0 at \[0, 0\]"),
        (([[0.2]], [[1.0, 1.0]], [[0.1]], [[1.0]]), r"bid_qty must have bid_price's shape \(1, 1\)"),
        (([[0.2]], [[1.0]], [[0.1], [0.1]], [[1.0], [1.0]]), "as many intervals"),
        (([0.2], [1.0], [0.1], [1.0]), "bid_price must be a 2-D array"),
    ],
)
def test_bad_input_is_refused(args: tuple, match: str) -> None:
    for f in (*MECHANISMS.values(), max_welfare):
        with pytest.raises(ValueError, match=match):
            f(*args)


def test_k_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match=r"k must be in \[0, 1\]; got 1.5"):
        k_double_auction([[0.2]], [[1.0]], [[0.1]], [[1.0]], k=1.5)


def test_a_year_of_25_homes_clears_fast() -> None:
    """8,760 hourly books of 25 homes, each a buyer or a seller (the other side padded)."""
    rng = np.random.default_rng(3)
    seller = rng.random((8760, 25)) < 0.4
    qty = rng.exponential(1.0, (8760, 25))
    bp, ap = rng.uniform(0.1, 0.5, (8760, 25)), rng.uniform(0.05, 0.45, (8760, 25))
    args = (bp, np.where(seller, 0.0, qty), ap, np.where(seller, qty, 0.0))
    for f in MECHANISMS.values():
        best = np.inf
        for _ in range(3):
            start = time.perf_counter()
            c = f(*args)
            best = min(best, time.perf_counter() - start)
        assert best < 1.0, f"{f.__name__}: {best:.3f} s"
        assert (c.traded > 0).mean() > 0.9
