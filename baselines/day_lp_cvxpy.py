"""The operating-day LP of :mod:`baselines.day_lp`, written in cvxpy for reading and cross-checks.

Same variables, constraints and objective, stated the way a person writes them; solved with
HiGHS or Clarabel through cvxpy. Tests require both builds to reach the same optimum (1e-6).
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np

from bessgym.battery import Battery
from bessgym.market import DOWN_INDEX, HOURS, N_PRODUCTS, UP_MASK, DABid, MarketProfile
from bessgym.sim import ScenarioArrays

from baselines.day_lp import interval_costs


def solve_day_cvxpy(
    battery: Battery, market: MarketProfile, data: ScenarioArrays, *, follow_schedule: bool = False, solver: str = "HIGHS"
) -> tuple[float, DABid, np.ndarray]:
    """Optimum ($), bid and base points (MW) of the day LP (awards free, no shortfall)."""
    n = data.rt_price.shape[-1]
    k = n // HOURS
    dt = data.dt_h
    hour = np.arange(n) // k
    up = np.flatnonzero(UP_MASK)
    expand = np.kron(np.eye(HOURS), np.ones((k, 1)))  # (T, 24): hour h -> its intervals

    x = cp.Variable(HOURS, name="x")
    r = cp.Variable((HOURS, N_PRODUCTS), nonneg=True, name="r")
    bp = cp.Variable(n, nonneg=True, name="bp")
    bm = cp.Variable(n, nonneg=True, name="bm")
    e = cp.Variable(n, name="e")

    award = expand @ r  # (T, 4): each interval's awards
    up_mw = cp.sum(cp.multiply(data.fraction[:, up], award[:, up]), axis=1)
    down_mw = cp.multiply(data.fraction[:, DOWN_INDEX], award[:, DOWN_INDEX])
    discharge = bp + up_mw
    charge = bm + down_mw
    e_before = cp.hstack([np.array([battery.e_initial_mwh]), e[:-1]])
    constraints = [
        x >= -battery.p_charge_mw, x <= battery.p_discharge_mw,
        r[:, ~market.offered] == 0,
        x + cp.sum(r[:, up], axis=1) <= battery.p_discharge_mw,
        r[:, DOWN_INDEX] - x <= battery.p_charge_mw,
        discharge <= battery.p_discharge_mw, charge <= battery.p_charge_mw,
        bp <= battery.p_discharge_mw, bm <= battery.p_charge_mw,
        e == battery.retention(dt) * e_before + battery.eta_charge * dt * charge - dt / battery.eta_discharge * discharge,
        e >= battery.e_min_mwh, e <= battery.e_max_mwh,
    ]
    if follow_schedule:
        constraints.append(bp - bm == expand @ x)

    cost_discharge, cost_charge, _, _ = interval_costs(battery, market, dt, data.rt_price, 0.0, 0.0)
    da_energy = cp.sum(cp.multiply(data.da_price[hour] * dt, expand @ x))
    rt_position = -cp.sum(cp.multiply(data.rt_price * dt, expand @ x))
    capacity = cp.sum(cp.multiply(data.as_price * dt * k, r))
    mileage = 0.0
    if market.mileage_paid:
        mileage = cp.sum(cp.multiply(data.mileage_price[hour] * data.mileage, award[:, :2]))
    legs = cost_discharge @ discharge + cost_charge @ charge
    terminal = (e[-1] - battery.e_target_mwh) * float(data.da_price.mean())
    problem = cp.Problem(cp.Maximize(da_energy + rt_position + capacity + mileage + legs + terminal), constraints)
    problem.solve(solver=solver)
    if problem.status != cp.OPTIMAL:
        raise RuntimeError(f"cvxpy/{solver} ended with status {problem.status}")
    return float(problem.value), DABid(x.value, np.maximum(r.value, 0.0)), bp.value - bm.value
