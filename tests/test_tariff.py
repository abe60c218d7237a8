"""The utility's prices for the neighbourhood's homes (issue 20): net metering and a
wholesale-indexed export credit from the shipped CAISO prices."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from bessgym.community.tariff import TARIFFS, Tariff, caiso_da_usd_per_kwh, make_tariff, utility_usd
from bessgym.scenarios import ScenarioSet

HOURS = pd.date_range("2001-08-01", periods=8760, freq="h")  # a non-leap year from 1 August, as the homes'
CALENDAR = (HOURS.month.to_numpy(), HOURS.day.to_numpy(), HOURS.hour.to_numpy())
TOU = np.where((HOURS.hour >= 16) & (HOURS.hour < 21), 0.50, 0.22)


def test_net_metering_credits_exports_at_the_import_price():
    tariff = make_tariff("net_metering", TOU, *CALENDAR)
    np.testing.assert_array_equal(tariff.export_usd_per_kwh, tariff.import_usd_per_kwh)
    bill = utility_usd(np.array([2.0, 0.0]), np.array([0.0, 2.0]), tariff.import_usd_per_kwh[:2], tariff.export_usd_per_kwh[:2])
    assert bill.tolist() == [0.44, -0.44]


def test_the_wholesale_export_credit_is_the_hours_caiso_day_ahead_price():
    tariff = make_tariff("wholesale_export", TOU, *CALENDAR)
    exp = tariff.export_usd_per_kwh
    assert (exp >= 0).all() and (exp <= tariff.import_usd_per_kwh).all() and 0.02 < exp.mean() < 0.10
    # 15 July, 14:00 local standard time is 15:00 daylight time on the CAISO clock, 2023 (the data's first July)
    history = ScenarioSet("caiso-sp15").history("all")
    want = history.da[(dt.date(2023, 7, 15) - history.start).days, 15] / 1000
    assert caiso_da_usd_per_kwh(np.array([7]), np.array([15]), np.array([14]))[0] == pytest.approx(want)
    # early January is before the data's 2023 start: 2024's day is read
    want = history.da[(dt.date(2024, 1, 5) - history.start).days, 3] / 1000
    assert caiso_da_usd_per_kwh(np.array([1]), np.array([5]), np.array([3]))[0] == pytest.approx(want)
    # imports cost more than exports are worth, so a home gains by using its own PV first
    short = Tariff("x", np.array([0.3, 0.3]), np.array([0.05, 0.05]))
    bill = utility_usd(np.array([1.0, 0.0]), np.array([0.0, 1.0]), short.import_usd_per_kwh, short.export_usd_per_kwh)
    assert bill.tolist() == [0.3, -0.05]


def test_bad_tariffs_are_refused_by_name():
    with pytest.raises(ValueError, match="is not one of"):
        make_tariff("flat", TOU, *CALENDAR)
    with pytest.raises(ValueError, match="exceeds the import price"):
        Tariff("x", np.array([0.1]), np.array([0.2]))
    with pytest.raises(ValueError, match="finite 1-D arrays of one length"):
        Tariff("x", np.array([0.1, np.nan]), np.array([0.0, 0.0]))
    assert set(TARIFFS) == {"net_metering", "wholesale_export"}
