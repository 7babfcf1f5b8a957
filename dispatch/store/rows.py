"""Row helpers shared by the store mixins: JSON columns, dict conversion, pagination."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

JSON_COLUMNS = {"skills", "windows", "summary", "detail", "protected"}
#: Largest page a list may return.
MAX_LIMIT = 1000


def to_dict(row: sqlite3.Row | None, *, drop: tuple[str, ...] = ()) -> dict[str, Any] | None:
    """A plain dict of ``row`` with JSON columns decoded and ``drop`` columns left out."""
    if row is None:
        return None
    out = {}
    for key in row.keys():
        if key in drop:
            continue
        value = row[key]
        if key in JSON_COLUMNS and isinstance(value, str):
            value = json.loads(value)
        out[key] = value
    return out


def dumps(value: Any) -> str:
    """Compact JSON for a column."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class Page(list):  # type: ignore[type-arg]
    """A list of rows that also knows the total count and the paging window."""

    def __init__(self, items: list[Any], *, total: int, limit: int, offset: int) -> None:
        super().__init__(items)
        self.total = total
        self.limit = limit
        self.offset = offset

    @property
    def next_offset(self) -> int | None:
        """Offset of the next page, or None on the last page."""
        end = self.offset + len(self)
        return end if end < self.total else None


def clamp_page(limit: int | None, offset: int | None) -> tuple[int, int]:
    """Bounded limit and offset (default page of 100)."""
    limit = 100 if limit is None else max(1, min(int(limit), MAX_LIMIT))
    offset = 0 if offset is None else max(0, int(offset))
    return limit, offset


def where_clause(conditions: list[tuple[str, Any]]) -> tuple[str, list[Any]]:
    """``("WHERE a = ? AND b >= ?", [x, y])`` from ``(sql, value)`` pairs whose value is not None.

    A pair whose SQL has no ``?`` (``("team_id IS NULL", True)``) adds no parameter.
    """
    clauses: list[str] = []
    args: list[Any] = []
    for sql, value in conditions:
        if value is None:
            continue
        clauses.append(sql)
        if "?" in sql:
            args.append(value)
    return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), args


def select_page(
    conn: sqlite3.Connection,
    *,
    table: str,
    where: str,
    args: list[Any],
    order_by: str,
    limit: int,
    offset: int,
    columns: str = "*",
) -> tuple[int, list[sqlite3.Row]]:
    """The total count of matching rows and one page of them, read in one snapshot."""
    total = int(conn.execute(f"SELECT count(*) FROM {table} {where}", args).fetchone()[0])
    rows = conn.execute(
        f"SELECT {columns} FROM {table} {where} ORDER BY {order_by} LIMIT ? OFFSET ?",
        [*args, limit, offset],
    ).fetchall()
    return total, rows
