"""The DA problem as data: ForecastLP's day LP as a parametric LP for learning.

For a fixed battery, market profile, interval length and expected deployment, the LP of
:class:`baselines.reference.ForecastLP` (built by :func:`baselines.day_lp.build_day_model` with
``follow_schedule=True``) has fixed constraints and an objective affine in the gate-closure
forecasts. A DA context is encoded as the parameter vector ``theta`` ($/MWh, $/MW-h)::

    theta = [da_price (24), rt_price (T), as_price (24 x 4, hour-major, PRODUCTS order)]

and a proxy predicts the bid ``y = [x (24), r (24 x 4)]`` (MW; x > 0 sells). The rest of the
LP's variables follow from the bid (:meth:`ProxyProblem.complete`): the base point legs
``bp = max(x, 0)``, ``bm = max(-x, 0)`` (what the LP chooses: both legs wear the battery) and the
SoC from its recursion, so the LP's equality rows hold by construction.

Everything here is taken from the builder, never written a second time: the constraint matrix,
row and column bounds come from a template build, and the objective's affine map
``c(theta) = c0 + theta @ C`` (and the offset's) from builds at unit parameters. The torch
functions (objective, equality and inequality residuals, the Lagrangian dual bound) work on a
batch of full LP vectors ``z`` in the builder's column order.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from baselines.day_lp import DayModel, build_day_model
from bessgym.battery import Battery
from bessgym.config import Config
from bessgym.forecast import DAContext, expected_deployment
from bessgym.market import (
    DOWN_INDEX,
    HOURS,
    N_PRODUCTS,
    UP_INDEX,
    MarketProfile,
    load_profile,
)
from bessgym.sim import ScenarioArrays

BID_SIZE = HOURS * (1 + N_PRODUCTS)  # x (24) and r (24 x 4)


@dataclass(frozen=True)
class ProblemSpec:
    """What fixes the LP's constraints: a proxy is trained for one spec and refuses others."""

    battery: Battery
    market: str
    dt_h: float
    expected_deployment: tuple[float, ...]

    @classmethod
    def from_config(cls, config: Config, dt_h: float) -> ProblemSpec:
        return cls(config.battery, config.market, float(dt_h), tuple(float(v) for v in expected_deployment(config.deployment)))

    @classmethod
    def from_context(cls, ctx: DAContext) -> ProblemSpec:
        return cls(ctx.battery, ctx.market.name, float(ctx.dt_h), tuple(float(v) for v in ctx.expected_deployment))

    def to_dict(self) -> dict:
        return {"battery": self.battery.model_dump(), "market": self.market, "dt_h": self.dt_h,
                "expected_deployment": list(self.expected_deployment)}

    @classmethod
    def from_dict(cls, d: dict) -> ProblemSpec:
        return cls(Battery(**d["battery"]), d["market"], float(d["dt_h"]), tuple(d["expected_deployment"]))

    def mismatch(self, other: ProblemSpec) -> str | None:
        """A description of the first difference from ``other`` (None when they agree)."""
        for field in ("market", "dt_h"):
            if getattr(self, field) != getattr(other, field):
                return f"{field} is {getattr(other, field)!r}, the proxy was trained for {getattr(self, field)!r}"
        if self.battery != other.battery:
            return f"battery is {other.battery!r}, the proxy was trained for {self.battery!r}"
        if not np.allclose(self.expected_deployment, other.expected_deployment, rtol=1e-9, atol=1e-12):
            return f"expected deployment is {other.expected_deployment}, the proxy was trained for {self.expected_deployment}"
        return None


def encode(ctx: DAContext) -> np.ndarray:
    """A context's forecasts as ``theta``, whatever its problem spec (see :meth:`ProxyProblem.params`)."""
    return np.concatenate([ctx.da_price, ctx.rt_price, np.asarray(ctx.as_price).ravel()])


