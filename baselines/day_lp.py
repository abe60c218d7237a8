"""The operating-day LP, built once as sparse matrices (the fast path for HiGHS).

Variables (named blocks, :attr:`DayModel.cols`), per hour h and interval t; the DA blocks lead, so a
two-stage model can share them (:attr:`DayModel.first_stage`):

* ``x[h]`` DA energy position (MW, + = sell), ``r[h, a]`` AS awards (MW) in PRODUCTS order,
  ``v[h]`` the virtual position (MW, + = sold in DA; where the profile allows virtual bids);
* ``xp[h]``, ``xm[h]``, ``ep[h]`` the schedule's discharge / charge and the SoC it plans at each
  hour's end (with the profile's ``energy_backing``, for the market's acceptance rules);
* ``f[q]`` the FMM position of each 15-minute interval (MW, + = sell; three settlements only);
* ``b[t]`` the base point (MW, signed); ``dis_up[t]``, ``ch_up[t]``, ``dis_dn[t]``, ``ch_dn[t]``
  the discharge and charge legs of the interval's up and down sub-periods (DESIGN 1.5);
* ``e[t]`` SoC after interval t (MWh); ``above``, ``below`` the final SoC's distance from the
  target (the asymmetric terminal value);
* ``su_up[t]``, ``su_dn[t]``, ``sd_dn[t]`` up deployment not delivered in the up / down
  sub-period and down deployment not delivered (MW; with a fixed bid, when shortfall is allowed);
* ``un_up[t]``, ``un_dn[t]`` the unavailable share of the up / down awards (with a fixed bid);
* ``legs[h, i]``, ``on[t]`` regulation legs and charge / discharge binaries (DER-VET profile only).

Built for one day (24 hours) or any whole number of hours (a year-long study), in which case
the SoC carries across midnights and the terminal value applies at the end of the period.

Constraints are the simulator's rules, written linearly: the market's acceptance of the bid
(power: ``x + sum_up r <= P_dis``, ``r_RD - x <= P_ch``; energy: the schedule's SoC within its
bounds and each hour's awards sustainable for their durations at the hour's lowest / highest
planned SoC), one power envelope per sub-period (``dis_s - ch_s = b + deployment``, legs within
``P_dis`` / ``P_ch``), the SoC recursion of :func:`bessgym.battery.interval_flows` (losses on what
each sub-period charges or discharges) and the availability of every award in every interval
(``b + R_up <= P_dis``, ``b - R_dn >= -P_ch``, and the SoC at the interval's start sustaining the
awards). The objective is the ledger of :mod:`bessgym.settlement`: the legs carry the RT price
and the wear (:func:`bessgym.settlement.leg_values`), so a solution replayed through
:func:`bessgym.sim.simulate_day` returns the LP objective (tested to 1e-6).

The max(., 0) in the schedule's SoC, in each sub-period's legs and in the terminal value are
written as pairs of non-negative columns, exact when at most one of each pair is positive: the LP
optimum is, unless charging and discharging at once pays (dumping energy, never at the default
battery's wear above about -195 $/MWh, or planning a lower schedule SoC for more reg down).
:func:`solve_exact` checks the pairs and re-solves with binaries where the relaxation used both
(the oracle); :func:`solve_accepted` fixes each such pair to the sign of its net instead (fast,
for bidders: a plan the rules accept, perhaps a little short of the best).

:class:`DervetProfile` switches the same builder to EPRI DER-VET's conventions (its own physics
and no market rules, so no simulator replay; ``benchmarks/dervet.py`` checks it against DER-VET's
published results instead).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp

from baselines.solver import LinearProgram, SolveResult, decision, solve
from bessgym.battery import Battery
from bessgym.deployment import sub_periods
from bessgym.forecast import DAContext
from bessgym.ges import GES
from bessgym.market import DOWN_INDEX, HOURS, N_PRODUCTS, PRODUCTS, UP_MASK, DABid, MarketProfile, backing_mwh_per_mw
from bessgym.policies import checked
from bessgym.settlement import StepTerms, capacity_usd, leg_values, penalty_price, terminal_slopes
from bessgym.sim import ScenarioArrays

LEGS = ("up_charge", "up_discharge", "down_charge", "down_discharge")  # the DER-VET legs block, per hour
SUB_PERIODS = ("up", "dn")
_PAIR_TOL = 1e-7  # MW (or MWh): a pair's smaller member above this means both were used


@dataclass(frozen=True)
class DeploymentBudget:
    """Budgeted deployment uncertainty: the day in blocks of ``window_h`` hours; in each block the
    up (or down) products may be fully deployed for at most ``gamma_h`` hours in total, at any
    times. ``gamma_h = window_h`` is full deployment throughout. A MW deployed moves at most
    ``dt / eta_d`` MWh of SoC per interval either way (against an opposite base point it nets out
    the base point's flow and its loss)."""

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
    the SoC after the last hour fixed to ``soe_final``; no terminal value and none of bessgym's
    market rules (acceptance, availability). Optional charge / discharge binaries (a
    mixed-integer LP), time-varying SoC floor / ceiling (MWh or kWh after each hour; NaN where
    the battery's own bound applies) and hourly award ranges (``reg_up_range`` /
    ``reg_down_range``, shape (hours, 2): min, max).

    The caller passes the energy price as both DA and RT price, zero deployment in the day arrays
    (the legs carry it, and the whole interval is then the down sub-period: ``dis_dn`` / ``ch_dn``
    are DER-VET's discharge and charge) and a battery with ``eta_discharge = 1`` (DER-VET puts the
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


class Assembler:
    """Columns and rows of a sparse LP, by name: ``cols[name]`` and ``rows[name]`` index arrays."""

    def __init__(self) -> None:
        self.cols: dict[str, np.ndarray] = {}
        self.rows: dict[str, np.ndarray] = {}
        self._c: list[np.ndarray] = []
        self._lower: list[np.ndarray] = []
        self._upper: list[np.ndarray] = []
        self._entries: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._row_lo: list[np.ndarray] = []
        self._row_hi: list[np.ndarray] = []
        self.n_cols = 0
        self.n_rows = 0

    def add_cols(self, name: str, size: int, lower: float | np.ndarray = 0.0, upper: float | np.ndarray = np.inf,
                 cost: float | np.ndarray = 0.0) -> np.ndarray:
        index = np.arange(self.n_cols, self.n_cols + size)
        self.cols[name] = index
        for target, value in ((self._lower, lower), (self._upper, upper), (self._c, cost)):
            target.append(np.broadcast_to(np.asarray(value, dtype=float), (size,)).copy())
        self.n_cols += size
        return index

    def add_rows(self, name: str, size: int, entries: list[tuple], lo: float | np.ndarray, hi: float | np.ndarray) -> np.ndarray:
        """``lo <= sum(entries) <= hi`` over ``size`` rows; an entry is (row offsets, columns,
        values), broadcast together."""
        index = np.arange(self.n_rows, self.n_rows + size)
        self.rows[name] = index
        for row, col, val in entries:
            row, col, val = np.broadcast_arrays(np.asarray(row), np.asarray(col), np.asarray(val, dtype=float))
            self._entries.append((self.n_rows + row.ravel(), col.ravel(), val.ravel()))
        self._row_lo.append(np.broadcast_to(np.asarray(lo, dtype=float), (size,)).copy())
        self._row_hi.append(np.broadcast_to(np.asarray(hi, dtype=float), (size,)).copy())
        self.n_rows += size
        return index

    def cost(self, cols: np.ndarray, values: float | np.ndarray) -> None:
        """Add ``values`` to the costs of ``cols``."""
        c = np.concatenate(self._c) if len(self._c) > 1 else self._c[0]
        np.add.at(c, np.asarray(cols), np.broadcast_to(np.asarray(values, dtype=float), np.shape(cols)))
        self._c = [c]

    def bounds(self, cols: np.ndarray, lower: float | np.ndarray | None = None, upper: float | np.ndarray | None = None) -> None:
        lo, hi = np.concatenate(self._lower), np.concatenate(self._upper)
        if lower is not None:
            lo[cols] = lower
        if upper is not None:
            hi[cols] = upper
        self._lower, self._upper = [lo], [hi]

    def build(self, offset: float, integer: np.ndarray | None = None) -> LinearProgram:
        rows = np.concatenate([e[0] for e in self._entries]) if self._entries else np.zeros(0, int)
        cols = np.concatenate([e[1] for e in self._entries]) if self._entries else np.zeros(0, int)
        vals = np.concatenate([e[2] for e in self._entries]) if self._entries else np.zeros(0)
        A = sp.csc_matrix((vals, (rows, cols)), shape=(self.n_rows, self.n_cols))
        return LinearProgram(np.concatenate(self._c), A, np.concatenate(self._row_lo), np.concatenate(self._row_hi),
                             np.concatenate(self._lower), np.concatenate(self._upper), offset=offset, integer=integer)


@dataclass
class DayModel:
    """A built day LP: its columns and rows by name, the number of leading DA columns shared by
    two-stage models, and the column pairs of which at most one may be positive."""

    lp: LinearProgram
    cols: dict[str, np.ndarray]
    rows: dict[str, np.ndarray]
    n_intervals: int
    first_stage: int
    pairs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=int))
    intervals: dict[str, np.ndarray] = field(default_factory=dict)

    def interval_rows(self, t: int) -> np.ndarray:
        """Every row that belongs to interval ``t`` (its sub-periods' power rows, its SoC row and
        its availability rows): what a re-plan from a later interval sets aside."""
        found = [self.rows[name][np.flatnonzero(ts == t)] for name, ts in self.intervals.items()]
        return np.concatenate(found) if found else np.zeros(0, dtype=int)

    def interval_cols(self, t: int) -> np.ndarray:
        """Every RT column of interval ``t`` but its SoC (the base point, the sub-periods' legs,
        the shortfall and unavailability shares): what a re-plan from a later interval fixes at 0."""
        return np.array([idx[t] for name, idx in self.cols.items()
                         if name != "e" and len(idx) == self.n_intervals and idx[0] >= self.first_stage], dtype=np.int32)

    def bid(self, z: np.ndarray) -> DABid:
        virtual = z[self.cols["v"]].copy() if "v" in self.cols else np.zeros(len(self.cols["x"]))
        return DABid(z[self.cols["x"]].copy(), np.maximum(z[self.cols["r"]].reshape(-1, N_PRODUCTS), 0.0), virtual_mw=virtual)

    def decision(self, result: SolveResult) -> DABid:
        """The solved bid with the solve in its ``note``, or the idle bid if the solve failed."""
        if not result.status.ok:
            return decision(None, None, result)
        bid = self.bid(result.z)
        return decision(bid.energy_mw, bid.as_mw, result, bid.virtual_mw)

    def base_mw(self, z: np.ndarray) -> np.ndarray:
        return z[self.cols["b"]].copy()

    def fmm_mw(self, z: np.ndarray) -> np.ndarray | None:
        """The FMM positions (F,) of a three-settlement model, None in two settlements."""
        return z[self.cols["f"]].copy() if "f" in self.cols else None


