"""Solver-labelled instances of the DA problem, for training and testing proxies.

    python -m agents.proxy.dataset --out data/proxy-caiso            # defaults below
    python -m agents.proxy.dataset --out DIR --perturbations 5 --synthetic-days 0

Each instance is a parameter vector ``theta`` (see :mod:`agents.proxy.problem`) from a real
DA context of the split (the gate-closure forecasts a bidder sees), a perturbed copy of one
(a random level factor times the forecasts plus AR(1) noise on energy prices, log-normal noise
on AS prices), a perturbed mixture of two real days (a random convex combination), or a
synthetic day's context (the synthetic generator at the real data's interval length, several
seeds), solved to the optimum under the market's rules
(:func:`agents.proxy.problem.solve_optimum`: the LP, then HiGHS with binaries on the column pairs
the relaxation uses both members of, as :func:`baselines.day_lp.solve_exact` does). Mixtures and
synthetic days add the variety that a year of real days lacks: proxies trained on the real days
and their copies alone overfit them. A dataset folder
holds ``instances.npz`` (theta, the exact primal ``z`` in the builder's column order, its
objective, the LP relaxation's row duals and optimum, solve seconds, status, source and scenario
id per instance) and ``dataset.json`` (the generating config, the problem spec, counts,
versions): the folder alone says how to regenerate it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from dataclasses import dataclass, fields
from importlib import metadata
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from tqdm import tqdm

from agents.proxy.problem import ProblemSpec, ProxyProblem, encode, solve_optimum
from baselines.solver import solve
from bessgym.config import load_config
from bessgym.forecast import da_context
from bessgym.processes import ar1
from bessgym.scenarios import ScenarioSet, stable_seed

FILES = ("instances.npz", "dataset.json")


class DatasetConfig(BaseModel):
    """How a dataset is generated (stored with it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    config: str | dict = "caiso-sp15"
    split: str = "train"
    days: int = Field(0, ge=0, description="only the split's first N real days (0: all of them)")
    perturbations: int = Field(3, ge=0, description="perturbed copies per real day, besides the day itself")
    mixtures: int = Field(2000, ge=0, description="perturbed mixtures of two random real days of the split")
    synthetic_days: int = Field(365, ge=0, description="synthetic days' contexts per synthetic seed (its train split)")
    synthetic_seeds: int = Field(1, ge=0, description="synthetic price histories (seeds 0..N-1)")
    level_spread: float = Field(0.25, ge=0, lt=1, description="price level factor drawn from U(1 - s, 1 + s)")
    price_noise_usd_per_mwh: float = Field(15.0, ge=0, description="std of the AR(1) noise on DA and RT forecasts")
    noise_phi: float = Field(0.9, ge=0, lt=1, description="AR(1) coefficient of that noise (per interval)")
    as_noise_sigma: float = Field(0.3, ge=0, description="log-normal sigma of the AS price noise")
    seed: int = 0
    time_limit_s: float = Field(10.0, gt=0)


@dataclass
class ProxyDataset:
    """Instances (arrays with a leading instance axis) and where they came from."""

    theta: np.ndarray
    z: np.ndarray
    objective: np.ndarray
    duals: np.ndarray
    relaxation_objective: np.ndarray
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
        return problem.bids(self.z)

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

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            folder / FILES[0], theta=self.theta, z=self.z, objective=self.objective, duals=self.duals,
            relaxation_objective=self.relaxation_objective, solve_seconds=self.solve_seconds, status=self.status,
            source=self.source, scenario_id=self.scenario_id,
        )
        meta = {
            "generator": self.config.model_dump(), "problem": self.spec.to_dict(),
            "count": len(self), "by_source": {s: int((self.source == s).sum()) for s in np.unique(self.source)},
            "optimal": int((self.status == "optimal").sum()),
            "solve_seconds": round(float(self.solve_seconds.sum()), 1),
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "versions": {p: metadata.version(p) for p in ("bessgym", "highspy", "numpy")},
        }
        (folder / FILES[1]).write_text(json.dumps(meta, indent=1) + "\n")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> ProxyDataset:
        folder = Path(folder)
        missing = [f for f in FILES if not (folder / f).is_file()]
        if missing:
            raise FileNotFoundError(f"{folder} is not a proxy dataset: missing {', '.join(missing)} "
                                    "(make one with python -m agents.proxy.dataset --out DIR)")
        meta = json.loads((folder / FILES[1]).read_text())
        with np.load(folder / FILES[0]) as arrays:
            data = {k: arrays[k] for k in arrays.files}
        missing = {f.name for f in fields(cls)} - set(data) - {"config", "spec"}
        if missing:
            raise ValueError(f"{folder} lacks {sorted(missing)}: a dataset made before the sub-period market rules "
                             "(regenerate it with python -m agents.proxy.dataset --out DIR)")
        return cls(**data, config=DatasetConfig(**meta["generator"]), spec=ProblemSpec.from_dict(meta["problem"]))


