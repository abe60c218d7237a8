"""Decision-maker protocols, the solver-free policies that ship with bessgym, and spec strings.

* :class:`DABidder`: ``bid(ctx: DAContext) -> DABid`` at gate closure (optional ``bid_batch``).
* :class:`RTPolicy`: ``reset(episode)`` once a day, then ``act(obs)`` each RT interval, with
  ``obs`` the RealTime-v0 observation (no price of the interval itself or later): a base point
  in MW, or a :class:`bessgym.actions.BidCurve` cleared against the interval's realised price;
  optionally ``reset_batch(episodes)`` and ``act_batch(obs (N, F))`` (MW (N,) or a batched
  curve) to play N days at once (:mod:`bessgym.observation`). A policy may count its own
  fallbacks in a ``fallbacks`` attribute, reset each day; evaluation reports it.
* :class:`ThresholdBidder` and :class:`FollowDA`: the defaults of the envs.
* :func:`load_component`: a policy from a spec string: a short name (``threshold``,
  ``follow_da``), ``package.module:attr``, or a name of the ``bessgym.policies`` entry-point
  group, optionally followed by ``?key=value&key=value`` constructor arguments (values are read
  as JSON where they parse, else as strings). Loading a third-party component runs its code.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

import numpy as np

from bessgym.actions import BidCurve
from bessgym.battery import Battery
from bessgym.forecast import DAContext
from bessgym.market import HOURS, N_PRODUCTS, PRODUCTS, DABid, MarketProfile, backing_mwh_per_mw, planned_energy
from bessgym.observation import TIME_OF_DAY



@runtime_checkable
class DABidder(Protocol):
    """A day-ahead bidder: one bid per operating day, made at gate closure (the day before).

    ``bid(ctx)`` receives a :class:`bessgym.forecast.DAContext`, everything known at gate
    closure and nothing realised of the day itself:

    * ``battery`` (:class:`bessgym.battery.Battery`: power in MW, energy in MWh, efficiencies,
      SoC limits, wear in $/MWh) and ``market`` (:class:`bessgym.market.MarketProfile`: price
      floor and caps, AS product durations, penalties);
    * ``scenario_id``, ``date`` and ``dt_h`` (the RT interval, h; ``n_intervals`` = T per day);
    * point forecasts ``da_price`` (24,) and ``rt_price`` (T,) in $/MWh, ``as_price`` (24, 4)
      in $/MW-h, products in :data:`bessgym.market.PRODUCTS` order (reg_up, reg_down, spin,
      nonspin);
    * equally likely ensemble members ``da_scenarios`` (K, 24), ``rt_scenarios`` (K, T),
      ``as_scenarios`` (K, 24, 4), and ``ctx.quantiles(q)`` over them;
    * ``expected_deployment`` (4,), the long-run mean share of an award that is deployed, per
      product; ``expected_up_time``, the long-run share of time regulation is deployed up;
      ``deployment``, the config's deployment model;
    * ``privileged``: True when the forecasts start from the realised day (the ``perfect`` and
      ``noisy`` forecasters); the leaderboard's entries get the config's forecaster, ``analog``
      (from earlier days only) in the shipped suites.

    It returns a :class:`bessgym.market.DABid`: ``energy_mw`` (24,), the net energy position
    of each hour in MW (+ = sell/discharge, - = buy/charge), and ``as_mw`` (24, 4), the AS
    capacity offered per hour and product in MW (>= 0). The market accepts the part that the
    battery can back (power envelope, SoC for each product's duration) and cuts the rest
    (``repairs_mw`` in the leaderboard). A bid that could not be computed as intended may say so
    with ``note={"fallback": True}`` (the leaderboard's ``bid_fallback``); an exception is an
    error row for the day. Optional: ``bid_batch(contexts) -> list[DABid]`` for many days at once
    (the static proxy track uses it).
    """

    def bid(self, ctx: DAContext) -> DABid:
        """The day's bid from the gate-closure context (see the class docstring)."""
        ...


@dataclass(frozen=True)
class RTEpisode:
    """What an RT policy is told at the start of a day: the battery, the market, the DA bid as
    accepted, the day's cleared DA prices ($/MWh, (24,), known since the DA market cleared), the
    gate-closure context and the interval length. No realised RT prices."""

    battery: Battery
    market: MarketProfile
    accepted: DABid
    da_price: np.ndarray
    context: DAContext
    dt_h: float
    n_intervals: int


@runtime_checkable
class RTPolicy(Protocol):
    """A real-time policy: the battery's base point in every RT interval of the day.

    ``reset(episode)`` is called once at the start of the day with an :class:`RTEpisode`: the
    battery, the market, the DA bid as accepted (``accepted.energy_mw`` (24,) MW, + = sell;
    ``accepted.as_mw`` (24, 4) MW), the cleared DA prices ``da_price`` (24,) $/MWh, the
    gate-closure :class:`~bessgym.forecast.DAContext` (the RT forecast ``context.rt_price``
    included), ``dt_h`` and ``n_intervals`` (T). No realised RT price.

    ``act(obs)`` is called for each interval t = 0 .. T-1 with the RealTime-v0 observation (a
    float32 vector of :data:`bessgym.observation.RT_FEATURES`; prices scaled by 100 $/MWh,
    powers by ``max(P_charge, P_discharge)``; see :mod:`bessgym.observation`). It holds no RT
    price of t or later. It returns either

    * the base point in MW (+ = discharge/sell, - = charge/buy), a finite float: the battery's
      net output in interval t before any AS deployment, whatever the DA schedule says (to
      follow the schedule, return the hour's ``accepted.energy_mw``; the simulator limits a base
      point to what power and SoC allow), or
    * a :class:`bessgym.actions.BidCurve`, a monotone step curve of base points against price,
      cleared against the interval's realised RT price.

    The difference from the env: RealTime-v0's action is a deviation from the DA position as a
    fraction in [-1, 1] of the discharge (a > 0) or charge (a < 0) power, and
    :func:`bessgym.actions.base_point` converts it: ``base_point(position_mw, a, battery)`` is
    ``position_mw + a * P_discharge`` for a > 0 and ``position_mw + a * P_charge`` for a < 0,
    ``position_mw`` being this hour's accepted energy (observation feature ``da_position``
    times the power scale). So an agent trained on the env is wrapped as an RTPolicy by
    converting its action with ``base_point``.

    Optional: ``reset_batch(episodes)`` and ``act_batch(obs)`` (obs (N, F); MW (N,) or a batched
    curve) to play N days at once, and a ``fallbacks`` attribute, reset to 0 in ``reset`` and
    counted up on each decision that fell back (e.g. to the DA schedule after a solver failure):
    the leaderboard reports it as ``rt_fallbacks``.
    """

    def reset(self, episode: RTEpisode) -> None:
        """Prepare for the day (see the class docstring)."""
        ...

    def act(self, obs: np.ndarray) -> float | BidCurve:
        """The base point (MW, + = discharge) or a bid curve for the interval ``obs`` describes."""
        ...


PROTOCOL_METHODS: dict[str, tuple[str, ...]] = {"DA bidder": ("bid",), "RT policy": ("reset", "act")}
"""The methods a component of each role must have (:func:`missing_methods`)."""


def missing_methods(component: Any, role: str) -> list[str]:
    """The methods of ``role`` (a key of :data:`PROTOCOL_METHODS`) that ``component`` lacks or
    has as something that is not callable."""
    return [name for name in PROTOCOL_METHODS[role] if not callable(getattr(component, name, None))]


def regulation_offer(ctx: DAContext, x: np.ndarray, share: float) -> np.ndarray:
    """Regulation awards (HOURS, N_PRODUCTS) MW for a DA energy schedule ``x`` (MW, + = sell):
    ``share`` of each hour's room for regulation up and down, in the hours whose forecast AS
    price beats the wear of the expected deployment. The room is the power the schedule leaves
    (``P_dis - x`` up, ``P_ch + x`` down), limited by the SoC room of the schedule's planned path in
    the hour (above the floor up, below the ceiling down) over what a MW of the product needs
    (:func:`bessgym.market.backing_mwh_per_mw`, the acceptance rule's own figure)."""
    battery = ctx.battery
    e = planned_energy(battery, x)
    soc_room = {"reg_up": np.minimum(e[:-1], e[1:]) - battery.e_min_mwh,
                "reg_down": battery.e_max_mwh - np.maximum(e[:-1], e[1:])}
    power_room = {"reg_up": battery.p_discharge_mw - x, "reg_down": battery.p_charge_mw + x}
    mwh = backing_mwh_per_mw(battery, ctx.market)
    worth = ctx.as_price > battery.degradation_usd_per_mwh * ctx.expected_deployment
    r = np.zeros((HOURS, N_PRODUCTS))
    for product in ("reg_up", "reg_down"):
        k = PRODUCTS.index(product)
        room = power_room[product] if mwh[k] == 0 else np.minimum(power_room[product], soc_room[product] / mwh[k])
        r[:, k] = worth[:, k] * share * np.clip(room, 0.0, None)
    return r


class ThresholdBidder:
    """Forecast-threshold DA bidder.

    Pairs the k-th cheapest with the k-th dearest forecast hour (cheapest first) while the
    round-trip spread ``p_sell * eta_c * eta_d - p_buy`` beats wear on both legs and the planned
    SoC stays within bounds; then offers ``as_share`` of the headroom left in each hour as
    regulation up and down, limited so the planned SoC sustains it for the product's duration,
    in the hours whose forecast AS price beats the wear of the expected deployment.
    """

    def __init__(self, as_share: float = 0.5) -> None:
        if not 0.0 <= as_share <= 1.0:
            raise ValueError(f"as_share must be within [0, 1], got {as_share}")
        self.as_share = as_share

    def bid(self, ctx: DAContext) -> DABid:
        battery, price = ctx.battery, ctx.da_price
        x = np.zeros(HOURS)
        order = np.argsort(price)
        wear = battery.degradation_usd_per_mwh * (1.0 + battery.eta_charge * battery.eta_discharge)
        for buy, sell in zip(order, order[::-1]):
            if buy == sell or price[sell] * battery.eta_charge * battery.eta_discharge - price[buy] <= wear:
                break
            trial = x.copy()
            trial[buy], trial[sell] = -battery.p_charge_mw, battery.p_discharge_mw * battery.eta_charge * battery.eta_discharge
            e = planned_energy(battery, trial)
            if e.min() >= battery.e_min_mwh - 1e-9 and e.max() <= battery.e_max_mwh + 1e-9:
                x = trial
        return DABid(x, regulation_offer(ctx, x, self.as_share))


class FollowDA:
    """RT policy that delivers the DA energy schedule: base point = this hour's accepted position
    (exact, from the episode's bid; the observation only tells it which interval it is)."""

    def reset(self, episode: RTEpisode) -> None:
        self._schedule = follow_da(episode.accepted, episode.n_intervals)

    def act(self, obs: np.ndarray) -> float:
        return float(self._schedule[interval_index(obs[TIME_OF_DAY], len(self._schedule))])

    def reset_batch(self, episodes: list[RTEpisode]) -> None:
        self._schedules = np.stack([follow_da(e.accepted, e.n_intervals) for e in episodes])

    def act_batch(self, obs: np.ndarray) -> np.ndarray:
        t = interval_index(obs[:, TIME_OF_DAY], self._schedules.shape[1])
        return self._schedules[np.arange(len(t)), t]


def interval_index(time_of_day: np.ndarray | float, n_intervals: int) -> np.ndarray:
    """Interval index from the ``time_of_day`` feature (the share of the day elapsed)."""
    return np.minimum(np.rint(np.asarray(time_of_day, dtype=float) * n_intervals).astype(int), n_intervals - 1)


def follow_da(bid: DABid, n_intervals: int) -> np.ndarray:
    """Base points (MW) that deliver the DA energy schedule in every interval of its hour."""
    return np.repeat(bid.energy_mw, n_intervals // HOURS)


SHORT_NAMES = {
    "threshold": "bessgym.policies:ThresholdBidder",
    "follow_da": "bessgym.policies:FollowDA",
}
ENTRY_POINT_GROUP = "bessgym.policies"


def checked(name: str, value: Any, *, at_least: float | None = None, above: float | None = None,
            at_most: float | None = None, whole: bool = False) -> float:
    """``value`` as a finite number (a whole one with ``whole``) at least ``at_least`` / above
    ``above`` / at most ``at_most``, or a ValueError naming the argument, the value and what is
    allowed: for the arguments of components built from spec strings, where ``nan`` arrives as text."""
    allowed = " and ".join(([f">= {at_least:g}"] if at_least is not None else []) + ([f"> {above:g}"] if above is not None else [])
                           + ([f"<= {at_most:g}"] if at_most is not None else []))
    what = f"a finite {'whole ' if whole else ''}number{' ' + allowed if allowed else ''}"
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {what}, got {value!r}") from None
    if isinstance(value, bool) or not np.isfinite(number) or (whole and number != int(number)) \
            or (at_least is not None and number < at_least) or (above is not None and number <= above) \
            or (at_most is not None and number > at_most):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return float(int(number)) if whole else number


def load_component(spec: str) -> Any:
    """Instantiate the policy named by ``spec`` (see the module docstring for the syntax).

    >>> load_component("threshold?as_share=0.25").as_share
    0.25
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"a component spec must be a non-empty string, got {spec!r}")
    target, _, query = spec.partition("?")
    kwargs, texts = {}, []
    for part in filter(None, query.split("&")):
        key, sep, raw = part.partition("=")
        if not sep or not key:
            raise ValueError(f"spec {spec!r}: argument {part!r} is not key=value")
        if key in kwargs:
            raise ValueError(f"spec {spec!r}: argument {key!r} is given twice")
        try:
            kwargs[key] = json.loads(raw)
        except json.JSONDecodeError:
            kwargs[key] = raw
            texts.append(f"{key}={raw!r}")
    factory = _resolve(spec, target.strip())
    try:
        return factory(**kwargs)
    except TypeError as exc:
        hint = f" (read as text, not a JSON value: {', '.join(texts)})" if texts else ""
        raise ValueError(f"spec {spec!r}: {exc}{hint}") from None


def _resolve(spec: str, target: str) -> Any:
    if target in SHORT_NAMES:
        target = SHORT_NAMES[target]
    if ":" not in target:
        found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == target]
        if not found:
            raise ValueError(
                f"spec {spec!r}: {target!r} is neither a short name ({', '.join(SHORT_NAMES)}), "
                f"'package.module:attr', nor an entry point of group {ENTRY_POINT_GROUP!r}"
            )
        return found[0].load()
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"spec {spec!r}: cannot import module {module_name!r}: {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ValueError(f"spec {spec!r}: module {module_name!r} has no attribute {attr!r}") from None
