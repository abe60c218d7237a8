"""Market profiles, ancillary-service products and the day-ahead bid the market accepts.

Every array over products uses the fixed order of :data:`PRODUCTS`; a profile that does not
offer a product simply never awards it. Up products (reg up, spin, non-spin) discharge when
deployed, reg down charges.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal
import zoneinfo

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, model_validator

from bessgym._paths import DATA_DIR
from bessgym.battery import NUMPY_OPS, SCALAR_OPS, Battery, Ops

if TYPE_CHECKING:
    from bessgym.ges import GES

PRODUCTS: tuple[str, ...] = ("reg_up", "reg_down", "spin", "nonspin")
N_PRODUCTS = len(PRODUCTS)
UP_MASK = np.array([True, False, True, True])
"""Products whose deployment discharges the battery."""
UP_INDEX: tuple[int, ...] = tuple(int(i) for i in np.flatnonzero(UP_MASK))
DOWN_INDEX: int = PRODUCTS.index("reg_down")
HOURS = 24
RULE_TOL = 1e-6
"""MW or MWh a market rule forgives (solver tolerances), never more."""

Product = Literal["reg_up", "reg_down", "spin", "nonspin"]


PRICE_LIMIT_USD_PER_MWH = 1e6  # no market's cap or floor is beyond; a profile's band of plausible prices derives from them


def check_timezone(name: str, field: str) -> None:
    """Refuse ``name`` unless it is an IANA time zone, with a ValueError naming ``field``."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # 'Pacific' names a folder of zones: OSError
        raise ValueError(f"{field} {name!r} is not an IANA time zone name (e.g. America/Los_Angeles, America/New_York, "
                         "UTC); list them with: python -c \"import zoneinfo; print(sorted(zoneinfo.available_timezones()))\"") \
            from None


class MarketProfile(BaseModel):
    """Rules of one market. Prices in $/MWh, SoC durations in hours."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    name: str
    description: str = ""
    products: tuple[Product, ...] = PRODUCTS
    duration_h: dict[Product, StrictFloat] = Field(
        default_factory=lambda: {"reg_up": 1.0, "reg_down": 1.0, "spin": 0.5, "nonspin": 0.5},
        description="hours of full deployment the SoC must sustain per product: > 0 for an offered "
        "product; a product not offered may say 0 (it is never awarded, so its duration is unused)",
    )
    price_cap_soft_usd_per_mwh: StrictFloat = Field(1000.0, le=PRICE_LIMIT_USD_PER_MWH)
    price_cap_hard_usd_per_mwh: StrictFloat = Field(2000.0, le=PRICE_LIMIT_USD_PER_MWH)
    price_floor_usd_per_mwh: StrictFloat = Field(-150.0, ge=-PRICE_LIMIT_USD_PER_MWH)
    penalty_factor: StrictFloat = Field(1.0, ge=0, description="kappa: multiplier on the penalty price")
    penalty_price_floor_usd_per_mwh: StrictFloat = Field(
        100.0, ge=0, description="lambda_pen: the penalty price is max(RT price, this)"
    )
    mileage_paid: StrictBool = False
    energy_backing: StrictBool = Field(
        True,
        description="DA acceptance checks the schedule's SoC and each award's duration against it, "
        "and RT availability the SoC at each interval's start; off: power only",
    )
    regulation_signal: Literal["regd", "rega"] = Field(
        "regd", description="the fitted regulation model deployment follows (bessgym.deployment)"
    )
    timezone: str = Field("UTC", description="IANA time zone of the operating day")
    settlement: Literal["da_rt", "da_fmm_rtd"] = Field(
        "da_rt",
        description="the settlement layers: 'da_rt' the hourly DA market, then one RT market at the data's interval; "
        "'da_fmm_rtd' the hourly DA market, the 15-minute FMM, then the 5-minute RTD. Each later layer settles the "
        "deviation from the one before (DESIGN 1.6)",
    )
    virtual_limit_mw: StrictFloat = Field(
        0.0, ge=0, description="the largest virtual (convergence) position per hour, MW either way: sold (+) or "
        "bought (-) in DA and reversed in the next layer at its price, no physical flow; 0: no virtual bidding",
    )

    @model_validator(mode="after")
    def _check(self) -> "MarketProfile":
        missing = [p for p in self.products if p not in self.duration_h]
        if missing:
            raise ValueError(f"duration_h has no entry for offered products {missing}")
        offered = {p: d for p, d in self.duration_h.items() if p in self.products and not d > 0}
        if offered:
            raise ValueError(f"duration_h of an offered product must be > 0 hours, got {offered}")
        unused = {p: d for p, d in self.duration_h.items() if not d >= 0}
        if unused:
            raise ValueError(f"duration_h of a product not offered must be >= 0 hours, got {unused}")
        if not self.price_floor_usd_per_mwh < self.price_cap_soft_usd_per_mwh <= self.price_cap_hard_usd_per_mwh:
            raise ValueError(
                "prices must satisfy floor < soft cap <= hard cap, got "
                f"{self.price_floor_usd_per_mwh} / {self.price_cap_soft_usd_per_mwh} / {self.price_cap_hard_usd_per_mwh} $/MWh")
        check_timezone(self.timezone, "timezone")
        return self

    @property
    def three_settlement(self) -> bool:
        """True for the DA / FMM / RTD market (:attr:`settlement` ``da_fmm_rtd``)."""
        return self.settlement == "da_fmm_rtd"

    @property
    def offered(self) -> np.ndarray:
        """Boolean mask over :data:`PRODUCTS`."""
        return np.array([p in self.products for p in PRODUCTS])

    @property
    def durations(self) -> np.ndarray:
        """SoC duration per product in :data:`PRODUCTS` order (0 for products not offered)."""
        return np.array([self.duration_h.get(p, 0.0) if p in self.products else 0.0 for p in PRODUCTS])


PROFILE_NAMES = ("caiso", "caiso3", "ercot", "pjm", "synthetic")
FMM_INTERVAL_H = 0.25
"""The FMM's interval (hours) in a three-settlement market."""
RTD_INTERVAL_H = 1 / 12
"""The RTD's interval (hours) in a three-settlement market."""


