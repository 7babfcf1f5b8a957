"""A team's day: trail, km driven, visit times, GPX and GeoJSON exports, and its REST edge."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import gpxpy
import pytest
from api_world import DAY, make_world

from dispatch.errors import ValidationError
from dispatch.live.history import (
    DayFrame,
    drawn_trail,
    team_day,
    to_geojson,
    to_gpx,
    trail_distance_m,
)
from dispatch.live.quality import distance_m
from dispatch.web.live import get_hub

PARIS = ZoneInfo("Europe/Paris")


def at(hhmm: str, day: str = DAY) -> float:
    """Unix time of a local Paris time of ``day``."""
    h, m = map(int, hhmm.split(":"))
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(h, m), PARIS).timestamp()


#: A morning: eastwards along latitude 42.70 from 9.40 (08:00) to 9.46, one fix every 10 min.
MORNING = [(9.40 + 0.01 * i, 42.70, at(f"{8 + i // 6:02d}:{(i % 6) * 10:02d}")) for i in range(7)]


def synthetic_fixes() -> list[dict]:
    fixes = [{"lon": x, "lat": y, "device_time_s": t, "display": True} for x, y, t in MORNING]
    # A jump to Bastia harbour and an inaccurate fix: stored, flagged, never drawn nor measured.
    fixes.insert(
        3, {"lon": 9.45, "lat": 42.20, "device_time_s": MORNING[2][2] + 60, "display": False}
    )
    fixes.append(
        {"lon": 9.0, "lat": 42.0, "device_time_s": MORNING[-1][2] + 30, "flags": ["inaccurate"]}
    )
    return fixes


def synthetic_day():
    team = {"id": 3, "name": "Équipe A"}
    visits = [
        {
            "id": 11,
            "pseudonym": "Patient 0A0A",
            "lon": 9.42,
            "lat": 42.70,
            "status": "done",
            "windows": [[28800, 36000]],
        },
        {
            "id": 12,
            "pseudonym": "Patient 0B0B",
            "lon": 9.45,
            "lat": 42.70,
            "status": "missed",
            "windows": [[32400, 39600]],
        },
        {"id": 13, "pseudonym": "Patient 0C0C", "lon": None, "lat": None, "status": "assigned"},
    ]
    events = {
        11: [
            {"kind": "arrival", "device_time_s": at("08:19")},
            {"kind": "check_in", "device_time_s": at("08:20")},
            {"kind": "note", "device_time_s": at("08:25"), "note": "private words"},
            {"kind": "check_out", "device_time_s": at("08:50")},
        ],
        12: [{"kind": "missed", "device_time_s": at("09:35"), "note": "nobody home"}],
    }
    stops = [
        {"visit_id": 12, "arrival_s": 9 * 3600 + 30 * 60},
        {"visit_id": 11, "arrival_s": 8 * 3600 + 15 * 60},
    ]
    # The plan puts 12 first on purpose: visits follow the plan's order.
    return team_day(
        team, DayFrame(DAY), fixes=synthetic_fixes(), visits=visits, events=events, stops=stops
    )


def test_day_frame_bounds_follow_the_time_zone():
    """A day runs from local midnight to midnight: 23 h on the spring DST day, 24 h otherwise."""
    start, end = DayFrame(DAY).bounds()
    assert end - start == 86_400
    assert dt.datetime.fromtimestamp(start, PARIS).strftime("%H:%M") == "00:00"
    spring = DayFrame("2026-03-29")
    s, e = spring.bounds()
    assert e - s == 23 * 3600
    assert DayFrame(DAY).clock_s(at("09:30")) == 9 * 3600 + 1800
    shifted = DayFrame(DAY, offset_s=3600.0)
    assert shifted.bounds()[0] == start - 3600 and shifted.clock_s(at("09:30")) == 10 * 3600 + 1800
    with pytest.raises(ValidationError, match="YYYY-MM-DD"):
        DayFrame("23/11/2026")
    with pytest.raises(ValidationError, match="out of range"):
        DayFrame("9999-12-31")
    with pytest.raises(ValidationError, match="IANA"):
        DayFrame(DAY, timezone="Mars/Olympus")


def test_trail_leaves_flagged_fixes_out_and_km_is_the_drawn_length():
    """Only drawn fixes make the trail; km driven is the sum of its segments (6 × 0.01° east)."""
    day = synthetic_day()
    assert [p[2] for p in day.trail] == [t for _, _, t in MORNING]
    assert day.fixes_total == 9
    one_step = distance_m(9.40, 42.70, 9.41, 42.70)
    assert day.distance_m == pytest.approx(6 * one_step, rel=1e-9)
    assert 4_800 < day.distance_m < 5_000  # 0.06° of longitude at 42.7° N ≈ 4.9 km
    # Out-of-order input (a late buffer) is drawn in time order; same-instant duplicates once.
    shuffled = [
        {"lon": 1.0, "lat": 1.0, "device_time_s": 20.0},
        {"lon": 0.0, "lat": 1.0, "device_time_s": 10.0},
        {"lon": 0.0, "lat": 1.0, "device_time_s": 10.0, "flags": ["late"]},
    ]
    assert drawn_trail(shuffled) == [(0.0, 1.0, 10.0), (1.0, 1.0, 20.0)]
    assert trail_distance_m([]) == 0.0


def test_visits_have_planned_arrival_check_in_and_out_times_in_plan_order():
    """Each visit carries its planned arrival and the times of its events; notes set no time."""
    day = synthetic_day()
    assert [v.visit_id for v in day.visits] == [12, 11, 13]
    missed, done, unplaced = day.visits
    assert done.planned_arrival_s == 8 * 3600 + 900
    assert (done.arrival_at_s, done.check_in_at_s, done.check_out_at_s) == (
        at("08:19"),
        at("08:20"),
        at("08:50"),
    )
    assert done.status == "done"
    assert missed.missed_at_s == at("09:35") and missed.check_in_at_s is None
    assert unplaced.planned_arrival_s is None
    view = day.to_dict()
    row = next(v for v in view["visits"] if v["visit_id"] == 11)
    assert row["check_in_s"] == 8 * 3600 + 1200 and row["check_out_s"] == 8 * 3600 + 3000
    assert view["trail"][0][3] == 8 * 3600 and view["distance_m"] == round(day.distance_m, 1)
    assert "private words" not in json.dumps(view) and "nobody home" not in json.dumps(view)


def test_gpx_parses_back_with_the_drawn_points_and_visit_waypoints():
    """The GPX is 1.1, its track has one point per drawn fix with its time, one waypoint per
    placed visit, named by pseudonym only."""
    day = synthetic_day()
    text = to_gpx(day)
    assert 'version="1.1"' in text
    gpx = gpxpy.parse(text)
    points = [p for t in gpx.tracks for s in t.segments for p in s.points]
    assert len(points) == len(MORNING)
    assert points[0].time.timestamp() == MORNING[0][2]
    assert (points[-1].longitude, points[-1].latitude) == (MORNING[-1][0], MORNING[-1][1])
    assert gpx.length_2d() == pytest.approx(day.distance_m, rel=0.01)
    assert sorted(w.name for w in gpx.waypoints) == ["Patient 0A0A", "Patient 0B0B"]
    done = next(w for w in gpx.waypoints if w.name == "Patient 0A0A")
    assert done.description == "planned 08:15; arrival 08:19; check-in 08:20; check-out 08:50; done"
    assert "private" not in text and "nobody" not in text


def test_geojson_is_a_feature_collection_with_timed_line_and_visit_points():
    """GeoJSON: a LineString with one coordTime per coordinate, Points for placed visits."""
    day = synthetic_day()
    fc = json.loads(json.dumps(to_geojson(day)))
    assert fc["type"] == "FeatureCollection"
    line = fc["features"][0]
    assert line["geometry"]["type"] == "LineString"
    coords = line["geometry"]["coordinates"]
    assert len(coords) == len(MORNING) and all(len(c) == 2 for c in coords)
    times = line["properties"]["coordTimes"]
    assert len(times) == len(coords) and times[0].endswith("Z")
    assert dt.datetime.fromisoformat(times[0].replace("Z", "+00:00")).timestamp() == MORNING[0][2]
    points = [f for f in fc["features"] if f["geometry"]["type"] == "Point"]
    assert {f["properties"]["pseudonym"] for f in points} == {"Patient 0A0A", "Patient 0B0B"}
    assert all(-180 <= f["geometry"]["coordinates"][0] <= 180 for f in points)
    done = next(f for f in points if f["properties"]["visit_id"] == 11)["properties"]
    assert done["planned_arrival"] == "08:15" and done["check_in_at"].endswith("Z")
    empty = team_day({"id": 1, "name": "T"}, DayFrame(DAY), fixes=[])
    assert to_geojson(empty) == {"type": "FeatureCollection", "features": []}
    assert gpxpy.parse(to_gpx(empty)).get_points_no() == 0


# -- REST --------------------------------------------------------------------------------------
@pytest.fixture
def world(tmp_path):
    # Real time on the rounds' clock: the fixes below are stamped at DAY's local times (days
    # ago: a position_max_age_s of a year lets them in).
    w = make_world(tmp_path, clock_start="", position_max_age_s=366 * 86_400)
    store = w.store
    team = w.ids["team_a"]
    fixes = [
        {"lon": x, "lat": y, "device_time_s": t, "client_id": f"m{i}", "accuracy_m": 8.0}
        for i, (x, y, t) in enumerate(MORNING)
    ]
    # A jump (55 km in a minute), sent in time order as a phone would: flagged by the hub.
    fixes.insert(
        3, {"lon": 9.45, "lat": 42.2, "device_time_s": MORNING[2][2] + 60, "client_id": "jump"}
    )
    fixes.append(
        {"lon": 9.50, "lat": 42.7, "device_time_s": at("12:00", "2026-11-24"), "client_id": "next"}
    )
    with w.app.app_context():
        reply = get_hub().ingest(team, fixes, device_id=None, source="test")
    assert reply["flags"][3] == ["jump"]
    visit = w.ids["visit_a"]
    for kind, hhmm in (("check_in", "08:20"), ("check_out", "08:50")):
        store.add_visit_event(visit, {"kind": kind, "device_time_s": at(hhmm)}, actor="member_a")
    yield w
    store.close()


def test_api_day_json_for_coordinators_is_audited(world):
    """A coordinator gets the team's day (trail, km, visits with times) and the read is audited."""
    client = world.app.test_client()
    team = world.ids["team_a"]
    response = client.get(f"/api/teams/{team}/day?day={DAY}", headers=world.headers("coordinator"))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["ok"] is True and body["day"] == DAY and body["timezone"] == "Europe/Paris"
    assert len(body["trail"]) == len(MORNING) and body["fixes_total"] == len(MORNING) + 1
    assert 4.8 < body["distance_m"] / 1000 < 5.0
    visit = next(v for v in body["visits"] if v["visit_id"] == world.ids["visit_a"])
    assert visit["planned_arrival_s"] == 29000 and visit["status"] == "done"
    assert visit["check_in_s"] == 8 * 3600 + 1200 and visit["check_out_s"] == 8 * 3600 + 3000
    assert "Test A" not in response.get_data(as_text=True)
    assert "no-store" in response.headers["Cache-Control"]
    lines = list(world.store.list_audit(target=f"team:{team}"))
    assert (
        lines[0]["action"] == "team.day.read"
        and lines[0]["actor"] == f"user:{world.ids['coordinator']}"
    )
    assert lines[0]["detail"]["day"] == DAY
    other = client.get(
        f"/api/teams/{team}/day?day=2026-11-24", headers=world.headers("coordinator")
    )
    assert len(other.get_json()["trail"]) == 1 and other.get_json()["visits"] == []


