"""One operating day: (scenario, DA bid, base points) -> trajectory and ledger.

Three forms over the same physics (:func:`bessgym.battery.interval_flows`) and the same money
(:mod:`bessgym.settlement`):

* :class:`DaySimulator`: step-wise, one RT interval per call, for the Gymnasium envs;
* :func:`simulate_day`: a whole day from an array of base points;
* :func:`simulate_batch`: many days at once, numpy over the batch axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

from bessgym.battery import Battery, Flows, Limits, interval_flows
from bessgym.market import UP_MASK, BidCuts, DABid, MarketProfile, accept_arrays
from bessgym.scenarios import Scenario
from bessgym.settlement import DayTerms, Ledger, day_terms, interval_lines, terminal_value


class ScenarioArrays(NamedTuple):
    """Scenario data stacked over a leading batch axis (see :class:`Scenario` for units)."""

    dt_h: float
    da_price: np.ndarray
    rt_price: np.ndarray
    as_price: np.ndarray
    mileage_price: np.ndarray
    fraction: np.ndarray
    mileage: np.ndarray

    @classmethod
    def stack(cls, scenarios: Sequence[Scenario]) -> "ScenarioArrays":
        steps = {s.dt_h for s in scenarios}
        if len(steps) != 1:
            raise ValueError(f"a batch needs one interval length, got {sorted(steps)} h")
        return cls(
            steps.pop(),
            np.stack([s.da_price for s in scenarios]),
            np.stack([s.rt_price for s in scenarios]),
            np.stack([s.as_price for s in scenarios]),
            np.stack([s.mileage_price for s in scenarios]),
            np.stack([s.deployment.fraction for s in scenarios]),
            np.stack([s.deployment.mileage for s in scenarios]),
        )


@dataclass(frozen=True)
class DayResult:
    """A simulated day (arrays over intervals, with a leading batch axis for batches).

    ``e_mwh`` (..., T+1) SoC; ``charge_mw``/``discharge_mw`` the delivered legs; ``net_mw`` the
    delivered net power (+ = discharge); ``base_mw`` the base point delivered; ``shortfall_mw``
    (..., T, 4) undelivered deployment per product; ``ledger`` the lines per interval ($);
    ``energy_mw`` (..., 24) and ``as_mw`` (..., 24, 4) the DA bid as the market accepted it.
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

    @property
    def totals(self) -> Ledger:
        """Ledger lines summed over the day."""
        return self.ledger.sum(axis=-1)

    @property
    def profit(self) -> np.ndarray | float:
        return self.totals.total


def check_base_points(base_mw: np.ndarray) -> np.ndarray:
    """Base points as a float array; NaN or inf raise a ValueError naming the position."""
    base = np.asarray(base_mw, dtype=float)
    bad = ~np.isfinite(base)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"base_mw{list(where)} is {base[where]}; base points must be finite MW")
    return base


def _terms(arrays: ScenarioArrays, energy_mw: np.ndarray, as_mw: np.ndarray, market: MarketProfile) -> DayTerms:
    return day_terms(
        arrays.dt_h, arrays.da_price, arrays.rt_price, arrays.as_price, arrays.mileage_price,
        arrays.fraction, arrays.mileage, energy_mw, as_mw, market,
    )


def _single(scenario: Scenario) -> ScenarioArrays:
    return ScenarioArrays(
        scenario.dt_h, scenario.da_price, scenario.rt_price, scenario.as_price, scenario.mileage_price,
        scenario.deployment.fraction, scenario.deployment.mileage,
    )


def _result(
    battery: Battery, terms: DayTerms, as_mw: np.ndarray, energy_mw: np.ndarray,
    e: np.ndarray, charge: np.ndarray, discharge: np.ndarray, up: np.ndarray, down: np.ndarray, base: np.ndarray,
) -> DayResult:
    """Shared tail of the whole-day and batched forms: shortfalls and the ledger as arrays."""
    up_short = terms.up_req_mw - up
    down_short = terms.down_req_mw - down
    rt_imbalance, no_pay, penalty, degradation = interval_lines(
        battery, terms.dt_h, terms.position_mw, terms.rt_price, terms.penalty_price, charge, discharge,
        up_short, down_short, terms.cap_up_usd, terms.cap_down_usd, terms.inv_up_req, terms.inv_down_req,
    )
    terminal = np.zeros_like(rt_imbalance)
    terminal[..., -1] = terminal_value(battery, e[..., -1], terms.mean_da_price)
    ledger = Ledger(terms.da_energy, rt_imbalance, terms.as_capacity, terms.mileage, no_pay, penalty, degradation, terminal)
    shortfall = shortfall_by_product(terms, up_short, down_short)
    return DayResult(e, charge, discharge, discharge - charge, base, shortfall, ledger, energy_mw, as_mw)


