"""Battery physics: the one place where state of charge moves.

Sign convention (declared once, used everywhere): net grid power ``g > 0`` is discharge
(injection to the grid), ``g < 0`` is charge. Per RT interval of ``dt`` hours,

    e[t+1] = (1 - sigma*dt) * e[t] + eta_c * c * dt - d * dt / eta_d       (MWh)

with ``c, d >= 0`` the charge and discharge the grid saw, averaged over the interval (MW).
Self-discharge stops at the SoC floor: the stored energy the flows start from is
``max((1 - sigma*dt) * e[t], min(e[t], E_min))`` (:func:`kept_energy`), so the SoC never leaves
``[E_min, E_max]``.

One power envelope (DESIGN 1.5): the net power ``p = b + deployed up - deployed down`` stays in
``[-P_ch, P_dis]``, and energy flows both ways within an interval only as far as the regulation
signal itself changes sign. The interval is split into the signal's up sub-period (share
``w_up``: reg up deployed at its conditional mean) and its down sub-period (share ``1 - w_up``:
reg down deployed); contingency deployment runs through both. In each sub-period the net power
is constant, so ``d = sum_s w_s max(p_s, 0)`` and ``c = sum_s w_s max(-p_s, 0)``: a base point
and an opposite deployment net out. The SoC change is ``-dt * sum_s w_s phi(p_s)`` with
``phi(p) = max(p / eta_d, eta_c p)``, a convex piecewise-linear function, which is how the LP
builder writes it too.

:func:`interval_flows` is written with plain arithmetic plus injected operations
(:data:`SCALAR_OPS` on Python floats for the step-wise simulator, :data:`NUMPY_OPS` on arrays
for the batched one), so both run the same code.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Battery(BaseModel):
    """Frozen, validated battery parameters shared by the simulator, the envs and every LP.

    Powers in MW (grid side), energy in MWh, SoC bounds and initial/target SoC as fractions
    of ``energy_mwh``, efficiencies one-way, self-discharge as a fraction of stored energy per
    hour, degradation cost in $ per MWh of grid-side throughput (charge + discharge).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

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


class Ops(NamedTuple):
    """Element-wise operations for :func:`interval_flows`: on floats or on arrays."""

    minimum: Callable[[Any, Any], Any]
    maximum: Callable[[Any, Any], Any]
    where: Callable[[Any, Any, Any], Any]


SCALAR_OPS = Ops(min, max, lambda condition, a, b: a if condition else b)
NUMPY_OPS = Ops(np.minimum, np.maximum, np.where)

_TINY = 1e-300  # divisor floor: a zero request gives an unbounded (never binding) ratio
_TOL = 1e-9  # MW or MWh: what the physics forgives before it cuts


class Flows(NamedTuple):
    """What one interval delivered (MW averaged over the interval; legs >= 0)."""

    e_next_mwh: Any
    charge_mw: Any  # c: energy into the battery, both sub-periods
    discharge_mw: Any  # d: energy out of the battery, both sub-periods
    up_share: Any  # share of the up deployment (reg up + spin + non-spin) delivered, in [0, 1]
    down_share: Any  # share of the down deployment (reg down) delivered, in [0, 1]
    base_mw: Any  # base point kept (signed)


def kept_energy(limits: Limits, e_mwh: Any, ops: Ops = SCALAR_OPS) -> Any:
    """Stored energy (MWh) left after an interval's self-discharge, before its flows: a share
    ``retention`` of ``e_mwh``, but never below the SoC floor ``E_min`` (nor below ``e_mwh``
    itself, should it start lower): the floor is held, self-discharge stops there."""
    return ops.maximum(limits.retention * e_mwh, ops.minimum(e_mwh, limits.e_min_mwh))


def base_alone(limits: Limits, e_mwh: Any, base_mw: Any, ops: Ops = SCALAR_OPS) -> Any:
    """The base point (MW, signed) an interval without deployment delivers from ``e_mwh``:
    ``base_mw`` within the power limits and the room the SoC leaves after self-discharge, cut
    towards zero. Asked for, it takes :func:`interval_flows`'s fast path (nothing binds)."""
    p_ch, p_dis, e_min, e_max, eta_c, eta_d, _, dt = limits
    mn, mx = ops.minimum, ops.maximum
    e_kept = kept_energy(limits, e_mwh, ops)
    room_dis, room_ch = mx(e_kept - e_min, 0.0), mx(e_max - e_kept, 0.0)
    return mx(mn(mn(mx(base_mw, -p_ch), p_dis), room_dis * eta_d / dt), -room_ch / (eta_c * dt))


