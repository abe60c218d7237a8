"""The aggregator's case 1 of Qi et al. (2023) on the shipped data: M1, M2, M3 side by side.

    python -m benchmarks.ges --json OUT.json [--split test] [--days N] [--gamma 0.05] [--draws 10000]

Each day of the split (``caiso-sp15``'s test days by default) is a portfolio of bessgym's battery,
1,000 Callaway air conditioners under the region's typical-year outdoor temperature and the
Caltech EV sessions of a matching weekday (``bessgym.portfolio.case_day``), selling DA energy,
reserve up (spin price) and reserve down (regulation-down price) at the day's CAISO prices,
known as in the paper. Each model (``baselines.aggregator``) plans the day; the plan is then
realised over ``--draws`` Monte Carlo draws of the decision-dependent world (seeded apart from
the planners' own draws) and replayed unit by unit (every thermostat through
``bessgym.tcl.track``, every EV session through ``bessgym.ev.dispatch``).

Printed in the paper's case-1 format: DA cost, realised total cost (DA cost plus what the world
added: imbalance at RT prices, reserve not held returned and replaced at the penalty price, the
customers' incentive, the final SoC's value), violation rate of the binding chance constraints
with its 95% Wilson interval, LORP, ERNS and Algorithm 1's iterations; then Table II's k values.
Costs are $ per day, mean over the days; negative is a net revenue. The paper's case data (and
yuan) are not public: compare the pattern (M1 < M2 < M3 in DA cost, M3 lowest realised, M3's
violation rate within gamma), not the figures.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
from scipy.stats import binomtest
from tqdm import tqdm

from baselines.aggregator import MODELS, AggregatorDA
from baselines.chance import k_factor
from bessgym.ddu import BaseDraws
from bessgym.ev import dispatch
from bessgym.market import load_profile
from bessgym.portfolio import Case, case_day, ev_unmet_mwh, planned_cost, realise, violation_rate
from bessgym.scenarios import ScenarioSet
from bessgym.tcl import track

GAMMAS = (0.01, 0.05, 0.1, 0.25, 0.45)
K_CLASSES = ("none", "symmetric", "unimodal", "symmetric_unimodal", "student_t", "normal")
STUDENT_DOF = 5.0
MAX_DRAWS = 100_000
"""Monte Carlo draws a day may take (memory: about 2 kB per draw and asset)."""


def evaluate_day(case: Case, planners: dict[str, AggregatorDA], draws: int, seed: int) -> dict[str, dict]:
    """Each planner's figures on one day (see the module docstring)."""
    market = load_profile("caiso")
    rng = np.random.default_rng([seed, 7])
    world = {a.name: BaseDraws.draw(draws, a.ges.n_intervals, rng) for a in case.assets if a.uncertainty is not None}
    names = [a.name for a in case.assets]
    out = {}
    for name, planner in planners.items():
        plan = planner.plan(case.assets, case.prices)
        outcome = realise(case.assets, case.prices, market, plan.schedule, world)
        rate, rows = violation_rate(case.assets, outcome, plan.schedule)
        net = plan.schedule.discharge_mw - plan.schedule.charge_mw
        tcl = track(case.tcl, case.outdoor_c, case.prices.dt_h, net[names.index("tcl")], np.random.default_rng([seed, 11]),
                    substeps=12)
        ev = dispatch(case.ev, net[names.index("ev")])
        tcl_range = float(case.assets[names.index("tcl")].ges.p_charge_max_mw.max() + case.assets[names.index("tcl")].ges.p_discharge_max_mw.max())
        out[name] = {
            "da_cost_usd": planned_cost(case.assets, case.prices, plan.schedule),
            "realised_cost_usd": float(outcome.cost_usd.mean()),
            "lines_usd": {k: float(np.mean(v)) for k, v in outcome.ledger._asdict().items()},
            "violations": int(round(rate * rows * draws)), "violation_trials": rows * draws, "binding_rows": rows,
            "lorp": outcome.lorp, "erns_mwh": outcome.erns_mwh,
            "ev_unmet_realised_mwh": float(ev_unmet_mwh(case.assets, outcome).mean()),
            "iterations": plan.iterations, "converged": plan.converged, "changes": plan.changes,
            "plan_seconds": plan.seconds,
            "reserve_up_mwh": float(plan.schedule.reserve_up_mw.sum() * case.prices.dt_h),
            "reserve_down_mwh": float(plan.schedule.reserve_down_mw.sum() * case.prices.dt_h),
            "tcl_comfort_violation_c": tcl.comfort_violation_c,
            "tcl_tracking_rmse_share": float(np.sqrt(np.mean((tcl.net_mw - net[names.index("tcl")]) ** 2)) / max(tcl_range, 1e-9)),
            "ev_unmet_mwh": float(ev.unmet_mwh.sum()),
        }
    return out


