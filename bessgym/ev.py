"""EV charging sessions as a fleet, and the fleet as a GES (Qi et al. 2023).

A session plugs in at ``arrival`` (the first interval it is plugged for), leaves at
``departure`` (the first interval it is gone) and needs ``energy_mwh``, at most ``p_max_mw`` at
a time; no V2G. Its baseline is uncontrolled charging: full power from arrival until the need is
met. As a GES the fleet's SoC is the share of the fleet's need delivered so far (``S`` = the
summed needs, ``SoC_0 = 0``, ``SoC_T = 1`` when every session ends in the window): power is
measured around the baseline, charging ``P_c <= (plugged p_max) - P_B`` and discharging (charging
less) ``P_d <= P_B``, the baseline's own energy entering as the drift ``P_B dt / S``; the SoC stays
between the fleet's latest-possible charging (every session as late as it can and still meet
its need) and its earliest (the baseline).

:func:`dispatch` is the ground truth: every session charged, the aggregate power split by least
laxity first (sessions that must charge now first, then by departure), the energy each session
gets conserved exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bessgym.ges import GES, is_number


@dataclass(frozen=True)
class EVFleet:
    """Sessions on a grid of ``n`` intervals of ``dt_h`` hours: ``arrival``, ``departure`` (int
    (m,) interval indices, arrival < departure <= n), ``energy_mwh`` (m,) needs and ``p_max_mw``
    (m,) charging powers."""

    arrival: np.ndarray
    departure: np.ndarray
    energy_mwh: np.ndarray
    p_max_mw: np.ndarray
    dt_h: float
    n: int

    def __post_init__(self) -> None:
        if isinstance(self.n, (bool, np.bool_)) or not isinstance(self.n, (int, np.integer)) or self.n < 1:
            raise ValueError(f"EVFleet.n = {self.n!r}; allowed: an integer >= 1 intervals")
        if not (is_number(self.dt_h) and self.dt_h > 0 and np.isfinite(self.dt_h)):
            raise ValueError(f"EVFleet.dt_h = {self.dt_h!r}; allowed: a positive number of hours")
        size = len(self.arrival) if np.ndim(self.arrival) == 1 else -1
        for name in ("arrival", "departure", "energy_mwh", "p_max_mw"):
            try:
                value = np.asarray(getattr(self, name), dtype=float)
            except (TypeError, ValueError):
                raise ValueError(f"EVFleet.{name} = {getattr(self, name)!r}; allowed: numbers") from None
            if value.ndim != 1 or len(value) != size:
                raise ValueError(f"EVFleet.{name} has shape {value.shape}; allowed: (m,), one per session as arrival "
                                 f"({max(size, 0)})")
            bad = ~np.isfinite(value) | ((value != np.round(value)) if name in ("arrival", "departure") else False)
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"EVFleet.{name} of session {i} = {float(value[i])!r}; allowed: "
                                 f"{'an integer interval index' if name in ('arrival', 'departure') else 'a finite number'}")
            object.__setattr__(self, name, value.astype(int) if name in ("arrival", "departure") else value)
        if size == 0:
            raise ValueError("EVFleet has no sessions; allowed: at least one")
        bad = ~((0 <= self.arrival) & (self.arrival < self.departure) & (self.departure <= self.n))
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"session {i} has arrival {self.arrival[i]}, departure {self.departure[i]}; every session "
                             f"needs 0 <= arrival < departure <= n intervals (n = {self.n})")
        bad = ~((self.energy_mwh > 0) & (self.p_max_mw > 0))
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"session {i} has energy_mwh {float(self.energy_mwh[i])!r}, p_max_mw "
                             f"{float(self.p_max_mw[i])!r}; every session needs energy_mwh > 0 and p_max_mw > 0")
        room = self.p_max_mw * (self.departure - self.arrival) * self.dt_h
        short = self.energy_mwh > room * (1 + 1e-12)
        if short.any():
            i = int(np.argmax(short))
            raise ValueError(f"{int(short.sum())} sessions need more than p_max over their stay, first session {i}: "
                             f"energy_mwh {float(self.energy_mwh[i])!r} > p_max_mw x stay {float(room[i])!r} MWh")

    @classmethod
    def from_sessions(cls, sessions: pd.DataFrame, start: pd.Timestamp, n: int, dt_h: float,
                      p_max_kw: float = 6.6) -> "EVFleet":
        """The sessions of ``sessions`` (``bessgym.ges_data.load_ev_sessions``) that arrive and
        leave within the ``n`` intervals from ``start`` (tz-aware), on that grid (arrival rounded
        up, departure down to interval boundaries); each needs what it was delivered, at most
        ``p_max_kw`` (kW) over its stay on the grid. Sessions shorter than one interval on the grid
        are left out."""
        step = pd.Timedelta(hours=dt_h)
        arrival = np.ceil((sessions["arrival"] - start) / step).to_numpy(float)
        departure = np.floor((sessions["departure"] - start) / step).to_numpy(float)
        inside = (arrival >= 0) & (departure <= n) & (departure > arrival)
        arrival, departure = arrival[inside].astype(int), departure[inside].astype(int)
        p_max = np.full(len(arrival), p_max_kw / 1e3)
        need = np.minimum(sessions["energy_kwh"].to_numpy(float)[inside] / 1e3, p_max * (departure - arrival) * dt_h)
        return cls(arrival, departure, need, p_max, dt_h, n)

    def plugged(self) -> np.ndarray:
        """(m, n) whether each session is plugged in each interval."""
        t = np.arange(self.n)
        return (t >= self.arrival[:, None]) & (t < self.departure[:, None])

    def earliest_mwh(self) -> np.ndarray:
        """(m, n + 1) each session's energy by each interval boundary charging at full power from
        arrival (the baseline): the most it can have."""
        k = np.arange(self.n + 1)
        return np.clip(self.p_max_mw[:, None] * (k - self.arrival[:, None]) * self.dt_h, 0.0, self.energy_mwh[:, None])

    def latest_mwh(self) -> np.ndarray:
        """(m, n + 1) the least energy each session must have by each boundary to meet its need at
        departure charging at full power after it."""
        k = np.arange(self.n + 1)
        late = self.energy_mwh[:, None] - self.p_max_mw[:, None] * (self.departure[:, None] - k) * self.dt_h
        return np.clip(late, 0.0, self.energy_mwh[:, None])

    def baseline_mw(self) -> np.ndarray:
        """(m, n) each session's uncontrolled charging: full power from arrival until met."""
        return np.diff(self.earliest_mwh(), axis=1) / self.dt_h

    def ges(self) -> GES:
        """The fleet as one GES (see the module docstring), in MW and MWh."""
        size = float(self.energy_mwh.sum())
        baseline = self.baseline_mw().sum(0)
        capacity = (self.p_max_mw[:, None] * self.plugged()).sum(0)
        earliest = self.earliest_mwh().sum(0) / size
        latest = self.latest_mwh().sum(0) / size  # equal to earliest where a session has no slack, up to rounding
        return GES(dt_h=self.dt_h, energy_mwh=size, p_charge_max_mw=np.clip(capacity - baseline, 0.0, None),
                   p_discharge_max_mw=baseline, soc_min=np.minimum(latest, earliest), soc_max=earliest, leakage=np.zeros(self.n), drift=baseline * self.dt_h / size,
                   baseline_mw=baseline, soc_initial=0.0, soc_target=float(earliest[-1]))


