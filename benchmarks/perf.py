"""Performance figures, written as JSON (never asserted in tests).

    python -m benchmarks.perf [--only sim|env|baselines|agents|proxy|dervet|three|ges|community] [--json PATH]

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
import tempfile
import time
from pathlib import Path
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


def bench_baselines() -> dict[str, float]:
    """Solve times on real CAISO test days (HiGHS with 1 thread unless noted): the oracle day
    (build + exact solve, median; and the share of days whose relaxation charged and discharged at
    once, so that the exact solve re-solved with binaries), MPC and stochastic MPC RT decisions
    (p50 / p95 over whole days after ForecastLP's bid), RobustDA, StochasticDA and ChanceConstrainedDA (SOCP and LP variants) bids (median over
    days, forecasts ready)."""
    from bessgym.evaluation import evaluate
    from bessgym.forecast import da_context

    from baselines.chance import ChanceConstrainedDA
    from baselines.mpc import MPCPolicy, StochasticMPC
    from baselines.oracle import PerfectForesight
    from baselines.robust import RobustDA
    from baselines.stochastic import StochasticDA

    scenarios = ScenarioSet("caiso-sp15")
    config = scenarios.config
    ids = scenarios.ids("test")[::6]
    days = [scenarios.get(i) for i in ids]
    contexts = [da_context(scenarios, d) for d in days]
    oracle = PerfectForesight(config.battery, config.market_profile)

    def median_ms(action: Callable[[object], object], items: list) -> float:
        times = []
        for item in items:
            start = time.perf_counter()
            action(item)
            times.append(time.perf_counter() - start)
        return float(np.median(times) * 1e3)

    oracle.solve(days[0])  # load HiGHS once
    ChanceConstrainedDA().bid(contexts[0])  # deployment moments, cached per process
    policy, stochastic = MPCPolicy(), StochasticMPC()
    evaluate(config, "test", "baselines.reference:ForecastLP", policy, ids=ids[:5])
    evaluate(config, "test", "baselines.reference:ForecastLP", stochastic, ids=ids[:5])
    decisions = np.array(policy.decision_seconds) * 1e3
    stochastic_decisions = np.array(stochastic.decision_seconds) * 1e3
    year = bench_year()
    with_binaries = []
    oracle_ms = median_ms(lambda d: with_binaries.append(any("binaries" in m for m in oracle.solve(d).result.messages)), days)
    return {
        **year,
        "baselines_highs_threads": 1,
        "oracle_day_ms": oracle_ms,
        "oracle_days_with_binaries_pct": 100.0 * float(np.mean(with_binaries)),
        "mpc_decision_ms_p50": float(np.percentile(decisions, 50)),
        "mpc_decision_ms_p95": float(np.percentile(decisions, 95)),
        "stochastic_mpc_decision_ms_p50": float(np.percentile(stochastic_decisions, 50)),
        "stochastic_mpc_decision_ms_p95": float(np.percentile(stochastic_decisions, 95)),
        "robust_da_ms": median_ms(RobustDA().bid, contexts),
        "stochastic_da_s": median_ms(StochasticDA().bid, contexts[:5]) / 1e3,
        "chance_da_ms": median_ms(ChanceConstrainedDA().bid, contexts[:5]),
        "chance_da_lp_ms": median_ms(ChanceConstrainedDA(method="lp").bid, contexts),
    }


def bench_year() -> dict[str, float]:
    """The year-long perfect-foresight co-optimisation: the synthetic preset's 2023 (365 days at
    5 minutes, 105,120 intervals, energy and four AS products) in one LP, HiGHS dual simplex on
    2 threads; and an interior-point reference solve (no crossover) for the optimality gap."""
    import datetime as dt

    from baselines.oracle import solve_period

    scenarios = ScenarioSet("synthetic")
    config = scenarios.config
    days = [scenarios.get(f"synthetic-SYN-{dt.date(2023, 1, 1) + dt.timedelta(days=i)}") for i in range(365)]
    start = time.perf_counter()
    fast = solve_period(config.battery, config.market_profile, days, threads=2, method="simplex")
    fast_s = time.perf_counter() - start
    start = time.perf_counter()
    reference = solve_period(config.battery, config.market_profile, days, threads=2, method="ipm")
    return {
        "year_pf_s": fast_s,
        "year_pf_intervals": len(fast.base_mw),
        "year_pf_highs_threads": 2,
        "year_pf_objective_usd": fast.objective_usd,
        "year_pf_reference_s": time.perf_counter() - start,
        "year_pf_reference_rel_gap": abs(fast.objective_usd - reference.objective_usd) / abs(reference.objective_usd),
    }


def bench_agents() -> dict[str, float]:
    """PPO training throughput (env-steps per second, whole ``learn`` call: rollouts and
    updates) with the shipped hyper-parameters, 200k steps on each env's native vector env."""
    import tempfile
    from pathlib import Path

    from agents.ppo.train import TrainConfig, train

    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        for env, key, steps in (("bessgym/RealTime-v0", "ppo_train_env_steps_per_s_realtime", 200_000),
                                ("bessgym/DayAhead-v0", "ppo_train_env_steps_per_s_dayahead", 20_000)):
            record = train(TrainConfig(env=env, seed=0, timesteps=steps, out=Path(tmp) / key, evaluations=1))
            figures[key] = record["env_steps_per_s"]
    figures["ppo_torch_threads"] = __import__("torch").get_num_threads()
    return figures


