"""A griffe extension for the docs: the code's Sphinx roles (``:class:`~bessgym.sim.DaySimulator```,
``:func:`advance```, ``:mod:``, ``:data:``, ``:attr:``, ``:meth:``, ``:exc:``) become mkdocs-autorefs
links in the rendered API.

A role's target is resolved from the docstring's own scope first (its object, then the enclosing
classes and module), then as a full path. The link is optional: a target the site does not
render shows as code without a link, never as a build warning.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:class|func|mod|data|attr|meth|exc|obj):`(~?)([\w.]+)`")


def _resolve(scope: griffe.Object, name: str) -> str:
    """The full path of ``name`` seen from ``scope``, or ``name`` itself when nothing matches."""
    head, _, rest = name.partition(".")
    node: griffe.Object | None = scope
    while node is not None:
        if head in node.members:
            member = node.members[head]
            path = member.target_path if member.is_alias else member.path
            return f"{path}.{rest}" if rest else path
        node = node.parent
    return name


def _link(scope: griffe.Object, match: re.Match[str]) -> str:
    short, name = match.groups()
    identifier = _resolve(scope, name)
    title = name.rsplit(".", 1)[-1] if short else name
    return f'<autoref identifier="{identifier}" optional><code>{title}</code></autoref>'


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles in every docstring of a loaded package."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        stack: list[griffe.Object] = [pkg]
        while stack:
            obj = stack.pop()
            if obj.docstring is not None and ":" in obj.docstring.value:
                scope = obj if obj.is_class or obj.is_module else (obj.parent or obj)
                obj.docstring.value = ROLE.sub(lambda m, s=scope: _link(s, m), obj.docstring.value)
            stack.extend(member for member in obj.members.values() if not member.is_alias)
