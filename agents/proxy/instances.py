"""Fixed train/val/test instance files of the DA LP, and their export for other solvers.

    python -m agents.proxy.instances splits --config caiso-sp15 --out data/da-lp
    python -m agents.proxy.instances export data/da-lp/test.npz --out data/da-lp/export --mps

``splits`` writes ``OUT/train.npz``, ``OUT/val.npz`` and ``OUT/test.npz``: every usable day of the
config's split of that name, as a bidder sees it at gate closure (no perturbed, mixed or
synthetic instances: :mod:`agents.proxy.dataset` makes those), solved with HiGHS on one thread.
The files follow the instance schema of :mod:`agents.proxy.dataset` (``theta``, ``primal``,
``dual``, ``objective``, ``status``, ids and a ``meta`` record); the same command gives the same
arrays (all but ``solve_seconds``).

``export`` writes, for an instance file, the very LP each instance is (the one
:func:`baselines.day_lp.build_day_model` builds, ForecastLP's at reserve multiple 1), in two
forms:

* ``lp``: the LP as built, continuous; its optimum is the file's ``relaxation_objective``
  (``relaxation_primal``, ``dual``);
* ``mip``: the market's rule that at most one column of each pair (``meta["pairs"]``: a
  sub-period's discharge and charge legs, the schedule's, the terminal pair) is positive, as one
  binary per pair (:func:`baselines.day_lp.with_binaries`: ``p <= U_p on``,
  ``q <= U_q (1 - on)``); its optimum is the file's ``objective`` (``primal``).

Each form as arrays, ``OUT/<file>.<form>.npz`` (schema :data:`EXPORT_SCHEMA`)::

    maximise c[i] @ z + offset[i]  s.t.  row_lower <= A z <= row_upper,  col_lower <= z <= col_upper,
                                          z[j] integer where integrality[j]

with ``c`` (N, n) per instance, ``A`` shared (CSR: ``A_data``, ``A_indices``, ``A_indptr``,
``A_shape``), infinite bounds as +-inf, ``col_names``/``row_names`` (``block[i]``), ``pairs``,
``scenario_id`` and ``objective`` (the reference optimum) per instance; and with ``--mps`` one
MPS file per instance and form (HiGHS ``writeModel``; ``OBJSENSE MAX``), named
``OUT/mps/<file>/<index>_<scenario_id>.<form>.mps``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import highspy
import numpy as np
import scipy.sparse as sp

from agents.proxy import cli
from agents.proxy.dataset import SCHEMA, DatasetConfig, ProxyDataset, generate
from agents.proxy.problem import ProxyProblem, problem_for
from baselines.day_lp import DayModel, with_binaries
from baselines.solver import LinearProgram, new_highs, to_highs_lp

SPLITS = ("train", "val", "test")
FORMS = ("lp", "mip")
EXPORT_SCHEMA = "bessgym.da-lp-export/1"


def split_config(config: str, split: str, days: int = 0, time_limit_s: float = 10.0) -> DatasetConfig:
    """The generator of a fixed split file: the split's real days only (the first ``days``, 0: all)."""
    return DatasetConfig(config=config, split=split, days=days, perturbations=0, mixtures=0, synthetic_days=0,
                         time_limit_s=time_limit_s)


def write_splits(config: str, out: str | Path, splits: tuple[str, ...] = SPLITS, days: int = 0,
                 progress: bool = True, overwrite: bool = False) -> dict[str, Path]:
    """Solve and write ``OUT/<split>.npz`` for each split; returns the files. Where one exists:
    FileExistsError before any solve, unless ``overwrite``."""
    cli.refuse_existing([Path(out) / f"{split}.npz" for split in splits], overwrite)
    files = {}
    for split in splits:
        start = time.perf_counter()
        data = generate(split_config(config, split, days), progress)
        files[split] = data.save(Path(out) / f"{split}.npz")
        print(f"{split}: {len(data)} instances ({int((data.status == 'optimal').sum())} optimal) in "
              f"{time.perf_counter() - start:.0f} s, {files[split].stat().st_size / 1e6:.2f} MB -> {files[split]}")
    return files


