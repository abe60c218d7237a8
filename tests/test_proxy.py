"""Optimization proxies: the problem as data agrees with the builder and completes a bid as the LP
does, repair always yields a feasible bid, the decoder is exact on the LP's own trajectories,
datasets round-trip, training learns, the bidder and the proxy track work, and the track checks
bids itself."""

from __future__ import annotations

import csv
import functools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from agents.proxy.bidder import TorchProxyBidder, load_checkpoint, save_checkpoint
from agents.proxy.completion import Completion
from agents.proxy.dataset import DatasetConfig, ProxyDataset, contexts, generate, label
from agents.proxy.decode import decoder_for
from agents.proxy.models import MLPProxy
from agents.proxy.problem import BID_SIZE, ProblemSpec, problem_for, solve_optimum
from agents.proxy.repair import TOLERANCE, repair, tables
from agents.proxy.train import TrainConfig, fit, splits
from baselines.day_lp import build_day_model
from baselines.reference import ForecastLP
from baselines.solver import solve
from benchmarks import proxy_track
from benchmarks.proxy_track import check, run_track
from bessgym.battery import Battery
from bessgym.config import load_config
from bessgym.forecast import da_context
from bessgym.market import DABid
from bessgym.scenarios import ScenarioSet

SHIPPED = "agents.proxy.bidder:TorchProxyBidder?name=caiso-soc"


