"""Hand-calculated ledger lines: one power envelope (no double losses), availability, no-pay,
the penalty of an over-committed battery and the asymmetric terminal value."""

from __future__ import annotations

import numpy as np
import pytest

from bessgym.battery import Battery
from bessgym.deployment import Deployment
from bessgym.market import DABid
from bessgym.scenarios import Scenario
from bessgym.sim import DaySimulator, simulate_day
from tests.conftest import make_scenario


def bid_at_hour0(x: float, awards: tuple[float, float, float, float]) -> DABid:
    bid = DABid.idle()
    bid.energy_mw[0] = x
    bid.as_mw[0] = awards
    return bid


def with_up_time(scenario, up_time: float):
    d = scenario.deployment
    return scenario.__class__(**{**scenario.__dict__, "deployment": Deployment(d.fraction, d.mileage, np.full(len(d.fraction), up_time))})


def test_every_line_when_all_is_delivered(battery, market):
    """e0 = 2 MWh; x = 0.5 MW; awards RU 0.2, RD 0.3, SR 0.1; deployment RU 0.5, RD 0.2, SR 1 with
    the signal up 60% of the hour: up sub-period 0.5 + 0.2 * 0.5/0.6 + 0.1, down 0.5 + 0.1 - 0.3 * 0.2/0.4."""
    scenario = with_up_time(make_scenario(fraction=(0.5, 0.2, 1.0, 0.0)), 0.6)
    out = DaySimulator(battery, market, scenario, bid_at_hour0(0.5, (0.2, 0.3, 0.1, 0.0))).step(0.5)
    p_up, p_down = 0.5 + 0.2 * 0.5 / 0.6 + 0.1, 0.5 + 0.1 - 0.3 * 0.2 / 0.4
    assert out.discharge_mw == pytest.approx(0.6 * p_up + 0.4 * p_down) == pytest.approx(0.64)
    assert out.charge_mw == 0.0
    assert out.e_mwh == pytest.approx(2.0 - 0.64 / 0.95)
    line = out.ledger
    assert line.da_energy == pytest.approx(40 * 0.5)
    assert line.rt_imbalance == pytest.approx(60 * (0.64 - 0.5))
    assert line.as_capacity == pytest.approx(10 * 0.2 + 8 * 0.3 + 5 * 0.1)
    assert line.no_pay == 0 and line.unavailable == 0 and line.penalty == 0 and line.mileage == 0
    assert line.degradation == pytest.approx(-10 * 0.64)
    assert line.terminal == 0
    assert out.reward == pytest.approx(20 + 8.4 + 4.9 - 6.4)


def test_base_point_and_opposite_deployment_net_out(battery, market):
    """Discharging at 0.5 MW while deployed down by 0.3 MW is discharging at 0.2 MW: no charge leg,
    no double losses or wear."""
    scenario = make_scenario(fraction=(0.0, 1.0, 0.0, 0.0))  # the signal down all hour
    out = DaySimulator(battery, market, scenario, bid_at_hour0(0.5, (0.0, 0.3, 0.0, 0.0))).step(0.5)
    assert out.discharge_mw == pytest.approx(0.2) and out.charge_mw == 0.0
    assert out.e_mwh == pytest.approx(2.0 - 0.2 / 0.95)
    assert out.ledger.degradation == pytest.approx(-10 * 0.2)
    assert out.down_short_mw == pytest.approx(0.0)


def test_flows_go_both_ways_only_as_far_as_the_signal_changes_sign(battery, market):
    """Reg up and down awards of 1 MW, signal up half the hour at 0.6 and down half at 0.4, base 0:
    discharge 0.5 * 0.6, charge 0.5 * 0.4; the same deployment as one net figure would be 0.1 MW."""
    scenario = with_up_time(make_scenario(fraction=(0.3, 0.2, 0.0, 0.0)), 0.5)
    out = DaySimulator(battery, market, scenario, bid_at_hour0(0.0, (1.0, 1.0, 0.0, 0.0))).step(0.0)
    assert out.discharge_mw == pytest.approx(0.3) and out.charge_mw == pytest.approx(0.2)
    assert out.e_mwh == pytest.approx(2.0 - 0.3 / 0.95 + 0.95 * 0.2)


def at_hour(hour: int, x: float, awards: tuple[float, float, float, float]) -> DABid:
    bid = DABid.idle()
    bid.energy_mw[hour] = x
    bid.as_mw[hour] = awards
    return bid


def deployed_in(hour: int, fraction: tuple[float, float, float, float], **prices) -> Scenario:
    rows = np.zeros((24, 4))
    rows[hour] = fraction
    return make_scenario(fraction=rows, **prices)


def test_over_committed_battery_pays_no_pay_unavailability_and_penalty(battery, market):
    """The schedule backs 1 MW of reg up in hour 2 (planned SoC 2 MWh), but the battery sells
    down to 0.3 MWh first; deployed at 50%, the base point is cut first, then AS, and the award,
    no longer backed by the SoC (1 h needs 1/0.95 MWh above E_min = 0.2), is mostly unavailable."""
    scenario = deployed_in(2, (0.5, 0.0, 0.0, 0.0), rt=150.0)
    sim = DaySimulator(battery, market, scenario, at_hour(2, 0.0, (1.0, 0.0, 0.0, 0.0)))
    assert sim.accepted.as_mw[2, 0] == 1.0
    sim.step(1.0)
    sim.step((sim.e_mwh - 0.3) * 0.95)
    assert sim.e_mwh == pytest.approx(0.3)
    out = sim.step(0.3)  # a discharge base point on top: it must be cut to zero first
    delivered = (0.3 - 0.2) * 0.95
    assert out.base_mw == 0.0
    assert out.discharge_mw == pytest.approx(delivered)
    assert out.e_mwh == pytest.approx(0.2)
    assert out.up_short_mw == pytest.approx(0.5 - delivered)
    share = 1 - 0.1 / (1 / 0.95)  # the award's unbacked share: SoC room 0.1 MWh of the 1/0.95 needed
    line = out.ledger
    assert line.as_capacity == pytest.approx(10.0)
    assert line.unavailable == pytest.approx(-10.0 * share)
    assert line.no_pay == pytest.approx(-10.0 * (1 - share) * (0.5 - delivered) / 0.5)
    assert line.penalty == pytest.approx(-150.0 * (0.5 - delivered))  # max(RT 150, 100)
    assert line.rt_imbalance == pytest.approx(150.0 * delivered)


