"""The operating-day LP, built once as sparse matrices (the fast path for HiGHS).

Variables (named blocks, see :class:`DayModel.cols`), per hour h and interval t:

* ``x[h]``  DA energy position (MW, + = sell), ``r[h, a]`` AS awards (MW) in PRODUCTS order;
* ``bp[t]``, ``bm[t]``  base point discharge / charge legs (MW >= 0, base = bp - bm);
* ``e[t]``  SoC after interval t (MWh);
* ``uu[t]``, ``ud[t]``  up / down deployment not delivered (MW >= 0; only when allowed);
* ``legs[h, i]``, ``on[t]``  regulation legs and charge / discharge binaries (DER-VET profile only).

Built for one day (24 hours) or any whole number of hours (a year-long study), in which case
the SoC carries across midnights and the terminal value applies at the end of the period.

Constraints are the simulator's, written linearly: the market's acceptance of the bid
(``x + sum_up r <= P_dis``, ``r_RD - x <= P_ch``), the "legs" power limits
(``bp + up - uu <= P_dis``, ``bm + down - ud <= P_ch`` with ``up = sum_up delta r``,
``down = delta_RD r_RD``), shortfalls at most the request, and the SoC recursion of
:meth:`bessgym.battery.Battery.next_energy`. The objective is the ledger of
:mod:`bessgym.settlement` term by term, so a solution replayed through :func:`bessgym.sim.simulate_day`
returns the LP objective (tested to 1e-6). :class:`DervetProfile` switches the same builder to
EPRI DER-VET's conventions (its own physics, so no simulator replay; ``benchmarks/dervet.py``
checks it against DER-VET's published results instead).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from baselines.solver import LinearProgram, SolveResult, decision
from bessgym.battery import Battery
from bessgym.forecast import DAContext
from bessgym.market import DOWN_INDEX, HOURS, N_PRODUCTS, PRODUCTS, UP_MASK, DABid, MarketProfile
from bessgym.settlement import day_terms
from bessgym.sim import ScenarioArrays

BLOCKS = ("x", "r", "bp", "bm", "e", "uu", "ud", "legs", "on")
LEGS = ("up_charge", "up_discharge", "down_charge", "down_discharge")  # the legs block, per hour


@dataclass(frozen=True)
class DeploymentBudget:
    """Budgeted deployment uncertainty: the day in blocks of ``window_h`` hours; in each block the
    up (or down) products may be fully deployed for at most ``gamma_h`` hours in total, at any
    times. ``gamma_h = window_h`` is full deployment throughout, the SoC duration rule's world."""

    gamma_h: float = 1.0
    window_h: float = 4.0

    def __post_init__(self) -> None:
        if not 0 <= self.gamma_h <= self.window_h:
            raise ValueError(f"gamma_h must be within [0, window_h = {self.window_h}], got {self.gamma_h}")
        if self.window_h <= 0 or (24 / self.window_h) % 1:
            raise ValueError(f"window_h must divide 24 hours, got {self.window_h}")


@dataclass(frozen=True)
class DervetProfile:
    """The DER-VET compatibility profile (see ``benchmarks/dervet.py`` and DER-VET's storage and
    frequency-regulation formulation): hourly steps, regulation on four legs per hour (up by
    charging less ``Uc`` / discharging more ``Ud``, down by charging more ``Dc`` / discharging
    less ``Dd``), each within its leg's headroom; the expected regulation energy ``eou`` / ``eod``
    moves the SoC (``-(eou Ud - eod Dd) - eta_c (eou Uc - eod Dc)`` per hour) and is settled at
    the energy price; worst-case rows keep ``duration_h`` hours of full deployment within the
    SoC bounds from the SoC at the start of each hour; the linking row
    ``2 udis + (1 + eta_c) uch >= 0``; variable O&M on discharge and expected up-discharge;
    the SoC after the last hour fixed to ``soe_final``; no terminal value. Optional charge /
    discharge binaries (a mixed-integer LP), time-varying SoC floor / ceiling (MWh or kWh after
    each hour; NaN where the battery's own bound applies) and hourly award ranges
    (``reg_up_range`` / ``reg_down_range``, shape (hours, 2): min, max).

    The caller passes the energy price as both DA and RT price, zero expected deployment in the
    day arrays (the legs carry it) and a battery with ``eta_discharge = 1`` (DER-VET puts the
    round-trip efficiency on the charge side) and no wear cost.
    """

    eou: float
    eod: float
    duration_h: float = 0.0
    vom_usd_per_unit: float = 0.0
    soe_final: float = 0.0
    binaries: bool = False
    linking_row: bool = True
    soe_floor: np.ndarray | None = None
    soe_ceiling: np.ndarray | None = None
    reg_up_range: np.ndarray | None = None
    reg_down_range: np.ndarray | None = None


