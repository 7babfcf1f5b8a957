"""Helpers of the store's drills (issue 21 item 18): old rows seeded fast, /api/health polled
under load, a server process's writes limited as on a full disk."""

from __future__ import annotations

import math
import resource
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from dispatch.cli.bench_durability import health_ms


def seed_old_positions(db_path: Path, n: int, *, age_days: float = 90.0) -> None:
    """Add ``n`` positions received ``age_days`` ago to the first team, in one SQL statement
    (1,000,000 rows in about 8 s on the CI machine; through the store it would be minutes)."""
    conn = sqlite3.connect(str(db_path), isolation_level=None)
    try:
        team_id = conn.execute("SELECT min(id) FROM teams").fetchone()[0]
        old = time.time() - age_days * 86_400
        conn.execute("BEGIN")
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
            " INSERT INTO positions (team_id, client_id, device_time_s, server_time_s, lon,"
            " lat, source, flags) SELECT ?, 'old-' || i, ? + i * 0.01, ? + i * 0.01, 2.6555,"
            " 48.54, 'socket', '' FROM n",
            (n, team_id, old, old),
        )
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


class HealthPoller:
    """GET /api/health every ``period_s`` from a thread: ``samples`` of (time, ms, body)."""

    def __init__(self, url: str, period_s: float = 0.05) -> None:
        self.url, self.period_s = url, period_s
        self.samples: list[tuple[float, float, dict[str, Any] | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> HealthPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            t = time.time()
            ms, body = health_ms(self.url)
            self.samples.append((t, ms, body))
            self._stop.wait(self.period_s)

    def ms(self, since: float = 0.0, until: float = math.inf) -> list[float]:
        """Answer times (ms) of the polls started in [since, until), sorted."""
        return sorted(ms for t, ms, _ in list(self.samples) if since <= t < until)

    def databases(self, since: float = 0.0, until: float = math.inf) -> list[Any]:
        """The ``database`` field of each answer in [since, until) (None: no answer)."""
        return [
            None if body is None else body.get("database")
            for t, _, body in list(self.samples)
            if since <= t < until
        ]


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile of sorted ``values`` (nearest rank)."""
    if not values:
        return math.nan
    return values[min(len(values) - 1, max(0, math.ceil(q / 100 * len(values)) - 1))]


def limit_file_size(pid: int, max_bytes: int | None) -> None:
    """Refuse a process's writes past ``max_bytes`` in any file (RLIMIT_FSIZE, as a disk quota
    does; no root needed); None lifts the limit. SQLite then fails writes with an I/O error,
    as on a full disk; Python ignores SIGXFSZ, so the process lives on."""
    _, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    soft = hard if max_bytes is None else max_bytes
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, hard))
