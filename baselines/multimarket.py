"""The year-long multi-market LP of Dowling, Kumar and Zavala (2017): perfect information over a
year of DA (hourly), FMM (15-minute) and RTD (5-minute) prices in one LP, solved by HiGHS.

This is the paper's own variant (what the issue calls the ``dowling2017`` profile: this module,
not a :class:`~bessgym.market.MarketProfile`), kept for the reproduction
(``benchmarks/dowling.py``); the project's three-settlement model is the day LP of
:mod:`baselines.day_lp` with an FMM layer, which the envs and the oracle use.

* Each layer ``l`` (DA, FMM, RTD) has a gross sale ``sell_l`` and purchase ``buy_l`` (MW >= 0),
  each through the battery with its own loss: in every 5-minute interval
  ``e[t] = e[t-1] + dt (eta_c B_t - S_t / eta_d)``, with ``S_t`` and ``B_t`` the sales and the
  purchases of the layers in force at ``t`` (the hour's DA, the quarter's FMM, the interval's RTD).
* Power: ``S_t + up awards <= P_dis`` and ``B_t + reg down awards <= P_ch``.
* AS awards in DA (hourly) and in the FMM (15-minute, on top of DA's), paid their capacity price;
  never deployed; each interval keeps the SoC to deliver them for one 5-minute interval:
  ``e[t-1] - E_min >= dt up / eta_d`` and ``E_max - e[t-1] >= dt eta_c reg down``.
* The SoC returns to its initial value at the end of every day; no terminal value.
* A virtual position ``v`` per DA hour (``|v| <= virtual_limit_mw``) is sold in DA and bought
  back in the FMM, with no physical flow.
* Wear: ``c_deg`` per MWh of each leg (the paper has none: pass a battery without it).
* No ramp rows: the paper's 50 %/min lets a battery move 2.5 times its power in 5 minutes, more
  than its whole range from full charge to full discharge, so such rows could never bind.

Money goes through :mod:`bessgym.settlement`: the DA position ``x = sell_DA - buy_DA``, the FMM
position ``f = x + sell_FMM - buy_FMM`` and the delivered power ``g = f + sell_RTD - buy_RTD``
settle as the ledger's ``da_energy``, ``fmm_energy`` and ``rt_imbalance`` (each layer the
deviation from the one before), which equals each market's price times its own net sale.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from bessgym.battery import Battery
from bessgym.market import DOWN_INDEX, FMM_INTERVAL_H, HOURS, N_PRODUCTS, RTD_INTERVAL_H, UP_MASK
from bessgym.scenarios import Scenario
from bessgym.settlement import capacity_usd, degradation_line, layer_lines, leg_values, position_lines

from baselines.day_lp import Assembler
from baselines.solver import LinearProgram, SolveResult, new_highs, run, to_highs_lp

Markets = Literal["da", "rt", "da+rt"]
MARKETS: tuple[Markets, ...] = ("da", "rt", "da+rt")
"""Which energy layers the battery trades: DA only, RT only (FMM and RTD), or all three."""
FMM_PER_HOUR, RTD_PER_FMM = 4, 3
LAYERS = ("da", "fmm", "rtd")
LENGTH_H = {"da": 1.0, "fmm": FMM_INTERVAL_H, "rtd": RTD_INTERVAL_H}
"""Each layer's interval, hours."""


