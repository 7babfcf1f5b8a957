"""In-process publish/subscribe bus: domain services publish what changed, edges relay it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Listener = Callable[[Any], None]


class Bus:
    """Topics to listeners, called in order in the publisher's thread.

    Topics in use: ``positions`` ({team_id, positions}), ``visit_event`` ({event, visit}),
    ``visit`` (visit row), ``team`` (team row), ``plan_change`` (an applied change of a day's
    plan, see :mod:`dispatch.rounds`), and the credential topics ``user_changed``,
    ``session_ended``, ``token_revoked``, ``device_revoked``. The web edge relays them to
    Socket.IO rooms; with several server processes Flask-SocketIO's Redis queue carries the
    pushes, each process publishing what it changed.

    A failing listener is logged and never fails the publisher: the change is committed by then.
    """

    def __init__(self) -> None:
        self._listeners: dict[str, list[Listener]] = {}
        self._lock = threading.Lock()

    def subscribe(self, topic: str, fn: Listener) -> None:
        """Call ``fn(payload)`` after each publish of ``topic``."""
        with self._lock:
            self._listeners.setdefault(topic, []).append(fn)

    def publish(self, topic: str, payload: Any) -> int:
        """Tell the listeners of ``topic``; returns how many were called."""
        with self._lock:
            listeners = list(self._listeners.get(topic, ()))
        for fn in listeners:
            try:
                fn(payload)
            except Exception:
                log.exception("listener of %s failed", topic)
        return len(listeners)

    def topics(self) -> list[str]:
        """Topics with at least one listener."""
        with self._lock:
            return sorted(t for t, fns in self._listeners.items() if fns)
