"""The uncertain bounds of a generalised storage (issue 19, ``bessgym.ddu``; Qi et al. 2023):
validation, the realised bounds' structure (they shrink towards the baseline SoC path as the
response degree grows and the incentive falls), the Binomial share taking part, the chance
levels and Monte Carlo k, and the response degree. Table II's closed-form k for the five
gammas and six classes are pinned in ``tests/test_chance_k.py``; here the Monte Carlo k of
``k_values`` is checked against them."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from baselines.chance import k_factor
from bessgym.battery import Battery
from bessgym.ddu import (BaseDraws, Bounds, Uncertainty, baseline_soc, chance_bounds, draw_bounds, k_values, mean_bounds,
                          response_degree, spread_bounds)
from bessgym.ev import EVFleet
from bessgym.ges import GES
from bessgym.tcl import TCLFleet

N = 24
GAMMAS = (0.01, 0.05, 0.1, 0.25, 0.45)


def hand_ges() -> GES:
    """A load-like GES whose baseline SoC path moves (drift varies), inside [0.1, 0.9]."""
    t = np.arange(N)
    return GES(dt_h=1.0, energy_mwh=2.0, p_charge_max_mw=1.5 + 0.5 * np.sin(t), p_discharge_max_mw=0.8 + 0.2 * np.cos(t),
               soc_min=np.full(N + 1, 0.1), soc_max=np.full(N + 1, 0.9), leakage=np.full(N, 0.05),
               drift=0.025 + 0.01 * np.sin(t / 3), baseline_mw=0.8 + 0.2 * np.cos(t), soc_initial=0.5)


def tcl_ges() -> GES:
    return TCLFleet.callaway(200, np.random.default_rng(3)).ges(np.linspace(18, 33, N), 1.0)


def ev_ges() -> GES:
    arrival = np.array([0, 2, 5, 7, 9, 12])
    departure = np.array([10, 9, 16, 20, 24, 18])
    return EVFleet(arrival, departure, np.array([0.02, 0.03, 0.01, 0.04, 0.02, 0.015]), np.full(6, 0.0066), 1.0, N).ges()


GES_MAKERS = {"hand": hand_ges, "tcl": tcl_ges, "ev": ev_ges}


def base(n_draws: int = 4000, seed: int = 1) -> BaseDraws:
    return BaseDraws.draw(n_draws, N, np.random.default_rng(seed))


# --- Uncertainty: every field refused with its name and what is allowed ---------------------------

BAD_FIELDS = [
    ("units", 0, "an integer >= 1"), ("units", 2.5, "an integer >= 1"), ("units", float("inf"), "an integer >= 1"),
    ("availability", 0.0, "in (0, 1]"), ("availability", 1.01, "in (0, 1]"), ("availability", float("nan"), "in (0, 1]"),
    ("baseline_cv", -0.1, "in [0, 1)"), ("baseline_cv", 1.0, "in [0, 1)"),
    ("incentive_ref_usd_per_mwh", 0.0, "> 0 $/MWh"), ("incentive_ref_usd_per_mwh", float("inf"), "> 0 $/MWh"),
    ("lam", -0.01, "in [0, 1]"), ("lam", 1.5, "in [0, 1]"),
    ("beta", -1.0, ">= 0"), ("beta", float("inf"), ">= 0"),
    ("discomfort_cv", -0.5, "in [0, 5)"), ("discomfort_cv", 5.0, "in [0, 5)"),
    ("deadband", -0.1, "in [0, 1] (SoC)"), ("deadband", 1.2, "in [0, 1] (SoC)"),
]


@pytest.mark.parametrize(("field", "value", "allowed"), BAD_FIELDS)
def test_each_bad_uncertainty_field_is_refused_by_name(field, value, allowed):
    kwargs = {"units": 10, field: value}
    with pytest.raises(ValueError) as err:
        Uncertainty(**kwargs)
    message = str(err.value)
    assert f"Uncertainty.{field} = " in message and allowed in message


def test_good_uncertainty_edges_are_accepted_and_the_incentive_is_checked():
    Uncertainty(units=1, availability=1.0, baseline_cv=0.0, lam=0.0, beta=0.0, discomfort_cv=0.0, deadband=0.0)
    Uncertainty(units=3, lam=1.0, deadband=1.0)
    unc = Uncertainty(units=10, availability=0.8, incentive_ref_usd_per_mwh=20.0)
    assert unc.participation(10.0) == pytest.approx(0.4) and unc.participation(40.0) == pytest.approx(0.8)
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="incentive_usd_per_mwh = .*allowed: >= 0"):
            unc.participation(bad)
    with pytest.raises(ValueError, match="n_draws = 0; allowed: >= 1"):
        BaseDraws.draw(0, N, np.random.default_rng(0))


# --- draw_bounds -------------------------------------------------------------------------------------

def test_no_rd_and_zero_rd_mean_no_discomfort():
    ges, unc, b = hand_ges(), Uncertainty(units=50, beta=2.0, discomfort_cv=1.0), base()
    none, zero = draw_bounds(ges, unc, b, 10.0, None), draw_bounds(ges, unc, b, 10.0, np.zeros(N))
    for name in Bounds.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(none, name), getattr(zero, name), err_msg=name)


@pytest.mark.parametrize("kind", list(GES_MAKERS))
def test_a_certain_fleet_at_the_reference_incentive_gets_its_nominal_bounds(kind):
    ges = GES_MAKERS[kind]()
    unc = Uncertainty(units=7, availability=1.0, baseline_cv=0.0)
    for incentive in (10.0, 25.0):  # at or above the reference, everyone takes part
        got = draw_bounds(ges, unc, base(300), incentive, None)
        for name in ("p_charge_max_mw", "p_discharge_max_mw", "soc_min", "soc_max", "baseline_mw"):
            assert getattr(got, name).shape == (300, len(getattr(ges, name)))
            np.testing.assert_allclose(getattr(got, name), np.broadcast_to(getattr(ges, name), getattr(got, name).shape),
                                       rtol=0, atol=1e-12, err_msg=name)


def _assert_shrinks(wide: Bounds, narrow: Bounds, tol: float = 1e-12) -> None:
    """Per draw: ``narrow``'s power bounds no larger and its SoC range inside ``wide``'s."""
    assert (narrow.p_charge_max_mw <= wide.p_charge_max_mw + tol).all()
    assert (narrow.p_discharge_max_mw <= wide.p_discharge_max_mw + tol).all()
    assert (narrow.soc_max <= wide.soc_max + tol).all() and (narrow.soc_min >= wide.soc_min - tol).all()


@pytest.mark.parametrize("kind", list(GES_MAKERS))
def test_bounds_shrink_per_draw_as_the_response_degree_grows(kind):
    ges, b = GES_MAKERS[kind](), base()
    unc = Uncertainty(units=40, beta=0.8)
    rng = np.random.default_rng(5)
    rd = np.cumsum(rng.uniform(0, 0.05, N))
    levels = [draw_bounds(ges, unc, b, 10.0, scale * rd) for scale in (0.0, 0.5, 1.0, 2.0, 40.0)]
    for wide, narrow in zip(levels, levels[1:]):
        _assert_shrinks(wide, narrow)
    assert (levels[-1].p_charge_max_mw.sum() < levels[0].p_charge_max_mw.sum())  # and they do shrink
    # beta rd large enough drops everyone: the bounds collapse on the baseline path
    gone = draw_bounds(ges, Uncertainty(units=40, beta=1e6, discomfort_cv=0.0), b, 10.0, np.ones(N))
    assert np.abs(gone.p_charge_max_mw).max() == 0 and np.abs(gone.p_discharge_max_mw).max() == 0
    np.testing.assert_allclose(gone.soc_max[:, 1:], np.broadcast_to(baseline_soc(ges)[1:], (b.n_draws, N)), atol=1e-12)
    np.testing.assert_allclose(gone.soc_min[:, 1:], gone.soc_max[:, 1:], atol=1e-12)


@pytest.mark.parametrize("kind", list(GES_MAKERS))
def test_bounds_shrink_per_draw_as_the_incentive_falls_below_the_reference(kind):
    ges, b = GES_MAKERS[kind](), base()
    unc = Uncertainty(units=25, incentive_ref_usd_per_mwh=10.0)
    rd = np.linspace(0.0, 0.3, N)
    levels = [draw_bounds(ges, unc, b, c, rd) for c in (30.0, 10.0, 8.0, 5.0, 2.0, 0.0)]
    for name in Bounds.__dataclass_fields__:  # above the reference makes no difference
        np.testing.assert_array_equal(getattr(levels[0], name), getattr(levels[1], name))
    for wide, narrow in zip(levels, levels[1:]):
        _assert_shrinks(wide, narrow)
    assert levels[-1].p_discharge_max_mw.max() == 0.0  # nobody takes part for nothing
    assert levels[3].p_discharge_max_mw.mean() < levels[1].p_discharge_max_mw.mean()


@pytest.mark.parametrize("kind", list(GES_MAKERS))
def test_soc_bounds_bracket_the_baseline_path_and_power_bounds_stay_nonnegative(kind):
    ges, b = GES_MAKERS[kind](), base()
    path = baseline_soc(ges)
    assert path.shape == (N + 1,) and path[0] == ges.soc_initial
    np.testing.assert_allclose(path, ges.soc_path(np.zeros(N), np.zeros(N)), atol=0)
    rng = np.random.default_rng(9)
    for unc, incentive, rd in ((Uncertainty(units=1, baseline_cv=0.5), 10.0, None),
                               (Uncertainty(units=300, baseline_cv=0.3, beta=3.0, discomfort_cv=2.0), 4.0,
                                np.cumsum(rng.uniform(0, 0.1, N))),
                               (Uncertainty(units=12, availability=0.5), 1.0, rng.uniform(0, 2, N))):
        got = draw_bounds(ges, unc, b, incentive, rd)
        assert (got.soc_min <= path + 1e-12).all() and (got.soc_max >= path - 1e-12).all()
        assert (got.soc_min >= ges.soc_min - 1e-12).all() and (got.soc_max <= ges.soc_max + 1e-12).all()
        np.testing.assert_allclose(got.soc_min[:, 0], ges.soc_min[0], atol=1e-15)  # the start is known
        np.testing.assert_allclose(got.soc_max[:, 0], ges.soc_max[0], atol=1e-15)
        assert (got.p_charge_max_mw >= 0).all() and (got.p_discharge_max_mw >= 0).all()
        assert np.isfinite(got.p_charge_max_mw).all() and (got.baseline_mw >= 0).all()


def test_the_baseline_error_has_mean_one_and_trades_discharge_room_for_charge_room():
    ges = hand_ges()
    unc = Uncertainty(units=1, availability=1.0, baseline_cv=0.2)
    got = draw_bounds(ges, unc, base(40000), 10.0)
    error = got.baseline_mw / ges.baseline_mw
    assert error.mean() == pytest.approx(1.0, abs=5 * 0.2 / np.sqrt(40000 * N))
    assert error.std() == pytest.approx(0.2, rel=0.03)
    np.testing.assert_allclose(got.p_discharge_max_mw, error * ges.p_discharge_max_mw, rtol=1e-12)
    np.testing.assert_allclose(got.p_charge_max_mw, np.maximum(ges.p_charge_max_mw + (1 - error) * ges.baseline_mw, 0),
                               rtol=1e-12)


def test_bad_draw_inputs_are_refused():
    ges, unc = hand_ges(), Uncertainty(units=5)
    with pytest.raises(ValueError, match="base draws cover 23 intervals; the GES has 24"):
        draw_bounds(ges, unc, BaseDraws.draw(10, N - 1, np.random.default_rng(0)), 10.0)
    nan = np.zeros(N)
    nan[3] = np.nan
    for rd in (np.zeros(N - 1), -np.ones(N), nan):
        with pytest.raises(ValueError, match="rd must be 24 finite values >= 0"):
            draw_bounds(ges, unc, base(10), 10.0, rd)
    with pytest.raises(ValueError, match="share one grid"):
        draw_bounds([ges, GES.from_battery(Battery(), N - 1, 1.0)], unc, base(10), 10.0)


def test_several_ges_drawn_together_get_each_its_own_bounds_for_the_same_draws():
    many = [hand_ges(), tcl_ges(), ev_ges()]
    unc, b = Uncertainty(units=30, beta=1.5), base(500)
    rd = np.random.default_rng(4).uniform(0, 0.4, (3, N))
    for r in (None, rd):
        together = draw_bounds(many, unc, b, 8.0, r)
        for j, g in enumerate(many):
            alone = draw_bounds(g, unc, b, 8.0, None if r is None else r[j])
            for name in Bounds.__dataclass_fields__:
                assert getattr(together, name).shape == (3,) + getattr(alone, name).shape
                np.testing.assert_allclose(getattr(together, name)[j], getattr(alone, name), rtol=0, atol=1e-15)


# --- the Binomial share ------------------------------------------------------------------------------

@pytest.mark.parametrize(("units", "availability", "incentive"), [(1, 0.97, 10.0), (1, 0.6, 5.0), (7, 0.9, 10.0),
                                                                  (200, 0.97, 6.0), (1000, 0.5, 10.0)])
def test_the_share_taking_part_is_binomial(units, availability, incentive):
    ges = hand_ges()
    unc = Uncertainty(units=units, availability=availability, baseline_cv=0.0)
    draws = 20000
    share = draw_bounds(ges, unc, base(draws, seed=units), incentive).p_discharge_max_mw / ges.p_discharge_max_mw
    p = unc.participation(incentive)
    np.testing.assert_allclose(share * units, np.round(share * units), atol=1e-9)  # whole units
    assert share.min() >= 0 and share.max() <= 1
    sd = np.sqrt(p * (1 - p) / units)
    assert share.mean() == pytest.approx(p, abs=4 * sd / np.sqrt(draws * N))
    assert share.std() == pytest.approx(sd, rel=0.03)
    if units == 1:
        assert set(np.unique(share)) == {0.0, 1.0}


# --- chance levels and the Monte Carlo k -------------------------------------------------------------

def normal_bounds(draws: int, rng: np.random.Generator, sample=None) -> tuple[Bounds, dict]:
    """Bounds whose every entry is mean + sd x a sample (standard normal unless ``sample``) over
    ``draws`` draws; with the means and deviations used."""
    sample = sample or (lambda shape: rng.standard_normal(shape))
    spec = {"p_charge_max_mw": (5.0, 0.5, N), "p_discharge_max_mw": (3.0, 0.2, N), "soc_min": (0.2, 0.01, N + 1),
            "soc_max": (0.8, 0.02, N + 1), "baseline_mw": (1.0, 0.1, N)}
    return Bounds(**{k: mu + sd * sample((draws, size)) for k, (mu, sd, size) in spec.items()}), spec


@pytest.mark.parametrize("gamma", GAMMAS)
def test_chance_levels_are_the_gamma_quantiles_in_the_tightening_direction(gamma):
    draws = 100_000
    bounds, spec = normal_bounds(draws, np.random.default_rng(11))
    level = chance_bounds(bounds, gamma)
    z = norm.ppf(1 - gamma)
    q_sd = np.sqrt(gamma * (1 - gamma) / draws) / norm.pdf(z)  # a quantile's MC error, in sds
    for name, sign in (("p_charge_max_mw", -1), ("p_discharge_max_mw", -1), ("soc_min", 1), ("soc_max", -1)):
        mu, sd, size = spec[name]
        got = getattr(level, name)
        assert got.shape == (1, size)
        np.testing.assert_allclose(got[0], mu + sign * z * sd, atol=5 * q_sd * sd, rtol=0, err_msg=name)
        broken = getattr(bounds, name) < got if sign < 0 else getattr(bounds, name) > got
        assert broken.mean() == pytest.approx(gamma, abs=1e-3)  # a plan at the level breaks it gamma of the time
    np.testing.assert_allclose(level.baseline_mw[0], bounds.baseline_mw.mean(0), rtol=1e-12)


@pytest.mark.parametrize("gamma", [0.0, 0.5, -0.1, 0.7, float("nan")])
def test_chance_levels_refuse_a_gamma_outside_the_half_interval(gamma):
    bounds, _ = normal_bounds(10, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"gamma = .*allowed: in \(0, 0.5\)"):
        chance_bounds(bounds, gamma)


@pytest.mark.parametrize("gamma", GAMMAS)
def test_monte_carlo_k_matches_table_ii_for_the_distribution_sampled(gamma):
    """On normal samples k_values is the normal class's k (1.645 at 0.05); on unit-variance
    Student t(5) samples the t class's; on uniform samples (symmetric unimodal) it stays within
    the distribution-free classes' k."""
    draws = 80_000
    rng = np.random.default_rng(int(gamma * 1000))
    z = norm.ppf(1 - gamma)
    tol = 6 * np.sqrt(gamma * (1 - gamma) / draws) / norm.pdf(z)
    ks = k_values(normal_bounds(draws, rng)[0], gamma)
    assert ks.shape == (4, N)
    np.testing.assert_allclose(ks, k_factor(gamma, "normal"), atol=tol)
    t5 = normal_bounds(draws, rng, lambda shape: rng.standard_t(5, shape) * np.sqrt(3 / 5))[0]
    np.testing.assert_allclose(k_values(t5, gamma), k_factor(gamma, "student_t", dof=5), atol=2 * tol)
    uniform = k_values(normal_bounds(draws, rng, lambda shape: rng.uniform(-np.sqrt(3), np.sqrt(3), shape))[0], gamma)
    np.testing.assert_allclose(uniform, np.sqrt(3) * (1 - 2 * gamma), atol=tol)  # the uniform's own quantile
    for cls in ("symmetric_unimodal", "unimodal", "symmetric", "none"):
        assert (uniform <= k_factor(gamma, cls) + tol).all(), cls


