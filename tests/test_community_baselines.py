"""Neighborhood-v0's baselines (baselines.community) and their year-long comparison
(benchmarks.community), on a few days."""

from __future__ import annotations

import json

import numpy as np
import pytest

from baselines.community import POLICIES, RuleBased, Truthful, ZeroIntelligence
from benchmarks.community import GAIN_TOL_USD, benchmark, compare, main, run
from bessgym.community.env import NeighborhoodEnv, decode_actions

DAYS = range(0, 7)  # the first week of the homes' year (August: PV surplus and a full battery)


@pytest.fixture(scope="module")
def env() -> NeighborhoodEnv:
    return NeighborhoodEnv(tariff="wholesale_export", mechanism="k_double")


@pytest.fixture(scope="module")
def week(env):
    return {name: run(env, cls(), DAYS) for name, cls in POLICIES.items()}


@pytest.mark.parametrize("name", list(POLICIES))
def test_actions_are_valid_for_every_home_and_hour(env, name):
    policy = POLICIES[name]()
    policy.reset(env)
    obs, _ = env.reset(options={"day": 200})
    while env.agents:
        actions = policy.act(obs)
        assert sorted(actions) == sorted(env.agents)
        for agent, a in actions.items():
            assert env.action_space(agent).contains(a.astype(np.float32)), (agent, a)
            assert a[0] == 0.0 and a[1] == 1.0  # thermostat at its setpoint, EV at full rate
        obs, *_ = env.step(actions)


def test_the_devices_are_the_same_under_every_policy(week):
    for name in ("truthful", "zero_intelligence"):
        for field in ("net_import_kwh", "discomfort_c", "ev_unmet_kwh"):
            np.testing.assert_array_equal(week[name].rows[field], week["rule_based"].rows[field])


def test_the_battery_charges_from_pv_surplus_and_covers_the_deficit(env):
    policy = RuleBased()
    policy.reset(env)
    obs, _ = env.reset(options={"day": 3})
    rows = np.stack([obs[a] for a in env.possible_agents]).astype(float)
    rows[:, 5], rows[:, 6], rows[:, 9], rows[:, 10] = 0.6, 0.2, 0.0, 0.5  # 3 kWh PV, 1 kWh load, no EV, half full
    charging = policy.act(dict(zip(env.possible_agents, rows.astype(np.float32))))
    rows[:, 5], rows[:, 6] = 0.0, 0.4  # no PV, 2 kWh load
    covering = policy.act(dict(zip(env.possible_agents, rows.astype(np.float32))))
    rows[:, 10] = 0.0  # empty: nothing to discharge
    empty = policy.act(dict(zip(env.possible_agents, rows.astype(np.float32))))
    def battery_kw(actions: dict) -> np.ndarray:  # as the env reads the actions
        return decode_actions(env.world.devices, np.stack([actions[a] for a in env.possible_agents]))[2]

    np.testing.assert_allclose(battery_kw(charging), -2.0, atol=1e-4)
    np.testing.assert_allclose(battery_kw(covering), 2.0, atol=1e-4)
    assert (battery_kw(empty) == 0.0).all()


def test_rule_based_never_trades(week):
    rows = week["rule_based"].rows
    assert np.sum(rows["market_bought_kwh"]) == 0.0 and np.sum(rows["market_sold_kwh"]) == 0.0


def test_truthful_bids_are_fully_efficient_in_every_hour_with_gains(week):
    best, got = week["truthful"].gains()
    gains = best > GAIN_TOL_USD
    assert gains.sum() > 50
    np.testing.assert_allclose(got[gains] / best[gains], 1.0, rtol=0, atol=1e-9)


def test_zero_intelligence_is_efficient_in_part_and_never_above_the_maximum(week):
    figures = week["zero_intelligence"].figures()
    assert 0.0 < figures["efficiency"] <= 1.0
    best, got = week["zero_intelligence"].gains()
    assert (got <= best + 1e-12).all() and (got >= -1e-12).all()


