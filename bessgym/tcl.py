"""Thermostatically controlled loads (air conditioners) as a fleet, and the fleet as a GES.

Each unit i (Callaway 2009: R = 2 degC/kW, C = 10 kWh/degC, thermal power P = 14 kW, COP eta =
2.5, deadband 0.5 degC, lognormal spread 0.2 of the mean) follows, over a step of h hours with
outdoor temperature theta and on/off state m,

    T <- a T + (1 - a) (theta - m R P),    a = exp(-h / (R C)),

drawing ``m P / eta`` kW of electricity. Its baseline power ``P_B = (theta - T_set) / (R eta)``
holds the setpoint. As a GES (Qi et al. 2023): SoC = (T_max - T) / (T_max - T_min) (1: cold, all
cooling stored), leakage ``eps = 1 - exp(-dt / (R C))``, energy ``S = dt (T_max - T_min) / (eta R
eps)`` (kWh of electricity; ``C (T_max - T_min) / eta`` as dt -> 0), drift ``eps SoC_B`` with
``SoC_B = 1/2`` (the setpoint mid-deadband), power around the baseline: charging ``P / eta - P_B``
(all on), discharging ``P_B`` (all off). A unit whose baseline is 0 (outdoors no warmer than
its setpoint: an air conditioner cannot heat) offers nothing in that interval. The fleet's GES
sums the units' energies and power limits and takes the energy-weighted leakage.

:func:`track` is the ground truth: every unit simulated, switched by a priority stack (the
warmest units on first) to follow an aggregate power reference, a unit about to leave its deadband
forced on or off (comfort is never given up; the reference is).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bessgym.ges import GES, is_number

SOC_BASELINE = 0.5  # the setpoint sits mid-deadband
MAX_REDRAWS = 100
"""Rounds of draws :meth:`TCLFleet.callaway` makes to find units sized for the design temperature."""
FIELDS = ("r_c_per_kw", "c_kwh_per_c", "p_thermal_kw", "cop", "setpoint_c", "deadband_c")


@dataclass(frozen=True)
class TCLFleet:
    """N air conditioners: ``r_c_per_kw`` R, ``c_kwh_per_c`` C, ``p_thermal_kw`` P, ``cop`` eta,
    ``setpoint_c``, ``deadband_c`` (each (N,))."""

    r_c_per_kw: np.ndarray
    c_kwh_per_c: np.ndarray
    p_thermal_kw: np.ndarray
    cop: np.ndarray
    setpoint_c: np.ndarray
    deadband_c: np.ndarray

    def __post_init__(self) -> None:
        size = len(self.r_c_per_kw) if np.ndim(self.r_c_per_kw) == 1 else 0
        for name in FIELDS:
            try:
                value = np.asarray(getattr(self, name), dtype=float)
            except (TypeError, ValueError):
                raise ValueError(f"TCLFleet.{name} = {getattr(self, name)!r}; allowed: numbers") from None
            if value.ndim != 1 or size == 0 or len(value) != size:
                raise ValueError(f"TCLFleet.{name} has shape {value.shape}; allowed: (N,) with N >= 1 units, "
                                 f"the length of r_c_per_kw ({size})")
            bad = ~np.isfinite(value) if name == "setpoint_c" else ~(np.isfinite(value) & (value > 0))
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"TCLFleet.{name}[{i}] = {float(value[i])!r}; allowed: "
                                 f"{'finite degC' if name == 'setpoint_c' else 'finite and > 0'}")
            object.__setattr__(self, name, value)

    @classmethod
    def callaway(cls, n: int, rng: np.random.Generator, spread: float = 0.2, setpoint_c: float = 20.0,
                 deadband_c: float = 0.5, design_outdoor_c: float = 32.0) -> "TCLFleet":
        """``n`` units with Callaway's means, R, C, P and eta each lognormal with standard deviation
        ``spread`` of the mean (0: identical units). Units are sized to hold their comfort band at
        ``design_outdoor_c`` (Callaway's 32 degC): a draw whose full cooling ``R P`` could not, an
        undersized air conditioner, is drawn again (up to ``MAX_REDRAWS`` rounds)."""
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be >= 1 units (an integer), got {n!r}")
        if not (is_number(spread) and 0 <= spread < 1):
            raise ValueError(f"spread must lie in [0, 1), got {spread!r}")
        for name, value in (("setpoint_c", setpoint_c), ("design_outdoor_c", design_outdoor_c)):
            if not (is_number(value) and np.isfinite(value)):
                raise ValueError(f"{name} = {value!r}; allowed: a finite temperature (degC)")
        if not (is_number(deadband_c) and deadband_c > 0 and np.isfinite(deadband_c)):
            raise ValueError(f"deadband_c = {deadband_c!r}; allowed: finite and > 0 degC")
        sigma = np.sqrt(np.log1p(spread**2))
        params = np.empty((4, 0))
        for _ in range(MAX_REDRAWS):
            if params.shape[1] >= n:
                break
            draw = np.array([[2.0], [10.0], [14.0], [2.5]]) * np.exp(sigma * rng.standard_normal((4, n)) - sigma**2 / 2)
            sized = design_outdoor_c - draw[0] * draw[2] <= setpoint_c - deadband_c / 2  # R P cools below the band
            params = np.concatenate([params, draw[:, sized]], axis=1)
        if params.shape[1] < n:
            raise ValueError(f"design_outdoor_c = {design_outdoor_c!r}: {MAX_REDRAWS} rounds of draws found {params.shape[1]} "
                             f"of {n} units that hold their band (down to {setpoint_c - deadband_c / 2} degC) there; allowed: "
                             f"up to about {setpoint_c - deadband_c / 2 + 28:g} degC (the mean unit's R P cools 28 degC)")
        r, c, p, cop = params[:, :n]
        return cls(r, c, p, cop, np.full(n, setpoint_c), np.full(n, deadband_c))

    @property
    def n(self) -> int:
        return len(self.r_c_per_kw)

    @property
    def t_max_c(self) -> np.ndarray:
        return self.setpoint_c + self.deadband_c / 2

    @property
    def t_min_c(self) -> np.ndarray:
        return self.setpoint_c - self.deadband_c / 2

    def baseline_kw(self, outdoor_c: np.ndarray | float) -> np.ndarray:
        """Electrical power (..., N) that holds each setpoint at ``outdoor_c`` (..., 1 or scalar),
        within [0, P / eta]."""
        need = (np.asarray(outdoor_c, float)[..., None] - self.setpoint_c) / (self.r_c_per_kw * self.cop)
        return np.clip(need, 0.0, self.p_thermal_kw / self.cop)

    def next_temperature(self, temp_c: np.ndarray, outdoor_c: np.ndarray | float, duty: np.ndarray | float,
                         dt_h: float) -> np.ndarray:
        """Each unit's indoor temperature (N,) degC after ``dt_h`` hours from ``temp_c`` (N,) at
        ``outdoor_c``, cooling a share ``duty`` (in [0, 1]) of the time: ``a T + (1 - a)(theta -
        duty R P)``, ``a = exp(-dt / (R C))`` (exact for a steady duty; a unit switched on and
        off within the step is its duty's average)."""
        a = np.exp(-dt_h / (self.r_c_per_kw * self.c_kwh_per_c))
        return a * temp_c + (1 - a) * (outdoor_c - duty * self.r_c_per_kw * self.p_thermal_kw)

    def duty_to_reach(self, temp_c: np.ndarray, outdoor_c: np.ndarray | float, target_c: np.ndarray | float,
                      dt_h: float) -> np.ndarray:
        """The duty (N,) in [0, 1] that brings each unit from ``temp_c`` to ``target_c`` over
        ``dt_h`` hours at ``outdoor_c`` (a thermostat's control over a step; clipped where the
        target is out of reach: full cooling, or none)."""
        a = np.exp(-dt_h / (self.r_c_per_kw * self.c_kwh_per_c))
        free = (np.asarray(target_c, dtype=float) - a * temp_c) / (1 - a)  # the step's mean driving temperature
        return np.clip((outdoor_c - free) / (self.r_c_per_kw * self.p_thermal_kw), 0.0, 1.0)

    def unit_energy_kwh(self, dt_h: float) -> np.ndarray:
        """Each unit's GES energy S (N,) in kWh of electricity for intervals of ``dt_h``."""
        eps = 1.0 - np.exp(-dt_h / (self.r_c_per_kw * self.c_kwh_per_c))
        return dt_h * self.deadband_c / (self.cop * self.r_c_per_kw * eps)

    def ges(self, outdoor_c: np.ndarray, dt_h: float) -> GES:
        """The fleet as one GES over the intervals of ``outdoor_c`` (n,) degC, in MW and MWh."""
        outdoor = np.asarray(outdoor_c, dtype=float)
        if outdoor.ndim != 1 or len(outdoor) == 0 or not np.isfinite(outdoor).all():
            raise ValueError(f"outdoor_c has shape {outdoor.shape}; allowed: a non-empty 1-D array of finite temperatures (degC)")
        _check_dt(dt_h)
        energy = self.unit_energy_kwh(dt_h)
        eps = 1.0 - np.exp(-dt_h / (self.r_c_per_kw * self.c_kwh_per_c))
        leakage = float((energy * eps).sum() / energy.sum())
        baseline = self.baseline_kw(outdoor)  # (n, N)
        n = len(outdoor)
        return GES(
            dt_h=dt_h, energy_mwh=float(energy.sum()) / 1e3,
            p_charge_max_mw=((self.p_thermal_kw / self.cop - baseline) * (baseline > 0)).sum(1) / 1e3,
            p_discharge_max_mw=baseline.sum(1) / 1e3, soc_min=np.zeros(n + 1), soc_max=np.ones(n + 1),
            leakage=np.full(n, leakage), drift=np.full(n, leakage * SOC_BASELINE), baseline_mw=baseline.sum(1) / 1e3,
            soc_initial=SOC_BASELINE,
        )


@dataclass(frozen=True)
class Tracking:
    """What the fleet did: ``power_mw`` (n,) its mean electrical power per interval, ``net_mw``
    (n,) that power's deviation below the baseline (+ = load reduction, the GES's sign),
    ``temperature_c`` (n + 1, N) each unit's temperature at the interval boundaries and
    ``comfort_violation_c`` the largest excursion above a deadband (degC, 0: none; below it a
    unit is off, cooled by the weather, which is no discomfort)."""

    power_mw: np.ndarray
    net_mw: np.ndarray
    temperature_c: np.ndarray
    comfort_violation_c: float


def track(fleet: TCLFleet, outdoor_c: np.ndarray, dt_h: float, reference_mw: np.ndarray, rng: np.random.Generator,
          substeps: int = 5) -> Tracking:
    """Simulate every unit following the aggregate reference ``reference_mw`` (n,) (MW around the
    baseline, + = load reduction) over intervals of ``dt_h`` with ``substeps`` switching decisions
    each; units start at temperatures drawn uniformly within their deadbands, cooling or not at
    random. Each decision turns on the units that would pass their upper limit by the next
    decision if off, then the warmest free units until the fleet draws the target power; units
    that would pass their lower limit if on stay off."""
    outdoor = np.asarray(outdoor_c, dtype=float)
    reference = np.asarray(reference_mw, dtype=float)
    if outdoor.shape != reference.shape or outdoor.ndim != 1:
        raise ValueError(f"outdoor_c and reference_mw must be 1-D of one length, got {outdoor.shape} and {reference.shape}")
    for name, value in (("outdoor_c", outdoor), ("reference_mw", reference)):
        if not np.isfinite(value).all():
            raise ValueError(f"{name} holds NaN or inf at {np.flatnonzero(~np.isfinite(value))[:5].tolist()}; "
                             "allowed: finite values")
    _check_dt(dt_h)
    if isinstance(substeps, (bool, np.bool_)) or not isinstance(substeps, (int, np.integer)) or substeps < 1:
        raise ValueError(f"substeps = {substeps!r}; allowed: an integer >= 1")
    h = dt_h / substeps
    draw_kw = fleet.p_thermal_kw / fleet.cop
    temp = fleet.t_min_c + rng.uniform(0, 1, fleet.n) * fleet.deadband_c
    on = rng.uniform(0, 1, fleet.n) < 0.5
    temps, power = [temp.copy()], np.zeros(len(outdoor))
    worst = 0.0
    for t, theta in enumerate(outdoor):
        target_kw = fleet.baseline_kw(theta).sum() - reference[t] * 1e3
        for _ in range(substeps):
            off_next, on_next = fleet.next_temperature(temp, theta, 0.0, h), fleet.next_temperature(temp, theta, 1.0, h)
            forced_on, forced_off = off_next > fleet.t_max_c, on_next < fleet.t_min_c  # would leave the deadband
            on = forced_on.copy()
            free = np.flatnonzero(~forced_on & ~forced_off)
            room = target_kw - draw_kw[on].sum()
            if room > 0 and len(free):
                warmest = free[np.argsort(-temp[free])]
                count = int(np.searchsorted(np.cumsum(draw_kw[warmest]), room))  # the last unit that still fits
                on[warmest[:count]] = True
            power[t] += draw_kw[on].sum() / substeps / 1e3
            temp = np.where(on, on_next, off_next)
            worst = max(worst, float(np.max(temp - fleet.t_max_c)))
        temps.append(temp.copy())
    baseline = fleet.baseline_kw(outdoor).sum(1) / 1e3
    return Tracking(power, baseline - power, np.array(temps), max(worst, 0.0))


def _check_dt(dt_h: float) -> None:
    if not (is_number(dt_h) and dt_h > 0 and np.isfinite(dt_h)):
        raise ValueError(f"dt_h = {dt_h!r}; allowed: a positive number of hours")
