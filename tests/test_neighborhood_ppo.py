"""Shared-parameter PPO on Neighborhood-v0 (agents.ppo.neighborhood): the homes' VecEnv, a short
training run that exports and replays, and the shipped checkpoint on unseen days."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agents.ppo.neighborhood import HomesVecEnv, SharedPPO, train
from baselines.community import RuleBased
from baselines.community_lp import play_day
from bessgym.community.env import TEST_DAYS, TRAIN_DAYS, NeighborhoodEnv


def test_the_splits_cover_the_year_and_a_reset_draws_only_from_the_envs_days():
    assert sorted(TEST_DAYS + TRAIN_DAYS) == list(range(365)) and len(TEST_DAYS) == 52
    env = NeighborhoodEnv(days=TRAIN_DAYS)
    drawn = set()
    for seed in range(60):
        env.reset(seed=seed)
        drawn.add(env.t // 24)
    assert drawn <= set(TRAIN_DAYS) and len(drawn) > 30
    env.reset(options={"day": TEST_DAYS[0]})  # an explicit day is any day
    assert env.t == TEST_DAYS[0] * 24
    for days in ([], [400], "12", [True], 5):
        with pytest.raises(ValueError, match="days"):
            NeighborhoodEnv(days=days)


def test_every_home_of_every_env_is_a_sub_env_that_steps_as_the_env_does():
    venv = HomesVecEnv([NeighborhoodEnv(seed=1), NeighborhoodEnv(seed=2)])
    twins = [NeighborhoodEnv(seed=1), NeighborhoodEnv(seed=2)]
    assert venv.num_envs == 34 and venv.observation_space.shape == (17,) and venv.action_space.shape == (5,)
    venv.seed(7)
    obs = venv.reset()
    for k, twin in enumerate(twins):  # env k is seeded with its first home's seed: 7 + 17 k
        mine, _ = twin.reset(seed=7 + 17 * k)
        np.testing.assert_array_equal(obs[17 * k:17 * (k + 1)], np.stack([mine[a] for a in twin.possible_agents]))
    rng = np.random.default_rng(0)
    for hour in range(24):
        actions = rng.uniform(-1, 1, (34, 5)).astype(np.float32)
        obs, rewards, dones, infos = venv.step(actions)
        twin_obs = []
        for k, twin in enumerate(twins):
            agents = twin.possible_agents
            mine, reward, *_ = twin.step({a: actions[17 * k + i] for i, a in enumerate(agents)})
            twin_obs.append(np.stack([mine[a] for a in agents]))
            np.testing.assert_allclose(rewards[17 * k:17 * (k + 1)], [reward[a] for a in agents], rtol=1e-6)
            if hour < 23:
                np.testing.assert_array_equal(obs[17 * k:17 * (k + 1)], twin_obs[k])
                assert not dones.any()
    # the day's end: every home done, its last observation kept, the env reset to a new day
    assert dones.all() and all(not info["TimeLimit.truncated"] for info in infos)
    np.testing.assert_array_equal(np.stack([info["terminal_observation"] for info in infos]), np.concatenate(twin_obs))
    assert all(env.agents for env in venv.envs) and all(env.t % 24 == 0 for env in venv.envs)
    assert venv.get_attr("world", [0, 20]) == [venv.envs[0].world, venv.envs[1].world]
    with pytest.raises(TypeError, match="agents of one env"):
        venv.env_method("reset")
    venv.set_options({"day": 7})
    with pytest.raises(ValueError, match="reset options"):
        venv.reset()
    assert venv.reset().shape == (34, 17)  # refused once, not for good
    env = NeighborhoodEnv()
    with pytest.raises(ValueError, match="more than once"):
        HomesVecEnv([env, env])


def test_a_short_run_exports_a_policy_that_plays_as_the_model_did(tmp_path):
    prefix = train(seed=3, timesteps=600, out=tmp_path / "run", progress=False)
    record = json.loads((tmp_path / "run" / "training.json").read_text())
    assert record["env"] == "bessgym/Neighborhood-v0" and record["days"] == "TRAIN_DAYS" and record["timesteps"] >= 600
    policy = SharedPPO(path=str(prefix))
    env = NeighborhoodEnv()
    policy.reset(env)
    obs, _ = env.reset(options={"day": TEST_DAYS[3]})
    actions = policy.act(obs)
    assert sorted(actions) == sorted(env.agents)
    rows = np.stack([obs[a] for a in env.possible_agents])
    np.testing.assert_array_equal(np.stack(list(actions.values())), policy.action(rows))
    with pytest.raises(ValueError, match="earlier run"):
        train(seed=3, timesteps=600, out=tmp_path / "run", progress=False)
    with pytest.raises(ValueError, match="timesteps"):
        train(timesteps=0, out=tmp_path / "other")
    (tmp_path / "a_file").write_text("")
    for kwargs, message in (({"seed": 2**32}, "seed = 4294967296; allowed: an integer 0 .. 4294967295"),
                            ({"out": tmp_path / "a_file"}, "is a file"), ({"out": tmp_path / "a_file" / "x"}, "is a file"),
                            ({"out": 5}, "out = 5; allowed: a folder path"), ({"out": ""}, "out = ''; allowed"),
                            ({"out": "/proc/bessgym-nb"}, "cannot be made")):
        with pytest.raises(ValueError, match=message):
            train(**{"timesteps": 600, "out": tmp_path / "never", **kwargs})
    assert not (tmp_path / "never").exists()
    prefix = train(seed=np.int64(4), timesteps=np.int64(600), envs=np.int64(1), out=tmp_path / "numpy", progress=False)
    assert json.loads(prefix.with_suffix(".json").read_text())["training"]["seed"] == 4  # numpy ints are ints

def test_the_shipped_policy_beats_the_rule_based_homes_on_unseen_days():
    env = NeighborhoodEnv()  # devices of seed 0: none of training's
    ppo, rules = SharedPPO(name="neighborhood-seed0"), RuleBased()
    ppo.reset(env)
    rules.reset(env)
    days = TEST_DAYS[::13]  # four test days across the year
    learned = sum(play_day(env, ppo.act, day).sum() for day in days)
    assert learned < sum(play_day(env, rules.act, day).sum() for day in days)


def test_the_policy_warns_when_it_plays_a_market_it_was_not_trained_on(recwarn):
    policy = SharedPPO(name="neighborhood-seed1")
    assert policy.spec["training"]["market"]["rounds"] == 1
    policy.reset(NeighborhoodEnv(seed=1))
    assert not [w for w in recwarn if "not trained on" in str(w.message)]
    with pytest.warns(UserWarning, match=r"mechanism 'mcafee' \(trained on 'k_double'\), rounds 5 \(trained on 1\)"):
        policy.reset(NeighborhoodEnv(mechanism="mcafee", rounds=5))
    with pytest.warns(UserWarning, match="other homes"):
        policy.reset(NeighborhoodEnv(homes=20))


def test_a_checkpoint_of_another_env_is_refused_by_its_spaces():
    with pytest.raises(ValueError, match=r"Box\(17,\) observations and Box\(5,\) actions"):
        SharedPPO(name="realtime-seed0")
    policy = SharedPPO(name="neighborhood-seed0")
    with pytest.raises(ValueError, match="call reset"):
        policy.act({})
    with pytest.raises(ValueError, match="NeighborhoodEnv"):
        policy.reset(object())
