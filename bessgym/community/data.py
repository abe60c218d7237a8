"""The neighbourhood's shipped homes: measured hourly electricity use and PV output of the 17
single-family homes of the CityLearn Challenge 2022 (Fontana, California), with the dataset's
outdoor temperature and time-of-use price (see bessgym/data/PROVENANCE.md, "Neighbourhood market").

Time: 8,760 hourly rows, row ``t`` = the hour starting at ``month/day hour:00`` local standard time
(UTC-8, no daylight saving) of a non-leap year, from 31 July 23:00 through 31 July 22:00 (the data
run August to July; the year is not stated by the source). Energies are kWh per hour (= mean kW),
PV is per kW of installed PV (kWh/kWp), temperature degC, price USD/kWh.

``python -m bessgym.community.data --facts`` prints the facts quoted in PROVENANCE;
``--build WHEEL`` rebuilds the shipped files from the ``CityLearn==2.0.0`` wheel.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from bessgym._paths import DATA_DIR
from bessgym.ges_data import column_error, read_json, read_table
from bessgym.scenarios import DataError

COMMUNITY_DIR = DATA_DIR / "community"
HOMES_HOURLY = "citylearn2022_fontana_homes_hourly.csv.gz"
CONTEXT_HOURLY = "citylearn2022_fontana_context_hourly.csv.gz"
HOMES_JSON = "citylearn2022_fontana_homes.json"
HOURS = 8760
_HOMES_COLUMNS = ["t", "home", "load_kwh", "pv_wh_per_kw"]
_CONTEXT_COLUMNS = ["t", "month", "day", "hour", "weekday", "outdoor_drybulb_c", "relative_humidity_pct",
                    "diffuse_solar_w_m2", "direct_solar_w_m2", "tou_usd_per_kwh"]
# Row 0 starts at 31 July 23:00 local standard time; any non-leap year gives the same calendar.
_START = pd.Timestamp("2001-07-31 23:00")
_START_WEEKDAY = 6  # 31 July of the data is a Sunday (CityLearn day type 7); 0 = Monday


def calendar() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Month (1..12), day, hour (0..23, the hour's start) and weekday (0 = Monday) of each row."""
    stamps = _START + pd.to_timedelta(np.arange(HOURS), unit="h")
    month_day_hour = pd.DatetimeIndex([s.replace(year=2001) for s in stamps])
    days = (np.arange(HOURS) + _START.hour) // 24
    return (month_day_hour.month.to_numpy(), month_day_hour.day.to_numpy(), month_day_hour.hour.to_numpy(),
            (days + _START_WEEKDAY) % 7)