def steps_per_fmm(dt_h: float) -> int:
    """RT intervals of ``dt_h`` hours in one FMM interval (3 at 5 minutes)."""
    return int(round(FMM_INTERVAL_H / dt_h))


@lru_cache(maxsize=None)
def load_profile(name: str) -> MarketProfile:
    """Load a shipped profile by name (one of :data:`PROFILE_NAMES`)."""
    if name not in PROFILE_NAMES:
        raise ValueError(f"market profile {name!r} is unknown; choose one of {list(PROFILE_NAMES)}")
    text = (DATA_DIR / "profiles" / f"{name}.json").read_text()
    return MarketProfile.model_validate(json.loads(text))


@dataclass(frozen=True)
class DABid:
    """A day-ahead position: net energy (MW, + = sell/discharge) and AS awards (MW >= 0).

    ``energy_mw`` has shape (24,) and ``as_mw`` shape (24, 4) in :data:`PRODUCTS` order; ``note``
    says how the bid was made where its maker records it (solver, status, seconds, fallback);
    ``virtual_mw`` (24,) the virtual position (MW, + = sold in DA and bought back in the next
    layer; no physical flow), zeros by default.
    """

    energy_mw: np.ndarray
    as_mw: np.ndarray
    note: dict[str, Any] = field(default_factory=dict, compare=False)
    virtual_mw: np.ndarray = field(default_factory=lambda: np.zeros(HOURS))

    @classmethod
    def idle(cls, note: dict[str, Any] | None = None) -> "DABid":
        return cls(np.zeros(HOURS), np.zeros((HOURS, N_PRODUCTS)), note or {})

    def __post_init__(self) -> None:
        for name, shape in (("energy_mw", (HOURS,)), ("as_mw", (HOURS, N_PRODUCTS)), ("virtual_mw", (HOURS,))):
            value = np.asarray(getattr(self, name), dtype=float)
            if value.shape != shape:
                raise ValueError(f"DABid.{name} must have shape {shape}, got {value.shape}")
            if not np.all(np.isfinite(value)):
                raise ValueError(f"DABid.{name} contains NaN or inf at hours {np.flatnonzero(~np.isfinite(value).reshape(HOURS, -1).all(1)).tolist()}")
            object.__setattr__(self, name, value)