def rt_priced_costs(battery: Battery, market: MarketProfile, data: ScenarioArrays,
                    terms: StepTerms | None = None) -> dict[str, np.ndarray]:
    """The objective coefficients ($ per MW of the column, per interval; the LP maximises, so
    revenue is positive and a penalty negative) of the day LP's columns that depend on the RT price:
    each sub-period's legs (``dis_up``, ``ch_up``, ``dis_dn``, ``ch_dn``: RT imbalance and wear)
    and, given a fixed bid's ``terms``, the shortfall columns (``su_up``, ``su_dn``, ``sd_dn``:
    the penalty at ``data``'s RT prices and the no-pay). What the builder writes, and what an RT
    re-plan rewrites when its price forecast changes."""
    w_up = sub_periods(data.fraction, data.up_time)[0]
    weights = {"up": w_up, "dn": 1.0 - w_up}
    discharge_value, charge_value = leg_values(battery, data.rt_price, data.dt_h)
    costs = {}
    for s in SUB_PERIODS:
        costs[f"dis_{s}"], costs[f"ch_{s}"] = weights[s] * discharge_value, weights[s] * charge_value
    if terms is not None:
        penalty = penalty_price(market, data.rt_price) * data.dt_h
        for s in SUB_PERIODS:
            costs[f"su_{s}"] = -weights[s] * (penalty + terms.cap_up_req_usd * terms.inv_up_req)
        costs["sd_dn"] = -weights["dn"] * (penalty + terms.cap_down_req_usd * terms.inv_down_req)
    return costs


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
    reserve_multiple: float = 1.0,
    da_energy: bool = True,
    storage: GES | None = None,
) -> DayModel:
    """Build the day LP over one day's (or period's) ``data`` (prices and deployment).

    ``follow_schedule`` ties the base point to the DA position (``b = x``: a physical DA schedule,
    as a DA planner sees it); ``fixed_bid`` fixes x and r (real-time re-planning): the awards'
    availability becomes a cost (the ``un_*`` shares) instead of a rule; ``allow_shortfall``
    frees ``su_*``/``sd_dn`` (needs ``fixed_bid``: no-pay is linear in the shortfall only once
    the awards are known). ``budget`` makes the SoC bounds robust: they hold for every deployment
    path of the :class:`DeploymentBudget` set on top of the SoC the data's deployment gives (pass
    zero deployment for a nominal no-deployment trajectory); each block's worst case enters
    through its LP dual (``lam``, ``mu`` columns). ``reserve_multiple`` (>= 1) scales the SoC
    room the planned availability rows hold for each award (``reserve_multiple`` times its
    duration; the market's acceptance rows keep the duration itself): a planner's margin for
    deployment beyond the expected. ``da_energy=False`` fixes the DA energy position at 0: energy
    traded in real time only (AS awards stay DA products). ``storage``: a generalised storage
    (:class:`bessgym.ges.GES`: time-varying power and SoC bounds, leakage, drift) in place of the
    battery's physics (the battery still gives the wear cost); by default
    ``GES.from_battery(battery)``, so both are one code path. The DA rules use each hour's tightest
    power bounds and the SoC bounds at its end, and the hour's summed leakage and drift.
    """
    checked("reserve_multiple", reserve_multiple, at_least=1)
    if reserve_multiple != 1.0 and fixed_bid is not None:
        raise ValueError("reserve_multiple applies to planning (no fixed_bid): with a fixed bid availability is a cost")
    if allow_shortfall and fixed_bid is None:
        raise ValueError("allow_shortfall needs fixed_bid: no-pay is linear in the shortfall only for known awards")
    n = data.rt_price.shape[-1]
    hours = len(data.da_price)  # 24 for a day; any number of hours for a longer period
    k = n // hours
    if dervet is not None and (k != 1 or not follow_schedule or fixed_bid is not None or budget is not None):
        raise ValueError("the DER-VET profile needs hourly intervals and follow_schedule, without fixed_bid or budget")
    if dervet is not None and np.any(data.fraction):
        raise ValueError("the DER-VET profile carries regulation in its legs: pass zero deployment")
    dt = data.dt_h
    hour = np.arange(n) // k
    if storage is not None and (dervet is not None or fixed_bid is not None):
        raise ValueError("a GES plans a day (no DER-VET profile, no fixed bid: a fixed bid's ledger terms are a battery's)")
    if storage is not None and (storage.n_intervals != n or abs(storage.dt_h - dt) > 1e-12):
        raise ValueError(f"storage has {storage.n_intervals} intervals of {storage.dt_h} h; the data have {n} of {dt} h")
    g = GES.from_battery(battery, n, dt) if storage is None else storage
    eta_c, eta_d, keep, size = g.eta_charge, g.eta_discharge, 1.0 - g.leakage, g.energy_mwh
    p_ch, p_dis = g.p_charge_max_mw, g.p_discharge_max_mw  # (n,) MW
    e_min, e_max = g.soc_min[1:] * size, g.soc_max[1:] * size  # (n,) MWh, after each interval
    e0, e_target = g.soc_initial * size, g.soc_target * size
    by_hour = (hours, k)
    p_ch_h, p_dis_h = p_ch.reshape(by_hour).min(1), p_dis.reshape(by_hour).min(1)  # the hour's tightest
    e_min_h, e_max_h = e_min[k - 1::k], e_max[k - 1::k]  # at each hour's end
    e_min_h0, e_max_h0 = g.soc_min[:-1:k] * size, g.soc_max[:-1:k] * size  # at each hour's start
    rules = dervet is None
    backing = rules and market.energy_backing
    w_up, coef_up, coef_dn = sub_periods(data.fraction, data.up_time)
    weights = {"up": w_up, "dn": 1.0 - w_up}
    coefs = {"up": coef_up, "dn": coef_dn}
    mwh = backing_mwh_per_mw(g, market) if rules else np.zeros(N_PRODUCTS)  # SoC room per MW of award
    m = Assembler()

    # --- DA blocks: the bid and the schedule's planned SoC ---------------------------------------
    x = m.add_cols("x", hours, -p_ch_h, p_dis_h)
    r = m.add_cols("r", hours * N_PRODUCTS, 0.0, np.tile(np.where(market.offered, np.inf, 0.0), hours))
    r_col = r.reshape(hours, N_PRODUCTS)
    virtual = market.virtual_limit_mw > 0 and rules
    if virtual:
        v = m.add_cols("v", hours, -market.virtual_limit_mw, market.virtual_limit_mw)
    if not da_energy:
        m.bounds(x, 0.0, 0.0)
    if fixed_bid is not None:
        m.bounds(x, fixed_bid.energy_mw, fixed_bid.energy_mw)
        m.bounds(r, fixed_bid.as_mw.ravel(), fixed_bid.as_mw.ravel())
        if virtual:
            m.bounds(v, fixed_bid.virtual_mw, fixed_bid.virtual_mw)
    planned = backing and fixed_bid is None
    if planned:
        xp = m.add_cols("xp", hours, 0.0, p_dis_h)
        xm = m.add_cols("xm", hours, 0.0, p_ch_h)
        ep = m.add_cols("ep", hours, e_min_h, e_max_h)
    first_stage = m.n_cols

    # --- RT blocks ---------------------------------------------------------------------------------
    three = data.fmm_price is not None
    if three:
        n_fmm = data.fmm_price.shape[-1]
        if n_fmm == 0 or n % n_fmm:
            raise ValueError(f"fmm_price has {n_fmm} intervals, which must divide the {n} RT intervals")
        per_fmm = n // n_fmm
        f = m.add_cols("f", n_fmm, -p_ch.reshape(n_fmm, per_fmm).min(1), p_dis.reshape(n_fmm, per_fmm).min(1))
    b = m.add_cols("b", n, -p_ch, p_dis)
    legs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for s in SUB_PERIODS:
        active = weights[s] > 0
        dis = m.add_cols(f"dis_{s}", n, 0.0, np.where(active, p_dis, 0.0))
        ch = m.add_cols(f"ch_{s}", n, 0.0, np.where(active, p_ch, 0.0))
        legs[s] = (dis, ch)
    e = m.add_cols("e", n, e_min, e_max)
    if dervet is None:
        above, below = m.add_cols("above", 1, 0.0, e_max[-1] - e_target), m.add_cols("below", 1, 0.0, e_target - e_min[-1])
    else:
        _dervet_cols(dervet, battery, m, r_col, hours, dt, data.da_price)
    if fixed_bid is not None:  # the ledger's own terms of the bid: requests, payments at risk
        terms = data.terms(battery, market, fixed_bid.energy_mw, fixed_bid.as_mw).step
        unavailable = {side: m.add_cols(f"un_{side}", n, 0.0, 1.0) for side in ("up", "dn")}
    if allow_shortfall:
        su = {"up": m.add_cols("su_up", n, 0.0, terms.up_in_up), "dn": m.add_cols("su_dn", n, 0.0, terms.up_in_down)}
        sd = m.add_cols("sd_dn", n, 0.0, terms.down_in_down)

    # --- objective: the ledger -----------------------------------------------------------------------
    lam_rt, lam_da, lam_next = data.rt_price, data.da_price, data.next_price
    m.cost(x, (lam_da[hour] - lam_next).reshape(hours, k).sum(1) * dt)  # each layer settles the deviation from the one before
    if virtual:
        m.cost(v, (lam_da[hour] - lam_next).reshape(hours, k).sum(1) * dt)
    if three:
        m.cost(f, (lam_next - lam_rt).reshape(n_fmm, -1).sum(1) * dt)
    r_cost = capacity_usd(data.as_price, 1.0, dt * k)  # $ per MW of award and hour
    if market.mileage_paid:
        r_cost = r_cost.copy()
        r_cost[:, :2] += (data.mileage_price[hour] * data.mileage).reshape(hours, k, 2).sum(1)
    m.cost(r, r_cost.ravel())
    priced = rt_priced_costs(battery, market, data, terms if allow_shortfall else None)
    for s in SUB_PERIODS:
        m.cost(legs[s][0], priced[f"dis_{s}"])
        m.cost(legs[s][1], priced[f"ch_{s}"])
    if dervet is None:
        value_above, cost_below = terminal_slopes(battery, float(lam_da.mean()))
        m.cost(above, value_above)
        m.cost(below, -cost_below)
    if fixed_bid is not None:
        m.cost(unavailable["up"], -terms.cap_up_usd)
        m.cost(unavailable["dn"], -terms.cap_down_usd)
        if allow_shortfall:  # the legs carry the energy; a shortfall adds the penalty and the no-pay
            for s in SUB_PERIODS:
                m.cost(su[s], priced[f"su_{s}"])
            m.cost(sd, priced["sd_dn"])

    # --- rows ------------------------------------------------------------------------------------------
    h_all, t_all = np.arange(hours), np.arange(n)
    up_idx = np.flatnonzero(UP_MASK)
    intervals: dict[str, np.ndarray] = {}  # per-interval row blocks: the interval of each row
    # the market accepts no award beyond registered power (every profile, DER-VET's included)
    m.add_rows("accept_up", hours, [(h_all, x, 1.0), *[(h_all, r_col[:, a], 1.0) for a in up_idx]], -np.inf, p_dis_h)
    m.add_rows("accept_down", hours, [(h_all, x, -1.0), (h_all, r_col[:, DOWN_INDEX], 1.0)], -np.inf, p_ch_h)
    if three:  # the FMM accepts positions by the same power rule (bessgym.market.accept_fmm)
        q_all, q_hour = np.arange(n_fmm), hour[:: n // n_fmm]
        m.add_rows("accept_fmm_up", n_fmm, [(q_all, f, 1.0), *[(q_all, r_col[q_hour, a], 1.0) for a in up_idx]],
                   -np.inf, p_dis[::per_fmm])
        m.add_rows("accept_fmm_down", n_fmm, [(q_all, f, -1.0), (q_all, r_col[q_hour, DOWN_INDEX], 1.0)], -np.inf, p_ch[::per_fmm])
    if planned:
        keep_h = 1.0 - g.leakage.reshape(by_hour).sum(1)  # the hour's retention, to first order
        drift_h = g.drift.reshape(by_hour).sum(1) * size  # MWh
        m.add_rows("planned_legs", hours, [(h_all, xp, 1.0), (h_all, xm, -1.0), (h_all, x, -1.0)], 0.0, 0.0)
        start = np.r_[keep_h[0] * e0, np.zeros(hours - 1)] + drift_h
        m.add_rows("planned_soc", hours, [(h_all, ep, 1.0), (h_all[1:], ep[:-1], -keep_h[1:]), (h_all, xp, 1 / eta_d),
                                          (h_all, xm, -eta_c)], start, start)
        need_up = [(h_all, r_col[:, a], -mwh[a]) for a in up_idx]
        need_down = (h_all, r_col[:, DOWN_INDEX], mwh[DOWN_INDEX])
        first = np.r_[e0, np.zeros(hours - 1)]  # the SoC at an hour's start: e0, or the hour before's end
        m.add_rows("duration_up_start", hours, [(h_all[1:], ep[:-1], 1.0), *need_up], e_min_h0 - first, np.inf)
        m.add_rows("duration_up_end", hours, [(h_all, ep, 1.0), *need_up], e_min_h, np.inf)
        m.add_rows("duration_down_start", hours, [(h_all[1:], ep[:-1], 1.0), need_down], -np.inf, e_max_h0 - first)
        m.add_rows("duration_down_end", hours, [(h_all, ep, 1.0), need_down], -np.inf, e_max_h)
    for s in SUB_PERIODS:  # dis_s - ch_s - b - deployment (+ shortfall) = 0, where the sub-period exists
        t_s = np.flatnonzero(weights[s] > 0)
        rows = np.arange(len(t_s))
        entries = [(rows, legs[s][0][t_s], 1.0), (rows, legs[s][1][t_s], -1.0), (rows, b[t_s], -1.0)]
        entries += [(rows, r_col[hour[t_s], a], -coefs[s][t_s, a]) for a in range(N_PRODUCTS) if np.any(coefs[s][t_s, a])]
        if allow_shortfall:
            entries.append((rows, su[s][t_s], 1.0))
            if s == "dn":
                entries.append((rows, sd[t_s], -1.0))
        m.add_rows(f"power_{s}", len(t_s), entries, 0.0, 0.0)
        intervals[f"power_{s}"] = t_s
    # SoC: e[t] - keep e[t-1] + dt sum_s w_s (dis_s / eta_d - eta_c ch_s) = keep e0 [t = 0]
    soc_rhs = np.r_[keep[0] * e0, np.zeros(n - 1)] + g.drift * size
    soc_entries = [(t_all, e, 1.0), (t_all[1:], e[:-1], -keep[1:])]
    for s in SUB_PERIODS:
        soc_entries += [(t_all, legs[s][0], dt / eta_d * weights[s]), (t_all, legs[s][1], -eta_c * dt * weights[s])]
    if dervet is not None:
        soc_entries += _dervet_soc_terms(dervet, m.cols, hours, eta_c, dt)
    m.add_rows("soc", n, soc_entries, soc_rhs, soc_rhs)
    intervals["soc"] = t_all
    if dervet is None:
        m.add_rows("terminal", 1, [(0, e[-1], 1.0), (0, above, -1.0), (0, below, 1.0)], e_target, e_target)
    if follow_schedule:
        m.add_rows("follow", n, [(t_all, b, 1.0), (t_all, x[hour], -1.0)], 0.0, 0.0)
        if three:  # a physical DA schedule trades nothing in the FMM either
            m.add_rows("follow_fmm", n_fmm, [(q_all, f, 1.0), (q_all, x[q_hour], -1.0)], 0.0, 0.0)
    if rules:
        _availability_rows(m, g, mwh * reserve_multiple, r_col, hour, terms if fixed_bid is not None else None, n)
        intervals.update({name: t_all for name in m.rows if name.startswith("available_")})
    if dervet is not None:
        _dervet_rows(dervet, battery, m, r_col, hours, eta_c)
    if budget is not None:
        # MWh a MW of deployment moves at most: against an opposite base point it nets out the base
        # point's own flow, whose loss goes with it, so reg down too can move dt / eta_d
        up_energy = [(r_col[hour, a], dt / eta_d) for a in up_idx]
        down_energy = [(r_col[hour, DOWN_INDEX], dt / eta_d)]
        for side, energy, sign, bound in (("up", up_energy, -1.0, e_min), ("down", down_energy, 1.0, e_max)):
            _robust_side(m, side, energy, sign, bound, budget, n, k)

    pairs = [np.stack([legs[s][0], legs[s][1]], axis=1)[weights[s] > 0] for s in SUB_PERIODS]
    if planned:
        pairs.append(np.stack([xp, xm], axis=1))
    if dervet is None:
        pairs.append(np.array([[above[0], below[0]]]))
    integer = None
    if dervet is not None and dervet.binaries:
        on = m.add_cols("on", n, 0.0, 1.0)
        dis, ch = legs["dn"]
        m.add_rows("binary_charge", n, [(t_all, ch, 1.0), (t_all, on, -battery.p_charge_mw)], -np.inf, 0.0)
        m.add_rows("binary_discharge", n, [(t_all, dis, 1.0), (t_all, on, battery.p_discharge_mw)], -np.inf, battery.p_discharge_mw)
        integer = np.zeros(m.n_cols, bool)
        integer[on] = True
    return DayModel(m.build(0.0, integer), m.cols, m.rows, n, first_stage, np.concatenate(pairs).astype(int), intervals)


def _availability_rows(m: Assembler, storage: GES, mwh: np.ndarray, r_col: np.ndarray, hour: np.ndarray,
                       fixed: StepTerms | None, n: int) -> None:
    """Every award backed in every interval: power ``b + R_up <= P_dis``, ``b - R_dn >= -P_ch``;
    energy ``e[t-1] - E_min >= sum_up r D / eta_d``, ``E_max - e[t-1] >= r_RD D eta_c``
    (``e[-1]`` the initial SoC; bounds at the interval's start). With a fixed bid (its ledger
    ``fixed`` terms) the unavailable shares ``un_*`` relax them."""
    t_all = np.arange(n)
    b, e, up_idx = m.cols["b"], m.cols["e"], np.flatnonzero(UP_MASK)
    p_ch, p_dis = storage.p_charge_max_mw, storage.p_discharge_max_mw
    e_min, e_max = storage.soc_min[:-1] * storage.energy_mwh, storage.soc_max[:-1] * storage.energy_mwh
    e0 = np.r_[storage.soc_initial * storage.energy_mwh, np.zeros(n - 1)]  # the SoC at an interval's start, as a constant part
    before = (t_all[1:], e[:-1], 1.0)
    if fixed is None:
        awards_up = [(t_all, r_col[hour, a], 1.0) for a in up_idx]
        m.add_rows("available_power_up", n, [(t_all, b, 1.0), *awards_up], -np.inf, p_dis)
        m.add_rows("available_power_down", n, [(t_all, b, 1.0), (t_all, r_col[hour, DOWN_INDEX], -1.0)], -p_ch, np.inf)
        need_up = [(t_all, r_col[hour, a], -mwh[a]) for a in up_idx if mwh[a] > 0]
        if need_up:
            m.add_rows("available_energy_up", n, [before, *need_up], e_min - e0, np.inf)
        if mwh[DOWN_INDEX] > 0:
            need_down = (t_all, r_col[hour, DOWN_INDEX], mwh[DOWN_INDEX])
            m.add_rows("available_energy_down", n, [before, need_down], -np.inf, e_max - e0)
        return
    award_up, award_down, need_up, need_down = fixed.award_up_mw, fixed.award_down_mw, fixed.need_up_mwh, fixed.need_down_mwh
    un_up, un_dn = m.cols["un_up"], m.cols["un_dn"]
    # R (1 - un) <= headroom, written as R un + headroom >= R
    m.add_rows("available_power_up", n, [(t_all, un_up, award_up), (t_all, b, -1.0)], award_up - p_dis, np.inf)
    m.add_rows("available_power_down", n, [(t_all, un_dn, award_down), (t_all, b, 1.0)], award_down - p_ch, np.inf)
    m.add_rows("available_energy_up", n, [(t_all, un_up, need_up), before], need_up + e_min - e0, np.inf)
    m.add_rows("available_energy_down", n, [(t_all, un_dn, need_down), (t_all[1:], e[:-1], -1.0)],
               need_down - e_max + e0, np.inf)


def _dervet_soc_terms(profile: DervetProfile, cols: dict, hours: int, eta_c: float, dt: float) -> list:
    """SoC-row entries of the legs: ``+ dt (eou (Ud + eta_c Uc) - eod (Dd + eta_c Dc))``."""
    leg = cols["legs"].reshape(hours, len(LEGS)).T
    h = np.arange(hours)
    return [(h, leg[0], dt * eta_c * profile.eou), (h, leg[1], dt * profile.eou),
            (h, leg[2], -dt * eta_c * profile.eod), (h, leg[3], -dt * profile.eod)]


def _dervet_cols(profile: DervetProfile, battery: Battery, m: Assembler, r_col: np.ndarray, hours: int, dt: float,
                 lam_da: np.ndarray) -> None:
    """The profile's legs columns with their costs, the SoC floor / ceiling series, the final SoC,
    the award ranges and the variable O&M on discharge."""
    vom = profile.vom_usd_per_unit * dt
    leg = m.add_cols("legs", hours * len(LEGS)).reshape(hours, len(LEGS)).T  # Uc, Ud, Dc, Dd
    m.cost(leg[0], profile.eou * lam_da * dt)
    m.cost(leg[1], profile.eou * lam_da * dt - vom * profile.eou)
    m.cost(leg[2], -profile.eod * lam_da * dt)
    m.cost(leg[3], -profile.eod * lam_da * dt + vom * profile.eod)
    m.cost(m.cols["dis_dn"], -vom)
    e = m.cols["e"]
    lower, upper = np.full(hours, battery.e_min_mwh), np.full(hours, battery.e_max_mwh)
    if profile.soe_floor is not None:
        lower = np.fmax(lower, np.asarray(profile.soe_floor, float))
    if profile.soe_ceiling is not None:
        upper = np.fmin(upper, np.asarray(profile.soe_ceiling, float))
    lower[-1] = upper[-1] = profile.soe_final
    m.bounds(e, lower, upper)
    for product, award_range in (("reg_up", profile.reg_up_range), ("reg_down", profile.reg_down_range)):
        if award_range is not None:
            col = r_col[:, PRODUCTS.index(product)]
            m.bounds(col, award_range[:, 0], award_range[:, 1])


def _dervet_rows(profile: DervetProfile, battery: Battery, m: Assembler, r_col: np.ndarray, hours: int, eta_c: float) -> None:
    """The profile's rows: awards = sum of their legs, each leg within its headroom, worst-case
    duration and the linking row."""
    h = np.arange(hours)
    uc, ud, dc, dd = m.cols["legs"].reshape(hours, len(LEGS)).T
    dis, ch, e = m.cols["dis_dn"], m.cols["ch_dn"], m.cols["e"]
    up_col, down_col = r_col[:, PRODUCTS.index("reg_up")], r_col[:, DOWN_INDEX]
    m.add_rows("legs_up", hours, [(h, up_col, 1.0), (h, uc, -1.0), (h, ud, -1.0)], 0.0, 0.0)
    m.add_rows("legs_down", hours, [(h, down_col, 1.0), (h, dc, -1.0), (h, dd, -1.0)], 0.0, 0.0)
    m.add_rows("leg_up_charge", hours, [(h, uc, 1.0), (h, ch, -1.0)], -np.inf, 0.0)
    m.add_rows("leg_up_discharge", hours, [(h, ud, 1.0), (h, dis, 1.0)], -np.inf, battery.p_discharge_mw)
    m.add_rows("leg_down_charge", hours, [(h, dc, 1.0), (h, ch, 1.0)], -np.inf, battery.p_charge_mw)
    m.add_rows("leg_down_discharge", hours, [(h, dd, 1.0), (h, dis, -1.0)], -np.inf, 0.0)
    if profile.duration_h > 0:
        # SoC at the start of hour t: e[t - 1], or the initial SoC (a constant) for t = 0
        d, later = profile.duration_h, h[1:]
        start = np.r_[battery.e_initial_mwh, np.zeros(hours - 1)]
        m.add_rows("duration_up", hours, [(later, e[later - 1], 1.0), (h, uc, -eta_c * d), (h, ud, -d)],
                   battery.e_min_mwh - start, np.inf)
        m.add_rows("duration_down", hours, [(later, e[later - 1], 1.0), (h, dc, eta_c * d), (h, dd, d)],
                   -np.inf, battery.e_max_mwh - start)
    if profile.linking_row:
        eou, eod = profile.eou, profile.eod
        m.add_rows("linking", hours, [(h, ud, 2 * eou), (h, dd, -2 * eod), (h, uc, (1 + eta_c) * eou), (h, dc, -(1 + eta_c) * eod)],
                   0.0, np.inf)


def _robust_side(m: Assembler, side: str, energy: list, sign: float, bound: float, budget: DeploymentBudget, n: int, k: int) -> None:
    """Rows and dual columns making ``e[t] -/+ worst-case deployment energy`` respect ``bound``.

    Blocks of ``w`` intervals; within block b the worst case up to interval t is
    ``max {sum_tau a_tau u_tau : u in [0, 1], sum u <= G}`` over the block's intervals so far,
    whose LP dual is ``min G lam_t + sum mu_t,tau`` with ``lam_t + mu_t,tau >= a_tau``; earlier
    blocks add their full-block worst cases.
    """
    w = int(round(budget.window_h * k))
    g = budget.gamma_h * k
    pairs = np.array([(t, tau) for t in range(n) for tau in range(t - t % w, t + 1)])
    lam = m.add_cols(f"lam_{side}", n)
    mu = m.add_cols(f"mu_{side}", len(pairs))
    mu_of = {(int(t), int(tau)): int(col) for (t, tau), col in zip(pairs, mu)}
    rows = np.arange(len(pairs))
    # dual feasibility: lam_t + mu_t,tau - a_tau(r) >= 0, a_tau = energy coefficient x award
    entries = [(rows, lam[pairs[:, 0]], 1.0), (rows, mu, 1.0)]
    entries += [(rows, col[pairs[:, 1]], -coef) for col, coef in energy]
    m.add_rows(f"robust_dual_{side}", len(pairs), entries, 0.0, np.inf)
    # e[t] + sign * (worst case so far) within bound: earlier blocks' ends and this block's prefix
    entries = [(np.arange(n), m.cols["e"], 1.0)]
    for t in range(n):
        for end in [b - 1 for b in range(w, t - t % w + 1, w)] + [t]:
            taus = range(end - end % w, end + 1)
            cols = np.array([lam[end], *(mu_of[end, tau] for tau in taus)])
            entries.append((np.full(len(cols), t), cols, sign * np.array([g, *([1.0] * len(taus))])))
    lo, hi = (bound, np.inf) if sign < 0 else (-np.inf, bound)
    m.add_rows(f"robust_soc_{side}", n, entries, lo, hi)


def with_binaries(lp: LinearProgram, pairs: np.ndarray) -> LinearProgram:
    """``lp`` with one binary per column pair so that at most one of the two is positive
    (``p <= U_p on``, ``q <= U_q (1 - on)``, U the columns' finite upper bounds)."""
    n_pairs, n_cols = len(pairs), lp.A.shape[1]
    upper_p, upper_q = lp.upper[pairs[:, 0]], lp.upper[pairs[:, 1]]
    if not (np.isfinite(upper_p).all() and np.isfinite(upper_q).all()):
        raise ValueError("a column pair needs finite upper bounds to take a binary")
    on = n_cols + np.arange(n_pairs)
    rows = np.arange(2 * n_pairs)
    A_new = sp.csc_matrix(
        (np.concatenate([np.ones(n_pairs), -upper_p, np.ones(n_pairs), upper_q]),
         (np.concatenate([rows[:n_pairs], rows[:n_pairs], rows[n_pairs:], rows[n_pairs:]]),
          np.concatenate([pairs[:, 0], on, pairs[:, 1], on]))),
        shape=(2 * n_pairs, n_cols + n_pairs))
    A = sp.vstack([sp.hstack([lp.A, sp.csc_matrix((lp.A.shape[0], n_pairs))]), A_new]).tocsc()
    integer = np.concatenate([lp.integer if lp.integer is not None else np.zeros(n_cols, bool), np.ones(n_pairs, bool)])
    return LinearProgram(np.concatenate([lp.c, np.zeros(n_pairs)]), A,
                         np.concatenate([lp.row_lower, np.full(n_pairs, -np.inf), np.full(n_pairs, -np.inf)]),
                         np.concatenate([lp.row_upper, np.zeros(n_pairs), upper_q]),
                         np.concatenate([lp.lower, np.zeros(n_pairs)]), np.concatenate([lp.upper, np.ones(n_pairs)]),
                         offset=lp.offset, integer=integer)


MIP_GAP = 1e-4  # relative optimality gap of the re-solves with binaries (HiGHS's default)


def solve_exact(model: DayModel, time_limit_s: float | None = 10.0, threads: int = 1) -> SolveResult:
    """Solve a day LP to its optimum under the rules, binaries where needed (see :func:`solve_pairs`)."""
    return solve_pairs(model.lp, model.pairs, time_limit_s, threads)


def solve_accepted(model: DayModel, time_limit_s: float | None = 10.0, threads: int = 1) -> SolveResult:
    """Solve a day LP to a plan the rules accept, fast: pairs fixed by sign (see :func:`solve_pairs`)."""
    return solve_pairs(model.lp, model.pairs, time_limit_s, threads, exact=False)


def solve_pairs(lp: LinearProgram, pairs: np.ndarray, time_limit_s: float | None = 10.0, threads: int = 1,
                first: SolveResult | None = None, exact: bool = True) -> SolveResult:
    """Solve ``lp`` (or take its solve ``first``) so that at most one column of each pair is
    positive (see the module docstring). Where the LP optimum uses both, each such pair is fixed to
    the sign of its net (the other column to zero) and the LP re-solved, until no pair uses both:
    fast, a plan the rules accept, perhaps a little short of the best (what a bidder needs). With
    ``exact`` (what the oracle needs), that plan is kept only when it is within :data:`MIP_GAP` of
    the relaxation's bound; otherwise the pairs the relaxation used both of get binaries and the
    mixed-integer LP is solved to that gap. ``result.messages`` says what it took; ``result.z``
    keeps the LP's columns only."""
    relaxation = first if first is not None else solve(lp, time_limit_s, threads)
    result, fixed, upper = relaxation, np.zeros(0, dtype=int), lp.upper.copy()
    while result.status.ok and len(pairs):
        z = result.z
        both = np.flatnonzero(np.minimum(z[pairs[:, 0]], z[pairs[:, 1]]) > _PAIR_TOL)
        if not len(both):
            break
        fixed = np.union1d(fixed, both)
        upper[np.where(z[pairs[both, 0]] >= z[pairs[both, 1]], pairs[both, 1], pairs[both, 0])] = 0.0
        result = solve(replace(lp, upper=upper.copy()), time_limit_s, threads)
        result.messages.append(f"signs fixed on {len(fixed)} column pairs the relaxation used both of")
    if not (exact and len(fixed) and result.status.ok):
        return result
    bound = relaxation.objective
    if bound - result.objective <= MIP_GAP * max(abs(bound), 1.0):
        result.messages.append(f"within {MIP_GAP:g} of the relaxation's bound {bound:.6g}")
        return result
    used = np.flatnonzero(np.minimum(relaxation.z[pairs[:, 0]], relaxation.z[pairs[:, 1]]) > _PAIR_TOL)
    while True:
        result = solve(with_binaries(lp, pairs[used]), time_limit_s, threads, MIP_GAP)
        if not result.status.ok:
            return result
        result.z = result.z[: lp.A.shape[1]]
        both = np.flatnonzero(np.minimum(result.z[pairs[:, 0]], result.z[pairs[:, 1]]) > _PAIR_TOL)
        result.messages.append(f"binaries on {len(used)} column pairs")
        new = np.setdiff1d(both, used)
        if not len(new):  # pairs that have their binary stay within HiGHS's integrality tolerance
            return result
        used = np.union1d(used, new)


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
        np.full(n, ctx.expected_up_time),
    )
