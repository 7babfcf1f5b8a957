"""Care-plan templates with RFC 5545 recurrence, and their visits over a span of local days."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from dateutil.rrule import rrule as Rule
from dateutil.rrule import rrulestr

from dispatch.care.times import (
    DAY_S,
    Ambiguous,
    Nonexistent,
    TimeRange,
    check_disjoint,
    local_instant,
    parse_day,
    parse_hhmm,
    zone,
)
from dispatch.errors import ValidationError

#: A visit window: wall-clock times of the local day (the same type as shifts and breaks).
LocalWindow = TimeRange
Gender = Literal["female", "male"]
GENDERS: tuple[Gender, ...] = ("female", "male")
MAX_WINDOWS = 8
MAX_DAYS = 366

_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,39}$")
_FREQS = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
_SUB_DAILY = ("HOURLY", "MINUTELY", "SECONDLY")
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_BYDAY = re.compile(r"^([+-]?\d{1,2})?([A-Z]{2})$")
_PARTS = (
    "FREQ",
    "INTERVAL",
    "COUNT",
    "UNTIL",
    "BYDAY",
    "BYMONTHDAY",
    "BYMONTH",
    "BYYEARDAY",
    "BYWEEKNO",
    "BYSETPOS",
    "WKST",
)
_TIME_PARTS = ("BYHOUR", "BYMINUTE", "BYSECOND")
#: Parts each frequency may use. Filters that can rule out every day of a daily or weekly
#: rule (BYMONTHDAY, BYYEARDAY...) are kept for MONTHLY and YEARLY, whose rules are checked
#: for a first day in a fraction of a second; a daily rule would walk every day to year 9999.
_FREQ_PARTS = {
    "DAILY": ("FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTH", "WKST"),
    "WEEKLY": ("FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTH", "WKST"),
    "MONTHLY": (
        "FREQ",
        "INTERVAL",
        "COUNT",
        "UNTIL",
        "BYDAY",
        "BYMONTHDAY",
        "BYMONTH",
        "BYSETPOS",
        "WKST",
    ),
    "YEARLY": _PARTS,
}
#: Allowed numbers of the numeric parts (lo, hi, whether negatives count from the end).
_NUMBERS = {
    "INTERVAL": (1, 1000, False),
    "COUNT": (1, 10_000, False),
    "BYMONTH": (1, 12, False),
    "BYMONTHDAY": (1, 31, True),
    "BYYEARDAY": (1, 366, True),
    "BYWEEKNO": (1, 53, True),
    "BYSETPOS": (1, 366, True),
}
_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _check_numbers(key: str, value: str) -> None:
    lo, hi, from_end = _NUMBERS[key]
    for token in value.split(","):
        try:
            number = int(token)
        except ValueError:
            number = 0
        if not (lo <= number <= hi or (from_end and -hi <= number <= -lo)):
            tail = f" (or -{hi} to -{lo} from the end)" if from_end else ""
            raise ValidationError(
                f"rrule: {key}={value}: give whole numbers from {lo} to {hi}{tail}"
            )


_EXAMPLE = "e.g. FREQ=DAILY, or FREQ=WEEKLY;BYDAY=MO,WE,FR"


def parse_weekday(token: str, *, what: str) -> str:
    """A two-letter RFC 5545 weekday (``MO`` ... ``SU``), upper-cased, or a ValidationError."""
    upper = token.strip().upper()
    if upper not in _WEEKDAYS:
        raise ValidationError(
            f"{what}: unknown weekday {token.strip()!r}: use {', '.join(_WEEKDAYS)} (e.g. MO,WE,FR)"
        )
    return upper


def normalise_rrule(text: Any) -> str:
    """One RFC 5545 RRULE, checked part by part, as ``FREQ=...;...`` without ``RRULE:``.

    Times of day come from the template's windows, the first day from its ``start_day``, and
    skipped or added days from its exceptions and additions: a rule may not give them.

    Examples
    --------
    >>> normalise_rrule("RRULE:freq=weekly;byday=mo,we,fr")
    'FREQ=WEEKLY;BYDAY=MO,WE,FR'
    """
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(f"rrule is empty: give an RFC 5545 rule, {_EXAMPLE}")
    body = text.strip()
    if "\n" in body or "DTSTART" in body.upper():
        raise ValidationError(
            "rrule: give one RRULE line only: the first day is start_day, skipped days are "
            f"exceptions and added days additions ({_EXAMPLE})"
        )
    if body.upper().startswith("RRULE:"):
        body = body[len("RRULE:") :]
    parts: list[str] = []
    seen: dict[str, str] = {}
    freq = ""
    for part in body.split(";"):
        key, sep, value = part.partition("=")
        key, value = key.strip().upper(), value.strip().upper()
        if not sep or not key or not value:
            raise ValidationError(f"rrule {text!r} is not an RFC 5545 rule: write it as {_EXAMPLE}")
        if key in _TIME_PARTS:
            raise ValidationError(
                f"rrule: {key} is not used: the template's windows give the times of the day"
            )
        if key not in _PARTS:
            raise ValidationError(
                f"rrule: unknown part {key!r}: use {', '.join(_PARTS)} ({_EXAMPLE})"
            )
        if key in seen:
            raise ValidationError(f"rrule: {key} is given twice: give each part once")
        seen[key] = value
        if key in _NUMBERS:
            _check_numbers(key, value)
        if key == "FREQ":
            if value in _SUB_DAILY:
                raise ValidationError(
                    f"rrule: FREQ={value} repeats within a day: use FREQ=DAILY and give one "
                    "window per visit of the day in windows"
                )
            if value not in _FREQS:
                raise ValidationError(
                    f"rrule: FREQ={value} is not a frequency: use DAILY, WEEKLY, MONTHLY or YEARLY"
                )
            freq = value
        elif key == "BYDAY":
            for token in value.split(","):
                m = _BYDAY.match(token.strip())
                parse_weekday(m[2] if m else token, what="rrule BYDAY")
        elif key == "UNTIL" and not re.fullmatch(r"\d{8}", value):
            raise ValidationError(
                f"rrule: UNTIL={value}: write UNTIL as a date, e.g. UNTIL=20270630 (or set end_day)"
            )
        parts.append(f"{key}={value}")
    if not freq:
        raise ValidationError(f"rrule {text!r} has no FREQ: {_EXAMPLE}")
    for key in seen:
        if key not in _FREQ_PARTS[freq]:
            wider = "MONTHLY" if key in _FREQ_PARTS["MONTHLY"] else "YEARLY"
            raise ValidationError(
                f"rrule: {key} is not used with FREQ={freq}: use FREQ={wider};{key}=..."
            )
    for token in seen.get("BYDAY", "").split(","):
        m = _BYDAY.match(token.strip())
        if m and m[1]:
            if freq not in ("MONTHLY", "YEARLY"):
                raise ValidationError(
                    f"rrule: BYDAY={seen['BYDAY']}: a position such as 1MO or -1FR is for "
                    f"FREQ=MONTHLY or YEARLY; with FREQ={freq} write the weekdays only"
                )
            if not 1 <= abs(int(m[1])) <= 53:
                raise ValidationError(
                    f"rrule: BYDAY={seen['BYDAY']}: a position is 1 to 5 (or -1 for the last)"
                )
    normal = ";".join(parts)
    try:
        rrulestr("RRULE:" + normal, dtstart=dt.datetime(2026, 1, 1))
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"rrule {text!r}: {exc}; {_EXAMPLE}") from None
    return normal


def _int(value: Any, *, what: str, lo: int, hi: int, hint: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValidationError(f"{what} {value!r}: give a whole number from {lo} to {hi}{hint}")
    return value


def _ids(values: Iterable[Any], *, what: str) -> tuple[int, ...]:
    return tuple(sorted({_int(v, what=what, lo=1, hi=2**62) for v in values}))


@dataclass(frozen=True)
class StaffWishes:
    """A patient's wishes about who comes: preferred and excluded staff, a gender preference.

    Examples
    --------
    >>> StaffWishes(preferred_staff_ids=(4, 2), gender="female").preferred_staff_ids
    (2, 4)
    """

    preferred_staff_ids: tuple[int, ...] = ()
    excluded_staff_ids: tuple[int, ...] = ()
    gender: Gender | None = None

    def __post_init__(self) -> None:
        preferred = _ids(self.preferred_staff_ids, what="preferred staff id")
        excluded = _ids(self.excluded_staff_ids, what="excluded staff id")
        object.__setattr__(self, "preferred_staff_ids", preferred)
        object.__setattr__(self, "excluded_staff_ids", excluded)
        both = sorted(set(preferred) & set(excluded))
        if both:
            raise ValidationError(
                f"staff {both[0]} is both preferred and excluded: remove them from one list"
            )
        if self.gender is not None and self.gender not in GENDERS:
            raise ValidationError(
                f"gender preference {self.gender!r}: use {', '.join(GENDERS)} or none"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "preferred_staff_ids": list(self.preferred_staff_ids),
            "excluded_staff_ids": list(self.excluded_staff_ids),
            "gender": self.gender,
        }


@dataclass(frozen=True)
class VisitTemplate:
    """A recurring visit of a care plan: what, how long, when in the day, on which days.

    Each window is one visit of the day (insulin twice a day has two windows, 08:00-10:00 and
    18:00-20:00); a visit's window is in local wall-clock time and stays so across DST. The
    days are those of ``rrule`` (RFC 5545, counted from ``start_day``) up to ``end_day``,
    minus ``exceptions``, plus ``additions`` (one-off days, honoured wherever they fall).
    ``staff_count`` 2 asks for two staff present together (a heavy transfer).

    Examples
    --------
    >>> t = VisitTemplate(
    ...     template_id=1, patient_id=3, kind="insulin", duration_s=900,
    ...     windows=(LocalWindow.parse("08:00-10:00"), LocalWindow.parse("18:00-20:00")),
    ...     rrule="FREQ=DAILY", start_day=dt.date(2026, 3, 1))
    >>> [str(w) for w in t.windows], t.rrule
    (['08:00-10:00', '18:00-20:00'], 'FREQ=DAILY')
    """

    template_id: int
    patient_id: int
    kind: str
    duration_s: int
    windows: tuple[TimeRange, ...]
    rrule: str
    start_day: dt.date
    end_day: dt.date | None = None
    skills: tuple[str, ...] = ()
    priority: int = 1
    exceptions: frozenset[dt.date] = frozenset()
    additions: frozenset[dt.date] = frozenset()
    wishes: StaffWishes = field(default_factory=StaffWishes)
    staff_count: int = 1
    _rule: Rule | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _int(self.template_id, what="care plan id", lo=1, hi=2**62)
        label = f"care plan {self.template_id}"
        try:
            self._check()
        except ValidationError as exc:
            raise ValidationError(f"{label}: {exc.message}") from None

    def _check(self) -> None:
        _int(self.patient_id, what="patient_id", lo=1, hi=2**62)
        if not isinstance(self.kind, str) or not _NAME.match(self.kind):
            raise ValidationError(
                f"kind {self.kind!r} is not a name: lowercase letters, digits, _ or -, "
                "e.g. 'insulin'"
            )
        _int(self.duration_s, what="duration_s", lo=60, hi=12 * 3600, hint=" (900 is 15 min)")
        _int(self.priority, what="priority", lo=0, hi=3, hint=" (1 is the default)")
        if self.staff_count not in (1, 2) or isinstance(self.staff_count, bool):
            raise ValidationError(
                f"staff_count {self.staff_count!r}: give 1 or 2 (2 for a visit by two staff together)"
            )
        windows = tuple(self.windows)
        if not windows:
            raise ValidationError('give at least one window, e.g. "08:00-10:00"')
        if len(windows) > MAX_WINDOWS:
            raise ValidationError(f"at most {MAX_WINDOWS} windows a day, got {len(windows)}")
        if not all(isinstance(w, TimeRange) for w in windows):
            raise ValidationError('windows must be time ranges, e.g. "08:00-10:00"')
        object.__setattr__(self, "windows", check_disjoint(windows, what="windows"))
        skills = set()
        for skill in self.skills:
            if not isinstance(skill, str) or not _NAME.match(skill):
                raise ValidationError(
                    f"skill {skill!r} is not a name: lowercase letters, digits, _ or -"
                )
            skills.add(skill)
        object.__setattr__(self, "skills", tuple(sorted(skills)))
        start = parse_day(self.start_day, what="start_day")
        object.__setattr__(self, "start_day", start)
        if self.end_day is not None:
            end = parse_day(self.end_day, what="end_day")
            object.__setattr__(self, "end_day", end)
            if end < start:
                raise ValidationError(
                    f"end_day {end} is before start_day {start}: give an end on or after the start"
                )
        exceptions = frozenset(parse_day(d, what="exception") for d in self.exceptions)
        additions = frozenset(parse_day(d, what="addition") for d in self.additions)
        object.__setattr__(self, "exceptions", exceptions)
        object.__setattr__(self, "additions", additions)
        both = sorted(exceptions & additions)
        if both:
            raise ValidationError(
                f"{both[0]} is both an exception and an addition: keep it in one list"
            )
        if not isinstance(self.wishes, StaffWishes):
            raise ValidationError("wishes must be a StaffWishes")
        normal = normalise_rrule(self.rrule)
        object.__setattr__(self, "rrule", normal)
        midnight = dt.datetime.combine(start, dt.time())
        rule = rrulestr("RRULE:" + normal, dtstart=midnight)
        assert isinstance(rule, Rule)
        object.__setattr__(self, "_rule", rule)
        parts = dict(part.split("=", 1) for part in normal.split(";"))
        interval = int(parts.get("INTERVAL", 1))
        weekdays = [t for t in parts.get("BYDAY", "").split(",") if t]
        if parts["FREQ"] == "DAILY" and interval % 7 == 0 and weekdays:
            if _WEEKDAYS[start.weekday()] not in weekdays:
                raise ValidationError(
                    f"rrule {normal}: every {interval} days from a "
                    f"{_WEEKDAY_NAMES[start.weekday()]} ({start}) never falls on "
                    f"{','.join(weekdays)}: start on one of them or use FREQ=WEEKLY"
                )
        if not self.additions:
            first = rule.after(midnight, inc=True)
            if first is None or (self.end_day is not None and first.date() > self.end_day):
                to = f" to end_day {self.end_day}" if self.end_day is not None else ""
                raise ValidationError(
                    f"rrule {normal} gives no day from start_day {start}{to}: check its "
                    "BYMONTH, BYMONTHDAY and BYDAY (February has no 30th, April no 31st), "
                    "or the dates"
                )

    def days(self, first: dt.date, last: dt.date) -> list[dt.date]:
        """The days from ``first`` to ``last`` (both included) that have this template's visits."""
        assert self._rule is not None
        rule = self._rule
        parts = dict(part.split("=", 1) for part in self.rrule.split(";"))
        period_days = {"DAILY": 1, "WEEKLY": 7}.get(parts["FREQ"], 0) * int(
            parts.get("INTERVAL", 1)
        )
        if period_days and "COUNT" not in parts:
            # Start the rule at a whole number of periods from start_day, a period before
            # ``first``: the same days, without walking every day since a plan began years ago.
            periods = (first - self.start_day).days // period_days - 1
            if periods > 0:
                anchor = self.start_day + dt.timedelta(days=periods * period_days)
                rule = rule.replace(dtstart=dt.datetime.combine(anchor, dt.time()))
        out = {
            d.date()
            for d in rule.between(
                dt.datetime.combine(first, dt.time()),
                dt.datetime.combine(last, dt.time()),
                inc=True,
            )
            if self.end_day is None or d.date() <= self.end_day
        }
        out |= {d for d in self.additions if first <= d <= last}
        return sorted(out - self.exceptions)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields, read back by :func:`template_from_dict`."""
        return {
            "template_id": self.template_id,
            "patient_id": self.patient_id,
            "kind": self.kind,
            "duration_s": self.duration_s,
            "windows": [str(w) for w in self.windows],
            "rrule": self.rrule,
            "start_day": self.start_day.isoformat(),
            "end_day": self.end_day.isoformat() if self.end_day else None,
            "skills": list(self.skills),
            "priority": self.priority,
            "exceptions": sorted(d.isoformat() for d in self.exceptions),
            "additions": sorted(d.isoformat() for d in self.additions),
            "wishes": self.wishes.to_dict(),
            "staff_count": self.staff_count,
        }


TEMPLATE_FIELDS = tuple(f for f in VisitTemplate.__dataclass_fields__ if not f.startswith("_"))
_WISH_FIELDS = ("preferred_staff_ids", "excluded_staff_ids", "gender")


def _window(value: Any) -> TimeRange:
    if isinstance(value, str):
        return TimeRange.parse(value)
    if isinstance(value, list | tuple) and len(value) == 2:
        start, end = (parse_hhmm(v, what="window") if isinstance(v, str) else v for v in value)
        return TimeRange(start, end)
    raise ValidationError(f'window {value!r}: write "HH:MM-HH:MM", e.g. "08:00-10:00"')


def template_from_dict(data: Any, *, label: str = "care plan") -> VisitTemplate:
    """A template from JSON input (a REST body, a CSV row turned into a dict, a stored row).

    Windows are ``"HH:MM-HH:MM"`` or ``[start, end]`` pairs (``"HH:MM"`` or seconds); days
    are ``YYYY-MM-DD``; ``wishes`` is an object with preferred_staff_ids,
    excluded_staff_ids and gender.

    Examples
    --------
    >>> template_from_dict({"template_id": 1, "patient_id": 2, "kind": "dressing",
    ...     "duration_s": 1800, "windows": ["09:00-12:00"], "rrule": "FREQ=WEEKLY;BYDAY=MO",
    ...     "start_day": "2026-02-02"}).windows
    (TimeRange(start_s=32400, end_s=43200),)
    """
    try:
        if not isinstance(data, Mapping):
            raise ValidationError("send a JSON object")
        for key in data:
            if key not in TEMPLATE_FIELDS:
                raise ValidationError(
                    f"unknown field {key!r}: the fields are {', '.join(TEMPLATE_FIELDS)}"
                )
        fields = dict(data)
        for key in ("template_id", "patient_id", "kind", "duration_s", "windows", "rrule"):
            if fields.get(key) is None:
                raise ValidationError(f"{key} is missing")
        windows = fields["windows"]
        if not isinstance(windows, list | tuple):
            raise ValidationError('windows must be a list, e.g. ["08:00-10:00", "18:00-20:00"]')
        fields["windows"] = tuple(_window(w) for w in windows)
        fields["start_day"] = parse_day(fields.get("start_day"), what="start_day")
        if fields.get("end_day") is not None:
            fields["end_day"] = parse_day(fields["end_day"], what="end_day")
        for key in ("exceptions", "additions"):
            days = fields.get(key) or ()
            if not isinstance(days, list | tuple):
                raise ValidationError(f'{key} must be a list of days, e.g. ["2026-02-04"]')
            fields[key] = frozenset(parse_day(d, what=key[:-1]) for d in days)
        fields["skills"] = tuple(fields.get("skills") or ())
        wishes = fields.get("wishes") or {}
        if not isinstance(wishes, Mapping) or set(wishes) - set(_WISH_FIELDS):
            raise ValidationError(f"wishes must be an object with {', '.join(_WISH_FIELDS)}")
        fields["wishes"] = StaffWishes(
            preferred_staff_ids=tuple(wishes.get("preferred_staff_ids") or ()),
            excluded_staff_ids=tuple(wishes.get("excluded_staff_ids") or ()),
            gender=wishes.get("gender"),
        )
        if fields.get("priority") is None:
            fields.pop("priority", None)
        if fields.get("staff_count") is None:
            fields.pop("staff_count", None)
        return VisitTemplate(**fields)
    except ValidationError as exc:
        raise ValidationError(f"{label}: {exc.message}") from None


@dataclass(frozen=True, order=True)
class OccurrenceKey:
    """The stable identity of a generated visit: care plan, day, window of the day.

    Examples
    --------
    >>> str(OccurrenceKey(7, dt.date(2026, 3, 29), 1))
    '7/2026-03-29/1'
    """

    template_id: int
    day: dt.date
    window_index: int

    def __str__(self) -> str:
        return f"{self.template_id}/{self.day.isoformat()}/{self.window_index}"

    @classmethod
    def parse(cls, text: str) -> OccurrenceKey:
        """The key written by ``str(key)``."""
        try:
            template_id, day, index = text.split("/")
            return cls(int(template_id), dt.date.fromisoformat(day), int(index))
        except ValueError:
            raise ValidationError(
                f"{text!r} is not a visit key: write PLAN/YYYY-MM-DD/WINDOW, e.g. 7/2026-03-29/0"
            ) from None


@dataclass(frozen=True)
class Occurrence:
    """One visit a template gives: its key, its window as aware instants, what it needs.

    ``start`` and ``end`` are aware datetimes in the service's time zone; ``shifted`` says the
    window started in the hour the clocks skip and was moved forward (see
    :func:`dispatch.care.times.local_instant`).
    """

    key: OccurrenceKey
    patient_id: int
    kind: str
    duration_s: int
    window: TimeRange
    start: dt.datetime
    end: dt.datetime
    shifted: bool
    skills: tuple[str, ...]
    priority: int
    wishes: StaffWishes
    staff_count: int

    @property
    def start_epoch_s(self) -> int:
        """Unix time (s) the window opens."""
        return int(self.start.timestamp())

    @property
    def end_epoch_s(self) -> int:
        """Unix time (s) the window closes."""
        return int(self.end.timestamp())

    @property
    def wall_window(self) -> TimeRange:
        """The window as the clocks show it that day: ``window``, unless the DST gap shifted it.

        The store's visit windows are wall-clock seconds of the day: give it this one.
        """

        def seconds(at: dt.datetime) -> int:
            if at.date() > self.key.day:
                return DAY_S
            return at.hour * 3600 + at.minute * 60 + at.second

        return TimeRange(seconds(self.start), seconds(self.end))

    @property
    def fingerprint(self) -> str:
        """A short hash of what generation decides (not the key): equal when nothing changed.

        The store keeps it with the visit; generation compares it to know whether the care
        plan changed since.
        """
        content = {
            "patient_id": self.patient_id,
            "kind": self.kind,
            "duration_s": self.duration_s,
            "window_s": [self.start_epoch_s, self.end_epoch_s],
            "skills": list(self.skills),
            "priority": self.priority,
            "wishes": self.wishes.to_dict(),
            "staff_count": self.staff_count,
        }
        text = json.dumps(content, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (instants as ISO 8601 with their offset and as Unix seconds)."""
        return {
            "key": str(self.key),
            "template_id": self.key.template_id,
            "day": self.key.day.isoformat(),
            "window_index": self.key.window_index,
            "patient_id": self.patient_id,
            "kind": self.kind,
            "duration_s": self.duration_s,
            "window": str(self.window),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "start_epoch_s": self.start_epoch_s,
            "end_epoch_s": self.end_epoch_s,
            "shifted": self.shifted,
            "skills": list(self.skills),
            "priority": self.priority,
            "wishes": self.wishes.to_dict(),
            "staff_count": self.staff_count,
            "fingerprint": self.fingerprint,
        }


