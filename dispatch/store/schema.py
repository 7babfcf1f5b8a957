"""Numbered schema migrations, each recorded in the `migrations` table once applied."""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Callable

import sqlite_utils


def m0001_initial(db: sqlite_utils.Database) -> None:
    """Every table of the first release."""
    db.create_table(
        "teams",
        {
            "id": int,
            "name": str,
            "kind": str,  # see dispatch.store.models.TEAM_KINDS
            "skills": str,  # JSON list of skill names
            "base_name": str,
            "base_lon": float,
            "base_lat": float,
            "shift_start_s": int,
            "shift_end_s": int,
            "vehicle_profile": str,  # car | bike | foot
            "color": str,
            "active": int,
            "demo": int,
            "created_at_s": float,
            "updated_at_s": float,
        },
        pk="id",
        not_null=["name", "kind", "skills", "shift_start_s", "shift_end_s", "vehicle_profile"],
        defaults={"active": 1, "demo": 0, "skills": "[]", "vehicle_profile": "car"},
    )
    db.table("teams").create_index(["name"], unique=True)
    db.create_table(
        "users",
        {
            "id": int,
            "username": str,
            "display_name": str,
            "role": str,  # admin | coordinator | planner | team_member
            "team_id": int,
            "password_hash": str,
            "active": int,
            "created_at_s": float,
            "last_login_at_s": float,
        },
        pk="id",
        not_null=["username", "role"],
        defaults={"active": 1},
        foreign_keys=[("team_id", "teams", "id")],
    )
    db.table("users").create_index(["username"], unique=True)
    db.create_table(
        "api_tokens",
        {
            "id": int,
            "user_id": int,
            "token_hash": str,
            "label": str,
            "created_at_s": float,
            "last_used_at_s": float,
            "revoked_at_s": float,
        },
        pk="id",
        not_null=["user_id", "token_hash"],
        foreign_keys=[("user_id", "users", "id")],
    )
    db.table("api_tokens").create_index(["token_hash"], unique=True)
    db.create_table(
        "sessions",
        {
            "id": int,
            "sid_hash": str,
            "user_id": int,
            "csrf_token": str,
            "created_at_s": float,
            "expires_at_s": float,
            "revoked_at_s": float,
            "ip": str,
        },
        pk="id",
        not_null=["sid_hash", "user_id", "csrf_token", "expires_at_s"],
        foreign_keys=[("user_id", "users", "id")],
    )
    db.table("sessions").create_index(["sid_hash"], unique=True)
    db.create_table(
        "devices",
        {
            "id": int,
            "team_id": int,
            "label": str,
            "token_hash": str,
            "paired_by": int,
            "created_at_s": float,
            "last_seen_at_s": float,
            "revoked_at_s": float,
        },
        pk="id",
        not_null=["team_id", "token_hash"],
        foreign_keys=[("team_id", "teams", "id"), ("paired_by", "users", "id")],
    )
    db.table("devices").create_index(["token_hash"], unique=True)
    db.create_table(
        "pairing_codes",
        {
            "id": int,
            "code_hash": str,
            "team_id": int,
            "created_by": int,
            "created_at_s": float,
            "expires_at_s": float,
            "used_at_s": float,
            "device_id": int,
        },
        pk="id",
        not_null=["code_hash", "team_id", "expires_at_s"],
        foreign_keys=[("team_id", "teams", "id"), ("device_id", "devices", "id")],
    )
    db.table("pairing_codes").create_index(["code_hash"], unique=True)
    db.create_table(
        "login_attempts",
        {"id": int, "key": str, "at_s": float},
        pk="id",
        not_null=["key", "at_s"],
    )
    db.table("login_attempts").create_index(["key", "at_s"])
    db.create_table(
        "visits",
        {
            "id": int,
            "day": str,  # YYYY-MM-DD
            "pseudonym": str,
            "care_kind": str,  # nursing | palliative | geriatric | other
            "address": str,
            "commune": str,
            "lon": float,
            "lat": float,
            "duration_s": int,
            "windows": str,  # JSON [[start_s, end_s], ...] seconds since midnight
            "skills": str,  # JSON list
            "priority": int,  # 0 (routine) .. 3 (vital)
            "preferred_team_id": int,
            "team_id": int,  # the team whose round holds the visit
            "status": str,
            "protected": str,  # JSON {name, phone, address_details, notes}: audited reads only
            "external_ref": str,
            "demo": int,
            "created_at_s": float,
            "updated_at_s": float,
        },
        pk="id",
        not_null=["day", "pseudonym", "lon", "lat", "duration_s", "windows", "status"],
        defaults={"priority": 1, "status": "planned", "skills": "[]", "demo": 0},
        foreign_keys=[("preferred_team_id", "teams", "id"), ("team_id", "teams", "id")],
    )
    db.table("visits").create_index(["day", "team_id"])
    db.table("visits").create_index(["team_id"])
    db.create_table(
        "plans",
        {
            "id": int,
            "day": str,
            "status": str,  # draft | published | archived
            "territory": str,
            "summary": str,  # JSON (cost, travel time, solver, unassigned reasons)
            "created_by": str,
            "created_at_s": float,
            "published_at_s": float,
            "demo": int,
        },
        pk="id",
        not_null=["day", "status"],
        defaults={"status": "draft", "summary": "{}", "demo": 0},
    )
    db.table("plans").create_index(["day", "status"])
    db.create_table(
        "plan_stops",
        {
            "id": int,
            "plan_id": int,
            "team_id": int,
            "seq": int,
            "visit_id": int,
            "arrival_s": int,
            "start_s": int,
            "end_s": int,
            "travel_time_s": int,
            "distance_m": int,
            "locked": int,
        },
        pk="id",
        not_null=["plan_id", "team_id", "seq", "visit_id"],
        defaults={"locked": 0},
        foreign_keys=[
            ("plan_id", "plans", "id"),
            ("team_id", "teams", "id"),
            ("visit_id", "visits", "id"),
        ],
    )
    db.table("plan_stops").create_index(["plan_id", "team_id", "seq"])
    db.table("plan_stops").create_index(["visit_id"])
    db.create_table(
        "plan_unassigned",
        {"id": int, "plan_id": int, "visit_id": int, "reason": str},
        pk="id",
        not_null=["plan_id", "visit_id"],
        foreign_keys=[("plan_id", "plans", "id"), ("visit_id", "visits", "id")],
    )
    db.table("plan_unassigned").create_index(["plan_id"])
    db.create_table(
        "positions",
        {
            "id": int,
            "team_id": int,
            "device_id": int,
            "client_id": str,
            "device_time_s": float,
            "server_time_s": float,
            "lon": float,
            "lat": float,
            "accuracy_m": float,
            "speed_mps": float,
            "heading_deg": float,
            "battery_pct": float,
            "source": str,
        },
        pk="id",
        not_null=["team_id", "device_time_s", "server_time_s", "lon", "lat"],
    )
    # Idempotent ingest: a client id is stored once per team (NULL ids are never deduplicated).
    db.table("positions").create_index(["team_id", "client_id"], unique=True)
    db.table("positions").create_index(["team_id", "device_time_s"])
    db.table("positions").create_index(["server_time_s"])
    db.create_table(
        "visit_events",
        {
            "id": int,
            "visit_id": int,
            "team_id": int,
            "kind": str,  # arrival | check_in | check_out | missed | note
            "note": str,
            "client_id": str,
            "device_time_s": float,
            "server_time_s": float,
            "lon": float,
            "lat": float,
            "actor": str,
        },
        pk="id",
        not_null=["visit_id", "kind", "server_time_s"],
        foreign_keys=[("visit_id", "visits", "id"), ("team_id", "teams", "id")],
    )
    db.table("visit_events").create_index(["visit_id"])
    db.table("visit_events").create_index(["team_id", "client_id"], unique=True)
    db.create_table(
        "audit_log",
        {
            "id": int,
            "at_s": float,
            "actor": str,  # user:3 | device:5 | cli | system
            "role": str,
            "action": str,
            "target": str,  # visit:42 ...
            "ip": str,
            "detail": str,  # JSON
        },
        pk="id",
        not_null=["at_s", "actor", "action"],
    )
    db.table("audit_log").create_index(["at_s"])
    db.table("audit_log").create_index(["target"])


