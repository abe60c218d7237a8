"""The chance constraints' ``k`` (baselines.chance.k_factor) by distributional assumption, with the
names of Qi et al. 2023 (IEEE Trans. Sustain. Energy 14(4), arXiv 2201.06407), Table II."""

import numpy as np
import pytest
from scipy.stats import norm
from scipy.stats import t as student_t

from baselines.chance import BOUNDS, ChanceConstrainedDA, k_factor

EPS = (0.01, 0.05, 0.1, 0.25, 0.45)

# Expected k at EPS. Table II's closed forms, evaluated by hand, each with the branch that holds
# (the paper's own table was not available here; Table II gives only the small-eps branches):
# none: sqrt((1-e)/e); symmetric: sqrt(1/(2e)) (e < 1/2);
# unimodal: sqrt((4-9e)/(9e)) for e <= 1/6, sqrt(3(1-e)/(1+3e)) above (e = 0.25, 0.45);
# symmetric_unimodal: sqrt(2/(9e)) for e <= 1/6, sqrt(3)(1-2e) above (e = 0.25, 0.45);
# normal: standard normal quantiles z_{1-e};
# student_t, 5 dof: t_5 quantiles 3.36493, 2.01505, 1.47588, 0.72669, 0.13218 times sqrt(3/5).
EXPECTED = {
    "none": (9.94987, 4.35890, 3.00000, 1.73205, 1.10554),
    "symmetric": (7.07107, 3.16228, 2.23607, 1.41421, 1.05409),
    "unimodal": (6.59124, 2.80872, 1.85592, 1.13389, 0.83793),
    "symmetric_unimodal": (4.71405, 2.10819, 1.49071, 0.86603, 0.17321),
    "normal": (2.32635, 1.64485, 1.28155, 0.67449, 0.12566),
    "student_t": (2.60646, 1.56085, 1.14321, 0.56289, 0.10238),
}


def k(eps: float, bound: str) -> float:
    return k_factor(eps, bound, dof=5 if bound == "student_t" else None)


@pytest.mark.parametrize("bound", BOUNDS)
def test_table_ii_values(bound):
    assert [k(e, bound) for e in EPS] == pytest.approx(EXPECTED[bound], abs=1e-3)


def test_issue_example_and_aliases():
    """The issue's figures at eps = 0.05 (unimodal once returned the symmetric-unimodal value)
    and the names used before: cantelli = none, gaussian = normal."""
    assert k_factor(0.05, "unimodal") == pytest.approx(2.809, abs=1e-3)
    assert k_factor(0.05, "symmetric_unimodal") == pytest.approx(2.108, abs=1e-3)
    for e in EPS:
        assert k_factor(e, "cantelli") == k_factor(e, "none")
        assert k_factor(e, "gaussian") == k_factor(e, "normal")
    assert ChanceConstrainedDA(eps=0.05).k == k_factor(0.05, "none")


def one_sided_bound(bound: str, kk: float) -> float:
    """The sharp upper bound on P(X - mu >= k sigma) of each class, as the literature states it."""
    if bound == "none":
        return 1 / (1 + kk**2)
    if bound == "symmetric":
        return min(0.5, 1 / (2 * kk**2))
    if bound == "unimodal":
        return max(4 / (9 * (1 + kk**2)), 4 / (3 * (1 + kk**2)) - 1 / 3)
    return 2 / (9 * kk**2) if kk >= 2 / np.sqrt(3) else 0.5 - kk / (2 * np.sqrt(3))


@pytest.mark.parametrize("bound", ["none", "symmetric", "unimodal", "symmetric_unimodal"])
def test_k_inverts_the_one_sided_bound(bound):
    """k(eps) is the least k whose bound is eps: each branch, both sides of 1/6."""
    for e in np.linspace(0.005, 0.495, 99):
        assert one_sided_bound(bound, k_factor(e, bound)) == pytest.approx(e, rel=1e-9)


@pytest.mark.parametrize("bound", BOUNDS)
def test_monotone_in_eps(bound):
    """Strictly decreasing on (0, 1/2), non-increasing on (0, 1): symmetric classes need no
    margin from 1/2 on (P(X > mu) <= 1/2), the normal and t quantiles turn negative."""
    below = [k(e, bound) for e in np.linspace(0.001, 0.499, 200)]
    assert np.all(np.diff(below) < 0)
    whole = [k(e, bound) for e in np.linspace(0.001, 0.999, 500)]
    assert np.all(np.diff(whole) <= 0)
    if bound in ("symmetric", "symmetric_unimodal"):
        assert k(0.5, bound) == k(0.9, bound) == 0.0
    if bound in ("none", "unimodal"):
        assert k(0.9, bound) > 0


