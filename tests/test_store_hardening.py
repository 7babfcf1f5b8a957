"""Store regressions from review: atomic rate limits, clocks, merges, demo clearing, files."""

from __future__ import annotations

import datetime as dt
import stat
import threading
import time

import pytest
from api_world import fast_password_hashing

from dispatch.errors import AuthenticationError, ConflictError, RateLimitedError, ValidationError
from dispatch.store import Store
from dispatch.store.models import local_today, parse_id, parse_position, parse_time_s, parse_visit
from dispatch.store.positions import MAX_AHEAD_S

DAY = "2026-11-23"
VISIT = {
    "day": DAY,
    "pseudonym": "P1",
    "lon": 9.4,
    "lat": 42.6,
    "duration_s": 900,
    "windows": [["08:00", "09:00"]],
}


@pytest.fixture
def store(tmp_path):
    fast_password_hashing()
    with Store(tmp_path / "db.sqlite") as s:
        yield s


@pytest.fixture
def team(store):
    return store.add_team({"name": "A", "base_lon": 9.45, "base_lat": 42.7})


def test_login_attempts_are_counted_atomically_under_concurrency(store):
    """40 parallel attempts against a limit of 5 per minute: exactly 5 pass, 35 are refused."""
    passed, refused = [], []
    lock = threading.Lock()

    def attempt() -> None:
        try:
            store.register_login_attempt({"login:x|1.2.3.4": 5, "login-user:x": 20})
            outcome = passed
        except RateLimitedError:
            outcome = refused
        with lock:
            outcome.append(1)

    threads = [threading.Thread(target=attempt) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (len(passed), len(refused)) == (5, 35)
    # The per-username budget is shared by every address: 15 more from other addresses pass.
    ok = 0
    for i in range(30):
        try:
            store.register_login_attempt({f"login:x|10.0.0.{i}": 5, "login-user:x": 20})
            ok += 1
        except RateLimitedError:
            pass
    assert ok == 15
    store.clear_login_attempts("login:x|1.2.3.4")
    with pytest.raises(RateLimitedError):  # clearing one address keeps the username's count
        store.register_login_attempt({"login:x|1.2.3.4": 5, "login-user:x": 20})


def test_future_fixes_are_rejected_and_cannot_freeze_latest(store, team):
    """A fix dated > 5 min after the server clock is rejected per item; old future rows are ignored."""
    now = time.time()
    result = store.insert_positions(
        team["id"],
        [
            {"client_id": "f", "lon": 9.0, "lat": 42.0, "device_time_s": now + 3600},
            {"client_id": "n", "lon": 9.1, "lat": 42.1, "device_time_s": now},
        ],
    )
    assert len(result["stored"]) == 1 and result["stored"][0]["client_id"] == "n"
    assert [r["index"] for r in result["rejected"]] == [0]
    assert "after the server clock" in result["rejected"][0]["error"]
    # A row stored before the check existed (device time in 2096) must not win "latest".
    store.write(
        lambda c: c.execute(
            "INSERT INTO positions (team_id, client_id, device_time_s, server_time_s, lon, lat,"
            " source) VALUES (?, 'legacy', 4.0e9, ?, 8.0, 41.0, 'api')",
            (team["id"], now - 60),
        )
    )
    latest = store.latest_positions()
    assert [(p["client_id"], p["lon"]) for p in latest] == [("n", 9.1)]
    small_skew = store.insert_positions(
        team["id"],
        [{"client_id": "s", "lon": 9.2, "lat": 42.2, "device_time_s": now + MAX_AHEAD_S / 2}],
    )
    assert small_skew["rejected"] == [] and store.latest_positions()[0]["client_id"] == "s"


def test_patch_protected_merges_key_by_key(store):
    """PATCH protected changes the keys sent, null removes a key, protected=null clears all."""
    visit = store.add_visit({**VISIT, "protected": {"name": "Mme X", "phone": "0600"}})
    details = lambda: store.visit_details(visit["id"], actor="t", role="coordinator")  # noqa: E731
    store.update_visit(visit["id"], {"protected": {"phone": "0611"}})
    assert details() == {"visit_id": visit["id"], "name": "Mme X", "phone": "0611"}
    store.update_visit(visit["id"], {"protected": {"name": None, "notes": "chien"}})
    assert details() == {"visit_id": visit["id"], "phone": "0611", "notes": "chien"}
    store.update_visit(visit["id"], {"protected": None})
    assert details() == {"visit_id": visit["id"]}


def test_priority_null_means_default_never_null(store):
    """priority null or "" is the default 1, never a NULL in the database."""
    visit = store.add_visit({**VISIT, "priority": 3})
    assert store.update_visit(visit["id"], {"priority": None})["priority"] == 1
    assert parse_visit({**VISIT, "priority": None})["priority"] == 1
    nulls = store.write(lambda c: c.execute("SELECT count(*) FROM visits WHERE priority IS NULL"))
    assert nulls.fetchone()[0] == 0


def test_huge_numbers_are_validation_errors():
    """Integers too large for a float become ValidationError, never OverflowError."""
    with pytest.raises(ValidationError, match="far too large"):
        parse_position({"lon": 9, "lat": 10**400, "device_time_s": 1.7e9}, index=0)
    with pytest.raises(ValidationError, match="far too large"):
        parse_time_s(10**400, what="start")
    with pytest.raises(ValidationError):
        parse_id(10**400, what="team_id")


def test_clear_demo_refuses_when_real_rows_use_demo_teams(store, team):
    """Real visits, users and plans on a demo team stop clear_demo, which then deletes nothing."""
    demo = store.add_team({"name": "Démo", "base_lon": 9.4, "base_lat": 42.6}, demo=True)
    real = store.add_visit({**VISIT, "team_id": demo["id"]})
    member = store.add_user("infirmiere", role="team_member", team_id=demo["id"])
    before = store.counts()
    with pytest.raises(ConflictError) as err:
        store.clear_demo()
    message = str(err.value)
    assert f"real visits {real['id']}" in message and f"users {member['id']}" in message
    assert "dispatch demo clear" in message
    assert store.counts() == before
    # Once the real rows leave the demo team, only demo rows go.
    store.update_visit(real["id"], {"team_id": team["id"]})
    store.update_user(member["id"], team_id=team["id"])
    store.add_visit({**VISIT, "pseudonym": "D1"}, demo=True)
    removed = store.clear_demo()
    assert removed["teams"] == 1 and removed["visits"] == 1 and removed["users"] == 0
    assert store.get_visit(real["id"])["team_id"] == team["id"]
    assert store.get_user(member["id"])["team_id"] == team["id"]


def test_clear_demo_keeps_plans_holding_real_visits(store, team):
    """A plan with real visits and a demo team is a care record: clear_demo refuses."""
    demo = store.add_team({"name": "Démo", "base_lon": 9.4, "base_lat": 42.6}, demo=True)
    real = store.add_visit(VISIT)
    demo_visit = store.add_visit({**VISIT, "pseudonym": "D1"}, demo=True)
    plan = store.save_plan(
        DAY,
        [
            {"team_id": team["id"], "stops": [{"visit_id": real["id"]}]},
            {"team_id": demo["id"], "stops": [{"visit_id": demo_visit["id"]}]},
        ],
    )
    with pytest.raises(ConflictError, match=f"plans {plan['id']}"):
        store.clear_demo()
    assert store.get_plan(plan["id"])["id"] == plan["id"]


def test_role_change_revokes_api_tokens(store):
    """Changing a user's role revokes their API tokens; re-saving the same role does not."""
    user = store.add_user("alex", role="admin")
    token = store.create_api_token(user["id"])
    store.update_user(user["id"], role="admin")
    assert store.user_for_token(token) is not None
    store.update_user(user["id"], role="coordinator")
    assert store.user_for_token(token) is None


def test_members_of_a_deactivated_team_lose_access(store, team):
    """Like its phones, a deactivated team's members lose tokens, sessions and login."""
    user = store.add_user("membre", role="team_member", team_id=team["id"], password="x" * 12)
    token = store.create_api_token(user["id"])
    sid, _ = store.create_session(user["id"])
    store.update_team(team["id"], {"active": False})
    assert store.user_for_token(token) is None
    assert store.get_session(sid) is None
    with pytest.raises(AuthenticationError, match="team is deactivated"):
        store.verify_password("membre", "x" * 12)
    store.update_team(team["id"], {"active": True})
    assert store.user_for_token(token)["id"] == user["id"]


def test_database_wal_and_backups_are_private(tmp_path):
    """The store creates its folder 0700 and the database, WAL and backups 0600."""
    path = tmp_path / "new" / "var" / "db.sqlite"
    with Store(path) as s:
        s.add_team({"name": "A", "base_lon": 9.45, "base_lat": 42.7})
        backup = s.backup(tmp_path / "backups" / "b.sqlite")
        files = [path, path.with_name("db.sqlite-wal"), backup]
        modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in files}
        assert modes == {"db.sqlite": 0o600, "db.sqlite-wal": 0o600, "b.sqlite": 0o600}
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700


def test_today_is_the_paris_day_not_the_utc_day():
    """At 23:30 UTC on 23 November it is already the 24th in Paris."""
    late = dt.datetime(2026, 11, 23, 23, 30, tzinfo=dt.UTC).timestamp()
    assert local_today(now_s=late) == "2026-11-24"
    noon = dt.datetime(2026, 7, 1, 12, 0, tzinfo=dt.UTC).timestamp()
    assert local_today(now_s=noon) == "2026-07-01"
