"""The neighbourhood's homes (issue 20): devices stepped an hour at a time through bessgym's
battery and thermostat physics, EV sessions from ev2gym's home-charging statistics."""

from __future__ import annotations

import numpy as np
import pytest

from bessgym.community.household import EV_CHARGER_KW, EVSessions, HomeDevices, HomeState, step_homes

DAYS = 14
WEEKEND = np.array([d % 7 in (5, 6) for d in range(DAYS)])


@pytest.fixture(scope="module")
def devices():
    return HomeDevices.build(12, WEEKEND, np.random.default_rng(7))


def run(devices, rate, battery_kw, offset=0.0, outdoor=lambda t: 24 + 9 * np.sin((t % 24 - 9) / 24 * 2 * np.pi)):
    state, rows = HomeState.start(devices), []
    n = devices.n_homes
    for t in range(DAYS * 24):
        load, pv = np.full(n, 0.8), np.full(n, max(0.0, 3.0 * np.sin((t % 24 - 6) / 12 * np.pi)))
        before = state
        state, flows = step_homes(devices, state, t, load, pv, outdoor(t), np.full(n, offset), np.full(n, rate),
                                  np.full(n, battery_kw(t) if callable(battery_kw) else battery_kw))
        rows.append((before, state, flows, load, pv))
    return rows


def test_every_hour_balances_and_the_battery_moves_as_bessgym_s_battery(devices):
    b = devices.battery
    for before, after, f, load, pv in run(devices, 0.3, lambda t: -4.0 if t % 24 < 12 else 4.0):
        np.testing.assert_allclose(f.net_import_kwh, load + f.ac_kwh + f.ev_kwh + f.battery_charge_kwh
                                   - f.battery_discharge_kwh - pv, atol=1e-12)
        np.testing.assert_allclose(after.battery_mwh, b.next_energy(before.battery_mwh, f.battery_charge_kwh / 1e3,
                                                                    f.battery_discharge_kwh / 1e3, 1.0), atol=1e-12)
        assert (after.battery_mwh >= b.e_min_mwh - 1e-12).all() and (after.battery_mwh <= b.e_max_mwh + 1e-12).all()
        assert (f.battery_charge_kwh <= 5.0 + 1e-9).all() and (f.battery_discharge_kwh <= 5.0 + 1e-9).all()


def test_every_ev_gets_its_energy_even_when_asked_not_to_charge(devices):
    ev = devices.ev
    rows = run(devices, 0.0, 0.0)
    delivered = sum(f.ev_kwh for _, _, f, _, _ in rows)
    unmet = sum(f.ev_unmet_kwh for _, _, f, _, _ in rows)
    done = (ev.arrival >= 0) & (ev.departure <= DAYS * 24)
    assert unmet.max() <= 1e-9
    np.testing.assert_allclose(delivered, np.where(done, ev.energy_kwh, 0.0).sum(1), atol=1e-9)  # rate 0: only what must
    assert max(f.ev_kwh.max() for _, _, f, _, _ in rows) <= EV_CHARGER_KW + 1e-9


def test_sessions_do_not_overlap_and_fit_their_charger(devices):
    ev = devices.ev
    real = ev.arrival >= 0
    assert (ev.departure[real] > ev.arrival[real]).all()
    assert (ev.energy_kwh[real] <= EV_CHARGER_KW * (ev.departure - ev.arrival)[real] + 1e-9).all()
    for h in range(devices.n_homes):
        spans = sorted((a, d) for a, d in zip(ev.arrival[h], ev.departure[h]) if a >= 0)
        assert all(d <= a2 for (_, d), (a2, _) in zip(spans, spans[1:]))
    assert 0.3 < real.mean() < 0.7  # 3.5 days a week


def test_the_thermostat_cools_to_its_target_when_it_can_and_counts_what_it_cannot():
    devices = HomeDevices.build(12, WEEKEND, np.random.default_rng(7))
    warm = run(devices, 0.0, 0.0, offset=-1.0, outdoor=lambda t: 35.0)
    assert max(abs(s.indoor_c - 23.0).max() for _, s, _, _, _ in warm[24:]) < 1e-6  # held at setpoint - 1
    assert all(f.discomfort_c.max() == 0 for _, _, f, _, _ in warm)
    hot = run(devices, 0.0, 0.0, offset=3.0, outdoor=lambda t: 35.0)  # let it drift 3 degC above: discomfort
    assert max(f.discomfort_c.max() for _, _, f, _, _ in hot[24:]) == pytest.approx(2.5, abs=1e-6)
    cool = run(devices, 0.0, 0.0, outdoor=lambda t: 15.0)  # no cooling needed: the unit stays off
    assert max(f.ac_kwh.max() for _, _, f, _, _ in cool) == 0.0


def test_bad_session_settings_are_refused_by_name():
    with pytest.raises(ValueError, match="days_per_week"):
        EVSessions.draw(3, WEEKEND, np.random.default_rng(0), days_per_week=0)
    with pytest.raises(ValueError, match="charger_kw"):
        EVSessions.draw(3, WEEKEND, np.random.default_rng(0), charger_kw=-1)
