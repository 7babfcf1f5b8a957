"""Calendar feeds (issue 24): a member of staff's private link, the phone's own calendar and a
structure's week, parsed back with `icalendar`; daylight-saving changes; revocation; need to
know (pseudonyms, names of today's visits only with the device token); structure isolation."""

from __future__ import annotations

import datetime as dt

import pytest
from api_world import make_world
from icalendar import Calendar

#: The rounds' clock stands on this day: the feeds look 14 days ahead from it, across the
#: change to summer time of Sunday 2027-03-28 (02:00 CET -> 03:00 CEST).
TODAY = "2027-03-25"
UTC = dt.UTC


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def _staff(world, name: str, structure_id: int = 1) -> dict:
    return world.store.add_staff(
        {
            "name": name,
            "job": "nurse",
            "contract_h_per_week": 35,
            "rotas": [
                {
                    "start_day": "2027-01-04",
                    "weekdays": "MO,TU,WE,TH,FR,SA,SU",
                    "shift": "07:00-15:00",
                }
            ],
        },
        structure_id=structure_id,
    )


def _visit(world, team_id: int, day: str, window: str, **extra) -> int:
    start, end = window.split("-")
    return world.store.add_visits(
        [
            {
                "day": day,
                "pseudonym": extra.pop("pseudonym", f"Patient {day[-2:]}{start[:2]}"),
                "lon": 9.44,
                "lat": 42.69,
                "commune": "Bastia",
                "address": "12 rue Droite",
                "duration_s": 1800,
                "windows": [[start, end]],
                "team_id": team_id,
                "protected": {"name": f"Nom {day}", "phone": "0600000000"},
                **extra,
            }
        ],
        **({"structure_id": extra["structure_id"]} if "structure_id" in extra else {}),
    )[0]["id"]


@pytest.fixture(scope="module")
def cal(tmp_path_factory):
    world = make_world(tmp_path_factory.mktemp("cal"), clock_start=f"{TODAY}T08:30:00+01:00")
    store = world.store
    member = _staff(world, "Lucie Feed")
    team = member["team_id"]
    ids = {
        "staff": member["id"],
        "team": team,
        "today": _visit(world, team, TODAY, "10:00-11:00", pseudonym="Patient TODAY"),
        "before": _visit(world, team, "2027-03-27", "09:00-10:00", pseudonym="Patient SAT"),
        "after": _visit(world, team, "2027-03-28", "09:00-10:00", pseudonym="Patient SUN"),
        "cancelled": _visit(world, team, "2027-03-29", "09:00-10:00", pseudonym="Patient OFF"),
        "far": _visit(world, team, "2027-04-20", "09:00-10:00", pseudonym="Patient FAR"),
    }
    store.update_visit(ids["cancelled"], {"status": "cancelled"})
    # The published round of Sunday starts the visit at 10:15 (summer time: 08:15 UTC).
    store.save_plan(
        "2027-03-28",
        [
            {
                "team_id": team,
                "stops": [
                    {"visit_id": ids["after"], "arrival_s": 36000, "start_s": 36900, "end_s": 38700}
                ],
            }
        ],
        publish=True,
        structure_id=1,
    )
    code = store.create_pairing(team)["code"]
    world.tokens["phone"] = store.pair_device(code, label="phone Lucie")["token"]
    store.write(
        lambda conn: conn.execute(
            "INSERT INTO structures (id, name, kind, demo, created_at_s, updated_at_s)"
            " VALUES (2, 'SSIAD Autre', 'ssiad', 0, 0, 0)"
        )
    )
    ids["other_staff"] = _staff(world, "Autre Structure", structure_id=2)["id"]
    world.ids.update(ids)
    yield world
    store.close()


def _client(world):
    return world.app.test_client()


def _coord(world) -> dict:
    return world.headers("coordinator")


def _new_link(world, staff_id: int) -> str:
    r = _client(world).post(f"/api/staff/{staff_id}/calendar-feed", headers=_coord(world))
    assert r.status_code == 201, r.get_data(as_text=True)
    body = r.get_json()
    assert body["url"].startswith("http") and body["url"].endswith(".ics")
    dt.datetime.fromisoformat(body["created_at"])
    return body["url"].split("/calendar/", 1)[1].removesuffix(".ics")


