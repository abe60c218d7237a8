"""Wrappers: reward in other units, and discrete actions for value-based agents.

Both record their constructor arguments (``gymnasium.utils.RecordConstructorArgs``), so a
wrapped env's spec round-trips: ``gym.make(EnvSpec.from_json(env.spec.to_json()))`` rebuilds
the same stack. Gymnasium's own ``DiscretizeAction`` works on these envs too, but puts the
actions at bin centres (with 11 bins the largest is 0.91 of full power, never 1) and clamps
out-of-range indices silently; :class:`DiscreteActions` keeps both ends of the range.
"""

from __future__ import annotations

from typing import Any, Literal

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import TransformReward

RewardUnit = Literal["usd", "usd_per_mw_h"]
REWARD_UNITS = ("usd", "usd_per_mw_h")


class ScaleReward(TransformReward, gym.utils.RecordConstructorArgs):
    """Reward in raw $ (``usd``) or in $ per MW of discharge power per hour of the step
    (``usd_per_mw_h``: the step's $ / (P_dis x step hours), comparable across battery sizes and
    interval lengths). For DayAhead-v0 one step is a day (24 h); TwoSettlement-v0's DA step
    (reward 0) is scaled by its RT interval. ``info`` keeps the ledger in $."""

    def __init__(self, env: gym.Env, unit: RewardUnit = "usd_per_mw_h") -> None:
        if unit not in REWARD_UNITS:
            raise ValueError(f"unit {unit!r} is not one of {list(REWARD_UNITS)}")
        gym.utils.RecordConstructorArgs.__init__(self, unit=unit)
        base = env.unwrapped
        self.unit = unit
        self.scale = 1.0 if unit == "usd" else 1.0 / (base.source.config.battery.p_discharge_mw * base.step_hours)
        TransformReward.__init__(self, env, self._scale)

    def _scale(self, reward: float) -> float:
        return float(reward) * self.scale


class DiscreteActions(gym.ActionWrapper, gym.utils.RecordConstructorArgs):
    """Discrete actions over ``levels`` evenly spaced values from the Box's low to its high
    (both included; an odd ``levels`` includes 0, following the DA schedule) per action
    dimension: ``Discrete(levels)`` for a one-dimensional Box, ``MultiDiscrete([levels] * n)``
    otherwise. An index outside ``0 .. levels - 1`` raises ValueError."""

    def __init__(self, env: gym.Env, levels: int = 11) -> None:
        box = env.action_space
        if not isinstance(box, gym.spaces.Box):
            raise ValueError(f"DiscreteActions needs a Box action space, got {box}")
        if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 2:
            raise ValueError(f"levels must be a whole number >= 2, got {levels!r}")
        gym.utils.RecordConstructorArgs.__init__(self, levels=int(levels))
        gym.ActionWrapper.__init__(self, env)
        self.values = np.linspace(box.low, box.high, int(levels), dtype=np.float32)  # (levels, *shape)
        dim = int(np.prod(box.shape))
        self.action_space = gym.spaces.Discrete(levels) if dim == 1 else gym.spaces.MultiDiscrete([levels] * dim)
        self._shape = box.shape

    def action(self, action: Any) -> np.ndarray:
        index = np.asarray(action, dtype=np.int64).reshape(-1)
        if np.any(index < 0) or np.any(index >= len(self.values)):
            raise ValueError(f"discrete action {action!r} is outside 0..{len(self.values) - 1}")
        flat = self.values.reshape(len(self.values), -1)
        return flat[index, np.arange(flat.shape[1])].reshape(self._shape)
