"""Store rows (teams, visits, stored plans) to a Problem and back, given travel matrices."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dispatch.optimise.insertion import TeamState, best_break_positions
from dispatch.optimise.model import DAY_S, Break, Problem, Team, TimeWindow, Visit
from dispatch.optimise.plan import Plan, Stop, Unassigned
from dispatch.optimise.schedule import Item, build_route, time_route

#: Store priority (0 routine .. 3 urgent) -> optimiser priority (1..5).
PRIORITY = {0: 2, 1: 3, 2: 4, 3: 5}
#: Visit statuses that pin a visit to its team (it happened or is happening).
FIXED_STATUSES = ("arrived", "in_progress", "done")
SKIPPED_STATUSES = ("cancelled", "missed")
#: Average speeds (km/h) for profiles the road graph has no times for.
SPEED_KMH = {"bike": 15.0, "foot": 4.5}


def default_breaks(shift_start_s: int, shift_end_s: int) -> tuple[Break, ...]:
    """The break a shift gets when the team has none set (French labour rule of thumb).

    Over six hours of work: 45 min for the meal between 12:00 and 14:30 when the shift spans
    it, else 20 min in the middle third of the shift.
    """
    length = shift_end_s - shift_start_s
    if length <= 6 * 3600:
        return ()
    lo, hi = max(shift_start_s, 12 * 3600), min(shift_end_s, 14 * 3600 + 1800)
    if hi - lo >= 45 * 60:
        return (Break(lo, hi, 45 * 60),)
    third = length // 3
    return (Break(shift_start_s + third, shift_end_s - third, 20 * 60),)


def _json(value: Any, default: Any) -> Any:
    if value is None:
        return default
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return default
    return value


@dataclass
class RowContext:
    """How the problem's ids and matrix indices map back to the store."""

    lonlats: list[tuple[float, float]]
    team_names: dict[str, str] = field(default_factory=dict)
    visit_labels: dict[str, str] = field(default_factory=dict)
    territory: str | None = None

    def lonlat(self, location: int) -> tuple[float, float]:
        return self.lonlats[location]


def places(
    teams: list[dict[str, Any]],
    visits: list[dict[str, Any]],
    extra: Sequence[tuple[float, float]] = (),
) -> list[tuple[float, float]]:
    """The lon/lat of every matrix index: team bases, then visits, then ``extra`` points."""
    pts = [(float(t["base_lon"]), float(t["base_lat"])) for t in teams]
    pts += [(float(v["lon"]), float(v["lat"])) for v in visits]
    pts += [(float(p[0]), float(p[1])) for p in extra]
    return pts


def usable_visits(visits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in visits if v.get("status") not in SKIPPED_STATUSES]


def problem_from_rows(
    teams: list[dict[str, Any]],
    visits: list[dict[str, Any]],
    time_s: np.ndarray,
    distance_m: np.ndarray,
    *,
    day: str,
    now_s: int | None = None,
    stored_plan: dict[str, Any] | None = None,
    lonlats: list[tuple[float, float]] | None = None,
) -> tuple[Problem, RowContext]:
    """A Problem from store rows and the car matrices over :func:`places` (same order).

    Active teams start and end at their base; visits keep their windows, skills, priority,
    preferred team, ``staff_count`` (2: two staff together) and ``excluded_team_ids`` when the
    row carries them; a team row's ``size`` (members) becomes ``Team.size``. On a day under way
    (``now_s``), a two-person visit in two routes of ``stored_plan`` keeps the start it has
    there (its window becomes that second) until it starts. Visits already
    under way or done are pinned to their team (and their partner team, for a two-person
    visit) in the order of ``stored_plan`` (or of their start) so that nothing that happened
    moves.
    """
    n_t = len(teams)
    t = np.asarray(time_s, dtype=np.int64)
    d = np.asarray(distance_m, dtype=np.int64)
    matrices = {"car": t}
    for mode, kmh in SPEED_KMH.items():
        if any(team.get("vehicle_profile") == mode for team in teams):
            matrices[mode] = np.ceil(d / (kmh / 3.6)).astype(np.int64)
    order: dict[int, int] = {}
    starts: dict[int, list[int]] = {}
    if stored_plan:
        for r in stored_plan.get("routes", []):
            for k, s in enumerate(r.get("stops", [])):
                order[int(s["visit_id"])] = k
                if s.get("start_s") is not None:
                    starts.setdefault(int(s["visit_id"]), []).append(int(s["start_s"]))
    # On a day under way, a two-person visit two teams share keeps the start both were given
    # (the later one if they differ): the live changes then keep them together.
    agreed = {vid: max(ss) for vid, ss in starts.items() if len(ss) == 2 and now_s is not None}
    fixed: dict[str, list[tuple[int, str]]] = {}
    out_visits = []
    ctx = RowContext(lonlats=lonlats or [])
    for i, v in enumerate(visits):
        vid = str(v["id"])
        windows = tuple(TimeWindow(int(a), int(b)) for a, b in _json(v.get("windows"), []))
        start = agreed.get(int(v["id"]))
        if (
            start is not None
            and int(v.get("staff_count") or 1) >= 2
            and v.get("status") not in FIXED_STATUSES
            and now_s is not None
            and start >= now_s
            and any(w.start_s <= start <= w.end_s for w in windows or (TimeWindow(0, 2 * DAY_S),))
        ):
            windows = (TimeWindow(start, start),)
        out_visits.append(
            Visit(
                id=vid,
                label=str(v.get("pseudonym") or vid),
                location=n_t + i,
                duration_s=int(v["duration_s"]),
                windows=windows,
                skills=frozenset(_json(v.get("skills"), [])),
                priority=PRIORITY.get(int(v.get("priority") or 0), 3),
                mandatory=bool(v.get("mandatory", True)),
                preferred_team_id=str(v["preferred_team_id"])
                if v.get("preferred_team_id")
                else None,
                staff_count=2 if int(v.get("staff_count") or 1) >= 2 else 1,
                excluded_team_ids=frozenset(str(t) for t in v.get("excluded_team_ids") or ()),
            )
        )
        ctx.visit_labels[vid] = str(v.get("pseudonym") or vid)
        if v.get("status") in FIXED_STATUSES and v.get("team_id") is not None:
            rank = order.get(int(v["id"]), windows[0].start_s if windows else 0)
            fixed.setdefault(str(v["team_id"]), []).append((rank, vid))
            if v.get("partner_team_id") is not None:  # a two-person visit under way
                fixed.setdefault(str(v["partner_team_id"]), []).append((rank, vid))
    out_teams = []
    for i, team in enumerate(teams):
        tid = str(team["id"])
        start, end = int(team["shift_start_s"]), int(team["shift_end_s"])
        out_teams.append(
            Team(
                id=tid,
                name=str(team.get("name") or tid),
                start_location=i,
                end_location=i,
                shift_start_s=start,
                shift_end_s=end,
                skills=frozenset(_json(team.get("skills"), [])),
                mode=team.get("vehicle_profile") or "car",
                breaks=default_breaks(start, end),
                fixed_visit_ids=tuple(vid for _, vid in sorted(fixed.get(tid, []))),
                size=max(1, int(team.get("size") or 1)),
            )
        )
        ctx.team_names[tid] = str(team.get("name") or tid)
    problem = Problem(
        teams=tuple(out_teams),
        visits=tuple(out_visits),
        travel_time_s=matrices,
        distance_m={"car": d},
        now_s=now_s,
        day=day,
    )
    return problem, ctx