def bench_proxy() -> dict[str, float]:
    """The shipped DA proxies (one torch thread) against HiGHS on the same CAISO test-day
    instances in the same run. The SoC-trajectory network (decoding and repair): ms per call at
    batch 1 and 1,024, and the mean time to the rules' optimum
    (:func:`agents.proxy.problem.solve_optimum`, one thread); with 20 refinement steps, batch 1
    only, on the first 12 days (a call on 1,024 takes minutes here; ``python -m
    benchmarks.leaderboard --proxy-track`` measures it). The solution caches of RobustDA, the
    chance-constrained LP and ForecastLP: ms per call at batch 1,024 against the mean time of the
    bidder's own solve."""
    import torch

    from agents.proxy.bidder import TorchProxyBidder
    from agents.proxy.problem import solve_optimum
    from benchmarks.proxy_track import inference_ms

    torch.set_num_threads(1)
    scenarios = ScenarioSet("caiso-sp15")
    bidder = TorchProxyBidder(name="caiso-soc")
    theta = np.stack([bidder.problem.params(da_context(scenarios, scenarios.get(i))) for i in scenarios.ids("test")])
    seconds = []
    for t in theta:
        model = bidder.problem.model(t)
        start = time.perf_counter()
        solve_optimum(model)
        seconds.append(time.perf_counter() - start)
    highs_ms = 1e3 * float(np.mean(seconds))
    ms_1, ms_batch = inference_ms(bidder, theta, BATCH)
    refined_ms_1, _ = inference_ms(TorchProxyBidder(name="caiso-soc", refine_steps=20), theta[:12], batch=0)
    figures = {"proxy_highs_solve_ms": highs_ms, "proxy_inference_ms_batch1": ms_1, "proxy_inference_ms_batch1024": ms_batch,
               "proxy_speedup_batch1": highs_ms / ms_1, "proxy_speedup_batch1024": highs_ms / (ms_batch / BATCH),
               "proxy_refine20_inference_ms_batch1": refined_ms_1, "proxy_refine20_speedup_batch1": highs_ms / refined_ms_1}
    # the solution caches against their bidders' own solves, on the same test days, in the same run
    for name in ("robust", "chance-lp", "forecast-lp"):
        cache = TorchProxyBidder(name=f"caiso-{name}")
        theta = np.stack([cache.problem.params(da_context(scenarios, scenarios.get(i))) for i in scenarios.ids("test")])
        seconds = []
        for t in theta:
            model = cache.problem.model(t)
            start = time.perf_counter()
            cache.problem.bidder.solve(model)
            seconds.append(time.perf_counter() - start)
        solver_ms = 1e3 * float(np.mean(seconds))
        ms_1, ms_batch = inference_ms(cache, theta, BATCH)
        key = f"proxy_cache_{name.replace('-', '_')}"
        figures.update({f"{key}_solver_ms": solver_ms, f"{key}_inference_ms_batch1024": ms_batch,
                        f"{key}_speedup_batch1024": solver_ms / (ms_batch / BATCH)})
    return figures


def bench_dervet() -> dict[str, float]:
    """DER-VET case A (CAISO 2020, 366 daily windows): reading the case and solving its year."""
    from pathlib import Path

    from benchmarks.dervet import read_case, solve_case

    start = time.perf_counter()
    result = solve_case(read_case(Path(__file__).resolve().parent / "dervet_cases" / "caiso_market_case"))
    return {"dervet_case_a_s": time.perf_counter() - start, "dervet_case_a_solve_s": result.solve_seconds,
            "dervet_case_a_mip_windows": result.statuses.get("mip", 0)}


def bench_three() -> dict[str, float]:
    """Three settlements: the year-long multi-market LP of Dowling et al. (365 days of CAISO SP15:
    8,760 DA hours, 35,040 FMM and 105,120 RTD intervals; energy and four AS products in DA and
    the FMM; HiGHS dual simplex on 2 threads), the three-settlement oracle's day (5-minute,
    the project's rules) and ThreeSettlement-v0's steps per second (random actions)."""
    import gymnasium as gym

    from baselines.multimarket import Mode, solve_year
    from baselines.oracle import PerfectForesight
    from benchmarks.dowling import BATTERY, load_year

    prices = load_year(365, "SP15")
    year = solve_year(BATTERY, prices, Mode("da+rt", True), threads=2, method="simplex")
    scenarios = ScenarioSet("caiso3-sp15")
    config = scenarios.config
    days = [scenarios.get(i) for i in scenarios.ids("test")[:10]]
    oracle = PerfectForesight(config.battery, config.market_profile)
    oracle.solve(days[0])
    start = time.perf_counter()
    for day in days:
        oracle.solve(day)
    oracle_ms = (time.perf_counter() - start) / len(days) * 1e3
    env = gym.make("bessgym/ThreeSettlement-v0")
    env.reset(seed=0)
    actions = np.random.default_rng(0).uniform(-1, 1, (4096, 122)).astype(np.float32)

    def steps() -> int:
        done = 0
        for a in actions[:289]:
            done += 1
            if env.step(a)[2]:
                env.reset()
        return done

    return {
        "three_year_lp_s": year.result.seconds, "three_year_lp_build_s": year.build_s, "three_year_lp_rows": year.n_rows,
        "three_year_lp_cols": year.n_cols, "three_year_lp_highs_threads": 2,
        "three_oracle_day_ms": oracle_ms, "three_settlement_env_steps_per_s": _rate(steps),
    }


