"""MPC: RT policies that re-plan the rest of the day every RT interval from the measured state,
with the DA position and awards fixed.

In a three-settlement market they re-plan every RTD interval, and at the first RTD interval of
each FMM interval they submit the FMM position the plan delivers: the mean of its base points
over the FMM interval. Their plans price the FMM as the mean of the RTD prices they forecast
(the best a policy knows of an FMM price before it clears), at which every FMM position earns
the same; scheduling what they plan to deliver keeps the RTD's deviation settlement small.

:class:`MPCPolicy` (deterministic) plans on one scenario: an RT price forecast and the expected
deployment. :class:`StochasticMPC` plans on an ensemble: price paths sampled from the intraday
forecaster and deployment paths drawn from the deployment model, side by side, all sharing the
interval's base point (the only decision taken now); the SoC each scenario keeps for its awards
is what the ensemble's shortfall and unavailability costs make worth keeping (the AS energy
reserve is a decision, not a constant).

The RT model (:func:`baselines.day_lp.build_day_model` with the accepted bid fixed, shortfall and
unavailability priced) is built once per day, per scenario. Each interval sets the past aside (its
columns fixed at zero, its rows relaxed, its SoC free), fixes the SoC at the interval's start to
the measured one in every scenario, rewrites the RT-priced costs of the intervals ahead for the
new forecast (:func:`baselines.day_lp.rt_priced_costs`) and re-solves the same HiGHS instance,
which hot-starts from the previous basis. The interval's own price is not known when it decides
(DESIGN 1.7). A re-plan that fails (other than by its time limit) is tried once more from a cold
start; one that still fails falls back to the DA schedule and is counted (``fallbacks``, per day;
evaluation reports it).

Forecasts (``forecast``): ``"intraday"`` (default) re-forecasts the rest of the day every interval
from the RT price of the previous interval (:class:`bessgym.intraday.IntradayForecaster`, the
market's shipped fit unless ``forecaster`` is given); ``"gate_closure"`` plans on the gate-closure
RT forecast all day (deterministic MPC only).
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from bessgym.actions import LayeredDecision
from bessgym.deployment import draw_deployment
from bessgym.intraday import IntradayForecaster, prior_path
from bessgym.market import steps_per_fmm
from bessgym.observation import PRICE_SCALE_USD_PER_MWH, RT_INDEX, SOC, TIME_OF_DAY
from bessgym.policies import RTEpisode, checked, interval_index
from bessgym.scenarios import stable_seed
from bessgym.sim import ScenarioArrays

from baselines.day_lp import build_day_model, forecast_arrays, rt_priced_costs
from baselines.solver import SolveStatus, new_highs, run, side_by_side, to_highs_lp, with_rows

FORECASTS = ("intraday", "gate_closure")
RT_PRICE_PREV = RT_INDEX["rt_price_prev"]


class RTForecast:
    """The RT price forecast an RT policy plans on: the gate-closure forecast, or (``intraday``)
    the intraday forecaster updated with the RT price of the previous interval."""

    def __init__(self, forecast: str, forecaster: IntradayForecaster | None) -> None:
        if forecast not in FORECASTS:
            raise ValueError(f"forecast {forecast!r} is not one of {list(FORECASTS)}")
        if forecaster is not None and forecast != "intraday":
            raise ValueError("an intraday forecaster applies to forecast='intraday' only")
        self.forecast, self.given = forecast, forecaster

    def reset(self, episode: RTEpisode) -> ScenarioArrays:
        """The day's arrays as planned at its start: the price forecast before any RT price is
        seen, the expected deployment and the gate-closure AS prices."""
        data = forecast_arrays(episode.context, da_price=episode.da_price)
        self.forecaster = None
        if self.forecast == "intraday":
            self.forecaster = self.given or IntradayForecaster.shipped(episode.market.name)
            self.prior = prior_path(self.forecaster.prior, episode.da_price, episode.context.rt_price)
            data = data._replace(rt_price=self.forecaster.point(self.prior, 0, None, data.dt_h))
        self.dt_h = data.dt_h
        return data

    def last_deviation(self, obs: np.ndarray, t: int) -> float | None:
        """The deviation of interval t - 1's RT price from its prior (None at t = 0)."""
        return None if t == 0 else float(obs[RT_PRICE_PREV]) * PRICE_SCALE_USD_PER_MWH - self.prior[t - 1]

    def point(self, obs: np.ndarray, t: int) -> np.ndarray | None:
        """The point forecast of intervals t .. n - 1, or None where it has not changed since the
        day's start (gate closure, or t = 0)."""
        if self.forecaster is None or t == 0:
            return None
        return self.forecaster.point(self.prior, t, self.last_deviation(obs, t), self.dt_h)

    def paths(self, obs: np.ndarray, t: int, n_paths: int, rng: np.random.Generator, horizon: int) -> np.ndarray:
        """Sampled price paths (n_paths, n - t) of intervals t .. n - 1 as a policy deciding each
        interval knows them (see :meth:`bessgym.intraday.IntradayForecaster.paths`), spread over
        the next ``horizon`` intervals and the point forecast beyond."""
        if self.forecaster is None:
            raise ValueError("price paths need forecast='intraday'")
        return self.forecaster.paths(self.prior, t, self.last_deviation(obs, t), self.dt_h, n_paths, rng,
                                     as_known=True, horizon=horizon)


