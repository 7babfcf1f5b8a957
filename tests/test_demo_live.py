"""Demo movement on Melun: demo teams drive their planned rounds and report positions and events."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import numpy as np
import pytest

from dispatch.demo import plan_demo_day, seed_demo
from dispatch.demo_live import DemoMovement, start_demo_movement
from dispatch.routing import Router
from dispatch.store import Store
from dispatch.store.models import local_today

#: Simulated seconds per wall second: a 12-hour round takes about 3 s.
SPEEDUP = 15_000.0
START_S = 6 * 3600  # before every demo shift (the earliest starts at 07:00)
M_PER_DEG = 111_320.0


def _sim_s(fix: dict[str, Any]) -> int:
    return int(fix["client_id"].rsplit(":", 1)[1])


def _xy(lons: np.ndarray, lats: np.ndarray, lat0: float) -> np.ndarray:
    return np.column_stack([lons * math.cos(math.radians(lat0)) * M_PER_DEG, lats * M_PER_DEG])


def _distance_to_line_m(point: tuple[float, float], line: list[tuple[float, float]]) -> float:
    """Metres from a lon/lat point to a lon/lat polyline (local equirectangular projection)."""
    lat0 = point[1]
    p = _xy(np.array([point[0]]), np.array([point[1]]), lat0)[0]
    pts = np.asarray(line, dtype=float)
    xy = _xy(pts[:, 0], pts[:, 1], lat0)
    if len(xy) == 1:
        return float(np.hypot(*(p - xy[0])))
    a, b = xy[:-1], xy[1:]
    ab = b - a
    denom = np.maximum((ab**2).sum(axis=1), 1e-9)
    t = np.clip(((p - a) * ab).sum(axis=1) / denom, 0.0, 1.0)
    proj = a + ab * t[:, None]
    return float(np.hypot(*(proj - p).T).min())


@pytest.fixture(scope="module")
def day_run(melun, tmp_path_factory):
    """A seeded and planned Melun demo day (plus one real team holding one visit), replayed."""
    day = local_today()
    store = Store(tmp_path_factory.mktemp("demo_live") / "db.sqlite")
    seed_demo(store, melun, day=day, seed=1)
    router = Router.for_territory(melun)
    plan_demo_day(store, melun, router=router, day=day, time_limit_s=1.0)
    # A real (non-demo) team takes over the last visit of the longest demo round.
    demo_team = next(t for t in store.list_teams(limit=100) if t["kind"] == "nursing")
    real = store.add_team(
        {
            "name": "IDE réelle",
            "kind": "nursing",
            "skills": ["injection", "insulin", "wound_care"],
            "base_lon": demo_team["base_lon"],
            "base_lat": demo_team["base_lat"],
            "shift_start": "07:00",
            "shift_end": "19:30",
        }
    )
    routes = store.published_plan(day)["routes"]
    longest = max(routes, key=lambda r: len(r["stops"]))
    moved = longest["stops"].pop()
    routes.append({"team_id": real["id"], "stops": [moved]})
    store.save_plan(day, routes, territory=melun.id, publish=True, demo=True)
    plan = store.published_plan(day)
    published: list[tuple[str, Any]] = []
    mover = DemoMovement(
        store,
        melun,
        router=router,
        speedup=SPEEDUP,
        interval_s=0.02,
        start_s=START_S,
        day=day,
        stop_when_done=True,
        publish=lambda topic, payload: published.append((topic, payload)),
    )
    mover.start()
    mover.join(60)
    assert not mover.is_alive() and mover.error is None
    teams = {t["id"]: t for t in store.list_teams(limit=100)}
    yield {
        "store": store,
        "router": router,
        "plan": plan,
        "teams": teams,
        "real_id": real["id"],
        "moved_visit": moved["visit_id"],
        "mover": mover,
        "published": published,
        "day": day,
    }
    store.close()


def _demo_routes(run: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in run["plan"]["routes"] if run["teams"][r["team_id"]]["demo"]]


def _track(run: dict[str, Any], team_id: int) -> list[dict[str, Any]]:
    fixes = list(run["store"].list_positions(team_id=team_id, limit=10_000))
    return sorted(fixes, key=_sim_s)


def _legs(run: dict[str, Any], route: dict[str, Any]) -> list[list[tuple[float, float]]]:
    """Road geometry of each planned leg, base to visits to base, routed independently."""
    team = run["teams"][route["team_id"]]
    visits = {v["id"]: v for v in run["store"].get_visits([s["visit_id"] for s in route["stops"]])}
    places = [(team["base_lon"], team["base_lat"])]
    places += [(visits[s["visit_id"]]["lon"], visits[s["visit_id"]]["lat"]) for s in route["stops"]]
    places.append(places[0])
    return [
        [tuple(c) for c in run["router"].route_lonlat(a, b).coordinates]
        for a, b in zip(places, places[1:], strict=False)
    ]


def test_demo_positions_follow_the_planned_roads(day_run):
    """Every demo fix lies within 50 m of its team's planned road geometry and is labelled demo."""
    routes = _demo_routes(day_run)
    assert routes
    driving = []
    for route in routes:
        track = _track(day_run, route["team_id"])
        assert len(track) > 20
        line = [c for leg in _legs(day_run, route) for c in leg]
        worst = max(_distance_to_line_m((f["lon"], f["lat"]), line) for f in track)
        assert worst <= 50.0
        assert {f["source"] for f in track} == {"demo"}
        assert all(f["accuracy_m"] > 0 and f["speed_mps"] >= 0 for f in track)
        assert any(f["speed_mps"] == 0 for f in track)  # parked at its visits
        driving += [f["speed_mps"] > 2 for f in track]
    # Teams drive at road speeds between visits (a round of short legs in town may never pass
    # 2 m/s at a sample; the solver's 1 s budget makes the rounds differ from run to run).
    assert any(driving)


