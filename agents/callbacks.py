"""stable-baselines3 callbacks that log bessgym's domain metrics (TensorBoard, or any SB3 logger).

* :class:`DomainMetrics`: per finished training episode, from the VecEnv's infos (any VecEnv
  over bessgym envs: the native vector env's SB3 adapter, or ``DummyVecEnv`` / ``SubprocVecEnv``
  of scalar envs as rl-zoo3 builds them): the day's profit, penalties, each ledger line ($),
  shortfall (MWh) and the share of steps whose action was clipped; averages over the episodes
  that ended since the last log dump, under ``bessgym/``. Training days draw random deployment
  paths, so they have no oracle profit: the capture rate is :class:`CaptureEval`'s.
* :class:`CaptureEval`: every ``eval_freq`` calls, once the policy has been updated on the
  steps collected so far, plays the model deterministically on fixed days and seeds of a split
  with :func:`agents.evaluate.evaluate` (the leaderboard's numbers, the oracle's profit
  cached), logs ``eval/`` profit, capture rate, penalties and ledger lines, appends them to a
  CSV and saves the best model by capture rate (and keeps it in memory for
  :meth:`CaptureEval.restore_best`: early stopping on the eval split).

Use them in your own script::

    model.learn(100_000, callback=[DomainMetrics(), CaptureEval("bessgym/RealTime-v0", 10_000)])

rl-zoo3 adds :class:`DomainMetrics` from the hyper-parameter file's ``callback`` key.
"""

from __future__ import annotations

import copy
import time

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from stable_baselines3.common.callbacks import BaseCallback

from agents.evaluate import OracleCache, evaluate
from bessgym.settlement import LEDGER_LINES, PENALTY_LINES


