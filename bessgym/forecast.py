"""What a DA bidder may know at gate closure (10:00 the day before), and forecasters.

:class:`GateView` is the only door to history a causal forecaster gets: DA and AS prices of
days before the operating day (published before gate closure) and RT prices of complete days
at least two days back (the day before is only partly realised at 10:00). Leakage is therefore
impossible by construction, and tested.

Forecasters: ``perfect`` (the realised day; privileged), ``noisy`` (truth plus seeded AR(1)
errors; privileged as it starts from the truth), ``analog`` (default: the last K complete days
as an ensemble, whose mean is the point forecast).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np

from bessgym.battery import Battery
from bessgym.config import ForecastConfig
from bessgym.deployment import DeploymentConfig, regulation_model_stats
from bessgym.market import MarketProfile
from bessgym.processes import ar1
from bessgym.scenarios import History, Scenario, ScenarioSet, stable_seed

@dataclass(frozen=True)
class DAContext:
    """Everything a DA bidder sees. Prices in $/MWh (energy) and $/MW-h (AS).

    Point forecasts: ``da_price`` (24,), ``rt_price`` (T,), ``as_price`` (24, 4). Ensemble
    members (equally likely): ``da_scenarios`` (K, 24), ``rt_scenarios`` (K, T), ``as_scenarios``
    (K, 24, 4). ``expected_deployment`` (4,) is the long-run mean deployment fraction per product
    and ``expected_up_time`` the long-run share of time the regulation signal is up.
    """

    scenario_id: str
    date: dt.date
    dt_h: float
    battery: Battery
    market: MarketProfile
    da_price: np.ndarray
    rt_price: np.ndarray
    as_price: np.ndarray
    da_scenarios: np.ndarray
    rt_scenarios: np.ndarray
    as_scenarios: np.ndarray
    expected_deployment: np.ndarray
    expected_up_time: float
    privileged: bool
    deployment: DeploymentConfig  # the config's deployment model (regulation signal resolved)

    @property
    def n_intervals(self) -> int:
        return len(self.rt_price)

    def quantiles(self, q: float | np.ndarray) -> dict[str, np.ndarray]:
        """Empirical quantiles of the ensemble for DA, RT and AS prices."""
        return {
            "da_price": np.quantile(self.da_scenarios, q, axis=0),
            "rt_price": np.quantile(self.rt_scenarios, q, axis=0),
            "as_price": np.quantile(self.as_scenarios, q, axis=0),
        }


class GateView:
    """Read-only access to the history known at gate closure for operating day ``day``."""

    def __init__(self, history: History, day: int) -> None:
        self._history = history
        self.day = day

    def da_days(self, k: int) -> np.ndarray:
        """Indices of the last ``k`` days before ``day`` with complete DA (and AS) prices."""
        ok = np.isfinite(self._history.da[: self.day]).all(axis=1)
        return np.flatnonzero(ok)[-k:]

    def rt_days(self, k: int) -> np.ndarray:
        """Indices of the last ``k`` complete RT days ending at least two days before ``day``."""
        ok = np.isfinite(self._history.rt[: max(self.day - 1, 0)]).all(axis=1)
        return np.flatnonzero(ok)[-k:]

    def da(self, days: np.ndarray) -> np.ndarray:
        self._check(days, self.day)
        return self._history.da[days]

    def as_price(self, days: np.ndarray) -> np.ndarray:
        self._check(days, self.day)
        return self._history.as_price[days]

    def rt(self, days: np.ndarray) -> np.ndarray:
        self._check(days, self.day - 1)
        return self._history.rt[days]

    @staticmethod
    def _check(days: np.ndarray, limit: int) -> None:
        if len(days) and int(np.max(days)) >= limit:
            raise PermissionError("a forecaster asked for data not known at gate closure")


class Ensemble(NamedTuple):
    """Equally likely price members: da (K, 24), rt (K, T), as_ (K, 24, 4); ``point`` picks
    the point forecast: ``None`` for the ensemble mean, or a member index."""

    da: np.ndarray
    rt: np.ndarray
    as_: np.ndarray
    point: int | None = None

    def point_forecast(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.point is None:
            return self.da.mean(0), self.rt.mean(0), self.as_.mean(0)
        return self.da[self.point], self.rt[self.point], self.as_[self.point]


class Forecaster(Protocol):
    privileged: bool

    def ensemble(self, view: GateView, truth: Scenario) -> Ensemble:
        """The day's price ensemble. Causal forecasters must not read ``truth``."""


