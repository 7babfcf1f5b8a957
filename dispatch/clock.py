"""The service's clock: Unix time for positions and ages, local day and time for rounds."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

from dispatch.errors import ValidationError


class ServiceClock:
    """Real Unix time, and the local day and time of day the rounds are planned in.

    ``start`` (ISO 8601, for example ``2026-12-06T17:05:00+01:00``) starts the local clock at
    that instant when the clock is made and lets it run at real speed from there: a
    demonstration or a training session can replay a day at a chosen hour, and browser tests
    can stand at 17:05. Positions keep real time (phones stamp their fixes), so only the
    planning notions (today, the time of day, what is already over) follow ``start``.
    """

    def __init__(
        self,
        *,
        timezone: str = "Europe/Paris",
        start: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tz = ZoneInfo(timezone)
        self.clock = clock
        self.offset_s = 0.0
        if start:
            try:
                at = dt.datetime.fromisoformat(start)
            except ValueError:
                raise ValidationError(
                    f"clock_start {start!r} is not an ISO 8601 date and time: write it as "
                    "2026-12-06T17:05:00+01:00"
                ) from None
            if at.tzinfo is None:
                at = at.replace(tzinfo=self.tz)
            self.offset_s = at.timestamp() - clock()

    def now(self) -> float:
        """Real Unix time (seconds)."""
        return self.clock()

    def local(self, now: float | None = None) -> dt.datetime:
        """The local date and time of the rounds for Unix time ``now`` (default: now)."""
        t = self.clock() if now is None else now
        return dt.datetime.fromtimestamp(t + self.offset_s, self.tz)

    def today(self, now: float | None = None) -> str:
        """The current day of the rounds (YYYY-MM-DD)."""
        return self.local(now).date().isoformat()

    def seconds_of_day(self, now: float | None = None) -> int:
        """Seconds since local midnight of :meth:`today`."""
        local = self.local(now)
        return local.hour * 3600 + local.minute * 60 + local.second
