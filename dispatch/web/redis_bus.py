"""The Redis bus between server processes, back within 2 s of an outage, pages resynced.

Flask-SocketIO's Redis manager (python-socketio ``RedisManager``) carries every push of one
process to the sockets of the others. Through an outage of Redis:

- what the other processes published meanwhile never arrives here, and python-socketio
  does not send it again;
- its listener retries after 1, 2, 4, 8, 16... s (up to 60 s), so it could come back 16 s
  after Redis did (measured);
- each push that cannot be published logs two errors.

:class:`ResyncingRedisManager` listens with its own connection and retries after 0.1 s,
doubling up to :data:`MAX_BACKOFF_S`; once subscribed again it moves this process's live
markers to the newest stored fixes and sends ``resync`` to every socket of this process, and
the pages (map, phone) reload their snapshot, which holds what the lost pushes said
(positions, visits and plans are stored before they are pushed).

A push that cannot leave (two tries, the second on a fresh connection) is counted, and while
publishing fails the next pushes are dropped at once for half a second instead of blocking
their caller; the first push that leaves again is followed by a request to resync
(:data:`RESYNC_METHOD`), served by the other processes whose pages did not reload since.
One warning per outage, one when the bus is back.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import socketio

log = logging.getLogger(__name__)

#: First wait before connecting again (seconds); doubled after each failure up to the bound.
FIRST_BACKOFF_S = 0.1
#: The longest wait between two connection attempts (seconds).
MAX_BACKOFF_S = 2.0
#: Seconds a connection to Redis may take before the attempt counts as failed.
CONNECT_TIMEOUT_S = 2.0
#: The event every socket of this process gets when the bus is back.
RESYNC_EVENT = "resync"
#: The bus message by which a process whose pushes were dropped asks the others to resync.
RESYNC_METHOD = "dispatch_resync"


class ResyncingRedisManager(socketio.RedisManager):  # type: ignore[misc]
    """A Redis client manager that reconnects within ``max_backoff_s`` and resyncs pages.

    ``on_resync(payload)`` (optional) is called just before the sockets get ``resync`` with
    the same payload: ``{"reason": "bus_reconnected", "down_s"}`` when this process's
    listener is back, ``{"reason": "peer_dropped", "dropped"}`` when another process could
    not publish some pushes.
    """

    def __init__(
        self,
        url: str,
        *,
        channel: str = "flask-socketio",
        write_only: bool = False,
        max_backoff_s: float = MAX_BACKOFF_S,
        on_resync: Any = None,
    ) -> None:
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # No retry inside redis-py: a lost connection must reach our loop (a reconnection
        # hidden in the client would skip the resync) and fail fast while Redis is down.
        options = {"socket_connect_timeout": CONNECT_TIMEOUT_S, "retry": Retry(NoBackoff(), 0)}
        super().__init__(url, channel=channel, write_only=write_only, redis_options=options)
        self.max_backoff_s = max_backoff_s
        self.on_resync = on_resync
        self.resyncs = 0
        self._state_lock = threading.Lock()
        # The listener's side: since when it is cut off (monotonic), when it last resynced.
        self._down_since: float | None = None
        self._last_resync_wall = 0.0
        # The publisher's side: pushes dropped since it failed, the wall time of the last one.
        self._publish_down = False
        self._next_publish_try = 0.0
        self.dropped = 0
        self._last_drop_wall = 0.0

    # -- state --------------------------------------------------------------------------------
    @property
    def bus_up(self) -> bool:
        """Whether this process receives the other processes' pushes."""
        return self._down_since is None

    def _mark_down(self, exc: Exception) -> None:
        with self._state_lock:
            if self._down_since is not None:
                return
            self._down_since = time.monotonic()
        log.warning(
            "Redis bus lost (%s): pushes between processes stop; connecting again every %.1f s"
            " at most, then the pages resync",
            type(exc).__name__,
            self.max_backoff_s,
        )

    def _mark_up(self) -> dict[str, Any] | None:
        """The resync payload when the listener was cut off, else None."""
        with self._state_lock:
            since, self._down_since = self._down_since, None
        if since is None:
            return None
        down_s = round(time.monotonic() - since, 2)
        log.warning("Redis bus back after %.1f s: this process's pages resync", down_s)
        return {"reason": "bus_reconnected", "down_s": down_s}

    # -- publishing ---------------------------------------------------------------------------
    def _publish(self, data: Any) -> Any:
        """Publish (a second try on a fresh connection); while it fails, drop pushes at once.

        The first push that leaves again is followed by a resync of the other processes: the
        pushes dropped here never reached their pages.
        """
        now = time.monotonic()
        if self._publish_down and now < self._next_publish_try:
            self._dropped_one()
            return None
        error: Exception | None = None
        for _attempt in range(2):
            try:
                if not getattr(self, "connected", False):
                    self._redis_connect()
                result = self.redis.publish(self.channel, self.json.dumps(data))
            except Exception as exc:
                self.connected = False
                error = exc
                continue
            if self._publish_down:
                self._publish_recovered()
            return result
        self._publish_down = True
        self._next_publish_try = now + FIRST_BACKOFF_S * 5
        self._dropped_one()
        assert error is not None
        self._mark_down(error)
        return None

    def _dropped_one(self) -> None:
        with self._state_lock:
            self.dropped += 1
            self._last_drop_wall = time.time()

    def _publish_recovered(self) -> None:
        with self._state_lock:
            self._publish_down = False
            dropped, self.dropped = self.dropped, 0
            last_drop = self._last_drop_wall
        if not dropped:
            return
        log.warning("%d pushes could not leave this process: the other processes resync", dropped)
        try:
            self.redis.publish(
                self.channel,
                self.json.dumps(
                    {
                        "method": RESYNC_METHOD,
                        "host_id": self.host_id,
                        "dropped": dropped,
                        "last_drop_at": last_drop,
                    }
                ),
            )
        except Exception:
            log.exception("could not ask the other processes to resync")

    # -- listening ----------------------------------------------------------------------------
    def _listener(self) -> Any:
        """A pub/sub connection of its own (publishing reconnects on its side)."""
        module = self._get_redis_module()
        client = module.Redis.from_url(self.redis_url, **self.redis_options)
        return client, client.pubsub(ignore_subscribe_messages=True)

    def _sleep(self, seconds: float) -> None:
        server = getattr(self, "server", None)
        if server is not None:
            server.sleep(seconds)
        else:
            time.sleep(seconds)

    def _redis_listen_with_retries(self) -> Any:
        delay = FIRST_BACKOFF_S
        while True:
            client = pubsub = None
            try:
                client, pubsub = self._listener()
                pubsub.subscribe(self.channel)
                delay = FIRST_BACKOFF_S
                payload = self._mark_up()
                if payload is not None:
                    self._resync(payload)
                yield from pubsub.listen()
            except Exception as exc:
                self._mark_down(exc)
                self._sleep(delay)
                delay = min(delay * 2, self.max_backoff_s)
            finally:
                for closable in (pubsub, client):
                    try:
                        if closable is not None:
                            closable.close()
                    except Exception:  # already broken: nothing to release
                        pass

    def _listen(self) -> Any:
        channel = self.channel.encode("utf-8")
        marker = RESYNC_METHOD.encode("utf-8")
        for message in self._redis_listen_with_retries():
            if (
                message.get("channel") == channel
                and message.get("type") == "message"
                and "data" in message
            ):
                data = message["data"]
                if isinstance(data, bytes) and marker in data and self._peer_resync(data):
                    continue
                yield data

    def _peer_resync(self, data: bytes) -> bool:
        """Serve another process's request to resync (True: it was one, consumed here)."""
        try:
            request = self.json.loads(data)
        except Exception:
            return False
        if not isinstance(request, dict) or request.get("method") != RESYNC_METHOD:
            return False
        if request.get("host_id") == self.host_id:
            return True
        # Pages reloaded after the last dropped push already hold it (stored before pushed).
        if self._last_resync_wall > float(request.get("last_drop_at") or 0) + 1.0:
            return True
        self._resync({"reason": "peer_dropped", "dropped": int(request.get("dropped") or 0)})
        return True

    def _resync(self, payload: dict[str, Any]) -> None:
        """``on_resync`` first (this process catches up with the store), then ``resync`` to
        every socket of this process (not through the bus: it is local)."""
        self.resyncs += 1
        self._last_resync_wall = time.time()
        if self.on_resync is not None:
            try:
                self.on_resync(payload)
            except Exception:
                log.exception("could not catch up with the store after the bus came back")
        try:
            self._handle_emit(
                {
                    "method": "emit",
                    "event": RESYNC_EVENT,
                    "data": [payload],
                    "binary": False,
                    "namespace": "/",
                    "room": None,
                    "skip_sid": None,
                    "callback": None,
                    "host_id": self.host_id,
                }
            )
        except Exception:
            log.exception("could not send resync to this process's sockets")


def reseed_live_board(app: Any) -> None:
    """Move this process's live markers to the newest stored fix of each team: fixes other
    processes took during the outage reached the database, not this board."""
    from dispatch.live.hub import fix_from_row

    hub = app.extensions.get("dispatch.live")
    if hub is None:
        return
    for row in hub.store.latest_positions():
        hub.board.seed(int(row["team_id"]), fix_from_row(row), source=row.get("source"))


def client_manager(url: str | None, app: Any = None) -> ResyncingRedisManager | None:
    """The manager for ``socketio.init_app(client_manager=...)``: None without Redis (the
    default in-process manager; passing None also drops one an earlier app had set)."""
    if not url:
        return None
    on_resync = None if app is None else (lambda _payload: reseed_live_board(app))
    return ResyncingRedisManager(url, on_resync=on_resync)
