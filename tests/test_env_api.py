"""The env API an RL researcher touches: the same info keys in scalar and vector envs, episode
lengths and `truncated` on every shipped config, and wrapped specs that round-trip."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.registration import EnvSpec
from gymnasium.vector import AutoresetMode
from gymnasium.wrappers import DiscretizeAction

import bessgym  # noqa: F401  (registers the ids)
from bessgym.config import PRESETS, load_config
from bessgym.envs import ENV_IDS
from bessgym.envs.day_ahead import DayAheadEnv
from bessgym.envs.real_time import RealTimeEnv
from bessgym.envs.two_settlement import TwoSettlementEnv
from bessgym.envs.vector import per_env_infos
from bessgym.envs.wrappers import DiscreteActions, ScaleReward
from bessgym.settlement import LEDGER_LINES
from tests.test_vector import assert_same_info, make_vec

LAST_STEP_KEYS = {"day_totals", "profit_usd", "day_shortfall_mwh", "scenario_id", "action_clipped", "cost", *LEDGER_LINES}


def play(env, actions, seed=None, options=None):
    """Reset, then step until the episode ends; every (reward, terminated, truncated, info)."""
    env.reset(seed=seed, options=options)
    steps = []
    for a in actions:
        _, reward, terminated, truncated, info = env.step(a)
        steps.append((reward, terminated, truncated, info))
        if terminated or truncated:
            return steps
    raise AssertionError(f"the episode did not end in {len(actions)} steps")


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_realtime_scalar_and_vector_last_info_agree(mode):
    """Sub-env 1 of a vector env reset with seed 4 plays sub-env 1's day as a scalar env reset
    with seed 5; the same actions give the same info, key for key, on every step."""
    actions = np.random.default_rng(3).uniform(-1.2, 1.2, (96, 2, 1)).astype(np.float32)
    scalar = gym.make("bessgym/RealTime-v0", split="test")
    steps = play(scalar, actions[:, 1], seed=5)
    vec = make_vec("bessgym/RealTime-v0", 2, split="test", autoreset_mode=mode)
    vec.reset(seed=4)
    for (reward, terminated, truncated, scalar_info), a in zip(steps, actions):
        _, vec_reward, vec_terminated, vec_truncated, info = vec.step(a)
        if mode == AutoresetMode.SAME_STEP and vec_terminated[1]:
            info = info["final_info"]
        assert_same_info(per_env_infos(info, 2)[1], scalar_info)
        assert (vec_reward[1], vec_terminated[1], vec_truncated[1]) == (pytest.approx(reward, rel=1e-12), terminated, truncated)
    last = steps[-1][3]
    assert LAST_STEP_KEYS <= set(last) and set(last["day_totals"]) == set(LEDGER_LINES)
    assert last["profit_usd"] == pytest.approx(sum(s[0] for s in steps), rel=1e-12)
    assert last["profit_usd"] == pytest.approx(sum(last["day_totals"].values()), rel=1e-12)
    assert last["day_shortfall_mwh"] >= 0.0 and last["scenario_id"].startswith("caiso-SP15-2024-")
    assert sum(s[3]["cost"] for s in steps) == pytest.approx(last["day_shortfall_mwh"], rel=1e-12, abs=1e-12)
    assert all(s[3]["cost"] >= 0.0 for s in steps)


def test_day_ahead_scalar_and_vector_info_agree():
    actions = np.random.default_rng(4).uniform(-1, 1, (2, 120)).astype(np.float32)
    scalar = gym.make("bessgym/DayAhead-v0", split="val")
    (_, _, _, scalar_info), = play(scalar, actions[1:], seed=8)
    vec = make_vec("bessgym/DayAhead-v0", 2, split="val")
    vec.reset(seed=7)
    info = vec.step(actions)[4]
    assert_same_info(per_env_infos(info, 2)[1], scalar_info)
    assert LAST_STEP_KEYS | {"da_cut_energy_mw", "da_cut_as_mw"} == set(scalar_info)
    assert scalar_info["cost"] == scalar_info["day_shortfall_mwh"]


def test_two_settlement_last_info_has_the_same_keys():
    env = gym.make("bessgym/TwoSettlement-v0", split="test")
    steps = play(env, np.zeros((97, 121), dtype=np.float32), seed=0)
    first, last = steps[0][3], steps[-1][3]
    assert set(first) == {*LEDGER_LINES, "action_clipped", "cost", "scenario_id", "da_cut_energy_mw", "da_cut_as_mw"}
    assert set(last) == LAST_STEP_KEYS | {"base_mw"} and last["scenario_id"] == first["scenario_id"]


def episode_steps(env_id: str, intervals: int) -> int:
    return {"bessgym/RealTime-v0": intervals, "bessgym/DayAhead-v0": 1, "bessgym/TwoSettlement-v0": 1 + intervals,
            "bessgym/ThreeSettlement-v0": 1 + intervals}[env_id]


@pytest.mark.parametrize("config", PRESETS)
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_a_day_ends_by_termination_on_every_shipped_config(env_id, config):
    """The TimeLimit gym.make adds is the config's own episode length: it never cuts a day
    short (a 288-interval synthetic day is not truncated at 96), and it flags `truncated` only
    on the step where the day terminates."""
    three = load_config(config).market_profile.three_settlement
    if env_id == "bessgym/ThreeSettlement-v0" and not three:
        with pytest.raises(ValueError, match="needs a three-settlement market profile"):
            gym.make(env_id, config=config, split="test")
        return
    env = gym.make(env_id, config=config, split="test")
    intervals = env.unwrapped.source.scenarios.history("test").intervals_per_day
    assert intervals == {"caiso-sp15": 96, "caiso3-sp15": 288, "pjm-western-5min": 288, "synthetic": 288}[config]
    n = episode_steps(env_id, intervals)
    assert env.spec.max_episode_steps == n
    steps = play(env, np.zeros((n + 1, *env.action_space.shape), dtype=np.float32), seed=0)
    assert len(steps) == n and steps[-1][1:3] == (True, True)
    assert not any(terminated or truncated for _, terminated, truncated, _ in steps[:-1])
    if env_id == "bessgym/DayAhead-v0" and three:
        with pytest.raises(ValueError, match="plays two-settlement days"):
            make_vec(env_id, 2, config=config, split="test")
    elif env_id in ("bessgym/RealTime-v0", "bessgym/DayAhead-v0"):  # the native vector envs
        vec = make_vec(env_id, 2, config=config, split="test")
        assert vec.max_episode_steps == n
        vec.reset(seed=0)
        for t in range(n):
            _, _, terminated, truncated, _ = vec.step(np.zeros(vec.action_space.shape, dtype=np.float32))
            assert terminated.all() == truncated.all() == (t == n - 1) and terminated.any() == (t == n - 1)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_gym_make_still_reads_the_render_modes_through_the_entry_point(env_id):
    env = gym.make(env_id, render_mode="rgb_array_list")  # gymnasium collects the rgb_array frames
    assert isinstance(env, gym.wrappers.RenderCollection) and env.unwrapped.render_mode == "rgb_array"


@pytest.mark.parametrize("cls", [RealTimeEnv, DayAheadEnv, TwoSettlementEnv])
def test_the_envs_themselves_never_truncate(cls):
    """`truncated` comes only from a TimeLimit: the bare envs end by `terminated` alone."""
    env = cls(split="test")
    steps = play(env, np.zeros((98, *env.action_space.shape), dtype=np.float32), seed=1)
    assert steps[-1][1] and not any(truncated for _, _, truncated, _ in steps)


def test_a_shorter_limit_truncates_without_terminating_and_the_vector_env_autoresets():
    env = gym.make("bessgym/RealTime-v0", split="test", max_episode_steps=10)
    steps = play(env, np.zeros((11, 1), dtype=np.float32), seed=0)
    assert len(steps) == 10 and steps[-1][1:3] == (False, True) and "day_totals" not in steps[-1][3]
    vec = make_vec("bessgym/RealTime-v0", 2, split="test", max_episode_steps=10)
    vec.reset(seed=0)
    for _ in range(10):
        _, reward, terminated, truncated, info = vec.step(np.zeros((2, 1), dtype=np.float32))
    assert truncated.all() and not terminated.any() and "day_totals" not in info
    obs, reward, terminated, truncated, info = vec.step(np.zeros((2, 1), dtype=np.float32))  # next-step autoreset
    assert not reward.any() and not truncated.any() and obs[0][0] == 0.0 and info["_scenario_id"].all()
    with pytest.raises(ValueError, match=r"max_episode_steps must be a whole number >= 1 or None \(the episode's 96 steps\), got 0"):
        make_vec("bessgym/RealTime-v0", 1, max_episode_steps=0)


WRAPPINGS = {
    "scale": lambda env: ScaleReward(env, "usd_per_mw_h"),
    "discrete": lambda env: DiscreteActions(env, levels=5),
    "discrete(scale)": lambda env: DiscreteActions(ScaleReward(env, "usd_per_mw_h"), levels=5),
    "scale(discrete)": lambda env: ScaleReward(DiscreteActions(env, levels=5), "usd"),
    "gymnasium DiscretizeAction(scale)": lambda env: DiscretizeAction(ScaleReward(env, "usd_per_mw_h"), bins=5),
}


@pytest.mark.parametrize("wrapping", WRAPPINGS)
def test_wrapped_specs_round_trip(wrapping):
    env = WRAPPINGS[wrapping](gym.make("bessgym/RealTime-v0", split="test"))
    text = env.spec.to_json()
    rebuilt = gym.make(EnvSpec.from_json(text))
    assert rebuilt.spec.to_json() == text and rebuilt.action_space == env.action_space
    outer = [type(w) for w in (env, getattr(env, "env", None)) if isinstance(w, (ScaleReward, DiscreteActions, DiscretizeAction))]
    assert outer == [type(w) for w in (rebuilt, rebuilt.env)][: len(outer)]
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(96)]
    first, second = play(env, actions, seed=3), play(rebuilt, actions, seed=3)
    assert [s[:3] for s in first] == [s[:3] for s in second]


def test_day_ahead_wrapped_spec_round_trips_with_multi_discrete_actions():
    env = ScaleReward(DiscreteActions(gym.make("bessgym/DayAhead-v0", split="val"), levels=3), "usd_per_mw_h")
    rebuilt = gym.make(EnvSpec.from_json(env.spec.to_json()))
    assert rebuilt.action_space == gym.spaces.MultiDiscrete([3] * 120)
    action = np.random.default_rng(1).integers(0, 3, 120)
    assert play(env, [action], seed=2)[0][:3] == play(rebuilt, [action], seed=2)[0][:3]


def test_discrete_actions_keep_both_ends_where_gymnasium_bins_do_not():
    """Why bessgym keeps DiscreteActions: DiscretizeAction's bin centres never reach full power."""
    env = gym.make("bessgym/RealTime-v0")
    ours, theirs = DiscreteActions(env, levels=11), DiscretizeAction(env, bins=11)
    assert ours.action_space == theirs.action_space == gym.spaces.Discrete(11)
    assert ours.action(10)[0] == 1.0 and ours.action(0)[0] == -1.0 and ours.action(5)[0] == 0.0
    assert theirs.action(10)[0] == pytest.approx(10 / 11)
    with pytest.raises(ValueError, match="levels must be a whole number >= 2, got 1"):
        DiscreteActions(env, levels=1)
    with pytest.raises(ValueError, match=r"unit 'eur' is not one of \['usd', 'usd_per_mw_h'\]"):
        ScaleReward(env, "eur")
