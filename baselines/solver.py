"""Solving LPs with HiGHS: normalised status, a result record, time limits and fallbacks.

A solver failure never crashes a run: :func:`solve` tries HiGHS (dual simplex, then interior
point) and reports what happened in a :class:`SolveResult`; callers fall back to a safe decision
and record it.
"""

from __future__ import annotations

import enum
import os
import sys
import time
from dataclasses import dataclass, field

import highspy
import numpy as np
import scipy.sparse as sp

from bessgym.market import DABid


class SolveStatus(enum.Enum):
    OPTIMAL = "optimal"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    TIME_LIMIT = "time_limit"
    ERROR = "error"

    @property
    def ok(self) -> bool:
        return self is SolveStatus.OPTIMAL


def _construct_quietly() -> None:
    """HiGHS prints a banner to the process's stdout on its first instance; create that first
    instance with stdout pointed at /dev/null so tables printed by scripts stay clean."""
    sys.stdout.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(devnull)
        os.close(saved)


_construct_quietly()

_STATUS = {
    highspy.HighsModelStatus.kOptimal: SolveStatus.OPTIMAL,
    highspy.HighsModelStatus.kInfeasible: SolveStatus.INFEASIBLE,
    highspy.HighsModelStatus.kUnbounded: SolveStatus.UNBOUNDED,
    highspy.HighsModelStatus.kUnboundedOrInfeasible: SolveStatus.INFEASIBLE,
    highspy.HighsModelStatus.kTimeLimit: SolveStatus.TIME_LIMIT,
    highspy.HighsModelStatus.kIterationLimit: SolveStatus.TIME_LIMIT,
}


@dataclass
class LinearProgram:
    """``max c @ z + offset`` s.t. ``row_lower <= A @ z <= row_upper``, ``lower <= z <= upper``,
    and ``z[j]`` integer where ``integer[j]`` (a mixed-integer LP when any is)."""

    c: np.ndarray
    A: sp.csc_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    offset: float = 0.0
    integer: np.ndarray | None = None

    @property
    def is_mip(self) -> bool:
        return self.integer is not None and bool(np.any(self.integer))

    @property
    def shape(self) -> tuple[int, int]:
        return self.A.shape


@dataclass
class SolveResult:
    """What a solve returned: normalised status, objective (incl. offset), primal values,
    row duals, wall time, the solver that produced it and any messages on the way."""

    status: SolveStatus
    objective: float
    z: np.ndarray
    row_duals: np.ndarray
    seconds: float
    solver: str
    messages: list[str] = field(default_factory=list)


def side_by_side(lps: list[LinearProgram], shared: int, extra_cols: int = 0) -> tuple[LinearProgram, list[np.ndarray]]:
    """Scenario LPs of one shape whose first ``shared`` columns are common (a two-stage model's
    first stage), side by side: one LP maximising their mean objective (bounds of the shared
    columns from the first), with ``extra_cols`` free columns appended at the end (cost 0,
    bounds [0, 0]: the caller sets them). ``mappings[s]`` is the stacked column of each of
    scenario s's columns; scenario s's rows follow scenario s - 1's."""
    k, n_cols = len(lps), lps[0].A.shape[1]
    second = n_cols - shared
    width = shared + k * second + extra_cols
    c, lower, upper = np.zeros(width), np.zeros(width), np.zeros(width)
    lower[:shared], upper[:shared] = lps[0].lower[:shared], lps[0].upper[:shared]
    blocks, mappings = [], []
    for s, lp in enumerate(lps):
        mapping = np.concatenate([np.arange(shared), shared + s * second + np.arange(second)])
        A = lp.A.tocoo()
        blocks.append(sp.csr_matrix((A.data, (A.row, mapping[A.col])), shape=(A.shape[0], width)))
        np.add.at(c, mapping, lp.c / k)
        lower[mapping[shared:]], upper[mapping[shared:]] = lp.lower[shared:], lp.upper[shared:]
        mappings.append(mapping)
    stacked = LinearProgram(c, sp.vstack(blocks).tocsc(), np.concatenate([lp.row_lower for lp in lps]),
                            np.concatenate([lp.row_upper for lp in lps]), lower, upper,
                            sum(lp.offset for lp in lps) / k)
    return stacked, mappings


def with_rows(lp: LinearProgram, rows: sp.spmatrix, lower: np.ndarray, upper: np.ndarray) -> LinearProgram:
    """``lp`` with ``lower <= rows @ z <= upper`` appended."""
    return LinearProgram(lp.c, sp.vstack([lp.A, rows]).tocsc(), np.concatenate([lp.row_lower, lower]),
                         np.concatenate([lp.row_upper, upper]), lp.lower, lp.upper, lp.offset, lp.integer)


def decision(energy_mw: np.ndarray | None, as_mw: np.ndarray | None, result: SolveResult,
             virtual_mw: np.ndarray | None = None) -> DABid:
    """The bid a solve gives, with the solve recorded in its ``note``; the idle bid (and
    ``fallback: True``) when the solve failed."""
    note = {"solver": result.solver, "status": result.status.value, "seconds": result.seconds,
            "fallback": not result.status.ok, "messages": list(result.messages)}
    if not result.status.ok or energy_mw is None or as_mw is None:
        return DABid.idle(note)
    if virtual_mw is None:
        return DABid(energy_mw, np.maximum(as_mw, 0.0), note)
    return DABid(energy_mw, np.maximum(as_mw, 0.0), note, virtual_mw)


