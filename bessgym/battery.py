"""Battery physics: the one place where state of charge moves.

Sign convention (declared once, used everywhere): net grid power ``g > 0`` is discharge
(injection to the grid), ``g < 0`` is charge. Flows are split into two non-negative legs,
charge ``c`` and discharge ``d`` (MW, grid side), so that

    e[t+1] = (1 - sigma*dt) * e[t] + eta_c * c * dt - d * dt / eta_d       (MWh)

:func:`interval_flows` is written with plain arithmetic plus injected ``minimum``/``maximum``
so the same code runs on Python floats (the step-wise simulator) and on numpy arrays
(the batched simulator).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Battery(BaseModel):
    """Frozen, validated battery parameters shared by the simulator, the envs and every LP.

    Powers in MW (grid side), energy in MWh, SoC bounds and initial/target SoC as fractions
    of ``energy_mwh``, efficiencies one-way, self-discharge as a fraction of stored energy per
    hour, degradation cost in $ per MWh of grid-side throughput (charge + discharge).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    p_charge_mw: float = Field(1.0, gt=0, description="maximum charging power (MW)")
    p_discharge_mw: float = Field(1.0, gt=0, description="maximum discharging power (MW)")
    energy_mwh: float = Field(4.0, gt=0, description="nameplate energy capacity (MWh)")
    soc_min_frac: float = Field(0.05, ge=0, lt=1, description="lowest allowed SoC (fraction)")
    soc_max_frac: float = Field(1.0, gt=0, le=1, description="highest allowed SoC (fraction)")
    eta_charge: float = Field(0.95, gt=0, le=1, description="one-way charging efficiency")
    eta_discharge: float = Field(0.95, gt=0, le=1, description="one-way discharging efficiency")
    self_discharge_per_h: float = Field(0.0, ge=0, lt=1, description="fraction lost per hour")
    degradation_usd_per_mwh: float = Field(10.0, ge=0, description="$ per MWh of throughput")
    soc_initial_frac: float = Field(0.5, ge=0, le=1, description="SoC at the start of the day")
    soc_target_frac: float = Field(0.5, ge=0, le=1, description="SoC valued at the end of the day")

    @model_validator(mode="after")
    def _check_bounds(self) -> "Battery":
        if self.soc_min_frac >= self.soc_max_frac:
            raise ValueError(
                f"soc_min_frac ({self.soc_min_frac}) must be below soc_max_frac ({self.soc_max_frac})"
            )
        for name in ("soc_initial_frac", "soc_target_frac"):
            value = getattr(self, name)
            if not self.soc_min_frac <= value <= self.soc_max_frac:
                raise ValueError(
                    f"{name} ({value}) must lie within [soc_min_frac, soc_max_frac] = "
                    f"[{self.soc_min_frac}, {self.soc_max_frac}]"
                )
        return self

    @property
    def e_min_mwh(self) -> float:
        return self.soc_min_frac * self.energy_mwh

    @property
    def e_max_mwh(self) -> float:
        return self.soc_max_frac * self.energy_mwh

    @property
    def e_initial_mwh(self) -> float:
        return self.soc_initial_frac * self.energy_mwh

    @property
    def e_target_mwh(self) -> float:
        return self.soc_target_frac * self.energy_mwh

    def retention(self, dt_h: float) -> float:
        """Fraction of stored energy kept over one interval of ``dt_h`` hours."""
        return 1.0 - self.self_discharge_per_h * dt_h

    def limits(self, dt_h: float) -> Limits:
        """The constants :func:`interval_flows` needs for intervals of ``dt_h`` hours."""
        return Limits(
            self.p_charge_mw, self.p_discharge_mw, self.e_min_mwh, self.e_max_mwh,
            self.eta_charge, self.eta_discharge, self.retention(dt_h), dt_h,
        )

    def next_energy(self, e_mwh: Any, charge_mw: Any, discharge_mw: Any, dt_h: float) -> Any:
        """Energy after one interval with the given legs (no limits applied)."""
        return (
            self.retention(dt_h) * e_mwh
            + self.eta_charge * charge_mw * dt_h
            - discharge_mw * dt_h / self.eta_discharge
        )


class Limits(NamedTuple):
    """A battery's constants for one interval length, unpacked once for the hot loop."""

    p_charge_mw: float
    p_discharge_mw: float
    e_min_mwh: float
    e_max_mwh: float
    eta_charge: float
    eta_discharge: float
    retention: float
    dt_h: float


class Flows(NamedTuple):
    """What one interval delivered. All MW over the interval, legs >= 0."""

    e_next_mwh: Any
    charge_mw: Any  # c: charge leg delivered (base-point charge + regulation down)
    discharge_mw: Any  # d: discharge leg delivered (base-point discharge + up products)
    up_mw: Any  # up deployment delivered (reg up + spin + non-spin)
    down_mw: Any  # down deployment delivered (reg down)
    base_mw: Any  # base point delivered (signed)


def interval_flows(
    limits: Limits,
    e_mwh: Any,
    base_mw: Any,
    up_req_mw: Any,
    down_req_mw: Any,
    minimum: Callable[[Any, Any], Any] = min,
    maximum: Callable[[Any, Any], Any] = max,
) -> Flows:
    """Deliver one interval under the "legs" model (DESIGN 1.5).

    Discharge leg ``d = max(b, 0) + up``, charge leg ``c = max(-b, 0) + down``. Deployment has
    priority: where power or SoC limits bind, the base point is cut first, then the deployment.
    Pass ``numpy.minimum``/``numpy.maximum`` to run on arrays (any common shape).
    """
    p_ch, p_dis, e_min, e_max, eta_c, eta_d, keep, dt_h = limits
    up = minimum(up_req_mw, p_dis)
    down = minimum(down_req_mw, p_ch)
    b_dis = minimum(maximum(base_mw, 0.0), p_dis - up)
    b_ch = minimum(maximum(-base_mw, 0.0), p_ch - down)
    e_kept = keep * e_mwh
    # Largest discharge (charge) the SoC bounds allow, given the other leg in full. At most one
    # of the two binds in an interval, so computing each against the uncut other leg is exact.
    room_dis = maximum((e_kept + eta_c * dt_h * (b_ch + down) - e_min) * eta_d / dt_h, 0.0)
    room_ch = maximum((e_max - e_kept + dt_h / eta_d * (b_dis + up)) / (eta_c * dt_h), 0.0)
    up = minimum(up, room_dis)
    b_dis = minimum(b_dis, room_dis - up)
    down = minimum(down, room_ch)
    b_ch = minimum(b_ch, room_ch - down)
    charge = b_ch + down
    discharge = b_dis + up
    e_next = e_kept + eta_c * dt_h * charge - dt_h / eta_d * discharge
    return Flows(e_next, charge, discharge, up, down, b_dis - b_ch)
