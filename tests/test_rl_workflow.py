"""The RL researcher's workflow end to end: train.py into a run folder (never the package),
rl-zoo3 on the shipped hyper-parameter file, domain metrics in TensorBoard, any SB3 model to the
leaderboard through a spec string (only when trusted), and evaluate() giving the leaderboard's
numbers."""

from __future__ import annotations

import hashlib
import json
import importlib.util
import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

sb3 = pytest.importorskip("stable_baselines3")
if importlib.util.find_spec("rl_zoo3") is None:  # found, not imported: importing it patches Gymnasium for every later test
    pytest.skip("rl_zoo3 is not installed (the rl extra)", allow_module_level=True)

from stable_baselines3.common.env_util import make_vec_env  # noqa: E402
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

import bessgym  # noqa: E402, F401
from agents.callbacks import DomainMetrics  # noqa: E402
from agents.evaluate import evaluate as evaluate_model  # noqa: E402
from agents.ppo.policy import CHECKPOINTS, export  # noqa: E402
from agents.sb3_model import load_vecnormalize  # noqa: E402
from agents.ppo.train import HYPERPARAMS, TrainConfig, build_parser, load_hyperparams, main, train  # noqa: E402
from bessgym.envs.episodes import EpisodeSource  # noqa: E402
from bessgym.envs.sb3 import make_sb3_vec_env  # noqa: E402
from bessgym.evaluation import evaluate  # noqa: E402
from bessgym.policies import load_component  # noqa: E402
from bessgym.settlement import LEDGER_LINES  # noqa: E402

TINY_RT = {"policy_kwargs": "dict(net_arch=[16, 16])", "n_steps": 96, "batch_size": 96, "n_epochs": 1}
DAY_LINES = ("da_energy", "rt_imbalance", "as_capacity", "mileage", "no_pay", "unavailable", "penalty", "degradation")


def scalars(folder: Path) -> dict[str, list[float]]:
    """Every scalar in the TensorBoard event files under ``folder``: tag -> values."""
    found: dict[str, list[float]] = {}
    for events in folder.rglob("events.out.tfevents.*"):
        accumulator = EventAccumulator(str(events))
        accumulator.Reload()
        for tag in accumulator.Tags()["scalars"]:
            found.setdefault(tag, []).extend(e.value for e in accumulator.Scalars(tag))
    return found


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_training_writes_a_run_folder_never_the_package(tmp_path, monkeypatch, capsys):
    shipped = digests(CHECKPOINTS)
    monkeypatch.chdir(tmp_path)
    main(["--timesteps", "384", "--n-envs", "2", "--fixed", "threshold", "--seed", "4", "--evaluations", "1",
          "--eval-days", "2"])
    printed = capsys.readouterr().out
    assert digests(CHECKPOINTS) == shipped
    (out,) = (tmp_path / "runs").iterdir()
    assert out.name.startswith("realtime-seed4-")
    record = json.loads((out / "training.json").read_text())
    for name in ("realtime-seed4.pt", "realtime-seed4.json", "model.zip", "vecnormalize.pkl", "oracle_profits.json",
                 "eval/evaluations.csv", "best/best_model.zip"):
        assert (out / name).is_file(), name
    assert list((out / "checkpoints").glob("*.zip"))
    spec = f"agents.ppo.policy:PPORealTime?path={Path('runs') / out.name / 'realtime-seed4'}"
    assert record["spec"] == spec and spec in printed and "tensorboard --logdir" in printed
    logged = scalars(out / "tensorboard")
    for tag in ("eval/capture_pct", "eval/profit_usd", "eval/oracle_profit_usd", "eval/penalties_usd",
                "bessgym/profit_usd", "bessgym/penalties_usd", "bessgym/action_clipped_share", "bessgym/shortfall_mwh",
                *(f"bessgym/{line}_usd" for line in DAY_LINES)):
        assert tag in logged, tag
    (day,) = evaluate("caiso-sp15", "val", "threshold", spec, limit=1)
    assert np.isfinite(day.profit)
    checkpoint = evaluate_model(out / "realtime-seed4", split="val", limit=2)  # the path, the fixed bidder threshold
    assert record["final_eval"]["profit_usd"] == pytest.approx(checkpoint["profit_usd"].mean())
    assert record["final_eval"]["capture_pct"] == pytest.approx(checkpoint.attrs["summary"].loc["capture %", "all"])


