"""Stochastic DA: two-stage sample average approximation over the forecast ensemble.

First stage: the DA position and awards, shared by all scenarios. Second stage, per scenario
(an analog member's DA, RT and AS prices with a deployment sampled from the deployment model):
the SoC (and, optionally, base points off the schedule), anticipating that scenario. No shortfall is allowed in any sampled
scenario (no-pay is not linear while awards are decisions), which makes the awards robust over
the samples. Optionally a CVaR term on the lower tail of profit. Solved with HiGHS interior
point; run the day with :class:`baselines.mpc.MPCPolicy`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from bessgym.deployment import draw_deployment
from bessgym.forecast import DAContext
from bessgym.market import HOURS, DABid
from bessgym.scenarios import stable_seed
from bessgym.sim import ScenarioArrays

from baselines.day_lp import DayModel, build_day_model, solve_pairs
from baselines.solver import LinearProgram, decision, new_highs, run, solve, to_highs_lp


class StochasticDA:
    """Two-stage SAA bidder. ``scenarios`` caps the ensemble members used (all by default);
    ``cvar_weight`` beta adds ``beta * CVaR_alpha(profit)`` to the expected profit;
    ``follow_schedule`` (default) keeps each scenario's base point on the DA schedule, so the
    second stage is the deployment's effect on SoC and money; without it the second stage may
    trade the DA-RT spread of each member (speculation on the ensemble)."""

    def __init__(self, scenarios: int | None = None, cvar_weight: float = 0.0, alpha: float = 0.1,
                 regulation_signal: str | None = None, follow_schedule: bool = True, time_limit_s: float = 60.0) -> None:
        if cvar_weight < 0 or not 0 < alpha <= 1:
            raise ValueError(f"need cvar_weight >= 0 and 0 < alpha <= 1, got {cvar_weight}, {alpha}")
        self.scenarios, self.cvar_weight, self.alpha = scenarios, cvar_weight, alpha
        self.regulation_signal = regulation_signal  # None: the config's
        self.follow_schedule = follow_schedule
        self.time_limit_s = time_limit_s

    def sample(self, ctx: DAContext) -> list[ScenarioArrays]:
        """The scenarios: ensemble members' prices, each with its own sampled deployment."""
        n = ctx.n_intervals
        members = range(min(self.scenarios or len(ctx.da_scenarios), len(ctx.da_scenarios)))
        config = ctx.deployment if self.regulation_signal is None else \
            type(ctx.deployment).model_validate({**ctx.deployment.model_dump(), "regulation_signal": self.regulation_signal})
        out = []
        for s in members:
            deployment = draw_deployment(config, n, ctx.dt_h, stable_seed("saa", ctx.scenario_id, s))
            out.append(ScenarioArrays(ctx.dt_h, ctx.da_scenarios[s], ctx.rt_scenarios[s], ctx.as_scenarios[s],
                                      np.zeros((HOURS, 2)), deployment.fraction, deployment.mileage, deployment.up_time))
        return out

    def model(self, ctx: DAContext) -> tuple[LinearProgram, DayModel]:
        """The deterministic equivalent (day models side by side, the DA blocks shared) and the
        first scenario's day model (whose DA columns and their pairs keep their indices)."""
        day_models = [build_day_model(ctx.battery, ctx.market, data, follow_schedule=self.follow_schedule)
                      for data in self.sample(ctx)]
        models = [d.lp for d in day_models]
        first_stage = day_models[0].first_stage
        k = len(models)
        n_cols = models[0].A.shape[1]
        second = n_cols - first_stage
        total = first_stage + k * second
        cvar = self.cvar_weight > 0
        eta = total
        z0 = total + 1
        width = total + (1 + k if cvar else 0)
        blocks, row_lo, row_hi = [], [], []
        c = np.zeros(width)
        lower, upper = np.zeros(width), np.zeros(width)
        lower[:first_stage], upper[:first_stage] = models[0].lower[:first_stage], models[0].upper[:first_stage]
        offset = 0.0
        for s, lp in enumerate(models):
            mapping = np.concatenate([np.arange(first_stage), first_stage + s * second + np.arange(second)])
            A = lp.A.tocoo()
            blocks.append(sp.csr_matrix((A.data, (A.row, mapping[A.col])), shape=(A.shape[0], width)))
            row_lo.append(lp.row_lower)
            row_hi.append(lp.row_upper)
            np.add.at(c, mapping, lp.c / k)
            lower[mapping[first_stage:]], upper[mapping[first_stage:]] = lp.lower[first_stage:], lp.upper[first_stage:]
            offset += lp.offset / k
            if cvar:  # z_s >= eta - profit_s  <=>  z_s - eta + c_s . z >= -offset_s
                row = np.zeros(width)
                row[mapping] = lp.c
                row[eta], row[z0 + s] = -1.0, 1.0
                blocks.append(sp.csr_matrix(row))
                row_lo.append(np.array([-lp.offset]))
                row_hi.append(np.array([np.inf]))
        if cvar:
            c[eta] = self.cvar_weight
            c[z0:] = -self.cvar_weight / (self.alpha * k)
            lower[eta], upper[eta] = -np.inf, np.inf
            upper[z0:] = np.inf
        lp = LinearProgram(c, sp.vstack(blocks).tocsc(), np.concatenate(row_lo), np.concatenate(row_hi), lower, upper, offset)
        return lp, day_models[0]

    def bid(self, ctx: DAContext) -> DABid:
        lp, first = self.model(ctx)
        h = new_highs(self.time_limit_s, method="ipm")
        h.passModel(to_highs_lp(lp))
        result = run(h, "highs-ipm")
        if not result.status.ok:
            fallback = solve(lp, self.time_limit_s)
            fallback.messages = result.messages + fallback.messages
            result = fallback
        shared = first.pairs[first.pairs.max(axis=1) < first.first_stage]  # the schedule's legs
        result = solve_pairs(lp, shared, self.time_limit_s, first=result, exact=False)
        if not result.status.ok:
            return decision(None, None, result)
        bid = first.bid(result.z)
        return decision(bid.energy_mw, bid.as_mw, result)
