"""The FHIR API's records (Patient, Practitioner, Organization, Location, Encounter) and its
errors, read with the fhirclient package as a real client against a real server: every
resource validated by fhir.resources' R4B models on the client's side too, structures
isolated as in the REST API, reads audited, every error an OperationOutcome with a 4xx."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import requests
from fhir.resources.R4B import get_fhir_model_class
from fhirclient import client as fhir_client
from fhirclient.models.encounter import Encounter
from fhirclient.models.location import Location
from fhirclient.models.organization import Organization
from fhirclient.models.patient import Patient
from fhirclient.models.practitioner import Practitioner
from fhirclient.server import FHIRNotFoundException
from live_support import HOME_A, HOME_B, MELUN, PASSWORD, RealServer, module_settings

from dispatch.fhir.profiles import PROFILES
from dispatch.store import Store
from dispatch.web.app import create_app

FHIR_JSON = "application/fhir+json"


def _validated(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` checked by the R4B model of its resourceType (raises when invalid)."""
    get_fhir_model_class(data["resourceType"]).model_validate(data)
    return data


@pytest.fixture(scope="module")
def world(melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    """Structure 1 (A, with a FINESS number) and 2 (B): a patient, a member of staff and a
    visit done (checked in at 09:00, out at 09:40) in each; users of each role; a server."""
    settings = module_settings(tmp_path_factory.mktemp("fhir-api"), territory_cache, shared_dir)
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    day = app.extensions["dispatch.live"].today()
    store.update_structure(1, {"name": "SSIAD Nord", "finess": "770000123"})
    b = store.add_structure({"name": "HAD Sud", "kind": "had"})["id"]
    out: dict[str, Any] = {"store": store, "day": day, "b_id": b}
    for key, structure, home, name in (("a", 1, HOME_A, "Durand"), ("b", b, HOME_B, "Zzbertin")):
        patient = store.add_patient(
            {
                "structure_id": structure,
                "family_name": name,
                "given_name": "Anne",
                "birth_date": "1941-05-06",
                "sex": "female",
                "phone": "06 01 02 03 04",
                "address": f"4 rue de {name}",
                "commune": "Melun",
                "lon": home[0],
                "lat": home[1],
                "geocode_precision": "housenumber",
                "access_notes": "code 1234",
            },
            actor="test",
        )
        staff = store.add_staff(
            {
                "name": f"Infirmière {name}",
                "gender": "female",
                "job": "nurse",
                "contract_h_per_week": 35,
                "base_name": f"Bureau {name}",
                "base_lon": MELUN[0],
                "base_lat": MELUN[1],
            },
            structure_id=structure,
        )
        visit = store.add_visit(
            {
                "day": day,
                "pseudonym": f"P-{name}",
                "lon": home[0],
                "lat": home[1],
                "duration_s": 2400,
                "windows": [["00:00", "23:59"]],
                "care_kind": "nursing",
                "team_id": staff["team_id"],
            },
            structure_id=structure,
        )
        planned = store.add_visit(
            {
                "day": day,
                "pseudonym": f"Q-{name}",
                "lon": home[0],
                "lat": home[1],
                "duration_s": 600,
                "windows": [["00:00", "23:59"]],
            },
            structure_id=structure,
        )

        def move(conn, visit_ids=(visit["id"], planned["id"]), pid=patient["id"]):  # type: ignore[no-untyped-def]
            for vid in visit_ids:
                conn.execute("UPDATE visits SET patient_id = ? WHERE id = ?", (pid, vid))

        store.engine.write(move)
        checked_in = 1_800_000_000.0
        for kind, at in (("check_in", checked_in), ("check_out", checked_in + 2400)):
            store.add_visit_event(visit["id"], {"kind": kind, "device_time_s": at}, actor="test")
        out[key] = {"patient": patient, "staff": staff, "visit": visit, "planned": planned}
    out["check_in_s"] = 1_800_000_000.0
    tokens = {}
    for name, role, structures in (
        ("coord-a", "coordinator", [1]),
        ("coord-b", "coordinator", [b]),
        ("planner-a", "planner", [1]),
        ("admin", "admin", [1]),
    ):
        user = store.add_user(name, role=role, password=None, structure_ids=structures)
        tokens[name] = store.create_api_token(user["id"], label="test")
    out["tokens"] = tokens
    real = RealServer(app)
    out["base"] = real.base_url + "/fhir"
    yield out
    real.stop()


def _client(world: dict[str, Any], user: str | None) -> fhir_client.FHIRClient:
    """fhirclient on the server, with ``user``'s bearer token on its requests session."""
    smart = fhir_client.FHIRClient(settings={"app_id": "dispatch-tests", "api_base": world["base"]})
    if user is not None:
        smart.server.session.headers["Authorization"] = f"Bearer {world['tokens'][user]}"
    return smart


def _raw(world: dict[str, Any], method: str, path: str, user: str | None = "coord-a", **kw: Any):
    headers = kw.pop("headers", {})
    if user is not None:
        headers.setdefault("Authorization", f"Bearer {world['tokens'][user]}")
    return requests.request(method, world["base"] + path, headers=headers, timeout=10, **kw)


def _outcome(response: requests.Response, status: int) -> dict[str, Any]:
    """The OperationOutcome of an error answer, checked."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith(FHIR_JSON)
    body = _validated(response.json())
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["severity"] == "error"
    assert body["issue"][0]["diagnostics"]
    return body


def test_metadata_lists_what_is_supported_without_authentication(world):
    smart = _client(world, None)
    statement = smart.server.capabilityStatement
    raw = _validated(statement.as_json())
    assert raw["fhirVersion"] == "4.0.1"
    assert FHIR_JSON in raw["format"]
    resources = {r["type"]: r for r in raw["rest"][0]["resource"]}
    assert set(resources) == {
        "Patient",
        "Practitioner",
        "Organization",
        "Location",
        "ServiceRequest",
        "Schedule",
        "Slot",
        "Appointment",
        "Encounter",
        "CodeSystem",
    }
    for name, profile in PROFILES.items():
        assert resources[name]["profile"] == profile
    assert [i["code"] for i in resources["Appointment"]["interaction"]] == ["create", "read"]
    assert {p["name"] for p in resources["Slot"]["searchParam"]} >= {"schedule", "start"}
    assert "searchParam" not in resources["Schedule"]


def test_the_care_acts_code_system_is_read_without_authentication(world):
    response = _raw(world, "GET", "/CodeSystem/care-act", None)
    assert response.status_code == 200, response.text
    system = _validated(response.json())
    assert (system["id"], system["url"], system["status"], system["content"]) == (
        "care-act",
        "urn:dispatch:care-act",
        "active",
        "complete",
    )
    concepts = {c["code"]: c for c in system["concept"]}
    assert concepts["insulin"]["display"] == "Insuline"
    assert concepts["insulin"]["designation"] == [{"language": "en", "value": "Insulin"}]
    assert len(concepts) == 11
    _outcome(_raw(world, "GET", "/CodeSystem/other", None), 404)


def test_patient_read_round_trip_is_fr_core_and_audited(world):
    smart = _client(world, "coord-a")
    patient_id = world["a"]["patient"]["id"]
    patient = Patient.read(str(patient_id), smart.server)
    raw = _validated(patient.as_json())
    assert raw["meta"]["profile"] == [PROFILES["Patient"]]
    assert patient.name[0].use == "official"
    assert (patient.name[0].family, patient.name[0].given) == ("Durand", ["Anne"])
    assert patient.birthDate.isostring == "1941-05-06"
    assert patient.gender == "female"
    assert patient.managingOrganization.reference == "Organization/1"
    pi = patient.identifier[0]
    assert (pi.use, pi.type.coding[0].code, pi.value) == ("usual", "PI", str(patient_id))
    assert raw["telecom"] == [{"system": "phone", "value": "06 01 02 03 04", "use": "home"}]
    address = raw["address"][0]
    assert address["text"] == "4 rue de Durand" and address["city"] == "Melun"
    assert address["line"] == ["4 rue de Durand"]
    geo = {e["url"]: e["valueDecimal"] for e in address["extension"][0]["extension"]}
    assert (geo["longitude"], geo["latitude"]) == pytest.approx(HOME_A)
    audit = world["store"].list_audit(target=f"patient:{patient_id}")
    assert any(
        line["action"] == "patient.read" and line["detail"] == {"via": "fhir"} for line in audit
    )


def test_another_structures_patient_is_not_found(world):
    smart = _client(world, "coord-a")
    with pytest.raises(FHIRNotFoundException) as caught:
        Patient.read(str(world["b"]["patient"]["id"]), smart.server)
    body = _validated(caught.value.response.json())
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "not-found"
    assert "Zzbertin" not in caught.value.response.text
    denied = world["store"].list_audit(target=f"patient:{world['b']['patient']['id']}")
    assert any(line["action"] == "patient.read.denied" for line in denied)


def test_patient_search_gives_a_searchset_of_the_callers_structure(world):
    smart = _client(world, "coord-a")
    found = Patient.where(struct={"name": "anne"}).perform_resources(smart.server)
    assert [p.id for p in found] == [str(world["a"]["patient"]["id"])]
    response = _raw(world, "GET", "/Patient?name=anne&_count=1")
    bundle = _validated(response.json())
    assert (bundle["type"], bundle["total"]) == ("searchset", 1)
    assert bundle["entry"][0]["fullUrl"].endswith(f"/Patient/{world['a']['patient']['id']}")


def test_encounters_are_the_visits_done_with_check_in_and_out(world):
    smart = _client(world, "coord-a")
    patient_id = world["a"]["patient"]["id"]
    found = Encounter.where(struct={"patient": f"Patient/{patient_id}"}).perform_resources(
        smart.server
    )
    assert [e.id for e in found] == [str(world["a"]["visit"]["id"])]  # not the planned one
    encounter = _validated(found[0].as_json())
    assert encounter["meta"]["profile"] == [PROFILES["Encounter"]]
    assert encounter["status"] == "finished"
    assert encounter["class"]["code"] == "HH"
    assert encounter["identifier"][0]["type"]["coding"][0]["code"] == "VN"
    assert found[0].period.start.datetime.timestamp() == world["check_in_s"]
    assert found[0].period.end.datetime.timestamp() == world["check_in_s"] + 2400
    assert encounter["subject"]["reference"] == f"Patient/{patient_id}"
    assert encounter["participant"][0]["individual"]["reference"] == (
        f"Practitioner/{world['a']['staff']['id']}"
    )
    audit = world["store"].list_audit(target=f"patient:{patient_id}")
    assert any(
        line["action"] == "fhir.search" and line["detail"]["resource"] == "Encounter"
        for line in audit
    )
    # Another structure's coordinator finds nothing of it.
    other = _client(world, "coord-b")
    assert (
        Encounter.where(struct={"patient": str(patient_id)}).perform_resources(other.server) == []
    )


def test_a_visit_checked_in_is_an_encounter_in_progress(world):
    store = world["store"]
    patient_id = world["a"]["patient"]["id"]
    ongoing = store.add_visit(
        {
            "day": world["day"],
            "pseudonym": "R-Durand",
            "lon": HOME_A[0],
            "lat": HOME_A[1],
            "duration_s": 1200,
            "windows": [["00:00", "23:59"]],
            "care_kind": "nursing",
            "team_id": world["a"]["staff"]["team_id"],
        },
        structure_id=1,
    )
    store.engine.write(
        lambda conn: conn.execute(
            "UPDATE visits SET patient_id = ? WHERE id = ?", (patient_id, ongoing["id"])
        )
    )
    checked_in = world["check_in_s"] + 7200
    store.add_visit_event(
        ongoing["id"], {"kind": "check_in", "device_time_s": checked_in}, actor="test"
    )
    bundle = _validated(_raw(world, "GET", f"/Encounter?patient={patient_id}").json())
    found = {e["resource"]["id"]: e["resource"] for e in bundle["entry"]}
    assert set(found) == {str(world["a"]["visit"]["id"]), str(ongoing["id"])}
    now = found[str(ongoing["id"])]
    assert now["status"] == "in-progress" and "end" not in now["period"]
    assert dt.datetime.fromisoformat(now["period"]["start"]).timestamp() == checked_in
    assert found[str(world["a"]["visit"]["id"])]["status"] == "finished"


def test_practitioner_organization_location_round_trips(world):
    smart = _client(world, "planner-a")
    staff = world["a"]["staff"]
    practitioner = Practitioner.read(str(staff["id"]), smart.server)
    raw = _validated(practitioner.as_json())
    assert raw["meta"]["profile"] == [PROFILES["Practitioner"]]
    assert practitioner.name[0].text == "Infirmière Durand"
    assert practitioner.qualification[0].code.coding[0].code == "nurse"
    listed = Practitioner.where(struct={}).perform_resources(smart.server)
    assert [p.id for p in listed] == [str(staff["id"])]

    organization = Organization.read("1", smart.server)
    raw = _validated(organization.as_json())
    assert raw["meta"]["profile"] == [PROFILES["Organization"]]
    finess = raw["identifier"][0]
    assert finess["system"] == "https://finess.esante.gouv.fr" and finess["value"] == "770000123"
    assert finess["type"]["coding"][0]["code"] == "FINEG"
    assert [o.id for o in Organization.where(struct={}).perform_resources(smart.server)] == ["1"]

    location = Location.read(str(staff["team_id"]), smart.server)
    raw = _validated(location.as_json())
    assert raw["meta"]["profile"] == [PROFILES["Location"]]
    assert raw["name"] == "Bureau Durand"
    assert (raw["position"]["longitude"], raw["position"]["latitude"]) == pytest.approx(MELUN)
    assert raw["managingOrganization"]["reference"] == "Organization/1"
    read = {
        (line["action"], line["target"])
        for line in world["store"].list_audit(actor=f"user:{_user_id(world, 'planner-a')}")
    }
    assert {
        ("fhir.read", f"staff:{staff['id']}"),
        ("fhir.read", "structure:1"),
        ("fhir.read", f"team:{staff['team_id']}"),
    } <= read

    for path in (
        f"/Practitioner/{world['b']['staff']['id']}",
        f"/Organization/{world['b_id']}",
        f"/Location/{world['b']['staff']['team_id']}",
        "/Practitioner/abc",
        "/Practitioner/99999999",
    ):
        _outcome(_raw(world, "GET", path, "planner-a"), 404)


@pytest.mark.parametrize(
    ("method", "path", "user", "status", "issue"),
    [
        ("GET", "/Patient/1", None, 401, "login"),
        ("GET", "/Patient/1", "planner-a", 403, "forbidden"),
        ("GET", "/Patient/1", "admin", 403, "forbidden"),
        ("GET", "/Patient?birthdate=1941", "coord-a", 400, "invalid"),
        ("GET", "/Patient?_count=many", "coord-a", 400, "invalid"),
        ("GET", "/Encounter", "coord-a", 400, "invalid"),
        ("GET", "/Observation/1", "coord-a", 404, "not-found"),
        ("DELETE", "/Patient/1", "coord-a", 405, "not-supported"),
        ("POST", "/ServiceRequest", "coord-a", 403, "forbidden"),
        ("GET", "/Slot?schedule=Schedule/nope", "coord-a", 400, "invalid"),
    ],
)
def test_errors_are_operation_outcomes(world, method, path, user, status, issue):
    body = _outcome(_raw(world, method, path, user), status)
    assert body["issue"][0]["code"] == issue


def test_a_bad_token_and_a_405_say_what_to_do(world):
    response = _raw(world, "GET", "/Patient/1", None, headers={"Authorization": "Bearer nope"})
    assert "token" in _outcome(response, 401)["issue"][0]["diagnostics"]
    response = _raw(world, "PUT", "/Patient/1")
    _outcome(response, 405)
    assert response.headers["Allow"] == "GET"
    assert response.headers["Cache-Control"].startswith("no-store")


def test_malformed_resources_are_refused_with_an_outcome(world):
    """A body that is no JSON, another resource, or a resource the R4B model refuses."""
    store = world["store"]
    referrer = store.add_user("ref-malformed", role="referrer", password=None, structure_ids=[1])
    token = store.create_api_token(referrer["id"], label="test")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": FHIR_JSON}
    cases = [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "resource"),
        (json.dumps({"resourceType": "Patient"}).encode(), "resourceType"),
        (
            json.dumps(
                {"resourceType": "ServiceRequest", "status": "active", "intent": "order", "x": 1}
            ).encode(),
            "ServiceRequest.x",
        ),
        (
            json.dumps(
                {
                    "resourceType": "ServiceRequest",
                    "status": "active",
                    "intent": "order",
                    "authoredOn": "yesterday",
                    "subject": {"reference": "#p"},
                }
            ).encode(),
            "authoredOn",
        ),  # fmt: skip
        (
            json.dumps(
                {
                    "resourceType": "ServiceRequest",
                    "status": "active",
                    "intent": "order",
                    "subject": {"reference": "Patient/1"},
                }
            ).encode(),
            "contained",
        ),  # fmt: skip
    ]
    for body, words in cases:
        response = requests.post(
            world["base"] + "/ServiceRequest", data=body, headers=headers, timeout=10
        )
        outcome = _outcome(response, 400)
        assert words in outcome["issue"][0]["diagnostics"], outcome
    appointment = {
        "resourceType": "Appointment",
        "status": "booked",
        "participant": [{"status": "accepted", "actor": {"display": "patient"}}],
    }
    response = requests.post(
        world["base"] + "/Appointment",
        data=json.dumps(appointment),
        headers=headers,
        timeout=10,
    )
    assert "Appointment.slot" in _outcome(response, 400)["issue"][0]["diagnostics"]
    # A status that is none of FHIR's is named as the fault, before the missing slot.
    response = requests.post(
        world["base"] + "/Appointment",
        data=json.dumps({**appointment, "status": "wibble"}),
        headers=headers,
        timeout=10,
    )
    diagnostics = _outcome(response, 400)["issue"][0]["diagnostics"]
    assert "Appointment.status" in diagnostics and "wibble" in diagnostics
    assert "Appointment.slot" not in diagnostics


def test_a_body_in_xml_is_an_unsupported_media_type(world):
    store = world["store"]
    referrer = store.add_user("ref-xml", role="referrer", password=None, structure_ids=[1])
    token = store.create_api_token(referrer["id"], label="test")
    xml = b'<ServiceRequest xmlns="http://hl7.org/fhir"><status value="active"/></ServiceRequest>'
    for content_type in ("application/fhir+xml", "text/xml", None):
        headers = {"Authorization": f"Bearer {token}"}
        if content_type:
            headers["Content-Type"] = content_type
        for path in ("/ServiceRequest", "/Appointment"):
            response = requests.post(world["base"] + path, data=xml, headers=headers, timeout=10)
            outcome = _outcome(response, 415)
            assert outcome["issue"][0]["code"] == "not-supported"
            assert FHIR_JSON in outcome["issue"][0]["diagnostics"]


def test_a_session_cookie_needs_the_csrf_header_to_post(world):
    """The web pages' session works on /fhir as on /api: reads with the cookie, writes with
    the X-CSRF-Token header too."""
    store = world["store"]
    store.add_user("ref-cookie", role="referrer", password=PASSWORD, structure_ids=[1])
    session = requests.Session()
    root = world["base"].removesuffix("/fhir")
    login = session.post(
        f"{root}/api/session", json={"username": "ref-cookie", "password": PASSWORD}, timeout=10
    )
    assert login.status_code == 200, login.text
    assert session.get(world["base"] + "/ServiceRequest", timeout=10).status_code == 200
    response = session.post(
        world["base"] + "/ServiceRequest",
        data=json.dumps({"resourceType": "ServiceRequest", "status": "active", "intent": "order"}),
        headers={"Content-Type": FHIR_JSON},
        timeout=10,
    )
    assert "X-CSRF-Token" in _outcome(response, 403)["issue"][0]["diagnostics"]
    response = session.post(
        world["base"] + "/ServiceRequest",
        data=json.dumps({"resourceType": "ServiceRequest", "status": "active", "intent": "order"}),
        headers={"Content-Type": FHIR_JSON, "X-CSRF-Token": login.json()["csrf_token"]},
        timeout=10,
    )
    _outcome(response, 400)  # past the CSRF check: the request lacks its patient


def test_searches_page_with_next_links(world):
    first = _validated(_raw(world, "GET", "/Organization?_count=1", "admin").json())
    assert first["total"] == 2 and len(first["entry"]) == 1
    following = next(link["url"] for link in first["link"] if link["relation"] == "next")
    second = _validated(requests.get(following, headers=_auth(world, "admin"), timeout=10).json())
    assert len(second["entry"]) == 1
    assert not any(link["relation"] == "next" for link in second["link"])
    names = {first["entry"][0]["resource"]["name"], second["entry"][0]["resource"]["name"]}
    assert names == {"SSIAD Nord", "HAD Sud"}
    # A coordinator lists only their structure.
    mine = _validated(_raw(world, "GET", "/Organization", "coord-b").json())
    assert [e["resource"]["name"] for e in mine["entry"]] == ["HAD Sud"]


def _auth(world: dict[str, Any], user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world['tokens'][user]}"}


def _user_id(world: dict[str, Any], name: str) -> int:
    return int(world["store"].find_user(name)["id"])
