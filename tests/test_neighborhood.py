"""The neighbourhood market (issue 20): an hour's orders, clearing and bills, and Neighborhood-v0
as a PettingZoo ParallelEnv with a central single-agent wrapper."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from pettingzoo.test import parallel_api_test

from bessgym.community.auction import k_double_auction, mcafee
from bessgym.community.env import CentralNeighborhood, NeighborhoodEnv
from bessgym.community.neighborhood import MECHANISMS, HourBill, HourMarket, clear_hour


def assert_settled(bill: HourBill, net: np.ndarray, imp: float, exp: float) -> None:
    """Every home's net position met by the market and the utility, the market balanced, and no
    bill above the utility's alone (orders are priced within [export, import])."""
    np.testing.assert_allclose(bill.market_bought_kwh + bill.utility_import_kwh - bill.market_sold_kwh
                               - bill.utility_export_kwh, net, atol=1e-9)
    assert bill.market_bought_kwh.sum() == pytest.approx(bill.market_sold_kwh.sum(), abs=1e-9)
    assert bill.market_paid_usd.sum() == pytest.approx(bill.market_received_usd.sum() + bill.surplus_usd, abs=1e-9)
    assert bill.surplus_usd >= -1e-12
    alone = np.maximum(net, 0) * imp - np.maximum(-net, 0) * exp
    assert (bill.bill_usd <= alone + 1e-9).all()


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_an_hour_balances_and_no_home_pays_more_than_the_utility_would_charge(mechanism):
    rng = np.random.default_rng(0)
    for _ in range(200):
        net = rng.normal(0, 2, 9)
        imp, exp = 0.30, rng.uniform(0.0, 0.3)
        assert_settled(clear_hour(net, rng.uniform(size=9), rng.uniform(size=9), imp, exp, mechanism), net, imp, exp)


def test_under_net_metering_the_market_changes_no_bill():
    rng = np.random.default_rng(1)
    net = rng.normal(0, 2, 12)
    traded = clear_hour(net, rng.uniform(size=12), np.ones(12), 0.3, 0.3)
    alone = clear_hour(net, rng.uniform(size=12), np.zeros(12), 0.3, 0.3)
    assert traded.traded_kwh > 0 and alone.traded_kwh == 0
    np.testing.assert_allclose(traded.bill_usd, alone.bill_usd, atol=1e-12)


def test_neighborhood_v0_passes_the_parallel_api_test_and_the_central_wrapper_check_env():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PettingZoo's test passes a reset option no env reads: warned
        parallel_api_test(NeighborhoodEnv(), num_cycles=60)
    check_env(CentralNeighborhood())


def test_a_day_of_neighborhood_v0_settles_every_kwh_and_rewards_the_bills():
    env = NeighborhoodEnv(tariff="wholesale_export")
    obs, _ = env.reset(seed=3, options={"day": 200})
    assert set(obs) == set(env.possible_agents) and all(o.shape == (17,) for o in obs.values())
    rng = np.random.default_rng(0)
    total, steps = {a: 0.0 for a in env.possible_agents}, 0
    while env.agents:
        acts = {a: rng.uniform(-1, 1, 5) for a in env.agents}
        imp, exp = env.world.tariff.import_usd_per_kwh[env.t], env.world.tariff.export_usd_per_kwh[env.t]
        obs, rewards, terms, truncs, infos = env.step(acts)
        for a, r in rewards.items():
            info = infos[a]
            assert info["utility_usd"] == pytest.approx(info["utility_import_kwh"] * imp - info["utility_export_kwh"] * exp)
            assert r == pytest.approx(-(info["bill_usd"] + env.world.comfort_usd_per_c_h * info["discomfort_c"])
                                      + info["end_value_usd"])
            assert info["market_bought_kwh"] + info["utility_import_kwh"] - info["market_sold_kwh"] - info["utility_export_kwh"] \
                == pytest.approx(info["net_import_kwh"], abs=1e-9)
            total[a] += r
        steps += 1
    assert steps == 24 and all(terms.values()) and env.agents == []
    with pytest.raises(RuntimeError, match="day is over"):
        env.step({})


