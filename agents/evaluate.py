"""Profit and capture rate of a trained model or a policy, day by day, as the leaderboard counts them.

    from agents.evaluate import evaluate
    days = evaluate(model, "bessgym/RealTime-v0", split="val", seeds=[0, 1], limit=10)
    print(days.attrs["summary"])

Each day is played by :func:`bessgym.evaluation.play_episode` (the leaderboard's own function)
on the config with ``seed`` set, so day ``d`` under seed ``s`` has the deployment path the
leaderboard's row ``(d, s)`` has, and the same profit. The oracle's profit is the
perfect-foresight LP's (:class:`baselines.oracle.PerfectForesight`) replayed through the
simulator, as the leaderboard's reference rows; it is cached in memory and, with
``oracle_cache=FILE``, in a JSON file keyed by the config (seed included) and the day.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd

from agents.ppo.policy import (ModelDayAhead, ModelRealTime, ModelTwoSettlement, ObsNormaliser, PPODayAhead, PPORealTime,
                               PPOTwoSettlement)
from bessgym.config import ConfigLike, load_config
from bessgym.envs.episodes import EpisodeSource, resolve
from bessgym.envs.day_ahead import DAActionForm
from bessgym.envs.real_time import RTActionForm
from bessgym.evaluation import capture_rate, capture_rates, play_episode
from bessgym.settlement import LEDGER_LINES, PENALTY_LINES

ENV_IDS = ("bessgym/RealTime-v0", "bessgym/DayAhead-v0", "bessgym/TwoSettlement-v0")
"""The envs whose trained models evaluate() plays."""


class OracleCache:
    """The perfect-foresight oracle's profit ($) per (config, day): computed once, kept in memory
    and, given a ``path``, in a JSON file ``{config_key: {scenario_id: profit}}`` with
    ``config_key`` the first 16 hex digits of the SHA-256 of the config's JSON (its seed, hence
    the deployment path, included). NaN where the oracle's LP failed."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.profits: dict[str, dict[str, float]] = {}
        if self.path is not None and self.path.is_file():
            self.profits = json.loads(self.path.read_text())

    def profit(self, source: EpisodeSource, scenario_id: str) -> float:
        key = hashlib.sha256(source.config.model_dump_json().encode()).hexdigest()[:16]
        known = self.profits.setdefault(key, {})
        if scenario_id not in known:
            from baselines.oracle import PerfectForesight

            config, (scenario, _) = source.config, source.day(scenario_id)
            try:
                known[scenario_id] = float(PerfectForesight(config.battery, config.market_profile).replay(scenario).profit)
            except RuntimeError:  # the LP failed: no oracle profit, the day is not scored
                known[scenario_id] = float("nan")
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.path.write_text(json.dumps(self.profits, indent=1))
        return known[scenario_id]


def as_component(model_or_policy: Any, env_id: str, vecnormalize: Any = None, action_form: dict | None = None) -> Any:
    """The RTPolicy (RealTime-v0), DABidder (DayAhead-v0) or both at once (TwoSettlement-v0) that
    plays ``model_or_policy``: an object with SB3's ``predict`` (with ``vecnormalize``, else the
    model's own VecNormalize if it has one; ``action_form`` the env's action form it was trained
    on, as :meth:`RTActionForm.record` or :meth:`DAActionForm.record`, for TwoSettlement-v0
    ``{"da_action": ..., "rt_action": ...}``), a checkpoint path (``DIR/NAME`` of ``NAME.pt`` +
    ``NAME.json``), a spec string or an RTPolicy / DABidder object."""
    if env_id not in ENV_IDS:
        raise ValueError(f"env_id {env_id!r} is not one evaluate() plays; allowed: {list(ENV_IDS)}")
    if callable(getattr(model_or_policy, "predict", None)):
        size = int(np.prod(model_or_policy.observation_space.shape))
        if vecnormalize is None and callable(getattr(model_or_policy, "get_vec_normalize_env", None)):
            vecnormalize = model_or_policy.get_vec_normalize_env()
        normaliser = ObsNormaliser.of(vecnormalize, size)
        if env_id == ENV_IDS[0]:
            return ModelRealTime(model_or_policy, normaliser, RTActionForm.from_record(action_form))
        if env_id == ENV_IDS[1]:
            return ModelDayAhead(model_or_policy, normaliser, DAActionForm.from_record(action_form))
        forms = action_form or {}
        return ModelTwoSettlement(model_or_policy, normaliser, DAActionForm.from_record(forms.get("da_action")),
                                  RTActionForm.from_record(forms.get("rt_action")))
    if isinstance(model_or_policy, (str, Path)) and _is_checkpoint(model_or_policy):
        return dict(zip(ENV_IDS, (PPORealTime, PPODayAhead, PPOTwoSettlement)))[env_id](path=str(_prefix(model_or_policy)))
    return resolve(str(model_or_policy) if isinstance(model_or_policy, Path) else model_or_policy,
                   "rt_policy" if env_id == ENV_IDS[0] else "da_bidder")