def test_ordering_by_assumption():
    """More assumed, less margin: the classes nest (normal, t within symmetric unimodal, within
    both symmetric and unimodal, within all). Symmetric and unimodal are not ordered."""
    for e in np.linspace(0.001, 0.999, 500):
        ks = {b: k(e, b) for b in BOUNDS}
        assert ks["none"] >= ks["symmetric"] >= ks["symmetric_unimodal"]
        assert ks["none"] >= ks["unimodal"] >= ks["symmetric_unimodal"]
        assert ks["symmetric_unimodal"] >= max(ks["normal"], ks["student_t"])
    assert k(0.01, "symmetric") > k(0.01, "unimodal") and k(0.25, "symmetric") > k(0.25, "unimodal")
    assert k(0.45, "symmetric") > k(0.45, "unimodal")
    assert k(0.6, "unimodal") > k(0.6, "symmetric") == 0.0


@pytest.mark.parametrize("name", ["normal", "uniform", "student_t"])
def test_monte_carlo_violation_rate(name):
    """Samples standardised by their true mean and deviation: at mu + k sigma the violation rate
    stays within eps for the distribution-free and the (symmetric-)unimodal k (all three are
    symmetric unimodal), and is eps for the k of their own distribution."""
    rng = np.random.default_rng(19)
    n = 400_000
    if name == "normal":
        z = rng.standard_normal(n)
    elif name == "uniform":
        z = rng.uniform(-np.sqrt(3), np.sqrt(3), n)
    else:
        z = rng.standard_t(5, n) * np.sqrt(3 / 5)
    for e in EPS:
        rate = lambda kk: float(np.mean(z > kk))  # noqa: E731
        tolerance = 4 * np.sqrt(e * (1 - e) / n)
        for bound in ("none", "symmetric", "unimodal", "symmetric_unimodal"):
            assert rate(k_factor(e, bound)) <= e + tolerance
        if name != "uniform":
            assert rate(k(e, name)) == pytest.approx(e, abs=tolerance)


def test_unimodal_k_needs_the_unimodal_value():
    """A unimodal distribution that is not symmetric (mass 3/4 at its mode 0, 1/4 uniform on
    [0, 1]) exceeds mu + k sigma with probability 0.082 > 0.05 at the symmetric-unimodal k
    (2.108, what 'unimodal' returned before), and within 0.05 at the unimodal k (2.809)."""
    p = 0.25
    mu, sigma = p / 2, np.sqrt(p / 3 - p**2 / 4)

    def tail(kk: float) -> float:  # P(X > mu + k sigma), exact
        return p * max(0.0, 1 - (mu + kk * sigma))

    assert tail(k_factor(0.05, "symmetric_unimodal")) > 0.08
    assert tail(k_factor(0.05, "unimodal")) <= 0.05
    assert tail(k_factor(0.05, "none")) <= 0.05


def test_student_t_quantile_scaled_to_unit_variance():
    for e in EPS:
        for dof in (3, 5, 30):
            assert k_factor(e, "student_t", dof=dof) == pytest.approx(
                student_t.ppf(1 - e, dof) * np.sqrt((dof - 2) / dof), rel=1e-12)
    assert k_factor(0.05, "student_t", dof=1e6) == pytest.approx(norm.ppf(0.95), abs=1e-5)


@pytest.mark.parametrize("eps", [0.0, 1.0, -0.1, 1.5, float("nan")])
def test_eps_outside_unit_interval(eps):
    with pytest.raises(ValueError, match="eps must be within"):
        k_factor(eps, "none")


def test_bad_bound_and_dof():
    with pytest.raises(ValueError, match="bound 'chebyshev' is not one of 'none'.*'gaussian'"):
        k_factor(0.05, "chebyshev")
    with pytest.raises(ValueError, match="dof must be .* got None"):
        k_factor(0.05, "student_t")
    for dof in (2, 1.5, -3, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="dof must be"):
            k_factor(0.05, "student_t", dof=dof)
    with pytest.raises(ValueError, match="dof applies to bound='student_t' only"):
        k_factor(0.05, "normal", dof=5)
    with pytest.raises(ValueError, match="eps must be within"):
        ChanceConstrainedDA(eps=1.2)
