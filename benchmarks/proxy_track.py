"""The static proxy track: learned DA bidders against HiGHS on the test days' DA problems.

    python -m benchmarks.leaderboard --proxy-track
    python -m benchmarks.leaderboard --proxy-track --proxy "agents.proxy.bidder:TorchProxyBidder?path=runs/my-proxy"

An instance is a test day's DA problem as a bidder sees it at gate closure, the problem the
proxy was trained for:

* a proxy of an LP bidder (:mod:`agents.proxy.bidder_lp`: RobustDA, the chance-constrained LP,
  ForecastLP) against that bidder's own solve of its LP (the reference objective and HiGHS's time
  to it); the harness checks a bid by solving the bidder's LP with the bid's columns fixed
  (:meth:`BidderLP.evaluate_bid`: feasible or not, and its value under the market's rules);
* a proxy of ForecastLP's LP at the reserve multiple 1 (the first proxies) against its optimum
  under the market's rules (:func:`agents.proxy.problem.solve_optimum`); the harness completes
  the LP vector from the bid with the rows of that LP (:class:`agents.proxy.completion.Completion`)
  and measures every row, bound and the objective.

For each proxy and instance the harness takes the network's raw output and the bidder's
(repaired) bid and checks both itself; nothing a model reports about itself is used. Speed-ups
divide HiGHS's mean ms per instance (one thread) by the proxy's ms per instance in a batch call
on ``threads`` torch threads; "same cores" divides again by ``threads`` (HiGHS solving one
instance per core at once).

Outputs in ``--out``: ``proxy_instances.csv`` (one row per proxy and instance) and
``proxy_track.md`` / ``proxy_track.json`` (the summary, also printed); where one exists the track
refuses before any work, unless ``overwrite``.

A proxy is a bidder spec (or object) with ``problem`` (its :class:`agents.proxy.problem.ProxyProblem`),
``raw(theta)`` (the network's output, a tensor), ``predict(theta)`` and ``bid_batch(contexts)``,
as :class:`agents.proxy.bidder.TorchProxyBidder` has; any other spec is a ValueError before any work.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.proxy import cli
from agents.proxy.bidder_lp import BidderLP
from agents.proxy.completion import Completion
from agents.proxy.problem import ProxyProblem, solve_optimum
from baselines.day_lp import DayModel
from baselines.reference import ForecastLP
from bessgym.config import ConfigLike
from bessgym.forecast import DAContext, da_context
from bessgym.policies import load_component
from bessgym.scenarios import ScenarioSet

TRACK_FILES = ("proxy_instances.csv", "proxy_track.md", "proxy_track.json")
PROXY_MEMBERS = ("problem", "raw", "predict", "bid_batch")
FEASIBILITY_TOL = 1e-6  # MW or MWh: the largest violation still counted feasible
DEFAULT_PROXY = "agents.proxy.bidder:TorchProxyBidder?name=caiso-soc"
DEFAULT_PROXIES = tuple(f"agents.proxy.bidder:TorchProxyBidder?name={name}"
                        for name in ("caiso-robust", "caiso-chance-lp", "caiso-forecast-lp", "caiso-soc"))
"""The shipped proxies: the track's default."""
INSTANCE_COLUMNS = [
    "proxy", "scenario_id", "highs_objective", "highs_ms", "proxy_objective", "gap_pct",
    "raw_violation", "raw_infeasible", "repaired_violation", "repaired_infeasible", "certified_gap_pct", "fallback",
]


def check(model: DayModel, bid: np.ndarray) -> tuple[float, float]:
    """Objective ($) and largest violation (MW or MWh) of a bid (120,) in the builder's LP: the
    LP vector completed from the bid with that LP's own rows, every row and bound measured
    (NaN and infinite violation for a bid that is not finite)."""
    lp = model.lp
    bid = np.asarray(bid, dtype=float)
    if not np.isfinite(bid).all():
        return float("nan"), float("inf")
    z = Completion(model)(bid)
    az = lp.A @ z
    violation = max(
        np.max(np.maximum(lp.row_lower - az, 0), initial=0.0), np.max(np.maximum(az - lp.row_upper, 0), initial=0.0),
        np.max(np.maximum(lp.lower - z, 0), initial=0.0), np.max(np.maximum(z - lp.upper, 0), initial=0.0),
    )
    return float(lp.c @ z + lp.offset), float(violation)


