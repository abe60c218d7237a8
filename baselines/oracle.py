"""Perfect foresight: the privileged upper bound, never ranked.

One LP over the day with the realised prices and deployment (:mod:`baselines.day_lp`); its
decisions are evaluated, like everything else, by :func:`bessgym.sim.simulate_day`. Over a
contiguous period (:func:`solve_period`) the same LP carries the SoC across midnights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bessgym.battery import Battery
from bessgym.market import DABid, MarketProfile
from bessgym.scenarios import Scenario
from bessgym.settlement import Ledger, day_terms, interval_lines, terminal_value
from bessgym.sim import ScenarioArrays

from baselines.day_lp import build_day_model
from baselines.solver import SolveResult, new_highs, run, solve, to_highs_lp


@dataclass(frozen=True)
class OracleDay:
    """The oracle's decisions for one day and how its solve went (``fallback`` is True when the
    solver failed and the idle decision was used instead)."""

    bid: DABid
    base_mw: np.ndarray
    objective_usd: float
    result: SolveResult
    fallback: bool


class PerfectForesight:
    """Privileged oracle (``privileged = True``): knows the day's prices and deployment."""

    privileged = True

    def __init__(self, battery: Battery, market: MarketProfile, time_limit_s: float = 10.0) -> None:
        self.battery, self.market, self.time_limit_s = battery, market, time_limit_s

    def solve(self, scenario: Scenario) -> OracleDay:
        data = ScenarioArrays(scenario.dt_h, scenario.da_price, scenario.rt_price, scenario.as_price,
                              scenario.mileage_price, scenario.deployment.fraction, scenario.deployment.mileage)
        model = build_day_model(self.battery, self.market, data)
        result = solve(model.lp, self.time_limit_s)
        if not result.status.ok:
            return OracleDay(DABid.idle(), np.zeros(scenario.n_intervals), float("nan"), result, True)
        return OracleDay(model.bid(result.z), model.base_mw(result.z), result.objective, result, False)


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
    steps = {d.dt_h for d in days}
    if len(steps) != 1:
        raise ValueError(f"a period needs one interval length, got {sorted(steps)} h")
    return ScenarioArrays(
        days[0].dt_h,
        *(np.concatenate([getattr(d, name) for d in days]) for name in ("da_price", "rt_price", "as_price", "mileage_price")),
        np.concatenate([d.deployment.fraction for d in days]),
        np.concatenate([d.deployment.mileage for d in days]),
    )


def solve_period(
    battery: Battery, market: MarketProfile, days: list[Scenario], threads: int = 2, method: str = "simplex",
    time_limit_s: float = 600.0,
) -> OraclePeriod:
    """Perfect foresight over contiguous days in one LP (the classic year-long multi-market
    valuation study: energy and four AS products at the data's resolution).

    Dual simplex solves the year's LP fastest here (its block-diagonal-plus-chain structure
    suits it); ``method="ipm"`` gives a reference solve.
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
    bp, bm = z[model.cols["bp"]].reshape(n_days, per_day), z[model.cols["bm"]].reshape(n_days, per_day)
    daily = ScenarioArrays.stack(days)
    terms = day_terms(data.dt_h, daily.da_price, daily.rt_price, daily.as_price, daily.mileage_price,
                      daily.fraction, daily.mileage, energy, awards, market)
    discharge, charge = bp + terms.up_req_mw, bm + terms.down_req_mw
    zero = np.zeros_like(discharge)
    rt_imbalance, no_pay, penalty, degradation = interval_lines(
        battery, data.dt_h, terms.position_mw, terms.rt_price, terms.penalty_price, charge, discharge,
        zero, zero, terms.cap_up_usd, terms.cap_down_usd, terms.inv_up_req, terms.inv_down_req)
    e = z[model.cols["e"]]
    terminal = np.zeros(n_days)
    terminal[-1] = terminal_value(battery, e[-1], float(data.da_price.mean()))
    ledger = Ledger(terms.da_energy.sum(1), rt_imbalance.sum(1), terms.as_capacity.sum(1), terms.mileage.sum(1),
                    no_pay.sum(1), penalty.sum(1), degradation.sum(1), terminal)
    return OraclePeriod([d.id for d in days], energy, awards, (bp - bm).ravel(), e, ledger, result.objective, result)
