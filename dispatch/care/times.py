"""Wall-clock times of a local day, dates, and their instants in a time zone (DST rules)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dispatch.errors import ValidationError

DAY_S = 86_400
#: What to do with a local time that the clocks skip (02:30 on the spring-forward day).
Nonexistent = Literal["shift_forward", "error"]
#: What to do with a local time that the clocks show twice (02:30 on the fall-back day).
Ambiguous = Literal["earlier", "later", "error"]

_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")
_RANGE = re.compile(r"^\s*(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*$")


def format_hhmm(seconds: int) -> str:
    """``30600`` -> ``"08:30"`` (seconds since local midnight)."""
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def parse_hhmm(text: str, *, what: str) -> int:
    """Seconds since local midnight from ``"HH:MM"`` (``"24:00"`` is the end of the day).

    Examples
    --------
    >>> parse_hhmm("08:30", what="window start")
    30600
    """
    m = _HHMM.match(text.strip())
    if not m or int(m[2]) > 59:
        raise ValidationError(f'{what}: "{text}" is not a time: write "HH:MM", e.g. "08:30"')
    seconds = int(m[1]) * 3600 + int(m[2]) * 60
    if seconds > DAY_S:
        raise ValidationError(f'{what}: "{text}" is outside the day (00:00 to 24:00)')
    return seconds


def parse_day(value: Any, *, what: str) -> dt.date:
    """A date from a ``datetime.date`` or ``"YYYY-MM-DD"``.

    Examples
    --------
    >>> parse_day("2026-03-29", what="from")
    datetime.date(2026, 3, 29)
    """
    if isinstance(value, dt.datetime):
        raise ValidationError(f"{what}: give a date without a time, e.g. 2026-03-29")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValidationError(f"{what}: {value!r} is not a date: write YYYY-MM-DD, e.g. 2026-03-29")


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``, or a ValidationError naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"time zone {name!r} is unknown: give an IANA name, e.g. 'Europe/Paris'"
        ) from None


@dataclass(frozen=True, order=True)
class TimeRange:
    """A stretch of a local day in wall-clock seconds since midnight, ``start_s < end_s``.

    Used for visit windows, shifts, breaks and part-day absences. ``end_s`` may be 86 400
    (24:00); ranges never cross midnight.

    Examples
    --------
    >>> TimeRange.parse("08:00-10:00")
    TimeRange(start_s=28800, end_s=36000)
    >>> str(TimeRange(28800, 36000))
    '08:00-10:00'
    """

    start_s: int
    end_s: int

    def __post_init__(self) -> None:
        for name in ("start_s", "end_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= DAY_S:
                raise ValidationError(
                    f"{name} {value!r} is outside the day: give whole seconds from 0 to 86400"
                )
        if self.end_s <= self.start_s:
            raise ValidationError(
                f"{self} ends before it starts: give the start first, e.g. 08:00-10:00"
            )

    def __str__(self) -> str:
        return f"{format_hhmm(self.start_s)}-{format_hhmm(self.end_s)}"

    @property
    def length_s(self) -> int:
        """Wall-clock length (s); the real length differs on a DST change day."""
        return self.end_s - self.start_s

    @classmethod
    def parse(cls, text: str) -> TimeRange:
        """A range from ``"HH:MM-HH:MM"``."""
        m = _RANGE.match(text) if isinstance(text, str) else None
        if not m:
            raise ValidationError(
                f'"{text}" is not a window: write "HH:MM-HH:MM", e.g. "08:00-10:00"'
            )
        return cls(parse_hhmm(m[1], what=text), parse_hhmm(m[2], what=text))

    def overlaps(self, other: TimeRange) -> bool:
        """Whether the two ranges share more than an end point."""
        return self.start_s < other.end_s and other.start_s < self.end_s


def check_disjoint(ranges: tuple[TimeRange, ...], *, what: str) -> tuple[TimeRange, ...]:
    """``ranges`` sorted, or a ValidationError when two overlap."""
    ordered = tuple(sorted(ranges))
    for a, b in zip(ordered, ordered[1:], strict=False):
        if a.overlaps(b):
            raise ValidationError(f"{what} overlap ({a} and {b}): merge them or move one")
    return ordered


def local_instant(
    day: dt.date,
    seconds: int,
    tz: ZoneInfo,
    *,
    nonexistent: Nonexistent = "shift_forward",
    ambiguous: Ambiguous = "earlier",
) -> tuple[dt.datetime, bool]:
    """The aware instant of wall-clock ``seconds`` on ``day`` in ``tz``, and whether it moved.

    A time the clocks skip (02:30 in Paris on the last Sunday of March) is read, as RFC 5545
    (3.3.5) says, with the UTC offset before the gap: it shifts forward by the gap (03:30
    summer time) and the flag is True. A time shown twice (02:30 on the last Sunday of
    October) is by default the earlier instant (summer time), as RFC 5545 says too.
    ``"error"`` refuses either with a ValidationError that names the day and time.

    Examples
    --------
    >>> at, moved = local_instant(dt.date(2026, 3, 29), 9000, ZoneInfo("Europe/Paris"))
    >>> at.isoformat(), moved
    ('2026-03-29T03:30:00+02:00', True)
    """
    naive = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=seconds)
    first = naive.replace(tzinfo=tz, fold=0)
    second = naive.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first, False
    # The fold=0 instant round-trips to the same wall clock only when the time is shown twice.
    shown = first.astimezone(dt.UTC).astimezone(tz).replace(tzinfo=None)
    if shown == naive:
        if ambiguous == "error":
            raise ValidationError(
                f"{format_hhmm(seconds)} happens twice on {day.isoformat()} in {tz.key} (clocks go "
                "back): move the window out of the hour shown twice, or choose the earlier or later one"
            )
        chosen = first if ambiguous == "earlier" else second
        return dt.datetime.fromtimestamp(chosen.timestamp(), tz), False
    if nonexistent == "error":
        raise ValidationError(
            f"{format_hhmm(seconds)} does not exist on {day.isoformat()} in {tz.key} (clocks go "
            f"forward): move the window out of the hour the clocks skip, or let it shift forward"
        )
    # fold=0 of a skipped time carries the offset before the gap: its instant is the shifted one.
    return dt.datetime.fromtimestamp(first.timestamp(), tz), True
