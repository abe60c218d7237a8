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
from baselines.solver import LinearProgram, decision, new_highs, run, side_by_side, solve, to_highs_lp, with_rows


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
        k = len(models)
        cvar = self.cvar_weight > 0
        lp, mappings = side_by_side(models, day_models[0].first_stage, 1 + k if cvar else 0)
        if not cvar:
            return lp, day_models[0]
        eta = lp.A.shape[1] - 1 - k  # the profit quantile; then z_s, the shortfall below it
        rows = np.zeros((k, lp.A.shape[1]))  # z_s >= eta - profit_s  <=>  z_s - eta + c_s . z >= -offset_s
        for s, model in enumerate(models):
            rows[s, mappings[s]] = model.c
            rows[s, eta], rows[s, eta + 1 + s] = -1.0, 1.0
        lp.c[eta], lp.c[eta + 1:] = self.cvar_weight, -self.cvar_weight / (self.alpha * k)
        lp.lower[eta], lp.upper[eta] = -np.inf, np.inf
        lp.upper[eta + 1:] = np.inf
        return with_rows(lp, sp.csr_matrix(rows), -np.array([m.offset for m in models]), np.full(k, np.inf)), day_models[0]

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
