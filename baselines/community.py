"""Rule-based and bidding baselines for Neighborhood-v0 (``bessgym.community.env.NeighborhoodEnv``).

Every policy runs the same rule-based devices and differs only in its market orders:

* the thermostat at its setpoint (offset 0);
* the EV charging at the charger's full rate whenever it is plugged;
* the battery on self-consumption: it charges from the hour's PV surplus and discharges to cover
  the hour's deficit, where surplus and deficit are PV against the observed base load plus the EV's
  expected draw (the air conditioner's draw is not observed and is left out), within the battery's
  kW and what its observed SoC allows, leaving :data:`SIDE_MARGIN_KWH` imported (it discharges
  that much less than the deficit, charges that much more than the surplus) so that a home the
  battery balances is a buyer for certain: the float32 observation resolves kWh only to ~1e-7,
  and a balanced home would otherwise be a buyer or a seller of rounding noise, whose order can
  set a McAfee price.

Orders (shares as in ``bessgym.community.neighborhood``; the env reads an action ``a`` as the
share ``(a + 1) / 2``):

* :class:`RuleBased`: no orders (quantity share 0): the net-metering baseline, everything
  settles with the utility.
* :class:`Truthful`: the whole net position (quantity share 1) at the home's reservation price:
  a buyer's is the import price (price share 1), a seller's the export price (price share 0).
  The side is predicted from the observation (seller where the predicted net import is below
  half the margin); the unobserved air conditioner only adds to the import, so a home predicted
  to buy always buys.
* :class:`ZeroIntelligence`: Gode and Sunder's (1993) budget-constrained ZI-C traders: the whole
  net position at a price drawn uniformly between the export and the import price (price share
  U(0, 1)), which for a buyer is between the lowest acceptable price and its value, for a seller
  between its cost and the highest acceptable price.

In a later call of an hour (an env with ``rounds > 1``; the observation's call index > 0) the
devices have run and the env ignores their fields: each policy quotes again, as in the first
call, for what its home has not yet traded (the observed residual, now known exactly), a ZI
trader at a new random price.

A policy's ``reset(env)`` reads the env's constants (homes, battery, charger); ``act(obs)`` maps
the observations of ``reset``/``step`` (the layout of ``bessgym.community.env``) to actions.
"""

from __future__ import annotations

import numpy as np

from bessgym.battery import NUMPY_OPS, base_alone
from bessgym.community.env import OBS_SIZE, NeighborhoodEnv, encode_actions
from bessgym.community.household import HomeDevices

SIDE_MARGIN_KWH = 1e-5
"""kWh a balancing battery leaves imported, so that the home's side is not rounding noise."""

# Observation columns (bessgym.community.env's docstring) and their scales.
_PV, _LOAD, _EV_LEFT, _PLUGGED, _SOC, _ROUND, _RESIDUAL = 5, 6, 7, 9, 10, 15, 16
_KWH_SCALE, _EV_SCALE = 5.0, 50.0


class RuleBased:
    """The rule-based devices (module docstring) and no market orders."""

    def __init__(self) -> None:
        self.agents: list[str] = []
        self.devices: HomeDevices | None = None
        self.charger_kw = 0.0

    def reset(self, env: NeighborhoodEnv) -> None:
        """Read the env's constants: its homes, their battery and EV charger (kW)."""
        if not isinstance(env, NeighborhoodEnv):
            raise ValueError(f"env = {type(env).__name__}; allowed: a NeighborhoodEnv")
        self.devices = env.world.devices
        self.agents = list(env.possible_agents)
        self.charger_kw = self.devices.ev.charger_kw

    def act(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Actions (5,) in [-1, 1] for every home of ``reset``'s env."""
        rows = self._rows(obs)
        n = len(rows)
        if rows[0, _ROUND] > 0:  # a later call of the hour: quote for the residual (the device fields are ignored)
            actions = encode_actions(self.devices, np.zeros(n), np.ones(n), np.zeros(n),
                                     *self._orders(rows, rows[:, _RESIDUAL] * _KWH_SCALE))
            return {agent: actions[i] for i, agent in enumerate(self.agents)}
        power, predicted_net = self._battery(rows)  # the thermostat at its setpoint, the EV at the charger's full rate
        actions = encode_actions(self.devices, np.zeros(n), np.ones(n), power, *self._orders(rows, predicted_net))
        return {agent: actions[i] for i, agent in enumerate(self.agents)}

    def _rows(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        if not self.agents:
            raise ValueError("the policy has no homes: call reset(env) before act(obs)")
        missing = [a for a in self.agents if a not in obs]
        if missing:
            raise ValueError(f"observations missing for agents {missing[:5]}; "
                             f"allowed: one ({OBS_SIZE},) row per home of reset's env")
        return np.stack([np.asarray(obs[a], dtype=float) for a in self.agents])

    def _battery(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The battery's power (H,) kW (+ discharge) and the predicted net import (H,) kWh (the
        deficit less the battery's power; the air conditioner left out)."""
        assert self.devices is not None
        battery = self.devices.battery
        deficit = (rows[:, _LOAD] - rows[:, _PV]) * _KWH_SCALE + self._ev_kwh(rows)
        # what the physics lets the battery do from its observed SoC (bessgym.battery.base_alone), 1 h
        power = base_alone(battery.limits(1.0), rows[:, _SOC] * battery.energy_mwh, (deficit - SIDE_MARGIN_KWH) / 1e3,
                           NUMPY_OPS) * 1e3
        return power, deficit - power

    def _ev_kwh(self, rows: np.ndarray) -> np.ndarray:
        """The EV's expected draw this hour (kWh): the charger's rate, capped by the observed need."""
        return np.where(rows[:, _PLUGGED] > 0.5, np.minimum(self.charger_kw, rows[:, _EV_LEFT] * _EV_SCALE), 0.0)

    def _orders(self, rows: np.ndarray, predicted_net: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The orders' price and quantity shares (H,) each; no orders here."""
        return np.zeros(len(rows)), np.zeros(len(rows))


class Truthful(RuleBased):
    """The rule-based devices; the whole net position at the reservation price of the predicted side."""

    def _orders(self, rows: np.ndarray, predicted_net: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.where(predicted_net < SIDE_MARGIN_KWH / 2, 0.0, 1.0), np.ones(len(rows))


class ZeroIntelligence(RuleBased):
    """The rule-based devices; the whole net position at a price share drawn from U(0, 1) (ZI-C),
    from ``numpy.random.default_rng(seed)``."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.rng = np.random.default_rng(seed)

    def _orders(self, rows: np.ndarray, predicted_net: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.rng.uniform(0.0, 1.0, len(rows)), np.ones(len(rows))


POLICIES = {"rule_based": RuleBased, "truthful": Truthful, "zero_intelligence": ZeroIntelligence}
"""The baselines by name; each is built without arguments."""
