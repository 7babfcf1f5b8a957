"""Coalescing fan-out: buffer pushes per room and send one batched message per room per tick."""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

#: ``emit(event, payload, room)``: how a batch leaves (Socket.IO ``emit`` in the server).
Emitter = Callable[[str, dict[str, Any], str], None]

#: The one event a client listens to for live deltas.
LIVE_EVENT = "live"

#: Kinds of items a batch can hold (each becomes a list in the payload).
KINDS = ("positions", "statuses", "visits", "plans", "alerts", "events", "changes", "etas")


class Fanout:
    """Collect items per room and emit them together, at most once per ``interval_s``.

    One emit per message saturates near a thousand messages per second in one process;
    one emit per room per tick costs the same whatever the number of positions in it.
    The first item after a quiet spell leaves at once (low latency when the load is light);
    under load, items published during the interval wait for the next tick (coalescing).
    Items keyed by ``key`` replace an earlier item of the same key in the same tick (a team
    status changing twice in 150 ms is sent once); positions are never merged (trails need
    every point).
    """

    def __init__(self, emit: Emitter, *, interval_s: float = 0.03) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.emit = emit
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._rooms: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
        self._keyed: dict[str, dict[tuple[str, Any], int]] = defaultdict(dict)
        self._stop = threading.Event()
        self._pending = threading.Event()
        self._thread: threading.Thread | None = None
        self.batches_sent = 0
        self.items_sent = 0

    def publish(
        self, rooms: str | list[str] | tuple[str, ...], kind: str, item: Any, *, key: Any = None
    ) -> None:
        """Queue ``item`` of ``kind`` for every room in ``rooms``."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}: use one of {', '.join(KINDS)}")
        with self._lock:
            self._queue(rooms, kind, item, key)
        if not self._pending.is_set():  # setting an Event costs a lock even when already set
            self._pending.set()

    def _queue(self, rooms: Any, kind: str, item: Any, key: Any) -> None:
        """Add one item (the lock held)."""
        names = (rooms,) if isinstance(rooms, str) else rooms
        for room in names:
            items = self._rooms[room][kind]
            if key is not None:
                seen = self._keyed[room]
                index = seen.get((kind, key))
                if index is not None:
                    items[index] = item
                    continue
                seen[(kind, key)] = len(items)
            items.append(item)

    def publish_many(self, items: list[tuple[Any, str, Any, Any]]) -> None:
        """Queue ``(rooms, kind, item, key)`` items together: they leave in the same batch of
        each room (a change's summary never arrives before the rounds it announces)."""
        for _, kind, _, _ in items:
            if kind not in KINDS:
                raise ValueError(f"unknown kind {kind!r}: use one of {', '.join(KINDS)}")
        with self._lock:
            for rooms, kind, item, key in items:
                self._queue(rooms, kind, item, key)
        if items and not self._pending.is_set():
            self._pending.set()

    def flush(self) -> int:
        """Emit every pending batch now; return the number of rooms emitted to."""
        with self._lock:
            rooms, self._rooms = self._rooms, defaultdict(lambda: defaultdict(list))
            self._keyed = defaultdict(dict)
        now = time.time()
        for room, kinds in rooms.items():
            payload: dict[str, Any] = {"server_time": now}
            payload.update(kinds)
            try:
                self.emit(LIVE_EVENT, payload, room)
            except Exception:  # one broken room must not stop the others
                log.exception("live fan-out to room %s failed", room)
                continue
            self.batches_sent += 1
            self.items_sent += sum(len(v) for v in kinds.values())
        return len(rooms)

    def start(self) -> None:
        """Start the background thread that flushes every ``interval_s``."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="dispatch-fanout", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Flush what is pending and stop the thread."""
        self._stop.set()
        self._pending.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.flush()

    def _run(self) -> None:
        last = 0.0
        while not self._stop.is_set():
            self._pending.wait(1.0)
            if self._stop.is_set():
                break
            wait_s = last + self.interval_s - time.monotonic()
            if wait_s > 0:
                self._stop.wait(wait_s)
            self._pending.clear()
            last = time.monotonic()
            self.flush()