@dataclass
class DayModel:
    """A built day LP with its variable blocks (``cols[name]`` is an index array) and the no-pay
    per MW of up / down shortfall in each interval ($, zero unless the bid is fixed)."""

    lp: LinearProgram
    cols: dict[str, np.ndarray]
    rows: dict[str, np.ndarray]
    n_intervals: int
    no_pay_up: np.ndarray
    no_pay_down: np.ndarray

    def bid(self, z: np.ndarray) -> DABid:
        return DABid(z[self.cols["x"]].copy(), z[self.cols["r"]].reshape(-1, N_PRODUCTS).copy())

    def decision(self, result: SolveResult) -> DABid:
        """The solved bid with the solve in its ``note``, or the idle bid if the solve failed."""
        if not result.status.ok:
            return decision(None, None, result)
        bid = self.bid(result.z)
        return decision(bid.energy_mw, bid.as_mw, result)

    def base_mw(self, z: np.ndarray) -> np.ndarray:
        return z[self.cols["bp"]] - z[self.cols["bm"]]


def build_day_model(
    battery: Battery,
    market: MarketProfile,
    data: ScenarioArrays,
    *,
    follow_schedule: bool = False,
    fixed_bid: DABid | None = None,
    allow_shortfall: bool = False,
    budget: DeploymentBudget | None = None,
    dervet: DervetProfile | None = None,
) -> DayModel:
    """Build the day LP over one day's ``data`` (unbatched arrays: prices and deployment).

    ``follow_schedule`` ties the base point to the DA position (``bp - bm = x``: a physical DA
    schedule, as a DA planner sees it); ``fixed_bid`` fixes x and r (real-time re-planning);
    ``allow_shortfall`` frees ``uu``/``ud`` (needs ``fixed_bid``: no-pay is linear in the
    shortfall only once the awards are known). ``budget`` makes the SoC bounds robust: they hold
    for every deployment path of the :class:`DeploymentBudget` set on top of the SoC the data's
    deployment gives (pass zero deployment for a nominal no-deployment trajectory); each block's
    worst case enters through its LP dual (``lam``, ``mu`` columns).
    """
    if allow_shortfall and fixed_bid is None:
        raise ValueError("allow_shortfall needs fixed_bid: no-pay is linear in the shortfall only for known awards")
    n = data.rt_price.shape[-1]
    hours = len(data.da_price)  # 24 for a day; any number of hours for a longer period
    k = n // hours
    if dervet is not None and (k != 1 or not follow_schedule or fixed_bid is not None or budget is not None):
        raise ValueError("the DER-VET profile needs hourly intervals and follow_schedule, without fixed_bid or budget")
    dt = data.dt_h
    hour = np.arange(n) // k
    short = n if allow_shortfall else 0
    legs = hours * len(LEGS) if dervet is not None else 0
    on = n if dervet is not None and dervet.binaries else 0
    sizes = {"x": hours, "r": hours * N_PRODUCTS, "bp": n, "bm": n, "e": n, "uu": short, "ud": short, "legs": legs, "on": on}
    starts = np.cumsum([0] + [sizes[b] for b in BLOCKS])
    cols = {b: np.arange(starts[i], starts[i + 1]) for i, b in enumerate(BLOCKS)}
    n_cols = int(starts[-1])
    r_col = cols["r"].reshape(hours, N_PRODUCTS)
    up_idx = np.flatnonzero(UP_MASK)
    delta = data.fraction
    lam_rt, lam_da = data.rt_price, data.da_price
    c_deg = battery.degradation_usd_per_mwh
    eta_c, eta_d, keep = battery.eta_charge, battery.eta_discharge, battery.retention(dt)

    # objective
    c = np.zeros(n_cols)
    c[cols["x"]] = (lam_da[hour] - lam_rt).reshape(hours, k).sum(1) * dt
    r_cost = np.repeat(data.as_price * dt * k, 1, axis=0)
    leg_value = np.where(UP_MASK, 1.0, 0.0) * (lam_rt - c_deg)[:, None] * dt + np.where(UP_MASK, 0.0, 1.0) * (-lam_rt - c_deg)[:, None] * dt
    r_cost = r_cost + (delta * leg_value).reshape(hours, k, N_PRODUCTS).sum(1)
    if market.mileage_paid:
        r_cost[:, :2] += (data.mileage_price[hour] * data.mileage).reshape(hours, k, 2).sum(1)
    c[cols["r"]] = r_cost.ravel()
    no_pay_up, no_pay_down = np.zeros(n), np.zeros(n)
    if fixed_bid is not None:
        terms = day_terms(dt, lam_da, lam_rt, data.as_price, data.mileage_price, delta, data.mileage,
                          fixed_bid.energy_mw, fixed_bid.as_mw, market)
        no_pay_up, no_pay_down = terms.cap_up_usd * terms.inv_up_req, terms.cap_down_usd * terms.inv_down_req
    c[cols["bp"]], c[cols["bm"]], cost_uu, cost_ud = interval_costs(battery, market, dt, lam_rt, no_pay_up, no_pay_down)
    if allow_shortfall:
        c[cols["uu"]], c[cols["ud"]] = cost_uu, cost_ud
    mean_da = float(lam_da.mean()) if dervet is None else 0.0  # the profile fixes the final SoC instead
    c[cols["e"][-1]] = mean_da
    if dervet is not None:
        leg = cols["legs"].reshape(hours, len(LEGS)).T  # Uc, Ud, Dc, Dd columns (hours each)
        vom = dervet.vom_usd_per_unit * dt
        c[leg[0]], c[leg[1]] = dervet.eou * lam_da * dt, dervet.eou * lam_da * dt - vom * dervet.eou
        c[leg[2]], c[leg[3]] = -dervet.eod * lam_da * dt, -dervet.eod * lam_da * dt + vom * dervet.eod
        c[cols["bp"]] -= vom

    # bounds
    lower, upper = np.zeros(n_cols), np.zeros(n_cols)
    lower[cols["x"]], upper[cols["x"]] = -battery.p_charge_mw, battery.p_discharge_mw
    upper[cols["r"]] = np.tile(np.where(market.offered, np.inf, 0.0), hours)  # acceptance rows bound them
    upper[cols["bp"]], upper[cols["bm"]] = battery.p_discharge_mw, battery.p_charge_mw
    lower[cols["e"]], upper[cols["e"]] = battery.e_min_mwh, battery.e_max_mwh
    if allow_shortfall:
        upper[cols["uu"]] = upper[cols["ud"]] = np.inf
    if fixed_bid is not None:
        lower[cols["x"]] = upper[cols["x"]] = fixed_bid.energy_mw
        lower[cols["r"]] = upper[cols["r"]] = fixed_bid.as_mw.ravel()
    integer = None
    if dervet is not None:
        upper[cols["legs"]] = np.inf
        for bound, limits, pick in ((lower, dervet.soe_floor, np.fmax), (upper, dervet.soe_ceiling, np.fmin)):
            if limits is not None:
                bound[cols["e"]] = pick(bound[cols["e"]], np.asarray(limits, float))
        lower[cols["e"][-1]] = upper[cols["e"][-1]] = dervet.soe_final
        for product, award_range in (("reg_up", dervet.reg_up_range), ("reg_down", dervet.reg_down_range)):
            if award_range is not None:
                col = r_col[:, PRODUCTS.index(product)]
                lower[col] = np.maximum(lower[col], award_range[:, 0])
                upper[col] = np.minimum(upper[col], award_range[:, 1])
        if on:
            upper[cols["on"]] = 1.0
            integer = np.zeros(n_cols, bool)
            integer[cols["on"]] = True

    # constraints, assembled as (row, col, value) triplets
    rows_i: list[np.ndarray] = []
    cols_i: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    row_lo: list[np.ndarray] = []
    row_hi: list[np.ndarray] = []
    rows: dict[str, np.ndarray] = {}
    count = 0

    def block(name: str, size: int, entries: list[tuple[np.ndarray, np.ndarray, np.ndarray]], lo: np.ndarray, hi: np.ndarray) -> None:
        nonlocal count
        rows[name] = np.arange(count, count + size)
        for r_rel, col, val in entries:
            rows_i.append(count + np.asarray(r_rel))
            cols_i.append(np.asarray(col))
            vals.append(np.broadcast_to(np.asarray(val, float), np.shape(r_rel)))
        row_lo.append(np.broadcast_to(np.asarray(lo, float), (size,)))
        row_hi.append(np.broadcast_to(np.asarray(hi, float), (size,)))
        count += size

    h24 = np.arange(hours)
    t_all = np.arange(n)
    up_entries_h = [(h24, r_col[:, a], 1.0) for a in up_idx]
    block("accept_up", hours, [(h24, cols["x"], 1.0), *up_entries_h], -np.inf, battery.p_discharge_mw)
    block("accept_down", hours, [(h24, cols["x"], -1.0), (h24, r_col[:, DOWN_INDEX], 1.0)], -np.inf, battery.p_charge_mw)
    up_terms = [(t_all, r_col[hour, a], delta[:, a]) for a in up_idx]
    down_term = (t_all, r_col[hour, DOWN_INDEX], delta[:, DOWN_INDEX])
    short_up = [(t_all, cols["uu"], -1.0)] if allow_shortfall else []
    short_down = [(t_all, cols["ud"], -1.0)] if allow_shortfall else []
    block("power_discharge", n, [(t_all, cols["bp"], 1.0), *up_terms, *short_up], -np.inf, battery.p_discharge_mw)
    block("power_charge", n, [(t_all, cols["bm"], 1.0), down_term, *short_down], -np.inf, battery.p_charge_mw)
    if allow_shortfall:
        block("short_up", n, [(t_all, cols["uu"], 1.0), *[(t, col, -v) for t, col, v in up_terms]], -np.inf, 0.0)
        block("short_down", n, [(t_all, cols["ud"], 1.0), (t_all, down_term[1], -down_term[2])], -np.inf, 0.0)
    # SoC: e[t] - keep e[t-1] - eta_c dt (bm + down - ud) + dt/eta_d (bp + up - uu) = keep e0 [t = 0]
    soc_rhs = np.zeros(n)
    soc_rhs[0] = keep * battery.e_initial_mwh
    block("soc", n, [
        (t_all, cols["e"], 1.0), (t_all[1:], cols["e"][:-1], -keep),
        (t_all, cols["bm"], -eta_c * dt), (t_all, down_term[1], -eta_c * dt * down_term[2]),
        (t_all, cols["bp"], dt / eta_d), *[(t, col, dt / eta_d * v) for t, col, v in up_terms],
        *([(t_all, cols["ud"], eta_c * dt), (t_all, cols["uu"], -dt / eta_d)] if allow_shortfall else []),
        *(_dervet_soc_terms(dervet, cols, hours, eta_c, dt) if dervet is not None else []),
    ], soc_rhs, soc_rhs)
    if follow_schedule:
        block("follow", n, [(t_all, cols["bp"], 1.0), (t_all, cols["bm"], -1.0), (t_all, cols["x"][hour], -1.0)], 0.0, 0.0)
    if dervet is not None:
        _dervet_rows(dervet, battery, cols, r_col, hours, eta_c, block)

    if budget is not None and budget.gamma_h > 0:
        # full deployment in any single interval must fit the legs' power limits
        full_up = [(t_all, r_col[hour, a], 1.0) for a in up_idx]
        block("robust_power_discharge", n, [(t_all, cols["bp"], 1.0), *full_up], -np.inf, battery.p_discharge_mw)
        block("robust_power_charge", n, [(t_all, cols["bm"], 1.0), (t_all, r_col[hour, DOWN_INDEX], 1.0)], -np.inf, battery.p_charge_mw)
    if budget is not None:
        up_energy = [(r_col[hour, a], dt / eta_d) for a in up_idx]  # MWh drained per MW of award
        down_energy = [(r_col[hour, DOWN_INDEX], eta_c * dt)]
        for side, energy, sign, bound in (("up", up_energy, -1.0, battery.e_min_mwh), ("down", down_energy, 1.0, battery.e_max_mwh)):
            n_cols = _robust_side(side, energy, sign, bound, budget, n, k, cols, n_cols, block)
        c = np.concatenate([c, np.zeros(n_cols - len(c))])
        lower = np.concatenate([lower, np.zeros(n_cols - len(lower))])
        upper = np.concatenate([upper, np.full(n_cols - len(upper), np.inf)])

    A = sp.csc_matrix(
        (np.concatenate(vals), (np.concatenate(rows_i), np.concatenate(cols_i))), shape=(count, n_cols)
    )
    lp = LinearProgram(c, A, np.concatenate(row_lo), np.concatenate(row_hi), lower, upper,
                       offset=-battery.e_target_mwh * mean_da, integer=integer)
    return DayModel(lp, cols, rows, n, no_pay_up, no_pay_down)


