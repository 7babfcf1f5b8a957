"""Scenarios a planner saves from the page: one TOML file each, in a folder of the var dir."""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dispatch.errors import ConflictError, NotFoundError, ValidationError
from dispatch.planning.demand import format_hhmm
from dispatch.planning.scenario import BaseSite, Scenario, TeamGroup, scenarios_from_toml

#: How many bases one scenario may hold, and how long names and ids may be.
MAX_BASES = 60
MAX_NAME_CHARS = 120
MAX_DESCRIPTION_CHARS = 1000
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,59}$")


def slug(text: str) -> str:
    """A file-name-safe, lower-case version of a scenario name (accents dropped)."""
    import unicodedata

    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    s = re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")
    return s[:60].strip("-") or "scenario"


def parse_bases(
    items: Any, *, bbox: Sequence[float] | None = None, margin_deg: float = 0.05
) -> tuple[BaseSite, ...]:
    """Bases sent by the page (``[{id, name, lon, lat}, ...]``), checked one by one.

    ``bbox`` (west, south, east, north) refuses sites outside the territory, with ``margin_deg``
    of slack.
    """
    if not isinstance(items, list) or not items:
        raise ValidationError("bases: give a list of at least one base {id, name, lon, lat}")
    if len(items) > MAX_BASES:
        raise ValidationError(f"bases: at most {MAX_BASES} bases per scenario")
    out: list[BaseSite] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        where = f"bases[{i}]"
        if not isinstance(item, Mapping):
            raise ValidationError(f"{where}: each base is an object {{id, name, lon, lat}}")
        base_id = item.get("id")
        if not isinstance(base_id, str) or not _ID.match(base_id):
            raise ValidationError(
                f"{where}: id must be 1 to 60 letters, digits, '-', '_' or '.' (got {base_id!r})"
            )
        if base_id in seen:
            raise ValidationError(f"{where}: id {base_id!r} is used twice")
        seen.add(base_id)
        name = item.get("name", base_id)
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_CHARS:
            raise ValidationError(f"{where}: name must be 1 to {MAX_NAME_CHARS} characters")
        lon, lat = item.get("lon"), item.get("lat")
        if not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in (lon, lat)
        ):
            raise ValidationError(f"{where}: lon and lat must be numbers (degrees)")
        assert isinstance(lon, int | float) and isinstance(lat, int | float)
        if bbox is not None:
            w, s, e, n = bbox
            if not (
                w - margin_deg <= lon <= e + margin_deg and s - margin_deg <= lat <= n + margin_deg
            ):
                raise ValidationError(
                    f"{where}: base {name!r} at {lon:.4f}, {lat:.4f} is outside the territory "
                    f"({w:.3f}, {s:.3f} to {e:.3f}, {n:.3f}): place it on the map inside it"
                )
        out.append(BaseSite(base_id, name.strip(), float(lon), float(lat)))
    return tuple(out)


def with_bases(scenario: Scenario, bases: Sequence[BaseSite]) -> Scenario:
    """``scenario`` with exactly ``bases``: team groups of removed bases go, new bases get
    ``teams_per_base`` teams (when the scenario lists its teams)."""
    teams = scenario.teams
    if teams is not None:
        ids = {b.id for b in bases}
        kept = tuple(g for g in teams if g.base in ids)
        staffed = {g.base for g in kept}
        skills = frozenset(scenario.demand.skills)
        added = tuple(
            TeamGroup(b.id, scenario.teams_per_base, skills, scenario.shift)
            for b in bases
            if b.id not in staffed
        )
        teams = kept + added
    return replace(scenario, bases=tuple(bases), teams=teams)


def scenario_mapping(
    scenario: Scenario,
    *,
    name: str,
    description: str,
    bases: Sequence[BaseSite],
    territory_bases: Sequence[Any],
) -> dict[str, Any]:
    """The TOML table of ``scenario`` with ``bases``, under a new name, ready to save.

    Bases of the territory left where they are stay references (``{id = ...}``), so the saved
    scenario follows the territory's data; other bases are written with their coordinates.
    """
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_CHARS:
        raise ValidationError(f"name: give the scenario a name of 1 to {MAX_NAME_CHARS} characters")
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION_CHARS:
        raise ValidationError(f"description: at most {MAX_DESCRIPTION_CHARS} characters")
    scenario = with_bases(scenario, bases)
    known = {b.id: b for b in territory_bases}
    base_rows: list[dict[str, Any]] = []
    for b in bases:
        t = known.get(b.id)
        same = (
            t is not None and abs(float(t.lon) - b.lon) < 1e-7 and abs(float(t.lat) - b.lat) < 1e-7
        )
        if same:
            base_rows.append({"id": b.id})
        else:
            base_rows.append({"id": b.id, "name": b.name, "lon": b.lon, "lat": b.lat})
    source = scenario.source
    data: dict[str, Any] = {
        "name": name.strip(),
        "description": description.strip(),
        "territory": scenario.territory,
        "seed": scenario.seed,
        "bands_min": [b / 60 if b % 60 else b // 60 for b in scenario.bands_s],
        "service_level_target": scenario.service_level_target,
        "visits_per_team_day": scenario.visits_per_team_day,
        "teams_per_base": scenario.teams_per_base,
    }
    if source.get("shift"):
        data["shift"] = dict(source["shift"])
    if source.get("demand"):
        data["demand"] = dict(source["demand"])
    data["bases"] = base_rows
    if scenario.teams is not None:
        data["teams"] = [_team_row(g, scenario) for g in scenario.teams]
    return data


def _team_row(g: TeamGroup, scenario: Scenario) -> dict[str, Any]:
    row: dict[str, Any] = {"base": g.base, "count": g.count}
    if g.skills != frozenset(scenario.demand.skills):
        row["skills"] = sorted(g.skills)
    if g.shift != scenario.shift:
        row.update(
            start=format_hhmm(g.shift.start_s),
            end=format_hhmm(g.shift.end_s),
            lunch_min=g.shift.lunch_s / 60,
            lunch_from=format_hhmm(g.shift.lunch_from_s),
            lunch_to=format_hhmm(g.shift.lunch_to_s),
        )
    if tuple(g.days) != (0, 1, 2, 3, 4, 5, 6):
        row["days"] = list(g.days)
    return row


# ---------------------------------------------------------------- a small TOML writer
def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValidationError("numbers must be finite")
        return repr(v)
    if isinstance(v, str):
        # A JSON string is a valid TOML basic string (same escapes), non-ASCII kept as is.
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise ValidationError(f"cannot write {type(v).__name__} to TOML")


def _key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k, ensure_ascii=False)