def m0002_position_flags(db: sqlite_utils.Database) -> None:
    """Quality flags of each fix as the live filter judged it at ingest.

    Comma-separated (``inaccurate``, ``jump``, ``duplicate``, ``stationary``, ``late``); ``''``
    for a clean fix; NULL for fixes stored before this migration (the track replays the filter
    for those).
    """
    db.execute("ALTER TABLE positions ADD COLUMN flags TEXT")


def m0003_device_traccar_ids(db: sqlite_utils.Database) -> None:
    """A per-device identifier for the OsmAnd/Traccar protocol (which puts it in the URL).

    It only lets its holder post positions of the device's team, unlike the device token (a
    full team-member bearer). Devices paired before this migration get one here.
    """
    db.execute("ALTER TABLE devices ADD COLUMN traccar_id TEXT")
    ids = [row[0] for row in db.execute("SELECT id FROM devices")]
    for device_id in ids:
        db.execute("UPDATE devices SET traccar_id = ? WHERE id = ?", (new_traccar_id(), device_id))
    db.execute("CREATE UNIQUE INDEX idx_devices_traccar_id ON devices (traccar_id)")


def m0004_plan_bases(db: sqlite_utils.Database) -> None:
    """The published plan a plan was computed from (its version), so that a proposal computed
    before another change of the day is refused or merged, never applied over that change."""
    db.execute("ALTER TABLE plans ADD COLUMN base_plan_id INTEGER")


