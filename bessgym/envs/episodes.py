"""Days prepared for the envs: scenario, gate-closure context, the fixed bidder's bid, features.

Shared by the scalar and the vector envs so that both see exactly the same days. Scenarios and
contexts are cached per process (they depend only on the config and the id); episodes depend on
the DA bidder and are cached per :class:`EpisodeSource`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from bessgym.config import Config, ConfigLike, load_config
from bessgym.forecast import DAContext, da_context
from bessgym.market import BidCuts, DABid, accept_bid
from bessgym.observation import da_features, rt_feature_table
from bessgym.policies import DABidder, load_component
from bessgym.scenarios import Scenario, ScenarioSet
from bessgym.settlement import DayTerms, day_terms
from bessgym.sim import ScenarioArrays


@lru_cache(maxsize=8)
def _scenario_set(config_json: str) -> ScenarioSet:
    return ScenarioSet(Config.model_validate_json(config_json))


@lru_cache(maxsize=4096)
def _day(config_json: str, scenario_id: str) -> tuple[Scenario, DAContext]:
    scenarios = _scenario_set(config_json)
    scenario = scenarios.get(scenario_id)
    return scenario, da_context(scenarios, scenario)


@dataclass(frozen=True)
class Episode:
    """One day as the RealTime env plays it: the bid as submitted and as accepted, what the
    market cut, and the day's RealTime feature table (T, F) with ``soc`` at 0."""

    scenario: Scenario
    context: DAContext
    bid: DABid
    accepted: DABid
    cuts: BidCuts
    features: np.ndarray


@dataclass(frozen=True)
class Bank:
    """Every day of a split stacked for the vector envs (leading axis: day)."""

    ids: list[str]
    arrays: ScenarioArrays
    terms: DayTerms
    features: np.ndarray
    da_features: np.ndarray
    forecast_rt: np.ndarray
    position_mw: np.ndarray


def resolve(component: Any) -> Any:
    """A component from a spec string, or the object itself."""
    return load_component(component) if isinstance(component, str) else component


class EpisodeSource:
    """The days of ``split`` under ``config``, with a fixed DA bidder (a spec string or object)."""

    def __init__(self, config: ConfigLike, split: str, da_bidder: Any = "threshold") -> None:
        self.config = load_config(config)
        self._key = self.config.model_dump_json()
        self.scenarios = _scenario_set(self._key)
        self.split = split
        self.ids = self.scenarios.ids(split)
        if not self.ids:
            raise ValueError(f"split {split!r} of this config has no usable days")
        self.bidder: DABidder | None = resolve(da_bidder) if da_bidder is not None else None
        self._episodes: dict[str, Episode] = {}
        self._known = set(self.ids)

    def day(self, scenario_id: str) -> tuple[Scenario, DAContext]:
        """The scenario and its gate-closure context (a KeyError names an unknown id)."""
        if scenario_id not in self._known:
            if scenario_id not in self.scenarios.ids():
                raise KeyError(f"scenario {scenario_id!r} is not a usable day of this config (split {self.split!r} has {len(self.ids)} days, e.g. {self.ids[0]!r})")
            self._known.add(scenario_id)
        return _day(self._key, scenario_id)

    def episode(self, scenario_id: str) -> Episode:
        if scenario_id not in self._episodes:
            if self.bidder is None:
                raise ValueError("this source has no DA bidder")
            scenario, context = self.day(scenario_id)
            self._episodes[scenario_id] = self.prepare(scenario, context, self.bidder.bid(context))
        return self._episodes[scenario_id]

    def prepare(self, scenario: Scenario, context: DAContext, bid: DABid) -> Episode:
        config = self.config
        accepted, cuts = accept_bid(bid, config.battery, config.market_profile)
        features = rt_feature_table(
            config.battery, config.market_profile, scenario.rt_price, scenario.da_price,
            scenario.deployment.fraction, accepted.energy_mw, accepted.as_mw, context.rt_price,
        )
        return Episode(scenario, context, bid, accepted, cuts, features)

    def bank(self) -> Bank:
        """All days of the split stacked (with the bidder's accepted bids where there is one)."""
        days = [self.day(i) for i in self.ids]
        arrays = ScenarioArrays.stack([s for s, _ in days])
        contexts = [c for _, c in days]
        forecast_rt = np.stack([c.rt_price for c in contexts])
        if self.bidder is not None:
            episodes = [self.episode(i) for i in self.ids]
            energy = np.stack([e.accepted.energy_mw for e in episodes])
            awards = np.stack([e.accepted.as_mw for e in episodes])
            features = np.stack([e.features for e in episodes])
        else:
            energy, awards = np.zeros(arrays.da_price.shape), np.zeros(arrays.as_price.shape)
            features = np.zeros((0,))
        terms = day_terms(
            arrays.dt_h, arrays.da_price, arrays.rt_price, arrays.as_price, arrays.mileage_price,
            arrays.fraction, arrays.mileage, energy, awards, self.config.market_profile,
        )
        return Bank(
            ids=list(self.ids), arrays=arrays, terms=terms, features=features,
            da_features=np.stack([da_features(c) for c in contexts]), forecast_rt=forecast_rt,
            position_mw=terms.position_mw,
        )
