"""Train PPO (stable-baselines3) on bessgym, top to bottom.

    python -m agents.ppo.train --env bessgym/RealTime-v0 --seed 0
    python -m agents.ppo.train --env bessgym/DayAhead-v0 --seed 0 --timesteps 50000

RealTime-v0 runs with its DA position fixed by a named bidder, DayAhead-v0 with its RT day
played by a fixed policy (both from ``hyperparams.yml``, overridable). Training runs on the
native vector env through the SB3 adapter, with observation (and reward) normalisation,
TensorBoard logs, a progress bar, checkpoints, evaluation on the val split, and writes the
exported policy (``agents/ppo/policy.py`` loads it for the leaderboard).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, CheckpointCallback, EvalCallback
from stable_baselines3.common.vec_env import VecMonitor, VecNormalize
from tqdm import tqdm

from agents.ppo.policy import CHECKPOINTS, export
from bessgym.envs.sb3 import make_sb3_vec_env

HYPERPARAMS = Path(__file__).resolve().parent / "hyperparams.yml"
SHORT = {"bessgym/RealTime-v0": "realtime", "bessgym/DayAhead-v0": "dayahead"}


@dataclass
class TrainConfig:
    env: str = "bessgym/RealTime-v0"
    seed: int = 0
    timesteps: int | None = None  # default: the env's n_timesteps in hyperparams.yml
    n_envs: int | None = None
    config: str = "caiso-sp15"
    split: str = "train"
    eval_split: str = "val"
    fixed: str | None = None  # the other level's spec: da_bidder (RealTime) or rt_policy (DayAhead)
    out: Path = Path("runs/ppo")
    export_to: Path = CHECKPOINTS
    evaluations: int = 5
    hyperparams: dict = field(default_factory=dict)


class ProgressBar(BaseCallback):
    """A tqdm bar over environment steps."""

    def __init__(self, total: int) -> None:
        super().__init__()
        self.bar = tqdm(total=total, unit="step", desc="ppo", mininterval=2.0)

    def _on_step(self) -> bool:
        self.bar.update(self.training_env.num_envs)
        return True

    def _on_training_end(self) -> None:
        self.bar.close()


def parse() -> TrainConfig:
    parser = argparse.ArgumentParser(prog="python -m agents.ppo.train", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="bessgym/RealTime-v0", choices=sorted(SHORT))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timesteps", type=int)
    parser.add_argument("--n-envs", type=int)
    parser.add_argument("--config", default="caiso-sp15")
    parser.add_argument("--fixed", help="spec of the fixed other level (default from hyperparams.yml)")
    parser.add_argument("--out", type=Path, default=Path("runs/ppo"), help="logs and checkpoints")
    parser.add_argument("--export-to", type=Path, default=CHECKPOINTS, help="where the exported policy goes")
    parser.add_argument("--evaluations", type=int, default=5, help="evaluations on the val split during training")
    args = parser.parse_args()
    return TrainConfig(env=args.env, seed=args.seed, timesteps=args.timesteps, n_envs=args.n_envs, config=args.config,
                       fixed=args.fixed, out=args.out, export_to=args.export_to, evaluations=args.evaluations)


def train(cfg: TrainConfig) -> dict:
    """Train, evaluate and export; returns the training record written next to the policy."""
    # 1. hyper-parameters: the env's block of hyperparams.yml, overridden by the config
    hp = {**yaml.safe_load(HYPERPARAMS.read_text())[cfg.env], **cfg.hyperparams}
    n_envs = cfg.n_envs or hp["n_envs"]
    timesteps = cfg.timesteps or hp["n_timesteps"]
    fixed_key = "da_bidder" if cfg.env == "bessgym/RealTime-v0" else "rt_policy"
    fixed = {fixed_key: cfg.fixed or hp[fixed_key]}
    name = f"{SHORT[cfg.env]}-seed{cfg.seed}"
    run_dir = cfg.out / name

    # 2. environments: the native vector env, monitored, with normalised observations and rewards
    train_env = VecNormalize(VecMonitor(make_sb3_vec_env(cfg.env, n_envs, config=cfg.config, split=cfg.split, **fixed)),
                             norm_obs=True, norm_reward=True, gamma=hp["ppo"]["gamma"] or 0.99)
    train_env.seed(cfg.seed)
    eval_env = VecNormalize(VecMonitor(make_sb3_vec_env(cfg.env, 8, config=cfg.config, split=cfg.eval_split, **fixed)),
                            training=False, norm_reward=False)
    eval_env.seed(10_000 + cfg.seed)

    # 3. the agent
    model = PPO("MlpPolicy", train_env, seed=cfg.seed, device="cpu", tensorboard_log=str(cfg.out / "tensorboard"),
                policy_kwargs=hp.get("policy_kwargs"), verbose=0, **hp["ppo"])

    # 4. callbacks: progress, checkpoints, evaluation on the val split
    rollout = n_envs * hp["ppo"]["n_steps"]
    every = max(rollout, timesteps // max(cfg.evaluations, 1)) // n_envs
    callbacks = CallbackList([
        ProgressBar(timesteps),
        CheckpointCallback(every, str(run_dir / "checkpoints"), name_prefix=name, save_vecnormalize=True),
        EvalCallback(eval_env, eval_freq=every, n_eval_episodes=16, best_model_save_path=str(run_dir / "best"),
                     log_path=str(run_dir / "eval"), deterministic=True, verbose=0),
    ])

    # 5. learn, timing the steps per second
    start = time.perf_counter()
    model.learn(total_timesteps=timesteps, callback=callbacks, tb_log_name=name)
    seconds = time.perf_counter() - start

    # 6. export the final policy with its normalisation statistics
    record = {
        "env": cfg.env, "name": name, "seed": cfg.seed, "timesteps": int(model.num_timesteps), "n_envs": n_envs,
        "train_seconds": seconds, "env_steps_per_s": model.num_timesteps / seconds, "config": cfg.config,
        "split": cfg.split, **fixed, "hyperparams": hp,
        "command": f"python -m agents.ppo.train --env {cfg.env} --seed {cfg.seed} --timesteps {timesteps}",
    }
    export(model, train_env, cfg.export_to / name, {"training": record})
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "training.json").write_text(json.dumps({**record, "config": asdict(cfg) | {"out": str(cfg.out), "export_to": str(cfg.export_to)}}, indent=1, default=str))
    return record


if __name__ == "__main__":
    cfg = parse()
    result = train(cfg)
    print(f"{result['name']}: {result['timesteps']} steps in {result['train_seconds']:.0f} s "
          f"({result['env_steps_per_s']:.0f} env-steps/s); exported to {cfg.export_to / result['name']}.pt/.json")
