"""Private calendar feeds of staff, event sequences, and the rows of the activity export.

A feed is a secret URL (``/calendar/<token>.ics``) a member of staff pastes into their
calendar application: anyone holding it reads that member's coming visits (pseudonymised),
so only the token's SHA-256 is stored, a member has at most one live feed (a new one
revokes the previous), and a coordinator can revoke it at any time.

``calendar_sequences`` remembers what each visit's event said last (a fingerprint) so that
its SEQUENCE goes up, and LAST-MODIFIED moves, only when the event changes.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from dispatch.errors import NotFoundError
from dispatch.store.accounts import token_hash
from dispatch.store.care import _audit, _event_row
from dispatch.store.core import now_s
from dispatch.store.models import parse_day

if TYPE_CHECKING:
    from dispatch.store.core import Engine

#: Prefix of feed tokens (tells them apart from user and device tokens in a leak report).
FEED_TOKEN_PREFIX = "cal_"
#: Seconds between two "last used" updates of a feed (calendar apps poll often).
TOUCH_EVERY_S = 300.0

#: The published plan of a visit's day and structure (its newest published version).
_PUBLISHED = (
    "(SELECT max(p.id) FROM plans p WHERE p.day = v.day AND p.status = 'published'"
    " AND p.structure_id = v.structure_id)"
)


def _staff_in(conn: sqlite3.Connection, staff_id: int, structures: Collection[int] | None) -> Any:
    row = conn.execute("SELECT id, structure_id FROM staff WHERE id = ?", (staff_id,)).fetchone()
    if row is None or (structures is not None and int(row["structure_id"]) not in structures):
        raise NotFoundError(f"staff member {staff_id} does not exist")
    return row


class CalendarFeedsMixin:
    """Feeds of staff and the reads behind the calendar and activity exports."""

    engine: Engine

    # -- feeds ---------------------------------------------------------------------------------
    def create_calendar_feed(
        self,
        staff_id: int,
        *,
        created_by: str,
        role: str | None = None,
        ip: str | None = None,
        structures: Collection[int] | None = None,
    ) -> dict[str, Any]:
        """A new private feed for a member of staff (the previous one stops working):
        ``{"token", "created_at_s"}`` — the token is shown once, only its hash is kept."""
        token = FEED_TOKEN_PREFIX + secrets.token_urlsafe(32)
        at = now_s()

        def job(conn: sqlite3.Connection) -> None:
            _staff_in(conn, staff_id, structures)
            conn.execute(
                "UPDATE calendar_feeds SET revoked_at_s = ? WHERE staff_id = ?"
                " AND revoked_at_s IS NULL",
                (at, staff_id),
            )
            conn.execute(
                "INSERT INTO calendar_feeds (staff_id, token_hash, created_by, created_at_s)"
                " VALUES (?, ?, ?, ?)",
                (staff_id, token_hash(token), created_by, at),
            )
            _audit(conn, created_by, "calendar_feed.created", role, f"staff:{staff_id}", ip, None)

        self.engine.write(job)
        return {"token": token, "created_at_s": at}

    def calendar_feed(
        self, staff_id: int, *, structures: Collection[int] | None = None
    ) -> dict[str, Any]:
        """``{"active", "created_at_s", "last_used_at_s"}`` of the member's live feed."""
        with self.engine.read() as conn:
            _staff_in(conn, staff_id, structures)
            row = conn.execute(
                "SELECT created_at_s, last_used_at_s FROM calendar_feeds WHERE staff_id = ?"
                " AND revoked_at_s IS NULL ORDER BY id DESC LIMIT 1",
                (staff_id,),
            ).fetchone()
        if row is None:
            return {"active": False, "created_at_s": None, "last_used_at_s": None}
        return {
            "active": True,
            "created_at_s": row["created_at_s"],
            "last_used_at_s": row["last_used_at_s"],
        }

    def revoke_calendar_feed(
        self,
        staff_id: int,
        *,
        by: str,
        role: str | None = None,
        ip: str | None = None,
        structures: Collection[int] | None = None,
    ) -> bool:
        """Revoke the member's live feed; True if there was one."""

        def job(conn: sqlite3.Connection) -> bool:
            _staff_in(conn, staff_id, structures)
            n = conn.execute(
                "UPDATE calendar_feeds SET revoked_at_s = ? WHERE staff_id = ?"
                " AND revoked_at_s IS NULL",
                (now_s(), staff_id),
            ).rowcount
            _audit(conn, by, "calendar_feed.revoked", role, f"staff:{staff_id}", ip, None)
            return bool(n)

        return bool(self.engine.write(job))

    def staff_for_calendar_token(self, token: str) -> dict[str, Any] | None:
        """The active member of staff whose live feed ``token`` is, or None:
        ``{"staff_id", "feed_id", "structure_id", "name", "team_id"}``."""
        if not isinstance(token, str) or not token.startswith(FEED_TOKEN_PREFIX):
            return None
        with self.engine.read() as conn:
            row = conn.execute(
                "SELECT f.id AS feed_id, f.last_used_at_s, s.id AS staff_id, s.structure_id,"
                " s.name, s.team_id FROM calendar_feeds f JOIN staff s ON s.id = f.staff_id"
                " WHERE f.token_hash = ? AND f.revoked_at_s IS NULL AND s.active = 1",
                (token_hash(token),),
            ).fetchone()
        if row is None:
            return None
        found = dict(row)
        if (found.pop("last_used_at_s") or 0) < now_s() - TOUCH_EVERY_S:
            self.engine.write(
                lambda conn: conn.execute(
                    "UPDATE calendar_feeds SET last_used_at_s = ? WHERE id = ?",
                    (now_s(), found["feed_id"]),
                )
            )
        return found

    # -- visits of calendars -------------------------------------------------------------------
    def calendar_visits(
        self,
        from_day: str,
        to_day: str,
        *,
        team_ids: Collection[int] | None = None,
        structure_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """Visits from ``from_day`` to ``to_day`` (included), cancelled ones too, of
        ``team_ids`` (as team or partner team) and/or of ``structure_id``, by day and start:
        public columns plus ``stop_start_s`` (the published round's planned start, or None)
        and ``team_name``. No protected details (``address`` is the public one)."""
        first, last = parse_day(from_day), parse_day(to_day)
        where: list[str] = ["v.day BETWEEN ? AND ?"]
        args: list[Any] = [first, last]
        if team_ids is not None:
            ids = [int(t) for t in team_ids] or [0]
            marks = ", ".join("?" for _ in ids)
            where.append(f"(v.team_id IN ({marks}) OR v.partner_team_id IN ({marks}))")
            args += ids + ids
        if structure_id is not None:
            where.append("v.structure_id = ?")
            args.append(int(structure_id))
        with self.engine.read() as conn:
            rows = conn.execute(
                "SELECT v.id, v.day, v.pseudonym, v.care_kind, v.address, v.commune, v.duration_s,"
                " v.windows, v.status, v.team_id, v.partner_team_id, v.structure_id,"
                " v.updated_at_s, t.name AS team_name,"
                " (SELECT s.start_s FROM plan_stops s WHERE s.visit_id = v.id AND s.plan_id ="
                f" {_PUBLISHED} AND s.team_id = coalesce(v.team_id, s.team_id) LIMIT 1) AS stop_start_s"
                " FROM visits v LEFT JOIN teams t ON t.id = v.team_id"
                f" WHERE {' AND '.join(where)}"
                " ORDER BY v.day, coalesce(stop_start_s, json_extract(v.windows, '$[0][0]')), v.id",
                args,
            ).fetchall()
        return [{**dict(r), "windows": json.loads(r["windows"] or "[]")} for r in rows]

    def calendar_sequences(self, fingerprints: Mapping[int, str]) -> dict[int, tuple[int, float]]:
        """visit id -> ``(sequence, changed_at_s)``: the sequence goes up by one each time a
        visit's event fingerprint differs from the one seen last."""
        if not fingerprints:
            return {}
        at = now_s()

        def job(conn: sqlite3.Connection) -> dict[int, tuple[int, float]]:
            out: dict[int, tuple[int, float]] = {}
            ids = list(fingerprints)
            known: dict[int, Any] = {}
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ", ".join("?" for _ in chunk)
                for row in conn.execute(
                    "SELECT visit_id, fingerprint, sequence, changed_at_s FROM"
                    f" calendar_sequences WHERE visit_id IN ({marks})",
                    chunk,
                ):
                    known[int(row["visit_id"])] = row
            for vid, fp in fingerprints.items():
                row = known.get(vid)
                if row is None:
                    conn.execute(
                        "INSERT INTO calendar_sequences (visit_id, fingerprint, sequence,"
                        " changed_at_s) VALUES (?, ?, 0, ?)",
                        (vid, fp, at),
                    )
                    out[vid] = (0, at)
                elif row["fingerprint"] != fp:
                    seq = int(row["sequence"]) + 1
                    conn.execute(
                        "UPDATE calendar_sequences SET fingerprint = ?, sequence = ?,"
                        " changed_at_s = ? WHERE visit_id = ?",
                        (fp, seq, at, vid),
                    )
                    out[vid] = (seq, at)
                else:
                    out[vid] = (int(row["sequence"]), float(row["changed_at_s"]))
            return out

        # Only a changed or new event is a write; a feed read again as is only reads.
        with self.engine.read() as conn:
            marks = ", ".join("?" for _ in fingerprints)
            same = (
                {
                    int(r["visit_id"]): (int(r["sequence"]), float(r["changed_at_s"]))
                    for r in conn.execute(
                        "SELECT visit_id, fingerprint, sequence, changed_at_s FROM calendar_sequences"
                        f" WHERE visit_id IN ({marks})",
                        list(fingerprints),
                    )
                    if r["fingerprint"] == fingerprints.get(int(r["visit_id"]))
                }
                if len(fingerprints) <= 900
                else {}
            )
        if len(same) == len(fingerprints):
            return same
        return dict(self.engine.write(job))

    # -- activity ------------------------------------------------------------------------------
    def activity_visits(
        self, structure_id: int, from_day: str, to_day: str
    ) -> list[dict[str, Any]]:
        """The structure's visits of the period with what was recorded at them:
        ``check_in_at_s`` (first), ``check_out_at_s`` (last), ``missed_reason``,
        ``planned_start_s`` and ``planned_distance_m`` (the published round's stop of the
        visit's team)."""
        first, last = parse_day(from_day), parse_day(to_day)
        stop = (
            "(SELECT s.{col} FROM plan_stops s WHERE s.visit_id = v.id AND s.plan_id ="
            f" {_PUBLISHED} AND s.team_id = coalesce(v.team_id, s.team_id) LIMIT 1)"
        )
        event_time = "coalesce(e.device_time_s, e.server_time_s)"
        with self.engine.read() as conn:
            rows = conn.execute(
                "SELECT v.id, v.day, v.team_id, v.partner_team_id, v.patient_id, v.pseudonym,"
                " v.care_kind, v.status, "
                + stop.format(col="start_s")
                + " AS planned_start_s, "
                + stop.format(col="distance_m")
                + " AS planned_distance_m,"
                f" (SELECT min({event_time}) FROM visit_events e WHERE e.visit_id = v.id"
                "  AND e.kind = 'check_in') AS check_in_at_s,"
                f" (SELECT max({event_time}) FROM visit_events e WHERE e.visit_id = v.id"
                "  AND e.kind = 'check_out') AS check_out_at_s,"
                " (SELECT e.note FROM visit_events e WHERE e.visit_id = v.id"
                "  AND e.kind = 'missed' ORDER BY e.id DESC LIMIT 1) AS missed_note"
                " FROM visits v WHERE v.structure_id = ? AND v.day BETWEEN ? AND ?"
                " ORDER BY v.day, v.id",
                (int(structure_id), first, last),
            ).fetchall()
        out = []
        for r in rows:
            item = dict(r)
            note = item.pop("missed_note")
            item["missed_reason"] = (
                _event_row({"kind": "missed", "note": note})["reason"] if note else None
            )
            out.append(item)
        return out

    def planned_distances(
        self, structure_id: int, from_day: str, to_day: str
    ) -> dict[tuple[str, int], int]:
        """(day, team id) -> metres of the team's published route of the day (to its stops)."""
        first, last = parse_day(from_day), parse_day(to_day)
        with self.engine.read() as conn:
            rows = conn.execute(
                "SELECT p.day, s.team_id, sum(coalesce(s.distance_m, 0)) AS m FROM plan_stops s"
                " JOIN plans p ON p.id = s.plan_id WHERE p.id IN (SELECT max(id) FROM plans"
                " WHERE structure_id = ? AND status = 'published' AND day BETWEEN ? AND ?"
                " GROUP BY day) GROUP BY p.day, s.team_id",
                (int(structure_id), first, last),
            ).fetchall()
        return {(r["day"], int(r["team_id"])): int(r["m"]) for r in rows}

    def structure_team_names(self, structure_id: int) -> dict[int, str]:
        """team id -> name, the structure's teams (active or not)."""
        with self.engine.read() as conn:
            return {
                int(r[0]): r[1]
                for r in conn.execute(
                    "SELECT id, name FROM teams WHERE structure_id = ?", (int(structure_id),)
                )
            }

    def team_fixes(self, team_id: int, since_s: float, until_s: float) -> list[dict[str, Any]]:
        """The team's stored fixes in [since_s, until_s) (device time): ``{lon, lat,
        device_time_s, flags}`` (``flags`` a list; None for fixes stored before flags)."""
        with self.engine.read() as conn:
            rows = conn.execute(
                "SELECT lon, lat, device_time_s, flags FROM positions WHERE team_id = ?"
                " AND device_time_s >= ? AND device_time_s < ? ORDER BY device_time_s, id",
                (int(team_id), float(since_s), float(until_s)),
            ).fetchall()
        return [
            {
                "lon": r["lon"],
                "lat": r["lat"],
                "device_time_s": r["device_time_s"],
                "flags": None if r["flags"] is None else [f for f in r["flags"].split(",") if f],
            }
            for r in rows
        ]
