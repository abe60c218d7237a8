"""Solver-labelled instances of the DA problem (instance files, their generation, a torch Dataset).

One implementation of the instance file (schema :data:`SCHEMA`), its generation and its torch
view, for training and testing proxies.

    python -m agents.proxy.dataset --out data/proxy-caiso            # augmented training set
    python -m agents.proxy.dataset --out DIR --perturbations 5 --synthetic-days 0
    python -m agents.proxy.instances splits --out data/da-lp         # fixed train/val/test files

Each instance is a parameter vector ``theta`` (see :mod:`agents.proxy.problem`) from a real
DA context of the split (the gate-closure forecasts a bidder sees), a perturbed copy of one
(a random level factor times the forecasts plus AR(1) noise on energy prices, log-normal noise
on AS prices), a perturbed mixture of two real days (a random convex combination), or a
synthetic day's context (the synthetic generator at the real data's interval length, several
seeds), solved to the optimum under the market's rules
(:func:`agents.proxy.problem.solve_optimum`: the LP, then HiGHS with binaries on the column pairs
the relaxation uses both members of, as :func:`baselines.day_lp.solve_exact` does). Mixtures and
synthetic days add the variety that a year of real days lacks: proxies trained on the real days
and their copies alone overfit them.

The instance file (schema ``bessgym.da-lp-instances/1``) is one ``.npz`` (``numpy.load``, no
pickles); arrays with a leading instance axis N:

* ``theta`` (N, P) float64: the LP's parameters, ``[da_price (24) $/MWh, rt_price (T) $/MWh,
  as_price (24 x 4) $/MW-h]`` (``meta["theta_blocks"]``);
* ``primal`` (N, n) float64: the optimum under the market's rules (at most one column of each
  pair positive), in the builder's column order (``meta["primal_blocks"]``); ``objective`` (N,)
  its value, $ (maximised: revenue positive);
* ``relaxation_primal`` (N, n), ``relaxation_objective`` (N,): the LP relaxation's optimum (the
  LP as built, no pair rule), and ``dual`` (N, m): its row duals in the builder's row order
  (``meta["dual_blocks"]``), HiGHS's signs for a maximisation: ``dual[i]`` is the optimum's
  change per unit of row i's binding bound ($ per MW or MWh; >= 0 at an upper bound, <= 0 at a
  lower one), so ``(relaxation_primal, dual)`` is an optimal primal-dual pair;
* ``status`` (N,) str (``optimal``, ``infeasible``, ``unbounded``, ``time_limit``, ``error``:
  the rules' solve, or the relaxation's where that failed; NaN labels then), ``solve_seconds``
  (N,) (both solves, one HiGHS thread), ``source`` (N,) str (``real``, ``perturbed``,
  ``mixture``, ``synthetic``), ``scenario_id`` (N,) str (the day's id; ``A+B`` for a mixture);
* ``meta``: a JSON string (``json.loads(f["meta"][()])``): ``schema``, ``config`` (preset name
  or config), ``split``, ``seed``, ``generator`` (the :class:`DatasetConfig`: the file alone says
  how to regenerate it), ``problem`` (the :class:`ProblemSpec`), the three block tables
  (``name: [start, stop, unit]``), ``pairs`` (the column pairs), counts and package versions.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from tqdm import tqdm

from agents.proxy import cli
from agents.proxy.bidder_lp import BidderLP, bidder_spec
from agents.proxy.problem import ProblemSpec, ProxyProblem, encode, problem_for, solve_optimum
from baselines.solver import solve
from bessgym.config import load_config
from bessgym.forecast import da_context
from bessgym.market import HOURS, PRODUCTS
from bessgym.processes import ar1
from bessgym.scenarios import ScenarioSet, stable_seed

SCHEMA = "bessgym.da-lp-instances/1"
FILE = "instances.npz"  # the file in a dataset folder
ARRAYS = ("theta", "primal", "objective", "relaxation_primal", "relaxation_objective", "dual", "solve_seconds", "status",
          "source", "scenario_id")
COLUMN_UNITS = {"x": "MW", "r": "MW", "xp": "MW", "xm": "MW", "ep": "MWh", "b": "MW", "dis_up": "MW", "ch_up": "MW",
                "dis_dn": "MW", "ch_dn": "MW", "e": "MWh", "above": "MWh", "below": "MWh",
                # RobustDA's LP: the duals of each interval's worst-case deployment energy
                "lam_up": "MWh", "mu_up": "MWh", "lam_down": "MWh", "mu_down": "MWh"}
ROW_UNITS = {"accept_up": "MW", "accept_down": "MW", "planned_legs": "MW", "planned_soc": "MWh", "duration_up_start": "MWh",
             "duration_up_end": "MWh", "duration_down_start": "MWh", "duration_down_end": "MWh", "power_up": "MW",
             "power_dn": "MW", "soc": "MWh", "terminal": "MWh", "follow": "MW", "available_power_up": "MW",
             "available_power_down": "MW", "available_energy_up": "MWh", "available_energy_down": "MWh",
             "robust_dual_up": "MWh", "robust_dual_down": "MWh", "robust_soc_up": "MWh", "robust_soc_down": "MWh",
             "chance_low": "MWh", "chance_high": "MWh"}


class DatasetConfig(BaseModel):
    """How a dataset is generated (stored with it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    config: str | dict = Field("caiso-sp15", description="preset name or config (the days, battery and market)")
    split: str = Field("train", description="the config's split whose days are used: train, val or test")
    days: int = Field(0, ge=0, description="only the split's first N real days (0: all of them)")
    perturbations: int = Field(3, ge=0, description="perturbed copies per real day, besides the day itself")
    mixtures: int = Field(2000, ge=0, description="perturbed mixtures of two random real days of the split")
    synthetic_days: int = Field(365, ge=0, description="synthetic days' contexts per synthetic seed (its train split)")
    synthetic_seeds: int = Field(1, ge=0, description="synthetic price histories (seeds 0..N-1)")
    level_spread: float = Field(0.25, ge=0, lt=1, description="price level factor drawn from U(1 - s, 1 + s)")
    price_noise_usd_per_mwh: float = Field(15.0, ge=0, description="std of the AR(1) noise on DA and RT forecasts, $/MWh")
    noise_phi: float = Field(0.9, ge=0, lt=1, description="AR(1) coefficient of that noise (per interval)")
    as_noise_sigma: float = Field(0.3, ge=0, description="log-normal sigma of the AS price noise")
    seed: int = Field(0, description="seed of the perturbations and mixtures (the real days need none)")
    time_limit_s: float = Field(10.0, gt=0, description="HiGHS time limit per solve, seconds (with --bidder, the "
                                "bidder's own solve keeps its own limit)")
    bidder: str | None = Field(None, description="label with this LP bidder's own LP and solve (robust, chance-lp, "
                               "forecast-lp, or a spec of one of their classes with arguments; agents.proxy.bidder_lp); "
                               "none: ForecastLP's LP at the reserve multiple 1, solved to the rules' optimum")


def blocks(index: dict[str, np.ndarray], units: dict[str, str], what: str) -> dict[str, list]:
    """``name: [start, stop, unit]`` of the builder's contiguous column or row blocks."""
    out = {}
    for name, idx in index.items():
        if name not in units:
            raise ValueError(f"{what} block {name!r} has no unit in agents.proxy.dataset (known: {sorted(units)})")
        if len(idx) and not np.array_equal(idx, np.arange(idx[0], idx[0] + len(idx))):
            raise ValueError(f"{what} block {name!r} is not contiguous")
        start = int(idx[0]) if len(idx) else 0
        out[name] = [start, start + len(idx), units[name]]
    return out


def theta_blocks(problem: ProxyProblem) -> dict[str, list]:
    """``name: [start, stop, unit]`` of ``theta``'s parts (AS prices hour-major, PRODUCTS order)."""
    n = problem.n_intervals
    return {"da_price": [0, HOURS, "$/MWh"], "rt_price": [HOURS, HOURS + n, "$/MWh"],
            "as_price": [HOURS + n, problem.n_params, f"$/MW-h, hour-major, products {list(PRODUCTS)}"]}


def instance_file(path: str | Path) -> Path:
    """The instance file of ``path``: ``path`` itself if it ends in ``.npz``, else ``path/instances.npz``."""
    path = Path(path)
    return path if path.suffix == ".npz" else path / FILE


@dataclass
class ProxyDataset:
    """Instances (arrays with a leading instance axis, see the module docstring) and where they
    came from."""

    theta: np.ndarray
    primal: np.ndarray
    objective: np.ndarray
    relaxation_primal: np.ndarray
    relaxation_objective: np.ndarray
    dual: np.ndarray
    solve_seconds: np.ndarray
    status: np.ndarray
    source: np.ndarray
    scenario_id: np.ndarray
    config: DatasetConfig
    spec: ProblemSpec

    def __len__(self) -> int:
        return len(self.theta)

    def bids(self, problem: ProxyProblem) -> np.ndarray:
        """The solver's bids (N, 120): x then r, the proxy's output layout."""
        return problem.bids(self.primal)

    def holdout(self, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Boolean masks (train, validation): a share of the real days, with their perturbed
        copies, is held out; mixtures with a held-out day belong to neither side."""
        base = np.isin(self.source, ("real", "perturbed"))
        days = np.unique(self.scenario_id[base])
        rng = np.random.default_rng(seed)
        held = set(rng.choice(days, size=int(round(fraction * len(days))), replace=False))
        val = base & np.array([s in held for s in self.scenario_id])
        leaks = (self.source == "mixture") & np.array([bool(held & set(s.split("+"))) for s in self.scenario_id])
        return ~val & ~leaks, val

    def meta(self) -> dict:
        """The file's ``meta`` record (see the module docstring)."""
        problem = problem_for(self.spec)
        return {
            "schema": SCHEMA, "config": self.config.config, "split": self.config.split, "seed": self.config.seed,
            "generator": self.config.model_dump(), "problem": self.spec.to_dict(),
            "theta_blocks": theta_blocks(problem), "primal_blocks": blocks(problem.cols, COLUMN_UNITS, "column"),
            "dual_blocks": blocks(problem.rows, ROW_UNITS, "row"), "pairs": problem.template.pairs.tolist(),
            "count": len(self), "by_source": {str(s): int((self.source == s).sum()) for s in np.unique(self.source)},
            "optimal": int((self.status == "optimal").sum()),
            "versions": {p: metadata.version(p) for p in ("bessgym", "highspy", "numpy")},
        }

    def save(self, path: str | Path) -> Path:
        """Write the instance file (:func:`instance_file`) of ``path``; returns it."""
        file = instance_file(path)
        file.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(file, **{name: getattr(self, name) for name in ARRAYS}, meta=np.array(json.dumps(self.meta())))
        return file

    @classmethod
    def load(cls, path: str | Path) -> ProxyDataset:
        """Read an instance file (``.npz``) or a dataset folder holding ``instances.npz``."""
        file = instance_file(path)
        if not file.is_file():
            raise FileNotFoundError(f"{path} is not a proxy dataset: no {file.name} (make one with "
                                    "python -m agents.proxy.dataset --out DIR or python -m agents.proxy.instances splits --out DIR)")
        with np.load(file) as arrays:
            data = {k: arrays[k] for k in arrays.files}
        meta = json.loads(data.pop("meta")[()]) if "meta" in data else {}
        if meta.get("schema") != SCHEMA:
            raise ValueError(f"{file} has schema {meta.get('schema')!r}, this bessgym reads {SCHEMA!r} (a file made before "
                             "it: regenerate it with the command its folder came from, e.g. python -m agents.proxy.dataset --out DIR)")
        missing = sorted(set(ARRAYS) - set(data))
        if missing:
            raise ValueError(f"{file} lacks the arrays {missing} of schema {SCHEMA}")
        return cls(**{k: data[k] for k in ARRAYS}, config=DatasetConfig(**meta["generator"]), spec=ProblemSpec.from_dict(meta["problem"]))


def perturb(theta: np.ndarray, problem: ProxyProblem, config: DatasetConfig, rng: np.random.Generator) -> np.ndarray:
    """A perturbed copy of ``theta``: level factor, AR(1) energy-price noise, log-normal AS noise."""
    h, n = HOURS, problem.n_intervals
    level = rng.uniform(1 - config.level_spread, 1 + config.level_spread)
    noise = ar1(rng.normal(0.0, config.price_noise_usd_per_mwh, h + n), config.noise_phi)
    out = theta.copy()
    out[:h + n] = level * theta[:h + n] + noise
    out[h + n:] = level * theta[h + n:] * np.exp(rng.normal(0.0, config.as_noise_sigma, theta.size - h - n))
    return out


def contexts(config: DatasetConfig) -> tuple[ProxyProblem, list[tuple[str, str, np.ndarray]]]:
    """The problem and the (source, scenario id, theta) of every instance to solve."""
    real = ScenarioSet(config.config)
    ids = real.ids(config.split)[: config.days or None]
    if not ids:
        raise ValueError(f"split {config.split!r} of the dataset's config has no days")
    first = da_context(real, real.get(ids[0]))
    problem = problem_for(ProblemSpec.from_context(first, None if config.bidder is None else bidder_spec(config.bidder)))
    items: list[tuple[str, str, np.ndarray]] = []
    thetas = {sid: problem.params(da_context(real, real.get(sid))) for sid in ids}
    for sid, theta in thetas.items():
        items.append(("real", sid, theta))
        for j in range(config.perturbations):
            rng = np.random.default_rng(stable_seed("proxy-dataset", config.seed, sid, j))
            items.append(("perturbed", sid, perturb(theta, problem, config, rng)))
    rng = np.random.default_rng(stable_seed("proxy-dataset-mixtures", config.seed))
    for _ in range(config.mixtures):
        a, b = rng.choice(len(ids), 2, replace=False)
        w = rng.uniform()
        mixed = w * thetas[ids[a]] + (1 - w) * thetas[ids[b]]
        items.append(("mixture", f"{ids[a]}+{ids[b]}", perturb(mixed, problem, config, rng)))
    for seed in range(config.synthetic_seeds if config.synthetic_days else 0):
        items += [("synthetic", sid, theta) for sid, theta in _synthetic(config, problem, seed)]
    return problem, items


def _synthetic(config: DatasetConfig, problem: ProxyProblem, seed: int) -> list[tuple[str, np.ndarray]]:
    base = load_config(config.config)
    synthetic = load_config("synthetic").model_dump(mode="json")
    synthetic["battery"] = base.battery.model_dump()
    synthetic["data"]["synthetic_interval_minutes"] = int(round(problem.dt_h * 60))
    synthetic["seed"] = seed
    days = ScenarioSet(synthetic)
    ids = days.ids("train")[: config.synthetic_days]
    return [(f"{sid}@seed{seed}", encode(da_context(days, days.get(sid)))) for sid in ids]


def label(problem: ProxyProblem | BidderLP, theta: np.ndarray, time_limit_s: float) -> tuple:
    """One instance solved: (the rules' optimum z and objective, the LP relaxation's z and
    objective, its row duals, seconds, status); NaN where a solve failed. For a bidder's LP the
    "optimum" is the bidder's own solve (its time limit, not ``time_limit_s``)."""
    model = problem.model(theta)
    start = time.perf_counter()
    relaxation = solve(model.lp, time_limit_s)
    if isinstance(problem, BidderLP):
        exact = problem.bidder.solve(model)
    else:
        exact = solve_optimum(model, time_limit_s, first=relaxation)
    seconds = time.perf_counter() - start
    ok = relaxation.status.ok and exact.status.ok
    status = exact.status if relaxation.status.ok else relaxation.status
    nan = lambda n: np.full(n, np.nan)  # noqa: E731
    if not ok:
        return nan(problem.n_cols), np.nan, nan(problem.n_cols), np.nan, nan(len(problem.row_lower)), seconds, status.value
    return exact.z, exact.objective, relaxation.z, relaxation.objective, relaxation.row_duals, seconds, status.value


def generate(config: DatasetConfig | None = None, progress: bool = True) -> ProxyDataset:
    """Build and solve every instance of ``config`` (HiGHS, one thread): deterministic, the
    same arrays on every run but ``solve_seconds``."""
    config = config or DatasetConfig()
    problem, items = contexts(config)
    labels = [label(problem, theta, config.time_limit_s) for _, _, theta in tqdm(items, desc="solving", unit="day", disable=not progress)]
    columns = [np.array(column) for column in zip(*labels, strict=True)]
    return ProxyDataset(np.array([theta for _, _, theta in items]), *columns, np.array([s for s, _, _ in items]),
                        np.array([i for _, i, _ in items]), config, problem.spec)


LABELS = ("primal", "objective", "relaxation_primal", "relaxation_objective", "dual")


@dataclass(frozen=True)
class Stats:
    """Per-feature mean and std (std at least 1e-6) of ``theta`` and each label, from one
    :class:`InstanceDataset` (the training file's, applied to the others)."""

    mean: dict[str, torch.Tensor]
    std: dict[str, torch.Tensor]

    @classmethod
    def of(cls, data: InstanceDataset) -> Stats:
        names = ("theta", *LABELS)
        return cls({n: getattr(data, n).mean(0) for n in names}, {n: getattr(data, n).std(0).clamp(min=1e-6) for n in names})

    def normalise(self, name: str, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean[name]) / self.std[name]

    def denormalise(self, name: str, x: torch.Tensor) -> torch.Tensor:
        return x * self.std[name] + self.mean[name]


class InstanceDataset(torch.utils.data.Dataset):
    """An instance file as a torch ``Dataset``: item i is a dict of tensors ``theta`` (P,),
    ``primal`` (n,), ``objective`` (), ``relaxation_primal`` (n,), ``relaxation_objective`` (),
    ``dual`` (m,), standardised with ``stats`` when given (:meth:`Stats.normalise`; the targets'
    too, :meth:`Stats.denormalise` undoes it). ``data``: a file, a dataset folder or a loaded
    :class:`ProxyDataset`; ``mask`` (N,) bool selects instances; only optimal ones are kept.
    The whole columns are the attributes of the same names (float tensors, unnormalised)::

        train = InstanceDataset("data/da-lp/train.npz")
        stats = Stats.of(train)
        loader = DataLoader(InstanceDataset("data/da-lp/train.npz", stats=stats), batch_size=64, shuffle=True)
    """

    def __init__(self, data: ProxyDataset | str | Path, mask: np.ndarray | None = None, stats: Stats | None = None,
                 dtype: torch.dtype = torch.float32) -> None:
        self.data = data if isinstance(data, ProxyDataset) else ProxyDataset.load(data)
        keep = self.data.status == "optimal"
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape != keep.shape or mask.dtype != bool:
                raise ValueError(f"mask must be a bool array of shape {keep.shape}, got {mask.dtype} {mask.shape}")
            keep &= mask
        self.index = np.flatnonzero(keep)
        self.stats = stats
        self.theta = torch.as_tensor(self.data.theta[self.index], dtype=dtype)
        for name in LABELS:
            setattr(self, name, torch.as_tensor(getattr(self.data, name)[self.index], dtype=dtype))
        self.scenario_id = self.data.scenario_id[self.index]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = {name: getattr(self, name)[i] for name in ("theta", *LABELS)}
        return item if self.stats is None else {k: self.stats.normalise(k, v) for k, v in item.items()}


def parser() -> argparse.ArgumentParser:
    out = argparse.ArgumentParser(prog="python -m agents.proxy.dataset", description=__doc__.split("\n\n")[0],
                                  formatter_class=cli.HelpFormatter)
    out.add_argument("--out", required=True, help="dataset folder to write (its instances.npz, schema " + SCHEMA + "), "
                     "or the .npz file itself")
    cli.add_fields(out, DatasetConfig)
    cli.add_common(out, "the instance file")
    return out


def main(argv: list[str] | None = None) -> None:
    cli.run(parser(), argv, _main)


def _main(args: argparse.Namespace) -> None:
    options = vars(args)
    out, overwrite = Path(options.pop("out")), options.pop("overwrite")
    cli.refuse_existing([instance_file(out)], overwrite)
    dataset = generate(DatasetConfig(**options))
    file = dataset.save(out)
    print(f"{len(dataset)} instances ({(dataset.status == 'optimal').sum()} optimal), HiGHS "
          f"{np.median(dataset.solve_seconds) * 1e3:.1f} ms median, {dataset.solve_seconds.sum():.0f} s in all -> {file}")


if __name__ == "__main__":
    main()
