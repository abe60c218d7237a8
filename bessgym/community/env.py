"""Neighborhood-v0: the neighbourhood market as a PettingZoo ParallelEnv (one agent per home), and
a single-agent central wrapper for stable-baselines3. Needs the ``community`` extra (pettingzoo).

An episode is one day of the shipped homes' year, from a day drawn with the env's RNG (among
its ``days``: all by default, :data:`TRAIN_DAYS` to keep the :data:`TEST_DAYS` unseen) or
``reset(options={"day": d})`` (0 .. 364, any day); every home starts with its battery half full, its house
at the setpoint and no EV plugged (a session that began the day before is not carried in). Each
hour is ``rounds`` steps, one per call of the hour's market (``rounds=1``, the default: 24 steps a
day, one call auction an hour). The hour's first step runs the devices, which fixes each home's
net import and side for the hour, and clears the first call; each later step clears a call of
new orders for what the homes have not yet traded (a repeated call market,
``bessgym.community.neighborhood.HourMarket``), its device fields ignored; the hour's last step
settles the rest with the utility.

Per agent (``home_<id>``):

* action ``Box(-1, 1, (5,))``: the thermostat's offset from its setpoint (x 2 degC), the EV's
  charging rate (``(a + 1) / 2`` of the charger), the battery's power (x its discharge kW above 0, its charge kW below; + discharge), the
  order's price share and quantity share (each ``(a + 1) / 2``; see
  ``bessgym.community.neighborhood``).
* observation ``Box((17,))``: the hour's start as sine and cosine of the day, weekend (0/1), the
  outdoor temperature / 40 and the indoor temperature's distance from the setpoint (degC / 5), the
  hour's PV and base load (kWh / 5), the EV's need left (kWh / 50), its hours to departure / 24
  and whether it is plugged, the battery's SoC (fraction), the market's last price ($/kWh; the
  hour's export price when nothing traded) and volume (kWh / homes): in an hour's first call the
  previous hour's (its volume-weighted price, its volume over all its calls), in a later call the
  previous call's; the hour's import and export prices ($/kWh), the call's index / ``rounds``,
  and the home's net import not yet traded this hour (kWh / 5, + to buy, - to sell; 0 in the
  hour's first call, before the devices run).
  The hour's PV and load are observed as they are (a nowcast), before the actions; the devices'
  state is the hour's start until the hour settles.
* reward: minus the home's cost of the hour ($), on the hour's last call (0 on the others): its
  bill and its discomfort (``Neighborhood.cost_usd``); on the day's last hour also its terminal value,
  ``Neighborhood.end_value_usd``: the battery's energy against the day's start (DESIGN 1.6's
  asymmetric rule: energy left over at the day's lowest export price x eta_d, energy missing at
  its mean import price / eta_c) less the energy still owed to an EV whose session runs past the
  day (at the day's mean import price), so that neither draining the battery nor deferring an
  EV's charging past the episode is free.

Infos per agent, every step: ``market_round`` (the call just cleared, 0 .. rounds - 1),
``settled`` (whether the step ended the hour), and the call's own ``call_price`` (NaN when
nothing traded), ``call_traded_kwh``, ``call_bought_kwh`` and ``call_sold_kwh``. A settling step
adds the hour's ``bill_usd``, ``end_value_usd`` (the terminal value, 0 but on the last hour),
``discomfort_c``, ``market_bought_kwh``, ``market_sold_kwh``, ``utility_import_kwh``,
``utility_export_kwh``, ``utility_usd`` (what the utility billed, + = paid), ``net_import_kwh``,
``ev_unmet_kwh``, and the market's ``price`` (the
hour's volume-weighted price, NaN when nothing traded) and ``traded_kwh`` over all its calls.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from pettingzoo import ParallelEnv

from bessgym.community.data import Homes, load_homes
from bessgym.community.household import HOURS_PER_DAY, HomeDevices, HomeState, HourFlows, session_at
from bessgym.community.neighborhood import HourBill, HourMarket, Neighborhood, RoundResult
from bessgym.community.tariff import TARIFFS

ACTION_SIZE = 5
OBS_SIZE = 17
OFFSET_SCALE_C = 2.0
DAYS = 365
TEST_DAYS = tuple(7 * k + k % 7 for k in range(DAYS // 7))
"""The test split (the neighborhood leaderboard's): one day a week, 7 k + (k mod 7) for k = 0 .. 51,
52 days spread over the seasons, the weekday moving on by one each week (every weekday drawn)."""
TRAIN_DAYS = tuple(d for d in range(DAYS) if d not in TEST_DAYS)
"""The other 313 days, to train on."""


def decode_actions(devices: HomeDevices, a: np.ndarray) -> tuple[np.ndarray, ...]:
    """The homes' actions (H, 5) in [-1, 1] as the hour takes them (``Neighborhood.step_devices``,
    ``HourMarket.call``): the thermostat's
    offset (degC), the EV's rate and the battery's power (kW, + discharge: a share of the discharge
    power above 0, of the charge power below), the orders' price and quantity shares."""
    b = devices.battery
    battery_kw = np.where(a[:, 2] > 0, a[:, 2] * b.p_discharge_mw, a[:, 2] * b.p_charge_mw) * 1e3
    return OFFSET_SCALE_C * a[:, 0], (a[:, 1] + 1) / 2, battery_kw, (a[:, 3] + 1) / 2, (a[:, 4] + 1) / 2


