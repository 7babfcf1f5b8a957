"""Issue 23: two-person visits are served by a team of two, or by two single-person teams
starting them at the same second; never half served.

Small days on a line of places 10 minutes apart, solved with short budgets.
"""

from __future__ import annotations

import pytest
from optimise_world import H, line_problem

from dispatch.optimise import Team, TimeWindow, Visit, solve
from dispatch.optimise.check import plan_findings
from dispatch.optimise.sync import split_plan, split_problem


def _team(tid: str, size: int = 1, base: int = 0, **kw) -> Team:
    return Team(
        id=tid,
        start_location=base,
        end_location=base,
        shift_start_s=8 * H,
        shift_end_s=13 * H,
        size=size,
        **kw,
    )


def _stops(plan, visit_id):
    return [(r.team_id, s.start_s) for r in plan.routes for s in r.stops if s.visit_id == visit_id]


def _clean(problem, plan):
    assert [f.message for f in plan_findings(problem, plan, locale="en")] == []


@pytest.fixture(scope="module")
def two_singles():
    # A is based at place 0, B at place 8; each has a visit of its own near its base that
    # fits anywhere in the morning; the two-person visit at place 4 may start 08:30-11:00.
    visits = [
        Visit("duo", 4, 1800, windows=(TimeWindow(int(8.5 * H), 11 * H),), staff_count=2),
        Visit("a1", 1, 1800, windows=(TimeWindow(8 * H, 9 * H),)),
        Visit("b1", 9, 1800, windows=(TimeWindow(8 * H, 9 * H),)),
        Visit("b2", 10, 1800, windows=(TimeWindow(9 * H, 12 * H),)),
    ]
    problem = line_problem(visits, [_team("A", base=0), _team("B", base=8)])
    return problem, solve(problem, time_limit_s=1.0)


def test_two_single_teams_start_a_two_person_visit_at_the_same_second(two_singles):
    problem, plan = two_singles
    served = _stops(plan, "duo")
    assert sorted(t for t, _ in served) == ["A", "B"]
    assert served[0][1] == served[1][1]
    assert not plan.unassigned
    _clean(problem, plan)
    assert plan.stats["synchronised"] == 1


def test_a_team_of_two_serves_it_alone():
    visits = [
        Visit("duo", 4, 1800, windows=(TimeWindow(9 * H, 10 * H),), staff_count=2),
        Visit("a1", 2, 1800),
    ]
    problem = line_problem(visits, [_team("P", size=2), _team("A")])
    plan = solve(problem, time_limit_s=0.6)
    # A alone cannot be two people: the pair takes the visit, and a1 is served too.
    assert [t for t, _ in _stops(plan, "duo")] == ["P"]
    assert not plan.unassigned
    _clean(problem, plan)


def test_a_visit_that_cannot_be_synchronised_is_left_out_whole():
    visits = [
        Visit("duo", 4, 1800, windows=(TimeWindow(9 * H, 10 * H),), staff_count=2),
        Visit("a1", 2, 1800),
    ]
    problem = line_problem(visits, [_team("A")])
    plan = solve(problem, time_limit_s=0.6)
    assert _stops(plan, "duo") == []
    (left,) = plan.unassigned
    assert left.visit_id == "duo" and left.code == "not_synchronised"
    assert left.message("fr").startswith("visite à deux : ni binôme ni deux personnes")
    assert left.message("en").startswith("two-person visit: no pair and no two people")
    _clean(problem, plan)


def test_the_excluded_team_never_serves_either_copy():
    visits = [
        Visit(
            "duo",
            4,
            1800,
            windows=(TimeWindow(9 * H, 10 * H),),
            staff_count=2,
            excluded_team_ids=frozenset({"A"}),
        )
    ]
    problem = line_problem(visits, [_team("A"), _team("B"), _team("C", base=2)])
    plan = solve(problem, time_limit_s=0.6)
    served = _stops(plan, "duo")
    assert sorted(t for t, _ in served) == ["B", "C"]
    _clean(problem, plan)


def test_a_merged_plan_warm_starts_the_next_solve(two_singles):
    problem, plan = two_singles
    split = split_plan(problem, plan)
    ids = sorted(s.visit_id for r in split.routes for s in r.stops if s.visit_id)
    assert ids.count("duo") == 1 and ids.count("duo~2") == 1
    assert {v.id for v in split_problem(problem).visits} >= {"duo", "duo~2"}
    again = solve(problem, time_limit_s=0.6, current=plan)
    served = _stops(again, "duo")
    assert len(served) == 2 and served[0][1] == served[1][1]
    _clean(problem, again)


def test_a_cpu_budget_synchronises_too(two_singles):
    problem, _plan = two_singles
    plan = solve(problem, time_limit_s=0.6, cpu_time=True)
    served = _stops(plan, "duo")
    assert len(served) == 2 and served[0][1] == served[1][1]
    _clean(problem, plan)


def test_a_shared_visit_counts_once_in_the_summary(two_singles):
    problem, plan = two_singles
    assert plan.summary()["visits_served"] == len(problem.visits)


def test_progress_goes_on_through_the_rounds(two_singles):
    problem, _plan = two_singles
    seen: list[float] = []
    solve(problem, time_limit_s=0.6, progress=lambda info: seen.append(info["elapsed_s"]))
    assert seen and seen == sorted(seen)
