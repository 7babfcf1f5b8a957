"""A day's problem built from the store and the road network, as it stands at a given time."""

from __future__ import annotations

import json
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from dispatch.errors import DispatchError, ValidationError
from dispatch.optimise import Plan, Problem
from dispatch.optimise.model import Break, Team
from dispatch.optimise.plan import Unassigned
from dispatch.optimise.rows import (
    RowContext,
    places,
    plan_from_stored,
    problem_from_rows,
    usable_visits,
)
from dispatch.rounds.texts import text
from dispatch.store.models import ServiceArea

#: Visit statuses during which the team is at the patient's home (its position is the visit's).
AT_HOME = ("arrived", "in_progress")
#: A matrix cache holding more nodes than this starts again from the nodes asked (memory:
#: two int32 tables, 72 MB at 3,000 nodes).
CACHE_MAX_NODES = 3000


class MatrixCache:
    """Travel times (s) and distances (m) between road nodes, kept and extended as nodes come.

    A day's problem is built again for every change (a move, an insertion, arrival times every
    minute) over nearly the same places: the cache computes only the rows and columns of nodes
    it has not seen (a new visit, a team's new position), two Dijkstra trees each, instead of
    the whole table (0.7-1 s for the distances of 550 places on Haute-Corse). One cache per
    router; safe to share between threads (pyroutingkit is not, hence one lock).
    """

    def __init__(self, router: Any, *, max_nodes: int = CACHE_MAX_NODES) -> None:
        self.router = router
        self.max_nodes = max_nodes
        self._index: dict[int, int] = {}
        self._time = np.zeros((0, 0), dtype=np.int32)
        self._dist = np.zeros((0, 0), dtype=np.int32)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._index)

    def matrices(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Times and distances between ``nodes`` (rows and columns in their order)."""
        nodes = np.asarray(nodes, dtype=np.int64)
        with self._lock:
            new = [int(n) for n in dict.fromkeys(nodes.tolist()) if int(n) not in self._index]
            if new and len(self._index) + len(new) > self.max_nodes:
                self._index = {}
                self._time = np.zeros((0, 0), dtype=np.int32)
                self._dist = np.zeros((0, 0), dtype=np.int32)
                new = [int(n) for n in dict.fromkeys(nodes.tolist())]
            if new:
                self._extend(np.array(new, dtype=np.int64))
            idx = np.array([self._index[int(n)] for n in nodes], dtype=np.int64)
            cells = np.ix_(idx, idx)
            return self._time[cells], self._dist[cells]

    def to_and_from(
        self, node: int, nodes: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Times and distances from ``node`` to each of ``nodes``, then from each back to it,
        computed without keeping ``node`` (a place asked about once: a slot request's)."""
        one = np.array([int(node)], dtype=np.int64)
        nodes = np.asarray(nodes, dtype=np.int64)
        with self._lock:
            out_t, out_d = self.router.matrix_with_distance(one, nodes)
            in_t, in_d = self.router.matrix_with_distance(nodes, one)
        return out_t[0], out_d[0], in_t[:, 0], in_d[:, 0]

    def _extend(self, new: np.ndarray) -> None:
        old = np.array(list(self._index), dtype=np.int64)
        every = np.concatenate([old, new])
        rows_t, rows_d = self.router.matrix_with_distance(new, every)
        n_old, n = len(old), len(every)
        time_s = np.empty((n, n), dtype=np.int32)
        dist_m = np.empty((n, n), dtype=np.int32)
        time_s[:n_old, :n_old], dist_m[:n_old, :n_old] = self._time, self._dist
        time_s[n_old:, :], dist_m[n_old:, :] = rows_t, rows_d
        if n_old:
            cols_t, cols_d = self.router.matrix_with_distance(old, new)
            time_s[:n_old, n_old:], dist_m[:n_old, n_old:] = cols_t, cols_d
        for k, node in enumerate(new.tolist(), start=n_old):
            self._index[int(node)] = k
        self._time, self._dist = time_s, dist_m


@dataclass(frozen=True)
class Fix:
    """A team's last known position: where (lon, lat) and when (Unix seconds)."""

    lon: float
    lat: float
    at_s: float


@dataclass(frozen=True)
class Unroutable:
    """A team or a visit of the day left out of planning, and why.

    ``why`` is ``"outside"`` (outside the territory, or no position at all) or ``"no_road"``
    (no road near enough) for a place that cannot be routed; for a team whose staff do not
    work that day, ``"off"`` (their rota) or ``"absent"`` (an absence of kind ``absence``:
    leave, sickness, training); for a team with no base at all, ``"no_base"``. The others are planned as if it were not there; the screens
    show it with its reason (:func:`dispatch.rounds.service.Rounds.unroutable`).
    """

    kind: str
    id: int
    name: str
    lon: float | None
    lat: float | None
    why: str
    absence: str | None = None


class NoTeamWorks(ValidationError):
    """No team of the structure works on ``day``: ``off`` the teams left out, each with its
    reason. The message is in English; :meth:`localised` gives it in a user's language."""

    def __init__(self, day: str, off: Sequence[Unroutable]) -> None:
        self.day, self.off = day, tuple(off)
        super().__init__(self.localised("en"))

    def localised(self, locale: str) -> str:
        """The message in ``locale`` ("fr" or "en")."""
        lang = "fr" if locale == "fr" else "en"

        def why(u: Unroutable) -> str:
            if lang == "en":
                return u.absence or "off"
            return text(f"absence.{u.absence}" if u.absence else "off", lang)

        who = ("; " if lang == "en" else " ; ").join(f"{u.name} ({why(u)})" for u in self.off)
        return text("no_team_works", lang, day=self.day, who=who)


def service_area_of(router: Any) -> ServiceArea:
    """The area a router serves (its territory's outline, or its roads' box)."""
    bbox = tuple(float(v) for v in router.graph.bbox())
    boundary = getattr(router, "boundary", None)
    if boundary is not None and boundary.is_empty:
        boundary = None
    return ServiceArea(
        name=str(getattr(router, "label", "") or "the territory"),
        bbox=bbox,  # type: ignore[arg-type]
        boundary=boundary,
    )


def routable_nodes(
    router: Any, lonlats: Sequence[tuple[float, float]]
) -> tuple[np.ndarray, list[str]]:
    """Each place's road node (-1 when it cannot be routed) and why (``""``, ``"outside"``,
    ``"no_road"``).

    Places outside the territory are never given to the router: a latitude of -90 projects
    to infinity in Lambert-93 and the router raises for the whole batch.
    """
    n = len(lonlats)
    nodes = np.full(n, -1, dtype=np.int64)
    why = ["outside"] * n
    if not n:
        return nodes, why
    area = service_area_of(router)
    inside = [i for i, (lon, lat) in enumerate(lonlats) if area.contains(float(lon), float(lat))]
    if not inside:
        return nodes, why
    lons = np.array([float(lonlats[i][0]) for i in inside])
    lats = np.array([float(lonlats[i][1]) for i in inside])
    try:
        found, _ = router.snap_many(lons, lats, strict=False)
    except (ValueError, ArithmeticError):
        # One bad place must not cost the others their node: snap them one by one.
        found = np.full(len(inside), -1, dtype=np.int64)
        for k in range(len(inside)):
            try:
                found[k] = router.snap_many(lons[k : k + 1], lats[k : k + 1], strict=False)[0][0]
            except (ValueError, ArithmeticError):
                found[k] = -1
    for k, i in enumerate(inside):
        nodes[i] = int(found[k])
        why[i] = "" if found[k] >= 0 else "no_road"
    return nodes, why


@dataclass
class Day:
    """The problem of one day, its context, and the published plan it starts from.

    ``plan_id`` is the version: the id of the structure's published plan the problem was
    built on (None when the day has none). ``visits`` and ``teams`` are the store's rows by id.
    """

    day: str
    structure_id: int
    problem: Problem
    ctx: RowContext
    current: Plan
    stored: dict[str, Any] | None
    plan_id: int | None
    visits: dict[int, dict[str, Any]] = field(default_factory=dict)
    teams: dict[int, dict[str, Any]] = field(default_factory=dict)
    extra_locations: list[int] = field(default_factory=list)
    #: Teams and visits left out because their place cannot be routed.
    unroutable: list[Unroutable] = field(default_factory=list)
    #: Stored routes of unroutable teams, kept as they are in every new version of the plan.
    carried_routes: list[dict[str, Any]] = field(default_factory=list)

    def unroutable_ids(self, kind: str) -> set[int]:
        return {u.id for u in self.unroutable if u.kind == kind}

    def visit_label(self, visit_id: int | str) -> str:
        row = self.visits.get(int(visit_id))
        return str(row.get("pseudonym") or visit_id) if row else str(visit_id)

    def team_name(self, team_id: int | str | None) -> str:
        if team_id is None:
            return ""
        row = self.teams.get(int(team_id))
        return str(row.get("name") or team_id) if row else str(team_id)


def all_rows(fetch: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """Every row of a paged store listing."""
    rows: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = fetch(limit=1000, offset=offset, **kwargs)
        rows.extend(page)
        if page.next_offset is None:
            return rows
        offset = page.next_offset


def present_breaks(breaks: Sequence[Break], now_s: int) -> tuple[Break, ...]:
    """The breaks still to plan at ``now_s``.

    A break whose span is over, or too short from now on to hold it, counts as taken (it is
    no longer planned); one still open is planned from now on, within what is left of it.
    """
    out = []
    for b in breaks:
        if b.latest_end_s - max(b.earliest_start_s, now_s) < b.duration_s:
            continue
        out.append(replace(b, earliest_start_s=max(b.earliest_start_s, now_s)))
    return tuple(out)


def present_team(team: Team, now_s: int, *, location: int | None, at_home: bool) -> Team:
    """``team`` as it stands at ``now_s``: available from now, from ``location`` if known.

    A team whose shift is over is unavailable (its remaining visits go to others or are
    reported). A team at a patient's home keeps leaving from there (its fixed visits say so).
    """
    if now_s >= team.shift_end_s:
        return replace(team, available=False, breaks=())
    if now_s <= team.shift_start_s:
        return team
    return replace(
        team,
        breaks=present_breaks(team.breaks, now_s),
        available_from_s=max(now_s, team.available_from_s or 0),
        available_location=team.available_location if at_home or location is None else location,
    )


def _rota_breaks(breaks: Any) -> tuple[Break, ...]:
    """A rota's fixed breaks of the day (``[[start_s, end_s]]`` or ``[{start_s, end_s}]``)."""
    out = []
    for b in breaks or ():
        start, end = (b["start_s"], b["end_s"]) if isinstance(b, Mapping) else b
        if int(end) > int(start):
            out.append(Break(int(start), int(end), int(end) - int(start)))
    return tuple(out)


def working_teams(
    store: Any, day: str, structure_id: int, teams: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[int, tuple[Break, ...]], list[Unroutable]]:
    """The teams working on ``day``, with that day's shift from their staff's rota.

    A team without staff keeps its own fixed shift. A team with staff works when
    ``store.day_teams`` lists it (the rota less absences): its shift and breaks are that
    day's. Otherwise it is left out: without a word when each of its staff goes out in
    another team that day (a person's own team on a day they go out as a pair), else with
    its reason, ``"absent"`` when one of its staff has an absence that day, else ``"off"``.
    Returns the teams, the rota breaks by team id, and those left out with a reason.
    """
    members = store.day_team_members(day, structure_id)
    if not any(int(t["id"]) in members for t in teams):
        return teams, {}, []
    rota = {int(e["team_id"]): e for e in store.day_teams(day, structures=[structure_id])}
    out_with_others = {int(i) for e in rota.values() for i in e.get("staff_ids") or ()}
    kept: list[dict[str, Any]] = []
    breaks: dict[int, tuple[Break, ...]] = {}
    off: list[Unroutable] = []
    for t in teams:
        tid = int(t["id"])
        if tid not in members:
            kept.append(t)
        elif tid in rota:
            entry = rota[tid]
            kept.append(
                {
                    **t,
                    "shift_start_s": int(entry["shift_start_s"]),
                    "shift_end_s": int(entry["shift_end_s"]),
                    # A pair is a team of two: it alone may take a two-person visit.
                    "size": max(1, len(entry.get("staff_ids") or ())),
                }
            )
            breaks[tid] = _rota_breaks(entry.get("breaks"))
        elif all(m["staff_id"] in out_with_others for m in members[tid]):
            continue
        else:
            absence = next((m["absence"] for m in members[tid] if m.get("absence")), None)
            off.append(
                Unroutable(
                    "team",
                    tid,
                    str(t.get("name") or tid),
                    None if t.get("base_lon") is None else float(t["base_lon"]),
                    None if t.get("base_lat") is None else float(t["base_lat"]),
                    "absent" if absence else "off",
                    absence,
                )
            )
    return kept, breaks, off


def visit_wishes(store: Any, visit_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Each visit's ``wishes`` (excluded and preferred staff ids, gender), parsed (visits
    without any are left out)."""
    out: dict[int, dict[str, Any]] = {}
    ids = [int(i) for i in visit_ids]
    with store.engine.read() as conn:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            for row in conn.execute(
                f"SELECT id, wishes FROM visits WHERE id IN ({marks}) AND wishes IS NOT NULL",
                chunk,
            ):
                try:
                    wishes = json.loads(row["wishes"] or "{}") or {}
                except ValueError:
                    continue
                if isinstance(wishes, dict) and wishes:
                    out[int(row["id"])] = wishes
    return out


def excluded_teams(
    wishes: Mapping[int, Mapping[str, Any]],
    members: Mapping[int, Sequence[int]],
    gender: Mapping[int, str | None],
) -> dict[int, frozenset[str]]:
    """Visit id -> the teams it may not have (as problem team ids): a team holding a member
    the patient excluded, or a member not of the gender the patient asked for (every member
    counts, as :func:`dispatch.care.matching.team_fit` rules). ``members``: team id -> staff
    ids; teams without staff are never excluded."""
    out: dict[int, frozenset[str]] = {}
    for vid, w in wishes.items():
        refused = {int(i) for i in w.get("excluded_staff_ids") or () if isinstance(i, int)}
        wanted = w.get("gender")
        bad = frozenset(
            str(tid)
            for tid, staff in members.items()
            if any(s in refused for s in staff)
            or (wanted and any(gender.get(s) != wanted for s in staff))
        )
        if bad:
            out[vid] = bad
    return out


def _with_exclusions(store: Any, problem: Problem, day: str, sid: int) -> Problem:
    """``problem`` with each visit's ``excluded_team_ids`` from its wishes and the day's
    teams, and its preferred team the day's team of its preferred person when the team it
    names does not work that day."""
    wishes = visit_wishes(store, [int(v.id) for v in problem.visits])
    if not wishes:
        return problem
    teams = {t.id for t in problem.teams}
    members = {
        tid: [m["staff_id"] for m in ms]
        for tid, ms in store.day_team_members(day, sid).items()
        if str(tid) in teams
    }
    with store.engine.read() as conn:
        gender = {
            int(r["id"]): r["gender"]
            for r in conn.execute("SELECT id, gender FROM staff WHERE structure_id = ?", (sid,))
        }
    excluded = excluded_teams(wishes, members, gender)
    # A patient's preferred person going out in a pair that day: the pair is the team to
    # prefer (the generation named the person's own team).
    preferred: dict[int, str] = {}
    for vid, w in wishes.items():
        wanted = {int(i) for i in w.get("preferred_staff_ids") or () if isinstance(i, int)}
        if not wanted:
            continue
        holding = sorted(
            str(tid)
            for tid, staff in members.items()
            if wanted & set(staff) and str(tid) not in excluded.get(vid, ())
        )
        if holding:
            preferred[vid] = holding[0]
    if not excluded and not preferred:
        return problem
    out = []
    for v in problem.visits:
        vid = int(v.id)
        if vid in excluded:
            v = replace(v, excluded_team_ids=excluded[vid])
        if vid in preferred and v.preferred_team_id not in teams:
            v = replace(v, preferred_team_id=preferred[vid])
        out.append(v)
    return problem.with_changes(visits=tuple(out))


def with_off_duty_rounds(
    problem: Problem,
    current: Plan,
    stored: Mapping[str, Any] | None,
    off_duty: Sequence[Unroutable],
    carried: Sequence[Mapping[str, Any]],
    names: Mapping[int, str],
) -> Plan:
    """``current`` with the visits of the stored rounds of teams no longer in the day listed
    as unassigned with the team's name: a team whose staff were recorded absent or off after
    the round was published (``off_duty``), or a team deactivated since (a departure). The
    next plan of the day gives them to others, and until then they show as waiting, never
    silently out of the day's plan. The rounds ``carried`` as they are (unroutable teams)
    and visits no longer in the day (cancelled) are left alone."""
    off = {u.id: u for u in off_duty}
    planned = {t.id for t in problem.teams} | {str(r["team_id"]) for r in carried}
    in_day = set(problem.visits_by_id())
    known = set(current.assignment()) | {u.visit_id for u in current.unassigned}
    waiting = []
    for r in (stored or {}).get("routes", []):
        tid = int(r["team_id"])
        if str(tid) in planned:
            continue
        team = off.get(tid)
        params = (
            {"team": team.name, "why": team.why}
            if team is not None
            else {"team": names.get(tid, f"#{tid}"), "why": "inactive"}
        )
        for s in r.get("stops", []):
            vid = str(s["visit_id"])
            if vid in in_day and vid not in known:
                known.add(vid)
                waiting.append(Unassigned(vid, "team_off", params))
    if not waiting:
        return current
    return replace(current, unassigned=current.unassigned + tuple(waiting))


def _team_names(
    store: Any, stored: Mapping[str, Any] | None, known: Collection[int]
) -> dict[int, str]:
    """Names of the teams of ``stored``'s rounds not in ``known`` (deactivated ones)."""
    out: dict[int, str] = {}
    for r in (stored or {}).get("routes", []):
        tid = int(r["team_id"])
        if tid in known:
            continue
        try:
            out[tid] = str(store.get_team(tid).get("name") or tid)
        except DispatchError:
            out[tid] = f"#{tid}"
    return out


def build_day(
    store: Any,
    router: Any,
    territory_id: str,
    day: str,
    *,
    structure_id: int | None = None,
    now_s: int | None = None,
    fixes: Mapping[int, Fix] | None = None,
    extra: Sequence[tuple[float, float]] = (),
    matrices: MatrixCache | None = None,
) -> Day:
    """The day's problem (a structure's teams working that day, its visits of the day, road
    times) and the structure's published plan of the day.

    Parameters
    ----------
    structure_id
        The structure planned (None: the deployment's only structure).
    now_s
        Seconds since midnight when the day is under way (None: plan the whole day, as for a
        day to come). Then visits done or under way stay where they are, each team leaves
        from where it is now (``fixes``) or from its last visit, no earlier than now, and
        breaks whose span is over count as taken.
    fixes
        The last fresh position of each team (team id -> :class:`Fix`).
    extra
        More points (lon, lat) placed in the matrix: their indices are ``Day.extra_locations``.
    matrices
        Where road times and distances are kept between builds (default: computed afresh).
    """
    if structure_id is None:
        structure_id = store.sole_structure_id()
        if structure_id is None:
            raise ValidationError(
                "give structure_id: this deployment hosts several structures, each planned apart"
            )
    sid = int(structure_id)

    teams = all_rows(store.list_teams, active=True, structures=[sid])
    if not teams:
        raise ValidationError("no active team: add a team (or activate one) before planning")
    visits = usable_visits(all_rows(store.list_visits, day=day, structures=[sid]))
    stored = store.published_plan(day, structure_id=sid)
    fixes = dict(fixes or {}) if now_s is not None else {}
    # Teams whose staff do not work that day are left out with their reason; a team already
    # at work (a visit started or done) stays, on its own shift.
    started = {
        int(v["team_id"])
        for v in visits
        if v.get("status") in AT_HOME + ("done",) and v.get("team_id")
    }
    working, rota_breaks, off_duty = working_teams(store, day, sid, teams)
    back = {u.id for u in off_duty} & started
    off_duty = [u for u in off_duty if u.id not in back]
    shifted = {int(t["id"]): t for t in working}
    keep = set(shifted) | back
    teams = [shifted.get(int(t["id"]), t) for t in teams if int(t["id"]) in keep]
    if not teams:
        raise NoTeamWorks(day, off_duty)
    # A team or a visit whose place cannot be routed (stored before the territory's checks,
    # or far from every road) is left out with its reason; the others are planned.
    unroutable: list[Unroutable] = [
        Unroutable("team", int(t["id"]), str(t.get("name") or t["id"]), None, None, "no_base")
        for t in teams
        if t.get("base_lon") is None or t.get("base_lat") is None
    ]
    teams = [t for t in teams if t.get("base_lon") is not None and t.get("base_lat") is not None]
    team_nodes, team_why = routable_nodes(router, places(teams, []))
    for t, why in zip(teams, team_why, strict=True):
        if why:
            unroutable.append(
                Unroutable(
                    "team",
                    int(t["id"]),
                    str(t.get("name") or t["id"]),
                    float(t["base_lon"]),
                    float(t["base_lat"]),
                    why,
                )
            )
    bad_teams = {u.id for u in unroutable}
    carried = [r for r in (stored or {}).get("routes", []) if int(r["team_id"]) in bad_teams]
    # The visits of an unroutable team's round stay in it, as they are.
    kept = {int(s["visit_id"]) for r in carried for s in r.get("stops", [])}
    kept |= {
        int(v["id"])
        for v in visits
        if v.get("status") in AT_HOME + ("done",) and v.get("team_id") in bad_teams
    }
    visits = [v for v in visits if int(v["id"]) not in kept]
    visit_nodes, visit_why = routable_nodes(router, places([], visits))
    for v, why in zip(visits, visit_why, strict=True):
        if why:
            unroutable.append(
                Unroutable(
                    "visit",
                    int(v["id"]),
                    str(v.get("pseudonym") or v["id"]),
                    float(v["lon"]),
                    float(v["lat"]),
                    why,
                )
            )
    teams = [t for t, why in zip(teams, team_why, strict=True) if not why]
    team_nodes = team_nodes[[not w for w in team_why]]
    visits = [v for v, why in zip(visits, visit_why, strict=True) if not why]
    visit_nodes = visit_nodes[[not w for w in visit_why]]
    if not teams:
        raise ValidationError(
            "no active team can be routed: "
            + "; ".join(
                f"{u.name} ({u.lon:.5f},{u.lat:.5f})"
                if u.lon is not None and u.lat is not None
                else u.name
                for u in unroutable
                if u.kind == "team"
            )
            + f": move their base into {service_area_of(router).where()}"
        )
    points = places(teams, visits, list(extra))
    if extra:
        extra_nodes, _ = router.snap_many(
            np.array([float(p[0]) for p in extra]), np.array([float(p[1]) for p in extra])
        )
    else:
        extra_nodes = np.zeros(0, dtype=np.int64)
    nodes = np.concatenate([team_nodes, visit_nodes, extra_nodes]).astype(np.int64)
    # A position off the territory's roads (a phone's bad fix) is not where the team is:
    # that team leaves from its last visit instead, and no other team is affected.
    fix_teams = [t["id"] for t in teams if t["id"] in fixes]
    if fix_teams:
        fix_nodes, _ = router.snap_many(
            np.array([fixes[tid].lon for tid in fix_teams], dtype=float),
            np.array([fixes[tid].lat for tid in fix_teams], dtype=float),
            strict=False,
        )
        fix_teams = [tid for tid, node in zip(fix_teams, fix_nodes, strict=True) if node >= 0]
        nodes = np.concatenate([nodes, fix_nodes[fix_nodes >= 0]]).astype(nodes.dtype)
    n_base = len(points)
    points += [(fixes[tid].lon, fixes[tid].lat) for tid in fix_teams]
    cache = matrices if matrices is not None else MatrixCache(router)
    time_s, dist_m = cache.matrices(nodes)
    problem, ctx = problem_from_rows(
        teams, visits, time_s, dist_m, day=day, now_s=now_s, stored_plan=stored, lonlats=points
    )
    if rota_breaks:
        # A rota's breaks are those of the day (a part-day absence in the middle of a shift
        # is one); a rota without breaks gets the labour rule's, as fixed shifts do.
        problem = problem.with_changes(
            teams=tuple(
                replace(t, breaks=rota_breaks[int(t.id)]) if rota_breaks.get(int(t.id)) else t
                for t in problem.teams
            )
        )
    ctx.territory = territory_id
    problem = _with_exclusions(store, problem, day, sid)
    if now_s is not None:
        fix_location = {tid: n_base + k for k, tid in enumerate(fix_teams)}
        at_home = {
            int(v["team_id"]) for v in visits if v.get("status") in AT_HOME and v.get("team_id")
        }
        problem = problem.with_changes(
            teams=tuple(
                present_team(
                    t,
                    now_s,
                    location=fix_location.get(int(t.id)),
                    at_home=int(t.id) in at_home,
                )
                for t in problem.teams
            )
        )
    n_teams_visits = len(teams) + len(visits)
    return Day(
        day=day,
        structure_id=sid,
        problem=problem,
        ctx=ctx,
        current=with_off_duty_rounds(
            problem,
            plan_from_stored(problem, stored),
            stored,
            off_duty,
            carried,
            _team_names(
                store,
                stored,
                {int(t.id) for t in problem.teams}
                | {u.id for u in off_duty}
                | {int(r["team_id"]) for r in carried},
            ),
        ),
        stored=stored,
        plan_id=None if stored is None else int(stored["id"]),
        visits={int(v["id"]): v for v in visits},
        teams={int(t["id"]): t for t in teams},
        extra_locations=list(range(n_teams_visits, n_teams_visits + len(extra))),
        unroutable=unroutable + off_duty,
        carried_routes=carried,
    )
