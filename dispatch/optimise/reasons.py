"""Why a visit cannot be served: the first cause a coordinator can act on."""

from __future__ import annotations

from dispatch.optimise.model import UNREACHABLE_S, Problem, Visit, can_serve, hhmm
from dispatch.optimise.plan import Unassigned


def _windows(visit: Visit) -> list[tuple[str, str]]:
    return [(hhmm(w.start_s), hhmm(w.end_s + visit.duration_s)) for w in visit.windows]


def precheck(problem: Problem, visit: Visit) -> Unassigned | None:
    """A reason that holds whatever the other visits: skills, locks, roads, shifts, clock."""
    teams = [t for t in problem.teams if t.available]
    skills = sorted(visit.skills)
    wins = _windows(visit)
    if not teams:
        return Unassigned(visit.id, "no_team", {})
    if visit.locked_team_id is not None:
        locked = next((t for t in teams if t.id == visit.locked_team_id), None)
        if locked is None:
            return Unassigned(visit.id, "locked_team_missing", {"team": visit.locked_team_id})
        if not visit.skills <= locked.skills:
            missing = sorted(visit.skills - locked.skills)
            return Unassigned(
                visit.id, "locked_team_skill", {"team": locked.label, "skills": missing}
            )
    able = [t for t in teams if can_serve(t, visit)]
    if not able:
        known = set().union(*(t.skills for t in teams))
        missing = sorted(visit.skills - known) or skills
        return Unassigned(visit.id, "no_skill", {"skills": missing})
    if (
        problem.now_s is not None
        and visit.windows
        and all(w.end_s < problem.now_s for w in visit.windows)
    ):
        return Unassigned(visit.id, "window_passed", {"windows": wins, "now": hhmm(problem.now_s)})
    reachable = []
    for t in able:
        m = problem.matrix(t.mode)
        start = t.departure_location
        if (
            m[start, visit.location] < UNREACHABLE_S
            and m[visit.location, t.end_location] < UNREACHABLE_S
        ):
            reachable.append(t)
    if not reachable:
        return Unassigned(visit.id, "unreachable", {"skills": skills})
    on_duty = []
    for t in reachable:
        m = problem.matrix(t.mode)
        start = t.departure_location
        t0 = max(t.shift_start_s, t.available_from_s or 0, problem.now_s or 0)
        arrival = t0 + int(m[start, visit.location])
        for w in visit.windows_or_day():
            begin = max(arrival, w.start_s)
            if (
                begin <= w.end_s
                and begin + visit.duration_s + int(m[visit.location, t.end_location])
                <= t.shift_end_s
            ):
                on_duty.append(t)
                break
    if not on_duty:
        return Unassigned(visit.id, "no_shift", {"skills": skills, "windows": wins})
    return None


def explain(
    problem: Problem,
    visit: Visit,
    *,
    n_visits: dict[str, int] | None = None,
    load: dict[str, int] | None = None,
    lost_team: str | None = None,
) -> Unassigned:
    """The reason ``visit`` is unserved in the current plan (``n_visits``/``load`` per team)."""
    found = precheck(problem, visit)
    if found is not None:
        return found
    skills = sorted(visit.skills)
    wins = _windows(visit)
    able = [t for t in problem.teams if t.available and can_serve(t, visit)]
    if n_visits is not None and all(
        t.max_visits is not None and n_visits.get(t.id, 0) >= t.max_visits for t in able
    ):
        return Unassigned(visit.id, "max_visits", {"skills": skills})
    if (
        load is not None
        and visit.load
        and all(
            t.capacity is not None and load.get(t.id, 0) + visit.load > t.capacity for t in able
        )
    ):
        return Unassigned(visit.id, "capacity", {"skills": skills})
    if lost_team is not None:
        return Unassigned(
            visit.id, "team_unavailable", {"team": lost_team, "skills": skills, "windows": wins}
        )
    if not visit.mandatory:
        return Unassigned(visit.id, "optional_left_out", {"skills": skills, "windows": wins})
    return Unassigned(visit.id, "no_team_free", {"skills": skills, "windows": wins})
