"""The plan: ordered stops per team with times, unassigned visits with reasons, diffs."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from dispatch.optimise.messages import render


@dataclass(frozen=True)
class Stop:
    """One stop of a route: a visit or a break (times in seconds since midnight).

    ``travel_time_s`` is the driving time from the previous place; ``wait_s`` the idle time
    before ``start_s``; a break is taken at ``location`` (where the team stands or arrives).
    """

    kind: str  # "visit" | "break"
    location: int
    arrival_s: int
    start_s: int
    departure_s: int
    travel_time_s: int = 0
    wait_s: int = 0
    distance_m: int = 0
    visit_id: str | None = None
    status: str = "planned"  # "planned" | "started" | "done"

    @property
    def service_s(self) -> int:
        return self.departure_s - self.start_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "visit_id": self.visit_id,
            "location": self.location,
            "arrival_s": self.arrival_s,
            "start_s": self.start_s,
            "departure_s": self.departure_s,
            "travel_time_s": self.travel_time_s,
            "wait_s": self.wait_s,
            "service_s": self.service_s,
            "distance_m": self.distance_m,
            "status": self.status,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Stop:
        return cls(
            kind=d["kind"],
            visit_id=d.get("visit_id"),
            location=int(d["location"]),
            arrival_s=int(d["arrival_s"]),
            start_s=int(d["start_s"]),
            departure_s=int(d["departure_s"]),
            travel_time_s=int(d.get("travel_time_s", 0)),
            wait_s=int(d.get("wait_s", 0)),
            distance_m=int(d.get("distance_m", 0)),
            status=d.get("status", "planned"),
        )


@dataclass(frozen=True)
class Route:
    """A team's day: leave ``start_location`` at ``start_s``, the stops, back at ``end_s``.

    ``geometry`` (a GeoJSON LineString) is attached by the caller with the router.
    """

    team_id: str
    start_location: int
    end_location: int
    start_s: int
    end_s: int
    stops: tuple[Stop, ...]
    end_travel_time_s: int = 0
    end_distance_m: int = 0
    geometry: dict[str, Any] | None = None

    @property
    def visit_ids(self) -> list[str]:
        return [s.visit_id for s in self.stops if s.kind == "visit" and s.visit_id is not None]

    @property
    def travel_time_s(self) -> int:
        return sum(s.travel_time_s for s in self.stops) + self.end_travel_time_s

    @property
    def distance_m(self) -> int:
        return sum(s.distance_m for s in self.stops) + self.end_distance_m

    @property
    def wait_s(self) -> int:
        return sum(s.wait_s for s in self.stops)

    @property
    def service_s(self) -> int:
        return sum(s.service_s for s in self.stops if s.kind == "visit")

    @property
    def break_s(self) -> int:
        return sum(s.service_s for s in self.stops if s.kind == "break")

    def to_dict(self) -> dict[str, Any]:
        return {
            "team_id": self.team_id,
            "start_location": self.start_location,
            "end_location": self.end_location,
            "start_s": self.start_s,
            "end_s": self.end_s,
            "stops": [s.to_dict() for s in self.stops],
            "end_travel_time_s": self.end_travel_time_s,
            "end_distance_m": self.end_distance_m,
            "travel_time_s": self.travel_time_s,
            "distance_m": self.distance_m,
            "wait_s": self.wait_s,
            "service_s": self.service_s,
            "break_s": self.break_s,
            "geometry": self.geometry,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Route:
        return cls(
            team_id=str(d["team_id"]),
            start_location=int(d["start_location"]),
            end_location=int(d["end_location"]),
            start_s=int(d["start_s"]),
            end_s=int(d["end_s"]),
            stops=tuple(Stop.from_dict(s) for s in d.get("stops", ())),
            end_travel_time_s=int(d.get("end_travel_time_s", 0)),
            end_distance_m=int(d.get("end_distance_m", 0)),
            geometry=d.get("geometry"),
        )


@dataclass(frozen=True)
class Unassigned:
    """A visit the plan does not serve, with a reason code and its parameters.

    :meth:`message` renders the reason for a coordinator (French first, English available).
    """

    visit_id: str
    code: str
    params: dict[str, Any] = field(default_factory=dict)

    def message(self, locale: str = "fr") -> str:
        return render(self.code, self.params, locale)

    def to_dict(self, locale: str = "fr") -> dict[str, Any]:
        return {
            "visit_id": self.visit_id,
            "code": self.code,
            "params": self.params,
            "message": self.message(locale),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Unassigned:
        return cls(visit_id=str(d["visit_id"]), code=d["code"], params=dict(d.get("params", {})))


@dataclass(frozen=True)
class Plan:
    """Routes for the teams and the visits left out, each with its reason."""

    routes: tuple[Route, ...]
    unassigned: tuple[Unassigned, ...] = ()
    stats: dict[str, Any] = field(default_factory=dict)

    def route(self, team_id: str) -> Route | None:
        for r in self.routes:
            if r.team_id == team_id:
                return r
        return None

    def assignment(self) -> dict[str, str]:
        """visit id -> team id for every served visit."""
        return {vid: r.team_id for r in self.routes for vid in r.visit_ids}

    def stop_of(self, visit_id: str) -> tuple[Route, int] | None:
        for r in self.routes:
            for i, s in enumerate(r.stops):
                if s.visit_id == visit_id:
                    return r, i
        return None

    def summary(self, late_s: dict[str, int] | None = None) -> dict[str, Any]:
        """Totals a coordinator compares: km, travel time, visits served, teams used."""
        used = [r for r in self.routes if r.visit_ids]
        return {
            # A two-person visit in two routes is one visit served.
            "visits_served": len({vid for r in self.routes for vid in r.visit_ids}),
            "visits_unassigned": len(self.unassigned),
            "teams_used": len(used),
            "travel_time_s": sum(r.travel_time_s for r in self.routes),
            "distance_m": sum(r.distance_m for r in self.routes),
            "wait_s": sum(r.wait_s for r in self.routes),
            "service_s": sum(r.service_s for r in self.routes),
        }

    def with_route(self, route: Route) -> Plan:
        routes = tuple(route if r.team_id == route.team_id else r for r in self.routes)
        if all(r.team_id != route.team_id for r in self.routes):
            routes = routes + (route,)
        return replace(self, routes=routes)

    def to_dict(self, locale: str = "fr") -> dict[str, Any]:
        return {
            "routes": [r.to_dict() for r in self.routes],
            "unassigned": [u.to_dict(locale) for u in self.unassigned],
            "summary": self.summary(),
            "stats": self.stats,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Plan:
        return cls(
            routes=tuple(Route.from_dict(r) for r in d.get("routes", ())),
            unassigned=tuple(Unassigned.from_dict(u) for u in d.get("unassigned", ())),
            stats=dict(d.get("stats", {})),
        )


@dataclass(frozen=True)
class Slot:
    """An appointment a coordinator can book: team, place in its route, when the visit starts.

    The visit can start anywhere in ``[start_s, latest_start_s]`` without making any other
    visit late; ``cost_s`` is the extra travel (with the continuity and skill costs) it adds
    to the plan.
    """

    team_id: str
    position: int
    start_s: int
    latest_start_s: int
    end_s: int
    cost_s: int
    extra_travel_time_s: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "team_id": self.team_id,
            "position": self.position,
            "start_s": self.start_s,
            "latest_start_s": self.latest_start_s,
            "end_s": self.end_s,
            "cost_s": self.cost_s,
            "extra_travel_time_s": self.extra_travel_time_s,
        }


@dataclass(frozen=True)
class PlanDiff:
    """What changed between two plans, team by team, for the map and the affected phones.

    ``moved`` maps visit id -> (old team or None, new team or None); ``eta_changes`` visit id ->
    (old start_s, new start_s) for visits whose planned start moved by more than a minute.
    """

    changed_team_ids: tuple[str, ...]
    moved: dict[str, tuple[str | None, str | None]]
    eta_changes: dict[str, tuple[int, int]]
    newly_unassigned: tuple[str, ...]
    newly_assigned: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not (
            self.changed_team_ids or self.moved or self.eta_changes or self.newly_unassigned
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "changed_team_ids": list(self.changed_team_ids),
            "moved": {k: list(v) for k, v in self.moved.items()},
            "eta_changes": {k: list(v) for k, v in self.eta_changes.items()},
            "newly_unassigned": list(self.newly_unassigned),
            "newly_assigned": list(self.newly_assigned),
        }


def diff_plans(old: Plan, new: Plan, *, eta_tolerance_s: int = 60) -> PlanDiff:
    """The changes from ``old`` to ``new`` (which teams to notify, which visits moved)."""
    old_assign, new_assign = old.assignment(), new.assignment()
    moved: dict[str, tuple[str | None, str | None]] = {}
    for vid in set(old_assign) | set(new_assign):
        a, b = old_assign.get(vid), new_assign.get(vid)
        if a != b:
            moved[vid] = (a, b)
    old_start = {s.visit_id: s.start_s for r in old.routes for s in r.stops if s.visit_id}
    eta: dict[str, tuple[int, int]] = {}
    for r in new.routes:
        for s in r.stops:
            if s.visit_id in old_start and abs(old_start[s.visit_id] - s.start_s) > eta_tolerance_s:
                eta[s.visit_id] = (old_start[s.visit_id], s.start_s)
    changed = set()
    old_routes = {r.team_id: r for r in old.routes}
    for r in new.routes:
        o = old_routes.get(r.team_id)
        if o is None or [s.visit_id for s in o.stops] != [s.visit_id for s in r.stops]:
            changed.add(r.team_id)
        elif any(v in eta for v in r.visit_ids):
            changed.add(r.team_id)
    for tid in old_routes:
        if new.route(tid) is None:
            changed.add(tid)
    old_un = {u.visit_id for u in old.unassigned}
    new_un = {u.visit_id for u in new.unassigned}
    return PlanDiff(
        changed_team_ids=tuple(sorted(changed)),
        moved=moved,
        eta_changes=eta,
        newly_unassigned=tuple(sorted(new_un - old_un)),
        newly_assigned=tuple(sorted(v for v in new_assign if v not in old_assign)),
    )
