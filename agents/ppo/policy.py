"""A trained policy as a leaderboard entry: an RTPolicy (RealTime-v0) or a DABidder
(DayAhead-v0), from an exported checkpoint or from any SB3 model in memory.

A checkpoint is two files: ``NAME.pt`` (the SB3 policy's state dict, read with
``torch.load(weights_only=True)``: tensors only, no code) and ``NAME.json`` (env id, network
architecture, observation normalisation statistics and how it was trained). Spec strings:
``agents.ppo.policy:PPORealTime?name=realtime-seed0`` (a shipped checkpoint) or
``...?path=DIR/NAME`` (your own). :func:`export` writes one from a PPO or A2C ``MlpPolicy``
model. ``model.save()`` zips of any SB3 algorithm load through :mod:`agents.sb3_model`.

The action mapping is shared by every loader: :class:`RealTimeActions` turns the RealTime-v0
action into a decision exactly as the env does (:class:`bessgym.envs.real_time.RTActionForm`),
:class:`DayAheadActions` turns the DayAhead-v0 action into a bid
(:class:`bessgym.envs.day_ahead.DAActionForm`), :class:`TwoSettlementActions` does both for a
policy trained on TwoSettlement-v0 (one object is the entry's bidder and its RT policy); a
checkpoint records its forms (``rt_action`` and/or ``da_action`` in its JSON).
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
from agents.ppo.joint import PhaseMaskedPolicy  # TwoSettlement-v0's training policy: the ActorCriticPolicy's network
from bessgym.actions import BidCurve, LayeredDecision, base_point
from bessgym.battery import SCALAR_OPS
from bessgym.envs.day_ahead import DA_ACTION_SIZE, DAActionForm
from bessgym.envs.episodes import resolve
from bessgym.envs.real_time import Proposer, RTActionForm
from bessgym.envs.two_settlement import DA_PHASE, RT_PHASE, two_settlement_obs, two_settlement_space
from bessgym.forecast import DAContext
from bessgym.market import DOWN_INDEX, UP_MASK, DABid, accept_fmm, steps_per_fmm
from bessgym.observation import DA_FEATURES, FMM_FEATURES, RT_FEATURES, TIME_OF_DAY
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
    ``observation_size`` and ``action_size`` the model's spaces must have (a bare Actor checks none).
    A recurrent model (sb3-contrib's RecurrentPPO) keeps its LSTM state from one call to the next
    within an episode; :meth:`reset_memory` starts a new one."""

    env_id: str
    observation_size: int
    action_size: int

    def __init__(self, model: Any, normaliser: ObsNormaliser) -> None:
        if not callable(getattr(model, "predict", None)):
            raise ValueError(f"model must have SB3's predict(obs, deterministic=True); got {type(model).__name__}")
        self.check_spaces(model, f"model {type(model).__name__}")
        self.model, self.normaliser = model, normaliser
        self.recurrent = getattr(getattr(model, "policy", model), "lstm_actor", None) is not None
        self.reset_memory()

    def reset_memory(self) -> None:
        """Start a new episode: a recurrent model's state is dropped."""
        self._state: Any = None
        self._episode_start = True

    def check_spaces(self, model: Any, what: str) -> None:
        """Refuse a model (anything with SB3's ``observation_space`` and ``action_space``) whose
        spaces are not the env's: ``Box((observation_size,))`` -> ``Box((action_size,))``."""
        obs_space, action_space = getattr(model, "observation_space", None), getattr(model, "action_space", None)
        if not hasattr(self, "env_id") or (obs_space is None and action_space is None):
            return  # an actor without an action mixin, or a model without SB3's spaces
        fits = all(isinstance(space, gym.spaces.Box) and space.shape == (size,)
                   for space, size in ((obs_space, self.observation_size), (action_space, self.action_size)))
        if not fits:
            def shape(space: Any) -> str:
                return f"Box{space.shape}" if isinstance(space, gym.spaces.Box) else str(space)

            raise ValueError(
                f"{what} has observation space {shape(obs_space)} and action space {shape(action_space)}; "
                f"{type(self).__name__} plays it on {self.env_id}{self.form_note()}, which needs "
                f"Box{(self.observation_size,)} observations and Box{(self.action_size,)} actions: was it trained on "
                f"another env or action form? (RealTime-v0 with action='base_point': {len(RT_FEATURES)} -> 1, "
                f"'bid_curve' with S segments: {len(RT_FEATURES)} -> 2S + 1, a residual: {len(RT_FEATURES) + 1} -> 1, "
                f"fmm=True (three settlements): {len(FMM_FEATURES)} more observations and 1 more action; "
                f"DayAhead-v0: {len(DA_FEATURES)} -> {DA_ACTION_SIZE})")

    def form_note(self) -> str:
        """What the action mixin adds to the env's name in messages (the RT action form)."""
        return ""

    def action(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic actions in [-1, 1] for observations (F,) or (N, F)."""
        if self.recurrent:
            action, self._state = self.model.predict(self.normaliser(obs), state=self._state, deterministic=True,
                                                     episode_start=np.array([self._episode_start]))
            self._episode_start = False
        else:
            action, _ = self.model.predict(self.normaliser(obs), deterministic=True)
        return np.clip(np.asarray(action, np.float32), -1.0, 1.0)


class RealTimeActions:
    """RTPolicy from the ``action`` of the :class:`Actor` it is mixed into, mapped by its
    :class:`~bessgym.envs.real_time.RTActionForm` ``form`` exactly as RealTime-v0 maps it: a
    base point around the accepted schedule, a bid curve, or (a residual form) a correction of
    the proposing RT policy's base point, that policy run beside the agent."""

    env_id = "bessgym/RealTime-v0"
    form = RTActionForm()

    @property
    def observation_size(self) -> int:
        return self.form.observation_size

    @property
    def action_size(self) -> int:
        return self.form.size

    def form_note(self) -> str:
        return f" with {self.form.record()}"

    def reset(self, episode: RTEpisode) -> None:
        if episode.market.three_settlement and not self.form.fmm:
            raise ValueError(f"{type(self).__name__} was trained on RealTime-v0 without the FMM entry; market "
                             f"{episode.market.name!r} has three settlements, whose observation adds the FMM features: "
                             "train on RealTime-v0 with fmm=True for it")
        self.form.check_market(episode.market)
        self.reset_memory()
        self._battery, self._schedule = episode.battery, follow_da(episode.accepted, episode.n_intervals)
        self._da_price = np.repeat(episode.da_price, episode.n_intervals // len(episode.da_price))
        if self.form.fmm:
            self._per_fmm = steps_per_fmm(episode.dt_h)
            self._fmm_mw = 0.0
            awards = np.repeat(episode.accepted.as_mw, episode.n_intervals // len(episode.da_price), axis=0)
            self._award_up, self._award_down = awards[:, UP_MASK].sum(1), awards[:, DOWN_INDEX]
        self._proposer = Proposer(self.form.residual, episode.battery) if self.form.residual is not None else None
        if self._proposer is not None:
            self._proposer.reset(episode)

    @property
    def fallbacks(self) -> int:
        """The day's fallbacks of the proposing policy (a residual form; 0 otherwise), which the
        leaderboard counts as this policy's (``rt_fallbacks``)."""
        proposer = getattr(self, "_proposer", None)
        return int(getattr(proposer.policy, "fallbacks", 0)) if proposer is not None else 0

    def act(self, obs: np.ndarray) -> float | BidCurve | LayeredDecision:
        t = int(interval_index(obs[TIME_OF_DAY], len(self._schedule)))
        around = float(self._schedule[t])
        if self._proposer is not None:
            obs = self._proposer.observe(obs, around)
            around = self._proposer.proposal_mw
        action = self.action(obs)
        if not self.form.fmm:
            return self.form.decision(action, around, float(self._da_price[t]), self._battery)
        a, asked = np.ravel(action), None  # the FMM entry, then the base point around the FMM position in force
        if t % self._per_fmm == 0:
            asked = float(base_point(around, float(a[0]), self._battery))
            self._fmm_mw = float(accept_fmm(asked, self._award_up[t], self._award_down[t], self._battery, SCALAR_OPS))
        base = self.form.decision(a[1:] if a.size > 2 else float(a[1]), self._fmm_mw, float(self._da_price[t]), self._battery)
        return LayeredDecision(base, asked)


class DayAheadActions:
    """DABidder from the ``action`` of the :class:`Actor` it is mixed into: the DayAhead-v0
    action mapped to a bid by its :class:`~bessgym.envs.day_ahead.DAActionForm` ``form``
    exactly as DayAhead-v0 maps it (with a residual, a correction of that bidder's bid, the
    bidder run first)."""

    env_id, action_size = "bessgym/DayAhead-v0", DA_ACTION_SIZE
    form = DAActionForm()

    @property
    def observation_size(self) -> int:
        return self.form.observation_size

    def form_note(self) -> str:
        return f" with {self.form.record()}" if self.form.residual else ""

    def bid(self, ctx: DAContext) -> DABid:
        base = residual_bid(self, self.form, ctx)
        self.reset_memory()  # every bid is an episode of its own
        action = np.ravel(self.action(self.form.observation(ctx, base, ctx.battery))).astype(float)
        return self.form.corrected(action, base, ctx.battery, {"model": type(self).__name__})


def residual_bid(adapter: Any, form: DAActionForm, ctx: DAContext) -> DABid | None:
    """The bid of ``form``'s residual DA bidder for the day of ``ctx`` (None without a residual),
    the bidder resolved once per ``adapter`` and its bid solved once per context (an object that
    is both bidder and RT policy asks twice a day)."""
    if form.residual is None:
        return None
    if getattr(adapter, "_bidder", None) is None:
        adapter._bidder, adapter._last = resolve(form.residual, "da_bidder"), (None, None)
    if adapter._last[0] is not ctx:
        adapter._last = (ctx, adapter._bidder.bid(ctx))
    return adapter._last[1]


class TwoSettlementActions:
    """A DABidder and an RTPolicy at once from the ``action`` of the :class:`Actor` it is mixed
    into, trained on TwoSettlement-v0 behind ``gym.wrappers.FlattenObservation``: ``bid`` builds
    the phase-0 observation and maps the first 120 entries of the action by its ``da_form``,
    ``act`` the phase-1 observation (the day's DA observation, the accepted bid, the RT row) and
    maps the rest by its ``rt_form``, each exactly as the env does. The bidder is the entry's
    bidder and the RT policy of one entry (``--entry 'NAME=SPEC,SPEC'``, or a suite entry with
    the spec as both ``da_bidder`` and ``rt_policy``), as two objects or one; either half also
    plays beside another level, though it was trained beside its own."""

    env_id = "bessgym/TwoSettlement-v0"
    da_form = DAActionForm()
    rt_form = RTActionForm()

    @property
    def observation_size(self) -> int:
        return self.da_form.observation_size + 2 + DA_ACTION_SIZE + self.rt_form.observation_size

    @property
    def action_size(self) -> int:
        return DA_ACTION_SIZE + self.rt_form.size

    def form_note(self) -> str:
        return f" with da_action {self.da_form.record()} and rt_action {self.rt_form.record()}"


    def _flat(self, phase: int, da: np.ndarray, schedule: DABid | None, rt: np.ndarray | None,
              space: gym.spaces.Dict, battery: Any) -> np.ndarray:
        """The observation as FlattenObservation gives it to the network."""
        return gym.spaces.flatten(space, two_settlement_obs(phase, da, schedule, rt, space, battery))

    def bid(self, ctx: DAContext) -> DABid:
        self.reset_memory()
        base = residual_bid(self, self.da_form, ctx)
        da = self.da_form.observation(ctx, base, ctx.battery)
        space = two_settlement_space(self.da_form, self.rt_form, ctx.market)
        action = np.ravel(self.action(self._flat(DA_PHASE, da, None, None, space, ctx.battery))).astype(float)
        return self.da_form.corrected(action[:DA_ACTION_SIZE], base, ctx.battery, {"model": type(self).__name__})

    def reset(self, episode: RTEpisode) -> None:
        self.reset_memory()
        self._episode = episode
        self._da = self.da_form.observation(episode.context, residual_bid(self, self.da_form, episode.context),
                                            episode.battery)
        self._space = two_settlement_space(self.da_form, self.rt_form, episode.market)
        self._schedule = follow_da(episode.accepted, episode.n_intervals)
        self._da_price = np.repeat(episode.da_price, episode.n_intervals // len(episode.da_price))

    def act(self, obs: np.ndarray) -> float | BidCurve:
        t = int(interval_index(obs[TIME_OF_DAY], len(self._schedule)))
        episode = self._episode
        action = np.ravel(self.action(self._flat(RT_PHASE, self._da, episode.accepted, obs, self._space, episode.battery)))
        return self.rt_form.decision(action[DA_ACTION_SIZE:], float(self._schedule[t]), float(self._da_price[t]),
                                     episode.battery)


class ModelRealTime(RealTimeActions, Actor):
    """An SB3 model in memory as an RTPolicy (``normaliser``: its VecNormalize's statistics;
    ``form``: the RealTime-v0 action form it was trained on, base point by default)."""

    def __init__(self, model: Any, normaliser: ObsNormaliser, form: RTActionForm | None = None) -> None:
        self.form = form or RTActionForm()
        super().__init__(model, normaliser)


class ModelDayAhead(DayAheadActions, Actor):
    """An SB3 model in memory as a DABidder (``normaliser``: its VecNormalize's statistics;
    ``form``: the DayAhead-v0 action form it was trained on, the plain one by default)."""

    def __init__(self, model: Any, normaliser: ObsNormaliser, form: DAActionForm | None = None) -> None:
        self.form = form or DAActionForm()
        super().__init__(model, normaliser)


class ModelTwoSettlement(TwoSettlementActions, Actor):
    """An SB3 model in memory, trained on the flattened TwoSettlement-v0, as both a DABidder
    and an RTPolicy (``da_form``, ``rt_form``: the env's action forms; default plain and base point)."""

    def __init__(self, model: Any, normaliser: ObsNormaliser, da_form: DAActionForm | None = None,
                 rt_form: RTActionForm | None = None) -> None:
        self.da_form, self.rt_form = da_form or DAActionForm(), rt_form or RTActionForm()
        super().__init__(model, normaliser)


def export(model: Any, normaliser: Any, prefix: Path | str, extra: dict | None = None) -> None:
    """Write ``prefix.pt`` and ``prefix.json`` from an SB3 PPO or A2C ``MlpPolicy`` model and its
    ``VecNormalize`` (None: the model saw raw observations). ``prefix`` must lie outside the
    shipped checkpoint folder. A RealTime-v0 model of another action form than the base point
    says so in ``extra={"rt_action": RTActionForm(...).record()}``. Other policies (SAC, TD3,
    custom networks): ``model.save()`` and :mod:`agents.sb3_model`."""
    prefix = Path(prefix)
    check_not_shipped(prefix.parent)
    policy = model.policy
    if type(policy) not in (ActorCriticPolicy, PhaseMaskedPolicy) or getattr(policy, "use_sde", False):
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


def checkpoint_form(form: Any, spec: dict, key: str, checkpoint: str | None) -> Any:
    """The action form (``RTActionForm`` or ``DAActionForm``) a checkpoint's record names under
    ``key``; a ValueError names the checkpoint and the key."""
    try:
        return form.from_record(spec.get(key))
    except ValueError as exc:
        raise ValueError(f"checkpoint record of {checkpoint}: {key}: {exc}") from None


class LoadedPolicy(Actor):
    """The deterministic actor of an exported checkpoint, with its observation normalisation."""

    def __init__(self, name: str | None = None, path: str | None = None) -> None:
        policy, normaliser, self.spec = load_checkpoint(name, path)
        super().__init__(policy, normaliser)


class PPORealTime(RealTimeActions, LoadedPolicy):
    """RTPolicy from a RealTime-v0 checkpoint (``name=`` shipped, ``path=DIR/NAME`` your own), in
    the action form its record's ``rt_action`` names (the base-point form when it names none)."""

    def __init__(self, name: str | None = None, path: str | None = None) -> None:
        policy, normaliser, self.spec = load_checkpoint(name, path)
        self.form = checkpoint_form(RTActionForm, self.spec, "rt_action", name or path)
        Actor.__init__(self, policy, normaliser)


class PPODayAhead(DayAheadActions, LoadedPolicy):
    """DABidder from a DayAhead-v0 checkpoint (``name=`` shipped, ``path=DIR/NAME`` your own), in
    the action form its record's ``da_action`` names (the plain form when it names none)."""

    def __init__(self, name: str | None = None, path: str | None = None) -> None:
        policy, normaliser, self.spec = load_checkpoint(name, path)
        self.form = checkpoint_form(DAActionForm, self.spec, "da_action", name or path)
        Actor.__init__(self, policy, normaliser)


class PPOTwoSettlement(TwoSettlementActions, LoadedPolicy):
    """DABidder and RTPolicy from a TwoSettlement-v0 checkpoint (``name=`` shipped, ``path=DIR/NAME``
    your own), in the action forms its record's ``da_action`` and ``rt_action`` name. A
    leaderboard entry names it twice: ``--entry 'joint=agents.ppo.policy:PPOTwoSettlement?name=N,agents.ppo.policy:PPOTwoSettlement?name=N'``."""

    def __init__(self, name: str | None = None, path: str | None = None) -> None:
        policy, normaliser, self.spec = load_checkpoint(name, path)
        self.da_form = checkpoint_form(DAActionForm, self.spec, "da_action", name or path)
        self.rt_form = checkpoint_form(RTActionForm, self.spec, "rt_action", name or path)
        Actor.__init__(self, policy, normaliser)
