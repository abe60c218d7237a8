"""The settlement ledger (DESIGN 1.6): pure functions over arrays, one implementation.

All amounts are $ for one RT interval of ``dt_h`` hours; positive is revenue. Lines:

* ``da_energy``    = DA price x DA position x dt (paid whether or not delivered)
* ``rt_imbalance`` = RT price x (delivered net power - DA position) x dt
* ``as_capacity``  = sum_a AS price x award x dt
* ``mileage``      = sum_reg mileage price x mileage per MW x award (if the profile pays it)
* ``no_pay``       = - sum_a AS price x award x (shortfall / request) x dt, only where requested
* ``penalty``      = - kappa x max(RT price, lambda_pen) x total shortfall x dt
* ``degradation``  = - c_deg x (charge + discharge) x dt
* ``terminal``     = (final SoC - target SoC) x mean DA price of the day, on the last interval

Up products share one delivery fraction (pro rata), so the action-dependent lines need only the
up/down totals; :class:`DayTerms` holds everything that a DA bid fixes for the day, and
:func:`interval_lines` turns one interval's flows into money with plain arithmetic, so the
same function serves Python floats (step-wise) and arrays (whole day, batched).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from bessgym.battery import Battery
from bessgym.market import DOWN_INDEX, HOURS, UP_INDEX, MarketProfile

LEDGER_LINES: tuple[str, ...] = (
    "da_energy",
    "rt_imbalance",
    "as_capacity",
    "mileage",
    "no_pay",
    "penalty",
    "degradation",
    "terminal",
)


class Ledger(NamedTuple):
    """Ledger lines in $ (scalars, or arrays over intervals and/or a batch)."""

    da_energy: Any
    rt_imbalance: Any
    as_capacity: Any
    mileage: Any
    no_pay: Any
    penalty: Any
    degradation: Any
    terminal: Any

    @property
    def total(self) -> Any:
        return sum(self)

    def sum(self, axis: int = -1) -> "Ledger":
        """Sum each line over ``axis`` (the interval axis by default)."""
        return Ledger(*(np.sum(line, axis=axis) for line in self))

    def as_dict(self) -> dict[str, float]:
        return {name: float(value) for name, value in zip(LEDGER_LINES, self)}


class DayTerms(NamedTuple):
    """Per-interval terms fixed by the scenario and the accepted DA bid; arrays (..., T).

    ``up_req_mw``/``down_req_mw``: deployed requests, ``request_mw`` (..., T, 4) per product;
    ``cap_up_usd``/``cap_down_usd``: the
    capacity payment of products with a non-zero request (what no-pay can rescind);
    ``inv_up_req``/``inv_down_req``: 1/request where requested, else 0.
    """

    dt_h: float
    position_mw: np.ndarray
    rt_price: np.ndarray
    penalty_price: np.ndarray
    up_req_mw: np.ndarray
    down_req_mw: np.ndarray
    request_mw: np.ndarray
    cap_up_usd: np.ndarray
    cap_down_usd: np.ndarray
    inv_up_req: np.ndarray
    inv_down_req: np.ndarray
    da_energy: np.ndarray
    as_capacity: np.ndarray
    mileage: np.ndarray
    mean_da_price: np.ndarray


def day_terms(
    dt_h: float,
    da_price: np.ndarray,
    rt_price: np.ndarray,
    as_price: np.ndarray,
    mileage_price: np.ndarray,
    fraction: np.ndarray,
    mileage: np.ndarray,
    energy_mw: np.ndarray,
    as_mw: np.ndarray,
    market: MarketProfile,
) -> DayTerms:
    """Expand hourly prices and awards to intervals and fix the bid's money terms.

    Shapes, with an optional leading batch axis: ``da_price`` (24,), ``rt_price`` (T,),
    ``as_price`` (24, 4), ``mileage_price`` (24, 2), ``fraction`` (T, 4), ``mileage`` (T, 2),
    ``energy_mw`` (24,), ``as_mw`` (24, 4).
    """
    n = rt_price.shape[-1]
    per_hour = n // HOURS
    lead = rt_price.shape[:-1]
    # hourly terms broadcast over the intervals of each hour: (..., 24, k[, 4]) views
    request = fraction.reshape(lead + (HOURS, per_hour, -1)) * as_mw[..., None, :]
    hourly_capacity = as_price * as_mw * dt_h
    requested_capacity = (hourly_capacity[..., None, :] * (request > 0)).reshape(lead + (n, -1))
    request = request.reshape(lead + (n, -1))
    up_req = _up(request)
    down_req = request[..., DOWN_INDEX]
    x = np.repeat(energy_mw, per_hour, axis=-1)
    mileage_paid = mileage.reshape(lead + (HOURS, per_hour, 2)) * (mileage_price * as_mw[..., :2])[..., None, :]
    return DayTerms(
        dt_h=dt_h,
        position_mw=x,
        rt_price=rt_price,
        penalty_price=market.penalty_factor * np.maximum(rt_price, market.penalty_price_floor_usd_per_mwh),
        up_req_mw=up_req,
        down_req_mw=down_req,
        request_mw=request,
        cap_up_usd=_up(requested_capacity),
        cap_down_usd=requested_capacity[..., DOWN_INDEX],
        inv_up_req=np.divide(1.0, up_req, out=np.zeros_like(up_req), where=up_req > 0),
        inv_down_req=np.divide(1.0, down_req, out=np.zeros_like(down_req), where=down_req > 0),
        da_energy=np.repeat(da_price * energy_mw * dt_h, per_hour, axis=-1),
        as_capacity=np.repeat(_up(hourly_capacity) + hourly_capacity[..., DOWN_INDEX], per_hour, axis=-1),
        mileage=float(market.mileage_paid) * (mileage_paid[..., 0] + mileage_paid[..., 1]).reshape(lead + (n,)),
        mean_da_price=da_price.mean(-1),
    )


def _up(per_product: np.ndarray) -> np.ndarray:
    """Sum over the up products (explicit adds: reductions over a length-4 axis are slow)."""
    first, second, third = UP_INDEX
    return per_product[..., first] + per_product[..., second] + per_product[..., third]


def interval_lines(
    battery: Battery,
    dt_h: float,
    position_mw: Any,
    rt_price: Any,
    penalty_price: Any,
    charge_mw: Any,
    discharge_mw: Any,
    up_short_mw: Any,
    down_short_mw: Any,
    cap_up_usd: Any,
    cap_down_usd: Any,
    inv_up_req: Any,
    inv_down_req: Any,
) -> tuple[Any, Any, Any, Any]:
    """(rt_imbalance, no_pay, penalty, degradation) in $ for intervals' delivered flows."""
    rt_imbalance = rt_price * (discharge_mw - charge_mw - position_mw) * dt_h
    no_pay = -(cap_up_usd * up_short_mw * inv_up_req + cap_down_usd * down_short_mw * inv_down_req)
    penalty = -penalty_price * (up_short_mw + down_short_mw) * dt_h
    degradation = -battery.degradation_usd_per_mwh * (charge_mw + discharge_mw) * dt_h
    return rt_imbalance, no_pay, penalty, degradation


def terminal_value(battery: Battery, e_final_mwh: Any, mean_da_price: Any) -> Any:
    """Value of the energy left above (or missing below) the target, at the day's mean DA price."""
    return (e_final_mwh - battery.e_target_mwh) * mean_da_price