def test_bad_settings_and_actions_are_refused_by_name():
    with pytest.raises(ValueError, match="tariff"):
        NeighborhoodEnv(tariff="flat")
    with pytest.raises(ValueError, match="mechanism"):
        NeighborhoodEnv(mechanism="vickrey")
    env = NeighborhoodEnv()
    with pytest.raises(ValueError, match="reset option day"):
        env.reset(options={"day": 400})
    env.reset(seed=0)
    agent = env.agents[0]
    with pytest.raises(ValueError, match=f"action of {agent}"):
        env.step({a: (np.full(5, np.nan) if a == agent else np.zeros(5)) for a in env.agents})
    with pytest.raises(ValueError, match="actions missing"):
        env.step({agent: np.zeros(5)})


def test_a_one_sided_hour_skips_the_auction_and_settles_as_it_would():
    net = np.array([1.0, 2.0, 0.5])  # only buyers
    bill = clear_hour(net, np.full(3, 0.5), np.ones(3), 0.3, 0.05)
    assert bill.traded_kwh == 0 and np.isnan(bill.price) and bill.surplus_usd == 0
    np.testing.assert_allclose(bill.bill_usd, net * 0.3)
    cleared = k_double_auction(np.full((1, 3), 0.2), net[None], np.full((1, 3), 0.2), np.zeros((1, 3)))
    assert cleared.traded[0] == 0 and (cleared.bought == 0).all()  # what the auction itself gives


def test_the_days_last_hour_values_the_battery_left_and_the_ev_energy_still_owed():
    env = NeighborhoodEnv(tariff="wholesale_export")
    env.reset(seed=0, options={"day": 120})
    drain = {a: np.array([0.0, -1.0, 1.0, -1.0, -1.0]) for a in env.agents}  # discharge all day, no orders
    ends = []
    while env.agents:
        _, _, _, _, infos = env.step(drain)
        ends.append([i["end_value_usd"] for i in infos.values()])
    assert all(v == 0 for row in ends[:-1] for v in row)
    above, below = env.world.end_slopes(slice(120 * 24, 121 * 24))
    assert 0 <= above <= below
    start_kwh = env.world.devices.battery.e_initial_mwh * 1e3
    owed = env._state.ev_left_kwh  # sessions running past the day, charged at the minimum
    assert owed.sum() > 0  # the minimum rate leaves some EV energy for after the day on this day
    price = env.world.ev_owed_price(slice(120 * 24, 121 * 24))
    # emptied: the start's energy to buy back; the EV energy still owed to be bought later
    assert ends[-1] == pytest.approx((-below * start_kwh - price * owed).tolist())


def test_actions_and_options_of_the_wrong_kind_are_refused_by_name():
    env = NeighborhoodEnv()
    with pytest.raises(ValueError, match="seed"):
        NeighborhoodEnv(seed=-1)
    with pytest.raises(ValueError, match="comfort_usd_per_c_h"):
        NeighborhoodEnv(comfort_usd_per_c_h="x")
    with pytest.raises(ValueError, match="reset options"):
        env.reset(options="day")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="a dict of one"):
        env.step([np.zeros(5)] * len(env.agents))
    with pytest.raises(ValueError, match="not agents of this env"):
        env.step({**{a: np.zeros(5) for a in env.agents}, "home_X": np.zeros(5)})
    agent = env.agents[1]
    with pytest.raises(ValueError, match=f"action of {agent}"):
        env.step({a: (["a"] * 5 if a == agent else np.zeros(5)) for a in env.agents})


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_repeated_calls_balance_each_call_and_trade_only_what_is_left(mechanism):
    rng = np.random.default_rng(5)
    for _ in range(100):
        net = rng.normal(0, 2, 11)
        imp, exp = 0.30, rng.uniform(0.0, 0.3)
        market = HourMarket(net, imp, exp, mechanism)
        left = np.abs(market.residual_kwh)
        np.testing.assert_array_equal(market.residual_kwh, net)  # before any call: the whole position
        for _ in range(4):
            called = market.call(rng.uniform(size=11), rng.uniform(size=11))
            assert called.bought.sum() == pytest.approx(called.sold.sum(), abs=1e-9)
            assert called.traded_kwh == pytest.approx(called.bought.sum(), abs=1e-9) and called.surplus_usd >= -1e-12
            now = np.abs(market.residual_kwh)
            assert (now <= left + 1e-12).all() and (np.sign(market.residual_kwh) * np.sign(net) >= 0).all()
            np.testing.assert_allclose(left - now, called.bought + called.sold, atol=1e-9)  # a call trades only the rest
            left = now
        bill = market.bill()
        assert_settled(bill, net, imp, exp)
        if bill.traded_kwh > 0:  # the hour's price: the calls' volume-weighted one, within [export, import]
            assert exp - 1e-12 <= bill.price <= imp + 1e-12


