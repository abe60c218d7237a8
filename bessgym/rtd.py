"""Synthetic 5-minute real-time dispatch (RTD) prices from 15-minute (FMM) prices.

No year of real CAISO 5-minute hub prices is shipped, so CAISO's RTD price is modelled as the
FMM price of its 15-minute interval plus a SYNTHETIC 5-minute deviation fitted to real 5-minute
prices of other markets (``data/market/spp_hubs_*_5min.csv.gz``, ``pjm_hubs_*_5min.csv.gz``;
see ``data/PROVENANCE.md``).

The deviation is the within-15-minute residual ``r_j = p_j - mean(p_1, p_2, p_3)`` of the three
5-minute prices ``p_j`` of a 15-minute block. :class:`RTDModel` is a conditional Markov block
bootstrap of real residual triplets ``(r_1, r_2, r_3)``:

* the block's price level (its 15-minute mean; in sampling the FMM price) picks a level bin
  (quantile bins of the fit data's levels, finer in the upper tail): the residual's spread grows
  steeply with the price level;
* within the bin, the triplet is drawn from the real blocks whose predecessor ended in the same
  state class: the quantile class of the previous block's last residual ``r_3`` within its own
  level bin. This carries the real blocks' volatility clustering and the correlation of ``r_3``
  with the next block's ``r_1`` across the 15-minute boundary; a cell without data falls back to
  the whole level bin.

Resampling real triplets keeps the residual's heavy tails (a median ``|r|`` near 1.3 $/MWh
beside a standard deviation near 20 $/MWh) and its within-block autocorrelation exactly. Every
triplet sums to zero, so a sampled RTD block always averages to its FMM price: the model has no
FMM-RTD bias (the data cannot show one: their 15-minute price IS the 5-minute mean).

The fitted model ships as ``data/rtd_model.json``: the bin and class edges, the source, and the
real and model statistics; the triplet library itself is the residuals of the shipped 5-minute
files, re-extracted on load and checked against the JSON (counts and checksum).
``python -m bessgym.rtd --fit`` refits (default: the SPP hubs, 2024) and rewrites the JSON.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bessgym._paths import DATA_DIR

STEPS_PER_BLOCK = 3  # 5-minute intervals per 15-minute interval
STEPS_PER_DAY = 288
LEVEL_QUANTILES: tuple[float, ...] = (0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.96, 0.99, 0.997)
STATE_QUANTILES: tuple[float, ...] = (0.1, 0.9)  # classes of the previous block's r_3: low, middle, high
LEVEL_STAT_EDGES_USD_PER_MWH: tuple[float, ...] = (0.0, 15.0, 25.0, 40.0, 75.0, 150.0)  # for the spread-by-level facts
SOURCES: dict[str, str] = {
    "spp": "spp_hubs_2024-01-01_2024-12-05_5min.csv.gz",
    "pjm": "pjm_hubs_2023-07-01_2023-09-30_5min.csv.gz",
}
Source = Literal["spp", "pjm"]
MODEL_FILE = DATA_DIR / "rtd_model.json"
_CHECKSUM_RTOL = 1e-9


# --- data ----------------------------------------------------------------------------------------

def load_hub_series(source: Source) -> dict[str, np.ndarray]:
    """Each hub's 5-minute RTD prices ($/MWh) in shipped file ``source``, on a contiguous 5-minute
    grid that starts at a 15-minute boundary (UTC); intervals the file lacks are NaN."""
    if source not in SOURCES:
        raise ValueError(f"source {source!r} is unknown; choose one of {sorted(SOURCES)}")
    frame = pd.read_csv(DATA_DIR / "market" / SOURCES[source])
    out = {}
    for hub, rows in frame.groupby("hub", sort=True):
        stamps = pd.DatetimeIndex(pd.to_datetime(rows["interval_start_utc"]))
        grid = pd.date_range(stamps.min().floor("15min"), stamps.max().floor("15min") + pd.Timedelta(minutes=10), freq="5min")
        out[str(hub)] = pd.Series(rows["rtd_lmp"].to_numpy(float), index=stamps).reindex(grid).to_numpy()
    return out


def _series(price_5min: np.ndarray) -> np.ndarray:
    """``price_5min`` as one contiguous 1-D series of whole 15-minute blocks, validated."""
    price = np.asarray(price_5min, dtype=float)
    if price.ndim == 2 and price.shape[1] != STEPS_PER_DAY:
        raise ValueError(f"price_5min has shape {price.shape}; a 2-D array must be (days, {STEPS_PER_DAY}) 5-minute prices")
    if price.ndim not in (1, 2):
        raise ValueError(f"price_5min has {price.ndim} dimensions; allowed: (days, {STEPS_PER_DAY}) or a 1-D series")
    price = price.ravel()
    if price.size == 0 or price.size % STEPS_PER_BLOCK:
        raise ValueError(f"price_5min has {price.size} values; it must hold whole 15-minute blocks "
                         f"(a positive multiple of {STEPS_PER_BLOCK})")
    if np.isinf(price).any():
        raise ValueError("price_5min holds an infinite price; allowed: finite $/MWh, NaN for a missing interval")
    return price


def residual_blocks(price_5min: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The within-15-minute residuals of ``price_5min`` ((days, 288), or 1-D contiguous from a
    15-minute boundary; NaN marks a missing interval).

    Returns ``(level, residual, complete)``: the block means (n_blocks,) $/MWh, the residuals
    ``p_j - mean`` (n_blocks, 3) $/MWh (NaN in incomplete blocks) and the mask of complete blocks.
    """
    blocks = _series(price_5min).reshape(-1, STEPS_PER_BLOCK)
    complete = np.isfinite(blocks).all(axis=1)
    level = blocks.mean(axis=1)
    return level, blocks - level[:, None], complete


