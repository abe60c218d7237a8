"""A trained policy as a leaderboard entry: an RTPolicy (RealTime-v0) or a DABidder
(DayAhead-v0), from an exported checkpoint or from any SB3 model in memory.

A checkpoint is two files: ``NAME.pt`` (the SB3 policy's state dict, read with
``torch.load(weights_only=True)``: tensors only, no code) and ``NAME.json`` (env id, network
architecture, observation normalisation statistics and how it was trained). Spec strings:
``agents.ppo.policy:PPORealTime?name=realtime-seed0`` (a shipped checkpoint) or
``...?path=DIR/NAME`` (your own). :func:`export` writes one from a PPO or A2C ``MlpPolicy``
model. ``model.save()`` zips of any SB3 algorithm load through :mod:`agents.sb3_model`.

The action mapping is shared by every loader: :class:`RealTimeActions` turns the RealTime-v0
action into a base point exactly as the env does (:func:`bessgym.actions.base_point`),
:class:`DayAheadActions` turns the DayAhead-v0 action into a bid
(:func:`bessgym.envs.day_ahead.action_to_bid`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.policies import ActorCriticPolicy

from agents.checkpoints import load_weights, locate
from bessgym.actions import base_point
from bessgym.envs.day_ahead import DA_ACTION_SIZE, action_to_bid
from bessgym.forecast import DAContext
from bessgym.market import DABid
from bessgym.observation import DA_FEATURES, RT_FEATURES, TIME_OF_DAY, da_features
from bessgym.policies import RTEpisode, follow_da, interval_index

CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"
"""The shipped checkpoints: read-only data (training never writes here)."""

RECORD_KEYS = ("observation_low", "observation_high", "action_dim", "net_arch")
"""What a checkpoint's JSON record must hold (numbers and lists only: it names no code)."""

NORMALISATION_KEYS = ("obs_mean", "obs_var", "epsilon", "clip_obs")
"""The record's observation normalisation (all four, or none for raw observations)."""

ACTIVATIONS = {cls.__name__: cls for cls in (torch.nn.Tanh, torch.nn.ReLU, torch.nn.ELU, torch.nn.LeakyReLU,
                                                torch.nn.SiLU, torch.nn.GELU)}
"""Activation functions a checkpoint may name (``activation_fn``; ``Tanh``, SB3's default, when absent)."""


@dataclass(frozen=True)
class ObsNormaliser:
    """SB3 ``VecNormalize``'s observation transform: ``clip((obs - mean) / sqrt(var + epsilon),
    -clip_obs, clip_obs)``; :meth:`identity` leaves observations as they are."""

    mean: np.ndarray
    var: np.ndarray
    epsilon: float
    clip_obs: float

    @classmethod
    def identity(cls, size: int) -> ObsNormaliser:
        return cls(np.zeros(size, np.float32), np.ones(size, np.float32), 0.0, math.inf)

    @classmethod
    def of(cls, vecnormalize: Any, size: int) -> ObsNormaliser:
        """The statistics of an SB3 ``VecNormalize`` (identity for None or ``norm_obs=False``)."""
        if vecnormalize is None or not getattr(vecnormalize, "norm_obs", True):
            return cls.identity(size)
        rms = getattr(vecnormalize, "obs_rms", None)
        if rms is None or not hasattr(rms, "mean") or np.shape(rms.mean) != (size,):
            raise ValueError(f"the normaliser must be an SB3 VecNormalize over Box observations of size {size} "
                             f"(with obs_rms.mean of shape ({size},)); got {type(vecnormalize).__name__}")
        return cls(np.asarray(rms.mean, np.float32), np.asarray(rms.var, np.float32),
                   float(vecnormalize.epsilon), float(vecnormalize.clip_obs))

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        std = np.sqrt(self.var + np.float32(self.epsilon))
        return np.clip((np.asarray(obs, np.float32) - self.mean) / std, -self.clip_obs, self.clip_obs).astype(np.float32)

    def record(self) -> dict:
        """The checkpoint record's normalisation keys (none for the identity: JSON has no inf)."""
        if math.isinf(self.clip_obs):
            return {}
        return {"obs_mean": self.mean.tolist(), "obs_var": self.var.tolist(), "epsilon": self.epsilon, "clip_obs": self.clip_obs}


