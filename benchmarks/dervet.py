"""Reproduce an EPRI DER-VET battery market case with bessgym's LP builder.

    python -m benchmarks.dervet CASE_DIR --json OUT.json [--windows OUT.csv] [--relax]

``CASE_DIR`` holds DER-VET inputs: a GUI case (``model_parameters.json``) or a CSV parameter
template (``Model_Parameters_Template*.csv``), and the hourly time series it names (hour-ending
stamps, "Datetime (he)"). The case is mapped onto :class:`baselines.day_lp.DervetProfile` and
solved window by window (one per calendar day of the optimisation year; charge / discharge
binaries make each a small mixed-integer LP for HiGHS). Written: the year-1 pro forma with
DER-VET's column names (JSON), the per-window objective in DER-VET's convention (a cost to
minimise, fixed O&M included, as its ``objective_values.csv``) and the solve time.

Supported: one active battery, the DA and FR services (separate up / down markets), the User
service's aggregate energy floor / ceiling, FR time-series award limits. Any
other active technology or service, and any battery option outside the profile (cycle
degradation, self-discharge, minimum power, time-series battery limits, daily cycle limits, ...)
is refused with its name.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from baselines.day_lp import LEGS, DervetProfile, build_day_model
from baselines.solver import solve
from bessgym.battery import Battery
from bessgym.market import PRODUCTS, MarketProfile
from bessgym.sim import ScenarioArrays

PRO_FORMA = ("DA ETS", "FR Energy Throughput", "Frequency Regulation Up", "Frequency Regulation Down",
             "Variable O&M Cost", "Fixed O&M Cost", "Yearly Net Value")
WINDOW_COLUMNS = ("DA", "FR_regup_prof", "FR_regdown_prof", "FR_energy_settlement", "fixed_om", "var_om")
SUPPORTED_TAGS = {"Scenario", "Finance", "Battery", "DA", "FR", "User"}
# battery keys that must keep these values (anything else is a feature outside the profile)
BATTERY_NEUTRAL = {"sdr": 0, "incl_cycle_degrade": 0, "daily_cycle_limit": 0, "ch_min_rated": 0, "dis_min_rated": 0,
                   "incl_ts_charge_limits": 0, "incl_ts_discharge_limits": 0, "incl_ts_energy_limits": 0,
                   "p_start_ch": 0, "p_start_dis": 0, "duration_max": 0, "yearly_degrade": 0}
MARKET = MarketProfile(name="dervet", description="DER-VET: DA energy and separate regulation up / down",
                       products=("reg_up", "reg_down"))


class UnsupportedFeature(ValueError):
    """A DER-VET input the compatibility profile does not model (named in the message)."""


@dataclass
class DervetCase:
    """A case's parameters in the units of its files (kW, kWh, $) and its year's hourly series."""

    name: str
    battery: Battery
    eou: float
    eod: float
    duration_h: float
    vom_usd_per_kwh: float
    fixed_om_usd_per_kw_year: float
    binaries: bool
    year: int
    series: pd.DataFrame  # hour-beginning index; columns da, reg_up, reg_down (+ optional limits)


def _number(value: str, what: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise UnsupportedFeature(f"{what} = {value!r} is not a number") from None


def _from_keys(name: str, tags: dict[str, dict[str, str]], series_file: Path) -> DervetCase:
    """Build a case from active tags ``{tag: {key: value}}``, whatever file they came from."""
    unsupported = sorted(set(tags) - SUPPORTED_TAGS)
    if unsupported:
        raise UnsupportedFeature(f"active DER-VET tags {unsupported} are outside bessgym's compatibility profile "
                                 f"(supported: {sorted(SUPPORTED_TAGS)})")
    for needed in ("Scenario", "Battery", "DA", "FR"):
        if needed not in tags:
            raise UnsupportedFeature(f"the case has no active {needed} tag; the profile needs Scenario, Battery, DA and FR")
    sc, bat, fr = tags["Scenario"], tags["Battery"], tags["FR"]
    for key, neutral in BATTERY_NEUTRAL.items():
        if key in bat and _number(bat[key], f"Battery {key}") != neutral:
            raise UnsupportedFeature(f"Battery {key} = {bat[key]} is outside the profile (only {neutral} is supported)")
    if _number(fr.get("CombinedMarket", "0"), "FR CombinedMarket"):
        raise UnsupportedFeature("FR CombinedMarket = 1 (one symmetric regulation award) is outside the profile")
    if _number(sc.get("dt", "1"), "Scenario dt") != 1 or sc.get("n", "24") not in ("24", "24.0"):
        raise UnsupportedFeature(f"Scenario dt = {sc.get('dt')}, n = {sc.get('n')}: the profile solves hourly 24-hour windows")
    if _number(sc.get("incl_site_load", "0"), "Scenario incl_site_load") or \
            _number(sc.get("apply_interconnection_constraints", "0"), "Scenario apply_interconnection_constraints"):
        raise UnsupportedFeature("Scenario incl_site_load / apply_interconnection_constraints are outside the profile")
    years = str(sc.get("opt_years", "")).replace("[", "").replace("]", "").split(",")
    if len(years) != 1:
        raise UnsupportedFeature(f"Scenario opt_years = {sc.get('opt_years')}: one optimisation year is supported")
    p_ch, p_dis = _number(bat["ch_max_rated"], "Battery ch_max_rated"), _number(bat["dis_max_rated"], "Battery dis_max_rated")
    energy = _number(bat["ene_max_rated"], "Battery ene_max_rated")
    target = _number(bat.get("soc_target", "0"), "Battery soc_target") / 100
    battery = Battery(
        p_charge_mw=p_ch, p_discharge_mw=p_dis, energy_mwh=energy,  # kW and kWh here: the LP is linear
        soc_min_frac=_number(bat.get("llsoc", "0"), "Battery llsoc") / 100,
        soc_max_frac=_number(bat.get("ulsoc", "100"), "Battery ulsoc") / 100,
        eta_charge=_number(bat["rte"], "Battery rte") / 100, eta_discharge=1.0, self_discharge_per_h=0.0,
        degradation_usd_per_mwh=0.0, soc_initial_frac=target, soc_target_frac=target,
    )
    year = int(_number(years[0], "Scenario opt_years"))
    series = read_series(series_file, year, user="User" in tags,
                         fr_limits=bool(_number(fr.get("u_ts_constraints", "0"), "FR u_ts_constraints")
                                        or _number(fr.get("d_ts_constraints", "0"), "FR d_ts_constraints")))
    return DervetCase(
        name=name, battery=battery, eou=_number(fr["eou"], "FR eou"), eod=_number(fr["eod"], "FR eod"),
        duration_h=_number(fr.get("duration", "0"), "FR duration"),
        vom_usd_per_kwh=_number(bat.get("OMexpenses", "0"), "Battery OMexpenses") / 1000,
        fixed_om_usd_per_kw_year=_number(bat.get("fixedOM", "0"), "Battery fixedOM"),
        binaries=bool(_number(sc.get("binary", "0"), "Scenario binary")), year=year, series=series,
    )


def read_series(path: Path, year: int, user: bool = False, fr_limits: bool = False) -> pd.DataFrame:
    """The year's hourly prices ($/kWh, $/kW) and limits, re-indexed hour-beginning."""
    raw = pd.read_csv(path)
    if "Datetime (he)" not in raw:
        raise UnsupportedFeature(f"{path.name}: no 'Datetime (he)' column (DER-VET's hour-ending stamps)")
    stamps = pd.to_datetime(raw["Datetime (he)"], format="%m/%d/%Y %H:%M") - pd.Timedelta(hours=1)
    wanted = {"DA Price ($/kWh)": "da", "Reg Up Price ($/kW)": "reg_up", "Reg Down Price ($/kW)": "reg_down"}
    if user:
        poi = [c for c in raw if c.lower().startswith("poi:")]
        if poi:
            raise UnsupportedFeature(f"User POI limits {poi} are outside the profile (only the aggregate energy limits are)")
        energy = {"Aggregate Energy Min (kWh)": "soe_min", "Aggregate Energy Max (kWh)": "soe_max"}
        if not any(c in raw for c in energy):
            raise UnsupportedFeature(f"{path.name}: the User service is active but none of {list(energy)} is given")
        wanted |= {c: name for c, name in energy.items() if c in raw}
    if fr_limits:
        wanted |= {"FR Reg Up Max (kW)": "reg_up_max", "FR Reg Up Min (kW)": "reg_up_min",
                   "FR Reg Down Max (kW)": "reg_down_max", "FR Reg Down Min (kW)": "reg_down_min"}
    missing = [c for c in wanted if c not in raw]
    if missing:
        raise UnsupportedFeature(f"{path.name} lacks the columns {missing} the case's services need")
    frame = raw[list(wanted)].rename(columns=wanted).set_index(stamps)
    frame = frame[frame.index.year == year]
    if len(frame) % 24 or not len(frame):
        raise UnsupportedFeature(f"{path.name}: {len(frame)} hours in {year}, not whole days")
    return frame.astype(float)


