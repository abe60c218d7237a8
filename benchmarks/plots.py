"""The leaderboard's plots, from a run folder: who wins, by how much, and why.

* ``capture_rates.png``: each ranked entry's capture rate with its 95% bootstrap interval.
* ``ledger_breakdown.png``: the mean day's ledger lines ($) per entry, stacked (where the money
  comes from and goes), the legend below the axes.
* ``daily_profit.png``: the spread of daily profit ($ per MW-day) per entry.
* ``trajectories.png``: the winner's best, median and worst day-seed, by its shortfall against
  full hindsight (oracle profit - profit, $): each day's DA and RT prices, then the oracle's and
  the top :data:`TRAJECTORY_ENTRIES` entries' SoC, base points and DA schedule, the oracle's SoC
  behind each entry's. The days are replayed after the run (:func:`pick_days` chooses them, the
  leaderboard replays them with the same seeds into ``trajectories.json``), so the run itself
  records no path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bessgym.config import Config
from bessgym.market import HOURS
from bessgym.settlement import LEDGER_LINES

from benchmarks.report import FULL_HINDSIGHT, LADDER, ranked_entries, scored_profit, summarise

PLOT_FILES = ("capture_rates.png", "ledger_breakdown.png", "daily_profit.png", "trajectories.png")
TRAJECTORY_ENTRIES = 2
"""The best ranked entries whose paths ``trajectories.png`` shows beside the oracle's."""
DPI = 110


