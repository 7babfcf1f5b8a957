"""Issue 21 items 2 and 6: accounts without admin-set passwords, and log-in limits."""

from __future__ import annotations

import threading
import time

import pytest

from dispatch.errors import ValidationError
from dispatch.limits import RateLimiter
from dispatch.settings import Settings, load_settings
from dispatch.web.client import resolve_client


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- client address through trusted proxies ------------------------------------------------------
def test_client_is_the_peer_when_no_proxy_is_trusted() -> None:
    assert resolve_client("203.0.113.9", "198.51.100.1", ()) == "203.0.113.9"


def test_forwarded_for_from_an_untrusted_peer_is_ignored() -> None:
    assert resolve_client("203.0.113.9", "198.51.100.1", ["10.0.0.1"]) == "203.0.113.9"


def test_trusted_proxy_gives_the_right_most_untrusted_entry() -> None:
    trusted = ["10.0.0.0/8", "127.0.0.1"]
    # The client may prepend anything: only what the proxies appended counts.
    header = "1.2.3.4, 198.51.100.7, 10.1.2.3"
    assert resolve_client("127.0.0.1", header, trusted) == "198.51.100.7"
    assert resolve_client("10.9.9.9", "198.51.100.7", trusted) == "198.51.100.7"


def test_trusted_proxy_without_header_or_with_garbage() -> None:
    assert resolve_client("10.0.0.1", None, ["10.0.0.1"]) == "10.0.0.1"
    assert resolve_client("10.0.0.1", "not-an-ip", ["10.0.0.1"]) == "10.0.0.1"
    assert resolve_client("10.0.0.1", "10.0.0.1", ["10.0.0.1"]) == "10.0.0.1"


def test_ipv6_and_ports_and_mapped_addresses() -> None:
    assert resolve_client("::1", "[2001:db8::5]:443", ["::1"]) == "2001:db8::5"
    assert resolve_client("::ffff:10.0.0.1", "203.0.113.9:5100", ["10.0.0.0/8"]) == "203.0.113.9"


def test_trusted_proxies_setting_is_validated_and_documented() -> None:
    assert Settings().trusted_proxies == ()
    settings = load_settings(env={"DISPATCH_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8"})
    assert settings.trusted_proxies == ("127.0.0.1", "10.0.0.0/8")
    with pytest.raises(ValidationError, match="trusted_proxies"):
        Settings(trusted_proxies=("proxy.example",))


# -- rate limiter ----------------------------------------------------------------------------------
def test_limiter_allows_a_burst_then_says_how_long_to_wait() -> None:
    clock = FakeClock()
    limiter = RateLimiter(limit=3, window_s=60, clock=clock)
    assert [limiter.hit("a").allowed for _ in range(3)] == [True, True, True]
    refused = limiter.hit("a")
    assert not refused.allowed
    assert refused.retry_after_s == pytest.approx(20.0)
    assert refused.retry_after_header == "20"
    assert limiter.hit("b").allowed  # keys are independent
    clock.now += 20
    assert limiter.hit("a").allowed
    assert not limiter.hit("a").allowed


def test_limiter_check_counts_nothing_and_reset_forgets() -> None:
    limiter = RateLimiter(limit=1, window_s=10, clock=FakeClock())
    assert limiter.check("a").allowed
    assert limiter.hit("a").allowed
    assert not limiter.check("a").allowed
    limiter.reset("a")
    assert limiter.hit("a").allowed


def test_limiter_memory_is_bounded() -> None:
    clock = FakeClock()
    limiter = RateLimiter(limit=2, window_s=1, clock=clock, max_keys=100)
    for i in range(1000):
        limiter.hit(f"k{i}")
    assert len(limiter) == 100
    clock.now += 5  # every bucket refilled: they are dropped on the next sweep
    limiter.hit("new")
    assert len(limiter) == 1


def test_limiter_is_thread_safe() -> None:
    limiter = RateLimiter(limit=100, window_s=3600)
    allowed = []

    def worker() -> None:
        for _ in range(50):
            allowed.append(limiter.hit("same").allowed)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert allowed.count(True) == 100


