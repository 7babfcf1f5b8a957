"""Accounts: password hashing, tokens, sessions, pairing codes, device revocation; plans."""

from __future__ import annotations

import pytest
from api_world import fast_password_hashing

from dispatch.errors import AuthenticationError, ConflictError, RateLimitedError, ValidationError
from dispatch.store import Store
from dispatch.web.auth import principal_from_token

DAY = "2026-11-23"


@pytest.fixture
def store(tmp_path):
    fast_password_hashing()
    with Store(tmp_path / "db.sqlite") as s:
        yield s


@pytest.fixture
def team(store):
    return store.add_team({"name": "A", "base_lon": 9.45, "base_lat": 42.7})


def test_passwords_are_hashed_with_argon2(store, tmp_path):
    """The database holds an Argon2id hash, never the password; a wrong one is refused."""
    user = store.add_user("marie", role="coordinator", password="un mot de passe long")
    raw = store.write(lambda c: c.execute("SELECT password_hash FROM users").fetchone()[0])
    assert raw.startswith("$argon2id$") and "long" not in raw
    assert store.verify_password("marie", "un mot de passe long")["id"] == user["id"]
    with pytest.raises(AuthenticationError, match="wrong username or password"):
        store.verify_password("marie", "mauvais mot de passe")
    with pytest.raises(AuthenticationError):
        store.verify_password("nobody", "un mot de passe long")
    with pytest.raises(ValidationError, match="at least 10 characters"):
        store.add_user("court", role="planner", password="short")
    with pytest.raises(ConflictError):
        store.add_user("marie", role="planner")


def test_rate_limit_counts_failures_per_key(store):
    """After N failures in a minute the key is refused; another key is not."""
    for _ in range(3):
        store.record_login_failure("login:x|1.2.3.4")
    with pytest.raises(RateLimitedError, match="wait a minute"):
        store.check_login_rate("login:x|1.2.3.4", per_min=3)
    store.check_login_rate("login:y|1.2.3.4", per_min=3)


def test_tokens_resolve_and_revoke(store, team):
    """User and device tokens resolve to principals until revoked or disabled."""
    user = store.add_user("bot", role="planner")
    token = store.create_api_token(user["id"], label="ci")
    principal = principal_from_token(store, token)
    assert (principal.kind, principal.role, principal.actor) == (
        "user",
        "planner",
        f"user:{user['id']}",
    )
    raw = store.write(lambda c: c.execute("SELECT token_hash FROM api_tokens").fetchone()[0])
    assert token not in raw and len(raw) == 64
    store.revoke_api_token(store.list_api_tokens(user["id"])[0]["id"])
    assert principal_from_token(store, token) is None
    paired = store.pair_device(store.create_pairing(team["id"])["code"])
    device = principal_from_token(store, paired["token"])
    assert (device.kind, device.role, device.team_id) == ("device", "team_member", team["id"])
    store.revoke_device(paired["device"]["id"])
    assert principal_from_token(store, paired["token"]) is None
    assert principal_from_token(store, "garbage") is None


def test_pairing_code_expires_and_is_single_use(store, team):
    """A code works once and not after its expiry."""
    expired = store.create_pairing(team["id"], ttl_s=-1)["code"]
    with pytest.raises(AuthenticationError, match="expired or already used"):
        store.pair_device(expired)
    code = store.create_pairing(team["id"])["code"]
    assert store.pairing_team(code) == team["id"]
    store.pair_device(code.replace("-", " ").lower())
    assert store.pairing_team(code) is None
    with pytest.raises(AuthenticationError):
        store.pair_device(code)


def test_sessions_end_on_password_change(store):
    """Changing a password or disabling a user ends their sessions."""
    user = store.add_user("s", role="coordinator", password="premier mot de passe")
    sid, csrf = store.create_session(user["id"])
    assert store.get_session(sid)["csrf_token"] == csrf
    store.update_user(user["id"], password="second mot de passe")
    assert store.get_session(sid) is None