@dataclass(frozen=True)
class Homes:
    """H homes over the 8,760 rows; see the module docstring for the clock.

    ``ids`` (H,) str; ``load_kwh`` (H, 8760) electricity use in each hour, kWh, >= 0;
    ``pv_kwh_per_kwp`` (H, 8760) PV output per kW installed, kWh/kWp, >= 0; ``pv_kwp`` (H,) the
    installed PV, kW; ``battery_kwh``, ``battery_kw`` (H,) the dataset's home battery (capacity, power);
    ``month``, ``day``, ``hour``, ``weekday`` (8760,) the calendar; ``outdoor_c`` (8760,) degC;
    ``tou_usd_per_kwh`` (8760,) the dataset's time-of-use import price.
    """

    ids: np.ndarray
    load_kwh: np.ndarray
    pv_kwh_per_kwp: np.ndarray
    pv_kwp: np.ndarray
    battery_kwh: np.ndarray
    battery_kw: np.ndarray
    month: np.ndarray
    day: np.ndarray
    hour: np.ndarray
    weekday: np.ndarray
    outdoor_c: np.ndarray
    tou_usd_per_kwh: np.ndarray

    @property
    def pv_kwh(self) -> np.ndarray:
        """PV output (H, 8760) kWh at each home's installed kW."""
        return self.pv_kwh_per_kwp * self.pv_kwp[:, None]

    def select(self, ids: list[str] | tuple[str, ...]) -> Homes:
        """The homes ``ids`` in the order given."""
        index = {h: i for i, h in enumerate(self.ids)}
        unknown = [h for h in ids if h not in index]
        if unknown or len(set(ids)) != len(ids) or not ids:
            raise ValueError(f"ids {list(ids)}: allowed are distinct ids among {list(self.ids)}")
        rows = np.array([index[h] for h in ids])
        return replace(self, ids=self.ids[rows], load_kwh=self.load_kwh[rows], pv_kwh_per_kwp=self.pv_kwh_per_kwp[rows],
                       pv_kwp=self.pv_kwp[rows], battery_kwh=self.battery_kwh[rows], battery_kw=self.battery_kw[rows])

    def recombined(self, n: int, seed: int = 0) -> Homes:
        """``n`` homes for neighbourhoods larger than the data: the real homes first (load i with its own
        PV i), then ``n - H`` RECOMBINED homes, each the measured load of home i paired with the measured
        PV profile (and installed kW) of another home j != i, the pairs drawn without replacement by
        ``numpy.random.default_rng(seed)``. Every (load, PV) pair is distinct; id ``"B03+pvB11"``.
        For n <= H the first n real homes. Allowed: 1 <= n <= H**2."""
        count = len(self.ids)
        if not 1 <= n <= count * count:
            raise ValueError(f"n={n}: allowed 1..{count * count} (each load profile with each PV profile once)")
        if n <= count:
            return self.select(list(self.ids[:n]))
        off_diagonal = np.array([(i, j) for i in range(count) for j in range(count) if i != j])
        picks = off_diagonal[np.random.default_rng(seed).choice(len(off_diagonal), n - count, replace=False)]
        load = np.concatenate([np.arange(count), picks[:, 0]])
        pv = np.concatenate([np.arange(count), picks[:, 1]])
        ids = np.array([a if i == j else f"{a}+pv{b}" for i, j, a, b in zip(load, pv, self.ids[load], self.ids[pv])])
        return replace(self, ids=ids, load_kwh=self.load_kwh[load], pv_kwh_per_kwp=self.pv_kwh_per_kwp[pv],
                       pv_kwp=self.pv_kwp[pv], battery_kwh=self.battery_kwh[load], battery_kw=self.battery_kw[load])


def _numbers(path: Path, frame: pd.DataFrame, column: str, low: float, high: float) -> np.ndarray:
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(float)
    bad = ~np.isfinite(values) | (values < low) | (values > high)
    if bad.any():
        raise column_error(path, column, raw[bad].iloc[0], f"a finite number in [{low}, {high}] in every row")
    return values


def _integers(path: Path, frame: pd.DataFrame, column: str, expected: np.ndarray) -> None:
    got = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
    bad = got != expected
    if bad.any():
        i = int(np.argmax(bad))
        raise column_error(path, column, frame[column].iloc[i], f"{int(expected[i])} in row {i} (rows in the shipped order)")


def load_homes(directory: Path = COMMUNITY_DIR) -> Homes:
    """The shipped homes (17, ids B01..B17) from ``directory``; refuses a malformed file with a
    `DataError` naming file, column, value and what is allowed (8,760 rows per home in order, loads in
    [0, 50] kWh, PV in [0, 1200] Wh/kW, temperatures in [-30, 60] degC, prices in (0, 5] USD/kWh)."""
    directory = Path(directory)
    meta_path = directory / HOMES_JSON
    meta = read_json(meta_path)
    homes_meta = meta.get("homes") if isinstance(meta, dict) else None
    if not isinstance(homes_meta, dict) or not homes_meta:
        raise column_error(meta_path, "homes", homes_meta, "an object of homes")
    specs = {}
    for home, spec in homes_meta.items():
        for field in ("pv_kw", "battery_kwh", "battery_kw"):
            value = spec.get(field) if isinstance(spec, dict) else None
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1000:
                raise column_error(meta_path, f"homes.{home}.{field}", value, "a number in (0, 1000)")
        specs[home] = spec
    ids = np.array(sorted(specs))

    path = directory / HOMES_HOURLY
    frame = read_table(path, _HOMES_COLUMNS)
    if len(frame) != len(ids) * HOURS:
        raise column_error(path, "<rows>", len(frame), f"{len(ids)} homes x {HOURS} hours = {len(ids) * HOURS} rows")
    expected_home = np.repeat(ids, HOURS)
    bad = frame["home"].to_numpy() != expected_home
    if bad.any():
        i = int(np.argmax(bad))
        raise column_error(path, "home", frame["home"].iloc[i], f"{expected_home[i]!r} in row {i} (homes of the JSON, sorted, {HOURS} rows each)")
    _integers(path, frame, "t", np.tile(np.arange(HOURS), len(ids)).astype(float))
    load = _numbers(path, frame, "load_kwh", 0.0, 50.0).reshape(len(ids), HOURS)
    pv = _numbers(path, frame, "pv_wh_per_kw", 0.0, 1200.0).reshape(len(ids), HOURS) / 1000.0

    path = directory / CONTEXT_HOURLY
    frame = read_table(path, _CONTEXT_COLUMNS)
    if len(frame) != HOURS:
        raise column_error(path, "<rows>", len(frame), f"{HOURS} hourly rows (a non-leap year)")
    month, day, hour, weekday = calendar()
    for column, expected in (("t", np.arange(HOURS)), ("month", month), ("day", day), ("hour", hour), ("weekday", weekday)):
        _integers(path, frame, column, expected.astype(float))
    for column, low, high in (("relative_humidity_pct", 0.0, 100.0), ("diffuse_solar_w_m2", 0.0, 1500.0),
                              ("direct_solar_w_m2", 0.0, 1500.0)):
        _numbers(path, frame, column, low, high)
    outdoor = _numbers(path, frame, "outdoor_drybulb_c", -30.0, 60.0)
    tou = _numbers(path, frame, "tou_usd_per_kwh", 1e-9, 5.0)
    return Homes(ids=ids, load_kwh=load, pv_kwh_per_kwp=pv,
                 pv_kwp=np.array([specs[h]["pv_kw"] for h in ids], float),
                 battery_kwh=np.array([specs[h]["battery_kwh"] for h in ids], float),
                 battery_kw=np.array([specs[h]["battery_kw"] for h in ids], float),
                 month=month, day=day, hour=hour, weekday=weekday, outdoor_c=outdoor, tou_usd_per_kwh=tou)


