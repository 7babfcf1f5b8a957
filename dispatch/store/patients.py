"""Patients (identity, address, access notes, contacts, status), suspensions, care plans,
consent-based sharings, archive, purge and export.

Scope: every method takes ``structures`` (None: unrestricted, for the CLI and system jobs);
a patient of another structure is a NotFoundError ("patient 12 does not exist"), never
revealed. A patient shared with one of ``structures`` by a live sharing (the patient's consent,
not revoked) can be read with :meth:`PatientsMixin.get_patient` only, and that read is
audited as ``patient.read_shared``. Every read of a patient's identity writes an audit line
in the same transaction as the read.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import sqlite3
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from dispatch.care.recurrence import VisitTemplate, template_from_dict
from dispatch.errors import ConflictError, NotFoundError, ValidationError
from dispatch.store.care import _audit
from dispatch.store.core import now_s
from dispatch.store.models import format_hhmm, local_today, parse_day, parse_id, shown
from dispatch.store.rows import Page, clamp_page, dumps

if TYPE_CHECKING:
    from dispatch.store.core import Engine

SEXES = ("female", "male", "other", "unknown")
GEOCODE_PRECISIONS = ("housenumber", "street", "commune", "manual")
#: The status a patient shows: suspended when a live suspension covers today.
PATIENT_STATUSES = ("admitted", "suspended", "discharged")
SUSPENSION_REASONS = ("hospitalisation", "holiday", "respite", "other")
CONTACT_FIELDS = ("name", "relation", "phone")
#: Most contacts and external identifiers of one patient.
MAX_CONTACTS = 20
MAX_EXTERNAL_IDS = 20
#: Fields of a patient a client may send (``structure_id`` on creation only).
PATIENT_FIELDS = (
    "structure_id",
    "pseudonym",
    "family_name",
    "given_name",
    "birth_date",
    "sex",
    "phone",
    "address",
    "commune",
    "lon",
    "lat",
    "geocode_precision",
    "pin_corrected",
    "access_notes",
    "referring_doctor",
    "contacts",
    "external_ids",
    "admitted_on",
)
#: Text fields and their longest length (characters).
_TEXTS = {
    "pseudonym": 40,
    "family_name": 100,
    "given_name": 100,
    "phone": 40,
    "address": 200,
    "commune": 200,
    "access_notes": 2000,
    "referring_doctor": 200,
}
#: Columns a list view leaves out (details read one patient at a time, audited).
LIST_HIDDEN = ("phone", "access_notes", "contacts", "external_ids", "referring_doctor")
#: Identity erased by the purge after the retention (pseudonym and dates stay).
IDENTITY_COLUMNS = (
    "family_name",
    "given_name",
    "birth_date",
    "phone",
    "address",
    "lon",
    "lat",
    "access_notes",
    "referring_doctor",
)
_SYSTEM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}$")
#: Fields of a care plan besides its template's.
CARE_PLAN_FIELDS = (
    "label",
    "kind",
    "duration_s",
    "windows",
    "rrule",
    "start_day",
    "end_day",
    "skills",
    "priority",
    "exceptions",
    "additions",
    "wishes",
    "staff_count",
)
SHARING_FIELDS = ("structure_id", "consent_on", "purpose")
SUSPENSION_FIELDS = ("from_day", "to_day", "reason", "note")


# -- input -----------------------------------------------------------------------------------------
def _text(value: Any, *, what: str, max_len: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be text")
    text = value.strip()
    if len(text) > max_len:
        raise ValidationError(f"{what} is longer than {max_len} characters: shorten it")
    return text or None


def _unknown(data: Mapping[str, Any], known: tuple[str, ...], *, label: str) -> None:
    for key in data:
        if key not in known:
            raise ValidationError(
                f"{label}: unknown field {shown(key)}; the fields are {', '.join(known)}"
            )


def _coordinate(value: Any, *, what: str, lo: float, hi: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise ValidationError(f"{what} {shown(value)}: give a number from {lo:g} to {hi:g}")
    return float(value)


def _contacts(value: Any) -> list[dict[str, str | None]]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_CONTACTS:
        raise ValidationError(
            f"contacts must be a list of at most {MAX_CONTACTS} {{name, relation, phone}}"
        )
    out = []
    for i, item in enumerate(value):
        what = f"contact {i + 1}"
        if not isinstance(item, Mapping):
            raise ValidationError(f"{what} must be an object {{name, relation, phone}}")
        _unknown(item, CONTACT_FIELDS, label=what)
        name = _text(item.get("name"), what=f"{what}: name", max_len=100)
        if not name:
            raise ValidationError(f"{what}: give the contact's name")
        out.append(
            {
                "name": name,
                "relation": _text(item.get("relation"), what=f"{what}: relation", max_len=100),
                "phone": _text(item.get("phone"), what=f"{what}: phone", max_len=40),
            }
        )
    return out


def _external_ids(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or len(value) > MAX_EXTERNAL_IDS:
        raise ValidationError(
            f'external_ids must be an object of at most {MAX_EXTERNAL_IDS} {{"SYSTEM": "value"}},'
            ' e.g. {"INS": "1 84 12 75 ..."}'
        )
    out = {}
    for system, ident in value.items():
        if not isinstance(system, str) or not _SYSTEM.match(system):
            raise ValidationError(
                f"external_ids: {shown(system)} is not a system name: letters, digits, _ . or -"
            )
        text = _text(ident, what=f"external_ids.{system}", max_len=100)
        if not text:
            raise ValidationError(f"external_ids.{system} is empty: give the identifier or drop it")
        out[system] = text
    return out


def parse_patient(data: Any, *, partial: bool = False) -> dict[str, Any]:
    """Columns of a patient from API-style fields (``partial``: the fields sent only).

    A new patient needs family_name, structure_id, lon and lat (the service geocodes the
    address first) and a geocode_precision.
    """
    label = "patient"
    if not isinstance(data, Mapping):
        raise ValidationError("send a JSON object with the patient's fields")
    _unknown(data, PATIENT_FIELDS, label=label)
    if partial and "structure_id" in data:
        raise ValidationError(
            "structure_id cannot change: a patient moving to another structure is discharged"
            " and admitted there"
        )
    row: dict[str, Any] = {}
    for key, max_len in _TEXTS.items():
        if key in data:
            row[key] = _text(data[key], what=key, max_len=max_len)
    if "birth_date" in data:
        row["birth_date"] = (
            None
            if data["birth_date"] in (None, "")
            else parse_day(data["birth_date"], what="birth_date")
        )
    if "admitted_on" in data and data["admitted_on"] not in (None, ""):
        row["admitted_on"] = parse_day(data["admitted_on"], what="admitted_on")
    if "sex" in data:
        sex = data["sex"] if data["sex"] is not None else "unknown"
        if sex not in SEXES:
            raise ValidationError(f"sex {shown(sex)}: use {', '.join(SEXES)}")
        row["sex"] = sex
    if "lon" in data:
        row["lon"] = _coordinate(data["lon"], what="lon", lo=-180, hi=180)
    if "lat" in data:
        row["lat"] = _coordinate(data["lat"], what="lat", lo=-90, hi=90)
    if "geocode_precision" in data:
        if data["geocode_precision"] not in GEOCODE_PRECISIONS:
            raise ValidationError(
                f"geocode_precision {shown(data['geocode_precision'])}: use"
                f" {', '.join(GEOCODE_PRECISIONS)}"
            )
        row["geocode_precision"] = data["geocode_precision"]
    if "pin_corrected" in data:
        if not isinstance(data["pin_corrected"], bool):
            raise ValidationError("pin_corrected must be true or false")
        row["pin_corrected"] = int(data["pin_corrected"])
    if "contacts" in data:
        row["contacts"] = dumps(_contacts(data["contacts"]))
    if "external_ids" in data:
        row["external_ids"] = dumps(_external_ids(data["external_ids"]))
    if "structure_id" in data:
        row["structure_id"] = parse_id(data["structure_id"], what="structure_id")
    if "family_name" in row and not row["family_name"]:
        raise ValidationError("family_name is empty: give the patient's family name")
    if "pseudonym" in row and row["pseudonym"] is None and partial:
        raise ValidationError("pseudonym is empty: give one, it is shown on shared screens")
    if not partial:
        for key in ("family_name", "structure_id", "lon", "lat", "geocode_precision"):
            if row.get(key) is None:
                hint = {
                    "lon": ": give the address (it is geocoded) or lon and lat",
                    "lat": ": give the address (it is geocoded) or lon and lat",
                }.get(key, "")
                raise ValidationError(f"patient: {key} is missing{hint}")
    if ("lon" in row) != ("lat" in row) or (row.get("lon") is None) != (row.get("lat") is None):
        raise ValidationError("give both lon and lat (longitude first), or neither")
    if partial and "lon" in row and row["lon"] is None:
        raise ValidationError("lon and lat cannot be removed: move the pin instead")
    return row


def _template(fields: Mapping[str, Any], *, plan_id: int | None) -> VisitTemplate:
    """The template of a care plan's fields; errors read « care plan: ... » (a new plan) or
    « care plan 12: ... »."""
    label = "care plan" if plan_id is None else f"care plan {plan_id}"
    try:
        return template_from_dict({**fields, "template_id": plan_id or 1}, label="care plan")
    except ValidationError as exc:
        message = re.sub(r"^care plan: (care plan \d+: )?", "", exc.message)
        raise ValidationError(f"{label}: {message}") from None


def parse_care_plan(
    data: Any, *, patient_id: int, plan_id: int | None = None
) -> tuple[str | None, VisitTemplate]:
    """(label, template) of a care plan body, checked by the recurrence rules."""
    if not isinstance(data, Mapping):
        raise ValidationError("send a JSON object with the care plan's fields")
    _unknown(data, CARE_PLAN_FIELDS, label="care plan")
    label = _text(data.get("label"), what="care plan label", max_len=200)
    fields = {k: v for k, v in data.items() if k != "label"}
    template = _template({**fields, "patient_id": patient_id}, plan_id=plan_id)
    return label, template


def parse_suspension(data: Any) -> dict[str, Any]:
    """Columns of a suspension: from_day, to_day (None: until further notice), reason, note."""
    if not isinstance(data, Mapping):
        raise ValidationError("send a JSON object {from_day, to_day, reason, note}")
    _unknown(data, SUSPENSION_FIELDS, label="suspension")
    from_day = parse_day(data.get("from_day"), what="suspension from_day")
    to_day = data.get("to_day")
    to_day = None if to_day in (None, "") else parse_day(to_day, what="suspension to_day")
    if to_day is not None and to_day < from_day:
        raise ValidationError(
            f"suspension: to_day {to_day} is before from_day {from_day}: give the last day"
            " away, or none while it lasts"
        )
    reason = data.get("reason") or "other"
    if reason not in SUSPENSION_REASONS:
        raise ValidationError(
            f"suspension reason {shown(reason)}: use {', '.join(SUSPENSION_REASONS)}"
        )
    note = _text(data.get("note"), what="suspension note", max_len=500)
    return {"from_day": from_day, "to_day": to_day, "reason": reason, "note": note}


def parse_sharing(data: Any, *, today: str) -> dict[str, Any]:
    """Columns of a sharing: the receiving structure, the day of consent, the purpose."""
    if not isinstance(data, Mapping):
        raise ValidationError("send a JSON object {structure_id, consent_on, purpose}")
    _unknown(data, SHARING_FIELDS, label="sharing")
    structure_id = parse_id(data.get("structure_id"), what="sharing structure_id")
    if structure_id is None:
        raise ValidationError("sharing: give structure_id, the structure the patient agreed to")
    consent_on = parse_day(data.get("consent_on"), what="sharing consent_on")
    if consent_on > today:
        raise ValidationError(
            f"sharing: consent_on {consent_on} is in the future: record the sharing once the"
            " patient has agreed"
        )
    purpose = _text(data.get("purpose"), what="sharing purpose", max_len=500)
    return {"structure_id": structure_id, "consent_on": consent_on, "purpose": purpose}


# -- SQL helpers ------------------------------------------------------------------------------------
def _in(column: str, ids: Collection[int] | None) -> tuple[str, list[Any]]:
    """``column IN (...)`` for ``ids`` (None: always true; empty: always false)."""
    if ids is None:
        return "1 = 1", []
    values = sorted({int(i) for i in ids})
    if not values:
        return "0 = 1", []
    return f"{column} IN ({', '.join('?' for _ in values)})", values


_LIVE_SUSPENSION = (
    "SELECT 1 FROM suspensions s WHERE s.patient_id = p.id AND s.cancelled_at_s IS NULL"
    " AND s.from_day <= ? AND (s.to_day IS NULL OR s.to_day >= ?)"
)


def _missing(patient_id: int) -> NotFoundError:
    return NotFoundError(f"patient {patient_id} does not exist")


def _patient_row(
    conn: sqlite3.Connection, patient_id: int, structures: Collection[int] | None
) -> sqlite3.Row:
    """The patient's row if it belongs to one of ``structures`` (NotFoundError otherwise)."""
    row = conn.execute("SELECT * FROM patients WHERE id = ?", (patient_id,)).fetchone()
    if row is None or (structures is not None and row["structure_id"] not in set(structures)):
        raise _missing(patient_id)
    return row


