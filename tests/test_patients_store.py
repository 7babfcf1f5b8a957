"""Patients in the store: records, status, suspensions, care plans, sharings, structure scoping,
audit of every identity read, export and the retention purge."""

from __future__ import annotations

import json

import pytest

from dispatch.care.recurrence import template_from_dict
from dispatch.errors import ConflictError, NotFoundError, ValidationError
from dispatch.store import Store

TODAY = "2026-11-23"


@pytest.fixture
def store(tmp_path):  # type: ignore[no-untyped-def]
    s = Store(tmp_path / "db.sqlite")
    s.add_structure({"name": "SSIAD Bastia", "kind": "ssiad"})  # 2
    s.add_structure({"name": "DAC Haute-Corse", "kind": "dac"})  # 3
    yield s
    s.close()


def _patient(**changes):  # type: ignore[no-untyped-def]
    base = {
        "structure_id": 2,
        "family_name": "Santoni",
        "given_name": "Marie",
        "birth_date": "1938-04-02",
        "sex": "female",
        "phone": "0495000000",
        "address": "12 boulevard Paoli",
        "commune": "Bastia",
        "lon": 9.45,
        "lat": 42.70,
        "geocode_precision": "housenumber",
        "access_notes": "Digicode 4512B",
        "referring_doctor": "Dr Casanova",
        "contacts": [{"name": "Paul Santoni", "relation": "son", "phone": "0600000000"}],
        "external_ids": {"INS": "2380420033123"},
    }
    return {**base, **changes}


PLAN = {
    "label": "Insuline matin et soir",
    "kind": "insulin",
    "duration_s": 900,
    "windows": ["08:00-09:00", "18:00-19:00"],
    "rrule": "FREQ=DAILY",
    "start_day": TODAY,
}


def _add(store, **changes):  # type: ignore[no-untyped-def]
    return store.add_patient(_patient(**changes), actor="user:1", today=TODAY)


def _actions(store, target):  # type: ignore[no-untyped-def]
    return [a["action"] for a in store.list_audit(target=target)]


def test_a_patient_is_created_with_a_pseudonym_and_its_read_is_audited(store) -> None:
    """Creation draws a « Patient XXXX » pseudonym, keeps contacts and identifiers as JSON,
    admits on today; a read by id is audited (patient.read) with the reader."""
    p = _add(store)
    assert p["pseudonym"].startswith("Patient ") and len(p["pseudonym"]) == 12
    assert p["status"] == "admitted" and p["admitted_on"] == TODAY and not p["archived"]
    assert p["contacts"][0]["relation"] == "son" and p["external_ids"] == {"INS": "2380420033123"}
    assert p["pin_corrected"] is False and p["care_plans"] == 0 and p["suspension"] is None
    read = store.get_patient(
        p["id"], structures=[2], actor="user:7", role="coordinator", today=TODAY
    )
    assert read["family_name"] == "Santoni" and read["access_notes"] == "Digicode 4512B"
    line = store.list_audit(target=f"patient:{p['id']}")[0]
    assert (line["action"], line["actor"], line["role"]) == (
        "patient.read",
        "user:7",
        "coordinator",
    )


def test_bad_fields_say_what_to_fix(store) -> None:
    with pytest.raises(ValidationError, match="unknown field 'nom'"):
        store.add_patient({**_patient(), "nom": "x"}, actor="t")
    with pytest.raises(ValidationError, match="family_name is missing"):
        store.add_patient({k: v for k, v in _patient().items() if k != "family_name"}, actor="t")
    with pytest.raises(ValidationError, match="sex 'f'"):
        _add(store, sex="f")
    with pytest.raises(ValidationError, match="contact 1: give the contact's name"):
        _add(store, contacts=[{"relation": "son"}])
    with pytest.raises(NotFoundError, match="structure 9 does not exist"):
        _add(store, structure_id=9)


