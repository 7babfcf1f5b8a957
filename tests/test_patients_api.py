"""REST /api/patients: records, care plans with their generated visits, suspensions, discharge,
export, consent-based sharing (audited), structure isolation, roles, the CSV import review."""

from __future__ import annotations

import pytest
from api_world import DAY, make_world


@pytest.fixture(scope="module")
def world(tmp_path_factory):  # type: ignore[no-untyped-def]
    w = make_world(tmp_path_factory.mktemp("patients"))
    store = w.store
    other = store.add_structure({"name": "SSIAD Corte", "kind": "ssiad"})
    dac = store.add_structure({"name": "DAC 2B", "kind": "dac"})
    for name, structure in (("coord_other", other["id"]), ("coord_dac", dac["id"])):
        user = store.add_user(name, role="coordinator", structure_ids=[structure])
        w.ids[name] = user["id"]
        w.tokens[name] = store.create_api_token(user["id"], label="test")
    w.ids.update(other=other["id"], dac=dac["id"])
    yield w
    store.close()


PATIENT = {
    "family_name": "Santoni",
    "given_name": "Marie",
    "birth_date": "1938-04-02",
    "sex": "female",
    "phone": "0495000000",
    "address": "12 boulevard Paoli",
    "commune": "Bastia",
    "lon": 9.45,
    "lat": 42.70,
    "access_notes": "Digicode 4512B",
    "contacts": [{"name": "Paul Santoni", "relation": "son", "phone": "0600000000"}],
    "external_ids": {"INS": "2380420033123"},
}
TWICE_DAILY = {
    "label": "Insuline",
    "kind": "insulin",
    "duration_s": 900,
    "windows": ["08:00-09:00", "18:00-19:00"],
    "rrule": "FREQ=DAILY",
    "start_day": DAY,
}


def _create(world, who="coordinator", **changes):  # type: ignore[no-untyped-def]
    r = world.app.test_client().post(
        "/api/patients", json={**PATIENT, **changes}, headers=world.headers(who)
    )
    assert r.status_code == 201, r.get_json()
    return r.get_json()["patient"]


def test_create_read_change_a_patient(world) -> None:
    """POST with a pin: precision manual, pin corrected; GET returns details (audited,
    no-store); PATCH changes fields; the list hides details and pages."""
    client = world.app.test_client()
    h = world.headers("coordinator")
    p = _create(world)
    assert p["geocode_precision"] == "manual" and p["pin_corrected"] is True
    assert p["structure_id"] == 1 and p["status"] == "admitted"
    r = client.get(f"/api/patients/{p['id']}", headers=h)
    assert r.status_code == 200 and r.get_json()["patient"]["access_notes"] == "Digicode 4512B"
    assert "no-store" in r.headers["Cache-Control"]
    assert world.store.list_audit(target=f"patient:{p['id']}")[0]["action"] == "patient.read"
    r = client.patch(f"/api/patients/{p['id']}", json={"phone": "0495111111"}, headers=h)
    assert r.status_code == 200 and r.get_json()["patient"]["phone"] == "0495111111"
    r = client.get("/api/patients?q=santoni&limit=1", headers=h)
    body = r.get_json()
    assert body["total"] >= 1 and len(body["items"]) == 1 and "phone" not in body["items"][0]


def test_bodies_are_checked_as_the_document_says(world) -> None:
    """Unknown fields, wrong types, a lone lon, nothing to place: 400 saying what to fix."""
    client = world.app.test_client()
    h = world.headers("coordinator")
    cases = [
        ({**PATIENT, "nom": "x"}, "unknown field"),
        ({**PATIENT, "sex": "f"}, "sex must be one of"),
        ({"family_name": "A", "lon": 9.4}, "give both lon and lat"),
        ({"family_name": "A"}, "give the address"),
        ({**PATIENT, "contacts": [{"relation": "son"}]}, "name is missing"),
        ({**PATIENT, "family_name": "  "}, "family_name is not written as expected"),
    ]
    for body, message in cases:
        r = client.post("/api/patients", json=body, headers=h)
        assert r.status_code == 400 and message in r.get_json()["error"], (body, r.get_json())
    pid = _create(world)["id"]
    r = client.post(
        f"/api/patients/{pid}/care-plans",
        json={**TWICE_DAILY, "windows": ["09:00-08:00"]},
        headers=h,
    )
    assert r.status_code == 400 and r.get_json()["error"].startswith("care plan: ")


