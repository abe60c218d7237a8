"""Deterministic MPC: :class:`baselines.reference.ForecastLP` in the DA market, and
:class:`MPCPolicy` in real time, re-solving the rest of the day every interval with the DA
position fixed.

The RT model is built once per day; each interval updates bounds (the measured SoC, the past
fixed at zero) and the current interval's costs (the observed RT price), and re-solves the same
HiGHS instance, which hot-starts from the previous basis.
"""

from __future__ import annotations

import time

import numpy as np

from bessgym.observation import PRICE_SCALE_USD_PER_MWH, RT_INDEX, SOC
from bessgym.policies import RTEpisode

from baselines.day_lp import DayModel, build_day_model, forecast_arrays, interval_costs
from baselines.solver import new_highs, run, to_highs_lp

TIME, RT_PRICE = RT_INDEX["time_of_day"], RT_INDEX["rt_price"]


class MPCPolicy:
    """RT policy: re-plan the rest of the day each interval (point forecasts, expected
    deployment, shortfall allowed at its penalty and no-pay), apply the first base point.

    ``decision_seconds`` records each decision's wall time; ``fallbacks`` counts decisions where
    the solver failed and the DA schedule was followed instead.
    """

    def __init__(self, time_limit_s: float = 1.0) -> None:
        self.time_limit_s = time_limit_s
        self.decision_seconds: list[float] = []
        self.fallbacks = 0

    def reset(self, episode: RTEpisode) -> None:
        data = forecast_arrays(episode.context, da_price=episode.da_price)
        self.model: DayModel = build_day_model(episode.battery, episode.market, data,
                                               fixed_bid=episode.accepted, allow_shortfall=True)
        self.highs = new_highs(self.time_limit_s, method="simplex")
        self.highs.passModel(to_highs_lp(self.model.lp))
        self.battery, self.market, self.dt_h = episode.battery, episode.market, episode.dt_h
        self.n = episode.n_intervals
        self.position = np.repeat(episode.accepted.energy_mw, self.n // 24)
        self.t_done = 0  # intervals already fixed in the model

    def act(self, obs: np.ndarray) -> float:
        start = time.perf_counter()
        t = min(int(round(float(obs[TIME]) * self.n)), self.n - 1)
        cols, h = self.model.cols, self.highs
        for past in range(self.t_done, t):  # the past: no flows, SoC free
            idx = np.array([cols[b][past] for b in ("bp", "bm", "uu", "ud")], dtype=np.int32)
            h.changeColsBounds(4, idx, np.zeros(4), np.zeros(4))
            h.changeColBounds(int(cols["e"][past]), -np.inf, np.inf)
        self.t_done = t
        if t > 0:
            e_now = float(obs[SOC]) * self.battery.energy_mwh
            h.changeColBounds(int(cols["e"][t - 1]), e_now, e_now)
        price = float(obs[RT_PRICE]) * PRICE_SCALE_USD_PER_MWH
        costs = interval_costs(self.battery, self.market, self.dt_h, price,
                               self.model.no_pay_up[t], self.model.no_pay_down[t])
        idx = np.array([cols[b][t] for b in ("bp", "bm", "uu", "ud")], dtype=np.int32)
        h.changeColsCost(4, idx, np.array(costs, dtype=float))
        result = run(h, "highs-simplex")
        if result.status.ok:
            base = float(result.z[cols["bp"][t]] - result.z[cols["bm"][t]])
        else:
            self.fallbacks += 1
            base = float(self.position[t])
        self.decision_seconds.append(time.perf_counter() - start)
        return base
