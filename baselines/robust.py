"""Robust DA + greedy RT.

:class:`RobustDA` plans the DA schedule and awards on point forecasts so that the SoC stays within
bounds for every deployment path of a :class:`~baselines.day_lp.DeploymentBudget` set (nominal
trajectory without deployment; each block's worst case through its LP dual). :class:`GreedyRT`
follows the schedule, delivers the AS (the simulator gives deployment priority), and trades
around the schedule when the RT price beats the DA price by a margin, keeping the robust reserve.
"""

from __future__ import annotations

import numpy as np

from bessgym.forecast import DAContext
from bessgym.market import DOWN_INDEX, HOURS, UP_MASK, DABid
from bessgym.observation import PRICE_SCALE_USD_PER_MWH, RT_INDEX, SOC
from bessgym.policies import RTEpisode

from baselines.day_lp import DeploymentBudget, build_day_model, forecast_arrays
from baselines.solver import solve

TIME, RT_PRICE = RT_INDEX["time_of_day"], RT_INDEX["rt_price"]


class RobustDA:
    """DA bidder robust to ``gamma_h`` hours of full deployment per ``window_h``-hour block."""

    def __init__(self, gamma_h: float = 2.0, window_h: float = 4.0, time_limit_s: float = 10.0) -> None:
        self.budget = DeploymentBudget(gamma_h, window_h)
        self.time_limit_s = time_limit_s

    def bid(self, ctx: DAContext) -> DABid:
        data = forecast_arrays(ctx)
        nominal = data._replace(fraction=np.zeros_like(data.fraction))
        model = build_day_model(ctx.battery, ctx.market, nominal, follow_schedule=True, budget=self.budget)
        return model.decision(solve(model.lp, self.time_limit_s))


class GreedyRT:
    """Follow the DA schedule; discharge extra when RT > DA + ``margin_usd_per_mwh``, charge extra
    when RT < DA - margin, within the power left by the schedule and the awards, and keeping a
    reserve of ``gamma_h`` hours of full deployment of this hour's awards."""

    def __init__(self, margin_usd_per_mwh: float = 20.0, gamma_h: float = 2.0) -> None:
        self.margin = margin_usd_per_mwh
        self.gamma_h = gamma_h

    def reset(self, episode: RTEpisode) -> None:
        b, r = episode.battery, episode.accepted.as_mw
        k = episode.n_intervals // HOURS
        self.n, self.dt, self.battery = episode.n_intervals, episode.dt_h, b
        self.position = np.repeat(episode.accepted.energy_mw, k)
        self.da_price = np.repeat(episode.da_price, k)
        up = np.repeat(r[:, UP_MASK].sum(1), k)
        down = np.repeat(r[:, DOWN_INDEX], k)
        self.room_up = b.p_discharge_mw - self.position - up
        self.room_down = b.p_charge_mw + self.position - down
        self.floor = b.e_min_mwh + self.gamma_h * up / b.eta_discharge
        self.ceiling = b.e_max_mwh - self.gamma_h * down * b.eta_charge

    def act(self, obs: np.ndarray) -> float:
        t = min(int(round(float(obs[TIME]) * self.n)), self.n - 1)
        price = float(obs[RT_PRICE]) * PRICE_SCALE_USD_PER_MWH
        e = float(obs[SOC]) * self.battery.energy_mwh
        x, b = float(self.position[t]), self.battery
        if price > self.da_price[t] + self.margin:
            energy_room = (e - self.floor[t]) * b.eta_discharge / self.dt - max(x, 0.0)
            return x + max(0.0, min(self.room_up[t], energy_room))
        if price < self.da_price[t] - self.margin:
            energy_room = (self.ceiling[t] - e) / (b.eta_charge * self.dt) - max(-x, 0.0)
            return x - max(0.0, min(self.room_down[t], energy_room))
        return x
