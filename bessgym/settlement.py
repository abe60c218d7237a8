"""The settlement ledger (DESIGN 1.6): pure functions over arrays, one implementation.

All amounts are $ for one RT interval of ``dt_h`` hours; positive is revenue. Each settlement
layer settles the deviation from the layer before (DA, then RT; or DA, then the FMM, then the RTD
in a three-settlement market: :attr:`~bessgym.market.MarketProfile.settlement`). Lines:

* ``da_energy``    = DA price x DA position x dt (paid whether or not delivered)
* ``fmm_energy``   = FMM price x (FMM position - DA position) x dt (three settlements; else 0)
* ``rt_imbalance`` = RT price x (delivered net power - the position before) x dt: the RT market's
  in two settlements (the position before is the DA position), the RTD's in three (the FMM
  position)
* ``virtual``      = (DA price - next layer's price) x virtual position x dt: sold in DA, bought
  back in the next layer (the FMM, or RT), no physical flow
* ``as_capacity``  = sum_a AS price x award x dt
* ``mileage``      = sum_reg mileage price x mileage per MW x award (if the profile pays it)
* ``no_pay``       = - the available share of the capacity payment of the products with a
  request, in the share of the request not delivered
* ``unavailable``  = - the capacity payment of awards not backed in the interval, deployed or
  not: up awards need ``b + R_up <= P_dis`` and SoC ``e - E_min >= sum_a r_a D_a / eta_d``, reg
  down ``b - R_dn >= -P_ch`` and ``E_max - e >= r_RD D_RD eta_c`` (the energy part only where the
  profile asks for ``energy_backing``); ``b`` the base point asked for, ``e`` the SoC at the
  interval's start; what does not fit is unavailable, pro rata over the side's products
* ``penalty``      = - kappa x max(RT price, lambda_pen) x total shortfall x dt
* ``degradation``  = - c_deg x (charge + discharge) x dt
* ``terminal``     = value of the final SoC against the target, on the last interval: above it
  ``eta_d p - c_deg`` per MWh (what selling it would fetch), below it ``-(max(p, 0) / eta_c +
  c_deg)`` (what buying it back would cost; never less than the wear, so ending empty is never
  free, not even on a day whose DA prices average below zero), ``p`` the day's mean DA price
* ``incentive``    = - what an aggregator pays its customers for their response (a fleet of
  thermostats or EVs, ``bessgym.portfolio``): ``c^s`` x (charge + discharge around the
  baseline) x dt; 0 for a battery

Up products share one delivery fraction (pro rata), so the action-dependent lines need only the
up/down totals; :class:`DayTerms` holds everything that a DA bid fixes for the day, and
:func:`interval_lines` turns one interval's flows into money with plain arithmetic and injected
operations, so the same function serves Python floats (step-wise) and arrays (whole day, batched).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from bessgym.battery import SCALAR_OPS, Battery, Flows, Ops
from bessgym.deployment import sub_periods
from bessgym.market import DOWN_INDEX, HOURS, RULE_TOL, UP_INDEX, MarketProfile, backing_mwh_per_mw

LEDGER_LINES: tuple[str, ...] = (
    "da_energy",
    "fmm_energy",
    "rt_imbalance",
    "virtual",
    "as_capacity",
    "mileage",
    "no_pay",
    "unavailable",
    "penalty",
    "degradation",
    "terminal",
    "incentive",
)
MARKET_LINES: tuple[str, ...] = ("da_energy", "fmm_energy", "rt_imbalance", "virtual", "as_capacity", "mileage")
"""The ledger lines that are market revenue (energy in every layer, virtual positions, AS)."""
PENALTY_LINES: tuple[str, ...] = ("no_pay", "unavailable", "penalty")
"""The ledger lines that are penalties: what a table's "penalties" sums (negated: $ paid)."""


class Ledger(NamedTuple):
    """Ledger lines in $ (scalars, or arrays over intervals and/or a batch)."""

    da_energy: Any
    fmm_energy: Any
    rt_imbalance: Any
    virtual: Any
    as_capacity: Any
    mileage: Any
    no_pay: Any
    unavailable: Any
    penalty: Any
    degradation: Any
    terminal: Any
    incentive: Any

    @property
    def total(self) -> Any:
        return sum(self)

    def sum(self, axis: int = -1) -> "Ledger":
        """Sum each line over ``axis`` (the interval axis by default)."""
        return Ledger(*(np.sum(line, axis=axis) for line in self))

    def as_dict(self) -> dict[str, float]:
        return {name: float(value) for name, value in zip(LEDGER_LINES, self)}


