"""Worked example: bring your own proxy architecture, evaluate it on both tracks.

    python -m agents.proxy.dataset --out data/proxy-caiso
    python -m benchmarks.examples.conv_proxy --dataset data/proxy-caiso --out runs/conv-proxy
    python -m benchmarks.examples.conv_proxy --dataset data/da-lp/train.npz --val data/da-lp/val.npz --tracks none

Nothing in the packages changes. The example

1. defines a network of its own, :class:`HourConvProxy` (1-D convolutions over the day's hours:
   each hour a channel vector of its DA, RT and AS prices; it outputs raw bids, x then r);
2. trains it with the package's loop (:func:`agents.proxy.train.fit`: supervised on the
   solver's bids, then self-supervised through the repair layers) on a dataset folder;
3. exports a checkpoint whose ``arch`` names this module's class by its importable name
   (``benchmarks.examples.conv_proxy:HourConvProxy``, also when run with ``python -m``:
   :func:`agents.proxy.bidder.importable_name`), which the package's
   :class:`agents.proxy.bidder.TorchProxyBidder` loads by path once the spec string vouches for
   that class (``&arch=...``: a checkpoint file alone never picks code to run);
4. runs the static proxy track (:func:`benchmarks.proxy_track.run_track`) next to the shipped
   proxy, and the closed-loop leaderboard (its DA bids with the MPC real-time policy, next to
   the forecast LP with MPC) from a suite file it writes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torch import nn

from agents.proxy import cli
from agents.proxy.bidder import importable_name, save_checkpoint
from agents.proxy.dataset import ProxyDataset
from agents.proxy.problem import problem_for
from agents.proxy.train import TrainConfig, fit, splits
from benchmarks import leaderboard
from benchmarks.proxy_track import DEFAULT_PROXY, TRACK_FILES, run_track


class HourConvProxy(nn.Module):
    """Convolutions over 24 hourly tokens (DA price, the hour's RT prices, four AS prices),
    standardised with the training set's statistics; a linear read-out per hour gives x and the
    four awards."""

    def __init__(self, n_intervals: int, channels: int = 64, kernel: int = 5, layers: int = 4) -> None:
        super().__init__()
        self.k = n_intervals // 24
        width = 1 + self.k + 4
        body: list[nn.Module] = []
        for _ in range(layers):
            body += [nn.Conv1d(width, channels, kernel, padding=kernel // 2), nn.SiLU()]
            width = channels
        self.body = nn.Sequential(*body)
        self.day = nn.Linear(channels, channels)  # whole-day context added back to every hour
        self.head = nn.Conv1d(channels, 5, 1)
        n_params = 24 + n_intervals + 96
        self.register_buffer("theta_mean", torch.zeros(n_params))
        self.register_buffer("theta_std", torch.ones(n_params))

    def forward(self, theta: torch.Tensor) -> torch.Tensor:
        z = (theta.float() - self.theta_mean) / self.theta_std
        n = 24 * self.k
        tokens = torch.cat([z[:, None, :24], z[:, 24:24 + n].reshape(-1, 24, self.k).transpose(1, 2),
                            z[:, 24 + n:].reshape(-1, 24, 4).transpose(1, 2)], 1)
        h = self.body(tokens)
        h = h + self.day(h.mean(-1))[..., None]
        out = self.head(h)  # (B, 5, 24)
        return torch.cat([out[:, 0], out[:, 1:].transpose(1, 2).flatten(1)], -1)


def parser() -> argparse.ArgumentParser:
    out = argparse.ArgumentParser(prog="python -m benchmarks.examples.conv_proxy", description=__doc__.splitlines()[0],
                                  formatter_class=cli.HelpFormatter)
    out.add_argument("--dataset", required=True, help="instance file or dataset folder to train on (python -m "
                     "agents.proxy.dataset, or a split file of python -m agents.proxy.instances)")
    out.add_argument("--val", help="instance file to validate on (e.g. the fixed val split); default: hold out "
                     "10%% of --dataset's real days")
    out.add_argument("--out", default="runs/conv-proxy", help="output folder: conv.pt/conv.json, proxy-track/, "
                     "suite.json, closed-loop/")
    out.add_argument("--supervised-epochs", type=cli.number(int, at_least=0), default=40,
                     help="epochs supervised on the solver's bids")
    out.add_argument("--self-supervised-epochs", type=cli.number(int, at_least=0), default=40,
                     help="epochs on the LP objective through the repair layers")
    out.add_argument("--tracks", choices=("both", "static", "none"), default="both",
                     help="what to run after training: the static proxy track and the closed-loop leaderboard, the static "
                     "track only, or nothing (train and save)")
    out.add_argument("--limit", type=cli.number(int, at_least=1),
                     help="evaluate on the first N test days only (a smoke run; default: all 84)")
    out.add_argument("--batch", type=cli.number(int, at_least=1), default=1024, help="the static track's timing batch, instances")
    cli.add_common(out, "the files of OUT this run writes (the checkpoint, and the tracks' results with --tracks)")
    return out


def outputs(out: Path, tracks: str) -> list[Path]:
    """The files a run with ``--tracks tracks`` writes in ``out``."""
    files = [out / "conv.pt", out / "conv.json"]
    if tracks != "none":
        files += [out / "proxy-track" / name for name in TRACK_FILES]
    if tracks == "both":
        files += [out / "suite.json", *(out / "closed-loop" / name for name in leaderboard.RUN_FILES)]
    return files


def main(argv: list[str] | None = None) -> None:
    cli.run(parser(), argv, _main)


def _main(args: argparse.Namespace) -> None:
    out = Path(args.out)
    cli.refuse_existing(outputs(out, args.tracks), args.overwrite)  # before training, not after

    torch.manual_seed(0)
    data = ProxyDataset.load(args.dataset)
    problem = problem_for(data.spec)
    train, val = splits(data, problem, 0.1, 0, ProxyDataset.load(args.val) if args.val else None)
    kwargs = {"n_intervals": problem.n_intervals}
    model = HourConvProxy(**kwargs)
    model.theta_mean.copy_(train.theta.mean(0))
    model.theta_std.copy_(train.theta.std(0).clamp(min=1e-3))
    config = TrainConfig(dataset=args.dataset, supervised_epochs=args.supervised_epochs,
                         self_supervised_epochs=args.self_supervised_epochs)
    log = fit(model, problem, train, val, config)
    arch = importable_name(HourConvProxy)  # this module's real name, also when it runs as __main__
    prefix = save_checkpoint(model, arch, kwargs, data.spec, out / "conv", training={"log": log[-1:], "dataset": args.dataset})
    mine = f"agents.proxy.bidder:TorchProxyBidder?path={prefix}&arch={arch}"  # the spec (code) vouches for the class
    print(f"checkpoint {prefix}.pt/.json; its leaderboard spec: {mine}")
    if args.tracks == "none":
        return

    run_track([mine, DEFAULT_PROXY], "caiso-sp15", "test", out / "proxy-track", args.limit, batch=args.batch,
              overwrite=args.overwrite)
    if args.tracks == "static":
        return
    suite = {"name": "conv-proxy", "config": "caiso-sp15", "split": "test", "seeds": [0], "entries": [
        {"name": "conv-proxy+mpc", "da_bidder": mine, "rt_policy": "baselines.mpc:MPCPolicy"},
        {"name": "forecast-lp+mpc", "da_bidder": "baselines.reference:ForecastLP", "rt_policy": "baselines.mpc:MPCPolicy"},
    ]}
    (out / "suite.json").write_text(json.dumps(suite, indent=1) + "\n")
    leaderboard.main(["--suite", str(out / "suite.json"), "--out", str(out / "closed-loop")]
                     + (["--limit", str(args.limit)] if args.limit else []) + (["--overwrite"] if args.overwrite else []))


if __name__ == "__main__":
    main()
