"""Lagrangian PPO: PPO on the reward minus a learned price of the cost signal.

The envs report a Safety-Gymnasium style cost in ``info["cost"]``: the deployment not delivered
in the step (MWh). Constrained RL asks for the best return whose expected cost per episode (a
day) stays at or below ``cost_limit``. The Lagrangian method (Ray, Achiam & Amodei 2019, the
PPO-Lagrangian of Safety-Gymnasium's baselines) trains on ``reward - lambda * cost`` and adjusts
the multiplier by dual ascent after every rollout:

    lambda <- max(0, lambda + lr * (mean day cost of the rollout's finished days - cost_limit))

:class:`CostPenalty` wraps the vector env (between ``VecMonitor``, which keeps logging the
profit, and ``VecNormalize``); :class:`LagrangeMultiplier` is the callback that updates
``lambda`` and logs ``lagrangian/lambda`` and ``lagrangian/day_cost_mwh``.
"""

from __future__ import annotations

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from bessgym.policies import checked


class CostPenalty(VecEnvWrapper):
    """``reward - multiplier * info["cost"]`` per env and step ($ - $/MWh x MWh); the multiplier
    starts at ``initial`` and is set by :class:`LagrangeMultiplier`. Counts each finished day's
    cost (``day_shortfall_mwh``) for the callback."""

    def __init__(self, venv: VecEnv, initial: float = 0.0) -> None:
        super().__init__(venv)
        self.multiplier = float(initial)
        self.day_costs: list[float] = []

    def reset(self) -> np.ndarray:
        return self.venv.reset()

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        cost = np.array([info.get("cost", 0.0) for info in infos])
        self.day_costs += [float(info["day_shortfall_mwh"]) for done, info in zip(dones, infos)
                           if done and "day_shortfall_mwh" in info]
        return obs, rewards - self.multiplier * cost, dones, infos


class LagrangeMultiplier(BaseCallback):
    """Dual ascent on the multiplier of a :class:`CostPenalty` in the training env's stack
    after each rollout: the mean day cost (MWh) of the days finished in it against
    ``cost_limit`` (MWh a day), step ``lr`` ($/MWh per MWh of excess)."""

    def __init__(self, cost_limit: float, lr: float = 50.0, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.cost_limit = checked("cost_limit", cost_limit, at_least=0)  # MWh of shortfall a day
        self.lr = checked("lr", lr, above=0)  # the multiplier's step, $/MWh per MWh
        self.history: list[tuple[int, float, float]] = []  # (env steps, mean day cost, multiplier after)

    def _penalty(self) -> CostPenalty:
        env = self.training_env
        while not isinstance(env, CostPenalty):
            if not hasattr(env, "venv"):
                raise ValueError("LagrangeMultiplier needs a CostPenalty wrapper in the training env's stack")
            env = env.venv
        return env

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        penalty = self._penalty()
        if not penalty.day_costs:
            return
        cost = float(np.mean(penalty.day_costs))
        penalty.day_costs.clear()
        penalty.multiplier = max(0.0, penalty.multiplier + self.lr * (cost - self.cost_limit))
        self.history.append((self.num_timesteps, cost, penalty.multiplier))
        self.logger.record("lagrangian/day_cost_mwh", cost)
        self.logger.record("lagrangian/lambda", penalty.multiplier)
