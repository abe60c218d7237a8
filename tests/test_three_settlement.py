"""Three settlements (DA, 15-minute FMM, 5-minute RTD) and virtual bids: the ledger, the simulator,
the day LP and its replay, the long-CSV layers, and the year-long multi-market LP."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from baselines.multimarket import Mode, YearPrices, YearResult, build_year, solve_year
from baselines.oracle import PerfectForesight, solve_period
from bessgym.actions import base_point
from bessgym.battery import Battery
from bessgym.deployment import draw_deployment
from bessgym.market import DABid, accept_fmm, load_profile
from bessgym.scenarios import DataError, Scenario, ScenarioSet, read_long_csv
from bessgym.sim import simulate_day

CAISO3 = load_profile("caiso3")
VIRTUAL = CAISO3.model_copy(update={"virtual_limit_mw": 1.0})


def five_minute(scenario: Scenario, rtd_noise_usd: float = 0.0, seed: int = 0, deployment: bool = True) -> Scenario:
    """A 15-minute CAISO day as a three-settlement day: its RT prices as the FMM's, the RTD's the
    same plus Gaussian noise, and a 5-minute deployment path."""
    rng = np.random.default_rng(seed)
    config = ScenarioSet("caiso-sp15").config
    rtd = np.repeat(scenario.rt_price, 3) + rtd_noise_usd * rng.standard_normal(288)
    day = dataclasses.replace(scenario, dt_h=1 / 12, rt_price=rtd, fmm_price=scenario.rt_price.copy())
    return dataclasses.replace(day, deployment=draw_deployment(config.deployment, 288, 1 / 12, seed)) if deployment else day


@pytest.fixture(scope="module")
def days(caiso: ScenarioSet) -> list[Scenario]:
    ids = caiso.ids("test")
    return [caiso.get(ids[i]) for i in (3, 40, 70)]


def test_equal_prices_in_every_layer_reproduce_the_two_settlement_oracle(caiso, days):
    config = caiso.config
    for day in days:
        three = five_minute(day)
        two = dataclasses.replace(three, fmm_price=None)
        single = PerfectForesight(config.battery, config.market_profile).solve(two)
        layered = PerfectForesight(config.battery, CAISO3).solve(three)
        assert layered.objective_usd == pytest.approx(single.objective_usd, rel=1e-6, abs=1e-6), day.id
        replay = simulate_day(config.battery, CAISO3, three, layered.bid, layered.base_mw, layered.fmm_mw)
        assert float(replay.profit) == pytest.approx(layered.objective_usd, rel=1e-6), day.id


def test_the_three_settlement_oracle_replays_at_five_minutes(caiso, days):
    """RTD prices off the FMM's and virtual bids: the LP's decisions, played through the simulator,
    earn the LP objective, every layer's line included."""
    battery = caiso.config.battery
    for day in days:
        three = five_minute(day, rtd_noise_usd=15.0, seed=1)
        oracle = PerfectForesight(battery, VIRTUAL).solve(three)
        replay = simulate_day(battery, VIRTUAL, three, oracle.bid, oracle.base_mw, oracle.fmm_mw)
        assert float(replay.profit) == pytest.approx(oracle.objective_usd, rel=1e-6), day.id
        totals = replay.totals
        assert totals.fmm_energy != 0.0 and totals.virtual > 0.0
        assert replay.shortfall_mw.max() < 1e-9 and totals.unavailable == 0.0
        assert np.allclose(replay.energy_mw, oracle.bid.energy_mw) and np.allclose(replay.as_mw, oracle.bid.as_mw)
        assert np.allclose(replay.fmm_mw, np.repeat(oracle.fmm_mw, 3))  # not cut


