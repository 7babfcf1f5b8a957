"""The demonstration service (dispatch.care.demo_service): counts, valid plans, workload, homes."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from shapely.geometry import Point

from dispatch.care.demo_service import DemoServices, demo_services
from dispatch.care.generation import generate
from dispatch.care.rota import works_on

MONDAY = dt.date(2027, 1, 4)
#: (patients, staff) ranges per structure: an SSIAD of ~120 places, a nursing centre of ~80
#: patients, a palliative team of ~15.
EXPECTED = {
    "ssiad": ((110, 130), (20, 50)),
    "nursing_centre": ((70, 90), (4, 12)),
    "palliative_team": ((12, 18), (3, 9)),
}


@pytest.fixture(scope="module")
def service(melun) -> DemoServices:  # type: ignore[no-untyped-def]
    return demo_services(melun, seed=0, start_day=MONDAY)


def test_counts_per_structure_are_in_the_expected_ranges(service: DemoServices) -> None:
    assert [s.kind for s in service.structures] == ["ssiad", "nursing_centre", "palliative_team"]
    for s in service.structures:
        (p_lo, p_hi), (s_lo, s_hi) = EXPECTED[s.kind]
        assert p_lo <= len(s.patients) <= p_hi, s.kind
        assert s_lo <= len(s.staff) <= s_hi, s.kind
        assert s.demo and all(p.demo for p in s.patients)
        assert all(c.demo for c in s.care_plans) and all(m.demo for m in s.staff)
        assert "(démo)" in s.name and all("(démo)" in m.staff.name for m in s.staff)
        assert all(p.name.startswith("DÉMO") for p in s.patients)
    ssiad = service.structure("ssiad")
    kinds = [c.template.kind for c in ssiad.care_plans]
    # Hygiene every morning for each patient; insulin for ~15 %, dressings for ~20 %.
    assert kinds.count("hygiene") == len(ssiad.patients)
    assert 0.05 <= kinds.count("insulin") / len(ssiad.patients) <= 0.3
    assert 0.08 <= kinds.count("dressing") / len(ssiad.patients) <= 0.35
    assert any(c.template.staff_count == 2 for c in ssiad.care_plans)
    palliative = service.structure("palliative_team")
    assert any(c.template.staff_count == 2 for c in palliative.care_plans)
    roles = {m.role for m in ssiad.staff}
    assert roles == {"aide", "nurse"}
    assert sum(1 for m in service.staff if m.absences) >= 3


def test_ids_and_pseudonyms_are_unique(service: DemoServices) -> None:
    for values in (
        [p.patient_id for p in service.patients],
        [p.pseudonym for p in service.patients],
        [t.template_id for t in service.templates],
        [m.staff_id for m in service.staff],
    ):
        assert len(values) == len(set(values))
    patients = {p.patient_id for p in service.patients}
    assert {t.patient_id for t in service.templates} == patients


def test_every_template_generates_visits_over_14_days(service: DemoServices) -> None:
    started = time.perf_counter()
    plan = generate(service.templates, (), MONDAY, 14)
    took_s = time.perf_counter() - started
    assert took_s < 5
    with_visits = {o.key.template_id for o in plan.create}
    assert with_visits == {t.template_id for t in service.templates}
    # Running it again against what it created creates nothing.
    assert generate(service.templates, plan.apply(()), MONDAY, 14).counts()["created"] == 0


def test_each_visit_has_staff_with_its_skills(service: DemoServices) -> None:
    for s in service.structures:
        skills = set().union(*(m.staff.skills for m in s.staff))
        for t in s.templates:
            assert set(t.skills) <= skills, (s.kind, t.kind)


@pytest.mark.parametrize("week", [0, 1])
def test_week_hours_fit_the_staff_hours(service: DemoServices, week: int) -> None:
    for s in service.structures:
        load = service.week_load(s.kind, MONDAY + dt.timedelta(days=7 * week))
        # Visits and travel fit the contracts and the hours really rostered that week...
        assert load.need_h <= load.contract_h, s.kind
        assert load.need_h <= load.rostered_h, s.kind
        # ... and the service is not wildly overstaffed (handovers, records: the rest).
        assert load.need_h >= 0.3 * load.contract_h, s.kind
        assert load.travel_h > 0 and load.visits > 0
    ssiad = service.week_load("ssiad")
    assert 800 <= ssiad.visits <= 2000


def test_ssiad_aides_see_8_to_10_patients_a_morning_or_fewer(service: DemoServices) -> None:
    ssiad = service.structure("ssiad")
    plan = generate(ssiad.templates, (), MONDAY, 14)
    for i in range(14):
        day = MONDAY + dt.timedelta(days=i)
        mornings = sum(
            o.staff_count for o in plan.create if o.kind == "hygiene" and o.key.day == day
        )
        workers = [
            m
            for m in ssiad.staff
            if m.role == "aide"
            and (shift := works_on(m.staff, day))
            and shift.span.start_s < 9 * 3600
        ]
        assert 5 <= mornings / len(workers) <= 10, day


def test_the_same_seed_gives_the_same_service(melun, service: DemoServices) -> None:  # type: ignore[no-untyped-def]
    again = demo_services(melun, seed=0, start_day=MONDAY)
    assert again == service
    other = demo_services(melun, seed=1, start_day=MONDAY)
    assert [p.lon for p in other.patients] != [p.lon for p in service.patients]


def test_homes_are_inside_the_territory(melun, service: DemoServices) -> None:  # type: ignore[no-untyped-def]
    area = melun.boundary.buffer(0.002)
    for p in service.patients:
        assert area.contains(Point(p.lon, p.lat)), p.pseudonym
    assert len({p.commune for p in service.patients}) >= 3


@pytest.mark.slow
def test_haute_corse_service(haute_corse) -> None:  # type: ignore[no-untyped-def]
    service = demo_services(haute_corse, seed=0, start_day=MONDAY)
    area = haute_corse.boundary.buffer(0.002)
    assert all(area.contains(Point(p.lon, p.lat)) for p in service.patients)
    assert service.structure("ssiad").commune == "Bastia"
    assert len(service.structure("ssiad").patients) == 120
    for s in service.structures:
        load = service.week_load(s.kind)
        assert 0.3 * load.contract_h <= load.need_h <= min(load.contract_h, load.rostered_h)
    plan = generate(service.templates, (), MONDAY, 14)
    assert {o.key.template_id for o in plan.create} == {t.template_id for t in service.templates}


def test_records_round_trip_through_json(service: DemoServices) -> None:
    import json

    from dispatch.care.recurrence import template_from_dict
    from dispatch.care.rota import staff_from_dict

    data = json.loads(json.dumps(service.to_dict()))
    assert data["demo"] and data["start_day"] == MONDAY.isoformat()
    for structure, raw in zip(service.structures, data["structures"], strict=True):
        assert raw["demo"] and len(raw["patients"]) == len(structure.patients)
        plans = [
            template_from_dict({k: v for k, v in c.items() if k not in ("label", "demo")})
            for c in raw["care_plans"]
        ]
        assert plans == structure.templates
        staff = [
            staff_from_dict({k: v for k, v in m.items() if k not in ("role", "demo")})
            for m in raw["staff"]
        ]
        assert staff == [m.staff for m in structure.staff]
        assert all(p["demo"] and p["pseudonym"].startswith("Patient ") for p in raw["patients"])
