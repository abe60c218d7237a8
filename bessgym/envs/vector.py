"""Native numpy-batched vector envs for RealTime-v0 and DayAhead-v0.

Reached with ``gym.make_vec(id, num_envs=N, vectorization_mode="vector_entry_point")``. Every
day of the split is prepared once (a :class:`~bessgym.envs.episodes.Bank`) and N days run in
one :class:`~bessgym.sim.BatchDaySimulator`. ``step`` before the first ``reset`` raises
``gymnasium.error.ResetNeeded``. Sub-env i behaves exactly like a scalar env reset
with seed ``seed + i``: it draws its days and each episode's deployment path with its own RNG. Autoreset follows Gymnasium 1.x:
``NEXT_STEP`` (default: the step after a termination resets that sub-env, reward 0) or
``SAME_STEP`` (the terminating step returns the new day's observation and puts the final one in
``info["final_obs"]``).

Info is Gymnasium's vector form: each key holds an array over the envs and ``info["_key"]`` the
mask of the envs it applies to; dicts nest with their own masks. A step's keys are those of
the scalar env's step (the last step's ``day_totals``, ``profit_usd`` and ``day_shortfall_mwh``
from the same :func:`bessgym.envs.episodes.day_info`, and ``scenario_id``), ``scenario_id``
also for envs that started a day in the step; with ``SAME_STEP``, an ending env's last-step info moves to
``info["final_info"]`` and the top level holds its new day's ``scenario_id``, as in
``gymnasium.vector.SyncVectorEnv``. ``max_episode_steps`` mirrors the ``TimeLimit`` that
``gym.make`` puts on the scalar envs: by default the episode's own length, so ``truncated``
is set together with ``terminated`` on the episode's last step; a smaller value ends (and
autoresets) an episode early with ``truncated`` alone.
"""

from __future__ import annotations

import copy
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.error import ResetNeeded
from gymnasium.utils.seeding import np_random
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from bessgym.actions import base_point, check_actions, cleared, curve_from_action
from bessgym.config import ConfigLike
from bessgym.deployment import contingency_fractions, draw_deployments, draw_windows, regulation_at, regulation_pool
from bessgym.envs.day_ahead import DA_ACTION_SIZE, DAActionForm, residual_source
from bessgym.envs.episodes import Bank, EpisodeSource, day_info, reset_options, resolve
from bessgym.envs.real_time import ActionForm, RTActionForm
from bessgym.market import HOURS, DABid, accept_arrays, accept_fmm
from bessgym.observation import (DEPLOYED, FMM_FEATURES, INTERVALS_LEFT, TIME_OF_DAY, fmm_feature_table, p_scale,
                                 rt_feature_table, set_soc)
from bessgym.policies import RTEpisode
from bessgym.settlement import BID_FIELDS, LEDGER_LINES, StepTerms, bid_terms, capacity_usd, day_terms, interval_deployment_terms
from bessgym.sim import BatchDaySimulator


def _refuse_render(render_mode: str | None, scalar_id: str) -> None:
    if render_mode is not None:
        raise ValueError(f"the vector env does not render; render a scalar {scalar_id}")


def _masked(values: dict[str, Any], mask: np.ndarray) -> dict[str, Any]:
    """Gymnasium's vector info: each key with its ``_key`` mask."""
    info: dict[str, Any] = {}
    for key, value in values.items():
        info[key], info["_" + key] = value, mask
    return info