def test_the_period_oracle_carries_the_fmm_layer(caiso):
    ids = caiso.ids("test")
    first = next(i for i, (a, b) in enumerate(zip(ids, ids[1:])) if caiso.get(b).date - caiso.get(a).date == dt.timedelta(days=1))
    days = [five_minute(caiso.get(i), rtd_noise_usd=15.0, seed=k) for k, i in enumerate(ids[first:first + 2])]
    period = solve_period(caiso.config.battery, VIRTUAL, days)
    assert period.ledger.total.sum() == pytest.approx(period.objective_usd, rel=1e-6)
    assert period.ledger.fmm_energy.sum() != 0.0 and period.ledger.virtual.sum() > 0.0


def test_virtual_bids_leave_the_soc_untouched_and_earn_the_spread(caiso, days):
    battery = caiso.config.battery
    three = five_minute(days[0], rtd_noise_usd=15.0)
    oracle = PerfectForesight(battery, CAISO3).solve(three)
    plain = simulate_day(battery, VIRTUAL, three, oracle.bid, oracle.base_mw, oracle.fmm_mw)
    q = np.random.default_rng(3).uniform(-1.0, 1.0, 24)
    with_virtual = dataclasses.replace(oracle.bid, virtual_mw=q)
    virtual = simulate_day(battery, VIRTUAL, three, with_virtual, oracle.base_mw, oracle.fmm_mw)
    assert np.array_equal(virtual.e_mwh, plain.e_mwh)
    spread = np.repeat(three.da_price, 4) - three.fmm_price  # per FMM interval
    earned = float((spread * np.repeat(q, 4)).sum() * 0.25)
    assert float(virtual.totals.virtual) == pytest.approx(earned, rel=1e-12, abs=1e-9)
    assert float(virtual.profit - plain.profit) == pytest.approx(earned, rel=1e-9, abs=1e-9)


def test_the_market_cuts_virtual_and_fmm_positions_to_its_rules(caiso, days):
    battery = caiso.config.battery
    three = five_minute(days[0])
    bid = DABid(np.zeros(24), np.tile([0.3, 0.2, 0.1, 0.0], (24, 1)), virtual_mw=np.full(24, 5.0))
    result = simulate_day(battery, CAISO3, three, bid, np.zeros(288), np.full(96, 2.0))
    assert not result.totals.virtual  # the profile allows none
    assert np.allclose(result.fmm_mw, battery.p_discharge_mw - 0.4)  # f + R_up <= P_dis
    assert accept_fmm(-2.0, 0.4, 0.2, battery) == pytest.approx(0.2 - battery.p_charge_mw)  # f - R_dn >= -P_ch
    with pytest.raises(ValueError, match="fmm_mw must have shape"):
        simulate_day(battery, CAISO3, three, bid, np.zeros(288), np.zeros(95))
    with pytest.raises(ValueError, match=r"fmm_mw\[3\] is nan"):
        simulate_day(battery, CAISO3, three, bid, np.zeros(288), np.r_[np.zeros(3), np.nan, np.zeros(92)])
    with pytest.raises(ValueError, match="settles 'da_rt'"):
        simulate_day(battery, caiso.config.market_profile, three, bid, np.zeros(288))
    with pytest.raises(ValueError, match="has no FMM prices"):
        simulate_day(battery, CAISO3, dataclasses.replace(three, fmm_price=None), bid, np.zeros(288))


def _layers_csv(path, fmm: np.ndarray, rtd: np.ndarray) -> None:
    stamps = pd.date_range("2024-03-01 08:00", periods=288 * 2, freq="5min")  # two Pacific days in UTC
    pd.DataFrame({"interval_start_utc": stamps.strftime("%Y-%m-%d %H:%M:%S"), "hub": "H", "da_lmp": 30.0,
                  "fmm_lmp": fmm, "rtd_lmp": rtd}).to_csv(path, index=False)