def test_another_structure_sees_nothing_of_the_patient(store) -> None:
    """Structure scoping: a patient of structure 2 is « does not exist » for structure 3, on
    every read and write; the list of structure 3 is empty."""
    p = _add(store)
    pid = p["id"]
    calls = [
        lambda: store.get_patient(pid, structures=[3], actor="u"),
        lambda: store.update_patient(pid, {"phone": "1"}, structures=[3], actor="u"),
        lambda: store.discharge_patient(pid, TODAY, structures=[3], actor="u"),
        lambda: store.add_suspension(pid, {"from_day": TODAY}, structures=[3], actor="u"),
        lambda: store.list_suspensions(pid, structures=[3]),
        lambda: store.add_care_plan(pid, PLAN, structures=[3], actor="u"),
        lambda: store.list_care_plans(pid, structures=[3]),
        lambda: store.list_sharings(pid, structures=[3]),
        lambda: store.add_sharing(
            pid, {"structure_id": 3, "consent_on": TODAY}, structures=[3], actor="u", today=TODAY
        ),
        lambda: store.export_patient(pid, structures=[3], actor="u"),
        lambda: store.patient_visits(pid, structures=[3], from_day=TODAY, days=7),
        lambda: store.get_patient(pid, structures=[], actor="u"),
    ]
    for call in calls:
        with pytest.raises(NotFoundError, match=f"patient {pid} does not exist"):
            call()
    assert store.list_patients(structures=[3], actor="u", today=TODAY).total == 0
    assert store.list_patients(structures=[2], actor="u", today=TODAY).total == 1
    # The refused identity reads stay in the log (the caller only saw « does not exist »).
    assert _actions(store, f"patient:{pid}").count("patient.read.denied") == 2


def test_pseudonyms_are_unique_within_a_structure(store) -> None:
    a = _add(store, pseudonym="MME-AUBERT")
    with pytest.raises(ConflictError, match="'MME-AUBERT' is already patient"):
        _add(store, pseudonym="MME-AUBERT")
    assert _add(store, pseudonym="MME-AUBERT", structure_id=3)["pseudonym"] == "MME-AUBERT"
    b = _add(store, family_name="Luciani")
    with pytest.raises(ConflictError):
        store.update_patient(b["id"], {"pseudonym": "MME-AUBERT"}, structures=[2], actor="u")
    same = store.update_patient(a["id"], {"pseudonym": "MME-AUBERT"}, structures=[2], actor="u")
    assert same["pseudonym"] == "MME-AUBERT"


def test_the_list_hides_details_filters_and_is_audited_once(store) -> None:
    """List items carry no phone, access notes, contacts or identifiers; q searches names,
    pseudonym and commune; status filters; one audit line per list read."""
    a = _add(store)
    _add(store, family_name="Luciani", given_name="Ange", commune="Furiani")
    page = store.list_patients(structures=[2], actor="user:4", today=TODAY)
    assert [p["family_name"] for p in page] == ["Luciani", "Santoni"]
    assert not {"phone", "access_notes", "contacts", "external_ids"} & set(page[0])
    assert [
        p["family_name"]
        for p in store.list_patients(structures=[2], actor="u", q="furi", today=TODAY)
    ] == ["Luciani"]
    assert (
        store.list_patients(structures=[2], actor="u", q=a["pseudonym"][-4:], today=TODAY).total
        >= 1
    )
    assert store.list_patients(structures=[2], actor="u", q="100%", today=TODAY).total == 0
    lists = [x for x in store.list_audit(actor="user:4") if x["action"] == "patient.list"]
    assert len(lists) == 1 and lists[0]["detail"]["count"] == 2


