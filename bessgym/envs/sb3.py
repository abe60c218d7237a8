"""A stable-baselines3 ``VecEnv`` over bessgym's native vector envs (needs the ``rl`` extra).

SB3 expects same-step autoreset with the final observation in ``infos[i]["terminal_observation"]``;
the adapter builds the vector env in ``SAME_STEP`` mode and translates. Use::

    from bessgym.envs.sb3 import make_sb3_vec_env
    venv = make_sb3_vec_env("bessgym/RealTime-v0", n_envs=64, split="train")
    PPO("MlpPolicy", venv).learn(100_000)

``step`` hands SB3 one info dict per env (:func:`bessgym.envs.vector.per_env_infos` of the vector env's info)
with the scalar env's keys: the ledger lines in $ (floats), ``action_clipped`` (bool),
``base_mw`` (RealTime-v0); on an episode's last step ``day_totals`` as a dict,
``profit_usd``, ``day_shortfall_mwh`` and ``scenario_id``; plus SB3's
``terminal_observation`` and ``TimeLimit.truncated``. The next day's ``scenario_id`` is in
``venv.reset_infos[i]``, where SB3's own VecEnvs keep what a reset returns.
"""

from __future__ import annotations

from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn

from bessgym.envs.vector import per_env_infos

class SB3VecEnv(VecEnv):
    """Adapter from a bessgym vector env (in ``SAME_STEP`` autoreset mode) to SB3's VecEnv.

    The native vector env is one batched object, not N env objects: ``get_attr`` returns its
    attribute (shared by every sub-env) once per index, ``set_attr`` sets it for all envs
    only, and ``env_method`` refuses (call the method on ``venv.env``, which acts on the
    batch).
    """

    def __init__(self, env: gym.vector.VectorEnv) -> None:
        if env.metadata.get("autoreset_mode") != AutoresetMode.SAME_STEP:
            raise ValueError("SB3VecEnv needs a vector env built with autoreset_mode=SAME_STEP")
        self.env = env
        super().__init__(env.num_envs, env.single_observation_space, env.single_action_space)
        self._actions: np.ndarray | None = None

    def reset(self) -> VecEnvObs:
        seeds = None if all(s is None for s in self._seeds) else list(self._seeds)
        options = [o for o in self._options if o]
        if any(o != options[0] for o in options):
            raise ValueError("SB3VecEnv passes one options dict to all envs; got different ones per env")
        obs, info = self.env.reset(seed=seeds, options=options[0] if options else None)
        self.reset_infos = per_env_infos(info, self.num_envs)
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        obs, reward, terminated, truncated, info = self.env.step(self._actions)
        infos = per_env_infos(info, self.num_envs)
        dones = terminated | truncated
        for i in np.flatnonzero(dones):
            ended = infos[i].pop("final_info")
            ended["terminal_observation"] = infos[i].pop("final_obs")
            ended["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
            self.reset_infos[i], infos[i] = infos[i], ended
        return obs, reward.astype(np.float32), dones, infos

    def close(self) -> None:
        self.env.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """The batched env's attribute, one reference per index (every sub-env shares it)."""
        return [getattr(self.env, attr_name)] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set the batched env's attribute; ``indices`` must name every env (or be None)."""
        if sorted(self._get_indices(indices)) != list(range(self.num_envs)):
            raise ValueError(f"set_attr({attr_name!r}) for envs {list(self._get_indices(indices))}: the native vector env "
                             f"is one batched object whose attributes all {self.num_envs} envs share; set it for all "
                             "(indices=None)")
        setattr(self.env, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any) -> list[Any]:
        """Refused: there are no per-env objects to call ``method_name`` on."""
        raise TypeError(f"env_method({method_name!r}): the native vector env is one batched object, not "
                        f"{self.num_envs} envs; call venv.env.{method_name}(...) on it (it acts on all envs at once)")

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [False] * len(self._get_indices(indices))

    def _get_indices(self, indices: VecEnvIndices) -> Sequence[int]:
        if indices is None:
            return range(self.num_envs)
        return [indices] if isinstance(indices, int) else list(indices)


def make_sb3_vec_env(env_id: str, n_envs: int, **kwargs: Any) -> SB3VecEnv:
    """``gym.make_vec`` on the native vector env in SAME_STEP mode, wrapped for SB3."""
    import bessgym  # noqa: F401  (registers the ids)

    env = gym.make_vec(env_id, num_envs=n_envs, vectorization_mode="vector_entry_point",
                       autoreset_mode=AutoresetMode.SAME_STEP, **kwargs)
    return SB3VecEnv(env)


class ConcatVecEnv(VecEnv):
    """SB3 VecEnvs side by side as one (their spaces of one shape): env ``i`` of the whole is
    env ``i - offset`` of the part it falls in. Used to train on several regimes (configs) in
    each rollout; the observation and action spaces are the first part's (VecNormalize and the
    policy use only their shapes)."""

    def __init__(self, parts: Sequence[VecEnv]) -> None:
        if not parts:
            raise ValueError("ConcatVecEnv needs at least one VecEnv")
        first = parts[0]
        for part in parts[1:]:
            if (part.observation_space.shape, part.action_space.shape) != (first.observation_space.shape, first.action_space.shape):
                raise ValueError(f"ConcatVecEnv parts differ in shape: observations {part.observation_space.shape} vs "
                                 f"{first.observation_space.shape}, actions {part.action_space.shape} vs {first.action_space.shape}")
        self.parts = list(parts)
        self._bounds = np.cumsum([0] + [part.num_envs for part in self.parts])
        super().__init__(int(self._bounds[-1]), first.observation_space, first.action_space)

    def _split(self, indices: VecEnvIndices) -> list[tuple[VecEnv, list[int]]]:
        """The parts that the whole's ``indices`` fall in, each with its own indices."""
        chosen = range(self.num_envs) if indices is None else [indices] if isinstance(indices, int) else list(indices)
        out = []
        for k, part in enumerate(self.parts):
            own = [i - int(self._bounds[k]) for i in chosen if self._bounds[k] <= i < self._bounds[k + 1]]
            if own:
                out.append((part, own))
        return out

    def seed(self, seed: int | None = None) -> Sequence[None | int]:
        """Seed part k's envs from ``seed`` + its offset, so every env of the whole has its own seed."""
        for offset, part in zip(self._bounds, self.parts):
            part.seed(None if seed is None else seed + int(offset))
        return [None if seed is None else seed + i for i in range(self.num_envs)]

    def reset(self) -> VecEnvObs:
        obs = np.concatenate([part.reset() for part in self.parts])
        self.reset_infos = [info for part in self.parts for info in part.reset_infos]
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        for k, part in enumerate(self.parts):
            part.step_async(actions[self._bounds[k]:self._bounds[k + 1]])

    def step_wait(self) -> VecEnvStepReturn:
        results = [part.step_wait() for part in self.parts]
        self.reset_infos = [info for part in self.parts for info in part.reset_infos]
        return (np.concatenate([r[0] for r in results]), np.concatenate([r[1] for r in results]),
                np.concatenate([r[2] for r in results]), [info for r in results for info in r[3]])

    def close(self) -> None:
        for part in self.parts:
            part.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [value for part, own in self._split(indices) for value in part.get_attr(attr_name, own)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        for part, own in self._split(indices):
            part.set_attr(attr_name, value, own)

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any) -> list[Any]:
        return [value for part, own in self._split(indices)
                for value in part.env_method(method_name, *method_args, indices=own, **method_kwargs)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [value for part, own in self._split(indices) for value in part.env_is_wrapped(wrapper_class, own)]
