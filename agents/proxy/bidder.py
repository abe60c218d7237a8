"""A trained proxy as a DA bidder, and the checkpoint format.

A checkpoint is two files: ``NAME.pt``, the module's state dict (read with
``torch.load(weights_only=True)``: tensors only, no code), and ``NAME.json``: ``arch``
(``"package.module:Class"``), ``kwargs`` (its constructor arguments), ``problem`` (the
:class:`ProblemSpec` it was trained for) and free-form records (dataset, training).

:func:`save_checkpoint` records the model's class by its importable name (:func:`importable_name`,
also when its module runs as ``__main__``) and refuses one no later process could import.

A checkpoint is data: ``arch`` must be an allowed architecture, one of the package's own
(:data:`ARCHITECTURES`) or the value of an entry point of group ``bessgym.architectures``, e.g.
``[project.entry-points."bessgym.architectures"] my-proxy = "mypkg.models:MyProxy"`` in your
package's ``pyproject.toml``, or the one the bidder's own ``arch`` argument names (a spec string
is code: it may vouch for a class, which the checkpoint must then name exactly); any other
``arch`` is refused before anything is imported or called. Spec strings::

    agents.proxy.bidder:TorchProxyBidder?name=caiso-soc                 # shipped
    agents.proxy.bidder:TorchProxyBidder?path=runs/my-proxy&fallback_gap=0.02
    agents.proxy.bidder:TorchProxyBidder?path=runs/conv&arch=mypkg.models:MyProxy

The bid is always the repaired network output (:func:`agents.proxy.repair.repair`), feasible by
construction, or the output itself for a model whose class says ``feasible = True`` (its every
output is feasible: :class:`agents.proxy.cache.SolutionCache`, the only kind allowed for the LP
of a bidder, :mod:`agents.proxy.bidder_lp`, which has no repair layer). ``refine_steps=N``
(SoC-trajectory proxies) first improves the predicted trajectories by N batched ascent steps on
the LP value of their decoded bid: a smaller gap for N times the work. With ``fallback_gap`` the
bidder also bounds its own optimality gap (:meth:`certified_gap`: the network's duals, or for a
bidder's LP an interior-point solve stopped early) and solves the day (the bidder's own solve,
or :func:`agents.proxy.problem.solve_optimum`) where that certified gap exceeds the threshold.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from agents.checkpoints import load_weights, locate
from agents.proxy.bidder_lp import BidderLP
from agents.proxy.cache import SolutionCache
from agents.proxy.decode import decoder_for
from agents.proxy.models import MLPProxy, SoCTrajectoryProxy
from agents.proxy.problem import ProblemSpec, problem_for, solve_optimum
from agents.proxy.repair import repair
from bessgym.forecast import DAContext
from bessgym.market import HOURS, N_PRODUCTS, DABid
from bessgym.policies import checked

CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"
ENTRY_POINT_GROUP = "bessgym.architectures"
ARCHITECTURES: dict[str, type[nn.Module]] = {f"{c.__module__}:{c.__qualname__}": c for c in (MLPProxy, SoCTrajectoryProxy, SolutionCache)}


def importable_name(cls: type) -> str:
    """``"package.module:Class"`` naming ``cls`` so that a later process can import it: the
    module's real name where it runs as ``__main__`` (``python -m package.module``: its
    ``__spec__.name``). A class that no import can reach (defined in a script run by path, at
    the prompt, or inside a function) is a ValueError saying what to do."""
    module, qualname = cls.__module__, cls.__qualname__
    if module == "__main__":
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        if spec is None or not spec.name or spec.name == "__main__":
            raise ValueError(f"architecture {qualname} is defined in a script run by path or at the prompt, which no later "
                             "process can import: move it into an importable module (or run the script with python -m "
                             "package.module) and save again")
        module = spec.name
    if "<locals>" in qualname:
        raise ValueError(f"architecture {module}:{qualname} is defined inside a function, which no later process can "
                         "import: define it at a module's top level")
    return f"{module}:{qualname}"


def import_class(arch: str) -> type:
    """The class ``arch`` (``"package.module:Class"``) names, imported as a later process would;
    a ValueError unless it reaches a class of that very name."""
    module, _, attr = arch.partition(":")
    try:
        found = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ValueError(f"arch {arch!r} cannot be imported ({exc}); a checkpoint must name an importable "
                         "'package.module:Class'") from None
    if not (isinstance(found, type) and importable_name(found) == arch):
        raise ValueError(f"arch {arch!r} imports as {found!r}, not as a class of that name")
    return found


def save_checkpoint(model: nn.Module, arch: str | None, kwargs: dict, spec: ProblemSpec, prefix: str | Path, **records: Any) -> Path:
    """Write ``prefix.pt`` and ``prefix.json``; returns the prefix. ``arch`` (None: the model's
    class, :func:`importable_name`) must be importable as ``package.module:Class`` and name the
    model's class; anything else is a ValueError before a file is written."""
    derived = importable_name(type(model))
    arch = derived if arch is None else arch
    if arch != derived:
        raise ValueError(f"arch {arch!r} does not name the saved model's class, {derived!r}")
    import_class(arch)
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), prefix.with_suffix(".pt"))
    meta = {"arch": arch, "kwargs": kwargs, "problem": spec.to_dict(), **records}
    prefix.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    return prefix


