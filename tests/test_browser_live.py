"""End to end on a real server: a phone page moving, offline replay, OsmAnd, page rendering."""

from __future__ import annotations

import base64
import io
import json
import time
import urllib.request
from typing import Any

import pytest
import socketio as sio_client
from live_support import (
    MELUN,
    PASSWORD,
    WAKE_LOCK_STUB,
    RealServer,
    make_world,
    module_settings,
)

from dispatch.store import Store
from dispatch.web.app import create_app

DLAT_PER_M = 1 / 111_195


@pytest.fixture(scope="module")
def live(melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    """A real server on a free port with a real SQLite file, and the small world."""
    settings = module_settings(tmp_path_factory.mktemp("browser"), territory_cache, shared_dir)
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    world = make_world(store, app.extensions["dispatch.live"].today())
    server = RealServer(app)
    yield server, world
    server.stop()
    store.close()


@pytest.fixture(scope="module")
def pages(live, browser):  # type: ignore[no-untyped-def]
    """A paired Pixel 7 phone page of team A and a logged-in coordinator map page."""
    server, world = live
    p, instance = browser
    start = {"latitude": MELUN[1], "longitude": MELUN[0], "accuracy": 5}
    phone_ctx = instance.new_context(
        **p.devices["Pixel 7"], geolocation=start, permissions=["geolocation"]
    )
    phone_ctx.add_init_script(WAKE_LOCK_STUB)
    phone = phone_ctx.new_page()
    code = world.store.create_pairing(world.team_a["id"])["code"]
    phone.goto(f"{server.base_url}/phone/?code={code}")
    phone.wait_for_selector("body[data-ready='1']", timeout=15000)
    coord_ctx = instance.new_context(viewport={"width": 1280, "height": 800})
    coord = coord_ctx.new_page()
    coord.goto(f"{server.base_url}/map/")
    coord.fill("input[name=username]", "coord")
    coord.fill("input[name=password]", PASSWORD)
    coord.click("#login-form button[type=submit]")
    coord.wait_for_selector("body[data-ready='1']", timeout=20000)
    coord.wait_for_function(f"window.dispatchMap.markers.has({world.team_a['id']})", timeout=10000)
    yield {"phone_ctx": phone_ctx, "phone": phone, "coord_ctx": coord_ctx, "coord": coord}
    phone_ctx.close()
    coord_ctx.close()


def marker_at(page: Any, team_id: int, lat: float, timeout_ms: int) -> None:
    page.wait_for_function(
        "([id, lat]) => { const m = window.dispatchMap.markers.get(id);"
        " return !!m && Math.abs(m.getLngLat().lat - lat) < 1e-6; }",
        arg=[team_id, lat],
        timeout=timeout_ms,
    )


def move(ctx: Any, north_m: float) -> float:
    lat = MELUN[1] + north_m * DLAT_PER_M
    ctx.set_geolocation({"latitude": lat, "longitude": MELUN[0], "accuracy": 5})
    return lat


@pytest.mark.browser
def test_phone_move_shows_on_the_coordinator_map_within_a_second(live, pages) -> None:  # type: ignore[no-untyped-def]
    """Each move of the phone puts team A's marker at the new position within one second."""
    _, world = live
    team_id = world.team_a["id"]
    assert pages["phone"].get_attribute("#wakelock", "data-state") == "on"
    for step in (1, 2, 3):
        lat = move(pages["phone_ctx"], 40 * step)
        marker_at(pages["coord"], team_id, lat, timeout_ms=1000)
    label = pages["coord"].inner_text(f".team-marker[data-team-id='{team_id}'] .label")
    assert "Équipe A" in label and "il y a" in label


@pytest.mark.browser
def test_offline_phone_replays_20_positions_in_order_once(live, pages) -> None:  # type: ignore[no-untyped-def]
    """Offline, 20 fixes wait in the IndexedDB outbox; back online all 20 are stored once, in
    order, and the coordinator's trail holds all of them."""
    _, world = live
    phone, ctx, coord = pages["phone"], pages["phone_ctx"], pages["coord"]
    team_id = world.team_a["id"]
    before = {p["id"] for p in world.store.list_positions(team_id=team_id, limit=1000)}
    ctx.set_offline(True)
    phone.wait_for_selector("#conn[data-state='offline']", timeout=5000)
    lats = []
    for i in range(20):
        lats.append(move(ctx, 150 + 30 * i))  # a walk on from the last fix at 120 m
        phone.wait_for_selector(f"#outbox[data-count='{i + 1}']", timeout=5000)
    assert not [
        p for p in world.store.list_positions(team_id=team_id, limit=1000) if p["id"] not in before
    ], "nothing may reach the server while offline"
    ctx.set_offline(False)
    phone.wait_for_selector("#outbox[data-count='0']", timeout=15000)
    new = [
        p for p in world.store.list_positions(team_id=team_id, limit=1000) if p["id"] not in before
    ]
    assert [round(p["lat"], 7) for p in new] == [round(lat, 7) for lat in lats]
    assert [p["id"] for p in new] == sorted(p["id"] for p in new), "stored in order"
    assert len({p["client_id"] for p in new}) == 20
    marker_at(coord, team_id, lats[-1], timeout_ms=3000)
    trail = coord.evaluate(f"window.dispatchMap.state.trails.get({team_id}).map(p => p[1])")
    positions = [trail.index(next(t for t in trail if abs(t - lat) < 1e-6)) for lat in lats]
    assert positions == sorted(positions) and len(positions) == 20


@pytest.mark.browser
def test_traccar_client_request_moves_the_marker(live, pages) -> None:  # type: ignore[no-untyped-def]
    """A GET in the OsmAnd format with the Traccar identifier shown in the phone page's
    settings (not the device token) moves team A's marker."""
    server, world = live
    traccar_id = pages["phone"].text_content("#traccar-id") or ""
    token = pages["phone"].evaluate("localStorage.getItem('dispatch.deviceToken')")
    assert traccar_id.isdigit() and traccar_id not in token
    assert (pages["phone"].text_content("#traccar-url") or "").endswith("/osmand")
    lat = MELUN[1] + 1500 * DLAT_PER_M
    query = (
        f"id={traccar_id}&lat={lat}&lon={MELUN[0]}&timestamp={int(time.time()) + 60}"
        "&speed=20&bearing=0&altitude=40&accuracy=6&batt=71"
    )
    with urllib.request.urlopen(f"{server.base_url}/osmand?{query}", timeout=10) as reply:
        assert reply.status == 200 and json.loads(reply.read())["stored"] == 1
    marker_at(pages["coord"], world.team_a["id"], lat, timeout_ms=3000)


def canvas_colours(page: Any) -> int:
    data_url = page.evaluate("window.dispatchMap.map.getCanvas().toDataURL('image/png')")
    from PIL import Image

    image = Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20) or []
    return len(colours)


