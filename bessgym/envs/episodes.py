"""Days prepared for the envs: scenario, gate-closure context, the fixed bidder's bid, features.

Shared by the scalar and the vector envs so that both see exactly the same days. Scenarios and
contexts are cached per process (they depend only on the config and the id); the fixed bidder's
bids are cached per :class:`EpisodeSource` (a bid never depends on the deployment to come). An
episode's deployment path is drawn per episode (``deployment=`` a seed or a generator) or, by
default, from the scenario's own seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Sequence

import gymnasium as gym
import numpy as np

from bessgym.config import Config, ConfigLike, load_config
from bessgym.forecast import DAContext, da_context
from bessgym.intraday import IntradayForecaster
from bessgym.market import BidCuts, DABid, accept_bid
from bessgym.observation import da_features, rt_feature_table
from bessgym.policies import DABidder, load_component
from bessgym.scenarios import Scenario, ScenarioSet
from bessgym.settlement import LEDGER_LINES
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
    """Every day of a split stacked for the vector envs (leading axis: day): prices (the
    ``arrays``' deployment fields hold each day's default path), the gate-closure RT forecast
    and DayAhead features, and the fixed bidder's accepted bids (zeros without a bidder): energy,
    awards and virtual positions."""

    ids: list[str]
    arrays: ScenarioArrays
    contexts: list[DAContext]
    da_features: np.ndarray
    forecast_rt: np.ndarray
    energy_mw: np.ndarray
    as_mw: np.ndarray
    virtual_mw: np.ndarray


def resolve(component: Any, role: str = "rt_policy") -> Any:
    """A component from a spec string, or the object itself; ``role`` (``"da_bidder"`` or
    ``"rt_policy"``) names the argument in the error when the result lacks that role's methods."""
    found = load_component(component) if isinstance(component, str) else component
    needs = ("bid",) if role == "da_bidder" else ("reset", "act")
    missing = [m for m in needs if not callable(getattr(found, m, None))]
    if missing:
        raise ValueError(f"{role} {component!r} has no {' or '.join(m + '()' for m in missing)}: give a spec string "
                         f"(a short name, 'package.module:attr' or an entry point) or an object with {', '.join(needs)}")
    return found


def day_info(totals: Sequence[Any], shortfall_mwh: Any) -> dict[str, Any]:
    """The keys every env adds to the info of an episode's last step (besides ``scenario_id``),
    from the ledger lines summed over the day (``totals``, $) and the deployment not delivered
    over the day (``shortfall_mwh``, MWh): ``day_totals`` (ledger line -> $), ``profit_usd``
    (their sum, $) and ``day_shortfall_mwh``. Floats for a scalar env, (N,) arrays for a vector
    env (which adds the masks)."""
    return {"day_totals": dict(zip(LEDGER_LINES, totals)), "profit_usd": sum(totals), "day_shortfall_mwh": shortfall_mwh}


class DayLimited:
    """A registered entry point: called with an env's kwargs, ``env_class(**kwargs)`` in
    Gymnasium's ``TimeLimit`` of the env's own episode length (``env.episode_steps``, which
    depends on the config's interval length), so that ``env.spec.max_episode_steps`` is right
    for every config and the limit never cuts a day short. Like every ``TimeLimit`` it also
    sets ``truncated`` on the step that reaches the limit, the day's last, where
    ``terminated`` is set too. It carries ``env_class.metadata``: ``gym.make`` reads the render
    modes off the entry point."""

    def __init__(self, env_class: type[gym.Env]) -> None:
        self.env_class = env_class
        self.metadata = env_class.metadata

    def __call__(self, **kwargs: Any) -> gym.wrappers.TimeLimit:
        env = self.env_class(**kwargs)
        return gym.wrappers.TimeLimit(env, int(env.episode_steps))


def reset_options(options: dict[str, Any] | None, allowed: tuple[str, ...] = ("scenario",)) -> dict[str, Any]:
    """``reset``'s options, refused when a key is not one the env reads (a misspelt
    ``"scenario"`` would otherwise draw a random day)."""
    if options is not None and not isinstance(options, dict):
        raise ValueError(f"reset options = {options!r}; allowed: None or a dict with keys among {list(allowed)}")
    options = dict(options or {})
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"reset options {unknown} are not understood; allowed: {list(allowed)}")
    return options


