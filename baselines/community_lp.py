"""Linear programs for the neighbourhood (Neighborhood-v0, ``bessgym.community``): the community's
perfect-foresight oracle and a model-predictive controller per home.

Both model a home's devices as the env steps them (``bessgym.community.household.step_homes``),
one hour a step, kWh per hour (= mean kW):

* battery: energy ``e' = r e + eta_c c - d / eta_d`` (r the retention), ``0 <= c <= P_ch``,
  ``0 <= d <= P_dis``, ``E_min <= e' <= E_max``; the env's action is the net ``d - c`` kW;
* air conditioner (``bessgym.tcl.TCLFleet.next_temperature``, exact and linear in the duty):
  ``T' = a T + (1 - a)(theta - u R P)``, ``a = exp(-1 / (R C))``, duty ``u`` in [0, 1], drawing
  ``u P / COP`` kWh; discomfort ``s >= T' - (setpoint + deadband / 2)``, ``s >= 0``, priced at the
  neighbourhood's ``comfort_usd_per_c_h`` ($ per degC-hour);
* EV: charging ``v <= charger`` kWh in the hours of a session, never more than the session's need,
  and at least what the env itself forces: by the end of hour t the session has had
  ``need - charger (departure - t - 1)`` (its need by departure). A session still open at the end
  of the horizon gets exactly that forced share within the horizon: the rest can be delivered
  after it, as in the env (whose cost does not price energy left to deliver after the episode).

The net import of a home is ``load + u P / COP + v + c - d - pv``. The utility charges its
tariff (import price per kWh imported, export price credited per kWh exported).

:class:`CommunityOracle` optimises the whole neighbourhood's day as one meter, knowing every load,
PV output, temperature and EV session. Its objective (the community's utility bill plus
discomfort) is the capture denominator: homes' payments to each other cancel inside the
community, so with the env's day, start state and terminal rule no policy's total cost can be
below it (the env's hour settles each home's net at the utility, or through a market whose
trades move money between homes and whose surplus leaves them: both cost the community at least
the one-meter bill of the same net imports). :meth:`CommunityPlan.actions` turns the plan into
Neighborhood-v0 actions and :func:`replay` steps them; see :func:`replay` for the exact relation.

:class:`HomeMPC` is each home on its own: every hour it re-plans 24 hours of its own devices
against the utility's prices (no market) and executes the first hour.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from baselines.solver import LinearProgram, SolveResult, solve
from bessgym.community.env import NeighborhoodEnv, encode_actions
from bessgym.community.household import HOURS_PER_DAY, HomeDevices, HomeState, session_at
from bessgym.community.neighborhood import Neighborhood

END_ENERGY = ("valued", "free", "start")
"""The terminal rule for each battery: ``"valued"`` (the env's: energy left against the start at
``Neighborhood.end_slopes``), ``"free"`` (worth nothing) or ``"start"`` (at least the energy it
started with)."""
_OBS_INDOOR, _OBS_PV, _OBS_LOAD, _OBS_EV_LEFT, _OBS_SOC, _OBS_RESIDUAL = 4, 5, 6, 7, 10, 16
"""Neighborhood-v0's observation columns read here (see ``bessgym.community.env``) and their scales."""
_INDOOR_SCALE_C, _PV_LOAD_SCALE_KWH, _EV_SCALE_KWH = 5.0, 5.0, 50.0
TIE_BREAK_USD_PER_KWH = 1e-6
"""A tie-break cost on every kWh a battery charges or discharges and every kWh an AC draws, so that
no plan charges and discharges in the same hour (the env takes one net power) nor cools for nothing
when the export price is 0; it is left out of reported costs."""


