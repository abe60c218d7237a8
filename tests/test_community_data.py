"""The shipped neighbourhood homes (bessgym.community.data): shapes, clock, facts, refusals, recombination."""

import gzip
import shutil

import numpy as np
import pytest

from bessgym.community.data import (CONTEXT_HOURLY, COMMUNITY_DIR, HOMES_HOURLY, HOMES_JSON, _standard_time_rows,
                                    facts, load_homes)
from bessgym.scenarios import DataError


@pytest.fixture(scope="module")
def homes():
    return load_homes()


def test_shapes_and_values(homes):
    assert list(homes.ids) == [f"B{i:02d}" for i in range(1, 18)]
    for name in ("load_kwh", "pv_kwh_per_kwp", "pv_kwh"):
        array = getattr(homes, name)
        assert array.shape == (17, 8760) and np.isfinite(array).all() and (array >= 0).all()
    for name in ("month", "day", "hour", "weekday", "outdoor_c", "tou_usd_per_kwh"):
        assert getattr(homes, name).shape == (8760,)
    assert set(homes.pv_kwp) == {4.0, 5.0} and (homes.battery_kwh == 6.4).all() and (homes.battery_kw == 5.0).all()
    assert sorted(np.unique(homes.tou_usd_per_kwh).round(2)) == [0.21, 0.22, 0.40, 0.50, 0.54]


def test_calendar_is_a_non_leap_year_starting_31_july_23h(homes):
    assert (homes.month[0], homes.day[0], homes.hour[0], homes.weekday[0]) == (7, 31, 23, 6)  # a Sunday
    assert (homes.month[1], homes.day[1], homes.hour[1], homes.weekday[1]) == (8, 1, 0, 0)
    stamps = set(zip(homes.month, homes.day, homes.hour))
    assert len(stamps) == 8760 and (2, 29, 0) not in stamps


def test_pv_centred_on_local_standard_noon_all_year(homes):
    # After realignment the PV's centre of mass sits within 0.5 h of 12:00 standard time in every
    # month (solar noon at Fontana is 11:34..12:04 LST); the source's rows are ~0.9 h early in winter.
    pv = homes.pv_kwh_per_kwp[[i for i, h in enumerate(homes.ids) if h not in ("B14", "B15")]].mean(axis=0)
    for month in range(1, 13):
        sel = homes.month == month
        centre = (pv[sel] * (homes.hour[sel] + 0.5)).sum() / pv[sel].sum()
        assert abs(centre - 12.0) < 0.5, (month, centre)


def test_realignment_duplicates_fall_back_and_drops_spring_forward():
    rows = _standard_time_rows()
    assert len(rows) == 8760 and (np.diff(rows) >= 0).all()
    assert len(np.unique(rows)) == 8759 and np.flatnonzero(np.diff(rows) == 0).size == 1


def test_facts_pinned(homes):
    expected = {"homes": 17, "load_kwh_per_day_mean": 27.3398, "load_kwh_per_day_min": 17.7032,
                "load_kwh_per_day_max": 40.3035, "pv_kwh_per_kwp_yr_median": 1454.52,
                "pv_kwh_per_kwp_yr_mean": 1365.48, "pv_exported_share": 0.443822,
                "exports_absorbable_share": 0.385507, "community_exported_share": 0.272726}
    got = facts(homes)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-3), key


def test_select_and_pv_kwh(homes):
    two = homes.select(["B12", "B03"])
    assert list(two.ids) == ["B12", "B03"]
    np.testing.assert_array_equal(two.load_kwh[1], homes.load_kwh[2])
    np.testing.assert_allclose(two.pv_kwh[0], homes.pv_kwh_per_kwp[11] * 5.0)
    for bad in (["B99"], ["B01", "B01"], []):
        with pytest.raises(ValueError, match="allowed"):
            homes.select(bad)


