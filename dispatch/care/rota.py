"""Staff rotas: who works which day and hours, absences, hours per week, the day's teams."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from dispatch.care.recurrence import GENDERS, Gender, parse_weekday
from dispatch.care.times import TimeRange, check_disjoint, local_instant, parse_day, zone
from dispatch.errors import ValidationError

AbsenceKind = Literal["leave", "sickness", "training"]
ABSENCE_KINDS: tuple[AbsenceKind, ...] = ("leave", "sickness", "training")
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
MAX_CYCLE_DAYS = 366
MAX_CONTRACT_H = 80.0

Interval = tuple[int, int]


def _subtract(intervals: list[Interval], cut: Interval) -> list[Interval]:
    out: list[Interval] = []
    for start, end in intervals:
        if cut[1] <= start or end <= cut[0]:
            out.append((start, end))
            continue
        if start < cut[0]:
            out.append((start, cut[0]))
        if cut[1] < end:
            out.append((cut[1], end))
    return out


@dataclass(frozen=True)
class Shift:
    """A day's working hours in local wall-clock time, with its breaks.

    Examples
    --------
    >>> s = Shift.parse("07:00-15:00", breaks=("12:00-12:30",))
    >>> s.work_s / 3600
    7.5
    """

    span: TimeRange
    breaks: tuple[TimeRange, ...] = ()

    def __post_init__(self) -> None:
        breaks = check_disjoint(tuple(self.breaks), what=f"shift {self.span}: breaks")
        for b in breaks:
            if b.start_s < self.span.start_s or b.end_s > self.span.end_s:
                raise ValidationError(
                    f"shift {self.span}: break {b} is outside the shift: give it within its hours"
                )
        object.__setattr__(self, "breaks", breaks)

    @classmethod
    def parse(cls, text: str, *, breaks: Iterable[str] = ()) -> Shift:
        """A shift from ``"HH:MM-HH:MM"`` and its breaks written alike."""
        return cls(TimeRange.parse(text), tuple(TimeRange.parse(b) for b in breaks))

    @classmethod
    def from_intervals(cls, intervals: Sequence[Interval]) -> Shift | None:
        """The shift covering ``intervals`` (sorted, disjoint), the gaps as breaks; None if empty."""
        if not intervals:
            return None
        gaps = tuple(
            TimeRange(a_end, b_start)
            for (_, a_end), (b_start, _) in zip(intervals, intervals[1:], strict=False)
            if a_end < b_start
        )
        return cls(TimeRange(intervals[0][0], intervals[-1][1]), gaps)

    def to_dict(self) -> dict[str, Any]:
        """``{"shift": "07:00-15:00", "breaks": ["12:00-12:30"]}``."""
        return {"shift": str(self.span), "breaks": [str(b) for b in self.breaks]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Shift:
        """The shift :meth:`to_dict` writes (``breaks`` optional)."""
        breaks = data.get("breaks") or ()
        if not isinstance(breaks, list | tuple):
            raise ValidationError('breaks must be a list, e.g. ["12:00-12:30"]')
        return cls.parse(data.get("shift"), breaks=breaks)  # type: ignore[arg-type]

    def intervals(self) -> list[Interval]:
        """The worked stretches (s since midnight): the span minus the breaks."""
        out = [(self.span.start_s, self.span.end_s)]
        for b in self.breaks:
            out = _subtract(out, (b.start_s, b.end_s))
        return out

    def can_hold(self, window: TimeRange, duration_s: int) -> bool:
        """Whether a visit of ``duration_s`` can start inside ``window`` and end within a worked
        stretch (not across a break), in wall-clock time.

        Examples
        --------
        >>> Shift.parse("07:00-15:00").can_hold(TimeRange.parse("14:50-16:00"), 900)
        False
        """
        for start, end in self.intervals():
            earliest = max(start, window.start_s)
            if earliest <= window.end_s and earliest + duration_s <= end:
                return True
        return False

    @property
    def work_s(self) -> int:
        """Wall-clock seconds of work (the span minus breaks)."""
        return sum(end - start for start, end in self.intervals())

    def work_s_on(self, day: dt.date, tz: str = "Europe/Paris") -> int:
        """Real seconds of work on ``day``: one hour less or more when the shift spans a DST change."""
        zone_info = zone(tz)
        total = 0
        for start, end in self.intervals():
            a, _ = local_instant(day, start, zone_info)
            b, _ = local_instant(day, end, zone_info)
            total += max(0, int(b.timestamp() - a.timestamp()))
        return total


@dataclass(frozen=True)
class CyclePattern:
    """A rota that repeats every ``len(days)`` days from ``start_day`` (e.g. 7 on, 7 off).

    ``days[i]`` is the shift of the i-th day of the cycle, or None for a day off. Date
    arithmetic is in whole calendar days, so months, years and DST changes do not shift it.

    Examples
    --------
    >>> p = CyclePattern.from_counts(dt.date(2026, 12, 28), (7, 7), Shift.parse("07:00-15:00"))
    >>> p.shift_on(dt.date(2027, 1, 3)) is not None, p.shift_on(dt.date(2027, 1, 4))
    (True, None)
    """

    start_day: dt.date
    days: tuple[Shift | None, ...]

    def __post_init__(self) -> None:
        parse_day(self.start_day, what="rota start_day")
        if not 1 <= len(self.days) <= MAX_CYCLE_DAYS:
            raise ValidationError(
                f"a rota cycle lasts 1 to {MAX_CYCLE_DAYS} days, got {len(self.days)}"
            )
        if all(d is None for d in self.days):
            raise ValidationError("this rota cycle never works: give at least one day on")

    @classmethod
    def from_booleans(cls, start_day: dt.date, on: Sequence[bool], shift: Shift) -> CyclePattern:
        """A cycle from one flag a day (True: works ``shift``)."""
        return cls(start_day, tuple(shift if flag else None for flag in on))

    @classmethod
    def from_counts(cls, start_day: dt.date, counts: Sequence[int], shift: Shift) -> CyclePattern:
        """A cycle from alternating counts of days on and off, starting on: (7, 7) is 7 on 7 off."""
        if not counts or any(
            isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in counts
        ):
            raise ValidationError(
                f"rota counts {tuple(counts)!r}: give days on, then off, ..., each at least 1, "
                "e.g. (7, 7)"
            )
        flags: list[bool] = []
        for i, n in enumerate(counts):
            flags += [i % 2 == 0] * n
        return cls.from_booleans(start_day, flags, shift)

    def to_dict(self) -> dict[str, Any]:
        """``{"start_day", "days": [shift or null, ...]}``, read back by :func:`rota_from_dict`."""
        return {
            "start_day": self.start_day.isoformat(),
            "days": [d.to_dict() if d else None for d in self.days],
        }

    def shift_on(self, day: dt.date) -> Shift | None:
        """The shift of ``day``, None for a day off or a day before the rota starts."""
        if day < self.start_day:
            return None
        return self.days[(day - self.start_day).days % len(self.days)]


@dataclass(frozen=True)
class WeeklyPattern:
    """A rota of fixed weekdays from ``start_day`` (e.g. four days a week: MO, TU, TH, FR).

    Examples
    --------
    >>> p = WeeklyPattern.parse(dt.date(2026, 1, 5), "MO,TU,TH,FR", Shift.parse("08:00-16:00"))
    >>> sorted(p.weekdays)
    [0, 1, 3, 4]
    """

    start_day: dt.date
    weekdays: frozenset[int]
    shift: Shift

    def __post_init__(self) -> None:
        parse_day(self.start_day, what="rota start_day")
        if not self.weekdays:
            raise ValidationError("a weekly rota needs at least one weekday, e.g. MO,TU,TH,FR")
        if not all(isinstance(d, int) and 0 <= d <= 6 for d in self.weekdays):
            raise ValidationError("weekdays are 0 (Monday) to 6 (Sunday)")

    @classmethod
    def parse(cls, start_day: dt.date, weekdays: str, shift: Shift) -> WeeklyPattern:
        """A weekly rota from RFC 5545 weekdays ``"MO,TU,TH,FR"``."""
        tokens = [t for t in weekdays.split(",") if t.strip()]
        days = frozenset(WEEKDAYS.index(parse_weekday(t, what="rota")) for t in tokens)
        return cls(start_day, days, shift)

    def to_dict(self) -> dict[str, Any]:
        """``{"start_day", "weekdays": "MO,TU", "shift", "breaks"}``."""
        return {
            "start_day": self.start_day.isoformat(),
            "weekdays": ",".join(WEEKDAYS[d] for d in sorted(self.weekdays)),
            **self.shift.to_dict(),
        }

    def shift_on(self, day: dt.date) -> Shift | None:
        """The shift of ``day``, None for a day off or a day before the rota starts."""
        if day < self.start_day or day.weekday() not in self.weekdays:
            return None
        return self.shift


RotaPattern = CyclePattern | WeeklyPattern


@dataclass(frozen=True)
class Absence:
    """Leave, sickness or training from ``from_day`` to ``to_day`` (both included).

    ``part`` limits it to those hours of each day (a training afternoon); None is whole days.

    Examples
    --------
    >>> Absence("leave", dt.date(2027, 1, 1), dt.date(2027, 1, 2)).covers(dt.date(2027, 1, 2))
    True
    """

    kind: AbsenceKind
    from_day: dt.date
    to_day: dt.date
    part: TimeRange | None = None

    def __post_init__(self) -> None:
        if self.kind not in ABSENCE_KINDS:
            raise ValidationError(f"absence kind {self.kind!r}: use {', '.join(ABSENCE_KINDS)}")
        start = parse_day(self.from_day, what="absence from_day")
        end = parse_day(self.to_day, what="absence to_day")
        if end < start:
            raise ValidationError(
                f"absence to_day {end} is before from_day {start}: give the last day of absence"
            )

    def covers(self, day: dt.date) -> bool:
        """Whether the absence falls on ``day`` (wholly or in part)."""
        return self.from_day <= day <= self.to_day

    def to_dict(self) -> dict[str, Any]:
        """``{"kind", "from_day", "to_day", "part": "13:00-15:00" or null}``."""
        return {
            "kind": self.kind,
            "from_day": self.from_day.isoformat(),
            "to_day": self.to_day.isoformat(),
            "part": str(self.part) if self.part else None,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Absence:
        """The absence :meth:`to_dict` writes (``to_day`` defaults to ``from_day``)."""
        if not isinstance(data, Mapping):
            raise ValidationError("send an object with kind, from_day, to_day and part")
        _unknown(data, ("kind", "from_day", "to_day", "part"), what="absence")
        start = parse_day(data.get("from_day"), what="from_day")
        end = parse_day(data.get("to_day") or start, what="to_day")
        part = data.get("part")
        return cls(data.get("kind"), start, end, TimeRange.parse(part) if part else None)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Staff:
    """A member of staff: contract hours per week, rotas with their start dates, absences.

    The rota in force on a day is the one with the latest ``start_day`` on or before it.

    Examples
    --------
    >>> nurse = Staff(1, "Marie", 35.0, rotas=(CyclePattern.from_counts(
    ...     dt.date(2026, 12, 28), (7, 7), Shift.parse("07:00-15:00")),))
    >>> works_on(nurse, dt.date(2027, 1, 11)) is not None
    True
    """

    staff_id: int
    name: str
    contract_h_per_week: float
    rotas: tuple[RotaPattern, ...] = ()
    absences: tuple[Absence, ...] = ()
    skills: tuple[str, ...] = ()
    gender: Gender | None = None

    def __post_init__(self) -> None:
        if (
            isinstance(self.staff_id, bool)
            or not isinstance(self.staff_id, int)
            or self.staff_id < 1
        ):
            raise ValidationError(f"staff id {self.staff_id!r}: give a whole number from 1")
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValidationError(f"staff {self.staff_id}: give a name")
        hours = self.contract_h_per_week
        if (
            isinstance(hours, bool)
            or not isinstance(hours, int | float)
            or not 0 <= hours <= MAX_CONTRACT_H
        ):
            raise ValidationError(
                f"staff {self.staff_id}: contract_h_per_week {hours!r}: give hours per week "
                f"from 0 to {MAX_CONTRACT_H:g}"
            )
        rotas = tuple(sorted(self.rotas, key=lambda r: r.start_day))
        for a, b in zip(rotas, rotas[1:], strict=False):
            if a.start_day == b.start_day:
                raise ValidationError(
                    f"staff {self.staff_id}: two rotas start on {a.start_day}: keep one"
                )
        object.__setattr__(self, "rotas", rotas)
        object.__setattr__(self, "skills", tuple(sorted(set(self.skills))))
        if self.gender is not None and self.gender not in GENDERS:
            raise ValidationError(
                f"staff {self.staff_id}: gender {self.gender!r}: use {', '.join(GENDERS)}"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields, read back by :func:`staff_from_dict`."""
        return {
            "staff_id": self.staff_id,
            "name": self.name,
            "contract_h_per_week": self.contract_h_per_week,
            "rotas": [r.to_dict() for r in self.rotas],
            "absences": [a.to_dict() for a in self.absences],
            "skills": list(self.skills),
            "gender": self.gender,
        }

    @property
    def label(self) -> str:
        """``staff 4 (Jo)`` for messages."""
        return f"staff {self.staff_id} ({self.name})"


