"""bessgym: a battery in day-ahead, ancillary-service and real-time markets.

The core pieces, one module per domain noun: :mod:`bessgym.battery` (physics),
:mod:`bessgym.market` (profiles, products, the accepted DA bid), :mod:`bessgym.settlement` (the
ledger), :mod:`bessgym.deployment` (how AS are deployed), :mod:`bessgym.scenarios` (days, data,
splits), :mod:`bessgym.forecast` (what is known at gate closure), :mod:`bessgym.sim` (one day).
"""

from bessgym.battery import Battery
from bessgym.config import Config, ConfigError, load_config
from bessgym.market import PRODUCTS, DABid, MarketProfile
from bessgym.scenarios import Scenario, ScenarioSet
from bessgym.sim import DaySimulator, simulate_batch, simulate_day

from bessgym.envs import register_envs

register_envs()
__version__ = "0.1.0"
__all__ = [
    "PRODUCTS", "Battery", "Config", "ConfigError", "DABid", "DaySimulator", "MarketProfile",
    "Scenario", "ScenarioSet", "load_config", "simulate_batch", "simulate_day",
]
