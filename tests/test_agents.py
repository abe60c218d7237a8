"""PPO: a tiny training run per env, export, and acting through the leaderboard adapters."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")

from agents.ppo.policy import LoadedPolicy  # noqa: E402
from agents.ppo.train import TrainConfig, train  # noqa: E402
from bessgym.evaluation import evaluate  # noqa: E402

TINY = {  # overrides of hyperparams.yml's blocks (rl-zoo3 keys, PPO arguments flat)
    "bessgym/RealTime-v0": {"policy_kwargs": "dict(net_arch=[16, 16])", "n_steps": 32, "batch_size": 32, "n_epochs": 2,
                            "gamma": 0.99},
    "bessgym/DayAhead-v0": {"policy_kwargs": "dict(net_arch=[16, 16])", "n_steps": 8, "batch_size": 8, "n_epochs": 2},
}


@pytest.mark.parametrize("env_id, fixed, adapter", [
    ("bessgym/RealTime-v0", "threshold", "PPORealTime"),
    ("bessgym/DayAhead-v0", "follow_da", "PPODayAhead"),
])
def test_tiny_training_export_and_adapter(tmp_path, env_id, fixed, adapter):
    cfg = TrainConfig(env=env_id, seed=3, timesteps=256, n_envs=4, split="val", eval_split="val", fixed=fixed,
                      out=tmp_path / "run", evaluations=1, eval_days=1, hyperparams=TINY[env_id])
    record = train(cfg)
    assert record["timesteps"] >= 256 and record["env_steps_per_s"] > 0
    prefix = tmp_path / "run" / record["name"]
    spec = json.loads(prefix.with_suffix(".json").read_text())
    assert spec["training"]["seed"] == 3 and len(spec["obs_mean"]) == len(spec["observation_low"])
    assert (tmp_path / "run" / "tensorboard").exists()

    policy = LoadedPolicy(path=str(prefix))
    obs = np.array(spec["observation_low"], np.float32) * 0.5 + np.array(spec["observation_high"], np.float32) * 0.5
    action = policy.action(obs)
    assert action.shape == (spec["action_dim"],) and np.all(np.abs(action) <= 1)

    spec_string = f"agents.ppo.policy:{adapter}?path={prefix}"
    da, rt = (fixed, spec_string) if adapter == "PPORealTime" else (spec_string, fixed)
    outcomes = evaluate("caiso-sp15", "val", da, rt, limit=2)
    assert len(outcomes) == 2 and all(np.isfinite(o.profit) for o in outcomes)


def test_adapter_errors_name_the_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="needs nothing-here.json"):
        LoadedPolicy(path=str(tmp_path / "nothing-here"))
    with pytest.raises(ValueError, match="exactly one of name="):
        LoadedPolicy()
    with pytest.raises(ValueError, match=r"name='../../etc/passwd' is not a shipped checkpoint's name"):
        LoadedPolicy(name="../../etc/passwd")
