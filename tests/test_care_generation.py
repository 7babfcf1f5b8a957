"""Visit generation on its own: a pure diff between care plans and the visits already generated."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.care.generation import (
    DEFAULT_HORIZON_DAYS,
    ExistingOccurrence,
    Suspension,
    generate,
)
from dispatch.care.recurrence import LocalWindow, VisitTemplate
from dispatch.errors import ValidationError

MONDAY = dt.date(2026, 3, 23)  # the week of the spring change


def insulin(**changes: Any) -> VisitTemplate:
    """Patient 3's insulin twice a day, every day from 2026-03-01."""
    fields: dict[str, Any] = {
        "template_id": 7,
        "patient_id": 3,
        "kind": "insulin",
        "duration_s": 900,
        "windows": (LocalWindow.parse("08:00-10:00"), LocalWindow.parse("18:00-20:00")),
        "rrule": "FREQ=DAILY",
        "start_day": dt.date(2026, 3, 1),
    }
    fields.update(changes)
    return VisitTemplate(**fields)


def dressing(**changes: Any) -> VisitTemplate:
    """Patient 5's wound dressing on Monday, Wednesday and Friday."""
    fields: dict[str, Any] = {
        "template_id": 8,
        "patient_id": 5,
        "kind": "dressing",
        "duration_s": 1800,
        "windows": (LocalWindow.parse("09:00-12:00"),),
        "rrule": "FREQ=WEEKLY;BYDAY=MO,WE,FR",
        "start_day": dt.date(2026, 3, 1),
    }
    fields.update(changes)
    return VisitTemplate(**fields)


def at(day: dt.date, hhmm: str) -> float:
    """Unix time of ``hhmm`` on ``day`` in Paris."""
    from zoneinfo import ZoneInfo

    h, m = map(int, hhmm.split(":"))
    return dt.datetime(
        day.year, day.month, day.day, h, m, tzinfo=ZoneInfo("Europe/Paris")
    ).timestamp()


def edit_by_hand(existing: tuple[ExistingOccurrence, ...], day: dt.date, index: int = 0):
    """The visits with the one of ``day`` (window ``index``) marked as edited by hand."""
    return tuple(
        dataclasses.replace(e, hand_edited=True)
        if (e.key.day, e.key.window_index) == (day, index)
        else e
        for e in existing
    )


def test_the_first_run_creates_the_horizon_and_a_second_creates_nothing() -> None:
    """14 days by default: 28 insulin visits and 6 dressings; run again, all 34 are unchanged."""
    assert DEFAULT_HORIZON_DAYS == 14
    templates = [insulin(), dressing()]
    first = generate(templates, (), MONDAY)
    assert first.counts() == {"created": 34, "unchanged": 0, "cancelled": 0, "updated": 0}
    existing = first.apply(())
    second = generate(templates, existing, MONDAY)
    assert second.counts() == {"created": 0, "unchanged": 34, "cancelled": 0, "updated": 0}
    assert second.apply(existing) == existing


@settings(max_examples=40, deadline=None)
@given(
    first_day=st.dates(min_value=dt.date(2026, 3, 1), max_value=dt.date(2027, 12, 31)),
    shift_days=st.integers(min_value=0, max_value=20),
    days=st.integers(min_value=1, max_value=21),
)
def test_overlapping_runs_create_each_visit_once(
    first_day: dt.date, shift_days: int, days: int
) -> None:
    """Runs over overlapping horizons never create a visit twice: the keys created by the two
    runs are disjoint, and a third run creates nothing."""
    templates = [insulin(), dressing()]
    one = generate(templates, (), first_day, days)
    existing = one.apply(())
    later = first_day + dt.timedelta(days=shift_days)
    two = generate(templates, existing, later, days)
    assert not {o.key for o in one.create} & {o.key for o in two.create}
    existing = two.apply(existing)
    assert len({e.key for e in existing}) == len(existing)
    assert generate(templates, existing, later, days).counts()["created"] == 0