@dataclass(frozen=True)
class Dispatch:
    """What the sessions got: ``power_mw`` (m, n) each session's charging, ``delivered_mwh``
    (m,), ``unmet_mwh`` (m,) its need left at departure, ``unplaced_mw`` (n,) aggregate power the
    plugged sessions could not take (+) or were short of (-, to meet a need at departure)."""

    power_mw: np.ndarray
    delivered_mwh: np.ndarray
    unmet_mwh: np.ndarray
    unplaced_mw: np.ndarray


def dispatch(fleet: EVFleet, net_mw: np.ndarray) -> Dispatch:
    """Charge every session to follow the aggregate reference ``net_mw`` (n,) (MW around the
    fleet's baseline, + = charging less, the GES's sign): each interval the sessions that must
    charge now to meet their need get it first, then the rest goes by earliest departure, each
    session within its power and its need."""
    net = np.asarray(net_mw, dtype=float)
    if net.shape != (fleet.n,) or not np.isfinite(net).all():
        raise ValueError(f"net_mw must be {fleet.n} finite MW, got shape {net.shape}")
    target = fleet.baseline_mw().sum(0) - net
    dt, p_max = fleet.dt_h, fleet.p_max_mw
    left = fleet.energy_mwh.copy()
    power = np.zeros((len(left), fleet.n))
    unplaced = np.zeros(fleet.n)
    order = np.argsort(fleet.departure, kind="stable")
    for t in range(fleet.n):
        present = order[(fleet.arrival[order] <= t) & (fleet.departure[order] > t)]
        later = (fleet.departure[present] - t - 1) * p_max[present] * dt  # what the intervals after t can still take
        must = np.clip(left[present] - later, 0.0, None) / dt
        give = np.minimum(must, p_max[present])
        room = np.minimum(p_max[present], left[present] / dt) - give
        extra = np.clip(target[t] - give.sum(), 0.0, None)
        give += np.clip(extra - np.r_[0.0, np.cumsum(room)[:-1]], 0.0, room)  # by departure, each up to its room
        power[present, t] = give
        left[present] -= give * dt
        unplaced[t] = target[t] - give.sum()
    left = np.where(np.abs(left) < 1e-12, 0.0, left)
    return Dispatch(power, fleet.energy_mwh - left, left, unplaced)
