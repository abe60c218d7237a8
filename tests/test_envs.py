"""The Gymnasium envs: the contract (check_env), spaces, determinism, actions, info, rendering."""

from __future__ import annotations

import json
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import bessgym  # noqa: F401  (registers the ids)
from bessgym.envs import ENV_IDS
from bessgym.envs.wrappers import DiscreteActions, ScaleReward
from bessgym.settlement import LEDGER_LINES


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("render_mode", [None, "ansi", "rgb_array"])
def test_gymnasium_and_sb3_check_env_pass_without_warnings(env_id, render_mode):
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(gym.make(env_id, render_mode=render_mode).unwrapped)
        sb3_check_env(gym.make(env_id, render_mode=render_mode).unwrapped)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_spec_is_json_and_module_prefix_works(env_id):
    spec = gym.spec(env_id)
    data = json.loads(spec.to_json())
    default = "caiso3-sp15" if env_id == "bessgym/ThreeSettlement-v0" else "caiso-sp15"
    assert data["id"] == env_id and data["kwargs"]["config"] == default
    env = gym.make(f"bessgym:{env_id}", split="val")
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs) and info["scenario_id"].startswith("caiso-SP15-2024-0")


def run_day(env, seed, actions):
    obs, info = env.reset(seed=seed)
    trace = [obs]
    rewards = []
    for a in actions:
        obs, reward, terminated, truncated, info = env.step(a)
        trace.append(obs)
        rewards.append(reward)
        if terminated:
            break
    return trace, rewards, info


def test_realtime_day_is_deterministic_and_reward_is_the_ledger():
    env = gym.make("bessgym/RealTime-v0")
    actions = np.random.default_rng(1).uniform(-1, 1, (96, 1)).astype(np.float32)
    a = run_day(env, 7, actions)
    b = run_day(env, 7, actions)
    assert all(np.array_equal(x, y) for x, y in zip(a[0], b[0])) and a[1] == b[1]
    info = a[2]
    assert len(a[1]) == 96 and set(LEDGER_LINES) <= set(info["day_totals"])
    assert sum(a[1]) == pytest.approx(sum(info["day_totals"].values()), rel=1e-12)
    assert info["profit_usd"] == pytest.approx(sum(a[1]), rel=1e-12)


def test_seed_never_selects_the_day_when_pinned():
    env = gym.make("bessgym/RealTime-v0", split="test")
    ids = {env.reset(seed=s, options={"scenario": "caiso-SP15-2024-05-02"})[1]["scenario_id"] for s in range(3)}
    assert ids == {"caiso-SP15-2024-05-02"}
    with pytest.raises(KeyError, match="is not a day of split 'test'"):
        env.reset(options={"scenario": "caiso-SP15-1999-01-01"})
    with pytest.raises(KeyError, match="is not a day of split 'test'"):
        env.reset(options={"scenario": "caiso-SP15-2023-05-02"})  # a usable day, of another split


def test_out_of_range_actions_are_clipped_and_reported_and_nan_raises():
    env = gym.make("bessgym/RealTime-v0", split="test")
    env.reset(seed=0, options={"scenario": "caiso-SP15-2024-05-02"})
    _, _, _, _, info = env.step(np.array([3.0], dtype=np.float32))
    assert info["action_clipped"] is True
    env.reset(seed=0, options={"scenario": "caiso-SP15-2024-05-02"})
    _, _, _, _, same = env.step(np.array([1.0], dtype=np.float32))
    assert same["action_clipped"] is False and same["base_mw"] == info["base_mw"]
    with pytest.raises(ValueError, match="NaN or inf"):
        env.step(np.array([np.nan], dtype=np.float32))
    for wrong in (np.array([0.3, 0.9, -1.0]), np.zeros((2, 2)), np.array([])):
        with pytest.raises(ValueError, match="the action space \\(1,\\) needs 1"):
            env.step(wrong)
    da = gym.make("bessgym/DayAhead-v0")
    da.reset(seed=0)
    with pytest.raises(ValueError, match=r"action entries \[0, 1, 2, 3, 4, 5, 6, 7, 8, 9\] \.\.\. \(of 120\) are NaN or inf"):
        da.step(np.full(120, np.nan, dtype=np.float32))
    _, _, terminated, _, info = da.step(np.full(120, 2.0, dtype=np.float32))
    assert terminated and info["action_clipped"] and info["da_cut_as_mw"] > 0


def test_day_ahead_follow_da_matches_the_whole_day_simulator():
    from bessgym.envs.day_ahead import action_to_bid
    from bessgym.market import DABid
    from bessgym.policies import follow_da
    from bessgym.sim import simulate_day

    env = gym.make("bessgym/DayAhead-v0", split="val")
    obs, info = env.reset(seed=3)
    action = np.random.default_rng(0).uniform(-1, 1, 120).astype(np.float32)
    _, reward, terminated, _, _ = env.step(action)
    scenario = env.unwrapped._scenario  # the day and the deployment path the env drew
    assert scenario.id == info["scenario_id"]
    config = env.unwrapped.source.config
    bid = DABid(*action_to_bid(action.astype(float), config.battery))
    from bessgym.market import accept_bid

    accepted, _ = accept_bid(bid, config.battery, config.market_profile)
    result = simulate_day(config.battery, config.market_profile, scenario, bid, follow_da(accepted, scenario.n_intervals))
    assert terminated and reward == pytest.approx(float(result.profit), rel=1e-9)


