"""The command-line conventions of the ML4OPT scripts (``agents.proxy.dataset``, ``.instances``,
``.train``, ``benchmarks.examples.conv_proxy``): options made from a config model's fields
(:func:`add_fields`), numeric options range-checked by argparse, no
earlier output replaced without ``--overwrite``, and bad input (a missing file, an unknown
config or split, an output that exists) said in one line, ``error: ...``, exit status 2
(``--debug`` shows the traceback instead)."""

from __future__ import annotations

import argparse
import json
import sys
import typing
from collections.abc import Callable, Iterable
from pathlib import Path

import annotated_types
from pydantic import BaseModel

from bessgym.cli import number

EXIT_BAD_INPUT = 2  # argparse's status for a bad command line


def number_from(kind: type[int] | type[float], constraints: Iterable[object]) -> Callable[[str], int | float]:
    """:func:`number` with the bounds of a pydantic field's constraints (``ge``, ``gt``, ``lt``)."""
    bounds: dict[str, float] = {}
    for constraint in constraints:
        if isinstance(constraint, annotated_types.Ge):
            bounds["at_least"] = constraint.ge
        elif isinstance(constraint, annotated_types.Gt):
            bounds["above"] = constraint.gt
        elif isinstance(constraint, annotated_types.Lt):
            bounds["below"] = constraint.lt
        else:
            raise TypeError(f"no command-line check for the constraint {constraint!r}")
    return number(kind, **bounds)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Adds ``(default: X)`` to an option's help where there is a default to show."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.required or action.default is None or action.default is False or action.default in ("", argparse.SUPPRESS):
            return action.help or ""
        return super()._get_help_string(action)


def add_fields(parser: argparse.ArgumentParser, model: type[BaseModel], required: Iterable[str] = ()) -> None:
    """One option ``--field-name`` per field of ``model``: its description as help, its default
    (none for the ``required`` ones), its range for a number (:func:`number_from`), its values
    for a ``Literal``, ``--name``/``--no-name`` for a bool, text otherwise."""
    required = set(required)
    for name, field in model.model_fields.items():
        options: dict = {"help": field.description}
        options.update({"required": True, "default": argparse.SUPPRESS} if name in required else {"default": field.default})
        kind = type(field.default)
        if kind is bool:
            options["action"] = argparse.BooleanOptionalAction
        elif kind in (int, float):
            options["type"] = number_from(kind, field.metadata)
        elif typing.get_origin(field.annotation) is typing.Literal:
            options["choices"] = typing.get_args(field.annotation)
        else:
            options["type"] = str
        parser.add_argument(f"--{name.replace('_', '-')}", **options)


def add_common(parser: argparse.ArgumentParser, writes: str) -> None:
    """Add ``--overwrite`` (replace ``writes``, the files the command would write) and ``--debug``."""
    parser.add_argument("--overwrite", action="store_true",
                        help=f"replace {writes} where they exist (without it the command refuses before any work)")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error instead of its one line")


def config_parser(prog: str, doc: str | None, model: type[BaseModel], required: Iterable[str], writes: str) -> argparse.ArgumentParser:
    """The parser of a command configured by ``model``: its first docstring paragraph as the
    description, one option per field (:func:`add_fields`), ``--overwrite`` and ``--debug``."""
    out = argparse.ArgumentParser(prog=prog, description=(doc or "").split("\n\n")[0], formatter_class=HelpFormatter)
    add_fields(out, model, required)
    add_common(out, writes)
    return out


def checkpoint_files(prefix: str | Path) -> list[Path]:
    """The two files of a checkpoint ``prefix``: ``prefix.pt`` and ``prefix.json``."""
    return [Path(prefix).with_suffix(suffix) for suffix in (".pt", ".json")]


def run_checkpoint_command(parser: argparse.ArgumentParser, argv: list[str] | None, model: type[BaseModel],
                           command: Callable[[typing.Any], dict]) -> None:
    """Run (:func:`run`) a command configured by ``model`` that writes the checkpoint
    ``config.out``: refused where its files exist, unless ``--overwrite``; prints the record
    ``command(config)`` returns as JSON."""
    def go(args: argparse.Namespace) -> None:
        options = vars(args)
        overwrite = options.pop("overwrite")
        config = model(**options)
        refuse_existing(checkpoint_files(config.out), overwrite)
        print(json.dumps(command(config)))

    run(parser, argv, go)


def refuse_existing(files: Iterable[str | Path], overwrite: bool) -> None:
    """FileExistsError naming those of ``files`` that exist, unless ``overwrite``."""
    there = [str(f) for f in files if Path(f).exists()]
    if there and not overwrite:
        shown = ", ".join(there[:5]) + (f" and {len(there) - 5} more" if len(there) > 5 else "")
        raise FileExistsError(f"{shown} {'exists' if len(there) == 1 else 'exist'} from an earlier run; "
                              "give another --out, or --overwrite to replace")


def run(parser: argparse.ArgumentParser, argv: list[str] | None, command: Callable[[argparse.Namespace], object]) -> None:
    """Parse ``argv`` and run ``command`` on the options (without ``debug``); a ValueError or
    OSError it raises (bad input; ConfigError, DataError and pydantic's errors included) is
    printed as one line ``error: ...`` with exit status 2, unless ``--debug``."""
    args = parser.parse_args(argv)
    debug = vars(args).pop("debug", False)
    try:
        command(args)
    except (ValueError, OSError) as exc:
        if debug:
            raise
        text = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        print(f"error: {text} (--debug shows the traceback)", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT) from None