def _live_sharing(
    conn: sqlite3.Connection, patient_id: int, structures: Collection[int]
) -> sqlite3.Row | None:
    where, args = _in("structure_id", structures)
    return conn.execute(
        f"SELECT * FROM sharings WHERE patient_id = ? AND revoked_at_s IS NULL AND {where}"
        " ORDER BY id LIMIT 1",
        (patient_id, *args),
    ).fetchone()


def _suspension_view(
    row: sqlite3.Row | dict[str, Any], *, cancelled_visits: int | None = None
) -> dict[str, Any]:
    out = {k: row[k] for k in row.keys()} if isinstance(row, sqlite3.Row) else dict(row)
    out["active"] = out.get("cancelled_at_s") is None
    if cancelled_visits is not None:
        out["cancelled"] = cancelled_visits
    return out


def _current_suspension(
    conn: sqlite3.Connection, patient_id: int, today: str
) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT * FROM suspensions WHERE patient_id = ? AND cancelled_at_s IS NULL"
        " AND (to_day IS NULL OR to_day >= ?) ORDER BY from_day, id LIMIT 1",
        (patient_id, today),
    ).fetchone()
    return None if row is None else _suspension_view(row)


def _patient_view(
    conn: sqlite3.Connection, row: sqlite3.Row, *, today: str, full: bool = True
) -> dict[str, Any]:
    """The patient's JSON (``full``: with phone, access notes, contacts and identifiers)."""
    out: dict[str, Any] = {k: row[k] for k in row.keys()}
    out["contacts"] = json.loads(out.get("contacts") or "[]")
    out["external_ids"] = json.loads(out.get("external_ids") or "{}")
    out["pin_corrected"] = bool(out["pin_corrected"])
    out["demo"] = bool(out["demo"])
    out["archived"] = out.pop("archived_at_s") is not None
    out["purged"] = out.pop("purged_at_s") is not None
    suspension = _current_suspension(conn, row["id"], today)
    out["suspension"] = suspension
    if out["status"] != "discharged" and suspension and suspension["from_day"] <= today:
        out["status"] = "suspended"
    out["care_plans"] = int(
        conn.execute(
            "SELECT count(*) FROM care_plans WHERE patient_id = ? AND active = 1", (row["id"],)
        ).fetchone()[0]
    )
    if not full:
        for key in LIST_HIDDEN:
            out.pop(key, None)
    return out


