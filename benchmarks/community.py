"""The neighbourhood market's baselines over the homes' year: the double auction against no market.

    python -m benchmarks.community [--json OUT] [--days N] [--tariff T] [--mechanism M] [--rounds R]

Runs each policy of ``baselines.community`` (rule-based devices with no orders, truthful bidders,
zero-intelligence bidders) over one-day episodes of Neighborhood-v0 (days 0 .. N-1 of the homes'
year, all 365 by default; the 17 shipped homes, devices of seed 0) under each tariff, mechanism
and number of market calls per hour (all tariffs and mechanisms, :data:`ROUNDS` calls, by
default: one call auction an hour, and a repeated call market where the homes quote again for
what they have not traded), and prints:

(a) per policy, summed over homes and hours ($ and kWh over the days run):

* ``bill_usd``: the community's total bill (the env's ``bill_usd``: utility imports less export
  credit, plus market payments less market receipts);
* ``sellers_earn_usd``: minus the bills of the home-hours with net import < 0 (the utility's
  export credit plus the market's receipts; a seller neither imports nor buys), split into
  ``sellers_utility_usd`` and ``sellers_market_usd``;
* ``buyers_pay_usd``: the bills of the home-hours with net import > 0 (utility imports plus market
  payments), split into ``buyers_utility_usd`` and ``buyers_market_usd``;
  ``bill_usd = buyers_pay_usd - sellers_earn_usd``;
* ``local_pv_share``: PV used at home or sold to neighbours over all PV, i.e.
  ``1 - utility export kWh / PV kWh`` (battery losses on PV count as used at home);
* ``discomfort_c_h`` (degC-hours above the band) and ``ev_unmet_kwh``;

(b) the double auction (truthful, zero intelligence) against no market (rule based) on the same
devices, tariff and mechanism: sellers earn at least as much, buyers pay no more (both to
:data:`USD_TOL`), local PV use rises (strictly), each with its numbers and PASS/FAIL;

(c) allocative efficiency per mechanism and bidder: realised gains from trade over the maximum
(``bessgym.community.auction.welfare`` / ``max_welfare``) at the homes' reservation values (the
import price for each buyer's whole net import, the export price for each seller's whole net
export), each summed over the hours whose maximum exceeds :data:`GAIN_TOL_USD`. Every home faces
the same prices, so the maximum is ``min(demand, supply) x (import - export)`` of the hour; under
``net_metering`` import == export and there is nothing to gain: efficiency is reported only where
the maximum is > 0.

The rule-based policy places no orders, so it runs once per tariff (its figures do not depend on
the mechanism).

Gode and Sunder's (1993) near-100% efficiency of ZI-C traders is for a continuous double auction
in which traders quote again until they trade; one call with one random quote each trades only
where the random bids and asks happen to cross, so the repeated call market is the comparable
institution.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from baselines.community import POLICIES, RuleBased
from bessgym.community.auction import max_welfare, welfare
from bessgym.community.env import DAYS, NeighborhoodEnv
from bessgym.community.neighborhood import MAX_ROUNDS, MECHANISMS
from bessgym.community.tariff import TARIFFS

ROUNDS = (1, 5)
"""The market calls per hour run by default."""
USD_TOL = 1e-6
"""$ within which the sellers' and buyers' comparisons count as equal."""
GAIN_TOL_USD = 1e-9
"""$ of maximum gains from trade above which an hour counts for allocative efficiency."""
_FIELDS = ("bill_usd", "utility_usd", "net_import_kwh", "market_bought_kwh", "market_sold_kwh", "utility_export_kwh",
           "discomfort_c", "ev_unmet_kwh")


@dataclass
class Year:
    """Every played hour's per-home infos (hours, H) and the hour's PV (kWh) and prices ($/kWh)."""

    rows: dict[str, list[np.ndarray]] = field(default_factory=lambda: {k: [] for k in _FIELDS})
    pv_kwh: list[np.ndarray] = field(default_factory=list)
    import_usd: list[float] = field(default_factory=list)
    export_usd: list[float] = field(default_factory=list)

    def add(self, env: NeighborhoodEnv, t: int, infos: dict[str, dict]) -> None:
        """Hour ``t``'s infos of a step; a step that did not settle its hour (a call of an hour of
        several) adds nothing."""
        agents = env.possible_agents
        if not infos[agents[0]]["settled"]:
            return
        for k in _FIELDS:
            self.rows[k].append(np.array([infos[a][k] for a in agents]))
        self.pv_kwh.append(env.world.pv_kwh[:, t])
        self.import_usd.append(float(env.world.tariff.import_usd_per_kwh[t]))
        self.export_usd.append(float(env.world.tariff.export_usd_per_kwh[t]))

    def gains(self) -> tuple[np.ndarray, np.ndarray]:
        """Each hour's maximum and realised gains from trade (hours,) $ at the reservation values."""
        net = np.array(self.rows["net_import_kwh"])
        demand, supply = np.maximum(net, 0.0), np.maximum(-net, 0.0)
        values_b = np.broadcast_to(np.array(self.import_usd)[:, None], demand.shape)
        values_s = np.broadcast_to(np.array(self.export_usd)[:, None], supply.shape)
        bought, sold = np.array(self.rows["market_bought_kwh"]), np.array(self.rows["market_sold_kwh"])
        return max_welfare(values_b, demand, values_s, supply), welfare(values_b, bought, values_s, sold)

    def figures(self) -> dict[str, float]:
        """Part (a)'s figures and part (c)'s efficiency (see the module docstring)."""
        r = {k: np.array(v) for k, v in self.rows.items()}
        seller, buyer = r["net_import_kwh"] < 0, r["net_import_kwh"] > 0
        sellers_utility = -r["utility_usd"][seller].sum()  # a seller only exports, a buyer only imports
        buyers_utility = r["utility_usd"][buyer].sum()
        sellers_earn = -r["bill_usd"][seller].sum()
        buyers_pay = r["bill_usd"][buyer].sum()
        pv = float(np.sum(self.pv_kwh))
        best, got = self.gains()
        gains = best > GAIN_TOL_USD
        return {
            "bill_usd": float(r["bill_usd"].sum()),
            "sellers_earn_usd": float(sellers_earn), "sellers_utility_usd": float(sellers_utility),
            "sellers_market_usd": float(sellers_earn - sellers_utility),
            "buyers_pay_usd": float(buyers_pay), "buyers_utility_usd": float(buyers_utility),
            "buyers_market_usd": float(buyers_pay - buyers_utility),
            "sold_kwh": float(np.maximum(-r["net_import_kwh"], 0.0).sum()),
            "bought_kwh": float(np.maximum(r["net_import_kwh"], 0.0).sum()),
            "market_kwh": float(r["market_sold_kwh"].sum()), "pv_kwh": pv,
            "local_pv_share": float(1.0 - r["utility_export_kwh"].sum() / pv) if pv > 0 else float("nan"),
            "discomfort_c_h": float(r["discomfort_c"].sum()), "ev_unmet_kwh": float(r["ev_unmet_kwh"].sum()),
            "hours_with_gains": int(gains.sum()), "max_gains_usd": float(best[gains].sum()),
            "realised_gains_usd": float(got[gains].sum()),
            "efficiency": float(got[gains].sum() / best[gains].sum()) if gains.any() else float("nan"),
        }


