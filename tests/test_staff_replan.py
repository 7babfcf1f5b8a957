"""An absence's replanning through the real rounds service on Melun's roads: the absent
nurse's visits go to the colleague who works that day, in a draft to apply."""

from __future__ import annotations

from typing import Any

import pytest

from dispatch.bus import Bus
from dispatch.care import week
from dispatch.clock import ServiceClock
from dispatch.rounds import Rounds, RoundsOptions
from dispatch.routing import Router
from dispatch.store import Store

pytestmark = pytest.mark.slow

DAY = "2027-01-04"  # a Monday, planned the evening before
EVE = "2027-01-03T18:00:00+01:00"
BASE = (2.6555, 48.5400)
HOMES = [(2.6600, 48.5430), (2.6450, 48.5350), (2.6700, 48.5480), (2.6380, 48.5460)]


@pytest.fixture
def world(tmp_path: Any, melun: Any):  # type: ignore[no-untyped-def]
    store = Store(tmp_path / "replan.sqlite")
    router = Router.for_territory(melun)
    rounds = Rounds(
        store,
        lambda: (router, melun.id),
        Bus(),
        clock=ServiceClock(start=EVE),
        options=RoundsOptions(solver_searches=1, solver_time_limit_s=1),
    )
    yield store, rounds
    store.close()


def _nurse(store: Store, name: str) -> dict[str, Any]:
    return store.add_staff(
        {
            "name": name,
            "gender": "female",
            "skills": ["insulin"],
            "contract_h_per_week": 35,
            "rotas": [
                {"start_day": "2026-12-28", "weekdays": "MO,TU,WE,TH,FR", "shift": "07:00-15:00"}
            ],
            "base_lon": BASE[0],
            "base_lat": BASE[1],
        },
        structure_id=1,
    )


def test_an_absent_nurses_visits_go_to_her_colleague_in_a_draft(world: Any) -> None:
    store, rounds = world
    marie, claire = _nurse(store, "Marie"), _nurse(store, "Claire")
    visits = store.add_visits(
        [
            {
                "day": DAY,
                "pseudonym": f"P-{i}",
                "lon": lon,
                "lat": lat,
                "duration_s": 1200,
                "windows": [["08:00", "12:00"]],
                "team_id": marie["team_id"],
            }
            for i, (lon, lat) in enumerate(HOMES)
        ],
        structure_id=1,
    )
    ids = [v["id"] for v in visits]
    # Marie's round as published (all four visits hers).
    first = store.save_plan(
        DAY,
        [
            {
                "team_id": marie["team_id"],
                "stops": [
                    {"visit_id": v, "arrival_s": 28800 + 1800 * i} for i, v in enumerate(ids)
                ],
            }
        ],
        publish=True,
        structure_id=1,
    )
    absence = store.add_absence(marie["id"], {"kind": "sickness", "from_day": DAY})
    result = week.replan_absence(
        store, rounds, marie["id"], absence["id"], structures=[1], by="coord", today="2027-01-03"
    )
    assert result["impact"]["total"] == 4
    assert result["impact"]["message"] == "Marie absente lundi 4 janvier : 4 visites à réaffecter"
    (day,) = result["days"]
    assert day["day"] == DAY and "error" not in day, day
    assert day["moved"] == 4 and day["unassigned"] == 0
    draft = store.get_plan(day["plan_id"])
    assert draft["status"] == "draft"
    (route,) = draft["routes"]
    assert route["team_id"] == claire["team_id"]
    assert sorted(s["visit_id"] for s in route["stops"] if s.get("visit_id")) == ids
    # Nothing changes until the coordinator applies it.
    published = store.published_plan(DAY, structure_id=1)
    assert published is not None and published["id"] == first["id"]
