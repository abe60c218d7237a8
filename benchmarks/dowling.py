"""Reproduce the battery table of Dowling, Kumar and Zavala (2017) on the shipped CAISO data.

    python -m benchmarks.dowling --json OUT.json [--days 365] [--node SP15] [--threads 2] [--project-rules 2]

A 1 MW / 1 MWh battery (95 % each way, SoC 0-100 %, back to 50 % every midnight, no wear) with
perfect information over a year of DA, FMM and RTD prices, one LP per mode
(:mod:`baselines.multimarket`, the paper's gross-leg variant): {DA only, RT only, DA+RT} x
{energy only, energy + AS}, and DA+RT with virtual bids of up to 1 MW. Printed in the paper's
format ($ per year per MW of the battery), beside the paper's battery figures. With
``--project-rules N`` the same modes are also solved under the project's own rules (the oracle's
day LP, each day alone, on N processes), to show what the paper's variant leaves out.

The paper's CAISO 2015 prices are not available offline. This run uses the shipped CAISO prices
of the most recent ``--days`` complete days: DA and DA AS prices, the 15-minute real-time prices
as the FMM's, and synthetic 5-minute RTD prices (the FMM price plus a deviation resampled from
real SPP 5-minute residuals, :mod:`bessgym.rtd`); the FMM's AS awards are paid the hour's DA AS
price. Compare shares and patterns, not dollars. The paper's figures come from a secondary
summary of it (its abstract confirms only the two ranges: real time alone 60-90 % of the revenue
of all markets, AS adding 40-100 %), and are labelled so.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import time
from collections import Counter
from pathlib import Path

from concurrent.futures import ProcessPoolExecutor, as_completed
from functools import lru_cache

from tqdm import tqdm

from baselines.multimarket import MARKETS, Mode, YearPrices, YearResult, solve_year
from baselines.oracle import PerfectForesight
from bessgym.battery import Battery
from bessgym.market import load_profile
from bessgym.rtd import MODEL_FILE as RTD_MODEL_FILE
from bessgym.scenarios import ScenarioSet

BATTERY = Battery(p_charge_mw=1.0, p_discharge_mw=1.0, energy_mwh=1.0, soc_min_frac=0.0, soc_max_frac=1.0,
                  eta_charge=0.95, eta_discharge=0.95, degradation_usd_per_mwh=0.0)
VIRTUAL_MW = 1.0
MODES = [*(Mode(markets, with_as) for markets in MARKETS for with_as in (False, True)), Mode("da+rt", True, VIRTUAL_MW)]
PAPER_K_USD = {  # battery, $k per year; from a secondary summary of the paper, not checked against it
    ("da", False): 10.5, ("da", True): 72.8, ("rt", False): 115.0, ("rt", True): 141.8,
    ("da+rt", False): 139.1, ("da+rt", True): 199.6,
}
PAPER_SOURCE = ("battery figures as transcribed by a third-party summary of the paper (not checked against it); "
                "its abstract confirms: real-time alone 60-90 % of all markets' revenue, AS adding 40-100 %")
ROW_NAMES = {"da": "Day-ahead only", "rt": "Real-time only (FMM + RTD)", "da+rt": "All markets (DA + FMM + RTD)"}


@lru_cache(maxsize=None)
def _scenarios(node: str, virtual_limit_mw: float = 0.0) -> ScenarioSet:
    """The shipped CAISO data at ``node`` in three settlements, under ``caiso3`` with virtual bids
    up to ``virtual_limit_mw``, for the paper's battery."""
    market = {**load_profile("caiso3").model_dump(), "virtual_limit_mw": virtual_limit_mw}
    return ScenarioSet({"market": market, "battery": BATTERY.model_dump(), "data": {"source": "caiso", "node": node}})


def year_ids(days: int, node: str) -> list[str]:
    """The ids of the most recent ``days`` complete three-settlement days at ``node``."""
    ids = _scenarios(node).ids()
    if len(ids) < days:
        raise ValueError(f"--days {days}: the shipped data has {len(ids)} complete days at {node}")
    return ids[-days:]


def load_year(days: int, node: str) -> YearPrices:
    """The most recent ``days`` complete three-settlement days of the shipped CAISO data at ``node``."""
    return YearPrices.of([_scenarios(node).get(i) for i in year_ids(days, node)])


