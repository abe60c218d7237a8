"""How the operator deploys ancillary services: regulation signals and contingency events.

Regulation is a 2-second signal ``s`` in [-1, 1] (fraction of the award; + = up, the battery
discharges), reduced per RT interval to what the simulator needs (DESIGN 1.5):

* ``delta_up = mean(max(s, 0))``, ``delta_down = mean(max(-s, 0))``: the deployment fractions;
* ``up_time``: the share of the interval with ``s > 0`` (the up sub-period; the rest is the down
  sub-period), so the conditional means are ``delta_up / up_time`` and
  ``delta_down / (1 - up_time)``;
* mileage up / down: ``sum |diff max(+-s, 0)|`` (MW of movement per MW of award).

The signal model (:class:`RegulationModel`) is ``s = clip(mean + level(t) + y(t), -1, 1)``: ``y``
is a smooth second-order Gaussian process (an AR(2) at 2 s, from a time scale and a damping),
optionally high-pass filtered so that its running integral, the energy, reverts with a time
constant (RegD's energy neutrality); ``level`` is a slow Ornstein-Uhlenbeck process (RegA's
sustained one-sided hours). Two fits ship in ``data/regulation_models.json``, judged on what
decides a battery's energy (:class:`SignalStats`: 15-minute and hourly net deployment, its
autocorrelation from 15 minutes to 4 hours, the 4-hour net energy):

* ``regd``: 72 hours of real PJM RegD (July 2020): fast and energy-neutral within the hour;
* ``rega``: two real PJM RegA evenings (August 2017): slow and persistent. Its fast part is fitted
  with the level held at each evening's own mean; the level's standard deviation is the RMS of
  the two evenings' means (sign symmetric by assumption: two evenings cannot tell which side a
  year prefers) and its time constant is 24 h (assumed: the data hold one level for 8 hours, all
  they cover).

``python -m bessgym.deployment`` refits both and rewrites the JSON; ``--report`` prints the model
against the data. The market profile says which signal its regulation follows.

Episodes: each day's regulation is a window of a long signal simulated once per process per
model and interval length (:data:`POOL_DAYS` days from a fixed seed), the window chosen by the
episode's seed, with fresh contingency events from the same seed: a new seed gives a new path,
the same seed the same path, bit for bit.

Spinning / non-spinning reserve: Poisson contingency events with full deployment for a uniform
10-60 minutes; the fraction is the share of the interval covered by an event.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Literal, NamedTuple, Sequence

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, model_validator
from scipy.optimize import minimize
from scipy.signal import lfilter

from bessgym._paths import DATA_DIR

SIGNAL_STEP_S = 2.0
STATS_INTERVAL_S = 900.0
ACF_LAGS: tuple[int, ...] = (1, 2, 4, 8, 16)  # 15-minute intervals: 15 min .. 4 h
POOL_DAYS = 365
RegulationSignal = Literal["regd", "rega"]
SIGNAL_FILES: dict[str, str] = {
    "regd": "pjm_regd_2020-07-16_17_22_2s.csv.gz",
    "rega": "pjm_rega_2017-08-01_02_1600-2400_2s.csv",
}
_POOL_SEEDS = {"regd": 20200716, "rega": 20170801}
_FIT_SEED = 12345


def load_signal(name: str) -> list[np.ndarray]:
    """The shipped real PJM signal ``name`` as contiguous 2-second segments in [-1, 1]."""
    if name not in SIGNAL_FILES:
        raise ValueError(f"regulation signal {name!r} is unknown; choose one of {sorted(SIGNAL_FILES)}")
    frame = pd.read_csv(DATA_DIR / "pjm" / SIGNAL_FILES[name])
    if "timestamp" in frame:  # one long column: split where the 2-second clock jumps
        stamps = pd.to_datetime(frame["timestamp"]).to_numpy()
        breaks = np.flatnonzero(np.diff(stamps) != np.timedelta64(int(SIGNAL_STEP_S), "s")) + 1
        return list(np.split(frame["signal"].to_numpy(float), breaks))
    frame = frame.dropna(axis=1, how="all")
    return [frame[c].to_numpy(float) for c in frame.columns[1:]]  # one column per day


@dataclass(frozen=True)
class SignalStats:
    """What a regulation signal does to a battery's energy, per MW of award.

    ``mean_up``/``mean_down``: E[max(s, 0)], E[max(-s, 0)]; ``up_time``: share of time with
    s > 0; ``mileage_per_h``; ``net15_std``/``net15_over_half``: standard deviation of the
    15-minute net deployment (delta_up - delta_down) and the share of intervals with |net| > 0.5;
    ``net60_*``: the same for hours; ``acf15``: autocorrelation of the 15-minute nets at
    :data:`ACF_LAGS` (within each segment, about its own mean); ``energy4h_std``: standard
    deviation of the 4-hour net energy (MWh per MW).
    """

    mean_up: float
    mean_down: float
    up_time: float
    mileage_per_h: float
    net15_std: float
    net15_over_half: float
    net60_std: float
    net60_over_half: float
    acf15: tuple[float, ...]
    energy4h_std: float

    @classmethod
    def of(cls, segments: list[np.ndarray]) -> "SignalStats":
        k = round(STATS_INTERVAL_S / SIGNAL_STEP_S)
        per_hour = round(3600 / STATS_INTERVAL_S)
        reduced = [reduce_signal(s[: len(s) // k * k], k) for s in segments]
        nets = [r.delta_up - r.delta_down for r in reduced]
        hourly = np.concatenate([n[: len(n) // per_hour * per_hour].reshape(-1, per_hour).mean(1) for n in nets])
        block = 4 * per_hour
        energy = np.concatenate([n[: len(n) // block * block].reshape(-1, block).sum(1) for n in nets])
        energy *= STATS_INTERVAL_S / 3600
        deviations = [n - n.mean() for n in nets]
        variance = np.concatenate(deviations).var()
        acf = tuple(
            float(np.concatenate([d[:-lag] * d[lag:] for d in deviations]).mean() / variance) for lag in ACF_LAGS
        )
        net = np.concatenate(nets)
        steps = sum(len(s) - 1 for s in segments)
        mileage = sum(np.abs(np.diff(s)).sum() for s in segments) / (steps * SIGNAL_STEP_S / 3600)
        return cls(
            mean_up=float(np.mean([s.clip(0, None).mean() for s in segments])),
            mean_down=float(np.mean([(-s).clip(0, None).mean() for s in segments])),
            up_time=float(np.concatenate([r.up_time for r in reduced]).mean()),
            mileage_per_h=float(mileage),
            net15_std=float(net.std()), net15_over_half=float((np.abs(net) > 0.5).mean()),
            net60_std=float(hourly.std()), net60_over_half=float((np.abs(hourly) > 0.5).mean()),
            acf15=acf, energy4h_std=float(energy.std()),
        )


class RegulationIntervals(NamedTuple):
    """A signal reduced to intervals (arrays (..., T)): fractions, up-time share, mileage."""

    delta_up: np.ndarray
    delta_down: np.ndarray
    up_time: np.ndarray
    mileage_up: np.ndarray
    mileage_down: np.ndarray


def reduce_signal(signal: np.ndarray, steps_per_interval: int, previous: float | None = None) -> RegulationIntervals:
    """Reduce a 2-second signal (..., T * steps_per_interval) to its intervals. The mileage of an
    interval counts the moves that end inside it; ``previous`` is the sample before the first."""
    shape = signal.shape[:-1] + (-1, steps_per_interval)
    up, down = np.maximum(signal, 0.0), np.maximum(-signal, 0.0)
    first = signal[..., :1] if previous is None else np.full(signal.shape[:-1] + (1,), previous)
    moves_up = np.abs(np.diff(up, axis=-1, prepend=np.maximum(first, 0.0)))
    moves_down = np.abs(np.diff(down, axis=-1, prepend=np.maximum(-first, 0.0)))
    return RegulationIntervals(
        up.reshape(shape).mean(-1), down.reshape(shape).mean(-1), (signal > 0).reshape(shape).mean(-1),
        moves_up.reshape(shape).sum(-1), moves_down.reshape(shape).sum(-1),
    )


@dataclass(frozen=True)
class RegulationModel:
    """``s = clip(mean + level + y, -1, 1)`` at 2-second steps (see the module docstring).

    ``y``: an AR(2) whose poles are those of a second-order system of time scale
    ``time_scale_s`` (1 / natural frequency) and ``damping``, high-pass filtered with time
    constant ``highpass_s`` (None: not filtered), scaled to standard deviation ``sigma``.
    ``level``: Ornstein-Uhlenbeck, standard deviation ``level_sigma``, time constant
    ``level_time_h``.
    """

    mean: float
    sigma: float
    time_scale_s: float
    damping: float
    highpass_s: float | None = None
    level_sigma: float = 0.0
    level_time_h: float = 24.0

    def fast_filter(self) -> tuple[np.ndarray, np.ndarray]:
        """``(b, a)`` for :func:`scipy.signal.lfilter`: unit white noise in, ``y`` out."""
        dt, w, z = SIGNAL_STEP_S, 1.0 / self.time_scale_s, self.damping
        if z < 1:
            r, angle = np.exp(-z * w * dt), w * np.sqrt(1 - z * z) * dt
            a = np.array([1.0, -2 * r * np.cos(angle), r * r])
        else:
            p1, p2 = np.exp((-z + np.sqrt(z * z - 1)) * w * dt), np.exp((-z - np.sqrt(z * z - 1)) * w * dt)
            a = np.array([1.0, -(p1 + p2), p1 * p2])
        b = np.array([1.0])
        if self.highpass_s is not None:
            a = np.convolve(a, [1.0, -np.exp(-dt / self.highpass_s)])
            b = np.array([1.0, -1.0])
        impulse = lfilter(b, a, np.eye(1, 200_000).ravel())
        return b * self.sigma / np.sqrt(np.sum(impulse**2)), a

    @property
    def _burn_in_steps(self) -> int:
        slowest = max(self.time_scale_s * max(1.0, 2 * self.damping), self.highpass_s or 0.0)
        return int(np.ceil(8 * slowest / SIGNAL_STEP_S))

    def stream(self, rng: np.random.Generator) -> "SignalStream":
        """A stationary signal to draw in consecutive pieces."""
        return SignalStream(self, rng)


class SignalStream:
    """A stationary realisation of a :class:`RegulationModel`, drawn piece by piece (filter
    states carried over, so consecutive pieces are one path)."""

    def __init__(self, model: RegulationModel, rng: np.random.Generator) -> None:
        self.model, self.rng = model, rng
        self.b, self.a = model.fast_filter()
        _, self.zi = lfilter(self.b, self.a, rng.standard_normal(model._burn_in_steps), zi=np.zeros(len(self.a) - 1))
        self.phi = np.exp(-SIGNAL_STEP_S / (model.level_time_h * 3600))
        self.level = rng.normal(0.0, model.level_sigma)

    def take(self, n_steps: int) -> np.ndarray:
        y, self.zi = lfilter(self.b, self.a, self.rng.standard_normal(n_steps), zi=self.zi)
        if self.model.level_sigma > 0:
            shocks = self.rng.standard_normal(n_steps) * self.model.level_sigma * np.sqrt(1 - self.phi**2)
            level, _ = lfilter([1.0], [1.0, -self.phi], shocks, zi=[self.phi * self.level])
            self.level = float(level[-1])
            y += level
        return np.clip(self.model.mean + y, -1.0, 1.0)


# --- fitting -------------------------------------------------------------------------------------

def _fit_distance(stats: SignalStats, target: SignalStats) -> float:
    """Weighted squared distance on the statistics that move energy (mileage in relative terms)."""
    terms = [
        (stats.mean_up - target.mean_up) / 0.02, (stats.mean_down - target.mean_down) / 0.02,
        np.log(stats.mileage_per_h / target.mileage_per_h) / 0.05,
        (stats.net15_std - target.net15_std) / 0.02, (stats.net60_std - target.net60_std) / 0.02,
        *((a - b) / 0.05 for a, b in zip(stats.acf15[:3], target.acf15[:3])),
    ]
    return float(np.sum(np.square(terms)))


_FIT_BURN_IN_STEPS = 3600  # 2 h of signal dropped before each fitted path


def paths_at_levels(model: RegulationModel, eps: np.ndarray, levels: list[float]) -> list[np.ndarray]:
    """Signal paths from given innovations ``eps`` (paths, burn-in + length) with the level held at
    ``levels[i % len(levels)]`` for path i (the fast part only varies): how a fit compares the model
    with real segments whose own levels are known."""
    b, a = model.fast_filter()
    y = lfilter(b, a, eps, axis=-1)[:, _FIT_BURN_IN_STEPS:]
    return [np.clip(model.mean + levels[i % len(levels)] + row, -1.0, 1.0) for i, row in enumerate(y)]


def fit_regulation(name: str) -> RegulationModel:
    """Fit the model of signal ``name`` by simulated moments (common random numbers, Nelder-Mead
    from a fixed start); see the module docstring for what is fitted and what is assumed."""
    segments = load_signal(name)
    target = SignalStats.of(segments)
    rng = np.random.default_rng(_FIT_SEED)
    length = _FIT_BURN_IN_STEPS + max(len(s) for s in segments)
    if name == "regd":
        levels, eps = [0.0], rng.standard_normal((8, length))

        def build(p: np.ndarray) -> RegulationModel:
            return RegulationModel(float(p[0]), *map(float, np.exp(p[1:])))

        start = np.array([float(np.concatenate(segments).mean()), np.log(0.6), np.log(60.0), np.log(1.0), np.log(1800.0)])
    elif name == "rega":
        levels = [float(s.mean()) for s in segments]
        level_sigma = float(np.sqrt(np.mean(np.square(levels))))
        eps = rng.standard_normal((8 * len(segments), length))

        def build(p: np.ndarray) -> RegulationModel:
            return RegulationModel(0.0, *map(float, np.exp(p)), highpass_s=None, level_sigma=level_sigma, level_time_h=24.0)

        start = np.array([np.log(0.5), np.log(250.0), np.log(2.0)])
    else:
        raise ValueError(f"regulation signal {name!r} is unknown; choose one of {sorted(SIGNAL_FILES)}")

    def distance(p: np.ndarray) -> float:
        return _fit_distance(SignalStats.of(paths_at_levels(build(p), eps, levels)), target)

    result = minimize(distance, start, method="Nelder-Mead", options={"maxiter": 1500, "xatol": 1e-5, "fatol": 1e-6})
    return build(result.x)


def stats_at_data_levels(model: RegulationModel, name: str, repeats: int = 20, seed: int = 1) -> SignalStats:
    """Statistics of ``repeats`` simulated copies of each real segment of ``name``, the level held
    at that segment's own mean (for a model with a random level) or at the model's (without)."""
    segments = load_signal(name)
    levels = [float(s.mean()) for s in segments] if model.level_sigma > 0 else [0.0]
    rng = np.random.default_rng(seed)
    paths = []
    for i, segment in enumerate(segments):
        eps = rng.standard_normal((repeats, _FIT_BURN_IN_STEPS + len(segment)))
        paths += paths_at_levels(model, eps, [levels[i % len(levels)]])
    return SignalStats.of(paths)


def model_stats(model: RegulationModel, days: int = 60, seed: int = 0) -> SignalStats:
    """Statistics of ``days`` simulated days of ``model`` (one stationary path)."""
    stream = model.stream(np.random.default_rng(seed))
    steps = round(86400 / SIGNAL_STEP_S)
    return SignalStats.of([stream.take(steps) for _ in range(days)])


@lru_cache(maxsize=None)
def _table() -> dict:
    return json.loads((DATA_DIR / "regulation_models.json").read_text())


def _fitted(name: str) -> dict:
    table = _table()
    if name not in table:
        raise ValueError(f"regulation signal {name!r} is unknown; choose one of {sorted(table)}")
    return table[name]


def regulation_model(name: str) -> RegulationModel:
    """The shipped fitted model for signal ``name`` (see ``data/regulation_models.json``)."""
    return RegulationModel(**_fitted(name)["model"])


def regulation_model_stats(name: str) -> SignalStats:
    """Long-run statistics of the shipped model for ``name`` (simulated when it was fitted)."""
    return _stats(_fitted(name)["model_stats"])


# --- episodes ------------------------------------------------------------------------------------

class DeploymentConfig(BaseModel):
    """How AS are deployed. ``regulation_signal``: the fitted model regulation follows (None:
    the market profile's choice, resolved by :class:`bessgym.config.Config`). Event rates are per
    day, durations in minutes."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    regulation_signal: RegulationSignal | None = None
    spin_events_per_day: StrictFloat = Field(0.1, ge=0, le=1000.0)
    nonspin_events_per_day: StrictFloat = Field(0.05, ge=0, le=1000.0)
    event_min_minutes: StrictFloat = Field(10.0, gt=0)
    event_max_minutes: StrictFloat = Field(60.0, gt=0)

    @model_validator(mode="after")
    def _check(self) -> "DeploymentConfig":
        if self.event_max_minutes < self.event_min_minutes:
            raise ValueError(
                f"event_max_minutes ({self.event_max_minutes}) must be >= event_min_minutes ({self.event_min_minutes})"
            )
        return self

    @property
    def signal(self) -> RegulationSignal:
        if self.regulation_signal is None:
            raise ValueError("deployment.regulation_signal is unresolved; build the config with bessgym.config.load_config")
        return self.regulation_signal


@dataclass(frozen=True)
class Deployment:
    """One day's deployment. ``fraction`` (T, 4) in [0, 1] of the award per product in PRODUCTS
    order; ``mileage`` (T, 2): reg up / reg down mileage per MW of award; ``up_time`` (T,): the
    share of each interval in which the regulation signal is up (1 where it is never down).
    Contingency deployment is spread evenly over its interval. Without ``up_time`` (a hand-built
    day) the signal is taken as equally strong up and down: ``up_time = up / (up + down)``."""

    fraction: np.ndarray
    mileage: np.ndarray
    up_time: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        fraction = np.asarray(self.fraction, dtype=float)
        up, down = fraction[:, 0], fraction[:, 1]
        if self.up_time is None:
            total = up + down
            object.__setattr__(self, "up_time", np.divide(up, total, out=np.zeros_like(up), where=total > 0))
        up_time = np.asarray(self.up_time, dtype=float)
        bad = (fraction < 0).any(1) | (fraction > 1).any(1) | (up > up_time + 1e-12) | (down > 1 - up_time + 1e-12)
        if bad.any():
            t = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"deployment at interval {t} is not a signal in [-1, 1]: fractions {fraction[t].tolist()}, up_time "
                f"{up_time[t]} (need fractions in [0, 1], reg up <= up_time and reg down <= 1 - up_time)"
            )


