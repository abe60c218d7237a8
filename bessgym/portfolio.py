"""An aggregator's portfolio of generalised storage (a battery, a thermostat fleet, an EV fleet)
selling DA energy and reserve, and what one day of it realises when its fleets' bounds are
uncertain (``bessgym.ddu``; Qi et al. 2023).

Sign conventions as everywhere in bessgym: MW around each asset's baseline, ``discharge - charge``
> 0 an injection or a load reduction. The portfolio's DA position is ``sum_a (discharge - charge -
baseline)`` (a fleet's baseline load is bought in DA too). Reserve up (down) is the MW the asset
can add to (take from) its net power for a whole interval; it is held, not deployed, in this
day-level realisation: what counts is whether it is there.

A day realises, for each draw of the bounds: each asset follows its schedule as far as its
realised bounds let it (legs clipped to the power bounds, then moved to keep the SoC inside its
bounds: charging cut before discharging added, and the other way round); the reserve it can
still hold is its headroom after that; what it cannot is short. Money, per draw, through
``bessgym.settlement`` (one ledger): ``da_energy`` on the DA position, ``rt_imbalance`` on the
realised deviation from it (the baseline's error included), ``as_capacity`` for the reserve
awarded, ``unavailable`` (its payment returned) and ``penalty`` (replacement at the penalty
price) on the short reserve, ``degradation`` (battery wear), ``incentive`` (the customers' pay
per MWh of response) and ``terminal`` (the final SoC against the GES's target, DESIGN 1.6's
asymmetric rule).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from bessgym.battery import NUMPY_OPS, Battery
from bessgym.ddu import BaseDraws, Bounds, Uncertainty, baseline_soc, draw_bounds, response_degree
from bessgym.ev import EVFleet
from bessgym.ges import GES, is_number
from bessgym.ges_data import SITE_TZ, load_ev_sessions, outdoor_temperature
from bessgym.market import DOWN_INDEX, PRODUCTS, MarketProfile
from bessgym.scenarios import Scenario
from bessgym.settlement import Ledger, asymmetric_value, capacity_usd, end_slopes, layer_lines, penalty_price, position_lines
from bessgym.tcl import TCLFleet

ASSET_KINDS = ("battery", "tcl", "ev")
DUST_TOL = 1e-6
"""Reserve short by less than this (MW), or a chance row broken by less (MW or SoC), is solver
dust: not lost reserve (LORP), not a violation."""
SCHEDULE_FIELDS = ("charge_mw", "discharge_mw", "reserve_up_mw", "reserve_down_mw", "soc")
RESERVE_UP_PRODUCT = "spin"
"""The DA product whose price pays reserve up (CAISO's spinning reserve); reserve down is paid
the regulation-down price, the only downward product."""


@dataclass(frozen=True)
class Asset:
    """One storage of the portfolio: ``name``, ``kind`` (one of ASSET_KINDS), its ``ges``, the
    ``uncertainty`` of its bounds (None: certain, a battery), ``incentive_usd_per_mwh`` c^s paid
    to its customers per MWh of response and ``wear_usd_per_mwh`` per MWh of throughput."""

    name: str
    kind: str
    ges: GES
    uncertainty: Uncertainty | None = None
    incentive_usd_per_mwh: float = 0.0
    wear_usd_per_mwh: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ASSET_KINDS:
            raise ValueError(f"Asset.kind = {self.kind!r}; allowed: {', '.join(ASSET_KINDS)}")
        if not isinstance(self.ges, GES):
            raise ValueError(f"Asset.ges is a {type(self.ges).__name__}; allowed: a bessgym.ges.GES")
        if not (self.uncertainty is None or isinstance(self.uncertainty, Uncertainty)):
            raise ValueError(f"Asset.uncertainty = {self.uncertainty!r}; allowed: None (certain) or a bessgym.ddu.Uncertainty")
        for field in ("incentive_usd_per_mwh", "wear_usd_per_mwh"):
            value = getattr(self, field)
            if not (is_number(value) and value >= 0 and np.isfinite(value)):
                raise ValueError(f"Asset.{field} = {value!r}; allowed: >= 0 $/MWh")

    @classmethod
    def battery(cls, battery: Battery, n_intervals: int, dt_h: float, name: str = "battery") -> "Asset":
        """A battery: certain bounds, its wear, no customers."""
        return cls(name, "battery", GES.from_battery(battery, n_intervals, dt_h), None, 0.0,
                   battery.degradation_usd_per_mwh)

    @property
    def response_cost_usd_per_mwh(self) -> float:
        """$ per MWh the asset moves away from its baseline: wear and incentive."""
        return self.wear_usd_per_mwh + self.incentive_usd_per_mwh


@dataclass(frozen=True)
class DayPrices:
    """One day's prices on the portfolio's grid of ``dt_h`` hours: ``da`` and ``rt`` (n,) $/MWh,
    ``reserve_up`` and ``reserve_down`` (n,) $/MW-h."""

    dt_h: float
    da: np.ndarray
    rt: np.ndarray
    reserve_up: np.ndarray
    reserve_down: np.ndarray

    def __post_init__(self) -> None:
        if not (is_number(self.dt_h) and self.dt_h > 0 and np.isfinite(self.dt_h)):
            raise ValueError(f"DayPrices.dt_h = {self.dt_h!r}; allowed: a positive number of hours")
        n = len(np.atleast_1d(self.da))
        if n == 0:
            raise ValueError("DayPrices.da has no price; allowed: at least one price, one per interval")
        for name in ("da", "rt", "reserve_up", "reserve_down"):
            try:
                value = np.asarray(getattr(self, name), dtype=float)
            except (TypeError, ValueError):
                raise ValueError(f"DayPrices.{name} = {getattr(self, name)!r}; allowed: numbers ($/MWh, $/MW-h)") from None
            if value.shape != (n,) or not np.isfinite(value).all():
                raise ValueError(f"DayPrices.{name} has shape {value.shape} (finite: {bool(np.isfinite(value).all())}); "
                                 f"allowed: {n} finite prices, one per interval as da")
            object.__setattr__(self, name, value)

    @classmethod
    def from_scenario(cls, scenario: Scenario, dt_h: float = 1.0) -> "DayPrices":
        """A shipped scenario's prices on intervals of ``dt_h`` hours (dividing an hour and a
        multiple of the scenario's RT interval): DA and reserve prices held over their hour, the
        RT price averaged over the interval."""
        per_hour = 1.0 / dt_h
        per_interval = dt_h / scenario.dt_h
        if not (float(per_hour).is_integer() and float(round(per_interval, 9)).is_integer() and per_interval >= 1):
            raise ValueError(f"dt_h = {dt_h!r}; allowed: a divisor of one hour and a multiple of the scenario's {scenario.dt_h} h")
        rep = int(per_hour)
        rt = scenario.rt_price.reshape(-1, int(round(per_interval))).mean(1)
        return cls(dt_h, np.repeat(scenario.da_price, rep), rt,
                   np.repeat(scenario.as_price[:, PRODUCTS.index(RESERVE_UP_PRODUCT)], rep),
                   np.repeat(scenario.as_price[:, DOWN_INDEX], rep))


@dataclass(frozen=True)
class Schedule:
    """A day's plan for ``m`` assets over ``n`` intervals: legs ``charge_mw``, ``discharge_mw``,
    reserve ``reserve_up_mw``, ``reserve_down_mw`` (m, n) MW and the SoC ``soc`` (m, n + 1) it
    gives. ``limits``: per asset the bounds (n-long rows) the planner kept each chance-constrained
    row within (what "binding" means for :func:`violation_rate`); None: not recorded."""

    charge_mw: np.ndarray
    discharge_mw: np.ndarray
    reserve_up_mw: np.ndarray
    reserve_down_mw: np.ndarray
    soc: np.ndarray
    limits: tuple[Bounds, ...] | None = None

    def __post_init__(self) -> None:
        shape = np.shape(self.charge_mw)
        for name in SCHEDULE_FIELDS:
            try:
                value = np.asarray(getattr(self, name), dtype=float)
            except (TypeError, ValueError):
                raise ValueError(f"Schedule.{name} = {getattr(self, name)!r}; allowed: numbers (MW, SoC)") from None
            want = shape[:1] + (shape[1] + 1,) if name == "soc" and len(shape) == 2 else shape
            if len(shape) != 2 or 0 in shape or value.shape != want:
                raise ValueError(f"Schedule.{name} has shape {value.shape}; allowed: (m, n) assets by intervals as "
                                 f"charge_mw {shape}, soc (m, n + 1)")
            bad = ~np.isfinite(value) | ((value < -DUST_TOL) if name != "soc" else False)
            if bad.any():
                i, t = np.argwhere(bad)[0]
                raise ValueError(f"Schedule.{name}[{i}, {t}] = {float(value[i, t])!r}; allowed: finite"
                                 f"{'' if name == 'soc' else ' and >= 0 MW'}")
            object.__setattr__(self, name, value)
        if self.limits is not None and (len(self.limits) != shape[0] or not all(isinstance(b, Bounds) for b in self.limits)):
            raise ValueError(f"Schedule.limits holds {len(self.limits)} items; allowed: None or one Bounds per asset ({shape[0]})")

    def position_mw(self, assets: tuple[Asset, ...]) -> np.ndarray:
        """The portfolio's DA position (n,) MW: sum of the assets' net power less their baselines."""
        baseline = np.array([a.ges.baseline_mw for a in assets])
        return (self.discharge_mw - self.charge_mw - baseline).sum(0)


def check_schedule(assets: tuple[Asset, ...], schedule: Schedule, prices: DayPrices | None = None) -> None:
    """Refuse a ``schedule`` that does not fit ``assets`` (one row per asset, their intervals)
    or the ``prices``' grid."""
    m, n = schedule.charge_mw.shape
    if m != len(assets):
        raise ValueError(f"Schedule has {m} rows (charge_mw {schedule.charge_mw.shape}); allowed: one per asset ({len(assets)})")
    for a in assets:
        if a.ges.n_intervals != n:
            raise ValueError(f"Schedule has {n} intervals (charge_mw {schedule.charge_mw.shape}); asset {a.name!r} has "
                             f"{a.ges.n_intervals}")
        if prices is not None and (len(prices.da) != n or abs(a.ges.dt_h - prices.dt_h) > 1e-12):
            raise ValueError(f"asset {a.name!r} has {n} intervals of {a.ges.dt_h} h; the prices have {len(prices.da)} "
                             f"of {prices.dt_h} h")


@dataclass(frozen=True)
class Case:
    """One day of the aggregator's case on shipped data: the ``assets`` (battery, ``tcl`` fleet,
    ``ev`` fleet), the day's ``prices``, and the fleets behind the TCL and EV assets with the
    ``outdoor_c`` (n,) they saw, for the unit-level replays (``bessgym.tcl.track``,
    ``bessgym.ev.dispatch``)."""

    scenario_id: str
    assets: tuple[Asset, ...]
    prices: DayPrices
    tcl: TCLFleet
    outdoor_c: np.ndarray
    ev: EVFleet
    ev_day: dt.date


def acn_day(sessions: pd.DataFrame, day: dt.date) -> dt.date:
    """The local day of ``sessions`` standing in for ``day``: same weekday, nearest day of the
    year (the shipped sessions cover May-December 2019, not the price years)."""
    local = sessions["arrival"].dt.tz_convert(SITE_TZ).dt.date.unique()
    same = [d for d in local if d.weekday() == day.weekday()]
    doy = day.timetuple().tm_yday
    return min(same, key=lambda d: (min(abs(d.timetuple().tm_yday - doy), 365 - abs(d.timetuple().tm_yday - doy)), d))


def case_day(scenario: Scenario, dt_h: float = 1.0, n_tcl: int = 1000, seed: int = 0, battery: Battery | None = None,
             incentive_usd_per_mwh: float = 10.0, tcl_uncertainty: Uncertainty | None = None,
             ev_uncertainty: Uncertainty | None = None, sessions: pd.DataFrame | None = None) -> Case:
    """The case for a shipped CAISO day: a battery (``battery``, default bessgym's), ``n_tcl``
    Callaway air conditioners (``seed``) under the typical-year outdoor temperature of the day
    (San Diego, SP15's region), and the Caltech EV sessions of :func:`acn_day`, both fleets paid
    ``incentive_usd_per_mwh`` for their response and uncertain as ``*_uncertainty`` (default:
    ``Uncertainty`` with their unit counts). The scenario is not checked to be CAISO's: a
    ``Scenario`` carries its node, not its market (synthetic days are SP15 too), and another
    market's day gets San Diego's fleets all the same."""
    n = int(round(24 / dt_h))
    start = pd.Timestamp(scenario.date, tz=SITE_TZ)
    outdoor = outdoor_temperature(start, n, dt_h)
    tcl = TCLFleet.callaway(n_tcl, np.random.default_rng(seed))
    sessions = load_ev_sessions() if sessions is None else sessions
    ev_day = acn_day(sessions, scenario.date)
    ev = EVFleet.from_sessions(sessions, pd.Timestamp(ev_day, tz=SITE_TZ), n, dt_h)
    assets = (
        Asset.battery(battery or Battery(), n, dt_h),
        Asset("tcl", "tcl", tcl.ges(outdoor, dt_h), tcl_uncertainty or Uncertainty(units=n_tcl), incentive_usd_per_mwh),
        Asset("ev", "ev", ev.ges(), ev_uncertainty or Uncertainty(units=len(ev.arrival)), incentive_usd_per_mwh),
    )
    return Case(scenario.id, assets, DayPrices.from_scenario(scenario, dt_h), tcl, outdoor, ev, ev_day)


def unit_assets(case: Case) -> tuple[Asset, ...]:
    """The case's portfolio unit by unit: the battery, then every air conditioner and every EV
    session as its own asset (one customer each, uncertain as its fleet, paid as its fleet).
    What the aggregate assets sum; an LP over units plans each one."""
    battery, tcl, ev = case.assets
    units = [battery]
    fields = ("r_c_per_kw", "c_kwh_per_c", "p_thermal_kw", "cop", "setpoint_c", "deadband_c")
    for i in range(case.tcl.n):
        one = TCLFleet(*(getattr(case.tcl, f)[i:i + 1] for f in fields))
        units.append(Asset(f"tcl{i}", "tcl", one.ges(case.outdoor_c, case.prices.dt_h), replace(tcl.uncertainty, units=1),
                           tcl.incentive_usd_per_mwh))
    for j in range(len(case.ev.arrival)):
        one = EVFleet(case.ev.arrival[j:j + 1], case.ev.departure[j:j + 1], case.ev.energy_mwh[j:j + 1],
                      case.ev.p_max_mw[j:j + 1], case.ev.dt_h, case.ev.n)
        units.append(Asset(f"ev{j}", "ev", one.ges(), replace(ev.uncertainty, units=1), ev.incentive_usd_per_mwh))
    return tuple(units)


def row_values(ges: GES, charge_mw: np.ndarray, discharge_mw: np.ndarray, up_mw: np.ndarray, down_mw: np.ndarray,
               soc: np.ndarray) -> np.ndarray:
    """The four chance-constrained quantities (4, n) of an asset's schedule, in the order of
    ``bessgym.ddu.Bounds``: charge-side power ``c - d + down`` (<= P_c), discharge-side ``d - c +
    up`` (<= P_d), the SoC after an interval of up reserve ``soc - up dt / (eta_d S)`` (>= SoC
    min) and after one of down reserve ``soc + down eta_c dt / S`` (<= SoC max), at each
    interval's end."""
    per_charge = ges.eta_charge * ges.dt_h / ges.energy_mwh
    per_discharge = ges.dt_h / (ges.eta_discharge * ges.energy_mwh)
    return np.array([charge_mw - discharge_mw + down_mw, discharge_mw - charge_mw + up_mw,
                     soc[1:] - up_mw * per_discharge, soc[1:] + down_mw * per_charge])


def slack(values: np.ndarray, bounds: Bounds) -> np.ndarray:
    """How far (D, 4, n) each row of ``values`` (4, n) sits inside ``bounds`` (D draws or 1
    row): negative where it breaks them."""
    return np.stack([bounds.p_charge_max_mw - values[0], bounds.p_discharge_max_mw - values[1],
                     values[2] - bounds.soc_min[:, 1:], bounds.soc_max[:, 1:] - values[3]], axis=1)


def response_degrees(assets: tuple[Asset, ...], schedule: Schedule) -> list[np.ndarray | None]:
    """Each asset's response degree (n,) under ``schedule`` (None for a certain asset)."""
    return [None if a.uncertainty is None else
            response_degree(a.ges, schedule.charge_mw[i], schedule.discharge_mw[i], schedule.soc[i], a.uncertainty)
            for i, a in enumerate(assets)]


def realised_bounds(assets: tuple[Asset, ...], base: dict[str, BaseDraws], rd: list[np.ndarray | None]) -> list[Bounds]:
    """Each asset's realised bounds for ``base[name]``'s draws at response degrees ``rd`` (a
    certain asset's bounds repeated over the draws)."""
    missing = [a.name for a in assets if a.uncertainty is not None and a.name not in base]
    if missing:
        raise ValueError(f"base has no draws for assets {missing}; allowed: a BaseDraws per uncertain asset, by name")
    counts = {name: d.n_draws if isinstance(d, BaseDraws) else None for name, d in base.items()}
    if None in counts.values() or len(set(counts.values())) > 1:
        raise ValueError(f"base draws by asset: {counts}; allowed: a BaseDraws each, all of one number of draws")
    draws = next(iter(base.values())).n_draws if base else 1
    out = []
    for a, r in zip(assets, rd):
        if a.uncertainty is None:
            g = a.ges
            out.append(Bounds(*(np.broadcast_to(x, (draws, len(x))) for x in
                                (g.p_charge_max_mw, g.p_discharge_max_mw, g.soc_min, g.soc_max, g.baseline_mw))))
        else:
            out.append(draw_bounds(a.ges, a.uncertainty, base[a.name], a.incentive_usd_per_mwh, r))
    return out


@dataclass(frozen=True)
class Outcome:
    """A realised day over ``D`` draws: ``ledger`` (each line (D,) $ for the day, all assets),
    ``short_mw`` (D, m, 2, n) reserve up / down not available, ``violated`` (D, m, 4, n) each
    chance-constrained row broken by the plan (charge power, discharge power, SoC min, SoC max),
    ``uncertain`` (m, 4, n) whether each row's bound varies over the draws (with one draw:
    whether it can), ``final_soc`` (D,
    m) and ``soc_excursion`` (D, m) the largest SoC beyond a realised bound the fleet could not
    avoid."""

    ledger: Ledger
    short_mw: np.ndarray
    violated: np.ndarray
    uncertain: np.ndarray
    final_soc: np.ndarray
    soc_excursion: np.ndarray
    dt_h: float

    @property
    def lorp(self) -> float:
        """Loss of reserve probability: the share of (draw, interval) with reserve short anywhere."""
        return float((self.short_mw > DUST_TOL).any(axis=(1, 2)).mean())

    @property
    def erns_mwh(self) -> float:
        """Expected reserve not served: MWh per day, mean over the draws."""
        return float(self.short_mw.sum(axis=(1, 2, 3)).mean() * self.dt_h)

    @property
    def cost_usd(self) -> np.ndarray:
        """The realised total cost (D,) $: minus the ledger's total."""
        return -np.asarray(self.ledger.total)


def ev_unmet_mwh(assets: tuple[Asset, ...], outcome: Outcome) -> np.ndarray:
    """The EV fleets' energy (D,) MWh short of their need at the day's end in each draw: their
    final SoC below its target (every session's need met), times the fleet's energy."""
    unmet = np.zeros(outcome.final_soc.shape[0])
    for i, a in enumerate(assets):
        if a.kind == "ev":
            unmet += np.maximum(a.ges.soc_target - outcome.final_soc[:, i], 0.0) * a.ges.energy_mwh
    return unmet


def planned_cost(assets: tuple[Asset, ...], prices: DayPrices, schedule: Schedule) -> float:
    """The DA cost $ of a plan: energy bought less sold at DA prices, less the reserve payment,
    plus wear and the customers' incentive on the planned response."""
    check_schedule(assets, schedule, prices)
    da, _ = position_lines(prices.da, prices.rt, schedule.position_mw(assets), 0.0, prices.dt_h)
    reserve = capacity_usd(prices.reserve_up, schedule.reserve_up_mw, prices.dt_h) + \
        capacity_usd(prices.reserve_down, schedule.reserve_down_mw, prices.dt_h)
    per_mwh = np.array([a.response_cost_usd_per_mwh for a in assets])[:, None]
    response = per_mwh * (schedule.charge_mw + schedule.discharge_mw) * prices.dt_h
    return float(-da.sum() - reserve.sum() + response.sum())


@dataclass(frozen=True)
class Step:
    """One interval of one asset as it happened (arrays over draws, or floats): the legs
    ``charge_mw``, ``discharge_mw`` delivered, the SoC ``soc`` at the interval's end, the reserve
    ``short_up_mw``, ``short_down_mw`` it could not hold and ``excursion`` the SoC beyond a
    realised bound it could not avoid."""

    charge_mw: np.ndarray
    discharge_mw: np.ndarray
    soc: np.ndarray
    short_up_mw: np.ndarray
    short_down_mw: np.ndarray
    excursion: np.ndarray


def follow(ges: GES, t: int, soc: np.ndarray, charge_mw: float, discharge_mw: float, up_mw: float, down_mw: float,
           p_charge_max_mw: np.ndarray, p_discharge_max_mw: np.ndarray, soc_min: np.ndarray, soc_max: np.ndarray) -> Step:
    """Interval ``t`` of an asset from SoC ``soc`` asked for legs and reserve (MW), within the
    realised power bounds and the SoC bounds at the interval's end: legs clipped to the power
    bounds, then charging cut before discharging is added (SoC too high), or discharging cut
    before charging is added (too low); the reserve short is what the headroom left cannot
    hold for the interval."""
    per_charge = ges.eta_charge * ges.dt_h / ges.energy_mwh
    per_discharge = ges.dt_h / (ges.eta_discharge * ges.energy_mwh)
    ce, de = np.minimum(charge_mw, p_charge_max_mw), np.minimum(discharge_mw, p_discharge_max_mw)
    nxt = ges.next_soc(soc, ce, de, t)
    over = np.maximum(nxt - soc_max, 0.0)
    cut = np.minimum(ce, over / per_charge)
    add = np.minimum(p_discharge_max_mw - de, np.maximum(over - cut * per_charge, 0.0) / per_discharge)
    ce, de = ce - cut, de + add
    nxt = nxt - cut * per_charge - add * per_discharge
    under = np.maximum(soc_min - nxt, 0.0)
    cut = np.minimum(de, under / per_discharge)
    add = np.minimum(p_charge_max_mw - ce, np.maximum(under - cut * per_discharge, 0.0) / per_charge)
    de, ce = de - cut, ce + add
    s = nxt + cut * per_discharge + add * per_charge
    up_room = np.clip(np.minimum(p_discharge_max_mw - de + ce, (s - soc_min) / per_discharge), 0.0, None)
    down_room = np.clip(np.minimum(p_charge_max_mw - ce + de, (soc_max - s) / per_charge), 0.0, None)
    return Step(ce, de, s, np.maximum(up_mw - up_room, 0.0), np.maximum(down_mw - down_room, 0.0),
                np.maximum(np.maximum(s - soc_max, soc_min - s), 0.0))


def interval_lines(assets: tuple[Asset, ...], prices: DayPrices, market: MarketProfile, t: int, position_mw: float,
                   steps: list[Step], baseline_mw: list[np.ndarray], reserve_up_mw: np.ndarray, reserve_down_mw: np.ndarray,
                   last: bool = False) -> Ledger:
    """The ledger of interval ``t`` ($, arrays over draws or floats): the DA position
    ``position_mw``, each asset's ``steps[i]`` with its realised baseline ``baseline_mw[i]`` and
    reserve awards ``reserve_up_mw``, ``reserve_down_mw`` (m,). On the day's ``last`` interval
    the terminal line values each asset's final SoC against its GES's target."""
    dt, rt = prices.dt_h, prices.rt[t]
    realised = sum(s.discharge_mw - s.charge_mw - b for s, b in zip(steps, baseline_mw))
    da, _ = position_lines(prices.da[t], rt, position_mw, 0.0, dt)
    _, imbalance = layer_lines(position_mw, position_mw, realised, rt, rt, dt)
    capacity = (capacity_usd(prices.reserve_up[t], np.sum(reserve_up_mw), dt)
                + capacity_usd(prices.reserve_down[t], np.sum(reserve_down_mw), dt))
    short_up = sum(s.short_up_mw for s in steps)
    short_down = sum(s.short_down_mw for s in steps)
    returned = capacity_usd(prices.reserve_up[t], short_up, dt) + capacity_usd(prices.reserve_down[t], short_down, dt)
    penalty = penalty_price(market, rt) * (short_up + short_down) * dt
    wear = sum(a.wear_usd_per_mwh * (s.charge_mw + s.discharge_mw) * dt for a, s in zip(assets, steps))
    incentive = sum(a.incentive_usd_per_mwh * (s.charge_mw + s.discharge_mw) * dt for a, s in zip(assets, steps))
    terminal = 0.0 * imbalance
    if last:
        mean_da = float(prices.da.mean())
        for a, s in zip(assets, steps):
            above, below = end_slopes(a.ges.eta_charge, a.ges.eta_discharge, a.response_cost_usd_per_mwh, mean_da)
            terminal = terminal + asymmetric_value((s.soc - a.ges.soc_target) * a.ges.energy_mwh, above, below, NUMPY_OPS)
    zero = 0.0 * imbalance
    return Ledger(da_energy=da + zero, fmm_energy=zero, rt_imbalance=imbalance, virtual=zero, as_capacity=capacity + zero,
                  mileage=zero, no_pay=zero, unavailable=-returned, penalty=-penalty, degradation=-wear, terminal=terminal,
                  incentive=-incentive)


def realise(assets: tuple[Asset, ...], prices: DayPrices, market: MarketProfile, schedule: Schedule,
            base: dict[str, BaseDraws]) -> Outcome:
    """The day ``schedule`` realises over ``base``'s draws (see the module docstring). The bounds
    are drawn at the schedule's own response degrees: the world is decision-dependent whatever
    the planner assumed."""
    check_schedule(assets, schedule, prices)
    bounds = realised_bounds(assets, base, response_degrees(assets, schedule))
    draws = bounds[0].soc_max.shape[0]
    n, m = len(prices.da), len(assets)
    position = schedule.position_mw(assets)
    short = np.zeros((draws, m, 2, n))
    violated = np.zeros((draws, m, 4, n), dtype=bool)
    uncertain = np.zeros((m, 4, n), dtype=bool)
    excursion = np.zeros((draws, m))
    for i, (asset, b) in enumerate(zip(assets, bounds)):
        values = row_values(asset.ges, schedule.charge_mw[i], schedule.discharge_mw[i], schedule.reserve_up_mw[i],
                            schedule.reserve_down_mw[i], schedule.soc[i])
        violated[:, i] = slack(values, b) < -DUST_TOL
        uncertain[i] = _can_vary(asset) & (slack(np.zeros((4, n)), b).std(0) > 1e-12 if draws > 1 else True)
    soc = [np.full(draws, a.ges.soc_initial) for a in assets]
    lines = []
    for t in range(n):
        steps = [follow(a.ges, t, soc[i], schedule.charge_mw[i, t], schedule.discharge_mw[i, t], schedule.reserve_up_mw[i, t],
                        schedule.reserve_down_mw[i, t], b.p_charge_max_mw[:, t], b.p_discharge_max_mw[:, t],
                        b.soc_min[:, t + 1], b.soc_max[:, t + 1]) for i, (a, b) in enumerate(zip(assets, bounds))]
        soc = [s.soc for s in steps]
        for i, s in enumerate(steps):
            short[:, i, 0, t], short[:, i, 1, t] = s.short_up_mw, s.short_down_mw
            excursion[:, i] = np.maximum(excursion[:, i], s.excursion)
        lines.append(interval_lines(assets, prices, market, t, position[t], steps, [b.baseline_mw[:, t] for b in bounds],
                                    schedule.reserve_up_mw[:, t], schedule.reserve_down_mw[:, t], t == n - 1))
    ledger = Ledger(*(np.sum(line, axis=0) for line in zip(*lines)))
    return Outcome(ledger, short, violated, uncertain, np.array(soc).T, excursion, prices.dt_h)


def _can_vary(asset: Asset) -> np.ndarray:
    """(4, n) whether each chance-constrained row's bound can move with the draw: an uncertain
    asset's row whose nominal range is not nil (a power bound above 0, a SoC bound off the
    baseline path)."""
    if asset.uncertainty is None:
        return np.zeros((4, asset.ges.n_intervals), dtype=bool)
    g = asset.ges
    b = baseline_soc(g)[1:]
    return np.array([g.p_charge_max_mw + g.baseline_mw > 0, g.p_discharge_max_mw > 0, b - g.soc_min[1:] > 0,
                     g.soc_max[1:] - b > 0])


def violation_rate(assets: tuple[Asset, ...], outcome: Outcome, schedule: Schedule, tol: float = 1e-6) -> tuple[float, int]:
    """The share of draws breaking the plan's binding chance-constrained rows (those within
    ``tol`` of the limit the planner kept them in, ``schedule.limits``, whose realised bound
    varies), pooled over those rows, and how many rows bind. The paper's violation rate: at
    most ``gamma`` for a calibrated chance-constrained plan."""
    if schedule.limits is None:
        raise ValueError("the schedule records no limits (Schedule.limits is None): nothing binds")
    check_schedule(assets, schedule)
    m, n = schedule.charge_mw.shape
    if outcome.violated.shape[1:] != (m, 4, n):
        raise ValueError(f"outcome covers {outcome.violated.shape[1]} assets x {outcome.violated.shape[3]} intervals; "
                         f"the schedule {m} x {n}")
    binding = np.array([np.abs(slack(row_values(a.ges, schedule.charge_mw[i], schedule.discharge_mw[i],
                                                 schedule.reserve_up_mw[i], schedule.reserve_down_mw[i], schedule.soc[i]),
                                      lim)[0]) <= tol
                        for i, (a, lim) in enumerate(zip(assets, schedule.limits))])  # (m, 4, n)
    binding &= outcome.uncertain
    count = int(binding.sum())
    if count == 0:
        return 0.0, 0
    return float(outcome.violated[:, binding].mean()), count