def test_api_exports_download_gpx_and_geojson(world):
    """The GPX and GeoJSON downloads are attachments that parse, each read audited."""
    client = world.app.test_client()
    team = world.ids["team_a"]
    h = world.headers("coordinator")
    gpx_response = client.get(f"/api/teams/{team}/day.gpx?day={DAY}", headers=h)
    assert gpx_response.status_code == 200
    assert gpx_response.mimetype == "application/gpx+xml"
    assert (
        gpx_response.headers["Content-Disposition"]
        == f'attachment; filename="team-{team}-{DAY}.gpx"'
    )
    gpx = gpxpy.parse(gpx_response.get_data(as_text=True))
    assert gpx.get_points_no() == len(MORNING)
    assert [w.name for w in gpx.waypoints] == ["Patient 0A0A"]
    geo = client.get(f"/api/teams/{team}/day.geojson?day={DAY}", headers=h)
    assert geo.status_code == 200 and geo.mimetype == "application/geo+json"
    assert "attachment" in geo.headers["Content-Disposition"]
    fc = json.loads(geo.get_data(as_text=True))
    assert (
        fc["type"] == "FeatureCollection" and fc["features"][0]["geometry"]["type"] == "LineString"
    )
    formats = [a["detail"]["format"] for a in world.store.list_audit(target=f"team:{team}")]
    assert formats[:2] == ["geojson", "gpx"]


