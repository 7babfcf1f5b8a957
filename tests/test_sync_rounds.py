"""The rounds service plans a two-person visit with two single-person teams, end to end: the
optimised draft holds it in both routes with one start, publishing gives the visit its team
and partner team, and the plan read back from the store keeps the two starts equal."""

from __future__ import annotations

from typing import Any

import pytest
from test_rounds import BASE, DAY, World

from dispatch.errors import ValidationError
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


def _duo_world(world: World) -> dict[str, Any]:
    """Aline and Bruno (one person each), the pair Lucie & Jean working on Sundays, four
    one-person visits and a two-person one; the day planned and published."""
    a = world.team("Aline")
    b = world.team("Bruno")
    people = [
        world.store.add_staff(
            {
                "name": name,
                "job": "nurse",
                "skills": [],
                "contract_h_per_week": 35,
                "rotas": [{"start_day": "2026-11-30", "weekdays": "SU", "shift": "16:00-22:00"}],
                "base_lon": BASE[0],
                "base_lat": BASE[1],
            },
            structure_id=1,
        )
        for name in ("Lucie", "Jean")
    ]
    pair = world.store.add_pair([p["id"] for p in people], structures=[1])
    world.store.update_team(pair["team_id"], {"base_lon": BASE[0], "base_lat": BASE[1]})
    duo = world.visit("M-LEVAGE", 0, ("18:00", "19:30"))
    for k in range(4):
        world.visit(f"SOLO-{k}", k + 1, ("17:30", "20:00"))
    world.store.engine.write(
        lambda conn: conn.execute("UPDATE visits SET staff_count = 2 WHERE id = ?", (duo["id"],))
    )
    plan = world.plan_whole_day()
    return {"a": a, "b": b, "pair": pair, "duo": duo, "plan": plan}


def _late_duo(world: World) -> int:
    late = world.visit("M-LATE", 2, ("18:30", "20:30"))
    world.store.engine.write(
        lambda conn: conn.execute("UPDATE visits SET staff_count = 2 WHERE id = ?", (late["id"],))
    )
    return int(late["id"])


def _holders(plan: dict[str, Any], visit_id: int) -> list[int]:
    return sorted(
        r["team_id"] for r in plan["routes"] for s in r["stops"] if s["visit_id"] == visit_id
    )


def test_a_two_person_visit_moved_to_one_person_is_refused_in_the_request_s_language(
    world: World,
) -> None:
    w = _duo_world(world)
    duo, before = w["duo"]["id"], w["plan"]
    assert _holders(before, duo), "the plan serves the two-person visit"
    for team in (w["a"], w["b"]):
        for apply, force in ((False, False), (True, False), (True, True)):
            with pytest.raises(ValidationError) as fr:
                world.rounds.move(
                    DAY, duo, team["id"], apply=apply, force=force, by="coord", locale="fr"
                )
            assert str(fr.value).startswith("visite à deux M-LEVAGE : une seule personne ne peut")
            assert "déplacez-la avec l'optimisation de la journée" in str(fr.value)
    with pytest.raises(ValidationError) as en:
        world.rounds.move(DAY, duo, w["a"]["id"], apply=True, force=True, by="coord", locale="en")
    assert str(en.value).startswith("two-person visit M-LEVAGE: one person cannot do it alone")
    assert "move it with the day's optimisation" in str(en.value)
    after = world.store.published_plan(DAY)
    assert after["id"] == before["id"] and _holders(after, duo) == _holders(before, duo)
    # A two-person visit added later is not put in one person's round either.
    late = _late_duo(world)
    with pytest.raises(ValidationError, match="^two-person visit M-LATE: one person"):
        world.rounds.insert(DAY, late, team_id=w["a"]["id"], force=True, by="coord", locale="en")
    assert _holders(world.store.published_plan(DAY), late) == []
    # Where it disturbs least: the pair's round, or refused (never one person's).
    try:
        world.rounds.insert(DAY, late, force=True, by="coord", locale="en")
    except ValidationError as refused:
        assert str(refused).startswith("two-person visit M-LATE: one person")
    assert _holders(world.store.published_plan(DAY), late) in ([], [int(w["pair"]["team_id"])])


def test_a_two_person_visit_moves_whole_to_a_pair(world: World) -> None:
    w = _duo_world(world)
    duo, pair = w["duo"]["id"], int(w["pair"]["team_id"])
    checked = world.rounds.move(DAY, duo, pair, by="coord", locale="en")
    assert checked["feasible"], checked["violations"]
    world.rounds.move(DAY, duo, pair, apply=True, by="coord", locale="en")
    after = world.store.published_plan(DAY)
    assert _holders(after, duo) == [pair]
    visit = world.store.get_visit(duo)
    assert (visit["team_id"], visit["partner_team_id"]) == (pair, None)
    late = _late_duo(world)
    world.rounds.insert(DAY, late, team_id=pair, force=True, by="coord", locale="en")
    assert _holders(world.store.published_plan(DAY), late) == [pair]
    # The whole plan keeps two people at every two-person visit.
    day = world.rounds.day(DAY)
    assert [
        f.message for f in plan_findings(day.problem, day.current) if f.rule == "synchronisation"
    ] == []


def test_a_proposal_merged_with_a_later_change_keeps_a_shared_visit_in_both_rounds(
    world: World,
) -> None:
    """A two-person visit is in two rounds of one plan: merging a proposal that changed a third
    team's round with a plan published since keeps it in both, instead of taking it for a
    visit given twice (a stale proposal)."""
    world.team("Aline")
    world.team("Bruno")
    duo = world.visit("M-LEVAGE", 0, ("18:00", "19:30"))
    world.store.engine.write(
        lambda conn: conn.execute("UPDATE visits SET staff_count = 2 WHERE id = ?", (duo["id"],))
    )
    world.plan_whole_day()
    base = world.store.published_plan(DAY)
    assert base is not None and len(_holders(base, duo["id"])) == 2
    c = world.team("Claire")
    d = world.team("Denis")
    extra = world.visit("C1", 2, ("18:00", "20:00"))
    # Coordinator 2 publishes a change of Denis's round; coordinator 1's proposal, computed on
    # the plan before it, adds a visit to Claire's round.
    later = world.store.save_plan(
        DAY,
        [
            *[{"team_id": r["team_id"], "stops": r["stops"]} for r in base["routes"]],
            {"team_id": d["id"], "stops": []},
        ],
        base_plan_id=base["id"],
        publish=True,
    )
    assert world.store.published_plan_id(DAY) == later["id"]
    proposal = world.store.save_plan(
        DAY,
        [
            *[{"team_id": r["team_id"], "stops": r["stops"]} for r in base["routes"]],
            {"team_id": c["id"], "stops": [{"visit_id": extra["id"]}]},
        ],
        base_plan_id=base["id"],
    )
    world.rounds.apply(proposal["id"], by="coord1")
    merged = world.store.published_plan(DAY)
    assert merged is not None
    assert len(_holders(merged, duo["id"])) == 2
    assert _holders(merged, extra["id"]) == [c["id"]]
