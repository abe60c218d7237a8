"""PPO: a tiny training run per env, export, and acting through the leaderboard adapters."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")

from agents.ppo.policy import LoadedPolicy  # noqa: E402
from agents.ppo.train import TrainConfig, train  # noqa: E402
from bessgym.evaluation import evaluate  # noqa: E402

TINY = {  # overrides of hyperparams.yml's blocks (rl-zoo3 keys, PPO arguments flat)
    "bessgym/RealTime-v0": {"policy_kwargs": "dict(net_arch=[16, 16])", "n_steps": 32, "batch_size": 32, "n_epochs": 2,
                            "gamma": 0.99},
    "bessgym/DayAhead-v0": {"policy_kwargs": "dict(net_arch=[16, 16])", "n_steps": 8, "batch_size": 8, "n_epochs": 2},
}


@pytest.mark.parametrize("env_id, fixed, adapter", [
    ("bessgym/RealTime-v0", "threshold", "PPORealTime"),
    ("bessgym/DayAhead-v0", "follow_da", "PPODayAhead"),
])
def test_tiny_training_export_and_adapter(tmp_path, env_id, fixed, adapter):
    cfg = TrainConfig(env=env_id, seed=3, timesteps=256, n_envs=4, split="val", eval_split="val", fixed=fixed,
                      out=tmp_path / "run", evaluations=1, eval_days=1, hyperparams=TINY[env_id])
    record = train(cfg)
    assert record["timesteps"] >= 256 and record["env_steps_per_s"] > 0
    prefix = tmp_path / "run" / record["name"]
    spec = json.loads(prefix.with_suffix(".json").read_text())
    assert spec["training"]["seed"] == 3 and len(spec["obs_mean"]) == len(spec["observation_low"])
    assert (tmp_path / "run" / "tensorboard").exists()

    policy = LoadedPolicy(path=str(prefix))
    obs = np.array(spec["observation_low"], np.float32) * 0.5 + np.array(spec["observation_high"], np.float32) * 0.5
    action = policy.action(obs)
    assert action.shape == (spec["action_dim"],) and np.all(np.abs(action) <= 1)

    spec_string = f"agents.ppo.policy:{adapter}?path={prefix}"
    da, rt = (fixed, spec_string) if adapter == "PPORealTime" else (spec_string, fixed)
    outcomes = evaluate("caiso-sp15", "val", da, rt, limit=2)
    assert len(outcomes) == 2 and all(np.isfinite(o.profit) for o in outcomes)


def test_adapter_errors_name_the_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="needs nothing-here.json"):
        LoadedPolicy(path=str(tmp_path / "nothing-here"))
    with pytest.raises(ValueError, match="exactly one of name="):
        LoadedPolicy()
    with pytest.raises(ValueError, match=r"name='../../etc/passwd' is not a shipped checkpoint's name"):
        LoadedPolicy(name="../../etc/passwd")


@pytest.mark.parametrize("form", [
    {"action": "bid_curve"},
    {"residual": "baselines.mpc:MPCPolicy"},
])
def test_each_rt_action_form_plays_the_same_day_in_the_env_and_through_the_adapter(tmp_path, form):
    """A checkpoint of each RealTime-v0 action form (a bid curve; a correction of the MPC's base
    points, the MPC run beside the agent) records its form; the leaderboard's adapter then plays
    a day to the cent of what the env pays the same network's actions on the same episode."""
    import gymnasium as gym

    from agents.ppo.policy import PPORealTime
    from bessgym.evaluation import run_day

    cfg = TrainConfig(env="bessgym/RealTime-v0", seed=1, timesteps=64, n_envs=2, split="val", eval_split="val",
                      fixed="threshold", out=tmp_path / "run", evaluations=1, eval_days=1,
                      hyperparams=TINY["bessgym/RealTime-v0"], **form)
    record = train(cfg)
    prefix = str(tmp_path / "run" / record["name"])
    policy = PPORealTime(path=prefix)
    assert policy.form.record() == {**{"action": "base_point"}, **form} | (
        {"segments": 3, "price_span_usd_per_mwh": 100.0} if "segments" in policy.form.record() else {}) | (
        {"residual_band": 0.25} if "residual" in form else {})
    env = gym.make("bessgym/RealTime-v0", split="val", da_bidder="threshold", **form)
    obs, _ = env.reset(seed=5)
    assert obs.shape == (policy.observation_size,)
    episode, played = env.unwrapped._episode, 0.0
    for _ in range(env.unwrapped.episode_steps):
        obs, reward, terminated, _, _ = env.step(policy.action(obs))
        played += reward
    assert terminated
    assert run_day(env.unwrapped.source, episode, PPORealTime(path=prefix)).profit == pytest.approx(played, rel=1e-9)