def bench_ges() -> dict[str, float]:
    """Generalised storage (issue 19): the aggregator's M3 plan (Algorithm 1, 2,000 draws per
    iterate, HiGHS on 2 threads) for 1,000 units planned one by one (the battery, the day's EV
    sessions and air conditioners to make up 1,000: ``bessgym.portfolio.unit_assets``) on the
    first CAISO test day, and for the three aggregate fleets; then the realisation of the
    aggregate plan over 10,000 draws."""
    from baselines.aggregator import AggregatorDA
    from bessgym.ddu import BaseDraws
    from bessgym.market import load_profile
    from bessgym.portfolio import case_day, realise, unit_assets

    scenarios = ScenarioSet("caiso-sp15")
    day = scenarios.get(scenarios.ids("test")[0])
    sessions = len(case_day(day, n_tcl=1).ev.arrival)
    case = case_day(day, n_tcl=1000 - 1 - sessions)
    units = unit_assets(case)
    per_unit = AggregatorDA("M3", threads=2).plan(units, case.prices)
    aggregate = AggregatorDA("M3", threads=2).plan(case.assets, case.prices)
    world = {a.name: BaseDraws.draw(10_000, a.ges.n_intervals, np.random.default_rng(1)) for a in case.assets if a.uncertainty}
    start = time.perf_counter()
    realise(case.assets, case.prices, load_profile("caiso"), aggregate.schedule, world)
    return {
        "ges_units": len(units), "ges_units_m3_s": per_unit.seconds, "ges_units_m3_solve_s": per_unit.solve_seconds,
        "ges_units_m3_iterations": per_unit.iterations, "ges_units_m3_converged": per_unit.converged,
        "ges_units_lp_cols": int(per_unit.results[-1].z.size), "ges_fleets_m3_s": aggregate.seconds,
        "ges_fleets_m3_iterations": aggregate.iterations, "ges_realise_10k_draws_s": time.perf_counter() - start,
    }


def bench_community() -> dict[str, float]:
    """The neighbourhood market (issue 20): Neighborhood-v0 with 25 homes (the 17 shipped and 8
    recombined, ``Homes.recombined``), random actions, one core, steps per second (a step: every
    home's hour, the market's clearing and the utility's settlement; resets included, a day
    drawn at random each 24 steps); the clearing alone of a year's 8,760 books of 25 homes; and
    shared-parameter PPO's training speed on the 17 shipped homes (``agents.ppo.neighborhood``,
    home-hours per second of ``learn``, 4 rollouts)."""
    from bessgym.community.auction import k_double_auction
    from bessgym.community.env import NeighborhoodEnv

    env = NeighborhoodEnv(25)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = [{a: rng.uniform(-1, 1, 5).astype(np.float32) for a in env.possible_agents} for _ in range(24)]

    def day() -> int:
        env.reset()
        for a in actions:
            env.step(a)
        return len(actions)

    price = rng.uniform(0.05, 0.5, (8760, 25))
    qty = rng.uniform(0, 3, (8760, 25))
    buyer = rng.uniform(size=(8760, 25)) < 0.5
    start = time.perf_counter()
    k_double_auction(price, np.where(buyer, qty, 0.0), price, np.where(buyer, 0.0, qty))
    clear_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as folder:  # shared-parameter PPO: 4 rollouts of the 17 homes' VecEnv
        from agents.ppo.neighborhood import train

        prefix = train(seed=0, timesteps=4 * 512 * 17, out=Path(folder) / "run", progress=False)
        record = json.loads((prefix.parent / "training.json").read_text())
    return {"community_env_steps_per_s_25_homes": _rate(day), "community_clear_year_25_homes_s": clear_s,
            "community_ppo_home_steps_per_s": record["timesteps"] / record["seconds"]}


BENCHES: dict[str, Callable[[], dict[str, float]]] = {
    "sim": bench_sim, "env": bench_env, "baselines": bench_baselines, "agents": bench_agents, "proxy": bench_proxy,
    "dervet": bench_dervet, "three": bench_three, "ges": bench_ges, "community": bench_community,
}


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
    if args.only and args.json and os.path.exists(args.json):  # one group: keep the file's other figures
        with open(args.json) as f:
            figures = {**json.load(f), **figures}
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
