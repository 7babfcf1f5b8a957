"""The week view (rostered hours against contracts, visits per day), the impact of an absence
(« Marie absente jeudi 14 janvier : 3 visites à réaffecter ») and a team member's coming days."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from dispatch.care import week
from dispatch.errors import NotFoundError, ValidationError
from dispatch.store import Store

MONDAY = "2027-01-04"
THURSDAY = "2027-01-07"


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    with Store(tmp_path / "d.sqlite") as s:
        s.engine.write(
            lambda conn: conn.execute(
                "INSERT INTO structures (id, name, kind, demo, created_at_s, updated_at_s)"
                " VALUES (2, 'SSIAD B', 'ssiad', 0, 0, 0)"
            )
        )
        yield s


def _staff(store: Store, name: str, days: str, shift: str, structure_id: int = 1, **kw: Any):
    return store.add_staff(
        {
            "name": name,
            "gender": kw.pop("gender", "female"),
            "contract_h_per_week": kw.pop("hours", 35),
            "skills": ["hygiene"],
            "rotas": [{"start_day": MONDAY, "weekdays": days, "shift": shift, **kw}],
            "base_lon": 9.45,
            "base_lat": 42.70,
        },
        structure_id=structure_id,
    )


def _visits(
    store: Store,
    day: str,
    team_id: int | None,
    windows: list[str],
    *,
    duration_s: int = 1800,
    structure_id: int = 1,
    status: str | None = None,
) -> list[int]:
    items = []
    for w in windows:
        item: dict[str, Any] = {
            "day": day,
            "pseudonym": "P-0001",
            "lon": 9.45,
            "lat": 42.70,
            "duration_s": duration_s,
            "windows": w,
        }
        if team_id is not None:
            item["team_id"] = team_id
        items.append(item)
    ids = [v["id"] for v in store.add_visits(items, structure_id=structure_id)]
    if status:
        for vid in ids:
            store.update_visit(vid, {"status": status})
    return ids


@pytest.fixture
def service(store: Store) -> dict[str, Any]:
    marie = _staff(store, "Marie", "MO,TU,WE,TH,FR", "07:00-15:00", breaks=["12:00-12:30"])
    paul = _staff(store, "Paul", "MO,TU,TH,FR", "08:00-16:00", gender="male", hours=28)
    other = _staff(store, "Lucia", "MO,TU,WE,TH,FR", "07:00-15:00", structure_id=2)
    return {"marie": marie, "paul": paul, "other": other}


def test_the_week_counts_rostered_hours_against_the_contract(store: Store, service: dict) -> None:
    marie, paul = service["marie"], service["paul"]
    _visits(store, MONDAY, marie["team_id"], ["08:00-09:00", "09:00-10:00"], duration_s=2700)
    _visits(store, THURSDAY, paul["team_id"], ["10:00-11:00"])
    _visits(store, THURSDAY, None, ["10:00-11:00", "11:00-12:00"])
    _visits(store, MONDAY, service["other"]["team_id"], ["08:00-09:00"], structure_id=2)
    view = week.week_of(store, from_day=MONDAY, days=7, structures=[1])
    assert view["from"] == MONDAY and len(view["days"]) == 7 and view["days"][6] == "2027-01-10"
    rows = {r["name"]: r for r in view["staff"]}
    assert sorted(rows) == ["Marie", "Paul"]  # not structure 2's Lucia
    m = rows["Marie"]
    assert m["contract_h_per_week"] == 35 and m["rostered_h"] == 37.5  # 5 × 7.5 h
    assert m["visit_h"] == 1.5
    monday = m["cells"][0]
    assert monday == {
        "day": MONDAY,
        "shift": {"start": "07:00", "end": "15:00", "breaks": ["12:00-12:30"]},
        "absence": None,
        "hours": 7.5,
        "visits": 2,
        "visit_h": 1.5,
        "team_id": marie["team_id"],
    }
    assert [c["shift"] is None for c in m["cells"]] == [False] * 5 + [True] * 2
    p = rows["Paul"]
    assert p["rostered_h"] == 32.0 and p["cells"][2]["hours"] == 0  # four days of 8 h
    assert p["cells"][3]["visits"] == 1 and p["visit_h"] == 0.5
    assert view["unassigned"][3] == {"day": THURSDAY, "count": 2}
    assert sum(u["count"] for u in view["unassigned"]) == 2
    # Another structure sees only its own.
    other = week.week_of(store, from_day=MONDAY, days=1, structures=[2])
    assert [r["name"] for r in other["staff"]] == ["Lucia"]
    assert other["staff"][0]["cells"][0]["visits"] == 1


def test_absences_show_in_the_week(store: Store, service: dict) -> None:
    store.add_absence(
        service["marie"]["id"], {"kind": "sickness", "from_day": THURSDAY, "to_day": "2027-01-08"}
    )
    store.add_absence(
        service["paul"]["id"], {"kind": "training", "from_day": MONDAY, "part": "14:00-16:00"}
    )
    rows = {r["name"]: r for r in week.week_of(store, from_day=MONDAY, structures=[1])["staff"]}
    m = rows["Marie"]
    assert m["rostered_h"] == 22.5
    assert m["cells"][3]["absence"]["kind"] == "sickness" and m["cells"][3]["shift"] is None
    p = rows["Paul"]
    assert p["cells"][0]["absence"]["kind"] == "training" and p["cells"][0]["hours"] == 6
    assert p["cells"][0]["shift"]["end"] == "14:00" and p["rostered_h"] == 30


def test_a_pair_counts_its_visits_for_both(store: Store, service: dict) -> None:
    marie, paul = service["marie"], service["paul"]
    pair = store.add_pair([marie["id"], paul["id"]])
    _visits(store, MONDAY, pair["team_id"], ["09:00-10:00"], duration_s=3600)
    rows = {r["name"]: r for r in week.week_of(store, from_day=MONDAY, structures=[1])["staff"]}
    for name in ("Marie", "Paul"):
        assert rows[name]["cells"][0]["team_id"] == pair["team_id"]
        assert rows[name]["cells"][0]["visits"] == 1 and rows[name]["visit_h"] == 1
    assert rows["Marie"]["cells"][2]["team_id"] == marie["team_id"]  # Paul is off on Wednesday


def test_the_week_range_is_checked(store: Store) -> None:
    with pytest.raises(ValidationError, match="days 0: give 1 to 62 days"):
        week.week_of(store, from_day=MONDAY, days=0)
    with pytest.raises(ValidationError, match="is not a date"):
        week.week_of(store, from_day="04/01/2027")


def test_an_absence_names_the_visits_to_reassign(store: Store, service: dict) -> None:
    marie = service["marie"]
    thursday = _visits(
        store, THURSDAY, marie["team_id"], ["08:00-09:00", "09:00-10:00", "13:00-14:00"]
    )
    friday = _visits(store, "2027-01-08", marie["team_id"], ["08:00-09:00"])
    _visits(store, THURSDAY, marie["team_id"], ["10:00-11:00"], status="done")  # already done
    _visits(store, THURSDAY, service["paul"]["team_id"], ["08:00-09:00"])  # Paul's
    body = {"kind": "sickness", "from_day": THURSDAY}
    impact = week.absence_impact_of(store, marie["id"], body, structures=[1])
    assert impact["message"] == "Marie absente jeudi 7 janvier : 3 visites à réaffecter"
    assert impact["total"] == 3 and impact["lost_h"] == 7.5
    assert impact["days"] == [{"day": THURSDAY, "count": 3, "visit_ids": thursday}]
    english = week.absence_impact_of(store, marie["id"], body, structures=[1], locale="en")
    assert english["message"] == "Marie absent on Thursday 7 January: 3 visits to reassign"
    # Over two days and a weekend: only worked days are listed.
    long = week.absence_impact_of(
        store, marie["id"], {**body, "to_day": "2027-01-10"}, structures=[1]
    )
    assert long["message"] == (
        "Marie absente du jeudi 7 janvier au dimanche 10 janvier : 4 visites à réaffecter"
    )
    assert [(d["day"], d["count"]) for d in long["days"]] == [(THURSDAY, 3), ("2027-01-08", 1)]
    assert long["days"][1]["visit_ids"] == friday
    # A training afternoon moves only what no longer fits the morning.
    part = week.absence_impact_of(
        store, marie["id"], {"kind": "training", "from_day": THURSDAY, "part": "12:30-15:00"}
    )
    assert part["total"] == 1 and part["days"][0]["visit_ids"] == [thursday[2]]
    assert part["message"] == (
        "Marie absente jeudi 7 janvier de 12:30 à 15:00 : 1 visite à réaffecter"
    )
    # Recorded, the absence has the same impact.
    store.add_absence(marie["id"], body)
    assert week.absence_impact_of(store, marie["id"], body)["total"] == 3
    with pytest.raises(NotFoundError):
        week.absence_impact_of(store, marie["id"], body, structures=[2])


def test_a_visit_with_a_window_still_in_reach_stays(store: Store, service: dict) -> None:
    marie = service["marie"]
    (vid,) = [
        v["id"]
        for v in store.add_visits(
            [
                {
                    "day": THURSDAY,
                    "pseudonym": "P-2",
                    "lon": 9.45,
                    "lat": 42.7,
                    "duration_s": 1800,
                    "windows": "08:00-09:00;16:00-17:00",
                    "team_id": marie["team_id"],
                }
            ]
        )
    ]
    part = week.absence_impact_of(
        store, marie["id"], {"kind": "training", "from_day": THURSDAY, "part": "07:00-09:30"}
    )
    assert part["total"] == 1  # 16:00-17:00 is after her shift: nothing fits
    morning = week.absence_impact_of(
        store, marie["id"], {"kind": "training", "from_day": THURSDAY, "part": "07:00-07:30"}
    )
    assert morning["total"] == 0 and morning["message"].endswith("aucune visite à réaffecter")
    assert vid


def test_the_messages_agree_with_gender_and_number() -> None:
    from dispatch.care.rota import Absence

    day = dt.date(2027, 1, 1)
    absence = Absence("leave", day, day)
    assert week.impact_message("Paul", "male", absence, 1) == (
        "Paul absent vendredi 1er janvier : 1 visite à réaffecter"
    )
    assert week.impact_message("Sam", None, absence, 2).startswith("Sam absent·e vendredi")
    assert week.impact_message("Sam", None, absence, 0, "en") == (
        "Sam absent on Friday 1 January: no visit to reassign"
    )


def test_a_team_member_sees_their_coming_days(store: Store, service: dict) -> None:
    marie = service["marie"]
    ids = _visits(store, MONDAY, marie["team_id"], ["08:00-09:00"])
    store.add_absence(marie["id"], {"kind": "leave", "from_day": "2027-01-05"})
    mine = week.my_days_of(store, team_id=marie["team_id"], from_day=MONDAY, days=3, structures=[1])
    assert mine["staff"] == {"id": marie["id"], "name": "Marie"}
    monday, tuesday, wednesday = mine["days"]
    assert monday["visits"] == [
        {
            "id": ids[0],
            "pseudonym": "P-0001",
            "window": "08:00-09:00",
            "duration_s": 1800,
            "team_id": marie["team_id"],
            "with": None,
        }
    ]
    assert monday["shift"]["start"] == "07:00" and monday["absence"] is None
    assert tuesday["shift"] is None and tuesday["absence"]["kind"] == "leave"
    assert wednesday["visits"] == [] and wednesday["shift"]["end"] == "15:00"
    with pytest.raises(NotFoundError):
        week.my_days_of(store, team_id=marie["team_id"], from_day=MONDAY, structures=[2])
    none = week.my_days_of(store, team_id=None, from_day=MONDAY, days=2)
    assert none["staff"] is None and [d["visits"] for d in none["days"]] == [[], []]


def test_the_examples_in_the_staff_docstrings_hold() -> None:
    import doctest

    import dispatch.store.staff

    for module in (week, dispatch.store.staff):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0, module.__name__


def _prefer(store: Store, visit_ids: list[int], *, team_id: int | None = None, staff_id=None):
    wishes = json.dumps({"preferred_staff_ids": [staff_id]}) if staff_id else None
    store.engine.write(
        lambda conn: conn.executemany(
            "UPDATE visits SET preferred_team_id = ?, wishes = ? WHERE id = ?",
            [(team_id, wishes, vid) for vid in visit_ids],
        )
    )


def test_a_future_day_counts_the_visits_that_prefer_her(store: Store, service: dict) -> None:
    """A day not yet planned has no visit in any round: the visits naming her as preferred
    (her team, or her id in the wishes) are the ones to reassign."""
    marie, paul = service["marie"], service["paul"]
    by_team = _visits(store, THURSDAY, None, ["08:00-09:00", "09:00-10:00"])
    _prefer(store, by_team, team_id=marie["team_id"])
    by_wish = _visits(store, THURSDAY, None, ["10:00-11:00"])
    _prefer(store, by_wish, staff_id=marie["id"])
    _prefer(store, _visits(store, THURSDAY, None, ["10:00-11:00"]), team_id=paul["team_id"])
    _visits(store, THURSDAY, None, ["11:00-12:00"])  # nobody preferred
    planned = _visits(store, THURSDAY, marie["team_id"], ["13:00-14:00"])
    body = {"kind": "sickness", "from_day": THURSDAY}
    impact = week.absence_impact_of(store, marie["id"], body, structures=[1])
    assert impact["total"] == 4 and impact["reassign"] is True
    assert impact["days"] == [
        {"day": THURSDAY, "count": 4, "visit_ids": [*by_team, *by_wish, *planned]}
    ]
    assert impact["message"] == "Marie absente jeudi 7 janvier : 4 visites à réaffecter"
    # Six visits of half an hour: Paul's 8 h cover them.
    assert impact["capacity"] == [
        {"day": THURSDAY, "lost_h": 7.5, "remaining_h": 8.0, "visit_h": 3.0, "short": False}
    ]
    # A part-day absence keeps what still fits the rest of her shift.
    part = week.absence_impact_of(
        store, marie["id"], {"kind": "training", "from_day": THURSDAY, "part": "07:00-09:30"}
    )
    assert part["total"] == 1 and part["days"][0]["visit_ids"] == [by_team[0]]


def test_a_day_the_others_cannot_cover_is_said_in_hours(store: Store, service: dict) -> None:
    marie = service["marie"]
    # Thursday: 10 h of visits nobody prefers; without Marie only Paul's 8 h remain.
    _visits(store, THURSDAY, None, ["07:00-19:00"] * 10, duration_s=3600)
    _visits(store, THURSDAY, None, ["07:00-19:00"], duration_s=3600, structure_id=2)
    body = {"kind": "sickness", "from_day": THURSDAY}
    impact = week.absence_impact_of(store, marie["id"], body, structures=[1])
    assert impact["total"] == 0 and impact["reassign"] is True
    assert impact["capacity"] == [
        {"day": THURSDAY, "lost_h": 7.5, "remaining_h": 8.0, "visit_h": 10.0, "short": True}
    ]
    assert impact["message"] == (
        "Marie absente jeudi 7 janvier : 7,5 h de travail en moins ce jour-là"
        " (reste 8 h pour 10 h de visites)"
    )
    english = week.absence_impact_of(store, marie["id"], body, locale="en")
    assert english["message"] == (
        "Marie absent on Thursday 7 January: 7.5 h of work lost that day"
        " (8 h left for 10 h of visits)"
    )
    # Over two days, the short day is named.
    long = week.absence_impact_of(store, marie["id"], {**body, "to_day": "2027-01-08"})
    assert [c["short"] for c in long["capacity"]] == [True, False]
    assert long["message"].endswith(
        ": 15 h de travail en moins (reste 8 h pour 10 h de visites le jeudi 7 janvier)"
    )
    # Wednesday, Paul is off: the day's two hours have nobody left.
    _visits(store, "2027-01-06", None, ["08:00-12:00"] * 2, duration_s=3600)
    wed = week.absence_impact_of(store, marie["id"], {**body, "from_day": "2027-01-06"})
    assert wed["capacity"][0]["remaining_h"] == 0 and wed["reassign"] is True
    # With visits to reassign, the message counts them; the shortfall stays in capacity.
    _visits(store, THURSDAY, marie["team_id"], ["08:00-09:00"])
    both = week.absence_impact_of(store, marie["id"], body)
    assert both["message"] == "Marie absente jeudi 7 janvier : 1 visite à réaffecter"
    assert both["capacity"][0]["visit_h"] == 10.5 and both["capacity"][0]["short"]
    # A part-day absence leaves her own morning to cover the day: 8 h + 5 h for 10.5 h.
    morning = week.absence_impact_of(store, marie["id"], {**body, "part": "12:30-15:00"})
    assert morning["capacity"] == [
        {"day": THURSDAY, "lost_h": 2.5, "remaining_h": 13.0, "visit_h": 10.5, "short": False}
    ]
    # Nothing to move and hours to spare: nothing to replan.
    friday = week.absence_impact_of(store, marie["id"], {**body, "from_day": "2027-01-08"})
    assert friday["reassign"] is False
    assert friday["message"] == "Marie absente vendredi 8 janvier : aucune visite à réaffecter"


class _Rounds:
    """The rounds service's answer, as far as the replanning reads it."""

    def __init__(self, store: Store, routes: list[dict], dropped: list[int]) -> None:
        self.store, self.routes, self.dropped, self.days = store, routes, dropped, []

    def team_unavailable(self, day: str, team_id: int, **_: Any) -> dict[str, Any]:
        self.days.append(day)
        plan = self.store.save_plan(day, self.routes, structure_id=1)
        return {"plan_id": plan["id"], "dropped": [{"visit_id": v} for v in self.dropped]}


