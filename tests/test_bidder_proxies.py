"""Proxies of the LP bidders and decision-focused forecasters: each bidder's LP as data agrees
with the bidder (fixed constraints, affine objective, its own solve), the harness's check of a
bid is the bidder's LP, the solution cache returns feasible plans and the day's optimum when it
holds it, the adapter and the track take it, SPO+ behaves as the surrogate it is, and a
forecaster feeds its bidder (the untrained one is the analog forecaster)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from agents.dfl.forecaster import ForecastBidder, PriceForecaster, features
from agents.dfl.train import TrainConfig, plan_values, regret, spo_plus, train
from agents.proxy.bidder import TorchProxyBidder, save_checkpoint
from agents.proxy.bidder_lp import LP_BIDDERS, BidderLP, bidder_spec
from agents.proxy.cache import CacheConfig, SolutionCache, build
from agents.proxy.dataset import DatasetConfig, ProxyDataset, generate
from agents.proxy.models import MLPProxy
from agents.proxy.problem import BID_SIZE, ProblemSpec, problem_for
from benchmarks.proxy_track import run_track
from bessgym.forecast import da_context
from bessgym.policies import load_component
from bessgym.scenarios import ScenarioSet


@pytest.fixture(scope="module")
def days():
    return ScenarioSet("caiso-sp15")


@pytest.fixture(scope="module")
def contexts(days):
    return [da_context(days, days.get(sid)) for sid in days.ids("test")[:3]]


@pytest.fixture(scope="module")
def robust(contexts) -> BidderLP:
    return problem_for(ProblemSpec.from_context(contexts[0], LP_BIDDERS["robust"]))


@pytest.mark.parametrize("name", sorted(LP_BIDDERS))
def test_the_problem_is_the_bidders_own_lp(name, contexts):
    problem = problem_for(ProblemSpec.from_context(contexts[0], LP_BIDDERS[name]))
    bidder = load_component(LP_BIDDERS[name])
    for ctx in contexts[:2]:
        theta = problem.params(ctx)
        model = bidder.model(ctx)
        assert abs(model.lp.A - problem.A).max() == 0  # one polytope for every day
        assert np.allclose(model.lp.c, problem.c0 + theta @ problem.C, atol=1e-9)
        result = problem.solve(theta)
        value = problem.objective(torch.as_tensor(theta)[None], torch.as_tensor(result.z)[None]).item()
        assert value == pytest.approx(result.objective, rel=1e-9, abs=1e-6)
        bid = bidder.bid(ctx)
        checked, feasible, _ = problem.evaluate_bid(theta, np.r_[bid.energy_mw, bid.as_mw.ravel()])
        assert feasible and checked == pytest.approx(result.objective, rel=1e-6, abs=1e-6)


def test_the_check_refuses_what_the_bidders_lp_refuses(robust, contexts):
    theta = robust.params(contexts[0])
    too_much = np.zeros(BID_SIZE)
    too_much[0] = 2 * robust.battery.p_discharge_mw
    assert robust.evaluate_bid(theta, too_much)[1] is False
    assert robust.evaluate_bid(theta, np.full(BID_SIZE, np.nan))[:2] == (pytest.approx(np.nan, nan_ok=True), False)
    idle_value, feasible, _ = robust.evaluate_bid(theta, np.zeros(BID_SIZE))
    assert feasible and np.isfinite(idle_value)


def test_a_context_of_another_problem_is_refused(robust, contexts):
    other = ScenarioSet("synthetic")
    with pytest.raises(ValueError, match="trained for"):
        robust.params(da_context(other, other.get(other.ids("test")[0])))
    assert "bidder" in robust.spec.mismatch(ProblemSpec.from_context(contexts[0], LP_BIDDERS["chance-lp"]))
    with pytest.raises(ValueError, match="not one of"):
        bidder_spec("robustt")


def test_the_cache_returns_feasible_plans_and_the_optimum_it_holds(robust, contexts):
    thetas = np.stack([robust.params(ctx) for ctx in contexts])
    plans = np.stack([robust.solve(t).z for t in thetas])
    cache = SolutionCache.build(robust, np.concatenate([plans, plans]))  # duplicates dropped
    assert len(cache.bids) == len(np.unique(np.round(plans, 9), axis=0))  # days may share a plan
    bids = cache(torch.as_tensor(thetas)).numpy()
    for theta, plan, bid in zip(thetas, plans, bids, strict=True):
        value, feasible, _ = robust.evaluate_bid(theta, bid)
        best = robust.objective(torch.as_tensor(theta)[None], torch.as_tensor(plan)[None]).item()
        assert feasible and value >= best - 1e-6  # each day's own optimum is in the cache
    # without a day's own plan the cache still gives a feasible bid, worth what it scores
    small = SolutionCache.build(robust, plans[1:])
    bid = small(torch.as_tensor(thetas[:1])).numpy()[0]
    value, feasible, _ = robust.evaluate_bid(thetas[0], bid)
    assert feasible and value >= small.scores(torch.as_tensor(thetas[:1])).max().item() - 1e-3


@pytest.fixture(scope="module")
def cache_checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cache")
    config = DatasetConfig(split="val", days=3, perturbations=1, mixtures=2, synthetic_days=0, bidder="robust")
    dataset = generate(config, progress=False)
    dataset.save(folder / "data")
    assert ProxyDataset.load(folder / "data").spec.bidder == LP_BIDDERS["robust"]
    cache, record = build(CacheConfig(dataset=str(folder / "data"), out=str(folder / "robust")))
    assert record["instances"] == 8 and len(cache.bids) <= 8
    return folder / "robust"


def test_the_adapter_and_the_track_take_a_cache(cache_checkpoint, tmp_path, contexts):
    spec = f"agents.proxy.bidder:TorchProxyBidder?path={cache_checkpoint}"
    bidder = load_component(spec)
    bids = bidder.bid_batch(contexts)
    assert all(b.note["solver"] == "proxy" for b in bids)
    summary = run_track([spec], split="test", out=tmp_path, limit=2, batch=8)[0]
    assert summary["repaired_infeasible_share"] == 0 and summary["raw_infeasible_share"] == 0
    assert summary["gap_mean_pct"] >= -1e-6 and summary["speedup_batch_same_cores"] > 0


def test_a_bidders_lp_takes_only_a_model_that_is_feasible_by_construction(tmp_path, robust):
    prefix = save_checkpoint(MLPProxy(robust.n_params, BID_SIZE, len(robust.row_lower)), None,
                             {"n_params": robust.n_params, "bid_size": BID_SIZE, "n_rows": len(robust.row_lower)},
                             robust.spec, tmp_path / "mlp")
    with pytest.raises(ValueError, match="feasible = True"):
        TorchProxyBidder(path=str(prefix))


def test_cache_needs_a_bidders_dataset(tmp_path):
    generate(DatasetConfig(split="val", days=1, perturbations=0, mixtures=0, synthetic_days=0), progress=False).save(tmp_path)
    with pytest.raises(ValueError, match="--bidder"):
        build(CacheConfig(dataset=str(tmp_path), out=str(tmp_path / "c")))


def test_spo_plus_is_a_surrogate_of_the_regret(robust, contexts):
    thetas = torch.as_tensor(np.stack([robust.params(ctx) for ctx in contexts]))
    plans = np.stack([robust.solve(t).z for t in thetas.numpy()])
    oracle = SolutionCache.build(robust, plans)
    best = plan_values(robust, plans)
    assert spo_plus(thetas, thetas, oracle, best).item() == pytest.approx(0.0, abs=1e-3)  # float32 scores
    assert regret(thetas, thetas, oracle, best).abs().max().item() < 1e-3
    forecast = (thetas.flip(0) + 5.0).requires_grad_(True)
    loss = spo_plus(forecast, thetas, oracle, best)
    assert loss.item() >= regret(forecast.detach(), thetas, oracle, best).mean().item() - 1e-3  # SPO+ bounds the regret
    loss.backward()
    assert torch.isfinite(forecast.grad).all()


def test_an_untrained_forecaster_is_the_analog_forecaster(tmp_path, robust, contexts):
    x = np.stack([features(ctx) for ctx in contexts])
    model = PriceForecaster(x.shape[1], robust.n_params, hidden=8, depth=1)
    assert torch.allclose(model(torch.as_tensor(x, dtype=torch.float32)), torch.as_tensor(x[:, :robust.n_params], dtype=torch.float32))
    torch.save(model.state_dict(), tmp_path / "f.pt")
    kwargs = {"n_features": x.shape[1], "n_params": robust.n_params, "hidden": 8, "depth": 1}
    (tmp_path / "f.json").write_text(json.dumps({"kwargs": kwargs, "problem": robust.spec.to_dict(), "loss": "mse"}))
    bidder = ForecastBidder(path=str(tmp_path / "f"))
    ours, theirs = bidder.bid(contexts[0]), load_component(LP_BIDDERS["robust"]).bid(contexts[0])
    assert np.allclose(ours.energy_mw, theirs.energy_mw, atol=1e-5) and np.allclose(ours.as_mw, theirs.as_mw, atol=1e-5)
    assert ours.note["loss"] == "mse"


def test_a_short_training_run_keeps_its_best_validated_epoch(tmp_path):
    record = train(TrainConfig(out=str(tmp_path / "f"), loss="spo+", epochs=4, eval_every=2, days=6, hidden=8, depth=1))
    history = record["history"]
    assert [h["epoch"] for h in history] == [0, 2, 4]
    kept = next(h for h in history if h["epoch"] == record["kept_epoch"])
    assert kept["regret_usd_per_day"] == min(h["regret_usd_per_day"] for h in history)
    assert record["val"]["regret_usd_per_day"] == pytest.approx(kept["regret_usd_per_day"], abs=1e-9)  # the kept weights
    assert ForecastBidder(path=str(tmp_path / "f")).meta["kept_epoch"] == record["kept_epoch"]


@pytest.mark.parametrize("name", ["caiso-forecast-lp-spo", "caiso-forecast-lp-mse"])
def test_shipped_forecasters_bid(name, contexts):
    bids = load_component(f"agents.dfl.forecaster:ForecastBidder?name={name}").bid_batch(contexts[:2])
    assert all(b.note.get("fallback") is False and b.note["forecaster"] == name for b in bids)


def test_the_certificate_bounds_the_optimum_tightly(robust, contexts):
    theta = robust.params(contexts[0])
    best = robust.solve(theta).objective
    bound, _ = robust.certify(theta)
    assert best - 1e-6 <= bound <= best + 2e-3 * abs(best)
    assert robust.dual_bound(theta, np.zeros(len(robust.row_lower))) >= bound  # any multipliers bound it


def test_the_fallback_solves_exactly_where_the_certificate_says(cache_checkpoint, contexts):
    solved = TorchProxyBidder(path=str(cache_checkpoint), fallback_gap=0.0).bid_batch(contexts[:2])
    kept = TorchProxyBidder(path=str(cache_checkpoint), fallback_gap=1.0).bid_batch(contexts[:2])
    own = [load_component(LP_BIDDERS["robust"]).bid(ctx) for ctx in contexts[:2]]
    for bid, reference in zip(solved, own, strict=True):
        assert bid.note["solver"] != "proxy" and bid.note["certified_gap"] >= 0
        assert np.allclose(bid.energy_mw, reference.energy_mw) and np.allclose(bid.as_mw, reference.as_mw)
    assert all(b.note["solver"] == "proxy" and 0 <= b.note["certified_gap"] <= 1.0 for b in kept)


def test_a_file_cannot_name_any_bidder_class(tmp_path, cache_checkpoint):
    """A bidder spec read from a checkpoint is data: only the LP bidders' classes, never code."""
    record = json.loads(cache_checkpoint.with_suffix(".json").read_text())
    record["problem"]["bidder"] = f"os:system?command=touch {tmp_path / 'pwned'}"
    (tmp_path / "evil.json").write_text(json.dumps(record))
    (tmp_path / "evil.pt").write_bytes(cache_checkpoint.with_suffix(".pt").read_bytes())
    with pytest.raises(ValueError, match="not one of"):
        TorchProxyBidder(path=str(tmp_path / "evil"))
    assert not (tmp_path / "pwned").exists()
    assert bidder_spec("baselines.reference:ForecastLP?reserve_multiple=2") == "baselines.reference:ForecastLP?reserve_multiple=2"


