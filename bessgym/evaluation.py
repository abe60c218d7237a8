"""Evaluate a (DA bidder, RT policy) pair on days of a split, through the simulator only.

    >>> results = evaluate("caiso-sp15", "val", "threshold", "follow_da", limit=2)
    >>> sorted(results[0].ledger.as_dict())[:2]
    ['as_capacity', 'da_energy']
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from bessgym.config import ConfigLike
from bessgym.envs.day_ahead import play_day
from bessgym.envs.episodes import EpisodeSource, resolve
from bessgym.settlement import Ledger


@dataclass(frozen=True)
class DayOutcome:
    """One evaluated day: its ledger totals ($) and the seconds the DA bid and the RT day took."""

    scenario_id: str
    ledger: Ledger
    bid_seconds: float
    rt_seconds: float

    @property
    def profit(self) -> float:
        return float(self.ledger.total)


def evaluate(
    config: ConfigLike, split: str, da_bidder: Any, rt_policy: Any, ids: list[str] | None = None, limit: int | None = None
) -> list[DayOutcome]:
    """Play ``rt_policy`` after ``da_bidder`` (spec strings or objects) on the days of ``split``."""
    bidder, policy = resolve(da_bidder), resolve(rt_policy)
    source = EpisodeSource(config, split, bidder)
    outcomes = []
    for scenario_id in (ids or source.ids)[:limit]:
        start = time.perf_counter()
        episode = source.episode(scenario_id)
        mid = time.perf_counter()
        played = play_day(source, episode, policy)
        outcomes.append(DayOutcome(scenario_id, played.totals, mid - start, time.perf_counter() - mid))
    return outcomes


def capture_rate(profits: np.ndarray, oracle_profits: np.ndarray) -> float:
    """100 x sum of profits / sum of oracle profits on the same days (0 = idle, 100 = oracle)."""
    return 100.0 * float(np.sum(profits)) / float(np.sum(oracle_profits))