def summarise(days: list[dict[str, dict]], gamma: float) -> dict[str, dict]:
    """Mean per day of each model's figures; the violation rate pooled over days with its 95%
    Wilson interval."""
    summary = {}
    for model in days[0]:
        rows = [d[model] for d in days]
        hits, trials = sum(r["violations"] for r in rows), sum(r["violation_trials"] for r in rows)
        ci = binomtest(hits, trials).proportion_ci(0.95, method="wilson") if trials else None
        summary[model] = {
            "da_cost_usd": float(np.mean([r["da_cost_usd"] for r in rows])),
            "realised_cost_usd": float(np.mean([r["realised_cost_usd"] for r in rows])),
            "violation_rate": hits / trials if trials else 0.0,
            "violation_ci95": [ci.low, ci.high] if ci else [0.0, 0.0],
            "within_gamma": bool(ci is None or ci.low <= gamma),
            "lorp": float(np.mean([r["lorp"] for r in rows])),
            "erns_mwh": float(np.mean([r["erns_mwh"] for r in rows])),
            "iterations_mean": float(np.mean([r["iterations"] for r in rows])),
            "iterations_max": int(max(r["iterations"] for r in rows)),
            "not_converged_days": int(sum(not r["converged"] for r in rows)),
            "tcl_comfort_violation_c_max": float(max(r["tcl_comfort_violation_c"] for r in rows)),
            "tcl_tracking_rmse_share_mean": float(np.mean([r["tcl_tracking_rmse_share"] for r in rows])),
            "ev_unmet_mwh_total": float(sum(r["ev_unmet_mwh"] for r in rows)),
            "ev_unmet_realised_mwh_mean": float(np.mean([r["ev_unmet_realised_mwh"] for r in rows])),
            "plan_seconds_mean": float(np.mean([r["plan_seconds"] for r in rows])),
            "lines_usd": {k: float(np.mean([r["lines_usd"][k] for r in rows])) for k in rows[0]["lines_usd"]},
        }
    return summary


def k_table() -> dict[str, dict[str, float]]:
    """Table II's k for each assumed class and gamma (Student t with 5 degrees of freedom)."""
    return {cls: {str(g): k_factor(g, cls, STUDENT_DOF if cls == "student_t" else None) for g in GAMMAS} for cls in K_CLASSES}


