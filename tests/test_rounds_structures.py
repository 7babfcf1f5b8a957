"""Rounds per structure: a day's plan belongs to one structure, planned with its own teams and
visits only; the day's teams come from who works that day (staff rotas and absences)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from dispatch.bus import Bus
from dispatch.clock import ServiceClock
from dispatch.errors import NotFoundError, ValidationError
from dispatch.rounds import PLAN_CHANGE, Rounds, RoundsOptions
from dispatch.routing import Router
from dispatch.store import Store

pytestmark = pytest.mark.slow

#: A Monday, planned the evening before (the clock is the day before).
DAY = "2027-01-04"
EVE = "2027-01-03T18:00:00+01:00"
BASE = (2.6555, 48.5400)
HOMES = [
    (2.6600, 48.5430),
    (2.6450, 48.5350),
    (2.6700, 48.5480),
    (2.6380, 48.5460),
    (2.6520, 48.5300),
    (2.6650, 48.5360),
]


class World:
    """Two structures (1: « Structure par défaut », 2: « SSIAD B ») sharing Melun's roads."""

    def __init__(self, tmp_path: Any, melun: Any) -> None:
        self.store = Store(tmp_path / "rounds.sqlite")
        self.b = self.store.add_structure({"name": "SSIAD B", "kind": "ssiad"})["id"]
        self.router = Router.for_territory(melun)
        self.bus = Bus()
        self.events: list[dict[str, Any]] = []
        self.bus.subscribe(PLAN_CHANGE, self.events.append)
        self.rounds = Rounds(
            self.store,
            lambda: (self.router, melun.id),
            self.bus,
            clock=ServiceClock(start=EVE),
            options=RoundsOptions(solver_searches=1),
        )

    def team(self, name: str, structure_id: int = 1, **data: Any) -> dict[str, Any]:
        return self.store.add_team(
            {"name": name, "base_lon": BASE[0], "base_lat": BASE[1], **data},
            structure_id=structure_id,
        )

    def visit(
        self, name: str, home: int, window: tuple[str, str], structure_id: int = 1, **data: Any
    ) -> dict[str, Any]:
        lon, lat = HOMES[home % len(HOMES)]
        return self.store.add_visit(
            {
                "day": DAY,
                "pseudonym": name,
                "lon": lon,
                "lat": lat,
                "duration_s": 1200,
                "windows": [list(window)],
                **data,
            },
            structure_id=structure_id,
        )

    def plan(self, structure_id: int) -> dict[str, Any]:
        proposal = self.rounds.optimise(DAY, by="test", time_limit_s=1, structure_id=structure_id)
        self.rounds.apply(proposal["plan_id"], by="test")
        plan = self.store.published_plan(DAY, structure_id=structure_id)
        assert plan is not None
        return plan


@pytest.fixture
def world(tmp_path, melun):  # type: ignore[no-untyped-def]
    w = World(tmp_path, melun)
    yield w
    w.store.close()


def visits_of(plan: dict[str, Any]) -> set[int]:
    return {s["visit_id"] for r in plan["routes"] for s in r["stops"]}


def teams_of(plan: dict[str, Any]) -> set[int]:
    return {r["team_id"] for r in plan["routes"]}


def test_each_structure_plans_its_day_with_its_own_teams_and_visits(world: World) -> None:
    """Structure 1's plan holds only its teams and visits; structure 2's publication does not
    archive it; the live map's view of the day holds both; a plan of one structure is not
    found by a caller of the other."""
    a1, a2 = world.team("A1"), world.team("A2")
    b1 = world.team("B1", world.b)
    va = {world.visit(f"A{i}", i, ("08:00", "12:00"))["id"] for i in range(4)}
    vb = {world.visit(f"B{i}", i, ("08:00", "12:00"), world.b)["id"] for i in range(3)}

    plan_a = world.plan(1)
    assert plan_a["structure_id"] == 1
    assert visits_of(plan_a) == va and teams_of(plan_a) <= {a1["id"], a2["id"]}
    assert world.events[-1]["structure_id"] == 1

    plan_b = world.plan(world.b)
    assert plan_b["structure_id"] == world.b
    assert visits_of(plan_b) == vb and teams_of(plan_b) == {b1["id"]}
    # Each structure keeps its published version of the day.
    assert world.store.published_plan_id(DAY, structure_id=1) == plan_a["id"]
    assert world.store.get_plan(plan_a["id"])["status"] == "published"
    both = world.store.published_plan(DAY)
    assert both is not None and visits_of(both) == va | vb
    assert {p["structure_id"] for p in both["plans"]} == {1, world.b}
    assert world.store.published_plan(DAY, team_id=b1["id"])["id"] == plan_b["id"]
    # Isolation: another structure's plan does not exist for the caller.
    with pytest.raises(NotFoundError, match=f"plan {plan_b['id']} does not exist"):
        world.store.get_plan(plan_b["id"], structures=[1])
    assert [p["id"] for p in world.store.list_plans(structures=[1])] == [plan_a["id"]]
    proposal = world.rounds.optimise(DAY, by="test", time_limit_s=1, structure_id=world.b)
    with pytest.raises(NotFoundError):
        world.rounds.apply(proposal["plan_id"], by="test", structures=[1])


