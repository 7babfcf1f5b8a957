"""The live hub: stored fixes and events in, filtered positions, statuses and alerts out per room."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any
from zoneinfo import ZoneInfo

from dispatch.clock import ServiceClock
from dispatch.errors import StorageUnavailableError
from dispatch.live.fanout import Emitter, Fanout
from dispatch.live.geofence import Geofence, Place
from dispatch.live.quality import FLAG_LATE, Fix, QualityRules, TrackFilter, Verdict
from dispatch.live.state import LIVE, UNKNOWN, Board
from dispatch.planning.privacy import planner_route, planner_visit
from dispatch.store.core import StoreClosedError
from dispatch.store.positions import PositionReport

log = logging.getLogger(__name__)

#: Rooms. Patient data reaches only the roles that may read it over REST, and only for the
#: structures (organisations) the caller belongs to: a coordinator of structure A never gets
#: a position, visit, event, alert, estimate or round of structure B.
#: - coordinators: everything of their structures (visits, rounds, changes, estimates; events
#:   without their text, which is read through the audited GET /api/visits/<id>/events), in
#:   one room per structure (:func:`coordinator_room`);
#: - admins: team-level pushes only, of every structure (positions, presences, team changes,
#:   alerts: they manage every structure's accounts and phones), no visit, round or event;
#: - planners: their structures' visits without address, rounds, presences and alerts; live
#:   positions only when granted (``planner_live_positions``), one room per structure;
#: - a team: its own round.
#: No room spans the coordinators or planners of several structures: ROOM_COORDINATORS and
#: ROOM_PLANNERS only prefix the rooms of each structure.
ROOM_COORDINATORS = "role:coordinator"
ROOM_ADMINS = "role:admin"
ROOM_PLANNERS = "role:planner"
#: The structure of a team or visit that does not say (rows from before structures existed
#: belong to the first one, as the migration put them).
DEFAULT_STRUCTURE = 1


def coordinator_room(structure_id: int) -> str:
    """The room of the coordinators of one structure."""
    return f"{ROOM_COORDINATORS}:s:{int(structure_id)}"


def planner_room(structure_id: int) -> str:
    """The room of the planners of one structure."""
    return f"{ROOM_PLANNERS}:s:{int(structure_id)}"


#: Fields of a visit a planner does not see (same rule as the REST API).
PLANNER_HIDDEN = ("address", "external_ref")
#: Fields of a visit event never pushed: free text and a missed visit's reason are patient
#: details, read (and audited) through GET /api/visits/<id>/events.
EVENT_PRIVATE = ("note", "reason")
#: Fields of a team's status that place it (left out for planners not granted live positions).
POSITION_FIELDS = ("lon", "lat", "heading_deg", "speed_mps", "accuracy_m")
#: Visit statuses after which no arrival or lateness is watched.
CLOSED = ("arrived", "in_progress", "done", "missed", "cancelled")
#: A visit not started this long after its planned start is late (seconds).
LATE_GRACE_S = 15 * 60
ALERTS_KEPT = 500
#: Events that need no action: they go to the journal, not to the alerts.
JOURNAL_KINDS = ("arrival", "check_in", "check_out")
#: Alerts that need a coordinator's action (each can be acknowledged).
ACTION_KINDS = ("late", "at_risk", "unknown", "dropped", "dropped_many", "missed", "absence")
#: Up to this many visits taken out of the rounds by one change, each gets its alert; more, and
#: one alert gives their number.
DROPPED_ONE_BY_ONE = 3
#: Live arrival estimates older than this are not trusted for "at risk" (the plan's are).
ETA_FRESH_S = 10 * 60
#: Round lines kept drawn (by team and points) before the cache starts again.
ROUTES_KEPT = 5000
#: Teams' structures are read again after this long (seconds): a team moved to another
#: structure through another server process (whose team event this one never sees) stops
#: reaching the old structure's maps within this time.
TEAM_STRUCTURES_TTL_S = 60.0

#: ``route_geometry([(lon, lat), ...]) -> GeoJSON LineString or None`` for planned rounds.
RouteGeometry = Callable[[list[tuple[float, float]]], dict[str, Any] | None]


def team_room(team_id: int) -> str:
    """The room of one team's phones and team members."""
    return f"team:{team_id}"


def rooms_for(
    role: str | None, team_id: int | None, structure_ids: Iterable[int] = ()
) -> list[str]:
    """The rooms a socket of this role (and team, and structures) joins."""
    if role == "coordinator":
        return [coordinator_room(s) for s in sorted(set(structure_ids))]
    if role == "admin":
        return [ROOM_ADMINS]
    if role == "planner":
        return [planner_room(s) for s in sorted(set(structure_ids))]
    if role == "team_member" and team_id is not None:
        return [team_room(team_id)]
    return []


def fix_from_row(row: dict[str, Any]) -> Fix:
    """A :class:`Fix` from a stored positions row."""
    return Fix(
        lon=float(row["lon"]),
        lat=float(row["lat"]),
        recorded_at=float(row["device_time_s"]),
        accuracy_m=row.get("accuracy_m"),
        speed_mps=row.get("speed_mps"),
        heading_deg=row.get("heading_deg"),
        battery_pct=row.get("battery_pct"),
    )


def _ingest_reply(result: dict[str, Any], flags: list[list[str]]) -> dict[str, Any]:
    reply = {
        "accepted": result["accepted"],
        "stored": len(result["stored"]),
        "duplicates": result["duplicates"],
        "ids": [row["id"] for row in result["stored"]],
        "flags": flags,
    }
    if result["rejected"]:  # fixes dated in the future: the phone's clock is wrong
        reply["rejected"] = result["rejected"]
    return reply


def team_change(change: dict[str, Any], team_id: int) -> dict[str, Any]:
    """What a team is told of a change: its own visits added, removed and re-timed."""

    def mine(key: str) -> list[int]:
        per_team = change.get(key) or {}
        return list(per_team.get(team_id, per_team.get(str(team_id), [])))

    return {
        "day": change.get("day"),
        "plan_id": change.get("plan_id"),
        "change": change.get("change"),
        "by": change.get("by"),
        "at": change.get("at"),
        "team_id": team_id,
        "added": mine("added"),
        "removed": mine("removed"),
        "retimed": mine("retimed"),
    }