def print_tables(summary: dict[str, dict], n_days: int, gamma: float, draws: int) -> None:
    print(f"\nCase 1 on {n_days} shipped CAISO days, gamma = {gamma}, {draws:,} draws per day ($ per day, mean; - = revenue)\n")
    print("| model | DA cost | realised total cost | violation rate % [95% CI] | LORP % | ERNS MWh | iterations (max) |")
    print("|---|---|---|---|---|---|---|")
    for model, s in summary.items():
        lo, hi = s["violation_ci95"]
        print(f"| {model} | {s['da_cost_usd']:.1f} | {s['realised_cost_usd']:.1f} | {100 * s['violation_rate']:.2f} "
              f"[{100 * lo:.2f}, {100 * hi:.2f}] | {100 * s['lorp']:.2f} | {s['erns_mwh']:.3f} | "
              f"{s['iterations_mean']:.1f} ({s['iterations_max']}) |")
    print("\nThe plans replayed unit by unit, and the EV energy the realised days left unmet:")
    print("| model | TCL comfort violation degC (max) | TCL tracking RMSE / power range | EV unmet, plan replayed (MWh, all days) "
          "| EV unmet, realised (MWh/day, mean) |")
    print("|---|---|---|---|---|")
    for model, s in summary.items():
        print(f"| {model} | {s['tcl_comfort_violation_c_max']:.3f} | {s['tcl_tracking_rmse_share_mean']:.3f} | "
              f"{s['ev_unmet_mwh_total']:.4f} | {s['ev_unmet_realised_mwh_mean']:.4f} |")
    print("\nTable II: k such that mu + k sigma <= bound holds with probability >= 1 - gamma")
    table = k_table()
    print("| assumed | " + " | ".join(f"gamma {g}" for g in GAMMAS) + " |")
    print("|---|" + "---|" * len(GAMMAS))
    for cls, row in table.items():
        label = f"student_t ({STUDENT_DOF:g} dof)" if cls == "student_t" else cls
        print(f"| {label} | " + " | ".join(f"{row[str(g)]:.3f}" for g in GAMMAS) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ges", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, required=True, help="write the report here (JSON)")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"), help="caiso-sp15 split (default test)")
    parser.add_argument("--days", type=int, default=None, help="the split's first N days (default: all)")
    parser.add_argument("--gamma", type=float, default=0.05, help="risk level of each chance constraint (default 0.05)")
    parser.add_argument("--draws", type=int, default=10_000, help="Monte Carlo draws of the world per day (default 10,000)")
    parser.add_argument("--planner-draws", type=int, default=2000, help="the planners' own draws (default 2,000)")
    parser.add_argument("--n-tcl", type=int, default=1000, help="air conditioners in the fleet (default 1,000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fleets, the planners' and the world's draws")
    args = parser.parse_args(argv)
    if args.json.is_dir():
        parser.error(f"--json {args.json} is a folder; give the path of the JSON file to write")
    if args.days is not None and args.days < 1:
        parser.error(f"--days {args.days}: give at least 1")
    for flag, value, low, high in (("--draws", args.draws, 100, MAX_DRAWS), ("--planner-draws", args.planner_draws, 100, MAX_DRAWS),
                                   ("--n-tcl", args.n_tcl, 1, 100_000), ("--seed", args.seed, 0, 2**31 - 1)):
        if not low <= value <= high:
            parser.error(f"{flag} {value}: allowed {low:,} .. {high:,}")
    try:
        planners = {m: AggregatorDA(m, gamma=args.gamma, draws=args.planner_draws, seed=args.seed) for m in MODELS}
    except ValueError as exc:
        parser.error(f"--gamma {args.gamma}: {exc}")
    scenarios = ScenarioSet("caiso-sp15")
    ids = scenarios.ids(args.split)[: args.days]
    start = time.perf_counter()
    days = []
    for sid in tqdm(ids, desc="days", unit="day"):
        case = case_day(scenarios.get(sid), n_tcl=args.n_tcl, seed=args.seed)
        days.append({"scenario_id": sid, "ev_day": case.ev_day.isoformat(),
                     **evaluate_day(case, planners, args.draws, args.seed)})
    per_model = [{m: d[m] for m in MODELS} for d in days]
    summary = summarise(per_model, args.gamma)
    print_tables(summary, len(ids), args.gamma, args.draws)
    report = {"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}, "summary": summary,
              "k_table": k_table(), "days": days, "wall_s": time.perf_counter() - start,
              "machine": platform.platform(), "python": platform.python_version()}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(f"\nwritten {args.json} in {report['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