def facts(homes: Homes) -> dict[str, float]:
    """Facts of the data without storage: mean daily load per home (kWh/day), median and mean PV yield
    (kWh/kWp/yr), the share of all PV exported by its home in the same hour, and the share of those
    exports that other homes import in the same hour (what a perfect neighbourhood pool could absorb)."""
    pv = homes.pv_kwh
    export = np.clip(pv - homes.load_kwh, 0.0, None)
    imports = np.clip(homes.load_kwh - pv, 0.0, None)
    absorbed = np.minimum(export.sum(axis=0), imports.sum(axis=0))
    yearly = homes.pv_kwh_per_kwp.sum(axis=1)
    return {
        "homes": float(len(homes.ids)),
        "load_kwh_per_day_mean": float(homes.load_kwh.sum(axis=1).mean() / 365.0),
        "load_kwh_per_day_min": float(homes.load_kwh.sum(axis=1).min() / 365.0),
        "load_kwh_per_day_max": float(homes.load_kwh.sum(axis=1).max() / 365.0),
        "pv_kwh_per_kwp_yr_median": float(np.median(yearly)),
        "pv_kwh_per_kwp_yr_mean": float(yearly.mean()),
        "pv_exported_share": float(export.sum() / pv.sum()),
        "exports_absorbable_share": float(absorbed.sum() / export.sum()),
        "community_exported_share": float((export.sum(axis=0) - absorbed).sum() / pv.sum()),
    }


# --- rebuilding the shipped files from the source wheel --------------------------------------------
_SOURCE = "citylearn/data/citylearn_challenge_2022_phase_all/"


def _standard_time_rows() -> np.ndarray:
    """Source row for each shipped row of the homes' series and the TOU price.

    The source's rows follow the weather file's clock (hour ending 1..24, local standard time), but the
    homes' meters and the TOU price are labelled by the local CLOCK hour they start (daylight saving
    observed): their PV steps by an hour on Sunday 6 November and Sunday 12 March (the DST dates of
    both years whose 1 August is a Monday, 2016 and 2022). Inside daylight saving the two clocks
    coincide; in standard time the homes' row t holds the shipped hour t + 1. So the fall-back hour
    (clock 01:00, 6 November) fills two shipped hours and the spring-forward row (clock 02:00,
    12 March, an hour that did not exist) is dropped."""
    month, day, hour, _ = calendar()
    fall_back = int(np.flatnonzero((month == 11) & (day == 6) & (hour == 0))[0])  # its clock label is 01:00
    spring_forward = int(np.flatnonzero((month == 3) & (day == 12) & (hour == 1))[0])  # clock label 02:00
    rows = np.arange(HOURS)
    rows[fall_back + 1:spring_forward + 1] -= 1
    return rows