def _dervet_soc_terms(profile: DervetProfile, cols: dict, hours: int, eta_c: float, dt: float) -> list:
    """SoC-row entries of the legs: ``+ dt (eou (Ud + eta_c Uc) - eod (Dd + eta_c Dc))``."""
    leg = cols["legs"].reshape(hours, len(LEGS)).T
    h = np.arange(hours)
    return [(h, leg[0], dt * eta_c * profile.eou), (h, leg[1], dt * profile.eou),
            (h, leg[2], -dt * eta_c * profile.eod), (h, leg[3], -dt * profile.eod)]


def _dervet_rows(profile: DervetProfile, battery: Battery, cols: dict, r_col: np.ndarray, hours: int, eta_c: float, block) -> None:
    """The profile's rows: awards = sum of their legs, each leg within its headroom, worst-case
    duration, the linking row and the charge / discharge binaries."""
    h = np.arange(hours)
    uc, ud, dc, dd = cols["legs"].reshape(hours, len(LEGS)).T
    bp, bm, e = cols["bp"], cols["bm"], cols["e"]
    up_col, down_col = r_col[:, PRODUCTS.index("reg_up")], r_col[:, DOWN_INDEX]
    block("legs_up", hours, [(h, up_col, 1.0), (h, uc, -1.0), (h, ud, -1.0)], 0.0, 0.0)
    block("legs_down", hours, [(h, down_col, 1.0), (h, dc, -1.0), (h, dd, -1.0)], 0.0, 0.0)
    block("leg_up_charge", hours, [(h, uc, 1.0), (h, bm, -1.0)], -np.inf, 0.0)
    block("leg_up_discharge", hours, [(h, ud, 1.0), (h, bp, 1.0)], -np.inf, battery.p_discharge_mw)
    block("leg_down_charge", hours, [(h, dc, 1.0), (h, bm, 1.0)], -np.inf, battery.p_charge_mw)
    block("leg_down_discharge", hours, [(h, dd, 1.0), (h, bp, -1.0)], -np.inf, 0.0)
    if profile.duration_h > 0:
        # SoC at the start of hour t: e[t - 1], or the initial SoC (a constant) for t = 0
        d, later = profile.duration_h, h[1:]
        start = np.r_[battery.e_initial_mwh, np.zeros(hours - 1)]
        block("duration_up", hours, [(later, e[later - 1], 1.0), (h, uc, -eta_c * d), (h, ud, -d)],
              battery.e_min_mwh - start, np.inf)
        block("duration_down", hours, [(later, e[later - 1], 1.0), (h, dc, eta_c * d), (h, dd, d)],
              -np.inf, battery.e_max_mwh - start)
    if profile.linking_row:
        eou, eod = profile.eou, profile.eod
        block("linking", hours, [(h, ud, 2 * eou), (h, dd, -2 * eod), (h, uc, (1 + eta_c) * eou), (h, dc, -(1 + eta_c) * eod)],
              0.0, np.inf)
    if profile.binaries:
        on = cols["on"]
        block("binary_charge", hours, [(h, bm, 1.0), (h, on, -battery.p_charge_mw)], -np.inf, 0.0)
        block("binary_discharge", hours, [(h, bp, 1.0), (h, on, battery.p_discharge_mw)], -np.inf, battery.p_discharge_mw)


