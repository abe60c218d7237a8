"""Generalised energy storage (GES): a battery, a thermostatic-load fleet or an EV fleet as one
virtual battery (Qi et al., IEEE Trans. Sustainable Energy 14(4), 2023).

State of charge as a fraction of the energy capacity ``S`` (MWh), per interval of ``dt`` hours:

    soc[t+1] = (1 - eps[t]) soc[t] + eta_c P_c[t] dt / S - P_d[t] dt / (eta_d S) + alpha[t]

with ``0 <= P_c[t] <= P_c_max[t]`` and ``0 <= P_d[t] <= P_d_max[t]`` (MW, time-varying), the SoC
within ``[soc_min[t], soc_max[t]]`` and back to its initial value at the end (``SoC_T = SoC_0``).
``P_c`` and ``P_d`` are measured around the resource's baseline power ``baseline_mw`` (what it
draws when not dispatched; 0 for a battery): charging is drawing more than the baseline,
discharging drawing less (for a load) or injecting (for a battery). ``alpha`` is the SoC drift
the baseline sustains (a TCL's ``eps SoC^B``). Sign, as everywhere in bessgym: net power
``P_d - P_c > 0`` is an injection (or a load reduction) to the grid.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from bessgym.battery import Battery

if TYPE_CHECKING:
    import pandas as pd

    from bessgym.tcl import TCLFleet


@dataclass(frozen=True)
class GES:
    """A generalised storage over ``n`` intervals of ``dt_h`` hours (arrays (n,) or (n + 1,) for
    SoC bounds; see the module docstring). ``energy_mwh`` S; ``p_charge_max_mw``,
    ``p_discharge_max_mw`` (n,) MW; ``soc_min``, ``soc_max`` (n + 1,) fractions (index 0 is the
    start); ``leakage`` eps (n,) per interval; ``drift`` alpha (n,) SoC per interval;
    ``baseline_mw`` (n,); ``soc_initial``; ``eta_charge``, ``eta_discharge`` one-way;
    ``soc_target`` the SoC the end is valued against (None: back to ``soc_initial``, the paper's
    ``SoC_T = SoC_0``)."""

    dt_h: float
    energy_mwh: float
    p_charge_max_mw: np.ndarray
    p_discharge_max_mw: np.ndarray
    soc_min: np.ndarray
    soc_max: np.ndarray
    leakage: np.ndarray
    drift: np.ndarray
    baseline_mw: np.ndarray
    soc_initial: float
    eta_charge: float = 1.0
    eta_discharge: float = 1.0
    soc_target: float | None = None

    def __post_init__(self) -> None:
        if not (is_number(self.dt_h) and self.dt_h > 0 and np.isfinite(self.dt_h)):
            raise ValueError(f"GES.dt_h must be a positive number of hours, got {self.dt_h!r}")
        if not (is_number(self.energy_mwh) and self.energy_mwh > 0 and np.isfinite(self.energy_mwh)):
            raise ValueError(f"GES.energy_mwh must be positive (MWh), got {self.energy_mwh!r}")
        for name in ("soc_initial", "eta_charge", "eta_discharge") + (() if self.soc_target is None else ("soc_target",)):
            if not (is_number(getattr(self, name)) and np.isfinite(getattr(self, name))):
                raise ValueError(f"GES.{name} = {getattr(self, name)!r}; allowed: a finite number")
        power = _float_array("GES.p_charge_max_mw", self.p_charge_max_mw)
        if power.ndim != 1 or len(power) == 0:
            raise ValueError(f"GES.p_charge_max_mw has shape {power.shape}; allowed: (n,) with n >= 1 intervals")
        n = len(power)
        shapes = {"p_charge_max_mw": n, "p_discharge_max_mw": n, "leakage": n, "drift": n, "baseline_mw": n,
                  "soc_min": n + 1, "soc_max": n + 1}
        for name, size in shapes.items():
            value = _float_array(f"GES.{name}", getattr(self, name))
            if value.ndim != 0 and value.shape != (size,):
                raise ValueError(f"GES.{name} has shape {value.shape}; allowed: a scalar or ({size},) for "
                                 f"{n} intervals")
            value = np.broadcast_to(value, (size,)).copy()
            if not np.isfinite(value).all():
                raise ValueError(f"GES.{name} holds NaN or inf at {np.flatnonzero(~np.isfinite(value))[:5].tolist()}")
            object.__setattr__(self, name, value)
        for name in ("p_charge_max_mw", "p_discharge_max_mw"):
            if (getattr(self, name) < 0).any():
                raise ValueError(f"GES.{name} must be >= 0 MW, got a minimum of {getattr(self, name).min()}")
        if not ((0 <= self.leakage) & (self.leakage < 1)).all():
            raise ValueError(f"GES.leakage must lie in [0, 1) per interval, got {self.leakage.min()} .. {self.leakage.max()}")
        if not (self.soc_min <= self.soc_max).all():
            raise ValueError(f"GES.soc_min exceeds soc_max at intervals {np.flatnonzero(self.soc_min > self.soc_max)[:5].tolist()}")
        if not self.soc_min[0] <= self.soc_initial <= self.soc_max[0]:
            raise ValueError(f"GES.soc_initial {self.soc_initial} lies outside [{self.soc_min[0]}, {self.soc_max[0]}]")
        if self.soc_target is None:
            object.__setattr__(self, "soc_target", self.soc_initial)
        if not self.soc_min[-1] <= self.soc_target <= self.soc_max[-1]:
            raise ValueError(f"GES.soc_target {self.soc_target} lies outside [{self.soc_min[-1]}, {self.soc_max[-1]}]")
        for name in ("eta_charge", "eta_discharge"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"GES.{name} must lie in (0, 1], got {getattr(self, name)}")

    @property
    def n_intervals(self) -> int:
        return len(self.p_charge_max_mw)

    @classmethod
    def from_battery(cls, battery: Battery, n_intervals: int, dt_h: float) -> "GES":
        """The battery as a GES: fixed power and SoC bounds, self-discharge as leakage, no drift
        or baseline; SoC as a fraction of its nameplate energy."""
        n = int(n_intervals)
        e = battery.energy_mwh
        return cls(
            dt_h=dt_h, energy_mwh=e, p_charge_max_mw=np.full(n, battery.p_charge_mw),
            p_discharge_max_mw=np.full(n, battery.p_discharge_mw), soc_min=np.full(n + 1, battery.soc_min_frac),
            soc_max=np.full(n + 1, battery.soc_max_frac), leakage=np.full(n, 1.0 - battery.retention(dt_h)),
            drift=np.zeros(n), baseline_mw=np.zeros(n), soc_initial=battery.soc_initial_frac,
            eta_charge=battery.eta_charge, eta_discharge=battery.eta_discharge, soc_target=battery.soc_target_frac,
        )

    @classmethod
    def from_tcl_fleet(cls, fleet: "TCLFleet", outdoor_c: np.ndarray, dt_h: float) -> "GES":
        """A thermostat fleet as a GES over the intervals of ``outdoor_c`` (degC): see
        ``bessgym.tcl``."""
        return fleet.ges(outdoor_c, dt_h)

    @classmethod
    def from_ev_sessions(cls, sessions: "pd.DataFrame", start: "pd.Timestamp", n_intervals: int, dt_h: float,
                         p_max_kw: float = 6.6) -> "GES":
        """The EV sessions of ``sessions`` (``bessgym.ges_data.load_ev_sessions``) within the
        ``n_intervals`` from ``start`` as a GES: see ``bessgym.ev``."""
        from bessgym.ev import EVFleet
        return EVFleet.from_sessions(sessions, start, n_intervals, dt_h, p_max_kw).ges()

    def with_margin(self, share: float) -> "GES":
        """The GES a planner keeps ``share`` (in [0, 1/2)) inside: power bounds scaled by ``1 -
        share`` and ``share`` of the SoC range off each end. A fleet's aggregate bounds are
        optimistic for its units (they differ, and some reach their limits first): a plan that
        rides them is followed less closely than one inside them (``tests/test_ges.py``)."""
        if not 0 <= share < 0.5:
            raise ValueError(f"share must lie in [0, 0.5), got {share}")
        span = self.soc_max - self.soc_min
        return replace(self, p_charge_max_mw=self.p_charge_max_mw * (1 - share),
                       p_discharge_max_mw=self.p_discharge_max_mw * (1 - share), soc_min=self.soc_min + share * span,
                       soc_max=self.soc_max - share * span,
                       soc_initial=float(np.clip(self.soc_initial, self.soc_min[0] + share * span[0], self.soc_max[0] - share * span[0])),
                       soc_target=float(np.clip(self.soc_target, self.soc_min[-1] + share * span[-1],
                                                self.soc_max[-1] - share * span[-1])))

    def next_soc(self, soc: np.ndarray | float, charge_mw: np.ndarray | float, discharge_mw: np.ndarray | float,
                 t: int | np.ndarray) -> np.ndarray:
        """SoC after interval ``t`` from ``soc`` with the legs ``charge_mw``, ``discharge_mw`` (MW
        around the baseline; no limits applied)."""
        return ((1.0 - self.leakage[t]) * soc + self.eta_charge * charge_mw * self.dt_h / self.energy_mwh
                - discharge_mw * self.dt_h / (self.eta_discharge * self.energy_mwh) + self.drift[t])

    def soc_path(self, charge_mw: np.ndarray, discharge_mw: np.ndarray) -> np.ndarray:
        """The SoC (n + 1,) the legs (n,) give from the initial SoC (no limits applied)."""
        charge, discharge = self._legs("charge_mw", charge_mw), self._legs("discharge_mw", discharge_mw)
        soc = np.empty(self.n_intervals + 1)
        soc[0] = self.soc_initial
        for t in range(self.n_intervals):
            soc[t + 1] = self.next_soc(soc[t], charge[t], discharge[t], t)
        return soc

    def _legs(self, name: str, value: np.ndarray) -> np.ndarray:
        """``value`` as (n,) finite MW, or a ValueError naming ``name``."""
        legs = _float_array(name, value)
        if legs.shape != (self.n_intervals,) or not np.isfinite(legs).all():
            raise ValueError(f"{name} has shape {legs.shape} (finite: {bool(np.isfinite(legs).all())}); "
                             f"allowed: {self.n_intervals} finite MW, one per interval")
        return legs

    def feasible(self, net_mw: np.ndarray, tol: float = 1e-9) -> bool:
        """Whether a net power path (n,) (MW around the baseline, + = injection / load reduction)
        keeps within the power and SoC bounds, one leg at a time."""
        net = self._legs("net_mw", net_mw)
        charge, discharge = np.maximum(-net, 0.0), np.maximum(net, 0.0)
        if (charge > self.p_charge_max_mw + tol).any() or (discharge > self.p_discharge_max_mw + tol).any():
            return False
        soc = self.soc_path(charge, discharge)
        return bool(((soc >= self.soc_min - tol) & (soc <= self.soc_max + tol)).all())


def is_number(value: object) -> bool:
    """Whether ``value`` is a real number (not a bool, a string or None)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _float_array(name: str, value: object) -> np.ndarray:
    """``value`` as a float array, or a ValueError naming ``name``."""
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} = {value!r}; allowed: numbers") from None
