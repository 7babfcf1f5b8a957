"""A request's care act chooses who can do it (issue 24, on the real slot finder over Melun's
roads): in a structure where only the nurse gives insulin, an insulin request gets slots on
her round only and the booked visit needs insulin; a recurring insulin request becomes a care
plan of kind insulin with that skill; in a structure of care aides only, the slots answer says
why there is none, in French and in English. The form's options list the acts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from live_support import MELUN, module_settings

from dispatch.care import acts
from dispatch.store import Store
from dispatch.web.api_referrals import get_referrals
from dispatch.web.app import create_app

HOME = (2.6600, 48.5430)


def _staff(store: Store, name: str, skills: list[str], structure_id: int, today: str) -> Any:
    return store.add_staff(
        {
            "name": name,
            "job": "nurse" if "insulin" in skills else "care_aide",
            "contract_h_per_week": 35,
            "base_lon": MELUN[0],
            "base_lat": MELUN[1],
            "skills": skills,
            "rotas": [
                {"start_day": today, "weekdays": "MO,TU,WE,TH,FR,SA,SU", "shift": "07:00-19:00"}
            ],
        },
        structure_id=structure_id,
    )


@pytest.fixture(scope="module")
def world(melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    """Structure 1: two care aides (hygiene) and a nurse (hygiene, insulin), all working
    every day; structure 2: a care aide only. A referrer of both, a coordinator of 1."""
    settings = module_settings(tmp_path_factory.mktemp("acts"), territory_cache, shared_dir)
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    today = get_referrals(app).today()
    aides = [_staff(store, f"Aide {n}", ["hygiene"], 1, today) for n in ("Alba", "Bruno")]
    nurse = _staff(store, "Infirmière Claire", ["hygiene", "insulin"], 1, today)
    other = store.add_structure({"name": "SSIAD Sud", "kind": "ssiad"})["id"]
    _staff(store, "Aide Denis", ["hygiene"], other, today)
    tokens = {}
    for name, role, structures in (("gp", "referrer", [1, other]), ("coord", "coordinator", [1])):
        user = store.add_user(name, role=role, password=None, structure_ids=structures)
        tokens[name] = store.create_api_token(user["id"], label="test")
    yield {
        "app": app,
        "store": store,
        "client": app.test_client(),
        "tokens": tokens,
        "other": other,
        "day1": (dt.date.fromisoformat(today) + dt.timedelta(days=1)).isoformat(),
        "day2": (dt.date.fromisoformat(today) + dt.timedelta(days=2)).isoformat(),
        "aide_teams": {a["team_id"] for a in aides},
        "nurse_team": nurse["team_id"],
    }
    store.close()


def _h(world: dict[str, Any], who: str, lang: str = "fr") -> dict[str, str]:
    return {"Authorization": f"Bearer {world['tokens'][who]}", "Accept-Language": lang}


def _submit(world: dict[str, Any], act: str, **changes: Any) -> dict[str, Any]:
    body = {
        "structure_id": 1,
        "patient": {"family_name": "Roux", "given_name": "Paul", "birth_date": "1939-07-01"},
        "address": "5 rue de la Gare, Melun",
        "lon": HOME[0],
        "lat": HOME[1],
        "reason": "Diabète insulino-dépendant",
        "act": act,
        "duration_min": 15,
        "urgency": "soon",
        "period_from": world["day1"],
        "period_to": world["day2"],
        "time_of_day": "morning",
        **changes,
    }
    r = world["client"].post("/api/referrals", json=body, headers=_h(world, "gp"))
    assert r.status_code == 201, r.json
    return r.json["referral"]


def test_the_options_list_the_acts_and_a_request_needs_one(world):
    r = world["client"].get("/api/referrals/options", headers=_h(world, "gp"))
    assert r.status_code == 200, r.json
    listed = {a["id"]: a for a in r.json["acts"]}
    assert list(listed) == list(acts.ACT_IDS)
    assert listed["insulin"] == {
        "id": "insulin",
        "label_fr": "Insuline",
        "label_en": "Insulin",
        "skills": ["insulin"],
        "duration_min": 15,
    }
    body = _submit(world, "other")
    assert (body["act"], body["care_kind"]) == ("other", "other")
    r = world["client"].post(
        "/api/referrals",
        json={k: v for k, v in {**body, "structure_id": 1}.items() if k in _IN},
        headers=_h(world, "gp", "en"),
    )
    assert r.status_code == 400 and "act must be one of" in r.json["error"], r.json


_IN = ("structure_id", "patient", "address", "lon", "lat", "reason", "duration_min", "urgency",
       "period_from", "period_to")  # fmt: skip


def test_an_insulin_request_gets_only_the_nurse_s_slots_and_her_visit_needs_insulin(world):
    client = world["client"]
    hygiene = _submit(world, "hygiene", duration_min=30)
    r = client.get(f"/api/referrals/{hygiene['id']}/slots?n=6", headers=_h(world, "coord"))
    teams = {int(s["slot_id"].split(".")[1]) for s in r.json["slots"]}
    assert teams & world["aide_teams"], "a personal care is offered on the aides' rounds too"

    referral = _submit(world, "insulin")
    assert (referral["act"], referral["care_kind"]) == ("insulin", "nursing")
    r = client.get(f"/api/referrals/{referral['id']}/slots?n=6", headers=_h(world, "coord"))
    assert r.status_code == 200 and r.json["reason"] is None, r.json
    slots = r.json["slots"]
    assert slots and {int(s["slot_id"].split(".")[1]) for s in slots} == {world["nurse_team"]}
    assert {s["team_name"] for s in slots} == {"Infirmière Claire"}
    # A slot on an aide's round is refused even when asked for by its id.
    aide_slot = slots[0]["slot_id"].split(".")
    aide_slot[1] = str(min(world["aide_teams"]))
    r = client.post(
        f"/api/referrals/{referral['id']}/book",
        json={"slot_id": ".".join(aide_slot)},
        headers=_h(world, "gp"),
    )
    assert r.status_code == 409 and r.json["code"] == "slot_taken", r.json

    r = client.post(
        f"/api/referrals/{referral['id']}/book",
        json={"slot_id": slots[0]["slot_id"]},
        headers=_h(world, "gp"),
    )
    assert r.status_code == 200, r.json
    visit = world["store"].get_visit(r.json["referral"]["visit"]["id"])
    assert visit["skills"] == ["insulin"] and visit["care_kind"] == "nursing"


def test_a_recurring_insulin_request_becomes_an_insulin_care_plan(world):
    referral = _submit(
        world,
        "insulin",
        recurrence={"times_per_day": 2, "weekdays": [1, 2, 3, 4, 5, 6, 7], "until": world["day2"]},
        patient={"family_name": "Blanc", "given_name": "Lise", "birth_date": "1944-02-02"},
    )
    r = world["client"].post(
        f"/api/referrals/{referral['id']}/accept",
        json={"slot_id": None},
        headers=_h(world, "coord"),
    )
    assert r.status_code == 200, r.json
    plan_id = r.json["referral"]["care_plan_id"]
    plans = world["store"].list_care_plans(r.json["referral"]["patient_id"], structures=[1])
    plan = next(p for p in plans if p["id"] == plan_id)
    assert plan["kind"] == "insulin" and plan["skills"] == ["insulin"]


def test_no_team_with_the_act_s_skills_is_said_in_words(world):
    referral = _submit(world, "insulin", structure_id=world["other"])
    for lang, words in (
        (
            "fr",
            "aucune équipe de cette structure ne réalise « Insuline » (compétences requises : insuline)",
        ),
        ("en", "no team of this service does « Insulin » (skills needed: insulin)"),
    ):
        r = world["client"].get(
            f"/api/referrals/{referral['id']}/slots", headers=_h(world, "gp", lang)
        )
        assert r.status_code == 200, r.json
        assert r.json["slots"] == [] and words in r.json["reason"], r.json
