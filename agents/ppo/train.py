"""Train PPO (stable-baselines3) on bessgym into a run folder.

    python -m agents.ppo.train --env bessgym/RealTime-v0 --seed 0
    python -m agents.ppo.train --env bessgym/DayAhead-v0 --seed 0 --timesteps 50000 --out runs/da0

Hyper-parameters come from ``agents/ppo/hyperparams.yml``, an rl-zoo3 file (``-conf`` of
``python -m rl_zoo3.train``): ``n_envs``, ``n_timesteps``, ``policy_kwargs``, ``normalize``,
``env_kwargs`` (the fixed other level: ``da_bidder`` for RealTime-v0, ``rt_policy`` for
DayAhead-v0), ``callback`` and the PPO arguments. Training runs on the native vector env
through the SB3 adapter, with VecNormalize, TensorBoard logs (SB3's scalars, ``bessgym/``
domain metrics, ``eval/`` capture rates), a progress bar, checkpoints and evaluations on the
val split (each of the policy after the PPO update that precedes it). Every argument is
checked before anything is written. Everything goes to the run folder (default
``runs/<env>-seed<seed>-<YYYYmmdd-HHMMSS>/``): the exported policy ``NAME.pt`` + ``NAME.json``
(:mod:`agents.ppo.policy` loads it), ``model.zip`` + ``vecnormalize.pkl``, ``tensorboard/``,
``checkpoints/``, ``eval/evaluations.csv``, ``best/``, ``oracle_profits.json`` and
``training.json``. ``--action``, ``--residual`` and ``--residual-band`` choose the action form
(:class:`bessgym.envs.real_time.RTActionForm`, :class:`bessgym.envs.day_ahead.DAActionForm`),
``--recurrent`` an LSTM policy (sb3-contrib's RecurrentPPO), ``--cost-limit`` Lagrangian PPO
(:mod:`agents.ppo.lagrangian`). The shipped checkpoints (``agents/ppo/checkpoints``) are read-only data:
training refuses to write there; to replace one, a maintainer copies ``NAME.pt`` and
``NAME.json`` from a run folder into it by hand.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import importlib
import inspect
import json
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import gymnasium as gym
import yaml
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, CheckpointCallback
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecMonitor, VecNormalize
from tqdm import tqdm

from agents.callbacks import CaptureEval
from agents.ppo.joint import PhaseMaskedPolicy, phase_columns
from agents.ppo.lagrangian import CostPenalty, LagrangeMultiplier
from agents.ppo.policy import check_not_shipped, export
from bessgym.config import load_config
from bessgym.envs.day_ahead import DA_ACTION_SIZE, DAActionForm
from bessgym.envs.episodes import EpisodeSource, resolve
from bessgym.envs.real_time import RTActionForm
from bessgym.envs.sb3 import ConcatVecEnv, make_sb3_vec_env
from bessgym.envs.two_settlement import two_settlement_space

HYPERPARAMS = Path(__file__).resolve().parent / "hyperparams.yml"
SHORT = {"bessgym/RealTime-v0": "realtime", "bessgym/DayAhead-v0": "dayahead", "bessgym/TwoSettlement-v0": "twosettlement"}
FIXED = {"bessgym/RealTime-v0": "da_bidder", "bessgym/DayAhead-v0": "rt_policy"}  # TwoSettlement-v0 learns both levels
ADAPTER = {"bessgym/RealTime-v0": "PPORealTime", "bessgym/DayAhead-v0": "PPODayAhead",
           "bessgym/TwoSettlement-v0": "PPOTwoSettlement"}
KEEP = ("final", "best")
"""The policy a run exports: the final one, or the one with the best capture on the eval split."""
ZOO_KEYS = ("n_envs", "n_timesteps", "policy", "policy_kwargs", "normalize", "env_kwargs", "callback")
"""The keys of an rl-zoo3 block this script reads besides the PPO arguments."""


@dataclass
class TrainConfig:
    """One training run. ``None`` takes the value of the env's block in ``hyperparams_file``;
    ``hyperparams`` overrides entries of that block (rl-zoo3 keys, PPO arguments flat)."""

    env: str = "bessgym/RealTime-v0"
    seed: int = 0
    timesteps: int | None = None
    n_envs: int | None = None
    config: str | None = None
    also_configs: list[str] = field(default_factory=list)  # more regimes trained on, each with n_envs envs of its own
    split: str | None = None
    fixed: str | None = None  # the other level's spec: da_bidder (RealTime) or rt_policy (DayAhead)
    action: str | None = None  # the RT action form (RealTime-v0, TwoSettlement-v0): base_point or bid_curve
    residual: str | None = None  # the RT policy (RealTime-v0) or DA bidder (DayAhead-v0, TwoSettlement-v0) corrected
    residual_band: float | None = None  # the correction's reach, a fraction of the power
    recurrent: bool = False  # sb3-contrib's RecurrentPPO with an LSTM policy instead of the MLP
    cost_limit: float | None = None  # Lagrangian PPO: the mean shortfall a day (MWh) to stay at or below
    lambda_lr: float = 50.0  # its multiplier's dual-ascent step ($/MWh per MWh of excess)
    out: Path | None = None  # default runs/<env>-seed<seed>-<YYYYmmdd-HHMMSS>
    evaluations: int = 5
    eval_split: str = "val"
    eval_seeds: list[int] = field(default_factory=lambda: [0])
    eval_days: int | None = 20
    keep: str = "final"  # the policy exported: the final one, or the best evaluated (early stopping, untrained included)
    hyperparams_file: Path = HYPERPARAMS
    hyperparams: dict = field(default_factory=dict)


def literal_kwargs(name: str, value: Any) -> dict:
    """A zoo-style keyword dict (``policy_kwargs``, ``normalize``): a mapping, or a string
    holding a Python dict literal or ``dict(key=literal, ...)``, read without running code."""
    if isinstance(value, dict):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a mapping or a string such as \"dict(net_arch=[64, 64])\", got {value!r}")
    try:
        tree = ast.parse(value, mode="eval").body
        if isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and tree.func.id == "dict" and not tree.args:
            return {kw.arg: ast.literal_eval(kw.value) for kw in tree.keywords if kw.arg is not None}
        parsed = ast.literal_eval(tree)
    except (SyntaxError, ValueError) as exc:
        raise ValueError(f"{name} {value!r} is not a dict of literals (this script does not run code; rl-zoo3 "
                         f"would): {exc}") from None
    if not isinstance(parsed, dict):
        raise ValueError(f"{name} {value!r} is not a dict")
    return parsed


def load_hyperparams(env_id: str, path: Path = HYPERPARAMS, overrides: dict | None = None) -> dict:
    """The env's block of an rl-zoo3 hyper-parameter file, with ``overrides``, checked:
    ``policy_kwargs`` and ``normalize`` as dicts, the PPO arguments under ``"ppo"``."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"hyper-parameter file {path} does not exist")
    blocks = yaml.safe_load(Path(path).read_text())
    if not isinstance(blocks, dict) or env_id not in blocks:
        raise ValueError(f"hyper-parameter file {path} has no block for {env_id!r}; it has {sorted(blocks or {})}")
    block = {**blocks[env_id], **(overrides or {})}
    if block.get("policy", "MlpPolicy") != "MlpPolicy":
        raise ValueError(f"{path}: policy {block['policy']!r}: this script trains MlpPolicy (rl-zoo3 trains others)")
    normalize = block.get("normalize", False)
    ppo = {key: value for key, value in block.items() if key not in ZOO_KEYS}
    unknown = sorted(set(ppo) - set(inspect.signature(PPO).parameters) - {"policy", "env"})
    if unknown:
        raise ValueError(f"{path}: {unknown} are neither PPO arguments nor rl-zoo3 keys this script reads {list(ZOO_KEYS)}")
    return {
        "n_envs": int(block["n_envs"]), "n_timesteps": int(block["n_timesteps"]),
        "policy_kwargs": literal_kwargs("policy_kwargs", block.get("policy_kwargs", {})),
        "normalize": literal_kwargs("normalize", normalize) if not isinstance(normalize, bool) else
        ({"norm_obs": True, "norm_reward": True} if normalize else None),
        "env_kwargs": literal_kwargs("env_kwargs", block.get("env_kwargs") or {}), "callback": block.get("callback"), "ppo": ppo,
    }


