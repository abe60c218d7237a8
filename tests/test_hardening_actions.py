"""Issue 14, actions and physics: wrong shapes refused in one place, no step before reset, a NaN
RT policy refused alike in the scalar and the vector DayAhead env, negative awards counted as
repairs, and an SoC that never leaves [E_min, E_max]."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import ResetNeeded

import bessgym  # noqa: F401
from bessgym.battery import Battery
from bessgym.envs.episodes import EpisodeSource, resolve
from bessgym.evaluation import play_episode
from bessgym.market import DABid, load_profile
from bessgym.sim import DaySimulator, ScenarioArrays, simulate_batch, simulate_day
from tests.conftest import make_scenario

DAY = {"scenario": "caiso-SP15-2024-05-02"}


def make_vec(env_id: str, n: int, **kwargs):
    return gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", split="test", **kwargs)


def test_empty_realtime_action_is_a_value_error_naming_both_shapes():
    env = gym.make("bessgym/RealTime-v0", split="test")
    env.reset(seed=0, options=DAY)
    with pytest.raises(ValueError, match=r"action has 0 entries in shape \(0,\), the action space \(1,\) needs 1"):
        env.step(np.zeros(0))


@pytest.mark.parametrize(("form", "shape"), [
    ("base_point", (5,)), ("base_point", (4,)), ("base_point", (2, 2)), ("base_point", (1, 1)), ("base_point", ()),
    ("bid_curve", (1, 7)), ("bid_curve", (7, 1)),
])
def test_realtime_refuses_an_action_of_another_shape(form, shape):
    env = gym.make("bessgym/RealTime-v0", split="test", action=form).unwrapped
    env.reset(seed=0, options=DAY)
    expected = env.action_space.shape
    with pytest.raises(ValueError, match=rf"in shape \({', '.join(map(str, shape))},?\), the action space \({expected[0]},\)"):
        env.step(np.zeros(shape, dtype=np.float32))
    assert env.step(0.3 if form == "base_point" else np.zeros(expected))[4]["action_clipped"] is False  # still playable
    if form == "base_point":
        assert env.step(1.5)[4]["action_clipped"] is True  # a Python float stands for the (1,) action


@pytest.mark.parametrize("shape", [(5, 24), (24, 5), (1, 120)])
def test_dayahead_refuses_an_action_of_the_right_size_in_another_layout(shape):
    env = gym.make("bessgym/DayAhead-v0", split="test")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"the action space \(120,\) needs 120 in exactly that shape"):
        env.step(np.zeros(shape, dtype=np.float32))


@pytest.mark.parametrize(("env_id", "kwargs", "shape"), [
    ("bessgym/RealTime-v0", {}, (2,)),
    ("bessgym/RealTime-v0", {}, (2, 1, 1)),
    ("bessgym/RealTime-v0", {"action": "bid_curve"}, (2, 7, 1)),
    ("bessgym/DayAhead-v0", {}, (2, 24, 5)),
])
def test_vector_envs_refuse_actions_of_another_shape(env_id, kwargs, shape):
    vec = make_vec(env_id, 2, **kwargs)
    vec.reset(seed=0)
    batch = (2, *vec.single_action_space.shape)
    with pytest.raises(ValueError, match=rf"need {int(np.prod(batch))} in shape \(2, {batch[1]}\)"):
        vec.step(np.zeros(shape, dtype=np.float32))


@pytest.mark.parametrize("env_id", ["bessgym/RealTime-v0", "bessgym/DayAhead-v0"])
def test_vector_step_before_reset_needs_a_reset(env_id):
    vec = make_vec(env_id, 2)
    with pytest.raises(ResetNeeded, match=r"before calling reset\(\)"):
        vec.step(np.zeros(vec.action_space.shape, dtype=np.float32))


class NaNPolicy:
    """A broken RT policy: NaN every interval."""

    def reset(self, episode) -> None:
        pass

    def act(self, obs: np.ndarray) -> float:
        return float("nan")


def test_nan_rt_policy_raises_in_the_scalar_and_the_vector_dayahead_env():
    policy = "tests.test_hardening_actions:NaNPolicy"
    scalar = gym.make("bessgym/DayAhead-v0", split="test", rt_policy=policy)
    scalar.reset(seed=0)
    with pytest.raises(ValueError, match="at interval 0 is nan; base points must be finite MW"):
        scalar.step(np.zeros(120, dtype=np.float32))
    vec = make_vec("bessgym/DayAhead-v0", 2, rt_policy=policy)
    vec.reset(seed=0)
    with pytest.raises(ValueError, match=r"NaNPolicy.* gave base points \[nan, nan\] at interval 0 in envs \[0, 1\]; "
                                         "base points must be finite MW"):
        vec.step(np.zeros((2, 120), dtype=np.float32))


class NegativeRegUp:
    """A DA bidder offering -0.5 MW of reg up in hour 3 and nothing else."""

    def bid(self, context) -> DABid:
        awards = np.zeros((24, 4))
        awards[3, 0] = -0.5
        return DABid(np.zeros(24), awards)


def test_negative_awards_the_market_clips_count_as_repairs():
    source = EpisodeSource("caiso-sp15", "test", da_bidder=None)
    record = play_episode(source, DAY["scenario"], NegativeRegUp(), resolve("follow_da"))
    assert record.repairs_mw == pytest.approx(0.5)
    scenario = source.scenario(DAY["scenario"])
    assert DaySimulator(source.config.battery, source.config.market_profile, scenario,
                        NegativeRegUp().bid(None)).cuts.as_mw[3, 0] == pytest.approx(0.5)


def test_self_discharge_stops_at_the_soc_floor():
    """Discharge to the floor, then idle: self-discharge (5 %/h) must not sink the SoC below it,
    in the step-wise, whole-day and batched forms alike."""
    battery = Battery(self_discharge_per_h=0.05, soc_initial_frac=0.2, soc_min_frac=0.1)
    market, scenario = load_profile("synthetic"), make_scenario(n=96)
    base = np.r_[np.ones(8), np.zeros(88)]  # 2 MWh out: the floor (0.4 MWh) is reached early
    day = simulate_day(battery, market, scenario, DABid.idle(), base)
    assert day.e_mwh.min() >= battery.e_min_mwh - 1e-12 and day.e_mwh[-1] == pytest.approx(battery.e_min_mwh)
    sim = DaySimulator(battery, market, scenario, DABid.idle())
    assert [sim.step(b).e_mwh for b in base.tolist()] == day.e_mwh[1:].tolist()
    batch = simulate_batch(battery, market, ScenarioArrays.stack([scenario]), np.zeros((1, 24)), np.zeros((1, 24, 4)), base[None])
    assert np.array_equal(batch.e_mwh[0], day.e_mwh)


class TextPolicy:
    """Answers a base point as text."""

    def reset(self, episode) -> None:
        pass

    def act(self, obs):
        return "0.5"


@pytest.mark.parametrize("action", [["0.5"], [True], [None], np.array([1 + 2j])])
def test_actions_that_are_not_real_numbers_are_refused(action):
    env = gym.make("bessgym/RealTime-v0", split="test")
    env.reset(seed=0, options=DAY)
    with pytest.raises(ValueError, match="is not made of real numbers"):
        env.step(action)


def test_an_rt_decision_that_is_not_a_number_is_refused():
    source = EpisodeSource("caiso-sp15", "test", da_bidder=None)
    with pytest.raises(ValueError, match="an RT decision must be a base point in MW"):
        play_episode(source, DAY["scenario"], resolve("threshold", "da_bidder"), TextPolicy())


def test_vector_reset_options_of_the_wrong_length_are_named():
    env = make_vec("bessgym/RealTime-v0", 2)
    env.reset(seed=np.int64(3))  # a numpy integer is a seed like any other
    with pytest.raises(ValueError, match=r"reset_mask'\] must be 2 booleans"):
        env.reset(options={"reset_mask": np.ones(5, bool)})
    with pytest.raises(ValueError, match=r"reset_mask'\] must be 2 booleans"):
        env.reset(options={"reset_mask": [True]})
    with pytest.raises(ValueError, match=r"scenario'\] must be one id or 2"):
        env.reset(options={"scenario": [DAY["scenario"]]})
    with pytest.raises(ValueError, match="not a rectangular array"):
        env.step([[1.0], [1.0, 2.0]])
