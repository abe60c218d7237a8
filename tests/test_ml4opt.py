"""The optimization-learning workflow: fixed split files with a documented schema, generated
deterministically; a torch Dataset over them; exports (MPS, (c, A, bounds) arrays) that other
solvers solve to the stored optima; example checkpoints that reload in another process; every
script option described."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap

import highspy
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from torch.utils.data import DataLoader

from agents.dfl import train as dfl_train
from agents.proxy import cache as cache_module
from agents.proxy import dataset as dataset_module
from agents.proxy import instances, train
from agents.proxy.bidder import importable_name, save_checkpoint
from agents.proxy.dataset import ARRAYS, SCHEMA, InstanceDataset, ProxyDataset, Stats
from agents.proxy.models import MLPProxy
from agents.proxy.problem import BID_SIZE, ProblemSpec, problem_for, solve_optimum
from baselines.reference import ForecastLP
from baselines.solver import new_highs, run, solve
from benchmarks.examples import conv_proxy
from bessgym.config import load_config
from bessgym.forecast import da_context
from bessgym.scenarios import ScenarioSet


@pytest.fixture(scope="module")
def split_files(tmp_path_factory):
    """val and test files of the first two days each."""
    folder = tmp_path_factory.mktemp("da-lp")
    return instances.write_splits("caiso-sp15", folder, ("val", "test"), days=2, progress=False)


def test_split_files_follow_the_schema(split_files):
    days = ScenarioSet("caiso-sp15")
    for split, file in split_files.items():
        with np.load(file) as f:
            assert set(f.files) == {*ARRAYS, "meta"}
            meta = json.loads(f["meta"][()])
        data = ProxyDataset.load(file)
        problem = problem_for(data.spec)
        assert meta["schema"] == SCHEMA and meta["split"] == split and meta["config"] == "caiso-sp15"
        assert list(data.scenario_id) == days.ids(split)[:2] and set(data.source) == {"real"}
        assert (data.status == "optimal").all()
        # the block tables cover theta, the columns and the rows exactly, in order
        for table, width in ((meta["theta_blocks"], problem.n_params), (meta["primal_blocks"], problem.n_cols),
                             (meta["dual_blocks"], len(problem.row_lower))):
            spans = sorted((start, stop) for start, stop, _ in table.values())
            assert spans[0][0] == 0 and spans[-1][1] == width and all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
        assert meta["primal_blocks"]["e"][2] == "MWh" and meta["dual_blocks"]["accept_up"][2] == "MW"
        assert np.array_equal(meta["pairs"], problem.template.pairs)
        # the labels are what the schema says: each primal has its objective, the relaxation's
        # primal and duals are an optimal pair (the duals' bound is its objective), and the
        # rules' optimum is at most the relaxation's
        theta = torch.as_tensor(data.theta)
        for z, objective in ((data.primal, data.objective), (data.relaxation_primal, data.relaxation_objective)):
            assert np.allclose(problem.objective(theta, torch.as_tensor(z)).numpy(), objective, rtol=1e-9)
        assert np.allclose(problem.dual_bound(theta, torch.as_tensor(data.dual)).numpy(), data.relaxation_objective, rtol=1e-7)
        assert np.all(data.objective <= data.relaxation_objective + 1e-6)
        pairs = problem.template.pairs
        assert np.minimum(data.primal[:, pairs[:, 0]], data.primal[:, pairs[:, 1]]).max() <= 1e-7


def test_the_split_command_is_deterministic(split_files, tmp_path):
    instances.main(["splits", "--out", str(tmp_path), "--splits", "val", "test", "--days", "2"])
    for split, file in split_files.items():
        first, again = np.load(file), np.load(tmp_path / f"{split}.npz")
        for name in ARRAYS:
            if name != "solve_seconds":
                assert np.array_equal(first[name], again[name]), name


def test_an_old_dataset_is_refused_with_the_command_to_remake_it(tmp_path):
    np.savez(tmp_path / "instances.npz", theta=np.zeros((1, 3)))
    with pytest.raises(ValueError, match="regenerate"):
        ProxyDataset.load(tmp_path)


def test_torch_dataset_batches_and_normalises(split_files):
    data = InstanceDataset(split_files["test"])
    stats = Stats.of(data)
    normalised = InstanceDataset(split_files["test"], stats=stats)
    batch = next(iter(DataLoader(normalised, batch_size=2)))
    problem = problem_for(data.data.spec)
    assert batch["theta"].shape == (2, problem.n_params) and batch["primal"].shape == (2, problem.n_cols)
    assert batch["dual"].shape == (2, len(problem.row_lower)) and batch["objective"].shape == (2,)
    assert torch.allclose(batch["theta"].mean(0), torch.zeros(problem.n_params), atol=1e-3)
    assert torch.allclose(stats.denormalise("primal", batch["primal"]), data.primal, atol=1e-4)
    with pytest.raises(ValueError, match="mask"):
        InstanceDataset(split_files["test"], mask=np.ones(5, bool))


def test_training_validates_on_a_fixed_split_file(split_files, tmp_path):
    prefix = tmp_path / "mlp"
    train.main(["--dataset", str(split_files["val"]), "--val", str(split_files["test"]), "--arch", "mlp", "--hidden", "8",
                "--depth", "1", "--supervised-epochs", "1", "--self-supervised-epochs", "1", "--out", str(prefix)])
    record = json.loads(prefix.with_suffix(".json").read_text())
    assert record["training"]["train_instances"] == 2 and record["training"]["val_instances"] == 2
    assert record["training"]["config"]["val"] == str(split_files["test"])


def _linprog(arrays, i: int) -> float:
    """max c z + offset over the exported arrays with scipy's linprog (HiGHS): ranges as <= rows."""
    A = sp.csr_matrix((arrays["A_data"], arrays["A_indices"], arrays["A_indptr"]), shape=tuple(arrays["A_shape"]))
    lo, hi = arrays["row_lower"], arrays["row_upper"]
    eq = lo == hi
    up, down = np.isfinite(hi) & ~eq, np.isfinite(lo) & ~eq
    res = linprog(-arrays["c"][i], A_ub=sp.vstack([A[up], -A[down]]), b_ub=np.r_[hi[up], -lo[down]], A_eq=A[eq], b_eq=lo[eq],
                  bounds=np.c_[arrays["col_lower"], arrays["col_upper"]], method="highs")
    assert res.status == 0, res.message
    return -res.fun + arrays["offset"][i]


