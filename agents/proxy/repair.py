"""Repair layers: any raw proxy output becomes a feasible bid of :class:`ProxyProblem`.

Applied in order by :func:`repair` (each batched over a leading axis, float64, differentiable
almost everywhere so they can sit inside a training loss):

1. :func:`clamp_bounds`: non-finite values to 0, x into ``[-P_ch, P_dis]``, awards into
   ``[0, P_dis + P_ch]``, products the market does not buy to 0;
2. :func:`scale_power`: per hour, the up awards scaled so the acceptance row
   ``x + sum_up r <= P_dis`` and every sub-period's power ``x + u_s <= P_dis`` hold, and the
   reg-down award so ``r_RD - x <= P_ch`` and ``x + v_s >= -P_ch`` hold (``u_s >= 0``,
   ``v_s <= 0`` the up and the down awards' expected deployment in sub-period s, read off the
   builder's power rows; each side's factor ignores the other side's help);
3. :func:`clip_hours`: hour by hour, the hour's whole bid scaled by the largest factor in [0, 1]
   that keeps every inequality row ending in the hour within bounds (acceptance, availability,
   the SoC at each of its intervals' starts backing the awards, the planned SoC's duration rows)
   and the SoC and planned SoC within theirs, given the states the earlier hours left. The
   hour's flows and awards scale with the factor, so each row bounds it in closed form;
4. :func:`ray_scale`: the guarantee. The whole bid is scaled by the largest ``s`` in ``[0, 1]``
   keeping every inequality row and bound feasible. The idle bid is feasible, and along
   ``s * bid`` every completed column is affine in ``s`` except the terminal pair, whose bounds
   are bounds on its net ``e_T - target`` (affine) and whose row holds by construction; so each
   row bounds ``s`` in closed form and the result is feasible for any input.

"Feasible" is within :data:`TOLERANCE`: a row broken by no more than that (rounding, as in a
decoded bid) is left as it is rather than cut. Steps 2 and 3 keep as much of the bid as they
can; 4 changes nothing when they succeed. The power and SoC rows are read off the builder's rows
through the completion (:mod:`agents.proxy.completion`), never re-derived.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from agents.proxy.completion import BID_SIZE
from agents.proxy.problem import ProxyProblem, TensorCache
from bessgym.market import DOWN_INDEX, HOURS, N_PRODUCTS, UP_MASK

_TINY = 1e-12
UNBOUNDED = 1e9  # stands in for an infinite row bound (keeps gradients finite)
TOLERANCE = 1e-9  # MW or MWh: a row broken by no more than this (rounding) is left as it is


def _ratio(room: torch.Tensor | float, load: torch.Tensor) -> torch.Tensor:
    """Largest scale in [0, 1] of ``load`` fitting ``room`` (1 where the load uses no room)."""
    room = room.clamp(min=0) if isinstance(room, torch.Tensor) else max(room, 0.0)
    return torch.where(load > _TINY, room / load.clamp(min=_TINY), 1.0).clamp(max=1)


def _within(value0: torch.Tensor, value1: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """Largest ``s`` in [0, 1] keeping ``value0 + s (value1 - value0)`` within ``[lo, hi]``,
    elementwise (``value0`` within them); 1 where ``value1`` is within :data:`TOLERANCE` of them."""
    change = value1 - value0
    up = torch.where(value1 > hi + TOLERANCE, _ratio(hi - value0, change), 1.0)
    down = torch.where(value1 < lo - TOLERANCE, _ratio(value0 - lo, -change), 1.0)
    return torch.minimum(up, down)


def _scale(bid: torch.Tensor, x: torch.Tensor, up: torch.Tensor, down: torch.Tensor) -> torch.Tensor:
    """The bid with energy ``x`` and its awards scaled per hour: ``up`` (B, 24) on the up
    products, ``down`` on reg down."""
    factors = torch.stack([down if a == DOWN_INDEX else up for a in range(N_PRODUCTS)], -1)
    return torch.cat([x, (bid[..., HOURS:].unflatten(-1, (HOURS, N_PRODUCTS)) * factors).flatten(-2)], -1)


def clamp_bounds(problem: ProxyProblem, bid: torch.Tensor) -> torch.Tensor:
    bid = torch.nan_to_num(bid.to(torch.float64), nan=0.0, posinf=1e12, neginf=-1e12)
    return torch.clamp(bid, problem.t("bid_lower"), problem.t("bid_upper"))


class _Tables(TensorCache):
    """What the layers read off a problem's rows, once per problem (see :func:`tables`).

    ``deploy`` (S, T, 4): each active sub-period's net power per MW of each award (MW, + =
    discharge); ``base`` (S, T): its power per MW of ``x``. For :func:`clip_hours`: the SoC
    recursions ``s_t = a_t s_{t-1} + const_t + z[src] @ M`` of the interval SoC ``e`` and the
    planned SoC ``ep`` (from their defining rows), and every inequality row and the states' bounds
    as ``window @ coef + z[local] @ L`` within ``[lo, hi]``, grouped by the hour the row
    ends in (the window: ``e`` before and after each of the hour's intervals, ``ep`` before and
    after the hour; the recursions in ``a``, ``const``, ``src``, ``M_e``, ``M_ep``). For
    :func:`ray_scale`: the inequality rows, the bounds of the affine columns and of the
    non-affine pairs' nets (:meth:`ray_values`), and their idle values.
    """

    def __init__(self, problem: ProxyProblem) -> None:
        completion, cols, k = problem.completion, problem.cols, problem.k
        A = problem.A
        # sub-period powers per MW of x and of each award: completions of unit bids
        units = np.zeros((1 + N_PRODUCTS, BID_SIZE))
        units[0, :HOURS] = 1.0
        for a in range(N_PRODUCTS):
            units[1 + a, HOURS + a::N_PRODUCTS] = 1.0
        z = completion(units)
        subs = [s for s in ("up", "dn") if f"power_{s}" in problem.rows]
        power = np.stack([z[:, cols[f"dis_{s}"]] - z[:, cols[f"ch_{s}"]] for s in subs])  # (S, 5, T)
        self.base = power[:, 0]
        self.deploy = power[:, 1:].transpose(0, 2, 1)
        # the power limits, from the builder: acceptance rows (x + up awards, r_RD - x) per hour, the
        # sub-periods' legs (discharge, charge) per interval
        self.accept_up_hi = problem.row_upper[problem.rows["accept_up"]]
        self.accept_down_hi = problem.row_upper[problem.rows["accept_down"]]
        self.dis_hi = np.stack([problem.upper[cols[f"dis_{s}"]] for s in subs])
        self.ch_hi = np.stack([problem.upper[cols[f"ch_{s}"]] for s in subs])
        up, down = self.deploy[..., UP_MASK], self.deploy[..., DOWN_INDEX]
        if np.any(up < -1e-12) or np.any(down > 1e-12) or not np.allclose(self.base[self.base != 0], 1.0):
            raise ValueError("repair expects up awards to deploy upwards, reg down downwards and the base point to follow x")

        # SoC recursions and the rows ending in each hour
        hour_of = problem.hour_of
        self.chains = [name for name in ("e", "ep") if name in cols]
        self.a, self.const, self.src = {}, {}, {}
        for name in self.chains:
            self.a[name], self.const[name], self.src[name], M = _recursion(problem, name)
            setattr(self, f"M_{name}", M)
        state_pos = {}  # column -> (chain, index)
        for name in self.chains:
            state_pos.update({int(c): (name, i) for i, c in enumerate(cols[name])})
        ineq = np.flatnonzero(~problem.equality)
        entries = [(A[i], problem.row_lower[i], problem.row_upper[i]) for i in ineq]
        for name in self.chains:  # the states' own bounds as rows
            for c in cols[name]:
                entries.append((np.eye(1, problem.n_cols, c).ravel(), problem.lower[c], problem.upper[c]))
        width = k + 3  # e[t0 - 1], e[t0 .. t0 + k - 1], ep[h - 1], ep[h]
        by_hour: list[list[tuple[np.ndarray, np.ndarray, float, float]]] = [[] for _ in range(HOURS)]
        local_rows = []
        for row, lo, hi in entries:
            used = np.flatnonzero(row)
            hour = int(hour_of[used].max())
            coef = np.zeros(width)
            local = np.zeros(problem.n_cols)
            for c in used:
                if int(c) in state_pos:
                    chain, i = state_pos[int(c)]
                    offset = i - (hour * k - 1) if chain == "e" else k + 1 + i - (hour - 1)
                    lowest = 0 if chain == "e" else k + 1
                    if not lowest <= offset < (k + 1 if chain == "e" else width):
                        raise ValueError(f"repair: a row ending in hour {hour} reaches {chain}[{i}], outside its window")
                    coef[offset] += row[c]
                elif hour_of[c] == hour and completion.homogeneous[c]:
                    local[c] = row[c]
                else:
                    raise ValueError(f"repair: a row of hour {hour} holds column {c}, neither a SoC nor the hour's own")
            by_hour[hour].append((coef, len(local_rows), lo, hi))
            local_rows.append(local)
        local = np.array(local_rows).T  # (n_cols, rows)
        self.local_cols = np.flatnonzero(np.abs(local).sum(1))
        self.local = local[self.local_cols]
        m = max(len(rows) for rows in by_hour)
        self.coef = np.zeros((HOURS, width, m))
        self.local_index = np.zeros((HOURS, m), dtype=int)
        self.lo, self.hi = np.full((HOURS, m), -UNBOUNDED), np.full((HOURS, m), UNBOUNDED)
        self.valid = np.zeros((HOURS, m), bool)  # padding rows are not
        for h, rows in enumerate(by_hour):
            for j, (coef, index, lo, hi) in enumerate(rows):
                self.coef[h, :, j], self.local_index[h, j], self.valid[h, j] = coef, index, True
                self.lo[h, j], self.hi[h, j] = max(lo, -UNBOUNDED), min(hi, UNBOUNDED)

        # the ray: inequality rows, every column's bounds but the non-affine pairs', their nets' bounds
        for i in ineq:
            if not completion.affine[np.flatnonzero(A[i])].all():
                raise ValueError(f"repair: inequality row {i} holds a column that is not affine along the ray")
        nets = [s for s in completion.steps if s.partner is not None and not completion.affine[s.target].all()]
        self.net_plus = np.concatenate([s.target for s in nets]) if nets else np.zeros(0, int)
        self.net_minus = np.concatenate([s.partner for s in nets]) if nets else np.zeros(0, int)
        if np.any(problem.lower[self.net_plus] != 0) or np.any(problem.lower[self.net_minus] != 0):
            raise ValueError("repair: pair columns must have lower bound 0")
        lower, upper = problem.lower.copy(), problem.upper.copy()
        lower[~completion.affine], upper[~completion.affine] = -np.inf, np.inf
        self.ray_lo = np.maximum(np.concatenate([problem.row_lower[ineq], lower, -problem.upper[self.net_minus]]), -UNBOUNDED)
        self.ray_hi = np.minimum(np.concatenate([problem.row_upper[ineq], upper, problem.upper[self.net_plus]]), UNBOUNDED)
        rows = A[ineq]
        self._ray_rows = torch.sparse_coo_tensor(np.array(rows.nonzero()), rows[rows != 0], rows.shape, dtype=torch.float64,
                                                 check_invariants=True)
        self.ray_idle = self.ray_values(torch.as_tensor(problem.z_idle)[None])[0].numpy()

    def ray_values(self, z: torch.Tensor) -> torch.Tensor:
        """What the ray bounds (B, V): inequality rows, columns, the non-affine pairs' nets."""
        rows = torch.sparse.mm(self._ray_rows, z.T).T
        return torch.cat([rows, z, z[..., self.net_plus] - z[..., self.net_minus]], -1)



