"""Appointment slots over the coming days, on the real rounds, and their booking.

A referrer asks for a visit somewhere, some time in the next days: each day's slots are the
cheapest places where the visit fits in the structure's published round of that day (else in
empty rounds of the teams the rota puts to work that day), without making any planned visit
late. Building a day from the store and its road times costs far more than trying one visit
in it, so each (structure, day) is built once and kept until something in it changes (its
visits, its published plan, the structure's teams, staff or absences); a request then adds
only its own place to the day's travel times (two road searches, once for all the days).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import weakref
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from dispatch.errors import (
    ConflictError,
    DispatchError,
    ValidationError,
)
from dispatch.optimise.insertion import (
    TeamState,
    clip_to_now,
    insert_all,
    insertions,
    states_from_plan,
)
from dispatch.optimise.model import Problem, TimeWindow, Visit
from dispatch.optimise.reasons import precheck
from dispatch.optimise.rows import SPEED_KMH
from dispatch.optimise.schedule import Timing, time_route

#: Slots of one day start at least this far apart (the referrer sees times, not teams).
SLOT_SPREAD_S = 1800
#: At most this many slots on one day: the choice should span several days.
PER_DAY = 2
#: How far a slot's start may slide after its earliest start (search step, longest slide).
LATEST_STEP_S = 300
LATEST_MAX_S = 3600
#: A routine request's slot one day later must save this much travel (s) to rank higher.
DAY_PENALTY_S = 120
#: Today's day is built again after this long (s): its clock moves, and teams with it.
TODAY_TTL_S = 60.0
#: Slot starts are rounded up to this (s) when the slot's range allows (« 08:15 », not
#: « 08:11 »), latest starts down to it.
ROUND_TO_S = 300
#: ``external_ref`` of a visit booked in a slot: this, then the slot's id.
BOOKED_REF = "slot:"
#: The id of the requested visit inside a day's problem.
REQUEST_ID = "slot-request"
#: The shortest time window stored for a booked visit (s) (a window needs an end after its start).
MIN_WINDOW_S = 60
#: A visit whose window is this short or shorter has been given a time (a booked slot's
#: window is never longer).
APPOINTMENT_S = LATEST_MAX_S + MIN_WINDOW_S


class SlotTaken(ConflictError):
    """The slot is no longer free: another booking or a change of the round took it."""

    code = "slot_taken"


@dataclass(frozen=True)
class DaySlot:
    """An appointment on ``day``: the visit starts between ``start_s`` and ``latest_start_s``
    (seconds since local midnight) and ends at ``end_s`` when started at ``start_s``, in
    ``team_id``'s round at ``position`` (among its visits, done ones counted), adding
    ``extra_travel_s`` of driving to that round."""

    day: str
    team_id: int
    position: int
    start_s: int
    latest_start_s: int
    end_s: int
    extra_travel_s: int
    #: What the slot adds to the day's cost (travel and continuity): the ranking key.
    cost_s: int = field(default=0, compare=False)

    @property
    def slot_id(self) -> str:
        return f"{self.day}.{self.team_id}.{self.start_s}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "slot_id": self.slot_id,
            "day": self.day,
            "team_id": self.team_id,
            "position": self.position,
            "start_s": self.start_s,
            "latest_start_s": self.latest_start_s,
            "end_s": self.end_s,
            "extra_travel_s": self.extra_travel_s,
        }


def parse_slot_id(text: Any) -> tuple[str, int, int]:
    """``(day, team_id, start_s)`` of a slot id ``"YYYY-MM-DD.<team id>.<start s>"``."""
    parts = text.split(".") if isinstance(text, str) else []
    try:
        if len(parts) != 3:
            raise ValueError
        day = dt.date.fromisoformat(parts[0]).isoformat()
        team_id, start_s = int(parts[1]), int(parts[2])
        if day != parts[0] or team_id < 1 or not 0 <= start_s < 48 * 3600:
            raise ValueError
    except ValueError:
        raise ValidationError(
            f"slot_id {str(text)[:40]!r} is not a slot: use a slot_id from the proposed slots"
        ) from None
    return day, team_id, start_s


@dataclass
class _Base:
    """A (structure, day) as built: its problem and plan, each team's timed round, and the
    road node of each matrix index (to add a request's place)."""

    version: tuple
    built_at: float
    day: Any  # dispatch.rounds.Day; None when no team works that day
    states: dict[str, TeamState]
    nodes: np.ndarray
    #: The day's problem as searched (a day not planned yet: booked slots held at their
    #: start); None: the day's own.
    problem: Problem | None = None


@dataclass(frozen=True)
class _Roads:
    """Times (s) and lengths (m) from a request's place to each of ``nodes`` (sorted road
    nodes) and back."""

    nodes: np.ndarray
    out_s: np.ndarray
    out_m: np.ndarray
    in_s: np.ndarray
    in_m: np.ndarray

    def of(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(out_s, out_m, in_s, in_m) for ``nodes`` (each among :attr:`nodes`)."""
        k = np.searchsorted(self.nodes, nodes)
        return self.out_s[k], self.out_m[k], self.in_s[k], self.in_m[k]


def _day(value: Any, what: str) -> str:
    try:
        return dt.date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise ValidationError(f"{what} {str(value)[:20]!r} is not a day: use YYYY-MM-DD") from None


def _add(day: str, n: int) -> str:
    return (dt.date.fromisoformat(day) + dt.timedelta(days=n)).isoformat()


class SlotFinder:
    """Slots over the coming days on ``rounds`` (:class:`dispatch.rounds.Rounds`), and
    their booking. Safe to share between threads."""

    def __init__(self, rounds: Any) -> None:
        self.rounds = rounds
        self._bases: dict[tuple[int, str], _Base] = {}
        self._lock = threading.Lock()
        self._booking: dict[tuple[int, str], threading.Lock] = {}
        #: Seconds spent in each step since the finder was made (the benchmark's breakdown).
        self.timings: dict[str, float] = {}

    def _spent(self, step: str, since: float) -> None:
        self.timings[step] = self.timings.get(step, 0.0) + time.perf_counter() - since

    # -- the days as built ---------------------------------------------------------------------
    def version(self, structure_id: int, day: str) -> tuple:
        """What a built day depends on, cheaply read: it differs once anything changed."""
        return self.versions(structure_id, [day])[day]

    def versions(self, structure_id: int, days: Sequence[str]) -> dict[str, tuple]:
        """:meth:`version` of each of ``days``, in one read: the day's visits (their number,
        last change and ids) and published plan, the structure's teams, staff, absences and
        team members."""
        sid = int(structure_id)
        days = list(dict.fromkeys(days))
        marks = ", ".join("?" for _ in days)
        with self.rounds.store.engine.read() as conn:
            shared = tuple(
                conn.execute(
                    "SELECT"
                    " (SELECT count(*) || ':' || ifnull(max(updated_at_s), 0) || ':'"
                    "   || ifnull(sum(id), 0) FROM teams WHERE structure_id = ?),"
                    " (SELECT count(*) || ':' || ifnull(max(updated_at_s), 0) || ':'"
                    "   || ifnull(sum(id), 0) FROM staff WHERE structure_id = ?),"
                    " (SELECT count(*) || ':' || ifnull(max(a.id), 0) || ':'"
                    "   || ifnull(max(a.cancelled_at_s), 0) || ':' || count(a.cancelled_at_s)"
                    "  FROM absences a JOIN staff s ON s.id = a.staff_id"
                    "  WHERE s.structure_id = ?),"
                    " (SELECT count(*) || ':' || ifnull(sum(m.staff_id * 7919 + m.team_id), 0)"
                    "  FROM team_members m JOIN teams t ON t.id = m.team_id"
                    "  WHERE t.structure_id = ?)",
                    (sid, sid, sid, sid),
                ).fetchone()
            )
            visits = {
                r[0]: tuple(r[1:])
                for r in conn.execute(
                    "SELECT day, count(*), max(updated_at_s), sum(id) FROM visits"
                    f" WHERE structure_id = ? AND day IN ({marks}) GROUP BY day",
                    (sid, *days),
                )
            }
            plans = {
                r[0]: r[1]
                for r in conn.execute(
                    "SELECT day, max(id) FROM plans WHERE structure_id = ?"
                    f" AND status = 'published' AND day IN ({marks}) GROUP BY day",
                    (sid, *days),
                )
            }
        return {d: (*shared, visits.get(d), plans.get(d)) for d in days}

    def forget(self, structure_id: int | None = None, day: str | None = None) -> None:
        """Drop built days (of ``structure_id``, of ``day``; all when neither is given)."""
        with self._lock:
            for key in list(self._bases):
                if (structure_id is None or key[0] == int(structure_id)) and (
                    day is None or key[1] == day
                ):
                    del self._bases[key]

    def prepare(self, structure_id: int, day: str) -> None:
        """Build ``day`` of ``structure_id`` now if it is not built as it stands (a server
        may do it ahead of the first request)."""
        self._base(structure_id, day)

    def _base(self, structure_id: int, day: str, version: tuple | None = None) -> _Base:
        """The day as built, built again when its ``version`` (read now when not given)
        differs from the one it was built at."""
        key = (int(structure_id), day)
        t0 = time.perf_counter()
        if version is None:
            version = self.version(structure_id, day)
        is_today = day == self.rounds.clock.today()
        self._spent("version", t0)
        with self._lock:
            found = self._bases.get(key)
        if (
            found is not None
            and found.version == version
            and not (is_today and time.monotonic() - found.built_at > TODAY_TTL_S)
        ):
            return found
        t0 = time.perf_counter()
        try:
            d = self.rounds.day(day, structure_id=int(structure_id))
        except ValidationError:
            # No team works that day (rota, absences) or none can be routed: no slot.
            base = _Base(version, time.monotonic(), None, {}, np.zeros(0, dtype=np.int64))
        else:
            router, _ = self.rounds.router_source()
            lonlats = d.ctx.lonlats
            nodes, _ = router.snap_many(
                np.array([p[0] for p in lonlats], dtype=float),
                np.array([p[1] for p in lonlats], dtype=float),
                strict=False,
            )
            problem = d.problem
            if d.plan_id is None:
                problem = _hold_booked(problem, self._booked_ids(int(structure_id), day))
            states = states_from_plan(problem, d.current)
            if d.plan_id is None:
                _place_appointments(problem, states)
            base = _Base(
                version,
                time.monotonic(),
                d,
                states,
                np.asarray(nodes, dtype=np.int64),
                None if problem is d.problem else problem,
            )
        self._spent("build_day", t0)
        today = self.rounds.clock.today()
        with self._lock:
            self._bases[key] = base
            for old in [k for k in self._bases if k[1] < today]:
                del self._bases[old]  # days gone by are never asked again
        return base

    def _booked_ids(self, structure_id: int, day: str) -> set[str]:
        """Ids of the day's visits booked in a slot (see :meth:`book`), not cancelled."""
        with self.rounds.store.engine.read() as conn:
            rows = conn.execute(
                "SELECT id FROM visits WHERE structure_id = ? AND day = ?"
                " AND external_ref LIKE ? AND status != 'cancelled'",
                (structure_id, day, f"{BOOKED_REF}%"),
            ).fetchall()
        return {str(r[0]) for r in rows}

    # -- a request's slots ---------------------------------------------------------------------
    def _snap(self, lonlat: tuple[float, float]) -> int:
        from dispatch.rounds.day import routable_nodes

        router, _ = self.rounds.router_source()
        nodes, why = routable_nodes(router, [(float(lonlat[0]), float(lonlat[1]))])
        if why[0]:
            raise ValidationError(
                f"the place {lonlat[0]:.5f},{lonlat[1]:.5f} cannot be reached by road"
                + (" (outside the territory)" if why[0] == "outside" else "")
                + ": check the address"
            )
        return int(nodes[0])

    def _roads(self, node: int, bases: Sequence[_Base]) -> _Roads:
        """Road times and lengths between a request's place and every place of ``bases``
        (two road searches for all the days)."""
        t0 = time.perf_counter()
        union = np.unique(np.concatenate([b.nodes for b in bases] + [np.zeros(0, np.int64)]))
        if len(union):
            roads = _Roads(union, *self.rounds.matrix_cache().to_and_from(node, union))
        else:
            empty = np.zeros(0, dtype=np.int64)
            roads = _Roads(union, empty, empty, empty, empty)
        self._spent("matrices", t0)
        return roads

    def _with_request(
        self, base: _Base, roads: _Roads, visit: Visit
    ) -> tuple[Problem, Visit, dict[str, TeamState]]:
        """The day's problem with the requested visit at a new last matrix index, and fresh
        states over it (the rounds' timings are shared: they do not involve it)."""
        t0 = time.perf_counter()
        problem = base.problem or base.day.problem
        n = len(base.nodes)
        out_t, out_d, in_t, in_d = roads.of(base.nodes)

        def grown(square: np.ndarray, out: np.ndarray, back: np.ndarray) -> np.ndarray:
            m = np.zeros((n + 1, n + 1), dtype=np.int64)
            m[:n, :n] = square
            m[n, :n], m[:n, n] = out, back
            return m

        dists = grown(problem.distance_m["car"], out_d, in_d)
        matrices: dict[str, np.ndarray] = {"car": grown(problem.travel_time_s["car"], out_t, in_t)}
        for mode, square in problem.travel_time_s.items():
            if mode != "car":
                speed = SPEED_KMH[mode] / 3.6
                matrices[mode] = grown(
                    square,
                    np.ceil(out_d / speed).astype(np.int64),
                    np.ceil(in_d / speed).astype(np.int64),
                )
        visit = replace(visit, location=n)
        problem = problem.with_changes(
            travel_time_s=matrices,
            distance_m={"car": dists},
            visits=problem.visits + (visit,),
        )
        states = {
            tid: TeamState(st.team, st.prefix, st.items, st.timing)
            for tid, st in base.states.items()
        }
        self._spent("matrices", t0)
        return problem, visit, states

    def day_slots(
        self,
        base: _Base,
        roads: _Roads,
        visit: Visit,
        *,
        n: int = PER_DAY,
        team_id: int | None = None,
        latest_by_s: int | None = None,
    ) -> list[DaySlot]:
        """Up to ``n`` slots of ``visit`` (at the place of ``roads``) on ``base``'s day, the
        cheapest first, at least :data:`SLOT_SPREAD_S` apart (``team_id``: that team's only).
        A slot's latest start is no later than ``latest_by_s`` (default: the visit's window)."""
        if base.day is None:
            return []
        problem, visit, states = self._with_request(base, roads, visit)
        t0 = time.perf_counter()
        if precheck(problem, visit) is not None:
            self._spent("propose", t0)
            return []
        problem, visit = clip_to_now(problem, visit)  # today: nothing before now
        teams = None if team_id is None else [str(team_id)]
        out: list[DaySlot] = []
        # Places where the team's breaks stay put first; moving breaks (several times slower)
        # only for the teams with no such place, when the day has too few slots without.
        plain = insertions(problem, states, visit, team_ids=teams, move_breaks=False)
        self._pick(base.day.day, problem, states, visit, plain, out, n, latest_by_s)
        if len(out) < n:
            placed = {i.team_id for i in plain}
            others = [t for t in (teams or list(states)) if t not in placed]
            if others:
                moved = insertions(problem, states, visit, team_ids=others, move_breaks=True)
                self._pick(base.day.day, problem, states, visit, moved, out, n, latest_by_s)
        self._spent("propose", t0)
        return out

    @staticmethod
    def _pick(
        day: str,
        problem: Problem,
        states: dict[str, TeamState],
        visit: Visit,
        found: Sequence[Any],
        out: list[DaySlot],
        n: int,
        latest_by_s: int | None,
    ) -> None:
        """Add to ``out`` the insertions of ``found`` (cheapest first) that start at least
        :data:`SLOT_SPREAD_S` from those in it, until it holds ``n``."""
        for ins in found:
            if len(out) >= n:
                return
            st = states[ins.team_id]
            timing = time_route(problem, st.team, list(ins.items), prefix=st.prefix)
            stop = next(s for s in timing.stops if s.visit_id == visit.id)
            if any(abs(s.start_s - stop.start_s) < SLOT_SPREAD_S for s in out):
                continue
            start_s, latest_s = _rounded(
                int(stop.start_s),
                _latest_start(problem, st, ins.items, visit, stop.start_s, latest_by_s),
            )
            out.append(
                DaySlot(
                    day=day,
                    team_id=int(ins.team_id),
                    position=sum(1 for p in st.prefix if p.kind == "visit")
                    + sum(1 for i in ins.items[: ins.items.index(visit.id)] if isinstance(i, str)),
                    start_s=start_s,
                    latest_start_s=latest_s,
                    end_s=start_s + visit.duration_s,
                    extra_travel_s=_travel(timing) - (_travel(st.timing) if _goes_out(st) else 0),
                    cost_s=int(ins.delta_cost),
                )
            )

    def propose(
        self,
        *,
        structure_id: int,
        lonlat: tuple[float, float],
        duration_s: int,
        skills: Collection[str] = (),
        from_day: str,
        days: int = 7,
        window_s: tuple[int, int] | None = None,
        n: int = 5,
        urgent: bool = False,
    ) -> list[DaySlot]:
        """The best ``n`` slots for a visit of ``duration_s`` at ``lonlat`` over ``days`` days
        from ``from_day`` (days before today are skipped), in chronological order.

        ``window_s`` ``(earliest start, latest end)`` in seconds since midnight: the visit
        takes place inside it (a morning, an afternoon); None: any time of the shifts. At
        most :data:`PER_DAY` slots a day. A routine request gets the cheapest slots (a day
        later must save :data:`DAY_PENALTY_S` of travel); an ``urgent`` one the earliest.
        """
        if not 1 <= int(n) <= 20:
            raise ValidationError("n must be a whole number between 1 and 20")
        if not 1 <= int(days) <= 28:
            raise ValidationError("days must be a whole number between 1 and 28")
        from_day = _day(from_day, "from_day")
        visit = self._visit(duration_s, skills, window_s)
        if visit is None:
            return []
        node = self._snap(lonlat)
        today = self.rounds.clock.today()
        wanted = [_add(from_day, k) for k in range(int(days))]
        if wanted[-1] < today:
            return []
        t0 = time.perf_counter()
        versions = self.versions(structure_id, [d for d in wanted if d >= today])
        self._spent("version", t0)
        bases = {
            day: self._base(structure_id, day, versions[day]) for day in wanted if day >= today
        }
        roads = self._roads(node, [b for b in bases.values() if b.day is not None])
        candidates: list[tuple[int, DaySlot]] = []
        for k, day in enumerate(wanted):
            if day not in bases:
                continue
            found = self.day_slots(bases[day], roads, visit)
            candidates += [(k, s) for s in found]
            if urgent and len(candidates) >= n:
                break
        if urgent:
            chosen = [s for _, s in candidates[:n]]
        else:
            ranked = sorted(candidates, key=lambda c: (c[1].cost_s + DAY_PENALTY_S * c[0], c[0]))
            chosen = [s for _, s in ranked[:n]]
        return sorted(chosen, key=lambda s: (s.day, s.start_s, s.team_id))

    @staticmethod
    def _visit(
        duration_s: int, skills: Collection[str], window_s: tuple[int, int] | None
    ) -> Visit | None:
        duration_s = int(duration_s)
        if not 60 <= duration_s <= 8 * 3600:
            raise ValidationError("duration_s must be between 60 and 28800 seconds")
        windows: tuple[TimeWindow, ...] = ()
        if window_s is not None:
            lo, hi = int(window_s[0]), int(window_s[1])
            if hi - duration_s < lo:
                return None  # the visit is longer than the time of day asked
            windows = (TimeWindow(lo, hi - duration_s),)
        return Visit(
            id=REQUEST_ID,
            location=0,
            duration_s=duration_s,
            windows=windows,
            skills=frozenset(skills),
            label=REQUEST_ID,
        )

    # -- booking -------------------------------------------------------------------------------
    def check(
        self,
        *,
        structure_id: int,
        slot_id: str,
        lonlat: tuple[float, float],
        duration_s: int,
        skills: Collection[str] = (),
        window_s: tuple[int, int] | None = None,
        latest_start_s: int | None = None,
    ) -> DaySlot:
        """The slot as it stands now on the current round (its place, its latest start, no
        later than the request's ``window_s`` allows); :class:`SlotTaken` (409, code
        ``slot_taken``) when the visit can no longer start there at the slot's time, or no
        longer as late as ``latest_start_s`` (the latest start offered)."""
        day, team_id, start_s = parse_slot_id(slot_id)
        if day < self.rounds.clock.today():
            raise SlotTaken(_TAKEN)
        visit = self._visit(duration_s, skills, (start_s, start_s + int(duration_s)))
        assert visit is not None
        by_s = start_s + LATEST_MAX_S
        if window_s is not None:
            by_s = min(by_s, int(window_s[1]) - int(duration_s))
        base = self._base(structure_id, day)
        roads = self._roads(self._snap(lonlat), [base] if base.day is not None else [])
        found = self.day_slots(base, roads, visit, n=1, team_id=team_id, latest_by_s=by_s)
        if not found or found[0].start_s != start_s:
            raise SlotTaken(_TAKEN)
        if latest_start_s is not None and found[0].latest_start_s < int(latest_start_s):
            # The round changed since the slot was offered: its promised window no longer fits.
            raise SlotTaken(_TAKEN)
        return found[0]

    def _booking_lock(self, structure_id: int, day: str) -> threading.Lock:
        with self._lock:
            return self._booking.setdefault((int(structure_id), day), threading.Lock())

    def book(
        self,
        *,
        structure_id: int,
        slot_id: str,
        visit_fields: Mapping[str, Any],
        by: str,
        window_s: tuple[int, int] | None = None,
        locale: str | None = None,
        latest_start_s: int | None = None,
    ) -> int:
        """Add the visit of ``visit_fields`` (store fields: pseudonym, lon, lat, duration_s,
        skills, care_kind, address, protected...; its day and window come from the slot; and
        ``patient_id``, the patient of the structure it is for) and put it in
        the slot's team's published round at the slot's place, published at once; returns
        the visit id. Without a published round that day, the visit waits for the day's
        planning with the slot's window. ``window_s``: the request's time of day, which the
        stored window keeps to (see :meth:`check`). ``latest_start_s``: the slot's latest
        start as offered, the arrival window promised: the visit keeps it as its window (the
        slot is refused when the round no longer leaves it). Without a published round, the
        slot's team is the visit's preferred team, which holds it there (see
        :func:`_place_appointments`). :class:`SlotTaken` when the slot is no longer free
        (nothing is then left in a round)."""
        day, team_id, start_s = parse_slot_id(slot_id)
        lonlat = (float(visit_fields["lon"]), float(visit_fields["lat"]))
        duration_s = int(visit_fields["duration_s"])
        skills = list(visit_fields.get("skills") or ())
        sid = int(structure_id)
        if visit_fields.get("patient_id") is not None:
            _check_patient(self.rounds.store, int(visit_fields["patient_id"]), sid)
        with self._booking_lock(sid, day):
            slot = self.check(
                structure_id=sid,
                slot_id=slot_id,
                lonlat=lonlat,
                duration_s=duration_s,
                skills=skills,
                window_s=window_s,
                latest_start_s=latest_start_s,
            )
            latest = slot.latest_start_s if latest_start_s is None else int(latest_start_s)
            end = max(latest, slot.start_s + MIN_WINDOW_S)
            fields = {
                **{
                    k: v
                    for k, v in visit_fields.items()
                    if k not in ("team_id", "status", "patient_id")
                },
                "day": day,
                "windows": [[slot.start_s, end]],
                "preferred_team_id": team_id,
                "external_ref": f"{BOOKED_REF}{slot_id}",
            }
            store = self.rounds.store
            row = store.add_visit(fields, structure_id=sid)
            vid = int(row["id"])
            if visit_fields.get("patient_id") is not None:
                _link_patient(store, vid, int(visit_fields["patient_id"]), sid)
            if self.rounds.store.published_plan_id(day, structure_id=sid) is None:
                self.forget(sid, day)
                return vid
            try:
                self.rounds.insert(
                    day,
                    vid,
                    team_id=team_id,
                    position=slot.position,
                    urgent=False,
                    force=False,
                    by=by,
                    locale=locale,
                    structure_id=sid,
                )
            except DispatchError as e:
                # The round changed between the check and the insertion: the visit goes.
                self.rounds.store.update_visit(vid, {"status": "cancelled"})
                self.forget(sid, day)
                raise SlotTaken(_TAKEN, details={"why": e.message}) from e
            self.forget(sid, day)
            return vid


_TAKEN = "this slot is no longer free: choose another slot"

_FINDERS: weakref.WeakKeyDictionary[Any, SlotFinder] = weakref.WeakKeyDictionary()
_FINDERS_LOCK = threading.Lock()


def finder_for(rounds: Any) -> SlotFinder:
    """The slot finder of ``rounds`` (one per rounds service: web, CLI and FHIR share its
    built days)."""
    with _FINDERS_LOCK:
        found = _FINDERS.get(rounds)
        if found is None:
            found = _FINDERS[rounds] = SlotFinder(rounds)
        return found


def _link_patient(store: Any, visit_id: int, patient_id: int, structure_id: int) -> None:
    """The visit is the patient's (checked to be of its structure by :func:`_check_patient`)."""
    store.engine.write(
        lambda conn: conn.execute(
            "UPDATE visits SET patient_id = ? WHERE id = ? AND structure_id = ?",
            (patient_id, visit_id, structure_id),
        )
    )


def _check_patient(store: Any, patient_id: int, structure_id: int) -> None:
    with store.engine.read() as conn:
        found = conn.execute(
            "SELECT 1 FROM patients WHERE id = ? AND structure_id = ?", (patient_id, structure_id)
        ).fetchone()
    if found is None:
        raise ValidationError(f"patient {patient_id} is not a patient of this structure")


def _hold_booked(problem: Problem, booked: Collection[str]) -> Problem:
    """A day not planned yet, as searched: the visits booked in a slot start at the slot's
    start (their window's), so that no later request is offered that time on that team by
    moving them later (the day's planning may still move them inside their window)."""
    if not booked:
        return problem
    visits = tuple(
        replace(v, windows=(TimeWindow(v.windows[0].start_s, v.windows[0].start_s),))
        if v.id in booked and v.windows
        else v
        for v in problem.visits
    )
    return problem.with_changes(visits=visits)


def _place_appointments(problem: Problem, states: dict[str, TeamState]) -> None:
    """A day not planned yet: the visits already given a time (a window no longer than a
    slot's, such as a booked slot's) are put in the teams' empty rounds where cheapest, so
    that their time is not offered again before the day is planned; the others, free to
    move, wait for the planning."""
    appointments = sorted(
        (
            v
            for v in problem.visits
            if v.windows and v.windows[-1].end_s - v.windows[0].start_s <= APPOINTMENT_S
        ),
        key=lambda v: (v.windows[0].start_s, v.id),
    )
    # Each on the team whose slot was booked (its preferred team), in the order of their
    # times, so that its time is not offered again on that team; elsewhere only when that
    # team no longer works that day.
    for v in appointments:
        team = v.preferred_team_id if v.preferred_team_id in states else None
        if not (team and not insert_all(problem, states, [v.id], team_ids=[team])):
            insert_all(problem, states, [v.id])


def _rounded(start_s: int, latest_s: int) -> tuple[int, int]:
    """(start, latest start) on :data:`ROUND_TO_S` marks inside [start_s, latest_s] (a
    later start in that range keeps the round on time); as found when no mark is inside."""
    up = -(-start_s // ROUND_TO_S) * ROUND_TO_S
    down = latest_s // ROUND_TO_S * ROUND_TO_S
    if up > down:
        return start_s, latest_s
    return up, down


def _goes_out(st: TeamState) -> bool:
    return bool(st.prefix) or any(isinstance(i, str) for i in st.items)


def _travel(timing: Timing) -> int:
    return sum(int(s.travel_time_s) for s in timing.stops) + int(timing.end_travel_time_s)


def _latest_start(
    problem: Problem,
    st: TeamState,
    items: Sequence[Any],
    visit: Visit,
    start_s: int,
    by_s: int | None = None,
) -> int:
    """How late the visit may start in that place without making the round late (to
    :data:`LATEST_MAX_S` after ``start_s``, by :data:`LATEST_STEP_S`, no later than ``by_s``,
    default the end of its windows). A later start never makes the rest of the round earlier,
    so the latest is found by halving."""
    if by_s is None:
        by_s = max((w.end_s for w in visit.windows_or_day()), default=start_s)
    steps = max(0, min(LATEST_MAX_S, by_s - start_s) // LATEST_STEP_S)
    others = tuple(v for v in problem.visits if v.id != visit.id)

    def fits(k: int) -> bool:
        at = start_s + k * LATEST_STEP_S
        fixed = replace(visit, windows=(TimeWindow(at, at),))
        p2 = problem.with_changes(visits=(*others, fixed))
        timing = time_route(
            p2, st.team, list(items), prefix=st.prefix, stop_at_violation=True, record=False
        )
        return timing.feasible

    lo, hi = 0, steps  # fits(lo) holds (the slot's own start); the answer is in [lo, hi]
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return start_s + lo * LATEST_STEP_S


__all__ = ["DaySlot", "SlotFinder", "SlotTaken", "finder_for", "parse_slot_id"]
