"""Issue 21 item 8 (REST): planners get patients' places to about 100 m, never to the door.

Coordinators keep the exact place (they send teams there); planners plan on places and
times, so every visit place they can read is snapped to a 0.001° grid (111 m north-south).
"""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
from api_world import DAY, make_world

from dispatch.planning.privacy import coarse_place, planner_geometry, planner_route, planner_visit

EXACT = (9.443217, 42.691658)


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat = math.radians((a[1] + b[1]) / 2)
    dx = (a[0] - b[0]) * 111_320 * math.cos(lat)
    dy = (a[1] - b[1]) * 110_574
    return math.hypot(dx, dy)


def _decimals(x: float) -> int:
    text = repr(float(x))
    return len(text.split(".")[1]) if "." in text else 0


def test_coarse_place_is_about_100_m_and_never_exact():
    lon, lat = coarse_place(*EXACT)
    assert (lon, lat) == (9.443, 42.692)
    assert 0 < _metres(EXACT, (lon, lat)) <= 75
    # Every place within a cell is shown the same: the door cannot be told apart.
    assert coarse_place(9.4432, 42.6918) == coarse_place(9.4428, 42.6922)


def test_planner_visit_and_route_views():
    visit = {"id": 1, "lon": EXACT[0], "lat": EXACT[1], "address": "3 rue X", "external_ref": "A"}
    view = planner_visit(visit)
    assert view == {"id": 1, "lon": 9.443, "lat": 42.692}
    assert visit["lon"] == EXACT[0]  # the caller's dict is left alone
    line = {
        "type": "LineString",
        "coordinates": [[9.45, 42.7], [9.44321, 42.69166], [9.44319, 42.69171]],
    }
    assert planner_geometry(line)["coordinates"] == [[9.45, 42.7], [9.443, 42.692]]
    route = planner_route({"team_id": 3, "stops": [{"visit_id": 1}], "geometry": line})
    assert route["stops"] == [{"visit_id": 1}]
    assert all(_decimals(c) <= 3 for p in route["geometry"]["coordinates"] for c in p)
    assert planner_geometry(None) is None


@pytest.fixture
def world(tmp_path):  # type: ignore[no-untyped-def]
    w = make_world(tmp_path)
    visit = w.store.add_visits(
        [
            {
                "day": DAY,
                "pseudonym": "Patient 7F3A",
                "address": "3 rue du Port, Bastia",
                "lon": EXACT[0],
                "lat": EXACT[1],
                "duration_s": 1200,
                "windows": [["08:00", "10:00"]],
            }
        ]
    )[0]
    w.ids["exact"] = visit["id"]
    yield w
    w.store.close()


def _get(world: Any, who: str, url: str) -> Any:
    reply = world.app.test_client().get(url, headers=world.headers(who))
    assert reply.status_code == 200, reply.get_json()
    return reply.get_json()


def test_planner_reads_visits_to_about_100_m(world) -> None:  # type: ignore[no-untyped-def]
    """GET /api/visits and /api/visits/<id>: the planner's places are coarse, the
    coordinator's exact."""
    vid = world.ids["exact"]
    items = _get(world, "planner", f"/api/visits?day={DAY}")["items"]
    mine = next(v for v in items if v["id"] == vid)
    assert (mine["lon"], mine["lat"]) == coarse_place(*EXACT)
    assert "address" not in mine
    assert all(_decimals(v["lon"]) <= 3 and _decimals(v["lat"]) <= 3 for v in items)
    one = _get(world, "planner", f"/api/visits/{vid}")["visit"]
    assert (one["lon"], one["lat"]) == coarse_place(*EXACT)
    exact = _get(world, "coordinator", f"/api/visits/{vid}")["visit"]
    assert (exact["lon"], exact["lat"]) == EXACT


def test_planner_snapshot_places_to_about_100_m(world) -> None:  # type: ignore[no-untyped-def]
    """GET /api/live/snapshot: a planner's visits and rounds' lines are snapped to the grid
    (the rounds run through the patients' homes); the coordinator's are exact."""
    store = world.store
    vid = world.ids["exact"]
    store.save_plan(
        DAY,
        [{"team_id": world.ids["team_a"], "stops": [{"visit_id": vid, "arrival_s": 29000}]}],
        publish=True,
    )
    snap = _get(world, "planner", "/api/live/snapshot")
    mine = next(v for v in snap["visits"] if v["id"] == vid)
    assert (mine["lon"], mine["lat"]) == coarse_place(*EXACT)
    assert all(_decimals(v["lon"]) <= 3 and _decimals(v["lat"]) <= 3 for v in snap["visits"])
    lines = [p["geometry"] for p in snap["plans"] if p.get("geometry")]
    assert lines
    for line in lines:
        assert all(_decimals(c) <= 3 for point in line["coordinates"] for c in point), line
    exact = _get(world, "coordinator", "/api/live/snapshot")
    assert any(list(EXACT) in p["geometry"]["coordinates"] for p in exact["plans"] if p["geometry"])


FIX = (9.154321, 42.312345)


def test_no_get_endpoint_gives_a_planner_a_door_or_a_live_position(world) -> None:  # type: ignore[no-untyped-def]
    """Every GET route of the API a planner may call (ids filled from the world): neither the
    exact place of a patient's home nor a team's live fix appears in any answer."""
    now = time.time()
    client = world.app.test_client()
    reply = client.post(
        "/api/positions",
        json={
            "positions": [
                {"client_id": "p1", "lon": FIX[0], "lat": FIX[1], "device_time_s": now - 5}
            ]
        },
        headers=world.headers("device_b"),
    )
    assert reply.status_code == 200, reply.get_json()
    ids = {
        "team_id": world.ids["team_b"],
        "visit_id": world.ids["exact"],
        "plan_id": world.ids["plan"],
        "user_id": world.ids["planner"],
    }
    secrets = [f"{c:.6f}".rstrip("0") for c in (*EXACT, *FIX)]
    # The coordinator's answers do carry them (the probe would see a leak).
    coord_text = client.get(
        "/api/live/snapshot?trail_s=3600", headers=world.headers("coordinator")
    ).get_data(as_text=True)
    assert all(s in coord_text for s in secrets), secrets
    served = []
    for rule in world.app.url_map.iter_rules():
        if "GET" not in rule.methods or not str(rule).startswith("/api/"):
            continue
        args = {}
        for name in rule.arguments:
            if name not in ids:
                break
            args[name] = ids[name]
        else:
            url = str(rule)
            for name, value in args.items():
                url = url.replace(f"<int:{name}>", str(value))
            query = f"?day={DAY}" if "day" not in url else ""
            answer = client.get(url + query, headers=world.headers("planner"))
            if answer.status_code != 200:
                continue
            served.append(url)
            text = answer.get_data(as_text=True)
            for secret in secrets:
                assert secret not in text, (url, secret)
    assert "/api/visits" in served and "/api/live/snapshot" in served, served