def test_a_change_in_one_structure_never_touches_the_other(world: World) -> None:
    """Moving a visit of structure 1 to a team of structure 2 is refused as if the team did not
    exist; acting on another structure's visit likewise; a move within structure 1 leaves
    structure 2's plan as it was."""
    a1, a2 = world.team("A1"), world.team("A2")
    b1 = world.team("B1", world.b)
    va = [world.visit(f"A{i}", i, ("08:00", "12:00")) for i in range(3)]
    vb = world.visit("B0", 0, ("08:00", "12:00"), world.b)
    world.plan(1)
    plan_b = world.plan(world.b)
    with pytest.raises(NotFoundError, match=f"team {b1['id']}"):
        world.rounds.move(DAY, va[0]["id"], b1["id"], apply=True, by="t", structure_id=1)
    with pytest.raises(NotFoundError, match=f"visit {vb['id']}"):
        world.rounds.move(DAY, vb["id"], a1["id"], apply=True, by="t", structure_id=1)
    with pytest.raises(NotFoundError):
        world.rounds.team_unavailable(DAY, b1["id"], by="t", structure_id=1)
    owner = world.store.get_visit(va[0]["id"])["team_id"]
    target = a2["id"] if owner == a1["id"] else a1["id"]
    change = world.rounds.move(
        DAY, va[0]["id"], target, apply=True, force=True, by="t", structure_id=1
    )
    assert change["structure_id"] == 1
    assert world.store.published_plan_id(DAY, structure_id=world.b) == plan_b["id"]
    # Without a structure the team's or visit's own structure is planned.
    again = world.rounds.move(DAY, va[0]["id"], owner, apply=True, force=True, by="t")
    assert again["structure_id"] == 1


def test_several_structures_need_the_structure_named(world: World) -> None:
    world.team("A1")
    world.team("B1", world.b)
    with pytest.raises(ValidationError, match="give structure_id"):
        world.rounds.optimise(DAY, by="test", time_limit_s=1)


def _weekly(days: str, shift: str, **extra: Any) -> dict[str, Any]:
    return {"start_day": "2026-12-28", "weekdays": days, "shift": shift, **extra}


def _staff(world: World, name: str, rota: dict[str, Any], structure_id: int = 1) -> dict[str, Any]:
    return world.store.add_staff(
        {
            "name": name,
            "job": "nurse",
            "skills": [],
            "contract_h_per_week": 35,
            "rotas": [rota],
            "base_lon": BASE[0],
            "base_lat": BASE[1],
        },
        structure_id=structure_id,
    )