def test_a_cache_refuses_an_lp_other_than_its_own(tmp_path, cache_checkpoint):
    record = json.loads(cache_checkpoint.with_suffix(".json").read_text())
    record["problem"]["bidder"] = "baselines.robust:RobustDA?gamma_h=1.0"  # another budget: other rows
    (tmp_path / "other.json").write_text(json.dumps(record))
    (tmp_path / "other.pt").write_bytes(cache_checkpoint.with_suffix(".pt").read_bytes())
    with pytest.raises(ValueError, match="lp_sha256"):
        TorchProxyBidder(path=str(tmp_path / "other"))


def test_an_empty_cache_and_a_network_on_a_bidders_lp_are_refused(cache_checkpoint, tmp_path):
    from agents.proxy.train import TrainConfig as NetworkConfig
    from agents.proxy.train import train as train_network

    data = cache_checkpoint.parent / "data"
    with pytest.raises(ValueError, match="no optimal instance"):
        build(CacheConfig(dataset=str(data), out=str(tmp_path / "c"), sources="synthetic"))
    with pytest.raises(ValueError, match="agents.proxy.cache"):
        train_network(NetworkConfig(dataset=str(data), out=str(tmp_path / "net")))


def test_the_deployment_model_compares_as_a_model_not_as_text(robust):
    record = robust.spec.to_dict()
    record["deployment"] = {k: (float(v) if isinstance(v, int) and not isinstance(v, bool) else v)
                            for k, v in record["deployment"].items()}
    assert ProblemSpec.from_dict(json.loads(json.dumps(record))) == robust.spec