def test_k_is_zero_where_a_bound_does_not_vary():
    ges = hand_ges()
    certain = draw_bounds(ges, Uncertainty(units=3, availability=1.0, baseline_cv=0.0), base(500), 10.0)
    np.testing.assert_array_equal(k_values(certain, 0.05), np.zeros((4, N)))


def test_spread_levels_are_k_sigma_inside_the_mean_and_match_the_quantile_for_a_normal():
    draws, gamma = 100_000, 0.05
    bounds, _ = normal_bounds(draws, np.random.default_rng(21))
    k = k_factor(gamma, "normal")
    spread, mean, level = spread_bounds(bounds, k), mean_bounds(bounds), chance_bounds(bounds, gamma)
    for name, sign in (("p_charge_max_mw", -1), ("p_discharge_max_mw", -1), ("soc_min", 1), ("soc_max", -1)):
        values = getattr(bounds, name)
        np.testing.assert_allclose(getattr(mean, name), values.mean(0, keepdims=True), rtol=1e-12)
        np.testing.assert_allclose(getattr(spread, name), values.mean(0, keepdims=True) + sign * k * values.std(0, keepdims=True),
                                   rtol=1e-12)
        np.testing.assert_allclose(getattr(spread, name), getattr(level, name), atol=0.02 * values.std(0).max())
    np.testing.assert_allclose(spread.baseline_mw, mean.baseline_mw, rtol=0)


