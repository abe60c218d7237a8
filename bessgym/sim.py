"""One operating day: (scenario, DA bid, base points) -> trajectory and ledger.

Four forms over the same physics (:func:`bessgym.battery.interval_flows`) and the same money
(:mod:`bessgym.settlement`), all through :func:`advance`:

* :class:`DaySimulator`: step-wise, one RT interval per call, for the Gymnasium envs;
* :func:`simulate_day`: a whole day from an array of base points;
* :func:`simulate_batch`: many days at once, numpy over the batch axis;
* :class:`BatchDaySimulator`: step-wise over N days at once, for the vector envs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple, Sequence

import numpy as np

from bessgym.battery import NUMPY_OPS, SCALAR_OPS, Battery, Flows, Limits, Ops, interval_flows
from bessgym.market import UP_MASK, DABid, MarketProfile, accept_arrays, accept_bid, accept_fmm, accept_virtual
from bessgym.scenarios import Scenario
from bessgym.settlement import DayTerms, Ledger, StepTerms, day_terms, interval_lines, next_layer_price, terminal_value


class ScenarioArrays(NamedTuple):
    """Scenario data, optionally stacked over a leading batch axis (see :class:`Scenario` for
    units); ``up_time`` is the regulation signal's up share of each interval; ``fmm_price`` the
    FMM's prices (..., F) in a three-settlement market, None in two."""

    dt_h: float
    da_price: np.ndarray
    rt_price: np.ndarray
    as_price: np.ndarray
    mileage_price: np.ndarray
    fraction: np.ndarray
    mileage: np.ndarray
    up_time: np.ndarray
    fmm_price: np.ndarray | None = None

    @classmethod
    def of(cls, scenario: Scenario) -> "ScenarioArrays":
        d = scenario.deployment
        return cls(scenario.dt_h, scenario.da_price, scenario.rt_price, scenario.as_price, scenario.mileage_price,
                   d.fraction, d.mileage, d.up_time, scenario.fmm_price)

    @classmethod
    def stack(cls, scenarios: Sequence[Scenario]) -> "ScenarioArrays":
        return cls.join([cls.of(s) for s in scenarios], np.stack)

    @classmethod
    def join(cls, singles: Sequence["ScenarioArrays"], how: Any = np.stack) -> "ScenarioArrays":
        """Days' arrays joined field by field with ``how`` (``np.stack``: a batch;
        ``np.concatenate``: one long period). They must share the interval length and the
        settlement layers."""
        steps = {a.dt_h for a in singles}
        if len(steps) != 1:
            raise ValueError(f"a batch needs one interval length, got {sorted(steps)} h")
        if len({a.fmm_price is None for a in singles}) != 1:
            raise ValueError("a batch mixes two- and three-settlement days (fmm_price None and given)")
        fields = [how([getattr(a, f) for a in singles]) for f in cls._fields[1:-1]]
        fmm = None if singles[0].fmm_price is None else how([a.fmm_price for a in singles])
        return cls(steps.pop(), *fields, fmm)

    @property
    def next_price(self) -> np.ndarray:
        """The price of the layer after DA in each RT interval (..., T): the FMM's, or RT's."""
        return next_layer_price(self.rt_price, self.fmm_price)

    def terms(self, battery: Battery, market: MarketProfile, energy_mw: np.ndarray, as_mw: np.ndarray,
              virtual_mw: np.ndarray | None = None) -> DayTerms:
        """The day's money terms under an accepted bid (see :func:`bessgym.settlement.day_terms`)."""
        return day_terms(battery, market, self.dt_h, self.da_price, self.rt_price, self.as_price, self.mileage_price,
                         self.fraction, self.mileage, self.up_time, energy_mw, as_mw, self.fmm_price, virtual_mw)


@dataclass(frozen=True)
class DayResult:
    """A simulated day (arrays over intervals, with a leading batch axis for batches).

    ``e_mwh`` (..., T+1) SoC; ``charge_mw``/``discharge_mw`` what flowed in and out (averaged over
    the interval); ``net_mw`` the delivered net power (+ = discharge); ``base_mw`` the base point
    kept; ``shortfall_mw`` (..., T, 4) undelivered deployment per product; ``ledger`` the lines
    per interval ($); ``energy_mw`` (..., 24) and ``as_mw`` (..., 24, 4) the DA bid as the market
    accepted it; ``fmm_mw`` (..., T) the position the RT layer settles against in each interval
    (the FMM position as accepted in three settlements, the DA position in two).
    """

    e_mwh: np.ndarray
    charge_mw: np.ndarray
    discharge_mw: np.ndarray
    net_mw: np.ndarray
    base_mw: np.ndarray
    shortfall_mw: np.ndarray
    ledger: Ledger
    energy_mw: np.ndarray
    as_mw: np.ndarray
    fmm_mw: np.ndarray

    @property
    def totals(self) -> Ledger:
        """Ledger lines summed over the day."""
        return self.ledger.sum(axis=-1)

    @property
    def profit(self) -> np.ndarray | float:
        return self.totals.total


