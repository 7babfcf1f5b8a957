"""Phones' ``position`` events, stored and acknowledged in groups by one worker.

Every socket's reader hands its ``position`` events to one queue and goes back to reading;
one worker takes whatever is queued, stores it in one transaction (one wait on the store's
writer for the whole group), pushes the positions to the maps and sends each phone its
acknowledgement. Per report this saves a thread (or greenlet) waiting on the writer and
waking up again: at 2,000 reports a second those wake-ups were a quarter of the server's
time, and reports arriving while a big group was being acknowledged formed a convoy behind
it (acknowledgements tens of milliseconds late). A phone's events are served in the order
they arrived; an acknowledgement is sent only once its fixes are committed.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from dispatch.errors import DispatchError, InternalError

log = logging.getLogger(__name__)

#: Most events stored in one transaction (the rest wait for the next group).
MAX_GROUP = 500
#: Events queued at most; beyond that a socket's reader waits (back-pressure on the phone).
MAX_PENDING = 20_000

#: ``(app, sid) -> (team_id, fixes, device_id, source)``, or raises a DispatchError.
Checker = Callable[[Any, str, Any], tuple]
#: ``(app, reports) -> [reply dict or exception per report]``.
Ingester = Callable[[Any, list[tuple]], list[Any]]
#: ``(eio_sid, ack_id, reply)``: sends one acknowledgement.
Acker = Callable[[str, int, dict[str, Any]], None]


class PositionPump:
    """One worker storing and acknowledging the ``position`` events of every socket.

    Parameters
    ----------
    check
        Turns an event into a report (who sends, which team, which fixes) or raises the
        DispatchError its acknowledgement carries.
    ingest
        Stores a group of reports of one app and pushes them; one result per report.
    ack
        Sends an acknowledgement to a socket.
    """

    def __init__(
        self,
        check: Checker,
        ingest: Ingester,
        ack: Acker,
        *,
        max_group: int = MAX_GROUP,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self._check, self._ingest, self._ack = check, ingest, ack
        self.max_group = max_group
        self._queue: queue.Queue[tuple] = queue.Queue(maxsize=max_pending)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.groups = 0
        self.events = 0

    def submit(self, app: Any, sid: str, eio_sid: str, ack_id: int | None, payload: Any) -> None:
        """Queue one event (waits while ``max_pending`` events are queued)."""
        if self._thread is None:
            self._start()
        self._queue.put((app, sid, eio_sid, ack_id, payload))

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                # A thread in threading mode, a greenlet once gevent patched the process.
                thread = threading.Thread(target=self._run, name="dispatch-positions", daemon=True)
                thread.start()
                self._thread = thread

    def _run(self) -> None:
        while True:
            items = [self._queue.get()]
            while len(items) < self.max_group:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self.serve(items)
            except Exception:  # never lose the worker: the next group is served
                log.exception("serving %d position events failed", len(items))

    def serve(self, items: list[tuple]) -> None:
        """Store, push and acknowledge a group of queued events ``(app, sid, eio_sid, ack_id,
        payload)``; events of different apps (tests) are stored app by app."""
        self.groups += 1
        self.events += len(items)
        by_app: dict[int, list[tuple]] = {}
        for item in items:
            by_app.setdefault(id(item[0]), []).append(item)
        for group in by_app.values():
            self._serve_app(group[0][0], group)

    def _serve_app(self, app: Any, items: list[tuple]) -> None:
        replies: list[Any] = [None] * len(items)
        reports: list[tuple] = []
        where: list[int] = []
        for i, (_, sid, _, _, payload) in enumerate(items):
            try:
                reports.append(self._check(app, sid, payload))
                where.append(i)
            except DispatchError as exc:
                replies[i] = exc
        if reports:
            try:
                results = self._ingest(app, reports)
            except Exception as exc:  # the whole group failed (store closed, disk full...)
                results = [exc] * len(reports)
            for i, result in zip(where, results, strict=True):
                replies[i] = result
        for (_, _, eio_sid, ack_id, _), reply in zip(items, replies, strict=True):
            if ack_id is None:
                continue
            try:
                self._ack(eio_sid, ack_id, _reply_body(reply))
            except Exception:  # a socket gone meanwhile must not cost the others their ack
                log.debug("acknowledgement to %s lost", eio_sid, exc_info=True)


def _reply_body(reply: Any) -> dict[str, Any]:
    if isinstance(reply, DispatchError):
        return reply.to_dict()
    if isinstance(reply, Exception):
        log.error("a position report could not be stored", exc_info=reply)
        return InternalError("internal error: the report was not stored, send it again").to_dict()
    return reply
