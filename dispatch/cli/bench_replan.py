"""`dispatch bench replan`: plan changes through the REST API, timed to every phone and map."""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from dispatch.cli import get_settings
from dispatch.cli.bench_live import (
    _cpu_s,
    _machine_cpu_s,
    _ms,
    bench_server,
    connect_socket,
    join_processes,
)

#: The changes a coordinator makes, as the ``change`` field of their ``changes`` summary.
KINDS = ("move", "insert", "optimise")
#: The server's rounds clock starts the day at this local time (setting ``clock_start``), so
#: that the bench does the same work at any hour (at 19:00 the real clock would leave no time
#: in the day to move or insert visits): before the rounds start, nothing of the day is over
#: (no phone checks in here), every visit can move. Urgent visits are due in URGENT_WINDOW.
CLOCK_START_S = 6 * 3600 + 30 * 60
URGENT_WINDOW = ("10:00", "13:00")
#: Longest wait for an optimisation job beyond its budget (seconds).
JOB_GRACE_S = 60.0


@dataclass(frozen=True)
class ReplanParams:
    """What one run of the bench does; every count and wait is bounded."""

    phones: int = 200
    coordinators: int = 20
    moves: int = 20
    inserts: int = 10
    optimisations: int = 3
    visits: int = 500
    teams: int = 40
    time_limit_s: float = 3.0
    change_timeout_s: float = 15.0
    max_s: float = 900.0
    server: str = "gevent"
    seed: int = 0

    def __post_init__(self) -> None:
        for name, low, high in (
            ("phones", 1, 2000),
            ("coordinators", 1, 200),
            ("moves", 0, 1000),
            ("inserts", 0, 1000),
            ("optimisations", 0, 100),
            ("visits", 10, 2000),
            ("teams", 2, 200),
        ):
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"{name} must be between {low} and {high}, not {value}")
        if self.moves + self.inserts + self.optimisations == 0:
            raise ValueError("nothing to measure: give at least one move, insert or optimisation")
        if self.teams > self.visits:
            raise ValueError(f"{self.teams} teams for {self.visits} visits: give fewer teams")
        if not 0.5 <= self.time_limit_s <= 60:
            raise ValueError("time_limit_s must be between 0.5 and 60 seconds")
        if not 1 <= self.change_timeout_s <= 120:
            raise ValueError("change_timeout_s must be between 1 and 120 seconds")
        if self.max_s < 10:
            raise ValueError("max_s must be at least 10 seconds")
        if self.server not in ("gevent", "werkzeug"):
            raise ValueError(f"server must be gevent or werkzeug, not {self.server!r}")


@dataclass
class Seeded:
    """The day written to the bench's database, and who connects to it."""

    day: str
    team_skills: dict[int, frozenset[str]]
    visit_skills: dict[int, frozenset[str]]
    points: list[tuple[float, float]]
    phones: list[tuple[int, str]]
    coordinator_tokens: list[str]
    rest_token: str
    initial_plan: dict[str, Any]


