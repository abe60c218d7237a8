"""Exact hourly decoding: from the two SoC trajectories to the best bid that follows them.

ForecastLP's LP has two state chains: the SoC ``e`` after every interval (what the flows do,
expected deployment included) and the planned SoC ``ep`` the schedule alone gives at every
hour's end (the market's acceptance rules). Given both at every hour's end, every row of the LP
is local to one hour:

* the planned SoC's step fixes the hour's energy ``x`` (the step is strictly decreasing in x);
* what is left is a small LP in the hour's awards ``r`` (4 variables): maximise the hour's value
  subject to the hour's rows (power acceptance and availability, each sub-period's power within
  its legs' bounds, the duration rows on the planned SoC, the availability-energy rows on the
  SoC at each interval's start, the SoC bounds inside the hour) and one equality, the SoC
  change the hour's flows make from ``e`` at its start to ``e`` at its end.

All of these are read off the builder's rows (:func:`agents.proxy.repair.tables` groups them
by hour; the hour's columns as functions of its bid come from the completion,
:mod:`agents.proxy.completion`). The sub-period powers ``p_up = x + d_up . r`` and
``p_dn = x + d_dn . r`` enter the SoC through ``max(p, 0)`` and ``max(-p, 0)``, so the hour's LP is
linear on each *cone* of fixed signs of ``p_up`` and ``p_dn``. In a cone, the optimum lies where
three rows and the equality are active: :class:`HourlyDecoder` enumerates those candidates once
(rows of the same direction are merged, their bound the tightest per instance; rows lying
between two others are dropped), and for a batch evaluates every candidate in closed form and
keeps the best feasible one, hour by hour (the states the hour leaves are the next hour's start;
here 4 cones of about 170 candidates against about 16 merged rows). So given the LP's own
optimal trajectories the decoder returns an optimal bid (tested on every test day). A predicted
trajectory is made reachable on the way: the planned SoC's step is clipped to the SoC bounds and
the battery's power, the SoC's end to the nearest value the hour can reach (the nearest end of
a candidate's feasible range), and an hour that cannot follow its energy at all (the planned
step's x leaves no feasible awards from the SoC it starts at) is left idle. Decoded bids are
feasible by construction, rows broken by at most 1e-10 MW or MWh (rounding); callers still apply
:func:`agents.proxy.repair.repair`. Following a trajectory exactly is demanding: with x fixed by
the planned SoC, only the awards' expected deployment can make up a SoC step that is a little
off, so small errors in a predicted trajectory cost value (what refinement recovers).

:meth:`HourlyDecoder.dual_bound` bounds the LP optimum from multipliers of the coupling rows (the
rows that are not hour-local): the hours' inner problems are solved over the vertices of the
hour polytope in ``(x, r)``, split where each pair's inner value bends.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from agents.proxy.completion import BID_SIZE
from agents.proxy.problem import ProxyProblem, project_duals
from agents.proxy.repair import UNBOUNDED, repair, tables
from bessgym.market import HOURS, N_PRODUCTS

_TOL = 1e-9
_DIM = 1 + N_PRODUCTS  # an hour's bid: x and the awards
_FEASIBLE = 1e-10  # MW or MWh: a candidate may break its rows by this much (rounding; below repair.TOLERANCE)


def place(problem: ProxyProblem, v: np.ndarray, hour: int) -> np.ndarray:
    """Bids (N, 120) holding the hour bids ``v`` (N, 5) in ``hour`` and nothing elsewhere."""
    bid = np.zeros((len(v), BID_SIZE))
    bid[:, hour] = v[:, 0]
    bid[:, HOURS + hour * N_PRODUCTS:HOURS + (hour + 1) * N_PRODUCTS] = v[:, 1:]
    return bid


def vertices(G: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Vertices (V, dim) of ``{v : G v <= h}``, by brute force over active sets."""
    m, dim = G.shape
    combos = np.array(list(itertools.combinations(range(m), dim)))
    M = G[combos]
    regular = np.abs(np.linalg.det(M)) > 1e-9
    combos, M = combos[regular], M[regular]
    v = np.linalg.solve(M, h[combos][..., None])[..., 0]
    v = v[(v @ G.T <= h + _TOL).all(1)]
    return np.unique(np.round(v, 9) + 0.0, axis=0)


