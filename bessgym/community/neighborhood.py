"""A neighbourhood's hour: the homes' devices step, their net positions become orders, the local
market clears them, and the utility settles the rest.

Each hour every home ends up a buyer (net import > 0) or a seller (net import < 0). It offers a
share ``quantity_share`` in [0, 1] of its net position to the local market at a price
``export + price_share x (import - export)`` ($/kWh; ``price_share`` in [0, 1]: no buyer pays
more than the utility charges, no seller takes less than the utility credits). The market clears
all orders of the hour (``bessgym.community.auction``: the k-double auction or McAfee's); what a
home does not trade it imports from or exports to the utility at its tariff
(``bessgym.community.tariff``). A home's bill for the hour ($, + = paid): utility imports less
utility export credit, plus what it paid in the market, less what it received.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from bessgym.community.auction import Clearing, k_double_auction, mcafee
from bessgym.community.data import Homes
from bessgym.community.household import HomeDevices, HomeState, HourFlows, step_homes
from bessgym.community.tariff import Tariff, make_tariff

MECHANISMS = ("k_double", "mcafee")


@dataclass(frozen=True)
class HourBill:
    """One hour of every home (H,), kWh and $: ``market_bought_kwh``, ``market_sold_kwh``,
    ``utility_import_kwh``, ``utility_export_kwh``, ``market_paid_usd``,
    ``market_received_usd``, ``utility_usd`` (imports less export credit) and ``bill_usd``
    (what the hour cost the home, + = paid); ``price`` ($/kWh, NaN: no trade), ``traded_kwh``
    and ``surplus_usd`` (the mechanism's) of the market."""

    market_bought_kwh: np.ndarray
    market_sold_kwh: np.ndarray
    utility_import_kwh: np.ndarray
    utility_export_kwh: np.ndarray
    market_paid_usd: np.ndarray
    market_received_usd: np.ndarray
    utility_usd: np.ndarray
    bill_usd: np.ndarray
    price: float
    traded_kwh: float
    surplus_usd: float


def clear_hour(net_import_kwh: np.ndarray, price_share: np.ndarray, quantity_share: np.ndarray, import_usd_per_kwh: float,
               export_usd_per_kwh: float, mechanism: str = "k_double") -> HourBill:
    """The market and the utility for one hour of H homes' net imports (H,) kWh and their order
    shares (H,) in [0, 1] (see the module docstring)."""
    if mechanism not in MECHANISMS:
        raise ValueError(f"mechanism {mechanism!r} is not one of {list(MECHANISMS)}")
    net = np.asarray(net_import_kwh, dtype=float)
    price = export_usd_per_kwh + np.clip(price_share, 0.0, 1.0) * (import_usd_per_kwh - export_usd_per_kwh)
    offered = np.clip(quantity_share, 0.0, 1.0) * np.abs(net)
    buying = net > 0
    bid_qty = np.where(buying, offered, 0.0)[None]
    ask_qty = np.where(~buying, offered, 0.0)[None]
    book = (price[None], bid_qty, price[None], ask_qty)
    if (bid_qty > 0).any() and (ask_qty > 0).any():
        cleared: Clearing = k_double_auction(*book) if mechanism == "k_double" else mcafee(*book)
        bought, sold, paid, received = cleared.bought[0], cleared.sold[0], cleared.paid[0], cleared.received[0]
        market = (float(cleared.price[0]), float(cleared.traded[0]), float(cleared.surplus[0]))
    else:  # one side of the book is empty (at night no home sells): nothing can trade
        bought = sold = paid = received = np.zeros_like(net)
        market = (float("nan"), 0.0, 0.0)
    utility_in = np.maximum(net, 0.0) - bought
    utility_out = np.maximum(-net, 0.0) - sold
    utility = utility_in * import_usd_per_kwh - utility_out * export_usd_per_kwh
    return HourBill(bought, sold, utility_in, utility_out, paid, received, utility, utility + paid - received, *market)


@dataclass(frozen=True)
class Neighborhood:
    """The homes (``bessgym.community.data.Homes``), their ``devices``, the utility's ``tariff``,
    the market's ``mechanism`` and what discomfort costs a home (``comfort_usd_per_c_h``, $ per
    degC above its band per hour)."""

    homes: Homes
    devices: HomeDevices
    tariff: Tariff
    mechanism: str = "k_double"
    comfort_usd_per_c_h: float = 0.5

    @classmethod
    def build(cls, homes: Homes, tariff: str = "wholesale_export", mechanism: str = "k_double", seed: int = 0,
              ev_days_per_week: float = 3.5, comfort_usd_per_c_h: float = 0.5) -> "Neighborhood":
        """The homes with devices drawn from ``seed`` (their batteries the dataset's, which must be
        one model) under the ``tariff`` profile."""
        if mechanism not in MECHANISMS:
            raise ValueError(f"mechanism {mechanism!r} is not one of {list(MECHANISMS)}")
        if not (comfort_usd_per_c_h >= 0 and np.isfinite(comfort_usd_per_c_h)):
            raise ValueError(f"comfort_usd_per_c_h = {comfort_usd_per_c_h!r}; allowed: >= 0 $ per degC-hour")
        kwh, kw = np.unique(homes.battery_kwh), np.unique(homes.battery_kw)
        if len(kwh) != 1 or len(kw) != 1:
            raise ValueError(f"the homes' batteries differ ({kwh.tolist()} kWh, {kw.tolist()} kW); allowed: one model")
        weekend = homes.weekday[::24] >= 5
        devices = HomeDevices.build(len(homes.ids), weekend, np.random.default_rng(seed), battery_kw=float(kw[0]),
                                    battery_kwh=float(kwh[0]), ev_days_per_week=ev_days_per_week)
        return cls(homes, devices, make_tariff(tariff, homes.tou_usd_per_kwh, homes.month, homes.day, homes.hour),
                   mechanism, comfort_usd_per_c_h)

    @property
    def n_homes(self) -> int:
        return len(self.homes.ids)

    @cached_property
    def pv_kwh(self) -> np.ndarray:
        """The homes' PV output (H, 8760) kWh, computed once."""
        return self.homes.pv_kwh

    def step(self, state: HomeState, t: int, offset_c: np.ndarray, ev_rate: np.ndarray, battery_kw: np.ndarray,
             price_share: np.ndarray, quantity_share: np.ndarray) -> tuple[HomeState, HourFlows, HourBill]:
        """Hour ``t`` (0 .. 8,759) of every home under its actions (H,) each (see
        ``bessgym.community.household.step_homes`` and :func:`clear_hour`)."""
        if not 0 <= t < len(self.homes.hour):
            raise ValueError(f"t = {t}; allowed: 0 .. {len(self.homes.hour) - 1} (hours of the homes' year)")
        state, flows = step_homes(self.devices, state, t, self.homes.load_kwh[:, t], self.pv_kwh[:, t],
                                  float(self.homes.outdoor_c[t]), offset_c, ev_rate, battery_kw)
        bill = clear_hour(flows.net_import_kwh, price_share, quantity_share, float(self.tariff.import_usd_per_kwh[t]),
                          float(self.tariff.export_usd_per_kwh[t]), self.mechanism)
        return state, flows, bill

    def cost_usd(self, flows: HourFlows, bill: HourBill) -> np.ndarray:
        """Each home's cost of the hour (H,) $: its bill and its discomfort at
        ``comfort_usd_per_c_h``."""
        return bill.bill_usd + self.comfort_usd_per_c_h * flows.discomfort_c

    def end_slopes(self, hours: slice) -> tuple[float, float]:
        """$ per kWh of battery energy above its start at the end of the ``hours`` (what exporting it
        would fetch at worst: the hours' lowest export price x eta_d) and below it (what importing
        it back would cost: their mean import price / eta_c): DESIGN 1.6's asymmetric terminal
        value with the home's two prices. The first never exceeds the second, and energy bought to
        be left over is never worth more than it cost."""
        b = self.devices.battery
        return (float(self.tariff.export_usd_per_kwh[hours].min()) * b.eta_discharge,
                float(self.tariff.import_usd_per_kwh[hours].mean()) / b.eta_charge)

    def ev_owed_price(self, hours: slice) -> float:
        """$ per kWh an EV still needs at the end of the ``hours`` (its session runs on): what
        importing it later costs, the hours' mean import price."""
        return float(self.tariff.import_usd_per_kwh[hours].mean())

    def end_value_usd(self, start_mwh: np.ndarray, end_mwh: np.ndarray, ev_left_kwh: np.ndarray, hours: slice) -> np.ndarray:
        """Each home's terminal value at the end of ``hours`` (H,) $ (+ = worth): its battery's energy
        against the start at :meth:`end_slopes`, less the EV energy still owed to a session that
        runs on (``ev_left_kwh``) at :meth:`ev_owed_price`, so that neither draining the battery
        nor deferring an EV's charging past the episode is free."""
        above, below = self.end_slopes(hours)
        diff_kwh = (np.asarray(end_mwh) - np.asarray(start_mwh)) * 1e3
        battery = above * np.maximum(diff_kwh, 0.0) - below * np.maximum(-diff_kwh, 0.0)
        return battery - self.ev_owed_price(hours) * np.asarray(ev_left_kwh)
