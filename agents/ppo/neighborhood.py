"""Shared-parameter PPO for the neighbourhood market (Neighborhood-v0, ``bessgym.community``).

    python -m agents.ppo.neighborhood --seed 0 [--timesteps 2000000] [--envs 1] [--out DIR]

One policy plays every home, from the home's own observation (17,) to its own action (5,), and
learns from every home's own reward (minus its cost of the hour): independent learners that
share their parameters. :class:`HomesVecEnv` is the stable-baselines3 VecEnv that makes each home
of one or more Neighborhood-v0s a sub-env. Training draws its days from
``bessgym.community.env.TRAIN_DAYS`` (the leaderboard's ``TEST_DAYS`` stay unseen) and its
devices from seeds :data:`DEVICE_SEED` + i (the suite plays seeds 0 and 1). It writes to the
run folder (default ``runs/neighborhood-seed<seed>-<YYYYmmdd-HHMMSS>/``) the exported policy
(``agents.ppo.policy.export``: ``neighborhood-seed<seed>.pt`` + ``.json``; observations are used
as the env gives them, rewards are normalised in training only) and ``training.json``.

:class:`SharedPPO` plays an exported checkpoint as a community policy (``reset(env)`` and
``act(obs)``), e.g. the leaderboard entry ``agents.ppo.neighborhood:SharedPPO?name=neighborhood-seed0``
(shipped, trained with this module's defaults) or ``...?path=DIR/NAME`` (your own).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecMonitor, VecNormalize
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn

from agents.ppo.policy import LoadedPolicy, check_not_shipped, export
from agents.ppo.train import ProgressBar
from bessgym.community.env import ACTION_SIZE, OBS_SIZE, TRAIN_DAYS, NeighborhoodEnv

ENV_ID = "bessgym/Neighborhood-v0"
DEVICE_SEED = 10
"""Training env i draws its homes' devices from seed DEVICE_SEED + i (none of the suite's)."""
TIMESTEPS = 2_000_000
"""Home-hours trained on by default (about 4 minutes on one core)."""
NET_ARCH = [64, 64]
N_MINIBATCHES = 8
PPO_ARGUMENTS = {"n_steps": 512, "learning_rate": 3e-4, "gamma": 0.99, "gae_lambda": 0.95, "n_epochs": 10,
                 "ent_coef": 0.0, "clip_range": 0.2}
"""PPO's arguments (the minibatch is a rollout's home-steps / :data:`N_MINIBATCHES`)."""


class HomesVecEnv(VecEnv):
    """Every home of ``envs`` (Neighborhood-v0s, built on their own devices and days) as one
    sub-env of an SB3 VecEnv, home-major within each env: sub-env ``i`` is home ``i - offset`` of
    the env it falls in. All of an env's homes step together; when its day ends they are all
    done, the day's last observations go to ``infos[i]["terminal_observation"]`` and the env
    resets to a day drawn with its RNG (SB3's same-step autoreset). Each info is the env's info
    for that home."""

    def __init__(self, envs: Sequence[NeighborhoodEnv]) -> None:
        if not envs or not all(isinstance(env, NeighborhoodEnv) for env in envs):
            raise ValueError(f"envs = {envs!r}; allowed: a non-empty sequence of NeighborhoodEnv")
        if len({id(env) for env in envs}) != len(envs):
            raise ValueError("envs holds one NeighborhoodEnv more than once; allowed: distinct envs (each steps once a step)")
        self.envs = list(envs)
        self._bounds = np.cumsum([0] + [len(env.possible_agents) for env in self.envs])
        first = self.envs[0].possible_agents[0]
        super().__init__(int(self._bounds[-1]), self.envs[0].observation_space(first), self.envs[0].action_space(first))
        self._actions: np.ndarray | None = None

    @staticmethod
    def _rows(env: NeighborhoodEnv, obs: dict[str, np.ndarray]) -> np.ndarray:
        return np.stack([obs[agent] for agent in env.possible_agents])

    def reset(self) -> VecEnvObs:
        """Reset every env, env k seeded with the seed of its first home (``seed()``), if any.
        Reset options are refused: each env draws its day from its own ``days``."""
        if any(self._options):
            given = [o for o in self._options if o][0]
            self._reset_options()  # refused once: a later reset runs
            raise ValueError(f"reset options {given!r}; allowed: none (each env draws its "
                             "day from its days: build the envs with NeighborhoodEnv(days=[...]))")
        rows = [self._rows(env, env.reset(seed=self._seeds[int(start)])[0])
                for env, start in zip(self.envs, self._bounds)]
        self._reset_seeds()
        self._reset_options()
        return np.concatenate(rows)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self) -> VecEnvStepReturn:
        assert self._actions is not None, "step_async before step_wait"
        rows, rewards, dones, infos = [], [], [], []
        for k, env in enumerate(self.envs):
            agents = env.possible_agents
            mine = self._actions[self._bounds[k]:self._bounds[k + 1]]
            obs, reward, terminated, truncated, info = env.step({agent: mine[i] for i, agent in enumerate(agents)})
            now = self._rows(env, obs)
            done = not env.agents
            home_infos = [dict(info[agent]) for agent in agents]
            if done:
                for i, home in enumerate(home_infos):
                    home["terminal_observation"] = now[i]
                    home["TimeLimit.truncated"] = bool(truncated[agents[i]] and not terminated[agents[i]])
                now = self._rows(env, env.reset()[0])
            rows.append(now)
            rewards.extend(reward[agent] for agent in agents)
            dones.extend([done] * len(agents))
            infos.extend(home_infos)
        return np.concatenate(rows), np.array(rewards, np.float32), np.array(dones), infos

    def close(self) -> None:
        for env in self.envs:
            env.close()

    def _env_of(self, indices: VecEnvIndices) -> list[NeighborhoodEnv]:
        """The env each of ``indices`` (sub-envs, i.e. homes) belongs to."""
        chosen = range(self.num_envs) if indices is None else [indices] if isinstance(indices, int) else list(indices)
        return [self.envs[int(np.searchsorted(self._bounds, i, side="right")) - 1] for i in chosen]

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """The attribute of the env each home belongs to (the homes of one env share it)."""
        return [getattr(env, attr_name) for env in self._env_of(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set the attribute on the env of each home named (all the env's homes share it)."""
        for env in {id(env): env for env in self._env_of(indices)}.values():
            setattr(env, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any) -> list[Any]:
        """Refused: a home is not an env of its own; call the method on ``venv.envs[k]`` (all its homes)."""
        raise TypeError(f"env_method({method_name!r}): the homes of a Neighborhood-v0 are agents of one env; call "
                        f"venv.envs[k].{method_name}(...) on the env (it acts on all its homes)")

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [False] * len(self._env_of(indices))


def _run_folder(out: Path | str | None, seed: int) -> Path:
    """The run folder (not created), refused inside the shipped checkpoints, over an earlier run,
    or where a file stands in its way."""
    if out is not None and (not isinstance(out, (str, os.PathLike)) or not str(out).strip()):
        raise ValueError(f"out = {out!r}; allowed: a folder path (a non-empty str or a Path) or None")
    folder = Path(out) if out is not None else Path("runs") / f"neighborhood-seed{seed}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    check_not_shipped(folder)
    blocking = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise ValueError(f"out = {folder}: {blocking} is a file; allowed: a folder path")
    if (folder / "training.json").exists():
        raise ValueError(f"out = {folder} holds an earlier run (training.json): choose another folder")
    return folder


def market_of(env: NeighborhoodEnv) -> dict[str, Any]:
    """The market ``env`` plays, as a checkpoint records it: tariff, mechanism, calls an hour,
    comfort price and homes (the shipped 17 or another set, by their ids)."""
    world = env.world
    return {"tariff": world.tariff.name, "mechanism": world.mechanism, "rounds": int(world.rounds),
            "comfort_usd_per_c_h": float(world.comfort_usd_per_c_h), "homes": list(env.possible_agents)}


def train(seed: int = 0, timesteps: int = TIMESTEPS, envs: int = 1, out: Path | str | None = None,
          progress: bool = True) -> Path:
    """Train the shared policy on ``envs`` Neighborhood-v0s (17 homes each, devices of seeds
    :data:`DEVICE_SEED` + i, days of ``TRAIN_DAYS``, the env's default market) for ``timesteps``
    home-hours (rounded up to whole rollouts); export it to the run folder ``out`` and return the
    checkpoint's prefix (``DIR/neighborhood-seed<seed>``). Every argument is checked before the
    folder is made."""
    for name, value, low, high in (("seed", seed, 0, 2**32 - 1), ("timesteps", timesteps, 1, None), ("envs", envs, 1, 64)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low or (high and value > high):
            raise ValueError(f"{name} = {value!r}; allowed: an integer {low} .. {high if high else 'up'}")
    seed, timesteps, envs = int(seed), int(timesteps), int(envs)
    folder = _run_folder(out, seed)
    homes = HomesVecEnv([NeighborhoodEnv(seed=DEVICE_SEED + i, days=TRAIN_DAYS) for i in range(envs)])
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"out = {folder}: the folder cannot be made ({exc})") from None
    homes.seed(seed)
    venv = VecNormalize(VecMonitor(homes), norm_obs=False, norm_reward=True, gamma=PPO_ARGUMENTS["gamma"])
    batch = PPO_ARGUMENTS["n_steps"] * homes.num_envs // N_MINIBATCHES
    model = PPO("MlpPolicy", venv, batch_size=batch, policy_kwargs={"net_arch": NET_ARCH}, seed=seed, device="cpu",
                verbose=0, **PPO_ARGUMENTS)
    start = time.perf_counter()
    model.learn(timesteps, callback=ProgressBar(timesteps) if progress else None)
    seconds = time.perf_counter() - start
    record = {"env": ENV_ID, "seed": seed, "timesteps": int(model.num_timesteps), "seconds": round(seconds, 2),
              "market": market_of(homes.envs[0]), "envs": envs, "device_seeds": [DEVICE_SEED + i for i in range(envs)],
              "days": "TRAIN_DAYS", "ppo": {**PPO_ARGUMENTS, "batch_size": batch, "net_arch": NET_ARCH},
              "reward_normalised": True, "observations": "as the env gives them"}
    prefix = folder / f"neighborhood-seed{seed}"
    export(model, None, prefix, extra={"training": record})
    (folder / "training.json").write_text(json.dumps(record, indent=1) + "\n")
    return prefix


class SharedPPO(LoadedPolicy):
    """A community policy from an exported checkpoint of :func:`train` (``name=`` shipped,
    ``path=DIR/NAME`` your own): every home's action is the policy's deterministic action for the
    home's own observation."""

    env_id = ENV_ID
    observation_size = OBS_SIZE
    action_size = ACTION_SIZE

    def __init__(self, name: str | None = None, path: str | None = None) -> None:
        super().__init__(name, path)
        self.agents: list[str] = []

    def reset(self, env: NeighborhoodEnv) -> None:
        """Play ``env``'s homes (a NeighborhoodEnv); a warning names what differs from the market
        the checkpoint was trained on (its record's ``training.market``), if anything."""
        if not isinstance(env, NeighborhoodEnv):
            raise ValueError(f"env = {type(env).__name__}; allowed: a NeighborhoodEnv")
        trained = self.spec.get("training", {}).get("market", {})
        here = market_of(env)
        differ = [f"{key} {here[key]!r} (trained on {trained[key]!r})" for key in trained
                  if key in here and here[key] != trained[key] and key != "homes"]
        if trained.get("homes") not in (None, here["homes"]):
            differ.append("other homes")
        if differ:
            warnings.warn(f"SharedPPO plays a market it was not trained on: {', '.join(differ)}", stacklevel=2)
        self.agents = list(env.possible_agents)

    def act(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Actions (5,) for every home of ``reset``'s env from their observations (17,)."""
        if not self.agents:
            raise ValueError("the policy has no homes: call reset(env) before act(obs)")
        missing = [agent for agent in self.agents if agent not in obs]
        if missing:
            raise ValueError(f"observations missing for agents {missing[:5]}; allowed: one ({OBS_SIZE},) row per home")
        actions = self.action(np.stack([np.asarray(obs[agent], np.float32) for agent in self.agents]))
        return {agent: actions[i] for i, agent in enumerate(self.agents)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agents.ppo.neighborhood", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0, help="PPO's seed (default 0)")
    parser.add_argument("--timesteps", type=int, default=TIMESTEPS, help=f"home-hours to train on, rounded up to "
                        f"whole rollouts of 512 steps x the homes (default {TIMESTEPS:,})")
    parser.add_argument("--envs", type=int, default=1, help="Neighborhood-v0s side by side, 17 homes each, 1 .. 64 "
                        "(default 1)")
    parser.add_argument("--out", type=Path, help="the run folder (default runs/neighborhood-seed<seed>-<time>)")
    args = parser.parse_args(argv)
    try:
        prefix = train(args.seed, args.timesteps, args.envs, args.out)
    except ValueError as exc:
        parser.error(str(exc))
    print(f"policy: {prefix}.pt + .json; play it with agents.ppo.neighborhood:SharedPPO?path={prefix}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
