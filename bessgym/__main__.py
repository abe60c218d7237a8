"""``python -m bessgym``: simulate a split of real days with the threshold bidder and print the ledger.

    python -m bessgym [--config caiso-sp15] [--split test] [--limit N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from tqdm import tqdm

from bessgym.config import PRESETS, load_config
from bessgym.forecast import da_context
from bessgym.policies import ThresholdBidder, follow_da
from bessgym.scenarios import ScenarioSet
from bessgym.settlement import LEDGER_LINES
from bessgym.sim import simulate_day


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bessgym", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="caiso-sp15", help=f"preset ({', '.join(PRESETS)}) or JSON path")
    parser.add_argument("--split", default="test", help="split of the config to simulate: train, val or test (default test)")
    parser.add_argument("--limit", type=int, default=None, help="simulate at most N days")
    args = parser.parse_args(argv)

    scenarios = ScenarioSet(load_config(args.config))
    config = scenarios.config
    ids = scenarios.ids(args.split)[: args.limit]
    bidder = ThresholdBidder()
    start = time.perf_counter()
    totals = np.zeros(len(LEDGER_LINES))
    profits = []
    for scenario_id in tqdm(ids, desc=f"simulating {args.split}", unit="day"):
        scenario = scenarios.get(scenario_id)
        bid = bidder.bid(da_context(scenarios, scenario))
        result = simulate_day(config.battery, config.market_profile, scenario, bid, follow_da(bid, scenario.n_intervals))
        day = np.array(result.totals)
        totals += day
        profits.append(day.sum())
    elapsed = time.perf_counter() - start

    b = config.battery
    print(f"\n{len(ids)} {args.split} days of {config.data.source} {config.data.node} "
          f"({b.p_discharge_mw:g} MW / {b.energy_mwh:g} MWh), threshold bidder + follow-DA, "
          f"{config.forecast.kind} forecast; skipped days in the file: {scenarios.skipped(args.split)}")
    print(f"{'ledger line':<16}{'total $':>12}{'$ per day':>12}")
    for name, value in zip(LEDGER_LINES, totals):
        print(f"{name:<16}{value:>12.2f}{value / max(len(ids), 1):>12.2f}")
    print(f"{'profit':<16}{totals.sum():>12.2f}{totals.sum() / max(len(ids), 1):>12.2f}")
    if profits:
        print(f"best day ${max(profits):.2f}, worst day ${min(profits):.2f}; {elapsed:.1f} s")


if __name__ == "__main__":
    main()