def test_the_residual_form_runs_the_proposal_at_zero_and_corrects_within_its_band():
    """Action 0 runs the proposing policy's day exactly (the MPC's, as the leaderboard plays it);
    a correction reaches band x the power: around follow_da, a = 0.5 in a band of 0.5 is the
    plain form's a = 0.25."""
    import gymnasium as gym

    from baselines.mpc import MPCPolicy
    from bessgym.evaluation import run_day

    env = gym.make("bessgym/RealTime-v0", split="val", residual="baselines.mpc:MPCPolicy")
    env.reset(seed=2)
    zero = sum(env.step(np.zeros(1, np.float32))[1] for _ in range(96))
    assert run_day(env.unwrapped.source, env.unwrapped._episode, MPCPolicy()).profit == pytest.approx(zero, rel=1e-9)

    def day(a, **kwargs):
        env = gym.make("bessgym/RealTime-v0", split="val", **kwargs)
        env.reset(seed=2)
        return [env.step(np.full(1, a, np.float32))[1] for _ in range(96)]

    assert day(a=0.5, residual="follow_da", residual_band=0.5) == pytest.approx(day(a=0.25), rel=1e-12)
    with pytest.raises(ValueError, match="residual applies to action='base_point'"):
        gym.make("bessgym/RealTime-v0", action="bid_curve", residual="follow_da")
    with pytest.raises(ValueError, match=r"residual_band must be a finite number > 0 and <= 2, got 3"):
        gym.make("bessgym/RealTime-v0", residual="follow_da", residual_band=3)
    with pytest.raises(ValueError, match="residual_band applies with a residual"):
        gym.make("bessgym/RealTime-v0", residual_band=0.1)
    with pytest.raises(ValueError, match="residual runs its RT policy per env"):
        gym.make_vec("bessgym/RealTime-v0", 2, vectorization_mode="vector_entry_point", residual="follow_da")


def test_the_day_ahead_residual_corrects_the_bidder_and_its_checkpoint_bids_as_the_env(tmp_path):
    """DayAhead-v0 with a residual: action 0 submits the bidder's bid (scalar and vector envs
    pay the same day); a tiny training's checkpoint records the form, and its adapter bids on
    a day exactly what the env's mapping of the same network's action submits."""
    import gymnasium as gym

    from agents.ppo.policy import PPODayAhead
    from bessgym.envs.day_ahead import DAActionForm
    from bessgym.evaluation import play_episode
    from bessgym.policies import FollowDA

    robust = "baselines.robust:RobustDA"
    env = gym.make("bessgym/DayAhead-v0", split="val", residual=robust)
    obs, _ = env.reset(seed=3)
    assert obs.shape == (293,) and env.observation_space.contains(obs)
    source = env.unwrapped.source
    day = env.unwrapped._scenario_id
    reward = env.step(np.zeros(120, np.float32))[1]
    vec = gym.make_vec("bessgym/DayAhead-v0", 2, vectorization_mode="vector_entry_point", split="val", residual=robust)
    vec.reset(seed=2)  # sub-env 1 is seeded 3: the scalar env's day and deployment
    assert vec.step(np.zeros((2, 120), np.float32))[1][1] == pytest.approx(reward, rel=1e-12)
    robust_alone = play_episode(source, day, source.bidder, FollowDA())
    assert robust_alone.schedule_mw == pytest.approx(env.unwrapped._shown[0].accepted.energy_mw)

    form = DAActionForm.of(robust, 0.5)
    battery = source.config.battery
    energy, awards = form.bid(np.full(120, 1.0), np.zeros(24), np.zeros((24, 4)), battery)
    assert energy == pytest.approx(np.full(24, 0.5 * battery.p_discharge_mw)) and awards == pytest.approx(np.full((24, 4), 0.5))

    cfg = TrainConfig(env="bessgym/DayAhead-v0", seed=2, timesteps=16, n_envs=2, split="val", eval_split="val",
                      out=tmp_path / "run", evaluations=1, eval_days=1, residual=robust,
                      hyperparams=TINY["bessgym/DayAhead-v0"])
    record = train(cfg)
    assert record["name"] == "dayahead-residual-seed2"
    policy = PPODayAhead(path=str(tmp_path / "run" / record["name"]))
    assert policy.form == DAActionForm(robust, 0.25)
    _, context = source.day(day)
    bid = policy.bid(context)
    base = source.fixed_bid(day)[0]
    expected = policy.form.bid(policy.action(policy.form.observe(obs[:173], base.energy_mw, base.as_mw, battery)),
                               base.energy_mw, base.as_mw, battery)
    assert bid.energy_mw == pytest.approx(expected[0], abs=1e-12) and bid.as_mw == pytest.approx(expected[1], abs=1e-12)


