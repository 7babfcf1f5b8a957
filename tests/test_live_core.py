"""Pure live-layer parts: quality filter, OsmAnd parsing, coalescing fan-out, board, geofence."""

from __future__ import annotations

import threading

import pytest

from dispatch.errors import ValidationError
from dispatch.live.fanout import LIVE_EVENT, Fanout
from dispatch.live.geofence import Geofence, Place
from dispatch.live.osmand import KNOT_MPS, parse_osmand, parse_osmand_json, parse_time
from dispatch.live.quality import (
    FLAG_DUPLICATE,
    FLAG_INACCURATE,
    FLAG_JUMP,
    FLAG_LATE,
    FLAG_STATIONARY,
    Fix,
    QualityRules,
    TrackFilter,
    bearing_deg,
    distance_m,
)
from dispatch.live.state import LIVE, NEVER, UNKNOWN, Board

T0 = 1_795_000_000.0
LON, LAT = 2.655, 48.540
#: Degrees of latitude per metre (about).
DLAT_PER_M = 1 / 111_195


def fix(north_m: float = 0.0, t: float = 0.0, **kw: float) -> Fix:
    return Fix(lon=LON, lat=LAT + north_m * DLAT_PER_M, recorded_at=T0 + t, **kw)


def test_distance_and_bearing_are_right_on_a_known_pair() -> None:
    """One hundredth of a degree of latitude is about 1,112 m, due north (bearing 0)."""
    assert distance_m(LON, LAT, LON, LAT + 0.01) == pytest.approx(1112, abs=2)
    assert bearing_deg(LON, LAT, LON, LAT + 0.01) == pytest.approx(0, abs=1e-6)
    assert bearing_deg(LON, LAT, LON + 0.01, LAT) == pytest.approx(90, abs=0.1)


def test_filter_draws_a_normal_drive() -> None:
    """Fixes 100 m apart every 10 s (36 km/h) are all drawn and each moves the marker."""
    track = TrackFilter()
    verdicts = [track.assess(fix(100 * i, 10 * i, accuracy_m=8)) for i in range(5)]
    assert all(v.display and v.moves_marker and not v.flags for v in verdicts)


def test_filter_keeps_inaccurate_fixes_out_of_the_drawing() -> None:
    """A fix less accurate than the threshold is flagged and neither drawn nor refreshing."""
    track = TrackFilter(QualityRules(max_accuracy_m=50))
    track.assess(fix(0, 0, accuracy_m=10))
    verdict = track.assess(fix(200, 20, accuracy_m=400))
    assert verdict.flags == (FLAG_INACCURATE,) and not verdict.display and not verdict.refreshes


def test_filter_rejects_an_impossible_jump_then_accepts_a_confirmed_one() -> None:
    """5 km in 10 s is a jump; a second fix agreeing with it confirms the move (no freeze)."""
    track = TrackFilter()
    track.assess(fix(0, 0))
    jump = track.assess(fix(5000, 10))
    assert jump.flags == (FLAG_JUMP,) and not jump.display
    confirmed = track.assess(fix(5100, 20))
    assert confirmed.display and confirmed.moves_marker
    assert track.last is not None and track.last.recorded_at == T0 + 20


def test_filter_recovers_from_a_glitch() -> None:
    """A single far-away glitch is dropped; the next fix near the old track is drawn."""
    track = TrackFilter()
    track.assess(fix(0, 0))
    assert track.assess(fix(8000, 5)).flags == (FLAG_JUMP,)
    back = track.assess(fix(60, 10))
    assert back.display and not back.flags


def test_filter_flags_duplicates_and_stationary_jitter() -> None:
    """The same fix again is a duplicate; 5 m of wandering while still is jitter (refreshes)."""
    track = TrackFilter()
    track.assess(fix(0, 0, accuracy_m=10))
    assert track.assess(fix(0, 0, accuracy_m=10)).flags == (FLAG_DUPLICATE,)
    jitter = track.assess(fix(5, 30, accuracy_m=10))
    assert jitter.flags == (FLAG_STATIONARY,) and jitter.refreshes and not jitter.display
    assert track.last_seen_at == T0 + 30
    moving = track.assess(fix(5, 40, accuracy_m=10, speed_mps=3.0))
    assert moving.display, "a phone reporting speed is moving, even over a short distance"


def test_filter_draws_late_fixes_without_moving_the_marker() -> None:
    """An old fix arriving after a newer one is a trail point but not the marker position."""
    track = TrackFilter()
    track.assess(fix(0, 100))
    late = track.assess(fix(300, 50))
    assert late.flags == (FLAG_LATE,) and late.display and not late.moves_marker


def test_fix_refuses_impossible_coordinates() -> None:
    """Latitude 95 is an error that says which range is valid."""
    with pytest.raises(ValidationError, match="latitude"):
        Fix(lon=2.0, lat=95.0, recorded_at=T0)


