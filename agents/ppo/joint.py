"""The policy PPO trains on TwoSettlement-v0: one network for both levels, each step's
log-probability and entropy taken over the action entries that step's phase reads.

TwoSettlement-v0's action is one flat Box: the DA step reads its first ``da_size`` entries, an
RT step the rest. With SB3's plain Gaussian policy every step's probability ratio would also
carry the entries its phase ignores (120 on an RT step): noise that fills PPO's clipping and its
gradient. :class:`PhaseMaskedPolicy` is that Gaussian MLP policy with the ignored entries left out
of the log-probability and the entropy; its network, hence its export
(:func:`agents.ppo.policy.export`) and the acting adapter
(:class:`agents.ppo.policy.PPOTwoSettlement`), is SB3's ``ActorCriticPolicy``'s.

The phase is read from the flattened observation's phase one-hot (``phase_columns``: the
columns of phase 0 and phase 1), normalised or not: VecNormalize shifts both columns by their
means and scales them alike, so the DA step is the one whose phase-0 column is the larger.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.distributions import DiagGaussianDistribution, Distribution
from stable_baselines3.common.policies import ActorCriticPolicy


class PhaseMaskedGaussian(DiagGaussianDistribution):
    """A diagonal Gaussian whose log-probability and entropy sum over ``mask``'s entries only
    (``mask``: (batch, action_dim), 1 where the step reads the entry)."""

    def __init__(self, source: DiagGaussianDistribution, mask: torch.Tensor) -> None:
        super().__init__(source.action_dim)
        self.distribution, self.mask = source.distribution, mask

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        return (self.distribution.log_prob(actions) * self.mask).sum(dim=1)

    def entropy(self) -> torch.Tensor:
        return (self.distribution.entropy() * self.mask).sum(dim=1)


class PhaseMaskedPolicy(ActorCriticPolicy):
    """SB3's MLP actor-critic for TwoSettlement-v0 behind ``FlattenObservation``:
    ``phase_columns`` the flattened observation's columns of phase 0 and 1, ``da_size`` the
    action entries the DA step reads (the RT steps read the rest)."""

    def __init__(self, *args: Any, phase_columns: tuple[int, int], da_size: int, **kwargs: Any) -> None:
        self.phase_columns, self.da_size = (int(phase_columns[0]), int(phase_columns[1])), int(da_size)
        self._mask: torch.Tensor | None = None
        super().__init__(*args, **kwargs)

    def phase_mask(self, obs: torch.Tensor) -> torch.Tensor:
        """(batch, action_dim): 1 on the entries each observation's phase reads."""
        da_step = (obs[:, self.phase_columns[0]] > obs[:, self.phase_columns[1]]).unsqueeze(1)
        reads_da = torch.arange(self.action_space.shape[0], device=obs.device).unsqueeze(0) < self.da_size
        return (reads_da == da_step).to(obs.dtype)

    def forward(self, obs: torch.Tensor, deterministic: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        self._mask = self.phase_mask(obs)
        try:
            return super().forward(obs, deterministic)
        finally:
            self._mask = None

    def evaluate_actions(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        self._mask = self.phase_mask(obs)
        try:
            return super().evaluate_actions(obs, actions)
        finally:
            self._mask = None

    def _get_action_dist_from_latent(self, latent_pi: torch.Tensor) -> Distribution:
        distribution = super()._get_action_dist_from_latent(latent_pi)
        if self._mask is None:  # acting (predict): no log-probabilities
            return distribution
        return PhaseMaskedGaussian(distribution, self._mask)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return {**super()._get_constructor_parameters(), "phase_columns": self.phase_columns, "da_size": self.da_size}


def phase_columns(space: gym.spaces.Dict) -> tuple[int, int]:
    """The columns of the phase one-hot in ``gym.spaces.flatten(space, obs)`` (phase 0, phase 1)."""
    zero = {key: (0 if key == "phase" else np.zeros(sub.shape, sub.dtype)) for key, sub in space.spaces.items()}
    first = gym.spaces.flatten(space, zero)
    second = gym.spaces.flatten(space, {**zero, "phase": 1})
    return int(np.flatnonzero(first)[0]), int(np.flatnonzero(second)[0])