@lru_cache(maxsize=8)
def _pool(name: str, steps_per_interval: int) -> RegulationIntervals:
    """A long stationary signal of the model ``name`` (:data:`POOL_DAYS` days from a fixed seed)
    reduced to intervals of ``steps_per_interval`` signal steps."""
    model = regulation_model(name)
    stream = model.stream(np.random.default_rng(_POOL_SEEDS[name]))
    chunk = round(86400 / SIGNAL_STEP_S) * 8 // steps_per_interval * steps_per_interval
    total = round(86400 / SIGNAL_STEP_S) * POOL_DAYS // steps_per_interval * steps_per_interval
    pieces, previous = [], None
    for start in range(0, total, chunk):
        signal = stream.take(min(chunk, total - start))
        pieces.append(reduce_signal(signal, steps_per_interval, previous))
        previous = float(signal[-1])
    return RegulationIntervals(*(np.concatenate(parts) for parts in zip(*pieces)))


def steps_per_interval(dt_h: float) -> int:
    steps = round(dt_h * 3600 / SIGNAL_STEP_S)
    if steps < 1 or abs(steps * SIGNAL_STEP_S - dt_h * 3600) > 1e-6:
        raise ValueError(f"interval length {dt_h} h is not a whole number of {SIGNAL_STEP_S:g}-second signal steps")
    return steps


