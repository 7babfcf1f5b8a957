"""REST of staff, absences (impact, cancel, replanning), the week and a team member's coming
days; another structure's staff is a 404 on every route."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from api_world import DAY, World, make_world

from dispatch.errors import ValidationError

THURSDAY = "2026-11-26"


def weekly(days: str = "MO,TU,WE,TH,FR", shift: str = "07:00-15:00") -> dict[str, Any]:
    return {"start_day": "2026-11-02", "weekdays": days, "shift": shift}


@pytest.fixture
def world(tmp_path: Path) -> World:
    world = make_world(tmp_path)
    other = world.store.add_structure({"name": "SSIAD du Cap", "kind": "ssiad"})
    user = world.store.add_user("coord_b", role="coordinator", structure_ids=[other["id"]])
    world.tokens["coord_b"] = world.store.create_api_token(user["id"], label="test")
    world.ids["structure_b"] = other["id"]
    return world


def call(
    world: World, who: str, method: str, url: str, body: Any = None, headers: Any = None
) -> Any:
    client = world.app.test_client()
    return client.open(
        url, method=method, json=body, headers={**world.headers(who), **(headers or {})}
    )


def add_marie(world: World, **extra: Any) -> dict[str, Any]:
    body = {
        "name": "Marie",
        "gender": "female",
        "job": "nurse",
        "skills": ["insulin"],
        "contract_h_per_week": 35,
        "rotas": [weekly()],
        **extra,
    }
    answer = call(world, "coordinator", "POST", "/api/staff", body)
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["staff"]


def test_a_coordinator_manages_staff(world: World) -> None:
    marie = add_marie(world)
    assert marie["structure_id"] == 1 and marie["team_id"] and marie["absences"] == []
    team = world.store.get_team(marie["team_id"])
    assert team["name"] == "Marie" and team["base_lon"] == 9.45  # the structure's first base
    listed = call(world, "planner", "GET", "/api/staff").get_json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == marie["id"]
    changed = call(
        world, "coordinator", "PATCH", f"/api/staff/{marie['id']}", {"contract_h_per_week": 28}
    )
    assert changed.status_code == 200 and changed.get_json()["staff"]["contract_h_per_week"] == 28
    got = call(world, "coordinator", "GET", f"/api/staff/{marie['id']}").get_json()["staff"]
    assert got["contract_h_per_week"] == 28
    gone = call(world, "coordinator", "DELETE", f"/api/staff/{marie['id']}")
    assert gone.status_code == 200 and gone.get_json()["staff"]["active"] is False
    assert call(world, "coordinator", "GET", "/api/staff").get_json()["total"] == 0
    assert call(world, "coordinator", "GET", "/api/staff?all=true").get_json()["total"] == 1
    actions = [a["action"] for a in world.store.list_audit(target=f"staff:{marie['id']}")]
    assert actions == ["staff.deactivate", "staff.update", "staff.create"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"rotas": [weekly("MO,XY")]}, "rotas[0]: weekdays 'XY': use MO,TU,WE,TH,FR,SA,SU"),
        (
            {"rotas": [weekly(), {**weekly(), "start_day": "2026-12-01", "cycle": [7, 7]}]},
            "rotas[1]: give one of cycle, days or weekdays",
        ),
        ({"rotas": [weekly(shift="15:00-07:00")]}, "rotas[0]: 15:00-07:00 ends before it starts"),
        ({"rotas": [{"start_day": "2026-11-02", "days": [{}]}]}, "rotas[0]: days[0]"),
        ({"rotas": None}, "rotas must be a list"),
        ({"contract_h_per_week": 90}, "contract_h_per_week"),
        ({"structure_id": "x"}, "structure_id"),
    ],
)
def test_bad_staff_input_is_a_400_that_says_what_to_fix(
    world: World, body: dict[str, Any], message: str
) -> None:
    answer = call(
        world,
        "coordinator",
        "POST",
        "/api/staff",
        {"name": "Marie", "contract_h_per_week": 35, **body},
    )
    assert answer.status_code == 400, answer.get_json()
    assert message in answer.get_json()["error"]


def test_roles(world: World) -> None:
    marie = add_marie(world)
    assert call(world, "planner", "POST", "/api/staff", {"name": "x"}).status_code == 403
    assert call(world, "member_a", "GET", "/api/staff").status_code == 403
    assert call(world, "anonymous", "GET", "/api/week").status_code == 401
    assert call(world, "planner", "DELETE", f"/api/staff/{marie['id']}").status_code == 403


def _visits(world: World, team_id: int, day: str, windows: list[str]) -> list[int]:
    items = [
        {
            "day": day,
            "pseudonym": f"P-{i}",
            "lon": 9.44,
            "lat": 42.69,
            "duration_s": 1800,
            "windows": w,
            "team_id": team_id,
        }
        for i, w in enumerate(windows)
    ]
    return [v["id"] for v in world.store.add_visits(items, structure_id=1)]


def test_an_absence_shows_its_impact_before_and_after_it_is_recorded(world: World) -> None:
    marie = add_marie(world)
    ids = _visits(world, marie["team_id"], THURSDAY, ["08:00-09:00", "09:00-10:00"])
    body = {"kind": "sickness", "from_day": THURSDAY, "note": "arrêt"}
    url = f"/api/staff/{marie['id']}/absences"
    preview = call(world, "coordinator", "POST", f"{url}/impact", body)
    assert preview.status_code == 200
    impact = preview.get_json()["impact"]
    assert impact["message"] == "Marie absente jeudi 26 novembre : 2 visites à réaffecter"
    assert impact["days"] == [{"day": THURSDAY, "count": 2, "visit_ids": ids}]
    assert world.store.list_absences(marie["id"]) == []  # a preview writes nothing
    english = call(world, "coordinator", "POST", f"{url}/impact?locale=en", body).get_json()
    assert english["impact"]["message"] == (
        "Marie absent on Thursday 26 November: 2 visits to reassign"
    )
    recorded = call(world, "coordinator", "POST", url, body)
    assert recorded.status_code == 201, recorded.get_json()
    absence = recorded.get_json()["absence"]
    assert absence["kind"] == "sickness" and absence["note"] == "arrêt"
    assert recorded.get_json()["impact"]["total"] == 2
    # Until the visits are reassigned, the map's alerts say so (once per absence).
    alerts = call(world, "coordinator", "GET", "/api/alerts").get_json()["alerts"]
    (alert,) = [a for a in alerts if a["kind"] == "absence"]
    assert alert["key"] == f"absence:{absence['id']}" and alert["team_id"] == marie["team_id"]
    assert (alert["staff_name"], alert["count"]) == ("Marie", 2)
    assert (alert["from_day"], alert["to_day"]) == (THURSDAY, THURSDAY)
    again = call(world, "coordinator", "POST", url, body)
    assert again.status_code == 409 and "already absent" in again.get_json()["error"]
    listed = call(world, "planner", "GET", url).get_json()["items"]
    assert [a["id"] for a in listed] == [absence["id"]]
    week = call(world, "coordinator", "GET", f"/api/week?from={DAY}").get_json()
    (row,) = week["staff"]
    assert row["cells"][3]["absence"]["kind"] == "sickness" and row["rostered_h"] == 32
    cancelled = call(world, "coordinator", "DELETE", f"{url}/{absence['id']}")
    assert cancelled.status_code == 200 and cancelled.get_json()["absence"]["cancelled"]
    assert call(world, "coordinator", "GET", url).get_json()["items"] == []
    bad = call(
        world, "coordinator", "POST", url, {"kind": "leave", "from_day": THURSDAY, "to_day": DAY}
    )
    assert bad.status_code == 400 and "before from_day" in bad.get_json()["error"]


class FakeRounds:
    """The rounds service's drafts: team_unavailable refuses a team left out as absent (as
    the real one does once the absence is recorded), optimise saves a draft."""

    def __init__(self, world: World, other_team: int, moving: list[int]) -> None:
        self.world, self.other_team, self.moving = world, other_team, moving
        self.calls: list[tuple[Any, ...]] = []

    def team_unavailable(self, day: str, team_id: int, **kw: Any) -> dict[str, Any]:
        self.calls.append(("team_unavailable", day, team_id, kw["apply"], kw["structure_id"]))
        raise ValidationError(f"team {team_id} is absent on {day}")

    def optimise(self, day: str, **kw: Any) -> dict[str, Any]:
        self.calls.append(("optimise", day, kw["structure_id"], kw["locale"]))
        plan = self.world.store.save_plan(
            day,
            [{"team_id": self.other_team, "stops": [{"visit_id": v} for v in self.moving]}],
            structure_id=1,
        )
        return {"plan_id": plan["id"]}


def test_replanning_asks_the_rounds_for_a_draft_per_day(world: World) -> None:
    marie = add_marie(world)
    ids = _visits(world, marie["team_id"], THURSDAY, ["08:00-09:00", "09:00-10:00"])
    fake = FakeRounds(world, world.ids["team_a"], ids[:1])
    world.app.extensions["dispatch.rounds"] = fake
    url = f"/api/staff/{marie['id']}/absences"
    absence = call(
        world,
        "coordinator",
        "POST",
        url,
        {"kind": "leave", "from_day": "2026-11-25", "to_day": "2026-11-27"},
    )
    absence_id = absence.get_json()["absence"]["id"]
    answer = call(world, "coordinator", "POST", f"{url}/{absence_id}/replan?locale=fr")
    assert answer.status_code == 200, answer.get_json()
    (day,) = answer.get_json()["days"]
    assert day["day"] == THURSDAY and day["moved"] == 1 and day["unassigned"] == 1
    assert world.store.get_plan(day["plan_id"])["status"] == "draft"
    assert fake.calls == [
        ("team_unavailable", THURSDAY, marie["team_id"], False, 1),
        ("optimise", THURSDAY, 1, "fr"),
    ]


def test_replanning_without_a_territory_says_so_per_day(world: World) -> None:
    marie = add_marie(world)
    _visits(world, marie["team_id"], THURSDAY, ["08:00-09:00"])
    url = f"/api/staff/{marie['id']}/absences"
    absence_id = call(
        world, "coordinator", "POST", url, {"kind": "leave", "from_day": THURSDAY}
    ).get_json()["absence"]["id"]
    answer = call(world, "coordinator", "POST", f"{url}/{absence_id}/replan")
    assert answer.status_code == 200, answer.get_json()
    (day,) = answer.get_json()["days"]
    assert day["plan_id"] is None and day["unassigned"] == 1 and day["error"]
    # A cancelled absence has nothing to replan: a conflict with its state, not a bad body.
    assert call(world, "coordinator", "DELETE", f"{url}/{absence_id}").status_code == 200
    again = call(world, "coordinator", "POST", f"{url}/{absence_id}/replan")
    assert again.status_code == 409 and "cancelled" in again.get_json()["error"]


def test_a_team_member_sees_their_coming_days(world: World) -> None:
    marie = add_marie(world)
    ids = _visits(world, marie["team_id"], DAY, ["10:00-11:00"])
    user = world.store.add_user("marie", role="team_member", team_id=marie["team_id"])
    world.tokens["marie"] = world.store.create_api_token(user["id"], label="test")
    mine = call(world, "marie", "GET", "/api/week/mine?days=3")
    assert mine.status_code == 200, mine.get_json()
    body = mine.get_json()
    assert body["staff"] == {"id": marie["id"], "name": "Marie"}
    assert [d["day"] for d in body["days"]] == [DAY, "2026-11-24", "2026-11-25"]
    assert body["days"][0]["visits"] == [
        {
            "id": ids[0],
            "pseudonym": "P-0",
            "window": "10:00-11:00",
            "duration_s": 1800,
            "team_id": marie["team_id"],
            "with": None,
        }
    ]
    assert "Test A" not in mine.get_data(as_text=True)
    assert call(world, "marie", "GET", "/api/week").status_code == 403
    phone = call(world, "device_b", "GET", "/api/week/mine").get_json()
    assert phone["staff"] is None and len(phone["days"]) == 7  # a team without staff
    assert call(world, "marie", "GET", "/api/week/mine?days=99").status_code == 400


def test_the_week_of_a_structure(world: World) -> None:
    marie = add_marie(world)
    _visits(world, marie["team_id"], DAY, ["10:00-11:00", "11:00-12:00"])
    week = call(world, "coordinator", "GET", "/api/week").get_json()  # from today
    assert week["from"] == DAY and len(week["days"]) == 7
    (row,) = week["staff"]
    assert row["rostered_h"] == 40 and row["visit_h"] == 1 and row["cells"][0]["visits"] == 2
    assert week["unassigned"][0] == {"day": DAY, "count": 1}  # api_world's unassigned visit
    assert call(world, "coord_b", "GET", "/api/week").get_json()["staff"] == []
    assert call(world, "coordinator", "GET", "/api/week?days=0").status_code == 400


def test_another_structures_staff_is_not_found_anywhere(world: World) -> None:
    marie = add_marie(world)
    absence_id = call(
        world,
        "coordinator",
        "POST",
        f"/api/staff/{marie['id']}/absences",
        {"kind": "leave", "from_day": THURSDAY},
    ).get_json()["absence"]["id"]
    base = f"/api/staff/{marie['id']}"
    leave = {"kind": "leave", "from_day": "2026-12-01"}
    for method, url, body in (
        ("GET", base, None),
        ("PATCH", base, {"contract_h_per_week": 20}),
        ("DELETE", base, None),
        ("GET", f"{base}/absences", None),
        ("POST", f"{base}/absences", leave),
        ("POST", f"{base}/absences/impact", leave),
        ("DELETE", f"{base}/absences/{absence_id}", None),
        ("POST", f"{base}/absences/{absence_id}/replan", None),
    ):
        answer = call(world, "coord_b", method, url, body)
        assert answer.status_code == 404, (method, url, answer.get_json())
        assert answer.get_json()["error"] == f"staff member {marie['id']} does not exist"
    assert call(world, "coord_b", "GET", "/api/staff").get_json()["items"] == []
    created = call(
        world, "coord_b", "POST", "/api/staff", {"name": "Lucia", "contract_h_per_week": 30}
    )
    assert created.get_json()["staff"]["structure_id"] == world.ids["structure_b"]
    refused = call(
        world,
        "coordinator",
        "POST",
        "/api/staff",
        {"name": "X", "contract_h_per_week": 30, "structure_id": world.ids["structure_b"]},
    )
    assert refused.status_code == 403
    assert world.store.get_staff(marie["id"])["active"]  # untouched


def test_the_routes_are_in_the_openapi_document(world: World) -> None:
    paths = call(world, "anonymous", "GET", "/api/openapi.json").get_json()["paths"]
    for path in (
        "/api/staff",
        "/api/staff/{staff_id}",
        "/api/staff/{staff_id}/absences",
        "/api/staff/{staff_id}/absences/impact",
        "/api/staff/{staff_id}/absences/{absence_id}",
        "/api/staff/{staff_id}/absences/{absence_id}/replan",
        "/api/week",
        "/api/week/mine",
    ):
        assert path in paths


def test_the_screens_errors_come_in_french(world: World) -> None:
    marie = add_marie(world)
    url = f"/api/staff/{marie['id']}/absences"
    leave = {"kind": "leave", "from_day": THURSDAY}
    assert call(world, "coordinator", "POST", url, leave).status_code == 201
    french = {"Accept-Language": "fr-FR,fr;q=0.9"}
    again = call(world, "coordinator", "POST", url, leave, headers=french)
    assert again.status_code == 409
    assert again.get_json()["error"] == (
        f"Marie est déjà absent·e du {THURSDAY} au {THURSDAY} (absence 1) : annulez cette "
        "absence ou choisissez d'autres jours"
    )
    backwards = call(
        world,
        "coordinator",
        "POST",
        url,
        {"kind": "leave", "from_day": "2026-12-10", "to_day": "2026-12-09"},
        headers=french,
    )
    assert backwards.get_json()["error"].startswith(
        "absence : le dernier jour 2026-12-09 est avant le premier 2026-12-10"
    )
    rota = call(
        world,
        "coordinator",
        "POST",
        "/api/staff",
        {"name": "Paul", "contract_h_per_week": 35, "rotas": [weekly("MO,XY")]},
        headers=french,
    )
    assert rota.get_json()["error"].startswith("roulement 0 : jour 'XY' inconnu")


def test_a_pair_goes_out_together(world: World) -> None:
    marie = add_marie(world)
    paul = add_marie(world, name="Paul", gender="male", rotas=[weekly("MO,TU", "08:00-16:00")])
    answer = call(
        world, "coordinator", "POST", "/api/pairs", {"staff_ids": [marie["id"], paul["id"]]}
    )
    assert answer.status_code == 201, answer.get_json()
    pair = answer.get_json()["pair"]
    assert pair["name"] == "Marie & Paul"
    assert call(world, "planner", "GET", "/api/pairs").get_json()["items"] == [pair]
    week = call(world, "coordinator", "GET", f"/api/week?from={DAY}&days=3").get_json()
    cells = {r["name"]: [c["team_id"] for c in r["cells"]] for r in week["staff"]}
    assert cells == {
        "Marie": [pair["team_id"], pair["team_id"], marie["team_id"]],
        "Paul": [pair["team_id"], pair["team_id"], paul["team_id"]],
    }
    assert call(world, "coord_b", "GET", "/api/pairs").get_json()["items"] == []
    assert call(world, "coord_b", "DELETE", f"/api/teams/{pair['team_id']}/pair").status_code == 404
    same = call(world, "coordinator", "POST", "/api/pairs", {"staff_ids": [marie["id"], 99]})
    assert same.status_code == 404
    # 99.0 is the integer 99 in JSON (schemathesis sends such numbers): the same answer.
    same = call(world, "coordinator", "POST", "/api/pairs", {"staff_ids": [marie["id"], 99.0]})
    assert same.status_code == 404
    assert (
        call(world, "coordinator", "DELETE", f"/api/teams/{pair['team_id']}/pair").status_code
        == 200
    )
    assert call(world, "coordinator", "GET", "/api/pairs").get_json()["items"] == []


def test_an_account_of_another_structure_cannot_be_linked(world: World) -> None:
    marie = add_marie(world)
    other = world.store.add_user("lucia", role="planner", structure_ids=[world.ids["structure_b"]])
    for method, url in (("POST", "/api/staff"), ("PATCH", f"/api/staff/{marie['id']}")):
        body = {"user_id": other["id"]}
        if method == "POST":
            body.update(name="Lucia", contract_h_per_week=30)
        answer = call(world, "coordinator", method, url, body)
        assert answer.status_code == 404, answer.get_json()
        assert answer.get_json()["error"] == f"user {other['id']} does not exist"
    # A member of the staff's structure (through membership or team) can be.
    mine = call(
        world,
        "coordinator",
        "PATCH",
        f"/api/staff/{marie['id']}",
        {"user_id": world.ids["member_a"]},
    )
    assert mine.status_code == 200, mine.get_json()
    assert world.store.get_user(world.ids["member_a"])["team_id"] == marie["team_id"]


def test_personal_teams_reach_the_live_map(world: World) -> None:
    from dispatch.web.rest import get_bus

    seen: list[dict[str, Any]] = []
    get_bus(world.app).subscribe("team", seen.append)
    marie = add_marie(world)
    call(world, "coordinator", "PATCH", f"/api/staff/{marie['id']}", {"name": "Marie S"})
    call(world, "coordinator", "DELETE", f"/api/staff/{marie['id']}")
    assert [(t["id"], t["name"], t["active"]) for t in seen] == [
        (marie["team_id"], "Marie", True),
        (marie["team_id"], "Marie S", True),
        (marie["team_id"], "Marie S", False),
    ]


def test_an_absence_on_a_day_not_yet_planned_counts_the_visits_that_prefer_her(
    world: World,
) -> None:
    """No visit of a coming day has a team yet: the impact counts those naming her team as
    preferred, and says the hours the day loses when nobody else can cover them."""
    marie = add_marie(world)
    items = [
        {"day": THURSDAY, "pseudonym": f"P-{i}", "lon": 9.44, "lat": 42.69, "duration_s": 1800,
         "windows": "08:00-12:00", "preferred_team_id": marie["team_id"] if i < 3 else None}
        for i in range(5)
    ]  # fmt: skip
    ids = [v["id"] for v in world.store.add_visits(items, structure_id=1)]
    url = f"/api/staff/{marie['id']}/absences/impact"
    body = {"kind": "sickness", "from_day": THURSDAY}
    impact = call(world, "coordinator", "POST", url, body).get_json()["impact"]
    assert impact["message"] == "Marie absente jeudi 26 novembre : 3 visites à réaffecter"
    assert impact["days"] == [{"day": THURSDAY, "count": 3, "visit_ids": ids[:3]}]
    assert impact["reassign"] is True
    assert impact["capacity"] == [
        {"day": THURSDAY, "lost_h": 8.0, "remaining_h": 0, "visit_h": 2.5, "short": True}
    ]
    # Without preferences, only the hours are lost: said in words, still to replan.
    world.store.engine.write(
        lambda conn: conn.execute("UPDATE visits SET preferred_team_id = NULL")
    )
    english = call(world, "coordinator", "POST", f"{url}?locale=en", body).get_json()["impact"]
    assert english["total"] == 0 and english["reassign"] is True
    assert english["message"] == (
        "Marie absent on Thursday 26 November: 8 h of work lost that day"
        " (0 h left for 2.5 h of visits)"
    )
