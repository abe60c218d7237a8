"""Rendering of a day in progress: an RGB plot (matplotlib, Agg) and a one-line status."""

from __future__ import annotations

import numpy as np

from bessgym.envs.episodes import Episode, EpisodeSource
from bessgym.market import HOURS, N_PRODUCTS, PRODUCTS, UP_MASK


def check_render_mode(render_mode: str | None, metadata: dict) -> None:
    """A ValueError naming the mode and the allowed ones, for an env's constructor."""
    if render_mode is not None and render_mode not in metadata["render_modes"]:
        raise ValueError(f"render_mode {render_mode!r} is not one of {metadata['render_modes']}")


def status_line(scenario_id: str, t: int, n: int, soc_frac: float, base_mw: float, profit_usd: float) -> str:
    return f"{scenario_id} t={t:3d}/{n} soc={soc_frac:6.1%} base={base_mw:+7.3f} MW profit=${profit_usd:+10.2f}"


def day_figure(
    scenario_id: str,
    dt_h: float,
    rt_price: np.ndarray,
    da_price: np.ndarray,
    soc_frac: list[float],
    base_mw: list[float],
    as_mw: np.ndarray,
    deployed: np.ndarray,
) -> np.ndarray:
    """An (H, W, 3) uint8 image: prices, SoC, base points, AS awards and deployment so far."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = len(rt_price)
    hours = np.arange(n) * dt_h
    fig = Figure(figsize=(8, 6), dpi=80)
    canvas = FigureCanvasAgg(fig)
    ax_price, ax_soc, ax_as = fig.subplots(3, 1, sharex=True)
    ax_price.plot(hours, rt_price, lw=0.8, label="RT $/MWh")
    ax_price.step(np.arange(25), np.append(da_price, da_price[-1]), where="post", lw=1.2, label="DA $/MWh")
    ax_price.legend(loc="upper left", fontsize=7)
    ax_price.set_title(scenario_id, fontsize=9)
    k = len(base_mw)
    ax_soc.plot(np.arange(k + 1) * dt_h, soc_frac[: k + 1], color="tab:green", label="SoC")
    ax_soc.set_ylim(0, 1)
    ax_base = ax_soc.twinx()
    ax_base.step(hours[:k], base_mw, where="post", color="tab:red", lw=0.8, label="base MW")
    ax_soc.legend(loc="upper left", fontsize=7)
    ax_base.legend(loc="upper right", fontsize=7)
    for j, name in enumerate(PRODUCTS):
        ax_as.step(np.arange(25), np.append(as_mw[:, j], as_mw[-1, j]), where="post", lw=1.0, label=f"{name} MW")
    ax_as.plot(hours[:k], deployed[:k], color="k", lw=0.6, label="deployed (net up) MW")
    ax_as.legend(loc="upper left", fontsize=6, ncol=3)
    ax_as.set_xlabel("hour of the operating day")
    ax_as.set_xlim(0, 24)
    fig.tight_layout()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def render_forecast(source: EpisodeSource, scenario_id: str, mode: str) -> np.ndarray | str:
    """The DA phase: what is known at gate closure (point forecasts), nothing played yet."""
    _, context = source.day(scenario_id)
    soc = [context.battery.soc_initial_frac]
    if mode == "ansi":
        return status_line(scenario_id, 0, context.n_intervals, soc[0], 0.0, 0.0) + " (DA bid pending)"
    zeros = np.zeros(context.n_intervals)
    return day_figure(f"{scenario_id} (gate-closure forecast)", context.dt_h, context.rt_price, context.da_price,
                      soc, [], np.zeros((HOURS, N_PRODUCTS)), zeros)


def render_played(episode: Episode, soc_frac: list[float], base_mw: list[float], profit: float, mode: str) -> np.ndarray | str:
    """A day (partly) played: prices, SoC, base points, AS awards and deployment so far."""
    scenario = episode.scenario
    if mode == "ansi":
        return status_line(scenario.id, len(base_mw), scenario.n_intervals, soc_frac[-1], base_mw[-1] if base_mw else 0.0, profit)
    request = scenario.deployment.fraction * np.repeat(episode.accepted.as_mw, scenario.n_intervals // HOURS, axis=0)
    deployed = request[:, UP_MASK].sum(1) - request[:, ~UP_MASK].sum(1)
    return day_figure(scenario.id, scenario.dt_h, scenario.rt_price, scenario.da_price, soc_frac, base_mw,
                      episode.accepted.as_mw, deployed)
