"""Scenarios: one operating day of one node, the data they come from, and the splits.

A :class:`History` holds the contiguous local days of one node as arrays (NaN where data is
missing); :func:`read_long_csv` builds one from any CSV in the long schema; the shipped CAISO
and ERCOT files use the same reader. A :class:`ScenarioSet` turns a config into split lists of
stable ids (``caiso-SP15-2024-04-17``) and :class:`Scenario` objects, each with its deployment
drawn from the deployment model with the scenario's own seed.

Days with missing RT or DA data, with a daylight-saving change (23 or 25 hours), only partly
covered by the file's rows, or missing from the file altogether, are skipped and counted by
reason, never filled. A file that cannot be trusted (unknown
columns, blank timestamps, conflicting repeats, AS prices missing where DA prices are given,
implausible prices) is refused with a :class:`DataError`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import lzma
import math
import zipfile
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from bessgym.config import Config, ConfigLike, DataConfig, did_you_mean, load_config
from bessgym.deployment import Deployment, draw_deployment
from bessgym.market import HOURS, N_PRODUCTS, MarketProfile

REQUIRED_COLUMNS = ("interval_start_utc", "hub", "da_lmp", "rt_lmp")
LAYER_COLUMNS = ("fmm_lmp", "rtd_lmp")
"""Three settlements' RT layers: 5-minute rows with the RTD price and the FMM price of their
15-minute interval (repeated), in place of ``rt_lmp``."""
AS_COLUMNS = ("as_regup", "as_regdown", "as_spin", "as_nonspin")
MILEAGE_COLUMNS = ("as_reg_mileage_up", "as_reg_mileage_down")
COLUMNS = REQUIRED_COLUMNS + LAYER_COLUMNS + AS_COLUMNS + MILEAGE_COLUMNS
SCHEMA_HELP = (
    "the long schema has one row per interval and node: interval_start_utc (naive UTC, interval "
    "start), hub, da_lmp and rt_lmp ($/MWh) (or, for three settlements, 5-minute rows with rtd_lmp and "
    "optionally fmm_lmp, the FMM price of their 15-minute interval, in place of rt_lmp), and optionally "
    "as_regup, as_regdown, as_spin, as_nonspin ($/MW-h) and as_reg_mileage_up, as_reg_mileage_down ($/MW of mileage)"
)
FMM_PER_DAY = 96  # 15-minute FMM intervals in a day
OOD_SPLIT = "test_ood"
MISSING_DAY = "missing_day"  # a day between the file's first and last that it has no row for
PARTIAL_DAY = "partial_day"  # a day with no row for some of its intervals (cut by the file's start or end, or a gap)
SKIP_REASONS = ("dst", "missing_rt", "missing_da", PARTIAL_DAY, MISSING_DAY)  # why a day of the file is not usable
PRICE_BAND_SPREADS = 10.0  # plausible prices: a profile's [floor, hard cap] widened by this many spreads


class DataError(ValueError):
    """A data file that does not fit the long schema; the message names file, column and value."""


@dataclass(frozen=True)
class History:
    """Contiguous local days ``start, start+1, ...`` of one node.

    Arrays have the day as first axis: ``da`` (D, 24) $/MWh, ``rt`` (D, T) $/MWh, ``as_price``
    (D, 24, 4) $/MW-h in PRODUCTS order, ``mileage_price`` (D, 24, 2) $/MW. ``usable`` marks days
    with complete DA and RT and 24 hours; ``reasons`` (D,) says why each other day is skipped
    (one of :data:`SKIP_REASONS`; ``""`` for a usable day). With three settlements ``fmm`` (D, 96)
    holds the FMM's prices and ``rt`` the RTD's; ``rtd_synthetic`` says the RTD prices were drawn
    from :mod:`bessgym.rtd` (the data had only 15-minute prices), not read.
    """

    node: str
    start: dt.date
    dt_h: float
    da: np.ndarray
    rt: np.ndarray
    as_price: np.ndarray
    mileage_price: np.ndarray
    usable: np.ndarray
    reasons: np.ndarray
    fmm: np.ndarray | None = None
    rtd_synthetic: bool = False

    @property
    def skipped(self) -> dict[str, int]:
        """Days from the file's first to its last that are skipped, by reason."""
        return {reason: int((self.reasons == reason).sum()) for reason in SKIP_REASONS}

    @property
    def n_days(self) -> int:
        return len(self.usable)

    @property
    def intervals_per_day(self) -> int:
        return self.rt.shape[1]

    def date(self, index: int) -> dt.date:
        return self.start + dt.timedelta(days=int(index))

    def index(self, day: dt.date) -> int:
        i = (day - self.start).days
        if not 0 <= i < self.n_days:
            raise KeyError(f"{day} is outside the data ({self.start} .. {self.date(self.n_days - 1)})")
        return i


