"""GESDayAhead-v0 and GESRealTime-v0 (issue 19): the Gymnasium contract, the DA env against
``bessgym.portfolio.realise`` for a planner's schedule and for doing nothing, its repairs, the RT
env following the plan against ``realise`` on the same draw, a headroom split against the plan's,
reset options, seeding and refusals."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import bessgym  # noqa: F401  (registers the ids)
from baselines.aggregator import AggregatorDA
from bessgym.envs.ges import headroom_split, schedule_to_action, split_interval
from bessgym.portfolio import Schedule, realise
from bessgym.settlement import LEDGER_LINES

DA, RT = "bessgym/GESDayAhead-v0", "bessgym/GESRealTime-v0"
DAY = "caiso-SP15-2024-05-14"


def quiet_check(env: gym.Env) -> None:
    """check_env with every warning an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env)


@pytest.mark.parametrize("env_id", [DA, RT])
def test_check_env_passes_and_the_spec_has_its_episode_length(env_id):
    env = gym.make(env_id)
    quiet_check(env.unwrapped)
    assert env.spec.max_episode_steps == (1 if env_id == DA else 24)
    assert env.action_space.shape == ((3 * 3 * 24,) if env_id == DA else (9,))


def test_the_planners_schedule_as_an_action_realises_what_realise_says_and_doing_nothing_costs_the_baseline():
    env = gym.make(DA, split="test")
    env.reset(seed=0, options={"scenario": DAY})
    u = env.unwrapped
    case = u.case
    plan = AggregatorDA("M3").plan(case.assets, case.prices).schedule
    obs, reward, terminated, truncated, info = env.step(schedule_to_action(case.assets, plan))
    expected = realise(case.assets, case.prices, u.market, plan, u.base_draws)
    assert terminated and truncated and env.observation_space.contains(obs)
    assert reward == pytest.approx(-expected.cost_usd[0], abs=1e-6)
    assert not info["action_clipped"] and info["repairs_mw"] < 1e-6
    for name in LEDGER_LINES:
        assert info[name] == pytest.approx(float(getattr(expected.ledger, name)[0]), abs=1e-6)
    assert info["lorp"] == expected.lorp and info["erns_mwh"] == pytest.approx(expected.erns_mwh)
    assert info["profit_usd"] == pytest.approx(reward) and info["scenario_id"] == DAY
    assert plan.reserve_up_mw.sum() > 1 and info["as_capacity"] > 0  # a plan that sells reserve

    env.reset(seed=0, options={"scenario": DAY})
    zero = np.zeros_like(plan.charge_mw)
    idle = Schedule(zero, zero, zero, zero, np.array([a.ges.soc_path(zero[0], zero[0]) for a in case.assets]))
    action = schedule_to_action(case.assets, idle)
    assert (action.reshape(3, 3, 24)[:, 0] == 0).all() and (action.reshape(3, 3, 24)[:, 1:] == -1).all()
    _, reward, _, _, info = env.step(action)
    assert reward == pytest.approx(-realise(case.assets, case.prices, u.market, idle, u.base_draws).cost_usd[0], abs=1e-6)
    baseline_da = -float((case.prices.da * sum(a.ges.baseline_mw for a in case.assets)).sum() * case.prices.dt_h)
    assert info["da_energy"] == pytest.approx(baseline_da)
    assert reward == pytest.approx(info["da_energy"] + info["rt_imbalance"], abs=1e-6)  # the baseline bought, its error settled
    assert info["repairs_mw"] < 1e-9 and info["planned_cost_usd"] == pytest.approx(-baseline_da)


def test_the_da_env_repairs_what_breaks_the_nominal_bounds_and_charges_a_plan_that_ends_empty():
    env = gym.make(DA, split="test")
    env.reset(seed=1, options={"scenario": DAY})
    _, reward, _, _, info = env.step(np.ones(env.action_space.shape))  # discharge flat out, all the reserve
    assert info["action_clipped"] and info["repairs_mw"] > info["reserve_cut_mw"] > 0
    assert info["terminal"] < -10 and reward == pytest.approx(info["profit_usd"])  # ending empty is paid for
    env.reset(seed=1, options={"scenario": DAY})
    action = np.zeros(env.action_space.shape)
    action.reshape(3, 3, 24)[:, 1:] = -1
    action[0] = -1.5  # the battery charges one interval at full power: clipped, nothing to repair
    _, _, _, _, info = env.step(action)
    assert info["action_clipped"] and info["repairs_mw"] < 1e-9


