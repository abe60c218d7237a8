"""The leaderboard's neighborhood suite: the homes' market on two shipped days, its rows, references,
table and resume, and the suite's validation."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pettingzoo")

from baselines.community import Truthful
from baselines.community_lp import CommunityOracle, HomeMPC, play_day
from benchmarks.leaderboard import (NEIGHBORHOOD_EPISODE_COLUMNS, NEIGHBORHOOD_REFERENCE_COLUMNS, Suite,
                                    check_neighborhood_specs, load_home_policy, load_suite, main, neighborhood_days,
                                    parse_entry, suite_record)
from benchmarks.report import summarise_neighborhood, worst_home_change
from bessgym.community.env import NeighborhoodEnv

SMOKE = ["--suite", "neighborhood", "--limit", "2", "--seeds", "1", "--workers", "1"]
DAYS = neighborhood_days("test")[:2]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The neighborhood suite on its first 2 test days, seed 0: the output folder and what it printed."""
    out = tmp_path_factory.mktemp("neighborhood") / "run"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        main([*SMOKE, "--out", str(out)])
    return out, printed.getvalue()


def test_rows_add_up_and_no_entry_beats_the_oracle(run):
    out, _ = run
    episodes = pd.read_csv(out / "episodes.csv")
    assert list(episodes.columns) == NEIGHBORHOOD_EPISODE_COLUMNS
    assert len(episodes) == 18 and (episodes["status"] == "ok").all()
    assert sorted(set(episodes["day"])) == DAYS
    homes = np.array([sum(json.loads(text).values()) for text in episodes["home_cost_usd"]])
    assert np.allclose(homes, episodes["cost_usd"], atol=1e-6)
    assert (episodes["cost_usd"] >= episodes["oracle_cost_usd"] - 1e-6).all()
    by = episodes.set_index(["entry", "day"])
    # no orders, no market: the rule-based entry is the no-market reference, to the cent
    assert np.allclose(by.loc["rule_based+k_double", "cost_usd"], by.loc["rule_based+k_double", "no_market_cost_usd"])
    assert (by.loc["rule_based+k_double", "market_kwh"] == 0).all()
    # truthful orders in the k-double auction: sellers earn no less, buyers pay no more, more PV stays local
    truthful, none = by.loc["truthful+k_double"], by.loc["rule_based+k_double"]
    assert (truthful["sellers_earn_usd"] >= none["sellers_earn_usd"] - 1e-9).all()
    assert (truthful["buyers_pay_usd"] <= none["buyers_pay_usd"] + 1e-9).all()
    assert (truthful["local_pv_share"] > none["local_pv_share"]).all() and (truthful["market_kwh"] > 0).all()
    assert np.allclose(truthful["realised_gains_usd"], truthful["max_gains_usd"])  # 100 % efficient
    assert (by.loc["mpc+k_double", "fallbacks"] == 0).all()
    # quoting again for what is left: zero-intelligence traders capture more of the gains in five calls than in one
    efficiency = {name: by.loc[name, "realised_gains_usd"].sum() / by.loc[name, "max_gains_usd"].sum()
                  for name in ("zi+k_double", "zi+k_double_5calls")}
    assert efficiency["zi+k_double_5calls"] > max(efficiency["zi+k_double"], 0.9)


def test_rows_are_the_envs_days_and_the_oracles_plans(run):
    out, _ = run
    episodes = pd.read_csv(out / "episodes.csv").set_index(["entry", "day"])
    env = NeighborhoodEnv(tariff="wholesale_export", mechanism="k_double", seed=0)
    policy = Truthful()
    policy.reset(env)
    for day in DAYS:
        costs = play_day(env, policy.act, day)
        row = episodes.loc[("truthful+k_double", day)]
        assert row["cost_usd"] == pytest.approx(costs.sum(), abs=1e-9)
        assert list(json.loads(row["home_cost_usd"]).values()) == pytest.approx(costs, abs=1e-8)
        assert row["oracle_cost_usd"] == pytest.approx(CommunityOracle(env.world).plan(day).cost_usd, abs=1e-9)


def test_references_oracle_and_no_market(run):
    out, _ = run
    references = pd.read_csv(out / "oracle.csv")
    assert list(references.columns) == NEIGHBORHOOD_REFERENCE_COLUMNS
    assert sorted(references["reference"]) == ["no_market"] * 2 + ["oracle"] * 2 and (references["status"] == "ok").all()
    oracle = references[references["reference"] == "oracle"].set_index("day")
    none = references[references["reference"] == "no_market"].set_index("day")
    assert (oracle["cost_usd"] < none["cost_usd"]).all()
    assert oracle["local_pv_share"].between(0, 1).all() and oracle["home_cost_usd"].isna().all()
    assert len(json.loads(none["home_cost_usd"].iloc[0])) == 17


