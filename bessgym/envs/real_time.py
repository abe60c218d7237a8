"""RealTime-v0: operate the battery through one day's RT intervals around a fixed DA position."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np

from bessgym.config import ConfigLike
from bessgym.envs.episodes import Episode, EpisodeSource
from bessgym.envs.render import check_render_mode, render_played
from bessgym.observation import RT_FEATURES, SOC, rt_bounds
from bessgym.settlement import LEDGER_LINES
from bessgym.sim import DaySimulator

TIME_OF_DAY, INTERVALS_LEFT = RT_FEATURES.index("time_of_day"), RT_FEATURES.index("intervals_left")


def check_action(action: Any, shape: tuple[int, ...]) -> tuple[np.ndarray, bool]:
    """An action clipped to [-1, 1] and whether it was clipped; NaN or inf raise ValueError."""
    a = np.asarray(action, dtype=np.float64).reshape(shape)
    if not np.isfinite(a).all():
        raise ValueError(f"action {a.tolist()} contains NaN or inf; actions must be finite, within [-1, 1]")
    clipped = np.clip(a, -1.0, 1.0)
    return clipped, bool((clipped != a).any())


def terminal_observation(row: np.ndarray, soc_frac: float) -> np.ndarray:
    """The observation after the last interval: the last row with the day marked as over."""
    obs = row.copy()
    obs[TIME_OF_DAY], obs[INTERVALS_LEFT], obs[SOC] = 1.0, 0.0, soc_frac
    return obs


class RealTimeEnv(gym.Env):
    """
    ## Description
    A grid battery runs through one operating day of real-time intervals. Its day-ahead position
    (hourly energy and ancillary-service awards) was fixed at gate closure by a DA bidder; each
    interval the agent sets a base point around that schedule while the operator deploys the
    awarded services at random. Deployment has priority: where SoC or power limits bind, the base
    point is cut first; undelivered deployment is a shortfall, paid for by no-pay and a penalty.

    ## Action Space
    `Box(-1, 1, (1,), float32)`: the base-point deviation from this hour's DA energy position,
    as a fraction of the discharge power (a > 0) or charge power (a < 0):
    `base_mw = x_h + a * (P_dis if a > 0 else P_ch)`. 0 follows the DA schedule. Out-of-range
    values are clipped and reported in `info["action_clipped"]`; NaN or inf raise ValueError.

    ## Observation Space
    `Box((20,), float32)`, named in `bessgym.observation.RT_FEATURES` (table there): time of day,
    SoC (fraction), this hour's DA position and AS awards (fraction of max power), current,
    previous and last-hour RT price, DA price, the gate-closure RT forecast for the next hour and
    the rest of the day (100 $/MWh units), the previous interval's deployment per product, and
    the share of the day left. Sign: positive power is discharge.

    ## Rewards
    The interval's settlement in $: DA energy + RT imbalance + AS capacity + mileage - no-pay -
    penalty - degradation, plus the terminal value of the SoC on the last interval.
    `info` carries each line (`da_energy`, `rt_imbalance`, `as_capacity`, `mileage`, `no_pay`,
    `penalty`, `degradation`, `terminal`), and `info["day_totals"]` on the last interval.

    ## Starting State
    SoC at the battery's `soc_initial_frac`; the day is drawn from `split` with the env's RNG or
    pinned with `reset(options={"scenario": id})`. The seed never selects the day by itself.

    ## Episode End
    `terminated` after the day's last interval (96 on the 15-minute real data, 288 at 5 minutes).
    Never truncated.

    ## Arguments
    `gym.make("bessgym/RealTime-v0", config="caiso-sp15", split="train", da_bidder="threshold",
    render_mode=None)`: `config` a preset name, JSON path or dict; `split` one of the config's
    splits (`train`, `val`, `test`, `test_ood`, `all`); `da_bidder` a spec string
    (`bessgym.policies.load_component`); `render_mode` `"rgb_array"` or `"ansi"`.

    ## Version History
    * v0: initial version.
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 4}

    def __init__(
        self, config: ConfigLike = "caiso-sp15", split: str = "train", da_bidder: Any = "threshold", render_mode: str | None = None
    ) -> None:
        check_render_mode(render_mode, self.metadata)
        self.source = EpisodeSource(config, split, da_bidder)
        self.battery = self.source.config.battery
        self.market = self.source.config.market_profile
        self.render_mode = render_mode
        low, high = rt_bounds(self.market)
        self.observation_space = gym.spaces.Box(low, high, dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), dtype=np.float32)
        self._p_up, self._p_down = self.battery.p_discharge_mw, self.battery.p_charge_mw
        self._energy = self.battery.energy_mwh
        self._episode: Episode | None = None
        self.step_hours = self.source.scenarios.history(split).dt_h

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        options = options or {}
        scenario_id = options.get("scenario") or self.source.ids[int(self.np_random.integers(len(self.source.ids)))]
        return self.begin_day(self.source.episode(scenario_id))

    def begin_day(self, episode: Episode) -> tuple[np.ndarray, dict]:
        """Start the RT day of a prepared episode (its DA bid already fixed); reset's second half."""
        self._episode = episode
        self._sim = DaySimulator(self.battery, self.market, episode.scenario, episode.accepted)
        self._rows = episode.features
        self._position = self._sim.terms.position_mw.tolist()
        self._totals = [0.0] * len(LEDGER_LINES)
        self._soc = [self._sim.e_mwh / self._energy]
        self._base: list[float] = []
        obs = self._rows[0].copy()
        obs[SOC] = self._soc[0]
        return obs, {"scenario_id": episode.scenario.id, "da_cuts_mw": float(episode.cuts.energy_mw.sum() + episode.cuts.as_mw.sum())}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self._episode is None or self._sim.done:
            raise RuntimeError("call reset() before step() and after the day has ended")
        a = float(np.asarray(action, dtype=np.float64).reshape(-1)[0]) if not isinstance(action, float) else action
        if not math.isfinite(a):
            raise ValueError(f"action {a} is NaN or inf; actions must be finite, within [-1, 1]")
        clipped = min(max(a, -1.0), 1.0)
        t = self._sim.t
        base = self._position[t] + clipped * (self._p_up if clipped > 0 else self._p_down)
        out = self._sim.step(base)
        ledger = out.ledger
        totals = self._totals
        for k, value in enumerate(ledger):
            totals[k] += value
        soc = out.e_mwh / self._energy
        self._soc.append(soc)
        self._base.append(out.base_mw)
        info = dict(zip(LEDGER_LINES, ledger))
        info["action_clipped"] = clipped != a
        info["base_mw"] = out.base_mw
        terminated = self._sim.done
        if terminated:
            obs = terminal_observation(self._rows[-1], soc)
            info["day_totals"] = dict(zip(LEDGER_LINES, totals))
            info["profit_usd"] = sum(totals)
        else:
            obs = self._rows[t + 1].copy()
            obs[SOC] = soc
        return obs, ledger.total, terminated, False, info

    def render(self) -> np.ndarray | str | None:
        if self.render_mode is None or self._episode is None:
            return None
        return render_played(self._episode, self._soc, self._base, sum(self._totals), self.render_mode)
