"""The baselines: the LP is the simulator (replay, negative-price and spike days included),
highspy equals cvxpy, the MPC re-plans without falling back, and the ordering
Idle <= causal baselines <= oracle on real test days."""

from __future__ import annotations

import numpy as np
import pytest

from bessgym.evaluation import evaluate
from bessgym.scenarios import ScenarioSet
from bessgym.sim import ScenarioArrays, simulate_day

from baselines.day_lp import build_day_model
from baselines.day_lp_cvxpy import solve_day_cvxpy
from baselines.oracle import PerfectForesight
from baselines.solver import LinearProgram, SolveStatus, solve

NEGATIVE_PRICE_DAYS = ["caiso-SP15-2023-04-02", "caiso-SP15-2024-01-27", "caiso-SP15-2024-03-04",
                       "caiso-SP15-2024-03-29", "caiso-SP15-2024-04-03", "caiso-SP15-2024-06-02"]
SPIKE_DAYS = ["caiso-SP15-2023-01-22", "caiso-SP15-2023-05-15", "caiso-SP15-2023-07-10",
              "caiso-SP15-2023-07-20", "caiso-SP15-2023-09-08", "caiso-SP15-2023-09-10"]


@pytest.fixture(scope="module")
def oracle(caiso):
    return PerfectForesight(caiso.config.battery, caiso.config.market_profile)


def replay_days(caiso: ScenarioSet) -> list[str]:
    return NEGATIVE_PRICE_DAYS + SPIKE_DAYS + caiso.ids("test")[::10]


def test_oracle_replayed_through_the_simulator_gives_the_lp_objective(caiso, oracle):
    days = replay_days(caiso)
    assert len(days) >= 20
    config = caiso.config
    for scenario_id in days:
        scenario = caiso.get(scenario_id)
        day = oracle.solve(scenario)
        assert day.result.status is SolveStatus.OPTIMAL and not day.fallback
        replay = simulate_day(config.battery, config.market_profile, scenario, day.bid, day.base_mw)
        assert float(replay.profit) == pytest.approx(day.objective_usd, rel=1e-6), scenario_id
        assert replay.shortfall_mw.max() < 1e-9 and replay.totals.unavailable == 0.0
        assert np.allclose(replay.energy_mw, day.bid.energy_mw) and np.allclose(replay.as_mw, day.bid.as_mw)  # not cut
    assert min(caiso.get(d).rt_price.min() for d in NEGATIVE_PRICE_DAYS) < -60
    assert max(caiso.get(d).rt_price.max() for d in SPIKE_DAYS) > 500


@pytest.mark.parametrize("follow_schedule", [False, True])
def test_highspy_and_cvxpy_reach_the_same_optimum(caiso, follow_schedule):
    config = caiso.config
    for scenario_id in (NEGATIVE_PRICE_DAYS[0], SPIKE_DAYS[0], caiso.ids("val")[3]):
        s = caiso.get(scenario_id)
        data = ScenarioArrays.of(s)
        model = build_day_model(config.battery, config.market_profile, data, follow_schedule=follow_schedule)
        fast = solve(model.lp)
        readable, _, _ = solve_day_cvxpy(config.battery, config.market_profile, data, follow_schedule=follow_schedule)
        assert fast.objective == pytest.approx(readable, rel=1e-6)


def test_causal_baselines_below_oracle_and_risk_aware_ones_above_idle(caiso, oracle):
    """The oracle bounds every causal pipeline; those that manage deployment risk (a robust,
    stochastic or chance-constrained bid, or an MPC that re-plans from the measured SoC) earn more
    than idle. ForecastLP followed blindly may lose money: AGC-like deployment drains or fills the
    battery its plan left no room for."""
    ids = caiso.ids("test")[::6]
    oracle_total = sum(oracle.solve(caiso.get(i)).objective_usd for i in ids)
    totals, fallbacks = {}, {}
    for name, da, rt in [
        ("idle", "baselines.reference:Idle", "follow_da"),
        ("forecast_lp", "baselines.reference:ForecastLP", "follow_da"),
        ("mpc", "baselines.reference:ForecastLP", "baselines.mpc:MPCPolicy"),
        ("robust", "baselines.robust:RobustDA", "baselines.robust:GreedyRT"),
        ("stochastic", "baselines.stochastic:StochasticDA?scenarios=7", "baselines.mpc:MPCPolicy"),
        ("chance_lp", "baselines.chance:ChanceConstrainedDA?method=lp", "baselines.mpc:MPCPolicy"),
    ]:
        records = evaluate(caiso.config, "test", da, rt, ids=ids)
        totals[name] = sum(o.profit for o in records)
        fallbacks[name] = sum(o.rt_fallbacks for o in records)
    idle = totals.pop("idle")
    assert idle == pytest.approx(0.0, abs=1e-9)
    for name, total in totals.items():
        assert total <= oracle_total, (name, total, oracle_total)
        if name != "forecast_lp":
            assert idle < total, (name, total)
    assert totals["mpc"] > totals["forecast_lp"]  # re-planning from the measured state pays
    assert fallbacks == {name: 0 for name in fallbacks}  # the MPC re-plans every interval


