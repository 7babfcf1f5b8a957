"""Care-plan recurrence on its own: RRULE templates, exceptions, additions and Paris DST."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatch.care.recurrence import (
    LocalWindow,
    StaffWishes,
    VisitTemplate,
    occurrences,
    template_from_dict,
)
from dispatch.errors import ValidationError

PARIS = ZoneInfo("Europe/Paris")
UTC = dt.UTC


def template(**changes: Any) -> VisitTemplate:
    """Insulin twice a day, every day from 2026-01-05, unless ``changes`` say otherwise."""
    fields: dict[str, Any] = {
        "template_id": 7,
        "patient_id": 3,
        "kind": "insulin",
        "duration_s": 900,
        "windows": (LocalWindow.parse("08:00-10:00"), LocalWindow.parse("18:00-20:00")),
        "rrule": "FREQ=DAILY",
        "start_day": dt.date(2026, 1, 5),
        "skills": ("insulin",),
    }
    fields.update(changes)
    return VisitTemplate(**fields)


def test_twice_daily_gives_two_visits_a_day_keyed_by_window() -> None:
    """Insulin twice a day over 14 days is 28 visits, one per (day, window), keys all distinct."""
    found = occurrences(template(), dt.date(2026, 2, 2), 14)
    assert len(found) == 28
    assert len({o.key for o in found}) == 28
    assert {o.key.window_index for o in found} == {0, 1}
    first, second = found[0], found[1]
    assert first.key.day == second.key.day == dt.date(2026, 2, 2)
    assert (first.start.hour, first.end.hour, second.start.hour, second.end.hour) == (8, 10, 18, 20)
    assert first.start.tzinfo is not None
    assert first.end_epoch_s - first.start_epoch_s == 2 * 3600


def test_weekly_dressing_falls_on_monday_wednesday_friday_only() -> None:
    """FREQ=WEEKLY;BYDAY=MO,WE,FR gives visits on those weekdays, three a week."""
    t = template(rrule="FREQ=WEEKLY;BYDAY=MO,WE,FR", windows=(LocalWindow.parse("09:00-12:00"),))
    found = occurrences(t, dt.date(2026, 2, 2), 14)
    assert {o.key.day.weekday() for o in found} == {0, 2, 4}
    assert len(found) == 6


@given(offset=st.integers(min_value=0, max_value=800))
def test_every_other_week_keeps_the_phase_of_its_start_date(offset: int) -> None:
    """An assessment every other Tuesday falls on even weeks counted from start_day, whatever
    the first day asked."""
    start = dt.date(2026, 1, 6)  # a Tuesday
    t = template(
        rrule="FREQ=WEEKLY;INTERVAL=2;BYDAY=TU",
        windows=(LocalWindow.parse("14:00-16:00"),),
        start_day=start,
    )
    found = occurrences(t, start + dt.timedelta(days=offset), 28)
    assert len(found) == 2
    for o in found:
        assert (o.key.day - start).days % 14 == 0


def test_start_and_end_days_bound_the_occurrences() -> None:
    """Nothing before start_day nor after end_day (both included)."""
    t = template(start_day=dt.date(2026, 3, 3), end_day=dt.date(2026, 3, 6))
    days = sorted({o.key.day for o in occurrences(t, dt.date(2026, 3, 1), 10)})
    assert days == [dt.date(2026, 3, d) for d in (3, 4, 5, 6)]


def test_a_window_to_midnight_ends_at_24_00() -> None:
    """A 22:00-24:00 window ends at the next local midnight, shown as 24:00 of its day."""
    (o,) = occurrences(
        template(windows=(LocalWindow.parse("22:00-24:00"),)), dt.date(2026, 10, 24), 1
    )
    assert o.end.astimezone(PARIS) == dt.datetime(2026, 10, 25, 0, 0, tzinfo=PARIS)
    assert o.end_epoch_s - o.start_epoch_s == 2 * 3600
    assert o.wall_window == LocalWindow(22 * 3600, 24 * 3600)


def test_exceptions_skip_a_day_and_additions_add_one() -> None:
    """An exception date has no visit; a one-off addition has the template's visits."""
    t = template(
        rrule="FREQ=WEEKLY;BYDAY=MO",
        windows=(LocalWindow.parse("09:00-10:00"),),
        exceptions=frozenset({dt.date(2026, 2, 9)}),
        additions=frozenset({dt.date(2026, 2, 11)}),
    )
    days = [o.key.day for o in occurrences(t, dt.date(2026, 2, 2), 14)]
    assert days == [dt.date(2026, 2, 2), dt.date(2026, 2, 11)]