def _events(body: bytes) -> dict[str, object]:
    cal = Calendar.from_ical(body)
    return {str(e["summary"]): e for e in cal.walk("VEVENT")}


def test_member_feed_is_pseudonymised_with_dst_right(cal):
    token = _new_link(cal, cal.ids["staff"])
    r = _client(cal).get(f"/calendar/{token}.ics")
    assert r.status_code == 200 and r.mimetype == "text/calendar"
    assert r.headers["Cache-Control"].startswith("no-store")
    parsed = Calendar.from_ical(r.data)
    assert [tz["TZID"] for tz in parsed.walk("VTIMEZONE")] == ["Europe/Paris"]
    events = {str(e["uid"]): e for e in parsed.walk("VEVENT")}
    uid = {k: f"visit-{cal.ids[k]}@dispatch" for k in ("today", "before", "after", "cancelled")}
    assert set(uid.values()) <= set(events) and f"visit-{cal.ids['far']}@dispatch" not in events
    # Saturday 09:00 is winter time (UTC+1), Sunday's round at 10:15 summer time (UTC+2).
    before, after = events[uid["before"]], events[uid["after"]]
    assert "TZID=Europe/Paris" in before.to_ical().decode()
    assert before.decoded("dtstart").astimezone(UTC) == _utc("2027-03-27T08:00:00")
    assert after.decoded("dtstart").astimezone(UTC) == _utc("2027-03-28T08:15:00")
    assert after.decoded("dtend").astimezone(UTC) == _utc("2027-03-28T08:45:00")
    assert str(after["status"]) == "CONFIRMED" and str(before["status"]) == "TENTATIVE"
    assert str(events[uid["cancelled"]]["status"]) == "CANCELLED"
    # Pseudonyms and communes only: no name, address or phone, even for today's visit.
    text = r.data.decode()
    assert "Patient TODAY" in text and "Bastia" in text
    for secret in ("Nom 2027", "rue Droite", "0600000000"):
        assert secret not in text
    audit = list(cal.store.list_audit(target=f"staff:{cal.ids['staff']}"))
    assert audit[0]["action"] == "calendar.feed.read"


def test_sequence_goes_up_only_when_the_visit_changes(cal):
    token = _new_link(cal, cal.ids["staff"])
    client = _client(cal)
    uid = f"visit-{cal.ids['before']}@dispatch"

    def event():
        events = {
            str(e["uid"]): e
            for e in Calendar.from_ical(client.get(f"/calendar/{token}.ics").data).walk("VEVENT")
        }
        return int(events[uid]["sequence"]), events[uid].decoded("last-modified")

    first = event()
    assert event() == first
    cal.store.update_visit(cal.ids["before"], {"windows": [["09:30", "10:30"]]})
    moved = event()
    assert moved[0] == first[0] + 1 and moved[1] >= first[1]
    cal.store.update_visit(cal.ids["before"], {"windows": [["09:00", "10:00"]]})


def test_new_link_revokes_the_old_and_revoked_is_404(cal):
    client = _client(cal)
    old = _new_link(cal, cal.ids["staff"])
    new = _new_link(cal, cal.ids["staff"])
    assert client.get(f"/calendar/{old}.ics").status_code == 404
    assert client.get(f"/calendar/{new}.ics").status_code == 200
    state = client.get(f"/api/staff/{cal.ids['staff']}/calendar-feed", headers=_coord(cal))
    assert state.get_json()["active"] is True
    gone = client.delete(f"/api/staff/{cal.ids['staff']}/calendar-feed", headers=_coord(cal))
    assert gone.status_code == 204
    missing = client.get(f"/calendar/{new}.ics")
    assert missing.status_code == 404 and missing.get_json()["code"] == "not_found"
    assert client.get("/calendar/cal_nothing.ics").status_code == 404
    state = client.get(f"/api/staff/{cal.ids['staff']}/calendar-feed", headers=_coord(cal))
    assert state.get_json() == {
        "ok": True,
        "active": False,
        "created_at": None,
        "last_used_at": None,
    }
    # Only the hash is stored.
    rows = cal.store.write(
        lambda c: [r[0] for r in c.execute("SELECT token_hash FROM calendar_feeds")]
    )
    assert new not in rows and old not in rows


