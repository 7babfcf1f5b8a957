"""Teams, visits, visit events and the audit log of reads of protected details."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from dispatch.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from dispatch.store.core import now_s
from dispatch.store.models import (
    EVENT_STATUS,
    ServiceArea,
    free_team_color,
    parse_event,
    parse_team,
    parse_visit,
    shown,
)
from dispatch.store.rows import Page, clamp_page, dumps, select_page, to_dict, where_clause
from dispatch.store.structures import in_structures, scoped, structure_filter

if TYPE_CHECKING:
    from dispatch.store.core import Engine

#: Fields whose change by hand makes a generated visit keep its edits at the next generation.
HAND_EDITED_FIELDS = frozenset(
    ("day", "windows", "duration_s", "skills", "priority", "team_id", "preferred_team_id")
)

#: Why a visit was missed (event kind ``missed``): the phone offers these, with free text.
MISSED_REASONS = ("absent", "refused", "hospitalised", "no_access", "other")

#: Columns of a visit shown on shared screens (the protected details are not among them).
VISIT_PUBLIC = (
    "id, day, pseudonym, care_kind, address, commune, lon, lat, duration_s, windows, skills,"
    " priority, mandatory, preferred_team_id, team_id, status, external_ref, demo, created_at_s,"
    " updated_at_s, structure_id, patient_id, care_plan_id, staff_count, hand_edited,"
    " partner_team_id"
)

#: Who may see what: ``structures`` arguments are the caller's structures (None: unrestricted,
#: for the CLI and system jobs). A row of another structure is answered as if it did not exist.
Structures = Collection[int] | None
#: The structure of records created without one (the one existing rows moved into).
DEFAULT_STRUCTURE_ID = 1


def _team_row(row: sqlite3.Row | None) -> dict[str, Any] | None:
    team = to_dict(row)
    if team is not None:
        team["active"] = bool(team["active"])
        team["demo"] = bool(team["demo"])
    return team


def _visit_row(row: sqlite3.Row | None) -> dict[str, Any] | None:
    visit = to_dict(row)
    if visit is not None:
        visit["demo"] = bool(visit["demo"])
        for key in ("mandatory", "hand_edited"):
            if key in visit:
                visit[key] = bool(visit[key])
    return visit


def _check_structure(conn: sqlite3.Connection, structure_id: int | None) -> int:
    """The structure a new record goes into (it must exist)."""
    structure_id = DEFAULT_STRUCTURE_ID if structure_id is None else int(structure_id)
    if conn.execute("SELECT 1 FROM structures WHERE id = ?", (structure_id,)).fetchone() is None:
        raise NotFoundError(f"structure {structure_id} does not exist")
    return structure_id


def _team_ids(conn: sqlite3.Connection, structure_id: int) -> set[int]:
    """The teams of one structure (a visit is assigned or preferred to one of them only)."""
    return {
        int(r[0])
        for r in conn.execute("SELECT id FROM teams WHERE structure_id = ?", (structure_id,))
    }


def _visit_structure(conn: sqlite3.Connection, visit_id: int, structures: Structures) -> int:
    """The structure of a visit the caller may see (NotFoundError otherwise)."""
    row = conn.execute("SELECT structure_id FROM visits WHERE id = ?", (visit_id,)).fetchone()
    if row is None or not in_structures(row[0], structures):
        raise NotFoundError(f"visit {visit_id} does not exist")
    return int(row[0])


class CareMixin:
    """The care data: teams, visits and what happened at each visit."""

    engine: Engine

    # -- audit ---------------------------------------------------------------------------------
    def audit(
        self,
        actor: str,
        action: str,
        *,
        role: str | None = None,
        target: str | None = None,
        ip: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Append one line to the audit log (committed before returning)."""
        self.engine.write(lambda conn: _audit(conn, actor, action, role, target, ip, detail))

    def list_audit(
        self,
        *,
        target: str | None = None,
        actor: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> Page:
        """Audit lines, newest first, optionally for one target or actor."""
        limit, offset = clamp_page(limit, offset)
        where, args = where_clause([("target = ?", target), ("actor = ?", actor)])
        with self.engine.snapshot() as conn:
            total, rows = select_page(
                conn,
                table="audit_log",
                where=where,
                args=args,
                order_by="id DESC",
                limit=limit,
                offset=offset,
            )
        return Page([to_dict(r) for r in rows], total=total, limit=limit, offset=offset)

    # -- teams ---------------------------------------------------------------------------------
    def add_team(
        self,
        data: dict[str, Any],
        *,
        demo: bool = False,
        area: ServiceArea | None = None,
        structure_id: int | None = None,
    ) -> dict[str, Any]:
        """Create a team from API-style fields (see :func:`~dispatch.store.models.parse_team`).

        ``area``: the served territory; a base outside it is refused. ``structure_id``: the
        structure the team works for (default: the default structure).
        """
        row = parse_team(data)
        if area is not None:
            area.check(row["base_lon"], row["base_lat"], what=f"team {shown(row['name'])}: base")

        def job(conn: sqlite3.Connection) -> int:
            if conn.execute("SELECT 1 FROM teams WHERE name = ?", (row["name"],)).fetchone():
                raise ConflictError(
                    f"team {shown(row['name'])} already exists: choose another name"
                )
            structure = _check_structure(conn, structure_id)
            if not row.get("color"):
                # A new team never takes the colour of an active team (the map tells them
                # apart by it).
                used = {r[0] for r in conn.execute("SELECT color FROM teams WHERE active = 1")}
                row["color"] = free_team_color(used)
            now = now_s()
            values = {
                **row,
                "skills": dumps(row["skills"]),
                "demo": int(demo),
                "structure_id": structure,
            }
            values.update(created_at_s=now, updated_at_s=now)
            cols = ", ".join(values)
            marks = ", ".join("?" for _ in values)
            cur = conn.execute(
                f"INSERT INTO teams ({cols}) VALUES ({marks})", list(values.values())
            )
            return int(cur.lastrowid or 0)

        return self.get_team(self.engine.write(job))

    def get_team(self, team_id: int, *, structures: Structures = None) -> dict[str, Any]:
        """A team by id (NotFoundError if none, or of a structure not in ``structures``)."""
        with self.engine.read() as conn:
            team = _team_row(
                conn.execute("SELECT * FROM teams WHERE id = ?", (team_id,)).fetchone()
            )
        if team is None or not in_structures(team["structure_id"], structures):
            raise NotFoundError(f"team {team_id} does not exist")
        return team

    def find_team(self, name: str, *, structures: Structures = None) -> dict[str, Any]:
        """A team by name (NotFoundError listing the known names if none)."""
        where, args = structure_filter(structures)
        with self.engine.read() as conn:
            row = conn.execute(
                f"SELECT * FROM teams WHERE name = ? AND {where}", (name, *args)
            ).fetchone()
            if row is None:
                known = [
                    r[0]
                    for r in conn.execute(
                        f"SELECT name FROM teams WHERE {where} ORDER BY name LIMIT 20", args
                    )
                ]
        if row is None:
            hint = (
                f" (known: {', '.join(known)})" if known else " (no team yet: `dispatch team add`)"
            )
            raise NotFoundError(f"team {shown(name)} does not exist{hint}")
        team = _team_row(row)
        assert team is not None
        return team

    def list_teams(
        self,
        *,
        active: bool | None = None,
        limit: int | None = None,
        offset: int | None = None,
        structures: Structures = None,
    ) -> Page:
        """Teams ordered by name (``structures``: of those structures only)."""
        limit, offset = clamp_page(limit, offset)
        where, args = scoped(
            *where_clause([("active = ?", None if active is None else int(active))]), structures
        )
        with self.engine.snapshot() as conn:
            total, rows = select_page(
                conn,
                table="teams",
                where=where,
                args=args,
                order_by="name",
                limit=limit,
                offset=offset,
            )
        return Page([_team_row(r) for r in rows], total=total, limit=limit, offset=offset)

    def update_team(
        self,
        team_id: int,
        data: dict[str, Any],
        *,
        area: ServiceArea | None = None,
        structures: Structures = None,
    ) -> dict[str, Any]:
        """Change some fields of a team (``area``: a new base outside it is refused)."""
        current = self.get_team(team_id, structures=structures)
        row = parse_team(data, partial=True)
        if area is not None and ("base_lon" in row or "base_lat" in row):
            area.check(
                row.get("base_lon", current["base_lon"]),
                row.get("base_lat", current["base_lat"]),
                what=f"team {shown(row.get('name') or current['name'])}: base",
            )
        start = row.get("shift_start_s", current["shift_start_s"])
        end = row.get("shift_end_s", current["shift_end_s"])
        if end <= start:
            raise ValidationError(f"team {shown(current['name'])}: the shift ends before it starts")
        if not row:
            return current
        if "skills" in row:
            row["skills"] = dumps(row["skills"])

        def job(conn: sqlite3.Connection) -> None:
            if (
                "name" in row
                and conn.execute(
                    "SELECT 1 FROM teams WHERE name = ? AND id != ?", (row["name"], team_id)
                ).fetchone()
            ):
                raise ConflictError(
                    f"team {shown(row['name'])} already exists: choose another name"
                )
            if row.get("active") == 1 and not current["active"] and "color" not in row:
                # Back in service: its colour may have gone to a team created meanwhile.
                used = {
                    r[0]
                    for r in conn.execute(
                        "SELECT color FROM teams WHERE active = 1 AND id != ?", (team_id,)
                    )
                }
                if not current["color"] or current["color"].lower() in {
                    c.lower() for c in used if c
                }:
                    row["color"] = free_team_color(used)
            cols = ", ".join(f"{k} = ?" for k in row)
            conn.execute(
                f"UPDATE teams SET {cols}, updated_at_s = ? WHERE id = ?",
                (*row.values(), now_s(), team_id),
            )

        self.engine.write(job)
        return self.get_team(team_id)

    # -- visits --------------------------------------------------------------------------------
    def add_visit(
        self,
        data: dict[str, Any],
        *,
        demo: bool = False,
        area: ServiceArea | None = None,
        structure_id: int | None = None,
    ) -> dict[str, Any]:
        """Create one visit from API-style fields; returns its public view."""
        return self.add_visits([data], demo=demo, area=area, structure_id=structure_id)[0]

    def add_visits(
        self,
        items: list[dict[str, Any]],
        *,
        demo: bool = False,
        labels: list[str] | None = None,
        area: ServiceArea | None = None,
        structure_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """Create several visits in one transaction (all or none).

        ``area``: the served territory; a visit outside it is refused. ``structure_id``: the
        structure the visits belong to (default: the default structure); their teams must be
        of that structure.
        """
        rows = [
            parse_visit(item, label=labels[i] if labels else f"visit {i + 1}")
            for i, item in enumerate(items)
        ]
        if area is not None:
            for i, row in enumerate(rows):
                label = labels[i] if labels else f"visit {i + 1}"
                area.check(row["lon"], row["lat"], what=f"{label}: home")

        def job(conn: sqlite3.Connection) -> list[int]:
            structure = _check_structure(conn, structure_id)
            team_ids = _team_ids(conn, structure)
            ids = []
            now = now_s()
            for i, row in enumerate(rows):
                for key in ("preferred_team_id", "team_id"):
                    if row.get(key) is not None and row[key] not in team_ids:
                        label = labels[i] if labels else f"visit {i + 1}"
                        raise NotFoundError(f"{label}: {key} {row[key]} is not a team")
                values = dict(row)
                values["status"] = values.get("status") or (
                    "assigned" if values.get("team_id") else "planned"
                )
                for key in ("windows", "skills", "protected"):
                    values[key] = dumps(values[key])
                values.update(
                    demo=int(demo), created_at_s=now, updated_at_s=now, structure_id=structure
                )
                cols = ", ".join(values)
                marks = ", ".join("?" for _ in values)
                cur = conn.execute(
                    f"INSERT INTO visits ({cols}) VALUES ({marks})", list(values.values())
                )
                ids.append(int(cur.lastrowid or 0))
            return ids

        ids = self.engine.write(job)
        return self.get_visits(ids)

    def get_visits(self, ids: list[int], *, structures: Structures = None) -> list[dict[str, Any]]:
        """Public views of several visits, in the order of ``ids`` (missing ids, and those of
        structures not in ``structures``, left out)."""
        found: dict[int, dict[str, Any]] = {}
        scope, scope_args = structure_filter(structures)
        with self.engine.read() as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ", ".join("?" for _ in chunk)
                for row in conn.execute(
                    f"SELECT {VISIT_PUBLIC} FROM visits WHERE id IN ({marks}) AND {scope}",
                    [*chunk, *scope_args],
                ):
                    visit = _visit_row(row)
                    assert visit is not None
                    found[visit["id"]] = visit
        return [found[i] for i in ids if i in found]

    def get_visit(self, visit_id: int, *, structures: Structures = None) -> dict[str, Any]:
        """The public view of a visit: pseudonym, place, duration, windows (no protected
        details). NotFoundError if none, or of a structure not in ``structures``."""
        with self.engine.read() as conn:
            visit = _visit_row(
                conn.execute(
                    f"SELECT {VISIT_PUBLIC} FROM visits WHERE id = ?", (visit_id,)
                ).fetchone()
            )
        if visit is None or not in_structures(visit["structure_id"], structures):
            raise NotFoundError(f"visit {visit_id} does not exist")
        return visit

    def list_visits(
        self,
        *,
        day: str | None = None,
        team_id: int | None = None,
        status: str | None = None,
        unassigned: bool = False,
        limit: int | None = None,
        offset: int | None = None,
        structures: Structures = None,
    ) -> Page:
        """Public views of visits, by day then first window start then id (``structures``:
        of those structures only)."""
        limit, offset = clamp_page(limit, offset)
        where, args = scoped(
            *where_clause(
                [
                    ("day = ?", day),
                    # A team's visits include the two-person visits it serves as partner.
                    ("? IN (team_id, partner_team_id)", team_id),
                    ("team_id IS NULL", True if unassigned else None),
                    ("status = ?", status),
                ]
            ),
            structures,
        )
        with self.engine.snapshot() as conn:
            total, rows = select_page(
                conn,
                table="visits",
                where=where,
                args=args,
                columns=VISIT_PUBLIC,
                order_by="day, json_extract(windows, '$[0][0]'), id",
                limit=limit,
                offset=offset,
            )
        return Page([_visit_row(r) for r in rows], total=total, limit=limit, offset=offset)

    def update_visit(
        self,
        visit_id: int,
        data: dict[str, Any],
        *,
        area: ServiceArea | None = None,
        structures: Structures = None,
    ) -> dict[str, Any]:
        """Change some fields of a visit; ``protected`` details are merged key by key.

        ``area``: a new place outside the served territory is refused. ``structures``: a
        visit of another structure does not exist; its teams must be of its structure.
        """
        self.get_visit(visit_id, structures=structures)
        row = parse_visit(data, partial=True, label=f"visit {visit_id}")
        if area is not None and ("lon" in row or "lat" in row):
            current = self.get_visit(visit_id)
            area.check(
                row.get("lon", current["lon"]),
                row.get("lat", current["lat"]),
                what=f"visit {visit_id}: home",
            )
        if not row:
            return self.get_visit(visit_id)
        for key in ("windows", "skills"):
            if key in row:
                row[key] = dumps(row[key])
        # Protected details are merged key by key: a key sent replaces that detail, a key sent
        # as null (or "") removes it, keys not sent stay; "protected": null removes them all.
        protected_changes = row.pop("protected", None)
        clear_protected = "protected" in data and data["protected"] is None

        def job(conn: sqlite3.Connection) -> None:
            structure = _visit_structure(conn, visit_id, structures)
            if protected_changes is not None or clear_protected:
                found = conn.execute(
                    "SELECT protected FROM visits WHERE id = ?", (visit_id,)
                ).fetchone()
                if found is None:
                    raise NotFoundError(f"visit {visit_id} does not exist")
                merged = {} if clear_protected else dict(json.loads(found[0] or "{}"))
                for key, value in (protected_changes or {}).items():
                    if value is None:
                        merged.pop(key, None)
                    else:
                        merged[key] = value
                row["protected"] = dumps(merged)
            for key in ("preferred_team_id", "team_id"):
                if (
                    row.get(key) is not None
                    and not conn.execute(
                        "SELECT 1 FROM teams WHERE id = ? AND structure_id = ?",
                        (row[key], structure),
                    ).fetchone()
                ):
                    raise NotFoundError(f"visit {visit_id}: {key} {row[key]} is not a team")
            cols = ", ".join(f"{k} = ?" for k in row)
            cur = conn.execute(
                f"UPDATE visits SET {cols}, updated_at_s = ? WHERE id = ?",
                (*row.values(), now_s(), visit_id),
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"visit {visit_id} does not exist")
            if "team_id" in row and "status" not in row:
                # A manual (re)assignment moves a visit not yet started in or out of a round.
                conn.execute(
                    "UPDATE visits SET status = CASE WHEN team_id IS NULL THEN 'planned'"
                    " ELSE 'assigned' END WHERE id = ? AND status IN ('planned', 'assigned')",
                    (visit_id,),
                )
            if HAND_EDITED_FIELDS & set(row):
                # A visit generated from a care plan, edited by hand: generation keeps it.
                conn.execute(
                    "UPDATE visits SET hand_edited = 1 WHERE id = ? AND occurrence_key IS NOT NULL",
                    (visit_id,),
                )

        self.engine.write(job)
        return self.get_visit(visit_id)

    def visit_details(
        self,
        visit_id: int,
        *,
        actor: str,
        role: str,
        team_id: int | None = None,
        day: str | None = None,
        ip: str | None = None,
        detail: dict[str, Any] | None = None,
        structures: Structures = None,
    ) -> dict[str, Any]:
        """The protected details of a visit, written to the audit log before being returned.

        ``team_id`` (for team members) restricts the read to visits of that team's round, and
        ``day`` to that day's visits (a team sees its patients for today's round only).
        ``detail`` goes to the audit line (for example the device or the screen used).
        """

        def job(conn: sqlite3.Connection) -> dict[str, Any]:
            row = conn.execute(
                "SELECT id, day, team_id, partner_team_id, protected, structure_id FROM visits"
                " WHERE id = ?",
                (visit_id,),
            ).fetchone()
            if row is None or not in_structures(row["structure_id"], structures):
                raise NotFoundError(f"visit {visit_id} does not exist")
            # The partner team of a two-person visit reads what the main team reads.
            if team_id is not None and team_id not in (row["team_id"], row["partner_team_id"]):
                raise PermissionDeniedError(
                    f"visit {visit_id} is not in your team's round: ask the coordinator"
                )
            if day is not None and row["day"] != day:
                raise PermissionDeniedError(
                    f"visit {visit_id} is on {row['day']}, not in today's round ({day}):"
                    " a team sees its patients' details on the day of the visit only"
                )
            _audit(conn, actor, "visit.details.read", role, f"visit:{visit_id}", ip, detail)
            return json.loads(row["protected"] or "{}")  # type: ignore[no-any-return]

        # A denied read must be audited too, so the denial commits in its own job.
        try:
            protected = self.engine.write(job)
        except PermissionDeniedError:
            self.engine.write(
                lambda conn: _audit(
                    conn, actor, "visit.details.denied", role, f"visit:{visit_id}", ip, detail
                )
            )
            raise
        return {"visit_id": visit_id, **protected}

    # -- events --------------------------------------------------------------------------------
    def add_visit_event(
        self,
        visit_id: int,
        data: dict[str, Any],
        *,
        actor: str,
        team_id: int | None = None,
        structures: Structures = None,
    ) -> dict[str, Any]:
        """Record an arrival, check-in, check-out, missed visit or note; updates the visit status.

        ``team_id`` (for team members) restricts events to visits of that team. An event with
        a ``client_id`` already stored for the team is returned as it was (idempotent retry).
        """
        # Another structure's visit is unknown whatever the body says.
        self.get_visit(visit_id, structures=structures)
        label = f"visit {visit_id}: event"
        event = parse_event(_with_reason(data, label=label), label=label)

        def job(conn: sqlite3.Connection) -> tuple[int, bool]:
            visit = conn.execute(
                "SELECT id, team_id, partner_team_id, status, structure_id FROM visits"
                " WHERE id = ?",
                (visit_id,),
            ).fetchone()
            if visit is None or not in_structures(visit["structure_id"], structures):
                raise NotFoundError(f"visit {visit_id} does not exist")
            if team_id is not None and team_id not in (visit["team_id"], visit["partner_team_id"]):
                raise PermissionDeniedError(f"visit {visit_id} is not in your team's round")
            event_team = visit["team_id"] if team_id is None else team_id
            if event["client_id"] is not None:
                old = conn.execute(
                    "SELECT id FROM visit_events WHERE team_id IS ? AND client_id = ?",
                    (event_team, event["client_id"]),
                ).fetchone()
                if old is not None:
                    return int(old["id"]), False
            if visit["status"] == "cancelled" and event["kind"] != "note":
                raise ConflictError(f"visit {visit_id} was cancelled: only a note can be added")
            now = now_s()
            cur = conn.execute(
                "INSERT INTO visit_events (visit_id, team_id, kind, note, client_id,"
                " device_time_s, server_time_s, lon, lat, actor) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    visit_id,
                    event_team,
                    event["kind"],
                    event["note"],
                    event["client_id"],
                    event["device_time_s"] or now,
                    now,
                    event["lon"],
                    event["lat"],
                    actor,
                ),
            )
            status = EVENT_STATUS.get(event["kind"])
            if status is not None:
                conn.execute(
                    "UPDATE visits SET status = ?, updated_at_s = ? WHERE id = ?",
                    (status, now, visit_id),
                )
            return int(cur.lastrowid or 0), True

        event_id, created = self.engine.write(job)
        with self.engine.read() as conn:
            stored = to_dict(
                conn.execute("SELECT * FROM visit_events WHERE id = ?", (event_id,)).fetchone()
            )
        assert stored is not None
        stored["created"] = created
        return _event_row(stored)

    def list_visit_events(
        self,
        visit_id: int,
        *,
        limit: int | None = None,
        offset: int | None = None,
        structures: Structures = None,
    ) -> Page:
        """Events of one visit in the order they were recorded."""
        limit, offset = clamp_page(limit, offset)
        self.get_visit(visit_id, structures=structures)
        with self.engine.snapshot() as conn:
            total = conn.execute(
                "SELECT count(*) FROM visit_events WHERE visit_id = ?", (visit_id,)
            ).fetchone()[0]
            rows = conn.execute(
                "SELECT * FROM visit_events WHERE visit_id = ? ORDER BY id LIMIT ? OFFSET ?",
                (visit_id, limit, offset),
            ).fetchall()
        events = [_event_row(e) for e in map(to_dict, rows) if e is not None]
        return Page(events, total=total, limit=limit, offset=offset)


def _with_reason(data: Any, *, label: str) -> Any:
    """The event with its ``reason`` (a missed visit's, one of :data:`MISSED_REASONS`) kept in
    the note as ``[reason] free text``; :func:`_event_row` splits them again."""
    if not isinstance(data, dict) or "reason" not in data:
        return data
    data = dict(data)
    reason = data.pop("reason")
    if data.get("kind") != "missed":
        raise ValidationError(f"{label}: reason is for a missed visit only (kind 'missed')")
    if reason not in MISSED_REASONS:
        raise ValidationError(
            f"{label}: reason {shown(reason)} is not one of {', '.join(MISSED_REASONS)}"
        )
    text = data.get("note")
    if text is not None and not isinstance(text, str):
        raise ValidationError(f"{label}: note must be text")
    data["note"] = f"[{reason}] {text.strip()}" if text and text.strip() else f"[{reason}]"
    return data


def _event_row(event: dict[str, Any]) -> dict[str, Any]:
    """A stored event with a missed visit's reason split from its note (``reason``, ``note``)."""
    event["reason"] = None
    note = event.get("note")
    if event.get("kind") == "missed" and isinstance(note, str) and note.startswith("["):
        reason, _, rest = note[1:].partition("]")
        if reason in MISSED_REASONS:
            event["reason"] = reason
            event["note"] = rest.strip() or None
    return event


def _audit(
    conn: sqlite3.Connection,
    actor: str,
    action: str,
    role: str | None,
    target: str | None,
    ip: str | None,
    detail: dict[str, Any] | None,
) -> None:
    conn.execute(
        "INSERT INTO audit_log (at_s, actor, role, action, target, ip, detail)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (now_s(), actor, role, action, target, ip, dumps(detail) if detail else None),
    )