@pytest.mark.parametrize(
    ("day", "utc_hour"),
    [
        ("2026-03-28", 7),  # winter time, UTC+1
        ("2026-03-29", 6),  # spring forward: summer time, UTC+2
        ("2026-10-24", 6),
        ("2026-10-25", 7),  # fall back: winter time again
        ("2027-03-27", 7),
        ("2027-03-28", 6),
        ("2027-10-30", 6),
        ("2027-10-31", 7),
    ],
)
def test_eight_o_clock_stays_eight_o_clock_across_daylight_saving(day: str, utc_hour: int) -> None:
    """The 08:00 window is 08:00 on Paris clocks on both sides of each DST change of 2026 and
    2027, so its UTC hour moves by one."""
    d = dt.date.fromisoformat(day)
    (morning, _evening) = occurrences(template(), d, 1)
    assert morning.start.astimezone(PARIS).hour == 8
    assert dt.datetime.fromtimestamp(morning.start_epoch_s, UTC).hour == utc_hour
    assert morning.window == morning.wall_window == LocalWindow.parse("08:00-10:00")
    assert not morning.shifted


def test_a_day_of_visits_is_23_or_25_hours_apart_on_the_change_days() -> None:
    """Consecutive 08:00 visits are 23 h apart over the spring change and 25 h over the autumn one."""
    found = occurrences(
        template(windows=(LocalWindow.parse("08:00-10:00"),)), dt.date(2026, 3, 28), 2
    )
    assert found[1].start_epoch_s - found[0].start_epoch_s == 23 * 3600
    found = occurrences(
        template(windows=(LocalWindow.parse("08:00-10:00"),)), dt.date(2026, 10, 24), 2
    )
    assert found[1].start_epoch_s - found[0].start_epoch_s == 25 * 3600


@given(
    day=st.dates(min_value=dt.date(2026, 1, 5), max_value=dt.date(2030, 12, 31)),
    start_min=st.integers(min_value=4 * 60, max_value=22 * 60),
    length_min=st.integers(min_value=15, max_value=90),
)
def test_wall_clock_of_every_window_is_kept_any_day(
    day: dt.date, start_min: int, length_min: int
) -> None:
    """Outside the night hours of the changes, a window's start and end are its wall-clock times
    in Paris on every day of 2026-2030."""
    w = LocalWindow(start_min * 60, start_min * 60 + length_min * 60)
    (o,) = occurrences(template(windows=(w,)), day, 1)
    local = o.start.astimezone(PARIS)
    assert local.date() == day
    assert local.hour * 3600 + local.minute * 60 == w.start_s
    assert o.end_epoch_s - o.start_epoch_s == w.end_s - w.start_s


def test_a_window_in_the_spring_gap_is_shifted_forward() -> None:
    """02:30 does not exist in Paris on 2026-03-29: the rule (RFC 5545) reads it with the offset
    before the gap, so 02:30 becomes 03:30 summer time, and the occurrence says it was shifted."""
    t = template(windows=(LocalWindow.parse("02:30-04:00"),))
    (o,) = occurrences(t, dt.date(2026, 3, 29), 1)
    assert o.shifted
    assert o.start.astimezone(PARIS).strftime("%H:%M") == "03:30"
    assert o.start_epoch_s == int(dt.datetime(2026, 3, 29, 1, 30, tzinfo=UTC).timestamp())
    assert o.end.astimezone(PARIS).strftime("%H:%M") == "04:00"
    assert o.window == LocalWindow.parse("02:30-04:00")
    assert o.wall_window == LocalWindow.parse("03:30-04:00")
    (before,) = occurrences(t, dt.date(2026, 3, 28), 1)
    assert not before.shifted


def test_a_window_in_the_spring_gap_can_be_refused() -> None:
    """With nonexistent="error", a window that does not exist raises a message naming it."""
    t = template(windows=(LocalWindow.parse("02:30-04:00"),))
    with pytest.raises(ValidationError, match=r"02:30 does not exist .*2026-03-29"):
        occurrences(t, dt.date(2026, 3, 29), 1, nonexistent="error")


def test_an_ambiguous_window_takes_the_first_instant_or_is_refused() -> None:
    """02:30 happens twice in Paris on 2026-10-25: by default the first (summer time, 00:30 UTC),
    "later" the second, and "error" refuses with a message naming the day."""
    t = template(windows=(LocalWindow.parse("02:30-03:30"),))
    (first,) = occurrences(t, dt.date(2026, 10, 25), 1)
    assert first.start_epoch_s == int(dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC).timestamp())
    (second,) = occurrences(t, dt.date(2026, 10, 25), 1, ambiguous="later")
    assert second.start_epoch_s == int(dt.datetime(2026, 10, 25, 1, 30, tzinfo=UTC).timestamp())
    with pytest.raises(ValidationError, match=r"02:30 happens twice .*2026-10-25"):
        occurrences(t, dt.date(2026, 10, 25), 1, ambiguous="error")