def test_a_failed_solve_falls_back_to_idle_and_is_recorded_on_the_bid(caiso):
    from bessgym.forecast import da_context

    from baselines.reference import ForecastLP

    ctx = da_context(caiso, caiso.get(caiso.ids("val")[0]))
    good = ForecastLP().bid(ctx)
    assert good.note["status"] == "optimal" and good.note["fallback"] is False
    starved = ForecastLP(time_limit_s=1e-9).bid(ctx)
    assert starved.note["fallback"] is True and starved.note["status"] == "time_limit"
    assert not starved.energy_mw.any() and not starved.as_mw.any() and starved.note["messages"]


def test_an_infeasible_lp_is_reported_not_raised():
    import scipy.sparse as sp

    lp = LinearProgram(np.ones(1), sp.csc_matrix(np.ones((1, 1))), np.array([2.0]), np.array([3.0]), np.zeros(1), np.ones(1))
    result = solve(lp)
    assert result.status is SolveStatus.INFEASIBLE and result.messages and np.isnan(result.objective)


def test_binaries_within_the_integrality_tolerance_end_the_exact_solve(monkeypatch):
    """A pair that has its binary but keeps both members a little above the pair threshold (HiGHS's
    integrality tolerance) adds nothing to re-solve: solve_pairs returns instead of looping."""
    import scipy.sparse as sp

    from baselines import day_lp

    lp = LinearProgram(-np.ones(2), sp.csc_matrix(np.ones((1, 2))), np.zeros(1), np.array([2.0]), np.zeros(2), np.ones(2))
    calls = []

    def fake_solve(lp, time_limit_s=None, threads=1, mip_gap=1e-9):
        calls.append(lp.is_mip)
        if len(calls) > 5:
            raise AssertionError("solve_pairs keeps re-solving")
        both_used = lp.is_mip or lp.upper[:2].min() > 0  # the relaxation, and the MIP within its tolerance
        z = np.array([1.0, 1e-5 if lp.is_mip else 1.0]) if both_used else np.array([1.0, 0.0])
        objective = 1.99999 if lp.is_mip else (2.0 if both_used else 1.0)  # $, maximised
        return day_lp.SolveResult(SolveStatus.OPTIMAL, objective, np.concatenate([z, np.ones(lp.A.shape[1] - 2)]),
                                  np.zeros(lp.A.shape[0]), 0.0, "fake")

    monkeypatch.setattr(day_lp, "solve", fake_solve)
    result = day_lp.solve_pairs(lp, np.array([[0, 1]]))
    assert calls == [False, False, True] and result.objective == 1.99999 and len(result.z) == 2


