"""POST /api/visits/generate {"from", "days", "structure_id"?} (issue 22, items 5 and 7)."""

from __future__ import annotations

import pytest
from api_world import DAY, make_world

from dispatch.web.rest import subscribe
from tests.generation_support import add_care_plan, add_patient, add_structure, set_template, sql


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = make_world(tmp_path_factory.mktemp("generate"))
    mine = add_patient(w.store, 1)
    plan = add_care_plan(w.store, mine, 1)
    other = add_structure(w.store, "EMSP de Corte", "palliative_team")
    add_care_plan(w.store, add_patient(w.store, other, "Patient FFFF"), other)
    w.ids.update(plan=plan, other=other)
    w.published = []
    subscribe(w.app, "visit", w.published.append)
    yield w
    w.store.close()


def post(world, who, body, **headers):
    with world.app.test_client() as client:
        return client.post(
            "/api/visits/generate", json=body, headers={**world.headers(who), **headers}
        )


def test_a_coordinator_generates_their_structures_visits_once(world):
    # The rounds' clock stands at 08:30 on DAY: that morning's 08:00 visit is already past.
    first = post(world, "coordinator", {"from": DAY, "days": 2})
    assert first.status_code == 200, first.json
    body = first.json
    assert body["ok"] is True
    assert (body["created"], body["unchanged"], body["cancelled"], body["updated"]) == (3, 0, 0, 0)
    assert (body["from"], body["days"]) == (DAY, 2)
    rows = sql(world.store, "SELECT structure_id, day FROM visits WHERE occurrence_key IS NOT NULL")
    assert {r["structure_id"] for r in rows} == {1}
    assert len(world.published) == 3 and "protected" not in world.published[0]
    again = post(world, "coordinator", {"from": DAY, "days": 2}).json
    assert (again["created"], again["unchanged"]) == (0, 3)
    lines = world.store.list_audit()
    assert any(line["action"] == "visits.generate" for line in lines)


def test_the_default_horizon_is_the_setting(world):
    body = post(world, "coordinator", {"from": "2026-12-01"}).json
    assert body["days"] == 14 and body["created"] == 28


def test_another_structure_is_refused(world):
    answer = post(world, "coordinator", {"from": DAY, "structure_id": world.ids["other"]})
    assert answer.status_code == 403
    assert "not one of yours" in answer.json["error"]
    assert (
        sql(
            world.store,
            "SELECT count(*) AS n FROM visits WHERE structure_id = ?",
            (world.ids["other"],),
        )[0]["n"]
        == 0
    )


@pytest.mark.parametrize("who", ["planner", "member_a", "admin", "device_b", "anonymous"])
def test_only_coordinators_generate(world, who):
    assert post(world, who, {"from": DAY}).status_code in (401, 403)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({}, '"from"'),
        ({"from": "23/11/2026"}, "YYYY-MM-DD"),
        ({"from": DAY, "days": 0}, "give 1 to 62 days"),
        ({"from": DAY, "days": 63}, "give 1 to 62 days"),
        ({"from": DAY, "days": "7"}, "whole number"),
        ({"from": DAY, "days": True}, "whole number"),
        ({"from": DAY, "until": DAY}, "unknown field"),
        ({"from": DAY, "structure_id": "un"}, "structure_id"),
    ],
)
def test_bad_bodies_say_what_to_fix(world, body, says):
    answer = post(world, "coordinator", body)
    assert answer.status_code == 400, answer.json
    assert says in answer.json["error"]


def test_the_operation_is_documented(world):
    with world.app.test_client() as client:
        doc = client.get("/api/openapi.json", headers=world.headers("coordinator")).json
    op = doc["paths"]["/api/visits/generate"]["post"]
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    assert schema["additionalProperties"] is False and schema["required"] == ["from"]
    assert {"created", "unchanged", "cancelled"} <= set(
        op["responses"]["200"]["content"]["application/json"]["schema"]["required"]
    )


def test_a_patch_of_a_generated_visit_keeps_it_through_regeneration(world):
    post(world, "coordinator", {"from": "2026-12-20", "days": 1})
    row = sql(
        world.store,
        "SELECT id FROM visits WHERE day = '2026-12-20' AND occurrence_key LIKE ?",
        (f"{world.ids['plan']}/%/0",),
    )[0]
    with world.app.test_client() as client:
        answer = client.patch(
            f"/api/visits/{row['id']}",
            json={"windows": [["09:00", "10:00"]]},
            headers=world.headers("coordinator"),
        )
        assert answer.status_code == 200, answer.json
        assert answer.json["visit"]["hand_edited"] is True
        # A note only (protected details) is no hand edit of the visit's planning.
        other = sql(
            world.store,
            "SELECT id FROM visits WHERE day = '2026-12-20' AND occurrence_key LIKE ?",
            (f"{world.ids['plan']}/%/1",),
        )[0]
        noted = client.patch(
            f"/api/visits/{other['id']}",
            json={"protected": {"notes": "sonner deux fois"}},
            headers=world.headers("coordinator"),
        )
        assert noted.json["visit"]["hand_edited"] is False
    set_template(world.store, world.ids["plan"], duration_s=1200)
    again = post(world, "coordinator", {"from": "2026-12-20", "days": 1}).json
    assert (again["updated"], again["kept"]) == (1, 1)
    kept = sql(world.store, "SELECT windows, duration_s FROM visits WHERE id = ?", (row["id"],))[0]
    assert (kept["windows"], kept["duration_s"]) == ("[[32400,36000]]", 900)
    noted = sql(
        world.store, "SELECT protected, duration_s FROM visits WHERE id = ?", (other["id"],)
    )
    assert noted[0]["duration_s"] == 1200 and "sonner deux fois" in noted[0]["protected"]
    set_template(world.store, world.ids["plan"], duration_s=900)
