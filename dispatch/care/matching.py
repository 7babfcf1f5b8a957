"""Which of the day's teams may take a generated visit, and the visits an absence leaves."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from dispatch.care.recurrence import Occurrence
from dispatch.care.rota import Absence, DayTeam, Staff, works_on
from dispatch.care.times import TimeRange

FitCode = Literal["needs_two", "excluded_staff", "gender", "skills", "hours"]


@dataclass(frozen=True)
class Reason:
    """Why a team may not take a visit: a stable ``code`` and a message naming who or what."""

    code: FitCode
    message: str


@dataclass(frozen=True)
class Fit:
    """Whether a team may take a visit (``reasons`` empty) and whether it holds a preferred
    member (a wish, to favour, never a rule)."""

    reasons: tuple[Reason, ...]
    preferred: bool

    @property
    def ok(self) -> bool:
        """No hard rule is broken."""
        return not self.reasons


def team_fit(occurrence: Occurrence, team: DayTeam, staff: Mapping[int, Staff]) -> Fit:
    """The hard rules a visit puts on the team that takes it, and the patient's preference.

    - ``staff_count`` 2 needs a team of two (a heavy transfer);
    - no member the patient excluded;
    - a gender preference holds for every member (intimate care, whoever of the pair gives it);
    - the team has the visit's skills;
    - the visit can start inside its window and end within the team's worked hours.

    Examples
    --------
    >>> from dispatch.care.recurrence import LocalWindow, VisitTemplate, occurrences
    >>> from dispatch.care.rota import Shift
    >>> t = VisitTemplate(template_id=1, patient_id=3, kind="transfer", duration_s=1200,
    ...     windows=(LocalWindow.parse("08:00-10:00"),), rrule="FREQ=DAILY",
    ...     start_day=dt.date(2026, 1, 5), staff_count=2)
    >>> visit = occurrences(t, dt.date(2026, 1, 12), 1)[0]
    >>> people = {1: Staff(1, "Marie", 35.0)}
    >>> [r.code for r in team_fit(visit, DayTeam((1,), Shift.parse("07:00-15:00"), ()), people).reasons]
    ['needs_two']
    """
    reasons: list[Reason] = []
    members = [staff[i] for i in team.staff_ids]
    names = ", ".join(m.label for m in members)
    if occurrence.staff_count > len(members):
        reasons.append(
            Reason("needs_two", f"the visit needs two staff together; {names} goes alone")
        )
    wishes = occurrence.wishes
    excluded = [m.label for m in members if m.staff_id in wishes.excluded_staff_ids]
    if excluded:
        reasons.append(
            Reason("excluded_staff", f"the patient asked not to see {', '.join(excluded)}")
        )
    if wishes.gender is not None:
        others = [m.label for m in members if m.gender != wishes.gender]
        if others:
            reasons.append(
                Reason(
                    "gender",
                    f"the patient asked for {wishes.gender} staff; {', '.join(others)} is not",
                )
            )
    missing = sorted(set(occurrence.skills) - set(team.skills))
    if missing:
        reasons.append(Reason("skills", f"{names} lacks {', '.join(missing)}"))
    if not team.shift.can_hold(occurrence.window, occurrence.duration_s):
        reasons.append(
            Reason(
                "hours",
                f"a {occurrence.duration_s // 60} min visit starting in {occurrence.window} does "
                f"not fit the hours of {names} ({team.shift.span})",
            )
        )
    preferred = any(m.staff_id in wishes.preferred_staff_ids for m in members)
    return Fit(tuple(reasons), preferred)


@dataclass(frozen=True)
class AssignedVisit:
    """A visit as far as an absence is concerned: its day, start window, length and staff."""

    visit_id: int | str
    day: dt.date
    window: TimeRange
    duration_s: int
    staff_ids: tuple[int, ...]


@dataclass(frozen=True)
class AbsenceImpact:
    """What an absence costs: days no longer worked, real seconds of work lost, and the visits
    (ids, in day and window order) someone else must take."""

    staff_id: int
    days_lost: tuple[dt.date, ...]
    lost_s: int
    visit_ids: tuple[int | str, ...]


def absence_impact(
    staff: Staff, absence: Absence, visits: Iterable[AssignedVisit], tz: str = "Europe/Paris"
) -> AbsenceImpact:
    """The impact of ``absence`` on ``staff`` (recorded or not yet) and their assigned visits.

    A visit is to reassign when it falls on a day of the absence and no longer fits the hours
    the person keeps that day (none for a whole day). The screen words it, e.g. « Marie
    absente jeudi : 14 visites à réaffecter ».

    Examples
    --------
    >>> from dispatch.care.rota import Shift, WeeklyPattern
    >>> marie = Staff(1, "Marie", 35.0, rotas=(WeeklyPattern.parse(dt.date(2026, 1, 5),
    ...     "MO,TU,WE,TH,FR", Shift.parse("07:00-15:00")),))
    >>> thursday = dt.date(2026, 1, 15)
    >>> absence_impact(marie, Absence("sickness", thursday, thursday),
    ...     [AssignedVisit(9, thursday, TimeRange.parse("08:00-10:00"), 900, (1,))]).visit_ids
    (9,)
    """
    before = dataclasses.replace(staff, absences=tuple(a for a in staff.absences if a != absence))
    after = dataclasses.replace(staff, absences=(*before.absences, absence))
    days_lost: list[dt.date] = []
    lost_s = 0
    day = absence.from_day
    while day <= absence.to_day:
        planned, kept = works_on(before, day), works_on(after, day)
        if planned is not None:
            lost_s += planned.work_s_on(day, tz) - (kept.work_s_on(day, tz) if kept else 0)
            if kept is None:
                days_lost.append(day)
        day += dt.timedelta(days=1)
    affected = []
    for v in visits:
        if staff.staff_id not in v.staff_ids or not absence.covers(v.day):
            continue
        kept = works_on(after, v.day)
        if kept is None or not kept.can_hold(v.window, v.duration_s):
            affected.append(v)
    affected.sort(key=lambda v: (v.day, v.window.start_s, str(v.visit_id)))
    return AbsenceImpact(
        staff_id=staff.staff_id,
        days_lost=tuple(days_lost),
        lost_s=lost_s,
        visit_ids=tuple(v.visit_id for v in affected),
    )
