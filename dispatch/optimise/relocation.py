"""Room for a visit left out, made by chains of moves between routes (ejection chains).

Visit ``v`` fits in team A's route once visit ``u`` is taken out of it, and ``u`` fits in
team B's route as it stands (two moves), or once ``w`` is taken out of it, ``w`` going to
team C (three moves), and so on. A search of a few seconds leaves many such chains unfound
(each move looks worse alone), and timing every candidate exactly would take seconds in
Python; the relaxed timing (:mod:`dispatch.optimise.relaxed`) rules out almost all of them in
microseconds, and only those it lets through are timed exactly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from dispatch.optimise.insertion import (
    Insertion,
    TeamState,
    apply,
    cheapest_in_slots,
    current_cost,
    insert_all,
)
from dispatch.optimise.model import Problem, Visit, can_serve
from dispatch.optimise.schedule import start_state

#: Teams tried for each visit of a chain (those whose routes pass nearest it): to take it in
#: place of one of theirs, or as their route stands.
TARGET_TEAMS = 6
MOVE_TEAMS = 10
#: Lengths of the chains tried, in turn: two moves (the visit left out, and the one it
#: displaces), then longer ones while there is time. Haute-Corse day, the same 24 search
#: results (3 s), with time to finish: 466.3 visits served with chains of two, 470.8 up to
#: three, 473.5 up to four, 474.8 up to five (0.18, 0.23, 0.39 and 0.50 s on average, before
#: the chains were made faster), 475.5 up to seven, 476.0 up to nine (0.42 and 0.68 s); in
#: the 0.5 s a 3 s plan leaves them: 474.7, 475.3 and 474.8 (a second set of 24: 473.3,
#: 473.9 and 474.1). End to end, 48 runs at 3 s: 475.0 up to seven against 474.2 up to five.
DEPTHS = (2, 3, 4, 5, 6, 7)

Chain = tuple[int, tuple[Insertion, ...]]
"""Total added cost, and the insertions to apply (each team's new route)."""

_TeamKey = TypeVar("_TeamKey", bound=tuple[str | None, ...])
"""A key of the memo's per-team caches: the team's id first."""


@dataclass
class Memo:
    """What the chains share from one visit to the next (each entry until the routes it
    depends on change), and when they must stop (``deadline``, ``time.monotonic()``)."""

    deadline: float | None = None
    near: dict[str, list[str]] = field(default_factory=dict)
    places: dict[tuple[str, frozenset[str]], list[tuple[str, list[int]]]] = field(
        default_factory=dict
    )
    chains: dict[tuple[str, frozenset[str], int], Chain | None] = field(default_factory=dict)
    #: Per team and visit: where it fits as the route stands, and once each visit is out.
    slots: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    without: dict[tuple[str, str], list[tuple[str, list[int]]]] = field(default_factory=dict)
    #: Per team, visit taken out (or None) and visit put in: the cheapest exact insertion.
    exact: dict[tuple[str, str | None, str], Insertion | None] = field(default_factory=dict)
    _by_mode: dict[str, tuple[np.ndarray, np.ndarray, list[str]]] | None = None

    def fitting_slots(self, problem: Problem, state: TeamState, visit: Visit) -> list[int]:
        key = (state.team.id, visit.id)
        if key not in self.slots:
            self.slots[key] = state.relaxed(problem).fitting_slots(visit)
        return self.slots[key]

    def fitting_without(
        self, problem: Problem, state: TeamState, visit: Visit
    ) -> list[tuple[str, list[int]]]:
        """Each visit of the team's route (not locked to it) whose taking out would leave
        room for ``visit`` under the relaxed timing, and the slots where."""
        key = (state.team.id, visit.id)
        if key not in self.without:
            r = state.relaxed(problem)
            fitting: list[tuple[str, list[int]]] = []
            for k, fits in r.fitting_without(visit).items():
                out = r.ids[k]
                assert out is not None  # places 1 to n are visits
                fitting.append((out, fits))
            self.without[key] = fitting
        return self.without[key]

    def insertion(
        self,
        problem: Problem,
        state: TeamState,
        out: str | None,
        visit: Visit,
        slots: list[int],
    ) -> Insertion | None:
        """The cheapest insertion of ``visit`` on time exactly in ``slots`` of the team's route,
        with visit ``out`` taken out of it first (if given)."""
        key = (state.team.id, out, visit.id)
        if key not in self.exact:
            items = [i for i in state.items if i != out] if out else list(state.items)
            self.exact[key] = cheapest_in_slots(
                problem, state, items, visit, slots, current_cost(state)
            )
        return self.exact[key]

    def nearest(self, problem: Problem, states: dict[str, TeamState], visit: Visit) -> list[str]:
        """Every team that may take visits and can serve ``visit``, by the travel time to it
        from the nearest place of its route (where it starts, its visits, where it ends)."""
        if visit.id not in self.near:
            if self._by_mode is None:
                self._by_mode = _places_by_mode(problem, states)
            rows: list[tuple[int, str]] = []
            for mode, (locs, starts, tids) in self._by_mode.items():
                times = problem.matrix(mode)[locs, visit.location]
                rows += zip(np.minimum.reduceat(times, starts).tolist(), tids, strict=True)
            rows.sort()
            self.near[visit.id] = [tid for _, tid in rows if can_serve(states[tid].team, visit)]
        return self.near[visit.id]

    def changed(self, team_ids: set[str]) -> None:
        """Forget what the routes of ``team_ids`` changing makes stale."""
        _forget_teams(self.slots, team_ids)
        _forget_teams(self.without, team_ids)
        _forget_teams(self.exact, team_ids)
        self.near.clear()
        self.places.clear()
        self.chains.clear()
        self._by_mode = None


def _forget_teams(cache: dict[_TeamKey, Any], team_ids: set[str]) -> None:
    """Drop the entries of ``cache`` whose key starts with one of ``team_ids``."""
    for key in [key for key in cache if key[0] in team_ids]:
        del cache[key]


def _places_by_mode(
    problem: Problem, states: dict[str, TeamState]
) -> dict[str, tuple[np.ndarray, np.ndarray, list[str]]]:
    """For each vehicle profile, the places of its teams' routes end to end, where each
    team's begin, and the teams (those available, their routes on time)."""
    by_id = problem.visits_by_id()
    grouped: dict[str, tuple[list[int], list[int], list[str]]] = {}
    for tid, st in states.items():
        team = st.team
        if not (team.available and st.timing.feasible):
            continue
        locs, starts, tids = grouped.setdefault(team.mode, ([], [], []))
        starts.append(len(locs))
        tids.append(tid)
        locs.append(start_state(team, st.prefix)[0])
        locs += [by_id[i].location for i in st.items if isinstance(i, str)]
        locs.append(team.end_location)
    return {
        mode: (np.array(locs), np.array(starts), tids)
        for mode, (locs, starts, tids) in grouped.items()
    }


def _nearest(
    problem: Problem,
    states: dict[str, TeamState],
    visit: Visit,
    k: int,
    memo: Memo,
    exclude: frozenset[str],
) -> list[str]:
    """The ``k`` teams not in ``exclude`` able to serve ``visit`` (their routes on time)
    whose routes pass nearest it."""
    # The k first of those not excluded are among the k + len(exclude) first.
    near = memo.nearest(problem, states, visit)[: k + len(exclude)]
    return [tid for tid in near if tid not in exclude][:k]


def _places(
    problem: Problem,
    states: dict[str, TeamState],
    visit: Visit,
    exclude: frozenset[str],
    memo: Memo,
) -> list[tuple[str, list[int]]]:
    """The nearest teams not in ``exclude`` with room for ``visit`` under the relaxed timing,
    and the slots where it fits, routes as they stand."""
    key = (visit.id, exclude)
    if key not in memo.places:
        out = []
        for tid in _nearest(problem, states, visit, MOVE_TEAMS, memo, exclude):
            st = states[tid]
            if st.team.max_visits is not None and st.n_visits >= st.team.max_visits:
                continue
            slots = memo.fitting_slots(problem, st, visit)
            if slots:
                out.append((tid, slots))
        memo.places[key] = out
    return memo.places[key]


class _OutOfTime(Exception):
    """The deadline passed in the middle of a search for a chain (nothing was applied)."""


def _chain(
    problem: Problem,
    states: dict[str, TeamState],
    visit: Visit,
    exclude: frozenset[str],
    depth: int,
    memo: Memo,
) -> Chain | None:
    """The cheapest way found to serve ``visit`` with teams not in ``exclude``: inserted into
    a route as it stands or, if it fits in none and ``depth`` > 1, in place of a visit
    (not locked to its team) that is in turn served the same way by another team, one
    level down."""
    key = (visit.id, exclude, depth)
    if key in memo.chains:
        return memo.chains[key]
    best: Chain | None = None
    for tid, slots in _places(problem, states, visit, exclude, memo):
        found = memo.insertion(problem, states[tid], None, visit, slots)
        if found is not None and (best is None or found.delta_cost < best[0]):
            best = (found.delta_cost, (found,))
    if best is None and depth > 1:
        by_id = problem.visits_by_id()
        for tid in _nearest(problem, states, visit, TARGET_TEAMS, memo, exclude):
            st = states[tid]
            if memo.deadline is not None and time.monotonic() >= memo.deadline:
                raise _OutOfTime
            for out, fits in memo.fitting_without(problem, st, visit):
                u = by_id[out]
                below = exclude | {tid}
                # Whether the visit taken out could go anywhere is cheaper to rule out first.
                if depth == 2 and not _places(problem, states, u, below, memo):
                    continue
                ins = memo.insertion(problem, st, u.id, visit, fits)
                if ins is None:
                    continue
                rest = _chain(problem, states, u, below, depth - 1, memo)
                if rest is not None and (best is None or ins.delta_cost + rest[0] < best[0]):
                    best = (ins.delta_cost + rest[0], (ins, *rest[1]))
    memo.chains[key] = best
    return best


def insert_by_relocation(
    problem: Problem,
    states: dict[str, TeamState],
    visit: Visit,
    *,
    depth: int = 2,
    memo: Memo | None = None,
    changed: set[str] | None = None,
) -> bool:
    """Serve ``visit`` by a chain of at most ``depth`` moves: into a nearby team's route in
    place of one of its visits, which goes to another team's route, in place of one of its
    visits (depth 3)... or as the route stands.

    Each visit of the chain is tried in the :data:`TARGET_TEAMS` teams able to serve it
    whose routes pass nearest (in place of each of their visits not locked to them), the
    last in the :data:`MOVE_TEAMS` nearest as their routes stand; no team appears twice.
    Applies the cheapest chain found and returns True, or changes nothing and returns False.
    ``memo`` carries work from one call to the next; the teams whose routes change are
    added to ``changed``.
    """
    memo = Memo() if memo is None else memo
    found = _chain(problem, states, visit, frozenset(), depth, memo)
    if found is None:
        return False
    for ins in found[1]:
        apply(problem, states, ins)
    teams = {ins.team_id for ins in found[1]}
    memo.changed(teams)
    if changed is not None:
        changed |= teams
    return True


def serve_by_relocation(
    problem: Problem,
    states: dict[str, TeamState],
    left: list[str],
    *,
    deadline: float | None = None,
) -> tuple[list[str], int]:
    """Try :func:`insert_by_relocation` for each visit left out (mandatory ones first, then by
    priority): chains of two moves, pass after pass while one brings a visit in, then one
    move longer each time a pass brings none, up to the longest of :data:`DEPTHS`, until
    ``deadline`` (``time.monotonic()``). Returns the visits still left out and the number
    brought in.

    Every visit still left out has been tried in the routes as they end up (a chain may
    leave room where it took a longer visit out): when the deadline cuts a pass short, those
    not tried since are tried once more, as the routes stand, in the routes that changed.
    """
    by_id = problem.visits_by_id()
    todo = sorted(left, key=lambda v: (not by_id[v].mandatory, -by_id[v].priority))
    served: list[str] = []
    changed: set[str] = set()
    depth = 0
    memo = Memo(deadline=deadline)
    while todo and depth < len(DEPTHS):
        brought = []
        try:
            for vid in todo:
                if deadline is not None and time.monotonic() >= deadline:
                    raise _OutOfTime
                if insert_by_relocation(
                    problem, states, by_id[vid], depth=DEPTHS[depth], memo=memo, changed=changed
                ):
                    brought.append(vid)
        except _OutOfTime:
            served += brought
            todo = [v for v in todo if v not in brought]
            served += _settle(problem, states, todo, changed)
            return [v for v in left if v not in served], len(served)
        served += brought
        todo = [v for v in todo if v not in brought]
        depth = 0 if brought else depth + 1
    return [v for v in left if v not in served], len(served)


def _settle(
    problem: Problem, states: dict[str, TeamState], todo: list[str], changed: set[str]
) -> list[str]:
    """Insert the visits of ``todo`` that fit as the routes stand in a route of ``changed``;
    returns them."""
    still = insert_all(problem, states, todo, team_ids=sorted(changed))
    return [v for v in todo if v not in still]