def _rows(path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def days():
    return ScenarioSet("caiso-sp15")


@pytest.fixture(scope="module")
def problem():
    return problem_for(ProblemSpec.from_config(load_config("caiso-sp15"), 0.25))


@pytest.fixture(scope="module")
def solved(days, problem):
    """(theta, the LP relaxation's solve, ForecastLP's exact solve) for three test days."""
    out = []
    for sid in days.ids("test")[:3]:
        theta = problem.params(da_context(days, days.get(sid)))
        model = problem.model(theta)
        out.append((theta, solve(model.lp), solve_optimum(model)))
    return out


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    config = DatasetConfig(split="val", days=5, perturbations=1, mixtures=6, synthetic_days=3, synthetic_seeds=1)
    folder = tmp_path_factory.mktemp("proxy-data")
    generate(config, progress=False).save(folder)
    return folder


def _trajectory(problem, z: np.ndarray) -> torch.Tensor:
    """The SoC and the planned SoC at hour ends (1, 48) of an LP vector."""
    return torch.as_tensor(z[problem.trajectory_cols])[None]


def test_problem_data_agree_with_the_builder(problem, solved):
    rng = np.random.default_rng(0)
    theta = rng.normal(50, 40, problem.n_params)
    lp = problem.model(theta).lp
    assert np.allclose(problem.c0 + theta @ problem.C, lp.c, atol=1e-9)
    assert problem.o0 + theta @ problem.o == pytest.approx(lp.offset, abs=1e-9)
    for theta, relaxed, exact in solved:
        t = torch.as_tensor(theta)[None]
        bid = torch.as_tensor(problem.bids(exact.z))[None]
        completed = problem.complete(bid)
        # the completion fills every column as the exact solve did, so it has its objective
        for name, cols in problem.cols.items():
            assert np.allclose(completed[0, cols].numpy(), exact.z[cols], atol=1e-6), name
        assert problem.objective(t, completed).item() == pytest.approx(exact.objective, rel=1e-9)
        assert problem.violation(completed).item() < 1e-9
        assert problem.eq_residual(torch.as_tensor(exact.z)[None]).abs().max().item() < 1e-6
        # the dual bound is the relaxation's optimum at its duals, an upper bound for any others
        duals = torch.as_tensor(relaxed.row_duals)[None]
        assert problem.dual_bound(t, duals).item() == pytest.approx(relaxed.objective, rel=1e-7)
        noisy = duals + torch.as_tensor(rng.normal(0, 20, duals.shape))
        assert problem.dual_bound(t, noisy).item() >= relaxed.objective - 1e-6 >= exact.objective - 1e-6


def test_completion_refuses_columns_it_cannot_fill(problem):
    model = build_day_model(problem.battery, problem.market, problem.arrays(np.zeros(problem.n_params)), follow_schedule=True,
                            fixed_bid=DABid.idle())
    with pytest.raises(ValueError, match="un_dn"):
        Completion(model)
    with pytest.raises(ValueError, match="120 entries"):
        problem.complete(torch.zeros(1, 7))


def test_spec_without_up_time_is_refused(problem):
    old = problem.spec.to_dict()
    del old["expected_up_time"]
    with pytest.raises(ValueError, match="expected_up_time"):
        ProblemSpec.from_dict(old)


finite_or_not = st.floats(allow_nan=True, allow_infinity=True, width=64)
wild = st.one_of(finite_or_not, st.floats(-3, 3))


@settings(max_examples=100, deadline=None)
@given(arrays(np.float64, (3, BID_SIZE), elements=wild))
def test_repair_gives_a_feasible_bid_for_any_input(problem, raw):
    bids = repair(problem, torch.as_tensor(raw))
    assert torch.isfinite(bids).all()
    assert problem.violation(problem.complete(bids)).max().item() <= 2 * TOLERANCE
    # and by the harness's own check, on the builder's LP
    for bid in bids:
        assert check(_any_day_model(problem), bid.numpy())[1] <= 2 * TOLERANCE


@functools.cache
def _any_day_model(problem):
    return problem.model(np.full(problem.n_params, 40.0))


def test_repair_keeps_a_feasible_bid(problem, solved):
    for _, _, exact in solved:
        bid = torch.as_tensor(problem.bids(exact.z))[None]
        assert torch.allclose(repair(problem, bid), bid, atol=1e-7)


def test_decoder_is_exact_on_the_optimal_trajectories(problem, solved):
    decoder = decoder_for(problem)
    for theta, _, exact in solved:
        t = torch.as_tensor(theta)[None]
        trajectory = _trajectory(problem, problem.completion(problem.bids(exact.z)))
        bid, reached = decoder.decode(t, trajectory)
        assert torch.allclose(reached, trajectory, atol=1e-8)
        assert problem.objective(t, problem.complete(bid)).item() == pytest.approx(exact.objective, rel=1e-7)
        assert problem.violation(problem.complete(bid)).item() <= TOLERANCE  # what repair leaves as it is
        assert problem.objective(t, problem.complete(repair(problem, bid))).item() == pytest.approx(exact.objective, rel=1e-7)
    # any trajectories decode to a feasible bid, following what is reachable of them: decoding
    # the trajectories reached reaches them again
    torch.manual_seed(0)
    theta = torch.as_tensor(solved[0][0]).expand(16, -1)
    bids, reached = decoder.decode(theta, torch.rand(16, 48, dtype=torch.float64) * 5 - 0.5)
    assert problem.violation(problem.complete(bids)).max().item() <= TOLERANCE
    assert torch.allclose(decoder.decode(theta, reached)[1], reached, atol=1e-7)


def test_decomposition_bound_is_tight_at_the_lp_duals_and_valid_for_others(problem, solved):
    decoder = decoder_for(problem)
    rng = np.random.default_rng(1)
    for theta, relaxed, exact in solved:
        t = torch.as_tensor(theta)[None]
        y = torch.as_tensor(relaxed.row_duals[decoder.coupling])[None]
        assert decoder.dual_bound(t, y).item() == pytest.approx(relaxed.objective, rel=1e-9)
        noisy = y + torch.as_tensor(rng.normal(0, 30, y.shape))
        assert decoder.dual_bound(t, noisy).item() >= exact.objective - 1e-6


def test_dataset_round_trip(small_dataset, problem):
    data = ProxyDataset.load(small_dataset)
    assert set(data.source) == {"real", "perturbed", "mixture", "synthetic"}
    assert (data.status == "optimal").all() and len(data) == 5 * 2 + 6 + 3
    _, items = contexts(data.config)  # the stored config says how to regenerate the instances
    assert np.array_equal(data.theta, np.array([theta for _, _, theta in items]))
    assert list(data.scenario_id) == [sid for _, sid, _ in items]
    assert data.spec == problem.spec and data.config.perturbations == 1
    # the stored primal is the exact solve's: it reproduces the stored objective and follows the
    # pairs (the completion of its bid is itself); the relaxation is at least as good
    z = torch.as_tensor(data.primal)
    assert torch.allclose(problem.objective(torch.as_tensor(data.theta), z), torch.as_tensor(data.objective), rtol=1e-9)
    assert np.allclose(problem.completion(data.bids(problem)), data.primal, atol=1e-6)
    assert np.all(data.relaxation_objective >= data.objective - 1e-6)
    # and labelling a stored instance again gives its stored label
    z_again, objective_again, *_ = label(problem, data.theta[-1], 10.0)
    assert objective_again == pytest.approx(data.objective[-1], rel=1e-7)
    assert problem.objective(torch.as_tensor(data.theta[-1:]), torch.as_tensor(z_again[None])).item() == pytest.approx(
        data.objective[-1], rel=1e-7)
    train, val = data.holdout(0.2)
    assert not (train & val).any() and val.any()
    mixed_val = [s for s in data.scenario_id[train] if "+" in s and set(s.split("+")) & set(data.scenario_id[val])]
    assert not mixed_val


def test_missing_dataset_names_the_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="instances.npz"):
        ProxyDataset.load(tmp_path)