def test_the_table_and_the_report(run):
    out, printed = run
    episodes, references = pd.read_csv(out / "episodes.csv"), pd.read_csv(out / "oracle.csv")
    names = [e.name for e in load_suite("neighborhood").entries]
    table = summarise_neighborhood(episodes, references, names).set_index("entry")
    ranked = table[table["reference"].isna()]
    assert list(ranked.index) == list(ranked.sort_values("capture_pct", ascending=False).index)
    assert (ranked["capture_pct"] <= 100).all() and ranked.loc["rule_based+k_double", "capture_pct"] == 0
    assert ranked.loc["truthful+k_double", "capture_pct"] > 0 and ranked.loc["rule_based+k_double", "worst_home"] == 0
    savings = (episodes["no_market_cost_usd"] - episodes["cost_usd"])[episodes["entry"] == "truthful+k_double"].sum()
    best = (episodes["no_market_cost_usd"] - episodes["oracle_cost_usd"])[episodes["entry"] == "truthful+k_double"].sum()
    assert ranked.loc["truthful+k_double", "capture_pct"] == pytest.approx(100 * savings / best)
    assert ranked.loc["truthful+k_double", "ci_low"] <= ranked.loc["truthful+k_double", "capture_pct"] <= \
        ranked.loc["truthful+k_double", "ci_high"]
    assert sorted(table["reference"].dropna()) == ["no_market", "oracle"]
    assert "savings capture % [95% CI]" in printed and "worst home vs no market" in printed
    assert "Paired against the first" in printed and "wall time" in printed
    text = (out / "leaderboard.md").read_text()
    assert "17 homes" in text and "`wholesale_export`" in text and "## Glossary" in text
    record = json.loads((out / "run.json").read_text())
    assert record["suite"]["kind"] == "neighborhood" and len(record["homes_sha256"]) == 64


def test_worst_home_is_the_largest_mean_increase():
    index = {"scenario_id": ["day-000", "day-007"], "seed": [0, 0]}
    mine = pd.DataFrame({**index, "home_cost_usd": [json.dumps({"a": 1.0, "b": 5.0}), json.dumps({"a": 3.0, "b": 1.0})]})
    none = pd.DataFrame({**index, "home_cost_usd": [json.dumps({"a": 2.0, "b": 2.0}), json.dumps({"a": 2.0, "b": 2.0})]})
    assert worst_home_change(mine, none) == pytest.approx(1.0)  # b: +3 and -1, a: -1 and +1


def test_resume_continues_and_refuses_another_kind(run, tmp_path):
    out, _ = run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    with contextlib.redirect_stdout(io.StringIO()):
        main([*SMOKE, "--out", str(copy), "--resume"])  # nothing left to run: the rows stay as they were
    assert pd.read_csv(copy / "episodes.csv").equals(pd.read_csv(out / "episodes.csv"))
    battery = tmp_path / "battery"
    battery.mkdir()
    (battery / "run.json").write_text(json.dumps({"suite": {"name": "quick"}}))  # a battery run records no kind
    (battery / "episodes.csv").write_text("entry\n")
    with pytest.raises(SystemExit, match="holds a battery run and suite 'neighborhood' is of kind 'neighborhood'"):
        main([*SMOKE, "--out", str(battery), "--resume"])
    with pytest.raises(SystemExit, match="holds a neighborhood run and suite 'ges' is of kind 'ges'"):
        main(["--suite", "ges", "--limit", "1", "--seeds", "1", "--workers", "1", "--out", str(copy), "--resume"])


def test_the_suite_is_validated():
    suite = load_suite("neighborhood")
    assert suite.kind == "neighborhood" and suite.tariff == "wholesale_export"
    assert suite_record(suite)["tariff"] == "wholesale_export" and "tariff" not in suite_record(load_suite("quick"))
    raw = suite.model_dump(mode="json", exclude={"prices_known"})
    assert Suite.model_validate({**raw, "tariff": None}).tariff == "wholesale_export"
    for change, message in (({"tariff": "flat"}, "tariff 'flat' is not one of"), ({"split": "train"}, "split 'train'"),
                            ({"config": "ercot-houston"}, "leave config out"),
                            ({"kind": "battery"}, "tariff applies to kind 'neighborhood' only")):
        with pytest.raises(ValueError, match=message):
            Suite.model_validate({**raw, **change})
    with pytest.raises(SystemExit, match="rt_policy 'vickrey' is not a market mechanism"):
        check_neighborhood_specs([parse_entry("x=baselines.community:Truthful,vickrey")], [0])
    for rt_policy in ("k_double?rounds=0", "k_double?round=3", "mcafee?rounds=2.5"):
        with pytest.raises(SystemExit, match=r"allowed: one of \['k_double', 'mcafee'\], optionally with '\?rounds=R'"):
            check_neighborhood_specs([parse_entry(f"x=baselines.community:Truthful,{rt_policy}")], [0])
    check_neighborhood_specs([parse_entry("x=baselines.community:Truthful,mcafee?rounds=5")], [0])
    with pytest.raises(SystemExit, match="cannot be loaded"):
        check_neighborhood_specs([parse_entry("x=baselines.community_lp:HomeMPC?horizon=3,k_double")], [0])
    with pytest.raises(SystemExit, match="lacks reset"):
        check_neighborhood_specs([parse_entry("x=baselines.aggregator:AggregatorDA,k_double")], [0])
    with pytest.raises(SystemExit, match="is of kind 'neighborhood'"):
        main([*SMOKE, "--data", "prices.csv"])


def test_the_split_and_the_env_bound_protocol():
    days = neighborhood_days("test")
    assert len(days) == 52 == len(set(days)) and {d % 7 for d in days} == set(range(7)) and max(days) < 365
    assert neighborhood_days("all") == list(range(365))
    with pytest.raises(ValueError, match="split 'train' is not one of"):
        neighborhood_days("train")
    env = NeighborhoodEnv(seed=0)
    mpc = load_home_policy("baselines.community_lp:HomeMPC?horizon_h=6&time_limit_s=2", env)
    assert isinstance(mpc, HomeMPC) and mpc.env is env and mpc.horizon_h == 6 and mpc.time_limit_s == 2
    truthful = load_home_policy("baselines.community:Truthful", env)
    assert truthful.agents == env.possible_agents  # reset(env) was called
