"""Train an optimization proxy for the DA problem on a solver-labelled dataset.

    python -m agents.proxy.dataset --out data/proxy-caiso
    python -m agents.proxy.train --dataset data/proxy-caiso --out runs/proxy/soc
    python -m agents.proxy.train --dataset data/da-lp/train.npz --val data/da-lp/val.npz --out runs/proxy/fixed
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
stay together), or ``--val`` names a separate instance file (the fixed val split of
``python -m agents.proxy.instances splits``). Both are read through
:class:`agents.proxy.dataset.InstanceDataset`. The exported checkpoint records the dataset's
generating config and the validation figures.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from tqdm import tqdm

from agents.proxy import cli
from agents.proxy.bidder import save_checkpoint
from agents.proxy.dataset import InstanceDataset, ProxyDataset
from agents.proxy.models import MLPProxy, SoCTrajectoryProxy
from agents.proxy.problem import BID_SIZE, ProxyProblem, problem_for
from agents.proxy.repair import repair

class TrainConfig(BaseModel):
    """Training options (each is a command-line option of the same name)."""

    model_config = ConfigDict(extra="forbid")

    dataset: str = Field("", description="instance file (.npz) or dataset folder to train on (python -m "
                         "agents.proxy.dataset, or a split file of python -m agents.proxy.instances)")
    val: str = Field("", description="instance file to validate on (e.g. the fixed val split); default: hold out "
                     "--val-fraction of --dataset's real days")
    out: str = Field("runs/proxy/soc", description="checkpoint prefix: writes OUT.pt (state dict) and OUT.json (record)")
    arch: Literal["soc", "mlp"] = Field("soc", description="network: soc (SoC-trajectory proxy, exact decoder) or mlp "
                                        "(plain bid network)")
    hidden: int = Field(256, ge=1, description="hidden units per layer")
    depth: int = Field(3, ge=1, description="hidden layers")
    relative: bool = Field(True, description="soc arch: also feed the day's energy prices relative to the day's mean "
                           "and spread")
    supervised_epochs: int = Field(100, ge=0, description="epochs of phase 1 (supervised on the solver's trajectories "
                                   "or bids, and duals)")
    self_supervised_epochs: int = Field(40, ge=0, description="epochs of phase 2 (the LP objective of the repaired bid, "
                                        "a violation penalty)")
    batch_size: int = Field(128, ge=1, description="instances per gradient step")
    lr: float = Field(1e-3, gt=0, description="AdamW learning rate (cosine-annealed to lr/20)")
    weight_decay: float = Field(1e-4, ge=0, description="AdamW weight decay")
    dual_weight: float = Field(0.1, ge=0, description="weight of the dual loss (duals standardised per row)")
    penalty: float = Field(1.0, ge=0, description="phase 2: weight per MW or MWh of mean raw violation, in units of "
                           "the mean optimum ($)")
    anchor_weight: float = Field(0.1, ge=0, description="phase 2: share of the supervised loss kept as an anchor")
    val_fraction: float = Field(0.1, ge=0, lt=1, description="share of --dataset's real days held out for validation "
                                "(without --val)")
    seed: int = Field(0, description="seed of the holdout, the initialisation and the batch order")
    threads: int = Field(1, ge=1, description="torch threads")


@dataclass
class Split:
    theta: torch.Tensor
    bids: torch.Tensor
    trajectory: torch.Tensor  # SoC, then planned SoC, at hour ends (MWh)
    duals: torch.Tensor
    objective: torch.Tensor


def splits(dataset: ProxyDataset, problem: ProxyProblem, val_fraction: float, seed: int,
           val: ProxyDataset | None = None) -> tuple[Split, Split]:
    """Optimal instances as training and validation tensors (float64): ``val``'s, or a
    share of ``dataset``'s days held out (:meth:`ProxyDataset.holdout`)."""
    if val is None:
        train_mask, val_mask = dataset.holdout(val_fraction, seed)
        parts = InstanceDataset(dataset, train_mask, dtype=torch.float64), InstanceDataset(dataset, val_mask, dtype=torch.float64)
    else:
        mismatch = dataset.spec.mismatch(val.spec)
        if mismatch:
            raise ValueError(f"the validation file's problem differs from the training set's: {mismatch}")
        parts = InstanceDataset(dataset, dtype=torch.float64), InstanceDataset(val, dtype=torch.float64)
    bid_cols = torch.as_tensor(problem.completion.bid_cols)
    trajectory_cols = torch.as_tensor(problem.trajectory_cols)
    return tuple(Split(d.theta, d.primal[:, bid_cols], d.primal[:, trajectory_cols], d.dual, d.objective)
                 for d in parts)  # type: ignore[return-value]


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


def train(config: TrainConfig, progress: bool = True, overwrite: bool = False) -> Path:
    """Train ``config.arch`` on ``config.dataset`` and export it to ``config.out``; where
    ``OUT.pt`` or ``OUT.json`` exists, FileExistsError before training, unless ``overwrite``."""
    prefix = Path(config.out)
    cli.refuse_existing([prefix.with_suffix(".pt"), prefix.with_suffix(".json")], overwrite)
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    dataset = ProxyDataset.load(config.dataset)
    if dataset.spec.bidder is not None:
        raise ValueError(f"dataset {config.dataset} holds {dataset.spec.bidder}'s LP, which has no repair layer or decoder for a "
                         "network: make its proxy with python -m agents.proxy.cache --dataset ... (networks train on ForecastLP's "
                         "LP at the reserve multiple 1: python -m agents.proxy.dataset without --bidder)")
    problem = problem_for(dataset.spec)
    val = ProxyDataset.load(config.val) if config.val else None
    train_set, val_set = splits(dataset, problem, config.val_fraction, config.seed, val)
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
        model, None, kwargs, dataset.spec, config.out,
        dataset={"path": str(config.dataset), "count": len(dataset), "generator": dataset.config.model_dump()},
        training={"config": config.model_dump(), "seconds": round(seconds, 1), "train_instances": len(train_set.theta),
                  "val_instances": len(val_set.theta), "val": final, "log": log[-1:]},
    )
    print(f"trained in {seconds:.0f} s; validation {json.dumps({k: round(v, 4) for k, v in final.items()})} -> {prefix}.pt/.json")
    return prefix


def parser() -> argparse.ArgumentParser:
    return cli.config_parser("python -m agents.proxy.train", __doc__.splitlines()[0], TrainConfig, ("dataset",), "OUT.pt and OUT.json")


def main(argv: list[str] | None = None) -> None:
    cli.run(parser(), argv, _main)


def _main(args: argparse.Namespace) -> None:
    options = vars(args)
    overwrite = options.pop("overwrite")
    train(TrainConfig(**options), overwrite=overwrite)


if __name__ == "__main__":
    main()
