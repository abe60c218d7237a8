"""EV charging sessions as a fleet and as a GES (issue 19): the shipped ACN sessions on a day's
5-minute grid, every session's energy conserved, and the day LP's plan for the fleet dispatched."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bessgym.battery import Battery
from bessgym.ev import EVFleet, dispatch
from bessgym.ges_data import load_ev_sessions

DT, N = 1 / 12, 288


@pytest.fixture(scope="module")
def fleet() -> EVFleet:
    start = pd.Timestamp("2019-06-04", tz="America/Los_Angeles").tz_convert("UTC")
    return EVFleet.from_sessions(load_ev_sessions(), start, N, DT)


def _conserved(fleet: EVFleet, done) -> None:
    """Every session's charging sums to what it got, and what it got and what it lacks to its need."""
    np.testing.assert_allclose(done.power_mw.sum(1) * fleet.dt_h, done.delivered_mwh, rtol=0, atol=1e-9)
    np.testing.assert_allclose(done.delivered_mwh + done.unmet_mwh, fleet.energy_mwh, rtol=0, atol=1e-9)
    assert (done.power_mw <= fleet.p_max_mw[:, None] + 1e-12).all() and (done.power_mw >= 0).all()
    assert not (done.power_mw * ~fleet.plugged()).any()  # no charging while unplugged


def test_the_sessions_of_a_day_make_a_ges_their_baseline_fills(fleet):
    assert len(fleet.energy_mwh) == 36 and fleet.energy_mwh.sum() == pytest.approx(0.283774)
    ges = fleet.ges()
    assert ges.energy_mwh == pytest.approx(fleet.energy_mwh.sum())
    assert (ges.soc_min <= ges.soc_max + 1e-12).all() and (ges.p_charge_max_mw >= 0).all()
    assert ges.feasible(np.zeros(N)) and ges.soc_path(np.zeros(N), np.zeros(N))[-1] == pytest.approx(1.0)
    baseline = dispatch(fleet, np.zeros(N))
    _conserved(fleet, baseline)
    assert baseline.unmet_mwh.max() == 0.0 and np.abs(baseline.unplaced_mw).max() < 1e-12
    np.testing.assert_allclose(baseline.power_mw, fleet.baseline_mw(), atol=1e-12)


def test_the_day_lp_plans_the_fleet_and_every_session_gets_its_need(fleet, caiso):
    from baselines.day_lp import build_day_model, solve_exact
    from baselines.oracle import without_as
    from bessgym.sim import ScenarioArrays

    day = caiso.get(caiso.ids("test")[0])
    data = ScenarioArrays.of(day)
    data = data._replace(dt_h=DT, rt_price=np.repeat(data.rt_price, 3), fraction=np.zeros((N, 4)), mileage=np.zeros((N, 2)),
                         up_time=np.zeros(N))
    ges = fleet.ges()
    lossless = Battery(eta_charge=1.0, eta_discharge=1.0, degradation_usd_per_mwh=0.0)
    model = build_day_model(lossless, without_as(caiso.config.market_profile), data, storage=ges)
    result = solve_exact(model)
    assert result.status.ok and result.objective > 0  # charging moved to cheaper intervals earns against the baseline
    plan = result.z[model.cols["b"]]
    assert ges.feasible(plan, tol=1e-7)
    done = dispatch(fleet, plan)
    _conserved(fleet, done)
    assert done.unmet_mwh.sum() < 1e-9  # least laxity first meets every need


def test_bad_sessions_and_references_are_refused():
    with pytest.raises(ValueError, match="need more than p_max over their stay"):
        EVFleet(np.array([0]), np.array([2]), np.array([1.0]), np.array([0.007]), DT, N)
    with pytest.raises(ValueError, match="0 <= arrival < departure <= n"):
        EVFleet(np.array([5]), np.array([5]), np.array([0.001]), np.array([0.007]), DT, N)
    fleet = EVFleet(np.array([0]), np.array([12]), np.array([0.001]), np.array([0.007]), DT, N)
    with pytest.raises(ValueError, match="net_mw must be 288 finite MW"):
        dispatch(fleet, np.zeros(N - 1))


def test_bad_fleet_fields_are_refused_by_name_and_session():
    one = dict(arrival=np.array([0, 3]), departure=np.array([12, 9]), energy_mwh=np.array([0.001, 0.002]),
               p_max_mw=np.array([0.007, 0.007]), dt_h=DT, n=N)
    assert EVFleet(**{**one, "arrival": np.array([0.0, 3.0])}).arrival.dtype.kind == "i"  # whole numbers are indices
    for change, message in (
            (dict(departure=np.array([12])),
             r"EVFleet.departure has shape \(1,\); allowed: \(m,\), one per session as arrival \(2\)"),
            (dict(p_max_mw=np.full((2, 1), 0.007)), r"EVFleet.p_max_mw has shape \(2, 1\)"),
            (dict(arrival=np.array([0, 2.5])), "EVFleet.arrival of session 1 = 2.5; allowed: an integer interval index"),
            (dict(energy_mwh=np.array([0.001, np.nan])), "EVFleet.energy_mwh of session 1 = nan; allowed: a finite number"),
            (dict(p_max_mw=np.array([np.inf, 0.007])), "EVFleet.p_max_mw of session 0 = inf"),
            (dict(departure=np.array([12, 300])),
             r"session 1 has arrival 3, departure 300; every session needs 0 <= arrival < departure <= n intervals \(n = 288\)"),
            (dict(energy_mwh=np.array([0.001, -0.002])),
             "session 1 has energy_mwh -0.002, p_max_mw 0.007; every session needs energy_mwh > 0"),
            (dict(energy_mwh=np.array([0.001, 1.0])),
             "1 sessions need more than p_max over their stay, first session 1: energy_mwh 1.0"),
            (dict(n=2.5), "EVFleet.n = 2.5; allowed: an integer >= 1"), (dict(n=True), "EVFleet.n = True"),
            (dict(dt_h=0.0), "EVFleet.dt_h = 0.0; allowed: a positive number of hours"),
            (dict(dt_h="1"), "EVFleet.dt_h = '1'"),
            (dict(arrival=np.array(["a", "b"])), "EVFleet.arrival = .*allowed: numbers")):
        with pytest.raises(ValueError, match=message):
            EVFleet(**{**one, **change})
    empty = np.zeros(0)
    with pytest.raises(ValueError, match="EVFleet has no sessions"):
        EVFleet(empty.astype(int), empty.astype(int), empty, empty, DT, N)
