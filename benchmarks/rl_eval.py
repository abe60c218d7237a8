"""The learned agents evaluated as the RL literature reports them, from leaderboard runs.

    python -m benchmarks.rl_eval leaderboard/agents-val leaderboard/agents-test --curves runs/i16 --out docs/img

For every leaderboard folder (its ``episodes.csv``): each entry's capture % per seed (100 x sum
of profit / sum of oracle profit over the days), and, as rliable computes them (Agarwal et al.,
2021, "Deep RL at the edge of the statistical precipice"; written out here because rliable's
arch dependency does not import under pandas 3), the interquartile mean of the day scores
(profit / oracle profit of a day, runs = seeds, tasks = days) with a stratified-bootstrap 95%
interval, and the probability that a learned entry (an RT policy or DA bidder from ``agents.``)
does better on a day than the best non-learned entry with the same DA bidder (or, for a learned
DA bidder, the same RT policy), with its interval. ``--curves``: validation capture against
env steps of every training run under the folder (its ``eval/evaluations.csv``), one PNG.
"""

from __future__ import annotations

import argparse
import glob
import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import trim_mean

from benchmarks.report import scored_profit
from bessgym.evaluation import capture_rate

REPS = 2000  # bootstrap resamples


def learned(spec: str) -> bool:
    return str(spec).startswith("agents.")


def _check(episodes: pd.DataFrame) -> None:
    """Refuse repeated (entry, day, seed) rows (two runs wrote one folder)."""
    repeated = episodes.duplicated(["entry", "scenario_id", "seed"])
    if repeated.any():
        raise ValueError(f"{int(repeated.sum())} rows repeat an (entry, day, seed): two runs wrote one folder")


def per_seed(episodes: pd.DataFrame) -> pd.DataFrame:
    """Capture % of each entry (rows) under each seed (columns), and over all seeds, scored as the
    leaderboard scores them (:func:`benchmarks.report.scored_profit`: a failed day is zero
    profit); the ``failed days`` column counts those days."""
    _check(episodes)
    rows = {}
    for entry in episodes["entry"].unique():
        days = scored_profit(episodes, entry)
        rows[entry] = {f"seed {seed}": capture_rate(group["profit"].to_numpy(), group["oracle"].to_numpy())
                       for seed, group in days.groupby(level="seed")}
        rows[entry]["failed days"] = int((episodes.loc[episodes["entry"] == entry, "status"] != "ok").sum())
        rows[entry]["all"] = capture_rate(days["profit"].to_numpy(), days["oracle"].to_numpy())
    table = pd.DataFrame(rows).T.astype(float)
    table["failed days"] = table["failed days"].astype(int)
    return table.sort_values("all", ascending=False)


def score_matrix(episodes: pd.DataFrame, entry: str) -> np.ndarray:
    """Day scores (profit / oracle profit; a failed day scores 0) of an entry, (seeds, days),
    days in a fixed order; days whose oracle earned nothing are left out."""
    days = scored_profit(episodes, entry)
    days = days[days["oracle"] > 0]
    return (days["profit"] / days["oracle"]).unstack("scenario_id").sort_index(axis=1).to_numpy()


def references(episodes: pd.DataFrame) -> dict[str, str]:
    """Each learned entry's reference: the best non-learned entry (by capture over all seeds)
    sharing its other level (the DA bidder of a learned RT policy, the RT policy of a learned
    DA bidder)."""
    entries = episodes.drop_duplicates("entry").set_index("entry")[["da_bidder", "rt_policy"]]
    capture = per_seed(episodes)["all"]
    pairs = {}
    for entry, (da, rt) in entries.iterrows():
        if not (learned(da) or learned(rt)):
            continue
        same = entries[(entries["da_bidder"] == da) if learned(rt) else (entries["rt_policy"] == rt)]
        fixed = [e for e, (d, r) in same.iterrows() if not (learned(d) or learned(r))]
        if fixed:
            pairs[entry] = max(fixed, key=lambda e: capture[e])
    return pairs


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean: the mean of the middle 50% of all scores (runs x tasks)."""
    return float(trim_mean(np.ravel(scores), 0.25))


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y) of two (runs, tasks) score matrices: per task, the Mann-Whitney share of run
    pairs where X scores higher (ties count half), averaged over tasks."""
    greater = (x[:, None, :] > y[None, :, :]).mean(axis=(0, 1))
    ties = (x[:, None, :] == y[None, :, :]).mean(axis=(0, 1))
    return float((greater + 0.5 * ties).mean())