class IntervalOutcome(NamedTuple):
    """One step: SoC after it (MWh), charge and discharge (MW), base point kept (MW), shortfall of
    up and down deployment (MW), and the interval's ledger lines ($). Floats for
    :class:`DaySimulator`, arrays over the batch for the batched forms."""

    e_mwh: Any
    charge_mw: Any
    discharge_mw: Any
    base_mw: Any
    up_short_mw: Any
    down_short_mw: Any
    ledger: Ledger

    @property
    def reward(self) -> Any:
        return self.ledger.total

    @property
    def shortfall_mw(self) -> Any:
        """Deployment not delivered, up and down together (MW; x the interval's hours: MWh)."""
        return self.up_short_mw + self.down_short_mw


def advance(
    battery: Battery, limits: Limits, e_mwh: Any, base_mw: Any, row: StepTerms, last: Any, mean_da: Any, ops: Ops = SCALAR_OPS,
    fmm_mw: Any = None,
) -> IntervalOutcome:
    """One interval for floats (``SCALAR_OPS``) or arrays (``NUMPY_OPS``): ``row`` holds its terms,
    ``last`` is 1 on the day's last interval (terminal value), else 0; ``fmm_mw`` the accepted FMM
    position (three settlements; None holds the DA position)."""
    flows = interval_flows(limits, e_mwh, base_mw, row.w_up, row.up_in_up, row.up_in_down, row.down_in_down, ops)
    terminal = last * terminal_value(battery, flows.e_next_mwh, mean_da, ops)
    ledger, up_short, down_short = interval_lines(battery, limits.dt_h, row, e_mwh, base_mw, flows, terminal, ops, fmm_mw)
    return IntervalOutcome(flows.e_next_mwh, flows.charge_mw, flows.discharge_mw, flows.base_mw, up_short, down_short, ledger)


def check_base_points(base_mw: np.ndarray, name: str = "base_mw") -> np.ndarray:
    """Base points (or positions) as a float array; NaN or inf raise a ValueError naming the
    argument ``name`` and the position."""
    base = np.asarray(base_mw, dtype=float)
    bad = ~np.isfinite(base)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name}{list(where)} is {base[where]}; it must be finite MW")
    return base


def check_layers(market: MarketProfile, arrays: "ScenarioArrays | Scenario") -> None:
    """Refuse a day whose settlement layers are not the market's (FMM prices in a three-settlement
    market, none in two), naming both."""
    has_fmm = arrays.fmm_price is not None
    if has_fmm != market.three_settlement:
        data = "has FMM prices" if has_fmm else "has no FMM prices"
        raise ValueError(f"the day {data} but market profile {market.name!r} settles {market.settlement!r}; "
                         "three-settlement data needs settlement 'da_fmm_rtd' (e.g. profile 'caiso3') and the reverse")


def fmm_positions(battery: Battery, arrays: ScenarioArrays, terms: DayTerms, fmm_mw: np.ndarray | None) -> np.ndarray:
    """The positions the RT layer settles against in each interval (..., T), as the market accepts
    them: ``fmm_mw`` (..., F) per FMM interval, cut by :func:`bessgym.market.accept_fmm`, in three
    settlements (None holds the DA position); the DA position in two (``fmm_mw`` must be None)."""
    position = terms.step.position_mw
    if fmm_mw is None:
        return position
    if arrays.fmm_price is None:
        raise ValueError("fmm_mw is given but the day has two settlements (no FMM)")
    fmm = check_base_points(fmm_mw, "fmm_mw")
    if fmm.shape != arrays.fmm_price.shape:
        raise ValueError(f"fmm_mw must have shape {arrays.fmm_price.shape} (one position per FMM interval), got {fmm.shape}")
    per = position.shape[-1] // fmm.shape[-1]
    return accept_fmm(np.repeat(fmm, per, axis=-1), terms.step.award_up_mw, terms.step.award_down_mw, battery)


def shortfall_by_product(terms: DayTerms, up_short_mw: np.ndarray, down_short_mw: np.ndarray) -> np.ndarray:
    """Undelivered deployment per product (..., T, 4) in MW: up products share the up shortfall
    pro rata to their requests, reg down takes the down shortfall."""
    shortfall = terms.request_mw.copy()
    shortfall[..., UP_MASK] *= (up_short_mw * terms.step.inv_up_req)[..., None]
    shortfall[..., ~UP_MASK] *= (down_short_mw * terms.step.inv_down_req)[..., None]
    return shortfall


