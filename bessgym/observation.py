"""Observation features of the envs: named, scaled, bounded.

Energy prices are in units of 100 $/MWh and AS prices in units of 10 $/MW-h, clipped to the
market profile's floor and hard cap; powers are fractions of ``p_scale = max(P_ch, P_dis)``.

RealTime (one row per RT interval; only ``soc`` changes with the agent's actions, so a whole
day's table is built once at reset and the SoC filled in each step). The row of interval t holds
no RT price of t or later: the base point for t is decided before t's price is known (DESIGN 1.7;
the bid-curve action is how a policy responds to the price of t itself):

| # | name | meaning | range |
|---|---|---|---|
| 0 | time_of_day | share of the day elapsed at the interval start | [0, 1] |
| 1 | soc | state of charge, fraction of the energy capacity | [0, 1] |
| 2 | da_position | this hour's DA energy position / p_scale (+ = sell) | [-1, 1] |
| 3-6 | award_reg_up .. award_nonspin | this hour's AS awards / p_scale | [0, 2] |
| 7 | rt_price_prev | RT price of the previous interval (hour 0's DA price at t = 0) | price |
| 8 | rt_price_last_hour | mean RT price of the last hour's intervals (hour 0's DA price for those before the day) | price |
| 9 | da_price | this hour's DA price | price |
| 10 | forecast_next_hour | gate-closure RT forecast, mean over the next hour from t | price |
| 11-13 | forecast_rest_mean / _max / _min | gate-closure RT forecast over the rest of the day | price |
| 14-17 | deployed_reg_up .. deployed_nonspin | deployment fraction of the previous interval | [0, 1] |
| 18 | intervals_left | share of the day still to run | [0, 1] |
| 19 | price_deviation_prev | RT price of the previous interval minus its intraday prior (0 at t = 0) | price difference |
| 20 | intraday_next_hour | intraday forecast given prices up to t - 1, mean over the next hour from t | price |
| 21 | intraday_rest_mean | the same forecast, mean over the rest of the day | price |
| 22 | soc_vs_plan | soc minus the SoC the DA schedule plans at the interval start | [-1, 1] |
| 23 | headroom_up | SoC above the floor minus what the up awards need for their durations (fraction of E; < 0: not all backed) | [-3, 1] |
| 24 | headroom_down | room below the ceiling minus what the reg-down award needs | [-3, 1] |

Features 19-21 are the intraday forecast the re-planning baselines plan on
(:class:`bessgym.intraday.IntradayForecaster`, the market's shipped fit); 22-24 move with the SoC:
the table holds their part that does not (the plan, the needs), and :func:`set_soc` adds the SoC,
the one way an observation row is completed (envs, vector envs, the leaderboard's loop).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from bessgym.battery import Battery
from bessgym.forecast import DAContext
from bessgym.market import HOURS, N_PRODUCTS, PRODUCTS, UP_MASK, MarketProfile, backing_mwh_per_mw, planned_energy

if TYPE_CHECKING:
    from bessgym.intraday import IntradayForecaster

PRICE_SCALE_USD_PER_MWH = 100.0
AS_PRICE_SCALE_USD_PER_MW_H = 10.0

RT_FEATURES: tuple[str, ...] = (
    "time_of_day", "soc", "da_position", *(f"award_{p}" for p in PRODUCTS),
    "rt_price_prev", "rt_price_last_hour", "da_price",
    "forecast_next_hour", "forecast_rest_mean", "forecast_rest_max", "forecast_rest_min",
    *(f"deployed_{p}" for p in PRODUCTS), "intervals_left",
    "price_deviation_prev", "intraday_next_hour", "intraday_rest_mean",
    "soc_vs_plan", "headroom_up", "headroom_down",
)
RT_INDEX = {name: i for i, name in enumerate(RT_FEATURES)}
TIME_OF_DAY = RT_INDEX["time_of_day"]
INTERVALS_LEFT = RT_INDEX["intervals_left"]
SOC = RT_INDEX["soc"]
DA_POSITION = RT_INDEX["da_position"]
_PRICES = slice(RT_INDEX["rt_price_prev"], RT_INDEX["forecast_rest_min"] + 1)
DEPLOYED = slice(RT_INDEX["deployed_reg_up"], RT_INDEX["deployed_nonspin"] + 1)
_INTRADAY = slice(RT_INDEX["intraday_next_hour"], RT_INDEX["intraday_rest_mean"] + 1)
SOC_VS_PLAN, HEADROOM_UP, HEADROOM_DOWN = RT_INDEX["soc_vs_plan"], RT_INDEX["headroom_up"], RT_INDEX["headroom_down"]


def p_scale(battery: Battery) -> float:
    return max(battery.p_charge_mw, battery.p_discharge_mw)


def _price_bounds(market: MarketProfile) -> tuple[float, float]:
    return (
        market.price_floor_usd_per_mwh / PRICE_SCALE_USD_PER_MWH,
        market.price_cap_hard_usd_per_mwh / PRICE_SCALE_USD_PER_MWH,
    )


def rt_bounds(market: MarketProfile) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of the RealTime observation."""
    low = np.zeros(len(RT_FEATURES), dtype=np.float32)
    high = np.ones(len(RT_FEATURES), dtype=np.float32)
    low[DA_POSITION] = -1.0
    high[RT_INDEX["award_reg_up"] : RT_INDEX["award_nonspin"] + 1] = 2.0
    low[_PRICES], high[_PRICES] = _price_bounds(market)
    low[_INTRADAY], high[_INTRADAY] = _price_bounds(market)
    lo, hi = _price_bounds(market)
    deviation = RT_INDEX["price_deviation_prev"]
    low[deviation], high[deviation] = lo - hi, hi - lo
    low[[SOC_VS_PLAN, HEADROOM_UP, HEADROOM_DOWN]] = [-1.0, -3.0, -3.0]
    return low, high