_SHARED_BIDS: dict[tuple[str, str], dict[str, tuple[DABid, DABid, BidCuts]]] = {}
"""Fixed bids by (config JSON, bidder spec string), then by day: see :class:`EpisodeSource`."""


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
        self.bidder: DABidder | None = resolve(da_bidder, "da_bidder") if da_bidder is not None else None
        # a bidder named by a spec string is a pure function of the day: its bids are shared by
        # every source of the process with the same config and spec (16 scalar envs solve each day once)
        self._bids: dict[str, tuple[DABid, DABid, BidCuts]] = (
            _SHARED_BIDS.setdefault((self._key, da_bidder), {}) if isinstance(da_bidder, str) else {})
        self._known = set(self.ids)
        self._split_ids = frozenset(self.ids)
        self._intraday: IntradayForecaster | None = None

    @property
    def intraday(self) -> IntradayForecaster:
        """The intraday RT price forecaster of the RealTime observation (features 19-21)."""
        if self._intraday is None:
            self._intraday = IntradayForecaster.of_config(self.config, self.scenarios)
        return self._intraday

    def draw(self, pinned: str | None, rng: np.random.Generator) -> str:
        """An env's day: ``pinned`` (a day of this split; a KeyError names any other), or one
        drawn from the split with ``rng``."""
        if pinned is None:
            return self.ids[int(rng.integers(len(self.ids)))]
        if pinned not in self._split_ids:
            raise KeyError(f"scenario {pinned!r} is not a day of split {self.split!r} ({len(self.ids)} days, e.g. {self.ids[0]!r})")
        return pinned

    def day(self, scenario_id: str) -> tuple[Scenario, DAContext]:
        """The scenario (its default deployment) and its gate-closure context (a KeyError names
        an unknown id)."""
        if scenario_id not in self._known:
            if scenario_id not in self.scenarios.ids():
                raise KeyError(f"scenario {scenario_id!r} is not a usable day of this config (split {self.split!r} has {len(self.ids)} days, e.g. {self.ids[0]!r})")
            self._known.add(scenario_id)
        return _day(self._key, scenario_id)

    def scenario(self, scenario_id: str, deployment: int | np.random.Generator | None = None) -> Scenario:
        """The scenario with its deployment drawn by ``deployment`` (default: its own seed)."""
        scenario, _ = self.day(scenario_id)
        return scenario if deployment is None else self.scenarios.get(scenario_id, deployment)

    def fixed_bid(self, scenario_id: str) -> tuple[DABid, DABid, BidCuts]:
        """The fixed bidder's bid for a day: as submitted, as accepted, and what was cut."""
        if scenario_id not in self._bids:
            if self.bidder is None:
                raise ValueError("no DA bidder: the env was made with da_bidder=None; give a spec string such as "
                                 "'threshold' or an object with bid(context)")
            bid = self.bidder.bid(self.day(scenario_id)[1])
            self._bids[scenario_id] = (bid, *accept_bid(bid, self.config.battery, self.config.market_profile))
        return self._bids[scenario_id]

    def episode(self, scenario_id: str, deployment: int | np.random.Generator | None = None) -> Episode:
        """The day played after the fixed bidder's bid, with the deployment ``deployment`` draws."""
        bid, accepted, cuts = self.fixed_bid(scenario_id)
        return self._episode(self.scenario(scenario_id, deployment), self.day(scenario_id)[1], bid, accepted, cuts)

    def prepare(self, scenario: Scenario, context: DAContext, bid: DABid) -> Episode:
        """The day played after ``bid`` (which the market accepts first)."""
        return self._episode(scenario, context, bid, *accept_bid(bid, self.config.battery, self.config.market_profile))

    def _episode(self, scenario: Scenario, context: DAContext, bid: DABid, accepted: DABid, cuts: BidCuts) -> Episode:
        config = self.config
        features = rt_feature_table(
            config.battery, config.market_profile, scenario.rt_price, scenario.da_price,
            scenario.deployment.fraction, accepted.energy_mw, accepted.as_mw, context.rt_price, self.intraday,
        )
        return Episode(scenario, context, bid, accepted, cuts, features)

    def bank(self) -> Bank:
        """All days of the split stacked (with the bidder's accepted bids where there is one)."""
        days = [self.day(i) for i in self.ids]
        arrays = ScenarioArrays.stack([s for s, _ in days])
        contexts = [c for _, c in days]
        if self.bidder is not None:
            accepted = [self.fixed_bid(i)[1] for i in self.ids]
            energy, awards = np.stack([a.energy_mw for a in accepted]), np.stack([a.as_mw for a in accepted])
            virtual = np.stack([a.virtual_mw for a in accepted])
        else:
            energy, awards, virtual = np.zeros(arrays.da_price.shape), np.zeros(arrays.as_price.shape), np.zeros(arrays.da_price.shape)
        return Bank(
            ids=list(self.ids), arrays=arrays, contexts=contexts,
            da_features=np.stack([da_features(c) for c in contexts]),
            forecast_rt=np.stack([c.rt_price for c in contexts]), energy_mw=energy, as_mw=awards, virtual_mw=virtual,
        )