def test_wishes_and_two_person_flag_are_carried_into_each_occurrence() -> None:
    """Preferred and excluded staff, the gender preference and staff_count reach every visit."""
    wishes = StaffWishes(preferred_staff_ids=(4, 2), excluded_staff_ids=(9,), gender="female")
    t = template(wishes=wishes, staff_count=2, priority=3)
    for o in occurrences(t, dt.date(2026, 2, 2), 3):
        assert o.wishes == StaffWishes(
            preferred_staff_ids=(2, 4), excluded_staff_ids=(9,), gender="female"
        )
        assert o.staff_count == 2
        assert o.priority == 3
        assert o.skills == ("insulin",)
        assert o.kind == "insulin"
        assert o.patient_id == 3


def test_the_fingerprint_changes_with_the_content_only() -> None:
    """Two runs give the same fingerprints; a change of duration changes them."""
    a = occurrences(template(), dt.date(2026, 2, 2), 2)
    b = occurrences(template(), dt.date(2026, 2, 2), 2)
    c = occurrences(template(duration_s=1200), dt.date(2026, 2, 2), 2)
    assert [o.fingerprint for o in a] == [o.fingerprint for o in b]
    assert all(x.fingerprint != y.fingerprint for x, y in zip(a, c, strict=True))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"rrule": "FREQ=SOMETIMES"}, r"FREQ=SOMETIMES.*DAILY, WEEKLY, MONTHLY or YEARLY"),
        ({"rrule": "every day"}, r"not an RFC 5545 rule.*FREQ=WEEKLY;BYDAY=MO,WE,FR"),
        ({"rrule": ""}, r"rrule is empty"),
        ({"rrule": "FREQ=WEEKLY;BYDAY=MO,XX"}, r"unknown weekday 'XX'.*MO, TU, WE, TH, FR, SA, SU"),
        ({"rrule": "FREQ=HOURLY"}, r"HOURLY.*windows"),
        ({"rrule": "FREQ=DAILY;BYHOUR=8"}, r"BYHOUR.*windows"),
        ({"rrule": "FREQ=DAILY;FOO=1"}, r"unknown part 'FOO'"),
        ({"rrule": "DTSTART:20260101T000000\nRRULE:FREQ=DAILY"}, r"one RRULE line.*start_day"),
        ({"rrule": "FREQ=DAILY;UNTIL=20260110T000000Z"}, r"UNTIL.*date"),
        ({"rrule": "FREQ=WEEKLY;INTERVAL=0"}, r"INTERVAL=0.*1 to 1000"),
        ({"rrule": "FREQ=DAILY;INTERVAL=-2"}, r"INTERVAL=-2.*1 to 1000"),
        ({"rrule": "FREQ=MONTHLY;BYMONTHDAY=40"}, r"BYMONTHDAY=40.*1 to 31"),
        ({"rrule": "FREQ=YEARLY;BYMONTH=13"}, r"BYMONTH=13.*1 to 12"),
        ({"rrule": "FREQ=WEEKLY;BYDAY=MO;BYDAY=TU"}, r"BYDAY is given twice"),
        ({"rrule": "FREQ=WEEKLY;BYDAY=1MO"}, r"BYDAY=1MO.*MONTHLY or YEARLY"),
        ({"rrule": "FREQ=DAILY;BYMONTHDAY=1"}, r"BYMONTHDAY.*FREQ=DAILY.*MONTHLY"),
        ({"rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}, r"gives no day.*February has no 30th"),
        ({"rrule": "FREQ=MONTHLY;BYMONTH=4;BYMONTHDAY=31"}, r"gives no day"),
        ({"rrule": "FREQ=DAILY;INTERVAL=7;BYDAY=TU"}, r"every 7 days from a Monday.*never"),
        (
            {
                "rrule": "FREQ=WEEKLY;BYDAY=MO",
                "end_day": dt.date(2026, 1, 10),
                "start_day": dt.date(2026, 1, 6),
            },
            r"gives no day from start_day 2026-01-06 to end_day 2026-01-10",
        ),
        ({"end_day": dt.date(2026, 1, 1)}, r"end_day 2026-01-01 is before start_day 2026-01-05"),
        ({"windows": ()}, r"at least one window"),
        (
            {"windows": (LocalWindow.parse("08:00-10:00"), LocalWindow.parse("09:00-11:00"))},
            r"overlap",
        ),
        ({"staff_count": 3}, r"staff_count.*1 or 2"),
        ({"duration_s": 0}, r"duration_s"),
        ({"priority": 9}, r"priority.*0 to 3"),
        ({"kind": ""}, r"kind"),
        (
            {
                "exceptions": frozenset({dt.date(2026, 2, 2)}),
                "additions": frozenset({dt.date(2026, 2, 2)}),
            },
            r"2026-02-02 is both an exception and an addition",
        ),
    ],
)
def test_invalid_templates_say_what_to_fix(changes: dict[str, Any], message: str) -> None:
    """Each invalid field raises ValidationError with a message naming it and the fix; a rule
    that gives no day at all is refused too (generation would walk every day to year 9999)."""
    with pytest.raises(ValidationError, match=message):
        template(**changes)