def _oracle_profits(task: tuple[str, bool, float, str, list[str]]) -> list[float]:
    """The project's oracle over days, each day alone, its decisions played through the simulator:
    profits ($) of ``(markets, with_as, virtual_limit_mw, node, ids)``."""
    markets, with_as, virtual_limit_mw, node, ids = task
    scenarios = _scenarios(node, virtual_limit_mw)
    oracle = PerfectForesight(BATTERY, scenarios.config.market_profile, energy_only=not with_as, markets=markets, exact=False)
    return [float(oracle.replay(scenarios.get(i)).profit) for i in ids]


def project_rules(days: int, node: str, workers: int) -> dict[str, float]:
    """The same modes under the project's rules (the day LP of :mod:`baselines.day_lp` at 5
    minutes, each day alone from the initial SoC to its terminal value, the market's acceptance
    and duration rules, deployment drawn per day, availability), summed over the days: $ by mode.
    Each day takes the plan the rules accept (:func:`~baselines.day_lp.solve_accepted`), not the
    exact optimum: with the schedule followed and AS deployed the exact one needs binaries on
    most days (seconds to the time limit each), so these are lower bounds, played through the
    simulator."""
    ids = year_ids(days, node)
    chunks = [ids[k:k + 30] for k in range(0, len(ids), 30)]
    tasks = [(mode.markets, mode.with_as, mode.virtual_limit_mw, node, chunk) for mode in MODES for chunk in chunks]
    totals = {mode.name: 0.0 for mode in MODES}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(_oracle_profits, task): task for task in tasks}
        for future in tqdm(as_completed(futures), total=len(futures), desc="project's rules", unit="chunk"):
            markets, with_as, virtual, *_ = futures[future]
            totals[Mode(markets, with_as, virtual).name] += sum(future.result())
    return totals


def run(days: int, node: str, threads: int, workers: int = 0) -> dict:
    prices = load_year(days, node)
    results: list[YearResult] = []
    for mode in tqdm(MODES, desc="year LPs", unit="mode"):
        results.append(solve_year(BATTERY, prices, mode, threads=threads, method="simplex"))
    scale = 365.0 / prices.n_days  # $ per year
    table = {(r.mode.markets, r.mode.with_as): r.revenue_usd * scale for r in results if not r.mode.virtual_limit_mw}
    virtual = results[-1]
    months = Counter(day_id[-10:-3] for day_id in prices.ids)
    return {
        "data": {"node": node, "days": prices.n_days, "first": prices.ids[0], "last": prices.ids[-1],
                 "days_by_month": dict(sorted(months.items())), "scaled_to_365_days_by": scale,
                 "rtd": "synthetic: FMM price + resampled real SPP 5-minute residuals (bessgym.rtd)",
                 "rtd_model_sha256": hashlib.sha256(RTD_MODEL_FILE.read_bytes()).hexdigest(),
                 "fmm": "CAISO 15-minute real-time prices (EIA)", "fmm_as_price": "the hour's DA AS price"},
        "battery": BATTERY.model_dump(),
        "modes": [{
            "mode": r.mode.name, "markets": r.mode.markets, "with_as": r.mode.with_as, "virtual_limit_mw": r.mode.virtual_limit_mw,
            "revenue_usd_per_year": r.revenue_usd * scale, "lines_usd_per_year": {k: v * scale for k, v in r.lines.items()},
            "sold_mwh": r.sold_mwh, "bought_mwh": r.bought_mwh, "rows": r.n_rows, "cols": r.n_cols,
            "solve_s": r.result.seconds, "build_s": r.build_s, "status": r.result.status.value,
        } for r in results],
        "shares": {
            "rt_only_over_all_energy": table["rt", False] / table["da+rt", False],
            "rt_only_over_all_with_as": table["rt", True] / table["da+rt", True],
            "as_uplift_all_markets": table["da+rt", True] / table["da+rt", False] - 1.0,
            "virtual_added_usd_per_year": virtual.lines["virtual"] * scale,
        },
        "paper": {"k_usd_per_year": {f"{m}|{'as' if a else 'energy'}": v for (m, a), v in PAPER_K_USD.items()},
                  "source": PAPER_SOURCE},
        "project_rules_usd_per_year": None if not workers else {
            name: usd * scale for name, usd in project_rules(days, node, workers).items()},
        "threads": threads, "machine": platform.processor() or platform.machine(),
    }