def test_lagrangian_ppo_prices_the_cost_signal_by_dual_ascent(tmp_path):
    """--cost-limit trains on reward - lambda x cost, lambda rising while the days' shortfall
    exceeds the limit (a limit of 0 MWh: it only rises) and recorded in the run."""
    from agents.ppo.lagrangian import LagrangeMultiplier

    cfg = TrainConfig(env="bessgym/RealTime-v0", seed=0, timesteps=3 * 8 * 96, n_envs=8, split="val", eval_split="val",
                      fixed="threshold", out=tmp_path / "run", evaluations=1, eval_days=1, cost_limit=0.0, lambda_lr=10.0,
                      hyperparams={**TINY["bessgym/RealTime-v0"], "n_steps": 96, "batch_size": 96})
    record = train(cfg)
    assert record["name"] == "realtime-lagrangian-seed0"
    history = record["lagrangian"]["history"]
    assert len(history) == 3 and all(cost >= 0 for _, cost, _ in history)
    multipliers = [m for _, _, m in history]
    assert multipliers == sorted(multipliers) and multipliers[-1] == pytest.approx(10.0 * sum(c for _, c, _ in history))
    with pytest.raises(ValueError, match="cost_limit must be a finite number >= 0, got -1"):
        LagrangeMultiplier(-1.0)


def test_a_recurrent_policy_carries_its_lstm_state_through_the_day(tmp_path):
    """--recurrent trains sb3-contrib's RecurrentPPO; its spec plays a day to the cent of the env
    stepped with the LSTM state carried from interval to interval (and refuses DayAhead-v0)."""
    import gymnasium as gym

    from bessgym.evaluation import run_day
    from bessgym.policies import load_component

    cfg = TrainConfig(env="bessgym/RealTime-v0", seed=0, timesteps=384, n_envs=4, split="val", eval_split="val",
                      fixed="threshold", out=tmp_path / "run", evaluations=1, eval_days=1, recurrent=True,
                      hyperparams={**TINY["bessgym/RealTime-v0"], "n_steps": 96, "batch_size": 96})
    record = train(cfg)
    assert record["name"] == "realtime-lstm-seed0" and "algo=ppo_lstm" in record["spec"]
    policy = load_component(record["spec"])
    env = gym.make("bessgym/RealTime-v0", split="val")
    obs, _ = env.reset(seed=1)
    episode, played, state, start = env.unwrapped._episode, 0.0, None, np.array([True])
    for _ in range(96):
        action, state = policy.model.predict(policy.normaliser(obs), state=state, episode_start=start, deterministic=True)
        obs, reward, *_ = env.step(action)
        played, start = played + reward, np.array([False])
    assert run_day(env.unwrapped.source, episode, policy).profit == pytest.approx(played, rel=1e-9)
    with pytest.raises(ValueError, match="--recurrent applies to bessgym/RealTime-v0 only"):
        train(TrainConfig(env="bessgym/DayAhead-v0", recurrent=True, out=tmp_path / "da"))


