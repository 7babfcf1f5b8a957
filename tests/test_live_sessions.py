"""Live sockets follow their credentials: logout, disabled users, moved users, dead teams."""

from __future__ import annotations

import time
from typing import Any

import pytest
from live_support import MELUN, PASSWORD, add_team_with_phone, module_settings

from dispatch.store import Store
from dispatch.web import sockets
from dispatch.web.app import create_app, socketio


@pytest.fixture(scope="module")
def env(melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    """One app on a fresh database, an admin client; each test makes its own users and teams."""
    settings = module_settings(
        tmp_path_factory.mktemp("live-sessions"), territory_cache, shared_dir
    )
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    store.add_user("admin", role="admin", password=PASSWORD)
    admin = login(app, "admin")
    yield app, store, admin
    app.extensions["dispatch.live"].stop()
    store.close()


def login(app: Any, username: str) -> Any:
    client = app.test_client()
    reply = client.post("/api/session", json={"username": username, "password": PASSWORD})
    assert reply.status_code == 200, reply.json
    client.environ_base["HTTP_X_CSRF_TOKEN"] = reply.json["csrf_token"]
    return client


def member(app: Any, store: Store, name: str) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """A team, a team member of it logged in, and that member's socket (cookie auth)."""
    team, _ = add_team_with_phone(store, f"Équipe {name}")
    user = store.add_user(name, role="team_member", team_id=team["id"], password=PASSWORD)
    client = login(app, name)
    sock = socketio.test_client(app, flask_test_client=client)
    assert sock.is_connected()
    return team, user, (client, sock)


def ended(sock: Any) -> bool:
    """The server told the socket its session ended, and dropped it."""
    names = [m["name"] for m in sock.queue]  # get_received() refuses once disconnected
    return "session_ended" in names and not sock.is_connected()


def fix(cid: str) -> dict[str, Any]:
    return {"client_id": cid, "lon": MELUN[0], "lat": MELUN[1], "device_time_s": time.time()}


def test_logout_ends_the_sessions_sockets_only(env) -> None:  # type: ignore[no-untyped-def]
    """Logging out drops the socket opened with that cookie; another session of the user stays."""
    app, store, _ = env
    _, _, (client, sock) = member(app, store, "sortant")
    other = socketio.test_client(app, flask_test_client=login(app, "sortant"))
    assert client.delete("/api/session").status_code == 200
    assert ended(sock)
    assert other.is_connected()


def test_disabled_user_is_disconnected(env) -> None:  # type: ignore[no-untyped-def]
    """An admin disabling a user ends their live socket at once."""
    app, store, admin = env
    _, user, (_, sock) = member(app, store, "desactive")
    reply = admin.patch(f"/api/users/{user['id']}", json={"active": False})
    assert reply.status_code == 200
    assert ended(sock)


def test_role_change_ends_the_socket(env) -> None:  # type: ignore[no-untyped-def]
    """A new role revokes the sessions, so the socket of the old role is ended."""
    app, store, admin = env
    _, user, (_, sock) = member(app, store, "promu")
    reply = admin.patch(f"/api/users/{user['id']}", json={"role": "planner", "team_id": None})
    assert reply.status_code == 200, reply.json
    assert ended(sock)


def test_team_change_moves_the_socket_to_the_new_team_room(env) -> None:  # type: ignore[no-untyped-def]
    """A member moved to team B stops getting A's visits and gets B's."""
    app, store, admin = env
    team_a, user, (_, sock) = member(app, store, "mute")
    team_b, _ = add_team_with_phone(store, "Équipe destination")
    reply = admin.patch(f"/api/users/{user['id']}", json={"team_id": team_b["id"]})
    assert reply.status_code == 200
    received = sock.get_received()
    assert sock.is_connected()
    (moved,) = [m["args"][0] for m in received if m["name"] == "principal"]
    assert moved["team_id"] == team_b["id"]
    hub = app.extensions["dispatch.live"]
    hub.fanout.publish(f"team:{team_a['id']}", "visits", {"id": -1, "old": True}, key=-1)
    hub.fanout.publish(f"team:{team_b['id']}", "visits", {"id": -2, "new": True}, key=-2)
    hub.fanout.flush()
    batches = [m["args"][0] for m in sock.get_received() if m["name"] == "live"]
    ids = [v["id"] for b in batches for v in b.get("visits", [])]
    assert ids == [-2]


def test_deactivated_team_disconnects_its_members_and_phones(env) -> None:  # type: ignore[no-untyped-def]
    """Deactivating a team ends both the member's cookie socket and the paired phone's socket."""
    app, store, _ = env
    team, _, (_, sock) = member(app, store, "equipe-close")
    token = store.pair_device(store.create_pairing(team["id"])["code"])["token"]
    phone = socketio.test_client(app, auth={"token": token})
    assert phone.is_connected()
    store.add_user("coord-close", role="coordinator", password=PASSWORD)
    coord = login(app, "coord-close")
    reply = coord.patch(f"/api/teams/{team['id']}", json={"active": False})
    assert reply.status_code == 200, reply.json
    assert ended(sock) and ended(phone)


def test_periodic_recheck_catches_changes_made_outside_the_api(env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A user disabled straight in the store (the CLI) loses the socket at the next sweep."""
    app, store, _ = env
    _, user, (_, sock) = member(app, store, "cli-desactive")
    store.update_user(user["id"], active=False)
    assert sock.is_connected()
    monkeypatch.setattr(sockets, "RECHECK_S", 0.0)
    ended_count = sockets.recheck(
        app,
        app.extensions[sockets.CONNECTIONS_KEY].sids_where(
            lambda c: time.time() - c.checked_at >= sockets.RECHECK_S
        ),
    )
    assert ended_count >= 1 and ended(sock)


def test_write_events_recheck_the_credentials(env) -> None:  # type: ignore[no-untyped-def]
    """A visit event after a silent logout (session revoked in the store) is refused and ends the
    socket; a position is refused once its recheck interval has passed."""
    app, store, _ = env
    _, user, (client, sock) = member(app, store, "ecrivain")
    store.update_user(user["id"], password="another-long-password")  # ends every session
    ack = sock.emit("visit_event", {"visit_id": 1, "kind": "note"}, callback=True)
    assert ack["ok"] is False and ack["status"] == 401
    assert ended(sock)
    team, token = add_team_with_phone(store, "Équipe position")
    phone = socketio.test_client(app, auth={"token": token})
    assert phone.emit("position", fix("ok1"), callback=True)["ok"]
    store.revoke_device(store.device_for_token(token)["id"])
    conns = app.extensions[sockets.CONNECTIONS_KEY]
    for sid in conns.sids_of_device(store.list_devices(team_id=team["id"])[0]["id"]):
        conns.get(sid).checked_at -= sockets.POSITION_RECHECK_S + 1  # type: ignore[union-attr]
    ack = phone.emit("position", fix("late"), callback=True)
    assert ack["ok"] is False and ack["status"] == 401
    assert ended(phone)


def test_revoked_api_token_ends_its_socket(env) -> None:  # type: ignore[no-untyped-def]
    """A coordinator script connected with an API token is dropped when an admin revokes it."""
    app, store, admin = env
    user = store.add_user("script", role="coordinator", password=PASSWORD)
    token = store.create_api_token(user["id"], label="script")
    sock = socketio.test_client(app, auth={"token": token})
    assert sock.is_connected()
    (row,) = store.list_api_tokens(user["id"])
    assert admin.delete(f"/api/tokens/{row['id']}").status_code == 200
    assert ended(sock)
