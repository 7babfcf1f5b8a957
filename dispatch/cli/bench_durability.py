"""`dispatch bench durability`: kill -9 of the server under position load, then count.

Phones report over sockets; the server is killed (SIGKILL) in the middle of the load and
started again. Every position the server acknowledged must be in the database after the
restart, and the database must pass ``PRAGMA integrity_check``. The figures: reports sent,
acknowledged, found after the restart, lost, and the restart time.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import click

from dispatch.cli.bench_live import ORIGIN, _seed, bench_server, connect_socket


class PhoneLoad:
    """Phones reporting one fix per event at ``rate`` per second each, from a background thread
    (one asyncio loop for every socket), until :meth:`stop`.

    What the drills read: ``sent`` (client ids emitted), ``acked`` (client ids the server
    acknowledged as stored), ``errors`` (error acknowledgements: code -> count, with the last
    body of each code in ``error_bodies``), ``acks`` ((time sent, seconds to the
    acknowledgement) of every acknowledgement, stored or not). A report sent when the server
    is gone is counted in ``sent`` only.
    """

    def __init__(self, url: str, tokens: list[str], *, rate: float, prefix: str = "p") -> None:
        self.url, self.tokens, self.rate, self.prefix = url, tokens, rate, prefix
        self.sent: list[str] = []
        self.acked: set[str] = set()
        self.errors: dict[str, int] = {}
        self.error_bodies: dict[str, dict[str, Any]] = {}
        self.acks: list[tuple[float, float]] = []
        self.connected = threading.Event()
        self.failure: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="phone-load", daemon=True)

    def start(self, timeout_s: float = 30.0) -> PhoneLoad:
        """Connect every phone and start reporting; raises if they could not connect."""
        self._thread.start()
        if not self.connected.wait(timeout_s) or self.failure:
            self.stop()
            raise RuntimeError(f"phones could not connect: {self.failure or 'timeout'}")
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop reporting and close the sockets (waits for acknowledgements in flight)."""
        self._stop.set()
        self._thread.join(timeout_s)

    def ack_ms(self, since: float = 0.0, until: float = float("inf")) -> list[float]:
        """Acknowledgement times (ms) of the reports sent in [since, until), sorted."""
        return sorted(d * 1000 for t, d in list(self.acks) if since <= t < until)

    def _main(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        gate = asyncio.Semaphore(8)
        try:
            clients = await asyncio.gather(
                *(connect_socket(self.url, t, gate=gate) for t in self.tokens)
            )
        except Exception as exc:  # reported by start()
            self.failure = str(exc)
            self.connected.set()
            return
        self.connected.set()
        try:
            await asyncio.gather(*(self._phone(k, c) for k, c in enumerate(clients)))
            await asyncio.sleep(0.5)  # the last acknowledgements
        finally:
            await asyncio.wait([asyncio.create_task(c.disconnect()) for c in clients], timeout=2)

    async def _phone(self, k: int, client: Any) -> None:
        period = 1.0 / self.rate
        due = time.time() + period * k / max(1, len(self.tokens))
        i = 0
        while not self._stop.is_set():
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            i += 1
            cid = f"{self.prefix}-{k}-{i}"
            fix = {
                "client_id": cid,
                "lon": ORIGIN[0] + 0.0001 * k,
                "lat": ORIGIN[1] + 1e-5 * i,
                "device_time_s": time.time(),
                "accuracy_m": 5.0,
            }
            sent_at = time.time()
            self.sent.append(cid)

            def ack(reply: dict[str, Any], cid: str = cid, sent_at: float = sent_at) -> None:
                self.acks.append((sent_at, time.time() - sent_at))
                if reply.get("ok"):
                    self.acked.add(cid)
                else:
                    code = str(reply.get("code"))
                    self.errors[code] = self.errors.get(code, 0) + 1
                    self.error_bodies[code] = reply

            try:
                await client.emit("position", fix, callback=ack)
            except Exception:  # the server is gone: the report stays unacknowledged
                pass
            due += period


def health_ms(url: str, timeout_s: float = 5.0) -> tuple[float, dict[str, Any] | None]:
    """(milliseconds, body) of one GET /api/health; the body is None when it failed."""
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(f"{url}/api/health", timeout=timeout_s) as reply:
            body = json.loads(reply.read())
    except (OSError, ValueError):
        body = None
    return (time.perf_counter() - t0) * 1000, body


def wait_healthy(url: str, timeout_s: float = 60.0) -> float:
    """Seconds until /api/health says the database can write."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        _, body = health_ms(url, timeout_s=2.0)
        if body and body.get("database"):
            return time.perf_counter() - t0
        time.sleep(0.05)
    raise click.ClickException(f"{url} was not healthy within {timeout_s:g} s")


def integrity(db_path: Path) -> str:
    """``PRAGMA integrity_check`` of the database ("ok" when sound)."""
    conn = sqlite3.connect(str(db_path))
    try:
        return "; ".join(r[0] for r in conn.execute("PRAGMA integrity_check"))
    finally:
        conn.close()


def stored_client_ids(db_path: Path, prefix: str) -> set[str]:
    """The client ids of the stored positions that start with ``prefix``."""
    conn = sqlite3.connect(str(db_path))
    try:
        return {
            r[0]
            for r in conn.execute(
                "SELECT client_id FROM positions WHERE client_id LIKE ?", (f"{prefix}-%",)
            )
        }
    finally:
        conn.close()


def run_durability(
    *,
    phones: int = 40,
    rate: float = 10.0,
    kill_after_s: float = 4.0,
    server_kind: str = "gevent",
    echo: Any = None,
) -> dict[str, Any]:
    """Seed a database, serve it, load it with ``phones`` x ``rate`` reports/s, SIGKILL the
    server after ``kill_after_s``, start it again; the figures."""
    say = echo or (lambda _m: None)
    with tempfile.TemporaryDirectory(prefix="dispatch-bench-durability-") as tmp:
        var_dir = Path(tmp)
        db_path = var_dir / "dispatch.sqlite"
        tokens, _ = _seed(db_path, phones, 1)
        with bench_server(var_dir, server_kind) as (url, server):
            wait_healthy(url)
            say(f"{phones} phones x {rate:g} reports/s on the {server_kind} server")
            load = PhoneLoad(url, tokens, rate=rate, prefix="k9").start()
            time.sleep(kill_after_s)
            os.kill(server.pid, signal.SIGKILL)
            server.wait()
            load.stop()
        say(f"server killed after {kill_after_s:g} s: {len(load.acked)} reports acknowledged")
        acked = set(load.acked)
        t0 = time.perf_counter()
        with bench_server(var_dir, server_kind) as (url, _server):
            restart_s = time.perf_counter() - t0
            ready_s = restart_s + wait_healthy(url)
            found = stored_client_ids(db_path, "k9")
            check = integrity(db_path)
    lost = acked - found
    return {
        "server": server_kind,
        "phones": phones,
        "rate_per_phone_s": rate,
        "killed_after_s": kill_after_s,
        "sent": len(load.sent),
        "acknowledged": len(acked),
        "found_after_restart": len(found),
        "lost": len(lost),
        "lost_examples": sorted(lost)[:10],
        "stored_not_acknowledged": len(found - acked),
        "error_acks": dict(load.errors),
        "integrity_check": check,
        "restart_s": round(restart_s, 2),
        "ready_s": round(ready_s, 2),
    }


@click.command()
@click.option(
    "--phones",
    type=click.IntRange(1, 1000),
    default=40,
    show_default=True,
    help="Phones reporting (one socket each).",
)
@click.option(
    "--rate",
    type=click.FloatRange(0.1, 50),
    default=10.0,
    show_default=True,
    help="Reports per second per phone (40 x 10: 400 reports/s).",
)
@click.option(
    "--kill-after",
    "kill_after_s",
    type=click.FloatRange(0.5, 600),
    default=4.0,
    show_default=True,
    help="Seconds of load before the server is killed with SIGKILL.",
)
@click.option(
    "--server",
    "server_kind",
    type=click.Choice(["gevent", "werkzeug"]),
    default="gevent",
    show_default=True,
    help="gevent: the production server; werkzeug: the threading server.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def durability(
    phones: int, rate: float, kill_after_s: float, server_kind: str, as_json: bool
) -> None:
    """kill -9 of the server under position load: no acknowledged position may be lost.

    Phones report over sockets; the server is killed (SIGKILL) under load, started again,
    and every acknowledged position is looked for in the database, which must pass
    PRAGMA integrity_check. restart_s: from the new process to its listening socket;
    ready_s: until /api/health says the database can write.

    Example: dispatch bench durability --phones 40 --rate 10 --json
    """
    result = run_durability(
        phones=phones,
        rate=rate,
        kill_after_s=kill_after_s,
        server_kind=server_kind,
        echo=None if as_json else click.echo,
    )
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(
            f"sent {result['sent']}, acknowledged {result['acknowledged']}, found after restart"
            f" {result['found_after_restart']}, lost {result['lost']}; integrity_check"
            f" {result['integrity_check']}; restart {result['restart_s']} s (ready"
            f" {result['ready_s']} s)"
        )
    if result["lost"] or result["integrity_check"] != "ok":
        raise SystemExit(1)