def test_status_follows_suspensions_and_discharge(store) -> None:
    """Suspended while a live suspension covers today; the next suspension is shown before it
    starts; ending one under way ends it yesterday; discharge archives and ends the plans the
    day before."""
    p = _add(store)
    pid = p["id"]
    future = store.add_suspension(
        pid, {"from_day": "2026-11-25", "to_day": "2026-11-27", "reason": "hospitalisation"},
        structures=[2], actor="u",
    )  # fmt: skip
    view = store.get_patient(pid, structures=[2], actor="u", today=TODAY)
    assert view["status"] == "admitted" and view["suspension"]["id"] == future["id"]
    assert (
        store.list_patients(structures=[2], actor="u", status="suspended", today=TODAY).total == 0
    )
    on_26 = store.get_patient(pid, structures=[2], actor="u", today="2026-11-26")
    assert on_26["status"] == "suspended"
    assert (
        store.list_patients(structures=[2], actor="u", status="suspended", today="2026-11-26").total
        == 1
    )
    ended = store.end_suspension(pid, future["id"], structures=[2], actor="u", today="2026-11-26")
    assert ended["to_day"] == "2026-11-25" and ended["active"]
    with pytest.raises(ConflictError, match="past suspension"):
        store.end_suspension(pid, future["id"], structures=[2], actor="u", today="2026-11-28")
    later = store.add_suspension(
        pid, {"from_day": "2026-12-10", "reason": "holiday"}, structures=[2], actor="u"
    )
    cancelled = store.end_suspension(pid, later["id"], structures=[2], actor="u", today=TODAY)
    assert not cancelled["active"]
    with pytest.raises(ValidationError, match="before from_day"):
        store.add_suspension(
            pid, {"from_day": "2026-12-10", "to_day": "2026-12-01"}, structures=[2], actor="u"
        )
    with pytest.raises(ValidationError, match="reason 'ski'"):
        store.add_suspension(
            pid, {"from_day": "2026-12-10", "reason": "ski"}, structures=[2], actor="u"
        )
    plan = store.add_care_plan(pid, PLAN, structures=[2], actor="u")
    later_plan = store.add_care_plan(
        pid, {**PLAN, "start_day": "2026-12-20"}, structures=[2], actor="u"
    )
    out = store.discharge_patient(pid, "2026-12-01", structures=[2], actor="u", today=TODAY)
    assert (
        out["status"] == "discharged" and out["archived"] and out["discharged_on"] == "2026-12-01"
    )
    assert store.get_care_plan(pid, plan["id"], structures=[2])["end_day"] == "2026-11-30"
    assert store.get_care_plan(pid, later_plan["id"], structures=[2])["active"] is False
    assert store.list_patients(structures=[2], actor="u", today=TODAY).total == 0
    assert (
        store.list_patients(structures=[2], actor="u", status="discharged", today=TODAY).total == 1
    )
    with pytest.raises(ConflictError, match="already discharged"):
        store.discharge_patient(pid, "2026-12-02", structures=[2], actor="u")
    assert "patient.discharge" in _actions(store, f"patient:{pid}")


def test_care_plans_are_stored_as_templates_and_changed_whole(store) -> None:
    """A care plan's template is VisitTemplate.to_dict() with the plan's id; a change keeps the
    fields not sent and is checked again; ending keeps it inactive."""
    pid = _add(store)["id"]
    plan = store.add_care_plan(pid, PLAN, structures=[2], actor="u")
    assert plan["label"] == "Insuline matin et soir" and plan["active"] is True
    assert plan["windows"] == ["08:00-09:00", "18:00-19:00"] and plan["rrule"] == "FREQ=DAILY"
    ((view, template),) = store.care_plan_templates(patient_ids=[pid])
    assert template.template_id == plan["id"] and template.patient_id == pid
    assert template == template_from_dict(template.to_dict())
    changed = store.update_care_plan(
        pid,
        plan["id"],
        {"rrule": "FREQ=WEEKLY;BYDAY=MO,WE,FR", "staff_count": 2},
        structures=[2],
        actor="u",
    )
    assert changed["rrule"] == "FREQ=WEEKLY;BYDAY=MO,WE,FR" and changed["duration_s"] == 900
    assert changed["staff_count"] == 2 and changed["label"] == PLAN["label"]
    with pytest.raises(ValidationError, match="end_day 2026-01-01 is before start_day"):
        store.update_care_plan(
            pid, plan["id"], {"end_day": "2026-01-01"}, structures=[2], actor="u"
        )
    with pytest.raises(ValidationError, match="unknown field 'every'"):
        store.add_care_plan(pid, {**PLAN, "every": 2}, structures=[2], actor="u")
    with pytest.raises(ValidationError, match="FREQ=HOURLY"):
        store.add_care_plan(pid, {**PLAN, "rrule": "FREQ=HOURLY"}, structures=[2], actor="u")
    ended = store.end_care_plan(pid, plan["id"], structures=[2], actor="u")
    assert ended["active"] is False and store.care_plan_templates(patient_ids=[pid]) == []
    with pytest.raises(ConflictError):
        store.update_care_plan(pid, plan["id"], {"duration_s": 600}, structures=[2], actor="u")
    other = _add(store, family_name="Luciani")
    with pytest.raises(NotFoundError, match=f"care plan {plan['id']} does not exist"):
        store.get_care_plan(other["id"], plan["id"], structures=[2])