def test_reg_down_on_a_full_battery_uses_the_penalty_floor(battery, market):
    scenario = deployed_in(3, (0.0, 0.4, 0.0, 0.0), rt=20.0)
    sim = DaySimulator(battery, market, scenario, at_hour(3, 0.0, (0.0, 0.5, 0.0, 0.0)))
    for base in (-1.0, -1.0, -(4.0 - 2.0 - 2 * 0.95) / 0.95):  # fill it up first
        sim.step(base)
    assert sim.e_mwh == pytest.approx(4.0)
    out = sim.step(0.0)
    assert out.charge_mw == 0.0 and out.down_short_mw == pytest.approx(0.2)
    assert out.ledger.penalty == pytest.approx(-100.0 * 0.2)  # max(RT 20, lambda_pen 100)
    assert out.ledger.unavailable == pytest.approx(-8.0 * 0.5)  # no room at all: the whole payment
    assert out.ledger.no_pay == 0.0  # nothing of the available share left to rescind


def test_an_award_not_backed_is_no_paid_even_without_deployment(battery, market):
    scenario = make_scenario(fraction=(0.0, 0.0, 0.0, 0.0))
    sim = DaySimulator(battery, market, scenario, at_hour(2, 0.0, (1.0, 0.0, 0.0, 0.0)))
    sim.step(1.0)
    sim.step(1.0)  # down to E_min (the second hour is cut at the floor)
    assert sim.e_mwh == pytest.approx(battery.e_min_mwh)
    out = sim.step(0.0)
    assert out.ledger.as_capacity == pytest.approx(10.0)
    assert out.ledger.unavailable == pytest.approx(-10.0)
    assert out.ledger.no_pay == 0.0 and out.ledger.penalty == 0.0


def test_a_base_point_that_eats_the_headroom_makes_the_award_unavailable(battery, market):
    scenario = make_scenario(fraction=(0.0, 0.0, 0.0, 0.0))
    out = DaySimulator(battery, market, scenario, bid_at_hour0(0.0, (0.4, 0.0, 0.0, 0.0))).step(0.8)
    assert out.ledger.unavailable == pytest.approx(-10.0 * 0.4 * (0.2 / 0.4))  # 0.2 of 0.4 MW unbacked
    assert out.base_mw == 0.8 and out.ledger.no_pay == 0.0


def test_terminal_value_is_asymmetric(battery, market):
    scenario = make_scenario(da=np.arange(24.0))  # mean DA price 11.5
    base = np.zeros(24)
    base[3] = 1.0  # discharge 1 MWh at the grid: SoC falls by 1/0.95 below the target
    result = simulate_day(battery, market, scenario, DABid.idle(), base)
    assert result.ledger.terminal[:-1].sum() == 0
    assert result.ledger.terminal[-1] == pytest.approx(-(11.5 / 0.95 + 10.0) / 0.95)
    base[3] = -1.0  # charge 1 MWh: SoC rises by 0.95 above it
    result = simulate_day(battery, market, scenario, DABid.idle(), base)
    assert result.ledger.terminal[-1] == pytest.approx((0.95 * 11.5 - 10.0) * 0.95)


def test_ending_at_the_floor_costs_money(battery, market):
    scenario = make_scenario(da=40.0, rt=40.0)
    base = np.zeros(24)
    base[:2] = 1.0  # sell 2 MWh at 40: SoC falls by 2/0.95
    result = simulate_day(battery, market, scenario, DABid.idle(), base)
    assert result.totals.terminal < -2 / 0.95 * 40.0  # buying it back costs more than it sold for
    assert result.profit < 0


def test_ending_at_the_floor_costs_money_even_when_da_prices_average_below_zero(battery, market):
    scenario = make_scenario(da=-30.0, rt=-30.0)
    base = np.zeros(24)
    base[0] = 1.0  # sell 1 MWh at -30: SoC falls by 1/0.95
    result = simulate_day(battery, market, scenario, DABid.idle(), base)
    assert result.totals.terminal == pytest.approx(-10.0 / 0.95)  # at least the wear of refilling it
    assert result.profit < 0


def test_mileage_paid_per_mw_of_movement():
    from bessgym.market import load_profile

    scenario = make_scenario(fraction=(0.1, 0.1, 0.0, 0.0))
    scenario.mileage_price[:] = (0.5, 0.25)
    scenario.deployment.mileage[:] = (4.0, 2.0)
    result = simulate_day(Battery(), load_profile("caiso"), scenario, bid_at_hour0(0.0, (0.4, 0.2, 0, 0)), np.zeros(24))
    assert result.ledger.mileage[0] == pytest.approx(0.5 * 4.0 * 0.4 + 0.25 * 2.0 * 0.2)
    assert result.ledger.mileage[1:].sum() == 0


def test_sign_convention_discharge_is_positive(battery, market):
    result = simulate_day(battery, market, make_scenario(), DABid.idle(), np.r_[0.5, np.zeros(23)])
    assert result.net_mw[0] == pytest.approx(0.5) and result.e_mwh[1] < result.e_mwh[0]
