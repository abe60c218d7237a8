"""Reference DA bidders: Idle (the floor) and ForecastLP (the day LP on point forecasts).

Pair either with :class:`bessgym.policies.FollowDA` in real time.
"""

from __future__ import annotations

from bessgym.forecast import DAContext
from bessgym.market import DABid

from baselines.day_lp import build_day_model, forecast_arrays, solve_accepted


class Idle:
    """Bids nothing: profit 0 apart from wear and terminal value."""

    def bid(self, ctx: DAContext) -> DABid:
        return DABid.idle()


class ForecastLP:
    """The day LP on the gate-closure point forecasts and the expected deployment, with the base
    point tied to the DA schedule (a physical schedule, no speculation on DA-RT spreads), under
    the market's rules: the awards backed by the schedule and by the expected SoC in every
    interval (their durations), nothing more.

    Every bid's ``note`` records its solve; a failed solve (after HiGHS simplex, then interior
    point) gives the idle bid with ``fallback: True``.
    """

    def __init__(self, time_limit_s: float = 10.0) -> None:
        self.time_limit_s = time_limit_s

    def bid(self, ctx: DAContext) -> DABid:
        model = build_day_model(ctx.battery, ctx.market, forecast_arrays(ctx), follow_schedule=True)
        return model.decision(solve_accepted(model, self.time_limit_s))