def per_env_infos(info: dict[str, Any], num_envs: int) -> list[dict[str, Any]]:
    """Gymnasium's vector info (arrays with ``_key`` masks, dicts nested) as one dict per env,
    each with the keys its masks select, values as Python floats, bools and strs. What
    ``gymnasium.wrappers.vector.DictInfoToList`` does, at about two thirds of its cost per
    step: that one indexes the arrays element by element and hands out numpy scalars
    (``np.bool_`` is not JSON-serialisable)."""
    dense_keys: list[str] = []
    columns: list[list[Any]] = []
    sparse: list[tuple[str, list[Any], np.ndarray]] = []
    whole: dict[int, bool] = {}  # a step's keys share one mask array: test it once
    for key, value in info.items():
        if key.startswith("_"):
            continue
        mask = info.get("_" + key)
        if mask is not None and id(mask) not in whole:
            whole[id(mask)] = bool(mask.all())
        items = per_env_infos(value, num_envs) if isinstance(value, dict) else value.tolist()
        if mask is None or whole[id(mask)]:
            dense_keys.append(key)
            columns.append(items)
        elif mask.any():
            sparse.append((key, items, mask))
    infos = [dict(zip(dense_keys, row)) for row in zip(*columns)] if columns else [{} for _ in range(num_envs)]
    for key, items, mask in sparse:
        for i in np.flatnonzero(mask):
            infos[i][key] = items[i]
    return infos


