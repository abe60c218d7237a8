"""Double-auction clearing for the neighbourhood market: pure numpy, vectorised over T books.

Each of the T intervals is an independent call market. Buyers post ``bid_price`` ($/kWh) and
``bid_qty`` (kWh) of shape (T, B), sellers ``ask_price`` and ``ask_qty`` of shape (T, S).
Quantities are divisible and >= 0; a zero quantity is no order (books of different sizes are
padded with zeros) and never trades. Prices may be any finite number.

Orders are ranked by price, bids descending and asks ascending, ties by index (lower first), so
the ranking and the rationing of the marginal orders are deterministic. The stepwise demand and
supply curves cross at the efficient quantity Q: the most kWh for which every traded unit's bid
is at least its ask (units with bid == ask trade; they add no welfare). The order whose step
contains Q on each side is the marginal one ("steps at Q" when its cumulative quantity ends at
Q, within :data:`QTY_ATOL`); the marginal order is rationed, the orders ranked before it are
fully served, those after it get nothing (rationing by rank, not pro rata).

Mechanisms:

* :func:`k_double_auction`: uniform price, the efficient allocation, the price of pymarket's
  ``intersect_stepwise`` (pymarket 0.7.6, MIT): ``k * ask + (1 - k) * bid`` of the marginal pair
  when both step at Q, else the rationed side's own price. This price always lies between the
  marginal bid and ask (individually rational), but when both marginal orders step at Q it can
  fall outside the Walrasian interval ``[max(ask_m, bid_m+1), min(bid_m, ask_m+1)]``: an excluded
  buyer may bid above it, or an excluded seller ask below it (see the tests).
* :func:`mcafee`: McAfee's (1992) dominant-strategy double auction, each order one trader with a
  divisible quantity (the generalisation of Huang, Scheller-Wolf and Sycara 2002). With
  ``bid_m``/``ask_m`` the marginal orders and ``bid_m+1``/``ask_m+1`` the next orders in rank,
  ``p0 = (bid_m+1 + ask_m+1) / 2``; if ``ask_m <= p0 <= bid_m`` the efficient allocation trades
  at p0. Otherwise (or when a side has no order after its marginal one, so p0 is undefined:
  no bounds on the traders' values are given) the marginal orders are excluded; the others
  trade, buyers paying ``bid_m`` and sellers receiving ``ask_m`` per kWh, and the long side is
  cut to the short side's total by equal shares, an order whose share exceeds its quantity
  dropping out (Huang et al.'s footnote, pymarket's ``update_quantity``). This branch equals
  pymarket's ``huang_auction``; for unit orders the whole is exactly McAfee's mechanism.

:func:`welfare` and :func:`max_welfare` give the realised and the maximum gains from trade, so
allocative efficiency is ``welfare(...) / max_welfare(...)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

QTY_ATOL = 1e-9
"""kWh within which an order's cumulative quantity counts as ending at the crossing quantity
(pymarket compares exactly; the two differ only on rounding noise)."""


@dataclass(frozen=True)
class Clearing:
    """The result of clearing T order books; NaN prices where nothing trades.

    ``price`` is what buyers pay and ``sell_price`` what sellers receive ($/kWh, equal under a
    uniform price); ``bought`` (T, B) and ``sold`` (T, S) kWh per order; ``paid`` (T, B) $ by
    each buyer and ``received`` (T, S) $ by each seller; ``surplus`` (T,) $ the mechanism keeps
    (``paid.sum(1) == received.sum(1) + surplus``, >= 0); ``traded`` (T,) kWh.
    """

    price: np.ndarray
    sell_price: np.ndarray
    bought: np.ndarray
    sold: np.ndarray
    paid: np.ndarray
    received: np.ndarray
    surplus: np.ndarray
    traded: np.ndarray


@dataclass(frozen=True)
class _Side:
    """One side of T books ranked by price: ``order`` maps rank to original index."""

    order: np.ndarray  # (T, N) int
    price: np.ndarray  # (T, N) $/kWh, ranked
    qty: np.ndarray  # (T, N) kWh, ranked (zero-quantity orders last)
    cum: np.ndarray  # (T, N) kWh, cumulative ranked quantity
    count: np.ndarray  # (T,) int, orders with quantity > 0


@dataclass(frozen=True)
class _Crossing:
    """The efficient crossing: quantity, marginal ranks, whether each marginal order steps."""

    bids: _Side
    asks: _Side
    quantity: np.ndarray  # (T,) kWh
    m_bid: np.ndarray  # (T,) rank of the marginal bid
    m_ask: np.ndarray  # (T,) rank of the marginal ask
    bid_steps: np.ndarray  # (T,) bool
    ask_steps: np.ndarray  # (T,) bool


def _as_book(name: str, value: object) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (T intervals, orders); got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} must be finite; got {arr[idx]} at {list(idx)}")
    return arr


def _validate(
    bid_price: object, bid_qty: object, ask_price: object, ask_qty: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    bp, bq = _as_book("bid_price", bid_price), _as_book("bid_qty", bid_qty)
    ap, aq = _as_book("ask_price", ask_price), _as_book("ask_qty", ask_qty)
    if bp.shape != bq.shape:
        raise ValueError(f"bid_qty must have bid_price's shape {bp.shape}; got {bq.shape}")
    if ap.shape != aq.shape:
        raise ValueError(f"ask_qty must have ask_price's shape {ap.shape}; got {aq.shape}")
    if bp.shape[0] != ap.shape[0]:
        raise ValueError(
            f"ask_price must have as many intervals (rows) as bid_price ({bp.shape[0]}); "
            f"got {ap.shape[0]}"
        )
    for name, q in (("bid_qty", bq), ("ask_qty", aq)):
        neg = q < 0
        if neg.any():
            idx = tuple(int(i) for i in np.argwhere(neg)[0])
            raise ValueError(f"{name} must be >= 0 kWh (0 = no order); got {q[idx]} at {list(idx)}")
    return bp, bq, ap, aq


def _rank(price: np.ndarray, qty: np.ndarray, descending: bool) -> _Side:
    key = np.where(qty > 0, -price if descending else price, np.inf)
    order = np.argsort(key, axis=1, kind="stable")
    qty_r = _gather(qty, order)
    return _Side(
        order=order,
        price=_gather(price, order),
        qty=qty_r,
        cum=np.cumsum(qty_r, axis=1),
        count=(qty > 0).sum(axis=1),
    )


def _cross(bp: np.ndarray, bq: np.ndarray, ap: np.ndarray, aq: np.ndarray) -> _Crossing:
    bids, asks = _rank(bp, bq, descending=True), _rank(ap, aq, descending=False)
    t = bp.shape[0]
    n_b, n_s = bp.shape[1], ap.shape[1]
    # Supply offered at or below each ranked bid's price: the ranked asks' cumulative quantity
    # up to the last ask <= that bid (zero-quantity asks rank last, behind an infinite key).
    ask_key = np.where(asks.qty > 0, asks.price, np.inf)
    n_below = (ask_key[:, None, :] <= bids.price[:, :, None]).sum(axis=2)
    supply_cum = np.concatenate([np.zeros((t, 1)), asks.cum], axis=1)
    supply_at_bid = _gather(supply_cum, n_below)
    # Demand at rank j meets supply on (cum_{j-1}, min(cum_j, supply_at_bid_j)]; the union over
    # j is (0, Q] because demand falls and supply rises along the quantity axis.
    reach = np.where(bids.qty > 0, np.minimum(bids.cum, supply_at_bid), 0.0)
    quantity = reach.max(axis=1) if n_b else np.zeros(t)
    m_bid = np.minimum((bids.cum < (quantity - QTY_ATOL)[:, None]).sum(axis=1), max(n_b - 1, 0))
    m_ask = np.minimum((asks.cum < (quantity - QTY_ATOL)[:, None]).sum(axis=1), max(n_s - 1, 0))
    bid_steps = _at(bids.cum, m_bid) <= quantity + QTY_ATOL if n_b else np.zeros(t, bool)
    ask_steps = _at(asks.cum, m_ask) <= quantity + QTY_ATOL if n_s else np.zeros(t, bool)
    return _Crossing(bids, asks, quantity, m_bid, m_ask, bid_steps, ask_steps)


def _gather(a: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``a[t, index[t, j]]`` for every row t and column j (``np.take_along_axis`` on axis 1,
    without its checks: this runs on every clearing)."""
    return a[np.arange(a.shape[0])[:, None], index]


