"""The leaderboard's ges suite: the aggregator's portfolio on shipped days, its rows, references,
table and resume, the RT loop against GESRealTime-v0, and the battery suites left as they were."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

from baselines.aggregator import AggregatorDA
from benchmarks.leaderboard import (EPISODE_COLUMNS, GES_EPISODE_COLUMNS, GES_REFERENCE_COLUMNS, ORACLE_COLUMNS, SUITES_DIR,
                                    Task, check_ges_specs, ges_world, idle_schedule, load_split_policy, load_suite, main,
                                    parse_entry, play_ges_day, suite_record)
from benchmarks.report import summarise_ges
from bessgym.config import load_config
from bessgym.envs.ges import headroom_split
from bessgym.portfolio import case_day, planned_cost, realise
from bessgym.scenarios import ScenarioSet
from bessgym.settlement import LEDGER_LINES

SMOKE = ["--suite", "ges", "--limit", "2", "--seeds", "1", "--workers", "1"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The ges suite on its first 2 test days, seed 0: the output folder and what it printed."""
    out = tmp_path_factory.mktemp("ges") / "run"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        main([*SMOKE, "--out", str(out)])
    return out, printed.getvalue()


def test_rows_add_up_and_their_metrics_are_in_range(run):
    out, _ = run
    episodes = pd.read_csv(out / "episodes.csv")
    assert list(episodes.columns) == GES_EPISODE_COLUMNS
    assert len(episodes) == 10 and (episodes["status"] == "ok").all()
    assert np.allclose(episodes[list(LEDGER_LINES)].sum(axis=1), episodes["profit_total_usd"], atol=1e-9)
    assert episodes["lorp"].between(0, 1).all() and (episodes["erns_mwh"] >= 0).all()
    assert episodes["violation_share"].between(0, 1).all() and (episodes["binding_rows"] > 0).all()
    assert (episodes["iterations"] >= 1).all() and episodes["converged"].all()
    assert (episodes["incentive"] < 0).all() and (episodes["as_capacity"] > 0).all()  # customers paid, reserve sold
    by = episodes.set_index(["entry", "scenario_id"])
    m1, m3 = by.loc["m1"], by.loc["m3"]
    assert (m3["iterations"] > 1).all() and (m1["iterations"] == 1).all()
    assert (m1["erns_mwh"] > m3["erns_mwh"]).all() and (m1["violation_share"] > m3["violation_share"]).all()
    # the same planner's plan, once per day: the headroom split changes only the real-time side
    headroom = by.loc["m2+headroom"]
    assert np.array_equal(headroom["planned_cost_usd"], by.loc["m2", "planned_cost_usd"])
    assert (headroom["erns_mwh"] <= by.loc["m2", "erns_mwh"] + 1e-12).all()


def test_the_m3_row_is_the_plan_realised_on_the_days_world(run):
    out, _ = run
    episodes = pd.read_csv(out / "episodes.csv")
    config = load_config("caiso-sp15")
    scenarios = ScenarioSet(config)
    for _, row in episodes[episodes["entry"] == "m3"].iterrows():
        case = case_day(scenarios.get(row["scenario_id"]), battery=config.battery)
        plan = AggregatorDA("M3").plan(case.assets, case.prices)
        world = ges_world(case, config.seed, row["scenario_id"], int(row["seed"]))
        outcome = realise(case.assets, case.prices, config.market_profile, plan.schedule, world)
        assert row["profit_total_usd"] == pytest.approx(-outcome.cost_usd[0], abs=1e-9)
        assert row["planned_cost_usd"] == pytest.approx(planned_cost(case.assets, case.prices, plan.schedule), abs=1e-9)
        assert row["iterations"] == plan.iterations


def test_references_hindsight_and_idle(run):
    out, _ = run
    references = pd.read_csv(out / "oracle.csv")
    assert list(references.columns) == GES_REFERENCE_COLUMNS
    assert sorted(references["reference"]) == ["hindsight", "hindsight", "idle", "idle"] and (references["status"] == "ok").all()
    idle = references[references["reference"] == "idle"].set_index("scenario_id")
    assert (idle["lorp"] == 0).all() and (idle["erns_mwh"] == 0).all() and (idle["iterations"] == 0).all()
    assert idle["violation_share"].isna().all() and (idle["as_capacity"] == 0).all() and (idle["incentive"].abs() < 1e-9).all()
    config = load_config("caiso-sp15")
    for day, row in idle.iterrows():
        case = case_day(ScenarioSet(config).get(day), battery=config.battery)
        assert row["planned_cost_usd"] == pytest.approx(planned_cost(case.assets, case.prices, idle_schedule(case.assets)))
    hindsight = references[references["reference"] == "hindsight"].set_index("scenario_id")
    assert (hindsight["iterations"] >= 1).all()
    episodes = pd.read_csv(out / "episodes.csv")
    assert np.allclose(episodes["hindsight_profit_usd"], hindsight.loc[episodes["scenario_id"], "profit_total_usd"])
    assert np.allclose(episodes["idle_profit_usd"], idle.loc[episodes["scenario_id"], "profit_total_usd"])