class _BankVectorEnv(gym.vector.VectorEnv):
    """Day selection, seeding and autoreset shared by the two vector envs."""

    def __init__(self, num_envs: int, source: EpisodeSource, autoreset_mode: AutoresetMode | str, episode_steps: int,
                 max_episode_steps: int | None) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be a whole number >= 1, got {num_envs!r}")
        if max_episode_steps is not None and (isinstance(max_episode_steps, bool)
                                              or not isinstance(max_episode_steps, (int, np.integer)) or max_episode_steps < 1):
            raise ValueError(f"max_episode_steps must be a whole number >= 1 or None (the episode's {episode_steps} "
                             f"steps), got {max_episode_steps!r}")
        self.episode_steps = episode_steps
        self.max_episode_steps = episode_steps if max_episode_steps is None else int(max_episode_steps)
        mode = AutoresetMode(autoreset_mode)
        if mode == AutoresetMode.DISABLED:
            raise ValueError("autoreset_mode DISABLED is not supported; use NEXT_STEP or SAME_STEP")
        self.num_envs = int(num_envs)
        self.source = source
        self.bank: Bank = source.bank()
        self.metadata = {"autoreset_mode": mode, "render_modes": []}
        self.render_mode = None
        self.battery = source.config.battery
        self._index = {scenario_id: k for k, scenario_id in enumerate(self.bank.ids)}
        self._rngs = [np_random(None)[0] for _ in range(self.num_envs)]
        self._day = np.zeros(self.num_envs, dtype=np.int64)
        self._autoreset = np.zeros(self.num_envs, dtype=bool)
        self._was_reset = False
        self.n_intervals = self.bank.arrays.rt_price.shape[1]

    def _seed(self, seed: int | list[int | None] | None) -> None:
        if seed is None:
            return
        whole = isinstance(seed, (int, np.integer)) and not isinstance(seed, (bool, np.bool_))
        seeds = [int(seed) + i for i in range(self.num_envs)] if whole else list(seed)
        if len(seeds) != self.num_envs:
            raise ValueError(f"reset got {len(seeds)} seeds for {self.num_envs} envs")
        for i, s in enumerate(seeds):
            if s is not None:
                self._rngs[i] = np_random(s)[0]

    def _pick(self, rows: np.ndarray, pinned: Any = None) -> np.ndarray:
        """Day indices for ``rows``: pinned ids (one, or one per env) or each env's own draw."""
        if pinned is not None:
            ids = [pinned] * self.num_envs if isinstance(pinned, str) else list(pinned)
            if len(ids) != self.num_envs:
                raise ValueError(f"options['scenario'] must be one id or {self.num_envs} (one per env), got {len(ids)}")
            try:
                return np.array([self._index[ids[i]] for i in rows], dtype=np.int64)
            except KeyError as exc:
                raise KeyError(f"scenario {exc.args[0]!r} is not a day of split {self.source.split!r}") from None
        n = len(self.bank.ids)
        return np.array([int(self._rngs[i].integers(n)) for i in rows], dtype=np.int64)

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        self._seed(seed)
        options = reset_options(options, ("reset_mask", "scenario"))
        mask = np.asarray(options.get("reset_mask", np.ones(self.num_envs, dtype=bool)))
        if mask.shape != (self.num_envs,) or mask.dtype != bool:
            raise ValueError(f"options['reset_mask'] must be {self.num_envs} booleans (one per env), got "
                             f"shape {mask.shape} of {mask.dtype}")
        rows = np.flatnonzero(mask)
        self._start(rows, self._pick(rows, options.get("scenario")))
        self._autoreset[rows] = False
        self._was_reset = True
        return self._observe(), {"scenario_id": self._ids(mask), "_scenario_id": mask}

    def _ids(self, mask: np.ndarray) -> np.ndarray:
        """The current day's id of the envs in ``mask`` (None elsewhere)."""
        ids = np.full(self.num_envs, None, dtype=object)
        for i in np.flatnonzero(mask):
            ids[i] = self.bank.ids[self._day[i]]
        return ids

    def _check_reset(self) -> None:
        """Refuse a step before the first reset (the envs would play a day nobody drew)."""
        if not self._was_reset:
            raise ResetNeeded("Cannot call step() before calling reset() on the vector env")

    def _finish(self, obs: np.ndarray, started: np.ndarray, terminated: np.ndarray, truncated: np.ndarray, info: dict,
                totals: np.ndarray, shortfall_mwh: np.ndarray) -> tuple[np.ndarray, dict]:
        """Add the episode-end keys for ``terminated`` envs (``totals`` (lines, N) $ and
        ``shortfall_mwh`` (N,) of their days) and the ids of the days that ``started`` or ended,
        then apply the autoreset mode; returns the observation and info to hand back."""
        done = terminated | truncated
        if terminated.any():
            end = day_info(np.where(terminated, totals, 0.0), np.where(terminated, shortfall_mwh, 0.0))
            info.update(_masked({**end, "day_totals": _masked(end["day_totals"], terminated)}, terminated))
        named = started | terminated
        if named.any():
            info["scenario_id"], info["_scenario_id"] = self._ids(named), named
        if self.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP:
            self._autoreset = done.copy()
            return obs, info
        if not done.any():
            return obs, info
        rows = np.flatnonzero(done)
        final_obs = np.full(self.num_envs, None, dtype=object)
        for i in rows:
            final_obs[i] = obs[i].copy()
        final_info: dict[str, Any] = {}
        running = ~done
        for key in [k for k in info if not k.startswith("_")]:
            mask = info["_" + key]
            final_info[key], final_info["_" + key] = info[key], mask & done
            if (mask & running).any():
                info["_" + key] = mask & running
            else:
                del info[key], info["_" + key]
        self._start(rows, self._pick(rows))
        info["scenario_id"], info["_scenario_id"] = self._ids(done), done
        info["final_obs"], info["_final_obs"] = final_obs, done
        info["final_info"], info["_final_info"] = final_info, done
        return self._observe(), info

    def _start(self, rows: np.ndarray, days: np.ndarray) -> None:
        raise NotImplementedError

    def _observe(self) -> np.ndarray:
        raise NotImplementedError