FMM_FEATURES: tuple[str, ...] = ("fmm_position", "fmm_price_last", "fmm_step")
"""What ThreeSettlement-v0 adds to the RealTime row: the FMM position in force / p_scale (the FMM
interval's own once set at its first RTD step, before that the last one set, and the DA position
before the first), the latest cleared FMM price (this hour's DA price before the first clears),
and the RTD step within the FMM interval / the interval's RTD steps (0: this step sets the FMM
position, before the FMM price of the interval is known)."""


def fmm_bounds(market: MarketProfile) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of :data:`FMM_FEATURES`."""
    lo, hi = _price_bounds(market)
    return np.array([-1.0, lo, 0.0], np.float32), np.array([1.0, hi, 1.0], np.float32)


def fmm_features(t: int, n: int, steps: int, fmm_mw: float, position_mw: float, da_price_usd_per_mwh: float,
                 fmm_price: np.ndarray, battery: Battery, market: MarketProfile) -> np.ndarray:
    """The :data:`FMM_FEATURES` (float32, clipped to :func:`fmm_bounds`) of interval ``t`` of a
    day of ``n`` RTD intervals, ``steps`` to an FMM interval (``t = n``: after the last one):
    ``fmm_mw`` the FMM position in force in interval ``t - 1``, ``fmm_price`` the day's FMM prices;
    at ``t = 0`` the DA position ``position_mw`` and price ``da_price_usd_per_mwh`` of the first
    hour stand in."""
    step = steps - 1 if t >= n else t % steps
    position, price = (position_mw, da_price_usd_per_mwh) if t == 0 else (fmm_mw, float(fmm_price[(t - 1) // steps]))
    return _scaled_fmm(np.array(position), np.array(price), np.array(step / steps), battery, market)


def fmm_feature_table(position_mw: np.ndarray, da_price: np.ndarray, fmm_price: np.ndarray, battery: Battery,
                      market: MarketProfile) -> np.ndarray:
    """:func:`fmm_features` of every interval of days whose FMM holds the DA position (a
    RealTime-v0 day): (T + 1, S, 3) from the DA positions by interval ``position_mw`` (S, T),
    the DA prices ``da_price`` (S, 24) and the FMM prices ``fmm_price`` (S, F)."""
    n, f = position_mw.shape[-1], fmm_price.shape[-1]
    steps = n // f
    t = np.arange(n + 1)
    step = np.where(t >= n, steps - 1, t % steps) / steps
    position = np.concatenate([position_mw[:, :1], position_mw], axis=1)  # in force in t - 1 (t = 0: the first)
    price = np.concatenate([da_price[:, :1], fmm_price[:, (t[1:] - 1) // steps]], axis=1)
    return _scaled_fmm(position.T, price.T, np.broadcast_to(step[:, None], position.T.shape), battery, market)


def _scaled_fmm(position_mw: np.ndarray, price: np.ndarray, step_share: np.ndarray, battery: Battery,
                market: MarketProfile) -> np.ndarray:
    """Stack the FMM features (..., 3) in their units, clipped to :func:`fmm_bounds`."""
    row = np.stack([position_mw / p_scale(battery), price / PRICE_SCALE_USD_PER_MWH, step_share], axis=-1).astype(np.float32)
    return np.clip(row, *fmm_bounds(market))


def set_soc(obs: np.ndarray, soc_frac: Any) -> np.ndarray:
    """Complete observation rows (..., F) of the feature table (their ``soc`` at 0, in place) with
    the SoC (fraction, a float or (...,)); returns ``obs``. Call once per row copied from the
    table: the SoC-linked features are the table's part plus (or minus) the SoC."""
    # in the rows' own precision, one row or a batch alike; a row by plain item access (the
    # scalar env's hot path), a batch column by column (no gather and scatter)
    if obs.ndim == 1:
        soc = obs.dtype.type(soc_frac)
        obs[SOC] = soc
        obs[SOC_VS_PLAN] += soc
        obs[HEADROOM_UP] += soc
        obs[HEADROOM_DOWN] -= soc
        return obs
    soc = np.asarray(soc_frac, dtype=obs.dtype)
    obs[..., SOC] = soc
    obs[..., SOC_VS_PLAN] += soc
    obs[..., HEADROOM_UP] += soc
    obs[..., HEADROOM_DOWN] -= soc
    return obs