def test_invalid_wishes_and_windows_say_what_to_fix() -> None:
    """Staff both preferred and excluded, an unknown gender and a malformed window are refused."""
    with pytest.raises(ValidationError, match=r"staff 4 is both preferred and excluded"):
        StaffWishes(preferred_staff_ids=(4,), excluded_staff_ids=(4,))
    with pytest.raises(ValidationError, match=r"gender.*female, male"):
        StaffWishes(gender="robot")
    with pytest.raises(ValidationError, match=r'"8h-10h" is not a window.*08:00-10:00'):
        LocalWindow.parse("8h-10h")
    with pytest.raises(ValidationError, match=r"09:00-08:00 ends before it starts"):
        LocalWindow.parse("09:00-08:00")
    with pytest.raises(ValidationError, match=r"outside the day"):
        LocalWindow.parse("23:00-25:00")


def test_bad_arguments_to_occurrences_are_refused() -> None:
    """A horizon of 0 days or an unknown time zone is refused with the fix."""
    with pytest.raises(ValidationError, match=r"days.*1 to 366"):
        occurrences(template(), dt.date(2026, 2, 2), 0)
    with pytest.raises(ValidationError, match=r"time zone 'Europe/Pariss'"):
        occurrences(template(), dt.date(2026, 2, 2), 1, "Europe/Pariss")


def test_a_template_round_trips_through_a_dict() -> None:
    """template_from_dict reads what to_dict writes, and reads the form a REST client sends."""
    t = template(
        exceptions=frozenset({dt.date(2026, 2, 9)}),
        wishes=StaffWishes(preferred_staff_ids=(2,), gender="male"),
        staff_count=2,
    )
    assert template_from_dict(t.to_dict()) == t
    sent = {
        "template_id": 1,
        "patient_id": 2,
        "kind": "dressing",
        "duration_s": 1800,
        "windows": ["09:00-12:00"],
        "rrule": "RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR",
        "start_day": "2026-02-02",
        "exceptions": ["2026-02-04"],
    }
    parsed = template_from_dict(sent)
    assert parsed.windows == (LocalWindow(9 * 3600, 12 * 3600),)
    assert parsed.rrule == "FREQ=WEEKLY;BYDAY=MO,WE,FR"
    with pytest.raises(ValidationError, match=r"care plan: unknown field 'colour'"):
        template_from_dict({**sent, "colour": "red"})
    with pytest.raises(ValidationError, match=r"start_day.*YYYY-MM-DD"):
        template_from_dict({**sent, "start_day": "02/02/2026"})


@given(
    freq=st.sampled_from(["DAILY", "WEEKLY"]),
    interval=st.integers(min_value=1, max_value=4),
    byday=st.sets(st.sampled_from(["MO", "TU", "WE", "TH", "FR", "SA", "SU"]), max_size=3),
    wkst=st.sampled_from(["", ";WKST=SU"]),
    start=st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2027, 1, 1)),
    offset=st.integers(min_value=-30, max_value=2500),
)
def test_days_far_from_the_start_are_those_of_the_whole_rule(
    freq: str, interval: int, byday: set[str], wkst: str, start: dt.date, offset: int
) -> None:
    """Days asked years after start_day (computed from a later anchor) are those the rule gives
    when walked from start_day."""
    from dateutil.rrule import rrulestr

    text = (
        f"FREQ={freq};INTERVAL={interval}"
        + (f";BYDAY={','.join(sorted(byday))}" if byday else "")
        + wkst
    )
    t = template(rrule=text, start_day=start)
    first = start + dt.timedelta(days=offset)
    last = first + dt.timedelta(days=20)
    whole = rrulestr("RRULE:" + text, dtstart=dt.datetime.combine(start, dt.time()))
    expected = [
        d.date()
        for d in whole.between(
            dt.datetime.combine(first, dt.time()), dt.datetime.combine(last, dt.time()), inc=True
        )
    ]
    assert t.days(first, last) == expected


def test_the_examples_in_the_care_docstrings_hold() -> None:
    """Every example in dispatch.care's docstrings runs and prints what it shows."""
    import doctest
    import importlib

    for name in ("times", "recurrence", "rota", "generation", "matching"):
        module = importlib.import_module(f"dispatch.care.{name}")
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0, name
        assert result.attempted > 0, name