def reference(problem: ProxyProblem | BidderLP, ctx: DAContext, theta: np.ndarray) -> tuple[float, float]:
    """The solver's objective ($) and wall ms on an instance: a bidder's LP solved as the bidder
    solves it; ForecastLP's reserve-multiple-1 LP (the first proxies' problem) to its optimum
    under the market's rules (:func:`agents.proxy.problem.solve_optimum`). The build is not timed."""
    if isinstance(problem, BidderLP):
        model = problem.model(theta)
        start = time.perf_counter()
        result = problem.bidder.solve(model)
    else:
        model = ForecastLP(reserve_multiple=1.0).model(ctx)
        start = time.perf_counter()
        result = solve_optimum(model, time_limit_s=60.0)
    return result.objective, 1e3 * (time.perf_counter() - start)


def measure(problem: ProxyProblem | BidderLP, ctx: DAContext, theta: np.ndarray, bid: np.ndarray) -> tuple[float, float]:
    """Objective ($) and largest violation of a bid in the instance's LP, measured by the harness:
    :func:`check` on ForecastLP's LP; on a bidder's LP, the LP with the bid fixed
    (:meth:`BidderLP.evaluate_bid`): violation 0 where it is feasible, infinite where not."""
    if isinstance(problem, BidderLP):
        value, feasible, _ = problem.evaluate_bid(theta, bid)
        return value, 0.0 if feasible else float("inf")
    return check(ForecastLP(reserve_multiple=1.0).model(ctx), bid)


def _median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def inference_ms(bidder: Any, theta: np.ndarray, batch: int = 1024) -> tuple[float, float]:
    """Wall ms of a bidder's ``predict`` (network and repair): the median over instances at
    batch 1, and the median call on ``batch`` instances (the rows of ``theta`` repeated; NaN for
    ``batch=0``)."""
    bidder.predict(theta[:1])  # warm-up
    ms_1 = float(np.median([_median_ms(lambda t=theta[i:i + 1]: bidder.predict(t), 3) for i in range(len(theta))]))
    if not batch:
        return ms_1, float("nan")
    tiled = np.resize(theta, (batch, theta.shape[1]))
    return ms_1, _median_ms(lambda: bidder.predict(tiled), 7)


def load_proxy(proxy: str | Any) -> Any:
    """The bidder of a spec string (or the object itself), ValueError unless it is a proxy
    (has every one of :data:`PROXY_MEMBERS`)."""
    bidder = load_component(proxy) if isinstance(proxy, str) else proxy
    missing = [name for name in PROXY_MEMBERS if not hasattr(bidder, name)]
    if missing:
        raise ValueError(
            f"proxy {proxy if isinstance(proxy, str) else type(proxy).__name__!r} gives a {type(bidder).__name__}, not a proxy "
            f"bidder (it lacks {', '.join(missing)}): a proxy has problem (its ProxyProblem), raw(theta), predict(theta) and "
            f"bid_batch(contexts), as {DEFAULT_PROXY.partition('?')[0]} has; score other DA bidders on the closed-loop "
            "leaderboard (--entry NAME=DA_SPEC,RT_SPEC)")
    return bidder


