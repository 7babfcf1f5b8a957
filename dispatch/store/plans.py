"""Saved plans: one row per plan, its ordered stops per team, and the visits left out.

A day's plan belongs to one structure (``plans.structure_id``): each structure publishes its
own version of the day, with its own teams and visits only. Methods taking ``structures``
(the caller's structures; None: unrestricted, for the CLI and system jobs) answer
NotFoundError for a plan of another structure, as if it did not exist.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from dispatch.errors import ConflictError, NotFoundError, StalePlanError, ValidationError
from dispatch.store.core import now_s
from dispatch.store.models import parse_day, shown
from dispatch.store.rows import Page, clamp_page, dumps, select_page, to_dict, where_clause

if TYPE_CHECKING:
    from dispatch.store.core import Engine

PLAN_STATUSES = ("draft", "published", "archived")
#: ``if_current`` default: publish whatever the day's current plan is.
ANY_VERSION: Any = object()
_STOP_FIELDS = ("arrival_s", "start_s", "end_s", "travel_time_s", "distance_m")


def _visible(structure_id: Any, structures: Collection[int] | None) -> bool:
    return structures is None or (structure_id is not None and int(structure_id) in structures)


def _in(column: str, structures: Collection[int] | None) -> tuple[str, list[int]]:
    """``column IN (...)`` for ``structures`` (``"1"`` when unrestricted, ``"0"`` for none)."""
    if structures is None:
        return "1", []
    ids = sorted({int(x) for x in structures})
    if not ids:
        return "0", []
    return f"{column} IN ({', '.join('?' for _ in ids)})", ids


def sole_structure_id(conn: sqlite3.Connection) -> int | None:
    """The deployment's structure when it hosts only one (None when it hosts several)."""
    rows = conn.execute("SELECT id FROM structures ORDER BY id LIMIT 2").fetchall()
    return int(rows[0][0]) if len(rows) == 1 else None


def _plan_structure(
    conn: sqlite3.Connection,
    structure_id: int | None,
    visit_ids: list[int],
    team_ids: list[int],
) -> int:
    """The structure a plan of these visits and teams belongs to; all must be of it."""
    found: dict[int, str] = {}
    for vid in visit_ids:
        row = conn.execute("SELECT structure_id FROM visits WHERE id = ?", (vid,)).fetchone()
        if row is not None:
            found.setdefault(int(row[0]), f"visit {vid}")
    for tid in team_ids:
        row = conn.execute("SELECT structure_id FROM teams WHERE id = ?", (tid,)).fetchone()
        if row is not None:
            found.setdefault(int(row[0]), f"team {tid}")
    if structure_id is None:
        if len(found) > 1:
            raise ValidationError(
                "a plan holds the visits and teams of one structure: "
                + ", ".join(f"{what} is of structure {sid}" for sid, what in sorted(found.items()))
            )
        if found:
            return next(iter(found))
        sole = sole_structure_id(conn)
        if sole is None:
            raise ValidationError("give structure_id: this deployment hosts several structures")
        return sole
    for sid, what in found.items():
        if sid != structure_id:
            raise ValidationError(
                f"{what} is not of structure {structure_id}: a plan holds the visits and teams"
                " of one structure"
            )
    return int(structure_id)


