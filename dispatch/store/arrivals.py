"""Arrivals the geofence recorded on its own: which fix made them, and a coordinator's undo.

The live hub records an arrival when a team's fix comes within the radius of a visit's home
(actor :data:`GEOFENCE_ACTOR`, client_id ``geofence:<visit>:<team>``), whereas a check-in is
pressed by the team. The fix behind an arrival is found again among the stored positions (same
team, time and place), so the arrival says where it came from: ``traccar`` (Traccar Client,
/osmand) or ``phone`` (the phone page, socket or REST).

Undoing an arrival puts the visit back in the status it had before it, turns the event into a
note of the geofence (the visit's record keeps a trace; the geofence's client_id stays taken,
so the same arrival is not recorded again after a restart) and writes an audit line.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

from dispatch.errors import ConflictError, NotFoundError
from dispatch.store.care import _audit, _event_row
from dispatch.store.core import now_s
from dispatch.store.models import EVENT_STATUS
from dispatch.store.rows import to_dict

if TYPE_CHECKING:
    from dispatch.store.store import Store

#: The actor of the arrivals the live hub's geofence records.
GEOFENCE_ACTOR = "system:geofence"
#: Where a fix came from (positions.source) -> what the coordinator is shown.
SOURCES = {"osmand": "traccar", "socket": "phone", "api": "phone"}
#: The note an undone arrival becomes (the page shows its own words for it).
UNDONE_NOTE = "arrival detected automatically, undone by a coordinator"


def _latest_arrival(conn: sqlite3.Connection, visit_id: int) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT * FROM visit_events WHERE visit_id = ? AND kind = 'arrival' AND actor = ?"
        " ORDER BY id DESC LIMIT 1",
        (visit_id, GEOFENCE_ACTOR),
    ).fetchone()


def _source(conn: sqlite3.Connection, event: sqlite3.Row) -> str:
    """``traccar``, ``phone`` or ``unknown``: the source of the fix the arrival was made from."""
    row = conn.execute(
        "SELECT source FROM positions WHERE team_id IS ? AND device_time_s = ? AND lon = ?"
        " AND lat = ? ORDER BY id LIMIT 1",
        (event["team_id"], event["device_time_s"], event["lon"], event["lat"]),
    ).fetchone()
    return SOURCES.get(row["source"] if row else "", "unknown")


def _later_status_event(conn: sqlite3.Connection, visit_id: int, event_id: int) -> str | None:
    """The kind of a status-changing event recorded after ``event_id`` (check-in...), if any."""
    kinds = tuple(EVENT_STATUS)
    marks = ", ".join("?" for _ in kinds)
    row = conn.execute(
        f"SELECT kind FROM visit_events WHERE visit_id = ? AND id > ? AND kind IN ({marks})"
        " ORDER BY id LIMIT 1",
        (visit_id, event_id, *kinds),
    ).fetchone()
    return None if row is None else str(row["kind"])


def _status_before(conn: sqlite3.Connection, visit: sqlite3.Row, event_id: int) -> str:
    kinds = tuple(EVENT_STATUS)
    marks = ", ".join("?" for _ in kinds)
    row = conn.execute(
        f"SELECT kind FROM visit_events WHERE visit_id = ? AND id < ? AND kind IN ({marks})"
        " ORDER BY id DESC LIMIT 1",
        (visit["id"], event_id, *kinds),
    ).fetchone()
    if row is not None:
        return EVENT_STATUS[str(row["kind"])]
    return "assigned" if visit["team_id"] is not None else "planned"


def automatic_arrival(store: Store, visit_id: int) -> dict[str, Any] | None:
    """The visit's last arrival recorded by the geofence, or None.

    ``{"event_id", "at_s", "team_id", "source", "automatic": True, "undoable"}``: undoable
    while nothing (check-in, check-out, missed) was recorded after it.
    """
    with store.engine.read() as conn:
        visit = conn.execute("SELECT id FROM visits WHERE id = ?", (visit_id,)).fetchone()
        if visit is None:
            raise NotFoundError(f"visit {visit_id} does not exist")
        event = _latest_arrival(conn, visit_id)
        if event is None:
            return None
        return {
            "event_id": int(event["id"]),
            "at_s": event["device_time_s"],
            "team_id": event["team_id"],
            "source": _source(conn, event),
            "automatic": True,
            "undoable": _later_status_event(conn, visit_id, int(event["id"])) is None,
        }


def undo_automatic_arrival(
    store: Store, visit_id: int, *, actor: str, role: str | None, ip: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Undo the visit's arrival recorded by the geofence; returns ``(event, visit)``.

    Raises NotFoundError when the visit has no such arrival (or it was undone already), and
    ConflictError when the team recorded something after it (a check-in: the team is there).
    """

    def job(conn: sqlite3.Connection) -> int:
        visit = conn.execute(
            "SELECT id, team_id, status FROM visits WHERE id = ?", (visit_id,)
        ).fetchone()
        if visit is None:
            raise NotFoundError(f"visit {visit_id} does not exist")
        event = _latest_arrival(conn, visit_id)
        if event is None:
            raise NotFoundError(
                f"visit {visit_id} has no arrival detected automatically to undo"
                " (a check-in pressed by the team is not undone here)"
            )
        later = _later_status_event(conn, visit_id, int(event["id"]))
        if later is not None:
            since = {
                "check_in": "the team has checked in",
                "check_out": "the team has checked out",
                "missed": "the visit was marked missed",
            }.get(later, f"a {later} was recorded")
            raise ConflictError(
                f"visit {visit_id}: {since} since the automatic arrival: there is nothing to undo"
            )
        status = _status_before(conn, visit, int(event["id"]))
        now = now_s()
        conn.execute(
            "UPDATE visit_events SET kind = 'note', note = ? WHERE id = ?",
            (UNDONE_NOTE, event["id"]),
        )
        conn.execute(
            "UPDATE visits SET status = ?, updated_at_s = ? WHERE id = ?",
            (status, now, visit_id),
        )
        _audit(
            conn,
            actor,
            "visit.arrival.undone",
            role,
            f"visit:{visit_id}",
            ip,
            {
                "event_id": int(event["id"]),
                "at_s": event["device_time_s"],
                "source": _source(conn, event),
                "status": status,
            },
        )
        return int(event["id"])

    event_id = store.engine.write(job)
    with store.engine.read() as conn:
        stored = to_dict(
            conn.execute("SELECT * FROM visit_events WHERE id = ?", (event_id,)).fetchone()
        )
    assert stored is not None
    return _event_row(stored), store.get_visit(visit_id)
