"""Referrals through the FHIR API with the fhirclient package against a real server: a
ServiceRequest is a referrer's request, its Schedule's Slots the request's slots, an Appointment
books one (409 when it was taken), Encounters give the visit done; each resource validated by
fhir.resources on both sides; a referrer reads only their own requests, appointments and
encounters; reads audited.

The slots are the real slot finder's (dispatch/referrals/slots.py) on Melun's roads: one nurse
whose rota puts her to work every day, no round published yet (empty rounds).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest
import requests
from fhir.resources.R4B import get_fhir_model_class
from fhirclient import client as fhir_client
from fhirclient.models.appointment import Appointment
from fhirclient.models.encounter import Encounter
from fhirclient.models.patient import Patient
from fhirclient.models.schedule import Schedule
from fhirclient.models.servicerequest import ServiceRequest
from fhirclient.models.slot import Slot
from fhirclient.server import FHIRNotFoundException
from live_support import RealServer, module_settings

from dispatch.fhir.profiles import PROFILES, REFERRAL_STATE_EXTENSION
from dispatch.store import Store
from dispatch.web.api_referrals import get_referrals
from dispatch.web.app import create_app

FHIR_JSON = "application/fhir+json"
HOME = (2.6600, 48.5430)


def _validated(data: dict[str, Any]) -> dict[str, Any]:
    get_fhir_model_class(data["resourceType"]).model_validate(data)
    return data


@pytest.fixture(scope="module")
def world(melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    """Structure 1 with a nurse working every day, structure 2; referrers r1 and r2 of
    structure 1, coordinators of each structure; a real server."""
    folder = tmp_path_factory.mktemp("fhir-referrals")
    settings = module_settings(folder, territory_cache, shared_dir)
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    today = get_referrals(app).today()
    staff = store.add_staff(
        {
            "name": "Infirmière Martin",
            "job": "nurse",
            "contract_h_per_week": 35,
            "base_lon": 2.6555,
            "base_lat": 48.54,
            "skills": ["wound_care"],
            "rotas": [
                {"start_day": today, "weekdays": "MO,TU,WE,TH,FR,SA,SU", "shift": "07:00-19:00"}
            ],
        },
        structure_id=1,
    )
    b = store.add_structure({"name": "HAD Sud", "kind": "had"})["id"]
    tokens = {}
    ids = {}
    for name, role, structures in (
        ("r1", "referrer", [1]),
        ("r2", "referrer", [1]),
        ("coord-a", "coordinator", [1]),
        ("coord-b", "coordinator", [b]),
    ):
        user = store.add_user(
            name, role=role, password=None, structure_ids=structures, email=f"{name}@example.fr"
        )
        ids[name] = user["id"]
        tokens[name] = store.create_api_token(user["id"], label="test")
    real = RealServer(app)
    yield {
        "store": store,
        "app": app,
        "tokens": tokens,
        "ids": ids,
        "base": real.base_url + "/fhir",
        "day1": (dt.date.fromisoformat(today) + dt.timedelta(days=1)).isoformat(),
        "day2": (dt.date.fromisoformat(today) + dt.timedelta(days=2)).isoformat(),
        "team_id": staff["team_id"],
    }
    real.stop()


def _client(world: dict[str, Any], user: str) -> fhir_client.FHIRClient:
    smart = fhir_client.FHIRClient(settings={"app_id": "dispatch-tests", "api_base": world["base"]})
    smart.server.session.headers["Authorization"] = f"Bearer {world['tokens'][user]}"
    return smart


def _raw(world: dict[str, Any], method: str, path: str, user: str, **kw: Any):
    headers = {"Authorization": f"Bearer {world['tokens'][user]}", "Content-Type": FHIR_JSON}
    return requests.request(method, world["base"] + path, headers=headers, timeout=10, **kw)


def _service_request(world: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A GP's request: Jeanne Dupont at home, a dressing, 30 min, in the morning, days 1-2."""
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "contained": [
            {
                "resourceType": "Patient",
                "id": "patient",
                "name": [{"use": "official", "family": "Dupont", "given": ["Jeanne"]}],
                "gender": "female",
                "birthDate": "1941-03-02",
                "telecom": [{"system": "phone", "value": "0600000000"}],
            },
            {
                "resourceType": "Location",
                "id": "home",
                "description": "code 1234, 2e étage",
                "address": {"text": "12 rue de la Gare, Melun"},
                "position": {"longitude": HOME[0], "latitude": HOME[1]},
            },
        ],
        "subject": {"reference": "#patient"},
        "locationReference": [{"reference": "#home"}],
        "performer": [{"reference": "Organization/1"}],
        "code": {
            "coding": [
                {"system": world["base"] + "/CodeSystem/care-act", "code": "dressing"},
                {"system": "urn:dispatch:care-kind", "code": "nursing"},
            ]
        },
        "reasonCode": [{"text": "Pansement post-opératoire"}],
        "priority": "urgent",
        "occurrenceTiming": {
            "repeat": {
                "boundsPeriod": {"start": world["day1"], "end": world["day2"]},
                "count": 1,
                "duration": 30,
                "durationUnit": "min",
                "when": ["MORN"],
            }
        },
        "note": [{"authorString": "Dr House", "time": world["day1"], "text": "Pansement 1/j"}],
    }
    resource.update(changes)
    return resource