@pytest.mark.parametrize("argv, says", [
    (["--eval-split", "nosplit"], "--eval-split 'nosplit': split 'nosplit' is unknown; choose one of"),
    (["--split", "nosplit"], "--split 'nosplit': split 'nosplit' is unknown"),
    (["--fixed", "nosuch:X"], "--fixed (da_bidder): spec 'nosuch:X': cannot import module 'nosuch'"),
    (["--env", "bessgym/DayAhead-v0", "--fixed", "threshold"], "--fixed (rt_policy): rt_policy 'threshold' has no reset()"),
    (["--config", "nosuch.json"], "config 'nosuch.json' is neither a preset"),
    (["--hyperparams", "nosuch.yml"], "hyper-parameter file nosuch.yml does not exist"),
    (["--timesteps", "0"], "--timesteps must be a whole number >= 1, got 0"),
    (["--seed", "-1"], "--seed must be a whole number >= 0, got -1"),
    (["--eval-days", "0"], "--eval-days must be a whole number >= 1, got 0"),
    (["--eval-seeds", "0", "-2"], "--eval-seeds must be whole numbers >= 0 (at least one), got [0, -2]"),
    (["--residual", "baselines.nope:X"], "--residual: spec 'baselines.nope:X': cannot import module 'baselines.nope'"),
    (["--env", "bessgym/DayAhead-v0", "--residual", "baselines.mpc:MPCPolicy"],
     "--residual: da_bidder 'baselines.mpc:MPCPolicy' has no bid()"),
    (["--action", "bid_curve", "--residual", "follow_da"], "the action form (--action, --residual, --residual-band or the "
                                                           "file's env_kwargs): residual applies to action='base_point'"),
    (["--lambda-lr", "5"], "--lambda-lr 5.0 applies with --cost-limit (Lagrangian PPO) only"),
    (["--cost-limit", "-1"], "--cost-limit / --lambda-lr: cost_limit must be a finite number >= 0, got -1.0"),
    (["--recurrent", "--env", "bessgym/DayAhead-v0"], "--recurrent applies to bessgym/RealTime-v0 only"),
    (["--action", "bid_curve", "--env", "bessgym/DayAhead-v0"], "--action applies to bessgym/RealTime-v0 and TwoSettlement-v0"),
    (["--env", "bessgym/TwoSettlement-v0", "--fixed", "follow_da"], "--fixed does not apply to bessgym/TwoSettlement-v0"),
    (["--env", "bessgym/TwoSettlement-v0", "--also-config", "synthetic"], "--also-config trains on the native vector envs"),
    (["--env", "bessgym/DayAhead-v0", "--also-config", "no-such-preset"], "--also-config 'no-such-preset':"),
    (["--params", "n_steps=abc"], "PPO refused the hyper-parameters"),
])
def test_train_checks_every_argument_before_writing_anything(tmp_path, monkeypatch, argv, says):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as refused:
        main(argv)
    message = str(refused.value)
    assert message.startswith(f"error: {says}") and "\n" not in message, message
    assert list(tmp_path.iterdir()) == []


def test_train_checks_the_numbers_of_a_config(tmp_path):
    for field, value, says in (("evaluations", 0, "--evaluations must be a whole number >= 1, got 0"),
                               ("eval_days", 0, "--eval-days must be a whole number >= 1"),
                               ("timesteps", -5, "--timesteps must be"), ("n_envs", 1.5, "--n-envs must be"),
                               ("eval_seeds", [], "--eval-seeds must be whole numbers >= 0")):
        with pytest.raises(ValueError, match=says):
            train(TrainConfig(out=tmp_path / "run", **{field: value}))
    assert not (tmp_path / "run").exists()


def test_each_evaluation_scores_the_updated_policy_once_per_step(tmp_path, monkeypatch):
    import agents.callbacks

    seen, real = [], agents.callbacks.evaluate

    def spy(model, *args, **kwargs):
        seen.append((model.num_timesteps, model._n_updates))  # PPO adds n_epochs (1 here) per update
        return real(model, *args, **kwargs)

    monkeypatch.setattr(agents.callbacks, "evaluate", spy)
    hp = {**TINY_RT, "n_steps": 32, "batch_size": 32}  # a rollout: 2 envs x 32 steps = 64 env steps
    record = train(TrainConfig(timesteps=100, n_envs=2, split="val", fixed="threshold", out=tmp_path / "run",
                               evaluations=2, eval_days=1, hyperparams=hp))
    assert record["timesteps"] == 128  # 100 rounded up to whole rollouts
    assert seen == [(64, 1), (128, 2)]  # after each rollout's update; the final one not repeated
    rows = pd.read_csv(tmp_path / "run" / "eval" / "evaluations.csv")
    assert rows["timesteps"].tolist() == [64, 128] and record["final_eval"]["timesteps"] == 128
    (events,) = (tmp_path / "run" / "tensorboard").rglob("events.out.tfevents.*")
    accumulator = EventAccumulator(str(events))
    accumulator.Reload()
    logged = accumulator.Scalars("eval/capture_pct")
    assert [e.step for e in logged] == [64, 128]
    assert [e.value for e in logged] == pytest.approx(rows["capture_pct"].tolist())


