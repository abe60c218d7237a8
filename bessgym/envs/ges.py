"""GESDayAhead-v0 and GESRealTime-v0: an aggregator's portfolio of generalised storage (a battery,
a thermostat fleet, an EV fleet; ``bessgym.portfolio``) on shipped CAISO days, its fleets' bounds
uncertain and decision-dependent (``bessgym.ddu``; Qi et al. 2023).

GESDayAhead-v0 is the DA plan, one step per day; GESRealTime-v0 takes a planner's DA plan and
splits the portfolio's position and reserve across the assets interval by interval, as the
fleets' realised bounds show themselves. Both settle through ``bessgym.portfolio`` (one ledger,
``bessgym.settlement``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd

from baselines.aggregator import MODELS, AggregatorDA
from bessgym.actions import check_action
from bessgym.battery import Battery
from bessgym.config import ConfigLike
from bessgym.ddu import BaseDraws, Bounds
from bessgym.envs.episodes import DayLimited, EpisodeSource, day_info, reset_options
from bessgym.ges_data import SITE_TZ, load_ev_sessions
from bessgym.portfolio import (Asset, Case, Schedule, Step, case_day, follow, interval_lines, planned_cost, realise,
                               realised_bounds, response_degrees)
from bessgym.settlement import LEDGER_LINES, Ledger
from bessgym.tcl import TCLFleet

PRICE_SCALE = 100.0
"""Prices in the observations: $/MWh (energy) and $/MW-h (reserve) over 100."""
TEMPERATURE_SCALE_C = 40.0
EV_P_MAX_KW = 6.6
"""An EV session's charging power in ``bessgym.portfolio.case_day`` (``EVFleet.from_sessions``'s default)."""
QUANTITIES = 3
"""Action entries per asset and interval in GESDayAhead-v0: net power, reserve up, reserve down."""
RT_ASSET_FEATURES = 9
REPAIR_TOL_MW = 1e-6
"""Repairs smaller than this (MW, summed over the day) are solver dust, not a changed action."""


@lru_cache(maxsize=1)
def _sessions() -> pd.DataFrame:
    return load_ev_sessions()


@lru_cache(maxsize=512)
def _case(source: EpisodeSource, scenario_id: str, dt_h: float, n_tcl: int, fleet_seed: int,
          incentive_usd_per_mwh: float) -> Case:
    return case_day(source.scenario(scenario_id), dt_h, n_tcl, fleet_seed, source.config.battery, incentive_usd_per_mwh,
                    sessions=_sessions())


@lru_cache(maxsize=1)
def _ev_rating_mw() -> float:
    """The most an EV fleet of the shipped sessions can draw: ``EV_P_MAX_KW`` times the most
    sessions arriving on one local day (MW)."""
    per_day = _sessions()["arrival"].dt.tz_convert(SITE_TZ).dt.date.value_counts()
    return float(per_day.max()) * EV_P_MAX_KW / 1e3


def ratings_mw(battery: Battery, n_tcl: int, fleet_seed: int) -> np.ndarray:
    """Each asset's rating (3,) MW, which bounds its power in the observations: the battery's
    power, the thermostat fleet's electrical rating (the units' ``P / COP``), and
    :func:`_ev_rating_mw` for the EV fleet."""
    tcl = TCLFleet.callaway(n_tcl, np.random.default_rng(fleet_seed))
    return np.array([max(battery.p_charge_mw, battery.p_discharge_mw),
                     float((tcl.p_thermal_kw / tcl.cop).sum()) / 1e3, _ev_rating_mw()])


class _GESBase(gym.Env):
    """The arguments, days and cases both GES envs share."""

    metadata: dict[str, Any] = {"render_modes": [], "render_fps": 1}

    def __init__(self, config: ConfigLike, split: str, n_tcl: int, dt_h: float, incentive_usd_per_mwh: float,
                 fleet_seed: int) -> None:
        if isinstance(n_tcl, bool) or not isinstance(n_tcl, (int, np.integer)) or n_tcl < 1:
            raise ValueError(f"n_tcl = {n_tcl!r}; allowed: an integer >= 1 (air conditioners in the fleet)")
        if isinstance(fleet_seed, bool) or not isinstance(fleet_seed, (int, np.integer)) or fleet_seed < 0:
            raise ValueError(f"fleet_seed = {fleet_seed!r}; allowed: an integer >= 0 (the fleet's units)")
        if not (isinstance(incentive_usd_per_mwh, (int, float)) and np.isfinite(incentive_usd_per_mwh)
                and incentive_usd_per_mwh >= 0):
            raise ValueError(f"incentive_usd_per_mwh = {incentive_usd_per_mwh!r}; allowed: a finite number >= 0 $/MWh")
        self.source = EpisodeSource(config, split, da_bidder=None)
        if self.source.config.data.source != "caiso":
            raise ValueError(f"config's data source {self.source.config.data.source!r} is not allowed: the GES case's "
                             "fleets sit in San Diego (CAISO SP15); give a CAISO config such as 'caiso-sp15'")
        rt_dt = self.source.scenario(self.source.ids[0]).dt_h
        ok = isinstance(dt_h, (int, float)) and not isinstance(dt_h, bool) and np.isfinite(dt_h) and dt_h > 0
        if not (ok and float(1.0 / dt_h).is_integer() and float(round(dt_h / rt_dt, 9)).is_integer() and dt_h >= rt_dt):
            raise ValueError(f"dt_h = {dt_h!r}; allowed: a divisor of one hour that is a multiple of the data's {rt_dt} h")
        self.n_tcl, self.dt_h, self.fleet_seed = int(n_tcl), float(dt_h), int(fleet_seed)
        self.incentive_usd_per_mwh = float(incentive_usd_per_mwh)
        self.n = int(round(24 / dt_h))
        self.market = self.source.config.market_profile
        self.ratings_mw = ratings_mw(self.source.config.battery, self.n_tcl, self.fleet_seed)
        self.render_mode = None
        self._case: Case | None = None

    def _draw_case(self, options: dict[str, Any]) -> Case:
        scenario_id = self.source.draw(options.get("scenario"), self.np_random)
        return _case(self.source, scenario_id, self.dt_h, self.n_tcl, self.fleet_seed, self.incentive_usd_per_mwh)

    def _base_draws(self, assets: tuple[Asset, ...], draws: int) -> dict[str, BaseDraws]:
        """``draws`` draws of the world from the env's RNG, one set per uncertain asset, in asset order."""
        return {a.name: BaseDraws.draw(draws, self.n, self.np_random) for a in assets if a.uncertainty is not None}