def stratified_bootstrap(statistic, matrices: list[np.ndarray], reps: int = REPS, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of ``statistic(*matrices)`` with each task's runs resampled with
    replacement, independently for each matrix (rliable's stratified, and for two algorithms
    stratified independent, bootstrap)."""
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(reps):
        resampled = []
        for m in matrices:
            runs, tasks = m.shape
            resampled.append(np.take_along_axis(m, rng.integers(0, runs, (runs, tasks)), axis=0))
        draws.append(statistic(*resampled))
    low, high = np.percentile(draws, [2.5, 97.5])
    return float(low), float(high)


def rliable_table(episodes: pd.DataFrame) -> pd.DataFrame:
    """IQM of the day scores (95% stratified bootstrap interval) of every entry, and each learned
    entry's probability of improvement over its reference (:func:`references`), with its interval."""
    entries = list(per_seed(episodes).index)
    scores = {entry: score_matrix(episodes, entry) for entry in entries}
    rows = {}
    for entry in entries:
        low, high = stratified_bootstrap(iqm, [scores[entry]])
        rows[entry] = {"IQM day score": iqm(scores[entry]), "IQM CI low": low, "IQM CI high": high}
    for entry, reference in references(episodes).items():
        x, y = scores[entry], scores[reference]
        if x.shape != y.shape:
            continue  # not scored on the same day-seeds
        low, high = stratified_bootstrap(probability_of_improvement, [x, y])
        rows[entry] |= {"reference": reference, "P(improvement)": probability_of_improvement(x, y),
                        "P CI low": low, "P CI high": high}
    return pd.DataFrame(rows).T.loc[entries]


def learning_curves(root: Path, out: Path) -> Path:
    """One PNG of the evaluation capture % against env steps (symmetric log scale) of every run folder under
    ``root`` (symbolic links followed), one colour per policy name without its seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = sorted(Path(path).parent.parent for path in glob.glob(str(root / "**" / "eval" / "evaluations.csv"), recursive=True))
    if not runs:
        raise FileNotFoundError(f"no training run (a folder with eval/evaluations.csv) under {root}")
    fig, ax = plt.subplots(figsize=(8, 4.5))
    colours: dict[str, str] = {}
    for run in runs:
        frame = pd.read_csv(run / "eval" / "evaluations.csv")
        record = json.loads((run / "training.json").read_text())
        kind = str(record["name"]).rsplit("-seed", 1)[0]
        first = kind not in colours
        colour = colours.setdefault(kind, f"C{len(colours)}")
        ax.plot(frame["timesteps"], frame["capture_pct"], color=colour, alpha=0.8, marker=".",
                label=f"{kind} ({record['train_config']['eval_split']})" if first else None)
    ax.set_xscale("symlog", linthresh=1e4)  # logarithmic above 10k steps, linear below: step 0 (the untrained policy) shows
    ax.set_xlabel("env steps (logarithmic above 10,000)")
    ax.set_ylabel("capture % on the eval split's first days")
    ax.set_title("Learning curves, one line per seed")
    ax.grid(alpha=0.3)
    ax.legend()
    out.mkdir(parents=True, exist_ok=True)
    path = out / "learning_curves.png"
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def markdown(frame: pd.DataFrame, digits: int) -> str:
    """A markdown table of a frame (its index first), numbers with ``digits`` decimals."""
    def cell(value: object) -> str:
        return f"{value:.{digits}f}" if isinstance(value, (float, np.floating)) and np.isfinite(value) else \
            "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)

    lines = ["| " + " | ".join(["entry", *map(str, frame.columns)]) + " |", "|---" * (len(frame.columns) + 1) + "|"]
    lines += ["| " + " | ".join([str(index), *map(cell, row)]) + " |" for index, row in zip(frame.index, frame.astype(object).to_numpy())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rl_eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="leaderboard result folders (each with episodes.csv)")
    parser.add_argument("--curves", type=Path, metavar="DIR", help="plot the learning curves of the training runs under DIR")
    parser.add_argument("--out", type=Path, default=Path("."), metavar="DIR", help="where the PNG goes (default: here)")
    args = parser.parse_args(argv)
    try:
        for folder in args.folders:
            path = folder / "episodes.csv"
            if not path.is_file():
                raise FileNotFoundError(f"{folder} holds no episodes.csv (give a leaderboard result folder)")
            episodes = pd.read_csv(path)
            if episodes.empty:
                raise ValueError(f"{path} has no rows")
            print(f"## {folder}\n\nCapture % by seed (a failed day counts as zero profit):\n\n"
                  f"{markdown(per_seed(episodes), 1)}\n")
            print(f"rliable (day scores = profit / oracle profit; IQM and P(improvement) with 95% stratified bootstrap "
                  f"intervals):\n\n{markdown(rliable_table(episodes), 3)}\n")
        if args.curves is not None:
            print(f"learning curves: {learning_curves(args.curves, args.out)}")
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