def test_levels_of_several_ges_drawn_together_are_each_ges_own():
    many = [hand_ges(), tcl_ges(), ev_ges()]
    unc, b = Uncertainty(units=30), base(2000)
    together = draw_bounds(many, unc, b, 10.0)
    for level in (lambda x: chance_bounds(x, 0.1), mean_bounds, lambda x: spread_bounds(x, 1.3)):
        stacked = level(together)
        for j, g in enumerate(many):
            alone = level(draw_bounds(g, unc, b, 10.0))
            for name in Bounds.__dataclass_fields__:
                assert getattr(stacked, name).shape == (3,) + getattr(alone, name).shape
                np.testing.assert_allclose(getattr(stacked, name)[j], getattr(alone, name), rtol=0, atol=1e-12)


# --- the response degree -----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", list(GES_MAKERS))
def test_the_zero_schedule_on_the_baseline_path_has_no_response(kind):
    ges = GES_MAKERS[kind]()
    zero = np.zeros(N)
    for unc in (Uncertainty(units=5), Uncertainty(units=5, lam=0.0, deadband=0.0), Uncertainty(units=5, lam=1.0)):
        rd = response_degree(ges, zero, zero, baseline_soc(ges), unc)
        assert rd.shape == (N,) and np.isfinite(rd).all()
        np.testing.assert_array_equal(rd, zero)