def load_checkpoint(name: str | None = None, path: str | Path | None = None,
                    arch: str | None = None) -> tuple[nn.Module, dict]:
    """The module (eval mode) and the JSON record of a shipped (``name``) or own (``path``)
    checkpoint; ``arch`` (from the caller's code, never from the file) vouches for one more
    architecture, accepted only if the checkpoint names exactly it."""
    meta, weights = locate(CHECKPOINTS, name, path, needs=("arch", "kwargs"))
    cls = architecture(meta.get("arch"), weights.with_suffix(".json"), vouched=arch)
    if not isinstance(meta["kwargs"], dict):
        raise ValueError(f"checkpoint record {weights.with_suffix('.json')}: kwargs must be a JSON object, "
                         f"got {type(meta['kwargs']).__name__}")
    model = cls(**meta["kwargs"])
    model.load_state_dict(load_weights(weights))
    return model.eval(), meta


def architecture(arch: Any, record: Path, vouched: str | None = None) -> type[nn.Module]:
    """The allowed ``nn.Module`` class that ``arch`` (read from the checkpoint file ``record``)
    names: the package's own, a registered entry point's, or the one the caller's code
    ``vouched`` for. The name is checked first, so only an allowed module is ever imported."""
    registered = {f"{ep.module}:{ep.attr}": ep.load for ep in entry_points(group=ENTRY_POINT_GROUP)}
    if vouched is not None:
        registered[vouched] = lambda: import_class(vouched)
    allowed = ARCHITECTURES.keys() | registered.keys()
    if not isinstance(arch, str) or arch not in allowed:
        raise ValueError(f"checkpoint {record}: arch {arch!r} is not an allowed architecture; allowed: "
                         f"{sorted(allowed)} (add yours under entry point group {ENTRY_POINT_GROUP!r}, "
                         "or name it in the bidder's arch argument)")
    if arch in ARCHITECTURES:
        return ARCHITECTURES[arch]
    cls = registered[arch]()
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ValueError(f"checkpoint {record}: arch {arch!r} is not a torch.nn.Module class")
    return cls


