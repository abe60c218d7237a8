"""TwoSettlement-v0: the DA bid and then every RT interval of the same day, in one episode."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from bessgym.battery import Battery
from bessgym.config import ConfigLike
from bessgym.envs.day_ahead import DA_ACTION_SIZE, DAActionForm, bid_fraction_bounds, bid_fractions
from bessgym.envs.render import render_forecast
from bessgym.envs.episodes import DayLimited, EpisodeSource, reset_options
from bessgym.envs.real_time import RealTimeEnv, RTActionForm
from bessgym.actions import check_action
from bessgym.market import DABid, MarketProfile
from bessgym.settlement import LEDGER_LINES

DA_PHASE, RT_PHASE = 0, 1


def two_settlement_space(da_form: DAActionForm, rt_form: RTActionForm, market: MarketProfile) -> gym.spaces.Dict:
    """TwoSettlement-v0's observation space for its two action forms (flatten an observation
    with ``gym.spaces.flatten(space, obs)``, as ``gym.wrappers.FlattenObservation`` does)."""
    da_low, da_high = da_form.observation_bounds(market)
    rt_low, rt_high = rt_form.observation_bounds(market)
    return gym.spaces.Dict({
        "phase": gym.spaces.Discrete(2),
        "da": gym.spaces.Box(da_low, da_high, dtype=np.float32),
        "schedule": gym.spaces.Box(*bid_fraction_bounds(), dtype=np.float32),
        "rt": gym.spaces.Box(rt_low, rt_high, dtype=np.float32),
    })


def two_settlement_obs(phase: int, da: np.ndarray, schedule: DABid | None, rt: np.ndarray | None,
                       space: gym.spaces.Dict, battery: Battery) -> dict:
    """An observation of ``space``: the phase, the day's DA observation ``da``, the accepted
    DA bid ``schedule`` (None: zeros, before the DA market clears) and the RT observation
    ``rt`` (None: zeros, in the DA phase)."""
    return {
        "phase": phase, "da": da.copy(),
        "schedule": np.zeros(DA_ACTION_SIZE, np.float32) if schedule is None else
        bid_fractions(schedule.energy_mw, schedule.as_mw, battery),
        "rt": np.zeros(space["rt"].shape, np.float32) if rt is None else rt,
    }


class TwoSettlementEnv(gym.Env):
    """
    ## Description
    Both levels of the battery's market day in one episode: first the day-ahead bid (phase 0),
    then each real-time interval of the same day (phase 1), with the operator deploying the
    awarded services at random. RealTime-v0 and DayAhead-v0 are its two halves, each level in
    the same action forms: `da_residual` makes the DA part a correction of a DA bidder's bid
    (`DAActionForm`), `action` the RT part a base point or a bid curve (`RTActionForm`).

    ## Action Space
    `Box(-1, 1, (120 + R,), float32)`: in phase 0 the first 120 entries are the DA action
    exactly as in DayAhead-v0 (with `da_residual`, its residual form) and the rest are ignored;
    in phase 1 only the last R are read, the RT action exactly as in RealTime-v0 (R = 1 for the
    base point, 2S + 1 for a bid curve of S segments). (A flat Box rather than a Dict, so
    stable-baselines3 trains on it.) Out-of-range values are clipped and reported; NaN or inf
    raise ValueError.

    ## Observation Space
    `Dict(phase=Discrete(2), da=Box((173,)), schedule=Box((120,)), rt=Box((25,)))`: the phase
    flag; the DayAhead-v0 observation of the day (constant over the episode; 293 entries with
    `da_residual`, the bidder's bid included); the DA bid as the market accepted it (energy and
    awards as fractions of the power, the DA action's layout; zeros in phase 0), which the RT
    phase's value depends on; and the RealTime-v0 observation (zeros in phase 0).
    `gym.wrappers.FlattenObservation` makes it a Box for an MLP policy (`gym.spaces.flatten`:
    da, phase one-hot, rt, schedule).

    ## Rewards
    0 for the DA step; then each interval's settlement in $, as in RealTime-v0 (the DA energy is
    settled interval by interval).

    ## Info
    Every step: the ledger lines in $ (0 on the DA step), `action_clipped` and `cost` (the
    deployment not delivered, MWh; 0 on the DA step); the RT steps also `base_mw`, as in
    RealTime-v0. The DA step adds
    `scenario_id` and what the market cut from the bid (`da_cut_energy_mw`, `da_cut_as_mw`,
    MW); the last step `day_totals`, `profit_usd`, `day_shortfall_mwh` and `scenario_id`.
    `reset` returns `scenario_id`.

    ## Starting State
    Phase 0 of a day drawn from `split` with the env's RNG, or pinned with
    `reset(options={"scenario": id})` (the only reset option); its deployment path is drawn
    with the env's RNG.

    ## Episode End
    `terminated` after the day's last RT interval: `episode_steps` = 1 + the intervals (97 on
    the 15-minute real data, 289 on the 5-minute `synthetic` preset). `gym.make` wraps the env
    in a `TimeLimit` of its own `episode_steps`, which sets `truncated` on that same last step;
    the env itself never truncates.

    ## Arguments
    `gym.make("bessgym/TwoSettlement-v0", config="caiso-sp15", split="train", da_residual=None,
    da_residual_band=None, action="base_point", segments=None, price_span_usd_per_mwh=None,
    render_mode=None)`: `da_residual` a DA bidder's spec whose bid the DA action corrects by at
    most `da_residual_band` (default 0.25) of the power; `action`, `segments` and
    `price_span_usd_per_mwh` the RT action form as in RealTime-v0 (an RT residual, which runs an
    RT policy beside the agent, is RealTime-v0's only).

    ## Version History
    * v0: initial version; the `schedule` entry and the action forms were added before any
      agent was published on it.
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 4}
    fmm = False  # the RT half sets no FMM positions (ThreeSettlement-v0's does)

    def __init__(
        self, config: ConfigLike = "caiso-sp15", split: str = "train", da_residual: str | None = None,
        da_residual_band: float | None = None, action: str = "base_point", segments: int | None = None,
        price_span_usd_per_mwh: float | None = None, render_mode: str | None = None,
    ) -> None:
        try:
            self.da_form = DAActionForm.of(da_residual, da_residual_band)
        except ValueError as exc:  # DayAhead-v0's names: residual, residual_band
            raise ValueError(f"da_residual / da_residual_band: {exc}") from None
        # the RT half; with a DA residual its source's fixed bidder is that bidder (bids cached by day)
        self._rt = RealTimeEnv(config, split, da_bidder=da_residual, action=action, segments=segments,
                               price_span_usd_per_mwh=price_span_usd_per_mwh, render_mode=render_mode, fmm=self.fmm)
        self.rt_form: RTActionForm = self._rt.form
        self.render_mode = render_mode
        self.source: EpisodeSource = self._rt.source
        self.battery = self.source.config.battery
        self.observation_space = two_settlement_space(self.da_form, self.rt_form, self.source.config.market_profile)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (DA_ACTION_SIZE + self.rt_form.size,), dtype=np.float32)
        self._phase = DA_PHASE
        self._scenario_id: str | None = None
        self._da_obs = np.zeros(self.observation_space["da"].shape, dtype=np.float32)
        self._accepted: DABid | None = None
        self.step_hours = self._rt.step_hours
        self.episode_steps = 1 + self._rt.episode_steps

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        options = reset_options(options)
        self._scenario_id = self.source.draw(options.get("scenario"), self.np_random)
        _, context = self.source.day(self._scenario_id)
        self._scenario = self.source.scenario(self._scenario_id, deployment=self.np_random)
        self._da_obs = self.da_form.observation(context, self._base(), self.battery)
        self._phase, self._accepted = DA_PHASE, None
        return self._obs(None), {"scenario_id": self._scenario_id}

    def _base(self) -> DABid | None:
        """The DA residual's bidder's bid for the day (as submitted), or None."""
        return self.source.fixed_bid(self._scenario_id)[0] if self.da_form.residual is not None else None

    def _obs(self, rt: np.ndarray | None) -> dict:
        return two_settlement_obs(self._phase, self._da_obs, self._accepted, rt, self.observation_space, self.battery)

    def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        if self._scenario_id is None:
            raise RuntimeError("call reset() before step()")
        a, was_clipped = check_action(action, self.action_space.shape)
        if self._phase == RT_PHASE:
            rt_action = a[DA_ACTION_SIZE:]
            rt_obs, reward, terminated, truncated, info = self._rt.step(float(rt_action[0]) if rt_action.size == 1 else rt_action)
            info["action_clipped"] = was_clipped
            return self._obs(rt_obs), reward, terminated, truncated, info
        scenario, context = self._scenario, self.source.day(self._scenario_id)[1]
        episode = self.source.prepare(scenario, context, self.da_form.corrected(a[:DA_ACTION_SIZE], self._base(), self.battery))
        rt_obs, _ = self._rt.begin_day(episode)
        self._phase, self._accepted = RT_PHASE, episode.accepted
        info: dict[str, Any] = {name: 0.0 for name in LEDGER_LINES}
        info.update(action_clipped=was_clipped, cost=0.0, scenario_id=scenario.id,
                    da_cut_energy_mw=float(episode.cuts.energy_mw.sum()), da_cut_as_mw=float(episode.cuts.as_mw.sum()))
        return self._obs(rt_obs), 0.0, False, False, info

    def render(self) -> np.ndarray | str | None:
        if self.render_mode is None or self._scenario_id is None:
            return None
        if self._phase == RT_PHASE:
            return self._rt.render()
        return render_forecast(self.source, self._scenario_id, self.render_mode)


make_two_settlement = DayLimited(TwoSettlementEnv)  # the registered entry point of TwoSettlement-v0