def toml_text(data: Mapping[str, Any], *, header: str = "") -> str:
    """TOML of a table: scalars and inline tables first, then tables and arrays of tables."""
    lines = [f"# {line}" for line in header.splitlines()]
    tables: list[tuple[str, Any]] = []
    for k, v in data.items():
        if isinstance(v, Mapping) or (
            isinstance(v, list) and v and all(isinstance(x, Mapping) for x in v)
        ):
            tables.append((k, v))
        else:
            lines.append(f"{_key(k)} = {_value(v)}")
    for k, v in tables:
        rows = [v] if isinstance(v, Mapping) else v
        for row in rows:
            lines.append("")
            lines.append(f"[{_key(k)}]" if isinstance(v, Mapping) else f"[[{_key(k)}]]")
            lines.extend(f"{_key(a)} = {_value(b)}" for a, b in row.items())
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the folder of saved scenarios
@dataclass(frozen=True)
class SavedScenario:
    """One saved scenario file: its slug (file stem), name, bases and when it was saved."""

    slug: str
    name: str
    description: str
    bases: int
    saved_at: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "name": self.name,
            "description": self.description,
            "bases": self.bases,
            "saved_at": self.saved_at,
        }


class SavedScenarios:
    """The scenarios saved for one territory, one ``<slug>.toml`` each in ``folder``."""

    def __init__(self, folder: Path, territory: str) -> None:
        self.folder = Path(folder)
        self.territory = territory

    def path(self, slug_: str) -> Path:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,59}", slug_ or ""):
            raise NotFoundError(f"no saved scenario {slug_!r}")
        return self.folder / f"{slug_}.toml"

    def items(self) -> list[SavedScenario]:
        """Every readable saved scenario, newest first (a broken file is skipped)."""
        out: list[SavedScenario] = []
        if not self.folder.is_dir():
            return out
        for p in self.folder.glob("*.toml"):
            try:
                sc = self.load(p.stem)
            except (ValidationError, NotFoundError, OSError):
                continue
            out.append(
                SavedScenario(
                    p.stem, sc.name, sc.description, len(sc.bases or ()), p.stat().st_mtime
                )
            )
        return sorted(out, key=lambda s: (-s.saved_at, s.slug))

    def load(self, slug_: str) -> Scenario:
        """The saved scenario ``slug_``."""
        p = self.path(slug_)
        if not p.is_file():
            raise NotFoundError(
                f"no saved scenario {slug_!r} for {self.territory}: "
                "GET /api/planning/scenarios lists them"
            )
        return scenarios_from_toml(p.read_text(encoding="utf-8"), where=f"saved scenario {slug_}")[
            0
        ]

    def save(self, data: Mapping[str, Any], *, replace_existing: bool = False, by: str = "") -> str:
        """Write ``data`` (a scenario table) as ``<slug of its name>.toml``; return the slug.

        A scenario of the same name is replaced only with ``replace_existing``.
        """
        text = toml_text(
            data,
            header=f"Saved from the planner page{' by ' + by if by else ''} on "
            f"{time.strftime('%Y-%m-%d %H:%M', time.localtime())}.",
        )
        scenarios_from_toml(text, where="the scenario to save")  # refuse what could not be read
        s = slug(str(data["name"]))
        target = self.path(s)
        if target.exists() and not replace_existing:
            existing = self.load(s).name
            raise ConflictError(
                f"a scenario named {existing!r} is already saved: choose another name, "
                "or confirm to replace it"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".saving-", suffix=".toml")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return s

    def delete(self, slug_: str) -> None:
        """Remove the saved scenario ``slug_``."""
        p = self.path(slug_)
        if not p.is_file():
            raise NotFoundError(f"no saved scenario {slug_!r} for {self.territory}")
        p.unlink()