def rt_feature_table(
    battery: Battery,
    market: MarketProfile,
    rt_price: np.ndarray,
    da_price: np.ndarray,
    fraction: np.ndarray,
    energy_mw: np.ndarray,
    as_mw: np.ndarray,
    forecast_rt: np.ndarray,
    intraday: IntradayForecaster,
) -> np.ndarray:
    """The day's RealTime observations (..., T, F) float32 with ``soc`` left at 0 (fill it with
    :func:`set_soc`).

    Inputs with an optional leading batch axis: ``rt_price`` (T,), ``da_price`` (24,),
    ``fraction`` (T, 4), accepted ``energy_mw`` (24,) and ``as_mw`` (24, 4), ``forecast_rt`` (T,);
    ``intraday`` the forecaster of features 19-21.
    """
    n = rt_price.shape[-1]
    per_hour = n // HOURS
    lead = rt_price.shape[:-1]
    scale = p_scale(battery)
    table = np.zeros(lead + (n, len(RT_FEATURES)))
    t = np.arange(n)
    table[..., 0] = t / n
    table[..., DA_POSITION] = np.repeat(energy_mw, per_hour, axis=-1) / scale
    table[..., 3 : 3 + N_PRODUCTS] = np.repeat(as_mw, per_hour, axis=-2) / scale
    da = np.repeat(da_price, per_hour, axis=-1)
    column = RT_INDEX
    table[..., column["rt_price_prev"]] = np.concatenate([da[..., :1], rt_price[..., :-1]], axis=-1)
    past = np.concatenate([np.repeat(da[..., :1], per_hour, axis=-1), rt_price], axis=-1)
    cumulative = np.cumsum(past, axis=-1)
    table[..., column["rt_price_last_hour"]] = (cumulative[..., per_hour - 1 : -1] - np.concatenate(
        [np.zeros(lead + (1,)), cumulative[..., : n - 1]], axis=-1)) / per_hour
    table[..., column["da_price"]] = da
    table[..., column["forecast_next_hour"]] = window_means(forecast_rt, per_hour)
    table[..., column["forecast_rest_mean"]] = rest_means(forecast_rt)
    table[..., column["forecast_rest_max"]] = np.maximum.accumulate(forecast_rt[..., ::-1], axis=-1)[..., ::-1]
    table[..., column["forecast_rest_min"]] = np.minimum.accumulate(forecast_rt[..., ::-1], axis=-1)[..., ::-1]
    set_deployed(table, fraction)
    table[..., column["intervals_left"]] = (n - t) / n
    _intraday_columns(table, intraday, rt_price, da_price, forecast_rt)
    _soc_offsets(table, battery, market, energy_mw, as_mw)
    table[..., _PRICES] /= PRICE_SCALE_USD_PER_MWH
    table[..., column["price_deviation_prev"]] /= PRICE_SCALE_USD_PER_MWH
    table[..., _INTRADAY] /= PRICE_SCALE_USD_PER_MWH
    low, high = rt_bounds(market)
    return np.clip(table, low, high).astype(np.float32)


def window_means(path: np.ndarray, width: int) -> np.ndarray:
    """The mean of ``path[..., t : t + width]`` for every t (the last value repeated past the end)."""
    n = path.shape[-1]
    padded = np.concatenate([path, np.repeat(path[..., -1:], width, axis=-1)], axis=-1)
    ahead = np.cumsum(padded[..., ::-1], axis=-1)[..., ::-1]
    return (ahead[..., :n] - ahead[..., width : width + n]) / width


def rest_means(path: np.ndarray) -> np.ndarray:
    """The mean of ``path[..., t:]`` for every t."""
    n = path.shape[-1]
    return np.cumsum(path[..., ::-1], axis=-1)[..., ::-1] / (n - np.arange(n))


