"""Leaderboard tables and plots from a run's ``episodes.csv`` and ``oracle.csv``.

Headline: capture rate = 100 x sum of profit / sum of the oracle's profit over the same days
and seeds, with a 95% bootstrap interval (days resampled with replacement, paired with the
oracle). The oracle is listed for reference and never ranked.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from bessgym.config import Config
from bessgym.evaluation import capture_rate
from bessgym.market import PRODUCTS
from bessgym.settlement import LEDGER_LINES

BOOTSTRAP = 2000


def bootstrap_capture(profit: np.ndarray, oracle: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of 100 x sum(profit) / sum(oracle) over resampled rows."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(profit), (BOOTSTRAP, len(profit)))
    rates = 100.0 * profit[picks].sum(1) / oracle[picks].sum(1)
    return float(np.percentile(rates, 2.5)), float(np.percentile(rates, 97.5))


def summarise(episodes: pd.DataFrame, oracle: pd.DataFrame, config: Config, order: list[str]) -> pd.DataFrame:
    """One row per entry (ranked by capture rate) plus the oracle."""
    power = config.battery.p_discharge_mw
    rows = []
    for entry in [e for e in order if e in set(episodes["entry"])]:
        group = episodes[episodes["entry"] == entry].sort_values(["scenario_id", "seed"])  # reproducible bootstrap
        ok = group[(group["status"] == "ok") & group["oracle_profit_usd"].notna()]
        errors = int((group["status"] != "ok").sum())
        if ok.empty:
            rows.append({"entry": entry, "days": 0, "errors": errors})
            continue
        profit, reference = ok["profit_total_usd"].to_numpy(float), ok["oracle_profit_usd"].to_numpy(float)
        low, high = bootstrap_capture(profit, reference)
        revenue = ok[["da_energy", "rt_imbalance", "as_capacity", "mileage"]].sum()
        shortfall = ok[[f"shortfall_{p}_mwh" for p in PRODUCTS]].sum(axis=1)
        rows.append({
            "entry": entry, "days": len(ok), "errors": errors,
            "capture_pct": capture_rate(profit, reference), "ci_low": low, "ci_high": high,
            "profit_per_mw_day": profit.mean() / power,
            "as_share_pct": 100.0 * (revenue["as_capacity"] + revenue["mileage"]) / revenue.sum() if revenue.sum() else np.nan,
            "shortfall_mwh_per_day": shortfall.mean(),
            "penalties_per_day": -(ok["no_pay"] + ok["penalty"]).mean(),
            "cycles_per_day": ok["equivalent_cycles"].mean(),
            "latency_p50_ms": ok["decision_ms_p50"].median(), "latency_p95_ms": ok["decision_ms_p95"].mean(),
            "bid_s": ok["bid_seconds"].mean(),
        })
    table = pd.DataFrame(rows).sort_values("capture_pct", ascending=False, na_position="last")
    good = oracle[oracle["status"] == "ok"]
    reference_row = {"entry": "oracle (perfect foresight, not ranked)", "days": len(good), "errors": int((oracle["status"] != "ok").sum()),
                     "capture_pct": 100.0, "profit_per_mw_day": good["profit_total_usd"].astype(float).mean() / power,
                     "as_share_pct": np.nan}
    revenue = good[["da_energy", "rt_imbalance", "as_capacity", "mileage"]].astype(float).sum()
    if revenue.sum():
        reference_row["as_share_pct"] = 100.0 * (revenue["as_capacity"] + revenue["mileage"]) / revenue.sum()
    return pd.concat([table, pd.DataFrame([reference_row])], ignore_index=True)


def markdown(table: pd.DataFrame) -> str:
    def number(value: object, digits: int = 1) -> str:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return ""
        return f"{float(value) + 0.0:,.{digits}f}".replace("-0.0", "0.0") if abs(float(value)) < 0.5 * 10**-digits else f"{value:,.{digits}f}"

    lines = [
        "| rank | entry | capture % [95% CI] | $ per MW-day | AS share % | shortfall MWh/day | penalties $/day | cycles/day | decision ms p50 / p95 | bid s | days | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rank = 0
    for _, row in table.iterrows():
        ranked = not str(row["entry"]).startswith("oracle")
        rank += ranked
        capture = number(row.get("capture_pct"))
        if ranked and not np.isnan(row.get("ci_low", np.nan)):
            capture += f" [{number(row['ci_low'])}, {number(row['ci_high'])}]"
        errors = int(row.get("errors", 0) or 0)
        lines.append(
            f"| {rank if ranked else '-'} | {row['entry']} | {capture} | {number(row.get('profit_per_mw_day'), 2)} "
            f"| {number(row.get('as_share_pct'))} | {number(row.get('shortfall_mwh_per_day'), 3)} "
            f"| {number(row.get('penalties_per_day'), 2)} | {number(row.get('cycles_per_day'), 2)} "
            f"| {number(row.get('latency_p50_ms'), 3)} / {number(row.get('latency_p95_ms'), 3)} | {number(row.get('bid_s'), 3)} "
            f"| {int(row.get('days', 0) or 0)} | {f'**{errors} (see episodes.csv)**' if errors else 0} |"
        )
    return "\n".join(lines)


def plots(out: Path, table: pd.DataFrame, episodes: pd.DataFrame, config: Config) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ranked = table[~table["entry"].str.startswith("oracle") & table["capture_pct"].notna()]
    fig = Figure(figsize=(8, 0.5 * len(ranked) + 1.5))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    y = np.arange(len(ranked))[::-1]
    ax.barh(y, ranked["capture_pct"], xerr=[ranked["capture_pct"] - ranked["ci_low"], ranked["ci_high"] - ranked["capture_pct"]], color="tab:blue")
    ax.set_yticks(y, ranked["entry"])
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel("capture rate % (100 = perfect foresight), 95% bootstrap CI")
    fig.tight_layout()
    fig.savefig(out / "capture_rates.png", dpi=100)

    ok = episodes[episodes["status"] == "ok"]
    means = ok.groupby("entry")[list(LEDGER_LINES)].mean().reindex(ranked["entry"])
    fig = Figure(figsize=(9, 0.5 * len(ranked) + 2))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    left_pos, left_neg = np.zeros(len(means)), np.zeros(len(means))
    y = np.arange(len(means))[::-1]
    for line in LEDGER_LINES:
        values = means[line].to_numpy(float)
        left = np.where(values >= 0, left_pos, left_neg)
        ax.barh(y, values, left=left, label=line)
        left_pos += np.where(values >= 0, values, 0)
        left_neg += np.where(values < 0, values, 0)
    ax.set_yticks(y, means.index)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel("$ per day, mean over days (ledger lines)")
    ax.legend(fontsize=7, ncol=4, loc="lower right")
    fig.tight_layout()
    fig.savefig(out / "ledger_breakdown.png", dpi=100)

    path = out / "trajectories.json"
    if path.exists():
        trajectories = json.loads(path.read_text())
        names = [e for e in ranked["entry"] if e in trajectories]
        fig = Figure(figsize=(9, 1.6 * max(len(names), 1) + 0.5))
        FigureCanvasAgg(fig)
        axes = np.atleast_1d(fig.subplots(max(len(names), 1), 1, sharex=True))
        for ax, name in zip(axes, names):
            day = trajectories[name]
            n = len(day["base_mw"])
            hours = np.arange(n + 1) * 24 / n
            ax.plot(hours, day["soc_frac"], color="tab:green")
            ax.set_ylim(0, 1)
            ax.set_ylabel("SoC", fontsize=7)
            twin = ax.twinx()
            twin.step(hours[:-1], day["base_mw"], where="post", color="tab:red", lw=0.8)
            twin.set_ylabel("base MW", fontsize=7)
            ax.set_title(f"{name}: {day['scenario_id']}", fontsize=8)
        axes[-1].set_xlabel("hour of the operating day")
        fig.tight_layout()
        fig.savefig(out / "trajectories.png", dpi=100)


def write_report(out: Path, config: Config, order: list[str]) -> str:
    """Write ``leaderboard.md`` and the plots; return the table."""
    episodes = pd.read_csv(out / "episodes.csv")
    oracle = pd.read_csv(out / "oracle.csv")
    table = summarise(episodes, oracle, config, order)
    text = markdown(table)
    run = json.loads((out / "run.json").read_text())
    header = (f"# Leaderboard: suite {run['suite']['name']}, split {run['split']}, {run['days']} days x seeds {run['seeds']}\n\n"
              f"Battery {config.battery.p_discharge_mw:g} MW / {config.battery.energy_mwh:g} MWh; data "
              f"{run['data_file'].split('/')[-1]} (sha256 {run['data_sha256'][:12]}); node {config.data.node}.\n\n")
    (out / "leaderboard.md").write_text(header + text + "\n")
    plots(out, table, episodes, config)
    return text
