"""The aggregator's day-ahead plan for a portfolio of generalised storage (Qi et al. 2023, case 1):
DA energy and reserve for a battery, a thermostat fleet and an EV fleet, with their uncertain
bounds (``bessgym.ddu``) handled three ways:

* ``M1`` deterministic: the bounds' means;
* ``M2`` decision-independent chance constraints: each bound at its ``gamma`` level under the
  decision-independent uncertainty alone (no discomfort);
* ``M3`` decision-dependent chance constraints, the paper's Algorithm 1: solve at M2's bounds,
  then repeatedly re-estimate each bound's level by Monte Carlo at the plan's own response
  degree and solve again, until the bounds move less than ``delta`` (SoC, or MW per MW of the
  asset's power range) or ``max_iter`` solves. Each new level is taken a ``relaxation`` share
  of the way from the last (1: the paper's plain iteration). The map from levels to the next
  levels is decreasing (tighter levels, a gentler plan, less discomfort, looser levels), so
  plain iteration alternates and, for a fleet planned unit by unit, converges slowly (each
  move 0.7 of the one before on the perf case); steps of 0.6 (the default) settle in a few
  iterations at the same fixed point.

A bound's level is its Monte Carlo quantile (``bound="empirical"``: the k of Table II estimated
for the distribution at hand) or ``mu -/+ k sigma`` with the closed-form k of an assumed class
(``baselines.chance.k_factor``). The LP (HiGHS) is built here, row for row the quantities
``bessgym.portfolio.row_values`` checks; ``tests/test_aggregator.py`` replays its plans through
``bessgym.portfolio``. DA prices are taken as known, as in the paper: the uncertainty studied is
the fleets'.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import highspy
import numpy as np
import scipy.sparse as sp

from baselines.chance import k_factor
from baselines.solver import LinearProgram, SolveResult, new_highs, run, solve, to_highs_lp
from bessgym.ddu import BOUND_FIELDS, BaseDraws, Bounds, draw_bounds, level_bounds
from bessgym.ges import GES, is_number
from bessgym.portfolio import Asset, DayPrices, Schedule, response_degrees

Model = Literal["M1", "M2", "M3"]
CHUNK = 64
"""Assets whose draws are held at once (64 x 2,000 draws x 24 intervals x 5 bounds: 123 MB)."""
MODELS: tuple[str, ...] = ("M1", "M2", "M3")


@dataclass
class Plan:
    """A plan and how it was reached: ``schedule``; ``iterations`` solves; ``converged`` (M3:
    whether the bounds settled within ``max_iter``; M1 and M2: True); ``changes`` the largest
    bound move before each re-solve; ``solve_seconds`` in HiGHS, ``seconds`` in all;
    ``results`` the solver's reports."""

    schedule: Schedule
    iterations: int
    converged: bool
    changes: list[float]
    solve_seconds: float
    seconds: float
    results: list[SolveResult] = field(default_factory=list)