def _submit(world: dict[str, Any], user: str = "r1", **changes: Any) -> dict[str, Any]:
    smart = _client(world, user)
    sent = ServiceRequest(_validated(_service_request(world, **changes)))
    created = sent.create(smart.server)
    return _validated(created)


def test_a_service_request_is_a_referral_and_reads_back_the_same(world):
    created = _submit(world)
    number = int(created["id"])
    smart = _client(world, "r1")
    read = ServiceRequest.read(created["id"], smart.server)
    raw = _validated(read.as_json())
    assert raw == created
    assert {e["url"]: e["valueCode"] for e in raw["extension"]}[REFERRAL_STATE_EXTENSION] == (
        "submitted"
    )
    assert (raw["status"], raw["intent"], raw["priority"]) == ("active", "order", "urgent")
    patient = next(c for c in raw["contained"] if c["resourceType"] == "Patient")
    assert patient["name"][0] == {"use": "official", "family": "Dupont", "given": ["Jeanne"]}
    assert patient["birthDate"] == "1941-03-02"
    home = next(c for c in raw["contained"] if c["resourceType"] == "Location")
    assert home["description"] == "code 1234, 2e étage"
    assert raw["occurrenceTiming"]["repeat"]["boundsPeriod"] == {
        "start": world["day1"],
        "end": world["day2"],
    }
    assert raw["occurrenceTiming"]["repeat"]["when"] == ["MORN"]
    assert raw["note"][0]["authorString"] == "Dr House"
    # The care act comes back named, under the server's canonical system (no public address
    # is configured here: the service's URN), whatever the address the client used.
    assert raw["code"]["coding"][0] == {
        "system": "urn:dispatch:care-act",
        "code": "dressing",
        "display": "Pansement",
    }
    # The service holds the request as the REST API would have made it.
    service = get_referrals(world["app"])
    coordinator = _viewer(world, "coord-a")
    referral = service.get(coordinator, number)
    assert referral["state"] == "submitted"
    assert (referral["act"], referral["care_kind"]) == ("dressing", "nursing")
    assert referral["patient"]["family_name"] == "Dupont"
    assert (referral["lon"], referral["lat"]) == pytest.approx(HOME)
    assert (referral["urgency"], referral["time_of_day"], referral["duration_min"]) == (
        "soon",
        "morning",
        30,
    )
    assert referral["prescription"] == {
        "prescriber": "Dr House",
        "date": world["day1"],
        "details": "Pansement 1/j",
    }
    # Created: 201 with the new resource's address.
    response = _raw(
        world, "POST", "/ServiceRequest", "r1", data=json.dumps(_service_request(world))
    )
    assert response.status_code == 201
    assert response.headers["Location"].endswith(f"/ServiceRequest/{response.json()['id']}")
    assert response.headers["Content-Type"].startswith(FHIR_JSON)


