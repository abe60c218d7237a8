"""The deployment models reproduce the real PJM signals on what decides a battery's energy.

RegD: 200 drawn days (15-minute intervals, as the simulator sees them) against the 72 real hours:
mean deployment up and down within 0.03 of the award, 15-minute and hourly net deployment spread
within 15% and 25%, autocorrelation of 15-minute nets at 15 and 30 minutes within 0.1, mileage
within 10%. RegA: the fitted model with the level held at each real evening's own level against
the two evenings. The refit reproduces the shipped parameters; seeds give paths bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

from bessgym.deployment import (
    Deployment, DeploymentConfig, SignalStats, draw_deployment, fit_regulation, load_signal, regulation_model,
    stats_at_data_levels, sub_periods,
)


def interval_stats(days: list[Deployment]) -> dict[str, float]:
    """The statistics of :class:`SignalStats` that drawn 15-minute days carry."""
    nets = [d.fraction[:, 0] - d.fraction[:, 1] for d in days]
    hourly = np.concatenate([n.reshape(-1, 4).mean(1) for n in nets])
    deviations = [n - n.mean() for n in nets]
    variance = np.concatenate(deviations).var()
    acf = [np.concatenate([d[:-lag] * d[lag:] for d in deviations]).mean() / variance for lag in (1, 2)]
    return {"up": np.mean([d.fraction[:, 0].mean() for d in days]), "down": np.mean([d.fraction[:, 1].mean() for d in days]),
            "net15": np.concatenate(nets).std(), "net60": hourly.std(), "acf1": acf[0], "acf2": acf[1],
            "mileage": np.mean([d.mileage.sum() for d in days]) / 24}


def test_regd_draws_match_the_real_signal():
    data = SignalStats.of(load_signal("regd"))
    days = [draw_deployment(DeploymentConfig(regulation_signal="regd"), 96, 0.25, seed) for seed in range(200)]
    drawn = interval_stats(days)
    assert drawn["up"] == pytest.approx(data.mean_up, abs=0.03)
    assert drawn["down"] == pytest.approx(data.mean_down, abs=0.03)
    assert drawn["net15"] == pytest.approx(data.net15_std, rel=0.15)
    assert drawn["net60"] == pytest.approx(data.net60_std, rel=0.25)
    assert drawn["acf1"] == pytest.approx(data.acf15[0], abs=0.1)
    assert drawn["acf2"] == pytest.approx(data.acf15[1], abs=0.1)
    assert drawn["mileage"] == pytest.approx(data.mileage_per_h, rel=0.10)
    fraction = np.stack([d.fraction for d in days])
    assert fraction.min() >= 0 and fraction.max() <= 1


def test_rega_model_matches_the_real_evenings_at_their_levels():
    data = SignalStats.of(load_signal("rega"))
    model = stats_at_data_levels(regulation_model("rega"), "rega", repeats=10)
    assert model.mean_down == pytest.approx(data.mean_down, abs=0.06)
    assert model.mean_up == pytest.approx(data.mean_up, abs=0.03)
    assert model.mileage_per_h == pytest.approx(data.mileage_per_h, rel=0.10)
    assert model.net15_std == pytest.approx(data.net15_std, rel=0.15)
    assert model.acf15[0] == pytest.approx(data.acf15[0], abs=0.1)
    assert model.net60_over_half == pytest.approx(data.net60_over_half, abs=0.15)


def test_rega_produces_sustained_one_sided_deployment_on_either_side():
    days = [draw_deployment(DeploymentConfig(regulation_signal="rega"), 96, 0.25, s).fraction for s in range(40)]
    down_days = [np.mean(d[:, 1] > 0.3) for d in days]
    up_days = [np.mean(d[:, 0] > 0.3) for d in days]
    assert max(down_days) > 0.8 and max(up_days) > 0.8


def test_regd_is_energy_neutral_rega_is_not():
    def energy_4h(signal: str) -> float:
        days = [draw_deployment(DeploymentConfig(regulation_signal=signal), 96, 0.25, s).fraction for s in range(60)]
        return float(np.std([(d[i:i + 16, 0] - d[i:i + 16, 1]).sum() * 0.25 for d in days for i in range(0, 96, 16)]))

    assert energy_4h("regd") < 0.4 < 1.0 < energy_4h("rega")


def test_seeds_give_paths_bit_for_bit_and_generators_advance():
    config = DeploymentConfig(regulation_signal="regd")
    a, b, c = (draw_deployment(config, 96, 0.25, s) for s in (7, 7, 8))
    assert np.array_equal(a.fraction, b.fraction) and np.array_equal(a.up_time, b.up_time)
    assert not np.array_equal(a.fraction, c.fraction)
    rng = np.random.default_rng(3)
    first, second = draw_deployment(config, 96, 0.25, rng), draw_deployment(config, 96, 0.25, rng)
    assert not np.array_equal(first.fraction, second.fraction)


def test_refit_reproduces_the_shipped_parameters():
    for name in ("regd", "rega"):
        shipped, refit = regulation_model(name), fit_regulation(name)
        for field in ("mean", "sigma", "time_scale_s", "damping", "level_sigma"):
            assert getattr(refit, field) == pytest.approx(getattr(shipped, field), rel=1e-6, abs=1e-9), (name, field)


def test_sub_periods_rebuild_the_interval_means():
    day = draw_deployment(DeploymentConfig(regulation_signal="regd", spin_events_per_day=20.0), 96, 0.25, 1)
    w, up, down = sub_periods(day.fraction, day.up_time)
    signed = day.fraction * np.array([1.0, -1.0, 1.0, 1.0])
    np.testing.assert_allclose(w[:, None] * up + (1 - w)[:, None] * down, signed, atol=1e-12)
    assert np.all(np.abs(up) <= 1 + 1e-12) and np.all(np.abs(down) <= 1 + 1e-12)


def test_a_deployment_that_is_not_a_signal_is_named():
    with pytest.raises(ValueError, match="interval 1 is not a signal"):
        Deployment(np.array([[0.2, 0.2, 0, 0], [0.7, 0.6, 0, 0]]), np.zeros((2, 2)))


def test_contingency_events_reach_full_deployment():
    config = DeploymentConfig(regulation_signal="regd", spin_events_per_day=5.0)
    spin = np.stack([draw_deployment(config, 96, 0.25, s).fraction[:, 2] for s in range(50)])
    assert spin.max() == 1.0 and (spin > 0).mean() > 0.05
    expected = 5.0 * (35 / 60) / 24  # rate x mean duration / day
    assert spin.mean() == pytest.approx(expected, rel=0.25)