def test_the_long_csv_reads_fmm_and_rtd_layers(tmp_path):
    fmm = np.repeat(np.arange(192, dtype=float), 3)
    rtd = fmm + np.tile([-1.0, 0.0, 2.0], 192)
    path = tmp_path / "layers.csv"
    _layers_csv(path, fmm, rtd)
    history = read_long_csv(path, "H", "America/Los_Angeles")
    assert history.dt_h == pytest.approx(1 / 12) and history.fmm.shape == (2, 96)
    assert np.array_equal(history.fmm[1], np.arange(96, 192)) and np.array_equal(history.rt[0, :3], [-1.0, 0.0, 2.0])
    uneven = fmm.copy()
    uneven[4] += 1.0
    _layers_csv(path, uneven, rtd)
    with pytest.raises(DataError, match="'fmm_lmp' differs within one 15-minute interval"):
        read_long_csv(path, "H", "America/Los_Angeles")
    frame = pd.read_csv(path).assign(rt_lmp=1.0)
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match="both rt_lmp and rtd_lmp"):
        read_long_csv(path, "H", "America/Los_Angeles")
    frame.drop(columns=["rtd_lmp", "rt_lmp"]).to_csv(path, index=False)
    with pytest.raises(DataError, match="'fmm_lmp' needs 'rtd_lmp'"):
        read_long_csv(path, "H", "America/Los_Angeles")


@pytest.fixture(scope="module")
def year(caiso) -> YearPrices:
    return YearPrices.of([five_minute(caiso.get(i), 20.0, k, deployment=False) for k, i in enumerate(caiso.ids("val")[:6])])


GROSS = Battery(energy_mwh=1.0, soc_min_frac=0.0, degradation_usd_per_mwh=0.0)


@pytest.fixture(scope="module")
def year_results(year) -> dict[tuple[str, bool], YearResult]:
    return {(markets, with_as): solve_year(GROSS, year, Mode(markets, with_as), method="simplex")
            for markets in ("da", "rt", "da+rt") for with_as in (False, True)}


def test_the_gross_leg_year_sells_eta_squared_of_what_it_buys(year_results):
    for result in year_results.values():
        ratio = sum(result.sold_mwh.values()) / sum(result.bought_mwh.values())
        assert ratio == pytest.approx(GROSS.eta_charge * GROSS.eta_discharge, abs=1e-9), result.mode.name


def test_year_modes_order_as_their_feasible_sets(year_results, year):
    revenue = {key: result.revenue_usd for key, result in year_results.items()}
    for markets in ("da", "rt", "da+rt"):
        assert revenue[markets, True] >= revenue[markets, False] - 1e-6
    for with_as in (False, True):
        assert revenue["da+rt", with_as] >= max(revenue["da", with_as], revenue["rt", with_as]) - 1e-6
    for result in year_results.values():  # the settled ledger is the LP's objective
        assert result.revenue_usd == pytest.approx(result.result.objective, rel=1e-6)
    virtual = solve_year(GROSS, year, Mode("da+rt", True, 1.0), method="simplex")
    hourly_spread = (np.repeat(year.da, 4, axis=1) - year.fmm).reshape(year.n_days, 24, 4).sum(2) * 0.25  # $/MW per hour
    assert virtual.lines["virtual"] == pytest.approx(np.abs(hourly_spread).sum(), rel=1e-6)  # 1 MW on the right side
    assert virtual.revenue_usd == pytest.approx(revenue["da+rt", True] + virtual.lines["virtual"], rel=1e-6)


def test_the_year_lp_refuses_two_settlement_days_and_bad_modes(caiso, year):
    with pytest.raises(ValueError, match="needs three-settlement days"):
        YearPrices.of([caiso.get(caiso.ids("val")[0])])
    with pytest.raises(ValueError, match="markets must be one of"):
        Mode("rtd")
    model = build_year(GROSS, year, Mode("da", False))
    assert model.lp.A.shape[0] == 3 * year.n_days * 288  # SoC and two power rows per interval; no reserve rows


