"""Train an optimization proxy for the DA problem on a solver-labelled dataset.

    python -m agents.proxy.dataset --out data/proxy-caiso
    python -m agents.proxy.train --dataset data/proxy-caiso --out runs/proxy/soc
    cp runs/proxy/soc.pt agents/proxy/checkpoints/caiso-soc.pt   # to ship it, the .json likewise

``--arch soc`` (default) trains :class:`agents.proxy.models.SoCTrajectoryProxy`, ``--arch mlp``
the plain :class:`agents.proxy.models.MLPProxy`. Two phases on the same network (:func:`fit`
takes any module with ``forward(theta)`` and, optionally, ``trajectory(theta)`` and ``duals(theta)``):

1. supervised: mean squared error to the solver's SoC trajectories (MWh at hour ends, the SoC
   then the planned SoC; modules with ``trajectory``) or to its bids (MW), and to its duals (the
   LP relaxation's, per-row standardised);
2. self-supervised: the LP objective of the *repaired* bid (differentiated through the repair
   layers) scaled by the training set's mean optimum, minus a penalty on the raw bid's
   constraint violations, keeping a small share of the supervised loss as an anchor.

Days are split between training and validation by scenario id (a day and its perturbed copies
stay together). The exported checkpoint records the dataset's generating config and the
validation figures.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from agents.proxy.bidder import save_checkpoint
from agents.proxy.dataset import ProxyDataset
from agents.proxy.models import MLPProxy, SoCTrajectoryProxy
from agents.proxy.problem import BID_SIZE, ProxyProblem, problem_for
from agents.proxy.repair import repair

ARCHS = {"soc": "agents.proxy.models:SoCTrajectoryProxy", "mlp": "agents.proxy.models:MLPProxy"}


@dataclass
class TrainConfig:
    dataset: str
    out: str = "runs/proxy/soc"
    arch: str = "soc"
    hidden: int = 256
    depth: int = 3
    relative: bool = True  # soc arch: day-relative energy prices as extra inputs
    supervised_epochs: int = 100
    self_supervised_epochs: int = 40
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-4
    dual_weight: float = 0.1
    penalty: float = 1.0  # per MW or MWh of mean raw violation, in units of the mean optimum
    anchor_weight: float = 0.1
    val_fraction: float = 0.1
    seed: int = 0
    threads: int = 1


@dataclass
class Split:
    theta: torch.Tensor
    bids: torch.Tensor
    trajectory: torch.Tensor  # SoC, then planned SoC, at hour ends (MWh)
    duals: torch.Tensor
    objective: torch.Tensor


def splits(dataset: ProxyDataset, problem: ProxyProblem, val_fraction: float, seed: int) -> tuple[Split, Split]:
    """Optimal instances split by day into training and validation tensors (float64)."""
    ok = dataset.status == "optimal"
    train, held = dataset.holdout(val_fraction, seed)
    bids = dataset.bids(problem)
    trajectory = dataset.z[:, problem.trajectory_cols]

    def take(mask: np.ndarray) -> Split:
        t = lambda a: torch.as_tensor(a[mask & ok], dtype=torch.float64)  # noqa: E731
        return Split(t(dataset.theta), t(bids), t(trajectory), t(dataset.duals), t(dataset.objective))

    return take(train), take(held)


def evaluate(model: torch.nn.Module, problem: ProxyProblem, data: Split) -> dict[str, float]:
    """Relative gap of the repaired bids (%) and violations of the raw ones."""
    with torch.no_grad():
        raw = model(data.theta.float()).double()
        value = problem.objective(data.theta, problem.complete(repair(problem, raw)))
        violation = problem.violation(problem.complete(raw))
    gap = 100 * (data.objective - value) / data.objective.abs()
    return {"gap_mean_pct": gap.mean().item(), "gap_p95_pct": gap.quantile(0.95).item(),
            "raw_violation_mean": violation.mean().item(), "raw_infeasible_share": (violation > 1e-6).double().mean().item()}


def dual_scale(model: torch.nn.Module, train: Split) -> torch.Tensor:
    """The std of each dual the module predicts (its ``dual_rows``, by default every row's) over
    the training split, at least 1e-3: the scale of the supervised dual loss."""
    return train.duals[:, getattr(model, "dual_rows", slice(None))].std(0).clamp(min=1e-3)


def fit(model: torch.nn.Module, problem: ProxyProblem, train: Split, val: Split, config: TrainConfig, progress: bool = True) -> list[dict]:
    """Both phases; returns the per-epoch log (losses and, every 10 epochs and at the end,
    validation figures)."""
    torch.manual_seed(config.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    epochs = config.supervised_epochs + config.self_supervised_epochs
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(epochs, 1), eta_min=config.lr / 20)
    dual_rows = getattr(model, "dual_rows", slice(None))
    dual_std = dual_scale(model, train)
    value_scale = train.objective.abs().mean()
    has_duals, has_trajectory = hasattr(model, "duals"), hasattr(model, "trajectory")
    log: list[dict] = []
    bar = tqdm(range(epochs), desc="proxy", unit="epoch", disable=not progress)
    for epoch in bar:
        supervised = epoch < config.supervised_epochs
        model.train()
        total, count = 0.0, 0
        for idx in torch.randperm(len(train.theta)).split(config.batch_size):
            theta = train.theta[idx]
            if has_trajectory:
                fit_loss = ((model.trajectory(theta.float()).double() - train.trajectory[idx]) ** 2).mean()
            else:
                fit_loss = ((model(theta.float()).double() - train.bids[idx]) ** 2).mean()
            loss = fit_loss if supervised else config.anchor_weight * fit_loss
            if has_duals:
                dual_err = (model.duals(theta.float()).double()[:, dual_rows] - train.duals[idx][:, dual_rows]) / dual_std
                loss = loss + config.dual_weight * (dual_err**2).mean()
            if not supervised:
                raw = model(theta.float()).double()
                value = problem.objective(theta, problem.complete(repair(problem, raw)))
                violation = problem.ineq_residual(problem.complete(raw)).sum(-1)
                loss = loss - value.mean() / value_scale + config.penalty * violation.mean() / value_scale
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            count += len(idx)
        sched.step()
        entry = {"epoch": epoch + 1, "phase": "supervised" if supervised else "self-supervised", "loss": total / count}
        if len(val.theta) and ((epoch + 1) % 10 == 0 or epoch + 1 == epochs):
            model.eval()
            entry.update(evaluate(model, problem, val))
            bar.set_postfix(gap=f"{entry['gap_mean_pct']:.2f}%", loss=f"{entry['loss']:.4f}")
        log.append(entry)
    model.eval()
    return log


def train(config: TrainConfig, progress: bool = True) -> Path:
    """Train ``config.arch`` on ``config.dataset`` and export it to ``config.out``."""
    if config.arch not in ARCHS:
        raise ValueError(f"arch must be one of {sorted(ARCHS)}, got {config.arch!r}")
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    dataset = ProxyDataset.load(config.dataset)
    problem = problem_for(dataset.spec)
    train_set, val_set = splits(dataset, problem, config.val_fraction, config.seed)
    if config.arch == "soc":
        kwargs = {"problem": dataset.spec.to_dict(), "hidden": config.hidden, "depth": config.depth, "relative": config.relative}
        model: torch.nn.Module = SoCTrajectoryProxy(**kwargs)
    else:
        kwargs = {"n_params": problem.n_params, "bid_size": BID_SIZE, "n_rows": len(problem.row_lower),
                  "hidden": config.hidden, "depth": config.depth}
        model = MLPProxy(**kwargs)
    model.theta_mean.copy_(train_set.theta.mean(0))
    model.theta_std.copy_(train_set.theta.std(0).clamp(min=1e-3))
    model.dual_scale.copy_(dual_scale(model, train_set))
    start = time.perf_counter()
    log = fit(model, problem, train_set, val_set, config, progress)
    seconds = time.perf_counter() - start
    final = evaluate(model, problem, val_set) if len(val_set.theta) else {}
    prefix = save_checkpoint(
        model, ARCHS[config.arch], kwargs, dataset.spec, config.out,
        dataset={"path": str(config.dataset), "count": len(dataset), "generator": dataset.config.model_dump()},
        training={"config": asdict(config), "seconds": round(seconds, 1), "train_instances": len(train_set.theta),
                  "val_instances": len(val_set.theta), "val": final, "log": log[-1:]},
    )
    print(f"trained in {seconds:.0f} s; validation {json.dumps({k: round(v, 4) for k, v in final.items()})} -> {prefix}.pt/.json")
    return prefix


def _flag(text: str) -> bool:
    if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return text.lower() in ("true", "1", "yes")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m agents.proxy.train", description=__doc__.splitlines()[0])
    for f in fields(TrainConfig):
        required = f.name == "dataset"
        kind = str if required else type(f.default)
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=_flag if kind is bool else kind,
                            required=required, default=None if required else f.default,
                            **({"choices": sorted(ARCHS)} if f.name == "arch" else {}))
    train(TrainConfig(**vars(parser.parse_args(argv))))


if __name__ == "__main__":
    main()
