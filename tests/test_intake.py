"""Visit intake: the geocoded CSV review (pure) and its REST edge (search, preview, confirm)."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_world import DAY, make_world

from dispatch.errors import ValidationError
from dispatch.intake import IntakeRow, confirm_rows, find_duplicates, preview_csv, read_csv_rows
from dispatch.territory import Geocoder

FIXTURE = Path(__file__).parent / "intake_visits.csv"


@pytest.fixture(scope="module")
def geocoder(melun):  # type: ignore[no-untyped-def]
    return Geocoder(melun)


# -- pure ----------------------------------------------------------------------------------------
def test_fixture_rows_are_placed_with_their_precision_one_duplicate_one_unknown(geocoder) -> None:
    """The 20 addressed rows: 19 placed at street precision on the named street and commune,
    the repeated MME-AUBERT flagged as a duplicate of line 2, the unknown address an error."""
    rows = preview_csv(FIXTURE.read_text(), default_day=DAY, team_ids={}, geocoder=geocoder)
    assert len(rows) == 20
    placed = [r for r in rows if r.match]
    assert len(placed) == 19
    assert all(r.match["precision"] == "street" for r in placed)
    klein = next(r for r in rows if r.visit["pseudonym"] == "MME-KLEIN")
    assert klein.match["label"] == "Rue de la Gare, Dammarie-les-Lys"
    assert (klein.visit["lon"], klein.visit["lat"]) == (klein.match["lon"], klein.match["lat"])
    dupes = [r for r in rows if r.duplicate_of]
    assert [(r.line, r.duplicate_of["line"]) for r in dupes] == [(20, 2)]
    unknown = rows[-1]
    assert unknown.match is None and not unknown.importable
    assert "not found" in unknown.error and "place the pin" in unknown.error
    first = rows[0].visit
    assert first["windows"] == [["08:00", "10:00"]] and first["duration_s"] == 1800
    assert first["skills"] == ["insulin"] and first["priority"] == 2
    assert first["protected"] == {
        "name": "Jeanne Aubert",
        "phone": "0601020304",
        "notes": "Digicode 4512B",
    }


def test_commune_only_match_warns_and_confirm_refuses_it_without_a_pin(geocoder) -> None:
    """A street that does not exist in a known commune falls back to the commune's centre with
    a warning; confirming it without coordinates is an error, with coordinates it passes."""
    text = "pseudonym;address;commune;duration_min;windows\nX;5 rue de Nulle Part;Melun;20;08:00-09:00\n"
    (row,) = preview_csv(text, default_day=DAY, team_ids={}, geocoder=geocoder)
    assert row.match["precision"] == "commune" and "place it on the map" in row.warning
    visit = {k: v for k, v in row.visit.items() if k not in ("lon", "lat")}
    _, _, errors = confirm_rows([{"line": 2, "visit": visit}], geocoder=geocoder)
    assert errors and errors[0]["line"] == 2 and "not found" in errors[0]["error"]
    pinned = {**visit, "lon": 2.66, "lat": 48.54}
    visits, labels, errors = confirm_rows([{"line": 2, "visit": pinned}], geocoder=geocoder)
    assert not errors and visits[0]["lon"] == 2.66 and labels == ["line 2"]


def test_confirm_geocodes_rows_without_coordinates_and_reports_the_unplaceable(geocoder) -> None:
    """Rows sent back without lon/lat are placed from their address; an unknown one is listed
    with its line, never dropped."""
    items = [
        {"line": 3, "visit": _visit(address="3 boulevard Gambetta", commune="Melun")},
        {"line": 4, "visit": _visit(address="1 allée Introuvable", commune="Nulleville")},
    ]
    visits, _, errors = confirm_rows(items, geocoder=geocoder)
    assert len(visits) == 1 and visits[0]["lat"] == pytest.approx(48.538, abs=0.002)
    assert errors == [
        {
            "line": 4,
            "error": "line 4: address '1 allée Introuvable, Nulleville' not found in the "
            "territory: correct it or place the pin on the map",
        }
    ]
    with pytest.raises(ValidationError, match="tick some rows"):
        confirm_rows([], geocoder=geocoder)


def test_duplicates_need_the_same_day_an_overlapping_window_and_name_or_place() -> None:
    """Same pseudonym in the evening is a second visit; a stored visit 30 m away at the same
    time is a duplicate; 200 m away is not; a cancelled one never counts."""
    stored = [
        {"id": 7, "pseudonym": "A", "day": DAY, "lon": 2.66, "lat": 48.54,
         "windows": [[8 * 3600, 10 * 3600]], "status": "planned"},
        {"id": 8, "pseudonym": "Z", "day": DAY, "lon": 2.70, "lat": 48.50,
         "windows": [[8 * 3600, 10 * 3600]], "status": "cancelled"},
    ]  # fmt: skip
    rows = [
        IntakeRow(2, visit=_visit(pseudonym="A", windows=[["18:00", "19:00"]])),
        IntakeRow(3, visit=_visit(pseudonym="B", lon=2.66, lat=48.5403)),
        IntakeRow(4, visit=_visit(pseudonym="C", lon=2.66, lat=48.542)),
        IntakeRow(5, visit=_visit(pseudonym="Z", lon=2.70, lat=48.50)),
        IntakeRow(6, visit=_visit(pseudonym="A", day="2026-11-24")),
    ]
    find_duplicates(rows, stored)
    assert [r.duplicate_of for r in rows] == [
        None,
        {"visit_id": 7, "pseudonym": "A"},
        None,
        None,
        None,
    ]


def test_duplicate_index_agrees_with_comparing_every_pair() -> None:
    """On 600 random visits packed in 1 km² (many within 50 m of another), the indexed search
    flags exactly the rows a comparison of every pair flags, naming the same earliest one."""
    import math
    import random

    rng = random.Random(4)

    def visit(k: int) -> dict:  # type: ignore[type-arg]
        start = rng.choice((8, 9, 10)) * 3600
        return {
            "day": DAY,
            "pseudonym": f"P{rng.randrange(400)}",
            "lon": 2.65 + rng.random() * 0.013,
            "lat": 48.54 + rng.random() * 0.009,
            "windows": [[start, start + 3600]],
        }

    stored = [{"id": k, "status": "planned", **visit(k)} for k in range(200)]
    rows = [IntakeRow(k + 2, visit=visit(k)) for k in range(400)]
    find_duplicates(rows, stored)

    def same(a, b) -> bool:  # type: ignore[no-untyped-def]
        (s1, e1), (s2, e2) = a["windows"][0], b["windows"][0]
        if not (s1 < e2 and s2 < e1):
            return False
        if a["pseudonym"] == b["pseudonym"]:
            return True
        lat = math.radians((a["lat"] + b["lat"]) / 2)
        dx = math.radians(b["lon"] - a["lon"]) * math.cos(lat) * 6_371_008.8
        dy = math.radians(b["lat"] - a["lat"]) * 6_371_008.8
        return math.hypot(dx, dy) <= 50

    flagged = 0
    for k, row in enumerate(rows):
        expected = next(({"visit_id": v["id"]} for v in stored if same(row.visit, v)), None)
        if expected is None:
            expected = next(({"line": r.line} for r in rows[:k] if same(row.visit, r.visit)), None)
        got = row.duplicate_of
        if expected is None:
            assert got is None, (row.line, got)
        else:
            assert got is not None and expected.items() <= got.items(), (row.line, got, expected)
            flagged += 1
    assert 50 < flagged < 400


def test_optional_visits_read_from_the_mandatory_column(geocoder) -> None:
    """« non » in the mandatory column makes an optional visit (sent back as false); a word
    that is neither yes nor no is that line's error."""
    text = (
        "pseudonym;address;commune;duration_min;windows;mandatory\n"
        "A;rue Pajol;Melun;20;08:00-09:00;non\n"
        "B;rue Pajol;Melun;20;10:00-11:00;peut-être\n"
        "C;rue Pajol;Melun;20;12:00-13:00;\n"
    )
    a, b, c = preview_csv(text, default_day=DAY, team_ids={}, geocoder=geocoder)
    assert a.visit["mandatory"] is False and a.importable
    assert "mandatory" in b.error and not b.importable
    assert c.visit.get("mandatory", True) is True
    visits, _, errors = confirm_rows([{"line": 2, "visit": a.visit}], geocoder=geocoder)
    assert not errors and visits[0]["mandatory"] is False


