"""`dispatch bench live`: many phones and coordinators on loopback against one server process."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import click

#: Metres per degree of latitude (near enough for synthetic tracks).
M_PER_DEG = 111_195.0
#: The benchmark's tracks start here (Melun) and run north-east.
ORIGIN = (2.6555, 48.54)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index]


def _seed(db_path: Path, teams: int, coordinators: int) -> tuple[list[str], list[str]]:
    from dispatch.store import Store

    with Store(db_path) as store:
        user = store.add_user(
            "bench-coordinator", role="coordinator", password=os.urandom(12).hex()
        )
        coord_tokens = [
            store.create_api_token(user["id"], label=f"bench {i}") for i in range(coordinators)
        ]
        team_tokens = []
        for i in range(teams):
            team = store.add_team(
                {"name": f"Bench {i:04d}", "base_lon": ORIGIN[0], "base_lat": ORIGIN[1]}
            )
            code = store.create_pairing(team["id"])["code"]
            team_tokens.append(store.pair_device(code, label="bench")["token"])
    return team_tokens, coord_tokens


def serve_for_bench(var_dir: str, port: int, server: str = "threading") -> None:
    """Entry point of the server subprocess: one process, set up as `dispatch serve` does
    (``server`` "threading", or "gevent" in a process dispatch.web.gevent_main patched)."""
    import logging

    from dispatch.settings import load_settings
    from dispatch.web.app import create_app, socketio, tune_gc
    from dispatch.web.live import get_hub

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    if server == "gevent":
        from dispatch.web.gevent_main import patch_websocket

        patch_websocket()
    settings = load_settings(var_dir=var_dir, port=port, server=server)
    app = create_app(settings)
    get_hub(app)
    tune_gc()
    socketio.run(
        app,
        host="127.0.0.1",
        port=port,
        allow_unsafe_werkzeug=True,
        use_reloader=False,
        log_output=False,
    )


def _ms(values: list[float], q: float) -> float | None:
    p = _percentile(values, q)
    return None if p is None else round(p * 1000, 1)


def _cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process (Linux /proc), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _machine_cpu_s() -> float | None:
    """CPU seconds spent by the whole machine, all cores, not idle (Linux /proc/stat)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def client_worker(
    url: str,
    first: int,
    total: int,
    phone_tokens: list[str],
    coord_tokens: list[str],
    rate: float,
    phases: list[tuple[str, float, float, float, int]],
    out: Any,
) -> None:
    """One client process: asyncio python-socketio clients (one event loop drives hundreds of
    sockets for a fraction of a core, unlike one thread per socket); puts
    ``{phase: {sent, stored, errors, latency_s, ack_s}}`` on ``out``."""
    import asyncio

    from dispatch.web.app import tune_gc

    # The clients are the measuring instrument: their collector pauses would count as latency.
    tune_gc()
    asyncio.run(_client_main(url, first, total, phone_tokens, coord_tokens, rate, phases, out))
    # The statistics (megabytes of latencies) must be written out before the hard exit: a
    # message cut short leaves the parent blocked reading it.
    out.close()
    out.join_thread()
    os._exit(0)  # lingering websocket tasks of a closed loop must not hold the process


def idle_worker(url: str, tokens: list[str], out: Any, stop: Any) -> None:
    """One process holding ``tokens``' coordinator sockets open, unmeasured, until ``stop`` is
    set (``--idle-sockets``: maps left open); puts ``{"connected": n}`` on ``out``."""
    import asyncio

    async def main() -> None:
        gate = asyncio.Semaphore(16)
        try:
            clients = await asyncio.gather(*(connect_socket(url, t, gate=gate) for t in tokens))
        except Exception as exc:  # reported to the parent, which stops the run
            out.put({"error": f"idle sockets: connection failed: {exc}"})
            return
        out.put({"connected": len(clients)})
        while not stop.is_set():
            await asyncio.sleep(0.2)
        await asyncio.wait([asyncio.create_task(c.disconnect()) for c in clients], timeout=5)

    asyncio.run(main())
    out.close()
    out.join_thread()
    os._exit(0)


async def connect_socket(url: str, token: str, *, gate: Any, on_live: Any = None) -> Any:
    """One asyncio python-socketio client connected with ``token`` (``gate``: an
    ``asyncio.Semaphore`` bounding the handshakes in flight), ``on_live`` on the "live" event."""
    import socketio as sio

    from dispatch.web.wire import FastPacket, OrjsonCodec

    # The clients are the measuring instrument and share the machine with the server: the
    # same cheaper JSON and packet code as the server keeps their share of the cores small.
    client = sio.AsyncClient(reconnection=False, serializer=FastPacket, json=OrjsonCodec)
    if on_live is not None:
        client.on("live", on_live)
    async with gate:
        await client.connect(url, auth={"token": token}, transports=["websocket"], wait_timeout=30)
    return client