class StepTerms(NamedTuple):
    """What a DA bid and the day fix for one interval (floats) or for intervals (arrays).

    ``position_mw`` the DA position; ``w_up`` the up sub-period's share; ``up_in_up``,
    ``up_in_down``, ``down_in_down`` the deployment requested in the sub-periods (MW, see
    :func:`bessgym.battery.interval_flows`) and ``up_req_mw``, ``down_req_mw`` over the interval;
    ``cap_*_usd`` the side's capacity payment in the interval, ``cap_*_req_usd`` that of its
    products with a request (what no-pay can rescind); ``inv_*_req`` 1 / request where requested;
    ``award_*_mw`` the side's awards and ``need_*_mwh`` the SoC room they need (0 without energy
    backing); ``fmm_price`` the price of the layer after DA (the FMM's, or the RT price in two
    settlements); ``da_energy``, ``virtual``, ``as_capacity``, ``mileage`` the bid-fixed lines ($).
    """

    position_mw: Any
    rt_price: Any
    fmm_price: Any
    penalty_price: Any
    w_up: Any
    up_in_up: Any
    up_in_down: Any
    down_in_down: Any
    up_req_mw: Any
    down_req_mw: Any
    cap_up_usd: Any
    cap_down_usd: Any
    cap_up_req_usd: Any
    cap_down_req_usd: Any
    inv_up_req: Any
    inv_down_req: Any
    award_up_mw: Any
    award_down_mw: Any
    need_up_mwh: Any
    need_down_mwh: Any
    da_energy: Any
    virtual: Any
    as_capacity: Any
    mileage: Any


class DayTerms(NamedTuple):
    """A day's :class:`StepTerms` as arrays (..., T), the interval length, the requests per product
    (..., T, 4) and the day's mean DA price (...) for the terminal value."""

    dt_h: float
    step: StepTerms
    request_mw: np.ndarray
    mean_da_price: np.ndarray

    def at(self, t: int) -> StepTerms:
        """The terms of interval ``t`` (arrays over the leading axes)."""
        return StepTerms(*(field[..., t] for field in self.step))


BID_FIELDS = ("position_mw", "rt_price", "fmm_price", "penalty_price", "cap_up_usd", "cap_down_usd", "award_up_mw",
              "award_down_mw", "need_up_mwh", "need_down_mwh", "da_energy", "virtual", "as_capacity")
"""The :class:`StepTerms` a day's prices and bid fix; the others depend on its deployment too."""


def capacity_usd(as_price: np.ndarray, as_mw: np.ndarray, dt_h: float) -> np.ndarray:
    """The capacity payment of awards ``as_mw`` (..., 24, 4) at ``as_price`` for one interval of
    ``dt_h`` hours, $ per product and hour."""
    return as_price * as_mw * dt_h


def day_terms(
    battery: Battery,
    market: MarketProfile,
    dt_h: float,
    da_price: np.ndarray,
    rt_price: np.ndarray,
    as_price: np.ndarray,
    mileage_price: np.ndarray,
    fraction: np.ndarray,
    mileage: np.ndarray,
    up_time: np.ndarray,
    energy_mw: np.ndarray,
    as_mw: np.ndarray,
    fmm_price: np.ndarray | None = None,
    virtual_mw: np.ndarray | None = None,
) -> DayTerms:
    """Expand hourly prices and awards to intervals and fix the bid's money terms.

    Shapes, with an optional leading batch axis: ``da_price`` (24,), ``rt_price`` (T,),
    ``as_price`` (24, 4), ``mileage_price`` (24, 2), ``fraction`` (T, 4), ``mileage`` (T, 2),
    ``up_time`` (T,), ``energy_mw`` (24,), ``as_mw`` (24, 4), ``fmm_price`` (F,) with F dividing
    T (three settlements; None in two), ``virtual_mw`` (24,) (None: no virtual position).
    """
    fixed = bid_terms(battery, market, dt_h, da_price, rt_price, as_price, energy_mw, as_mw, fmm_price, virtual_mw)
    deployed, request = deployment_terms(market, dt_h, as_price, mileage_price, fraction, mileage, up_time, as_mw)
    return DayTerms(dt_h, StepTerms(**fixed, **deployed), request, da_price.mean(-1))