def test_lam_one_is_the_accumulated_use_only_and_grows_with_use():
    ges = ev_ges()  # power bounds 0 in some intervals: no division by zero
    rng = np.random.default_rng(2)
    charge = rng.uniform(0, 1, N) * ges.p_charge_max_mw
    discharge = rng.uniform(0, 1, N) * ges.p_discharge_max_mw
    far = np.clip(baseline_soc(ges) + 0.4, 0, 1)  # the SoC term must not count
    unc = Uncertainty(units=5, lam=1.0)
    use = np.divide(charge, ges.p_charge_max_mw, out=np.zeros(N), where=ges.p_charge_max_mw > 0) + \
        np.divide(discharge, ges.p_discharge_max_mw, out=np.zeros(N), where=ges.p_discharge_max_mw > 0)
    rd = response_degree(ges, charge, discharge, far, unc)
    np.testing.assert_allclose(rd, np.cumsum(use) / N, rtol=1e-12)
    assert (np.diff(rd) >= 0).all() and rd[-1] > 0
    np.testing.assert_allclose(response_degree(ges, 2 * charge, 2 * discharge, far, unc), 2 * rd, rtol=1e-12)
    full = response_degree(ges, ges.p_charge_max_mw, ges.p_discharge_max_mw, far, unc)
    assert (full >= rd).all() and full[-1] <= 2.0 + 1e-12


