"""Shipped data for the generalised-storage fleets (issue 19): EV charging sessions, EV specs and
arrival statistics, and a typical meteorological year of outdoor temperatures in the price data's
region. Each loader reads a file under `bessgym/data/ges/` (see PROVENANCE.md) and refuses a
malformed one with a `DataError` naming file, column, value and what is allowed. Times come back
as tz-aware UTC timestamps; energies in kWh, powers in kW, temperatures in degC.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bessgym._paths import DATA_DIR
from bessgym.scenarios import DataError

GES_DIR = DATA_DIR / "ges"
EV_SESSIONS_FILE = GES_DIR / "acn_caltech_2019-05_2019-12_sessions.csv.gz"
EV_SPECS_FILE = GES_DIR / "ev2gym_fleet_stats.json"
TMY_FILE = GES_DIR / "tmy3_san_diego_brown_field_722904_hourly.csv.gz"
TMY_UTC_OFFSET_H = -8.0  # the TMY's clock: local standard time, no daylight saving
SITE_TZ = "America/Los_Angeles"
# Level-2 ceiling (32 A x 240 V): no session can average more over its plugged time. The shipped
# Caltech sessions peak at 6.96 kW session-mean power.
EVSE_MAX_POWER_KW = 7.68

_SESSION_COLUMNS = ["session_id", "site", "station_id", "arrival_utc", "departure_utc", "energy_kwh",
                    "requested_energy_kwh", "requested_departure_utc"]
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def column_error(path: Path, column: str, value: object, allowed: str) -> DataError:
    """The error of a shipped data file whose ``column`` holds ``value``, naming what is allowed."""
    return DataError(f"{path.name}: column {column!r} has {value!r}; allowed: {allowed}")


def read_table(path: Path, columns: list[str]) -> pd.DataFrame:
    """A shipped CSV (gzip or plain) as strings, refused unless it has exactly ``columns`` and a row."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such data file (see bessgym/data/PROVENANCE.md)")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, EOFError) as exc:
        raise DataError(f"{Path(path).name}: not a readable CSV ({type(exc).__name__}: {exc})") from exc
    if list(frame.columns) != columns:
        raise DataError(f"{Path(path).name}: columns {list(frame.columns)}; expected exactly {columns}")
    if frame.empty:
        raise DataError(f"{Path(path).name}: no rows")
    return frame


def _times(path: Path, frame: pd.DataFrame, column: str, optional: bool = False) -> pd.Series:
    raw = frame[column]
    present = raw != ""
    if not optional and not present.all():
        raise column_error(path, column, "", f"a UTC time {_TIME_FORMAT} in every row")
    parsed = pd.to_datetime(raw.where(present), format=_TIME_FORMAT, errors="coerce", utc=True)
    bad = present & parsed.isna()
    if bad.any():
        raise column_error(path, column, raw[bad].iloc[0], f"a UTC time {_TIME_FORMAT}")
    return parsed


def _numbers(path: Path, frame: pd.DataFrame, column: str, optional: bool = False) -> pd.Series:
    raw = frame[column]
    present = raw != ""
    if not optional and not present.all():
        raise column_error(path, column, "", "a number in every row")
    values = pd.to_numeric(raw.where(present), errors="coerce")
    bad = present & ~np.isfinite(values)
    if bad.any():
        raise column_error(path, column, raw[bad].iloc[0], "a finite number")
    return values.astype(float)


