"""Any stable-baselines3 model saved with ``model.save()`` as a leaderboard entry.

    agents.sb3_model:SB3RealTime?path=model.zip&algo=sac&trust=true
    agents.sb3_model:SB3RealTime?path=model.zip&algo=ppo&vecnormalize=vecnormalize.pkl&trust=true
    agents.sb3_model:SB3DayAhead?path=model.zip&algo=td3&trust=true

``algo`` is rl-zoo3's name of the algorithm (``ppo``, ``a2c``, ``sac``, ``td3``, ``ddpg``,
``tqc``, ``trpo``, ``crossq``, ``ars``, ``ppo_lstm``: RecurrentPPO, its LSTM state carried
through the day): the zip's policy class must be one that algorithm
builds (a PPO zip loads as ``ppo``, ``a2c`` or ``trpo``, which share SB3's
``ActorCriticPolicy``; a SAC zip only as ``sac``), else the error names the algorithms that fit.
The model must have a Box action space of the env's size and the env's observation size
(RealTime-v0 with ``action="base_point"``: 25 -> 1; DayAhead-v0: 173 -> 120). ``vecnormalize`` is the ``VecNormalize.save()`` file of a model
trained on normalised observations. Actions are mapped as the envs map them, by the same code
as the exported checkpoints (:class:`agents.ppo.policy.RealTimeActions`,
:class:`agents.ppo.policy.DayAheadActions`).

Trust: an SB3 zip and a VecNormalize pickle can hold pickled Python objects, and unpickling
them runs whatever code they name. They are loaded only with ``trust=true``, which says that
you trust whoever wrote the files as you would trust a script of theirs. To share a policy as
data instead, export it (:func:`agents.ppo.policy.export`: tensors and JSON, loaded without
running code).
"""

from __future__ import annotations

import importlib
import json
import pickle
import zipfile
from pathlib import Path
from typing import Any

from stable_baselines3.common.save_util import json_to_data

from agents.ppo.policy import Actor, DayAheadActions, ObsNormaliser, RealTimeActions
from bessgym.envs.real_time import RTActionForm

UNSUPPORTED = {"dqn": "a discrete action space", "qrdqn": "a discrete action space"}

ALGOS = {"a2c": "stable_baselines3:A2C", "ddpg": "stable_baselines3:DDPG", "dqn": "stable_baselines3:DQN",
         "ppo": "stable_baselines3:PPO", "sac": "stable_baselines3:SAC", "td3": "stable_baselines3:TD3",
         "ars": "sb3_contrib:ARS", "crossq": "sb3_contrib:CrossQ", "ppo_lstm": "sb3_contrib:RecurrentPPO",
         "qrdqn": "sb3_contrib:QRDQN", "tqc": "sb3_contrib:TQC", "trpo": "sb3_contrib:TRPO"}
"""rl-zoo3's algorithm names and the classes they name (as ``rl_zoo3.utils.ALGOS``, without
importing rl_zoo3, which patches Gymnasium's ``TimeLimit`` for the whole process on import)."""


def untrusted(path: Path | str, what: str) -> ValueError:
    """The error for a pickle-bearing file loaded without the trust flag."""
    return ValueError(
        f"{what} {path} was not loaded: SB3 zips and VecNormalize pickles can hold pickled objects, and loading "
        "them runs whatever code they name. Load only files you trust, and say so with trust=true (spec string: "
        "'...?path=model.zip&algo=ppo&trust=true'). To share a policy as data, export it with "
        "agents.ppo.policy.export(model, vecnormalize, prefix) and load it with agents.ppo.policy:PPORealTime?path=prefix")


