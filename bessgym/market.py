"""Market profiles, ancillary-service products and the day-ahead bid the market accepts.

Every array over products uses the fixed order of :data:`PRODUCTS`; a profile that does not
offer a product simply never awards it. Up products (reg up, spin, non-spin) discharge when
deployed, reg down charges.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from bessgym._paths import DATA_DIR
from bessgym.battery import Battery

PRODUCTS: tuple[str, ...] = ("reg_up", "reg_down", "spin", "nonspin")
N_PRODUCTS = len(PRODUCTS)
UP_MASK = np.array([True, False, True, True])
"""Products whose deployment discharges the battery."""
UP_INDEX: tuple[int, ...] = tuple(int(i) for i in np.flatnonzero(UP_MASK))
DOWN_INDEX: int = PRODUCTS.index("reg_down")
HOURS = 24

Product = Literal["reg_up", "reg_down", "spin", "nonspin"]


class MarketProfile(BaseModel):
    """Rules of one market. Prices in $/MWh, SoC durations in hours."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str = ""
    products: tuple[Product, ...] = PRODUCTS
    duration_h: dict[Product, float] = Field(
        default_factory=lambda: {"reg_up": 1.0, "reg_down": 1.0, "spin": 0.5, "nonspin": 0.5},
        description="hours of full deployment the SoC must sustain per product",
    )
    price_cap_soft_usd_per_mwh: float = 1000.0
    price_cap_hard_usd_per_mwh: float = 2000.0
    price_floor_usd_per_mwh: float = -150.0
    penalty_factor: float = Field(1.0, ge=0, description="kappa: multiplier on the penalty price")
    penalty_price_floor_usd_per_mwh: float = Field(
        100.0, ge=0, description="lambda_pen: the penalty price is max(RT price, this)"
    )
    mileage_paid: bool = False
    clip_awards_to_soc: bool = Field(
        False, description="clip AS awards at DA to what the DA-planned SoC can sustain"
    )

    @model_validator(mode="after")
    def _check(self) -> "MarketProfile":
        missing = [p for p in self.products if p not in self.duration_h]
        if missing:
            raise ValueError(f"duration_h has no entry for offered products {missing}")
        if not self.price_floor_usd_per_mwh < self.price_cap_soft_usd_per_mwh <= self.price_cap_hard_usd_per_mwh:
            raise ValueError("prices must satisfy floor < soft cap <= hard cap")
        return self

    @property
    def offered(self) -> np.ndarray:
        """Boolean mask over :data:`PRODUCTS`."""
        return np.array([p in self.products for p in PRODUCTS])

    @property
    def durations(self) -> np.ndarray:
        """SoC duration per product in :data:`PRODUCTS` order (0 for products not offered)."""
        return np.array([self.duration_h.get(p, 0.0) if p in self.products else 0.0 for p in PRODUCTS])


PROFILE_NAMES = ("caiso", "ercot", "pjm", "synthetic")


@lru_cache(maxsize=None)
def load_profile(name: str) -> MarketProfile:
    """Load a shipped profile by name (``caiso``, ``ercot``, ``pjm``, ``synthetic``)."""
    if name not in PROFILE_NAMES:
        raise ValueError(f"market profile {name!r} is unknown; choose one of {list(PROFILE_NAMES)}")
    text = (DATA_DIR / "profiles" / f"{name}.json").read_text()
    return MarketProfile.model_validate(json.loads(text))


@dataclass(frozen=True)
class DABid:
    """A day-ahead position: net energy (MW, + = sell/discharge) and AS awards (MW >= 0).

    ``energy_mw`` has shape (24,) and ``as_mw`` shape (24, 4) in :data:`PRODUCTS` order; ``note``
    says how the bid was made where its maker records it (solver, status, seconds, fallback).
    """

    energy_mw: np.ndarray
    as_mw: np.ndarray
    note: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def idle(cls, note: dict[str, Any] | None = None) -> "DABid":
        return cls(np.zeros(HOURS), np.zeros((HOURS, N_PRODUCTS)), note or {})

    def __post_init__(self) -> None:
        for name, shape in (("energy_mw", (HOURS,)), ("as_mw", (HOURS, N_PRODUCTS))):
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

    @property
    def any(self) -> bool:
        return bool(self.energy_mw.any() or self.as_mw.any())


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
    """Project a submitted bid onto what the market accepts (see :func:`accept_arrays`)."""
    x, r = accept_arrays(bid.energy_mw, bid.as_mw, battery, market)
    return DABid(x, r), BidCuts(np.abs(bid.energy_mw - x), np.maximum(bid.as_mw, 0.0) - r)


def accept_arrays(
    energy_mw: np.ndarray, as_mw: np.ndarray, battery: Battery, market: MarketProfile
) -> tuple[np.ndarray, np.ndarray]:
    """Accepted (energy (..., 24), awards (..., 24, 4)) for submitted arrays (DESIGN 1.4).

    Energy is clipped to [-P_ch, P_dis]; awards to >= 0 and to offered products; then awards
    are scaled down to fit registered power with energy first: the up products share
    ``P_dis - x`` pro rata, reg down gets at most ``P_ch + x``. With ``clip_awards_to_soc`` the
    awards are further cut so the DA-planned SoC sustains them for their duration.
    """
    x = np.clip(energy_mw, -battery.p_charge_mw, battery.p_discharge_mw)
    r = np.where(market.offered, np.maximum(as_mw, 0.0), 0.0)
    up_room = battery.p_discharge_mw - x
    down_room = battery.p_charge_mw + x
    if market.clip_awards_to_soc:
        e = planned_energy(battery, x)[..., :-1]
        up_room = np.minimum(up_room, _soc_room(e - battery.e_min_mwh, battery.eta_discharge, r, market, up=True))
        down_room = np.minimum(
            down_room, _soc_room(battery.e_max_mwh - e, 1.0 / battery.eta_charge, r, market, up=False)
        )
    up_total = r[..., UP_MASK].sum(axis=-1)
    up_room = np.maximum(up_room, 0.0)
    scale = np.where(up_total > up_room, up_room / np.where(up_total > 0, up_total, 1.0), 1.0)
    r[..., UP_MASK] *= scale[..., None]
    r[..., ~UP_MASK] = np.minimum(r[..., ~UP_MASK], np.maximum(down_room, 0.0)[..., None])
    return x, r


def _soc_room(
    headroom_mwh: np.ndarray, eta: float, r: np.ndarray, market: MarketProfile, up: bool
) -> np.ndarray:
    """Total award (MW) the energy headroom sustains, given the products' duration mix.

    The award mix ``r`` fixes an average duration ``D = sum(r_a D_a) / sum(r_a)`` over the up
    (or down) products; the room is ``headroom * eta / D`` (eta_d for up, 1/eta_c for down).
    """
    mask = UP_MASK if up else ~UP_MASK
    weights = r[..., mask]
    durations = market.durations[mask]
    total = weights.sum(axis=-1)
    safe_total = np.where(total > 0, total, 1.0)
    mean_duration = np.where(total > 0, (weights * durations).sum(axis=-1) / safe_total, durations.max())
    return np.where(
        mean_duration > 0, np.maximum(headroom_mwh, 0.0) * eta / np.maximum(mean_duration, 1e-12), np.inf
    )
