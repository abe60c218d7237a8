"""A neighbourhood's homes and their devices, stepped an hour at a time, vectorised over homes.

Each home has a measured base load and PV (``bessgym.community.data``), a battery (bessgym's
battery physics, ``bessgym.battery.interval_flows``), an air conditioner (one Callaway unit,
``bessgym.tcl.TCLFleet``: cooling only) and an EV charged at home (sessions drawn from ev2gym's
private-charging statistics, ``bessgym.ges_data.load_ev_specs``). Energies are kWh per hour,
powers kW; a home's ``net_import_kwh`` is + when it draws from outside (the auction or the
utility), - when it has energy to sell.

Choices the data do not fix (documented, exposed as arguments): the thermostat's setpoint 24
degC with a 1 degC band (Callaway's units, sized for a 40 degC day in Fontana), an EV at home on
``ev_days_per_week`` 3.5 days a week with ev2gym's mean energy and stay for its arrival time, a
7.2 kW charger. The measured load may already hold the home's own air conditioning: the modelled
unit is added on top (it is the flexible part; the overlap is not removed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bessgym.battery import NUMPY_OPS, Battery, base_alone, interval_flows
from bessgym.ges_data import EVFleetStats, load_ev_specs
from bessgym.tcl import TCLFleet

HOURS_PER_DAY = 24
EV_CHARGER_KW = 7.2
SETPOINT_C = 24.0
DEADBAND_C = 1.0
DESIGN_OUTDOOR_C = 40.0


@dataclass(frozen=True)
class EVSessions:
    """Each home's EV sessions at home: ``arrival`` and ``departure`` (H, D) hour indices of the
    year (plugged for ``arrival <= t < departure``; -1 where the EV does not come home that day),
    ``energy_kwh`` (H, D) its need, ``charger_kw`` the home charger's power."""

    arrival: np.ndarray
    departure: np.ndarray
    energy_kwh: np.ndarray
    charger_kw: float

    @classmethod
    def draw(cls, n_homes: int, weekend: np.ndarray, rng: np.random.Generator, days_per_week: float = 3.5,
             charger_kw: float = EV_CHARGER_KW, stats: EVFleetStats | None = None) -> "EVSessions":
        """Sessions for ``n_homes`` over the days of ``weekend`` (D,) (True on Saturdays and
        Sundays): on each day a home's EV comes home with probability ``days_per_week / 7``, at a
        15-minute slot drawn from ev2gym's private-charging arrival shares (weekday or weekend),
        staying ev2gym's mean hours for that arrival and needing its mean energy (kWh), capped at
        what the charger delivers in the stay; a stay ends by the next arrival's day end."""
        if not 0 < days_per_week <= 7:
            raise ValueError(f"days_per_week = {days_per_week!r}; allowed: in (0, 7]")
        if not (charger_kw > 0 and np.isfinite(charger_kw)):
            raise ValueError(f"charger_kw = {charger_kw!r}; allowed: > 0 kW")
        stats = load_ev_specs() if stats is None else stats
        weekend = np.asarray(weekend, dtype=bool)
        days = len(weekend)
        shares = {kind: stats.arrival_share_pct[f"{kind}_private"].to_numpy() / 100.0 for kind in ("weekday", "weekend")}
        hours = stats.by_arrival["mean_session_hours_home"].to_numpy()
        energy = stats.by_arrival["mean_energy_kwh_home"].to_numpy()
        arrival = np.full((n_homes, days), -1)
        departure = np.full((n_homes, days), -1)
        need = np.zeros((n_homes, days))
        home = rng.uniform(size=(n_homes, days)) < days_per_week / 7
        for d in range(days):
            p = shares["weekend" if weekend[d] else "weekday"]
            slot = rng.choice(len(p), size=n_homes, p=p / p.sum())  # 15-minute slot of arrival
            half = slot // 2
            stay = np.nan_to_num(hours[half], nan=float(np.nanmean(hours)))
            start = d * HOURS_PER_DAY + slot // 4 + 1  # plugged from the next whole hour
            end = np.minimum(start + np.maximum(np.round(stay), 1).astype(int), days * HOURS_PER_DAY)
            end = np.minimum(end, (d + 2) * HOURS_PER_DAY - 1)  # gone before the day after next begins
            kwh = np.minimum(np.nan_to_num(energy[half], nan=float(np.nanmean(energy))), charger_kw * (end - start))
            ok = home[:, d] & (end > start)
            arrival[ok, d], departure[ok, d], need[ok, d] = start[ok], end[ok], kwh[ok]
        # a session may not overlap the next: cut a stay at the next arrival
        for d in range(days - 1):
            nxt = arrival[:, d + 1]
            clash = (nxt >= 0) & (departure[:, d] > nxt)
            departure[clash, d] = nxt[clash]
            need[clash, d] = np.minimum(need[clash, d], charger_kw * (departure[clash, d] - arrival[clash, d]))
        gone = departure <= arrival
        arrival[gone], departure[gone], need[gone] = -1, -1, 0.0
        return cls(arrival, departure, need, float(charger_kw))