def seed_day(db_path: Path, settings: Any, params: ReplanParams, day: str) -> Seeded:
    """The 500-visit Haute-Corse day of `dispatch bench optimise` as teams and visits in a
    store, planned and published as `dispatch demo plan` does, phones paired round-robin on
    the teams and coordinator tokens (one per map socket, one for the REST calls)."""
    from dispatch.cli.bench_optimise import haute_corse_day
    from dispatch.demo import plan_demo_day
    from dispatch.optimise import TimeWindow
    from dispatch.store import Store
    from dispatch.store.models import format_hhmm
    from dispatch.territory import load_territory

    territory = load_territory(settings.territory, settings)
    problem, pts = haute_corse_day(
        settings,
        n_visits=params.visits,
        n_teams=params.teams,
        seed=params.seed,
        territory_id=territory.id,
    )
    bases = [(b.lon, b.lat) for b in territory.bases]
    lonlats = bases + [(float(p[0]), float(p[1])) for p in pts]
    rng = random.Random(params.seed)
    with Store(db_path) as store:
        team_id: dict[str, int] = {}
        for t in problem.teams:
            lon, lat = lonlats[t.start_location]
            row = store.add_team(
                {
                    "name": t.name,
                    "skills": sorted(t.skills),
                    "base_lon": lon,
                    "base_lat": lat,
                    "shift_start": format_hhmm(t.shift_start_s),
                    "shift_end": format_hhmm(t.shift_end_s),
                }
            )
            team_id[t.id] = int(row["id"])
        items = []
        for v in problem.visits:
            lon, lat = lonlats[v.location]
            item: dict[str, Any] = {
                "day": day,
                "pseudonym": f"Bench {v.id}",
                "lon": lon,
                "lat": lat,
                "duration_s": v.duration_s,
                "skills": sorted(v.skills),
                # The optimiser's priorities 2-5 are the store's 0-3.
                "priority": max(0, v.priority - 2),
            }
            # A visit of any time of the day (the store needs a window): the shifts' span.
            windows = v.windows or (TimeWindow(7 * 3600, 20 * 3600),)
            item["windows"] = [[w.start_s, w.end_s] for w in windows]
            if v.preferred_team_id is not None:
                item["preferred_team_id"] = team_id[v.preferred_team_id]
            items.append(item)
        created = store.add_visits(items)
        plan = plan_demo_day(store, territory, day=day, time_limit_s=params.time_limit_s)
        user = store.add_user(
            "bench-coordinator", role="coordinator", password=os.urandom(12).hex()
        )
        coordinator_tokens = [
            store.create_api_token(user["id"], label=f"bench map {i}")
            for i in range(params.coordinators)
        ]
        rest_token = store.create_api_token(user["id"], label="bench changes")
        teams = list(team_id.values())
        phones = []
        for i in range(params.phones):
            tid = teams[i % len(teams)]
            code = store.create_pairing(tid)["code"]
            phones.append((tid, store.pair_device(code, label=f"bench phone {i}")["token"]))
    rng.shuffle(phones)  # each client process gets phones of every team
    return Seeded(
        day=day,
        team_skills={team_id[t.id]: frozenset(t.skills) for t in problem.teams},
        visit_skills={
            int(row["id"]): frozenset(v.skills)
            for row, v in zip(created, problem.visits, strict=True)
        },
        points=[lonlats[v.location] for v in problem.visits],
        phones=phones,
        coordinator_tokens=coordinator_tokens,
        rest_token=rest_token,
        initial_plan=plan,
    )


# -- the sockets: one asyncio process per share of the phones and maps ---------------------------
def receipt_worker(
    url: str,
    phones: list[tuple[int, str]],
    first_phone: int,
    coordinator_tokens: list[str],
    first_coordinator: int,
    out: Any,
    stop: Any,
) -> None:
    """One client process: its phones and coordinators stay connected until ``stop`` is set
    and put every ``changes`` item they receive on ``out`` with its time of arrival."""
    import asyncio

    from dispatch.web.app import tune_gc

    tune_gc()  # the clients are the instrument: their collector pauses would count as latency
    asyncio.run(
        _receive(url, phones, first_phone, coordinator_tokens, first_coordinator, out, stop)
    )
    out.close()
    out.join_thread()
    os._exit(0)  # lingering websocket tasks of a closed loop must not hold the process


def _item_teams(item: dict[str, Any]) -> list[int]:
    if isinstance(item.get("teams"), list):
        return [int(t) for t in item["teams"]]
    return [int(item["team_id"])] if item.get("team_id") is not None else []


async def _receive(
    url: str,
    phones: list[tuple[int, str]],
    first_phone: int,
    coordinator_tokens: list[str],
    first_coordinator: int,
    out: Any,
    stop: Any,
) -> None:
    import asyncio

    def listener(role: str, index: int) -> Any:
        def on_live(batch: Any) -> None:
            if not isinstance(batch, dict):
                return
            now = time.time()
            if batch.get("etas") and role == "coordinator" and index == 0:
                # Arrival times recomputed by the server (a whole day's build, once a minute).
                out.put({"etas_at": now})
            items = batch.get("changes")
            if not items:
                return
            out.put(
                {
                    "receipts": [
                        (role, index, now, i.get("change"), i.get("plan_id"), _item_teams(i))
                        for i in items
                        if isinstance(i, dict)
                    ]
                }
            )

        return on_live

    gate = asyncio.Semaphore(16)
    try:
        clients = await asyncio.gather(
            *(
                connect_socket(url, token, gate=gate, on_live=listener("coordinator", k))
                for k, token in enumerate(coordinator_tokens, first_coordinator)
            ),
            *(
                connect_socket(url, token, gate=gate, on_live=listener("phone", k))
                for k, (_, token) in enumerate(phones, first_phone)
            ),
        )
    except Exception as exc:  # reported to the parent, which stops the run
        out.put({"error": f"connection failed: {exc}"})
        return
    out.put({"connected": len(clients)})
    while not stop.is_set():
        await asyncio.sleep(0.1)
    out.put({"dropped_sockets": sum(1 for c in clients if not c.connected)})
    await asyncio.wait([asyncio.create_task(c.disconnect()) for c in clients], timeout=3)