def m0005_alerts(db: sqlite_utils.Database) -> None:
    """The alerts that need a coordinator's action (late, at risk, position unknown, visit
    dropped, visit missed), one row per alert key, with who acknowledged it and when, so that
    every coordinator sees the acknowledgement and it survives a restart of the server."""
    db.table("alerts").create(
        {
            "key": str,
            "kind": str,
            "team_id": int,
            "visit_id": int,
            "raised_at_s": float,
            "detail": str,  # JSON: what the message needs (end_s, age_s, by...)
            "acknowledged_by": str,
            "acknowledged_at_s": float,
        },
        pk="key",
        not_null=["kind", "raised_at_s"],
    )
    db.table("alerts").create_index(["raised_at_s"])


def m0006_visit_mandatory(db: sqlite_utils.Database) -> None:
    """Whether a visit must be made (1, the default) or may wait for another day (0): the
    optimiser leaves an optional visit out before a mandatory one."""
    db.execute("ALTER TABLE visits ADD COLUMN mandatory INTEGER NOT NULL DEFAULT 1")


def m0007_account_links(db: sqlite_utils.Database) -> None:
    """Users' e-mail addresses, and the one-time links that let a user choose their own
    password (activation of a new account, reset): an administrator never sets or sees another
    user's password. Only a hash of each link's token is kept; a link expires and works once."""
    db.execute("ALTER TABLE users ADD COLUMN email TEXT")
    db.table("account_links").create(
        {
            "id": int,
            "user_id": int,
            "token_hash": str,
            "purpose": str,  # activate | reset
            "created_by": str,  # audit actor (user:3)
            "created_at_s": float,
            "expires_at_s": float,
            "used_at_s": float,
        },
        pk="id",
        not_null=["user_id", "token_hash", "purpose", "created_at_s", "expires_at_s"],
        foreign_keys=[("user_id", "users", "id")],
    )
    db.table("account_links").create_index(["token_hash"], unique=True)
    db.table("account_links").create_index(["user_id"])