@dataclass(frozen=True)
class HomeDevices:
    """The homes' controllable devices: one ``battery`` model for every home (MW, MWh: bessgym's
    ``Battery``; the shipped homes all have 5 kW / 6.4 kWh), their air conditioners ``ac`` (one
    unit per home) with ``setpoint_c`` and their EVs ``ev``."""

    battery: Battery
    ac: TCLFleet
    ev: EVSessions
    setpoint_c: float = SETPOINT_C

    @classmethod
    def build(cls, n_homes: int, weekend: np.ndarray, rng: np.random.Generator, battery_kw: float = 5.0,
              battery_kwh: float = 6.4, round_trip: float = 0.9, ev_days_per_week: float = 3.5) -> "HomeDevices":
        """Devices for ``n_homes`` (``rng`` draws the air conditioners and EV sessions)."""
        eta = float(np.sqrt(round_trip))
        battery = Battery(p_charge_mw=battery_kw / 1e3, p_discharge_mw=battery_kw / 1e3, energy_mwh=battery_kwh / 1e3,
                          soc_min_frac=0.0, soc_max_frac=1.0, eta_charge=eta, eta_discharge=eta,
                          degradation_usd_per_mwh=0.0, soc_initial_frac=0.5, soc_target_frac=0.5)
        ac = TCLFleet.callaway(n_homes, rng, setpoint_c=SETPOINT_C, deadband_c=DEADBAND_C, design_outdoor_c=DESIGN_OUTDOOR_C)
        return cls(battery, ac, EVSessions.draw(n_homes, weekend, rng, ev_days_per_week))

    @property
    def n_homes(self) -> int:
        return self.ac.n


@dataclass
class HomeState:
    """What carries from one hour to the next (H,): the battery's energy (MWh), the indoor
    temperature (degC) and the EV energy still needed in the current session (kWh)."""

    battery_mwh: np.ndarray
    indoor_c: np.ndarray
    ev_left_kwh: np.ndarray

    @classmethod
    def start(cls, devices: HomeDevices) -> "HomeState":
        n = devices.n_homes
        return cls(np.full(n, devices.battery.e_initial_mwh), np.full(n, devices.setpoint_c), np.zeros(n))


@dataclass(frozen=True)
class HourFlows:
    """One hour of every home (H,): ``ac_kwh``, ``ev_kwh``, ``battery_charge_kwh``,
    ``battery_discharge_kwh``, ``net_import_kwh`` (+ drawn from outside), ``discomfort_c``
    (degC above the setpoint's band at the hour's end) and ``ev_unmet_kwh`` (need left at a
    departure this hour)."""

    ac_kwh: np.ndarray
    ev_kwh: np.ndarray
    battery_charge_kwh: np.ndarray
    battery_discharge_kwh: np.ndarray
    net_import_kwh: np.ndarray
    discomfort_c: np.ndarray
    ev_unmet_kwh: np.ndarray