@dataclass
class _Cone:
    """One cone's hour LP in the awards: one-sided rows ``g_r . r <= rhs``, per hour, with
    ``rhs = -(g_x x + p . (e_start, ep_start, ep_end, 1))`` scaled by ``|g_r|``; rows of the same
    direction share a group (its bound: their tightest); ``candidates`` the group triples that
    fix a point with the SoC equality ``n_r . r = tau``."""

    own: np.ndarray  # (L, 5): the hour's own columns as linear functions of (x, r) in the cone
    n_x: float
    g_x: list[np.ndarray]  # per hour (m_h,)
    p: list[np.ndarray]  # per hour (m_h, 4)
    group: list[np.ndarray]  # per hour (m_h,): the row's group, -1 for rows free of r
    directions: np.ndarray  # (G, 4) unit
    candidates: np.ndarray  # (C, 3) group indices
    matrix: np.ndarray  # (C, 4, 4): the triple's directions and the equality's
    solve: np.ndarray  # (C, 4, 4): its inverse, r = solve @ [bounds of the triple, tau]
    slack: np.ndarray  # (C, G, 3): each group's direction times the candidate's r per unit bound
    slope: np.ndarray  # (C, G): ... per unit tau
    tolerance: np.ndarray  # (G,): how far a group's scaled rows may be broken (rounding of MW or MWh)


