"""A relaxed timing of a route: necessary conditions for a visit to fit, in microseconds.

Each visit starts as it would exactly (in the first of its windows not yet over), but each
break is taken as if it could be on the road anywhere: it only has to start in its window
and its time is added to the leg it falls in. Travel times are the team's own. So a route
is never later under this timing than under the exact one (:func:`schedule.time_route`), and
a visit that does not fit somewhere under it does not fit there exactly: insertions and
exchanges time exactly only what it lets through.
"""

from __future__ import annotations

from dataclasses import dataclass

from dispatch.optimise.model import Problem, Team, Visit
from dispatch.optimise.plan import Stop
from dispatch.optimise.schedule import Item, start_state

#: A latest arrival that no arrival meets.
NEVER = -(2**62)

Windows = tuple[tuple[int, int], ...]


def windows_of(visit: Visit) -> Windows:
    return tuple((w.start_s, w.end_s) for w in visit.windows_or_day())


def _start(arrival: int, windows: Windows) -> int | None:
    """When a visit reached at ``arrival`` starts (the first window not over), as timed exactly."""
    for start, end in windows:
        if arrival <= end:
            return arrival if arrival > start else start
    return None


def _latest_start(by: int, windows: Windows) -> int:
    """The latest start in a window no later than ``by`` (:data:`NEVER` if none)."""
    best = NEVER
    for start, end in windows:
        c = end if end < by else by
        if c >= start and c > best:
            best = c
    return best


Slot = list[tuple[int, int, int]]
"""Breaks between two places: (earliest start, latest start, duration) each."""


def _through(now: int, leave: int, breaks: Slot) -> int | None:
    """Earliest arrival at the next place after leaving at ``leave`` and driving until
    ``now``, with ``breaks`` taken on the way (None when one cannot start in time)."""
    for earliest, latest, duration in breaks:
        if (leave if leave > earliest else earliest) > latest:
            return None
        now = (now if now > earliest else earliest) + duration
    return now


def _latest_leave(latest_arrival: int, travel_s: int, breaks: Slot) -> int:
    """Latest departure that can still arrive by ``latest_arrival`` with ``breaks`` on the way."""
    leave = latest_arrival - travel_s
    for _earliest, _latest, duration in breaks:
        leave -= duration
    for _earliest, latest, _duration in breaks:
        if latest < leave:
            leave = latest
    return leave


@dataclass(frozen=True)
class _Removal:
    """Visit ``k`` taken out of a route: its breaks (``merged``, before and after it), the
    slots before it kept as they are (below ``keep``), the slots before it whose latest
    arrival moves later (slot, new latest arrival at its end), the places after it whose
    earliest departure moves earlier (place, new departure), and the first place after it
    that keeps its own (``tail``; None when the route goes wrong before one)."""

    k: int
    merged: Slot
    keep: int
    before: list[tuple[int, int]]
    after: list[tuple[int, int]]
    tail: int | None


