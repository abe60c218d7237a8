"""The RL-literature evaluation (benchmarks.rl_eval) and the rolling-origin folds (benchmarks.rolling_origin)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.rl_eval import iqm, per_seed, probability_of_improvement, references, rliable_table, stratified_bootstrap
from benchmarks.rolling_origin import FOLDS, fold_config
from bessgym.envs.episodes import EpisodeSource


def episodes() -> pd.DataFrame:
    """Three entries after one DA bidder (two fixed RT policies, one learned) and a learned DA
    bidder, on 4 days x 2 seeds; oracle profit 100 a day."""
    rows = []
    for entry, da, rt, profit in (("mpc", "robust", "baselines.mpc:MPCPolicy", 40.0), ("follow", "robust", "follow_da", 30.0),
                                  ("ppo", "robust", "agents.ppo.policy:PPORealTime?name=x", 35.0),
                                  ("ppo-da", "agents.ppo.policy:PPODayAhead?name=y", "follow_da", 31.0)):
        for seed in (0, 1):
            for day in range(4):
                rows.append({"entry": entry, "da_bidder": da, "rt_policy": rt, "scenario_id": f"d{day}", "seed": seed,
                             "profit_total_usd": profit + day + seed, "oracle_profit_usd": 100.0, "status": "ok"})
    return pd.DataFrame(rows)


def test_scores_follow_the_rliable_definitions():
    assert iqm(np.arange(1, 101)) == pytest.approx(np.arange(26, 76).mean())
    x = np.arange(12.0).reshape(3, 4)
    assert probability_of_improvement(x, x) == pytest.approx(0.5)
    assert probability_of_improvement(x + 100, x) == 1.0 and probability_of_improvement(x, x + 100) == 0.0
    low, high = stratified_bootstrap(probability_of_improvement, [x + 0.5, x], reps=200)
    assert 0.0 <= low <= probability_of_improvement(x + 0.5, x) <= high <= 1.0


def test_each_learned_entry_meets_the_best_fixed_entry_sharing_its_other_level():
    frame = episodes()
    assert references(frame) == {"ppo": "mpc", "ppo-da": "follow"}
    table = per_seed(frame)
    assert list(table.index) == ["mpc", "ppo", "ppo-da", "follow"]
    assert table.loc["ppo", "seed 0"] == pytest.approx(36.5) and table.loc["ppo", "all"] == pytest.approx(37.0)
    scores = rliable_table(frame)
    assert scores.loc["ppo", "reference"] == "mpc" and scores.loc["ppo", "P(improvement)"] < 0.5
    assert scores.loc["ppo-da", "P(improvement)"] > 0.5


def test_every_fold_trains_only_on_the_days_before_its_quarter():
    for name, start, end in FOLDS:
        config = fold_config(start, end)
        train = EpisodeSource(config, "train", da_bidder=None).ids
        test = EpisodeSource(config, "test", da_bidder=None).ids
        assert max(train) < min(test) and len(test) > 20, name  # 2023-Q3 has 27 complete days
        assert all(start <= day[-10:] <= end for day in test)
        held = fold_config(start, end, holdout=0.25)  # early stopping: the latest quarter of those days held out
        fit, val = (EpisodeSource(held, split, da_bidder=None).ids for split in ("train", "val"))
        assert fit + val == train and max(fit) < min(val) and len(val) == pytest.approx(0.25 * len(train), abs=1), name


def test_a_failed_day_counts_as_zero_profit_as_in_the_leaderboard():
    frame = episodes()
    failed = (frame["entry"] == "ppo") & (frame["scenario_id"] == "d0") & (frame["seed"] == 0)
    frame.loc[failed, ["status", "profit_total_usd"]] = ["error", np.nan]
    table = per_seed(frame)
    assert table.loc["ppo", "failed days"] == 1 and table.loc["mpc", "failed days"] == 0
    assert table.loc["ppo", "seed 0"] == pytest.approx(100 * (36 + 37 + 38) / 400)
    assert np.isfinite(rliable_table(frame).loc["ppo", "IQM day score"])
    with pytest.raises(ValueError, match="rows repeat an"):
        per_seed(pd.concat([frame, frame.iloc[:1]]))
