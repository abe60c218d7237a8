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


def test_adapter_passes_the_info_through():
    """SB3 sees the scalar env's keys per env: the ledger lines and action_clipped every step,
    day_totals, profit_usd and scenario_id on the last; the next day's id in reset_infos."""
    from bessgym.settlement import LEDGER_LINES

    venv = make_sb3_vec_env("bessgym/RealTime-v0", n_envs=3, split="test")
    venv.seed(0)
    venv.reset()
    first_days = [info["scenario_id"] for info in venv.reset_infos]
    actions = np.array([[0.0], [2.0], [-0.5]], dtype=np.float32)
    for t in range(96):
        _, reward, dones, infos = venv.step(actions)
        for i, info in enumerate(infos):
            assert all(type(info[line]) is float for line in LEDGER_LINES)
            assert info["action_clipped"] is (i == 1)
            assert sum(info[line] for line in LEDGER_LINES) == pytest.approx(float(reward[i]), rel=1e-5, abs=1e-4)
            assert ("day_totals" in info) == (t == 95) == ("terminal_observation" in info)
    for i, info in enumerate(infos):
        assert set(info["day_totals"]) == set(LEDGER_LINES) and info["scenario_id"] == first_days[i]
        assert info["profit_usd"] == pytest.approx(sum(info["day_totals"].values()), rel=1e-12)
        assert info["TimeLimit.truncated"] is False and isinstance(info["day_shortfall_mwh"], float)
    assert all(info["scenario_id"] for info in venv.reset_infos) and [i["scenario_id"] for i in venv.reset_infos] != first_days
    scalar = gym.make("bessgym/RealTime-v0", split="test")  # sub-env 2 is a scalar env reset with seed 0 + 2
    scalar.reset(seed=2)
    for _ in range(96):
        *_, scalar_info = scalar.step(actions[2])
    assert set(infos[2]) == set(scalar_info) | {"terminal_observation", "TimeLimit.truncated"}
    assert infos[2]["day_totals"] == pytest.approx(scalar_info["day_totals"], rel=1e-12)


def test_adapter_is_honest_about_being_one_batched_env():
    venv = make_sb3_vec_env("bessgym/DayAhead-v0", n_envs=2)
    assert venv.get_attr("render_mode") == [None, None] and venv.get_attr("num_envs", indices=[1]) == [2]
    with pytest.raises(TypeError, match=r"env_method\('reset'\): the native vector env is one batched object, not 2 envs"):
        venv.env_method("reset", indices=[0])
    with pytest.raises(ValueError, match=r"set_attr\('policy'\) for envs \[0\]: .* all 2 envs share"):
        venv.set_attr("policy", None, indices=[0])
    venv.set_attr("marker", 7)
    assert venv.env.marker == 7 and venv.env_is_wrapped(gym.Wrapper) == [False, False]


def test_concatenated_regimes_step_side_by_side_as_their_parts_alone():
    """ConcatVecEnv (agents.ppo.train --also-config): two configs' vector envs as one; env i
    of the whole is env i - offset of its part, seeded and stepped as that part alone would be."""
    from bessgym.envs.sb3 import ConcatVecEnv

    parts = [make_sb3_vec_env("bessgym/DayAhead-v0", n_envs=2, split="val"),
             make_sb3_vec_env("bessgym/DayAhead-v0", n_envs=3, config="synthetic", split="val")]
    whole = ConcatVecEnv(parts)
    assert whole.num_envs == 5
    whole.seed(7)
    obs = whole.reset()
    alone = make_sb3_vec_env("bessgym/DayAhead-v0", n_envs=3, config="synthetic", split="val")
    alone.seed(9)  # the second part starts at offset 2
    assert np.array_equal(obs[2:], alone.reset())
    actions = np.zeros((5, 120), np.float32)
    obs, reward, done, infos = whole.step(actions)
    assert reward.shape == (5,) and done.all() and len(infos) == 5
    assert reward[2:] == pytest.approx(alone.step(actions[2:])[1])
    assert [info["scenario_id"][:3] for info in infos] == ["cai", "cai", "syn", "syn", "syn"]
    assert len(whole.get_attr("num_envs", [0, 4])) == 2