def test_training_refuses_the_shipped_checkpoints(tmp_path):
    with pytest.raises(ValueError, match="shipped checkpoints"):
        train(TrainConfig(out=CHECKPOINTS / "mine", timesteps=96))
    model = sb3.PPO("MlpPolicy", gym.make("bessgym/RealTime-v0", split="val"), n_steps=8, batch_size=8, device="cpu")
    for prefix in (CHECKPOINTS / "realtime-seed0", CHECKPOINTS / "mine" / "policy"):
        with pytest.raises(ValueError, match="read-only data"):
            export(model, None, prefix)
    assert not (CHECKPOINTS / "mine").exists()
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "training.json").write_text("{}")
    with pytest.raises(ValueError, match="holds an earlier run"):
        train(TrainConfig(out=tmp_path / "run", timesteps=96))


@pytest.mark.parametrize("env_id", ["bessgym/RealTime-v0", "bessgym/DayAhead-v0"])
def test_hyperparams_are_an_rl_zoo_file_whose_batches_fit_any_n_envs(env_id):
    import yaml

    block = yaml.safe_load(HYPERPARAMS.read_text())[env_id]
    assert isinstance(block["policy_kwargs"], str) and block["policy"] == "MlpPolicy"
    assert block["n_steps"] % block["batch_size"] == 0
    hp = load_hyperparams(env_id)
    assert hp["policy_kwargs"]["net_arch"] and hp["env_kwargs"]["config"] == "caiso-sp15"
    for n_envs in (1, 3, 7):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            sb3.PPO("MlpPolicy", make_sb3_vec_env(env_id, n_envs, split="val"), device="cpu", **hp["ppo"])


