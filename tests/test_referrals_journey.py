"""A referrer's journey on the real slot finder (Melun's roads, issue 24): invited by e-mail,
the address found by the offline geocoder, a request submitted, slots computed on the
published rounds of the coming days, one booked: the visit is on the team's published round
at the slot's time; the visit done is e-mailed to the referrer. E-mails go through a real
SMTP server (aiosmtpd) and never name the patient."""

from __future__ import annotations

import datetime as dt

import pytest
from live_support import HOME_A, HOME_B, MELUN, module_settings
from mail_support import Inbox

from dispatch.store import Store
from dispatch.web.api_dispatch import get_rounds
from dispatch.web.app import create_app

#: The service's clock stands on a Sunday evening; the request is for the coming days.
SUNDAY = "2027-01-03"
MONDAY, TUESDAY = "2027-01-04", "2027-01-05"
H = 3600


@pytest.fixture(scope="module")
def journey(melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    inbox = Inbox()
    settings = module_settings(
        tmp_path_factory.mktemp("journey"), territory_cache, shared_dir
    ).replace(
        smtp_host="127.0.0.1",
        smtp_port=inbox.port,
        smtp_starttls=False,
        smtp_from="dispatch@example.fr",
        clock_start=f"{SUNDAY}T18:00:00+01:00",
        solver_searches=1,
    )
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    team = store.add_team(
        {"name": "Équipe Nord", "base_lon": MELUN[0], "base_lat": MELUN[1],
         "shift_start": "07:00", "shift_end": "19:00"},
        structure_id=1,
    )  # fmt: skip
    coordinator = store.add_user(
        "coord", role="coordinator", email="coord@example.fr", structure_ids=[1]
    )
    tokens = {"coordinator": store.create_api_token(coordinator["id"])}
    # Monday's published round: two visits near the base.
    rounds = get_rounds(app)
    for lonlat, window in ((HOME_A, (8 * H, 9 * H)), (HOME_B, (10 * H, 11 * H))):
        visit = store.add_visit(
            {"day": MONDAY, "pseudonym": f"P{lonlat[0]}", "lon": lonlat[0], "lat": lonlat[1],
             "duration_s": 1800, "windows": [list(window)]},
            structure_id=1,
        )  # fmt: skip
        rounds.insert(MONDAY, visit["id"], team_id=team["id"], urgent=False, by="test",
                      structure_id=1)  # fmt: skip
    yield {"app": app, "store": store, "inbox": inbox, "tokens": tokens, "team": team}
    inbox.stop()
    store.close()


def _h(journey, who):
    return {"Authorization": f"Bearer {journey['tokens'][who]}", "Accept-Language": "fr"}


def test_request_slots_booking_visit_on_the_round_and_visit_done(journey):
    app, store, inbox = journey["app"], journey["store"], journey["inbox"]
    client = app.test_client()
    r = client.post(
        "/api/referrers",
        json={"email": "gp@cabinet.example.fr", "display_name": "Dr Anne Martin",
              "profession": "gp"},
        headers=_h(journey, "coordinator"),
    )  # fmt: skip
    assert r.status_code == 201 and r.json["mail"] == "sent", r.json
    assert "/account/#token=" in inbox.body()
    referrer_id = r.json["referrer"]["id"]
    journey["tokens"]["gp"] = store.create_api_token(referrer_id)

    found = client.get("/api/referrals/geocode?q=rue de la gare melun", headers=_h(journey, "gp"))
    assert found.status_code == 200, found.json
    assert found.json["matches"] and {"label", "lon", "lat", "precision", "commune"} == set(
        found.json["matches"][0]
    )
    assert found.json["matches"][0]["commune"] == "Melun"
    body = {
        "patient": {"family_name": "Lefèvre", "given_name": "Odette", "birth_date": "1938-05-12"},
        "address": "5 rue de la Gare, Melun", "lon": 2.6600, "lat": 48.5420,
        "reason": "Soins de pansement après sortie d'hospitalisation", "act": "other", "care_kind": "nursing",
        "duration_min": 30, "urgency": "soon", "period_from": MONDAY, "period_to": TUESDAY,
        "time_of_day": "morning",
    }  # fmt: skip
    far = client.post("/api/referrals", json={**body, "lon": 9.45, "lat": 42.7},
                      headers={**_h(journey, "gp"), "Accept-Language": "en"})  # fmt: skip
    assert far.status_code == 400 and "outside the territory" in far.json["error"]
    r = client.post("/api/referrals", json=body, headers=_h(journey, "gp"))
    assert r.status_code == 201, r.json
    rid = r.json["referral"]["id"]
    mail = inbox.messages[-1]
    assert mail[0] == ["coord@example.fr"] and "Lefèvre" not in inbox.body()

    r = client.get(f"/api/referrals/{rid}/slots?n=4", headers=_h(journey, "gp"))
    assert r.status_code == 200, r.json
    slots = r.json["slots"]
    assert slots and r.json["reason"] is None
    assert all(s["day"] in (MONDAY, TUESDAY) and "07:00" <= s["start"] < "12:00" for s in slots)
    assert all(s["start_at"].endswith("+01:00") and s["team_name"] is None for s in slots)
    chosen = next((s for s in slots if s["day"] == MONDAY), slots[0])

    r = client.post(
        f"/api/referrals/{rid}/book", json={"slot_id": chosen["slot_id"]}, headers=_h(journey, "gp")
    )
    assert r.status_code == 200, r.json
    referral = r.json["referral"]
    assert referral["state"] == "booked" and referral["visit"]["day"] == chosen["day"]
    visit_id = referral["visit"]["id"]
    visit = store.get_visit(visit_id)
    assert visit["patient_id"] is not None and visit["pseudonym"] != "Lefèvre"
    # A booking is a promise: the day's planning may move it within its window, never drop it.
    assert visit["mandatory"] and visit["priority"] >= 2
    if chosen["day"] == MONDAY:  # a published round: the visit is in it, at the slot's place
        plan = store.published_plan(MONDAY, structure_id=1)
        stops = [s["visit_id"] for route in plan["routes"] for s in route["stops"]]
        assert visit_id in stops
    assert "réservée" in inbox.body() and inbox.messages[-1][0] == ["gp@cabinet.example.fr"]
    assert "Lefèvre" not in inbox.body() and "Odette" not in inbox.body()

    # A slot the round cannot take (before the team's shift) is refused: choose another.
    r = client.post("/api/referrals", json=body, headers=_h(journey, "gp"))
    other = r.json["referral"]["id"]
    r = client.post(
        f"/api/referrals/{other}/book",
        json={"slot_id": f"{MONDAY}.{journey['team']['id']}.{3 * H}"},
        headers={**_h(journey, "gp"), "Accept-Language": "en"},
    )
    assert r.status_code == 409 and r.json["code"] == "slot_taken", r.json
    assert "choose another slot" in r.json["error"]
    # The second request is for the same patient: matched, not admitted twice.
    fresh = client.get(f"/api/referrals/{other}/slots", headers=_h(journey, "coordinator")).json
    assert fresh["slots"] and fresh["slots"][0]["team_name"] == "Équipe Nord"
    r = client.post(
        f"/api/referrals/{other}/accept",
        json={"slot_id": fresh["slots"][0]["slot_id"]},
        headers=_h(journey, "coordinator"),
    )
    assert r.status_code == 200, r.json
    assert r.json["referral"]["patient_id"] == visit["patient_id"]

    # Times proposed by the coordinator: the referrer sees those the round can still take.
    third = client.post("/api/referrals", json=body, headers=_h(journey, "gp")).json["referral"]
    offered = client.get(
        f"/api/referrals/{third['id']}/slots", headers=_h(journey, "coordinator")
    ).json["slots"]
    r = client.post(
        f"/api/referrals/{third['id']}/propose",
        json={"slot_ids": [s["slot_id"] for s in offered[:2]], "message": None},
        headers=_h(journey, "coordinator"),
    )
    assert r.status_code == 200 and r.json["referral"]["state"] == "proposed", r.json
    seen = client.get(f"/api/referrals/{third['id']}/slots", headers=_h(journey, "gp")).json
    assert [s["slot_id"] for s in seen["slots"]] == [s["slot_id"] for s in offered[:2]]

    # The visit done: the referrer is told (once), on the request's history too.
    sent = len(inbox.messages)
    for kind in ("check_in", "check_out"):
        r = client.post(
            f"/api/visits/{visit_id}/events",
            json={"kind": kind, "client_id": f"t-{kind}", "device_time_s": dt.datetime(
                2027, 1, 4, 9, tzinfo=dt.UTC).timestamp()},
            headers=_h(journey, "coordinator"),
        )  # fmt: skip
        assert r.status_code in (200, 201), r.json
    assert store.get_visit(visit_id)["status"] == "done"
    mine = client.get(f"/api/referrals/{rid}", headers=_h(journey, "gp")).json["referral"]
    assert mine["visit"]["status"] == "done"
    assert [e["kind"] for e in mine["events"]][-1] == "visit_done"
    done = [m for to, m in inbox.messages[sent:] if to == ["gp@cabinet.example.fr"]]
    assert len(done) == 1 and "faite" in done[0].get_payload(decode=True).decode()


def test_a_request_without_its_precision_gets_the_geocoder_s_at_its_point(journey):
    """The form sends the address as typed and the chosen match's point: without the match's
    precision, the server finds it again (a point moved by hand keeps no precision)."""
    client = journey["app"].test_client()
    if "gp2" not in journey["tokens"]:
        r = client.post(
            "/api/referrers",
            json={"email": "gp2@cabinet.example.fr", "display_name": "Dr Pieri",
                  "profession": "gp"},
            headers=_h(journey, "coordinator"),
        )  # fmt: skip
        assert r.status_code == 201, r.json
        journey["tokens"]["gp2"] = journey["store"].create_api_token(r.json["referrer"]["id"])
    typed = "18 rue de la Gare, Dammarie-les-Lys"
    match = client.get(f"/api/referrals/geocode?q={typed}", headers=_h(journey, "gp2")).json[
        "matches"
    ][0]
    assert match["label"].startswith("18 ") and match["commune"] == "Dammarie-les-Lys"
    body = {
        "patient": {"family_name": "Pieri", "given_name": "Jean", "birth_date": "1937-02-03"},
        "address": typed, "lon": match["lon"], "lat": match["lat"], "reason": "Toilette",
        "act": "other", "duration_min": 30, "urgency": "soon", "period_from": MONDAY,
        "period_to": TUESDAY,
    }  # fmt: skip
    r = client.post("/api/referrals", json=body, headers=_h(journey, "gp2"))
    assert r.status_code == 201, r.json
    got = r.json["referral"]
    assert (got["address"], got["address_precision"], got["commune"]) == (
        typed,
        match["precision"],
        "Dammarie-les-Lys",
    )
    moved = client.post(
        "/api/referrals",
        json={**body, "lon": match["lon"] + 0.01},
        headers=_h(journey, "gp2"),
    ).json["referral"]
    assert moved["address_precision"] is None and moved["commune"] is None
