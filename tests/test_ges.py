"""Generalised storage (issue 19, first part): the GES model, the battery as a GES, a TCL fleet's
mapping to a GES and the fleet simulated unit by unit against it."""

from __future__ import annotations

import numpy as np
import pytest

from bessgym.battery import Battery
from bessgym.ges import GES
from bessgym.tcl import TCLFleet, track

DT = 1 / 12
N = 288


def test_a_battery_as_a_ges_moves_its_soc_as_the_battery_does():
    battery = Battery(self_discharge_per_h=0.01)
    ges = GES.from_battery(battery, N, DT)
    rng = np.random.default_rng(0)
    charge, discharge = rng.uniform(0, 1, N) * (rng.uniform(size=N) < 0.5), rng.uniform(0, 1, N)
    e = np.empty(N + 1)
    e[0] = battery.e_initial_mwh
    for t in range(N):
        e[t + 1] = battery.next_energy(e[t], charge[t], discharge[t], DT)
    np.testing.assert_allclose(ges.soc_path(charge, discharge) * battery.energy_mwh, e, rtol=0, atol=1e-12)
    assert ges.feasible(np.zeros(N)) and not ges.feasible(np.full(N, 1.1))  # beyond the discharge power
    assert not ges.feasible(np.full(N, 1.0))  # within power, but empties the battery below its floor


@pytest.mark.parametrize("dt_h", [DT, 0.25])
def test_the_tcl_mapping_is_the_thermal_capacity_over_the_cop(dt_h):
    fleet = TCLFleet.callaway(1000, np.random.default_rng(0), spread=0.0)
    ges = fleet.ges(np.full(4, 32.0), dt_h)
    capacity = 1000 * 10.0 * 0.5 / 2.5 / 1e3  # N C (T_max - T_min) / eta, MWh
    assert ges.energy_mwh == pytest.approx(capacity, rel=0.011)
    assert ges.p_discharge_max_mw == pytest.approx(np.full(4, 1000 * (32 - 20) / (2.0 * 2.5) / 1e3))  # the baseline
    assert ges.p_charge_max_mw == pytest.approx(np.full(4, 1000 * 14 / 2.5 / 1e3) - ges.p_discharge_max_mw)


def feasible_reference(ges: GES, rng: np.random.Generator, share: float = 0.6, band: tuple = (0.2, 0.8)) -> np.ndarray:
    """A random net power path (MW, + = load reduction) within ``share`` of the power bounds that
    keeps the GES's SoC within ``band``."""
    ref, soc = np.zeros(ges.n_intervals), ges.soc_initial
    for t in range(ges.n_intervals):
        x = float(np.clip(rng.uniform(-share, share) * ges.p_discharge_max_mw[t], -share * ges.p_charge_max_mw[t],
                          share * ges.p_discharge_max_mw[t]))
        for candidate in (x, -x, 0.0):  # idle drifts towards SoC_B = 1/2, within the band
            after = ges.next_soc(soc, max(-candidate, 0.0), max(candidate, 0.0), t)
            if band[0] <= after <= band[1]:
                ref[t], soc = candidate, after
                break
    return ref


def test_a_thousand_air_conditioners_track_a_feasible_reference_and_refuse_one_beyond_the_bounds():
    rng = np.random.default_rng(1)
    fleet = TCLFleet.callaway(1000, rng)
    outdoor = np.full(N, 32.0)  # Callaway's design day
    ges = fleet.ges(outdoor, DT)
    power_range = float((ges.p_charge_max_mw + ges.p_discharge_max_mw).mean())
    reference = feasible_reference(ges, rng)
    assert ges.feasible(reference) and np.abs(reference).max() > 0.3 * ges.p_discharge_max_mw.min()
    followed = track(fleet, outdoor, DT, reference, np.random.default_rng(2))
    rmse = float(np.sqrt(np.mean((followed.net_mw - reference) ** 2)))
    assert rmse <= 0.05 * power_range and followed.comfort_violation_c == 0.0
    assert followed.temperature_c.shape == (N + 1, 1000)
    beyond = 1.2 * ges.p_discharge_max_mw  # shed 20% more than the fleet draws
    assert not ges.feasible(beyond)
    refused = track(fleet, outdoor, DT, beyond, np.random.default_rng(2))
    assert np.sqrt(np.mean((refused.net_mw - beyond) ** 2)) > 0.05 * power_range
    assert refused.comfort_violation_c == 0.0  # comfort is kept, the reference is not