def _prefix(path: str | Path) -> Path:
    path = Path(path)
    return path.with_suffix("") if path.suffix in (".pt", ".json") else path


def _is_checkpoint(path: str | Path) -> bool:
    prefix = _prefix(path)
    return prefix.with_suffix(".json").is_file() and prefix.with_suffix(".pt").is_file()


def evaluate(
    model_or_policy: Any,
    env_id: str = "bessgym/RealTime-v0",
    split: str = "test",
    config: ConfigLike = "caiso-sp15",
    seeds: Iterable[int] = (0,),
    limit: int | None = None,
    da_bidder: Any = None,
    rt_policy: Any = None,
    vecnormalize: Any = None,
    oracle_cache: OracleCache | Path | str | None = None,
    action_form: dict | None = None,
) -> pd.DataFrame:
    """Play ``model_or_policy`` on the first ``limit`` days of ``split`` (all by default) under
    each seed; one row per day and seed.

    RealTime-v0: the model is the RT policy, after ``da_bidder`` (a spec or object; default the
    env's registered default, ``threshold``). DayAhead-v0: the model bids, ``rt_policy`` (default
    ``follow_da``) runs the day. TwoSettlement-v0: the model bids and runs the day.
    ``vecnormalize``: the SB3 ``VecNormalize`` a model in memory was trained behind (default:
    the model's own, if it has one); ``action_form``: the action form a model in memory was
    trained on (:meth:`RTActionForm.record`, :meth:`DAActionForm.record`; TwoSettlement-v0
    ``{"da_action": ..., "rt_action": ...}``). Columns: ``scenario_id``, ``seed``, the ledger
    lines ($), ``profit_usd``, ``penalties_usd`` (no-pay + unavailable + penalty, as a positive $),
    ``oracle_profit_usd``, ``capture_pct`` (100 x profit / oracle profit), then the
    leaderboard's other per-day figures (cycles, shortfall per product, fallbacks, decision
    latency). ``frame.attrs["summary"]`` holds :func:`summarise` of the rows.
    """
    seeds = list(seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0 for s in seeds):
        raise ValueError(f"seeds must be whole numbers >= 0 (at least one), got {seeds!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1):
        raise ValueError(f"limit must be a whole number >= 1 (the first days of the split) or None, got {limit!r}")
    defaults = gym.spec(env_id).kwargs if env_id in ENV_IDS else {}

    def pair(seed: int) -> tuple[Any, Any]:
        """(bidder, policy) for a seed: ``{seed}`` in a spec string is the seed, as in suites."""
        own = model_or_policy.replace("{seed}", str(seed)) if isinstance(model_or_policy, str) else model_or_policy
        component = as_component(own, env_id, vecnormalize, action_form)
        if env_id == ENV_IDS[2]:  # both levels
            return component, component
        if env_id == ENV_IDS[0]:
            return resolve(defaults["da_bidder"] if da_bidder is None else da_bidder, "da_bidder"), component
        return component, resolve(defaults["rt_policy"] if rt_policy is None else rt_policy)

    cache = oracle_cache if isinstance(oracle_cache, OracleCache) else OracleCache(oracle_cache)
    base = load_config(config)
    rows = []
    for seed in seeds:
        source = EpisodeSource(base.model_copy(update={"seed": int(seed)}), split, da_bidder=None)
        bidder, policy = pair(int(seed))
        for scenario_id in source.ids[:limit]:
            metrics = play_episode(source, scenario_id, bidder, policy).metrics()
            lines = {line: metrics.pop(line) for line in LEDGER_LINES}
            profit, oracle = metrics.pop("profit_total_usd"), cache.profit(source, scenario_id)
            rows.append({
                "scenario_id": scenario_id, "seed": int(seed), **lines, "profit_usd": profit,
                "penalties_usd": -sum(lines[line] for line in PENALTY_LINES), "oracle_profit_usd": oracle,
                "capture_pct": capture_rate(profit, oracle), **metrics,
            })
    frame = pd.DataFrame(rows)
    frame.attrs["summary"] = summarise(frame)
    return frame


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """KPIs per seed and over all rows (CityLearn style): days, profit, oracle profit and
    penalties in $ per day, capture rate (100 x sum of profit / sum of oracle profit, by
    :func:`bessgym.evaluation.capture_rates`) and equivalent cycles per day."""
    groups = [(f"seed {seed}", rows) for seed, rows in frame.groupby("seed")] + [("all", frame)]
    table = {
        name: {
            "days": len(rows),
            "profit $/day": rows["profit_usd"].mean(),
            "oracle profit $/day": rows["oracle_profit_usd"].mean(),
            "capture %": float(capture_rates(rows["profit_usd"].to_numpy(), rows["oracle_profit_usd"].to_numpy())),
            "penalties $/day": rows["penalties_usd"].mean(),
            "cycles/day": rows["equivalent_cycles"].mean(),
        }
        for name, rows in groups
    }
    return pd.DataFrame(table).rename_axis("kpi")