def test_three_settlement_scenarios_draw_their_rtd_prices_around_the_fmm_prices():
    scenarios = ScenarioSet("caiso3-sp15")
    history = scenarios.history()
    assert history.rtd_synthetic and history.dt_h == pytest.approx(1 / 12)
    day = scenarios.get(scenarios.ids("test")[0])
    two = ScenarioSet("caiso-sp15").get(day.id)  # the same day in two settlements
    assert day.n_intervals == 288 and np.array_equal(day.fmm_price, two.rt_price)  # the 15-minute prices are the FMM's
    assert np.allclose(day.rt_price.reshape(96, 3).mean(1), day.fmm_price)  # resampled residuals keep the block mean
    assert np.array_equal(scenarios.get(day.id).rt_price, day.rt_price)  # fixed per day, not per episode
    assert day.deployment.fraction.shape == (288, 4)


def _play(env, seed: int, actions: np.ndarray) -> tuple[float, list[dict]]:
    env.reset(seed=seed)
    total, infos = 0.0, []
    for a in actions:
        _, reward, terminated, _, info = env.step(a)
        total += reward
        infos.append(info)
        if terminated:
            break
    return total, infos


def test_three_settlement_env_settles_every_layer_as_the_simulator_does():
    import gymnasium as gym
    from gymnasium.utils.env_checker import check_env

    env = gym.make("bessgym/ThreeSettlement-v0", split="test")
    check_env(env.unwrapped, skip_render_check=True)
    assert env.spec.max_episode_steps == 289 and env.action_space.shape == (122,)
    assert env.observation_space["rt"].shape == (28,)
    actions = np.random.default_rng(5).uniform(-1, 1, (289, 122)).astype(np.float32)
    total, infos = _play(env, 3, actions)
    inner = env.unwrapped
    scenario, bid = inner._scenario, inner._accepted
    fmm = np.array([i["fmm_mw"] for i in infos[1:]])
    base = np.array([base_point(f, float(a[121]), inner.battery) for f, a in zip(fmm, actions[1:])])  # around the FMM position
    assert np.array_equal(fmm.reshape(96, 3), np.repeat(fmm[::3, None], 3, axis=1))  # one position per FMM interval
    replay = simulate_day(inner.battery, CAISO3, scenario, bid, base, fmm[::3])
    assert float(replay.profit) == pytest.approx(total, rel=1e-9) == infos[-1]["profit_usd"]
    assert infos[-1]["day_totals"]["fmm_energy"] == pytest.approx(float(replay.totals.fmm_energy), rel=1e-9)
    # the FMM entry is read at each FMM interval's first RTD interval only
    ignored = actions.copy()
    ignored[1:][np.arange(288) % 3 != 0, 120] *= -1
    assert _play(env, 3, ignored)[0] == total
    # timing: the FMM price of an interval shows only after the RTD interval that set its position
    env.reset(seed=3)
    obs, *_ = env.step(actions[0])
    for t in range(7):
        price = float(obs["rt"][26]) * 100
        expected = scenario.da_price[0] if t == 0 else scenario.fmm_price[(t - 1) // 3]
        assert price == pytest.approx(expected, rel=1e-5), t
        obs, *_ = env.step(actions[t + 1])


def test_realtime_on_three_settlements_holds_the_da_position_in_the_fmm():
    import gymnasium as gym

    env = gym.make("bessgym/RealTime-v0", config="caiso3-sp15", split="test")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (28,) and env.observation_space.contains(obs)
    total = {}
    for _ in range(288):
        obs, _, terminated, _, info = env.step(np.array([0.3], np.float32))
        if terminated:
            total = info["day_totals"]
    assert total["fmm_energy"] == 0.0 and total["rt_imbalance"] != 0.0
    with pytest.raises(ValueError, match="needs a three-settlement market profile"):
        gym.make("bessgym/ThreeSettlement-v0", config="caiso-sp15")


def test_the_mpc_submits_the_fmm_position_its_plan_delivers(caiso):
    from bessgym.actions import LayeredDecision
    from bessgym.envs.episodes import EpisodeSource
    from bessgym.evaluation import play_episode, run_day

    from baselines.mpc import MPCPolicy
    from baselines.robust import RobustDA

    source = EpisodeSource("caiso3-sp15", "test", da_bidder=None)
    day_id = source.ids[2]
    record = play_episode(source, day_id, RobustDA(), MPCPolicy())
    assert record.rt_fallbacks == 0 and record.fmm_mw.shape == (288,)
    scenario, context = source.day(day_id)
    position = np.repeat(RobustDA().bid(context).energy_mw, 12)
    assert np.abs(record.fmm_mw - position).max() > 0.05  # it trades in the FMM
    replay = simulate_day(source.config.battery, CAISO3, scenario, RobustDA().bid(context), record.base_mw, record.fmm_mw[::3])
    assert float(replay.profit) == pytest.approx(record.profit, rel=1e-9)

    class SetsFMM:  # an FMM position in a two-settlement market is refused
        def reset(self, episode):
            pass

        def act(self, obs):
            return LayeredDecision(0.0, 0.5)

    two = EpisodeSource("caiso-sp15", "test", da_bidder="threshold")
    with pytest.raises(ValueError, match="set an FMM position"):
        run_day(two, two.episode(two.ids[0]), SetsFMM())


def test_a_results_file_from_before_the_new_ledger_lines_resumes_with_them_at_zero(tmp_path):
    import csv

    from benchmarks.leaderboard import EPISODE_COLUMNS, _Appender, _read_rows

    old_columns = [c for c in EPISODE_COLUMNS if c not in ("fmm_energy", "virtual")]
    path = tmp_path / "episodes.csv"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=old_columns)
        writer.writeheader()
        writer.writerow({c: "1.5" if c == "rt_imbalance" else ("ok" if c == "status" else "x") for c in old_columns})
    rows = _read_rows(path, EPISODE_COLUMNS)
    assert rows[0]["fmm_energy"] == rows[0]["virtual"] == "0.0" and rows[0]["rt_imbalance"] == "1.5"
    appender = _Appender(path, EPISODE_COLUMNS)  # appends now line up with the rewritten header
    appender.write({c: "2.5" if c == "virtual" else ("ok" if c == "status" else "y") for c in EPISODE_COLUMNS})
    appender.close()
    rows = _read_rows(path, EPISODE_COLUMNS)
    assert [r["virtual"] for r in rows] == ["0.0", "2.5"]
    path.write_text("entry,status,surprise\na,ok,1\n")
    with pytest.raises(SystemExit, match="other columns than this version writes"):
        _read_rows(path, EPISODE_COLUMNS)