# --- statistics ----------------------------------------------------------------------------------

class ResidualStats(BaseModel):
    """Statistics of 5-minute residuals from their 15-minute block mean ($/MWh)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    n_blocks: int = Field(ge=1)
    std_usd_per_mwh: float
    median_abs_usd_per_mwh: float
    share_abs_over_50: float
    lag1_autocorrelation: float
    lag2_autocorrelation: float
    boundary_autocorrelation: float = Field(description="corr(r_3 of a block, r_1 of the next block)")
    block_spread_autocorrelation: float = Field(description="lag-1 autocorrelation of the blocks' mean |r|")
    std_by_level_usd_per_mwh: dict[str, float] = Field(description="residual std by 15-minute price level bin")

    @classmethod
    def of(cls, level: np.ndarray, residual: np.ndarray) -> "ResidualStats":
        """Statistics of ``residual`` (n_blocks, 3), NaN rows = missing blocks (they break the
        lags), with the blocks' price ``level`` (n_blocks,) $/MWh."""
        complete = np.isfinite(residual).all(axis=1)
        flat = np.where(complete[:, None], residual, np.nan).ravel()
        values = flat[np.isfinite(flat)]

        def corr(a: np.ndarray, b: np.ndarray) -> float:
            ok = np.isfinite(a) & np.isfinite(b)
            return float(np.corrcoef(a[ok], b[ok])[0, 1])

        spread = np.where(complete, np.abs(residual).mean(axis=1), np.nan)
        edges = (-np.inf, *LEVEL_STAT_EDGES_USD_PER_MWH, np.inf)
        by_level = {}
        for lo, hi in zip(edges[:-1], edges[1:]):
            inside = complete & (level >= lo) & (level < hi)
            if inside.any():
                by_level[f"[{lo:g}, {hi:g})"] = float(residual[inside].std())
        return cls(
            n_blocks=int(complete.sum()), std_usd_per_mwh=float(values.std()),
            median_abs_usd_per_mwh=float(np.median(np.abs(values))),
            share_abs_over_50=float((np.abs(values) > 50.0).mean()),
            lag1_autocorrelation=corr(flat[:-1], flat[1:]), lag2_autocorrelation=corr(flat[:-2], flat[2:]),
            boundary_autocorrelation=corr(residual[:-1, 2], residual[1:, 0]),
            block_spread_autocorrelation=corr(spread[:-1], spread[1:]), std_by_level_usd_per_mwh=by_level,
        )


