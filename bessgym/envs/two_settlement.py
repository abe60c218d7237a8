"""TwoSettlement-v0: the DA bid and then every RT interval of the same day, in one episode."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from bessgym.config import ConfigLike
from bessgym.envs.day_ahead import DA_ACTION_SIZE, action_to_bid
from bessgym.envs.render import render_forecast
from bessgym.envs.episodes import DayLimited, EpisodeSource, reset_options
from bessgym.envs.real_time import RealTimeEnv
from bessgym.actions import check_action
from bessgym.market import DABid
from bessgym.observation import da_bounds, da_features, rt_bounds
from bessgym.settlement import LEDGER_LINES

DA_PHASE, RT_PHASE = 0, 1


class TwoSettlementEnv(gym.Env):
    """
    ## Description
    Both levels of the battery's market day in one episode: first the day-ahead bid (phase 0),
    then each real-time interval of the same day (phase 1), with the operator deploying the
    awarded services at random. RealTime-v0 and DayAhead-v0 are its two halves.

    ## Action Space
    `Box(-1, 1, (121,), float32)`: in phase 0 the first 120 entries are the DA bid exactly as in
    DayAhead-v0 (the last is ignored); in phase 1 only the last entry is read, the base-point
    deviation exactly as in RealTime-v0. (A flat Box rather than a Dict, so stable-baselines3
    trains on it.) Out-of-range values are clipped and reported; NaN or inf
    raise ValueError.

    ## Observation Space
    `Dict(phase=Discrete(2), da=Box((173,)), rt=Box((25,)))`: the phase flag, the DayAhead-v0
    observation of the day (constant over the episode) and the RealTime-v0 observation (zeros in
    phase 0).

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
    `gym.make("bessgym/TwoSettlement-v0", config="caiso-sp15", split="train", render_mode=None)`.

    ## Version History
    * v0: initial version.
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 4}

    def __init__(self, config: ConfigLike = "caiso-sp15", split: str = "train", render_mode: str | None = None) -> None:
        self._rt = RealTimeEnv(config, split, da_bidder=None, render_mode=render_mode)
        self.render_mode = render_mode
        self.source: EpisodeSource = self._rt.source
        market = self.source.config.market_profile
        da_low, da_high = da_bounds(market)
        rt_low, rt_high = rt_bounds(market)
        self.observation_space = gym.spaces.Dict({
            "phase": gym.spaces.Discrete(2),
            "da": gym.spaces.Box(da_low, da_high, dtype=np.float32),
            "rt": gym.spaces.Box(rt_low, rt_high, dtype=np.float32),
        })
        self.action_space = gym.spaces.Box(-1.0, 1.0, (DA_ACTION_SIZE + 1,), dtype=np.float32)
        self._phase = DA_PHASE
        self._scenario_id: str | None = None
        self._da_obs = np.zeros(da_low.shape, dtype=np.float32)
        self.step_hours = self._rt.step_hours
        self.episode_steps = 1 + self._rt.episode_steps

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        options = reset_options(options)
        self._scenario_id = self.source.draw(options.get("scenario"), self.np_random)
        _, context = self.source.day(self._scenario_id)
        self._scenario = self.source.scenario(self._scenario_id, deployment=self.np_random)
        self._da_obs = da_features(context)
        self._phase = DA_PHASE
        return self._obs(np.zeros(self.observation_space["rt"].shape, dtype=np.float32)), {"scenario_id": self._scenario_id}

    def _obs(self, rt: np.ndarray) -> dict:
        return {"phase": self._phase, "da": self._da_obs.copy(), "rt": rt}

    def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        if self._scenario_id is None:
            raise RuntimeError("call reset() before step()")
        a, was_clipped = check_action(action, (DA_ACTION_SIZE + 1,))
        if self._phase == RT_PHASE:
            rt_obs, reward, terminated, truncated, info = self._rt.step(float(a[-1]))
            info["action_clipped"] = was_clipped
            return self._obs(rt_obs), reward, terminated, truncated, info
        scenario, context = self._scenario, self.source.day(self._scenario_id)[1]
        episode = self.source.prepare(scenario, context, DABid(*action_to_bid(a[:-1], self.source.config.battery)))
        rt_obs, _ = self._rt.begin_day(episode)
        self._phase = RT_PHASE
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
