"""Command-line conventions shared by the project's scripts (the leaderboard, the ML4OPT tools)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def number(kind: type[int] | type[float], at_least: float | None = None, above: float | None = None,
           below: float | None = None) -> Callable[[str], int | float]:
    """An argparse ``type``: ``kind`` (int or float, finite) within the bounds given."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        for bound, fails, words in ((at_least, lambda b: value < b, "at least"), (above, lambda b: value <= b, "above"),
                                    (below, lambda b: value >= b, "below")):
            if bound is not None and fails(bound):
                raise argparse.ArgumentTypeError(f"must be {words} {bound}, got {text!r}")
        return value

    parse.__name__ = kind.__name__
    return parse