def test_a_suspension_cancels_its_visits_including_hand_edited_ones() -> None:
    """Hospital from Wednesday to Friday: the 6 visits of those days are cancelled, the one edited
    by hand too (the patient is not at home); the others are unchanged; a rerun changes nothing."""
    existing = generate([insulin()], (), MONDAY, 7).apply(())
    wednesday, friday = MONDAY + dt.timedelta(days=2), MONDAY + dt.timedelta(days=4)
    existing = edit_by_hand(existing, wednesday)
    stay = Suspension(patient_id=3, from_day=wednesday, to_day=friday, reason="hospitalisation")
    plan = generate([insulin()], existing, MONDAY, 7, suspensions=[stay])
    assert plan.counts() == {"created": 0, "unchanged": 8, "cancelled": 6, "updated": 0}
    assert {c.key.day for c in plan.cancel} == {wednesday, wednesday + dt.timedelta(days=1), friday}
    assert {c.reason for c in plan.cancel} == {"suspended"}
    existing = plan.apply(existing)
    assert sum(e.status == "cancelled" for e in existing) == 6
    again = generate([insulin()], existing, MONDAY, 7, suspensions=[stay])
    assert again.counts() == {"created": 0, "unchanged": 14, "cancelled": 0, "updated": 0}


def test_a_suspension_stops_creation_and_only_touches_its_patient() -> None:
    """Generated during an open-ended suspension, the patient gets no visits; the other patient
    gets theirs; the skipped keys are listed."""
    stay = Suspension(patient_id=3, from_day=MONDAY, to_day=None, reason="hospitalisation")
    plan = generate([insulin(), dressing()], (), MONDAY, 7, suspensions=[stay])
    assert {o.key.template_id for o in plan.create} == {8}
    assert len(plan.suspended) == 14


def test_the_end_of_a_suspension_brings_its_visits_back() -> None:
    """Home on Thursday evening instead of Friday evening: Friday's visits cancelled by the
    suspension are planned again (updates, reason 'reinstated'), the one edited by hand with its
    edits (no new content); a visit the coordinator cancelled by hand stays cancelled."""
    existing = generate([insulin()], (), MONDAY, 7).apply(())
    wednesday, friday = MONDAY + dt.timedelta(days=2), MONDAY + dt.timedelta(days=4)
    saturday = friday + dt.timedelta(days=1)
    existing = edit_by_hand(existing, friday, 1)  # Friday evening edited before the stay
    long_stay = Suspension(3, wednesday, friday, "hospitalisation")
    existing = generate([insulin()], existing, MONDAY, 7, suspensions=[long_stay]).apply(existing)
    existing = tuple(  # the coordinator cancels Saturday morning by hand
        dataclasses.replace(e, status="cancelled", hand_edited=True)
        if (e.key.day, e.key.window_index) == (saturday, 0)
        else e
        for e in existing
    )
    short_stay = Suspension(3, wednesday, friday - dt.timedelta(days=1), "hospitalisation")
    plan = generate([insulin()], existing, MONDAY, 7, suspensions=[short_stay])
    assert [(u.key.day, u.key.window_index, u.reason) for u in plan.update] == [
        (friday, 0, "reinstated"),
        (friday, 1, "reinstated"),
    ]
    assert plan.update[0].occurrence is not None and plan.update[1].occurrence is None
    existing = plan.apply(existing)
    stored = {(e.key.day, e.key.window_index): e for e in existing}
    assert stored[(friday, 0)].status == stored[(friday, 1)].status == "planned"
    assert stored[(friday, 1)].hand_edited
    assert stored[(saturday, 0)].status == "cancelled"
    again = generate([insulin()], existing, MONDAY, 7, suspensions=[short_stay])
    assert again.counts()["updated"] == again.counts()["cancelled"] == 0


def test_hand_edits_survive_a_care_plan_change() -> None:
    """The morning window moves to 07:00-09:00: every future visit not edited by hand is updated,
    the edited one is kept as it is (listed in kept)."""
    existing = generate([insulin()], (), MONDAY, 7).apply(())
    tuesday = MONDAY + dt.timedelta(days=1)
    existing = edit_by_hand(existing, tuesday)
    changed = insulin(windows=(LocalWindow.parse("07:00-09:00"), LocalWindow.parse("18:00-20:00")))
    plan = generate([changed], existing, MONDAY, 7)
    assert plan.counts() == {"created": 0, "unchanged": 8, "cancelled": 0, "updated": 6}
    assert {u.reason for u in plan.update} == {"plan_changed"}
    assert [(k.day, k.window_index) for k in plan.kept] == [(tuesday, 0)]
    existing = plan.apply(existing)
    assert generate([changed], existing, MONDAY, 7).counts()["updated"] == 0
    edited = next(e for e in existing if (e.key.day, e.key.window_index) == (tuesday, 0))
    assert edited.hand_edited and edited.start_epoch_s == at(tuesday, "08:00")