def plan_from_stored(problem: Problem, stored: dict[str, Any] | None) -> Plan:
    """The store's plan (visit order per team) re-timed exactly, breaks placed, statuses kept."""
    if not stored:
        return Plan(routes=())
    by_id = problem.visits_by_id()
    routes = []
    teams = {t.id: t for t in problem.teams}
    fixed = {vid for t in problem.teams for vid in t.fixed_visit_ids}
    for r in stored.get("routes", []):
        team = teams.get(str(r["team_id"]))
        if team is None:
            continue
        items: list[Item] = [
            str(s["visit_id"]) for s in r.get("stops", []) if str(s["visit_id"]) in by_id
        ]
        n_fixed = 0
        while n_fixed < len(items) and items[n_fixed] in fixed:
            n_fixed += 1
        prefix = _done_stops(problem, team, r.get("stops", []), items[:n_fixed])
        st = TeamState(
            team, prefix, items[n_fixed:], time_route(problem, team, items[n_fixed:], prefix=prefix)
        )
        movable, _ = (
            best_break_positions(problem, st, items[n_fixed:]) if items[n_fixed:] else ([], None)
        )
        routes.append(build_route(problem, team, movable, prefix))
    unassigned = tuple(
        Unassigned(str(u["visit_id"]), "stored", {"text": u.get("reason", "")})
        for u in stored.get("unassigned", [])
        if str(u["visit_id"]) in by_id
    )
    plan = Plan(routes=tuple(routes), unassigned=unassigned, stats={"plan_id": stored.get("id")})
    if any(v.staff_count > 1 for v in problem.visits):
        from dispatch.optimise.sync import align_shared_starts

        plan = align_shared_starts(problem, plan)
    return plan


def _done_stops(
    problem: Problem, team: Team, stored_stops: list[dict[str, Any]], done: list[Item]
) -> tuple[Stop, ...]:
    """The stops done or under way, at the times the stored plan gave them (when the team did
    them), not re-timed from where and when the team is now. Stops stored without times are
    timed from the start of the shift."""
    from dataclasses import replace

    times = {str(s["visit_id"]): s for s in stored_stops}
    by_id = problem.visits_by_id()
    if all(times.get(str(v), {}).get("start_s") is not None for v in done):
        out = []
        for vid in done:
            s = times[str(vid)]
            visit = by_id[str(vid)]
            start = int(s["start_s"])
            out.append(
                Stop(
                    kind="visit",
                    location=visit.location,
                    arrival_s=int(s["arrival_s"] if s.get("arrival_s") is not None else start),
                    start_s=start,
                    departure_s=int(
                        s["end_s"] if s.get("end_s") is not None else start + visit.duration_s
                    ),
                    travel_time_s=int(s.get("travel_time_s") or 0),
                    distance_m=int(s.get("distance_m") or 0),
                    visit_id=str(vid),
                    status="done",
                )
            )
        return tuple(out)
    head = time_route(
        problem, replace(team, available_location=None, available_from_s=None), list(done)
    )
    return tuple(replace(s, status="done") for s in head.stops if s.kind == "visit")


def plan_rows(
    plan: Plan, *, locale: str = "fr"
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``routes`` and ``unassigned`` in the store's ``save_plan`` shape (visit stops only)."""
    routes = []
    for r in plan.routes:
        stops = [
            {
                "visit_id": int(s.visit_id),
                "arrival_s": s.arrival_s,
                "start_s": s.start_s,
                "end_s": s.departure_s,
                "travel_time_s": s.travel_time_s,
                "distance_m": s.distance_m,
                "locked": s.status != "planned",
            }
            for s in r.stops
            if s.kind == "visit" and s.visit_id is not None
        ]
        if stops:
            routes.append({"team_id": int(r.team_id), "stops": stops})
    unassigned = [
        {"visit_id": int(u.visit_id), "reason": u.message(locale)} for u in plan.unassigned
    ]
    return routes, unassigned