# -- the coordinator making changes over REST ----------------------------------------------------
class Coordinator:
    """REST calls with a coordinator's API token (no session, hence no CSRF header)."""

    def __init__(self, url: str, token: str) -> None:
        import requests

        self.url = url
        self.http = requests.Session()
        self.http.trust_env = False  # loopback only: never through a proxy of the environment
        self.http.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        response = self.http.request(method, self.url + path, json=body, timeout=120)
        try:
            data = response.json()
        except ValueError:
            data = {"error": response.text[:300]}
        return response.status_code, data if isinstance(data, dict) else {"data": data}

    def published_plan(self, day: str) -> dict[str, Any]:
        status, page = self.call("GET", f"/api/plans?day={day}&status=published&limit=1")
        items = page.get("items") or []
        if status != 200 or not items:
            raise click.ClickException(f"no published plan of {day} to change: {page}")
        status, body = self.call("GET", f"/api/plans/{items[0]['id']}")
        if status != 200:
            raise click.ClickException(f"GET /api/plans/{items[0]['id']}: {body}")
        plan: dict[str, Any] = body["plan"]
        return plan


@dataclass
class Change:
    """One change made and what the sockets received of it."""

    kind: str
    t0: float = 0.0
    status: int = 0
    rest_s: float = 0.0
    prepare_s: float = 0.0
    plan_id: int | None = None
    teams: set[int] = field(default_factory=set)
    coordinators: dict[int, float] = field(default_factory=dict)
    phones: dict[int, float] = field(default_factory=dict)
    duplicates: int = 0
    error: str | None = None
    body: dict[str, Any] = field(default_factory=dict, repr=False)


def schedule(params: ReplanParams) -> list[str]:
    """The kinds of change in order, each kind spread evenly over the run."""
    slots = []
    for kind, n in zip(KINDS, (params.moves, params.inserts, params.optimisations), strict=True):
        slots += [((k + 0.5) / n, KINDS.index(kind), kind) for k in range(n)]
    return [kind for *_, kind in sorted(slots)]


def _move(
    api: Coordinator, seeded: Seeded, rng: random.Random, change: Change, *, apply: bool = True
) -> None:
    """A visit not started to another team able to do it (the best place in its round)."""
    plan = api.published_plan(seeded.day)
    after_s = CLOCK_START_S + 600  # still to come when the move is made
    on_team = [
        (int(r["team_id"]), int(s["visit_id"]))
        for r in plan.get("routes", [])
        for s in r.get("stops", [])
        if s.get("visit_id") is not None and (s.get("start_s") or 0) >= after_s
    ]
    if not on_team:
        raise click.ClickException("the published plan has no visit to move")
    old_team, visit_id = rng.choice(on_team)
    needs = seeded.visit_skills.get(visit_id, frozenset())
    able = [t for t, skills in seeded.team_skills.items() if t != old_team and needs <= skills]
    target = rng.choice(able or [t for t in seeded.team_skills if t != old_team])
    body = {
        "day": seeded.day,
        "visit_id": visit_id,
        "team_id": target,
        "position": None,
        "apply": apply,
        "force": True,
    }
    _send_confirmed(api, change, "/api/dispatch/move", body)


def _warm_up(api: Coordinator, seeded: Seeded, rng: random.Random) -> float:
    """A move checked and not applied, not measured: a server that has been running has its
    territory loaded and its routing warm. Returns how long it took (seconds)."""
    probe = Change("move")
    started = time.perf_counter()
    status, body = api.call("GET", "/api/live/snapshot")
    if status != 200:
        raise click.ClickException(f"GET /api/live/snapshot: {status} {body.get('error')}")
    _move(api, seeded, rng, probe, apply=False)
    if probe.status != 200:
        raise click.ClickException(f"the warm-up move failed: {probe.error}")
    return time.perf_counter() - started


