"""Interrupted runs and hostile plug-ins: the leaderboard goes on and tells the truth.

A plug-in that exits the process, kills its worker, catches the time budget's exception or never
answers gets an error row; a zero-oracle day has a capture rate; ``--resume`` refuses another
run's folder and repairs a torn last line; workers die with the main process; bad input is one
line unless ``--debug``.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import pandas as pd
import pytest

from bessgym.evaluation import capture_rate

from benchmarks import leaderboard
from benchmarks.leaderboard import main
from benchmarks.report import bootstrap_capture, paired
from tests.test_leaderboard import rows, write_suite


class ExitingBidder:
    """Ends the process the Python way."""

    def bid(self, ctx):
        sys.exit(3)


class KillingBidder:
    """Ends its process at once, no exception, no clean-up."""

    def bid(self, ctx):
        os._exit(7)


class CatchingBidder:
    """Sleeps past the budget, swallows the timer's exception (whatever its class) and bids."""

    def bid(self, ctx):
        from bessgym.market import DABid

        try:
            time.sleep(4)
        except BaseException:
            pass
        return DABid.idle()


class DeafBidder:
    """Never answers: catches everything, the timer's exception included, and sleeps on."""

    def bid(self, ctx):
        while True:
            try:
                time.sleep(60)
            except BaseException:
                pass


class InterruptingBidder:
    """Raises what Ctrl-C raises."""

    def bid(self, ctx):
        raise KeyboardInterrupt


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


class UnprintableBidder:
    """Raises an exception whose message itself raises."""

    def bid(self, ctx):
        raise Unprintable()


def parent_death_signal() -> int:
    """The signal this process gets when its parent dies (Linux prctl PR_GET_PDEATHSIG)."""
    import ctypes

    value = ctypes.c_int(0)
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(2, ctypes.byref(value))
    return value.value


def test_capture_rate_on_days_where_the_oracle_earned_nothing():
    assert capture_rate([5.0, 10.0], [0.0, 100.0]) == pytest.approx(10.0)  # the $0 day counts 0 in both sums
    assert np.isnan(capture_rate([5.0, -3.0], [0.0, 0.0]))
    assert np.isnan(capture_rate(4.0, 0.0))
    low, high = bootstrap_capture(np.array([5.0, 10.0, 20.0]), np.array([0.0, 100.0, 100.0]))
    assert 10.0 <= low <= high <= 20.0
    episodes = pd.DataFrame([{"entry": e, "scenario_id": d, "seed": 0, "profit_total_usd": p, "oracle_profit_usd": 0.0,
                              "status": "ok"} for e, p in (("a", 1.0), ("b", 2.0)) for d in "xy"])
    assert paired(episodes, [("a", "b")]).empty  # nothing to compare on: no row, no division by zero


def test_plug_ins_that_exit_kill_their_worker_or_catch_the_timer_get_error_rows(tmp_path):
    suite = write_suite(tmp_path / "suite.json", [
        {"name": "exits", "da_bidder": "tests.test_hardening_runs:ExitingBidder", "rt_policy": "follow_da"},
        {"name": "kills", "da_bidder": "tests.test_hardening_runs:KillingBidder", "rt_policy": "follow_da"},
        {"name": "catches", "da_bidder": "tests.test_hardening_runs:CatchingBidder", "rt_policy": "follow_da"},
        {"name": "interrupts", "da_bidder": "tests.test_hardening_runs:InterruptingBidder", "rt_policy": "follow_da"},
        {"name": "unprintable", "da_bidder": "tests.test_hardening_runs:UnprintableBidder", "rt_policy": "follow_da"},
        {"name": "fine", "da_bidder": "threshold", "rt_policy": "follow_da"},
    ], budget=2.0)
    out = tmp_path / "run"
    main(["--suite", str(suite), "--limit", "1", "--workers", "1", "--out", str(out)])
    got = {r["entry"]: r for r in rows(out)}
    assert got["exits"]["status"] == "error" and got["exits"]["error"].startswith("SystemExit: 3")
    assert got["kills"]["status"] == "error" and "exit code 7" in got["kills"]["error"]
    assert got["catches"]["status"] == "error" and "past the time budget of 2 s" in got["catches"]["error"]
    assert got["interrupts"]["status"] == "error" and got["interrupts"]["error"].startswith("KeyboardInterrupt")
    assert got["unprintable"]["status"] == "error" and "could not be read" in got["unprintable"]["error"]
    assert got["fine"]["status"] == "ok"
    assert " | " not in got["exits"]["error"]  # the message once, not twice


def test_a_plug_in_that_never_answers_has_its_worker_stopped(tmp_path, monkeypatch):
    monkeypatch.setattr(leaderboard, "WORKER_GRACE_S", 1.0)
    suite = write_suite(tmp_path / "suite.json", [
        {"name": "deaf", "da_bidder": "tests.test_hardening_runs:DeafBidder", "rt_policy": "follow_da"}], budget=3.0)
    out = tmp_path / "run"
    start = time.perf_counter()
    main(["--suite", str(suite), "--limit", "1", "--workers", "1", "--out", str(out)])
    [row] = rows(out)
    assert row["status"] == "error" and "the worker was stopped" in row["error"]
    assert time.perf_counter() - start < 60


