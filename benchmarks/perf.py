"""Performance figures, written as JSON (never asserted in tests).

    python -m benchmarks.perf [--only sim|env] [--json PATH]

``sim``: whole-day simulation of real CAISO test days (96 intervals) with the threshold
bidder's bids and random base points: scalar (:func:`bessgym.sim.simulate_day`, one day per
call) and batched (:func:`bessgym.sim.simulate_batch`, 1,024 days per call), in days per second
on one core. ``sim_reference_numpy_days_per_s`` times a plain numpy pass over the same arrays
(one vectorised ledger evaluation per day) measured in the same run, as a yardstick against
machine noise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from typing import Callable

import numpy as np

from bessgym.forecast import da_context
from bessgym.policies import ThresholdBidder
from bessgym.scenarios import ScenarioSet
from bessgym.sim import ScenarioArrays, simulate_batch, simulate_day

BATCH = 1024


def _rate(work: Callable[[], int], min_seconds: float = 1.0, repeats: int = 3) -> float:
    """Best of ``repeats`` rates (units per second), each over at least ``min_seconds``."""
    best = 0.0
    for _ in range(repeats):
        done, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < min_seconds:
            done += work()
        best = max(best, done / elapsed)
    return best


def bench_sim() -> dict[str, float]:
    scenarios = ScenarioSet("caiso-sp15")
    config = scenarios.config
    battery, market = config.battery, config.market_profile
    days = [scenarios.get(i) for i in scenarios.ids("test")]
    bidder = ThresholdBidder()
    bids = [bidder.bid(da_context(scenarios, s)) for s in days]
    rng = np.random.default_rng(0)
    base = rng.uniform(-1, 1, (len(days), days[0].n_intervals))

    def scalar() -> int:
        for s, b, p in zip(days, bids, base):
            simulate_day(battery, market, s, b, p)
        return len(days)

    picks = rng.integers(0, len(days), BATCH)
    arrays = ScenarioArrays.stack([days[i] for i in picks])
    energy = np.stack([bids[i].energy_mw for i in picks])
    awards = np.stack([bids[i].as_mw for i in picks])
    batch_base = base[picks]

    def batched() -> int:
        simulate_batch(battery, market, arrays, energy, awards, batch_base)
        return BATCH

    def reference() -> int:
        for s, p in zip(days, base):
            np.sum(s.rt_price * np.clip(p, -1, 1) * s.dt_h)
        return len(days)

    return {
        "sim_days_per_s_scalar": _rate(scalar),
        "sim_days_per_s_batched": _rate(batched),
        "sim_batch_size": BATCH,
        "sim_intervals_per_day": days[0].n_intervals,
        "sim_reference_numpy_days_per_s": _rate(reference),
    }


def bench_env() -> dict[str, float]:
    """RealTime-v0: one env with random actions (steps exclude resets), the mean reset time
    over the train split's days after their first visit and on a first visit, and the native
    vector env at N = 1, 64, 1024, 4096 (env-steps per second, random actions, autoresets in)."""
    import gymnasium as gym

    import bessgym  # noqa: F401

    env = gym.make("bessgym/RealTime-v0").unwrapped
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (4096, 1)).astype(np.float32)
    env.reset(seed=0)
    start = time.perf_counter()
    cold = [env.reset(options={"scenario": i}) for i in env.source.ids[:20]]
    cold_ms = (time.perf_counter() - start) / len(cold) * 1e3
    for scenario_id in env.source.ids:
        env.reset(options={"scenario": scenario_id})
    steps, step_s, resets, reset_s = 0, 0.0, 0, 0.0
    while step_s < 2.0:
        t0 = time.perf_counter()
        env.reset()
        t1 = time.perf_counter()
        for k in range(96):
            env.step(actions[k])
        t2 = time.perf_counter()
        resets, reset_s, steps, step_s = resets + 1, reset_s + t1 - t0, steps + 96, step_s + t2 - t1
    figures = {
        "env_steps_per_s": steps / step_s,
        "env_reset_ms": reset_s / resets * 1e3,
        "env_reset_first_visit_ms": cold_ms,
    }
    for n in (1, 64, 1024, 4096):
        vec = gym.make_vec("bessgym/RealTime-v0", num_envs=n, vectorization_mode="vector_entry_point")
        vec.reset(seed=0)
        batch = rng.uniform(-1, 1, (n, 1)).astype(np.float32)

        def vec_steps() -> int:
            vec.step(batch)
            return n

        figures[f"vec_env_steps_per_s_{n}"] = _rate(vec_steps, min_seconds=1.0, repeats=2)
    return figures


BENCHES: dict[str, Callable[[], dict[str, float]]] = {"sim": bench_sim, "env": bench_env}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.perf", description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(BENCHES), action="append", help="run only these groups")
    parser.add_argument("--json", help="write the figures to this JSON file")
    args = parser.parse_args(argv)
    figures: dict[str, object] = {
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "numpy": np.__version__},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    for name in args.only or sorted(BENCHES):
        figures.update(BENCHES[name]())
    if args.json and os.path.exists(args.json):
        with open(args.json) as f:
            figures = {**json.load(f), **figures}
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