def test_the_care_act_system_does_not_depend_on_the_host_the_client_used(world, monkeypatch):
    number = _submit(world)["id"]

    def system(host: str | None) -> str:
        headers = {"Authorization": f"Bearer {world['tokens']['r1']}"}
        if host:
            headers["Host"] = host
        url = f"{world['base']}/ServiceRequest/{number}"
        answer = requests.get(url, headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text
        return str(_validated(answer.json())["code"]["coding"][0]["system"])

    assert system(None) == system("proxy.example.fr:8443") == "urn:dispatch:care-act"
    # With the service's public address configured, its canonical URL under /fhir.
    settings = world["app"].extensions["dispatch.settings"]
    public = dataclasses.replace(settings, public_url="https://soins.example.fr/")
    monkeypatch.setitem(world["app"].extensions, "dispatch.settings", public)
    canonical = "https://soins.example.fr/fhir/CodeSystem/care-act"
    assert system(None) == system("proxy.example.fr:8443") == canonical
    # The CapabilityStatement says which system the care acts are coded in.
    statement = requests.get(world["base"] + "/metadata", timeout=10).json()
    assert canonical in statement["rest"][0]["documentation"]
    # Codes sent under that system or the URN are read.
    for sent in (canonical, "urn:dispatch:care-act"):
        body = _service_request(world)
        body["code"]["coding"][0]["system"] = sent
        response = _raw(world, "POST", "/ServiceRequest", "r1", data=json.dumps(body))
        assert response.status_code == 201, response.text


def test_a_recurring_request_reads_back_its_timing(world):
    timing = {
        "extension": [{"url": "urn:dispatch:extension:first-visit-by", "valueDate": world["day2"]}],
        "repeat": {
            "boundsPeriod": {"start": world["day1"], "end": world["day2"]},
            "frequency": 2,
            "period": 1,
            "periodUnit": "d",
            "dayOfWeek": ["mon", "wed", "fri"],
            "duration": 20,
            "durationUnit": "min",
        },
    }
    created = _submit(world, occurrenceTiming=timing, priority="routine")
    assert created["occurrenceTiming"] == timing
    referral = get_referrals(world["app"]).get(_viewer(world, "coord-a"), int(created["id"]))
    assert referral["recurrence"] == {
        "times_per_day": 2,
        "weekdays": [1, 3, 5],
        "until": world["day2"],
    }
    assert referral["kind"] == "care_plan"
    # Accepted by the coordinator without a slot: the care plan's visits are generated, and
    # no Appointment stands for the request (no visit was booked for it).
    accepted = get_referrals(world["app"]).accept(_viewer(world, "coord-a"), int(created["id"]))
    assert accepted["state"] == "accepted" and accepted["visit"] is None
    response = _raw(world, "GET", f"/Appointment/{created['id']}", "r1")
    assert response.status_code == 404
    assert "no visit" in _validated(response.json())["issue"][0]["diagnostics"]
    request = _validated(_raw(world, "GET", f"/ServiceRequest/{created['id']}", "r1").json())
    assert request["subject"]["reference"] == f"Patient/{accepted_patient(world, created)}"


def accepted_patient(world: dict[str, Any], created: dict[str, Any]) -> int:
    """The patient the coordinator's acceptance created or matched (the coordinator's view)."""
    referral = get_referrals(world["app"]).get(_viewer(world, "coord-a"), int(created["id"]))
    return int(referral["patient_id"])


def _viewer(world: dict[str, Any], user: str) -> Any:
    from dispatch.referrals.core import Viewer

    role = "referrer" if user.startswith("r") else "coordinator"
    structures = (1,) if user != "coord-b" else (2,)
    return Viewer(
        user_id=world["ids"][user],
        role=role,
        structure_ids=structures,
        actor=f"user:{world['ids'][user]}",
    )


def _book(world: dict[str, Any], number: int, slot_id: str, user: str = "r1"):
    appointment = {
        "resourceType": "Appointment",
        "status": "booked",
        "slot": [{"reference": f"Slot/{slot_id}"}],
        "basedOn": [{"reference": f"ServiceRequest/{number}"}],
        "participant": [
            {"actor": {"reference": "#patient", "display": "patient"}, "status": "accepted"}
        ],
    }
    return _raw(world, "POST", "/Appointment", user, data=json.dumps(_validated(appointment)))


def test_slots_booking_appointment_and_encounter(world):
    created = _submit(world)
    number = int(created["id"])
    smart = _client(world, "r1")

    schedule = Schedule.read(f"referral-{number}", smart.server)
    raw = _validated(schedule.as_json())
    assert raw["meta"]["profile"] == [PROFILES["Schedule"]]
    assert raw["active"] is True
    assert raw["planningHorizon"]["start"].startswith(world["day1"])

    search = {"schedule": f"Schedule/referral-{number}", "start": f"ge{world['day1']}"}
    slots = Slot.where(struct=search).perform_resources(smart.server)
    assert slots, "no slot for the nurse's empty mornings"
    for item in slots:
        resource = _validated(item.as_json())
        assert resource["meta"]["profile"] == [PROFILES["Slot"]]
        assert resource["status"] == "free"
        assert resource["schedule"]["reference"] == f"Schedule/referral-{number}"
        start = dt.datetime.fromisoformat(resource["start"])
        end = dt.datetime.fromisoformat(resource["end"])
        # In the period, in the morning, the visit's 30 minutes, on the nurse's round.
        assert start.date().isoformat() in (world["day1"], world["day2"])
        assert 7 <= start.hour < 12 and end - start == dt.timedelta(minutes=30)
        assert item.id.split(".")[1] == str(world["team_id"])
    first = _validated(slots[0].as_json())
    later = Slot.where(struct={**search, "start": f"gt{world['day1']}"}).perform_resources(
        smart.server
    )
    assert [s.id for s in later] == [s.id for s in slots if s.id.startswith(world["day2"])]
    assert later, "no slot on the second day"

    # Book the first with fhirclient's Appointment.
    sent = Appointment(
        _validated(
            {
                "resourceType": "Appointment",
                "status": "booked",
                "slot": [{"reference": f"Slot/{slots[0].id}"}],
                "basedOn": [{"reference": f"ServiceRequest/{number}"}],
                "participant": [{"actor": {"display": "Jeanne Dupont"}, "status": "accepted"}],
            }
        )
    )
    booked = _validated(sent.create(smart.server))
    assert booked["meta"]["profile"] == [PROFILES["Appointment"]]
    assert booked["status"] == "booked"
    assert booked["basedOn"] == [{"reference": f"ServiceRequest/{number}"}]
    assert booked["start"] == first["start"]
    assert booked["minutesDuration"] == 30
    # An arrival window: from the slot's start to its latest start plus the 30 minutes.
    latest = first["comment"].split(" et ")[1][:5]
    assert booked["comment"] == f"passage entre {first['start'][11:16]} et {latest}"
    assert booked["end"][11:16] == (
        dt.datetime.strptime(latest, "%H:%M") + dt.timedelta(minutes=30)
    ).strftime("%H:%M")
    assert booked["start"][17:19] == booked["end"][17:19] == "00"  # no stray seconds
    promised = get_referrals(world["app"]).get(_viewer(world, "r1"), number)["visit"]
    assert booked["comment"] == (
        f"passage entre {promised['arrival_from']} et {promised['arrival_to']}"
    )
    patient_ref = booked["participant"][0]["actor"]["reference"]
    assert patient_ref.startswith("Patient/")
    read = Appointment.read(booked["id"], smart.server)
    assert _validated(read.as_json()) == booked
    request = ServiceRequest.read(str(number), smart.server)
    assert request.subject.reference == patient_ref
    assert request.extension[0].valueCode == "booked"

    # A slot that is not (or no longer) free for another request: 409, an OperationOutcome
    # saying to choose another (code slot_taken).
    other = int(_submit(world)["id"])
    response = _book(world, other, f"{world['day1']}.{world['team_id']}.10800")  # 03:00
    assert response.status_code == 409, response.text
    outcome = _validated(response.json())
    assert outcome["issue"][0]["code"] == "conflict"
    assert outcome["issue"][0]["details"]["coding"][0]["code"] == "slot_taken"
    assert "slot" in outcome["issue"][0]["diagnostics"]

    # The referrer reads the identity of their request's patient with the phone and home
    # they sent, nothing of the record (a phone the structure changed stays its own).
    patient_number = int(patient_ref.split("/")[1])
    world["store"].update_patient(
        patient_number, {"phone": "0499999999"}, structures=None, actor="test"
    )
    patient = _validated(Patient.read(str(patient_number), smart.server).as_json())
    assert patient["name"][0]["family"] == "Dupont"
    assert patient["telecom"] == [{"system": "phone", "value": "0600000000", "use": "home"}]
    home = patient["address"][0]
    assert (home["text"], home["line"], home["city"]) == (
        "12 rue de la Gare, Melun",
        ["12 rue de la Gare"],
        "Melun",
    )
    assert "0499999999" not in json.dumps(patient) and "contact" not in patient

    # Once the visit is done, its Encounter comes back to the referrer.
    visit_id = get_referrals(world["app"]).get(_viewer(world, "r1"), number)["visit"]["id"]
    store = world["store"]
    for kind, at in (("check_in", 1_800_000_000.0), ("check_out", 1_800_001_800.0)):
        store.add_visit_event(visit_id, {"kind": kind, "device_time_s": at}, actor="test")
    encounters = Encounter.where(struct={"patient": patient_ref}).perform_resources(smart.server)
    assert [e.id for e in encounters] == [str(visit_id)]
    assert encounters[0].period.start.datetime.timestamp() == 1_800_000_000.0
    assert encounters[0].period.end.datetime.timestamp() == 1_800_001_800.0
    assert Appointment.read(booked["id"], smart.server).status == "fulfilled"

    # Nobody else's: the other referrer, the other structure's coordinator.
    r2 = _client(world, "r2")
    for resource, rid in (
        (ServiceRequest, str(number)),
        (Appointment, booked["id"]),
        (Schedule, f"referral-{number}"),
        (Patient, patient_ref.split("/")[1]),
    ):
        with pytest.raises(FHIRNotFoundException):
            resource.read(rid, r2.server)
    assert Encounter.where(struct={"patient": patient_ref}).perform_resources(r2.server) == []
    assert _raw(world, "GET", f"/Slot?schedule=Schedule/referral-{number}", "r2").status_code == 404
    listed = ServiceRequest.where(struct={}).perform_resources(r2.server)
    assert str(number) not in [s.id for s in listed]
    assert _raw(world, "GET", f"/ServiceRequest/{number}", "coord-b").status_code == 404
    assert _raw(world, "GET", f"/ServiceRequest/{number}", "coord-a").status_code == 200
    assert _book(world, number, slots[1].id, user="r2").status_code == 404
    assert _book(world, number, slots[1].id, user="coord-a").status_code == 403

    # Reads audited.
    actions = {
        (line["action"], line["target"])
        for line in store.list_audit(actor=f"user:{world['ids']['r1']}")
    }
    assert ("fhir.read", f"referral:{number}") in actions
    assert ("fhir.search", f"referral:{number}") in actions
    assert ("patient.read", patient_ref.replace("Patient/", "patient:")) in actions


def test_a_referrer_searches_only_their_own_requests(world):
    mine = _submit(world, "r2")
    smart = _client(world, "r2")
    listed = ServiceRequest.where(struct={}).perform_resources(smart.server)
    assert [s.id for s in listed] == [mine["id"]]
    bundle = _validated(_raw(world, "GET", "/ServiceRequest?status=revoked", "r2").json())
    assert bundle["total"] == 0
    coordinator = _validated(_raw(world, "GET", "/ServiceRequest", "coord-a").json())
    assert mine["id"] in [e["resource"]["id"] for e in coordinator["entry"]]
    assert _validated(_raw(world, "GET", "/ServiceRequest", "coord-b").json())["total"] == 0


def test_an_incomplete_service_request_says_what_to_fix(world):
    cases = [
        ({"reasonCode": None}, "reasonCode"),
        ({"occurrenceTiming": None}, "occurrenceTiming"),
        ({"performer": [{"reference": "Organization/2"}]}, "structure"),
        ({"code": {"text": "soins"}}, "code"),
    ]
    for changes, words in cases:
        body = {k: v for k, v in _service_request(world, **changes).items() if v is not None}
        response = _raw(world, "POST", "/ServiceRequest", "r1", data=json.dumps(body))
        assert 400 <= response.status_code < 500, response.text
        outcome = _validated(response.json())
        assert outcome["resourceType"] == "OperationOutcome"
        assert words in outcome["issue"][0]["diagnostics"], outcome


def test_a_home_without_position_is_placed_by_the_offline_geocoder(world):
    home = {
        "resourceType": "Location",
        "id": "home",
        "address": {"text": "8 rue Pajol, Melun"},
    }
    patient = _service_request(world)["contained"][0]
    created = _submit(world, contained=[patient, home])
    placed = next(c for c in created["contained"] if c["resourceType"] == "Location")
    lon, lat = placed["position"]["longitude"], placed["position"]["latitude"]
    assert abs(lon - 2.66) < 0.03 and abs(lat - 48.54) < 0.03
    nowhere = {**home, "address": {"text": "99 chemin des Nuages, Atlantis"}}
    body = _service_request(world, contained=[patient, nowhere])
    response = _raw(world, "POST", "/ServiceRequest", "r1", data=json.dumps(body))
    assert response.status_code == 422, response.text
    outcome = _validated(response.json())
    assert "position" in outcome["issue"][0]["diagnostics"]
