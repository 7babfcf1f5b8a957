"""Issue 21 items 20 and 21: one licence everywhere, and an installed (non-editable) dispatch
that serves its pages, static files and territory definitions from any folder."""

from __future__ import annotations

import re
import tomllib

from dispatch.settings import PROJECT_ROOT

PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
README = (PROJECT_ROOT / "README.md").read_text()


# --- item 21: one licence --------------------------------------------------------------------


def test_pyproject_licence_file_and_readme_agree_on_agpl() -> None:
    assert PYPROJECT["project"]["license"] == {"text": "AGPL-3.0-or-later"}
    text = (PROJECT_ROOT / "LICENSE").read_text()
    assert text.startswith("GNU AFFERO GENERAL PUBLIC LICENSE\nVersion 3, 19 November 2007")
    assert "13. Remote Network Interaction" in text and "END OF TERMS AND CONDITIONS" in text
    licence = README[README.index("## Licence") :]
    assert "AGPL-3.0-or-later" in licence
    assert not re.search(r"\bMIT\b", README), "the README still names the MIT licence"


def test_the_readme_calls_pinned_only_what_pyproject_pins() -> None:
    pins = {}
    for requirement in PYPROJECT["project"]["dependencies"]:
        match = re.match(r"([A-Za-z0-9_.\[\]-]+)\s*(==)?", requirement)
        assert match
        pins[match.group(1).split("[")[0].lower()] = bool(match.group(2))
    for line in README.splitlines():
        row = re.match(r"\| ([^|]+) \|", line)
        if not row or "(pinned)" not in row.group(1):
            continue
        names = [part.strip() for part in row.group(1).split(",")]
        marked = [n for n in names if n.endswith("(pinned)")]
        # "a, b (pinned)" reads as both pinned; "a (pinned), b" as a only.
        said = names if marked == names[-1:] else marked
        for name in said:
            name = name.removesuffix("(pinned)").strip().lower()
            assert pins.get(name), f"the README calls {name} pinned; pyproject.toml does not pin it"