@pytest.mark.parametrize("who", ["member_a", "member_b", "planner", "admin", "device_b"])
def test_api_day_refused_to_other_roles(world, who):
    """Team members (even of that team), phones, planners and admins get 403 on every format."""
    client = world.app.test_client()
    team = world.ids["team_a"]
    for suffix in ("day", "day.gpx", "day.geojson"):
        response = client.get(f"/api/teams/{team}/{suffix}?day={DAY}", headers=world.headers(who))
        assert response.status_code == 403, (who, suffix)
        assert response.get_json()["ok"] is False
    assert not any(a["action"] == "team.day.read" for a in world.store.list_audit())


def test_api_day_unknown_team_and_bad_day(world):
    """An unknown team is 404; a malformed day is 400 saying how to write it."""
    client = world.app.test_client()
    h = world.headers("coordinator")
    missing = client.get("/api/teams/999/day.gpx", headers=h)
    assert missing.status_code == 404 and "team 999 does not exist" in missing.get_json()["error"]
    bad = client.get(f"/api/teams/{world.ids['team_a']}/day?day=23-11-2026", headers=h)
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.get_json()["error"]
    today = client.get(f"/api/teams/{world.ids['team_a']}/day", headers=h)
    assert today.status_code == 200 and today.get_json()["day"]


def test_api_day_follows_a_replayed_clock(tmp_path):
    """With the rounds' clock started on DAY at 08:30 (a demonstration), fixes the phones send
    now belong to DAY, at the rounds' times (the last one at about 08:30)."""
    import time

    world = make_world(tmp_path)  # the test world's clock stands on DAY at 08:30
    try:
        team = world.ids["team_b"]
        now = time.time()
        fixes = [
            {"lon": 9.15 + 0.01 * i, "lat": 42.30, "device_time_s": now - 600 + 60 * i}
            for i in range(10)
        ]
        with world.app.app_context():
            get_hub().ingest(team, fixes, device_id=None, source="test")
        client = world.app.test_client()
        body = client.get(f"/api/teams/{team}/day", headers=world.headers("coordinator")).get_json()
        assert body["day"] == DAY and len(body["trail"]) == 10
        last_s = body["trail"][-1][3]
        assert 8 * 3600 + 1500 <= last_s <= 8 * 3600 + 1900, last_s
        visit = next(v for v in body["visits"] if v["visit_id"] == world.ids["visit_b"])
        assert visit["planned_arrival_s"] == 50400
    finally:
        world.store.close()
