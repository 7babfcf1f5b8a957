"""Ejection chains of depth two: a visit left out gets in when another moves to a second team."""

from __future__ import annotations

import dataclasses

import numpy as np

from dispatch.optimise import Problem, Team, TimeWindow, Visit, check_plan
from dispatch.optimise.insertion import TeamState, plan_from_states
from dispatch.optimise.relocation import insert_by_relocation, serve_by_relocation
from dispatch.optimise.schedule import time_route

H = 3600


def line_problem(visits: list[Visit], teams: list[Team], n: int = 12) -> Problem:
    """Places 0..n-1 on a line, 10 minutes apart (place 0 is the base)."""
    pos = np.arange(n)
    matrix = (np.abs(pos[:, None] - pos[None, :]) * 600).astype(np.int64)
    return Problem(
        teams=tuple(teams),
        visits=tuple(visits),
        travel_time_s={"car": matrix},
        distance_m={"car": matrix * 10},
    )


def two_teams(lock_u: bool = False) -> tuple[Problem, dict[str, TeamState]]:
    """Nurse A (08:00-10:30) serves U; palliative visit V (1.5 h) fits only in A's route
    once U leaves it, and care aide B has room for U."""
    u = Visit(
        "U",
        1,
        H,
        windows=(TimeWindow(8 * H, int(9.5 * H)),),
        locked_team_id="A" if lock_u else None,
    )
    v = Visit("V", 2, int(1.5 * H), windows=(TimeWindow(8 * H, 10 * H),), skills=frozenset({"p"}))
    a = Team("A", 0, 0, 8 * H, int(10.5 * H), skills=frozenset({"p"}))
    b = Team("B", 0, 0, 8 * H, 12 * H)
    problem = line_problem([u, v], [a, b])
    states = {
        "A": TeamState(a, (), ["U"], time_route(problem, a, ["U"])),
        "B": TeamState(b, (), [], time_route(problem, b, [])),
    }
    return problem, states


def test_a_visit_gets_in_when_another_moves_to_a_second_team():
    problem, states = two_teams()
    assert not time_route(problem, states["A"].team, ["U", "V"]).feasible
    assert not time_route(problem, states["A"].team, ["V", "U"]).feasible

    left, brought = serve_by_relocation(problem, states, ["V"])

    assert (left, brought) == ([], 1)
    assert states["A"].items == ["V"] and states["B"].items == ["U"]
    assert all(st.timing.feasible for st in states.values())
    assert check_plan(problem, plan_from_states(problem, states, [])) == []


def test_a_visit_locked_to_its_team_is_never_moved_to_make_room():
    problem, states = two_teams(lock_u=True)

    assert insert_by_relocation(problem, states, problem.visit("V")) is False
    assert states["A"].items == ["U"] and states["B"].items == []


def test_nothing_changes_when_the_moved_visit_fits_nowhere_else():
    problem, states = two_teams()
    # B now ends at 08:30: U (1 h) no longer fits in its day.
    b = dataclasses.replace(states["B"].team, shift_end_s=int(8.5 * H))
    problem = problem.with_changes(teams=(states["A"].team, b))
    states["B"] = TeamState(b, (), [], time_route(problem, b, []))

    assert insert_by_relocation(problem, states, problem.visit("V")) is False
    assert states["A"].items == ["U"] and states["B"].items == []
