"""A neighbourhood's hour: the homes' devices step, their net positions become orders, the local
market clears them, and the utility settles the rest.

Each hour every home ends up a buyer (net import > 0) or a seller (net import < 0). It offers a
share ``quantity_share`` in [0, 1] of its net position to the local market at a price
``export + price_share x (import - export)`` ($/kWh; ``price_share`` in [0, 1]: no buyer pays
more than the utility charges, no seller takes less than the utility credits). The market clears
the hour's orders (``bessgym.community.auction``: the k-double auction or McAfee's) in one call,
or in ``rounds`` repeated calls where the homes quote again for what they have not yet traded
(:class:`HourMarket`); what a home does not trade it imports from or exports to the utility at its tariff
(``bessgym.community.tariff``). A home's bill for the hour ($, + = paid): utility imports less
utility export credit, plus what it paid in the market, less what it received.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from bessgym.battery import NUMPY_OPS
from bessgym.community.auction import QTY_ATOL, Clearing, k_double_auction, mcafee
from bessgym.community.data import Homes
from bessgym.community.household import HomeDevices, HomeState, HourFlows, step_homes
from bessgym.community.tariff import Tariff, make_tariff, utility_usd
from bessgym.settlement import asymmetric_value, end_slopes

MECHANISMS = ("k_double", "mcafee")
MAX_ROUNDS = 100
"""The most market calls an hour may hold."""


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


@dataclass(frozen=True)
class RoundResult:
    """One call of an hour's market: ``bought`` and ``sold`` (H,) kWh per home, ``price`` ($/kWh,
    NaN: no trade), ``traded_kwh`` and the mechanism's ``surplus_usd``."""

    bought: np.ndarray
    sold: np.ndarray
    price: float
    traded_kwh: float
    surplus_usd: float