def test_resume_refuses_another_runs_folder_and_repairs_a_torn_last_line(tmp_path):
    suite = write_suite(tmp_path / "suite.json", [{"name": "fine", "da_bidder": "threshold", "rt_policy": "follow_da"}])
    out = tmp_path / "run"
    main(["--suite", str(suite), "--limit", "1", "--workers", "1", "--out", str(out)])
    for other, key in ((["--seeds", "2", "--limit", "1"], "seeds"), (["--limit", "2"], "limit"),
                       (["--split", "val", "--limit", "1"], "split"), (["--node", "NP15", "--limit", "1"], "config")):
        with pytest.raises(SystemExit, match=f"this run's {key} .* differs from the one in"):
            main(["--suite", str(suite), "--workers", "1", "--out", str(out), "--resume", *other])
    episodes = out / "episodes.csv"
    episodes.write_bytes(episodes.read_bytes().rstrip(b"\r\n"))  # a full disk took the last line end
    main(["--suite", str(suite), "--limit", "1", "--workers", "1", "--out", str(out), "--resume"])
    frame = pd.read_csv(episodes)
    assert len(frame) == 1 and frame["status"].eq("ok").all() and episodes.read_bytes().endswith(b"\n")
    (out / "run.json").unlink()
    with pytest.raises(SystemExit, match="run.json is missing"):
        main(["--suite", str(suite), "--limit", "1", "--workers", "1", "--out", str(out), "--resume"])
    episodes.unlink()  # what a run killed among the references leaves: its oracle.csv must not be reused unchecked
    with pytest.raises(SystemExit, match=r"holds an earlier run \(oracle.csv\): pass --resume"):
        main(["--suite", str(suite), "--limit", "1", "--workers", "1", "--out", str(out)])


@pytest.mark.parametrize("change, message", [
    ({"entries": []}, "entries: List should have at least 1 item"),
    ({"seeds": []}, "seeds: List should have at least 1 item"),
    ({"seeds": [-1]}, "seeds.0: Input should be greater than or equal to 0"),
    ({"seeds": [True]}, "seeds.0: Input should be a valid integer"),
    ({"seeds": [0, 0]}, "repeat a seed"),
    ({"time_budget_s": 1e309}, "time_budget_s"),
    ({"time_budget_s": 0}, "time_budget_s: Input should be greater than 0"),
    ({"entries": [{"name": "a", "da_bidder": "threshold", "rt_policy": "follow_da"}] * 2}, "entry names \\['a'\\] appear more than once"),
    ({"entries": [{"name": "oracle-beater", "da_bidder": "threshold", "rt_policy": "follow_da"}]}, "entries.0.name"),
])
def test_a_bad_suite_is_one_line_naming_the_field(tmp_path, change, message):
    import json

    suite = {"name": "t", "config": "caiso-sp15", "split": "test", "seeds": [0], "time_budget_s": 60,
             "entries": [{"name": "fine", "da_bidder": "threshold", "rt_policy": "follow_da"}], **change}
    path = tmp_path / "suite.json"
    path.write_text(json.dumps(suite).replace("Infinity", "1e309"))
    with pytest.raises(SystemExit, match=message) as caught:
        main(["--suite", str(path), "--limit", "1", "--out", str(tmp_path / "out")])
    assert str(caught.value).startswith("error: suite") and "\n" not in str(caught.value)


def test_a_run_whose_oracle_earns_nothing_still_reports(tmp_path):
    """Flat prices and no AS: the oracle earns $0 every day; capture is undefined (blank), the run
    ends normally with its table."""
    stamps = pd.date_range("2024-05-01", periods=12 * 96, freq="15min", tz="UTC")
    frame = pd.DataFrame({"interval_start_utc": stamps.strftime("%Y-%m-%d %H:%M:%S"), "hub": "FLAT",
                          "da_lmp": 30.0, "rt_lmp": 30.0, "as_regup": 0.0, "as_regdown": 0.0})
    path = tmp_path / "flat.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "flat"
    main(["--data", str(path), "--node", "FLAT", "--entries", "idle+follow,threshold+follow", "--limit", "2",
          "--workers", "1", "--out", str(out)])
    episodes = pd.read_csv(out / "episodes.csv")
    assert (episodes["status"] == "ok").all() and episodes["capture_pct"].isna().all()
    assert (out / "leaderboard.md").exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux's")
def test_pool_workers_die_with_the_main_process():
    from multiprocessing import get_context

    from pebble import ProcessPool

    with ProcessPool(max_workers=1, context=get_context("spawn"), initializer=leaderboard._init_worker) as pool:
        assert pool.schedule(parent_death_signal).result(timeout=60) == 9  # SIGKILL


def test_bad_input_is_one_line_unless_debug(tmp_path):
    missing = tmp_path / "nowhere.csv"
    with pytest.raises(SystemExit) as caught:
        main(["--data", str(missing), "--node", "X", "--limit", "1", "--out", str(tmp_path / "a")])
    message = str(caught.value)
    assert message.startswith("error: ") and "nowhere.csv" in message and "\n" not in message
    with pytest.raises(ValueError):
        main(["--data", str(missing), "--node", "X", "--limit", "1", "--out", str(tmp_path / "b"), "--debug"])