def test_the_table_ranks_by_flexibility_capture(run):
    out, printed = run
    episodes, references = pd.read_csv(out / "episodes.csv"), pd.read_csv(out / "oracle.csv")
    assert "| rank | entry | flexibility capture % [95% CI] | realised profit $/day | planned (DA) cost $/day | LORP % |" in printed
    assert "| - | hindsight (fixed point, not ranked) | 100.0 |" in printed
    assert "| - | idle (zero plan, not ranked) | 0.0 |" in printed
    table = summarise_ges(episodes, references, ["m1", "m2", "m3", "m3+headroom", "m2+headroom"]).set_index("entry")
    for entry in ("m1", "m3"):
        rows = episodes[episodes["entry"] == entry]
        gain, whole = rows["profit_total_usd"] - rows["idle_profit_usd"], rows["hindsight_profit_usd"] - rows["idle_profit_usd"]
        assert table.loc[entry, "capture_pct"] == pytest.approx(100 * gain.sum() / whole.sum())
        assert table.loc[entry, "ci_low"] <= table.loc[entry, "capture_pct"] <= table.loc[entry, "ci_high"]
        assert f"| {entry} | {table.loc[entry, 'capture_pct']:.1f} [" in printed
    assert table.loc["m3", "capture_pct"] > table.loc["m1", "capture_pct"]
    assert "Paired against the first" in printed and "The RT level" in printed
    report = (out / "leaderboard.md").read_text()
    assert "## Glossary" in report and "fixed point, not a bound" in report and "above 100 % is possible" in report
    assert json.loads((out / "run.json").read_text())["suite"]["kind"] == "ges"


def test_resume_continues_a_ges_run_and_refuses_the_other_kind(run, tmp_path):
    out, _ = run
    episodes = pd.read_csv(out / "episodes.csv")
    episodes.iloc[:-1].to_csv(out / "episodes.csv", index=False)  # as if killed before the last row
    with contextlib.redirect_stdout(io.StringIO()):
        main([*SMOKE, "--out", str(out), "--resume"])
    timed = ["plan_seconds"]  # the row rerun: the same figures, a new timing
    pd.testing.assert_frame_equal(pd.read_csv(out / "episodes.csv").drop(columns=timed), episodes.drop(columns=timed))
    with pytest.raises(SystemExit, match=r"holds a ges run and suite 'quick' is of kind 'battery'"):
        main(["--suite", "quick", "--entries", "idle+follow", "--limit", "2", "--workers", "1", "--out", str(out), "--resume"])
    battery = tmp_path / "battery"
    battery.mkdir()
    (battery / "run.json").write_text(json.dumps({"suite": suite_record(load_suite("quick"))}))
    with pytest.raises(SystemExit, match=r"holds a battery run and suite 'ges' is of kind 'ges'"):
        main([*SMOKE, "--out", str(battery), "--resume"])


def raising_split(env) -> np.ndarray:
    """A split policy that fails in the afternoon."""
    if env.t == 14:
        raise RuntimeError("boom at interval 14")
    return np.zeros(9)


def test_a_failing_split_policy_gets_error_rows_and_scores_as_idle(tmp_path):
    out = tmp_path / "run"
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        main(["--suite", "ges", "--limit", "1", "--seeds", "1", "--workers", "1", "--out", str(out), "--entries", "m1",
              "--entry", "boom=baselines.aggregator:AggregatorDA?model=M1,tests.test_leaderboard_ges:raising_split"])
    episodes = pd.read_csv(out / "episodes.csv").set_index("entry")
    assert episodes.loc["m1", "status"] == "ok" and episodes.loc["boom", "status"] == "error"
    assert "boom at interval 14" in episodes.loc["boom", "error"]
    assert "| boom | 0.0 [" in printed.getvalue() and "**1 (see episodes.csv)**" in printed.getvalue()