def test_the_replanning_says_what_other_rounds_would_lose(store: Store, service: dict) -> None:
    marie, paul = service["marie"], service["paul"]
    mine = _visits(store, THURSDAY, marie["team_id"], ["08:00-09:00", "09:00-10:00"])
    pauls = _visits(store, THURSDAY, paul["team_id"], ["08:00-09:00", "09:00-10:00"])
    # The draft gives one of Marie's to Paul and takes one of his out.
    routes = [
        {"team_id": paul["team_id"], "stops": [{"visit_id": mine[0]}, {"visit_id": pauls[0]}]}
    ]
    rounds = _Rounds(store, routes, dropped=[mine[1], pauls[1]])
    absence = store.add_absence(marie["id"], {"kind": "sickness", "from_day": THURSDAY})
    result = week.replan_absence(
        store, rounds, marie["id"], absence["id"], by="c", today=MONDAY, structures=[1]
    )
    (day,) = result["days"]
    assert (day["moved"], day["unassigned"], day["dropped"]) == (1, 1, 1)


def test_a_day_short_of_hours_is_replanned(store: Store, service: dict) -> None:
    marie = service["marie"]
    _visits(store, THURSDAY, None, ["07:00-19:00"] * 10, duration_s=3600)
    rounds = _Rounds(store, [], dropped=[])
    absence = store.add_absence(marie["id"], {"kind": "sickness", "from_day": THURSDAY})
    result = week.replan_absence(
        store, rounds, marie["id"], absence["id"], by="c", today=MONDAY, structures=[1]
    )
    assert rounds.days == [THURSDAY]
    assert [(d["day"], d["moved"], d["dropped"]) for d in result["days"]] == [(THURSDAY, 0, 0)]
