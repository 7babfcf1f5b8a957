"""Referrers' requests through the REST API (issue 24): invitation by e-mail, submit, slots,
book, accept / propose / decline / cancel, attachments encrypted at rest, isolation of
referrers and structures, audit, e-mails received by a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import datetime as dt
import io
import os
from types import SimpleNamespace

import pytest
from api_world import DAY, PASSWORD, make_world
from mail_support import Inbox

from dispatch.referrals.slots import SlotTaken
from dispatch.web.api_referrals import get_referrals

NEXT = (dt.date.fromisoformat(DAY) + dt.timedelta(days=1)).isoformat()
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n" + b"Dupont ordonnance " * 40
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


class FakeFinder:
    """Two slots a day (09:00 and 14:00) on one team, within the window asked; ``book`` adds
    the visit (the real finder's contract: dispatch/referrals/slots.py)."""

    def __init__(self, store, team_id: int) -> None:
        self.store, self.team_id, self.taken = store, team_id, set()

    def propose(self, *, structure_id, lonlat, duration_s, skills=(), from_day, days=7,
                window_s=None, n=5, urgent=False):  # fmt: skip
        out = []
        for d in range(days):
            day = (dt.date.fromisoformat(from_day) + dt.timedelta(days=d)).isoformat()
            for start in (9 * 3600, 14 * 3600):
                if window_s and not window_s[0] <= start <= window_s[1]:
                    continue
                slot_id = f"{day}.{self.team_id}.{start}"
                if slot_id in self.taken:
                    continue
                out.append(SimpleNamespace(
                    slot_id=slot_id, day=day, team_id=self.team_id, position=0, start_s=start,
                    latest_start_s=start + 1800, end_s=start + duration_s, extra_travel_s=300,
                ))  # fmt: skip
        return out[:n]

    def book(self, *, structure_id, slot_id, visit_fields, by, window_s=None, locale=None,
             latest_start_s=None):  # fmt: skip
        if slot_id in self.taken:
            raise SlotTaken("this slot is no longer free: choose another slot")
        day, team_id, start = slot_id.split(".")
        self.taken.add(slot_id)
        fields = {k: v for k, v in visit_fields.items() if k != "patient_id"}
        visit = self.store.add_visit(
            {**fields, "day": day, "team_id": int(team_id),
             "windows": [[int(start), int(start) + 1800]]},
            structure_id=structure_id,
        )  # fmt: skip
        self.store.engine.write(
            lambda c: c.execute(
                "UPDATE visits SET patient_id = ? WHERE id = ?",
                (visit_fields["patient_id"], visit["id"]),
            )
        )
        return visit["id"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    inbox = Inbox()
    w = make_world(
        tmp_path_factory.mktemp("referrals"),
        smtp_host="127.0.0.1",
        smtp_port=inbox.port,
        smtp_starttls=False,
        smtp_from="dispatch@example.fr",
        public_url="https://soins.example.fr",
    )
    store = w.store
    w.inbox = inbox
    other = store.add_structure({"name": "HAD Sud", "kind": "had"})
    w.ids["other_structure"] = other["id"]
    store.update_user(w.ids["coordinator"], email="coord@example.fr")
    coord2 = store.add_user(
        "coord2", role="coordinator", structure_ids=[other["id"]], email="coord2@example.fr"
    )
    w.tokens["coord2"] = store.create_api_token(coord2["id"])
    w.client = w.app.test_client()
    w.finder = FakeFinder(store, w.ids["team_a"])
    service = get_referrals(w.app)
    service._finder = w.finder
    yield w
    inbox.stop()


def _call(world, method, path, who, **kw):
    headers = kw.pop("headers", {})
    return getattr(world.client, method)(path, headers={**world.headers(who), **headers}, **kw)


def _invite(world, email, name, who="coordinator", **extra):
    r = _call(world, "post", "/api/referrers", who,
              json={"email": email, "display_name": name, "profession": "gp", **extra})  # fmt: skip
    assert r.status_code == 201, r.json
    return r.json


def _referrer(world, key, email, who="coordinator"):
    """An invited referrer with an API token (``world.tokens[key]``)."""
    if key not in world.tokens:
        body = _invite(world, email, f"Dr {key}", who=who)
        user_id = body["referrer"]["id"]
        world.ids[key] = user_id
        world.tokens[key] = world.store.create_api_token(user_id)
    return world.ids[key]


def _request(**changes):
    body = {
        "patient": {"family_name": "Dupont", "given_name": "Jeanne", "birth_date": "1941-03-02",
                    "gender": "female", "phone": "0600000000"},
        "address": "12 rue de la Gare, Bastia",
        "lon": 9.44,
        "lat": 42.69,
        "access_notes": "code 1234",
        "reason": "Pansement post-opératoire",
        "act": "other",
        "care_kind": "nursing",
        "duration_min": 30,
        "urgency": "soon",
        "period_from": DAY,
        "period_to": NEXT,
        "time_of_day": "any",
        "recurrence": None,
        "prescription": {"prescriber": "Dr House", "date": DAY, "details": "Pansement 1/j"},
    }  # fmt: skip
    body.update(changes)
    return body


def _submit(world, who="ref1", **changes):
    r = _call(world, "post", "/api/referrals", who, json=_request(**changes))
    assert r.status_code == 201, r.json
    return r.json["referral"]


def _subject(mail) -> str:
    from email.header import decode_header, make_header

    return str(make_header(decode_header(mail["Subject"])))


def _mails_to(world, address):
    return [m for to, m in world.inbox.messages if address in to]


def test_invitation_email_activates_a_referrer_account(world):
    before = len(world.inbox.messages)
    body = _invite(world, "dr.martin@example.fr", "Dr Martin")
    assert body["mail"] == "sent" and body["activation_url"] is None
    assert body["referrer"]["profession"] == "gp"
    assert body["referrer"]["structure_ids"] == [1]
    assert len(world.inbox.messages) == before + 1
    # The e-mail says what to log in with (the address when it fits a login name).
    assert "Votre identifiant de connexion : dr.martin@example.fr" in world.inbox.body()
    token = world.inbox.link_token()
    r = world.client.post(
        "/api/account-links/complete", json={"token": token, "password": PASSWORD}
    )
    assert r.status_code == 200, r.json
    login = world.app.test_client()
    r = login.post("/api/session", json={"username": "dr.martin@example.fr", "password": PASSWORD})
    assert r.status_code == 200, r.json
    assert login.get("/api/session").json["user"]["role"] == "referrer"
    assert login.get("/api/teams").status_code == 403
    # Another structure inviting the same address adds itself: no second account.
    again = _invite(world, "dr.martin@example.fr", "Dr Martin", who="coord2")
    assert again["referrer"]["id"] == body["referrer"]["id"] and again["mail"] == "sent"
    assert "HAD Sud" in world.inbox.body() and "/referrer/" in world.inbox.body()
    assert sorted(again["referrer"]["structure_ids"]) == [1, world.ids["other_structure"]]
    listed = _call(world, "get", "/api/referrers", "coordinator").json["items"]
    assert [x["structure_ids"] for x in listed if x["id"] == body["referrer"]["id"]] == [[1]]
    # A staff account's address is not a referrer's.
    r = _call(world, "post", "/api/referrers", "coordinator",
              json={"email": "coord2@example.fr", "display_name": "X", "profession": "gp"})  # fmt: skip
    assert r.status_code == 409


def test_referrer_is_refused_everywhere_but_its_own_routes(world):
    _referrer(world, "ref1", "ref1@example.fr")
    doc = world.client.get("/api/openapi.json").json
    mine = ("/api/referrals",)
    checked = 0
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if op.get("security") == [] or path.startswith(mine):
                continue
            if path == "/api/session":
                continue
            url = path
            for p in op.get("parameters", []):
                if p["in"] == "path":
                    url = url.replace("{" + p["name"] + "}", "1")
            r = _call(world, method, url, "ref1", json={})
            assert r.status_code == 403, (method, path, r.status_code)
            checked += 1
    assert checked > 80
    assert _call(world, "get", "/api/session", "ref1").status_code == 200


def test_referrer_cannot_join_a_live_socket(world):
    _referrer(world, "ref1", "ref1@example.fr")
    socketio = world.app.extensions["socketio"]
    client = socketio.test_client(world.app, auth={"token": world.tokens["ref1"]})
    assert not client.is_connected()
    coordinator = socketio.test_client(world.app, auth={"token": world.tokens["coordinator"]})
    assert coordinator.is_connected()
    coordinator.disconnect()


def test_submit_slots_book_puts_the_visit_in_the_round_and_mails_both_sides(world):
    _referrer(world, "ref1", "ref1@example.fr")
    before = len(world.inbox.messages)
    referral = _submit(world)
    assert referral["state"] == "submitted" and referral["kind"] == "visit"
    assert referral["patient_id"] is None and referral["visit"] is None
    assert referral["events"][0]["kind"] == "submitted"
    [mail] = _mails_to(world, "coord@example.fr")[-1:]
    assert len(world.inbox.messages) == before + 1
    text = mail.get_payload(decode=True).decode()
    assert f"n° {referral['id']}" in _subject(mail)
    assert f"https://soins.example.fr/requests/#request-{referral['id']}" in text
    assert "Dupont" not in text and "Jeanne" not in text and "Dupont" not in _subject(mail)

    r = _call(world, "get", f"/api/referrals/{referral['id']}/slots?n=3", "ref1")
    assert r.status_code == 200, r.json
    slots = r.json["slots"]
    assert len(slots) == 3 and r.json["reason"] is None
    assert slots[0]["day"] == DAY and slots[0]["start"] == "09:00"
    assert slots[0]["start_at"] == f"{DAY}T09:00:00+01:00"
    assert slots[0]["team_name"] is None  # a referrer does not see the teams
    coord = _call(world, "get", f"/api/referrals/{referral['id']}/slots", "coordinator").json
    assert coord["slots"][0]["team_name"] == "Équipe A"

    r = _call(world, "post", f"/api/referrals/{referral['id']}/book", "ref1",
              json={"slot_id": slots[1]["slot_id"]})  # fmt: skip
    assert r.status_code == 200, r.json
    booked = r.json["referral"]
    assert booked["state"] == "booked"
    assert booked["visit"]["start"] == slots[1]["start"]
    visit = world.store.get_visit(booked["visit"]["id"])
    assert visit["day"] == slots[1]["day"] and visit["team_id"] == world.ids["team_a"]
    assert visit["duration_s"] == 1800
    coordinator_view = _call(world, "get", f"/api/referrals/{referral['id']}", "coordinator").json
    patient_id = coordinator_view["referral"]["patient_id"]
    patient = world.store.get_patient(patient_id, structures=None, actor="test")
    assert patient["family_name"] == "Dupont" and patient["structure_id"] == 1
    assert visit["pseudonym"] == patient["pseudonym"]
    mail = _mails_to(world, "ref1@example.fr")[-1]
    assert "réservée" in mail.get_payload(decode=True).decode()
    assert "Dupont" not in mail.get_payload(decode=True).decode()
    # Booked: the same slot is refused to the next request (slot_taken), not placed twice.
    second = _submit(world)
    r = _call(world, "post", f"/api/referrals/{second['id']}/book", "ref1",
              json={"slot_id": slots[1]["slot_id"]}, headers={"Accept-Language": "en"})  # fmt: skip
    assert r.status_code == 409 and r.json["code"] == "slot_taken"
    assert "choose another slot" in r.json["error"]
    # The same identity (other case and accents) is matched, not admitted twice.
    third = _submit(world, patient={"family_name": "DUPONT", "given_name": "jeanne",
                                    "birth_date": "1941-03-02"})  # fmt: skip
    free = _call(world, "get", f"/api/referrals/{third['id']}/slots", "coordinator").json["slots"]
    r = _call(world, "post", f"/api/referrals/{third['id']}/accept", "coordinator",
              json={"slot_id": free[0]["slot_id"]})  # fmt: skip
    assert r.status_code == 200, r.json
    assert r.json["referral"]["state"] == "accepted"
    assert r.json["referral"]["patient_id"] == patient_id
    # Audit: reads and steps.
    actions = {a["action"] for a in world.store.list_audit(target=f"referral:{referral['id']}")}
    assert {"referral.submit", "referral.read", "referral.book"} <= actions


def test_propose_then_book_one_of_the_proposed_times(world):
    _referrer(world, "ref1", "ref1@example.fr")
    later = (dt.date.fromisoformat(DAY) + dt.timedelta(days=3)).isoformat()
    referral = _submit(world, time_of_day="afternoon", period_to=later)
    rid = referral["id"]
    slots = _call(world, "get", f"/api/referrals/{rid}/slots", "coordinator").json["slots"]
    assert len(slots) >= 2 and all(s["start"] == "14:00" for s in slots)
    r = _call(world, "post", f"/api/referrals/{rid}/propose", "coordinator",
              json={"slot_ids": [slots[-1]["slot_id"]], "message": "Plutôt mardi"})  # fmt: skip
    assert r.status_code == 200, r.json
    assert r.json["referral"]["state"] == "proposed"
    assert r.json["referral"]["message"] == "Plutôt mardi"
    mine = _call(world, "get", f"/api/referrals/{rid}/slots", "ref1").json["slots"]
    assert [s["slot_id"] for s in mine] == [slots[-1]["slot_id"]]
    # A slot that was not proposed is refused.
    r = _call(
        world, "post", f"/api/referrals/{rid}/book", "ref1", json={"slot_id": slots[0]["slot_id"]}
    )
    assert r.status_code == 409 and r.json["code"] == "slot_taken"
    r = _call(
        world, "post", f"/api/referrals/{rid}/book", "ref1", json={"slot_id": mine[0]["slot_id"]}
    )
    assert r.status_code == 200, r.json
    assert r.json["referral"]["state"] == "booked"
    mail = _mails_to(world, "ref1@example.fr")[-1]
    assert "Plutôt" not in mail.get_payload(decode=True).decode()  # free text stays on screen


def test_decline_and_cancel(world):
    _referrer(world, "ref1", "ref1@example.fr")
    rid = _submit(world)["id"]
    r = _call(
        world,
        "post",
        f"/api/referrals/{rid}/decline",
        "coordinator",
        json={"reason": "Hors secteur"},
    )
    assert r.status_code == 200 and r.json["referral"]["state"] == "declined"
    assert r.json["referral"]["decline_reason"] == "Hors secteur"
    assert "Hors secteur" in r.json["referral"]["events"][-1]["text_fr"]
    r = _call(world, "post", f"/api/referrals/{rid}/cancel", "ref1", json={})
    assert r.status_code == 409
    # Cancelling a booked request cancels its visit and tells the coordinators.
    rid = _submit(world)["id"]
    slot = _call(world, "get", f"/api/referrals/{rid}/slots", "ref1").json["slots"][0]
    booked = _call(
        world, "post", f"/api/referrals/{rid}/book", "ref1", json={"slot_id": slot["slot_id"]}
    ).json
    visit_id = booked["referral"]["visit"]["id"]
    r = _call(world, "post", f"/api/referrals/{rid}/cancel", "ref1", json={"reason": "Hospitalisé"})
    assert r.status_code == 200 and r.json["referral"]["state"] == "cancelled"
    assert world.store.get_visit(visit_id)["status"] == "cancelled"
    mail = _mails_to(world, "coord@example.fr")[-1]
    assert (
        "annulée" in _subject(mail) and "Hospitalisé" not in mail.get_payload(decode=True).decode()
    )


def test_a_request_with_a_recurrence_becomes_a_care_plan(world):
    _referrer(world, "ref1", "ref1@example.fr")
    until = (dt.date.fromisoformat(DAY) + dt.timedelta(days=13)).isoformat()
    referral = _submit(
        world,
        patient={"family_name": "Santoni", "given_name": "Paul", "birth_date": "1950-01-01"},
        recurrence={"times_per_day": 2, "weekdays": [1, 3, 5], "until": until},
        time_of_day="morning",
    )
    assert referral["kind"] == "care_plan"
    r = _call(world, "post", f"/api/referrals/{referral['id']}/accept", "coordinator", json={})
    assert r.status_code == 200, r.json
    accepted = r.json["referral"]
    assert accepted["state"] == "accepted" and accepted["care_plan_id"]
    plans = world.store.list_care_plans(accepted["patient_id"], structures=None)
    [plan] = [p for p in plans if p["id"] == accepted["care_plan_id"]]
    assert plan["rrule"] == "FREQ=WEEKLY;BYDAY=MO,WE,FR" and plan["windows"]
    visits = world.store.patient_visits(
        accepted["patient_id"], structures=None, from_day=DAY, days=14
    )
    assert len(visits) >= 6  # 2 a day on Mon, Wed, Fri over the horizon


def test_referrers_and_structures_are_isolated(world):
    _referrer(world, "ref1", "ref1@example.fr")
    _referrer(world, "ref2", "ref2@example.fr")
    rid = _submit(world)["id"]
    for who in ("ref2", "coord2"):
        assert _call(world, "get", f"/api/referrals/{rid}", who).status_code == 404
        assert _call(world, "get", f"/api/referrals/{rid}/slots", who).status_code == 404
        assert _call(world, "post", f"/api/referrals/{rid}/cancel", who, json={}).status_code == 404
    listed = _call(world, "get", "/api/referrals", "ref2").json
    assert listed["total"] == 0 and listed["items"] == []
    assert rid not in [
        x["id"] for x in _call(world, "get", "/api/referrals", "coord2").json["items"]
    ]
    assert rid in [
        x["id"] for x in _call(world, "get", "/api/referrals?state=submitted", "ref1").json["items"]
    ]
    # A referrer addresses only the structures that invited them.
    r = _call(
        world,
        "post",
        "/api/referrals",
        "ref2",
        json=_request(structure_id=world.ids["other_structure"]),
    )
    assert r.status_code == 403
    # Admins manage accounts, not requests; staff roles are refused.
    for who in ("admin", "planner", "member_a"):
        assert _call(world, "get", f"/api/referrals/{rid}", who).status_code == 403
    for path in ("/api/teams", "/api/patients", "/api/visits", "/api/plans",
                 "/api/live/snapshot", "/api/structures"):  # fmt: skip
        assert _call(world, "get", path, "ref1").status_code == 403, path


def test_attachments_are_checked_and_encrypted_at_rest(world):
    _referrer(world, "ref1", "ref1@example.fr")
    _referrer(world, "ref2", "ref2@example.fr")
    rid = _submit(world)["id"]

    def upload(content, name="ordonnance.pdf", who="ref1"):
        return _call(world, "post", f"/api/referrals/{rid}/attachments", who,
                     data={"file": (io.BytesIO(content), name)},
                     content_type="multipart/form-data")  # fmt: skip

    r = upload(PDF, name="../../Dupont Jeanne.txt")
    assert r.status_code == 201, r.json
    attachment = r.json["attachment"]
    assert attachment["media_type"] == "application/pdf"
    assert attachment["filename"] == "Dupont Jeanne.pdf" and attachment["size_bytes"] == len(PDF)
    folder = world.app.extensions["dispatch.settings"].var_dir / "attachments"
    [stored] = [p for p in folder.iterdir()]
    raw = stored.read_bytes()
    assert raw != PDF and b"%PDF" not in raw and b"Dupont" not in raw
    assert oct(stored.stat().st_mode & 0o777) == "0o600"
    assert (
        oct(
            os.stat(world.app.extensions["dispatch.settings"].var_dir / "attachment_key").st_mode
            & 0o777
        )
        == "0o600"
    )
    r = _call(world, "get", f"/api/referrals/{rid}/attachments/{attachment['id']}", "coordinator")
    assert r.status_code == 200 and r.data == PDF and r.mimetype == "application/pdf"
    assert (
        _call(
            world, "get", f"/api/referrals/{rid}/attachments/{attachment['id']}", "ref2"
        ).status_code
        == 404
    )
    assert (
        _call(
            world, "get", f"/api/referrals/{rid}/attachments/{attachment['id']}", "coord2"
        ).status_code
        == 404
    )
    assert upload(PNG, name="photo.jpg").json["attachment"]["media_type"] == "image/png"
    r = upload(b"Dupont Jeanne, 1941", name="note.pdf")
    assert r.status_code == 415
    limit = world.app.extensions["dispatch.settings"].referral_attachment_max_bytes
    r = upload(b"%PDF-" + b"0" * limit, name="big.pdf")
    assert r.status_code == 413
    assert upload(PDF, who="ref2").status_code == 404
    shown = _call(world, "get", f"/api/referrals/{rid}", "ref1").json["referral"]
    assert len(shown["attachments"]) == 2
    actions = [a["action"] for a in world.store.list_audit(target=f"referral:{rid}")]
    assert "referral.attachment_read" in actions


def test_bad_requests_say_what_to_fix(world):
    _referrer(world, "ref1", "ref1@example.fr")
    past = (dt.date.fromisoformat(DAY) - dt.timedelta(days=1)).isoformat()
    far = (dt.date.fromisoformat(DAY) + dt.timedelta(days=40)).isoformat()
    for changes, words in (
        ({"period_from": past}, "is over"),
        ({"period_to": far}, "28 days"),
        ({"duration_min": 2}, "duration_min"),
        ({"urgency": "asap"}, "urgency"),
        ({"care_kind": "x"}, "care_kind"),
        ({"extra": 1}, "unknown field"),
    ):
        r = _call(world, "post", "/api/referrals", "ref1", json=_request(**changes))
        assert r.status_code == 400 and words in r.json["error"], (changes, r.json)
    rid = _submit(world)["id"]
    r = _call(world, "post", f"/api/referrals/{rid}/accept", "coordinator", json={})
    assert r.status_code == 400 and "needs a slot" in r.json["error"]
    r = _call(world, "post", f"/api/referrals/{rid}/decline", "coordinator", json={"reason": " "})
    assert r.status_code == 400
    r = _call(world, "post", f"/api/referrals/{rid}/book", "ref1", json={"slot_id": "nope"})
    assert r.status_code == 400
    r = _call(world, "get", "/api/referrals/999999", "ref1", headers={"Accept-Language": "fr"})
    assert r.status_code == 404 and r.json["error"] == "la demande 999999 n'existe pas"
    r = _call(world, "post", "/api/referrals", "ref1", json=_request(period_from="2020-01-01"),
              headers={"Accept-Language": "fr"})  # fmt: skip
    assert "est passé" in r.json["error"]
    options = _call(world, "get", "/api/referrals/options", "ref1").json
    assert options["structures"][0]["id"] == 1 and options["max_attachment_bytes"] > 0


def test_finished_requests_lose_the_patients_identity_after_the_retention(world):
    _referrer(world, "ref1", "ref1@example.fr")
    rid = _submit(world, patient={"family_name": "Oubliée", "given_name": "Rose",
                                  "birth_date": "1930-01-01"})["id"]  # fmt: skip
    _call(world, "post", f"/api/referrals/{rid}/attachments", "ref1",
          data={"file": (io.BytesIO(PDF), "o.pdf")}, content_type="multipart/form-data")  # fmt: skip
    live = _submit(world)["id"]
    _call(world, "post", f"/api/referrals/{rid}/decline", "coordinator", json={"reason": "Rose"})
    service = get_referrals(world.app)
    far = dt.datetime(2100, 1, 1, tzinfo=dt.UTC).timestamp()
    done = service.purge(retention_days=365, now=far)
    assert done["requests"] >= 1 and done["attachments"] >= 1
    row = world.store.get_referral(rid)
    assert row["patient"]["family_name"] == "" and row["address"] == "" and row["reason"] == ""
    assert row["decline_reason"] is None and world.store.list_referral_attachments(rid) == []
    assert "Rose" not in str(world.store.referral_events(rid))
    assert world.store.get_referral(live)["patient"]["family_name"] == "Dupont"  # still open
    assert service.purge(retention_days=365, now=far)["requests"] == 0
    shown = _call(world, "get", f"/api/referrals/{rid}", "ref1")
    assert shown.status_code == 200 and shown.json["referral"]["state"] == "declined"


def test_two_bookings_at_once_place_one_visit(world):
    import threading

    _referrer(world, "ref1", "ref1@example.fr")
    later = (dt.date.fromisoformat(DAY) + dt.timedelta(days=9)).isoformat()
    rid = _submit(world, period_from=later, period_to=later)["id"]
    slots = _call(world, "get", f"/api/referrals/{rid}/slots", "ref1").json["slots"]
    assert len(slots) == 2
    answers = []

    def book(slot):
        client = world.app.test_client()
        answers.append(client.post(f"/api/referrals/{rid}/book", json={"slot_id": slot["slot_id"]},
                                   headers=world.headers("ref1")).status_code)  # fmt: skip

    threads = [threading.Thread(target=book, args=(s,)) for s in slots[:2]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [200, 409]
    booked = world.store.get_referral(rid)
    assert booked["state"] == "booked" and booked["visit_id"]
    placed = [
        v["id"]
        for v in world.store.list_visits(day=later, structures=[1])
        if v["patient_id"] == booked["patient_id"]
    ]
    assert placed == [booked["visit_id"]]  # the second booking placed nothing


def test_a_failed_email_never_fails_the_step_and_the_history_says_so(world):
    import socket

    from dispatch.mail import Mailer

    _referrer(world, "ref1", "ref1@example.fr")
    service = get_referrals(world.app)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    settings = world.app.extensions["dispatch.settings"].replace(smtp_port=closed)
    working, service.mailer = service.mailer, Mailer(settings)
    try:
        referral = _submit(world)
    finally:
        service.mailer = working
    assert referral["state"] == "submitted"
    assert referral["events"][0]["text_fr"].endswith("(e-mail non envoyé)")
    assert referral["events"][0]["text_en"].endswith("(e-mail not sent)")


def test_a_missed_visit_is_told_to_the_referrer_once(world):
    _referrer(world, "ref1", "ref1@example.fr")
    later = (dt.date.fromisoformat(DAY) + dt.timedelta(days=12)).isoformat()
    rid = _submit(world, period_from=later, period_to=later)["id"]
    slot = _call(world, "get", f"/api/referrals/{rid}/slots", "ref1").json["slots"][0]
    booked = _call(world, "post", f"/api/referrals/{rid}/book", "ref1",
                   json={"slot_id": slot["slot_id"]}).json["referral"]  # fmt: skip
    sent = len(world.inbox.messages)
    r = _call(world, "post", f"/api/visits/{booked['visit']['id']}/events", "coordinator",
              json={"kind": "missed", "reason": "absent", "client_id": "m1"})  # fmt: skip
    assert r.status_code in (200, 201), r.json
    told = [m for to, m in world.inbox.messages[sent:] if to == ["ref1@example.fr"]]
    assert len(told) == 1 and "non faite" in _subject(told[0])
    shown = _call(world, "get", f"/api/referrals/{rid}", "ref1").json["referral"]
    assert shown["visit"]["status"] == "missed"
    assert [e["kind"] for e in shown["events"]].count("visit_missed") == 1
    assert len(world.inbox.messages) == sent + 1  # the read did not tell it again


def test_without_smtp_the_coordinator_gets_the_activation_link_to_pass_on(world):
    from dispatch.mail import Mailer

    service = get_referrals(world.app)
    settings = world.app.extensions["dispatch.settings"].replace(smtp_host="")
    working, service.mailer = service.mailer, Mailer(settings)
    try:
        body = _invite(world, "dr.sans.mail@example.fr", "Dr Sans Mail")
    finally:
        service.mailer = working
    assert body["mail"] == "not_configured"
    assert body["activation_url"].startswith("https://soins.example.fr/account/#token=")
    token = body["activation_url"].split("#token=")[1]
    assert world.client.post("/api/account-links/check", json={"token": token}).status_code == 200


def test_options_list_the_acts_each_structure_can_do(world):
    r = _call(world, "get", "/api/referrals/options", "coordinator")
    assert r.status_code == 200, r.json
    [mine] = [s for s in r.json["structures"] if s["id"] == 1]
    # Équipe A has the insulin skill; nobody has wound care: a dressing is never offered.
    assert "insulin" in mine["acts"] and "dressing" not in mine["acts"]
    assert {"medication", "other"} <= set(mine["acts"])
    [had] = _call(world, "get", "/api/referrals/options", "coord2").json["structures"]
    assert had["acts"] == ["medication", "other"]  # no staff: the acts needing no skill


def test_the_address_s_precision_and_commune_are_kept_and_given_to_the_patient(world):
    _referrer(world, "ref1", "ref1@example.fr")
    referral = _submit(
        world,
        address="12 avenue Sébastien Bonaparte",
        address_precision="street",
        commune="Bastia",
        patient={"family_name": "Santoni", "given_name": "Lucie", "birth_date": "1950-01-02"},
    )
    assert referral["address"] == "12 avenue Sébastien Bonaparte"
    assert (referral["address_precision"], referral["commune"]) == ("street", "Bastia")
    bad = _call(world, "post", "/api/referrals", "ref1",
                json=_request(address_precision="roof"))  # fmt: skip
    assert bad.status_code == 400 and "address_precision" in bad.json["error"]
    slot = _call(world, "get", f"/api/referrals/{referral['id']}/slots", "ref1").json["slots"][0]
    r = _call(world, "post", f"/api/referrals/{referral['id']}/book", "ref1",
              json={"slot_id": slot["slot_id"]})  # fmt: skip
    assert r.status_code == 200, r.json
    rid = referral["id"]
    patient_id = _call(world, "get", f"/api/referrals/{rid}", "coordinator").json["referral"][
        "patient_id"
    ]
    patient = world.store.get_patient(patient_id, structures=None, actor="test")
    assert patient["address"] == "12 avenue Sébastien Bonaparte"
    assert (patient["commune"], patient["geocode_precision"]) == ("Bastia", "street")
    # A pin placed by hand (no precision sent, no territory to geocode it): unknown.
    plain = _submit(world, patient={"family_name": "Moretti", "given_name": "Ange",
                                    "birth_date": "1944-04-04"})  # fmt: skip
    assert plain["address_precision"] is None and plain["commune"] is None


def test_a_booked_visit_shows_its_arrival_window_and_its_team_to_coordinators(world):
    _referrer(world, "ref1", "ref1@example.fr")
    later = [(dt.date.fromisoformat(DAY) + dt.timedelta(days=k)).isoformat() for k in (5, 6)]
    rid = _submit(world, patient={"family_name": "Casta", "given_name": "Rose",
                                  "birth_date": "1938-08-08"},
                  period_from=later[0], period_to=later[1])["id"]  # fmt: skip
    slot = _call(world, "get", f"/api/referrals/{rid}/slots", "ref1").json["slots"][-1]
    before = len(_mails_to(world, "coord@example.fr"))
    r = _call(world, "post", f"/api/referrals/{rid}/book", "ref1",
              json={"slot_id": slot["slot_id"]})  # fmt: skip
    assert r.status_code == 200, r.json
    visit = r.json["referral"]["visit"]
    assert (visit["arrival_from"], visit["arrival_to"]) == (slot["start"], slot["latest_start"])
    assert visit["team_name"] is None  # a referrer does not see the teams
    seen = _call(world, "get", f"/api/referrals/{rid}", "coordinator").json["referral"]["visit"]
    assert seen["team_name"] == "Équipe A"
    assert (seen["arrival_from"], seen["arrival_to"]) == (slot["start"], slot["latest_start"])
    # The referrer's booking is told to the coordinators too, as a window.
    mails = _mails_to(world, "coord@example.fr")
    assert len(mails) == before + 1 and "réservée" in _subject(mails[-1])
    text = mails[-1].get_payload(decode=True).decode()
    assert f"passage entre {slot['start']} et {slot['latest_start']}" in text
    assert f"https://soins.example.fr/requests/#request-{rid}" in text and "Casta" not in text
    mine = _mails_to(world, "ref1@example.fr")[-1].get_payload(decode=True).decode()
    assert f"passage entre {slot['start']} et {slot['latest_start']}" in mine


def test_e_mails_never_say_none(world):
    _referrer(world, "ref1", "ref1@example.fr")
    rid = _submit(world)["id"]
    r = _call(world, "post", f"/api/referrals/{rid}/decline", "coordinator",
              json={"reason": "Patiente hors secteur"})  # fmt: skip
    assert r.status_code == 200, r.json
    mail = _mails_to(world, "ref1@example.fr")[-1]
    text = mail.get_payload(decode=True).decode()
    assert "refusée" in _subject(mail) and "None" not in text and "hors secteur" not in text
    assert "motif dans l'espace prescripteur" in text and "reason in the referrer's space" in text
    # On the screen the history gives the reason itself.
    assert r.json["referral"]["events"][-1]["text_fr"] == "Demande refusée : Patiente hors secteur"


def test_the_coordinator_s_list_can_put_urgent_open_requests_first(world):
    _referrer(world, "ref1", "ref1@example.fr")
    urgent = _submit(world, urgency="urgent")["id"]
    routine = _submit(world, urgency="routine")["id"]
    soon = _submit(world, urgency="soon")["id"]
    closed = _submit(world, urgency="urgent")["id"]
    _call(world, "post", f"/api/referrals/{closed}/decline", "coordinator", json={"reason": "x"})
    mine = {urgent, routine, soon, closed}

    def order(query):
        r = _call(world, "get", f"/api/referrals?limit=500{query}", "coordinator")
        assert r.status_code == 200, r.json
        return [i["id"] for i in r.json["items"] if i["id"] in mine]

    assert order("") == [closed, soon, routine, urgent]  # newest first
    assert order("&order=urgency") == [urgent, soon, routine, closed]
    r = _call(world, "get", "/api/referrals?order=oldest", "coordinator")
    assert r.status_code == 400 and "order must be one of" in r.json["error"]