def test_without_a_territory_an_address_needs_the_pin(world) -> None:
    """The test world has no territory built: an address alone answers 503 not_built, saying
    to place the pin."""
    r = world.app.test_client().post(
        "/api/patients",
        json={k: v for k, v in PATIENT.items() if k not in ("lon", "lat")},
        headers=world.headers("coordinator"),
    )
    assert r.status_code == 503 and r.get_json()["code"] == "not_built"
    assert "place the pin" in r.get_json()["error"]


def test_care_plan_suspension_and_discharge_regenerate_the_visits(world) -> None:
    """A twice-daily plan generates two visits a day over the horizon; a hospitalisation
    Wednesday to Friday cancels those six visits; ending it early brings the rest back; the
    discharge cancels every visit from its day; ending the plan answers its counts too."""
    client = world.app.test_client()
    h = world.headers("coordinator")
    pid = _create(world)["id"]
    r = client.post(f"/api/patients/{pid}/care-plans", json=TWICE_DAILY, headers=h)
    assert r.status_code == 201, r.get_json()
    plan, gen = r.get_json()["care_plan"], r.get_json()["generation"]
    assert plan["windows"] == ["08:00-09:00", "18:00-19:00"] and plan["active"] is True
    # The clock stands on DAY at 08:30: that morning's window has begun.
    assert gen["created"] == 27
    visits = client.get(f"/api/patients/{pid}/visits?days=14", headers=h).get_json()["items"]
    assert len(visits) == 27 and all(v["care_plan_id"] == plan["id"] for v in visits)
    assert visits[0]["day"] == DAY and visits[0]["windows_hhmm"] == [["18:00", "19:00"]]
    assert "family_name" not in visits[0] and visits[0]["pseudonym"].startswith("Patient ")
    r = client.post(
        f"/api/patients/{pid}/suspensions",
        json={"from_day": "2026-11-25", "to_day": "2026-11-27", "reason": "hospitalisation"},
        headers=h,
    )
    assert r.status_code == 201 and r.get_json()["generation"]["cancelled"] == 6
    sid = r.get_json()["suspension"]["id"]
    days = client.get(f"/api/patients/{pid}/visits", headers=h).get_json()["items"]
    cancelled = sorted({v["day"] for v in days if v["cancelled_by"] == "suspended"})
    assert cancelled == ["2026-11-25", "2026-11-26", "2026-11-27"]
    (listed,) = client.get(f"/api/patients/{pid}/suspensions", headers=h).get_json()["items"]
    assert listed["cancelled"] == 6
    r = client.delete(f"/api/patients/{pid}/suspensions/{sid}", headers=h)
    assert r.status_code == 200 and r.get_json()["suspension"]["active"] is False
    assert r.get_json()["generation"]["updated"] + r.get_json()["generation"]["created"] == 6
    r = client.patch(
        f"/api/patients/{pid}/care-plans/{plan['id']}", json={"duration_s": 1200}, headers=h
    )
    assert r.status_code == 200 and r.get_json()["care_plan"]["duration_s"] == 1200
    assert r.get_json()["generation"]["updated"] == 27
    r = client.post(f"/api/patients/{pid}/discharge", json={"day": "2026-12-01"}, headers=h)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["patient"]["status"] == "discharged" and r.get_json()["patient"]["archived"]
    assert r.get_json()["generation"]["cancelled"] == 12
    again = client.post(f"/api/patients/{pid}/discharge", json={}, headers=h)
    assert again.status_code == 409


def test_ending_a_care_plan_cancels_its_future_visits(world) -> None:
    client = world.app.test_client()
    h = world.headers("coordinator")
    pid = _create(world)["id"]
    plan = client.post(f"/api/patients/{pid}/care-plans", json=TWICE_DAILY, headers=h).get_json()
    r = client.delete(f"/api/patients/{pid}/care-plans/{plan['care_plan']['id']}", headers=h)
    assert r.status_code == 200 and r.get_json()["care_plan"]["active"] is False
    assert r.get_json()["generation"]["cancelled"] == 27
    items = client.get(f"/api/patients/{pid}/care-plans", headers=h).get_json()["items"]
    assert [i["active"] for i in items] == [False]