def perturb(theta: np.ndarray, problem: ProxyProblem, config: DatasetConfig, rng: np.random.Generator) -> np.ndarray:
    """A perturbed copy of ``theta``: level factor, AR(1) energy-price noise, log-normal AS noise."""
    h, n = 24, problem.n_intervals
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
    problem = ProxyProblem(ProblemSpec.from_context(first))
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


def label(problem: ProxyProblem, theta: np.ndarray, time_limit_s: float) -> tuple:
    """One instance solved to its optimum under the rules: (exact z, its objective, the LP
    relaxation's row duals and optimum, seconds, status); NaN where a solve failed."""
    model = problem.model(theta)
    start = time.perf_counter()
    relaxation = solve(model.lp, time_limit_s)
    exact = solve_optimum(model, time_limit_s, first=relaxation)
    seconds = time.perf_counter() - start
    ok = relaxation.status.ok and exact.status.ok
    status = exact.status if relaxation.status.ok else relaxation.status
    nan = lambda n: np.full(n, np.nan)  # noqa: E731
    return (exact.z if ok else nan(problem.n_cols), exact.objective if ok else np.nan,
            relaxation.row_duals if ok else nan(len(problem.row_lower)), relaxation.objective if ok else np.nan,
            seconds, status.value)


def generate(config: DatasetConfig | None = None, progress: bool = True) -> ProxyDataset:
    """Build and solve every instance of ``config`` (HiGHS, one thread)."""
    config = config or DatasetConfig()
    problem, items = contexts(config)
    labels = [label(problem, theta, config.time_limit_s) for _, _, theta in tqdm(items, desc="solving", unit="day", disable=not progress)]
    z, objective, duals, relaxed, seconds, status = (np.array(column) for column in zip(*labels, strict=True))
    return ProxyDataset(
        np.array([theta for _, _, theta in items]), z, objective, duals, relaxed, seconds, status,
        np.array([s for s, _, _ in items]), np.array([i for _, i, _ in items]), config, problem.spec,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="dataset folder to write")
    parser.add_argument("--config", default="caiso-sp15", help="preset name or config JSON (default caiso-sp15)")
    for name, field in DatasetConfig.model_fields.items():
        if name != "config":
            parser.add_argument(f"--{name.replace('_', '-')}", type=type(field.default), default=field.default,
                                help=field.description or f"default {field.default}")
    args = vars(parser.parse_args(argv))
    out = args.pop("out")
    dataset = generate(DatasetConfig(**args))
    dataset.save(out)
    print(f"{len(dataset)} instances ({(dataset.status == 'optimal').sum()} optimal), HiGHS "
          f"{np.median(dataset.solve_seconds) * 1e3:.1f} ms median, {dataset.solve_seconds.sum():.0f} s in all -> {out}")


if __name__ == "__main__":
    main()