def _robust_side(side, energy, sign, bound, budget, n, k, cols, n_cols, block) -> int:
    """Rows and dual columns making ``e[t] -/+ worst-case deployment energy`` respect ``bound``.

    Blocks of ``w`` intervals; within block b the worst case up to interval t is
    ``max {sum_tau a_tau u_tau : u in [0, 1], sum u <= G}`` over the block's intervals so far,
    whose LP dual is ``min G lam_t + sum mu_t,tau`` with ``lam_t + mu_t,tau >= a_tau``; earlier
    blocks add their full-block worst cases. Returns the new column count.
    """
    w = int(round(budget.window_h * k))
    g = budget.gamma_h * k
    lam = np.arange(n_cols, n_cols + n)
    n_cols += n
    mu: dict[tuple[int, int], int] = {}
    for t in range(n):
        for tau in range(t - t % w, t + 1):
            mu[t, tau] = n_cols
            n_cols += 1
    cols[f"lam_{side}"] = lam
    cols[f"mu_{side}"] = np.array(list(mu.values()))
    pairs = np.array(list(mu.keys()))
    m = len(pairs)
    # dual feasibility: lam_t + mu_t,tau - a_tau(r) >= 0, a_tau = energy coefficient x award
    entries = [(np.arange(m), lam[pairs[:, 0]], 1.0), (np.arange(m), np.array(list(mu.values())), 1.0)]
    entries += [(np.arange(m), col[pairs[:, 1]], -coef) for col, coef in energy]
    block(f"robust_dual_{side}", m, entries, 0.0, np.inf)
    # e[t] + sign * (worst case so far) within bound: earlier blocks' ends and this block's prefix
    rows, cols_, vals = [np.arange(n)], [cols["e"]], [np.ones(n)]
    for t in range(n):
        ends = [b - 1 for b in range(w, t - t % w + 1, w)] + [t]
        for end in ends:
            taus = range(end - end % w, end + 1)
            rows.append(np.full(1 + len(taus), t))
            cols_.append(np.array([lam[end], *(mu[end, tau] for tau in taus)]))
            vals.append(sign * np.array([g, *([1.0] * len(taus))]))
    lo, hi = (bound, np.inf) if sign < 0 else (-np.inf, bound)
    block(f"robust_soc_{side}", n, list(zip(rows, cols_, vals)), lo, hi)
    return n_cols


