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