def names(model: DayModel, form: str) -> tuple[np.ndarray, np.ndarray]:
    """Column and row names (``block[i]``) of an instance's LP in ``form``; the binaries of the
    ``mip`` form are ``on[j]`` (pair j), their rows ``pair_first[j]`` and ``pair_second[j]``."""
    cols = [f"{name}[{i}]" for name, idx in model.cols.items() for i in range(len(idx))]
    rows = [f"{name}[{i}]" for name, idx in model.rows.items() for i in range(len(idx))]
    if form == "mip":
        n = len(model.pairs)
        cols += [f"on[{j}]" for j in range(n)]
        rows += [f"pair_first[{j}]" for j in range(n)] + [f"pair_second[{j}]" for j in range(n)]
    return np.array(cols), np.array(rows)


def instance_lp(problem: ProxyProblem, theta: np.ndarray, form: str) -> tuple[DayModel, LinearProgram]:
    """The builder's model of one instance and its LP in ``form`` (``lp`` or ``mip``)."""
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    model = problem.model(theta)
    return model, model.lp if form == "lp" else with_binaries(model.lp, model.pairs)


def lp_arrays(data: ProxyDataset, form: str, limit: int | None = None) -> dict[str, np.ndarray]:
    """The (c, A, bounds) arrays of the first ``limit`` instances of ``data`` (all: None) in
    ``form``; A, the row and column bounds and the integrality are shared, and checked to be."""
    problem = problem_for(data.spec)
    theta = data.theta[:limit]
    model, first = instance_lp(problem, theta[0], form)
    A = sp.csr_matrix(first.A)
    c, offset = np.empty((len(theta), first.A.shape[1])), np.empty(len(theta))
    for i, t in enumerate(theta):
        lp = first if i == 0 else instance_lp(problem, t, form)[1]
        if (abs(sp.csr_matrix(lp.A) - A)).nnz or not all(
                np.array_equal(getattr(lp, k), getattr(first, k)) for k in ("row_lower", "row_upper", "lower", "upper")):
            raise ValueError(f"instance {i} ({data.scenario_id[i]}) has its own constraints: the export shares them")
        c[i], offset[i] = lp.c, lp.offset
    col_names, row_names = names(model, form)
    integer = first.integer if first.integer is not None else np.zeros(A.shape[1], bool)
    reference = data.relaxation_objective if form == "lp" else data.objective
    meta = {"schema": EXPORT_SCHEMA, "form": form, "sense": "maximize", "instances": SCHEMA,
            "objective": "relaxation_objective" if form == "lp" else "objective", "problem": data.spec.to_dict()}
    return {"c": c, "offset": offset, "A_data": A.data, "A_indices": A.indices, "A_indptr": A.indptr,
            "A_shape": np.array(A.shape), "row_lower": first.row_lower, "row_upper": first.row_upper,
            "col_lower": first.lower, "col_upper": first.upper, "integrality": integer.astype(bool),
            "col_names": col_names, "row_names": row_names, "pairs": model.pairs, "scenario_id": data.scenario_id[:limit],
            "objective": reference[:limit], "meta": np.array(json.dumps(meta))}


def write_mps(lp: LinearProgram, col_names: np.ndarray, row_names: np.ndarray, path: str | Path) -> Path:
    """``lp`` as an MPS file (HiGHS's writer), with its names."""
    highs_lp = to_highs_lp(lp)
    highs_lp.col_names_, highs_lp.row_names_ = list(col_names), list(row_names)
    h = new_highs()
    h.passModel(highs_lp)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if h.writeModel(str(path)) != highspy.HighsStatus.kOk:
        raise OSError(f"HiGHS could not write {path}")
    return path


