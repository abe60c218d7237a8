"""Every runnable module (``python -m X``) answers ``--help`` without doing its work, and every
option it takes says what it is."""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = sorted(
    ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__main__")
    for package in ("bessgym", "baselines", "agents", "benchmarks")
    for path in (REPO / package).rglob("*.py")
    if 'if __name__ == "__main__"' in path.read_text() or path.name == "__main__.py"
)


class _Parsed(Exception):
    """Raised in place of parsing, carrying the parser that was about to parse."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser


def test_the_scripts_are_found():
    assert {"bessgym", "benchmarks.leaderboard", "agents.ppo.train", "agents.proxy.train"} <= set(SCRIPTS)


@pytest.mark.filterwarnings("ignore:.*found in sys.modules:RuntimeWarning")  # run again as __main__, on purpose
@pytest.mark.parametrize("module", SCRIPTS)
def test_every_option_has_a_help_text(module, monkeypatch):
    def capture(self, args=None, namespace=None):
        raise _Parsed(self)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", capture)
    monkeypatch.setattr(sys, "argv", [module, "--help"])
    with pytest.raises(_Parsed) as parsed:
        runpy.run_module(module, run_name="__main__", alter_sys=False)
    parser = parsed.value.parser
    assert parser.description, f"python -m {module} has no description"
    assert not _undocumented(parser), f"python -m {module}: options without a help text: {_undocumented(parser)}"


def _undocumented(parser: argparse.ArgumentParser, prefix: str = "") -> list[str]:
    """The options and positionals of ``parser`` and its sub-commands that have no help text."""
    missing = []
    for action in parser._actions:
        name = prefix + "/".join(action.option_strings or [action.dest])
        if action.help in (None, "") and not isinstance(action, argparse._HelpAction):
            missing.append(name)
        if isinstance(action, argparse._SubParsersAction):
            for command, sub in action.choices.items():
                missing += _undocumented(sub, f"{prefix}{command} ")
    return missing