def run_track(proxies: Sequence[str | Any], config: ConfigLike = "caiso-sp15", split: str = "test", out: str | Path = "leaderboard/proxy-track",
              limit: int | None = None, threads: int = 1, batch: int = 1024, overwrite: bool = False) -> list[dict]:
    """Evaluate every proxy (a bidder spec string, or a bidder object with ``problem``, ``raw``,
    ``predict`` and ``bid_batch``) on the split's instances; write the files; return the summary.
    A spec that is not a proxy, or (without ``overwrite``) an earlier run's files in ``out``: an
    error before any work."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1 (or None: every day), got {limit}")
    out = Path(out)
    cli.refuse_existing([out / name for name in TRACK_FILES], overwrite)
    bidders = [load_proxy(proxy) for proxy in proxies]
    torch.set_num_threads(threads)
    out.mkdir(parents=True, exist_ok=True)
    days = ScenarioSet(config)
    ids = days.ids(split)[:limit]
    if not ids:
        raise ValueError(f"split {split!r} has no days")
    contexts = [da_context(days, days.get(i)) for i in ids]
    rows: list[dict] = []
    summary: list[dict] = []
    references: dict[tuple, tuple[float, float]] = {}
    for proxy, bidder in zip(proxies, bidders, strict=True):
        spec = proxy if isinstance(proxy, str) else type(proxy).__name__
        problem = bidder.problem
        theta = np.stack([problem.params(ctx) for ctx in contexts])
        raw = bidder.raw(theta).double().numpy()
        start = time.perf_counter()
        bids = bidder.bid_batch(contexts)
        bid_ms = 1e3 * (time.perf_counter() - start) / len(contexts)
        repaired = np.stack([np.concatenate([b.energy_mw, b.as_mw.ravel()]) for b in bids])
        for i, sid in enumerate(ids):
            if (problem.spec, sid) not in references:
                references[problem.spec, sid] = reference(problem, contexts[i], theta[i])
            best, highs_ms = references[problem.spec, sid]
            value, violation = measure(problem, contexts[i], theta[i], repaired[i])
            _, raw_violation = measure(problem, contexts[i], theta[i], raw[i])
            rows.append({
                "proxy": spec, "scenario_id": sid, "highs_objective": best, "highs_ms": highs_ms, "proxy_objective": value,
                "gap_pct": 100 * (best - value) / abs(best), "raw_violation": raw_violation,
                "raw_infeasible": raw_violation > FEASIBILITY_TOL, "repaired_violation": violation,
                "repaired_infeasible": violation > FEASIBILITY_TOL,
                "certified_gap_pct": 100 * bids[i].note.get("certified_gap", np.nan),
                "fallback": "certified_gap" in bids[i].note and bids[i].note.get("solver") != "proxy",
            })
        mine = [r for r in rows if r["proxy"] == spec]
        ms_1, ms_batch = inference_ms(bidder, theta, batch)
        gaps = np.array([r["gap_pct"] for r in mine])
        certified = np.array([r["certified_gap_pct"] for r in mine])
        highs_ms = float(np.mean([r["highs_ms"] for r in mine]))
        summary.append({
            "proxy": spec, "instances": len(mine), "gap_mean_pct": float(gaps.mean()), "gap_p95_pct": float(np.percentile(gaps, 95)),
            "gap_max_pct": float(gaps.max()),
            "raw_infeasible_share": float(np.mean([r["raw_infeasible"] for r in mine])),
            "raw_violation_mean": float(np.mean([r["raw_violation"] for r in mine])),
            "repaired_infeasible_share": float(np.mean([r["repaired_infeasible"] for r in mine])),
            "inference_ms_batch1": ms_1, f"inference_ms_batch{batch}": ms_batch,
            "inference_us_per_instance_batch": 1e3 * ms_batch / batch, "highs_ms_mean": highs_ms,
            "speedup_batch1": highs_ms / ms_1, "speedup_batch": highs_ms / (ms_batch / batch),
            # HiGHS given the same cores: one instance per core at once
            "speedup_batch_same_cores": highs_ms / threads / (ms_batch / batch),
            "torch_threads": threads, "batch": batch,
            # with the bidder's fallback_gap: the certificates, the share solved, the whole bid's time
            "certified_gap_mean_pct": float(np.mean(certified)) if np.isfinite(certified).all() else None,
            "fallback_share": float(np.mean([r["fallback"] for r in mine])),
            "bid_batch_ms_per_instance": bid_ms, "speedup_end_to_end": highs_ms / bid_ms,
        })
    with open(out / "proxy_instances.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, INSTANCE_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    (out / "proxy_track.json").write_text(json.dumps({"config": str(config), "split": split, "summary": summary}, indent=1) + "\n")
    table = summary_table(summary, batch)
    (out / "proxy_track.md").write_text(table + "\n")
    print(table)
    print(f"\n{len(rows)} instance rows -> {out / 'proxy_instances.csv'}")
    return summary


def summary_table(summary: list[dict], batch: int) -> str:
    head = ("| proxy | instances | gap mean % | gap p95 % | gap max % | raw infeasible | infeasible after repair | "
            f"ms batch 1 | ms batch {batch} | HiGHS ms | speed-up batch 1 | speed-up batch {batch} | same cores | "
            "certified gap mean % | solved by fallback | end-to-end ms per bid | end-to-end speed-up |")
    lines = [head, "|" + "---|" * 17]
    for s in summary:
        name = s["proxy"].rpartition("?")[2] or s["proxy"]
        lines.append(
            f"| {name} | {s['instances']} | {s['gap_mean_pct']:.2f} | {s['gap_p95_pct']:.2f} | {s['gap_max_pct']:.2f} | "
            f"{s['raw_infeasible_share']:.0%} | "
            f"{s['repaired_infeasible_share']:.0%} | {s['inference_ms_batch1']:.2f} | {s[f'inference_ms_batch{batch}']:.1f} | "
            f"{s['highs_ms_mean']:.2f} | {s['speedup_batch1']:.1f}x | {s['speedup_batch']:,.0f}x | "
            f"{s['speedup_batch_same_cores']:,.0f}x | "
            + (f"{s['certified_gap_mean_pct']:.2f} | {s['fallback_share']:.0%}" if s["certified_gap_mean_pct"] is not None else "- | -")
            + f" | {s['bid_batch_ms_per_instance']:.1f} | {s['speedup_end_to_end']:,.1f}x |"
        )
    return "\n".join(lines)