class DomainMetrics(BaseCallback):
    """Logs, averaged over the episodes that ended since the last dump: ``bessgym/profit_usd``
    (the day's profit, $), ``bessgym/penalties_usd`` (no-pay + unavailable + penalty, $ >= 0),
    ``bessgym/<line>_usd`` for each ledger line of ``info["day_totals"]`` (signed as in the ledger:
    + earns), ``bessgym/shortfall_mwh`` (deployment not delivered over the day, MWh),
    ``bessgym/action_clipped_share`` (share of the episode's steps whose action was clipped,
    0-1); and ``bessgym/episodes``, the episodes ended so far. Every bessgym env puts
    ``day_totals``, ``profit_usd`` and ``day_shortfall_mwh`` in an episode's last info
    (:func:`bessgym.envs.episodes.day_info`)."""

    def __init__(self, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.episodes = 0

    def _init_callback(self) -> None:
        n = self.training_env.num_envs
        self._steps, self._clipped = np.zeros(n, int), np.zeros(n, int)

    def _on_step(self) -> bool:
        infos: Sequence[dict[str, Any]] = self.locals["infos"]
        dones = self.locals["dones"]
        for i, info in enumerate(infos):
            if "action_clipped" in info:
                self._steps[i] += 1
                self._clipped[i] += bool(info["action_clipped"])
            if dones[i] and "day_totals" in info:
                self._record(info, i)
        return True

    def _record(self, info: dict[str, Any], i: int) -> None:
        record, totals = self.logger.record_mean, info["day_totals"]
        record("bessgym/profit_usd", float(info["profit_usd"]))
        record("bessgym/shortfall_mwh", float(info["day_shortfall_mwh"]))
        record("bessgym/penalties_usd", -sum(float(totals[line]) for line in PENALTY_LINES))
        for line, value in totals.items():
            record(f"bessgym/{line}_usd", float(value))
        if self._steps[i]:
            record("bessgym/action_clipped_share", self._clipped[i] / self._steps[i])
        self._steps[i] = self._clipped[i] = 0
        self.episodes += 1
        self.logger.record("bessgym/episodes", self.episodes)


class CaptureEval(BaseCallback):
    """Every ``eval_freq`` calls (vector steps: ``eval_freq x n_envs`` env steps) evaluates the
    model, as it stands after the update that follows those steps: at the start of the next
    rollout, or at the end of training (SB3 updates the policy between rollouts). Each evaluation
    is labelled with the env steps the model has been trained on (``num_timesteps``: the CSV's
    ``timesteps`` and the TensorBoard step, the logger being dumped at once); a final call of
    :meth:`run` is needed only when ``last["timesteps"]`` is not the model's ``num_timesteps``.
    It uses :func:`agents.evaluate.evaluate` on the first ``limit`` days of ``split`` under
    ``seeds``, with the model's current VecNormalize statistics; ``fixed`` is the other level
    (``{"da_bidder": spec}`` or ``{"rt_policy": spec}``) and the action form the model is
    trained on (``"action_form"``, the record of its ``RTActionForm`` or ``DAActionForm``). Logs ``eval/profit_usd``,
    ``eval/oracle_profit_usd``, ``eval/penalties_usd`` ($ per day), ``eval/capture_pct`` (over
    the days) and ``eval/<line>_usd``; appends a row per evaluation to ``log_path`` (CSV); saves
    the model (``best_model.zip``, and ``vecnormalize.pkl`` if it has one) in ``best_path``
    when its capture rate is the best so far, and keeps that policy's weights and observation
    statistics in memory (:meth:`restore_best`). ``at_start`` also evaluates the untrained model
    before the first rollout (for a residual form: the proposer's own decisions, near enough), so
    that early stopping can keep "no correction". The oracle's profits are cached in
    ``oracle_cache`` (a JSON file, see :class:`agents.evaluate.OracleCache`)."""

    def __init__(
        self, env_id: str, eval_freq: int, split: str = "val", config: Any = "caiso-sp15", seeds: Sequence[int] = (0,),
        limit: int | None = None, fixed: dict[str, Any] | None = None, oracle_cache: Path | str | None = None,
        log_path: Path | str | None = None, best_path: Path | str | None = None, at_start: bool = False, verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        if isinstance(eval_freq, bool) or not isinstance(eval_freq, int) or eval_freq < 1:
            raise ValueError(f"eval_freq must be a whole number >= 1 (vector steps), got {eval_freq!r}")
        self.env_id, self.eval_freq, self.split, self.config = env_id, eval_freq, split, config
        self.seeds, self.limit, self.fixed = list(seeds), limit, dict(fixed or {})
        self.cache = OracleCache(oracle_cache)
        self.log_path = Path(log_path) if log_path is not None else None
        self.best_path = Path(best_path) if best_path is not None else None
        self.best_capture = -np.inf
        self.best: dict[str, float] = {}  # the figures of the best evaluation
        self._best_state: tuple[dict, Any] | None = None  # its policy weights and observation statistics
        self.last: dict[str, float] = {}
        self.due = at_start
        self.seconds = 0.0  # wall time spent evaluating (s)

    def _on_step(self) -> bool:
        if self.n_calls % self.eval_freq == 0:
            self.due = True
        return True

    def _on_training_start(self) -> None:
        if self.due:
            self.run()

    def _on_rollout_start(self) -> None:
        if self.due:
            self.run()

    def _on_training_end(self) -> None:
        if self.due:
            self.run()

    def run(self) -> dict[str, float]:
        """Evaluate the model now, log the figures under ``eval/`` and dump the logger at
        ``num_timesteps``; returns the figures (also in ``last``)."""
        self.due = False
        start = time.perf_counter()
        days = evaluate(self.model, self.env_id, self.split, self.config, self.seeds, self.limit,
                        oracle_cache=self.cache, **self.fixed)
        summary = days.attrs["summary"]["all"]
        figures = {"timesteps": float(self.num_timesteps), "profit_usd": summary["profit $/day"],
                   "oracle_profit_usd": summary["oracle profit $/day"], "capture_pct": summary["capture %"],
                   "penalties_usd": summary["penalties $/day"], "days": float(len(days))}
        figures |= {f"{line}_usd": float(days[line].mean()) for line in LEDGER_LINES}
        for key, value in figures.items():
            if key not in ("timesteps", "days"):
                self.logger.record(f"eval/{key}", value)
        self.logger.dump(self.num_timesteps)
        self.last = figures
        self.seconds += time.perf_counter() - start
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            pd.DataFrame([figures]).to_csv(self.log_path, mode="a", header=not self.log_path.exists(), index=False)
        if figures["capture_pct"] > self.best_capture:
            self.best_capture, self.best = figures["capture_pct"], figures
            normaliser = self.model.get_vec_normalize_env()
            self._best_state = (copy.deepcopy(self.model.policy.state_dict()),
                                copy.deepcopy(normaliser.obs_rms) if normaliser is not None else None)
            if self.best_path is not None:
                self.best_path.mkdir(parents=True, exist_ok=True)
                self.model.save(self.best_path / "best_model")
                if normaliser is not None:
                    normaliser.save(str(self.best_path / "vecnormalize.pkl"))
        return figures

    def restore_best(self) -> dict[str, float]:
        """Put the best evaluated policy's weights and observation statistics back into the model
        and its VecNormalize (early stopping); returns that evaluation's figures."""
        if self._best_state is None:
            raise RuntimeError("restore_best: no evaluation has run yet")
        weights, obs_rms = self._best_state
        self.model.policy.load_state_dict(weights)
        normaliser = self.model.get_vec_normalize_env()
        if normaliser is not None:
            normaliser.obs_rms = copy.deepcopy(obs_rms)
        return self.best