def change_for(
    change: dict[str, Any], team_ids: Iterable[int], visit_ids: Iterable[int]
) -> dict[str, Any]:
    """A plan change as one structure's coordinators see it: only its teams (``team_ids``)
    and its visits (``visit_ids``)."""
    teams = {int(t) for t in team_ids}
    visits = {int(v) for v in visit_ids}

    def per_team(key: str) -> dict[str, Any]:
        return {k: v for k, v in (change.get(key) or {}).items() if int(k) in teams}

    out = dict(change)
    out["teams"] = [t for t in change.get("teams", []) if int(t) in teams]
    for key in ("added", "removed", "retimed"):
        if key in change:
            out[key] = per_team(key)
    if "visits" in change:
        out["visits"] = [v for v in change["visits"] if int(v) in visits]
    if "dropped" in change:
        out["dropped"] = [d for d in change["dropped"] if int(d["visit_id"]) in visits]
    return out


def planner_view(visit: dict[str, Any]) -> dict[str, Any]:
    """A visit without the fields a planner may not see, its place to about 100 m."""
    return planner_visit(visit)


def pushed_event(event: dict[str, Any]) -> dict[str, Any]:
    """A visit event as pushed: no free text and no reason; ``has_note`` says whether there is
    something to read through the audited endpoint."""
    body = {k: v for k, v in event.items() if k not in EVENT_PRIVATE}
    body["has_note"] = any(event.get(k) for k in EVENT_PRIVATE)
    return body


def presence_view(status: dict[str, Any]) -> dict[str, Any]:
    """A team's status without where it is (its presence, age and battery stay)."""
    return {k: v for k, v in status.items() if k not in POSITION_FIELDS}


