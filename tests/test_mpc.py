"""The RT re-planners: the intraday forecaster (its fit, ensembles and quantiles), MPC and
stochastic MPC (no price of the interval or later, no fallbacks on the replay days, realised
prices never worse than the schedule, an ensemble of identical scenarios is the MPC) and
ForecastLP's reserve multiple."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from bessgym._paths import DATA_DIR
from bessgym.envs.episodes import EpisodeSource
from bessgym.evaluation import evaluate, run_day
from bessgym.forecast import da_context
from bessgym.intraday import IntradayForecaster, prior_path
from bessgym.market import DOWN_INDEX, UP_MASK, backing_mwh_per_mw

from baselines.day_lp import solve_accepted
from baselines.mpc import MPCPolicy, StochasticMPC
from baselines.reference import ForecastLP
from baselines.robust import RobustDA
from tests.test_baselines import replay_days

DAY = "caiso-SP15-2024-05-02"


@pytest.fixture(scope="module")
def forecaster() -> IntradayForecaster:
    return IntradayForecaster.shipped("caiso")


def test_the_shipped_fit_is_the_train_split_fit(caiso):
    shipped = json.loads((DATA_DIR / "intraday_models.json").read_text())["caiso"]["model"]
    fitted = dataclasses.asdict(IntradayForecaster.fit(caiso, "train"))
    assert set(fitted) == set(shipped)
    for key, value in shipped.items():
        assert fitted[key] == (pytest.approx(value, rel=1e-9) if isinstance(value, float) else value), key
    assert -5 < fitted["mean_usd_per_mwh"] < 0 and 0.3 < fitted["phi_per_hour"] ** 0.25 < 0.8  # per 15 minutes


def test_point_quantiles_and_paths_agree(forecaster):
    rng = np.random.default_rng(0)
    prior = 40 + 20 * np.sin(np.arange(96) / 15)
    dt_h, t, deviation = 0.25, 30, 80.0
    point = forecaster.point(prior, t, deviation, dt_h)
    assert point.shape == (66,) and point[0] - prior[t] > 20 and abs(point[-1] - prior[-1] - forecaster.mean_usd_per_mwh) < 1e-6
    paths = forecaster.paths(prior, t, deviation, dt_h, 4000, rng)
    np.testing.assert_allclose(paths.mean(0), point, atol=1e-9)  # antithetic pairs
    np.testing.assert_allclose(paths.std(0), forecaster.error_std(66, dt_h), rtol=0.06)
    low, mid, high = forecaster.quantiles(prior, t, deviation, dt_h, [0.1, 0.5, 0.9])
    np.testing.assert_allclose(mid, point)
    assert np.all(low < mid) and np.all(mid < high)
    assert 0.86 < np.mean(paths < high) < 0.94
    known = forecaster.paths(prior, t, deviation, dt_h, 8, rng, as_known=True)
    np.testing.assert_allclose(known[:, 0], point[0])  # the interval now: nothing of the path seen
    assert known[:, 1:].std() < paths[:, 1:].std()
    with pytest.raises(ValueError, match="quantile levels"):
        forecaster.quantiles(prior, t, deviation, dt_h, [0.0, 0.5])
    with pytest.raises(ValueError, match="phi_per_hour"):
        IntradayForecaster("da", 0.0, 1.0, 1.0, 0.25)
    with pytest.raises(ValueError, match="prior 'rt'"):
        prior_path("rt", np.zeros(24), np.zeros(96))
    with pytest.raises(ValueError, match="no intraday forecaster is fitted for market 'miso'"):
        IntradayForecaster.shipped("miso")


@pytest.mark.parametrize("make", [MPCPolicy, lambda: StochasticMPC(scenarios=4)], ids=["mpc", "stochastic-mpc"])
def test_decisions_use_no_rt_price_of_the_interval_or_later(make):
    """Corrupting the RT prices of interval t0 and later changes no base point up to t0."""
    source = EpisodeSource("caiso-sp15", "test")
    scenario, context = source.day(DAY)
    bid = RobustDA().bid(context)
    honest = run_day(source, source.prepare(scenario, context, bid), make()).base_mw
    for t0 in (0, 1, 40):
        rt = scenario.rt_price.copy()
        rt[t0:] = np.random.default_rng(t0).uniform(-150, 2000, len(rt) - t0)
        corrupted = dataclasses.replace(scenario, rt_price=rt)
        base = run_day(source, source.prepare(corrupted, context, bid), make()).base_mw
        np.testing.assert_array_equal(base[: t0 + 1], honest[: t0 + 1])
        assert not np.array_equal(base, honest)  # the policy does respond to the prices it has seen


def test_mpc_replans_without_fallbacks_and_realised_prices_never_lose_to_the_schedule(caiso):
    """On the replay days the MPC re-plans every interval (no fallback), and fed the realised RT
    prices (a perfect gate-closure forecast) it earns at least what following its own DA schedule
    earns."""
    days = replay_days(caiso)
    for policy in (MPCPolicy(), MPCPolicy(forecast="gate_closure")):
        records = evaluate(caiso.config, "all", "baselines.reference:ForecastLP", policy, ids=days)
        assert sum(r.rt_fallbacks for r in records) == 0
    known = caiso.config.model_copy(update={"forecast": caiso.config.forecast.model_copy(update={"kind": "perfect"})})
    follow = evaluate(known, "all", "baselines.reference:ForecastLP", "follow_da", ids=days)
    mpc = evaluate(known, "all", "baselines.reference:ForecastLP", MPCPolicy(forecast="gate_closure"), ids=days)
    assert sum(r.rt_fallbacks for r in mpc) == 0
    assert sum(r.profit for r in mpc) >= sum(r.profit for r in follow)


def test_an_ensemble_of_copies_of_the_point_scenario_decides_as_the_mpc():
    """StochasticMPC's stacking (scenarios side by side, the interval's base point shared, the
    past set aside in each) changes nothing when every scenario is the MPC's own."""

    class Copies(StochasticMPC):
        def scenarios(self, episode, planned):
            return [planned] * self.k

        def prices_ahead(self, obs, t):
            point = self.prices.point(obs, t)
            return None if point is None else np.repeat(point[None], self.k, axis=0)

    source = EpisodeSource("caiso-sp15", "test")
    scenario, context = source.day(DAY)
    episode = source.prepare(scenario, context, ForecastLP().bid(context))
    single = run_day(source, episode, MPCPolicy())
    copies = run_day(source, episode, Copies(scenarios=3))
    np.testing.assert_allclose(copies.base_mw, single.base_mw, atol=1e-6)
    assert copies.profit == pytest.approx(single.profit, abs=1e-4)