def _day(battery: Battery, terms: DayTerms, base: np.ndarray, flows: list[Flows], energy_mw: np.ndarray, as_mw: np.ndarray,
         fmm: np.ndarray) -> DayResult:
    """A day from its flows per interval (floats, or arrays over a batch) and its accepted FMM
    positions per interval: SoC, then the ledger over all intervals at once."""
    f = Flows(*np.moveaxis(np.array(flows, dtype=float), 0, -1))  # (fields, ..., T)
    e0 = np.full(f.e_next_mwh.shape[:-1] + (1,), battery.e_initial_mwh)
    e = np.concatenate([e0, f.e_next_mwh], axis=-1)
    terminal = np.zeros_like(base)
    terminal[..., -1] = terminal_value(battery, e[..., -1], terms.mean_da_price, NUMPY_OPS)
    ledger, up_short, down_short = interval_lines(battery, terms.dt_h, terms.step, e[..., :-1], base, f, terminal, NUMPY_OPS, fmm)
    shortfall = shortfall_by_product(terms, up_short, down_short)
    return DayResult(e, f.charge_mw, f.discharge_mw, f.discharge_mw - f.charge_mw, f.base_mw, shortfall, ledger, energy_mw, as_mw,
                     fmm)


def simulate_day(battery: Battery, market: MarketProfile, scenario: Scenario, bid: DABid, base_mw: np.ndarray,
                 fmm_mw: np.ndarray | None = None) -> DayResult:
    """Simulate one day; ``base_mw`` (T,) are the RT base points (MW, + = discharge); ``fmm_mw``
    (F,) the FMM positions of a three-settlement day (MW, + = sell; None holds the DA position)."""
    base = check_base_points(base_mw)
    if base.shape != (scenario.n_intervals,):
        raise ValueError(f"base_mw must have shape ({scenario.n_intervals},), got {base.shape}")
    check_layers(market, scenario)
    x, r = accept_arrays(bid.energy_mw, bid.as_mw, battery, market)
    arrays = ScenarioArrays.of(scenario)
    terms = arrays.terms(battery, market, x, r, accept_virtual(bid.virtual_mw, market))
    fmm = fmm_positions(battery, arrays, terms, fmm_mw)
    limits, step = battery.limits(scenario.dt_h), terms.step
    e, flows = battery.e_initial_mwh, []
    for b, w, up_in_up, up_in_down, down_in_down in zip(
            base.tolist(), step.w_up.tolist(), step.up_in_up.tolist(), step.up_in_down.tolist(), step.down_in_down.tolist()):
        flows.append(interval_flows(limits, e, b, w, up_in_up, up_in_down, down_in_down))
        e = flows[-1].e_next_mwh
    return _day(battery, terms, base, flows, x, r, fmm)


def simulate_batch(
    battery: Battery, market: MarketProfile, arrays: ScenarioArrays, energy_mw: np.ndarray, as_mw: np.ndarray, base_mw: np.ndarray,
    fmm_mw: np.ndarray | None = None, virtual_mw: np.ndarray | None = None,
) -> DayResult:
    """Simulate B days at once: ``energy_mw`` (B, 24), ``as_mw`` (B, 24, 4), ``base_mw`` (B, T);
    in three settlements ``fmm_mw`` (B, F) (None holds the DA position); ``virtual_mw`` (B, 24)."""
    base = check_base_points(base_mw)
    if base.shape != arrays.rt_price.shape:
        raise ValueError(f"base_mw must have shape {arrays.rt_price.shape}, got {base.shape}")
    check_layers(market, arrays)
    x, r = accept_arrays(np.asarray(energy_mw, float), np.asarray(as_mw, float), battery, market)
    v = None if virtual_mw is None else accept_virtual(np.asarray(virtual_mw, float), market)
    terms = arrays.terms(battery, market, x, r, v)
    fmm = fmm_positions(battery, arrays, terms, fmm_mw)
    limits, step = battery.limits(arrays.dt_h), terms.step
    columns = [np.ascontiguousarray(a.T) for a in (base, step.w_up, step.up_in_up, step.up_in_down, step.down_in_down)]
    e, flows = np.full(base.shape[0], battery.e_initial_mwh), []
    for b, w, up_in_up, up_in_down, down_in_down in zip(*columns):
        flows.append(interval_flows(limits, e, b, w, up_in_up, up_in_down, down_in_down, NUMPY_OPS))
        e = flows[-1].e_next_mwh
    return _day(battery, terms, base, flows, x, r, fmm)


