"""Shared fixtures: a hand-built one-hour-interval scenario and the shipped real data."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from bessgym.battery import Battery
from bessgym.deployment import Deployment
from bessgym.market import MarketProfile, load_profile
from bessgym.scenarios import Scenario, ScenarioSet


def make_scenario(
    da: float | np.ndarray = 40.0,
    rt: float | np.ndarray = 60.0,
    as_price: tuple[float, float, float, float] | np.ndarray = (10.0, 8.0, 5.0, 3.0),
    fraction: tuple[float, float, float, float] | np.ndarray = (0.0, 0.0, 0.0, 0.0),
    n: int = 24,
) -> Scenario:
    """A scenario with constant (or given) prices and deployment; ``n`` intervals."""
    dt_h = 24 / n
    as_arr = np.broadcast_to(np.asarray(as_price, float), (24, 4)).copy()
    frac = np.broadcast_to(np.asarray(fraction, float), (n, 4)).copy()
    return Scenario(
        id="hand-X-2024-01-01",
        node="X",
        date=dt.date(2024, 1, 1),
        dt_h=dt_h,
        da_price=np.broadcast_to(np.asarray(da, float), (24,)).copy(),
        rt_price=np.broadcast_to(np.asarray(rt, float), (n,)).copy(),
        as_price=as_arr,
        mileage_price=np.zeros((24, 2)),
        deployment=Deployment(frac, np.zeros((n, 2))),
        seed=0,
    )


@pytest.fixture
def battery() -> Battery:
    return Battery()


@pytest.fixture
def market() -> MarketProfile:
    return load_profile("synthetic")


@pytest.fixture(scope="session")
def caiso() -> ScenarioSet:
    return ScenarioSet("caiso-sp15")