def action_to_legs(assets: tuple[Asset, ...], action: np.ndarray) -> tuple[np.ndarray, ...]:
    """GESDayAhead-v0's action (m * 3 * n,) in [-1, 1] as legs and reserve (4 arrays (m, n) MW:
    charge, discharge, reserve up, reserve down) on the assets' nominal bounds. Layout: asset
    major, then quantity, then interval (``action.reshape(m, 3, n)``): net power ``a`` (a > 0
    discharges ``a P_d_max[t]``, a < 0 charges ``|a| P_c_max[t]``), reserve up and reserve down,
    each ``(a + 1) / 2 (P_d_max + P_c_max)[t]`` (-1: none)."""
    m, n = len(assets), assets[0].ges.n_intervals
    a = action.reshape(m, QUANTITIES, n)
    p_c = np.array([x.ges.p_charge_max_mw for x in assets])
    p_d = np.array([x.ges.p_discharge_max_mw for x in assets])
    net, reserve = a[:, 0], (a[:, 1:] + 1.0) / 2.0 * (p_c + p_d)[:, None]
    return np.maximum(-net, 0.0) * p_c, np.maximum(net, 0.0) * p_d, reserve[:, 0], reserve[:, 1]


def schedule_to_action(assets: tuple[Asset, ...], schedule: Schedule) -> np.ndarray:
    """The GESDayAhead-v0 action (m * 3 * n,) float64 that encodes ``schedule``: the inverse of
    :func:`action_to_legs`, exact for a schedule within the nominal power bounds that never
    charges and discharges an asset in the same interval (the net is kept where it does);
    entries clipped to [-1, 1]."""
    p_c = np.array([x.ges.p_charge_max_mw for x in assets])
    p_d = np.array([x.ges.p_discharge_max_mw for x in assets])
    net = schedule.discharge_mw - schedule.charge_mw
    with np.errstate(divide="ignore", invalid="ignore"):
        a_net = np.where(net > 0, np.where(p_d > 0, net / p_d, 0.0), np.where(p_c > 0, net / p_c, 0.0))
        span = p_c + p_d
        up = np.where(span > 0, 2.0 * schedule.reserve_up_mw / span - 1.0, -1.0)
        down = np.where(span > 0, 2.0 * schedule.reserve_down_mw / span - 1.0, -1.0)
    return np.clip(np.stack([a_net, up, down], axis=1), -1.0, 1.0).ravel()


