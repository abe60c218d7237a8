"""Evaluate a (DA bidder, RT policy) pair on days, through the simulator only.

:func:`play_episode` plays one day and measures it (ledger, battery use, shortfall per product,
market repairs, decision latency, the trajectory); :func:`evaluate` does it over a split.

    >>> results = evaluate("caiso-sp15", "val", "threshold", "follow_da", limit=2)
    >>> sorted(results[0].ledger.as_dict())[:2]
    ['as_capacity', 'da_energy']
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from bessgym.actions import LayeredDecision, cleared
from bessgym.config import ConfigLike
from bessgym.envs.episodes import Episode, EpisodeSource, resolve
from bessgym.market import PRODUCTS, steps_per_fmm
from bessgym.observation import fmm_features, set_soc
from bessgym.policies import DABidder, RTEpisode, RTPolicy
from bessgym.settlement import LEDGER_LINES, Ledger
from bessgym.sim import DaySimulator, shortfall_by_product


@dataclass(frozen=True)
class EpisodeRecord:
    """One evaluated day. Money in $, energy in MWh, times in seconds (latencies in ms).

    ``shortfall_mwh`` per product in PRODUCTS order; ``repairs_mw`` the MW the market cut from
    the submitted bid and, in three settlements, from the FMM positions asked; ``soc_frac`` (T+1) and ``base_mw`` (T) the trajectory, ``schedule_mw`` (24)
    the DA schedule as accepted (+ = sell); ``bid_note`` how the
    bidder made its bid (a solver fallback shows as ``bid_fallback`` in :meth:`metrics`);
    ``rt_fallbacks`` the decisions the RT policy reports as fallbacks (its ``fallbacks``
    attribute after the day; 0 for a policy without one); ``fmm_mw`` (T) the FMM position in
    force in each interval as the market accepted it (three settlements; None in two).
    """

    scenario_id: str
    ledger: Ledger
    throughput_mwh: float
    equivalent_cycles: float
    shortfall_mwh: np.ndarray
    repairs_mw: float
    bid_seconds: float
    decision_ms: np.ndarray
    soc_frac: np.ndarray
    base_mw: np.ndarray
    schedule_mw: np.ndarray
    bid_note: dict
    rt_fallbacks: int = 0
    fmm_mw: np.ndarray | None = None

    @property
    def profit(self) -> float:
        return float(self.ledger.total)

    def metrics(self) -> dict[str, Any]:
        """Flat named figures (for a CSV row)."""
        row: dict[str, Any] = dict(zip(LEDGER_LINES, map(float, self.ledger)))
        row["profit_total_usd"] = self.profit
        row["throughput_mwh"] = self.throughput_mwh
        row["equivalent_cycles"] = self.equivalent_cycles
        for product, value in zip(PRODUCTS, self.shortfall_mwh):
            row[f"shortfall_{product}_mwh"] = float(value)
        row["repairs_mw"] = self.repairs_mw
        row["bid_fallback"] = bool(self.bid_note.get("fallback", False))
        row["rt_fallbacks"] = self.rt_fallbacks
        row["bid_seconds"] = self.bid_seconds
        row["decision_ms_p50"] = float(np.percentile(self.decision_ms, 50))
        row["decision_ms_p95"] = float(np.percentile(self.decision_ms, 95))
        return row


def play_episode(source: EpisodeSource, scenario_id: str, bidder: DABidder, policy: RTPolicy) -> EpisodeRecord:
    """Bid with ``bidder`` at gate closure, then run the day with ``policy``, measuring both."""
    scenario, context = source.day(scenario_id)
    start = time.perf_counter()
    bid = bidder.bid(context)
    bid_seconds = time.perf_counter() - start
    return run_day(source, source.prepare(scenario, context, bid), policy, bid_seconds)


def run_day(source: EpisodeSource, episode: Episode, policy: RTPolicy, bid_seconds: float = 0.0) -> EpisodeRecord:
    """Run the RT day of a prepared episode (its bid fixed) with ``policy``, measuring it."""
    battery, market = source.config.battery, source.config.market_profile
    scenario, context, bid = episode.scenario, episode.context, episode.bid
    sim = DaySimulator(battery, market, scenario, episode.accepted)
    policy.reset(RTEpisode(battery, market, episode.accepted, scenario.da_price, context, scenario.dt_h, scenario.n_intervals))
    n = scenario.n_intervals
    totals = np.zeros(len(LEDGER_LINES))
    soc, base = np.empty(n + 1), np.empty(n)
    up_short, down_short, legs, latency, fmm = np.empty(n), np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    soc[0] = sim.e_mwh / battery.energy_mwh
    three = market.three_settlement
    per_fmm = steps_per_fmm(scenario.dt_h)
    position = sim.terms.step.position_mw
    fmm_mw = float(position[0])  # the FMM position in force (three settlements)
    fmm_cuts = 0.0  # MW the FMM cut from the positions asked
    for t in range(n):
        obs = set_soc(episode.features[t].copy(), soc[t])
        if three:
            obs = np.append(obs, fmm_features(t, n, per_fmm, fmm_mw, float(position[0]), float(scenario.da_price[0]),
                                              scenario.fmm_price, battery, market))
        tick = time.perf_counter()
        action = policy.act(obs)
        latency[t] = (time.perf_counter() - tick) * 1e3
        if three and t % per_fmm == 0:
            asked = action.fmm_mw if isinstance(action, LayeredDecision) else None
            fmm_mw = float(position[t]) if asked is None else float(asked)
        elif isinstance(action, LayeredDecision) and action.fmm_mw is not None and not three:
            raise ValueError(f"policy {policy!r} set an FMM position, but market {market.name!r} has two settlements")
        out = sim.step(float(cleared(action, scenario.rt_price[t])), fmm_mw if three else None)
        if three:
            fmm_cuts += abs(fmm_mw - sim.fmm_mw)
            fmm_mw = fmm[t] = sim.fmm_mw
        totals += out.ledger
        soc[t + 1], base[t] = out.e_mwh / battery.energy_mwh, out.base_mw
        up_short[t], down_short[t], legs[t] = out.up_short_mw, out.down_short_mw, out.charge_mw + out.discharge_mw
    throughput = float(legs.sum() * scenario.dt_h)
    shortfall = shortfall_by_product(sim.terms, up_short, down_short).sum(0) * scenario.dt_h
    return EpisodeRecord(
        scenario_id=scenario.id,
        ledger=Ledger(*totals.tolist()),
        throughput_mwh=throughput,
        equivalent_cycles=throughput / (2 * battery.energy_mwh),
        shortfall_mwh=shortfall,
        repairs_mw=float(episode.cuts.total_mw + fmm_cuts),
        bid_seconds=bid_seconds,
        decision_ms=latency,
        soc_frac=soc,
        base_mw=base,
        schedule_mw=episode.accepted.energy_mw.copy(),
        bid_note=dict(bid.note),
        rt_fallbacks=int(getattr(policy, "fallbacks", 0)),
        fmm_mw=fmm if three else None,
    )


def evaluate(
    config: ConfigLike, split: str, da_bidder: Any, rt_policy: Any, ids: list[str] | None = None, limit: int | None = None
) -> list[EpisodeRecord]:
    """Play ``rt_policy`` after ``da_bidder`` (spec strings or objects) on the days of ``split``."""
    bidder, policy = resolve(da_bidder, "da_bidder"), resolve(rt_policy)
    source = EpisodeSource(config, split, da_bidder=None)
    return [play_episode(source, scenario_id, bidder, policy) for scenario_id in (ids or source.ids)[:limit]]


def capture_rates(profits: np.ndarray, oracle_profits: np.ndarray) -> np.ndarray:
    """100 x sum of profits / sum of oracle profits over the last axis (days), for each leading
    index (0 = idle, 100 = oracle). A day on which the oracle earned exactly $0 (nothing to
    capture) contributes 0 to both sums; NaN where no other day is left."""
    profit, oracle = np.broadcast_arrays(np.asarray(profits, float), np.asarray(oracle_profits, float))
    counted = np.where(oracle != 0, profit, 0.0).sum(-1)
    total = oracle.sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((oracle != 0).any(-1), 100.0 * counted / total, np.nan)


def capture_rate(profits: np.ndarray | float, oracle_profits: np.ndarray | float) -> float:
    """:func:`capture_rates` of one series of days (or one day)."""
    return float(capture_rates(np.atleast_1d(profits), np.atleast_1d(oracle_profits)))