class Actor:
    """Deterministic actions in [-1, 1] from anything with SB3's ``predict(obs,
    deterministic=True)`` (a model or its policy), behind an observation normalisation. The
    action mixin (:class:`RealTimeActions`, :class:`DayAheadActions`) sets ``env_id`` and the
    ``observation_size`` and ``action_size`` the model's spaces must have (a bare Actor checks none)."""

    env_id: str
    observation_size: int
    action_size: int

    def __init__(self, model: Any, normaliser: ObsNormaliser) -> None:
        if not callable(getattr(model, "predict", None)):
            raise ValueError(f"model must have SB3's predict(obs, deterministic=True); got {type(model).__name__}")
        self.check_spaces(model, f"model {type(model).__name__}")
        self.model, self.normaliser = model, normaliser

    @classmethod
    def check_spaces(cls, model: Any, what: str) -> None:
        """Refuse a model (anything with SB3's ``observation_space`` and ``action_space``) whose
        spaces are not the env's: ``Box((observation_size,))`` -> ``Box((action_size,))``."""
        obs_space, action_space = getattr(model, "observation_space", None), getattr(model, "action_space", None)
        if not hasattr(cls, "env_id") or (obs_space is None and action_space is None):
            return  # an actor without an action mixin, or a model without SB3's spaces
        fits = all(isinstance(space, gym.spaces.Box) and space.shape == (size,)
                   for space, size in ((obs_space, cls.observation_size), (action_space, cls.action_size)))
        if not fits:
            def shape(space: Any) -> str:
                return f"Box{space.shape}" if isinstance(space, gym.spaces.Box) else str(space)

            raise ValueError(
                f"{what} has observation space {shape(obs_space)} and action space {shape(action_space)}; "
                f"{cls.__name__} plays it on {cls.env_id}, which needs Box{(cls.observation_size,)} observations and "
                f"Box{(cls.action_size,)} actions: was it trained on the other env? (RealTime-v0 with "
                f"action='base_point': {len(RT_FEATURES)} -> 1; DayAhead-v0: {len(DA_FEATURES)} -> {DA_ACTION_SIZE})")

    def action(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic actions in [-1, 1] for observations (F,) or (N, F)."""
        action, _ = self.model.predict(self.normaliser(obs), deterministic=True)
        return np.clip(np.asarray(action, np.float32), -1.0, 1.0)


class RealTimeActions:
    """RTPolicy from the ``action`` of the :class:`Actor` it is mixed into: the base point of the
    action around the accepted schedule, as RealTime-v0 maps it (:func:`bessgym.actions.base_point`)."""

    env_id, observation_size, action_size = "bessgym/RealTime-v0", len(RT_FEATURES), 1

    def reset(self, episode: RTEpisode) -> None:
        self._battery, self._schedule = episode.battery, follow_da(episode.accepted, episode.n_intervals)

    def act(self, obs: np.ndarray) -> float:
        t = int(interval_index(obs[TIME_OF_DAY], len(self._schedule)))
        return float(base_point(float(self._schedule[t]), float(np.ravel(self.action(obs))[0]), self._battery))


class DayAheadActions:
    """DABidder from the ``action`` of the :class:`Actor` it is mixed into: the DayAhead-v0
    action mapped to a bid."""

    env_id, observation_size, action_size = "bessgym/DayAhead-v0", len(DA_FEATURES), DA_ACTION_SIZE

    def bid(self, ctx: DAContext) -> DABid:
        energy, awards = action_to_bid(np.ravel(self.action(da_features(ctx))).astype(float), ctx.battery)
        return DABid(energy, awards, {"model": type(self).__name__})


class ModelRealTime(RealTimeActions, Actor):
    """An SB3 model in memory as an RTPolicy (``normaliser``: its VecNormalize's statistics)."""


class ModelDayAhead(DayAheadActions, Actor):
    """An SB3 model in memory as a DABidder (``normaliser``: its VecNormalize's statistics)."""


def export(model: Any, normaliser: Any, prefix: Path | str, extra: dict | None = None) -> None:
    """Write ``prefix.pt`` and ``prefix.json`` from an SB3 PPO or A2C ``MlpPolicy`` model and its
    ``VecNormalize`` (None: the model saw raw observations). ``prefix`` must lie outside the
    shipped checkpoint folder. Other policies (SAC, TD3, custom networks): ``model.save()`` and
    :mod:`agents.sb3_model`."""
    prefix = Path(prefix)
    check_not_shipped(prefix.parent)
    policy = model.policy
    if type(policy) is not ActorCriticPolicy or getattr(policy, "use_sde", False):
        raise ValueError(f"export handles an ActorCriticPolicy MlpPolicy (PPO, A2C) without gSDE; got "
                         f"{type(policy).__name__}: save it with model.save() and load it with agents.sb3_model")
    activation = policy.activation_fn.__name__
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation_fn {activation} is not one a checkpoint can name: {sorted(ACTIVATIONS)}")
    size = int(model.observation_space.shape[0])
    spec = {
        "observation_low": model.observation_space.low.tolist(),
        "observation_high": model.observation_space.high.tolist(),
        "action_dim": int(model.action_space.shape[0]),
        "net_arch": policy.net_arch,
        "activation_fn": activation,
        **ObsNormaliser.of(normaliser, size).record(),
        **(extra or {}),
    }
    prefix.parent.mkdir(parents=True, exist_ok=True)
    torch.save(policy.state_dict(), prefix.with_suffix(".pt"))
    prefix.with_suffix(".json").write_text(json.dumps(spec, indent=1) + "\n")


def check_not_shipped(folder: Path | str) -> None:
    """Refuse to write into the shipped checkpoint folder or below it (read-only data of the package)."""
    if Path(folder).resolve().is_relative_to(CHECKPOINTS):
        raise ValueError(f"{folder} is inside {CHECKPOINTS}, the shipped checkpoints (read-only data): write your policy "
                         "elsewhere (python -m agents.ppo.train writes to runs/ by default; --out DIR); to replace a "
                         "shipped checkpoint, a maintainer copies NAME.pt and NAME.json into it by hand")


def load_checkpoint(name: str | None = None, path: str | None = None) -> tuple[ActorCriticPolicy, ObsNormaliser, dict]:
    """The policy network, the observation normalisation and the JSON record of a checkpoint:
    ``name`` a shipped one, ``path`` DIR/NAME of your own."""
    spec, weights = locate(CHECKPOINTS, name, path, needs=RECORD_KEYS)
    present = [key for key in NORMALISATION_KEYS if key in spec]
    if present and len(present) != len(NORMALISATION_KEYS):
        raise ValueError(f"checkpoint record of {name or path} has {present} but not all of {list(NORMALISATION_KEYS)}")
    activation = spec.get("activation_fn", "Tanh")
    if activation not in ACTIVATIONS:
        raise ValueError(f"checkpoint record of {name or path}: activation_fn {activation!r} is not one of {sorted(ACTIVATIONS)}")
    observation_space = gym.spaces.Box(np.array(spec["observation_low"], np.float32),
                                       np.array(spec["observation_high"], np.float32), dtype=np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (spec["action_dim"],), dtype=np.float32)
    policy = ActorCriticPolicy(observation_space, action_space, lambda _: 0.0, net_arch=spec["net_arch"],
                               activation_fn=ACTIVATIONS[activation])
    policy.load_state_dict(load_weights(weights))
    policy.set_training_mode(False)
    size = observation_space.shape[0]
    normaliser = ObsNormaliser(np.array(spec["obs_mean"], np.float32), np.array(spec["obs_var"], np.float32),
                               float(spec["epsilon"]), float(spec["clip_obs"])) if present else ObsNormaliser.identity(size)
    return policy, normaliser, spec


class LoadedPolicy(Actor):
    """The deterministic actor of an exported checkpoint, with its observation normalisation."""

    def __init__(self, name: str | None = None, path: str | None = None) -> None:
        policy, normaliser, self.spec = load_checkpoint(name, path)
        super().__init__(policy, normaliser)


class PPORealTime(RealTimeActions, LoadedPolicy):
    """RTPolicy from a RealTime-v0 checkpoint (``name=`` shipped, ``path=DIR/NAME`` your own)."""


class PPODayAhead(DayAheadActions, LoadedPolicy):
    """DABidder from a DayAhead-v0 checkpoint (``name=`` shipped, ``path=DIR/NAME`` your own)."""
