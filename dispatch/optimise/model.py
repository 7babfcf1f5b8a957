"""The dispatch problem: teams, visits, time windows, breaks and the travel-time matrix."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from dispatch.errors import ValidationError

#: Travel time (s) standing for "no road between these two places" (the router's bound).
UNREACHABLE_S = 10**7
#: Seconds in a day: every time is in seconds since midnight of the plan's day.
DAY_S = 86_400
Mode = Literal["car", "bike", "foot"]
MODES: tuple[str, ...] = ("car", "bike", "foot")


def hhmm(seconds: int | float) -> str:
    """``"14:05"`` for 50 700 s after midnight (days beyond the first add ``+1d``)."""
    total = int(seconds)
    days, rest = divmod(total, DAY_S)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}"
    return text + (f"+{days}d" if days else "")


@dataclass(frozen=True)
class TimeWindow:
    """A span ``[start_s, end_s]`` in which a visit may *start* (seconds since midnight)."""

    start_s: int
    end_s: int

    def __post_init__(self) -> None:
        if self.end_s < self.start_s:
            raise ValidationError(
                f"time window {hhmm(self.start_s)}-{hhmm(self.end_s)} ends before it starts: "
                "swap the two times"
            )

    def to_dict(self) -> dict[str, int]:
        return {"start_s": self.start_s, "end_s": self.end_s}


@dataclass(frozen=True)
class Break:
    """A break of ``duration_s`` lying entirely inside ``[earliest_start_s, latest_end_s]``.

    The team takes it where it is (on arrival at its next stop, or where it stands).
    """

    earliest_start_s: int
    latest_end_s: int
    duration_s: int

    def __post_init__(self) -> None:
        if self.duration_s <= 0:
            raise ValidationError("a break must last more than 0 s")
        if self.latest_end_s - self.earliest_start_s < self.duration_s:
            raise ValidationError(
                f"break of {self.duration_s // 60} min does not fit between "
                f"{hhmm(self.earliest_start_s)} and {hhmm(self.latest_end_s)}: widen the span"
            )

    @property
    def latest_start_s(self) -> int:
        return self.latest_end_s - self.duration_s

    def to_dict(self) -> dict[str, int]:
        return {
            "earliest_start_s": self.earliest_start_s,
            "latest_end_s": self.latest_end_s,
            "duration_s": self.duration_s,
        }


@dataclass(frozen=True)
class Team:
    """A team for the day: where it starts and ends, when it works, what it can do.

    ``start_location``/``end_location`` index the problem's matrix (a base or a home).
    ``fixed_visit_ids`` are visits already started or done, in order: they never move and the
    rest of the route starts after them (from ``available_location`` at ``available_from_s`` when
    the team's live position is known).
    """

    id: str
    start_location: int
    end_location: int
    shift_start_s: int
    shift_end_s: int
    skills: frozenset[str] = frozenset()
    mode: str = "car"
    breaks: tuple[Break, ...] = ()
    max_visits: int | None = None
    capacity: int | None = None
    name: str = ""
    fixed_visit_ids: tuple[str, ...] = ()
    available_location: int | None = None
    available_from_s: int | None = None
    available: bool = True
    #: Staff members in the team (a pair is 2): a two-person visit needs ``size >= 2`` or two
    #: single-person teams starting it at the same second.
    size: int = 1

    @property
    def departure_location(self) -> int:
        """Where the rest of the route leaves from: ``available_location`` once set, else the
        start of the shift."""
        if self.available_location is not None:
            return self.available_location
        return self.start_location

    def __post_init__(self) -> None:
        object.__setattr__(self, "skills", frozenset(self.skills))
        object.__setattr__(self, "breaks", tuple(self.breaks))
        object.__setattr__(self, "fixed_visit_ids", tuple(self.fixed_visit_ids))
        if not self.id:
            raise ValidationError("a team needs an id")
        if self.shift_end_s <= self.shift_start_s:
            raise ValidationError(
                f"team {self.id}: shift {hhmm(self.shift_start_s)}-{hhmm(self.shift_end_s)} "
                "ends before it starts"
            )
        if self.mode not in MODES:
            raise ValidationError(
                f"team {self.id}: vehicle profile {self.mode!r} is unknown: use car, bike or foot"
            )
        if self.max_visits is not None and self.max_visits < 0:
            raise ValidationError(f"team {self.id}: max_visits must be 0 or more")
        if self.size < 1:
            raise ValidationError(f"team {self.id}: size {self.size} must be 1 or more")
        for brk in self.breaks:
            if brk.earliest_start_s < self.shift_start_s or brk.latest_end_s > self.shift_end_s:
                raise ValidationError(
                    f"team {self.id}: break {hhmm(brk.earliest_start_s)}-{hhmm(brk.latest_end_s)} "
                    f"is outside the shift {hhmm(self.shift_start_s)}-{hhmm(self.shift_end_s)}"
                )

    @property
    def label(self) -> str:
        return self.name or self.id

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "start_location": self.start_location,
            "end_location": self.end_location,
            "shift_start_s": self.shift_start_s,
            "shift_end_s": self.shift_end_s,
            "skills": sorted(self.skills),
            "mode": self.mode,
            "breaks": [b.to_dict() for b in self.breaks],
            "max_visits": self.max_visits,
            "capacity": self.capacity,
            "fixed_visit_ids": list(self.fixed_visit_ids),
            "available_location": self.available_location,
            "available_from_s": self.available_from_s,
            "available": self.available,
            "size": self.size,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Team:
        return cls(
            id=str(d["id"]),
            name=d.get("name", ""),
            start_location=int(d["start_location"]),
            end_location=int(d.get("end_location", d["start_location"])),
            shift_start_s=int(d["shift_start_s"]),
            shift_end_s=int(d["shift_end_s"]),
            skills=frozenset(d.get("skills", ())),
            mode=d.get("mode", "car"),
            breaks=tuple(Break(**b) for b in d.get("breaks", ())),
            max_visits=d.get("max_visits"),
            capacity=d.get("capacity"),
            fixed_visit_ids=tuple(d.get("fixed_visit_ids", ())),
            available_location=d.get("available_location"),
            available_from_s=d.get("available_from_s"),
            available=d.get("available", True),
            size=int(d.get("size", 1)),
        )


@dataclass(frozen=True)
class Visit:
    """A home visit: where (matrix index), how long, when it may start, who may do it.

    ``windows`` are alternatives (the visit starts inside one of them); ``priority`` 1 (low)
    to 5 (urgent) weighs optional visits; ``preferred_team_id`` is a soft wish (continuity of
    care); ``locked_team_id`` a hard one (the coordinator committed the visit to that team).
    ``staff_count`` 2 asks for two staff present together: one team of two, or two
    single-person teams starting the visit at the same second (see
    :func:`dispatch.optimise.sync.solve_synchronised`). ``excluded_team_ids`` are teams that
    may never serve it (a staff member the patient excluded, a gender wish not met).
    """

    id: str
    location: int
    duration_s: int
    windows: tuple[TimeWindow, ...] = ()
    skills: frozenset[str] = frozenset()
    priority: int = 3
    mandatory: bool = True
    preferred_team_id: str | None = None
    locked_team_id: str | None = None
    load: int = 0
    label: str = ""
    staff_count: int = 1
    excluded_team_ids: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "skills", frozenset(self.skills))
        object.__setattr__(self, "excluded_team_ids", frozenset(self.excluded_team_ids))
        object.__setattr__(self, "windows", tuple(sorted(self.windows, key=lambda w: w.start_s)))
        if self.staff_count not in (1, 2):
            raise ValidationError(f"visit {self.id}: staff_count {self.staff_count} is not 1 or 2")
        if not self.id:
            raise ValidationError("a visit needs an id")
        if self.duration_s < 0:
            raise ValidationError(f"visit {self.id}: duration {self.duration_s} s is negative")
        if not 1 <= self.priority <= 5:
            raise ValidationError(f"visit {self.id}: priority {self.priority} is not 1 to 5")
        for a, b in zip(self.windows, self.windows[1:], strict=False):
            if b.start_s <= a.end_s:
                raise ValidationError(
                    f"visit {self.id}: time windows {hhmm(a.start_s)}-{hhmm(a.end_s)} and "
                    f"{hhmm(b.start_s)}-{hhmm(b.end_s)} overlap: merge them"
                )

    def windows_or_day(self) -> tuple[TimeWindow, ...]:
        return self.windows or (TimeWindow(0, 2 * DAY_S),)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "location": self.location,
            "duration_s": self.duration_s,
            "windows": [w.to_dict() for w in self.windows],
            "skills": sorted(self.skills),
            "priority": self.priority,
            "mandatory": self.mandatory,
            "preferred_team_id": self.preferred_team_id,
            "locked_team_id": self.locked_team_id,
            "load": self.load,
            "staff_count": self.staff_count,
            "excluded_team_ids": sorted(self.excluded_team_ids),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Visit:
        return cls(
            id=str(d["id"]),
            label=d.get("label", ""),
            location=int(d["location"]),
            duration_s=int(d["duration_s"]),
            windows=tuple(
                TimeWindow(int(w["start_s"]), int(w["end_s"])) for w in d.get("windows", ())
            ),
            skills=frozenset(d.get("skills", ())),
            priority=int(d.get("priority", 3)),
            mandatory=bool(d.get("mandatory", True)),
            preferred_team_id=d.get("preferred_team_id"),
            locked_team_id=d.get("locked_team_id"),
            load=int(d.get("load", 0)),
            staff_count=int(d.get("staff_count", 1)),
            excluded_team_ids=frozenset(str(t) for t in d.get("excluded_team_ids", ())),
        )


@dataclass(frozen=True, eq=False)
class Problem:
    """Teams, visits and travel times between the places they use (matrix indices).

    ``travel_time_s[mode]`` is a square integer matrix (seconds, :data:`UNREACHABLE_S` for no
    road) per vehicle profile; a profile missing falls back on ``"car"``. ``distance_m`` (same
    shape, optional) is reported in plans. ``objective`` is ``"travel_time"`` (field use) or
    ``"distance"`` (benchmarks). ``continuity_cost_s`` is what serving a visit by another team
    than its preferred one costs, in seconds of travel; ``overqualified_cost_s`` what serving
    it with a team holding a skill it does not need costs, per such skill (see
    :func:`overqualified_cost`).
    """

    teams: tuple[Team, ...]
    visits: tuple[Visit, ...]
    travel_time_s: dict[str, np.ndarray]
    distance_m: dict[str, np.ndarray] = field(default_factory=dict)
    objective: str = "travel_time"
    continuity_cost_s: int = 600
    overqualified_cost_s: int = 600
    now_s: int | None = None
    day: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "teams", tuple(self.teams))
        object.__setattr__(self, "visits", tuple(self.visits))
        if isinstance(self.travel_time_s, np.ndarray):
            object.__setattr__(self, "travel_time_s", {"car": self.travel_time_s})
        if isinstance(self.distance_m, np.ndarray):
            object.__setattr__(self, "distance_m", {"car": self.distance_m})
        if "car" not in self.travel_time_s:
            raise ValidationError("travel_time_s needs at least the 'car' matrix")
        matrices: dict[str, np.ndarray] = {}
        n = None
        for mode, m in self.travel_time_s.items():
            arr = np.asarray(m)
            if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
                raise ValidationError(f"travel_time_s[{mode!r}] is not a square matrix")
            if not np.issubdtype(arr.dtype, np.integer):
                raise ValidationError(
                    f"travel_time_s[{mode!r}] holds {arr.dtype}: round it to integer seconds "
                    "(np.ceil(...).astype(np.int64)) before building the problem"
                )
            if n is not None and arr.shape[0] != n:
                raise ValidationError("travel_time_s matrices have different sizes")
            n = arr.shape[0]
            matrices[mode] = np.minimum(arr.astype(np.int64), UNREACHABLE_S)
        object.__setattr__(self, "travel_time_s", matrices)
        object.__setattr__(
            self,
            "distance_m",
            {k: np.asarray(v, dtype=np.int64) for k, v in self.distance_m.items()},
        )
        if self.objective not in ("travel_time", "distance"):
            raise ValidationError(f"objective {self.objective!r}: use 'travel_time' or 'distance'")
        if self.objective == "distance" and "car" not in self.distance_m:
            raise ValidationError("objective 'distance' needs a distance_m matrix")
        assert n is not None
        team_ids: set[str] = set()
        for t in self.teams:
            if t.id in team_ids:
                raise ValidationError(f"team id {t.id!r} appears twice")
            team_ids.add(t.id)
            for loc in (t.start_location, t.end_location, t.available_location):
                if loc is not None and not 0 <= loc < n:
                    raise ValidationError(
                        f"team {t.id}: location {loc} is not in the matrix (0..{n - 1})"
                    )
        visit_ids: set[str] = set()
        for v in self.visits:
            if v.id in visit_ids:
                raise ValidationError(f"visit id {v.id!r} appears twice")
            visit_ids.add(v.id)
            if not 0 <= v.location < n:
                raise ValidationError(
                    f"visit {v.id}: location {v.location} is not in the matrix (0..{n - 1})"
                )
            if v.locked_team_id is not None and v.locked_team_id not in team_ids:
                raise ValidationError(f"visit {v.id}: locked to unknown team {v.locked_team_id!r}")
        for t in self.teams:
            for vid in t.fixed_visit_ids:
                if vid not in visit_ids:
                    raise ValidationError(
                        f"team {t.id}: started visit {vid!r} is not in the problem"
                    )

    @property
    def n_locations(self) -> int:
        return int(self.travel_time_s["car"].shape[0])

    def matrix(self, mode: str) -> np.ndarray:
        """The travel-time matrix for a vehicle profile (car if the profile has none)."""
        return self.travel_time_s.get(mode, self.travel_time_s["car"])

    def distances(self, mode: str) -> np.ndarray | None:
        return self.distance_m.get(mode, self.distance_m.get("car"))

    def team(self, team_id: str) -> Team:
        for t in self.teams:
            if t.id == team_id:
                return t
        from dispatch.errors import NotFoundError

        raise NotFoundError(f"no team {team_id!r} in this problem")

    def visit(self, visit_id: str) -> Visit:
        v = self.visits_by_id().get(visit_id)
        if v is None:
            from dispatch.errors import NotFoundError

            raise NotFoundError(f"no visit {visit_id!r} in this problem")
        return v

    def visits_by_id(self) -> dict[str, Visit]:
        cache = self.__dict__.get("_visits_by_id")
        if cache is None or len(cache) != len(self.visits):
            cache = {v.id: v for v in self.visits}
            object.__setattr__(self, "_visits_by_id", cache)
        return cache

    def with_changes(self, **changes: Any) -> Problem:
        """A copy with some fields replaced (matrices are shared, not copied)."""
        kwargs: dict[str, Any] = {
            "teams": self.teams,
            "visits": self.visits,
            "travel_time_s": self.travel_time_s,
            "distance_m": self.distance_m,
            "objective": self.objective,
            "continuity_cost_s": self.continuity_cost_s,
            "overqualified_cost_s": self.overqualified_cost_s,
            "now_s": self.now_s,
            "day": self.day,
        }
        kwargs.update(changes)
        return Problem(**kwargs)

    def cost_matrix(self, mode: str) -> np.ndarray:
        """The matrix the objective adds up (travel time, or distance for benchmarks)."""
        if self.objective == "distance":
            d = self.distances(mode)
            assert d is not None
            return d
        return self.matrix(mode)


#: Worth of a mandatory visit, times (2 + its priority) (the solver's prize, in seconds of
#: travel): more than any detour, less than a forbidden edge, and small enough next to the
#: solver's penalties that breaking a shift or a break rule never pays for one more visit.
MANDATORY_PRIZE = 20_000
#: Worth per priority level of an optional visit (seconds of travel).
OPTIONAL_PRIZE_PER_PRIORITY = 1800


def visit_worth_s(visit: Visit) -> int:
    """What serving ``visit`` is worth to the solver, in seconds of travel."""
    if visit.mandatory:
        return MANDATORY_PRIZE * (2 + visit.priority)
    return OPTIONAL_PRIZE_PER_PRIORITY * visit.priority


def overqualified_cost(problem: Problem, team: Team, visit: Visit) -> int:
    """What serving ``visit`` with ``team`` costs for the skills it holds that the visit does
    not need: ``problem.overqualified_cost_s`` each, at most a quarter of the visit's worth.

    Care aides do the hygiene visits and nurses keep their time for nursing, as services
    plan by hand: a short search otherwise fills nurses' rounds with hygiene visits while
    palliative ones find no nurse free. Haute-Corse days 0-5, 3 s, 24 runs: 460.8 visits
    served on average against 458.0 with no such cost, mandatory ones left out 19.5 against
    21.3 (900 s: 461.4; 1,200 s: 459.1; 1,000 s with no cap, which makes optional visits not
    worth a nurse's trip: 459.5).
    """
    extra = len(team.skills - visit.skills)
    if not extra or not problem.overqualified_cost_s:
        return 0
    return min(problem.overqualified_cost_s * extra, visit_worth_s(visit) // 4)


def can_serve(team: Team, visit: Visit) -> bool:
    """Whether the team has every skill the visit needs, the visit is not locked elsewhere and
    the team is not one the visit excludes."""
    if visit.locked_team_id is not None and visit.locked_team_id != team.id:
        return False
    if team.id in visit.excluded_team_ids:
        return False
    return visit.skills <= team.skills
