"""Exact hourly decoding: from a SoC trajectory at hour ends to the best bid that follows it.

Given the SoC at every hour's end, ForecastLP's DA problem splits into 24 independent hourly
problems: maximise the hour's value over its bid ``v = (x, r_RU, r_RD, r_SP, r_NS)`` within the
hour's polytope (bounds, the market's acceptance rows, the legs' power rows) subject to one
equality, the SoC change its flows make (MWh; the bid is held over the hour's intervals)::

    net(v) = g_ch (max(-x, 0) + delta_RD r_RD) - g_dis (max(x, 0) + sum_up delta_a r_a),

with the per-hour gains ``g`` read off the builder's SoC rows (:class:`ProxyProblem`).

Both ``net`` and the hour's value are linear on each half ``x >= 0``, ``x <= 0`` of the
polytope, so the optimum of the sliced polytope lies on one of its edges: the decoder
enumerates the edges once (vertices by brute force over active sets, 5 variables), and for a
batch interpolates every edge at the target flow and keeps the best. The value of a vertex is
``c(theta)`` of the hour's columns times the vertex's LP pattern; the SoC inside an hour moves
monotonically, so hour-end bounds are all the SoC rows need. :meth:`HourlyDecoder.clip`
first makes a trajectory reachable (sequentially, hour by hour), so the decoded bid is feasible
by construction. Given the LP's own optimal trajectory the decoder returns an optimal bid
(tested).
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import torch

from agents.proxy.problem import BID_SIZE, ProxyProblem
from bessgym.market import DOWN_INDEX, HOURS, N_PRODUCTS, UP_MASK

_TOL = 1e-9


def hour_polytope(problem: ProxyProblem) -> tuple[np.ndarray, np.ndarray]:
    """``G v <= h`` for one hour's bid ``v = (x, r)`` (both halves; ``max(x, 0) <= a`` is
    written as ``x <= a`` and ``0 <= a``)."""
    b, delta = problem.battery, problem.deployment
    up, down = UP_MASK.astype(float), (np.arange(N_PRODUCTS) == DOWN_INDEX).astype(float)
    rows = [
        ([1, *up], b.p_discharge_mw), ([1, *(up * delta)], b.p_discharge_mw), ([0, *(up * delta)], b.p_discharge_mw),
        ([-1, *down], b.p_charge_mw), ([-1, *(down * delta)], b.p_charge_mw), ([0, *(down * delta)], b.p_charge_mw),
        ([1, 0, 0, 0, 0], b.p_discharge_mw), ([-1, 0, 0, 0, 0], b.p_charge_mw),
    ]
    for a in range(N_PRODUCTS):
        unit = np.eye(1 + N_PRODUCTS)[1 + a]
        rows.append((-unit, 0.0))
        if not problem.market.offered[a]:
            rows.append((unit, 0.0))
    return np.array([r for r, _ in rows], float), np.array([h for _, h in rows], float)


def polytope_edges(G: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (V, 5) of both halves and the index pairs (E, 2) of each half's edges."""
    dim = G.shape[1]
    vertices, edges = [], []
    for side in (1.0, -1.0):
        Gs, hs = np.vstack([G, -side * np.eye(1, dim)]), np.append(h, 0.0)
        found: dict[tuple, frozenset] = {}
        for active in itertools.combinations(range(len(Gs)), dim):
            sub = Gs[list(active)]
            if abs(np.linalg.det(sub)) < 1e-12:
                continue
            v = np.linalg.solve(sub, hs[list(active)])
            if np.all(Gs @ v <= hs + _TOL):
                key = tuple(np.round(v, 9) + 0.0)
                found[key] = frozenset(np.flatnonzero(np.abs(Gs @ v - hs) < _TOL))
        start = len(vertices)
        keys = list(found)
        vertices += [np.array(k) for k in keys]
        edges += [(start + i, start + j) for i, j in itertools.combinations(range(len(keys)), 2)
                  if len(found[keys[i]] & found[keys[j]]) >= dim - 1]
    return np.array(vertices), np.array(edges)