class HourMarket:
    """One hour's local market over its calls (rounds), then the utility.

    Opened on the homes' net imports (H,) kWh (+ buy, - sell): a home's side is fixed for the hour.
    Each :meth:`call` clears the orders of the homes' shares of what they have NOT yet traded this
    hour (:attr:`residual_kwh`), so a home that did not trade may quote again at another price (a
    repeated call market: with one call it is the plain call auction). :meth:`bill` settles what is
    left with the utility. Every call balances on its own, and every order is priced within
    [export, import] (export <= import is required), so no call raises a bill above the utility's."""

    def __init__(self, net_import_kwh: np.ndarray, import_usd_per_kwh: float, export_usd_per_kwh: float,
                 mechanism: str = "k_double") -> None:
        if mechanism not in MECHANISMS:
            raise ValueError(f"mechanism {mechanism!r} is not one of {list(MECHANISMS)}")
        self.net_import_kwh = np.asarray(net_import_kwh, dtype=float)
        if self.net_import_kwh.ndim != 1 or not np.isfinite(self.net_import_kwh).all():
            raise ValueError(f"net_import_kwh has shape {self.net_import_kwh.shape} with non-finite values "
                             f"{int((~np.isfinite(self.net_import_kwh)).sum())}; allowed: (H,) finite kWh")
        self.import_usd_per_kwh, self.export_usd_per_kwh = float(import_usd_per_kwh), float(export_usd_per_kwh)
        if not (np.isfinite(self.import_usd_per_kwh) and np.isfinite(self.export_usd_per_kwh)
                and self.export_usd_per_kwh <= self.import_usd_per_kwh):
            raise ValueError(f"import {import_usd_per_kwh!r} and export {export_usd_per_kwh!r} $/kWh; allowed: finite "
                             "prices with export <= import (orders are priced between them)")
        self.mechanism = mechanism
        zeros = np.zeros_like(self.net_import_kwh)
        self.bought, self.sold, self.paid, self.received = zeros, zeros.copy(), zeros.copy(), zeros.copy()
        self.traded_kwh = self.surplus_usd = self.value_usd = 0.0

    @property
    def residual_kwh(self) -> np.ndarray:
        """Each home's net import not yet traded this hour (H,) kWh (+ to buy, - to sell); less than
        ``auction.QTY_ATOL`` is nothing (rounding noise, of the devices' balance or of earlier
        fills, is no order: under McAfee's mechanism such an order could set everyone's price);
        the utility settles it."""
        net = self.net_import_kwh
        left = np.where(net > 0, np.maximum(net - self.bought, 0.0), np.minimum(net + self.sold, 0.0))
        return np.where(np.abs(left) < QTY_ATOL, 0.0, left)

    def call(self, price_share: np.ndarray, quantity_share: np.ndarray) -> RoundResult:
        """Clear one call of orders (H,) shares in [0, 1] (the module docstring) of the residuals."""
        for name, share in (("price_share", price_share), ("quantity_share", quantity_share)):
            if np.shape(share) != self.net_import_kwh.shape or not np.isfinite(share).all():
                raise ValueError(f"{name} has shape {np.shape(share)} (finite: {bool(np.isfinite(share).all())}); "
                                 f"allowed: {self.net_import_kwh.shape} finite shares, one per home")
        imp, exp = self.import_usd_per_kwh, self.export_usd_per_kwh
        price = exp + np.clip(price_share, 0.0, 1.0) * (imp - exp)
        residual = self.residual_kwh
        offered = np.clip(quantity_share, 0.0, 1.0) * np.abs(residual)
        buying = self.net_import_kwh > 0
        bid_qty = np.where(buying, offered, 0.0)[None]
        ask_qty = np.where(~buying, offered, 0.0)[None]
        if not ((bid_qty > 0).any() and (ask_qty > 0).any()):  # one side empty (at night no home sells)
            zeros = np.zeros_like(residual)
            return RoundResult(zeros, zeros, float("nan"), 0.0, 0.0)
        book = (price[None], bid_qty, price[None], ask_qty)
        cleared: Clearing = k_double_auction(*book) if self.mechanism == "k_double" else mcafee(*book)
        bought, sold = cleared.bought[0], cleared.sold[0]
        self.bought, self.sold = self.bought + bought, self.sold + sold
        self.paid, self.received = self.paid + cleared.paid[0], self.received + cleared.received[0]
        traded = float(cleared.traded[0])
        self.traded_kwh += traded
        self.surplus_usd += float(cleared.surplus[0])
        if traded > 0:
            self.value_usd += traded * float(cleared.price[0])
        return RoundResult(bought, sold, float(cleared.price[0]), traded, float(cleared.surplus[0]))

    def bill(self) -> HourBill:
        """The hour settled: what no call traded goes to the utility at its tariff; the market's
        ``price`` is the hour's volume-weighted price (NaN: nothing traded)."""
        net = self.net_import_kwh
        utility_in = np.maximum(net, 0.0) - self.bought
        utility_out = np.maximum(-net, 0.0) - self.sold
        utility = utility_usd(utility_in, utility_out, self.import_usd_per_kwh, self.export_usd_per_kwh)
        price = self.value_usd / self.traded_kwh if self.traded_kwh > 0 else float("nan")
        return HourBill(self.bought, self.sold, utility_in, utility_out, self.paid, self.received, utility,
                        utility + self.paid - self.received, price, self.traded_kwh, self.surplus_usd)


def clear_hour(net_import_kwh: np.ndarray, price_share: np.ndarray, quantity_share: np.ndarray, import_usd_per_kwh: float,
               export_usd_per_kwh: float, mechanism: str = "k_double") -> HourBill:
    """The market (one call) and the utility for one hour of H homes' net imports (H,) kWh and
    their order shares (H,) in [0, 1] (see the module docstring and :class:`HourMarket`)."""
    market = HourMarket(net_import_kwh, import_usd_per_kwh, export_usd_per_kwh, mechanism)
    market.call(price_share, quantity_share)
    return market.bill()