def test_rl_zoo_trains_from_the_file_and_its_model_reaches_the_leaderboard(tmp_path):
    command = [sys.executable, "-m", "rl_zoo3.train", "--algo", "ppo", "--env", "bessgym/RealTime-v0",
               "--gym-packages", "bessgym", "-conf", str(HYPERPARAMS), "-n", "400", "-f", str(tmp_path / "logs"),
               "--eval-freq", "-1", "--save-freq", "-1", "--seed", "0", "--num-threads", "1",
               "-params", "n_envs:2", "--env-kwargs", "da_bidder:'threshold'"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "bessgym/" in done.stdout and "Warning" not in done.stderr
    folder = tmp_path / "logs" / "ppo" / "bessgym-RealTime-v0_1"
    zipped, stats = folder / "bessgym-RealTime-v0.zip", folder / "bessgym-RealTime-v0" / "vecnormalize.pkl"
    assert zipped.is_file() and stats.is_file()
    spec = f"agents.sb3_model:SB3RealTime?path={zipped}&algo=ppo&vecnormalize={stats}&trust=true"
    (day,) = evaluate("caiso-sp15", "val", "threshold", spec, limit=1)
    assert np.isfinite(day.profit)


def test_domain_metrics_reach_the_event_files_with_the_episode_profit(tmp_path):
    venv = make_vec_env("bessgym/RealTime-v0", n_envs=2, seed=0, env_kwargs={"split": "val"})
    model = sb3.PPO("MlpPolicy", venv, n_steps=96, batch_size=96, n_epochs=1, device="cpu", seed=0,
                    tensorboard_log=str(tmp_path))
    model.learn(192, callback=DomainMetrics())
    logged = scalars(tmp_path)
    assert logged["bessgym/episodes"] == [2.0]
    assert logged["bessgym/profit_usd"][0] == pytest.approx(logged["rollout/ep_rew_mean"][0], rel=1e-4)
    total = sum(logged[f"bessgym/{line}_usd"][0] for line in LEDGER_LINES if f"bessgym/{line}_usd" in logged)
    assert total == pytest.approx(logged["bessgym/profit_usd"][0], rel=1e-4)
    assert logged["bessgym/penalties_usd"][0] >= 0 and 0 <= logged["bessgym/action_clipped_share"][0] <= 1


def play_in_env(model, scenario_id: str, normalise=lambda obs: obs) -> float:
    """The profit of a pinned day (its default deployment path) played in RealTime-v0 itself."""
    env = gym.make("bessgym/RealTime-v0", split="val").unwrapped
    obs, _ = env.begin_day(env.source.episode(scenario_id))
    profit, done = 0.0, False
    while not done:
        obs, reward, done, _, info = env.step(model.predict(normalise(obs), deterministic=True)[0])
        profit += reward
    return profit


def test_the_readme_model_reaches_the_leaderboard_only_when_trusted(tmp_path):
    env = gym.make("bessgym/RealTime-v0", split="val")
    model = sb3.PPO("MlpPolicy", env, n_steps=96, batch_size=96, seed=0, device="cpu").learn(total_timesteps=192)
    model.save(tmp_path / "model")
    first = EpisodeSource("caiso-sp15", "val", None).ids[0]
    in_env = play_in_env(model, first)

    spec = f"agents.sb3_model:SB3RealTime?path={tmp_path / 'model.zip'}&algo=ppo"
    with pytest.raises(ValueError, match="trust=true"):
        load_component(spec)
    (day,) = evaluate("caiso-sp15", "val", "threshold", load_component(spec + "&trust=true"), limit=1)
    assert day.profit == pytest.approx(in_env, abs=1e-6)
    export(model, None, tmp_path / "exported")
    (exported,) = evaluate("caiso-sp15", "val", "threshold", f"agents.ppo.policy:PPORealTime?path={tmp_path / 'exported'}",
                           limit=1)
    assert exported.profit == pytest.approx(in_env, abs=1e-6)
    assert evaluate_model(model, split="val", limit=1)["profit_usd"].item() == pytest.approx(in_env, abs=1e-6)

    # a wrong pairing is refused at once, naming what the model is and what is needed
    with pytest.raises(ValueError, match=r"model PPO has observation space Box\(25,\) and action space Box\(1,\); ModelDayAhead plays it on "
                                         r"bessgym/DayAhead-v0, which needs Box\(173,\) observations and Box\(120,\) actions"):
        evaluate_model(model, "bessgym/DayAhead-v0", split="val", limit=1)
    with pytest.raises(ValueError, match=r"saved with policy class ActorCriticPolicy .*which a2c / ppo / trpo build; "
                                         r"algo='sac' \(SAC\) builds \[.*SACPolicy"):
        load_component(spec.replace("algo=ppo", "algo=sac") + "&trust=true")


@pytest.mark.parametrize("algo", ["a2c", "sac", "td3"])
def test_any_sb3_algorithm_with_vecnormalize_loads_through_a_spec(tmp_path, algo):
    venv = VecNormalize(DummyVecEnv([lambda: gym.make("bessgym/RealTime-v0", split="val")]), norm_reward=False)
    kwargs = {"n_steps": 16} if algo == "a2c" else {"learning_starts": 32, "buffer_size": 1000, "batch_size": 32,
                                                     "policy_kwargs": {"net_arch": [16, 16]}}
    model = {"a2c": sb3.A2C, "sac": sb3.SAC, "td3": sb3.TD3}[algo]("MlpPolicy", venv, seed=0, device="cpu", **kwargs)
    model.learn(96)
    model.save(tmp_path / "model")
    venv.save(str(tmp_path / "vn.pkl"))
    first = EpisodeSource("caiso-sp15", "val", None).ids[0]
    in_env = play_in_env(model, first, lambda obs: venv.normalize_obs(obs))
    spec = f"agents.sb3_model:SB3RealTime?path={tmp_path / 'model.zip'}&algo={algo}&vecnormalize={tmp_path / 'vn.pkl'}"
    with pytest.raises(ValueError, match="model .* was not loaded: SB3 zips and VecNormalize pickles"):
        load_component(spec)
    with pytest.raises(ValueError, match="VecNormalize file .* was not loaded"):
        load_vecnormalize(tmp_path / "vn.pkl", 19)
    (day,) = evaluate("caiso-sp15", "val", "threshold", spec + "&trust=true", limit=1)
    assert day.profit == pytest.approx(in_env, abs=1e-4)


def test_a_day_ahead_zip_bids_through_a_spec(tmp_path):
    model = sb3.PPO("MlpPolicy", gym.make("bessgym/DayAhead-v0", split="val"), n_steps=16, batch_size=16, n_epochs=1,
                    policy_kwargs={"net_arch": [16]}, seed=0, device="cpu").learn(16)
    model.save(tmp_path / "bidder")
    spec = f"agents.sb3_model:SB3DayAhead?path={tmp_path / 'bidder.zip'}&algo=ppo&trust=true"
    (day,) = evaluate("caiso-sp15", "val", spec, "follow_da", limit=1)
    ours = evaluate_model(model, "bessgym/DayAhead-v0", split="val", limit=1)
    assert ours["profit_usd"].item() == pytest.approx(day.profit, abs=1e-6)
    with pytest.raises(ValueError, match=r"bidder.zip has observation space Box\(173,\) and action space Box\(120,\); SB3RealTime .* needs Box\(25,\)"):
        load_component(f"agents.sb3_model:SB3RealTime?path={tmp_path / 'bidder.zip'}&algo=ppo&trust=true")
    with pytest.raises(ValueError, match=r"ModelRealTime plays it on bessgym/RealTime-v0 with \{'action': 'base_point'\}, which needs Box\(25,\) observations and Box\(1,\)"):
        evaluate_model(model, "bessgym/RealTime-v0", split="val", limit=1)
    with pytest.raises(ValueError, match="algo='dqn'.*discrete"):
        load_component(f"agents.sb3_model:SB3DayAhead?path={tmp_path / 'bidder.zip'}&algo=dqn&trust=true")


def test_evaluate_gives_the_leaderboards_numbers():
    from benchmarks.leaderboard import Entry, Task, run_task
    from benchmarks.report import FULL_HINDSIGHT
    from bessgym.config import load_config

    days = evaluate_model("follow_da", split="val", seeds=[0, 1], limit=2, da_bidder="threshold")
    assert list(days.columns[:2]) == ["scenario_id", "seed"] and len(days) == 4
    assert days.query("seed == 0")["profit_usd"].tolist() == [r.profit for r in evaluate("caiso-sp15", "val", "threshold", "follow_da", limit=2)]
    entry = Entry(name="threshold+follow", da_bidder="threshold", rt_policy="follow_da")
    for row in days.itertuples():
        config = load_config("caiso-sp15").model_copy(update={"seed": row.seed}).model_dump_json()
        board = run_task(Task(row.scenario_id, row.seed, entry), config, "val", 600.0)
        oracle = run_task(Task(row.scenario_id, row.seed, reference=FULL_HINDSIGHT), config, "val", 600.0)
        assert (row.profit_usd, row.oracle_profit_usd) == (board["profit_total_usd"], oracle["profit_total_usd"])
        assert row.penalties_usd == pytest.approx(-(board["no_pay"] + board["unavailable"] + board["penalty"]))
        assert row.capture_pct == pytest.approx(100 * row.profit_usd / row.oracle_profit_usd)
    summary = days.attrs["summary"]
    assert summary.loc["capture %", "all"] == pytest.approx(100 * days["profit_usd"].sum() / days["oracle_profit_usd"].sum())
    assert summary.loc["days", "seed 1"] == 2


def test_train_help_describes_every_option():
    for action in build_parser()._actions:
        assert action.help and len(action.help) > 10, action.option_strings
    text = " ".join(build_parser().format_help().split())  # argparse wraps lines
    for words in ("default: 0", "default: 20", "default: val", "bessgym/DayAhead-v0", "env steps", "rl-zoo3",
                  "rounded up to whole rollouts of n_envs x n_steps"):
        assert words in text, words


def test_training_and_loading_never_import_rl_zoo3():
    """rl_zoo3 patches Gymnasium's TimeLimit for the whole process when imported (its info gains
    'TimeLimit.truncated'); only the zoo's own command may bring it in."""
    code = ("import sys, agents.ppo.train, agents.sb3_model, agents.evaluate, agents.callbacks; "
            "assert not any(m.split('.')[0] == 'rl_zoo3' for m in sys.modules), 'rl_zoo3 was imported'; "
            "print(agents.ppo.train.callbacks_of(['agents.callbacks.DomainMetrics']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and "DomainMetrics" in out.stdout, out.stderr[-2000:]
