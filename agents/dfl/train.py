"""Train a price forecaster for an LP bidder on the squared error of the prices or on SPO+.

    python -m agents.dfl.train --loss spo+ --out runs/dfl/caiso-forecast-lp-spo    # the shipped recipe
    python -m agents.dfl.train --loss mse --out runs/dfl/caiso-forecast-lp-mse
    python -m agents.dfl.train --bidder robust --loss spo+ --out runs/dfl/caiso-robust-spo

The data: each day of the config's ``train`` split is one sample, the features of its
gate-closure context (:func:`agents.dfl.forecaster.features`, the analog forecaster's) and its
realised prices ``theta``; the ``val`` split's days select the epoch kept. The LP bidder's
objective is affine in ``theta`` over a fixed feasible set (:mod:`agents.proxy.bidder_lp`), so a
plan ``z`` is worth ``base_z + theta @ slope_z`` on any day.

* ``mse``: the mean squared error of the forecast, per entry in units of the point forecast's
  error std on the training days.
* ``spo+``: the SPO+ loss of Elmachtoub and Grigas ("Smart 'predict, then optimize'",
  Management Science 2022), for this maximisation: ``max_z value_z(2 theta_hat - theta) -
  2 value_{z*}(theta_hat) + value_{z*}(theta)``, with ``z*`` the bidder's own solution at the
  realised prices and the max over the bidder's solution cache (the shipped
  :class:`agents.proxy.cache.SolutionCache` of the bidder plus each training day's ``z*``):
  solution caching as the LP oracle (Mulamba et al., IJCAI 2021), so an epoch solves no LP.
  SPO+ is convex in the forecast and its subgradient is ``2 (slope_oracle - slope_z*)``.

Both start from the analog forecast (the network's correction starts at zero) and keep the epoch
with the best validation score of their own loss: for ``spo+`` the decision regret (the bidder's
value at the realised prices of its optimum there, less that of the cached plan the forecast
chooses, $ per day; the validation cache holds each val day's optimum too, so a perfect forecast
has no regret), for ``mse`` the squared error. Validation at epoch 0 is the analog forecaster.
The record also gives ``regret_bidder_usd_per_day``: the regret of the bidder's own solves on the
kept and on the analog forecasts (the cache only approximates the bidder's choice). The val
days select the epoch, so their regrets flatter it: the leaderboard's test days judge it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from tqdm import tqdm

from agents.dfl.forecaster import PriceForecaster, features
from agents.proxy import cli
from agents.proxy.bidder import CHECKPOINTS, load_checkpoint
from agents.proxy.bidder_lp import BidderLP, bidder_spec
from agents.proxy.cache import SolutionCache
from agents.proxy.problem import ProblemSpec, problem_for, theta_of
from bessgym.forecast import da_context
from bessgym.scenarios import ScenarioSet


class TrainConfig(BaseModel):
    """A forecaster's training run (stored in its checkpoint record)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    out: str = Field(description="checkpoint prefix to write (OUT.pt and OUT.json)")
    config: str = Field("caiso-sp15", description="preset name or config file (its train and val splits)")
    days: int = Field(0, ge=0, description="only the first N days of each split (0: all of them)")
    bidder: str = Field("forecast-lp", description="the LP bidder fed (robust, chance-lp, forecast-lp, or a spec of one "
                        "of their classes with arguments)")
    loss: Literal["spo+", "mse"] = Field("spo+", description="training loss")
    cache: str = Field("", description="the bidder's solution cache checkpoint, NAME (shipped) or DIR/NAME "
                       "(default: the shipped cache of the bidder's LP on this config)")
    hidden: int = Field(128, ge=1, description="hidden width")
    depth: int = Field(2, ge=0, description="hidden layers")
    epochs: int = Field(3000, ge=1, description="full-batch epochs")
    lr: float = Field(3e-5, gt=0, description="Adam learning rate")
    weight_decay: float = Field(1e-2, ge=0, description="Adam weight decay")
    eval_every: int = Field(1, ge=1, description="epochs between validations")
    seed: int = Field(0, description="torch seed of the initial weights")


