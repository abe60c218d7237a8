"""RealTime-v0: operate the battery through one day's RT intervals around a fixed DA position."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from bessgym.actions import BidCurve, base_point, check_action, check_base_action, cleared, curve_from_action, curve_size
from bessgym.battery import SCALAR_OPS, Battery
from bessgym.config import ConfigLike
from bessgym.envs.episodes import DayLimited, Episode, EpisodeSource, day_info, reset_options, resolve
from bessgym.envs.render import check_render_mode, render_played
from bessgym.market import MarketProfile, accept_fmm, steps_per_fmm
from bessgym.observation import (DEPLOYED, FMM_FEATURES, INTERVALS_LEFT, RT_FEATURES, TIME_OF_DAY, fmm_bounds, fmm_features,
                                 rt_bounds, set_soc)
from bessgym.policies import RTEpisode, checked
from bessgym.settlement import LEDGER_LINES
from bessgym.sim import DaySimulator

ActionForm = Literal["base_point", "bid_curve"]
ACTION_FORMS = ("base_point", "bid_curve")


DEFAULT_SEGMENTS, DEFAULT_PRICE_SPAN = 3, 100.0  # the bid-curve form's steps and $/MWh span
DEFAULT_RESIDUAL_BAND = 0.25  # the residual form's band: a fraction of the power the correction may reach
PROPOSAL_FEATURE = "proposal_vs_position"  # the residual form's extra observation feature


def form_arguments(record: Any, allowed: tuple[str, ...]) -> dict[str, Any]:
    """An action form's record (a dict of constructor arguments, or None) checked: a ValueError
    names what is not a dict or not an argument."""
    if record is None:
        return {}
    if not isinstance(record, dict):
        raise ValueError(f"an action form's record is a dict of the env's arguments {list(allowed)}, got {record!r:.80}")
    unknown = sorted(set(record) - set(allowed))
    if unknown:
        raise ValueError(f"action form record has {unknown}, which are not among the env's arguments {list(allowed)}")
    return {key: value for key, value in record.items() if value is not None}


@dataclass(frozen=True)
class RTActionForm:
    """How a RealTime-v0 action becomes the interval's decision: one mapping for the env, the
    vector env and the trained-agent adapters (:mod:`agents.ppo.policy`).

    ``action="base_point"``: a deviation in [-1, 1] around ``around_mw`` (the DA position), as a
    fraction of the discharge (> 0) or charge (< 0) power. ``"bid_curve"``: ``2 segments + 1``
    numbers, a monotone curve cleared at the interval's price (:func:`curve_from_action`).
    ``residual``: an RT policy (a spec string, e.g. ``"baselines.mpc:MPCPolicy"``) that proposes
    each base point; the action (base-point form only) corrects it by at most ``residual_band``
    of the power: ``base = proposal + band * a * (P_dis if a > 0 else P_ch)``, and the
    observation gains :data:`PROPOSAL_FEATURE` ((proposal - DA position) / max power).
    ``fmm`` (three settlements only): the action gains a first entry, the FMM position as a
    deviation from the hour's DA position (the base point's units), read at each FMM interval's
    first RTD interval; the base point (or the curve) is then around the FMM position in force.
    """

    action: ActionForm = "base_point"
    segments: int = DEFAULT_SEGMENTS
    price_span_usd_per_mwh: float = DEFAULT_PRICE_SPAN
    residual: str | None = None
    residual_band: float = DEFAULT_RESIDUAL_BAND
    fmm: bool = False

    @classmethod
    def of(cls, action: str = "base_point", segments: int | None = None, price_span_usd_per_mwh: float | None = None,
           residual: Any = None, residual_band: float | None = None, fmm: bool | None = None) -> RTActionForm:
        """The form of the RealTime envs' constructor arguments, checked (a ValueError names the
        argument); ``None`` takes the default where the argument applies."""
        if action not in ACTION_FORMS:
            raise ValueError(f"action {action!r} is not one of {list(ACTION_FORMS)}")
        if fmm not in (None, True, False):
            raise ValueError(f"fmm must be true or false, got {fmm!r}")
        if fmm and residual is not None:
            raise ValueError("fmm (the agent sets the FMM positions) and residual (an RT policy proposes the base "
                             "points) do not combine")
        if action == "base_point":
            given = [name for name, value in (("segments", segments), ("price_span_usd_per_mwh", price_span_usd_per_mwh))
                     if value is not None]
            if given:
                raise ValueError(f"{' and '.join(given)} apply to action='bid_curve' only (action is 'base_point')")
        if residual is None and residual_band is not None:
            raise ValueError("residual_band applies with a residual (the RT policy whose base points the action corrects) only")
        if residual is not None:
            if action != "base_point":
                raise ValueError("residual applies to action='base_point' (a correction of the proposed base point) only")
            if not isinstance(residual, str) or not residual.strip():
                raise ValueError(f"residual must be an RT policy's spec string (e.g. 'baselines.mpc:MPCPolicy'), got {residual!r}")
        return cls(
            action, int(checked("segments", DEFAULT_SEGMENTS if segments is None else segments, at_least=1, whole=True)),
            checked("price_span_usd_per_mwh", DEFAULT_PRICE_SPAN if price_span_usd_per_mwh is None else price_span_usd_per_mwh,
                    above=0),
            residual, checked("residual_band", DEFAULT_RESIDUAL_BAND if residual_band is None else residual_band,
                              above=0, at_most=2),
            bool(fmm),
        )

    @classmethod
    def from_record(cls, record: dict[str, Any] | None) -> RTActionForm:
        """The form of :meth:`record` (the default form for ``None``: older checkpoints)."""
        return cls.of(**form_arguments(record, ("action", "segments", "price_span_usd_per_mwh", "residual", "residual_band",
                                                "fmm")))

    def record(self) -> dict[str, Any]:
        """The form as JSON-able constructor arguments (those that apply)."""
        fmm = {"fmm": True} if self.fmm else {}
        if self.residual is not None:
            return {"action": self.action, "residual": self.residual, "residual_band": self.residual_band}
        if self.action == "bid_curve":
            return {"action": self.action, "segments": self.segments, "price_span_usd_per_mwh": self.price_span_usd_per_mwh, **fmm}
        return {"action": self.action, **fmm}

    @property
    def size(self) -> int:
        """Entries of the action."""
        return int(self.fmm) + (1 if self.action == "base_point" else curve_size(self.segments))

    def check_market(self, market: MarketProfile) -> None:
        """Refuse the FMM entry in a market without an FMM."""
        if self.fmm and not market.three_settlement:
            raise ValueError(f"fmm applies to a three-settlement market (settlement 'da_fmm_rtd', e.g. market 'caiso3'); "
                             f"{market.name!r} settles {market.settlement!r}")

    @property
    def observation_size(self) -> int:
        """Entries of the observation (the FMM form's market has three settlements: its features)."""
        return len(RT_FEATURES) + len(FMM_FEATURES) * self.fmm + (self.residual is not None)

    def observation_bounds(self, market: MarketProfile) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) of the observation in ``market``: the RealTime row, in a three-settlement
        market :data:`~bessgym.observation.FMM_FEATURES`, and the residual form's proposal feature."""
        low, high = rt_bounds(market)
        if market.three_settlement:
            fmm_low, fmm_high = fmm_bounds(market)
            low, high = np.append(low, fmm_low), np.append(high, fmm_high)
        if self.residual is not None:
            low, high = np.append(low, np.float32(-2.0)), np.append(high, np.float32(2.0))
        return low, high

    def decision(self, action: np.ndarray | float, around_mw: float, da_price_usd_per_mwh: float, battery: Battery) -> float | BidCurve:
        """The decision of a checked action in [-1, 1]: a base point (MW, + = discharge) around
        ``around_mw`` (the DA position, or the proposal of a residual form), or the bid curve."""
        if self.action == "base_point":
            a = float(action) if isinstance(action, float) else float(np.ravel(action)[0])
            return float(base_point(around_mw, a * self.residual_band if self.residual is not None else a, battery))
        return curve_from_action(action, da_price_usd_per_mwh, around_mw, battery, self.price_span_usd_per_mwh)


