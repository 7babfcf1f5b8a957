"""Background retention: purges old positions (RGPD) at a fixed interval while the server runs."""

from __future__ import annotations

import logging
import threading

from dispatch.settings import Settings
from dispatch.store.store import Store

log = logging.getLogger(__name__)


class RetentionWorker:
    """A daemon thread calling :meth:`Store.purge` every ``interval_s`` (first run at start)."""

    def __init__(self, store: Store, settings: Settings, *, interval_s: float = 3600.0) -> None:
        self.store = store
        self.retention_days = settings.position_retention_days
        self.interval_s = interval_s
        self.runs = 0
        self.last_result: dict[str, int] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dispatch-retention", daemon=True)

    def start(self) -> RetentionWorker:
        """Start the thread; returns self."""
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.last_result = self.store.purge(position_retention_days=self.retention_days)
                self.runs += 1
                log.info("retention purge: %s", self.last_result)
            except Exception:  # keep purging later: a failed run must not stop the server
                log.exception("retention purge failed")
            self._stop.wait(self.interval_s)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread (waits for a purge in progress)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)


def start_retention(
    store: Store, settings: Settings, *, interval_s: float = 3600.0
) -> RetentionWorker:
    """Start purging positions older than ``settings.position_retention_days``, every hour."""
    return RetentionWorker(store, settings, interval_s=interval_s).start()
