"""Structures and memberships: the store, GET/POST/PATCH /api/structures, users' structure_ids,
teams and visits scoped by structure, and `dispatch structure | user add --structure`."""

from __future__ import annotations

import pytest
from api_world import DAY, fast_password_hashing, make_world
from click.testing import CliRunner

from dispatch.cli import cli
from dispatch.errors import ConflictError, NotFoundError, ValidationError
from dispatch.store import Store
from dispatch.store.models import STRUCTURE_KINDS


@pytest.fixture
def world(tmp_path):
    w = make_world(tmp_path)
    yield w
    w.store.close()


def _visit(**changes):
    return {
        "day": DAY,
        "pseudonym": "Patient 9Z9Z",
        "lon": 9.40,
        "lat": 42.60,
        "duration_s": 1200,
        "windows": [["08:00", "10:00"]],
        **changes,
    }


def test_existing_rows_are_in_the_default_structure(world):
    """After migration the deployment has one structure; users, teams and visits are in it."""
    store = world.store
    [default] = store.list_structures()
    assert default["id"] == 1 and default["kind"] in STRUCTURE_KINDS
    assert store.get_user(world.ids["coordinator"])["structure_ids"] == [1]
    assert store.get_team(world.ids["team_a"])["structure_id"] == 1
    assert store.get_visit(world.ids["visit_a"])["structure_id"] == 1
    assert default["counts"]["teams"] == 2 and default["counts"]["users"] == 5


def test_structure_rules_in_the_store(world):
    """Names are unique, kinds and FINESS numbers checked, unknown fields refused."""
    store = world.store
    had = store.add_structure({"name": "HAD Haute-Corse", "kind": "had", "finess": "2b0001234"})
    assert had["finess"] == "2B0001234" and had["counts"]["users"] == 0
    with pytest.raises(ConflictError, match="already exists"):
        store.add_structure({"name": "HAD Haute-Corse", "kind": "ssiad"})
    with pytest.raises(ValidationError, match="kind"):
        store.add_structure({"name": "X", "kind": "hospital"})
    with pytest.raises(ValidationError, match="FINESS"):
        store.add_structure({"name": "X", "kind": "dac", "finess": "12"})
    with pytest.raises(ValidationError, match="unknown"):
        store.add_structure({"name": "X", "kind": "dac", "city": "Bastia"})
    renamed = store.update_structure(had["id"], {"name": "HAD de Corse", "finess": None})
    assert renamed["name"] == "HAD de Corse" and renamed["finess"] is None
    assert store.find_structure("HAD de Corse")["id"] == had["id"]
    assert store.find_structure(str(had["id"]))["name"] == "HAD de Corse"
    with pytest.raises(NotFoundError, match="known: "):
        store.find_structure("nowhere")
    # A structure not among the caller's does not exist for them.
    with pytest.raises(NotFoundError, match=f"structure {had['id']} does not exist"):
        store.get_structure(had["id"], structures=[1])
    assert [s["id"] for s in store.list_structures(structures=[had["id"]])] == [had["id"]]


def test_memberships_decide_what_a_user_sees(world):
    """A user's structure_ids are replaced as a whole; a change ends their open sessions."""
    store = world.store
    b = store.add_structure({"name": "SSIAD B", "kind": "ssiad"})
    coordinator = world.ids["coordinator"]
    sid, _ = store.create_session(coordinator)
    user = store.update_user(coordinator, structure_ids=[1, b["id"]])
    assert user["structure_ids"] == [1, b["id"]]
    assert store.get_session(sid) is None  # what they may see changed: log in again
    sid, _ = store.create_session(coordinator)
    store.update_user(coordinator, structure_ids=[b["id"], 1])  # the same set: session kept
    assert store.get_session(sid) is not None
    with pytest.raises(ValidationError, match="at least one"):
        store.update_user(coordinator, structure_ids=[])
    with pytest.raises(NotFoundError, match="structure 999 does not exist"):
        store.update_user(coordinator, structure_ids=[999])
    # With several structures, a new user must say which they work for.
    with pytest.raises(ValidationError, match="structure_ids"):
        store.add_user("nadia", role="planner")
    assert store.add_user("nadia", role="planner", structure_ids=[b["id"]])["structure_ids"] == [
        b["id"]
    ]
    # A team member always sees their own team's structure (and is counted in it).
    member = store.get_user(world.ids["member_a"])
    users_before = store.get_structure(1)["counts"]["users"]
    assert store.set_user_structures(member["id"], [b["id"]]) == [1, b["id"]]
    assert store.get_structure(1)["counts"]["users"] == users_before


