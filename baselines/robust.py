"""Robust DA + greedy RT.

:class:`RobustDA` plans the DA schedule and awards on point forecasts so that the SoC stays within
bounds for every deployment path of a :class:`~baselines.day_lp.DeploymentBudget` set (nominal
trajectory without deployment; each block's worst case through its LP dual), under the market's
acceptance and availability rules. :class:`GreedyRT` follows the schedule, delivers the AS (the
simulator gives deployment priority), and trades around the schedule when the interval's RT price
beats the DA price by a margin, keeping the robust reserve: a bid curve, since the price of the
interval is not known when it bids (DESIGN 1.7).
"""

from __future__ import annotations

import numpy as np

from bessgym.actions import BidCurve
from bessgym.forecast import DAContext
from bessgym.market import DOWN_INDEX, HOURS, UP_MASK, DABid
from bessgym.observation import SOC, TIME_OF_DAY
from bessgym.policies import RTEpisode, interval_index

from baselines.day_lp import DayModel, DeploymentBudget, build_day_model, forecast_arrays, solve_accepted
from baselines.solver import SolveResult


class RobustDA:
    """DA bidder robust to ``gamma_h`` hours of full deployment per ``window_h``-hour block."""

    def __init__(self, gamma_h: float = 2.0, window_h: float = 4.0, time_limit_s: float = 10.0) -> None:
        self.budget = DeploymentBudget(gamma_h, window_h)
        self.time_limit_s = time_limit_s

    def model(self, ctx: DAContext) -> DayModel:
        """The day LP this bidder solves: the nominal (no deployment) plan, robust to the budget."""
        data = forecast_arrays(ctx)
        nominal = data._replace(fraction=np.zeros_like(data.fraction), up_time=np.zeros_like(data.up_time))
        return build_day_model(ctx.battery, ctx.market, nominal, follow_schedule=True, budget=self.budget)

    def solve(self, model: DayModel) -> SolveResult:
        """This bidder's solve of its LP: a plan the market's rules accept (pairs fixed by sign)."""
        return solve_accepted(model, self.time_limit_s)

    def bid(self, ctx: DAContext) -> DABid:
        model = self.model(ctx)
        return model.decision(self.solve(model))


class GreedyRT:
    """Follow the DA schedule; bid to discharge extra when the interval's RT price reaches
    DA + ``margin_usd_per_mwh`` and to charge extra below DA - margin, within the power left by
    the schedule and the awards, keeping a reserve of ``gamma_h`` hours of full deployment of this
    hour's awards. Acts with a three-step :class:`~bessgym.actions.BidCurve`."""

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

    def act(self, obs: np.ndarray) -> BidCurve:
        t = int(interval_index(obs[TIME_OF_DAY], self.n))
        e = float(obs[SOC]) * self.battery.energy_mwh
        x, b = float(self.position[t]), self.battery
        more = (e - self.floor[t]) * b.eta_discharge / self.dt - max(x, 0.0)
        less = (self.ceiling[t] - e) / (b.eta_charge * self.dt) - max(-x, 0.0)
        up, down = max(0.0, min(self.room_up[t], more)), max(0.0, min(self.room_down[t], less))
        da = float(self.da_price[t])
        return BidCurve(np.array([da - self.margin, da + self.margin]), np.array([x - down, x, x + up]))