STAFF_FIELDS = ("staff_id", "name", "contract_h_per_week", "rotas", "absences", "skills", "gender")


def _unknown(data: Mapping[str, Any], known: Sequence[str], *, what: str) -> None:
    for key in data:
        if key not in known:
            raise ValidationError(
                f"{what}: unknown field {key!r}: the fields are {', '.join(known)}"
            )


def rota_from_dict(data: Any) -> RotaPattern:
    """A rota from JSON: ``start_day`` and one of ``cycle`` (day counts on, off, ... or one
    flag a day) with ``shift``/``breaks``, ``days`` (a shift or null a day) or ``weekdays``
    (``"MO,TU,TH,FR"``) with ``shift``/``breaks``.

    Examples
    --------
    >>> rota_from_dict({"start_day": "2026-12-28", "cycle": [7, 7], "shift": "07:00-15:00"}).days[6]
    Shift(span=TimeRange(start_s=25200, end_s=54000), breaks=())
    """
    if not isinstance(data, Mapping):
        raise ValidationError("send an object with start_day and cycle, days or weekdays")
    _unknown(data, ("start_day", "cycle", "days", "weekdays", "shift", "breaks"), what="rota")
    start = parse_day(data.get("start_day"), what="start_day")
    given = [key for key in ("cycle", "days", "weekdays") if data.get(key) is not None]
    if len(given) != 1:
        raise ValidationError("give one of cycle, days or weekdays")
    if given == ["days"]:
        days = data["days"]
        if not isinstance(days, list | tuple):
            raise ValidationError("days must be a list of shifts or nulls")
        return CyclePattern(start, tuple(Shift.from_dict(d) if d else None for d in days))
    shift = Shift.from_dict(data)
    if given == ["weekdays"]:
        weekdays = data["weekdays"]
        if isinstance(weekdays, list | tuple):
            weekdays = ",".join(str(w) for w in weekdays)
        return WeeklyPattern.parse(start, str(weekdays), shift)
    cycle = data["cycle"]
    if not isinstance(cycle, list | tuple) or not cycle:
        raise ValidationError("cycle must be day counts, e.g. [7, 7], or one true/false a day")
    if all(isinstance(c, bool) for c in cycle):
        return CyclePattern.from_booleans(start, cycle, shift)
    return CyclePattern.from_counts(start, cycle, shift)


