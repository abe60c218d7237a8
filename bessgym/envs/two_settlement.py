"""TwoSettlement-v0: the DA bid and then every RT interval of the same day, in one episode."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from bessgym.config import ConfigLike
from bessgym.envs.day_ahead import DA_ACTION_SIZE, action_to_bid
from bessgym.envs.render import render_forecast
from bessgym.envs.episodes import EpisodeSource, reset_options
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
    trains on it.) Out-of-range values are clipped and reported; NaN raises.

    ## Observation Space
    `Dict(phase=Discrete(2), da=Box((173,)), rt=Box((19,)))`: the phase flag, the DayAhead-v0
    observation of the day (constant over the episode) and the RealTime-v0 observation (zeros in
    phase 0).

    ## Rewards
    0 for the DA step; then each interval's settlement in $, as in RealTime-v0 (the DA energy is
    settled interval by interval). `info` carries the ledger lines; the DA step's `info` what the
    market cut from the bid; the last step's `info["day_totals"]`.

    ## Starting State
    Phase 0 of a day drawn from `split` with the env's RNG, or pinned with
    `reset(options={"scenario": id})`; its deployment path is drawn with the env's RNG.

    ## Episode End
    `terminated` after the day's last RT interval (1 + 96 steps on the real data). Never truncated.

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
        info = {name: 0.0 for name in LEDGER_LINES}
        info.update(action_clipped=was_clipped, scenario_id=scenario.id,
                    da_cut_energy_mw=float(episode.cuts.energy_mw.sum()), da_cut_as_mw=float(episode.cuts.as_mw.sum()))
        return self._obs(rt_obs), 0.0, False, False, info

    def render(self) -> np.ndarray | str | None:
        if self.render_mode is None or self._scenario_id is None:
            return None
        if self._phase == RT_PHASE:
            return self._rt.render()
        return render_forecast(self.source, self._scenario_id, self.render_mode)