def test_two_settlement_phases():
    env = gym.make("bessgym/TwoSettlement-v0")
    obs, _ = env.reset(seed=0)
    assert obs["phase"] == 0 and not obs["rt"].any()
    obs, reward, terminated, _, info = env.step(np.zeros(121, dtype=np.float32))
    assert obs["phase"] == 1 and reward == 0.0 and not terminated and "da_cut_as_mw" in info
    steps = 0
    while not terminated:
        obs, reward, terminated, _, info = env.step(np.zeros(121, dtype=np.float32))
        steps += 1
    assert steps == 96 and "day_totals" in info


def test_rendering():
    env = gym.make("bessgym/RealTime-v0", render_mode="rgb_array")
    env.reset(seed=0)
    for _ in range(10):
        env.step(env.action_space.sample())
    image = env.render()
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3 and image.std() > 0
    text = gym.make("bessgym/RealTime-v0", render_mode="ansi")
    text.reset(seed=0)
    text.step(np.array([0.5], dtype=np.float32))
    assert "t=  1/96" in text.render()
    from bessgym.envs.real_time import RealTimeEnv

    with pytest.raises(ValueError, match="render_mode 'video'"):
        RealTimeEnv(render_mode="video")


def test_wrappers():
    env = ScaleReward(gym.make("bessgym/RealTime-v0"), unit="usd_per_mw_h")
    raw = gym.make("bessgym/RealTime-v0")
    env.reset(seed=2)
    raw.reset(seed=2)
    a = np.array([0.4], dtype=np.float32)
    assert env.step(a)[1] == pytest.approx(raw.step(a)[1] / (1.0 * 0.25))
    discrete = DiscreteActions(gym.make("bessgym/RealTime-v0"), levels=5)
    assert discrete.action_space == gym.spaces.Discrete(5)
    np.testing.assert_allclose(discrete.action(4), [1.0])
    multi = DiscreteActions(gym.make("bessgym/DayAhead-v0"), levels=3)
    assert isinstance(multi.action_space, gym.spaces.MultiDiscrete) and multi.action(np.zeros(120, int)).min() == -1
    with pytest.raises(ValueError, match="outside 0..4"):
        discrete.action(7)


def test_the_rt_observation_holds_no_price_of_the_interval_or_later():
    """Corrupting the RT prices of interval t and later changes nothing in rows 0..t."""
    from bessgym.observation import rt_feature_table

    env = gym.make("bessgym/RealTime-v0", split="test")
    env.reset(seed=0, options={"scenario": "caiso-SP15-2024-05-02"})
    episode = env.unwrapped._episode
    s, c = episode.scenario, env.unwrapped.source.config
    args = (s.da_price, s.deployment.fraction, episode.accepted.energy_mw, episode.accepted.as_mw, episode.context.rt_price,
            env.unwrapped.source.intraday)
    table = rt_feature_table(c.battery, c.market_profile, s.rt_price, *args)
    for t in (0, 1, 37, 95):
        corrupted = s.rt_price.copy()
        corrupted[t:] = np.random.default_rng(t).uniform(-150, 2000, len(corrupted) - t)
        assert np.array_equal(rt_feature_table(c.battery, c.market_profile, corrupted, *args)[: t + 1], table[: t + 1])


def test_the_operator_features_are_the_mpc_forecast_and_the_soc_against_plan_and_needs():
    """Features 19-21 are the intraday forecast the MPC plans on (its point forecast's next-hour
    and rest-of-day means); 22-24 the SoC against the DA plan and the awards' duration needs,
    moving with the SoC the agent leaves."""
    from baselines.mpc import RTForecast
    from bessgym.market import UP_MASK, backing_mwh_per_mw, planned_energy
    from bessgym.observation import PRICE_SCALE_USD_PER_MWH, RT_INDEX
    from bessgym.policies import RTEpisode

    env = gym.make("bessgym/RealTime-v0", split="test", da_bidder="baselines.robust:RobustDA")
    obs, _ = env.reset(seed=0, options={"scenario": "caiso-SP15-2024-05-02"})
    core = env.unwrapped
    episode, b, market = core._episode, core.battery, core.market
    s = episode.scenario
    forecast = RTForecast("intraday", None)
    forecast.reset(RTEpisode(b, market, episode.accepted, s.da_price, episode.context, s.dt_h, s.n_intervals))
    plan = planned_energy(b, episode.accepted.energy_mw) / b.energy_mwh
    need = episode.accepted.as_mw * backing_mwh_per_mw(b, market) / b.energy_mwh
    rng = np.random.default_rng(0)
    for t in range(s.n_intervals):
        point = forecast.point(obs, t)
        point = forecast.forecaster.point(forecast.prior, 0, None, s.dt_h) if point is None else point
        if t <= s.n_intervals - 4:  # the last hour's next hour runs past the day
            assert obs[RT_INDEX["intraday_next_hour"]] * PRICE_SCALE_USD_PER_MWH == pytest.approx(point[:4].mean(), abs=1e-2)
        assert obs[RT_INDEX["intraday_rest_mean"]] * PRICE_SCALE_USD_PER_MWH == pytest.approx(point.mean(), abs=1e-2)
        soc, h = obs[RT_INDEX["soc"]], t // 4
        assert obs[RT_INDEX["soc_vs_plan"]] == pytest.approx(soc - (plan[h] + (plan[h + 1] - plan[h]) * (t % 4) / 4), abs=1e-5)
        assert obs[RT_INDEX["headroom_up"]] == pytest.approx(soc - b.soc_min_frac - need[h, UP_MASK].sum(), abs=1e-5)
        assert obs[RT_INDEX["headroom_down"]] == pytest.approx(b.soc_max_frac - soc - need[h, ~UP_MASK].sum(), abs=1e-5)
        assert core.observation_space.contains(obs)
        obs, *_ = env.step(rng.uniform(-1, 1, 1).astype(np.float32))


