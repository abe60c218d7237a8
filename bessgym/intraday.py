"""Intraday RT price forecasts: what a policy can say about the rest of the day once it has seen
the RT prices up to the previous interval (DESIGN 1.7: the base point for interval t is decided
on prices up to t - 1).

:class:`IntradayForecaster` models the RT price as a prior path known before the day starts plus
an AR(1) deviation around a mean. The prior (``PRIORS``):

* ``"da"``: the cleared DA price of the interval's hour;
* ``"da_shape"`` (default): the DA price plus the gate-closure RT forecast's shape within each
  hour (the forecast minus its hourly mean; DA prices are hourly, RT prices 15-minute).

Having seen the deviation ``d = rt - prior`` of interval t - 1, the forecast for interval t + k is
``prior + mean + phi^(k + 1) (d - mean)``; its error has the standard deviation
``sigma sqrt(sum_{j <= k} phi^(2 j))`` (Gaussian quantiles, or sampled paths for an ensemble).
Before any RT price of the day is seen, the forecast is ``prior + mean``. ``phi`` is stored per
hour, so one fit serves any interval length (``phi_dt = phi_per_hour ** dt_h``, the innovation std
scaled to keep the deviation's stationary variance).

Fits (:meth:`IntradayForecaster.fit`: pooled least squares over consecutive intervals of each
train day) ship per market profile in ``data/intraday_models.json`` (:data:`FITTED_ON`: CAISO
SP15 2023, the same at 5 minutes for the three-settlement ``caiso3``, PJM Western Hub July 2023
at 5 minutes, ERCOT HB_HOUSTON 2021, synthetic); ``python -m bessgym.intraday`` refits and prints
them (``--write`` replaces the shipped file). ERCOT's 2021 fit is dominated by Winter Storm Uri:
five days (2021-02-13, -14, -16, -19 and 04-29) hold 87% of the squared deviations (without
February 2021: innovations 46.8 instead of 97.2 $/MWh, 0.865 instead of 0.946 left after 15
minutes). A policy runs the fit of its market profile's name: the caiso-sp15 preset's
``test_ood`` split (ERCOT prices under the CAISO profile) runs the CAISO fit, out of its
distribution like everything else there.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
from scipy.stats import norm

from bessgym._paths import DATA_DIR
from bessgym.config import Config, load_config
from bessgym.forecast import da_context
from bessgym.policies import checked
from bessgym.scenarios import ScenarioSet

PRIORS = ("da", "da_shape")
_BATTERY = {"p_charge_mw": 1.0, "p_discharge_mw": 1.0, "energy_mwh": 4.0}
FITTED_ON: dict[str, tuple[str | dict, str]] = {  # market profile -> (config, description) whose train split is fitted
    "caiso": ("caiso-sp15", "caiso-sp15 train split (SP15, 2023)"),
    "caiso3": ("caiso3-sp15", "caiso3-sp15 train split (SP15, 2023; the RTD's 5-minute prices, synthetic)"),
    "pjm": ("pjm-western-5min", "pjm-western-5min train split (PJM Western Hub, July 2023, real 5-minute prices)"),
    "ercot": ({"market": "ercot", "battery": _BATTERY, "data": {"source": "ercot", "node": "HB_HOUSTON", "splits": {
        "train": {"start": "2021-01-01", "end": "2021-12-31"}}}}, "ERCOT HB_HOUSTON 2021 (2022 left unseen)"),
    "synthetic": ("synthetic", "synthetic train split"),
}


def prior_path(prior: str, da_price: np.ndarray, gate_rt: np.ndarray) -> np.ndarray:
    """The prior ($/MWh, (..., n)) of a day from its cleared DA prices (..., 24) and gate-closure
    RT forecast (..., n); any leading batch axes."""
    if prior not in PRIORS:
        raise ValueError(f"prior {prior!r} is not one of {list(PRIORS)}")
    gate, da_price = np.asarray(gate_rt, float), np.asarray(da_price, float)
    per_hour = gate.shape[-1] // da_price.shape[-1]
    da = np.repeat(da_price, per_hour, axis=-1)
    if prior == "da":
        return da
    hourly = gate.reshape(gate.shape[:-1] + (da_price.shape[-1], per_hour))
    return da + (hourly - hourly.mean(axis=-1, keepdims=True)).reshape(gate.shape)


@dataclass(frozen=True)
class IntradayForecaster:
    """RT price = ``prior`` path + AR(1) deviation around ``mean_usd_per_mwh``; ``phi_per_hour`` in
    [0, 1); ``sigma_usd_per_mwh`` the std of one ``sigma_dt_h``-hour innovation."""

    prior: str
    mean_usd_per_mwh: float
    phi_per_hour: float
    sigma_usd_per_mwh: float
    sigma_dt_h: float

    def __post_init__(self) -> None:
        if self.prior not in PRIORS:
            raise ValueError(f"prior {self.prior!r} is not one of {list(PRIORS)}")
        if not 0.0 <= self.phi_per_hour < 1.0:
            raise ValueError(f"phi_per_hour must be within [0, 1), got {self.phi_per_hour!r}")
        checked("mean_usd_per_mwh", self.mean_usd_per_mwh)
        checked("sigma_usd_per_mwh", self.sigma_usd_per_mwh, at_least=0)
        checked("sigma_dt_h", self.sigma_dt_h, above=0)

    @classmethod
    def fit(cls, scenarios: ScenarioSet, split: str = "train", prior: str = "da_shape") -> IntradayForecaster:
        """Pooled least squares over consecutive intervals of each usable day of ``split`` (the
        gate-closure forecasts those days had)."""
        ids = scenarios.ids(split)
        if not ids:
            raise ValueError(f"split {split!r} has no days to fit an intraday forecaster on")
        deviations, dt_h = [], None
        for scenario_id in ids:
            day = scenarios.get(scenario_id)
            gate = da_context(scenarios, day).rt_price
            deviations.append(day.rt_price - prior_path(prior, day.da_price, gate))
            dt_h = day.dt_h
        d = np.array(deviations)
        mean = float(d.mean())
        before, after = (d[:, :-1] - mean).ravel(), (d[:, 1:] - mean).ravel()
        phi = float(np.clip((before @ after) / (before @ before), 0.0, 1.0 - 1e-9))
        return cls(prior, mean, phi ** (1.0 / dt_h), float(np.std(after - phi * before)), float(dt_h))

    @classmethod
    def shipped(cls, market: str) -> IntradayForecaster:
        """The fit shipped for market profile ``market`` (see ``data/intraday_models.json``)."""
        table = _table()
        if market not in table:
            raise ValueError(f"no intraday forecaster is fitted for market {market!r} (fitted: {sorted(table)}); "
                             "plan on the gate-closure forecast (MPCPolicy(forecast='gate_closure'), in a spec "
                             "'baselines.mpc:MPCPolicy?forecast=gate_closure'), or fit one on your train split "
                             "(IntradayForecaster.fit) and pass it as the policy's forecaster")
        return cls(**table[market]["model"])

    def prior_of(self, da_price: np.ndarray, gate_rt: np.ndarray) -> np.ndarray:
        """This forecaster's prior path (:func:`prior_path`) of days (..., 24) and (..., n)."""
        return prior_path(self.prior, da_price, gate_rt)

    @classmethod
    def of_config(cls, config: Config, scenarios: ScenarioSet) -> IntradayForecaster:
        """The forecaster of a config: its market's shipped fit, or (a market without one) the
        fit on the config's own train split."""
        if config.market_profile.name in _table():
            return cls.shipped(config.market_profile.name)
        return cls.fit(scenarios, "train")

    def _phi(self, dt_h: float) -> float:
        return self.phi_per_hour**dt_h

    def _sigma(self, dt_h: float) -> float:
        """The innovation std of one ``dt_h``-hour interval: the one that keeps the deviation's
        stationary variance ``sigma^2 / (1 - phi^2)`` that of the fit."""
        fitted, here = self._phi(self.sigma_dt_h), self._phi(dt_h)
        return self.sigma_usd_per_mwh * float(np.sqrt((1.0 - here**2) / (1.0 - fitted**2)))

    def point(self, prior: np.ndarray, t: int, last_deviation: float | None, dt_h: float) -> np.ndarray:
        """The forecast ($/MWh) of intervals ``t .. n - 1`` from the day's ``prior`` (n,) and the
        deviation ``rt - prior`` of interval t - 1 (``None``: no RT price seen yet)."""
        ahead = np.asarray(prior, float)[t:] + self.mean_usd_per_mwh
        if last_deviation is None:
            return ahead
        decay = self._phi(dt_h) ** np.arange(1, len(ahead) + 1)
        return ahead + decay * (last_deviation - self.mean_usd_per_mwh)

    def day_means(self, prior: np.ndarray, rt_price: np.ndarray, dt_h: float,
                  width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For every interval t of days (..., n), as a policy deciding t knows them: the deviation
        ``rt - prior`` of interval t - 1 (0 at t = 0), and the mean of :meth:`point` over the next
        ``width`` intervals (the prior's last value past the day's end) and over the rest of the
        day, in closed form for all t at once ($/MWh, each (..., n))."""
        from bessgym.observation import rest_means, window_means  # observation imports nothing of this module

        n = prior.shape[-1]
        seen = np.arange(n) > 0
        deviation = np.where(seen, np.concatenate([np.zeros(prior.shape[:-1] + (1,)), (rt_price - prior)[..., :-1]], axis=-1), 0.0)
        excess = np.where(seen, deviation - self.mean_usd_per_mwh, 0.0)  # point = prior + mean + phi^(k + 1) excess
        decay = np.cumsum(self._phi(dt_h) ** np.arange(1, max(n, width) + 1))  # decay[k]: sum of phi^(j + 1), j <= k
        left = n - np.arange(n)
        return (deviation,
                window_means(prior, width) + self.mean_usd_per_mwh + decay[width - 1] / width * excess,
                rest_means(prior) + self.mean_usd_per_mwh + decay[left - 1] / left * excess)

    def error_std(self, n_ahead: int, dt_h: float, seen: bool = True) -> np.ndarray:
        """Std ($/MWh) of the forecast error 1 .. n_ahead intervals after the last price seen
        (``seen=False``: none seen, the deviation's stationary std throughout)."""
        phi, sigma = self._phi(dt_h), self._sigma(dt_h)
        if not seen:
            return np.full(n_ahead, sigma / np.sqrt(1.0 - phi**2))
        return sigma * np.sqrt(np.cumsum(phi ** (2 * np.arange(n_ahead))))

    def quantiles(self, prior: np.ndarray, t: int, last_deviation: float | None, dt_h: float,
                  levels: np.ndarray) -> np.ndarray:
        """Gaussian quantiles ($/MWh, (len(levels), n - t)) of the prices of intervals ``t .. n - 1``."""
        levels = np.asarray(levels, float)
        if np.any((levels <= 0) | (levels >= 1)):
            raise ValueError(f"quantile levels must be within (0, 1), got {levels.tolist()}")
        centre = self.point(prior, t, last_deviation, dt_h)
        return centre + norm.ppf(levels)[:, None] * self.error_std(len(centre), dt_h, seen=last_deviation is not None)

    def paths(self, prior: np.ndarray, t: int, last_deviation: float | None, dt_h: float, n_paths: int,
              rng: np.random.Generator, as_known: bool = False, horizon: int | None = None) -> np.ndarray:
        """An ensemble ($/MWh, (n_paths, n - t)) of price paths for intervals ``t .. n - 1``: the
        forecast error run forward as the AR(1) with Gaussian innovations, in antithetic pairs
        (path 2i + 1 mirrors path 2i about the point forecast, so that with an even ``n_paths``
        the ensemble's mean is the point forecast at every interval).

        ``as_known``: each path's prices as a policy deciding an interval's base point knows them,
        one interval earlier: ``E[price_k | the path up to k - 1]`` (the first is the point
        forecast in every path). The expected money of a base point decided on prices up to
        k - 1 is the same at either; planning on these instead of the path's prices keeps an
        ensemble plan from trading on a price it will not have seen when it decides.

        ``horizon``: the paths are the point forecast from interval t + ``horizon`` on (None: they
        spread over the whole rest of the day); with ``as_known`` the price of interval t is the
        point forecast in every path too, so they spread over t + 1 .. t + horizon - 1."""
        checked("n_paths", n_paths, at_least=1, whole=True)
        ahead = self.point(prior, t, last_deviation, dt_h)
        phi, sigma = self._phi(dt_h), self._sigma(dt_h)
        half = (n_paths + 1) // 2
        error = np.zeros((half, len(ahead) + 1))  # error[:, k + 1] that of interval t + k
        if last_deviation is None:  # none seen: the deviation before the day is a stationary draw
            error[:, 0] = sigma / np.sqrt(1.0 - phi**2) * rng.standard_normal(half)
        shocks = sigma * rng.standard_normal((len(ahead), half))
        for k in range(len(ahead)):
            error[:, k + 1] = phi * error[:, k] + shocks[k]
        if as_known:
            noise = phi * error[:, :-1]
            noise[:, 0] = 0.0  # interval t: nothing of the path seen yet
        else:
            noise = error[:, 1:]
        if horizon is not None:
            noise[:, max(int(horizon), 0):] = 0.0
        return ahead + np.stack([noise, -noise], axis=1).reshape(2 * half, -1)[:n_paths]


@lru_cache(maxsize=None)
def _table() -> dict:
    return json.loads((DATA_DIR / "intraday_models.json").read_text())


def refit() -> dict:
    """Fit every market's forecaster on its preset's train split (both priors; ``model`` the
    shipped ``da_shape`` fit)."""
    table = {}
    for market, (config, description) in FITTED_ON.items():
        scenarios = ScenarioSet(load_config(config))
        fits = {prior: asdict(IntradayForecaster.fit(scenarios, "train", prior)) for prior in PRIORS}
        table[market] = {"model": fits["da_shape"], "fitted_on": description, "by_prior": fits}
    return table


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bessgym.intraday", description="refit the intraday RT forecasters")
    parser.add_argument("--write", action="store_true", help="replace the shipped fits (data/intraday_models.json)")
    args = parser.parse_args()
    text = json.dumps(refit(), indent=2) + "\n"
    if args.write:
        (DATA_DIR / "intraday_models.json").write_text(text)
        _table.cache_clear()
    print(text, end="")
