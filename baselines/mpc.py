"""Deterministic MPC: :class:`MPCPolicy` re-plans the rest of the day every RT interval from the
measured state, with the DA position fixed.

The RT model (:func:`baselines.day_lp.build_day_model` with the accepted bid fixed, shortfall and
unavailability priced, the gate-closure point forecasts and the expected deployment) is built
once per day. Each interval sets the past aside (its columns fixed at zero, its rows relaxed, its
SoC free), fixes the SoC at the interval's start to the measured one, and re-solves the same
HiGHS instance, which hot-starts from the previous basis. The interval's own price is not known
when it decides (DESIGN 1.7): its cost is the forecast's. A re-plan that fails falls back to the
DA schedule and is counted (``fallbacks``, per day; evaluation reports it).
"""

from __future__ import annotations

import time

import numpy as np

from bessgym.observation import SOC, TIME_OF_DAY
from bessgym.policies import RTEpisode, interval_index

from baselines.day_lp import DayModel, build_day_model, forecast_arrays
from baselines.solver import new_highs, run, to_highs_lp

class MPCPolicy:
    """RT policy: re-plan the rest of the day each interval from the measured SoC (point
    forecasts, expected deployment, shortfall and unavailability at their cost), apply the
    first base point.

    ``decision_seconds`` records each decision's wall time; ``fallbacks`` counts the day's
    decisions where the solver failed and the DA schedule was followed instead.
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
        self.battery = episode.battery
        self.n = episode.n_intervals
        self.position = np.repeat(episode.accepted.energy_mw, self.n // 24)
        self.t_done = 0  # intervals already set aside
        self.fallbacks = 0

    def act(self, obs: np.ndarray) -> float:
        start = time.perf_counter()
        t = int(interval_index(obs[TIME_OF_DAY], self.n))
        cols, h = self.model.cols, self.highs
        for past in range(self.t_done, t):  # the past: no flows, its rows set aside, SoC free
            idx = self.model.interval_cols(past)
            h.changeColsBounds(len(idx), idx, np.zeros(len(idx)), np.zeros(len(idx)))
            h.changeColBounds(int(cols["e"][past]), -np.inf, np.inf)
            for row in self.model.interval_rows(past):
                h.changeRowBounds(int(row), -np.inf, np.inf)
        self.t_done = t
        if t > 0:
            b = self.battery
            e_now = min(max(float(obs[SOC]) * b.energy_mwh, b.e_min_mwh), b.e_max_mwh)
            h.changeColBounds(int(cols["e"][t - 1]), e_now, e_now)
        result = run(h, "highs-simplex")
        if result.status.ok:
            base = float(result.z[cols["b"][t]])
        else:
            self.fallbacks += 1
            base = float(self.position[t])
        self.decision_seconds.append(time.perf_counter() - start)
        return base