class AggregatorDA:
    """M1, M2 or M3 (see the module docstring) at risk level ``gamma`` with ``draws`` Monte Carlo
    draws (``seed``), ``bound`` "empirical" or a ``k_factor`` class (with ``dof`` for
    student_t), Algorithm 1's ``delta`` and ``max_iter``, HiGHS on ``threads``."""

    def __init__(self, model: Model = "M3", gamma: float = 0.05, draws: int = 2000, seed: int = 0,
                 bound: str = "empirical", dof: float | None = None, delta: float = 1e-3, max_iter: int = 10,
                 relaxation: float = 0.6, threads: int = 1, time_limit_s: float = 60.0) -> None:
        if model not in MODELS:
            raise ValueError(f"model = {model!r}; allowed: {', '.join(MODELS)}")
        if not (is_number(gamma) and 0 < gamma < 0.5):
            raise ValueError(f"gamma = {gamma!r}; allowed: in (0, 0.5)")
        if model == "M1" and bound != "empirical":
            raise ValueError(f"bound = {bound!r} with model M1; allowed: 'empirical' (M1 plans to the means; bound "
                             "applies to M2 and M3)")
        if bound != "empirical":
            k_factor(gamma, bound, dof)  # raises with the allowed names, or for a missing or stray dof
        for name, value, least in (("draws", draws, 100), ("max_iter", max_iter, 1), ("threads", threads, 1), ("seed", seed, 0)):
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < least:
                raise ValueError(f"{name} = {value!r}; allowed: >= {least} (an integer)")
        if not (is_number(delta) and delta > 0 and np.isfinite(delta)):
            raise ValueError(f"delta = {delta!r}, max_iter = {max_iter!r}; allowed: delta > 0, max_iter >= 1")
        if not (is_number(relaxation) and 0 < relaxation <= 1):
            raise ValueError(f"relaxation = {relaxation!r}; allowed: in (0, 1]")
        if not (is_number(time_limit_s) and time_limit_s > 0):
            raise ValueError(f"time_limit_s = {time_limit_s!r}; allowed: > 0 s")
        self.model, self.gamma, self.draws, self.seed = model, gamma, draws, seed
        self.bound, self.dof, self.delta, self.max_iter, self.relaxation = bound, dof, delta, max_iter, relaxation
        self.threads, self.time_limit_s = threads, time_limit_s

    def base_draws(self, n_intervals: int) -> BaseDraws:
        """The planner's draws, the same at every call (Algorithm 1 sees the same noise at every
        iterate) and shared by all assets: individual chance constraints need each asset's
        marginal distribution only, never the joint one."""
        return BaseDraws.draw(self.draws, n_intervals, np.random.default_rng(self.seed))

    def limits(self, assets: tuple[Asset, ...], rd: list[np.ndarray | None]) -> tuple[Bounds, ...]:
        """Each asset's bounds at the level this model plans to, its response degree ``rd[i]``
        (None: decision-independent), one row each. A certain asset's bounds are its own.
        Assets of one uncertainty and incentive are drawn together, ``CHUNK`` at a time."""
        out: list[Bounds | None] = [None if a.uncertainty is not None else _nominal(a.ges) for a in assets]
        base = self.base_draws(assets[0].ges.n_intervals)
        groups: dict[tuple, list[int]] = {}
        for i, a in enumerate(assets):
            if a.uncertainty is not None:
                groups.setdefault((a.uncertainty, a.incentive_usd_per_mwh, rd[i] is None), []).append(i)
        for (unc, incentive, independent), members in groups.items():
            for lo in range(0, len(members), CHUNK):
                chunk = members[lo:lo + CHUNK]
                level = level_bounds([assets[i].ges for i in chunk], unc, base, incentive,
                                     None if independent else np.array([rd[i] for i in chunk]), self._level)
                for j, i in enumerate(chunk):
                    out[i] = Bounds(*(getattr(level, name)[j] for name in BOUND_FIELDS))
        return tuple(out)

    def _level(self, draws: np.ndarray) -> np.ndarray:
        """The level (k, 1, n) this model plans an upper bound's draws (k, D, n) to."""
        if self.model == "M1":
            return draws.mean(-2, keepdims=True)
        if self.bound == "empirical":
            return np.quantile(draws, self.gamma, axis=-2, keepdims=True)
        return draws.mean(-2, keepdims=True) - k_factor(self.gamma, self.bound, self.dof) * draws.std(-2, keepdims=True)

    def plan(self, assets: tuple[Asset, ...], prices: DayPrices) -> Plan:
        """The day's plan for ``assets`` at ``prices``."""
        start = time.perf_counter()
        _check(assets, prices)
        limits = self.limits(assets, [None] * len(assets))
        highs = new_highs(self.time_limit_s, self.threads, "simplex")
        results = [self._solve(highs, build_lp(assets, prices, limits), first=True)]
        schedule = to_schedule(assets, results[-1].z, limits)
        changes: list[float] = []
        converged = self.model != "M3"
        while not converged and len(results) < self.max_iter:
            new = self.limits(assets, response_degrees(assets, schedule))
            changes.append(_largest_move(assets, limits, new))
            limits = tuple(Bounds(*(getattr(old, f) + self.relaxation * (getattr(fresh, f) - getattr(old, f)) for f in BOUND_FIELDS))
                           for old, fresh in zip(limits, new))
            results.append(self._solve(highs, build_lp(assets, prices, limits), first=False))
            schedule = to_schedule(assets, results[-1].z, limits)
            converged = changes[-1] < self.delta
        return Plan(schedule, len(results), converged, changes, sum(r.seconds for r in results),
                    time.perf_counter() - start, results)

    def _solve(self, highs: highspy.Highs, lp: LinearProgram, first: bool) -> SolveResult:
        """Solve ``lp`` on ``highs``: loaded whole the first time, then only its row bounds (the
        chance rows' levels) changed, so each iterate starts from the last basis; on failure,
        ``baselines.solver.solve`` afresh (simplex, then interior point)."""
        if first:
            highs.passModel(to_highs_lp(lp))
        else:
            rows = len(lp.row_lower)
            highs.changeRowsBounds(rows, np.arange(rows), lp.row_lower, lp.row_upper)
        result = run(highs, "highs-simplex", time_limit_s=self.time_limit_s)
        if not result.status.ok:
            result = solve(lp, self.time_limit_s, self.threads)
        if not result.status.ok:  # the zero plan is always feasible, so this is a solver failure
            raise RuntimeError(f"the aggregator's LP did not solve: {result.status.value} {result.messages}")
        return result


