"""Background retention (RGPD storage limitation) while the server runs: old positions, and the
identity of patients archived longer than ``patient_retention_days`` ago (pseudonym and dates
kept, one audit line each), at a fixed interval."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

from dispatch.settings import Settings
from dispatch.store.store import Store

log = logging.getLogger(__name__)


class RetentionWorker:
    """A daemon thread calling :meth:`Store.purge` every ``interval_s`` (first run at start)."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        interval_s: float = 3600.0,
        others: Mapping[str, Callable[[], Mapping[str, int]]] | None = None,
    ) -> None:
        self.store = store
        #: Purges of the services above the store (a referral's attachments are files), by name:
        #: each returns its counts, logged as ``<name>_<count>``.
        self.others = dict(others or {})
        self.retention_days = settings.position_retention_days
        self.patient_retention_days = settings.patient_retention_days
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
                result = self.store.purge(position_retention_days=self.retention_days)
                patients = self.store.purge_patients(retention_days=self.patient_retention_days)
                result.update({f"patient_{k}": v for k, v in patients.items()})
                for name, purge in self.others.items():
                    result.update({f"{name}_{k}": v for k, v in purge().items()})
                self.last_result = result
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
    store: Store,
    settings: Settings,
    *,
    interval_s: float = 3600.0,
    others: Mapping[str, Callable[[], Mapping[str, int]]] | None = None,
) -> RetentionWorker:
    """Start purging, every hour, positions older than ``settings.position_retention_days`` and
    the identity of patients archived more than ``settings.patient_retention_days`` ago, then
    running ``others`` (the referrals' purge)."""
    return RetentionWorker(store, settings, interval_s=interval_s, others=others).start()