def test_a_care_plan_change_leaves_the_past_alone() -> None:
    """Changed on Wednesday at 12:00: visits that started before (and done ones) are unchanged;
    Wednesday evening onwards is regenerated."""
    existing = generate([insulin()], (), MONDAY, 7).apply(())
    wednesday = MONDAY + dt.timedelta(days=2)
    changed = insulin(duration_s=1200)
    plan = generate([changed], existing, MONDAY, 7, now_s=at(wednesday, "12:00"))
    assert plan.counts() == {"created": 0, "unchanged": 5, "cancelled": 0, "updated": 9}
    assert min((u.key.day, u.key.window_index) for u in plan.update) == (wednesday, 1)


def test_visits_the_plan_no_longer_gives_are_cancelled_unless_edited_by_hand() -> None:
    """The plan ends on Thursday: Friday to Sunday's visits are cancelled ('no_longer_planned'),
    except one edited by hand, which is kept."""
    existing = generate([insulin()], (), MONDAY, 7).apply(())
    saturday = MONDAY + dt.timedelta(days=5)
    existing = edit_by_hand(existing, saturday)
    ended = insulin(end_day=MONDAY + dt.timedelta(days=3))
    plan = generate([ended], existing, MONDAY, 7)
    assert plan.counts() == {"created": 0, "unchanged": 9, "cancelled": 5, "updated": 0}
    assert {c.reason for c in plan.cancel} == {"no_longer_planned"}
    assert [(k.day, k.window_index) for k in plan.kept] == [(saturday, 0)]


def test_visits_outside_the_horizon_or_of_other_plans_are_not_touched() -> None:
    """A run over the first week of two leaves the second week and another plan's visits alone,
    even when its own plan ended."""
    existing = generate([insulin(), dressing()], (), MONDAY, 14).apply(())
    plan = generate([insulin(end_day=MONDAY - dt.timedelta(days=1))], existing, MONDAY, 7)
    assert {c.key.day for c in plan.cancel} <= {MONDAY + dt.timedelta(days=i) for i in range(7)}
    assert {c.key.template_id for c in plan.cancel} == {7}
    assert plan.counts()["cancelled"] == 14


def test_invalid_generation_input_says_what_to_fix() -> None:
    """Two plans with one id, a suspension ending before it starts, a bad horizon are refused."""
    with pytest.raises(ValidationError, match=r"care plan 7 is given twice"):
        generate([insulin(), insulin()], (), MONDAY)
    with pytest.raises(ValidationError, match=r"to_day 2026-03-20 is before from_day 2026-03-25"):
        Suspension(3, dt.date(2026, 3, 25), dt.date(2026, 3, 20), "hospitalisation")
    with pytest.raises(ValidationError, match=r"days.*1 to 366"):
        generate([insulin()], (), MONDAY, 400)
    with pytest.raises(ValidationError, match=r"status 'lost'.*planned"):
        ExistingOccurrence(
            key=generate([insulin()], (), MONDAY, 1).create[0].key,
            fingerprint="x",
            start_epoch_s=0,
            status="lost",
        )


def test_suspensions_and_stored_visits_round_trip_through_dicts() -> None:
    """suspension_from_dict and ExistingOccurrence.from_dict read what to_dict writes and the
    REST form (to_day null: until further notice)."""
    from dispatch.care.generation import suspension_from_dict

    stay = Suspension(3, dt.date(2026, 3, 25), None, "hospitalisation")
    assert suspension_from_dict(stay.to_dict()) == stay
    assert suspension_from_dict(
        {
            "patient_id": 3,
            "from_day": "2026-03-25",
            "to_day": "2026-03-27",
            "reason": "hospitalisation",
        }
    ).to_day == dt.date(2026, 3, 27)
    with pytest.raises(ValidationError, match=r"suspension: unknown field 'ward'"):
        suspension_from_dict({**stay.to_dict(), "ward": "B"})
    for e in generate([insulin()], (), MONDAY, 2).apply(()):
        cancelled = dataclasses.replace(
            e, status="cancelled", cancelled_by="suspended", hand_edited=True
        )
        assert ExistingOccurrence.from_dict(cancelled.to_dict()) == cancelled
