"""Which day's team may take a generated visit: two-person visits, wishes, skills and hours."""

from __future__ import annotations

import datetime as dt

from dispatch.care.matching import AssignedVisit, absence_impact, team_fit
from dispatch.care.recurrence import LocalWindow, StaffWishes, VisitTemplate, occurrences
from dispatch.care.rota import Absence, DayTeam, Shift, Staff, WeeklyPattern
from dispatch.care.times import TimeRange

MONDAY = dt.date(2026, 1, 12)
DAY_SHIFT = Shift.parse("07:00-15:00", breaks=("12:00-12:30",))
ROTA = (WeeklyPattern.parse(dt.date(2026, 1, 5), "MO,TU,WE,TH,FR", DAY_SHIFT),)
PEOPLE = {
    1: Staff(1, "Marie", 35.0, rotas=ROTA, skills=("insulin", "wound"), gender="female"),
    2: Staff(2, "Paul", 35.0, rotas=ROTA, skills=("hygiene",), gender="male"),
    3: Staff(3, "Lea", 35.0, rotas=ROTA, skills=("insulin",), gender="female"),
}


def visit(window: str = "08:00-10:00", **changes: object):
    """Monday's first visit of a care plan for patient 3 (insulin unless ``changes`` say)."""
    fields: dict[str, object] = {
        "template_id": 7,
        "patient_id": 3,
        "kind": "insulin",
        "duration_s": 900,
        "windows": (LocalWindow.parse(window),),
        "rrule": "FREQ=DAILY",
        "start_day": dt.date(2026, 1, 5),
        "skills": ("insulin",),
    }
    fields.update(changes)
    return occurrences(VisitTemplate(**fields), MONDAY, 1)[0]  # type: ignore[arg-type]


def team(*ids: int, shift: Shift = DAY_SHIFT) -> DayTeam:
    """A team of ``ids`` on Monday with ``shift``."""
    skills = tuple(sorted({s for i in ids for s in PEOPLE[i].skills}))
    return DayTeam(tuple(sorted(ids)), shift, skills)


def codes(fit: object) -> set[str]:
    """The codes of a fit's reasons."""
    return {r.code for r in fit.reasons}  # type: ignore[attr-defined]


def test_a_team_with_the_skills_and_hours_fits() -> None:
    """Marie (insulin) working 07:00-15:00 may take an 08:00-10:00 insulin visit."""
    fit = team_fit(visit(), team(1), PEOPLE)
    assert fit.ok and not fit.reasons and not fit.preferred


def test_a_two_person_visit_needs_a_team_of_two() -> None:
    """staff_count 2 refuses a team of one and accepts a pair."""
    transfer = visit(staff_count=2, skills=())
    assert codes(team_fit(transfer, team(1), PEOPLE)) == {"needs_two"}
    assert team_fit(transfer, team(1, 2), PEOPLE).ok


def test_excluded_staff_and_gender_preference_are_hard_rules() -> None:
    """A patient who refuses Paul, or asks for a woman, is not given a team with Paul."""
    refused = visit(skills=(), wishes=StaffWishes(excluded_staff_ids=(2,)))
    fit = team_fit(refused, team(1, 2), PEOPLE)
    assert codes(fit) == {"excluded_staff"}
    assert "staff 2 (Paul)" in fit.reasons[0].message
    woman = visit(skills=(), wishes=StaffWishes(gender="female"))
    assert codes(team_fit(woman, team(2), PEOPLE)) == {"gender"}
    assert codes(team_fit(woman, team(1, 2), PEOPLE)) == {"gender"}
    assert team_fit(woman, team(1, 3), PEOPLE).ok


def test_preferred_staff_is_a_wish_not_a_rule() -> None:
    """A preferred member makes the fit preferred; a team without them still fits."""
    liked = visit(wishes=StaffWishes(preferred_staff_ids=(3,)))
    assert team_fit(liked, team(3), PEOPLE).preferred
    other = team_fit(liked, team(1), PEOPLE)
    assert other.ok and not other.preferred


def test_missing_skills_and_hours_are_named() -> None:
    """Paul lacks insulin. A visit starts inside its window and ends within worked hours: a
    16:00-18:00 window is outside a 07:00-15:00 shift, 14:50-16:00 leaves 10 minutes for a
    15 minute visit, 12:05-12:25 lies in the break, 11:50-12:20 would run into it; 11:40-12:20
    ends at 11:55 and 12:20-12:40 may start at 12:30."""
    fit = team_fit(visit(), team(2), PEOPLE)
    assert codes(fit) == {"skills"} and "insulin" in fit.reasons[0].message
    for window in ("16:00-18:00", "14:50-16:00", "12:05-12:25", "11:50-12:20"):
        assert codes(team_fit(visit(window), team(1), PEOPLE)) == {"hours"}, window
    assert team_fit(visit("11:40-12:20"), team(1), PEOPLE).ok
    assert team_fit(visit("12:20-12:40"), team(1), PEOPLE).ok


def test_an_absence_names_the_visits_to_reassign_and_the_hours_lost() -> None:
    """Marie off on Thursday: her Thursday visits are to reassign, others' are not; a training
    afternoon only takes the visits she can no longer fit in her morning."""
    thursday = MONDAY + dt.timedelta(days=3)
    visits = [
        AssignedVisit("a", thursday, TimeRange.parse("08:00-10:00"), 900, (1,)),
        AssignedVisit("b", thursday, TimeRange.parse("13:00-14:00"), 900, (1, 2)),
        AssignedVisit("c", thursday, TimeRange.parse("09:00-10:00"), 900, (3,)),
        AssignedVisit(
            "d", thursday + dt.timedelta(days=1), TimeRange.parse("09:00-10:00"), 900, (1,)
        ),
    ]
    off = absence_impact(PEOPLE[1], Absence("sickness", thursday, thursday), visits)
    assert off.visit_ids == ("a", "b")
    assert off.days_lost == (thursday,)
    assert off.lost_s == 7.5 * 3600
    training = Absence("training", thursday, thursday, part=TimeRange.parse("12:30-15:00"))
    afternoon = absence_impact(PEOPLE[1], training, visits)
    assert afternoon.visit_ids == ("b",)
    assert afternoon.days_lost == ()
    assert afternoon.lost_s == 2.5 * 3600