class PlansMixin:
    """Plans produced by the optimiser and published to the teams."""

    engine: Engine

    def save_plan(
        self,
        day: str,
        routes: list[dict[str, Any]],
        *,
        unassigned: list[dict[str, Any]] | None = None,
        summary: dict[str, Any] | None = None,
        territory: str | None = None,
        created_by: str | None = None,
        publish: bool = False,
        demo: bool = False,
        base_plan_id: int | None = None,
        if_current: Any = ANY_VERSION,
        structure_id: int | None = None,
    ) -> dict[str, Any]:
        """Store a plan; with ``publish`` it becomes the day's plan of its structure at once.

        ``base_plan_id`` is the published plan it was computed from (None: from nothing).
        ``if_current`` (with ``publish``): publish only if the structure's published plan of
        the day is still this id (None: no plan yet), else raise :class:`StalePlanError` and
        store nothing. ``structure_id``: the structure planned (None: that of the plan's
        visits and teams, or the deployment's only structure); every visit and team of the
        plan must be of it.

        Parameters
        ----------
        routes
            ``[{"team_id": 3, "stops": [{"visit_id": 12, "arrival_s": ..., "start_s": ...,
            "end_s": ..., "travel_time_s": ..., "distance_m": ..., "locked": False}, ...]}]``,
            stops in visiting order, times in seconds since midnight of ``day``.
        unassigned
            ``[{"visit_id": 14, "reason": "no team has skill palliative"}]``.
        """
        day = parse_day(day)
        if not isinstance(routes, list):
            raise ValidationError("routes must be a list of {team_id, stops}")
        stops: list[tuple[Any, ...]] = []
        for route in routes:
            if not isinstance(route, dict) or "team_id" not in route:
                raise ValidationError("each route needs a team_id and a list of stops")
            for seq, stop in enumerate(route.get("stops") or []):
                if "visit_id" not in stop:
                    raise ValidationError(f"team {route['team_id']}: stop {seq} has no visit_id")
                stops.append(
                    (
                        int(route["team_id"]),
                        seq,
                        int(stop["visit_id"]),
                        *(None if stop.get(k) is None else int(stop[k]) for k in _STOP_FIELDS),
                        int(bool(stop.get("locked", False))),
                    )
                )
        left_out = [(int(u["visit_id"]), str(u.get("reason") or "")) for u in unassigned or []]

        team_ids = sorted({int(r["team_id"]) for r in routes})

        def job(conn: sqlite3.Connection) -> int:
            visit_ids = _plan_visit_ids(conn, stops, left_out)
            sid = _plan_structure(conn, structure_id, visit_ids, team_ids)
            for vid in visit_ids:
                row = conn.execute("SELECT day FROM visits WHERE id = ?", (vid,)).fetchone()
                if row is None:
                    raise NotFoundError(f"visit {vid} does not exist")
                if row["day"] != day:
                    raise ValidationError(f"visit {vid} is on {row['day']}, not on {day}")
            now = now_s()
            cur = conn.execute(
                "INSERT INTO plans (day, status, territory, summary, created_by, created_at_s, demo,"
                " base_plan_id, structure_id) VALUES (?, 'draft', ?, ?, ?, ?, ?, ?, ?)",
                (
                    day,
                    territory,
                    dumps(summary or {}),
                    created_by,
                    now,
                    int(demo),
                    base_plan_id,
                    sid,
                ),
            )
            plan_id = int(cur.lastrowid or 0)
            conn.executemany(
                "INSERT INTO plan_stops (plan_id, team_id, seq, visit_id, arrival_s, start_s,"
                " end_s, travel_time_s, distance_m, locked) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [(plan_id, *s) for s in stops],
            )
            conn.executemany(
                "INSERT INTO plan_unassigned (plan_id, visit_id, reason) VALUES (?, ?, ?)",
                [(plan_id, *u) for u in left_out],
            )
            if publish:
                _publish(conn, plan_id, if_current)
            return plan_id

        return self.get_plan(self.engine.write(job))

    def publish_plan(
        self,
        plan_id: int,
        *,
        if_current: Any = ANY_VERSION,
        structures: Collection[int] | None = None,
    ) -> dict[str, Any]:
        """Make a draft the day's plan of its structure: the structure's previous one is
        archived, visits join their rounds.

        ``if_current``: publish only if the structure's published plan of the day is still
        this id (None: no plan yet), else raise :class:`StalePlanError` (two coordinators at
        once).
        """
        self.engine.write(lambda conn: _publish(conn, plan_id, if_current, structures))
        return self.get_plan(plan_id)

    def get_plan(
        self,
        plan_id: int,
        *,
        team_id: int | None = None,
        structures: Collection[int] | None = None,
    ) -> dict[str, Any]:
        """A plan with ``routes`` (stops per team, in order) and ``unassigned``.

        ``team_id`` keeps only that team's route (what a team member may see).
        """
        with self.engine.snapshot() as conn:
            plan = to_dict(conn.execute("SELECT * FROM plans WHERE id = ?", (plan_id,)).fetchone())
            if plan is None or not _visible(plan["structure_id"], structures):
                raise NotFoundError(f"plan {plan_id} does not exist")
            args: list[Any] = [plan_id]
            where = "plan_id = ?"
            if team_id is not None:
                where += " AND team_id = ?"
                args.append(team_id)
            stops = conn.execute(
                f"SELECT * FROM plan_stops WHERE {where} ORDER BY team_id, seq", args
            ).fetchall()
            unassigned = (
                []
                if team_id is not None
                else conn.execute(
                    "SELECT visit_id, reason FROM plan_unassigned WHERE plan_id = ? ORDER BY id",
                    (plan_id,),
                ).fetchall()
            )
            partners = _partners(conn, plan_id)
        routes: dict[int, list[dict[str, Any]]] = {}
        for row in stops:
            stop = to_dict(row, drop=("plan_id", "id"))
            assert stop is not None
            stop["locked"] = bool(stop["locked"])
            for other_id, other_name in partners.get(stop["visit_id"], ()):
                if other_id != row["team_id"]:
                    stop["partner_team_id"], stop["partner_name"] = other_id, other_name
            routes.setdefault(stop.pop("team_id"), []).append(stop)
        plan["demo"] = bool(plan["demo"])
        plan["routes"] = [{"team_id": t, "stops": s} for t, s in sorted(routes.items())]
        plan["unassigned"] = [dict(r) for r in unassigned]
        return plan

    def list_plans(
        self,
        *,
        day: str | None = None,
        status: str | None = None,
        structure_id: int | None = None,
        structures: Collection[int] | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> Page:
        """Plans (without their stops), newest first; ``structure_id``: that structure's."""
        limit, offset = clamp_page(limit, offset)
        if status is not None and status not in PLAN_STATUSES:
            raise ValidationError(
                f"status {shown(status)} is not one of {', '.join(PLAN_STATUSES)}"
            )
        where, args = where_clause(
            [
                ("day = ?", None if day is None else parse_day(day)),
                ("status = ?", status),
                ("structure_id = ?", structure_id),
            ]
        )
        scope, scope_args = _in("structure_id", structures)
        where = f"{where} AND {scope}" if where else f"WHERE {scope}"
        args += scope_args
        with self.engine.snapshot() as conn:
            total, rows = select_page(
                conn,
                table="plans p",
                where=where,
                args=args,
                columns="p.*,"
                " (SELECT count(*) FROM plan_stops s WHERE s.plan_id = p.id) AS n_stops,"
                " (SELECT count(*) FROM plan_unassigned u WHERE u.plan_id = p.id) AS n_unassigned",
                order_by="id DESC",
                limit=limit,
                offset=offset,
            )
        items = []
        for r in rows:
            plan = to_dict(r)
            assert plan is not None
            plan["demo"] = bool(plan["demo"])
            items.append(plan)
        return Page(items, total=total, limit=limit, offset=offset)

    def published_plan_id(
        self,
        day: str,
        *,
        structure_id: int | None = None,
        structures: Collection[int] | None = None,
    ) -> int | None:
        """The id of the published plan of ``day`` (its version) of ``structure_id``, or None.

        Without ``structure_id``: the newest published plan of the day among ``structures``
        (a version of the day as a whole: it changes whenever one structure publishes).
        """
        ids = self.published_plan_ids(day, structure_id, structures)
        return max(ids.values()) if ids else None

    def published_plan(
        self,
        day: str,
        *,
        team_id: int | None = None,
        structure_id: int | None = None,
        structures: Collection[int] | None = None,
    ) -> dict[str, Any] | None:
        """The published plan of ``day`` (None if there is none).

        ``structure_id``: that structure's plan; else ``team_id``'s structure's (with only
        that team's route); else the published rounds of every structure in ``structures``
        together (``id``: the newest plan's, ``plans``: each structure's plan id), as the
        live map follows the day.
        """
        if structure_id is None and team_id is not None:
            with self.engine.read() as conn:
                row = conn.execute(
                    "SELECT structure_id FROM teams WHERE id = ?", (team_id,)
                ).fetchone()
            if row is None or not _visible(row[0], structures):
                return None
            structure_id = int(row[0])
        ids = self.published_plan_ids(day, structure_id, structures)
        plans = [self.get_plan(pid, team_id=team_id) for _, pid in sorted(ids.items())]
        if not plans:
            return None
        if len(plans) == 1:
            return plans[0]
        newest = max(plans, key=lambda p: int(p["id"]))
        return {
            **newest,
            "structure_id": None,
            "published_at_s": max(float(p.get("published_at_s") or 0) for p in plans),
            "plans": [{"id": p["id"], "structure_id": p["structure_id"]} for p in plans],
            "routes": sorted(
                (r for p in plans for r in p["routes"]), key=lambda r: int(r["team_id"])
            ),
            "unassigned": [u for p in plans for u in p["unassigned"]],
        }

    def published_plan_ids(
        self,
        day: str,
        structure_id: int | None = None,
        structures: Collection[int] | None = None,
    ) -> dict[int, int]:
        """structure id -> id of its published plan of ``day`` (of ``structure_id`` only when
        given; of ``structures``)."""
        if structure_id is not None and not _visible(structure_id, structures):
            return {}
        scope, scope_args = _in("structure_id", structures)
        where = "day = ? AND status = 'published' AND " + scope
        args: list[Any] = [parse_day(day), *scope_args]
        if structure_id is not None:
            where += " AND structure_id = ?"
            args.append(int(structure_id))
        with self.engine.read() as conn:
            rows = conn.execute(
                f"SELECT structure_id, max(id) AS id FROM plans WHERE {where}"
                " GROUP BY structure_id",
                args,
            ).fetchall()
        return {int(r["structure_id"]): int(r["id"]) for r in rows}

    def day_team_members(self, day: str, structure_id: int) -> dict[int, list[dict[str, Any]]]:
        """The structure's teams that have staff: team id -> its members on ``day``
        (``{staff_id, name, absence}``, ``absence`` the kind of a whole-day absence that day,
        else None). Teams without staff are not listed (they keep their fixed shift)."""
        day = parse_day(day)
        with self.engine.read() as conn:
            rows = conn.execute(
                "SELECT m.team_id, s.id AS staff_id, s.name,"
                " (SELECT a.kind FROM absences a WHERE a.staff_id = s.id"
                "  AND a.cancelled_at_s IS NULL AND a.part IS NULL"
                "  AND a.from_day <= ? AND a.to_day >= ? ORDER BY a.id LIMIT 1) AS absence"
                " FROM team_members m JOIN staff s ON s.id = m.staff_id"
                " JOIN teams t ON t.id = m.team_id WHERE t.structure_id = ?"
                " ORDER BY m.team_id, s.id",
                (day, day, int(structure_id)),
            ).fetchall()
        out: dict[int, list[dict[str, Any]]] = {}
        for r in rows:
            out.setdefault(int(r["team_id"]), []).append(
                {"staff_id": int(r["staff_id"]), "name": r["name"], "absence": r["absence"]}
            )
        return out

    def sole_structure_id(self) -> int | None:
        """The deployment's structure when it hosts only one (None when it hosts several)."""
        with self.engine.read() as conn:
            return sole_structure_id(conn)


def _partners(conn: sqlite3.Connection, plan_id: int) -> dict[int, list[tuple[int, str]]]:
    """visit id -> [(team id, team name)] for the plan's visits in two routes."""
    rows = conn.execute(
        "SELECT s.visit_id, s.team_id, t.name FROM plan_stops s JOIN teams t ON t.id = s.team_id"
        " WHERE s.plan_id = ? AND s.visit_id IN (SELECT visit_id FROM plan_stops"
        " WHERE plan_id = ? GROUP BY visit_id HAVING count(*) > 1)",
        (plan_id, plan_id),
    ).fetchall()
    out: dict[int, list[tuple[int, str]]] = {}
    for r in rows:
        out.setdefault(int(r["visit_id"]), []).append((int(r["team_id"]), str(r["name"])))
    return out


def _plan_visit_ids(
    conn: sqlite3.Connection, stops: list[tuple[Any, ...]], left_out: list[tuple[int, str]]
) -> list[int]:
    """Each visit of a plan once; a visit is in one route, or left out, except a two-person
    visit (``staff_count`` 2), which may be in the routes of two different teams."""
    teams_of: dict[int, list[int]] = {}
    for stop in stops:
        teams_of.setdefault(stop[2], []).append(stop[0])
    left = [u[0] for u in left_out]
    if len(set(left)) != len(left) or set(left) & set(teams_of):
        raise ValidationError("a visit appears twice in the plan")
    for vid, teams in teams_of.items():
        if len(teams) == 1:
            continue
        row = conn.execute("SELECT staff_count FROM visits WHERE id = ?", (vid,)).fetchone()
        if len(teams) > 2 or len(set(teams)) != 2 or row is None or (row[0] or 1) < 2:
            raise ValidationError(
                f"visit {vid} appears twice in the plan: only a two-person visit may be in the"
                " routes of two different teams"
            )
    return list(teams_of) + left


def _publish(
    conn: sqlite3.Connection,
    plan_id: int,
    if_current: Any = ANY_VERSION,
    structures: Collection[int] | None = None,
) -> None:
    plan = conn.execute(
        "SELECT day, status, structure_id FROM plans WHERE id = ?", (plan_id,)
    ).fetchone()
    if plan is None or not _visible(plan["structure_id"], structures):
        raise NotFoundError(f"plan {plan_id} does not exist")
    if if_current is not ANY_VERSION:
        row = conn.execute(
            "SELECT id FROM plans WHERE day = ? AND structure_id = ? AND status = 'published'"
            " ORDER BY id DESC",
            (plan["day"], plan["structure_id"]),
        ).fetchone()
        current = None if row is None else int(row["id"])
        if current != if_current:
            raise StalePlanError(
                f"the plan of {plan['day']} changed (version {current}, expected {if_current}):"
                " compute the change again from the current plan"
            )
    if plan["status"] == "archived":
        raise ConflictError(f"plan {plan_id} is archived: save a new plan instead")
    now = now_s()
    conn.execute(
        "UPDATE plans SET status = 'archived' WHERE day = ? AND structure_id = ?"
        " AND status = 'published' AND id != ?",
        (plan["day"], plan["structure_id"], plan_id),
    )
    conn.execute(
        "UPDATE plans SET status = 'published', published_at_s = ? WHERE id = ?", (now, plan_id)
    )
    # Visits not yet visited follow the plan: planned stops join their team's round,
    # visits left out leave any round. Visits already started keep their team. A two-person
    # visit in two routes has the first route's team as team_id, the other as partner.
    open_statuses = "('planned', 'assigned')"
    conn.execute(
        f"UPDATE visits SET team_id = (SELECT team_id FROM plan_stops s WHERE s.plan_id = ?"
        f" AND s.visit_id = visits.id ORDER BY s.id LIMIT 1),"
        f" partner_team_id = (SELECT team_id FROM plan_stops s WHERE s.plan_id = ?"
        f" AND s.visit_id = visits.id ORDER BY s.id LIMIT 1 OFFSET 1),"
        f" status = 'assigned', updated_at_s = ?"
        f" WHERE id IN (SELECT visit_id FROM plan_stops WHERE plan_id = ?)"
        f" AND status IN {open_statuses}",
        (plan_id, plan_id, now, plan_id),
    )
    conn.execute(
        f"UPDATE visits SET team_id = NULL, partner_team_id = NULL, status = 'planned',"
        f" updated_at_s = ?"
        f" WHERE id IN (SELECT visit_id FROM plan_unassigned WHERE plan_id = ?)"
        f" AND status IN {open_statuses}",
        (now, plan_id),
    )