def to_highs_lp(lp: LinearProgram) -> highspy.HighsLp:
    A = sp.csc_matrix(lp.A)
    model = highspy.HighsLp()
    model.num_col_, model.num_row_ = A.shape[1], A.shape[0]
    model.col_cost_ = lp.c
    model.col_lower_, model.col_upper_ = lp.lower, lp.upper
    model.row_lower_, model.row_upper_ = lp.row_lower, lp.row_upper
    model.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    model.a_matrix_.start_ = A.indptr
    model.a_matrix_.index_ = A.indices
    model.a_matrix_.value_ = A.data
    model.a_matrix_.num_col_, model.a_matrix_.num_row_ = A.shape[1], A.shape[0]
    model.sense_ = highspy.ObjSense.kMaximize
    model.offset_ = lp.offset
    if lp.is_mip:
        model.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous for i in lp.integer]
    return model


_scheduler_threads: list[int] = []


def new_highs(time_limit_s: float | None = None, threads: int = 1, method: str = "choose") -> highspy.Highs:
    """A silent HiGHS instance with the given limits (``method``: choose, simplex, ipm).

    HiGHS sizes one process-wide thread pool on first use; asking for another thread count
    later resets that pool first (HiGHS refuses the run otherwise).
    """
    h = highspy.Highs()
    h.silent()
    h.setOptionValue("threads", threads)
    h.setOptionValue("solver", method)
    if time_limit_s is not None:
        h.setOptionValue("time_limit", float(time_limit_s))
    return h


def run(h: highspy.Highs, solver: str, start: float | None = None, time_limit_s: float | None = None) -> SolveResult:
    """Run a loaded HiGHS instance and read its result. ``time_limit_s`` limits this run alone:
    HiGHS's own ``time_limit`` counts the instance's total run time, so an instance solved again
    and again (a re-planning policy's) needs its limit moved on before each run."""
    start = time.perf_counter() if start is None else start
    if time_limit_s is not None:
        h.setOptionValue("time_limit", h.getRunTime() + float(time_limit_s))
    threads = h.getOptionValue("threads")[1]
    if _scheduler_threads and _scheduler_threads[0] != threads:
        highspy.Highs.resetGlobalScheduler(True)
        _scheduler_threads.clear()
    if not _scheduler_threads:
        _scheduler_threads.append(threads)
    try:
        h.run()
        status = _STATUS.get(h.getModelStatus(), SolveStatus.ERROR)
    except Exception as exc:  # a solver crash must not end the run
        return SolveResult(SolveStatus.ERROR, float("nan"), np.empty(0), np.empty(0), time.perf_counter() - start, solver, [repr(exc)])
    solution = h.getSolution()
    z = np.asarray(solution.col_value) if status.ok else np.empty(0)
    duals = np.asarray(solution.row_dual) if status.ok else np.empty(0)
    objective = h.getInfo().objective_function_value if status.ok else float("nan")
    message = [] if status.ok else [f"{solver}: {h.modelStatusToString(h.getModelStatus())}"]
    return SolveResult(status, objective, z, duals, time.perf_counter() - start, solver, message)


def dual_estimate(lp: LinearProgram, tolerance: float = 1e-3, time_limit_s: float | None = 10.0) -> SolveResult:
    """Row multipliers of HiGHS's interior point stopped at the relative optimality ``tolerance``,
    crossover off (one thread): neither the primal nor the dual is exactly feasible or optimal,
    but any multipliers bound the LP from above through the Lagrangian over a finite column box
    (a certificate, e.g. :meth:`agents.proxy.bidder_lp.BidderLP.dual_bound`). On the day LPs
    it takes 12 to 16 iterations: from about a third of a bidder's solve (the chance-constrained
    LP) to as long as it (RobustDA's, ForecastLP's)."""
    start = time.perf_counter()
    h = new_highs(time_limit_s, 1, "ipm")
    h.setOptionValue("run_crossover", "off")
    h.setOptionValue("ipm_optimality_tolerance", float(tolerance))
    h.passModel(to_highs_lp(lp))
    result = run(h, "highs-ipm", start)
    if (result.status is SolveStatus.ERROR and h.getModelStatus() == highspy.HighsModelStatus.kUnknown
            and h.getSolution().dual_valid):
        # without crossover HiGHS calls a converged interior point "unknown": its multipliers are what is wanted
        result = SolveResult(SolveStatus.OPTIMAL, float("nan"), np.empty(0), np.asarray(h.getSolution().row_dual),
                             time.perf_counter() - start, "highs-ipm", [f"interior point to {tolerance:g}, no crossover"])
    return result


def solve(lp: LinearProgram, time_limit_s: float | None = 10.0, threads: int = 1, mip_gap: float = 1e-9) -> SolveResult:
    """Solve with HiGHS simplex; on anything but optimal, retry with interior point. A
    mixed-integer LP goes to HiGHS's branch and bound, solved to the relative (and absolute, $)
    optimality gap ``mip_gap``."""
    start = time.perf_counter()
    if lp.is_mip:
        h = new_highs(time_limit_s, threads, "choose")
        h.setOptionValue("mip_rel_gap", mip_gap)
        h.setOptionValue("mip_abs_gap", mip_gap)
        h.passModel(to_highs_lp(lp))
        return run(h, "highs-mip", start)
    messages: list[str] = []
    for method in ("simplex", "ipm"):
        h = new_highs(time_limit_s, threads, method)
        h.passModel(to_highs_lp(lp))
        result = run(h, f"highs-{method}", start)
        result.messages = messages + result.messages
        if result.status.ok:
            return result
        messages = result.messages
    return result
