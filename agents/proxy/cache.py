"""Solution caching: a proxy of an LP bidder made of the plans it solved on the training days.

An LP bidder's feasible set does not depend on the forecasts (:mod:`agents.proxy.bidder_lp`),
so every plan ``z_k`` the bidder solved on a training instance is a feasible plan for any day,
and its value on a day is affine in that day's parameters::

    value_k(theta) = c(theta) @ z_k + offset(theta) = base_k + theta @ slope_k

:class:`SolutionCache` keeps ``base``, ``slope`` and the bid of each distinct plan, scores them
all with one matrix product and returns the best one's bid: feasible by construction (no repair),
and the exact optimum whenever the day's optimal plan is in the cache. This is solution caching
as Mulamba et al. use it ("Contrastive losses and solution caching for predict-and-optimize",
IJCAI 2021), here as the proxy itself; the same cache is the LP oracle of the decision-focused
forecasters (:mod:`agents.dfl`).

    python -m agents.proxy.cache --dataset data/cache-robust --out runs/proxy/caiso-robust
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from agents.proxy import cli
from agents.proxy.bidder_lp import BidderLP
from agents.proxy.completion import BID_SIZE
from agents.proxy.dataset import ProxyDataset


class SolutionCache(nn.Module):
    """The distinct plans of an LP bidder's solved instances, as scores and bids.

    Buffers: ``slope`` (K, P) float32 and ``base`` (K,) float64 (``value_k(theta) = base_k +
    theta @ slope_k``, $), ``bids`` (K, 120) float64 (x then r, MW). ``forward(theta)`` (B, P)
    returns the best plan's bid (B, 120); every output is feasible for the bidder's LP
    (``feasible = True``: the bidder adapter applies no repair).
    """

    feasible = True

    def __init__(self, n_entries: int, n_params: int) -> None:
        super().__init__()
        self.register_buffer("slope", torch.zeros(n_entries, n_params, dtype=torch.float32))
        self.register_buffer("base", torch.zeros(n_entries, dtype=torch.float64))
        self.register_buffer("bids", torch.zeros(n_entries, BID_SIZE, dtype=torch.float64))

    @classmethod
    def build(cls, problem: BidderLP, primal: np.ndarray) -> SolutionCache:
        """The cache of the plans ``primal`` (N, n_cols), duplicates (to 1e-9) dropped."""
        primal = np.asarray(primal, float)
        primal = primal[np.isfinite(primal).all(1)]
        _, keep = np.unique(np.round(primal, 9), axis=0, return_index=True)
        plans = primal[np.sort(keep)]
        cache = cls(len(plans), problem.n_params)
        base, slope = problem.plan_values(plans)
        cache.slope.copy_(torch.as_tensor(slope))
        cache.base.copy_(torch.as_tensor(base))
        cache.bids.copy_(torch.as_tensor(problem.bids(plans)))
        return cache

    def scores(self, theta: torch.Tensor) -> torch.Tensor:
        """Every plan's value (B, K), $, on each day's parameters (float32 products)."""
        return self.base.float() + theta.float() @ self.slope.T

    def choice(self, theta: torch.Tensor) -> torch.Tensor:
        """The index (B,) of each day's best plan."""
        return self.scores(theta).argmax(-1)

    def value(self, theta: torch.Tensor) -> torch.Tensor:
        """The value (B,) of each day's best plan, $, in float64."""
        k = self.choice(theta)
        return self.base[k] + (theta.double() * self.slope[k].double()).sum(-1)

    def forward(self, theta: torch.Tensor) -> torch.Tensor:
        return self.bids[self.choice(theta)]


class CacheConfig(BaseModel):
    """How a cache is built (stored in its checkpoint record)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset: str = Field(description="instance file or folder of the bidder's solved instances (python -m agents.proxy.dataset --bidder NAME)")
    out: str = Field(description="checkpoint prefix to write (OUT.pt and OUT.json)")
    sources: str = Field("real,perturbed,mixture,synthetic", description="comma-separated instance sources to keep")


def build(config: CacheConfig) -> tuple[SolutionCache, dict]:
    """Build and save the cache of a dataset's optimal instances; returns it and its record."""
    from agents.proxy.bidder import save_checkpoint
    from agents.proxy.problem import problem_for

    start = time.perf_counter()
    data = ProxyDataset.load(config.dataset)
    if data.spec.bidder is None:
        raise ValueError(f"dataset {config.dataset} is labelled with ForecastLP's reserve-multiple-1 LP, not a bidder's own: "
                         "make one with python -m agents.proxy.dataset --bidder NAME")
    sources = [s for s in config.sources.split(",") if s]
    unknown = sorted(set(sources) - {"real", "perturbed", "mixture", "synthetic"})
    if unknown:
        raise ValueError(f"sources {unknown} are not instance sources (real, perturbed, mixture, synthetic)")
    problem = problem_for(data.spec)
    keep = (data.status == "optimal") & np.isin(data.source, sources)
    if not keep.any():
        raise ValueError(f"dataset {config.dataset} has no optimal instance of the sources {sources}: a cache needs at least one")
    cache = SolutionCache.build(problem, data.primal[keep])
    record = {"dataset": str(config.dataset), "generator": data.config.model_dump(), "instances": int(keep.sum()),
              "entries": len(cache.bids), "sources": sources, "build_seconds": round(time.perf_counter() - start, 1)}
    save_checkpoint(cache, None, {"n_entries": len(cache.bids), "n_params": problem.n_params}, data.spec, config.out,
                    lp_sha256=problem.fingerprint, cache=record)
    return cache, record


def parser() -> argparse.ArgumentParser:
    return cli.config_parser("python -m agents.proxy.cache", __doc__, CacheConfig, ("dataset", "out"), "the checkpoint")


def main(argv: list[str] | None = None) -> None:
    cli.run_checkpoint_command(parser(), argv, CacheConfig, lambda config: build(config)[1])


if __name__ == "__main__":
    main()
