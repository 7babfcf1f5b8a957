"""Planning scenarios read from TOML: bases, teams, shifts and demand, with variants to compare.

A scenario file describes one base scenario and optional ``[[variants]]`` that each change a
few keys of it (``bases``, ``add_bases``, ``teams``, ``teams_per_base``, ``shift``, ``demand``
(merged key by key), ``name``, ``description``). Example::

    name = "Haute-Corse : bases actuelles"
    territory = "haute-corse"
    seed = 1
    teams_per_base = 2              # when [[teams]] is absent: this many teams at every base

    [shift]                         # default shift of every team
    start = "07:30"
    end = "16:30"
    lunch_min = 45                  # a lunch break taken between lunch_from and lunch_to
    lunch_from = "12:00"
    lunch_to = "14:00"

    [demand]                        # see dispatch.planning.demand for every key
    rate_per_1000_per_day = 0.4

    [[variants]]
    name = "Une base de plus à Ghisonaccia"
    add_bases = [{ id = "ghisonaccia", name = "Ghisonaccia", lon = 9.405, lat = 42.016 }]

``bases`` absent means the territory's own bases; an entry naming only ``id`` refers to one of
them, an entry with ``lon``/``lat`` is a new site. ``[[teams]]`` entries are
``{ base, count, skills, start, end, days }`` (``days``: 0 = Monday .. 6 = Sunday).
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dispatch.errors import NotFoundError, ValidationError
from dispatch.planning.coverage import DEFAULT_BANDS_S, validate_bands
from dispatch.planning.demand import DemandModel, parse_hhmm

ALL_DAYS: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)
#: Base id standing for "every base of the territory" (``add_bases`` without ``bases``).
TERRITORY_BASES = "*"

_TOP_KEYS = {
    "name",
    "description",
    "territory",
    "seed",
    "bases",
    "add_bases",
    "teams",
    "teams_per_base",
    "shift",
    "demand",
    "bands_min",
    "service_level_target",
    "visits_per_team_day",
    "variants",
}


@dataclass(frozen=True)
class BaseSite:
    """A place teams start from and come back to."""

    id: str
    name: str
    lon: float
    lat: float


@dataclass(frozen=True)
class Shift:
    """Working hours of a team, with an optional lunch break somewhere in a span."""

    start_s: int = 7 * 3600 + 1800
    end_s: int = 16 * 3600 + 1800
    lunch_s: int = 45 * 60
    lunch_from_s: int = 12 * 3600
    lunch_to_s: int = 14 * 3600

    def __post_init__(self) -> None:
        if self.end_s <= self.start_s:
            raise ValidationError("[shift]: end must come after start")
        if self.lunch_s and not (
            self.start_s <= self.lunch_from_s
            and self.lunch_to_s <= self.end_s
            and self.lunch_to_s - self.lunch_from_s >= self.lunch_s
        ):
            raise ValidationError(
                "[shift]: the lunch span must lie inside the shift and be at least lunch_min long"
            )

    @property
    def paid_s(self) -> int:
        """Shift length less the lunch break."""
        return self.end_s - self.start_s - self.lunch_s

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], base: Shift | None = None) -> Shift:
        base = base or cls()
        known = {"start", "end", "lunch_min", "lunch_from", "lunch_to"}
        if set(data) - known:
            raise ValidationError(f"[shift]: unknown key(s) {sorted(set(data) - known)}")
        return cls(
            start_s=parse_hhmm(data["start"]) if "start" in data else base.start_s,
            end_s=parse_hhmm(data["end"]) if "end" in data else base.end_s,
            lunch_s=int(float(data["lunch_min"]) * 60) if "lunch_min" in data else base.lunch_s,
            lunch_from_s=parse_hhmm(data["lunch_from"])
            if "lunch_from" in data
            else base.lunch_from_s,
            lunch_to_s=parse_hhmm(data["lunch_to"]) if "lunch_to" in data else base.lunch_to_s,
        )


@dataclass(frozen=True)
class TeamGroup:
    """``count`` identical teams working from one base."""

    base: str
    count: int
    skills: frozenset[str]
    shift: Shift
    days: tuple[int, ...] = ALL_DAYS

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValidationError(f"teams at {self.base}: count must be 0 or more")
        if any(d not in ALL_DAYS for d in self.days):
            raise ValidationError(f"teams at {self.base}: days are 0 (Monday) to 6 (Sunday)")


@dataclass(frozen=True)
class Scenario:
    """One way of organising the teams, to simulate and compare."""

    name: str
    territory: str
    description: str = ""
    seed: int = 0
    bases: tuple[BaseSite, ...] | None = None
    teams: tuple[TeamGroup, ...] | None = None
    teams_per_base: int = 2
    shift: Shift = field(default_factory=Shift)
    demand: DemandModel = field(default_factory=DemandModel)
    bands_s: tuple[int, ...] = DEFAULT_BANDS_S
    service_level_target: float = 0.95
    visits_per_team_day: float = 8.0
    source: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.name:
            raise ValidationError("a scenario needs a name")
        if not 0 < self.service_level_target <= 1:
            raise ValidationError("service_level_target must be in (0, 1], for example 0.95")
        if self.teams_per_base < 0:
            raise ValidationError("teams_per_base must be 0 or more")

    def resolve_bases(self, territory_bases: Sequence[Any]) -> tuple[BaseSite, ...]:
        """The scenario's bases, using the territory's own when the scenario names none."""
        known = {b.id: BaseSite(b.id, b.name, float(b.lon), float(b.lat)) for b in territory_bases}
        if self.bases is None:
            if not known:
                raise ValidationError(
                    f"scenario {self.name!r}: the territory has no bases; list [[bases]] in the file"
                )
            return tuple(known.values())
        out: list[BaseSite] = []
        for b in self.bases:
            if b.id == TERRITORY_BASES:
                out.extend(known.values())
            elif b.id in known and (b.lon != b.lon):  # NaN: reference to a territory base
                out.append(known[b.id])
            elif b.lon != b.lon:
                raise NotFoundError(
                    f"scenario {self.name!r}: base {b.id!r} is not a base of the territory "
                    f"(known: {', '.join(sorted(known))}); give lon and lat for a new site"
                )
            else:
                out.append(b)
        return tuple(out)

    def resolve_teams(self, bases: Sequence[BaseSite]) -> tuple[TeamGroup, ...]:
        """The scenario's team groups (``teams_per_base`` at every base when none are listed)."""
        ids = {b.id for b in bases}
        if self.teams is None:
            skills = frozenset(self.demand.skills)
            return tuple(TeamGroup(b.id, self.teams_per_base, skills, self.shift) for b in bases)
        for g in self.teams:
            if g.base not in ids:
                raise ValidationError(
                    f"scenario {self.name!r}: teams based at {g.base!r}, which is not one of the "
                    f"scenario's bases ({', '.join(sorted(ids))})"
                )
        return self.teams

    def teams_at(self, bases: Sequence[BaseSite]) -> list[int]:
        """Number of teams at each base (in the order of ``bases``), over all groups."""
        counts = dict.fromkeys((b.id for b in bases), 0)
        for g in self.resolve_teams(bases):
            counts[g.base] += g.count
        return [counts[b.id] for b in bases]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (for reports and the planner page)."""
        return {
            "name": self.name,
            "territory": self.territory,
            "description": self.description,
            "seed": self.seed,
            "teams_per_base": self.teams_per_base,
            "bands_s": list(self.bands_s),
            "service_level_target": self.service_level_target,
            "visits_per_team_day": self.visits_per_team_day,
            "demand": self.demand.to_dict(),
            "source": self.source,
        }


def _base_site(entry: Any, where: str) -> BaseSite:
    if isinstance(entry, str):
        return BaseSite(entry, entry, float("nan"), float("nan"))
    if not isinstance(entry, Mapping) or "id" not in entry:
        raise ValidationError(f"{where}: each base needs at least an id")
    if ("lon" in entry) != ("lat" in entry):
        raise ValidationError(f"{where}: base {entry['id']!r} needs both lon and lat")
    lon = float(entry.get("lon", float("nan")))
    lat = float(entry.get("lat", float("nan")))
    if lon == lon and not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise ValidationError(f"{where}: base {entry['id']!r} has lon/lat out of range")
    return BaseSite(str(entry["id"]), str(entry.get("name", entry["id"])), lon, lat)


def scenario_from_mapping(data: Mapping[str, Any], *, where: str = "scenario") -> Scenario:
    """A Scenario from a parsed TOML table (one scenario, variants already merged)."""
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ValidationError(
            f"{where}: unknown key(s) {sorted(unknown)} (known: {sorted(_TOP_KEYS)})"
        )
    if "territory" not in data:
        raise ValidationError(f'{where}: say which territory, e.g. territory = "haute-corse"')
    shift = Shift.from_mapping(data.get("shift", {}))
    demand = DemandModel.from_mapping(data.get("demand", {}))
    bases: list[BaseSite] | None = None
    if "bases" in data:
        bases = [_base_site(b, f"{where} [[bases]]") for b in data["bases"]]
    if "add_bases" in data:
        if bases is None:
            bases = [BaseSite(TERRITORY_BASES, TERRITORY_BASES, float("nan"), float("nan"))]
        bases += [_base_site(b, f"{where} add_bases") for b in data["add_bases"]]
    teams: list[TeamGroup] | None = None
    if "teams" in data:
        teams = []
        for i, t in enumerate(data["teams"]):
            if "base" not in t:
                raise ValidationError(f"{where} [[teams]] #{i + 1}: say at which base")
            group_shift = Shift.from_mapping(
                {
                    k: v
                    for k, v in t.items()
                    if k in ("start", "end", "lunch_min", "lunch_from", "lunch_to")
                },
                shift,
            )
            teams.append(
                TeamGroup(
                    base=str(t["base"]),
                    count=int(t.get("count", 1)),
                    skills=frozenset(t.get("skills", demand.skills)),
                    shift=group_shift,
                    days=tuple(int(d) for d in t.get("days", ALL_DAYS)),
                )
            )
    bands = validate_bands([float(m) * 60 for m in data.get("bands_min", [10, 20, 30])])
    return Scenario(
        name=str(data.get("name", "")),
        territory=str(data["territory"]),
        description=str(data.get("description", "")),
        seed=int(data.get("seed", 0)),
        bases=tuple(bases) if bases is not None else None,
        teams=tuple(teams) if teams is not None else None,
        teams_per_base=int(data.get("teams_per_base", 2)),
        shift=shift,
        demand=demand,
        bands_s=bands,
        service_level_target=float(data.get("service_level_target", 0.95)),
        visits_per_team_day=float(data.get("visits_per_team_day", 8.0)),
        source={k: v for k, v in data.items() if k != "variants"},
    )


def _merge(base: Mapping[str, Any], variant: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    out.pop("variants", None)
    for key, value in variant.items():
        if key in ("demand", "shift") and isinstance(value, Mapping):
            merged = dict(out.get(key, {}))
            merged.update(value)
            out[key] = merged
        elif key == "add_bases":
            out["add_bases"] = list(out.get("add_bases", [])) + list(value)
        else:
            out[key] = copy.deepcopy(value)
    if "description" not in variant:
        out["description"] = ""
    return out


def scenarios_from_toml(text: str, *, where: str = "scenario file") -> list[Scenario]:
    """The base scenario then each variant of a scenario file's text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(f"{where}: {exc}") from None
    out = [scenario_from_mapping(data, where=where)]
    for i, variant in enumerate(data.get("variants", [])):
        if "name" not in variant:
            raise ValidationError(f"{where} [[variants]] #{i + 1}: give it a name")
        out.append(
            scenario_from_mapping(
                _merge(data, variant), where=f"{where} variant {variant['name']!r}"
            )
        )
    names = [s.name for s in out]
    if len(set(names)) != len(names):
        raise ValidationError(f"{where}: scenario names must differ ({names})")
    return out


def load_scenarios(path: str | Path) -> list[Scenario]:
    """Scenarios of a TOML file (the base one first, then its variants)."""
    p = Path(path)
    if not p.is_file():
        raise NotFoundError(f"scenario file {p} does not exist")
    return scenarios_from_toml(p.read_text(encoding="utf-8"), where=str(p))


def with_extra_base(scenario: Scenario, site: BaseSite, territory_bases: Sequence[Any]) -> Scenario:
    """A copy of ``scenario`` with one more base (and ``teams_per_base`` teams there)."""
    bases = scenario.resolve_bases(territory_bases) + (site,)
    teams = scenario.teams
    if teams is not None:
        skills = frozenset(scenario.demand.skills)
        teams = teams + (TeamGroup(site.id, scenario.teams_per_base, skills, scenario.shift),)
    return replace(scenario, name=f"{scenario.name} + {site.name}", bases=bases, teams=teams)
