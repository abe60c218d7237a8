"""RealTime-v0: operate the battery through one day's RT intervals around a fixed DA position."""

from __future__ import annotations

import math
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from bessgym.actions import base_point, check_action, check_base_action, curve_from_action, curve_size
from bessgym.config import ConfigLike
from bessgym.envs.episodes import DayLimited, Episode, EpisodeSource, day_info, reset_options
from bessgym.envs.render import check_render_mode, render_played
from bessgym.observation import DEPLOYED, INTERVALS_LEFT, SOC, TIME_OF_DAY, rt_bounds
from bessgym.settlement import LEDGER_LINES
from bessgym.sim import DaySimulator

ActionForm = Literal["base_point", "bid_curve"]
ACTION_FORMS = ("base_point", "bid_curve")


DEFAULT_SEGMENTS, DEFAULT_PRICE_SPAN = 3, 100.0  # the bid-curve form's steps and $/MWh span


def check_action_form(action: str, segments: int | None, price_span_usd_per_mwh: float | None) -> tuple[int, float]:
    """The bid-curve form's (segments, price span), defaults filled; a ValueError naming the
    argument, for the RealTime envs' constructors."""
    if action not in ACTION_FORMS:
        raise ValueError(f"action {action!r} is not one of {list(ACTION_FORMS)}")
    if action == "base_point":
        given = [name for name, value in (("segments", segments), ("price_span_usd_per_mwh", price_span_usd_per_mwh)) if value is not None]
        if given:
            raise ValueError(f"{' and '.join(given)} apply to action='bid_curve' only (action is 'base_point')")
    segments = DEFAULT_SEGMENTS if segments is None else segments
    span = DEFAULT_PRICE_SPAN if price_span_usd_per_mwh is None else price_span_usd_per_mwh
    if isinstance(segments, bool) or not isinstance(segments, (int, float)) or int(segments) != segments or segments < 1:
        raise ValueError(f"segments must be a whole number >= 1, got {segments!r}")
    if isinstance(span, bool) or not isinstance(span, (int, float)) or not math.isfinite(span) or span <= 0:
        raise ValueError(f"price_span_usd_per_mwh must be a positive number, got {span!r}")
    return int(segments), float(span)


def terminal_observation(row: np.ndarray, soc_frac: float, deployed: np.ndarray) -> np.ndarray:
    """The observation after the last interval: the last row with the day marked as over and the
    last interval's deployment."""
    obs = row.copy()
    obs[TIME_OF_DAY], obs[INTERVALS_LEFT], obs[SOC] = 1.0, 0.0, soc_frac
    obs[DEPLOYED] = deployed
    return obs