def test_bad_ges_and_fleet_inputs_are_refused_by_name():
    ok = dict(dt_h=DT, energy_mwh=1.0, p_charge_max_mw=np.ones(3), p_discharge_max_mw=np.ones(3), soc_min=0.0,
              soc_max=1.0, leakage=0.0, drift=0.0, baseline_mw=0.0, soc_initial=0.5)
    GES(**ok)
    for change, message in ((dict(p_charge_max_mw=np.array([1.0, -1.0, 1.0])), "p_charge_max_mw must be >= 0"),
                            (dict(soc_min=0.9, soc_max=0.1), "soc_min exceeds soc_max"),
                            (dict(leakage=np.array([0.0, np.nan, 0.0])), "leakage holds NaN"),
                            (dict(soc_initial=1.5), "soc_initial 1.5 lies outside"),
                            (dict(energy_mwh=0.0), "energy_mwh must be positive"),
                            (dict(eta_charge=1.5), "eta_charge must lie in")):
        with pytest.raises(ValueError, match=message):
            GES(**{**ok, **change})
    with pytest.raises(ValueError, match="n must be >= 1"):
        TCLFleet.callaway(0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="spread must lie in"):
        TCLFleet.callaway(10, np.random.default_rng(0), spread=1.0)
    with pytest.raises(ValueError, match="outdoor_c and reference_mw must be 1-D of one length"):
        track(TCLFleet.callaway(10, np.random.default_rng(0)), np.full(3, 30.0), DT, np.zeros(4), np.random.default_rng(0))


def test_the_day_lp_plans_a_ges_and_the_fleet_follows_the_plan(caiso):
    """The builder takes a GES in place of the battery's physics: the oracle's plan for an
    air-conditioner fleet keeps within the fleet's GES, its SoC is the GES's own, and the 1,000
    simulated units deliver it when it keeps a 15% margin inside the aggregate bounds (at the full
    bounds the units that reach their limits first leave an RMSE of about 10% of the range)."""
    from baselines.day_lp import build_day_model, solve_exact
    from baselines.oracle import without_as
    from bessgym.sim import ScenarioArrays

    day = caiso.get(caiso.ids("test")[0])
    data = ScenarioArrays.of(day)
    data = data._replace(dt_h=DT, rt_price=np.repeat(data.rt_price, 3), fraction=np.zeros((N, 4)), mileage=np.zeros((N, 2)),
                         up_time=np.zeros(N))
    rng = np.random.default_rng(3)
    fleet = TCLFleet.callaway(1000, rng)
    outdoor = np.full(N, 32.0)
    ges = fleet.ges(outdoor, DT).with_margin(0.15)
    lossless = Battery(eta_charge=1.0, eta_discharge=1.0, degradation_usd_per_mwh=0.0)  # the money's parameters
    model = build_day_model(lossless, without_as(caiso.config.market_profile), data, storage=ges)
    result = solve_exact(model)
    assert result.status.ok
    base = result.z[model.cols["b"]]
    assert ges.feasible(base, tol=1e-7) and np.abs(base).max() > 0.5 * ges.p_discharge_max_mw.min()  # it uses the fleet
    soc = ges.soc_path(np.maximum(-base, 0.0), np.maximum(base, 0.0))
    np.testing.assert_allclose(result.z[model.cols["e"]] / ges.energy_mwh, soc[1:], atol=1e-7)
    followed = track(fleet, outdoor, DT, base, np.random.default_rng(4))
    power_range = float((ges.p_charge_max_mw + ges.p_discharge_max_mw).mean())
    assert np.sqrt(np.mean((followed.net_mw - base) ** 2)) <= 0.05 * power_range and followed.comfort_violation_c == 0.0
    with pytest.raises(ValueError, match="storage has 288 intervals"):
        build_day_model(lossless, caiso.config.market_profile, ScenarioArrays.of(day), storage=ges)


