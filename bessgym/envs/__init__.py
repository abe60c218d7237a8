"""Gymnasium environments: RealTime-v0, DayAhead-v0, TwoSettlement-v0 and the native vector envs."""

from __future__ import annotations

import gymnasium as gym

ENV_IDS = ("bessgym/RealTime-v0", "bessgym/DayAhead-v0", "bessgym/TwoSettlement-v0")


def register_envs() -> None:
    """Register the env ids (idempotent)."""
    specs = {
        "bessgym/RealTime-v0": ("bessgym.envs.real_time:RealTimeEnv", "bessgym.envs.vector:RealTimeVectorEnv",
                                {"config": "caiso-sp15", "split": "train", "da_bidder": "threshold"}),
        "bessgym/DayAhead-v0": ("bessgym.envs.day_ahead:DayAheadEnv", "bessgym.envs.vector:DayAheadVectorEnv",
                                {"config": "caiso-sp15", "split": "train", "rt_policy": "follow_da"}),
        "bessgym/TwoSettlement-v0": ("bessgym.envs.two_settlement:TwoSettlementEnv", None,
                                     {"config": "caiso-sp15", "split": "train"}),
    }
    for env_id, (entry, vector_entry, kwargs) in specs.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry, vector_entry_point=vector_entry, kwargs=kwargs)
