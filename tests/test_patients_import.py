"""Patients placed by the offline geocoder (Melun): creation from an address, an unknown
address (422), a new address placed again; the CSV import with its review step."""

from __future__ import annotations

import pytest
from api_world import make_world

from dispatch.care.patients import preview_patients_csv, read_patient_csv
from dispatch.errors import ValidationError
from dispatch.territory import Geocoder

CSV = (
    "family_name;given_name;birth_date;sex;phone;address;commune;id_INS;contact_name;contact_phone\n"
    "Aubert;Jeanne;02/04/1938;F;0601020304;12 rue Saint-Aspais;Melun;2380477001001;Paul Aubert;0600\n"
    "Barre;Louis;1941-07-14;M;;3 boulevard Gambetta;Melun;;;\n"
    "Klein;Anne;;;;18 rue de la Gare;Dammarie-les-Lys;;;\n"
    "Nulle;Part;;;;99 rue qui n'existe pas;Nulle-Part;;;\n"
    "Aubert;Jeanne;1938-04-02;F;;12 rue Saint-Aspais;Melun;;;\n"
    "Martin;Luc;;X;;1 rue Grande;Voisenon;;;\n"
)


@pytest.fixture(scope="module")
def world(tmp_path_factory, territory_cache, shared_dir, melun):  # type: ignore[no-untyped-def]
    w = make_world(
        tmp_path_factory.mktemp("patients-melun"),
        cache_dir=territory_cache,
        data_path=(shared_dir / "territories",),
        territory="melun",
    )
    yield w
    w.store.close()


@pytest.fixture(scope="module")
def geocoder(melun):  # type: ignore[no-untyped-def]
    return Geocoder(melun)


def test_preview_places_rows_flags_the_duplicate_and_the_errors(geocoder) -> None:
    """Each line geocoded with its precision; the repeated Aubert flagged as line 2's
    duplicate (French dates read); the unknown address and the bad sex are line errors."""
    rows = preview_patients_csv(CSV, geocoder=geocoder)
    assert [r.line for r in rows] == [2, 3, 4, 5, 6, 7]
    aubert = rows[0]
    assert aubert.importable and aubert.match["precision"] == "street"
    assert aubert.patient["birth_date"] == "1938-04-02" and aubert.patient["sex"] == "female"
    assert aubert.patient["external_ids"] == {"INS": "2380477001001"}
    assert aubert.patient["contacts"] == [
        {"name": "Paul Aubert", "relation": None, "phone": "0600"}
    ]
    assert (
        aubert.patient["geocode_precision"] == "street" and aubert.patient["pin_corrected"] is False
    )
    assert rows[2].match["label"] == "Rue de la Gare, Dammarie-les-Lys"
    assert not rows[3].importable and "not found in the territory" in rows[3].error
    assert rows[4].duplicate_of == {"line": 2, "pseudonym": None}
    assert "sex 'X'" in rows[5].error


def test_bad_headers_are_refused_whole() -> None:
    with pytest.raises(ValidationError, match="unknown CSV column"):
        read_patient_csv("nom;adresse\nA;B\n")
    with pytest.raises(ValidationError, match="no family_name column"):
        read_patient_csv("given_name;address\nA;B\n")
    with pytest.raises(ValidationError, match="no patient rows"):
        read_patient_csv("family_name;address\n")


def test_an_address_is_placed_and_an_unknown_one_is_422(world) -> None:
    """POST without lon/lat: the address geocoded (precision street, commune kept); an
    address the territory does not know answers 422 address_not_found; a PATCH of the address
    places the patient again; a PATCH of lon/lat is the pin moved by hand."""
    client = world.app.test_client()
    h = world.headers("coordinator")
    r = client.post(
        "/api/patients",
        json={
            "family_name": "Klein",
            "address": "18 rue de la Gare",
            "commune": "Dammarie-les-Lys",
        },
        headers=h,
    )
    assert r.status_code == 201, r.get_json()
    p = r.get_json()["patient"]
    assert p["geocode_precision"] == "street" and p["pin_corrected"] is False
    assert 2.59 < p["lon"] < 2.73 and 48.49 < p["lat"] < 48.58
    bad = client.post(
        "/api/patients",
        json={"family_name": "X", "address": "99 rue qui n'existe pas", "commune": "Nulle-Part"},
        headers=h,
    )
    assert bad.status_code == 422 and bad.get_json()["code"] == "address_not_found"
    assert "place the pin" in bad.get_json()["error"]
    moved = client.patch(
        f"/api/patients/{p['id']}",
        json={"address": "12 rue Saint-Aspais", "commune": "Melun"},
        headers=h,
    ).get_json()["patient"]
    assert (moved["lon"], moved["lat"]) != (p["lon"], p["lat"]) and moved["commune"] == "Melun"
    pinned = client.patch(
        f"/api/patients/{p['id']}", json={"lon": 2.6601, "lat": 48.5390}, headers=h
    ).get_json()["patient"]
    assert pinned["geocode_precision"] == "manual" and pinned["pin_corrected"] is True
    outside = client.patch(f"/api/patients/{p['id']}", json={"lon": 9.45, "lat": 42.7}, headers=h)
    assert outside.status_code == 400 and "outside the territory" in outside.get_json()["error"]


def test_preview_stores_nothing_and_confirm_admits_all_or_none(world) -> None:
    """The preview (a file upload) writes nothing; confirming rows with an unplaceable one
    admits nothing; the reviewed rows are admitted in one go, audited; the same file again is
    flagged against the stored patients."""
    client = world.app.test_client()
    h = world.headers("coordinator")
    before = len(world.store.patient_identities(structures=None))
    r = client.post(
        "/api/patients/import/preview",
        data=CSV.encode(),
        headers={**h, "Content-Type": "text/csv"},
    )
    assert r.status_code == 200, r.get_json()
    rows = r.get_json()["rows"]
    assert len(world.store.patient_identities(structures=None)) == before
    assert [row["importable"] for row in rows] == [True, True, True, False, True, False]
    chosen = [{"line": row["line"], "patient": row["patient"]} for row in rows[:3]]
    bad = [*chosen, {"line": 5, "patient": rows[3]["patient"]}]
    refused = client.post("/api/patients/import/confirm", json={"rows": bad}, headers=h)
    assert refused.status_code == 400 and refused.get_json()["details"][0]["line"] == 5
    assert len(world.store.patient_identities(structures=None)) == before
    chosen[1]["patient"] = {**chosen[1]["patient"], "lon": 2.6601, "lat": 48.5390}
    done = client.post("/api/patients/import/confirm", json={"rows": chosen}, headers=h)
    assert done.status_code == 201, done.get_json()
    assert done.get_json()["imported"] == 3
    barre = client.get(f"/api/patients/{done.get_json()['ids'][1]}", headers=h).get_json()[
        "patient"
    ]
    assert (barre["lon"], barre["lat"]) == (2.6601, 48.539) and barre["birth_date"] == "1941-07-14"
    assert any(a["action"] == "patient.import" for a in world.store.list_audit(limit=20))
    again = client.post(
        "/api/patients/import/preview", data=CSV.encode(), headers={**h, "Content-Type": "text/csv"}
    ).get_json()["rows"]
    assert again[0]["duplicate_of"]["patient_id"] == done.get_json()["ids"][0]
    for who in ("planner", "admin", "member_a"):
        r = client.post(
            "/api/patients/import/preview",
            data=CSV.encode(),
            headers={**world.headers(who), "Content-Type": "text/csv"},
        )
        assert r.status_code == 403
