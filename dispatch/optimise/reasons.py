"""Why a visit cannot be served: the first cause a coordinator can act on."""

from __future__ import annotations

from dispatch.optimise.model import UNREACHABLE_S, Problem, Visit, can_serve, hhmm
from dispatch.optimise.plan import Unassigned


def _windows(visit: Visit) -> list[tuple[str, str]]:
    return [(hhmm(w.start_s), hhmm(w.end_s + visit.duration_s)) for w in visit.windows]


def precheck(problem: Problem, visit: Visit) -> Unassigned | None:
    """A reason that holds whatever the other visits: skills, locks, roads, shifts, clock."""
    teams = [t for t in problem.teams if t.available]
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
    if not able and any(
        t.id in visit.excluded_team_ids and visit.skills <= t.skills for t in teams
    ):
        # Teams with the skills exist, but the patient's wishes exclude them.
        return Unassigned(visit.id, "excluded_staff", {"skills": sorted(visit.skills)})
    if not able:
        known = set().union(*(t.skills for t in teams))
        missing = sorted(visit.skills - known) or sorted(visit.skills)
        return Unassigned(visit.id, "no_skill", {"skills": missing})
    if (
        problem.now_s is not None
        and visit.windows
        and all(w.end_s < problem.now_s for w in visit.windows)
    ):
        # The windows as entered (when the visit may start), so that « passé » reads true.
        entered = [(hhmm(w.start_s), hhmm(w.end_s)) for w in visit.windows]
        return Unassigned(
            visit.id, "window_passed", {"windows": entered, "now": hhmm(problem.now_s)}
        )
    # The first team that can reach the visit and serve it within its shift settles it.
    reachable = False
    for t in able:
        m = problem.matrix(t.mode)
        start = t.departure_location
        to_visit, back = int(m[start, visit.location]), int(m[visit.location, t.end_location])
        if to_visit >= UNREACHABLE_S or back >= UNREACHABLE_S:
            continue
        reachable = True
        arrival = max(t.shift_start_s, t.available_from_s or 0, problem.now_s or 0) + to_visit
        for w in visit.windows_or_day():
            begin = max(arrival, w.start_s)
            if begin <= w.end_s and begin + visit.duration_s + back <= t.shift_end_s:
                return None
    skills = sorted(visit.skills)
    if not reachable:
        return Unassigned(visit.id, "unreachable", {"skills": skills})
    return Unassigned(visit.id, "no_shift", {"skills": skills, "windows": _windows(visit)})


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