def test_the_days_teams_are_those_whose_staff_work_that_day(world: World) -> None:
    """Monday: Marie works 13:00-19:00 with a break 16:00-16:30 (her rota), Paul is off (he
    works on Tuesdays), Anne is on sick leave; a team without staff keeps its fixed shift.
    Only Marie's team and the fixed team are planned, Marie's on her rota's hours; Paul's and
    Anne's teams are left out with their reason, in French and in English."""
    marie = _staff(world, "Marie", _weekly("MO,WE", "13:00-19:00", breaks=["16:00-16:30"]))
    paul = _staff(world, "Paul", _weekly("TU", "07:00-15:00"))
    anne = _staff(world, "Anne", _weekly("MO,TU", "07:00-15:00"))
    world.store.add_absence(anne["id"], {"kind": "sickness", "from_day": DAY, "to_day": DAY})
    fixed = world.team("Fixe", shift_start="07:00", shift_end="12:00")
    for i in range(4):
        world.visit(f"V{i}", i, ("07:00", "19:00"))

    d = world.rounds.day(DAY, structure_id=1)
    teams = {int(t.id): t for t in d.problem.teams}
    assert set(teams) == {marie["team_id"], fixed["id"]}
    m = teams[marie["team_id"]]
    assert (m.shift_start_s, m.shift_end_s) == (13 * 3600, 19 * 3600)
    assert [(b.earliest_start_s, b.latest_end_s, b.duration_s) for b in m.breaks] == [
        (16 * 3600, 16 * 3600 + 1800, 1800)
    ]
    assert (teams[fixed["id"]].shift_start_s, teams[fixed["id"]].shift_end_s) == (
        7 * 3600,
        12 * 3600,
    )
    left = {u["id"]: u for u in world.rounds.unroutable(d, "fr")}
    assert set(left) == {paul["team_id"], anne["team_id"]}
    assert left[paul["team_id"]]["why"] == "off"
    assert "ne travaille pas le 2027-01-04" in left[paul["team_id"]]["reason"]
    assert left[anne["team_id"]]["why"] == "absent"
    assert left[anne["team_id"]]["absence"] == "sickness"
    assert "absente le 2027-01-04 (arrêt maladie)" in left[anne["team_id"]]["reason"]
    english = {u["id"]: u["reason"] for u in world.rounds.unroutable(d, "en")}
    assert "does not work on 2027-01-04" in english[paul["team_id"]]
    assert "absent on 2027-01-04 (sick leave)" in english[anne["team_id"]]

    proposal = world.rounds.optimise(DAY, by="test", time_limit_s=1, structure_id=1)
    routed = {int(r["team_id"]) for r in proposal["plan"]["routes"] if r["stops"]}
    assert routed <= {marie["team_id"], fixed["id"]}
    assert {u["id"] for u in proposal["unroutable"]} == {paul["team_id"], anne["team_id"]}
    for route in proposal["plan"]["routes"]:
        if int(route["team_id"]) == marie["team_id"]:
            assert all(s["arrival_s"] >= 13 * 3600 for s in route["stops"] if s["kind"] == "visit")
    # Acting on a team left out says why.
    with pytest.raises(ValidationError, match="absent"):
        world.rounds.team_unavailable(DAY, anne["team_id"], by="t", locale="en")


def test_a_pair_goes_out_together_and_their_own_teams_stay_quiet(world: World) -> None:
    """Two who go out as a pair on Monday: the pair's team is planned on their common hours;
    their own teams are not planned and not reported as off."""
    a = _staff(world, "Lucie", _weekly("MO", "07:00-14:00"))
    b = _staff(world, "Jean", _weekly("MO", "08:00-15:00"))
    pair = world.store.add_pair([a["id"], b["id"]], structures=[1])
    world.store.update_team(pair["team_id"], {"base_lon": BASE[0], "base_lat": BASE[1]})
    world.visit("LOURD", 0, ("08:00", "12:00"))
    d = world.rounds.day(DAY, structure_id=1)
    teams = {int(t.id): t for t in d.problem.teams}
    assert set(teams) == {int(pair["team_id"])}
    only = next(iter(teams.values()))
    assert (only.shift_start_s, only.shift_end_s) == (8 * 3600, 14 * 3600)
    assert world.rounds.unroutable(d, "en") == []


def test_a_team_without_a_base_is_left_out_with_its_reason(world: World) -> None:
    """The first member of staff of a structure with no team yet has no base: their team is
    left out with its reason, the others are planned."""
    bare = world.store.add_staff(
        {
            "name": "Sans base",
            "job": "nurse",
            "contract_h_per_week": 35,
            "rotas": [_weekly("MO", "07:00-14:00")],
        },
        structure_id=1,
    )
    world.team("A1")
    world.visit("V", 0, ("08:00", "12:00"))
    d = world.rounds.day(DAY, structure_id=1)
    [left] = world.rounds.unroutable(d, "en")
    assert (left["id"], left["why"], left["lon"]) == (bare["team_id"], "no_base", None)
    assert "has no base" in left["reason"]


