"""Patient details where care needs them: today's round only for a team, every read audited,
"who read it" for coordinators, missed visits with a reason and notes."""

from __future__ import annotations

import pytest
from api_world import DAY, make_world


@pytest.fixture
def world(tmp_path):
    # The service clock stands on the world's day, so DAY is "today" for the teams.
    w = make_world(tmp_path, clock_start=f"{DAY}T08:30:00+01:00")
    yield w
    w.store.close()


def _other_day_visit(world, team: str) -> int:
    visit = world.store.add_visit(
        {
            "day": "2026-11-24",
            "pseudonym": "Patient DEMAIN",
            "lon": 9.44,
            "lat": 42.69,
            "duration_s": 900,
            "windows": [["08:00", "10:00"]],
            "team_id": world.ids[team],
            "protected": {"name": "Demain Patient", "phone": "0611111111"},
        }
    )
    return visit["id"]


def test_team_reads_today_round_details_only(world):
    """A team member or phone reads its visits of today; another team's or another day's: 403."""
    client = world.app.test_client()
    va, vb = world.ids["visit_a"], world.ids["visit_b"]
    world.store.update_visit(va, {"team_id": world.ids["team_a"]})
    world.store.update_visit(vb, {"team_id": world.ids["team_b"]})
    got = client.get(f"/api/visits/{va}/details?from=phone", headers=world.headers("member_a"))
    assert got.status_code == 200 and got.get_json()["details"]["name"] == "Test A"
    assert "no-store" in got.headers["Cache-Control"]
    phone = client.get(f"/api/visits/{vb}/details", headers=world.headers("device_b"))
    assert phone.status_code == 200 and phone.get_json()["details"]["notes"] == "private"
    assert (
        client.get(f"/api/visits/{vb}/details", headers=world.headers("member_a")).status_code
        == 403
    )
    assert (
        client.get(f"/api/visits/{va}/details", headers=world.headers("device_b")).status_code
        == 403
    )
    tomorrow = _other_day_visit(world, "team_b")
    refused = client.get(f"/api/visits/{tomorrow}/details", headers=world.headers("device_b"))
    assert refused.status_code == 403 and "today's round" in refused.get_json()["error"]
    events = client.get(f"/api/visits/{tomorrow}/events", headers=world.headers("device_b"))
    assert events.status_code == 403
    # The coordinator is not limited to a day.
    coord = client.get(f"/api/visits/{tomorrow}/details", headers=world.headers("coordinator"))
    assert coord.get_json()["details"]["phone"] == "0611111111"
    log = world.store.list_audit(target=f"visit:{tomorrow}")
    assert [e["action"] for e in reversed(log)] == ["visit.details.denied", "visit.details.read"]
    read = world.store.list_audit(target=f"visit:{vb}", actor=f"device:{world.ids['device_b']}")
    assert read[0]["detail"]["device"] == "phone B"


def test_coordinator_sees_who_read_a_visit(world):
    """GET /api/visits/{id}/audit names the reader (user or phone and its team), when, from where."""
    client = world.app.test_client()
    vb = world.ids["visit_b"]
    world.store.update_visit(vb, {"team_id": world.ids["team_b"]})
    client.get(f"/api/visits/{vb}/details?from=map", headers=world.headers("coordinator"))
    client.get(f"/api/visits/{vb}/details", headers=world.headers("device_b"))
    client.get(f"/api/visits/{vb}/details", headers=world.headers("member_a"))
    answer = client.get(f"/api/visits/{vb}/audit", headers=world.headers("coordinator"))
    assert answer.status_code == 200 and "no-store" in answer.headers["Cache-Control"]
    items = answer.get_json()["items"]
    seen = [(i["action"], i["actor_kind"], i["actor_name"], i["team_name"]) for i in items[:3]]
    assert seen == [
        ("visit.details.denied", "user", "member_a", "Équipe A"),
        ("visit.details.read", "device", "phone B", "Équipe B"),
        ("visit.details.read", "user", "coordinator", None),
    ]
    assert items[2]["detail"]["from"] == "map" and items[2]["ip"]
    for who in ("planner", "member_a", "device_b"):
        assert client.get(f"/api/visits/{vb}/audit", headers=world.headers(who)).status_code == 403
    assert (
        client.get("/api/visits/999/audit", headers=world.headers("coordinator")).status_code == 404
    )


def test_missed_with_reason_and_note(world):
    """A missed visit carries a reason code and free text; a note is a note; both read back."""
    client = world.app.test_client()
    vb = world.ids["visit_b"]
    world.store.update_visit(vb, {"team_id": world.ids["team_b"]})
    h = world.headers("device_b")
    note = client.post(
        f"/api/visits/{vb}/events", json={"kind": "note", "note": "Clés chez la voisine"}, headers=h
    )
    assert note.status_code == 201
    missed = client.post(
        f"/api/visits/{vb}/events",
        json={"kind": "missed", "reason": "absent", "note": "Volets fermés", "client_id": "m1"},
        headers=h,
    )
    body = missed.get_json()
    assert missed.status_code == 201, body
    assert (body["event"]["reason"], body["event"]["note"]) == ("absent", "Volets fermés")
    assert body["visit"]["status"] == "missed"
    again = client.post(
        f"/api/visits/{vb}/events",
        json={"kind": "missed", "reason": "absent", "note": "Volets fermés", "client_id": "m1"},
        headers=h,
    )
    assert again.status_code == 200
    only_reason = client.post(
        f"/api/visits/{vb}/events", json={"kind": "missed", "reason": "hospitalised"}, headers=h
    ).get_json()["event"]
    assert (only_reason["reason"], only_reason["note"]) == ("hospitalised", None)
    bad = client.post(
        f"/api/visits/{vb}/events", json={"kind": "missed", "reason": "tired"}, headers=h
    )
    assert bad.status_code == 400 and "absent" in bad.get_json()["error"]
    wrong = client.post(
        f"/api/visits/{vb}/events",
        json={"kind": "note", "note": "x", "reason": "absent"},
        headers=h,
    )
    assert wrong.status_code == 400 and "missed visit only" in wrong.get_json()["error"]
    none = client.post(f"/api/visits/{vb}/events", json={"kind": "missed"}, headers=h)
    assert none.status_code == 400
    listed = client.get(f"/api/visits/{vb}/events", headers=world.headers("coordinator")).get_json()
    kinds = [(e["kind"], e["reason"], e["note"]) for e in listed["items"]]
    assert kinds == [
        ("note", None, "Clés chez la voisine"),
        ("missed", "absent", "Volets fermés"),
        ("missed", "hospitalised", None),
    ]
    assert world.store.list_audit(target=f"visit:{vb}")[0]["action"] == "visit.events.read"
