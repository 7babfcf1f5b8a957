"""SQLite engine of the store: one writer thread with group commits, pooled WAL readers.

Under gevent the writer is an operating-system thread and readers' statements run in gevent's
thread pool: SQLite waiting on a lock held by another process (a purge) or a long query must
never stop the event loop, which serves every socket.
"""

from __future__ import annotations

import _queue
import _thread
import errno
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

from dispatch.errors import DispatchError, StorageUnavailableError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Milliseconds a connection waits on a lock before SQLite gives up (never reached in practice:
#: only the writer thread writes, readers never block in WAL mode).
BUSY_TIMEOUT_MS = 30_000
#: Milliseconds between two tries of the writer to take the write lock from another process.
BEGIN_POLL_MS = 1
#: Most jobs committed together in one transaction by the writer thread.
GROUP_COMMIT_MAX = 256
#: Idle reader connections kept open for reuse.
READER_POOL_SIZE = 8
#: Seconds between two checkpoints of the write-ahead log (copying it back into the database).
CHECKPOINT_INTERVAL_S = 1.0
#: While writes fail for lack of space, the writer tries a probe write this often (it logs
#: the recovery once space is freed, without waiting for a client).
STORAGE_PROBE_INTERVAL_S = 1.0
#: The write probe fails with less room than this (a report of many fixes needs that much).
PROBE_HEADROOM_BYTES = 1 << 20
#: SQLite primary result codes of a storage that refuses writes: SQLITE_IOERR, SQLITE_FULL.
_STORAGE_CODES = (10, 13)
_STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO}

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

    def wait(self, timeout_s: float | None = None) -> Any:
        if timeout_s is None:
            self._done.acquire()
        elif not self._done.acquire(True, timeout_s):
            raise TimeoutError(f"the write did not run within {timeout_s:g} s")
        if self.error is not None:
            raise self.error
        return self.result


class _GreenletJob(_Job):
    """A job whose caller is a greenlet: the writer (an OS thread) wakes it through the hub's
    async watcher, which is thread-safe; the event loop serves the others meanwhile."""

    __slots__ = ("_wake",)

    def __init__(self, fn: Any, batch: Any, arg: Any) -> None:
        self.fn, self.batch, self.arg = fn, batch, arg
        self.result: Any = None
        self.error: BaseException | None = None
        self.finished = False
        self._wake: Callable[[], None] | None = None

    def finish(self, *, result: Any = None, error: BaseException | None = None) -> None:
        if self.finished:
            return
        self.result, self.error = result, error
        self.finished = True  # before reading _wake: wait() sets _wake, then reads finished
        wake = self._wake
        if wake is not None:
            wake()

    def wait(self, timeout_s: float | None = None) -> Any:
        if not self.finished:
            import gevent

            hub = gevent.get_hub()
            watcher = hub.loop.async_()
            watcher.start(gevent.getcurrent().switch)
            try:
                self._wake = watcher.send
                if not self.finished:
                    with gevent.Timeout(
                        timeout_s, TimeoutError(f"the write did not run within {timeout_s} s")
                    ):
                        while not self.finished:
                            hub.switch()
            finally:
                watcher.stop()
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


def is_storage_failure(exc: BaseException) -> bool:
    """True for an error of a storage that refuses writes (disk full, quota, write error)."""
    for err in (exc, exc.__cause__):
        if isinstance(err, sqlite3.Error):
            code = getattr(err, "sqlite_errorcode", None)
            if code is not None:
                return code & 0xFF in _STORAGE_CODES
            text = str(err)
            return "disk is full" in text or "disk I/O error" in text
        if isinstance(err, OSError) and err.errno in _STORAGE_ERRNOS:
            return True
    return False


class _StorageFailed(Exception):
    """Raised inside a group of writes: the storage refused one, the whole group is undone."""