def _milp(arrays, i: int) -> float:
    A = sp.csr_matrix((arrays["A_data"], arrays["A_indices"], arrays["A_indptr"]), shape=tuple(arrays["A_shape"]))
    res = milp(-arrays["c"][i], constraints=LinearConstraint(A, arrays["row_lower"], arrays["row_upper"]),
               integrality=arrays["integrality"].astype(int), bounds=Bounds(arrays["col_lower"], arrays["col_upper"]),
               options={"mip_rel_gap": 1e-9})
    assert res.status == 0, res.message
    return -res.fun + arrays["offset"][i]


def _mps(path) -> float:
    h = new_highs(60.0)
    h.setOptionValue("mip_rel_gap", 1e-9)
    assert h.readModel(str(path)) == highspy.HighsStatus.kOk
    result = run(h, "highs")
    assert result.status.ok
    return result.objective


def test_exports_solve_to_the_stored_and_the_baselines_objectives(split_files, tmp_path):
    file = split_files["test"]
    written = instances.export(file, tmp_path, mps=True)
    data = ProxyDataset.load(file)
    days = ScenarioSet("caiso-sp15")
    arrays = {form: np.load(tmp_path / f"test.{form}.npz") for form in instances.FORMS}
    assert len(written) == 2 + 2 * len(data)
    lp_arrays, mip_arrays = arrays["lp"], arrays["mip"]
    assert json.loads(mip_arrays["meta"][()])["sense"] == "maximize" and mip_arrays["integrality"].sum() == len(lp_arrays["pairs"])
    assert list(lp_arrays["col_names"][:2]) == ["x[0]", "x[1]"] and len(lp_arrays["row_names"]) == lp_arrays["A_shape"][0]
    for i, sid in enumerate(data.scenario_id):
        model = ForecastLP(reserve_multiple=1.0).model(da_context(days, days.get(sid)))  # the baseline's own LP
        relaxed, best = solve(model.lp).objective, solve_optimum(model).objective
        for value in (relaxed, _linprog(lp_arrays, i), _mps(tmp_path / "mps" / "test" / f"{i:05d}_{sid}.lp.mps"),
                      lp_arrays["objective"][i]):
            assert value == pytest.approx(data.relaxation_objective[i], rel=1e-6)
        for value in (best, _milp(mip_arrays, i), _mps(tmp_path / "mps" / "test" / f"{i:05d}_{sid}.mip.mps"),
                      mip_arrays["objective"][i]):
            assert value == pytest.approx(data.objective[i], rel=1e-6)