# --- the model -----------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class RTDModel:
    """Conditional Markov block bootstrap of real within-15-minute residual triplets.

    ``level_edges_usd_per_mwh`` (n_levels - 1,): inner edges of the price-level bins;
    ``state_edges_usd_per_mwh`` (n_levels, n_states - 1): per level bin, the inner edges of the
    classes of a block's last residual ``r_3``; ``state_probabilities`` (n_states,): the classes'
    shares (the first block's predecessor class is drawn from them); ``triplets_usd_per_mwh``
    (N, 3): the real residual triplets, sorted by cell (level bin, predecessor's class);
    ``triplet_state`` (N,): each triplet's own class of ``r_3``; ``cell_lo``/``cell_hi``
    (n_levels, n_states): each cell's range in the library (the whole level bin for an empty cell).
    """

    level_edges_usd_per_mwh: np.ndarray
    state_edges_usd_per_mwh: np.ndarray
    state_probabilities: np.ndarray
    triplets_usd_per_mwh: np.ndarray
    triplet_state: np.ndarray
    cell_lo: np.ndarray
    cell_hi: np.ndarray
    source: str = "fitted in memory"

    @property
    def n_levels(self) -> int:
        return len(self.level_edges_usd_per_mwh) + 1

    @property
    def n_states(self) -> int:
        return len(self.state_probabilities)

    @property
    def checksum_usd_per_mwh(self) -> float:
        """Sum of ``|r|`` over the library: identifies the data a model was fitted on."""
        return float(np.abs(self.triplets_usd_per_mwh).sum())

    @classmethod
    def fit(cls, price_5min: np.ndarray, source: str = "fitted in memory",
            level_quantiles: tuple[float, ...] = LEVEL_QUANTILES,
            state_quantiles: tuple[float, ...] = STATE_QUANTILES) -> "RTDModel":
        """Fit on real 5-minute prices ``price_5min`` $/MWh: (days, 288) of consecutive days, or a
        1-D contiguous series from a 15-minute boundary; NaN marks a missing interval (its block
        is left out and breaks the chain). Several series: join them with 3 NaN between."""
        level, residual, complete = residual_blocks(price_5min)
        n_levels, n_states = len(level_quantiles) + 1, len(state_quantiles) + 1
        if complete.sum() < 10 * n_levels * n_states:
            raise ValueError(f"price_5min has {int(complete.sum())} complete 15-minute blocks; the fit needs at least "
                             f"{10 * n_levels * n_states}")
        level_edges = np.quantile(level[complete], level_quantiles)
        level_bin = np.digitize(level, level_edges)
        state_edges = np.empty((n_levels, n_states - 1))
        for b in range(n_levels):
            last = residual[complete & (level_bin == b), 2]
            state_edges[b] = np.quantile(last, state_quantiles) if last.size else 0.0
        own_state = (state_edges[level_bin] <= np.nan_to_num(residual[:, 2])[:, None]).sum(axis=1)
        previous = np.r_[n_states, np.where(complete[:-1], own_state[:-1], n_states)]  # n_states: no predecessor
        keep = np.flatnonzero(complete)
        order = keep[np.lexsort((previous[keep], level_bin[keep]))]
        cells = level_bin[order] * (n_states + 1) + previous[order]
        bounds = np.searchsorted(cells, np.arange((n_states + 1) * n_levels + 1))
        lo = bounds[:-1].reshape(n_levels, n_states + 1)
        hi = bounds[1:].reshape(n_levels, n_states + 1)
        bin_lo, bin_hi = lo[:, :1], hi[:, -1:]
        if (bin_hi <= bin_lo).any():
            raise ValueError("price_5min leaves a price-level bin without a complete block; fit on more data")
        empty = hi[:, :n_states] <= lo[:, :n_states]
        cell_lo = np.where(empty, bin_lo, lo[:, :n_states])
        cell_hi = np.where(empty, bin_hi, hi[:, :n_states])
        probabilities = np.diff(np.r_[0.0, state_quantiles, 1.0])
        return cls(level_edges, state_edges, probabilities, residual[order], own_state[order],
                   cell_lo, cell_hi, source)

    def sample(self, fmm_price: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """RTD prices (..., 3 * n_fmm) $/MWh for FMM prices ``fmm_price`` (..., n_fmm) $/MWh: each
        FMM price repeated 3 times plus a residual triplet drawn along the last axis as a Markov
        chain (the leading axes are independent paths). Each RTD block averages to its FMM price.
        Deterministic for the state of ``rng``."""
        fmm = np.asarray(fmm_price, dtype=float)
        if fmm.ndim < 1 or fmm.shape[-1] == 0:
            raise ValueError(f"fmm_price has shape {fmm.shape}; it must be (..., n_fmm) with n_fmm >= 1 15-minute prices")
        if not np.isfinite(fmm).all():
            bad = fmm[~np.isfinite(fmm)].flat[0]
            raise ValueError(f"fmm_price holds {int((~np.isfinite(fmm)).sum())} non-finite value(s) (e.g. {bad}); "
                             "allowed: finite $/MWh")
        if not isinstance(rng, np.random.Generator):
            raise ValueError(f"rng is {type(rng).__name__}; pass a numpy.random.Generator (np.random.default_rng(seed))")
        batch, n_fmm = fmm.shape[:-1], fmm.shape[-1]
        level_bin = np.digitize(fmm, self.level_edges_usd_per_mwh)
        uniform = rng.random((n_fmm, *batch))
        state = rng.choice(self.n_states, size=batch, p=self.state_probabilities)
        deviation = np.empty((*batch, n_fmm, STEPS_PER_BLOCK))
        for k in range(n_fmm):
            b = level_bin[..., k]
            lo, hi = self.cell_lo[b, state], self.cell_hi[b, state]
            pick = lo + np.minimum((uniform[k] * (hi - lo)).astype(np.int64), hi - lo - 1)
            deviation[..., k, :] = self.triplets_usd_per_mwh[pick]
            state = self.triplet_state[pick]
        return (fmm[..., None] + deviation).reshape(*batch, n_fmm * STEPS_PER_BLOCK)

    def record(self) -> dict:
        """The JSON-serialisable parameters (the triplet library is identified by size and checksum)."""
        return {
            "level_edges_usd_per_mwh": self.level_edges_usd_per_mwh.tolist(),
            "state_edges_usd_per_mwh": self.state_edges_usd_per_mwh.tolist(),
            "state_probabilities": self.state_probabilities.tolist(),
            "n_triplets": int(len(self.triplets_usd_per_mwh)),
            "checksum_usd_per_mwh": self.checksum_usd_per_mwh,
        }


# --- the shipped model ---------------------------------------------------------------------------

class _ModelRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    level_edges_usd_per_mwh: list[float] = Field(min_length=1)
    state_edges_usd_per_mwh: list[list[float]] = Field(min_length=2)
    state_probabilities: list[float] = Field(min_length=2)
    n_triplets: int = Field(ge=1)
    checksum_usd_per_mwh: float = Field(ge=0)


class _ModelFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: Source
    file: str
    hubs: list[str] = Field(min_length=1)
    level_quantiles: list[float] = Field(min_length=1)
    state_quantiles: list[float] = Field(min_length=1)
    model: _ModelRecord
    data_stats: ResidualStats
    model_stats: ResidualStats


def source_prices(source: Source) -> tuple[np.ndarray, list[str]]:
    """The hubs of shipped file ``source`` joined into one 1-D 5-minute series (3 NaN between
    hubs) and the hub names."""
    series = load_hub_series(source)
    gap = np.full(STEPS_PER_BLOCK, np.nan)
    return np.concatenate([part for s in series.values() for part in (s, gap)]), list(series)


def fit_source(source: Source = "spp") -> dict:
    """Fit the model on all hubs of shipped file ``source``; the JSON record with the data's and
    the model's statistics (the model sampled on the data's own 15-minute levels, seed 0)."""
    price, hubs = source_prices(source)
    model = RTDModel.fit(price, source=f"{SOURCES[source]} ({', '.join(hubs)})")
    level, residual, complete = residual_blocks(price)
    levels = np.where(complete, level, np.nan)
    sampled = model.sample(np.nan_to_num(levels), np.random.default_rng(0)).reshape(-1, STEPS_PER_BLOCK)
    sampled_residual = np.where(complete[:, None], sampled - np.nan_to_num(levels)[:, None], np.nan)
    return {
        "source": source, "file": SOURCES[source], "hubs": hubs,
        "level_quantiles": list(LEVEL_QUANTILES), "state_quantiles": list(STATE_QUANTILES),
        "model": model.record(),
        "data_stats": ResidualStats.of(level, residual).model_dump(),
        "model_stats": ResidualStats.of(level, sampled_residual).model_dump(),
    }


@lru_cache(maxsize=1)
def _model_file() -> _ModelFile:
    try:
        raw = json.loads(MODEL_FILE.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{MODEL_FILE.name}: cannot be read as JSON ({exc}); rewrite it with "
                         "`python -m bessgym.rtd --fit`") from None
    try:
        return _ModelFile.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"{MODEL_FILE.name} is not a valid RTD model file: {exc}") from None