def test_a_shared_patient_is_read_by_the_other_structure_until_revoked(store) -> None:
    """With the patient's consent (dated) a DAC reads the record: audited patient.read_shared
    with the sharing's id, without access notes; listed with shared=True; after revocation,
    404 again. The DAC cannot change the record."""
    pid = _add(store)["id"]
    with pytest.raises(NotFoundError):
        store.get_patient(pid, structures=[3], actor="user:9")
    with pytest.raises(ValidationError, match="in the future"):
        store.add_sharing(
            pid,
            {"structure_id": 3, "consent_on": "2026-12-01"},
            structures=[2],
            actor="u",
            today=TODAY,
        )
    with pytest.raises(ConflictError, match="already belongs"):
        store.add_sharing(
            pid, {"structure_id": 2, "consent_on": TODAY}, structures=[2], actor="u", today=TODAY
        )
    sharing = store.add_sharing(
        pid, {"structure_id": 3, "consent_on": "2026-11-20", "purpose": "coordination du parcours"},
        structures=[2], actor="user:1", today=TODAY,
    )  # fmt: skip
    assert sharing["live"] and sharing["consent_on"] == "2026-11-20"
    with pytest.raises(ConflictError, match="already shared"):
        store.add_sharing(
            pid, {"structure_id": 3, "consent_on": TODAY}, structures=[2], actor="u", today=TODAY
        )
    shared = store.get_patient(pid, structures=[3], actor="user:9", role="coordinator", today=TODAY)
    assert shared["family_name"] == "Santoni" and shared["access_notes"] is None
    assert shared["shared"]["sharing_id"] == sharing["id"]
    line = store.list_audit(target=f"patient:{pid}")[0]
    assert line["action"] == "patient.read_shared" and line["actor"] == "user:9"
    assert line["detail"]["sharing_id"] == sharing["id"]
    (listed,) = store.list_patients(structures=[3], actor="user:9", shared=True, today=TODAY)
    assert listed["id"] == pid and listed["shared"]["sharing_id"] == sharing["id"]
    line = store.list_audit(target=f"patient:{pid}")[0]
    assert line["action"] == "patient.read_shared" and line["detail"]["from"] == "list"
    assert store.list_patients(structures=[2], actor="u", shared=True, today=TODAY).total == 0
    with pytest.raises(NotFoundError):
        store.update_patient(pid, {"phone": "1"}, structures=[3], actor="user:9")
    with pytest.raises(NotFoundError):
        store.get_patient(pid, structures=[3], actor="user:9", allow_shared=False)
    store.revoke_sharing(pid, sharing["id"], structures=[2], actor="user:1")
    with pytest.raises(NotFoundError, match=f"patient {pid} does not exist"):
        store.get_patient(pid, structures=[3], actor="user:9")
    assert store.list_patients(structures=[3], actor="u", shared=True, today=TODAY).total == 0
    with pytest.raises(ConflictError, match="already revoked"):
        store.revoke_sharing(pid, sharing["id"], structures=[2], actor="user:1")
    assert [s["live"] for s in store.list_sharings(pid, structures=[2])] == [False]