def read_case(folder: str | Path) -> DervetCase:
    """Read a DER-VET case folder (GUI JSON or CSV parameter template plus its time series)."""
    folder = Path(folder)
    gui = folder / "model_parameters.json"
    templates = sorted(folder.glob("Model_Parameters_Template*.csv"))
    if gui.is_file():
        meta = json.loads(gui.read_text())
        tags: dict[str, dict[str, str]] = {}
        for tag, instances in meta["tags"].items():
            active = [v for v in instances.values() if str(v.get("active", "no")).lower() in ("yes", "y", "1")]
            if len(active) > 1:
                raise UnsupportedFeature(f"{len(active)} active {tag} instances; the profile supports one")
            if active:
                tags[tag] = {k: str(v["opt_value"]) for k, v in active[0].get("keys", {}).items()}
        name = meta.get("name", folder.name)
    elif templates:
        tags, name = _template_tags(templates[0]), templates[0].stem
    else:
        raise FileNotFoundError(f"{folder}: no model_parameters.json or Model_Parameters_Template*.csv")
    series_name = Path(tags.get("Scenario", {}).get("time_series_filename", "").replace("\\", "/")).name
    series = folder / series_name
    if not series.is_file():
        found = [p for p in folder.glob("*.csv") if p.name != templates[0].name] if templates else sorted(folder.glob("timeseries*.csv"))
        if len(found) != 1:
            raise FileNotFoundError(f"{folder}: the time series {series_name!r} named by the case is not there")
        series = found[0]
    return _from_keys(name, tags, series)


