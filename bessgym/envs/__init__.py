"""Gymnasium environments: RealTime-v0, DayAhead-v0, TwoSettlement-v0, ThreeSettlement-v0 and the
native vector envs.

Each id's entry point wraps the env in Gymnasium's ``TimeLimit`` of its own config's episode
length, so ``gym.make(id, config=...).spec.max_episode_steps`` is right for every config:
RealTime-v0 the day's RT intervals (96 for the default ``caiso-sp15``, 288 for the 5-minute
``synthetic`` preset), DayAhead-v0 1, TwoSettlement-v0 and ThreeSettlement-v0 1 + the intervals. The registry entry
itself (``gym.spec(id).max_episode_steps``) is ``None``: ``gym.make`` would apply a registered
value to every config alike and cut a 288-interval day at 96.
"""

from __future__ import annotations

import gymnasium as gym

ENV_IDS = ("bessgym/RealTime-v0", "bessgym/DayAhead-v0", "bessgym/TwoSettlement-v0", "bessgym/ThreeSettlement-v0")


def register_envs() -> None:
    """Register the env ids (idempotent)."""
    specs = {
        "bessgym/RealTime-v0": ("bessgym.envs.real_time:make_real_time", "bessgym.envs.vector:RealTimeVectorEnv",
                                {"config": "caiso-sp15", "split": "train", "da_bidder": "threshold"}),
        "bessgym/DayAhead-v0": ("bessgym.envs.day_ahead:make_day_ahead", "bessgym.envs.vector:DayAheadVectorEnv",
                                {"config": "caiso-sp15", "split": "train", "rt_policy": "follow_da"}),
        "bessgym/TwoSettlement-v0": ("bessgym.envs.two_settlement:make_two_settlement", None,
                                     {"config": "caiso-sp15", "split": "train"}),
        "bessgym/ThreeSettlement-v0": ("bessgym.envs.three_settlement:make_three_settlement", None,
                                       {"config": "caiso3-sp15", "split": "train"}),
        "bessgym/NeighborhoodCentral-v0": ("bessgym.community.env:CentralNeighborhood", None, {}),  # PettingZoo: bessgym.community.env
        "bessgym/GESDayAhead-v0": ("bessgym.envs.ges:make_ges_day_ahead", None, {"config": "caiso-sp15", "split": "train"}),
        "bessgym/GESRealTime-v0": ("bessgym.envs.ges:make_ges_real_time", None, {"config": "caiso-sp15", "split": "train"}),
    }
    for env_id, (entry, vector_entry, kwargs) in specs.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry, vector_entry_point=vector_entry, kwargs=kwargs)