class Hindsight(AggregatorDA):
    """The plan that knows the world's draw ``world`` (one draw per uncertain asset, as
    ``bessgym.portfolio.realise`` takes it): each bound at its realised value at the plan's own
    response degree, iterated as Algorithm 1 to the fixed point (the realised bounds move with
    the plan), to ``delta`` = 1e-6 by default (a plan fitted to its own draw: looser, and the
    draw's reserve would come up short by the residual). A reference, not a bound: the bounds
    depend on the decision, so the hindsight problem is not convex and its fixed point need not
    be the best plan for the draw."""

    def __init__(self, world: dict[str, BaseDraws], delta: float = 1e-6, max_iter: int = 50, relaxation: float = 0.6,
                 threads: int = 1, time_limit_s: float = 60.0) -> None:
        super().__init__("M3", delta=delta, max_iter=max_iter, relaxation=relaxation, threads=threads, time_limit_s=time_limit_s)
        if any(d.n_draws != 1 for d in world.values()):
            raise ValueError(f"world must hold one draw per asset, got {[d.n_draws for d in world.values()]}")
        self.world = world

    def limits(self, assets: tuple[Asset, ...], rd: list[np.ndarray | None]) -> tuple[Bounds, ...]:
        missing = [a.name for a in assets if a.uncertainty is not None and a.name not in self.world]
        if missing:
            raise ValueError(f"world has no draw for assets {missing}")
        return tuple(_nominal(a.ges) if a.uncertainty is None else
                     draw_bounds(a.ges, a.uncertainty, self.world[a.name], a.incentive_usd_per_mwh, r)
                     for a, r in zip(assets, rd))


def _nominal(ges: GES) -> Bounds:
    return Bounds(ges.p_charge_max_mw[None], ges.p_discharge_max_mw[None], ges.soc_min[None], ges.soc_max[None],
                  ges.baseline_mw[None])


def _check(assets: tuple[Asset, ...], prices: DayPrices) -> None:
    names = [a.name for a in assets]
    if len(set(names)) != len(names):
        raise ValueError(f"asset names must be unique, got {names}")
    for a in assets:
        if a.ges.n_intervals != len(prices.da) or abs(a.ges.dt_h - prices.dt_h) > 1e-12:
            raise ValueError(f"asset {a.name!r} has {a.ges.n_intervals} intervals of {a.ges.dt_h} h; "
                             f"the prices have {len(prices.da)} of {prices.dt_h} h")


def _largest_move(assets: tuple[Asset, ...], old: tuple[Bounds, ...], new: tuple[Bounds, ...]) -> float:
    """The largest change between two sets of limits: SoC, or MW per MW of the asset's range."""
    move = 0.0
    for a, o, n in zip(assets, old, new):
        scale = max(float(a.ges.p_charge_max_mw.max()), float(a.ges.p_discharge_max_mw.max()), 1e-9)
        move = max(move, float(np.abs(o.p_charge_max_mw - n.p_charge_max_mw).max()) / scale,
                   float(np.abs(o.p_discharge_max_mw - n.p_discharge_max_mw).max()) / scale,
                   float(np.abs(o.soc_min - n.soc_min).max()), float(np.abs(o.soc_max - n.soc_max).max()))
    return move


