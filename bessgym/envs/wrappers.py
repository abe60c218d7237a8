"""Wrappers: reward in other units, and discrete actions for value-based agents."""

from __future__ import annotations

from typing import Any, Literal

import gymnasium as gym
import numpy as np

RewardUnit = Literal["usd", "usd_per_mw_h"]


class ScaleReward(gym.RewardWrapper):
    """Reward in raw $ (``usd``) or in $ per MW of discharge power per hour of the step
    (``usd_per_mw_h``: the step's $ / (P_dis x step hours), comparable across battery sizes and
    interval lengths). For DayAhead-v0 one step is a day (24 h)."""

    def __init__(self, env: gym.Env, unit: RewardUnit = "usd_per_mw_h") -> None:
        super().__init__(env)
        if unit not in ("usd", "usd_per_mw_h"):
            raise ValueError(f"unit {unit!r} is not one of 'usd', 'usd_per_mw_h'")
        base = env.unwrapped
        self.unit = unit
        self.scale = 1.0 if unit == "usd" else 1.0 / (base.source.config.battery.p_discharge_mw * base.step_hours)

    def reward(self, reward: float) -> float:
        return float(reward) * self.scale


class DiscreteActions(gym.ActionWrapper):
    """Discrete actions over ``levels`` evenly spaced values in [-1, 1] per action dimension:
    ``Discrete(levels)`` for a one-dimensional Box, ``MultiDiscrete`` otherwise."""

    def __init__(self, env: gym.Env, levels: int = 11) -> None:
        super().__init__(env)
        box = env.action_space
        if not isinstance(box, gym.spaces.Box):
            raise ValueError(f"DiscreteActions needs a Box action space, got {box}")
        if levels < 2:
            raise ValueError(f"levels must be >= 2, got {levels}")
        self.values = np.linspace(box.low, box.high, levels, dtype=np.float32)  # (levels, dim)
        dim = int(np.prod(box.shape))
        self.action_space = gym.spaces.Discrete(levels) if dim == 1 else gym.spaces.MultiDiscrete([levels] * dim)
        self._shape = box.shape

    def action(self, action: Any) -> np.ndarray:
        index = np.asarray(action, dtype=np.int64).reshape(-1)
        if np.any(index < 0) or np.any(index >= len(self.values)):
            raise ValueError(f"discrete action {action!r} is outside 0..{len(self.values) - 1}")
        flat = self.values.reshape(len(self.values), -1)
        return flat[index, np.arange(flat.shape[1])].reshape(self._shape)