def test_publish_plan_moves_visits_into_rounds(store, team):
    """Publishing puts planned stops in their team's round and archives the previous plan."""
    other = store.add_team({"name": "B", "base_lon": 9.1, "base_lat": 42.3})
    visits = store.add_visits(
        [
            {
                "day": DAY,
                "pseudonym": f"P{i}",
                "lon": 9.4,
                "lat": 42.6,
                "duration_s": 900,
                "windows": [["08:00", "12:00"]],
            }
            for i in range(3)
        ]
    )
    v0, v1, v2 = (v["id"] for v in visits)
    first = store.save_plan(
        DAY,
        [
            {
                "team_id": team["id"],
                "stops": [
                    {"visit_id": v0, "arrival_s": 30000},
                    {"visit_id": v1, "arrival_s": 31000},
                ],
            }
        ],
        unassigned=[{"visit_id": v2, "reason": "no skill"}],
        publish=True,
    )
    assert [v["team_id"] for v in store.get_visits([v0, v1, v2])] == [team["id"], team["id"], None]
    second = store.save_plan(
        DAY,
        [
            {"team_id": other["id"], "stops": [{"visit_id": v1}]},
            {"team_id": team["id"], "stops": [{"visit_id": v2}]},
        ],
        unassigned=[{"visit_id": v0, "reason": "late"}],
    )
    assert store.get_plan(second["id"])["status"] == "draft"
    store.publish_plan(second["id"])
    assert store.get_plan(first["id"])["status"] == "archived"
    assert [v["team_id"] for v in store.get_visits([v0, v1, v2])] == [None, other["id"], team["id"]]
    assert store.published_plan(DAY, team_id=other["id"])["routes"][0]["stops"][0]["visit_id"] == v1
    with pytest.raises(ValidationError, match="appears twice"):
        store.save_plan(
            DAY, [{"team_id": team["id"], "stops": [{"visit_id": v0}, {"visit_id": v0}]}]
        )


def test_event_updates_status_and_is_idempotent(store, team):
    """Check-in/out move the visit status; a retried event (same client id) is stored once."""
    visit = store.add_visit(
        {
            "day": DAY,
            "pseudonym": "P",
            "lon": 9.4,
            "lat": 42.6,
            "duration_s": 900,
            "windows": [["08:00", "12:00"]],
            "team_id": team["id"],
        }
    )
    assert visit["status"] == "assigned"
    first = store.add_visit_event(
        visit["id"], {"kind": "check_in", "client_id": "e1"}, actor="device:1", team_id=team["id"]
    )
    again = store.add_visit_event(
        visit["id"], {"kind": "check_in", "client_id": "e1"}, actor="device:1", team_id=team["id"]
    )
    assert first["created"] and not again["created"] and first["id"] == again["id"]
    assert store.get_visit(visit["id"])["status"] == "in_progress"
    store.add_visit_event(visit["id"], {"kind": "check_out"}, actor="device:1")
    assert store.get_visit(visit["id"])["status"] == "done"
    with pytest.raises(ValidationError, match="needs a note"):
        store.add_visit_event(visit["id"], {"kind": "missed"}, actor="device:1")
    assert store.list_visit_events(visit["id"]).total == 2


def test_manual_assignment_sets_status(store, team):
    """Giving a planned visit a team puts it in the round; removing the team takes it out."""
    visit = store.add_visit(
        {
            "day": DAY,
            "pseudonym": "P",
            "lon": 9.4,
            "lat": 42.6,
            "duration_s": 900,
            "windows": [["08:00", "12:00"]],
        }
    )
    assert visit["status"] == "planned"
    assert store.update_visit(visit["id"], {"team_id": team["id"]})["status"] == "assigned"
    assert store.update_visit(visit["id"], {"team_id": None})["status"] == "planned"
    store.update_visit(visit["id"], {"status": "done"})
    assert store.update_visit(visit["id"], {"team_id": team["id"]})["status"] == "done"