def load_ev_sessions(path: Path = EV_SESSIONS_FILE) -> pd.DataFrame:
    """One row per ACN-Data charging session, sorted by arrival.

    Columns: session_id, site, station_id (str); arrival, departure, requested_departure
    (tz-aware UTC; `requested_departure` NaT where the driver gave no input); energy_kwh (delivered,
    > 0); requested_energy_kwh (NaN where no input). Local time of the site is `SITE_TZ`.
    Refused: missing fields, departure not after arrival, energy <= 0 or above
    EVSE_MAX_POWER_KW x plugged hours, a request given only in part, duplicate session ids.
    """
    path = Path(path)
    frame = read_table(path, _SESSION_COLUMNS)
    for column in ("session_id", "site", "station_id"):
        if (frame[column] == "").any():
            raise column_error(path, column, "", "a non-empty id in every row")
    duplicated = frame["session_id"].duplicated()
    if duplicated.any():
        raise column_error(path, "session_id", frame["session_id"][duplicated].iloc[0], "unique ids")
    arrival = _times(path, frame, "arrival_utc")
    departure = _times(path, frame, "departure_utc")
    requested_departure = _times(path, frame, "requested_departure_utc", optional=True)
    energy = _numbers(path, frame, "energy_kwh")
    requested = _numbers(path, frame, "requested_energy_kwh", optional=True)
    hours = (departure - arrival).dt.total_seconds() / 3600.0
    if (hours <= 0).any():
        row = frame[hours <= 0].iloc[0]
        raise column_error(path, "departure_utc", row["departure_utc"], f"a time after arrival_utc {row['arrival_utc']}")
    if (energy <= 0).any():
        raise column_error(path, "energy_kwh", frame["energy_kwh"][energy <= 0].iloc[0], "> 0 kWh")
    over = energy > EVSE_MAX_POWER_KW * hours + 1e-9
    if over.any():
        i = over.idxmax()
        raise column_error(path, "energy_kwh", frame["energy_kwh"][i],
                    f"<= {EVSE_MAX_POWER_KW} kW x {hours[i]:.4f} h plugged = {EVSE_MAX_POWER_KW * hours[i]:.3f} kWh")
    partial = requested.isna() != requested_departure.isna()
    if partial.any():
        raise column_error(path, "requested_energy_kwh", frame["requested_energy_kwh"][partial].iloc[0],
                    "present exactly where requested_departure_utc is present")
    if (requested <= 0).any():
        raise column_error(path, "requested_energy_kwh", frame["requested_energy_kwh"][requested <= 0].iloc[0], "> 0 kWh")
    sessions = pd.DataFrame({
        "session_id": frame["session_id"], "site": frame["site"], "station_id": frame["station_id"],
        "arrival": arrival, "departure": departure, "energy_kwh": energy,
        "requested_energy_kwh": requested, "requested_departure": requested_departure,
    })
    return sessions.sort_values(["arrival", "session_id"], kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class EVFleetStats:
    """EV specs and arrival statistics (ev2gym 2.0.0; ElaadNL, Netherlands; MIT).

    specs: per model (index) registrations, battery_kwh, max_ac_charge_kw, max_dc_charge_kw,
    max_ac_discharge_kw, max_dc_discharge_kw, with `registration_share` summing to 1; v2g_specs: the
    same for ev2gym's V2G-capable 2024 list. arrival_share_pct: 96 local 15-minute slots (index
    'HH:MM') x weekday_/weekend_ private/public/workplace columns, each column summing to 100.
    by_arrival: 48 half-hour slots x mean_energy_kwh_* and mean_session_hours_* (home/public/work;
    NaN where the source has no value).
    """

    specs: pd.DataFrame
    v2g_specs: pd.DataFrame
    arrival_share_pct: pd.DataFrame
    by_arrival: pd.DataFrame


_SPEC_FIELDS = {"number_of_registrations": "registrations", "battery_capacity": "battery_kwh",
                "max_ac_charge_power": "max_ac_charge_kw", "max_dc_charge_power": "max_dc_charge_kw",
                "max_ac_discharge_power": "max_ac_discharge_kw", "max_dc_discharge_power": "max_dc_discharge_kw"}


def _spec_table(path: Path, key: str, raw: object) -> pd.DataFrame:
    if not isinstance(raw, dict) or not raw:
        raise column_error(path, key, type(raw).__name__, "a non-empty object of EV models")
    rows = {}
    for model, spec in raw.items():
        row = {}
        for field, name in _SPEC_FIELDS.items():
            value = spec.get(field) if isinstance(spec, dict) else None
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
                raise column_error(path, f"{key}.{model}.{field}", value, "a finite number >= 0")
            row[name] = float(value)
        for name in ("registrations", "battery_kwh", "max_ac_charge_kw"):
            if row[name] <= 0:
                raise column_error(path, f"{key}.{model}", row[name], f"{name} > 0")
        rows[model] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table["registration_share"] = table["registrations"] / table["registrations"].sum()
    return table


def _profile(path: Path, key: str, values: object, length: int, total: float | None) -> list[float]:
    if not isinstance(values, list) or len(values) != length:
        raise column_error(path, key, f"{type(values).__name__} of length {len(values) if isinstance(values, list) else '-'}",
                    f"a list of {length} values")
    array = np.array([np.nan if v is None else v for v in values], dtype=float)
    if (array[~np.isnan(array)] < 0).any():
        raise column_error(path, key, float(array[~np.isnan(array)].min()), "values >= 0")
    if total is not None and (np.isnan(array).any() or abs(array.sum() - total) > 1e-6):
        raise column_error(path, key, f"sum {np.nansum(array):.6f}", f"no nulls and a sum of {total}")
    return list(array)


def _slots(path: Path, key: str, table: object, count: int, allowed: str) -> list:
    """The ``slot_start_local`` list of table ``key``, refused unless it has ``count`` entries."""
    slots = table.get("slot_start_local") if isinstance(table, dict) else None
    if not isinstance(slots, list) or len(slots) != count:
        raise column_error(path, f"{key}.slot_start_local", slots if not isinstance(slots, list) else len(slots), allowed)
    return slots


def read_json(path: Path) -> object:
    """A shipped JSON file, refused (DataError) unless it parses."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such data file (see bessgym/data/PROVENANCE.md)")
    try:
        return json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path.name}: not valid JSON ({exc})") from exc


def load_ev_specs(path: Path = EV_SPECS_FILE) -> EVFleetStats:
    """EV specs and arrival statistics for a fleet model; see `EVFleetStats`."""
    path = Path(path)
    doc = read_json(path)
    if not isinstance(doc, dict):
        raise column_error(path, "<top level>", type(doc).__name__, "a JSON object")
    for key in ("ev_specs", "ev_specs_v2g_2024", "arrival_share_pct", "by_arrival_30min"):
        if key not in doc:
            raise column_error(path, key, None, "present")
    arrivals = doc["arrival_share_pct"]
    slots = _slots(path, "arrival_share_pct", arrivals, 96, "96 local 15-minute slot starts")
    share = {}
    for day in ("weekday", "weekend"):
        for kind, values in (arrivals.get(day) or {}).items():
            share[f"{day}_{kind}"] = _profile(path, f"arrival_share_pct.{day}.{kind}", values, 96, 100.0)
    if not any(c.startswith("weekday_") for c in share) or not any(c.startswith("weekend_") for c in share):
        raise column_error(path, "arrival_share_pct", sorted(share), "weekday_ and weekend_ profiles")
    by = doc["by_arrival_30min"]
    half = _slots(path, "by_arrival_30min", by, 48, "48 local half-hour slot starts")
    columns = {}
    for field in ("mean_energy_kwh", "mean_session_hours"):
        for kind, values in (by.get(field) or {}).items():
            columns[f"{field}_{kind}"] = _profile(path, f"by_arrival_30min.{field}.{kind}", values, 48, None)
    if not columns:
        raise column_error(path, "by_arrival_30min", None, "mean_energy_kwh and mean_session_hours profiles")
    return EVFleetStats(
        specs=_spec_table(path, "ev_specs", doc["ev_specs"]),
        v2g_specs=_spec_table(path, "ev_specs_v2g_2024", doc["ev_specs_v2g_2024"]),
        arrival_share_pct=pd.DataFrame(share, index=pd.Index(slots, name="slot_start_local")),
        by_arrival=pd.DataFrame(columns, index=pd.Index(half, name="slot_start_local")),
    )


def load_tmy(path: Path = TMY_FILE) -> np.ndarray:
    """The typical-year dry-bulb temperature (365, 24) degC by day of a non-leap year and hour
    ending 1..24 of local standard time. Refused: other than 8,760 rows in calendar order, or a
    temperature outside [-60, 60] degC."""
    path = Path(path)
    frame = read_table(path, ["month", "day", "hour_ending", "dry_bulb_c"])
    if len(frame) != 8760:
        raise column_error(path, "<rows>", len(frame), "8760 hourly rows (a non-leap year)")
    stamps = pd.date_range("2001-01-01 01:00", periods=8760, freq="h") - pd.Timedelta(hours=1)
    for column, expected in (("month", stamps.month), ("day", stamps.day), ("hour_ending", stamps.hour + 1)):
        got = pd.to_numeric(frame[column], errors="coerce").to_numpy()
        bad = got != np.asarray(expected)
        if bad.any():
            raise column_error(path, column, frame[column].iloc[int(np.argmax(bad))], f"{int(np.asarray(expected)[np.argmax(bad)])} (rows in calendar order)")
    temperature = _numbers(path, frame, "dry_bulb_c").to_numpy()
    if (np.abs(temperature) > 60).any():
        raise column_error(path, "dry_bulb_c", temperature[np.abs(temperature) > 60][0], "within [-60, 60] degC")
    return temperature.reshape(365, 24)


def outdoor_temperature(start: pd.Timestamp, n: int, dt_h: float, tmy: np.ndarray | None = None) -> np.ndarray:
    """Outdoor temperature (n,) degC at the midpoints of ``n`` intervals of ``dt_h`` hours from
    ``start`` (tz-aware): the typical year's hourly values, read on its standard-time clock and
    interpolated linearly (the hour ending h holds at h:00; 29 February reads 28 February)."""
    if start.tzinfo is None:
        raise ValueError(f"start must be tz-aware, got {start}")
    table = load_tmy() if tmy is None else tmy
    mid = start.tz_convert("UTC").tz_localize(None) + pd.Timedelta(hours=TMY_UTC_OFFSET_H) + pd.to_timedelta((np.arange(n) + 0.5) * dt_h, unit="h")
    day_of_year = np.where(mid.is_leap_year & (mid.day_of_year > 59), mid.day_of_year - 1, mid.day_of_year) - 1
    day_of_year = np.minimum(day_of_year, 364)
    hours = (day_of_year * 24 + mid.hour + mid.minute / 60 + mid.second / 3600).to_numpy(float)
    series = table.reshape(-1)  # series[i] holds at hour i + 1 of the year
    return np.interp(hours % 8760, np.arange(1, 8761), series, period=8760)
