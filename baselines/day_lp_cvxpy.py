"""The operating-day LP of :mod:`baselines.day_lp`, written in cvxpy for reading and cross-checks.

Same variables, constraints and objective (the oracle's form: awards free, no shortfall), stated
the way a person writes them; solved with HiGHS or Clarabel through cvxpy. Tests require both
builds to reach the same optimum (1e-6).
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np

from bessgym.battery import Battery
from bessgym.deployment import sub_periods
from bessgym.market import DOWN_INDEX, HOURS, N_PRODUCTS, UP_MASK, DABid, MarketProfile, backing_mwh_per_mw
from bessgym.settlement import leg_values, terminal_slopes
from bessgym.sim import ScenarioArrays


def solve_day_cvxpy(
    battery: Battery, market: MarketProfile, data: ScenarioArrays, *, follow_schedule: bool = False, solver: str = "HIGHS"
) -> tuple[float, DABid, np.ndarray]:
    """Optimum ($), bid and base points (MW) of the day LP (awards free, no shortfall)."""
    b_ = battery
    n = data.rt_price.shape[-1]
    k = n // HOURS
    dt = data.dt_h
    hour = np.arange(n) // k
    up = np.flatnonzero(UP_MASK)
    expand = np.kron(np.eye(HOURS), np.ones((k, 1)))  # (T, 24): hour h -> its intervals
    eta_c, eta_d = b_.eta_charge, b_.eta_discharge
    mwh = backing_mwh_per_mw(b_, market)  # SoC room per MW of award

    x = cp.Variable(HOURS, name="x")
    r = cp.Variable((HOURS, N_PRODUCTS), nonneg=True, name="r")
    b = cp.Variable(n, name="b")
    e = cp.Variable(n, name="e")
    above, below = cp.Variable(nonneg=True, name="above"), cp.Variable(nonneg=True, name="below")
    award = expand @ r  # (T, 4): each interval's awards
    w_up, coef_up, coef_dn = sub_periods(data.fraction, data.up_time)
    weight = {"up": w_up, "dn": 1.0 - w_up}
    constraints = [
        x >= -b_.p_charge_mw, x <= b_.p_discharge_mw, r[:, ~market.offered] == 0,
        b >= -b_.p_charge_mw, b <= b_.p_discharge_mw,
        x + cp.sum(r[:, up], axis=1) <= b_.p_discharge_mw,  # acceptance: power
        r[:, DOWN_INDEX] - x <= b_.p_charge_mw,
        e >= b_.e_min_mwh, e <= b_.e_max_mwh,
        e[-1] == b_.e_target_mwh + above - below,
        above <= b_.e_max_mwh - b_.e_target_mwh, below <= b_.e_target_mwh - b_.e_min_mwh,
    ]
    # one power envelope per sub-period: discharge and charge legs of the net power
    discharge, charge, objective = 0, 0, 0
    dis_value, ch_value = leg_values(b_, data.rt_price, dt)
    for s, coef in (("up", coef_up), ("dn", coef_dn)):
        active = weight[s] > 0
        dis = cp.Variable(n, nonneg=True, name=f"dis_{s}")
        ch = cp.Variable(n, nonneg=True, name=f"ch_{s}")
        net = b + cp.sum(cp.multiply(coef, award), axis=1)
        constraints += [dis[active] - ch[active] == net[active], dis <= np.where(active, b_.p_discharge_mw, 0.0),
                        ch <= np.where(active, b_.p_charge_mw, 0.0)]
        discharge, charge = discharge + cp.multiply(weight[s], dis), charge + cp.multiply(weight[s], ch)
        objective += cp.sum(cp.multiply(weight[s] * dis_value, dis) + cp.multiply(weight[s] * ch_value, ch))
    e_before = cp.hstack([np.array([b_.e_initial_mwh]), e[:-1]])
    constraints.append(e == b_.retention(dt) * e_before + eta_c * dt * charge - dt / eta_d * discharge)
    # availability of every award in every interval: power and the SoC at the interval's start
    constraints += [b + cp.sum(award[:, up], axis=1) <= b_.p_discharge_mw, b - award[:, DOWN_INDEX] >= -b_.p_charge_mw,
                    e_before - award[:, up] @ mwh[up] >= b_.e_min_mwh,
                    e_before + award[:, DOWN_INDEX] * mwh[DOWN_INDEX] <= b_.e_max_mwh]
    if market.energy_backing:  # acceptance: the schedule's planned SoC and the awards' durations
        xp, xm = cp.Variable(HOURS, nonneg=True, name="xp"), cp.Variable(HOURS, nonneg=True, name="xm")
        ep = cp.Variable(HOURS, name="ep")
        ep_before = cp.hstack([np.array([b_.e_initial_mwh]), ep[:-1]])
        need_up, need_down = r[:, up] @ mwh[up], r[:, DOWN_INDEX] * mwh[DOWN_INDEX]
        constraints += [xp - xm == x, xp <= b_.p_discharge_mw, xm <= b_.p_charge_mw,
                        ep == b_.retention(1.0) * ep_before + eta_c * xm - xp / eta_d,
                        ep >= b_.e_min_mwh, ep <= b_.e_max_mwh,
                        ep_before - need_up >= b_.e_min_mwh, ep - need_up >= b_.e_min_mwh,
                        ep_before + need_down <= b_.e_max_mwh, ep + need_down <= b_.e_max_mwh]
    if follow_schedule:
        constraints.append(b == expand @ x)

    da_energy = cp.sum(cp.multiply(data.da_price[hour] * dt, expand @ x))
    rt_position = -cp.sum(cp.multiply(data.rt_price * dt, expand @ x))
    capacity = cp.sum(cp.multiply(data.as_price * dt * k, r))
    mileage = 0.0
    if market.mileage_paid:
        mileage = cp.sum(cp.multiply(data.mileage_price[hour] * data.mileage, award[:, :2]))
    value_above, cost_below = terminal_slopes(b_, float(data.da_price.mean()))
    terminal = value_above * above - cost_below * below
    problem = cp.Problem(cp.Maximize(da_energy + rt_position + capacity + mileage + objective + terminal), constraints)
    problem.solve(solver=solver)
    if problem.status != cp.OPTIMAL:
        raise RuntimeError(f"cvxpy/{solver} ended with status {problem.status}")
    return float(problem.value), DABid(x.value, np.maximum(r.value, 0.0)), b.value
