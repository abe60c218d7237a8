"""A learned price forecaster for an LP bidder, and the DA bidder it feeds.

:func:`features` describes a gate-closure context (F,): the analog forecaster's point forecast
``theta`` (DA 24 $/MWh, RT T $/MWh, AS 24 x 4 $/MW-h, :func:`agents.proxy.problem.encode`'s
layout), the ensemble's most recent day in the same layout, the weekday (one-hot, 7) and the
month's phase (cos, sin). :class:`PriceForecaster` maps them to a forecast ``theta``: the point
forecast plus a learned correction, zero at the start (the untrained forecaster *is* the analog
forecaster). :class:`ForecastBidder` is a DA bidder: the checkpoint's LP bidder bidding on the
context with its point forecasts replaced by the network's (the LP bidders read only the point
forecasts; the ensemble is left as it was).

Checkpoints are two files (:mod:`agents.checkpoints`): ``NAME.pt`` (state dict, read with
``torch.load(weights_only=True)``) and ``NAME.json`` (``kwargs``, ``problem``: the bidder's
:class:`~agents.proxy.problem.ProblemSpec`, ``loss`` and the training record). Spec strings::

    agents.dfl.forecaster:ForecastBidder?name=caiso-forecast-lp-spo    # shipped
    agents.dfl.forecaster:ForecastBidder?path=runs/dfl/my-forecaster
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from agents.checkpoints import load_weights, locate
from agents.proxy.bidder_lp import load_lp_bidder
from agents.proxy.problem import ProblemSpec, encode, split_theta, theta_of
from bessgym.forecast import DAContext
from bessgym.market import DABid

CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"


def features(ctx: DAContext) -> np.ndarray:
    """The forecaster's input for a gate-closure context (see the module docstring)."""
    last = theta_of(ctx.da_scenarios[-1], ctx.rt_scenarios[-1], ctx.as_scenarios[-1])
    weekday = np.eye(7)[ctx.date.weekday()]
    phase = 2 * np.pi * (ctx.date.month - 1) / 12
    return np.concatenate([encode(ctx), last, weekday, [np.cos(phase), np.sin(phase)]])


class PriceForecaster(nn.Module):
    """``theta_hat = point + scale * head(trunk((features - mean) / std))``: an MLP correction
    of the point forecast (the first ``n_params`` features), per entry in units of ``scale``
    (the training set's std of the point forecast's error). The head starts at zero."""

    def __init__(self, n_features: int, n_params: int, hidden: int = 128, depth: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Linear(width, n_params)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.n_params = n_params
        self.register_buffer("feature_mean", torch.zeros(n_features))
        self.register_buffer("feature_std", torch.ones(n_features))
        self.register_buffer("scale", torch.ones(n_params))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.feature_mean.dtype)
        correction = self.head(self.trunk((x - self.feature_mean) / self.feature_std))
        return x[:, :self.n_params] + self.scale * correction


def load_forecaster(name: str | None = None, path: str | Path | None = None) -> tuple[PriceForecaster, dict]:
    """The forecaster (eval mode) and JSON record of a shipped (``name``) or own (``path``) checkpoint."""
    meta, weights = locate(CHECKPOINTS, name, path, needs=("kwargs", "problem", "loss"))
    kwargs = meta["kwargs"]
    if not isinstance(kwargs, dict) or sorted(kwargs) != ["depth", "hidden", "n_features", "n_params"]:
        raise ValueError(f"checkpoint record {weights.with_suffix('.json')}: kwargs must be a JSON object with n_features, "
                         f"n_params, hidden and depth, got {kwargs!r}")
    if not isinstance(meta["problem"], dict):
        raise ValueError(f"checkpoint record {weights.with_suffix('.json')}: problem must be a JSON object (the bidder's "
                         f"ProblemSpec), got {type(meta['problem']).__name__}")
    model = PriceForecaster(**kwargs)
    try:
        model.load_state_dict(load_weights(weights))
    except RuntimeError as exc:  # shapes that disagree with kwargs
        first = str(exc).strip().splitlines()[0]
        raise ValueError(f"checkpoint {weights} does not match its record's kwargs {kwargs} ({first[:200]})") from None
    return model.eval(), meta


class ForecastBidder:
    """DA bidder: the checkpoint's LP bidder on the network's price forecasts.

    Each bid's ``note`` is the LP bidder's, with ``forecaster`` (the checkpoint) and ``loss``
    (what it was trained on) added."""

    def __init__(self, name: str | None = None, path: str | None = None) -> None:
        self.model, self.meta = load_forecaster(name, path)
        self.spec = ProblemSpec.from_dict(self.meta["problem"])
        if self.spec.bidder is None:
            raise ValueError(f"forecaster checkpoint {name or path} names no bidder in its problem record")
        self.bidder = load_lp_bidder(self.spec.bidder)
        self.label = name or str(path)

    def forecast(self, contexts: Sequence[DAContext]) -> np.ndarray:
        """The network's ``theta`` (B, P) for each context (checked against the problem it was trained for)."""
        for ctx in contexts:
            problem = self.spec.mismatch(ProblemSpec.from_context(ctx, self.spec.bidder))
            if problem:
                raise ValueError(f"DA context {ctx.scenario_id}: {problem}")
        x = torch.as_tensor(np.stack([features(ctx) for ctx in contexts]))
        with torch.inference_mode():
            return self.model(x).double().numpy()

    def bid_batch(self, contexts: Sequence[DAContext]) -> list[DABid]:
        out = []
        for ctx, theta in zip(contexts, self.forecast(contexts), strict=True):
            da_price, rt_price, as_price = split_theta(theta, ctx.n_intervals)
            seen = dataclasses.replace(ctx, da_price=da_price, rt_price=rt_price, as_price=as_price)
            bid = self.bidder.bid(seen)
            bid.note.update(forecaster=self.label, loss=self.meta["loss"])
            out.append(bid)
        return out

    def bid(self, ctx: DAContext) -> DABid:
        return self.bid_batch([ctx])[0]