class Relaxed:
    """A route under the relaxed timing.

    Its places are numbered 0 (where it starts), 1 to n (the visits) and n + 1 (its end);
    ``slots[i]`` holds the breaks between place i and place i + 1; ``leave[i]`` is the
    earliest departure from place i and ``latest[i]`` the latest arrival there that keeps the
    rest of the route on time. ``ok`` is False when the route itself is not on time.
    """

    def __init__(
        self, problem: Problem, team: Team, items: list[Item], prefix: tuple[Stop, ...] = ()
    ) -> None:
        by_id = problem.visits_by_id()
        self.m = m = problem.matrix(team.mode)
        loc0, t0 = start_state(team, prefix)
        self.ids: list[str | None] = [None]
        locs, dur = [loc0], [0]
        wins: list[Windows] = [((t0, t0),)]
        slots: list[Slot] = [[]]
        self.locked = [True]
        for item in items:
            if isinstance(item, str):
                v = by_id[item]
                self.ids.append(item)
                self.locked.append(v.locked_team_id is not None)
                locs.append(v.location)
                wins.append(windows_of(v))
                dur.append(v.duration_s)
                slots.append([])
            else:
                b = team.breaks[item]
                slots[-1].append((b.earliest_start_s, b.latest_start_s, b.duration_s))
        self.ids.append(None)
        self.locked.append(True)
        locs.append(team.end_location)
        wins.append(((0, team.shift_end_s),))
        dur.append(0)
        self.locs, self.wins, self.dur, self.slots = locs, wins, dur, slots
        self.n = n = len(locs) - 2
        self.leg = [int(m[locs[i], locs[i + 1]]) for i in range(n + 1)]
        self.skip = [0] + [int(m[locs[i - 1], locs[i + 1]]) for i in range(1, n + 1)]
        leave = [t0] + [0] * (n + 1)
        self.ok = True
        for i in range(1, n + 1):
            arrival = _through(leave[i - 1] + self.leg[i - 1], leave[i - 1], slots[i - 1])
            start = None if arrival is None else _start(arrival, wins[i])
            if start is None:
                self.ok = False
                break
            leave[i] = start + dur[i]
        latest = [0] * (n + 2)
        latest[n + 1] = team.shift_end_s
        for i in range(n, 0, -1):
            by = _latest_leave(latest[i + 1], self.leg[i], slots[i])
            latest[i] = _latest_start(by - dur[i], wins[i])
        self.leave, self.latest = leave, latest
        self._removal_cache: list[_Removal] | None = None

    def _to_from(self, visit: Visit) -> tuple[list[int], list[int]]:
        return (
            self.m[self.locs, visit.location].tolist(),
            self.m[visit.location, self.locs].tolist(),
        )

    @staticmethod
    def _fits(
        a_leave: int, to_x: int, from_x: int, b_latest: int, breaks: Slot, x: Windows, x_dur: int
    ) -> bool:
        """Whether a visit (windows ``x``, ``x_dur`` long) fits between a place left at
        ``a_leave`` and one to reach by ``b_latest``, with ``breaks`` between them."""
        reach = a_leave + to_x
        # The break before the visit or after it (two or more: left out, which only relaxes
        # further).
        if len(breaks) == 1:
            arrangements: tuple = ((breaks, ()), ((), breaks))
        else:
            arrangements = (((), ()),)
        for before, after in arrangements:
            arrival = _through(reach, a_leave, before)
            start = None if arrival is None else _start(arrival, x)
            if start is not None and start + x_dur <= _latest_leave(b_latest, from_x, after):
                return True
        return False

    def fitting_slots(self, visit: Visit) -> list[int]:
        """Slots ``p`` (between places p and p + 1) where ``visit`` fits as the route stands
        under the relaxed timing: a necessary condition for fitting there exactly."""
        if not self.ok:
            return []
        x, x_dur = windows_of(visit), visit.duration_s
        x_lo, x_end = x[0][0], x[-1][1]
        to_x, from_x = self._to_from(visit)
        leave, latest, slots = self.leave, self.latest, self.slots
        out = []
        for p in range(self.n + 1):
            reach = leave[p] + to_x[p]
            if reach > x_end:
                break
            # Without the breaks first (most slots end there).
            if (reach if reach > x_lo else x_lo) + x_dur + from_x[p + 1] > latest[p + 1]:
                continue
            if self._fits(leave[p], to_x[p], from_x[p + 1], latest[p + 1], slots[p], x, x_dur):
                out.append(p)
        return out

    def _removals(self) -> list[_Removal]:
        """What taking each visit out changes in the route (the same for every visit to fit
        in its place: worked out once per route)."""
        if self._removal_cache is not None:
            return self._removal_cache
        n, wins, dur, leg, slots = self.n, self.wins, self.dur, self.leg, self.slots
        leave, latest = self.leave, self.latest
        out: list[_Removal] = []
        for k in range(1, n + 1):
            if self.locked[k]:
                continue
            merged = slots[k - 1] + slots[k]
            # Before k: latest arrivals, back to the first place that keeps its own.
            lowest = k
            before: list[tuple[int, int]] = []
            if k > 1:
                new_latest: dict[int, int] = {}
                by = _latest_leave(latest[k + 1], self.skip[k], merged)
                lat = _latest_start(by - dur[k - 1], wins[k - 1])
                i = k - 1
                while lat != latest[i]:
                    new_latest[i] = lat
                    lowest = i
                    if i == 1:
                        break
                    i -= 1
                    lat = _latest_start(_latest_leave(lat, leg[i], slots[i]) - dur[i], wins[i])
                before = [(p, new_latest[p + 1]) for p in range(max(lowest - 1, 0), k - 1)]
            # After k: earliest departures, up to the first place that keeps its own.
            after: list[tuple[int, int]] = []
            tail: int | None = None
            a_leave = leave[k - 1]
            arrival = _through(a_leave + self.skip[k], a_leave, merged)
            i = k + 1
            while arrival is not None and i <= n:
                start = _start(arrival, wins[i])
                if start is None:
                    break
                leave_i = start + dur[i]
                if leave_i == leave[i]:
                    tail = i
                    break
                after.append((i, leave_i))
                arrival = _through(leave_i + leg[i], leave_i, slots[i])
                i += 1
            keep = max(lowest - 1, 0) if k > 1 else 0
            out.append(_Removal(k, merged, keep, before, after, tail))
        self._removal_cache = out
        return out

    def fitting_without(self, visit: Visit) -> dict[int, list[int]]:
        """For each visit ``k`` (place 1 to n, not locked to the team), the slots of the route
        without it (numbered as in that route) where ``visit`` fits under the relaxed timing.

        Taking a visit out moves the latest arrivals before it later and the earliest
        departures after it earlier, but only back to the first place where waiting absorbs
        the change: beyond, a slot is as in the route as it stands.
        """
        out: dict[int, list[int]] = {}
        if not self.ok:
            return out
        x, x_dur = windows_of(visit), visit.duration_s
        x_lo, x_end = x[0][0], x[-1][1]
        to_x, from_x = self._to_from(visit)
        n, slots = self.n, self.slots
        leave, latest = self.leave, self.latest
        _fits = self._fits

        def fits(a: int, a_leave: int, b: int, b_latest: int, breaks: Slot) -> bool:
            reach = a_leave + to_x[a]
            if reach > x_end:
                return False
            # Without the breaks first (most slots end there).
            if (reach if reach > x_lo else x_lo) + x_dur + from_x[b] > b_latest:
                return False
            return _fits(a_leave, to_x[a], from_x[b], b_latest, breaks, x, x_dur)

        # Slot p as the route stands: when the visit is reached, and when it would reach the
        # next place at the earliest, breaks aside (most slots are ruled out on these).
        reach = [leave[p] + to_x[p] for p in range(n + 1)]
        need = [(r if r > x_lo else x_lo) + x_dur + from_x[p + 1] for p, r in enumerate(reach)]
        base = [
            p
            for p in range(n + 1)
            if reach[p] <= x_end
            and need[p] <= latest[p + 1]
            and _fits(leave[p], to_x[p], from_x[p + 1], latest[p + 1], slots[p], x, x_dur)
        ]
        for r in self._removals():
            k = r.k
            found = [p for p in base if p < r.keep]
            for p, new_latest in r.before:
                if (
                    reach[p] <= x_end
                    and need[p] <= new_latest
                    and _fits(leave[p], to_x[p], from_x[p + 1], new_latest, slots[p], x, x_dur)
                ):
                    found.append(p)
            # Where k was, then after it.
            a_leave = leave[k - 1]
            if a_leave + to_x[k - 1] <= x_end:
                if fits(k - 1, a_leave, k + 1, latest[k + 1], r.merged):
                    found.append(k - 1)
                for i, leave_i in r.after:
                    if leave_i + to_x[i] > x_end:
                        break
                    if fits(i, leave_i, i + 1, latest[i + 1], slots[i]):
                        found.append(i - 1)
                else:
                    if r.tail is not None:
                        found += [p - 1 for p in base if p >= r.tail]
            if found:
                out[k] = found
        return out