def interval_costs(
    battery: Battery, market: MarketProfile, dt_h: float, rt_price: np.ndarray | float,
    no_pay_up: np.ndarray | float, no_pay_down: np.ndarray | float,
) -> tuple:
    """Objective coefficients ($ per MW) of ``bp``, ``bm``, ``uu``, ``ud`` in an interval: RT
    energy and wear on each leg; a shortfall undoes its leg and pays the penalty and no-pay."""
    c_deg = battery.degradation_usd_per_mwh
    penalty = market.penalty_factor * np.maximum(rt_price, market.penalty_price_floor_usd_per_mwh) * dt_h
    discharge = (rt_price - c_deg) * dt_h
    charge = (-rt_price - c_deg) * dt_h
    return discharge, charge, -discharge - penalty - no_pay_up, -charge - penalty - no_pay_down


def forecast_arrays(ctx: DAContext, da_price: np.ndarray | None = None) -> ScenarioArrays:
    """The day as a planner sees it at gate closure: point forecasts of prices and the expected
    deployment in every interval (mileage is left out: no mileage price is forecast).
    ``da_price`` replaces the DA forecast once the DA market has cleared."""
    n = ctx.n_intervals
    fraction = np.broadcast_to(ctx.expected_deployment, (n, N_PRODUCTS)).copy()
    return ScenarioArrays(
        ctx.dt_h,
        ctx.da_price if da_price is None else np.asarray(da_price, float),
        ctx.rt_price,
        ctx.as_price,
        np.zeros((HOURS, 2)),
        fraction,
        np.zeros((n, 2)),
    )