async def _client_main(
    url: str,
    first: int,
    total: int,
    phone_tokens: list[str],
    coord_tokens: list[str],
    rate: float,
    phases: list[tuple[str, float, float, float, int]],
    out: Any,
) -> None:
    import asyncio

    stats: dict[str, dict[str, Any]] = {
        name: {"sent": 0, "stored": 0, "errors": 0, "latency_s": [], "ack_s": []}
        for name, *_ in phases
    }
    current: dict[str, Any] = {"name": None}

    def on_live(batch: dict[str, Any]) -> None:
        # Coordinators only read the fixes' timestamps: the cost of a real map is in the page.
        name = current["name"]
        positions = batch.get("positions")
        if name is None or not positions:
            return
        now = time.time()
        stats[name]["latency_s"].extend(now - p["fix_at"] for p in positions)

    gate = asyncio.Semaphore(16)
    try:
        coords = await asyncio.gather(
            *(connect_socket(url, t, gate=gate, on_live=on_live) for t in coord_tokens)
        )
        phones = await asyncio.gather(*(connect_socket(url, t, gate=gate) for t in phone_tokens))
    except Exception as exc:  # reported to the parent, which stops the run
        out.put({"error": f"connection failed: {exc}"})
        return
    out.put({"connected": len(coords) + len(phones)})

    tracks: dict[int, dict[str, Any]] = {}

    async def phone_loop(
        k: int,
        client: Any,
        name: str,
        start_at: float,
        seconds: float,
        phase_rate: float,
        per_message: int,
    ) -> None:
        # One track per phone for the whole run: starting each phase again at the origin was
        # a teleport the server rightly flagged as a jump and did not draw (1 % of the pushes).
        track = tracks.setdefault(
            k, {"i": 0, "lon": ORIGIN[0] + 0.0001 * (first + k), "lat": ORIGIN[1]}
        )
        period = 1.0 / phase_rate
        due = start_at + period * (first + k) / total  # phones spread evenly over the period
        st = stats[name]
        while due < start_at + seconds:
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            now = time.time()
            batch = []
            for j in range(per_message):
                track["i"] += 1
                track["lat"] += 12.0 * period / M_PER_DEG  # 12 m/s along a meridian
                batch.append(
                    {
                        "client_id": f"{name}-{first + k}-{track['i']}",
                        "lon": track["lon"],
                        "lat": track["lat"],
                        # Stamped when the fix is due, as a phone stamps its GPS time: a late
                        # send counts in the latency, and the track's speed stays 12 m/s (send
                        # times would make a catch-up look like an impossible jump). A burst
                        # holds the fixes of the last periods (an outbox).
                        "device_time_s": due - (per_message - 1 - j) * period,
                        "accuracy_m": 5.0,
                        "speed_mps": 12.0,
                        "heading_deg": 0.0,
                    }
                )
            st["sent"] += per_message

            def ack(reply: dict[str, Any], sent_at: float = now, n: int = per_message) -> None:
                st["ack_s"].append(time.time() - sent_at)
                if reply.get("ok"):
                    st["stored"] += int(reply["stored"])
                else:
                    st["errors"] += n

            payload = batch[0] if per_message == 1 else {"positions": batch}
            try:
                await client.emit("position", payload, callback=ack)
            except Exception:
                st["errors"] += per_message
            due += period

    for name, start_at, seconds, phase_rate, per_message in phases:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        current["name"] = name
        await asyncio.gather(
            *(
                phone_loop(k, c, name, start_at, seconds, phase_rate, per_message)
                for k, c in enumerate(phones)
            )
        )
        await asyncio.sleep(1.5)  # the last acks and pushes
        current["name"] = None
    out.put({"stats": stats})
    await asyncio.wait([asyncio.create_task(c.disconnect()) for c in (*coords, *phones)], timeout=3)


def join_processes(procs: list[Any], *, timeout_s: float = 5.0) -> None:
    """Wait for client processes to end, terminating those still alive after ``timeout_s``."""
    for proc in procs:
        proc.join(timeout=timeout_s)
        if proc.is_alive():
            proc.terminate()


