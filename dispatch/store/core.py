"""SQLite engine of the store: one writer thread with group commits, pooled WAL readers."""

from __future__ import annotations

import _thread
import logging
import os
import queue
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from dispatch.errors import DispatchError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Milliseconds a connection waits on a lock before SQLite gives up (never reached in practice:
#: only the writer thread writes, readers never block in WAL mode).
BUSY_TIMEOUT_MS = 30_000
#: Most jobs committed together in one transaction by the writer thread.
GROUP_COMMIT_MAX = 256
#: Idle reader connections kept open for reuse.
READER_POOL_SIZE = 8
#: Seconds between two checkpoints of the write-ahead log (copying it back into the database).
CHECKPOINT_INTERVAL_S = 1.0

_STOP = object()


class _Job:
    """One queued write and the lock its caller waits on (lighter than a Future: one lock)."""

    __slots__ = ("fn", "batch", "arg", "result", "error", "finished", "_done")

    def __init__(self, fn: Any, batch: Any, arg: Any) -> None:
        self.fn, self.batch, self.arg = fn, batch, arg
        self.result: Any = None
        self.error: BaseException | None = None
        self.finished = False
        self._done = threading.Lock()
        self._done.acquire()

    def finish(self, *, result: Any = None, error: BaseException | None = None) -> None:
        if self.finished:
            return
        self.finished = True
        self.result, self.error = result, error
        self._done.release()

    def wait(self) -> Any:
        self._done.acquire()
        if self.error is not None:
            raise self.error
        return self.result


def _batch_all(batch: Any, args: list[Any], conn: sqlite3.Connection) -> list[Any]:
    return list(batch(conn, args))


def _batch_one(batch: Any, arg: Any, conn: sqlite3.Connection) -> Any:
    return _unwrap(batch(conn, [arg])[0])


def _unwrap(result: Any) -> Any:
    if isinstance(result, Exception):
        raise result
    return result


class StoreClosedError(DispatchError, RuntimeError):
    """The store was closed: the server is shutting down."""

    status = 503
    code = "store_closed"


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(
        str(path), isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
    )
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def create_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 (and its missing folders 0700) if it is missing.

    Patient details live in the database: it is readable by the service account only. SQLite
    gives the -wal and -shm files the permissions of the database file.
    """
    missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
        os.close(fd)


class Engine:
    """Serialises every write through one thread; hands out reader connections.

    Parameters
    ----------
    path
        The SQLite file (created with its folder if missing).

    Notes
    -----
    ``write(fn)`` queues ``fn(conn)``; the writer thread runs queued jobs in one transaction,
    each inside its own SAVEPOINT (a failing job is rolled back alone and its caller gets the
    exception), commits once, then wakes the callers: a caller's result is returned only after
    its data is durable on disk, and "database is locked" cannot happen between our own writers.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        create_private(self.path)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._readers: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._all_readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        self._writer_conn = _connect(self.path)
        self._writer_conn.execute("PRAGMA journal_mode = WAL")
        self._writer_conn.execute("PRAGMA synchronous = NORMAL")
        # Checkpoints run beside the writer, not inside one of its commits: copying the log
        # back and syncing the file took 20-30 ms every few seconds at 2,000 positions/s, a
        # stall of the whole event loop under gevent (p99 of the live map).
        self._writer_conn.execute("PRAGMA wal_autocheckpoint = 0")
        self._thread = threading.Thread(target=self._run, name="dispatch-store-writer", daemon=True)
        self._thread.start()
        self._stop_checkpointer = _start_os_thread(self._checkpoint_loop)

    # -- writing -------------------------------------------------------------------------------
    def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` in the writer thread and return its result once committed."""
        if threading.current_thread() is self._thread:
            return fn(self._writer_conn)  # nested call from inside a write job
        return self._submit(_Job(fn, None, None))

    def write_batched(
        self, batch: Callable[[sqlite3.Connection, list[Any]], list[Any]], arg: Any
    ) -> Any:
        """Like :meth:`write`, for a job the writer may run together with others of its kind.

        ``batch(conn, args)`` handles the ``arg`` of several queued calls at once (consecutive
        calls with the same ``batch``) and returns one result per arg, in order; a result that
        is an exception is raised to its caller alone. If ``batch`` itself raises, each arg is
        run again alone, so that one bad call cannot fail the others. This is the hot path of
        position reports: one query for a whole group instead of several per report.
        """
        if threading.current_thread() is self._thread:
            return _unwrap(batch(self._writer_conn, [arg])[0])
        return self._submit(_Job(None, batch, arg))

    def write_many(
        self, batch: Callable[[sqlite3.Connection, list[Any]], list[Any]], args: list[Any]
    ) -> list[Any]:
        """Several calls of ``batch`` queued at once: one result per arg, errors as values.

        The calls are queued together, so the writer normally runs them as one batch in one
        transaction (the same fallback as :meth:`write_batched` applies); the caller waits
        once for all of them. A call that failed has its exception in its place, not raised.
        """
        if not args:
            return []
        if threading.current_thread() is self._thread:
            return list(batch(self._writer_conn, args))  # nested: the enclosing job's savepoint
        if self._closed:
            raise StoreClosedError("the database is closed (the server is stopping): retry later")
        jobs = [_Job(None, batch, arg) for arg in args]
        for job in jobs:
            self._queue.put(job)
        results: list[Any] = []
        for job in jobs:
            try:
                results.append(job.wait())
            except Exception as exc:
                results.append(exc)
        return results

    def _submit(self, job: _Job) -> Any:
        if self._closed:
            raise StoreClosedError("the database is closed (the server is stopping): retry later")
        self._queue.put(job)
        return job.wait()

    def _run(self) -> None:
        conn = self._writer_conn
        while True:
            job = self._queue.get()
            if job is _STOP:
                break
            jobs = [job]
            while len(jobs) < GROUP_COMMIT_MAX:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    self._queue.put(_STOP)
                    break
                jobs.append(nxt)
            self._run_group(conn, jobs)
        conn.close()

    def _run_group(self, conn: sqlite3.Connection, jobs: list[_Job]) -> None:
        done: list[tuple[_Job, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            i = 0
            while i < len(jobs):
                job = jobs[i]
                if job.batch is None:
                    done.extend(self._run_alone(conn, job.fn, [job]))
                    i += 1
                    continue
                # Consecutive calls of the same batch function run as one (order is kept).
                j = i + 1
                while j < len(jobs) and jobs[j].batch is job.batch:
                    j += 1
                run = jobs[i:j]
                batch = job.batch
                args = [b.arg for b in run]
                ran = self._run_alone(conn, partial(_batch_all, batch, args), run, many=True)
                if ran is None:  # the batch failed as a whole: each call alone
                    for b in run:
                        done.extend(self._run_alone(conn, partial(_batch_one, batch, b.arg), [b]))
                else:
                    done.extend(ran)
                i = j
            conn.execute("COMMIT")
        except BaseException as exc:  # the transaction itself failed: nobody is acknowledged
            log.exception("write transaction failed")
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            for job in jobs:
                job.finish(error=exc)
            return
        for job, result in done:
            if isinstance(result, Exception):
                job.finish(error=result)
            else:
                job.finish(result=result)

    @staticmethod
    def _run_alone(
        conn: sqlite3.Connection,
        fn: Callable[[sqlite3.Connection], Any],
        jobs: list[_Job],
        *,
        many: bool = False,
    ) -> Any:
        """Run ``fn`` inside its own SAVEPOINT; (job, result) pairs, the error on failure.

        With ``many`` the result is one per job, and a failure returns None (the caller
        retries each job alone) instead of failing the jobs.
        """
        conn.execute("SAVEPOINT job")
        try:
            result = fn(conn)
        except Exception as exc:
            conn.execute("ROLLBACK TO job")
            conn.execute("RELEASE job")
            if many:
                log.warning(
                    "a batched write failed (%s): running its %d calls alone", exc, len(jobs)
                )
                return None
            return [(jobs[0], exc)]
        conn.execute("RELEASE job")
        if many:
            return list(zip(jobs, result, strict=True))
        return [(jobs[0], result)]

    # -- reading -------------------------------------------------------------------------------
    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A reader connection (autocommit: each statement sees the latest commit)."""
        if threading.current_thread() is self._thread:
            yield self._writer_conn
            return
        if self._closed:
            raise StoreClosedError("the database is closed (the server is stopping): retry later")
        try:
            conn = self._readers.get_nowait()
        except queue.Empty:
            conn = _connect(self.path)
            with self._readers_lock:
                self._all_readers.append(conn)
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if self._readers.qsize() < READER_POOL_SIZE and not self._closed:
                self._readers.put(conn)
            else:
                with self._readers_lock:
                    if conn in self._all_readers:
                        self._all_readers.remove(conn)
                conn.close()

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A reader connection inside one read transaction (a consistent view)."""
        with self.read() as conn:
            if conn.in_transaction:  # the writer itself
                yield conn
                return
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    def _checkpoint_loop(self, stopped: Callable[[float], bool]) -> None:
        """Checkpoint the log every CHECKPOINT_INTERVAL_S from a connection of its own.

        PASSIVE: never waits for the writer or readers (the writer keeps appending meanwhile);
        the log starts over at the next write once a checkpoint went through to its end.
        """
        conn = _connect(self.path)
        try:
            while not stopped(CHECKPOINT_INTERVAL_S):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:  # busy or I/O: the next round tries again
                    log.warning("checkpoint of %s failed: %s", self.path, exc)
        finally:
            conn.close()

    def close(self) -> None:
        """Finish queued writes, then close every connection."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout=30)
        self._stop_checkpointer(5.0)
        with self._readers_lock:
            for conn in self._all_readers:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all_readers.clear()


def _start_os_thread(fn: Callable[[Callable[[float], bool]], None]) -> Callable[[float], bool]:
    """Run ``fn(stopped)`` in an operating-system thread, even once gevent patched threading
    (a greenlet blocked in SQLite would stop the event loop); returns ``stop(timeout_s)``.

    ``stopped(seconds)`` waits up to ``seconds`` and tells whether ``stop`` was called;
    ``stop`` asks the thread to end and waits for it (True if it ended in time).
    """
    start_new_thread, allocate_lock = _thread.start_new_thread, _thread.allocate_lock
    if "gevent.monkey" in sys.modules:
        from gevent import monkey

        if monkey.is_module_patched("threading"):
            start_new_thread = monkey.get_original("_thread", "start_new_thread")
            allocate_lock = monkey.get_original("_thread", "allocate_lock")
    stop_lock, done = allocate_lock(), allocate_lock()
    stop_lock.acquire()
    done.acquire()

    def stopped(seconds: float) -> bool:
        if stop_lock.acquire(True, seconds):
            stop_lock.release()
            return True
        return False

    def run() -> None:
        try:
            fn(stopped)
        except Exception:
            log.exception("background store thread failed")
        finally:
            done.release()

    start_new_thread(run, ())

    def stop(timeout_s: float) -> bool:
        stop_lock.release()
        if done.acquire(True, timeout_s):  # at most one checkpoint's time
            done.release()
            return True
        return False

    return stop


def now_s() -> float:
    """Unix time in seconds (server clock)."""
    return time.time()
