"""The pure FHIR mapping (dispatch.fhir): a referral and its ServiceRequest map to each other,
date search bounds keep FHIR's prefix semantics over local days and DST, references and ids
are read as FHIR writes them, and the times of slots and appointments carry their offset."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest

from dispatch.errors import ValidationError
from dispatch.fhir import mapping
from dispatch.fhir.inbound import booking_input, read_resource, referral_input
from dispatch.fhir.search import DateBound, int_id, reference_id

PARIS = "Europe/Paris"


def _referral(**changes):  # type: ignore[no-untyped-def]
    referral = {
        "id": 7,
        "structure_id": 1,
        "structure_name": "SSIAD Nord",
        "state": "submitted",
        "kind": "visit",
        "urgency": "urgent",
        "patient": {
            "family_name": "Dupont",
            "given_name": "Jeanne",
            "birth_date": "1941-03-02",
            "gender": "female",
            "phone": "0600000000",
        },
        "address": "12 rue de la Gare, Melun",
        "lon": 2.66,
        "lat": 48.543,
        "access_notes": "code 1234",
        "reason": "Pansement",
        "act": "other",
        "care_kind": "nursing",
        "duration_min": 45,
        "period_from": "2027-03-29",
        "period_to": "2027-04-02",
        "time_of_day": "evening",
        "recurrence": None,
        "prescription": {"prescriber": "Dr House", "date": "2027-03-28", "details": "1/j"},
        "referrer": {"id": 4, "display_name": "Dr Martin", "profession": "gp"},
        "patient_id": None,
        "created_at": "2027-03-28T10:00:00+02:00",
    }
    referral.update(changes)
    return referral


INPUT_KEYS = (
    "patient",
    "address",
    "lon",
    "lat",
    "access_notes",
    "reason",
    "act",
    "care_kind",
    "duration_min",
    "urgency",
    "period_from",
    "period_to",
    "time_of_day",
    "recurrence",
    "prescription",
    "structure_id",
)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"urgency": "routine", "time_of_day": "any", "prescription": None, "access_notes": None},
        {"act": "insulin"},
        {
            "urgency": "soon",
            "act": "dressing",
            "kind": "care_plan",
            "recurrence": {
                "times_per_day": 3,
                "weekdays": [1, 2, 3, 4, 5, 6, 7],
                "until": "2027-04-20",
            },
        },
    ],
)
def test_a_referral_and_its_service_request_map_to_each_other(changes):
    referral = _referral(**changes)
    resource = mapping.service_request(referral)
    back = referral_input(read_resource(json.dumps(resource).encode(), "ServiceRequest"))
    assert {k: back[k] for k in INPUT_KEYS} == {
        **{k: referral[k] for k in INPUT_KEYS if k != "structure_id"},
        "structure_id": 1,
    }


def test_a_service_requests_home_has_its_address_parts():
    resource = mapping.service_request(_referral(address="12 rue de la Gare, 77000 Melun"))
    home = next(c for c in resource["contained"] if c["resourceType"] == "Location")
    assert home["address"] == {
        "use": "home",
        "text": "12 rue de la Gare, 77000 Melun",
        "line": ["12 rue de la Gare"],
        "postalCode": "77000",
        "city": "Melun",
    }


def test_a_service_request_code_names_the_care_act_under_the_server_base():
    base = "https://soins.example.fr/fhir"
    resource = mapping.service_request(_referral(act="insulin"), base_url=base)
    act = resource["code"]["coding"][0]
    assert act == {
        "system": "https://soins.example.fr/fhir/CodeSystem/care-act",
        "code": "insulin",
        "display": "Insuline",
    }
    assert resource["code"]["text"] == "Insuline"
    back = referral_input(read_resource(json.dumps(resource).encode(), "ServiceRequest"))
    assert back["act"] == "insulin"
    # An unknown act of that system is refused with the known ones named.
    act["code"] = "surgery"
    with pytest.raises(ValidationError, match="insulin"):
        referral_input(read_resource(json.dumps(resource).encode(), "ServiceRequest"))
    # A request must name its act (its skills choose the teams).
    resource["code"]["coding"] = resource["code"]["coding"][1:]
    with pytest.raises(ValidationError, match="CodeSystem/care-act"):
        referral_input(read_resource(json.dumps(resource).encode(), "ServiceRequest"))


def test_date_bounds_follow_fhir_prefixes_over_local_days():
    def at(text: str) -> dt.datetime:
        return dt.datetime.fromisoformat(text)

    day = "2027-03-28"  # the spring DST change: 23 hours long in Paris
    bound = {
        p: DateBound(f"{p}{day}", tz=PARIS, what="start") for p in ("ge", "gt", "le", "lt", "eq")
    }
    first, last = at("2027-03-28T00:00:00+01:00"), at("2027-03-28T23:59:00+02:00")
    before, after = at("2027-03-27T23:59:00+01:00"), at("2027-03-29T00:00:00+02:00")
    assert [bound["ge"].admits(t) for t in (before, first, last, after)] == [
        False,
        True,
        True,
        True,
    ]
    assert [bound["gt"].admits(t) for t in (before, first, last, after)] == [
        False,
        False,
        False,
        True,
    ]
    assert [bound["le"].admits(t) for t in (before, first, last, after)] == [
        True,
        True,
        True,
        False,
    ]
    assert [bound["lt"].admits(t) for t in (before, first, last, after)] == [
        True,
        False,
        False,
        False,
    ]
    assert [bound["eq"].admits(t) for t in (before, first, last, after)] == [
        False,
        True,
        True,
        False,
    ]
    # A date-time, with fhirclient's operator; UTC's Z.
    assert DateBound(">=2027-03-28T08:00:00Z", tz=PARIS, what="start").admits(
        at("2027-03-28T10:00:00+02:00")
    )
    assert not DateBound("lt2027-03-28T08:00:00Z", tz=PARIS, what="start").admits(
        at("2027-03-28T10:00:00+02:00")
    )
    for wrong in ("ne2027-03-28", "ge28/03/2027", "soon"):
        with pytest.raises(ValidationError):
            DateBound(wrong, tz=PARIS, what="start")


def test_references_and_ids():
    assert reference_id("Patient/12", "Patient", what="patient") == "12"
    assert reference_id("https://x.fr/fhir/Patient/12", "Patient", what="patient") == "12"
    assert reference_id("12", "Patient", what="patient") == "12"
    assert reference_id("Schedule/referral-3", "Schedule", what="schedule") == "referral-3"
    for wrong in ("Practitioner/12", "", "a b"):
        with pytest.raises(ValidationError):
            reference_id(wrong, "Patient", what="patient")
    assert [int_id(t) for t in ("12", "012", "abc", str(2**53))] == [12, None, None, None]
    assert booking_input(
        {
            "status": "booked",
            "slot": [{"reference": "Slot/2027-03-29.3.32400"}],
            "basedOn": [{"reference": "ServiceRequest/7"}],
        }
    ) == ("7", "2027-03-29.3.32400")


def test_slot_and_appointment_times_carry_the_local_offset():
    slot = mapping.slot(
        7,
        {
            "slot_id": "2027-03-28.3.33753",
            "day": "2027-03-28",
            "start": "09:22",
            "latest_start": "09:52",
            "end": "10:07",
            "start_at": "2027-03-28T09:22:33+02:00",
        },
        tz=PARIS,
    )
    # To the minute the referrer was shown (no stray seconds).
    assert (slot["start"], slot["end"]) == (
        "2027-03-28T09:22:00+02:00",
        "2027-03-28T10:07:00+02:00",
    )
    appointment = mapping.appointment(
        _referral(
            state="booked",
            patient_id=5,
            visit={
                "id": 9,
                "day": "2027-03-28",
                "start": "01:30",
                "end": "03:30",
                "status": "planned",
            },
        ),
        tz=PARIS,
    )
    # 01:30 is before the change (+01:00); 03:30 after it (+02:00).
    assert (appointment["start"], appointment["end"]) == (
        "2027-03-28T01:30:00+01:00",
        "2027-03-28T03:30:00+02:00",
    )
    start = dt.datetime.fromisoformat(appointment["start"]).astimezone(ZoneInfo(PARIS))
    assert start.hour == 1


def test_an_appointment_is_the_arrival_window_promised():
    """Booked from 08:10 to 09:10 (the slot's start and latest start), 30 minutes: the
    Appointment runs from the window's start to its latest start plus the visit's duration,
    and says so in words."""
    appointment = mapping.appointment(
        _referral(
            state="booked",
            patient_id=5,
            duration_min=30,
            visit={
                "id": 9,
                "day": "2027-01-12",
                "start": "08:25",
                "end": "08:55",
                "status": "planned",
                "arrival_from": "08:10",
                "arrival_to": "09:10",
            },
        ),
        tz=PARIS,
    )
    assert (appointment["start"], appointment["end"]) == (
        "2027-01-12T08:10:00+01:00",
        "2027-01-12T09:40:00+01:00",
    )
    assert appointment["minutesDuration"] == 30
    assert appointment["comment"] == "passage entre 08:10 et 09:10"


@pytest.mark.parametrize(
    ("status", "words"),
    [("wibble", "'wibble' is not an Appointment status"), ("cancelled", "booked")],
)
def test_an_appointment_that_is_no_booking_is_refused_for_its_status(status, words):
    appointment = {
        "resourceType": "Appointment",
        "status": status,
        "participant": [{"status": "accepted", "actor": {"display": "patient"}}],
    }
    # The status is checked first: the missing slot is not what the client is told.
    with pytest.raises(ValidationError, match="Appointment.status") as caught:
        booking_input(read_resource(json.dumps(appointment).encode(), "Appointment"))
    assert words in caught.value.message and "slot" not in caught.value.message


@pytest.mark.parametrize(
    ("address", "commune", "expected"),
    [
        (
            "12 rue de la Gare, 77000 Melun",
            None,
            {"line": ["12 rue de la Gare"], "postalCode": "77000", "city": "Melun"},
        ),
        ("4 rue de Durand", "Melun", {"line": ["4 rue de Durand"], "city": "Melun"}),
        ("Rue de la Gare, Melun", None, {"line": ["Rue de la Gare"], "city": "Melun"}),
        ("8 cours Paoli, Corte", "Corte", {"line": ["8 cours Paoli"], "city": "Corte"}),
        ("Bastia", None, {"city": "Bastia"}),
    ],
)
def test_a_patient_has_phone_and_fr_core_address_parts(address, commune, expected):
    patient = mapping.patient(
        {
            "id": 3,
            "structure_id": 1,
            "family_name": "Dupont",
            "given_name": "Jeanne",
            "phone": "06 01 02 03 04",
            "address": address,
            "commune": commune,
            "lon": 2.66,
            "lat": 48.54,
        }
    )
    assert patient["telecom"] == [{"system": "phone", "value": "06 01 02 03 04", "use": "home"}]
    found = patient["address"][0]
    assert found["text"] == address
    assert {k: found[k] for k in ("line", "postalCode", "city") if k in found} == expected