def _ranked(out: Path, config: Config, order: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The run's summary table (:func:`benchmarks.report.summarise`) and its episodes."""
    episodes = pd.read_csv(out / "episodes.csv")
    references = pd.read_csv(out / "oracle.csv")
    return summarise(episodes, references[references["reference"] == FULL_HINDSIGHT], config, order), episodes


def pick_days(out: Path, config: Config, order: list[str]) -> tuple[list[str], list[dict]]:
    """The entries and day-seeds ``trajectories.png`` shows: the top :data:`TRAJECTORY_ENTRIES`
    ranked entries, and the winner's day-seeds of least, median and most shortfall against full
    hindsight (oracle profit - its profit, $; a failed day counts as zero profit), each a dict of
    ``scenario_id``, ``seed`` and ``label``. Nothing when no entry is ranked."""
    table, episodes = _ranked(out, config, order)
    ranked = ranked_entries(table)
    if not ranked:
        return [], []
    scored = scored_profit(episodes, ranked[0])
    short = (scored["oracle"] - scored["profit"]).sort_values(kind="stable")
    positions = dict.fromkeys([0, (len(short) - 1) // 2, len(short) - 1])  # distinct: a run of one or two days
    names = {0: "best", (len(short) - 1) // 2: "median", len(short) - 1: "worst"}
    days = []
    for k in positions:
        (scenario_id, seed), gap = short.index[k], short.iloc[k]
        days.append({"scenario_id": scenario_id, "seed": int(seed),
                     "label": f"{ranked[0]}'s {names[k]} day: {_usd(gap)} short of hindsight"})
    return ranked[:TRAJECTORY_ENTRIES], days


def _usd(amount: float) -> str:
    """``$1,234`` or ``-$8``."""
    return f"{'-' if amount < 0 else ''}${abs(amount):,.0f}"


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def write_plots(out: Path, config: Config, order: list[str]) -> None:
    """Write the PNGs of :data:`PLOT_FILES` that the run has data for into ``out``."""
    table, episodes = _ranked(out, config, order)
    names = ranked_entries(table)
    if not names:  # nothing to rank (no day the oracle earned on): the table says so, no plots
        return
    ranked = table.set_index("entry").loc[names]
    height = 0.45 * len(names) + 1.4

    fig = _figure(8, height)
    ax = fig.subplots()
    y = np.arange(len(names))[::-1]
    ax.barh(y, ranked["capture_pct"], xerr=[ranked["capture_pct"] - ranked["ci_low"], ranked["ci_high"] - ranked["capture_pct"]],
            color="tab:blue")
    ax.set_yticks(y, names)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel("capture rate % (100 = perfect foresight), 95% bootstrap CI")
    fig.savefig(out / "capture_rates.png", dpi=DPI)

    ok = episodes[episodes["status"] == "ok"]
    means = ok.groupby("entry")[list(LEDGER_LINES)].mean().reindex(names)
    fig = _figure(9, height + 0.9)
    ax = fig.subplots()
    left_pos, left_neg = np.zeros(len(names)), np.zeros(len(names))
    for k, line in enumerate(LEDGER_LINES):
        values = np.nan_to_num(means[line].to_numpy(float))
        ax.barh(y, values, left=np.where(values >= 0, left_pos, left_neg), label=line, color=f"C{k}")
        left_pos += np.where(values >= 0, values, 0)
        left_neg += np.where(values < 0, values, 0)
    ax.plot(means[list(LEDGER_LINES)].sum(axis=1).to_numpy(), y, "k|", ms=14, mew=2, label="profit")
    ax.set_yticks(y, names)
    ax.axvline(0, color="k", lw=0.8)
    pad = 0.05 * (left_pos.max() - left_neg.min() or 1.0)
    ax.set_xlim(left_neg.min() - pad, left_pos.max() + pad)
    ax.set_xlabel("$ per day, mean over the days that ran (ledger lines; + earned, - paid)")
    fig.legend(loc="outside lower center", ncol=5, fontsize=8, frameon=False)  # below the axes: it covers no bar
    fig.savefig(out / "ledger_breakdown.png", dpi=DPI)

    daily = [scored_profit(episodes, e)["profit"].to_numpy() / config.battery.p_discharge_mw for e in names]
    fig = _figure(8, height)
    ax = fig.subplots()
    ax.boxplot(daily[::-1], orientation="horizontal", tick_labels=names[::-1], flierprops={"markersize": 2})
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel("$ per MW-day, one point per day and seed (a failed day counts as 0)")
    fig.savefig(out / "daily_profit.png", dpi=DPI)

    path = out / "trajectories.json"
    if path.exists():
        trajectory_plot(out, json.loads(path.read_text()), config)


def _hours(n: int) -> np.ndarray:
    return np.arange(n + 1) * HOURS / n


def _steps(ax: Any, values: Any, **style: Any) -> None:
    """``values`` (one per interval) as a step line over the day, the last interval drawn to its end."""
    values = np.asarray(values, float)
    ax.step(_hours(len(values)), np.append(values, values[-1]), where="post", **style)


def trajectory_plot(out: Path, trajectories: dict, config: Config) -> None:
    """``trajectories.png`` from ``trajectories.json`` (``entries``, and ``days`` each with its
    ``label`` and the replayed ``paths`` by name): a column per day; rows: the day's prices, the
    oracle's path, each entry's path (SoC on the left axis, the oracle's in grey behind;
    base points and DA schedule in MW on the right, + = discharge)."""
    days = [day for day in trajectories["days"] if FULL_HINDSIGHT in day["paths"]]
    if not days:
        return
    rows = [FULL_HINDSIGHT, *trajectories["entries"]]
    fig = _figure(5.2 * len(days), 2.1 * (len(rows) + 1) + 0.8)
    axes = np.array(fig.subplots(len(rows) + 1, len(days), sharex=True, squeeze=False))
    battery = config.battery
    mw_limits = (-1.1 * battery.p_charge_mw, 1.1 * battery.p_discharge_mw)
    for column, day in enumerate(days):
        oracle = day["paths"][FULL_HINDSIGHT]
        prices = axes[0, column]
        rt = np.asarray(oracle["rt_price"])
        _steps(prices, rt, color="tab:orange", lw=0.8, label="RT price")
        _steps(prices, oracle["da_price"], color="k", lw=1.2, label="DA price")
        prices.set_ylabel("$/MWh")
        prices.set_title(f"{day['label']}\n{day['scenario_id']}, seed {day['seed']}", fontsize=9)
        for row, name in enumerate(rows, start=1):
            ax = axes[row, column]
            path = day["paths"].get(name)
            label = LADDER[name][0] if name in LADDER else name
            if path is None:
                ax.set_title(f"{label}: not replayed (error)", fontsize=8)
                continue
            if name != FULL_HINDSIGHT:
                ax.plot(_hours(len(oracle["soc_frac"]) - 1), oracle["soc_frac"], color="0.75", lw=1.6, label="oracle SoC")
            ax.plot(_hours(len(path["soc_frac"]) - 1), path["soc_frac"], color="tab:green", lw=1.4, label="SoC")
            ax.set_ylim(-0.03, 1.03)  # a full or empty battery stays in view
            ax.set_ylabel("SoC")
            mw = ax.twinx()
            _steps(mw, path["base_mw"], color="tab:red", lw=0.8, label="base point")
            _steps(mw, path["schedule_mw"], color="tab:blue", lw=1.0, ls="--", label="DA schedule")
            mw.axhline(0, color="k", lw=0.4)
            mw.set_ylim(*mw_limits)
            mw.set_ylabel("MW (+ discharge)")
            ax.set_title(f"{label}: {_usd(path['profit_usd'])}", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("hour of the operating day")
        ax.set_xticks(range(0, HOURS + 1, 6))
    handles = {}
    for ax in fig.axes:
        for handle, text in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(text, handle)
    fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.savefig(out / "trajectories.png", dpi=DPI)
