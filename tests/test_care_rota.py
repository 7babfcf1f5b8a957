"""Staff rotas on their own: cycles, weekly patterns, absences, weekly hours and the day's teams."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatch.care.rota import (
    Absence,
    CyclePattern,
    Shift,
    Staff,
    WeeklyPattern,
    day_teams,
    hours_in_week,
    works_on,
)
from dispatch.care.times import TimeRange
from dispatch.errors import ValidationError

DAY_SHIFT = Shift.parse("07:00-15:00", breaks=("12:00-12:30",))


def seven_on_seven_off(start: dt.date, **changes: object) -> Staff:
    """A nurse on 7 days on, 7 off from ``start`` with the 07:00-15:00 shift."""
    return Staff(
        staff_id=1,
        name="Marie",
        contract_h_per_week=35.0,
        rotas=(CyclePattern.from_counts(start, (7, 7), DAY_SHIFT),),
        **changes,  # type: ignore[arg-type]
    )


def test_a_shift_counts_its_work_without_breaks() -> None:
    """07:00-15:00 with a 30 min break is 7.5 h of work."""
    assert DAY_SHIFT.work_s == 7.5 * 3600


def test_seven_on_seven_off_crosses_the_new_year() -> None:
    """Started Monday 2026-12-28, the nurse works to 2027-01-03, is off to 01-10, works from 01-11."""
    marie = seven_on_seven_off(dt.date(2026, 12, 28))
    worked = [
        works_on(marie, dt.date(2026, 12, 28) + dt.timedelta(days=i)) is not None for i in range(21)
    ]
    assert worked == [True] * 7 + [False] * 7 + [True] * 7
    assert works_on(marie, dt.date(2027, 1, 3)) == DAY_SHIFT
    assert works_on(marie, dt.date(2027, 1, 4)) is None
    assert works_on(marie, dt.date(2026, 12, 27)) is None  # before the rota starts


@given(
    start=st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2030, 12, 31)),
    offset=st.integers(min_value=0, max_value=3000),
)
def test_seven_on_seven_off_has_period_14_and_7_days_in_any_fortnight(
    start: dt.date, offset: int
) -> None:
    """Any 14 consecutive days after the start hold exactly 7 worked days, month, year and DST
    changes included, and the pattern repeats every 14 days."""
    marie = seven_on_seven_off(start)
    first = start + dt.timedelta(days=offset)
    days = [first + dt.timedelta(days=i) for i in range(15)]
    worked = [works_on(marie, d) is not None for d in days]
    assert sum(worked[:14]) == 7
    assert worked[0] == worked[14]
    assert worked[0] == ((offset % 14) < 7)


def test_a_cycle_from_counts_equals_one_from_booleans() -> None:
    """(7, 7) is seven True then seven False; (2, 2, 3) alternates on and off from on."""
    start = dt.date(2026, 3, 1)
    assert CyclePattern.from_counts(start, (7, 7), DAY_SHIFT) == CyclePattern.from_booleans(
        start, (True,) * 7 + (False,) * 7, DAY_SHIFT
    )
    short = CyclePattern.from_counts(start, (2, 2, 3), DAY_SHIFT)
    assert [d is not None for d in short.days] == [True, True, False, False, True, True, True]


def test_four_days_a_week_across_a_leap_february() -> None:
    """Mon, Tue, Thu, Fri from 2028-02-21: works Tue 29 Feb, not Wed 1 Mar, works Thu 2 Mar."""
    aide = Staff(
        staff_id=2,
        name="Paul",
        contract_h_per_week=30.0,
        rotas=(WeeklyPattern.parse(dt.date(2028, 2, 21), "MO,TU,TH,FR", DAY_SHIFT),),
    )
    assert works_on(aide, dt.date(2028, 2, 29)) == DAY_SHIFT
    assert works_on(aide, dt.date(2028, 3, 1)) is None
    assert works_on(aide, dt.date(2028, 3, 2)) == DAY_SHIFT
    week = hours_in_week(aide, dt.date(2028, 2, 28))
    assert week.worked_s == 4 * 7.5 * 3600
    assert week.contract_s == 30 * 3600
    assert week.difference_s == 0


def test_a_later_rota_takes_over_from_its_start_date() -> None:
    """A second pattern starting 2026-06-01 replaces the first from that day on."""
    nurse = Staff(
        staff_id=3,
        name="Lea",
        contract_h_per_week=35.0,
        rotas=(
            WeeklyPattern.parse(dt.date(2026, 1, 5), "MO,TU,WE,TH,FR", DAY_SHIFT),
            WeeklyPattern.parse(dt.date(2026, 6, 1), "SA,SU", DAY_SHIFT),
        ),
    )
    assert works_on(nurse, dt.date(2026, 5, 29)) == DAY_SHIFT  # a Friday, first rota
    assert works_on(nurse, dt.date(2026, 5, 30)) is None
    assert works_on(nurse, dt.date(2026, 6, 5)) is None  # a Friday, second rota
    assert works_on(nurse, dt.date(2026, 6, 6)) == DAY_SHIFT


def test_whole_day_absences_remove_the_day() -> None:
    """Leave from 2027-01-01 to 01-02 (included) removes both days, not 01-03."""
    marie = seven_on_seven_off(
        dt.date(2026, 12, 28),
        absences=(Absence("leave", dt.date(2027, 1, 1), dt.date(2027, 1, 2)),),
    )
    assert works_on(marie, dt.date(2027, 1, 1)) is None
    assert works_on(marie, dt.date(2027, 1, 2)) is None
    assert works_on(marie, dt.date(2027, 1, 3)) == DAY_SHIFT
    week = hours_in_week(marie, dt.date(2026, 12, 28))
    assert week.worked_s == 5 * 7.5 * 3600
    assert week.difference_s == 5 * 7.5 * 3600 - 35 * 3600


def test_part_day_absences_trim_the_shift_or_become_a_break() -> None:
    """Training 13:00-15:00 ends the shift at 13:00; an appointment 09:00-10:00 is a break."""
    training = Absence(
        "training",
        dt.date(2026, 12, 29),
        dt.date(2026, 12, 29),
        part=TimeRange.parse("13:00-15:00"),
    )
    doctor = Absence(
        "sickness",
        dt.date(2026, 12, 30),
        dt.date(2026, 12, 30),
        part=TimeRange.parse("09:00-10:00"),
    )
    marie = seven_on_seven_off(dt.date(2026, 12, 28), absences=(training, doctor))
    trimmed = works_on(marie, dt.date(2026, 12, 29))
    assert trimmed == Shift.parse("07:00-13:00", breaks=("12:00-12:30",))
    assert trimmed is not None and trimmed.work_s == 5.5 * 3600
    holed = works_on(marie, dt.date(2026, 12, 30))
    assert holed == Shift.parse("07:00-15:00", breaks=("09:00-10:00", "12:00-12:30"))
    assert holed is not None and holed.work_s == 6.5 * 3600


def test_a_night_shift_counts_real_hours_on_the_change_days() -> None:
    """00:00-08:00 is 7 h of work on 2027-03-28 (spring forward) and 9 h on 2027-10-31."""
    night = Shift.parse("00:00-08:00")
    watcher = Staff(
        staff_id=4,
        name="Jo",
        contract_h_per_week=56.0,
        rotas=(WeeklyPattern.parse(dt.date(2027, 1, 4), "SU", night),),
    )
    assert hours_in_week(watcher, dt.date(2027, 3, 22)).worked_s == 7 * 3600
    assert hours_in_week(watcher, dt.date(2027, 10, 25)).worked_s == 9 * 3600
    assert hours_in_week(watcher, dt.date(2027, 3, 29)).worked_s == 8 * 3600


def test_day_shifts_count_the_same_in_a_week_with_a_change() -> None:
    """The 7-on week holding 2026-03-29 counts 7 x 7.5 h: day shifts do not cross 02:00."""
    marie = seven_on_seven_off(dt.date(2026, 3, 23))
    assert hours_in_week(marie, dt.date(2026, 3, 23)).worked_s == 7 * 7.5 * 3600


def test_the_days_teams_come_from_who_works_and_pairs() -> None:
    """Three at work, two paired: a team of two (their common hours) and a team of one."""
    late = Shift.parse("09:00-17:00")
    people = [
        Staff(1, "Marie", 35.0, rotas=(WeeklyPattern.parse(dt.date(2026, 1, 5), "MO", DAY_SHIFT),)),
        Staff(2, "Paul", 35.0, rotas=(WeeklyPattern.parse(dt.date(2026, 1, 5), "MO", late),)),
        Staff(3, "Lea", 35.0, rotas=(WeeklyPattern.parse(dt.date(2026, 1, 5), "MO", DAY_SHIFT),)),
        Staff(4, "Jo", 35.0, rotas=(WeeklyPattern.parse(dt.date(2026, 1, 5), "TU", DAY_SHIFT),)),
    ]
    monday = dt.date(2026, 1, 12)
    teams = day_teams(people, monday, pairs=((2, 1),))
    assert [t.staff_ids for t in teams] == [(1, 2), (3,)]
    assert teams[0].shift == Shift.parse("09:00-15:00", breaks=("12:00-12:30",))
    assert teams[1].shift == DAY_SHIFT
    assert day_teams(people, dt.date(2026, 1, 13))[0].staff_ids == (4,)
    with pytest.raises(ValidationError, match=r"staff 4 \(Jo\) does not work on 2026-01-12"):
        day_teams(people, monday, pairs=((1, 4),))
    with pytest.raises(ValidationError, match=r"staff 1 \(Marie\) is in two pairs"):
        day_teams(people, monday, pairs=((1, 2), (1, 3)))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Shift.parse("15:00-07:00"), r"15:00-07:00 ends before it starts"),
        (
            lambda: Shift.parse("07:00-15:00", breaks=("06:00-06:30",)),
            r"break 06:00-06:30 is outside",
        ),
        (
            lambda: Shift.parse("07:00-15:00", breaks=("12:00-13:00", "12:30-13:30")),
            r"breaks overlap",
        ),
        (
            lambda: Absence("holiday", dt.date(2026, 1, 1), dt.date(2026, 1, 2)),
            r"leave, sickness, training",
        ),
        (
            lambda: Absence("leave", dt.date(2026, 1, 5), dt.date(2026, 1, 2)),
            r"to_day 2026-01-02 is before from_day 2026-01-05",
        ),
        (
            lambda: WeeklyPattern.parse(dt.date(2026, 1, 5), "MO,XX", DAY_SHIFT),
            r"unknown weekday 'XX'",
        ),
        (lambda: WeeklyPattern.parse(dt.date(2026, 1, 5), "", DAY_SHIFT), r"at least one weekday"),
        (
            lambda: CyclePattern.from_counts(dt.date(2026, 1, 5), (7, 0), DAY_SHIFT),
            r"counts.*at least 1",
        ),
        (
            lambda: CyclePattern.from_booleans(dt.date(2026, 1, 5), (False,), DAY_SHIFT),
            r"never works",
        ),
        (lambda: Staff(1, "Marie", -1.0), r"contract_h_per_week.*0 to 80"),
    ],
)
def test_invalid_rotas_say_what_to_fix(build: object, message: str) -> None:
    """Each invalid shift, absence, pattern or contract raises ValidationError naming the fix."""
    with pytest.raises(ValidationError, match=message):
        build()  # type: ignore[operator]


def test_staff_round_trip_through_a_dict_and_read_the_rest_form() -> None:
    """staff_from_dict reads what to_dict writes, and the short form a REST client sends:
    a cycle as counts or flags with one shift, weekdays as MO,TU,..., part-day absences."""
    from dispatch.care.rota import staff_from_dict

    marie = seven_on_seven_off(
        dt.date(2026, 12, 28),
        absences=(
            Absence("leave", dt.date(2027, 1, 1), dt.date(2027, 1, 2)),
            Absence(
                "training",
                dt.date(2027, 1, 11),
                dt.date(2027, 1, 11),
                part=TimeRange.parse("13:00-15:00"),
            ),
        ),
        skills=("insulin", "wound"),
        gender="female",
    )
    assert staff_from_dict(marie.to_dict()) == marie
    sent = {
        "staff_id": 2,
        "name": "Paul",
        "contract_h_per_week": 30,
        "rotas": [
            {
                "start_day": "2026-01-05",
                "cycle": [7, 7],
                "shift": "07:00-15:00",
                "breaks": ["12:00-12:30"],
            },
            {"start_day": "2026-06-01", "weekdays": "MO,TU,TH,FR", "shift": "08:00-16:00"},
        ],
        "absences": [{"kind": "sickness", "from_day": "2026-02-02", "to_day": "2026-02-03"}],
    }
    paul = staff_from_dict(sent)
    assert paul.rotas[0] == CyclePattern.from_counts(dt.date(2026, 1, 5), (7, 7), DAY_SHIFT)
    assert works_on(paul, dt.date(2026, 2, 2)) is None
    assert works_on(paul, dt.date(2026, 6, 4)) == Shift.parse("08:00-16:00")
    flags = {
        **sent,
        "rotas": [{"start_day": "2026-01-05", "cycle": [True, False], "shift": "07:00-15:00"}],
    }
    assert staff_from_dict(flags).rotas[0].days == (Shift.parse("07:00-15:00"), None)  # type: ignore[union-attr]
    with pytest.raises(ValidationError, match=r"staff: unknown field 'team'"):
        staff_from_dict({**sent, "team": 3})
    with pytest.raises(ValidationError, match=r"rota 1: give one of cycle, days or weekdays"):
        staff_from_dict(
            {
                **sent,
                "rotas": [
                    {
                        "start_day": "2026-01-05",
                        "cycle": [7, 7],
                        "weekdays": "MO",
                        "shift": "07:00-15:00",
                    }
                ],
            }
        )
    with pytest.raises(ValidationError, match=r"absence 1: kind 'holiday'|absence kind 'holiday'"):
        staff_from_dict(
            {
                **sent,
                "absences": [{"kind": "holiday", "from_day": "2026-02-02", "to_day": "2026-02-02"}],
            }
        )
