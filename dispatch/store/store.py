"""The Store: the only object that talks SQL, composed of one mixin per kind of data."""

from __future__ import annotations

import sqlite3
import time
from functools import partial
from pathlib import Path
from typing import Any

from dispatch.errors import ConflictError, ValidationError
from dispatch.store.accounts import AccountsMixin
from dispatch.store.alerts import AlertsMixin
from dispatch.store.calendar_feeds import CalendarFeedsMixin
from dispatch.store.care import CareMixin
from dispatch.store.core import Engine, create_private, now_s
from dispatch.store.generated import GeneratedVisitsMixin
from dispatch.store.patients import PatientsMixin
from dispatch.store.plans import PlansMixin
from dispatch.store.positions import PositionsMixin
from dispatch.store.referrals import ReferralsMixin
from dispatch.store.schema import MIGRATIONS, current_version, migrate
from dispatch.store.staff import StaffMixin
from dispatch.store.structures import StructuresMixin

#: Old positions deleted per transaction by a purge at first; then sized so that one
#: transaction takes about PURGE_CHUNK_S.
PURGE_CHUNK_ROWS = 2000
#: Seconds one purge transaction holds the write lock: phones' reports (this process's writer
#: or another's) wait at most about that long, instead of the whole purge.
PURGE_CHUNK_S = 0.02
#: Bounds of the chunk size (rows).
PURGE_CHUNK_MIN, PURGE_CHUNK_MAX = 200, 50_000