def test_one_call_is_the_plain_call_auction_and_a_truthful_book_clears_in_it():
    rng = np.random.default_rng(6)
    net, shares = rng.normal(0, 2, 10), rng.uniform(size=10)
    one = clear_hour(net, shares, np.ones(10), 0.3, 0.05)
    # the auction on the hour's book: each home's whole position at export + share x (import - export)
    price = (0.05 + shares * 0.25)[None]
    book = k_double_auction(price, np.maximum(net, 0)[None], price, np.maximum(-net, 0)[None])
    np.testing.assert_array_equal(one.market_bought_kwh, book.bought[0])
    np.testing.assert_array_equal(one.market_sold_kwh, book.sold[0])
    assert one.price == book.price[0] and book.traded[0] > 0
    utility = (np.maximum(net, 0) - book.bought[0]) * 0.3 - (np.maximum(-net, 0) - book.sold[0]) * 0.05
    np.testing.assert_allclose(one.bill_usd, utility + book.paid[0] - book.received[0], atol=1e-12)
    truthful = np.where(net > 0, 1.0, 0.0)  # buyers at the import price, sellers at the export price
    market = HourMarket(net, 0.3, 0.05)
    first = market.call(truthful, np.ones(10)).traded_kwh
    assert first == pytest.approx(min(np.maximum(net, 0).sum(), np.maximum(-net, 0).sum()))
    assert market.call(truthful, np.ones(10)).traded_kwh == 0.0  # one side is left: nothing more can trade