def m0008_structures_patients_staff(db: sqlite_utils.Database) -> None:
    """Structures (organisations) sharing the deployment, their patients, care plans, staff,
    absences and the consent-based sharing of a patient with another structure; visits
    generated from care plans carry their occurrence so that generation is idempotent.

    Every existing team, visit, plan and user moves into structure 1, « Structure par
    défaut », which an administrator can rename.
    """
    db.table("structures").create(
        {
            "id": int,
            "name": str,
            "kind": str,  # see dispatch.store.models.STRUCTURE_KINDS
            "finess": str,  # the FINESS number (9 characters), if known
            "demo": int,
            "created_at_s": float,
            "updated_at_s": float,
        },
        pk="id",
        not_null=["name", "kind"],
        defaults={"demo": 0},
    )
    db.table("structures").create_index(["name"], unique=True)
    now = time.time()
    db.execute(
        "INSERT INTO structures (id, name, kind, demo, created_at_s, updated_at_s)"
        " VALUES (1, 'Structure par défaut', 'ssiad', 0, ?, ?)",
        (now, now),
    )
    db.table("user_structures").create(
        {"user_id": int, "structure_id": int},
        pk=("user_id", "structure_id"),
        foreign_keys=[("user_id", "users", "id"), ("structure_id", "structures", "id")],
    )
    db.execute("INSERT INTO user_structures (user_id, structure_id) SELECT id, 1 FROM users")
    for table in ("teams", "visits", "plans"):
        db.execute(f"ALTER TABLE {table} ADD COLUMN structure_id INTEGER NOT NULL DEFAULT 1")
        db.execute(f"CREATE INDEX idx_{table}_structure_id ON {table} (structure_id)")
    db.table("patients").create(
        {
            "id": int,
            "structure_id": int,
            "pseudonym": str,  # shown on shared screens
            "family_name": str,
            "given_name": str,
            "birth_date": str,  # YYYY-MM-DD
            "sex": str,  # female | male | other | unknown
            "phone": str,
            "address": str,
            "commune": str,
            "lon": float,
            "lat": float,
            "geocode_precision": str,  # housenumber | street | commune | manual
            "pin_corrected": int,  # 1 when a coordinator moved the pin
            "access_notes": str,  # door code, keys...
            "referring_doctor": str,
            "contacts": str,  # JSON [{name, relation, phone}]
            "external_ids": str,  # JSON {system: value}, e.g. {"INS": "...", "HAD": "..."}
            "status": str,  # admitted | discharged (a suspension is its own row)
            "admitted_on": str,
            "discharged_on": str,
            "archived_at_s": float,  # set on discharge; the record is purged after retention
            "purged_at_s": float,  # identity erased, pseudonym and dates kept
            "demo": int,
            "created_at_s": float,
            "updated_at_s": float,
        },
        pk="id",
        not_null=["structure_id", "pseudonym", "status"],
        defaults={
            "status": "admitted",
            "demo": 0,
            "pin_corrected": 0,
            "contacts": "[]",
            "external_ids": "{}",
        },
        foreign_keys=[("structure_id", "structures", "id")],
    )
    db.table("patients").create_index(["structure_id", "status"])
    db.table("suspensions").create(
        {
            "id": int,
            "patient_id": int,
            "from_day": str,
            "to_day": str,  # NULL: until further notice
            "reason": str,  # hospitalisation | holiday | respite | other
            "note": str,
            "created_by": str,
            "created_at_s": float,
            "cancelled_at_s": float,
        },
        pk="id",
        not_null=["patient_id", "from_day", "reason"],
        foreign_keys=[("patient_id", "patients", "id")],
    )
    db.table("suspensions").create_index(["patient_id"])
    db.table("care_plans").create(
        {
            "id": int,
            "patient_id": int,
            "structure_id": int,
            "label": str,
            "template": str,  # JSON: dispatch.care.recurrence.VisitTemplate.to_dict()
            "active": int,
            "demo": int,
            "created_at_s": float,
            "updated_at_s": float,
        },
        pk="id",
        not_null=["patient_id", "structure_id", "template"],
        defaults={"active": 1, "demo": 0},
        foreign_keys=[("patient_id", "patients", "id"), ("structure_id", "structures", "id")],
    )
    db.table("care_plans").create_index(["patient_id"])
    db.table("care_plans").create_index(["structure_id", "active"])
    db.table("sharings").create(
        {
            "id": int,
            "patient_id": int,
            "structure_id": int,  # the structure allowed to read the patient's record
            "consent_on": str,  # the day the patient (or their representative) consented
            "purpose": str,
            "recorded_by": str,
            "created_at_s": float,
            "revoked_at_s": float,
        },
        pk="id",
        not_null=["patient_id", "structure_id", "consent_on"],
        foreign_keys=[("patient_id", "patients", "id"), ("structure_id", "structures", "id")],
    )
    db.table("sharings").create_index(["structure_id", "patient_id"])
    db.table("staff").create(
        {
            "id": int,
            "structure_id": int,
            "name": str,
            "gender": str,  # female | male | NULL
            "job": str,  # nurse | care_aide | doctor | psychologist | other
            "skills": str,  # JSON list
            "contract_h_per_week": float,
            "rotas": str,  # JSON [dispatch.care.rota pattern .to_dict()]
            "team_id": int,  # the person's own team (a team of one): their phone pairs to it
            "user_id": int,  # their team-member account, if any
            "active": int,
            "demo": int,
            "created_at_s": float,
            "updated_at_s": float,
        },
        pk="id",
        not_null=["structure_id", "name", "contract_h_per_week"],
        defaults={"active": 1, "demo": 0, "skills": "[]", "rotas": "[]"},
        foreign_keys=[
            ("structure_id", "structures", "id"),
            ("team_id", "teams", "id"),
            ("user_id", "users", "id"),
        ],
    )
    db.table("staff").create_index(["structure_id"])
    db.table("team_members").create(
        {"team_id": int, "staff_id": int},
        pk=("team_id", "staff_id"),
        foreign_keys=[("team_id", "teams", "id"), ("staff_id", "staff", "id")],
    )
    db.table("absences").create(
        {
            "id": int,
            "staff_id": int,
            "kind": str,  # leave | sickness | training
            "from_day": str,
            "to_day": str,
            "part": str,  # JSON TimeRange for part of a day, NULL for whole days
            "note": str,
            "created_by": str,
            "created_at_s": float,
            "cancelled_at_s": float,
        },
        pk="id",
        not_null=["staff_id", "kind", "from_day", "to_day"],
        foreign_keys=[("staff_id", "staff", "id")],
    )
    db.table("absences").create_index(["staff_id"])
    for column, kind in (
        ("patient_id", "INTEGER"),
        ("care_plan_id", "INTEGER"),
        ("occurrence_key", "TEXT"),  # PLAN/YYYY-MM-DD/WINDOW, unique
        ("fingerprint", "TEXT"),  # the occurrence's content when generated
        ("start_epoch_s", "INTEGER"),  # start of the occurrence's window (UTC seconds)
        ("hand_edited", "INTEGER NOT NULL DEFAULT 0"),
        ("cancelled_by", "TEXT"),  # suspended | no_longer_planned: generation's own cancels
        ("staff_count", "INTEGER NOT NULL DEFAULT 1"),
        ("wishes", "TEXT"),  # JSON dispatch.care.recurrence.StaffWishes.to_dict()
    ):
        db.execute(f"ALTER TABLE visits ADD COLUMN {column} {kind}")
    db.execute(
        "CREATE UNIQUE INDEX idx_visits_occurrence_key ON visits (occurrence_key)"
        " WHERE occurrence_key IS NOT NULL"
    )
    db.execute("CREATE INDEX idx_visits_patient_id ON visits (patient_id, day)")
    db.execute("CREATE INDEX idx_visits_care_plan_id ON visits (care_plan_id)")