def _recursion(problem: ProxyProblem, chain: str) -> tuple[np.ndarray, ...]:
    """``s_t = a_t s_{t-1} + const_t + z[src] @ M`` for the state block ``chain``, from the
    completion step that solves it (its rows must be lower bidiagonal in the block)."""
    step = next(s for s in problem.completion.steps if s.partner is None and np.array_equal(s.target, problem.cols[chain]))
    rows = problem.rows[step.rows]
    lead = problem.A[np.ix_(rows, step.target)]
    d, sub = np.diag(lead), np.diag(lead, -1)
    if np.any(np.abs(lead - np.diag(d) - np.diag(sub, -1)) > 0) or np.any(d == 0):
        raise ValueError(f"repair: the rows {step.rows!r} are not a first-order recursion of {chain!r}")
    return np.r_[0.0, -sub / d[1:]], problem.row_lower[rows] / d, step.source, -(problem.A[np.ix_(rows, step.source)] / d[:, None]).T


@functools.lru_cache(maxsize=8)
@torch.inference_mode(False)  # its tensors must serve autograd later, whatever mode made them
def tables(problem: ProxyProblem) -> _Tables:
    """One :class:`_Tables` per problem and process."""
    return _Tables(problem)


def scale_power(problem: ProxyProblem, bid: torch.Tensor) -> torch.Tensor:
    tab = tables(problem)
    x, r = bid[..., :HOURS], bid[..., HOURS:].unflatten(-1, (HOURS, N_PRODUCTS))
    r_t = r.repeat_interleave(problem.k, dim=-2)  # (B, T, 4)
    s_up = _ratio(tab.t("accept_up_hi") - x, r[..., UP_MASK].sum(-1))
    s_down = _ratio(tab.t("accept_down_hi") + x, r[..., DOWN_INDEX])
    x_t = x.repeat_interleave(problem.k, dim=-1)
    for base, deploy, dis_hi, ch_hi in zip(tab.t("base"), tab.t("deploy"), tab.t("dis_hi"), tab.t("ch_hi"), strict=True):
        up = (r_t[..., UP_MASK] * deploy[:, UP_MASK]).sum(-1)  # (B, T), >= 0
        down = r_t[..., DOWN_INDEX] * deploy[:, DOWN_INDEX]  # <= 0
        room = base * x_t
        s_up = torch.minimum(s_up, _ratio(dis_hi - room, up).unflatten(-1, (HOURS, problem.k)).amin(-1))
        s_down = torch.minimum(s_down, _ratio(ch_hi + room, -down).unflatten(-1, (HOURS, problem.k)).amin(-1))
    return _scale(bid, x, s_up, s_down)


