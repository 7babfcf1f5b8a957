"""The pure parts of referrers' requests: checks of a request, slot times in Paris time on both
sides of a daylight-saving change, a recurrence's care plan, texts without the patient, and
the attachment vault (AES-GCM, key from the environment or a 0600 file, content sniffing)."""

from __future__ import annotations

import base64
import os

import pytest

from dispatch.errors import DispatchError, ValidationError
from dispatch.referrals import core, texts
from dispatch.referrals.vault import KEY_ENV, UnsupportedMediaType, Vault, clean_filename, sniff

TODAY = "2027-03-20"
REQUEST = {
    "patient": {"family_name": "Dupont", "given_name": "Jeanne", "birth_date": "1941-03-02"},
    "address": "1 rue A",
    "lon": 9.4,
    "lat": 42.7,
    "reason": "Pansement",
    "act": "other",
    "care_kind": "nursing",
    "duration_min": 30,
    "urgency": "routine",
    "period_from": TODAY,
    "period_to": "2027-03-25",
}


def test_slot_times_carry_the_paris_offset_of_their_day():
    slot = {"slot_id": "x", "start_s": 9 * 3600, "latest_start_s": 9 * 3600 + 900,
            "end_s": 9 * 3600 + 1800}  # fmt: skip
    winter = core.slot_view({**slot, "day": "2027-03-27"}, tz="Europe/Paris", team_name=None)
    summer = core.slot_view({**slot, "day": "2027-03-28"}, tz="Europe/Paris", team_name="A")
    assert winter["start_at"] == "2027-03-27T09:00:00+01:00"
    assert summer["start_at"] == "2027-03-28T09:00:00+02:00"
    assert (summer["start"], summer["latest_start"], summer["end"]) == ("09:00", "09:15", "09:30")


def test_a_request_is_checked_field_by_field():
    parsed = core.parse_request(REQUEST, today=TODAY)
    assert parsed["kind"] == "visit" and parsed["time_of_day"] == "any"
    assert parsed["patient"]["gender"] is None and parsed["prescription"] is None
    with pytest.raises(ValidationError, match="in the future"):
        core.parse_request(
            {**REQUEST, "patient": {**REQUEST["patient"], "birth_date": "2030-01-01"}}, today=TODAY
        )
    with pytest.raises(ValidationError, match="blank"):
        core.parse_request({**REQUEST, "reason": "   "}, today=TODAY)
    with pytest.raises(ValidationError, match="until"):
        core.parse_request(
            {**REQUEST, "recurrence": {"times_per_day": 1, "weekdays": [1], "until": "2026-01-01"}},
            today=TODAY,
        )
    with pytest.raises(ValidationError, match="duration_min"):
        core.parse_request({**REQUEST, "duration_min": True}, today=TODAY)


def test_a_recurrence_becomes_a_weekly_care_plan():
    row = {**core.parse_request(
        {**REQUEST, "time_of_day": "evening",
         "recurrence": {"times_per_day": 1, "weekdays": [7, 1, 1], "until": "2027-04-30"}},
        today=TODAY,
    ), "id": 12}  # fmt: skip
    plan = core.care_plan_fields(row, start_day=TODAY)
    assert plan["rrule"] == "FREQ=WEEKLY;BYDAY=MO,SU"
    assert plan["windows"] == ["17:00-21:00"] and plan["duration_s"] == 1800
    assert plan["end_day"] == "2027-04-30" and plan["label"] == "Demande n° 12"
    row["recurrence"]["times_per_day"] = 3
    assert len(core.care_plan_fields(row, start_day=TODAY)["windows"]) == 3


def test_history_and_mail_texts_never_carry_free_text():
    subject, text = texts.mail(
        "declined", 7, {"reason": "Mme Dupont hospitalisée"}, "https://x/referrer/#request-7"
    )
    assert "Dupont" not in subject + text and "n° 7" in subject and "#request-7" in text
    assert "Dupont" in texts.event_text("declined", {"reason": "Mme Dupont"}, "fr")
    assert texts.event_text("booked", {"day": "2027-03-28", "start": "09:00", "mail": "failed"},
                            "en") == "Visit booked on 2027-03-28 at 09:00 (e-mail not sent)"  # fmt: skip


def test_vault_encrypts_with_the_key_of_the_environment_or_of_a_private_file(tmp_path):
    vault = Vault(tmp_path)
    name = vault.put(3, b"%PDF-1.4 secret")
    assert (tmp_path / "attachments" / name).read_bytes() != b"%PDF-1.4 secret"
    assert vault.get(3, name) == b"%PDF-1.4 secret"
    assert oct((tmp_path / "attachment_key").stat().st_mode & 0o777) == "0o600"
    with pytest.raises(DispatchError):  # another record's associated data does not decrypt
        vault.get(4, name)
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    other = Vault(tmp_path / "b", env={KEY_ENV: key})
    sealed = other.put(1, b"x")
    assert not (tmp_path / "b" / "attachment_key").exists()
    assert Vault(tmp_path / "b", env={KEY_ENV: key}).get(1, sealed) == b"x"
    with pytest.raises(DispatchError):
        Vault(tmp_path / "b").get(1, sealed)  # the file key is not the environment's
    with pytest.raises(DispatchError, match=KEY_ENV):
        Vault(tmp_path / "c", env={KEY_ENV: "short"}).put(1, b"x")


def test_types_are_judged_by_content_and_names_cleaned():
    assert sniff(b"\xff\xd8\xff\xe0") == "image/jpeg"
    with pytest.raises(UnsupportedMediaType):
        sniff(b"<html>%PDF-")
    assert clean_filename("C:\\scans\\ordo.exe", "application/pdf") == "ordo.pdf"
    assert clean_filename("", "image/png") == "document.png"


def test_the_history_of_proposed_times_gives_them_as_windows():
    detail = {
        "count": 2,
        "times": [
            {"day": "2026-12-08", "start": "08:15", "arrival_to": "09:10"},
            {"day": "2026-12-09", "start": "14:00", "arrival_to": "14:00"},
        ],
        "message": "Plutôt mardi",
    }
    assert texts.event_text("proposed", detail, "fr") == (
        "2 créneaux proposés par la structure (08/12/2026 entre 08:15 et 09:10 ; 09/12/2026 à"
        " 14:00) : « Plutôt mardi »"
    )
    assert texts.event_text("proposed", detail, "en").startswith(
        "2 times proposed by the service (2026-12-08 between 08:15 and 09:10 ; 2026-12-09 at"
    )
    subject, text = texts.mail("proposed", 4, detail, "https://x/referrer/#request-4")
    assert "08/12/2026 entre 08:15 et 09:10" in text and "Plutôt" not in text