def _care_plan_view(row: sqlite3.Row) -> dict[str, Any]:
    template = json.loads(row["template"])
    template.pop("template_id", None)
    template.pop("patient_id", None)
    return {
        "id": row["id"],
        "patient_id": row["patient_id"],
        "structure_id": row["structure_id"],
        "label": row["label"],
        "active": bool(row["active"]),
        "demo": bool(row["demo"]),
        **template,
        "created_at_s": row["created_at_s"],
        "updated_at_s": row["updated_at_s"],
    }


def _sharing_view(row: sqlite3.Row) -> dict[str, Any]:
    out = {k: row[k] for k in row.keys()}
    out["live"] = out["revoked_at_s"] is None
    return out


def _new_pseudonym(conn: sqlite3.Connection) -> str:
    """« Patient 7F3A »: four hex digits, six once four are crowded; unique."""
    for attempt in range(40):
        digits = 4 if attempt < 20 else 6
        candidate = f"Patient {secrets.randbelow(16**digits):0{digits}X}"
        if not conn.execute("SELECT 1 FROM patients WHERE pseudonym = ?", (candidate,)).fetchone():
            return candidate
    raise ConflictError("no free pseudonym found: give one")  # pragma: no cover - 16M choices


def _refuse_taken_pseudonym(
    conn: sqlite3.Connection, pseudonym: str, structure_id: int, patient_id: int | None
) -> None:
    """Two patients of one structure never share a pseudonym (the shared screens show it)."""
    taken = conn.execute(
        "SELECT id FROM patients WHERE pseudonym = ? AND structure_id = ? AND id IS NOT ?",
        (pseudonym, structure_id, patient_id),
    ).fetchone()
    if taken is not None:
        raise ConflictError(
            f"pseudonym {shown(pseudonym)} is already patient {taken[0]}'s: choose another one"
            " (or leave it empty to draw one)"
        )


def _insert_patient(
    conn: sqlite3.Connection, row: dict[str, Any], *, demo: bool, today: str
) -> int:
    if not conn.execute("SELECT 1 FROM structures WHERE id = ?", (row["structure_id"],)).fetchone():
        raise NotFoundError(f"structure {row['structure_id']} does not exist")
    values = dict(row)
    if not values.get("pseudonym"):
        values["pseudonym"] = _new_pseudonym(conn)
    else:
        _refuse_taken_pseudonym(conn, values["pseudonym"], values["structure_id"], None)
    values.setdefault("sex", "unknown")
    values.setdefault("admitted_on", today)
    values.setdefault("contacts", "[]")
    values.setdefault("external_ids", "{}")
    now = now_s()
    values.update(status="admitted", demo=int(demo), created_at_s=now, updated_at_s=now)
    cols = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    cur = conn.execute(f"INSERT INTO patients ({cols}) VALUES ({marks})", list(values.values()))
    return int(cur.lastrowid or 0)