def read_long_csv(
    path: str | Path, node: str, timezone: str, price_band: tuple[float, float] = (-math.inf, math.inf)
) -> History:
    """Read one node of a long-schema CSV (optionally gzipped) into a :class:`History`. Prices
    ($/MWh, AS $/MW-h) outside ``price_band`` (see :func:`plausible_prices`), or infinite, are refused."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file {str(path)!r} does not exist")
    header = _read_csv(path, nrows=0).columns
    unknown = [f"{c!r}{did_you_mean(c, COLUMNS)}" for c in header if c not in COLUMNS]
    if unknown:
        raise DataError(f"{path.name}: unknown column(s) {', '.join(unknown)}; {SCHEMA_HELP}")
    layers = "rtd_lmp" in header
    if layers and "rt_lmp" in header:
        raise DataError(f"{path.name}: has both rt_lmp and rtd_lmp; give rt_lmp (two settlements) or rtd_lmp with "
                        "fmm_lmp (three), not both")
    if "fmm_lmp" in header and not layers:
        raise DataError(f"{path.name}: column 'fmm_lmp' needs 'rtd_lmp' (the 5-minute prices the FMM's 15-minute "
                        f"intervals are settled against); found {list(header)}")
    required = [c for c in REQUIRED_COLUMNS if not (layers and c == "rt_lmp")]
    missing = [c for c in required if c not in header]
    if missing:
        raise DataError(f"{path.name}: missing required column(s) {missing}; found {list(header)}; {SCHEMA_HELP}")
    frame = _read_csv(path, dtype={"hub": str})  # a hub is a name, "007" not 7
    _refuse_blank(path.name, frame["hub"])
    nodes = frame["hub"].astype(str)
    if node not in set(nodes):
        raise DataError(f"{path.name}: node {node!r} is not in column 'hub'; available: {sorted(set(nodes))}")
    frame = frame[nodes == node]
    for column in frame.columns.drop("hub"):
        if column == "interval_start_utc":
            continue
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() & frame[column].notna()
        if bad.any():
            raise DataError(f"{path.name}: column {column!r} has a non-numeric value {frame[column][bad].iloc[0]!r}")
        frame[column] = values
    try:
        stamps = pd.to_datetime(frame["interval_start_utc"], utc=True)
    except (ValueError, TypeError) as exc:
        first = " ".join(str(exc).split("\n")[0].split())
        raise DataError(f"{path.name}: column 'interval_start_utc' has an unreadable timestamp ({first[:160]}); "
                        "write them as 'YYYY-MM-DD HH:MM:SS' in UTC") from None
    if pd.api.types.is_numeric_dtype(frame["interval_start_utc"]):
        raise DataError(f"{path.name}: column 'interval_start_utc' holds numbers (e.g. "
                        f"{frame['interval_start_utc'].iloc[0]!r}), not timestamps; write them as 'YYYY-MM-DD HH:MM:SS' in UTC")
    _refuse_blank(path.name, stamps)
    repeat = frame.drop(columns="interval_start_utc").assign(stamp=stamps).duplicated().to_numpy()
    frame, stamps = frame[~repeat], stamps[~repeat]  # a row repeating another exactly adds nothing
    twice = stamps.duplicated(keep=False).to_numpy()
    if twice.any():
        raise DataError(f"{path.name}: node {node!r} has {int(twice.sum())} rows with different values on a repeated "
                        f"interval_start_utc, first {frame['interval_start_utc'].iloc[int(np.argmax(twice))]!r}; "
                        "one row per interval and node is allowed")
    _check_prices(path.name, frame, price_band)
    _check_units(path.name, frame["da_lmp"])

    unique = np.unique(stamps.to_numpy())
    step_min = float(np.median(np.diff(unique)) / np.timedelta64(1, "m")) if len(unique) > 1 else 60.0
    if step_min <= 0 or 60 % step_min:
        raise DataError(f"{path.name}: interval length {step_min} min does not divide an hour")
    per_hour = int(60 // step_min)
    per_day = HOURS * per_hour
    off = (stamps.dt.minute * 60 + stamps.dt.second).to_numpy() % int(round(step_min * 60)) != 0
    if off.any():
        raise DataError(f"{path.name}: interval_start_utc {frame['interval_start_utc'].iloc[int(np.argmax(off))]!r} is off "
                        f"the {step_min:g}-minute grid of the file ({int(off.sum())} such rows); every row must start "
                        "an interval")

    local = stamps.dt.tz_convert(timezone)
    dates = local.dt.date.to_numpy()
    start, end = dates.min(), dates.max()
    n_days = (end - start).days + 1
    day = np.array([(d - start).days for d in dates])
    minute = local.dt.hour.to_numpy() * 60 + local.dt.minute.to_numpy()
    slot = (minute // step_min).astype(int)
    hour = slot // per_hour

    rt = np.full((n_days, per_day), np.nan)
    rt[day, slot] = frame["rtd_lmp" if layers else "rt_lmp"].to_numpy(float)
    fmm = _fmm_prices(path.name, frame, day, slot, per_day, n_days) if "fmm_lmp" in frame else None
    da = _hourly_mean(day, hour, frame["da_lmp"].to_numpy(float), n_days, complete=True)
    as_price = np.zeros((n_days, HOURS, N_PRODUCTS))
    for k, column in enumerate(AS_COLUMNS):
        if column in frame:
            as_price[:, :, k] = np.nan_to_num(_hourly_mean(day, hour, frame[column].to_numpy(float), n_days))
    mileage_price = np.zeros((n_days, HOURS, 2))
    for k, column in enumerate(MILEAGE_COLUMNS):
        if column in frame:
            mileage_price[:, :, k] = np.nan_to_num(_hourly_mean(day, hour, frame[column].to_numpy(float), n_days))

    midnights = pd.DatetimeIndex(pd.date_range(start, periods=n_days + 1, freq="D")).tz_localize(timezone)
    day_hours = np.asarray((midnights[1:] - midnights[:-1]) / pd.Timedelta(hours=1))
    dst = day_hours != 24
    present = np.bincount(day, minlength=n_days) > 0
    rows = np.zeros((n_days, per_day), dtype=bool)
    rows[day, slot] = True
    partial = ~rows.all(axis=1)  # intervals without a row: neither price is known there
    missing_rt = ~np.isfinite(rt).all(axis=1) | (fmm is not None and ~np.isfinite(fmm).all(axis=1))
    missing_da = ~np.isfinite(da).all(axis=1)
    usable = present & ~dst & ~missing_rt & ~missing_da
    reasons = np.select([~present, dst, partial, missing_rt, missing_da],
                        [MISSING_DAY, "dst", PARTIAL_DAY, "missing_rt", "missing_da"], "").astype(object)
    return History(node, start, step_min / 60.0, da, rt, as_price, mileage_price, usable, reasons, fmm)


def _fmm_prices(name: str, frame: pd.DataFrame, day: np.ndarray, slot: np.ndarray, per_day: int, n_days: int) -> np.ndarray:
    """The FMM's prices (D, 96) from ``fmm_lmp``, repeated on the rows of each 15-minute interval;
    a value that differs within one interval is refused."""
    if per_day <= FMM_PER_DAY or per_day % FMM_PER_DAY:
        raise DataError(f"{name}: columns 'fmm_lmp' and 'rtd_lmp' need RTD rows finer than the FMM's 15 minutes, on a grid "
                        f"that divides them (5 minutes: 288 a day), got {per_day} a day")
    per = per_day // FMM_PER_DAY
    values = np.full((n_days, per_day), np.nan)
    values[day, slot] = frame["fmm_lmp"].to_numpy(float)
    blocks = values.reshape(n_days, FMM_PER_DAY, per)
    spread = np.fmax.reduce(blocks, axis=2) - np.fmin.reduce(blocks, axis=2)  # NaN-skipping, silent on empty blocks
    uneven = np.nan_to_num(spread) > 1e-9
    if uneven.any():
        d, q = (int(i) for i in np.argwhere(uneven)[0])
        raise DataError(f"{name}: column 'fmm_lmp' differs within one 15-minute interval ({int(uneven.sum())} such "
                        f"intervals, first day {d} interval {q}: {blocks[d, q].tolist()}); it holds the FMM price of the "
                        "interval, repeated on its 5-minute rows")
    return np.where(np.isfinite(blocks).all(axis=2), blocks[..., 0], np.nan)


def with_synthetic_rtd(history: History, seed: int) -> History:
    """A three-settlement history from one with 15-minute RT prices only: those become the FMM's,
    and the RTD's 5-minute prices are drawn from the shipped :class:`bessgym.rtd.RTDModel`, each
    day with its own seed (``seed``, the node and the date), so a day's draw does not depend on
    the data's extent. Days without complete prices stay NaN (and unusable)."""
    if history.fmm is not None:
        return history
    if history.intervals_per_day != FMM_PER_DAY:
        raise DataError(
            f"a three-settlement market needs FMM prices: 15-minute RT prices (the RTD's drawn from the synthetic "
            f"RTD model) or 5-minute rows with fmm_lmp and rtd_lmp; node {history.node!r} has "
            f"{history.intervals_per_day} intervals a day")
    from bessgym.rtd import load_rtd_model

    model = load_rtd_model()
    rtd = np.full((history.n_days, 3 * FMM_PER_DAY), np.nan)
    for i in np.flatnonzero(np.isfinite(history.rt).all(axis=1)):
        rng = np.random.default_rng(stable_seed("rtd", seed, history.node, history.date(i).isoformat()))
        rtd[i] = model.sample(history.rt[i], rng)
    return dataclasses.replace(history, dt_h=history.dt_h / 3, rt=rtd, fmm=history.rt, rtd_synthetic=True)