def shortfall_by_product(terms: DayTerms, up_short_mw: np.ndarray, down_short_mw: np.ndarray) -> np.ndarray:
    """Undelivered deployment per product (..., T, 4) in MW: up products share the up shortfall
    pro rata to their requests, reg down takes the down shortfall."""
    shortfall = terms.request_mw.copy()
    shortfall[..., UP_MASK] *= (up_short_mw * terms.inv_up_req)[..., None]
    shortfall[..., ~UP_MASK] *= (down_short_mw * terms.inv_down_req)[..., None]
    return shortfall


def simulate_day(battery: Battery, market: MarketProfile, scenario: Scenario, bid: DABid, base_mw: np.ndarray) -> DayResult:
    """Simulate one day; ``base_mw`` (T,) are the RT base points (MW, + = discharge)."""
    base = check_base_points(base_mw)
    if base.shape != (scenario.n_intervals,):
        raise ValueError(f"base_mw must have shape ({scenario.n_intervals},), got {base.shape}")
    x, r = accept_arrays(bid.energy_mw, bid.as_mw, battery, market)
    terms = _terms(_single(scenario), x, r, market)
    limits = battery.limits(scenario.dt_h)
    e = battery.e_initial_mwh
    rows: list[float] = []
    for b, up_req, down_req in zip(base.tolist(), terms.up_req_mw.tolist(), terms.down_req_mw.tolist()):
        flows = interval_flows(limits, e, b, up_req, down_req)
        e = flows.e_next_mwh
        rows.extend(flows)
    e_next, charge, discharge, up, down, delivered = np.array(rows).reshape(-1, len(Flows._fields)).T
    energy = np.concatenate(([battery.e_initial_mwh], e_next))
    return _result(battery, terms, r, x, energy, charge, discharge, up, down, delivered)


def simulate_batch(
    battery: Battery, market: MarketProfile, arrays: ScenarioArrays, energy_mw: np.ndarray, as_mw: np.ndarray, base_mw: np.ndarray
) -> DayResult:
    """Simulate B days at once: ``energy_mw`` (B, 24), ``as_mw`` (B, 24, 4), ``base_mw`` (B, T)."""
    base = check_base_points(base_mw)
    if base.shape != arrays.rt_price.shape:
        raise ValueError(f"base_mw must have shape {arrays.rt_price.shape}, got {base.shape}")
    x, r = accept_arrays(np.asarray(energy_mw, float), np.asarray(as_mw, float), battery, market)
    terms = _terms(arrays, x, r, market)
    limits = battery.limits(arrays.dt_h)
    n_days, n = base.shape
    # time-major buffers: each interval reads and writes contiguous rows
    flows_t = np.empty((6, n, n_days))
    base_t, up_t, down_t = base.T.copy(), terms.up_req_mw.T.copy(), terms.down_req_mw.T.copy()
    e = np.full(n_days, battery.e_initial_mwh)
    for t in range(n):
        flows = interval_flows(limits, e, base_t[t], up_t[t], down_t[t], np.minimum, np.maximum)
        for k, value in enumerate(flows):
            flows_t[k, t] = value
        e = flows.e_next_mwh
    e_next, charge, discharge, up, down, delivered = flows_t.transpose(0, 2, 1)
    energy = np.concatenate((np.full((n_days, 1), battery.e_initial_mwh), e_next), axis=1)
    return _result(battery, terms, r, x, energy, charge, discharge, up, down, delivered)


class IntervalOutcome(NamedTuple):
    """One step: SoC after it (MWh), delivered legs and base point (MW), shortfall of up and down
    deployment (MW), and the interval's ledger lines ($). Floats for :class:`DaySimulator`,
    arrays over the batch for :class:`BatchDaySimulator`."""

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


_STEP_TERMS = (
    "position_mw", "rt_price", "penalty_price", "up_req_mw", "down_req_mw", "cap_up_usd",
    "cap_down_usd", "inv_up_req", "inv_down_req", "da_energy", "as_capacity", "mileage",
)


def _advance(
    battery: Battery, limits: Limits, e_mwh: Any, base_mw: Any, row: Sequence[Any], last: Any, mean_da: Any,
    minimum: Callable[[Any, Any], Any] = min, maximum: Callable[[Any, Any], Any] = max,
) -> IntervalOutcome:
    """One interval for floats or arrays: ``row`` holds the :data:`_STEP_TERMS` of the interval,
    ``last`` is 1 on the day's last interval (terminal value), else 0."""
    x, rt, pen, up_req, down_req, cap_up, cap_down, inv_up, inv_down, da_energy, as_cap, mileage = row
    flows = interval_flows(limits, e_mwh, base_mw, up_req, down_req, minimum, maximum)
    up_short, down_short = up_req - flows.up_mw, down_req - flows.down_mw
    rt_imbalance, no_pay, penalty, degradation = interval_lines(
        battery, limits.dt_h, x, rt, pen, flows.charge_mw, flows.discharge_mw, up_short, down_short,
        cap_up, cap_down, inv_up, inv_down,
    )
    terminal = last * terminal_value(battery, flows.e_next_mwh, mean_da)
    ledger = Ledger(da_energy, rt_imbalance, as_cap, mileage, no_pay, penalty, degradation, terminal)
    return IntervalOutcome(flows.e_next_mwh, flows.charge_mw, flows.discharge_mw, flows.base_mw, up_short, down_short, ledger)


