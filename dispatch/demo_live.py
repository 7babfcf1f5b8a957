"""Demo movement: demo teams drive their published rounds on the road network and report in."""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from dispatch.errors import DispatchError
from dispatch.store.models import LOCAL_TZ, local_today

log = logging.getLogger(__name__)

#: Label of every position the demo writes (never "api", "socket" or "osmand").
SOURCE = "demo"
#: Actor of every visit event the demo writes.
ACTOR = "demo"
_M_PER_DEG = 111_320.0

Publish = Callable[[str, Any], None]


@dataclass(frozen=True)
class Leg:
    """One drive between two places, timed in seconds since midnight of the plan's day."""

    lons: np.ndarray
    lats: np.ndarray
    cum_m: np.ndarray
    depart_s: float
    arrive_s: float

    @property
    def distance_m(self) -> float:
        return float(self.cum_m[-1]) if len(self.cum_m) else 0.0

    def at(self, t_s: float) -> tuple[float, float, float, float]:
        """``(lon, lat, speed_mps, heading_deg)`` at ``t_s`` (constant speed along the leg)."""
        duration_s = max(self.arrive_s - self.depart_s, 1.0)
        frac = min(max((t_s - self.depart_s) / duration_s, 0.0), 1.0)
        if len(self.lons) < 2 or self.distance_m <= 0:
            return float(self.lons[-1]), float(self.lats[-1]), 0.0, 0.0
        target = frac * self.distance_m
        i = int(np.searchsorted(self.cum_m, target, side="right")) - 1
        i = min(max(i, 0), len(self.lons) - 2)
        seg = self.cum_m[i + 1] - self.cum_m[i]
        k = 0.0 if seg <= 0 else (target - self.cum_m[i]) / seg
        lon = float(self.lons[i] + k * (self.lons[i + 1] - self.lons[i]))
        lat = float(self.lats[i] + k * (self.lats[i + 1] - self.lats[i]))
        heading = _bearing_deg(self.lons[i], self.lats[i], self.lons[i + 1], self.lats[i + 1])
        speed = self.distance_m / duration_s if 0.0 < frac < 1.0 else 0.0
        return lon, lat, speed, heading


@dataclass(frozen=True)
class Call:
    """A planned visit: where the team parks and when it arrives, starts and leaves."""

    visit_id: int
    lon: float
    lat: float
    arrival_s: float
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Itinerary:
    """A demo team's day: shift, base, the legs of its published round and its calls."""

    team_id: int
    shift_start_s: float
    base: tuple[float, float]
    legs: tuple[Leg, ...]
    calls: tuple[Call, ...]

    @property
    def first_s(self) -> float:
        """When the team starts reporting (shift start, or departure if earlier)."""
        return min(self.shift_start_s, self.legs[0].depart_s)

    @property
    def last_s(self) -> float:
        """When the team is back at base (it reports nothing afterwards)."""
        return self.legs[-1].arrive_s

    def state_at(self, t_s: float) -> tuple[float, float, float, float] | None:
        """``(lon, lat, speed_mps, heading_deg)`` at ``t_s``, None before the shift or after the round."""
        if t_s < self.first_s or t_s > self.last_s:
            return None
        if t_s < self.legs[0].depart_s:
            return self.base[0], self.base[1], 0.0, 0.0
        for i, leg in enumerate(self.legs):
            if t_s <= leg.arrive_s:
                return leg.at(t_s)
            nxt = self.legs[i + 1] if i + 1 < len(self.legs) else None
            if nxt is not None and t_s < nxt.depart_s:
                lon, lat, _, heading = leg.at(leg.arrive_s)
                return lon, lat, 0.0, heading
        return None

    def events(self) -> list[tuple[float, int, str]]:
        """``(time_s, visit_id, kind)`` of every arrival, check-in and check-out, in order."""
        out: list[tuple[float, int, str]] = []
        for c in self.calls:
            out.append((c.arrival_s, c.visit_id, "arrival"))
            out.append((max(c.start_s, c.arrival_s), c.visit_id, "check_in"))
            out.append((c.end_s, c.visit_id, "check_out"))
        return out