def staff_from_dict(data: Any, *, label: str = "staff") -> Staff:
    """A member of staff from JSON (a REST body or a stored row); messages start with ``label``.

    Examples
    --------
    >>> staff_from_dict({"staff_id": 1, "name": "Marie", "contract_h_per_week": 35,
    ...     "rotas": [{"start_day": "2026-01-05", "weekdays": "MO,TU", "shift": "08:00-16:00"}]}
    ...     ).rotas[0].weekdays == {0, 1}
    True
    """
    try:
        if not isinstance(data, Mapping):
            raise ValidationError("send a JSON object")
        _unknown(data, STAFF_FIELDS, what=label)
        rotas, absences = data.get("rotas") or (), data.get("absences") or ()
        if not isinstance(rotas, list | tuple) or not isinstance(absences, list | tuple):
            raise ValidationError("rotas and absences must be lists")
        parsed_rotas = []
        for i, rota in enumerate(rotas, 1):
            try:
                parsed_rotas.append(rota_from_dict(rota))
            except ValidationError as exc:
                raise ValidationError(f"rota {i}: {exc.message}") from None
        parsed_absences = []
        for i, absence in enumerate(absences, 1):
            try:
                parsed_absences.append(Absence.from_dict(absence))
            except ValidationError as exc:
                raise ValidationError(f"absence {i}: {exc.message}") from None
        hours = data.get("contract_h_per_week")
        return Staff(
            staff_id=data.get("staff_id"),  # type: ignore[arg-type]
            name=str(data.get("name") or ""),
            contract_h_per_week=float(hours)
            if isinstance(hours, int) and not isinstance(hours, bool)
            else hours,  # type: ignore[arg-type]
            rotas=tuple(parsed_rotas),
            absences=tuple(parsed_absences),
            skills=tuple(data.get("skills") or ()),
            gender=data.get("gender"),
        )
    except ValidationError as exc:
        if exc.message.startswith(f"{label}:"):
            raise
        raise ValidationError(f"{label}: {exc.message}") from None


