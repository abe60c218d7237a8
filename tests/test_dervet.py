"""DER-VET reproduction: case A's published pro forma and every window's objective; case B
end to end from its own parameter file; features outside the profile are refused by name."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.dervet import PRO_FORMA, UnsupportedFeature, main, read_case, solve_case

CASES = Path(__file__).resolve().parents[1] / "benchmarks" / "dervet_cases"
CASE_A, CASE_B = CASES / "caiso_market_case", CASES / "uc3_planned_es_step2"


@pytest.fixture(scope="module")
def case_a():
    return solve_case(read_case(CASE_A))


def test_case_a_pro_forma_matches_the_published_one(case_a):
    published = pd.read_csv(CASE_A / "pro_forma.csv", index_col=0).loc["2020"]
    names = {"Variable O&M Cost": "BATTERY: 4-hr li-ion Variable O&M Cost", "Fixed O&M Cost": "BATTERY: 4-hr li-ion Fixed O&M Cost"}
    assert case_a.pro_forma["Yearly Net Value"] == pytest.approx(published["Yearly Net Value"], abs=0.05)
    for key in PRO_FORMA:
        assert case_a.pro_forma[key] == pytest.approx(published[names.get(key, key)], abs=0.01), key  # to the cent
    assert case_a.statuses.get("mip", 0) > 0  # the binaries mattered somewhere


def test_case_a_every_window_objective(case_a):
    published = pd.read_csv(CASE_A / "objective_values.csv", index_col=0).sum(axis=1).to_numpy()
    assert len(case_a.windows) == len(published) == 366
    assert np.abs(case_a.windows["objective"].to_numpy() - published).max() <= 0.01
    # the pro forma's accounting and the LP's objective (profit, to maximise) tell the same story
    accounting = case_a.windows["objective"] - case_a.windows["fixed_om"]
    assert np.allclose(accounting, -case_a.windows["lp_objective"], atol=1e-6)


def test_case_a_relaxation_differs_by_the_documented_amount():
    relaxed = solve_case(read_case(CASE_A), relax=True)
    assert relaxed.pro_forma["Yearly Net Value"] - 167_621.63 == pytest.approx(3.51, abs=0.05)


def test_case_b_runs_from_its_own_parameter_file(tmp_path):
    out = tmp_path / "b.json"
    main([str(CASE_B), "--json", str(out)])
    record = json.loads(out.read_text())
    assert record["windows"] == 365 and record["year"] == 2017
    forma = record["pro_forma"]
    assert set(forma) == set(PRO_FORMA)
    assert forma["Yearly Net Value"] == pytest.approx(sum(v for k, v in forma.items() if k != "Yearly Net Value"), abs=0.05)
    assert forma["Fixed O&M Cost"] == -22_560.0 and forma["Variable O&M Cost"] == 0.0
    windows = pd.read_csv(record["objective_values"])
    assert len(windows) == 365 and np.isfinite(windows["objective"]).all()


def test_case_b_reads_its_battery_and_user_limits():
    case = read_case(CASE_B)
    assert case.battery.p_discharge_mw == 2256 and case.battery.energy_mwh == 42702
    assert case.battery.eta_charge == pytest.approx(0.91) and case.battery.soc_initial_frac == 1.0
    assert {"soe_min", "soe_max", "reg_up_max", "reg_down_min"} <= set(case.series.columns)
    assert case.eou == case.eod == pytest.approx(0.1) and case.duration_h == 0


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    for p in dst.iterdir():
        p.chmod(0o644)
    return dst


def test_features_outside_the_profile_are_named(tmp_path):
    folder = _copy(CASE_A, tmp_path / "a")
    params = json.loads((folder / "model_parameters.json").read_text())
    battery = next(iter(params["tags"]["Battery"].values()))
    battery["keys"]["sdr"]["opt_value"] = "1"
    (folder / "model_parameters.json").write_text(json.dumps(params))
    with pytest.raises(UnsupportedFeature, match="Battery sdr = 1"):
        read_case(folder)

    folder = _copy(CASE_B, tmp_path / "b")
    template = next(folder.glob("Model_Parameters_Template*.csv"))
    rows = template.read_text(encoding="utf-8-sig").splitlines()  # switch the PV tag on (its Active column)
    rows = [r.replace(",no,", ",yes,", 1) if r.startswith("PV,1,name,") else r for r in rows]
    template.write_text("\n".join(rows) + "\n")
    with pytest.raises(UnsupportedFeature, match="PV"):
        read_case(folder)


def test_profile_soe_floor_and_binaries_hold_in_the_solution():
    from baselines.day_lp import DervetProfile, build_day_model
    from baselines.solver import solve
    from benchmarks.dervet import MARKET, _window_arrays

    case = read_case(CASE_A)
    window = case.series.iloc[24 * 180:24 * 181]
    data = _window_arrays(window)
    floor = np.full(24, np.nan)
    floor[9:14] = 3000.0  # kWh after hours 10..14
    base = DervetProfile(case.eou, case.eod, case.duration_h, case.vom_usd_per_kwh, binaries=True)
    free = solve(build_day_model(case.battery, MARKET, data, follow_schedule=True, dervet=base).lp)
    model = build_day_model(case.battery, MARKET, data, follow_schedule=True,
                            dervet=DervetProfile(**{**base.__dict__, "soe_floor": floor}))
    held = solve(model.lp)
    assert held.status.ok and held.objective < free.objective
    e = held.z[model.cols["e"]]
    assert np.all(e[9:14] >= 3000.0 - 1e-6) and abs(e[-1]) < 1e-9
    charge, discharge = held.z[model.cols["ch_dn"]], held.z[model.cols["dis_dn"]]
    assert np.all(np.minimum(charge, discharge) <= 1e-7)


def test_profile_award_ranges_bound_the_awards():
    from baselines.day_lp import DervetProfile, build_day_model
    from baselines.solver import solve
    from benchmarks.dervet import MARKET, _window_arrays
    from bessgym.market import PRODUCTS

    case = read_case(CASE_A)
    data = _window_arrays(case.series.iloc[24 * 180:24 * 181])
    base = DervetProfile(case.eou, case.eod, case.duration_h, case.vom_usd_per_kwh)
    free = solve(build_day_model(case.battery, MARKET, data, follow_schedule=True, dervet=base).lp)
    capped = np.tile([0.0, 100.0], (24, 1))  # at most 100 kW of reg up in any hour
    model = build_day_model(case.battery, MARKET, data, follow_schedule=True,
                            dervet=DervetProfile(**{**base.__dict__, "reg_up_range": capped}))
    held = solve(model.lp)
    reg_up = lambda z: z[model.cols["r"]].reshape(24, len(PRODUCTS))[:, PRODUCTS.index("reg_up")]  # noqa: E731
    assert held.status.ok and held.objective < free.objective
    assert reg_up(free.z).max() > 100.0 and reg_up(held.z).max() <= 100.0 + 1e-7
