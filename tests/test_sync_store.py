"""Two-person visits in the store and for the teams: a plan with a visit in two routes is
saved and published (team and partner team), the partner team's round, details and events
reach it as they reach the main team's, and no other team's; rows carry staff_count and size.
"""

from __future__ import annotations

import numpy as np
import pytest
from api_world import DAY, make_world

from dispatch.errors import ValidationError
from dispatch.optimise.check import plan_findings
from dispatch.optimise.rows import plan_from_stored, problem_from_rows
from dispatch.optimise.schedule import build_route


@pytest.fixture
def world(tmp_path):
    w = make_world(tmp_path, clock_start=f"{DAY}T08:30:00+01:00")
    team_c = w.store.add_team({"name": "Équipe C", "base_lon": 9.30, "base_lat": 42.50})
    user = w.store.add_user("member_c", role="team_member", team_id=team_c["id"])
    w.tokens["member_c"] = w.store.create_api_token(user["id"], label="test")
    w.ids["team_c"] = team_c["id"]
    duo = w.store.add_visit(
        {
            "day": DAY,
            "pseudonym": "Patient DUO",
            "lon": 9.40,
            "lat": 42.60,
            "duration_s": 1800,
            "windows": [["09:00", "11:00"]],
            "protected": {"name": "Duo Patient", "phone": "0622222222"},
        }
    )
    w.store.engine.write(
        lambda conn: conn.execute("UPDATE visits SET staff_count = 2 WHERE id = ?", (duo["id"],))
    )
    w.ids["duo"] = duo["id"]
    yield w
    w.store.close()


def _stop(visit_id, start_s):
    return {
        "visit_id": visit_id,
        "arrival_s": start_s - 300,
        "start_s": start_s,
        "end_s": start_s + 1800,
    }


def _publish_duo(world):
    ids = world.ids
    return world.store.save_plan(
        DAY,
        [
            {
                "team_id": ids["team_a"],
                "stops": [_stop(ids["visit_a"], 30000), _stop(ids["duo"], 36000)],
            },
            {
                "team_id": ids["team_b"],
                "stops": [_stop(ids["duo"], 36000), _stop(ids["visit_b"], 50400)],
            },
        ],
        unassigned=[{"visit_id": ids["visit_u"], "reason": "test"}],
        publish=True,
    )


def test_a_plan_with_a_two_person_visit_in_two_routes_is_saved_and_published(world):
    plan = _publish_duo(world)
    ids = world.ids
    duo = world.store.get_visit(ids["duo"])
    assert (duo["team_id"], duo["partner_team_id"], duo["status"]) == (
        ids["team_a"],
        ids["team_b"],
        "assigned",
    )
    assert world.store.get_visit(ids["visit_a"])["partner_team_id"] is None
    b_round = world.store.get_plan(plan["id"], team_id=ids["team_b"])["routes"][0]["stops"]
    shared = next(s for s in b_round if s["visit_id"] == ids["duo"])
    assert shared["partner_team_id"] == ids["team_a"] and shared["partner_name"] == "Équipe A"
    assert shared["start_s"] == 36000
    assert "partner_name" not in b_round[1]
    b_visits = world.store.list_visits(day=DAY, team_id=ids["team_b"])
    assert {v["id"] for v in b_visits} == {ids["duo"], ids["visit_b"]}
    # Publishing another plan where the visit has one team of two clears the partner.
    world.store.save_plan(
        DAY,
        [{"team_id": ids["team_a"], "stops": [_stop(ids["duo"], 36000)]}],
        unassigned=[
            {"visit_id": v, "reason": "test"}
            for v in (ids["visit_a"], ids["visit_b"], ids["visit_u"])
        ],
        publish=True,
    )
    assert world.store.get_visit(ids["duo"])["partner_team_id"] is None


def test_only_a_two_person_visit_may_be_in_two_routes_of_two_teams(world):
    ids = world.ids
    with pytest.raises(ValidationError, match="only a two-person visit"):
        world.store.save_plan(
            DAY,
            [
                {"team_id": ids["team_a"], "stops": [_stop(ids["visit_a"], 30000)]},
                {"team_id": ids["team_b"], "stops": [_stop(ids["visit_a"], 30000)]},
            ],
        )
    with pytest.raises(ValidationError, match="only a two-person visit"):
        world.store.save_plan(
            DAY,
            [
                {
                    "team_id": ids["team_a"],
                    "stops": [_stop(ids["duo"], 30000), _stop(ids["duo"], 36000)],
                }
            ],
        )
    with pytest.raises(ValidationError, match="appears twice"):
        world.store.save_plan(
            DAY,
            [{"team_id": ids["team_a"], "stops": [_stop(ids["duo"], 30000)]}],
            unassigned=[{"visit_id": ids["duo"], "reason": "x"}],
        )


