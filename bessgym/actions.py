"""Real-time actions: the base point, and the bid curve cleared against the interval's price.

Two forms (DESIGN 1.7). A base point for interval t is decided on prices up to t - 1. A
:class:`BidCurve` is how a resource responds to the price of t itself, as a market lets it: a
monotone price-quantity curve submitted before the interval and cleared against its realised
price. One codec serves the envs, the vector envs and the trained-agent adapters:

* :func:`check_action`, :func:`check_base_action`, :func:`check_actions`: the one place actions
  enter: exactly the action space's shape (a batch's for the vector envs; a Python float stands
  for a (1,) base-point action), finite, clipped to [-1, 1];
* :func:`base_point`: an action in [-1, 1] as a deviation from the DA position,
  ``b = x + a * (P_dis if a > 0 else P_ch)``;
* :func:`curve_from_action`: ``2S + 1`` numbers in [-1, 1] as an S-step curve: S prices
  ``DA price + a * span`` (sorted) and S + 1 quantities, each a base-point action (sorted).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from bessgym.battery import Battery


def _numbers(action: Any, what: str = "action") -> np.ndarray:
    """``action`` as float64, refusing what is not made of real numbers (text, booleans, None,
    complex) with a ValueError naming it."""
    try:
        a = np.asarray(action)
    except ValueError:  # a ragged nesting
        raise ValueError(f"{what} {action!r:.80} is not a rectangular array of numbers") from None
    if a.dtype.kind not in "iuf":
        raise ValueError(f"{what} {action!r:.80} is not made of real numbers (dtype {a.dtype}); give floats")
    return a.astype(np.float64)


def _check_shape(a: np.ndarray, shape: tuple[int, ...]) -> None:
    """Raise a one-line ValueError unless ``a`` has the action space's ``shape``."""
    if a.shape != shape:
        raise ValueError(f"action has {a.size} entries in shape {a.shape}, the action space {shape} needs "
                         f"{int(np.prod(shape))} in exactly that shape")


def check_action(action: Any, shape: tuple[int, ...], low: float = -1.0) -> tuple[np.ndarray, bool]:
    """An action of the action space's ``shape`` clipped to [``low``, 1] and whether it was
    clipped; any other shape (even of the same size), NaN or inf raise ValueError."""
    a = _numbers(action)
    _check_shape(a, shape)
    if not np.isfinite(a).all():
        bad = np.flatnonzero(~np.isfinite(a))
        raise ValueError(f"action entries {bad[:10].tolist()}{' ...' if len(bad) > 10 else ''} (of {a.size}) are NaN or inf; "
                         f"actions must be finite, within [{low:g}, 1]")
    clipped = np.clip(a, low, 1.0)
    return clipped, bool((clipped != a).any())


def check_base_action(action: Any) -> tuple[float, bool]:
    """A base-point action (shape (1,), or a Python float standing for one) clipped to [-1, 1],
    and whether it was clipped: :func:`check_action` for the (1,) space, on floats (the RT env's
    hot path)."""
    if not isinstance(action, float):
        a = _numbers(action)
        _check_shape(a, (1,))
        action = float(a[0])
    if not math.isfinite(action):
        raise ValueError(f"action {action} is NaN or inf; actions must be finite, within [-1, 1]")
    clipped = min(max(action, -1.0), 1.0)
    return clipped, clipped != action