class PatientsMixin:
    """The patients' records, their suspensions, care plans and sharings."""

    engine: Engine

    # -- patients --------------------------------------------------------------------------------
    def add_patient(
        self,
        data: dict[str, Any],
        *,
        actor: str,
        role: str | None = None,
        ip: str | None = None,
        demo: bool = False,
        today: str | None = None,
    ) -> dict[str, Any]:
        """Create a patient (fields of :func:`parse_patient`; a pseudonym is drawn if none)."""
        return self.add_patients([data], actor=actor, role=role, ip=ip, demo=demo, today=today)[0]

    def add_patients(
        self,
        items: list[dict[str, Any]],
        *,
        actor: str,
        role: str | None = None,
        ip: str | None = None,
        demo: bool = False,
        today: str | None = None,
        labels: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Create several patients in one transaction (all or none), each audited."""
        today = today or local_today()
        rows = []
        for i, item in enumerate(items):
            try:
                rows.append(parse_patient(item))
            except ValidationError as exc:
                if labels is None and len(items) == 1:
                    raise
                label = labels[i] if labels else f"patient {i + 1}"
                raise ValidationError(f"{label}: {exc.message}") from None

        def job(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            out = []
            for row in rows:
                patient_id = _insert_patient(conn, row, demo=demo, today=today)
                _audit(conn, actor, "patient.create", role, f"patient:{patient_id}", ip, None)
                found = conn.execute(
                    "SELECT * FROM patients WHERE id = ?", (patient_id,)
                ).fetchone()
                out.append(_patient_view(conn, found, today=today))
            return out

        result: list[dict[str, Any]] = self.engine.write(job)
        return result

    def get_patient(
        self,
        patient_id: int,
        *,
        structures: Collection[int] | None,
        actor: str,
        role: str | None = None,
        ip: str | None = None,
        today: str | None = None,
        detail: dict[str, Any] | None = None,
        allow_shared: bool = True,
    ) -> dict[str, Any]:
        """The patient's record, audited (``patient.read``).

        A patient of another structure shared with one of ``structures`` by a live sharing is
        returned too (``allow_shared``), without access notes and with ``shared`` saying
        which sharing allows it; that read is audited as ``patient.read_shared``.
        """
        today = today or local_today()

        def job(conn: sqlite3.Connection) -> dict[str, Any] | None:
            row = conn.execute("SELECT * FROM patients WHERE id = ?", (patient_id,)).fetchone()
            if row is None:
                raise _missing(patient_id)
            own = structures is None or row["structure_id"] in set(structures)
            sharing = None
            if not own:
                sharing = (
                    _live_sharing(conn, patient_id, structures or ()) if allow_shared else None
                )
                if sharing is None:
                    # The caller is told it does not exist; the log keeps the attempt.
                    _audit(
                        conn, actor, "patient.read.denied", role, f"patient:{patient_id}", ip,
                        detail,
                    )  # fmt: skip
                    return None
            view = _patient_view(conn, row, today=today)
            if sharing is not None:
                view["access_notes"] = None
                view["shared"] = {
                    "sharing_id": sharing["id"],
                    "structure_id": sharing["structure_id"],
                    "consent_on": sharing["consent_on"],
                    "purpose": sharing["purpose"],
                }
                line = {**(detail or {}), "sharing_id": sharing["id"]}
                _audit(conn, actor, "patient.read_shared", role, f"patient:{patient_id}", ip, line)
            else:
                view["shared"] = None
                _audit(conn, actor, "patient.read", role, f"patient:{patient_id}", ip, detail)
            return view

        result: dict[str, Any] | None = self.engine.write(job)
        if result is None:
            raise _missing(patient_id)
        return result

    def list_patients(
        self,
        *,
        structures: Collection[int] | None,
        actor: str,
        role: str | None = None,
        ip: str | None = None,
        status: str | None = None,
        q: str | None = None,
        shared: bool = False,
        limit: int | None = None,
        offset: int | None = None,
        today: str | None = None,
    ) -> Page:
        """List views (no phone, access notes, contacts, identifiers), by family name.

        ``status``: admitted (not suspended today), suspended, discharged; none: the patients
        in care (admitted or suspended). ``shared``: the patients of other structures shared
        with ``structures`` instead of their own. The read is audited once
        (``patient.list``).
        """
        today = today or local_today()
        limit, offset = clamp_page(limit, offset)
        if status is not None and status not in PATIENT_STATUSES:
            raise ValidationError(f"status {shown(status)}: use {', '.join(PATIENT_STATUSES)}")
        clauses: list[str] = []
        args: list[Any] = []
        if shared:
            where, ids = _in("sh.structure_id", structures if structures is not None else ())
            clauses.append(
                "p.id IN (SELECT sh.patient_id FROM sharings sh WHERE sh.revoked_at_s IS NULL"
                f" AND {where})"
            )
            args += ids
            mine, own_ids = _in("p.structure_id", structures if structures is not None else ())
            clauses.append(f"NOT ({mine})")
            args += own_ids
        else:
            where, ids = _in("p.structure_id", structures)
            clauses.append(where)
            args += ids
        if status == "discharged":
            clauses.append("p.status = 'discharged'")
        elif status == "suspended":
            clauses.append(f"p.status = 'admitted' AND EXISTS ({_LIVE_SUSPENSION})")
            args += [today, today]
        elif status == "admitted":
            clauses.append(f"p.status = 'admitted' AND NOT EXISTS ({_LIVE_SUSPENSION})")
            args += [today, today]
        else:
            clauses.append("p.status = 'admitted'")
        if q is not None and q.strip():
            words = q.strip().casefold().split()[:5]
            for word in words:
                clauses.append(
                    "(lower(coalesce(p.family_name, '')) LIKE ? ESCAPE '\\' OR"
                    " lower(coalesce(p.given_name, '')) LIKE ? ESCAPE '\\' OR"
                    " lower(p.pseudonym) LIKE ? ESCAPE '\\' OR"
                    " lower(coalesce(p.commune, '')) LIKE ? ESCAPE '\\')"
                )
                like = "%" + re.sub(r"([%_\\])", r"\\\1", word) + "%"
                args += [like] * 4
        where_sql = " AND ".join(clauses)

        def job(conn: sqlite3.Connection) -> Page:
            total = int(
                conn.execute(f"SELECT count(*) FROM patients p WHERE {where_sql}", args).fetchone()[
                    0
                ]
            )
            rows = conn.execute(
                f"SELECT p.* FROM patients p WHERE {where_sql} ORDER BY"
                " lower(coalesce(p.family_name, p.pseudonym)), lower(coalesce(p.given_name, '')),"
                " p.id LIMIT ? OFFSET ?",
                [*args, limit, offset],
            ).fetchall()
            items = [_patient_view(conn, r, today=today, full=False) for r in rows]
            _audit(
                conn,
                actor,
                "patient.list",
                role,
                None,
                ip,
                {"count": len(items), "status": status, "shared": shared, "query": bool(q)},
            )
            if shared:
                # Each patient of another structure seen is a read under its sharing.
                for item in items:
                    sharing = _live_sharing(conn, item["id"], structures or ())
                    assert sharing is not None
                    item["shared"] = {
                        "sharing_id": sharing["id"],
                        "structure_id": sharing["structure_id"],
                        "consent_on": sharing["consent_on"],
                        "purpose": sharing["purpose"],
                    }
                    _audit(
                        conn, actor, "patient.read_shared", role, f"patient:{item['id']}", ip,
                        {"sharing_id": sharing["id"], "from": "list"},
                    )  # fmt: skip
            return Page(items, total=total, limit=limit, offset=offset)

        page: Page = self.engine.write(job)
        return page

    def update_patient(
        self,
        patient_id: int,
        data: dict[str, Any],
        *,
        structures: Collection[int] | None,
        actor: str,
        role: str | None = None,
        ip: str | None = None,
        today: str | None = None,
    ) -> dict[str, Any]:
        """Change some fields of a patient of ``structures`` (audited ``patient.update``)."""
        today = today or local_today()
        row = parse_patient(data, partial=True)

        def job(conn: sqlite3.Connection) -> dict[str, Any]:
            current = _patient_row(conn, patient_id, structures)
            if current["purged_at_s"] is not None:
                raise ConflictError(
                    f"patient {patient_id} was purged after the retention period: nothing to change"
                )
            if row.get("pseudonym"):
                _refuse_taken_pseudonym(conn, row["pseudonym"], current["structure_id"], patient_id)
            if row:
                cols = ", ".join(f"{k} = ?" for k in row)
                conn.execute(
                    f"UPDATE patients SET {cols}, updated_at_s = ? WHERE id = ?",
                    (*row.values(), now_s(), patient_id),
                )
                _audit(
                    conn, actor, "patient.update", role, f"patient:{patient_id}", ip,
                    {"fields": sorted(data)},
                )  # fmt: skip
            found = conn.execute("SELECT * FROM patients WHERE id = ?", (patient_id,)).fetchone()
            return _patient_view(conn, found, today=today)

        result: dict[str, Any] = self.engine.write(job)
        return result

    def discharge_patient(
        self,
        patient_id: int,
        day: str,
        *,
        structures: Collection[int] | None,
        actor: str,
        role: str | None = None,
        ip: str | None = None,
        today: str | None = None,
    ) -> dict[str, Any]:
        """Discharge on ``day`` (the patient leaves care that day: its visits are cancelled by
        generation, which counts a discharged patient away from that day on). The record is
        archived (purged after the retention); each care plan ends the day before (one not
        begun by then ends outright). Audited ``patient.discharge``."""
        today = today or local_today()
        day = parse_day(day, what="discharge day")

        def job(conn: sqlite3.Connection) -> dict[str, Any]:
            current = _patient_row(conn, patient_id, structures)
            if current["status"] == "discharged":
                raise ConflictError(
                    f"patient {patient_id} was already discharged on {current['discharged_on']}"
                )
            if current["admitted_on"] and day < current["admitted_on"]:
                raise ConflictError(
                    f"discharge day {day} is before the admission ({current['admitted_on']}):"
                    " give the day the patient leaves care"
                )
            now = now_s()
            conn.execute(
                "UPDATE patients SET status = 'discharged', discharged_on = ?, archived_at_s = ?,"
                " updated_at_s = ? WHERE id = ?",
                (day, now, now, patient_id),
            )
            for plan in conn.execute(
                "SELECT * FROM care_plans WHERE patient_id = ? AND active = 1", (patient_id,)
            ).fetchall():
                _end_plan_on(conn, plan, day, now)
            _audit(
                conn, actor, "patient.discharge", role, f"patient:{patient_id}", ip, {"day": day}
            )
            found = conn.execute("SELECT * FROM patients WHERE id = ?", (patient_id,)).fetchone()
            return _patient_view(conn, found, today=today)

        result: dict[str, Any] = self.engine.write(job)
        return result

    def readmit_patient(
        self,
        patient_id: int,
        day: str,
        *,
        structures: Collection[int] | None,
        actor: str,
        role: str | None = None,
        ip: str | None = None,
        today: str | None = None,
    ) -> dict[str, Any]:
        """Readmit a discharged patient on ``day`` (on or after the discharge day): in care
        again from that day (``admitted_on``), no longer archived, so no longer purged.

        The care plans the discharge ended stay ended: the coordinator adds the care the
        patient needs now. A suspension covering ``day`` (a hospitalisation left open before
        the discharge) ends the day before, or is cancelled if it starts that day. Refused
        (ConflictError) for a patient in care and for a record already purged. Audited
        ``patient.readmit`` with the discharge it undoes."""
        today = today or local_today()
        day = parse_day(day, what="readmission day")
        eve = (dt.date.fromisoformat(day) - dt.timedelta(days=1)).isoformat()

        def job(conn: sqlite3.Connection) -> dict[str, Any]:
            current = _patient_row(conn, patient_id, structures)
            if current["purged_at_s"] is not None:
                raise ConflictError(
                    f"patient {patient_id}'s record was erased after the retention period:"
                    " admit the patient as a new record"
                )
            if current["status"] != "discharged":
                raise ConflictError(
                    f"patient {patient_id} is in care ({current['status']}): only a discharged"
                    " patient is readmitted"
                )
            if current["discharged_on"] and day < current["discharged_on"]:
                raise ConflictError(
                    f"readmission day {day} is before the discharge ({current['discharged_on']}):"
                    " give the day the patient comes back into care"
                )
            now = now_s()
            conn.execute(
                "UPDATE patients SET status = 'admitted', admitted_on = ?, discharged_on = NULL,"
                " archived_at_s = NULL, updated_at_s = ? WHERE id = ?",
                (day, now, patient_id),
            )
            ended = []
            for s in conn.execute(
                "SELECT id, from_day FROM suspensions WHERE patient_id = ?"
                " AND cancelled_at_s IS NULL AND from_day <= ? AND (to_day IS NULL OR to_day >= ?)",
                (patient_id, day, day),
            ).fetchall():
                if s["from_day"] >= day:
                    conn.execute(
                        "UPDATE suspensions SET cancelled_at_s = ? WHERE id = ?", (now, s["id"])
                    )
                else:
                    conn.execute("UPDATE suspensions SET to_day = ? WHERE id = ?", (eve, s["id"]))
                ended.append(int(s["id"]))
            _audit(
                conn, actor, "patient.readmit", role, f"patient:{patient_id}", ip,
                {
                    "day": day,
                    "admitted_on": current["admitted_on"],
                    "discharged_on": current["discharged_on"],
                    "suspensions_ended": ended,
                },
            )  # fmt: skip
            found = conn.execute("SELECT * FROM patients WHERE id = ?", (patient_id,)).fetchone()
            return _patient_view(conn, found, today=today)

        result: dict[str, Any] = self.engine.write(job)
        return result

    def patient_visits(
        self,
        patient_id: int,
        *,
        structures: Collection[int] | None,
        from_day: str,
        days: int,
    ) -> list[dict[str, Any]]:
        """The patient's visits from ``from_day`` for ``days`` days (pseudonym only), by day
        then window start."""
        first = dt.date.fromisoformat(parse_day(from_day, what="from"))
        last = (first + dt.timedelta(days=days - 1)).isoformat()
        with self.engine.snapshot() as conn:
            _patient_row(conn, patient_id, structures)
            rows = conn.execute(
                "SELECT id, day, pseudonym, care_kind, duration_s, windows, skills, priority,"
                " team_id, preferred_team_id, status, cancelled_by, care_plan_id, hand_edited,"
                " staff_count, start_epoch_s, occurrence_key FROM visits WHERE patient_id = ?"
                " AND day >= ? AND day <= ? ORDER BY day, json_extract(windows, '$[0][0]'), id",
                (patient_id, first.isoformat(), last),
            ).fetchall()
        out = []
        for r in rows:
            visit = {k: r[k] for k in r.keys()}
            visit["windows"] = json.loads(visit["windows"] or "[]")
            visit["skills"] = json.loads(visit["skills"] or "[]")
            visit["hand_edited"] = bool(visit["hand_edited"])
            visit["windows_hhmm"] = [[format_hhmm(a), format_hhmm(b)] for a, b in visit["windows"]]
            out.append(visit)
        return out

    def patient_place(
        self, patient_id: int, *, structures: Collection[int] | None
    ) -> dict[str, Any]:
        """``{address, commune, lon, lat, status}`` of a patient of ``structures``, for the
        service placing a changed address (not returned to a client, so not audited)."""
        with self.engine.read() as conn:
            row = _patient_row(conn, patient_id, structures)
        return {k: row[k] for k in ("address", "commune", "lon", "lat", "status")}

    def patient_identities(self, *, structures: Collection[int] | None) -> list[dict[str, Any]]:
        """``{id, pseudonym, family_name, given_name, birth_date}`` of the patients of
        ``structures`` not purged, for flagging an import's duplicates (only their ids and
        pseudonyms reach the client)."""
        where, args = _in("structure_id", structures)
        with self.engine.read() as conn:
            rows = conn.execute(
                "SELECT id, pseudonym, family_name, given_name, birth_date FROM patients"
                f" WHERE purged_at_s IS NULL AND {where}",
                args,
            ).fetchall()
        return [{k: r[k] for k in r.keys()} for r in rows]

    # -- suspensions -----------------------------------------------------------------------------
    def add_suspension(
        self,
        patient_id: int,
        data: dict[str, Any],
        *,
        structures: Collection[int] | None,
        actor: str,
        role: str | None = None,
        ip: str | None = None,
    ) -> dict[str, Any]:
        """Record a suspension (hospitalisation...) of a patient in care."""
        row = parse_suspension(data)

        def job(conn: sqlite3.Connection) -> dict[str, Any]:
            current = _patient_row(conn, patient_id, structures)
            if current["status"] == "discharged":
                raise ConflictError(f"patient {patient_id} was discharged: nothing to suspend")
            cur = conn.execute(
                "INSERT INTO suspensions (patient_id, from_day, to_day, reason, note, created_by,"
                " created_at_s) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    patient_id,
                    row["from_day"],
                    row["to_day"],
                    row["reason"],
                    row["note"],
                    actor,
                    now_s(),
                ),
            )
            suspension_id = int(cur.lastrowid or 0)
            _audit(
                conn, actor, "patient.suspend", role, f"patient:{patient_id}", ip,
                {"suspension_id": suspension_id, "from_day": row["from_day"], "to_day": row["to_day"]},
            )  # fmt: skip
            found = conn.execute(
                "SELECT * FROM suspensions WHERE id = ?", (suspension_id,)
            ).fetchone()
            return _suspension_view(found)

        result: dict[str, Any] = self.engine.write(job)
        return result

    def list_suspensions(
        self, patient_id: int, *, structures: Collection[int] | None
    ) -> list[dict[str, Any]]:
        """The patient's suspensions, newest first, each with ``cancelled``: the visits it
        cancelled (generation's ``cancelled_by = 'suspended'`` within its days)."""
        with self.engine.snapshot() as conn:
            _patient_row(conn, patient_id, structures)
            rows = conn.execute(
                "SELECT * FROM suspensions WHERE patient_id = ? ORDER BY from_day DESC, id DESC",
                (patient_id,),
            ).fetchall()
            out = []
            for r in rows:
                count = conn.execute(
                    "SELECT count(*) FROM visits WHERE patient_id = ? AND status = 'cancelled'"
                    " AND cancelled_by = 'suspended' AND day >= ? AND (? IS NULL OR day <= ?)",
                    (patient_id, r["from_day"], r["to_day"], r["to_day"]),
                ).fetchone()[0]
                out.append(_suspension_view(r, cancelled_visits=int(count)))
        return out

    def end_suspension(
        self,
        patient_id: int,
        suspension_id: int,
        *,
        structures: Collection[int] | None,
        actor: str,
        role: str | None = None,
        ip: str | None = None,
        today: str | None = None,
    ) -> dict[str, Any]:
        """End a suspension: one not yet begun is cancelled; one under way ends yesterday
        (the patient is back today); one already over cannot change (ConflictError)."""
        today = today or local_today()
        yesterday = (dt.date.fromisoformat(today) - dt.timedelta(days=1)).isoformat()

        def job(conn: sqlite3.Connection) -> dict[str, Any]:
            _patient_row(conn, patient_id, structures)
            row = conn.execute(
                "SELECT * FROM suspensions WHERE id = ? AND patient_id = ?",
                (suspension_id, patient_id),
            ).fetchone()
            if row is None:
                raise NotFoundError(f"suspension {suspension_id} does not exist")
            if row["cancelled_at_s"] is not None:
                raise ConflictError(f"suspension {suspension_id} was already cancelled")
            if row["to_day"] is not None and row["to_day"] < today:
                raise ConflictError(
                    f"suspension {suspension_id} ended on {row['to_day']}: a past suspension"
                    " stays on record"
                )
            if row["from_day"] >= today:
                conn.execute(
                    "UPDATE suspensions SET cancelled_at_s = ? WHERE id = ?",
                    (now_s(), suspension_id),
                )
                action = "patient.suspension.cancel"
            else:
                conn.execute(
                    "UPDATE suspensions SET to_day = ? WHERE id = ?", (yesterday, suspension_id)
                )
                action = "patient.suspension.end"
            _audit(
                conn,
                actor,
                action,
                role,
                f"patient:{patient_id}",
                ip,
                {"suspension_id": suspension_id},
            )
            found = conn.execute(
                "SELECT * FROM suspensions WHERE id = ?", (suspension_id,)
            ).fetchone()
            return _suspension_view(found)

        result: dict[str, Any] = self.engine.write(job)
        return result

    def live_suspensions(
        self, *, patient_ids: Collection[int] | None = None
    ) -> list[dict[str, Any]]:
        """Suspensions not cancelled (``{patient_id, from_day, to_day, reason}``), for
        :func:`dispatch.care.generation.suspension_from_dict`."""
        where, args = _in("patient_id", patient_ids)
        with self.engine.read() as conn:
            rows = conn.execute(
                "SELECT patient_id, from_day, to_day, reason FROM suspensions"
                f" WHERE cancelled_at_s IS NULL AND {where} ORDER BY patient_id, from_day",
                args,
            ).fetchall()
        return [{k: r[k] for k in r.keys()} for r in rows]

    # -- care plans ------------------------------------------------------------------------------
    def add_care_plan(
        self,
        patient_id: int,
        data: dict[str, Any],
        *,
        structures: Collection[int] | None,
        actor: str,
        role: str | None = None,
        ip: str | None = None,
        demo: bool = False,
    ) -> dict[str, Any]:
        """Create a care plan; its template is stored as ``VisitTemplate.to_dict()``."""
        label, _ = parse_care_plan(data, patient_id=patient_id)
        fields = {k: v for k, v in data.items() if k != "label"}

        def job(conn: sqlite3.Connection) -> dict[str, Any]:
            patient = _patient_row(conn, patient_id, structures)
            if patient["status"] == "discharged":
                raise ConflictError(f"patient {patient_id} was discharged: admit them again first")
            now = now_s()
            cur = conn.execute(
                "INSERT INTO care_plans (patient_id, structure_id, label, template, active, demo,"
                " created_at_s, updated_at_s) VALUES (?, ?, ?, '{}', 1, ?, ?, ?)",
                (patient_id, patient["structure_id"], label, int(demo), now, now),
            )
            plan_id = int(cur.lastrowid or 0)
            template = _template({**fields, "patient_id": patient_id}, plan_id=plan_id)
            conn.execute(
                "UPDATE care_plans SET template = ? WHERE id = ?",
                (dumps(template.to_dict()), plan_id),
            )
            _audit(
                conn, actor, "care_plan.create", role, f"patient:{patient_id}", ip,
                {"care_plan_id": plan_id},
            )  # fmt: skip
            return _care_plan_view(
                conn.execute("SELECT * FROM care_plans WHERE id = ?", (plan_id,)).fetchone()
            )

        result: dict[str, Any] = self.engine.write(job)
        return result

    def list_care_plans(
        self,
        patient_id: int,
        *,
        structures: Collection[int] | None,
        active: bool | None = None,
    ) -> list[dict[str, Any]]:
        """The patient's care plans (active first, then by id)."""
        with self.engine.snapshot() as conn:
            _patient_row(conn, patient_id, structures)
            rows = conn.execute(
                "SELECT * FROM care_plans WHERE patient_id = ? AND (? IS NULL OR active = ?)"
                " ORDER BY active DESC, id",
                (
                    patient_id,
                    None if active is None else int(active),
                    None if active is None else int(active),
                ),
            ).fetchall()
        return [_care_plan_view(r) for r in rows]

    def get_care_plan(
        self, patient_id: int, plan_id: int, *, structures: Collection[int] | None
    ) -> dict[str, Any]:
        """One care plan of the patient (NotFoundError if it is another's)."""
        with self.engine.read() as conn:
            _patient_row(conn, patient_id, structures)
            row = conn.execute(
                "SELECT * FROM care_plans WHERE id = ? AND patient_id = ?", (plan_id, patient_id)
            ).fetchone()
        if row is None:
            raise NotFoundError(f"care plan {plan_id} does not exist")
        return _care_plan_view(row)

    def update_care_plan(
        self,
        patient_id: int,
        plan_id: int,
        data: dict[str, Any],
        *,
        structures: Collection[int] | None,
        actor: str,
        role: str | None = None,
        ip: str | None = None,
    ) -> dict[str, Any]:
        """Change some fields of an active care plan (the rest stay), checked again whole."""
        if not isinstance(data, Mapping):
            raise ValidationError("send a JSON object with the care plan's fields")
        _unknown(data, CARE_PLAN_FIELDS, label="care plan")

        def job(conn: sqlite3.Connection) -> dict[str, Any]:
            _patient_row(conn, patient_id, structures)
            row = conn.execute(
                "SELECT * FROM care_plans WHERE id = ? AND patient_id = ?", (plan_id, patient_id)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"care plan {plan_id} does not exist")
            if not row["active"]:
                raise ConflictError(f"care plan {plan_id} has ended: create a new one")
            merged = {
                **json.loads(row["template"]),
                **{k: v for k, v in data.items() if k != "label"},
            }
            merged.update(template_id=plan_id, patient_id=patient_id)
            template = _template(merged, plan_id=plan_id)
            label = (
                _text(data["label"], what="care plan label", max_len=200)
                if "label" in data
                else row["label"]
            )
            conn.execute(
                "UPDATE care_plans SET template = ?, label = ?, updated_at_s = ? WHERE id = ?",
                (dumps(template.to_dict()), label, now_s(), plan_id),
            )
            _audit(
                conn, actor, "care_plan.update", role, f"patient:{patient_id}", ip,
                {"care_plan_id": plan_id, "fields": sorted(data)},
            )  # fmt: skip
            return _care_plan_view(
                conn.execute("SELECT * FROM care_plans WHERE id = ?", (plan_id,)).fetchone()
            )

        result: dict[str, Any] = self.engine.write(job)
        return result

    def end_care_plan(
        self,
        patient_id: int,
        plan_id: int,
        *,
        structures: Collection[int] | None,
        actor: str,
        role: str | None = None,
        ip: str | None = None,
    ) -> dict[str, Any]:
        """End a care plan (kept, inactive): generation cancels its future visits."""

        def job(conn: sqlite3.Connection) -> dict[str, Any]:
            _patient_row(conn, patient_id, structures)
            row = conn.execute(
                "SELECT * FROM care_plans WHERE id = ? AND patient_id = ?", (plan_id, patient_id)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"care plan {plan_id} does not exist")
            if not row["active"]:
                raise ConflictError(f"care plan {plan_id} has already ended")
            conn.execute(
                "UPDATE care_plans SET active = 0, updated_at_s = ? WHERE id = ?",
                (now_s(), plan_id),
            )
            _audit(
                conn, actor, "care_plan.end", role, f"patient:{patient_id}", ip,
                {"care_plan_id": plan_id},
            )  # fmt: skip
            return _care_plan_view(
                conn.execute("SELECT * FROM care_plans WHERE id = ?", (plan_id,)).fetchone()
            )

        result: dict[str, Any] = self.engine.write(job)
        return result

    def care_plan_templates(
        self,
        *,
        structures: Collection[int] | None = None,
        patient_ids: Collection[int] | None = None,
        care_plan_ids: Collection[int] | None = None,
        active: bool | None = True,
    ) -> list[tuple[dict[str, Any], VisitTemplate]]:
        """(care plan view, template) pairs for generation; ``active`` None: ended ones too."""
        clauses, args = [], []
        for column, ids in (
            ("structure_id", structures),
            ("patient_id", patient_ids),
            ("id", care_plan_ids),
        ):
            sql, values = _in(column, ids)
            clauses.append(sql)
            args += values
        if active is not None:
            clauses.append("active = ?")
            args.append(int(active))
        with self.engine.read() as conn:
            rows = conn.execute(
                f"SELECT * FROM care_plans WHERE {' AND '.join(clauses)} ORDER BY id", args
            ).fetchall()
        return [
            (
                _care_plan_view(r),
                template_from_dict(json.loads(r["template"]), label=f"care plan {r['id']}"),
            )
            for r in rows
        ]

    # -- sharings --------------------------------------------------------------------------------
    def add_sharing(
        self,
        patient_id: int,
        data: dict[str, Any],
        *,
        structures: Collection[int] | None,
        actor: str,
        role: str | None = None,
        ip: str | None = None,
        today: str | None = None,
    ) -> dict[str, Any]:
        """Record the patient's consent to share their record with another structure."""
        row = parse_sharing(data, today=today or local_today())

        def job(conn: sqlite3.Connection) -> dict[str, Any]:
            patient = _patient_row(conn, patient_id, structures)
            target = conn.execute(
                "SELECT id FROM structures WHERE id = ?", (row["structure_id"],)
            ).fetchone()
            if target is None:
                raise NotFoundError(f"structure {row['structure_id']} does not exist")
            if row["structure_id"] == patient["structure_id"]:
                raise ConflictError(
                    "sharing: the patient already belongs to this structure: choose another one"
                )
            if _live_sharing(conn, patient_id, [row["structure_id"]]) is not None:
                raise ConflictError(
                    f"patient {patient_id} is already shared with structure {row['structure_id']}:"
                    " revoke that sharing first to record a new consent"
                )
            cur = conn.execute(
                "INSERT INTO sharings (patient_id, structure_id, consent_on, purpose, recorded_by,"
                " created_at_s) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    patient_id,
                    row["structure_id"],
                    row["consent_on"],
                    row["purpose"],
                    actor,
                    now_s(),
                ),
            )
            sharing_id = int(cur.lastrowid or 0)
            _audit(
                conn, actor, "patient.share", role, f"patient:{patient_id}", ip,
                {"sharing_id": sharing_id, "structure_id": row["structure_id"], "consent_on": row["consent_on"]},
            )  # fmt: skip
            return _sharing_view(
                conn.execute("SELECT * FROM sharings WHERE id = ?", (sharing_id,)).fetchone()
            )

        result: dict[str, Any] = self.engine.write(job)
        return result

    def list_sharings(
        self, patient_id: int, *, structures: Collection[int] | None
    ) -> list[dict[str, Any]]:
        """The patient's sharings (live and revoked), newest first, with the structure's name."""
        with self.engine.snapshot() as conn:
            _patient_row(conn, patient_id, structures)
            rows = conn.execute(
                "SELECT sh.*, st.name AS structure_name FROM sharings sh JOIN structures st"
                " ON st.id = sh.structure_id WHERE sh.patient_id = ? ORDER BY sh.id DESC",
                (patient_id,),
            ).fetchall()
        return [_sharing_view(r) for r in rows]

    def revoke_sharing(
        self,
        patient_id: int,
        sharing_id: int,
        *,
        structures: Collection[int] | None,
        actor: str,
        role: str | None = None,
        ip: str | None = None,
    ) -> dict[str, Any]:
        """Revoke a sharing (the patient withdrew consent): the other structure reads no more."""

        def job(conn: sqlite3.Connection) -> dict[str, Any]:
            _patient_row(conn, patient_id, structures)
            row = conn.execute(
                "SELECT * FROM sharings WHERE id = ? AND patient_id = ?", (sharing_id, patient_id)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"sharing {sharing_id} does not exist")
            if row["revoked_at_s"] is not None:
                raise ConflictError(f"sharing {sharing_id} was already revoked")
            conn.execute("UPDATE sharings SET revoked_at_s = ? WHERE id = ?", (now_s(), sharing_id))
            _audit(
                conn, actor, "patient.share.revoke", role, f"patient:{patient_id}", ip,
                {"sharing_id": sharing_id, "structure_id": row["structure_id"]},
            )  # fmt: skip
            return _sharing_view(
                conn.execute("SELECT * FROM sharings WHERE id = ?", (sharing_id,)).fetchone()
            )

        result: dict[str, Any] = self.engine.write(job)
        return result

    # -- export and purge ------------------------------------------------------------------------
    def export_patient(
        self,
        patient_id: int,
        *,
        structures: Collection[int] | None,
        actor: str,
        role: str | None = None,
        ip: str | None = None,
        today: str | None = None,
    ) -> dict[str, Any]:
        """Everything stored about a patient (a subject access request, RGPD art. 15):
        identity, care plans, suspensions, sharings, visits with their protected details and
        events, and the audit of who read the record. Audited ``patient.export``."""
        today = today or local_today()

        def job(conn: sqlite3.Connection) -> dict[str, Any]:
            row = _patient_row(conn, patient_id, structures)
            target = f"patient:{patient_id}"
            visits = []
            for v in conn.execute(
                "SELECT * FROM visits WHERE patient_id = ? ORDER BY day, id", (patient_id,)
            ).fetchall():
                visit = {k: v[k] for k in v.keys()}
                for key in ("windows", "skills", "protected", "wishes"):
                    if isinstance(visit.get(key), str):
                        visit[key] = json.loads(visit[key])
                visit["events"] = [
                    {k: e[k] for k in e.keys()}
                    for e in conn.execute(
                        "SELECT id, kind, note, device_time_s, server_time_s, team_id, actor"
                        " FROM visit_events WHERE visit_id = ? ORDER BY id",
                        (v["id"],),
                    )
                ]
                visits.append(visit)
            visit_targets = [f"visit:{v['id']}" for v in visits]
            audit_by_id: dict[int, dict[str, Any]] = {}
            for start in range(0, len(visit_targets) + 1, 500):
                chunk = [target, *visit_targets[start : start + 500]]
                marks = ", ".join("?" for _ in chunk)
                for a in conn.execute(
                    "SELECT id, at_s, actor, role, action, target, ip FROM audit_log"
                    f" WHERE target IN ({marks})",
                    chunk,
                ):
                    audit_by_id[int(a["id"])] = {k: a[k] for k in a.keys() if k != "id"}
            audit = [audit_by_id[i] for i in sorted(audit_by_id)]
            structure = conn.execute(
                "SELECT id, name, kind, finess FROM structures WHERE id = ?", (row["structure_id"],)
            ).fetchone()
            export = {
                "format": "dispatch.patient-export/1",
                "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "structure": {k: structure[k] for k in structure.keys()} if structure else None,
                "patient": _patient_view(conn, row, today=today),
                "care_plans": [
                    _care_plan_view(r)
                    for r in conn.execute(
                        "SELECT * FROM care_plans WHERE patient_id = ? ORDER BY id", (patient_id,)
                    )
                ],
                "suspensions": [
                    _suspension_view(r)
                    for r in conn.execute(
                        "SELECT * FROM suspensions WHERE patient_id = ? ORDER BY id", (patient_id,)
                    )
                ],
                "sharings": [
                    _sharing_view(r)
                    for r in conn.execute(
                        "SELECT * FROM sharings WHERE patient_id = ? ORDER BY id", (patient_id,)
                    )
                ],
                "visits": visits,
                "audit": audit,
            }
            _audit(conn, actor, "patient.export", role, target, ip, {"visits": len(visits)})
            return export

        result: dict[str, Any] = self.engine.write(job)
        return result

    def purge_patients(
        self, *, retention_days: float, now: float | None = None, actor: str = "system"
    ) -> dict[str, int]:
        """Erase the identity of patients archived more than ``retention_days`` ago.

        Kept: the pseudonym, the structure, the dates (admission, discharge) and the care
        plans, so that the rounds' history and statistics stay whole; erased: names, birth
        date, phone, address and place, access notes, doctor, contacts, identifiers, notes of
        suspensions, and the protected details and address of the patient's visits (whose
        places are rounded to about 1 km). One audit line per purged patient.
        """
        if retention_days <= 0:
            raise ValidationError("patient_retention_days must be positive")
        at = now_s() if now is None else now
        cutoff = at - retention_days * 86_400

        def job(conn: sqlite3.Connection) -> dict[str, int]:
            ids = [
                int(r[0])
                for r in conn.execute(
                    "SELECT id FROM patients WHERE archived_at_s IS NOT NULL AND archived_at_s < ?"
                    " AND purged_at_s IS NULL ORDER BY id",
                    (cutoff,),
                )
            ]
            visits = 0
            for patient_id in ids:
                erased = ", ".join(f"{c} = NULL" for c in IDENTITY_COLUMNS)
                conn.execute(
                    f"UPDATE patients SET {erased}, contacts = '[]', external_ids = '{{}}',"
                    " purged_at_s = ?, updated_at_s = ? WHERE id = ?",
                    (at, at, patient_id),
                )
                conn.execute(
                    "UPDATE suspensions SET note = NULL WHERE patient_id = ?", (patient_id,)
                )
                visits += conn.execute(
                    "UPDATE visits SET protected = NULL, address = NULL,"
                    " lon = round(lon, 2), lat = round(lat, 2) WHERE patient_id = ?",
                    (patient_id,),
                ).rowcount
                conn.execute(
                    "UPDATE visit_events SET note = NULL WHERE visit_id IN"
                    " (SELECT id FROM visits WHERE patient_id = ?)",
                    (patient_id,),
                )
                _audit(
                    conn, actor, "patient.purge", None, f"patient:{patient_id}", None,
                    {"retention_days": retention_days},
                )  # fmt: skip
            return {"patients": len(ids), "visits": visits}

        result: dict[str, int] = self.engine.write(job)
        return result


