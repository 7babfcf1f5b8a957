"""Accessibility checks of the browser tests: axe-core run in the page, WCAG 2.1 A and AA rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

#: Installed by tests/install.sh (npm, kept out of git).
AXE_JS = Path(__file__).parent / ".node" / "node_modules" / "axe-core" / "axe.min.js"
#: The rules of WCAG 2.0 and 2.1, levels A and AA (axe's tags).
WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")


def check_axe(page: Any, *, context: Any = None) -> None:
    """Fail the test when axe-core finds WCAG 2.0/2.1 A or AA violations in ``page``.

    Parameters
    ----------
    page
        A Playwright page, loaded and settled (what is hidden is not checked).
    context
        What to check, in axe's terms (a CSS selector, or ``{"include": [...], "exclude":
        [...]}``); the whole document when None.
    """
    if not AXE_JS.is_file():
        pytest.fail(f"{AXE_JS} is missing: run tests/install.sh (it installs axe-core with npm)")
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE_JS))
    result = page.evaluate(
        """async ([context, tags]) => {
          const options = { runOnly: { type: "tag", values: tags }, resultTypes: ["violations"] };
          const r = await (context == null ? axe.run(document, options) : axe.run(context, options));
          return r.violations.map((v) => ({
            id: v.id, impact: v.impact, help: v.help, count: v.nodes.length,
            targets: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
          }));
        }""",
        [context, list(WCAG_TAGS)],
    )
    if result:
        lines = [
            f"- {v['id']} ({v['impact']}): {v['help']} [{v['count']} node(s): "
            + ", ".join(v["targets"])
            + "]"
            for v in result
        ]
        pytest.fail(
            f"axe-core: {len(result)} WCAG A/AA violation(s) on {page.url}\n" + "\n".join(lines),
            pytrace=False,
        )
