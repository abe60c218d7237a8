"""Uncertain GES bounds, decision-independent and decision-dependent (Qi et al. 2023).

A fleet's GES bounds (``bessgym.ges.GES``) are what it offers when every customer takes part and
behaves as forecast. What it really offers on a day is a draw. With ``b`` the SoC the fleet
keeps when not dispatched (its baseline path, :func:`baseline_soc`), per interval ``t``:

    soc_max~ = b + Z (soc_max - b),      soc_min~ = b - Z (b - soc_min)
    P_d~     = Z L P_d,                  P_c~     = Z max(P_c + (1 - L) P_B, 0)
    Z        = A (1 - min(D, 1))

* decision-independent (DIU): ``A`` the share of the fleet's ``units`` that take part, Binomial
  with probability ``availability x g``, ``g = min(c^s / c_ref, 1)`` the incentive effect (an
  incentive ``c^s`` below the reference ``c_ref`` $/MWh keeps that share of customers out);
  ``L`` the baseline's error, lognormal with mean 1 and coefficient of variation
  ``baseline_cv`` (a baseline above its forecast leaves more to curtail, less to add);
* decision-dependent (DDU): ``D`` the share that drops out from discomfort, lognormal with mean
  ``beta RD_t`` and coefficient of variation ``discomfort_cv``, where the response degree

    RD_t = lam sum_{tau <= t} (P_c/P_c_max + P_d/P_d_max)_tau / T + (1 - lam) max(|soc_t - b_t| - deadband / 2, 0)

  grows with how hard the fleet has been used so far and how far its SoC sits from the
  baseline's (the paper's RD, accumulated to ``t``; ``soc_t`` the SoC at the interval's end).

The paper gives no values for ``lam``, ``beta`` or the spreads; :class:`Uncertainty`'s defaults
are this project's choice (documented in README's generalised-storage section). Draws are
vectorised over ``(draws, intervals)`` and take their randomness from a :class:`BaseDraws`, so
that an iterative method (Algorithm 1) sees the same noise at every decision.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from bessgym.ges import GES, is_number


@dataclass(frozen=True)
class Uncertainty:
    """How uncertain a fleet's bounds are (see the module docstring). ``units`` the number of
    customers (1 for a single unit); ``availability`` each one's chance of taking part in an
    interval; ``baseline_cv``; ``incentive_ref_usd_per_mwh`` c_ref; ``lam`` (in [0, 1]),
    ``beta`` (>= 0), ``discomfort_cv`` and ``deadband`` (SoC, in [0, 1]) of the DDU."""

    units: int
    availability: float = 0.97
    baseline_cv: float = 0.10
    incentive_ref_usd_per_mwh: float = 10.0
    lam: float = 0.5
    beta: float = 0.6
    discomfort_cv: float = 0.5
    deadband: float = 0.2

    def __post_init__(self) -> None:
        if isinstance(self.units, bool) or not isinstance(self.units, (int, np.integer)) or self.units < 1:
            raise ValueError(f"Uncertainty.units = {self.units!r}; allowed: an integer >= 1")
        for name in ("availability", "baseline_cv", "incentive_ref_usd_per_mwh", "lam", "beta", "discomfort_cv", "deadband"):
            if isinstance(getattr(self, name), bool) or not isinstance(getattr(self, name), (int, float, np.number)):
                raise ValueError(f"Uncertainty.{name} = {getattr(self, name)!r}; allowed: a number")
        checks = {
            "availability": (0 < self.availability <= 1, "in (0, 1]"),
            "baseline_cv": (0 <= self.baseline_cv < 1, "in [0, 1)"),
            "incentive_ref_usd_per_mwh": (self.incentive_ref_usd_per_mwh > 0, "> 0 $/MWh"),
            "lam": (0 <= self.lam <= 1, "in [0, 1]"),
            "beta": (self.beta >= 0, ">= 0"),
            "discomfort_cv": (0 <= self.discomfort_cv < 5, "in [0, 5)"),
            "deadband": (0 <= self.deadband <= 1, "in [0, 1] (SoC)"),
        }
        for name, (ok, allowed) in checks.items():
            if not ok or not np.isfinite(getattr(self, name)):
                raise ValueError(f"Uncertainty.{name} = {getattr(self, name)!r}; allowed: {allowed}")

    def participation(self, incentive_usd_per_mwh: float) -> float:
        """Each customer's chance of taking part at the incentive ``c^s``: ``availability x g``."""
        if not (is_number(incentive_usd_per_mwh) and incentive_usd_per_mwh >= 0 and np.isfinite(incentive_usd_per_mwh)):
            raise ValueError(f"incentive_usd_per_mwh = {incentive_usd_per_mwh!r}; allowed: >= 0 $/MWh")
        return self.availability * min(incentive_usd_per_mwh / self.incentive_ref_usd_per_mwh, 1.0)


