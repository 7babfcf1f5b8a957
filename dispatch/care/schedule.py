"""The server's generation of visits: once at start, then every day at ``generation_hour``
local time, over ``generation_horizon_days`` days from today (see :mod:`dispatch.care.service`).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from dispatch.care.service import GenerationResult, Publisher, generate_visits
from dispatch.care.times import local_instant, zone

log = logging.getLogger(__name__)

#: Longest sleep between two looks at the clock (s): a clock set forward (a laptop waking up,
#: the rounds' clock of a demonstration) is noticed within this long.
POLL_S = 60.0


def next_run_s(now_s: float, hour: int, tz: str = "Europe/Paris") -> float:
    """Unix time of the next ``hour``:00 local time strictly after ``now_s``.

    On the day the clocks skip that hour (02:00 on the last Sunday of March in Paris), the
    run is at the first instant after the gap (03:00); on the day they show it twice, at
    the first time.

    Examples
    --------
    >>> at = next_run_s(1774742400.0, 2)  # 2026-03-29 01:00 in Paris: 02:00 is skipped
    >>> dt.datetime.fromtimestamp(at, zone("Europe/Paris")).isoformat()
    '2026-03-29T03:00:00+02:00'
    """
    if not 0 <= hour <= 23:
        raise ValueError(f"hour {hour}: give 0 to 23")
    zone_info = zone(tz)
    today = dt.datetime.fromtimestamp(now_s, zone_info).date()
    for ahead in range(3):
        at, _ = local_instant(today + dt.timedelta(days=ahead), hour * 3600, zone_info)
        if at.timestamp() > now_s:
            return at.timestamp()
    raise AssertionError("a local hour comes back within two days")


class GenerationSchedule:
    """A daemon thread generating the visits at start, then daily at ``hour`` local time.

    ``now`` gives the present as the service plans it (Unix seconds; the server passes its
    rounds' clock, which a demonstration may start at another time). A failed run is logged
    and the next one happens as planned.
    """

    def __init__(
        self,
        store: Any,
        *,
        bus: Publisher | None = None,
        hour: int = 3,
        horizon_days: int = 14,
        tz: str = "Europe/Paris",
        now: Callable[[], float] = time.time,
        poll_s: float = POLL_S,
    ) -> None:
        self.store, self.bus = store, bus
        self.hour, self.horizon_days, self.tz = hour, horizon_days, tz
        self.now, self.poll_s = now, poll_s
        self.runs = 0
        self.last_result: GenerationResult | None = None
        self.next_at_s: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dispatch-generation", daemon=True)

    def start(self) -> GenerationSchedule:
        """Start the thread (its first run is at once); returns self."""
        self._thread.start()
        return self

    def run_once(self) -> GenerationResult | None:
        """Generate the horizon from today now (None if it failed: logged)."""
        now = self.now()
        today = dt.datetime.fromtimestamp(now, zone(self.tz)).date()
        try:
            result = generate_visits(
                self.store,
                self.bus,
                from_day=today,
                days=self.horizon_days,
                now_s=now,
                tz=self.tz,
                actor="schedule",
            )
        except Exception:  # the server keeps running; the next day's run tries again
            log.exception("generation of visits from %s failed", today)
            return None
        self.runs += 1
        self.last_result = result
        log.info("generation of visits: %s", result.to_dict())
        return result

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self.next_at_s = next_run_s(self.now(), self.hour, self.tz)
            while not self._stop.is_set():
                left = self.next_at_s - self.now()
                if left <= 0:
                    break
                self._stop.wait(min(left, self.poll_s))

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread (waits for a run in progress, at most ``timeout_s``)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)


def start_generation_schedule(
    store: Any,
    settings: Any,
    *,
    bus: Publisher | None = None,
    tz: str = "Europe/Paris",
    now: Callable[[], float] = time.time,
) -> GenerationSchedule:
    """Generate now and every day at ``settings.generation_hour`` over
    ``settings.generation_horizon_days`` days; returns the running schedule (``.stop()``)."""
    return GenerationSchedule(
        store,
        bus=bus,
        hour=settings.generation_hour,
        horizon_days=settings.generation_horizon_days,
        tz=tz,
        now=now,
    ).start()
