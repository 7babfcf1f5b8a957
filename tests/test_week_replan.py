"""Re-planning within the week changes as little as possible (issue 23, item 2), on Melun's
roads through the real rounds service: after an absence only the absent nurse's visits
move, each reported (day, visit, from, to), a patient going to the nurse who saw them the
day before; after a hospitalisation only the days the patient was in are re-planned, and
nobody else moves."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dispatch.bus import Bus
from dispatch.clock import ServiceClock
from dispatch.rounds import Rounds, RoundsOptions
from dispatch.rounds.week import replan_stable, replan_suspension
from dispatch.routing import Router
from dispatch.store import Store
from tests.generation_support import execute

pytestmark = pytest.mark.slow

MONDAY, TUESDAY, WEDNESDAY, THURSDAY = "2027-01-04", "2027-01-05", "2027-01-06", "2027-01-07"
EVE = "2027-01-03T18:00:00+01:00"
BASE = (2.6555, 48.5400)
HOMES = [
    (2.6600, 48.5430),
    (2.6450, 48.5350),
    (2.6700, 48.5480),
    (2.6380, 48.5460),
    (2.6520, 48.5320),
    (2.6650, 48.5370),
]


@pytest.fixture
def world(tmp_path: Any, melun: Any):  # type: ignore[no-untyped-def]
    store = Store(tmp_path / "week.sqlite")
    router = Router.for_territory(melun)
    rounds = Rounds(
        store,
        lambda: (router, melun.id),
        Bus(),
        clock=ServiceClock(start=EVE),
        options=RoundsOptions(solver_searches=1, solver_time_limit_s=1),
    )
    nurses = {
        name: store.add_staff(
            {
                "name": name,
                "gender": "female",
                "contract_h_per_week": 35,
                "rotas": [
                    {
                        "start_day": "2026-12-28",
                        "weekdays": "MO,TU,WE,TH,FR",
                        "shift": "07:00-15:00",
                    }
                ],
                "base_lon": BASE[0],
                "base_lat": BASE[1],
            },
            structure_id=1,
        )
        for name in ("Marie", "Claire", "Sophie")
    }
    patients = store.add_patients(
        [
            {
                "structure_id": 1,
                "pseudonym": f"P-{i}",
                "family_name": f"Patient{i}",
                "given_name": "Test",
                "birth_date": "1940-01-01",
                "sex": "female",
                "lon": lon,
                "lat": lat,
                "geocode_precision": "street",
            }
            for i, (lon, lat) in enumerate(HOMES)
        ],
        actor="test",
        today="2027-01-03",
    )
    visits: dict[str, list[int]] = {}
    for day in (MONDAY, TUESDAY, WEDNESDAY, THURSDAY):
        rows = store.add_visits(
            [
                {
                    "day": day,
                    "pseudonym": f"P-{i}",
                    "lon": lon,
                    "lat": lat,
                    "duration_s": 1200,
                    "windows": [["08:00", "14:00"]],
                }
                for i, (lon, lat) in enumerate(HOMES)
            ],
            structure_id=1,
        )
        visits[day] = [v["id"] for v in rows]
        for patient, v in zip(patients, rows, strict=True):
            execute(
                store, "UPDATE visits SET patient_id = ? WHERE id = ?", (patient["id"], v["id"])
            )
    yield {
        "store": store,
        "rounds": rounds,
        "team": {name: n["team_id"] for name, n in nurses.items()},
        "nurses": nurses,
        "visits": visits,
        "patients": patients,
    }
    store.close()


def _publish(store: Store, day: str, rounds_of: dict[int, list[int]]) -> dict[str, Any]:
    return store.save_plan(
        day,
        [
            {
                "team_id": team,
                "stops": [{"visit_id": v, "arrival_s": 30000 + 1800 * k} for k, v in enumerate(vs)],
            }
            for team, vs in rounds_of.items()
        ],
        publish=True,
        structure_id=1,
    )


def _teams_of(store: Store, plan_id: int) -> dict[int, int]:
    plan = store.get_plan(plan_id)
    return {s["visit_id"]: r["team_id"] for r in plan["routes"] for s in r["stops"]}


def test_after_an_absence_only_the_absent_nurses_visits_move(world: Any) -> None:
    store, team, v = world["store"], world["team"], world["visits"]
    # Monday: Claire saw patient 0 (continuity for Tuesday).
    _publish(store, MONDAY, {team["Claire"]: [v[MONDAY][0]], team["Sophie"]: v[MONDAY][1:]})
    # Tuesday as published: Marie has patients 0 and 1, Claire 2 and 3, Sophie 4 and 5,
    # each round as it is (not the shortest: a free re-plan would reshuffle them).
    tuesday = v[TUESDAY]
    published = {
        team["Marie"]: [tuesday[0], tuesday[1]],
        team["Claire"]: [tuesday[2], tuesday[3]],
        team["Sophie"]: [tuesday[4], tuesday[5]],
    }
    _publish(store, TUESDAY, published)
    store.add_absence(world["nurses"]["Marie"]["id"], {"kind": "sickness", "from_day": TUESDAY})
    result = replan_stable(world["rounds"], TUESDAY, structure_id=1, by="coord")
    after = _teams_of(store, result["plan_id"])
    assert store.get_plan(result["plan_id"])["status"] == "draft"
    moved = {m["visit_id"]: m for m in result["moves"]}
    # Exactly Marie's two visits moved, each reported from her team to the new one.
    assert set(moved) == {str(tuesday[0]), str(tuesday[1])}, result["moves"]
    assert all(m["day"] == TUESDAY and m["from"] == str(team["Marie"]) for m in moved.values())
    assert all(m["to"] == str(after[int(vid)]) for vid, m in moved.items())
    # Patient 0 goes to Claire, who saw them on Monday.
    assert after[tuesday[0]] == team["Claire"]
    # Nobody else moved.
    for t in (team["Claire"], team["Sophie"]):
        assert all(after[vid] == t for vid in published[t])
    assert result["dropped"] == [] and result["unassigned"] == 0


def test_a_hospitalisation_replans_only_the_days_the_patient_was_in(world: Any) -> None:
    store, team, v = world["store"], world["team"], world["visits"]
    _publish(
        store,
        WEDNESDAY,
        {
            team["Marie"]: v[WEDNESDAY][0:2],
            team["Claire"]: v[WEDNESDAY][2:4],
            team["Sophie"]: v[WEDNESDAY][4:6],
        },
    )
    # Thursday's published plan no longer holds patient 2 (re-planned by hand already).
    thursday = _publish(
        store, THURSDAY, {team["Marie"]: v[THURSDAY][0:2], team["Sophie"]: v[THURSDAY][3:6]}
    )
    # Patient 2 goes to hospital from Wednesday: the suspension cancels their visits.
    patient = world["patients"][2]["id"]
    for day in (WEDNESDAY, THURSDAY):
        execute(store, "UPDATE visits SET status = 'cancelled' WHERE id = ?", (v[day][2],))
    days = replan_suspension(
        world["rounds"], patient, WEDNESDAY, THURSDAY, structure_id=1, by="coord"
    )
    assert [d["day"] for d in days] == [WEDNESDAY], days
    (wednesday,) = days
    assert wednesday["moves"] == [] and wednesday["dropped"] == []
    after = _teams_of(store, wednesday["plan_id"])
    assert v[WEDNESDAY][2] not in after
    assert after[v[WEDNESDAY][3]] == team["Claire"]
    assert store.published_plan(THURSDAY, structure_id=1)["id"] == thursday["id"]


def test_a_day_prefers_the_pair_of_the_patients_preferred_nurse_and_excludes_the_refused(
    world: Any,
) -> None:
    store, v, nurses = world["store"], world["visits"], world["nurses"]
    pair = store.add_pair([nurses["Marie"]["id"], nurses["Claire"]["id"]])
    store.update_team(pair["team_id"], {"base_lon": BASE[0], "base_lat": BASE[1]})
    execute(
        store,
        "UPDATE visits SET wishes = ? WHERE id = ?",
        (json.dumps({"preferred_staff_ids": [nurses["Marie"]["id"]]}), v[MONDAY][0]),
    )
    execute(
        store,
        "UPDATE visits SET wishes = ? WHERE id = ?",
        (json.dumps({"excluded_staff_ids": [nurses["Claire"]["id"]]}), v[MONDAY][1]),
    )
    day = world["rounds"].day(MONDAY, structure_id=1)
    teams = {t.id: t for t in day.problem.teams}
    assert str(pair["team_id"]) in teams and teams[str(pair["team_id"])].size == 2
    first, second = (day.problem.visit(str(v[MONDAY][k])) for k in (0, 1))
    assert first.preferred_team_id == str(pair["team_id"])
    assert second.excluded_team_ids == frozenset({str(pair["team_id"])})


def _care_and_hook(world: Any, patient: int, *, start: str, end: str) -> tuple[Any, Any]:
    """A daily dressing for ``patient`` from ``start`` to ``end`` generated through the care
    service, whose visit events reach the rounds service as on the server (the hook that
    re-times and republishes a published round when one of its visits is cancelled)."""
    from dispatch.care.patients import Caller, Generation, add_care_plan

    rounds = world["rounds"]
    bus = Bus()
    bus.subscribe("visit", lambda visit: rounds.visit_changed(visit, by="visit-edit"))
    gen = Generation(today="2027-01-03", horizon_days=7, now_s=rounds.clock.now(), bus=bus)
    caller = Caller(actor="test", role="coordinator")
    add_care_plan(
        world["store"],
        patient,
        {
            "label": "Pansement",
            "kind": "dressing",
            "duration_s": 1200,
            "windows": ["08:00-14:00"],
            "rrule": "FREQ=DAILY",
            "start_day": start,
            "end_day": end,
        },
        caller=caller,
        gen=gen,
    )
    return caller, gen


def _generated(store: Store, patient: int) -> dict[str, int]:
    with store.engine.read() as conn:
        return {
            str(r["day"]): int(r["id"])
            for r in conn.execute(
                "SELECT id, day FROM visits WHERE patient_id = ? AND care_plan_id IS NOT NULL",
                (patient,),
            )
        }


def test_a_recorded_hospitalisation_replans_the_day_its_cancellation_republished(
    world: Any,
) -> None:
    """The real sequence: the day published with the patient's visit; the hospitalisation
    recorded through the care service cancels it, and the rounds service republishes the day
    without it at once; re-planning for the patient still drafts that day, the others' visits
    keeping their rounds and each move listed."""
    from dispatch.care.patients import add_suspension

    store, rounds, team, v = world["store"], world["rounds"], world["team"], world["visits"]
    patient = world["patients"][2]["id"]
    execute(store, "UPDATE visits SET status = 'cancelled' WHERE id = ?", (v[WEDNESDAY][2],))
    caller, gen = _care_and_hook(world, patient, start=WEDNESDAY, end=WEDNESDAY)
    hers = _generated(store, patient)[WEDNESDAY]
    first = _publish(
        store,
        WEDNESDAY,
        {
            team["Marie"]: v[WEDNESDAY][0:2],
            team["Claire"]: [hers, v[WEDNESDAY][3]],
            team["Sophie"]: v[WEDNESDAY][4:6],
        },
    )
    add_suspension(
        store,
        patient,
        {"from_day": WEDNESDAY, "to_day": WEDNESDAY, "reason": "hospitalisation"},
        caller=caller,
        gen=gen,
    )
    republished = store.published_plan(WEDNESDAY, structure_id=1)
    assert republished["id"] != first["id"], "the cancellation republished the day"
    assert hers not in {s["visit_id"] for r in republished["routes"] for s in r["stops"]}
    # Sophie is off sick that day, told after: her visits have to move.
    store.add_absence(world["nurses"]["Sophie"]["id"], {"kind": "sickness", "from_day": WEDNESDAY})
    days = replan_suspension(rounds, patient, WEDNESDAY, WEDNESDAY, structure_id=1, by="coord")
    assert [d["day"] for d in days] == [WEDNESDAY], days
    (wednesday,) = days
    after = _teams_of(store, wednesday["plan_id"])
    assert store.get_plan(wednesday["plan_id"])["status"] == "draft"
    assert hers not in after
    moved = {m["visit_id"]: m for m in wednesday["moves"]}
    assert set(moved) == {str(x) for x in v[WEDNESDAY][4:6]}, wednesday["moves"]
    assert all(m["from"] == str(team["Sophie"]) for m in moved.values())
    assert all(m["to"] == str(after[int(vid)]) for vid, m in moved.items())
    # Nobody else moved: Claire keeps the visit that shared her round.
    assert after[v[WEDNESDAY][3]] == team["Claire"]
    assert all(after[x] == team["Marie"] for x in v[WEDNESDAY][0:2])
    assert wednesday["unassigned"] == 0


def test_a_lifted_hospitalisation_puts_its_visits_back_in_the_published_rounds(
    world: Any,
) -> None:
    """The suspension recorded (the day republished without the patient's visit), then
    lifted: the visit is back, planned but in no round of the published day. Re-planning for
    the patient drafts that day with the visit placed in a round, listed as a move from no
    round; every other visit keeps its round, and a day with no published plan is left."""
    from dispatch.care.patients import add_suspension, end_suspension

    store, rounds, team, v = world["store"], world["rounds"], world["team"], world["visits"]
    patient = world["patients"][2]["id"]
    execute(store, "UPDATE visits SET status = 'cancelled' WHERE id = ?", (v[WEDNESDAY][2],))
    caller, gen = _care_and_hook(world, patient, start=WEDNESDAY, end=THURSDAY)
    hers = _generated(store, patient)[WEDNESDAY]
    rounds_of = {
        team["Marie"]: v[WEDNESDAY][0:2],
        team["Claire"]: [hers, v[WEDNESDAY][3]],
        team["Sophie"]: v[WEDNESDAY][4:6],
    }
    _publish(store, WEDNESDAY, rounds_of)
    suspension, _ = add_suspension(
        store,
        patient,
        {"from_day": WEDNESDAY, "to_day": THURSDAY, "reason": "hospitalisation"},
        caller=caller,
        gen=gen,
    )
    end_suspension(store, patient, suspension["id"], caller=caller, gen=gen)
    with store.engine.read() as conn:
        row = conn.execute("SELECT status FROM visits WHERE id = ?", (hers,)).fetchone()
    assert row["status"] == "planned", "the lifted suspension reinstated the visit"
    published = store.published_plan(WEDNESDAY, structure_id=1)
    assert hers not in {s["visit_id"] for r in published["routes"] for s in r["stops"]}

    days = replan_suspension(rounds, patient, WEDNESDAY, THURSDAY, structure_id=1, by="coord")
    assert [d["day"] for d in days] == [WEDNESDAY], days
    (wednesday,) = days
    after = _teams_of(store, wednesday["plan_id"])
    assert hers in after, "the reinstated visit is back in a round"
    assert wednesday["moves"] == [
        {"day": WEDNESDAY, "visit_id": str(hers), "from": None, "to": str(after[hers])}
    ]
    assert wednesday["unassigned"] == 0
    for t, vs in rounds_of.items():
        assert all(after[x] == t for x in vs if x != hers), (t, after)


def test_a_day_nobody_works_says_so_in_the_requests_language(world: Any) -> None:
    """The day the rounds service could not republish (nobody works) still holds the
    patient: it is listed with no draft and why, in French when asked in French."""
    from dispatch.care.patients import add_suspension

    store, rounds, team = world["store"], world["rounds"], world["team"]
    patient = world["patients"][2]["id"]
    caller, gen = _care_and_hook(world, patient, start=THURSDAY, end=THURSDAY)
    hers = _generated(store, patient)[THURSDAY]
    _publish(store, THURSDAY, {team["Claire"]: [hers]})
    for nurse in world["nurses"].values():
        store.add_absence(nurse["id"], {"kind": "training", "from_day": THURSDAY})
    add_suspension(
        store,
        patient,
        {"from_day": THURSDAY, "to_day": THURSDAY, "reason": "hospitalisation"},
        caller=caller,
        gen=gen,
    )
    said = {}
    for locale in ("fr", "en"):
        days = replan_suspension(
            rounds, patient, THURSDAY, THURSDAY, structure_id=1, by="coord", locale=locale
        )
        assert [(d["day"], d["plan_id"]) for d in days] == [(THURSDAY, None)], days
        said[locale] = days[0]["error"]
    assert said["fr"].startswith(f"aucune équipe ne travaille le {THURSDAY} : "), said
    assert "Claire (formation)" in said["fr"] and said["fr"].endswith(
        "vérifiez les rotas et les absences du personnel"
    ), said
    assert said["en"].startswith(f"no team works on {THURSDAY}: "), said
    assert "Claire (training)" in said["en"], said


def test_a_republished_day_keeps_the_visits_of_a_team_off_that_day_as_unassigned(
    world: Any,
) -> None:
    """A team's round published, then its nurse recorded off that day: when another change
    republishes the day (a visit of another round cancelled), her round is no longer
    planned, and its visits come back without a team, with the reason, never lost from the
    plan."""
    store, rounds, team, v = world["store"], world["rounds"], world["team"], world["visits"]
    _publish(
        store,
        WEDNESDAY,
        {
            team["Marie"]: v[WEDNESDAY][0:2],
            team["Claire"]: v[WEDNESDAY][2:4],
            team["Sophie"]: v[WEDNESDAY][4:6],
        },
    )
    store.add_absence(world["nurses"]["Sophie"]["id"], {"kind": "sickness", "from_day": WEDNESDAY})
    execute(store, "UPDATE visits SET status = 'cancelled' WHERE id = ?", (v[WEDNESDAY][0],))
    rounds.visit_changed(store.get_visit(v[WEDNESDAY][0]), by="visit-edit")
    plan = store.published_plan(WEDNESDAY, structure_id=1)
    routed = {s["visit_id"] for r in plan["routes"] for s in r["stops"]}
    waiting = {u["visit_id"]: u for u in plan["unassigned"]}
    assert v[WEDNESDAY][0] not in routed
    for sophies in v[WEDNESDAY][4:6]:
        assert sophies in waiting, (routed, waiting)
        assert "Sophie" in waiting[sophies]["reason"], waiting[sophies]
    assert {v[WEDNESDAY][1], v[WEDNESDAY][2], v[WEDNESDAY][3]} <= routed


def test_a_week_planned_from_wednesday_counts_what_monday_and_tuesday_published(
    world: Any,
) -> None:
    """Marie's rounds published Monday and Tuesday 07:00 to past 21:00 (about 28 h of her 35 h
    contract): planning Wednesday to Friday starts her Wednesday 11 h after Tuesday's return
    and leaves her what the civil week's contract (+ 10 %) allows, counted to the second."""
    from dispatch.rounds.week import Before, plan_week, week_findings

    store, rounds = world["store"], world["rounds"]
    marie = int(world["nurses"]["Marie"]["id"])
    team = world["team"]["Marie"]
    for day in (MONDAY, TUESDAY):
        vs = world["visits"][day]
        stops = [
            {
                "visit_id": v,
                "arrival_s": 7 * 3600 + 600 + 7800 * k,
                "start_s": 7 * 3600 + 600 + 7800 * k,
                "end_s": 7 * 3600 + 600 + 7800 * k + 1200 if k < 5 else 20 * 3600 + 50 * 60,
                "travel_time_s": 600,
            }
            for k, v in enumerate(vs)
        ]
        store.save_plan(day, [{"team_id": team, "stops": stops}], publish=True, structure_id=1)
    run = plan_week(
        rounds, WEDNESDAY, 3, structure_id=1, by="test", save=False, time_limit_s=1, searches=1
    )
    before = run.before
    assert before is not None and before.first == WEDNESDAY
    # Departure 07:00 to 20:50 and the road home, both days.
    assert 2 * (13 * 3600 + 50 * 60) < before.worked_s[marie] < 28 * 3600
    assert 20 * 3600 + 50 * 60 < before.end_s[marie] < 21 * 3600
    # Wednesday starts 11 h after Tuesday's return.
    wednesday = run.proposed[WEDNESDAY].problem.team(str(team))
    assert wednesday.shift_start_s == before.end_s[marie] + 11 * 3600 - 86_400
    # Wednesday to Friday (8 h each on the rota) keep 38.5 h less what was published.
    mine = [c for c in run.cuts if c.staff_id == marie]
    assert {c.rule for c in mine} == {"daily_rest", "contract"}
    kept = 24 * 3600 - sum(c.cut_s for c in mine)
    assert kept == int(35 * 3600 * 1.1) - before.worked_s[marie]
    # The checker counts the same: nothing to say of the proposal, but the published
    # Tuesday's late return is a breach for a Wednesday from 07:00.
    assert run.result["comparison"]["proposed"]["violations"] == 0
    assert week_findings(run.proposed, run.staff, before=before) == []
    late = Before(WEDNESDAY, end_s={marie: before.end_s[marie] + 2 * 3600})
    assert [f["rule"] for f in week_findings(run.proposed, run.staff, before=late)] == [
        "daily_rest"
    ]