def works_on(staff: Staff, day: dt.date) -> Shift | None:
    """The hours ``staff`` works on ``day``: the rota's shift less absences, None when off.

    A part-day absence trims the shift at either end or becomes a break in its middle.
    """
    rota = None
    for pattern in staff.rotas:
        if pattern.start_day <= day:
            rota = pattern
    shift = rota.shift_on(day) if rota is not None else None
    if shift is None:
        return None
    intervals = shift.intervals()
    for absence in staff.absences:
        if not absence.covers(day):
            continue
        if absence.part is None:
            return None
        intervals = _subtract(intervals, (absence.part.start_s, absence.part.end_s))
    return Shift.from_intervals(intervals)


@dataclass(frozen=True)
class WeekHours:
    """Hours worked in the 7 days from ``week_start`` against the contract.

    ``days`` holds each day and its real seconds of work (0 when off).
    """

    staff_id: int
    week_start: dt.date
    worked_s: int
    contract_s: int
    days: tuple[tuple[dt.date, int], ...]

    @property
    def difference_s(self) -> int:
        """Worked minus contract: positive is overtime, negative hours left to give."""
        return self.worked_s - self.contract_s


def hours_in_week(staff: Staff, week_start: dt.date, tz: str = "Europe/Paris") -> WeekHours:
    """Real hours worked in the 7 days from ``week_start``, against the contract.

    A shift spanning a DST change (a night shift over 02:00) counts the hours really worked.

    Examples
    --------
    >>> aide = Staff(2, "Paul", 30.0, rotas=(WeeklyPattern.parse(dt.date(2026, 1, 5),
    ...     "MO,TU,TH,FR", Shift.parse("07:00-15:00", breaks=("12:00-12:30",))),))
    >>> hours_in_week(aide, dt.date(2026, 1, 5)).difference_s
    0
    """
    start = parse_day(week_start, what="week_start")
    days = []
    for i in range(7):
        day = start + dt.timedelta(days=i)
        shift = works_on(staff, day)
        days.append((day, shift.work_s_on(day, tz) if shift else 0))
    return WeekHours(
        staff_id=staff.staff_id,
        week_start=start,
        worked_s=sum(s for _, s in days),
        contract_s=round(staff.contract_h_per_week * 3600),
        days=tuple(days),
    )