def test_a_trained_agent_of_the_fmm_form_plays_three_settlements_as_the_env_maps_it():
    import gymnasium as gym

    from agents.ppo.policy import ModelRealTime, ObsNormaliser
    from bessgym.envs.episodes import EpisodeSource
    from bessgym.envs.real_time import RTActionForm
    from bessgym.evaluation import play_episode
    from bessgym.policies import ThresholdBidder

    form = RTActionForm.of(fmm=True)
    assert form.size == 2 and form.observation_size == 28 and form.record() == {"action": "base_point", "fmm": True}
    assert RTActionForm.from_record(form.record()) == form

    class Constant:  # SB3's predict and spaces, one fixed action
        observation_space = gym.spaces.Box(-np.inf, np.inf, (28,))
        action_space = gym.spaces.Box(-1.0, 1.0, (2,))

        def predict(self, obs, deterministic=True, **_):
            return np.array([0.6, -0.3], np.float32), None

    agent = ModelRealTime(Constant(), ObsNormaliser.identity(28), form)
    source = EpisodeSource("caiso3-sp15", "test", da_bidder=None)
    day_id = source.ids[1]
    record = play_episode(source, day_id, ThresholdBidder(), agent)
    scenario, context = source.day(day_id)
    accepted = simulate_day(source.config.battery, CAISO3, scenario, ThresholdBidder().bid(context), np.zeros(288))
    battery = source.config.battery
    a_fmm, a_base = (float(np.float32(v)) for v in (0.6, -0.3))  # the model's float32 actions
    asked = base_point(np.repeat(accepted.energy_mw, 12)[::3], a_fmm, battery)
    awards = np.repeat(accepted.as_mw, 4, axis=0)
    expected = accept_fmm(asked, awards[:, [0, 2, 3]].sum(1), awards[:, 1], battery)
    assert np.allclose(record.fmm_mw[::3], expected)
    assert (asked != expected).any()  # the FMM cut some positions: counted with the DA bid's cuts
    bid = ThresholdBidder().bid(context)
    da_cuts = np.abs(bid.energy_mw - accepted.energy_mw).sum() + np.abs(bid.as_mw - accepted.as_mw).sum()
    assert record.repairs_mw == pytest.approx(da_cuts + np.abs(asked - expected).sum())
    replay = simulate_day(battery, CAISO3, scenario, ThresholdBidder().bid(context),
                          base_point(record.fmm_mw, a_base, battery), record.fmm_mw[::3])
    assert float(replay.profit) == pytest.approx(record.profit, rel=1e-9)
    with pytest.raises(ValueError, match="without the FMM entry"):
        play_episode(source, day_id, ThresholdBidder(), ModelRealTime(type("Plain", (Constant,), {
            "observation_space": gym.spaces.Box(-np.inf, np.inf, (25,)), "action_space": gym.spaces.Box(-1.0, 1.0, (1,)),
            "predict": lambda self, obs, deterministic=True, **_: (np.zeros(1, np.float32), None)})(), ObsNormaliser.identity(25)))
    with pytest.raises(ValueError, match="fmm applies to a three-settlement market"):
        gym.make("bessgym/RealTime-v0", fmm=True)