def test_another_structure_gets_404_on_every_patient_route(world) -> None:
    """A coordinator of another structure: every route of one patient answers 404 (its
    existence is not revealed); the patient is not in their list."""
    client = world.app.test_client()
    h = world.headers("coordinator")
    pid = _create(world)["id"]
    plan = client.post(f"/api/patients/{pid}/care-plans", json=TWICE_DAILY, headers=h).get_json()
    plan_id = plan["care_plan"]["id"]
    s = client.post(f"/api/patients/{pid}/suspensions", json={"from_day": "2026-12-10"}, headers=h)
    sid = s.get_json()["suspension"]["id"]
    other = world.headers("coord_other")
    calls = [
        ("get", f"/api/patients/{pid}", None),
        ("patch", f"/api/patients/{pid}", {"phone": "1"}),
        ("post", f"/api/patients/{pid}/discharge", {}),
        ("get", f"/api/patients/{pid}/export", None),
        ("get", f"/api/patients/{pid}/visits", None),
        ("get", f"/api/patients/{pid}/care-plans", None),
        ("post", f"/api/patients/{pid}/care-plans", TWICE_DAILY),
        ("patch", f"/api/patients/{pid}/care-plans/{plan_id}", {"duration_s": 600}),
        ("delete", f"/api/patients/{pid}/care-plans/{plan_id}", None),
        ("get", f"/api/patients/{pid}/suspensions", None),
        ("post", f"/api/patients/{pid}/suspensions", {"from_day": "2026-12-20"}),
        ("delete", f"/api/patients/{pid}/suspensions/{sid}", None),
        ("get", f"/api/patients/{pid}/sharings", None),
        (
            "post",
            f"/api/patients/{pid}/sharings",
            {"structure_id": world.ids["dac"], "consent_on": DAY},
        ),
    ]
    for method, url, body in calls:
        r = getattr(client, method)(url, json=body, headers=other)
        assert r.status_code == 404, (method, url, r.get_json())
        assert r.get_json()["error"] == f"patient {pid} does not exist"
    items = client.get("/api/patients?limit=1000", headers=other).get_json()["items"]
    assert pid not in [i["id"] for i in items]
    # Nothing changed for the owner.
    assert (
        client.get(f"/api/patients/{pid}", headers=h).get_json()["patient"]["phone"]
        == PATIENT["phone"]
    )


def test_roles_other_than_coordinator_are_refused(world) -> None:
    """Administrators manage accounts, not patients; planners and team members plan and visit
    with pseudonyms: 403 (anonymous 401)."""
    client = world.app.test_client()
    pid = _create(world)["id"]
    for who in ("admin", "planner", "member_a", "device_b"):
        assert client.get("/api/patients", headers=world.headers(who)).status_code == 403
        assert client.get(f"/api/patients/{pid}", headers=world.headers(who)).status_code == 403
        assert (
            client.post("/api/patients", json=PATIENT, headers=world.headers(who)).status_code
            == 403
        )
    assert client.get("/api/patients").status_code == 401


def test_a_dac_reads_a_shared_patient_audited_until_consent_is_revoked(world) -> None:
    """With a sharing (consent dated) the DAC's coordinator reads the record: audited
    patient.read_shared with the sharing id, access notes withheld, listed with shared=true;
    it may not change it; after revocation, 404 again."""
    client = world.app.test_client()
    h = world.headers("coordinator")
    dac = world.headers("coord_dac")
    pid = _create(world, family_name="Peretti")["id"]
    assert client.get(f"/api/patients/{pid}", headers=dac).status_code == 404
    r = client.post(
        f"/api/patients/{pid}/sharings",
        json={"structure_id": world.ids["dac"], "consent_on": "2026-11-20", "purpose": "parcours"},
        headers=h,
    )
    assert r.status_code == 201, r.get_json()
    sharing = r.get_json()["sharing"]
    future = client.post(
        f"/api/patients/{pid}/sharings",
        json={"structure_id": world.ids["other"], "consent_on": "2026-12-24"},
        headers=h,
    )
    assert future.status_code == 400 and "in the future" in future.get_json()["error"]
    r = client.get(f"/api/patients/{pid}", headers=dac)
    assert r.status_code == 200
    patient = r.get_json()["patient"]
    assert patient["family_name"] == "Peretti" and patient["access_notes"] is None
    assert patient["shared"]["sharing_id"] == sharing["id"]
    line = world.store.list_audit(target=f"patient:{pid}")[0]
    assert (
        line["action"] == "patient.read_shared"
        and line["actor"] == f"user:{world.ids['coord_dac']}"
    )
    assert line["detail"]["sharing_id"] == sharing["id"]
    listed = client.get("/api/patients?shared=true", headers=dac).get_json()["items"]
    assert [p["id"] for p in listed] == [pid]
    assert client.get("/api/patients", headers=dac).get_json()["total"] == 0
    for method, url, body in (
        ("patch", f"/api/patients/{pid}", {"phone": "1"}),
        ("get", f"/api/patients/{pid}/export", None),
        ("get", f"/api/patients/{pid}/care-plans", None),
    ):
        assert getattr(client, method)(url, json=body, headers=dac).status_code == 404
    r = client.delete(f"/api/patients/{pid}/sharings/{sharing['id']}", headers=h)
    assert r.status_code == 200 and r.get_json()["sharing"]["live"] is False
    assert client.get(f"/api/patients/{pid}", headers=dac).status_code == 404
    assert client.get("/api/patients?shared=true", headers=dac).get_json()["total"] == 0
    items = client.get(f"/api/patients/{pid}/sharings", headers=h).get_json()["items"]
    assert items[0]["structure_name"] == "DAC 2B" and items[0]["live"] is False


