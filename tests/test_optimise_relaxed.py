"""The relaxed timing: never rules out an insertion that is on time exactly, rules out most others."""

from __future__ import annotations

import dataclasses

import pytest
from optimise_world import H, line_problem, random_day

from dispatch.optimise import Break, Team, TimeWindow, Visit, solve
from dispatch.optimise.insertion import TeamState, states_from_plan
from dispatch.optimise.relaxed import Relaxed
from dispatch.optimise.schedule import time_route


@pytest.fixture(scope="module")
def care_states():
    """A care day (skills, one- and two-window visits, lunch breaks) planned briefly, and a
    live variant in which each team sets off later from elsewhere."""
    problem = random_day(64, bases=3, teams=8, seed=5)
    plan = solve(problem, time_limit_s=0.5, searches=1)
    live = problem.with_changes(
        teams=tuple(
            dataclasses.replace(t, available_location=10 + k, available_from_s=t.shift_start_s + H)
            for k, t in enumerate(problem.teams)
        )
    )
    live_plan = solve(live, time_limit_s=0.5, searches=1)
    return [(problem, states_from_plan(problem, plan)), (live, states_from_plan(live, live_plan))]


def _slot_of(items: list, pos: int) -> int:
    """The visit slot (number of visits before it) of item position ``pos``."""
    return sum(1 for i in items[:pos] if isinstance(i, str))


@pytest.mark.parametrize("variant", [0, 1])
def test_the_relaxed_timing_never_rules_out_what_fits_exactly(care_states, variant):
    """Every insertion that is on time exactly (with breaks on the road and two-window visits),
    into a route as it stands or with one of its visits taken out, is among those the
    relaxed timing lets through."""
    problem, states = care_states[variant]
    exact_fits = exact_fits_without = 0
    for st in states.values():
        assert st.timing.feasible
        relaxed = Relaxed(problem, st.team, st.items, st.prefix)
        visit_ids = [i for i in st.items if isinstance(i, str)]
        others = [v for v in problem.visits if v.id not in visit_ids][::3]
        for x in others:
            if x.skills and not x.skills <= st.team.skills:
                continue
            slots = set(relaxed.fitting_slots(x))
            for pos in range(len(st.items) + 1):
                cand = st.items[:pos] + [x.id] + st.items[pos:]
                if time_route(problem, st.team, cand, prefix=st.prefix).feasible:
                    exact_fits += 1
                    assert _slot_of(st.items, pos) in slots, (st.team.id, x.id, pos)
            without = relaxed.fitting_without(x)
            for k, u in enumerate(visit_ids, start=1):
                items = [i for i in st.items if i != u]
                for pos in range(len(items) + 1):
                    cand = items[:pos] + [x.id] + items[pos:]
                    if time_route(problem, st.team, cand, prefix=st.prefix).feasible:
                        exact_fits_without += 1
                        assert _slot_of(items, pos) in without.get(k, []), (st.team.id, x.id, u)
    # The check above is not empty: both kinds of insertion happen on this day.
    assert exact_fits > 0 and exact_fits_without > exact_fits


def test_the_relaxed_timing_rules_out_most_of_what_does_not_fit(care_states):
    problem, states = care_states[0]
    offered = fitting = 0
    for st in states.values():
        relaxed = Relaxed(problem, st.team, st.items, st.prefix)
        for x in problem.visits[::2]:
            if x.id in st.items or (x.skills and not x.skills <= st.team.skills):
                continue
            for k, slots in relaxed.fitting_without(x).items():
                u = relaxed.ids[k]
                items = [i for i in st.items if i != u]
                where = [n for n, i in enumerate(items) if isinstance(i, str)]
                for p in slots:
                    offered += 1
                    lo = where[p - 1] + 1 if p > 0 else 0
                    hi = where[p] if p < len(where) else len(items)
                    fitting += any(
                        time_route(
                            problem, st.team, items[:q] + [x.id] + items[q:], prefix=st.prefix
                        ).feasible
                        for q in range(lo, hi + 1)
                    )
    # What it lets through fits exactly often enough that checking it is worth it.
    assert offered > 0 and fitting / offered > 0.2


def test_breaks_count_in_the_relaxed_timing():
    """A lunch break (starting 12:00-13:00, 1 h) leaves no room for a 2 h visit starting
    11:00-12:00 before a visit at 13:30, though the visit alone would fit."""
    lunch = (Break(12 * H, 14 * H, H),)
    a = Team("A", 0, 0, 8 * H, 17 * H, breaks=lunch)
    later = Visit("L", 1, H, windows=(TimeWindow(int(13.5 * H), int(13.5 * H)),))
    x = Visit("X", 1, 2 * H, windows=(TimeWindow(11 * H, 12 * H),))
    problem = line_problem([later, x], [a])
    no_break = dataclasses.replace(a, breaks=())
    with_break = TeamState(a, (), [0, "L"], time_route(problem, a, [0, "L"]))
    assert with_break.timing.feasible
    without = TeamState(no_break, (), ["L"], time_route(problem, no_break, ["L"]))

    assert Relaxed(problem, without.team, without.items).fitting_slots(x) == [0]
    assert Relaxed(problem, with_break.team, with_break.items).fitting_slots(x) == []


def test_insertions_find_every_place_an_exact_scan_finds(care_states):
    """The insertions behind urgent visits, slots and repairs try only the slots the relaxed
    timing lets through, and still find every insertion an exhaustive exact scan finds."""
    from dispatch.optimise.insertion import insertions, with_breaks

    problem, states = care_states[0]
    served = {i for st in states.values() for i in st.items if isinstance(i, str)}
    checked = 0
    for x in [v for v in problem.visits if v.id not in served] + list(problem.visits[::7]):
        found = {
            (f.team_id, f.position)
            for f in insertions(problem, states, x, move_breaks=False)
            if x.id not in states[f.team_id].items
        }
        scan = set()
        for tid, st in states.items():
            if x.id in st.items or (x.skills and not x.skills <= st.team.skills):
                continue
            items = with_breaks(st.team, st.items + [x.id], st.prefix)
            items.remove(x.id)
            for pos in range(len(items) + 1):
                cand = items[:pos] + [x.id] + items[pos:]
                if time_route(problem, st.team, cand, prefix=st.prefix).feasible:
                    scan.add((tid, pos))
        assert found == scan, x.id
        checked += len(scan)
    assert checked > 0


def test_a_teams_relaxed_timing_is_kept_until_its_route_changes(care_states):
    """Insertions and chains ask a team's state for its relaxed timing again and again: the
    same one while the route stands, a new one once it changes (reassigned or edited in
    place)."""
    problem, states = care_states[0]
    orig = next(s for s in states.values() if sum(isinstance(i, str) for i in s.items) >= 2)
    st = TeamState(orig.team, orig.prefix, list(orig.items), orig.timing)
    first = st.relaxed(problem)
    assert st.relaxed(problem) is first
    assert first.ids[1:-1] == [i for i in st.items if isinstance(i, str)]

    st.items = st.items[::-1]
    reversed_ = st.relaxed(problem)
    assert reversed_ is not first
    assert reversed_.ids[1:-1] == [i for i in st.items if isinstance(i, str)]

    dropped = next(i for i in st.items if isinstance(i, str))
    st.items.remove(dropped)
    assert dropped not in st.relaxed(problem).ids
    # The route it was asked for, when not the one as it stands.
    assert st.relaxed(problem, [dropped]).ids == [None, dropped, None]
