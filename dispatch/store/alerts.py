"""Alerts that need a coordinator's action, and who acknowledged each of them."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any

from dispatch.errors import NotFoundError, ValidationError
from dispatch.store.core import now_s

if TYPE_CHECKING:
    from dispatch.store.core import Engine

#: Fields of an alert kept in their own columns; the rest goes to ``detail``.
_COLUMNS = ("key", "kind", "team_id", "visit_id", "at")
_ACK = ("acknowledged_by", "acknowledged_at_s")
#: The structure an alert belongs to: the one recorded with it, else its team's, else its
#: visit's (alerts stored before structures existed carry none).
_ALERT_STRUCTURE = (
    "COALESCE(json_extract(a.detail, '$.structure_id'),"
    " (SELECT t.structure_id FROM teams t WHERE t.id = a.team_id),"
    " (SELECT v.structure_id FROM visits v WHERE v.id = a.visit_id))"
)


def _in(structures: Collection[int]) -> tuple[str, list[int]]:
    """``IN (?, ...)`` and its arguments (``IN (NULL)``, true of nothing, when empty)."""
    ids = [int(s) for s in structures]
    return ("(" + ", ".join("?" for _ in ids) + ")" if ids else "(NULL)"), ids


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

    def acknowledge_alert(
        self,
        key: str,
        *,
        by: str,
        at_s: float | None = None,
        structures: Collection[int] | None = None,
    ) -> dict[str, Any]:
        """Mark an alert acknowledged by ``by`` (the first acknowledgement stays: acknowledging
        twice is harmless). Raises NotFoundError for an unknown key, or one of a structure not
        in ``structures`` (None: any structure)."""
        if not isinstance(key, str) or not key:
            raise ValidationError("key is required: the alert's key as the live map received it")
        when = float(at_s if at_s is not None else now_s())

        def job(conn: sqlite3.Connection) -> dict[str, Any]:
            if structures is not None:
                marks, ids = _in(structures)
                found = conn.execute(
                    f"SELECT 1 FROM alerts a WHERE a.key = ? AND {_ALERT_STRUCTURE} IN {marks}",
                    (key, *ids),
                ).fetchone()
                if found is None:
                    raise NotFoundError(f"alert {key!r} does not exist (or is no longer kept)")
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

    def recent_alerts(
        self, *, since_s: float, limit: int = 500, structures: Collection[int] | None = None
    ) -> list[dict[str, Any]]:
        """Alerts raised since ``since_s``, newest first, each with its ``structure_id``; only
        those of ``structures`` when given (None: every structure)."""
        where, args = "a.raised_at_s >= ?", [float(since_s)]
        if structures is not None:
            marks, ids = _in(structures)
            where += f" AND {_ALERT_STRUCTURE} IN {marks}"
            args += ids
        with self.engine.read() as conn:
            rows = conn.execute(
                f"SELECT a.*, {_ALERT_STRUCTURE} AS structure_of FROM alerts a WHERE {where}"
                " ORDER BY a.raised_at_s DESC LIMIT ?",
                (*args, int(limit)),
            ).fetchall()
        out = []
        for row in rows:
            item = _alert(row)
            if row["structure_of"] is not None:
                item["structure_id"] = int(row["structure_of"])
            out.append(item)
        return out

    # -- where a live push belongs -------------------------------------------------------------
    def team_structure_ids(self, team_ids: Iterable[int] | None = None) -> dict[int, int]:
        """team id -> its structure id (every team when ``team_ids`` is None)."""
        with self.engine.read() as conn:
            if team_ids is None:
                rows = conn.execute("SELECT id, structure_id FROM teams").fetchall()
            else:
                wanted = [int(t) for t in team_ids]
                rows = []
                for start in range(0, len(wanted), 500):
                    marks, ids = _in(wanted[start : start + 500])
                    rows += conn.execute(
                        f"SELECT id, structure_id FROM teams WHERE id IN {marks}", ids
                    ).fetchall()
        return {int(r["id"]): int(r["structure_id"]) for r in rows}

    def visit_structure_ids(self, visit_ids: Iterable[int]) -> dict[int, int]:
        """visit id -> its structure id (unknown ids left out)."""
        wanted = [int(v) for v in visit_ids]
        out: dict[int, int] = {}
        with self.engine.read() as conn:
            for start in range(0, len(wanted), 500):
                marks, ids = _in(wanted[start : start + 500])
                for r in conn.execute(
                    f"SELECT id, structure_id FROM visits WHERE id IN {marks}", ids
                ):
                    out[int(r["id"])] = int(r["structure_id"])
        return out