# -- log-in limits (item 6) ------------------------------------------------------------------------
@pytest.fixture
def world(tmp_path):
    from api_world import make_world

    w = make_world(tmp_path)
    yield w
    w.store.close()


def _login(client, username, password, ip="10.0.0.1", headers=None):
    return client.post(
        "/api/session",
        json={"username": username, "password": password},
        environ_base={"REMOTE_ADDR": ip},
        headers=headers or {},
    )


def test_strangers_cannot_lock_out_an_account_from_its_usual_address(world):
    """Failures from 30 other addresses (5 each) do not stop the owner at their usual address.

    Before: 20 failures a minute per username, from anywhere, refused even the right password."""
    from api_world import PASSWORD

    client = world.app.test_client()
    assert _login(client, "coordinator", PASSWORD, ip="192.0.2.10").status_code == 200
    for i in range(30):
        for _ in range(5):
            _login(client, "coordinator", "wrong-password", ip=f"198.51.100.{i}")
    assert _login(client, "coordinator", PASSWORD, ip="192.0.2.10").status_code == 200
    # A limit reached on the pair (coordinator, one address) leaves other addresses alone.
    codes = [
        _login(client, "planner", "wrong-password", ip="203.0.113.5").status_code for _ in range(6)
    ]
    assert codes == [401] * 5 + [429]
    assert _login(client, "planner", PASSWORD, ip="203.0.113.6").status_code == 200


def test_one_address_is_limited_across_usernames(world):
    """One address trying many usernames is stopped (each try costs an Argon2id hash).

    Before: nothing limited one address across usernames."""
    client = world.app.test_client()
    codes = [
        _login(client, f"someone{i}", "wrong-password", ip="203.0.113.77").status_code
        for i in range(40)
    ]
    assert codes[:30] == [401] * 30 and set(codes[30:]) == {429}
    # Another address is not affected.
    assert _login(client, "someone1", "wrong-password", ip="203.0.113.78").status_code == 401


def test_limited_login_answers_429_with_retry_after_and_french(world):
    client = world.app.test_client()
    for _ in range(5):
        _login(client, "planner", "wrong-password")
    limited = _login(client, "planner", "wrong-password")
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    body = limited.get_json()
    assert body["ok"] is False and body["status"] == 429 and body["code"] == "rate_limited"
    assert "retry in" in body["error"]
    french = _login(client, "planner", "wrong-password", headers={"Accept-Language": "fr"})
    assert french.status_code == 429 and "réessayez dans" in french.get_json()["error"]


def test_distributed_guesses_from_new_addresses_are_still_limited(world):
    """Guesses spread over new addresses hit the per-username limit (20 per minute); the
    account's known addresses are not affected (see the test above)."""
    client = world.app.test_client()
    codes = [
        _login(client, "planner", "wrong-password", ip=f"10.1.0.{i}").status_code for i in range(25)
    ]
    assert codes[:20] == [401] * 20 and set(codes[20:]) == {429}


def test_trusted_proxy_gives_each_client_its_own_limit(tmp_path):
    from api_world import make_world

    w = make_world(tmp_path, trusted_proxies=("127.0.0.1",))
    try:
        client = w.app.test_client()
        for _ in range(5):
            r = client.post(
                "/api/session",
                json={"username": "planner", "password": "wrong-password"},
                environ_base={"REMOTE_ADDR": "127.0.0.1"},
                headers={"X-Forwarded-For": "198.51.100.1"},
            )
            assert r.status_code == 401
        other = client.post(
            "/api/session",
            json={"username": "planner", "password": "wrong-password"},
            environ_base={"REMOTE_ADDR": "127.0.0.1"},
            headers={"X-Forwarded-For": "198.51.100.2"},
        )
        assert other.status_code == 401
        assert "198.51.100.2" in str(w.store.list_audit(limit=1)[0])
    finally:
        w.store.close()


