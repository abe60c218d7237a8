"""Worked example: a leaderboard entry of your own, a DA bidder and an RT policy in one module.

    bessgym-leaderboard --entry mine=benchmarks.examples.my_entry:QuantileBidder,benchmarks.examples.my_entry:IntradayRT

A copy of this file next to where you run the command works the same way
(``--entry mine=my_entry:QuantileBidder,my_entry:IntradayRT``): the current folder is on the
import path. Arguments go in the spec string: ``my_entry:QuantileBidder?reserve_share=0.5``.

* :class:`QuantileBidder` (a :class:`bessgym.policies.DABidder`): charges in the hours whose
  forecast DA price is in the day's cheapest quantile and discharges in the dearest, walking the
  day in order so the planned SoC stays within its limits, when the spread pays for the round
  trip's losses and wear; offers a share of the power left in each hour as regulation up and
  down where the forecast AS price beats the wear of the expected deployment.
* :class:`IntradayRT` (a :class:`bessgym.policies.RTPolicy`): follows the DA schedule, and
  deviates from it by the power the schedule and the awards leave free when its estimate of the
  interval's RT price (the last RT price and the gate-closure forecast of the next hour, blended)
  is ``margin`` $/MWh above (discharge more) or below (charge more) the gate-closure forecast of
  the rest of the day's mean RT price, what the energy is expected to fetch later; it keeps the
  SoC the awards may need.

The defaults were picked on every third validation day (``--split val``), never on the test days.
"""

from __future__ import annotations

import numpy as np

from bessgym.forecast import DAContext
from bessgym.market import DOWN_INDEX, HOURS, UP_MASK, DABid, planned_energy
from bessgym.observation import PRICE_SCALE_USD_PER_MWH, RT_INDEX, SOC
from bessgym.policies import RTEpisode, checked, interval_index, regulation_offer


class QuantileBidder:
    """Price-quantile energy bids plus a regulation reserve (see the module docstring).

    ``quantile``: the share of the day's hours counted as cheap (and as dear), in (0, 0.5];
    ``reserve_share``: the share of the power left by the energy schedule offered as regulation
    up and as regulation down, in [0, 1].
    """

    def __init__(self, quantile: float = 0.25, reserve_share: float = 0.5) -> None:
        self.quantile = checked("quantile", quantile, above=0.0)
        if self.quantile > 0.5:
            raise ValueError(f"quantile must be in (0, 0.5], got {quantile!r}")
        self.reserve_share = checked("reserve_share", reserve_share, at_least=0.0)
        if self.reserve_share > 1.0:
            raise ValueError(f"reserve_share must be in [0, 1], got {reserve_share!r}")

    def bid(self, ctx: DAContext) -> DABid:
        b, price = ctx.battery, ctx.da_price
        cheap, dear = np.quantile(price, self.quantile), np.quantile(price, 1.0 - self.quantile)
        round_trip = b.eta_charge * b.eta_discharge
        x = np.zeros(HOURS)  # MW, + = sell
        if dear * round_trip - cheap > b.degradation_usd_per_mwh * (1.0 + round_trip):
            e = b.soc_initial_frac * b.energy_mwh
            for h in range(HOURS):  # in time order: a charge can only be sold later
                if price[h] <= cheap:
                    x[h] = -min(b.p_charge_mw, (b.e_max_mwh - e) / b.eta_charge)
                elif price[h] >= dear:
                    x[h] = min(b.p_discharge_mw, (e - b.e_min_mwh) * b.eta_discharge)
                e = planned_energy(b, x)[h + 1]
        return DABid(x, regulation_offer(ctx, x, self.reserve_share))


class IntradayRT:
    """Follow the schedule; trade the RT price now against the rest of the day's expected price
    when they part (see the module docstring).

    ``margin``: $/MWh the estimated RT price must exceed (fall below) the forecast mean RT price
    of the rest of the day by;
    ``weight``: the last RT price's weight in the estimate, the gate-closure forecast of the next
    hour taking the rest, in [0, 1]; ``reserve_h``: hours of full deployment of this hour's
    awards whose energy the SoC keeps.
    """

    def __init__(self, margin: float = 30.0, weight: float = 0.75, reserve_h: float = 1.0) -> None:
        self.margin = checked("margin", margin, at_least=0.0)
        self.weight = checked("weight", weight, at_least=0.0)
        if self.weight > 1.0:
            raise ValueError(f"weight must be in [0, 1], got {weight!r}")
        self.reserve_h = checked("reserve_h", reserve_h, at_least=0.0)

    def reset(self, episode: RTEpisode) -> None:
        b, k = episode.battery, episode.n_intervals // HOURS
        self.battery, self.n, self.dt_h = b, episode.n_intervals, episode.dt_h
        self.position = np.repeat(episode.accepted.energy_mw, k)  # MW per interval, + = sell
        up = np.repeat(episode.accepted.as_mw[:, UP_MASK].sum(axis=1), k)
        down = np.repeat(episode.accepted.as_mw[:, DOWN_INDEX], k)
        self.room_up = np.maximum(b.p_discharge_mw - self.position - up, 0.0)  # MW the schedule and awards leave
        self.room_down = np.maximum(b.p_charge_mw + self.position - down, 0.0)
        self.floor = b.e_min_mwh + self.reserve_h * up / b.eta_discharge  # MWh kept for up deployment
        self.ceiling = b.e_max_mwh - self.reserve_h * down * b.eta_charge  # room kept for down deployment

    def act(self, obs: np.ndarray) -> float:
        t = int(interval_index(obs[RT_INDEX["time_of_day"]], self.n))
        b, x = self.battery, float(self.position[t])
        scaled = self.weight * obs[RT_INDEX["rt_price_prev"]] + (1.0 - self.weight) * obs[RT_INDEX["forecast_next_hour"]]
        estimate = PRICE_SCALE_USD_PER_MWH * float(scaled)
        later = PRICE_SCALE_USD_PER_MWH * float(obs[RT_INDEX["forecast_rest_mean"]])
        e = float(obs[SOC]) * b.energy_mwh
        if estimate > later + self.margin:  # sell more: down to the floor over this interval
            extra = min(self.room_up[t], max((e - self.floor[t]) * b.eta_discharge / self.dt_h - max(x, 0.0), 0.0))
            return x + extra
        if estimate < later - self.margin:  # buy more: up to the ceiling over this interval
            extra = min(self.room_down[t], max((self.ceiling[t] - e) / (b.eta_charge * self.dt_h) - max(-x, 0.0), 0.0))
            return x - extra
        return x