def test_a_tiny_training_run_lowers_the_loss(small_dataset, problem):
    torch.manual_seed(0)
    data = ProxyDataset.load(small_dataset)
    train, val = splits(data, problem, 0.2, 0)
    assert train.trajectory.shape[1] == 48
    model = MLPProxy(problem.n_params, BID_SIZE, len(problem.row_lower), hidden=32, depth=2)
    model.theta_mean.copy_(train.theta.mean(0))
    model.theta_std.copy_(train.theta.std(0).clamp(min=1e-3))
    config = TrainConfig(dataset=str(small_dataset), supervised_epochs=15, self_supervised_epochs=5, batch_size=8)
    log = fit(model, problem, train, val, config, progress=False)
    supervised = [e["loss"] for e in log if e["phase"] == "supervised"]
    assert supervised[-1] < 0.5 * supervised[0]
    assert "gap_mean_pct" in log[-1]


def test_checkpoint_round_trip_and_errors(tmp_path, problem):
    model = MLPProxy(problem.n_params, BID_SIZE, len(problem.row_lower), hidden=8, depth=1)
    prefix = save_checkpoint(model, "agents.proxy.models:MLPProxy",
                             {"n_params": problem.n_params, "bid_size": BID_SIZE, "n_rows": len(problem.row_lower), "hidden": 8, "depth": 1},
                             problem.spec, tmp_path / "tiny")
    loaded, _ = load_checkpoint(path=str(prefix))
    theta = torch.randn(2, problem.n_params)
    assert torch.equal(loaded(theta), model.eval()(theta))
    with pytest.raises(FileNotFoundError, match="shipped"):
        load_checkpoint(name="no-such-proxy")
    with pytest.raises(ValueError, match="exactly one"):
        load_checkpoint()
    bad = prefix.with_suffix(".json")
    bad.write_text(bad.read_text().replace("agents.proxy.models:MLPProxy", "agents.proxy.models:Nope"))
    with pytest.raises(ValueError, match="Nope"):
        load_checkpoint(path=str(prefix))


def test_shipped_proxy_bids_feasibly_and_refuses_other_problems(days, problem):
    bidder = TorchProxyBidder(name="caiso-soc")
    contexts_ = [da_context(days, days.get(i)) for i in days.ids("test")[:4]]
    bids = bidder.bid_batch(contexts_)
    for ctx, bid in zip(contexts_, bids, strict=True):
        assert isinstance(bid, DABid) and bid.note["solver"] == "proxy"
        model = ForecastLP(reserve_multiple=1.0).model(ctx)
        assert check(model, np.concatenate([bid.energy_mw, bid.as_mw.ravel()]))[1] <= 1e-6
    other = ScenarioSet(load_config({"battery": {"p_charge_mw": 2.0, "p_discharge_mw": 2.0, "energy_mwh": 8.0}}))
    ctx = da_context(other, other.get(other.ids("test")[0]))
    with pytest.raises(ValueError, match="battery"):
        bidder.bid(ctx)