def repair(assets: tuple[Asset, ...], charge_mw: np.ndarray, discharge_mw: np.ndarray, up_mw: np.ndarray,
           down_mw: np.ndarray) -> tuple[Schedule, float, float]:
    """The schedule the legs and reserve (m, n) MW give on the assets' nominal bounds, with what
    broke them repaired by ``bessgym.portfolio.follow`` run on those bounds: legs moved to keep
    the SoC within its bounds, reserve cut to what the headroom holds. Returns the schedule
    (its SoC path the repaired legs', ``limits`` None), the legs' MW moved and the reserve's MW
    cut (summed over assets and intervals)."""
    m, n = charge_mw.shape
    c, d, up, down = (np.empty((m, n)) for _ in range(4))
    soc = np.empty((m, n + 1))
    for i, asset in enumerate(assets):
        g = asset.ges
        soc[i, 0] = g.soc_initial
        for t in range(n):
            s = follow(g, t, soc[i, t], charge_mw[i, t], discharge_mw[i, t], up_mw[i, t], down_mw[i, t],
                       g.p_charge_max_mw[t], g.p_discharge_max_mw[t], g.soc_min[t + 1], g.soc_max[t + 1])
            c[i, t], d[i, t], soc[i, t + 1] = s.charge_mw, s.discharge_mw, s.soc
            up[i, t], down[i, t] = up_mw[i, t] - s.short_up_mw, down_mw[i, t] - s.short_down_mw
    moved = float(np.abs(c - charge_mw).sum() + np.abs(d - discharge_mw).sum())
    cut = float((up_mw - up).sum() + (down_mw - down).sum())
    return Schedule(c, d, up, down, soc), moved, cut