def test_stochastic_mpc_shares_the_base_point_and_counts_no_fallbacks(caiso):
    """Three days of decisions (each some ms) far outlast the 0.2 s limit in total: the limit is
    each re-plan's own (HiGHS counts an instance's total run time against its limit)."""
    policy = StochasticMPC(scenarios=4, time_limit_s=0.2)
    records = evaluate(caiso.config, "test", "baselines.robust:RobustDA", policy, ids=caiso.ids("test")[:3])
    assert sum(r.rt_fallbacks for r in records) == 0 and len(policy.decision_seconds) == 3 * 96
    z = policy.highs.getSolution().col_value
    shared = [z[m[policy.model.cols["b"][95]]] for m in policy.mappings]
    assert np.ptp(shared) < 1e-7
    with pytest.raises(ValueError, match="forecast 'hindsight' is not one of"):
        MPCPolicy(forecast="hindsight")


@pytest.mark.parametrize("spec, message", [
    ("baselines.mpc:StochasticMPC?scenarios=0", "scenarios must be a finite whole number >= 1, got 0"),
    ("baselines.mpc:StochasticMPC?scenarios=2.5", "scenarios must be a finite whole number >= 1, got 2.5"),
    ("baselines.mpc:StochasticMPC?shared=nan", "shared must be a finite whole number >= 1, got 'nan'"),
    ("baselines.mpc:StochasticMPC?price_horizon_h=Infinity", "price_horizon_h must be a finite number >= 0, got inf"),
    ("baselines.mpc:MPCPolicy?time_limit_s=-1", "time_limit_s must be a finite number > 0, got -1"),
    ("baselines.reference:ForecastLP?reserve_multiple=nan", "reserve_multiple must be a finite number >= 1, got 'nan'"),
    ("baselines.reference:ForecastLP?reserve_multiple=Infinity", "reserve_multiple must be a finite number >= 1, got inf"),
    ("baselines.reference:ForecastLP?reserve_multiple=0.5", "reserve_multiple must be a finite number >= 1, got 0.5"),
])
def test_bad_arguments_are_refused_when_the_component_is_built(spec, message):
    from bessgym.policies import load_component

    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        load_component(spec)


def test_the_forecaster_refuses_non_finite_fields_and_rescales_to_other_interval_lengths(forecaster):
    for field in ("mean_usd_per_mwh", "sigma_usd_per_mwh", "sigma_dt_h"):
        with pytest.raises(ValueError, match=f"{field} must be a finite number"):
            dataclasses.replace(forecaster, **{field: float("inf")})
    with pytest.raises(ValueError, match="n_paths must be a finite whole number >= 1"):
        forecaster.paths(np.zeros(96), 0, None, 0.25, 0, np.random.default_rng(0))
    stationary = [forecaster.error_std(1, dt_h, seen=False)[0] for dt_h in (0.25, 1 / 12, 1.0)]
    np.testing.assert_allclose(stationary, stationary[0])  # the deviation's spread does not depend on the interval


def test_forecast_lp_reserve_multiple_backs_each_award_for_that_many_durations(caiso):
    """The planned SoC at every interval's start holds ``reserve_multiple`` times each award's
    duration (along the expected-deployment plan)."""
    ctx = da_context(caiso, caiso.get(DAY))
    battery, market = ctx.battery, ctx.market
    mwh = backing_mwh_per_mw(battery, market)
    for multiple in (1.0, 4.0):
        model = ForecastLP(reserve_multiple=multiple).model(ctx)
        z = solve_accepted(model).z
        r = z[model.cols["r"]].reshape(24, -1)
        e_start = np.r_[battery.e_initial_mwh, z[model.cols["e"]][:-1]]
        hour = np.arange(96) // 4
        need_up = multiple * (r[hour][:, UP_MASK] * mwh[UP_MASK]).sum(1)
        need_down = multiple * r[hour, DOWN_INDEX] * mwh[DOWN_INDEX]
        assert np.all(e_start - battery.e_min_mwh >= need_up - 1e-6)
        assert np.all(battery.e_max_mwh - e_start >= need_down - 1e-6)
        assert r.sum() > 0
    with pytest.raises(ValueError, match="reserve_multiple must be a finite number >= 1"):
        ForecastLP(reserve_multiple=0.5)