def run(env: NeighborhoodEnv, policy: RuleBased, days: range, desc: str = "") -> Year:
    """Play ``policy`` over the one-day episodes ``days`` of ``env``."""
    policy.reset(env)
    year = Year()
    for day in tqdm(days, desc=desc, unit="day", leave=False):
        obs, _ = env.reset(options={"day": day})
        while env.agents:
            t = env.t
            obs, _, _, _, infos = env.step(policy.act(obs))
            year.add(env, t, infos)
    return year


def compare(market: dict[str, float], none: dict[str, float]) -> dict[str, dict]:
    """Part (b): a market policy's figures against the no-market ones."""
    return {
        "sellers_earn_at_least_as_much": {"market": market["sellers_earn_usd"], "no_market": none["sellers_earn_usd"],
                                          "pass": market["sellers_earn_usd"] >= none["sellers_earn_usd"] - USD_TOL},
        "buyers_pay_no_more": {"market": market["buyers_pay_usd"], "no_market": none["buyers_pay_usd"],
                               "pass": market["buyers_pay_usd"] <= none["buyers_pay_usd"] + USD_TOL},
        "local_pv_use_rises": {"market": market["local_pv_share"], "no_market": none["local_pv_share"],
                               "pass": market["local_pv_share"] > none["local_pv_share"]},
    }


