"""DayAhead-v0: a contextual bandit, one DA bid per day, the RT day played by a fixed policy."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from bessgym.actions import check_action
from bessgym.battery import Battery
from bessgym.config import ConfigLike
from bessgym.envs.episodes import DayLimited, Episode, EpisodeSource, day_info, reset_options, resolve
from bessgym.evaluation import EpisodeRecord, run_day
from bessgym.envs.render import check_render_mode, render_forecast, render_played
from bessgym.market import HOURS, N_PRODUCTS, UP_MASK, DABid
from bessgym.observation import da_bounds, da_features
from bessgym.policies import RTPolicy

DA_ACTION_SIZE = HOURS * (1 + N_PRODUCTS)


def action_to_bid(action: np.ndarray, battery: Battery) -> tuple[np.ndarray, np.ndarray]:
    """Map actions (..., 120) in [-1, 1] to a bid: energy (..., 24) and awards (..., 24, 4) in MW.

    Hour-major layout: entries ``5h .. 5h+4`` are hour h's energy and its reg up, reg down, spin
    and non-spin. Energy ``a * P_dis`` for a > 0, ``a * P_ch`` for a < 0; an award
    ``(a + 1) / 2`` of P_dis (up products) or P_ch (reg down), so -1 offers nothing.
    """
    a = action.reshape(action.shape[:-1] + (HOURS, 1 + N_PRODUCTS))
    energy = np.where(a[..., 0] > 0, a[..., 0] * battery.p_discharge_mw, a[..., 0] * battery.p_charge_mw)
    power = np.where(UP_MASK, battery.p_discharge_mw, battery.p_charge_mw)
    return energy, (a[..., 1:] + 1.0) / 2.0 * power


class DayAheadEnv(gym.Env):
    """
    ## Description
    At gate closure (10:00 the day before) the agent bids the battery into the day-ahead market:
    an hourly energy position and awards of regulation up, regulation down, spinning and
    non-spinning reserve. The market accepts what fits registered power (energy first); the
    real-time day is then played by a fixed RT policy while the operator deploys the awards.
    One step per day (a contextual bandit).

    ## Action Space
    `Box(-1, 1, (120,), float32)`, hour-major: for hour h, entries 5h..5h+4 are the energy
    position (`a * P_dis` if a > 0 else `a * P_ch`, MW, + = sell/discharge) and the awards of
    reg up, reg down, spin, non-spin (`(a + 1) / 2` of P_dis, or of P_ch for reg down; -1 = none).
    Out-of-range values are clipped and reported (`info["action_clipped"]`); NaN, inf or any other
    shape (a (24, 5) or (5, 24) array included) raise ValueError.

    ## Observation Space
    `Box((173,), float32)`, named in `bessgym.observation.DA_FEATURES`: the gate-closure forecast
    of DA prices (24) and hourly RT prices (24) in 100 $/MWh, of AS prices (24 x 4) in 10 $/MW-h,
    the ensemble's hourly RT spread (24), day of year and of week (sine/cosine), initial SoC.

    ## Rewards
    The day's profit in $: the sum of every ledger line over the day (`unavailable` included).

    ## Info
    The step is the episode's last, so `info` holds each ledger line over the day in $
    (`da_energy`, `rt_imbalance`, `as_capacity`, `mileage`, `no_pay`, `unavailable`, `penalty`,
    `degradation`, `terminal`), `action_clipped`, `day_totals` (the same lines as a dict),
    `profit_usd`, `day_shortfall_mwh` (deployment not delivered over the day, MWh),
    `scenario_id`, and what the market cut from the bid, summed over the day:
    `da_cut_energy_mw` and `da_cut_as_mw` (MW). `reset` returns `scenario_id`.

    ## Starting State
    A day drawn from `split` with the env's RNG, or pinned with `reset(options={"scenario": id})`
    (the only reset option); its deployment path is drawn with the env's RNG at every reset.

    ## Episode End
    `terminated` after the single step. `gym.make` wraps the env in `TimeLimit(1)`
    (`env.spec.max_episode_steps == 1`), which sets `truncated` on that step too; the env
    itself never truncates.

    ## Arguments
    `gym.make("bessgym/DayAhead-v0", config="caiso-sp15", split="train", rt_policy="follow_da",
    render_mode=None)`; `rt_policy` is a spec string (`bessgym.policies.load_component`).

    ## Version History
    * v0: initial version.
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 1}

    def __init__(
        self, config: ConfigLike = "caiso-sp15", split: str = "train", rt_policy: Any = "follow_da", render_mode: str | None = None
    ) -> None:
        check_render_mode(render_mode, self.metadata)
        self.source = EpisodeSource(config, split, da_bidder=None)
        self.policy: RTPolicy = resolve(rt_policy)
        self.battery = self.source.config.battery
        self.render_mode = render_mode
        low, high = da_bounds(self.source.config.market_profile)
        self.observation_space = gym.spaces.Box(low, high, dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (DA_ACTION_SIZE,), dtype=np.float32)
        self._scenario_id: str | None = None
        self._shown: tuple[Episode, EpisodeRecord] | None = None
        self.step_hours = 24.0
        self.episode_steps = 1

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        options = reset_options(options)
        self._scenario_id = self.source.draw(options.get("scenario"), self.np_random)
        _, context = self.source.day(self._scenario_id)
        self._scenario = self.source.scenario(self._scenario_id, deployment=self.np_random)
        self._shown = None
        return da_features(context), {"scenario_id": self._scenario_id}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self._scenario_id is None:
            raise RuntimeError("call reset() before step()")
        a, was_clipped = check_action(action, self.action_space.shape)
        scenario, context = self._scenario, self.source.day(self._scenario_id)[1]
        episode = self.source.prepare(scenario, context, DABid(*action_to_bid(a, self.battery)))
        played = run_day(self.source, episode, self.policy)
        totals = played.ledger
        info: dict[str, Any] = totals.as_dict()
        info.update(action_clipped=was_clipped, scenario_id=scenario.id, **day_info(totals, float(played.shortfall_mwh.sum())),
                    da_cut_energy_mw=float(episode.cuts.energy_mw.sum()), da_cut_as_mw=float(episode.cuts.as_mw.sum()))
        self._shown = (episode, played)
        self._scenario_id = None
        return da_features(context), float(totals.total), True, False, info

    def render(self) -> np.ndarray | str | None:
        """Before the step: the gate-closure forecast; after it: the day as played."""
        if self.render_mode is None or (self._shown is None and self._scenario_id is None):
            return None
        if self._shown is None:
            return render_forecast(self.source, self._scenario_id, self.render_mode)
        episode, played = self._shown
        return render_played(episode, list(played.soc_frac), list(played.base_mw), played.profit, self.render_mode)


make_day_ahead = DayLimited(DayAheadEnv)  # the registered entry point of DayAhead-v0: a TimeLimit of one step
