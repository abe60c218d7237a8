"""Issue 19 data: the shipped EV sessions and EV fleet statistics load, cover what PROVENANCE says,
conserve energy per session, and a corrupted file is refused with a message naming what is wrong."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from bessgym.ges_data import (EV_SESSIONS_FILE, EV_SPECS_FILE, EVSE_MAX_POWER_KW, SITE_TZ,
                              load_ev_sessions, load_ev_specs)
from bessgym.scenarios import DataError


@pytest.fixture(scope="module")
def sessions() -> pd.DataFrame:
    return load_ev_sessions()


def test_sessions_cover_caltech_may_to_december_2019(sessions):
    local = sessions["arrival"].dt.tz_convert(SITE_TZ)
    assert len(sessions) == 6704
    assert str(local.min().date()) == "2019-05-01" and str(local.max().date()) == "2019-12-31"
    assert set(sessions["site"]) == {"caltech"} and sessions["station_id"].nunique() == 53
    assert str(sessions["arrival"].dt.tz) == "UTC" and sessions["arrival"].is_monotonic_increasing
    required = ["session_id", "station_id", "arrival", "departure", "energy_kwh"]
    assert not sessions[required].isna().any().any()
    assert sessions["requested_energy_kwh"].notna().sum() == 5657
    assert (sessions["requested_energy_kwh"].isna() == sessions["requested_departure"].isna()).all()


def test_every_session_fits_its_plugged_time(sessions):
    hours = (sessions["departure"] - sessions["arrival"]).dt.total_seconds() / 3600.0
    assert (hours > 0).all() and (sessions["energy_kwh"] > 0).all()
    assert (sessions["energy_kwh"] <= EVSE_MAX_POWER_KW * hours).all()
    assert (sessions["energy_kwh"] / hours).max() == pytest.approx(6.955, abs=1e-3)


def test_fleet_stats_are_consistent():
    stats = load_ev_specs()
    assert stats.specs["registration_share"].sum() == pytest.approx(1.0)
    assert (stats.specs["battery_kwh"] > 0).all() and (stats.specs["max_ac_charge_kw"] > 0).all()
    assert len(stats.specs) == 13 and len(stats.v2g_specs) == 8
    assert (stats.v2g_specs["max_ac_discharge_kw"] > 0).all()
    assert stats.arrival_share_pct.shape == (96, 5)
    np.testing.assert_allclose(stats.arrival_share_pct.sum(), 100.0, atol=1e-6)
    assert stats.arrival_share_pct["weekday_workplace"].idxmax() == "08:45"
    assert list(stats.by_arrival.index[:3]) == ["00:00", "00:30", "01:00"]
    assert stats.by_arrival["mean_energy_kwh_home"].notna().all()


def _write_sessions(tmp_path, edit) -> str:
    frame = pd.read_csv(EV_SESSIONS_FILE, dtype=str, keep_default_na=False).head(50)
    edit(frame)
    path = tmp_path / "sessions.csv.gz"
    with gzip.open(path, "wt") as f:
        frame.to_csv(f, index=False)
    return path


def _set(column, value, row=3):
    def edit(frame):
        frame.loc[row, column] = value
    return edit


@pytest.mark.parametrize("edit, message", [
    (_set("energy_kwh", ""), "'energy_kwh' has ''"),
    (_set("energy_kwh", "abc"), "'energy_kwh' has 'abc'"),
    (_set("energy_kwh", "0"), "> 0 kWh"),
    (_set("energy_kwh", "999"), "kW x"),
    (_set("arrival_utc", "2019-05-01T99"), "'arrival_utc' has '2019-05-01T99'"),
    (_set("departure_utc", "2019-04-01 00:00:00"), "a time after arrival_utc"),
    (_set("requested_energy_kwh", ""), "present exactly where requested_departure_utc is present"),
    (_set("session_id", "2_39_131_30_2019-05-01 08:18:44.595638"), "unique ids"),
    (lambda frame: frame.pop("site"), "expected exactly"),
])
def test_corrupted_sessions_are_refused(tmp_path, edit, message):
    with pytest.raises(DataError, match="sessions.csv.gz") as exc:
        load_ev_sessions(_write_sessions(tmp_path, edit))
    assert message in str(exc.value)


def test_truncated_and_missing_files_are_refused(tmp_path):
    path = tmp_path / "sessions.csv.gz"
    path.write_bytes(EV_SESSIONS_FILE.read_bytes()[:5000])
    with pytest.raises(DataError, match="not a readable CSV"):
        load_ev_sessions(path)
    with pytest.raises(FileNotFoundError, match="no such data file"):
        load_ev_sessions(tmp_path / "absent.csv.gz")


@pytest.mark.parametrize("edit, message", [
    (lambda doc: doc["ev_specs"]["Tesla Model 3"].update(battery_capacity=-1), "ev_specs.Tesla Model 3.battery_capacity"),
    (lambda doc: doc["arrival_share_pct"]["weekday"]["public"].__setitem__(5, 9.0), "sum of 100"),
    (lambda doc: doc["by_arrival_30min"]["slot_start_local"].pop(), "48 local half-hour slot starts"),
    (lambda doc: doc.pop("ev_specs_v2g_2024"), "'ev_specs_v2g_2024' has None"),
])
def test_corrupted_specs_are_refused(tmp_path, edit, message):
    doc = json.loads(EV_SPECS_FILE.read_text())
    edit(doc)
    path = tmp_path / "stats.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(DataError, match="stats.json") as exc:
        load_ev_specs(path)
    assert message in str(exc.value)


def test_the_typical_year_reads_by_calendar_date_on_standard_time(tmp_path):
    from bessgym.ges_data import TMY_FILE, load_tmy, outdoor_temperature

    tmy = load_tmy()
    assert tmy.shape == (365, 24) and 0 < tmy.mean() < 30 and np.isfinite(tmy).all()
    # a summer day (daylight saving): local 13:00-14:00 PDT is 12:00-13:00 standard time, whose
    # midpoint lies halfway between the hours ending 12 and 13 of 15 June (day index 165)
    hourly = outdoor_temperature(pd.Timestamp("2024-06-15", tz="America/Los_Angeles"), 24, 1.0)
    assert hourly[13] == pytest.approx((tmy[165, 11] + tmy[165, 12]) / 2)
    # 29 February reads 28 February; a quarter-hour grid interpolates the same series
    leap = outdoor_temperature(pd.Timestamp("2024-02-29", tz="America/Los_Angeles"), 96, 0.25)
    same = outdoor_temperature(pd.Timestamp("2023-02-28", tz="America/Los_Angeles"), 96, 0.25)
    np.testing.assert_allclose(leap, same)
    with pytest.raises(ValueError, match="tz-aware"):
        outdoor_temperature(pd.Timestamp("2024-06-15"), 24, 1.0)
    frame = pd.read_csv(TMY_FILE)
    frame.iloc[:100].to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(DataError, match="8760 hourly rows"):
        load_tmy(tmp_path / "short.csv")
    frame.loc[5, "dry_bulb_c"] = 99.0
    frame.to_csv(tmp_path / "hot.csv", index=False)
    with pytest.raises(DataError, match="dry_bulb_c"):
        load_tmy(tmp_path / "hot.csv")
    frame = pd.read_csv(TMY_FILE)
    frame.loc[[10, 11]] = frame.loc[[11, 10]].to_numpy()
    frame.to_csv(tmp_path / "shuffled.csv", index=False)
    with pytest.raises(DataError, match="calendar order"):
        load_tmy(tmp_path / "shuffled.csv")