@lru_cache(maxsize=1)
def load_rtd_model() -> RTDModel:
    """The shipped model (``data/rtd_model.json``): its settings and edges are read from the JSON,
    its triplet library re-extracted from the shipped 5-minute file the JSON names; a ValueError
    if the JSON is malformed or the library differs from the one it was fitted on."""
    record = _model_file()
    price, hubs = source_prices(record.source)
    if hubs != record.hubs:
        raise ValueError(f"{MODEL_FILE.name}: hubs {record.hubs} were fitted, but {record.file} holds {hubs}; "
                         "refit with `python -m bessgym.rtd --fit`")
    model = RTDModel.fit(price, source=f"{record.file} ({', '.join(hubs)})",
                         level_quantiles=tuple(record.level_quantiles), state_quantiles=tuple(record.state_quantiles))
    shipped = record.model
    same = (np.allclose(model.level_edges_usd_per_mwh, shipped.level_edges_usd_per_mwh, rtol=_CHECKSUM_RTOL)
            and np.allclose(model.state_edges_usd_per_mwh, np.array(shipped.state_edges_usd_per_mwh), rtol=_CHECKSUM_RTOL)
            and np.allclose(model.state_probabilities, shipped.state_probabilities)
            and len(model.triplets_usd_per_mwh) == shipped.n_triplets
            and np.isclose(model.checksum_usd_per_mwh, shipped.checksum_usd_per_mwh, rtol=_CHECKSUM_RTOL))
    if not same:
        raise ValueError(f"{MODEL_FILE.name}: field 'model' does not match the triplets of {record.file} "
                         f"({len(model.triplets_usd_per_mwh)} triplets, checksum {model.checksum_usd_per_mwh:.6f}; "
                         f"the JSON says {shipped.n_triplets}, {shipped.checksum_usd_per_mwh:.6f}); "
                         "refit with `python -m bessgym.rtd --fit`")
    return model