class DaySimulator:
    """Step-wise simulation of one day for the envs: ``step(base_mw)`` per RT interval."""

    def __init__(self, battery: Battery, market: MarketProfile, scenario: Scenario, bid: DABid) -> None:
        self.battery, self.market, self.scenario = battery, market, scenario
        x, r = accept_arrays(bid.energy_mw, bid.as_mw, battery, market)
        self.accepted = DABid(x, r)
        self.cuts = BidCuts(np.abs(bid.energy_mw - x), np.maximum(bid.as_mw, 0.0) - r)
        self.terms = _terms(_single(scenario), x, r, market)
        self._limits = battery.limits(scenario.dt_h)
        self._rows = list(zip(*(getattr(self.terms, f).tolist() for f in _STEP_TERMS)))
        self._mean_da = float(self.terms.mean_da_price)
        self.e_mwh = battery.e_initial_mwh
        self.t = 0

    @property
    def n_intervals(self) -> int:
        return self.scenario.n_intervals

    @property
    def done(self) -> bool:
        return self.t >= self.n_intervals

    def step(self, base_mw: float) -> IntervalOutcome:
        if self.done:
            raise RuntimeError("the day is over; make a new DaySimulator")
        if not math.isfinite(base_mw):
            raise ValueError(f"base_mw at interval {self.t} is {base_mw}; base points must be finite MW")
        last = 1.0 if self.t == self.n_intervals - 1 else 0.0
        out = _advance(self.battery, self._limits, self.e_mwh, float(base_mw), self._rows[self.t], last, self._mean_da)
        self.t += 1
        self.e_mwh = out.e_mwh
        return out


class BatchDaySimulator:
    """Step-wise simulation of N days at once, for the vector envs.

    Built over a bank of S prepared days (their :class:`DayTerms`, arrays (S, T)); each of the N
    rows plays one of them (:meth:`load`) with its own interval index ``t``. The bank is stored
    time-major, so a step reads one contiguous slice and gathers the rows' days from it.
    """

    def __init__(self, battery: Battery, terms: DayTerms, n_envs: int) -> None:
        self.battery, self.n_envs = battery, n_envs
        self.n_intervals = terms.rt_price.shape[-1]
        self._limits = battery.limits(terms.dt_h)
        self._bank = np.ascontiguousarray(np.stack([getattr(terms, f).T for f in _STEP_TERMS]))  # (12, T, S)
        self._bank_mean_da = np.asarray(terms.mean_da_price, dtype=float)
        self.day = np.zeros(n_envs, dtype=np.int64)
        self._mean_da = np.zeros(n_envs)
        self.e_mwh = np.full(n_envs, battery.e_initial_mwh)
        self.t = np.zeros(n_envs, dtype=np.int64)

    def load(self, rows: np.ndarray, days: np.ndarray) -> None:
        """Start bank days ``days`` (k,) in rows ``rows`` (k,)."""
        self.day[rows] = days
        self._mean_da[rows] = self._bank_mean_da[days]
        self.e_mwh[rows] = self.battery.e_initial_mwh
        self.t[rows] = 0

    def at(self, table: np.ndarray) -> np.ndarray:
        """Each row's current-interval entry of a time-major table (T, S, ...) over the bank."""
        t = np.minimum(self.t, self.n_intervals - 1)
        t0 = int(t[0])
        if np.all(t == t0):
            return table[t0].take(self.day, axis=0)
        return table[t, self.day]

    def step(self, base_mw: np.ndarray, active: np.ndarray | None = None) -> IntervalOutcome:
        """Advance the rows by one interval; with ``active`` (bool, (N,)) only those rows move
        (the outcome of the others is meaningless). Rows past their day's end must not be active."""
        t = np.minimum(self.t, self.n_intervals - 1)
        t0 = int(t[0])
        if np.all(t == t0):
            row = self._bank[:, t0].take(self.day, axis=1)
        else:
            row = self._bank[:, t, self.day]
        last = (self.t == self.n_intervals - 1).astype(float)
        out = _advance(self.battery, self._limits, self.e_mwh, base_mw, row, last, self._mean_da, np.minimum, np.maximum)
        if active is None:
            self.e_mwh = out.e_mwh
            self.t += 1
        else:
            self.e_mwh = np.where(active, out.e_mwh, self.e_mwh)
            self.t += active
        return out