def check_actions(actions: Any, n_envs: int, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """A batch of actions (n_envs, *shape) clipped to [-1, 1] and which envs' were clipped; any
    other shape, NaN or inf raise ValueError naming the envs."""
    a = _numbers(actions, "actions")
    batch = (n_envs, *shape)
    if a.shape != batch:
        raise ValueError(f"actions have {a.size} entries in shape {a.shape}, {n_envs} envs of action size "
                         f"{int(np.prod(shape))} need {int(np.prod(batch))} in shape {batch}")
    bad = ~np.isfinite(a).reshape(n_envs, -1).all(axis=1)
    if bad.any():
        raise ValueError(f"actions of envs {np.flatnonzero(bad).tolist()} contain NaN or inf; actions must be finite")
    clipped = np.clip(a, -1.0, 1.0)
    return clipped, (clipped != a).reshape(n_envs, -1).any(axis=1)


def base_point(position_mw: Any, action: Any, battery: Battery) -> Any:
    """The base point (MW) of a deviation action in [-1, 1] (a float, or arrays)."""
    if isinstance(action, float):
        return position_mw + action * (battery.p_discharge_mw if action > 0 else battery.p_charge_mw)
    return position_mw + action * np.where(action > 0, battery.p_discharge_mw, battery.p_charge_mw)


@dataclass(frozen=True)
class BidCurve:
    """A monotone step curve for one RT interval (arrays may carry batch axes in front).

    ``prices_usd_per_mwh`` (..., S) ascending; ``quantity_mw`` (..., S + 1) non-decreasing base
    points (MW, + = discharge): at a clearing price ``p`` the battery runs at
    ``quantity_mw[k]``, ``k`` the number of curve prices at or below ``p``.
    """

    prices_usd_per_mwh: np.ndarray
    quantity_mw: np.ndarray

    def __post_init__(self) -> None:
        prices = np.asarray(self.prices_usd_per_mwh, dtype=float)
        quantity = np.asarray(self.quantity_mw, dtype=float)
        if quantity.shape[:-1] != prices.shape[:-1] or quantity.shape[-1] != prices.shape[-1] + 1:
            raise ValueError(f"a bid curve needs S prices and S + 1 quantities, got shapes {prices.shape} and {quantity.shape}")
        if not (np.isfinite(prices).all() and np.isfinite(quantity).all()):
            raise ValueError("bid curve prices and quantities must be finite")
        if (np.diff(prices, axis=-1) < 0).any() or (np.diff(quantity, axis=-1) < 0).any():
            raise ValueError("a bid curve's prices must ascend and its quantities must not fall: sell more at higher prices")
        object.__setattr__(self, "prices_usd_per_mwh", prices)
        object.__setattr__(self, "quantity_mw", quantity)

    def clear(self, price_usd_per_mwh: Any) -> Any:
        """The base point (MW) at a clearing price (a float, or an array over the batch)."""
        steps = (self.prices_usd_per_mwh <= np.asarray(price_usd_per_mwh, dtype=float)[..., None]).sum(-1)
        cleared = np.take_along_axis(self.quantity_mw, steps[..., None], axis=-1)[..., 0]
        return float(cleared) if cleared.ndim == 0 else cleared


@dataclass(frozen=True)
class LayeredDecision:
    """An RT decision in a three-settlement market: ``base`` the RTD base point (MW, + =
    discharge, or a :class:`BidCurve`) and ``fmm_mw`` the FMM position (MW, + = sell) of the FMM
    interval this RTD interval starts, read at that first RTD interval only (None there holds the
    DA position)."""

    base: Any
    fmm_mw: float | None = None


def cleared(decision: Any, rt_price_usd_per_mwh: Any) -> Any:
    """The base point (MW) of RT decisions: a number (or array) is one; a bid curve clears at the
    interval's realised price (which the policy never saw); a :class:`LayeredDecision` gives its
    ``base``'s."""
    if isinstance(decision, LayeredDecision):
        decision = decision.base
    if isinstance(decision, BidCurve):
        return decision.clear(rt_price_usd_per_mwh)
    if isinstance(decision, (bool, np.bool_)) or not isinstance(decision, (int, float, np.integer, np.floating, np.ndarray)):
        raise ValueError(f"an RT decision must be a base point in MW (a number) or a BidCurve, got {decision!r:.80}")
    return decision


def curve_size(segments: int) -> int:
    """Entries of a bid-curve action with ``segments`` price steps."""
    return 2 * segments + 1


def curve_from_action(
    action: np.ndarray, da_price: Any, position_mw: Any, battery: Battery, span_usd_per_mwh: float
) -> BidCurve:
    """The curve of actions (..., 2S + 1) in [-1, 1]: prices ``da_price + a * span`` from the first
    S entries, quantities as base-point actions around ``position_mw`` from the other S + 1; both
    sorted, so every action is a valid (monotone) curve."""
    action = np.asarray(action, dtype=float)
    segments = (action.shape[-1] - 1) // 2
    prices = np.sort(np.asarray(da_price, dtype=float)[..., None] + action[..., :segments] * span_usd_per_mwh, axis=-1)
    quantity = base_point(np.asarray(position_mw, dtype=float)[..., None], np.sort(action[..., segments:], axis=-1), battery)
    return BidCurve(prices, quantity)
