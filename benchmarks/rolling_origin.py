"""Rolling-origin evaluation of a learned DA agent: each quarter of the shipped CAISO data held
out in turn, the agent trained only on the days before it.

    python -m benchmarks.rolling_origin --out runs/rolling

For every fold (test quarter 2023-Q2 .. 2024-Q2; train from the data's first day to the day
before the quarter) it writes the fold's config, trains the DayAhead-v0 agent with
:mod:`agents.ppo.train` (by default the residual on RobustDA, the shipped default's recipe; RT
fixed to ``follow_da``), and plays the quarter with the learned bidder and with its reference
(the bidder it corrects; RobustDA for the plain action) under the same deployment seed. The training recipe is the shipped
default's (the DayAhead-v0 block of ``agents/ppo/hyperparams.yml``, 100k steps, early stopping). Early stopping
(``--keep best``, the default) holds out the last ``--holdout`` share of the days before the quarter as the fold's
``val`` split, trains on the days before those, and keeps the policy with the best capture on them, the untrained one
(the reference's own bid, near enough) among the candidates; ``--keep final`` trains on every day before the quarter
and keeps the last policy. It reports each fold's captures and the
paired difference (learned minus reference, capture points) with a 95% paired bootstrap
interval over the quarter's days (:func:`benchmarks.report.paired`), as a markdown
table and ``rolling_origin.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from agents.evaluate import OracleCache, evaluate
from agents.ppo.train import KEEP, TrainConfig, train
from benchmarks.report import paired
from bessgym._paths import DATA_DIR
from bessgym.cli import number
from bessgym.envs.episodes import EpisodeSource, resolve

FOLDS = (  # (test quarter, its first and last day); training runs from the data's first day
    ("2023-Q2", "2023-04-01", "2023-06-30"),
    ("2023-Q3", "2023-07-01", "2023-09-30"),
    ("2023-Q4", "2023-10-01", "2023-12-31"),
    ("2024-Q1", "2024-01-01", "2024-03-31"),
    ("2024-Q2", "2024-04-01", "2024-06-30"),
)
DATA_START = "2023-01-01"
REFERENCE = "baselines.robust:RobustDA"


def fold_config(start: str, end: str, holdout: float = 0.0) -> dict:
    """The caiso-sp15 preset with ``test`` the quarter from ``start`` to ``end`` and the days
    before it split in time: ``train``, then the last ``holdout`` share of them (at least one
    day) as ``val`` when ``holdout`` > 0."""
    config = json.loads((DATA_DIR / "presets" / "caiso-sp15.json").read_text())
    before = (pd.Timestamp(start) - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    splits = {"train": {"start": DATA_START, "end": before}, "test": {"start": start, "end": end}}
    if holdout > 0:
        config["data"]["splits"] = splits
        source = EpisodeSource(config, "train", da_bidder=None)
        _, history, index = source.scenarios.locate(source.ids[min(len(source.ids) - 1, int(round(len(source.ids) * (1 - holdout))))])
        first = pd.Timestamp(history.date(index))
        splits["train"]["end"] = (first - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
        splits["val"] = {"start": first.strftime("%Y-%m-%d"), "end": before}
    config["data"]["splits"] = splits
    config["data"].pop("ood", None)
    return config


def run_fold(name: str, start: str, end: str, out: Path, timesteps: int, seed: int, residual: str | None,
             keep: str, holdout: float, band: float | None = None) -> dict:
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "config.json"
    config_path.write_text(json.dumps(fold_config(start, end, holdout if keep == "best" else 0.0), indent=1) + "\n")
    selection = {"evaluations": 10, "eval_split": "val", "eval_days": None} if keep == "best" else \
        {"evaluations": 1, "eval_split": "test", "eval_days": 10}  # (final: an evaluation for the record only)
    record = train(TrainConfig(env="bessgym/DayAhead-v0", seed=seed, timesteps=timesteps, config=str(config_path),
                               split="train", residual=residual, residual_band=band, out=folder / "run", keep=keep,
                               **selection))
    return {"fold": name, **compare(folder, record["policy"], seed, residual), "train_seconds": record["train_seconds"],
            "kept_timesteps": record["kept_timesteps"]}


def compare(folder: Path, policy: str, seed: int, residual: str | None) -> dict:
    """A fold's quarter played by the learned bidder (checkpoint ``policy``) and its reference."""
    config_path = folder / "config.json"
    cache = OracleCache(folder / "oracle_profits.json")
    learned = evaluate(policy, "bessgym/DayAhead-v0", "test", str(config_path), seeds=[seed], oracle_cache=cache)
    reference = evaluate(residual or REFERENCE, "bessgym/DayAhead-v0", "test", str(config_path), seeds=[seed],
                         oracle_cache=cache)
    episodes = pd.concat([pd.DataFrame({"entry": entry, "status": "ok", "scenario_id": rows["scenario_id"].to_numpy(),
                                        "seed": rows["seed"].to_numpy(), "profit_total_usd": rows["profit_usd"].to_numpy(),
                                        "oracle_profit_usd": rows["oracle_profit_usd"].to_numpy()})
                          for entry, rows in (("learned", learned), ("reference", reference))])
    (comparison,) = paired(episodes, [("learned", "reference")]).to_dict("records")
    return {
        "train_days": len(EpisodeSource(str(config_path), "train", da_bidder=None).ids),
        "holdout_days": len(EpisodeSource(str(config_path), "val", da_bidder=None).ids)
        if "val" in json.loads(config_path.read_text())["data"]["splits"] else 0,
        "test_days": len(learned), "learned_capture_pct": float(learned.attrs["summary"].loc["capture %", "all"]),
        "reference_capture_pct": float(reference.attrs["summary"].loc["capture %", "all"]),
        "difference_pts": comparison["difference"], "ci_low": comparison["ci_low"], "ci_high": comparison["ci_high"],
        "policy": policy,
    }