def _insert(api: Coordinator, seeded: Seeded, rng: random.Random, change: Change) -> None:
    """An urgent nurse visit at a place of the day, created, then inserted where best."""
    lon, lat = rng.choice(seeded.points)
    status, created = api.call(
        "POST",
        "/api/visits",
        {
            "day": seeded.day,
            "pseudonym": f"Urgence {rng.randrange(16**6):06X}",
            "lon": lon,
            "lat": lat,
            "duration_s": 1800,
            "windows": [list(URGENT_WINDOW)],
            "skills": ["infirmier"],
            "priority": 3,
        },
    )
    if status != 201:
        change.status, change.error = status, f"POST /api/visits: {created.get('error')}"
        return
    visit_id = int(created.get("visit", created)["id"])
    body = {"day": seeded.day, "visit_id": visit_id, "urgent": True}
    _send_confirmed(api, change, "/api/dispatch/insert", body)


def _optimise(api: Coordinator, seeded: Seeded, params: ReplanParams, change: Change) -> None:
    """Optimise the day, wait for the job, apply it confirming the visits it leaves out."""
    started = time.perf_counter()
    status, job = api.call(
        "POST", "/api/dispatch/optimise", {"day": seeded.day, "time_limit_s": params.time_limit_s}
    )
    if status != 202:
        change.status, change.error = status, f"optimise: {job.get('error')}"
        return
    deadline = time.time() + params.time_limit_s + JOB_GRACE_S
    job_id = job["job_id"]
    while True:
        status, job = api.call("GET", f"/api/dispatch/jobs/{job_id}")
        if job.get("state") in ("done", "failed") or time.time() > deadline:
            break
        time.sleep(0.1)
    change.prepare_s = time.perf_counter() - started
    if job.get("state") != "done":
        change.status, change.error = 0, f"optimise job: {job.get('state')} {job.get('error')}"
        return
    dropped = [int(d["visit_id"]) for d in job.get("dropped") or []]
    path = f"/api/dispatch/plans/{job['plan_id']}/apply"
    _send_confirmed(api, change, path, {"confirm_dropped": dropped})


def _send(api: Coordinator, change: Change, path: str, body: dict[str, Any]) -> None:
    """The timed request: ``t0`` is taken just before it leaves."""
    change.t0 = time.time()
    started = time.perf_counter()
    status, data = api.call("POST", path, {**body, "locale": "en"})
    change.rest_s = time.perf_counter() - started
    change.status, change.body = status, data
    if status != 200:
        change.error = f"POST {path}: {status} {data.get('code')}: {data.get('error')}"
        return
    change.error = None
    change.plan_id = data.get("plan_id")
    change.teams.update(int(t) for t in data.get("teams") or [])


def _send_confirmed(api: Coordinator, change: Change, path: str, body: dict[str, Any]) -> None:
    """:func:`_send`, sent again confirming the visits it leaves out when the server asks (as
    the coordinator would: the time runs from the confirmed request)."""
    _send(api, change, path, body)
    if change.status == 409 and change.body.get("code") == "confirm_dropped":
        details = change.body.get("details") or {}
        confirm = {int(d["visit_id"]) for d in details.get("dropped") or []}
        confirm |= set(body.get("confirm_dropped") or [])
        _send(api, change, path, {**body, "confirm_dropped": sorted(confirm)})


