"""Validated configuration: battery, market profile, data source, forecaster, deployment, seed.

One entry point, :func:`load_config`, takes a preset name (``caiso-sp15``, the default, or
``synthetic``), a path to a JSON file, a dict, or a :class:`Config`. Every error names the
field, the value and what is allowed; an unknown field suggests the nearest valid name. Numbers
must be finite and numbers (``true`` is not a capacity, ``"4"`` not a price).
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
from pathlib import Path
from typing import Any, Iterable, Literal, Union

from pydantic import (BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, ValidationError,
                      field_validator, model_validator)

from bessgym._paths import DATA_DIR
from bessgym.battery import Battery
from bessgym.deployment import DeploymentConfig
from bessgym.market import MarketProfile, check_timezone, load_profile

DataSource = Literal["caiso", "ercot", "pjm", "csv", "synthetic"]
SHIPPED_FILES = {
    "caiso": "caiso_hubs_2023-01-12_2024-06-30_15min.csv.gz",
    "ercot": "ercot_hubs_2021-2022_15min_da_rt.csv.gz",
    "pjm": "pjm_western_hub_2023-07-02_2023-09-30_5min_da_rt.csv.gz",
}
DEFAULT_TIMEZONES = {"caiso": "America/Los_Angeles", "ercot": "America/Chicago", "pjm": "America/New_York", "synthetic": "UTC"}


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class DateRange(_Strict):
    """Inclusive range of local operating days."""

    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> "DateRange":
        if self.end < self.start:
            raise ValueError(f"end ({self.end}) is before start ({self.start})")
        return self

    def __contains__(self, day: dt.date) -> bool:
        return self.start <= day <= self.end


CAISO_SPLITS = {
    "train": DateRange(start=dt.date(2023, 1, 1), end=dt.date(2023, 12, 31)),
    "val": DateRange(start=dt.date(2024, 1, 1), end=dt.date(2024, 3, 31)),
    "test": DateRange(start=dt.date(2024, 4, 1), end=dt.date(2024, 6, 30)),
}


class DataConfig(_Strict):
    """Where scenarios come from.

    ``source``: ``caiso`` / ``ercot`` / ``pjm`` (shipped files; ``pjm``: Western Hub DA and real 5-minute RT, 2023-07..09), ``csv`` (``path`` to a file in the long
    schema; its operating days in ``timezone``, by default the market profile's) or ``synthetic`` (the seeded generator over the ``synthetic_start``..``synthetic_end``
    days at ``synthetic_interval_minutes``). ``splits`` maps split names to date ranges; the
    split ``all`` is every day. ``ood`` is the data of the ``test_ood`` split.
    """

    source: DataSource = "caiso"
    node: str = "SP15"
    path: str | None = None
    timezone: str | None = None
    name: str | None = Field(None, description="scenario id prefix; defaults to the source")
    splits: dict[str, DateRange] = Field(
        default_factory=dict, description="defaults to the CAISO calendar for caiso and synthetic data"
    )
    ood: "DataConfig | None" = None
    synthetic_start: dt.date = dt.date(2023, 1, 1)
    synthetic_end: dt.date = dt.date(2024, 6, 30)
    synthetic_interval_minutes: Literal[5, 15, 60] = 5
    allow_extreme_prices: StrictBool = Field(
        False, description="accept prices outside the market profile's plausible band (bessgym.scenarios."
        "plausible_prices: its floor and hard cap widened by ten times their spread); infinite ones never")

    @model_validator(mode="before")
    @classmethod
    def _default_splits(cls, data: Any) -> Any:
        if isinstance(data, dict) and "splits" not in data and data.get("source", "caiso") in ("caiso", "synthetic"):
            data = {**data, "splits": {k: v.model_dump() for k, v in CAISO_SPLITS.items()}}
        return data

    @model_validator(mode="after")
    def _check(self) -> "DataConfig":
        if self.source == "csv" and not self.path:
            raise ValueError("data.source 'csv' needs data.path, the CSV file in the long schema")
        if self.source != "csv" and self.path:
            raise ValueError(f"data.path is only used with source 'csv', not {self.source!r}")
        if "all" in self.splits:
            raise ValueError("split name 'all' is reserved (it means every day)")
        if self.timezone is not None:
            check_timezone(self.timezone, "data.timezone")
        return self

    @property
    def tz(self) -> str:
        return self.timezone or DEFAULT_TIMEZONES.get(self.source, "UTC")

    @property
    def prefix(self) -> str:
        return self.name or self.source

    @property
    def file(self) -> Path:
        """The data file (shipped files resolve inside the package)."""
        if self.source == "csv":
            return Path(self.path).expanduser()
        return DATA_DIR / "market" / SHIPPED_FILES[self.source]


class ForecastConfig(_Strict):
    """The DA forecaster. ``analog``: the last ``window_days`` complete days as an ensemble;
    ``noisy``: truth + AR(1) errors of ``noise_usd_per_mwh`` (energy) and ``as_noise_frac``
    (AS, relative); ``perfect``: the realised day (privileged)."""

    kind: Literal["perfect", "noisy", "analog"] = "analog"
    window_days: StrictInt = Field(14, ge=1, le=365)

    @model_validator(mode="before")
    @classmethod
    def _from_kind(cls, raw: Any) -> Any:
        """``"perfect"`` is short for ``{"kind": "perfect"}``."""
        return {"kind": raw} if isinstance(raw, str) else raw
    noise_usd_per_mwh: StrictFloat = Field(10.0, ge=0)
    as_noise_frac: StrictFloat = Field(0.2, ge=0)
    members: StrictInt = Field(14, ge=1, le=1000, description="ensemble size of the noisy forecaster")


class Config(_Strict):
    """A complete bessgym configuration."""

    battery: Battery = Field(default_factory=Battery)
    market: Union[Literal["caiso", "caiso3", "ercot", "pjm", "synthetic"], MarketProfile] = "caiso"
    data: DataConfig = Field(default_factory=DataConfig)
    forecast: ForecastConfig = Field(default_factory=ForecastConfig)
    deployment: DeploymentConfig = Field(default_factory=DeploymentConfig)
    seed: StrictInt = Field(0, ge=0, description="root seed for deployment and forecast noise")

    @field_validator("battery", mode="before")
    @classmethod
    def _strict_battery(cls, raw: Any) -> Any:
        """Battery fields are all numbers: refuse ``true`` or ``"4"`` for one, as the other sections do."""
        return Battery.model_validate(raw, strict=True) if isinstance(raw, dict) else raw

    @model_validator(mode="before")
    @classmethod
    def _from_profile(cls, raw: Any) -> Any:
        """What the market profile decides unless the config says otherwise: the regulation signal
        deployment follows, and the time zone of the operating day for a CSV of one's own."""
        if not isinstance(raw, dict):
            return raw
        market = raw.get("market", "caiso")
        try:
            profile = market if isinstance(market, MarketProfile) else (
                load_profile(market) if isinstance(market, str) else MarketProfile.model_validate(market))
        except ValueError:
            return raw  # the market field's own validation reports it
        raw = dict(raw)
        deployment = raw.get("deployment", {})
        if isinstance(deployment, DeploymentConfig):
            deployment = deployment.model_dump()
        if isinstance(deployment, dict) and deployment.get("regulation_signal") is None:
            raw["deployment"] = {**deployment, "regulation_signal": profile.regulation_signal}
        data = raw.get("data", {})
        if isinstance(data, dict) and data.get("source") == "csv" and data.get("timezone") is None:
            raw["data"] = {**data, "timezone": profile.timezone}
        return raw

    @property
    def market_profile(self) -> MarketProfile:
        return self.market if isinstance(self.market, MarketProfile) else load_profile(self.market)


