"""An independent feasibility check of a plan: windows, skills, locks, excluded staff, shifts,
breaks, loads, start and end places, distances recomputed from the matrix, and two-person
visits started at the same second by both their staff."""

from __future__ import annotations

from dataclasses import dataclass

from dispatch.optimise.messages import skill_name
from dispatch.optimise.model import Problem, hhmm
from dispatch.optimise.plan import Plan, Route

_T = {
    "unknown_team": ("équipe inconnue {team}", "unknown team {team}"),
    "team_off": (
        "l'équipe {team} n'est pas disponible mais a des visites prévues",
        "team {team} is not available but has visits planned",
    ),
    "unknown_visit": ("visite inconnue {visit}", "unknown visit {visit}"),
    "twice": (
        "la visite {visit} est prévue plusieurs fois",
        "visit {visit} is planned more than once",
    ),
    "lost": (
        "la visite {visit} n'est ni planifiée ni signalée comme non affectée",
        "visit {visit} is neither planned nor reported unassigned",
    ),
    "both": (
        "la visite {visit} est à la fois planifiée et non affectée",
        "visit {visit} is both planned and unassigned",
    ),
    "skill": (
        "l'équipe {team} n'a pas la compétence {skills} pour la visite {visit}",
        "team {team} lacks skill {skills} for visit {visit}",
    ),
    "lock": (
        "la visite {visit} est réservée à l'équipe {locked}, pas à {team}",
        "visit {visit} is locked to team {locked}, not {team}",
    ),
    "fixed": (
        "la visite commencée {visit} a été déplacée (équipe {team})",
        "started visit {visit} was moved (team {team})",
    ),
    "early_start": (
        "l'équipe {team} part à {time}, avant le début de son service ({shift})",
        "team {team} leaves at {time}, before its shift starts ({shift})",
    ),
    "travel": (
        "équipe {team} : arrivée à {time} au lieu de {expected} au plus tôt (trajet de {travel} s)",
        "team {team}: arrives at {time}, earliest possible {expected} (travel {travel} s)",
    ),
    "before_arrival": (
        "équipe {team} : la visite {visit} commence à {time}, avant l'arrivée",
        "team {team}: visit {visit} starts at {time}, before arrival",
    ),
    "window": (
        "visite {visit} : début à {time} hors de ses créneaux",
        "visit {visit}: starts at {time}, outside its windows",
    ),
    "duration": (
        "visite {visit} : durée prévue {got} s au lieu de {want} s",
        "visit {visit}: planned duration {got} s instead of {want} s",
    ),
    "break_window": (
        "équipe {team} : pause de {time} hors de sa plage",
        "team {team}: break at {time} outside its span",
    ),
    "break_count": (
        "équipe {team} : {got} pause(s) prévue(s) au lieu de {want}",
        "team {team}: {got} break(s) planned instead of {want}",
    ),
    "shift_end": (
        "l'équipe {team} rentre à {time}, après la fin de son service ({shift})",
        "team {team} is back at {time}, after its shift ends ({shift})",
    ),
    "end_time": (
        "équipe {team} : heure de retour annoncée {got}, calculée {want}",
        "team {team}: stated return {got}, computed {want}",
    ),
    "max_visits": (
        "l'équipe {team} a {got} visites pour un maximum de {want}",
        "team {team} has {got} visits, maximum {want}",
    ),
    "capacity": (
        "l'équipe {team} transporte {got} pour une capacité de {want}",
        "team {team} carries {got}, capacity {want}",
    ),
    "start_place": (
        "équipe {team} : la tournée part du lieu {got} au lieu de son lieu de départ {want}",
        "team {team}: the route leaves from place {got} instead of its start place {want}",
    ),
    "end_place": (
        "équipe {team} : la tournée finit au lieu {got} au lieu de son lieu d'arrivée {want}",
        "team {team}: the route ends at place {got} instead of its end place {want}",
    ),
    "distance": (
        "équipe {team} : distance annoncée {got} m, recalculée sur la matrice {want} m",
        "team {team}: stated distance {got} m, recomputed from the matrix {want} m",
    ),
    "excluded": (
        "personnel exclu : la visite {visit} exclut l'équipe {team}",
        "excluded staff: visit {visit} excludes team {team}",
    ),
    "sync_alone": (
        "synchronisation : la visite à deux {visit} n'a qu'une personne ({team})",
        "synchronisation: two-person visit {visit} has only one person ({team})",
    ),
    "sync_same_team": (
        "synchronisation : l'équipe {team} tient deux fois la visite à deux {visit}",
        "synchronisation: team {team} holds two-person visit {visit} twice",
    ),
    "sync_start": (
        "synchronisation : la visite à deux {visit} commence à {time} pour {team} "
        "et à {other} pour {partner}",
        "synchronisation: two-person visit {visit} starts at {time} for {team} "
        "and at {other} for {partner}",
    ),
}