def benchmark(days: int = DAYS, tariffs: tuple[str, ...] = TARIFFS, mechanisms: tuple[str, ...] = MECHANISMS,
              seed: int = 0, rounds: tuple[int, ...] = ROUNDS) -> dict:
    """Every configuration's figures, comparisons and run time (see the module docstring); a
    configuration's key is ``tariff/mechanism/R call(s)``."""
    if not 1 <= days <= DAYS:
        raise ValueError(f"days = {days}; allowed: 1 .. {DAYS}")
    for name, value, allowed in (("tariff", tariffs, TARIFFS), ("mechanism", mechanisms, MECHANISMS)):
        bad = [v for v in value if v not in allowed]
        if bad or not value:
            raise ValueError(f"{name} = {list(value)}; allowed: one or more of {list(allowed)}")
    if (not isinstance(rounds, tuple | list) or not rounds
            or any(isinstance(r, bool) or not isinstance(r, int | np.integer) or not 1 <= r <= MAX_ROUNDS for r in rounds)):
        raise ValueError(f"rounds = {rounds!r}; allowed: a tuple of one or more integers 1 .. {MAX_ROUNDS} (calls per hour)")
    start = time.perf_counter()
    out: dict = {"days": days, "seed": seed, "configurations": {}}
    for tariff in tariffs:
        no_market: dict[str, float] | None = None
        for mechanism in mechanisms:
            for calls in map(int, rounds):
                env = NeighborhoodEnv(tariff=tariff, mechanism=mechanism, seed=seed, rounds=calls)
                key = f"{tariff}/{mechanism}/{calls} call{'s' if calls > 1 else ''}"
                policies: dict[str, dict[str, float]] = {}
                for name, cls in POLICIES.items():
                    if cls is RuleBased and no_market is not None:
                        policies[name] = no_market
                        continue
                    policies[name] = run(env, cls(), range(days), desc=f"{key}/{name}").figures()
                    if cls is RuleBased:
                        no_market = policies[name]
                out["configurations"][key] = {
                    "tariff": tariff, "mechanism": mechanism, "rounds": calls, "policies": policies,
                    "comparison": {name: compare(fig, policies["rule_based"]) for name, fig in policies.items()
                                   if name != "rule_based"},
                }
    out["seconds"] = time.perf_counter() - start
    return out


def report(result: dict) -> str:
    """The printed tables of parts (a), (b) and (c)."""
    definitions = "(a) " + __doc__.split("(a)")[1].split("The rule-based policy")[0].strip()
    for name, value in (("USD_TOL", USD_TOL), ("GAIN_TOL_USD", GAIN_TOL_USD)):
        definitions = definitions.replace(f":data:`{name}`", f"{value:g} $")
    lines = [definitions.replace("\n\n", "\n"), ""]
    for key, config in result["configurations"].items():
        lines.append(f"== {key} ({result['days']} days)")
        lines.append(f"{'policy':<18} {'bill $':>10} {'sellers $':>10} {'buyers $':>10} {'market kWh':>10} "
                     f"{'local PV':>8} {'disc Ch':>8} {'EV unmet':>8}")
        for name, f in config["policies"].items():
            lines.append(f"{name:<18} {f['bill_usd']:>10.2f} {f['sellers_earn_usd']:>10.2f} "
                         f"{f['buyers_pay_usd']:>10.2f} {f['market_kwh']:>10.1f} {f['local_pv_share']:>8.4f} "
                         f"{f['discomfort_c_h']:>8.1f} {f['ev_unmet_kwh']:>8.2f}")
        for name, checks in config["comparison"].items():
            for check, c in checks.items():
                lines.append(f"  (b) {name} vs rule_based: {check}: {c['market']:.4f} vs {c['no_market']:.4f} "
                             f"{'PASS' if c['pass'] else 'FAIL'}")
        for name, f in config["policies"].items():
            if f["hours_with_gains"]:
                lines.append(f"  (c) efficiency {name}: {f['efficiency']:.6f} ({f['realised_gains_usd']:.2f} of "
                             f"{f['max_gains_usd']:.2f} $ over {f['hours_with_gains']} hours with gains)")
            else:
                lines.append(f"  (c) efficiency {name}: n/a (no hour with gains from trade: import == export)")
    lines.append(f"time: {result['seconds']:.1f} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.community", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--days", type=int, default=DAYS, help=f"days 0 .. N-1 of the homes' year (default {DAYS})")
    parser.add_argument("--tariff", choices=TARIFFS, help="one tariff (default: all)")
    parser.add_argument("--mechanism", choices=MECHANISMS, help="one mechanism (default: all)")
    parser.add_argument("--rounds", type=int, help=f"market calls per hour, 1 .. {MAX_ROUNDS} (default: each of "
                        f"{', '.join(map(str, ROUNDS))})")
    args = parser.parse_args(argv)
    if not 1 <= args.days <= DAYS:
        parser.error(f"--days {args.days}: allowed 1 .. {DAYS}")
    if args.rounds is not None and not 1 <= args.rounds <= MAX_ROUNDS:
        parser.error(f"--rounds {args.rounds}: allowed 1 .. {MAX_ROUNDS}")
    if args.json is not None and (args.json.is_dir() or not args.json.parent.is_dir()):
        parser.error(f"--json {args.json}: give a file path in an existing folder")
    result = benchmark(args.days, (args.tariff,) if args.tariff else TARIFFS,
                       (args.mechanism,) if args.mechanism else MECHANISMS,
                       rounds=(args.rounds,) if args.rounds else ROUNDS)
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