@dataclass(frozen=True)
class BidCuts:
    """What the market removed from a submitted bid (MW, >= 0, same shapes as DABid)."""

    energy_mw: np.ndarray
    as_mw: np.ndarray
    virtual_mw: np.ndarray = field(default_factory=lambda: np.zeros(HOURS))

    @property
    def any(self) -> bool:
        return bool(self.energy_mw.any() or self.as_mw.any() or self.virtual_mw.any())

    @property
    def total_mw(self) -> float:
        """Everything cut, MW summed over hours and products."""
        return float(self.energy_mw.sum() + self.as_mw.sum() + self.virtual_mw.sum())


def planned_energy(battery: Battery, energy_mw: np.ndarray) -> np.ndarray:
    """SoC (MWh) at the start of each hour and at the end of the day if ``energy_mw`` (..., 24)
    is followed, via :meth:`Battery.next_energy`; SoC limits are not applied. Shape (..., 25)."""
    e = np.empty(energy_mw.shape[:-1] + (HOURS + 1,))
    e[..., 0] = battery.e_initial_mwh
    for h in range(HOURS):
        x = energy_mw[..., h]
        e[..., h + 1] = battery.next_energy(e[..., h], np.maximum(-x, 0.0), np.maximum(x, 0.0), 1.0)
    return e


def accept_bid(bid: DABid, battery: Battery, market: MarketProfile) -> tuple[DABid, BidCuts]:
    """Project a submitted bid onto what the market accepts (see :func:`accept_arrays` and
    :func:`accept_virtual`)."""
    x, r = accept_arrays(bid.energy_mw, bid.as_mw, battery, market)
    v = accept_virtual(bid.virtual_mw, market)
    cuts = BidCuts(np.abs(bid.energy_mw - x), np.abs(bid.as_mw - r), np.abs(bid.virtual_mw - v))  # a negative award cut to 0 counts
    return DABid(x, r, virtual_mw=v), cuts


def accept_virtual(virtual_mw: np.ndarray, market: MarketProfile) -> np.ndarray:
    """Virtual positions (..., 24) cut to the profile's ``virtual_limit_mw`` either way."""
    return np.clip(virtual_mw, -market.virtual_limit_mw, market.virtual_limit_mw)


def accept_fmm(fmm_mw: Any, award_up_mw: Any, award_down_mw: Any, battery: Battery, ops: Ops = NUMPY_OPS) -> Any:
    """FMM positions (MW, + = sell) the market accepts from a resource holding awards (MW) of
    ``award_up_mw`` up and ``award_down_mw`` down: the power rule of the DA bid (DESIGN 1.4),
    ``f + R_up <= P_dis`` and ``f - R_dn >= -P_ch``; the rest is cut. Floats (``SCALAR_OPS``) or
    arrays (``NUMPY_OPS``)."""
    mn, mx = ops.minimum, ops.maximum
    return mx(mn(fmm_mw, battery.p_discharge_mw - award_up_mw), award_down_mw - battery.p_charge_mw)


