"""The catalogue of care acts agrees with the patients screen's care plan kinds, and a
request's act decides its skills, care kind and care plan."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dispatch.care import acts
from dispatch.errors import ValidationError
from dispatch.referrals import core

PATIENTS_JS = Path(__file__).resolve().parents[1] / "static" / "map" / "patients.js"


def _js_const(text: str, name: str) -> object:
    found = re.search(rf"^const {name} = (.+);$", text, flags=re.M)
    assert found, f"{name} not found in patients.js"
    # The constants are JSON but for their bare keys.
    return json.loads(re.sub(r"([{,]\s*)([a-z_]+):", r'\1"\2":', found.group(1)))


def test_the_catalogue_has_the_patients_screen_kinds_and_skills():
    text = PATIENTS_JS.read_text(encoding="utf-8")
    kinds = _js_const(text, "KINDS")
    kind_skills = _js_const(text, "KIND_SKILLS")
    assert list(acts.ACT_IDS) == kinds
    assert {a.id: list(a.skills) for a in acts.ACTS if a.skills} == kind_skills
    for act in acts.ACTS:
        assert f'"pt.kind.{act.id}": "{act.label_fr}"' in text
        assert f'"pt.kind.{act.id}": "{act.label_en}"' in text


def test_an_act_is_checked_and_gives_its_skills_and_names():
    assert acts.get("insulin").skills == ("insulin",)
    assert acts.skills_of("dressing") == ("wound_care",)
    assert acts.skills_of(None) == ()
    assert acts.label("dressing", "en") == "Wound dressing"
    with pytest.raises(ValidationError, match="hygiene, evening_care"):
        acts.get("surgery")
    assert acts.missing_skills(["insulin"], [["hygiene"], ["hygiene"]])
    assert not acts.missing_skills(["insulin"], [["hygiene"], ["hygiene", "insulin"]])
    assert not acts.missing_skills([], [])
    assert "Insuline" in acts.no_skill_reason("insulin", ["insulin"], "fr")
    assert "(compétences requises : pansements)" in acts.no_skill_reason(
        "dressing", ["wound_care"], "fr"
    )
    assert "Insulin" in acts.no_skill_reason("insulin", ["insulin"], "en")


BODY = {
    "patient": {"family_name": "Durand", "given_name": "Léa", "birth_date": "1940-02-03"},
    "address": "1 rue X, Melun",
    "lon": 2.66,
    "lat": 48.54,
    "reason": "Diabète",
    "duration_min": 15,
    "urgency": "routine",
    "period_from": "2027-03-29",
    "period_to": "2027-04-02",
}


def test_a_request_needs_an_act_and_derives_its_care_kind():
    with pytest.raises(ValidationError, match="act must be one of"):
        core.parse_request(BODY, today="2027-03-28")
    fields = core.parse_request({**BODY, "act": "palliative_assessment"}, today="2027-03-28")
    assert (fields["act"], fields["care_kind"]) == ("palliative_assessment", "palliative")
    kept = core.parse_request(
        {**BODY, "act": "insulin", "care_kind": "geriatric"}, today="2027-03-28"
    )
    assert kept["care_kind"] == "geriatric"


def test_a_care_plan_from_a_request_has_the_act_as_kind_and_its_skills():
    referral = {
        "id": 7,
        "act": "insulin",
        "care_kind": "nursing",
        "duration_min": 15,
        "time_of_day": "morning",
        "recurrence": {
            "times_per_day": 2,
            "weekdays": [1, 2, 3, 4, 5, 6, 7],
            "until": "2027-05-01",
        },
    }
    plan = core.care_plan_fields(referral, start_day="2027-03-29")
    assert plan["kind"] == "insulin"
    assert plan["skills"] == ["insulin"]


def test_migration_0012_gives_requests_made_before_it_the_act_other(tmp_path):
    import sqlite3

    import sqlite_utils

    from dispatch.store.schema import MIGRATIONS

    conn = sqlite3.connect(tmp_path / "old.db")
    db = sqlite_utils.Database(conn)
    for number, _, fn in MIGRATIONS:
        if number == 12:
            conn.execute(
                "INSERT INTO referrals (structure_id, referrer_id, state, kind, care_kind,"
                " created_at_s) VALUES (1, 1, 'submitted', 'visit', 'nursing', 0)"
            )
        fn(db)
    assert conn.execute("SELECT act FROM referrals").fetchall() == [("other",)]