class ProxyProblem:
    """ForecastLP's DA problem for one :class:`ProblemSpec`, as numpy data and torch functions.

    ``cols``, ``A`` (dense), ``row_lower``/``row_upper``, ``lower``/``upper`` are the builder's,
    except that the awards' upper bound (infinite in the builder, where the acceptance rows bound
    them) is the implied ``P_dis + P_ch``, so every column has a finite box (needed by
    :meth:`dual_bound`). Torch tensors are float64.
    """

    def __init__(self, spec: ProblemSpec) -> None:
        self.spec = spec
        self.battery = b = spec.battery
        self.market: MarketProfile = load_profile(spec.market)
        self.dt_h = spec.dt_h
        self.n_intervals = n = int(round(HOURS / spec.dt_h))
        if abs(n * spec.dt_h - HOURS) > 1e-9:
            raise ValueError(f"dt_h must divide 24 hours, got {spec.dt_h}")
        self.k = n // HOURS
        self.n_params = HOURS + n + HOURS * N_PRODUCTS
        self.deployment = np.asarray(spec.expected_deployment, float)
        self.offered = self.market.offered.astype(float)
        self._torch: dict[str, torch.Tensor] = {}

        template = self.model(np.zeros(self.n_params))
        lp = template.lp
        self.cols = template.cols
        self.rows = template.rows
        self.n_cols = lp.shape[1]
        self.A = lp.A.toarray()
        self.row_lower, self.row_upper = lp.row_lower.copy(), lp.row_upper.copy()
        self.lower, self.upper = lp.lower.copy(), lp.upper.copy()
        self.upper[self.cols["r"]] = np.tile(np.where(self.market.offered, b.p_discharge_mw + b.p_charge_mw, 0.0), HOURS)
        self.equality = self.row_lower == self.row_upper
        # the SoC, read off the builder's own SoC rows: e = soc_base + discharge @ soc_discharge +
        # charge @ soc_charge, for hourly flows (MW) held over each hour's intervals
        soc_rows = lp.A.tocsr()[self.rows["soc"]]
        solve_e = np.linalg.inv(soc_rows[:, self.cols["e"]].toarray())  # the recursion, inverted
        to_hours = np.eye(HOURS).repeat(self.k, axis=0)  # (T, 24)
        self.soc_base = solve_e @ lp.row_lower[self.rows["soc"]]
        self.soc_discharge = -(solve_e @ soc_rows[:, self.cols["bp"]].toarray() @ to_hours).T  # (24, T)
        self.soc_charge = -(solve_e @ soc_rows[:, self.cols["bm"]].toarray() @ to_hours).T
        # one hour alone: the share of its starting SoC it keeps, its SoC change per MW of each flow
        self.hour_decay = float(solve_e[self.k, 0])
        self.hour_gain_discharge = float(-self.soc_discharge[0, self.k - 1])
        self.hour_gain_charge = float(self.soc_charge[0, self.k - 1])
        # c(theta) = c0 + theta @ C, offset(theta) = o0 + theta @ o: exact, as both are affine
        self.c0, self.o0 = lp.c.copy(), lp.offset
        self.C = np.empty((self.n_params, self.n_cols))
        self.o = np.empty(self.n_params)
        for i in range(self.n_params):
            unit = self.model(np.eye(1, self.n_params, i).ravel()).lp
            self.C[i], self.o[i] = unit.c - self.c0, unit.offset - self.o0

        # the idle decision's completion (no bid: SoC drifts by self-discharge only)
        self.z_idle = self.complete(torch.zeros(1, BID_SIZE, dtype=torch.float64))[0].numpy()
        self.e_idle = self.z_idle[self.cols["e"]]
        lo, hi = self.row_lower - 1e-9, self.row_upper + 1e-9
        ax = self.A @ self.z_idle
        if np.any(ax < lo) or np.any(ax > hi) or np.any(self.z_idle < self.lower - 1e-9):
            raise ValueError("the idle bid is infeasible for this battery (self-discharge drains it below its SoC floor "
                             "within the day); a proxy needs a feasible idle point to repair towards")

    # -- numpy ---------------------------------------------------------------------------------

    def arrays(self, theta: np.ndarray) -> ScenarioArrays:
        """One parameter vector as the builder's day arrays (expected deployment, no mileage)."""
        theta = np.asarray(theta, float)
        n = self.n_intervals
        return ScenarioArrays(
            self.dt_h, theta[:HOURS], theta[HOURS:HOURS + n], theta[HOURS + n:].reshape(HOURS, N_PRODUCTS),
            np.zeros((HOURS, 2)), np.broadcast_to(self.deployment, (n, N_PRODUCTS)).copy(), np.zeros((n, 2)),
        )

    def model(self, theta: np.ndarray) -> DayModel:
        """The builder's LP for one parameter vector (what HiGHS solves)."""
        return build_day_model(self.battery, self.market, self.arrays(theta), follow_schedule=True)

    def params(self, ctx: DAContext) -> np.ndarray:
        """Encode a DA context as ``theta``; raises if the context is not this problem's."""
        problem = self.spec.mismatch(ProblemSpec.from_context(ctx))
        if problem:
            raise ValueError(f"DA context {ctx.scenario_id}: {problem}")
        return encode(ctx)

    # -- torch ---------------------------------------------------------------------------------

    def t(self, name: str) -> torch.Tensor:
        """A cached float64 tensor of a problem array."""
        if name not in self._torch:
            self._torch[name] = torch.as_tensor(np.ascontiguousarray(getattr(self, name)), dtype=torch.float64)
        return self._torch[name]

    def flows(self, bid: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Per-hour quantities of a bid batch (B, 120): x (B, 24), r (B, 24, 4), summed up awards,
        reg-down awards, base legs bp, bm, and the expected discharge / charge flows (MW) the SoC
        sees, ``bp + sum_up delta r`` and ``bm + delta_RD r_RD`` (all (B, 24))."""
        x, r = bid[..., :HOURS], bid[..., HOURS:].unflatten(-1, (HOURS, N_PRODUCTS))
        up = sum(r[..., a] for a in UP_INDEX)
        up_deployed = sum(self.deployment[a] * r[..., a] for a in UP_INDEX)
        rd = r[..., DOWN_INDEX]
        bp, bm = torch.relu(x), torch.relu(-x)
        return x, r, up, rd, bp, bm, bp + up_deployed, bm + self.deployment[DOWN_INDEX] * rd

    def soc(self, discharge: torch.Tensor, charge: torch.Tensor) -> torch.Tensor:
        """SoC after every interval (B, T) from hourly discharge / charge flows (B, 24), MW, by the
        builder's SoC rows (starting from the battery's initial SoC)."""
        return self.t("soc_base") + discharge @ self.t("soc_discharge") + charge @ self.t("soc_charge")

    def complete(self, bid: torch.Tensor) -> torch.Tensor:
        """The LP vector ``z`` (B, n_cols) of a bid batch (B, 120): legs from x, SoC from the flows."""
        x, _, _, _, bp, bm, discharge, charge = self.flows(bid)
        z = bid.new_zeros(*bid.shape[:-1], self.n_cols)
        z[..., self.cols["x"]] = x
        z[..., self.cols["r"]] = bid[..., HOURS:]
        z[..., self.cols["bp"]] = bp.repeat_interleave(self.k, dim=-1)
        z[..., self.cols["bm"]] = bm.repeat_interleave(self.k, dim=-1)
        z[..., self.cols["e"]] = self.soc(discharge, charge)
        return z

    def objective(self, theta: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """LP objective (B,) in $ (to maximise): ``c(theta) @ z + offset(theta)``."""
        c = self.t("c0") + theta @ self.t("C")
        return (c * z).sum(-1) + self.o0 + theta @ self.t("o")

    def eq_residual(self, z: torch.Tensor) -> torch.Tensor:
        """``A_eq z - b_eq`` (B, rows): the SoC recursion and the schedule-following rows."""
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
        """
        lo, hi = self.t("row_lower"), self.t("row_upper")
        y = torch.where(torch.isinf(lo), torch.relu(y), y)
        y = torch.where(torch.isinf(hi), -torch.relu(-y), y)
        b_pos = torch.where(torch.isinf(hi), torch.zeros(()), hi)
        b_neg = torch.where(torch.isinf(lo), torch.zeros(()), lo)
        rows = torch.relu(y) @ b_pos - torch.relu(-y) @ b_neg
        c = self.t("c0") + theta @ self.t("C")
        d = c - y @ self.t("A")
        box = torch.maximum(d * self.t("lower"), d * self.t("upper")).sum(-1)
        return rows + box + self.o0 + theta @ self.t("o")


@functools.lru_cache(maxsize=8)
def problem_for(spec: ProblemSpec) -> ProxyProblem:
    """One :class:`ProxyProblem` per spec and process (building one takes about a second)."""
    return ProxyProblem(spec)