def test_a_checkpoint_whose_form_record_is_malformed_is_named(tmp_path):
    import shutil

    from agents.ppo.policy import CHECKPOINTS, PPORealTime

    for record, says in (("bid_curve", "an action form's record is a dict"), ({"action": "curve"}, "action 'curve' is not one of"),
                         ({"band": 1}, r"action form record has \['band'\]")):
        shutil.copy(CHECKPOINTS / "realtime-seed0.pt", tmp_path / "c.pt")
        spec = json.loads((CHECKPOINTS / "realtime-seed0.json").read_text())
        (tmp_path / "c.json").write_text(json.dumps({**spec, "rt_action": record}))
        with pytest.raises(ValueError, match=f"checkpoint record of {tmp_path / 'c'}: rt_action: {says}"):
            PPORealTime(path=str(tmp_path / "c"))


def test_a_residual_agent_reports_its_proposers_fallbacks_to_the_leaderboard():
    """The MPC's solver fallbacks inside a residual agent count as the agent's (rt_fallbacks)."""
    from agents.ppo.policy import PPORealTime
    from bessgym.envs.episodes import EpisodeSource
    from bessgym.evaluation import play_episode
    from bessgym.policies import load_component

    source = EpisodeSource("caiso-sp15", "val", da_bidder=None)
    day = source.ids[0]
    policy = PPORealTime(name="realtime-residual-seed0")
    record = play_episode(source, day, load_component("baselines.robust:RobustDA"), policy)
    assert record.rt_fallbacks == policy._proposer.policy.fallbacks == 0
    policy._proposer.policy.fallbacks = 3  # as a day of failed solves would leave it
    assert policy.fallbacks == 3 and PPORealTime(name="realtime-seed0").fallbacks == 0


def test_two_settlement_learns_both_levels_and_its_checkpoint_plays_both_as_the_env(tmp_path):
    """TwoSettlement-v0 with a DA residual: action 0 bids RobustDA's bid and follows it (the
    leaderboard's robust+follow day, to the cent); a tiny joint training records both forms, and
    one checkpoint, as the bidder and the RT policy of an entry, pays a day to the cent of what
    the env pays the same network's actions; the correction starts at zero."""
    import gymnasium as gym

    from agents.ppo.policy import PPOTwoSettlement
    from bessgym.envs.day_ahead import DAActionForm
    from bessgym.envs.real_time import RTActionForm
    from bessgym.evaluation import run_day
    from bessgym.policies import FollowDA

    robust = "baselines.robust:RobustDA"
    env = gym.wrappers.FlattenObservation(gym.make("bessgym/TwoSettlement-v0", split="val", da_residual=robust))
    obs, _ = env.reset(seed=4)
    inner = env.unwrapped
    assert obs.shape == (293 + 2 + 25 + 120,) and not obs[-120:].any()  # the schedule: zeros before the DA market
    scenario, context = inner._scenario, inner.source.day(inner._scenario_id)[1]
    zero, played = np.zeros(env.action_space.shape, np.float32), 0.0
    obs, played, *_ = env.step(zero)
    accepted = inner._accepted
    assert obs[-120:].reshape(24, 5)[:, 0] == pytest.approx(accepted.energy_mw / inner.battery.p_discharge_mw, abs=1e-6)
    terminated = False
    while not terminated:
        obs, reward, terminated, _, _ = env.step(zero)
        played += reward
    robust_bid = inner.source.fixed_bid(scenario.id)[0]
    followed = run_day(inner.source, inner.source.prepare(scenario, context, robust_bid), FollowDA())
    assert followed.profit == pytest.approx(played, rel=1e-9)

    hyperparams = {"policy_kwargs": "dict(net_arch=[16, 16])", "n_steps": 97, "batch_size": 97, "n_epochs": 2}
    cfg = TrainConfig(env="bessgym/TwoSettlement-v0", seed=1, timesteps=194, n_envs=2, split="val", eval_split="val",
                      out=tmp_path / "run", evaluations=1, eval_days=1, residual=robust, keep="best",
                      hyperparams=hyperparams)
    record = train(cfg)
    assert record["name"] == "twosettlement-residual-seed1" and record["kept"] == "best"
    prefix = str(tmp_path / "run" / record["name"])
    agent = PPOTwoSettlement(path=prefix)
    assert agent.da_form == DAActionForm(robust, 0.25) and agent.rt_form == RTActionForm()
    obs, _ = env.reset(seed=6)
    scenario, context = inner._scenario, inner.source.day(inner._scenario_id)[1]
    played, terminated = 0.0, False
    while not terminated:
        obs, reward, terminated, _, _ = env.step(agent.action(obs))
        played += reward
    episode = inner.source.prepare(scenario, context, agent.bid(context))
    assert run_day(inner.source, episode, PPOTwoSettlement(path=prefix)).profit == pytest.approx(played, rel=1e-9)