def test_the_da_reward_averages_its_draws_and_seeds_reproduce():
    first = gym.make(DA, split="test", draws=4)
    second = gym.make(DA, split="test", draws=4)
    obs_a, info_a = first.reset(seed=7)
    obs_b, info_b = second.reset(seed=7)
    assert info_a == info_b and np.array_equal(obs_a, obs_b) and first.observation_space.contains(obs_a)
    action = np.random.default_rng(0).uniform(-1, 1, first.action_space.shape)
    _, reward_a, _, _, _ = first.step(action)
    _, reward_b, _, _, info = second.step(action)
    assert reward_a == reward_b
    u = first.unwrapped
    assert next(iter(u.base_draws.values())).n_draws == 4
    assert info["lorp"] in {k / (4 * 24) for k in range(4 * 24 + 1)}


def play(env: gym.Env, seed: int, policy) -> tuple[float, float, dict]:
    """A GESRealTime-v0 day under ``policy(env)``: the rewards' sum, the reserve short (MWh)
    and the last info; every observation checked against the space."""
    obs, _ = env.reset(seed=seed)
    total, short, done = 0.0, 0.0, False
    while not done:
        obs, reward, terminated, truncated, info = env.step(policy(env))
        assert env.observation_space.contains(obs)
        total, short, done = total + reward, short + info["short_mwh"], terminated or truncated
    return total, short, info


def test_following_the_plans_split_realises_what_realise_says_and_a_headroom_split_loses_no_more_reserve():
    env = gym.make(RT, split="test")
    for seed in range(3):
        total, short, info = play(env, seed, lambda e: np.zeros(9, np.float32))
        u = env.unwrapped
        expected = realise(u.case.assets, u.case.prices, u.market, u.schedule, u.base_draws)
        assert total == pytest.approx(-expected.cost_usd[0], abs=1e-6)
        assert info["day_shortfall_mwh"] == pytest.approx(expected.erns_mwh, abs=1e-9)
        assert info["profit_usd"] == pytest.approx(total, abs=1e-6) and set(info["day_totals"]) == set(LEDGER_LINES)
        _, head_short, _ = play(env, seed, headroom_split)
        assert head_short <= short + 1e-6


def test_split_interval_keeps_the_plans_totals_and_all_zero_weights_keep_its_split():
    env = gym.make(RT, split="test")
    env.reset(seed=0, options={"scenario": DAY})
    plan = env.unwrapped.schedule
    t = int(np.argmax(plan.reserve_up_mw.sum(0)))
    c, d, up, down = split_interval(plan, t, np.zeros(9))
    assert np.array_equal(c, plan.charge_mw[:, t]) and np.array_equal(up, plan.reserve_up_mw[:, t])
    c, d, up, down = split_interval(plan, t, np.array([1, 1, 0, 0, 0, 1, 1, 0, 0], float))
    assert (d - c).sum() == pytest.approx((plan.discharge_mw[:, t] - plan.charge_mw[:, t]).sum())
    assert (d - c)[0] == pytest.approx((d - c)[1]) and c[2] == d[2] == 0
    assert up[2] == pytest.approx(plan.reserve_up_mw[:, t].sum()) and up.sum() == pytest.approx(up[2])
    assert down[0] == pytest.approx(plan.reserve_down_mw[:, t].sum()) and down.sum() == pytest.approx(down[0])
    _, _, _, _, info = env.step(np.full(9, 2.0, np.float32))
    assert info["action_clipped"]


def test_reset_options_pin_a_day_and_refuse_others():
    env = gym.make(RT, split="test")
    _, info = env.reset(seed=0, options={"scenario": DAY})
    assert info["scenario_id"] == DAY
    with pytest.raises(ValueError, match="scenario_id"):
        env.reset(options={"scenario_id": DAY})
    with pytest.raises(KeyError, match="not a day of split 'test'"):
        env.reset(options={"scenario": "caiso-SP15-2023-01-15"})


@pytest.mark.parametrize("env_id, kwargs, message", [
    (RT, {"planner": "M4"}, "planner = 'M4'; allowed: M1, M2, M3"),
    (DA, {"n_tcl": 0}, "n_tcl = 0; allowed: an integer >= 1"),
    (RT, {"n_tcl": 2.5}, "n_tcl = 2.5; allowed: an integer >= 1"),
    (DA, {"split": "bogus"}, "split 'bogus' is unknown"),
    (DA, {"draws": 0}, "draws = 0; allowed: an integer >= 1"),
    (DA, {"dt_h": 0.3}, "dt_h = 0.3; allowed: a divisor of one hour"),
    (RT, {"incentive_usd_per_mwh": -1.0}, "incentive_usd_per_mwh = -1.0"),
    (DA, {"fleet_seed": -1}, "fleet_seed = -1"),
])
def test_bad_arguments_are_refused_by_name(env_id, kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        gym.make(env_id, **kwargs)