def test_an_hour_of_several_calls_is_several_steps_that_reward_the_hour_once():
    env = NeighborhoodEnv(rounds=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parallel_api_test(NeighborhoodEnv(rounds=3), num_cycles=30)
    obs, _ = env.reset(options={"day": 40})
    rng = np.random.default_rng(2)
    steps, hour_cost, calls_bought, traded_hours = 0, 0.0, np.zeros(17), 0
    while env.agents:
        call = env.market_round
        first = obs[env.agents[0]]
        assert first[15] == pytest.approx(call / 3) and (call > 0 or all(o[16] == 0 for o in obs.values()))
        acts = {a: np.r_[rng.uniform(-1, 1, 4), 1.0] for a in env.agents}  # random devices and prices, whole residuals
        obs, rewards, terms, _, infos = env.step(acts)
        info = infos[env.possible_agents[0]]
        assert info["market_round"] == call and info["settled"] == (call == 2)
        calls_bought += [infos[a]["call_bought_kwh"] for a in env.possible_agents]
        if call < 2:
            assert set(rewards.values()) == {0.0} and not any(terms.values())
            assert "bill_usd" not in info and "market_bought_kwh" not in info  # the hour's figures only when it settles
        else:
            for a, r in rewards.items():
                i = infos[a]
                assert r == pytest.approx(-(i["bill_usd"] + env.world.comfort_usd_per_c_h * i["discomfort_c"])
                                          + i["end_value_usd"])
            # the hour's purchases are its calls' ...
            np.testing.assert_allclose(calls_bought, [infos[a]["market_bought_kwh"] for a in env.possible_agents], atol=1e-12)
            calls_bought[:] = 0.0
            if info["traded_kwh"] > 0 and env.agents:  # ... and the next hour's first call sees the hour's market
                traded_hours += 1
                assert obs[env.agents[0]][11] == pytest.approx(info["price"], rel=1e-6)
                assert obs[env.agents[0]][12] == pytest.approx(info["traded_kwh"] / 17, rel=1e-6)
            hour_cost -= sum(rewards.values())
        steps += 1
    assert steps == 72 and hour_cost != 0.0 and traded_hours > 3


def test_later_calls_ignore_the_device_fields():
    outcomes = []
    for battery in (-1.0, 1.0):
        env = NeighborhoodEnv(rounds=2)
        env.reset(options={"day": 100})
        first = {a: np.array([0.0, 1.0, 0.5, 0.0, 1.0]) for a in env.agents}
        env.step(first)
        _, rewards, *_ = env.step({a: np.array([1.0, -1.0, battery, 0.3, 1.0]) for a in env.agents})
        outcomes.append(rewards)
    assert outcomes[0] == outcomes[1]


def test_a_bad_number_of_calls_is_refused_by_name():
    for rounds in (0, 101, 2.5, True):
        with pytest.raises(ValueError, match="rounds"):
            NeighborhoodEnv(rounds=rounds)
    with pytest.raises(ValueError, match="export <= import"):
        HourMarket(np.ones(3), 0.1, 0.3)
    with pytest.raises(ValueError, match="finite kWh"):
        HourMarket(np.array([1.0, np.nan]), 0.3, 0.1)
    with pytest.raises(ValueError, match=r"price_share has shape \(2,\) .*allowed: \(3,\)"):
        HourMarket(np.ones(3), 0.3, 0.1).call(np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match=r"quantity_share has shape \(3,\) \(finite: False\)"):
        HourMarket(np.ones(3), 0.3, 0.1).call(np.ones(3), np.array([1.0, np.nan, 1.0]))


def test_rounding_noise_is_no_order():
    """A home left with 1e-16 kWh after its fills, or balanced by its devices to 1e-11 kWh, offers
    nothing: under McAfee's mechanism such an order would set the price of everyone's trades."""
    market = HourMarket(np.array([0.3, 0.1, -0.2, -0.2]), 0.3, 0.05, "mcafee")
    market.bought = np.array([0.3 - 1e-16, 0.0, 0.0, 0.0])
    market.sold = np.array([0.0, 0.0, 0.2 - 2e-16, 0.0])
    np.testing.assert_array_equal(market.residual_kwh, [0.0, 0.1, 0.0, -0.2])
    # two 1 kWh buyers (0.30, 0.28 $/kWh), a 1 kWh seller at 0.10 and a 7.5e-11 kWh seller at 0.12
    net, price_share = np.array([1.0, 1.0, -1.0, -7.5e-11]), np.array([1.0, 0.92, 0.2, 0.28])
    prices = 0.05 + price_share * 0.25
    book = (prices[None, :2], net[None, :2], prices[None, 2:], -net[None, 2:])
    assert mcafee(*book).traded[0] == pytest.approx(1.0)  # as an order the dust ask sets p0 = (0.28 + 0.12) / 2 ...
    assert mcafee(book[0], book[1], book[2][:, :1], book[3][:, :1]).traded[0] == 0.0  # ... without it, trade reduction
    dusty = HourMarket(net, 0.3, 0.05, "mcafee")
    np.testing.assert_array_equal(dusty.residual_kwh, [1.0, 1.0, -1.0, 0.0])
    assert dusty.call(price_share, np.ones(4)).traded_kwh == 0.0  # the dust is no order
    bill = dusty.bill()
    assert bill.utility_export_kwh[3] == pytest.approx(7.5e-11)  # the utility settles the dust
