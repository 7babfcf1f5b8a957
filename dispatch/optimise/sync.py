"""Two-person visits: both staff present at the same second.

A visit with ``staff_count == 2`` is served by one team of two (``Team.size >= 2``), or by
two single-person teams starting it at the same second. PyVRP knows no synchronisation, so
:func:`solve_synchronised` splits each such visit into two one-person copies (``"<id>"`` and
``"<id>~2"``; the second may not go to a team of two, whose first copy is the whole visit;
the single-person teams able to serve it are dealt in turn to the two copies) and solves.
Then, without a search (:func:`_settle`), each pair of copies gets a common start at which
both routes stay on time (pinned as a one-second window, each copy locked to its team), or
the visit goes whole to a pair with room, or the second person is inserted at the first
one's start; what is left waits for a short search warm-started from that plan, twice at
most. A visit whose copies still do not meet is left out whole with the reason
``not_synchronised``, never half served. The copies are merged back (:func:`merge_plan`): the
plan holds the visit id in the two routes, with the same ``start_s``.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, cast

from dispatch.errors import SolverError
from dispatch.optimise.insertion import (
    TeamState,
    apply,
    insert_by_ejection,
    insertions,
    plan_from_states,
    states_from_plan,
)
from dispatch.optimise.model import Problem, TimeWindow, Visit, can_serve
from dispatch.optimise.plan import Plan, Route, Unassigned
from dispatch.optimise.reasons import explain
from dispatch.optimise.schedule import build_route, route_items, time_route

#: Suffix of a two-person visit's second copy while solving.
SECOND = "~2"
#: Rounds that fix common starts and re-solve from the plan found.
SYNC_ROUNDS = 2
#: Share of the budget the first solve gets; the rounds share the rest but what the settling
#: steps between them keep (their searches for room stop when their share is spent).
FIRST_SHARE = 0.45
SETTLE_SHARE = 0.2
MIN_ROUND_S = 0.1

_ACTIVE: contextvars.ContextVar[bool] = contextvars.ContextVar("sync_active", default=False)


def active() -> bool:
    """Whether a :func:`solve_synchronised` call is under way in this context (its copies are
    one-person visits, so the solver's hook never hands them back; a call from within raises)."""
    return _ACTIVE.get()


def second_id(visit_id: str) -> str:
    return visit_id + SECOND


def _pair_team_ids(problem: Problem) -> frozenset[str]:
    return frozenset(t.id for t in problem.teams if t.size >= 2)


def copies(visit: Visit, pair_team_ids: frozenset[str]) -> tuple[Visit, Visit]:
    """The two one-person copies of a two-person visit as the first search sees them (the
    second may not go to a team of two: the first copy there is the whole visit)."""
    first = replace(visit, staff_count=1)
    second = replace(
        visit,
        id=second_id(visit.id),
        staff_count=1,
        locked_team_id=None,
        preferred_team_id=None,
        excluded_team_ids=visit.excluded_team_ids | pair_team_ids,
    )
    return first, second


def split_problem(problem: Problem, current: Plan | None = None) -> Problem:
    """The problem with each two-person visit as two one-person copies (:func:`copies`), the
    single-person teams able to serve it shared between the copies.

    A team whose started visits (``fixed_visit_ids``) hold a two-person visit keeps the copy
    its route in ``current`` holds: the first team found holds ``"<id>"``, the second
    ``"<id>~2"``.
    """
    pairs = _pair_team_ids(problem)
    holder = _copy_holders(problem, current)
    visits: list[Visit] = []
    for v in problem.visits:
        if v.staff_count < 2:
            visits.append(v)
            continue
        first, second = copies(v, pairs)
        # The single-person teams able to serve it, nearest first, dealt in turn to the two
        # copies: the first search can then never give both copies to one team (what it
        # did most, one route passing twice being cheapest), and each copy has near teams.
        able = sorted(
            (t for t in problem.teams if t.size < 2 and can_serve(t, first)),
            key=lambda t: (int(problem.matrix(t.mode)[t.departure_location, v.location]), t.id),
        )
        held = {t for (vid, t) in holder if vid == v.id}
        only_a = {t.id for t in able[0::2]} - held
        only_b = {t.id for t in able[1::2]} - held
        visits.append(replace(first, excluded_team_ids=first.excluded_team_ids | only_b))
        visits.append(replace(second, excluded_team_ids=second.excluded_team_ids | only_a))
    teams = []
    for t in problem.teams:
        fixed = tuple(holder.get((vid, t.id), vid) for vid in t.fixed_visit_ids)
        teams.append(replace(t, fixed_visit_ids=fixed) if fixed != t.fixed_visit_ids else t)
    return problem.with_changes(teams=tuple(teams), visits=tuple(visits))


def _copy_holders(problem: Problem, plan: Plan | None) -> dict[tuple[str, str], str]:
    """(visit id, team id) -> the copy's id that team holds, for two-person visits."""
    out: dict[tuple[str, str], str] = {}
    if plan is None:
        return out
    shared = {v.id for v in problem.visits if v.staff_count > 1}
    for r in plan.routes:
        for vid in r.visit_ids:
            if vid in shared:
                taken = sum(1 for (v, _t) in out if v == vid)
                out[(vid, r.team_id)] = vid if taken == 0 else second_id(vid)
    return out


def split_plan(problem: Problem, plan: Plan | None) -> Plan | None:
    """``plan`` (merged: a two-person visit's id in two routes) in the copies' ids."""
    if plan is None:
        return None
    holder = _copy_holders(problem, plan)
    if not holder:
        return plan
    routes = []
    for r in plan.routes:
        stops = tuple(
            replace(s, visit_id=holder.get((s.visit_id, r.team_id), s.visit_id))
            if s.visit_id is not None
            else s
            for s in r.stops
        )
        routes.append(replace(r, stops=stops))
    return replace(plan, routes=tuple(routes))


def _served(plan: Plan) -> dict[str, tuple[str, int]]:
    """visit id -> (team id, start) in ``plan`` (the copies' ids)."""
    return {
        s.visit_id: (r.team_id, s.start_s)
        for r in plan.routes
        for s in r.stops
        if s.kind == "visit" and s.visit_id is not None
    }


def _overlay(problem: Problem, visits: dict[str, Visit]) -> Problem:
    """``problem`` as the timing reads it, with ``visits`` replaced (see :class:`_Overlay`)."""
    return cast(Problem, _Overlay(problem, visits))


class _Overlay:
    """``problem`` with some visits replaced, for timing routes only (no new matrices)."""

    def __init__(self, problem: Problem, visits: dict[str, Visit]) -> None:
        self._problem = problem
        self._visits = {**problem.visits_by_id(), **visits}

    def visits_by_id(self) -> dict[str, Visit]:
        return self._visits

    def __getattr__(self, name: str) -> Any:
        return getattr(self._problem, name)


def _pin(
    v: Visit, start_s: int, team_id: str | None, exclude: frozenset[str] = frozenset()
) -> Visit:
    return replace(
        v,
        windows=(TimeWindow(start_s, start_s),),
        locked_team_id=team_id,
        excluded_team_ids=v.excluded_team_ids | exclude,
    )


#: Step (s) of the common starts tried between two copies' starts.
START_STEP_S = 60


class _Settling:
    """The routes of a plan being edited while two-person visits' copies are brought
    together (see :func:`_settle`); ``changed`` holds each copy's new form (None: dropped)."""

    def __init__(
        self,
        original: Problem,
        split: Problem,
        plan: Plan,
        until: float | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.until = until
        self.clock = clock
        self.split = split
        self.pairs = _pair_team_ids(original)
        self.states = states_from_plan(split, plan)
        self.changed: dict[str, Visit | None] = {}

    def view(self, extra: dict[str, Visit] | None = None) -> Problem:
        live = {k: v for k, v in self.changed.items() if v is not None}
        return _overlay(self.split, {**live, **(extra or {})})

    def base(self, visit: Visit, copy_id: str) -> Visit:
        first, second = copies(visit, self.pairs)
        return first if copy_id == visit.id else second

    def remove(self, *visit_ids: str) -> list[tuple[TeamState, list, Any]]:
        """Take visits out of the routes; what to give to :meth:`restore` to undo it."""
        undo = []
        for st in self.states.values():
            if any(i in visit_ids for i in st.items):
                undo.append((st, st.items, st.timing))
                st.items = [i for i in st.items if i not in visit_ids]
                st.timing = time_route(self.view(), st.team, st.items, prefix=st.prefix)
        return undo

    @staticmethod
    def restore(undo: list[tuple[TeamState, list, Any]]) -> None:
        for st, items, timing in undo:
            st.items, st.timing = items, timing

    def insert(self, trial: Problem, visit: Visit, team_ids: list[str] | None = None) -> str | None:
        for st in self.states.values():
            st._relaxed = None  # relaxed timings were for other windows
        found = insertions(trial, self.states, visit, team_ids=team_ids)
        if not found:
            return None
        apply(trial, self.states, found[0])
        return found[0].team_id

    def insert_ejecting(self, trial: Problem, visit: Visit) -> str | None:
        """Insert ``visit`` in place of an optional visit of a route (see
        :func:`insert_by_ejection`); the team that takes it, or None."""
        for st in self.states.values():
            st._relaxed = None
        if insert_by_ejection(trial, self.states, visit) is None:
            return None
        return next(tid for tid, st in self.states.items() if visit.id in st.items)

    def on_time(self, pins: dict[str, Visit]) -> bool:
        """Whether the routes holding the ``pins`` (visit id -> pinned copy) are on time."""
        trial = self.view(pins)
        for st in self.states.values():
            if any(i in pins for i in st.items):
                t = time_route(
                    trial,
                    st.team,
                    st.items,
                    prefix=st.prefix,
                    stop_at_violation=True,
                    record=False,
                )
                if not t.feasible:
                    return False
        return True

    def late(self) -> bool:
        return self.until is not None and self.clock() > self.until

    def to_pair(self, visit: Visit) -> bool:
        """The visit whole to a team of two with room for it, in its own windows."""
        if not self.pairs or self.late():
            return False
        a, b = visit.id, second_id(visit.id)
        free = self.base(visit, a)
        undo = self.remove(a, b)
        team_id = self.insert(self.view({a: free}), free, sorted(self.pairs))
        if team_id is None:
            self.restore(undo)
            return False
        self.changed[a] = replace(free, locked_team_id=team_id)
        self.changed[b] = None
        return True

    def second_person(self, visit: Visit, keep: str, holder: str, start: int) -> bool:
        """Keep copy ``keep`` where it is (``holder``, at ``start``) and insert the other copy,
        pinned at ``start``, in another single-person team's route that stays on time."""
        if self.late():
            return False
        other = second_id(visit.id) if keep == visit.id else visit.id
        kept = _pin(self.base(visit, keep), start, holder)
        wanted = _pin(self.base(visit, other), start, None, frozenset({holder}) | self.pairs)
        undo = self.remove(other)
        trial = self.view({keep: kept, other: wanted})
        team_id = self.insert(trial, wanted)
        if team_id is None and visit.mandatory:
            # An optional visit may give way to the second person of a mandatory one.
            team_id = self.insert_ejecting(trial, wanted)
        if team_id is None:
            self.restore(undo)
            return False
        self.changed[keep] = kept
        self.changed[other] = replace(wanted, locked_team_id=team_id)
        return True

    def both_again(self, visit: Visit) -> bool:
        """Take both copies out and look for two single-person teams again: the first copy
        where it costs least (the :data:`REINSERT_TRIES` cheapest places), at its start or a
        little later, and the second copy at that same start in another route."""
        if self.late():
            return False
        a, b = visit.id, second_id(visit.id)
        free = self.base(visit, a)
        undo = self.remove(a, b)
        singles = [tid for tid, st in self.states.items() if st.team.size < 2]
        trial = self.view({a: free})
        for st in self.states.values():
            st._relaxed = None
        for ins in insertions(trial, self.states, free, team_ids=singles)[:REINSERT_TRIES]:
            st = self.states[ins.team_id]
            timed = time_route(trial, st.team, list(ins.items), prefix=st.prefix)
            start = next(x.start_s for x in timed.stops if x.visit_id == a)
            for later in LATER_STARTS_S:
                pinned = _pin(free, start + later, ins.team_id)
                if not any(
                    w.start_s <= pinned.windows[0].start_s <= w.end_s
                    for w in visit.windows_or_day()
                ):
                    continue
                pins = {a: pinned}
                before = st.items, st.timing
                st.items = list(ins.items)
                if self.on_time(pins):
                    st.timing = time_route(self.view(pins), st.team, st.items, prefix=st.prefix)
                    self.changed[a] = pinned
                    if self.second_person(visit, a, ins.team_id, start + later):
                        return True
                    del self.changed[a]
                st.items, st.timing = before
        self.restore(undo)
        return False


#: Places tried for a two-person visit's first copy when both copies are placed again, and
#: how much later than its earliest start there it may be pinned (seconds).
REINSERT_TRIES = 6
LATER_STARTS_S = (0, 900, 1800, 3600)


def _without_extra_breaks(problem: Problem, plan: Plan) -> Plan:
    """``plan`` with no route holding more breaks than its team has (a search warm-started
    from pinned copies once returned a route with its break twice; the exact timing then
    places the team's breaks again)."""
    routes = []
    for r in plan.routes:
        n_breaks = len(problem.team(r.team_id).breaks)
        seen = 0
        stops = []
        for s in r.stops:
            if s.kind == "break":
                seen += 1
                if seen > n_breaks:
                    continue
            stops.append(s)
        routes.append(replace(r, stops=tuple(stops)) if len(stops) != len(r.stops) else r)
    return replace(plan, routes=tuple(routes))


def _settle(
    original: Problem,
    split: Problem,
    plan: Plan,
    *,
    final: bool = False,
    until: float | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[Problem, Plan, bool]:
    """Bring each two-person visit's copies together in ``plan`` where it takes no search:

    - a team of two holds the first copy: the second is dropped;
    - two single-person teams hold the copies: both are pinned at a common start, the first
      between their two starts at which both routes stay on time;
    - otherwise (no such start, one copy held, or both by one team): a team of two with
      room takes the visit, or the copy held stays and the other is inserted at its start
      where another person's route stays on time.

    What is left waits for the next search (``final``: for :func:`merge_plan` to leave it
    out): copies two teams hold are pinned at the later start, a copy held alone keeps its
    team and the other copy looks elsewhere in the visit's windows. The searches for room
    stop at ``until`` (by ``clock``). Returns the next problem, the plan in it, and
    whether any two-person visit still waits.
    """
    plan = _without_extra_breaks(split, plan)
    served = _served(plan)
    teams = {t.id: t for t in original.teams}
    work = _Settling(original, split, plan, until, clock)
    pending = False
    for v in original.visits:
        if v.staff_count < 2:
            continue
        a, b = v.id, second_id(v.id)
        sa, sb = served.get(a), served.get(b)
        if sa is not None and teams[sa[0]].size >= 2:
            work.changed[a] = replace(work.base(v, a), locked_team_id=sa[0])
            work.changed[b] = None
            work.remove(b)
            continue
        if sa is None and sb is None:
            # Left out by the search: a pair, or two people at one start, may still have room.
            if v.mandatory and not (work.to_pair(v) or work.both_again(v)):
                continue
            continue
        if sa is not None and sb is not None and sa[0] != sb[0]:
            lo, hi = sorted((sa[1], sb[1]))
            for start in [lo, hi, *range(lo + START_STEP_S, hi, START_STEP_S)]:
                pins = {
                    a: _pin(work.base(v, a), start, sa[0]),
                    b: _pin(work.base(v, b), start, sb[0]),
                }
                if work.on_time(pins):
                    work.changed.update(pins)
                    break
            else:
                if not (
                    work.to_pair(v)
                    or work.second_person(v, a, *sa)
                    or work.second_person(v, b, *sb)
                    or work.both_again(v)
                ):
                    pending = True
                    if not final:
                        work.changed[a] = _pin(work.base(v, a), hi, sa[0])
                        work.changed[b] = _pin(work.base(v, b), hi, sb[0])
            continue
        keep = a if sa is not None else b
        holder, start = served[keep]
        if work.to_pair(v) or work.second_person(v, keep, holder, start) or work.both_again(v):
            continue
        pending = True
        other = b if keep == a else a
        work.remove(other)
        work.changed[keep] = replace(work.base(v, keep), locked_team_id=holder)
        base_other = work.base(v, other)
        work.changed[other] = replace(
            base_other,
            locked_team_id=None,
            excluded_team_ids=base_other.excluded_team_ids | {holder} | work.pairs,
        )
    changed = work.changed
    visits = tuple(changed.get(v.id, v) for v in split.visits if changed.get(v.id, v) is not None)
    nxt = split.with_changes(visits=visits)
    states = work.states
    placed = {i for st in states.values() for i in st.items if isinstance(i, str)}
    placed |= {s.visit_id for st in states.values() for s in st.prefix if s.visit_id}
    known = nxt.visits_by_id()
    unassigned = [u for u in plan.unassigned if u.visit_id not in placed and u.visit_id in known]
    reported = {u.visit_id for u in unassigned}
    for v in nxt.visits:
        if v.id not in placed and v.id not in reported:
            unassigned.append(explain(nxt, v))
    out = plan_from_states(nxt, states, unassigned, plan.stats)
    # The next search keeps what is synchronised: its copies count as urgent there (a search
    # from the settled plan otherwise traded some for other visits).
    ok, _partial = _synchronised(original, out)
    kept = {vid for v in ok for vid in (v, second_id(v))}
    if kept:
        nxt = nxt.with_changes(
            visits=tuple(replace(v, priority=5) if v.id in kept else v for v in nxt.visits)
        )
    return nxt, out, pending


def _synchronised(original: Problem, plan: Plan) -> tuple[set[str], set[str]]:
    """(two-person visits served as they must be, those served only in part)."""
    served = _served(plan)
    teams = {t.id: t for t in original.teams}
    ok: set[str] = set()
    partial: set[str] = set()
    for v in original.visits:
        if v.staff_count < 2:
            continue
        sa, sb = served.get(v.id), served.get(second_id(v.id))
        if sa is not None and teams[sa[0]].size >= 2:
            ok.add(v.id)  # a second copy elsewhere is dropped as not needed
        elif sa is not None and sb is not None and sa[0] != sb[0] and sa[1] == sb[1]:
            ok.add(v.id)
        elif sa is not None or sb is not None:
            partial.add(v.id)
    return ok, partial


def _held_by_pair(original: Problem, plan: Plan, visit_id: str) -> bool:
    held = _served(plan).get(visit_id)
    return held is not None and original.team(held[0]).size >= 2


def _reason(original: Problem, visit: Visit) -> Unassigned:
    from dispatch.optimise.model import hhmm

    windows = [(hhmm(w.start_s), hhmm(w.end_s + visit.duration_s)) for w in visit.windows]
    return Unassigned(
        visit.id, "not_synchronised", {"skills": sorted(visit.skills), "windows": windows}
    )


def merge_plan(original: Problem, split: Problem, plan: Plan, stats: dict[str, Any]) -> Plan:
    """The plan in the original ids: two-person visits served as they must be keep both
    stops (the second copy renamed), the others leave every route whole, with a reason."""
    ok, partial = _synchronised(original, plan)
    by_id = original.visits_by_id()
    drop = {second_id(vid) for vid in ok if vid in by_id}
    drop = {d for d in drop if _held_by_pair(original, plan, d[: -len(SECOND)])}
    for vid in partial:
        drop |= {vid, second_id(vid)}
    states = states_from_plan(split, plan)
    for st in states.values():
        if any(i in drop for i in st.items):
            st.items = [i for i in st.items if i not in drop]
    unassigned = [
        u for u in plan.unassigned if not u.visit_id.endswith(SECOND) and u.visit_id not in partial
    ]
    unassigned += [_reason(original, by_id[vid]) for vid in sorted(partial)]
    # Timed in the last round's problem, where each kept pair has its common start pinned.
    timed = plan_from_states(split, states, unassigned, stats)
    shared = {v.id for v in original.visits if v.staff_count > 1}
    routes: list[Route] = []
    for r in timed.routes:
        stops = tuple(
            replace(s, visit_id=s.visit_id[: -len(SECOND)])
            if s.visit_id is not None
            and s.visit_id.endswith(SECOND)
            and s.visit_id[: -len(SECOND)] in shared
            else s
            for s in r.stops
        )
        routes.append(replace(r, stops=stops))
    stats = dict(timed.stats)
    stats["synchronised"] = len(ok)
    stats["not_synchronised"] = len(partial)
    return replace(timed, routes=tuple(routes), stats=stats)


def _offset(
    progress: Callable[[dict[str, Any]], None] | None, elapsed_s: float
) -> Callable[[dict[str, Any]], None] | None:
    """``progress`` for a later round: its elapsed time counted from the first search."""
    if progress is None:
        return None
    report = progress

    def shifted(info: dict[str, Any]) -> None:
        report({**info, "elapsed_s": round(float(info.get("elapsed_s") or 0) + elapsed_s, 3)})

    return shifted


def solve_synchronised(problem: Problem, **solve_kwargs: Any) -> Plan:
    """:func:`dispatch.optimise.solver.solve` for a day with two-person visits (same
    arguments): every two-person visit in the plan is served by a team of two, or by two
    single-person teams starting it at the same second; one that cannot be is left out with
    the reason ``not_synchronised``."""
    from dispatch.optimise.solver import solve

    if _ACTIVE.get():
        raise SolverError("solve_synchronised called from within itself")
    time_limit_s = float(solve_kwargs.pop("time_limit_s"))
    current = solve_kwargs.pop("current", None)
    progress = solve_kwargs.pop("progress", None)
    t0 = time.perf_counter()
    token = _ACTIVE.set(True)
    try:
        split = split_problem(problem, current)
        plan = solve(
            split,
            time_limit_s=time_limit_s * FIRST_SHARE,
            current=split_plan(problem, current),
            progress=progress,
            **solve_kwargs,
        )
        rounds = 0
        # On a CPU budget (benchmarks) each round has its fixed share and the settling steps
        # count this process's CPU time; on a wall budget the rounds share what is left.
        cpu_time = bool(solve_kwargs.get("cpu_time"))
        clock = time.process_time if cpu_time else time.perf_counter
        deadline = t0 + time_limit_s * (1 - SETTLE_SHARE)
        for n in range(SYNC_ROUNDS + 1):
            left_s = deadline - time.perf_counter()
            final = n == SYNC_ROUNDS or (not cpu_time and left_s < MIN_ROUND_S)
            # Each settling step gets its share even when a search ran late (a busy machine).
            until = clock() + time_limit_s * SETTLE_SHARE / (SYNC_ROUNDS + 1)
            split, plan, pending = _settle(
                problem, split, plan, final=final, until=until, clock=clock
            )
            if not pending or final:
                break
            rounds += 1
            round_s = time_limit_s * (1 - FIRST_SHARE - SETTLE_SHARE) / SYNC_ROUNDS
            if not cpu_time:
                round_s = (deadline - time.perf_counter()) / (SYNC_ROUNDS - n)
            plan = solve(
                split,
                time_limit_s=max(MIN_ROUND_S, round_s),
                current=plan,
                progress=_offset(progress, time.perf_counter() - t0),
                **solve_kwargs,
            )
        stats = dict(plan.stats)
        stats["sync_rounds"] = rounds
        stats["time_s"] = round(time.perf_counter() - t0, 3)
        return merge_plan(problem, split, plan, stats)
    finally:
        _ACTIVE.reset(token)


def align_shared_starts(problem: Problem, plan: Plan, *, passes: int = 3) -> Plan:
    """``plan`` (merged ids) with each two-person visit in two routes starting at the same
    second in both: the routes are timed again with the visit pinned at the later of its two
    starts (a plan read back from the store is timed one route at a time). A route where
    that makes a visit late is timed anyway: the checker says which."""
    by_id = problem.visits_by_id()
    for _ in range(passes):
        starts: dict[str, list[int]] = {}
        for r in plan.routes:
            for s in r.stops:
                if s.visit_id in by_id and by_id[s.visit_id].staff_count > 1:
                    starts.setdefault(s.visit_id, []).append(s.start_s)
        pins = {
            vid: _pin(by_id[vid], max(ss), None)
            for vid, ss in starts.items()
            if len(ss) == 2 and ss[0] != ss[1]
        }
        if not pins:
            return plan
        overlay = _overlay(problem, pins)
        routes = []
        for r in plan.routes:
            if not any(vid in pins for vid in r.visit_ids):
                routes.append(r)
                continue
            team = problem.team(r.team_id)
            prefix, items = route_items(r, team)
            routes.append(replace(build_route(overlay, team, items, prefix), geometry=r.geometry))
        plan = replace(plan, routes=tuple(routes))
    return plan


def shared_starts(problem: Problem, plan: Plan) -> dict[str, int]:
    """Two-person visit id -> its start in ``plan``, for those served as they must be there:
    by two single-person teams starting it at the same second (a pair needs no agreed start)."""
    teams = {t.id: t for t in problem.teams}
    shared = {v.id for v in problem.visits if v.staff_count > 1}
    held: dict[str, list[tuple[str, int]]] = {}
    for r in plan.routes:
        team = teams.get(r.team_id)
        for s in r.stops:
            if s.kind == "visit" and s.visit_id in shared and team is not None:
                held.setdefault(s.visit_id, []).append((team.id, s.start_s))
    out: dict[str, int] = {}
    for vid, hs in held.items():
        if (
            len(hs) == 2
            and hs[0][0] != hs[1][0]
            and hs[0][1] == hs[1][1]
            and all(teams[t].size < 2 for t, _ in hs)
        ):
            out[vid] = hs[0][1]
    return out


def pin_starts(problem: Problem, starts: dict[str, int]) -> Problem:
    """``problem`` with each visit of ``starts`` allowed to start at that second only, so that
    a live change re-timing its routes keeps the start both people agreed on."""
    if not starts:
        return problem
    return problem.with_changes(
        visits=tuple(
            _pin(v, starts[v.id], v.locked_team_id) if v.id in starts else v for v in problem.visits
        )
    )


def resync(problem: Problem, before: Plan, after: Plan) -> Plan:
    """``after`` (a live change of ``before``) with every two-person visit served as it must be.

    For each two-person visit whose holders in ``after`` break the synchronisation: a pair
    holding it keeps it alone; otherwise the single-person holders that can still start it at
    its start in ``before`` keep it there (two at most; a team holding it twice keeps one).
    One person left: another single-person team whose route stays on time with the visit
    pinned at that second takes the second place, else a pair with room takes the visit
    whole, else it leaves every route and is reported whole with ``not_synchronised``. A
    started stop never moves. Without two-person visits, ``after`` comes back as it is.
    """
    shared = [v for v in problem.visits if v.staff_count > 1]
    if not shared:
        return after
    teams = {t.id: t for t in problem.teams}
    pair_ids = sorted(t.id for t in problem.teams if t.size >= 2)
    agreed = shared_starts(problem, before)
    states = states_from_plan(problem, after)
    pins: dict[str, Visit] = {}
    dropped: list[Visit] = []

    def started(tid: str, vid: str) -> int | None:
        return next((s.start_s for s in states[tid].prefix if s.visit_id == vid), None)

    def take_out(tid: str, vid: str, keep: int = 0) -> None:
        st = states[tid]
        out: list = []
        seen = 0
        for i in st.items:
            if i == vid:
                seen += 1
                if seen > keep:
                    continue
            out.append(i)
        if len(out) == len(st.items):
            return
        st.items = out
        st.timing = time_route(_overlay(problem, pins), st.team, st.items, prefix=st.prefix)

    def on_time(tid: str) -> bool:
        """Whether the team's route keeps the pinned visits on time (in a route already late,
        as live plans drift, whether the pins make it no worse)."""
        st = states[tid]
        t = time_route(_overlay(problem, pins), st.team, st.items, prefix=st.prefix)
        if t.feasible:
            return True
        base = time_route(problem, st.team, st.items, prefix=st.prefix)
        return not (t.late_ids & pins.keys()) and len(t.violations) <= len(base.violations)

    def place(visit: Visit, team_ids: list[str]) -> bool:
        if problem.now_s is not None and all(w.end_s < problem.now_s for w in visit.windows):
            return False  # a start already past is nobody's to take now
        # A real problem (not an overlay): the insertion cuts the visit's windows at now.
        fixed = {**pins, visit.id: visit}
        trial = problem.with_changes(visits=tuple(fixed.get(x.id, x) for x in problem.visits))
        for st in states.values():
            st._relaxed = None  # relaxed timings were for other windows
        found = insertions(trial, states, visit, team_ids=team_ids)
        if not found:
            return False
        apply(trial, states, found[0])
        return True

    for v in shared:
        holders = [
            tid for tid, st in states.items() if v.id in st.items or started(tid, v.id) is not None
        ]
        if not holders:
            continue
        # One place per team: a started stop, else the first in the route.
        for tid in holders:
            take_out(tid, v.id, keep=0 if started(tid, v.id) is not None else 1)
        pair = next((t for t in holders if teams[t].size >= 2), None)
        if pair is not None:
            for tid in holders:
                if tid != pair and started(tid, v.id) is None:
                    take_out(tid, v.id)
            continue
        begun = [b for b in (started(t, v.id) for t in holders) if b is not None]
        if begun:
            start = begun[0]
        elif v.id in agreed:
            start = agreed[v.id]
        else:
            # No start agreed before: the later of the holders' own starts.
            start = max(
                s.start_s
                for r in after.routes
                if r.team_id in holders
                for s in r.stops
                if s.visit_id == v.id
            )
        pins[v.id] = _pin(v, start, None)
        kept: list[str] = []
        for tid in sorted(holders, key=lambda t: started(t, v.id) is None):
            if len(kept) < 2 and (started(tid, v.id) is not None or on_time(tid)):
                kept.append(tid)
            else:
                take_out(tid, v.id)
        if len(kept) == 2:
            continue
        if len(kept) == 1:
            # The second person's place, as one person (a single-person team serves it so).
            second = replace(
                _pin(v, start, None, frozenset(kept) | frozenset(pair_ids)), staff_count=1
            )
            singles = [t for t, team in teams.items() if team.size < 2 and t not in kept]
            if place(second, singles):
                continue
        del pins[v.id]
        if all(started(t, v.id) is None for t in kept):
            for tid in kept:
                take_out(tid, v.id)
            if pair_ids and place(v, pair_ids):
                continue
            dropped.append(v)
    gone = {v.id for v in dropped}
    unassigned = [u for u in after.unassigned if u.visit_id not in gone]
    unassigned += [_reason(problem, v) for v in dropped]
    return plan_from_states(_overlay(problem, pins), states, unassigned, after.stats)
