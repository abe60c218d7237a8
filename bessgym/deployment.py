"""How the operator deploys ancillary services: regulation signals and contingency events.

Deployment fractions are per RT interval and in [0, 1] of the award:

* regulation: a 2-second signal ``s`` in [-1, 1] (+ = up, the battery discharges) from a
  clipped AR(1) model fitted to PJM's shipped RegA/RegD signals, reduced per interval to
  ``delta_up = mean(max(s, 0))``, ``delta_down = mean(max(-s, 0))`` and the mileage
  ``sum |diff max(+-s, 0)|`` (MW of movement per MW of award over the interval);
* spinning / non-spinning reserve: Poisson contingency events with full deployment for a
  uniform 10-60 minutes; the fraction is the share of the interval covered by an event.

The fit is by the method of simulated moments (mean up, mean down, mileage per hour) and is
reproducible: ``python -m bessgym.deployment`` refits and rewrites the shipped parameters.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy.optimize import least_squares

from bessgym._paths import DATA_DIR
from bessgym.market import N_PRODUCTS
from bessgym.processes import ar1

SIGNAL_STEP_S = 2.0
RegulationSignal = Literal["regd", "rega", "rega_test"]
SIGNAL_FILES: dict[str, tuple[str, ...]] = {
    "regd": ("pjm_regd_test_40min_2s.csv",),
    "rega": ("pjm_rega_2017-08-01_02_1600-2400_2s.csv",),
    "rega_test": ("pjm_rega_test_40min_2s.csv",),
}


@dataclass(frozen=True)
class SignalStats:
    """Moments of a regulation signal: mean of max(s,0), mean of max(-s,0), mileage per hour."""

    mean_up: float
    mean_down: float
    mileage_per_h: float

    @classmethod
    def of(cls, segments: list[np.ndarray]) -> "SignalStats":
        up = np.concatenate([np.maximum(s, 0.0) for s in segments])
        down = np.concatenate([np.maximum(-s, 0.0) for s in segments])
        steps = sum(len(s) - 1 for s in segments)
        mileage = sum(np.abs(np.diff(s)).sum() for s in segments)
        return cls(float(up.mean()), float(down.mean()), float(mileage / (steps * SIGNAL_STEP_S / 3600)))


def load_signal(name: str) -> list[np.ndarray]:
    """The shipped PJM signal ``name`` as contiguous 2-second segments in [-1, 1]."""
    if name not in SIGNAL_FILES:
        raise ValueError(f"regulation signal {name!r} is unknown; choose one of {sorted(SIGNAL_FILES)}")
    segments = []
    for filename in SIGNAL_FILES[name]:
        frame = pd.read_csv(DATA_DIR / "pjm" / filename).dropna(axis=1, how="all")
        segments += [frame[c].to_numpy(float) for c in frame.columns[1:]]
    return segments


@dataclass(frozen=True)
class RegulationModel:
    """Clipped AR(1) at 2-second steps: ``s = clip(mean + y, -1, 1)``,
    ``y[k] = phi y[k-1] + sigma sqrt(1 - phi^2) eps[k]``, ``y[0] ~ N(0, sigma^2)``."""

    mean: float
    sigma: float
    phi: float

    def simulate(self, rng: np.random.Generator, n_paths: int, n_steps: int) -> np.ndarray:
        """Signal paths of shape (n_paths, n_steps)."""
        return _simulate(self.mean, self.sigma, self.phi, rng.standard_normal((n_paths, n_steps)))

    def stats(self, n_paths: int = 64, hours: float = 24.0, seed: int = 0) -> SignalStats:
        """Simulated moments of the model (common random numbers for a given seed)."""
        paths = self.simulate(np.random.default_rng(seed), n_paths, int(hours * 3600 / SIGNAL_STEP_S))
        return SignalStats.of(list(paths))


def _simulate(mean: float, sigma: float, phi: float, eps: np.ndarray) -> np.ndarray:
    return np.clip(mean + sigma * ar1(eps, phi), -1.0, 1.0)


def fit_regulation(segments: list[np.ndarray], n_paths: int = 64, hours: float = 24.0) -> RegulationModel:
    """Fit (mean, sigma, phi) so the model's mean up, mean down and mileage match ``segments``.

    Starts from the unclipped Gaussian moments and refines by least squares on simulated moments
    with common random numbers. Mileage is matched in relative terms.
    """
    target = SignalStats.of(segments)
    signal = np.concatenate(segments)
    sigma0 = max(float(signal.std()), 0.05)
    step = target.mileage_per_h * SIGNAL_STEP_S / 3600
    one_minus_phi0 = min(max(step**2 * np.pi / (4 * sigma0**2), 1e-7), 0.5)
    eps = np.random.default_rng(12345).standard_normal((n_paths, int(hours * 3600 / SIGNAL_STEP_S)))

    def unpack(p: np.ndarray) -> tuple[float, float, float]:
        return float(p[0]), float(np.exp(p[1])), float(1.0 - np.exp(p[2]))

    def residual(p: np.ndarray) -> np.ndarray:
        stats = SignalStats.of(list(_simulate(*unpack(p), eps)))
        return np.array([
            stats.mean_up - target.mean_up,
            stats.mean_down - target.mean_down,
            np.log(stats.mileage_per_h / target.mileage_per_h),
        ])

    p0 = np.array([signal.mean(), np.log(sigma0), np.log(one_minus_phi0)])
    result = least_squares(residual, p0, diff_step=1e-3, xtol=1e-10, ftol=1e-10)
    return RegulationModel(*unpack(result.x))


@lru_cache(maxsize=None)
def _fitted(name: str) -> dict:
    table = json.loads((DATA_DIR / "regulation_models.json").read_text())
    if name not in table:
        raise ValueError(f"regulation signal {name!r} is unknown; choose one of {sorted(table)}")
    return table[name]


def regulation_model(name: str) -> RegulationModel:
    """The shipped fitted model for signal ``name`` (see ``data/regulation_models.json``)."""
    return RegulationModel(**_fitted(name)["model"])


def regulation_model_stats(name: str) -> SignalStats:
    """Long-run moments of the shipped model for ``name`` (simulated when it was fitted)."""
    return SignalStats(**_fitted(name)["fitted"])


class DeploymentConfig(BaseModel):
    """How AS are deployed. Event rates are per day, durations in minutes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    regulation_signal: RegulationSignal = "regd"
    spin_events_per_day: float = Field(0.1, ge=0)
    nonspin_events_per_day: float = Field(0.05, ge=0)
    event_min_minutes: float = Field(10.0, gt=0)
    event_max_minutes: float = Field(60.0, gt=0)

    @model_validator(mode="after")
    def _check(self) -> "DeploymentConfig":
        if self.event_max_minutes < self.event_min_minutes:
            raise ValueError(
                f"event_max_minutes ({self.event_max_minutes}) must be >= event_min_minutes ({self.event_min_minutes})"
            )
        return self