def _at(a: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """``a[t, rank[t]]`` for every row t."""
    return a[np.arange(a.shape[0]), rank]


def _fill(side: _Side, quantity: np.ndarray, marginal: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Ranked fills of the efficient allocation: full before the marginal rank, the rest after."""
    ranks = np.arange(side.qty.shape[1])
    before = np.concatenate([np.zeros((side.qty.shape[0], 1)), side.cum[:, :-1]], axis=1)
    partial = np.clip(quantity[:, None] - before, 0.0, side.qty)
    m = marginal[:, None]
    fill = np.where(ranks < m, side.qty, 0.0)
    fill = np.where(ranks == m, np.where(steps[:, None], side.qty, partial), fill)
    return np.where(quantity[:, None] > 0, fill, 0.0)


def _unrank(ranked: np.ndarray, order: np.ndarray) -> np.ndarray:
    out = np.empty_like(ranked)
    out[np.arange(out.shape[0])[:, None], order] = ranked
    return out


def _clearing(
    cx: _Crossing,
    bought_r: np.ndarray,
    sold_r: np.ndarray,
    buy_price: np.ndarray,
    sell_price: np.ndarray,
) -> Clearing:
    bought, sold = _unrank(bought_r, cx.bids.order), _unrank(sold_r, cx.asks.order)
    traded = bought.sum(axis=1)
    trades = traded > 0
    buy_price = np.where(trades, buy_price, np.nan)
    sell_price = np.where(trades, sell_price, np.nan)
    paid = np.where(trades[:, None], bought * buy_price[:, None], 0.0)
    received = np.where(trades[:, None], sold * sell_price[:, None], 0.0)
    surplus = np.where(trades, (buy_price - sell_price) * traded, 0.0)
    return Clearing(buy_price, sell_price, bought, sold, paid, received, surplus, traded)


def _efficient(cx: _Crossing) -> tuple[np.ndarray, np.ndarray]:
    return (
        _fill(cx.bids, cx.quantity, cx.m_bid, cx.bid_steps),
        _fill(cx.asks, cx.quantity, cx.m_ask, cx.ask_steps),
    )


def _marginal_prices(cx: _Crossing) -> tuple[np.ndarray, np.ndarray]:
    t = cx.quantity.shape[0]
    bid_m = _at(cx.bids.price, cx.m_bid) if cx.bids.price.shape[1] else np.full(t, np.nan)
    ask_m = _at(cx.asks.price, cx.m_ask) if cx.asks.price.shape[1] else np.full(t, np.nan)
    return bid_m, ask_m


def k_double_auction(
    bid_price: object, bid_qty: object, ask_price: object, ask_qty: object, k: float = 0.5
) -> Clearing:
    """Uniform-price call market (k-double auction) over T books; see the module docstring.

    ``k`` in [0, 1] weighs the marginal ask (k = 1) against the marginal bid (k = 0) when both
    marginal orders end at the crossing; otherwise the rationed order's price is the price.
    The allocation is efficient; the surplus is 0.
    """
    k = float(k)
    if not 0.0 <= k <= 1.0:
        raise ValueError(f"k must be in [0, 1]; got {k}")
    bp, bq, ap, aq = _validate(bid_price, bid_qty, ask_price, ask_qty)
    cx = _cross(bp, bq, ap, aq)
    bid_m, ask_m = _marginal_prices(cx)
    price = np.where(
        cx.bid_steps & cx.ask_steps, k * ask_m + (1.0 - k) * bid_m, np.where(cx.bid_steps, ask_m, bid_m)
    )
    price = np.clip(price, ask_m, bid_m)  # rounding of the mix never leaves [ask_m, bid_m]
    bought_r, sold_r = _efficient(cx)
    return _clearing(cx, bought_r, sold_r, price, price)


def _cut_to(qty: np.ndarray, member: np.ndarray, gap: np.ndarray) -> np.ndarray:
    """Cut the members' quantities by ``gap`` kWh in total, by equal shares, dropping an order
    whose share would exceed its quantity and sharing its remainder among the others."""
    n = qty.shape[1]
    if n == 0:
        return np.zeros_like(qty)
    x = np.sort(np.where(member, qty, np.inf), axis=1)
    finite = np.isfinite(x)
    taken = np.cumsum(np.where(finite, x, 0.0), axis=1) - np.where(finite, x, 0.0)
    left = member.sum(axis=1)[:, None] - np.arange(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        level = np.where(left > 0, (gap[:, None] - taken) / left, np.inf)
    stop = finite & (x >= level)
    first = np.argmax(stop, axis=1)
    # no stop: the gap is the whole side (up to rounding), which is cut to nothing
    cut = np.where(stop.any(axis=1), _at(level, first), np.inf)
    return np.where(member, np.maximum(qty - cut[:, None], 0.0), 0.0)


def mcafee(bid_price: object, bid_qty: object, ask_price: object, ask_qty: object) -> Clearing:
    """McAfee's (1992) trade-reduction double auction over T books; see the module docstring.

    Where p0 holds, the efficient allocation at the single price p0 (surplus 0); otherwise the
    marginal orders are excluded, buyers pay the marginal bid and sellers get the marginal ask,
    and the mechanism keeps ``(bid_m - ask_m) * traded`` >= 0.
    """
    bp, bq, ap, aq = _validate(bid_price, bid_qty, ask_price, ask_qty)
    cx = _cross(bp, bq, ap, aq)
    bid_m, ask_m = _marginal_prices(cx)
    t = cx.quantity.shape[0]
    bid_next = _next_price(cx.bids, cx.m_bid, t)
    ask_next = _next_price(cx.asks, cx.m_ask, t)
    p0 = 0.5 * (bid_next + ask_next)
    single = (cx.quantity > 0) & np.isfinite(p0) & (ask_m <= p0) & (p0 <= bid_m)

    eff_b, eff_s = _efficient(cx)
    in_b = (np.arange(bq.shape[1]) < cx.m_bid[:, None]) & (cx.quantity > 0)[:, None]
    in_s = (np.arange(aq.shape[1]) < cx.m_ask[:, None]) & (cx.quantity > 0)[:, None]
    supply = np.where(in_s, cx.asks.qty, 0.0).sum(axis=1)
    demand = np.where(in_b, cx.bids.qty, 0.0).sum(axis=1)
    both = ((supply > 0) & (demand > 0))[:, None]
    red_b = np.where(both, _cut_to(cx.bids.qty, in_b, np.maximum(demand - supply, 0.0)), 0.0)
    red_s = np.where(both, _cut_to(cx.asks.qty, in_s, np.maximum(supply - demand, 0.0)), 0.0)
    bought_r = np.where(single[:, None], eff_b, red_b)
    sold_r = np.where(single[:, None], eff_s, red_s)
    return _clearing(cx, bought_r, sold_r, np.where(single, p0, bid_m), np.where(single, p0, ask_m))


def _next_price(side: _Side, marginal: np.ndarray, t: int) -> np.ndarray:
    """Price of the order ranked after the marginal one; NaN where there is none."""
    nxt = marginal + 1
    if side.price.shape[1] == 0:
        return np.full(t, np.nan)
    price = _at(side.price, np.minimum(nxt, side.price.shape[1] - 1))
    return np.where(nxt < side.count, price, np.nan)


def welfare(bid_price: object, bought: object, ask_price: object, sold: object) -> np.ndarray:
    """Realised gains from trade (T,) $: ``sum(bid * bought) - sum(ask * sold)`` per interval,
    i.e. the sum of (bid - ask) over matched kWh when bought and sold balance."""
    bp, b, ap, s = _validate(bid_price, bought, ask_price, sold)
    return (bp * b).sum(axis=1) - (ap * s).sum(axis=1)


def max_welfare(bid_price: object, bid_qty: object, ask_price: object, ask_qty: object) -> np.ndarray:
    """Maximum gains from trade (T,) $: those of the efficient allocation (the k-double
    auction's, for any k); the denominator of allocative efficiency."""
    bp, bq, ap, aq = _validate(bid_price, bid_qty, ask_price, ask_qty)
    cx = _cross(bp, bq, ap, aq)
    bought_r, sold_r = _efficient(cx)
    return welfare(bp, _unrank(bought_r, cx.bids.order), ap, _unrank(sold_r, cx.asks.order))