def test_export_is_a_json_attachment_and_audited(world) -> None:
    client = world.app.test_client()
    h = world.headers("coordinator")
    pid = _create(world)["id"]
    client.post(f"/api/patients/{pid}/care-plans", json=TWICE_DAILY, headers=h)
    r = client.get(f"/api/patients/{pid}/export", headers=h)
    assert r.status_code == 200 and r.mimetype == "application/json"
    assert r.headers["Content-Disposition"] == f'attachment; filename="patient-{pid}.json"'
    body = r.get_json()
    assert body["patient"]["family_name"] == "Santoni" and len(body["care_plans"]) == 1
    assert len(body["visits"]) == 27 and body["visits"][0]["protected"]["name"] == "Marie Santoni"
    assert world.store.list_audit(target=f"patient:{pid}")[0]["action"] == "patient.export"


def test_the_openapi_document_describes_every_patients_route(world) -> None:
    doc = world.app.test_client().get("/api/openapi.json").get_json()
    paths = {p for p in doc["paths"] if p.startswith("/api/patients")}
    assert len(paths) == 14
    create = doc["paths"]["/api/patients"]["post"]["requestBody"]["content"]["application/json"]
    assert create["schema"]["additionalProperties"] is False


def test_the_page_gets_its_messages_in_french(world) -> None:
    """The patients page asks for French: the address and suspension messages come back so."""
    client = world.app.test_client()
    h = {**world.headers("coordinator"), "Accept-Language": "fr"}
    r = client.post("/api/patients", json={"family_name": "A"}, headers=h)
    assert (
        r.get_json()["error"]
        == "donnez l'adresse (elle est placée sur la carte) ou placez l'épingle"
    )
    pid = _create(world)["id"]
    r = client.post(
        f"/api/patients/{pid}/suspensions",
        json={"from_day": "2026-12-10", "to_day": "2026-12-01"},
        headers=h,
    )
    assert r.get_json()["error"].startswith("suspension : le retour 2026-12-01 est avant le départ")


# -- readmission -------------------------------------------------------------------------------------
def _discharged(world, day="2026-11-25", **changes):  # type: ignore[no-untyped-def]
    """A patient with the twice-daily plan, discharged on ``day``: (patient id, plan id)."""
    client = world.app.test_client()
    h = world.headers("coordinator")
    pid = _create(world, **changes)["id"]
    plan = client.post(f"/api/patients/{pid}/care-plans", json=TWICE_DAILY, headers=h).get_json()
    r = client.post(f"/api/patients/{pid}/discharge", json={"day": day}, headers=h)
    assert r.status_code == 200, r.get_json()
    return pid, plan["care_plan"]["id"]


def test_a_discharged_patient_is_readmitted_and_its_care_plans_stay_ended(world) -> None:
    """Readmitted on a day after the discharge: in care again from that day (admitted_on),
    no longer archived, in the default list, audited patient.readmit with the discharge it
    undoes; the care plan the discharge ended stays ended (no visit comes back) until a new
    plan is added, whose visits are generated."""
    client = world.app.test_client()
    h = world.headers("coordinator")
    pid, plan_id = _discharged(world)
    r = client.post(f"/api/patients/{pid}/readmit", json={"day": "2026-11-28"}, headers=h)
    assert r.status_code == 200, r.get_json()
    patient = r.get_json()["patient"]
    assert patient["status"] == "admitted" and patient["admitted_on"] == "2026-11-28"
    assert patient["discharged_on"] is None and patient["archived"] is False
    assert r.get_json()["generation"]["created"] == 0
    line = world.store.list_audit(target=f"patient:{pid}")[0]
    assert line["action"] == "patient.readmit"
    assert line["detail"]["day"] == "2026-11-28"
    assert line["detail"]["discharged_on"] == "2026-11-25"
    listed = client.get("/api/patients?q=santoni&limit=1000", headers=h).get_json()["items"]
    assert pid in [p["id"] for p in listed]
    (plan,) = client.get(f"/api/patients/{pid}/care-plans", headers=h).get_json()["items"]
    assert plan["id"] == plan_id and plan["end_day"] == "2026-11-24"
    visits = client.get(f"/api/patients/{pid}/visits?days=14", headers=h).get_json()["items"]
    assert all(v["status"] == "cancelled" for v in visits if v["day"] >= "2026-11-25")
    r = client.post(
        f"/api/patients/{pid}/care-plans",
        json={**TWICE_DAILY, "start_day": "2026-11-28"},
        headers=h,
    )
    # 2026-11-28 to the horizon's last day (2026-12-06): nine days, two visits each.
    assert r.status_code == 201 and r.get_json()["generation"]["created"] == 18