def _da_bounds(market: Any, ratings_mw: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = market.price_floor_usd_per_mwh / PRICE_SCALE, market.price_cap_hard_usd_per_mwh / PRICE_SCALE
    low = [np.full(n, lo), np.zeros(2 * n), np.full(n, -2.0), np.full(2 * n, -1.0)]
    high = [np.full(n, hi), np.full(2 * n, hi), np.full(n, 2.0), np.ones(2 * n)]
    for rating in ratings_mw:
        low.append(np.zeros(5 * n))
        high.append(np.concatenate([np.full(2 * n, 2 * rating), np.ones(2 * n), np.full(n, 2 * rating)]))
    return np.concatenate(low).astype(np.float32), np.concatenate(high).astype(np.float32)


def _hour_features(n: int, dt_h: float) -> np.ndarray:
    angle = np.arange(n) * dt_h / 24.0 * 2 * np.pi
    return np.concatenate([np.sin(angle), np.cos(angle)])


class GESDayAheadEnv(_GESBase):
    """
    ## Description
    An aggregator plans a day ahead for its portfolio of generalised storage
    (``bessgym.portfolio.case_day``: bessgym's battery, ``n_tcl`` air conditioners, the EV
    sessions of a Caltech day): DA energy and reserve up / down for each asset and interval, at
    known DA prices (as in Qi et al. 2023). The fleets' bounds are uncertain and depend on how
    hard the plan uses them (``bessgym.ddu``). One step per day (a contextual bandit).

    ## Action Space
    `Box(-1, 1, (m * 3 * n,), float32)` (m = 3 assets: battery, tcl, ev; n = 24 / dt_h
    intervals; 216 by default), asset-major, then quantity, then interval
    (`action.reshape(m, 3, n)`): net power `a` (a > 0: discharge `a * P_d_max[t]`, a < 0: charge
    `|a| * P_c_max[t]`, MW around the baseline on the asset's nominal bounds), reserve up and
    reserve down, each `(a + 1) / 2 * (P_d_max + P_c_max)[t]` MW (-1: none). `action_to_legs`
    maps it, `schedule_to_action` encodes a schedule. The legs are then stepped through the
    asset's nominal GES with `bessgym.portfolio.follow`: legs that would take the SoC out of its
    nominal bounds are moved, reserve the nominal headroom cannot hold is cut
    (`info["repairs_mw"]`). Out-of-range entries are clipped; NaN, inf or another shape raise
    ValueError. `info["action_clipped"]` is set when anything was clipped or repaired.

    ## Observation Space
    `Box((6 n + 5 m n,), float32)` (504 by default), blocks of n: the DA price, the reserve up
    (spinning) and down (regulation down) prices (/100, $/MWh and $/MW-h), the outdoor
    temperature (/40 degC, bounds [-2, 2]), the hour of the interval's start as sine and cosine;
    then per asset its nominal `P_c_max`, `P_d_max` (MW, within [0, 2 x rating]), `soc_min`,
    `soc_max` at each interval's end and its baseline (MW, within [0, 2 x rating]); ratings in
    `env.ratings_mw` (`ratings_mw`). Prices within the market's floor and hard cap (/100).

    ## Rewards
    Minus the realised total cost of the day in $ (`bessgym.portfolio.realise`: the plan
    followed on one draw of the fleets' bounds from the env's RNG, drawn at the plan's own
    response degrees), averaged over `draws` draws; its `terminal` line values each asset's
    final SoC against its target (DESIGN 1.6's asymmetric rule).

    ## Info
    Each ledger line of the realised day ($, mean over the draws; `LEDGER_LINES`),
    `planned_cost_usd` (the plan's DA cost, `bessgym.portfolio.planned_cost`),
    `lorp` (loss of reserve probability), `erns_mwh` (reserve not served, MWh per day),
    `repairs_mw` (legs moved plus reserve cut, MW summed over the day), `reserve_cut_mw`,
    `action_clipped`, `scenario_id`, and as every env's last step `day_totals`, `profit_usd`,
    `day_shortfall_mwh` (= `erns_mwh`). `reset` returns `scenario_id`.

    ## Starting State
    A day of `split` drawn with the env's RNG, or pinned with `reset(options={"scenario": id})`
    (the only reset option).

    ## Episode End
    `terminated` after the single step (`gym.make`'s `TimeLimit(1)` sets `truncated` too).

    ## Arguments
    `gym.make("bessgym/GESDayAhead-v0", config="caiso-sp15", split="train", n_tcl=1000,
    dt_h=1.0, incentive_usd_per_mwh=10.0, fleet_seed=0, draws=1)`: a CAISO config, a split of
    it, the thermostat fleet's size and units' seed, the interval (a divisor of one hour), the
    fleets' incentive ($/MWh of response), the draws the reward averages.

    ## Version History
    * v0: initial version.
    """

    def __init__(self, config: ConfigLike = "caiso-sp15", split: str = "train", n_tcl: int = 1000, dt_h: float = 1.0,
                 incentive_usd_per_mwh: float = 10.0, fleet_seed: int = 0, draws: int = 1) -> None:
        if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or draws < 1:
            raise ValueError(f"draws = {draws!r}; allowed: an integer >= 1 (draws of the world the reward averages)")
        super().__init__(config, split, n_tcl, dt_h, incentive_usd_per_mwh, fleet_seed)
        self.draws = int(draws)
        m = len(self.ratings_mw)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (m * QUANTITIES * self.n,), dtype=np.float32)
        self.observation_space = gym.spaces.Box(*_da_bounds(self.market, self.ratings_mw, self.n), dtype=np.float32)
        self.episode_steps = 1
        self.base_draws: dict[str, BaseDraws] | None = None
        """The last step's draws of the world (one set per uncertain asset)."""

    @property
    def case(self) -> Case | None:
        """The day's case (None before ``reset``)."""
        return self._case

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._case = self._draw_case(reset_options(options))
        return self._observe(), {"scenario_id": self._case.scenario_id}

    def _observe(self) -> np.ndarray:
        case = self._case
        p = case.prices
        blocks = [p.da / PRICE_SCALE, p.reserve_up / PRICE_SCALE, p.reserve_down / PRICE_SCALE,
                  case.outdoor_c / TEMPERATURE_SCALE_C, _hour_features(self.n, self.dt_h)]
        for a in case.assets:
            g = a.ges
            blocks += [g.p_charge_max_mw, g.p_discharge_max_mw, g.soc_min[1:], g.soc_max[1:], g.baseline_mw]
        space = self.observation_space
        return np.clip(np.concatenate(blocks), space.low, space.high).astype(np.float32)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self._case is None:
            raise RuntimeError("call reset() before step()")
        a, was_clipped = check_action(action, self.action_space.shape)
        case = self._case
        schedule, moved, cut = repair(case.assets, *action_to_legs(case.assets, a))
        self.base_draws = self._base_draws(case.assets, self.draws)
        outcome = realise(case.assets, case.prices, self.market, schedule, self.base_draws)
        lines = Ledger(*(float(np.mean(line)) for line in outcome.ledger))
        info: dict[str, Any] = lines.as_dict()
        info.update(planned_cost_usd=planned_cost(case.assets, case.prices, schedule),
                    lorp=outcome.lorp, erns_mwh=outcome.erns_mwh, repairs_mw=moved + cut, reserve_cut_mw=cut,
                    action_clipped=was_clipped or moved + cut > REPAIR_TOL_MW, scenario_id=case.scenario_id,
                    **day_info(tuple(lines), outcome.erns_mwh))
        obs = self._observe()
        self._case = None
        return obs, float(lines.total), True, False, info