def m0009_visit_partner_team(db: sqlite_utils.Database) -> None:
    """A two-person visit served by two single-person teams: ``team_id`` holds one of them,
    ``partner_team_id`` the other (NULL for a visit of one team)."""
    db.execute("ALTER TABLE visits ADD COLUMN partner_team_id INTEGER REFERENCES teams(id)")
    db.execute("CREATE INDEX idx_visits_partner_team_id ON visits (partner_team_id)")


def m0010_referrals(db: sqlite_utils.Database) -> None:
    """Referrers' requests (issue 24): a referrer's profession (the account is a ``users`` row
    of role ``referrer``, its structures in ``user_structures``), the requests with their
    states, the history of each (who did what, when) and their attachments (the file itself is
    stored encrypted in the var dir, named by ``stored_name``)."""
    db.table("referrer_profiles").create(
        {
            "user_id": int,
            "profession": str,  # gp | discharge_nurse | dac | pharmacist | other
            "invited_by": str,  # audit actor (user:3)
            "created_at_s": float,
        },
        pk="user_id",
        not_null=["profession"],
        foreign_keys=[("user_id", "users", "id")],
    )
    db.table("referrals").create(
        {
            "id": int,
            "structure_id": int,
            "referrer_id": int,  # users.id of the referrer
            "state": str,  # submitted | proposed | booked | accepted | declined | cancelled
            "kind": str,  # visit | care_plan
            "urgency": str,  # routine | soon | urgent
            "patient": str,  # JSON {family_name, given_name, birth_date, gender, phone}
            "address": str,
            "lon": float,
            "lat": float,
            "access_notes": str,
            "reason": str,
            "care_kind": str,
            "duration_min": int,
            "period_from": str,
            "period_to": str,
            "time_of_day": str,  # any | morning | afternoon | evening
            "recurrence": str,  # JSON or NULL
            "prescription": str,  # JSON or NULL
            "patient_id": int,
            "care_plan_id": int,
            "visit_id": int,
            "booked_slot": str,  # JSON of the slot the visit was placed in
            "proposed_slots": str,  # JSON list of slots
            "message": str,
            "decline_reason": str,
            "created_at_s": float,
            "updated_at_s": float,
        },
        pk="id",
        not_null=["structure_id", "referrer_id", "state", "kind", "created_at_s"],
        foreign_keys=[
            ("structure_id", "structures", "id"),
            ("referrer_id", "users", "id"),
        ],
    )
    db.table("referrals").create_index(["structure_id", "state"])
    db.table("referrals").create_index(["referrer_id"])
    db.table("referral_events").create(
        {
            "id": int,
            "referral_id": int,
            "at_s": float,
            "actor": str,
            "actor_role": str,
            "kind": str,
            "detail": str,  # JSON: what the texts of the event name (a day, a reason...)
        },
        pk="id",
        not_null=["referral_id", "at_s", "kind"],
        foreign_keys=[("referral_id", "referrals", "id")],
    )
    db.table("referral_events").create_index(["referral_id"])
    db.table("referral_attachments").create(
        {
            "id": int,
            "referral_id": int,
            "filename": str,
            "media_type": str,
            "size_bytes": int,
            "stored_name": str,
            "created_at_s": float,
        },
        pk="id",
        not_null=["referral_id", "filename", "media_type", "size_bytes", "stored_name"],
        foreign_keys=[("referral_id", "referrals", "id")],
    )
    db.table("referral_attachments").create_index(["referral_id"])


