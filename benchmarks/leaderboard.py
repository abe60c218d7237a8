"""The leaderboard: every entry of a suite on real days, through the simulator only.

    python -m benchmarks.leaderboard --suite quick       # or: bessgym-leaderboard --suite quick
    python -m benchmarks.leaderboard --entry mine=mymodule:MyBidder,mymodule:MyPolicy
    python -m benchmarks.leaderboard --suite full --workers 2 --out results/full --resume
    python -m benchmarks.leaderboard --data my_market.csv.gz --node N1 --timezone America/New_York
    python -m benchmarks.leaderboard --backend ray --address ray://head:10001
    python -m benchmarks.leaderboard --proxy-track       # learned DA proxies vs HiGHS, see proxy_track

An entry is a DA bidder and an RT policy (spec strings, see ``bessgym.policies.load_component``;
``{seed}`` in a spec is replaced by the run's seed, for trained agents), from the suite or from
``--entry`` (the suite then gives only the config, split, seeds and budget). The current folder
is on the import path of the run and its workers; every spec is imported, constructed and checked
against its protocol before any day runs. Each task is one entry
on one day and seed. The privileged references of the value ladder run once per day and seed,
are shown and never ranked: full hindsight (the perfect-foresight oracle, the capture rate's
denominator), energy only (the oracle without AS) and prices known (the suite's
``prices_known`` pipeline given the realised DA, AS and RT prices as its forecasts, but not the
deployment). Rows are written as tasks finish, so ``--resume`` continues an interrupted run
without losing or repeating any. An entry that raises or runs past the suite's time budget on a
day gets a row with ``status=error`` and the message; the run goes on.

A suite of kind ``ges`` (``--suite ges``) runs the aggregator's portfolio of generalised storage
instead (:func:`ges_row`): each entry a DA planner (``plan(assets, prices)``, e.g.
``baselines.aggregator:AggregatorDA?model=M3``) and an RT policy (``plan``, the plan's own split,
or a GESRealTime-v0 split policy such as ``bessgym.envs.ges:headroom_split``) on one world draw
per day and seed, against the references ``hindsight`` and ``idle``; its CSVs have their own
columns (:data:`GES_EPISODE_COLUMNS`, :data:`GES_REFERENCE_COLUMNS`) and it has no trajectories
or plots.

A suite of kind ``neighborhood`` (``--suite neighborhood``) runs the homes of Neighborhood-v0
(``bessgym.community``) one day at a time (:func:`neighborhood_row`): each entry's ``da_bidder``
a community policy (:func:`load_home_policy`: ``reset(env)`` and ``act(obs)``, e.g.
``baselines.community:Truthful``, or a class built on its env, e.g.
``baselines.community_lp:HomeMPC``), its ``rt_policy`` the market mechanism (``k_double`` or
``mcafee``, with ``?rounds=R`` for R calls an hour: :func:`market_spec`), under the suite's ``tariff``, on the days of :func:`neighborhood_days` with the
seed drawing the homes' devices (and filling ``{seed}`` in a spec), against the references
``oracle`` (``baselines.community_lp.CommunityOracle``, the community's cost's lower bound) and
``no_market`` (``baselines.community.RuleBased``); its CSVs have their own columns
(:data:`NEIGHBORHOOD_EPISODE_COLUMNS`, :data:`NEIGHBORHOOD_REFERENCE_COLUMNS`).

Outputs in ``--out`` (default ``leaderboard/SUITE``; a new ``leaderboard/SUITE-2``, ``-3``, ...
when that holds an earlier run, unless ``--resume`` or ``--overwrite``): ``episodes.csv``,
``oracle.csv`` (the references), ``run.json``, ``trajectories.json`` (representative days
replayed with their paths), ``leaderboard.md`` and PNG plots (see :mod:`benchmarks.report` and
:mod:`benchmarks.plots`); the run ends by listing them with its wall time.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import hashlib
import importlib
import importlib.util
import inspect
import json
import os
import platform
import re
import signal
import sys
import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, wait
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace
from functools import partial
from importlib import metadata
from multiprocessing import get_context
from pathlib import Path
from typing import Annotated, Any, Callable, Iterator, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from tqdm import tqdm

from baselines.aggregator import Hindsight
from bessgym.cli import number
from bessgym.config import Config, ConfigError, load_config
from bessgym.ddu import BaseDraws, baseline_soc
from bessgym.evaluation import capture_rate
from bessgym.market import PRODUCTS, check_timezone
from bessgym.policies import load_component
from bessgym.portfolio import Asset, Case, Outcome, Schedule, case_day, ev_unmet_mwh, planned_cost, realise, violation_rate
from bessgym.rtd import MODEL_FILE as RTD_MODEL_FILE
from bessgym.scenarios import stable_seed
from bessgym.settlement import LEDGER_LINES, Ledger

from benchmarks.plots import PLOT_FILES
from bessgym.community.neighborhood import MECHANISMS
from bessgym.community.tariff import TARIFFS

from benchmarks.report import (ENERGY_ONLY, FULL_HINDSIGHT, GES_HINDSIGHT, GES_IDLE, NEIGHBORHOOD_NO_MARKET,
                               NEIGHBORHOOD_ORACLE, PRICES_KNOWN)

SUITES_DIR = Path(__file__).resolve().parent / "suites"
COUNT = number(int, at_least=1, below=1_000_001)
"""The argparse type of a count option (seeds, workers, days, threads): a whole number from 1 to a million."""
EPISODE_COLUMNS = [
    "entry", "da_bidder", "rt_policy", "split", "scenario_id", "seed", *LEDGER_LINES, "profit_total_usd",
    "oracle_profit_usd", "capture_pct", "throughput_mwh", "equivalent_cycles",
    *(f"shortfall_{p}_mwh" for p in PRODUCTS), "repairs_mw", "bid_fallback", "rt_fallbacks", "bid_seconds",
    "decision_ms_p50", "decision_ms_p95", "status", "error",
]
ORACLE_COLUMNS = ["reference", "scenario_id", "seed", *LEDGER_LINES, "profit_total_usd", "status", "error"]
REFERENCES = (FULL_HINDSIGHT, ENERGY_ONLY, PRICES_KNOWN)
GES_METRICS = ["planned_cost_usd", "lorp", "erns_mwh", "violation_share", "binding_rows", "ev_unmet_mwh", "comfort_c",
               "iterations", "converged", "plan_seconds"]
GES_EPISODE_COLUMNS = [
    "entry", "da_bidder", "rt_policy", "split", "scenario_id", "seed", *LEDGER_LINES, "profit_total_usd",
    "hindsight_profit_usd", "idle_profit_usd", *GES_METRICS, "status", "error",
]
"""``episodes.csv`` of a ges suite (see :func:`ges_row`)."""
GES_REFERENCE_COLUMNS = ["reference", "scenario_id", "seed", *LEDGER_LINES, "profit_total_usd", *GES_METRICS, "status", "error"]
"""``oracle.csv`` of a ges suite: the references ``hindsight`` and ``idle``."""
GES_REFERENCES = (GES_HINDSIGHT, GES_IDLE)
PLAN_SPLIT = "plan"
"""A ges entry's ``rt_policy`` that keeps the DA plan's own split (``bessgym.portfolio.realise``)."""
NEIGHBORHOOD_METRICS = ["cost_usd", "bill_usd", "sellers_earn_usd", "buyers_pay_usd", "market_kwh", "pv_kwh", "local_pv_share",
                        "discomfort_c_h", "ev_unmet_kwh", "max_gains_usd", "realised_gains_usd", "home_cost_usd", "seconds",
                        "fallbacks"]
"""A neighbourhood day's figures (:func:`neighborhood_row`); ``home_cost_usd`` is a JSON object of each home's cost."""
NEIGHBORHOOD_EPISODE_COLUMNS = ["entry", "da_bidder", "rt_policy", "split", "scenario_id", "seed", "day", *NEIGHBORHOOD_METRICS,
                                "oracle_cost_usd", "no_market_cost_usd", "status", "error"]
"""``episodes.csv`` of a neighborhood suite: each entry's day and the day's reference costs."""
NEIGHBORHOOD_REFERENCE_COLUMNS = ["reference", "scenario_id", "seed", "day", *NEIGHBORHOOD_METRICS, "status", "error"]
"""``oracle.csv`` of a neighborhood suite: the references ``oracle`` and ``no_market``."""
NEIGHBORHOOD_REFERENCES = (NEIGHBORHOOD_ORACLE, NEIGHBORHOOD_NO_MARKET)
NEIGHBORHOOD_SPLITS = ("test", "all")
"""The neighbourhood's splits of the homes' year (:func:`neighborhood_days`)."""
DEFAULT_TARIFF = "wholesale_export"
COLUMNS = {"battery": (EPISODE_COLUMNS, ORACLE_COLUMNS), "ges": (GES_EPISODE_COLUMNS, GES_REFERENCE_COLUMNS),
           "neighborhood": (NEIGHBORHOOD_EPISODE_COLUMNS, NEIGHBORHOOD_REFERENCE_COLUMNS)}
"""Each suite kind's columns of ``episodes.csv`` and ``oracle.csv``."""
MAX_SEED = 2**31 - 1


class Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    name: str = Field(min_length=1, pattern=r"^[^,]+$", description="unique in its suite; no comma (--entries "
                      "splits on it), not starting with 'oracle' (the table's reference rows)")
    da_bidder: str = Field(min_length=1)
    rt_policy: str = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _not_a_reference(cls, name: str) -> str:
        if name.startswith("oracle"):
            raise ValueError(f"entry name {name!r} starts with 'oracle', which the table keeps for its reference rows")
        return name