def test_fallback_solves_where_the_certified_gap_is_too_large(days, problem):
    bidder = TorchProxyBidder(name="caiso-soc", fallback_gap=0.0)
    ctx = da_context(days, days.get(days.ids("test")[0]))
    bid = bidder.bid(ctx)
    assert bid.note["certified_gap"] > 0 and bid.note["solver"].startswith("highs")
    model = problem.model(problem.params(ctx))
    value, violation = check(model, np.concatenate([bid.energy_mw, bid.as_mw.ravel()]))
    assert value == pytest.approx(solve_optimum(model).objective, rel=1e-6) and violation <= 1e-6
    with pytest.raises(ValueError, match="fallback_gap"):
        TorchProxyBidder(name="caiso-soc", fallback_gap=-1)


class LyingBidder:
    """Claims every bid is feasible and optimal while bidding far beyond the battery's limits."""

    def __init__(self) -> None:
        self.problem = problem_for(ProblemSpec.from_config(load_config("caiso-sp15"), 0.25))

    def raw(self, theta):
        return torch.full((len(theta), BID_SIZE), 5.0)

    def predict(self, theta):
        return self.raw(theta).double()

    def bid_batch(self, contexts):
        note = {"solver": "proxy", "status": "optimal", "fallback": False, "violation": 0.0}
        return [DABid(np.full(24, 5.0), np.full((24, 4), 5.0), note) for _ in contexts]


def test_track_checks_bids_itself(tmp_path):
    summary = run_track([LyingBidder()], split="test", out=tmp_path, limit=2, batch=8)
    assert summary[0]["repaired_infeasible_share"] == 1.0 and summary[0]["raw_infeasible_share"] == 1.0
    rows = _rows(tmp_path / "proxy_instances.csv")
    assert len(rows) == 2 and all(float(r["repaired_violation"]) > 1 for r in rows)
    value, violation = check(_any_day_model(LyingBidder().problem), np.full(BID_SIZE, np.nan))
    assert np.isnan(value) and violation == np.inf


def test_leaderboard_proxy_track_cli(tmp_path, capsys, monkeypatch):
    from benchmarks.leaderboard import main

    monkeypatch.setattr(proxy_track, "run_track", functools.partial(run_track, batch=8))  # a small timing batch
    main(["--proxy-track", "--limit", "3", "--out", str(tmp_path)])
    rows = _rows(tmp_path / "proxy_instances.csv")  # every shipped proxy on its own problem
    assert len(rows) == 3 * len(proxy_track.DEFAULT_PROXIES) and all(r["repaired_infeasible"] == "False" for r in rows)
    assert "speed-up" in capsys.readouterr().out


@pytest.mark.parametrize("spec", ["threshold", "baselines.reference:ForecastLP"])
def test_the_track_refuses_a_bidder_that_is_not_a_proxy_in_one_line(spec, tmp_path):
    from benchmarks.leaderboard import main

    with pytest.raises(ValueError, match="not a proxy bidder.*problem.*raw.*predict.*bid_batch"):
        run_track([spec], split="test", out=tmp_path / "direct", limit=2)
    with pytest.raises(SystemExit) as exc:
        main(["--proxy-track", "--limit", "2", "--proxy", spec, "--out", str(tmp_path / "cli")])
    message = str(exc.value.code)
    assert message.startswith("error: ") and "not a proxy bidder" in message and "\n" not in message
    assert not (tmp_path / "direct").exists() and not (tmp_path / "cli").exists()  # refused before any work


