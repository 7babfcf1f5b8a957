"""A two-person visit served by two single-person teams (``visits.team_id`` and
``visits.partner_team_id``) counts for both people: the partner's « Mes prochains jours »
lists it, continuity lists both staff for the patient (one visit), hours count it for both.

Built in the store alone (no roads, no solver): two nurses, one patient, a published plan
whose two routes hold the shared visit at one start.
"""

from __future__ import annotations

from typing import Any

import pytest

from dispatch.care.week import my_days_of, week_of
from dispatch.rounds.week import continuity_of, hours_of
from dispatch.store import Store

DAY = "2027-01-04"  # a Monday
HOME = (9.40, 42.60)


def _stop(visit_id: int, start_s: int, duration_s: int = 1800) -> dict[str, Any]:
    return {
        "visit_id": visit_id,
        "arrival_s": start_s - 600,
        "travel_time_s": 600,
        "start_s": start_s,
        "end_s": start_s + duration_s,
    }


@pytest.fixture
def world(tmp_path: Any):  # type: ignore[no-untyped-def]
    store = Store(tmp_path / "dispatch.db")
    nurses = [
        store.add_staff(
            {
                "name": name,
                "gender": "female",
                "contract_h_per_week": 35,
                "rotas": [{"start_day": DAY, "weekdays": "MO,TU,WE,TH,FR", "shift": "07:00-15:00"}],
                "base_lon": 9.45,
                "base_lat": 42.70,
            },
            structure_id=1,
        )
        for name in ("Aline", "Bruno")
    ]
    (patient,) = store.add_patients(
        [
            {
                "structure_id": 1,
                "pseudonym": "P-DUO",
                "family_name": "Duo",
                "given_name": "Patient",
                "birth_date": "1940-01-01",
                "sex": "female",
                "lon": HOME[0],
                "lat": HOME[1],
                "geocode_precision": "street",
            }
        ],
        actor="test",
        today=DAY,
    )
    duo, solo_a, solo_b = store.add_visits(
        [
            {
                "day": DAY,
                "pseudonym": pseudonym,
                "lon": HOME[0],
                "lat": HOME[1],
                "duration_s": 1800,
                "windows": [[window, "12:00"]],
            }
            for pseudonym, window in (("P-DUO", "09:00"), ("P-A", "08:00"), ("P-B", "10:00"))
        ],
        structure_id=1,
    )

    def setup(conn: Any) -> None:
        conn.execute(
            "UPDATE visits SET staff_count = 2, patient_id = ? WHERE id = ?",
            (patient["id"], duo["id"]),
        )

    store.engine.write(setup)
    team_a, team_b = (int(n["team_id"]) for n in nurses)
    store.save_plan(
        DAY,
        [
            {
                "team_id": team_a,
                "stops": [_stop(solo_a["id"], 8 * 3600), _stop(duo["id"], 9 * 3600)],
            },
            {
                "team_id": team_b,
                "stops": [_stop(duo["id"], 9 * 3600), _stop(solo_b["id"], 10 * 3600)],
            },
        ],
        unassigned=[],
        publish=True,
        structure_id=1,
    )
    row = store.get_visit(duo["id"])
    assert (row["team_id"], row["partner_team_id"]) == (team_a, team_b)
    yield {
        "store": store,
        "nurses": nurses,
        "patient": patient,
        "duo": duo,
        "teams": (team_a, team_b),
    }
    store.close()


def test_the_partner_s_coming_days_list_the_shared_visit(world: Any) -> None:
    store, duo = world["store"], world["duo"]
    for team_id in world["teams"]:
        mine = my_days_of(store, team_id=team_id, from_day=DAY, days=1, structures=[1])
        (today,) = mine["days"]
        ids = [v["id"] for v in today["visits"]]
        assert len(ids) == 2 and duo["id"] in ids, (team_id, today["visits"])
        # Each says with whom the shared visit is done; a visit of one person says nothing.
        other = next(t for t in world["teams"] if t != team_id)
        withs = {v["id"]: v["with"] for v in today["visits"]}
        assert withs.pop(duo["id"]) == store.get_team(other)["name"]
        assert list(withs.values()) == [None]
    # The coordinators' week view counts it on both rows too.
    rows = {r["name"]: r for r in week_of(store, from_day=DAY, days=1, structures=[1])["staff"]}
    assert rows["Aline"]["cells"][0]["visits"] == rows["Bruno"]["cells"][0]["visits"] == 2


def test_continuity_lists_both_staff_for_one_visit(world: Any) -> None:
    found = continuity_of(world["store"], DAY, 1, structure_id=1)
    (patient,) = found["patients"]
    assert patient["patient_id"] == world["patient"]["id"]
    assert patient["visits"] == 1
    assert patient["distinct_staff"] == 2
    assert sorted((s["name"], s["visits"]) for s in patient["staff"]) == [
        ("Aline", 1),
        ("Bruno", 1),
    ]


def test_hours_count_the_shared_visit_for_both(world: Any) -> None:
    found = hours_of(world["store"], DAY, 1, structure_id=1)
    by_name = {s["name"]: s for s in found["staff"]}
    # Aline: 07:50 (leaves for 08:00) to 09:30; Bruno: 08:50 to 10:30.
    assert by_name["Aline"]["planned_h"] == pytest.approx(1 + 40 / 60, abs=0.01)
    assert by_name["Bruno"]["planned_h"] == pytest.approx(1 + 40 / 60, abs=0.01)


def test_the_partner_s_absence_takes_the_shared_visit_too(world: Any) -> None:
    import datetime as dt

    from dispatch.care.rota import Absence
    from dispatch.care.week import impact_of_recorded

    store, duo = world["store"], world["duo"]
    day = dt.date.fromisoformat(DAY)
    for nurse in world["nurses"]:
        staff = store.get_staff(nurse["id"])
        impact = impact_of_recorded(store, staff, Absence("sickness", day, day))
        (today,) = impact["days"]
        assert duo["id"] in today["visit_ids"], (nurse["name"], impact)