def _template_tags(path: Path) -> dict[str, dict[str, str]]:
    """Active tags of a CSV template: a tag is active when one of its rows says Active = yes
    (the other rows of that tag and ID carry '.')."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    active_ids = {(r["Tag"], r["ID"]) for r in rows if r["Active"].strip().lower() in ("yes", "y")}
    tags: dict[str, dict[str, str]] = {}
    for r in rows:
        if (r["Tag"], r["ID"]) in active_ids:
            tags.setdefault(r["Tag"], {})[r["Key"]] = r["Optimization Value"]
    if len({i for t, i in active_ids if t == "Battery"}) > 1:
        raise UnsupportedFeature("more than one active Battery; the profile supports one")
    return tags


@dataclass
class CaseResult:
    pro_forma: dict[str, float]
    windows: pd.DataFrame
    solve_seconds: float
    statuses: dict[str, int]


def solve_case(case: DervetCase, relax: bool = False) -> CaseResult:
    """Solve every 24-hour window and total the year-1 pro forma.

    With binaries, each window's LP relaxation is solved first: where it never charges and
    discharges in the same hour it is feasible, hence optimal, for the mixed-integer LP;
    elsewhere the mixed-integer LP is solved (``statuses`` counts both)."""
    b, s = case.battery, case.series
    columns: dict[str, list[float]] = {name: [] for name in (*WINDOW_COLUMNS, "lp_objective")}
    totals = dict.fromkeys(PRO_FORMA, 0.0)
    statuses: dict[str, int] = {}
    start = time.perf_counter()
    for day, window in s.groupby(s.index.date):
        da = window["da"].to_numpy()
        data = _window_arrays(window)
        floor, ceiling = _soe_limits(window)
        up_range, down_range = (window[[f"{p}_min", f"{p}_max"]].to_numpy() if f"{p}_max" in window else None
                                for p in ("reg_up", "reg_down"))
        profile = DervetProfile(case.eou, case.eod, case.duration_h, case.vom_usd_per_kwh, soe_final=b.e_target_mwh,
                                binaries=False, soe_floor=floor, soe_ceiling=ceiling,
                                reg_up_range=up_range, reg_down_range=down_range)
        model, result = _solve_window(b, data, profile)
        how = "lp"
        if case.binaries and not relax and np.any(np.minimum(result.z[model.cols["dis_dn"]], result.z[model.cols["ch_dn"]]) > 1e-7):
            # the relaxation charges and discharges in one hour: solve with the binaries
            model, result = _solve_window(b, data, replace(profile, binaries=True))
            how = "mip"
        statuses[how] = statuses.get(how, 0) + 1
        if not result.status.ok:
            raise RuntimeError(f"window {day}: HiGHS {result.status.value} ({'; '.join(result.messages)})")
        z = result.z
        legs = z[model.cols["legs"]].reshape(24, len(LEGS))
        uc, ud, dc, dd = legs.T
        dis, ch = z[model.cols["dis_dn"]], z[model.cols["ch_dn"]]
        up, down = uc + ud, dc + dd
        udis = case.eou * ud - case.eod * dd
        parts = {
            "DA ETS": float(da @ (dis - ch)),
            "FR Energy Throughput": float(da @ (case.eou * up - case.eod * down)),
            "Frequency Regulation Up": float(window["reg_up"].to_numpy() @ up),
            "Frequency Regulation Down": float(window["reg_down"].to_numpy() @ down),
            "Variable O&M Cost": -case.vom_usd_per_kwh * float(np.sum(dis + udis)),
        }
        for key, value in parts.items():
            totals[key] += value
        fixed = case.fixed_om_usd_per_kw_year * b.p_discharge_mw
        costs = (-parts["DA ETS"], -parts["Frequency Regulation Up"], -parts["Frequency Regulation Down"],
                 -parts["FR Energy Throughput"], fixed, -parts["Variable O&M Cost"], result.objective)
        for name, value in zip(columns, costs, strict=True):
            columns[name].append(value)
    seconds = time.perf_counter() - start
    totals["Fixed O&M Cost"] = -case.fixed_om_usd_per_kw_year * b.p_discharge_mw
    totals["Yearly Net Value"] = sum(v for k, v in totals.items() if k != "Yearly Net Value")
    windows = pd.DataFrame(columns, index=pd.RangeIndex(1, len(columns["DA"]) + 1, name="window"))
    windows.insert(len(WINDOW_COLUMNS), "objective", windows[list(WINDOW_COLUMNS)].sum(axis=1))
    return CaseResult(totals, windows, seconds, statuses)


def _window_arrays(window: pd.DataFrame) -> ScenarioArrays:
    """A window's prices as the builder's day arrays: the energy price as DA and RT price, the
    regulation prices, no deployment (the profile's legs carry it; each hour is then one down
    sub-period, whose legs ``dis_dn`` / ``ch_dn`` are DER-VET's discharge and charge), no mileage."""
    da = window["da"].to_numpy()
    as_price = np.zeros((len(da), len(PRODUCTS)))
    as_price[:, PRODUCTS.index("reg_up")], as_price[:, PRODUCTS.index("reg_down")] = window["reg_up"], window["reg_down"]
    return ScenarioArrays(1.0, da, da, as_price, np.zeros((len(da), 2)), np.zeros((len(da), len(PRODUCTS))),
                          np.zeros((len(da), 2)), np.zeros(len(da)))


def _solve_window(battery: Battery, data: ScenarioArrays, profile: DervetProfile):
    model = build_day_model(battery, MARKET, data, follow_schedule=True, dervet=profile)
    return model, solve(model.lp, time_limit_s=60.0)


def _soe_limits(window: pd.DataFrame) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The User service's SoE floor / ceiling for the SoC at the start of each hour, as bounds on
    the SoC after the hour before (the first hour's start is the fixed initial SoC)."""

    def shifted(col: str) -> np.ndarray | None:  # start of hour t + 1 = end of hour t
        return np.r_[window[col].to_numpy()[1:], np.nan] if col in window else None

    return shifted("soe_min"), shifted("soe_max")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dervet", description=__doc__.splitlines()[0])
    parser.add_argument("case_dir", help="a DER-VET case folder")
    parser.add_argument("--json", required=True, help="where to write the year-1 pro forma")
    parser.add_argument("--windows", help="per-window objective CSV (default: next to --json)")
    parser.add_argument("--relax", action="store_true", help="drop the charge / discharge binaries (LP relaxation)")
    args = parser.parse_args(argv)
    case = read_case(args.case_dir)
    result = solve_case(case, relax=args.relax)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    windows = Path(args.windows) if args.windows else out.with_name(out.stem + "_objective_values.csv")
    result.windows.to_csv(windows)
    record = {"case": case.name, "year": case.year, "windows": len(result.windows), "relaxed": args.relax,
              "solve_seconds": round(result.solve_seconds, 3), "statuses": result.statuses,
              "pro_forma": {k: round(v, 2) for k, v in result.pro_forma.items()}, "objective_values": str(windows)}
    out.write_text(json.dumps(record, indent=1) + "\n")
    width = max(map(len, PRO_FORMA))
    for key in PRO_FORMA:
        print(f"{key:<{width}}  {result.pro_forma[key]:>14,.2f}")
    print(f"{len(result.windows)} windows solved in {result.solve_seconds:.1f} s -> {out}, {windows}")


if __name__ == "__main__":
    main()
