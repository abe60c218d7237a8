"""DayAhead-v0: a contextual bandit, one DA bid per day, the RT day played by a fixed policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from bessgym.actions import check_action
from bessgym.battery import Battery
from bessgym.config import ConfigLike
from bessgym.envs.episodes import DayLimited, Episode, EpisodeSource, day_info, reset_options, resolve
from bessgym.envs.real_time import form_arguments
from bessgym.evaluation import EpisodeRecord, run_day
from bessgym.forecast import DAContext
from bessgym.envs.render import check_render_mode, render_forecast, render_played
from bessgym.market import HOURS, N_PRODUCTS, UP_MASK, DABid, MarketProfile
from bessgym.observation import DA_FEATURES, da_bounds, da_features
from bessgym.policies import RTPolicy, checked

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


def bid_fractions(energy_mw: np.ndarray, as_mw: np.ndarray, battery: Battery) -> np.ndarray:
    """A bid as an observation (..., 120): energy (..., 24) and awards (..., 24, 4) as fractions
    of ``max(P_charge, P_discharge)``, hour-major as the action (energy in [-1, 1], awards in [0, 1])."""
    bid = np.concatenate([energy_mw[..., None], as_mw], axis=-1) / max(battery.p_charge_mw, battery.p_discharge_mw)
    return np.clip(bid.reshape(bid.shape[:-2] + (DA_ACTION_SIZE,)), -1.0, 1.0).astype(np.float32)


def bid_fraction_bounds() -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of :func:`bid_fractions`."""
    return np.tile(np.r_[-1.0, np.zeros(N_PRODUCTS)], HOURS).astype(np.float32), np.ones(DA_ACTION_SIZE, np.float32)


DEFAULT_DA_RESIDUAL_BAND = 0.25


@dataclass(frozen=True)
class DAActionForm:
    """How a DayAhead-v0 action becomes a bid: one mapping for the env, the vector env and the
    trained-agent adapters (:mod:`agents.ppo.policy`).

    Without ``residual``: :func:`action_to_bid`. With ``residual`` (a DA bidder's spec, e.g.
    ``"baselines.robust:RobustDA"``): the action corrects that bidder's bid by at most
    ``residual_band`` of the power, hour by hour and product by product (same layout as the
    plain action): energy ``x + band * a * (P_dis if a > 0 else P_ch)`` within [-P_ch, P_dis],
    awards ``r + band * a * P`` within [0, P_ch + P_dis] (the market's acceptance cuts the
    rest, as it would the bidder's); action 0 submits the bidder's bid. The
    observation gains the bidder's bid: energy (24) and awards (24 x 4, hour-major) as fractions
    of the power.
    """

    residual: str | None = None
    residual_band: float = DEFAULT_DA_RESIDUAL_BAND

    @classmethod
    def of(cls, residual: Any = None, residual_band: float | None = None) -> DAActionForm:
        """The form of the DayAhead envs' constructor arguments, checked (a ValueError names the argument)."""
        if residual is None:
            if residual_band is not None:
                raise ValueError("residual_band applies with a residual (the DA bidder whose bid the action corrects) only")
            return cls()
        if not isinstance(residual, str) or not residual.strip():
            raise ValueError(f"residual must be a DA bidder's spec string (e.g. 'baselines.robust:RobustDA'), got {residual!r}")
        band = checked("residual_band", DEFAULT_DA_RESIDUAL_BAND if residual_band is None else residual_band,
                       above=0, at_most=2)
        return cls(residual, band)

    @classmethod
    def from_record(cls, record: dict[str, Any] | None) -> DAActionForm:
        """The form of :meth:`record` (the plain form for ``None``: older checkpoints)."""
        return cls.of(**form_arguments(record, ("residual", "residual_band")))

    def record(self) -> dict[str, Any]:
        return {} if self.residual is None else {"residual": self.residual, "residual_band": self.residual_band}

    @property
    def observation_size(self) -> int:
        return len(DA_FEATURES) + (DA_ACTION_SIZE if self.residual is not None else 0)

    def observation_bounds(self, market: MarketProfile) -> tuple[np.ndarray, np.ndarray]:
        low, high = da_bounds(market)
        if self.residual is None:
            return low, high
        extra_low, extra_high = bid_fraction_bounds()
        return np.r_[low, extra_low].astype(np.float32), np.r_[high, extra_high].astype(np.float32)

    def observe(self, features: np.ndarray, energy_mw: np.ndarray, as_mw: np.ndarray, battery: Battery) -> np.ndarray:
        """The observation (..., F): the DayAhead features and, with a residual, the bidder's
        bid (energy (..., 24), awards (..., 24, 4)) as fractions of the power."""
        if self.residual is None:
            return features
        return np.concatenate([features, bid_fractions(energy_mw, as_mw, battery)], axis=-1).astype(np.float32)

    def observation(self, context: DAContext, base: DABid | None, battery: Battery) -> np.ndarray:
        """One day's observation: the DayAhead features of ``context`` and, with a residual,
        ``base``, the residual bidder's bid for that day (None without a residual)."""
        if self.residual is None:
            return da_features(context)
        return self.observe(da_features(context), base.energy_mw, base.as_mw, battery)

    def corrected(self, action: np.ndarray, base: DABid | None, battery: Battery, note: dict | None = None) -> DABid:
        """The bid of one checked action (120,): :meth:`bid` around ``base``, the residual
        bidder's bid (None without a residual), whose virtual position it keeps (the action has
        no virtual entry)."""
        energy, awards = self.bid(action, *((base.energy_mw, base.as_mw) if base is not None else (None, None)), battery)
        if base is None:
            return DABid(energy, awards, note or {})
        return DABid(energy, awards, note or {}, base.virtual_mw)

    def bid(self, action: np.ndarray, energy_mw: np.ndarray | None, as_mw: np.ndarray | None,
            battery: Battery) -> tuple[np.ndarray, np.ndarray]:
        """Energy (..., 24) and awards (..., 24, 4) in MW of checked actions (..., 120); with a
        residual, around the bidder's ``energy_mw`` and ``as_mw``."""
        if self.residual is None:
            return action_to_bid(action, battery)
        a = action.reshape(action.shape[:-1] + (HOURS, 1 + N_PRODUCTS)) * self.residual_band
        step = np.where(a[..., 0] > 0, a[..., 0] * battery.p_discharge_mw, a[..., 0] * battery.p_charge_mw)
        energy = np.clip(energy_mw + step, -battery.p_charge_mw, battery.p_discharge_mw)
        power = np.where(UP_MASK, battery.p_discharge_mw, battery.p_charge_mw)
        # an award may exceed its product's power (reg down up to P_ch + x while discharging x):
        # bounded only by the widest the market accepts, which cuts the rest (accept_arrays)
        return energy, np.clip(as_mw + a[..., 1:] * power, 0.0, battery.p_charge_mw + battery.p_discharge_mw)