class _Columns:
    """An LP assembled column block by column block and row by row (sparse, minimising cost)."""

    def __init__(self) -> None:
        self.cost: list[np.ndarray] = []
        self.lower: list[np.ndarray] = []
        self.upper: list[np.ndarray] = []
        self.n = 0
        self.rows: list[int] = []
        self.cols: list[int] = []
        self.vals: list[float] = []
        self.row_lower: list[float] = []
        self.row_upper: list[float] = []

    def add(self, n: int, lower: float | np.ndarray, upper: float | np.ndarray, cost: float | np.ndarray = 0.0) -> np.ndarray:
        """``n`` new columns; their indices."""
        self.cost.append(np.broadcast_to(np.asarray(cost, float), (n,)).copy())
        self.lower.append(np.broadcast_to(np.asarray(lower, float), (n,)).copy())
        self.upper.append(np.broadcast_to(np.asarray(upper, float), (n,)).copy())
        self.n += n
        return np.arange(self.n - n, self.n)

    def row(self, cols: list[int] | np.ndarray, vals: list[float] | np.ndarray, lower: float, upper: float) -> None:
        """``lower <= sum(vals * z[cols]) <= upper``."""
        r = len(self.row_lower)
        self.rows.extend([r] * len(cols))
        self.cols.extend(int(c) for c in cols)
        self.vals.extend(float(v) for v in vals)
        self.row_lower.append(lower)
        self.row_upper.append(upper)

    def program(self) -> LinearProgram:
        A = sp.csc_matrix((self.vals, (self.rows, self.cols)), shape=(len(self.row_lower), self.n))
        return LinearProgram(-np.concatenate(self.cost), A, np.array(self.row_lower), np.array(self.row_upper),
                             np.concatenate(self.lower), np.concatenate(self.upper))


@dataclass(frozen=True)
class _Session:
    """An EV session's hours inside a horizon (``first``..``last`` inclusive, horizon indices),
    the hours from the end of ``last`` to its departure (0: it leaves within the horizon) and the
    energy it still needs (kWh)."""

    first: int
    last: int
    hours_after: int
    need_kwh: float


@dataclass(frozen=True)
class _Home:
    """One home's columns in a plan (each (n,), horizon hours): battery legs and energy, AC duty,
    indoor temperature and discomfort, EV charging; ``device_kwh`` the coefficients of the columns
    in the home's net import (the rest of it is load - PV)."""

    charge: np.ndarray
    discharge: np.ndarray
    energy: np.ndarray
    duty: np.ndarray
    indoor: np.ndarray
    discomfort: np.ndarray
    ev: np.ndarray
    ac_kwh_per_duty: float

    def net_terms(self, k: int) -> tuple[list[int], list[float]]:
        """Columns and coefficients of the device part of the net import in hour ``k``."""
        return ([self.duty[k], self.ev[k], self.charge[k], self.discharge[k]], [self.ac_kwh_per_duty, 1.0, 1.0, -1.0])


