"""The shipped real 5-minute price files and the synthetic RTD deviation model (bessgym.rtd)."""

import json

import numpy as np
import pandas as pd
import pytest

from bessgym import rtd
from bessgym._paths import DATA_DIR

SHIPPED = {
    "spp": ("2024-01-01 06:00:00", "2024-12-05 22:55:00", {"SPPNORTH_HUB", "SPPSOUTH_HUB"}),
    "pjm": ("2023-07-01 04:00:00", "2023-10-01 03:55:00", {
        "AEP_GEN_HUB", "ATSI_GEN_HUB", "AEP_DAYTON_HUB", "CHICAGO_GEN_HUB", "CHICAGO_HUB", "DOMINION_HUB",
        "EASTERN_HUB", "NEW_JERSEY_HUB", "N_ILLINOIS_HUB", "OHIO_HUB", "WEST_INT_HUB", "WESTERN_HUB"}),
}


@pytest.fixture(scope="module")
def model() -> rtd.RTDModel:
    return rtd.load_rtd_model()


@pytest.fixture(scope="module")
def spp_blocks() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return rtd.residual_blocks(rtd.source_prices("spp")[0])


@pytest.mark.parametrize("source", sorted(SHIPPED))
def test_shipped_5min_files_follow_the_long_schema(source: str) -> None:
    first, last, hubs = SHIPPED[source]
    frame = pd.read_csv(DATA_DIR / "market" / rtd.SOURCES[source])
    assert list(frame.columns) == ["interval_start_utc", "hub", "rtd_lmp"]
    assert set(frame["hub"]) == hubs
    assert (frame["interval_start_utc"].min(), frame["interval_start_utc"].max()) == (first, last)
    stamps = pd.to_datetime(frame["interval_start_utc"], format="%Y-%m-%d %H:%M:%S")
    assert (stamps.dt.minute % 5 == 0).all() and (stamps.dt.second == 0).all()
    assert not frame.duplicated(["interval_start_utc", "hub"]).any()
    assert frame["rtd_lmp"].notna().all()
    assert np.allclose(frame["rtd_lmp"], frame["rtd_lmp"].round(2), atol=1e-9)
    assert frame.groupby("hub").size().nunique() == 1  # every hub has the same intervals


def test_shipped_json_names_the_fit(model: rtd.RTDModel) -> None:
    raw = json.loads(rtd.MODEL_FILE.read_text())
    assert raw["source"] == "spp" and raw["hubs"] == ["SPPNORTH_HUB", "SPPSOUTH_HUB"]
    assert raw["model"]["n_triplets"] == len(model.triplets_usd_per_mwh) == raw["data_stats"]["n_blocks"]
    assert np.allclose(np.abs(model.triplets_usd_per_mwh.sum(axis=1)), 0.0, atol=1e-9)


def test_model_reproduces_the_real_residuals(model: rtd.RTDModel, spp_blocks) -> None:
    """Sampled on the real 15-minute levels of all 60,294 complete blocks (10,000 blocks are too
    few: with these heavy tails the std of 10,000 real blocks itself moves by +-20%)."""
    level, residual, complete = spp_blocks
    real = rtd.ResidualStats.of(level, residual)
    fmm = np.nan_to_num(level)
    sampled = model.sample(fmm, np.random.default_rng(7)).reshape(-1, 3) - fmm[:, None]
    synthetic = rtd.ResidualStats.of(level, np.where(complete[:, None], sampled, np.nan))
    assert synthetic.std_usd_per_mwh == pytest.approx(real.std_usd_per_mwh, rel=0.10)
    assert synthetic.share_abs_over_50 == pytest.approx(real.share_abs_over_50, abs=0.005)
    assert synthetic.lag1_autocorrelation == pytest.approx(real.lag1_autocorrelation, abs=0.1)
    assert synthetic.lag2_autocorrelation == pytest.approx(real.lag2_autocorrelation, abs=0.1)
    assert synthetic.median_abs_usd_per_mwh == pytest.approx(real.median_abs_usd_per_mwh, rel=0.10)
    for band, std in real.std_by_level_usd_per_mwh.items():  # the spread follows the price level
        assert synthetic.std_by_level_usd_per_mwh[band] == pytest.approx(std, rel=0.25), band
    assert real.std_by_level_usd_per_mwh["[150, inf)"] > 10 * real.std_by_level_usd_per_mwh["[15, 25)"]


def test_sample_is_seeded_and_keeps_the_fmm_mean(model: rtd.RTDModel) -> None:
    fmm = np.random.default_rng(0).normal(40.0, 60.0, size=(3, 2, 96))
    a = model.sample(fmm, np.random.default_rng(11))
    assert a.shape == (3, 2, 288)
    assert np.array_equal(a, model.sample(fmm, np.random.default_rng(11)))
    assert not np.array_equal(a, model.sample(fmm, np.random.default_rng(12)))
    assert np.allclose(a.reshape(3, 2, 96, 3).mean(axis=-1), fmm, atol=1e-9)
    assert not np.allclose(a, np.repeat(fmm, 3, axis=-1))


def test_fit_recovers_its_own_library() -> None:
    rng = np.random.default_rng(3)
    price = np.repeat(rng.normal(30.0, 20.0, size=(40, 96)), 3, axis=1) + rng.standard_t(3, size=(40, 288))
    fitted = rtd.RTDModel.fit(price)
    level, residual, complete = rtd.residual_blocks(price)
    assert len(fitted.triplets_usd_per_mwh) == complete.sum() == 40 * 96
    assert np.isclose(fitted.checksum_usd_per_mwh, np.abs(residual).sum())
    assert fitted.n_levels == len(rtd.LEVEL_QUANTILES) + 1 and fitted.n_states == len(rtd.STATE_QUANTILES) + 1


@pytest.mark.parametrize(("fmm", "message"), [
    (np.array([30.0, np.nan, 20.0]), "fmm_price"),
    (np.array(30.0), "fmm_price"),
    (np.zeros((2, 0)), "fmm_price"),
])
def test_sample_rejects_bad_fmm_prices(model: rtd.RTDModel, fmm: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        model.sample(fmm, np.random.default_rng(0))


def test_sample_rejects_a_legacy_rng(model: rtd.RTDModel) -> None:
    with pytest.raises(ValueError, match="rng"):
        model.sample(np.ones(4), np.random.RandomState(0))  # type: ignore[arg-type]


@pytest.mark.parametrize("price", [np.zeros((3, 96)), np.zeros(10), np.zeros((2, 2, 288)), np.array([1.0, np.inf, 2.0])])
def test_fit_rejects_bad_shapes(price: np.ndarray) -> None:
    with pytest.raises(ValueError, match="price_5min"):
        rtd.RTDModel.fit(price)


def test_load_rejects_a_broken_json(tmp_path, monkeypatch) -> None:
    raw = json.loads(rtd.MODEL_FILE.read_text())
    raw["model"]["checksum_usd_per_mwh"] += 1.0
    broken = tmp_path / "rtd_model.json"
    broken.write_text(json.dumps(raw))
    monkeypatch.setattr(rtd, "MODEL_FILE", broken)
    rtd._model_file.cache_clear()
    rtd.load_rtd_model.cache_clear()
    try:
        with pytest.raises(ValueError, match="does not match the triplets"):
            rtd.load_rtd_model()
        del raw["model"]
        broken.write_text(json.dumps(raw))
        rtd._model_file.cache_clear()
        with pytest.raises(ValueError, match="not a valid RTD model file"):
            rtd.load_rtd_model()
    finally:
        rtd._model_file.cache_clear()
        rtd.load_rtd_model.cache_clear()