_NO_EVENTS = np.zeros(0)


def contingency_events(
    rng: np.random.Generator, rate_per_day: float, day_h: float, min_minutes: float, max_minutes: float
) -> tuple[np.ndarray, np.ndarray]:
    """Start and end hours of a day's Poisson events of full deployment."""
    n_events = rng.poisson(rate_per_day * day_h / 24.0)
    if n_events == 0:  # no draws to make (drawing zero numbers would consume none either)
        return _NO_EVENTS, _NO_EVENTS
    starts = rng.uniform(0.0, day_h, n_events)
    return starts, starts + rng.uniform(min_minutes, max_minutes, n_events) / 60.0


Event = tuple[int, int, float, float]
"""A contingency event: (day in the batch, product column, start hour, end hour)."""


def draw_windows(
    config: DeploymentConfig, n_intervals: int, dt_h: float, seeds: Sequence[int | np.random.Generator]
) -> tuple[np.ndarray, list[Event]]:
    """The random part of days of deployment, one per seed (or generator, which advances): where
    each day's window starts in the model's long signal (:func:`regulation_pool`), and its
    contingency events."""
    pool = regulation_pool(config, dt_h)
    day_h = n_intervals * dt_h
    starts = np.empty(len(seeds), dtype=np.int64)
    events: list[Event] = []
    for i, seed in enumerate(seeds):
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        starts[i] = rng.integers(0, len(pool.delta_up) - n_intervals + 1)
        for column, rate in ((2, config.spin_events_per_day), (3, config.nonspin_events_per_day)):
            begin, end = contingency_events(rng, rate, day_h, config.event_min_minutes, config.event_max_minutes)
            events += [(i, column, a, b) for a, b in zip(begin.tolist(), end.tolist())]
    return starts, events