def interval_flows(
    limits: Limits,
    e_mwh: Any,
    base_mw: Any,
    w_up: Any,
    up_in_up: Any,
    up_in_down: Any,
    down_in_down: Any,
    ops: Ops = SCALAR_OPS,
) -> Flows:
    """Deliver one interval (DESIGN 1.5).

    ``w_up``: the up sub-period's share of the interval; ``up_in_up``, ``up_in_down``: the up
    deployment requested in each sub-period (MW: reg up at its conditional mean plus contingency
    in the first, contingency only in the second); ``down_in_down``: the reg-down deployment
    requested in the down sub-period (MW). A sub-period of zero share must request nothing.
    An SoC ``e_mwh`` (MWh) within [E_min, E_max] stays there (to 1e-9 MWh).

    Deployment has priority: where power or SoC limits bind, the base point is cut towards zero
    first (one value for the whole interval), then the up (or down) deployment, by one factor over
    both sub-periods. Self-discharge stops at the SoC floor (:func:`kept_energy`). Should the
    cuts still leave a limit broken (a contingency event, reg down and the SoC floor at once),
    the interval delivers the base point alone.

    Where nothing binds (the common case) the base point and the deployment go through as asked;
    the cuts (:func:`_with_cuts`) run only where something does, with the same arithmetic.
    """
    p_ch, p_dis, e_min, e_max, eta_c, eta_d, _, dt = limits
    mn, mx = ops.minimum, ops.maximum
    w_dn = 1.0 - w_up
    b = mn(mx(base_mw, -p_ch), p_dis)
    e_kept = kept_energy(limits, e_mwh, ops)
    p_up = b + up_in_up
    p_dn = b + up_in_down - down_in_down
    discharge = w_up * mx(p_up, 0.0) + w_dn * mx(p_dn, 0.0)
    charge = w_up * mx(-p_up, 0.0) + w_dn * mx(-p_dn, 0.0)
    e_next = e_kept + eta_c * dt * charge - dt / eta_d * discharge
    fits = ((p_up <= p_dis + _TOL) & (p_dn >= -p_ch - _TOL) & (p_dn <= p_dis + _TOL) & (p_up >= -p_ch - _TOL)
            & (e_next >= mn(e_min, e_kept) - _TOL) & (e_next <= mx(e_max, e_kept) + _TOL))
    if ops is SCALAR_OPS:
        return Flows(e_next, charge, discharge, 1.0, 1.0, b) if fits else _with_cuts(
            limits, e_mwh, base_mw, w_up, up_in_up, up_in_down, down_in_down, ops)
    shape = np.shape(e_next)
    flows = Flows(e_next, charge, discharge, np.ones(shape), np.ones(shape), b)
    cut = np.flatnonzero(~fits)
    if len(cut):
        inputs = (np.broadcast_to(v, shape)[cut] for v in (e_mwh, base_mw, w_up, up_in_up, up_in_down, down_in_down))
        for full, part in zip(flows, _with_cuts(limits, *inputs, ops)):
            full[cut] = part
    return flows


def _down_scale(
    limits: Limits, b: Any, scale_up: Any, w_up: Any, up_in_up: Any, up_in_down: Any, down_in_down: Any,
    room_ch: Any, ops: Ops,
) -> Any:
    """The largest share in [0, 1] of the down deployment that the charge power and the SoC
    ceiling allow, given the base point and the delivered share of the up deployment."""
    p_ch, _, _, _, eta_c, eta_d, _, dt = limits
    mn, mx = ops.minimum, ops.maximum
    w_dn = 1.0 - w_up
    p_up, up_dn = b + scale_up * up_in_up, b + scale_up * up_in_down
    scale = (up_dn + p_ch) / mx(down_in_down, _TINY)
    reach = -1.0 / _TINY
    for pi_up, pi_dn in ((1 / eta_d, 1 / eta_d), (1 / eta_d, eta_c), (eta_c, 1 / eta_d), (eta_c, eta_c)):
        # SoC use falls as reg down rises: the largest of the four pieces decides
        slope = dt * w_dn * pi_dn * down_in_down
        offset = dt * (w_up * pi_up * p_up + w_dn * pi_dn * up_dn)
        reach = mx(reach, (offset + room_ch) / mx(slope, _TINY))
    return mx(mn(mn(scale, reach), 1.0), 0.0)