class HourlyDecoder:
    """Decode hour-end SoC trajectories (B, 24) into bids (B, 120) for one problem."""

    def __init__(self, problem: ProxyProblem) -> None:
        self.problem = problem
        self.vertices, self.edges = polytope_edges(*hour_polytope(problem))
        v = self.vertices
        # each vertex's SoC change over an hour (MWh; before self-discharge of the starting SoC)
        in_first_hour = torch.zeros(len(v), BID_SIZE, dtype=torch.float64)
        in_first_hour[:, 0] = torch.as_tensor(v[:, 0])
        in_first_hour[:, HOURS:HOURS + N_PRODUCTS] = torch.as_tensor(v[:, 1:])
        *_, discharge, charge = problem.flows(in_first_hour)
        self.net = (problem.hour_gain_charge * charge[:, 0] - problem.hour_gain_discharge * discharge[:, 0]).numpy()
        self.decay = problem.hour_decay
        k = problem.k
        # the LP pattern of a vertex in an hour: x, r (4), then bp and bm summed over the hour's intervals
        pattern = np.concatenate([v, np.maximum(v[:, :1], 0), np.maximum(-v[:, :1], 0)], 1)
        cols = problem.cols
        per_hour = [cols["x"][:, None], cols["r"].reshape(HOURS, N_PRODUCTS),
                    cols["bp"].reshape(HOURS, k), cols["bm"].reshape(HOURS, k)]
        # value features (B, 24, 7) = theta @ F + f0: the hour's costs of x, r and the summed legs
        F = np.concatenate([problem.C[:, p].reshape(problem.n_params, HOURS, -1) for p in per_hour[:2]]
                           + [problem.C[:, p].sum(-1)[..., None] for p in per_hour[2:]], -1)
        f0 = np.concatenate([problem.c0[p].reshape(HOURS, -1) for p in per_hour[:2]]
                            + [problem.c0[p].sum(-1)[:, None] for p in per_hour[2:]], -1)
        self.F = torch.as_tensor(F.reshape(problem.n_params, -1), dtype=torch.float32)
        self.f0 = torch.as_tensor(f0, dtype=torch.float32)
        # edges along which the net flow changes (an edge of constant flow adds no candidate: its
        # ends are ends of other edges); edge tables as matrices, so gathers are products
        net_i, net_j = self.net[self.edges[:, 0]], self.net[self.edges[:, 1]]
        self.edges = self.edges[np.abs(net_j - net_i) > _TOL]
        i, j = self.edges.T
        f32 = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731  (the edge search runs in float32)
        self._value_i, self._value_dj = f32(pattern[i].T), f32((pattern[j] - pattern[i]).T)  # (7, E)
        self._net_i = f32(self.net[i])
        self._inv_span = f32(1.0 / (self.net[j] - self.net[i]))
        self._inv_span_64 = torch.as_tensor(1.0 / (self.net[j] - self.net[i]))
        self._v_i, self._dv = torch.as_tensor(v[i]), torch.as_tensor(v[j] - v[i])
        self.net_min, self.net_max = float(self.net.min()), float(self.net.max())

    def clip(self, soc: torch.Tensor) -> torch.Tensor:
        """The reachable trajectory nearest hour by hour: each hour's end within the SoC bounds
        and the hour's feasible net flows, given the SoC the earlier hours left (B, 24)."""
        b = self.problem.battery
        e = torch.full(soc.shape[:-1], b.e_initial_mwh, dtype=soc.dtype)
        out = []
        for h in range(HOURS):
            drift = self.decay * e
            lo = (drift + self.net_min).clamp(min=b.e_min_mwh)
            hi = (drift + self.net_max).clamp(max=b.e_max_mwh)
            e = torch.minimum(torch.maximum(soc[..., h], lo), hi)
            out.append(e)
        return torch.stack(out, -1)

    def net_flow(self, soc: torch.Tensor) -> torch.Tensor:
        """Each hour's SoC change from its flows (MWh) along a reachable trajectory (B, 24)."""
        start = torch.full((*soc.shape[:-1], 1), self.problem.battery.e_initial_mwh, dtype=soc.dtype)
        return soc - self.decay * torch.cat([start, soc[..., :-1]], -1)

    def __call__(self, theta: torch.Tensor, soc: torch.Tensor) -> torch.Tensor:
        """Bids (B, 120) following the clipped trajectory with the most value in every hour."""
        theta, soc = theta.to(torch.float64), soc.to(torch.float64)
        flow = self.net_flow(self.clip(soc))
        features = (theta.float() @ self.F).reshape(-1, HOURS, self.f0.shape[-1]) + self.f0  # (B, 24, 7)
        lam = (flow.float()[..., None] - self._net_i) * self._inv_span  # (B, 24, E): where the flow is on each edge
        inside = (lam >= -1e-6) & (lam <= 1 + 1e-6)
        edge_value = features @ self._value_i + lam * (features @ self._value_dj)
        best = torch.where(inside, edge_value, -3e38).argmax(-1, keepdim=True)
        # the chosen edge, recomputed in float64 so the bid meets the flow exactly
        i_best = best[..., 0]
        lam_best = ((flow - self._net_i.double()[i_best]) * self._inv_span_64[i_best]).clamp(0, 1)
        v = self._v_i[i_best] + lam_best[..., None] * self._dv[i_best]  # (B, 24, 5)
        return torch.cat([v[..., 0], v[..., 1:].flatten(-2)], -1)

    def refine(self, theta: torch.Tensor, soc: torch.Tensor, steps: int, step_frac: float = 0.075) -> torch.Tensor:
        """Improve trajectories (B, 24) by ``steps`` of projected supergradient ascent on the LP
        value of their decoded bids (concave in the trajectory: the hours' value frontiers are).

        Each step moves every hour-end SoC by up to ``step_frac`` of the energy capacity (the
        gradient scaled by its largest entry, the step decaying linearly to 0), then clips to a
        reachable trajectory; the best trajectory seen is returned. No solver: batched decoding
        and autograd only.
        """
        theta = theta.to(torch.float64)
        best_soc = self.clip(soc.to(torch.float64).detach())
        best = torch.full(best_soc.shape[:-1], -torch.inf, dtype=torch.float64)
        current = best_soc
        for step in range(steps + 1):
            with torch.enable_grad():
                current = current.detach().requires_grad_(True)
                value = self.problem.objective(theta, self.problem.complete(self(theta, current)))
                grad = torch.autograd.grad(value.sum(), current)[0] if step < steps else None
            better = value.detach() > best
            best = torch.where(better, value.detach(), best)
            best_soc = torch.where(better[..., None], current.detach(), best_soc)
            if grad is None:
                break
            size = step_frac * self.problem.battery.energy_mwh * (1 - step / steps)
            current = self.clip(current.detach() + size * grad / grad.abs().amax(-1, keepdim=True).clamp(min=1e-12))
        return best_soc

    def dual_bound(self, theta: torch.Tensor, soc_duals: torch.Tensor) -> torch.Tensor:
        """An upper bound (B,) on the LP optimum from multipliers of the SoC rows only (B, T).

        The SoC rows are relaxed with ``soc_duals``; every other row is kept, so the inner problem
        splits into hours (the bid at one of the hour polytope's vertices: the inner objective is
        convex in the bid, each interval's leg split being an LP in one variable) and SoC columns
        (each at a bound). With the LP's own SoC duals the bound is the optimum (strong duality).
        """
        p, b = self.problem, self.problem.battery
        theta, y = theta.to(torch.float64), soc_duals.to(torch.float64)
        soc_rows = torch.as_tensor(p.rows["soc"])
        A_soc = p.t("A")[soc_rows]
        d = p.t("c0") + theta @ p.t("C") - y @ A_soc  # reduced costs (B, n_cols)
        cols, k = p.cols, p.k
        v = torch.as_tensor(self.vertices)  # (V, 5)
        x, r = v[:, 0], v[:, 1:]
        # the bid's own columns: x and r (B, 24, V)
        value = d[:, cols["x"]][..., None] * x + d[:, cols["r"]].unflatten(-1, (HOURS, N_PRODUCTS)) @ r.T
        # each interval's legs: bp in [max(x, 0), ub], bm = bp - x, at the better end
        up_deployed = r @ torch.as_tensor(p.deployment * UP_MASK)
        down_deployed = r[:, DOWN_INDEX] * p.deployment[DOWN_INDEX]
        low = x.clamp(min=0)
        high = torch.minimum(b.p_discharge_mw - up_deployed, b.p_charge_mw - down_deployed + x)
        d_bp, d_bm = d[:, cols["bp"]].unflatten(-1, (HOURS, k)), d[:, cols["bm"]].unflatten(-1, (HOURS, k))
        at_low = d_bp[..., None] * low + d_bm[..., None] * (low - x)  # (B, 24, k, V)
        slope = (d_bp + d_bm)[..., None]
        value = value + (at_low + slope.clamp(min=0) * (high - low).clamp(min=0)).sum(-2)
        d_e = d[:, cols["e"]]
        e_part = torch.maximum(d_e * p.t("lower")[cols["e"]], d_e * p.t("upper")[cols["e"]]).sum(-1)
        rhs = y @ p.t("row_lower")[soc_rows]
        return rhs + value.amax(-1).sum(-1) + e_part + p.o0 + theta @ p.t("o")


@functools.lru_cache(maxsize=8)
def decoder_for(problem: ProxyProblem) -> HourlyDecoder:
    """One decoder per problem and process."""
    return HourlyDecoder(problem)