def regulation_pool(config: DeploymentConfig, dt_h: float) -> RegulationIntervals:
    """The model's long signal reduced to intervals of ``dt_h`` hours (built once per process)."""
    return _pool(config.signal, steps_per_interval(dt_h))


def coverage(begin: float, end: float, n_intervals: int, dt_h: float) -> np.ndarray:
    """Share of each interval (T,) that an event from ``begin`` to ``end`` (hours) covers."""
    edges = np.arange(n_intervals + 1) * dt_h
    return np.clip(np.minimum(edges[1:], end) - np.maximum(edges[:-1], begin), 0.0, None) / dt_h


def contingency_fractions(events: Sequence[tuple[int, int, float, float]], k: int, n_intervals: int, dt_h: float) -> np.ndarray:
    """Spinning and non-spinning deployment fractions (k, T, 2) of :func:`draw_windows`' events
    ``(day, product column, begin h, end h)``: each interval's covered share, at most 1."""
    fraction = np.zeros((k, n_intervals, 2))
    for i, column, begin, end in events:
        fraction[i, :, column - 2] += coverage(begin, end, n_intervals, dt_h)
    return np.minimum(fraction, 1.0)


def regulation_at(pool: RegulationIntervals, index: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The regulation pool at intervals ``index`` (any shape): (up, down) deployment fractions
    (..., 2), the up-time share (...) and the (up, down) mileage (..., 2)."""
    fraction = np.stack([pool.delta_up[index], pool.delta_down[index]], axis=-1)
    return fraction, pool.up_time[index], np.stack([pool.mileage_up[index], pool.mileage_down[index]], axis=-1)


def draw_deployments(
    config: DeploymentConfig, n_intervals: int, dt_h: float, seeds: Sequence[int | np.random.Generator]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Days of deployment, one per seed (or generator, which advances), each drawn as
    :func:`draw_deployment` draws it: fractions (k, T, 4), mileage (k, T, 2), up-time (k, T)."""
    starts, events = draw_windows(config, n_intervals, dt_h, seeds)
    regulation, up_time, mileage = regulation_at(regulation_pool(config, dt_h), starts[:, None] + np.arange(n_intervals))
    fraction = np.concatenate([regulation, contingency_fractions(events, len(seeds), n_intervals, dt_h)], axis=-1)
    return fraction, mileage, up_time


def draw_deployment(
    config: DeploymentConfig, n_intervals: int, dt_h: float, seed: int | np.random.Generator
) -> Deployment:
    """A day's deployment: a window of the model's long signal and the day's contingency events,
    drawn with ``seed`` (or with a generator, which advances)."""
    fraction, mileage, up_time = draw_deployments(config, n_intervals, dt_h, [seed])
    return Deployment(fraction[0], mileage[0], up_time[0])


@lru_cache(maxsize=8)
def _moments(config_json: str, n_intervals: int, dt_h: float, days: int) -> tuple[np.ndarray, np.ndarray]:
    config = DeploymentConfig.model_validate_json(config_json)
    reg = regulation_pool(config, dt_h)
    starts = np.random.default_rng(0x5EED).integers(0, len(reg.delta_up) - n_intervals + 1, days)
    regulation = np.stack([np.concatenate([reg.delta_up[s:s + n_intervals], reg.delta_down[s:s + n_intervals]])
                           for s in starts])  # (days, 2T): reg up then reg down
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

    Regulation: from ``days`` windows of the model's long signal. Contingency events are too rare
    to sample: their fraction is taken as a Bernoulli of the mean deployment ``p`` (variance
    ``p (1 - p)``, an upper bound for partial coverage), correlated over a triangular kernel as wide
    as the mean event, independent of everything else.
    """
    return _moments(config.model_dump_json(), n_intervals, dt_h, days)


def sub_periods(fraction: np.ndarray, up_time: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The two sub-periods of each interval (DESIGN 1.5): the up share ``w`` (..., T) and, per
    product, the net deployment per MW of award in the up and in the down sub-period (..., T, 4;
    + = up). Reg up runs at its conditional mean ``delta_up / w`` in the up sub-period, reg down at
    ``delta_down / (1 - w)`` in the down one, contingency reserves at their fraction in both; a
    sub-period of zero share deploys nothing."""
    w = np.asarray(up_time, dtype=float)
    fraction = np.asarray(fraction, dtype=float)
    in_up, in_down = w > 0, w < 1
    up = np.zeros(fraction.shape)
    down = np.zeros(fraction.shape)
    up[..., 0] = np.divide(fraction[..., 0], w, out=np.zeros_like(w), where=in_up)
    down[..., 1] = -np.divide(fraction[..., 1], 1 - w, out=np.zeros_like(w), where=in_down)
    up[..., 2:] = fraction[..., 2:] * in_up[..., None]
    down[..., 2:] = fraction[..., 2:] * in_down[..., None]
    return w, up, down


# --- refit and report ---------------------------------------------------------------------------

def _refit() -> dict:
    table = {}
    for name in SIGNAL_FILES:
        model = fit_regulation(name)
        table[name] = {
            "model": asdict(model),
            "fitted_to": SIGNAL_FILES[name],
            "data_stats": asdict(SignalStats.of(load_signal(name))),
            "model_stats": asdict(model_stats(model)),
            "model_stats_at_data_levels": asdict(stats_at_data_levels(model, name)),
        }
    return table


def _stats(raw: dict) -> SignalStats:
    return SignalStats(**{**raw, "acf15": tuple(raw["acf15"])})


STAT_ROWS = (
    ("E[max(s, 0)] (up deployment)", lambda s: s.mean_up, 3),
    ("E[max(-s, 0)] (down deployment)", lambda s: s.mean_down, 3),
    ("share of time up", lambda s: s.up_time, 2),
    ("mileage per hour", lambda s: s.mileage_per_h, 1),
    ("15-min net: std", lambda s: s.net15_std, 2),
    ("15-min net: share abs > 0.5", lambda s: s.net15_over_half, 2),
    ("hourly net: std", lambda s: s.net60_std, 2),
    ("hourly net: share abs > 0.5", lambda s: s.net60_over_half, 2),
    *((f"autocorrelation of 15-min nets, {lag * 15} min", (lambda s, i=i: s.acf15[i]), 2) for i, lag in enumerate(ACF_LAGS)),
    ("4-hour net energy: std (MWh per MW)", lambda s: s.energy4h_std, 2),
)


def report() -> str:
    """Markdown table: the shipped models' statistics beside those of the real signals."""
    regd, rega = _fitted("regd"), _fitted("rega")
    columns = [
        ("RegD data (72 h)", _stats(regd["data_stats"])), ("`regd` model", _stats(regd["model_stats"])),
        ("RegA data (16 h)", _stats(rega["data_stats"])),
        ("`rega` model, data's levels", _stats(rega["model_stats_at_data_levels"])),
        ("`rega` model, random level", _stats(rega["model_stats"])),
    ]
    lines = ["| statistic | " + " | ".join(name for name, _ in columns) + " |", "|---|" + "---|" * len(columns)]
    for label, get, digits in STAT_ROWS:
        lines.append(f"| {label} | " + " | ".join(f"{get(stats):.{digits}f}" for _, stats in columns) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bessgym.deployment", description="refit the regulation models")
    parser.add_argument("--report", action="store_true", help="print the shipped models against the data")
    args = parser.parse_args()
    if not args.report:
        out = DATA_DIR / "regulation_models.json"
        out.write_text(json.dumps(_refit(), indent=2) + "\n")
        _table.cache_clear()
    print(report())

