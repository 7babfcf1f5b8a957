"""Live changes keep two-person visits synchronised: after a team is lost or late, a
two-person visit is served by its remaining person and a third single-person team at the
same start, or by a pair, or left out whole with the reason ``not_synchronised``.

Handmade plans on a line of places 10 minutes apart; the two-person visit ``duo`` (place 4,
08:30-11:00) is held by A and B at 10:00, a start inside its window that the plain timing
would not choose (both could be there earlier).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from optimise_world import H, line_problem
from test_rounds import DAY

from dispatch.errors import ConfirmationRequired
from dispatch.optimise import Team, TimeWindow, Visit, replan_after_delay, team_unavailable
from dispatch.optimise.check import plan_findings
from dispatch.optimise.insertion import plan_from_states, states_from_plan
from dispatch.optimise.sync import resync

START = 10 * H


def _team(tid: str, base: int = 0, size: int = 1, **kw) -> Team:
    return Team(
        id=tid,
        start_location=base,
        end_location=base,
        shift_start_s=8 * H,
        shift_end_s=13 * H,
        size=size,
        **kw,
    )


def _world(*extra_teams: Team, extra_visits: tuple[Visit, ...] = ()):
    """A (base 0) does a1 then duo, B (base 8) does b1 then duo, duo pinned at 10:00."""
    visits = [
        Visit("duo", 4, 1800, windows=(TimeWindow(int(8.5 * H), 11 * H),), staff_count=2),
        Visit("a1", 1, 1800, windows=(TimeWindow(8 * H, 9 * H),)),
        Visit("b1", 9, 1800, windows=(TimeWindow(8 * H, 9 * H),)),
        *extra_visits,
    ]
    teams = [_team("A", base=0), _team("B", base=8), *extra_teams]
    problem = line_problem(visits, teams)
    pinned = problem.with_changes(
        visits=tuple(
            replace(v, windows=(TimeWindow(START, START),)) if v.id == "duo" else v
            for v in problem.visits
        )
    )
    states = states_from_plan(pinned, None)
    states["A"].items = ["a1", "duo"]
    states["B"].items = ["b1", "duo"]
    for v in extra_visits:
        states[v.preferred_team_id].items = [v.id]
    plan = plan_from_states(pinned, states, [])
    assert _holders(plan) == [("A", START), ("B", START)]
    assert plan_findings(problem, plan) == []
    return problem, plan


def _holders(plan, visit_id: str = "duo") -> list[tuple[str, int]]:
    return sorted(
        (r.team_id, s.start_s) for r in plan.routes for s in r.stops if s.visit_id == visit_id
    )


def _sync_findings(problem, plan) -> list[str]:
    return [f.message for f in plan_findings(problem, plan) if f.rule == "synchronisation"]


def _left_out_whole(problem, plan) -> None:
    assert _holders(plan) == []
    (reason,) = [u for u in plan.unassigned if u.visit_id == "duo"]
    assert reason.code == "not_synchronised"
    assert _sync_findings(problem, plan) == []


def test_a_lost_partner_is_replaced_by_a_free_single_team_at_the_same_start():
    problem, plan = _world(_team("C", base=4))
    problem, new = team_unavailable(problem, plan, "B")
    assert _holders(new) == [("A", START), ("C", START)]
    assert "duo" not in {u.visit_id for u in new.unassigned}
    assert plan_findings(problem, new) == []


def test_a_lost_partner_nobody_can_replace_leaves_the_visit_out_whole():
    problem, plan = _world()
    problem, new = team_unavailable(problem, plan, "B")
    _left_out_whole(problem, new)
    assert plan_findings(problem, new) == []


def test_a_third_team_busy_at_the_agreed_start_cannot_replace_the_partner():
    # C is at place 11 from 09:50 to 10:20: it cannot be at place 4 at 10:00.
    busy = Visit(
        "c1", 11, 1800, windows=(TimeWindow(int(9.83 * H), int(9.83 * H)),), preferred_team_id="C"
    )
    problem, plan = _world(_team("C", base=11), extra_visits=(busy,))
    problem, new = team_unavailable(problem, plan, "B")
    _left_out_whole(problem, new)
    assert _holders(new, "c1") == [("C", int(9.83 * H))]


def test_a_pair_takes_the_visit_whole_when_no_single_team_can():
    problem, plan = _world(_team("P", base=4, size=2))
    problem, new = team_unavailable(problem, plan, "B")
    assert [t for t, _ in _holders(new)] == ["P"]
    assert plan_findings(problem, new) == []


def test_a_partner_too_late_for_the_agreed_start_is_replaced():
    # At 09:55 B is at place 11, 70 minutes from the visit: it cannot be there at 10:00.
    problem, plan = _world(_team("C", base=4))
    new = replan_after_delay(
        problem.with_changes(now_s=int(9.92 * H)), plan, "B", now_s=int(9.92 * H), location=11
    )
    assert _holders(new) == [("A", START), ("C", START)]
    assert _sync_findings(problem, new) == []


def test_a_partner_too_late_with_nobody_to_replace_it_leaves_the_visit_out_whole():
    problem, plan = _world()
    new = replan_after_delay(
        problem.with_changes(now_s=int(9.92 * H)), plan, "B", now_s=int(9.92 * H), location=11
    )
    _left_out_whole(problem, new)


def test_a_small_delay_keeps_the_agreed_start_for_both():
    # B is late (b1 missed) but, at place 5 at 09:15, can still be at place 4 by 10:00:
    # neither moves its start.
    problem, plan = _world(_team("C", base=4))
    new = replan_after_delay(problem, plan, "B", now_s=int(9.25 * H), location=5)
    assert _holders(new) == [("A", START), ("B", START)]
    assert _sync_findings(problem, new) == []


def test_another_team_lost_keeps_the_partners_start():
    # C's own visit goes to A or B or nobody, never moving the shared start.
    extra = Visit("c1", 5, 1200, windows=(TimeWindow(8 * H, 12 * H),), preferred_team_id="C")
    problem, plan = _world(_team("C", base=5), extra_visits=(extra,))
    problem, new = team_unavailable(problem, plan, "C")
    assert _holders(new) == [("A", START), ("B", START)]
    assert _sync_findings(problem, new) == []


def test_a_partner_twice_in_one_route_is_repaired():
    problem, plan = _world(_team("C", base=4))
    states = states_from_plan(problem, plan)
    states["A"].items = ["a1", "duo", "duo"]
    states["B"].items = ["b1"]
    broken = plan_from_states(problem, states, [])
    assert _sync_findings(problem, broken)
    new = resync(problem, plan, broken)
    assert _holders(new) == [("A", START), ("C", START)]
    assert _sync_findings(problem, new) == []


def test_a_pair_holding_it_keeps_it_alone():
    problem, plan = _world(_team("P", base=4, size=2))
    states = states_from_plan(problem, plan)
    states["P"].items = ["duo"]
    states["B"].items = ["b1"]
    broken = plan_from_states(problem, states, [])
    new = resync(problem, plan, broken)
    assert [t for t, _ in _holders(new)] == ["P"]
    assert _sync_findings(problem, new) == []


def test_holders_without_an_agreed_start_meet_at_the_later_one():
    problem, plan = _world()
    states = states_from_plan(problem, plan)
    loose = plan_from_states(problem, states, [])
    starts = [s for _t, s in _holders(loose)]
    assert len(set(starts)) == 2, "timed alone, the two routes reach it at different times"
    new = resync(problem, loose, loose)
    assert _holders(new) == [("A", max(starts)), ("B", max(starts))]
    assert plan_findings(problem, new) == []


def test_a_plan_without_two_person_visits_is_unchanged():
    visits = [Visit("a1", 1, 1800), Visit("b1", 9, 1800)]
    problem = line_problem(visits, [_team("A"), _team("B", base=8)])
    states = states_from_plan(problem, None)
    states["A"].items, states["B"].items = ["a1"], ["b1"]
    plan = plan_from_states(problem, states, [])
    assert resync(problem, plan, plan) is plan
    _p, new = team_unavailable(problem, plan, "B")
    assert sorted(new.assignment()) == ["a1", "b1"]


# Through the rounds service: the change is published as any other, a two-person visit
# left out whole waits for the coordinator's confirmation like any visit dropped. (The day
# read from the store already pins an agreed start, dispatch.optimise.rows; these check the
# whole path, the handmade plans above the repair itself.)


@pytest.fixture
def world(tmp_path, melun):  # type: ignore[no-untyped-def]
    from test_rounds import World

    w = World(tmp_path, melun)
    yield w
    w.store.close()


def _duo_day(world, *names: str) -> tuple[dict, list[int]]:
    teams = [world.team(n) for n in names]
    duo = world.visit("M-LEVAGE", 0, ("18:00", "19:30"))
    world.store.engine.write(
        lambda conn: conn.execute("UPDATE visits SET staff_count = 2 WHERE id = ?", (duo["id"],))
    )
    plan = world.plan_whole_day()
    held = sorted(
        r["team_id"] for r in plan["routes"] for s in r["stops"] if s["visit_id"] == duo["id"]
    )
    assert len(held) == 2 and {int(t["id"]) for t in teams} >= set(held)
    return duo, held


def _published_starts(world, visit_id: int) -> list[tuple[int, int]]:
    plan = world.store.published_plan(DAY)
    return sorted(
        (r["team_id"], s["start_s"])
        for r in plan["routes"]
        for s in r["stops"]
        if s["visit_id"] == visit_id
    )


@pytest.mark.slow
def test_the_service_publishes_the_third_person_at_the_agreed_start(world) -> None:
    duo, (lost, kept) = _duo_day(world, "Aline", "Bruno", "Claire")
    (agreed,) = {s for _t, s in _published_starts(world, duo["id"])}
    world.rounds.team_unavailable(DAY, lost, by="coord")
    after = _published_starts(world, duo["id"])
    assert [s for _t, s in after] == [agreed, agreed]
    teams = {t for t, _s in after}
    assert kept in teams and lost not in teams and len(teams) == 2
    visit = world.store.get_visit(duo["id"])
    assert {visit["team_id"], visit["partner_team_id"]} == teams
    day = world.rounds.day(DAY)
    assert [f.message for f in plan_findings(day.problem, day.current)] == []


@pytest.mark.slow
def test_the_service_asks_before_leaving_a_two_person_visit_out_whole(world) -> None:
    duo, (lost, _kept) = _duo_day(world, "Aline", "Bruno")
    with pytest.raises(ConfirmationRequired) as asked:
        world.rounds.team_unavailable(DAY, lost, by="coord", locale="en")
    dropped = asked.value.details["dropped"]
    assert [x["visit_id"] for x in dropped] == [duo["id"]]  # one visit, though two rounds
    assert all(
        x["reason"].startswith("two-person visit: no pair and no two people") for x in dropped
    )
    world.rounds.team_unavailable(DAY, lost, by="coord", confirm_dropped=[duo["id"]])
    assert _published_starts(world, duo["id"]) == []
    day = world.rounds.day(DAY)
    assert [f.rule for f in plan_findings(day.problem, day.current)] == []
