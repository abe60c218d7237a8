"""Leaderboard tables and plots from a run's ``episodes.csv`` and ``oracle.csv``.

Headline: capture rate = 100 x sum of profit / sum of the oracle's profit over the same days
and seeds, with a 95% bootstrap interval (days resampled with replacement, paired with the
oracle); each entry against the first with a paired interval (:func:`paired`). The oracle is listed for reference and never ranked, and so are the other rungs of the
value ladder (:data:`LADDER`).

A ges suite (the aggregator's portfolio, :func:`write_ges_report`): flexibility capture = 100 x
sum of (profit - idle's) / sum of (hindsight's - idle's), the same bootstrap and paired tables,
the references hindsight and idle listed, never ranked (:data:`GES_GLOSSARY`).

A neighborhood suite (the homes' market, :func:`write_neighborhood_report`): savings capture =
100 x sum of (no market's cost - the entry's) / sum of (no market's - the community oracle's),
the same bootstrap and paired tables, per-home figures (the worst home's change against no
market), the references oracle and no market listed, never ranked (:data:`NEIGHBORHOOD_GLOSSARY`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from bessgym.config import Config
from bessgym.evaluation import capture_rate, capture_rates
from bessgym.market import PRODUCTS
from bessgym.settlement import MARKET_LINES, PENALTY_LINES

BOOTSTRAP = 2000
FULL_HINDSIGHT, ENERGY_ONLY, PRICES_KNOWN = "full_hindsight", "energy_only", "prices_known"
GES_HINDSIGHT, GES_IDLE = "hindsight", "idle"
"""The references of a ges suite (``oracle.csv``): the plan that knows the day's world, and the zero plan."""
NEIGHBORHOOD_ORACLE, NEIGHBORHOOD_NO_MARKET = "oracle", "no_market"
"""The references of a neighborhood suite (``oracle.csv``): the community's perfect-foresight LP, and
the rule-based homes without a market."""
LADDER = {
    FULL_HINDSIGHT: ("full hindsight (perfect foresight)",
                       "the oracle: one LP over the realised day, prices and deployment known, under the same market "
                       "rules; the capture rate's denominator"),
    PRICES_KNOWN: ("prices known, deployment not",
                     "the pipeline named here, given the realised DA, AS and RT prices as its forecasts but only the "
                     "expected deployment (its DA plan free to trade the DA-RT spread it now knows, its MPC re-planning "
                     "from the measured SoC): what price foresight is worth, and what is left to deployment foresight"),
    ENERGY_ONLY: ("energy only (no AS)",
                    "the oracle without ancillary services: what energy arbitrage alone earns with full hindsight"),
}


GLOSSARY = """## Glossary

The main table (one row per entry, best capture first; the oracle row is a reference, never ranked):

- **rank**: by capture %.
- **capture % [95% CI]**: 100 x the sum of the entry's profit / the sum of the full-hindsight oracle's
  profit, over every day and seed the oracle solved; a day the entry failed on (an error row) counts as
  zero profit. The interval: 2.5th and 97.5th percentiles over 2000 bootstrap resamples of the
  day-seeds (with replacement, each paired with its oracle profit).
- **$ per MW-day**: mean profit per day and seed ($, a failed day counts as 0) / the discharge power (MW).
- **AS share %**: ancillary-service revenue (capacity + mileage) as a share of market revenue (DA
  energy + FMM energy + RT imbalance + virtual + AS capacity + mileage) over the days that ran. It exceeds 100 when the energy
  lines are negative in sum: an entry that earns mostly from reserves pays for the energy it buys to
  charge, to cover losses and to hold the SoC its awards need, so AS revenue is more than all the market
  revenue together. Negative when the market revenue is.
- **shortfall MWh/day**: AS deployment requested but not delivered, summed over products, mean per day.
- **penalties $/day**: no-pay (capacity payment rescinded for undelivered deployment) + unavailable
  (capacity payment of awards the battery could not back) + the non-performance penalty, $ paid per
  day (positive = paid).
- **cycles/day**: equivalent full cycles, charge + discharge throughput (MWh) / (2 x energy capacity),
  mean per day.
- **decision ms p50 / p95**: RT decision time (`act`), ms: the median over days of each day's median,
  and the mean over days of each day's 95th percentile.
- **bid s**: seconds the DA bid (`bid`) took, mean per day.
- **fallbacks bid / RT**: days whose bid says it fell back (`note["fallback"]`, e.g. a solver failure) /
  RT decisions the policy counted as fallbacks (its `fallbacks` attribute, e.g. to the DA schedule).
- **days**: days and seeds that ran without error and have an oracle profit; **errors**: day-seeds
  with `status=error` (the message is in `episodes.csv`; for the oracle row, `oracle.csv`).

The paired tables (each entry against the first, and the RT level: each RT policy against following the
schedule after the same DA bid):

- **capture points vs ...**: the entry's capture % minus the other's, on the day-seeds both were scored
  on; the interval resamples the same day-seeds for both (paired bootstrap), so the luck a day gives
  both cancels. An interval that excludes 0 means the difference is not luck of the days drawn.
- **P(better)**: the share of resamples in which the entry's capture is higher.
- **day-seeds**: how many day-seeds both were scored on.

The value ladder (references, not ranked): what foresight is worth.

- **full hindsight**: the oracle, one LP over the realised day (prices and deployment known) under the
  same market rules; the capture rate's denominator, so 100 %.
- **prices known, deployment not**: the suite's `prices_known` pipeline given the realised DA, AS and RT
  prices as its forecasts but only the expected deployment; the gap to full hindsight is what
  deployment foresight is worth, the gap to the entries what price forecasting could still gain.
- **energy only (no AS)**: the oracle without ancillary services: energy arbitrage alone with full
  hindsight.
- Their columns: capture % of full hindsight (on the days both ran), $ per MW-day, AS share %, days,
  errors, as above.

Ledger lines (`episodes.csv` and `ledger_breakdown.png`; $, + earned, - paid): `da_energy` (DA price x
DA position), `fmm_energy` (three settlements: FMM price x the FMM position's deviation from the DA
position), `rt_imbalance` (RT price x deviation from the position before: the DA position, or the FMM
position in three settlements), `virtual` (DA price - next layer's price, x the virtual position),
`as_capacity`, `mileage`,
`no_pay`, `unavailable`, `penalty` (as above), `degradation` (wear per MWh of throughput) and `terminal`
(the value of the final SoC against its target)."""
"""What each column and rung of ``leaderboard.md`` means; written under its tables."""