def test_in_five_calls_an_hour_zero_intelligence_reaches_the_issues_95_percent(week):
    """Gode and Sunder's ZI-C traders quote again until they trade; with one call an hour they
    trade only where random bids and asks happen to cross."""
    repeated = NeighborhoodEnv(tariff="wholesale_export", mechanism="k_double", rounds=5)
    zi, truthful = run(repeated, ZeroIntelligence(), DAYS), run(repeated, Truthful(), DAYS)
    assert week["zero_intelligence"].figures()["efficiency"] < 0.8
    assert zi.figures()["efficiency"] >= 0.95 and truthful.figures()["efficiency"] == pytest.approx(1.0, abs=1e-12)
    # the same devices, and truthful orders trade everything they can in the first call: the same bills
    for field in ("net_import_kwh", "bill_usd"):
        np.testing.assert_allclose(truthful.rows[field], week["truthful"].rows[field], atol=1e-12)
    for field in ("net_import_kwh", "discomfort_c"):
        np.testing.assert_array_equal(zi.rows[field], week["rule_based"].rows[field])


def test_zero_intelligence_is_seeded(env):
    acts = []
    for _ in range(2):
        policy = ZeroIntelligence(seed=7)
        policy.reset(env)
        obs, _ = env.reset(options={"day": 5})
        acts.append(np.stack(list(policy.act(obs).values())))
    np.testing.assert_array_equal(acts[0], acts[1])
    assert len(np.unique(acts[0][:, 3])) == len(acts[0])  # one draw per home


def test_over_a_week_the_market_pays_sellers_more_and_charges_buyers_less(week):
    none = week["rule_based"].figures()
    assert none["bill_usd"] == pytest.approx(none["buyers_pay_usd"] - none["sellers_earn_usd"], abs=1e-9)
    for name in ("truthful", "zero_intelligence"):
        fig = week[name].figures()
        checks = compare(fig, none)
        assert all(c["pass"] for c in checks.values()), (name, checks)
        assert fig["sellers_earn_usd"] > none["sellers_earn_usd"] + 1.0  # strictly, by dollars, not rounding
        assert fig["bill_usd"] < none["bill_usd"]
        assert fig["bill_usd"] == pytest.approx(fig["buyers_pay_usd"] - fig["sellers_earn_usd"], abs=1e-9)


def test_a_failed_comparison_reads_fail():
    base = {"sellers_earn_usd": 10.0, "buyers_pay_usd": 100.0, "local_pv_share": 0.8}
    worse = {"sellers_earn_usd": 9.0, "buyers_pay_usd": 101.0, "local_pv_share": 0.8}
    assert not any(c["pass"] for c in compare(worse, base).values())


def test_bad_input_is_refused(env):
    with pytest.raises(ValueError, match="reset"):
        Truthful().act({})
    policy = RuleBased()
    with pytest.raises(ValueError, match="NeighborhoodEnv"):
        policy.reset("env")
    policy.reset(env)
    with pytest.raises(ValueError, match="observations missing"):
        policy.act({})
    with pytest.raises(ValueError, match="days"):
        benchmark(days=0)
    with pytest.raises(ValueError, match="tariff"):
        benchmark(days=1, tariffs=("flat",))


def test_the_cli_prints_the_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "community.json"
    assert main(["--days", "2", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    for text in ("sellers_earn_usd", "== wholesale_export/k_double/1 call (2 days)", "== net_metering/mcafee/5 calls (2 days)",
                 "truthful vs rule_based: buyers_pay_no_more", "(c) efficiency truthful: 1.000000",
                 "n/a (no hour with gains from trade: import == export)", "time:"):
        assert text in printed, text
    result = json.loads(out.read_text())
    assert result["days"] == 2 and len(result["configurations"]) == 8
    assert set(result["configurations"]["net_metering/k_double/1 call"]["policies"]) == set(POLICIES)