class MPCPolicy:
    """RT policy: re-plan the rest of the day each interval from the measured SoC (point
    forecasts, expected deployment, shortfall and unavailability at their cost), apply the
    first base point.

    ``forecast``: ``"intraday"`` or ``"gate_closure"`` (see the module docstring); ``forecaster``
    overrides the market's shipped intraday fit. ``decision_seconds`` records each decision's
    wall time; ``fallbacks`` counts the day's decisions where the solver failed and the DA
    schedule was followed instead.
    """

    shared = 1  # intervals whose base point the scenarios share (one scenario here)

    def __init__(self, time_limit_s: float = 1.0, forecast: str = "intraday",
                 forecaster: IntradayForecaster | None = None) -> None:
        self.time_limit_s = checked("time_limit_s", time_limit_s, above=0)
        self.prices = RTForecast(forecast, forecaster)
        self.decision_seconds: list[float] = []
        self.fallbacks = 0

    def scenarios(self, episode: RTEpisode, planned: ScenarioArrays) -> list[ScenarioArrays]:
        """The day's scenarios: here the planned day alone (the expected deployment)."""
        return [planned]

    def prices_ahead(self, obs: np.ndarray, t: int) -> np.ndarray | None:
        """Each scenario's RT prices of intervals t .. n - 1 (k, n - t), or None: unchanged."""
        point = self.prices.point(obs, t)
        return None if point is None else point[None]

    def reset(self, episode: RTEpisode) -> None:
        planned = self.prices.reset(episode)
        self.days = self.scenarios(episode, planned)
        models = [build_day_model(episode.battery, episode.market, day, fixed_bid=episode.accepted, allow_shortfall=True)
                  for day in self.days]
        self.models, self.model = models, models[0]
        lp, self.mappings = side_by_side([m.lp for m in models], self.model.first_stage)
        self.row_offsets = np.cumsum([0] + [m.lp.A.shape[0] for m in models])  # scenarios' rows differ in number
        self.n = episode.n_intervals
        k, base = len(models), self.model.cols["b"]
        if k > 1:  # non-anticipativity: every scenario's base point of the interval now equals the first's
            rows = np.arange((k - 1) * self.n)
            scenario, t = np.divmod(rows, self.n)
            na = sp.csr_matrix((np.r_[np.ones(len(rows)), -np.ones(len(rows))],
                                (np.r_[rows, rows], np.r_[np.array(self.mappings)[scenario + 1, base[t]],
                                                          self.mappings[0][base[t]]])), shape=(len(rows), lp.A.shape[1]))
            lower = np.where(t < self.shared, 0.0, -np.inf)
            lp = with_rows(lp, na, lower, -lower)
        self.terms = [day.terms(episode.battery, episode.market, episode.accepted.energy_mw, episode.accepted.as_mw).step
                      for day in self.days]
        self.highs = new_highs(self.time_limit_s, method="simplex")
        self.highs.passModel(to_highs_lp(lp))
        self.battery, self.market = episode.battery, episode.market
        self.position = np.repeat(episode.accepted.energy_mw, self.n // 24)
        self.per_fmm = steps_per_fmm(episode.dt_h) if episode.market.three_settlement else 0
        self.t_done = 0  # intervals already set aside
        self.fallbacks = 0

    def act(self, obs: np.ndarray) -> float | LayeredDecision:
        """The base point (MW, + = discharge) of the interval ``obs`` describes; in a
        three-settlement market, at an FMM interval's first RTD interval, with its FMM position."""
        start = time.perf_counter()
        t = int(interval_index(obs[TIME_OF_DAY], self.n))
        self._set_aside(t)
        if t > 0:
            b = self.battery
            e_now = min(max(float(obs[SOC]) * b.energy_mwh, b.e_min_mwh), b.e_max_mwh)
            soc = np.array([m[self.model.cols["e"][t - 1]] for m in self.mappings], dtype=np.int32)
            self.highs.changeColsBounds(len(soc), soc, np.full(len(soc), e_now), np.full(len(soc), e_now))
        ahead = self.prices_ahead(obs, t)
        if ahead is not None:
            self._reprice(t, ahead)
        result = run(self.highs, "highs-simplex", time_limit_s=self.time_limit_s)
        if not result.status.ok and result.status is not SolveStatus.TIME_LIMIT:  # e.g. a hot start gone wrong: once more, cold
            self.highs.clearSolver()
            result = run(self.highs, "highs-simplex", time_limit_s=self.time_limit_s)
        if result.status.ok:
            base = float(result.z[self.mappings[0][self.model.cols["b"][t]]])
        else:
            self.fallbacks += 1
            base = float(self.position[t])
        self.decision_seconds.append(time.perf_counter() - start)
        if not self.per_fmm or t % self.per_fmm:
            return base
        if not result.status.ok:
            return LayeredDecision(base, float(self.position[t]))
        block = self.model.cols["b"][t:t + self.per_fmm]
        planned = np.mean([result.z[mapping[block]] for mapping in self.mappings])  # over the scenarios too
        return LayeredDecision(base, float(planned))

    def _set_aside(self, t: int) -> None:
        """Intervals before ``t`` leave the plan: no flows, their rows relaxed, their SoC free; in
        an ensemble, the shared base point moves to interval ``t``."""
        h, k = self.highs, len(self.mappings)
        for past in range(self.t_done, t):
            idx = np.concatenate([m[self.model.interval_cols(past)] for m in self.mappings]).astype(np.int32)
            h.changeColsBounds(len(idx), idx, np.zeros(len(idx)), np.zeros(len(idx)))
            soc = np.array([m[self.model.cols["e"][past]] for m in self.mappings], dtype=np.int32)
            h.changeColsBounds(k, soc, np.full(k, -np.inf), np.full(k, np.inf))
            rows = np.concatenate([offset + m.interval_rows(past) for offset, m in zip(self.row_offsets, self.models)])
            rows = rows.astype(np.int32)
            h.changeRowsBounds(len(rows), rows, np.full(len(rows), -np.inf), np.full(len(rows), np.inf))
        if k > 1 and t > self.t_done:
            na = self.row_offsets[-1] + np.arange(k - 1)[:, None] * self.n
            before = (na + np.arange(self.t_done, t)[None]).ravel().astype(np.int32)
            now = (na + np.arange(t, min(t + self.shared, self.n))[None]).ravel().astype(np.int32)
            h.changeRowsBounds(len(before), before, np.full(len(before), -np.inf), np.full(len(before), np.inf))
            h.changeRowsBounds(len(now), now, np.zeros(len(now)), np.zeros(len(now)))
        self.t_done = t

    def _reprice(self, t: int, ahead: np.ndarray) -> None:
        """Rewrite the RT-priced costs of intervals t .. n - 1 in each scenario for its prices
        ``ahead`` (k, n - t)."""
        k, idx, values = len(self.days), [], []
        for s, (day, terms, mapping) in enumerate(zip(self.days, self.terms, self.mappings)):
            rt = day.rt_price.copy()
            rt[t:] = ahead[s]
            costs = rt_priced_costs(self.battery, self.market, day._replace(rt_price=rt), terms)
            idx += [mapping[self.model.cols[block][t:]] for block in costs]
            values += [cost[t:] / k for cost in costs.values()]  # the stacked LP maximises the mean
        idx_all = np.concatenate(idx).astype(np.int32)
        self.highs.changeColsCost(len(idx_all), idx_all, np.concatenate(values))


class StochasticMPC(MPCPolicy):
    """RT policy: :class:`MPCPolicy` over ``scenarios`` scenarios, each a deployment path drawn
    from the deployment model (once a day) and an RT price path sampled from the intraday
    forecaster (each interval; antithetic pairs, each price as known one interval before it),
    sharing the base point of the next ``shared`` intervals (1: the interval now, a two-stage
    model). The price paths spread over the intervals after the one now that start within the
    next ``price_horizon_h`` hours (three at 1 h of 15-minute intervals; none below two
    intervals) and are the point forecast beyond: a scenario's LP sees its whole path at once, and noise far ahead, where
    the last price says little (CAISO: 0.56 of a deviation left after 15 minutes, 0.10 after
    an hour), would only give each scenario foresight no policy has (on 30 val days after
    RobustDA: $121.7 a day with paths over the whole day, $128.0 over the next hour, $129.6 for
    the deterministic MPC). Draws are seeded by the day (and ``seed``), so a day replays the
    same."""

    def __init__(self, scenarios: int = 8, shared: int = 1, price_horizon_h: float = 1.0, time_limit_s: float = 1.0,
                 forecaster: IntradayForecaster | None = None, seed: int = 0) -> None:
        super().__init__(time_limit_s, "intraday", forecaster)
        self.k = int(checked("scenarios", scenarios, at_least=1, whole=True))
        self.shared = int(checked("shared", shared, at_least=1, whole=True))
        self.price_horizon_h = checked("price_horizon_h", price_horizon_h, at_least=0)
        self.seed = seed

    def scenarios(self, episode: RTEpisode, planned: ScenarioArrays) -> list[ScenarioArrays]:
        ctx = episode.context
        self.rng = np.random.default_rng(stable_seed("stochastic-mpc", self.seed, ctx.scenario_id))
        self.horizon = int(round(self.price_horizon_h / episode.dt_h))
        days = []
        for _ in range(self.k):
            deployment = draw_deployment(ctx.deployment, episode.n_intervals, episode.dt_h, self.rng)
            days.append(planned._replace(fraction=deployment.fraction, mileage=deployment.mileage,
                                         up_time=deployment.up_time))
        return days

    def prices_ahead(self, obs: np.ndarray, t: int) -> np.ndarray:
        return self.prices.paths(obs, t, self.k, self.rng, self.horizon)