def test_osmand_query_parameters() -> None:
    """Traccar Client's query: speed in knots, epoch seconds, battery percent."""
    report = parse_osmand(
        {
            "id": "dsp_d_abc",
            "lat": "48.54",
            "lon": "2.65",
            "timestamp": "1795000000",
            "speed": "10",
            "bearing": "271.5",
            "altitude": "60",
            "accuracy": "12",
            "batt": "81",
        },
        now=T0,
    )
    assert report.device_id == "dsp_d_abc"
    assert (report.fix.lon, report.fix.lat, report.fix.recorded_at) == (2.65, 48.54, T0)
    assert report.fix.speed_mps == pytest.approx(10 * KNOT_MPS)
    assert (report.fix.heading_deg, report.fix.accuracy_m, report.fix.battery_pct) == (
        271.5,
        12.0,
        81.0,
    )


def test_osmand_times_in_milliseconds_iso_and_missing() -> None:
    """Milliseconds and ISO 8601 are understood; no timestamp means "now"; no zone is refused."""
    assert parse_time("1795000000123", now=0) == pytest.approx(1795000000.123)
    assert parse_time("2026-11-18T11:06:40Z", now=0) == pytest.approx(T0)
    assert parse_time(None, now=T0) == T0
    with pytest.raises(ValidationError, match="time zone"):
        parse_time("2026-11-18T11:06:40", now=0)


def test_osmand_refuses_requests_without_id_or_position() -> None:
    """The messages say what to set in the app."""
    with pytest.raises(ValidationError, match="Device identifier"):
        parse_osmand({"lat": "1", "lon": "2"}, now=T0)
    with pytest.raises(ValidationError, match="lat or lon"):
        parse_osmand({"id": "x"}, now=T0)
    with pytest.raises(ValidationError, match="not a number"):
        parse_osmand({"id": "x", "lat": "north", "lon": "2"}, now=T0)


def test_osmand_json_body_of_recent_traccar_clients() -> None:
    """The JSON body: m/s speed, -1 for unknown heading, battery level 0..1."""
    report = parse_osmand_json(
        {
            "device_id": "dsp_d_abc",
            "location": {
                "timestamp": "2026-11-18T11:06:40Z",
                "coords": {
                    "latitude": 48.54,
                    "longitude": 2.65,
                    "accuracy": 9,
                    "speed": 12.5,
                    "heading": -1,
                    "altitude": 50,
                },
                "battery": {"level": 0.42, "is_charging": False},
            },
        },
        now=0,
    )
    assert report.fix.recorded_at == pytest.approx(T0)
    assert report.fix.speed_mps == 12.5 and report.fix.heading_deg is None
    assert report.fix.battery_pct == pytest.approx(42.0)


def test_fanout_coalesces_into_one_emit_per_room() -> None:
    """500 positions for two rooms leave as exactly two emits, nothing lost, order kept."""
    sent: list[tuple[str, dict, str]] = []
    fanout = Fanout(lambda e, p, r: sent.append((e, p, r)), interval_s=10)
    for i in range(500):
        fanout.publish("role:coordinator", "positions", {"i": i})
    fanout.publish("team:1", "visits", {"id": 7, "status": "assigned"}, key=7)
    fanout.publish("team:1", "visits", {"id": 7, "status": "arrived"}, key=7)
    assert fanout.flush() == 2
    by_room = {room: payload for _, payload, room in sent}
    assert all(event == LIVE_EVENT for event, _, _ in sent)
    assert [p["i"] for p in by_room["role:coordinator"]["positions"]] == list(range(500))
    assert by_room["team:1"]["visits"] == [{"id": 7, "status": "arrived"}]
    assert fanout.flush() == 0


def test_fanout_thread_flushes_periodically() -> None:
    """Started, the fan-out emits a published item within a few intervals."""
    got = threading.Event()
    fanout = Fanout(lambda e, p, r: got.set(), interval_s=0.02)
    fanout.start()
    try:
        fanout.publish("room", "alerts", {"kind": "late"})
        assert got.wait(2.0)
    finally:
        fanout.stop()


def test_board_turns_a_silent_team_to_unknown_with_its_age() -> None:
    """No fix for longer than stale_s: presence "unknown", the age is the last fix's."""
    board = Board(stale_s=300)
    assert board.snapshot(T0) == []
    verdict, pos = board.ingest(1, fix(0, 0), source="socket")
    assert verdict.moves_marker and pos is not None and pos.presence == LIVE
    assert board.sweep(T0 + 299) == []
    changed = board.sweep(T0 + 301)
    assert [p.team_id for p in changed] == [1] and changed[0].presence == UNKNOWN
    (snap,) = board.snapshot(T0 + 400)
    assert snap["presence"] == UNKNOWN and snap["age_s"] == pytest.approx(400)
    board.ingest(1, fix(5, 410), source="socket")  # jitter still proves the team is there
    assert board.snapshot(T0 + 411)[0]["presence"] == LIVE
    assert Board().snapshot(T0, {2}) == [] and NEVER == "never"


def test_geofence_reports_an_arrival_once() -> None:
    """Within 50 m of the home: one arrival; more fixes there: none; far fixes: none."""
    fence = Geofence()
    home = Place(visit_id=9, lon=LON, lat=LAT + 1000 * DLAT_PER_M)
    assert fence.check(1, fix(0, 0), [home]) == []
    (arrival,) = fence.check(1, fix(970, 100, accuracy_m=10), [home])
    assert arrival.visit_id == 9 and arrival.distance_m == pytest.approx(30, abs=1)
    assert fence.check(1, fix(990, 110), [home]) == []
    assert fence.check(2, fix(990, 110, accuracy_m=500), [home]) == [], "too vague a fix"
