"""Proxy networks. Any ``torch.nn.Module`` can be a proxy (see :mod:`agents.proxy.bidder`):

* ``forward(theta)``: parameter vectors (B, P) in $ units -> raw bids (B, 120), x then r, MW;
* optionally ``duals(theta)``: (B, rows) row multipliers, for the certified gap;
* optionally ``trajectory(theta)`` and ``decoder`` (SoC-trajectory proxies): the predicted SoC
  trajectories (B, 48) the bids are decoded from, for supervised training and refinement.

The module normalises its own inputs (statistics in buffers, so the state dict is complete).
"""

from __future__ import annotations

import torch
from torch import nn


def _trunk(width: int, hidden: int, depth: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), nn.SiLU()]
        width = hidden
    return nn.Sequential(*layers)


def _register_scales(module: nn.Module, n_params: int, n_rows: int) -> None:
    """Buffers for the training set's input mean / std and the std of each predicted dual (set by
    training; a module predicting only some rows' duals names them in ``dual_rows``)."""
    module.register_buffer("theta_mean", torch.zeros(n_params))
    module.register_buffer("theta_std", torch.ones(n_params))
    module.register_buffer("dual_scale", torch.ones(n_rows))


class MLPProxy(nn.Module):
    """A multilayer perceptron with a bid head and a dual head on a shared trunk.

    Inputs are standardised with the training set's per-feature mean and std; the dual head
    predicts duals divided by their per-row std (``dual_scale``).
    """

    def __init__(self, n_params: int, bid_size: int, n_rows: int, hidden: int = 256, depth: int = 3) -> None:
        super().__init__()
        self.trunk = _trunk(n_params, hidden, depth)
        self.bid_head = nn.Linear(hidden, bid_size)
        self.dual_head = nn.Linear(hidden, n_rows)
        _register_scales(self, n_params, n_rows)

    def _features(self, theta: torch.Tensor) -> torch.Tensor:
        return self.trunk((theta.to(self.theta_mean.dtype) - self.theta_mean) / self.theta_std)

    def forward(self, theta: torch.Tensor) -> torch.Tensor:
        return self.bid_head(self._features(theta))

    def duals(self, theta: torch.Tensor) -> torch.Tensor:
        return self.dual_head(self._features(theta)) * self.dual_scale


class SoCTrajectoryProxy(nn.Module):
    """A multilayer perceptron that predicts the LP's two SoC trajectories at the hour ends (the
    SoC ``e`` after the hour's flows, then the planned SoC ``ep`` of the schedule), decoded exactly
    into the best bid following them (:class:`agents.proxy.decode.HourlyDecoder`).

    The decoded bid is feasible by construction and optimal for the LP's own trajectories; errors
    in predicted ones cost value (see :mod:`agents.proxy.decode`). ``problem`` is the
    :class:`ProblemSpec` as a dict (the decoder's tables are rebuilt from it, not stored). With
    ``relative`` the day's DA and RT prices also enter centred and scaled by the day's own mean
    and spread (the schedule turns on prices relative to the rest of the day). The dual head
    predicts the multipliers of the decoder's coupling rows only (``dual_rows``: what its
    decomposition bound needs), the others are 0.
    """

    def __init__(self, problem: dict, hidden: int = 256, depth: int = 3, relative: bool = True) -> None:
        super().__init__()
        from agents.proxy.decode import decoder_for
        from agents.proxy.problem import ProblemSpec, problem_for

        self.problem = problem_for(ProblemSpec.from_dict(problem))
        self.decoder = decoder_for(self.problem)
        self.relative = relative
        self.n_energy = 24 + self.problem.n_intervals  # DA and RT prices lead theta
        n_params, self.n_rows = self.problem.n_params, len(self.problem.row_lower)
        self.dual_rows = torch.as_tensor(self.decoder.coupling)
        self.trunk = _trunk(n_params + (self.n_energy if relative else 0), hidden, depth)
        self.trajectory_head = nn.Linear(hidden, 48)
        self.dual_head = nn.Linear(hidden, len(self.dual_rows))
        _register_scales(self, n_params, len(self.dual_rows))
        states = self.problem.trajectory_cols
        self.register_buffer("state_lower", torch.as_tensor(self.problem.lower[states], dtype=torch.float32), persistent=False)
        self.register_buffer("state_upper", torch.as_tensor(self.problem.upper[states], dtype=torch.float32), persistent=False)

    def _features(self, theta: torch.Tensor) -> torch.Tensor:
        theta = theta.to(self.theta_mean.dtype)
        x = (theta - self.theta_mean) / self.theta_std
        if self.relative:  # the day's energy prices against the day's own level and spread
            energy = theta[:, :self.n_energy]
            mean, std = energy.mean(-1, keepdim=True), energy.std(-1, keepdim=True)
            x = torch.cat([x, (energy - mean) / (std + 1.0)], -1)
        return self.trunk(x)

    def trajectory(self, theta: torch.Tensor) -> torch.Tensor:
        """Predicted SoC at the hours' ends (B, 48), MWh, within the SoC bounds: ``e`` then ``ep``."""
        span = self.state_upper - self.state_lower
        return self.state_lower + span * torch.sigmoid(self.trajectory_head(self._features(theta)))

    def forward(self, theta: torch.Tensor) -> torch.Tensor:
        return self.decoder(theta, self.trajectory(theta))

    def duals(self, theta: torch.Tensor) -> torch.Tensor:
        y = self.dual_head(self._features(theta)) * self.dual_scale
        return y.new_zeros(len(y), self.n_rows).index_copy(1, self.dual_rows, y)
