"""Team positions: fast idempotent batch ingest, latest fix per team, history, retention purge."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any

from dispatch.errors import DispatchError, NotFoundError, ValidationError
from dispatch.store.core import now_s
from dispatch.store.models import parse_position
from dispatch.store.rows import Page, clamp_page, select_page, to_dict, where_clause

if TYPE_CHECKING:
    from dispatch.store.core import Engine

#: Most fixes accepted in one batch.
MAX_BATCH = 5000
#: A fix dated more than this after the server clock is refused (the phone's clock is wrong).
MAX_AHEAD_S = 300.0
_COLUMNS = (
    "team_id",
    "device_id",
    "client_id",
    "device_time_s",
    "server_time_s",
    "lon",
    "lat",
    "accuracy_m",
    "speed_mps",
    "heading_deg",
    "battery_pct",
    "source",
    "flags",
)
_INSERT = (
    f"INSERT INTO positions ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})"
)


#: Pairs per duplicate-lookup query (two parameters each, far under SQLite's limit).
_LOOKUP_CHUNK = 400


def _already_stored(conn: sqlite3.Connection, pairs: list[tuple[int, str]]) -> set[tuple[int, str]]:
    """Which (team_id, client_id) pairs are already stored (one indexed lookup per chunk)."""
    seen: set[tuple[int, str]] = set()
    for start in range(0, len(pairs), _LOOKUP_CHUNK):
        chunk = pairs[start : start + _LOOKUP_CHUNK]
        values = ", ".join("(?, ?)" for _ in chunk)
        seen.update(
            (r[0], r[1])
            for r in conn.execute(
                f"SELECT p.team_id, p.client_id FROM (VALUES {values}) AS v"
                " CROSS JOIN positions AS p ON p.team_id = v.column1 AND p.client_id = v.column2",
                [x for pair in chunk for x in pair],
            )
        )
    return seen


def _insert_batches(conn: sqlite3.Connection, batches: list[tuple]) -> list[Any]:
    """Store several reports at once (the writer groups concurrent ones); one result each.

    Each batch is ``(team_id, device_id, source, parsed fixes, n received, rejected)``. A fix
    whose ``client_id`` is stored for its team, or came earlier in the group, is a duplicate.
    A report for a team that does not exist gets a NotFoundError (the others are stored).
    """
    team_ids = sorted({b[0] for b in batches})
    marks = ", ".join("?" for _ in team_ids)
    known = {r[0] for r in conn.execute(f"SELECT id FROM teams WHERE id IN ({marks})", team_ids)}
    pairs = [
        (b[0], p["client_id"])
        for b in batches
        if b[0] in known
        for p in b[3]
        if p["client_id"] is not None
    ]
    seen = _already_stored(conn, pairs) if pairs else set()
    now = now_s()
    rows: list[tuple] = []
    spans: list[tuple[int, int] | None] = []
    for team_id, device_id, source, parsed, _, _ in batches:
        if team_id not in known:
            spans.append(None)
            continue
        first = len(rows)
        for p in parsed:
            cid = p["client_id"]
            if cid is not None:
                if (team_id, cid) in seen:
                    continue
                seen.add((team_id, cid))
            rows.append(
                (
                    team_id,
                    device_id,
                    cid,
                    p["device_time_s"],
                    now,
                    p["lon"],
                    p["lat"],
                    p.get("accuracy_m"),
                    p.get("speed_mps"),
                    p.get("heading_deg"),
                    p.get("battery_pct"),
                    source,
                    "",
                )
            )
        spans.append((first, len(rows)))
    last = 0
    if rows:
        last = conn.execute("SELECT coalesce(max(id), 0) FROM positions").fetchone()[0]
        conn.executemany(_INSERT, rows)
    results: list[Any] = []
    for batch, span in zip(batches, spans, strict=True):
        team_id, _, _, parsed, n_received, rejected = batch
        if span is None:
            results.append(NotFoundError(f"team {team_id} does not exist"))
            continue
        # One writer: the new rows took the ids right after the previous maximum.
        stored = [
            {"id": last + 1 + i, **dict(zip(_COLUMNS, rows[i], strict=True)), "flags": []}
            for i in range(*span)
        ]
        results.append(
            {
                "accepted": n_received,
                "stored": stored,
                "duplicates": len(parsed) - len(stored),
                "rejected": rejected,
            }
        )
    return results


#: ``(team_id, fixes, device_id, source)``: one phone's report, as received.
PositionReport = tuple[int, list[dict[str, Any]], "int | None", str]


def _duration(seconds: float) -> str:
    """``7 days``, ``1 hour``, ``5 minutes``: a duration as a person says it."""
    for unit, size in (("day", 86_400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = round(seconds / size)
            return f"{n:,} {unit}{'s' if n != 1 else ''}"
    return f"{seconds:.0f} s"


def _refusal(index: int, device_time_s: float, now: float, max_age_s: float | None) -> str | None:
    """Why fix ``index`` dated ``device_time_s`` is refused, or None when it may be stored."""
    if device_time_s > now + MAX_AHEAD_S:
        return (
            f"position {index}: device_time_s {device_time_s:.0f} is"
            f" {device_time_s - now:.0f} s after the server clock:"
            " set the phone's date and time to automatic"
        )
    if max_age_s is not None and device_time_s < now - max_age_s:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(device_time_s))
        return (
            f"position {index}: device_time_s {device_time_s:.0f} ({when}) is"
            f" {_duration(now - device_time_s)} old: fixes older than {_duration(max_age_s)}"
            " are not stored (setting position_max_age_s); the phone's clock is wrong (set its"
            " date and time to automatic) or the fix waited offline too long"
        )
    return None


def _prepare_report(
    team_id: int,
    fixes: Iterable[dict[str, Any]],
    device_id: int | None,
    source: str,
    validated: bool,
    max_age_s: float | None = None,
) -> tuple:
    """Parse a report's fixes and set apart those dated too far in the future or (with
    ``max_age_s``) in the past: the writer's argument.

    Raises ValidationError for a report too big or a fix that cannot be read (the whole
    report is refused: the phone must fix it and send it again).
    """
    items = list(fixes)
    if len(items) > MAX_BATCH:
        raise ValidationError(
            f"{len(items)} positions in one batch: send at most {MAX_BATCH} per request"
        )
    parsed_all = items if validated else [parse_position(f, index=i) for i, f in enumerate(items)]
    now = now_s()
    parsed = []
    rejected = []
    for i, p in enumerate(parsed_all):
        why = _refusal(i, p["device_time_s"], now, max_age_s)
        if why is None:
            parsed.append(p)
        else:
            rejected.append({"index": i, "client_id": p["client_id"], "error": why})
    return (team_id, device_id, source, parsed, len(parsed_all), rejected)


class PositionsMixin:
    """Where the teams are and were."""

    engine: Engine
    #: Fixes dated more than this before the server clock are refused (listed in
    #: ``rejected``); None: no limit. The web app sets it from the setting
    #: ``position_max_age_s``.
    position_max_age_s: float | None = None

    def insert_positions(
        self,
        team_id: int,
        fixes: Iterable[dict[str, Any]],
        *,
        device_id: int | None = None,
        source: str = "api",
        validated: bool = False,
    ) -> dict[str, Any]:
        """Store a batch of fixes of one team; returns only after the batch is committed.

        Parameters
        ----------
        team_id
            The team the fixes belong to.
        fixes
            Dicts with ``lon, lat, device_time_s`` (Unix s or ISO 8601, or ``time``) and optional
            ``client_id, accuracy_m, speed_mps, heading_deg, battery_pct``.
        device_id
            The paired device that sent them (None for a user or the OsmAnd endpoint).
        source
            Free label: "api", "socket", "osmand"...
        validated
            True when ``fixes`` already went through :func:`parse_position` (skip it again).

        Returns
        -------
        dict
            ``{"accepted": n_received, "stored": [rows newly stored, with id and
            server_time_s], "duplicates": n, "rejected": [{"index", "client_id", "error"}]}``.
            A fix whose ``client_id`` is already stored for the team (or repeated in the batch)
            is a duplicate: sending a batch again stores nothing twice. The ``client_id`` is
            what makes a replay idempotent: fixes sent without one are stored again on every
            retry. A fix dated more than :data:`MAX_AHEAD_S` after the server clock is rejected
            (listed in ``rejected``, the rest of the batch is stored): it would otherwise stay
            the team's "latest" position until the clock caught up. So is a fix dated more than
            :attr:`position_max_age_s` before it.
        """
        return self.engine.write_batched(
            _insert_batches,
            _prepare_report(team_id, fixes, device_id, source, validated, self.position_max_age_s),
        )

    def insert_position_reports(self, reports: list[PositionReport]) -> list[Any]:
        """Store several reports (any teams) in one transaction; one result each, in order.

        The result of a report is what :meth:`insert_positions` returns for it, or the error
        (a :class:`~dispatch.errors.DispatchError`, not raised) that refused it alone: a bad
        report never costs the others their place. One wait on the writer for the whole
        group: this is how the socket server stores the reports of every phone at once.

        A report whose every fix is refused (dated too far in the past or the future) gets a
        ValidationError naming them (``details["rejected"]``): the phone's error
        acknowledgement, after which it drops them instead of sending them again.
        """
        results: list[Any] = [None] * len(reports)
        prepared: list[tuple[int, tuple]] = []
        for i, (team_id, fixes, device_id, source) in enumerate(reports):
            try:
                report = _prepare_report(
                    team_id, fixes, device_id, source, False, self.position_max_age_s
                )
            except DispatchError as exc:
                results[i] = exc
                continue
            rejected = report[5]
            if report[3] or not rejected:
                prepared.append((i, report))
                continue
            first = rejected[0]["error"]
            results[i] = ValidationError(
                first if len(rejected) == 1 else f"{len(rejected)} positions refused; {first}",
                details={"rejected": rejected},
            )
        outcomes = self.engine.write_many(_insert_batches, [arg for _, arg in prepared])
        for (i, _), outcome in zip(prepared, outcomes, strict=True):
            results[i] = outcome
        return results

    def flag_positions(self, flags_by_id: dict[int, list[str]]) -> None:
        """Record the live filter's quality flags of stored fixes (the others stay clean).

        Fixes are stored with no flag; the filter judges them right after the commit and this
        records its verdict on the few it flags (inaccurate, jump, duplicate, stationary, late).
        """
        if not flags_by_id:
            return
        pairs = [(",".join(flags), int(pid)) for pid, flags in flags_by_id.items()]
        self.engine.write(
            lambda conn: conn.executemany("UPDATE positions SET flags = ? WHERE id = ?", pairs)
        )

    def latest_positions(
        self,
        *,
        team_ids: list[int] | None = None,
        structures: Collection[int] | None = None,
    ) -> list[dict[str, Any]]:
        """The most recent fix (by device time) of every team that has one (only the teams of
        ``structures`` when given).

        Fixes dated more than :data:`MAX_AHEAD_S` after their arrival (older rows, from
        before such fixes were refused) are ignored, so one wrong clock cannot freeze a team on
        the map; ties on device time go to the fix received last.
        """
        where, args = "", []
        if structures is not None:
            ids = [int(s) for s in structures]
            where = f"WHERE t.structure_id IN ({', '.join('?' for _ in ids) or 'NULL'})"
            args = ids
        with self.engine.read() as conn:
            rows = conn.execute(
                "SELECT p.* FROM teams t JOIN positions p ON p.id = ("
                "  SELECT q.id FROM positions q WHERE q.team_id = t.id"
                "  AND q.device_time_s <= q.server_time_s + ?"
                "  ORDER BY q.device_time_s DESC, q.id DESC LIMIT 1"
                f") {where} ORDER BY t.id",
                (MAX_AHEAD_S, *args),
            ).fetchall()
        wanted = set(team_ids) if team_ids is not None else None
        items = [_position(r) for r in rows]
        return [p for p in items if p is not None and (wanted is None or p["team_id"] in wanted)]

    def list_positions(
        self,
        *,
        team_id: int | None = None,
        since_s: float | None = None,
        until_s: float | None = None,
        limit: int | None = None,
        offset: int | None = None,
        structures: Collection[int] | None = None,
    ) -> Page:
        """Fixes ordered by device time (a team's track), optionally in [since_s, until_s);
        only the fixes of the teams of ``structures`` when given (None: every team)."""
        limit, offset = clamp_page(limit, offset)
        where, args = where_clause(
            [
                ("team_id = ?", team_id),
                ("device_time_s >= ?", since_s),
                ("device_time_s < ?", until_s),
            ]
        )
        if structures is not None:
            ids = [int(s) for s in structures]
            clause = (
                "team_id IN (SELECT id FROM teams WHERE structure_id IN"
                f" ({', '.join('?' for _ in ids) or 'NULL'}))"
            )
            where = f"{where} AND {clause}" if where else f"WHERE {clause}"
            args = [*args, *ids]
        with self.engine.snapshot() as conn:
            total, rows = select_page(
                conn,
                table="positions",
                where=where,
                args=args,
                order_by="device_time_s, id",
                limit=limit,
                offset=offset,
            )
        return Page([_position(r) for r in rows], total=total, limit=limit, offset=offset)

    def purge_positions(self, *, older_than_days: float) -> int:
        """Delete fixes received more than ``older_than_days`` ago; returns how many."""
        if older_than_days <= 0:
            raise ValidationError("older_than_days must be positive")
        cutoff = now_s() - older_than_days * 86_400
        return int(
            self.engine.write(
                lambda conn: (
                    conn.execute(
                        "DELETE FROM positions WHERE server_time_s < ?", (cutoff,)
                    ).rowcount
                )
            )
        )


def _position(row: sqlite3.Row) -> dict[str, Any]:
    """A stored fix; ``flags`` as a list (None for fixes stored before flags were kept)."""
    out = to_dict(row)
    assert out is not None
    flags = out.get("flags")
    out["flags"] = None if flags is None else [f for f in flags.split(",") if f]
    return out
