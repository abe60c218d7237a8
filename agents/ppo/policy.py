"""A trained PPO policy as a leaderboard entry: an RTPolicy (RealTime-v0) or a DABidder
(DayAhead-v0), loaded from an exported checkpoint.

A checkpoint is two files: ``NAME.pt`` (the SB3 policy's state dict, read with
``torch.load(weights_only=True)``: tensors only, no code) and ``NAME.json`` (env id, network
architecture, observation normalisation statistics and how it was trained). Spec strings:
``agents.ppo.policy:PPORealTime?name=realtime-seed0`` (a shipped checkpoint) or
``...?path=DIR/NAME`` (your own).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.policies import ActorCriticPolicy

from agents.checkpoints import load_weights, locate
from bessgym.actions import base_point
from bessgym.envs.day_ahead import action_to_bid
from bessgym.forecast import DAContext
from bessgym.market import DABid
from bessgym.observation import TIME_OF_DAY, da_features
from bessgym.policies import RTEpisode, follow_da, interval_index

CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"


def export(model: Any, normaliser: Any, prefix: Path, extra: dict | None = None) -> None:
    """Write ``prefix.pt`` and ``prefix.json`` from an SB3 PPO model and its VecNormalize."""
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.policy.state_dict(), prefix.with_suffix(".pt"))
    rms = normaliser.obs_rms
    spec = {
        "observation_low": model.observation_space.low.tolist(),
        "observation_high": model.observation_space.high.tolist(),
        "action_dim": int(model.action_space.shape[0]),
        "net_arch": model.policy.net_arch,
        "obs_mean": rms.mean.tolist(), "obs_var": rms.var.tolist(),
        "clip_obs": float(normaliser.clip_obs), "epsilon": float(normaliser.epsilon),
        **(extra or {}),
    }
    prefix.with_suffix(".json").write_text(json.dumps(spec, indent=1) + "\n")


RECORD_KEYS = ("observation_low", "observation_high", "action_dim", "net_arch", "obs_mean", "obs_var", "epsilon", "clip_obs")
"""What a PPO checkpoint's JSON record must hold (numbers and lists only: it names no code)."""


class LoadedPolicy:
    """The deterministic actor of an exported checkpoint, with its observation normalisation."""

    def __init__(self, name: str | None = None, path: str | None = None) -> None:
        self.spec, weights = locate(CHECKPOINTS, name, path, needs=RECORD_KEYS)
        observation_space = gym.spaces.Box(np.array(self.spec["observation_low"], np.float32),
                                           np.array(self.spec["observation_high"], np.float32), dtype=np.float32)
        action_space = gym.spaces.Box(-1.0, 1.0, (self.spec["action_dim"],), dtype=np.float32)
        self.policy = ActorCriticPolicy(observation_space, action_space, lambda _: 0.0, net_arch=self.spec["net_arch"])
        self.policy.load_state_dict(load_weights(weights))
        self.policy.set_training_mode(False)
        self.mean = np.array(self.spec["obs_mean"], np.float32)
        self.std = np.sqrt(np.array(self.spec["obs_var"], np.float32) + self.spec["epsilon"])
        self.clip = self.spec["clip_obs"]

    def action(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic actions in [-1, 1] for observations (F,) or (N, F)."""
        normalised = np.clip((np.asarray(obs, np.float32) - self.mean) / self.std, -self.clip, self.clip)
        action, _ = self.policy.predict(normalised, deterministic=True)
        return np.clip(action, -1.0, 1.0)


class PPORealTime(LoadedPolicy):
    """RTPolicy: the base point of the action around the accepted schedule, as RealTime-v0 maps
    it (:func:`bessgym.actions.base_point`)."""

    def reset(self, episode: RTEpisode) -> None:
        self._battery, self._schedule = episode.battery, follow_da(episode.accepted, episode.n_intervals)

    def act(self, obs: np.ndarray) -> float:
        t = int(interval_index(obs[TIME_OF_DAY], len(self._schedule)))
        return float(base_point(float(self._schedule[t]), float(self.action(obs)[0]), self._battery))


class PPODayAhead(LoadedPolicy):
    """DABidder: the DayAhead-v0 action mapped to a bid."""

    def bid(self, ctx: DAContext) -> DABid:
        energy, awards = action_to_bid(self.action(da_features(ctx)).astype(float), ctx.battery)
        return DABid(energy, awards, {"model": "ppo"})
