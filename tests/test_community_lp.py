"""The neighbourhood's LPs (baselines/community_lp.py): the community oracle, its replay through
Neighborhood-v0, and the per-home MPC."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from baselines.community import RuleBased, Truthful
from baselines.community_lp import CommunityOracle, HomeMPC, play_day, replay
from bessgym.community.data import load_homes
from bessgym.community.env import NeighborhoodEnv

DAYS = (10, 200)  # an August day and a February day of the homes' year (wholesale export credit)


HOTTER_C = 8.0
"""The shipped weather never warms a house past its comfort band (the oracle never runs an air
conditioner), so the air conditioners are tested on the same homes with every hour this much hotter."""


@pytest.fixture(scope="module")
def env() -> NeighborhoodEnv:
    return NeighborhoodEnv(tariff="wholesale_export", mechanism="k_double")


@pytest.fixture(scope="module")
def hot_env() -> NeighborhoodEnv:
    homes = load_homes()
    return NeighborhoodEnv(homes=dataclasses.replace(homes, outdoor_c=homes.outdoor_c + HOTTER_C))


@pytest.mark.parametrize(("hot", "day"), [(False, DAYS[0]), (False, DAYS[1]), (True, DAYS[0])])
def test_the_oracle_replays_exactly_under_the_k_double_auction(env, hot_env, hot, day):
    env = hot_env if hot else env
    plan = CommunityOracle(env.world).plan(day)
    assert plan.seconds < 5.0
    assert plan.discharge_kwh.sum() > 1.0 and plan.ev_kwh.sum() > 0.0  # the batteries and EVs are used
    if hot:  # the air conditioners run and the plan accepts some discomfort
        assert plan.duty.sum() > 10.0 and plan.discomfort_usd > 0.5
    assert not ((plan.charge_kwh > 1e-7) & (plan.discharge_kwh > 1e-7)).any()
    # the community meter: its import and export are the homes' summed net imports, never both
    np.testing.assert_allclose(plan.import_kwh - plan.export_kwh, plan.net_import_kwh.sum(axis=0), atol=1e-6)
    assert (np.minimum(plan.import_kwh, plan.export_kwh) < 1e-6).all()
    played = replay(env, plan)
    # the env follows the plan hour by hour (observations are float32) ...
    assert played.energy_gap_kwh < 1e-5 and played.indoor_gap_c < 1e-4 and played.net_gap_kwh < 1e-6
    # ... and with truthful whole-position orders every bid crosses every ask: no surplus, one meter
    assert abs(played.surplus_usd) < 1e-9
    assert played.cost_usd == pytest.approx(plan.cost_usd, abs=1e-6)


def test_under_mcafee_the_replay_costs_the_oracle_plus_at_least_the_surplus():
    env = NeighborhoodEnv(tariff="wholesale_export", mechanism="mcafee")
    plan = CommunityOracle(env.world).plan(DAYS[0])
    played = replay(env, plan)
    assert played.net_gap_kwh < 1e-6
    assert played.surplus_usd > 1.0  # trade reduction keeps (import - export) x traded
    assert played.cost_usd >= plan.cost_usd + played.surplus_usd - 1e-6


@pytest.mark.parametrize(("hot", "day"), [(False, DAYS[0]), (False, DAYS[1]), (True, DAYS[0])])
def test_no_policy_day_costs_less_than_the_oracle(env, hot_env, hot, day):
    env = hot_env if hot else env
    bound = CommunityOracle(env.world).plan(day).cost_usd
    for policy in (RuleBased(), Truthful()):
        policy.reset(env)
        assert play_day(env, policy.act, day).sum() >= bound - 1e-6
    rng = np.random.default_rng(day)
    assert play_day(env, lambda obs: {a: rng.uniform(-1, 1, 5) for a in obs}, day).sum() >= bound - 1e-6
    # keeping the batteries' start energy can only cost more than valuing what is left or missing
    kept = CommunityOracle(env.world, end_energy="start").plan(day)
    assert kept.cost_usd >= bound - 1e-9
    assert (kept.energy_kwh[:, -1] >= env.world.devices.battery.e_initial_mwh * 1e3 - 1e-6).all()


def test_the_mpc_beats_idle_devices_and_not_the_oracle(env):
    day = DAYS[1]
    mpc = HomeMPC(env)
    cost = play_day(env, mpc.act, day).sum()
    assert mpc.fallbacks == 0 and mpc.solves == 24 * len(env.possible_agents)
    idle = play_day(env, lambda obs: {a: np.array([0.0, -1.0, 0.0, 0.0, 1.0]) for a in obs}, day).sum()
    assert CommunityOracle(env.world).plan(day).cost_usd - 1e-6 <= cost < idle - 1.0


def test_with_several_calls_an_hour_the_oracle_still_replays_and_the_mpc_solves_once_an_hour():
    env = NeighborhoodEnv(tariff="wholesale_export", mechanism="k_double", rounds=3)
    plan = CommunityOracle(env.world).plan(DAYS[0])
    played = replay(env, plan)
    assert played.net_gap_kwh < 1e-6 and played.cost_usd == pytest.approx(plan.cost_usd, abs=1e-6)
    mpc = HomeMPC(env)
    cost = play_day(env, mpc.act, DAYS[1]).sum()
    assert mpc.solves == 24 * len(env.possible_agents) and mpc.fallbacks == 0
    one = NeighborhoodEnv(tariff="wholesale_export", mechanism="k_double")
    assert cost == pytest.approx(play_day(one, HomeMPC(one).act, DAYS[1]).sum(), abs=1e-6)  # truthful: all in the first call


def test_bad_arguments_are_refused_naming_the_field(env):
    with pytest.raises(ValueError, match="end_energy"):
        CommunityOracle(env.world, end_energy="keep")
    with pytest.raises(ValueError, match="day = 365"):
        CommunityOracle(env.world).plan(365)
    with pytest.raises(ValueError, match="horizon_h = 0"):
        HomeMPC(env, horizon_h=0)