def residual_source(config: ConfigLike, split: str, residual: str | None) -> EpisodeSource:
    """The DayAhead envs' days, with the residual's DA bidder (if any) as the source's fixed
    bidder; a bad spec is a ValueError naming ``residual``."""
    bidder = None
    if residual is not None:
        try:
            bidder = resolve(residual, "da_bidder")
        except (ValueError, FileNotFoundError) as exc:
            raise ValueError(f"residual {residual!r}: {exc}") from None
    return EpisodeSource(config, split, da_bidder=bidder)


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
    With `residual`, the same layout corrects a DA bidder's bid (`DAActionForm`): action 0
    submits its bid. Out-of-range values are clipped and reported (`info["action_clipped"]`); NaN, inf or any other
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
    `profit_usd`, `day_shortfall_mwh` (deployment not delivered over the day, MWh; also as
    `cost`, the Safety-Gymnasium cost signal),
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
    residual=None, residual_band=None, render_mode=None)`; `rt_policy` is a spec string
    (`bessgym.policies.load_component`); `residual` a DA bidder's spec whose bid the action
    corrects by at most `residual_band` (default 0.25) of the power (`DAActionForm`; the
    observation then gains that bid, 120 more features).

    ## Version History
    * v0: initial version.
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 1}

    def __init__(
        self, config: ConfigLike = "caiso-sp15", split: str = "train", rt_policy: Any = "follow_da",
        residual: str | None = None, residual_band: float | None = None, render_mode: str | None = None,
    ) -> None:
        check_render_mode(render_mode, self.metadata)
        self.form = DAActionForm.of(residual, residual_band)
        self.source = residual_source(config, split, residual)
        self.policy: RTPolicy = resolve(rt_policy)
        self.battery = self.source.config.battery
        self.render_mode = render_mode
        low, high = self.form.observation_bounds(self.source.config.market_profile)
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
        return self._observe(context), {"scenario_id": self._scenario_id}

    def _base(self) -> DABid | None:
        """The residual's bidder's bid for the day (as submitted), or None."""
        return self.source.fixed_bid(self._scenario_id)[0] if self.form.residual is not None else None

    def _observe(self, context: DAContext) -> np.ndarray:
        return self.form.observation(context, self._base(), self.battery)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self._scenario_id is None:
            raise RuntimeError("call reset() before step()")
        a, was_clipped = check_action(action, self.action_space.shape)
        scenario, context = self._scenario, self.source.day(self._scenario_id)[1]
        obs = self._observe(context)
        episode = self.source.prepare(scenario, context, self.form.corrected(a, self._base(), self.battery))
        played = run_day(self.source, episode, self.policy)
        totals = played.ledger
        info: dict[str, Any] = totals.as_dict()
        info.update(action_clipped=was_clipped, scenario_id=scenario.id, cost=float(played.shortfall_mwh.sum()),
                    **day_info(totals, float(played.shortfall_mwh.sum())),
                    da_cut_energy_mw=float(episode.cuts.energy_mw.sum()), da_cut_as_mw=float(episode.cuts.as_mw.sum()))
        self._shown = (episode, played)
        self._scenario_id = None
        return obs, float(totals.total), True, False, info

    def render(self) -> np.ndarray | str | None:
        """Before the step: the gate-closure forecast; after it: the day as played."""
        if self.render_mode is None or (self._shown is None and self._scenario_id is None):
            return None
        if self._shown is None:
            return render_forecast(self.source, self._scenario_id, self.render_mode)
        episode, played = self._shown
        return render_played(episode, list(played.soc_frac), list(played.base_mw), played.profit, self.render_mode)


make_day_ahead = DayLimited(DayAheadEnv)  # the registered entry point of DayAhead-v0: a TimeLimit of one step