def markdown(rows: list[dict]) -> str:
    lines = ["| fold (test quarter) | train days | held-out days | kept at step | test days | learned capture % | "
             "reference capture % | difference [paired 95% CI] |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['fold']} | {r['train_days']} | {r['holdout_days']} | {r['kept_timesteps']:,} | {r['test_days']} | "
              f"{r['learned_capture_pct']:.1f} | {r['reference_capture_pct']:.1f} | "
              f"{r['difference_pts']:+.1f} [{r['ci_low']:+.1f}, {r['ci_high']:+.1f}] |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rolling_origin", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/rolling-origin"), metavar="DIR",
                        help="folder of the folds' configs, runs and results (default: %(default)s)")
    parser.add_argument("--timesteps", type=number(int, at_least=1), default=100_000, metavar="N",
                        help="training steps per fold (default: %(default)s)")
    parser.add_argument("--seed", type=number(int, at_least=0), default=0, metavar="SEED",
                        help="PPO's seed and the deployment seed of the evaluation (default: %(default)s)")
    parser.add_argument("--residual", default=REFERENCE, metavar="SPEC",
                        help="the DA bidder the agent corrects, also its reference ('none': the plain action, against "
                             f"{REFERENCE}; default: %(default)s)")
    parser.add_argument("--keep", choices=KEEP, default="best",
                        help="best: early stopping on the held-out last --holdout of the days before each quarter; "
                             "final: train on all of them, keep the last policy (default: %(default)s)")
    parser.add_argument("--holdout", type=number(float, above=0.0, below=1.0), default=0.25, metavar="FRACTION",
                        help="share of the days before each quarter held out for early stopping, the latest ones "
                             "(with --keep best; default: %(default)s)")
    parser.add_argument("--residual-band", type=number(float, above=0.0), metavar="FRACTION",
                        help="the correction's reach, a fraction of the power in (0, 2] (default: the file's residual_band)")
    args = parser.parse_args(argv)
    if args.residual_band is not None and args.residual_band > 2:
        parser.error(f"argument --residual-band: must be at most 2 (a fraction of the power), got {args.residual_band}")
    residual = None if args.residual == "none" else args.residual
    if residual is not None:
        try:
            resolve(residual, "da_bidder")
        except (ValueError, FileNotFoundError) as exc:
            raise SystemExit(f"error: --residual: {exc}") from None
    rows = []
    for name, start, end in FOLDS:
        rows.append(run_fold(name, start, end, args.out, args.timesteps, args.seed, residual, args.keep, args.holdout,
                             args.residual_band))
        print(markdown(rows[-1:]).splitlines()[-1], flush=True)
        (args.out / "rolling_origin.json").write_text(json.dumps(rows, indent=1) + "\n")  # each fold as it ends
    print(markdown(rows))


if __name__ == "__main__":
    main()
