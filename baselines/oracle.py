"""Perfect foresight: the privileged upper bound, never ranked.

One LP over the day with the realised prices and deployment (:mod:`baselines.day_lp`); its
decisions are evaluated, like everything else, by :func:`bessgym.sim.simulate_day`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bessgym.battery import Battery
from bessgym.market import DABid, MarketProfile
from bessgym.scenarios import Scenario
from bessgym.sim import ScenarioArrays

from baselines.day_lp import build_day_model
from baselines.solver import SolveResult, solve


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
