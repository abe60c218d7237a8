"""The leaderboard: outputs, user data, failure isolation, resume after a kill, the Ray backend."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.leaderboard import EPISODE_COLUMNS, main

REPO = Path(__file__).resolve().parent.parent


class RaisingPolicy:
    """Follows nothing: raises on its tenth decision."""

    def reset(self, episode) -> None:
        self.calls = 0

    def act(self, obs: np.ndarray) -> float:
        self.calls += 1
        if self.calls == 10:
            raise RuntimeError("boom on decision 10")
        return 0.0


class SleepyPolicy:
    """Idles, slowly (``seconds`` per decision)."""

    def __init__(self, seconds: float = 0.05) -> None:
        self.seconds = seconds

    def reset(self, episode) -> None:
        pass

    def act(self, obs: np.ndarray) -> float:
        time.sleep(self.seconds)
        return 0.0


def write_suite(path: Path, entries: list[dict], budget: float = 60.0, config: str = "caiso-sp15") -> Path:
    path.write_text(json.dumps({"name": "t", "config": config, "split": "test", "seeds": [0],
                                "time_budget_s": budget, "entries": entries}))
    return path


def rows(out: Path) -> list[dict]:
    with (out / "episodes.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def test_outputs_of_a_small_run(tmp_path):
    out = tmp_path / "run"
    main(["--suite", "quick", "--entries", "idle+follow,threshold+follow,robust+greedy", "--limit", "3", "--workers", "2", "--out", str(out)])
    episodes = pd.read_csv(out / "episodes.csv")
    assert list(episodes.columns) == EPISODE_COLUMNS
    assert len(episodes) == 9 and (episodes["status"] == "ok").all()
    assert np.allclose(episodes["capture_pct"], 100 * episodes["profit_total_usd"] / episodes["oracle_profit_usd"])
    idle = episodes[episodes["entry"] == "idle+follow"]
    assert (idle["profit_total_usd"].abs() < 1e-9).all()
    run = json.loads((out / "run.json").read_text())
    assert run["data_sha256"] and run["versions"]["bessgym"] and run["seeds"] == [0] and run["finished_utc"]
    table = (out / "leaderboard.md").read_text()
    assert "oracle (perfect foresight, not ranked)" in table and "| 1 |" in table
    references = pd.read_csv(out / "oracle.csv")
    assert sorted(references["reference"].unique()) == ["energy_only", "full_hindsight", "prices_known"]
    assert len(references) == 9 and (references["status"] == "ok").all()
    full = references[references["reference"] == "full_hindsight"].set_index("scenario_id")["profit_total_usd"]
    for rung in ("energy_only", "prices_known"):
        profit = references[references["reference"] == rung].set_index("scenario_id")["profit_total_usd"]
        assert (profit <= full.reindex(profit.index) + 1e-6).all()
    assert "Value ladder" in table and "prices known, deployment not" in table and "energy only (no AS)" in table
    trajectories = json.loads((out / "trajectories.json").read_text())  # the winner's best, median and worst day, replayed
    top = trajectories["entries"]
    assert len(top) == 2 and "| 1 | " + top[0] + " |" in table and len(trajectories["days"]) == 3
    profit = episodes.set_index(["entry", "scenario_id"])["profit_total_usd"]
    oracle = references[references["reference"] == "full_hindsight"].set_index("scenario_id")["profit_total_usd"]
    gaps = [oracle[d["scenario_id"]] - profit[top[0], d["scenario_id"]] for d in trajectories["days"]]
    assert gaps == sorted(gaps) and [d["label"].split("'s ")[1].split()[0] for d in trajectories["days"]] == ["best", "median", "worst"]
    for day in trajectories["days"]:
        paths = day["paths"]
        assert set(paths) == {"full_hindsight", *top}
        assert len(paths["full_hindsight"]["rt_price"]) == 96 and len(paths[top[1]]["schedule_mw"]) == 24
        for name in top:  # the replay is the run's day: same seed, same profit
            assert paths[name]["profit_usd"] == pytest.approx(profit[name, day["scenario_id"]], abs=1e-6)
        assert paths["full_hindsight"]["profit_usd"] == pytest.approx(oracle[day["scenario_id"]], abs=1e-6)
    assert "The RT level" not in table  # robust+greedy's bidder never followed its schedule here: nothing to pair
    for png in ("capture_rates.png", "ledger_breakdown.png", "daily_profit.png", "trajectories.png"):
        assert (out / png).stat().st_size > 5_000
    assert "## Glossary" in table and "AS share %" in table.split("## Glossary")[1]
    with pytest.raises(SystemExit, match="--resume"):
        main(["--suite", "quick", "--entries", "idle+follow", "--limit", "1", "--out", str(out)])


def test_user_csv_that_is_not_shipped(tmp_path):
    from bessgym.config import load_config
    from bessgym.scenarios import load_history

    data = load_config("synthetic").data.model_copy(update={"synthetic_interval_minutes": 15})
    history = load_history(data, seed=7)
    days = range(40, 50)
    stamps = pd.date_range(str(history.date(days[0])), periods=len(days) * 96, freq="15min")
    frame = pd.DataFrame({
        "interval_start_utc": stamps.strftime("%Y-%m-%d %H:%M:%S"), "hub": "MYNODE",
        "da_lmp": np.repeat(history.da[list(days)].ravel(), 4), "rt_lmp": history.rt[list(days)].ravel(),
        "as_regup": np.repeat(history.as_price[list(days), :, 0].ravel(), 4),
        "as_regdown": np.repeat(history.as_price[list(days), :, 1].ravel(), 4),
    })
    path = tmp_path / "my_market.csv.gz"
    frame.to_csv(path, index=False)
    out = tmp_path / "mine"
    main(["--data", str(path), "--node", "MYNODE", "--entries", "threshold+follow,robust+greedy", "--limit", "4", "--workers", "1", "--out", str(out)])
    episodes = pd.read_csv(out / "episodes.csv")
    assert len(episodes) == 8 and (episodes["status"] == "ok").all()
    assert episodes["scenario_id"].str.startswith("my_market-MYNODE-").all()
    assert json.loads((out / "run.json").read_text())["data_file"].endswith("my_market.csv.gz")


def test_data_days_start_at_the_markets_local_midnight(tmp_path):
    """A CAISO file passed with --data is cut into Pacific days, as the shipped data are: the same
    day has the same prices either way (``--timezone UTC`` cuts UTC days instead)."""
    from benchmarks.leaderboard import load_suite, resolve_config
    from bessgym.scenarios import ScenarioSet

    shipped = ScenarioSet("caiso-sp15")
    source = pd.read_csv(shipped.config.data.file)
    frame = source[(source["hub"] == "SP15") & source["interval_start_utc"].between("2024-05-01", "2024-05-06")]
    path = tmp_path / "caiso_may.csv"
    frame.to_csv(path, index=False)
    config = resolve_config(load_suite("quick"), str(path), "SP15", None)
    assert config.data.tz == "America/Los_Angeles"
    mine = ScenarioSet(config)
    day = mine.get("caiso_may-SP15-2024-05-03")
    assert np.array_equal(day.rt_price, shipped.get("caiso-SP15-2024-05-03").rt_price)
    utc = ScenarioSet(resolve_config(load_suite("quick"), str(path), "SP15", "UTC"))
    assert not np.array_equal(utc.get("caiso_may-SP15-2024-05-03").rt_price, day.rt_price)


def test_a_failing_or_slow_entry_gets_error_rows_and_the_run_goes_on(tmp_path):
    suite = write_suite(tmp_path / "suite.json", [
        {"name": "threshold", "da_bidder": "threshold", "rt_policy": "follow_da"},
        {"name": "raises", "da_bidder": "threshold", "rt_policy": "tests.test_leaderboard:RaisingPolicy"},
        {"name": "slow", "da_bidder": "threshold", "rt_policy": "tests.test_leaderboard:SleepyPolicy?seconds=0.05"},
    ], budget=2.5)  # the slow one needs 4.8 s a day; the others well under 2.5 s on a loaded machine
    out = tmp_path / "run"
    main(["--suite", str(suite), "--limit", "2", "--workers", "1", "--out", str(out)])
    episodes = pd.read_csv(out / "episodes.csv").set_index("entry")
    assert (episodes.loc["threshold", "status"] == "ok").all()
    assert (episodes.loc["raises", "status"] == "error").all()
    assert episodes.loc["raises", "error"].str.contains("boom on decision 10").all()
    assert episodes.loc["slow", "error"].str.contains("time budget of 2.5 s").all()
    assert "**2 (see episodes.csv)**" in (out / "leaderboard.md").read_text()


def test_a_failed_day_scores_zero_profit_so_failing_on_hard_days_never_pays():
    """An entry that fails on its worst day is scored as idle there (zero profit against the
    oracle's profit), not dropped from the capture rate."""
    from benchmarks.report import summarise
    from bessgym.config import load_config

    def row(entry: str, day: str, profit: float, status: str = "ok") -> dict:
        values = dict.fromkeys(EPISODE_COLUMNS, 0.0)
        return values | {"entry": entry, "scenario_id": day, "seed": 0, "profit_total_usd": profit if status == "ok" else np.nan,
                         "oracle_profit_usd": 100.0, "bid_fallback": False, "status": status}

    episodes = pd.DataFrame([row("steady", "a", 10.0), row("steady", "b", 10.0),
                             row("crashy", "a", 50.0), row("crashy", "b", np.nan, status="error")])
    oracle = pd.DataFrame([{"reference": "full_hindsight", "scenario_id": d, "seed": 0, "profit_total_usd": 100.0, "status": "ok",
                            "da_energy": 100.0, "rt_imbalance": 0.0, "as_capacity": 0.0, "mileage": 0.0} for d in "ab"])
    table = summarise(episodes, oracle, load_config("caiso-sp15"), ["steady", "crashy"]).set_index("entry")
    assert table.loc["crashy", "capture_pct"] == pytest.approx(25.0)  # not 50: the failed day counts as zero
    assert table.loc["steady", "capture_pct"] == pytest.approx(10.0)
    assert table.loc["crashy", "days"] == 1 and table.loc["crashy", "errors"] == 1


def test_paired_comparison_cancels_the_luck_both_entries_share():
    """Two entries whose daily profits swing together but differ by a steady $5 a day: their own
    intervals overlap, the paired interval does not cross zero."""
    from benchmarks.report import against_follow, bootstrap_capture, paired

    rng = np.random.default_rng(3)
    luck = rng.normal(100.0, 80.0, 60)  # $ per day, shared: the day's prices and deployment path

    def rows(entry: str, profit: np.ndarray) -> list[dict]:
        return [{"entry": entry, "scenario_id": f"d{i}", "seed": 0, "profit_total_usd": p, "oracle_profit_usd": 400.0,
                 "status": "ok"} for i, p in enumerate(profit)]

    episodes = pd.DataFrame(rows("a", luck + 5.0) + rows("b", luck) + rows("b_again", luck))
    comparisons = paired(episodes, [("b", "a"), ("b_again", "a")]).set_index("entry")
    low_a, _ = bootstrap_capture(luck + 5.0, np.full(60, 400.0))
    _, high_b = bootstrap_capture(luck, np.full(60, 400.0))
    assert low_a < high_b  # unpaired intervals overlap
    assert comparisons.loc["b", "difference"] == pytest.approx(-100.0 * 5 / 400)
    assert comparisons.loc["b", "ci_high"] < 0 and comparisons.loc["b", "p_better"] == 0.0
    assert comparisons.loc["b_again", "pairs"] == 60 and (comparisons["against"] == "a").all()
    specs = {"a": ("lp", "mpc"), "b": ("lp", "follow_da"), "b_again": ("robust", "follow_da")}
    episodes["da_bidder"], episodes["rt_policy"] = zip(*episodes["entry"].map(specs))
    assert against_follow(episodes, ["a", "b", "b_again"]) == [("a", "b")]  # the same bid, followed


def test_resume_after_a_kill_loses_and_repeats_no_row(tmp_path):
    suite = write_suite(tmp_path / "suite.json", [
        {"name": "threshold", "da_bidder": "threshold", "rt_policy": "follow_da"},
        {"name": "sleepy", "da_bidder": "threshold", "rt_policy": "tests.test_leaderboard:SleepyPolicy?seconds=0.01"},
    ])
    out = tmp_path / "run"
    command = [sys.executable, "-m", "benchmarks.leaderboard", "--suite", str(suite), "--limit", "6", "--workers", "1", "--out", str(out)]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and (not (out / "episodes.csv").exists() or len(rows(out)) < 8):
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    before = rows(out)
    assert 8 <= len(before) < 12  # killed mid-run
    main(["--suite", str(suite), "--limit", "6", "--workers", "1", "--out", str(out), "--resume"])
    after = rows(out)
    keys = [(r["entry"], r["scenario_id"], r["seed"]) for r in after]
    assert len(keys) == 12 and len(set(keys)) == 12
    assert all(r["status"] == "ok" for r in after)


def test_ray_backend_on_a_local_instance(tmp_path):
    pytest.importorskip("ray")
    out = tmp_path / "ray"
    main(["--suite", "quick", "--entries", "threshold+follow", "--limit", "2", "--backend", "ray", "--out", str(out)])
    episodes = pd.read_csv(out / "episodes.csv")
    assert len(episodes) == 2 and (episodes["status"] == "ok").all()
