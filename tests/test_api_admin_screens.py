"""What the management screens (/admin/) rely on: the page, team kinds, free colours."""

from __future__ import annotations

import pytest
from api_world import make_world

from dispatch.store.models import TEAM_PALETTE, free_team_color


@pytest.fixture
def world(tmp_path):
    w = make_world(tmp_path)
    yield w
    w.store.close()


def test_admin_page_is_served_to_anyone_and_its_data_is_not(world):
    """/admin/ is a static page (its login dialog does the rest); /admin redirects to it."""
    client = world.app.test_client()
    page = client.get("/admin/")
    assert page.status_code == 200
    assert b'src="/static/map/admin.js"' in page.data
    assert page.headers["Cache-Control"] == "no-cache"
    assert client.get("/admin").headers["Location"].endswith("/admin/")
    assert client.get("/api/users").status_code == 401


def test_a_new_team_gets_a_colour_no_active_team_uses(world):
    """Teams created without a colour each get a different one; a deactivated team's colour
    can be taken again."""
    client = world.app.test_client()
    h = world.headers("coordinator")
    colors = {t["color"] for t in world.store.list_teams()}
    assert len(colors) == 2 and None not in colors
    made = []
    for i in range(3):
        reply = client.post(
            "/api/teams",
            json={"name": f"Nouvelle {i}", "base_lon": 9.4, "base_lat": 42.6},
            headers=h,
        )
        assert reply.status_code == 201, reply.get_json()
        made.append(reply.get_json()["team"])
    new_colors = [t["color"] for t in made]
    assert len(set(new_colors)) == 3 and not set(new_colors) & colors
    off = client.patch(f"/api/teams/{made[0]['id']}", json={"active": False}, headers=h)
    assert off.status_code == 200 and off.get_json()["team"]["active"] is False
    again = client.post(
        "/api/teams", json={"name": "Reprise", "base_lon": 9.4, "base_lat": 42.6}, headers=h
    ).get_json()["team"]
    assert again["color"] == made[0]["color"]


def test_a_chosen_colour_is_kept(world):
    """A colour sent by the screen is stored as sent."""
    reply = world.app.test_client().post(
        "/api/teams",
        json={"name": "Rouge", "base_lon": 9.4, "base_lat": 42.6, "color": "#aa0000"},
        headers=world.headers("coordinator"),
    )
    assert reply.get_json()["team"]["color"] == "#aa0000"


def test_free_colours_go_past_the_palette():
    """Once every palette colour is used, new colours are still distinct."""
    used = set(TEAM_PALETTE)
    extra = []
    for _ in range(10):
        color = free_team_color(used)
        assert color not in used and len(color) == 7 and color.startswith("#")
        used.add(color)
        extra.append(color)
    assert len(set(extra)) == 10


@pytest.mark.parametrize("kind", ["had", "nursing_centre", "saad", "dac", "geriatric"])
def test_team_kinds_of_the_care_services(world, kind):
    """A team is of one of the services' kinds (HAD, nursing centre, SAAD, DAC...)."""
    client = world.app.test_client()
    reply = client.post(
        "/api/teams",
        json={"name": f"Équipe {kind}", "kind": kind, "base_lon": 9.4, "base_lat": 42.6},
        headers=world.headers("coordinator"),
    )
    assert reply.status_code == 201 and reply.get_json()["team"]["kind"] == kind
    bad = client.post(
        "/api/teams",
        json={"name": "X", "kind": "hospital", "base_lon": 9.4, "base_lat": 42.6},
        headers=world.headers("coordinator"),
    )
    assert bad.status_code == 400 and "hospital" in bad.get_json()["error"]


def test_visits_keep_their_care_kinds(world):
    """Visits' care kinds did not grow with the team kinds."""
    reply = world.app.test_client().post(
        "/api/visits",
        json={
            "day": "2026-11-23",
            "pseudonym": "P1",
            "lon": 9.4,
            "lat": 42.6,
            "duration_s": 1200,
            "windows": [["08:00", "10:00"]],
            "care_kind": "saad",
        },
        headers=world.headers("coordinator"),
    )
    assert reply.status_code == 400


def test_a_reactivated_team_gives_up_a_colour_taken_meanwhile(world):
    """A team deactivated, whose colour a new team took, comes back with another colour; a
    team whose colour is still free keeps it."""
    client = world.app.test_client()
    h = world.headers("coordinator")

    def new(name):
        reply = client.post(
            "/api/teams", json={"name": name, "base_lon": 9.4, "base_lat": 42.6}, headers=h
        )
        return reply.get_json()["team"]

    old = new("Ancienne")
    client.patch(f"/api/teams/{old['id']}", json={"active": False}, headers=h)
    taker = new("Nouvelle")
    assert taker["color"] == old["color"]
    back = client.patch(f"/api/teams/{old['id']}", json={"active": True}, headers=h)
    back_team = back.get_json()["team"]
    assert back_team["active"] is True and back_team["color"] != taker["color"]
    active = [t["color"] for t in world.store.list_teams(active=True)]
    assert len(active) == len(set(active))
    # Off and on again with its colour still free: it keeps it.
    client.patch(f"/api/teams/{taker['id']}", json={"active": False}, headers=h)
    again = client.patch(f"/api/teams/{taker['id']}", json={"active": True}, headers=h)
    assert again.get_json()["team"]["color"] == taker["color"]