def test_keep_best_exports_the_best_evaluated_policy_the_untrained_one_among_them(tmp_path):
    """--keep best: the untrained policy is evaluated first, and the exported checkpoint is the
    one whose evaluation was best (here the CSV's best row; its capture is the record's)."""
    import pandas as pd

    cfg = TrainConfig(env="bessgym/DayAhead-v0", seed=0, timesteps=32, n_envs=2, split="val", eval_split="val",
                      out=tmp_path / "run", evaluations=2, eval_days=2, residual="baselines.robust:RobustDA",
                      keep="best", hyperparams=TINY["bessgym/DayAhead-v0"])
    record = train(cfg)
    evaluations = pd.read_csv(tmp_path / "run" / "eval" / "evaluations.csv")
    assert evaluations["timesteps"].iloc[0] == 0 and len(evaluations) >= 2
    best = evaluations.loc[evaluations["capture_pct"].idxmax()]
    assert record["kept_timesteps"] == best["timesteps"] and record["final_eval"]["capture_pct"] == best["capture_pct"]
    assert "--split val --residual baselines.robust:RobustDA --evaluations 2 --eval-split val --eval-days 2 --eval-seeds 0" \
        in record["command"] and "--keep best" in record["command"]  # the record's command selects as this run did
    from agents.evaluate import evaluate as evaluate_days

    days = evaluate_days(str(tmp_path / "run" / record["name"]), "bessgym/DayAhead-v0", "val", seeds=[0], limit=2)
    assert days.attrs["summary"].loc["capture %", "all"] == pytest.approx(best["capture_pct"], abs=1e-9)


def test_the_joint_policy_scores_each_step_on_the_action_entries_its_phase_reads():
    """PhaseMaskedPolicy: an RT step's log-probability and entropy ignore the DA entries, a DA
    step's the RT entries (normalised phase columns included); its network is SB3's MLP."""
    import gymnasium as gym
    import torch

    from agents.ppo.joint import PhaseMaskedPolicy, phase_columns
    from bessgym.envs.two_settlement import two_settlement_space
    from bessgym.envs.day_ahead import DAActionForm
    from bessgym.envs.real_time import RTActionForm
    from bessgym.config import load_config

    space = two_settlement_space(DAActionForm(), RTActionForm(), load_config("caiso-sp15").market_profile)
    assert phase_columns(space) == (173, 174)
    obs_space = gym.spaces.Box(-10, 10, (5,), np.float32)
    policy = PhaseMaskedPolicy(obs_space, gym.spaces.Box(-1, 1, (3,), np.float32), lambda _: 1e-3, net_arch=[8],
                               phase_columns=(1, 2), da_size=2)
    da_obs = torch.tensor([[0.3, 9.8, -9.8, 0.1, 0.0]])  # the phase one-hot after VecNormalize: DA step
    rt_obs = torch.tensor([[0.3, -0.1, 0.1, 0.1, 0.0]])  # an RT step
    a, b = torch.tensor([[0.5, -0.5, 0.2]]), torch.tensor([[-0.9, 0.9, 0.2]])  # the same RT entry
    _, rt_a, rt_entropy = policy.evaluate_actions(rt_obs, a)
    _, rt_b, _ = policy.evaluate_actions(rt_obs, b)
    assert rt_a.item() == pytest.approx(rt_b.item())
    _, da_a, da_entropy = policy.evaluate_actions(da_obs, a)
    _, da_c, _ = policy.evaluate_actions(da_obs, torch.tensor([[0.5, -0.5, -0.7]]))
    assert da_a.item() == pytest.approx(da_c.item()) and da_a.item() != pytest.approx(policy.evaluate_actions(da_obs, b)[1].item())
    assert da_entropy.item() == pytest.approx(2 * rt_entropy.item())  # state-independent std: 2 entries against 1
    actions, _, log_prob = policy(torch.cat([da_obs, rt_obs]))
    assert actions.shape == (2, 3) and log_prob.shape == (2,)