def test_the_soc_term_respects_the_deadband():
    ges = hand_ges()
    path, zero = baseline_soc(ges), np.zeros(N)
    unc = Uncertainty(units=5, lam=0.0, deadband=0.2)
    offsets = np.where(np.arange(N + 1) % 2 == 0, 1, -1) * np.linspace(0, 0.25, N + 1)  # both sides of the path
    rd = response_degree(ges, zero, zero, path + offsets, unc)
    np.testing.assert_allclose(rd, np.maximum(np.abs(offsets[1:]) - 0.1, 0.0), atol=1e-12)
    assert (rd[np.abs(offsets[1:]) <= 0.1] == 0).all() and (rd[np.abs(offsets[1:]) > 0.1 + 1e-9] > 0).all()
    half = response_degree(ges, zero, zero, path + offsets, Uncertainty(units=5, lam=0.5, deadband=0.2))
    np.testing.assert_allclose(half, 0.5 * rd, atol=1e-12)


@pytest.mark.parametrize("units", [None, "8", 2.5, True])
def test_units_of_the_wrong_type_are_refused_by_name(units):
    with pytest.raises(ValueError, match="Uncertainty.units"):
        Uncertainty(units=units)


def test_bad_incentives_draw_counts_and_stacked_rd_are_refused_by_name():
    unc = Uncertainty(units=10)
    for bad in ("5", None, float("inf")):
        with pytest.raises(ValueError, match="incentive_usd_per_mwh = .*allowed: >= 0"):
            unc.participation(bad)
    for args, message in (((10, 0), "n_intervals = 0; allowed: >= 1"), ((10, -1), "n_intervals = -1"),
                          ((2.5, N), "n_draws = 2.5; allowed: >= 1 \\(an integer\\)"), ((10, True), "n_intervals = True")):
        with pytest.raises(ValueError, match=message):
            BaseDraws.draw(*args, np.random.default_rng(0))
    ges = hand_ges()
    with pytest.raises(ValueError, match=r"rd has shape \(2, 23\); allowed: \(2, 24\), one row per GES"):
        draw_bounds([ges, ges], unc, base(10), 10.0, np.zeros((2, N - 1)))
    with pytest.raises(ValueError, match="allowed: a GES or a non-empty sequence of them"):
        draw_bounds([], unc, base(10), 10.0)