class ConfigError(ValueError):
    """A configuration that does not validate; the message lists every problem."""


PRESETS = ("caiso-sp15", "caiso3-sp15", "pjm-western-5min", "synthetic")
ConfigLike = Union[str, Path, dict, Config, None]


def load_config(source: ConfigLike = None) -> Config:
    """Load a preset name, a JSON path, a dict or a Config (``None`` means ``caiso-sp15``)."""
    if isinstance(source, Config):
        return source
    if source is None:
        source = "caiso-sp15"
    where = "config"
    if isinstance(source, (str, Path)):
        name = str(source)
        if name in PRESETS:
            path = DATA_DIR / "presets" / f"{name}.json"
            where = f"preset {name!r}"
        else:
            path = Path(name).expanduser()
            if not path.is_file():
                raise ConfigError(
                    f"config {name!r} is neither a preset ({', '.join(PRESETS)}) nor an existing JSON file"
                )
            where = str(path)
        try:
            source = json.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{where}: not a JSON text file (byte {exc.start} is not UTF-8)") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where}: not valid JSON: {exc}") from None
        except RecursionError:
            raise ConfigError(f"{where}: nested too deeply to be a config") from None
        if not isinstance(source, dict):
            raise ConfigError(f"{where}: must hold a JSON object, got {type(source).__name__}")
    if not isinstance(source, dict):
        raise ConfigError(f"config must be a preset name, a path, a dict or a Config, got {type(source).__name__}")
    try:
        return Config.model_validate(source)
    except ValidationError as exc:
        errors = [e for e in exc.errors() if not _other_branch(e)] or exc.errors()
        problems = [_describe(e) for e in errors]
        if len(problems) == 1:
            raise ConfigError(f"{where} is invalid: {problems[0]}") from None
        raise ConfigError(f"{where} is invalid:\n" + "\n".join(f"  {p}" for p in problems)) from None


def did_you_mean(name: str, valid: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the entry of ``valid`` nearest to ``name``, or ``""``."""
    close = difflib.get_close_matches(name, list(valid), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _other_branch(error: dict[str, Any]) -> bool:
    """An error from the branch of a name-or-model field (``market``) that the input is not:
    a name's error for a dict, a model's type error for a name."""
    return (error["type"] == "literal_error" and isinstance(error.get("input"), dict)) or (
        error["type"] == "model_type" and isinstance(error.get("input"), str))


def _describe(error: dict[str, Any]) -> str:
    loc = ".".join(str(part) for part in error["loc"] if not str(part).startswith(("function-", "literal[")))
    field = loc or "(root)"
    if error["type"] == "extra_forbidden":
        parent, name = _parent_model(error["loc"]), str(error["loc"][-1])
        valid = sorted(parent.model_fields) if parent else []
        return f"{field}: unknown field{did_you_mean(name, valid)} (valid fields: {', '.join(valid)})"
    value = error.get("input")
    if isinstance(value, bool) and error["type"] in ("float_type", "int_type"):
        return f"{field} = {value!r}: a number is needed, not true/false"
    return f"{field} = {value!r}: {error['msg']}"


def _parent_model(loc: tuple) -> type[BaseModel] | None:
    """The model class that owns the last element of ``loc`` (for suggestions)."""
    model: type[BaseModel] = Config
    for part in loc[:-1]:
        if str(part).startswith(("function-", "literal[")) or str(part) == model.__name__:
            continue  # a validator's or a union branch's tag, not a field
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        annotation = field.annotation
        candidates = [a for a in getattr(annotation, "__args__", (annotation,)) if isinstance(a, type) and issubclass(a, BaseModel)]
        if not candidates:
            return None
        model = candidates[0]
    return model
