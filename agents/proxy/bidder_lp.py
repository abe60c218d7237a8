"""An LP bidder's day problem as data: the LPs of the leaderboard's optimization bidders as
parametric LPs for proxies.

An *LP bidder* is a DA bidder with ``model(ctx) -> DayModel`` (the day LP it builds from a
gate-closure context) and ``solve(model) -> SolveResult`` (how it solves it); its ``bid`` is
``model.decision(solve(model(ctx)))``. :data:`LP_BIDDERS` names the package's: RobustDA,
the chance-constrained LP (``ChanceConstrainedDA?method=lp``) and ForecastLP (at its default
reserve multiple), with their leaderboard arguments.

For a fixed battery, market profile, interval length and deployment model, such an LP's rows,
row bounds and column bounds do not depend on the forecasts (checked when the problem is built),
and its objective is affine in them, with ``theta`` encoded as in :mod:`agents.proxy.problem`::

    theta = [da_price (24) $/MWh, rt_price (T) $/MWh, as_price (24 x 4) $/MW-h]
    objective(theta, z) = (c0 + theta @ C) @ z + o0 + theta @ o         ($, maximised)

So the feasible set is one polytope for every day, and a plan the bidder solved on one day is a
feasible plan on every other, worth one dot product (:mod:`agents.proxy.cache`). The map is
taken from the bidder's own builds (at zero and at each unit parameter), never re-derived.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import time
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from agents.proxy.completion import BID_SIZE
from agents.proxy.problem import ParametricLP, ProblemSpec, affine_objective, project_duals, split_theta
from baselines.day_lp import DayModel, solve_pairs
from baselines.solver import SolveResult, dual_estimate
from bessgym.deployment import DeploymentConfig
from bessgym.forecast import DAContext
from bessgym.market import HOURS, N_PRODUCTS, load_profile
from bessgym.policies import load_component

LP_BIDDERS = {
    "robust": "baselines.robust:RobustDA",
    "chance-lp": "baselines.chance:ChanceConstrainedDA?method=lp",
    "forecast-lp": "baselines.reference:ForecastLP",
}
"""Short names of the package's LP bidders and their component specs (the leaderboard's)."""


LP_BIDDER_CLASSES = frozenset(spec.partition("?")[0] for spec in LP_BIDDERS.values())
"""The classes an LP bidder spec may name: a spec read from a file is data, so it may only pick
arguments of these, never another class (loading a component is running code)."""


def bidder_spec(name: str) -> str:
    """The component spec of an LP bidder's short name (:data:`LP_BIDDERS`), or ``name`` itself
    if it is a spec of one of :data:`LP_BIDDER_CLASSES` (with any arguments); a ValueError otherwise."""
    if name in LP_BIDDERS:
        return LP_BIDDERS[name]
    if name.partition("?")[0].strip() in LP_BIDDER_CLASSES:
        return name
    raise ValueError(f"bidder {name!r} is not one of {sorted(LP_BIDDERS)} nor a spec of one of their classes "
                     f"{sorted(LP_BIDDER_CLASSES)} (with arguments after '?')")


def load_lp_bidder(spec: str) -> Any:
    """The LP bidder of ``spec``, checked by :func:`bidder_spec` before anything is imported."""
    return load_component(bidder_spec(spec))


class BidderLP(ParametricLP):
    """An LP bidder's day LP for one :class:`ProblemSpec` (``spec.bidder`` set): the template
    build (``template``, ``cols``, ``rows``, ``pairs``; ``A`` sparse, ``row_lower``/``row_upper``,
    ``lower``/``upper``), the objective's affine map (``c0``, ``C``, ``o0``, ``o``) and the
    bidder's own solve. ``t(name)`` gives any array attribute as a float64 tensor."""

    def __init__(self, spec: ProblemSpec) -> None:
        if spec.bidder is None or spec.deployment is None:
            raise ValueError("a BidderLP needs a spec naming its bidder and deployment model (ProblemSpec.from_context(ctx, bidder))")
        self.spec = spec
        self.bidder = load_lp_bidder(spec.bidder)
        missing = [m for m in ("model", "solve") if not callable(getattr(self.bidder, m, None))]
        if missing:
            raise ValueError(f"bidder {spec.bidder!r} gives a {type(self.bidder).__name__}, which lacks {missing}: an LP bidder "
                             "has model(ctx) -> DayModel and solve(model) -> SolveResult (as baselines.robust:RobustDA has)")
        self.battery = spec.battery
        self.market = load_profile(spec.market)
        self.deployment = DeploymentConfig.model_validate(json.loads(spec.deployment))
        self.dt_h = spec.dt_h
        self.n_intervals = n = int(round(HOURS / spec.dt_h))
        if abs(n * spec.dt_h - HOURS) > 1e-9:
            raise ValueError(f"dt_h must divide 24 hours, got {spec.dt_h}")
        self.n_params = HOURS + n + HOURS * N_PRODUCTS

        self.template = template = self.model(np.zeros(self.n_params))
        lp = template.lp
        self.cols, self.rows, self.pairs = template.cols, template.rows, template.pairs
        self.n_cols = lp.shape[1]
        self.A = lp.A.tocsr()
        self.row_lower, self.row_upper = lp.row_lower.copy(), lp.row_upper.copy()
        self.lower, self.upper = lp.lower.copy(), lp.upper.copy()
        self.box_upper = self._box_upper()
        self.c0, self.o0, self.C, self.o = affine_objective(self.model, self.n_params)
        probe = np.random.default_rng(0).normal(50.0, 30.0, self.n_params)
        self._check_fixed(probe)

    @functools.cached_property
    def fingerprint(self) -> str:
        """SHA-256 of the bidder spec and the LP's constraints (matrix, row and column bounds, the
        values to 9 decimals, so that the last bits of another machine's arithmetic do not count):
        a plan solved on an LP with the same fingerprint is feasible for this one."""
        digest = hashlib.sha256(self.spec.bidder.encode())
        for array in (self.A.indptr, self.A.indices):
            digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
        for array in (self.A.data, self.row_lower, self.row_upper, self.lower, self.upper):
            digest.update((np.round(np.asarray(array, dtype=float), 9) + 0.0).tobytes())  # + 0.0: no -0.0
        return digest.hexdigest()

    def _box_upper(self) -> np.ndarray:
        """Column upper bounds made finite where the LP leaves them open, without cutting off any
        bid's completion (so every bound of :meth:`dual_bound` holds): an award by what the
        acceptance rows allow, ``P_dis + P_ch``; RobustDA's inner duals (``lam_*``, ``mu_*``) by
        the largest deployment energy of an interval, ``(P_dis + P_ch) dt / eta_d``, which bounds
        an optimal inner dual. Any other open column is a ValueError."""
        b = self.battery
        upper = self.upper.copy()
        upper[self.cols["r"]] = np.minimum(upper[self.cols["r"]], b.p_discharge_mw + b.p_charge_mw)
        for name, idx in self.cols.items():
            if name.startswith(("lam_", "mu_")):
                upper[idx] = (b.p_discharge_mw + b.p_charge_mw) * self.dt_h / b.eta_discharge
        open_blocks = sorted({name for name, idx in self.cols.items() if np.isinf(upper[idx]).any()})
        if open_blocks or np.isinf(self.lower).any():
            raise ValueError(f"bidder {self.spec.bidder!r}: columns {open_blocks} have no finite bound for a certificate")
        return upper

    def _check_fixed(self, theta: np.ndarray) -> None:
        """ValueError unless ``theta``'s LP has the template's constraints and the affine objective."""
        lp = self.model(theta).lp
        same = (lp.shape == (len(self.row_lower), self.n_cols) and abs(lp.A - self.A).max() == 0
                and all(np.array_equal(a, b) for a, b in ((lp.row_lower, self.row_lower), (lp.row_upper, self.row_upper),
                                                          (lp.lower, self.lower), (lp.upper, self.upper))))
        if not same:
            raise ValueError(f"bidder {self.spec.bidder!r}: its LP's constraints change with the forecasts, so it is not a "
                             "parametric LP of fixed constraints")
        if not (np.allclose(lp.c, self.c0 + theta @ self.C, rtol=1e-9, atol=1e-9)
                and np.isclose(lp.offset, self.o0 + theta @ self.o, rtol=1e-9, atol=1e-9)):
            raise ValueError(f"bidder {self.spec.bidder!r}: its LP's objective is not affine in the forecasts")

    # -- numpy ---------------------------------------------------------------------------------

    def context(self, theta: np.ndarray) -> DAContext:
        """A gate-closure context carrying ``theta``'s point forecasts (no ensemble)."""
        n = self.n_intervals
        da_price, rt_price, as_price = split_theta(theta, n)
        return DAContext(
            scenario_id="theta", date=dt.date(2000, 1, 1), dt_h=self.dt_h, battery=self.battery, market=self.market,
            da_price=da_price, rt_price=rt_price, as_price=as_price,
            da_scenarios=np.zeros((0, HOURS)), rt_scenarios=np.zeros((0, n)), as_scenarios=np.zeros((0, HOURS, N_PRODUCTS)),
            expected_deployment=np.asarray(self.spec.expected_deployment, float), expected_up_time=self.spec.expected_up_time,
            privileged=False, deployment=self.deployment,
        )

    def model(self, theta: np.ndarray) -> DayModel:
        """The bidder's LP for one parameter vector (the LP it builds for the context encoded)."""
        return self.bidder.model(self.context(theta))

    def solve(self, theta: np.ndarray) -> SolveResult:
        """The bidder's own solve of its LP for ``theta`` (the proxy track's reference)."""
        return self.bidder.solve(self.model(theta))

    def evaluate_bid(self, theta: np.ndarray, bid: np.ndarray, time_limit_s: float = 60.0) -> tuple[float, bool, float]:
        """A bid (120,) checked in the bidder's own LP for ``theta``, independently of whoever
        made it: the LP with ``x`` and ``r`` fixed to the bid, solved under the market's rules
        (:func:`baselines.day_lp.solve_pairs`, exact). Returns (objective $, feasible, HiGHS
        seconds); NaN objective where the fixed LP is infeasible."""
        bid = np.asarray(bid, float)
        if bid.shape != (BID_SIZE,) or not np.isfinite(bid).all():
            return float("nan"), False, 0.0
        model = self.model(theta)
        lower, upper = model.lp.lower.copy(), model.lp.upper.copy()
        fixed = np.r_[model.cols["x"], model.cols["r"]]
        lower[fixed] = upper[fixed] = bid
        start = time.perf_counter()
        result = solve_pairs(replace(model.lp, lower=lower, upper=upper), model.pairs, time_limit_s)
        seconds = time.perf_counter() - start
        return (float(result.objective), True, seconds) if result.status.ok else (float("nan"), False, seconds)

    def dual_bound(self, theta: np.ndarray, y: np.ndarray) -> float:
        """An upper bound ($) on the LP optimum for ``theta`` from any row multipliers ``y``
        (HiGHS's signs for a maximisation): ``y`` projected onto the signs each row allows, then
        ``sum_i y_i b_i + sum_j max(d_j l_j, d_j u_j)`` with ``d = c - A^T y`` over the finite box
        (:meth:`_box_upper`): the Lagrangian relaxation over a box that keeps an optimal
        completion of every bid, so it bounds the LP optimum."""
        projected, rows = project_duals(torch.as_tensor(y, dtype=torch.float64)[None], self.t("row_lower"), self.t("row_upper"))
        d = self.c0 + theta @ self.C - self.A.T @ projected[0].numpy()
        return float(rows[0]) + float(np.maximum(d * self.lower, d * self.box_upper).sum() + self.o0 + theta @ self.o)

    def certify(self, theta: np.ndarray, tolerance: float = 1e-3) -> tuple[float, float]:
        """A certified upper bound ($) on the optimum for ``theta`` and the seconds it took: the
        multipliers of an interior-point solve stopped at ``tolerance``
        (:func:`baselines.solver.dual_estimate`) through :meth:`dual_bound`; infinite where
        that solve fails."""
        start = time.perf_counter()
        estimate = dual_estimate(self.model(theta).lp, tolerance)
        bound = self.dual_bound(theta, estimate.row_duals) if estimate.status.ok else float("inf")
        return bound, time.perf_counter() - start
