"""The leaderboard user's workflow: own entries without a suite file, modules from the current
folder, specs checked before any day runs, any folder, repeated runs, one-line errors, skipped
days by reason, documented options and protocols."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.leaderboard import build_parser, load_suite, main, output_folder, parse_entry, select_entries
from bessgym.policies import DABidder, RTPolicy, missing_methods
from tests.test_config_and_data import long_frame

VENV_BIN = Path(sys.executable).parent
MY_MODULE = '''
"""An entry of one's own, next to where the command runs (the worked example, renamed)."""
from benchmarks.examples.my_entry import IntradayRT as MyPolicy, QuantileBidder as MyBidder
'''


def one_line(caught: pytest.ExceptionInfo) -> str:
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_entry_option_parses_and_validates_like_a_suite_entry():
    entry = parse_entry("mine=threshold?as_share=0.3,baselines.mpc:MPCPolicy?weights=[1, 2]")
    assert (entry.name, entry.da_bidder, entry.rt_policy) == ("mine", "threshold?as_share=0.3", "baselines.mpc:MPCPolicy?weights=[1, 2]")
    for text in ("mine", "mine=threshold", "mine=a,b,c", "mine=,follow_da"):
        with pytest.raises(SystemExit, match="is not NAME=DA_SPEC,RT_SPEC") as caught:
            parse_entry(text)
        assert repr(text) in one_line(caught)
    with pytest.raises(SystemExit, match="--entry 'oracle2=threshold,follow_da': name: .*starts with 'oracle'") as caught:
        parse_entry("oracle2=threshold,follow_da")
    one_line(caught)


def test_own_entries_run_alone_unless_suite_entries_are_named():
    quick = load_suite("quick")
    mine = parse_entry("mine=threshold,follow_da")
    assert [e.name for e in select_entries(quick, None, [mine])] == ["mine"]
    assert [e.name for e in select_entries(quick, "idle+follow", [mine])] == ["idle+follow", "mine"]
    assert len(select_entries(quick, None, [])) == len(quick.entries)
    with pytest.raises(SystemExit, match=r"entry names \['idle\+follow'\] appear more than once") as caught:
        select_entries(quick, "idle+follow", [parse_entry("idle+follow=threshold,follow_da")])
    one_line(caught)


@pytest.mark.parametrize("entry, message", [
    ("mine=nowhere_module:Bidder,follow_da",
     "entry 'mine': DA bidder 'nowhere_module:Bidder' cannot be loaded: cannot import module 'nowhere_module'"),
    ("mine=threshold,bessgym.policies:NoSuchPolicy",
     "entry 'mine': RT policy 'bessgym.policies:NoSuchPolicy' cannot be loaded: module 'bessgym.policies' has no attribute"),
    ("mine=threshold?as_share=2,follow_da",
     "entry 'mine': DA bidder 'threshold?as_share=2' cannot be loaded: ValueError: as_share must be within [0, 1], got 2"),
    ("mine=threshold,threshold",
     "entry 'mine': RT policy 'threshold' gives a ThresholdBidder without reset(), act(); the RT policy protocol "
     "(bessgym.policies.RTPolicy) needs reset(), act()"),
    ("mine=follow_da,follow_da", "entry 'mine': DA bidder 'follow_da' gives a FollowDA without bid()"),
])
def test_a_bad_spec_stops_the_run_before_any_day_and_writes_nothing(tmp_path, entry, message):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as caught:
        main(["--entry", entry, "--limit", "1", "--workers", "1", "--out", str(out)])
    assert one_line(caught).startswith("error: ") and message in str(caught.value)
    assert not out.exists()


def test_protocols_are_documented_and_checked():
    for protocol, words in ((DABidder, ("gate closure", "DAContext", "energy_mw", "as_mw", "+ = sell")),
                            (RTPolicy, ("reset(episode)", "act(obs)", "base_point", "[-1, 1]", "reset_batch", "fallbacks"))):
        assert all(word in protocol.__doc__ for word in words)
    from bessgym.policies import FollowDA, ThresholdBidder

    assert missing_methods(ThresholdBidder(), "DA bidder") == [] and missing_methods(FollowDA(), "RT policy") == []
    assert missing_methods(ThresholdBidder(), "RT policy") == ["reset", "act"]


def test_every_option_has_a_help_text():
    parser = build_parser()
    undocumented = [a.option_strings for a in parser._actions if a.option_strings and not (a.help or "").strip()]
    assert not undocumented


def test_bad_timezone_data_and_node_are_one_line(tmp_path):
    path = tmp_path / "mine.csv"
    long_frame(5).to_csv(path, index=False)
    with pytest.raises(SystemExit) as caught:
        main(["--data", str(path), "--node", "N1", "--timezone", "Pacific", "--out", str(tmp_path / "a")])
    message = one_line(caught)
    assert "--timezone 'Pacific' is not an IANA time zone name" in message and "zoneinfo.available_timezones()" in message
    with pytest.raises(SystemExit) as caught:
        main(["--data", str(path), "--node", "N9", "--out", str(tmp_path / "b")])
    assert "node 'N9' is not in column 'hub'; available: ['N1']" in one_line(caught)
    with pytest.raises(SystemExit) as caught:
        main(["--data", str(tmp_path / "nowhere.csv"), "--node", "N1", "--out", str(tmp_path / "c")])
    assert "nowhere.csv' does not exist" in one_line(caught)
    with pytest.raises(SystemExit) as caught:
        main(["--data", str(tmp_path), "--node", "N1", "--out", str(tmp_path / "d")])
    assert f"--data {str(tmp_path)!r} is a folder; give a CSV file" in one_line(caught)
    assert not any((tmp_path / name).exists() for name in "abcd")


def test_days_cut_by_the_time_zone_are_partial_days_not_missing_rt(tmp_path):
    """A file of whole UTC days read as New York days: its first and last local days have rows for
    only some intervals; they are skipped as ``partial_day``, not blamed on missing RT prices."""
    from bessgym.scenarios import ScenarioSet

    path = tmp_path / "utc_days.csv"
    long_frame(10, "2024-01-01").to_csv(path, index=False)
    scenarios = ScenarioSet({"data": {"source": "csv", "path": str(path), "node": "N1", "timezone": "America/New_York"}})
    skipped = scenarios.skipped()
    assert skipped["partial_day"] == 2 and skipped["missing_rt"] == 0 and skipped["missing_da"] == 0
    assert sum(skipped.values()) == scenarios.history().n_days - len(scenarios.ids())
    with pytest.raises(KeyError, match="skipped day \\(partial_day\\)"):
        scenarios.get("csv-N1-2023-12-31")


def test_output_folder_default_gives_way_explicit_is_refused_overwrite_empties(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    quick = load_suite("quick")
    first = output_folder(None, quick, resume=False, overwrite=False)
    assert first == Path("leaderboard/quick")
    first.mkdir(parents=True, exist_ok=True)  # output_folder made it, to hold its lock
    (first / "run.json").write_text("{}")
    (first / "trajectories.png").write_bytes(b"png")
    second = output_folder(None, quick, resume=False, overwrite=False)
    assert second == Path("leaderboard/quick-2") and "this run writes to leaderboard/quick-2" in capsys.readouterr().err
    second.mkdir(exist_ok=True)
    (second / "episodes.csv").write_text("")
    assert output_folder(None, quick, resume=False, overwrite=False) == Path("leaderboard/quick-3")
    assert output_folder(None, quick, resume=True, overwrite=False) == first
    with pytest.raises(SystemExit, match=r"holds an earlier run \(run.json\): pass --resume to continue it, --overwrite"):
        output_folder(str(first), quick, resume=False, overwrite=False)
    assert output_folder(str(first), quick, resume=False, overwrite=True) == first
    assert [path.name for path in first.iterdir()] == [".lock"]  # this run's lock, nothing of the earlier run


@pytest.mark.slow  # two whole runs in subprocesses: 14-23 s on this 2-core machine
def test_cli_from_another_folder_with_a_module_there_runs_twice(tmp_path):
    """From a folder that is not the checkout, with the installed console script and then
    ``python -m``: a spec naming a module in that folder imports in the main process and in the
    spawned workers; outputs go under that folder's leaderboard/; the second run writes a new
    folder, says so, and lists where everything went."""
    (tmp_path / "mymodule.py").write_text(MY_MODULE)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"OMP_NUM_THREADS": "1"}
    entry = ["--entry", "mine=mymodule:MyBidder,mymodule:MyPolicy?margin=25", "--limit", "1", "--workers", "1"]
    commands = [[str(VENV_BIN / "bessgym-leaderboard"), *entry], [sys.executable, "-m", "benchmarks.leaderboard", *entry]]
    done = [subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300) for command in commands]
    for run, folder in zip(done, ("mine", "mine-2")):  # own entries alone: a folder named after them
        assert run.returncode == 0, run.stderr[-2000:]
        assert f"outputs in leaderboard/{folder}:" in run.stdout and f"leaderboard/{folder}/trajectories.png" in run.stdout
        assert "wall time" in run.stdout and "days of the split skipped: missing_rt 7" in run.stdout
        episodes = (tmp_path / "leaderboard" / folder / "episodes.csv").read_text()
        assert "mine,mymodule:MyBidder,mymodule:MyPolicy?margin=25" in episodes and ",error," not in episodes
        assert json.loads((tmp_path / "leaderboard" / folder / "run.json").read_text())["skipped"]["missing_rt"] == 7
    assert "leaderboard/mine holds an earlier run or another run is writing it; this run writes to leaderboard/mine-2" \
        in done[1].stderr
    assert "by reason: missing_rt 7" in (tmp_path / "leaderboard" / "mine-2" / "leaderboard.md").read_text()


def test_a_folder_another_run_writes_is_refused_or_passed_over(tmp_path, monkeypatch):
    """Two runs appending to one folder would interleave their rows: its lock refuses the second
    (--out, --resume, --overwrite), and the default folder gives way to the next free one."""
    monkeypatch.chdir(tmp_path)
    busy = Path("leaderboard/quick")
    busy.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'w'); "
                               "fcntl.flock(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)",
                               str(busy / ".lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        quick = load_suite("quick")
        for resume, overwrite in ((False, False), (True, False), (False, True)):
            with pytest.raises(SystemExit, match="error: another run is writing to leaderboard/quick"):
                output_folder(str(busy), quick, resume=resume, overwrite=overwrite)
        assert output_folder(None, quick, resume=False, overwrite=False) == Path("leaderboard/quick-2")
    finally:
        holder.kill()
        holder.wait()


def test_timezone_without_data_is_one_line():
    with pytest.raises(SystemExit) as caught:
        main(["--timezone", "Pacific"])
    assert "--timezone 'Pacific' is not an IANA time zone name" in one_line(caught)
    with pytest.raises(SystemExit) as caught:
        main(["--timezone", "America/New_York"])
    assert one_line(caught).startswith("error: --timezone 'America/New_York' applies only with --data")


def test_own_entries_get_a_folder_of_their_own_and_an_entry_that_always_fails_is_named(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    main(["--entry", "broken=threshold,tests.test_leaderboard:RaisingPolicy", "--limit", "1"])
    out, err = capsys.readouterr()
    assert "outputs in leaderboard/broken:" in out
    assert "warning: entry 'broken' failed on every day; its first error: RuntimeError: boom on decision 10" in err


def test_the_report_refuses_repeated_rows(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    main(["--entries", "threshold+follow", "--limit", "1", "--out", "run"])
    episodes = Path("run/episodes.csv")
    lines = episodes.read_text().splitlines()
    episodes.write_text("\n".join([*lines, lines[-1]]) + "\n")  # what two runs writing one folder left
    with pytest.raises(SystemExit, match="rows for the same entry, day and seed"):
        main(["--entries", "threshold+follow", "--limit", "1", "--out", "run", "--resume"])


def test_ctrl_c_says_how_to_resume_in_one_line(tmp_path):
    """Ctrl-C mid-run (SIGINT to the whole process group, as a terminal sends it): the workers are
    stopped, no day becomes an error row, no traceback, and the message says how to go on."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.Popen([sys.executable, "-m", "benchmarks.leaderboard", "--entries", "forecast-lp+mpc", "--limit", "20",
                            "--workers", "1", "--out", "run"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, start_new_session=True,
                           # as from a terminal: a suite run in the background (SIGINT ignored) must not pass that on
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    oracle = tmp_path / "run" / "oracle.csv"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not oracle.exists() or len(oracle.read_text().splitlines()) < 3):
        time.sleep(0.2)
    os.killpg(run.pid, signal.SIGINT)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 1 and "Traceback" not in err, err[-2000:]
    assert "interrupted: the rows of the days that finished are in run; the same command with --out run --resume" in err
    assert "KeyboardInterrupt" not in oracle.read_text()
