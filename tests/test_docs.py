"""The documentation site: `mkdocs build --strict` passes, and its worked examples print what the
pages say they print."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def test_site_builds_strict(tmp_path: Path) -> None:
    """Warnings are errors: griffe docstring warnings, unresolved cross-references, broken links
    and anchors, pages left out of the nav."""
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        pytest.importorskip(module, reason=f"{module} is not installed (the `docs` extra: pip install -e '.[docs]')")
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
         "--site-dir", str(site)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    # mkdocstrings rendered the API from the code, not an empty page
    page = (site / "environments" / "real-time" / "index.html").read_text(encoding="utf-8")
    assert 'id="bessgym.envs.real_time.RealTimeEnv"' in page
    assert "rt_price_prev" in page  # the observation table, from bessgym.observation's docstring
    assert 'id="baselines.mpc.MPCPolicy"' in (site / "api" / "baselines" / "mpc" / "index.html").read_text(encoding="utf-8")
    # the code's Sphinx roles became links (docs/_ext/sphinx_roles.py), not literal text
    settlement = (site / "api" / "settlement" / "index.html").read_text(encoding="utf-8")
    assert ":class:" not in settlement and 'href="#bessgym.settlement.DayTerms"' in settlement


EXAMPLE_PAGES = ("getting-started.md", "environments/vector.md", "neighborhood.md")


def examples(page: str) -> list[tuple[str, str]]:
    """The page's Python blocks that are followed by a ``text`` block (what they print), with no
    other code block between."""
    blocks = re.findall(r"```(\w*)\n(.*?)```", (DOCS / page).read_text(encoding="utf-8"), re.S)
    return [(code, shown) for (kind, code), (next_kind, shown) in zip(blocks, blocks[1:])
            if kind == "python" and next_kind == "text"]


@pytest.mark.parametrize("page", EXAMPLE_PAGES)
def test_examples_print_what_the_page_shows(page: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every worked example of the page, run, prints exactly the output the page shows."""
    found = examples(page)
    assert found, f"{page} lost its worked examples"
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    for code, shown in found:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, page, "exec"), {"__name__": "docs_example"})
        assert out.getvalue() == shown, code