def accept_arrays(
    energy_mw: np.ndarray, as_mw: np.ndarray, battery: Battery, market: MarketProfile
) -> tuple[np.ndarray, np.ndarray]:
    """Accepted (energy (..., 24), awards (..., 24, 4)) for submitted arrays (DESIGN 1.4).

    The market accepts what the resource can physically back, cutting in this order:

    1. energy to the battery's power, ``[-P_ch, P_dis]``;
    2. with ``energy_backing``: energy hour by hour so that the SoC the schedule plans from the
       initial SoC stays within ``[E_min, E_max]`` (self-discharge alone may take it lower);
    3. awards to >= 0 and to offered products, then to registered power: the up products share
       ``P_dis - x`` pro rata, reg down gets at most ``P_ch + x``;
    4. with ``energy_backing``: awards to the SoC room of the hour, the lowest (highest) planned
       SoC of the hour sustaining full deployment for each product's duration: the up products
       share ``(e_low - E_min) eta_d`` of MWh pro rata, ``sum_a r_a D_a <= that``; reg down
       ``r D eta_c <= E_max - e_high``.

    A bid within :data:`RULE_TOL` of a limit is not cut.
    """
    tol = RULE_TOL
    x = np.clip(energy_mw, -battery.p_charge_mw, battery.p_discharge_mw)
    r = np.where(market.offered, np.maximum(as_mw, 0.0), 0.0)
    if market.energy_backing:
        x, e = _backed_schedule(battery, x, tol)
    up_total = r[..., UP_MASK].sum(axis=-1)
    up_room = np.maximum(battery.p_discharge_mw - x, 0.0)
    r[..., UP_MASK] *= _scale(up_total, up_room, tol)[..., None]
    down_room = np.maximum(battery.p_charge_mw + x, 0.0)
    r[..., DOWN_INDEX] *= _scale(r[..., DOWN_INDEX], down_room, tol)
    if market.energy_backing:
        mwh = backing_mwh_per_mw(battery, market)
        low = np.maximum(np.minimum(e[..., :-1], e[..., 1:]) - battery.e_min_mwh, 0.0)
        high = np.maximum(battery.e_max_mwh - np.maximum(e[..., :-1], e[..., 1:]), 0.0)
        r[..., UP_MASK] *= _scale((r[..., UP_MASK] * mwh[UP_MASK]).sum(axis=-1), low, tol)[..., None]
        r[..., DOWN_INDEX] *= _scale(r[..., DOWN_INDEX] * mwh[DOWN_INDEX], high, tol)
    return x, r


def backing_mwh_per_mw(battery: "Battery | GES", market: MarketProfile) -> np.ndarray:
    """MWh of SoC room (above the floor for the up products, below the ceiling for reg down) that
    one MW of each product's award needs to sustain full deployment for its duration: ``D_a /
    eta_d`` up, ``D_RD eta_c`` down; zeros without ``energy_backing`` (PRODUCTS order). A battery
    or a generalised storage (:class:`bessgym.ges.GES`): their efficiencies."""
    if not market.energy_backing:
        return np.zeros(len(UP_MASK))
    return np.where(UP_MASK, market.durations / battery.eta_discharge, market.durations * battery.eta_charge)


def _scale(need: np.ndarray, room: np.ndarray, tol: float) -> np.ndarray:
    """The factor that fits ``need`` into ``room`` (1 where it fits within ``tol``)."""
    return np.where(need > room + tol, room / np.where(need > 0, need, 1.0), 1.0)


def _backed_schedule(battery: Battery, x: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Energy cut hour by hour so the planned SoC stays within its bounds; (x, SoC (..., 25)).
    One day runs on Python floats, a batch on arrays over its leading axes (same arithmetic)."""
    keep, eta_c, eta_d = battery.retention(1.0), battery.eta_charge, battery.eta_discharge
    e_min, e_max = battery.e_min_mwh, battery.e_max_mwh
    single = x.ndim == 1
    mx, where = (SCALAR_OPS if single else NUMPY_OPS)[1:]
    hours = x.tolist() if single else list(np.moveaxis(x, -1, 0))
    e = [battery.e_initial_mwh if single else np.full(x.shape[:-1], battery.e_initial_mwh)]
    for h, xh in enumerate(hours):
        kept = keep * e[-1]
        most_out = mx(kept - e_min, 0.0) * eta_d
        most_in = mx(e_max - kept, 0.0) / eta_c
        xh = where(xh > most_out + tol, most_out, xh)
        xh = where(-xh > most_in + tol, -most_in, xh)
        hours[h] = xh
        e.append(battery.next_energy(e[-1], mx(-xh, 0.0), mx(xh, 0.0), 1.0))
    return np.stack(hours, axis=-1).astype(float), np.stack(e, axis=-1).astype(float)