def _add_home(lp: _Columns, devices: HomeDevices, i: int, outdoor_c: np.ndarray, battery_kwh: float, indoor_c: float,
              sessions: list[_Session], comfort_usd_per_c_h: float, end_energy: str,
              end_slopes: tuple[float, float] = (0.0, 0.0), ev_owed_usd_per_kwh: float = 0.0) -> _Home:
    """Home ``i``'s devices over the hours of ``outdoor_c`` (n,) from its battery energy (kWh) and
    indoor temperature (degC) now; ``end_slopes`` ($/kWh above and below ``battery_kwh`` at the
    end) for the ``"valued"`` terminal rule; ``ev_owed_usd_per_kwh`` what each kWh a session
    running past the horizon still needs at its end costs (so each kWh charged inside saves it;
    the constant, the whole need at that price, is left out of the LP)."""
    n = len(outdoor_c)
    b = devices.battery.limits(1.0)
    ac = devices.ac
    charge = lp.add(n, 0.0, b.p_charge_mw * 1e3, TIE_BREAK_USD_PER_KWH)
    discharge = lp.add(n, 0.0, b.p_discharge_mw * 1e3, TIE_BREAK_USD_PER_KWH)
    energy = lp.add(n, b.e_min_mwh * 1e3, b.e_max_mwh * 1e3)
    duty = lp.add(n, 0.0, 1.0, TIE_BREAK_USD_PER_KWH * float(ac.p_thermal_kw[i] / ac.cop[i]))
    indoor = lp.add(n, -np.inf, np.inf)
    discomfort = lp.add(n, 0.0, np.inf, comfort_usd_per_c_h)
    a = float(np.exp(-1.0 / (ac.r_c_per_kw[i] * ac.c_kwh_per_c[i])))
    cooling = (1 - a) * float(ac.r_c_per_kw[i] * ac.p_thermal_kw[i])
    band_top = devices.setpoint_c + float(ac.deadband_c[i]) / 2
    for k in range(n):
        # e_k - r e_{k-1} - eta_c c_k + d_k / eta_d = 0 (e_{-1} the energy now)
        cols, vals, rhs = [energy[k], charge[k], discharge[k]], [1.0, -b.eta_charge, 1.0 / b.eta_discharge], 0.0
        if k:
            cols, vals = cols + [energy[k - 1]], vals + [-b.retention]
        else:
            rhs = b.retention * battery_kwh
        lp.row(cols, vals, rhs, rhs)
        # T_k - a T_{k-1} + (1 - a) R P u_k = (1 - a) theta_k
        rhs = (1 - a) * float(outdoor_c[k])
        cols, vals = [indoor[k], duty[k]], [1.0, cooling]
        if k:
            cols, vals = cols + [indoor[k - 1]], vals + [-a]
        else:
            rhs += a * indoor_c
        lp.row(cols, vals, rhs, rhs)
        lp.row([discomfort[k], indoor[k]], [1.0, -1.0], -band_top, np.inf)
    if end_energy == "start":
        lp.row([energy[n - 1]], [1.0], battery_kwh, np.inf)
    elif end_energy == "valued":  # e_end - over + under = e_start, over earning its slope, under paying its own
        above, below = end_slopes
        over, under = lp.add(1, 0.0, np.inf, -above), lp.add(1, 0.0, np.inf, below)
        lp.row([energy[n - 1], over[0], under[0]], [1.0, -1.0, 1.0], battery_kwh, battery_kwh)
    charger = devices.ev.charger_kw
    plugged = np.zeros(n, dtype=bool)
    for s in sessions:
        plugged[s.first:s.last + 1] = True
    owed = np.zeros(n)
    for s in sessions:
        if s.hours_after > 0:
            owed[s.first:s.last + 1] = -ev_owed_usd_per_kwh
    ev = lp.add(n, 0.0, np.where(plugged, charger, 0.0), owed)
    for s in sessions:
        hours = ev[s.first:s.last + 1]
        lp.row(hours, np.ones(len(hours)), -np.inf, s.need_kwh)
        for k in range(s.first, s.last + 1):  # by the end of hour k, at least what the env forces
            forced = s.need_kwh - charger * (s.last - k + s.hours_after)
            if forced > 0:
                lp.row(ev[s.first:k + 1], np.ones(k + 1 - s.first), forced, np.inf)
    return _Home(charge, discharge, energy, duty, indoor, discomfort, ev,
                 float(ac.p_thermal_kw[i] / ac.cop[i]))