make_ges_day_ahead = DayLimited(GESDayAheadEnv)  # the registered entry point of GESDayAhead-v0


def split_interval(schedule: Schedule, t: int, action: np.ndarray) -> tuple[np.ndarray, ...]:
    """GESRealTime-v0's action (3 m,) in [0, 1] as interval ``t``'s legs and reserve (4 arrays
    (m,) MW: charge, discharge, up, down). Three groups of m weights: the assets' shares of the
    plan's net power (MW around the baselines, summed over the assets), of its reserve up and of
    its reserve down; a group of all-zero weights keeps the plan's own split of that quantity."""
    m = schedule.charge_mw.shape[0]
    c, d = schedule.charge_mw[:, t].copy(), schedule.discharge_mw[:, t].copy()
    up, down = schedule.reserve_up_mw[:, t].copy(), schedule.reserve_down_mw[:, t].copy()
    energy, w_up, w_down = action[:m], action[m:2 * m], action[2 * m:]
    if energy.sum() > 0:
        net = energy / energy.sum() * (d - c).sum()
        c, d = np.maximum(-net, 0.0), np.maximum(net, 0.0)
    if w_up.sum() > 0:
        up = w_up / w_up.sum() * up.sum()
    if w_down.sum() > 0:
        down = w_down / w_down.sum() * down.sum()
    return c, d, up, down


