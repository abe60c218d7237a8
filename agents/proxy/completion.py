"""The LP vector of a DA bid: every column of ForecastLP's day LP filled the way the LP fills it.

A bid fixes ``x`` (24) and ``r`` (24 x 4). The LP's other columns then follow, row block by row
block, each read off the builder's own rows (:class:`baselines.day_lp.DayModel`), never written
a second time:

* column pairs of which at most one is positive (``xp``/``xm``, each sub-period's
  ``dis_s``/``ch_s``, ``above``/``below``) from the equality row defining their difference
  (``planned_legs``, ``power_up``/``power_dn``, ``terminal``): ``p = max(net, 0)``,
  ``q = max(-net, 0)``, what :func:`baselines.day_lp.solve_exact` returns (one member of each
  pair positive at most); pair columns no row defines (a sub-period of zero share) stay 0;
* blocks defined by a square equality system (``planned_soc`` for ``ep``, ``follow`` for ``b``,
  ``soc`` for ``e``): solved for the block given the columns already known.

So every equality row holds by construction and the inequality rows and bounds decide
feasibility. Along ``s * bid`` (s >= 0) a column is *homogeneous* (``s`` times its value: the bid,
and what positively homogeneous maps of it give, the pairs' legs among them) or at least
*affine* (solved blocks with a constant part, such as the SoC); the terminal pair, split from a
net with a constant part, is neither. *Linear* columns are the bid and what linear maps of it
give (the base point); the pairs are homogeneous but piecewise linear (:attr:`Completion.linear`,
:attr:`Completion.homogeneous`, :attr:`Completion.affine`).

:class:`Completion` builds the maps once per model (numpy) and applies them to a bid batch, numpy
or torch (float64, differentiable almost everywhere); a benchmark harness builds one from the
very LP it scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from baselines.day_lp import DayModel
from bessgym.market import HOURS, N_PRODUCTS

BID_SIZE = HOURS * (1 + N_PRODUCTS)  # x (24) and r (24 x 4): the proxy's output layout

# (defining rows, the block they solve for, or the pair of blocks they split a net between), in order
STEPS: tuple[tuple[str, str | tuple[str, str]], ...] = (
    ("planned_legs", ("xp", "xm")),
    ("planned_soc", "ep"),
    ("follow", "b"),
    ("power_up", ("dis_up", "ch_up")),
    ("power_dn", ("dis_dn", "ch_dn")),
    ("soc", "e"),
    ("terminal", ("above", "below")),
)


@dataclass(frozen=True)
class Step:
    """One completion step: ``value = const + z[source] @ W`` over the rows ``rows``; ``target``
    gets the value, or, for a pair, ``target`` gets ``max(value, 0)`` and ``partner`` ``max(-value, 0)``."""

    rows: str
    target: np.ndarray
    partner: np.ndarray | None
    source: np.ndarray
    const: np.ndarray
    W: np.ndarray


class Completion:
    """The completion maps of one built day model (see the module docstring): ``steps`` in order,
    ``bid_cols`` (the bid's columns, x then r) and the masks ``linear``, ``homogeneous``,
    ``affine`` over the model's columns."""

    def __init__(self, model: DayModel) -> None:
        lp, cols = model.lp, model.cols
        A = sp.csr_matrix(lp.A)
        self.n_cols = lp.shape[1]
        self.bid_cols = np.concatenate([cols["x"], cols["r"]])
        if len(self.bid_cols) != BID_SIZE:
            raise ValueError(f"the model has {len(self.bid_cols)} bid columns, a DA bid has {BID_SIZE}")
        known = np.zeros(self.n_cols, bool)
        known[self.bid_cols] = True
        self.linear, self.homogeneous, self.affine = known.copy(), known.copy(), known.copy()
        self.steps: list[Step] = []
        for rows_name, blocks in STEPS:
            if rows_name not in model.rows:
                continue
            rows = model.rows[rows_name]
            if np.any(lp.row_lower[rows] != lp.row_upper[rows]):
                raise ValueError(f"completion: rows {rows_name!r} must be equalities to define columns")
            sub = A[rows]
            if isinstance(blocks, str):
                target, partner = cols[blocks], None
                lead = sub[:, target].toarray()
                if lead.shape[0] != lead.shape[1] or abs(np.linalg.det(lead)) < 1e-12:
                    raise ValueError(f"completion: rows {rows_name!r} do not determine the block {blocks!r}")
                solve = np.linalg.inv(lead)
            else:
                target, partner, scale = _pair_columns(sub, cols[blocks[0]], cols[blocks[1]], rows_name)
                solve = np.diag(1.0 / scale)
            defined = np.zeros(self.n_cols, bool)
            defined[target] = True
            if partner is not None:
                defined[partner] = True
            rest = sub.tocsc()[:, ~defined]
            source = np.flatnonzero(~defined)[np.unique(rest.nonzero()[1])]
            if not known[source].all():
                raise ValueError(f"completion: rows {rows_name!r} need columns not yet filled: {np.flatnonzero(~known[source])[:5]}")
            step = Step(rows_name, target, partner, source, solve @ lp.row_lower[rows], -(solve @ sub[:, source].toarray()).T)
            self.steps.append(step)
            known |= defined
            affine = bool(self.affine[source].all())
            homogeneous = affine and bool(self.homogeneous[source].all()) and not np.any(step.const)
            self.affine[defined] = homogeneous if partner is not None else affine
            self.homogeneous[defined] = homogeneous
            self.linear[defined] = partner is None and homogeneous and bool(self.linear[source].all())
        # pair columns no row defines must be fixed at 0 by their bounds (a sub-period of zero share)
        idle = ~known & (lp.lower == 0) & (lp.upper == 0)
        if not (known | idle).all():
            names = sorted({name for name, c in cols.items() if np.any(~(known | idle)[c])})
            raise ValueError(f"completion does not know how to fill the model's columns {names}")
        for mask in (self.linear, self.homogeneous, self.affine):
            mask |= idle
        self._torch: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {}

    @torch.inference_mode(False)  # cached tensors must serve autograd later, whatever mode made them
    def _maps(self, like: np.ndarray | torch.Tensor) -> list[tuple]:
        """Each step's ``(const, W)`` as arrays of ``like``'s kind (torch tensors cached per dtype)."""
        if not isinstance(like, torch.Tensor):
            return [(s.const, s.W) for s in self.steps]
        key = str(like.dtype)
        if key not in self._torch:
            self._torch[key] = [(torch.as_tensor(s.const, dtype=like.dtype), torch.as_tensor(s.W, dtype=like.dtype))
                                for s in self.steps]
        return self._torch[key]

    def __call__(self, bid: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """The LP vectors (..., n_cols) of bids (..., 120), numpy or torch alike."""
        if bid.shape[-1] != BID_SIZE:
            raise ValueError(f"a bid has {BID_SIZE} entries (x then r), got shape {tuple(bid.shape)}")
        if isinstance(bid, torch.Tensor):
            z = bid.new_zeros(*bid.shape[:-1], self.n_cols)
        else:
            z = np.zeros((*bid.shape[:-1], self.n_cols))
        z[..., self.bid_cols] = bid
        for step, (const, W) in zip(self.steps, self._maps(bid), strict=True):
            value = const + z[..., step.source] @ W
            if step.partner is None:
                z[..., step.target] = value
            else:
                z[..., step.target] = value.clip(min=0)
                z[..., step.partner] = (-value).clip(min=0)
        return z


def _pair_columns(sub: sp.csr_matrix, first: np.ndarray, second: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of ``sub``: its column in ``first``, its column in ``second`` and the first's
    coefficient ``a`` (the second's must be ``-a``, so the row fixes ``a (p - q)``)."""
    a, b = sub[:, first].toarray(), sub[:, second].toarray()
    if np.any((a != 0).sum(1) != 1) or np.any((b != 0).sum(1) != 1):
        raise ValueError(f"completion: each row of {name!r} must hold one column of each pair block")
    p, q = first[np.abs(a).argmax(1)], second[np.abs(b).argmax(1)]
    scale = a[np.arange(len(a)), np.abs(a).argmax(1)]
    if not np.allclose(b[np.arange(len(b)), np.abs(b).argmax(1)], -scale):
        raise ValueError(f"completion: the pair columns of {name!r} must enter with opposite coefficients")
    return p, q, scale