def test_readmission_is_refused_saying_what_to_do(world) -> None:
    """A patient in care, a day before the discharge, a purged record: 409 saying what to do;
    a body the document refuses: 400; another structure: 404."""
    client = world.app.test_client()
    h = world.headers("coordinator")
    admitted = _create(world)["id"]
    r = client.post(f"/api/patients/{admitted}/readmit", json={}, headers=h)
    assert r.status_code == 409
    assert r.get_json()["error"] == (
        f"patient {admitted} is in care (admitted): only a discharged patient is readmitted"
    )
    pid, _ = _discharged(world)
    r = client.post(f"/api/patients/{pid}/readmit", json={"day": "2026-11-24"}, headers=h)
    assert r.status_code == 409
    assert r.get_json()["error"] == (
        "readmission day 2026-11-24 is before the discharge (2026-11-25): give the day the"
        " patient comes back into care"
    )
    for body, message in (
        ({"day": "28/11/2026"}, "day is not written as expected"),
        ({"day": "2026-11-28", "why": "x"}, "unknown field"),
    ):
        r = client.post(f"/api/patients/{pid}/readmit", json=body, headers=h)
        assert r.status_code == 400 and message in r.get_json()["error"], r.get_json()
    other = client.post(
        f"/api/patients/{pid}/readmit", json={}, headers=world.headers("coord_other")
    )
    assert other.status_code == 404 and other.get_json()["error"] == f"patient {pid} does not exist"
    planner = client.post(f"/api/patients/{pid}/readmit", json={}, headers=world.headers("planner"))
    assert planner.status_code == 403
    purged, _ = _discharged(world, family_name="Ristori")
    import time

    world.store.purge_patients(retention_days=1, now=time.time() + 2 * 86_400)
    r = client.post(f"/api/patients/{purged}/readmit", json={}, headers=h)
    assert r.status_code == 409
    assert r.get_json()["error"] == (
        f"patient {purged}'s record was erased after the retention period: admit the patient"
        " as a new record"
    )
    fr = {**h, "Accept-Language": "fr"}
    r = client.post(f"/api/patients/{purged}/readmit", json={}, headers=fr)
    assert r.get_json()["error"].startswith(f"le dossier du patient {purged} a été effacé")
    r = client.post(f"/api/patients/{admitted}/readmit", json={}, headers=fr)
    assert r.get_json()["error"] == (
        f"le patient {admitted} est pris en charge : seul un patient sorti peut être réadmis"
    )
    # Nothing changed: the refused patients keep their state.
    assert world.store.get_patient(pid, structures=None, actor="test")["status"] == "discharged"


def test_readmission_today_by_default_ends_a_suspension_under_way(world) -> None:
    """Without a day the patient comes back today; a hospitalisation left open before the
    discharge ends the day before, so the readmitted patient is in care, not suspended."""
    client = world.app.test_client()
    h = world.headers("coordinator")
    pid = _create(world, admitted_on="2026-11-01")["id"]
    s = client.post(
        f"/api/patients/{pid}/suspensions",
        json={"from_day": "2026-11-20", "reason": "hospitalisation"},
        headers=h,
    )
    assert s.status_code == 201, s.get_json()
    r = client.post(f"/api/patients/{pid}/discharge", json={"day": "2026-11-21"}, headers=h)
    assert r.status_code == 200, r.get_json()
    r = client.post(f"/api/patients/{pid}/readmit", json={}, headers=h)
    assert r.status_code == 200, r.get_json()
    patient = r.get_json()["patient"]
    assert patient["status"] == "admitted" and patient["admitted_on"] == DAY
    assert patient["suspension"] is None
    (suspension,) = client.get(f"/api/patients/{pid}/suspensions", headers=h).get_json()["items"]
    assert suspension["to_day"] == "2026-11-22"