def clip_hours(problem: ProxyProblem, bid: torch.Tensor) -> torch.Tensor:
    tab, k = tables(problem), problem.k
    z = problem.complete(bid)
    local = z[..., tab.local_cols] @ tab.t("local")  # (B, rows): each SoC row's own-hour part at scale 1
    inc = {name: z[..., tab.src[name]] @ tab.t(f"M_{name}") for name in tab.chains}  # each state's own step
    zero = bid.new_zeros(bid.shape[:-1])
    before = {name: zero for name in tab.chains}  # each chain's state before the hour
    alphas = []
    for h in range(HOURS):
        # the window's states at scale 0 (p) and their change at scale 1 (q): e around the hour's
        # intervals, then ep around the hour
        p, q = [before["e"]], [zero]
        for t in range(h * k, (h + 1) * k):
            p.append(tab.a["e"][t] * p[-1] + tab.const["e"][t])
            q.append(tab.a["e"][t] * q[-1] + inc["e"][..., t])
        if "ep" in tab.chains:
            p += [before["ep"], tab.a["ep"][h] * before["ep"] + tab.const["ep"][h]]
            q += [zero, inc["ep"][..., h]]
        else:
            p, q = p + [zero, zero], q + [zero, zero]
        coef = tab.t("coef")[h]
        value0 = torch.stack(p, -1) @ coef
        value1 = value0 + torch.stack(q, -1) @ coef + local[..., tab.local_index[h]]
        alpha = _within(value0, value1, tab.t("lo")[h], tab.t("hi")[h]).amin(-1)
        alphas.append(alpha)
        before["e"] = p[k] + alpha * q[k]
        if "ep" in tab.chains:
            before["ep"] = p[-1] + alpha * q[-1]
    alpha = torch.stack(alphas, -1)
    return _scale(bid, bid[..., :HOURS] * alpha, alpha, alpha)


def ray_scale(problem: ProxyProblem, bid: torch.Tensor) -> torch.Tensor:
    tab = tables(problem)
    values = tab.ray_values(problem.complete(bid))
    s = _within(tab.t("ray_idle"), values, tab.t("ray_lo"), tab.t("ray_hi")).amin(-1)
    return bid * (s[..., None] * (1 - 1e-9))


def repair(problem: ProxyProblem, bid: torch.Tensor) -> torch.Tensor:
    """All layers: a feasible bid (B, 120) for any raw input (B, 120)."""
    bid = clamp_bounds(problem, bid)
    bid = scale_power(problem, bid)
    bid = clip_hours(problem, bid)
    return ray_scale(problem, bid)
