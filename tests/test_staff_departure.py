"""A member of staff who leaves (DELETE /api/staff/{id}?last_day=): after their last working day
their visits not yet started lose their team (so the week counts them « sans équipe » and the
next planning gives them to others), their pairs end, and the answer and the audit say how many
visits were unassigned."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from api_world import DAY, World, make_world

YESTERDAY = "2026-11-22"
TOMORROW = "2026-11-24"
WEDNESDAY = "2026-11-25"


def weekly(days: str = "MO,TU,WE,TH,FR,SA,SU", shift: str = "07:00-15:00") -> dict[str, Any]:
    return {"start_day": "2026-11-02", "weekdays": days, "shift": shift}


@pytest.fixture
def world(tmp_path: Path) -> World:
    world = make_world(tmp_path)
    other = world.store.add_structure({"name": "SSIAD du Cap", "kind": "ssiad"})
    user = world.store.add_user("coord_b", role="coordinator", structure_ids=[other["id"]])
    world.tokens["coord_b"] = world.store.create_api_token(user["id"], label="test")
    return world


def call(world: World, who: str, method: str, url: str, body: Any = None) -> Any:
    return world.app.test_client().open(url, method=method, json=body, headers=world.headers(who))


def add_staff(world: World, name: str) -> dict[str, Any]:
    body = {
        "name": name,
        "job": "nurse",
        "skills": ["insulin"],
        "contract_h_per_week": 35,
        "rotas": [weekly()],
    }
    answer = call(world, "coordinator", "POST", "/api/staff", body)
    assert answer.status_code == 201, answer.get_json()
    staff: dict[str, Any] = answer.get_json()["staff"]
    return staff


def visit(day: str, team_id: int, status: str = "assigned", n: int = 0) -> dict[str, Any]:
    return {
        "day": day,
        "pseudonym": f"Patient D{n:03d}",
        "lon": 9.44,
        "lat": 42.69,
        "duration_s": 1200,
        "windows": [["08:00", "10:00"]],
        "team_id": team_id,
        "status": status,
    }


def team_of(world: World, visit_id: int) -> tuple[int | None, str]:
    v = world.store.get_visit(visit_id)
    return v["team_id"], v["status"]


def test_a_departure_unassigns_the_visits_after_the_last_day_and_ends_the_pairs(world) -> None:
    """Last working day today (the default): today's visits stay hers; tomorrow's and later
    ones not started, of her own team or of her pair, lose their team (planned again); her
    partner's own visits and other teams' stay; the pair ends, so the partner goes out alone;
    the answer and the audit give the count."""
    store = world.store
    marie, paul = add_staff(world, "Marie"), add_staff(world, "Paul")
    pair = call(
        world, "coordinator", "POST", "/api/pairs", {"staff_ids": [marie["id"], paul["id"]]}
    )
    assert pair.status_code == 201, pair.get_json()
    pair_team = pair.get_json()["pair"]["team_id"]
    rows = [
        visit(DAY, marie["team_id"], n=1),  # today: her last working day
        visit(TOMORROW, marie["team_id"], n=2),
        visit(WEDNESDAY, pair_team, n=3),
        visit(TOMORROW, paul["team_id"], n=4),
        visit(TOMORROW, world.ids["team_a"], n=5),
        visit(TOMORROW, marie["team_id"], "done", n=6),  # recorded early: history
    ]
    ids = [v["id"] for v in store.add_visits(rows)]
    week_url = f"/api/week?from={TOMORROW}&days=2"
    before = call(world, "coordinator", "GET", week_url).get_json()["unassigned"]
    assert [d["count"] for d in before] == [0, 0]
    gone = call(world, "coordinator", "DELETE", f"/api/staff/{marie['id']}")
    assert gone.status_code == 200, gone.get_json()
    body = gone.get_json()
    assert body["staff"]["active"] is False
    assert body["departure"] == {
        "last_day": DAY,
        "unassigned": 2,
        "pairs_ended": [pair_team],
        "republished_days": [],
    }
    assert team_of(world, ids[0]) == (marie["team_id"], "assigned")
    assert team_of(world, ids[1]) == (None, "planned")
    assert team_of(world, ids[2]) == (None, "planned")
    assert team_of(world, ids[3]) == (paul["team_id"], "assigned")
    assert team_of(world, ids[4]) == (world.ids["team_a"], "assigned")
    assert team_of(world, ids[5]) == (marie["team_id"], "done")
    # The week counts them without a team; the planning of those days gives them to others.
    week = call(world, "coordinator", "GET", week_url).get_json()
    assert week["unassigned"] == [{"day": TOMORROW, "count": 1}, {"day": WEDNESDAY, "count": 1}]
    assert store.list_pairs(structures=[1]) == []
    teams = store.day_teams(TOMORROW, structures=[1])
    assert [t["staff_ids"] for t in teams if paul["id"] in t["staff_ids"]] == [[paul["id"]]]
    assert not any(marie["id"] in t["staff_ids"] for t in teams)
    (line,) = [a for a in store.list_audit(target=f"staff:{marie['id']}")][:1]
    assert line["action"] == "staff.deactivate"
    assert line["detail"] == {"last_day": DAY, "unassigned": 2, "pairs_ended": [pair_team]}


def test_a_departure_recorded_late_keeps_the_past_and_unassigns_from_today(world) -> None:
    """Last day in the past: visits of the days already gone stay as they were (history);
    today's visits not started lose their team, one under way keeps it."""
    store = world.store
    marie = add_staff(world, "Marie")
    rows = [
        visit("2026-11-21", marie["team_id"], "done", n=1),
        visit(YESTERDAY, marie["team_id"], n=2),  # past, after the last day: history
        visit(DAY, marie["team_id"], n=3),
        visit(DAY, marie["team_id"], "in_progress", n=4),
        visit(TOMORROW, marie["team_id"], n=5),
    ]
    ids = [v["id"] for v in store.add_visits(rows)]
    gone = call(world, "coordinator", "DELETE", f"/api/staff/{marie['id']}?last_day=2026-11-21")
    assert gone.status_code == 200, gone.get_json()
    assert gone.get_json()["departure"]["unassigned"] == 2
    assert [team_of(world, i)[0] for i in ids] == [
        marie["team_id"],
        marie["team_id"],
        None,
        marie["team_id"],
        None,
    ]