def test_reset_seeds_draw_the_deployment_path():
    env = gym.make("bessgym/RealTime-v0", split="test")
    pinned = {"scenario": "caiso-SP15-2024-05-02"}

    def path(seed):
        env.reset(seed=seed, options=pinned)
        return env.unwrapped._episode.scenario.deployment

    a, b, c = path(1), path(1), path(2)
    assert np.array_equal(a.fraction, b.fraction) and np.array_equal(a.up_time, b.up_time)
    assert not np.array_equal(a.fraction, c.fraction)
    env.reset(seed=5, options=pinned)
    first = env.unwrapped._episode.scenario.deployment.fraction
    env.reset(options=pinned)  # no seed: the env's RNG goes on, a new path
    assert not np.array_equal(first, env.unwrapped._episode.scenario.deployment.fraction)


def test_bid_curve_action_clears_at_the_realised_price():
    """Each interval the curve runs the battery at the step the realised price falls in: the same
    as a base-point env (same day, same deployment path) asked for that step's deviation."""
    env = gym.make("bessgym/RealTime-v0", split="test", action="bid_curve", segments=2)
    same = gym.make("bessgym/RealTime-v0", split="test")
    assert env.action_space.shape == (5,)
    check_env(env.unwrapped)
    pinned = {"scenario": "caiso-SP15-2024-05-02"}
    env.reset(seed=0, options=pinned)
    same.reset(seed=0, options=pinned)
    rt, da = env.unwrapped._rt_price, env.unwrapped._da_price
    rng = np.random.default_rng(0)
    steps_used = set()
    for t in range(96):
        action = rng.uniform(-1, 1, 5).astype(np.float32)
        prices = np.sort(da[t] + action[:2].astype(float) * 100.0)  # the default span, $/MWh
        step = int((prices <= rt[t]).sum())  # the step the realised price falls in
        steps_used.add(step)
        deviation = np.sort(action[2:])[step]
        _, reward, terminated, _, info = env.step(action)
        _, reward_same, _, _, info_same = same.step(np.array([deviation], dtype=np.float32))
        assert info["base_mw"] == info_same["base_mw"] and reward == reward_same
    assert steps_used == {0, 1, 2}  # every step of the curve cleared at some price
    assert terminated
    with pytest.raises(ValueError, match="action has 1 entries"):
        env.reset(seed=0)
        env.step(np.zeros(1))
    with pytest.raises(ValueError, match="action 'curve' is not one of"):
        gym.make("bessgym/RealTime-v0", action="curve")


def test_bad_arguments_are_refused_where_given_naming_the_argument():
    with pytest.raises(ValueError, match=r"da_bidder 3 has no bid\(\)"):
        gym.make("bessgym/RealTime-v0", da_bidder=3)
    with pytest.raises(ValueError, match=r"segments apply to action='bid_curve' only"):
        gym.make("bessgym/RealTime-v0", segments=3)
    with pytest.raises(ValueError, match=r"segments and price_span_usd_per_mwh apply"):
        gym.make_vec("bessgym/RealTime-v0", num_envs=2, vectorization_mode="vector_entry_point", segments=2,
                     price_span_usd_per_mwh=50.0)
    with pytest.raises(ValueError, match=r"rt_policy 'threshold' has no reset\(\) or act\(\)"):
        gym.make("bessgym/DayAhead-v0", rt_policy="threshold")
    with pytest.raises(ValueError, match=r"\(read as text, not a JSON value: as_share=.abc.\)"):
        gym.make("bessgym/RealTime-v0", da_bidder="threshold?as_share=abc")
    with pytest.raises(ValueError, match=r"argument 'as_share' is given twice"):
        gym.make("bessgym/RealTime-v0", da_bidder="threshold?as_share=0.1&as_share=0.2")
    env = gym.make("bessgym/RealTime-v0", split="test")
    with pytest.raises(ValueError, match=r"reset options \['scenaro'\] are not understood; allowed: \['scenario'\]"):
        env.reset(seed=0, options={"scenaro": "caiso-SP15-2024-05-02"})
