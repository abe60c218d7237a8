"""The shipped solver-free bidder and the noisy forecaster."""

from __future__ import annotations

import numpy as np
import pytest

from bessgym.config import load_config
from bessgym.forecast import da_context
from bessgym.market import planned_energy
from bessgym.policies import ThresholdBidder, follow_da
from bessgym.scenarios import ScenarioSet
from bessgym.sim import simulate_day


def test_threshold_bid_is_feasible_and_profitable_on_the_forecast(caiso):
    battery, market = caiso.config.battery, caiso.config.market_profile
    for scenario_id in caiso.ids("val")[:15]:
        ctx = da_context(caiso, caiso.get(scenario_id))
        bid = ThresholdBidder().bid(ctx)
        e = planned_energy(battery, bid.energy_mw)
        assert e.min() >= battery.e_min_mwh - 1e-9 and e.max() <= battery.e_max_mwh + 1e-9
        assert np.all(bid.as_mw[:, 0] <= battery.p_discharge_mw - bid.energy_mw + 1e-12)
        # reg up sustainable for its duration from the lower of the hour's planned SoC levels
        low = np.minimum(e[:-1], e[1:])
        assert np.all(bid.as_mw[:, 0] * market.duration_h["reg_up"] <= (low - battery.e_min_mwh) * battery.eta_discharge + 1e-9)
        assert np.all(bid.as_mw[:, 2:] == 0)
        assert (bid.energy_mw * ctx.da_price).sum() >= 0  # sells dearer than it buys, on the forecast


def test_threshold_bidder_rejects_a_bad_share():
    with pytest.raises(ValueError, match="as_share must be within"):
        ThresholdBidder(as_share=1.5)


def test_follow_da_and_a_positive_test_split_profit(caiso):
    cfg = caiso.config
    total = 0.0
    for scenario_id in caiso.ids("test")[:20]:
        scenario = caiso.get(scenario_id)
        bid = ThresholdBidder().bid(da_context(caiso, scenario))
        base = follow_da(bid, scenario.n_intervals)
        assert np.array_equal(base[::4], bid.energy_mw)
        total += simulate_day(cfg.battery, cfg.market_profile, scenario, bid, base).profit
    assert total > 0


def test_noisy_forecaster_is_seeded_and_centred_on_the_truth():
    config = load_config({"forecast": {"kind": "noisy", "noise_usd_per_mwh": 5.0, "members": 50}})
    scenarios = ScenarioSet(config)
    scenario = scenarios.get(scenarios.ids("val")[0])
    a, b = da_context(scenarios, scenario), da_context(scenarios, scenario)
    assert np.array_equal(a.rt_scenarios, b.rt_scenarios) and a.privileged
    errors = a.rt_scenarios - scenario.rt_price
    assert abs(errors.mean()) < 1.0 and errors.std() == pytest.approx(5.0, rel=0.1)
    np.testing.assert_array_equal(a.da_price, a.da_scenarios[0])