def _intraday_columns(table: np.ndarray, intraday: IntradayForecaster, rt_price: np.ndarray, da_price: np.ndarray,
                      forecast_rt: np.ndarray) -> None:
    """Features 19-21 ($/MWh): :meth:`IntradayForecaster.day_means` of the day's prices."""
    n = rt_price.shape[-1]
    prior = intraday.prior_of(da_price, forecast_rt)
    deviation, next_hour, rest = intraday.day_means(prior, rt_price, HOURS / n, n // HOURS)
    table[..., RT_INDEX["price_deviation_prev"]] = deviation
    table[..., RT_INDEX["intraday_next_hour"]] = next_hour
    table[..., RT_INDEX["intraday_rest_mean"]] = rest


def _soc_offsets(table: np.ndarray, battery: Battery, market: MarketProfile, energy_mw: np.ndarray,
                 as_mw: np.ndarray) -> None:
    """The SoC-free part of features 22-24 (fractions of E): minus the planned SoC at each
    interval start (linear within the hour), the up needs plus the floor (negated) and the
    ceiling minus the down need (:func:`bessgym.market.backing_mwh_per_mw`)."""
    n = table.shape[-2]
    per_hour = n // HOURS
    e = planned_energy(battery, energy_mw) / battery.energy_mwh  # (..., 25)
    within = (np.arange(n) % per_hour) / per_hour
    hour = np.arange(n) // per_hour
    plan = e[..., hour] + (e[..., hour + 1] - e[..., hour]) * within
    need = np.repeat(as_mw * backing_mwh_per_mw(battery, market), per_hour, axis=-2) / battery.energy_mwh  # (..., T, 4)
    table[..., RT_INDEX["soc_vs_plan"]] = -plan
    table[..., RT_INDEX["headroom_up"]] = -battery.soc_min_frac - need[..., UP_MASK].sum(-1)
    table[..., RT_INDEX["headroom_down"]] = battery.soc_max_frac - need[..., ~UP_MASK].sum(-1)


def set_deployed(table: np.ndarray, fraction: np.ndarray) -> None:
    """Write the previous interval's deployment (fractions (..., T, 4)) into a feature table
    (..., T, F): zeros in the first interval."""
    table[..., 0, DEPLOYED] = 0.0
    table[..., 1:, DEPLOYED] = fraction[..., :-1, :]


def da_feature_names() -> tuple[str, ...]:
    """Names of the DayAhead observation (see :func:`da_features`)."""
    return (
        *(f"forecast_da_h{h:02d}" for h in range(HOURS)),
        *(f"forecast_rt_h{h:02d}" for h in range(HOURS)),
        *(f"forecast_{p}_h{h:02d}" for h in range(HOURS) for p in PRODUCTS),
        *(f"spread_rt_h{h:02d}" for h in range(HOURS)),
        "day_of_year_sin", "day_of_year_cos", "day_of_week_sin", "day_of_week_cos",
        "soc_initial",
    )


DA_FEATURES = da_feature_names()


def da_bounds(market: MarketProfile) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of the DayAhead observation."""
    lo, hi = _price_bounds(market)
    as_hi = market.price_cap_hard_usd_per_mwh / AS_PRICE_SCALE_USD_PER_MW_H
    low = np.concatenate([np.full(48, lo), np.zeros(96), np.zeros(24), -np.ones(4), [0.0]])
    high = np.concatenate([np.full(48, hi), np.full(96, as_hi), np.full(24, hi - lo), np.ones(5)])
    return low.astype(np.float32), high.astype(np.float32)


def da_features(ctx: DAContext) -> np.ndarray:
    """The DayAhead observation of a gate-closure context (float32, clipped to its bounds).

    Forecast DA price (24) and hourly-mean RT price (24) in 100 $/MWh, forecast AS prices (24 x 4,
    hour-major) in 10 $/MW-h, the ensemble's hourly RT standard deviation (24) in 100 $/MWh, the
    day of the year and of the week as sine/cosine, and the initial SoC fraction.
    """
    per_hour = ctx.n_intervals // HOURS
    rt_hourly = ctx.rt_scenarios.reshape(len(ctx.rt_scenarios), HOURS, per_hour).mean(-1)
    day = ctx.date.timetuple().tm_yday / 365.25 * 2 * np.pi
    week = ctx.date.weekday() / 7 * 2 * np.pi
    vector = np.concatenate([
        ctx.da_price / PRICE_SCALE_USD_PER_MWH,
        rt_hourly.mean(0) / PRICE_SCALE_USD_PER_MWH,
        ctx.as_price.ravel() / AS_PRICE_SCALE_USD_PER_MW_H,
        rt_hourly.std(0) / PRICE_SCALE_USD_PER_MWH,
        [np.sin(day), np.cos(day), np.sin(week), np.cos(week), ctx.battery.soc_initial_frac],
    ])
    low, high = da_bounds(ctx.market)
    return np.clip(vector, low, high).astype(np.float32)
