"""Structure isolation of everything live (issue 22): two structures share one real server; the
sockets and REST answers of structure A's coordinators never carry B's teams, positions, visits,
events, alerts, estimates or rounds, and a team or visit of B is answered 404 to them. Admins
keep seeing every structure's teams (positions, presences, alerts), never a visit."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests
import socketio as sio
from live_support import HOME_A, HOME_B, MELUN, RealServer, module_settings

from dispatch.store import Store
from dispatch.web.app import create_app
from dispatch.web.sockets import recheck

#: Texts only structure B's data holds (pseudonyms, addresses).
B_SECRETS = ("BRAVO-B", "BRAVO-LIBRE", "rue cachée de B")


def _move(store: Store, table: str, row_id: int, structure_id: int) -> None:
    """Put a team or visit in a structure (straight in the table, whatever the API accepts)."""
    store.engine.write(
        lambda conn: conn.execute(
            f"UPDATE {table} SET structure_id = ? WHERE id = ?", (structure_id, row_id)
        )
    )


def _assign(store: Store, visit_id: int, team_id: int) -> None:
    """Assign a visit to a team of its structure (straight in the table)."""
    store.engine.write(
        lambda conn: conn.execute(
            "UPDATE visits SET team_id = ?, status = 'assigned' WHERE id = ?", (team_id, visit_id)
        )
    )


def close(*clients: Any) -> None:
    """Disconnect clients in the background: a client's disconnect waits about 3 s for its
    websocket's reader, which the test need not wait for."""
    for client in clients:
        if client.connected:
            threading.Thread(target=client.disconnect, daemon=True).start()


class Listener:
    """A real Socket.IO client (websocket) that keeps every live batch it gets."""

    def __init__(self, base_url: str, token: str) -> None:
        self.batches: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.client = sio.Client(reconnection=False)
        self.client.on("live", self._got)
        self.client.connect(base_url, auth={"token": token}, transports=["websocket"])

    def _got(self, batch: dict[str, Any]) -> None:
        with self.lock:
            self.batches.append(batch)

    def items(self, kind: str) -> list[Any]:
        with self.lock:
            return [x for b in self.batches for x in b.get(kind, [])]

    def text(self) -> str:
        with self.lock:
            return repr(self.batches)

    def clear(self) -> None:
        with self.lock:
            self.batches.clear()

    def wait(self, predicate: Any, timeout_s: float = 5.0) -> bool:
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if predicate(self):
                return True
            time.sleep(0.05)
        return False