class GESRealTimeEnv(_GESBase):
    """
    ## Description
    The aggregator's day after its DA plan (`planner`: `baselines.aggregator.AggregatorDA`'s
    M1, M2 or M3 with 500 draws, a plan per day): each interval it decides how to split the
    portfolio's planned net power and its reserve up / down across the battery, the thermostat
    fleet and the EV fleet. The fleets' realised bounds are drawn once per episode (one draw
    from the env's RNG at the plan's response degrees; `bessgym.portfolio.realised_bounds`) and
    each interval's are revealed at its start; each asset then follows its share
    (`bessgym.portfolio.follow` on its realised bounds). One step per interval.

    ## Action Space
    `Box(0, 1, (3 m,), float32)` (m = 3): three groups of per-asset weights, for the energy,
    the reserve up and the reserve down; interval t's planned net power (summed over the
    assets, MW around the baselines), reserve up and reserve down are each split across the
    assets in proportion to their group's weights (`split_interval`); a group of all-zero
    weights keeps the plan's own split of its quantity (all zeros: the plan as it is). Out-of-range
    entries are clipped (`info["action_clipped"]`); NaN, inf or another shape raise ValueError.

    ## Observation Space
    `Box((8 + 9 m,), float32)` (35): t / n; interval t's DA price, reserve up and down prices
    and the previous interval's RT price (0 at t = 0), all /100; the plan's net power, reserve
    up and down for t summed over the assets (MW); then per asset its SoC, its realised
    `P_c_max`, `P_d_max` for t (MW), `soc_min`, `soc_max` at t's end, its realised baseline for
    t (MW), and its planned net power, reserve up and down for t (MW). MW within +-2 x the
    asset's rating (`env.ratings_mw`; a sum within the sum), SoC within [-0.5, 1.5]; values
    clipped to the bounds. After the last step t / n = 1 and interval n - 1's entries.

    ## Rewards
    Minus the interval's cost in $: the sum of its ledger lines
    (`bessgym.portfolio.interval_lines`; the `terminal` line, the final SoC against the target,
    on the last step). Over a day with all-zero actions the rewards sum to minus
    `bessgym.portfolio.realise`'s cost on the same draw.

    ## Info
    Each step: the interval's ledger lines ($), `short_up_mw`, `short_down_mw` (reserve the
    assets could not hold, MW) and per asset `short_up_by_asset_mw`, `short_down_by_asset_mw` (m,)
    and `soc_excursion_by_asset` (m,: the SoC beyond its realised bounds it could not avoid), `short_mwh` (reserve not served, MWh), `action_clipped`. The last
    step adds `day_totals`, `profit_usd`, `day_shortfall_mwh` (reserve not served over the day,
    MWh) and `scenario_id`. `reset` returns `scenario_id`.

    ## Starting State
    A day of `split` drawn with the env's RNG, or pinned with `reset(options={"scenario": id})`;
    the planner's plan, or `options["plan"]` (a `bessgym.portfolio.Schedule` of the day: another
    planner's); the world's draw from the env's RNG, or `options["world"]` (one
    `bessgym.ddu.BaseDraws` of one draw per uncertain asset: the leaderboard's); every asset at
    its initial SoC.

    ## Episode End
    `terminated` after the day's last interval (n = 24 / dt_h steps; `gym.make`'s `TimeLimit`
    of n sets `truncated` on that step too).

    ## Arguments
    `gym.make("bessgym/GESRealTime-v0", config="caiso-sp15", split="train", planner="M3",
    n_tcl=1000, dt_h=1.0, incentive_usd_per_mwh=10.0, fleet_seed=0)`, as GESDayAhead-v0 with
    the `planner` of the DA plan.

    ## Version History
    * v0: initial version.
    """

    def __init__(self, config: ConfigLike = "caiso-sp15", split: str = "train", planner: str = "M3", n_tcl: int = 1000,
                 dt_h: float = 1.0, incentive_usd_per_mwh: float = 10.0, fleet_seed: int = 0) -> None:
        if planner not in MODELS:
            raise ValueError(f"planner = {planner!r}; allowed: {', '.join(MODELS)} (baselines.aggregator.AggregatorDA's models)")
        super().__init__(config, split, n_tcl, dt_h, incentive_usd_per_mwh, fleet_seed)
        self.planner = planner
        m = len(self.ratings_mw)
        self.action_space = gym.spaces.Box(0.0, 1.0, (3 * m,), dtype=np.float32)
        span = 2 * self.ratings_mw
        lo, hi = self.market.price_floor_usd_per_mwh / PRICE_SCALE, self.market.price_cap_hard_usd_per_mwh / PRICE_SCALE
        low = [[0.0, lo, 0.0, 0.0, lo, -span.sum(), 0.0, 0.0]]
        high = [[1.0, hi, hi, hi, hi, span.sum(), span.sum(), span.sum()]]
        for s in span:
            low.append([-0.5, 0.0, 0.0, 0.0, 0.0, 0.0, -s, 0.0, 0.0])
            high.append([1.5, s, s, 1.0, 1.0, s, s, s, s])
        self.observation_space = gym.spaces.Box(np.concatenate(low).astype(np.float32),
                                                np.concatenate(high).astype(np.float32), dtype=np.float32)
        self.episode_steps = self.n
        self.schedule: Schedule | None = None
        """The day's DA plan."""
        self.base_draws: dict[str, BaseDraws] | None = None
        """The episode's draw of the world (one set per uncertain asset)."""
        self.bounds: list[Bounds] = []
        """Each asset's realised bounds (one draw)."""
        self.soc = np.zeros(m)
        self._t = 0

    @property
    def case(self) -> Case | None:
        return self._case

    @property
    def t(self) -> int:
        """The interval the next step plays."""
        return self._t

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        options = reset_options(options, ("scenario", "plan", "world"))
        self._case = self._draw_case(options)
        assets = self._case.assets
        plan, world = options.get("plan"), options.get("world")
        if plan is not None and not (isinstance(plan, Schedule) and plan.charge_mw.shape == (len(assets), self.n)):
            raise ValueError(f"reset option plan = {type(plan).__name__}; allowed: a bessgym.portfolio.Schedule of "
                             f"{len(assets)} assets x {self.n} intervals (the day's plan)")
        self.schedule = plan if plan is not None else _plan(self.source, self._case.scenario_id, self.dt_h, self.n_tcl,
                                                            self.fleet_seed, self.incentive_usd_per_mwh, self.planner)
        if world is not None:
            wrong = [a.name for a in assets if a.uncertainty is not None and not (
                isinstance(world, dict) and isinstance(world.get(a.name), BaseDraws)
                and world[a.name].baseline_z.shape == (1, self.n))]
            if wrong:
                raise ValueError(f"reset option world has no one-draw BaseDraws of {self.n} intervals for {wrong}; "
                                 "allowed: a dict of them by asset name (bessgym.ddu.BaseDraws.draw(1, n, rng))")
        self.base_draws = world if world is not None else self._base_draws(assets, 1)
        self.bounds = realised_bounds(self._case.assets, self.base_draws, response_degrees(self._case.assets, self.schedule))
        self.soc = np.array([a.ges.soc_initial for a in self._case.assets])
        self._t = 0
        self._totals = np.zeros(len(LEDGER_LINES))
        self._short_mwh = 0.0
        return self._observe(), {"scenario_id": self._case.scenario_id}

    def _observe(self) -> np.ndarray:
        t = min(self._t, self.n - 1)
        p, s = self._case.prices, self.schedule
        net = s.discharge_mw[:, t] - s.charge_mw[:, t]
        head = [self._t / self.n, p.da[t] / PRICE_SCALE, p.reserve_up[t] / PRICE_SCALE, p.reserve_down[t] / PRICE_SCALE,
                p.rt[self._t - 1] / PRICE_SCALE if self._t > 0 else 0.0, net.sum(), s.reserve_up_mw[:, t].sum(),
                s.reserve_down_mw[:, t].sum()]
        rows = [np.array(head)]
        for i, b in enumerate(self.bounds):
            rows.append(np.array([self.soc[i], b.p_charge_max_mw[0, t], b.p_discharge_max_mw[0, t], b.soc_min[0, t + 1],
                                  b.soc_max[0, t + 1], b.baseline_mw[0, t], net[i], s.reserve_up_mw[i, t],
                                  s.reserve_down_mw[i, t]]))
        space = self.observation_space
        return np.clip(np.concatenate(rows), space.low, space.high).astype(np.float32)

    def steps_for(self, action: np.ndarray) -> tuple[list[Step], np.ndarray, np.ndarray]:
        """The assets' steps (one draw) for interval ``t`` under a checked action, and the
        reserve up and down (m,) MW each was given."""
        case, t = self._case, self._t
        c, d, up, down = split_interval(self.schedule, t, action)
        steps = [follow(a.ges, t, np.array([self.soc[i]]), c[i], d[i], up[i], down[i], b.p_charge_max_mw[:, t],
                        b.p_discharge_max_mw[:, t], b.soc_min[:, t + 1], b.soc_max[:, t + 1])
                 for i, (a, b) in enumerate(zip(case.assets, self.bounds))]
        return steps, up, down

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self._case is None or self._t >= self.n:
            raise RuntimeError("call reset() before step()" if self._case is None else
                               "the day is over: call reset() to start another")
        weights, was_clipped = check_action(action, self.action_space.shape, low=0.0)
        case, t = self._case, self._t
        steps, up, down = self.steps_for(weights)
        last = t == self.n - 1
        lines = interval_lines(case.assets, case.prices, self.market, t, float(self.schedule.position_mw(case.assets)[t]),
                               steps, [b.baseline_mw[:, t] for b in self.bounds], up, down, last)
        values = np.array([float(np.sum(line)) for line in lines])
        self.soc = np.array([float(s.soc[0]) for s in steps])
        short_up = float(sum(s.short_up_mw[0] for s in steps))
        short_down = float(sum(s.short_down_mw[0] for s in steps))
        self._totals += values
        self._short_mwh += (short_up + short_down) * self.dt_h
        self._t += 1
        info: dict[str, Any] = dict(zip(LEDGER_LINES, values.tolist()))
        info.update(short_up_mw=short_up, short_down_mw=short_down, short_mwh=(short_up + short_down) * self.dt_h,
                    short_up_by_asset_mw=np.array([float(s.short_up_mw[0]) for s in steps]),
                    short_down_by_asset_mw=np.array([float(s.short_down_mw[0]) for s in steps]),
                    soc_excursion_by_asset=np.array([float(s.excursion[0]) for s in steps]),
                    action_clipped=was_clipped)
        if last:
            info.update(scenario_id=case.scenario_id, **day_info(tuple(self._totals.tolist()), self._short_mwh))
        return self._observe(), float(values.sum()), last, False, info