def _bearing_deg(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    dx = (lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    dy = lat2 - lat1
    return (math.degrees(math.atan2(dx, dy)) + 360.0) % 360.0


def _leg(coords: list[tuple[float, float]], depart_s: float, arrive_s: float) -> Leg:
    pts = np.asarray(coords, dtype=float).reshape(-1, 2)
    lons, lats = pts[:, 0], pts[:, 1]
    if len(pts) > 1:
        scale = math.cos(math.radians(float(lats.mean())))
        step = np.hypot(np.diff(lons) * scale, np.diff(lats)) * _M_PER_DEG
        cum = np.concatenate([[0.0], np.cumsum(step)])
    else:
        cum = np.zeros(len(pts))
    return Leg(lons, lats, cum, float(depart_s), float(arrive_s))


def build_itineraries(store: Any, router: Any, day: str) -> list[Itinerary]:
    """The demo teams' itineraries from the published plan of ``day`` (road geometry per leg).

    Only teams flagged ``demo`` move; a team without stops in the plan stays home (none).
    """
    plan = store.published_plan(day)
    if plan is None:
        return []
    teams = {t["id"]: t for t in store.list_teams(limit=1000) if t["demo"]}
    out: list[Itinerary] = []
    for route in plan["routes"]:
        team = teams.get(route["team_id"])
        stops = [s for s in route["stops"] if s.get("arrival_s") is not None]
        if team is None or not stops:
            continue
        visits = {v["id"]: v for v in store.get_visits([s["visit_id"] for s in stops])}
        base = (float(team["base_lon"]), float(team["base_lat"]))
        legs: list[Leg] = []
        calls: list[Call] = []
        here = base
        free_s = float("-inf")
        for s in stops:
            v = visits[s["visit_id"]]
            road = router.route_lonlat(here, (float(v["lon"]), float(v["lat"])))
            coords = list(road.coordinates) or [here]
            arrival = float(s["arrival_s"])
            depart = max(free_s, arrival - float(road.travel_time_s))
            arrival = max(arrival, depart)
            legs.append(_leg(coords, depart, arrival))
            start = max(float(s.get("start_s") or arrival), arrival)
            end = max(float(s.get("end_s") or start + v["duration_s"]), start)
            park = coords[-1]
            calls.append(Call(int(v["id"]), park[0], park[1], arrival, start, end))
            here, free_s = (float(park[0]), float(park[1])), end
        back = router.route_lonlat(here, base)
        coords = list(back.coordinates) or [here]
        legs.append(_leg(coords, free_s, free_s + float(back.travel_time_s)))
        out.append(
            Itinerary(
                team_id=int(team["id"]),
                shift_start_s=float(team.get("shift_start_s") or legs[0].depart_s),
                base=base,
                legs=tuple(legs),
                calls=tuple(calls),
            )
        )
    return out


def paris_time_of_day_s(now_s: float | None = None, *, tz: str = LOCAL_TZ) -> float:
    """Seconds since local midnight (Europe/Paris by default) at ``now_s`` (default: now)."""
    when = dt.datetime.fromtimestamp(time.time() if now_s is None else now_s, ZoneInfo(tz))
    return when.hour * 3600 + when.minute * 60 + when.second + when.microsecond / 1e6


def app_publisher(app: Any) -> Publish:
    """A ``publish(topic, payload)`` that tells the app's live listeners (for the server thread)."""
    from dispatch.web.rest import publish

    def fn(topic: str, payload: Any) -> None:
        with app.app_context():
            publish(topic, payload)

    return fn


class DemoMovement(threading.Thread):
    """Replays the published plan for the demo teams, in (optionally accelerated) real time.

    Simulated time of day starts at ``start_s`` (default: now in Europe/Paris) and runs
    ``speedup`` times faster than the wall clock. Every ``interval_s`` wall seconds each demo
    team on duty posts one fix (source ``"demo"``) on its leg's road geometry, or at its parked
    position during a visit; arrivals, check-ins and check-outs are recorded when their planned
    time passes (actor ``"demo"``). Before its shift and after its round a team sends nothing.
    Fixes carry ``client_id`` ``demo:<day>:<team>:<simulated second>``; events carry
    ``demo:<day>:<visit>:<kind>``, so a restart never records a visit event twice (events
    whose time passed before the start are recorded at once, dated when they happened). A new
    published plan is picked up on the next tick.
    """

    def __init__(
        self,
        store: Any,
        territory: Any,
        *,
        router: Any,
        speedup: float = 1.0,
        interval_s: float = 5.0,
        start_s: float | None = None,
        day: str | None = None,
        stop_event: threading.Event | None = None,
        publish: Publish | None = None,
        stop_when_done: bool = False,
        duration_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(name="dispatch-demo-movement", daemon=True)
        if speedup <= 0:
            raise ValueError("speedup must be positive")
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.store, self.territory, self.router = store, territory, router
        self.speedup, self.interval_s = float(speedup), float(interval_s)
        self.start_s, self.day = start_s, day
        self.stop_event = stop_event or threading.Event()
        self.publish = publish
        self.stop_when_done, self.duration_s = stop_when_done, duration_s
        self.clock = clock
        self.stats = {"positions": 0, "events": 0, "teams": 0, "ticks": 0}
        self.error: BaseException | None = None

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask the thread to stop and wait for it (at most ``timeout_s``)."""
        self.stop_event.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout_s)

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # the server must keep running; say why the demo stopped
            self.error = exc
            log.exception("demo movement stopped")

    def _tell(self, topic: str, payload: Any) -> None:
        if self.publish is not None:
            try:
                self.publish(topic, payload)
            except Exception:
                log.exception("publishing %s failed", topic)

    def _run(self) -> None:
        t0 = self.clock()
        day = self.day or local_today(now_s=t0)
        sim0 = paris_time_of_day_s(t0) if self.start_s is None else float(self.start_s)
        plan_id: int | None = None
        itineraries: list[Itinerary] = []
        done_events: set[tuple[int, str]] = set()
        last_sim = float("-inf")
        while not self.stop_event.is_set():
            wall = self.clock()
            sim = sim0 + (wall - t0) * self.speedup
            plan = self.store.published_plan(day)
            pid = None if plan is None else int(plan["id"])
            if pid != plan_id:
                plan_id = pid
                itineraries = build_itineraries(self.store, self.router, day)
                self.stats["teams"] = len(itineraries)
            for it in itineraries:
                parked_from: dict[int, float] = {}
                for when_s, visit_id, kind in it.events():
                    if kind == "check_in":
                        parked_from[visit_id] = when_s
                    if when_s > sim or (visit_id, kind) in done_events:
                        continue
                    done_events.add((visit_id, kind))
                    self._event(
                        it, day, when_s, visit_id, kind, t0 + (when_s - sim0) / self.speedup
                    )
                    start = parked_from.get(visit_id)
                    if (
                        kind == "check_out"
                        and start is not None
                        and math.isfinite(last_sim)  # not the past, on the first tick
                        and start > last_sim
                    ):
                        # A late tick (a busy machine) jumped over the whole visit: report the
                        # team parked at the home, as the phone would have, at its middle.
                        mid = (start + when_s) / 2
                        parked = it.state_at(mid)
                        if parked is not None:
                            self._fix(it, day, mid, t0 + (mid - sim0) / self.speedup, parked)
                state = it.state_at(sim)
                if state is not None:
                    self._fix(it, day, sim, wall, state)
            last_sim = sim
            self.stats["ticks"] += 1
            if self.duration_s is not None and wall - t0 >= self.duration_s:
                break
            if self.stop_when_done and all(last_sim > it.last_s for it in itineraries):
                break
            self.stop_event.wait(self.interval_s)

    def _fix(
        self,
        it: Itinerary,
        day: str,
        sim: float,
        wall: float,
        state: tuple[float, float, float, float],
    ) -> None:
        lon, lat, speed, heading = state
        # GPS on a phone in a car: better on the move in the open than parked by a house.
        accuracy = 6.0 + 4.0 * abs(math.sin(sim / 97.0)) + (0.0 if speed > 0 else 6.0)
        fix = {
            "client_id": f"demo:{day}:{it.team_id}:{int(sim)}",
            "lon": round(lon, 7),
            "lat": round(lat, 7),
            "device_time_s": wall,
            "accuracy_m": round(accuracy, 1),
            "speed_mps": round(speed, 2),
            "heading_deg": round(heading, 1),
        }
        result = self.store.insert_positions(it.team_id, [fix], source=SOURCE)
        if result["stored"]:
            self.stats["positions"] += len(result["stored"])
            self._tell("positions", {"team_id": it.team_id, "positions": result["stored"]})

    def _event(
        self, it: Itinerary, day: str, sim: float, visit_id: int, kind: str, wall: float
    ) -> None:
        call = next(c for c in it.calls if c.visit_id == visit_id)
        try:
            visit = self.store.get_visit(visit_id)
            if visit.get("team_id") != it.team_id or visit.get("status") in ("cancelled", "missed"):
                return  # a coordinator moved or cancelled it: the demo does not overrule them
            event = self.store.add_visit_event(
                visit_id,
                {
                    "kind": kind,
                    "client_id": f"demo:{day}:{visit_id}:{kind}",
                    "device_time_s": min(wall, self.clock()),
                    "lon": call.lon,
                    "lat": call.lat,
                },
                actor=ACTOR,
                team_id=it.team_id,
            )
        except DispatchError as exc:
            log.warning("demo event %s on visit %s skipped: %s", kind, visit_id, exc)
            return
        if event.get("created"):
            self.stats["events"] += 1
            self._tell("visit_event", {"event": event, "visit": self.store.get_visit(visit_id)})


def start_demo_movement(
    store: Any,
    territory: Any,
    *,
    router: Any,
    speedup: float = 1.0,
    stop_event: threading.Event | None = None,
    publish: Publish | None = None,
    **options: Any,
) -> DemoMovement:
    """Start :class:`DemoMovement` in a daemon thread and return it (``.stop()`` ends it).

    ``options`` go to :class:`DemoMovement` (``interval_s``, ``start_s``, ``day``,
    ``stop_when_done``, ``duration_s``, ``clock``).
    """
    mover = DemoMovement(
        store,
        territory,
        router=router,
        speedup=speedup,
        stop_event=stop_event,
        publish=publish,
        **options,
    )
    mover.start()
    return mover


def has_demo_teams(store: Any) -> bool:
    """True when the database holds demo teams (the server only moves those)."""
    return any(t["demo"] for t in store.list_teams(limit=1000))
