"""Issue 14, config and data: bad input is refused up front with one line naming the field or
file, the value and what is allowed; nothing is read as something it is not."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from bessgym.config import ConfigError, load_config
from bessgym.scenarios import DataError, ScenarioSet, read_long_csv
from tests.test_config_and_data import long_frame

UTC_START = "2024-01-01 00:00"


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("raw, field", [
    ({"battery": {"energy_mwh": float("inf")}}, "battery.energy_mwh = inf"),
    ({"battery": {"p_discharge_mw": float("inf")}}, "battery.p_discharge_mw = inf"),
    ({"battery": {"degradation_usd_per_mwh": float("nan")}}, "battery.degradation_usd_per_mwh = nan"),
    ({"deployment": {"spin_events_per_day": float("inf")}}, "deployment.spin_events_per_day = inf"),
    ({"forecast": {"noise_usd_per_mwh": float("inf")}}, "forecast.noise_usd_per_mwh = inf"),
    ({"market": {"name": "x", "price_cap_hard_usd_per_mwh": float("inf")}}, "market.price_cap_hard_usd_per_mwh = inf"),
])
def test_infinite_numbers_are_refused(raw, field):
    with pytest.raises(ConfigError) as exc:
        load_config(raw)
    assert field in one_line(exc) and "finite number" in str(exc.value)


def test_infinity_in_a_json_file_is_refused(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"battery": {"energy_mwh": Infinity}}')
    with pytest.raises(ConfigError, match=r"c\.json is invalid: battery\.energy_mwh = inf: .*finite"):
        load_config(path)


@pytest.mark.parametrize("raw, field", [
    ({"battery": {"energy_mwh": True}}, "battery.energy_mwh = True"),
    ({"battery": {"p_charge_mw": "4"}}, "battery.p_charge_mw = '4'"),
    ({"seed": True}, "seed = True"),
    ({"forecast": {"window_days": 7.0}}, "forecast.window_days = 7.0"),
    ({"deployment": {"nonspin_events_per_day": False}}, "deployment.nonspin_events_per_day = False"),
    ({"market": {"name": "x", "duration_h": {"reg_up": True, "reg_down": 1, "spin": 1, "nonspin": 1}}},
     "market.duration_h.reg_up = True"),
])
def test_booleans_and_strings_are_not_numbers(raw, field):
    with pytest.raises(ConfigError) as exc:
        load_config(raw)
    assert field in one_line(exc)


def test_duration_must_be_positive_for_an_offered_product():
    durations = {"reg_up": 1.0, "reg_down": 1.0, "spin": 0.5, "nonspin": 0.5}
    for bad in (0.0, -1.0):
        with pytest.raises(ConfigError, match=rf"offered product must be > 0 hours, got \{{'spin': {bad}\}}"):
            load_config({"market": {"name": "x", "duration_h": {**durations, "spin": bad}}})
    unused = {"name": "x", "products": ["reg_up", "reg_down"], "duration_h": {**durations, "spin": 0.0}}
    assert load_config({"market": unused}).market_profile.durations.tolist() == [1.0, 1.0, 0.0, 0.0]


def test_binary_config_file_is_named(tmp_path):
    path = tmp_path / "config.json"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert "config.json: not a JSON text file (byte 0 is not UTF-8)" in one_line(exc)


def write(tmp_path, frame: pd.DataFrame, name: str = "mine.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_blank_timestamp_is_named(tmp_path):
    frame = long_frame(2, UTC_START)
    frame.loc[5, "interval_start_utc"] = ""
    with pytest.raises(DataError) as exc:
        read_long_csv(write(tmp_path, frame), "N1", "UTC")
    assert "mine.csv: column 'interval_start_utc' is blank in 1 row(s), first in data row 6" in one_line(exc)


@pytest.mark.parametrize("name, content, fragment", [
    ("empty.csv", b"", "empty.csv: the file is empty"),
    ("picture.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "picture.csv: not a CSV text file (not UTF-8"),
    ("picture.csv.gz", b"\x89PNG\r\n\x1a\n", "picture.csv.gz: cannot be read as a CSV file"),
])
def test_unreadable_files_are_named(tmp_path, name, content, fragment):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError) as exc:
        read_long_csv(path, "N1", "UTC")
    assert fragment in one_line(exc)


def test_truncated_gzip_is_named(tmp_path):
    whole = gzip.compress(long_frame(3, UTC_START).to_csv(index=False).encode())
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError) as exc:
        read_long_csv(path, "N1", "UTC")
    assert "cut.csv.gz: cannot be read as a CSV file" in one_line(exc)


def test_identical_repeats_are_dropped_and_conflicting_ones_refused(tmp_path):
    frame = long_frame(3, UTC_START)
    clean = read_long_csv(write(tmp_path, frame), "N1", "UTC")
    again = read_long_csv(write(tmp_path, pd.concat([frame, frame.iloc[[10, 11]]])), "N1", "UTC")
    assert np.array_equal(clean.rt, again.rt) and np.array_equal(clean.da, again.da)
    with pytest.raises(DataError) as exc:
        read_long_csv(write(tmp_path, pd.concat([frame, frame.iloc[[10]].assign(da_lmp=-5.0)])), "N1", "UTC")
    assert "2 rows with different values on a repeated interval_start_utc, first '2024-01-01 02:30:00'" in one_line(exc)


def test_missing_as_price_is_refused_not_read_as_zero(tmp_path):
    frame = long_frame(3, UTC_START).assign(as_regup=5.0)
    frame.loc[30, "as_regup"] = np.nan
    with pytest.raises(DataError) as exc:
        read_long_csv(write(tmp_path, frame), "N1", "UTC")
    assert "column 'as_regup' is blank in 1 row(s) that have a da_lmp, first at '2024-01-01 07:30:00'" in one_line(exc)


def test_misspelt_column_suggests_the_valid_one(tmp_path):
    frame = long_frame(2, UTC_START).assign(as_reg_up=5.0)
    with pytest.raises(DataError) as exc:
        read_long_csv(write(tmp_path, frame), "N1", "UTC")
    assert "mine.csv: unknown column(s) 'as_reg_up'; did you mean 'as_regup'?" in one_line(exc)


def test_a_day_missing_from_the_file_is_counted(tmp_path):
    frame = long_frame(6, UTC_START)
    path = write(tmp_path, frame.drop(index=range(96 * 4, 96 * 5)))  # no row for 2024-01-05
    scenarios = ScenarioSet({"data": {"source": "csv", "path": str(path), "node": "N1", "timezone": "UTC"}})
    assert scenarios.skipped()["missing_day"] == 1
    assert sum(scenarios.skipped().values()) == 6 - len(scenarios.ids())
    with pytest.raises(KeyError, match="skipped day \\(missing_day\\)"):
        scenarios.get("csv-N1-2024-01-05")


def test_implausible_prices_are_refused_unless_allowed(tmp_path):
    frame = long_frame(4, UTC_START)
    frame.loc[100, "rt_lmp"] = 1e9
    path = write(tmp_path, frame)
    data = {"source": "csv", "path": str(path), "node": "N1", "timezone": "UTC"}
    with pytest.raises(DataError) as exc:
        ScenarioSet({"data": data}).ids()
    assert ("mine.csv: column 'rt_lmp' has 1e+09 at '2024-01-02 01:00:00'; allowed: the plausible band "
            "[-21650, 23500]") in one_line(exc)
    assert len(ScenarioSet({"data": {**data, "allow_extreme_prices": True}}).ids()) == 2
    frame.loc[100, "rt_lmp"] = np.inf
    write(tmp_path, frame)
    with pytest.raises(DataError, match=r"'rt_lmp' has inf at .*allowed: finite prices"):
        ScenarioSet({"data": {**data, "allow_extreme_prices": True, "name": "again"}}).ids()


def test_plain_numbers_still_load(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"battery": {"energy_mwh": 8, "p_charge_mw": 2.5}, "seed": 3}))
    config = load_config(path)
    assert config.battery.energy_mwh == 8.0 and config.seed == 3


def test_timestamps_that_are_numbers_or_off_the_grid_are_named(tmp_path):
    frame = long_frame(2, UTC_START)
    epoch = frame.assign(interval_start_utc=pd.to_datetime(frame["interval_start_utc"], utc=True).astype("int64") // 10**9)
    with pytest.raises(DataError) as exc:
        read_long_csv(write(tmp_path, epoch), "N1", "UTC")
    assert "mine.csv: column 'interval_start_utc' holds numbers" in one_line(exc)
    shifted = frame.copy()
    shifted.loc[5, "interval_start_utc"] = str(pd.Timestamp(frame.loc[5, "interval_start_utc"]) + pd.Timedelta(minutes=5))
    with pytest.raises(DataError) as exc:
        read_long_csv(write(tmp_path, shifted, "shifted.csv"), "N1", "UTC")
    assert "shifted.csv: interval_start_utc" in one_line(exc) and "is off the" in one_line(exc)