def test_teams_and_visits_are_scoped_in_the_store(world):
    """Another structure's team or visit is a NotFoundError, and never listed."""
    store = world.store
    b = store.add_structure({"name": "SSIAD B", "kind": "ssiad"})["id"]
    team_b = store.add_team({"name": "B1", "base_lon": 9.4, "base_lat": 42.6}, structure_id=b)
    visit_b = store.add_visit(_visit(team_id=team_b["id"]), structure_id=b)
    assert visit_b["structure_id"] == b and visit_b["status"] == "assigned"
    mine = [1]
    for call in (
        lambda: store.get_team(team_b["id"], structures=mine),
        lambda: store.update_team(team_b["id"], {"name": "x"}, structures=mine),
        lambda: store.get_visit(visit_b["id"], structures=mine),
        lambda: store.update_visit(visit_b["id"], {"priority": 2}, structures=mine),
        lambda: store.visit_details(visit_b["id"], actor="t", role="coordinator", structures=mine),
        lambda: store.add_visit_event(
            visit_b["id"], {"kind": "note", "note": "x"}, actor="t", structures=mine
        ),
        lambda: store.list_visit_events(visit_b["id"], structures=mine),
        lambda: store.find_team("B1", structures=mine),
    ):
        with pytest.raises(NotFoundError):
            call()
    assert team_b["id"] not in [t["id"] for t in store.list_teams(structures=mine)]
    assert visit_b["id"] not in [v["id"] for v in store.list_visits(structures=mine)]
    assert store.get_visits([visit_b["id"]], structures=mine) == []
    assert store.list_visits(structures=[]).total == 0
    # A visit is assigned to a team of its own structure only.
    with pytest.raises(NotFoundError, match="is not a team"):
        store.add_visit(_visit(team_id=world.ids["team_a"]), structure_id=b)
    with pytest.raises(NotFoundError, match="is not a team"):
        store.update_visit(visit_b["id"], {"team_id": world.ids["team_a"]})
    with pytest.raises(NotFoundError, match="structure 999"):
        store.add_team({"name": "C", "base_lon": 9.4, "base_lat": 42.6}, structure_id=999)


def test_structures_over_http(world):
    """Admins create, rename and list every structure; others see only theirs (404 else)."""
    client = world.app.test_client()
    admin, coord = world.headers("admin"), world.headers("coordinator")
    made = client.post(
        "/api/structures",
        json={"name": "Équipe mobile de soins palliatifs", "kind": "palliative_team"},
        headers=admin,
    )
    assert made.status_code == 201, made.get_json()
    sid = made.get_json()["structure"]["id"]
    assert (
        client.post("/api/structures", json={"name": "X", "kind": "dac"}, headers=coord).status_code
        == 403
    )
    assert (
        client.patch(f"/api/structures/{sid}", json={"name": "EMSP"}, headers=coord).status_code
        == 403
    )
    renamed = client.patch(
        f"/api/structures/{sid}", json={"name": "EMSP Haute-Corse"}, headers=admin
    )
    assert renamed.get_json()["structure"]["name"] == "EMSP Haute-Corse"
    taken = client.post(
        "/api/structures", json={"name": "EMSP Haute-Corse", "kind": "dac"}, headers=admin
    )
    assert taken.status_code == 409
    everything = client.get("/api/structures", headers=admin).get_json()["items"]
    assert {s["id"] for s in everything} == {1, sid}
    theirs = client.get("/api/structures", headers=coord).get_json()["items"]
    assert [s["id"] for s in theirs] == [1]
    assert client.get(f"/api/structures/{sid}", headers=coord).status_code == 404
    assert client.get(f"/api/structures/{sid}", headers=admin).status_code == 200
    # The directory: every structure's name and kind, nothing more (to share a record with).
    directory = client.get("/api/structures/directory", headers=coord).get_json()["items"]
    assert {s["name"] for s in directory} >= {"EMSP Haute-Corse"}
    assert all(set(s) == {"id", "name", "kind"} for s in directory)
    audit = world.store.list_audit(target=f"structure:{sid}")
    assert [a["action"] for a in audit] == ["structure.update", "structure.create"]