def test_concurrent_password_hashes_are_bounded(world):
    """When every hashing slot is busy, a log-in is answered at once (429, Retry-After)
    instead of queueing behind the others; at most the bound run together."""
    import time

    from api_world import PASSWORD

    from dispatch.web.api_auth import login_guard

    guard = login_guard(world.app)
    slots = guard.max_hashes
    assert 1 <= slots <= 8
    for _ in range(slots):
        assert guard.hashes.acquire(timeout=1)
    try:
        t0 = time.perf_counter()
        busy = _login(world.app.test_client(), "coordinator", PASSWORD, ip="192.0.2.99")
        elapsed_s = time.perf_counter() - t0
    finally:
        for _ in range(slots):
            guard.hashes.release()
    assert busy.status_code == 429 and busy.headers["Retry-After"] == "1"
    assert elapsed_s < 2.0
    assert (
        _login(world.app.test_client(), "coordinator", PASSWORD, ip="192.0.2.99").status_code == 200
    )

    # Measured: 16 parallel log-ins never run more than `slots` hashes at once.
    store = world.store
    real = store.verify_password
    running, peak, lock = [0], [0], threading.Lock()

    def counting(*args, **kwargs):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            time.sleep(0.05)
            return real(*args, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    store.verify_password = counting
    try:
        threads = [
            threading.Thread(
                target=_login,
                args=(world.app.test_client(), "planner", "wrong-password", f"192.0.2.{i}"),
            )
            for i in range(16)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        del store.verify_password
    assert 1 <= peak[0] <= slots


# -- accounts without admin-set passwords (item 2) ---------------------------------------------------
@pytest.fixture
def inbox():
    from mail_support import Inbox

    box = Inbox()
    yield box
    box.stop()


@pytest.fixture
def mail_world(tmp_path, inbox):
    from api_world import make_world

    w = make_world(
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=inbox.port,
        smtp_starttls=False,
        smtp_from="Dispatch <dispatch@example.fr>",
        public_url="https://dispatch.example.fr",
    )
    yield w
    w.store.close()


def _admin(w):
    return w.headers("admin")


def test_admin_cannot_set_or_reset_a_password(world):
    """Before: POST /api/users with a password, or PATCH a coordinator's password, let an
    admin log in as a coordinator and read patient details."""
    from api_world import PASSWORD

    client = world.app.test_client()
    r = client.post(
        "/api/users",
        json={"username": "faux-coord", "role": "coordinator", "password": "admin-knows-it-1"},
        headers=_admin(world),
    )
    assert r.status_code == 403 and "never sets or resets" in r.get_json()["error"]
    assert not world.store.user_exists("faux-coord")
    r = client.patch(
        f"/api/users/{world.ids['coordinator']}",
        json={"password": "admin-knows-it-1"},
        headers=_admin(world),
    )
    assert r.status_code == 403 and "password-link" in r.get_json()["error"]
    assert _login(client, "coordinator", "admin-knows-it-1").status_code == 401
    assert _login(client, "coordinator", PASSWORD, ip="10.0.0.2").status_code == 200
    # An admin cannot make themselves a coordinator either.
    r = client.patch(
        f"/api/users/{world.ids['admin']}", json={"role": "coordinator"}, headers=_admin(world)
    )
    assert r.status_code == 403
    actions = [e["action"] for e in world.store.account_events(since_s=0)]
    assert actions.count("user.password_refused") == 2


def test_new_account_is_activated_by_the_user_through_an_emailed_link(mail_world, inbox):
    w = mail_world
    client = w.app.test_client()
    r = client.post(
        "/api/users",
        json={"username": "claire", "role": "coordinator", "email": "claire@example.fr"},
        headers=_admin(w),
    )
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["mail"]["sent"] is True and "token" not in str(body)
    assert body["user"]["has_password"] is False
    [(rcpt, message)] = inbox.messages
    assert rcpt == ["claire@example.fr"] and "activez votre compte" in message["Subject"]
    token = inbox.link_token()
    # Only the token's hash is stored.
    raw = w.store.write(lambda c: [tuple(r) for r in c.execute("SELECT * FROM account_links")])
    assert token not in str(raw)
    page = client.get("/account/")
    assert page.status_code == 200 and b'lang="fr"' in page.data
    check = client.post("/api/account-links/check", json={"token": token})
    assert check.status_code == 200 and check.get_json()["user"]["username"] == "claire"
    assert check.get_json()["purpose"] == "activate"
    short = client.post("/api/account-links/complete", json={"token": token, "password": "short"})
    assert short.status_code == 400
    done = client.post(
        "/api/account-links/complete", json={"token": token, "password": "claire-choisit-1"}
    )
    assert done.status_code == 200
    assert _login(client, "claire", "claire-choisit-1").status_code == 200
    again = client.post(
        "/api/account-links/complete", json={"token": token, "password": "someone-else-2"}
    )
    assert again.status_code == 404 and "already used" in again.get_json()["error"]
    # Coordinators see who created the account, who sent the link and that it was used.
    events = client.get("/api/account-events", headers=w.headers("coordinator")).get_json()
    seen = [(e["action"], e["actor_name"], e["target_name"]) for e in events["events"]]
    assert ("user.create", "admin", "claire") in seen
    assert ("user.password_link", "admin", "claire") in seen
    [sent] = [e for e in events["events"] if e["action"] == "user.password_link"]
    assert sent["detail"] == {"purpose": "activate", "email": "claire@example.fr"}
    assert ("user.activated", "claire", "claire") in seen
    assert all("ip" not in e for e in events["events"])
    assert client.get("/api/account-events", headers=w.headers("planner")).status_code == 403


def test_reset_link_for_a_coordinator_keeps_the_password_until_the_user_chooses(mail_world, inbox):
    from api_world import PASSWORD

    w = mail_world
    client = w.app.test_client()
    w.store.update_user(w.ids["coordinator"], email="coord@example.fr")
    r = client.post(f"/api/users/{w.ids['coordinator']}/password-link", json={}, headers=_admin(w))
    assert r.status_code == 200 and r.get_json()["purpose"] == "reset"
    assert r.get_json()["expires_at_s"] - time.time() <= 2 * 3600 + 5
    [(rcpt, _)] = inbox.messages
    assert rcpt == ["coord@example.fr"]
    assert _login(client, "coordinator", PASSWORD).status_code == 200
    # The admin cannot redirect the links to an address of their own.
    r = client.patch(
        f"/api/users/{w.ids['coordinator']}",
        json={"email": "admin@evil.example"},
        headers=_admin(w),
    )
    assert r.status_code == 403 and "dispatch user email" in r.get_json()["error"]
    token = inbox.link_token()
    done = client.post(
        "/api/account-links/complete", json={"token": token, "password": "nouveau-secret-9"}
    )
    assert done.status_code == 200
    assert _login(client, "coordinator", PASSWORD, ip="10.0.0.3").status_code == 401
    assert _login(client, "coordinator", "nouveau-secret-9", ip="10.0.0.4").status_code == 200
    events = client.get("/api/account-events", headers=w.headers("coordinator")).get_json()
    assert [e["action"] for e in events["events"]][:2] == [
        "user.password_reset",
        "user.password_link",
    ]


def test_expired_link_and_links_of_a_pending_account(mail_world, inbox):
    w = mail_world
    client = w.app.test_client()
    user = w.store.add_user("lent", role="planner", email="lent@example.fr")
    old = w.store.create_account_link(user["id"], purpose="activate", created_by="cli", ttl_s=-1)
    r = client.post("/api/account-links/check", json={"token": old["token"]})
    assert r.status_code == 404 and "expired" in r.get_json()["error"]
    first = w.store.create_account_link(user["id"], purpose="activate", created_by="cli")
    # Before activation, the admin may correct the address; links sent before stop working.
    r = client.patch(
        f"/api/users/{user['id']}", json={"email": "lent2@example.fr"}, headers=_admin(w)
    )
    assert r.status_code == 200
    assert (
        client.post("/api/account-links/check", json={"token": first["token"]}).status_code == 404
    )
    r = client.post(f"/api/users/{user['id']}/password-link", json={}, headers=_admin(w))
    assert r.status_code == 200 and r.get_json()["purpose"] == "activate"
    assert inbox.messages[-1][0] == ["lent2@example.fr"]
    # An account used without a password (a script's API token) is in use too: its address
    # cannot be pointed elsewhere either.
    script = w.store.add_user("script", role="coordinator")
    w.store.create_api_token(script["id"], label="export")
    r = client.patch(
        f"/api/users/{script['id']}", json={"email": "admin@evil.example"}, headers=_admin(w)
    )
    assert r.status_code == 403


def test_without_smtp_the_screen_is_told_how_to_configure_it(world):
    client = world.app.test_client()
    status = client.get("/api/mail", headers=_admin(world)).get_json()["mail"]
    assert status["configured"] is False and "smtp_host" in status["how"]
    r = client.post(
        "/api/users",
        json={"username": "sans-mail", "role": "coordinator", "email": "x@example.fr"},
        headers=_admin(world),
    )
    assert r.status_code == 503 and r.get_json()["code"] == "mail_not_configured"
    assert "dispatch user add" in r.get_json()["error"]
    assert not world.store.user_exists("sans-mail")
    # Without an address, the account is created without any password (phones, API tokens).
    r = client.post(
        "/api/users", json={"username": "membre-c", "role": "planner"}, headers=_admin(world)
    )
    assert r.status_code == 201 and r.get_json()["mail"] == {"sent": False}


def test_smtp_failure_is_a_clear_503_and_the_password_never_reaches_the_log(tmp_path, caplog):
    import logging
    import socket

    from api_world import make_world

    from dispatch.mail import Mailer

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    w = make_world(
        tmp_path, smtp_host="127.0.0.1", smtp_port=port, smtp_from="d@example.fr", smtp_user="u"
    )
    w.app.extensions["dispatch.mailer"] = Mailer(
        w.app.extensions["dispatch.settings"], env={"DISPATCH_SMTP_PASSWORD": "smtp-secret-42"}
    )
    w.store.update_user(w.ids["planner"], email="p@example.fr")
    try:
        with caplog.at_level(logging.DEBUG):
            r = w.app.test_client().post(
                f"/api/users/{w.ids['planner']}/password-link", json={}, headers=_admin(w)
            )
        assert r.status_code == 503 and r.get_json()["code"] == "mail_failed"
        assert r.headers["Retry-After"] == "60"
        assert f"127.0.0.1:{port}" in r.get_json()["error"]
        assert "smtp-secret-42" not in caplog.text and "smtp-secret-42" not in r.get_data(
            as_text=True
        )
    finally:
        w.store.close()


def test_server_operator_cli_still_sets_passwords_and_addresses(tmp_path, monkeypatch):
    """Shell access to the server is full access already: `dispatch user add/passwd` keep
    setting passwords; `dispatch user email` is the only way to change an address in use."""
    from api_world import fast_password_hashing
    from click.testing import CliRunner

    from dispatch.cli import cli
    from dispatch.store import Store

    fast_password_hashing()
    monkeypatch.setenv("DISPATCH_VAR_DIR", str(tmp_path / "var"))

    def run(*args, input=None):
        result = CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    run(
        "user",
        "add",
        "marie",
        "--role",
        "coordinator",
        "--email",
        "m@example.fr",
        "--password-stdin",
        input="premier-mot-de-passe\n",
    )
    run("user", "passwd", "marie", "--password-stdin", input="second-mot-de-passe\n")
    run("user", "email", "marie", "marie@example.fr")
    store = Store(tmp_path / "var" / "dispatch.sqlite")
    try:
        assert store.verify_password("marie", "second-mot-de-passe")["email"] == "marie@example.fr"
        actions = [e["action"] for e in store.account_events(since_s=0)]
        assert actions == ["user.update", "user.password", "user.create"]
    finally:
        store.close()


@pytest.mark.load
def test_a_login_flood_with_real_argon2_keeps_hashes_bounded_and_health_fast(world):
    """48 clients × 4 wrong log-ins at once, production Argon2id (64 MiB a hash): at most
    MAX_CONCURRENT_HASHES hashes run together (before: one per request, 48 × 64 MiB), every
    answer is 401 or 429, and /api/health stays fast."""
    import statistics

    from argon2 import PasswordHasher

    from dispatch.store import accounts
    from dispatch.web.api_auth import MAX_CONCURRENT_HASHES

    fast = accounts._hasher
    accounts._hasher = PasswordHasher()  # the library's defaults, as in production
    accounts._dummy_hash.clear()
    try:
        store = world.store
        real = store.verify_password
        running, peak, lock = [0], [0], threading.Lock()

        def counting(*args, **kwargs):
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            try:
                return real(*args, **kwargs)
            finally:
                with lock:
                    running[0] -= 1

        store.verify_password = counting
        codes: list[int] = []
        health_ms: list[float] = []
        done = threading.Event()

        def client(i: int) -> None:
            c = world.app.test_client()
            for j in range(4):
                r = _login(c, f"someone-{i}-{j}", "wrong-password", ip=f"198.51.100.{i}")
                with lock:
                    codes.append(r.status_code)

        def prober() -> None:
            c = world.app.test_client()
            while not done.is_set():
                t0 = time.perf_counter()
                assert c.get("/api/health").status_code == 200
                health_ms.append((time.perf_counter() - t0) * 1000)
                time.sleep(0.05)

        probe = threading.Thread(target=prober)
        probe.start()
        t0 = time.perf_counter()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(48)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed_s = time.perf_counter() - t0
        done.set()
        probe.join()
    finally:
        accounts._hasher = fast
        accounts._dummy_hash.clear()
        del world.store.verify_password
    health_ms.sort()
    p95 = health_ms[int(len(health_ms) * 0.95) - 1] if health_ms else 0.0
    print(
        f"\nlogin flood: {len(codes)} attempts in {elapsed_s:.1f} s, peak hashes {peak[0]},"
        f" 401: {codes.count(401)}, 429: {codes.count(429)}, health p50"
        f" {statistics.median(health_ms):.0f} ms p95 {p95:.0f} ms ({len(health_ms)} probes)"
    )
    assert set(codes) <= {401, 429} and len(codes) == 192
    assert 1 <= peak[0] <= MAX_CONCURRENT_HASHES
    assert codes.count(401) >= MAX_CONCURRENT_HASHES
    assert p95 < 1500, f"health p95 {p95:.0f} ms during the flood"


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_client_logs_in_and_never_sends_in_clear_when_starttls_is_asked(tmp_path, caplog):
    """smtp_user logs in with DISPATCH_SMTP_PASSWORD (never written to a log); with
    smtp_starttls on, a server that cannot upgrade gets nothing (no silent fall back to clear)."""
    import logging

    from mail_support import Inbox

    from dispatch.errors import DispatchError
    from dispatch.mail import Mailer

    box = Inbox(login=("relay-user", "relay-secret-77"))
    try:
        base = Settings(
            var_dir=tmp_path,
            smtp_host="127.0.0.1",
            smtp_port=box.port,
            smtp_from="Dispatch <dispatch@example.fr>",
            smtp_user="relay-user",
            smtp_starttls=False,
        )
        env = {"DISPATCH_SMTP_PASSWORD": "relay-secret-77"}
        with caplog.at_level(logging.DEBUG):
            Mailer(base, env=env).send("a@example.fr", "Objet", "Texte")
            assert box.logins == ["relay-user"] and len(box.messages) == 1
            message = box.messages[0][1]
            assert message["From"] == "Dispatch <dispatch@example.fr>"
            assert message["Message-ID"] and message["Date"]
            with pytest.raises(DispatchError) as clear:
                Mailer(base.replace(smtp_starttls=True), env=env).send("a@example.fr", "O", "T")
            assert clear.value.code == "mail_failed" and "STARTTLS" in clear.value.message
        assert len(box.messages) == 1
        assert "relay-secret-77" not in caplog.text
        assert "relay-secret-77" not in str(Mailer(base, env=env).status())
    finally:
        box.stop()