def test_another_structures_staff_is_404_and_roles(cal):
    client = _client(cal)
    other = cal.ids["other_staff"]
    for method in ("post", "get", "delete"):
        r = getattr(client, method)(f"/api/staff/{other}/calendar-feed", headers=_coord(cal))
        assert r.status_code == 404, (method, r.status_code)
    for who in ("admin", "planner", "member_a", "device_b"):
        r = client.post(f"/api/staff/{cal.ids['staff']}/calendar-feed", headers=cal.headers(who))
        assert r.status_code == 403, who
    assert client.post(f"/api/staff/{cal.ids['staff']}/calendar-feed").status_code == 401


def test_phone_calendar_names_todays_visits_only(cal):
    client = _client(cal)
    r = client.get("/api/phone/calendar.ics", headers=cal.headers("phone"))
    assert r.status_code == 200, r.get_data(as_text=True)
    events = {str(e["uid"]): e for e in Calendar.from_ical(r.data).walk("VEVENT")}
    today = events[f"visit-{cal.ids['today']}@dispatch"]
    assert f"Nom {TODAY}" in str(today["summary"]) and "rue Droite" in str(today["location"])
    assert "0600000000" in str(today["description"])
    later = events[f"visit-{cal.ids['after']}@dispatch"]
    assert "Nom" not in str(later["summary"]) and str(later["location"]) == "Bastia"
    assert "Nom 2027-03-28" not in r.data.decode()
    audit = list(cal.store.list_audit(target=f"visit:{cal.ids['today']}"))
    assert any(a["action"] == "visit.details.read" for a in audit)
    assert cal.store.list_audit(target=f"visit:{cal.ids['after']}").total == 0
    # Another team's phone, a user token, a coordinator: not this calendar.
    other = client.get("/api/phone/calendar.ics", headers=cal.headers("device_b"))
    assert other.status_code == 200 and b"Patient TODAY" not in other.data
    for who in ("member_a", "coordinator"):
        assert client.get("/api/phone/calendar.ics", headers=cal.headers(who)).status_code == 403


def test_structure_week_across_the_autumn_change(cal):
    team = cal.ids["team"]
    sat = _visit(cal, team, "2026-10-24", "09:00-10:00", pseudonym="Patient AUT1")
    sun = _visit(cal, team, "2026-10-25", "09:00-10:00", pseudonym="Patient AUT2")
    client = _client(cal)
    r = client.get("/api/exports/week.ics?from=2026-10-21", headers=_coord(cal))
    assert r.status_code == 200 and r.mimetype == "text/calendar"
    assert "attachment" in r.headers["Content-Disposition"]
    events = {str(e["uid"]): e for e in Calendar.from_ical(r.data).walk("VEVENT")}
    assert events[f"visit-{sat}@dispatch"].decoded("dtstart").astimezone(UTC) == _utc(
        "2026-10-24T07:00:00"
    )
    assert events[f"visit-{sun}@dispatch"].decoded("dtstart").astimezone(UTC) == _utc(
        "2026-10-25T08:00:00"
    )
    assert "Nom 2026" not in r.data.decode() and "Lucie Feed" in r.data.decode()
    # Not the 2026-10-28 visits (7 days: 21 to 27).
    assert all(e.decoded("dtstart").date() <= dt.date(2026, 10, 27) for e in events.values())
    assert list(cal.store.list_audit(target="structure:1"))[0]["action"] == "calendar.week.export"
    assert client.get("/api/exports/week.ics?structure_id=2", headers=_coord(cal)).status_code in (
        403,
        404,
    )
    assert client.get("/api/exports/week.ics", headers=cal.headers("planner")).status_code == 403
    english = client.get("/api/exports/week.ics?from=2026-10-21&lang=en", headers=_coord(cal))
    assert b"Visit Patient AUT1" in english.data


def test_a_member_who_left_has_no_feed(cal):
    leaver = _staff(cal, "Paul Parti")
    token = _new_link(cal, leaver["id"])
    assert _client(cal).get(f"/calendar/{token}.ics").status_code == 200
    cal.store.deactivate_staff(leaver["id"], last_day=TODAY, today=TODAY)
    assert _client(cal).get(f"/calendar/{token}.ics").status_code == 404