class RealTimeEnv(gym.Env):
    """
    ## Description
    A grid battery runs through one operating day of real-time intervals. Its day-ahead position
    (hourly energy and ancillary-service awards) was fixed at gate closure by a DA bidder; each
    interval the agent sets a base point around that schedule while the operator deploys the
    awarded services at random. Deployment has priority: where SoC or power limits bind, the base
    point is cut first; undelivered deployment is a shortfall, paid for by no-pay and a penalty.
    Awards the base point or the SoC leave without headroom are unavailable and lose their
    capacity payment for the interval.

    ## Action Space
    `action="base_point"` (default): `Box(-1, 1, (1,), float32)`, the base-point deviation from
    this hour's DA energy position as a fraction of the discharge power (a > 0) or charge power
    (a < 0): `base_mw = x_h + a * (P_dis if a > 0 else P_ch)`; 0 follows the DA schedule. It is
    decided before the interval's RT price is known (the observation holds prices up to the
    previous interval only).

    `action="bid_curve"`: `Box(-1, 1, (2S + 1,), float32)` with S = `segments` (default 3): a
    monotone step curve submitted before the interval and cleared against its realised RT price,
    the honest way to respond to the current price (`bessgym.actions.curve_from_action`): the
    first S entries are prices `DA_h + a * price_span_usd_per_mwh`, the other S + 1 base-point
    deviations as above; both are sorted, so every action is a valid curve. The battery runs at
    the k-th deviation, k the number of curve prices at or below the realised price.

    Out-of-range values are clipped and reported in `info["action_clipped"]`; NaN, inf or any
    other shape (even of the right size) raise ValueError. A Python float is accepted as the
    base-point action (it stands for the (1,) array).

    ## Observation Space
    `Box((19,), float32)`, named in `bessgym.observation.RT_FEATURES` (table there): time of day,
    SoC (fraction), this hour's DA position and AS awards (fraction of max power), the previous
    interval's and the last hour's RT price, the DA price, the gate-closure RT forecast for the
    next hour and the rest of the day (100 $/MWh units), the previous interval's deployment per
    product, and the share of the day left. No price of the interval itself or later. Sign:
    positive power is discharge.

    ## Rewards
    The interval's settlement in $: DA energy + RT imbalance + AS capacity + mileage - no-pay -
    unavailable capacity - penalty - degradation, plus the terminal value of the SoC on the last
    interval.

    ## Info
    Every step: each ledger line of the interval in $ (`da_energy`, `rt_imbalance`,
    `as_capacity`, `mileage`, `no_pay`, `unavailable`, `penalty`, `degradation`, `terminal`;
    costs are negative, their sum is the reward), `action_clipped` (bool) and `base_mw` (the
    base point run, MW, + = discharge). The last step adds `day_totals` (ledger line -> $ over
    the day), `profit_usd` (their sum), `day_shortfall_mwh` (deployment not delivered over the
    day, up and down, MWh) and `scenario_id`. `reset` returns `scenario_id` and `da_cuts_mw`
    (MW the market cut from the DA bid, summed).

    ## Starting State
    SoC at the battery's `soc_initial_frac`; the day is drawn from `split` with the env's RNG or
    pinned with `reset(options={"scenario": id})` (the only reset option; a day of `split`,
    else KeyError). The seed never selects the day by itself, but every reset draws the day's
    deployment path with the env's RNG: a new seed, a new path; the same seed, the same path.

    ## Episode End
    `terminated` after the day's last interval: `episode_steps` steps, 96 on the 15-minute real
    data, 288 on the 5-minute `synthetic` preset. `gym.make` wraps the env in a `TimeLimit` of
    its own config's `episode_steps` (`env.spec.max_episode_steps`), which sets `truncated` on
    that same last step, as Gymnasium's `TimeLimit` does when the limit is reached; the env
    itself never truncates. Bootstrap on `terminated`.

    ## Arguments
    `gym.make("bessgym/RealTime-v0", config="caiso-sp15", split="train", da_bidder="threshold",
    action="base_point", segments=None, price_span_usd_per_mwh=None, render_mode=None)`: `config`
    a preset name, JSON path or dict; `split` one of the config's splits (`train`, `val`, `test`,
    `test_ood`, `all`); `da_bidder` a spec string (`bessgym.policies.load_component`) or an
    object with `bid(context)`; `action` the action form; `segments` and
    `price_span_usd_per_mwh` (defaults 3 and 100) for `action="bid_curve"` only; `render_mode`
    `"rgb_array"` or `"ansi"`. `gym.make(..., max_episode_steps=k)` adds a shorter limit.

    ## Version History
    * v0: initial version; revised before release: the observation lost the current interval's
      RT price, the bid-curve form was added, deployment is drawn per episode, the ledger has
      the `unavailable` line, and the info keys are those of every bessgym env.
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 4}

    def __init__(
        self, config: ConfigLike = "caiso-sp15", split: str = "train", da_bidder: Any = "threshold",
        action: ActionForm = "base_point", segments: int | None = None, price_span_usd_per_mwh: float | None = None,
        render_mode: str | None = None,
    ) -> None:
        check_render_mode(render_mode, self.metadata)
        segments, price_span_usd_per_mwh = check_action_form(action, segments, price_span_usd_per_mwh)
        self.source = EpisodeSource(config, split, da_bidder)
        self.battery = self.source.config.battery
        self.market = self.source.config.market_profile
        self.render_mode = render_mode
        low, high = rt_bounds(self.market)
        self.observation_space = gym.spaces.Box(low, high, dtype=np.float32)
        self.action_form, self.price_span = action, float(price_span_usd_per_mwh)
        size = 1 if action == "base_point" else curve_size(int(segments))
        self.action_space = gym.spaces.Box(-1.0, 1.0, (size,), dtype=np.float32)
        self._energy = self.battery.energy_mwh
        self._episode: Episode | None = None
        history = self.source.scenarios.history(split)
        self.step_hours = history.dt_h
        self.episode_steps = history.intervals_per_day

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        options = reset_options(options)
        scenario_id = self.source.draw(options.get("scenario"), self.np_random)
        return self.begin_day(self.source.episode(scenario_id, deployment=self.np_random))

    def begin_day(self, episode: Episode) -> tuple[np.ndarray, dict]:
        """Start the RT day of a prepared episode (its DA bid already fixed); reset's second half."""
        self._episode = episode
        self._sim = DaySimulator(self.battery, self.market, episode.scenario, episode.accepted)
        self._rows = episode.features
        self._position = self._sim.terms.step.position_mw.tolist()
        self._da_price = np.repeat(episode.scenario.da_price, episode.scenario.n_intervals // 24).tolist()
        self._rt_price = episode.scenario.rt_price.tolist()
        self._totals = [0.0] * len(LEDGER_LINES)
        self._shortfall = 0.0
        self._soc = [self._sim.e_mwh / self._energy]
        self._base: list[float] = []
        obs = self._rows[0].copy()
        obs[SOC] = self._soc[0]
        return obs, {"scenario_id": episode.scenario.id, "da_cuts_mw": float(episode.cuts.energy_mw.sum() + episode.cuts.as_mw.sum())}

    def _base_point(self, action: Any, t: int) -> tuple[float, bool]:
        """The base point (MW) an action asks for in interval t, and whether it was clipped."""
        if self.action_form == "base_point":
            a, was_clipped = check_base_action(action)
            return base_point(self._position[t], a, self.battery), was_clipped
        a, was_clipped = check_action(action, self.action_space.shape)
        curve = curve_from_action(a, self._da_price[t], self._position[t], self.battery, self.price_span)
        return float(curve.clear(self._rt_price[t])), was_clipped

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self._episode is None or self._sim.done:
            raise RuntimeError("call reset() before step() and after the day has ended")
        t = self._sim.t
        base, was_clipped = self._base_point(action, t)
        out = self._sim.step(base)
        ledger = out.ledger
        totals = self._totals
        for k, value in enumerate(ledger):
            totals[k] += value
        soc = out.e_mwh / self._energy
        self._soc.append(soc)
        self._base.append(out.base_mw)
        self._shortfall += out.shortfall_mw * self.step_hours
        info = dict(zip(LEDGER_LINES, ledger))
        info["action_clipped"] = was_clipped
        info["base_mw"] = out.base_mw
        terminated = self._sim.done
        if terminated:
            obs = terminal_observation(self._rows[-1], soc, self._episode.scenario.deployment.fraction[-1])
            info.update(day_info([float(value) for value in totals], float(self._shortfall)),
                        scenario_id=self._episode.scenario.id)
        else:
            obs = self._rows[t + 1].copy()
            obs[SOC] = soc
        return obs, ledger.total, terminated, False, info

    def render(self) -> np.ndarray | str | None:
        if self.render_mode is None or self._episode is None:
            return None
        return render_played(self._episode, self._soc, self._base, sum(self._totals), self.render_mode)


make_real_time = DayLimited(RealTimeEnv)  # the registered entry point of RealTime-v0