class Store(
    AccountsMixin,
    CareMixin,
    PositionsMixin,
    PlansMixin,
    AlertsMixin,
    StructuresMixin,
    PatientsMixin,
    StaffMixin,
    GeneratedVisitsMixin,
    ReferralsMixin,
    CalendarFeedsMixin,
):
    """The shared state of the service in one SQLite file (WAL, one writer thread).

    Parameters
    ----------
    path
        The database file (created, with its folder, if missing).
    migrate_now
        Apply pending migrations on open (``dispatch db migrate`` does it explicitly).
    """

    def __init__(self, path: str | Path, *, migrate_now: bool = True) -> None:
        self.path = Path(path)
        self.engine = Engine(self.path)
        self.applied_migrations: list[str] = self.migrate() if migrate_now else []

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Finish queued writes and close the file."""
        self.engine.close()

    # -- maintenance ---------------------------------------------------------------------------
    def migrate(self) -> list[str]:
        """Apply pending migrations; returns their names."""
        return self.engine.write(migrate)

    def schema_version(self) -> tuple[int, int]:
        """(applied, latest known) migration numbers."""
        with self.engine.read() as conn:
            return current_version(conn), MIGRATIONS[-1][0]

    def backup(self, target: str | Path) -> Path:
        """Copy the database to ``target`` while the service runs (SQLite online backup)."""
        target = Path(target)
        if target.exists():
            target.unlink()
        create_private(target)  # 0600: a backup holds the same patient details
        dest = sqlite3.connect(str(target))
        try:
            with self.engine.read() as conn:
                conn.backup(dest)
        finally:
            dest.close()
        return target

    def purge(self, *, position_retention_days: float) -> dict[str, int]:
        """Delete what is no longer needed: old positions, expired sessions, codes, attempts.

        Positions go in short transactions (about :data:`PURGE_CHUNK_S` each, a pause as long
        after each): a purge of a million rows never holds up the phones' reports, in this
        process or in the server when `dispatch db purge` runs beside it.
        """
        if position_retention_days <= 0:
            raise ValidationError("position_retention_days must be positive")
        cutoff = now_s() - position_retention_days * 86_400
        removed = {"positions": self._purge_positions_in_chunks(cutoff)}
        now = now_s()

        def job(conn: sqlite3.Connection) -> dict[str, int]:
            return {
                "sessions": conn.execute(
                    "DELETE FROM sessions WHERE expires_at_s < ? OR revoked_at_s < ?",
                    (now, now - 86_400),
                ).rowcount,
                "pairing_codes": conn.execute(
                    "DELETE FROM pairing_codes WHERE expires_at_s < ? AND used_at_s IS NULL",
                    (now,),
                ).rowcount,
                "login_attempts": conn.execute(
                    "DELETE FROM login_attempts WHERE at_s < ?", (now - 3600,)
                ).rowcount,
            }

        removed.update(self.engine.write(job))
        self.audit("system", "db.purge", detail=removed)
        return removed

    def _purge_positions_in_chunks(self, cutoff_s: float) -> int:
        """Delete positions received before ``cutoff_s``, chunk by chunk; returns how many."""
        total, rows = 0, PURGE_CHUNK_ROWS
        while True:
            t0 = time.perf_counter()
            n = int(self.engine.write(partial(_delete_old_positions, cutoff_s=cutoff_s, rows=rows)))
            spent_s = time.perf_counter() - t0
            total += n
            if n < rows:
                return total
            wanted = int(rows * PURGE_CHUNK_S / max(spent_s, 1e-4))
            rows = max(PURGE_CHUNK_MIN, min(PURGE_CHUNK_MAX, (rows + wanted) // 2))
            # Another process's writer waiting on the lock retries within a few ms: let it in.
            time.sleep(min(spent_s, 0.05))

    def clear_demo(self) -> dict[str, int]:
        """Delete every demo row (teams, visits, plans flagged demo, and what hangs on them).

        Only rows flagged demo go, with their positions, phones and events. If real rows lean
        on a demo team or visit (a real visit assigned to it, a real user in it, a plan with
        real visits), nothing is deleted: ConflictError says which rows and what to do.
        """

        def job(conn: sqlite3.Connection) -> dict[str, int]:
            teams = "(SELECT id FROM teams WHERE demo = 1)"
            visits = "(SELECT id FROM visits WHERE demo = 1)"
            _refuse_if_real_rows(conn, teams, visits)
            plan_ids = [
                r[0]
                for r in conn.execute(
                    f"SELECT id FROM plans WHERE demo = 1 OR id IN (SELECT plan_id FROM plan_stops"
                    f" WHERE visit_id IN {visits} OR team_id IN {teams}) OR id IN (SELECT plan_id"
                    f" FROM plan_unassigned WHERE visit_id IN {visits})"
                )
            ]
            plans = f"({', '.join(str(int(i)) for i in plan_ids) or 'NULL'})"
            removed = {}
            steps = [
                ("plan_stops", f"DELETE FROM plan_stops WHERE plan_id IN {plans}"),
                ("plan_unassigned", f"DELETE FROM plan_unassigned WHERE plan_id IN {plans}"),
                ("plans", f"DELETE FROM plans WHERE id IN {plans}"),
                (
                    "visit_events",
                    f"DELETE FROM visit_events WHERE visit_id IN {visits} OR team_id IN {teams}",
                ),
                ("visits", "DELETE FROM visits WHERE demo = 1"),
                ("positions", f"DELETE FROM positions WHERE team_id IN {teams}"),
                ("pairing_codes", f"DELETE FROM pairing_codes WHERE team_id IN {teams}"),
                ("devices", f"DELETE FROM devices WHERE team_id IN {teams}"),
                (
                    "sessions",
                    f"DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE team_id IN {teams})",
                ),
                (
                    "api_tokens",
                    f"DELETE FROM api_tokens WHERE user_id IN (SELECT id FROM users WHERE team_id IN {teams})",
                ),
                ("users", f"DELETE FROM users WHERE team_id IN {teams}"),
                ("visits_unlinked", f"UPDATE visits SET team_id = NULL WHERE team_id IN {teams}"),
                (
                    "visits_unpreferred",
                    f"UPDATE visits SET preferred_team_id = NULL WHERE preferred_team_id IN {teams}",
                ),
                ("teams", "DELETE FROM teams WHERE demo = 1"),
            ]
            for name, sql in steps:
                removed[name] = conn.execute(sql).rowcount
            return removed

        removed = self.engine.write(job)
        self.audit("cli", "demo.clear", detail=removed)
        return removed

    def counts(self) -> dict[str, int]:
        """Rows per table (for `dispatch db` and the health endpoint)."""
        tables = ("teams", "users", "devices", "visits", "plans", "positions", "visit_events")
        with self.engine.snapshot() as conn:
            return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}

    def ping(self) -> bool:
        """True when the database answers a read."""
        with self.engine.read() as conn:
            return conn.execute("SELECT 1").fetchone()[0] == 1

    def writable(self, *, max_age_s: float = 1.0) -> bool:
        """True when the database can store a write now (a probe write, at most one per
        ``max_age_s``); False on a full disk or a write error."""
        return self.engine.writable(max_age_s=max_age_s)

    def write(self, fn: Any) -> Any:
        """Run ``fn(conn)`` in the writer thread (escape hatch for maintenance code)."""
        return self.engine.write(fn)


def _delete_old_positions(conn: sqlite3.Connection, *, cutoff_s: float, rows: int) -> int:
    """Delete at most ``rows`` positions received before ``cutoff_s``; how many."""
    return int(
        conn.execute(
            "DELETE FROM positions WHERE id IN (SELECT id FROM positions"
            " WHERE server_time_s < ? LIMIT ?)",
            (cutoff_s, rows),
        ).rowcount
    )


def _ids(conn: sqlite3.Connection, sql: str) -> list[int]:
    return [int(r[0]) for r in conn.execute(sql)]


def _refuse_if_real_rows(conn: sqlite3.Connection, teams: str, visits: str) -> None:
    """ConflictError when rows not flagged demo point at demo teams or visits."""
    problems = []
    real_visits = _ids(
        conn,
        f"SELECT id FROM visits WHERE demo = 0 AND (team_id IN {teams}"
        f" OR preferred_team_id IN {teams} OR id IN (SELECT visit_id FROM visit_events"
        f" WHERE team_id IN {teams})) ORDER BY id",
    )
    if real_visits:
        problems.append(
            f"real visits {_list(real_visits)} are assigned or preferred to a demo team, or"
            " hold its events: give them a real team or none (PATCH /api/visits/ID"
            ' {"team_id": null, "preferred_team_id": null}); events recorded by a demo team'
            " on a real visit are care records: then keep the demo data"
        )
    users = _ids(conn, f"SELECT id FROM users WHERE team_id IN {teams} ORDER BY id")
    if users:
        problems.append(
            f"users {_list(users)} belong to a demo team: move them to a real team"
            ' (PATCH /api/users/ID {"team_id": ...})'
        )
    plans = _ids(
        conn,
        "SELECT DISTINCT p.id FROM plans p WHERE (p.demo = 1"
        f" OR p.id IN (SELECT plan_id FROM plan_stops WHERE visit_id IN {visits}"
        f" OR team_id IN {teams}) OR p.id IN (SELECT plan_id FROM plan_unassigned"
        f" WHERE visit_id IN {visits})) AND (p.id IN (SELECT s.plan_id FROM plan_stops s"
        " JOIN visits v ON v.id = s.visit_id WHERE v.demo = 0) OR p.id IN (SELECT u.plan_id"
        " FROM plan_unassigned u JOIN visits v ON v.id = u.visit_id WHERE v.demo = 0))"
        " ORDER BY p.id",
    )
    if plans:
        problems.append(
            f"plans {_list(plans)} hold real visits together with demo teams or visits: they"
            " are the record of real rounds and are never deleted; keep the demo data, or run"
            " demonstrations on a separate database (setting `database`)"
        )
    if problems:
        raise ConflictError(
            "demo data not cleared, nothing was deleted: "
            + "; ".join(problems)
            + ". Then run `dispatch demo clear` again."
        )


def _list(ids: list[int]) -> str:
    shown = ", ".join(str(i) for i in ids[:10])
    return shown + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