def test_the_rt_loop_is_gesrealtimes_step():
    """The leaderboard's day, played through the env given the env's own plan and world: the
    headroom split earns what the env's rewards sum to, and all-zero weights what ``realise``
    gives."""
    env = gym.make("bessgym/GESRealTime-v0", config="caiso-sp15", split="test")
    sid = ScenarioSet("caiso-sp15").ids("test")[1]
    env.reset(seed=5, options={"scenario": sid})
    u = env.unwrapped
    case, schedule, world = u.case, u.schedule, u.base_draws
    rewards, done, info = [], False, {}
    while not done:
        _, reward, done, _, info = env.step(headroom_split(env))
        rewards.append(reward)
    config = u.source.config
    outcome = play_ges_day(case, config, schedule, world, headroom_split)
    assert float(outcome.ledger.total[0]) == pytest.approx(sum(rewards), abs=1e-9)
    assert outcome.erns_mwh == pytest.approx(info["day_shortfall_mwh"], abs=1e-12)
    plan = realise(case.assets, case.prices, u.market, schedule, world)
    zero = play_ges_day(case, config, schedule, world, lambda day: np.zeros(9))
    assert float(zero.ledger.total[0]) == pytest.approx(-plan.cost_usd[0], abs=1e-9)
    assert zero.erns_mwh == pytest.approx(plan.erns_mwh, abs=1e-12) and zero.lorp == plan.lorp


def test_ges_suite_and_specs_are_checked():
    ges = load_suite("ges")
    assert ges.kind == "ges" and ges.seeds == [0, 1, 2] and [e.name for e in ges.entries] == \
        ["m1", "m2", "m3", "m3+headroom", "m2+headroom"]
    assert load_split_policy("plan") is None and load_split_policy("bessgym.envs.ges:headroom_split") is headroom_split
    with pytest.raises(SystemExit, match=r"DA planner 'threshold' gives a ThresholdBidder without plan\(\)"):
        check_ges_specs([parse_entry("x=threshold,plan")], [0])
    with pytest.raises(SystemExit, match=r"RT policy 'follow_da' cannot be loaded: .*neither 'plan' nor 'package.module:attr'"):
        check_ges_specs([parse_entry("x=baselines.aggregator:AggregatorDA,follow_da")], [0])
    with pytest.raises(SystemExit, match=r"DA planner .*cannot be loaded: .*model = 'M4'"):
        check_ges_specs([parse_entry("x=baselines.aggregator:AggregatorDA?model=M4,plan")], [0])
    with pytest.raises(SystemExit, match="its config's data source must be 'caiso', not 'csv'"):
        main(["--suite", "ges", "--data", str(load_config("caiso-sp15").data.file), "--node", "SP15"])


def test_suite_kind_is_validated(tmp_path):
    raw = json.loads((SUITES_DIR / "ges.json").read_text())
    for change, message in (({"kind": "heat"}, r"kind: Input should be 'battery', 'ges' or 'neighborhood'"),
                            ({"prices_known": {"name": "p", "da_bidder": "threshold", "rt_policy": "follow_da"}},
                             "prices_known applies to kind 'battery' only")):
        path = tmp_path / "suite.json"
        path.write_text(json.dumps(raw | change))
        with pytest.raises(SystemExit, match=message):
            load_suite(str(path))


def test_battery_suites_are_unchanged():
    """A battery suite's columns, tasks and run.json record are as before suites had kinds."""
    assert EPISODE_COLUMNS == [
        "entry", "da_bidder", "rt_policy", "split", "scenario_id", "seed", *LEDGER_LINES, "profit_total_usd",
        "oracle_profit_usd", "capture_pct", "throughput_mwh", "equivalent_cycles", "shortfall_reg_up_mwh",
        "shortfall_reg_down_mwh", "shortfall_spin_mwh", "shortfall_nonspin_mwh", "repairs_mw", "bid_fallback",
        "rt_fallbacks", "bid_seconds", "decision_ms_p50", "decision_ms_p95", "status", "error"]
    assert ORACLE_COLUMNS == ["reference", "scenario_id", "seed", *LEDGER_LINES, "profit_total_usd", "status", "error"]
    assert Task("d", 0).kind == "battery"
    for path in SUITES_DIR.glob("*.json"):
        if path.stem in ("ges", "neighborhood"):
            continue
        suite = load_suite(path.stem)
        assert suite.kind == "battery" and "kind" not in suite_record(suite)
        assert suite_record(suite) == {k: v for k, v in suite.model_dump(mode="json").items() if k not in ("kind", "tariff")}