def _generated_visit(store, pid, day, **changes):  # type: ignore[no-untyped-def]
    visit = store.add_visit(
        {
            "day": day,
            "pseudonym": "Patient 0001",
            "address": "12 boulevard Paoli",
            "lon": 9.45123,
            "lat": 42.70456,
            "duration_s": 900,
            "windows": [["08:00", "09:00"]],
            "protected": {"name": "Marie Santoni", "phone": "0495000000"},
            **changes,
        }
    )
    store.write(
        lambda c: c.execute("UPDATE visits SET patient_id = ? WHERE id = ?", (pid, visit["id"]))
    )
    return visit


def test_export_holds_the_whole_record_and_is_audited(store) -> None:
    """A subject access request: identity, plans, suspensions, sharings, visits with their
    protected details and events, the audit of reads; the export itself is audited."""
    pid = _add(store)["id"]
    store.add_care_plan(pid, PLAN, structures=[2], actor="u")
    store.add_suspension(
        pid, {"from_day": "2026-12-01", "reason": "holiday"}, structures=[2], actor="u"
    )
    store.add_sharing(
        pid, {"structure_id": 3, "consent_on": TODAY}, structures=[2], actor="u", today=TODAY
    )
    visit = _generated_visit(store, pid, TODAY)
    store.add_visit_event(visit["id"], {"kind": "note", "note": "Glycémie 1,2 g/L"}, actor="user:5")
    store.get_patient(pid, structures=[2], actor="user:7")
    export = store.export_patient(
        pid, structures=[2], actor="user:8", role="coordinator", today=TODAY
    )
    assert export["patient"]["family_name"] == "Santoni"
    assert len(export["care_plans"]) == 1 and len(export["suspensions"]) == 1
    assert len(export["sharings"]) == 1
    (v,) = export["visits"]
    assert (
        v["protected"]["name"] == "Marie Santoni" and v["events"][0]["note"] == "Glycémie 1,2 g/L"
    )
    assert {"patient.create", "patient.read"} <= {a["action"] for a in export["audit"]}
    json.dumps(export)  # JSON-ready
    assert _actions(store, f"patient:{pid}")[0] == "patient.export"


def test_purge_erases_identity_after_retention_keeps_pseudonym_and_dates(store) -> None:
    """An archived record older than the retention loses its identity (and its visits their
    protected details and address; places rounded to about 1 km); pseudonym, dates and plans
    stay; one audit line; a record in care or archived recently is untouched."""
    old = _add(store)
    kept = _add(store, family_name="Luciani")
    recent = _add(store, family_name="Peretti")
    visit = _generated_visit(store, old["id"], TODAY)
    store.add_care_plan(old["id"], PLAN, structures=[2], actor="u")
    for p in (old, recent):
        store.discharge_patient(p["id"], "2026-12-01", structures=[2], actor="u", today=TODAY)
    ten_years = 3650 * 86_400
    store.write(
        lambda c: c.execute(
            "UPDATE patients SET archived_at_s = archived_at_s - ? WHERE id = ?",
            (ten_years, old["id"]),
        )
    )
    assert store.purge_patients(retention_days=1095) == {"patients": 1, "visits": 1}
    assert store.purge_patients(retention_days=1095) == {"patients": 0, "visits": 0}
    p = store.get_patient(old["id"], structures=[2], actor="u", today=TODAY)
    assert p["purged"] and p["pseudonym"] == old["pseudonym"] and p["discharged_on"] == "2026-12-01"
    assert p["admitted_on"] == TODAY and p["family_name"] is None and p["phone"] is None
    assert p["contacts"] == [] and p["external_ids"] == {} and p["lon"] is None
    assert store.list_care_plans(old["id"], structures=[2])
    v = store.export_patient(old["id"], structures=[2], actor="u")["visits"][0]
    assert v["protected"] is None and v["address"] is None and (v["lon"], v["lat"]) == (9.45, 42.7)
    assert "patient.purge" in _actions(store, f"patient:{old['id']}")
    for other in (kept, recent):
        assert store.get_patient(other["id"], structures=[2], actor="u")["family_name"]
    with pytest.raises(ConflictError, match="purged"):
        store.update_patient(old["id"], {"phone": "1"}, structures=[2], actor="u")
    assert visit["id"]