def test_recombined_is_deterministic_and_pairs_distinct(homes):
    a, b = homes.recombined(25, seed=3), homes.recombined(25, seed=3)
    assert list(a.ids) == list(b.ids) and len(set(a.ids)) == 25
    np.testing.assert_array_equal(a.load_kwh, b.load_kwh)
    assert list(a.ids[:17]) == list(homes.ids)
    assert list(homes.recombined(25, seed=4).ids) != list(a.ids)
    load_of = {h: i for i, h in enumerate(homes.ids)}
    pairs = set()
    for k, name in enumerate(a.ids):
        load_id, _, pv_id = name.partition("+pv")
        pv_id = pv_id or load_id
        pairs.add((load_id, pv_id))
        np.testing.assert_array_equal(a.load_kwh[k], homes.load_kwh[load_of[load_id]])
        np.testing.assert_array_equal(a.pv_kwh_per_kwp[k], homes.pv_kwh_per_kwp[load_of[pv_id]])
        assert a.pv_kwp[k] == homes.pv_kwp[load_of[pv_id]]
    assert len(pairs) == 25
    assert len(set(homes.recombined(289).ids)) == 289 and list(homes.recombined(5).ids) == list(homes.ids[:5])
    for n in (0, 290):
        with pytest.raises(ValueError, match="allowed"):
            homes.recombined(n)


def _copy(tmp_path):
    for name in (HOMES_HOURLY, CONTEXT_HOURLY, HOMES_JSON):
        shutil.copy(COMMUNITY_DIR / name, tmp_path / name)
    return tmp_path


def _edit(path, edit):
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    path.write_bytes(gzip.compress(("\n".join(edit(lines)) + "\n").encode()))


def _set_field(lines, row, column, value):
    header = lines[0].split(",")
    cells = lines[row + 1].split(",")
    cells[header.index(column)] = value
    lines[row + 1] = ",".join(cells)
    return lines


@pytest.mark.parametrize("name, edit, message", [
    (HOMES_HOURLY, lambda ls: [ls[0].replace(",pv_wh_per_kw", "")] + [l.rsplit(",", 1)[0] for l in ls[1:]], "expected exactly"),
    (HOMES_HOURLY, lambda ls: _set_field(ls, 5, "load_kwh", "nan"), r"'load_kwh' has 'nan'"),
    (HOMES_HOURLY, lambda ls: _set_field(ls, 7, "load_kwh", "-0.5"), r"'load_kwh' has '-0.5'.*\[0.0, 50.0\]"),
    (HOMES_HOURLY, lambda ls: _set_field(ls, 9, "pv_wh_per_kw", ""), r"'pv_wh_per_kw' has ''"),
    (HOMES_HOURLY, lambda ls: ls[:-1], r"'<rows>' has 148919"),
    (HOMES_HOURLY, lambda ls: _set_field(ls, 3, "t", "4"), r"'t' has '4'; allowed: 3 in row 3"),
    (CONTEXT_HOURLY, lambda ls: ls[:-24], r"'<rows>' has 8736"),
    (CONTEXT_HOURLY, lambda ls: _set_field(ls, 10, "outdoor_drybulb_c", "NaN"), r"'outdoor_drybulb_c' has 'NaN'"),
    (CONTEXT_HOURLY, lambda ls: _set_field(ls, 10, "tou_usd_per_kwh", "0"), r"'tou_usd_per_kwh' has '0'"),
    (CONTEXT_HOURLY, lambda ls: _set_field(ls, 10, "day", "2"), r"'day' has '2'"),
    (CONTEXT_HOURLY, lambda ls: [ls[0].replace("tou_usd_per_kwh", "price")] + ls[1:], "expected exactly"),
])
def test_refuses_malformed_files(tmp_path, name, edit, message):
    directory = _copy(tmp_path)
    _edit(directory / name, edit)
    with pytest.raises(DataError, match=message) as info:
        load_homes(directory)
    assert name in str(info.value)


def test_refuses_bad_json_and_missing_file(tmp_path):
    directory = _copy(tmp_path)
    text = (directory / HOMES_JSON).read_text().replace('"battery_kw": 5', '"battery_kw": -5', 1)
    (directory / HOMES_JSON).write_text(text)
    with pytest.raises(DataError, match=r"homes.B01.battery_kw' has -5"):
        load_homes(directory)
    (directory / CONTEXT_HOURLY).unlink()
    (directory / HOMES_JSON).write_text(text.replace('"battery_kw": -5', '"battery_kw": 5'))
    with pytest.raises(FileNotFoundError):
        load_homes(directory)