class DaySimulator:
    """Step-wise simulation of one day for the envs: ``step(base_mw)`` per RT interval (and, in
    three settlements, the interval's FMM position: ``step(base_mw, fmm_mw)``)."""

    def __init__(self, battery: Battery, market: MarketProfile, scenario: Scenario, bid: DABid) -> None:
        self.battery, self.market, self.scenario = battery, market, scenario
        check_layers(market, scenario)
        self.accepted, self.cuts = accept_bid(bid, battery, market)
        self.terms = ScenarioArrays.of(scenario).terms(battery, market, self.accepted.energy_mw, self.accepted.as_mw,
                                                       self.accepted.virtual_mw)
        self._limits = battery.limits(scenario.dt_h)
        self._rows = [StepTerms(*values) for values in zip(*(line.tolist() for line in self.terms.step))]
        self._mean_da = float(self.terms.mean_da_price)
        self.e_mwh = battery.e_initial_mwh
        self.t = 0
        self.fmm_mw: float | None = None
        """The last step's FMM position as the market accepted it (None in two settlements)."""

    @property
    def n_intervals(self) -> int:
        return self.scenario.n_intervals

    @property
    def done(self) -> bool:
        return self.t >= self.n_intervals

    def step(self, base_mw: float, fmm_mw: float | None = None) -> IntervalOutcome:
        """One interval at base point ``base_mw``; ``fmm_mw`` the FMM position of the interval's FMM
        interval (three settlements; None holds the DA position), cut to what the market accepts."""
        if self.done:
            raise RuntimeError("the day is over; make a new DaySimulator")
        if not math.isfinite(base_mw):
            raise ValueError(f"base_mw at interval {self.t} is {base_mw}; base points must be finite MW")
        row = self._rows[self.t]
        if fmm_mw is not None:
            if not self.market.three_settlement:
                raise ValueError("fmm_mw is given but the market has two settlements (no FMM)")
            if not math.isfinite(fmm_mw):
                raise ValueError(f"fmm_mw at interval {self.t} is {fmm_mw}; it must be finite MW")
            fmm_mw = accept_fmm(float(fmm_mw), row.award_up_mw, row.award_down_mw, self.battery, SCALAR_OPS)
        self.fmm_mw = fmm_mw if fmm_mw is not None or not self.market.three_settlement else row.position_mw
        last = 1.0 if self.t == self.n_intervals - 1 else 0.0
        out = advance(self.battery, self._limits, self.e_mwh, float(base_mw), row, last, self._mean_da, SCALAR_OPS, fmm_mw)
        self.t += 1
        self.e_mwh = out.e_mwh
        return out


class BatchDaySimulator:
    """Step-wise simulation of N days at once, for the vector envs.

    Each row keeps its own SoC and interval index ``t``; the caller hands each step the rows'
    terms (:class:`~bessgym.settlement.StepTerms` of (N,) arrays, e.g. ``DayTerms.at``), so a
    row's day, bid and deployment path can come from wherever the caller keeps them.
    """

    def __init__(self, battery: Battery, dt_h: float, n_intervals: int, n_envs: int) -> None:
        self.battery, self.n_envs, self.n_intervals = battery, n_envs, n_intervals
        self._limits = battery.limits(dt_h)
        self._mean_da = np.zeros(n_envs)
        self.e_mwh = np.full(n_envs, battery.e_initial_mwh)
        self.t = np.zeros(n_envs, dtype=np.int64)

    def start(self, rows: np.ndarray, mean_da_price: np.ndarray) -> None:
        """Start new days in rows ``rows`` (k,) with their mean DA prices (k,) (terminal value)."""
        self._mean_da[rows] = mean_da_price
        self.e_mwh[rows] = self.battery.e_initial_mwh
        self.t[rows] = 0

    def interval(self) -> np.ndarray:
        """Each row's current interval (N,), the last one for rows whose day is over."""
        return np.minimum(self.t, self.n_intervals - 1)

    def step(self, row: StepTerms, base_mw: np.ndarray, active: np.ndarray | None = None,
             fmm_mw: np.ndarray | None = None) -> IntervalOutcome:
        """Advance the rows by one interval under their terms ``row``; with ``active`` (bool, (N,))
        only those rows move (the outcome of the others is meaningless). Rows past their day's end
        must not be active. ``fmm_mw`` (N,): the accepted FMM positions (three settlements)."""
        last = (self.t == self.n_intervals - 1).astype(float)
        out = advance(self.battery, self._limits, self.e_mwh, base_mw, row, last, self._mean_da, NUMPY_OPS, fmm_mw)
        if active is None:
            self.e_mwh = out.e_mwh
            self.t += 1
        else:
            self.e_mwh = np.where(active, out.e_mwh, self.e_mwh)
            self.t += active
        return out