class Proposer:
    """The residual form's proposing RT policy, run beside the agent: its base point for each
    interval, and the observation the agent sees (the RealTime row plus the proposal)."""

    def __init__(self, spec: str, battery: Battery) -> None:
        try:
            self.policy = resolve(spec, "rt_policy")
        except (ValueError, FileNotFoundError) as exc:
            raise ValueError(f"residual {spec!r}: {exc}") from None
        self.scale = max(battery.p_charge_mw, battery.p_discharge_mw)

    def reset(self, episode: RTEpisode) -> None:
        self.policy.reset(episode)
        self.proposal_mw = math.nan

    def observe(self, obs: np.ndarray, position_mw: float) -> np.ndarray:
        """The agent's observation of the interval ``obs`` describes; the proposal is kept."""
        decision = self.policy.act(obs)
        if isinstance(decision, BidCurve):
            raise ValueError(f"residual policy {self.policy!r} gave a bid curve: a residual corrects base points (MW)")
        self.proposal_mw = float(cleared(decision, math.nan))
        if not math.isfinite(self.proposal_mw):
            raise ValueError(f"residual policy {self.policy!r} proposed {self.proposal_mw} MW: it must give finite base points")
        return np.append(obs, np.float32(np.clip((self.proposal_mw - position_mw) / self.scale, -2.0, 2.0)))