def test_the_track_refuses_to_replace_an_earlier_run(tmp_path):
    (tmp_path / "proxy_track.md").write_text("earlier\n")
    with pytest.raises(FileExistsError, match="proxy_track.md.*--overwrite"):
        run_track([LyingBidder()], split="test", out=tmp_path, limit=1, batch=8)
    assert (tmp_path / "proxy_track.md").read_text() == "earlier\n"
    run_track([LyingBidder()], split="test", out=tmp_path, limit=1, batch=8, overwrite=True)
    assert "LyingBidder" in (tmp_path / "proxy_track.md").read_text()


def test_worked_example_runs_both_tracks(small_dataset, tmp_path):
    from benchmarks.examples import conv_proxy

    conv_proxy.main(["--dataset", str(small_dataset), "--out", str(tmp_path), "--supervised-epochs", "2",
                     "--self-supervised-epochs", "1", "--limit", "2", "--batch", "8"])
    track = _rows(tmp_path / "proxy-track" / "proxy_instances.csv")
    arch = "benchmarks.examples.conv_proxy:HourConvProxy"
    assert {r["proxy"].rpartition("?")[2] for r in track} == {f"path={tmp_path / 'conv'}&arch={arch}", "name=caiso-soc"}
    assert all(r["repaired_infeasible"] == "False" for r in track)
    episodes = _rows(tmp_path / "closed-loop" / "episodes.csv")
    assert {r["entry"] for r in episodes} == {"conv-proxy+mpc", "forecast-lp+mpc"}
    assert all(r["status"] == "ok" for r in episodes)


def test_refinement_improves_the_bid_and_stays_feasible(problem, solved):
    theta = np.stack([t for t, _, _ in solved])
    best = np.array([exact.objective for _, _, exact in solved])
    for cache in (problem_for, decoder_for, tables):  # fresh caches, filled first in inference mode (a plain bid)
        cache.cache_clear()
    plain = TorchProxyBidder(name="caiso-soc").predict(theta)
    refined = TorchProxyBidder(name="caiso-soc", refine_steps=10).predict(theta)
    t = torch.as_tensor(theta)
    value = lambda bids: problem.objective(t, problem.complete(bids)).numpy()  # noqa: E731
    assert np.all(value(refined) >= value(plain) - 1e-9) and np.all(value(refined) <= best * (1 + 1e-4))
    assert (best - value(refined)).sum() < 0.8 * (best - value(plain)).sum()
    assert problem.violation(problem.complete(refined)).max().item() <= 2 * TOLERANCE


def test_refinement_needs_a_trajectory_proxy(tmp_path, problem):
    kwargs = {"n_params": problem.n_params, "bid_size": BID_SIZE, "n_rows": len(problem.row_lower), "hidden": 8, "depth": 1}
    prefix = save_checkpoint(MLPProxy(**kwargs), "agents.proxy.models:MLPProxy", kwargs, problem.spec, tmp_path / "mlp")
    with pytest.raises(ValueError, match="refine_steps needs a SoC-trajectory proxy"):
        TorchProxyBidder(path=str(prefix), refine_steps=5)
    with pytest.raises(ValueError, match="refine_steps must be"):
        TorchProxyBidder(name="caiso-soc", refine_steps=-1)


def test_everything_reads_the_builder_rows_with_self_discharge(days, problem):
    spec = ProblemSpec(Battery(self_discharge_per_h=0.02), "caiso", 0.25, problem.spec.expected_deployment, problem.spec.expected_up_time)
    leaky = problem_for(spec)
    theta = leaky.params(da_context(ScenarioSet({"battery": {"self_discharge_per_h": 0.02}}), days.get(days.ids("test")[0])))
    exact = solve_optimum(leaky.model(theta))
    z = leaky.complete(torch.as_tensor(leaky.bids(exact.z))[None])
    assert np.allclose(z[0].numpy(), exact.z, atol=1e-6)
    t = torch.as_tensor(theta)[None]
    decoded = decoder_for(leaky)(t, _trajectory(leaky, z[0].numpy()))
    assert leaky.objective(t, leaky.complete(decoded)).item() == pytest.approx(exact.objective, rel=1e-7)
    assert leaky.violation(leaky.complete(repair(leaky, torch.randn(16, BID_SIZE, dtype=torch.float64) * 3))).max().item() <= 2 * TOLERANCE
