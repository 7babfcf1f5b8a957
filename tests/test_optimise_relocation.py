"""Ejection chains of depth two: a visit left out gets in when another moves to a second team."""

from __future__ import annotations

import dataclasses

from optimise_world import H, line_problem, random_day

from dispatch.optimise import Problem, Team, TimeWindow, Visit, check_plan
from dispatch.optimise.insertion import TeamState, plan_from_states
from dispatch.optimise.relocation import insert_by_relocation, serve_by_relocation
from dispatch.optimise.schedule import time_route


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


def three_teams() -> tuple[Problem, dict[str, TeamState]]:
    """V (palliative) fits in A's route once U leaves it; U (which needs skill q) fits in B's
    route once W leaves it; W fits in C's empty day. No shorter chain serves V."""
    u = Visit("U", 1, H, windows=(TimeWindow(8 * H, int(9.5 * H)),), skills=frozenset({"q"}))
    v = Visit("V", 2, int(1.5 * H), windows=(TimeWindow(8 * H, 10 * H),), skills=frozenset({"p"}))
    w = Visit("W", 3, H, windows=(TimeWindow(8 * H, int(9.5 * H)),))
    a = Team("A", 0, 0, 8 * H, int(10.5 * H), skills=frozenset({"p", "q"}))
    b = Team("B", 0, 0, 8 * H, 10 * H, skills=frozenset({"q"}))
    c = Team("C", 0, 0, 8 * H, 12 * H)
    problem = line_problem([u, v, w], [a, b, c])
    states = {
        t.id: TeamState(t, (), items, time_route(problem, t, items))
        for t, items in ((a, ["U"]), (b, ["W"]), (c, []))
    }
    return problem, states


def test_a_chain_of_three_moves_when_no_shorter_one_serves_the_visit():
    problem, states = three_teams()
    assert not time_route(problem, states["B"].team, ["U", "W"]).feasible
    assert not time_route(problem, states["B"].team, ["W", "U"]).feasible

    assert insert_by_relocation(problem, states, problem.visit("V"), depth=2) is False
    assert [st.items for st in states.values()] == [["U"], ["W"], []]

    left, brought = serve_by_relocation(problem, states, ["V"])

    assert (left, brought) == ([], 1)
    assert {tid: st.items for tid, st in states.items()} == {"A": ["V"], "B": ["U"], "C": ["W"]}
    assert check_plan(problem, plan_from_states(problem, states, [])) == []


def test_a_pass_cut_short_leaves_no_visit_out_that_fits_as_the_routes_stand(monkeypatch):
    """When the deadline cuts the chains short right after one is applied, the visits left
    out are tried once more in the routes that changed: none of them fits anywhere as the
    routes stand (their reasons hold)."""
    import types

    from dispatch.optimise import relocation
    from dispatch.optimise.insertion import insertions, states_from_plan

    problem = random_day(120, bases=2, teams=6, seed=25, size_m=25_000)
    from dispatch.optimise import solver

    # Routes built by cheapest insertion alone (no search): chains find room in them, and
    # the first one leaves room for six visits as the routes stand.
    states = states_from_plan(problem, None)
    left = solver.insert_all(problem, states, [v.id for v in problem.visits])
    now = [0.0]
    monkeypatch.setattr(relocation, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    chain = relocation.insert_by_relocation

    def once(*args, **kwargs):
        if chain(*args, **kwargs):
            now[0] = 10.0  # past the deadline from now on
            return True
        return False

    monkeypatch.setattr(relocation, "insert_by_relocation", once)
    still, brought = serve_by_relocation(problem, states, left, deadline=5.0)

    assert brought >= 1 and now[0] == 10.0
    by_id = problem.visits_by_id()
    for vid in still:
        assert insertions(problem, states, by_id[vid], move_breaks=False) == [], vid
    unassigned = solver.unassigned_reasons(problem, states, still)
    assert check_plan(problem, plan_from_states(problem, states, unassigned)) == []


def test_a_team_with_no_visits_that_takes_one_in_a_chain_takes_its_breaks_too():
    """An empty route holds no breaks (the team is off); the first visit a chain moves into
    it brings the team's lunch break with it, as every other insertion does."""
    from dispatch.optimise import Break

    problem, states = two_teams()
    b = dataclasses.replace(states["B"].team, breaks=(Break(9 * H, 12 * H, int(0.5 * H)),))
    problem = problem.with_changes(teams=(states["A"].team, b))
    states["B"] = TeamState(b, (), [], time_route(problem, b, []))

    left, brought = serve_by_relocation(problem, states, ["V"])

    assert (left, brought) == ([], 1)
    assert sorted(states["B"].items, key=str) == [0, "U"]
    assert check_plan(problem, plan_from_states(problem, states, [])) == []