def terminal_observation(row: np.ndarray, soc_frac: float, deployed: np.ndarray) -> np.ndarray:
    """The observation after the last interval: the last row with the day marked as over and the
    last interval's deployment."""
    obs = set_soc(row.copy(), soc_frac)
    obs[TIME_OF_DAY], obs[INTERVALS_LEFT] = 1.0, 0.0
    obs[DEPLOYED] = deployed
    return obs


class RealTimeEnv(gym.Env):
    """
    ## Description
    A grid battery runs through one operating day of real-time intervals. Its day-ahead position
    (hourly energy and ancillary-service awards) was fixed at gate closure by a DA bidder; each
    interval the agent sets a base point around that schedule while the operator deploys the
    awarded services at random. Deployment has priority: where SoC or power limits bind, the base
    point is cut first; undelivered deployment is a shortfall, paid for by no-pay and a penalty.
    Awards the base point or the SoC leave without headroom are unavailable and lose their
    capacity payment for the interval.

    ## Action Space
    `action="base_point"` (default): `Box(-1, 1, (1,), float32)`, the base-point deviation from
    this hour's DA energy position as a fraction of the discharge power (a > 0) or charge power
    (a < 0): `base_mw = x_h + a * (P_dis if a > 0 else P_ch)`; 0 follows the DA schedule. It is
    decided before the interval's RT price is known (the observation holds prices up to the
    previous interval only).

    `action="bid_curve"`: `Box(-1, 1, (2S + 1,), float32)` with S = `segments` (default 3): a
    monotone step curve submitted before the interval and cleared against its realised RT price,
    the honest way to respond to the current price (`bessgym.actions.curve_from_action`): the
    first S entries are prices `DA_h + a * price_span_usd_per_mwh`, the other S + 1 base-point
    deviations as above; both are sorted, so every action is a valid curve. The battery runs at
    the k-th deviation, k the number of curve prices at or below the realised price.

    Residual form (`residual="baselines.mpc:MPCPolicy"`, say): an RT policy proposes each base
    point and the `(1,)` action corrects it by at most `residual_band` (default 0.25) of the
    power: `base_mw = proposal + band * a * (P_dis if a > 0 else P_ch)`; 0 runs the proposal.
    The observation gains one feature, `proposal_vs_position` ((proposal - DA position) / max
    power). The standard way RL earns a place beside MPC: the optimisation proposes, the agent
    adjusts (`RTActionForm`).

    FMM form (`fmm=True`, a three-settlement market only): the action gains a first entry, the
    FMM position of the FMM interval an RTD interval starts, as a deviation from the hour's DA
    position in the same units (read at the FMM interval's first RTD interval, before its FMM
    price is known; ignored at the others); the base point (or the curve) is then a deviation
    from the FMM position in force. Without it, a three-settlement market's FMM holds the DA
    position.

    Out-of-range values are clipped and reported in `info["action_clipped"]`; NaN, inf or any
    other shape (even of the right size) raise ValueError. A Python float is accepted as the
    base-point action (it stands for the (1,) array).

    ## Observation Space
    `Box((25,), float32)`, named in `bessgym.observation.RT_FEATURES` (table there): time of day,
    SoC (fraction), this hour's DA position and AS awards (fraction of max power), the previous
    interval's and the last hour's RT price, the DA price, the gate-closure RT forecast for the
    next hour and the rest of the day (100 $/MWh units), the previous interval's deployment per
    product, the share of the day left; then what an operator watches: the last price's
    deviation from the intraday prior, the intraday forecast (the re-planning baselines') for the
    next hour and the rest of the day, the SoC against the DA schedule's plan, and the SoC
    headroom up and down left after the awards' duration needs. No price of the interval itself
    or later. Sign: positive power is discharge. In a three-settlement market (`caiso3`) the
    prices are the RTD's and three features follow (`bessgym.observation.FMM_FEATURES`: the FMM
    position in force, the latest cleared FMM price, the RTD step within the FMM interval): 28;
    the residual form's feature comes last.

    ## Rewards
    The interval's settlement in $: DA energy + RT imbalance + AS capacity + mileage - no-pay -
    unavailable capacity - penalty - degradation, plus the terminal value of the SoC on the last
    interval.

    ## Info
    Every step: each ledger line of the interval in $ (`da_energy`, `rt_imbalance`,
    `as_capacity`, `mileage`, `no_pay`, `unavailable`, `penalty`, `degradation`, `terminal`;
    costs are negative, their sum is the reward), `action_clipped` (bool), `base_mw` (the
    base point run, MW, + = discharge) and `cost`: the deployment not delivered in the
    interval (MWh, up and down; Safety-Gymnasium's cost signal, for constrained RL). The last step adds `day_totals` (ledger line -> $ over
    the day), `profit_usd` (their sum), `day_shortfall_mwh` (deployment not delivered over the
    day, up and down, MWh) and `scenario_id`. `reset` returns `scenario_id` and `da_cuts_mw`
    (MW the market cut from the DA bid, summed).

    ## Starting State
    SoC at the battery's `soc_initial_frac`; the day is drawn from `split` with the env's RNG or
    pinned with `reset(options={"scenario": id})` (the only reset option; a day of `split`,
    else KeyError). The seed never selects the day by itself, but every reset draws the day's
    deployment path with the env's RNG: a new seed, a new path; the same seed, the same path.

    ## Episode End
    `terminated` after the day's last interval: `episode_steps` steps, 96 on the 15-minute real
    data, 288 on the 5-minute `synthetic` preset. `gym.make` wraps the env in a `TimeLimit` of
    its own config's `episode_steps` (`env.spec.max_episode_steps`), which sets `truncated` on
    that same last step, as Gymnasium's `TimeLimit` does when the limit is reached; the env
    itself never truncates. Bootstrap on `terminated`.

    ## Arguments
    `gym.make("bessgym/RealTime-v0", config="caiso-sp15", split="train", da_bidder="threshold",
    action="base_point", segments=None, price_span_usd_per_mwh=None, residual=None, residual_band=None,
    render_mode=None, fmm=None)`: `config`
    a preset name, JSON path or dict; `split` one of the config's splits (`train`, `val`, `test`,
    `test_ood`, `all`); `da_bidder` a spec string (`bessgym.policies.load_component`) or an
    object with `bid(context)`; `action` the action form; `segments` and
    `price_span_usd_per_mwh` (defaults 3 and 100) for `action="bid_curve"` only; `residual`
    (an RT policy spec) and `residual_band` (in (0, 2]) for the residual form; `render_mode`
    `"rgb_array"` or `"ansi"`; `fmm` (bool) the FMM form. `gym.make(..., max_episode_steps=k)` adds a
    shorter limit. In a three-settlement market `info` also has `fmm_mw` (the FMM position in
    force, as accepted, MW) and `fmm_cut_mw` (what the FMM cut from the position asked, MW).

    ## Version History
    * v0: initial version; revised before release: the observation lost the current interval's
      RT price, the bid-curve form was added, deployment is drawn per episode, the ledger has
      the `unavailable` line, and the info keys are those of every bessgym env.
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 4}

    def __init__(
        self, config: ConfigLike = "caiso-sp15", split: str = "train", da_bidder: Any = "threshold",
        action: ActionForm = "base_point", segments: int | None = None, price_span_usd_per_mwh: float | None = None,
        residual: str | None = None, residual_band: float | None = None, render_mode: str | None = None,
        fmm: bool | None = None,
    ) -> None:
        check_render_mode(render_mode, self.metadata)
        self.form = RTActionForm.of(action, segments, price_span_usd_per_mwh, residual, residual_band, fmm)
        self.source = EpisodeSource(config, split, da_bidder)
        self.battery = self.source.config.battery
        self.market = self.source.config.market_profile
        self.form.check_market(self.market)
        self.render_mode = render_mode
        low, high = self.form.observation_bounds(self.market)
        self.observation_space = gym.spaces.Box(low, high, dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (self.form.size,), dtype=np.float32)
        self._proposer = Proposer(residual, self.battery) if residual is not None else None
        self._energy = self.battery.energy_mwh
        self._episode: Episode | None = None
        history = self.source.scenarios.history(split)
        self.step_hours = history.dt_h
        self.episode_steps = history.intervals_per_day
        self.steps_per_fmm = steps_per_fmm(self.step_hours) if self.market.three_settlement else 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        options = reset_options(options)
        scenario_id = self.source.draw(options.get("scenario"), self.np_random)
        return self.begin_day(self.source.episode(scenario_id, deployment=self.np_random))

    def begin_day(self, episode: Episode) -> tuple[np.ndarray, dict]:
        """Start the RT day of a prepared episode (its DA bid already fixed); reset's second half."""
        self._episode = episode
        self._sim = DaySimulator(self.battery, self.market, episode.scenario, episode.accepted)
        self._rows = episode.features
        self._position = self._sim.terms.step.position_mw.tolist()
        self._da_price = np.repeat(episode.scenario.da_price, episode.scenario.n_intervals // 24).tolist()
        self._rt_price = episode.scenario.rt_price.tolist()
        self._totals = [0.0] * len(LEDGER_LINES)
        self._shortfall = 0.0
        self._soc = [self._sim.e_mwh / self._energy]
        self._base: list[float] = []
        self._fmm_mw = self._position[0]  # the FMM position in force (three settlements)
        obs = self._with_fmm(set_soc(self._rows[0].copy(), self._soc[0]))
        if self._proposer is not None:
            s = episode.scenario
            self._proposer.reset(RTEpisode(self.battery, self.market, episode.accepted, s.da_price, episode.context, s.dt_h,
                                           s.n_intervals))
            obs = self._proposer.observe(obs, self._position[0])
        return obs, {"scenario_id": episode.scenario.id, "da_cuts_mw": float(episode.cuts.energy_mw.sum() + episode.cuts.as_mw.sum())}

    def _base_point(self, action: Any, t: int, around_mw: float) -> tuple[float, bool]:
        """The base point (MW) an action asks for in interval t around ``around_mw`` (the position
        the RT layer settles against), and whether it was clipped."""
        if self.form.action == "base_point":  # the hot path, on floats
            a, was_clipped = check_base_action(action)
            if self._proposer is None:
                return base_point(around_mw, a, self.battery), was_clipped
            return self.form.decision(a, self._proposer.proposal_mw, self._da_price[t], self.battery), was_clipped
        a, was_clipped = check_action(action, (self.form.size - self.form.fmm,))
        return float(cleared(self.form.decision(a, around_mw, self._da_price[t], self.battery), self._rt_price[t])), was_clipped

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        if not self.form.fmm:
            return self.advance(action)
        if self._episode is None or self._sim.done:
            raise RuntimeError("call reset() before step() and after the day has ended")
        a, was_clipped = check_action(action, self.action_space.shape)
        t = self._sim.t
        fmm_mw = base_point(self._position[t], float(a[0]), self.battery) if t % self.steps_per_fmm == 0 else None
        out = self.advance(float(a[1]) if a.size == 2 else a[1:], fmm_mw)
        out[4]["action_clipped"] = out[4]["action_clipped"] or was_clipped
        return out

    def _with_fmm(self, obs: np.ndarray) -> np.ndarray:
        """``obs`` with :data:`FMM_FEATURES` appended in a three-settlement market."""
        if not self.steps_per_fmm:
            return obs
        s, t = self._episode.scenario, self._sim.t
        return np.append(obs, fmm_features(t, s.n_intervals, self.steps_per_fmm, self._fmm_mw, self._position[0],
                                           float(s.da_price[0]), s.fmm_price, self.battery, self.market))

    def advance(self, action: Any, fmm_mw: float | None = None) -> tuple[np.ndarray, float, bool, bool, dict]:
        """:meth:`step`; in a three-settlement market ``fmm_mw`` (MW, + = sell) is the FMM position
        asked for the FMM interval this RTD interval starts (read there only; None holds the DA
        position), and the base-point action is a deviation from the FMM position in force."""
        if self._episode is None or self._sim.done:
            raise RuntimeError("call reset() before step() and after the day has ended")
        t = self._sim.t
        if not self.steps_per_fmm:
            if fmm_mw is not None:
                raise ValueError(f"an FMM position was given, but market {self.market.name!r} has two settlements")
            base, was_clipped = self._base_point(action, t, self._position[t])
            out = self._sim.step(base)
            fmm_info = {}
        else:
            asked = self._fmm_mw
            if t % self.steps_per_fmm == 0:
                asked = self._position[t] if fmm_mw is None else float(fmm_mw)
            row = self._sim.terms.step
            accepted = float(accept_fmm(asked, row.award_up_mw[t], row.award_down_mw[t], self.battery, SCALAR_OPS))
            base, was_clipped = self._base_point(action, t, accepted)
            out = self._sim.step(base, accepted)
            self._fmm_mw = accepted
            fmm_info = {"fmm_mw": accepted, "fmm_cut_mw": abs(asked - accepted) if t % self.steps_per_fmm == 0 else 0.0}
        ledger = out.ledger
        totals = self._totals
        for k, value in enumerate(ledger):
            totals[k] += value
        soc = out.e_mwh / self._energy
        self._soc.append(soc)
        self._base.append(out.base_mw)
        cost = out.shortfall_mw * self.step_hours
        self._shortfall += cost
        info = dict(zip(LEDGER_LINES, ledger))
        info["action_clipped"] = was_clipped
        info["base_mw"] = out.base_mw
        info["cost"] = cost
        info.update(fmm_info)
        terminated = self._sim.done
        if terminated:
            obs = self._with_fmm(terminal_observation(self._rows[-1], soc, self._episode.scenario.deployment.fraction[-1]))
            if self._proposer is not None:
                obs = np.append(obs, np.float32(0.0))
            info.update(day_info([float(value) for value in totals], float(self._shortfall)),
                        scenario_id=self._episode.scenario.id)
        else:
            obs = self._with_fmm(set_soc(self._rows[t + 1].copy(), soc))
            if self._proposer is not None:
                obs = self._proposer.observe(obs, self._position[t + 1])
        return obs, ledger.total, terminated, False, info

    def render(self) -> np.ndarray | str | None:
        if self.render_mode is None or self._episode is None:
            return None
        return render_played(self._episode, self._soc, self._base, sum(self._totals), self.render_mode)


make_real_time = DayLimited(RealTimeEnv)  # the registered entry point of RealTime-v0