def extreme_paths(n: int, k: int, gamma_h: float, window_h: float, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """Vertices of the budget set as (fractions, up_time): in every block, ``gamma`` hours of full
    deployment placed at the block's start, its end, or at random intervals; up only, down only,
    and both (up and down in different intervals: a signal is never fully up and down at once)."""
    w, g = int(window_h * k), int(gamma_h * k)
    paths = []
    for placement in ("start", "end", "random"):
        on, rest = np.zeros(n), np.zeros(n)
        for start in range(0, n, w):
            chosen = {"start": np.arange(g), "end": np.arange(w - g, w), "random": rng.choice(w, g, replace=False)}[placement]
            on[start + chosen] = 1.0
            others = np.setdiff1d(np.arange(w), chosen)
            rest[start + rng.choice(others, min(g, len(others)), replace=False)] = 1.0
        for up, down in ((on, 0 * on), (0 * on, on), (on, rest)):
            paths.append((np.stack([up, down, up, up], axis=1), up.copy()))
    return paths


def test_robust_da_never_falls_short_on_the_extreme_paths_of_its_set(caiso):
    import dataclasses

    from bessgym.deployment import Deployment
    from bessgym.forecast import da_context
    from bessgym.policies import follow_da

    from baselines.robust import RobustDA

    config = caiso.config
    bidder = RobustDA(gamma_h=2.0, window_h=4.0)
    rng = np.random.default_rng(0)
    for scenario_id in caiso.ids("val")[::9]:
        scenario = caiso.get(scenario_id)
        bid = bidder.bid(da_context(caiso, scenario))
        assert bid.as_mw.sum() > 0  # it does sell AS
        for fraction, up_time in extreme_paths(scenario.n_intervals, 4, 2.0, 4.0, rng):
            day = dataclasses.replace(scenario, deployment=Deployment(fraction, np.zeros((scenario.n_intervals, 2)), up_time))
            result = simulate_day(config.battery, config.market_profile, day, bid, follow_da(bid, day.n_intervals))
            assert result.shortfall_mw.max() < 1e-9, scenario_id
            assert np.abs(result.base_mw - follow_da(bid, day.n_intervals)).max() < 1e-9  # schedule kept


@pytest.mark.parametrize("method", ["socp", "lp"])
def test_chance_constrained_soc_violations_stay_within_eps(caiso, method):
    """Monte Carlo over fresh deployment draws: the SoC the plan would reach (no clipping) leaves
    its bounds in at most eps of the days at any interval, plus three binomial standard errors."""
    from bessgym.deployment import draw_deployment
    from bessgym.forecast import da_context
    from bessgym.market import planned_energy

    from baselines.chance import ChanceConstrainedDA

    eps, days = 0.05, 300
    config = caiso.config
    battery = config.battery
    bidder = ChanceConstrainedDA(eps=eps, method=method)
    scenario = caiso.get(caiso.ids("val")[4])
    ctx = da_context(caiso, scenario)
    bid = bidder.bid(ctx)
    assert bid.as_mw.sum() > 1.0  # it sells AS, so the constraints bind somewhere
    n, k = scenario.n_intervals, scenario.n_intervals // 24
    schedule = planned_energy(battery, bid.energy_mw)  # hourly SoC without deployment
    base = np.repeat(np.diff(schedule), k) / k  # per-interval SoC change from the schedule
    award = np.repeat(bid.as_mw, k, axis=0)
    coef = np.where([True, False, True, True], -0.25 / battery.eta_discharge, battery.eta_charge * 0.25)
    violations = np.zeros(n)
    for d in range(days):
        fraction = draw_deployment(config.deployment, n, 0.25, seed=10_000 + d).fraction
        e = battery.e_initial_mwh + np.cumsum(base + (fraction * award * coef).sum(1))
        violations += (e < battery.e_min_mwh - 1e-9) | (e > battery.e_max_mwh + 1e-9)
    tolerance = 3 * np.sqrt(eps * (1 - eps) / days)
    assert (violations / days).max() <= eps + tolerance


def test_period_oracle_is_optimal_and_its_ledger_is_its_objective():
    """Two synthetic weeks at 5 minutes: dual simplex equals an interior-point reference solve,
    and the ledger recomputed by bessgym.settlement from the decisions equals the LP objective."""
    import datetime as dt

    from baselines.oracle import solve_period

    scenarios = ScenarioSet("synthetic")
    days = [scenarios.get(f"synthetic-SYN-{dt.date(2023, 3, 1) + dt.timedelta(days=i)}") for i in range(14)]
    config = scenarios.config
    fast = solve_period(config.battery, config.market_profile, days, method="simplex")
    reference = solve_period(config.battery, config.market_profile, days, method="ipm")
    assert fast.objective_usd == pytest.approx(reference.objective_usd, rel=1e-6)
    assert float(np.stack(list(fast.ledger)).sum()) == pytest.approx(fast.objective_usd, rel=1e-9)
    assert fast.e_mwh.min() >= config.battery.e_min_mwh - 1e-7 and len(fast.base_mw) == 14 * 288
    with pytest.raises(ValueError, match="contiguous"):
        solve_period(config.battery, config.market_profile, [days[0], days[2]])