class Receipts:
    """The client processes' reports: each ``changes`` receipt goes to the change in flight
    when it is of that kind and plan and arrived after the change was sent."""

    def __init__(self, out: Any, phone_team: list[int], coordinators: int) -> None:
        self.out = out
        self.phone_team = phone_team
        self.coordinators = coordinators
        self.current: Change | None = None
        self.unmatched: Counter[str] = Counter()
        self.etas_at: list[float] = []
        self.messages: list[dict[str, Any]] = []

    def pump(self, timeout_s: float) -> bool:
        """Take one report (waiting up to ``timeout_s``); False when there was none."""
        import queue

        try:
            msg = self.out.get(timeout=timeout_s) if timeout_s > 0 else self.out.get_nowait()
        except queue.Empty:
            return False
        for receipt in msg.get("receipts", ()):
            self._take(*receipt)
        if "etas_at" in msg:
            self.etas_at.append(msg["etas_at"])
        elif "receipts" not in msg:
            self.messages.append(msg)
        return True

    def _take(
        self, role: str, index: int, at: float, kind: Any, plan_id: Any, teams: list[int]
    ) -> None:
        c = self.current
        if (
            c is None
            or at < c.t0
            or kind != c.kind
            or (c.plan_id is not None and plan_id is not None and plan_id != c.plan_id)
        ):
            self.unmatched[f"{role}:{kind}"] += 1
            return
        seen = c.coordinators if role == "coordinator" else c.phones
        if index in seen:
            c.duplicates += 1
            return
        seen[index] = at - c.t0
        if role == "coordinator":
            c.teams.update(teams)

    def expected_phones(self, c: Change) -> set[int]:
        return {k for k, team in enumerate(self.phone_team) if team in c.teams}

    def complete(self, c: Change) -> bool:
        return len(c.coordinators) >= self.coordinators and self.expected_phones(c) <= set(c.phones)

    def wait(self, c: Change, timeout_s: float) -> None:
        """Take reports until every map and every phone of the teams concerned has the
        change, or ``timeout_s`` after it was sent (2 s after the answer at least)."""
        deadline = max(c.t0 + timeout_s, time.time() + 2.0)
        while not self.complete(c) and time.time() < deadline:
            self.pump(min(0.2, max(0.0, deadline - time.time())))
        while self.pump(0):  # what is already there (duplicates, late items)
            pass

    def drain(self, seconds: float) -> None:
        deadline = time.time() + seconds
        while time.time() < deadline:
            self.pump(min(0.2, max(0.0, deadline - time.time())))


def _cpu_sample(pids: list[int]) -> tuple[list[float | None], float | None]:
    return [_cpu_s(pid) for pid in pids], _machine_cpu_s()


def _cpu_use(
    before: tuple[list[float | None], float | None],
    after: tuple[list[float | None], float | None],
    span_s: float,
) -> dict[str, float]:
    """CPU seconds per second of the server, of the clients (socket processes and this one)
    and of everything else on the machine (the server's solver processes included), between
    two :func:`_cpu_sample`."""
    spent = [
        None if a is None or b is None else b - a for a, b in zip(before[0], after[0], strict=True)
    ]
    if span_s <= 0 or any(x is None for x in spent):
        return {}
    used = [float(x) for x in spent if x is not None]
    out = {
        "server_cpu_per_s": round(used[0] / span_s, 2),
        "clients_cpu_per_s": round(sum(used[1:]) / span_s, 2),
    }
    if before[1] is not None and after[1] is not None:
        others = after[1] - before[1] - sum(used)
        out["others_cpu_per_s"] = round(max(0.0, others) / span_s, 2)
    return out


def _latency(values: list[float]) -> dict[str, float | None]:
    return {"p50": _ms(values, 50), "p99": _ms(values, 99), "max": _ms(values, 100)}