def markdown(report: dict) -> str:
    """The paper's table format: rows by market layers, columns energy only / energy + AS."""
    modes = {(m["markets"], m["with_as"]): m for m in report["modes"] if not m["virtual_limit_mw"]}
    data = report["data"]
    months = ", ".join(f"{month} {count}" for month, count in data["days_by_month"].items())
    scaled = "" if data["days"] == 365 else f" (the {data['days']} days' revenue x {data['scaled_to_365_days_by']:.3g})"
    lines = [f"Battery 1 MW / 1 MWh, perfect information, CAISO {data['node']}: the {data['days']} most recent complete days, "
             f"{data['first'][-10:]} .. {data['last'][-10:]} (not a calendar year where the data have gaps; days by month: "
             f"{months}); RTD prices synthetic. $k per 365 days{scaled}:", "",
             "| markets | energy only | energy + AS | AS uplift | paper: energy only | paper: energy + AS |",
             "|---|---|---|---|---|---|"]
    for markets in MARKETS:
        energy, both = (modes[markets, a]["revenue_usd_per_year"] / 1e3 for a in (False, True))
        lines.append(f"| {ROW_NAMES[markets]} | {energy:.1f} | {both:.1f} | {100 * (both / energy - 1):+.0f}% | "
                     f"{PAPER_K_USD[markets, False]:.1f} | {PAPER_K_USD[markets, True]:.1f} |")
    shares = report["shares"]
    paper = PAPER_K_USD
    lines += ["",
              f"- Real time alone / all markets: {100 * shares['rt_only_over_all_energy']:.0f}% (energy only), "
              f"{100 * shares['rt_only_over_all_with_as']:.0f}% (with AS); paper "
              f"{100 * paper['rt', False] / paper['da+rt', False]:.0f}% / {100 * paper['rt', True] / paper['da+rt', True]:.0f}% "
              "(abstract: 60-90%)",
              f"- AS uplift, all markets: {100 * shares['as_uplift_all_markets']:+.0f}%; paper "
              f"{100 * (paper['da+rt', True] / paper['da+rt', False] - 1):+.0f}% (abstract: 40-100%)",
              f"- Virtual bids (1 MW, DA vs FMM, perfect information) add {shares['virtual_added_usd_per_year'] / 1e3:.1f} $k per 365 days",
              f"- Paper's figures: {report['paper']['source']}."]
    sizes = [(m["mode"], m["rows"], m["cols"], m["solve_s"]) for m in report["modes"]]
    lines += ["", "| mode | rows | columns | solve s |", "|---|---|---|---|"]
    lines += [f"| {name} | {rows:,} | {cols:,} | {seconds:.1f} |" for name, rows, cols, seconds in sizes]
    project = report["project_rules_usd_per_year"]
    if project:
        lines += ["", "Under the project's rules (the oracle's day LP at 5 minutes, each day alone: the market's acceptance "
                  "and duration rules, deployment drawn per day, availability, the terminal value; each day's plan the "
                  "rules accept, a lower bound, played through the simulator), $k per 365 days:", "",
                  "| markets | energy only | energy + AS | AS uplift | the paper's variant: energy + AS |", "|---|---|---|---|---|"]
        for markets in MARKETS:
            energy, both = (project[Mode(markets, a).name] / 1e3 for a in (False, True))
            lines.append(f"| {ROW_NAMES[markets]} | {energy:.1f} | {both:.1f} | {100 * (both / energy - 1):+.0f}% | "
                         f"{modes[markets, True]['revenue_usd_per_year'] / 1e3:.1f} |")
        virtual = project[MODES[-1].name] - project[Mode("da+rt", True).name]
        lines.append(f"\n- Virtual bids (1 MW) add {virtual / 1e3:.1f} $k per 365 days under the project's rules")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, required=True, help="write the report here (JSON)")
    parser.add_argument("--days", type=int, default=365, help="complete days, the most recent (default 365: a year)")
    parser.add_argument("--node", default="SP15", choices=("SP15", "NP15", "ZP26"), help="the CAISO hub")
    parser.add_argument("--threads", type=int, default=2, help="HiGHS threads (default 2)")
    parser.add_argument("--project-rules", type=int, default=0, metavar="WORKERS",
                        help="also solve every mode under the project's rules, day by day with the oracle, on this many "
                             "processes (0: not; 2 take about 3 min for 365 days here)")
    args = parser.parse_args(argv)
    if args.project_rules < 0:
        parser.error(f"--project-rules must be >= 0 processes, got {args.project_rules}")
    if args.days < 1:
        parser.error(f"--days must be >= 1, got {args.days}")
    if args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    if args.json.is_dir():
        parser.error(f"--json {args.json} is a folder; give the path of the JSON file to write")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        report = run(args.days, args.node, args.threads, args.project_rules)
    except ValueError as exc:
        parser.error(str(exc))
    report["wall_s"] = time.perf_counter() - start
    args.json.write_text(json.dumps(report, indent=2))
    print(markdown(report))
    print(f"\nwritten {args.json} in {report['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
