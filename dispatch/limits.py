"""A thread-safe keyed rate limiter (token bucket) with bounded memory.

Used for log-ins (per address, per username and address) and for the ``/osmand`` ingest (per
address, per identifier). Pure: no Flask, an injectable clock.

Each key has a bucket of ``limit`` tokens that refills at ``limit / window_s`` tokens a second:
a burst of ``limit`` is allowed, then one attempt every ``window_s / limit`` seconds. A bucket
costs a few dozen bytes whatever the limit (a sliding log would keep one time per attempt).
Memory is bounded: at most ``max_keys`` buckets are kept, least recently used evicted first,
and buckets that have refilled completely (idle for ``window_s``) are dropped, since a full
bucket and no bucket mean the same thing.

Example::

    per_address = RateLimiter(limit=30, window_s=60)
    decision = per_address.hit("203.0.113.9")
    if not decision.allowed:
        raise RateLimitedError("...", retry_after_s=decision.retry_after_s)
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

#: Default bound on the number of keys kept by one limiter.
MAX_KEYS = 100_000


@dataclass(frozen=True)
class Decision:
    """The answer for one attempt.

    Attributes
    ----------
    allowed
        True when the attempt may go on (and was counted, for :meth:`RateLimiter.hit`).
    retry_after_s
        Seconds to wait before the next attempt would be allowed (0.0 when allowed).
    remaining
        Whole attempts still allowed right now after this one.
    """

    allowed: bool
    retry_after_s: float
    remaining: int

    @property
    def retry_after_header(self) -> str:
        """``Retry-After`` value: whole seconds, rounded up, at least 1."""
        return str(max(1, math.ceil(self.retry_after_s)))


class RateLimiter:
    """Token buckets per key: ``limit`` attempts per ``window_s`` seconds, bursts included.

    Parameters
    ----------
    limit
        Attempts allowed in a burst, and per ``window_s`` on average (at least 1).
    window_s
        Seconds over which ``limit`` attempts are allowed (> 0).
    clock
        Monotonic seconds (tests pass a fake one).
    max_keys
        Buckets kept at most; the least recently used are evicted beyond it.
    """

    def __init__(
        self,
        limit: int,
        window_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_KEYS,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.limit = int(limit)
        self.window_s = float(window_s)
        self.rate_per_s = self.limit / self.window_s
        self.max_keys = int(max_keys)
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (tokens, time of that count); most recently used last.
        self._buckets: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()
        self._last_sweep = clock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._buckets)

    def _tokens(self, key: Hashable, now: float) -> float:
        found = self._buckets.get(key)
        if found is None:
            return float(self.limit)
        tokens, at = found
        return min(float(self.limit), tokens + max(0.0, now - at) * self.rate_per_s)

    def _decide(self, key: Hashable, cost: float, *, count: bool) -> Decision:
        with self._lock:
            now = self._clock()
            tokens = self._tokens(key, now)
            allowed = tokens >= cost
            if allowed and count:
                tokens -= cost
            if count or key in self._buckets:
                self._buckets[key] = (tokens, now)
                self._buckets.move_to_end(key)
                self._evict(now)
            if allowed:
                return Decision(True, 0.0, int(tokens) if count else int(tokens - cost))
            return Decision(False, (cost - tokens) / self.rate_per_s, 0)

    def hit(self, key: Hashable, cost: float = 1.0) -> Decision:
        """Count one attempt under ``key`` if it is allowed; say whether, and how long to wait.

        A refused attempt is not counted (waiting ``retry_after_s`` is always enough).
        """
        return self._decide(key, cost, count=True)

    def check(self, key: Hashable, cost: float = 1.0) -> Decision:
        """Would an attempt under ``key`` be allowed now? Counts nothing."""
        return self._decide(key, cost, count=False)

    def reset(self, key: Hashable) -> None:
        """Forget ``key`` (for example after a successful log-in)."""
        with self._lock:
            self._buckets.pop(key, None)

    def _evict(self, now: float) -> None:
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        # Drop refilled buckets now and then (a full bucket is the same as none); the LRU order
        # means the idle ones are at the front.
        if now - self._last_sweep < self.window_s:
            return
        self._last_sweep = now
        while self._buckets:
            key, (tokens, at) = next(iter(self._buckets.items()))
            if tokens + (now - at) * self.rate_per_s < self.limit:
                break
            del self._buckets[key]
