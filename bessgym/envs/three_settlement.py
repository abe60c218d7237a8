"""ThreeSettlement-v0: the DA bid, then the day's FMM positions and RTD base points, in one episode."""

from __future__ import annotations

from bessgym.config import ConfigLike, load_config
from bessgym.envs.episodes import DayLimited
from bessgym.envs.two_settlement import TwoSettlementEnv


class ThreeSettlementEnv(TwoSettlementEnv):
    """
    ## Description
    The battery's whole market day in a three-settlement market (CAISO's day-ahead market, its
    15-minute FMM and its 5-minute RTD): first the day-ahead bid (phase 0), then each 5-minute
    RTD interval of the same day (phase 1). At the first RTD interval of each 15-minute FMM
    interval the agent also sets that FMM interval's position, before its FMM price is known; the
    FMM clears it (cutting it to the power its awards leave: `bessgym.market.accept_fmm`), and
    the next two RTD intervals see the price. Each layer settles the deviation from the one
    before: DA energy at the DA price, the FMM position minus the DA position at the FMM price,
    the delivered power minus the FMM position at the RTD price. The operator deploys the
    awarded services at random, as in RealTime-v0.

    ## Action Space
    `Box(-1, 1, (122,), float32)`: in phase 0 the first 120 entries are the DA action exactly as
    in DayAhead-v0 (with `da_residual`, its residual form) and the last two are ignored; in phase
    1 only the last two are read: entry 120 the FMM position, as a deviation from the hour's DA
    position in fractions of the discharge (> 0) or charge (< 0) power (read at the FMM
    interval's first RTD step only, ignored at the other two), and entry 121 the base point, a
    deviation from the FMM position in force in the same units (0 delivers the FMM schedule).
    Out-of-range values are clipped and reported; NaN or inf raise ValueError.

    ## Observation Space
    `Dict(phase=Discrete(2), da=Box((173,)), schedule=Box((120,)), rt=Box((28,)))`: as
    TwoSettlement-v0, the `rt` row being RealTime-v0's 25 features on the RTD prices (no RTD
    price of the interval itself or later) followed by `bessgym.observation.FMM_FEATURES`: the
    FMM position in force, the latest cleared FMM price and the RTD step within the FMM
    interval (0: this step sets the FMM position).

    ## Rewards
    0 for the DA step; then each RTD interval's settlement in $ (the DA energy and the FMM
    energy are settled interval by interval).

    ## Info
    As TwoSettlement-v0 (the ledger lines include `fmm_energy` and `virtual`); the RTD steps add
    `fmm_mw` (the FMM position in force, as accepted, MW) and `fmm_cut_mw` (what the FMM cut
    from the position asked for at this step, MW; 0 at the steps that set none).

    ## Starting State
    Phase 0 of a day drawn from `split` with the env's RNG, or pinned with
    `reset(options={"scenario": id})`; its deployment path is drawn with the env's RNG.

    ## Episode End
    `terminated` after the day's last RTD interval: 289 steps on the default `caiso3-sp15`
    (1 + 288). `gym.make` wraps the env in a `TimeLimit` of its own `episode_steps`.

    ## Arguments
    `gym.make("bessgym/ThreeSettlement-v0", config="caiso3-sp15", split="train",
    da_residual=None, da_residual_band=None, render_mode=None)`: `config` must name a
    three-settlement market profile (`settlement: "da_fmm_rtd"`, e.g. `caiso3`); the shipped
    data has real DA and 15-minute (FMM) prices and synthetic 5-minute RTD prices
    (`bessgym.rtd`). `da_residual` as in TwoSettlement-v0. `gym.make_vec(...,
    vectorization_mode="sync")` steps several at once; the RT half alone (the DA bid from a
    fixed bidder) is RealTime-v0 with `fmm=True`, natively batched with
    `vectorization_mode="vector_entry_point"`.

    ## Version History
    * v0: initial version.
    """

    fmm = True  # the RT half sets the FMM positions too (RealTime-v0's fmm form)

    def __init__(self, config: ConfigLike = "caiso3-sp15", split: str = "train", da_residual: str | None = None,
                 da_residual_band: float | None = None, render_mode: str | None = None) -> None:
        market = load_config(config).market_profile
        if not market.three_settlement:
            raise ValueError(f"config: ThreeSettlement-v0 needs a three-settlement market profile (settlement 'da_fmm_rtd', "
                             f"e.g. market 'caiso3'); {market.name!r} settles {market.settlement!r}")
        super().__init__(config, split, da_residual, da_residual_band, render_mode=render_mode)


make_three_settlement = DayLimited(ThreeSettlementEnv)  # the registered entry point of ThreeSettlement-v0
