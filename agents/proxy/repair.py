"""Repair layers: any raw proxy output becomes a feasible bid of :class:`ProxyProblem`.

Applied in order by :func:`repair` (each batched over a leading axis, float64, differentiable
almost everywhere so they can sit inside a training loss):

1. :func:`clamp_bounds`: non-finite values to 0, x into ``[-P_ch, P_dis]``, awards into
   ``[0, P_dis + P_ch]``, products the market does not buy to 0;
2. :func:`scale_power`: per hour, the up (down) awards scaled so the market's acceptance rows
   and the legs' power rows hold for the hour's x;
3. :func:`clip_soc`: hour by hour, the charging (discharging) side of the hour scaled so the SoC
   stays within its bounds given the SoC the earlier hours left; then :func:`scale_power` again,
   as a smaller x can leave less room for the other side's awards;
4. :func:`ray_scale`: the guarantee. The whole bid is scaled by the largest ``s`` in ``[0, 1]``
   keeping every row feasible. The idle bid is feasible and the LP vector of ``s * bid`` is
   ``z_idle + s (z(bid) - z_idle)`` (legs are positively homogeneous, SoC affine), so each row
   bounds ``s`` in closed form and the result is feasible for any input.

Steps 2 and 3 keep as much of the bid as they can; 4 changes nothing when they succeed.
"""

from __future__ import annotations

import torch

from agents.proxy.problem import ProxyProblem
from bessgym.market import DOWN_INDEX, HOURS, N_PRODUCTS

_TINY = 1e-12


def _ratio(room: torch.Tensor | float, load: torch.Tensor) -> torch.Tensor:
    """Largest scale in [0, 1] of ``load`` (>= 0) fitting ``room``."""
    room = room.clamp(min=0) if isinstance(room, torch.Tensor) else max(room, 0.0)
    return (room / load.clamp(min=_TINY)).clamp(max=1)


def _scale(bid: torch.Tensor, x: torch.Tensor, up: torch.Tensor, down: torch.Tensor) -> torch.Tensor:
    """The bid with energy ``x`` and its awards scaled per hour: ``up`` (B, 24) on the up
    products, ``down`` on reg down."""
    factors = torch.stack([down if a == DOWN_INDEX else up for a in range(N_PRODUCTS)], -1)
    return torch.cat([x, (bid[..., HOURS:].unflatten(-1, (HOURS, N_PRODUCTS)) * factors).flatten(-2)], -1)


def clamp_bounds(problem: ProxyProblem, bid: torch.Tensor) -> torch.Tensor:
    b = problem.battery
    bid = torch.nan_to_num(bid.to(torch.float64), nan=0.0, posinf=1e12, neginf=-1e12)
    x = bid[..., :HOURS].clamp(-b.p_charge_mw, b.p_discharge_mw)
    r = bid[..., HOURS:].unflatten(-1, (HOURS, N_PRODUCTS)).clamp(0.0, b.p_discharge_mw + b.p_charge_mw) * problem.t("offered")
    return torch.cat([x, r.flatten(-2)], -1)


def scale_power(problem: ProxyProblem, bid: torch.Tensor) -> torch.Tensor:
    b = problem.battery
    x, _, up, rd, bp, bm, discharge, charge = problem.flows(bid)
    s_up = torch.minimum(_ratio(b.p_discharge_mw - x, up), _ratio(b.p_discharge_mw - bp, discharge - bp))
    s_down = torch.minimum(_ratio(b.p_charge_mw + x, rd), _ratio(b.p_charge_mw - bm, charge - bm))
    return _scale(bid, x, s_up, s_down)


def clip_soc(problem: ProxyProblem, bid: torch.Tensor) -> torch.Tensor:
    b, decay = problem.battery, problem.hour_decay
    x, _, _, _, _, _, discharge, charge = problem.flows(bid)
    d_gain, c_gain = problem.hour_gain_discharge * discharge, problem.hour_gain_charge * charge
    alphas_c, alphas_d = [], []
    e = torch.full(x.shape[:-1], b.e_initial_mwh, dtype=x.dtype)
    for h in range(HOURS):
        drift = decay * e
        d_out, c_in = d_gain[..., h], c_gain[..., h]
        a_c = _ratio(b.e_max_mwh - drift + d_out, c_in)
        a_d = _ratio(drift + a_c * c_in - b.e_min_mwh, d_out)
        alphas_c.append(a_c)
        alphas_d.append(a_d)
        e = drift + a_c * c_in - a_d * d_out
    alpha_c, alpha_d = torch.stack(alphas_c, -1), torch.stack(alphas_d, -1)
    return _scale(bid, torch.where(x > 0, x * alpha_d, x * alpha_c), alpha_d, alpha_c)


def ray_scale(problem: ProxyProblem, bid: torch.Tensor) -> torch.Tensor:
    b = problem.battery
    x, _, up, rd, _, _, discharge, charge = problem.flows(bid)
    e_idle = problem.t("e_idle")
    e = problem.soc(discharge, charge)
    s = torch.cat([
        _ratio(b.p_discharge_mw, x + up),
        _ratio(b.p_charge_mw, rd - x),
        _ratio(b.p_discharge_mw, discharge),
        _ratio(b.p_charge_mw, charge),
        _ratio(b.e_max_mwh - e_idle, e - e_idle),
        _ratio(e_idle - b.e_min_mwh, e_idle - e),
    ], -1).amin(-1)
    return bid * (s[..., None] * (1 - 1e-9))


def repair(problem: ProxyProblem, bid: torch.Tensor) -> torch.Tensor:
    """All layers: a feasible bid (B, 120) for any raw input (B, 120)."""
    bid = clamp_bounds(problem, bid)
    bid = scale_power(problem, bid)
    bid = scale_power(problem, clip_soc(problem, bid))
    return ray_scale(problem, bid)