def test_the_partner_team_reads_the_details_and_records_events_like_the_main_team(world):
    _publish_duo(world)
    client = world.app.test_client()
    duo = world.ids["duo"]
    for who in ("member_a", "device_b"):
        got = client.get(f"/api/visits/{duo}/details?from=phone", headers=world.headers(who))
        assert got.status_code == 200, who
        assert got.get_json()["details"]["name"] == "Duo Patient"
        assert client.get(f"/api/visits/{duo}", headers=world.headers(who)).status_code == 200
    # A team not on the visit: refused, and the refusal audited.
    assert (
        client.get(f"/api/visits/{duo}/details", headers=world.headers("member_c")).status_code
        == 403
    )
    assert client.get(f"/api/visits/{duo}", headers=world.headers("member_c")).status_code == 403
    note = client.post(
        f"/api/visits/{duo}/events",
        json={"kind": "note", "note": "arrivés ensemble"},
        headers=world.headers("device_b"),
    )
    assert note.status_code in (200, 201), note.get_json()
    refused = client.post(
        f"/api/visits/{duo}/events",
        json={"kind": "note", "note": "x"},
        headers=world.headers("member_c"),
    )
    assert refused.status_code == 403
    round_b = client.get(
        f"/api/teams/{world.ids['team_b']}/round?day={DAY}", headers=world.headers("device_b")
    )
    stops = round_b.get_json()["round"]["stops"]
    assert [s["visit_id"] for s in stops] == [duo, world.ids["visit_b"]]
    assert stops[0]["partner_name"] == "Équipe A"


def test_rows_carry_staff_count_and_team_size_and_a_stored_plan_keeps_one_start():
    teams = [
        {"id": 1, "name": "A", "shift_start_s": 8 * 3600, "shift_end_s": 17 * 3600},
        {"id": 2, "name": "B", "shift_start_s": 8 * 3600, "shift_end_s": 17 * 3600, "size": 2},
    ]
    visits = [
        {"id": 10, "duration_s": 1800, "windows": "[[32400, 39600]]", "staff_count": 2},
        {"id": 11, "duration_s": 3600, "windows": "[[28800, 36000]]", "excluded_team_ids": [2]},
    ]
    n = len(teams) + len(visits)
    time_s = np.full((n, n), 600, dtype=np.int64)
    np.fill_diagonal(time_s, 0)
    time_s[1, 2] = time_s[2, 1] = 1800  # B is farther from the two-person visit
    problem, _ctx = problem_from_rows(teams, visits, time_s, time_s * 10, day=DAY)
    assert problem.visit("10").staff_count == 2 and problem.visit("11").staff_count == 1
    assert problem.visit("11").excluded_team_ids == frozenset({"2"})
    assert [t.size for t in problem.teams] == [1, 2]
    # Timed one route at a time, A reaches the two-person visit at 09:20 (after visit 11) and
    # B starts it at 09:00; the stored plan read back has one start for both.
    stored = {
        "id": 5,
        "routes": [
            {"team_id": 1, "stops": [{"visit_id": 11}, {"visit_id": 10}]},
            {"team_id": 2, "stops": [{"visit_id": 10}]},
        ],
        "unassigned": [],
    }
    plan = plan_from_stored(problem, stored)
    starts = [s.start_s for r in plan.routes for s in r.stops if s.visit_id == "10"]
    assert len(starts) == 2 and starts[0] == starts[1]
    assert plan_findings(problem, plan) == []
    # Timed one route at a time, the two starts differ (what the alignment is for).
    alone = [
        build_route(problem, problem.team(r.team_id), r.visit_ids).stops[-1].start_s
        for r in plan.routes
    ]
    assert alone[0] != alone[1] and max(alone) == starts[0]


def test_on_a_day_under_way_a_shared_visit_keeps_its_agreed_start():
    teams = [
        {"id": 1, "name": "A", "shift_start_s": 8 * 3600, "shift_end_s": 17 * 3600},
        {"id": 2, "name": "B", "shift_start_s": 8 * 3600, "shift_end_s": 17 * 3600},
    ]
    visits = [
        {"id": 10, "duration_s": 1800, "windows": "[[32400, 39600]]", "staff_count": 2},
        {"id": 11, "duration_s": 1800, "windows": "[[32400, 39600]]", "staff_count": 2},
    ]
    n = len(teams) + len(visits)
    time_s = np.full((n, n), 600, dtype=np.int64)
    np.fill_diagonal(time_s, 0)
    stored = {
        "id": 5,
        "routes": [
            {"team_id": 1, "stops": [{"visit_id": 10, "start_s": 36000}]},
            {"team_id": 2, "stops": [{"visit_id": 10, "start_s": 35000}]},
        ],
        "unassigned": [{"visit_id": 11, "reason": "x"}],
    }
    live, _ = problem_from_rows(
        teams, visits, time_s, time_s * 10, day=DAY, now_s=30000, stored_plan=stored
    )
    assert [(w.start_s, w.end_s) for w in live.visit("10").windows] == [(36000, 36000)]
    assert [(w.start_s, w.end_s) for w in live.visit("11").windows] == [(32400, 39600)]
    # Planned from the start (the evening before), it may move.
    whole, _ = problem_from_rows(teams, visits, time_s, time_s * 10, day=DAY, stored_plan=stored)
    assert [(w.start_s, w.end_s) for w in whole.visit("10").windows] == [(32400, 39600)]
    plan = plan_from_stored(live, stored)
    assert [s.start_s for r in plan.routes for s in r.stops if s.visit_id] == [36000, 36000]