@pytest.fixture(scope="module")
def two(melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    """Structure 1 (A) and structure 2 (B), a team with a phone and visits in each, and API
    tokens of coordinators of A, of B, of both, an admin and a planner of A; one real server."""
    settings = module_settings(
        tmp_path_factory.mktemp("live-structures"), territory_cache, shared_dir
    )
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    hub = app.extensions["dispatch.live"]
    day = hub.today()
    b = store.add_structure({"name": "HAD Sud", "kind": "had"})["id"]
    team_a = store.add_team({"name": "Équipe A", "base_lon": MELUN[0], "base_lat": MELUN[1]})
    team_b = store.add_team({"name": "Équipe B", "base_lon": MELUN[0], "base_lat": MELUN[1]})
    _move(store, "teams", team_b["id"], b)

    def visit(name: str, home: tuple[float, float], team: Any) -> dict[str, Any]:
        return store.add_visit(
            {
                "day": day,
                "pseudonym": name,
                "lon": home[0],
                "lat": home[1],
                "address": f"3 rue cachée de {name[-1]}",
                "commune": "Melun",
                "duration_s": 1800,
                "windows": [["00:00", "23:59"]],
            }
        )

    visit_a = visit("ALPHA-A", HOME_A, team_a)
    visit_b = visit("BRAVO-B", HOME_B, team_b)
    free_b = visit("BRAVO-LIBRE", HOME_B, None)
    for v in (visit_b, free_b):
        _move(store, "visits", v["id"], b)
    for v, team in ((visit_a, team_a), (visit_b, team_b)):
        _assign(store, v["id"], team["id"])
    tokens = {}
    for name, role, structures in (
        ("coord-a", "coordinator", [1]),
        ("coord-b", "coordinator", [b]),
        ("coord-ab", "coordinator", [1, b]),
        ("admin", "admin", [1]),
        ("planner-a", "planner", [1]),
    ):
        user = store.add_user(name, role=role, password=None, structure_ids=structures)
        tokens[name] = store.create_api_token(user["id"], label="test")
    phones = {
        key: store.pair_device(store.create_pairing(team["id"])["code"])["token"]
        for key, team in (("a", team_a), ("b", team_b))
    }
    real = RealServer(app)
    world = {
        "app": app,
        "store": store,
        "hub": hub,
        "day": day,
        "b": b,
        "team_a": team_a,
        "team_b": team_b,
        "visit_a": visit_a,
        "visit_b": visit_b,
        "free_b": free_b,
        "tokens": tokens,
        "phones": phones,
        "url": real.base_url,
    }
    yield world
    real.stop()
    store.close()


def get(world: dict[str, Any], who: str, path: str, **params: Any) -> requests.Response:
    return requests.get(
        world["url"] + path,
        params=params,
        headers={"Authorization": f"Bearer {world['tokens'][who]}"},
        timeout=10,
    )


def post(world: dict[str, Any], who: str, path: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(
        world["url"] + path,
        json=body,
        headers={"Authorization": f"Bearer {world['tokens'][who]}"},
        timeout=10,
    )


_fixes: dict[int, int] = {}


def fix(team_id: int, cid: str) -> dict[str, Any]:
    """The team's next fix: a minute and about 55 m after its previous one (an earlier hour),
    so that the live filter draws every one of them."""
    n = _fixes[team_id] = _fixes.get(team_id, 0) + 1
    return {
        "client_id": cid,
        "lon": MELUN[0],
        "lat": MELUN[1] + 0.0005 * n,
        "device_time_s": time.time() - 3600 + 60 * n,
        "accuracy_m": 5,
    }


def test_sockets_of_structure_a_never_carry_b(two) -> None:  # type: ignore[no-untyped-def]
    """Positions, visit events, visit changes, estimates, alerts and a plan change touching both
    structures: A's coordinator gets A's only, B's coordinator B's only, a coordinator of both
    gets both, the admin every team's positions and alerts but no visit, A's planner nothing of
    B."""
    ta, tb = two["team_a"]["id"], two["team_b"]["id"]
    va, vb, free_b = two["visit_a"]["id"], two["visit_b"]["id"], two["free_b"]["id"]
    hub = two["hub"]
    listeners = {who: Listener(two["url"], two["tokens"][who]) for who in two["tokens"]}
    phone_a = sio.Client(reconnection=False)
    phone_b = sio.Client(reconnection=False)
    try:
        phone_a.connect(two["url"], auth={"token": two["phones"]["a"]}, transports=["websocket"])
        phone_b.connect(two["url"], auth={"token": two["phones"]["b"]}, transports=["websocket"])
        now = time.time()
        assert phone_a.call("position", fix(ta, "sa-1"), timeout=5)["ok"]
        assert phone_b.call("position", fix(tb, "sb-1"), timeout=5)["ok"]
        ack = phone_b.call(
            "visit_event",
            {"visit_id": vb, "kind": "check_in", "client_id": "sb-ev", "device_time_s": now},
            timeout=5,
        )
        assert ack["ok"], ack
        hub.on_etas({"team_id": tb, "at": now, "etas": {str(vb): 36000}})
        hub.on_etas({"team_id": ta, "at": now, "etas": {str(va): 36000}})
        hub.alert("late", team_id=tb, visit_id=vb, at=now, end_s=1, key=f"late-test:{vb}")
        hub.alert("dropped", team_id=None, visit_id=free_b, at=now, key=f"dropped-test:{free_b}")
        hub.alert("late", team_id=ta, visit_id=va, at=now, end_s=1, key=f"late-test:{va}")
        hub.on_plan_change(
            {
                "day": two["day"],
                "plan_id": None,
                "change": "move",
                "by": "test",
                "at": now,
                "teams": [ta, tb],
                "added": {str(ta): [va], str(tb): [vb]},
                "removed": {},
                "retimed": {},
                "visits": [va, vb],
                "dropped": [{"visit_id": free_b, "label": "BRAVO-LIBRE", "team_id": tb}],
            }
        )
        a, b, ab = listeners["coord-a"], listeners["coord-b"], listeners["coord-ab"]
        admin, planner = listeners["admin"], listeners["planner-a"]

        def teams_of(listener: Listener, kind: str) -> set[int]:
            return {x["team_id"] for x in listener.items(kind) if "team_id" in x}

        def complete(listener: Listener, teams: set[int]) -> bool:
            return (
                teams_of(listener, "positions") >= teams
                and teams_of(listener, "plans") >= teams
                and bool(listener.items("changes"))
                and teams_of(listener, "etas") >= teams
            )

        assert a.wait(lambda x: complete(x, {ta})), a.text()[:2000]
        assert b.wait(lambda x: complete(x, {tb})), b.text()[:2000]
        assert ab.wait(lambda x: complete(x, {ta, tb})), ab.text()[:2000]
        assert admin.wait(lambda x: teams_of(x, "positions") >= {ta, tb})
        assert admin.wait(lambda x: {a["visit_id"] for a in x.items("alerts")} >= {va, vb, free_b})
        assert b.wait(lambda x: {a["visit_id"] for a in x.items("alerts")} >= {vb, free_b})
        assert b.wait(lambda x: any(e["visit_id"] == vb for e in x.items("events")))
        time.sleep(0.3)  # anything still in flight arrives now

        # A's coordinator: nothing of B, in any kind of push.
        for kind in ("positions", "statuses", "plans", "etas"):
            assert tb not in teams_of(a, kind), kind
        assert {v["id"] for v in a.items("visits")} <= {va}
        # Team-level alerts of A's own team (position unknown on a slow machine) may come too.
        assert {al["visit_id"] for al in a.items("alerts") if al.get("visit_id")} == {va}
        assert {al["team_id"] for al in a.items("alerts") if al.get("team_id")} <= {ta}
        assert not a.items("events")
        for change in a.items("changes"):
            assert change["teams"] == [ta] and change["visits"] == [va]
            assert change["added"] == {str(ta): [va]} and change["dropped"] == []
        assert all(secret not in a.text() for secret in B_SECRETS)
        # B's coordinator: nothing of A.
        for kind in ("positions", "statuses", "plans", "etas"):
            assert ta not in teams_of(b, kind), kind
        assert va not in {v["id"] for v in b.items("visits")}
        assert "ALPHA-A" not in b.text()
        assert [c["dropped"] for c in b.items("changes")][0][0]["visit_id"] == free_b
        # Both structures: both.
        assert {al["visit_id"] for al in ab.items("alerts")} >= {va, vb, free_b}
        # Admin: teams of both, never a visit, a round or an event.
        assert not admin.items("visits") and not admin.items("plans") and not admin.items("events")
        assert all(secret not in admin.text() for secret in ("ALPHA-A", "BRAVO-B", "rue cachée"))
        # A's planner: A's alerts and rounds, nothing of B.
        assert planner.wait(lambda x: bool(x.items("alerts")))
        assert tb not in teams_of(planner, "statuses") | teams_of(planner, "plans")
        assert vb not in {al["visit_id"] for al in planner.items("alerts")}
        assert all(secret not in planner.text() for secret in B_SECRETS)
    finally:
        close(phone_a, phone_b, *(x.client for x in listeners.values()))


def test_a_coordinator_taken_out_of_a_structure_stops_getting_it(two) -> None:  # type: ignore[no-untyped-def]
    """A change of a user's structures moves their live socket between structures' rooms at
    once (PATCH /api/users), and within the re-check interval when made elsewhere (CLI)."""
    store, app = two["store"], two["app"]
    user = store.add_user("coord-moved", role="coordinator", password=None, structure_ids=[1])
    listener = Listener(two["url"], store.create_api_token(user["id"], label="test"))
    phone_a = sio.Client(reconnection=False)
    phone_b = sio.Client(reconnection=False)
    ta, tb = two["team_a"]["id"], two["team_b"]["id"]
    try:
        phone_a.connect(two["url"], auth={"token": two["phones"]["a"]}, transports=["websocket"])
        phone_b.connect(two["url"], auth={"token": two["phones"]["b"]}, transports=["websocket"])
        phone_a.call("position", fix(ta, "mv-a1"), timeout=5)
        assert listener.wait(lambda x: any(p["team_id"] == ta for p in x.items("positions")))
        # An admin moves the user to B through the API: the socket changes rooms at once.
        reply = requests.patch(
            f"{two['url']}/api/users/{user['id']}",
            json={"structure_ids": [two["b"]]},
            headers={"Authorization": f"Bearer {two['tokens']['admin']}"},
            timeout=10,
        )
        assert reply.status_code == 200, reply.text
        listener.clear()
        phone_a.call("position", fix(ta, "mv-a2"), timeout=5)
        phone_b.call("position", fix(tb, "mv-b2"), timeout=5)
        assert listener.wait(lambda x: any(p["team_id"] == tb for p in x.items("positions")))
        time.sleep(0.3)
        assert ta not in {p["team_id"] for p in listener.items("positions")}
        # Back to A straight in the store (as the CLI does from another process): the next
        # check of the sockets moves it.
        store.update_user(user["id"], structure_ids=[1])
        recheck(app)
        listener.clear()
        phone_a.call("position", fix(ta, "mv-a3"), timeout=5)
        phone_b.call("position", fix(tb, "mv-b3"), timeout=5)
        assert listener.wait(lambda x: any(p["team_id"] == ta for p in x.items("positions")))
        time.sleep(0.3)
        assert tb not in {p["team_id"] for p in listener.items("positions")}
    finally:
        close(phone_a, phone_b, listener.client)


def test_snapshot_holds_only_the_callers_structures(two) -> None:  # type: ignore[no-untyped-def]
    """GET /api/live/snapshot: teams, positions, trails, visits, rounds and alerts of the
    caller's structures; the admin's: every team, no visit."""
    ta, tb = two["team_a"]["id"], two["team_b"]["id"]
    va, vb = two["visit_a"]["id"], two["visit_b"]["id"]
    now = time.time()
    for who, team, cid in (("coord-a", ta, "snap-a"), ("coord-b", tb, "snap-b")):
        reply = post(two, who, "/api/positions", {"team_id": team, "positions": [fix(team, cid)]})
        assert reply.status_code == 200, reply.text
    two["hub"].alert("late", team_id=tb, visit_id=vb, at=now, end_s=1, key=f"late-snap:{vb}")
    two["hub"].alert("late", team_id=ta, visit_id=va, at=now, end_s=1, key=f"late-snap:{va}")

    def snap(who: str) -> dict[str, Any]:
        reply = get(two, who, "/api/live/snapshot")
        assert reply.status_code == 200, reply.text
        return reply.json()  # type: ignore[no-any-return]

    a = snap("coord-a")
    assert {t["id"] for t in a["teams"]} == {ta}
    assert {p["team_id"] for p in a["positions"]} <= {ta} and a["positions"]
    assert set(a["trails"]) <= {str(ta)}
    assert {v["id"] for v in a["visits"]} == {va}
    assert {p["team_id"] for p in a["plans"]} <= {ta}
    assert {x["visit_id"] for x in a["alerts"] + a["journal"]} <= {va}
    assert all(secret not in repr(a) for secret in B_SECRETS)
    b = snap("coord-b")
    assert {t["id"] for t in b["teams"]} == {tb}
    assert {v["id"] for v in b["visits"]} == {vb, two["free_b"]["id"]}
    assert "ALPHA-A" not in repr(b) and va not in {x["visit_id"] for x in b["alerts"]}
    ab = snap("coord-ab")
    assert {t["id"] for t in ab["teams"]} >= {ta, tb}
    assert {v["id"] for v in ab["visits"]} >= {va, vb}
    admin = snap("admin")
    assert {t["id"] for t in admin["teams"]} >= {ta, tb}
    assert {p["team_id"] for p in admin["positions"]} >= {ta, tb}
    assert admin["visits"] == [] and admin["plans"] == []
    planner = snap("planner-a")
    assert {t["id"] for t in planner["teams"]} == {ta}
    assert all(secret not in repr(planner) for secret in B_SECRETS)


def test_rest_answers_404_for_the_other_structures_teams_and_visits(two) -> None:  # type: ignore[no-untyped-def]
    """A team or visit of B does not exist for A's coordinator (track, day, positions, arrival,
    undo, a visit event over the socket); lists hold A's only; B's alert cannot be acknowledged."""
    ta, tb = two["team_a"]["id"], two["team_b"]["id"]
    vb = two["visit_b"]["id"]
    now = time.time()
    post(two, "coord-b", "/api/positions", {"team_id": tb, "positions": [fix(tb, "rest-b")]})
    post(two, "coord-a", "/api/positions", {"team_id": ta, "positions": [fix(ta, "rest-a")]})
    two["hub"].alert("late", team_id=tb, visit_id=vb, at=now, end_s=1, key=f"late-rest:{vb}")
    for path in (
        f"/api/live/track/{tb}",
        f"/api/teams/{tb}/day",
        f"/api/teams/{tb}/day.gpx",
        f"/api/teams/{tb}/day.geojson",
        f"/api/visits/{vb}/arrival",
    ):
        reply = get(two, "coord-a", path)
        assert reply.status_code == 404, (path, reply.status_code, reply.text)
        assert "BRAVO" not in reply.text
        assert get(two, "coord-b", path).status_code == 200, path
    # A list filtered on B's team answers as for a team that does not exist: nothing.
    reply = get(two, "coord-a", "/api/positions", team_id=tb)
    assert reply.status_code == 200 and reply.json()["items"] == [], reply.text
    assert get(two, "coord-a", "/api/positions", team_id=10**9).json()["items"] == []
    assert get(two, "coord-b", "/api/positions", team_id=tb).json()["items"]
    assert post(two, "coord-a", f"/api/visits/{vb}/arrival/undo", {}).status_code == 404
    refused = post(two, "coord-a", "/api/positions", {"team_id": tb, "positions": [fix(tb, "x")]})
    assert refused.status_code == 404
    history = get(two, "coord-a", "/api/positions", limit=500).json()
    assert history["items"] and {p["team_id"] for p in history["items"]} == {ta}
    latest = get(two, "coord-a", "/api/positions/latest").json()["positions"]
    assert {p["team_id"] for p in latest} == {ta}
    assert {
        p["team_id"] for p in get(two, "admin", "/api/positions/latest").json()["positions"]
    } >= {ta, tb}
    alerts = get(two, "coord-a", "/api/alerts").json()
    assert vb not in {a["visit_id"] for a in alerts["alerts"] + alerts["journal"]}
    ack = post(two, "coord-a", "/api/alerts/acknowledge", {"key": f"late-rest:{vb}"})
    assert ack.status_code == 404
    assert (
        post(two, "coord-b", "/api/alerts/acknowledge", {"key": f"late-rest:{vb}"}).status_code
        == 200
    )
    coord = sio.Client(reconnection=False)
    try:
        coord.connect(
            two["url"], auth={"token": two["tokens"]["coord-a"]}, transports=["websocket"]
        )
        ack = coord.call(
            "visit_event",
            {"visit_id": vb, "kind": "note", "client_id": "a-on-b", "note": "x"},
            timeout=5,
        )
        assert ack["ok"] is False and ack["status"] == 404, ack
    finally:
        close(coord)


def test_a_team_moved_to_another_structure_follows_it(two) -> None:  # type: ignore[no-untyped-def]
    """The hub keeps each team's structure: a team moved from A to B (the team event) leaves
    A's maps at once and its positions go to B's coordinators from then on."""
    store, hub = two["store"], two["hub"]
    team = store.add_team({"name": "Équipe mobile", "base_lon": MELUN[0], "base_lat": MELUN[1]})
    token = store.pair_device(store.create_pairing(team["id"])["code"])["token"]
    a = Listener(two["url"], two["tokens"]["coord-a"])
    b = Listener(two["url"], two["tokens"]["coord-b"])
    phone = sio.Client(reconnection=False)
    try:
        phone.connect(two["url"], auth={"token": token}, transports=["websocket"])
        phone.call("position", fix(team["id"], "mob-1"), timeout=5)
        assert a.wait(lambda x: any(p["team_id"] == team["id"] for p in x.items("positions")))
        _move(store, "teams", team["id"], two["b"])
        hub.on_team(store.get_team(team["id"]))
        assert a.wait(
            lambda x: any(
                s.get("team") == {"id": team["id"], "active": False} for s in x.items("statuses")
            )
        )
        a.clear()
        phone.call("position", fix(team["id"], "mob-2"), timeout=5)
        assert b.wait(lambda x: any(p["team_id"] == team["id"] for p in x.items("positions")))
        time.sleep(0.3)
        assert team["id"] not in {p.get("team_id") for p in a.items("positions")}
    finally:
        close(phone, a.client, b.client)


def test_the_hub_reads_the_teams_structures_again_after_a_while() -> None:
    """A team moved to another structure through another server process (no team event in
    this one) reaches the new structure's room within TEAM_STRUCTURES_TTL_S."""
    from dispatch.live.hub import TEAM_STRUCTURES_TTL_S, LiveHub, coordinator_room

    class Teams:
        def __init__(self) -> None:
            self.owner = {7: 1}

        def team_structure_ids(self, ids: Any = None) -> dict[int, int]:
            return {t: s for t, s in self.owner.items() if ids is None or t in ids}

    store = Teams()
    hub = LiveHub(store, lambda *_: None)
    assert hub._position_rooms(7)[0] == coordinator_room(1)
    store.owner[7] = 2
    assert hub._position_rooms(7)[0] == coordinator_room(1)  # cached: the hot path
    hub._structures_read_at -= TEAM_STRUCTURES_TTL_S + 1
    assert hub._position_rooms(7)[0] == coordinator_room(2)
    assert hub.team_structure(7) == 2


def test_no_room_spans_several_structures_except_the_admins() -> None:
    """Coordinators and planners join one room per structure of theirs (none without a
    structure); admins their own room; a team its own."""
    from dispatch.live.hub import ROOM_ADMINS, coordinator_room, planner_room, rooms_for, team_room

    assert rooms_for("coordinator", None, [2, 1, 2]) == [coordinator_room(1), coordinator_room(2)]
    assert rooms_for("coordinator", None, []) == []
    assert rooms_for("planner", None, [3]) == [planner_room(3)]
    assert rooms_for("admin", None, [1]) == [ROOM_ADMINS]
    assert rooms_for("team_member", 7, [1]) == [team_room(7)]