# columns per asset: charge (n), discharge (n), reserve up (n), reserve down (n), SoC (n + 1)
_BLOCKS = 5


def _columns(n: int, i: int) -> tuple[np.ndarray, ...]:
    base = i * (5 * n + 1)
    return tuple(base + k * n + np.arange(n + (k == 4)) for k in range(_BLOCKS))


def build_lp(assets: tuple[Asset, ...], prices: DayPrices, limits: tuple[Bounds, ...]) -> LinearProgram:
    """The portfolio LP (maximise minus the DA cost) with each asset's chance-constrained rows
    held within ``limits`` (one row of bounds per asset)."""
    n, dt = len(prices.da), prices.dt_h
    width = len(assets) * (5 * n + 1)
    c, lower, upper = np.zeros(width), np.zeros(width), np.zeros(width)
    rows, cols, vals, lo, hi = [], [], [], [], []
    offset = 0.0
    r = 0

    def add(row_cols: list[np.ndarray], row_vals: list[np.ndarray], low: np.ndarray, high: np.ndarray) -> None:
        nonlocal r
        k = len(low)
        for cc, vv in zip(row_cols, row_vals):
            rows.append(r + np.arange(k))
            cols.append(cc)
            vals.append(np.broadcast_to(vv, (k,)))
        lo.append(low)
        hi.append(high)
        r += k

    for i, (a, lim) in enumerate(zip(assets, limits)):
        g = a.ges
        ch, dis, up, down, soc = _columns(n, i)
        cost = a.response_cost_usd_per_mwh
        c[ch] = (-prices.da - cost) * dt
        c[dis] = (prices.da - cost) * dt
        c[up], c[down] = prices.reserve_up * dt, prices.reserve_down * dt
        offset -= float((prices.da * g.baseline_mw).sum() * dt)
        upper[ch], upper[dis] = g.p_charge_max_mw, g.p_discharge_max_mw
        upper[up], upper[down] = g.p_discharge_max_mw + g.p_charge_max_mw, g.p_charge_max_mw + g.p_discharge_max_mw
        lower[soc], upper[soc] = g.soc_min, g.soc_max
        lower[soc[0]] = upper[soc[0]] = g.soc_initial
        lower[soc[-1]] = upper[soc[-1]] = g.soc_target
        per_charge = g.eta_charge * dt / g.energy_mwh
        per_discharge = dt / (g.eta_discharge * g.energy_mwh)
        # soc[t+1] - (1 - eps) soc[t] - per_charge c + per_discharge d = alpha
        add([soc[1:], soc[:-1], ch, dis], [np.ones(n), -(1 - g.leakage), -per_charge * np.ones(n), per_discharge * np.ones(n)],
            g.drift, g.drift)
        inf = np.full(n, np.inf)
        add([ch, dis, down], [1.0, -1.0, 1.0], -inf, lim.p_charge_max_mw[0])
        add([dis, ch, up], [1.0, -1.0, 1.0], -inf, lim.p_discharge_max_mw[0])
        add([soc[1:], up], [1.0, -per_discharge], lim.soc_min[0, 1:], inf)
        add([soc[1:], down], [1.0, per_charge], -inf, lim.soc_max[0, 1:])
    A = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(r, width))
    return LinearProgram(c, A, np.concatenate(lo), np.concatenate(hi), lower, upper, offset)


def to_schedule(assets: tuple[Asset, ...], z: np.ndarray, limits: tuple[Bounds, ...]) -> Schedule:
    """The schedule in an LP solution ``z``."""
    n = assets[0].ges.n_intervals
    blocks = [[z[cols] for cols in _columns(n, i)] for i in range(len(assets))]
    ch, dis, up, down, soc = (np.array([b[k] for b in blocks]) for k in range(_BLOCKS))
    return Schedule(_clean(ch), _clean(dis), _clean(up), _clean(down), soc, limits)


def _clean(x: np.ndarray) -> np.ndarray:
    """Solver dust (|x| < 1e-9 MW) to 0."""
    return np.where(np.abs(x) < 1e-9, 0.0, x)