class RealTimeVectorEnv(_BankVectorEnv):
    """N RealTime-v0 envs in one numpy batch (see :class:`bessgym.envs.real_time.RealTimeEnv`),
    in either action form.

    What a day's prices and the fixed bid fix (the bid terms of :mod:`bessgym.settlement` and the
    feature table) is computed once per day of the split; an episode keeps only where its
    deployment window starts in the model's long signal and its contingency events, and each step
    computes the rows' deployment terms for their current interval.

    Arguments: those of ``RealTimeEnv`` (but ``render_mode`` and ``residual``, refused) plus ``num_envs``,
    ``autoreset_mode`` and ``max_episode_steps`` (see the module). Info: the scalar env's keys
    in vector form, every step's with the mask of the envs that stepped.
    """

    def __init__(
        self, num_envs: int = 1, config: ConfigLike = "caiso-sp15", split: str = "train", da_bidder: Any = "threshold",
        action: ActionForm = "base_point", segments: int | None = None, price_span_usd_per_mwh: float | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP, max_episode_steps: int | None = None,
        render_mode: str | None = None, residual: str | None = None, residual_band: float | None = None,
        fmm: bool | None = None,
    ) -> None:
        _refuse_render(render_mode, "RealTime-v0")
        if residual is None and residual_band is not None:
            raise ValueError("residual_band applies with a residual (the RT policy whose base points the action corrects) only")
        if residual is not None:
            raise ValueError("residual runs its RT policy per env and interval, which this numpy batch does not: make "
                             "the scalar envs side by side (gym.make_vec(..., vectorization_mode='sync' or 'async'), "
                             "or SB3's SubprocVecEnv)")
        self.form = RTActionForm.of(action, segments, price_span_usd_per_mwh, fmm=fmm)
        source = EpisodeSource(config, split, da_bidder)
        self.form.check_market(source.config.market_profile)
        super().__init__(num_envs, source, autoreset_mode, source.scenarios.history(split).intervals_per_day, max_episode_steps)
        low, high = self.form.observation_bounds(self.source.config.market_profile)
        self.single_observation_space = gym.spaces.Box(low, high, dtype=np.float32)
        self.single_action_space = gym.spaces.Box(-1.0, 1.0, (self.form.size,), dtype=np.float32)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        bank, market, arrays = self.bank, self.source.config.market_profile, self.bank.arrays
        self.market, self.dt_h, self.per_hour = market, arrays.dt_h, self.n_intervals // HOURS
        self._sim = BatchDaySimulator(self.battery, arrays.dt_h, self.n_intervals, self.num_envs)
        fixed = bid_terms(self.battery, market, arrays.dt_h, arrays.da_price, arrays.rt_price, arrays.as_price,
                          bank.energy_mw, bank.as_mw, arrays.fmm_price, bank.virtual_mw)
        self._bank_terms = np.ascontiguousarray(np.stack([fixed[name].T for name in BID_FIELDS]))  # (fields, T, S)
        self._bank_features = np.ascontiguousarray(rt_feature_table(
            self.battery, market, arrays.rt_price, arrays.da_price, np.zeros_like(arrays.fraction), bank.energy_mw,
            bank.as_mw, bank.forecast_rt, self.source.intraday).swapaxes(0, 1))  # (T, S, F), no deployment
        self._capacity = capacity_usd(arrays.as_price, bank.as_mw, arrays.dt_h)  # (S, 24, 4) $ per interval
        self._da_interval = np.ascontiguousarray(np.repeat(arrays.da_price, self.per_hour, axis=-1).T)  # (T, S)
        self._rt_interval = np.ascontiguousarray(arrays.rt_price.T)
        self._mean_da = arrays.da_price.mean(-1)
        self._fmm_table = None if arrays.fmm_price is None else fmm_feature_table(  # (T + 1, S, 3): the FMM holds DA
            self._bank_terms[BID_FIELDS.index("position_mw")].T, arrays.da_price, arrays.fmm_price, self.battery, market)
        self._per_fmm = 0 if arrays.fmm_price is None else self.n_intervals // arrays.fmm_price.shape[-1]
        self._fmm = np.zeros(self.num_envs)  # each row's FMM position in force (three settlements), MW
        self._pool = regulation_pool(self.source.config.deployment, arrays.dt_h)
        self._window = np.zeros(self.num_envs, dtype=np.int64)
        self._contingency = np.zeros((self.n_intervals, self.num_envs, 2))  # spin, non-spin fractions
        self._played = np.zeros((self.num_envs, 4))  # the deployment of each row's last interval
        self._totals = np.zeros((len(LEDGER_LINES), self.num_envs))
        self._shortfall = np.zeros(self.num_envs)

    def _start(self, rows: np.ndarray, days: np.ndarray) -> None:
        self._day[rows] = days
        starts, events = draw_windows(self.source.config.deployment, self.n_intervals, self.dt_h,
                                      [self._rngs[i] for i in rows])
        self._window[rows] = starts
        self._contingency[:, rows] = contingency_fractions(events, len(rows), self.n_intervals, self.dt_h).transpose(1, 0, 2)
        self._sim.start(rows, self._mean_da[days])
        self._totals[:, rows] = 0.0
        self._shortfall[rows] = 0.0

    def _deployment(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rows' deployment fractions (N, 4), up-time (N,) and mileage (N, 2) at interval ``t``."""
        regulation, up_time, mileage = regulation_at(self._pool, self._window + t)
        return np.concatenate([regulation, self._contingency[t, np.arange(self.num_envs)]], axis=-1), up_time, mileage

    def _observe(self) -> np.ndarray:
        t = self._sim.interval()
        obs = self._bank_features[t, self._day]
        if self._fmm_table is not None:
            obs = np.concatenate([obs, self._fmm_table[self._sim.t, self._day]], axis=1)
            if self.form.fmm:  # the position in force is the agent's, not the DA position the table holds
                position = FMM_FEATURES.index("fmm_position") - len(FMM_FEATURES)
                obs[:, position] = np.where(self._sim.t > 0, np.clip(self._fmm / p_scale(self.battery), -1.0, 1.0),
                                            obs[:, position])
        obs[:, DEPLOYED] = self._played * (self._sim.t > 0)[:, None]
        set_soc(obs, self._sim.e_mwh / self.battery.energy_mwh)
        over = self._sim.t >= self.n_intervals
        if over.any():
            obs[over, TIME_OF_DAY] = 1.0
            obs[over, INTERVALS_LEFT] = 0.0
        return obs

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        self._check_reset()
        a, was_clipped = check_actions(actions, self.num_envs, self.single_action_space.shape)
        resetting = self._autoreset
        if resetting.any():
            rows = np.flatnonzero(resetting)
            self._start(rows, self._pick(rows))
        active = ~resetting
        t, day = self._sim.interval(), self._day
        fixed = self._bank_terms[:, t, day]  # (fields, N)
        position = fixed[BID_FIELDS.index("position_mw")]
        fmm, fmm_info = None, {}
        if self._per_fmm:  # three settlements: the FMM position in force, set at each FMM interval's first RTD interval
            start = t % self._per_fmm == 0
            asked = np.where(start, base_point(position, a[:, 0], self.battery) if self.form.fmm else position, self._fmm)
            fmm = accept_fmm(asked, fixed[BID_FIELDS.index("award_up_mw")], fixed[BID_FIELDS.index("award_down_mw")],
                             self.battery)
            self._fmm = np.where(active, fmm, self._fmm)
            fmm_info = {"fmm_mw": fmm, "fmm_cut_mw": np.where(start, np.abs(asked - fmm), 0.0)}
            a = a[:, int(self.form.fmm):]
        around = position if fmm is None else fmm
        if self.form.action == "base_point":
            base = base_point(around, a[:, 0], self.battery)
        else:
            curve = curve_from_action(a, self._da_interval[t, day], around, self.battery, self.form.price_span_usd_per_mwh)
            base = curve.clear(self._rt_interval[t, day])
        fraction, up_time, mileage = self._deployment(t)
        self._played = np.where(active[:, None], fraction, self._played)
        hour = t // self.per_hour
        deployed = interval_deployment_terms(self.market, fraction, up_time, self.bank.as_mw[day, hour],
                                             self._capacity[day, hour], mileage, self.bank.arrays.mileage_price[day, hour])
        row = StepTerms(**dict(zip(BID_FIELDS, fixed)), **deployed)
        out = self._sim.step(row, base, active, fmm)
        lines = np.stack(out.ledger) * active
        self._totals += lines
        cost = out.shortfall_mw * self.dt_h * active
        self._shortfall += cost
        reward = lines.sum(axis=0)
        terminated = active & (self._sim.t >= self.n_intervals)
        truncated = active & (self._sim.t >= self.max_episode_steps)
        info = _masked({**dict(zip(LEDGER_LINES, lines)), "action_clipped": was_clipped, "base_mw": out.base_mw,
                        "cost": cost, **fmm_info}, active)
        obs, info = self._finish(self._observe(), resetting, terminated, truncated, info, self._totals, self._shortfall)
        return obs, reward, terminated, truncated, info


class DayAheadVectorEnv(_BankVectorEnv):
    """N DayAhead-v0 envs in one numpy batch (see :class:`bessgym.envs.day_ahead.DayAheadEnv`).

    The RT days are played together: an RT policy with ``reset_batch(episodes)`` and
    ``act_batch(obs)`` runs once per interval for all envs; any other policy is copied per env.
    Either may answer with base points or bid curves; a NaN or inf base point raises ValueError
    naming the envs, for the whole batch, as the scalar env does.

    Arguments: those of ``DayAheadEnv`` (but ``render_mode``, refused) plus ``num_envs``,
    ``autoreset_mode`` and ``max_episode_steps`` (see the module). Info: the scalar env's keys
    in vector form, with the mask of the envs that played a day in the step.
    """

    def __init__(
        self, num_envs: int = 1, config: ConfigLike = "caiso-sp15", split: str = "train", rt_policy: Any = "follow_da",
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP, max_episode_steps: int | None = None,
        render_mode: str | None = None, residual: str | None = None, residual_band: float | None = None,
    ) -> None:
        _refuse_render(render_mode, "DayAhead-v0")
        self.form = DAActionForm.of(residual, residual_band)
        super().__init__(num_envs, residual_source(config, split, residual), autoreset_mode, 1, max_episode_steps)
        if self.source.config.market_profile.three_settlement:
            raise ValueError("the DayAhead vector env plays two-settlement days (its batched RT policy sets no FMM "
                             "positions); for a three-settlement config make the scalar envs side by side: "
                             "gym.make_vec('bessgym/DayAhead-v0', ..., vectorization_mode='sync')")
        self.policy = resolve(rt_policy)
        low, high = self.form.observation_bounds(self.source.config.market_profile)
        self._base_energy, self._base_as = None, None
        if residual is not None:  # the bidder's bids as submitted, one per day of the split
            bids = [self.source.fixed_bid(scenario_id)[0] for scenario_id in self.bank.ids]
            self._base_energy = np.stack([bid.energy_mw for bid in bids])
            self._base_as = np.stack([bid.as_mw for bid in bids])
        self._features = self.form.observe(self.bank.da_features, self._base_energy, self._base_as, self.battery)
        self.single_observation_space = gym.spaces.Box(low, high, dtype=np.float32)
        self.single_action_space = gym.spaces.Box(-1.0, 1.0, (DA_ACTION_SIZE,), dtype=np.float32)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        shape = (self.num_envs, self.n_intervals)
        self._fraction, self._mileage, self._up_time = np.zeros(shape + (4,)), np.zeros(shape + (2,)), np.zeros(shape)

    def _start(self, rows: np.ndarray, days: np.ndarray) -> None:
        self._day[rows] = days
        self._fraction[rows], self._mileage[rows], self._up_time[rows] = draw_deployments(
            self.source.config.deployment, self.n_intervals, self.bank.arrays.dt_h, [self._rngs[i] for i in rows])

    def _observe(self) -> np.ndarray:
        return self._features[self._day]

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        self._check_reset()
        a, was_clipped = check_actions(actions, self.num_envs, self.single_action_space.shape)
        resetting = self._autoreset
        if resetting.any():
            rows = np.flatnonzero(resetting)
            self._start(rows, self._pick(rows))
        played = np.flatnonzero(~resetting)
        lines = np.zeros((len(LEDGER_LINES), self.num_envs))
        shortfall, cut_energy, cut_as = np.zeros(self.num_envs), np.zeros(self.num_envs), np.zeros(self.num_envs)
        if len(played):
            lines[:, played], shortfall[played], cut_energy[played], cut_as[played] = self._play(
                played, *self.form.bid(a[played], *self._base(played), self.battery))
        reward = lines.sum(axis=0)
        terminated = ~resetting
        truncated = terminated & (self.max_episode_steps <= 1)
        info = _masked({**dict(zip(LEDGER_LINES, lines)), "action_clipped": was_clipped, "da_cut_energy_mw": cut_energy,
                        "da_cut_as_mw": cut_as, "cost": shortfall}, terminated)
        obs, info = self._finish(self._observe(), resetting, terminated, truncated, info, lines, shortfall)
        return obs, reward, terminated, truncated, info

    def _base(self, rows: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The residual's bidder's bids of the rows' days, or (None, None)."""
        if self._base_energy is None:
            return None, None
        days = self._day[rows]
        return self._base_energy[days], self._base_as[days]

    def _play(self, rows: np.ndarray, energy: np.ndarray, awards: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The RT days of ``rows`` under the submitted bids: ledger totals (lines, k) in $, the
        shortfall (k,) in MWh, and what the market cut from the energy bids and the AS offers
        (k,) in MW summed over the day."""
        config, days, bank = self.source.config, self._day[rows], self.bank
        market, arrays = config.market_profile, bank.arrays
        x, r = accept_arrays(energy, awards, self.battery, market)
        da, rt = arrays.da_price[days], arrays.rt_price[days]
        fraction = self._fraction[rows]
        terms = day_terms(self.battery, market, arrays.dt_h, da, rt, arrays.as_price[days], arrays.mileage_price[days],
                          fraction, self._mileage[rows], self._up_time[rows], x, r)
        features = rt_feature_table(self.battery, market, rt, da, fraction, x, r, bank.forecast_rt[days], self.source.intraday)
        n = self.n_intervals
        sim = BatchDaySimulator(self.battery, arrays.dt_h, n, len(rows))
        sim.start(np.arange(len(rows)), terms.mean_da_price)
        episodes = [RTEpisode(self.battery, market, DABid(x[k], r[k]), da[k], bank.contexts[d], arrays.dt_h, n)
                    for k, d in enumerate(days)]
        act = self._batch_actor(episodes)
        totals, shortfall = np.zeros((len(LEDGER_LINES), len(rows))), np.zeros(len(rows))
        for t in range(n):
            obs = features[:, t].copy()
            set_soc(obs, sim.e_mwh / self.battery.energy_mwh)
            base = act(obs, rt[:, t])
            bad = ~np.isfinite(base)
            if bad.any():
                raise ValueError(f"rt_policy {self.policy!r} gave base points {base[bad][:3].tolist()} at interval {t} "
                                 f"in envs {rows[bad].tolist()}; base points must be finite MW")
            out = sim.step(terms.at(t), base)
            totals += np.stack(out.ledger)
            shortfall += out.shortfall_mw * arrays.dt_h
        cut_energy = np.abs(energy - x).sum(axis=-1)
        cut_as = np.abs(awards - r).sum(axis=(-2, -1))
        return totals, shortfall, cut_energy, cut_as

    def _batch_actor(self, episodes: list[RTEpisode]):
        """``act(obs (k, F), realised prices (k,)) -> base points (k,)``: the policy's decisions,
        bid curves cleared at the realised prices (which the policy never sees)."""
        if hasattr(self.policy, "reset_batch") and hasattr(self.policy, "act_batch"):
            self.policy.reset_batch(episodes)
            return lambda obs, price: np.asarray(cleared(self.policy.act_batch(obs), price), dtype=float)
        policies = [copy.deepcopy(self.policy) for _ in episodes]
        for policy, episode in zip(policies, episodes):
            policy.reset(episode)
        return lambda obs, price: np.array([cleared(p.act(o), q) for p, o, q in zip(policies, obs, price)], dtype=float)