def test_demo_teams_reach_their_visits_in_plan_order(day_run):
    """Each demo team stops (speed 0) at the end of each planned leg, in the plan's order."""
    for route in _demo_routes(day_run):
        track = _track(day_run, route["team_id"])
        legs = _legs(day_run, route)[:-1]
        last = -1
        for leg in legs:
            park = leg[-1]
            at = [
                i
                for i, f in enumerate(track)
                if i > last
                and f["speed_mps"] == 0
                and _distance_to_line_m((f["lon"], f["lat"]), [park]) < 30
            ]
            assert at, f"team {route['team_id']} never stopped at {park}"
            last = at[0]


def test_demo_visit_events_follow_the_plan(day_run):
    """Arrival, check-in, check-out per visit, visits in plan order; all visits end done."""
    store = day_run["store"]
    for route in _demo_routes(day_run):
        seen: list[tuple[float, int, str]] = []
        for s in route["stops"]:
            events = list(store.list_visit_events(s["visit_id"]))
            assert [e["kind"] for e in events] == ["arrival", "check_in", "check_out"]
            assert {e["actor"] for e in events} == {"demo"}
            assert store.get_visit(s["visit_id"])["status"] == "done"
            seen += [(e["device_time_s"], s["visit_id"], e["kind"]) for e in events]
        assert [e[1:] for e in seen] == [e[1:] for e in sorted(seen, key=lambda e: e[0])]
    topics = {t for t, _ in day_run["published"]}
    assert topics == {"positions", "visit_event"}
    pushed_events = [p for t, p in day_run["published"] if t == "visit_event"]
    assert len(pushed_events) == day_run["mover"].stats["events"]


def test_real_teams_are_never_moved(day_run):
    """A non-demo team with a planned visit gets no position and its visit no event."""
    store = day_run["store"]
    assert list(store.list_positions(team_id=day_run["real_id"])) == []
    assert list(store.list_visit_events(day_run["moved_visit"])) == []
    assert all(
        p["team_id"] != day_run["real_id"] for t, p in day_run["published"] if t == "positions"
    )


def test_nothing_before_the_shift_or_after_the_round(day_run):
    """No demo fix is simulated before the team's shift start or after it is back at base."""
    for route in _demo_routes(day_run):
        team = day_run["teams"][route["team_id"]]
        back = day_run["router"].route_lonlat(
            _legs(day_run, route)[-1][0], (team["base_lon"], team["base_lat"])
        )
        back_at_s = route["stops"][-1]["end_s"] + back.travel_time_s
        times = [_sim_s(f) for f in _track(day_run, route["team_id"])]
        assert START_S < team["shift_start_s"] <= min(times)
        assert max(times) <= back_at_s + 1


def test_restart_after_the_rounds_records_nothing_twice(day_run, melun):
    """Replaying again after every round is over stores no fix and no duplicate event."""
    mover = DemoMovement(
        day_run["store"],
        melun,
        router=day_run["router"],
        start_s=23 * 3600,
        day=day_run["day"],
        stop_when_done=True,
        interval_s=0.01,
    )
    mover.run()
    assert mover.error is None and mover.stats["ticks"] == 1
    assert mover.stats["positions"] == 0 and mover.stats["events"] == 0


def test_movement_thread_stops_promptly(day_run, melun):
    """stop() ends a real-time movement thread at once, even mid-wait between two fixes."""
    stop = threading.Event()
    mover = start_demo_movement(
        day_run["store"],
        melun,
        router=day_run["router"],
        stop_event=stop,
        interval_s=30.0,
        start_s=3 * 3600,
        day=day_run["day"],
    )
    time.sleep(0.3)
    assert mover.is_alive()
    mover.stop(timeout_s=2.0)
    assert not mover.is_alive() and stop.is_set()
    assert mover.error is None and mover.stats["positions"] == 0


def test_app_publisher_reaches_the_live_listeners(day_run, settings):
    """Changes published from the demo thread reach the app's store listeners (map pushes)."""
    from dispatch.demo_live import app_publisher
    from dispatch.web.app import create_app
    from dispatch.web.rest import subscribe

    app = create_app(settings, **{"dispatch.store": day_run["store"]})
    got: list[Any] = []
    subscribe(app, "positions", got.append)
    fn = app_publisher(app)
    worker = threading.Thread(target=fn, args=("positions", {"team_id": 1, "positions": []}))
    worker.start()
    worker.join(5)
    assert got == [{"team_id": 1, "positions": []}]