def test_csv_reading_takes_excel_habits_and_names_bad_columns() -> None:
    """Semicolons with decimal commas, blank lines skipped; an unknown column is named."""
    rows = read_csv_rows("Pseudonym;LON;lat;duration_min\nA;2,65;48,54;20\n;;;\n")
    assert rows == [(2, {"pseudonym": "A", "lon": "2.65", "lat": "48.54", "duration_min": "20"})]
    with pytest.raises(ValidationError, match="unknown CSV column.*adresse"):
        read_csv_rows("pseudonym;adresse\nA;x\n")


def _visit(**changes):  # type: ignore[no-untyped-def]
    base = {
        "day": DAY,
        "pseudonym": "P",
        "duration_s": 1200,
        "windows": [["08:00", "10:00"]],
    }
    return {**base, **changes}


# -- REST ----------------------------------------------------------------------------------------
@pytest.fixture
def world(tmp_path, territory_cache, shared_dir, melun):  # type: ignore[no-untyped-def]
    w = make_world(
        tmp_path,
        cache_dir=territory_cache,
        data_path=(shared_dir / "territories",),
        territory="melun",
    )
    yield w
    w.store.close()


def test_geocode_endpoint_for_coordinators_only(world) -> None:
    """Coordinators get candidates (lon, lat, label, precision, commune); a team member and a
    planner are refused; an empty query says what to type."""
    client = world.app.test_client()
    r = client.get("/api/geocode?q=rue+de+la+gare&limit=3", headers=world.headers("coordinator"))
    assert r.status_code == 200
    items = r.get_json()["items"]
    assert 1 <= len(items) <= 3
    assert items[0]["label"] == "Rue de la Gare, Dammarie-les-Lys"
    assert set(items[0]) >= {"lon", "lat", "label", "precision", "commune"}
    for who in ("member_a", "planner", "admin", "anonymous"):
        assert client.get("/api/geocode?q=melun", headers=world.headers(who)).status_code in (
            401,
            403,
        )
    empty = client.get("/api/geocode?q=", headers=world.headers("coordinator"))
    assert empty.status_code == 400 and "type an address" in empty.get_json()["error"]