def test_a_ges_written_out_is_the_battery_in_the_oracle(caiso):
    """A GES built field by field from a battery (leakage from its self-discharge) plans the same
    day as the battery itself: the oracle's objective to 1e-9 and the same decisions. (With the
    battery's own physics both go through GES.from_battery: the oracle's replay tests and the
    proxies' LP fingerprints hold that path to the simulator and to the shipped LPs.)"""
    from baselines.day_lp import build_day_model, solve_exact
    from bessgym.sim import ScenarioArrays

    battery = Battery(self_discharge_per_h=0.02)
    day = caiso.get(caiso.ids("test")[10])
    data, market, n = ScenarioArrays.of(day), caiso.config.market_profile, day.n_intervals
    written = GES(dt_h=day.dt_h, energy_mwh=4.0, p_charge_max_mw=np.full(n, 1.0), p_discharge_max_mw=np.full(n, 1.0),
                  soc_min=0.05, soc_max=1.0, leakage=0.02 * day.dt_h, drift=0.0, baseline_mw=0.0, soc_initial=0.5,
                  eta_charge=0.95, eta_discharge=0.95, soc_target=0.5)
    plain_model = build_day_model(battery, market, data)
    plain = solve_exact(plain_model)
    model = build_day_model(battery, market, data, storage=written)
    result = solve_exact(model)
    assert result.objective == pytest.approx(plain.objective, rel=1e-9)
    np.testing.assert_allclose(model.base_mw(result.z), plain_model.base_mw(plain.z), atol=1e-6)
    np.testing.assert_allclose(model.bid(result.z).as_mw, plain_model.bid(plain.z).as_mw, atol=1e-6)
    with pytest.raises(ValueError, match="a GES plans a day"):
        build_day_model(battery, market, data, storage=written, fixed_bid=model.bid(result.z))
    with pytest.raises(ValueError, match="share must lie in"):
        written.with_margin(0.5)


def test_the_ges_constructors_build_each_kind_and_a_cooling_unit_offers_nothing_when_it_is_cool():
    import pandas as pd

    from bessgym.ev import EVFleet
    from bessgym.ges_data import load_ev_sessions

    fleet = TCLFleet.callaway(50, np.random.default_rng(3))
    outdoor = np.r_[np.full(12, 15.0), np.full(12, 30.0)]  # a cool morning, a hot afternoon
    ges = GES.from_tcl_fleet(fleet, outdoor, 1.0)
    np.testing.assert_array_equal(ges.p_charge_max_mw, fleet.ges(outdoor, 1.0).p_charge_max_mw)
    assert (ges.p_charge_max_mw[:12] == 0).all() and (ges.p_discharge_max_mw[:12] == 0).all()  # AC cannot heat
    assert (ges.p_charge_max_mw[12:] > 0).all() and (ges.p_discharge_max_mw[12:] > 0).all()
    sessions = load_ev_sessions()
    start = pd.Timestamp("2019-06-05", tz="America/Los_Angeles")
    ev = GES.from_ev_sessions(sessions, start, 24, 1.0)
    want = EVFleet.from_sessions(sessions, start, 24, 1.0).ges()
    for name in ("p_charge_max_mw", "p_discharge_max_mw", "soc_min", "soc_max", "baseline_mw", "drift"):
        np.testing.assert_array_equal(getattr(ev, name), getattr(want, name))
    assert (ev.soc_min <= ev.soc_max).all() and ev.soc_target == ev.soc_max[-1]