def export(file: str | Path, out: str | Path, forms: tuple[str, ...] = FORMS, mps: bool = False,
           limit: int | None = None, overwrite: bool = False) -> list[Path]:
    """Write the arrays of every form (and with ``mps`` the MPS files) of the first ``limit``
    instances of an instance file; returns the files written. Where those files exist (for the
    MPS files: any of the forms' in ``OUT/mps/<file>/``): FileExistsError before anything is
    written, unless ``overwrite``, which also removes the earlier MPS files of the forms."""
    file, out = Path(file), Path(out)
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1 (or None: all instances), got {limit}")
    data = ProxyDataset.load(file)
    problem = problem_for(data.spec)
    folder = out / "mps" / file.stem
    earlier_mps = sorted(p for form in forms for p in folder.glob(f"*.{form}.mps")) if mps else []
    cli.refuse_existing([*(out / f"{file.stem}.{form}.npz" for form in forms), *earlier_mps], overwrite)
    for path in earlier_mps:  # a shorter --limit must not leave the earlier run's files among the new
        path.unlink()
    written = []
    for form in forms:
        target = out / f"{file.stem}.{form}.npz"
        target.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(target, **lp_arrays(data, form, limit))
        written.append(target)
        if mps:
            for i, (theta, sid) in enumerate(zip(data.theta[:limit], data.scenario_id[:limit], strict=True)):
                model, lp = instance_lp(problem, theta, form)
                written.append(write_mps(lp, *names(model, form), folder / f"{i:05d}_{sid}.{form}.mps"))
    return written


def parser() -> argparse.ArgumentParser:
    out = argparse.ArgumentParser(prog="python -m agents.proxy.instances", description=__doc__.splitlines()[0],
                                  formatter_class=argparse.RawDescriptionHelpFormatter, epilog="\n\n".join(__doc__.split("\n\n")[1:3]))
    commands = out.add_subparsers(dest="command", required=True, metavar="{splits,export}",
                                  help="splits: write the fixed split files; export: write them for other solvers")
    fmt = cli.HelpFormatter
    splits = commands.add_parser("splits", help="solve the config's train/val/test days and write OUT/<split>.npz",
                                 formatter_class=fmt, description="Solve every usable day of each split and write OUT/<split>.npz "
                                 f"(instance schema {SCHEMA}).")
    splits.add_argument("--config", default="caiso-sp15", help="preset name or config file (the days, battery and market)")
    splits.add_argument("--out", required=True, help="folder for the split files")
    splits.add_argument("--splits", nargs="+", choices=SPLITS, default=list(SPLITS), help="which splits to write")
    splits.add_argument("--days", type=cli.number(int, at_least=0), default=0,
                        help="only each split's first N days (0: all of them)")
    cli.add_common(splits, "the split files")
    exporter = commands.add_parser("export", help="write an instance file's LPs as (c, A, bounds) arrays and MPS files",
                                   formatter_class=fmt, description=f"Write an instance file's LPs as arrays (schema {EXPORT_SCHEMA}) "
                                   "and, with --mps, MPS files.")
    exporter.add_argument("file", help="an instance file (.npz) or dataset folder")
    exporter.add_argument("--out", required=True, help="folder for FILE.<form>.npz and mps/FILE/<index>_<scenario_id>.<form>.mps")
    exporter.add_argument("--forms", nargs="+", choices=FORMS, default=list(FORMS),
                          help="lp: the LP as built (optimum: relaxation_objective); mip: one binary per column pair "
                          "(optimum: objective)")
    exporter.add_argument("--mps", action="store_true", help="also write one MPS file per instance and form (about 0.25 MB each)")
    exporter.add_argument("--limit", type=cli.number(int, at_least=1), help="only the file's first N instances (default: all)")
    cli.add_common(exporter, "the forms' array files (and, with --mps, their earlier MPS files)")
    return out


def main(argv: list[str] | None = None) -> None:
    cli.run(parser(), argv, _main)


def _main(args: argparse.Namespace) -> None:
    if args.command == "splits":
        write_splits(args.config, args.out, tuple(args.splits), args.days, overwrite=args.overwrite)
        return
    start = time.perf_counter()
    written = export(args.file, args.out, tuple(args.forms), args.mps, args.limit, args.overwrite)
    size = sum(p.stat().st_size for p in written) / 1e6
    print(f"{len(written)} files, {size:.1f} MB in {time.perf_counter() - start:.0f} s -> {args.out}")


if __name__ == "__main__":
    main()