def load_model(path: Path | str, algo: str, trust: bool = False) -> Any:
    """The SB3 model in the zip at ``path`` (on the CPU), saved by rl-zoo3's algorithm ``algo``;
    refused when the zip's policy class is not one ``algo`` builds."""
    if trust is not True:
        raise untrusted(path, "model")
    if not isinstance(algo, str) or algo.lower() not in ALGOS or algo.lower() in UNSUPPORTED:
        allowed = sorted(set(ALGOS) - set(UNSUPPORTED))
        reason = f" (it has {UNSUPPORTED[algo.lower()]})" if isinstance(algo, str) and algo.lower() in UNSUPPORTED else ""
        raise ValueError(f"algo={algo!r} is not an algorithm these loaders play{reason}; allowed: {allowed}")
    if not Path(path).is_file():
        raise FileNotFoundError(f"model zip {path} does not exist (model.save(PATH) writes PATH.zip)")
    algorithm = algorithm_class(algo.lower())
    saved = saved_policy_class(path)
    if not issubclass(saved, policy_classes(algorithm)):
        fitting = [name for name in ALGOS if fits(saved, name)]
        raise ValueError(
            f"model {path} was saved with policy class {saved.__name__} ({saved.__module__}), which "
            f"{' / '.join(fitting) or 'none of ' + str(sorted(ALGOS))} build; algo={algo!r} ({algorithm.__name__}) builds "
            f"{sorted({cls.__name__ for cls in policy_classes(algorithm)})}: give the algo the model was trained with")
    return algorithm.load(str(path), device="cpu")


def algorithm_class(algo: str) -> type:
    """The SB3 / sb3-contrib class of rl-zoo3's algorithm name ``algo`` (a key of :data:`ALGOS`)."""
    module, name = ALGOS[algo].split(":")
    return getattr(importlib.import_module(module), name)


def policy_classes(algorithm: type) -> tuple[type, ...]:
    """The policy classes ``algorithm`` builds (its ``policy_aliases``: MlpPolicy, CnnPolicy, ...)."""
    return tuple(set(algorithm.policy_aliases.values()))


def fits(policy: type, algo: str) -> bool:
    """Whether rl-zoo3's algorithm ``algo`` builds ``policy`` (False where its package is missing)."""
    try:
        return issubclass(policy, policy_classes(algorithm_class(algo)))
    except ImportError:
        return False


def saved_policy_class(path: Path | str) -> type:
    """The policy class a ``model.save()`` zip was saved with: the ``policy_class`` of its ``data``
    entry (cloudpickled: read only for a trusted file)."""
    try:
        with zipfile.ZipFile(path) as archive:
            saved = json.loads(archive.read("data"))
    except (zipfile.BadZipFile, KeyError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"model zip {path} is not a model.save() zip of stable-baselines3: {exc}") from None
    policy = json_to_data(json.dumps({"policy_class": saved.get("policy_class") if isinstance(saved, dict) else None}))["policy_class"]
    if not isinstance(policy, type):
        raise ValueError(f"model zip {path} names no policy class in its data (policy_class: {policy!r})")
    return policy


def load_vecnormalize(path: Path | str, size: int, trust: bool = False) -> ObsNormaliser:
    """The observation statistics of a ``VecNormalize.save()`` file (a pickle)."""
    if trust is not True:
        raise untrusted(path, "VecNormalize file")
    if not Path(path).is_file():
        raise FileNotFoundError(f"VecNormalize file {path} does not exist")
    with open(path, "rb") as handle:
        vecnormalize = pickle.load(handle)
    return ObsNormaliser.of(vecnormalize, size)


class SB3Policy(Actor):
    """The deterministic actor of a ``model.save()`` zip (and its VecNormalize file)."""

    def __init__(self, path: str, algo: str, vecnormalize: str | None = None, trust: bool = False) -> None:
        model = load_model(path, algo, trust)
        self.check_spaces(model, f"model {path}")
        normaliser = ObsNormaliser.identity(self.observation_size) if vecnormalize is None else \
            load_vecnormalize(vecnormalize, self.observation_size, trust)
        super().__init__(model, normaliser)


class SB3RealTime(RealTimeActions, SB3Policy):
    """RTPolicy from a RealTime-v0 model zip, in the action form it was trained on (the env's
    arguments: ``action``, ``segments``, ``price_span_usd_per_mwh``, ``residual``,
    ``residual_band``, ``fmm``; the base point by default)."""

    def __init__(self, path: str, algo: str, vecnormalize: str | None = None, trust: bool = False,
                 action: str = "base_point", segments: int | None = None, price_span_usd_per_mwh: float | None = None,
                 residual: str | None = None, residual_band: float | None = None, fmm: bool | None = None) -> None:
        self.form = RTActionForm.of(action, segments, price_span_usd_per_mwh, residual, residual_band, fmm)
        super().__init__(path, algo, vecnormalize, trust)


class SB3DayAhead(DayAheadActions, SB3Policy):
    """DABidder from a DayAhead-v0 model zip."""
