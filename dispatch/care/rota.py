"""Staff rotas: who works which day and hours, absences, hours per week, the day's teams."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

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

    def intervals(self) -> list[Interval]:
        """The worked stretches (s since midnight): the span minus the breaks."""
        out = [(self.span.start_s, self.span.end_s)]
        for b in self.breaks:
            out = _subtract(out, (b.start_s, b.end_s))
        return out

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

    @property
    def label(self) -> str:
        """``staff 4 (Jo)`` for messages."""
        return f"staff {self.staff_id} ({self.name})"


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
