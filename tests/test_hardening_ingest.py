"""Issue 21, position ingest: Traccar Client's /osmand and the phone's socket and REST paths.

Deeply nested JSON answers 400 (item 4), /osmand is rate limited per address and identifier
and a geofence arrival from a Traccar fix can be undone (item 5), fixes dated too far in the
past or the future are refused with a clear message (item 9), and every fix of a Traccar
Client batch (``location`` as a list) is stored, once (item 10).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from api_world import make_world

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.fixture
def world(tmp_path):  # type: ignore[no-untyped-def]
    w = make_world(tmp_path)
    yield w
    hub = w.app.extensions.get("dispatch.live")
    if hub is not None:
        hub.stop()
    w.store.close()


def traccar_id(world: Any) -> str:
    return str(world.store.get_device(world.ids["device_b"])["traccar_id"])


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def location(t: float, lat: float = 42.30, lon: float = 9.15, **coords: Any) -> dict[str, Any]:
    """One location of the Traccar Client JSON body (transistorsoft's format)."""
    return {
        "timestamp": iso(t),
        "coords": {"latitude": lat, "longitude": lon, "accuracy": 5, **coords},
        "battery": {"level": 0.5},
    }


def fix(t: float, cid: str, lat: float = 42.30) -> dict[str, Any]:
    return {"client_id": cid, "lon": 9.15, "lat": lat, "device_time_s": t, "accuracy_m": 5}


# -- item 4: deeply nested JSON ------------------------------------------------------------------
def test_osmand_deeply_nested_json_answers_400(world) -> None:  # type: ignore[no-untyped-def]
    """'[' x 100,000 on /osmand: 400 with the standard error body (was a 500)."""
    client = world.app.test_client()
    for body in (DEEP, '{"device_id": "x", "location": ' + DEEP + "}"):
        reply = client.post("/osmand", data=body, headers={"Content-Type": "application/json"})
        assert reply.status_code == 400, reply.data[:200]
        data = reply.get_json()
        assert data["ok"] is False and data["status"] == 400 and data["code"]
        assert "nested too deeply" in data["error"]


def test_rest_positions_deeply_nested_json_answers_400(world) -> None:  # type: ignore[no-untyped-def]
    """The phone's REST batch refuses the same body with the same standard answer."""
    reply = world.app.test_client().post(
        "/api/positions",
        data=DEEP,
        headers={**world.headers("device_b"), "Content-Type": "application/json"},
    )
    assert reply.status_code == 400 and "nested too deeply" in reply.get_json()["error"]


# -- item 10: a Traccar Client batch -------------------------------------------------------------
def test_osmand_json_location_list_stores_every_fix_once(world) -> None:  # type: ignore[no-untyped-def]
    """``location: [a, b, c]`` (the client's offline batch) stores the three fixes, in time
    order; the same batch again stores nothing (each fix is idempotent)."""
    client = world.app.test_client()
    now = time.time()
    body = {
        "device_id": traccar_id(world),
        "location": [location(now - 90 + 30 * i, lat=42.30 + 0.001 * i) for i in range(3)],
    }
    one = client.post("/osmand", json=body)
    assert one.status_code == 200, one.get_json()
    assert (one.get_json()["stored"], one.get_json()["duplicates"]) == (3, 0)
    two = client.post("/osmand", json=body)
    assert (two.get_json()["stored"], two.get_json()["duplicates"]) == (0, 3)
    rows = world.store.list_positions(team_id=world.ids["team_b"])
    assert [round(r["lat"], 3) for r in rows] == [42.300, 42.301, 42.302]
    assert {r["source"] for r in rows} == {"osmand"}
    assert len({r["client_id"] for r in rows}) == 3


def test_osmand_json_location_list_names_the_bad_fix(world) -> None:  # type: ignore[no-untyped-def]
    """A location of the list without coordinates is named by its index."""
    now = time.time()
    body = {
        "device_id": traccar_id(world),
        "location": [location(now - 10), {"timestamp": iso(now)}],
    }
    reply = world.app.test_client().post("/osmand", json=body)
    assert reply.status_code == 400 and "location[1]" in reply.get_json()["error"]
    empty = world.app.test_client().post(
        "/osmand", json={"device_id": traccar_id(world), "location": []}
    )
    assert empty.status_code == 400 and "location" in empty.get_json()["error"]