def test_the_example_checkpoint_reloads_in_another_process(split_files, tmp_path):
    """``python -m benchmarks.examples.conv_proxy`` records its class by its importable name; a
    fresh process loads it through the leaderboard's spec string and bids a day."""
    out = tmp_path / "conv"
    subprocess.run([sys.executable, "-m", "benchmarks.examples.conv_proxy", "--dataset", str(split_files["val"]), "--out", str(out),
                    "--supervised-epochs", "1", "--self-supervised-epochs", "1", "--tracks", "none"],
                   check=True, cwd=tmp_path, capture_output=True, text=True)
    arch = json.loads((out / "conv.json").read_text())["arch"]
    assert arch == "benchmarks.examples.conv_proxy:HourConvProxy"
    spec = f"agents.proxy.bidder:TorchProxyBidder?path={out / 'conv'}&arch={arch}"
    script = textwrap.dedent(f"""
        import numpy as np
        from bessgym.forecast import da_context
        from bessgym.policies import load_component
        from bessgym.scenarios import ScenarioSet
        days = ScenarioSet("caiso-sp15")
        bidder = load_component({spec!r})
        bid = bidder.bid(da_context(days, days.get(days.ids("test")[0])))
        assert bid.note["solver"] == "proxy" and np.isfinite(bid.energy_mw).all()
        print(type(bidder.model).__module__)
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "benchmarks.examples.conv_proxy"


def test_an_arch_that_cannot_be_imported_back_is_refused(tmp_path):
    problem = problem_for(_spec())
    kwargs = {"n_params": problem.n_params, "bid_size": BID_SIZE, "n_rows": len(problem.row_lower), "hidden": 4, "depth": 1}

    class Local(MLPProxy):
        pass

    with pytest.raises(ValueError, match="inside a function"):
        save_checkpoint(Local(**kwargs), None, kwargs, problem.spec, tmp_path / "local")
    with pytest.raises(ValueError, match="does not name the saved model's class"):
        save_checkpoint(MLPProxy(**kwargs), "__main__:MLPProxy", kwargs, problem.spec, tmp_path / "wrong")
    assert not list(tmp_path.iterdir())  # nothing written
    assert importable_name(conv_proxy.HourConvProxy) == "benchmarks.examples.conv_proxy:HourConvProxy"
    # a class defined in a script run by path (here: -c) has no importable name
    script = textwrap.dedent(f"""
        from torch import nn
        from agents.proxy.bidder import save_checkpoint
        from agents.proxy.problem import ProblemSpec
        from bessgym.config import load_config
        class Mine(nn.Module):
            pass
        save_checkpoint(Mine(), None, {{}}, ProblemSpec.from_config(load_config("caiso-sp15"), 0.25), {str(tmp_path / 'mine')!r})
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode != 0 and "script run by path or at the prompt" in done.stderr


def _refused(main, argv, capsys) -> str:
    """The one line a script's ``main(argv)`` says on bad input, after checking it exits with 2."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith(("error: ", "python -m"))
    return err.strip().splitlines()[-1]


def test_scripts_refuse_to_replace_earlier_outputs(split_files, tmp_path, capsys):
    """Each script names the files that exist and says how to go on, before any work."""
    folder, test = split_files["test"].parent, split_files["test"]
    before = test.read_bytes()
    line = _refused(instances.main, ["splits", "--out", str(folder), "--splits", "test", "--days", "1"], capsys)
    assert line.startswith("error: ") and str(test) in line and "--overwrite" in line and "another --out" in line
    assert test.read_bytes() == before
    for name in ("instances.npz", "mlp.pt", "conv/conv.pt", "export/test.lp.npz"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"earlier")
    cases = [
        (dataset_module.main, ["--out", str(tmp_path), "--split", "val", "--days", "1"], "instances.npz"),
        (train.main, ["--dataset", str(test), "--out", str(tmp_path / "mlp")], "mlp.pt"),
        (conv_proxy.main, ["--dataset", str(test), "--out", str(tmp_path / "conv"), "--tracks", "none"], "conv/conv.pt"),
        (instances.main, ["export", str(test), "--out", str(tmp_path / "export"), "--forms", "lp"], "export/test.lp.npz"),
    ]
    for main, argv, name in cases:
        line = _refused(main, argv, capsys)
        assert str(tmp_path / name) in line and "--overwrite" in line, line
        assert (tmp_path / name).read_bytes() == b"earlier"
    # --overwrite replaces, and an export's earlier MPS files go with it (a shorter --limit leaves none behind)
    out = tmp_path / "export"
    instances.main(["export", str(test), "--out", str(out), "--forms", "lp", "--mps", "--overwrite"])
    assert len(list((out / "mps" / "test").glob("*.lp.mps"))) == 2
    _refused(instances.main, ["export", str(test), "--out", str(out), "--forms", "lp", "--mps", "--limit", "1"], capsys)
    instances.main(["export", str(test), "--out", str(out), "--forms", "lp", "--mps", "--limit", "1", "--overwrite"])
    assert len(list((out / "mps" / "test").glob("*.lp.mps"))) == 1
    with np.load(out / "test.lp.npz") as arrays:
        assert arrays["c"].shape[0] == 1


@pytest.mark.parametrize("script, argv, says", [
    (instances, ["export", "data/nope.npz", "--out", "OUT"], "is not a proxy dataset"),
    (instances, ["export", "TEST", "--out", "OUT", "--limit", "0"], "--limit: must be at least 1, got '0'"),
    (instances, ["splits", "--out", "OUT", "--config", "nosuch"], "config 'nosuch' is neither a preset"),
    (instances, ["splits", "--out", "OUT", "--days", "-1"], "--days: must be at least 0"),
    (train, ["--dataset", "data/nope.npz", "--out", "OUT/p"], "is not a proxy dataset"),
    (train, ["--dataset", "TEST", "--val", "data/nope.npz", "--out", "OUT/p"], "data/nope.npz is not a proxy dataset"),
    (train, ["--dataset", "TEST", "--out", "OUT/p", "--val-fraction", "1"], "--val-fraction: must be below 1"),
    (train, ["--dataset", "TEST", "--out", "OUT/p", "--batch-size", "0"], "--batch-size: must be at least 1"),
    (train, ["--dataset", "TEST", "--out", "OUT/p", "--lr", "nan"], "--lr: expected a finite number"),
    (dataset_module, ["--out", "OUT", "--split", "nosplit"], "split 'nosplit' is unknown"),
    (dataset_module, ["--out", "OUT", "--level-spread", "1.5"], "--level-spread: must be below 1"),
    (dataset_module, ["--out", "OUT", "--mixtures", "-2"], "--mixtures: must be at least 0"),
    (conv_proxy, ["--dataset", "data/nope.npz", "--out", "OUT"], "is not a proxy dataset"),
    (conv_proxy, ["--dataset", "TEST", "--out", "OUT", "--limit", "0"], "--limit: must be at least 1"),
])
def test_ordinary_mistakes_are_one_line_without_a_traceback(script, argv, says, split_files, tmp_path, capsys):
    argv = [str(split_files["test"]) if a == "TEST" else a.replace("OUT", str(tmp_path / "out")) for a in argv]
    line = _refused(script.main, argv, capsys)
    assert says in line, line
    assert not (tmp_path / "out").exists()


def test_a_script_says_a_missing_file_in_one_line_in_its_own_process(tmp_path):
    done = subprocess.run([sys.executable, "-m", "agents.proxy.train", "--dataset", "data/nope.npz", "--out", str(tmp_path / "p")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and done.stderr.startswith("error: data/nope.npz")
    with pytest.raises(FileNotFoundError):  # --debug: the exception itself, for its traceback
        train.main(["--dataset", "data/nope.npz", "--out", str(tmp_path / "p"), "--debug"])


def _spec() -> ProblemSpec:
    return ProblemSpec.from_config(load_config("caiso-sp15"), 0.25)


def _options(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _options(sub)
        elif not isinstance(action, argparse._HelpAction):
            yield parser.prog, action


@pytest.mark.parametrize("module", [dataset_module, train, instances, conv_proxy, cache_module, dfl_train])
def test_every_script_option_is_described(module):
    options = list(_options(module.parser()))
    assert options
    for prog, action in options:
        assert action.help and len(action.help) > 10, f"{prog} {action.option_strings or action.dest} has no description"
