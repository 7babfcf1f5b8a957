"""The rounds service plans a two-person visit with two single-person teams, end to end: the
optimised draft holds it in both routes with one start, publishing gives the visit its team
and partner team, and the plan read back from the store keeps the two starts equal."""

from __future__ import annotations

import pytest
from test_rounds import DAY, World

from dispatch.optimise.check import plan_findings

pytestmark = pytest.mark.slow


@pytest.fixture
def world(tmp_path, melun):  # type: ignore[no-untyped-def]
    w = World(tmp_path, melun)
    yield w
    w.store.close()


def test_the_day_is_planned_with_both_staff_at_the_same_second(world: World) -> None:
    a = world.team("Aline")
    b = world.team("Bruno")
    duo = world.visit("M-LEVAGE", 0, ("18:00", "19:30"))
    for k in range(4):
        world.visit(f"SOLO-{k}", k + 1, ("17:30", "20:00"))
    world.store.engine.write(
        lambda conn: conn.execute("UPDATE visits SET staff_count = 2 WHERE id = ?", (duo["id"],))
    )
    plan = world.plan_whole_day()
    shared = [
        (r["team_id"], s["start_s"])
        for r in plan["routes"]
        for s in r["stops"]
        if s["visit_id"] == duo["id"]
    ]
    assert sorted(t for t, _ in shared) == sorted((a["id"], b["id"])), plan
    assert shared[0][1] == shared[1][1]
    visit = world.store.get_visit(duo["id"])
    assert {visit["team_id"], visit["partner_team_id"]} == {a["id"], b["id"]}
    # What the service reads back (re-timed from the store, as every stored plan is) keeps one
    # start for both and passes the independent checker.
    day = world.rounds.day(DAY, whole_day=True)
    again = [s.start_s for r in day.current.routes for s in r.stops if s.visit_id == str(duo["id"])]
    assert len(again) == 2 and again[0] == again[1]
    assert [f.rule for f in plan_findings(day.problem, day.current)] == []


def test_a_live_move_keeps_the_agreed_start_of_a_shared_visit(world: World) -> None:
    world.team("Aline")
    world.team("Bruno")
    duo = world.visit("M-LEVAGE", 0, ("18:00", "19:30"))
    solos = [world.visit(f"SOLO-{k}", k + 1, ("17:30", "20:00")) for k in range(4)]
    world.store.engine.write(
        lambda conn: conn.execute("UPDATE visits SET staff_count = 2 WHERE id = ?", (duo["id"],))
    )
    plan = world.plan_whole_day()

    def starts(plan):
        return [
            s["start_s"] for r in plan["routes"] for s in r["stops"] if s["visit_id"] == duo["id"]
        ]

    (agreed,) = set(starts(plan))
    # Every solo visit goes to the team that holds the duo first (its start would slip
    # if the route were timed again alone).
    first = next(
        r["team_id"] for r in plan["routes"] if duo["id"] in [s["visit_id"] for s in r["stops"]]
    )
    for v in solos:
        world.rounds.move(DAY, v["id"], first, apply=True, force=True, by="coord")
    after = world.store.published_plan(DAY)
    assert starts(after) == [agreed, agreed]
    day = world.rounds.day(DAY)
    assert [
        f.rule for f in plan_findings(day.problem, day.current) if f.rule == "synchronisation"
    ] == []