def _with_cuts(
    limits: Limits, e_mwh: Any, base_mw: Any, w_up: Any, up_in_up: Any, up_in_down: Any, down_in_down: Any, ops: Ops,
) -> Flows:
    """:func:`interval_flows` where a limit binds: the base point cut first, then deployment."""
    p_ch, p_dis, e_min, e_max, eta_c, eta_d, _, dt = limits
    mn, mx = ops.minimum, ops.maximum
    w_dn = 1.0 - w_up
    b = mn(mx(base_mw, -p_ch), p_dis)
    e_kept = kept_energy(limits, e_mwh, ops)
    room_dis = mx(e_kept - e_min, 0.0)  # MWh the flows may take out
    room_ch = mx(e_max - e_kept, 0.0)  # MWh the flows may put in
    net_up, net_dn = up_in_up, up_in_down - down_in_down
    pieces = ((1 / eta_d, 1 / eta_d), (1 / eta_d, eta_c), (eta_c, 1 / eta_d), (eta_c, eta_c))

    # 1. the base point: the range every sub-period's power and the interval's SoC allow
    hi = mn(p_dis - net_up, p_dis - net_dn)
    lo_soc = None
    for pi_up, pi_dn in pieces:  # SoC use is the largest of four affine pieces, increasing in b
        slope = dt * (w_up * pi_up + w_dn * pi_dn)
        offset = dt * (w_up * pi_up * net_up + w_dn * pi_dn * net_dn)
        hi = mn(hi, (room_dis - offset) / slope)  # every piece within the room out
        reach = (-room_ch - offset) / slope  # some piece at or above the room in
        lo_soc = reach if lo_soc is None else mn(lo_soc, reach)
    lo = mx(mx(-p_ch - net_up, -p_ch - net_dn), lo_soc)
    b = mx(mn(b, mx(hi, 0.0)), mn(lo, 0.0))  # cut towards zero, never past it

    # 2. the deployment: down as far as it fits with no up deployment (the least room it can
    # have), then up as far as it fits with that much down, then down again with that much up
    # (it can only grow: up deployment makes room for it), so no step undoes an earlier one
    scale_dn = _down_scale(limits, b, 0.0, w_up, up_in_up, up_in_down, down_in_down, room_ch, ops)
    scale_up = mn((p_dis - b) / mx(up_in_up, _TINY), (p_dis - b + scale_dn * down_in_down) / mx(up_in_down, _TINY))
    for pi_up, pi_dn in pieces:
        slope = dt * (w_up * pi_up * up_in_up + w_dn * pi_dn * up_in_down)
        offset = dt * (w_up * pi_up * b + w_dn * pi_dn * (b - scale_dn * down_in_down))
        scale_up = mn(scale_up, (room_dis - offset) / mx(slope, _TINY))
    scale_up = mx(mn(scale_up, 1.0), 0.0)
    scale_dn = _down_scale(limits, b, scale_up, w_up, up_in_up, up_in_down, down_in_down, room_ch, ops)
    p_up = b + scale_up * up_in_up
    p_dn = b + scale_up * up_in_down - scale_dn * down_in_down

    discharge = w_up * mx(p_up, 0.0) + w_dn * mx(p_dn, 0.0)
    charge = w_up * mx(-p_up, 0.0) + w_dn * mx(-p_dn, 0.0)
    e_next = e_kept + eta_c * dt * charge - dt / eta_d * discharge
    broken = (e_next < e_kept - room_dis - _TOL) | (e_next > e_kept + room_ch + _TOL) | (
        p_dn < -p_ch - _TOL) | (p_up > p_dis + _TOL)
    if ops is SCALAR_OPS and not broken:
        return Flows(e_next, charge, discharge, scale_up, scale_dn, b)
    # 3. the rare case the cuts cannot mend: the base point alone, within the SoC's room
    alone = base_alone(limits, e_mwh, base_mw, ops)
    where = ops.where
    scale_up, scale_dn, b = where(broken, 0.0, scale_up), where(broken, 0.0, scale_dn), where(broken, alone, b)
    discharge = where(broken, mx(alone, 0.0), discharge)
    charge = where(broken, mx(-alone, 0.0), charge)
    e_next = e_kept + eta_c * dt * charge - dt / eta_d * discharge
    return Flows(e_next, charge, discharge, scale_up, scale_dn, b)