class LiveHub:
    """Turns stored positions and visit events into live map deltas.

    Parameters
    ----------
    store
        A :class:`dispatch.store.Store` (positions, teams, visits, events, plans).
    emit
        ``emit(event, payload, room)``, Socket.IO's emit in the server.
    stale_s
        A team with no fix for this long is shown as "position unknown".
    max_accuracy_m
        Fixes less accurate than this are stored, flagged and not drawn.
    timezone
        Time zone of the visits' days and windows.
    interval_s
        Coalescing period of the fan-out.
    route_geometry
        Draws planned rounds along roads (None: straight lines between stops).
    planner_live_positions
        Planners also get live positions and trails (off: presences only).
    """

    def __init__(
        self,
        store: Any,
        emit: Emitter,
        *,
        stale_s: float = 300.0,
        max_accuracy_m: float = 100.0,
        timezone: str = "Europe/Paris",
        interval_s: float = 0.03,
        route_geometry: RouteGeometry | None = None,
        clock: Callable[[], float] = time.time,
        service_clock: ServiceClock | None = None,
        planner_live_positions: bool = False,
    ) -> None:
        self.store = store
        #: Planners get positions, trails and placed statuses (the structure granted it).
        self.planner_live_positions = planner_live_positions
        self.rules = QualityRules(max_accuracy_m=max_accuracy_m)
        self.board = Board(stale_s=stale_s, rules=self.rules)
        self.fanout = Fanout(emit, interval_s=interval_s)
        self.geofence = Geofence()
        self.tz = ZoneInfo(timezone)
        self.clock = clock
        self.service_clock = service_clock or ServiceClock(timezone=timezone, clock=clock)
        self.route_geometry = route_geometry
        self.alerts: deque[dict[str, Any]] = deque(maxlen=ALERTS_KEPT)
        self.journal: deque[dict[str, Any]] = deque(maxlen=ALERTS_KEPT)
        #: team_id -> the last ``etas`` item relayed (for the "at risk" check).
        self._etas: dict[int, dict[str, Any]] = {}
        self._alert_keys: set[str] = set()
        self._lock = threading.RLock()
        self._places: dict[int, list[Place]] = {}
        self._places_at = 0.0
        self._visit_team: dict[int, int | None] = {}
        #: team_id -> its structure (kept current by :meth:`on_team`).
        self._team_structure: dict[int, int | None] = {}
        #: (team_id, planners granted) -> the rooms of its positions (the hot path).
        self._position_rooms_of: dict[tuple[int, bool], tuple[str, ...]] = {}
        self._structures_read_at = time.monotonic()
        self._routes: dict[tuple[Any, ...], dict[str, Any] | None] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.positions_processed = 0
        #: [hook, every_s (None: at each sweep), next run (monotonic s)]
        self._sweep_hooks: list[list[Any]] = []
        self._wake = threading.Event()

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, *, sweep_s: float = 5.0) -> None:
        """Seed the board from the store, start the fan-out and the staleness/lateness sweeper."""
        if self._thread is not None:
            return
        try:
            for row in self.store.latest_positions():
                self.board.seed(int(row["team_id"]), fix_from_row(row), source=row.get("source"))
            self.board.sweep(self.clock())
        except Exception:
            log.exception("could not seed the live board from the store")
        self._load_alerts()
        self.fanout.start()
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._sweep_loop, args=(sweep_s,), name="dispatch-live-sweep", daemon=True
        )
        self._thread.start()

    def ensure_started(self) -> None:
        """Start on first use (apps built only to answer REST calls never start threads)."""
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self.start()

    def stop(self) -> None:
        """Stop the threads (pending deltas are flushed)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        self.fanout.stop()

    def add_sweep_hook(
        self, hook: Callable[[float], None], *, every_s: float | None = None
    ) -> None:
        """Also call ``hook(now)`` periodically in the sweeper's thread: after each sweep, or
        every ``every_s`` seconds when given (the socket edge re-checks credentials so)."""
        if every_s is not None and every_s <= 0:
            raise ValueError("every_s must be positive")
        with self._lock:
            self._sweep_hooks.append([hook, every_s, time.monotonic() + (every_s or 0.0)])
        self._wake.set()

    def _sweep_loop(self, sweep_s: float) -> None:
        next_sweep = time.monotonic() + sweep_s
        while not self._stop.is_set():
            with self._lock:
                hooks = list(self._sweep_hooks)
            due = min([next_sweep] + [h[2] for h in hooks if h[1] is not None])
            self._wake.wait(max(0.0, due - time.monotonic()))
            self._wake.clear()
            if self._stop.is_set():
                return
            now_m = time.monotonic()
            swept = now_m >= next_sweep
            if swept:
                next_sweep = now_m + sweep_s
                try:
                    self.sweep()
                except Exception:
                    log.exception("live sweep failed")
            for entry in hooks:
                hook, every_s, next_s = entry
                if (every_s is None and not swept) or (every_s is not None and now_m < next_s):
                    continue
                if every_s is not None:
                    entry[2] = now_m + every_s
                try:
                    hook(self.clock())
                except (StoreClosedError, StorageUnavailableError):
                    pass  # stopping, or the store already logged the outage: next sweep
                except Exception:
                    log.exception("live sweep hook failed")

    # -- structures ----------------------------------------------------------------------------
    def team_structure(self, team_id: int | None) -> int | None:
        """The structure of a team (cached), None for no team or a team that does not exist."""
        if team_id is None:
            return None
        self._expire_structures()
        tid = int(team_id)
        try:
            return self._team_structure[tid]
        except KeyError:
            pass
        found = self._read_team_structures([tid]).get(tid)
        if found is not None:
            with self._lock:
                self._team_structure[tid] = found
        return found

    def _expire_structures(self) -> None:
        """Forget the teams' structures read more than TEAM_STRUCTURES_TTL_S ago."""
        if time.monotonic() - self._structures_read_at > TEAM_STRUCTURES_TTL_S:
            with self._lock:
                self._team_structure = {}
                self._position_rooms_of = {}
                self._structures_read_at = time.monotonic()

    def _read_team_structures(self, team_ids: list[int] | None) -> dict[int, int]:
        """team id -> structure, from the store (teams of an older store: the first one)."""
        read = getattr(self.store, "team_structure_ids", None)
        try:
            if read is not None:
                return dict(read(team_ids))
            if not hasattr(self.store, "list_teams"):  # a store that knows no team: the first
                return {int(t): DEFAULT_STRUCTURE for t in team_ids or []}
            wanted = None if team_ids is None else set(team_ids)
            return {
                int(t["id"]): int(t.get("structure_id") or DEFAULT_STRUCTURE)
                for t in self._all_teams()
                if wanted is None or int(t["id"]) in wanted
            }
        except (StoreClosedError, StorageUnavailableError):
            return {}
        except Exception:
            log.exception("could not read the structure of teams %s", team_ids)
            return {}

    def visit_structures(self, visits: Iterable[dict[str, Any]]) -> dict[int, int | None]:
        """visit id -> its structure: the visit's own, else read from the store, else its
        team's."""
        out: dict[int, int | None] = {}
        missing: list[dict[str, Any]] = []
        for visit in visits:
            if visit.get("structure_id") is not None:
                out[int(visit["id"])] = int(visit["structure_id"])
            else:
                missing.append(visit)
        if missing:
            read = getattr(self.store, "visit_structure_ids", None)
            found: dict[int, int] = {}
            if read is not None:
                try:
                    found = read([int(v["id"]) for v in missing])
                except (StoreClosedError, StorageUnavailableError):
                    pass  # stopping, or the store already logged the outage: pushed to no one
                except Exception:
                    log.exception("could not read the structure of %d visits", len(missing))
            for visit in missing:
                vid = int(visit["id"])
                if vid in found:
                    out[vid] = found[vid]
                elif read is None:  # a store without structures: the team's, else the first
                    out[vid] = self.team_structure(visit.get("team_id")) or DEFAULT_STRUCTURE
                else:
                    out[vid] = None
        return out

    def visit_structure(self, visit: dict[str, Any]) -> int | None:
        """The structure of one visit (see :meth:`visit_structures`)."""
        return self.visit_structures([visit]).get(int(visit["id"]))

    def _visit_structure_of_id(self, visit_id: int) -> int | None:
        read = getattr(self.store, "visit_structure_ids", None)
        if read is not None:
            try:
                return read([int(visit_id)]).get(int(visit_id))
            except (StoreClosedError, StorageUnavailableError):
                return None
            except Exception:
                log.exception("could not read the structure of visit %s", visit_id)
                return None
        try:
            return self.visit_structure(self.store.get_visit(int(visit_id)))
        except Exception:
            return None

    def _alert_rooms(self, structure_id: int | None) -> tuple[str, ...]:
        """Who gets an alert: the admins, the coordinators and planners of its structure."""
        if structure_id is None:
            return (ROOM_ADMINS,)
        return (ROOM_ADMINS, coordinator_room(structure_id), planner_room(structure_id))

    # -- time ----------------------------------------------------------------------------------
    def today(self, now: float | None = None) -> str:
        """The current day of the rounds in the territory's time zone (YYYY-MM-DD)."""
        return self.service_clock.today(now or self.clock())

    def seconds_of_day(self, now: float | None = None) -> int:
        """Seconds since local midnight of the rounds' day."""
        return self.service_clock.seconds_of_day(now or self.clock())

    # -- positions -----------------------------------------------------------------------------
    def ingest(
        self, team_id: int, fixes: list[dict[str, Any]], *, device_id: int | None, source: str
    ) -> dict[str, Any]:
        """Store ``fixes`` of a team (idempotent on client_id), then push what changed."""
        result = self.store.insert_positions(team_id, fixes, device_id=device_id, source=source)
        flags = self.on_stored(team_id, result["stored"])
        return _ingest_reply(result, flags)

    def ingest_reports(self, reports: list[PositionReport]) -> list[Any]:
        """Store the reports of many phones in one transaction, then push what changed.

        One result per report, in order: the reply :meth:`ingest` returns, or the error that
        refused that report alone (an exception as a value, not raised).
        """
        results = self.store.insert_position_reports(reports)
        flagged: dict[int, list[str]] = {}
        replies: list[Any] = []
        for (team_id, *_), result in zip(reports, results, strict=True):
            if isinstance(result, Exception):
                replies.append(result)
                continue
            flags = self._filter_and_push(team_id, result["stored"], flagged)
            replies.append(_ingest_reply(result, flags))
        self._record_flags(flagged)
        return replies

    def on_stored(self, team_id: int, rows: list[dict[str, Any]]) -> list[list[str]]:
        """Filter newly stored rows, update the board, push drawn positions; returns flags."""
        flagged: dict[int, list[str]] = {}
        flags_out = self._filter_and_push(team_id, rows, flagged)
        self._record_flags(flagged)
        return flags_out

    def _filter_and_push(
        self, team_id: int, rows: list[dict[str, Any]], flagged: dict[int, list[str]]
    ) -> list[list[str]]:
        """The live filter's verdict on each row (its flags, also added to ``flagged`` by id)."""
        flags_out = []
        now = self.clock()
        for row in rows:
            fix = fix_from_row(row)
            verdict, pos = self.board.ingest(team_id, fix, source=row.get("source") or "")
            flags_out.append(list(verdict.flags))
            if verdict.flags and row.get("id") is not None:
                flagged[int(row["id"])] = list(verdict.flags)
            self.positions_processed += 1
            if pos is None and not verdict.display:
                continue
            message = self._position_message(team_id, row, verdict, pos)
            self.fanout.publish(self._position_rooms(team_id), "positions", message)
            if verdict.refreshes:
                self._check_arrival(team_id, fix, now)
        return flags_out

    def _position_rooms(self, team_id: int) -> tuple[str, ...]:
        """Who gets a team's positions: admins, its structure's coordinators, and its
        structure's planners when granted."""
        granted = bool(self.planner_live_positions)
        self._expire_structures()
        rooms = self._position_rooms_of.get((team_id, granted))
        if rooms is None:
            structure = self.team_structure(team_id)
            if structure is None:
                rooms = (ROOM_ADMINS,)
            elif granted:
                rooms = (coordinator_room(structure), ROOM_ADMINS, planner_room(structure))
            else:
                rooms = (coordinator_room(structure), ROOM_ADMINS)
            if structure is not None:
                with self._lock:
                    self._position_rooms_of[(team_id, granted)] = rooms
        return rooms

    def _status_items(self, status: dict[str, Any], key: Any) -> list[tuple[Any, str, Any, Any]]:
        """A team's status for every room: planners not granted live positions get no place."""
        structure = self.team_structure(status.get("team_id"))
        if structure is None:
            return [(ROOM_ADMINS, "statuses", status, key)]
        managers = (coordinator_room(structure), ROOM_ADMINS)
        if self.planner_live_positions:
            return [((*managers, planner_room(structure)), "statuses", status, key)]
        return [
            (managers, "statuses", status, key),
            (planner_room(structure), "statuses", presence_view(status), key),
        ]

    def _record_flags(self, flagged: dict[int, list[str]]) -> None:
        if not flagged:
            return
        try:
            self.store.flag_positions(flagged)
        except StorageUnavailableError:
            pass  # the store logs the outage once; the flags are lost with it
        except Exception:  # the fixes are stored; only their flags are lost
            log.exception("could not record the quality flags of %d fixes", len(flagged))

    def _position_message(
        self, team_id: int, row: dict[str, Any], verdict: Verdict, pos: Any
    ) -> dict[str, Any]:
        """A compact push (every coordinator gets every position): absent keys mean "none",
        ``display``/``moves_marker`` appear only when false, ``flags`` only when some."""
        source = pos if pos is not None and verdict.moves_marker else None
        body: dict[str, Any] = {
            "team_id": team_id,
            "id": row.get("id"),
            "lon": round(float(row["lon"]), 6),
            "lat": round(float(row["lat"]), 6),
            "fix_at": round(float(row["device_time_s"]), 3),
        }
        if pos is not None and pos.seen_at is not None:
            body["seen_at"] = round(float(pos.seen_at), 3)
        for key in ("heading_deg", "speed_mps", "accuracy_m", "battery_pct"):
            value = getattr(source, key) if source is not None else row.get(key)
            if value is not None:
                body[key] = round(float(value), 1)
        if not verdict.display:
            body["display"] = False
        if not verdict.moves_marker:
            body["moves_marker"] = False
        if verdict.flags:
            body["flags"] = list(verdict.flags)
        return body

    # -- arrivals, visits, events --------------------------------------------------------------
    def _team_places(self, team_id: int, now: float) -> list[Place]:
        with self._lock:
            if now - self._places_at > 60.0:
                self._reload_places(now)
            return self._places.get(team_id, [])

    def _reload_places(self, now: float) -> None:
        places: dict[int, list[Place]] = {}
        for visit in self._visits_of_day(self.today(now)):
            self._visit_team[visit["id"]] = visit.get("team_id")
            if visit.get("team_id") is None:
                continue
            if visit["status"] in CLOSED:
                self.geofence.mark(visit["team_id"], visit["id"])
                continue
            places.setdefault(visit["team_id"], []).append(
                Place(visit["id"], float(visit["lon"]), float(visit["lat"]))
            )
        self._places = places
        self._places_at = now

    def _visits_of_day(self, day: str, team_id: int | None = None) -> list[dict[str, Any]]:
        visits: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = self.store.list_visits(day=day, team_id=team_id, limit=1000, offset=offset)
            visits.extend(page)
            if getattr(page, "next_offset", None) is None:
                return visits
            offset = page.next_offset

    def _check_arrival(self, team_id: int, fix: Fix, now: float) -> None:
        places = self._team_places(team_id, now)
        if not places:
            return
        for arrival in self.geofence.check(team_id, fix, places):
            try:
                event = self.store.add_visit_event(
                    arrival.visit_id,
                    {
                        "kind": "arrival",
                        "client_id": f"geofence:{arrival.visit_id}:{team_id}",
                        "device_time_s": fix.recorded_at,
                        "lon": fix.lon,
                        "lat": fix.lat,
                        "note": f"within {arrival.distance_m:.0f} m of the home",
                    },
                    actor="system:geofence",
                    team_id=team_id,
                )
                visit = self.store.get_visit(arrival.visit_id)
            except Exception:
                log.exception(
                    "could not record the arrival of team %s at visit %s", team_id, arrival.visit_id
                )
                continue
            self.on_visit_event({"event": event, "visit": visit})

    def on_visit_event(self, payload: dict[str, Any]) -> None:
        """An event was stored (check-in, check-out, arrival...): push the visit and an alert."""
        event, visit = payload["event"], payload["visit"]
        if event.get("kind") in ("arrival", "check_in", "check_out", "missed") and visit.get(
            "team_id"
        ):
            self.geofence.mark(visit["team_id"], visit["id"])
            self._drop_place(visit["team_id"], visit["id"])
        self.on_visit(visit)
        if event.get("kind") in ("arrival", "check_in", "check_out", "missed"):
            self.alert(
                event["kind"],
                team_id=visit.get("team_id"),
                visit_id=visit["id"],
                at=event.get("server_time_s") or self.clock(),
                key=f"{event['kind']}:{visit['id']}:{event.get('id')}",
            )
        structure = self.visit_structure(visit)
        if structure is not None:
            self.fanout.publish(coordinator_room(structure), "events", pushed_event(event))

    def _drop_place(self, team_id: int, visit_id: int) -> None:
        with self._lock:
            if team_id in self._places:
                self._places[team_id] = [p for p in self._places[team_id] if p.visit_id != visit_id]

    def on_visit(self, visit: dict[str, Any]) -> None:
        """A visit changed: coordinators, planners (reduced) and its team see the new state."""
        self.fanout.publish_many(self._visit_items(visit))

    def _visit_items(self, visit: dict[str, Any]) -> list[tuple[Any, str, Any, Any]]:
        """The pushes of a visit's new state. A team's phones get only today's visits (what
        their round needs); a visit that left a team is deleted from that team's list."""
        vid = visit["id"]
        structure = self.visit_structure(visit)
        items: list[tuple[Any, str, Any, Any]] = []
        if structure is not None:
            items += [
                (coordinator_room(structure), "visits", visit, vid),
                (planner_room(structure), "visits", planner_view(visit), vid),
            ]
        team_id = visit.get("team_id")
        today = visit.get("day") == self.today()
        with self._lock:
            previous = self._visit_team.get(vid)
            self._visit_team[vid] = team_id
            if today:
                self._places_at = 0.0  # reload arrival targets on the next fix
        if previous is not None and previous != team_id:
            items.append((team_room(previous), "visits", {"id": vid, "deleted": True}, vid))
        if team_id is not None and today:
            items.append((team_room(team_id), "visits", visit, vid))
        # A two-person visit's partner team follows it as its main team does.
        partner = visit.get("partner_team_id")
        if partner is not None and partner != team_id and today:
            items.append((team_room(partner), "visits", visit, vid))
        return items

    def on_team(self, team: dict[str, Any]) -> None:
        """A team was created or changed (name, colour, structure...): admins and its
        structure's coordinators get it; a team moved to another structure leaves the maps of
        the one it left."""
        tid = int(team["id"])
        with self._lock:
            before = self._team_structure.pop(tid, None)
            for granted in (False, True):
                self._position_rooms_of.pop((tid, granted), None)
        structure = (
            int(team["structure_id"])
            if team.get("structure_id") is not None
            else self.team_structure(tid)
        )
        with self._lock:
            if structure is not None:
                self._team_structure[tid] = structure
        rooms: tuple[str, ...] = (ROOM_ADMINS,)
        if structure is not None:
            rooms = (coordinator_room(structure), ROOM_ADMINS)
        items: list[tuple[Any, str, Any, Any]] = [
            (rooms, "statuses", {"team_id": tid, "team": team}, None)
        ]
        if before is not None and before != structure:
            gone = {"team_id": tid, "team": {"id": tid, "active": False}}
            items.append((coordinator_room(before), "statuses", gone, None))
        self.fanout.publish_many(items)

    def on_plan_change(self, change: dict[str, Any]) -> None:
        """An applied change of a day's plan (see :mod:`dispatch.rounds`): every coordinator
        gets the summary, the changed rounds and visits; each team concerned, when the change
        is of today, its own round, what left it and a summary of its own. All of it leaves in
        one batch per room (the summary never comes before the rounds). Visits dropped raise an
        alert."""
        team_ids = [int(t) for t in change.get("teams", [])]
        teams_of: dict[int, list[int]] = {}
        for tid in team_ids:
            structure = self.team_structure(tid)
            if structure is not None:
                teams_of.setdefault(structure, []).append(tid)
        items: list[tuple[Any, str, Any, Any]] = []
        today = change.get("day") == self.today()
        visit_structure: dict[int, int | None] = {}
        if today:
            # The live pages draw today's rounds; other days are read again when opened.
            full = self._published_plan_of(change["day"], change.get("structure_id"))
            routes = {r["team_id"]: r for r in self.plan_routes(full, team_ids)} if full else {}
            for structure, tids in teams_of.items():
                for tid in tids:
                    route = routes.get(tid) or {
                        "plan_id": change.get("plan_id"),
                        "team_id": tid,
                        "stops": [],
                        "geometry": None,
                    }
                    items.append(
                        ((coordinator_room(structure), team_room(tid)), "plans", route, tid)
                    )
                    items.append((planner_room(structure), "plans", planner_route(route), tid))
            now_in: dict[int, int | None] = {}
            for vid in change.get("visits", []):
                try:
                    visit = self.store.get_visit(int(vid))
                except Exception:
                    continue
                now_in[int(vid)] = visit.get("team_id")
                visit_structure[int(vid)] = self.visit_structure(visit)
                items += self._visit_items(visit)
            for tid, vids in (change.get("removed") or {}).items():
                for vid in vids:
                    if now_in.get(int(vid)) != int(tid):
                        items.append(
                            (
                                team_room(int(tid)),
                                "visits",
                                {"id": int(vid), "deleted": True},
                                int(vid),
                            )
                        )
            items += [
                (team_room(tid), "changes", team_change(change, tid), None) for tid in team_ids
            ]
        # The summary, to each structure concerned, of its own teams and visits only.
        named = change.get("structure_id")
        structures = set(teams_of) | ({int(named)} if named is not None else set())
        if not structures:
            structures = {s for s in [self._plan_structure(change.get("plan_id"))] if s}
        mentioned = {int(v) for v in change.get("visits", [])} | {
            int(d["visit_id"]) for d in change.get("dropped", [])
        }
        for vid in mentioned - set(visit_structure):
            visit_structure[vid] = self._visit_structure_of_id(vid)
        for structure in sorted(structures):
            own = [v for v, s in visit_structure.items() if s == structure]
            summary = change_for(change, teams_of.get(structure, []), own)
            items.append((coordinator_room(structure), "changes", summary, None))
        self.fanout.publish_many(items)
        with self._lock:
            self._places_at = 0.0
        dropped = list(change.get("dropped", []))
        if len(dropped) > DROPPED_ONE_BY_ONE:
            # A whole proposal applied (a week, a replanning) can take dozens of visits out of
            # the rounds at once: one alert says how many, the map's list of visits without a
            # team gives each of them (and their reasons).
            first = dropped[0]
            self.alert(
                "dropped_many",
                team_id=first.get("team_id"),
                visit_id=first["visit_id"],
                at=change.get("at") or self.clock(),
                key=f"dropped_many:{change.get('plan_id')}",
                by=change.get("by"),
                count=len(dropped),
                day=change.get("day"),
            )
            return
        for item in dropped:
            self.alert(
                "dropped",
                team_id=item.get("team_id"),
                visit_id=item["visit_id"],
                at=change.get("at") or self.clock(),
                key=f"dropped:{item['visit_id']}:{change.get('plan_id')}",
                by=change.get("by"),
            )

    def _published_plan_of(self, day: str, structure_id: Any) -> dict[str, Any] | None:
        """The day's published plan of one structure when the change names it (else every
        structure's rounds; the pushes are filtered by each team's structure either way)."""
        if structure_id is not None:
            try:
                return self.store.published_plan(  # type: ignore[no-any-return]
                    day, structure_id=int(structure_id)
                )
            except TypeError:  # a store whose plans are not per structure
                pass
        return self.store.published_plan(day)  # type: ignore[no-any-return]

    def _plan_structure(self, plan_id: Any) -> int | None:
        """The structure of a stored plan (None when unknown)."""
        if plan_id is None:
            return None
        try:
            plan = self.store.get_plan(int(plan_id))
        except Exception:
            return None
        value = plan.get("structure_id") if isinstance(plan, dict) else None
        return None if value is None else int(value)

    def on_etas(self, item: dict[str, Any]) -> None:
        """Arrival times of a team's next stops, recomputed from where it is."""
        team_id = int(item["team_id"])
        with self._lock:
            self._etas[team_id] = item
        structure = self.team_structure(team_id)
        if structure is not None:
            self.fanout.publish(coordinator_room(structure), "etas", item, key=team_id)
        self.fanout.publish(team_room(team_id), "etas", item, key=team_id)

    def plan_routes(
        self, plan: dict[str, Any], team_ids: Iterable[int] | None = None
    ) -> list[dict[str, Any]]:
        """One entry per team (of ``team_ids``, default all): ordered stops and the round's
        line (base, stops, base). Lines are kept by their points, so a new version of the plan
        draws again only the rounds that changed."""
        visits = {v["id"]: v for v in self._visits_of_day(plan["day"])}
        teams = {t["id"]: t for t in self.store.list_teams(limit=1000)}
        wanted = None if team_ids is None else set(team_ids)
        out = []
        for route in plan.get("routes", []):
            team_id = route["team_id"]
            if wanted is not None and team_id not in wanted:
                continue
            stops = route["stops"]
            team = teams.get(team_id, {})
            points: list[tuple[float, float]] = []
            if team.get("base_lon") is not None:
                points.append((team["base_lon"], team["base_lat"]))
            for stop in stops:
                visit = visits.get(stop["visit_id"])
                if visit is not None:
                    points.append((visit["lon"], visit["lat"]))
            if team.get("base_lon") is not None and len(points) > 1:
                points.append((team["base_lon"], team["base_lat"]))
            key = (int(team_id), tuple(points))
            with self._lock:
                cached = key in self._routes
                geometry = self._routes.get(key)
            if not cached:
                geometry = self._geometry(points)
                with self._lock:
                    if len(self._routes) >= ROUTES_KEPT:
                        self._routes.clear()
                    self._routes[key] = geometry
            out.append(
                {"plan_id": plan["id"], "team_id": team_id, "stops": stops, "geometry": geometry}
            )
        return out

    def _geometry(self, points: list[tuple[float, float]]) -> dict[str, Any] | None:
        if len(points) < 2:
            return None
        if self.route_geometry is not None:
            try:
                geometry = self.route_geometry(points)
                if geometry is not None:
                    return geometry
            except Exception:
                log.exception("routing a planned round failed: drawn as straight lines")
        return {"type": "LineString", "coordinates": [list(p) for p in points]}

    # -- alerts --------------------------------------------------------------------------------
    def _load_alerts(self) -> None:
        """The last day's alerts and their acknowledgements, as stored before a restart."""
        recent = getattr(self.store, "recent_alerts", None)
        if recent is None:
            return
        try:
            rows = recent(since_s=self.clock() - 86400, limit=ALERTS_KEPT)
        except Exception:
            log.exception("could not read the stored alerts")
            return
        with self._lock:
            for item in reversed(rows):  # oldest first: the newest ends at the left
                if item["key"] not in self._alert_keys:
                    self._alert_keys.add(item["key"])
                    self.alerts.appendleft(item)

    def alert(
        self,
        kind: str,
        *,
        team_id: int | None,
        visit_id: int | None = None,
        at: float | None = None,
        key: str | None = None,
        **extra: Any,
    ) -> None:
        """Record an alert (once per key) and push it to coordinators and planners.

        Routine events (:data:`JOURNAL_KINDS`) go to the journal (``journal: true``, kept in
        memory); the others need action: they are stored, so that an acknowledgement is seen by
        every coordinator and survives a restart."""
        item = self._record_alert(kind, team_id=team_id, visit_id=visit_id, at=at, key=key, **extra)
        if item is not None:
            self.fanout.publish(self._alert_rooms(item.get("structure_id")), "alerts", item)

    def _record_alert(
        self,
        kind: str,
        *,
        team_id: int | None,
        visit_id: int | None = None,
        at: float | None = None,
        key: str | None = None,
        **extra: Any,
    ) -> dict[str, Any] | None:
        """The alert recorded (None when its key was already raised), not yet pushed."""
        key = key or f"{kind}:{team_id}:{visit_id}"
        with self._lock:
            if key in self._alert_keys:
                return None
            self._alert_keys.add(key)
        # The alert belongs to its visit's structure (else its team's): only that structure's
        # coordinators and planners get it, and it is stored with it.
        structure = self._visit_structure_of_id(visit_id) if visit_id is not None else None
        if structure is None:
            structure = self.team_structure(team_id)
        item = {
            "kind": kind,
            "team_id": team_id,
            "visit_id": visit_id,
            "at": at or self.clock(),
            "key": key,
            **extra,
            "structure_id": structure,
        }
        if kind in JOURNAL_KINDS:
            item["journal"] = True
            with self._lock:
                self.journal.appendleft(item)
        else:
            save = getattr(self.store, "save_alert", None)
            if save is not None:
                try:
                    stored = save(item)
                    for field in ("acknowledged_by", "acknowledged_at_s"):
                        if stored.get(field) is not None:
                            item[field] = stored[field]
                except (StoreClosedError, StorageUnavailableError):
                    pass  # the store logs the outage once; the alert is shown all the same
                except Exception:  # shown all the same; only its acknowledgement is not kept
                    log.exception("could not store the alert %s", key)
            with self._lock:
                self.alerts.appendleft(item)
        return item

    def acknowledge(
        self, key: str, *, by: str, structures: Iterable[int] | None = None
    ) -> dict[str, Any]:
        """A coordinator acknowledged the alert ``key`` (NotFoundError for an alert of a
        structure not in ``structures``; None: any): stored, then the coordinators and planners
        of its structure get the alert again with ``acknowledged_by`` and
        ``acknowledged_at_s``."""
        if structures is None:
            stored = self.store.acknowledge_alert(key, by=by, at_s=self.clock())
        else:
            stored = self.store.acknowledge_alert(
                key, by=by, at_s=self.clock(), structures=tuple(structures)
            )
        with self._lock:
            for item in self.alerts:
                if item.get("key") == key:
                    item["acknowledged_by"] = stored.get("acknowledged_by")
                    item["acknowledged_at_s"] = stored.get("acknowledged_at_s")
                    stored = {**item}
                    break
        if stored.get("structure_id") is None:
            vid, tid = stored.get("visit_id"), stored.get("team_id")
            structure = self._visit_structure_of_id(vid) if vid is not None else None
            stored["structure_id"] = (
                structure if structure is not None else self.team_structure(tid)
            )
        self.fanout.publish(self._alert_rooms(stored.get("structure_id")), "alerts", stored)
        return stored

    def alert_lists(
        self, now: float | None = None, *, structures: Iterable[int] | None = None
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The last day's alerts (newest first) and journal lines, of ``structures`` only when
        given (None: every structure)."""
        since = (now or self.clock()) - 86400
        wanted = None if structures is None else set(structures)

        def shown(item: dict[str, Any]) -> bool:
            return item["at"] >= since and (wanted is None or item.get("structure_id") in wanted)

        with self._lock:
            alerts = [dict(a) for a in self.alerts if shown(a)]
            journal = [dict(a) for a in self.journal if shown(a)]
        return alerts, journal

    def sweep(self, now: float | None = None) -> None:
        """Turn silent teams to "position unknown", raise late and at-risk alerts."""
        now = now or self.clock()
        items: list[tuple[Any, str, Any, Any]] = []
        for pos in self.board.sweep(now):
            status = pos.to_dict(now)
            items += self._status_items(status, pos.team_id)
            if pos.presence == UNKNOWN:
                # Stored first (a write), then pushed in the same batch as the status it explains.
                alert = self._record_alert(
                    "unknown",
                    team_id=pos.team_id,
                    at=now,
                    age_s=status["age_s"],
                    key=f"unknown:{pos.team_id}:{pos.seen_at}",
                )
                if alert is not None:
                    items.append(
                        (self._alert_rooms(alert.get("structure_id")), "alerts", alert, None)
                    )
            elif pos.presence == LIVE:
                with self._lock:
                    self._alert_keys = {
                        k for k in self._alert_keys if not k.startswith(f"unknown:{pos.team_id}:")
                    }
        self.fanout.publish_many(items)
        self._check_late(now)

    def _planned_arrivals(self, day: str, now: float) -> dict[int, int]:
        """visit_id -> expected arrival (s of day): the team's fresh live estimate when the hub
        relayed one, else the published plan's arrival."""
        arrivals: dict[int, int] = {}
        try:
            plan = self.store.published_plan(day)
        except Exception:
            plan = None
        for route in (plan or {}).get("routes", []):
            for stop in route.get("stops", []):
                if stop.get("arrival_s") is not None:
                    arrivals[int(stop["visit_id"])] = int(stop["arrival_s"])
        # Estimates made before the plan's last change are of the old round: the plan's own
        # arrival times are fresher.
        published_s = float((plan or {}).get("published_at_s") or 0)
        with self._lock:
            etas = list(self._etas.values())
        for item in etas:
            at = float(item.get("at") or 0)
            if now - at > ETA_FRESH_S or at < published_s:
                continue
            for vid, arrival_s in (item.get("etas") or {}).items():
                if arrival_s is not None:
                    arrivals[int(vid)] = int(arrival_s)
        return arrivals

    def _check_late(self, now: float) -> None:
        day, clock_s = self.today(now), self.seconds_of_day(now)
        try:
            visits = self._visits_of_day(day)
        except StoreClosedError:
            return  # the server is stopping: nothing left to watch
        except Exception:
            log.exception("could not read today's visits")
            return
        arrivals: dict[int, int] | None = None
        for visit in visits:
            if visit.get("team_id") is None or visit["status"] in CLOSED:
                continue
            windows = visit.get("windows") or []
            if not windows:
                continue
            end_s = windows[-1][1]
            if clock_s > end_s:
                self.alert(
                    "late",
                    team_id=visit["team_id"],
                    visit_id=visit["id"],
                    at=now,
                    end_s=end_s,
                    key=f"late:{visit['id']}",
                )
                continue
            if arrivals is None:
                arrivals = self._planned_arrivals(day, now)
            eta_s = arrivals.get(int(visit["id"]))
            if eta_s is not None and eta_s > end_s:
                self.alert(
                    "at_risk",
                    team_id=visit["team_id"],
                    visit_id=visit["id"],
                    at=now,
                    end_s=end_s,
                    eta_s=eta_s,
                    key=f"at_risk:{visit['id']}",
                )

    # -- snapshot ------------------------------------------------------------------------------
    def snapshot(
        self,
        *,
        role: str | None,
        team_id: int | None,
        trail_s: float = 2 * 3600,
        structures: Iterable[int] | None = None,
    ) -> dict[str, Any]:
        """Everything a page needs to (re)draw, restricted to what ``role``/``team_id`` may see
        and to the teams, visits, rounds and alerts of ``structures`` (None: every structure,
        as an admin sees teams)."""
        now = self.clock()
        day = self.today(now)
        own_team_only = role == "team_member"
        if own_team_only and team_id is None:
            return {
                "server_time": now,
                "day": day,
                "time_s": self.seconds_of_day(now),
                "plan_id": None,
                "stale_s": self.board.stale_s,
                "teams": [],
                "positions": [],
                "trails": {},
                "visits": [],
                "plans": [],
                "alerts": [],
                "journal": [],
            }
        wanted = None if structures is None or own_team_only else set(structures)
        teams = [t for t in self._all_teams() if not own_team_only or t["id"] == team_id]
        if wanted is not None:
            of = self._read_team_structures(None) if teams else {}
            teams = [t for t in teams if of.get(int(t["id"])) in wanted]
        team_ids = {t["id"] for t in teams}
        # An admin's picture is what its socket gets: teams, positions and alerts only.
        patients = role != "admin"
        visits = self._visits_of_day(day, team_id if own_team_only else None) if patients else []
        if wanted is not None and visits:
            of_visit = self.visit_structures(visits)
            visits = [v for v in visits if of_visit.get(int(v["id"])) in wanted]
        if role == "planner":
            visits = [planner_view(v) for v in visits]
        plan = self._published_plan(day, team_id if own_team_only else None, wanted)
        plans = self.plan_routes(plan, team_ids) if plan and patients else []
        if role == "planner":  # the rounds' lines run through the homes
            plans = [planner_route(p) for p in plans]
        plan_id = plan["id"] if plan else None
        placed = not (role == "planner" and not self.planner_live_positions)
        positions = self.board.snapshot(now, team_ids)
        if not placed:
            positions = [presence_view(p) for p in positions]
        trails = {} if own_team_only or not placed else self.trails(team_ids, since_s=now - trail_s)
        alerts, journal = ([], []) if own_team_only else self.alert_lists(now, structures=wanted)
        return {
            "server_time": now,
            "day": day,
            "time_s": self.seconds_of_day(now),
            "plan_id": plan_id,
            "stale_s": self.board.stale_s,
            "teams": teams,
            "positions": positions,
            "trails": trails,
            "visits": visits,
            "plans": plans,
            "alerts": alerts,
            "journal": journal,
        }

    def _published_plan(
        self, day: str, team_id: int | None, structures: set[int] | None
    ) -> dict[str, Any] | None:
        """The day's published rounds (of ``structures`` when given and the store plans per
        structure)."""
        if structures is None:
            return self.store.published_plan(day, team_id=team_id)  # type: ignore[no-any-return]
        try:
            return self.store.published_plan(  # type: ignore[no-any-return]
                day, team_id=team_id, structures=sorted(structures)
            )
        except TypeError:  # a store whose plans are not per structure
            return self.store.published_plan(day, team_id=team_id)  # type: ignore[no-any-return]

    def _all_teams(self) -> list[dict[str, Any]]:
        teams: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = self.store.list_teams(limit=1000, offset=offset)
            teams.extend(page)
            if getattr(page, "next_offset", None) is None:
                return teams
            offset = page.next_offset

    def trails(self, team_ids: Iterable[int], *, since_s: float) -> dict[str, list[list[float]]]:
        """Drawn points ``[lon, lat, t]`` of each team since ``since_s`` (the filter replayed)."""
        out: dict[str, list[list[float]]] = {}
        for tid in sorted(team_ids):
            points = [
                [p["lon"], p["lat"], p["device_time_s"]]
                for p in self.track(tid, since_s=since_s, newest=1000)
                if p["display"]
            ]
            if points:
                out[str(tid)] = points
        return out

    def track(
        self, team_id: int, *, since_s: float, until_s: float | None = None, newest: int = 5000
    ) -> list[dict[str, Any]]:
        """Every stored raw fix of a team in [since_s, until_s), oldest first, each with the
        quality ``flags`` the live filter stored at ingest and ``display`` (drawn unless
        flagged other than "late"). Fixes stored before flags were kept (``flags`` None) get
        the filter replayed over them in device-time order."""
        rows: list[dict[str, Any]] = []
        page = self.store.list_positions(
            team_id=team_id, since_s=since_s, until_s=until_s, limit=1000
        )
        total = getattr(page, "total", len(page))
        offset = max(0, total - newest)
        while True:
            page = self.store.list_positions(
                team_id=team_id, since_s=since_s, until_s=until_s, limit=1000, offset=offset
            )
            rows.extend(page)
            if not len(page) or getattr(page, "next_offset", None) is None:
                break
            offset = page.next_offset
        track = TrackFilter(self.rules)
        for row in rows:
            verdict = track.assess(fix_from_row(row))
            if row.get("flags") is None:
                row["flags"] = list(verdict.flags)
            row["display"] = not set(row["flags"]) - {FLAG_LATE}
        return rows
