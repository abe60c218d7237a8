"""Decision-maker protocols and the simple, solver-free policies that ship with bessgym.

* :class:`DABidder`: ``bid(ctx: DAContext) -> DABid`` at gate closure.
* :class:`ThresholdBidder`: buys the cheapest forecast hours, sells the dearest where the spread
  pays for losses and wear, and offers the remaining headroom as regulation within the SoC
  duration rule.
* :func:`follow_da`: RT base points that follow the DA energy schedule.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from bessgym.forecast import DAContext
from bessgym.market import HOURS, N_PRODUCTS, PRODUCTS, DABid, planned_energy


class DABidder(Protocol):
    def bid(self, ctx: DAContext) -> DABid: ...


class ThresholdBidder:
    """Forecast-threshold DA bidder.

    Pairs the k-th cheapest with the k-th dearest forecast hour (cheapest first) while the
    round-trip spread ``p_sell * eta_c * eta_d - p_buy`` beats wear on both legs and the planned
    SoC stays within bounds; then offers ``as_share`` of the headroom left in each hour as
    regulation up and down, limited so the planned SoC sustains it for the product's duration,
    in the hours whose forecast AS price beats the wear of the expected deployment.
    """

    def __init__(self, as_share: float = 0.5) -> None:
        if not 0.0 <= as_share <= 1.0:
            raise ValueError(f"as_share must be within [0, 1], got {as_share}")
        self.as_share = as_share

    def bid(self, ctx: DAContext) -> DABid:
        battery, price = ctx.battery, ctx.da_price
        x = np.zeros(HOURS)
        order = np.argsort(price)
        wear = battery.degradation_usd_per_mwh * (1.0 + battery.eta_charge * battery.eta_discharge)
        for buy, sell in zip(order, order[::-1]):
            if buy == sell or price[sell] * battery.eta_charge * battery.eta_discharge - price[buy] <= wear:
                break
            trial = x.copy()
            trial[buy], trial[sell] = -battery.p_charge_mw, battery.p_discharge_mw * battery.eta_charge * battery.eta_discharge
            e = planned_energy(battery, trial)
            if e.min() >= battery.e_min_mwh - 1e-9 and e.max() <= battery.e_max_mwh + 1e-9:
                x = trial
        e = planned_energy(battery, x)
        e_low = np.minimum(e[:-1], e[1:])
        e_high = np.maximum(e[:-1], e[1:])
        durations = ctx.market.durations
        r = np.zeros((HOURS, N_PRODUCTS))
        up, down = PRODUCTS.index("reg_up"), PRODUCTS.index("reg_down")
        worth = ctx.as_price > battery.degradation_usd_per_mwh * ctx.expected_deployment
        if durations[up] > 0:
            sustain = (e_low - battery.e_min_mwh) * battery.eta_discharge / durations[up]
            r[:, up] = worth[:, up] * self.as_share * np.clip(np.minimum(battery.p_discharge_mw - x, sustain), 0.0, None)
        if durations[down] > 0:
            sustain = (battery.e_max_mwh - e_high) / (battery.eta_charge * durations[down])
            r[:, down] = worth[:, down] * self.as_share * np.clip(np.minimum(battery.p_charge_mw + x, sustain), 0.0, None)
        return DABid(x, r)


def follow_da(bid: DABid, n_intervals: int) -> np.ndarray:
    """Base points (MW) that deliver the DA energy schedule in every interval of its hour."""
    return np.repeat(bid.energy_mw, n_intervals // HOURS)
