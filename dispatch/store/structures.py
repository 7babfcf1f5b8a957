"""Structures (the organisations sharing a deployment) and users' memberships.

A structure is an SSIAD, an HAD, a nursing centre, a SAAD, a mobile palliative or geriatric
team or a DAC. Its patients, staff, teams, visits and plans carry its ``structure_id``; a user
works for one or more structures (``user_structures``) and sees only their records.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from dispatch.errors import ConflictError, NotFoundError, ValidationError
from dispatch.store.core import now_s
from dispatch.store.models import parse_id, parse_structure, shown
from dispatch.store.rows import to_dict

if TYPE_CHECKING:
    from dispatch.store.core import Engine

#: Records counted per structure in its view (key of the count, table).
_COUNTED = (
    # A user works for their memberships' structures and their team's.
    (
        "users",
        "(SELECT user_id, structure_id FROM user_structures UNION SELECT u.id, t.structure_id"
        " FROM users u JOIN teams t ON t.id = u.team_id)",
    ),
    ("teams", "teams"),
    ("patients", "patients"),
    ("staff", "staff"),
)


def in_structures(structure_id: int | None, structures: Collection[int] | None) -> bool:
    """True when a record of ``structure_id`` is visible to a caller of ``structures``
    (None: unrestricted)."""
    return structures is None or (structure_id is not None and int(structure_id) in structures)


def structure_filter(
    structures: Collection[int] | None, column: str = "structure_id"
) -> tuple[str, list[int]]:
    """An SQL condition (``"1"`` when unrestricted) and its arguments restricting ``column``
    to ``structures``; an empty collection matches nothing."""
    if structures is None:
        return "1", []
    ids = sorted({int(s) for s in structures})
    if not ids:
        return "0", []
    return f"{column} IN ({', '.join('?' for _ in ids)})", ids


def scoped(
    where: str, args: list[Any], structures: Collection[int] | None, column: str = "structure_id"
) -> tuple[str, list[Any]]:
    """A WHERE clause from :func:`~dispatch.store.rows.where_clause` further restricted to
    ``structures``."""
    if structures is None:
        return where, args
    scope, scope_args = structure_filter(structures, column)
    return (f"{where} AND {scope}" if where else f"WHERE {scope}"), [*args, *scope_args]


def _structure_row(conn: sqlite3.Connection, row: sqlite3.Row | None) -> dict[str, Any] | None:
    structure = to_dict(row)
    if structure is None:
        return None
    structure["demo"] = bool(structure["demo"])
    counts = {}
    for key, table in _COUNTED:
        counts[key] = int(
            conn.execute(
                f"SELECT count(*) FROM {table} WHERE structure_id = ?", (structure["id"],)
            ).fetchone()[0]
        )
    structure["counts"] = counts
    return structure


class StructuresMixin:
    """Store methods for structures and memberships (mixed into :class:`dispatch.store.Store`)."""

    engine: Engine

    def add_structure(self, data: dict[str, Any], *, demo: bool = False) -> dict[str, Any]:
        """Create a structure from ``{name, kind, finess}`` (names are unique)."""
        row = parse_structure(data)

        def job(conn: sqlite3.Connection) -> int:
            _refuse_taken_name(conn, row["name"])
            now = now_s()
            cur = conn.execute(
                "INSERT INTO structures (name, kind, finess, demo, created_at_s, updated_at_s)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (row["name"], row["kind"], row.get("finess"), int(demo), now, now),
            )
            return int(cur.lastrowid or 0)

        return self.get_structure(self.engine.write(job))

    def get_structure(
        self, structure_id: int, *, structures: Collection[int] | None = None
    ) -> dict[str, Any]:
        """A structure with its counts of users, teams, patients and staff (NotFoundError if
        none, or if not among ``structures``)."""
        if not in_structures(structure_id, structures):
            raise NotFoundError(f"structure {structure_id} does not exist")
        with self.engine.read() as conn:
            found = _structure_row(
                conn,
                conn.execute("SELECT * FROM structures WHERE id = ?", (structure_id,)).fetchone(),
            )
        if found is None:
            raise NotFoundError(f"structure {structure_id} does not exist")
        return found

    def find_structure(self, key: str) -> dict[str, Any]:
        """A structure by id or by name (NotFoundError listing the known names if none)."""
        text = str(key).strip()
        with self.engine.read() as conn:
            row = conn.execute(
                "SELECT id FROM structures WHERE name = ? OR (? != '' AND id = ?)",
                (text, text if text.isdigit() else "", int(text) if text.isdigit() else 0),
            ).fetchone()
            known = [r[0] for r in conn.execute("SELECT name FROM structures ORDER BY id LIMIT 20")]
        if row is None:
            raise NotFoundError(
                f"structure {shown(text)} does not exist (known: {', '.join(known)})"
            )
        return self.get_structure(int(row[0]))

    def list_structures(self, *, structures: Collection[int] | None = None) -> list[dict[str, Any]]:
        """Structures ordered by name (``structures``: only those)."""
        where, args = structure_filter(structures, "id")
        with self.engine.snapshot() as conn:
            rows = conn.execute(
                f"SELECT * FROM structures WHERE {where} ORDER BY name", args
            ).fetchall()
            return [s for s in (_structure_row(conn, r) for r in rows) if s is not None]

    def update_structure(self, structure_id: int, data: dict[str, Any]) -> dict[str, Any]:
        """Rename a structure, change its kind or FINESS number."""
        row = parse_structure(data, partial=True)
        current = self.get_structure(structure_id)
        if not row:
            return current

        def job(conn: sqlite3.Connection) -> None:
            if "name" in row:
                _refuse_taken_name(conn, row["name"], but=structure_id)
            cols = ", ".join(f"{k} = ?" for k in row)
            conn.execute(
                f"UPDATE structures SET {cols}, updated_at_s = ? WHERE id = ?",
                (*row.values(), now_s(), structure_id),
            )

        self.engine.write(job)
        return self.get_structure(structure_id)

    def set_user_structures(self, user_id: int, structure_ids: Any) -> list[int]:
        """Make ``structure_ids`` the structures user ``user_id`` works for (at least one;
        a team member also keeps their team's). Returns the user's structures."""
        from dispatch.store.accounts import user_structure_ids

        wanted = check_structure_ids(structure_ids)

        def job(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone() is None:
                raise NotFoundError(f"user {user_id} does not exist")
            replace_memberships(conn, user_id, wanted)

        self.engine.write(job)
        return user_structure_ids(self.engine, user_id)


def check_structure_ids(structure_ids: Any) -> list[int]:
    """A sorted list of distinct structure ids (at least one) from a list of ids."""
    if not isinstance(structure_ids, (list, tuple)):
        raise ValidationError("structure_ids must be a list of structure ids, e.g. [1, 2]")
    ids = [parse_id(s, what="structure_id") for s in structure_ids]
    if None in ids:
        raise ValidationError("structure_ids: each item must be a structure id, e.g. [1, 2]")
    wanted = sorted({int(s) for s in ids if s is not None})
    if not wanted:
        raise ValidationError("structure_ids: give at least one structure")
    return wanted


def replace_memberships(conn: sqlite3.Connection, user_id: int, wanted: list[int]) -> None:
    """Within a write: the user's memberships become ``wanted`` (each must exist)."""
    known = {int(r[0]) for r in conn.execute("SELECT id FROM structures")}
    missing = [s for s in wanted if s not in known]
    if missing:
        raise NotFoundError(f"structure {missing[0]} does not exist")
    conn.execute("DELETE FROM user_structures WHERE user_id = ?", (user_id,))
    conn.executemany(
        "INSERT INTO user_structures (user_id, structure_id) VALUES (?, ?)",
        [(user_id, s) for s in wanted],
    )


def _refuse_taken_name(conn: sqlite3.Connection, name: str, *, but: int | None = None) -> None:
    if conn.execute(
        "SELECT 1 FROM structures WHERE name = ? AND id IS NOT ?", (name, but)
    ).fetchone():
        raise ConflictError(f"structure {shown(name)} already exists: choose another name")
