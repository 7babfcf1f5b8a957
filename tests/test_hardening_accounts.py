"""Issue 21 items 2 and 6: accounts without admin-set passwords, and log-in limits."""

from __future__ import annotations

import threading

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
    codes = [_login(client, "planner", "wrong-password", ip="203.0.113.5").status_code for _ in range(6)]
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
    assert _login(world.app.test_client(), "coordinator", PASSWORD, ip="192.0.2.99").status_code == 200

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