class Suite(BaseModel):
    """A suite file: its kind, the config (preset, path or dict), split, seeds, per-task time
    budget, entries, and (battery) the pipeline that the value ladder's prices-known reference plays."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="letters, digits, '_', '.', '-': it names the "
                      "default output folder leaderboard/NAME")
    description: str = ""

    @field_validator("name")
    @classmethod
    def _a_folder_name(cls, name: str) -> str:
        if name in (".", ".."):
            raise ValueError(f"suite name {name!r} is not a folder name")
        return name

    kind: Literal["battery", "ges", "neighborhood"] = Field(
        "battery", description="battery: the battery's DA bidder and RT policy (bid, reset/act) against the oracle's value "
                               "ladder; ges: the aggregator's portfolio of generalised storage (bessgym.portfolio.case_day), "
                               "each entry's da_bidder a planner with plan(assets, prices) (baselines.aggregator), its "
                               "rt_policy 'plan' or a GESRealTime-v0 split policy (bessgym.envs.ges:headroom_split), "
                               "against hindsight and idle; neighborhood: the homes of Neighborhood-v0, each entry's "
                               "da_bidder a community policy (baselines.community:Truthful, baselines.community_lp:HomeMPC), "
                               "its rt_policy the market mechanism (k_double or mcafee), against the community oracle and "
                               "no market")
    config: str | dict = "caiso-sp15"
    split: str = "test"
    seeds: list[Annotated[int, Field(strict=True, ge=0, le=MAX_SEED)]] = Field(default_factory=lambda: [0], min_length=1)
    time_budget_s: float = Field(120.0, gt=0, le=86400.0, allow_inf_nan=False)
    entries: list[Entry] = Field(min_length=1)
    tariff: str | None = Field(None, description="kind neighborhood only: the utility's profile, one of "
                               "bessgym.community.tariff.TARIFFS (default wholesale_export)")
    prices_known: Entry = Field(
        default_factory=lambda: Entry(name="prices-known", da_bidder="baselines.reference:ForecastLP?follow_schedule=false",
                                      rt_policy="baselines.mpc:MPCPolicy?forecast=gate_closure"),
        description="the pipeline given the realised prices for the value ladder (default: ForecastLP + MPC, its DA "
                    "plan free to trade the DA-RT spread it now knows, its MPC planning on the gate-closure forecast: "
                    "the realised RT prices)",
    )

    @model_validator(mode="before")
    @classmethod
    def _default_tariff(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("kind") == "neighborhood" and data.get("tariff") is None:
            return {**data, "tariff": DEFAULT_TARIFF}
        return data

    @model_validator(mode="after")
    def _ladder_is_the_batterys(self) -> "Suite":
        if self.kind != "battery" and self.prices_known != Suite.model_fields["prices_known"].default_factory():
            raise ValueError(f"prices_known applies to kind 'battery' only (a {self.kind} suite has its own references); "
                             "leave it out")
        if self.kind != "neighborhood" and self.tariff is not None:
            raise ValueError(f"tariff applies to kind 'neighborhood' only (got {self.tariff!r} in a {self.kind} suite); "
                             "leave it out")
        if self.kind == "neighborhood":
            if self.tariff not in TARIFFS:
                raise ValueError(f"tariff {self.tariff!r} is not one of {list(TARIFFS)}")
            if self.config != Suite.model_fields["config"].default:
                raise ValueError(f"config {self.config!r}: a neighborhood suite runs the shipped homes, priced with the "
                                 f"{Suite.model_fields['config'].default} data; leave config out")
            if self.split not in NEIGHBORHOOD_SPLITS:
                raise ValueError(f"split {self.split!r} is not one of {list(NEIGHBORHOOD_SPLITS)} (a neighborhood suite's "
                                 "days of the homes' year)")
        return self

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds {seeds} repeat a seed; each seed is run once")
        return seeds

    @field_validator("entries")
    @classmethod
    def _distinct_names(cls, entries: list[Entry]) -> list[Entry]:
        names = [e.name for e in entries]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"entry names {twice} appear more than once; rows are told apart by name")
        return entries


def suite_record(suite: Suite) -> dict:
    """The suite as ``run.json`` records it (what ``--resume`` compares): a battery suite without
    its kind and tariff, as before kinds existed (so its earlier runs resume), a ges suite without
    the battery's ``prices_known`` and the neighbourhood's ``tariff``, a neighborhood suite
    without ``prices_known``."""
    exclude = {"battery": {"kind", "tariff"}, "ges": {"prices_known", "tariff"}, "neighborhood": {"prices_known"}}
    return suite.model_dump(mode="json", exclude=exclude[suite.kind])


def load_suite(name_or_path: str) -> Suite:
    """A shipped suite by name (``quick``, ``full``) or a suite JSON file."""
    path = SUITES_DIR / f"{name_or_path}.json" if not name_or_path.endswith(".json") else Path(name_or_path)
    if not path.is_file():
        shipped = sorted(p.stem for p in SUITES_DIR.glob("*.json"))
        raise SystemExit(f"error: suite {name_or_path!r} is neither a shipped suite ({', '.join(shipped)}) nor a JSON file")
    try:
        return Suite.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        raise SystemExit(f"error: suite {path} is invalid: {_problems(exc)}") from None


@dataclass(frozen=True)
class Task:
    """One unit of work on one day and seed: an entry, or a reference of the value ladder
    (``reference`` set; ``entry`` is the pipeline of the prices-known reference). ``example``:
    also return the day's path (SoC, base points, DA schedule; the oracle's with the prices).
    ``kind``: the suite's (a ges task runs :func:`ges_row`, a neighborhood task
    :func:`neighborhood_row`)."""

    scenario_id: str
    seed: int
    entry: Entry | None = None
    example: bool = False
    reference: str | None = None
    kind: str = "battery"


# --- worker side -------------------------------------------------------------------------------

_SOURCES: dict[tuple[str, str], Any] = {}
_BIDDERS: dict[str, Any] = {}


class TimeBudgetExceeded(BaseException):
    """A task past its time budget: a BaseException, so that a plug-in's or a library's
    ``except Exception`` (the solver's around HiGHS) does not swallow it."""


WORKER_GRACE_S = 30.0
"""Seconds past a task's time budget after which the local pool stops its worker: room for a
worker's first task to load the data, and for the timer inside it to end the work."""


def _with_budget(seconds: float, work: Callable[[], dict]) -> dict:
    """Run ``work`` under a wall-clock budget where the platform allows (Unix, main thread)."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        return work()

    def expire(signum: int, frame: Any) -> None:
        raise TimeBudgetExceeded(f"exceeded the time budget of {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return work()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_task(task: Task, config_json: str, split: str, budget_s: float) -> dict:
    """Run one task in a worker; always returns a row (errors become ``status=error``). The time
    budget: a timer in the worker interrupts the work, and work that took longer is an error
    whatever it returned (a plug-in that catches the timer's exception gains nothing); the local
    pool also stops a worker that has not answered :data:`WORKER_GRACE_S` after the budget.
    ``config_json``: the Config's JSON; for a neighborhood task, its settings ``{"tariff": ...}``."""
    row = _identity(task, split)
    if task.kind == "neighborhood":
        work: Callable[[], dict] = partial(neighborhood_row, task, json.loads(config_json)["tariff"])
    elif task.kind == "ges":
        config = Config.model_validate_json(config_json)
        work = partial(ges_row, task, config, config_json)
    else:
        config = Config.model_validate_json(config_json)
        work = _battery_work(task, config, config_json, split)
    start = time.perf_counter()
    try:
        result = _with_budget(budget_s, work)
        if time.perf_counter() - start > budget_s:
            raise TimeBudgetExceeded(f"took {time.perf_counter() - start:.1f} s, past the time budget of {budget_s:g} s")
        row.update(result)
        row["status"], row["error"] = "ok", ""
    except BaseException as exc:  # failure isolation: a plug-in's sys.exit, KeyboardInterrupt or own class too
        row.update(status="error", error=_describe(exc)[:500])
        try:
            where = traceback.format_exc(limit=2).splitlines()[-1][:200]
        except BaseException:  # an exception whose text itself raises
            where = row["error"]
        if not isinstance(exc, TimeBudgetExceeded) and where != row["error"]:
            row["error"] += " | " + where
    return row


def _battery_work(task: Task, config: Config, config_json: str, split: str) -> Callable[[], dict]:
    """The work of a battery task: a reference of the value ladder or an entry's day."""
    from bessgym.envs.episodes import EpisodeSource
    from bessgym.evaluation import play_episode
    from bessgym.policies import load_component

    key = (config_json, split)
    if key not in _SOURCES:
        _SOURCES[key] = EpisodeSource(config, split, da_bidder=None)
    source = _SOURCES[key]

    def oracle() -> dict:
        from baselines.oracle import PerfectForesight

        scenario, _ = source.day(task.scenario_id)
        replay = PerfectForesight(config.battery, config.market_profile, energy_only=task.reference == ENERGY_ONLY).replay(scenario)
        out = {**replay.totals.as_dict(), "profit_total_usd": float(replay.profit)}
        if task.example:  # the example day's path, and its prices, for the trajectories plot
            out["trajectory"] = {"soc_frac": (replay.e_mwh / config.battery.energy_mwh).tolist(),
                                 "base_mw": replay.base_mw.tolist(), "schedule_mw": replay.energy_mw.tolist(),
                                 "da_price": scenario.da_price.tolist(), "rt_price": scenario.rt_price.tolist()}
        return out

    def entry() -> dict:
        assert task.entry is not None
        bidder_spec = task.entry.da_bidder.replace("{seed}", str(task.seed))
        if bidder_spec not in _BIDDERS:
            _BIDDERS[bidder_spec] = load_component(bidder_spec)
        policy = load_component(task.entry.rt_policy.replace("{seed}", str(task.seed)))
        record = play_episode(source, task.scenario_id, _BIDDERS[bidder_spec], policy)
        out = record.metrics()
        if task.example:
            out["trajectory"] = {"soc_frac": record.soc_frac.tolist(), "base_mw": record.base_mw.tolist(),
                                 "schedule_mw": record.schedule_mw.tolist()}
        return out

    return oracle if task.reference in (FULL_HINDSIGHT, ENERGY_ONLY) else entry


# --- the ges suite: the aggregator's portfolio of generalised storage ----------------------------

_SCENARIO_SETS: dict[str, Any] = {}
_CASES: dict[tuple[str, str], Case] = {}
_PLANNERS: dict[str, Any] = {}
_PLANS: dict[tuple[str, str, str], Any] = {}


_SESSIONS: list[Any] = []


def _ev_sessions() -> Any:
    """The shipped EV sessions (a DataFrame), read once per worker. (A plain cache, not
    ``lru_cache``: run as ``python -m``, this module is ``__main__`` and Ray pickles its functions
    by value, which an ``lru_cache`` wrapper does not survive on the worker.)"""
    from bessgym.ges_data import load_ev_sessions

    if not _SESSIONS:
        _SESSIONS.append(load_ev_sessions())
    return _SESSIONS[0]


def ges_case(config: Config, config_json: str, scenario_id: str) -> Case:
    """The day's :class:`bessgym.portfolio.Case` (``case_day`` with its defaults and the config's
    battery), cached in the worker."""
    from bessgym.scenarios import ScenarioSet

    if (config_json, scenario_id) not in _CASES:
        if config_json not in _SCENARIO_SETS:
            _SCENARIO_SETS[config_json] = ScenarioSet(config)
        scenario = _SCENARIO_SETS[config_json].get(scenario_id)
        _CASES[config_json, scenario_id] = case_day(scenario, battery=config.battery, sessions=_ev_sessions())
    return _CASES[config_json, scenario_id]


def ges_world(case: Case, config_seed: int, scenario_id: str, seed: int) -> dict[str, BaseDraws]:
    """The world of a (day, seed): one draw of each uncertain asset's bounds (``BaseDraws``, in
    asset order) from an RNG seeded with ``stable_seed(config_seed, scenario_id, seed)``; the
    same for every entry and reference of that day and seed."""
    rng = np.random.default_rng(stable_seed(config_seed, scenario_id, seed))
    n = len(case.prices.da)
    return {a.name: BaseDraws.draw(1, n, rng) for a in case.assets if a.uncertainty is not None}


def idle_schedule(assets: tuple[Asset, ...]) -> Schedule:
    """The zero plan: no response and no reserve, every asset on its baseline's SoC path (the
    baseline is bought in DA, its error settles in RT); no chance rows (``limits`` None)."""
    zero = np.zeros((len(assets), assets[0].ges.n_intervals))
    return Schedule(zero, zero.copy(), zero.copy(), zero.copy(), np.array([baseline_soc(a.ges) for a in assets]))


def load_split_policy(spec: str) -> Callable[[Any], Any] | None:
    """A ges entry's RT policy: None for ``plan`` (the DA plan's own split), else the
    GESRealTime-v0 split policy ``spec`` names, a callable ``policy(env) -> action (3 m,)``: a
    function (``bessgym.envs.ges:headroom_split``) as it is, a class or a spec with
    ``?key=value`` arguments constructed by ``bessgym.policies.load_component``."""
    if spec == PLAN_SPLIT:
        return None
    found = _import_target(spec, f"rt_policy {spec!r} is neither {PLAN_SPLIT!r} nor 'package.module:attr' (a "
                                 "GESRealTime-v0 split policy, e.g. bessgym.envs.ges:headroom_split)")
    policy = load_component(spec) if "?" in spec or isinstance(found, type) else found
    if not callable(policy):
        raise ValueError(f"spec {spec!r} gives a {type(policy).__name__}, which is not callable; a split policy is "
                         "called as policy(env) -> action")
    return policy


def _import_target(spec: str, malformed: str) -> Any:
    """The attribute a ``package.module:attr[?args]`` spec names, imported; a ValueError (``malformed``
    when the spec has no ``module:attr``)."""
    module_name, _, attr = spec.partition("?")[0].strip().partition(":")
    if not module_name or not attr:
        raise ValueError(malformed)
    try:
        return getattr(importlib.import_module(module_name), attr)
    except ImportError as exc:
        raise ValueError(f"spec {spec!r}: cannot import module {module_name!r}: {exc}") from None
    except AttributeError:
        raise ValueError(f"spec {spec!r}: module {module_name!r} has no attribute {attr!r}") from None


_GES_ENVS: dict[str, Any] = {}


def ges_real_time_env(config: Config) -> Any:
    """A GESRealTime-v0 of ``config`` over all its days (one per worker and config): the
    leaderboard gives it each day's plan and world."""
    from bessgym.envs.ges import GESRealTimeEnv

    key = config.model_dump_json()
    if key not in _GES_ENVS:
        _GES_ENVS[key] = GESRealTimeEnv(config, "all")
    return _GES_ENVS[key]


def play_ges_day(case: Case, config: Config, schedule: Schedule, world: dict[str, BaseDraws],
                 policy: Callable[[Any], Any] | None) -> Outcome:
    """The day ``schedule`` realises on ``world`` (one draw) as a ``bessgym.portfolio.Outcome``:
    ``policy`` None keeps the plan's split (``realise``); a split policy plays the day through
    GESRealTime-v0 given the plan and the world, its ledger, reserve short, final SoC and SoC
    excursion replacing the plan's (the chance rows broken stay the plan's: they compare the plan with the
    draw)."""
    planned = realise(case.assets, case.prices, config.market_profile, schedule, world)
    if policy is None:
        return planned
    env = ges_real_time_env(config)
    env.reset(options={"scenario": case.scenario_id, "plan": schedule, "world": world})
    m, n = len(case.assets), len(case.prices.da)
    short, excursion, totals = np.zeros((1, m, 2, n)), np.zeros((1, m)), np.zeros(len(LEDGER_LINES))
    for t in range(n):
        _, _, _, _, info = env.step(policy(env))
        totals += [info[line] for line in LEDGER_LINES]
        short[0, :, 0, t], short[0, :, 1, t] = info["short_up_by_asset_mw"], info["short_down_by_asset_mw"]
        excursion[0] = np.maximum(excursion[0], info["soc_excursion_by_asset"])
    ledger = Ledger(*(np.array([v]) for v in totals))
    return replace(planned, ledger=ledger, short_mw=short, final_soc=env.soc[None], soc_excursion=excursion)


def comfort_c(case: Case, outcome: Outcome) -> float:
    """How far (degC) the thermostat fleet was pushed beyond the band its customers accepted that
    day (its realised SoC bounds; SoC times the units' mean deadband): the SoC excursion the
    fleet could not avoid, 0 when it kept within."""
    tcl = [i for i, a in enumerate(case.assets) if a.kind == "tcl"]
    return float(outcome.soc_excursion[0, tcl].max(initial=0.0) * case.tcl.deadband_c.mean())


def violation_share(case: Case, schedule: Schedule, outcome: Outcome) -> tuple[float, int]:
    """``bessgym.portfolio.violation_rate`` of a one-draw ``outcome``: the share of the plan's
    binding chance rows the draw breaks, and how many bind (NaN, 0 for a plan without limits)."""
    if schedule.limits is None:
        return float("nan"), 0
    return violation_rate(case.assets, outcome, schedule)


def ges_row(task: Task, config: Config, config_json: str) -> dict:
    """A ges task's figures: an entry (its planner's plan for the day, cached per spec and day,
    played with its RT policy) or a reference (``hindsight``: ``baselines.aggregator.Hindsight``
    knowing the world; ``idle``: :func:`idle_schedule`), on the world of :func:`ges_world`: the
    ledger lines ($, + earned), ``profit_total_usd``, ``planned_cost_usd`` (the plan's DA cost),
    ``lorp`` (share of intervals with reserve short), ``erns_mwh`` (reserve not held, MWh per
    day), ``violation_share`` and ``binding_rows`` (:func:`violation_share`), the plan's
    ``iterations``, ``converged`` and ``plan_seconds``."""
    case = ges_case(config, config_json, task.scenario_id)
    world = ges_world(case, config.seed, task.scenario_id, task.seed)
    policy = None
    if task.reference == GES_IDLE:
        schedule, iterations, converged, seconds = idle_schedule(case.assets), 0, True, 0.0
    else:
        if task.reference == GES_HINDSIGHT:
            plan = Hindsight(world).plan(case.assets, case.prices)
        else:
            assert task.entry is not None
            spec = task.entry.da_bidder.replace("{seed}", str(task.seed))
            if (config_json, spec, task.scenario_id) not in _PLANS:
                if spec not in _PLANNERS:
                    _PLANNERS[spec] = load_component(spec)
                _PLANS[config_json, spec, task.scenario_id] = _PLANNERS[spec].plan(case.assets, case.prices)
            plan = _PLANS[config_json, spec, task.scenario_id]
            policy = load_split_policy(task.entry.rt_policy.replace("{seed}", str(task.seed)))
        schedule, iterations, converged = plan.schedule, int(plan.iterations), bool(plan.converged)
        seconds = float(getattr(plan, "seconds", float("nan")))
    outcome = play_ges_day(case, config, schedule, world, policy)
    share, binding = violation_share(case, schedule, outcome)
    lines = Ledger(*(float(line[0]) for line in outcome.ledger))
    return {**lines.as_dict(), "profit_total_usd": float(lines.total),
            "planned_cost_usd": planned_cost(case.assets, case.prices, schedule), "lorp": outcome.lorp,
            "erns_mwh": outcome.erns_mwh, "violation_share": share, "binding_rows": binding,
            "ev_unmet_mwh": float(ev_unmet_mwh(case.assets, outcome)[0]), "comfort_c": comfort_c(case, outcome),
            "iterations": iterations,
            "converged": converged, "plan_seconds": seconds}


# --- the neighborhood suite: the homes' market (bessgym.community) ------------------------------

def neighborhood_days(split: str) -> list[int]:
    """The days (0 .. 364) of the homes' year a neighborhood split holds: ``all`` every day;
    ``test`` ``bessgym.community.env.TEST_DAYS`` (one day a week, every weekday drawn; a learned
    policy trains on the others, ``TRAIN_DAYS``)."""
    from bessgym.community.env import DAYS, TEST_DAYS

    if split == "all":
        return list(range(DAYS))
    if split == "test":
        return list(TEST_DAYS)
    raise ValueError(f"split {split!r} is not one of {list(NEIGHBORHOOD_SPLITS)} (a neighborhood suite's days of the "
                     "homes' year)")


def neighborhood_scenario(day: int) -> str:
    """A neighbourhood day's ``scenario_id``: ``day-007``."""
    return f"day-{day:03d}"


ENV_PARAMETER = "env"
"""The first constructor parameter of a community policy built on its env (:func:`load_home_policy`)."""


def _env_bound(factory: Any) -> bool:
    """Whether ``factory`` is a class whose constructor's first parameter is :data:`ENV_PARAMETER`."""
    if not isinstance(factory, type):
        return False
    try:
        parameters = list(inspect.signature(factory).parameters)
    except (TypeError, ValueError):
        return False
    return bool(parameters) and parameters[0] == ENV_PARAMETER


def _spec_arguments(spec: str) -> dict[str, Any]:
    """The ``?key=value&...`` arguments of ``spec``, read as ``bessgym.policies.load_component`` reads them."""
    return load_component(f"builtins:dict?{spec.partition('?')[2]}")


def load_home_policy(spec: str, env: Any) -> Any:
    """A neighborhood entry's community policy for ``env`` (a Neighborhood-v0), ready for its day.
    The protocol: ``act(obs) -> actions`` each hour (observations and actions per agent, as the env
    has them), and either

    * ``reset(env)``, called here (``baselines.community``: RuleBased, Truthful, ZeroIntelligence),
      the policy built by ``bessgym.policies.load_component(spec)``; or
    * a class whose constructor's first parameter is ``env`` (``baselines.community_lp:HomeMPC``):
      built here as ``cls(env, **arguments)`` with the spec's ``?key=value`` arguments.

    A policy is built for each day (its state, e.g. a ZI trader's RNG or the MPC's ``fallbacks``,
    is the day's)."""
    factory = _import_target(spec, f"da_bidder {spec!r} is not 'package.module:attr' (a community policy, e.g. "
                                   "baselines.community:Truthful)")
    if _env_bound(factory):
        policy = factory(env, **_spec_arguments(spec))
    else:
        policy = load_component(spec)
        reset = getattr(policy, "reset", None)
        if not callable(reset):
            raise ValueError(f"da_bidder {spec!r} gives a {type(policy).__name__} without reset(env); a community policy "
                             "has reset(env) and act(obs), or is a class built on its env (first parameter 'env')")
        reset(env)
    if not callable(getattr(policy, "act", None)):
        raise ValueError(f"da_bidder {spec!r} gives a {type(policy).__name__} without act(obs)")
    return policy


def market_spec(rt_policy: str) -> tuple[str, int]:
    """A neighborhood entry's ``rt_policy`` as (mechanism, calls per hour): ``k_double`` or
    ``mcafee`` (one call an hour), or with ``?rounds=R`` (a repeated call market of R calls,
    ``bessgym.community.neighborhood.HourMarket``)."""
    from bessgym.community.neighborhood import MAX_ROUNDS

    mechanism, _, query = rt_policy.partition("?")
    allowed = f"one of {list(MECHANISMS)}, optionally with '?rounds=R' (R calls an hour, 1 .. {MAX_ROUNDS})"
    if mechanism not in MECHANISMS:
        raise ValueError(f"rt_policy {rt_policy!r} is not a market mechanism; a neighborhood suite's rt_policy is {allowed}")
    try:
        arguments = _spec_arguments(rt_policy) if query else {}
    except ValueError:
        arguments = {"": query}  # not key=value pairs: refused below
    rounds = arguments.pop("rounds", 1)
    if arguments or isinstance(rounds, bool) or not isinstance(rounds, int) or not 1 <= rounds <= MAX_ROUNDS:
        raise ValueError(f"rt_policy {rt_policy!r} has arguments {query!r}; allowed: {allowed}")
    return mechanism, rounds


_NEIGHBORHOOD_ENVS: dict[tuple[str, str, int], Any] = {}


def neighborhood_env(tariff: str, rt_policy: str, seed: int) -> Any:
    """A Neighborhood-v0 of the shipped homes under ``tariff`` and the market of ``rt_policy``
    (:func:`market_spec`), devices drawn from ``seed``, built once per worker."""
    from bessgym.community.env import NeighborhoodEnv

    key = (tariff, rt_policy, seed)
    if key not in _NEIGHBORHOOD_ENVS:
        mechanism, rounds = market_spec(rt_policy)
        _NEIGHBORHOOD_ENVS[key] = NeighborhoodEnv(tariff=tariff, mechanism=mechanism, seed=seed, rounds=rounds)
    return _NEIGHBORHOOD_ENVS[key]


def neighborhood_row(task: Task, tariff: str) -> dict:
    """A neighborhood task's figures for its day (``scenario_id`` ``day-NNN``) and seed (the
    devices'), $ and kWh over the day and the homes: an entry (its policy, :func:`load_home_policy`,
    under its mechanism), the reference ``no_market`` (``baselines.community.RuleBased``: no orders)
    or ``oracle`` (``baselines.community_lp.CommunityOracle``'s plan: the community as one meter
    with perfect foresight; its cost bounds every policy's from below).

    A played day gives ``benchmarks.community.Year.figures``: ``bill_usd`` (the homes' bills),
    ``sellers_earn_usd``, ``buyers_pay_usd``, ``market_kwh``, ``pv_kwh``, ``local_pv_share``,
    ``discomfort_c_h``, ``ev_unmet_kwh``, ``max_gains_usd`` and ``realised_gains_usd`` (gains from
    trade at the homes' reservation values, over the hours with any; their ratio the allocative
    efficiency); ``cost_usd`` the community's cost (bills plus discomfort at the env's price, minus the
    sum of the rewards), ``home_cost_usd`` each home's (a JSON object by agent), ``seconds`` and
    the policy's ``fallbacks`` (0 without the attribute). The oracle's row: ``cost_usd`` its
    objective, ``bill_usd`` its one-meter utility bill, ``discomfort_c_h``, ``pv_kwh``,
    ``local_pv_share`` (1 - the community's export / PV) and its solve's ``seconds``."""
    from benchmarks.community import Year

    day = int(task.scenario_id.removeprefix("day-"))
    start = time.perf_counter()
    if task.reference == NEIGHBORHOOD_ORACLE:
        from baselines.community_lp import CommunityOracle

        world = neighborhood_env(tariff, MECHANISMS[0], task.seed).world
        plan = CommunityOracle(world).plan(day)
        hours = plan.import_kwh.size  # 24
        pv = float(world.pv_kwh[:, day * hours:(day + 1) * hours].sum())
        return {"day": day, "cost_usd": plan.cost_usd, "bill_usd": plan.utility_usd,
                "discomfort_c_h": float(plan.discomfort_c.sum()), "pv_kwh": pv,
                "local_pv_share": 1.0 - float(plan.export_kwh.sum()) / pv if pv > 0 else float("nan"),
                "seconds": time.perf_counter() - start, "fallbacks": 0}
    if task.reference == NEIGHBORHOOD_NO_MARKET:
        from baselines.community import RuleBased

        env = neighborhood_env(tariff, MECHANISMS[0], task.seed)
        policy: Any = RuleBased()
        policy.reset(env)
    else:
        assert task.entry is not None
        env = neighborhood_env(tariff, task.entry.rt_policy, task.seed)
        policy = load_home_policy(task.entry.da_bidder.replace("{seed}", str(task.seed)), env)
    obs, _ = env.reset(options={"day": day})
    agents = list(env.possible_agents)
    cost, year = np.zeros(len(agents)), Year()
    while env.agents:
        t = env.t
        obs, rewards, _, _, infos = env.step(policy.act(obs))
        cost -= np.array([rewards[a] for a in agents])
        year.add(env, t, infos)
    figures = year.figures()
    return {"day": day, "cost_usd": float(cost.sum()), **{k: figures[k] for k in NEIGHBORHOOD_METRICS if k in figures},
            "home_cost_usd": json.dumps({a: round(float(c), 9) for a, c in zip(agents, cost)}),
            "seconds": time.perf_counter() - start, "fallbacks": int(getattr(policy, "fallbacks", 0))}


def _describe(exc: BaseException) -> str:
    """``Type: message``, even for an exception whose ``str`` raises."""
    try:
        return f"{type(exc).__name__}: {exc}"
    except BaseException:
        return f"{type(exc).__name__}: (its message could not be read)"


def _identity(task: Task, split: str) -> dict[str, Any]:
    """The fields that say which task a row is for."""
    row: dict[str, Any] = {"scenario_id": task.scenario_id, "seed": task.seed}
    if task.reference is not None:
        row["reference"] = task.reference
    elif task.entry is not None:
        row.update(entry=task.entry.name, da_bidder=task.entry.da_bidder, rt_policy=task.entry.rt_policy, split=split)
    return row


def _error_row(task: Task, split: str, message: str) -> dict[str, Any]:
    return {**_identity(task, split), "status": "error", "error": message[:500]}


# --- backends ------------------------------------------------------------------------------------

def _init_worker() -> None:
    """A pool worker's initializer: on Linux, the kernel kills the worker when the main process
    dies (even by SIGKILL), so no worker outlives an interrupted run; a Ctrl-C reaches the whole
    process group, and the workers leave it to the main process (an interrupted day must not
    become an error row that ``--resume`` would keep). It also imports what every
    task needs, so that no task's time budget pays for it (an import cut short by the budget's
    timer would leave the next task to start it again)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle: it stops the pool
    for module in ("baselines.oracle", "bessgym.envs.episodes", "bessgym.evaluation", "bessgym.sim"):
        importlib.import_module(module)


@contextlib.contextmanager
def local_pool(workers: int) -> Iterator[Any]:
    """A pebble pool of ``workers`` spawned processes (:func:`_init_worker`), shared by the phases
    of a run so that each worker starts, imports and loads the data once. Spawned workers
    inherit the main process's ``sys.path`` (the current folder included, see :func:`main`)."""
    from pebble import ProcessPool

    pool = ProcessPool(max_workers=workers, context=get_context("spawn"), initializer=_init_worker)
    try:
        yield pool
        pool.close()
    except BaseException:  # interrupted: stop the workers at once instead of waiting for their days
        pool.stop()
        raise
    finally:
        pool.join()


def run_local(tasks: list[tuple[Task, str]], split: str, budget_s: float, pool: Any) -> Iterator[dict]:
    """Rows as tasks finish, from a :func:`local_pool`. A task that has not answered
    :data:`WORKER_GRACE_S` after its time budget has its worker stopped and replaced (an error
    row); a worker that dies (``os._exit``, a crash in C) gives an error row and is replaced; the
    run goes on."""
    from pebble import ProcessExpired

    futures = {pool.schedule(run_task, (task, config_json, split, budget_s), timeout=budget_s + WORKER_GRACE_S): task
               for task, config_json in tasks}
    pending = set(futures)
    while pending:
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            task = futures.pop(future)
            try:
                row = future.result()
            except FutureTimeout:
                row = _error_row(task, split, f"TimeBudgetExceeded: no answer {WORKER_GRACE_S:g} s past the time "
                                              f"budget of {budget_s:g} s (the worker was stopped)")
            except ProcessExpired as exc:
                row = _error_row(task, split, f"WorkerDied: the worker process ended with exit code {exc.exitcode}")
            except Exception as exc:  # whatever else reached the pool (e.g. a result it could not send back)
                row = _error_row(task, split, _describe(exc))
            yield row  # outside the handlers: closing this generator (an interrupted run) must not become a row


@contextlib.contextmanager
def ray_pool(address: str | None) -> Iterator[Any]:
    """Ray for the whole run (its phases share it): a running cluster joined at ``address`` (the
    head's ``HOST:PORT``, or ``auto``) or, without one, an instance started here and stopped at
    the end. Yields :func:`run_task` as a remote function: one try per task (no retries: a day
    that killed its worker is an error row, as in the local pool), spread over the nodes. Every
    node needs bessgym installed and any module an entry's spec names importable; the current
    folder is put on the workers' import path."""
    try:
        import ray
    except ImportError:
        raise SystemExit("error: --backend ray needs the dist extra: pip install 'bessgym[dist]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        paths = [os.getcwd()] + ([] if address else [str(Path(__file__).resolve().parent.parent)])
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(paths)}})
    try:
        yield ray.remote(max_retries=0, scheduling_strategy="SPREAD")(run_task)
    finally:
        if started_here:
            ray.shutdown()