@contextmanager
def bench_server(
    var_dir: Path, server_kind: str = "gevent", *, env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A server process on a free loopback port over ``var_dir`` (its log in
    ``var_dir / "server.log"``), listening: yields ``(url, process)``, stops it on exit.

    ``server_kind``: "gevent" (the production server) or "werkzeug" (threading); ``env``:
    more variables for the server (``DISPATCH_*`` settings)."""
    if server_kind == "gevent":
        from dispatch.web.app import missing_for_gevent

        missing = missing_for_gevent()
        if missing:
            raise click.ClickException(
                f"--server gevent needs {' and '.join(missing)}: install dispatch again "
                "(pip install .), or measure the threading server: --server werkzeug"
            )
    port = _free_port()
    # The gevent entry module must be imported first: it patches the standard library.
    first = (
        "from gevent import monkey; monkey.patch_all(); import dispatch.web.gevent_main; "
        if server_kind == "gevent"
        else ""
    )
    mode = "gevent" if server_kind == "gevent" else "threading"
    cmd = [
        sys.executable,
        "-c",
        f"{first}from dispatch.cli.bench_live import serve_for_bench; "
        f"serve_for_bench({str(var_dir)!r}, {port}, {mode!r})",
    ]
    # The server's log goes to a file (a pipe nobody reads would block it once full).
    log_path = var_dir / "server.log"
    with log_path.open("wb") as log_file:
        server = subprocess.Popen(
            cmd,
            env={**os.environ, "DISPATCH_VAR_DIR": str(var_dir), **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
        try:
            _wait_port(port, server, log_path, timeout_s=60)
            yield f"http://127.0.0.1:{port}", server
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()


def run_bench(
    *,
    teams: int,
    coordinators: int,
    rate: float,
    duration_s: float,
    burst: int,
    load: float,
    load_s: float,
    procs: int = 2,
    server_kind: str = "werkzeug",
    idle_sockets: int = 0,
    echo: Any = None,
) -> dict[str, Any]:
    """Start a server, spread the clients over ``procs`` processes, run the phases.

    ``idle_sockets`` more coordinator sockets stay connected in processes of their own
    (they receive the pushes, as open maps do, but are not measured)."""
    import multiprocessing

    say = echo or (lambda _m: None)
    with tempfile.TemporaryDirectory(prefix="dispatch-bench-live-") as tmp:
        var_dir = Path(tmp)
        say(f"seeding {teams} teams with a paired phone and {coordinators} coordinator tokens")
        team_tokens, coord_tokens = _seed(
            var_dir / "dispatch.sqlite", teams, coordinators + idle_sockets
        )
        coord_tokens, idle_tokens = coord_tokens[:coordinators], coord_tokens[coordinators:]
        log_path = var_dir / "server.log"
        workers: list[Any] = []
        with bench_server(var_dir, server_kind) as (url, server), ExitStack() as stack:
            stack.callback(join_processes, workers)  # before the server stops
            ctx = multiprocessing.get_context("spawn")
            out = ctx.Queue()
            if idle_tokens:
                stop_idle = ctx.Event()
                stack.callback(stop_idle.set)  # before the workers are joined
                idle_out = ctx.Queue()
                per = math.ceil(len(idle_tokens) / procs)
                idle_procs = 0
                for w in range(procs):
                    tokens = idle_tokens[w * per : (w + 1) * per]
                    if not tokens:
                        continue
                    proc = ctx.Process(
                        target=idle_worker, args=(url, tokens, idle_out, stop_idle), daemon=True
                    )
                    proc.start()
                    workers.append(proc)
                    idle_procs += 1
                say(f"connecting {len(idle_tokens)} idle coordinator sockets")
                idle_connected = 0
                for _ in range(idle_procs):
                    msg = idle_out.get(timeout=60 + len(idle_tokens) * 0.3)
                    if "error" in msg:
                        raise click.ClickException(msg["error"])
                    idle_connected += msg["connected"]
                say(f"{idle_connected} idle coordinator sockets connected")
            idle_workers = len(workers)
            say(
                f"connecting {coordinators} coordinators and {teams} phones "
                f"from {procs} client processes"
            )
            # Phases start at absolute times so that every worker runs them together.
            connect_budget_s = 20 + (teams + coordinators) * 0.15
            t_start = time.time() + connect_budget_s
            plan = [("steady", t_start, duration_s, rate, 1)]
            if load_s > 0:
                plan.append(("load", t_start + duration_s + 2.0, load_s, rate * load, burst))
            chunk = math.ceil(teams / procs)
            cchunk = math.ceil(coordinators / procs)
            for w in range(procs):
                phones = team_tokens[w * chunk : (w + 1) * chunk]
                coords = coord_tokens[w * cchunk : (w + 1) * cchunk]
                proc = ctx.Process(
                    target=client_worker,
                    args=(url, w * chunk, teams, phones, coords, rate, plan, out),
                    daemon=True,
                )
                proc.start()
                workers.append(proc)
            connected = 0
            for _ in range(len(workers) - idle_workers):
                msg = out.get(timeout=connect_budget_s + 30)
                if "error" in msg:
                    raise click.ClickException(msg["error"])
                connected += msg["connected"]
            if time.time() > t_start:
                raise click.ClickException("connecting the clients took longer than planned")
            say(
                f"{connected} sockets connected; steady: {teams} phones x {rate:g}/s"
                + (
                    f", then load: {teams} phones x {rate * load:g}/s x {burst} fix(es)"
                    if load_s > 0
                    else ""
                )
            )
            cpu: dict[str, dict[str, float]] = {}
            for name, start_at, seconds, _, _ in plan:
                while time.time() < start_at:
                    time.sleep(0.02)
                before = [_cpu_s(server.pid)] + [_cpu_s(p.pid) for p in workers]
                machine_before = _machine_cpu_s()
                load_before = os.getloadavg()[0]
                time.sleep(seconds + 1.0)
                after = [_cpu_s(server.pid)] + [_cpu_s(p.pid) for p in workers]
                machine_after = _machine_cpu_s()
                spent = [
                    b - a
                    for a, b in zip(before, after, strict=True)
                    if a is not None and b is not None
                ]
                if len(spent) == len(before):
                    span = seconds + 1.0
                    cpu[name] = {
                        "server_cpu_per_s": round(spent[0] / span, 2),
                        "clients_cpu_per_s": round(sum(spent[1:]) / span, 2),
                        "loadavg_1min_before": round(load_before, 2),
                        "loadavg_1min_after": round(os.getloadavg()[0], 2),
                    }
                    if machine_before is not None and machine_after is not None:
                        # Everything else on the machine (other jobs competing for the cores).
                        others = machine_after - machine_before - sum(spent)
                        cpu[name]["others_cpu_per_s"] = round(max(0.0, others) / span, 2)
            results = []
            for _ in range(len(workers) - idle_workers):
                msg = out.get(timeout=60)
                results.append(msg["stats"])
        server_log = log_path.read_text(errors="replace").splitlines()
        from dispatch.store import Store

        with Store(var_dir / "dispatch.sqlite") as store:
            in_db = store.list_positions(limit=1).total
    summary: dict[str, Any] = {
        "teams": teams,
        "coordinators": coordinators,
        "rate_per_team_s": rate,
        "client_processes": procs,
        "server": server_kind,
        "idle_sockets": idle_sockets,
        "cpu_count": os.cpu_count(),
        "positions_in_database": in_db,
        # Errors the server logged (tracebacks, ERROR lines): 0 in a healthy run.
        "server_log_errors": sum(
            1 for line in server_log if line.startswith(("Traceback", "ERROR", "CRITICAL"))
        ),
        "server_log_tail": server_log[-5:],
    }
    for name, _, seconds, phase_rate, per_message in plan:
        merged: dict[str, Any] = {"sent": 0, "stored": 0, "errors": 0, "latency_s": [], "ack_s": []}
        for stats in results:
            for key in ("sent", "stored", "errors"):
                merged[key] += stats[name][key]
            merged["latency_s"] += stats[name]["latency_s"]
            merged["ack_s"] += stats[name]["ack_s"]
        summary[name] = {
            "duration_s": seconds,
            "fixes_per_report": per_message,
            "reports_per_team_s": phase_rate,
            "offered_per_s": round(teams * phase_rate * per_message, 1),
            "sent": merged["sent"],
            "stored": merged["stored"],
            "errors": merged["errors"],
            "stored_per_s": round(merged["stored"] / seconds, 1),
            "deliveries": len(merged["latency_s"]),
            "expected_deliveries": merged["stored"] * coordinators,
            "delivered_per_s": round(len(merged["latency_s"]) / seconds, 1),
            "latency_ms": {
                "p50": _ms(merged["latency_s"], 50),
                "p99": _ms(merged["latency_s"], 99),
                "max": _ms(merged["latency_s"], 100),
            },
            "ack_ms": {"p50": _ms(merged["ack_s"], 50), "p99": _ms(merged["ack_s"], 99)},
            "cpu": cpu.get(name, {}),
        }
    return summary


def _wait_port(
    port: int, server: subprocess.Popen[bytes], log_path: Path, *, timeout_s: float
) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if server.poll() is not None:
            err = log_path.read_text(errors="replace")
            raise click.ClickException(f"the bench server exited: {err[-800:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise click.ClickException(f"the bench server did not listen on port {port} in {timeout_s} s")


@click.command()
@click.option(
    "--teams",
    type=click.IntRange(1, 5000),
    default=200,
    show_default=True,
    help="Phones reporting (one socket each).",
)
@click.option(
    "--coordinators",
    type=click.IntRange(1, 500),
    default=20,
    show_default=True,
    help="Coordinator map sockets receiving every position.",
)
@click.option(
    "--rate",
    type=click.FloatRange(0.01, 50),
    default=1.0,
    show_default=True,
    help="Positions per second per phone in the steady phase.",
)
@click.option(
    "--duration",
    "duration_s",
    type=click.FloatRange(1, 600),
    default=15.0,
    show_default=True,
    help="Seconds of the steady phase.",
)
@click.option(
    "--load",
    type=click.FloatRange(0.1, 1000),
    default=10.0,
    show_default=True,
    help="Load phase: each phone reports this many times faster than --rate.",
)
@click.option(
    "--load-duration",
    "load_s",
    type=click.FloatRange(0, 600),
    default=10.0,
    show_default=True,
    help="Seconds of the load phase (0 to skip).",
)
@click.option(
    "--burst",
    type=click.IntRange(1, 500),
    default=1,
    show_default=True,
    help="Fixes per report in the load phase (more than 1: outbox flushes).",
)
@click.option(
    "--procs",
    type=click.IntRange(1, 16),
    default=None,
    help="Client processes, each one asyncio loop for its share of the sockets (default: "
    "the cores but one, at least 1: on 2 cores, two client processes and the server "
    "competed for the cores and doubled the p99).",
)
@click.option(
    "--server",
    "server_kind",
    type=click.Choice(["gevent", "werkzeug"]),
    default="gevent",
    show_default=True,
    help="gevent: `dispatch serve`'s default server; werkzeug: its threading server "
    "(`dispatch serve --server threading`).",
)
@click.option(
    "--idle-sockets",
    type=click.IntRange(0, 5000),
    default=0,
    show_default=True,
    help="More coordinator sockets held open in their own processes, unmeasured (maps left "
    "open: they receive the pushes); the phones' acknowledgement shows what they cost.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def live(
    teams: int,
    coordinators: int,
    rate: float,
    duration_s: float,
    load: float,
    load_s: float,
    burst: int,
    procs: int | None,
    server_kind: str,
    idle_sockets: int,
    as_json: bool,
) -> None:
    """Positions stored per second and report-to-coordinator latency, on loopback.

    A server process (the production gevent server, or what --server says) on a temporary
    database; phones
    and coordinators are asyncio python-socketio clients in --procs processes. The steady phase
    sends one fix per report at --rate per phone; the load phase reports --load times faster
    (200 phones at 1/s with --load 10 offer 2,000 positions/s, one socket event each), with
    --burst fixes per report. Latency: from the fix's time to its arrival at each coordinator
    (same clock, loopback). CPU is measured per process; the clients share the machine.

    Example: dispatch bench live --teams 200 --coordinators 20 --rate 1 --json
    """
    result = run_bench(
        teams=teams,
        coordinators=coordinators,
        rate=rate,
        duration_s=duration_s,
        burst=burst,
        load=load,
        load_s=max(load_s, 0.0),
        procs=procs or max(1, (os.cpu_count() or 2) - 1),
        server_kind=server_kind,
        idle_sockets=idle_sockets,
        echo=None if as_json else click.echo,
    )
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    for name in ("steady", "load"):
        r = result.get(name)
        if r is None:
            continue
        lat = r["latency_ms"]
        click.echo(
            f"{name:>9}: {r['stored_per_s']:>8.1f} positions/s stored, "
            f"{r['delivered_per_s']:>9.1f} deliveries/s to coordinators, latency p50 "
            f"{lat['p50']} ms p99 {lat['p99']} ms (ack p50 {r['ack_ms']['p50']} ms), "
            f"errors {r['errors']}, CPU s/s server {r['cpu'].get('server_cpu_per_s')} "
            f"clients {r['cpu'].get('clients_cpu_per_s')}"
        )
    click.echo(
        f"database: {result['positions_in_database']} positions; server log: "
        f"{result['server_log_errors']} error(s)"
    )
