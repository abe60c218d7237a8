"""Hand-calculated ledger lines, including no-pay and the penalty of an over-committed battery."""

from __future__ import annotations

import numpy as np
import pytest

from bessgym.battery import Battery
from bessgym.market import DABid
from bessgym.sim import DaySimulator, simulate_day
from tests.conftest import make_scenario


def bid_at_hour0(x: float, awards: tuple[float, float, float, float]) -> DABid:
    bid = DABid.idle()
    bid.energy_mw[0] = x
    bid.as_mw[0] = awards
    return bid


def test_every_line_when_all_is_delivered(battery, market):
    """e0 = 2 MWh; x = 0.5 MW; awards RU 0.2, RD 0.3, SR 0.1; deployment RU 0.5, RD 0.2, SR 1."""
    scenario = make_scenario(fraction=(0.5, 0.2, 1.0, 0.0))
    sim = DaySimulator(battery, market, scenario, bid_at_hour0(0.5, (0.2, 0.3, 0.1, 0.0)))
    out = sim.step(0.5)
    # legs: up = 0.5*0.2 + 1*0.1 = 0.2, down = 0.2*0.3 = 0.06; d = 0.5 + 0.2, c = 0.06
    assert out.discharge_mw == pytest.approx(0.7)
    assert out.charge_mw == pytest.approx(0.06)
    assert out.e_mwh == pytest.approx(2.0 + 0.95 * 0.06 - 0.7 / 0.95)
    line = out.ledger
    assert line.da_energy == pytest.approx(40 * 0.5)
    assert line.rt_imbalance == pytest.approx(60 * (0.7 - 0.06 - 0.5))
    assert line.as_capacity == pytest.approx(10 * 0.2 + 8 * 0.3 + 5 * 0.1)
    assert line.no_pay == 0 and line.penalty == 0 and line.mileage == 0
    assert line.degradation == pytest.approx(-10 * (0.7 + 0.06))
    assert line.terminal == 0
    assert out.reward == pytest.approx(20 + 8.4 + 4.9 - 7.6)


def test_over_committed_battery_pays_no_pay_and_penalty(market):
    """0.1 MWh above E_min, 1 MW reg up deployed at 50%: base point is cut first, then AS."""
    battery = Battery(soc_initial_frac=0.075, soc_target_frac=0.075)  # e0 = 0.3, E_min = 0.2
    scenario = make_scenario(rt=150.0, fraction=(0.5, 0.0, 0.0, 0.0))
    sim = DaySimulator(battery, market, scenario, bid_at_hour0(0.0, (1.0, 0.0, 0.0, 0.0)))
    out = sim.step(0.3)  # a discharge base point on top: it must be cut to zero first
    delivered = (0.3 - 0.2) * 0.95
    assert out.base_mw == 0.0
    assert out.discharge_mw == pytest.approx(delivered)
    assert out.e_mwh == pytest.approx(0.2)
    assert out.up_short_mw == pytest.approx(0.5 - delivered)
    line = out.ledger
    assert line.as_capacity == pytest.approx(10.0)
    assert line.no_pay == pytest.approx(-10.0 * 1.0 * (0.5 - delivered) / 0.5)
    assert line.penalty == pytest.approx(-150.0 * (0.5 - delivered))  # max(RT 150, 100)
    assert line.rt_imbalance == pytest.approx(150.0 * delivered)


def test_reg_down_on_a_full_battery_uses_the_penalty_floor(market):
    battery = Battery(soc_initial_frac=1.0, soc_target_frac=1.0)
    scenario = make_scenario(rt=20.0, fraction=(0.0, 0.4, 0.0, 0.0))
    out = DaySimulator(battery, market, scenario, bid_at_hour0(0.0, (0.0, 0.5, 0.0, 0.0))).step(0.0)
    assert out.charge_mw == 0.0 and out.down_short_mw == pytest.approx(0.2)
    assert out.ledger.penalty == pytest.approx(-100.0 * 0.2)  # max(RT 20, lambda_pen 100)
    assert out.ledger.no_pay == pytest.approx(-8.0 * 0.5)  # whole request undelivered


def test_no_request_no_no_pay(market):
    battery = Battery(soc_initial_frac=0.05, soc_target_frac=0.05)  # empty
    scenario = make_scenario(fraction=(0.0, 0.0, 0.0, 0.0))
    out = DaySimulator(battery, market, scenario, bid_at_hour0(0.0, (1.0, 0.0, 0.0, 0.0))).step(0.0)
    assert out.ledger.no_pay == 0.0 and out.ledger.penalty == 0.0
    assert out.ledger.as_capacity == pytest.approx(10.0)


def test_terminal_value_on_the_last_interval(battery, market):
    scenario = make_scenario(da=np.arange(24.0))
    base = np.zeros(24)
    base[3] = 1.0  # discharge 1 MWh at the grid: SoC falls by 1/0.95
    result = simulate_day(battery, market, scenario, DABid.idle(), base)
    assert result.ledger.terminal[:-1].sum() == 0
    assert result.ledger.terminal[-1] == pytest.approx(-1 / 0.95 * np.arange(24.0).mean())


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
