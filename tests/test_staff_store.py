"""Staff in the store: personal teams, rotas through the store, pairs, absences, the day's
teams, and structure scoping (another structure's staff is not found)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from dispatch.errors import ConflictError, NotFoundError, ValidationError
from dispatch.store import Store

MONDAY = dt.date(2027, 1, 4)


def _structure(store: Store, structure_id: int, name: str, kind: str = "ssiad") -> None:
    store.engine.write(
        lambda conn: conn.execute(
            "INSERT OR IGNORE INTO structures (id, name, kind, demo, created_at_s, updated_at_s)"
            " VALUES (?, ?, ?, 0, 0, 0)",
            (structure_id, name, kind),
        )
    )


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    with Store(tmp_path / "d.sqlite") as s:
        _structure(s, 2, "SSIAD B")
        _structure(s, 3, "Équipe palliative", "palliative_team")
        yield s


def weekly(days: str = "MO,TU,WE,TH,FR", shift: str = "07:00-15:00", **extra: object) -> dict:
    return {"start_day": "2027-01-04", "weekdays": days, "shift": shift, **extra}


def marie(**extra: object) -> dict:
    return {
        "name": "Marie Santoni",
        "gender": "female",
        "job": "nurse",
        "skills": ["insulin", "wound_care"],
        "contract_h_per_week": 35,
        "rotas": [weekly(breaks=["12:00-12:30"])],
        **extra,
    }


def test_a_new_member_of_staff_gets_a_personal_team_of_one(store: Store) -> None:
    staff = store.add_staff(marie(), structure_id=1)
    assert staff["structure_id"] == 1 and staff["active"] and staff["absences"] == []
    assert staff["skills"] == ["insulin", "wound_care"]
    assert staff["rotas"][0]["weekdays"] == "MO,TU,WE,TH,FR"
    team = store.get_team(staff["team_id"])
    assert team["name"] == "Marie Santoni"
    assert team["structure_id"] == 1 and team["kind"] == "nursing"
    assert (team["shift_start_s"], team["shift_end_s"]) == (7 * 3600, 15 * 3600)
    assert team["skills"] == ["insulin", "wound_care"]
    assert [s["id"] for s in store.staff_of_team(staff["team_id"])] == [staff["id"]]


def test_a_namesake_gets_a_team_of_its_own(store: Store) -> None:
    a = store.add_staff(marie(), structure_id=1)
    b = store.add_staff(marie(), structure_id=2)
    assert a["team_id"] != b["team_id"]
    assert store.get_team(b["team_id"])["name"] == "Marie Santoni (2)"
    assert store.get_team(b["team_id"])["structure_id"] == 2


def test_the_team_kind_follows_the_structure(store: Store) -> None:
    staff = store.add_staff(marie(), structure_id=3)
    assert store.get_team(staff["team_id"])["kind"] == "palliative"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rotas": [weekly("MO,XY")]}, "rotas[0]: weekdays 'XY': use MO,TU,WE,TH,FR,SA,SU"),
        (
            {
                "rotas": [
                    weekly(),
                    {"start_day": "2027-02-01", "cycle": [0, 7], "shift": "07:00-15:00"},
                ]
            },
            "rotas[1]: rota counts",
        ),
        (
            {"rotas": [{"start_day": "2027-13-01", "cycle": [7, 7], "shift": "07:00-15:00"}]},
            "rotas[0]: start_day",
        ),
        ({"rotas": [weekly(shift="15:00-07:00")]}, "rotas[0]:"),
        ({"rotas": [weekly(), weekly("SA")]}, "2 rotas start on 2027-01-04"),
        ({"rotas": {"weekdays": "MO"}}, "rotas must be a list"),
        ({"contract_h_per_week": 120}, "contract_h_per_week 120: give 0 to 80"),
        ({"contract_h_per_week": "35"}, "contract_h_per_week"),
        ({"job": "surgeon"}, "job 'surgeon': use nurse, care_aide"),
        ({"gender": "x"}, "gender 'x': use female, male"),
        ({"colour": "red"}, "unknown field(s) 'colour'"),
        ({"name": " "}, "staff: name is required"),
    ],
)
def test_bad_staff_input_says_what_to_fix(store: Store, change: dict, message: str) -> None:
    with pytest.raises(
        ValidationError,
        match=message.replace("(", r"\(")
        .replace(")", r"\)")
        .replace("[", r"\[")
        .replace("]", r"\]"),
    ):
        store.add_staff(marie(**change), structure_id=1)
    assert store.list_staff() == []


def test_an_unknown_structure_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError, match="structure 9 does not exist"):
        store.add_staff(marie(), structure_id=9)


def test_staff_of_another_structure_is_not_found(store: Store) -> None:
    a = store.add_staff(marie(), structure_id=1)
    b = store.add_staff(
        marie(name="Paul Rossi", gender="male", rotas=[weekly("SA,SU")]), structure_id=2
    )
    assert [s["id"] for s in store.list_staff(structures=[2])] == [b["id"]]
    assert store.list_staff(structures=[]) == []
    assert len(store.list_staff()) == 2
    for call in (
        lambda: store.get_staff(a["id"], structures=[2]),
        lambda: store.update_staff(a["id"], {"contract_h_per_week": 20}, structures=[2]),
        lambda: store.deactivate_staff(a["id"], structures=[2]),
        lambda: store.add_absence(
            a["id"], {"kind": "leave", "from_day": "2027-01-05"}, structures=[2]
        ),
        lambda: store.list_absences(a["id"], structures=[2]),
    ):
        with pytest.raises(NotFoundError, match=f"staff member {a['id']} does not exist"):
            call()
    absence = store.add_absence(a["id"], {"kind": "leave", "from_day": "2027-01-05"})
    with pytest.raises(NotFoundError):
        store.cancel_absence(a["id"], absence["id"], structures=[2])
    with pytest.raises(NotFoundError):
        store.cancel_absence(b["id"], absence["id"])  # not that person's absence
    assert store.day_teams(MONDAY, structures=[2]) == []
    assert [t["staff_ids"] for t in store.day_teams(MONDAY, structures=[1])] == [[a["id"]]]


def test_update_follows_into_the_personal_team(store: Store) -> None:
    staff = store.add_staff(marie(), structure_id=1)
    changed = store.update_staff(
        staff["id"],
        {
            "name": "Marie Santoni-Luciani",
            "skills": ["hygiene"],
            "rotas": [weekly("MO,TU", "08:00-16:00")],
        },
        structures=[1],
    )
    assert changed["skills"] == ["hygiene"]
    team = store.get_team(staff["team_id"])
    assert team["name"] == "Marie Santoni-Luciani" and team["skills"] == ["hygiene"]
    assert team["shift_start_s"] == 8 * 3600
    with pytest.raises(ValidationError, match="structure_id cannot change"):
        store.update_staff(staff["id"], {"structure_id": 2})
    gone = store.deactivate_staff(staff["id"])
    assert not gone["active"] and not store.get_team(staff["team_id"])["active"]
    assert store.list_staff() == [] and len(store.list_staff(active=None)) == 1
    assert store.day_teams(MONDAY) == []


def test_a_team_member_account_follows_their_personal_team(store: Store) -> None:
    first = store.add_staff(marie(), structure_id=1)
    user = store.add_user(
        "marie", role="team_member", team_id=first["team_id"], password="correct horse battery"
    )
    staff = store.add_staff(marie(name="Marie B", user_id=user["id"]), structure_id=1)
    assert store.get_user(user["id"])["team_id"] == staff["team_id"]
    with pytest.raises(ConflictError, match="already the account of staff member"):
        store.update_staff(first["id"], {"user_id": user["id"]})
    store.update_staff(staff["id"], {"user_id": None})
    store.update_staff(first["id"], {"user_id": user["id"]})
    assert store.get_user(user["id"])["team_id"] == first["team_id"]
    with pytest.raises(NotFoundError, match="user 99 does not exist"):
        store.update_staff(staff["id"], {"user_id": 99})


def test_rota_arithmetic_through_the_store(store: Store) -> None:
    # 7 on / 7 off from Monday 4 January, a nurse four days a week with a lunch break.
    cycle = store.add_staff(
        {
            "name": "Jo",
            "contract_h_per_week": 28,
            "skills": ["hygiene"],
            "rotas": [{"start_day": "2027-01-04", "cycle": [7, 7], "shift": "07:00-15:00"}],
        },
        structure_id=1,
    )
    four = store.add_staff(
        marie(rotas=[weekly("MO,TU,TH,FR", breaks=["12:00-12:30"])]), structure_id=1
    )
    on = {
        dt.date(2027, 1, d): {t["staff_ids"][0] for t in store.day_teams(dt.date(2027, 1, d))}
        for d in range(4, 25)
    }
    assert all(cycle["id"] in on[dt.date(2027, 1, d)] for d in range(4, 11))
    assert all(cycle["id"] not in on[dt.date(2027, 1, d)] for d in range(11, 18))
    assert all(cycle["id"] in on[dt.date(2027, 1, d)] for d in range(18, 25))
    assert [d.day for d in sorted(on) if four["id"] in on[d] and d.day < 11] == [4, 5, 7, 8]
    (team,) = [t for t in store.day_teams("2027-01-07") if t["staff_ids"] == [four["id"]]]
    assert team == {
        "team_id": four["team_id"],
        "staff_ids": [four["id"]],
        "shift_start_s": 7 * 3600,
        "shift_end_s": 15 * 3600,
        "breaks": [[12 * 3600, 12 * 3600 + 1800]],
        "skills": ["insulin", "wound_care"],
    }
    # A later rota takes over from its start day.
    store.update_staff(
        four["id"],
        {
            "rotas": [
                weekly("MO,TU,TH,FR", breaks=["12:00-12:30"]),
                {"start_day": "2027-01-11", "weekdays": "WE", "shift": "13:00-21:00"},
            ]
        },
    )
    assert four["id"] not in {t["staff_ids"][0] for t in store.day_teams("2027-01-11")}
    (late,) = [t for t in store.day_teams("2027-01-13") if t["staff_ids"] == [four["id"]]]
    assert (late["shift_start_s"], late["shift_end_s"]) == (13 * 3600, 21 * 3600)


def test_absences_take_people_out_of_the_day(store: Store) -> None:
    staff = store.add_staff(marie(), structure_id=1)
    sick = store.add_absence(
        staff["id"],
        {"kind": "sickness", "from_day": "2027-01-07", "to_day": "2027-01-08", "note": "arrêt"},
        actor="user:1",
    )
    assert sick["kind"] == "sickness" and sick["to_day"] == "2027-01-08" and not sick["cancelled"]
    training = store.add_absence(
        staff["id"], {"kind": "training", "from_day": "2027-01-05", "part": "13:00-15:00"}
    )
    assert training["to_day"] == "2027-01-05" and training["part"] == "13:00-15:00"
    assert [d for d in ("2027-01-07", "2027-01-08") if store.day_teams(d)] == []
    (tuesday,) = store.day_teams("2027-01-05")
    assert (tuesday["shift_start_s"], tuesday["shift_end_s"]) == (7 * 3600, 13 * 3600)
    assert [a["id"] for a in store.get_staff(staff["id"])["absences"]] == [
        training["id"],
        sick["id"],
    ]
    with pytest.raises(ConflictError, match="already absent from 2027-01-07 to 2027-01-08"):
        store.add_absence(
            staff["id"], {"kind": "leave", "from_day": "2027-01-08", "to_day": "2027-01-12"}
        )
    cancelled = store.cancel_absence(staff["id"], sick["id"], structures=[1])
    assert cancelled["cancelled"]
    assert len(store.day_teams("2027-01-07")) == 1
    assert [a["id"] for a in store.list_absences(staff["id"])] == [training["id"]]
    assert len(store.list_absences(staff["id"], include_cancelled=True)) == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"kind": "holiday", "from_day": "2027-01-05"},
            "kind 'holiday': use leave, sickness, training",
        ),
        ({"kind": "leave", "from_day": "2027-01-05", "to_day": "2027-01-01"}, "before from_day"),
        ({"kind": "leave", "from_day": "05/01/2027"}, "is not a date"),
        ({"kind": "leave", "from_day": "2027-01-05", "part": "15:00-13:00"}, "absence:"),
        ({"kind": "leave", "from_day": "2027-01-05", "why": "x"}, "unknown field"),
    ],
)
def test_bad_absences_say_what_to_fix(store: Store, body: dict, message: str) -> None:
    staff = store.add_staff(marie(), structure_id=1)
    with pytest.raises(ValidationError, match=message):
        store.add_absence(staff["id"], body)


def test_a_pair_goes_out_together_on_days_both_work(store: Store) -> None:
    a = store.add_staff(marie(rotas=[weekly("MO,TU,WE", "07:00-15:00")]), structure_id=1)
    b = store.add_staff(
        {
            "name": "Paul",
            "gender": "male",
            "skills": ["hygiene"],
            "contract_h_per_week": 35,
            "rotas": [weekly("MO,WE,TH", "08:00-16:00")],
        },
        structure_id=1,
    )
    pair = store.add_pair([a["id"], b["id"]], structures=[1])
    assert pair["name"] == "Marie Santoni & Paul" and pair["staff_ids"] == sorted(
        [a["id"], b["id"]]
    )
    assert store.get_team(pair["team_id"])["skills"] == ["hygiene", "insulin", "wound_care"]
    monday = store.day_teams("2027-01-04")
    assert monday == [
        {
            "team_id": pair["team_id"],
            "staff_ids": sorted([a["id"], b["id"]]),
            "shift_start_s": 8 * 3600,
            "shift_end_s": 15 * 3600,
            "breaks": [],
            "skills": ["hygiene", "insulin", "wound_care"],
        }
    ]
    tuesday = store.day_teams("2027-01-05")  # only Marie works: she goes alone
    assert [(t["team_id"], t["staff_ids"]) for t in tuesday] == [(a["team_id"], [a["id"]])]
    store.add_absence(b["id"], {"kind": "leave", "from_day": "2027-01-06"})
    assert [t["team_id"] for t in store.day_teams("2027-01-06")] == [a["team_id"]]
    assert sorted(s["id"] for s in store.staff_of_team(pair["team_id"])) == pair["staff_ids"]
    store.remove_pair(pair["team_id"])
    assert sorted(t["team_id"] for t in store.day_teams("2027-01-04")) == [
        a["team_id"],
        b["team_id"],
    ]
    c = store.add_staff(marie(name="Autre"), structure_id=2)
    with pytest.raises(NotFoundError):
        store.add_pair([a["id"], c["id"]], structures=[1])
    with pytest.raises(ValidationError, match="one structure"):
        store.add_pair([a["id"], c["id"]])


def test_a_personal_team_starts_from_its_base_or_the_structures_office(store: Store) -> None:
    first = store.add_staff(marie(), structure_id=1)
    assert store.get_team(first["team_id"])["base_lon"] is None
    based = store.add_staff(
        marie(name="B", base_name="Cabinet", base_lon=9.45, base_lat=42.7), structure_id=1
    )
    assert store.get_team(based["team_id"])["base_name"] == "Cabinet"
    later = store.add_staff(marie(name="C"), structure_id=1)
    team = store.get_team(later["team_id"])
    assert (team["base_name"], team["base_lon"], team["base_lat"]) == ("Cabinet", 9.45, 42.7)
    assert (
        store.get_team(store.add_staff(marie(name="D"), structure_id=2)["team_id"])["base_lon"]
        is None
    )