#: The rule each finding breaks, by message code (what tests and reports group findings by).
RULES = {
    "unknown_team": "unknown",
    "unknown_visit": "unknown",
    "team_off": "availability",
    "twice": "duplicates",
    "both": "duplicates",
    "lost": "lost_visits",
    "skill": "skills",
    "lock": "locks",
    "fixed": "started_visits",
    "early_start": "shift_start",
    "travel": "travel",
    "before_arrival": "travel",
    "window": "windows",
    "duration": "duration",
    "break_window": "breaks",
    "break_count": "breaks",
    "shift_end": "shift_end",
    "end_time": "end_time",
    "max_visits": "capacity",
    "capacity": "capacity",
    "start_place": "start_place",
    "end_place": "end_place",
    "distance": "distance",
    "excluded": "excluded_staff",
    "sync_alone": "synchronisation",
    "sync_same_team": "synchronisation",
    "sync_start": "synchronisation",
}


@dataclass(frozen=True)
class Finding:
    """One broken rule: ``rule`` (see :data:`RULES`), the message ``code`` and its text."""

    rule: str
    code: str
    message: str


def _route_legs(problem: Problem, route: Route) -> list[tuple[int, int, bool]]:
    """Each leg the team drives as ``(from place, to place, checked)``, from its start place.

    A team with a live position restarts from there at its first movable stop; the legs
    before it (done or started stops) were driven under an earlier plan and are not checked.
    """
    team = next((t for t in problem.teams if t.id == route.team_id), None)
    if team is None:
        return []
    loc = team.start_location
    legs: list[tuple[int, int, bool]] = []
    planned_seen = False
    for i, s in enumerate(route.stops):
        planned = s.status == "planned"
        if (
            team.available_location is not None
            and planned
            and (i == 0 or route.stops[i - 1].status != "planned")
        ):
            loc = team.available_location
        legs.append((loc, s.location, planned))
        planned_seen = planned_seen or planned
        loc = s.location
    if route.stops or route.end_distance_m:
        if team.available_location is not None and not planned_seen and route.stops:
            loc = team.available_location
        legs.append((loc, team.end_location, True))
    return legs


def recomputed_distance_m(problem: Problem, plan: Plan) -> int:
    """The plan's total distance from the problem's distance matrix (not the stops' figures).

    Legs before a live restart keep the figure the plan states (they were driven already).
    """
    total = 0
    for route in plan.routes:
        team = next((t for t in problem.teams if t.id == route.team_id), None)
        dist = problem.distances(team.mode) if team is not None else None
        if dist is None or not route.visit_ids and not route.stops:
            continue
        legs = _route_legs(problem, route)
        stated = [s.distance_m for s in route.stops] + [route.end_distance_m]
        for (a, b, checked), figure in zip(legs, stated, strict=False):
            total += int(dist[a, b]) if checked else figure
    return total


def check_plan(
    problem: Problem,
    plan: Plan,
    *,
    locale: str = "fr",
    labels: bool = False,
    scope: str = "plan",
) -> list[str]:
    """Every violation of ``plan`` against ``problem`` (an empty list: the plan is feasible),
    as messages; :func:`plan_findings` gives the rule of each."""
    return [
        f.message for f in plan_findings(problem, plan, locale=locale, labels=labels, scope=scope)
    ]