def _end_plan_on(
    conn: sqlite3.Connection, plan: sqlite3.Row, discharge_day: str, now: float
) -> None:
    """End a care plan the day before ``discharge_day``: its end_day moves there, or it ends
    outright if it has not begun by then."""
    template = json.loads(plan["template"])
    day = (dt.date.fromisoformat(discharge_day) - dt.timedelta(days=1)).isoformat()
    if template["start_day"] > day:
        conn.execute(
            "UPDATE care_plans SET active = 0, updated_at_s = ? WHERE id = ?", (now, plan["id"])
        )
        return
    if template.get("end_day") is None or template["end_day"] > day:
        template["end_day"] = day
        template["additions"] = [d for d in template.get("additions") or [] if d <= day]
        template["exceptions"] = [d for d in template.get("exceptions") or [] if d <= day]
        try:
            checked = template_from_dict(template, label=f"care plan {plan['id']}")
        except ValidationError:  # no day left before ``day``: nothing more to plan
            conn.execute(
                "UPDATE care_plans SET active = 0, updated_at_s = ? WHERE id = ?", (now, plan["id"])
            )
            return
        conn.execute(
            "UPDATE care_plans SET template = ?, updated_at_s = ? WHERE id = ?",
            (dumps(checked.to_dict()), now, plan["id"]),
        )