@dataclass(frozen=True)
class BaseDraws:
    """The randomness of ``n`` draws over ``T`` intervals, before any decision: ``participation_u``
    (n, T) uniforms that fix the Binomial share taking part (by inverse transform), and
    ``baseline_z``, ``discomfort_z`` (n, T) standard normals."""

    participation_u: np.ndarray
    baseline_z: np.ndarray
    discomfort_z: np.ndarray

    @classmethod
    def draw(cls, n_draws: int, n_intervals: int, rng: np.random.Generator) -> "BaseDraws":
        for name, value in (("n_draws", n_draws), ("n_intervals", n_intervals)):
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} = {value!r}; allowed: >= 1 (an integer)")
        shape = (n_draws, n_intervals)
        return cls(rng.uniform(size=shape), rng.standard_normal(shape), rng.standard_normal(shape))

    @property
    def n_draws(self) -> int:
        return self.baseline_z.shape[0]


def baseline_soc(ges: GES) -> np.ndarray:
    """The SoC path (n + 1,) the fleet follows when not dispatched (its baseline): a TCL fleet
    stays mid-deadband, an EV fleet charges as early as it can, a battery only leaks."""
    zero = np.zeros(ges.n_intervals)
    return ges.soc_path(zero, zero)


def response_degree(ges: GES, charge_mw: np.ndarray, discharge_mw: np.ndarray, soc: np.ndarray,
                    unc: Uncertainty) -> np.ndarray:
    """RD_t (n,) of a schedule: legs (n,) MW around the baseline and its SoC path (n + 1,)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        use = (np.where(ges.p_charge_max_mw > 0, charge_mw / ges.p_charge_max_mw, 0.0)
               + np.where(ges.p_discharge_max_mw > 0, discharge_mw / ges.p_discharge_max_mw, 0.0))
    away = np.maximum(np.abs(soc[1:] - baseline_soc(ges)[1:]) - unc.deadband / 2, 0.0)
    return unc.lam * np.cumsum(use) / ges.n_intervals + (1 - unc.lam) * away


@dataclass(frozen=True)
class Bounds:
    """Realised bounds, one row per draw: ``p_charge_max_mw``, ``p_discharge_max_mw`` (n_draws,
    n), ``soc_min``, ``soc_max`` (n_draws, n + 1; index 0, the start, is known) and the realised
    ``baseline_mw`` (n_draws, n)."""

    p_charge_max_mw: np.ndarray
    p_discharge_max_mw: np.ndarray
    soc_min: np.ndarray
    soc_max: np.ndarray
    baseline_mw: np.ndarray


def draw_bounds(ges: GES | Sequence[GES], unc: Uncertainty, base: BaseDraws, incentive_usd_per_mwh: float,
                rd: np.ndarray | None = None) -> Bounds:
    """The realised bounds of ``ges`` for each of ``base``'s draws at the incentive ``c^s`` and
    the response degree ``rd`` (n,) (None: decision-independent, no discomfort): arrays (D, n)
    or (D, n + 1). Given ``k`` GES of one grid (and ``rd`` (k, n)), the bounds of each for the
    same draws, stacked: (k, D, n) (what a planner needs of independent units' marginals)."""
    many, z, error = _draw_shares(ges, unc, base, incentive_usd_per_mwh, rd)
    b = np.array([baseline_soc(g) for g in many])[:, None, :]
    z_soc = np.concatenate([np.ones(z.shape[:-1] + (1,)), z], axis=-1)  # the start is known
    baseline = _stack(many, "baseline_mw")
    bounds = Bounds(
        p_charge_max_mw=z * np.maximum(_stack(many, "p_charge_max_mw") + (1.0 - error) * baseline, 0.0),
        p_discharge_max_mw=z * error * _stack(many, "p_discharge_max_mw"),
        soc_min=b - z_soc * (b - _stack(many, "soc_min")), soc_max=b + z_soc * (_stack(many, "soc_max") - b),
        baseline_mw=error * baseline,
    )  # each (k, D, n) or (k, D, n + 1)
    return bounds if not isinstance(ges, GES) else Bounds(*(getattr(bounds, name)[0] for name in BOUND_FIELDS))


def level_bounds(ges: Sequence[GES], unc: Uncertainty, base: BaseDraws, incentive_usd_per_mwh: float,
                 rd: np.ndarray | None, level: Callable[[np.ndarray], np.ndarray]) -> Bounds:
    """What ``level(draw_bounds(...))`` gives, bound by bound, for a ``level`` of upper bounds
    (draws (k, D, n) -> (k, 1, n): a low quantile, the mean, ``mu - k sigma``; lower bounds
    mirrored), computed with fewer draws held: every SoC bound is affine in the share ``Z`` (so
    its level is that of ``Z``) and the discharge bound is ``Z L P_d``. A level beyond what any
    draw can take (``mu - k sigma`` with a large k) is clipped to it: ``Z`` to [0, 1], power to
    >= 0, so a plan that stays at the baseline always fits. Arrays (k, 1, n) or (k, 1, n + 1);
    the baseline at its mean."""
    many, z, error = _draw_shares(ges, unc, base, incentive_usd_per_mwh, rd)
    b = np.array([baseline_soc(g) for g in many])[:, None, :]
    baseline = _stack(many, "baseline_mw")
    z_level = np.clip(level(np.broadcast_to(z, (len(many),) + z.shape[1:])), 0.0, 1.0)
    z_soc = np.concatenate([np.ones(z_level.shape[:-1] + (1,)), z_level], axis=-1)
    return Bounds(
        p_charge_max_mw=np.maximum(level(z * np.maximum(_stack(many, "p_charge_max_mw") + (1.0 - error) * baseline, 0.0)), 0.0),
        p_discharge_max_mw=np.maximum(level(np.broadcast_to(z * error, (len(many),) + z.shape[1:])), 0.0)
        * _stack(many, "p_discharge_max_mw"),
        soc_min=b - z_soc * (b - _stack(many, "soc_min")), soc_max=b + z_soc * (_stack(many, "soc_max") - b),
        baseline_mw=error.mean(0) * baseline,
    )


def _draw_shares(ges: GES | Sequence[GES], unc: Uncertainty, base: BaseDraws, incentive_usd_per_mwh: float,
                 rd: np.ndarray | None) -> tuple[list[GES], np.ndarray, np.ndarray]:
    """The GES as a list, the share ``Z`` (1 or k, D, n) taking part and the baseline's error
    ``L`` (D, n) for ``base``'s draws (see the module docstring)."""
    stacked = not isinstance(ges, GES)
    many = list(ges) if stacked else [ges]
    if not many or not all(isinstance(g, GES) for g in many):
        raise ValueError(f"ges is a {type(ges).__name__} of {[type(g).__name__ for g in many][:3]}; allowed: a GES or "
                         "a non-empty sequence of them")
    n = many[0].n_intervals
    if any(g.n_intervals != n for g in many):
        raise ValueError("the GES to draw together must share one grid")
    if base.baseline_z.shape[1] != n:
        raise ValueError(f"base draws cover {base.baseline_z.shape[1]} intervals; the GES has {n}")
    share = _binomial_share(base.participation_u, unc.units, unc.participation(incentive_usd_per_mwh))
    s_l = np.sqrt(np.log1p(unc.baseline_cv**2))
    error = np.exp(s_l * base.baseline_z - s_l**2 / 2)
    if rd is None:
        return many, share[None], error
    rd = np.asarray(rd, dtype=float)
    if stacked and rd.size != len(many) * n:
        raise ValueError(f"rd has shape {rd.shape}; allowed: ({len(many)}, {n}), one row per GES")
    rd = rd.reshape(len(many), n) if stacked else rd[None]
    if rd.shape != (len(many), n) or (rd < 0).any() or not np.isfinite(rd).all():
        raise ValueError(f"rd must be {n} finite values >= 0 per GES, got shape {np.shape(rd)}")
    s_d = np.sqrt(np.log1p(unc.discomfort_cv**2))
    dropped = unc.beta * rd[:, None, :] * np.exp(s_d * base.discomfort_z - s_d**2 / 2)[None]
    return many, share[None] * (1.0 - np.minimum(dropped, 1.0)), error


def _stack(many: list[GES], name: str) -> np.ndarray:
    """One GES field of ``many`` as (k, 1, n): broadcast against draws (D, n)."""
    return np.array([getattr(g, name) for g in many])[:, None, :]


def _binomial_share(u: np.ndarray, units: int, p: float) -> np.ndarray:
    """The Binomial(units, p) / units share with CDF ``u`` (inverse transform through the CDF
    table, so a fixed ``u`` moves monotonically with ``p``)."""
    if p >= 1.0:
        return np.ones_like(u)
    from scipy.stats import binom
    cdf = binom.cdf(np.arange(units + 1), units, p)
    return np.minimum(np.searchsorted(cdf, u, side="left"), units) / units


BOUND_FIELDS = ("p_charge_max_mw", "p_discharge_max_mw", "soc_min", "soc_max", "baseline_mw")
_LIMITS = (("p_charge_max_mw", True), ("p_discharge_max_mw", True), ("soc_min", False), ("soc_max", True))
"""The four chance-constrained bounds and whether each is an upper one (a plan must stay below it)."""


def chance_bounds(bounds: Bounds, gamma: float) -> Bounds:
    """Each bound at the level its chance constraint needs: upper bounds at their ``gamma``
    quantile, lower bounds at their ``1 - gamma`` quantile over the draws (a plan inside them
    breaks each one with probability at most ``gamma``, up to Monte Carlo error); the baseline
    at its mean. The draws' axis (second to last) kept, of length 1."""
    if not 0 < gamma < 0.5:
        raise ValueError(f"gamma = {gamma!r}; allowed: in (0, 0.5)")
    limits = [np.quantile(getattr(bounds, name), gamma if upper else 1 - gamma, axis=-2, keepdims=True) for name, upper in _LIMITS]
    return Bounds(*limits, bounds.baseline_mw.mean(-2, keepdims=True))


def mean_bounds(bounds: Bounds) -> Bounds:
    """The draws' mean bounds (a deterministic planner's point forecast), the draws' axis kept."""
    return Bounds(*(getattr(bounds, name).mean(-2, keepdims=True) for name in BOUND_FIELDS))


def spread_bounds(bounds: Bounds, k: float) -> Bounds:
    """Each bound ``k`` standard deviations (over the draws) inside its mean: ``mu -/+ k sigma``
    with a k of Table II (``baselines.chance.k_factor``), the draws' axis kept."""
    mu = mean_bounds(bounds)
    limits = [getattr(mu, name) + (-k if upper else k) * getattr(bounds, name).std(-2, keepdims=True) for name, upper in _LIMITS]
    return Bounds(*limits, mu.baseline_mw)


def k_values(bounds: Bounds, gamma: float) -> np.ndarray:
    """The Monte Carlo k (4, n) of each chance constraint of one GES's draws (D, n), ``(mu - q)
    / sigma`` in the tightening direction (the paper's Table II k, estimated for the
    distribution at hand; 0 where a bound does not vary). Rows as :data:`_LIMITS`; SoC rows for
    intervals 1..n."""
    rows = []
    for name, upper in _LIMITS:
        values = getattr(bounds, name)
        values = values[:, 1:] if name.startswith("soc") else values
        quantile = np.quantile(values, gamma if upper else 1 - gamma, axis=0)
        sd = values.std(0)
        gap = (values.mean(0) - quantile) * (1 if upper else -1)
        rows.append(np.where(sd > 1e-12, gap / np.where(sd > 1e-12, sd, 1.0), 0.0))
    return np.array(rows)
