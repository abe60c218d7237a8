"""Perfect foresight: the privileged upper bound, never ranked.

One LP over the day with the realised prices and deployment (:mod:`baselines.day_lp`), under the
same market rules as everyone (acceptance, one power envelope, availability, the asymmetric
terminal value), solved exactly (:func:`baselines.day_lp.solve_exact`); its decisions are
evaluated, like everything else, by :func:`bessgym.sim.simulate_day`. ``energy_only`` gives the
energy-arbitrage oracle (no AS awards), a rung of the leaderboard's value ladder. Over a
contiguous period (:func:`solve_period`) the same LP carries the SoC across midnights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bessgym.battery import NUMPY_OPS, Battery, Flows
from bessgym.market import DABid, MarketProfile
from bessgym.scenarios import Scenario
from bessgym.settlement import Ledger, interval_lines, terminal_value
from bessgym.sim import DayResult, ScenarioArrays, simulate_day

from baselines.day_lp import SUB_PERIODS, build_day_model, solve_accepted, solve_exact
from baselines.multimarket import MARKETS, Markets
from baselines.solver import SolveResult, new_highs, run, to_highs_lp


@dataclass(frozen=True)
class OracleDay:
    """The oracle's decisions for one day and how its solve went (``fallback`` is True when the
    solver failed and the idle decision was used instead)."""

    bid: DABid
    base_mw: np.ndarray
    objective_usd: float
    result: SolveResult
    fallback: bool
    fmm_mw: np.ndarray | None = None


def without_as(market: MarketProfile) -> MarketProfile:
    """The market without its AS products."""
    return market.model_copy(update={"products": (), "name": f"{market.name}-energy-only"})


class PerfectForesight:
    """Privileged oracle (``privileged = True``): knows the day's prices and deployment;
    ``energy_only`` trades energy alone; ``markets`` the energy layers it trades: ``"da+rt"``
    (all), ``"da"`` (its base point and FMM position follow its DA schedule) or ``"rt"`` (no DA
    energy; AS awards stay DA products). ``exact=False`` takes the fast plan the rules accept
    (:func:`~baselines.day_lp.solve_accepted`: a lower bound where the LP would charge and
    discharge at once) instead of the exact optimum with binaries."""

    privileged = True

    def __init__(self, battery: Battery, market: MarketProfile, time_limit_s: float = 30.0, energy_only: bool = False,
                 markets: Markets = "da+rt", exact: bool = True) -> None:
        if markets not in MARKETS:
            raise ValueError(f"markets must be one of {list(MARKETS)}, got {markets!r}")
        self.battery, self.time_limit_s, self.rules, self.markets = battery, time_limit_s, market, markets
        self.solve_model = solve_exact if exact else solve_accepted
        self.market = without_as(market) if energy_only else market

    def solve(self, scenario: Scenario) -> OracleDay:
        model = build_day_model(self.battery, self.market, ScenarioArrays.of(scenario), follow_schedule=self.markets == "da",
                                da_energy=self.markets != "rt")
        result = self.solve_model(model, self.time_limit_s)
        if not result.status.ok:
            return OracleDay(DABid.idle(), np.zeros(scenario.n_intervals), float("nan"), result, True)
        return OracleDay(model.bid(result.z), model.base_mw(result.z), result.objective, result, False, model.fmm_mw(result.z))

    def replay(self, scenario: Scenario) -> DayResult:
        """The day solved, its decisions played through the simulator under the market's rules:
        what the oracle earns, by the one settlement. RuntimeError, with the solver's messages,
        when the LP failed (no fallback is ever scored as the oracle's profit)."""
        day = self.solve(scenario)
        if day.fallback:
            raise RuntimeError(f"the oracle's LP failed: {day.result.messages}")
        return simulate_day(self.battery, self.rules, scenario, day.bid, day.base_mw, day.fmm_mw)


@dataclass(frozen=True)
class OraclePeriod:
    """The oracle over contiguous days: decisions per hour and interval, the SoC carried across
    midnights, the ledger lines per day ($, from :mod:`bessgym.settlement`; the terminal value
    applies once, at the end of the period) and the solve."""

    ids: list[str]
    energy_mw: np.ndarray
    as_mw: np.ndarray
    base_mw: np.ndarray
    e_mwh: np.ndarray
    ledger: Ledger
    objective_usd: float
    result: SolveResult


def stack_days(days: list[Scenario]) -> ScenarioArrays:
    """Contiguous days as one long period (hourly and interval arrays concatenated)."""
    gaps = [f"{a.date} -> {b.date}" for a, b in zip(days, days[1:]) if (b.date - a.date).days != 1]
    if gaps:
        raise ValueError(f"a period must be contiguous days; gaps after: {gaps[:5]}{' ...' if len(gaps) > 5 else ''}")
    return ScenarioArrays.join([ScenarioArrays.of(d) for d in days], np.concatenate)


def solve_period(
    battery: Battery, market: MarketProfile, days: list[Scenario], threads: int = 2, method: str = "simplex",
    time_limit_s: float = 600.0,
) -> OraclePeriod:
    """Perfect foresight over contiguous days in one LP (the classic year-long multi-market
    valuation study: energy and four AS products at the data's resolution).

    The LP relaxation, without :func:`~baselines.day_lp.solve_exact`'s binaries: where charging and
    discharging at once would pay, the period's figure is an upper bound. The ledger is evaluated
    by :mod:`bessgym.settlement` on the LP's own flows. Dual simplex solves the year's LP fastest
    here (its block-diagonal-plus-chain structure suits it); ``method="ipm"`` gives a reference
    solve.
    """
    data = stack_days(days)
    model = build_day_model(battery, market, data)
    h = new_highs(time_limit_s, threads=threads, method=method)
    h.passModel(to_highs_lp(model.lp))
    result = run(h, f"highs-{method}")
    if not result.status.ok:
        raise RuntimeError(f"the period's LP ended {result.status.value}: {result.messages}")
    z = result.z
    n_days, per_day = len(days), len(days[0].rt_price)
    energy = z[model.cols["x"]].reshape(n_days, 24)
    awards = z[model.cols["r"]].reshape(n_days, 24, 4)
    base = z[model.cols["b"]].reshape(n_days, per_day)
    e = z[model.cols["e"]]
    start = np.concatenate([[battery.e_initial_mwh], e[:-1]]).reshape(n_days, per_day)
    virtual = z[model.cols["v"]].reshape(n_days, 24) if "v" in model.cols else None
    terms = ScenarioArrays.stack(days).terms(battery, market, energy, awards, virtual)
    fmm = None
    if "f" in model.cols:
        fmm = np.repeat(z[model.cols["f"]], len(base.ravel()) // len(model.cols["f"])).reshape(n_days, per_day)
    weight = {"up": terms.step.w_up, "dn": 1.0 - terms.step.w_up}
    leg = {name: z[model.cols[name]].reshape(n_days, per_day) for s in SUB_PERIODS for name in (f"dis_{s}", f"ch_{s}")}
    discharge = sum(weight[s] * leg[f"dis_{s}"] for s in SUB_PERIODS)
    charge = sum(weight[s] * leg[f"ch_{s}"] for s in SUB_PERIODS)
    flows = Flows(e.reshape(n_days, per_day), charge, discharge, np.ones_like(base), np.ones_like(base), base)
    terminal = np.zeros_like(base)
    terminal[-1, -1] = terminal_value(battery, e[-1], float(data.da_price.mean()))
    ledger = interval_lines(battery, data.dt_h, terms.step, start, base, flows, terminal, NUMPY_OPS, fmm)[0].sum(axis=1)
    return OraclePeriod([d.id for d in days], energy, awards, base.ravel(), e, ledger, result.objective, result)