def build(wheel: Path, directory: Path = COMMUNITY_DIR) -> None:
    """Write the three shipped files from the ``CityLearn==2.0.0`` wheel (deterministic gzip, mtime 0)."""
    directory.mkdir(parents=True, exist_ok=True)
    shas: dict[str, str] = {"wheel": hashlib.sha256(Path(wheel).read_bytes()).hexdigest()}
    with zipfile.ZipFile(wheel) as archive:
        def read(name: str) -> bytes:
            data = archive.read(_SOURCE + name)
            shas[name] = hashlib.sha256(data).hexdigest()
            return data
        schema = json.loads(read("schema.json"))
        buildings = {f"B{i:02d}": pd.read_csv(io.BytesIO(read(f"Building_{i}.csv"))) for i in range(1, 18)}
        weather = pd.read_csv(io.BytesIO(read("weather.csv")))
        pricing = pd.read_csv(io.BytesIO(read("pricing.csv")))
    month, day, hour, weekday = calendar()
    rows = _standard_time_rows()
    frames, homes = [], {}
    for i, (home, source) in enumerate(buildings.items(), start=1):
        # The source's own calendar: row 0 is month 7, hour (ending) 24, day type 7 (Sunday), no DST flag.
        hour_ending = source["Hour"].astype(int).to_numpy()
        if not ((hour_ending == hour + 1).all() and (source["Day Type"].astype(int).to_numpy() == weekday + 1).all()
                and (source["Daylight Savings Status"] == 0).all()):
            raise DataError(f"Building_{i}.csv: calendar differs from the expected August-to-July year")
        spec = schema["buildings"][f"Building_{i}"]
        homes[home] = {"pv_kw": spec["pv"]["attributes"]["nominal_power"],
                       "battery_kwh": spec["electrical_storage"]["attributes"]["capacity"],
                       "battery_kw": spec["electrical_storage"]["attributes"]["nominal_power"]}
        frames.append(pd.DataFrame({"t": np.arange(HOURS), "home": home,
                                    "load_kwh": source["Equipment Electric Power [kWh]"].to_numpy()[rows].round(6),
                                    "pv_wh_per_kw": source["Solar Generation [W/kW]"].to_numpy()[rows].round(4)}))
    context = pd.DataFrame({
        "t": np.arange(HOURS), "month": month, "day": day, "hour": hour, "weekday": weekday,
        "outdoor_drybulb_c": weather["Outdoor Drybulb Temperature [C]"],
        "relative_humidity_pct": weather["Relative Humidity [%]"],
        "diffuse_solar_w_m2": weather["Diffuse Solar Radiation [W/m2]"],
        "direct_solar_w_m2": weather["Direct Solar Radiation [W/m2]"],
        "tou_usd_per_kwh": pricing["Electricity Pricing [$/kWh]"].to_numpy()[rows]})
    for name, frame in ((HOMES_HOURLY, pd.concat(frames, ignore_index=True)), (CONTEXT_HOURLY, context)):
        with gzip.GzipFile(directory / name, "wb", mtime=0) as out:
            out.write(frame.to_csv(index=False, lineterminator="\n").encode())
    meta = {"source": "CityLearn==2.0.0 wheel (PyPI), " + _SOURCE,
            "clock": "row t = hour starting 31 July 23:00 + t h, local standard time (UTC-8), non-leap year",
            "homes": homes, "sha256": shas}
    (directory / HOMES_JSON).write_text(json.dumps(meta, indent=1) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bessgym.community.data", description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--facts", action="store_true", help="print the facts of the shipped homes")
    group.add_argument("--build", type=Path, metavar="WHEEL", help="rebuild the shipped files from CityLearn-2.0.0-py3-none-any.whl")
    args = parser.parse_args(argv)
    if args.build:
        build(args.build)
        for name in (HOMES_HOURLY, CONTEXT_HOURLY, HOMES_JSON):
            print(name, (COMMUNITY_DIR / name).stat().st_size, hashlib.sha256((COMMUNITY_DIR / name).read_bytes()).hexdigest())
        return
    homes = load_homes()
    for key, value in facts(homes).items():
        print(f"{key:28s} {value:.6g}")
    yearly = homes.pv_kwh_per_kwp.sum(axis=1)
    daily = homes.load_kwh.sum(axis=1) / 365.0
    for h, y, d in zip(homes.ids, yearly, daily):
        print(f"{h}  load {d:7.3f} kWh/day  PV {y:8.2f} kWh/kWp/yr")


if __name__ == "__main__":
    main()