def test_users_get_structures_over_http(world):
    """POST and PATCH /api/users take structure_ids; the user then sees those structures'
    teams and visits and creates into them."""
    client = world.app.test_client()
    admin = world.headers("admin")
    b = world.store.add_structure({"name": "SSIAD B", "kind": "ssiad"})["id"]
    # Two structures now: a new user must say which.
    missing = client.post(
        "/api/users", json={"username": "lea", "role": "coordinator"}, headers=admin
    )
    assert missing.status_code == 400 and "structure_ids" in missing.get_json()["error"]
    made = client.post(
        "/api/users",
        json={"username": "lea", "role": "coordinator", "structure_ids": [b]},
        headers=admin,
    )
    assert made.status_code == 201 and made.get_json()["user"]["structure_ids"] == [b]
    lea = made.get_json()["user"]["id"]
    token = world.store.create_api_token(lea, label="t")
    lea_h = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/teams", headers=lea_h).get_json()["items"] == []
    team = client.post(
        "/api/teams", json={"name": "B1", "base_lon": 9.4, "base_lat": 42.6}, headers=lea_h
    )
    assert team.status_code == 201 and team.get_json()["team"]["structure_id"] == b
    visit = client.post("/api/visits", json=_visit(), headers=lea_h)
    assert visit.status_code == 201 and visit.get_json()["visit"]["structure_id"] == b
    # Not one of hers: refused, not silently moved.
    elsewhere = client.post("/api/visits", json=_visit(structure_id=1), headers=lea_h)
    assert elsewhere.status_code == 403
    assert client.get(f"/api/visits/{world.ids['visit_a']}", headers=lea_h).status_code == 404
    # Both structures: she must choose where a new visit goes.
    changed = client.patch(f"/api/users/{lea}", json={"structure_ids": [1, b]}, headers=admin)
    assert changed.get_json()["user"]["structure_ids"] == [1, b]
    assert client.post("/api/visits", json=_visit(), headers=lea_h).status_code == 400
    french = client.post(
        "/api/visits", json=_visit(), headers={**lea_h, "Accept-Language": "fr"}
    ).get_json()["error"]
    assert french == f"choisissez la structure : vous travaillez pour plusieurs structures (1, {b})"
    for wrong in ("1", True, 1.5):
        refused = client.post("/api/visits", json=_visit(structure_id=wrong), headers=lea_h)
        assert refused.status_code == 400, wrong
    assert client.post("/api/visits", json=_visit(structure_id=1), headers=lea_h).status_code == 201
    assert client.get(f"/api/visits/{world.ids['visit_a']}", headers=lea_h).status_code == 200
    bad = client.patch(f"/api/users/{lea}", json={"structure_ids": []}, headers=admin)
    assert bad.status_code == 400
    audit = world.store.list_audit(target=f"user:{lea}")
    assert audit[0]["detail"]["structure_ids"] == [1, b]


def test_cli_structures(tmp_path, monkeypatch):
    """`dispatch structure add/list/rename`, `user add --structure`, `user structures`."""
    fast_password_hashing()
    monkeypatch.setenv("DISPATCH_VAR_DIR", str(tmp_path / "var"))

    def run(*args):
        result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
        return result

    made = run("structure", "add", "HAD Haute-Corse", "--kind", "had", "--finess", "2B0001234")
    assert made.exit_code == 0 and "(id 2, had)" in made.output
    assert run("structure", "rename", "1", "SSIAD de Bastia").exit_code == 0
    listed = run("structure", "list").output
    assert "SSIAD de Bastia" in listed and "HAD Haute-Corse" in listed
    added = run(
        "user",
        "add",
        "marie",
        "--role",
        "coordinator",
        "--no-password",
        "--structure",
        "HAD Haute-Corse",
    )
    assert added.exit_code == 0 and "structures 2" in added.output
    refused = run("user", "add", "paul", "--role", "planner", "--no-password")
    assert refused.exit_code != 0 and "structure" in refused.output
    both = run("user", "structures", "marie", "1", "HAD Haute-Corse")
    assert both.exit_code == 0 and "structures 1, 2" in both.output
    team = run("team", "add", "HAD 1", "--lon", "9.4", "--lat", "42.6", "--structure", "2")
    assert team.exit_code == 0
    with Store(tmp_path / "var" / "dispatch.sqlite") as store:
        assert store.find_user("marie")["structure_ids"] == [1, 2]
        assert store.find_team("HAD 1")["structure_id"] == 2
