"""The DA bid the market accepts (DESIGN 1.4)."""

from __future__ import annotations

import numpy as np
import pytest

from bessgym.market import DABid, MarketProfile, accept_bid, load_profile


def test_awards_scaled_to_registered_power_energy_first(battery, market):
    bid = DABid(np.full(24, 0.6), np.tile([0.4, 2.0, 0.2, 0.2], (24, 1)))
    accepted, cuts = accept_bid(bid, battery, market)
    up = accepted.as_mw[:, [0, 2, 3]].sum(1)
    np.testing.assert_allclose(up, 0.4)  # P_dis - x
    np.testing.assert_allclose(accepted.as_mw[:, 0] / accepted.as_mw[:, 2], 2.0)  # pro rata
    np.testing.assert_allclose(accepted.as_mw[:, 1], 1.6)  # P_ch + x
    np.testing.assert_allclose(accepted.energy_mw, 0.6)
    assert cuts.any and cuts.as_mw[:, 1] == pytest.approx(np.full(24, 0.4))


def test_energy_clipped_and_unoffered_products_dropped(battery):
    market = MarketProfile(name="x", products=("reg_up", "reg_down"), duration_h={"reg_up": 1, "reg_down": 1})
    bid = DABid(np.full(24, 3.0), np.full((24, 4), 0.1))
    accepted, cuts = accept_bid(bid, battery, market)
    np.testing.assert_allclose(accepted.energy_mw, 1.0)
    assert accepted.as_mw[:, 2:].sum() == 0 and cuts.energy_mw.sum() == pytest.approx(48.0)


def test_soc_clipping_switch(battery):
    strict = load_profile("caiso").model_copy(update={"clip_awards_to_soc": True})
    bid = DABid(np.zeros(24), np.tile([1.0, 0.0, 0.0, 0.0], (24, 1)))
    accepted, _ = accept_bid(bid, battery, strict)
    # 2 MWh at the start, E_min 0.2 MWh, 1 h duration: (2 - 0.2) * 0.95 = 1.71 MW > 1, so no cut;
    np.testing.assert_allclose(accepted.as_mw[:, 0], 1.0)
    low = battery.model_copy(update={"soc_initial_frac": 0.1, "soc_target_frac": 0.1})
    accepted, _ = accept_bid(bid, low, strict)
    np.testing.assert_allclose(accepted.as_mw[:, 0], (0.4 - 0.2) * 0.95)


def test_bad_bid_shape_and_nan_are_named():
    with pytest.raises(ValueError, match=r"DABid.energy_mw must have shape \(24,\)"):
        DABid(np.zeros(23), np.zeros((24, 4)))
    with pytest.raises(ValueError, match="DABid.as_mw contains NaN"):
        DABid(np.zeros(24), np.full((24, 4), np.nan))