def test_a_departure_is_refused_saying_what_to_do(world) -> None:
    """A last day after today: 409 saying to record it on the day (an absence meanwhile),
    nothing changed; a day not written YYYY-MM-DD: 400; another structure's staff: 404;
    a planner may not."""
    marie = add_staff(world, "Marie")
    (tomorrow_visit,) = world.store.add_visits([visit(TOMORROW, marie["team_id"])])
    url = f"/api/staff/{marie['id']}"
    later = call(world, "coordinator", "DELETE", f"{url}?last_day=2026-12-31")
    assert later.status_code == 409
    assert later.get_json()["error"] == (
        "last_day 2026-12-31 is after today (2026-11-23): record the departure on the last"
        " working day or after it (until then, an absence keeps Marie out of the planning)"
    )
    assert world.store.get_staff(marie["id"])["active"]
    assert team_of(world, tomorrow_visit["id"])[0] == marie["team_id"]
    bad = call(world, "coordinator", "DELETE", f"{url}?last_day=31/12/2026")
    assert bad.status_code == 400 and "last_day" in bad.get_json()["error"]
    assert call(world, "coord_b", "DELETE", url).status_code == 404
    assert call(world, "planner", "DELETE", url).status_code == 403
    assert team_of(world, tomorrow_visit["id"])[0] == marie["team_id"]


def test_a_departure_takes_the_person_s_rounds_out_of_the_published_plans(world) -> None:
    """Her round of tomorrow was published: the departure publishes tomorrow again without
    it, her visits waiting for a team with the reason naming her team, the other rounds as
    they were; maps and phones get the change."""
    store = world.store
    marie, paul = add_staff(world, "Marie"), add_staff(world, "Paul")
    rows = [visit(TOMORROW, marie["team_id"], n=1), visit(TOMORROW, paul["team_id"], n=2)]
    hers, his = (v["id"] for v in store.add_visits(rows))
    before = store.save_plan(
        TOMORROW,
        [
            {"team_id": marie["team_id"], "stops": [{"visit_id": hers, "arrival_s": 30000}]},
            {"team_id": paul["team_id"], "stops": [{"visit_id": his, "arrival_s": 30000}]},
        ],
        publish=True,
        structure_id=1,
    )
    gone = call(world, "coordinator", "DELETE", f"/api/staff/{marie['id']}")
    assert gone.status_code == 200, gone.get_json()
    assert gone.get_json()["departure"]["republished_days"] == [TOMORROW]
    plan = store.published_plan(TOMORROW, structure_id=1)
    assert plan["id"] != before["id"]
    assert [r["team_id"] for r in plan["routes"] if r["stops"]] == [paul["team_id"]]
    (waiting,) = plan["unassigned"]
    assert waiting["visit_id"] == hers
    assert "Marie" in waiting["reason"] and "ne travaille plus" in waiting["reason"]
    assert team_of(world, his) == (paul["team_id"], "assigned")
