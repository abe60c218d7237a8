"""The deployment model matches the shipped PJM signals.

Tolerances: per-interval mean deployment up and down within 0.05 (fraction of the award) and
mileage per MW-hour within 10%, comparing 200 simulated days (reduced to 15-minute intervals)
with the whole signals. The refit reproduces the shipped parameters.
"""

from __future__ import annotations

import numpy as np
import pytest

from bessgym.deployment import (
    DeploymentConfig, SignalStats, draw_deployment, fit_regulation, load_signal, regulation_model,
)

@pytest.mark.parametrize("name", ["regd", "rega", "rega_test"])
def test_model_matches_the_signal(name):
    target = SignalStats.of(load_signal(name))
    up, down, mileage = target.mean_up, target.mean_down, target.mileage_per_h
    config = DeploymentConfig(regulation_signal=name)
    days = [draw_deployment(config, 96, 0.25, seed) for seed in range(200)]
    fraction = np.stack([d.fraction for d in days])
    sim_mileage = np.stack([d.mileage for d in days]).sum(-1).mean() * 4
    assert fraction[..., 0].mean() == pytest.approx(up, abs=0.05)
    assert fraction[..., 1].mean() == pytest.approx(down, abs=0.05)
    assert sim_mileage == pytest.approx(mileage, rel=0.10)
    assert fraction.min() >= 0 and fraction.max() <= 1


def test_rega_produces_sustained_one_sided_deployment():
    days = [draw_deployment(DeploymentConfig(regulation_signal="rega"), 96, 0.25, s).fraction for s in range(20)]
    one_sided = [np.mean(d[:, 1] > 0.3) for d in days]
    assert max(one_sided) > 0.9  # some day sits on the down side for over 90% of its intervals


def test_refit_reproduces_the_shipped_parameters():
    shipped = regulation_model("regd")
    refit = fit_regulation(load_signal("regd"))
    assert refit.mean == pytest.approx(shipped.mean, abs=1e-6)
    assert refit.sigma == pytest.approx(shipped.sigma, rel=1e-6)
    assert refit.phi == pytest.approx(shipped.phi, rel=1e-9)


def test_contingency_events_reach_full_deployment():
    config = DeploymentConfig(spin_events_per_day=5.0)
    spin = np.stack([draw_deployment(config, 96, 0.25, s).fraction[:, 2] for s in range(50)])
    assert spin.max() == 1.0 and (spin > 0).mean() > 0.05
    expected = 5.0 * (35 / 60) / 24  # rate x mean duration / day
    assert spin.mean() == pytest.approx(expected, rel=0.25)