def _sessions(devices: HomeDevices, t0: int, n: int, ev_left_kwh: np.ndarray) -> list[list[_Session]]:
    """Each home's EV sessions in hours ``t0 .. t0 + n - 1`` as the env sees them: a session that
    arrives in the horizon brings its need; one already plugged at ``t0`` needs ``ev_left_kwh``."""
    out: list[list[_Session]] = [[] for _ in range(devices.n_homes)]
    seen: set[tuple[int, int, int]] = set()
    for k in range(n):
        t = t0 + k
        arrival, departure, need = session_at(devices.ev, t // HOURS_PER_DAY, t)
        for i in np.flatnonzero((arrival >= 0) & (arrival <= t) & (t < departure)):
            key = (int(i), int(arrival[i]), int(departure[i]))
            if key not in seen:
                left = float(need[i]) if arrival[i] >= t0 else float(ev_left_kwh[i])
                seen.add(key)
                last = min(int(departure[i]) - 1, t0 + n - 1) - t0
                out[i].append(_Session(k, last, int(departure[i]) - 1 - (t0 + last), left))
    return [[s for s in sessions if s.need_kwh > 0] for sessions in out]


@dataclass(frozen=True)
class CommunityPlan:
    """The oracle's day: per home and hour (H, 24) kWh ``charge_kwh``, ``discharge_kwh``,
    ``energy_kwh`` (the battery's at the hour's end), ``duty`` (AC, [0, 1]), ``indoor_c`` (at the
    hour's end), ``discomfort_c``, ``ev_kwh``, ``net_import_kwh`` (+ drawn from outside); per hour
    (24,) the community's ``import_kwh`` and ``export_kwh`` with the utility; the day's
    ``cost_usd`` = ``utility_usd`` + ``discomfort_usd`` - ``end_value_usd`` (the env's terminal
    value of the plan's end: ``Neighborhood.end_value_usd``, whatever the plan's own terminal
    rule; the tie-break cost left out); the ``day``, the solve's ``seconds`` and the ``result``."""

    day: int
    charge_kwh: np.ndarray
    discharge_kwh: np.ndarray
    energy_kwh: np.ndarray
    duty: np.ndarray
    indoor_c: np.ndarray
    discomfort_c: np.ndarray
    ev_kwh: np.ndarray
    net_import_kwh: np.ndarray
    import_kwh: np.ndarray
    export_kwh: np.ndarray
    utility_usd: float
    discomfort_usd: float
    end_value_usd: float
    seconds: float
    result: SolveResult

    @property
    def cost_usd(self) -> float:
        return self.utility_usd + self.discomfort_usd - self.end_value_usd

    def actions(self, devices: HomeDevices, k: int) -> np.ndarray:
        """Neighborhood-v0 actions (H, 5) that play hour ``k`` (0..23) of the plan: the thermostat's
        offset is the planned indoor temperature at the hour's end less the setpoint (the env's
        thermostat then runs the planned duty; clipped to the action's range), the EV rate the
        planned charging over the charger, the battery the planned net power (+ discharge), and a
        truthful order for the whole net position (a buyer bids the import price, price share 1;
        a seller asks the export price, share 0; quantity share 1)."""
        return _env_actions(devices, self.indoor_c[:, k], self.ev_kwh[:, k], self.discharge_kwh[:, k] - self.charge_kwh[:, k],
                            self.net_import_kwh[:, k])


def _env_actions(devices: HomeDevices, indoor_c: np.ndarray, ev_kwh: np.ndarray, battery_kw: np.ndarray,
                 net_import_kwh: np.ndarray) -> np.ndarray:
    """Actions for planned indoor temperatures, EV kWh, battery kW and net imports (H,), with
    truthful orders for the whole position (a buyer at the import price, a seller at the export)."""
    n = len(indoor_c)
    return encode_actions(devices, indoor_c - devices.setpoint_c, ev_kwh / devices.ev.charger_kw, battery_kw,
                          np.where(net_import_kwh > 0, 1.0, 0.0), np.ones(n))


class CommunityOracle:
    """Perfect foresight over one Neighborhood-v0 day for the whole neighbourhood as one optimiser
    and one meter (see the module docstring). ``end_energy`` (:data:`END_ENERGY`): ``"valued"``,
    the env's own accounting, makes the objective a lower bound on every policy's day cost;
    ``"free"`` leaves the end's energy unpriced, ``"start"`` keeps every battery's energy at least
    at its start."""

    def __init__(self, world: Neighborhood, end_energy: str = "valued", time_limit_s: float = 30.0) -> None:
        if end_energy not in END_ENERGY:
            raise ValueError(f"end_energy = {end_energy!r}; allowed: one of {list(END_ENERGY)}")
        self.world = world
        self.end_energy = end_energy
        self.time_limit_s = time_limit_s

    def plan(self, day: int, state: HomeState | None = None) -> CommunityPlan:
        """The optimal day ``day`` (0..364) from ``state`` (default: the env's start, batteries half
        full, houses at the setpoint, no EV need carried in). Raises RuntimeError when HiGHS fails."""
        world = self.world
        hours = len(world.homes.hour)
        if isinstance(day, bool) or not isinstance(day, (int, np.integer)) or not 0 <= day * HOURS_PER_DAY < hours:
            raise ValueError(f"day = {day!r}; allowed: an integer 0 .. {hours // HOURS_PER_DAY - 1}")
        devices = world.devices
        state = HomeState.start(devices) if state is None else state
        for name in ("battery_mwh", "indoor_c", "ev_left_kwh"):
            value = np.asarray(getattr(state, name), dtype=float)
            if value.shape != (devices.n_homes,) or not np.isfinite(value).all():
                raise ValueError(f"state.{name} has shape {value.shape} (finite: {bool(np.isfinite(value).all())}); "
                                 f"allowed: {devices.n_homes} finite values, one per home")
        t0 = int(day) * HOURS_PER_DAY
        n = min(HOURS_PER_DAY, hours - t0)
        span = slice(t0, t0 + n)
        imp, exp = world.tariff.import_usd_per_kwh[span], world.tariff.export_usd_per_kwh[span]
        lp = _Columns()
        sessions = _sessions(devices, t0, n, state.ev_left_kwh)
        homes = [_add_home(lp, devices, i, world.homes.outdoor_c[span], float(state.battery_mwh[i] * 1e3),
                           float(state.indoor_c[i]), sessions[i], world.comfort_usd_per_c_h, self.end_energy,
                           world.end_slopes(span), world.ev_owed_price(span))
                 for i in range(devices.n_homes)]
        bought = lp.add(n, 0.0, np.inf, imp)
        sold = lp.add(n, 0.0, np.inf, -exp)
        base = world.homes.load_kwh[:, span] - world.pv_kwh[:, span]
        for k in range(n):  # sum of net imports = community import - export
            cols, vals = [bought[k], sold[k]], [-1.0, 1.0]
            for home in homes:
                c, v = home.net_terms(k)
                cols, vals = cols + c, vals + v
            rhs = -float(base[:, k].sum())
            lp.row(cols, vals, rhs, rhs)
        start = time.perf_counter()
        result = solve(lp.program(), self.time_limit_s)
        if not result.status.ok:
            raise RuntimeError(f"community oracle, day {day}: HiGHS {result.status.value} ({result.messages})")
        z = result.z

        def grid(name: str) -> np.ndarray:
            return np.array([z[getattr(home, name)] for home in homes])

        duty, ev, charge, discharge = grid("duty"), grid("ev"), grid("charge"), grid("discharge")
        ac_kwh = duty * np.array([home.ac_kwh_per_duty for home in homes])[:, None]
        net = base + ac_kwh + ev + charge - discharge
        discomfort = grid("discomfort")
        energy = grid("energy")
        ev_left = np.array([sum(s.need_kwh - ev[i, s.first:s.last + 1].sum() for s in sessions[i] if s.hours_after > 0)
                            for i in range(devices.n_homes)])
        end_value = world.end_value_usd(state.battery_mwh, energy[:, -1] / 1e3, ev_left, span)
        return CommunityPlan(int(day), charge, discharge, energy, duty, grid("indoor"), discomfort, ev, net,
                             z[bought], z[sold], float(imp @ z[bought] - exp @ z[sold]),
                             float(world.comfort_usd_per_c_h * discomfort.sum()), float(end_value.sum()),
                             time.perf_counter() - start, result)


@dataclass(frozen=True)
class Replay:
    """A plan stepped through Neighborhood-v0: each home's env cost over the day ``home_cost_usd``
    (H,) $, the market's ``surplus_usd`` (the mechanism's, summed over the day), and the largest
    deviation of the env's battery energy (kWh), indoor temperature (degC) and net import (kWh)
    from the plan's."""

    home_cost_usd: np.ndarray
    surplus_usd: float
    energy_gap_kwh: float
    indoor_gap_c: float
    net_gap_kwh: float

    @property
    def cost_usd(self) -> float:
        return float(self.home_cost_usd.sum())


def replay(env: NeighborhoodEnv, plan: CommunityPlan) -> Replay:
    """Step ``plan`` through ``env`` (reset to the plan's day).

    The relation: the env follows the plan (the gaps are ~0) wherever every planned indoor
    temperature is within the thermostat's reach (setpoint +- 2 degC while the AC runs; a house
    drifting below it with the AC off is followed too). Then each home's net import is the plan's, and the sum of
    the homes' env costs = the plan's objective + the market's surplus + the one-meter gap: the
    utility bill of the homes' own utility flows less that of their sum. With truthful orders for
    whole net positions every bid (import price) is at least every ask (export price): the
    k-double auction trades ``min(demand, supply)`` each hour, so no home exports to the utility
    while another imports from it, the one-meter gap is 0 and the surplus is 0: the costs are
    EQUAL (to rounding); in an env of several calls an hour the plan's orders are placed in each,
    and the first trades all that can. McAfee's trade reduction may exclude the marginal orders (their homes then
    settle at the utility while others trade) and keeps a surplus: the env's cost is then >= the
    plan's + the surplus. Where the plan pre-cools a house below the thermostat's reach the env
    cannot follow it; its cost is still >= the plan's (the plan's cost bounds every policy's)."""
    env.reset(options={"day": plan.day})
    agents, devices = env.possible_agents, env.world.devices
    cost = np.zeros(len(agents))
    surplus, gaps = 0.0, np.zeros(3)
    for k in range(plan.duty.shape[1]):
        acts = plan.actions(devices, k)
        for _ in range(env.world.rounds):  # the same truthful orders in every call of the hour
            obs, rewards, _, _, infos = env.step({agent: acts[i] for i, agent in enumerate(agents)})
            cost -= np.array([rewards[a] for a in agents])
        info = {key: np.array([infos[a][key] for a in agents]) for key in ("bill_usd", "utility_usd", "net_import_kwh")}
        surplus += float((info["bill_usd"] - info["utility_usd"]).sum())  # market payments: what is paid less what is received
        o = np.array([obs[a] for a in agents], dtype=float)  # the state after the hour (observation float32)
        gaps = np.maximum(gaps, [np.abs(o[:, _OBS_SOC] * devices.battery.energy_mwh * 1e3 - plan.energy_kwh[:, k]).max(),
                                 np.abs(o[:, _OBS_INDOOR] * _INDOOR_SCALE_C + devices.setpoint_c - plan.indoor_c[:, k]).max(),
                                 np.abs(info["net_import_kwh"] - plan.net_import_kwh[:, k]).max()])
    return Replay(cost, surplus, *map(float, gaps))


class HomeMPC:
    """Each home of ``env`` (a Neighborhood-v0) on its own: every hour it plans the next
    ``horizon_h`` hours of its battery, AC and EV against the utility's prices (imports at the
    import price, exports at the export price: no market) and plays the plan's first hour through
    the env's actions, with a truthful order for its whole net position.

    What a home knows at hour t: its devices' parameters, its state as observed (battery SoC,
    indoor temperature, its EV's need left and departure), the hour's PV, load and outdoor
    temperature as observed, the tariff ahead, and for later hours the PERSISTENCE forecast: PV,
    load and outdoor temperature of the same hour the day before (t + k - 24; before the data's
    first day, the year's last day: the data's year wraps). An EV that arrives in hour t brings
    the session's need; sessions that have not begun are not foreseen. The battery's energy at
    the horizon's end is valued against its energy now at the horizon's ``end_slopes`` (the
    env's terminal rule, applied to the rolling horizon). A failed solve plays a neutral hour (thermostat at the setpoint, EV and battery
    idle) and is counted in ``fallbacks``."""

    def __init__(self, env: NeighborhoodEnv, horizon_h: int = HOURS_PER_DAY, time_limit_s: float = 1.0) -> None:
        if isinstance(horizon_h, bool) or not isinstance(horizon_h, (int, np.integer)) or not 1 <= horizon_h <= HOURS_PER_DAY:
            raise ValueError(f"horizon_h = {horizon_h!r}; allowed: an integer 1 .. {HOURS_PER_DAY} (persistence "
                             "forecasts reach a day ahead)")
        self.env = env
        self.horizon_h = int(horizon_h)
        self.time_limit_s = time_limit_s
        self.fallbacks = 0
        self.solves = 0
        self.seconds = 0.0

    def act(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The homes' actions for the env's next hour from their observations; in a later call of the
        hour (``rounds > 1``) a truthful order for what each home has not yet traded, no solve."""
        world, t = self.env.world, self.env.t
        devices, agents = world.devices, self.env.possible_agents
        o = np.array([obs[a] for a in agents], dtype=float)
        if self.env.market_round > 0:
            zeros = np.zeros(len(agents))
            acts = _env_actions(devices, devices.setpoint_c + zeros, zeros, zeros, o[:, _OBS_RESIDUAL] * _PV_LOAD_SCALE_KWH)
            return {agent: acts[i] for i, agent in enumerate(agents)}
        hours = len(world.homes.hour)
        n = min(self.horizon_h, hours - t)
        past = (t + np.arange(n) - HOURS_PER_DAY) % hours  # persistence: the same hour a day earlier
        load, pv = world.homes.load_kwh[:, past], world.pv_kwh[:, past]
        load[:, 0], pv[:, 0] = o[:, _OBS_LOAD] * _PV_LOAD_SCALE_KWH, o[:, _OBS_PV] * _PV_LOAD_SCALE_KWH
        outdoor = world.homes.outdoor_c[past]
        outdoor[0] = world.homes.outdoor_c[t]
        battery = o[:, _OBS_SOC] * devices.battery.energy_mwh * 1e3
        indoor = o[:, _OBS_INDOOR] * _INDOOR_SCALE_C + devices.setpoint_c
        sessions = _sessions(devices, t, n, o[:, _OBS_EV_LEFT] * _EV_SCALE_KWH)
        span = slice(t, t + n)
        imp, exp = world.tariff.import_usd_per_kwh[span], world.tariff.export_usd_per_kwh[span]
        first = np.zeros((len(agents), 4))  # indoor, EV kWh, battery kW, net import of the first hour
        first[:, 0] = devices.setpoint_c
        for i in range(len(agents)):
            lp = _Columns()
            home = _add_home(lp, devices, i, outdoor, float(battery[i]), float(indoor[i]),
                             [s for s in sessions[i] if s.first == 0], world.comfort_usd_per_c_h, "valued",
                             world.end_slopes(span), world.ev_owed_price(span))
            bought, sold = lp.add(n, 0.0, np.inf, imp), lp.add(n, 0.0, np.inf, -exp)
            for k in range(n):
                cols, vals = home.net_terms(k)
                rhs = float(pv[i, k] - load[i, k])
                lp.row(cols + [bought[k], sold[k]], vals + [-1.0, 1.0], rhs, rhs)
            result = solve(lp.program(), self.time_limit_s)
            self.solves += 1
            self.seconds += result.seconds
            if not result.status.ok:
                self.fallbacks += 1
                continue
            z = result.z
            first[i] = (z[home.indoor[0]], z[home.ev[0]], z[home.discharge[0]] - z[home.charge[0]],
                        z[bought[0]] - z[sold[0]])
        acts = _env_actions(devices, *first.T)
        return {agent: acts[i] for i, agent in enumerate(agents)}


def play_day(env: NeighborhoodEnv, act: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]], day: int) -> np.ndarray:
    """Each home's env cost (H,) $ over day ``day`` played by ``act`` (observations to actions)."""
    obs, _ = env.reset(options={"day": int(day)})
    cost = np.zeros(len(env.possible_agents))
    while env.agents:
        obs, rewards, _, _, _ = env.step(act(obs))
        cost -= np.array([rewards[a] for a in env.possible_agents])
    return cost