def _read_csv(path: Path, **kwargs: object) -> pd.DataFrame:
    """:func:`pandas.read_csv`, with a file it cannot read (empty, binary, a broken gzip, ragged
    rows) a :class:`DataError` naming it."""
    try:
        return pd.read_csv(path, **kwargs)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path.name}: the file is empty; {SCHEMA_HELP}") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path.name}: not a CSV text file (not UTF-8: {exc.reason})") from None
    except (EOFError, OSError, zlib.error, lzma.LZMAError, zipfile.BadZipFile, ValueError, pd.errors.ParserError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise DataError(f"{path.name}: cannot be read as a CSV file ({reason})") from None


def _refuse_blank(name: str, column: pd.Series) -> None:
    """A :class:`DataError` naming the first data row (from 1) of file ``name`` where ``column`` is blank."""
    blank = column.isna().to_numpy()
    if blank.any():
        row = int(column.index[int(np.argmax(blank))]) + 1
        raise DataError(f"{name}: column {column.name!r} is blank in {int(blank.sum())} row(s), first in data row {row}; "
                        "every row needs one")


def _check_prices(name: str, frame: pd.DataFrame, band: tuple[float, float]) -> None:
    """Refuse a price that is infinite or outside ``band`` (every price column), and an AS or
    mileage price missing where the DA price is given (it would read as $0)."""
    low, high = band
    for column in frame.columns.drop(["interval_start_utc", "hub"]):
        values = frame[column].to_numpy(float)
        outside = np.isinf(values) | (values < low) | (values > high)
        if outside.any():
            i = int(np.argmax(outside))
            allowed = "finite prices" if math.isinf(low) and math.isinf(high) else (
                f"the plausible band [{low:g}, {high:g}] of the market profile (data.allow_extreme_prices opts out)")
            raise DataError(f"{name}: column {column!r} has {values[i]:g} at {frame['interval_start_utc'].iloc[i]!r}; "
                            f"allowed: {allowed}")
        if column in AS_COLUMNS + MILEAGE_COLUMNS:
            gaps = np.isnan(values) & np.isfinite(frame["da_lmp"].to_numpy(float))
            if gaps.any():
                raise DataError(f"{name}: column {column!r} is blank in {int(gaps.sum())} row(s) that have a da_lmp, "
                                f"first at {frame['interval_start_utc'].iloc[int(np.argmax(gaps))]!r}; "
                                "fill them, or leave the column out")


def plausible_prices(market: MarketProfile) -> tuple[float, float]:
    """The prices ($/MWh; AS $/MW-h) a data file may hold under ``market``: its floor and hard
    cap, each widened by :data:`PRICE_BAND_SPREADS` times their spread."""
    floor, cap = market.price_floor_usd_per_mwh, market.price_cap_hard_usd_per_mwh
    margin = PRICE_BAND_SPREADS * (cap - floor)
    return floor - margin, cap + margin


def _hourly_mean(day: np.ndarray, hour: np.ndarray, values: np.ndarray, n_days: int, complete: bool = False) -> np.ndarray:
    """Mean of ``values`` per (day, hour) (a DA price repeated on every interval of its hour is
    that price); NaN where an hour has no finite value or, with ``complete``, any missing one."""
    ok = np.isfinite(values)
    total = np.zeros((n_days, HOURS))
    count = np.zeros((n_days, HOURS))
    np.add.at(total, (day[ok], hour[ok]), values[ok])
    np.add.at(count, (day[ok], hour[ok]), 1.0)
    with np.errstate(invalid="ignore"):
        mean = total / count
    if complete:
        gaps = np.zeros((n_days, HOURS), dtype=bool)
        gaps[day[~ok], hour[~ok]] = True
        mean[gaps] = np.nan
    return mean


def _check_units(name: str, da: pd.Series) -> None:
    p99 = float(da.abs().quantile(0.99)) if len(da) else 0.0
    if 0 < p99 < 1.0:
        raise DataError(
            f"{name}: column 'da_lmp' looks like $/kWh (99th percentile of |price| is {p99:.4g}); "
            "prices must be in $/MWh"
        )


@lru_cache(maxsize=16)
def _history_cached(data_json: str, seed: int, price_band: tuple[float, float], three_settlement: bool) -> History:
    data = DataConfig.model_validate_json(data_json)
    if data.source == "synthetic":
        from bessgym.synthetic import generate_history

        history = generate_history(data, seed=seed)
    else:
        history = read_long_csv(data.file, data.node, data.tz, price_band)
    return with_synthetic_rtd(history, seed) if three_settlement else history


def load_history(data: DataConfig, seed: int = 0, price_band: tuple[float, float] = (-math.inf, math.inf),
                 three_settlement: bool = False) -> History:
    """The :class:`History` of a data config (cached; synthetic data depends on ``seed``; a file's
    prices must lie in ``price_band``, see :func:`read_long_csv`). ``three_settlement``: with FMM
    prices, drawing the RTD's (:func:`with_synthetic_rtd`) where the data has 15-minute prices only."""
    return _history_cached(data.model_dump_json(), seed, price_band, three_settlement)


def stable_seed(*parts: object) -> int:
    """A 63-bit seed from the given parts, identical across runs and platforms."""
    digest = hashlib.blake2b(json.dumps([str(p) for p in parts]).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


@dataclass(frozen=True)
class Scenario:
    """One operating day of one node: prices, deployment, id and seed.

    ``da_price`` (24,) and ``rt_price`` (T,) in $/MWh, ``as_price`` (24, 4) $/MW-h in PRODUCTS
    order, ``mileage_price`` (24, 2) $/MW; ``dt_h`` the RT interval in hours. In a
    three-settlement market ``fmm_price`` (F,) holds the FMM's prices ($/MWh, 15-minute: F = 96)
    and ``rt_price`` the RTD's (5-minute); None in two settlements.
    """

    id: str
    node: str
    date: dt.date
    dt_h: float
    da_price: np.ndarray
    rt_price: np.ndarray
    as_price: np.ndarray
    mileage_price: np.ndarray
    deployment: Deployment
    seed: int
    fmm_price: np.ndarray | None = None

    @property
    def n_intervals(self) -> int:
        return len(self.rt_price)


class ScenarioSet:
    """Scenarios of a config: split lists, lookup by id, and the data behind them.

    >>> scenarios = ScenarioSet("caiso-sp15")
    >>> scenarios.ids("test")[0]
    'caiso-SP15-2024-04-01'
    """

    def __init__(self, config: ConfigLike = None) -> None:
        self.config: Config = load_config(config)

    def _data(self, split: str) -> DataConfig:
        data = self.config.data
        if split == OOD_SPLIT and split not in data.splits:
            if data.ood is None:
                raise ValueError(f"split {OOD_SPLIT!r} needs data.ood in the config")
            return data.ood
        return data

    def splits(self) -> list[str]:
        names = ["all", *self.config.data.splits]
        return names + ([OOD_SPLIT] if self.config.data.ood is not None and OOD_SPLIT not in names else [])

    def history(self, split: str = "all") -> History:
        """The split's data; a file's prices must be plausible for the market profile unless
        ``data.allow_extreme_prices``."""
        data = self._data(split)
        market = self.config.market_profile
        band = (-math.inf, math.inf) if data.allow_extreme_prices else plausible_prices(market)
        history = load_history(data, self.config.seed, band, market.three_settlement)
        if history.fmm is not None and not market.three_settlement:
            raise DataError(f"the data of node {data.node!r} has FMM prices (column fmm_lmp), which market profile "
                            f"{market.name!r} (settlement {market.settlement!r}) would ignore: use a three-settlement "
                            "profile (settlement 'da_fmm_rtd', e.g. market 'caiso3'), or leave the column out")
        return history

    def _days(self, split: str) -> np.ndarray:
        """Indices (into the split's history) of the days in ``split``'s date range."""
        data = self._data(split)
        history = self.history(split)
        if split == "all" or (split == OOD_SPLIT and split not in data.splits):
            return np.arange(history.n_days)
        if split in data.splits:
            return np.array([i for i in range(history.n_days) if history.date(i) in data.splits[split]], dtype=int)
        raise ValueError(f"split {split!r} is unknown; choose one of {self.splits()}")

    def ids(self, split: str = "all") -> list[str]:
        """Stable ids of the usable days of ``split``, in date order."""
        data, history, days = self._data(split), self.history(split), self._days(split)
        first = _first_forecastable(history)
        return [self._id(data, history.date(i)) for i in days if history.usable[i] and i >= first]

    def skipped(self, split: str = "all") -> dict[str, int]:
        """Days of ``split`` from the file's first to its last that are not among its ids, by
        reason: a daylight-saving change, missing RT or DA prices on rows that are there, rows
        missing for some intervals (``partial_day``: the file's first or last day cut by the time
        zone, or a gap), no row at all (``missing_day``), or no earlier day to forecast from (the
        file's first days)."""
        history, days = self.history(split), self._days(split)
        counts = {reason: int((history.reasons[days] == reason).sum()) for reason in SKIP_REASONS}
        early = days[days < _first_forecastable(history)]
        counts["no_forecast_history"] = int(history.usable[early].sum())
        return counts

    @staticmethod
    def _id(data: DataConfig, day: dt.date) -> str:
        return f"{data.prefix}-{data.node}-{day.isoformat()}"

    def locate(self, scenario_id: str) -> tuple[DataConfig, History, int]:
        """The data config, history and day index behind ``scenario_id``."""
        for split in ("all", OOD_SPLIT) if self.config.data.ood is not None else ("all",):
            data = self._data(split)
            prefix = f"{data.prefix}-{data.node}-"
            if scenario_id.startswith(prefix):
                try:
                    day = dt.date.fromisoformat(scenario_id[len(prefix):])
                except ValueError:
                    break
                history = self.history(split)
                index = history.index(day)
                if not history.usable[index]:
                    raise KeyError(f"scenario {scenario_id!r} is a skipped day ({history.reasons[index]})")
                return data, history, index
        raise KeyError(f"scenario id {scenario_id!r} does not belong to this config's data (ids look like {self.ids()[0]!r})")

    def get(self, scenario_id: str, deployment: int | np.random.Generator | None = None) -> Scenario:
        """The scenario ``scenario_id``. Its deployment is drawn with ``deployment`` (a seed or a
        generator: an episode's own draw) or, by default, with the scenario's fixed seed from the
        config's root seed and the id (what evaluation uses, so runs are reproducible)."""
        _, history, i = self.locate(scenario_id)
        seed = stable_seed(self.config.seed, scenario_id)
        source = seed if deployment is None else deployment
        return Scenario(
            id=scenario_id,
            node=history.node,
            date=history.date(i),
            dt_h=history.dt_h,
            da_price=history.da[i].copy(),
            rt_price=history.rt[i].copy(),
            as_price=history.as_price[i].copy(),
            mileage_price=history.mileage_price[i].copy(),
            deployment=draw_deployment(self.config.deployment, history.intervals_per_day, history.dt_h, source),
            seed=seed,
            fmm_price=history.fmm[i].copy() if self.config.market_profile.three_settlement else None,
        )


def _first_forecastable(history: History) -> int:
    """First day index whose forecast has history: a complete DA day before and a complete
    RT day at least two days before (the day before is only partly known at gate closure)."""
    da_ok = np.isfinite(history.da).all(axis=1)
    rt_ok = np.isfinite(history.rt).all(axis=1)
    first_da = np.flatnonzero(da_ok)
    first_rt = np.flatnonzero(rt_ok)
    if not len(first_da) or not len(first_rt):
        return history.n_days
    return int(max(first_da[0] + 1, first_rt[0] + 2))