@dataclass(frozen=True)
class YearPrices:
    """Days of three-settlement prices, stacked: ``da`` (D, 24), ``fmm`` (D, 96), ``rtd``
    (D, 288) $/MWh; ``as_price`` (D, 24, 4) $/MW-h, the DA AS prices (the FMM's AS awards are
    paid the hour's DA AS price: no real-time AS prices are shipped)."""

    ids: list[str]
    da: np.ndarray
    fmm: np.ndarray
    rtd: np.ndarray
    as_price: np.ndarray

    @classmethod
    def of(cls, days: list[Scenario]) -> "YearPrices":
        missing = [d.id for d in days if d.fmm_price is None or d.n_intervals != 3 * FMM_PER_HOUR * HOURS]
        if missing:
            raise ValueError(f"the multi-market LP needs three-settlement days (FMM prices, 5-minute RTD); not: {missing[:3]}")
        return cls([d.id for d in days], np.stack([d.da_price for d in days]), np.stack([d.fmm_price for d in days]),
                   np.stack([d.rt_price for d in days]), np.stack([d.as_price for d in days]))

    @property
    def n_days(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class Mode:
    """What the battery may trade: energy ``markets``, AS (``with_as``), virtual bids up to
    ``virtual_limit_mw`` (0: none)."""

    markets: Markets = "da+rt"
    with_as: bool = True
    virtual_limit_mw: float = 0.0

    def __post_init__(self) -> None:
        if self.markets not in MARKETS:
            raise ValueError(f"markets must be one of {list(MARKETS)}, got {self.markets!r}")
        if not self.virtual_limit_mw >= 0:
            raise ValueError(f"virtual_limit_mw must be >= 0 MW, got {self.virtual_limit_mw}")

    @property
    def name(self) -> str:
        text = {"da": "DA only", "rt": "RT only", "da+rt": "DA+RT"}[self.markets]
        text += ", energy + AS" if self.with_as else ", energy only"
        return text + (f", virtual {self.virtual_limit_mw:g} MW" if self.virtual_limit_mw else "")


@dataclass
class YearResult:
    """A solved year: revenue lines ($ over the year, by :mod:`bessgym.settlement`), MWh sold and
    bought per layer, the LP's size and its solve."""

    mode: Mode
    lines: dict[str, float]
    sold_mwh: dict[str, float]
    bought_mwh: dict[str, float]
    n_rows: int
    n_cols: int
    result: SolveResult
    build_s: float
    e_mwh: np.ndarray = field(repr=False)

    @property
    def revenue_usd(self) -> float:
        return float(sum(self.lines.values()))


@dataclass
class YearModel:
    """The built LP with its column blocks by name."""

    lp: LinearProgram
    cols: dict[str, np.ndarray]


def build_year(battery: Battery, prices: YearPrices, mode: Mode) -> YearModel:
    """The ``dowling2017`` LP over ``prices`` for ``mode`` (see the module docstring)."""
    d = prices.n_days
    n_h, n_q, n_t = d * HOURS, d * HOURS * FMM_PER_HOUR, d * HOURS * FMM_PER_HOUR * RTD_PER_FMM
    dt = RTD_INTERVAL_H
    eta_c, eta_d = battery.eta_charge, battery.eta_discharge
    p_ch, p_dis = battery.p_charge_mw, battery.p_discharge_mw
    trade = {"da": mode.markets in ("da", "da+rt"), "fmm": mode.markets in ("rt", "da+rt"), "rtd": mode.markets in ("rt", "da+rt")}
    as_layers = {"da": mode.with_as and trade["da"], "fmm": mode.with_as and trade["fmm"]}
    sizes = {"da": n_h, "fmm": n_q, "rtd": n_t}
    price = {"da": prices.da.ravel(), "fmm": prices.fmm.ravel(), "rtd": prices.rtd.ravel()}
    t_all = np.arange(n_t)
    of_t = {"da": t_all // (FMM_PER_HOUR * RTD_PER_FMM), "fmm": t_all // RTD_PER_FMM, "rtd": t_all}
    as_hourly = prices.as_price.reshape(n_h, N_PRODUCTS)

    m = Assembler()
    sell, buy, award = {}, {}, {}
    for layer in LAYERS:
        on = 1.0 if trade[layer] else 0.0
        sale_value, purchase_value = leg_values(battery, price[layer], LENGTH_H[layer])  # the ledger's, per MW
        sell[layer] = m.add_cols(f"sell_{layer}", sizes[layer], 0.0, on * p_dis, sale_value)
        buy[layer] = m.add_cols(f"buy_{layer}", sizes[layer], 0.0, on * p_ch, purchase_value)
    for layer, hour_of in (("da", np.arange(n_h)), ("fmm", np.arange(n_q) // FMM_PER_HOUR)):
        upper = np.inf if as_layers[layer] else 0.0
        cost = capacity_usd(as_hourly[hour_of], 1.0, LENGTH_H[layer])
        award[layer] = m.add_cols(f"as_{layer}", sizes[layer] * N_PRODUCTS, 0.0, upper, cost.ravel()).reshape(-1, N_PRODUCTS)
    spread = (np.repeat(prices.da.ravel(), FMM_PER_HOUR) - prices.fmm.ravel()).reshape(n_h, FMM_PER_HOUR).sum(1) * FMM_INTERVAL_H
    m.add_cols("virtual", n_h, -mode.virtual_limit_mw, mode.virtual_limit_mw, spread)
    e_upper = np.full(n_t, battery.e_max_mwh)
    e_lower = np.full(n_t, battery.e_min_mwh)
    last = np.arange(1, d + 1) * HOURS * FMM_PER_HOUR * RTD_PER_FMM - 1
    e_lower[last] = e_upper[last] = battery.e_initial_mwh  # back to the start at each day's end
    e = m.add_cols("e", n_t, e_lower, e_upper)

    first = t_all % (HOURS * FMM_PER_HOUR * RTD_PER_FMM) == 0
    later = t_all[~first]
    start = np.where(first, battery.e_initial_mwh, 0.0)  # the SoC an interval starts from, where a constant
    before = (later, e[later - 1], 1.0)
    legs_s = [(t_all, sell[layer][of_t[layer]], 1.0) for layer in LAYERS]
    legs_b = [(t_all, buy[layer][of_t[layer]], 1.0) for layer in LAYERS]
    as_of = {"da": of_t["da"], "fmm": of_t["fmm"]}
    up = [(t_all, award[layer][as_of[layer], a], 1.0) for layer in as_of for a in np.flatnonzero(UP_MASK)]
    down = [(t_all, award[layer][as_of[layer], DOWN_INDEX], 1.0) for layer in as_of]
    soc = [(t_all, e, 1.0), (later, e[later - 1], -1.0)]
    soc += [(rows, cols, val * dt / eta_d) for rows, cols, val in legs_s]
    soc += [(rows, cols, -val * dt * eta_c) for rows, cols, val in legs_b]
    m.add_rows("soc", n_t, soc, start, start)
    m.add_rows("power_up", n_t, [*legs_s, *up], -np.inf, p_dis)
    m.add_rows("power_down", n_t, [*legs_b, *down], -np.inf, p_ch)
    if mode.with_as:
        m.add_rows("reserve_up", n_t, [before, *[(r, c, -v * dt / eta_d) for r, c, v in up]],
                   battery.e_min_mwh - start, np.inf)
        m.add_rows("reserve_down", n_t, [before, *[(r, c, v * dt * eta_c) for r, c, v in down]],
                   -np.inf, battery.e_max_mwh - start)
    return YearModel(m.build(0.0), m.cols)


def solve_year(battery: Battery, prices: YearPrices, mode: Mode, threads: int = 2, method: str = "ipm",
               time_limit_s: float = 600.0) -> YearResult:
    """Build and solve the year for ``mode``; RuntimeError with the solver's messages unless it
    ends optimal. The revenue lines are the solution settled by :mod:`bessgym.settlement`."""
    start = time.perf_counter()
    model = build_year(battery, prices, mode)
    built = time.perf_counter() - start
    h = new_highs(time_limit_s, threads=threads, method=method)
    if method == "ipm":
        h.setOptionValue("run_crossover", "on")
    h.passModel(to_highs_lp(model.lp))
    result = run(h, f"highs-{method}")
    if not result.status.ok:
        raise RuntimeError(f"the year LP ({mode.name}) ended {result.status.value}: {result.messages}")
    return _settle(battery, prices, mode, model, result, built)


def _settle(battery: Battery, prices: YearPrices, mode: Mode, model: YearModel, result: SolveResult, built: float) -> YearResult:
    """The year's ledger from the LP's solution (see the module docstring)."""
    z, cols = result.z, model.cols
    net = {layer: z[cols[f"sell_{layer}"]] - z[cols[f"buy_{layer}"]] for layer in LAYERS}
    per_hour = FMM_PER_HOUR * RTD_PER_FMM
    x = np.repeat(net["da"], per_hour)
    f = x + np.repeat(net["fmm"], RTD_PER_FMM)
    g = f + net["rtd"]
    dt = RTD_INTERVAL_H
    fmm_t = np.repeat(prices.fmm.ravel(), RTD_PER_FMM)
    fmm_energy, rt_imbalance = layer_lines(x, f, g, fmm_t, prices.rtd.ravel(), dt)
    as_hourly = prices.as_price.reshape(-1, N_PRODUCTS)
    awards = {layer: z[cols[f"as_{layer}"]].reshape(-1, N_PRODUCTS) for layer in ("da", "fmm")}
    sold = {layer: float(z[cols[f"sell_{layer}"]].sum() * LENGTH_H[layer]) for layer in LAYERS}
    bought = {layer: float(z[cols[f"buy_{layer}"]].sum() * LENGTH_H[layer]) for layer in LAYERS}
    da_energy, virtual = position_lines(np.repeat(prices.da.ravel(), per_hour), fmm_t, x,
                                        np.repeat(z[cols["virtual"]], per_hour), dt)
    lines = {
        "da_energy": float(da_energy.sum()),
        "fmm_energy": float(fmm_energy.sum()),
        "rt_imbalance": float(rt_imbalance.sum()),
        "virtual": float(virtual.sum()),
        "as_da": float(capacity_usd(as_hourly, awards["da"], 1.0).sum()),
        "as_fmm": float(capacity_usd(np.repeat(as_hourly, FMM_PER_HOUR, axis=0), awards["fmm"], FMM_INTERVAL_H).sum()),
        "degradation": float(degradation_line(battery, sum(sold.values()) + sum(bought.values()), 1.0)),  # MWh over 1 h
    }
    n_rows, n_cols = model.lp.A.shape
    return YearResult(mode, lines, sold, bought, n_rows, n_cols, result, built, z[cols["e"]])