def test_layer_data_under_the_wrong_market_or_grid_is_refused(tmp_path):
    fmm = np.repeat(np.arange(192, dtype=float), 3)
    path = tmp_path / "layers.csv"
    _layers_csv(path, fmm, fmm)
    data = {"source": "csv", "path": str(path), "node": "H", "timezone": "America/Los_Angeles", "splits": {}}
    with pytest.raises(DataError, match="has FMM prices .* would ignore"):
        ScenarioSet({"market": "caiso", "data": data}).ids()
    assert len(ScenarioSet({"market": "caiso3", "data": data}).history().fmm) == 2
    stamps = pd.date_range("2024-03-01 08:00", periods=96 * 2, freq="15min")
    pd.DataFrame({"interval_start_utc": stamps.strftime("%Y-%m-%d %H:%M:%S"), "hub": "H", "da_lmp": 30.0,
                  "fmm_lmp": 1.0, "rtd_lmp": 1.0}).to_csv(path, index=False)
    with pytest.raises(DataError, match="finer than the FMM's 15 minutes"):
        read_long_csv(path, "H", "America/Los_Angeles")


def test_the_oracle_trades_the_layers_it_is_given(caiso, days):
    battery = caiso.config.battery
    three = five_minute(days[1], rtd_noise_usd=15.0, seed=2)
    profit = {}
    for markets in ("da", "rt", "da+rt"):
        oracle = PerfectForesight(battery, CAISO3, markets=markets)
        day = oracle.solve(three)
        replay = simulate_day(battery, CAISO3, three, day.bid, day.base_mw, day.fmm_mw)
        assert float(replay.profit) == pytest.approx(day.objective_usd, rel=1e-6), markets
        profit[markets] = float(replay.profit)
        if markets == "da":  # a physical DA schedule: base points and FMM positions follow it
            assert np.allclose(day.base_mw, np.repeat(day.bid.energy_mw, 12)) and np.allclose(day.fmm_mw, np.repeat(day.bid.energy_mw, 4))
        if markets == "rt":
            assert not day.bid.energy_mw.any() and day.bid.as_mw.any()
    assert profit["da+rt"] >= max(profit["da"], profit["rt"]) - 1e-4 * abs(profit["da+rt"])
    with pytest.raises(ValueError, match="markets must be one of"):
        PerfectForesight(battery, CAISO3, markets="fmm")