def plan_findings(
    problem: Problem,
    plan: Plan,
    *,
    locale: str = "fr",
    labels: bool = False,
    scope: str = "plan",
) -> list[Finding]:
    """Every violation of ``plan`` against ``problem``, each with the rule it breaks.

    Written apart from the scheduler on purpose: it recomputes each route from the matrix and
    the stops' own times, so a bug in the solver adapter or the re-timing shows up here.
    ``labels`` names teams and visits as a person reads them (team name, visit label) instead
    of their ids. ``scope="routes"`` checks only the routes given (what a change does to the
    teams it concerns), not that every visit of the problem is planned or reported.
    """
    if scope not in ("plan", "routes"):
        raise ValueError("scope must be 'plan' or 'routes'")
    out: list[Finding] = []
    li = 0 if locale == "fr" else 1
    teams = {t.id: t for t in problem.teams}
    visits = problem.visits_by_id()

    def name(key: str, value: object) -> object:
        if not labels:
            return value
        if key in ("team", "locked", "partner") and str(value) in teams:
            return teams[str(value)].name or value
        if key == "visit" and str(value) in visits:
            return visits[str(value)].label or value
        return value

    def bad(code: str, **kw: object) -> None:
        text = _T[code][li].format(**{k: name(k, v) for k, v in kw.items()})
        out.append(Finding(RULES[code], code, text))

    seen: dict[str, int] = {}
    # Two-person visits: (team id, team size, start) of each stop serving one.
    shared: dict[str, list[tuple[str, int, int]]] = {}
    for route in plan.routes:
        team = teams.get(route.team_id)
        if team is None:
            bad("unknown_team", team=route.team_id)
            continue
        vids = route.visit_ids
        fixed = list(team.fixed_visit_ids)
        if vids[: len(fixed)] != fixed:
            for vid in fixed:
                if vid not in vids[: len(fixed)]:
                    bad("fixed", visit=vid, team=team.id)
        if not team.available and any(
            s.kind == "visit" and s.status == "planned" for s in route.stops
        ):
            bad("team_off", team=team.id)
        m = problem.matrix(team.mode)
        # The team leaves from its own start place, whatever the route states.
        loc = team.start_location
        t = route.start_s
        if route.start_location != team.start_location:
            bad("start_place", team=team.id, got=route.start_location, want=team.start_location)
        if route.end_location != team.end_location:
            bad("end_place", team=team.id, got=route.end_location, want=team.end_location)
        if not route.stops:
            continue
        dist = problem.distances(team.mode)
        if dist is not None:
            legs = _route_legs(problem, route)
            stated = [s.distance_m for s in route.stops] + [route.end_distance_m]
            pairs = list(zip(legs, stated, strict=False))
            want = sum(int(dist[a, b]) for (a, b, ok), _ in pairs if ok)
            got = sum(fig for (_a, _b, ok), fig in pairs if ok)
            if got != want:
                bad("distance", team=team.id, got=got, want=want)
        if route.start_s < team.shift_start_s:
            bad(
                "early_start",
                team=team.id,
                time=hhmm(route.start_s),
                shift=hhmm(team.shift_start_s),
            )
        n_breaks = 0
        load = 0
        for i, s in enumerate(route.stops):
            # A team with a live position restarts from there; its first movable stop is judged from it.
            if (
                team.available_location is not None
                and s.status == "planned"
                and (i == 0 or route.stops[i - 1].status != "planned")
            ):
                loc = team.available_location
                t = max(t, team.available_from_s or t)
            expected = t + int(m[loc, s.location])
            if s.arrival_s < expected and s.status == "planned":
                bad(
                    "travel",
                    team=team.id,
                    time=hhmm(s.arrival_s),
                    expected=hhmm(expected),
                    travel=int(m[loc, s.location]),
                )
            if s.start_s < s.arrival_s:
                bad(
                    "before_arrival",
                    team=team.id,
                    visit=s.visit_id or "pause",
                    time=hhmm(s.start_s),
                )
            if s.kind == "break":
                if n_breaks < len(team.breaks):
                    b = team.breaks[n_breaks]
                    if (
                        s.start_s < b.earliest_start_s
                        or s.start_s + b.duration_s > b.latest_end_s
                        or s.departure_s - s.start_s != b.duration_s
                    ):
                        bad("break_window", team=team.id, time=hhmm(s.start_s))
                n_breaks += 1
            else:
                v = visits.get(s.visit_id or "")
                if v is None:
                    bad("unknown_visit", visit=s.visit_id)
                    continue
                seen[v.id] = seen.get(v.id, 0) + 1
                if v.staff_count > 1:
                    shared.setdefault(v.id, []).append((team.id, team.size, s.start_s))
                if team.id in v.excluded_team_ids:
                    bad("excluded", visit=v.id, team=team.id)
                if not v.skills <= team.skills:
                    bad(
                        "skill",
                        team=team.id,
                        visit=v.id,
                        skills=", ".join(
                            skill_name(k, "fr" if li == 0 else "en")
                            for k in sorted(v.skills - team.skills)
                        ),
                    )
                if v.locked_team_id is not None and v.locked_team_id != team.id:
                    bad("lock", visit=v.id, locked=v.locked_team_id, team=team.id)
                if s.location != v.location:
                    bad("unknown_visit", visit=f"{v.id}@{s.location}")
                if s.status == "planned" and not any(
                    w.start_s <= s.start_s <= w.end_s for w in v.windows_or_day()
                ):
                    bad("window", visit=v.id, time=hhmm(s.start_s))
                if s.departure_s - s.start_s != v.duration_s and s.status == "planned":
                    bad("duration", visit=v.id, got=s.departure_s - s.start_s, want=v.duration_s)
                load += v.load
            loc, t = s.location, s.departure_s
        back = t + int(m[loc, team.end_location])
        if back > team.shift_end_s:
            bad("shift_end", team=team.id, time=hhmm(back), shift=hhmm(team.shift_end_s))
        if route.end_s < back:
            bad("end_time", team=team.id, got=hhmm(route.end_s), want=hhmm(back))
        if team.available and vids and n_breaks != len(team.breaks):
            bad("break_count", team=team.id, got=n_breaks, want=len(team.breaks))
        if team.max_visits is not None and len(vids) > team.max_visits:
            bad("max_visits", team=team.id, got=len(vids), want=team.max_visits)
        if team.capacity is not None and load > team.capacity:
            bad("capacity", team=team.id, got=load, want=team.capacity)
    # A two-person visit may be in two routes: neither counts as a duplicate.
    allowed = {vid: 2 for vid in shared}
    for vid, serving in shared.items():
        if len(serving) == 1 and serving[0][1] < 2 and scope == "plan":
            bad("sync_alone", visit=vid, team=serving[0][0])
        elif len(serving) == 2:
            (ta, _, sa), (tb, _, sb) = serving
            if ta == tb:
                bad("sync_same_team", visit=vid, team=ta)
            elif sa != sb:
                # Within one minute the seconds tell the two starts apart.
                same = hhmm(sa) == hhmm(sb)
                bad(
                    "sync_start",
                    visit=vid,
                    team=ta,
                    time=hhmm(sa) + (f":{sa % 60:02d}" if same else ""),
                    partner=tb,
                    other=hhmm(sb) + (f":{sb % 60:02d}" if same else ""),
                )
    if scope == "routes":
        for vid, count in seen.items():
            if count > allowed.get(vid, 1):
                bad("twice", visit=vid)
        return out
    unassigned = {u.visit_id for u in plan.unassigned}
    for vid, count in seen.items():
        if count > allowed.get(vid, 1):
            bad("twice", visit=vid)
        if vid in unassigned:
            bad("both", visit=vid)
    for v in problem.visits:
        if v.id not in seen and v.id not in unassigned:
            bad("lost", visit=v.id)
    return out