def run_ray(tasks: list[tuple[Task, str]], split: str, budget_s: float, remote: Any) -> Iterator[dict]:
    """Rows as tasks finish, from a :func:`ray_pool`. The time budget is kept by the timer inside
    :func:`run_task` (a plug-in that blocks that timer in C is not stopped: the local pool's
    outside stop has no Ray counterpart here); a task that raised past :func:`run_task` or whose
    worker or node died gives an error row, and the run goes on."""
    import ray
    from ray.exceptions import RayError, RayTaskError

    refs = {remote.remote(task, config_json, split, budget_s): task for task, config_json in tasks}
    pending = list(refs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        task = refs.pop(done[0])
        try:
            row = ray.get(done[0])
        except RayTaskError as exc:
            row = _error_row(task, split, _describe(exc.cause if isinstance(exc.cause, BaseException) else exc))
        except RayError as exc:  # the worker died (os._exit, a crash in C) or its node was lost
            row = _error_row(task, split, f"WorkerDied: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        yield row


# --- the run -------------------------------------------------------------------------------------

def _read_rows(path: Path, columns: list[str]) -> list[dict]:
    """Rows of a results CSV; a last line cut short by an interruption is dropped, and one that
    lost its line end (a full disk) rewritten whole, so that appending goes on a line of its own."""
    if not path.exists():
        return []
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        header = list(reader.fieldnames or [])
    complete = [r for r in rows if None not in r.values() and r.get("status") in ("ok", "error")]
    torn = path.stat().st_size and not path.read_bytes().endswith(b"\n")  # a last line without its end
    if header and header != columns:  # written before the ledger gained lines: those were $0 then
        unknown = [c for c in columns if c not in header and c not in LEDGER_LINES] + [c for c in header if c not in columns]
        if unknown:
            raise SystemExit(f"error: {path} has other columns than this version writes ({unknown}); "
                             "write the run to a new --out folder")
        complete = [{**{c: "0.0" for c in columns if c not in header}, **r} for r in complete]
    if len(complete) != len(rows) or torn or header != columns:
        _write_rows(path, columns, complete)
    return complete


def _write_rows(path: Path, columns: list[str], rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


class _Appender:
    """Appends rows to a CSV and flushes each, so an interrupted run keeps every finished row."""

    def __init__(self, path: Path, columns: list[str]) -> None:
        new = not path.exists()
        self._file = path.open("a", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=columns, extrasaction="ignore")
        if new:
            self._writer.writeheader()

    def write(self, row: dict) -> None:
        self._writer.writerow(row)
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


RESUME_KEYS = ("suite", "config", "data_sha256", "rtd_model_sha256", "split", "seeds", "limit")
"""What a resumed run must share with the run it continues (``run.json``)."""


def _check_resume(path: Path, run_info: dict) -> None:
    """Refuse to continue the run in ``path``'s folder unless this command would run the same
    suite, config, data, split, seeds and day limit; name the first difference."""
    if not path.exists():
        raise SystemExit(f"error: --resume: {path} is missing, so the rows in {path.parent} cannot be checked against this run; "
                         "use another --out")
    try:
        before = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise SystemExit(f"error: --resume: {path} is not readable JSON ({exc}); use another --out") from None
    theirs = (before.get("suite") or {}).get("kind", "battery") if isinstance(before, dict) else None
    mine = run_info["suite"].get("kind", "battery")
    if theirs != mine:
        raise SystemExit(f"error: --resume: {path.parent} holds a {theirs} run and suite {run_info['suite']['name']!r} is "
                         f"of kind {mine!r}; their rows have other columns: use another --out to start a new run")
    for key in RESUME_KEYS:
        if before.get(key) != run_info[key]:
            mine, theirs = json.dumps(run_info[key], sort_keys=True), json.dumps(before.get(key), sort_keys=True)
            raise SystemExit(f"error: --resume: this run's {key} ({mine[:200]}) differs from the one in {path} ({theirs[:200]}); "
                             "use another --out to start a new run")


def _hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "n/a (synthetic)"


def _versions() -> dict[str, str]:
    out = {}
    for name in ("bessgym", "numpy", "pandas", "highspy", "cvxpy", "gymnasium", "stable-baselines3", "torch", "ray"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def resolve_config(suite: Suite, data: str | None, node: str | None, timezone: str | None) -> Config:
    """The suite's config, with ``--data``/``--node``/``--timezone`` applied."""
    config = load_config(suite.config)
    if data is None and node is None:
        return config
    raw = config.model_dump(mode="json")
    if data is not None:  # operating days in the market's time zone unless --timezone says otherwise
        raw["data"] = {"source": "csv", "path": str(Path(data).resolve()), "node": raw["data"]["node"] if node is None else node,
                       "name": Path(data).name.split(".")[0], "timezone": timezone, "splits": {}}
    else:
        raw["data"]["node"] = node
    return load_config(raw)


def _split_specs(text: str) -> list[str]:
    """``text`` split at its commas outside brackets and quotes (a spec's JSON arguments may hold commas)."""
    parts, depth, quote, start = [], 0, "", 0
    for i, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return parts + [text[start:]]


def parse_entry(text: str) -> Entry:
    """An entry from ``--entry NAME=DA_SPEC,RT_SPEC`` (the name without ``=``; the two specs
    split at the comma outside brackets and quotes), validated as a suite's entries are."""
    name, sep, specs = text.partition("=")
    parts = [part.strip() for part in _split_specs(specs)]
    if not sep or len(parts) != 2 or not all(parts):
        raise SystemExit(f"error: --entry {text!r} is not NAME=DA_SPEC,RT_SPEC (e.g. mine=threshold,follow_da)")
    try:
        return Entry(name=name.strip(), da_bidder=parts[0], rt_policy=parts[1])
    except ValidationError as exc:
        raise SystemExit(f"error: --entry {text!r}: {_problems(exc)}") from None


def _problems(exc: ValidationError) -> str:
    """A pydantic error in one line: each field, its message and the value given."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}"
                     + (f" (got {str(e['input'])[:80]!r})" if e["type"] != "json_invalid" else "")
                     for e in exc.errors())


def select_entries(suite: Suite, names: str | None, own: list[Entry]) -> list[Entry]:
    """The entries to run: the suite's named by ``names`` (comma-separated), then the ``own``
    ones from ``--entry``; all the suite's when neither is given, none of them when only
    ``own`` is. Names must be distinct across both."""
    entries = [] if own and names is None else suite.entries
    if names is not None:
        wanted = [name.strip() for name in names.split(",") if name.strip()]
        if not wanted:
            raise SystemExit(f"error: --entries is empty; name entries of suite {suite.name!r}: {[e.name for e in entries]}")
        unknown = sorted(set(wanted) - {e.name for e in entries})
        if unknown:
            raise SystemExit(f"error: --entries {unknown} are not in suite {suite.name!r}: {[e.name for e in entries]}")
        entries = [e for e in entries if e.name in wanted]
    try:
        return Suite.model_validate({**suite.model_dump(), "entries": [e.model_dump() for e in entries + own]}).entries
    except ValidationError as exc:
        raise SystemExit(f"error: the entries to run: {_problems(exc)}") from None


def check_neighborhood_specs(entries: list[Entry], seeds: list[int]) -> None:
    """:func:`check_specs` for a neighborhood suite: every ``rt_policy`` a market
    (:func:`market_spec`), every ``da_bidder`` a community policy
    (:func:`load_home_policy`'s protocol) for each seed's spec, built (a class on its env: its
    arguments bound to its signature) before any day runs."""
    checked: set[str] = set()
    for entry in entries:
        try:
            market_spec(entry.rt_policy)
        except ValueError as exc:
            raise SystemExit(f"error: entry {entry.name!r}: {exc}") from None
        for spec in dict.fromkeys(entry.da_bidder.replace("{seed}", str(seed)) for seed in seeds):
            if spec in checked:
                continue
            try:
                factory = _import_target(spec, f"spec {spec!r} is not 'package.module:attr'")
                if _env_bound(factory):
                    inspect.signature(factory).bind(None, **_spec_arguments(spec))
                    missing = [] if callable(getattr(factory, "act", None)) else ["act(obs)"]
                else:
                    policy = load_component(spec)
                    missing = [f"{name}()" for name in ("reset", "act") if not callable(getattr(policy, name, None))]
            except (Exception, SystemExit) as exc:  # a plug-in's import or constructor may raise anything
                message = _describe(exc).removeprefix(f"ValueError: spec {spec!r}: ")
                raise SystemExit(f"error: entry {entry.name!r}: community policy {spec!r} cannot be loaded: "
                                 f"{message}") from None
            if missing:
                raise SystemExit(f"error: entry {entry.name!r}: community policy {spec!r} lacks {', '.join(missing)}; a "
                                 "neighborhood suite's da_bidder has reset(env) and act(obs) (baselines.community:Truthful) "
                                 "or is a class built on its env with act(obs) (baselines.community_lp:HomeMPC)")
            checked.add(spec)


def check_ges_specs(entries: list[Entry], seeds: list[int]) -> None:
    """:func:`check_specs` for a ges suite: every ``da_bidder`` a planner with ``plan(assets,
    prices)`` (``baselines.aggregator.AggregatorDA``), every ``rt_policy`` ``plan`` or a split
    policy (:func:`load_split_policy`), loaded once per seed's spec before any day runs."""
    checked: set[tuple[str, str]] = set()
    for entry in entries:
        for role, template in (("DA planner", entry.da_bidder), ("RT policy", entry.rt_policy)):
            for spec in dict.fromkeys(template.replace("{seed}", str(seed)) for seed in seeds):
                if (role, spec) in checked:
                    continue
                try:
                    component = load_component(spec) if role == "DA planner" else load_split_policy(spec)
                except (Exception, SystemExit) as exc:  # a plug-in's import or constructor may raise anything
                    message = _describe(exc).removeprefix(f"ValueError: spec {spec!r}: ")
                    raise SystemExit(f"error: entry {entry.name!r}: {role} {spec!r} cannot be loaded: {message}") from None
                if role == "DA planner" and not callable(getattr(component, "plan", None)):
                    raise SystemExit(f"error: entry {entry.name!r}: DA planner {spec!r} gives a {type(component).__name__} "
                                     "without plan(); a ges suite's da_bidder is a planner with plan(assets, prices) -> "
                                     "Plan (e.g. baselines.aggregator:AggregatorDA?model=M3)")
                checked.add((role, spec))


def check_specs(entries: list[Entry], seeds: list[int]) -> None:
    """Import and construct every DA and RT spec of ``entries`` once (``{seed}`` filled in for
    each seed) in this process, before any day runs, and check each component has the methods
    of its protocol (:class:`bessgym.policies.DABidder`, :class:`bessgym.policies.RTPolicy`).
    The first that fails ends the run with one line naming the entry, the spec and the error."""
    from bessgym.policies import PROTOCOL_METHODS, load_component, missing_methods

    checked: set[tuple[str, str]] = set()
    for entry in entries:
        for role, template in (("DA bidder", entry.da_bidder), ("RT policy", entry.rt_policy)):
            for spec in dict.fromkeys(template.replace("{seed}", str(seed)) for seed in seeds):
                if (role, spec) in checked:
                    continue
                try:
                    component = load_component(spec)
                except (Exception, SystemExit) as exc:  # a plug-in's import or constructor may raise anything
                    message = _describe(exc).removeprefix(f"ValueError: spec {spec!r}: ")
                    raise SystemExit(f"error: entry {entry.name!r}: {role} {spec!r} cannot be loaded: {message}") from None
                missing = missing_methods(component, role)
                if missing:
                    needed = ", ".join(f"{name}()" for name in PROTOCOL_METHODS[role])
                    raise SystemExit(f"error: entry {entry.name!r}: {role} {spec!r} gives a {type(component).__name__} "
                                     f"without {', '.join(f'{name}()' for name in missing)}; the {role} protocol "
                                     f"(bessgym.policies.{'DABidder' if role == 'DA bidder' else 'RTPolicy'}) needs {needed}")
                checked.add((role, spec))


RUN_FILES = ("episodes.csv", "oracle.csv", "run.json")
"""The files that mark a folder as holding a run."""
OUTPUT_FILES = (*RUN_FILES, "trajectories.json", "leaderboard.md", *PLOT_FILES)
"""Every file a run writes (what ``--overwrite`` removes), in the order they are listed at the end."""


_LOCKS: dict[Path, Any] = {}
"""The folders this process writes, with their open lock files (released when it exits)."""


def _lock(folder: Path) -> bool:
    """Take ``folder``'s lock (``.lock``, an exclusive ``flock``) for this process, or say False
    if another run holds it: two runs appending to one folder would interleave their rows."""
    if folder.resolve() in _LOCKS:
        return True
    try:
        import fcntl
    except ImportError:  # not on Unix: no lock
        return True
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / ".lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return False
    _LOCKS[folder.resolve()] = handle
    return True


def output_folder(out: str | None, suite: Suite, resume: bool, overwrite: bool, name: str | None = None) -> Path:
    """Where this run writes, locked for it: ``--out`` or ``leaderboard/NAME`` (the suite's name
    unless given). A folder holding an earlier run is continued with ``resume``, emptied of the
    run's files with ``overwrite``; otherwise the default folder gives way to the first free
    ``leaderboard/NAME-2``, ``-3``, ... (said on stderr) and an explicit ``--out`` is refused. A
    folder another run is writing is refused (``--out``) or passed over (the default)."""
    folder = Path(out) if out else Path("leaderboard") / (name or suite.name)
    earlier = [file for file in RUN_FILES if (folder / file).exists()]
    if out or resume or overwrite or not earlier:
        if not _lock(folder):
            if out or resume or overwrite:
                raise SystemExit(f"error: another run is writing to {folder} (it holds {folder / '.lock'}); wait for it "
                                 "to end, or choose another --out")
        elif not earlier or resume:
            return folder
        elif overwrite:
            for file in OUTPUT_FILES:
                (folder / file).unlink(missing_ok=True)
            print(f"--overwrite: removed the earlier run's files from {folder}", file=sys.stderr)
            return folder
        else:
            raise SystemExit(f"error: {folder} holds an earlier run ({', '.join(earlier)}): pass --resume to continue it, "
                             "--overwrite to replace it, or another --out")
    n = 2
    while any((folder.with_name(f"{folder.name}-{n}") / file).exists() for file in RUN_FILES) \
            or not _lock(folder.with_name(f"{folder.name}-{n}")):
        n += 1
    new = folder.with_name(f"{folder.name}-{n}")
    print(f"{folder} holds an earlier run or another run is writing it; this run writes to {new} (--resume continues "
          "the earlier one, --overwrite replaces it)", file=sys.stderr)
    return new


def build_parser() -> argparse.ArgumentParser:
    """The command line of :func:`main`."""
    parser = argparse.ArgumentParser(prog="bessgym-leaderboard", description=__doc__.splitlines()[0],
                                     epilog="Run 'python -m benchmarks.leaderboard' or 'bessgym-leaderboard' from any "
                                            "folder: specs import modules from the current folder too.")
    parser.add_argument("--suite", default="quick",
                        help="a shipped suite (quick, full, agents, proxy, reserve, three-settlement, pjm-5min, ges, neighborhood) or a suite JSON file; with --entry "
                             "it gives the config, split, seeds and time budget (default quick)")
    parser.add_argument("--entry", action="append", metavar="NAME=DA_SPEC,RT_SPEC",
                        help="an own entry, no suite file needed (repeatable), e.g. "
                             "mine=benchmarks.examples.my_entry:QuantileBidder,benchmarks.examples.my_entry:IntradayRT; "
                             "with --entry only these run, plus the suite entries named by --entries")
    parser.add_argument("--entries", help="comma-separated names of the suite's entries to run (default all, or none "
                                          "with --entry)")
    parser.add_argument("--data", help="a CSV in the long schema to evaluate on instead of the suite's data")
    parser.add_argument("--node", help="node (hub) of the data: a value of its 'hub' column")
    parser.add_argument("--timezone", help="IANA time zone of the operating day for --data, e.g. America/New_York "
                                           "(default: the market profile's)")
    parser.add_argument("--split", help="split to run (default: the suite's; 'all' with --data)")
    parser.add_argument("--seeds", type=COUNT, help="run seeds 0..N-1 instead of the suite's")
    parser.add_argument("--backend", choices=("local", "ray"), default="local",
                        help="local worker processes (default) or a Ray cluster")
    parser.add_argument("--address", help="Ray cluster address (with --backend ray; default a local Ray instance)")
    parser.add_argument("--workers", type=COUNT, default=os.cpu_count() or 1,
                        help="local worker processes (default: the CPU count)")
    parser.add_argument("--out", help="output folder (default leaderboard/SUITE, or leaderboard/SUITE-2, -3, ... "
                                      "when it holds an earlier run)")
    again = parser.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="continue the run in the output folder (it must be the same suite, config, data, split, "
                            "seeds and limit)")
    again.add_argument("--overwrite", action="store_true", help="replace the run in the output folder")
    parser.add_argument("--limit", type=COUNT, help="only the first N days (a smoke run)")
    parser.add_argument("--proxy-track", action="store_true",
                        help="run the static proxy track instead (see benchmarks.proxy_track; needs the rl extra)")
    parser.add_argument("--proxy", action="append",
                        help="a proxy bidder spec for --proxy-track (repeatable; default the shipped proxies)")
    parser.add_argument("--threads", type=COUNT, default=1, help="torch threads for --proxy-track timings")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error instead of its one line")
    return parser


def main(argv: list[str] | None = None) -> None:
    """Run a suite, or its config with own entries (``--entry``); see ``--help``."""
    args = build_parser().parse_args(argv)
    if os.getcwd() not in sys.path:  # specs import modules next to the user (spawned workers inherit sys.path)
        sys.path.insert(0, os.getcwd())
    try:
        _run(args)
    except KeyboardInterrupt:  # before any row (the run's phases say where the rows are themselves)
        raise SystemExit("\ninterrupted before any day ran") from None
    except (ConfigError, OSError, ValueError) as exc:  # DataError included: bad input, said in one line
        if args.debug:
            raise
        raise SystemExit(f"error: {exc} (--debug shows the traceback)") from None


def _run(args: argparse.Namespace) -> None:
    """The run :func:`main` parsed the command line for."""
    wall_start = time.perf_counter()
    suite = load_suite(args.suite)
    if suite.kind == "neighborhood":
        for flag, value in (("--data", args.data), ("--node", args.node), ("--timezone", args.timezone),
                            ("--proxy-track", args.proxy_track or None)):
            if value is not None:
                raise SystemExit(f"error: {flag} is for battery suites; suite {suite.name!r} is of kind 'neighborhood' "
                                 "(the shipped homes and their tariff); leave it out")
        if importlib.util.find_spec("pettingzoo") is None:  # Neighborhood-v0 is a PettingZoo env
            raise SystemExit(f"error: suite {suite.name!r} runs Neighborhood-v0, which needs the community extra: "
                             "pip install -e '.[community]'")
    if args.timezone is not None:
        check_timezone(args.timezone, "--timezone")  # a ValueError: one line, even without --data
        if args.data is None:
            raise SystemExit(f"error: --timezone {args.timezone!r} applies only with --data (the time zone of your own CSV's "
                             "operating days); the suite's own data use the market profile's time zone, so leave it out")
    if args.data is not None and Path(args.data).is_dir():
        raise SystemExit(f"error: --data {args.data!r} is a folder; give a CSV file in the long schema (optionally .gz)")
    config = resolve_config(suite, args.data, args.node, args.timezone)  # a bad file or node: ConfigError or DataError
    split = args.split or ("all" if args.data else suite.split)
    if suite.kind == "ges" and args.proxy_track:
        raise SystemExit(f"error: --proxy-track is for battery suites; suite {suite.name!r} is of kind 'ges'")
    if suite.kind == "ges" and config.data.source != "caiso":
        raise SystemExit(f"error: suite {suite.name!r} is of kind 'ges', whose fleets sit in San Diego (CAISO SP15): its "
                         f"config's data source must be 'caiso', not {config.data.source!r} (leave out --data)")
    if args.proxy_track:
        try:
            from benchmarks.proxy_track import DEFAULT_PROXIES, run_track
        except ImportError as exc:
            raise SystemExit(f"error: --proxy-track needs torch: pip install -e '.[rl]' ({exc})") from None
        run_track(args.proxy or list(DEFAULT_PROXIES), config, split, args.out or Path("leaderboard") / "proxy-track",
                  args.limit, args.threads, overwrite=args.overwrite)
        return
    seeds = list(range(args.seeds)) if args.seeds else suite.seeds
    entries = select_entries(suite, args.entries, [parse_entry(text) for text in args.entry or []])

    from bessgym.scenarios import ScenarioSet

    scenarios = ScenarioSet(config)
    if suite.kind == "neighborhood":
        ids = [neighborhood_scenario(day) for day in neighborhood_days(split)][: args.limit]  # a bad split: ValueError
        skipped: dict[str, int] = {}
    else:
        ids = scenarios.ids(split)[: args.limit]  # an unknown split, or data that cannot be read: ValueError
        skipped = scenarios.skipped(split)
    if not ids:
        raise SystemExit(f"error: split {split!r} has no usable days (skipped: {_skipped_text(skipped)})")
    if suite.kind == "neighborhood":
        check_neighborhood_specs(entries, seeds)  # before anything is written
    elif suite.kind == "ges":
        check_ges_specs(entries, seeds)
    else:
        check_specs([*entries, suite.prices_known], seeds)
    own = [e.name for e in entries if args.entry and not args.entries]  # --entry alone: the folder is named after them
    folder_name = re.sub(r"[^A-Za-z0-9_.+-]", "_", "-".join(own))[:60] if own else None
    out = output_folder(args.out, suite, args.resume, args.overwrite, name=folder_name)
    earlier = [name for name in RUN_FILES if (out / name).exists()]
    out.mkdir(parents=True, exist_ok=True)

    if suite.kind == "neighborhood":  # a neighborhood task's settings; its seed draws the devices
        configs = {seed: json.dumps({"tariff": suite.tariff}) for seed in seeds}
    else:  # a ges task's world is seeded from the config's seed and its own
        configs = {seed: (config if suite.kind == "ges" else config.model_copy(update={"seed": seed})).model_dump_json()
                   for seed in seeds}
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    run_info = {
        "suite": suite_record(suite), "entries": [e.model_dump() for e in entries], "split": split,
        "seeds": seeds, "days": len(ids), "skipped": skipped, "config": json.loads(config.model_dump_json()),
        "data_file": str(config.data.file) if config.data.source != "synthetic" else "synthetic",
        "data_sha256": _hash(config.data.file) if config.data.source != "synthetic" else "n/a (synthetic)",
        "rtd_model_sha256": None if suite.kind == "neighborhood" or not scenarios.history(split).rtd_synthetic
        else _hash(RTD_MODEL_FILE),  # None: real RT prices
        "versions": _versions(), "python": sys.version.split()[0],
        "hardware": {"machine": platform.machine(), "processor": platform.processor(), "cpus": os.cpu_count(), "system": platform.platform()},
        "backend": args.backend, "workers": args.workers, "started_utc": started, "command": sys.argv,
        "limit": args.limit,
    }
    if suite.kind == "neighborhood":  # the homes' data; the config's (CAISO) prices give the export tariff
        from bessgym.community.data import COMMUNITY_DIR, HOMES_HOURLY

        run_info.update(homes_file=str(COMMUNITY_DIR / HOMES_HOURLY), homes_sha256=_hash(COMMUNITY_DIR / HOMES_HOURLY))
    if args.resume and earlier:
        _check_resume(out / "run.json", run_info)
    elif args.resume:
        print(f"--resume: {out} holds no earlier run; this run starts one", file=sys.stderr)
    (out / "run.json").write_text(json.dumps(run_info, indent=2) + "\n")  # before any row: what --resume checks
    try:
        with local_pool(args.workers) if args.backend == "local" else ray_pool(args.address) as pool:

            def execute(tasks: list[tuple[Task, str]], label: str) -> Iterator[dict]:
                backend = run_ray(tasks, split, suite.time_budget_s, pool) if args.backend == "ray" else \
                    run_local(tasks, split, suite.time_budget_s, pool)
                yield from tqdm(backend, total=len(tasks), desc=label, unit="day", file=sys.stderr)

            if suite.kind in ("ges", "neighborhood"):
                _play_with_references(out, suite.kind, entries, seeds, ids, configs, execute)
            else:
                _play(out, config, suite, entries, seeds, ids, configs, execute)
    except KeyboardInterrupt:
        raise SystemExit(f"\ninterrupted: the rows of the days that finished are in {out}; the same command with "
                         f"--out {out} --resume continues the run") from None
    run_info["finished_utc"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    (out / "run.json").write_text(json.dumps(run_info, indent=2) + "\n")

    from benchmarks.plots import write_plots
    from benchmarks.report import write_ges_report, write_neighborhood_report, write_report

    names = [e.name for e in entries]
    try:
        if suite.kind == "neighborhood":
            table = write_neighborhood_report(out, names)
        elif suite.kind == "ges":
            table = write_ges_report(out, config, names)
        else:
            table = write_report(out, config, names, suite.prices_known)
            write_plots(out, config, names)
    except KeyboardInterrupt:
        raise SystemExit(f"\ninterrupted while writing the report: every row is in {out}; the same command with "
                         f"--out {out} --resume writes the report and plots") from None
    print(table)
    print(f"\n{len(ids)} {split} days x {len(seeds)} seed(s); days of the split skipped: {_skipped_text(skipped)}; "
          f"wall time {time.perf_counter() - wall_start:.0f} s")
    print(f"outputs in {out}:")
    for name in OUTPUT_FILES:
        if (out / name).exists():
            print(f"  {out / name}")
    for entry, first_error in _failed_every_day(out / "episodes.csv", names, COLUMNS[suite.kind][0]).items():
        print(f"warning: entry {entry!r} failed on every day; its first error: {first_error}", file=sys.stderr)


def _play(out: Path, config: Config, suite: Suite, entries: list[Entry], seeds: list[int], ids: list[str],
          configs: dict[int, str], execute: Callable[[list[tuple[Task, str]], str], Iterator[dict]]) -> None:
    """The run's three phases through ``execute``: the references, then the entries (each row
    appended as it finishes, the tasks already in the folder's CSVs skipped), then the replay of
    the representative days (:func:`benchmarks.plots.pick_days`) into ``trajectories.json``."""
    oracle_path, episodes_path = out / "oracle.csv", out / "episodes.csv"
    reference_rows = {(r["reference"], r["scenario_id"], int(r["seed"])): r for r in _read_rows(oracle_path, ORACLE_COLUMNS)}
    # the prices-known rung: the same days and deployment, the realised prices as its forecasts
    perfect = {seed: config.model_copy(update={"seed": seed, "forecast": config.forecast.model_copy(update={"kind": "perfect"})})
               .model_dump_json() for seed in seeds}
    todo = [(Task(i, s, suite.prices_known if ref == PRICES_KNOWN else None, reference=ref),
             perfect[s] if ref == PRICES_KNOWN else configs[s])
            for ref in REFERENCES for s in seeds for i in ids if (ref, i, s) not in reference_rows]
    if todo:
        appender = _Appender(oracle_path, ORACLE_COLUMNS)
        for row in execute(todo, "references"):
            appender.write(row)
            reference_rows[(row["reference"], row["scenario_id"], int(row["seed"]))] = row
        appender.close()
    oracle_rows = {(i, s): row for (ref, i, s), row in reference_rows.items() if ref == FULL_HINDSIGHT}

    done = {(r["entry"], r["scenario_id"], int(r["seed"])) for r in _read_rows(episodes_path, EPISODE_COLUMNS)}
    todo = [(Task(i, s, e), configs[s]) for e in entries for s in seeds for i in ids if (e.name, i, s) not in done]
    appender = _Appender(episodes_path, EPISODE_COLUMNS)
    for row in execute(todo, "entries"):
        oracle = oracle_rows.get((row["scenario_id"], int(row["seed"])), {})
        if oracle.get("status") == "ok":
            row["oracle_profit_usd"] = float(oracle["profit_total_usd"])
            if row.get("status") == "ok":
                row["capture_pct"] = capture_rate(row["profit_total_usd"], row["oracle_profit_usd"])
        appender.write(row)
    appender.close()

    from benchmarks.plots import pick_days

    shown, days = pick_days(out, config, [e.name for e in entries])  # replayed (same seeds, same rows) with their paths recorded
    by_name = {e.name: e for e in entries}
    tasks = [(Task(day["scenario_id"], day["seed"], by_name.get(name), example=True,
                   reference=FULL_HINDSIGHT if name == FULL_HINDSIGHT else None), configs[day["seed"]])
             for day in days for name in (FULL_HINDSIGHT, *shown)]
    paths: dict[tuple[str, int], dict] = {}
    for row in execute(tasks, "trajectories") if tasks else ():
        if row.get("status") == "ok":
            name = row.get("entry", FULL_HINDSIGHT)
            paths.setdefault((row["scenario_id"], int(row["seed"])), {})[name] = {
                "profit_usd": float(row["profit_total_usd"]), **row["trajectory"]}
    (out / "trajectories.json").write_text(json.dumps(
        {"entries": shown, "days": [{**day, "paths": paths.get((day["scenario_id"], day["seed"]), {})} for day in days]}))


def _play_with_references(out: Path, kind: str, entries: list[Entry], seeds: list[int], ids: list[str],
                          configs: dict[int, str], execute: Callable[[list[tuple[Task, str]], str], Iterator[dict]]) -> None:
    """A ges or neighborhood run's two phases through ``execute``: the references of every day and
    seed (ges: hindsight and idle; neighborhood: oracle and no market), then the entries (each
    day's seeds in a row, so that a ges worker plans the day once), each row appended as it
    finishes with the day's reference values (``<reference>_profit_usd`` or
    ``<reference>_cost_usd``), the tasks already in the folder's CSVs skipped."""
    names, reference_columns, episode_columns, value = {
        "ges": (GES_REFERENCES, GES_REFERENCE_COLUMNS, GES_EPISODE_COLUMNS, ("profit_total_usd", "profit_usd")),
        "neighborhood": (NEIGHBORHOOD_REFERENCES, NEIGHBORHOOD_REFERENCE_COLUMNS, NEIGHBORHOOD_EPISODE_COLUMNS,
                         ("cost_usd", "cost_usd")),
    }[kind]
    oracle_path, episodes_path = out / "oracle.csv", out / "episodes.csv"
    references = {(r["reference"], r["scenario_id"], int(r["seed"])): r for r in _read_rows(oracle_path, reference_columns)}
    todo = [(Task(i, s, reference=ref, kind=kind), configs[s]) for s in seeds for i in ids for ref in names
            if (ref, i, s) not in references]
    if todo:
        appender = _Appender(oracle_path, reference_columns)
        for row in execute(todo, "references"):
            appender.write(row)
            references[(row["reference"], row["scenario_id"], int(row["seed"]))] = row
        appender.close()
    done = {(r["entry"], r["scenario_id"], int(r["seed"])) for r in _read_rows(episodes_path, episode_columns)}
    todo = [(Task(i, s, e, kind=kind), configs[s]) for e in entries for i in ids for s in seeds if (e.name, i, s) not in done]
    appender = _Appender(episodes_path, episode_columns)
    for row in execute(todo, "entries"):
        for ref in names:
            reference = references.get((ref, row["scenario_id"], int(row["seed"])), {})
            if reference.get("status") == "ok":
                row[f"{ref}_{value[1]}"] = float(reference[value[0]])
        appender.write(row)
    appender.close()


def _failed_every_day(episodes: Path, names: list[str], columns: list[str]) -> dict[str, str]:
    """The entries of ``names`` with no day that ran, and the first error of each."""
    rows = _read_rows(episodes, columns)
    failed: dict[str, str] = {}
    for name in names:
        mine = [r for r in rows if r["entry"] == name]
        if mine and all(r["status"] != "ok" for r in mine):
            failed[name] = mine[0]["error"][:300]
    return failed


def _skipped_text(skipped: dict[str, int]) -> str:
    """Skipped days by reason, the reasons with none left out: ``missing_rt 7, dst 1`` or ``none``."""
    return ", ".join(f"{reason} {count}" for reason, count in skipped.items() if count) or "none"


if __name__ == "__main__":
    main()