def check(cfg: TrainConfig) -> None:
    """Refuse an env this script does not train and numbers out of range, naming the option."""
    if cfg.env not in SHORT:
        raise ValueError(f"env {cfg.env!r} is not one this script trains; allowed: {sorted(SHORT)}")
    for option, value, low in (("--seed", cfg.seed, 0), ("--timesteps", cfg.timesteps, 1), ("--n-envs", cfg.n_envs, 1),
                               ("--evaluations", cfg.evaluations, 1), ("--eval-days", cfg.eval_days, 1)):
        if value is None and option in ("--timesteps", "--n-envs", "--eval-days"):
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{option} must be a whole number >= {low}, got {value!r}")
    if cfg.keep not in KEEP:
        raise ValueError(f"--keep must be one of {list(KEEP)}, got {cfg.keep!r}")
    seeds = cfg.eval_seeds
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ValueError(f"--eval-seeds must be whole numbers >= 0 (at least one), got {seeds!r}")


def run_folder(cfg: TrainConfig) -> Path:
    """The run folder: ``cfg.out`` or ``runs/<env>-seed<seed>-<time>``; refused inside the shipped
    checkpoints (:func:`agents.ppo.policy.check_not_shipped`) or when it holds an earlier run."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(cfg.out) if cfg.out is not None else Path("runs") / f"{SHORT[cfg.env]}-seed{cfg.seed}-{stamp}"
    check_not_shipped(out)
    if (out / "training.json").exists():
        raise ValueError(f"--out {out} holds an earlier run (training.json): choose another folder")
    return out


class ProgressBar(BaseCallback):
    """A tqdm bar over environment steps (SB3's ``progress_bar=True`` uses tqdm's experimental
    rich bar, which warns on every run)."""

    def __init__(self, total: int) -> None:
        super().__init__()
        self.bar = tqdm(total=total, unit="step", desc="ppo", mininterval=2.0)

    def _on_step(self) -> bool:
        self.bar.update(self.training_env.num_envs)
        return True

    def _on_training_end(self) -> None:
        self.bar.close()


def callbacks_of(spec: Any) -> list[BaseCallback]:
    """The callbacks of the file's ``callback`` key, read as rl-zoo3 reads it (a dotted class
    path, a ``{path: kwargs}`` dict or a list of either; none when absent), without importing
    rl_zoo3 (which patches Gymnasium's ``TimeLimit`` for the whole process on import)."""
    if spec is None:
        return []
    callbacks = []
    for item in spec if isinstance(spec, list) else [spec]:
        path, kwargs = next(iter(item.items())) if isinstance(item, dict) else (item, {})
        if not isinstance(path, str) or "." not in path:
            raise ValueError(f"callback {item!r} is not a dotted class path (e.g. agents.callbacks.DomainMetrics)")
        module, name = path.rsplit(".", 1)
        callbacks.append(getattr(importlib.import_module(module), name)(**(kwargs or {})))
    return callbacks


def scalar_env(env_id: str, env_kwargs: dict) -> gym.Env:
    """One scalar env (a subprocess's: importing this module registers bessgym's envs)."""
    return gym.make(env_id, **env_kwargs)


def flat_env(env_id: str, env_kwargs: dict) -> gym.Env:
    """One scalar env with its Dict observation flattened (TwoSettlement-v0 for an MLP)."""
    return gym.wrappers.FlattenObservation(gym.make(env_id, **env_kwargs))


def train(cfg: TrainConfig) -> dict:
    """Train, evaluate and export into the run folder; returns the record written to
    ``training.json`` (with ``out``, ``policy`` and ``spec``: where things went). Every argument
    is checked (the env, the config, both splits, the fixed level's spec, the hyper-parameters)
    before the run folder is created."""
    check(cfg)
    # 1. hyper-parameters: the env's block of the rl-zoo3 file, overridden by the config
    hp = load_hyperparams(cfg.env, cfg.hyperparams_file, cfg.hyperparams)
    n_envs, timesteps = cfg.n_envs or hp["n_envs"], cfg.timesteps or hp["n_timesteps"]
    if n_envs < 1 or timesteps < 1:
        raise ValueError(f"{cfg.hyperparams_file}: n_envs ({n_envs}) and n_timesteps ({timesteps}) must be >= 1")
    joint = cfg.env == "bessgym/TwoSettlement-v0"  # both levels learned: no fixed level, the residual is the DA's
    if joint and cfg.fixed is not None:
        raise ValueError("--fixed does not apply to bessgym/TwoSettlement-v0: the agent plays both levels")
    given = (("config", cfg.config), ("split", cfg.split), (FIXED.get(cfg.env, "fixed"), cfg.fixed), ("action", cfg.action),
             ("da_residual" if joint else "residual", cfg.residual), ("da_residual_band" if joint else "residual_band", cfg.residual_band))
    env_kwargs = {**hp["env_kwargs"], **{key: value for key, value in given if value is not None}}
    if cfg.env == "bessgym/DayAhead-v0" and cfg.action is not None:
        raise ValueError("--action applies to bessgym/RealTime-v0 and TwoSettlement-v0 only (the RT action form)")
    if cfg.also_configs and (joint or cfg.residual is not None and cfg.env == "bessgym/RealTime-v0"):
        raise ValueError("--also-config trains on the native vector envs of several configs: not for TwoSettlement-v0 "
                         "or a residual RealTime-v0 form (scalar envs)")
    if cfg.env != "bessgym/RealTime-v0" and cfg.recurrent:
        raise ValueError("--recurrent applies to bessgym/RealTime-v0 only (a DayAhead-v0 episode is one step: an LSTM "
                         "would have nothing to remember; TwoSettlement-v0 trains an MLP)")
    if cfg.cost_limit is None and cfg.lambda_lr != TrainConfig.lambda_lr:
        raise ValueError(f"--lambda-lr {cfg.lambda_lr} applies with --cost-limit (Lagrangian PPO) only")
    try:
        if cfg.env == "bessgym/RealTime-v0":
            form: RTActionForm | DAActionForm = RTActionForm.of(
                **{key: env_kwargs.get(key) for key in ("segments", "price_span_usd_per_mwh", "residual", "residual_band", "fmm")},
                action=env_kwargs.get("action", "base_point"))
        elif joint:  # the DA form names the run and the residual; the RT form rides along
            form = DAActionForm.of(env_kwargs.get("da_residual"), env_kwargs.get("da_residual_band"))
            rt_form = RTActionForm.of(**{key: env_kwargs.get(key) for key in ("segments", "price_span_usd_per_mwh")},
                                      action=env_kwargs.get("action", "base_point"))
        else:
            form = DAActionForm.of(env_kwargs.get("residual"), env_kwargs.get("residual_band"))
    except ValueError as exc:
        raise ValueError(f"the action form (--action, --residual, --residual-band or the file's env_kwargs): {exc}") from None
    if cfg.cost_limit is not None:
        try:
            multiplier: LagrangeMultiplier | None = LagrangeMultiplier(cfg.cost_limit, cfg.lambda_lr)
        except ValueError as exc:
            raise ValueError(f"--cost-limit / --lambda-lr: {exc}") from None
    else:
        multiplier = None
    out = run_folder(cfg)
    rt = rt_form if joint else form
    kind = "-residual" if form.residual else ""
    kind += "-curve" if isinstance(rt, RTActionForm) and rt.action == "bid_curve" else ""
    kind += "-lstm" if cfg.recurrent else ""
    kind += "-lagrangian" if cfg.cost_limit is not None else ""
    name, role = f"{SHORT[cfg.env]}{kind}-seed{cfg.seed}", FIXED.get(cfg.env)

    def where(option: str, key: str, given: Any) -> str:
        """The option that set ``key``, or the file's ``env_kwargs`` entry."""
        return option if given is not None else f"{cfg.hyperparams_file}: env_kwargs.{key}"

    eval_config = env_kwargs.get("config", "caiso-sp15")
    config = load_config(eval_config)
    for option, split in ((where("--split", "split", cfg.split), env_kwargs.get("split")), ("--eval-split", cfg.eval_split)):
        try:
            if split is not None:
                EpisodeSource(config, split, da_bidder=None)
        except ValueError as exc:
            raise ValueError(f"{option} {split!r}: {exc}") from None
    for extra in cfg.also_configs:  # every further regime: its config loads and has the training split
        try:
            EpisodeSource(load_config(extra), env_kwargs.get("split", "train"), da_bidder=None)
        except (ValueError, FileNotFoundError, KeyError) as exc:
            raise ValueError(f"--also-config {extra!r}: {exc}") from None
    if role is not None and role in env_kwargs:
        try:
            resolve(env_kwargs[role], role)
        except (ValueError, FileNotFoundError) as exc:
            raise ValueError(f"{where('--fixed', role, cfg.fixed)} ({role}): {exc}") from None
    if form.residual is not None:  # the proposing RT policy, or the DA bidder corrected
        try:
            resolve(form.residual, "rt_policy" if isinstance(form, RTActionForm) else "da_bidder")
        except (ValueError, FileNotFoundError) as exc:
            raise ValueError(f"{where('--residual', 'da_residual' if joint else 'residual', cfg.residual)}: {exc}") from None

    # 2. the training env: the native vector env (a residual form: scalar envs in subprocesses,
    # each running its proposing policy), monitored, normalised as the file says (nothing is
    # written before out.mkdir below)
    if isinstance(form, RTActionForm) and form.residual is not None:
        env = VecMonitor(SubprocVecEnv([partial(scalar_env, cfg.env, env_kwargs)] * n_envs))
    elif joint:  # no native vector env: scalar envs, flattened for the MLP (the adapter flattens alike)
        env = VecMonitor(DummyVecEnv([partial(flat_env, cfg.env, env_kwargs)] * n_envs))
    elif cfg.also_configs:  # several regimes in each rollout: n_envs envs of each config side by side
        env = VecMonitor(ConcatVecEnv([make_sb3_vec_env(cfg.env, n_envs, **{**env_kwargs, **({"config": extra} if extra else {})})
                                       for extra in [None, *cfg.also_configs]]))
    else:
        env = VecMonitor(make_sb3_vec_env(cfg.env, n_envs, **env_kwargs))
    envs_per_config, n_envs = n_envs, env.num_envs
    if multiplier is not None:
        env = CostPenalty(env)
    if hp["normalize"] is not None:
        env = VecNormalize(env, **{"gamma": hp["ppo"].get("gamma", 0.99), **hp["normalize"]})
    env.seed(cfg.seed)

    # 3. the agent
    if cfg.recurrent:
        from sb3_contrib import RecurrentPPO as algorithm
    else:
        algorithm = PPO
    policy_class: Any = "MlpLstmPolicy" if cfg.recurrent else "MlpPolicy"
    policy_kwargs = hp["policy_kwargs"]
    if joint:  # each step's log-probability over the action entries its phase reads
        policy_class = PhaseMaskedPolicy
        space = two_settlement_space(form, rt_form, config.market_profile)
        policy_kwargs = {**policy_kwargs, "da_size": DA_ACTION_SIZE, "phase_columns": phase_columns(space)}
    try:
        model = algorithm(policy_class, env, seed=cfg.seed, device="cpu",
                          tensorboard_log=str(out / "tensorboard"), policy_kwargs=policy_kwargs, verbose=0, **hp["ppo"])
    except (TypeError, ValueError, AssertionError) as exc:  # SB3 checks its arguments with asserts and comparisons
        env.close()
        raise ValueError(f"{algorithm.__name__} refused the hyper-parameters ({cfg.hyperparams_file} and --params) "
                         f"{hp['ppo']} / policy_kwargs {hp['policy_kwargs']}: {exc or type(exc).__name__}") from None

    if form.residual is not None:  # a correction starts at zero: the untrained policy's mean action is the proposer's own
        for parameter in model.policy.action_net.parameters():
            parameter.data.zero_()

    # 4. callbacks: the file's (domain metrics), progress, checkpoints, capture on the eval split
    every = max(timesteps // cfg.evaluations, n_envs * hp["ppo"].get("n_steps", 2048)) // n_envs
    fixed = {role: env_kwargs[role]} if role is not None and role in env_kwargs else {}
    forms = {"da_action": form.record(), "rt_action": rt_form.record()} if joint else None
    fixed["action_form"] = forms if joint else form.record()
    evaluation = CaptureEval(cfg.env, every, cfg.eval_split, eval_config, cfg.eval_seeds,
                             cfg.eval_days, fixed, out / "oracle_profits.json", out / "eval" / "evaluations.csv",
                             out / "best", at_start=cfg.keep == "best")
    user_callbacks = callbacks_of(hp["callback"])
    out.mkdir(parents=True, exist_ok=True)
    callbacks = CallbackList([
        *user_callbacks, *([multiplier] if multiplier is not None else []), ProgressBar(timesteps),
        CheckpointCallback(every, str(out / "checkpoints"), name_prefix=name, save_vecnormalize=True), evaluation,
    ])

    # 5. learn (SB3 rounds the budget up to whole rollouts of n_envs x n_steps), timing the steps
    # per second; the final policy is evaluated unless the last periodic evaluation already did
    start = time.perf_counter()
    model.learn(total_timesteps=timesteps, callback=callbacks, tb_log_name=name)
    seconds = time.perf_counter() - start - evaluation.seconds  # learning: rollouts and updates, not evaluations
    final = evaluation.last if evaluation.last.get("timesteps") == model.num_timesteps else evaluation.run()
    if cfg.keep == "best":  # early stopping: the policy of the best evaluation (the untrained one included)
        final = evaluation.restore_best()

    # 6. the run folder: exported policy, SB3 model, record
    normaliser = env if isinstance(env, VecNormalize) else None
    policy = out / name
    spec = f"agents.ppo.policy:{ADAPTER[cfg.env]}?path={policy}"
    if cfg.recurrent:  # no tensors-only export of an LSTM policy: the SB3 zip, loaded with trust
        arguments = {key: value for key, value in form.record().items() if (key, value) != ("action", "base_point")}
        spec = (f"agents.sb3_model:SB3RealTime?path={out / 'model.zip'}&algo=ppo_lstm&trust=true"
                + (f"&vecnormalize={out / 'vecnormalize.pkl'}" if normaliser is not None else "")
                + "".join(f"&{key}={value}" for key, value in arguments.items()))
    record = {
        "env": cfg.env, "name": name, "seed": cfg.seed, "timesteps": int(model.num_timesteps), "n_envs": n_envs,
        "train_seconds": seconds, "eval_seconds": evaluation.seconds, "env_steps_per_s": model.num_timesteps / seconds,
        "kept": cfg.keep, "kept_timesteps": int(final["timesteps"]), "env_kwargs": env_kwargs,
        "hyperparams": hp, "hyperparams_file": str(cfg.hyperparams_file), "final_eval": final,
        "out": str(out), "policy": str(policy), "spec": spec,
        **({"lagrangian": {"cost_limit_mwh": cfg.cost_limit, "lr": cfg.lambda_lr, "history": multiplier.history}}
           if multiplier is not None else {}),
        "command": f"python -m agents.ppo.train --env {cfg.env} --seed {cfg.seed} --timesteps {timesteps} --n-envs {envs_per_config}"
                   + "".join(f" --{key.replace('_', '-')} {value}" for key, value in (
                       ("config", cfg.config), ("split", cfg.split), ("fixed", cfg.fixed), ("action", cfg.action),
                       ("residual", cfg.residual), ("residual_band", cfg.residual_band)) if value is not None)
                   + f" --evaluations {cfg.evaluations} --eval-split {cfg.eval_split} --eval-days "
                     f"{'all' if cfg.eval_days is None else cfg.eval_days} --eval-seeds {' '.join(map(str, cfg.eval_seeds))}"
                   + (f" --hyperparams {cfg.hyperparams_file}" if Path(cfg.hyperparams_file) != HYPERPARAMS else "")
                   + (f" --cost-limit {cfg.cost_limit} --lambda-lr {cfg.lambda_lr}" if multiplier is not None else "")
                   + (" --recurrent" if cfg.recurrent else "") + (" --keep best" if cfg.keep == "best" else "")
                   + "".join(f" --also-config {extra}" for extra in cfg.also_configs)
                   + (" --params " + " ".join(f"'{key}={value}'" for key, value in cfg.hyperparams.items()) if cfg.hyperparams else ""),
    }
    if not cfg.recurrent:
        export(model, normaliser, policy, {"training": record, **(forms if joint else {
            ("rt_action" if isinstance(form, RTActionForm) else "da_action"): form.record()})})
    model.save(out / "model")
    if normaliser is not None:
        normaliser.save(str(out / "vecnormalize.pkl"))
    run = {**record, "train_config": asdict(cfg)}
    (out / "training.json").write_text(json.dumps(run, indent=1, default=str) + "\n")
    return record


def _param(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` of ``--params``, the value read as YAML (numbers, booleans, text)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE (e.g. n_steps=256)")
    return key, yaml.safe_load(value)


def _eval_days(text: str) -> int | None:
    """``all`` (None) or a whole number; :func:`check` refuses one out of range."""
    return None if text == "all" else int(text)


def build_parser() -> argparse.ArgumentParser:
    """The command line, every option with its help (choices, defaults, units)."""
    parser = argparse.ArgumentParser(
        prog="python -m agents.ppo.train", description=__doc__.split("\n\n")[0],
        epilog="'from the file': the env's block of --hyperparams (rl-zoo3 format).")
    parser.add_argument("--env", default="bessgym/RealTime-v0", choices=sorted(SHORT),
                        help="env to train on (RealTime-v0: an RT policy; DayAhead-v0: a DA bidder; TwoSettlement-v0: "
                             "both, one policy; default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, metavar="SEED", help="seed of PPO and the training envs (whole number >= 0; default: %(default)s)")
    parser.add_argument("--timesteps", type=int, metavar="N",
                        help="env steps to train for, rounded up to whole rollouts of n_envs x n_steps (the run "
                             "prints the steps it took; default: n_timesteps from the file)")
    parser.add_argument("--n-envs", type=int, metavar="N", help="parallel envs of the native vector env (default: n_envs from the file)")
    parser.add_argument("--config", metavar="PRESET|JSON", help="config preset name or JSON path (default: env_kwargs.config from the file)")
    parser.add_argument("--also-config", action="append", default=[], metavar="PRESET|JSON",
                        help="train on this config's days too, a further regime (repeatable; its own --n-envs envs "
                             "beside the main config's, same split name); evaluations stay on the main config")
    parser.add_argument("--split", metavar="SPLIT", help="split to train on: train, val, test, test_ood or all (default: env_kwargs.split from the file)")
    parser.add_argument("--fixed", metavar="SPEC", help="spec string of the fixed other level: the DA bidder for RealTime-v0, the RT "
                                        "policy for DayAhead-v0 (default: env_kwargs.da_bidder / rt_policy from the file)")
    parser.add_argument("--action", choices=("base_point", "bid_curve"),
                        help="the RT action form (RealTime-v0, TwoSettlement-v0): a base-point deviation decided on past "
                             "prices, or a bid curve cleared at the interval's price (default: env_kwargs.action from "
                             "the file, else base_point)")
    parser.add_argument("--residual", metavar="SPEC", help="train a correction: of this RT policy's base points on RealTime-v0 "
                        "(e.g. baselines.mpc:MPCPolicy; scalar envs in subprocesses, one per --n-envs), of this DA "
                        "bidder's bid on DayAhead-v0 and TwoSettlement-v0 (e.g. baselines.robust:RobustDA)")
    parser.add_argument("--residual-band", type=float, metavar="FRACTION",
                        help="the correction's reach, a fraction of the power in (0, 2] (default: 0.25)")
    parser.add_argument("--recurrent", action="store_true",
                        help="an LSTM policy (sb3-contrib's RecurrentPPO, MlpLstmPolicy) instead of the MLP; the run "
                             "folder's model.zip is the policy (no tensors-only export), its spec loads it with trust=true")
    parser.add_argument("--cost-limit", type=float, metavar="MWH",
                        help="Lagrangian PPO: keep the mean shortfall a day (info['cost'] summed, MWh; a finite number "
                             ">= 0) at or below this")
    parser.add_argument("--lambda-lr", type=float, default=50.0, metavar="USD_PER_MWH",
                        help="the Lagrange multiplier's dual-ascent step per rollout, $/MWh per MWh of excess (> 0; "
                             "with --cost-limit only; default: %(default)s)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="run folder (default: runs/<env>-seed<seed>-<YYYYmmdd-HHMMSS> in the "
                                                 "current folder); refused inside the shipped checkpoints")
    parser.add_argument("--hyperparams", type=Path, default=HYPERPARAMS, metavar="YAML", help="rl-zoo3 hyper-parameter file (default: agents/ppo/hyperparams.yml of the package)")
    parser.add_argument("--params", type=_param, nargs="+", default=[], metavar="KEY=VALUE",
                        help="override entries of the env's block (rl-zoo3 keys or PPO arguments; VALUE read as YAML), "
                             "e.g. --params n_steps=256 batch_size=256 \"policy_kwargs=dict(log_std_init=-1.0)\"")
    parser.add_argument("--evaluations", type=int, default=5, metavar="N",
                        help="evaluations during training, at most one per rollout, each of the policy after the "
                             "update that follows its rollout, and one of the final policy unless the last "
                             "already was (default: %(default)s)")
    parser.add_argument("--keep", choices=KEEP, default="final",
                        help="the policy exported: the final one, or the one with the best capture over the "
                             "evaluations, the untrained policy evaluated first among them (early stopping on "
                             "--eval-split; for a residual form that is the proposer itself; default: %(default)s)")
    parser.add_argument("--eval-split", default="val", metavar="SPLIT", help="split of the evaluations (default: %(default)s)")
    parser.add_argument("--eval-seeds", type=int, nargs="+", default=[0], metavar="SEED",
                        help="deployment seeds of the evaluations, as the leaderboard's seeds (default: %(default)s)")
    parser.add_argument("--eval-days", type=_eval_days, default=20, metavar="N|all",
                        help="first N days of the eval split per evaluation, or 'all' (default: %(default)s)")
    return parser


def parse(argv: list[str] | None = None) -> TrainConfig:
    args = build_parser().parse_args(argv)
    return TrainConfig(env=args.env, seed=args.seed, timesteps=args.timesteps, n_envs=args.n_envs, config=args.config,
                       also_configs=args.also_config,
                       split=args.split, fixed=args.fixed, action=args.action, residual=args.residual,
                       residual_band=args.residual_band, recurrent=args.recurrent, cost_limit=args.cost_limit, lambda_lr=args.lambda_lr, out=args.out, evaluations=args.evaluations,
                       eval_split=args.eval_split, eval_seeds=args.eval_seeds, eval_days=args.eval_days, keep=args.keep,
                       hyperparams_file=args.hyperparams, hyperparams=dict(args.params))


def main(argv: list[str] | None = None) -> None:
    cfg = parse(argv)
    try:
        result = train(cfg)
    except (ValueError, FileNotFoundError) as exc:
        raise SystemExit(f"error: {exc}") from None
    out, final = Path(result["out"]), result["final_eval"]
    print(f"{result['name']}: {result['timesteps']} steps in {result['train_seconds']:.0f} s "
          f"({result['env_steps_per_s']:.0f} env-steps/s); on {int(final['days'])} {cfg.eval_split} day-seeds "
          f"{final['profit_usd']:.2f} $/day, capture {final['capture_pct']:.1f}%\n"
          f"run folder {out}/:\n"
          + (f"  policy       {result['name']}.pt + {result['name']}.json (tensors and JSON, no code)\n"
             if (out / f"{result['name']}.json").exists() else "  policy       model.zip (an LSTM policy: an SB3 zip)\n") +
          f"  SB3 model    model.zip{' + vecnormalize.pkl' if (out / 'vecnormalize.pkl').exists() else ''}\n"
          f"  TensorBoard  tensorboard --logdir {out / 'tensorboard'}\n"
          f"  checkpoints  checkpoints/, best model (by capture) in best/\n"
          f"  evaluations  eval/evaluations.csv (oracle profits cached in oracle_profits.json)\n"
          f"  record       training.json\n"
          + (f"leaderboard entry (both levels): --entry 'mine={result['spec']},{result['spec']}'"
             if cfg.env == "bessgym/TwoSettlement-v0" else f"leaderboard spec: {result['spec']}"))


if __name__ == "__main__":
    main()