def run_replan(
    settings: Any, params: ReplanParams, *, procs: int | None = None, echo: Any = None
) -> dict[str, Any]:
    """Seed the day in a temporary folder, start a server and the sockets, make the changes
    one after the other and time their arrival at every phone and map."""
    import multiprocessing

    from dispatch.store.models import format_hhmm, local_today
    from dispatch.territory import build_territory

    say = echo or (lambda _m: None)
    procs = procs or max(1, (os.cpu_count() or 2) - 1)
    build_territory(settings.territory, settings, progress=lambda m: say(f"  {m}"))
    day = local_today()
    rng = random.Random(params.seed)
    with tempfile.TemporaryDirectory(prefix="dispatch-bench-replan-") as tmp:
        var_dir = Path(tmp)
        started = time.perf_counter()
        seeded = seed_day(var_dir / "dispatch.sqlite", settings, params, day)
        seed_s = time.perf_counter() - started
        say(
            f"seeded {params.visits} visits, {params.teams} teams, {params.phones} phones and "
            f"{params.coordinators} coordinators on {day} in {seed_s:.1f} s; first plan: "
            f"{seeded.initial_plan['stops']} visits planned, "
            f"{seeded.initial_plan['unassigned']} left out"
        )
        env = {
            "DISPATCH_TERRITORY": settings.territory,
            "DISPATCH_CACHE_DIR": str(settings.cache),
            "DISPATCH_DATA_PATH": os.pathsep.join(str(p) for p in settings.data_path),
            "DISPATCH_CLOCK_START": f"{day}T{format_hhmm(CLOCK_START_S)}:00",
        }
        log_path = var_dir / "server.log"
        workers: list[Any] = []
        changes: list[Change] = []
        ctx = multiprocessing.get_context("spawn")
        stop = ctx.Event()
        out = ctx.Queue()
        receipts = Receipts(out, [team for team, _ in seeded.phones], params.coordinators)
        with bench_server(var_dir, params.server, env=env) as (url, server):
            try:
                pchunk = -(-params.phones // procs)
                cchunk = -(-params.coordinators // procs)
                for w in range(procs):
                    args = (
                        url,
                        seeded.phones[w * pchunk : (w + 1) * pchunk],
                        w * pchunk,
                        seeded.coordinator_tokens[w * cchunk : (w + 1) * cchunk],
                        w * cchunk,
                        out,
                        stop,
                    )
                    proc = ctx.Process(target=receipt_worker, args=args, daemon=True)
                    proc.start()
                    workers.append(proc)
                say(f"connecting the sockets from {procs} client process(es)")
                connected = 0
                budget_s = 30 + (params.phones + params.coordinators) * 0.15
                for _ in workers:
                    msg = out.get(timeout=budget_s)
                    if "error" in msg:
                        raise click.ClickException(msg["error"])
                    connected += msg["connected"]
                # The hub's first sweep (late-visit alerts of the day) passes before measuring.
                receipts.drain(6.0)
                say(f"{connected} sockets connected; making the changes")
                api = Coordinator(url, seeded.rest_token)
                warmup_s = _warm_up(api, seeded, rng)
                pids = [server.pid, *(w.pid for w in workers), os.getpid()]
                load_before = os.getloadavg()[0]
                cpu_before = _cpu_sample(pids)
                t_changes = time.perf_counter()
                started_at = time.time()
                for kind in schedule(params):
                    if time.perf_counter() - t_changes > params.max_s:
                        say(f"stopping: {params.max_s:g} s spent")
                        break
                    change = Change(kind)
                    receipts.current = change
                    if kind == "move":
                        _move(api, seeded, rng, change)
                    elif kind == "insert":
                        _insert(api, seeded, rng, change)
                    else:
                        _optimise(api, seeded, params, change)
                    changes.append(change)
                    if change.status != 200:
                        say(f"{kind}: failed: {change.error}")
                        continue
                    receipts.wait(change, params.change_timeout_s)
                    expected = len(receipts.expected_phones(change))
                    say(
                        f"{kind:>8}: {change.rest_s * 1000:6.0f} ms answer; "
                        f"{len(change.coordinators)}/{params.coordinators} maps, "
                        f"{len(change.phones)}/{expected} phones of {len(change.teams)} teams"
                        + (
                            f", last at {max(change.phones.values()) * 1000:.0f} ms"
                            if change.phones
                            else ""
                        )
                    )
                changes_s = time.perf_counter() - t_changes
                cpu = _cpu_use(cpu_before, _cpu_sample(pids), changes_s)
                cpu["loadavg_1min_before"] = round(load_before, 2)
                cpu["loadavg_1min_after"] = round(os.getloadavg()[0], 2)
                stop.set()
                receipts.current = None
                deadline = time.time() + 10
                while (
                    sum(1 for m in receipts.messages if "dropped_sockets" in m) < len(workers)
                    and time.time() < deadline
                ):
                    receipts.pump(0.2)
            finally:
                stop.set()
                join_processes(workers)
        server_log = log_path.read_text(errors="replace").splitlines()
    return summarise(
        params,
        changes,
        receipts,
        server_kind=params.server,
        procs=procs,
        seeded=seeded,
        seed_s=seed_s,
        changes_s=changes_s,
        started_at=started_at,
        warmup_s=warmup_s,
        cpu=cpu,
        server_log=server_log,
    )


def summarise(
    params: ReplanParams,
    changes: list[Change],
    receipts: Receipts,
    *,
    server_kind: str,
    procs: int,
    seeded: Seeded,
    seed_s: float,
    changes_s: float,
    started_at: float,
    warmup_s: float,
    cpu: dict[str, float],
    server_log: list[str],
) -> dict[str, Any]:
    """The figures of a run (latencies over every receipt of every applied change)."""
    applied = [c for c in changes if c.status == 200]

    def figures(of: list[Change]) -> dict[str, Any]:
        phones = [v for c in of for v in c.phones.values()]
        maps = [v for c in of for v in c.coordinators.values()]
        expected_phones = sum(len(receipts.expected_phones(c)) for c in of)
        return {
            "changes": len(of),
            "phone_latency_ms": _latency(phones),
            "coordinator_latency_ms": _latency(maps),
            "answer_ms": _latency([c.rest_s for c in of]),
            "phone_receipts": len(phones),
            "phone_receipts_expected": expected_phones,
            "missed_phone_deliveries": sum(
                len(receipts.expected_phones(c) - set(c.phones)) for c in of
            ),
            "missed_coordinator_deliveries": sum(
                params.coordinators - len(c.coordinators) for c in of
            ),
            "teams_per_change": round(sum(len(c.teams) for c in of) / len(of), 1) if of else None,
        }

    overall = figures(applied)
    by_kind: dict[str, Any] = {}
    for kind in KINDS:
        of = [c for c in applied if c.kind == kind]
        if of:
            by_kind[kind] = figures(of)
    if "optimise" in by_kind:
        # The job itself (solve, polled): before the timed apply.
        by_kind["optimise"]["job_ms"] = _latency(
            [c.prepare_s for c in applied if c.kind == "optimise"]
        )
    dropped = sum(int(m.get("dropped_sockets", 0)) for m in receipts.messages)
    unexpected = sum(1 for c in applied for k in c.phones if receipts.phone_team[k] not in c.teams)
    return {
        "phone_latency_ms": overall["phone_latency_ms"],
        "coordinator_latency_ms": overall["coordinator_latency_ms"],
        "changes": len(applied),
        "changes_failed": len(changes) - len(applied),
        "errors": [c.error for c in changes if c.error][:5],
        "missed_phone_deliveries": overall["missed_phone_deliveries"],
        "missed_coordinator_deliveries": overall["missed_coordinator_deliveries"],
        "phone_receipts": overall["phone_receipts"],
        "phone_receipts_expected": overall["phone_receipts_expected"],
        "unexpected_phone_receipts": unexpected,
        "duplicate_receipts": sum(c.duplicates for c in applied),
        "other_changes_items": dict(receipts.unmatched),
        "teams_per_change": overall["teams_per_change"],
        "answer_ms": overall["answer_ms"],
        "by_kind": by_kind,
        # One line per change: what was waited on, and where the time went.
        "per_change": [
            {
                "kind": c.kind,
                "at_s": round(c.t0 - started_at, 1) if c.t0 else None,
                "status": c.status,
                "answer_ms": round(c.rest_s * 1000, 1),
                "teams": len(c.teams),
                "coordinator_max_ms": _ms(list(c.coordinators.values()), 100),
                "phone_max_ms": _ms(list(c.phones.values()), 100),
            }
            for c in changes
        ],
        # When the server's once-a-minute arrival times reached the first coordinator
        # (seconds from the first change, like per_change's at_s).
        "etas_at_s": [round(t - started_at, 1) for t in receipts.etas_at],
        "phones": params.phones,
        "coordinators": params.coordinators,
        "teams": params.teams,
        "visits": params.visits,
        "first_plan": {
            "planned": seeded.initial_plan["stops"],
            "left_out": seeded.initial_plan["unassigned"],
        },
        "day": seeded.day,
        "server": server_kind,
        "client_processes": procs,
        "cpu_count": os.cpu_count(),
        "optimise_time_limit_s": params.time_limit_s,
        "change_timeout_s": params.change_timeout_s,
        "seed_s": round(seed_s, 1),
        "changes_s": round(changes_s, 1),
        "warmup_ms": round(warmup_s * 1000, 1),
        # CPU seconds per second during the changes: the machine is shared (2 cores here).
        "cpu": cpu,
        "sockets_dropped": dropped,
        "server_log_errors": sum(
            1 for line in server_log if line.startswith(("Traceback", "ERROR", "CRITICAL"))
        ),
        "server_log_tail": server_log[-5:],
    }


@click.command()
@click.option(
    "--phones",
    type=click.IntRange(1, 2000),
    default=200,
    show_default=True,
    help="Paired phones, spread round-robin over the teams (one socket each).",
)
@click.option(
    "--coordinators",
    type=click.IntRange(1, 200),
    default=20,
    show_default=True,
    help="Coordinator map sockets (each receives every change).",
)
@click.option(
    "--moves",
    type=click.IntRange(0, 1000),
    default=20,
    show_default=True,
    help="Visits moved to another team (apply and force).",
)
@click.option(
    "--inserts",
    type=click.IntRange(0, 1000),
    default=10,
    show_default=True,
    help="Urgent visits created and inserted.",
)
@click.option(
    "--optimisations",
    type=click.IntRange(0, 100),
    default=3,
    show_default=True,
    help="Re-optimisations of the day, applied.",
)
@click.option(
    "--visits",
    type=click.IntRange(10, 2000),
    default=500,
    show_default=True,
    help="Visits of the day.",
)
@click.option(
    "--teams", type=click.IntRange(2, 200), default=40, show_default=True, help="Teams of the day."
)
@click.option(
    "--time-limit",
    "time_limit_s",
    type=click.FloatRange(0.5, 60),
    default=3.0,
    show_default=True,
    help="Budget of each re-optimisation (and of the first plan).",
)
@click.option(
    "--timeout",
    "change_timeout_s",
    type=click.FloatRange(1, 120),
    default=15.0,
    show_default=True,
    help="Seconds to wait for a change to reach every socket (then counted missed).",
)
@click.option(
    "--max-seconds",
    "max_s",
    type=click.FloatRange(10, 3600),
    default=900.0,
    show_default=True,
    help="No new change after this many seconds of changes.",
)
@click.option(
    "--server",
    "server_kind",
    type=click.Choice(["gevent", "werkzeug"]),
    default="gevent",
    show_default=True,
    help="gevent: the production server; werkzeug: the threading server.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Day and changes drawn from it."
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.pass_context
def replan(
    ctx: click.Context,
    phones: int,
    coordinators: int,
    moves: int,
    inserts: int,
    optimisations: int,
    visits: int,
    teams: int,
    time_limit_s: float,
    change_timeout_s: float,
    max_s: float,
    server_kind: str,
    seed: int,
    as_json: bool,
) -> None:
    """Plan change to phone and coordinator latency, on loopback.

    A server (the production gevent server by default) on a temporary database holding the
    Haute-Corse day of `dispatch bench optimise`, planned and published; --phones paired phones
    on its teams and --coordinators map sockets, in client processes. A coordinator then
    makes the changes one after the other through the REST API: moves (apply, force), urgent
    visits created then inserted, re-optimisations applied with their left-out visits
    confirmed. Latency: from just before the change's request leaves (so a move's or an
    insertion's solve counts; an optimisation is timed from its apply) to the arrival of the
    change's `changes` item at each phone of each team concerned and at each coordinator.

    Example: dispatch bench replan --phones 200 --coordinators 20 --json
    """
    try:
        params = ReplanParams(
            phones=phones,
            coordinators=coordinators,
            moves=moves,
            inserts=inserts,
            optimisations=optimisations,
            visits=visits,
            teams=teams,
            time_limit_s=time_limit_s,
            change_timeout_s=change_timeout_s,
            max_s=max_s,
            server=server_kind,
            seed=seed,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    result = run_replan(
        get_settings(ctx), params, echo=None if as_json else (lambda m: click.echo(m, err=True))
    )
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    for name, r in [("all", result), *result["by_kind"].items()]:
        click.echo(
            f"{name:>8}: {r['changes']} changes, phones p50 {r['phone_latency_ms']['p50']} ms "
            f"p99 {r['phone_latency_ms']['p99']} ms, coordinators p50 "
            f"{r['coordinator_latency_ms']['p50']} ms p99 {r['coordinator_latency_ms']['p99']} "
            f"ms, missed {r['missed_phone_deliveries']} phone and "
            f"{r['missed_coordinator_deliveries']} map deliveries"
        )
    click.echo(
        f"server {result['server']}: {result['cpu'].get('server_cpu_per_s')} CPU s/s during the "
        f"changes (others on the machine {result['cpu'].get('others_cpu_per_s')}), "
        f"{result['server_log_errors']} error(s) in its log"
    )
