"""Issue 21 item 19: the independent checker names each rule a broken plan breaks.

Every test starts from a feasible plan of a small day on a line (places 10 minutes and
6 km apart, the base at place 0), breaks one thing the way a faulty solver adapter would,
and expects the checker to name that rule, and only the ones the change breaks.
"""

from __future__ import annotations

import dataclasses

import pytest
from optimise_world import H, line_problem

from dispatch.optimise import Break, Team, TimeWindow, Visit, check_plan, solve
from dispatch.optimise.check import plan_findings, recomputed_distance_m
from dispatch.optimise.vrptw import plan_distance


def _team(**kw) -> Team:
    base = dict(
        id="T1",
        start_location=0,
        end_location=0,
        shift_start_s=8 * H,
        shift_end_s=17 * H,
        breaks=(Break(12 * H, 14 * H, 1800),),
        capacity=10,
    )
    base.update(kw)
    return Team(**base)


@pytest.fixture(scope="module")
def day():
    visits = [
        Visit("a", 2, 1200, windows=(TimeWindow(8 * H, 10 * H),), load=3),
        Visit("b", 4, 1200, windows=(TimeWindow(9 * H, 12 * H),), load=3),
        Visit("c", 3, 1200, windows=(TimeWindow(13 * H, 15 * H),), load=3),
    ]
    problem = line_problem(visits, [_team()])
    plan = solve(problem, time_limit_s=0.3)
    assert not plan.unassigned
    assert plan_findings(problem, plan) == []
    return problem, plan


def _rules(problem, plan) -> set[str]:
    return {f.rule for f in plan_findings(problem, plan, locale="en")}


def _route(plan):
    return plan.routes[0]


def _replace_stop(route, visit_id, **changes):
    stops = tuple(
        dataclasses.replace(s, **changes) if s.visit_id == visit_id else s for s in route.stops
    )
    return dataclasses.replace(route, stops=stops)


def test_window_broken_is_named(day):
    problem, plan = day
    route = _route(plan)
    a = next(s for s in route.stops if s.visit_id == "a")
    late = 11 * H  # window 08:00-10:00
    shifted = _replace_stop(
        route, "a", arrival_s=late, start_s=late, departure_s=late + 1200, wait_s=0
    )
    assert a.start_s != late
    assert "windows" in _rules(problem, plan.with_route(shifted))


def test_travel_broken_is_named(day):
    problem, plan = day
    route = _route(plan)
    b = next(s for s in route.stops if s.visit_id == "b")
    early = b.arrival_s - 900
    teleported = _replace_stop(
        route, "b", arrival_s=early, start_s=max(early, 9 * H), departure_s=max(early, 9 * H) + 1200
    )
    assert "travel" in _rules(problem, plan.with_route(teleported))


def test_shift_end_broken_is_named(day):
    problem, plan = day
    end_s = _route(plan).end_s
    short = problem.with_changes(teams=(_team(shift_end_s=end_s - 600, breaks=()),))
    assert "shift_end" in _rules(short, plan)


def test_breaks_broken_are_named(day):
    problem, plan = day
    route = _route(plan)
    no_break = dataclasses.replace(route, stops=tuple(s for s in route.stops if s.kind != "break"))
    assert "breaks" in _rules(problem, plan.with_route(no_break))
    moved = tuple(
        dataclasses.replace(s, start_s=15 * H, departure_s=15 * H + 1800)
        if s.kind == "break"
        else s
        for s in route.stops
    )
    assert "breaks" in _rules(problem, plan.with_route(dataclasses.replace(route, stops=moved)))


def test_capacity_broken_is_named(day):
    problem, plan = day
    small = problem.with_changes(teams=(_team(capacity=5),))
    assert "capacity" in _rules(small, plan)


def test_lost_visit_is_named(day):
    problem, plan = day
    route = _route(plan)
    dropped = dataclasses.replace(route, stops=tuple(s for s in route.stops if s.visit_id != "c"))
    rules = _rules(problem, plan.with_route(dropped))
    assert "lost_visits" in rules


def test_route_starting_at_a_patients_door_is_named(day):
    """A route claiming to leave from visit b's place (40 minutes nearer) is refused:
    the team starts at its base, so its first arrival is judged from there."""
    problem, plan = day
    route = _route(plan)
    first = next(s for s in route.stops if s.kind == "visit")
    door = dataclasses.replace(route, start_location=first.location)
    # The solver's own times are kept: from the base they are still reachable, but the
    # start place is wrong.
    assert "start_place" in _rules(problem, plan.with_route(door))
    # Times computed from the door instead of the base: late by the drive from the base.
    early = route.start_s
    shifted = _replace_stop(
        door,
        first.visit_id,
        arrival_s=early,
        start_s=max(early, 8 * H),
        departure_s=max(early, 8 * H) + 1200,
    )
    rules = _rules(problem, plan.with_route(shifted))
    assert {"start_place", "travel"} <= rules


def test_route_ending_elsewhere_is_named(day):
    problem, plan = day
    route = _route(plan)
    away = dataclasses.replace(route, end_location=5)
    assert "end_place" in _rules(problem, plan.with_route(away))


def test_route_claiming_zero_metres_is_named(day):
    """The checker recomputes each leg's distance from the matrix; plan_distance too."""
    problem, plan = day
    route = _route(plan)
    zero = dataclasses.replace(
        route,
        stops=tuple(dataclasses.replace(s, distance_m=0) for s in route.stops),
        end_distance_m=0,
    )
    broken = plan.with_route(zero)
    assert zero.distance_m == 0
    assert "distance" in _rules(problem, broken)
    real = recomputed_distance_m(problem, plan)
    assert real == route.distance_m > 0
    assert recomputed_distance_m(problem, broken) == real
    assert plan_distance(problem, broken) == real / 10


def test_each_finding_has_a_readable_message_in_both_languages(day):
    problem, plan = day
    route = _route(plan)
    door = dataclasses.replace(route, start_location=4, end_location=5, end_distance_m=0)
    fr = check_plan(problem, plan.with_route(door))
    en = check_plan(problem, plan.with_route(door), locale="en")
    assert any("lieu de départ" in m for m in fr) and any("start place" in m for m in en)
    assert any("lieu d'arrivée" in m for m in fr) and any("end place" in m for m in en)
    assert any("distance" in m for m in en)


def test_live_plans_with_started_visits_still_pass():
    """A team restarting from its live position after a done visit: its legs are judged from
    there, with no false start-place or distance finding."""
    from dispatch.optimise.realtime import replan_after_delay, set_status

    visits = [
        Visit("a", 2, 1200, windows=(TimeWindow(8 * H, 10 * H),)),
        Visit("b", 6, 1200, windows=(TimeWindow(9 * H, 16 * H),)),
    ]
    problem = line_problem(visits, [_team(breaks=())])
    plan = solve(problem, time_limit_s=0.3)
    assert plan_findings(problem, plan) == []
    done = set_status(plan, "a", "done")
    live_team = _team(
        breaks=(), fixed_visit_ids=("a",), available_location=4, available_from_s=10 * H
    )
    live = problem.with_changes(teams=(live_team,), now_s=10 * H)
    new = replan_after_delay(live, done, "T1", now_s=10 * H, location=4)
    assert new.routes[0].visit_ids == ["a", "b"]
    assert plan_findings(live, new) == []
    # From place 4 to b (place 6) and back to the base (place 0): 2 + 6 legs of 6 km,
    # after the 2 legs of 6 km to a as planned in the morning.
    assert recomputed_distance_m(live, new) == (2 + 2 + 6) * 6000
