"""The patients service without Flask (as the CLI and the demo call it): placing a home,
and each action followed by the regeneration of the visits."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from dispatch.care import patients as service
from dispatch.errors import AddressNotFoundError, NotBuiltError, NotFoundError, ValidationError
from dispatch.store import Store
from dispatch.territory.geocode import GeocodeResult

TODAY = "2026-11-23"
#: 07:00 in Paris on TODAY: every window of the day is still ahead.
NOW_S = dt.datetime(2026, 11, 23, 7, 0, tzinfo=ZoneInfo("Europe/Paris")).timestamp()
CLI = service.Caller(actor="cli")
GEN = service.Generation(today=TODAY, horizon_days=14, now_s=NOW_S)
PLAN = {
    "label": "Pansement",
    "kind": "dressing",
    "duration_s": 1800,
    "windows": ["09:00-12:00"],
    "rrule": "FREQ=WEEKLY;BYDAY=MO,WE,FR",
    "start_day": TODAY,
}


class FakeGeocoder:
    def __init__(self, answers: dict[str, GeocodeResult]) -> None:
        self.answers = answers
        self.queries: list[str] = []

    def geocode(self, text: str, *, limit: int = 5) -> list[GeocodeResult]:
        self.queries.append(text)
        found = self.answers.get(text)
        return [found] if found else []


GEOCODER = FakeGeocoder(
    {
        "12 boulevard Paoli, Bastia": GeocodeResult(
            "12 Boulevard Paoli, Bastia", 9.4497, 42.6993, 0.95, "housenumber", "2B033"
        ),
        "route de la plage": GeocodeResult(
            "Route de la Plage, Lucciana", 9.48, 42.54, 0.7, "street", "2B148"
        ),
    }
)


@pytest.fixture
def store(tmp_path):  # type: ignore[no-untyped-def]
    s = Store(tmp_path / "db.sqlite")
    yield s
    s.close()


def test_a_home_is_placed_from_its_address_or_the_pin() -> None:
    """The address geocoded (precision of the match, commune from its label when missing);
    lon/lat given are the pin (manual, corrected); an unknown address is 422; no territory
    is 503 saying to place the pin; nothing to place is 400."""
    placed = service.place({"address": "12 boulevard Paoli", "commune": "Bastia"}, GEOCODER)
    assert (placed["lon"], placed["lat"]) == (9.4497, 42.6993)
    assert placed["geocode_precision"] == "housenumber" and placed["pin_corrected"] is False
    assert service.place({"address": "route de la plage"}, GEOCODER)["commune"] == "Lucciana"
    pin = service.place({"address": "12 boulevard Paoli", "lon": 9.45, "lat": 42.7}, GEOCODER)
    assert pin["geocode_precision"] == "manual" and pin["pin_corrected"] is True
    with pytest.raises(AddressNotFoundError, match="not found in the territory") as err:
        service.place({"address": "1 rue Inconnue"}, GEOCODER)
    assert err.value.status == 422
    with pytest.raises(NotBuiltError, match="place the pin"):
        service.place({"address": "12 boulevard Paoli"}, None)
    with pytest.raises(ValidationError, match="give the address"):
        service.place({"family_name": "A"}, GEOCODER)


def test_each_action_regenerates_the_visits(store) -> None:
    """From the CLI (no structure limit): a Monday-Wednesday-Friday dressing gives 6 visits
    over 14 days; a hospitalisation over Wednesday cancels one; cancelling it before it begins
    brings the visit back; a change of days regenerates; the discharge cancels the rest."""
    patient = service.create_patient(
        store,
        {"family_name": "Santoni", "address": "12 boulevard Paoli", "commune": "Bastia"},
        caller=CLI,
        structure_id=1,
        geocoder=GEOCODER,
        today=TODAY,
    )
    pid = patient["id"]
    plan, gen = service.add_care_plan(store, pid, PLAN, caller=CLI, gen=GEN)
    assert gen["created"] == 6 and gen["from"] == TODAY
    visits = store.patient_visits(pid, structures=None, from_day=TODAY, days=14)
    assert [v["day"] for v in visits][:3] == ["2026-11-23", "2026-11-25", "2026-11-27"]
    suspension, gen = service.add_suspension(
        store, pid, {"from_day": "2026-11-25", "to_day": "2026-11-25", "reason": "hospitalisation"},
        caller=CLI, gen=GEN,
    )  # fmt: skip
    assert gen["cancelled"] == 1
    later = service.Generation(today="2026-11-24", horizon_days=14, now_s=NOW_S + 86_400)
    _, gen = service.end_suspension(store, pid, suspension["id"], caller=CLI, gen=later)
    assert gen["updated"] == 1  # (and Monday 7 December, now within the horizon, created)
    _, gen = service.update_care_plan(
        store, pid, plan["id"], {"rrule": "FREQ=WEEKLY;BYDAY=TU,TH"}, caller=CLI, gen=GEN
    )
    assert gen["created"] == 4 and gen["cancelled"] == 6  # Tue/Thu in, Mon/Wed/Fri out
    patient, gen = service.discharge_patient(store, pid, "2026-12-01", caller=CLI, gen=GEN)
    assert patient["status"] == "discharged" and gen["cancelled"] == 2
    open_days = [
        v["day"]
        for v in store.patient_visits(pid, structures=None, from_day=TODAY, days=14)
        if v["status"] != "cancelled"
    ]
    assert max(open_days) < "2026-12-01"


def test_the_service_keeps_structure_scoping(store) -> None:
    """A caller limited to another structure cannot act on the patient (404)."""
    store.add_structure({"name": "Autre", "kind": "ssiad"})
    pid = service.create_patient(
        store, {"family_name": "A", "lon": 9.45, "lat": 42.7}, caller=CLI, structure_id=1
    )["id"]
    other = service.Caller(actor="user:9", role="coordinator", structures=(2,))
    with pytest.raises(NotFoundError, match=f"patient {pid} does not exist"):
        service.add_care_plan(store, pid, PLAN, caller=other, gen=GEN)
    with pytest.raises(NotFoundError):
        service.update_patient(store, pid, {"phone": "1"}, caller=other, gen=GEN)
    with pytest.raises(NotFoundError):
        service.share_patient(store, pid, {"structure_id": 2, "consent_on": TODAY}, caller=other)