def encode_actions(devices: HomeDevices, offset_c: np.ndarray, ev_rate: np.ndarray, battery_kw: np.ndarray,
                   price_share: np.ndarray, quantity_share: np.ndarray) -> np.ndarray:
    """The actions (H, 5) that :func:`decode_actions` reads as these settings, clipped to [-1, 1]
    (a setting beyond the action's range is clipped to it)."""
    b = devices.battery
    battery = np.where(battery_kw > 0, battery_kw / (b.p_discharge_mw * 1e3), battery_kw / (b.p_charge_mw * 1e3))
    a = np.column_stack([np.asarray(offset_c, float) / OFFSET_SCALE_C, 2 * np.asarray(ev_rate, float) - 1, battery,
                         2 * np.asarray(price_share, float) - 1, 2 * np.asarray(quantity_share, float) - 1])
    return np.clip(a, -1.0, 1.0)


class NeighborhoodEnv(ParallelEnv):
    """See the module docstring. ``homes``: the shipped homes (all 17), or an int N for the
    recombined N (``Homes.recombined``); ``tariff`` one of ``bessgym.community.tariff.TARIFFS``;
    ``mechanism`` ``"k_double"`` or ``"mcafee"`` and ``rounds`` its calls per hour; ``seed`` draws
    the devices; ``days`` (default all) those a reset without a ``day`` option draws from."""

    metadata = {"name": "bessgym/Neighborhood-v0", "render_modes": []}

    def __init__(self, homes: Homes | int | None = None, tariff: str = "wholesale_export", mechanism: str = "k_double",
                 seed: int = 0, comfort_usd_per_c_h: float = 0.5, rounds: int = 1,
                 days: Sequence[int] | np.ndarray | None = None) -> None:
        if tariff not in TARIFFS:
            raise ValueError(f"tariff {tariff!r} is not one of {list(TARIFFS)}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed = {seed!r}; allowed: an integer >= 0")
        if isinstance(comfort_usd_per_c_h, bool) or not isinstance(comfort_usd_per_c_h, (int, float, np.number)):
            raise ValueError(f"comfort_usd_per_c_h = {comfort_usd_per_c_h!r}; allowed: a number >= 0 ($ per degC-hour)")
        if days is None:
            days = range(DAYS)
        elif isinstance(days, np.ndarray) and days.ndim == 1:
            days = days.tolist()
        if isinstance(days, (str, bytes)) or not isinstance(days, Sequence) or not days or not all(
                isinstance(d, (int, np.integer)) and not isinstance(d, bool) and 0 <= d < DAYS for d in days):
            raise ValueError(f"days = {days!r}; allowed: None (all) or a non-empty sequence (or 1-D array) of integers "
                             f"0 .. {DAYS - 1}")
        self.days = tuple(int(d) for d in days)
        if isinstance(homes, (int, np.integer)) and not isinstance(homes, bool):
            homes = load_homes().recombined(int(homes))
        elif homes is None:
            homes = load_homes()
        elif not isinstance(homes, Homes):
            raise ValueError(f"homes = {type(homes).__name__}; allowed: None (the shipped 17), an int (recombined) or Homes")
        self.world = Neighborhood.build(homes, tariff, mechanism, seed, comfort_usd_per_c_h=comfort_usd_per_c_h,
                                        rounds=rounds)
        self.possible_agents = [f"home_{i}" for i in homes.ids]
        self.agents: list[str] = []
        self.render_mode = None
        self._rng = np.random.default_rng(seed)
        self._day = 0
        self._h = 0
        self._state: HomeState | None = None
        self._round = 0
        self._hour: tuple[HomeState, HourFlows, HourMarket] | None = None  # the devices' hour, its market
        self._last_price, self._last_volume = 0.0, 0.0
        high = np.full(OBS_SIZE, 10.0, dtype=np.float32)
        self._obs_space = gym.spaces.Box(-high, high, dtype=np.float32)
        self._act_space = gym.spaces.Box(-1.0, 1.0, (ACTION_SIZE,), dtype=np.float32)

    @functools.lru_cache(maxsize=None)  # noqa: B019 (the spaces are the same object for every call, as PettingZoo asks)
    def observation_space(self, agent: str) -> gym.spaces.Box:
        return self._obs_space

    @functools.lru_cache(maxsize=None)  # noqa: B019
    def action_space(self, agent: str) -> gym.spaces.Box:
        return self._act_space

    @property
    def t(self) -> int:
        """The hour of the homes' year the next step plays."""
        return self._day * HOURS_PER_DAY + self._h

    @property
    def market_round(self) -> int:
        """The call of the hour's market the next step clears (0 .. rounds - 1)."""
        return self._round

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        if options is not None and not isinstance(options, dict):
            raise ValueError(f"reset options = {options!r}; allowed: None or a dict, e.g. {{'day': 10}}")
        options = dict(options or {})
        unknown = sorted(set(options) - {"day"})
        if unknown:  # warned, not refused: PettingZoo's API test passes an option no env reads
            warnings.warn(f"reset options {unknown} are not understood and are ignored; this env reads ['day']", stacklevel=2)
        day = options.get("day")
        if day is None:
            day = self.days[int(self._rng.integers(len(self.days)))]
        elif isinstance(day, bool) or not isinstance(day, (int, np.integer)) or not 0 <= day < DAYS:
            raise ValueError(f"reset option day = {day!r}; allowed: an integer 0 .. {DAYS - 1}")
        self._day, self._h, self._round, self._hour = int(day), 0, 0, None
        self._state = HomeState.start(self.world.devices)
        self._start_mwh = self._state.battery_mwh.copy()
        self._last_price, self._last_volume = float(self.world.tariff.export_usd_per_kwh[self.t]), 0.0
        self.agents = list(self.possible_agents)
        obs = self._observe()
        return obs, {a: {} for a in self.agents}

    def step(self, actions: dict[str, np.ndarray]) -> tuple[dict, dict, dict, dict, dict]:
        if not self.agents:
            raise RuntimeError("the day is over: call reset() to start another")
        if not isinstance(actions, dict):
            raise ValueError(f"actions = {type(actions).__name__}; allowed: a dict of one (5,) action per agent")
        unknown = sorted(set(actions) - set(self.agents))
        if unknown:
            raise ValueError(f"actions for {unknown[:5]}, which are not agents of this env; allowed: {self.agents[:3]} ...")
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ValueError(f"actions missing for agents {missing[:5]}; allowed: one (5,) action per agent")
        offset_c, ev_rate, battery_kw, price_share, quantity_share = decode_actions(self.world.devices,
                                                                                    self._checked(actions))
        if self._round == 0:
            state, flows = self.world.step_devices(self._state, self.t, offset_c, ev_rate, battery_kw)
            self._hour = (state, flows, self.world.open_market(self.t, flows.net_import_kwh))
        assert self._hour is not None
        state, flows, market = self._hour
        called = market.call(price_share, quantity_share)
        self._round += 1
        if self._round < self.world.rounds:  # the hour's market calls again
            self._observe_market(called.price, called.traded_kwh)
            infos = {agent: {"market_round": self._round - 1, "settled": False, **self._call_infos(called, i)}
                     for i, agent in enumerate(self.agents)}
            return (self._observe(), {agent: 0.0 for agent in self.agents}, {agent: False for agent in self.agents},
                    {agent: False for agent in self.agents}, infos)
        self._round, self._hour = 0, None
        bill = market.bill()
        self._observe_market(bill.price, bill.traded_kwh)  # the next hour's first call sees this hour's market
        cost = self.world.cost_usd(flows, bill)
        last = self._h + 1 >= HOURS_PER_DAY or self.t + 1 >= len(self.world.homes.hour)
        end_value = np.zeros(len(cost))
        if last:  # the battery against the day's start, the EV energy still owed (DESIGN 1.6's terminal value)
            day = slice(self._day * HOURS_PER_DAY, self.t + 1)
            end_value = self.world.end_value_usd(self._start_mwh, state.battery_mwh, state.ev_left_kwh, day)
            cost = cost - end_value
        self._state = state
        infos = self._infos(flows, bill, end_value, called)
        rewards = {agent: float(-cost[i]) for i, agent in enumerate(self.agents)}
        self._h += 1
        done = self._h >= HOURS_PER_DAY or self.t >= len(self.world.homes.hour)
        terminations = {agent: done for agent in self.agents}
        truncations = {agent: False for agent in self.agents}
        obs = self._observe()
        if done:
            self.agents = []
        return obs, rewards, terminations, truncations, infos

    def _checked(self, actions: dict[str, Any]) -> np.ndarray:
        """The agents' actions (H, 5) clipped to [-1, 1]; a wrong shape, NaN or inf refused naming the agent."""
        try:
            a = np.array([actions[agent] for agent in self.agents], dtype=float)
        except (TypeError, ValueError):
            a = None
        if a is None or a.shape != (len(self.agents), ACTION_SIZE) or not np.isfinite(a).all():
            for agent in self.agents:
                try:
                    one = np.asarray(actions[agent], dtype=float) if np.ndim(actions[agent]) else np.full(1, np.nan)
                except (TypeError, ValueError):
                    one = np.full(1, np.nan)
                if one.shape != (ACTION_SIZE,) or not np.isfinite(one).all():
                    raise ValueError(f"action of {agent} = {actions[agent]!r}; allowed: {ACTION_SIZE} finite numbers in [-1, 1]")
        return np.clip(a, -1.0, 1.0)

    def _observe(self) -> dict[str, np.ndarray]:
        world, s = self.world, self._state
        t = min(self.t, len(world.homes.hour) - 1)
        homes, dev = world.homes, world.devices
        angle = 2 * np.pi * homes.hour[t] / 24
        arrival, departure, need = session_at(dev.ev, t // HOURS_PER_DAY, t)
        plugged = (arrival >= 0) & (arrival <= t) & (t < departure)
        ev_left = np.where(arrival == t, need, s.ev_left_kwh)  # a session arriving now shows its need
        to_go = np.where(plugged, (departure - t) / 24, 0.0)
        common = [np.sin(angle), np.cos(angle), float(homes.weekday[t] >= 5), homes.outdoor_c[t] / 40]
        per_home = np.column_stack([
            (s.indoor_c - dev.setpoint_c) / 5, world.pv_kwh[:, t] / 5, homes.load_kwh[:, t] / 5, ev_left / 50, to_go,
            plugged.astype(float), s.battery_mwh / dev.battery.energy_mwh,
        ])
        tail = [self._last_price, self._last_volume / world.n_homes, world.tariff.import_usd_per_kwh[t],
                world.tariff.export_usd_per_kwh[t], self._round / world.rounds]
        residual = self._hour[2].residual_kwh if self._hour is not None else np.zeros(world.n_homes)
        rows = np.column_stack([np.tile(common, (world.n_homes, 1)), per_home, np.tile(tail, (world.n_homes, 1)),
                                residual / 5])
        rows = np.clip(rows, -10.0, 10.0).astype(np.float32)
        return {agent: rows[i] for i, agent in enumerate(self.possible_agents)}

    def _observe_market(self, price: float, traded_kwh: float) -> None:
        """What the next observation shows of the market: a price (the export price when nothing traded) and a volume."""
        self._last_price = price if np.isfinite(price) else float(self.world.tariff.export_usd_per_kwh[self.t])
        self._last_volume = traded_kwh

    @staticmethod
    def _call_infos(called: RoundResult, i: int) -> dict[str, float]:
        return {"call_price": called.price, "call_traded_kwh": called.traded_kwh,
                "call_bought_kwh": float(called.bought[i]), "call_sold_kwh": float(called.sold[i])}

    def _infos(self, flows: HourFlows, bill: HourBill, end_value: np.ndarray, called: RoundResult) -> dict[str, dict]:
        fields = {"bill_usd": bill.bill_usd, "end_value_usd": end_value, "discomfort_c": flows.discomfort_c,
                  "market_bought_kwh": bill.market_bought_kwh, "market_sold_kwh": bill.market_sold_kwh,
                  "utility_import_kwh": bill.utility_import_kwh, "utility_export_kwh": bill.utility_export_kwh,
                  "utility_usd": bill.utility_usd, "net_import_kwh": flows.net_import_kwh,
                  "ev_unmet_kwh": flows.ev_unmet_kwh, "call_bought_kwh": called.bought, "call_sold_kwh": called.sold}
        rows = np.column_stack(list(fields.values())).tolist()  # one Python float per home and field, at once
        common = {"market_round": self.world.rounds - 1, "settled": True}
        market = {"price": bill.price, "traded_kwh": bill.traded_kwh, "call_price": called.price,
                  "call_traded_kwh": called.traded_kwh}
        return {agent: {**common, **dict(zip(fields, rows[i])), **market} for i, agent in enumerate(self.agents)}


class CentralNeighborhood(gym.Env):
    """Neighborhood-v0 as one agent for stable-baselines3: the homes' actions side by side
    (``Box(-1, 1, (5 H,))``, home-major), their observations side by side (``(17 H,)``), the
    reward the neighbourhood's total (minus the sum of the homes' costs)."""

    metadata = {"render_modes": []}

    def __init__(self, **kwargs: Any) -> None:
        self.parallel = NeighborhoodEnv(**kwargs)
        n = len(self.parallel.possible_agents)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (ACTION_SIZE * n,), dtype=np.float32)
        high = np.full(OBS_SIZE * n, 10.0, dtype=np.float32)
        self.observation_space = gym.spaces.Box(-high, high, dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        obs, _ = self.parallel.reset(seed=seed, options=options)
        return self._stack(obs), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        a = np.asarray(action, dtype=float)
        if a.shape != self.action_space.shape:
            raise ValueError(f"action has shape {a.shape}; allowed: {self.action_space.shape}")
        agents = self.parallel.agents
        obs, rewards, terms, _, infos = self.parallel.step({agent: a[i * ACTION_SIZE:(i + 1) * ACTION_SIZE]
                                                            for i, agent in enumerate(agents)})
        done = all(terms.values())
        return self._stack(obs), float(sum(rewards.values())), done, False, {"homes": infos}

    def _stack(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return np.concatenate([obs[agent] for agent in self.parallel.possible_agents]).astype(np.float32)
