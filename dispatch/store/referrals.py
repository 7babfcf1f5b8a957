"""Referrers' requests in the store: referrer profiles, requests, their events and attachments.

Rows only: the states and rules are in :mod:`dispatch.referrals.core`, the actions in
:mod:`dispatch.referrals.service`. JSON columns (patient, recurrence, prescription, slots,
event details) are decoded in the dictionaries returned.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from dispatch.errors import NotFoundError
from dispatch.store.care import _audit
from dispatch.store.core import now_s
from dispatch.store.rows import clamp_page
from dispatch.store.structures import structure_filter

if TYPE_CHECKING:
    from dispatch.store.core import Engine

#: Columns holding JSON.
_JSON_COLUMNS = ("patient", "recurrence", "prescription", "booked_slot", "proposed_slots")
#: Requests awaiting an answer first, the urgent ones first among them (then newest first).
_URGENCY_FIRST = (
    "CASE WHEN state NOT IN ('submitted', 'proposed') THEN 3"
    " WHEN urgency = 'urgent' THEN 0 WHEN urgency = 'soon' THEN 1 ELSE 2 END, "
)
#: Columns a service may set on a request.
REFERRAL_COLUMNS = (
    "structure_id",
    "referrer_id",
    "state",
    "kind",
    "urgency",
    "patient",
    "address",
    "address_precision",
    "commune",
    "lon",
    "lat",
    "access_notes",
    "reason",
    "act",
    "care_kind",
    "duration_min",
    "period_from",
    "period_to",
    "time_of_day",
    "recurrence",
    "prescription",
    "patient_id",
    "care_plan_id",
    "visit_id",
    "booked_slot",
    "proposed_slots",
    "message",
    "decline_reason",
)


def _encode(columns: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in columns.items():
        if key not in REFERRAL_COLUMNS:
            raise ValueError(f"unknown referral column {key}")
        out[key] = json.dumps(value) if key in _JSON_COLUMNS and value is not None else value
    return out


def _decode(row: sqlite3.Row) -> dict[str, Any]:
    out = {k: row[k] for k in row.keys()}
    for key in _JSON_COLUMNS:
        out[key] = json.loads(out[key]) if out.get(key) else None
    if out["proposed_slots"] is None:
        out["proposed_slots"] = []
    return out


class ReferralsMixin:
    """Referrer profiles, requests, their history and attachments."""

    engine: Engine

    # -- referrers -----------------------------------------------------------------------------
    def set_referrer_profile(self, user_id: int, *, profession: str, invited_by: str) -> None:
        """Record (or change) the profession of the referrer ``user_id``."""

        def job(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO referrer_profiles (user_id, profession, invited_by, created_at_s)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET"
                " profession = excluded.profession",
                (user_id, profession, invited_by, now_s()),
            )

        self.engine.write(job)

    def add_user_structure(self, user_id: int, structure_id: int) -> None:
        """Add one membership (a referrer invited by one more structure); nothing if present."""
        self.engine.write(
            lambda conn: conn.execute(
                "INSERT OR IGNORE INTO user_structures (user_id, structure_id) VALUES (?, ?)",
                (user_id, structure_id),
            )
        )

    def referrer_professions(self, user_ids: Collection[int]) -> dict[int, str]:
        """{user_id: profession} of those of ``user_ids`` that are referrers."""
        ids = sorted({int(i) for i in user_ids})
        if not ids:
            return {}
        with self.engine.read() as conn:
            rows = conn.execute(
                f"SELECT user_id, profession FROM referrer_profiles WHERE user_id IN"
                f" ({', '.join('?' for _ in ids)})",
                ids,
            ).fetchall()
        return {int(r[0]): r[1] for r in rows}

    def user_by_email(self, email: str) -> dict[str, Any] | None:
        """The user with this e-mail address (case-insensitive), or None."""
        with self.engine.read() as conn:
            row = conn.execute(
                "SELECT id FROM users WHERE lower(email) = lower(?) ORDER BY id LIMIT 1", (email,)
            ).fetchone()
        return None if row is None else self.get_user(int(row[0]))  # type: ignore[attr-defined]

    def list_referrer_ids(self, *, structures: Collection[int] | None) -> list[int]:
        """Ids of the referrers who are members of one of ``structures`` (None: all)."""
        where, args = structure_filter(structures, "s.structure_id")
        with self.engine.read() as conn:
            rows = conn.execute(
                "SELECT DISTINCT u.id FROM users u JOIN referrer_profiles p ON p.user_id = u.id"
                " JOIN user_structures s ON s.user_id = u.id"
                f" WHERE u.role = 'referrer' AND {where} ORDER BY u.id",
                args,
            ).fetchall()
        return [int(r[0]) for r in rows]

    def structure_coordinator_emails(self, structure_id: int) -> list[str]:
        """E-mail addresses of the active coordinators of a structure."""
        with self.engine.read() as conn:
            rows = conn.execute(
                "SELECT DISTINCT u.email FROM users u JOIN user_structures s ON s.user_id = u.id"
                " WHERE s.structure_id = ? AND u.role = 'coordinator' AND u.active = 1"
                " AND u.email IS NOT NULL ORDER BY u.email",
                (structure_id,),
            ).fetchall()
        return [r[0] for r in rows]

    # -- requests ------------------------------------------------------------------------------
    def add_referral(self, columns: dict[str, Any]) -> int:
        """Insert a request; its id."""
        now = now_s()
        row = {**_encode(columns), "created_at_s": now, "updated_at_s": now}

        def job(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                f"INSERT INTO referrals ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                list(row.values()),
            )
            return int(cur.lastrowid or 0)

        return int(self.engine.write(job))

    def get_referral(self, referral_id: int) -> dict[str, Any]:
        """A request's row (NotFoundError if none; visibility is the service's)."""
        with self.engine.read() as conn:
            row = conn.execute("SELECT * FROM referrals WHERE id = ?", (referral_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"request {referral_id} does not exist")
        return _decode(row)

    def list_referrals(
        self,
        *,
        referrer_id: int | None = None,
        structures: Collection[int] | None = None,
        state: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        order: str = "newest",
    ) -> tuple[list[dict[str, Any]], int]:
        """Requests of one referrer and/or of ``structures``, newest first (``order``
        "urgency": those awaiting an answer first, urgent ones first among them); (rows,
        total)."""
        limit, offset = clamp_page(limit, offset)
        where, ids = structure_filter(structures)
        args: list[Any] = list(ids)
        if referrer_id is not None:
            where += " AND referrer_id = ?"
            args.append(referrer_id)
        if state is not None:
            where += " AND state = ?"
            args.append(state)
        with self.engine.snapshot() as conn:
            total = conn.execute(f"SELECT count(*) FROM referrals WHERE {where}", args).fetchone()[
                0
            ]
            rows = conn.execute(
                f"SELECT * FROM referrals WHERE {where} ORDER BY"
                f" {_URGENCY_FIRST if order == 'urgency' else ''}created_at_s DESC, id DESC"
                " LIMIT ? OFFSET ?",
                [*args, limit, offset],
            ).fetchall()
        return [_decode(r) for r in rows], int(total)

    def update_referral(
        self, referral_id: int, columns: dict[str, Any], *, expect_states: Collection[str] = ()
    ) -> bool:
        """Change a request; with ``expect_states``, only if it is still in one of them (two
        people acting at once: the second finds the state changed). True when changed."""
        row = {**_encode(columns), "updated_at_s": now_s()}
        sets = ", ".join(f"{k} = ?" for k in row)
        where = "id = ?"
        args: list[Any] = [*row.values(), referral_id]
        if expect_states:
            where += f" AND state IN ({', '.join('?' for _ in expect_states)})"
            args.extend(expect_states)

        def job(conn: sqlite3.Connection) -> bool:
            return conn.execute(f"UPDATE referrals SET {sets} WHERE {where}", args).rowcount > 0

        return bool(self.engine.write(job))

    def referral_ids_for_visits(self, visit_ids: Collection[int]) -> dict[int, int]:
        """{visit_id: referral_id} of the requests whose visit is one of ``visit_ids``."""
        ids = sorted({int(i) for i in visit_ids})
        if not ids:
            return {}
        with self.engine.read() as conn:
            rows = conn.execute(
                f"SELECT visit_id, id FROM referrals WHERE visit_id IN"
                f" ({', '.join('?' for _ in ids)})",
                ids,
            ).fetchall()
        return {int(r[0]): int(r[1]) for r in rows}

    def purge_referrals(
        self, *, retention_days: float, now: float | None = None, actor: str = "system"
    ) -> tuple[int, list[tuple[int, str]]]:
        """Erase what identifies the patient in requests finished (declined, cancelled, booked,
        accepted) more than ``retention_days`` ago: names, birth date, phone, address, access
        notes, reason, prescription, free texts; the place rounded to about 1 km; attachments'
        records removed. Returns (requests purged, [(request id, stored attachment name)]) for
        the caller to delete the encrypted files. One audit line per request."""
        if retention_days <= 0:
            raise ValueError("retention_days must be positive")
        at = now_s() if now is None else now
        cutoff = at - retention_days * 86_400
        erased = json.dumps(
            {"family_name": "", "given_name": "", "birth_date": "", "gender": None, "phone": None}
        )

        def job(conn: sqlite3.Connection) -> tuple[int, list[tuple[int, str]]]:
            ids = [
                int(r[0])
                for r in conn.execute(
                    "SELECT id FROM referrals WHERE state IN"
                    " ('declined', 'cancelled', 'booked', 'accepted') AND updated_at_s < ?"
                    " AND address != '' ORDER BY id",
                    (cutoff,),
                )
            ]
            files: list[tuple[int, str]] = []
            for referral_id in ids:
                conn.execute(
                    "UPDATE referrals SET patient = ?, address = '', access_notes = NULL,"
                    " reason = '', prescription = NULL, message = NULL, decline_reason = NULL,"
                    " lon = round(lon, 2), lat = round(lat, 2) WHERE id = ?",
                    (erased, referral_id),
                )
                conn.execute(
                    "UPDATE referral_events SET detail = json_remove(detail, '$.reason',"
                    " '$.message') WHERE referral_id = ?",
                    (referral_id,),
                )
                files += [
                    (referral_id, r[0])
                    for r in conn.execute(
                        "SELECT stored_name FROM referral_attachments WHERE referral_id = ?",
                        (referral_id,),
                    )
                ]
                conn.execute(
                    "DELETE FROM referral_attachments WHERE referral_id = ?", (referral_id,)
                )
                _audit(
                    conn, actor, "referral.purge", None, f"referral:{referral_id}", None,
                    {"retention_days": retention_days},
                )  # fmt: skip
            return len(ids), files

        result: tuple[int, list[tuple[int, str]]] = self.engine.write(job)
        return result

    # -- events --------------------------------------------------------------------------------
    def add_referral_event(
        self,
        referral_id: int,
        kind: str,
        *,
        actor: str,
        actor_role: str | None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Append one step to a request's history."""
        self.engine.write(
            lambda conn: conn.execute(
                "INSERT INTO referral_events (referral_id, at_s, actor, actor_role, kind, detail)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (referral_id, now_s(), actor, actor_role, kind, json.dumps(detail or {})),
            )
        )

    def referral_events(self, referral_id: int) -> list[dict[str, Any]]:
        """A request's history, oldest first."""
        with self.engine.read() as conn:
            rows = conn.execute(
                "SELECT * FROM referral_events WHERE referral_id = ? ORDER BY id", (referral_id,)
            ).fetchall()
        return [{**{k: r[k] for k in r.keys()}, "detail": json.loads(r["detail"] or "{}")}
                for r in rows]  # fmt: skip

    # -- attachments ---------------------------------------------------------------------------
    def add_referral_attachment(
        self, referral_id: int, *, filename: str, media_type: str, size_bytes: int, stored_name: str
    ) -> dict[str, Any]:
        """Record an attachment whose encrypted file is already written."""

        def job(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "INSERT INTO referral_attachments (referral_id, filename, media_type, size_bytes,"
                " stored_name, created_at_s) VALUES (?, ?, ?, ?, ?, ?)",
                (referral_id, filename, media_type, size_bytes, stored_name, now_s()),
            )
            return int(cur.lastrowid or 0)

        attachment_id = int(self.engine.write(job))
        return self.get_referral_attachment(referral_id, attachment_id)

    def get_referral_attachment(self, referral_id: int, attachment_id: int) -> dict[str, Any]:
        """One attachment of a request (NotFoundError if not of that request)."""
        with self.engine.read() as conn:
            row = conn.execute(
                "SELECT * FROM referral_attachments WHERE id = ? AND referral_id = ?",
                (attachment_id, referral_id),
            ).fetchone()
        if row is None:
            raise NotFoundError(f"attachment {attachment_id} does not exist")
        return {k: row[k] for k in row.keys()}

    def list_referral_attachments(self, referral_id: int) -> list[dict[str, Any]]:
        """A request's attachments, oldest first."""
        with self.engine.read() as conn:
            rows = conn.execute(
                "SELECT * FROM referral_attachments WHERE referral_id = ? ORDER BY id",
                (referral_id,),
            ).fetchall()
        return [{k: r[k] for k in r.keys()} for r in rows]
