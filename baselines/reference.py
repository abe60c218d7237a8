"""Reference DA bidders: Idle (the floor) and ForecastLP (the day LP on point forecasts).

Pair either with :class:`bessgym.policies.FollowDA` in real time.
"""

from __future__ import annotations

from bessgym.forecast import DAContext
from bessgym.market import DABid
from bessgym.policies import checked

from baselines.day_lp import DayModel, build_day_model, forecast_arrays, solve_accepted
from baselines.solver import SolveResult

RESERVE_MULTIPLE = 4.0
"""ForecastLP's default reserve multiple: chosen on the val split with the ``reserve`` suite
(``python -m benchmarks.leaderboard --suite reserve``), the best mean capture over the RT
policies it is paired with (follow the schedule: 35.6 %, MPC: 49.5 %; 1x: 16.2 % and 48.3 %)."""


class Idle:
    """Bids nothing: profit 0 apart from wear and terminal value."""

    def bid(self, ctx: DAContext) -> DABid:
        return DABid.idle()


class ForecastLP:
    """The day LP on the gate-closure point forecasts and the expected deployment, under the
    market's rules: the awards backed by the schedule for their durations (the market's acceptance
    rule) and, at every interval's start along the expected-deployment plan, for
    ``reserve_multiple`` times their durations: room for deployment beyond the expected (default
    :data:`RESERVE_MULTIPLE`, chosen on the val split). ``follow_schedule`` (default) ties the planned base point to
    the DA schedule (a physical schedule, no speculation on DA-RT spreads); without it the plan
    may trade the forecast spread between the DA and RT prices (sound only when the forecasts are
    the realised prices, as in the value ladder's prices-known rung).

    Every bid's ``note`` records its solve; a failed solve (after HiGHS simplex, then interior
    point) gives the idle bid with ``fallback: True``.
    """

    def __init__(self, time_limit_s: float = 10.0, follow_schedule: bool = True,
                 reserve_multiple: float = RESERVE_MULTIPLE) -> None:
        self.time_limit_s = checked("time_limit_s", time_limit_s, above=0)
        self.follow_schedule = follow_schedule
        self.reserve_multiple = checked("reserve_multiple", reserve_multiple, at_least=1)

    def model(self, ctx: DAContext) -> DayModel:
        """The day LP this bidder solves for a gate-closure context."""
        return build_day_model(ctx.battery, ctx.market, forecast_arrays(ctx), follow_schedule=self.follow_schedule,
                               reserve_multiple=self.reserve_multiple)

    def solve(self, model: DayModel) -> SolveResult:
        """This bidder's solve of its LP: a plan the market's rules accept (pairs fixed by sign)."""
        return solve_accepted(model, self.time_limit_s)

    def bid(self, ctx: DAContext) -> DABid:
        model = self.model(ctx)
        return model.decision(self.solve(model))