def day_samples(config: str, split: str, problem: BidderLP, limit: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Features (N, F) of each day's gate-closure context, its realised ``theta`` (N, P), its ids
    (the split's first ``limit`` days; 0: all)."""
    days = ScenarioSet(config)
    ids = days.ids(split)[:limit or None]
    x, theta = [], []
    for sid in ids:
        scenario = days.get(sid)
        ctx = da_context(days, scenario)
        problem.params(ctx)  # the context is this problem's
        x.append(features(ctx))
        theta.append(theta_of(scenario.da_price, scenario.rt_price, scenario.as_price))
    return np.array(x), np.array(theta), ids


def optima(problem: BidderLP, theta: np.ndarray) -> np.ndarray:
    """The bidder's own solution (N, n_cols) at each ``theta`` (its solve; NaN rows where it failed)."""
    out = np.full((len(theta), problem.n_cols), np.nan)
    for i, t in enumerate(tqdm(theta, desc="realised optima", unit="day", leave=False)):
        result = problem.solve(t)
        if result.status.ok:
            out[i] = result.z
    return out


def plan_values(problem: BidderLP, plans: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """:meth:`ParametricLP.plan_values` of ``plans`` (N, n_cols) as float64 tensors."""
    base, slope = problem.plan_values(plans)
    return torch.as_tensor(base), torch.as_tensor(slope)


def spo_plus(theta_hat: torch.Tensor, theta: torch.Tensor, oracle: SolutionCache, best: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Mean SPO+ loss ($) of forecasts (B, P) against realised ``theta`` (B, P); ``best`` is the
    realised optima's ``(base, slope)``."""
    base, slope = best
    k = oracle.choice((2 * theta_hat - theta).detach())
    o_base, o_slope = oracle.base[k], oracle.slope[k].double()
    worst = o_base + ((2 * theta_hat - theta) * o_slope).sum(-1)
    return (worst - 2 * (base + (theta_hat * slope).sum(-1)) + base + (theta * slope).sum(-1)).mean()


def regret(theta_hat: torch.Tensor, theta: torch.Tensor, oracle: SolutionCache, best: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Decision regret ($ per day, (B,)): the realised optimum's value less that of the cached
    plan the forecast chooses, both at the realised prices."""
    base, slope = best
    k = oracle.choice(theta_hat)
    return base + (theta * slope).sum(-1) - (oracle.base[k] + (theta * oracle.slope[k].double()).sum(-1))


def solution_cache(cache: str, problem: BidderLP) -> SolutionCache:
    """The bidder's solution cache: the checkpoint ``cache`` (a file prefix DIR/NAME, or a shipped
    name), or ('') the shipped cache of this very problem; a ValueError where it is not one."""
    if not cache:
        for record in sorted(CHECKPOINTS.glob("*.json")):
            meta = json.loads(record.read_text())
            if meta.get("arch", "").endswith(":SolutionCache") and ProblemSpec.from_dict(meta["problem"]) == problem.spec:
                return load_checkpoint(name=record.stem)[0]
        raise ValueError(f"no shipped solution cache of {problem.spec.bidder}'s LP on this config: build one (python -m "
                         "agents.proxy.dataset --bidder ... --out DIR; python -m agents.proxy.cache --dataset DIR --out "
                         "CACHE) and pass --cache CACHE")
    local = "/" in cache or Path(cache).with_suffix(".json").is_file()
    found, meta = load_checkpoint(**({"path": cache} if local else {"name": cache}))
    if not isinstance(found, SolutionCache) or ProblemSpec.from_dict(meta["problem"]) != problem.spec:
        raise ValueError(f"cache {cache!r} is not a solution cache of {problem.spec.bidder}'s LP on this config")
    return found


def joined(*caches: SolutionCache) -> SolutionCache:
    """One cache holding every plan of ``caches``."""
    out = SolutionCache(sum(len(c.bids) for c in caches), caches[0].slope.shape[1])
    for buffer in ("slope", "base", "bids"):
        getattr(out, buffer).copy_(torch.cat([getattr(c, buffer) for c in caches]))
    return out


def bidder_regret(problem: BidderLP, theta_hat: np.ndarray, theta: np.ndarray, best: tuple[torch.Tensor, torch.Tensor]) -> float:
    """Mean regret ($ per day) of the bidder's own decisions on forecasts ``theta_hat`` (its LP
    solved on each), valued at the realised ``theta`` against the realised optima ``best``."""
    base, slope = best
    regrets = []
    for i, (forecast, realised) in enumerate(zip(theta_hat, theta, strict=True)):
        result = problem.solve(forecast)
        if not result.status.ok:
            raise ValueError(f"the bidder's solve failed on validation day {i} ({result.messages}): no regret to report")
        chosen_base, chosen_slope = problem.plan_values(result.z)
        regrets.append(float(base[i] + realised @ slope[i].numpy()) - float(chosen_base + realised @ chosen_slope))
    return float(np.mean(regrets))


def thinned(history: list[dict], most: int) -> list[dict]:
    """About ``most`` evenly spaced entries of ``history``, its first and last among them."""
    kept = history[::max(1, len(history) // most)]
    return kept if kept[-1] is history[-1] else [*kept, history[-1]]


def train(config: TrainConfig) -> dict:
    """Train, keep the best validated epoch, save the checkpoint; returns its record."""
    start = time.perf_counter()
    torch.manual_seed(config.seed)
    days = ScenarioSet(config.config)
    first = da_context(days, days.get(days.ids("train")[0]))
    problem = problem_for(ProblemSpec.from_context(first, bidder_spec(config.bidder)))
    cache = solution_cache(config.cache, problem)

    x_train, theta_train, _ = day_samples(config.config, "train", problem, config.days)
    x_val, theta_val, _ = day_samples(config.config, "val", problem, config.days)
    z_train, z_val = optima(problem, theta_train), optima(problem, theta_val)
    ok_train, ok_val = np.isfinite(z_train).all(1), np.isfinite(z_val).all(1)
    oracle = joined(cache, SolutionCache.build(problem, z_train[ok_train]))  # training's LP oracle
    val_oracle = joined(oracle, SolutionCache.build(problem, z_val[ok_val]))  # holds each val day's optimum: regret >= 0

    tensor = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    xt, tt, xv, tv = tensor(x_train[ok_train]), tensor(theta_train[ok_train]), tensor(x_val[ok_val]), tensor(theta_val[ok_val])
    best_t = plan_values(problem, z_train[ok_train])
    best_v = plan_values(problem, z_val[ok_val])
    n_params = problem.n_params
    model = PriceForecaster(xt.shape[1], n_params, config.hidden, config.depth).double()
    model.feature_mean.copy_(xt.mean(0))
    model.feature_std.copy_(xt.std(0).clamp(min=1e-6))
    model.scale.copy_((tt - xt[:, :n_params]).std(0).clamp(min=1.0))
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)

    def loss_of(x: torch.Tensor, theta: torch.Tensor, best: tuple) -> torch.Tensor:
        theta_hat = model(x)
        if config.loss == "mse":
            return (((theta_hat - theta) / model.scale) ** 2).mean()
        return spo_plus(theta_hat, theta, oracle, best)

    def validate() -> dict:
        with torch.no_grad():
            theta_hat = model(xv)
            return {"regret_usd_per_day": float(regret(theta_hat, tv, val_oracle, best_v).mean()),
                    "mse_scaled": float((((theta_hat - tv) / model.scale) ** 2).mean())}

    history = [{"epoch": 0, **validate()}]
    key = "regret_usd_per_day" if config.loss == "spo+" else "mse_scaled"
    best_state, best_epoch = {k: v.clone() for k, v in model.state_dict().items()}, 0
    for epoch in tqdm(range(1, config.epochs + 1), desc=f"training ({config.loss})", unit="epoch"):
        optimiser.zero_grad()
        loss = loss_of(xt, tt, best_t)
        loss.backward()
        optimiser.step()
        if epoch % config.eval_every == 0 or epoch == config.epochs:
            history.append({"epoch": epoch, "train_loss": loss.item(), **validate()})
            if history[-1][key] < min(h[key] for h in history[:-1]):
                best_state, best_epoch = {k: v.clone() for k, v in model.state_dict().items()}, epoch
    model.load_state_dict(best_state)
    final = validate()
    with torch.no_grad():  # what the bidder itself decides on the kept and on the analog (epoch 0) forecasts
        final["regret_bidder_usd_per_day"] = bidder_regret(problem, model(xv).numpy(), theta_val[ok_val], best_v)
        history[0]["regret_bidder_usd_per_day"] = bidder_regret(problem, x_val[ok_val][:, :n_params], theta_val[ok_val], best_v)

    record = {
        "loss": config.loss, "kept_epoch": best_epoch, "val": final, "val_analog": history[0],
        "train_days": int(ok_train.sum()), "val_days": int(ok_val.sum()), "oracle_plans": len(oracle.bids),
        "cache": config.cache or "shipped",
        "history": thinned(history, 100),
        "training": config.model_dump(), "wall_s": round(time.perf_counter() - start, 1),
        "torch_threads": torch.get_num_threads(),
    }
    out = Path(config.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.float().state_dict(), out.with_suffix(".pt"))
    kwargs = {"n_features": xt.shape[1], "n_params": n_params, "hidden": config.hidden, "depth": config.depth}
    out.with_suffix(".json").write_text(json.dumps({"kwargs": kwargs, "problem": problem.spec.to_dict(), **record}, indent=1) + "\n")
    return record


def parser() -> argparse.ArgumentParser:
    return cli.config_parser("python -m agents.dfl.train", __doc__, TrainConfig, ("out",), "the checkpoint")


def main(argv: list[str] | None = None) -> None:
    cli.run_checkpoint_command(parser(), argv, TrainConfig, lambda config: summary(train(config)))


def summary(record: dict) -> dict:
    """What the command prints of a run's record."""
    return {k: record[k] for k in ("loss", "kept_epoch", "val", "val_analog", "wall_s")}


if __name__ == "__main__":
    main()
