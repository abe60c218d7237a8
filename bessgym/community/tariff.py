"""The utility's prices for a home: what it pays per kWh imported and gets per kWh exported.

Two profiles (``TARIFFS``), both with the homes' own time-of-use import price (the shipped
dataset's, ``bessgym.community.data.Homes.tou_usd_per_kwh``):

* ``net_metering``: every kWh exported is credited at the import price of its hour (NEM 1.0 / 2.0
  style retail credit). Local trading can only move money between neighbours at prices between
  the two, which here coincide: the auction has nothing to gain over the utility.
* ``wholesale_export``: exports are credited at the CAISO SP15 day-ahead price of their hour
  (the shipped data, ``caiso-sp15``; $/MWh / 1000), floored at 0 (NEM 3.0 style avoided-cost
  credit). The gap between import and export prices is what a neighbourhood market can share.

Prices are $/kWh per hour of the homes' year (8,760 hours, hour-ending rows read as hour starts
of local standard time, UTC-8).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np

TARIFFS = ("net_metering", "wholesale_export")
STANDARD_UTC_OFFSET_H = -8
CAISO_PRESET = "caiso-sp15"


@dataclass(frozen=True)
class Tariff:
    """A home's prices ($/kWh) for each hour: ``import_usd_per_kwh`` (n,), ``export_usd_per_kwh``
    (n,), never above the import price (a home cannot profit by importing to export)."""

    name: str
    import_usd_per_kwh: np.ndarray
    export_usd_per_kwh: np.ndarray

    def __post_init__(self) -> None:
        imp = np.asarray(self.import_usd_per_kwh, dtype=float)
        exp = np.asarray(self.export_usd_per_kwh, dtype=float)
        if imp.ndim != 1 or imp.shape != exp.shape or not (np.isfinite(imp).all() and np.isfinite(exp).all()):
            raise ValueError(f"Tariff {self.name!r}: import and export prices must be finite 1-D arrays of one length, "
                             f"got shapes {imp.shape} and {exp.shape}")
        if (exp > imp + 1e-12).any():
            hour = int(np.argmax(exp > imp + 1e-12))
            raise ValueError(f"Tariff {self.name!r}: export price {exp[hour]} $/kWh exceeds the import price {imp[hour]} "
                             f"at hour {hour}; allowed: export <= import")
        object.__setattr__(self, "import_usd_per_kwh", imp)
        object.__setattr__(self, "export_usd_per_kwh", exp)


def utility_usd(import_kwh: Any, export_kwh: Any, import_usd_per_kwh: Any, export_usd_per_kwh: Any) -> Any:
    """What a home pays the utility ($, + = paid): its imports (kWh) at the import price, less its
    exports (kWh) credited at the export price (arrays broadcast)."""
    return import_kwh * import_usd_per_kwh - export_kwh * export_usd_per_kwh


def make_tariff(name: str, tou_usd_per_kwh: np.ndarray, month: np.ndarray, day: np.ndarray, hour: np.ndarray) -> Tariff:
    """The profile ``name`` (one of :data:`TARIFFS`) for hours of the homes' year: its TOU import
    price (n,) $/kWh and each hour's calendar ``month``, ``day`` (of a non-leap year) and ``hour``
    (0..23, local standard time)."""
    tou = np.asarray(tou_usd_per_kwh, dtype=float)
    if name == "net_metering":
        return Tariff(name, tou, tou.copy())
    if name == "wholesale_export":
        wholesale = np.maximum(caiso_da_usd_per_kwh(month, day, hour), 0.0)
        return Tariff(name, tou, np.minimum(wholesale, tou))
    raise ValueError(f"tariff {name!r} is not one of {list(TARIFFS)}")


def caiso_da_usd_per_kwh(month: np.ndarray, day: np.ndarray, hour: np.ndarray) -> np.ndarray:
    """The shipped CAISO SP15 day-ahead price ($/kWh) of each calendar hour (month, day, hour of
    local standard time): the hour's price on that date in the first year the data cover it
    (2023 from 12 January, 2024 before), read on the market's local clock (daylight saving
    included)."""
    from bessgym.scenarios import ScenarioSet

    history = ScenarioSet(CAISO_PRESET).history("all")
    tz = "America/Los_Angeles"
    out = np.empty(len(month))
    for i, (m, d, h) in enumerate(zip(np.asarray(month), np.asarray(day), np.asarray(hour))):
        for year in (history.start.year, history.start.year + 1):
            standard = dt.datetime(year, int(m), int(d), int(h))
            local = _local(standard, tz)
            index = (local.date() - history.start).days
            if 0 <= index < history.n_days and np.isfinite(history.da[index, local.hour]):
                out[i] = history.da[index, local.hour] / 1000.0
                break
        else:
            raise ValueError(f"no CAISO day-ahead price for {int(m)}/{int(d)} hour {int(h)} in the shipped data")
    return out


def _local(standard: dt.datetime, tz: str) -> dt.datetime:
    """A naive local-standard-time datetime on the market's wall clock."""
    from zoneinfo import ZoneInfo

    utc = standard - dt.timedelta(hours=STANDARD_UTC_OFFSET_H)
    return utc.replace(tzinfo=dt.timezone.utc).astimezone(ZoneInfo(tz))