def _probe(conn: sqlite3.Connection) -> None:
    """A write that allocates pages and reaches the disk at commit, leaving nothing behind.

    It fails where reports would: no free page left (SQLITE_FULL, also under
    ``PRAGMA max_page_count``), or the log cannot grow on the disk (full, quota, I/O error);
    and when less than :data:`PROBE_HEADROOM_BYTES` are left in the database's page limit or
    on its disk (a small probe would still fit where a phone's report no longer does).
    """
    pages = [
        conn.execute(f"PRAGMA {name}").fetchone()[0]
        for name in ("max_page_count", "page_count", "freelist_count", "page_size")
    ]
    room_bytes = (pages[0] - pages[1] + pages[2]) * pages[3]
    if room_bytes < PROBE_HEADROOM_BYTES:
        raise sqlite3.OperationalError(
            f"database or disk is full ({room_bytes} bytes left under its page limit)"
        )
    file = next((r[2] for r in conn.execute("PRAGMA database_list") if r[1] == "main"), "")
    if file:
        disk = os.statvfs(os.path.dirname(file))
        if disk.f_bavail * disk.f_frsize < PROBE_HEADROOM_BYTES:
            raise OSError(errno.ENOSPC, f"{disk.f_bavail * disk.f_frsize} bytes left on the disk")
    conn.execute("CREATE TABLE dispatch_write_probe (filler BLOB)")
    conn.execute("INSERT INTO dispatch_write_probe VALUES (zeroblob(8192))")
    conn.execute("DROP TABLE dispatch_write_probe")


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
        os_threads = _os_threads()
        self._get_ident = os_threads.get_ident
        self._sleep = os_threads.sleep
        # The C queue, not gevent's: the writer (an OS thread) blocks on it, callers only put.
        self._queue: _queue.SimpleQueue[Any] = _queue.SimpleQueue()
        self._readers: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        # Under gevent, readers' statements run in the hub's thread pool (None: in the caller).
        self._offload = _gevent_offload() if os_threads.patched else None
        # Callers wait on a lock, or (greenlets) on the hub, woken by the writer thread.
        self._new_job: type[_Job] = _GreenletJob if os_threads.patched else _Job
        self._all_readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        #: What made the last writes fail (disk full...), None while writes succeed.
        self.storage_problem: str | None = None
        self._next_probe_s = 0.0
        self._probe_lock = threading.Lock()
        self._probe_result: tuple[float, bool] = (-1e18, True)
        self._writer_conn = _connect(self.path)
        self._writer_conn.execute("PRAGMA journal_mode = WAL")
        self._writer_conn.execute("PRAGMA synchronous = NORMAL")
        # Checkpoints run beside the writer, not inside one of its commits: copying the log
        # back and syncing the file took 20-30 ms every few seconds at 2,000 positions/s, a
        # stall of the whole event loop under gevent (p99 of the live map).
        self._writer_conn.execute("PRAGMA wal_autocheckpoint = 0")
        self._writer_ident: int | None = None
        self._writer_started = os_threads.allocate_lock()
        self._writer_started.acquire()
        self._writer_done = os_threads.allocate_lock()
        self._writer_done.acquire()
        os_threads.start(self._run, "dispatch-store-writer")
        self._writer_started.acquire()  # its identity is known before any write
        self._stop_checkpointer = _start_os_thread(self._checkpoint_loop)

    def _in_writer(self) -> bool:
        return self._get_ident() == self._writer_ident

    # -- writing -------------------------------------------------------------------------------
    def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` in the writer thread and return its result once committed."""
        if self._in_writer():
            return fn(self._writer_conn)  # nested call from inside a write job
        return self._submit(self._new_job(fn, None, None))

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
        if self._in_writer():
            return _unwrap(batch(self._writer_conn, [arg])[0])
        return self._submit(self._new_job(None, batch, arg))

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
        if self._in_writer():
            return list(batch(self._writer_conn, args))  # nested: the enclosing job's savepoint
        if self._closed:
            raise StoreClosedError("the database is closed (the server is stopping): retry later")
        jobs = [self._new_job(None, batch, arg) for arg in args]
        for job in jobs:
            self._queue.put(job)
        results: list[Any] = []
        for job in jobs:
            try:
                results.append(job.wait())
            except Exception as exc:
                results.append(exc)
        return results

    def _submit(self, job: _Job, timeout_s: float | None = None) -> Any:
        if self._closed:
            raise StoreClosedError("the database is closed (the server is stopping): retry later")
        self._queue.put(job)
        return job.wait(timeout_s)

    def writable(self, *, max_age_s: float = 1.0, timeout_s: float = 5.0) -> bool:
        """Can the database store a write now? A probe write through the writer (about a
        millisecond), at most one per ``max_age_s``: concurrent callers share its answer.

        False when the probe fails (disk full, write error) or waits more than ``timeout_s``.
        """
        with self._probe_lock:
            at_s, ok = self._probe_result
            if time.monotonic() - at_s < max_age_s:
                return ok
            try:
                self._submit(self._new_job(_probe, None, None), timeout_s=timeout_s)
                ok = True
            except StoreClosedError:
                raise
            except Exception:  # logged once by the writer when it is the storage
                ok = False
            self._probe_result = (time.monotonic(), ok)
            return ok

    def _run(self) -> None:
        self._writer_ident = self._get_ident()
        self._writer_started.release()
        try:
            self._serve()
        finally:
            self._writer_conn.close()
            self._writer_done.release()

    def _serve(self) -> None:
        conn = self._writer_conn
        while True:
            job = self._queue.get()
            if job is _STOP:
                break
            jobs = [job]
            if self.storage_problem is not None and time.monotonic() >= self._next_probe_s:
                # Writes failed for lack of space: this group tells whether they work again.
                self._next_probe_s = time.monotonic() + STORAGE_PROBE_INTERVAL_S
                jobs.insert(0, _GreenletJob(_probe, None, None))  # nobody waits on it
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

    def _run_group(self, conn: sqlite3.Connection, jobs: list[_Job]) -> None:
        done: list[tuple[_Job, Any]] = []
        try:
            self._begin(conn)
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
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            error: BaseException = exc
            if isinstance(exc, _StorageFailed) or is_storage_failure(exc):
                error = self._storage_failed(exc.__cause__ or exc)
            else:
                log.exception("write transaction failed")
            for job in jobs:
                job.finish(error=error)
            return
        if any(job.fn is _probe for job in jobs):
            self._storage_recovered()
        for job, result in done:
            if isinstance(result, Exception):
                job.finish(error=result)
            else:
                job.finish(result=result)

    def _begin(self, conn: sqlite3.Connection) -> None:
        """BEGIN IMMEDIATE, polling every millisecond while another process holds the lock.

        SQLite's own wait sleeps longer and longer (up to 100 ms between tries): beside a purge
        that frees the lock for 20 ms after each chunk, it kept missing the gaps (acks p95
        300 ms). Only this statement waits for the write lock in WAL mode.
        """
        conn.execute(f"PRAGMA busy_timeout = {BEGIN_POLL_MS}")
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        try:
            while True:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as exc:
                    busy = (getattr(exc, "sqlite_errorcode", 5) or 5) & 0xFF == 5
                    if not busy or time.monotonic() > deadline:
                        raise
                    self._sleep(BEGIN_POLL_MS / 1000)
        finally:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

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
            if is_storage_failure(exc):  # the others would fail too: undo the whole group
                raise _StorageFailed(str(exc)) from exc
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

    def _storage_failed(self, exc: BaseException) -> StorageUnavailableError:
        """The error of every job of a group the storage refused; one log line per outage."""
        if self.storage_problem is None:
            log.error(
                "database writes fail (%s): requests are answered 503 storage_unavailable until"
                " writes work again; free space on the disk of %s",
                exc,
                self.path,
            )
            self._next_probe_s = time.monotonic() + STORAGE_PROBE_INTERVAL_S
        self.storage_problem = str(exc)
        return StorageUnavailableError(
            f"the database cannot store anything now ({exc}): nothing was stored; send it"
            " again in a moment. Administrators: free space on the server's disk (or"
            " `dispatch db purge` old positions)"
        )

    def _storage_recovered(self) -> None:
        if self.storage_problem is not None:
            log.warning("database writes work again (recovered from: %s)", self.storage_problem)
            self.storage_problem = None

    # -- reading -------------------------------------------------------------------------------
    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A reader connection (autocommit: each statement sees the latest commit).

        Under gevent it is a stand-in whose statements run in gevent's thread pool, their rows
        fetched there (the event loop serves the other sockets meanwhile).
        """
        if self._in_writer():
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
        offloaded = None if self._offload is None else _Offloaded(conn, self._offload)
        try:
            yield conn if offloaded is None else offloaded  # type: ignore[misc]
        finally:
            self._release_reader(conn, abandoned=offloaded is not None and offloaded.abandoned)

    def _release_reader(self, conn: sqlite3.Connection, *, abandoned: bool) -> None:
        """Back to the pool, or closed; an abandoned one is only dropped (a thread of gevent's
        pool may still be running its statement: it must not serve another reader)."""
        if not abandoned and conn.in_transaction:
            conn.execute("ROLLBACK")
        if not abandoned and self._readers.qsize() < READER_POOL_SIZE and not self._closed:
            self._readers.put(conn)
            return
        with self._readers_lock:
            if conn in self._all_readers:
                self._all_readers.remove(conn)
        if not abandoned:
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
        failing: str | None = None
        try:
            while not stopped(CHECKPOINT_INTERVAL_S):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:  # busy or I/O: the next round tries again
                    if failing is None:  # one line per outage, not one a second
                        log.warning("checkpoints of %s fail: %s", self.path, exc)
                    failing = str(exc)
                else:
                    if failing is not None:
                        log.info("checkpoints of %s work again", self.path)
                    failing = None
        finally:
            conn.close()

    def close(self) -> None:
        """Finish queued writes, then close every connection."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        if not self._in_writer() and self._writer_done.acquire(True, 30):
            self._writer_done.release()
        self._stop_checkpointer(5.0)
        with self._readers_lock:
            for conn in self._all_readers:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all_readers.clear()


class _OsThreads:
    """The operating system's threads and locks, even once gevent patched ``threading``."""

    def __init__(self) -> None:
        self.patched = False
        self._start_new = _thread.start_new_thread
        self.allocate_lock = _thread.allocate_lock
        self.get_ident = _thread.get_ident
        self.sleep = time.sleep
        if "gevent.monkey" in sys.modules:
            from gevent import monkey

            if monkey.is_module_patched("threading"):
                self.patched = True
                self._start_new = monkey.get_original("_thread", "start_new_thread")
                self.allocate_lock = monkey.get_original("_thread", "allocate_lock")
                self.get_ident = monkey.get_original("_thread", "get_ident")
                self.sleep = monkey.get_original("time", "sleep")

    def start(self, fn: Callable[[], None], name: str) -> None:
        """Run ``fn()`` in a new OS thread (a named ``threading.Thread`` when not patched)."""
        if self.patched:
            self._start_new(fn, ())
        else:
            threading.Thread(target=fn, name=name, daemon=True).start()


def _os_threads() -> _OsThreads:
    return _OsThreads()


def _gevent_offload() -> Callable[..., Any]:
    """``run(fn, *args)`` in the calling hub's thread pool, the greenlet waiting cooperatively."""
    import gevent

    def run(fn: Callable[..., Any], *args: Any) -> Any:
        return gevent.get_hub().threadpool.apply(fn, args)

    return run


def _execute_all(conn: sqlite3.Connection, sql: str, params: Any) -> tuple:
    cur = conn.execute(sql, params)
    return cur.fetchall(), cur.description, cur.rowcount, cur.lastrowid


class _Rows:
    """The fetched result of one statement, read like a cursor."""

    def __init__(self, rows: list[Any], description: Any, rowcount: int, lastrowid: Any) -> None:
        self._rows, self._next = rows, 0
        self.description, self.rowcount, self.lastrowid = description, rowcount, lastrowid

    def fetchone(self) -> Any:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchmany(self, size: int = 1) -> list[Any]:
        out = self._rows[self._next : self._next + size]
        self._next += len(out)
        return out

    def fetchall(self) -> list[Any]:
        out = self._rows[self._next :]
        self._next = len(self._rows)
        return out

    def __iter__(self) -> Iterator[Any]:
        while (row := self.fetchone()) is not None:
            yield row


class _Offloaded:
    """A reader connection whose statements (and other calls) run through ``run``."""

    def __init__(self, conn: sqlite3.Connection, run: Callable[..., Any]) -> None:
        self._conn, self._run = conn, run
        #: A call was abandoned (its greenlet killed) while its thread may still run it.
        self.abandoned = False

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return self._run(fn, *args)
        except BaseException as exc:
            if not isinstance(exc, Exception):  # GreenletExit, Timeout...: not SQLite's error
                self.abandoned = True
            raise

    def execute(self, sql: str, params: Any = ()) -> _Rows:
        return _Rows(*self._call(_execute_all, self._conn, sql, params))

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._conn, name)
        if not callable(attr):
            return attr
        return lambda *args: self._call(attr, *args)


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