@pytest.mark.browser
def test_pages_draw_at_phone_and_desktop_sizes(live, browser, pages) -> None:  # type: ignore[no-untyped-def]
    """The map canvas is drawn (many colours: roads, areas) with team markers, on a phone and
    a desktop; the phone page fits 360 px and shows the next visit; English is available."""
    server, world = live
    p, instance = browser
    for viewport in ({"width": 390, "height": 844}, {"width": 1366, "height": 768}):
        ctx = instance.new_context(viewport=viewport)
        page = ctx.new_page()
        page.goto(f"{server.base_url}/map/")
        page.fill("input[name=username]", "coord")
        page.fill("input[name=password]", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_selector("body[data-ready='1']", timeout=20000)
        page.wait_for_function(
            "window.dispatchMap.map.loaded() && window.dispatchMap.map.areTilesLoaded()",
            timeout=20000,
        )
        page.wait_for_selector(".team-marker", timeout=10000)
        assert canvas_colours(page) > 50, f"blank map at {viewport}"
        assert page.locator(".team-marker").count() >= 1
        assert "OpenStreetMap" in page.inner_text(".maplibregl-ctrl-attrib")
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        page.click("#lang")
        assert page.inner_text("h2[data-i18n='teams.title']") == "Teams"
        page.click("#lang")
        ctx.close()
    phone_360 = {**p.devices["Pixel 7"], "viewport": {"width": 360, "height": 740}}
    ctx = instance.new_context(
        **phone_360,
        geolocation={"latitude": MELUN[1], "longitude": MELUN[0]},
        permissions=["geolocation"],
    )
    ctx.add_init_script(WAKE_LOCK_STUB)
    page = ctx.new_page()
    code = world.store.create_pairing(world.team_b["id"])["code"]
    page.goto(f"{server.base_url}/phone/?code={code}")
    page.wait_for_selector("body[data-ready='1']", timeout=15000)
    page.wait_for_selector("#next-body .who", timeout=10000)
    assert page.inner_text("#next-body .who") == "M-BRAVO"
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert page.get_attribute("#nav-geo", "href").startswith("geo:")
    assert "MME-ALPHA" not in page.content()
    assert page.evaluate("navigator.serviceWorker.getRegistration('/phone/').then(r => !!r)")
    ctx.close()


def test_real_sockets_refuse_strangers_and_keep_teams_apart(live) -> None:  # type: ignore[no-untyped-def]
    """Over real websockets: no or bad credentials are refused; team B's phone never receives
    team A's visit while A checks in and the coordinator gets it."""
    server, world = live
    for auth in (None, {"token": "dsp_d_made-up"}):
        stranger = sio_client.Client(reconnection=False)
        with pytest.raises(sio_client.exceptions.ConnectionError):
            stranger.connect(server.base_url, auth=auth, transports=["websocket"], wait_timeout=5)
    received: dict[str, list[Any]] = {"a": [], "b": []}
    clients = {}
    for name, token in (("a", world.token_a), ("b", world.token_b)):
        client = sio_client.Client(reconnection=False)
        client.on("*", lambda event, data, name=name: received[name].append((event, data)))
        client.connect(
            server.base_url, auth={"token": token}, transports=["websocket"], wait_timeout=5
        )
        clients[name] = client
    reply = clients["a"].call(
        "visit_event",
        {
            "visit_id": world.visit_a["id"],
            "kind": "note",
            "note": "portail fermé",
            "client_id": "n1",
        },
        timeout=5,
    )
    assert reply["ok"]
    reply = clients["a"].call(
        "position",
        {"client_id": "x1", "lon": MELUN[0], "lat": MELUN[1], "device_time_s": time.time()},
        timeout=5,
    )
    assert reply["ok"] and reply["stored"] == 1
    time.sleep(0.6)
    for client in clients.values():
        client.disconnect()
    assert "MME-ALPHA" not in repr(received["b"]) and "Équipe A" not in repr(received["b"])
    assert any(e == "live" and "MME-ALPHA" in repr(d) for e, d in received["a"])
