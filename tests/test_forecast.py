"""Forecasts use only data known at gate closure."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bessgym.config import ForecastConfig
from bessgym.forecast import AnalogForecaster, GateView, PerfectForecaster, da_context


def corrupted(history, day: int):
    """A copy of ``history`` with day ``day`` and every later day overwritten, and the RT of
    the day before (not complete at gate closure) too."""
    da, rt, as_ = history.da.copy(), history.rt.copy(), history.as_price.copy()
    da[day:] = 9999.0
    as_[day:] = 9999.0
    rt[day - 1 :] = -9999.0
    return dataclasses.replace(history, da=da, rt=rt, as_price=as_)


@pytest.mark.parametrize("split", ["train", "test"])
def test_corrupting_the_day_leaves_its_forecast_unchanged(caiso, split):
    scenario = caiso.get(caiso.ids(split)[10])
    _, history, day = caiso.locate(scenario.id)
    forecaster = AnalogForecaster(ForecastConfig())
    clean = forecaster.ensemble(GateView(history, day), scenario)
    dirty = forecaster.ensemble(GateView(corrupted(history, day), day), scenario)
    for a, b in zip(clean[:3], dirty[:3]):
        assert np.array_equal(a, b)
    # the check can fail: a privileged forecaster does see the day
    assert not np.array_equal(PerfectForecaster().ensemble(GateView(history, day), scenario).da, clean.da.mean(0))


def test_gate_view_refuses_future_days(caiso):
    _, history, day = caiso.locate(caiso.ids("val")[5])
    view = GateView(history, day)
    with pytest.raises(PermissionError):
        view.da(np.array([day]))
    with pytest.raises(PermissionError):
        view.rt(np.array([day - 1]))


def test_context_shapes_and_point_forecast(caiso):
    scenario = caiso.get(caiso.ids("test")[0])
    ctx = da_context(caiso, scenario)
    assert ctx.da_price.shape == (24,) and ctx.rt_price.shape == (96,) and ctx.as_price.shape == (24, 4)
    assert ctx.da_scenarios.shape == (14, 24) and not ctx.privileged
    np.testing.assert_allclose(ctx.da_price, ctx.da_scenarios.mean(0))
    assert ctx.quantiles(0.9)["rt_price"].shape == (96,)