@dataclass(frozen=True)
class DayTeam:
    """Who goes out together on a day: one person, or two paired, with their common hours."""

    staff_ids: tuple[int, ...]
    shift: Shift
    skills: tuple[str, ...]


def day_teams(
    staff: Sequence[Staff], day: dt.date, pairs: Iterable[tuple[int, int]] = ()
) -> list[DayTeam]:
    """The day's teams from who works: each pair in ``pairs`` is one team, others go alone.

    A pair's hours are those both work; its skills are both members' skills.

    Examples
    --------
    >>> shift = Shift.parse("08:00-16:00")
    >>> rota = (WeeklyPattern.parse(dt.date(2026, 1, 5), "MO", shift),)
    >>> people = [Staff(1, "Marie", 35.0, rotas=rota), Staff(2, "Paul", 35.0, rotas=rota)]
    >>> [t.staff_ids for t in day_teams(people, dt.date(2026, 1, 12), pairs=[(2, 1)])]
    [(1, 2)]
    """
    by_id = {s.staff_id: s for s in staff}
    shifts = {s.staff_id: works_on(s, day) for s in staff}
    paired: set[int] = set()
    teams: list[DayTeam] = []
    for pair in pairs:
        ids = tuple(sorted(pair))
        if len(set(ids)) != 2:
            raise ValidationError(f"pair {pair!r}: give two different staff ids")
        for staff_id in ids:
            if staff_id not in by_id:
                raise ValidationError(f"staff {staff_id} is not known: pair people of this service")
            if shifts[staff_id] is None:
                raise ValidationError(
                    f"{by_id[staff_id].label} does not work on {day}: pair them on a day they work"
                )
            if staff_id in paired:
                raise ValidationError(f"{by_id[staff_id].label} is in two pairs on {day}: keep one")
            paired.add(staff_id)
        a, b = (shifts[i] for i in ids)
        assert a is not None and b is not None
        common = _intersect(a.intervals(), b.intervals())
        shift = Shift.from_intervals(common)
        if shift is None:
            raise ValidationError(
                f"{by_id[ids[0]].label} and {by_id[ids[1]].label} have no hours in common on "
                f"{day}: pair people whose shifts overlap"
            )
        skills = tuple(sorted(set(by_id[ids[0]].skills) | set(by_id[ids[1]].skills)))
        teams.append(DayTeam(ids, shift, skills))
    for person in staff:
        shift = shifts[person.staff_id]
        if shift is not None and person.staff_id not in paired:
            teams.append(DayTeam((person.staff_id,), shift, person.skills))
    return sorted(teams, key=lambda t: t.staff_ids)


def _intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    out = []
    for a_start, a_end in a:
        for b_start, b_end in b:
            start, end = max(a_start, b_start), min(a_end, b_end)
            if start < end:
                out.append((start, end))
    return sorted(out)
