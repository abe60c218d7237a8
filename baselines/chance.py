"""Chance-constrained DA: SoC bounds that hold with probability 1 - eps under deployment.

The plan follows its DA schedule with the expected deployment; the SoC then differs from plan by
``D_t``, the deployment energy beyond expectation up to interval t, linear in the awards. With
the deployment model's covariance (:func:`bessgym.deployment.deployment_moments`) the
constraints are

    e_t - k(eps) std(D_t) >= E_min,    e_t + k(eps) std(D_t) <= E_max

with ``k`` by what is assumed of the distribution (:func:`k_factor`, the names of Qi et al. 2023,
Table II: none (Cantelli), symmetric, unimodal, symmetric unimodal, Student t, normal).
``std(D_t) = ||L^T w_t(r)||`` (``L L^T`` the covariance, ``w_t`` linear in the awards) makes it
an SOCP (cvxpy + Clarabel); the LP variant
bounds it by the sum of the intervals' standard deviations (triangle inequality: conservative)
and solves with HiGHS. The day model's availability rows take full deployment in any interval
(power) and the products' durations (energy). Self-discharge is left out of ``D_t``.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Literal

import cvxpy as cp
import numpy as np
import scipy.sparse as sp
from scipy.stats import norm
from scipy.stats import t as student_t

from bessgym.deployment import deployment_moments
from bessgym.forecast import DAContext
from bessgym.market import HOURS, N_PRODUCTS, UP_MASK, DABid

from baselines.day_lp import DayModel, build_day_model, forecast_arrays, solve_pairs
from baselines.solver import LinearProgram, SolveResult, SolveStatus

Bound = Literal["none", "symmetric", "unimodal", "symmetric_unimodal", "student_t", "normal", "cantelli", "gaussian"]
BOUNDS = ("none", "symmetric", "unimodal", "symmetric_unimodal", "student_t", "normal")
BOUND_ALIASES = {"cantelli": "none", "gaussian": "normal"}  # the names used before issue 19


def k_factor(eps: float, bound: Bound, dof: float | None = None) -> float:
    """Standard deviations of margin ``k`` such that ``P(X > mu + k sigma) <= eps`` for every
    distribution of ``X`` (mean ``mu``, standard deviation ``sigma``) in the assumed class: the
    inverse of the class's sharp one-sided tail bound, branch by branch (Qi et al. 2023, Table II's
    closed forms, with the branches for larger ``eps`` added):

    - ``"none"`` (any distribution, Cantelli ``1/(1+k^2)``): ``sqrt((1-eps)/eps)``.
    - ``"symmetric"`` (``min(1/2, 1/(2k^2))``): ``sqrt(1/(2 eps))`` for eps < 1/2, else 0.
    - ``"unimodal"`` (one-sided Gauss / Vysochanskii-Petunin, ``4/(9(1+k^2))`` for
      k >= sqrt(5/3), else ``4/(3(1+k^2)) - 1/3``): ``sqrt((4-9 eps)/(9 eps))`` for eps <= 1/6,
      else ``sqrt(3(1-eps)/(1+3 eps))``.
    - ``"symmetric_unimodal"`` (half of Gauss's, ``2/(9k^2)`` for k >= 2/sqrt(3), else
      ``1/2 - k/(2 sqrt(3))``): ``sqrt(2/(9 eps))`` for eps <= 1/6, ``sqrt(3)(1-2 eps)`` up to
      1/2, else 0.
    - ``"student_t"`` (``dof`` > 2 degrees of freedom, scaled to unit variance):
      ``t_dof^-1(1-eps) sqrt((dof-2)/dof)``.
    - ``"normal"``: ``Phi^-1(1-eps)`` (negative for eps > 1/2).

    ``"cantelli"`` and ``"gaussian"`` are aliases of ``"none"`` and ``"normal"``."""
    if not 0 < eps < 1:
        raise ValueError(f"eps must be within (0, 1), got {eps}")
    name = BOUND_ALIASES.get(bound, bound)
    if name not in BOUNDS:
        allowed = ", ".join(repr(b) for b in BOUNDS + tuple(BOUND_ALIASES))
        raise ValueError(f"bound {bound!r} is not one of {allowed}")
    if name == "student_t":
        if dof is None or not 2 < dof < np.inf:
            raise ValueError(f"dof must be a finite number > 2 for bound='student_t' (finite variance), "
                             f"got {dof}")
        return float(student_t.ppf(1 - eps, dof) * np.sqrt((dof - 2) / dof))
    if dof is not None:
        raise ValueError(f"dof applies to bound='student_t' only, got dof={dof} with bound={bound!r}")
    if name == "none":
        return float(np.sqrt((1 - eps) / eps))
    if name == "symmetric":
        return float(np.sqrt(1 / (2 * eps))) if eps < 0.5 else 0.0
    if name == "unimodal":
        return float(np.sqrt((4 - 9 * eps) / (9 * eps)) if eps <= 1 / 6 else np.sqrt(3 * (1 - eps) / (1 + 3 * eps)))
    if name == "symmetric_unimodal":
        if eps <= 1 / 6:
            return float(np.sqrt(2 / (9 * eps)))
        return float(np.sqrt(3) * (1 - 2 * eps)) if eps < 0.5 else 0.0
    return float(norm.ppf(1 - eps))


def margin_per_award(ctx: DAContext, sigma: np.ndarray) -> np.ndarray:
    """(T, 96): the triangle-inequality bound on std(D_t) per MW of each award (hour-major):
    ``sum over tau <= t in the award's hour of |coef_a| sigma[a, tau]``, each MW moving at most
    ``dt / eta_d`` MWh per interval either way (against an opposite base point a deployment nets
    out the base point's flow and its loss)."""
    b, n = ctx.battery, ctx.n_intervals
    coef = np.full(N_PRODUCTS, ctx.dt_h / b.eta_discharge)  # at most, either way (see DeploymentBudget)
    per_interval = sigma.reshape(N_PRODUCTS, n).T * coef  # (T, 4)
    in_hour = np.eye(HOURS)[np.arange(n) // (n // HOURS)]  # (T, 24)
    spread = (in_hour[:, :, None] * per_interval[:, None, :]).reshape(n, HOURS * N_PRODUCTS)
    return np.cumsum(spread, axis=0)


def low_rank_factor(cov: np.ndarray, n: int, share: float) -> np.ndarray:
    """``L`` with ``L L^T ~ cov``, per independent block (regulation up and down together, spin,
    non-spin), each keeping the leading eigenvectors that carry ``share`` of its variance."""
    columns = []
    for block in (slice(0, 2 * n), slice(2 * n, 3 * n), slice(3 * n, 4 * n)):
        values, vectors = np.linalg.eigh(cov[block, block])
        order = np.argsort(values)[::-1]
        values, vectors = np.clip(values[order], 0, None), vectors[:, order]
        if values.sum() == 0:
            continue
        keep = int(np.searchsorted(np.cumsum(values) / values.sum(), share) + 1)
        factor = np.zeros((cov.shape[0], keep))
        factor[block] = vectors[:, :keep] * np.sqrt(values[:keep])
        columns.append(factor)
    return np.hstack(columns)


class ChanceConstrainedDA:
    """DA bidder whose SoC stays within bounds with probability >= 1 - ``eps`` per interval
    (``bound``: what is assumed of the deployment's distribution, :func:`k_factor`; ``dof`` for
    ``"student_t"``)."""

    def __init__(self, eps: float = 0.05, bound: Bound = "none", method: Literal["socp", "lp"] = "socp",
                 regulation_signal: str | None = None, share: float = 0.99, time_limit_s: float = 60.0,
                 dof: float | None = None) -> None:
        self.k = k_factor(eps, bound, dof)
        self.eps, self.bound, self.method, self.share = eps, bound, method, share
        if method not in ("socp", "lp"):
            raise ValueError(f"method {method!r} is not one of 'socp', 'lp'")
        self.regulation_signal = regulation_signal  # None: the config's
        self.time_limit_s = time_limit_s

    def _sigma(self, ctx: DAContext) -> tuple[np.ndarray, np.ndarray]:
        """The deployment's covariance and per-entry standard deviation (this bidder's signal)."""
        config = ctx.deployment if self.regulation_signal is None else \
            type(ctx.deployment).model_validate({**ctx.deployment.model_dump(), "regulation_signal": self.regulation_signal})
        _, cov = deployment_moments(config, ctx.n_intervals, ctx.dt_h)
        return cov, np.sqrt(np.clip(np.diag(cov), 0, None))

    def bid(self, ctx: DAContext) -> DABid:
        if self.method == "lp":
            model = self.model(ctx)
            return model.decision(self.solve(model))
        model = build_day_model(ctx.battery, ctx.market, forecast_arrays(ctx), follow_schedule=True)
        cov, sigma = self._sigma(ctx)
        result = self._solve_socp(model, ctx, cov)
        if not result.status.ok:  # the LP variant is the conservative fallback
            fallback = self.solve(self._with_chance_rows(model, ctx, sigma))
            fallback.messages = result.messages + fallback.messages
            result = fallback
        return model.decision(result)

    def model(self, ctx: DAContext) -> DayModel:
        """The LP variant's day LP (``method="lp"`` only: the SOCP is not an LP): the day model
        with the chance rows ``chance_low`` / ``chance_high`` (one per interval)."""
        if self.method != "lp":
            raise ValueError(f"ChanceConstrainedDA(method={self.method!r}) solves an SOCP, not a day LP: use method='lp'")
        base = build_day_model(ctx.battery, ctx.market, forecast_arrays(ctx), follow_schedule=True)
        return self._with_chance_rows(base, ctx, self._sigma(ctx)[1])

    def solve(self, model: DayModel) -> SolveResult:
        """This bidder's solve of its LP: a plan the market's rules accept (pairs fixed by sign)."""
        return solve_pairs(model.lp, model.pairs, self.time_limit_s, exact=False)

    def _with_chance_rows(self, model: DayModel, ctx: DAContext, sigma: np.ndarray) -> DayModel:
        """``model`` with ``e_t -/+ k margin_t(r)`` within the SoC bounds (the triangle-inequality margin)."""
        lp = model.lp
        r_cols, e_cols = model.cols["r"], model.cols["e"]
        margin = self.k * margin_per_award(ctx, sigma)  # (T, 96): MWh per MW of award
        n = ctx.n_intervals
        low = sp.lil_matrix((n, lp.A.shape[1]))
        high = sp.lil_matrix((n, lp.A.shape[1]))
        for t in range(n):
            low[t, e_cols[t]], high[t, e_cols[t]] = 1.0, 1.0
            low[t, r_cols] = -margin[t]
            high[t, r_cols] = margin[t]
        A = sp.vstack([lp.A, low.tocsr(), high.tocsr()]).tocsc()
        b = ctx.battery
        row_lower = np.concatenate([lp.row_lower, np.full(n, b.e_min_mwh), np.full(n, -np.inf)])
        row_upper = np.concatenate([lp.row_upper, np.full(n, np.inf), np.full(n, b.e_max_mwh)])
        m = lp.A.shape[0]
        rows = {**model.rows, "chance_low": m + np.arange(n), "chance_high": m + n + np.arange(n)}
        return replace(model, lp=LinearProgram(lp.c, A, row_lower, row_upper, lp.lower, lp.upper, lp.offset), rows=rows)

    def _solve_socp(self, model: DayModel, ctx: DAContext, cov: np.ndarray) -> SolveResult:
        """std(D_t) = ||u_t|| with ``u_t = L^T w_t`` accumulated interval by interval:
        ``u_t = u_{t-1} + sum_a L[a, t] coef_a r[h(t), a]`` (sparse, so it compiles fast)."""
        start = time.perf_counter()
        lp, b, n = model.lp, ctx.battery, ctx.n_intervals
        L = low_rank_factor(cov, n, self.share)
        coef = np.where(UP_MASK, 1.0, -1.0) * ctx.dt_h / b.eta_discharge
        z = cp.Variable(lp.A.shape[1])
        r = cp.reshape(z[model.cols["r"]], (HOURS, N_PRODUCTS), order="C")
        e = z[model.cols["e"]]
        award = np.kron(np.eye(HOURS), np.ones((n // HOURS, 1))) @ r  # (T, 4) awards per interval
        step = sum(cp.multiply(award[:, a:a + 1] * coef[a], L[a * n:(a + 1) * n]) for a in range(N_PRODUCTS))
        u = cp.Variable((n, L.shape[1]))  # u_t = L^T w_t, kept as a variable so the rows stay sparse
        spread = self.k * cp.norm(u, 2, axis=1)
        A = lp.A.tocsr()
        finite_lo, finite_hi = np.isfinite(lp.row_lower), np.isfinite(lp.row_upper)
        constraints = [
            A[finite_lo] @ z >= lp.row_lower[finite_lo], A[finite_hi] @ z <= lp.row_upper[finite_hi],
            z >= lp.lower, z[np.isfinite(lp.upper)] <= lp.upper[np.isfinite(lp.upper)],
            u[0] == step[0], u[1:] == u[:-1] + step[1:],
            e - spread >= b.e_min_mwh, e + spread <= b.e_max_mwh,
        ]
        problem = cp.Problem(cp.Maximize(lp.c @ z + lp.offset), constraints)
        try:
            problem.solve(solver=cp.CLARABEL, time_limit=self.time_limit_s)
        except cp.error.SolverError as exc:
            return SolveResult(SolveStatus.ERROR, float("nan"), np.empty(0), np.empty(0), time.perf_counter() - start, "clarabel", [repr(exc)])
        status = {cp.OPTIMAL: SolveStatus.OPTIMAL, cp.OPTIMAL_INACCURATE: SolveStatus.OPTIMAL,
                  cp.INFEASIBLE: SolveStatus.INFEASIBLE, cp.UNBOUNDED: SolveStatus.UNBOUNDED}.get(problem.status, SolveStatus.ERROR)
        values_z = np.asarray(z.value) if status.ok else np.empty(0)
        return SolveResult(status, float(problem.value) if status.ok else float("nan"), values_z, np.empty(0),
                           time.perf_counter() - start, "clarabel", [] if status.ok else [f"clarabel: {problem.status}"])
