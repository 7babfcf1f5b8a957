"""Alerts that need a coordinator's action, and who acknowledged each of them."""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, Any

from dispatch.errors import NotFoundError, ValidationError
from dispatch.store.core import now_s

if TYPE_CHECKING:
    from dispatch.store.core import Engine

#: Fields of an alert kept in their own columns; the rest goes to ``detail``.
_COLUMNS = ("key", "kind", "team_id", "visit_id", "at")
_ACK = ("acknowledged_by", "acknowledged_at_s")


def _alert(row: sqlite3.Row) -> dict[str, Any]:
    item: dict[str, Any] = json.loads(row["detail"] or "{}")
    item.update(
        key=row["key"],
        kind=row["kind"],
        team_id=row["team_id"],
        visit_id=row["visit_id"],
        at=row["raised_at_s"],
    )
    if row["acknowledged_at_s"] is not None:
        item["acknowledged_by"] = row["acknowledged_by"]
        item["acknowledged_at_s"] = row["acknowledged_at_s"]
    return item


class AlertsMixin:
    """Alerts as the live hub raised them (one row per key) and their acknowledgements."""

    engine: Engine

    def save_alert(self, alert: dict[str, Any]) -> dict[str, Any]:
        """Store an alert once (a key already stored keeps its row); returns the stored alert,
        with its acknowledgement when it has one."""
        key = alert.get("key")
        if not isinstance(key, str) or not key:
            raise ValidationError("an alert needs a key (text)")
        detail = {k: v for k, v in alert.items() if k not in _COLUMNS and k not in _ACK}

        def job(conn: sqlite3.Connection) -> dict[str, Any]:
            conn.execute(
                "INSERT OR IGNORE INTO alerts (key, kind, team_id, visit_id, raised_at_s, detail)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    key,
                    str(alert["kind"]),
                    alert.get("team_id"),
                    alert.get("visit_id"),
                    float(alert.get("at") or now_s()),
                    json.dumps(detail, separators=(",", ":"), ensure_ascii=False, default=str),
                ),
            )
            row = conn.execute("SELECT * FROM alerts WHERE key = ?", (key,)).fetchone()
            return _alert(row)

        return self.engine.write(job)

    def acknowledge_alert(self, key: str, *, by: str, at_s: float | None = None) -> dict[str, Any]:
        """Mark an alert acknowledged by ``by`` (the first acknowledgement stays: acknowledging
        twice is harmless). Raises NotFoundError for an unknown key."""
        if not isinstance(key, str) or not key:
            raise ValidationError("key is required: the alert's key as the live map received it")
        when = float(at_s if at_s is not None else now_s())

        def job(conn: sqlite3.Connection) -> dict[str, Any]:
            conn.execute(
                "UPDATE alerts SET acknowledged_by = ?, acknowledged_at_s = ?"
                " WHERE key = ? AND acknowledged_at_s IS NULL",
                (by, when, key),
            )
            row = conn.execute("SELECT * FROM alerts WHERE key = ?", (key,)).fetchone()
            if row is None:
                raise NotFoundError(f"alert {key!r} does not exist (or is no longer kept)")
            return _alert(row)

        return self.engine.write(job)

    def recent_alerts(self, *, since_s: float, limit: int = 500) -> list[dict[str, Any]]:
        """Alerts raised since ``since_s``, newest first."""
        with self.engine.read() as conn:
            rows = conn.execute(
                "SELECT * FROM alerts WHERE raised_at_s >= ? ORDER BY raised_at_s DESC LIMIT ?",
                (float(since_s), int(limit)),
            ).fetchall()
        return [_alert(r) for r in rows]