# -- over REST -----------------------------------------------------------------------------------
@pytest.fixture
def web(tmp_path, melun, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    """The app with two structures: « coord_a » works for structure 1, « coord_b » for the
    other, « coord_ab » for both; each structure has a team and two visits on DAY."""
    from dispatch.settings import Settings
    from dispatch.web.app import create_app
    from tests.api_world import fast_password_hashing

    fast_password_hashing()
    settings = Settings(
        var_dir=tmp_path / "var",
        secret_key="t",
        territory="melun",
        cache_dir=territory_cache,
        data_path=(shared_dir / "territories",),
    )
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    app.config["TESTING"] = True
    b = store.add_structure({"name": "SSIAD B", "kind": "ssiad"})["id"]
    teams, visits = {}, {}
    for sid in (1, b):
        teams[sid] = store.add_team(
            {"name": f"Équipe {sid}", "base_lon": BASE[0], "base_lat": BASE[1]}, structure_id=sid
        )
        visits[sid] = [
            store.add_visit(
                {
                    "day": DAY,
                    "pseudonym": f"S{sid}V{i}",
                    "lon": HOMES[i][0],
                    "lat": HOMES[i][1],
                    "duration_s": 1200,
                    "windows": [["08:00", "12:00"]],
                },
                structure_id=sid,
            )
            for i in range(2)
        ]
    headers = {}
    for name, mine in (("coord_a", [1]), ("coord_b", [b]), ("coord_ab", [1, b])):
        user = store.add_user(name, role="coordinator", structure_ids=mine)
        token = store.create_api_token(user["id"], label="t")
        headers[name] = {"Authorization": f"Bearer {token}"}
    yield app.test_client(), store, headers, b, teams, visits
    store.close()


def _plan_over_rest(client: Any, headers: dict[str, str], **extra: Any) -> dict[str, Any]:
    r = client.post(
        "/api/dispatch/optimise", json={"day": DAY, "time_limit_s": 1, **extra}, headers=headers
    )
    assert r.status_code == 202, r.json
    for _ in range(300):
        job = client.get(f"/api/dispatch/jobs/{r.json['job_id']}", headers=headers).json
        if job["state"] in ("done", "failed"):
            break
        time.sleep(0.1)
    assert job["state"] == "done", job
    return job


def test_over_rest_each_coordinator_plans_and_sees_only_their_structure(web: Any) -> None:
    """coord_a plans structure 1 without naming it; coord_b does not see that plan, its job,
    its team or its visits (404), and plans its own; coord_ab must name the structure."""
    client, store, headers, b, teams, visits = web
    a_head, b_head, ab_head = headers["coord_a"], headers["coord_b"], headers["coord_ab"]
    from dispatch.live.hub import coordinator_room
    from dispatch.web.api_dispatch import SOCKET_KEY

    pushed: list[tuple[str, str]] = []

    class Sockets:
        def emit(self, event: str, payload: Any, to: str) -> None:
            pushed.append((event, to))

    client.application.extensions[SOCKET_KEY] = Sockets()
    job = _plan_over_rest(client, a_head)
    # The job's progress and end reach structure 1's coordinators only.
    assert ("dispatch:job", coordinator_room(1)) in pushed
    assert {room for _, room in pushed} == {coordinator_room(1)}
    assert job["structure_id"] == 1
    assert {int(r["team_id"]) for r in job["plan"]["routes"]} == {teams[1]["id"]}
    plan_id = job["plan_id"]
    # Another structure's plan, job and round do not exist for coord_b.
    assert client.get(f"/api/plans/{plan_id}", headers=b_head).status_code == 404
    assert client.get(f"/api/dispatch/jobs/{job['id']}", headers=b_head).status_code == 404
    r = client.post(f"/api/dispatch/plans/{plan_id}/apply", json={}, headers=b_head)
    assert r.status_code == 404, r.json
    assert client.get(f"/api/teams/{teams[1]['id']}/round", headers=b_head).status_code == 404
    r = client.post(
        "/api/dispatch/move",
        json={"day": DAY, "visit_id": visits[1][0]["id"], "team_id": teams[b]["id"]},
        headers=b_head,
    )
    assert r.status_code == 404, r.json
    r = client.post(
        "/api/dispatch/team-unavailable",
        json={"day": DAY, "team_id": teams[1]["id"]},
        headers=b_head,
    )
    assert r.status_code == 404, r.json
    assert client.get(f"/api/dispatch/plans/{plan_id}", headers=b_head).status_code == 404
    # The proposal read again, as a coordinator reviews a draft made elsewhere.
    again = client.get(f"/api/dispatch/plans/{plan_id}?locale=en", headers=a_head).json
    assert (again["plan_id"], again["plan_status"], again["applied"]) == (plan_id, "draft", False)
    assert again["comparison"]["proposed"]["visits_served"] == 2
    # coord_a applies its own plan; coord_b sees no plan of structure 1 in its list.
    r = client.post(f"/api/dispatch/plans/{plan_id}/apply", json={}, headers=a_head)
    assert r.status_code == 200 and r.json["structure_id"] == 1, r.json
    listed = client.get(f"/api/plans?day={DAY}", headers=b_head).json["items"]
    assert listed == []
    # A coordinator of both structures names the one planned.
    r = client.post("/api/dispatch/optimise", json={"day": DAY}, headers=ab_head)
    assert r.status_code == 400 and "structure_id" in r.json["error"]
    job_b = _plan_over_rest(client, ab_head, structure_id=b)
    assert {int(r["team_id"]) for r in job_b["plan"]["routes"]} == {teams[b]["id"]}
    r = client.post("/api/dispatch/optimise", json={"day": DAY, "structure_id": b}, headers=a_head)
    assert r.status_code == 403
    # Each structure's published plan stays its own.
    client.post(f"/api/dispatch/plans/{job_b['plan_id']}/apply", json={}, headers=ab_head)
    assert store.published_plan_id(DAY, structure_id=1) == plan_id
    rounds = client.get(f"/api/teams/{teams[b]['id']}/round?day={DAY}", headers=b_head).json
    assert rounds["round"]["plan_id"] == job_b["plan_id"]


def test_a_draft_made_elsewhere_is_reviewed_as_an_optimisation(world: World) -> None:
    """A team's absence replanned as a draft (team_unavailable without apply) is read back
    with what it changes: the day's published plan is untouched until it is applied."""
    a1, a2 = world.team("A1"), world.team("A2")
    for i in range(4):
        world.visit(f"A{i}", i, ("08:00", "12:00"))
    published = world.plan(1)
    if a1["id"] not in teams_of(published):  # the absent team has visits to give away
        one = next(iter(visits_of(published)))
        world.rounds.move(DAY, one, a1["id"], apply=True, force=True, by="test")
        published = world.store.published_plan(DAY, structure_id=1)
    draft = world.rounds.team_unavailable(DAY, a1["id"], by="absence", apply=False)
    assert draft["applied"] is False
    assert world.store.published_plan_id(DAY, structure_id=1) == published["id"]
    seen = world.rounds.proposal(draft["plan_id"], locale="en")
    assert seen["plan_status"] == "draft" and seen["base_plan_id"] == published["id"]
    routes = {int(r["team_id"]): r for r in seen["plan"]["routes"]}
    assert not [s for s in routes.get(a1["id"], {"stops": []})["stops"] if s["kind"] == "visit"]
    moved = {r["visit_id"]: r for r in seen["reassigned"]}
    assert moved and moved == {r["visit_id"]: r for r in draft["reassigned"]}
    assert {(r["from_team"], r["to_team"]) for r in moved.values()} == {("A1", "A2")}
    with pytest.raises(NotFoundError):
        world.rounds.proposal(draft["plan_id"], structures=[world.b])
    world.rounds.apply(
        draft["plan_id"], by="test", confirm_dropped=[d["visit_id"] for d in seen["dropped"]]
    )
    assert world.rounds.proposal(draft["plan_id"])["applied"] is True
    assert a2["id"] in {r["team_id"] for r in world.store.published_plan(DAY)["routes"]}


def test_a_part_day_absence_is_a_break_in_the_days_shift(world: World) -> None:
    """Marie trains from 10:00 to 12:00 on Monday: her team works 08:00-16:00 with that time
    kept free (a break of the whole gap), and no visit is planned inside it."""
    marie = _staff(world, "Marie", _weekly("MO", "08:00-16:00"))
    world.store.add_absence(
        marie["id"],
        {"kind": "training", "from_day": DAY, "to_day": DAY, "part": "10:00-12:00"},
    )
    for i in range(3):
        world.visit(f"V{i}", i, ("08:00", "16:00"))
    d = world.rounds.day(DAY, structure_id=1)
    [team] = d.problem.teams
    assert (team.shift_start_s, team.shift_end_s) == (8 * 3600, 16 * 3600)
    assert [(b.earliest_start_s, b.latest_end_s, b.duration_s) for b in team.breaks] == [
        (10 * 3600, 12 * 3600, 2 * 3600)
    ]
    proposal = world.rounds.optimise(DAY, by="test", time_limit_s=1, structure_id=1)
    for route in proposal["plan"]["routes"]:
        for s in route["stops"]:
            if s["kind"] == "visit":
                assert s["departure_s"] <= 10 * 3600 or s["start_s"] >= 12 * 3600, s