def _resampled_captures(profit: np.ndarray, oracle: np.ndarray, seed: int) -> np.ndarray:
    """:data:`BOOTSTRAP` capture rates (%) of ``profit`` (..., rows) over rows resampled with
    replacement, the same rows for every leading slice; rows whose oracle earned $0 count 0 in both
    sums (as :func:`bessgym.evaluation.capture_rate` has it), a resample of only such rows is NaN."""
    picks = np.random.default_rng(seed).integers(0, oracle.shape[-1], (BOOTSTRAP, oracle.shape[-1]))
    return capture_rates(profit[..., picks], oracle[picks])


def bootstrap_capture(profit: np.ndarray, oracle: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of 100 x sum(profit) / sum(oracle) over resampled rows."""
    rates = _resampled_captures(profit, oracle, seed)
    if np.isnan(rates).all():
        return float("nan"), float("nan")
    return float(np.nanpercentile(rates, 2.5)), float(np.nanpercentile(rates, 97.5))


def summarise(episodes: pd.DataFrame, oracle: pd.DataFrame, config: Config, order: list[str]) -> pd.DataFrame:
    """One row per entry (ranked by capture rate) plus the oracle (``oracle``: the full-hindsight
    reference rows).

    Capture, its interval and $ per MW-day count every day the oracle solved: a day the entry
    failed on (an error row) scores zero profit, what idle earns, against the oracle's profit, so
    failing on hard days never raises a rank. The other columns describe the days that ran
    (``days``); ``errors`` counts the failed ones."""
    power = config.battery.p_discharge_mw
    rows = []
    for entry in [e for e in order if e in set(episodes["entry"])]:
        group = episodes[episodes["entry"] == entry]
        ok = group[(group["status"] == "ok") & group["oracle_profit_usd"].notna()]
        errors = int((group["status"] != "ok").sum())
        scored = scored_profit(episodes, entry)  # sorted by day and seed: a reproducible bootstrap
        if scored.empty:
            rows.append({"entry": entry, "days": 0, "errors": errors})
            continue
        profit, reference = scored["profit"].to_numpy(), scored["oracle"].to_numpy()
        low, high = bootstrap_capture(profit, reference)
        shortfall = ok[[f"shortfall_{p}_mwh" for p in PRODUCTS]].sum(axis=1)
        rows.append({
            "entry": entry, "days": len(ok), "errors": errors,
            "capture_pct": capture_rate(profit, reference), "ci_low": low, "ci_high": high,
            "profit_per_mw_day": profit.mean() / power,
            "as_share_pct": _as_share(ok),
            "shortfall_mwh_per_day": shortfall.mean(),
            "penalties_per_day": -ok[list(PENALTY_LINES)].sum(axis=1).mean(),
            "cycles_per_day": ok["equivalent_cycles"].mean(),
            "latency_p50_ms": ok["decision_ms_p50"].median(), "latency_p95_ms": ok["decision_ms_p95"].mean(),
            "bid_s": ok["bid_seconds"].mean(),
            "fallbacks": f"{int(ok['bid_fallback'].astype(str).str.lower().eq('true').sum())} / {int(ok['rt_fallbacks'].sum())}",
        })
    columns = ["entry", "days", "errors", "capture_pct", "ci_low", "ci_high", "profit_per_mw_day", "as_share_pct",
               "shortfall_mwh_per_day", "penalties_per_day", "cycles_per_day", "latency_p50_ms", "latency_p95_ms", "bid_s",
               "fallbacks"]
    table = pd.DataFrame(rows, columns=columns).sort_values("capture_pct", ascending=False, na_position="last")
    good = oracle[oracle["status"] == "ok"]
    reference_row = {"entry": "oracle (perfect foresight, not ranked)", "days": len(good), "errors": int((oracle["status"] != "ok").sum()),
                     "capture_pct": 100.0, "profit_per_mw_day": good["profit_total_usd"].astype(float).mean() / power,
                     "as_share_pct": _as_share(good)}
    return pd.concat([table, pd.DataFrame([reference_row])], ignore_index=True)


def scored_profit(episodes: pd.DataFrame, entry: str) -> pd.DataFrame:
    """An entry's ``profit`` (zero on a failed day, as :func:`summarise` scores it) and ``oracle``
    profit, $, indexed by (scenario_id, seed), on the days the oracle solved."""
    rows = episodes[(episodes["entry"] == entry) & episodes["oracle_profit_usd"].notna()]
    profit = np.where(rows["status"] == "ok", rows["profit_total_usd"].astype(float), 0.0)
    frame = pd.DataFrame({"profit": profit, "oracle": rows["oracle_profit_usd"].to_numpy(float)},
                         index=pd.MultiIndex.from_frame(rows[["scenario_id", "seed"]]))
    return frame.sort_index()


def ranked_entries(table: pd.DataFrame) -> list[str]:
    """The entries of a :func:`summarise` table that have a capture rate, best first."""
    return [e for e in table["entry"] if not str(e).startswith("oracle")
            and np.isfinite(table.set_index("entry").loc[e, "capture_pct"])]


def paired(episodes: pd.DataFrame, pairs: list[tuple[str, str]], seed: int = 0) -> pd.DataFrame:
    """Each (entry, against) pair: the difference of their capture rates (points) on the day-seeds
    both were scored on, its 95% paired bootstrap interval (the same resampled day-seeds for both,
    so the shared luck of a day and its deployment path cancels) and the share of resamples in
    which the entry does better."""
    rows = []
    for entry, against in pairs:
        mine, theirs = scored_profit(episodes, entry), scored_profit(episodes, against)
        both = mine.index.intersection(theirs.index)
        if not len(both):
            continue
        profits = np.stack([mine.loc[both, "profit"].to_numpy(), theirs.loc[both, "profit"].to_numpy()])
        o = theirs.loc[both, "oracle"].to_numpy()
        mine_draws, their_draws = _resampled_captures(profits, o, seed)
        draws = (mine_draws - their_draws)[np.isfinite(mine_draws - their_draws)]
        if not len(draws):  # the oracle earned nothing on any shared day
            continue
        rows.append({"entry": entry, "against": against,
                     "difference": capture_rate(profits[0], o) - capture_rate(profits[1], o),
                     "ci_low": float(np.percentile(draws, 2.5)), "ci_high": float(np.percentile(draws, 97.5)),
                     "p_better": float((draws > 0).mean()), "pairs": len(both)})
    return pd.DataFrame(rows, columns=["entry", "against", "difference", "ci_low", "ci_high", "p_better", "pairs"])


def against_follow(episodes: pd.DataFrame, ranked: list[str]) -> list[tuple[str, str]]:
    """(entry, the entry with the same DA bidder that follows the schedule) for every ranked entry
    with another RT policy whose bidder also ran with ``follow_da``: the RT level read apart from
    the DA level."""
    specs = episodes.drop_duplicates("entry").set_index("entry")[["da_bidder", "rt_policy"]]
    follow = {row.da_bidder: entry for entry, row in specs.iterrows() if row.rt_policy == "follow_da" and entry in ranked}
    return [(e, follow[specs.loc[e, "da_bidder"]]) for e in ranked
            if specs.loc[e, "rt_policy"] != "follow_da" and specs.loc[e, "da_bidder"] in follow]


def paired_markdown(comparisons: pd.DataFrame, label: str) -> str:
    """A table of :func:`paired` rows; ``label`` names what each entry is compared against."""
    lines = [f"| entry | against | capture points vs {label} [paired 95% CI] | P(better) | day-seeds |", "|---|---|---|---|---|"]
    for _, row in comparisons.iterrows():
        lines.append(f"| {row['entry']} | {row['against']} | {row['difference']:+.1f} [{row['ci_low']:+.1f}, "
                     f"{row['ci_high']:+.1f}] | {row['p_better']:.3f} | {int(row['pairs'])} |")
    return "\n".join(lines)


def _as_share(rows: pd.DataFrame) -> float:
    """AS capacity and mileage revenue as a share (%) of market revenue over ``rows``."""
    revenue = rows.reindex(columns=list(MARKET_LINES), fill_value=0.0).astype(float).sum()  # runs before issue 18 lack lines
    return 100.0 * (revenue["as_capacity"] + revenue["mileage"]) / revenue.sum() if revenue.sum() else np.nan


def ladder(references: pd.DataFrame, config: Config) -> pd.DataFrame:
    """One row per rung of the value ladder: capture against full hindsight on the days and seeds
    where both ran, $ per MW-day, AS share."""
    ok = references[references["status"] == "ok"]
    full = ok[ok["reference"] == FULL_HINDSIGHT].set_index(["scenario_id", "seed"])["profit_total_usd"].astype(float)
    rows = []
    for name, (label, _) in LADDER.items():
        rung = ok[ok["reference"] == name]
        if rung.empty:
            continue
        profit = rung.set_index(["scenario_id", "seed"])["profit_total_usd"].astype(float)
        both = profit.index.intersection(full.index)
        rows.append({"reference": label, "capture_pct": capture_rate(profit[both], full[both]),
                     "profit_per_mw_day": profit.mean() / config.battery.p_discharge_mw, "as_share_pct": _as_share(rung),
                     "days": len(rung), "errors": int((references[references["reference"] == name]["status"] != "ok").sum())})
    return pd.DataFrame(rows)


def number(value: object, digits: int = 1) -> str:
    """A table cell: ``value`` with ``digits`` decimals and thousands separators, no minus sign on
    a value that rounds to zero, blank for None or NaN."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return f"{float(value) + 0.0:,.{digits}f}".replace("-0.0", "0.0") if abs(float(value)) < 0.5 * 10**-digits else f"{value:,.{digits}f}"


def markdown(table: pd.DataFrame) -> str:
    lines = [
        "| rank | entry | capture % [95% CI] | $ per MW-day | AS share % | shortfall MWh/day | penalties $/day | cycles/day | decision ms p50 / p95 | bid s | fallbacks bid / RT | days | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rank = 0
    for _, row in table.iterrows():
        ranked = not str(row["entry"]).startswith("oracle")
        rank += ranked
        capture = number(row.get("capture_pct"))
        if ranked and not np.isnan(row.get("ci_low", np.nan)):
            capture += f" [{number(row['ci_low'])}, {number(row['ci_high'])}]"
        errors = int(row.get("errors", 0) or 0)
        where = "oracle.csv" if str(row["entry"]).startswith("oracle") else "episodes.csv"
        lines.append(
            f"| {rank if ranked else '-'} | {row['entry']} | {capture} | {number(row.get('profit_per_mw_day'), 2)} "
            f"| {number(row.get('as_share_pct'))} | {number(row.get('shortfall_mwh_per_day'), 3)} "
            f"| {number(row.get('penalties_per_day'), 2)} | {number(row.get('cycles_per_day'), 2)} "
            f"| {number(row.get('latency_p50_ms'), 3)} / {number(row.get('latency_p95_ms'), 3)} | {number(row.get('bid_s'), 3)} "
            f"| {row.get('fallbacks') if isinstance(row.get('fallbacks'), str) else ''} "
            f"| {int(row.get('days', 0) or 0)} | {f'**{errors} (see {where})**' if errors else 0} |"
        )
    return "\n".join(lines)


def ladder_markdown(rungs: pd.DataFrame, prices_known: str) -> str:
    """The value ladder as a table, with what each rung means."""
    lines = ["| reference (not ranked) | capture % of full hindsight | $ per MW-day | AS share % | days | errors |",
             "|---|---|---|---|---|---|"]
    for _, row in rungs.iterrows():
        lines.append(f"| {row['reference']} | {row['capture_pct']:.1f} | {row['profit_per_mw_day']:,.2f} | "
                     f"{row['as_share_pct']:.1f} | {int(row['days'])} | {int(row['errors'])} |")
    lines.append("")
    for name, (label, meaning) in LADDER.items():
        lines.append(f"- **{label}**: {meaning}" + (f" (`{prices_known}`)." if name == PRICES_KNOWN else "."))
    return "\n".join(lines)


def read_run(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A run's ``episodes.csv`` and ``oracle.csv``, refused if either repeats a task."""
    episodes = pd.read_csv(out / "episodes.csv")
    references = pd.read_csv(out / "oracle.csv")
    for frame, key, name in ((episodes, "entry", "episodes.csv"), (references, "reference", "oracle.csv")):
        repeated = frame[frame.duplicated([key, "scenario_id", "seed"], keep=False)]
        if len(repeated):  # two runs wrote one folder: the paired tables would pair the wrong rows
            first = repeated.iloc[0]
            raise ValueError(f"{out / name} holds {len(repeated)} rows for the same {key}, day and seed (first: "
                             f"{first[key]}, {first['scenario_id']}, seed {first['seed']}); keep one of each or rerun "
                             "into a new folder")
    return episodes, references


def write_report(out: Path, config: Config, order: list[str], prices_known: object | None = None) -> str:
    """Write ``leaderboard.md`` (the tables, then :data:`GLOSSARY`); return the tables."""
    episodes, references = read_run(out)
    oracle = references[references["reference"] == FULL_HINDSIGHT]
    table = summarise(episodes, oracle, config, order)
    pipeline = "" if prices_known is None else f"{prices_known.da_bidder} + {prices_known.rt_policy}"
    text = markdown(table)
    ranked = ranked_entries(table)
    comparisons = paired(episodes, [(e, ranked[0]) for e in ranked[1:]])
    if len(comparisons):
        text += (f"\n\nPaired against the first ({ranked[0]}; same days, seeds and deployment paths; a failed day "
                 f"counts as zero profit):\n\n" + paired_markdown(comparisons, "the first"))
    rt_levels = paired(episodes, against_follow(episodes, ranked))
    if len(rt_levels):
        text += ("\n\nThe RT level: each RT policy against following the schedule after the same DA bid (paired "
                 "as above):\n\n" + paired_markdown(rt_levels, "following"))
    text += "\n\nValue ladder:\n\n" + ladder_markdown(ladder(references, config), pipeline)
    run = json.loads((out / "run.json").read_text())
    header = (f"# Leaderboard: suite {run['suite']['name']}, split {run['split']}, {run['days']} days x seeds {run['seeds']}\n\n"
              f"Battery {config.battery.p_discharge_mw:g} MW / {config.battery.energy_mwh:g} MWh; data "
              f"{run['data_file'].split('/')[-1]} (sha256 {run['data_sha256'][:12]}); node {config.data.node}; "
              f"regulation deployed as `{config.deployment.regulation_signal}`. Capture rate = 100 x sum of profit / "
              "sum of the full-hindsight oracle's profit over the same days and seeds. Penalties include no-pay, "
              "unavailable capacity and the non-performance penalty. Fallbacks: days whose bid fell back to idle / "
              "RT decisions that fell back to the DA schedule.\n\n")
    skipped = ", ".join(f"{reason} {count}" for reason, count in run.get("skipped", {}).items() if count) or "none"
    header += f"Days of split {run['split']} skipped (not usable), by reason: {skipped}.\n\n"
    (out / "leaderboard.md").write_text(header + text + "\n\n" + GLOSSARY + "\n")
    return text


GES_GLOSSARY = """## Glossary

The aggregator's case (`bessgym.portfolio.case_day`): bessgym's battery, 1,000 air conditioners under
the day's typical-year outdoor temperature and the Caltech EV sessions of a matching weekday, selling
DA energy, reserve up (spin price) and reserve down (regulation-down price) at the day's CAISO prices.
An entry is a DA planner (`plan(assets, prices)`, e.g. `baselines.aggregator:AggregatorDA?model=M3`)
and an RT policy: `plan` keeps the plan's own split across the assets (`bessgym.portfolio.realise`), a
split policy (e.g. `bessgym.envs.ges:headroom_split`) re-splits each interval's planned net power and
reserve as GESRealTime-v0 steps. Each day and seed has one world: one draw of the fleets' uncertain
bounds, the same for every entry and both references, realised at each plan's own response degrees
(the uncertainty is decision-dependent). Money is $ per day; + earned.

The main table (one row per entry, best flexibility capture first; hindsight and idle are references,
never ranked):

- **rank**: by flexibility capture %.
- **flexibility capture % [95% CI]**: 100 x the sum over day-seeds of (the entry's realised profit -
  idle's) / the sum of (hindsight's - idle's): 0 is the zero plan, 100 the hindsight plan. A failed
  day-seed (an error row) counts as idle's profit, no gain. Hindsight is a fixed point, not a bound:
  `baselines.aggregator.Hindsight` knows the day's draw and iterates (as Algorithm 1) to a plan that
  fits the bounds it itself realises, but the bounds move with the decision, so that problem is not
  convex and its fixed point need not be the best plan for the draw; an entry above 100 % is possible
  and shown as it is. The interval: 2.5th and 97.5th percentiles over 2000 bootstrap resamples of the
  day-seeds (with replacement, each with its references).
- **realised profit $/day**: the realised ledger's total (minus the realised total cost), mean over
  the day-seeds (a failed one at idle's profit). Idle's is not 0: it buys its fleets' baseline
  load in DA, which earns money in the hours of negative prices (spring middays in CAISO).
- **planned (DA) cost $/day**: the cost the plan expects (`bessgym.portfolio.planned_cost`: energy bought
  less sold at DA prices, less the reserve payment, plus wear and the customers' incentive on the
  planned response), mean over the day-seeds that ran; negative is a net revenue.
- **LORP %**: loss of reserve probability, the share of intervals in which some asset could not hold
  its reserve, mean over the day-seeds that ran.
- **ERNS MWh/day**: expected reserve not served, the reserve up and down not held, MWh per day, mean.
- **violation %**: the share of the plan's binding chance-constrained rows (those at the limit the
  planner held them within, whose bound is uncertain) that the day's draw breaks, pooled over the
  day-seeds (a calibrated plan at gamma = 0.05 breaks at most 5 %); blank for a plan without chance
  rows (idle).
- **incentive $/day**: what the aggregator paid its customers for their response (the `incentive`
  ledger line, shown as paid: positive), mean.
- **EV unmet MWh/day**: the EV sessions' energy short of their needs at the day's end (the EV fleet's
  final SoC below its target, times its energy), mean.
- **comfort degC (max)**: how far the thermostat fleet was pushed beyond the band its customers
  accepted that day (its realised SoC bounds, in degC through the units' mean deadband), the largest
  over the day-seeds; 0 when it kept within.
- **iterations (mean)**: the planner's solves (Algorithm 1's for M3 and hindsight, 1 for M1 and M2, 0
  for idle), mean over the day-seeds that ran.
- **errors**: day-seeds with `status=error` (the message is in `episodes.csv`; for the references,
  `oracle.csv`).

The paired tables (each entry against the first, and the RT level: each split policy against the
plan's own split after the same DA planner): the difference in flexibility capture points on the
day-seeds both were scored on, its paired bootstrap interval (the same resampled day-seeds for both),
**P(better)** the share of resamples in which the entry captures more, and the **day-seeds**.

Ledger lines (`episodes.csv`, `oracle.csv`; $, + earned, - paid): `da_energy` (DA price x the DA position,
the baselines' purchase included), `rt_imbalance` (RT price x the realised deviation from it, the
baselines' error included), `as_capacity` (the reserve awarded), `unavailable` (the payment of reserve
not held, returned), `penalty` (reserve not held, replaced at the penalty price), `degradation` (the
battery's wear), `incentive` (the customers' pay per MWh of response), `terminal` (the final SoC
against its target); the battery market's other lines are 0 here. `episodes.csv` also holds each
day-seed's `hindsight_profit_usd`, `idle_profit_usd`, `binding_rows`, `converged` and `plan_seconds`."""
"""What each column of a ges suite's ``leaderboard.md`` means; written under its tables."""


def ges_gains(episodes: pd.DataFrame) -> pd.DataFrame:
    """``episodes`` of a ges run as :func:`scored_profit` reads them, on the day-seeds both
    references ran: ``profit_total_usd`` the gain over idle (NaN on a failed day, scored 0),
    ``oracle_profit_usd`` hindsight's gain over idle."""
    rows = episodes[episodes["hindsight_profit_usd"].notna() & episodes["idle_profit_usd"].notna()]
    idle = rows["idle_profit_usd"].astype(float)
    return pd.DataFrame({"entry": rows["entry"], "scenario_id": rows["scenario_id"], "seed": rows["seed"],
                         "status": rows["status"], "profit_total_usd": rows["profit_total_usd"].astype(float) - idle,
                         "oracle_profit_usd": rows["hindsight_profit_usd"].astype(float) - idle})


def _ges_figures(rows: pd.DataFrame) -> dict:
    """The columns of the ges table that describe the day-seeds that ran (``rows``, status ok)."""
    binding = rows["binding_rows"].astype(float)
    broken = (rows["violation_share"].astype(float).fillna(0.0) * binding).sum()
    return {"planned_cost": rows["planned_cost_usd"].astype(float).mean(), "lorp_pct": 100.0 * rows["lorp"].astype(float).mean(),
            "erns_mwh": rows["erns_mwh"].astype(float).mean(),
            "violation_pct": 100.0 * broken / binding.sum() if binding.sum() else np.nan,
            "incentive": -rows["incentive"].astype(float).mean(), "iterations": rows["iterations"].astype(float).mean(),
            "ev_unmet_mwh": rows["ev_unmet_mwh"].astype(float).mean(), "comfort_c": rows["comfort_c"].astype(float).max()}


def summarise_ges(episodes: pd.DataFrame, references: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """One row per entry of ``order`` (ranked by flexibility capture), then the references
    hindsight and idle (``reference`` set): see :data:`GES_GLOSSARY`."""
    gains = ges_gains(episodes)
    rows = []
    for entry in [e for e in order if e in set(episodes["entry"])]:
        group = episodes[episodes["entry"] == entry]
        errors = int((group["status"] != "ok").sum())
        scored = scored_profit(gains, entry)
        figures = _ges_figures(group[group["status"] == "ok"])
        if scored.empty:
            rows.append({"entry": entry, "errors": errors, **figures})
            continue
        low, high = bootstrap_capture(scored["profit"].to_numpy(), scored["oracle"].to_numpy())
        mine = group[group["hindsight_profit_usd"].notna() & group["idle_profit_usd"].notna()]
        realised = np.where(mine["status"] == "ok", mine["profit_total_usd"].astype(float), mine["idle_profit_usd"].astype(float))
        rows.append({"entry": entry, "errors": errors,
                     "capture_pct": capture_rate(scored["profit"].to_numpy(), scored["oracle"].to_numpy()),
                     "ci_low": low, "ci_high": high, "profit": realised.mean(), **figures})
    columns = ["entry", "reference", "errors", "capture_pct", "ci_low", "ci_high", "profit", "planned_cost",
               "lorp_pct", "erns_mwh", "violation_pct", "incentive", "ev_unmet_mwh", "comfort_c", "iterations"]
    table = pd.DataFrame(rows, columns=columns).sort_values("capture_pct", ascending=False, na_position="last")
    labels = {GES_HINDSIGHT: ("hindsight (fixed point, not ranked)", 100.0), GES_IDLE: ("idle (zero plan, not ranked)", 0.0)}
    shown = _reference_rows(references, labels, lambda name, ok: {"profit": ok["profit_total_usd"].astype(float).mean(),
                                                                  **_ges_figures(ok)})
    return pd.concat([table, pd.DataFrame(shown, columns=columns)], ignore_index=True)


def _reference_rows(references: pd.DataFrame, labels: dict[str, tuple[str, float]],
                    figures: Callable[[str, pd.DataFrame], dict]) -> list[dict]:
    """A ges or neighborhood table's reference rows: for each reference ``name`` of ``labels``
    (name: (label, capture %)), its label, name, errors, capture and ``figures(name, ok)`` of its
    rows that ran."""
    rows = []
    for name, (label, capture) in labels.items():
        group = references[references["reference"] == name]
        ok = group[group["status"] == "ok"]
        rows.append({"entry": label, "reference": name, "errors": int((group["status"] != "ok").sum()),
                     "capture_pct": capture, **figures(name, ok)})
    return rows


def ges_markdown(table: pd.DataFrame) -> str:
    """The ges table of :func:`summarise_ges`."""
    lines = ["| rank | entry | flexibility capture % [95% CI] | realised profit $/day | planned (DA) cost $/day | LORP % | "
             "ERNS MWh/day | violation % | incentive $/day | EV unmet MWh/day | comfort degC (max) | iterations (mean) | errors |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    rank = 0
    for _, row in table.iterrows():
        rank, shown, capture, errors = _row_head(row, rank)
        lines.append(f"| {shown} | {row['entry']} | {capture} | {number(row['profit'])} | "
                     f"{number(row['planned_cost'])} | {number(row['lorp_pct'])} | {number(row['erns_mwh'], 3)} | "
                     f"{number(row['violation_pct'])} | {number(row['incentive'])} | {number(row['ev_unmet_mwh'], 3)} | "
                     f"{number(row['comfort_c'], 3)} | {number(row['iterations'])} | {errors} |")
    return "\n".join(lines)


def _row_head(row: pd.Series, rank: int) -> tuple[int, str, str, str]:
    """A ges or neighborhood table row's rank (counting on from ``rank``), its rank cell ('-' for
    a reference row), its capture cell (with the interval of a ranked row) and its errors cell."""
    ranked = not isinstance(row["reference"], str)
    rank += ranked
    capture = number(row["capture_pct"])
    if ranked and not np.isnan(row["ci_low"]):
        capture += f" [{number(row['ci_low'])}, {number(row['ci_high'])}]"
    errors = int(row["errors"])
    where = "oracle.csv" if not ranked else "episodes.csv"
    return rank, str(rank) if ranked else "-", capture, f"**{errors} (see {where})**" if errors else "0"


def write_ges_report(out: Path, config: Config, order: list[str]) -> str:
    """Write a ges run's ``leaderboard.md`` (the tables, then :data:`GES_GLOSSARY`); return the tables."""
    episodes, references = read_run(out)
    table = summarise_ges(episodes, references, order)
    text = ges_markdown(table)
    entries = table[table["reference"].isna() & np.isfinite(table["capture_pct"].astype(float))]
    ranked = list(entries["entry"])
    gains = ges_gains(episodes)
    comparisons = paired(gains, [(e, ranked[0]) for e in ranked[1:]]) if ranked else pd.DataFrame()
    if len(comparisons):
        text += (f"\n\nPaired against the first ({ranked[0]}; same days, seeds and worlds; flexibility capture points; a "
                 "failed day counts as idle):\n\n" + paired_markdown(comparisons, "the first"))
    specs = episodes.drop_duplicates("entry").set_index("entry")[["da_bidder", "rt_policy"]]
    own_split = {row.da_bidder: entry for entry, row in specs.iterrows() if row.rt_policy == "plan" and entry in ranked}
    rt_levels = paired(gains, [(e, own_split[specs.loc[e, "da_bidder"]]) for e in ranked
                               if specs.loc[e, "rt_policy"] != "plan" and specs.loc[e, "da_bidder"] in own_split])
    if len(rt_levels):
        text += ("\n\nThe RT level: each split policy against the plan's own split after the same DA planner (paired as "
                 "above):\n\n" + paired_markdown(rt_levels, "the plan's split"))
    run = json.loads((out / "run.json").read_text())
    header = (f"# Leaderboard: suite {run['suite']['name']} (the aggregator's generalised storage), split {run['split']}, "
              f"{run['days']} days x seeds {run['seeds']}\n\n"
              f"Battery {config.battery.p_discharge_mw:g} MW / {config.battery.energy_mwh:g} MWh, 1,000 air conditioners and "
              f"the day's Caltech EV sessions; prices from {run['data_file'].split('/')[-1]} (sha256 "
              f"{run['data_sha256'][:12]}), node {config.data.node}. Flexibility capture = 100 x sum of (profit - idle's) / "
              "sum of (hindsight's - idle's) over the same days and seeds; hindsight is a fixed point, not a bound, so an "
              "entry may pass 100. $ per day, + earned.\n\n")
    skipped = ", ".join(f"{reason} {count}" for reason, count in run.get("skipped", {}).items() if count) or "none"
    header += f"Days of split {run['split']} skipped (not usable), by reason: {skipped}.\n\n"
    (out / "leaderboard.md").write_text(header + text + "\n\n" + GES_GLOSSARY + "\n")
    return text


NEIGHBORHOOD_GLOSSARY = """## Glossary

The homes of Neighborhood-v0 (`bessgym.community`: the shipped CityLearn homes with PV, battery, EV
and air conditioner) play one day at a time (24 hours, every home starting with its battery half
full, its house at the setpoint and no EV carried in) under the suite's utility tariff. An entry is
a community policy (its `da_bidder`: `reset(env)` and `act(obs)`, e.g. `baselines.community:Truthful`,
or a class built on its env, `baselines.community_lp:HomeMPC`) and the market mechanism (its
`rt_policy`: `k_double`, the uniform-price k-double auction at k = 0.5, or `mcafee`, McAfee's trade
reduction). Each day and seed has one draw of the homes' devices (the seed's), the same for every
entry and both references. A home's cost ($) is its bill (utility imports less export credit, plus
market payments less receipts) plus its discomfort priced at the env's $ per degC-hour; the
community's cost is the sum over homes. Money is $ per day (+ = paid).

The main table (one row per entry, best savings capture first; the oracle and no market are
references, never ranked):

- **rank**: by savings capture %.
- **savings capture % [95% CI]**: 100 x the sum over day-seeds of (no market's community cost - the
  entry's) / the sum of (no market's - the oracle's): 0 is no market, 100 the community oracle (one
  optimiser and one meter with perfect foresight, a lower bound on every policy's cost, so no entry
  passes 100). A failed day-seed (an error row) counts as no market's cost, no saving. The interval:
  2.5th and 97.5th percentiles over 2000 bootstrap resamples of the day-seeds (with replacement, each
  with its references).
- **cost $/day**: the community's cost, mean over the day-seeds (a failed one at no market's cost).
- **local PV %**: PV used at home or sold to neighbours over all PV (`1 - utility export kWh / PV kWh`,
  pooled over the day-seeds that ran; `benchmarks.community`).
- **market kWh/day**: energy traded between homes, mean per day.
- **worst home vs no market $/day**: for each home, its cost less its cost without a market on the
  same day-seeds, mean per day; the largest over the homes (positive: some home pays more with the
  market than without, even where the community saves; negative: every home gains).
- **sellers earn $/day** / **buyers pay $/day**: as `benchmarks.community` defines them, per day: the
  bills of the home-hours that sell (net import < 0), sign turned, and of those that buy; cost =
  buyers pay - sellers earn + discomfort x its price - the terminal value (the battery's energy
  against the day's start, less the EV energy still owed past the day: Neighborhood-v0's last hour).
- **discomfort degC-h/day**, **EV unmet kWh/day**: degree-hours above the thermostat's band, and EV
  energy short at departure, mean per day.
- **efficiency %**: allocative efficiency, realised gains from trade over the maximum at the homes'
  reservation values (`benchmarks.community`), pooled over the hours with gains; blank without any.
- **errors**: day-seeds with `status=error` (the message is in `episodes.csv`; for the references,
  `oracle.csv`).

The paired table: each entry against the first, the difference in savings capture points on the
day-seeds both were scored on, its paired bootstrap interval (the same resampled day-seeds for both),
**P(better)** the share of resamples in which the entry captures more, and the **day-seeds**.

`episodes.csv` holds each day-seed's figures, the references' costs (`oracle_cost_usd`,
`no_market_cost_usd`) and `home_cost_usd`, each home's cost (a JSON object by agent); `oracle.csv`
the references' (the oracle's bill is the community's one-meter utility bill; it has no market, no
per-home costs and no EV figure)."""
"""What each column of a neighborhood suite's ``leaderboard.md`` means; written under its tables."""


def neighborhood_savings(episodes: pd.DataFrame) -> pd.DataFrame:
    """``episodes`` of a neighborhood run as :func:`scored_profit` reads them, on the day-seeds both
    references ran: ``profit_total_usd`` the entry's saving against no market ($, NaN on a failed
    day, scored 0), ``oracle_profit_usd`` the oracle's."""
    rows = episodes[episodes["oracle_cost_usd"].notna() & episodes["no_market_cost_usd"].notna()]
    none = rows["no_market_cost_usd"].astype(float)
    return pd.DataFrame({"entry": rows["entry"], "scenario_id": rows["scenario_id"], "seed": rows["seed"],
                         "status": rows["status"], "profit_total_usd": none - rows["cost_usd"].astype(float),
                         "oracle_profit_usd": none - rows["oracle_cost_usd"].astype(float)})


def home_costs(rows: pd.DataFrame) -> pd.DataFrame:
    """Each home's cost ($, columns by agent) of ``rows`` (their ``home_cost_usd`` JSON), indexed by
    (scenario_id, seed)."""
    frame = pd.DataFrame([json.loads(text) for text in rows["home_cost_usd"]])
    frame.index = pd.MultiIndex.from_frame(rows[["scenario_id", "seed"]])
    return frame


def worst_home_change(rows: pd.DataFrame, no_market: pd.DataFrame) -> float:
    """The largest mean change ($/day) of any home's cost against no market (``no_market``: the
    reference's rows) over the day-seeds of ``rows`` (status ok) the reference ran; NaN without any."""
    mine, theirs = home_costs(rows), home_costs(no_market)
    both = mine.index.intersection(theirs.index)
    if not len(both):
        return float("nan")
    return float((mine.loc[both] - theirs.loc[both, mine.columns]).mean().max())


def _neighborhood_figures(rows: pd.DataFrame) -> dict:
    """The columns of the neighborhood table that describe the day-seeds that ran (``rows``, status ok)."""
    def mean(column: str) -> float:
        return rows[column].astype(float).mean() if len(rows) else float("nan")

    pv = rows["pv_kwh"].astype(float).sum()
    exported = ((1.0 - rows["local_pv_share"].astype(float)) * rows["pv_kwh"].astype(float)).sum()
    return {"local_pv_pct": 100.0 * (1.0 - exported / pv) if pv > 0 else np.nan, "market_kwh": mean("market_kwh"),
            "sellers_earn": mean("sellers_earn_usd"), "buyers_pay": mean("buyers_pay_usd"),
            "discomfort": mean("discomfort_c_h"), "ev_unmet": mean("ev_unmet_kwh")}


def _efficiency_pct(rows: pd.DataFrame) -> float:
    """Allocative efficiency (%) pooled over ``rows``: realised gains from trade over the maximum; NaN without gains."""
    best = rows["max_gains_usd"].astype(float).sum()
    return 100.0 * rows["realised_gains_usd"].astype(float).sum() / best if best > 0 else np.nan


def summarise_neighborhood(episodes: pd.DataFrame, references: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """One row per entry of ``order`` (ranked by savings capture), then the references oracle and
    no market (``reference`` set): see :data:`NEIGHBORHOOD_GLOSSARY`."""
    savings = neighborhood_savings(episodes)
    no_market = references[(references["reference"] == NEIGHBORHOOD_NO_MARKET) & (references["status"] == "ok")]
    rows = []
    for entry in [e for e in order if e in set(episodes["entry"])]:
        group = episodes[episodes["entry"] == entry]
        ok = group[group["status"] == "ok"]
        errors = int((group["status"] != "ok").sum())
        figures = {**_neighborhood_figures(ok), "efficiency_pct": _efficiency_pct(ok),
                   "worst_home": worst_home_change(ok, no_market)}
        scored = scored_profit(savings, entry)
        if scored.empty:
            rows.append({"entry": entry, "errors": errors, **figures})
            continue
        low, high = bootstrap_capture(scored["profit"].to_numpy(), scored["oracle"].to_numpy())
        mine = group[group["oracle_cost_usd"].notna() & group["no_market_cost_usd"].notna()]
        cost = np.where(mine["status"] == "ok", mine["cost_usd"].astype(float), mine["no_market_cost_usd"].astype(float))
        rows.append({"entry": entry, "errors": errors,
                     "capture_pct": capture_rate(scored["profit"].to_numpy(), scored["oracle"].to_numpy()),
                     "ci_low": low, "ci_high": high, "cost": cost.mean(), **figures})
    columns = ["entry", "reference", "errors", "capture_pct", "ci_low", "ci_high", "cost", "local_pv_pct", "market_kwh",
               "worst_home", "sellers_earn", "buyers_pay", "discomfort", "ev_unmet", "efficiency_pct"]
    table = pd.DataFrame(rows, columns=columns).sort_values("capture_pct", ascending=False, na_position="last")
    labels = {NEIGHBORHOOD_ORACLE: ("oracle (community LP, perfect foresight; lower bound, not ranked)", 100.0),
              NEIGHBORHOOD_NO_MARKET: ("no market (rule-based homes, not ranked)", 0.0)}

    def figures(name: str, ok: pd.DataFrame) -> dict:
        mine = _neighborhood_figures(ok)
        if name == NEIGHBORHOOD_ORACLE:  # one meter, no market: only its cost, PV use and discomfort are its own
            mine = {k: mine[k] for k in ("local_pv_pct", "discomfort")}
        else:
            mine.update(worst_home=0.0)
        return {"cost": ok["cost_usd"].astype(float).mean(), **mine}

    shown = _reference_rows(references, labels, figures)
    return pd.concat([table, pd.DataFrame(shown, columns=columns)], ignore_index=True)


def neighborhood_markdown(table: pd.DataFrame) -> str:
    """The neighborhood table of :func:`summarise_neighborhood`."""
    lines = ["| rank | entry | savings capture % [95% CI] | cost $/day | local PV % | market kWh/day | worst home vs no market "
             "$/day | sellers earn $/day | buyers pay $/day | discomfort degC-h/day | EV unmet kWh/day | efficiency % | errors |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    rank = 0
    for _, row in table.iterrows():
        rank, shown, capture, errors = _row_head(row, rank)
        lines.append(f"| {shown} | {row['entry']} | {capture} | {number(row['cost'], 2)} | "
                     f"{number(row['local_pv_pct'])} | {number(row['market_kwh'])} | {number(row['worst_home'], 2)} | "
                     f"{number(row['sellers_earn'], 2)} | {number(row['buyers_pay'], 2)} | {number(row['discomfort'], 2)} | "
                     f"{number(row['ev_unmet'], 2)} | {number(row['efficiency_pct'])} | {errors} |")
    return "\n".join(lines)


def write_neighborhood_report(out: Path, order: list[str]) -> str:
    """Write a neighborhood run's ``leaderboard.md`` (the tables, then :data:`NEIGHBORHOOD_GLOSSARY`);
    return the tables."""
    episodes, references = read_run(out)
    table = summarise_neighborhood(episodes, references, order)
    text = neighborhood_markdown(table)
    entries = table[table["reference"].isna() & np.isfinite(table["capture_pct"].astype(float))]
    ranked = list(entries["entry"])
    comparisons = paired(neighborhood_savings(episodes), [(e, ranked[0]) for e in ranked[1:]]) if ranked else pd.DataFrame()
    if len(comparisons):
        text += (f"\n\nPaired against the first ({ranked[0]}; same days, seeds and devices; savings capture points; a "
                 "failed day counts as no market):\n\n" + paired_markdown(comparisons, "the first"))
    run = json.loads((out / "run.json").read_text())
    homes = len(home_costs(references[references["reference"] == NEIGHBORHOOD_NO_MARKET].head(1)).columns) \
        if (references["reference"] == NEIGHBORHOOD_NO_MARKET).any() else 0
    header = (f"# Leaderboard: suite {run['suite']['name']} (the neighbourhood market), split {run['split']}, "
              f"{run['days']} days x seeds {run['seeds']}\n\n"
              f"{homes} homes of {run['homes_file'].split('/')[-1]} (sha256 {run['homes_sha256'][:12]}), tariff "
              f"`{run['suite']['tariff']}` (export prices from {run['data_file'].split('/')[-1]}). Savings capture = 100 x "
              "sum of (no market's community cost - the entry's) / sum of (no market's - the community oracle's) over the "
              "same days and seeds. $ per day, + = paid.\n\n")
    (out / "leaderboard.md").write_text(header + text + "\n\n" + NEIGHBORHOOD_GLOSSARY + "\n")
    return text