def test_the_retention_worker_purges_patients_too(store, tmp_path) -> None:
    from dispatch.settings import Settings
    from dispatch.store import start_retention

    pid = _add(store)["id"]
    store.discharge_patient(pid, TODAY, structures=[2], actor="u", today=TODAY)
    store.write(
        lambda c: c.execute("UPDATE patients SET archived_at_s = 1000 WHERE id = ?", (pid,))
    )
    worker = start_retention(
        store, Settings(var_dir=tmp_path, patient_retention_days=30), interval_s=60
    )
    try:
        import time

        deadline = time.monotonic() + 5
        while worker.runs == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        worker.stop()
    assert worker.last_result["patient_patients"] == 1
    assert store.get_patient(pid, structures=None, actor="u")["purged"]


def test_the_retention_worker_runs_the_services_purges(store, tmp_path) -> None:
    """The purges above the store (the referrals' attachments are files) run with the others,
    their counts named after them; one that fails does not stop the worker."""
    import time

    from dispatch.settings import Settings
    from dispatch.store import start_retention

    calls: list[int] = []

    def referrals() -> dict[str, int]:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("disk full")
        return {"requests": 2, "attachments": 1}

    worker = start_retention(
        store, Settings(var_dir=tmp_path), interval_s=0.02, others={"referrals": referrals}
    )
    try:
        deadline = time.monotonic() + 5
        while worker.runs == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        worker.stop()
    assert len(calls) >= 2
    assert worker.last_result["referrals_requests"] == 2
    assert worker.last_result["referrals_attachments"] == 1


def test_the_cli_exports_a_patient_and_purges(tmp_path) -> None:
    """`dispatch patient export ID --out FILE` writes the record (0600) and is audited as the
    CLI; `dispatch patient purge --days N` erases the identity of old archived records."""
    import os

    from click.testing import CliRunner

    from dispatch.cli import cli

    db = tmp_path / "var" / "dispatch.sqlite"
    with Store(db) as s:
        s.add_structure({"name": "SSIAD Bastia", "kind": "ssiad"})
        pid = _add(s)["id"]
        s.discharge_patient(pid, TODAY, structures=None, actor="u", today=TODAY)
        s.write(
            lambda c: c.execute("UPDATE patients SET archived_at_s = 1000 WHERE id = ?", (pid,))
        )
    env = {"DISPATCH_VAR_DIR": str(tmp_path / "var")}
    out = tmp_path / "sar" / "patient.json"
    runner = CliRunner()
    done = runner.invoke(cli, ["patient", "export", str(pid), "--out", str(out)], env=env)
    assert done.exit_code == 0, done.output
    assert json.loads(out.read_text())["patient"]["family_name"] == "Santoni"
    assert os.stat(out).st_mode & 0o777 == 0o600
    missing = runner.invoke(cli, ["patient", "export", "999"], env=env)
    assert missing.exit_code != 0 and "patient 999 does not exist" in missing.output
    purged = runner.invoke(cli, ["patient", "purge", "--days", "30"], env=env)
    assert purged.exit_code == 0 and "from 1 patient records" in purged.output
    with Store(db) as s:
        actions = _actions(s, f"patient:{pid}")
        assert actions[:2] == ["patient.purge", "patient.export"]
