"""Visits generated from stored care plans: idempotence, suspensions, hand edits, plan changes,
discharge, deleted plans, DST, structure scope and what is published (issue 22, item 5)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dispatch.care.service import generate_visits
from dispatch.errors import NotFoundError, ValidationError
from dispatch.store import Store
from tests.generation_support import (
    add_care_plan,
    add_patient,
    add_structure,
    execute,
    set_template,
    sql,
)

PARIS = ZoneInfo("Europe/Paris")
MONDAY = dt.date(2026, 3, 16)


class FakeBus:
    def __init__(self) -> None:
        self.published: list[tuple[str, Any]] = []

    def publish(self, topic: str, payload: Any) -> int:
        self.published.append((topic, payload))
        return 1


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "db.sqlite")
    yield s
    s.close()


@pytest.fixture
def world(store):
    structure = add_structure(store, "SSIAD de Bastia")
    patient = add_patient(store, structure)
    plan = add_care_plan(store, patient, structure)
    return {"structure": structure, "patient": patient, "plan": plan}


def run(store: Store, **kwargs: Any):
    kwargs.setdefault("from_day", MONDAY)
    kwargs.setdefault("days", 14)
    kwargs.setdefault("now_s", 0)
    return generate_visits(store, **kwargs)


def visits(store: Store, where: str = "1", args: tuple = ()) -> list[dict[str, Any]]:
    return sql(
        store,
        f"SELECT * FROM visits WHERE occurrence_key IS NOT NULL AND {where} ORDER BY occurrence_key",
        args,
    )


def instant(day: dt.date, hhmm: str) -> int:
    h, m = map(int, hhmm.split(":"))
    return int(dt.datetime.combine(day, dt.time(h, m), PARIS).timestamp())


def test_generation_is_idempotent_and_fills_every_column(store, world):
    first = run(store)
    assert (first.created, first.unchanged, first.cancelled, first.updated) == (28, 0, 0, 0)
    again = run(store)
    assert again.to_dict() | {"duration_s": 0} == {
        "from": "2026-03-16",
        "days": 14,
        "created": 0,
        "updated": 0,
        "unchanged": 28,
        "cancelled": 0,
        "kept": 0,
        "suspended": 0,
        "duration_s": 0,
    }
    rows = visits(store)
    assert len(rows) == 28
    v = next(r for r in rows if r["occurrence_key"] == f"{world['plan']}/2026-03-16/1")
    assert v["day"] == "2026-03-16"
    assert v["pseudonym"] == "Patient 0A1B"
    assert (v["address"], v["commune"], v["lon"], v["lat"]) == (
        "1 rue du Port",
        "Bastia",
        9.45,
        42.70,
    )
    assert json.loads(v["windows"]) == [[18 * 3600, 19 * 3600]]
    assert (v["duration_s"], v["priority"], v["staff_count"]) == (900, 3, 1)
    assert json.loads(v["skills"]) == ["insulin"]
    assert v["care_kind"] == "nursing"
    assert v["status"] == "planned" and v["team_id"] is None
    assert json.loads(v["protected"]) == {
        "name": "Marie Santoni",
        "phone": "04 95 00 00 00",
        "address_details": "code 1234",
        "notes": "Insuline matin et soir",
    }
    assert (v["structure_id"], v["patient_id"], v["care_plan_id"]) == (
        world["structure"],
        world["patient"],
        world["plan"],
    )
    assert v["start_epoch_s"] == instant(MONDAY, "18:00")
    assert v["fingerprint"] and v["hand_edited"] == 0 and v["cancelled_by"] is None
    assert json.loads(v["wishes"]) == {
        "preferred_staff_ids": [],
        "excluded_staff_ids": [],
        "gender": None,
    }
    # The public view of the store shows it like any visit (the map and rounds read it).
    assert store.get_visit(v["id"])["windows"] == [[64800, 68400]]


def test_a_second_run_with_a_longer_horizon_creates_only_the_new_days(store, world):
    run(store, days=7)
    more = run(store, days=14)
    assert (more.created, more.unchanged) == (14, 14)


def test_care_kind_comes_from_the_structure_and_preferred_team_from_the_staff(store):
    structure = add_structure(store, "EMSP", "palliative_team")
    patient = add_patient(store, structure)
    staff = store.add_staff(
        {"name": "Marie", "job": "nurse", "contract_h_per_week": 35, "skills": ["palliative"]},
        structure_id=structure,
    )
    staff_id, team_id = staff["id"], staff["team_id"]
    add_care_plan(
        store,
        patient,
        structure,
        kind="palliative_assessment",
        windows=["09:30-12:00"],
        rrule="FREQ=WEEKLY;BYDAY=TU",
        staff_count=2,
        wishes={"preferred_staff_ids": [staff_id], "excluded_staff_ids": [], "gender": "female"},
    )
    assert run(store).created == 2
    v = visits(store)[0]
    assert v["care_kind"] == "palliative"
    assert v["preferred_team_id"] == team_id
    assert v["staff_count"] == 2
    assert json.loads(v["wishes"])["gender"] == "female"


def test_a_suspension_cancels_its_days_and_its_end_brings_them_back(store, world):
    run(store)
    execute(
        store,
        "INSERT INTO suspensions (patient_id, from_day, to_day, reason) VALUES (?, ?, ?, ?)",
        (world["patient"], "2026-03-18", "2026-03-20", "hospitalisation"),
    )
    away = run(store)
    assert (away.cancelled, away.created, away.unchanged) == (6, 0, 22)
    cancelled = visits(store, "status = 'cancelled'")
    assert {r["day"] for r in cancelled} == {"2026-03-18", "2026-03-19", "2026-03-20"}
    assert {r["cancelled_by"] for r in cancelled} == {"suspended"}
    assert run(store).cancelled == 0  # idempotent too
    # The hospital stay ends early: Friday's visits come back, planned again.
    execute(store, "UPDATE suspensions SET to_day = '2026-03-19'")
    back = run(store)
    assert (back.updated, back.cancelled) == (2, 0)
    friday = visits(store, "day = '2026-03-20'")
    assert {(r["status"], r["cancelled_by"]) for r in friday} == {("planned", None)}


def test_no_visit_is_created_while_the_patient_is_away(store, world):
    execute(
        store,
        "INSERT INTO suspensions (patient_id, from_day, to_day, reason) VALUES (?, ?, NULL, ?)",
        (world["patient"], "2026-03-23", "holiday"),
    )
    first = run(store)
    assert (first.created, first.suspended) == (14, 14)
    execute(store, "UPDATE suspensions SET cancelled_at_s = 1")
    assert run(store).created == 14


def test_hand_edits_survive_regeneration(store, world):
    run(store)
    edited = visits(store, "day = '2026-03-17' AND occurrence_key LIKE '%/0'")[0]
    store.update_visit(edited["id"], {"windows": [["09:00", "10:00"]], "duration_s": 1200})
    assert visits(store, "id = ?", (edited["id"],))[0]["hand_edited"] == 1
    set_template(store, world["plan"], duration_s=600)
    result = run(store)
    assert (result.updated, result.kept, result.created) == (27, 1, 0)
    after = visits(store, "id = ?", (edited["id"],))[0]
    assert (json.loads(after["windows"]), after["duration_s"]) == ([[32400, 36000]], 1200)
    others = visits(store, "id != ?", (edited["id"],))
    assert {r["duration_s"] for r in others} == {600}


def test_a_suspension_cancels_an_edited_visit_and_brings_it_back_with_its_edits(store, world):
    run(store)
    edited = visits(store, "day = '2026-03-18' AND occurrence_key LIKE '%/0'")[0]
    store.update_visit(edited["id"], {"duration_s": 1800})
    execute(
        store,
        "INSERT INTO suspensions (patient_id, from_day, to_day, reason) VALUES (?, '2026-03-18', '2026-03-18', 'hospitalisation')",
        (world["patient"],),
    )
    assert run(store).cancelled == 2
    execute(store, "UPDATE suspensions SET cancelled_at_s = 1")
    assert run(store).updated == 2
    after = visits(store, "id = ?", (edited["id"],))[0]
    assert (after["status"], after["duration_s"], after["hand_edited"]) == ("planned", 1800, 1)


def test_a_visit_edited_by_pseudonym_or_notes_only_still_follows_its_plan(store, world):
    run(store)
    v = visits(store)[0]
    store.update_visit(v["id"], {"protected": {"notes": "sonner deux fois"}})
    assert visits(store, "id = ?", (v["id"],))[0]["hand_edited"] == 0


def test_a_care_plan_change_regenerates_future_occurrences_not_edited_by_hand(store, world):
    run(store)
    now = instant(dt.date(2026, 3, 22), "12:00")  # Sunday noon of the first week
    edited = visits(store, "day = '2026-03-25' AND occurrence_key LIKE '%/1'")[0]
    store.update_visit(edited["id"], {"priority": 1})
    # Evenings only, at 19:00, from now on.
    set_template(store, world["plan"], windows=["08:00-09:00", "19:00-20:00"])
    result = run(store, now_s=now)
    # Future evenings: Sunday 22 to Sunday 29 (8), less the one edited by hand.
    assert (result.updated, result.kept, result.cancelled, result.created) == (7, 1, 0, 0)
    evenings = {
        r["day"]: json.loads(r["windows"])[0][0] for r in visits(store, "occurrence_key LIKE '%/1'")
    }
    assert evenings["2026-03-21"] == 18 * 3600  # past: left alone
    assert evenings["2026-03-22"] == 19 * 3600
    assert evenings["2026-03-25"] == 18 * 3600  # edited by hand: kept
    assert evenings["2026-03-29"] == 19 * 3600
    # Dropping the evening visit cancels the future ones not edited by hand.
    set_template(store, world["plan"], windows=["08:00-09:00"])
    dropped = run(store, now_s=now)
    assert dropped.cancelled == 7
    assert {r["cancelled_by"] for r in visits(store, "status = 'cancelled'")} == {
        "no_longer_planned"
    }


def test_visits_under_way_or_done_are_never_changed(store, world):
    run(store)
    v = visits(store, "day = '2026-03-18'")[0]
    execute(store, "UPDATE visits SET status = 'done' WHERE id = ?", (v["id"],))
    set_template(store, world["plan"], duration_s=1200)
    run(store)
    assert visits(store, "id = ?", (v["id"],))[0]["duration_s"] == 900


def test_a_deleted_care_plan_cancels_its_future_visits(store, world):
    run(store)
    execute(store, "UPDATE care_plans SET active = 0")
    gone = run(store, now_s=instant(dt.date(2026, 3, 23), "00:00"))
    assert gone.cancelled == 14
    assert {r["day"] >= "2026-03-23" for r in visits(store, "status = 'cancelled'")} == {True}


def test_a_discharge_cancels_the_visits_from_its_day(store, world):
    run(store)
    execute(
        store,
        "UPDATE patients SET status = 'discharged', discharged_on = '2026-03-26' WHERE id = ?",
        (world["patient"],),
    )
    result = run(store, patient_ids=[world["patient"]])
    assert result.cancelled == 8
    assert min(r["day"] for r in visits(store, "status = 'cancelled'")) == "2026-03-26"


def test_the_past_is_never_created(store, world):
    now = instant(MONDAY, "12:00")
    result = run(store, now_s=now)
    assert result.created == 27  # Monday morning's window had opened


def test_dst_windows_keep_their_wall_clock_times(store):
    structure = add_structure(store, "Centre de soins")
    patient = add_patient(store, structure)
    plan = add_care_plan(store, patient, structure, windows=["02:30-03:30", "08:00-09:00"])
    result = run(store, from_day="2026-03-28", days=2)
    assert result.created == 4
    rows = {r["occurrence_key"]: r for r in visits(store)}
    saturday, sunday = rows[f"{plan}/2026-03-28/1"], rows[f"{plan}/2026-03-29/1"]
    assert json.loads(saturday["windows"]) == json.loads(sunday["windows"]) == [[28800, 32400]]
    assert sunday["start_epoch_s"] - saturday["start_epoch_s"] == 23 * 3600
    # 02:30 does not exist on the last Sunday of March: the visit shifts forward to 03:30.
    night = rows[f"{plan}/2026-03-29/0"]
    assert json.loads(night["windows"]) == [[3 * 3600 + 1800, 4 * 3600 + 1800]]
    assert night["start_epoch_s"] == instant(dt.date(2026, 3, 29), "03:30")
    # The autumn change: 02:30 happens twice, the earlier (summer time) is taken; 25 h day.
    autumn = run(store, from_day="2026-10-24", days=2)
    assert autumn.created == 4
    rows = {r["occurrence_key"]: r for r in visits(store)}
    sat, sun = rows[f"{plan}/2026-10-24/1"], rows[f"{plan}/2026-10-25/1"]
    assert sun["start_epoch_s"] - sat["start_epoch_s"] == 25 * 3600
    assert json.loads(rows[f"{plan}/2026-10-25/0"]["windows"]) == [[9000, 12600]]
    assert run(store, from_day="2026-03-28", days=2).created == 0


def test_scope_is_the_callers_structures(store, world):
    other = add_structure(store, "Centre de soins de Corte", "nursing_centre")
    stranger = add_patient(store, other, "Patient FFFF")
    add_care_plan(store, stranger, other)
    mine = run(store, structures=[world["structure"]])
    assert mine.created == 28
    assert {r["structure_id"] for r in visits(store)} == {world["structure"]}
    with pytest.raises(NotFoundError, match=f"patient {stranger} does not exist"):
        run(store, structures=[world["structure"]], patient_ids=[stranger])
    with pytest.raises(NotFoundError, match="care plan 999 does not exist"):
        run(store, care_plan_ids=[999])
    assert run(store).created == 28  # unrestricted: the other structure's too


def test_one_plan_or_one_patient_only(store, world):
    second = add_care_plan(store, world["patient"], world["structure"], windows=["12:00-13:00"])
    assert run(store, care_plan_ids=[second]).created == 14
    assert {r["care_plan_id"] for r in visits(store)} == {second}
    assert run(store, patient_ids=[world["patient"]]).created == 28


def test_changed_visits_are_published_and_audited(store, world):
    bus = FakeBus()
    result = run(store, bus=bus, actor="user:coord")
    assert len(bus.published) == 28 == len(result.visit_ids)
    topic, visit = bus.published[0]
    assert topic == "visit" and "protected" not in visit and visit["pseudonym"] == "Patient 0A1B"
    lines = store.list_audit(actor="user:coord")
    assert lines[0]["action"] == "visits.generate"
    assert lines[0]["detail"]["created"] == 28
    bus.published.clear()
    run(store, bus=bus)
    assert bus.published == []


def test_bad_horizons_are_refused(store, world):
    for days in (0, 63, "7", True):
        with pytest.raises(ValidationError, match="days"):
            run(store, days=days)
    with pytest.raises(ValidationError, match="from"):
        run(store, from_day="16/03/2026")


def test_a_patient_without_a_place_gets_no_visit(store):
    structure = add_structure(store, "SAAD")
    patient = add_patient(store, structure, lon=None, lat=None)
    add_care_plan(store, patient, structure)
    assert run(store).created == 0


def test_a_patient_who_moves_is_visited_at_the_new_address_from_now_on(store, world):
    run(store)
    edited = visits(store, "day = '2026-03-25' AND occurrence_key LIKE '%/0'")[0]
    store.update_visit(edited["id"], {"duration_s": 1800})
    execute(
        store,
        "UPDATE patients SET address = '3 cours Paoli', commune = 'Corte', lon = 9.15,"
        " lat = 42.30, phone = NULL, access_notes = 'clé chez la voisine' WHERE id = ?",
        (world["patient"],),
    )
    now = instant(dt.date(2026, 3, 22), "12:00")
    moved = run(store, now_s=now)
    # Sunday evening and the 7 days after, less the visit edited by hand.
    assert (moved.updated, moved.created, moved.cancelled) == (14, 0, 0)
    after = {r["id"]: r for r in visits(store)}
    new = [r for r in after.values() if r["address"] == "3 cours Paoli"]
    assert len(new) == 14 and min(r["day"] for r in new) == "2026-03-22"
    assert {(r["commune"], r["lon"], r["lat"]) for r in new} == {("Corte", 9.15, 42.30)}
    assert json.loads(new[0]["protected"]) == {
        "name": "Marie Santoni",
        "address_details": "clé chez la voisine",
        "notes": "Insuline matin et soir",
    }
    assert after[edited["id"]]["address"] == "1 rue du Port"  # edited by hand: left alone
    assert all(r["address"] == "1 rue du Port" for r in after.values() if r["day"] < "2026-03-22")
    assert run(store, now_s=now).updated == 0
