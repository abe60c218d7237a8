"""The synthetic market: a seeded generator of contiguous days calibrated to the CAISO file.

Day-ahead (hourly): ``DA[d, h] = L[d] + A[d] * S[month, h] + e[d, h]`` with the daily level ``L``
an AR(1) around the month's mean level, ``A`` a lognormal amplitude of the month's zero-mean
"duck" shape ``S`` and ``e`` AR(1) over hours. Real-time (per interval): ``RT = DA + bias + n + j``
with ``n`` an AR(1) in continuous time (std, time constant) and ``j`` a three-regime jump term
(normal, spike up, drop down: a Markov chain with exponential jump sizes). AS prices scale with
their real means, a daily lognormal factor and scarcity (DA above its daily mean). Every
parameter sits in ``data/synthetic_calibration.json``; the data-derived ones are re-estimated
from the shipped CAISO file by ``python -m bessgym.synthetic``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json

import numpy as np
from scipy.stats import kurtosis

from bessgym._paths import DATA_DIR
from bessgym.config import DataConfig, load_config
from bessgym.processes import ar1
from bessgym.market import HOURS, N_PRODUCTS, load_profile
from bessgym.scenarios import History, load_history

CALIBRATION_FILE = DATA_DIR / "synthetic_calibration.json"

# Hand-set jump and noise parameters (continuous time), tuned so the generated file matches the
# real file's RT tails; RT is clipped at the soft cap (see tests/test_synthetic.py for the targets and tolerances).
RT_PARAMETERS = {
    "bias_usd_per_mwh": -2.7,
    "noise_std_usd_per_mwh": 12.0,
    "noise_time_constant_h": 0.75,
    "spike_rate_per_h": 0.006,
    "drop_rate_per_h": 0.010,
    "jump_mean_duration_h": 0.3,
    "spike_mean_usd_per_mwh": 300.0,
    "drop_mean_usd_per_mwh": 50.0,
    "as_daily_log_std": 0.5,
    "as_hourly_log_std": 0.3,
    "as_scarcity_slope": 1.0,
}


def calibrate(history: History) -> dict:
    """Estimate the data-derived generator parameters from a real :class:`History`."""
    months = np.array([history.date(i).month for i in range(history.n_days)])
    ok = np.isfinite(history.da).all(axis=1)
    level = history.da.mean(axis=1)
    month_level = np.array([level[ok & (months == m)].mean() for m in range(1, 13)])
    shape = np.array([(history.da[ok & (months == m)] - level[ok & (months == m), None]).mean(0) for m in range(1, 13)])
    resid_level = np.where(ok, level - month_level[months - 1], np.nan)
    pairs = np.isfinite(resid_level[1:]) & np.isfinite(resid_level[:-1])
    level_phi = float(np.corrcoef(resid_level[1:][pairs], resid_level[:-1][pairs])[0, 1])
    s = shape[months[ok] - 1]
    centred = history.da[ok] - level[ok, None]
    amplitude = (centred * s).sum(1) / (s * s).sum(1)
    positive = amplitude > 0.05
    noise = centred - amplitude[:, None] * s
    noise_phi = float(np.corrcoef(noise[:, 1:].ravel(), noise[:, :-1].ravel())[0, 1])
    usable = history.usable
    return {
        "month_level_usd_per_mwh": month_level.round(3).tolist(),
        "month_shape_usd_per_mwh": shape.round(3).tolist(),
        "level_std_usd_per_mwh": float(np.nanstd(resid_level)),
        "level_phi": level_phi,
        "amplitude_log_std": float(np.log(amplitude[positive]).std()),
        "da_noise_std_usd_per_mwh": float(noise.std()),
        "da_noise_phi": noise_phi,
        "as_mean_usd_per_mw_h": history.as_price[usable].mean((0, 1)).round(4).tolist(),
        "rt": RT_PARAMETERS,
    }


def generate_history(data: DataConfig, seed: int, calibration: dict | None = None) -> History:
    """Synthetic days ``data.synthetic_start`` .. ``data.synthetic_end`` from ``seed``."""
    p = calibration or json.loads(CALIBRATION_FILE.read_text())
    rt_p = p["rt"]
    profile = load_profile("synthetic")
    rng = np.random.default_rng([seed, 0x5E7])
    n_days = (data.synthetic_end - data.synthetic_start).days + 1
    per_hour = 60 // data.synthetic_interval_minutes
    dt_h = 1.0 / per_hour
    months = np.array([(data.synthetic_start + dt.timedelta(days=i)).month for i in range(n_days)]) - 1

    level = np.asarray(p["month_level_usd_per_mwh"])[months] + ar1(rng.standard_normal(n_days) * p["level_std_usd_per_mwh"], p["level_phi"])
    amplitude = np.exp(rng.normal(-0.5 * p["amplitude_log_std"] ** 2, p["amplitude_log_std"], n_days))
    shape = np.asarray(p["month_shape_usd_per_mwh"])[months]
    da = level[:, None] + amplitude[:, None] * shape
    da += ar1(rng.standard_normal((n_days, HOURS)) * p["da_noise_std_usd_per_mwh"], p["da_noise_phi"])
    da = np.clip(da, profile.price_floor_usd_per_mwh, profile.price_cap_hard_usd_per_mwh)

    n = HOURS * per_hour
    phi = float(np.exp(-dt_h / rt_p["noise_time_constant_h"]))
    noise = ar1(rng.standard_normal(n_days * n) * rt_p["noise_std_usd_per_mwh"], phi).reshape(n_days, n)
    jumps = _regime_jumps(rng, n_days * n, dt_h, rt_p).reshape(n_days, n)
    rt = np.repeat(da, per_hour, axis=1) + rt_p["bias_usd_per_mwh"] + noise + jumps
    rt = np.clip(rt, profile.price_floor_usd_per_mwh, profile.price_cap_soft_usd_per_mwh)

    daily = np.exp(rng.normal(0.0, rt_p["as_daily_log_std"], (n_days, 1, N_PRODUCTS)))
    hourly = np.exp(rng.normal(0.0, rt_p["as_hourly_log_std"], (n_days, HOURS, N_PRODUCTS)))
    scarcity = 1.0 + rt_p["as_scarcity_slope"] * np.maximum(da / np.maximum(level[:, None], 1.0) - 1.0, 0.0)
    raw = daily * hourly * scarcity[:, :, None]
    as_price = np.asarray(p["as_mean_usd_per_mw_h"]) * raw / raw.mean((0, 1))

    return History(
        node=data.node,
        start=data.synthetic_start,
        dt_h=dt_h,
        da=da,
        rt=rt,
        as_price=as_price,
        mileage_price=np.zeros((n_days, HOURS, 2)),
        usable=np.ones(n_days, dtype=bool),
        reasons=np.full(n_days, "", dtype=object),
    )


def _regime_jumps(rng: np.random.Generator, n: int, dt_h: float, p: dict) -> np.ndarray:
    """Three-regime jump term: 0 in the normal regime, +spike or -drop while in an episode.

    Episodes start at the given hourly rates, last exponential times, and draw one exponential
    size each. Simulated as a Markov chain over intervals.
    """
    start_spike = p["spike_rate_per_h"] * dt_h
    start_drop = p["drop_rate_per_h"] * dt_h
    stay = np.exp(-dt_h / p["jump_mean_duration_h"])
    u = rng.random(n)
    sizes_up = rng.exponential(p["spike_mean_usd_per_mwh"], n)
    sizes_down = -rng.exponential(p["drop_mean_usd_per_mwh"], n)
    out = np.zeros(n)
    state, size = 0, 0.0
    for k in range(n):
        if state == 0:
            if u[k] < start_spike:
                state, size = 1, sizes_up[k]
            elif u[k] < start_spike + start_drop:
                state, size = 2, sizes_down[k]
        elif u[k] > stay:
            state, size = 0, 0.0
        out[k] = size
    return out


def stylised_facts(history: History) -> dict[str, float]:
    """The facts the generator is calibrated to, over the usable days of ``history``.

    Mean RT minus mean DA ($/MWh), std and excess kurtosis of DA (hourly) and RT (per interval),
    the share of negative prices, and the mean daily spread between the 4 dearest and 4 cheapest
    DA hours ($/MWh).
    """
    da, rt = history.da[history.usable], history.rt[history.usable]
    ordered = np.sort(da, axis=1)
    return {
        "rt_minus_da_mean": float(rt.mean() - da.mean()),
        "da_std": float(da.std()),
        "rt_std": float(rt.std()),
        "da_kurtosis": float(kurtosis(da.ravel())),
        "rt_kurtosis": float(kurtosis(rt.ravel())),
        "da_negative_share": float((da < 0).mean()),
        "rt_negative_share": float((rt < 0).mean()),
        "da_top4_bottom4_spread": float((ordered[:, -4:].mean(1) - ordered[:, :4].mean(1)).mean()),
    }


if __name__ == "__main__":
    argparse.ArgumentParser(prog="python -m bessgym.synthetic",
                            description="re-estimate the synthetic market's data-derived parameters from the shipped "
                                        f"CAISO SP15 file and write them to {CALIBRATION_FILE.name}").parse_args()
    real = load_history(load_config("caiso-sp15").data)
    CALIBRATION_FILE.write_text(json.dumps(calibrate(real), indent=1) + "\n")
    print(f"wrote {CALIBRATION_FILE}")