@dataclass(frozen=True)
class Deployment:
    """One day's deployment. ``fraction`` (T, 4) in [0, 1] of the award per product in
    PRODUCTS order; ``mileage`` (T, 2): reg up / reg down mileage per MW of award."""

    fraction: np.ndarray
    mileage: np.ndarray


def reduce_signal(signal: np.ndarray, n_intervals: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-interval (delta_up, delta_down) of shape (T, 2) and mileage (T, 2) from a 2-s signal.

    ``signal`` has shape (..., n_intervals * steps_per_interval); the mileage of an interval
    counts the moves that end inside it.
    """
    up = np.maximum(signal, 0.0)
    down = np.maximum(-signal, 0.0)
    shape = signal.shape[:-1] + (n_intervals, -1)
    delta = np.stack([up.reshape(shape).mean(-1), down.reshape(shape).mean(-1)], axis=-1)
    moves_up = np.abs(np.diff(up, axis=-1, prepend=up[..., :1]))
    moves_down = np.abs(np.diff(down, axis=-1, prepend=down[..., :1]))
    mileage = np.stack([moves_up.reshape(shape).sum(-1), moves_down.reshape(shape).sum(-1)], axis=-1)
    return delta, mileage


def contingency_fraction(
    rng: np.random.Generator, rate_per_day: float, n_intervals: int, dt_h: float, min_minutes: float, max_minutes: float
) -> np.ndarray:
    """Share of each interval (T,) covered by Poisson events of full deployment."""
    day_h = n_intervals * dt_h
    n_events = rng.poisson(rate_per_day * day_h / 24.0)
    starts = rng.uniform(0.0, day_h, n_events)
    ends = starts + rng.uniform(min_minutes, max_minutes, n_events) / 60.0
    edges = np.arange(n_intervals + 1) * dt_h
    covered = np.zeros(n_intervals)
    for start, end in zip(starts, ends):
        covered += np.clip(np.minimum(edges[1:], end) - np.maximum(edges[:-1], start), 0.0, None)
    return np.minimum(covered / dt_h, 1.0)


def draw_deployment(config: DeploymentConfig, n_intervals: int, dt_h: float, seed: int) -> Deployment:
    """A day's deployment, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    steps = round(dt_h * 3600 / SIGNAL_STEP_S)
    signal = regulation_model(config.regulation_signal).simulate(rng, 1, n_intervals * steps)[0]
    delta, mileage = reduce_signal(signal, n_intervals)
    fraction = np.zeros((n_intervals, N_PRODUCTS))
    fraction[:, 0], fraction[:, 1] = delta[:, 0], delta[:, 1]
    for column, rate in ((2, config.spin_events_per_day), (3, config.nonspin_events_per_day)):
        fraction[:, column] = contingency_fraction(
            rng, rate, n_intervals, dt_h, config.event_min_minutes, config.event_max_minutes
        )
    return Deployment(fraction, mileage)


@lru_cache(maxsize=8)
def _moments(config_json: str, n_intervals: int, dt_h: float, days: int) -> tuple[np.ndarray, np.ndarray]:
    config = DeploymentConfig.model_validate_json(config_json)
    steps = round(dt_h * 3600 / SIGNAL_STEP_S)
    model = regulation_model(config.regulation_signal)
    rng = np.random.default_rng(0x5EED)
    regulation = np.stack([
        reduce_signal(model.simulate(rng, 1, n_intervals * steps)[0], n_intervals)[0].T.ravel() for _ in range(days)
    ])  # (days, 2T): reg up then reg down
    mean = np.zeros(4 * n_intervals)
    cov = np.zeros((4 * n_intervals, 4 * n_intervals))
    mean[: 2 * n_intervals] = regulation.mean(0)
    cov[: 2 * n_intervals, : 2 * n_intervals] = np.cov(regulation, rowvar=False)
    mean_event_h = (config.event_min_minutes + config.event_max_minutes) / 120
    lag_h = np.abs(np.subtract.outer(np.arange(n_intervals), np.arange(n_intervals))) * dt_h
    kernel = np.clip(1.0 - lag_h / mean_event_h, 0.0, None)
    for product, rate in ((2, config.spin_events_per_day), (3, config.nonspin_events_per_day)):
        p = min(rate * mean_event_h / 24, 1.0)
        block = slice(product * n_intervals, (product + 1) * n_intervals)
        mean[block] = p
        cov[block, block] = p * (1 - p) * kernel
    return mean, cov


def deployment_moments(
    config: DeploymentConfig, n_intervals: int, dt_h: float, days: int = 400
) -> tuple[np.ndarray, np.ndarray]:
    """Mean (4T,) and covariance (4T, 4T) of a day's deployment fractions, product-major (all
    intervals of reg up, then reg down, spin, non-spin); cached per process.

    Regulation: from ``days`` days simulated with the fitted model. Contingency events are too rare
    to sample: their fraction is taken as a Bernoulli of the mean deployment ``p`` (variance
    ``p (1 - p)``, an upper bound for partial coverage), correlated over a triangular kernel as wide
    as the mean event, independent of everything else.
    """
    return _moments(config.model_dump_json(), n_intervals, dt_h, days)


def _refit() -> dict:
    table = {}
    for name in SIGNAL_FILES:
        segments = load_signal(name)
        model = fit_regulation(segments)
        table[name] = {
            "model": asdict(model),
            "fitted_to": list(SIGNAL_FILES[name]),
            "target": asdict(SignalStats.of(segments)),
            "fitted": asdict(model.stats()),
        }
    return table


if __name__ == "__main__":
    out = DATA_DIR / "regulation_models.json"
    out.write_text(json.dumps(_refit(), indent=2) + "\n")
    print(out.read_text())