class PerfectForecaster:
    privileged = True

    def ensemble(self, view: GateView, truth: Scenario) -> Ensemble:
        return Ensemble(truth.da_price[None], truth.rt_price[None], truth.as_price[None])


class NoisyForecaster:
    """Truth plus AR(1) (phi 0.8 per step) Gaussian errors; member 0 is the point forecast."""

    privileged = True

    def __init__(self, config: ForecastConfig) -> None:
        self.config = config

    def ensemble(self, view: GateView, truth: Scenario) -> Ensemble:
        rng = np.random.default_rng(stable_seed("noisy-forecast", truth.seed))
        k, sigma = self.config.members, self.config.noise_usd_per_mwh
        da = truth.da_price + _ar1_errors(rng, (k, 24), sigma)
        rt = truth.rt_price + _ar1_errors(rng, (k, truth.n_intervals), sigma)
        as_ = truth.as_price * np.exp(_ar1_errors(rng, (k, 24, 4), self.config.as_noise_frac, axis=1))
        return Ensemble(da, rt, as_, point=0)


def _ar1_errors(rng: np.random.Generator, shape: tuple[int, ...], sigma: float, axis: int = -1) -> np.ndarray:
    return ar1(rng.standard_normal(shape) * sigma, 0.8, axis=axis)


class AnalogForecaster:
    """The last ``window_days`` complete days, each an equally likely member."""

    privileged = False

    def __init__(self, config: ForecastConfig) -> None:
        self.k = config.window_days

    def ensemble(self, view: GateView, truth: Scenario) -> Ensemble:
        da_days, rt_days = view.da_days(self.k), view.rt_days(self.k)
        n = min(len(da_days), len(rt_days))
        if n == 0:
            raise ValueError(f"no history before {truth.id} for the analog forecaster")
        da_days, rt_days = da_days[-n:], rt_days[-n:]
        return Ensemble(view.da(da_days), view.rt(rt_days), view.as_price(da_days))


def make_forecaster(config: ForecastConfig) -> Forecaster:
    if config.kind == "perfect":
        return PerfectForecaster()
    if config.kind == "noisy":
        return NoisyForecaster(config)
    return AnalogForecaster(config)


def expected_deployment(config: DeploymentConfig) -> np.ndarray:
    """Long-run mean deployment fraction per product: the fitted regulation model's mean up and
    down, and the contingency rate times the mean event length for spin and non-spin."""
    stats = regulation_model_stats(config.signal)
    mean_event_h = (config.event_min_minutes + config.event_max_minutes) / 2 / 60
    return np.array([
        stats.mean_up,
        stats.mean_down,
        min(config.spin_events_per_day * mean_event_h / 24, 1.0),
        min(config.nonspin_events_per_day * mean_event_h / 24, 1.0),
    ])


def da_context(scenarios: ScenarioSet, scenario: Scenario, forecaster: Forecaster | None = None) -> DAContext:
    """Build the DA context of ``scenario`` from data known at its gate closure."""
    config = scenarios.config
    forecaster = forecaster or make_forecaster(config.forecast)
    _, history, day = scenarios.locate(scenario.id)
    members = forecaster.ensemble(GateView(history, day), scenario)
    da_point, rt_point, as_point = members.point_forecast()
    return DAContext(
        scenario_id=scenario.id,
        date=scenario.date,
        dt_h=scenario.dt_h,
        battery=config.battery,
        market=config.market_profile,
        da_price=da_point,
        rt_price=rt_point,
        as_price=as_point,
        da_scenarios=members.da,
        rt_scenarios=members.rt,
        as_scenarios=members.as_,
        expected_deployment=expected_deployment(config.deployment),
        expected_up_time=regulation_model_stats(config.deployment.signal).up_time,
        privileged=forecaster.privileged,
        deployment=config.deployment,
    )