def penalty_price(market: MarketProfile, rt_price: np.ndarray) -> np.ndarray:
    """$/MWh charged on undelivered deployment: ``kappa max(RT price, lambda_pen)``."""
    return market.penalty_factor * np.maximum(rt_price, market.penalty_price_floor_usd_per_mwh)


def next_layer_price(rt_price: np.ndarray, fmm_price: np.ndarray | None) -> np.ndarray:
    """The price (..., T) of the layer after DA in each RT interval: the FMM's, repeated over its
    RTD intervals, or the RT price itself in two settlements (``fmm_price`` None)."""
    if fmm_price is None:
        return rt_price
    n, f = rt_price.shape[-1], fmm_price.shape[-1]
    if f == 0 or n % f:
        raise ValueError(f"fmm_price has {f} intervals, which must divide the {n} RT intervals")
    return np.repeat(fmm_price, n // f, axis=-1)


def bid_terms(
    battery: Battery, market: MarketProfile, dt_h: float, da_price: np.ndarray, rt_price: np.ndarray,
    as_price: np.ndarray, energy_mw: np.ndarray, as_mw: np.ndarray, fmm_price: np.ndarray | None = None,
    virtual_mw: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The :data:`BID_FIELDS` of a day's :class:`StepTerms` (arrays (..., T))."""
    per_hour = rt_price.shape[-1] // HOURS
    awards = np.repeat(as_mw, per_hour, axis=-2)  # (..., T, 4)
    capacity = np.repeat(capacity_usd(as_price, as_mw, dt_h), per_hour, axis=-2)  # (..., T, 4) $ per interval
    mwh = backing_mwh_per_mw(battery, market)
    next_price = next_layer_price(rt_price, fmm_price)
    position = np.repeat(energy_mw, per_hour, axis=-1)
    virtual = np.zeros_like(rt_price) if virtual_mw is None else np.repeat(virtual_mw, per_hour, axis=-1)
    da_energy, virtual_usd = position_lines(np.repeat(da_price, per_hour, axis=-1), next_price, position, virtual, dt_h)
    return {
        "position_mw": position,
        "rt_price": rt_price,
        "fmm_price": next_price,
        "penalty_price": penalty_price(market, rt_price),
        "cap_up_usd": _up(capacity),
        "cap_down_usd": capacity[..., DOWN_INDEX],
        "award_up_mw": _up(awards),
        "award_down_mw": awards[..., DOWN_INDEX],
        "need_up_mwh": _up(awards * mwh),
        "need_down_mwh": awards[..., DOWN_INDEX] * mwh[DOWN_INDEX],
        "da_energy": da_energy,
        "virtual": virtual_usd,
        "as_capacity": _up(capacity) + capacity[..., DOWN_INDEX],
    }


def deployment_terms(
    market: MarketProfile, dt_h: float, as_price: np.ndarray, mileage_price: np.ndarray, fraction: np.ndarray,
    mileage: np.ndarray, up_time: np.ndarray, as_mw: np.ndarray,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The other fields of a day's :class:`StepTerms` (arrays (..., T)), and the deployed
    requests per product (..., T, 4) in MW."""
    per_hour = fraction.shape[-2] // HOURS
    awards = np.repeat(as_mw, per_hour, axis=-2)
    capacity = np.repeat(capacity_usd(as_price, as_mw, dt_h), per_hour, axis=-2)
    fields = interval_deployment_terms(market, fraction, up_time, awards, capacity, mileage,
                                       np.repeat(mileage_price, per_hour, axis=-2))
    return fields, fraction * awards


def interval_deployment_terms(
    market: MarketProfile, fraction: np.ndarray, up_time: np.ndarray, awards: np.ndarray, capacity: np.ndarray,
    mileage: np.ndarray, mileage_price: np.ndarray,
) -> dict[str, np.ndarray]:
    """The deployment-dependent :class:`StepTerms` fields of intervals (any leading shape): from
    their deployment fractions (..., 4), up-time shares (...), awards (..., 4) MW, capacity payments
    (..., 4) $ per interval, mileage (..., 2) and mileage prices (..., 2)."""
    request = fraction * awards
    requested = capacity * (request > 0)
    up_req, down_req = _up(request), request[..., DOWN_INDEX]
    w_up, in_up, in_down = sub_periods(fraction, up_time)
    paid = mileage * (mileage_price * awards[..., :2])
    return {
        "w_up": w_up,
        "up_in_up": _up(in_up * awards),
        "up_in_down": _up(in_down * awards),
        "down_in_down": -in_down[..., DOWN_INDEX] * awards[..., DOWN_INDEX],
        "up_req_mw": up_req,
        "down_req_mw": down_req,
        "cap_up_req_usd": _up(requested),
        "cap_down_req_usd": requested[..., DOWN_INDEX],
        "inv_up_req": np.divide(1.0, up_req, out=np.zeros_like(up_req), where=up_req > 0),
        "inv_down_req": np.divide(1.0, down_req, out=np.zeros_like(down_req), where=down_req > 0),
        "mileage": float(market.mileage_paid) * (paid[..., 0] + paid[..., 1]),
    }


def _up(per_product: np.ndarray) -> np.ndarray:
    """Sum over the up products (explicit adds: reductions over a length-4 axis are slow)."""
    first, second, third = UP_INDEX
    return per_product[..., first] + per_product[..., second] + per_product[..., third]


def unavailable_shares(battery: Battery, row: StepTerms, e_mwh: Any, base_mw: Any, ops: Ops = SCALAR_OPS) -> tuple[Any, Any]:
    """(up, down) shares in [0, 1] of the awards not backed in an interval: by the power the base
    point ``base_mw`` leaves and by the SoC ``e_mwh`` at the interval's start (a shortage within
    :data:`~bessgym.market.RULE_TOL` is none)."""
    mn, mx = ops.minimum, ops.maximum
    b = mn(mx(base_mw, -battery.p_charge_mw), battery.p_discharge_mw)
    up = mx(_short(row.award_up_mw, battery.p_discharge_mw - b, mx), _short(row.need_up_mwh, e_mwh - battery.e_min_mwh, mx))
    down = mx(_short(row.award_down_mw, battery.p_charge_mw + b, mx), _short(row.need_down_mwh, battery.e_max_mwh - e_mwh, mx))
    return mn(up, 1.0), mn(down, 1.0)


def _short(need: Any, room: Any, mx: Any) -> Any:
    """The share of ``need`` that ``room`` leaves uncovered (0 within the rule's tolerance)."""
    short = need - mx(room, 0.0)
    return mx(short, 0.0) / mx(need, 1e-300) * (short > RULE_TOL)


def interval_lines(
    battery: Battery, dt_h: float, row: StepTerms, e_mwh: Any, base_mw: Any, flows: Flows, terminal: Any,
    ops: Ops = SCALAR_OPS, fmm_mw: Any = None,
) -> tuple[Ledger, Any, Any]:
    """The :class:`Ledger` of intervals that started at SoC ``e_mwh`` with base point ``base_mw``
    asked for and delivered ``flows`` (``terminal``: the terminal value they carry, 0 but on a
    day's last interval), and their (up, down) shortfalls in MW. ``fmm_mw``: the FMM position
    (MW, as the market accepted it) in three settlements; None holds the DA position."""
    up_short = row.up_req_mw * (1.0 - flows.up_share)
    down_short = row.down_req_mw * (1.0 - flows.down_share)
    share_up, share_down = unavailable_shares(battery, row, e_mwh, base_mw, ops)
    fmm = row.position_mw if fmm_mw is None else fmm_mw
    fmm_energy, rt_imbalance = layer_lines(row.position_mw, fmm, flows.discharge_mw - flows.charge_mw, row.fmm_price,
                                           row.rt_price, dt_h)
    no_pay = -((1.0 - share_up) * row.cap_up_req_usd * up_short * row.inv_up_req
               + (1.0 - share_down) * row.cap_down_req_usd * down_short * row.inv_down_req)
    unavailable = -(share_up * row.cap_up_usd + share_down * row.cap_down_usd)
    penalty = -row.penalty_price * (up_short + down_short) * dt_h
    degradation = degradation_line(battery, flows.charge_mw + flows.discharge_mw, dt_h)
    ledger = Ledger(row.da_energy, fmm_energy, rt_imbalance, row.virtual, row.as_capacity, row.mileage, no_pay, unavailable, penalty, degradation, terminal,
                    0.0 * degradation)
    return ledger, up_short, down_short


def degradation_line(battery: Battery, throughput_mw: Any, dt_h: float) -> Any:
    """The ``degradation`` line ($, a cost): the wear of ``throughput_mw`` (charge + discharge, MW)
    over ``dt_h`` hours."""
    return -battery.degradation_usd_per_mwh * throughput_mw * dt_h


def position_lines(da_price: Any, next_price: Any, position_mw: Any, virtual_mw: Any, dt_h: float) -> tuple[Any, Any]:
    """The ``da_energy`` and ``virtual`` lines ($) of intervals with DA price ``da_price``, the next
    layer's price ``next_price``, DA position ``position_mw`` and virtual position ``virtual_mw``
    (MW, + = sold in DA)."""
    return da_price * position_mw * dt_h, (da_price - next_price) * virtual_mw * dt_h


def layer_lines(position_mw: Any, fmm_mw: Any, net_mw: Any, fmm_price: Any, rt_price: Any, dt_h: float) -> tuple[Any, Any]:
    """The ``fmm_energy`` and ``rt_imbalance`` lines ($) of intervals whose DA position is
    ``position_mw``, FMM position ``fmm_mw`` (the DA position in two settlements) and delivered
    net power ``net_mw`` (MW, + = discharge): each layer settles the deviation from the one before."""
    return fmm_price * (fmm_mw - position_mw) * dt_h, rt_price * (net_mw - fmm_mw) * dt_h


def leg_values(battery: Battery, rt_price: Any, dt_h: float) -> tuple[Any, Any]:
    """$ per MW of discharge and of charge in an interval: the RT imbalance and wear lines of
    :func:`interval_lines` as an optimiser writes them (the LP builder's leg costs)."""
    c_deg = battery.degradation_usd_per_mwh
    return (rt_price - c_deg) * dt_h, (-rt_price - c_deg) * dt_h


def terminal_slopes(battery: Battery, mean_da_price: Any) -> tuple[Any, Any]:
    """$ per MWh of final SoC above the target (what selling it would fetch: ``eta_d p - c_deg``)
    and below it (what buying it back would cost: ``max(p, 0) / eta_c + c_deg``, at least the
    wear). The first never exceeds the second, so the value is concave in the final SoC."""
    return end_slopes(battery.eta_charge, battery.eta_discharge, battery.degradation_usd_per_mwh, mean_da_price)


def end_slopes(eta_charge: float, eta_discharge: float, cost_usd_per_mwh: float, mean_da_price: Any) -> tuple[Any, Any]:
    """:func:`terminal_slopes` of any storage whose every MWh moved costs ``cost_usd_per_mwh``
    (a battery's wear; a fleet's incentive to its customers)."""
    return eta_discharge * mean_da_price - cost_usd_per_mwh, np.maximum(mean_da_price, 0.0) / eta_charge + cost_usd_per_mwh


def asymmetric_value(diff: Any, above: Any, below: Any, ops: Ops = SCALAR_OPS) -> Any:
    """DESIGN 1.6's value of energy ``diff`` above (+) or below (-) a target: ``above`` $ per
    unit of surplus, ``below`` $ per unit of shortfall (+ = worth)."""
    return above * ops.maximum(diff, 0.0) - below * ops.maximum(-diff, 0.0)


def terminal_value(battery: Battery, e_final_mwh: Any, mean_da_price: Any, ops: Ops = SCALAR_OPS) -> Any:
    """Value of the final SoC against the target (asymmetric, DESIGN 1.6)."""
    above, below = terminal_slopes(battery, mean_da_price)
    return asymmetric_value(e_final_mwh - battery.e_target_mwh, above, below, ops)
