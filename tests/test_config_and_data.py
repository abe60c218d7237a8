"""Bad input gets a clear error naming the field, the value and what is allowed."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from bessgym.config import Config, ConfigError, load_config
from bessgym.scenarios import DataError, ScenarioSet, read_long_csv


def test_presets_and_default():
    assert load_config().data.node == "SP15"
    assert load_config("synthetic").data.source == "synthetic"
    assert load_config({"data": {"source": "ercot", "node": "HB_WEST"}}).data.splits == {}
    assert set(load_config({"data": {"node": "NP15"}}).data.splits) == {"train", "val", "test"}
    assert isinstance(load_config({"battery": {"energy_mwh": 2}}), Config)


def test_unknown_field_suggests_the_nearest_name():
    with pytest.raises(ConfigError, match=r"battery\.energy_mw: unknown field; did you mean 'energy_mwh'\?"):
        load_config({"battery": {"energy_mw": 4}})
    with pytest.raises(ConfigError, match=r"forcast: unknown field; did you mean 'forecast'\?"):
        load_config({"forcast": {}})


def test_wrong_type_names_field_and_value():
    with pytest.raises(ConfigError, match=r"battery\.p_charge_mw = 'fast'.*valid number"):
        load_config({"battery": {"p_charge_mw": "fast"}})
    with pytest.raises(ConfigError, match=r"battery.*soc_min_frac \(0\.9\) must be below soc_max_frac \(0\.5\)"):
        load_config({"battery": {"soc_min_frac": 0.9, "soc_max_frac": 0.5}})


def test_forecast_kind_alone_is_short_for_its_section():
    assert load_config({"forecast": "perfect"}).forecast.kind == "perfect"
    with pytest.raises(ConfigError, match=r"forecast.kind = 'perfekt'"):
        load_config({"forecast": "perfekt"})


@pytest.mark.parametrize("zone", ["Mars/Olympus", "Pacific", "America"])  # the last two name folders of zones
def test_bad_timezone_is_named(zone):
    with pytest.raises(ConfigError, match=f"'{zone}' is not an IANA time zone"):
        load_config({"data": {"timezone": zone}})


def test_config_from_path_and_missing_path(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"battery": {"energy_mwh": 8}}))
    assert load_config(path).battery.energy_mwh == 8
    with pytest.raises(ConfigError, match="neither a preset"):
        load_config(tmp_path / "nope.json")


def long_frame(days: int = 40, start: str = "2024-03-20 07:00") -> pd.DataFrame:
    """A user CSV for node N1 in the long schema, 15-minute, Pacific days (UTC stamps)."""
    stamps = pd.date_range(start, periods=days * 96, freq="15min")
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "interval_start_utc": stamps.strftime("%Y-%m-%d %H:%M:%S"),
        "hub": "N1",
        "da_lmp": np.repeat(rng.normal(40, 10, days * 24), 4),
        "rt_lmp": rng.normal(40, 20, days * 96),
    })


def test_user_csv_with_gaps_skips_and_counts_days(tmp_path):
    frame = long_frame()
    frame.loc[96 * 20 + 10, "rt_lmp"] = np.nan  # one missing RT value
    frame = frame.drop(index=range(96 * 25, 96 * 25 + 8))  # two missing hours
    path = tmp_path / "mine.csv"
    frame.to_csv(path, index=False)
    frame.loc[96 * 30 + 1, "da_lmp"] = np.nan  # one missing DA value: its hour is not filled from the others
    frame.to_csv(path, index=False)
    history = read_long_csv(path, "N1", "America/Los_Angeles")
    assert history.dt_h == 0.25 and history.skipped == {"dst": 0, "missing_rt": 1, "missing_da": 1, "partial_day": 1, "missing_day": 0}
    scenarios = ScenarioSet({"data": {"source": "csv", "path": str(path), "node": "N1", "name": "mine",
                                      "timezone": "America/Los_Angeles"}})
    assert scenarios.splits() == ["all"]
    ids = scenarios.ids()
    assert ids[0].startswith("mine-N1-") and len(ids) == int(history.usable.sum()) - 2
    assert all(np.isfinite(scenarios.get(i).rt_price).all() for i in ids)
    missing = [d for d in ("2024-04-09", "2024-04-14") if f"mine-N1-{d}" in ids]
    assert not missing  # the gap days are skipped, never filled


def test_missing_column_is_named(tmp_path):
    path = tmp_path / "bad.csv.gz"
    with gzip.open(path, "wt") as f:
        long_frame(3).drop(columns="rt_lmp").to_csv(f, index=False)
    with pytest.raises(DataError, match=r"missing required column\(s\) \['rt_lmp'\]"):
        read_long_csv(path, "N1", "UTC")


def test_unknown_node_and_wrong_units(tmp_path):
    path = tmp_path / "x.csv"
    frame = long_frame(3)
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"node 'N2' is not in column 'hub'; available: \['N1'\]"):
        read_long_csv(path, "N2", "UTC")
    frame["da_lmp"] /= 1000.0
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"looks like \$/kWh"):
        read_long_csv(path, "N1", "UTC")


def test_user_csv_with_a_repeated_interval_is_refused(tmp_path):
    frame = long_frame(days=5)
    frame = pd.concat([frame, frame.iloc[[100]].assign(rt_lmp=999.0)])
    path = tmp_path / "twice.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"repeated interval_start_utc, first '2024-03-21 08:00:00'; one row per interval"):
        read_long_csv(path, "N1", "America/Los_Angeles")


def test_splits_of_the_shipped_data(caiso):
    ids = {split: caiso.ids(split) for split in ("train", "val", "test", "test_ood")}
    assert ids["train"][0].startswith("caiso-SP15-2023") and ids["test"][-1] == "caiso-SP15-2024-06-30"
    assert not set(ids["train"]) & set(ids["val"]) and not set(ids["val"]) & set(ids["test"])
    assert ids["test_ood"][0].startswith("ercot-HB_HOUSTON-2021")
    assert caiso.skipped()["dst"] == 3 and caiso.skipped()["missing_rt"] > 0
    # per split: the days of its date range that are not among its ids, by reason
    for split in ("train", "val", "test"):
        days = caiso._days(split)
        assert sum(caiso.skipped(split).values()) == len(days) - len(ids[split])
    ood = caiso.get(ids["test_ood"][0])
    assert ood.as_price.sum() == 0  # energy only: no AS prices in the ERCOT file
    with pytest.raises(KeyError, match="does not belong"):
        caiso.get("pjm-X-2024-01-01")
    with pytest.raises(ValueError, match="split 'holdout' is unknown"):
        caiso.ids("holdout")
