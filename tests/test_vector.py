"""The native vector envs equal N scalar envs with the same seeds, step for step."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import bessgym  # noqa: F401
from bessgym.envs.vector import per_env_infos


def make_vec(env_id: str, n: int, **kwargs):
    return gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", **kwargs)


def assert_same_info(got: dict, expected: dict) -> None:
    """The same keys, nested dicts alike; numbers equal to 1e-12 relative, others exactly."""
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        if isinstance(value, dict):
            assert_same_info(got[key], value)
        elif isinstance(value, (str, bool, np.bool_)):
            assert got[key] == value and type(got[key]) is type(value), key
        else:
            assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-9), key


@pytest.mark.parametrize("form", ["base_point", "bid_curve"])
def test_realtime_vector_equals_scalar_envs_across_autoreset(form):
    n, seed = 3, 11
    size = 1 if form == "base_point" else 7
    vec = make_vec("bessgym/RealTime-v0", n, action=form)
    envs = [gym.make("bessgym/RealTime-v0", action=form) for _ in range(n)]
    obs, _ = vec.reset(seed=seed)
    for i, env in enumerate(envs):
        assert np.array_equal(env.reset(seed=seed + i)[0], obs[i])
    rng = np.random.default_rng(0)
    needs_reset = [False] * n
    for _ in range(2 * 97 + 5):  # two days and an autoreset each (a new deployment path each)
        actions = rng.uniform(-1.3, 1.3, (n, size)).astype(np.float32)
        obs, reward, terminated, truncated, info = vec.step(actions)
        infos = per_env_infos(info, n)
        for i, env in enumerate(envs):
            if needs_reset[i]:
                scalar_obs, scalar_info = env.reset()
                scalar_info.pop("da_cuts_mw")  # the vector env's reset info holds the day's id only
                scalar_reward, scalar_done, scalar_truncated = 0.0, False, False
            else:
                scalar_obs, scalar_reward, scalar_done, scalar_truncated, scalar_info = env.step(actions[i])
            assert_same_info(infos[i], scalar_info)
            assert np.array_equal(obs[i], scalar_obs)
            assert reward[i] == scalar_reward and terminated[i] == scalar_done and truncated[i] == scalar_truncated
            needs_reset[i] = scalar_done
    assert terminated.dtype == bool


def test_same_step_autoreset_reports_the_final_observation():
    vec = make_vec("bessgym/RealTime-v0", 2, autoreset_mode=AutoresetMode.SAME_STEP)
    vec.reset(seed=0)
    for _ in range(96):
        obs, reward, terminated, _, info = vec.step(np.zeros((2, 1), dtype=np.float32))
    assert terminated.all() and info["_final_obs"].all()
    assert info["final_obs"][0][0] == 1.0 and obs[0][0] == 0.0  # the day ended; a new one began
    final = info["final_info"]  # the last step's info, as gymnasium's SyncVectorEnv puts it
    assert np.isfinite(final["profit_usd"]).all() and final["_profit_usd"].all() and "profit_usd" not in info
    assert final["day_totals"]["penalty"].shape == (2,) and final["scenario_id"][0] != info["scenario_id"][0]


def test_partial_reset_pinned_days_and_bad_actions():
    vec = make_vec("bessgym/RealTime-v0", 3, split="test")
    obs, info = vec.reset(seed=0, options={"scenario": "caiso-SP15-2024-05-02"})
    assert set(info["scenario_id"]) == {"caiso-SP15-2024-05-02"}
    vec.step(np.zeros((3, 1)))
    obs, _ = vec.reset(options={"reset_mask": np.array([True, False, False])})
    assert obs[0][0] == 0.0 and obs[1][0] > 0.0
    with pytest.raises(ValueError, match=r"envs \[1\] contain NaN"):
        vec.step(np.array([[0.0], [np.nan], [0.0]]))
    with pytest.raises(ValueError, match="3 envs of action size 1 need 3"):
        vec.step(np.zeros((3, 2)))
    with pytest.raises(KeyError, match="is not a day of split 'test'"):
        vec.reset(options={"scenario": "caiso-SP15-2023-05-02"})


def test_day_ahead_vector_equals_scalar_envs():
    n, seed = 3, 5
    vec = make_vec("bessgym/DayAhead-v0", n, split="val")
    envs = [gym.make("bessgym/DayAhead-v0", split="val") for _ in range(n)]
    obs, _ = vec.reset(seed=seed)
    scalar = [env.reset(seed=seed + i)[0] for i, env in enumerate(envs)]
    assert np.array_equal(obs, np.stack(scalar))
    actions = np.random.default_rng(1).uniform(-1, 1, (n, 120)).astype(np.float32)
    _, reward, terminated, _, _ = vec.step(actions)
    for i, env in enumerate(envs):
        _, scalar_reward, scalar_done, _, _ = env.step(actions[i])
        assert reward[i] == pytest.approx(scalar_reward, rel=1e-9, abs=1e-9) and terminated[i] == scalar_done
    obs, reward, terminated, _, _ = vec.step(actions)  # next-step autoreset: new days, no reward
    assert not terminated.any() and not reward.any()
    assert np.array_equal(obs, np.stack([env.reset()[0] for env in envs]))


def test_day_ahead_vector_with_a_policy_without_batch_methods():
    vec = make_vec("bessgym/DayAhead-v0", 2, split="val", rt_policy="tests.test_vector:HalfDischarge")
    vec.reset(seed=0)
    _, reward, terminated, _, _ = vec.step(np.zeros((2, 120), dtype=np.float32))
    scalar = gym.make("bessgym/DayAhead-v0", split="val", rt_policy="tests.test_vector:HalfDischarge")
    scalar.reset(seed=1)
    assert terminated.all() and reward[1] == pytest.approx(scalar.step(np.zeros(120, dtype=np.float32))[1], rel=1e-9)


def test_day_ahead_vector_clears_bid_curves_of_its_rt_policy():
    vec = make_vec("bessgym/DayAhead-v0", 2, split="val", rt_policy="baselines.robust:GreedyRT")
    vec.reset(seed=0)
    actions = np.random.default_rng(2).uniform(-1, 1, (2, 120)).astype(np.float32)
    _, reward, _, _, _ = vec.step(actions)
    scalar = gym.make("bessgym/DayAhead-v0", split="val", rt_policy="baselines.robust:GreedyRT")
    scalar.reset(seed=1)
    assert reward[1] == pytest.approx(scalar.step(actions[1])[1], rel=1e-9)


class HalfDischarge:
    """A test RT policy with only reset/act: discharge at half power all day."""

    def reset(self, episode) -> None:
        self.power = episode.battery.p_discharge_mw / 2

    def act(self, obs: np.ndarray) -> float:
        return self.power