def test_bad_ges_shapes_types_and_legs_are_refused_by_name():
    ok = dict(dt_h=1.0, energy_mwh=1.0, p_charge_max_mw=np.ones(4), p_discharge_max_mw=np.ones(4), soc_min=0.0,
              soc_max=1.0, leakage=0.0, drift=0.0, baseline_mw=0.0, soc_initial=0.5)
    assert GES(**ok).soc_min.shape == (5,)  # a scalar is broadcast
    for change, message in ((dict(soc_min=np.zeros(4)), r"GES.soc_min has shape \(4,\); allowed: a scalar or \(5,\)"),
                            (dict(leakage=np.zeros(5)), r"GES.leakage has shape \(5,\); allowed: a scalar or \(4,\)"),
                            (dict(baseline_mw=np.zeros((1, 4))), r"GES.baseline_mw has shape \(1, 4\)"),
                            (dict(p_charge_max_mw=np.ones((2, 2))), r"GES.p_charge_max_mw has shape \(2, 2\); allowed: \(n,\)"),
                            (dict(p_charge_max_mw=np.ones(0)), r"GES.p_charge_max_mw has shape \(0,\)"),
                            (dict(p_charge_max_mw=1.0), r"GES.p_charge_max_mw has shape \(\)"),
                            (dict(drift=["a"] * 4), "GES.drift = .*allowed: numbers"),
                            (dict(energy_mwh="1"), "GES.energy_mwh must be positive .*'1'"),
                            (dict(dt_h=None), "GES.dt_h must be a positive number of hours, got None"),
                            (dict(soc_initial="0.5"), "GES.soc_initial = '0.5'; allowed: a finite number"),
                            (dict(soc_target=float("nan")), "GES.soc_target = nan")):
        with pytest.raises(ValueError, match=message):
            GES(**{**ok, **change})
    ges = GES(**ok)
    with pytest.raises(ValueError, match=r"charge_mw has shape \(3,\) \(finite: True\); allowed: 4 finite MW"):
        ges.soc_path(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match=r"discharge_mw has shape \(4,\) \(finite: False\)"):
        ges.soc_path(np.zeros(4), np.array([0.0, np.nan, 0.0, 0.0]))
    with pytest.raises(ValueError, match=r"net_mw has shape \(3,\)"):
        ges.feasible(np.zeros(3))


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(design_outdoor_c=float("nan")), "design_outdoor_c = nan; allowed: a finite temperature"),
    (dict(design_outdoor_c=80.0), "design_outdoor_c = 80.0: 100 rounds of draws found 0 of 3 units"),
    (dict(spread=0.0, design_outdoor_c=48.0), "allowed: up to about 47.75 degC"),
    (dict(setpoint_c=float("inf")), "setpoint_c = inf; allowed: a finite temperature"),
    (dict(deadband_c=0.0), "deadband_c = 0.0; allowed: finite and > 0 degC"),
    (dict(spread="0.2"), "spread must lie in"),
])
def test_a_fleet_that_cannot_be_drawn_is_refused_not_drawn_forever(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TCLFleet.callaway(3, np.random.default_rng(0), **kwargs)


@pytest.mark.parametrize("n", [2.5, True, "3", -1])
def test_a_fleet_size_that_is_not_a_count_is_refused(n):
    with pytest.raises(ValueError, match="n must be >= 1 units"):
        TCLFleet.callaway(n, np.random.default_rng(0))


def test_a_fleet_built_by_hand_is_checked_and_track_refuses_bad_references():
    fleet = TCLFleet.callaway(4, np.random.default_rng(0))
    fields = dict(r_c_per_kw=fleet.r_c_per_kw, c_kwh_per_c=fleet.c_kwh_per_c, p_thermal_kw=fleet.p_thermal_kw,
                  cop=fleet.cop, setpoint_c=fleet.setpoint_c, deadband_c=fleet.deadband_c)
    assert TCLFleet(**fields).n == 4
    for change, message in ((dict(r_c_per_kw=-fleet.r_c_per_kw), r"TCLFleet.r_c_per_kw\[0\] = -.*allowed: finite and > 0"),
                            (dict(cop=np.r_[fleet.cop[:3], np.nan]), r"TCLFleet.cop\[3\] = nan"),
                            (dict(deadband_c=np.zeros(4)), r"TCLFleet.deadband_c\[0\] = 0.0"),
                            (dict(setpoint_c=np.full(4, np.inf)), r"TCLFleet.setpoint_c\[0\] = inf; allowed: finite degC"),
                            (dict(p_thermal_kw=fleet.p_thermal_kw[:3]), r"TCLFleet.p_thermal_kw has shape \(3,\).*\(4\)"),
                            (dict(r_c_per_kw=2.0), r"TCLFleet.r_c_per_kw has shape \(\)")):
        with pytest.raises(ValueError, match=message):
            TCLFleet(**{**fields, **change})
    with pytest.raises(ValueError, match=r"outdoor_c has shape \(0,\)"):
        fleet.ges(np.zeros(0), 1.0)
    with pytest.raises(ValueError, match="dt_h = 0.0; allowed: a positive number of hours"):
        fleet.ges(np.full(3, 30.0), 0.0)
    outdoor, rng = np.full(3, 30.0), np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"reference_mw holds NaN or inf at \[1\]"):
        track(fleet, outdoor, DT, np.array([0.0, np.nan, 0.0]), rng)
    with pytest.raises(ValueError, match=r"outdoor_c holds NaN or inf at \[2\]"):
        track(fleet, np.array([30.0, 30.0, np.inf]), DT, np.zeros(3), rng)
    for substeps in (0, 2.5):
        with pytest.raises(ValueError, match=f"substeps = {substeps}; allowed: an integer >= 1"):
            track(fleet, outdoor, DT, np.zeros(3), rng, substeps=substeps)