def occurrences(
    template: VisitTemplate,
    from_day: dt.date | str,
    days: int,
    tz: str = "Europe/Paris",
    *,
    nonexistent: Nonexistent = "shift_forward",
    ambiguous: Ambiguous = "earlier",
) -> list[Occurrence]:
    """The template's visits on the ``days`` local days from ``from_day``, in time order.

    Windows keep their wall-clock times in ``tz`` across DST changes. A window start or end
    the clocks skip shifts forward by the gap (RFC 5545) and the visit says ``shifted``; one
    the clocks show twice is the earlier instant. ``"error"`` refuses either instead.

    Examples
    --------
    >>> t = VisitTemplate(template_id=1, patient_id=3, kind="insulin", duration_s=900,
    ...     windows=(LocalWindow.parse("08:00-10:00"),), rrule="FREQ=DAILY",
    ...     start_day=dt.date(2026, 3, 1))
    >>> [o.start.isoformat() for o in occurrences(t, dt.date(2026, 3, 28), 2)]
    ['2026-03-28T08:00:00+01:00', '2026-03-29T08:00:00+02:00']
    """
    first = parse_day(from_day, what="from")
    _int(days, what="days", lo=1, hi=MAX_DAYS, hint=" (days ahead, 14 by default)")
    zone_info = zone(tz)
    last = first + dt.timedelta(days=days - 1)
    found: list[Occurrence] = []
    for day in template.days(first, last):
        for index, window in enumerate(template.windows):
            start, moved_start = local_instant(
                day, window.start_s, zone_info, nonexistent=nonexistent, ambiguous=ambiguous
            )
            end, moved_end = local_instant(
                day, window.end_s, zone_info, nonexistent=nonexistent, ambiguous=ambiguous
            )
            if end <= start:
                # Both ends fell in the skipped hour, or the start only: keep the window's length.
                end = start + dt.timedelta(seconds=window.length_s)
            found.append(
                Occurrence(
                    key=OccurrenceKey(template.template_id, day, index),
                    patient_id=template.patient_id,
                    kind=template.kind,
                    duration_s=template.duration_s,
                    window=window,
                    start=start,
                    end=end,
                    shifted=moved_start or moved_end,
                    skills=template.skills,
                    priority=template.priority,
                    wishes=template.wishes,
                    staff_count=template.staff_count,
                )
            )
    return found