def step_homes(devices: HomeDevices, state: HomeState, t: int, load_kwh: np.ndarray, pv_kwh: np.ndarray, outdoor_c: float,
               offset_c: np.ndarray, ev_rate: np.ndarray, battery_kw: np.ndarray) -> tuple[HomeState, HourFlows]:
    """Hour ``t`` of every home: its base load and PV (H,) kWh, the outdoor temperature, and the
    actions (H,): the thermostat's offset from the setpoint (degC; the unit cools towards
    setpoint + offset), the EV's charging rate (share of the charger; a session that must charge
    now to meet its need by departure does), and the battery's power (kW, + discharge), clipped
    by bessgym's battery physics."""
    dt = 1.0
    target = devices.setpoint_c + np.asarray(offset_c, dtype=float)
    duty = devices.ac.duty_to_reach(state.indoor_c, outdoor_c, target, dt)
    indoor = devices.ac.next_temperature(state.indoor_c, outdoor_c, duty, dt)
    ac_kwh = duty * devices.ac.p_thermal_kw / devices.ac.cop * dt
    discomfort = np.maximum(indoor - (devices.setpoint_c + devices.ac.deadband_c / 2), 0.0)

    ev = devices.ev
    day = t // HOURS_PER_DAY
    arrival, departure, need = session_at(ev, day, t)
    left = np.where(arrival == t, need, state.ev_left_kwh)  # a session starting now brings its need
    plugged = (arrival >= 0) & (arrival <= t) & (t < departure)
    hours_after = np.where(plugged, departure - t - 1, 0)
    must = np.maximum(left - ev.charger_kw * hours_after, 0.0)
    ev_kwh = np.where(plugged, np.minimum(np.maximum(np.clip(ev_rate, 0.0, 1.0) * ev.charger_kw, must),
                                          np.minimum(ev.charger_kw, left)), 0.0)
    left = left - ev_kwh
    leaving = plugged & (departure == t + 1)
    unmet = np.where(leaving, left, 0.0)
    left = np.where(leaving | ~plugged, 0.0, left)

    limits = devices.battery.limits(dt)
    # no deployment: the base point the physics would deliver, asked for directly (its fast path)
    base = base_alone(limits, state.battery_mwh, np.asarray(battery_kw, dtype=float) / 1e3, NUMPY_OPS)
    flows = interval_flows(limits, state.battery_mwh, base, 1.0, 0.0, 0.0, 0.0, NUMPY_OPS)
    charge, discharge = flows.charge_mw * 1e3 * dt, flows.discharge_mw * 1e3 * dt
    net = load_kwh + ac_kwh + ev_kwh + charge - discharge - pv_kwh
    return (HomeState(flows.e_next_mwh, indoor, left),
            HourFlows(ac_kwh, ev_kwh, charge, discharge, net, discomfort, unmet))


def session_at(ev: EVSessions, day: int, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each home's session covering hour ``t`` (arrival, departure, need): the one drawn today if
    it has begun, else yesterday's if it still runs (-1, -1, 0: none). A session drawn on a day
    may begin at the next day's first hour and run into it."""
    homes = np.arange(ev.arrival.shape[0])
    today = (ev.arrival[:, day] >= 0) & (ev.arrival[:, day] <= t)
    yesterday = ~today & (day > 0) & (ev.departure[:, max(day - 1, 0)] > t)
    col = np.where(today, day, max(day - 1, 0))
    covered = today | yesterday
    return (np.where(covered, ev.arrival[homes, col], -1), np.where(covered, ev.departure[homes, col], -1),
            np.where(covered, ev.energy_kwh[homes, col], 0.0))