@lru_cache(maxsize=256)
def _plan(source: EpisodeSource, scenario_id: str, dt_h: float, n_tcl: int, fleet_seed: int, incentive_usd_per_mwh: float,
          planner: str) -> Schedule:
    """The DA plan of ``planner`` (AggregatorDA with 500 draws) for a day's case (cached: the
    plan is a function of the day)."""
    case = _case(source, scenario_id, dt_h, n_tcl, fleet_seed, incentive_usd_per_mwh)
    return AggregatorDA(planner, draws=500).plan(case.assets, case.prices).schedule


def headroom_split(env: gym.Env) -> np.ndarray:
    """A GESRealTime-v0 policy: the plan's energy split, and the reserve up (down) split in
    proportion to each asset's up (down) headroom this interval, after its planned legs on its
    realised bounds, as ``follow`` measures it. Reserve is held, not deployed, so the split
    moves no SoC, and this one leaves the least reserve short of any split of the interval (none
    when the headroom holds it all). Reads the env's current state: what the observation shows,
    and the assets' constants."""
    env = env.unwrapped
    m, t, plan = len(env.bounds), env.t, env.schedule
    rooms = np.zeros((2, m))
    for i, (a, b) in enumerate(zip(env.case.assets, env.bounds)):
        s = follow(a.ges, t, np.array([env.soc[i]]), plan.charge_mw[i, t], plan.discharge_mw[i, t], 0.0, 0.0,
                   b.p_charge_max_mw[:, t], b.p_discharge_max_mw[:, t], b.soc_min[:, t + 1], b.soc_max[:, t + 1])
        g = a.ges
        per_charge, per_discharge = g.eta_charge * g.dt_h / g.energy_mwh, g.dt_h / (g.eta_discharge * g.energy_mwh)
        rooms[0, i] = max(min(b.p_discharge_max_mw[0, t] - s.discharge_mw[0] + s.charge_mw[0],
                              (s.soc[0] - b.soc_min[0, t + 1]) / per_discharge), 0.0)
        rooms[1, i] = max(min(b.p_charge_max_mw[0, t] - s.charge_mw[0] + s.discharge_mw[0],
                              (b.soc_max[0, t + 1] - s.soc[0]) / per_charge), 0.0)
    largest = rooms.max(1, keepdims=True)
    weights = np.divide(rooms, largest, out=np.zeros_like(rooms), where=largest > 0)
    return np.concatenate([np.zeros(m), weights.ravel()]).astype(np.float32)


make_ges_real_time = DayLimited(GESRealTimeEnv)  # the registered entry point of GESRealTime-v0