class TorchProxyBidder:
    """DA bidder from a proxy checkpoint: ``bid`` / ``bid_batch`` return repaired, feasible bids.

    Each bid's ``note`` records ``solver`` ("proxy", or "highs-..." where the fallback solved),
    ``seconds`` (this bid's share of the batch), ``certified_gap`` (with ``fallback_gap``) and
    ``fallback`` (False: a proxy bid never falls back to idle).
    """

    def __init__(self, name: str | None = None, path: str | None = None, fallback_gap: float | None = None,
                 time_limit_s: float = 10.0, refine_steps: int = 0, arch: str | None = None) -> None:
        refine_steps = int(checked("refine_steps", refine_steps, at_least=0, whole=True))
        if fallback_gap is not None:
            fallback_gap = checked("fallback_gap (a relative gap, 0.02 is 2%)", fallback_gap, at_least=0)
        time_limit_s = checked("time_limit_s", time_limit_s, above=0)
        self.model, self.meta = load_checkpoint(name, path, arch)
        if not isinstance(self.meta.get("problem"), dict):
            raise ValueError(f"checkpoint {name or path}: its record has no 'problem' object (the ProblemSpec it was trained for)")
        self.problem = problem_for(ProblemSpec.from_dict(self.meta["problem"]))
        self.feasible = bool(getattr(self.model, "feasible", False))
        if isinstance(self.problem, BidderLP):
            if not self.feasible:
                raise ValueError(f"checkpoint {name or path} imitates {self.problem.spec.bidder}'s LP, for which no repair layer "
                                 "exists (they cover ForecastLP's LP at the reserve multiple 1): its model must return feasible "
                                 "bids and say so with a class attribute feasible = True, as agents.proxy.cache:SolutionCache does")
            if self.meta.get("lp_sha256") != self.problem.fingerprint:
                raise ValueError(f"checkpoint {name or path} was made on another LP than {self.problem.spec.bidder}'s LP of today "
                                 "(its lp_sha256 differs: the LP builder or the bidder's arguments changed), so its plans may not "
                                 "be feasible: rebuild it (python -m agents.proxy.dataset --bidder NAME, then python -m "
                                 "agents.proxy.cache)")
        if refine_steps and not (hasattr(self.model, "trajectory") and hasattr(self.model, "decoder")):
            raise ValueError(f"refine_steps needs a SoC-trajectory proxy (trajectory() and decoder); {self.meta['arch']} is not one")
        self.refine_steps = refine_steps
        needs = "value" if isinstance(self.problem, BidderLP) else "duals"
        if fallback_gap is not None and not hasattr(self.model, needs):
            raise ValueError(f"fallback_gap needs a proxy with a {needs}() method; {self.meta['arch']} has none")
        self.fallback_gap = fallback_gap
        self.time_limit_s = time_limit_s
        self.dtype = next(iter(self.model.parameters()), torch.zeros(())).dtype

    def raw(self, theta: np.ndarray | torch.Tensor) -> torch.Tensor:
        """The network's unrepaired bids (B, 120)."""
        with torch.inference_mode():
            return self.model(torch.as_tensor(theta, dtype=self.dtype))

    def predict(self, theta: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Repaired bids (B, 120), float64, for parameter vectors (B, P); with ``refine_steps``
        the predicted trajectories are first improved (:meth:`HourlyDecoder.refine`)."""
        theta = torch.as_tensor(theta)
        if self.feasible:
            with torch.inference_mode():
                return self.model(theta.to(self.dtype)).double()
        if self.refine_steps:
            with torch.no_grad():
                trajectory = self.model.trajectory(theta.to(self.dtype))
            trajectory = self.model.decoder.refine(theta, trajectory, self.refine_steps)
            with torch.inference_mode():
                return repair(self.problem, self.model.decoder(theta, trajectory))
        with torch.inference_mode():
            return repair(self.problem, self.model(theta.to(self.dtype)))

    def certified_gap(self, theta: torch.Tensor, bids: torch.Tensor) -> torch.Tensor:
        """``(dual bound - bid objective) / |dual bound|`` (B,): at least the true relative gap.

        For a bidder's LP the objective is the value of the model's plan (``value(theta)``) and
        the bound comes from an interior-point solve stopped early (:meth:`BidderLP.certify`:
        any multipliers give a valid bound). Otherwise the bound is the tighter of two, both
        valid for any of the network's duals: the Lagrangian over the variable box
        (:meth:`ProxyProblem.dual_bound`, all rows relaxed) and the hourly decomposition
        (:meth:`HourlyDecoder.dual_bound`, only the coupling rows relaxed)."""
        if isinstance(self.problem, BidderLP):
            theta = np.asarray(theta, dtype=float)
            with torch.inference_mode():
                value = self.model.value(torch.as_tensor(theta)).double().numpy()
            bound = np.array([self.problem.certify(t)[0] for t in theta])
            return torch.as_tensor((bound - value) / np.maximum(np.abs(bound), 1e-9))
        with torch.inference_mode():
            theta = torch.as_tensor(theta, dtype=torch.float64)
            value = self.problem.objective(theta, self.problem.complete(bids))
            duals = self.model.duals(theta.to(self.dtype)).to(torch.float64)
            decoder = decoder_for(self.problem)
            bound = torch.minimum(self.problem.dual_bound(theta, duals), decoder.dual_bound(theta, duals[:, decoder.coupling]))
            return (bound - value) / bound.abs().clamp(min=1e-9)

    def bid_batch(self, contexts: Sequence[DAContext]) -> list[DABid]:
        start = time.perf_counter()
        theta = np.stack([self.problem.params(ctx) for ctx in contexts])
        bids = self.predict(theta)
        gaps = self.certified_gap(theta, bids).numpy() if self.fallback_gap is not None else np.full(len(theta), np.nan)
        share = (time.perf_counter() - start) / len(theta)
        out = []
        for i, b in enumerate(bids.numpy()):
            note = {"solver": "proxy", "status": "optimal", "seconds": share, "fallback": False, "messages": []}
            if self.fallback_gap is not None:
                note["certified_gap"] = float(gaps[i])
                if gaps[i] > self.fallback_gap:
                    model = self.problem.model(theta[i])
                    result = (self.problem.bidder.solve(model) if isinstance(self.problem, BidderLP)
                              else solve_optimum(model, self.time_limit_s))
                    message = f"certified gap {gaps[i]:.2%} > {self.fallback_gap:.2%}: solved with {result.solver}"
                    if result.status.ok:
                        bid = model.decision(result)
                        bid.note.update(certified_gap=float(gaps[i]), seconds=share + result.seconds,
                                        messages=[message, *bid.note["messages"]])
                        out.append(bid)
                        continue
                    note["messages"] = [message, f"{result.solver} {result.status.value}: kept the proxy bid"]
            out.append(DABid(b[:HOURS].copy(), np.maximum(b[HOURS:], 0.0).reshape(HOURS, N_PRODUCTS), note))
        return out

    def bid(self, ctx: DAContext) -> DABid:
        return self.bid_batch([ctx])[0]
