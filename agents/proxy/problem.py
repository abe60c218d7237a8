"""The DA problem as data: ForecastLP's day LP as a parametric LP for learning.

For a fixed battery, market profile, interval length and expected deployment (per-product
fractions and the regulation signal's up share), the LP of :class:`baselines.reference.ForecastLP`
(built by :func:`baselines.day_lp.build_day_model` with ``follow_schedule=True``, at the reserve
multiple 1: each award's own duration; ForecastLP's default holds more) has fixed
constraints and an objective affine in the gate-closure forecasts. A DA context is encoded as the
parameter vector ``theta`` ($/MWh, $/MW-h)::

    theta = [da_price (24), rt_price (T), as_price (24 x 4, hour-major, PRODUCTS order)]

and a proxy predicts the bid ``y = [x (24), r (24 x 4)]`` (MW; x > 0 sells). The rest of the
LP's columns follow from the bid (:mod:`agents.proxy.completion`, :meth:`ProxyProblem.complete`):
the schedule's legs and planned SoC, the base point, each sub-period's legs, the SoC and the
terminal pair, as a solution that follows the market's rules has them (at most one member of
each column pair positive). So the problem a proxy solves is the LP under those rules, whose
optimum :func:`solve_optimum` finds (the labels and the reference), and its equality rows hold
by construction.

Everything here is taken from the builder, never written a second time: the constraint matrix,
row and column bounds come from a template build, and the objective's affine map
``c(theta) = c0 + theta @ C`` (and the offset's, zero for this LP) from builds at unit
parameters. The torch functions (objective, equality and inequality residuals, the Lagrangian
dual bound) work on a batch of full LP vectors ``z`` in the builder's column order.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from agents.proxy.completion import BID_SIZE, Completion
from baselines.day_lp import DayModel, build_day_model, solve_pairs
from baselines.solver import SolveResult
from bessgym.battery import Battery
from bessgym.config import Config
from bessgym.deployment import DeploymentConfig, regulation_model_stats
from bessgym.forecast import DAContext, expected_deployment
from bessgym.market import HOURS, N_PRODUCTS, MarketProfile, load_profile
from bessgym.sim import ScenarioArrays

if TYPE_CHECKING:
    from agents.proxy.bidder_lp import BidderLP

__all__ = ["BID_SIZE", "ParametricLP", "ProblemSpec", "ProxyProblem", "affine_objective", "encode", "problem_for", "project_duals",
           "solve_optimum", "split_theta", "theta_of"]


@dataclass(frozen=True)
class ProblemSpec:
    """What fixes the LP's constraints: a proxy is trained for one spec and refuses others.
    ``expected_deployment`` is the mean deployment fraction per product (PRODUCTS order),
    ``expected_up_time`` the regulation signal's long-run up share of an interval. ``bidder``
    (a component spec of an LP bidder, :mod:`agents.proxy.bidder_lp`) names whose day LP it
    is; None is the ForecastLP LP at the reserve multiple 1 of :class:`ProxyProblem`.
    ``deployment`` (JSON of the config's deployment model) is kept for a bidder's LP, whose rows
    may depend on it (the chance-constrained margins)."""

    battery: Battery
    market: str
    dt_h: float
    expected_deployment: tuple[float, ...]
    expected_up_time: float
    bidder: str | None = None
    deployment: str | None = None

    @classmethod
    def from_config(cls, config: Config, dt_h: float) -> ProblemSpec:
        return cls(config.battery, config.market, float(dt_h), tuple(float(v) for v in expected_deployment(config.deployment)),
                   float(regulation_model_stats(config.deployment.signal).up_time))

    @classmethod
    def from_context(cls, ctx: DAContext, bidder: str | None = None) -> ProblemSpec:
        deployment = None if bidder is None else _deployment_json(ctx.deployment)
        return cls(ctx.battery, ctx.market.name, float(ctx.dt_h), tuple(float(v) for v in ctx.expected_deployment),
                   float(ctx.expected_up_time), bidder, deployment)

    def to_dict(self) -> dict:
        out = {"battery": self.battery.model_dump(), "market": self.market, "dt_h": self.dt_h,
               "expected_deployment": list(self.expected_deployment), "expected_up_time": self.expected_up_time}
        if self.bidder is not None:
            out.update(bidder=self.bidder, deployment=json.loads(self.deployment or "null"))
        return out

    @classmethod
    def from_dict(cls, d: dict) -> ProblemSpec:
        missing = [k for k in ("battery", "market", "dt_h", "expected_deployment", "expected_up_time") if k not in d]
        if missing:
            raise ValueError(f"problem spec lacks {missing} (a checkpoint or dataset made before the sub-period "
                             "market rules: retrain or regenerate it)")
        bidder = d.get("bidder")
        if bidder is not None and not isinstance(d.get("deployment"), dict):
            raise ValueError(f"problem spec of bidder {bidder!r} lacks its deployment model (a JSON object)")
        deployment = None if bidder is None else _deployment_json(DeploymentConfig.model_validate(d["deployment"]))
        return cls(Battery(**d["battery"]), d["market"], float(d["dt_h"]), tuple(d["expected_deployment"]),
                   float(d["expected_up_time"]), bidder, deployment)

    def mismatch(self, other: ProblemSpec) -> str | None:
        """A description of the first difference from ``other`` (None when they agree)."""
        for field in ("bidder", "market", "dt_h"):
            if getattr(self, field) != getattr(other, field):
                return f"{field} is {getattr(other, field)!r}, the proxy was trained for {getattr(self, field)!r}"
        if self.battery != other.battery:
            return f"battery is {other.battery!r}, the proxy was trained for {self.battery!r}"
        if not np.allclose(self.expected_deployment, other.expected_deployment, rtol=1e-9, atol=1e-12):
            return f"expected deployment is {other.expected_deployment}, the proxy was trained for {self.expected_deployment}"
        if not np.isclose(self.expected_up_time, other.expected_up_time, rtol=1e-9, atol=1e-12):
            return f"expected up time is {other.expected_up_time}, the proxy was trained for {self.expected_up_time}"
        if self.deployment != other.deployment:
            return f"the deployment model is {other.deployment}, the proxy was trained for {self.deployment}"
        return None


def _deployment_json(config: DeploymentConfig) -> str:
    """A deployment model as canonical JSON (sorted keys, values as the model types them)."""
    return json.dumps(config.model_dump(mode="json"), sort_keys=True)


def encode(ctx: DAContext) -> np.ndarray:
    """A context's forecasts as ``theta``, whatever its problem spec (see :meth:`ParametricLP.params`)."""
    return theta_of(ctx.da_price, ctx.rt_price, ctx.as_price)


def theta_of(da_price: np.ndarray, rt_price: np.ndarray, as_price: np.ndarray) -> np.ndarray:
    """Prices as ``theta`` (P,): DA (24,), RT (T,), AS (24, 4) hour-major."""
    return np.concatenate([da_price, rt_price, np.asarray(as_price).ravel()])


def split_theta(theta: np.ndarray, n_intervals: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``theta`` back into (DA (24,), RT (T,), AS (24, 4)) prices; a ValueError on another shape."""
    theta = np.asarray(theta, float)
    if theta.shape != (HOURS + n_intervals + HOURS * N_PRODUCTS,):
        raise ValueError(f"theta must have shape ({HOURS + n_intervals + HOURS * N_PRODUCTS},) (DA, RT and AS prices), "
                         f"got {theta.shape}")
    return theta[:HOURS], theta[HOURS:HOURS + n_intervals], theta[HOURS + n_intervals:].reshape(HOURS, N_PRODUCTS)


class TensorCache:
    """``t(name)``: the array attribute ``name`` as a float64 tensor, made once and cached."""

    _torch: dict[str, torch.Tensor]

    @torch.inference_mode(False)  # a cached tensor must serve autograd later, whatever mode made it
    def t(self, name: str) -> torch.Tensor:
        if name not in self.__dict__.setdefault("_torch", {}):
            self._torch[name] = torch.as_tensor(np.ascontiguousarray(getattr(self, name)), dtype=torch.float64)
        return self._torch[name]


class ParametricLP(TensorCache):
    """What every DA problem of a proxy shares: ``spec``, ``cols`` and the objective's affine map
    (``c0``, ``C``, ``o0``, ``o``) set by the subclass; contexts encoded as ``theta``, bids read
    off LP vectors, plans valued."""

    spec: ProblemSpec
    cols: dict[str, np.ndarray]
    c0: np.ndarray
    C: np.ndarray
    o0: float
    o: np.ndarray

    def params(self, ctx: DAContext) -> np.ndarray:
        """Encode a DA context as ``theta``; raises if the context is not this problem's."""
        problem = self.spec.mismatch(ProblemSpec.from_context(ctx, self.spec.bidder))
        if problem:
            raise ValueError(f"DA context {ctx.scenario_id}: {problem}")
        return encode(ctx)

    def bids(self, z: np.ndarray) -> np.ndarray:
        """The bids (..., 120), x then r, of LP vectors (..., n_cols)."""
        return np.concatenate([z[..., self.cols["x"]], z[..., self.cols["r"]]], -1)

    def plan_values(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(base (N,), slope (N, P))`` of LP vectors ``z`` (N, n_cols): on any ``theta`` a
        plan is worth ``base + theta @ slope`` $, its :meth:`objective`."""
        return z @ self.c0 + self.o0, z @ self.C.T + self.o

    def objective(self, theta: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """LP objective (B,) in $ (to maximise): ``c(theta) @ z + offset(theta)``."""
        c = self.t("c0") + theta @ self.t("C")
        return (c * z).sum(-1) + self.o0 + theta @ self.t("o")


class ProxyProblem(ParametricLP):
    """ForecastLP's DA problem for one :class:`ProblemSpec`, as numpy data and torch functions.

    ``cols``, ``rows``, ``A`` (dense), ``row_lower``/``row_upper``, ``lower``/``upper`` are the
    builder's, except that the awards' upper bound (infinite in the builder, where the acceptance
    rows bound them) is the implied ``P_dis + P_ch``, so every column has a finite box (needed by
    :meth:`dual_bound`). ``completion`` fills an LP vector from a bid; ``hour_of`` is each
    column's hour. Torch tensors are float64.
    """

    def __init__(self, spec: ProblemSpec) -> None:
        self.spec = spec
        self.battery = b = spec.battery
        self.market: MarketProfile = load_profile(spec.market)
        self.dt_h = spec.dt_h
        self.n_intervals = n = int(round(HOURS / spec.dt_h))
        if abs(n * spec.dt_h - HOURS) > 1e-9:
            raise ValueError(f"dt_h must divide 24 hours, got {spec.dt_h}")
        if not 0 <= spec.expected_up_time <= 1:
            raise ValueError(f"expected_up_time must be a share within [0, 1], got {spec.expected_up_time}")
        self.k = n // HOURS
        self.n_params = HOURS + n + HOURS * N_PRODUCTS
        self.deployment = np.asarray(spec.expected_deployment, float)

        self.template = template = self.model(np.zeros(self.n_params))
        lp = template.lp
        self.cols, self.rows = template.cols, template.rows
        self.n_cols = lp.shape[1]
        self.completion = Completion(template)
        self.hour_of = self._hours()
        self.A = lp.A.toarray()
        self.row_lower, self.row_upper = lp.row_lower.copy(), lp.row_upper.copy()
        self.lower, self.upper = lp.lower.copy(), lp.upper.copy()
        self.upper[self.cols["r"]] = np.tile(np.where(self.market.offered, b.p_discharge_mw + b.p_charge_mw, 0.0), HOURS)
        self.bid_lower, self.bid_upper = self.lower[self.completion.bid_cols], self.upper[self.completion.bid_cols]
        # the two state trajectories a SoC-trajectory proxy predicts (48,): the SoC at each hour's
        # end, then the planned SoC
        self.trajectory_cols = np.r_[self.cols["e"][self.k - 1::self.k], self.cols["ep"]]
        self.equality = self.row_lower == self.row_upper
        self.c0, self.o0, self.C, self.o = affine_objective(self.model, self.n_params)

        # the idle decision's completion (no bid: the SoC drifts by self-discharge only)
        self.z_idle = self.completion(np.zeros(BID_SIZE))
        ax = self.A @ self.z_idle
        if (np.any(ax < self.row_lower - 1e-9) or np.any(ax > self.row_upper + 1e-9)
                or np.any(self.z_idle < self.lower - 1e-9) or np.any(self.z_idle > self.upper + 1e-9)):
            raise ValueError("the idle bid is infeasible for this battery (self-discharge drains it below its SoC floor "
                             "within the day); a proxy needs a feasible idle point to repair towards")

    def _hours(self) -> np.ndarray:
        """The hour each column belongs to: hourly blocks by position, the awards by their hour,
        interval blocks by their interval's hour, single columns (the terminal pair) to the last."""
        hour = np.empty(self.n_cols, dtype=int)
        for name, c in self.cols.items():
            if name == "r":
                hour[c] = np.arange(len(c)) // N_PRODUCTS
            elif len(c) == HOURS:
                hour[c] = np.arange(HOURS)
            elif len(c) == self.n_intervals:
                hour[c] = np.arange(len(c)) // self.k
            elif len(c) == 1:
                hour[c] = HOURS - 1
            else:
                raise ValueError(f"column block {name!r} of size {len(c)} belongs to no hour")
        return hour

    # -- numpy ---------------------------------------------------------------------------------

    def arrays(self, theta: np.ndarray) -> ScenarioArrays:
        """One parameter vector as the builder's day arrays (expected deployment, no mileage),
        as :func:`baselines.day_lp.forecast_arrays` makes them from a context."""
        n = self.n_intervals
        return ScenarioArrays(
            self.dt_h, *split_theta(theta, n), np.zeros((HOURS, 2)), np.broadcast_to(self.deployment, (n, N_PRODUCTS)).copy(), np.zeros((n, 2)),
            np.full(n, self.spec.expected_up_time),
        )

    def model(self, theta: np.ndarray) -> DayModel:
        """The builder's LP for one parameter vector (ForecastLP's LP for the context it encodes)."""
        return build_day_model(self.battery, self.market, self.arrays(theta), follow_schedule=True)

    # -- torch ---------------------------------------------------------------------------------

    def complete(self, bid: torch.Tensor) -> torch.Tensor:
        """The LP vectors ``z`` (B, n_cols) of a bid batch (B, 120) (:mod:`agents.proxy.completion`)."""
        return self.completion(bid)

    def eq_residual(self, z: torch.Tensor) -> torch.Tensor:
        """``A_eq z - b_eq`` (B, rows): the rows that define the completed columns."""
        eq = torch.as_tensor(self.equality)
        return z @ self.t("A")[eq].T - self.t("row_lower")[eq]

    def ineq_residual(self, z: torch.Tensor) -> torch.Tensor:
        """Violations (>= 0) of every inequality row, then of every column bound (B, rows + 2 cols)."""
        ineq = torch.as_tensor(~self.equality)
        az = z @ self.t("A")[ineq].T
        rows = torch.relu(az - self.t("row_upper")[ineq]) + torch.relu(self.t("row_lower")[ineq] - az)
        bounds = torch.cat([torch.relu(self.t("lower") - z), torch.relu(z - self.t("upper"))], -1)
        return torch.cat([rows, bounds], -1)

    def violation(self, z: torch.Tensor) -> torch.Tensor:
        """Largest violation (B,) of any row or bound, equalities included (MW or MWh)."""
        return torch.cat([self.eq_residual(z).abs(), self.ineq_residual(z)], -1).amax(-1)

    def dual_bound(self, theta: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """An upper bound (B,) on the LP optimum from any row multipliers ``y`` (B, rows).

        ``y`` is first projected onto the signs the rows allow (``y >= 0`` prices an upper bound,
        ``y <= 0`` a lower one); then ``max c z <= sum_i y_i b_i(y) + sum_j max(d_j l_j, d_j u_j)``
        with ``d = c - A^T y`` holds for every feasible z (Lagrangian relaxation over the box).
        It bounds the LP relaxation, hence ForecastLP's optimum (at most one member of each
        pair positive) too; at the relaxation's own duals it equals the relaxation's optimum.
        """
        y, rows = project_duals(y, self.t("row_lower"), self.t("row_upper"))
        c = self.t("c0") + theta @ self.t("C")
        d = c - y @ self.t("A")
        box = torch.maximum(d * self.t("lower"), d * self.t("upper")).sum(-1)
        return rows + box + self.o0 + theta @ self.t("o")


def affine_objective(model: Callable[[np.ndarray], DayModel], n_params: int) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """``(c0, o0, C, o)`` with ``c(theta) = c0 + theta @ C`` and ``offset(theta) = o0 + theta @ o``
    for the LPs ``model(theta)`` builds: read off builds at zero and at each unit parameter
    (exact for an objective affine in ``theta``)."""
    zero = model(np.zeros(n_params)).lp
    C, o = np.empty((n_params, zero.shape[1])), np.empty(n_params)
    for i in range(n_params):
        unit = model(np.eye(1, n_params, i).ravel()).lp
        C[i], o[i] = unit.c - zero.c, unit.offset - zero.offset
    return zero.c.copy(), zero.offset, C, o


def project_duals(y: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row multipliers (B, rows) projected onto the signs rows ``lower <= A z <= upper`` allow
    (``y >= 0`` prices an upper bound, ``y <= 0`` a lower one), and their bound term
    ``sum_i y_i b_i`` (B,), ``b_i`` the bound each one prices."""
    y = torch.where(torch.isinf(lower), torch.relu(y), y)
    y = torch.where(torch.isinf(upper), -torch.relu(-y), y)
    b_pos = torch.where(torch.isinf(upper), torch.zeros(()), upper)
    b_neg = torch.where(torch.isinf(lower), torch.zeros(()), lower)
    return y, torch.relu(y) @ b_pos - torch.relu(-y) @ b_neg


def solve_optimum(model: DayModel, time_limit_s: float | None = 10.0, first: SolveResult | None = None) -> SolveResult:
    """The day LP's optimum under the rules (at most one member of each pair positive), as the
    oracle finds it (:func:`baselines.day_lp.solve_pairs` with ``exact``: the LP, or its solve
    ``first``, then signs fixed or binaries, optimal to :data:`baselines.day_lp.MIP_GAP`), on one
    thread: the dataset's labels and the proxy track's reference."""
    return solve_pairs(model.lp, model.pairs, time_limit_s, 1, first=first)


@functools.lru_cache(maxsize=8)
def problem_for(spec: ProblemSpec) -> ProxyProblem | BidderLP:
    """One problem per spec and process (building one takes about a second): the bidder's LP
    (:class:`agents.proxy.bidder_lp.BidderLP`) where the spec names one, else :class:`ProxyProblem`."""
    if spec.bidder is not None:
        from agents.proxy.bidder_lp import BidderLP

        return BidderLP(spec)
    return ProxyProblem(spec)
