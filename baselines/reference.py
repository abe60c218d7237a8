"""Reference DA bidders: Idle (the floor) and ForecastLP (the day LP on point forecasts).

Pair either with :class:`bessgym.policies.FollowDA` in real time.
"""

from __future__ import annotations

from bessgym.forecast import DAContext
from bessgym.market import DABid

from baselines.day_lp import build_day_model, forecast_arrays
from baselines.solver import SolveResult, solve


class Idle:
    """Bids nothing: profit 0 apart from wear and terminal value."""

    def bid(self, ctx: DAContext) -> DABid:
        return DABid.idle()


class ForecastLP:
    """The day LP on the gate-closure point forecasts and the expected deployment, with the base
    point tied to the DA schedule (a physical schedule, no speculation on DA-RT spreads).

    On a solver failure it bids idle and records the result in ``last_result``.
    """

    def __init__(self, time_limit_s: float = 10.0) -> None:
        self.time_limit_s = time_limit_s
        self.last_result: SolveResult | None = None
        self.failures = 0

    def bid(self, ctx: DAContext) -> DABid:
        model = build_day_model(ctx.battery, ctx.market, forecast_arrays(ctx), follow_schedule=True)
        self.last_result = solve(model.lp, self.time_limit_s)
        if not self.last_result.status.ok:
            self.failures += 1
            return DABid.idle()
        return model.bid(self.last_result.z)