class HourlyDecoder:
    """Decode trajectories (B, 48): the SoC ``e`` at the 24 hour ends, then the planned SoC ``ep``
    at the 24 hour ends (MWh), into bids (B, 120) for one problem (see the module docstring).
    ``coupling`` are the rows :meth:`dual_bound` relaxes: every row that is not hour-local."""

    def __init__(self, problem: ProxyProblem) -> None:
        self.problem = p = problem
        comp, A = p.completion, p.A
        self.tab = tab = tables(p)
        if tab.chains != ["e", "ep"]:
            raise ValueError("the decoder needs both SoC chains: a market profile with energy_backing")
        own = comp.homogeneous & (p.hour_of[None, :] == np.arange(HOURS)[:, None])  # (24, n_cols)
        self.own = [np.flatnonzero(row) for row in own]  # each hour's own columns, aligned across hours
        self.e_end, self.ep_end = p.trajectory_cols[:HOURS], p.trajectory_cols[HOURS:]
        rng = np.random.default_rng(0)
        probe = rng.uniform(-1, 1, (8, _DIM))
        z0 = comp(place(p, probe, 0))
        for h in range(1, HOURS):  # every hour is hour 0 shifted: same columns, same values
            zh = comp(place(p, probe, h))
            if len(self.own[h]) != len(self.own[0]) or not np.allclose(zh[:, self.own[h]], z0[:, self.own[0]], atol=1e-9):
                raise ValueError(f"decoder: hour {h} is not hour 0 shifted (time-varying deployment or rules)")

        def linear(values: np.ndarray) -> np.ndarray:
            """Coefficients (m, 5) on v of quantities (8, m) linear in it, from the probes."""
            coef = np.linalg.lstsq(probe, values, rcond=None)[0].T
            if not np.allclose(probe @ coef.T, values, atol=1e-9):
                raise ValueError("decoder: an hour-local row or pair net is not linear in the hour's bid")
            return coef

        # rows: hour-local ones (all columns homogeneous, in one hour) and the coupling rest
        used = [np.flatnonzero(row) for row in A]
        local_rows = np.array([comp.homogeneous[c].all() and len(set(p.hour_of[c])) == 1 for c in used])
        self.coupling = np.flatnonzero(~local_rows)
        for i in np.flatnonzero(local_rows & ~p.equality):
            if not comp.linear[used[i]].all():
                raise ValueError(f"decoder: hour-local inequality row {i} holds a pair column")
        pair_steps = [s for s in comp.steps if s.partner is not None]
        self.pairs = np.array([(a, b) for s in pair_steps for a, b in zip(s.target, s.partner, strict=True) if a in self.own[0]])
        self.net_coef = linear(z0[:, self.pairs[:, 0]] - z0[:, self.pairs[:, 1]])  # (P, 5)
        self.pair_upper = p.upper[self.pairs]  # (P, 2)
        lin = np.isin(self.own[0], np.flatnonzero(comp.linear))
        self.own_linear = np.zeros((len(self.own[0]), _DIM))
        self.own_linear[lin] = linear(z0[:, self.own[0][lin]])

        self._hour_polytope(A, local_rows, used, linear, z0)
        self._decoding_tables()

    # -- the dual bound's hour polytope ------------------------------------------------------------

    def _hour_polytope(self, A: np.ndarray, local_rows: np.ndarray, used: list[np.ndarray],
                       linear: Callable[[np.ndarray], np.ndarray], z0: np.ndarray) -> None:
        """Vertices of the hour polytope in ``(x, r)`` (bounds, hour-local inequality rows, pair
        nets within their members' bounds), split at every breakpoint of a pair's inner value
        (0 and ``U_p - U_q``): the inner value of :meth:`dual_bound` is linear on each piece."""
        p = self.problem
        bid_cols = np.r_[p.cols["x"][0], p.cols["r"][:N_PRODUCTS]]
        G, h = [np.eye(_DIM), -np.eye(_DIM)], [p.upper[bid_cols], -p.lower[bid_cols]]
        for i in np.flatnonzero(local_rows & ~p.equality):
            if p.hour_of[used[i]].max() != 0:
                continue
            coef = linear((z0 @ A[i])[:, None])[0]
            for sign, bound in ((1.0, p.row_upper[i]), (-1.0, -p.row_lower[i])):
                if np.isfinite(bound):
                    G.append(sign * coef[None])
                    h.append(np.array([bound]))
        G += [self.net_coef, -self.net_coef]
        h += [self.pair_upper[:, 0], self.pair_upper[:, 1]]
        Gh = np.unique(np.round(np.c_[np.concatenate(G), np.concatenate(h)], 12), axis=0)
        G, h = Gh[:, :-1], Gh[:, -1]
        distinct, inverse = np.unique(np.round(self.net_coef, 12), axis=0, return_inverse=True)
        pieces = []
        for j, coef in enumerate(distinct):
            upper = self.pair_upper[inverse == j]
            lo, hi = -upper[:, 1].min(), upper[:, 0].min()
            cuts = np.unique(np.r_[lo, [c for c in np.r_[0.0, upper[:, 0] - upper[:, 1]] if lo < c < hi], hi])
            pieces.append([(coef, a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True)])
        found = []
        for region in itertools.product(*pieces):
            Gr = np.concatenate([G, *[np.stack([c, -c]) for c, _, _ in region]])
            hr = np.concatenate([h, *[np.array([b, -a]) for _, a, b in region]])
            found.append(vertices(Gr, hr))
        self.vertices = np.unique(np.concatenate(found), axis=0)

    # -- decoding ------------------------------------------------------------------------------------

    def _decoding_tables(self) -> None:
        p, tab, k = self.problem, self.tab, self.problem.k
        comp = p.completion
        # the planned SoC's step per MW of discharge and of charge (x = +1, x = -1 in hour 0)
        z = comp(place(p, np.array([[1.0, 0, 0, 0, 0], [-1.0, 0, 0, 0, 0]]), 0)) - p.z_idle
        self.ep_per_dis, self.ep_per_ch = z[0, self.ep_end[0]], z[1, self.ep_end[0]]
        if not self.ep_per_dis < 0 < self.ep_per_ch:
            raise ValueError("decoder: the planned SoC must fall with discharge and rise with charge")
        self.a_ep, self.c_ep = tab.a["ep"], tab.const["ep"]
        # the interval SoC inside each hour: e[t0 + j] = pe[h, j] e_start + ce[h, j] + Q_j(v)
        a_e, c_e = tab.a["e"], tab.const["e"]
        self.pe, self.ce = np.zeros((HOURS, k)), np.zeros((HOURS, k))
        for h in range(HOURS):
            pe, ce = 1.0, 0.0
            for j, t in enumerate(range(h * k, (h + 1) * k)):
                pe, ce = a_e[t] * pe, a_e[t] * ce + c_e[t]
                self.pe[h, j], self.ce[h, j] = pe, ce
        src = {int(c): i for i, c in enumerate(tab.src["e"])}
        inc_of_own = np.zeros((k, len(self.own[0])))  # each interval's SoC step per unit of the hour's own columns
        for col_index, c in enumerate(self.own[0]):
            if int(c) in src:
                inc_of_own[:, col_index] = tab.M_e[src[int(c)], :k]
        # cones: signs of the pair nets that move with the awards (x-only nets keep one sign per hour)
        r_nets = np.unique(np.round(self.net_coef[np.abs(self.net_coef[:, 1:]).sum(1) > _TOL], 12), axis=0)
        if not len(r_nets):
            raise ValueError("decoder: no sub-period power moves with the awards (zero expected deployment)")
        pair_index = {int(c): i for i, c in enumerate(self.pairs.ravel())}
        self.cones: list[_Cone] = []
        for signs in itertools.product((1.0, -1.0), repeat=len(r_nets)):
            own = self.own_linear.copy()
            for col_index, c in enumerate(self.own[0]):
                if int(c) not in pair_index:
                    continue
                i = pair_index[int(c)]
                net = self.net_coef[i // 2]
                match = np.flatnonzero((np.abs(r_nets - np.round(net, 12)) < 1e-9).all(1))
                if not len(match):  # an x-only pair: constant within an hour, left out of the awards' LP
                    continue
                sign = signs[match[0]]
                own[col_index] = net if (i % 2 == 0) == (sign > 0) else 0.0
                own[col_index] *= 1.0 if i % 2 == 0 else -1.0
            self.cones.append(self._cone(own, signs, r_nets, inc_of_own))
        self._stack()

    def _cone(self, own: np.ndarray, signs: tuple, r_nets: np.ndarray, inc_of_own: np.ndarray) -> _Cone:
        p, tab, k = self.problem, self.tab, self.problem.k
        a_e = tab.a["e"]
        inc = inc_of_own @ own  # (k, 5): each interval's SoC step, linear in v
        Q = np.zeros((k, _DIM))
        for j in range(k):
            Q[j] = (a_e[k + j] * Q[j - 1] if j else 0.0) + inc[j]  # within an hour (hour 1's factors: all hours share them)
        n_x, n_r = Q[-1, 0], Q[-1, 1:]
        rows_per_hour = []
        bid_r = p.cols["r"][:N_PRODUCTS]
        lower, upper = p.template.lp.lower[bid_r], p.template.lp.upper[bid_r]
        fixed = []  # rows the same in every hour: award bounds, pair nets within bounds, the cone's signs
        for a in range(N_PRODUCTS):
            unit = np.eye(_DIM)[1 + a]
            fixed += [(-unit, np.array([0, 0, 0, lower[a]]))] + ([(unit, np.array([0, 0, 0, -upper[a]]))] if np.isfinite(upper[a]) else [])
        for net, (u_p, u_q) in zip(self.net_coef, self.pair_upper, strict=True):
            fixed += [(net, np.array([0, 0, 0, -u_p])), (-net, np.array([0, 0, 0, -u_q]))]
        for sign, net in zip(signs, r_nets, strict=True):
            fixed.append((-sign * net, np.zeros(4)))
        local = np.zeros((p.n_cols, tab.local.shape[1]))
        local[tab.local_cols] = tab.local
        left_out = (np.abs(own).sum(1) == 0) & np.isin(self.own[0], self.pairs)  # the x-only pairs' columns
        for h in range(HOURS):
            valid = tab.valid[h]
            coef = tab.coef[h][:, valid]  # (k + 3, m)
            loc = local[:, tab.local_index[h][valid]]  # (n_cols, m)
            if np.abs(np.delete(loc, self.own[h], axis=0)).max(initial=0) > 0 or np.abs(loc[self.own[h][left_out]]).max(initial=0) > 0:
                raise ValueError(f"decoder: a row of hour {h} holds columns of other hours or an x-only pair's")
            g = coef[1:k + 1].T @ Q + loc[self.own[h]].T @ own  # (m, 5)
            pvec = np.stack([coef[0] + coef[1:k + 1].T @ self.pe[h], coef[k + 1], coef[k + 2], coef[1:k + 1].T @ self.ce[h]], 1)
            rows = fixed.copy()
            for i in range(len(g)):
                lo, hi = tab.lo[h][valid][i], tab.hi[h][valid][i]
                if hi < UNBOUNDED:
                    rows.append((g[i], pvec[i] - np.array([0, 0, 0, hi])))
                if lo > -UNBOUNDED:
                    rows.append((-g[i], -pvec[i] + np.array([0, 0, 0, lo])))
            rows_per_hour.append(_drop_implied(tuple((tuple(g), tuple(pv)) for g, pv in rows)))
        # groups: row directions in the awards (scaled to unit length)
        flat = [(h, g, pv) for h, rows in enumerate(rows_per_hour) for g, pv in rows]
        G = np.array([g for _, g, _ in flat])
        P = np.array([pv for _, _, pv in flat])
        norm = np.linalg.norm(G[:, 1:], axis=1)
        free = norm < 1e-12  # rows free of the awards
        scale = np.where(free, 1.0, norm)
        unit = G[~free, 1:] / norm[~free, None]
        close = np.abs(unit[:, None, :] - unit[None, :, :]).max(-1) < 1e-9
        first = close.argmax(1)  # each row's group: the first row of its direction
        representatives, group = np.unique(first, return_inverse=True)
        directions = unit[representatives]
        groups = np.full(len(flat), -1)
        groups[~free] = group
        tolerance = np.full(len(directions), np.inf)
        np.minimum.at(tolerance, group, _FEASIBLE / norm[~free])
        hour = np.array([h for h, _, _ in flat])
        g_x = [G[hour == h, 0] / scale[hour == h] for h in range(HOURS)]
        pp = [P[hour == h] / scale[hour == h, None] for h in range(HOURS)]
        group = [groups[hour == h] for h in range(HOURS)]
        D = directions
        along = np.abs(D @ n_r) / np.linalg.norm(n_r) > 1 - 1e-9  # parallel to the equality: never one of three
        cands, matrices = [], []
        for triple in itertools.combinations(np.flatnonzero(~along), 3):
            M = np.vstack([D[list(triple)], n_r])
            if abs(np.linalg.det(M)) > 1e-9:
                cands.append(triple)
                matrices.append(M)
        matrix = np.array(matrices)
        solve = np.linalg.inv(matrix)
        slope = np.einsum("gi,ci->cg", D, solve[:, :, 3])
        return _Cone(own, n_x, g_x, pp, group, D, np.array(cands), matrix, solve,
                     np.einsum("gi,cij->cgj", D, solve[:, :, :3]), slope, tolerance)

    def _stack(self) -> None:
        """The cones' tables as padded tensors (K cones, C candidates, G groups, m rows per hour),
        so that every hour evaluates all cones and candidates at once. A padding group is never
        bound (``UNBOUNDED``), a padding candidate never valid."""
        cones = self.cones
        K, C = len(cones), max(len(c.candidates) for c in cones)
        G = max(len(c.directions) for c in cones) + 1  # the last group: padding
        m = max(len(c.group[h]) for c in cones for h in range(HOURS))
        f64 = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float64)  # noqa: E731
        g_x, pp, group = np.zeros((HOURS, K, m)), np.zeros((HOURS, K, m, 4)), np.full((HOURS, K, m), G - 1)
        pp[..., 3] = -UNBOUNDED
        free = np.zeros((HOURS, K, m), bool)
        for h in range(HOURS):
            for k, cone in enumerate(cones):
                n = len(cone.group[h])
                g_x[h, k, :n], pp[h, k, :n] = cone.g_x[h], cone.p[h]
                free[h, k, :n] = cone.group[h] < 0
                group[h, k, :n] = np.where(cone.group[h] < 0, G - 1, cone.group[h])
        self.t_g_x, self.t_p, self.t_group, self.t_free = f64(g_x), f64(pp), torch.as_tensor(group), torch.as_tensor(free)
        cand, real = np.zeros((K, C, 3), int), np.zeros((K, C), bool)
        solve, matrix = np.tile(np.eye(4), (K, C, 1, 1)), np.tile(np.eye(4), (K, C, 1, 1))
        slack, slope = np.zeros((K, C, G, 3)), np.zeros((K, C, G))
        tolerance = np.zeros((K, G))
        for k, cone in enumerate(cones):
            c, g = len(cone.candidates), len(cone.directions)
            cand[k, :c], real[k, :c] = cone.candidates, True
            solve[k, :c], matrix[k, :c] = cone.solve, cone.matrix
            slack[k, :c, :g], slope[k, :c, :g] = cone.slack, cone.slope
            tolerance[k, :g] = cone.tolerance
        up, down = slope > 1e-12, slope < -1e-12
        self.t_cand, self.t_real = torch.as_tensor(cand), torch.as_tensor(real)
        self.t_solve, self.t_matrix, self.t_slack, self.t_slope = f64(solve), f64(matrix), f64(slack), f64(slope)
        self.t_inv = f64(np.where(up | down, 1 / np.where(up | down, slope, 1), 0))
        self.t_skip_up, self.t_skip_down = f64(np.where(up, 0, np.inf)), f64(np.where(down, 0, -np.inf))
        self.t_tolerance = f64(tolerance)
        self.t_own = f64(np.stack([c.own for c in cones]))  # (K, L, 5)
        self.t_n_x = f64([c.n_x for c in cones])

    def _energy(self, step: torch.Tensor) -> torch.Tensor:
        """The hour energy x (MW) whose planned SoC step is ``step`` (MWh)."""
        return torch.where(step < 0, step / self.ep_per_dis, -step / self.ep_per_ch)

    def _bounds(self, h: int, x: torch.Tensor, pi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each cone's group bounds (B, K, G) in hour h, and whether its rows free of the awards
        hold (B, K)."""
        rhs = -(x[:, None, None] * self.t_g_x[h] + torch.einsum("bj,kmj->bkm", pi, self.t_p[h]))  # (B, K, m)
        ok = (rhs >= -_FEASIBLE).logical_or(~self.t_free[h]).all(-1)
        bound = torch.full((len(x), *self.t_tolerance.shape), UNBOUNDED, dtype=x.dtype)
        return bound.scatter_reduce(2, self.t_group[h].expand(len(x), -1, -1), rhs, "amin"), ok

    @staticmethod
    def _range(slack0: torch.Tensor, slope: torch.Tensor, inv: torch.Tensor, skip_up: torch.Tensor, skip_down: torch.Tensor,
               tau: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Given each candidate's group slacks at tau = 0 (..., G), the SoC step nearest ``tau``
        within the candidate's feasible range, and whether every row holds there (...)."""
        up = torch.addcmul(skip_up, slack0, inv).amin(-1)
        down = torch.addcmul(skip_down, slack0, inv).amax(-1)
        nearest = torch.minimum(torch.maximum(tau, down), up)
        # a candidate's own rows hold with slack 0 (up to rounding): the bounds carry the tolerance
        return nearest, torch.addcmul(slack0, slope, nearest[..., None], value=-1).amin(-1) >= -1e-3 * _FEASIBLE

    def _hour(self, h: int, features: torch.Tensor, x: torch.Tensor, e_start: torch.Tensor, ep_start: torch.Tensor,
              ep_end: torch.Tensor, e_target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Hour h's best awards (B, 4), whether it can follow its energy x at all (B,) and the SoC
        it ends at (B,). The candidates are searched without gradients; the chosen one is then
        recomputed with them (gradients reach the trajectories through the bounds and tau)."""
        pi = torch.stack([e_start, ep_start, ep_end, torch.ones_like(x)], -1)
        tau = (e_target - self.pe[h, -1] * e_start - self.ce[h, -1])[:, None] - self.t_n_x * x[:, None]  # (B, K)
        B, C = len(x), self.t_real.shape[1]
        rows = torch.arange(B)
        with torch.no_grad():  # the search: each group's bound loosened by its tolerance (rounding)
            bound, ok = self._bounds(h, x, pi)
            bound = bound + self.t_tolerance
            triple = torch.gather(bound[:, :, None, :].expand(-1, -1, C, -1), 3, self.t_cand.expand(B, -1, -1, -1))  # (B, K, C, 3)
            slack0 = bound[:, :, None, :] - torch.einsum("kcgj,bkcj->bkcg", self.t_slack, triple)
            tau_c, valid = self._range(slack0, self.t_slope, self.t_inv, self.t_skip_up, self.t_skip_down, tau[..., None])
            r = torch.einsum("kcij,bkcj->bkci", self.t_solve[..., :3], triple) + self.t_solve[..., 3] * tau_c[..., None]
            omega = torch.einsum("bl,kli->bki", features, self.t_own)  # the value per unit of (x, r), per cone
            value = torch.einsum("bkci,bki->bkc", r, omega[..., 1:]) + (omega[..., 0] * x[:, None])[..., None]
            key = value - 1e7 * ((tau[..., None] - tau_c).abs() - _FEASIBLE).clamp(min=0)  # reachable first, then nearest
            key = torch.where(valid & ok[..., None] & self.t_real, key, -torch.inf).flatten(1)
            best_key, pick = key.max(-1)
        k, c = pick // C, pick % C
        bound = self._bounds(h, x, pi)[0][rows, k]  # (B, G), with gradients
        triple = bound[rows[:, None], self.t_cand[k, c]]  # (B, 3)
        slack0 = bound - (self.t_slack[k, c] @ triple[..., None])[..., 0]
        tau_k = tau[rows, k]
        tau_c = self._range(slack0 + self.t_tolerance[k], self.t_slope[k, c], self.t_inv[k, c], self.t_skip_up[k, c],
                            self.t_skip_down[k, c], tau_k)[0]
        rhs = torch.cat([triple, tau_c[:, None]], -1)
        solve, matrix = self.t_solve[k, c], self.t_matrix[k, c]
        awards = (solve @ rhs[..., None])[..., 0]
        awards = awards + (solve @ (rhs - (matrix @ awards[..., None])[..., 0])[..., None])[..., 0]  # one step of refinement
        reached = self.pe[h, -1] * e_start + self.ce[h, -1] + self.t_n_x[k] * x + tau_c
        return awards, torch.isfinite(best_key), reached

    def decode(self, theta: torch.Tensor, trajectory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Bids (B, 120) and the trajectories they follow (B, 48): the requested ones made
        reachable hour by hour (see the module docstring)."""
        p = self.problem
        if trajectory.dim() != 2 or trajectory.shape[-1] != 2 * HOURS:
            raise ValueError(f"trajectories must have shape (B, {2 * HOURS}) (SoC, then planned SoC, at hour ends), "
                             f"got {tuple(trajectory.shape)}")
        theta, trajectory = theta.to(torch.float64), trajectory.to(torch.float64)
        features = (theta @ p.t("C")[:, self.own_all] + p.t("c0")[self.own_all]).unflatten(-1, (HOURS, -1))  # (B, 24, L)
        e_start = torch.full(trajectory.shape[:-1], p.battery.e_initial_mwh, dtype=torch.float64)
        ep_start = e_start.clone()
        x_lower, x_upper = p.lower[p.cols["x"]], p.upper[p.cols["x"]]
        xs, rs, es, eps = [], [], [], []
        for h in range(HOURS):
            drift = self.a_ep[h] * ep_start + self.c_ep[h]  # the planned SoC of an idle hour
            lo = torch.clamp(drift + self.ep_per_dis * x_upper[h], min=float(p.lower[self.ep_end[h]]))
            hi = torch.clamp(drift - self.ep_per_ch * x_lower[h], max=float(p.upper[self.ep_end[h]]))
            ep_end = torch.minimum(torch.maximum(trajectory[:, HOURS + h], lo), hi)
            x = self._energy(ep_end - drift)
            awards, follows, reached = self._hour(h, features[:, h], x, e_start, ep_start, ep_end, trajectory[:, h])
            if not follows.all():  # where x leaves no feasible awards: no energy, the awards still decoded
                lost = torch.nonzero(~follows)[:, 0]
                zero = torch.zeros(len(lost), dtype=x.dtype)
                awards0, still, reached0 = self._hour(h, features[lost, h], zero, e_start[lost], ep_start[lost], drift[lost],
                                                      trajectory[lost, h])
                awards0 = torch.where(still[:, None], awards0, 0.0)  # only a SoC below its floor leaves an idle hour out
                reached0 = torch.where(still, reached0, self.pe[h, -1] * e_start[lost] + self.ce[h, -1])
                x, ep_end = x.index_put((lost,), zero), ep_end.index_put((lost,), drift[lost])
                awards, reached = awards.index_put((lost,), awards0), reached.index_put((lost,), reached0)
            e_start, ep_start = reached, ep_end
            xs.append(x)
            rs.append(awards)
            es.append(e_start)
            eps.append(ep_end)
        bid = torch.cat([torch.stack(xs, -1), torch.stack(rs, -2).flatten(-2)], -1)
        return bid, torch.cat([torch.stack(es, -1), torch.stack(eps, -1)], -1)

    def __call__(self, theta: torch.Tensor, trajectory: torch.Tensor) -> torch.Tensor:
        """Bids (B, 120) following the trajectories (B, 48) made reachable (:meth:`decode`)."""
        return self.decode(theta, trajectory)[0]

    @functools.cached_property
    @torch.inference_mode(False)
    def own_all(self) -> torch.Tensor:
        """Every hour's own columns (24 x L), hour-major."""
        return torch.as_tensor(np.concatenate(self.own))

    def refine(self, theta: torch.Tensor, trajectory: torch.Tensor, steps: int, step_frac: float = 0.005) -> torch.Tensor:
        """Improve trajectories (B, 48) by ``steps`` of gradient ascent on the LP value of their
        decoded and repaired bids.

        Each step decodes the current trajectories (which makes them reachable), then moves every
        hour-end state of the reached ones by up to ``step_frac`` of the energy capacity (the
        gradient scaled by its largest entry, the step decaying linearly to 0); the best reached
        trajectories seen are returned. The value is piecewise linear but not concave in the
        trajectories (the pairs make the problem non-convex), so this is a local search. No
        solver: batched decoding, repair and autograd.
        """
        theta = theta.to(torch.float64)
        current = trajectory.to(torch.float64).detach()
        best_traj, best = current, torch.full(current.shape[:-1], -torch.inf, dtype=torch.float64)
        for step in range(steps + 1):
            with torch.enable_grad():
                current = current.detach().requires_grad_(True)
                bid, reached = self.decode(theta, current)
                value = self.problem.objective(theta, self.problem.complete(repair(self.problem, bid)))
                grad = torch.autograd.grad(value.sum(), current)[0] if step < steps else None
            better = value.detach() > best
            best = torch.where(better, value.detach(), best)
            best_traj = torch.where(better[..., None], reached.detach(), best_traj)
            if grad is None:
                break
            size = step_frac * self.problem.battery.energy_mwh * (1 - step / steps)
            current = reached.detach() + size * grad / grad.abs().amax(-1, keepdim=True).clamp(min=1e-12)
        return best_traj

    def dual_bound(self, theta: torch.Tensor, duals: torch.Tensor) -> torch.Tensor:
        """An upper bound (B,) on the LP optimum from multipliers of the coupling rows only
        (B, len(coupling)), valid for any multipliers.

        The coupling rows are relaxed with ``duals``; every hour-local row is kept, so the inner
        problem splits into hours and columns outside every hour (the SoC, the planned SoC, the
        terminal pair: each at its better bound). An hour's inner value, with each pair's split
        ``p - q = net`` chosen at its better end, is linear on each piece of the hour polytope,
        so its maximum is at a piece's vertex. With the LP relaxation's own duals the bound is
        the relaxation's optimum (strong duality), an upper bound on ForecastLP's.
        """
        p = self.problem
        theta = theta.to(torch.float64)
        rows = torch.as_tensor(self.coupling)
        y, rhs = project_duals(duals.to(torch.float64), p.t("row_lower")[rows], p.t("row_upper")[rows])
        d = p.t("c0") + theta @ p.t("C") - y @ p.t("A")[rows]  # reduced costs (B, n_cols)
        own = torch.as_tensor(np.stack(self.own))  # (24, L)
        zv = p.completion(place(p, self.vertices, 0))[:, self.own[0]]
        plain = torch.as_tensor(~np.isin(self.own[0], self.pairs))
        value = d[:, own[:, plain]] @ torch.as_tensor(zv[:, plain.numpy()]).T  # the linear columns (B, 24, V)
        # each pair: q = p - net, p between max(net, 0) and min(U_p, U_q + net), at the better end
        position = {c: i for i, c in enumerate(self.own[0])}
        first = torch.as_tensor([position[c] for c in self.pairs[:, 0]])
        second = torch.as_tensor([position[c] for c in self.pairs[:, 1]])
        d_p, d_q = d[:, own[:, first]][:, :, None], d[:, own[:, second]][:, :, None]  # (B, 24, 1, P)
        net = torch.as_tensor(self.vertices @ self.net_coef.T)  # (V, P)
        upper = torch.as_tensor(self.pair_upper)
        low, high = net.clamp(min=0), torch.minimum(upper[:, 0], upper[:, 1] + net)
        g = d_p + d_q
        value = value + (-d_q * net + torch.where(g > 0, g * high, g * low)).sum(-1)
        outside = torch.as_tensor(~np.isin(np.arange(p.n_cols), np.concatenate(self.own)))
        d_out = d[:, outside]
        rest = torch.maximum(d_out * p.t("lower")[outside], d_out * p.t("upper")[outside]).sum(-1)
        return rhs + value.amax(-1).sum(-1) + rest + p.o0 + theta @ p.t("o")


@functools.lru_cache(maxsize=64)
def _drop_implied(rows: tuple[tuple[tuple[float, ...], tuple[float, ...]], ...]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The one-sided rows ``g . v + p . pi <= 0`` without those that lie between two others (a
    convex combination of both holds whenever both do: the SoC at an interval's start inside an
    hour lies between the hour's first and last). Cached: the hours after the first repeat."""
    R = np.array([np.r_[g, pv] for g, pv in rows])  # (m, 9)
    span = to_i = R[None, :, :] - R[:, None, :]  # (a, b): R_b - R_a, read as (a, i) too
    norm = (span**2).sum(-1)
    lam = np.einsum("aik,abk->aib", to_i, span) / np.where(norm > 0, norm, np.inf)[:, None, :]  # (a, i, b)
    residual = np.linalg.norm(to_i[:, :, None, :] - lam[..., None] * span[:, None, :, :], axis=-1)
    m = len(R)
    distinct = ~np.eye(m, dtype=bool)
    between = (residual < 1e-12) & (lam > 1e-12) & (lam < 1 - 1e-12) & distinct[:, :, None] & distinct.T[:, :, None] & distinct[:, None, :]
    implied = between.any((0, 2))
    return [(np.array(g), np.array(pv)) for (g, pv), drop in zip(rows, implied, strict=True) if not drop]


@functools.lru_cache(maxsize=8)
@torch.inference_mode(False)  # its tensors must serve autograd later, whatever mode made them
def decoder_for(problem: ProxyProblem) -> HourlyDecoder:
    """One decoder per problem and process."""
    return HourlyDecoder(problem)