@dataclass(frozen=True)
class Neighborhood:
    """The homes (``bessgym.community.data.Homes``), their ``devices``, the utility's ``tariff``,
    the market's ``mechanism`` and its calls per hour (``rounds``, :class:`HourMarket`), and
    what discomfort costs a home (``comfort_usd_per_c_h``, $ per degC above its band per hour)."""

    homes: Homes
    devices: HomeDevices
    tariff: Tariff
    mechanism: str = "k_double"
    comfort_usd_per_c_h: float = 0.5
    rounds: int = 1

    def __post_init__(self) -> None:
        if self.mechanism not in MECHANISMS:
            raise ValueError(f"mechanism {self.mechanism!r} is not one of {list(MECHANISMS)}")
        if isinstance(self.rounds, bool) or not isinstance(self.rounds, (int, np.integer)) or not 1 <= self.rounds <= MAX_ROUNDS:
            raise ValueError(f"rounds = {self.rounds!r}; allowed: an integer 1 .. {MAX_ROUNDS} (market calls per hour)")
        if not (self.comfort_usd_per_c_h >= 0 and np.isfinite(self.comfort_usd_per_c_h)):
            raise ValueError(f"comfort_usd_per_c_h = {self.comfort_usd_per_c_h!r}; allowed: >= 0 $ per degC-hour")

    @classmethod
    def build(cls, homes: Homes, tariff: str = "wholesale_export", mechanism: str = "k_double", seed: int = 0,
              ev_days_per_week: float = 3.5, comfort_usd_per_c_h: float = 0.5, rounds: int = 1) -> "Neighborhood":
        """The homes with devices drawn from ``seed`` (their batteries the dataset's, which must be
        one model) under the ``tariff`` profile."""
        kwh, kw = np.unique(homes.battery_kwh), np.unique(homes.battery_kw)
        if len(kwh) != 1 or len(kw) != 1:
            raise ValueError(f"the homes' batteries differ ({kwh.tolist()} kWh, {kw.tolist()} kW); allowed: one model")
        weekend = homes.weekday[::24] >= 5
        devices = HomeDevices.build(len(homes.ids), weekend, np.random.default_rng(seed), battery_kw=float(kw[0]),
                                    battery_kwh=float(kwh[0]), ev_days_per_week=ev_days_per_week)
        return cls(homes, devices, make_tariff(tariff, homes.tou_usd_per_kwh, homes.month, homes.day, homes.hour),
                   mechanism, comfort_usd_per_c_h, rounds)

    @property
    def n_homes(self) -> int:
        return len(self.homes.ids)

    @cached_property
    def pv_kwh(self) -> np.ndarray:
        """The homes' PV output (H, 8760) kWh, computed once."""
        return self.homes.pv_kwh

    def step_devices(self, state: HomeState, t: int, offset_c: np.ndarray, ev_rate: np.ndarray,
                     battery_kw: np.ndarray) -> tuple[HomeState, HourFlows]:
        """Hour ``t`` (0 .. 8,759) of every home's devices under its actions (H,) each (see
        ``bessgym.community.household.step_homes``)."""
        if not 0 <= t < len(self.homes.hour):
            raise ValueError(f"t = {t}; allowed: 0 .. {len(self.homes.hour) - 1} (hours of the homes' year)")
        return step_homes(self.devices, state, t, self.homes.load_kwh[:, t], self.pv_kwh[:, t],
                          float(self.homes.outdoor_c[t]), offset_c, ev_rate, battery_kw)

    def open_market(self, t: int, net_import_kwh: np.ndarray) -> HourMarket:
        """Hour ``t``'s market on the homes' net imports (H,) kWh, at the hour's tariff."""
        return HourMarket(net_import_kwh, float(self.tariff.import_usd_per_kwh[t]),
                          float(self.tariff.export_usd_per_kwh[t]), self.mechanism)

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
        lowest_export, mean_import = self.tariff.export_usd_per_kwh[hours].min(), self.tariff.import_usd_per_kwh[hours].mean()
        return (float(end_slopes(b.eta_charge, b.eta_discharge, 0.0, lowest_export)[0]),
                float(end_slopes(b.eta_charge, b.eta_discharge, 0.0, mean_import)[1]))

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
        battery = asymmetric_value((np.asarray(end_mwh) - np.asarray(start_mwh)) * 1e3, above, below, NUMPY_OPS)
        return battery - self.ev_owed_price(hours) * np.asarray(ev_left_kwh)
