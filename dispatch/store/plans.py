"""Saved plans: one row per plan, its ordered stops per team, and the visits left out."""

from __future__ import annotations

import sqlite3
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
    ) -> dict[str, Any]:
        """Store a plan; with ``publish`` it becomes the day's plan at once.

        ``base_plan_id`` is the published plan it was computed from (None: from nothing).
        ``if_current`` (with ``publish``): publish only if the day's published plan is still
        this id (None: no plan yet), else raise :class:`StalePlanError` and store nothing.

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

        def job(conn: sqlite3.Connection) -> int:
            visit_ids = [s[2] for s in stops] + [u[0] for u in left_out]
            if len(set(visit_ids)) != len(visit_ids):
                raise ValidationError("a visit appears twice in the plan")
            for vid in visit_ids:
                row = conn.execute("SELECT day FROM visits WHERE id = ?", (vid,)).fetchone()
                if row is None:
                    raise NotFoundError(f"visit {vid} does not exist")
                if row["day"] != day:
                    raise ValidationError(f"visit {vid} is on {row['day']}, not on {day}")
            now = now_s()
            cur = conn.execute(
                "INSERT INTO plans (day, status, territory, summary, created_by, created_at_s, demo,"
                " base_plan_id) VALUES (?, 'draft', ?, ?, ?, ?, ?, ?)",
                (day, territory, dumps(summary or {}), created_by, now, int(demo), base_plan_id),
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

    def publish_plan(self, plan_id: int, *, if_current: Any = ANY_VERSION) -> dict[str, Any]:
        """Make a draft the day's plan: the previous one is archived, visits join their rounds.

        ``if_current``: publish only if the day's published plan is still this id (None: no
        plan yet), else raise :class:`StalePlanError` (two coordinators at once).
        """
        self.engine.write(lambda conn: _publish(conn, plan_id, if_current))
        return self.get_plan(plan_id)

    def get_plan(self, plan_id: int, *, team_id: int | None = None) -> dict[str, Any]:
        """A plan with ``routes`` (stops per team, in order) and ``unassigned``.

        ``team_id`` keeps only that team's route (what a team member may see).
        """
        with self.engine.snapshot() as conn:
            plan = to_dict(conn.execute("SELECT * FROM plans WHERE id = ?", (plan_id,)).fetchone())
            if plan is None:
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
        routes: dict[int, list[dict[str, Any]]] = {}
        for row in stops:
            stop = to_dict(row, drop=("plan_id", "id"))
            assert stop is not None
            stop["locked"] = bool(stop["locked"])
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
        limit: int | None = None,
        offset: int | None = None,
    ) -> Page:
        """Plans (without their stops), newest first."""
        limit, offset = clamp_page(limit, offset)
        if status is not None and status not in PLAN_STATUSES:
            raise ValidationError(
                f"status {shown(status)} is not one of {', '.join(PLAN_STATUSES)}"
            )
        where, args = where_clause(
            [("day = ?", None if day is None else parse_day(day)), ("status = ?", status)]
        )
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

    def published_plan_id(self, day: str) -> int | None:
        """The id of the published plan of ``day`` (its version), or None."""
        with self.engine.read() as conn:
            row = conn.execute(
                "SELECT id FROM plans WHERE day = ? AND status = 'published' ORDER BY id DESC",
                (parse_day(day),),
            ).fetchone()
        return None if row is None else int(row["id"])

    def published_plan(self, day: str, *, team_id: int | None = None) -> dict[str, Any] | None:
        """The published plan of ``day`` (None if there is none)."""
        with self.engine.read() as conn:
            row = conn.execute(
                "SELECT id FROM plans WHERE day = ? AND status = 'published' ORDER BY id DESC",
                (parse_day(day),),
            ).fetchone()
        return None if row is None else self.get_plan(row["id"], team_id=team_id)


def _publish(conn: sqlite3.Connection, plan_id: int, if_current: Any = ANY_VERSION) -> None:
    plan = conn.execute("SELECT day, status FROM plans WHERE id = ?", (plan_id,)).fetchone()
    if plan is None:
        raise NotFoundError(f"plan {plan_id} does not exist")
    if if_current is not ANY_VERSION:
        row = conn.execute(
            "SELECT id FROM plans WHERE day = ? AND status = 'published' ORDER BY id DESC",
            (plan["day"],),
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
        "UPDATE plans SET status = 'archived' WHERE day = ? AND status = 'published' AND id != ?",
        (plan["day"], plan_id),
    )
    conn.execute(
        "UPDATE plans SET status = 'published', published_at_s = ? WHERE id = ?", (now, plan_id)
    )
    # Visits not yet visited follow the plan: planned stops join their team's round,
    # visits left out leave any round. Visits already started keep their team.
    open_statuses = "('planned', 'assigned')"
    conn.execute(
        f"UPDATE visits SET team_id = (SELECT team_id FROM plan_stops s WHERE s.plan_id = ?"
        f" AND s.visit_id = visits.id), status = 'assigned', updated_at_s = ?"
        f" WHERE id IN (SELECT visit_id FROM plan_stops WHERE plan_id = ?)"
        f" AND status IN {open_statuses}",
        (plan_id, now, plan_id),
    )
    conn.execute(
        f"UPDATE visits SET team_id = NULL, status = 'planned', updated_at_s = ?"
        f" WHERE id IN (SELECT visit_id FROM plan_unassigned WHERE plan_id = ?)"
        f" AND status IN {open_statuses}",
        (now, plan_id),
    )