def m0011_calendar_feeds(db: sqlite_utils.Database) -> None:
    """Private calendar feeds of staff (only the token's SHA-256 is kept; one live feed per
    member, revocable) and, per visit, what its calendar event said last, so that its
    SEQUENCE goes up only when the event changes."""
    db.table("calendar_feeds").create(
        {
            "id": int,
            "staff_id": int,
            "token_hash": str,
            "created_by": str,
            "created_at_s": float,
            "last_used_at_s": float,
            "revoked_at_s": float,
        },
        pk="id",
        not_null=["staff_id", "token_hash", "created_at_s"],
        foreign_keys=[("staff_id", "staff", "id")],
    )
    db.table("calendar_feeds").create_index(["token_hash"], unique=True)
    db.table("calendar_feeds").create_index(["staff_id"])
    db.table("calendar_sequences").create(
        {"visit_id": int, "fingerprint": str, "sequence": int, "changed_at_s": float},
        pk="visit_id",
        not_null=["fingerprint", "sequence", "changed_at_s"],
        defaults={"sequence": 0},
    )


def m0012_referral_acts(db: sqlite_utils.Database) -> None:
    """The care act a referrer's request asks for (an id of dispatch.care.acts: its skills
    choose the teams that can do it); requests made before it are ``other`` (no skill)."""
    db.table("referrals").add_column("act", str, not_null_default="other")


def m0013_referral_address(db: sqlite_utils.Database) -> None:
    """How a request's home was placed (the geocoder's precision: housenumber, street or
    commune; NULL: a pin placed by hand or not known) and its commune's name, both given on to
    the patient created from it."""
    db.table("referrals").add_column("address_precision", str)
    db.table("referrals").add_column("commune", str)


def new_traccar_id() -> str:
    """A fresh Traccar identifier: 16 digits (Traccar Client accepts letters too, but digits
    are easy to type on a phone), about 53 bits of randomness."""
    return "".join(secrets.choice("0123456789") for _ in range(16))


#: (number, name, function): applied in order, each once.
MIGRATIONS: list[tuple[int, str, Callable[[sqlite_utils.Database], None]]] = [
    (1, "initial", m0001_initial),
    (2, "position_flags", m0002_position_flags),
    (3, "device_traccar_ids", m0003_device_traccar_ids),
    (4, "plan_bases", m0004_plan_bases),
    (5, "alerts", m0005_alerts),
    (6, "visit_mandatory", m0006_visit_mandatory),
    (7, "account_links", m0007_account_links),
    (8, "structures_patients_staff", m0008_structures_patients_staff),
    (9, "visit_partner_team", m0009_visit_partner_team),
    (10, "referrals", m0010_referrals),
    (11, "calendar_feeds", m0011_calendar_feeds),
    (12, "referral_acts", m0012_referral_acts),
    (13, "referral_address", m0013_referral_address),
]


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply the migrations not yet recorded; returns the names applied (inside the caller's
    transaction: the writer thread commits them together)."""
    db = sqlite_utils.Database(conn)
    if not db["migrations"].exists():
        db.create_table("migrations", {"id": int, "name": str, "applied_at_s": float}, pk="id")
    done = {row[0] for row in conn.execute("SELECT id FROM migrations")}
    applied = []
    for number, name, fn in MIGRATIONS:
        if number in done:
            continue
        fn(db)
        conn.execute(
            "INSERT INTO migrations (id, name, applied_at_s) VALUES (?, ?, ?)",
            (number, name, time.time()),
        )
        applied.append(f"{number:04d}_{name}")
    return applied


def current_version(conn: sqlite3.Connection) -> int:
    """Number of the last migration applied (0 for an empty file)."""
    try:
        row = conn.execute("SELECT max(id) FROM migrations").fetchone()
    except sqlite3.OperationalError:
        return 0
    return int(row[0] or 0)
