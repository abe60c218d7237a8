"""The DA bid the market accepts (DESIGN 1.4): power first, then the schedule's SoC and the
awards' durations; acceptance never admits what full deployment cannot deliver."""

from __future__ import annotations

import numpy as np
import pytest

from bessgym.battery import Battery
from bessgym.deployment import Deployment
from bessgym.market import DABid, MarketProfile, accept_bid, load_profile, planned_energy
from bessgym.policies import follow_da
from bessgym.sim import simulate_day
from tests.conftest import make_scenario


def power_only(market: MarketProfile) -> MarketProfile:
    return market.model_copy(update={"energy_backing": False})


def test_awards_scaled_to_registered_power_energy_first(battery, market):
    bid = DABid(np.full(24, 0.6), np.tile([0.4, 2.0, 0.2, 0.2], (24, 1)))
    accepted, cuts = accept_bid(bid, battery, power_only(market))
    up = accepted.as_mw[:, [0, 2, 3]].sum(1)
    np.testing.assert_allclose(up, 0.4)  # P_dis - x
    np.testing.assert_allclose(accepted.as_mw[:, 0] / accepted.as_mw[:, 2], 2.0)  # pro rata
    np.testing.assert_allclose(accepted.as_mw[:, 1], 1.6)  # P_ch + x
    np.testing.assert_allclose(accepted.energy_mw, 0.6)
    assert cuts.any and cuts.as_mw[:, 1] == pytest.approx(np.full(24, 0.4))


def test_energy_clipped_and_unoffered_products_dropped(battery):
    market = MarketProfile(name="x", products=("reg_up", "reg_down"), duration_h={"reg_up": 1, "reg_down": 1},
                           energy_backing=False)
    bid = DABid(np.full(24, 3.0), np.full((24, 4), 0.1))
    accepted, cuts = accept_bid(bid, battery, market)
    np.testing.assert_allclose(accepted.energy_mw, 1.0)
    assert accepted.as_mw[:, 2:].sum() == 0 and cuts.energy_mw.sum() == pytest.approx(48.0)


def test_the_schedule_is_cut_to_a_feasible_soc(battery, market):
    """Selling 1 MW all day from 2 MWh: the planned SoC reaches E_min within the second hour."""
    accepted, cuts = accept_bid(DABid(np.ones(24), np.zeros((24, 4))), battery, market)
    planned = planned_energy(battery, accepted.energy_mw)
    assert planned.min() == pytest.approx(battery.e_min_mwh)
    assert accepted.energy_mw[0] == 1.0
    assert accepted.energy_mw[1] == pytest.approx((2.0 - 1 / 0.95 - 0.2) * 0.95)
    assert np.all(accepted.energy_mw[2:] == 0.0) and cuts.energy_mw.sum() == pytest.approx(24 - accepted.energy_mw.sum())


def test_awards_cut_to_what_the_planned_soc_sustains_for_their_duration(battery, market):
    bid = DABid(np.zeros(24), np.tile([1.0, 0.0, 0.0, 0.0], (24, 1)))
    accepted, _ = accept_bid(bid, battery, market)
    # 2 MWh at the start, E_min 0.2 MWh, 1 h duration: (2 - 0.2) * 0.95 = 1.71 MW > 1, so no cut;
    np.testing.assert_allclose(accepted.as_mw[:, 0], 1.0)
    low = battery.model_copy(update={"soc_initial_frac": 0.1, "soc_target_frac": 0.1})
    accepted, _ = accept_bid(bid, low, market)
    np.testing.assert_allclose(accepted.as_mw[:, 0], (0.4 - 0.2) * 0.95)
    spin = DABid(np.zeros(24), np.tile([0.0, 0.0, 1.0, 0.0], (24, 1)))  # 0.5 h: twice the MW
    np.testing.assert_allclose(accept_bid(spin, low, market)[0].as_mw[:, 2], (0.4 - 0.2) * 0.95 / 0.5)
    full = battery.model_copy(update={"soc_initial_frac": 0.9, "soc_target_frac": 0.9})
    down = DABid(np.zeros(24), np.tile([0.0, 1.0, 0.0, 0.0], (24, 1)))
    np.testing.assert_allclose(accept_bid(down, full, market)[0].as_mw[:, 1], (4.0 - 3.6) / 0.95)
    assert accept_bid(down, full, power_only(market))[0].as_mw[:, 1] == pytest.approx(np.ones(24))


@pytest.mark.parametrize("seed", range(6))
def test_acceptance_never_admits_what_full_deployment_cannot_deliver(seed):
    """Random bids from mid SoC: in each hour, every accepted up award deployed in full for its
    duration (or reg down for its), on top of the schedule, is delivered without shortfall."""
    rng = np.random.default_rng(seed)
    market, battery = load_profile("caiso"), Battery()
    bid = DABid(rng.uniform(-1.5, 1.5, 24), rng.uniform(0, 1.2, (24, 4)) * (rng.random((24, 4)) < 0.6))
    accepted, _ = accept_bid(bid, battery, market)
    assert np.all(accepted.energy_mw + accepted.as_mw[:, [0, 2, 3]].sum(1) <= battery.p_discharge_mw + 1e-9)
    assert np.all(accepted.as_mw[:, 1] - accepted.energy_mw <= battery.p_charge_mw + 1e-9)
    n, k = 96, 4
    for hour in range(24):
        for side in ("up", "down"):
            fraction = np.zeros((n, 4))
            rows = slice(hour * k, hour * k + k)
            if side == "up":
                fraction[rows, 0] = 1.0  # reg up: 1 h
                fraction[hour * k: hour * k + 2, 2:] = 1.0  # spin and non-spin: 0.5 h
                up_time = np.zeros(n)
                up_time[rows] = 1.0
            else:
                fraction[rows, 1] = 1.0
                up_time = np.zeros(n)
            scenario = make_scenario(n=n)
            scenario = scenario.__class__(**{**scenario.__dict__, "deployment": Deployment(fraction, np.zeros((n, 2)), up_time)})
            result = simulate_day(battery, market, scenario, accepted, follow_da(accepted, n))
            assert result.shortfall_mw[rows].max() < 1e-9, (seed, hour, side)


def test_bad_bid_shape_and_nan_are_named():
    with pytest.raises(ValueError, match=r"DABid.energy_mw must have shape \(24,\)"):
        DABid(np.zeros(23), np.zeros((24, 4)))
    with pytest.raises(ValueError, match="DABid.as_mw contains NaN"):
        DABid(np.zeros(24), np.full((24, 4), np.nan))


def test_profiles_choose_regulation_and_time_zone():
    assert load_profile("caiso").regulation_signal == "rega" and load_profile("pjm").regulation_signal == "regd"
    assert load_profile("caiso").timezone == "America/Los_Angeles"
    for zone in ("Mars/Olympus", "Pacific"):  # the second names a folder of zones
        with pytest.raises(ValueError, match=f"timezone '{zone}' is not an IANA time zone"):
            MarketProfile(name="x", timezone=zone)