def report() -> str:
    """Markdown table: the shipped model's residual statistics beside the data's."""
    record = _model_file()
    data, model = record.data_stats, record.model_stats
    rows = [
        ("complete 15-min blocks", data.n_blocks, model.n_blocks, "d"),
        ("residual std ($/MWh)", data.std_usd_per_mwh, model.std_usd_per_mwh, ".2f"),
        ("median abs residual ($/MWh)", data.median_abs_usd_per_mwh, model.median_abs_usd_per_mwh, ".2f"),
        ("share abs residual > 50 $/MWh", data.share_abs_over_50, model.share_abs_over_50, ".4f"),
        ("lag-1 autocorrelation", data.lag1_autocorrelation, model.lag1_autocorrelation, ".3f"),
        ("lag-2 autocorrelation", data.lag2_autocorrelation, model.lag2_autocorrelation, ".3f"),
        ("corr(r_3, next block's r_1)", data.boundary_autocorrelation, model.boundary_autocorrelation, ".3f"),
        ("lag-1 autocorr. of block mean abs r", data.block_spread_autocorrelation, model.block_spread_autocorrelation, ".3f"),
        *((f"residual std, level {k} $/MWh", v, model.std_by_level_usd_per_mwh.get(k, float("nan")), ".1f")
          for k, v in data.std_by_level_usd_per_mwh.items()),
    ]
    lines = [f"RTD model fitted on {record.file} ({', '.join(record.hubs)})", "",
             "| statistic | data | model |", "|---|---|---|"]
    lines += [f"| {name} | {a:{f}} | {b:{f}} |" for name, a, b, f in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bessgym.rtd", description="the synthetic RTD price model")
    parser.add_argument("--fit", action="store_true", help="refit on the shipped 5-minute file and rewrite data/rtd_model.json")
    parser.add_argument("--source", choices=sorted(SOURCES), default="spp",
                        help="which shipped 5-minute file to fit on (default: spp, the SPP North and South hubs, 2024)")
    args = parser.parse_args()
    if args.fit:
        MODEL_FILE.write_text(json.dumps(fit_source(args.source), indent=2) + "\n")
        _model_file.cache_clear()
        load_rtd_model.cache_clear()
    print(report())
