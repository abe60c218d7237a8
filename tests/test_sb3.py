"""stable-baselines3 on every env id: a PPO smoke run of 2,000 steps, and the VecEnv adapter."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import bessgym  # noqa: F401
from bessgym.envs.sb3 import make_sb3_vec_env

sb3 = pytest.importorskip("stable_baselines3")


@pytest.mark.parametrize("env_id", ["bessgym/RealTime-v0", "bessgym/DayAhead-v0"])
def test_ppo_smoke_on_the_native_vector_env(env_id):
    venv = make_sb3_vec_env(env_id, n_envs=8)
    model = sb3.PPO("MlpPolicy", venv, n_steps=250, batch_size=250, n_epochs=1, seed=0, device="cpu")
    model.learn(2_000)
    assert model.num_timesteps >= 2_000
    obs = venv.reset()
    actions, _ = model.predict(obs, deterministic=True)
    assert venv.action_space.contains(actions[0])


def test_ppo_smoke_on_two_settlement():
    from stable_baselines3.common.env_util import make_vec_env

    venv = make_vec_env("bessgym/TwoSettlement-v0", n_envs=2, seed=0)
    model = sb3.PPO("MultiInputPolicy", venv, n_steps=500, batch_size=250, n_epochs=1, seed=0, device="cpu")
    model.learn(2_000)
    assert model.num_timesteps >= 2_000


def test_adapter_terminal_observation_and_seeding():
    venv = make_sb3_vec_env("bessgym/RealTime-v0", n_envs=2)
    venv.seed(3)
    first = venv.reset()
    venv.seed(3)
    assert np.array_equal(first, venv.reset())
    for _ in range(96):
        obs, reward, dones, infos = venv.step(np.zeros((2, 1), dtype=np.float32))
    assert dones.all() and infos[0]["terminal_observation"][0] == 1.0 and obs[0][0] == 0.0
    assert reward.dtype == np.float32 and infos[0]["TimeLimit.truncated"] is False
    with pytest.raises(ValueError, match="SAME_STEP"):
        from bessgym.envs.sb3 import SB3VecEnv

        SB3VecEnv(gym.make_vec("bessgym/RealTime-v0", num_envs=1, vectorization_mode="vector_entry_point"))
