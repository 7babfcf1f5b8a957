"""Live changes: urgent insertion, slots, delays, a team lost, manual moves, plan diffs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from optimise_world import H, random_day

from dispatch.errors import ValidationError
from dispatch.optimise import (
    TimeWindow,
    Visit,
    check_plan,
    diff_plans,
    insert_visit,
    move_visit,
    propose_slots,
    replan_after_delay,
    set_status,
    solve,
    team_unavailable,
)


@pytest.fixture(scope="module")
def day():
    problem = random_day(70, bases=3, teams=9, seed=5, visits=60)
    plan = solve(problem, time_limit_s=1.0)
    # At 10:00, what was planned to start before is done.
    live = plan
    for r in plan.routes:
        for s in r.stops:
            if s.kind == "visit" and s.start_s < 10 * H:
                live = set_status(live, s.visit_id, "done")
    return problem.with_changes(now_s=10 * H), live


def _unstarted(plan):
    return {s.visit_id: (r.team_id, s.status) for r in plan.routes for s in r.stops if s.visit_id}


def test_urgent_insertion_moves_only_unstarted_visits(day):
    """An urgent visit lands in one route; done visits keep their team, place and times."""
    problem, plan = day
    urgent = Visit(
        "URG",
        66,
        1800,
        windows=(TimeWindow(10 * H, 13 * H),),
        skills=frozenset({"infirmier"}),
        priority=5,
    )
    new = insert_visit(problem, plan, urgent)
    p2 = problem.with_changes(visits=problem.visits + (urgent,))
    assert "URG" in new.assignment()
    assert check_plan(p2, new) == []
    diff = diff_plans(plan, new)
    assert diff.moved == {"URG": (None, new.assignment()["URG"])}
    assert len(diff.changed_team_ids) == 1
    old_done = {s.visit_id: s for r in plan.routes for s in r.stops if s.status == "done"}
    new_done = {s.visit_id: s for r in new.routes for s in r.stops if s.status == "done"}
    assert old_done == new_done
    start = next(s.start_s for r in new.routes for s in r.stops if s.visit_id == "URG")
    assert start >= 10 * H


def test_impossible_insertion_comes_back_with_a_reason(day):
    """A visit needing an unknown skill is not placed but reported, never dropped."""
    problem, plan = day
    odd = Visit("ODD", 65, 600, skills=frozenset({"dialyse"}))
    new = insert_visit(problem, plan, odd)
    reason = next(u for u in new.unassigned if u.visit_id == "ODD")
    assert reason.code == "no_skill" and "dialyse" in reason.message()


def test_slots_are_feasible_and_bookable(day):
    """Each proposed slot, booked as a window, is accepted by insertion on the named team."""
    problem, plan = day
    new = Visit("NEW", 64, 1800, skills=frozenset({"infirmier"}))
    slots = propose_slots(problem, plan, new, n=4)
    assert 1 <= len(slots) <= 4
    assert [s.cost_s for s in slots] == sorted(s.cost_s for s in slots)
    for slot in slots:
        assert slot.start_s >= 10 * H and slot.latest_start_s >= slot.start_s
        booked = dataclasses.replace(
            new,
            windows=(TimeWindow(slot.start_s, slot.latest_start_s),),
            locked_team_id=slot.team_id,
        )
        result = insert_visit(problem, plan, booked)
        assert result.assignment().get("NEW") == slot.team_id


def test_delay_recomputes_etas_and_keeps_done_visits(day):
    """A team late by an hour gets new ETAs; visits it cannot make go elsewhere or get a reason."""
    problem, plan = day
    route = max(
        plan.routes,
        key=lambda r: sum(1 for s in r.stops if s.status == "planned" and s.kind == "visit"),
    )
    new = replan_after_delay(problem, plan, route.team_id, now_s=11 * H)
    delayed = new.route(route.team_id)
    first_planned = next(s for s in delayed.stops if s.status == "planned")
    assert first_planned.arrival_s >= 11 * H
    before = set(_unstarted(plan))
    after = set(_unstarted(new)) | {u.visit_id for u in new.unassigned}
    assert before <= after
    teams = tuple(
        dataclasses.replace(t, available_from_s=11 * H) if t.id == route.team_id else t
        for t in problem.teams
    )
    assert check_plan(problem.with_changes(teams=teams), new) == []


def test_lost_team_visits_are_reassigned_or_explained(day):
    """When a team stops, its unstarted visits go to others or are reported naming the team."""
    problem, plan = day
    route = max(plan.routes, key=lambda r: len(r.visit_ids))
    orphans = [s.visit_id for s in route.stops if s.kind == "visit" and s.status == "planned"]
    p2, new = team_unavailable(problem, plan, route.team_id)
    assert not any(
        s.status == "planned" and s.kind == "visit" for s in new.route(route.team_id).stops
    )
    left = {u.visit_id: u for u in new.unassigned}
    for vid in orphans:
        assert vid in new.assignment() or left[vid].code in (
            "team_unavailable",
            "max_visits",
            "no_shift",
            "no_skill",  # the lost team was the only one with that skill
        )
    assert check_plan(p2, new) == []


def test_manual_move_gives_immediate_feedback(day):
    """Moving a nurse visit to a care-aide team is reported as a skill violation, in French."""
    problem, plan = day
    nurse_visit = next(
        v
        for r in plan.routes
        if r.team_id.startswith("IDE")
        for v in r.visit_ids
        if _unstarted(plan)[v][1] == "planned"
    )
    aide = next(t.id for t in problem.teams if t.id.startswith("AS"))
    _, violations = move_visit(problem, plan, nurse_visit, aide, 0)
    assert any("compétence" in v for v in violations)


def test_started_visits_cannot_be_moved(day):
    """A manual move of a visit already done is refused with a clear error."""
    problem, plan = day
    done = next(
        (s.visit_id for r in plan.routes for s in r.stops if s.status == "done" and s.visit_id),
        None,
    )
    if done is None:
        pytest.fail("fixture has no done visit at 10:00")
    with pytest.raises(ValidationError, match="already started"):
        move_visit(problem, plan, done, plan.routes[0].team_id, 0)


def test_urgent_visit_displaces_the_least_important_visit():
    """With no room left, an urgent visit takes the place of the lowest-priority visit whose
    removal lets it in, and the visit taken out is reported, never lost."""
    from dispatch.optimise import Problem, Team
    from dispatch.optimise.insertion import plan_from_states, states_from_plan
    from dispatch.optimise.solver import insert_all

    pos = np.arange(4)
    matrix = (np.abs(pos[:, None] - pos[None, :]) * 600).astype(np.int64)
    team = Team(
        id="T", start_location=0, end_location=0, shift_start_s=8 * H, shift_end_s=11 * H + 2700
    )
    low = Visit("LOW", 1, 3000, windows=(TimeWindow(9 * H, 9 * H + 1800),), priority=1)
    mid = Visit("MID", 2, 3000, windows=(TimeWindow(10 * H, 10 * H + 1800),), priority=3)
    problem = Problem(teams=(team,), visits=(low, mid), travel_time_s={"car": matrix})
    states = states_from_plan(problem, None)
    assert insert_all(problem, states, ["LOW", "MID"]) == []
    plan = plan_from_states(problem, states, [])
    urgent = Visit("URG", 1, 3000, windows=(TimeWindow(9 * H, 11 * H),), priority=5)
    new = insert_visit(problem, plan, urgent)
    assert new.stats["displaced"] == "LOW"
    assert new.assignment() == {"URG": "T", "MID": "T"}
    assert [u.visit_id for u in new.unassigned] == ["LOW"]
    assert check_plan(problem.with_changes(visits=(low, mid, urgent)), new) == []


def test_a_visit_fits_just_after_a_break_that_would_move_to_it():
    """A new visit placed right after a break (the break then taken at its door) is found,
    although the break as planned, taken at the next visit's place, ends too late for it."""
    from dispatch.optimise import Break, Problem, Team
    from dispatch.optimise.insertion import plan_from_states, states_from_plan

    pos = np.arange(6)
    matrix = (np.abs(pos[:, None] - pos[None, :]) * 600).astype(np.int64)
    team = Team(
        id="T",
        start_location=0,
        end_location=0,
        shift_start_s=8 * H,
        shift_end_s=17 * H,
        breaks=(Break(12 * H, 14 * H, 3600),),
    )
    first = Visit("A", 1, 3000, windows=(TimeWindow(11 * H, 11 * H + 600),))
    last = Visit("B", 5, 1800, windows=(TimeWindow(14 * H, 14 * H + 1800),))
    problem = Problem(teams=(team,), visits=(first, last), travel_time_s={"car": matrix})
    states = states_from_plan(problem, None)
    states["T"].items = ["A", 0, "B"]
    plan = plan_from_states(problem, states, [])
    assert check_plan(problem, plan) == []
    new = Visit("NEW", 3, 1200, windows=(TimeWindow(13 * H, 13 * H + 900),))
    result = insert_visit(problem, plan, new)
    assert result.assignment().get("NEW") == "T"
    stops = [s.visit_id or s.kind for s in result.route("T").stops]
    assert stops == ["A", "break", "NEW", "B"]
    assert check_plan(problem.with_changes(visits=(first, last, new)), result) == []