def test_preview_stores_nothing_and_confirm_creates_all_in_one_go(world) -> None:
    """The preview of the fixture (as a file upload) writes nothing; confirming 18 reviewed
    rows (duplicate and unknown left out, one pin moved) creates them, publishes each one and
    audits the import; a confirm with an unplaceable row creates nothing."""
    client = world.app.test_client()
    h = world.headers("coordinator")
    before = world.store.counts()["visits"]
    with FIXTURE.open("rb") as f:
        r = client.post(
            f"/api/visits/import/preview?day={DAY}",
            data={"file": (f, "visites.csv")},
            headers=h,
            content_type="multipart/form-data",
        )
    assert r.status_code == 200, r.get_json()
    rows = r.get_json()["rows"]
    assert len(rows) == 20 and world.store.counts()["visits"] == before
    assert [row["line"] for row in rows if row["duplicate_of"]] == [20]
    assert [row["line"] for row in rows if not row["importable"]] == [21]
    published = []
    from dispatch.web.rest import subscribe

    subscribe(world.app, "visit", published.append)
    chosen = [{"line": row["line"], "visit": row["visit"]} for row in rows[:18]]
    chosen[0]["visit"] = {**chosen[0]["visit"], "lon": 2.6601, "lat": 48.5390}
    bad = [*chosen, {"line": 21, "visit": rows[19]["visit"]}]
    refused = client.post("/api/visits/import/confirm", json={"rows": bad}, headers=h)
    assert refused.status_code == 400
    assert refused.get_json()["details"][0]["line"] == 21
    assert world.store.counts()["visits"] == before
    done = client.post("/api/visits/import/confirm", json={"rows": chosen}, headers=h)
    assert done.status_code == 201, done.get_json()
    assert done.get_json()["imported"] == 18 and world.store.counts()["visits"] == before + 18
    assert len(published) == 18
    first = world.store.get_visit(done.get_json()["ids"][0])
    assert (first["lon"], first["lat"]) == (2.6601, 48.5390) and first["commune"] == "Melun"
    audit = world.store.list_audit(limit=5)
    assert any(a["action"] == "visit.import" for a in audit)
    # The same file again: every row now repeats a stored visit.
    again = client.post(
        f"/api/visits/import/preview?day={DAY}",
        data=FIXTURE.read_bytes(),
        headers={**h, "Content-Type": "text/csv"},
    )
    flags = [row["duplicate_of"] for row in again.get_json()["rows"][:18]]
    assert all(f and "visit_id" in f for f in flags)


def test_preview_and_confirm_refuse_other_roles(world) -> None:
    """Only coordinators preview or import (the rows carry patients' details)."""
    client = world.app.test_client()
    for who in ("planner", "member_a", "device_b", "admin"):
        h = {**world.headers(who), "Content-Type": "text/csv"}
        r = client.post(f"/api/visits/import/preview?day={DAY}", data="pseudonym\nA\n", headers=h)
        assert r.status_code == 403
        r = client.post("/api/visits/import/confirm", json={"rows": []}, headers=h)
        assert r.status_code == 403


def test_the_api_import_places_rows_from_their_address(world) -> None:  # type: ignore[no-untyped-def]
    """POST /api/visits/import (the scripted path) no longer needs lon and lat: rows are placed
    from their address by the offline geocoder; an unknown address is an error of its line and
    nothing is imported."""
    client = world.app.test_client()
    headers = {**world.headers("coordinator"), "Content-Type": "text/csv"}
    good = (
        "pseudonym;address;commune;duration_min;windows;mandatory\n"
        "MME-AUBERT;12 rue Saint-Aspais;Melun;30;08:00-10:00;non\n"
        "M-BARRE;3 boulevard Gambetta;Melun;20;08:00-11:00;\n"
    )
    done = client.post(f"/api/visits/import?day={DAY}", data=good, headers=headers)
    assert done.status_code == 201, done.json
    first, second = (world.store.get_visit(i) for i in done.json["ids"])
    assert first["mandatory"] is False and second["mandatory"] is True
    assert 2.59 < first["lon"] < 2.73 and 48.49 < first["lat"] < 48.58
    bad = good + "M-NULLE;99 rue qui n'existe pas;Nulle-Part;20;08:00-11:00;\n"
    refused = client.post(f"/api/visits/import?day={DAY}", data=bad, headers=headers)
    assert refused.status_code == 400
    assert refused.json["details"][0]["line"] == 4
    assert "not found" in refused.json["details"][0]["error"]
