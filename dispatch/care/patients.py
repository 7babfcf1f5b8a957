"""Patients' records and care plans: one service function per user action (no Flask here),
called by the web, the CLI and the demo.

Each change that alters visits (a care plan added, changed or ended, a suspension, a
discharge or readmission, a new address) is followed by a regeneration of the patient's (or the plan's)
visits over the horizon through :func:`dispatch.care.service.generate_visits`; the functions
return its counts (``{"created", "updated", "unchanged", "cancelled", ...}``) with the record.

Addresses are placed by the territory's offline geocoder
(:class:`dispatch.territory.Geocoder`, passed in: the web builds it once per app); a place
given as lon/lat is the coordinator's pin (``geocode_precision`` "manual",
``pin_corrected``).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dispatch.errors import AddressNotFoundError, DispatchError, NotBuiltError, ValidationError
from dispatch.intake.review import GeocoderLike, csv_delimiter
from dispatch.store.models import ServiceArea, local_today, shown
from dispatch.store.patients import PATIENT_FIELDS, parse_patient

#: Fields of a patient that generated visits copy (place, pseudonym, protected details).
VISIT_FIELDS = (
    "pseudonym",
    "family_name",
    "given_name",
    "phone",
    "address",
    "commune",
    "lon",
    "lat",
    "access_notes",
)
#: Most rows in one CSV of patients.
MAX_ROWS = 5000


@dataclass(frozen=True)
class Caller:
    """Who acts: the audit's actor (``user:3``, ``cli``, ``demo``), role and address, and the
    structures whose patients they may see (None: unrestricted, the CLI and system jobs)."""

    actor: str
    role: str | None = None
    ip: str | None = None
    structures: Collection[int] | None = None


@dataclass(frozen=True)
class Generation:
    """How regeneration runs after a change: horizon, time zone, the present, the bus."""

    today: str | None = None
    horizon_days: int = 14
    tz: str = "Europe/Paris"
    now_s: float | None = None
    bus: Any = None


def _today(gen: Generation) -> str:
    return gen.today or local_today(gen.tz)


def regenerate(
    store: Any,
    caller: Caller,
    gen: Generation,
    *,
    patient_ids: Collection[int] | None = None,
    care_plan_ids: Collection[int] | None = None,
) -> dict[str, Any]:
    """Regenerate the visits of ``patient_ids`` or ``care_plan_ids`` from today over the
    horizon; the generation's counts."""
    from dispatch.care.service import generate_visits

    result = generate_visits(
        store,
        gen.bus,
        from_day=_today(gen),
        days=gen.horizon_days,
        structures=caller.structures,
        patient_ids=patient_ids,
        care_plan_ids=care_plan_ids,
        now_s=gen.now_s,
        tz=gen.tz,
        actor=caller.actor,
    )
    counts: dict[str, Any] = result.to_dict()
    return counts


# -- places ----------------------------------------------------------------------------------------
def _commune_of(label: str) -> str | None:
    """« Melun » from a geocoder label « Rue de la Gare, Melun » (a commune's label is itself)."""
    return label.rsplit(",", 1)[-1].strip() or None


def place(
    data: Mapping[str, Any],
    geocoder: GeocoderLike | None,
    *,
    area: ServiceArea | None = None,
    label: str = "patient",
) -> dict[str, Any]:
    """``data`` with its home placed: lon/lat given are the coordinator's pin (precision
    "manual", pin corrected, unless the caller says otherwise); else the address (and
    commune) geocoded offline, with the match's precision.

    Raises AddressNotFoundError (422) for an address the territory does not know,
    NotBuiltError when no territory is built (then only a pin places the patient).
    """
    out = dict(data)
    if out.get("lon") is not None and out.get("lat") is not None:
        out.setdefault("geocode_precision", "manual")
        out.setdefault("pin_corrected", out["geocode_precision"] == "manual")
    else:
        out.pop("lon", None)
        out.pop("lat", None)
        address = str(out.get("address") or "").strip()
        commune = str(out.get("commune") or "").strip()
        if not address and not commune:
            raise ValidationError(
                f"{label}: give the address (it is placed on the map) or lon and lat (the pin)"
            )
        if geocoder is None:
            raise NotBuiltError(
                f"{label}: the territory is not built, addresses cannot be placed: place the pin"
                " on the map (lon and lat)"
            )
        query = ", ".join(p for p in (address, commune) if p)
        found = geocoder.geocode(query, limit=1)
        if not found:
            raise AddressNotFoundError(
                f"{label}: address {shown(query)} not found in the territory: correct it or"
                " place the pin on the map"
            )
        match = found[0]
        out["lon"], out["lat"] = float(match.lon), float(match.lat)
        out["geocode_precision"] = match.precision
        out["pin_corrected"] = False
        if not commune:
            out["commune"] = _commune_of(match.label)
    if area is not None:
        area.check(out["lon"], out["lat"], what=f"{label}: home")
    return out


def _text_of(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


# -- patients --------------------------------------------------------------------------------------
def create_patient(
    store: Any,
    data: Mapping[str, Any],
    *,
    caller: Caller,
    structure_id: int,
    geocoder: GeocoderLike | None = None,
    area: ServiceArea | None = None,
    today: str | None = None,
    demo: bool = False,
) -> dict[str, Any]:
    """Admit a patient into ``structure_id``: the address placed, a pseudonym drawn if none."""
    if not isinstance(data, Mapping):
        raise ValidationError("send a JSON object with the patient's fields")
    fields = {k: v for k, v in data.items() if k != "structure_id"}
    parse_patient({**fields, "structure_id": structure_id, "lon": 0.0, "lat": 0.0,
                   "geocode_precision": "manual"})  # fmt: skip
    placed = place(fields, geocoder, area=area)
    patient: dict[str, Any] = store.add_patient(
        {**placed, "structure_id": structure_id},
        actor=caller.actor,
        role=caller.role,
        ip=caller.ip,
        demo=demo,
        today=today,
    )
    return patient


def update_patient(
    store: Any,
    patient_id: int,
    data: Mapping[str, Any],
    *,
    caller: Caller,
    gen: Generation,
    geocoder: GeocoderLike | None = None,
    area: ServiceArea | None = None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Change a patient's record; a new address without a pin is placed again. The visits
    copy the place and the details: a change of them regenerates the patient's visits."""
    if not isinstance(data, Mapping):
        raise ValidationError("send a JSON object with the fields to change")
    changes = dict(data)
    parse_patient(changes, partial=True)
    if "lon" in changes and changes["lon"] is not None:
        changes = place(changes, None, area=area)
    elif _text_of(changes.get("address")) or _text_of(changes.get("commune")):
        # A new address places the patient again; one cleared keeps the pin where it is.
        current = store.patient_place(patient_id, structures=caller.structures)
        merged = {
            "address": changes.get("address", current["address"]),
            "commune": changes.get("commune", current["commune"]),
        }
        placed = place(merged, geocoder, area=area)
        changes.update({k: v for k, v in placed.items() if k not in ("address", "commune")})
        if "commune" not in changes and placed.get("commune"):
            changes["commune"] = placed["commune"]
    patient: dict[str, Any] = store.update_patient(
        patient_id,
        changes,
        structures=caller.structures,
        actor=caller.actor,
        role=caller.role,
        ip=caller.ip,
        today=_today(gen),
    )
    generation = None
    if set(changes) & set(VISIT_FIELDS) and patient["status"] != "discharged":
        generation = regenerate(store, caller, gen, patient_ids=[patient_id])
    return patient, generation


def discharge_patient(
    store: Any, patient_id: int, day: str | None, *, caller: Caller, gen: Generation
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Discharge on ``day`` (default today): the record is archived; its visits from that day
    on are cancelled."""
    patient: dict[str, Any] = store.discharge_patient(
        patient_id,
        day or _today(gen),
        structures=caller.structures,
        actor=caller.actor,
        role=caller.role,
        ip=caller.ip,
        today=_today(gen),
    )
    return patient, regenerate(store, caller, gen, patient_ids=[patient_id])


def readmit_patient(
    store: Any, patient_id: int, day: str | None, *, caller: Caller, gen: Generation
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Readmit a discharged patient on ``day`` (default today): in care again, no longer
    archived. The care plans the discharge ended stay ended (no visit comes back by itself):
    the coordinator adds the care plan the patient needs now."""
    patient: dict[str, Any] = store.readmit_patient(
        patient_id,
        day or _today(gen),
        structures=caller.structures,
        actor=caller.actor,
        role=caller.role,
        ip=caller.ip,
        today=_today(gen),
    )
    return patient, regenerate(store, caller, gen, patient_ids=[patient_id])


# -- suspensions -----------------------------------------------------------------------------------
def add_suspension(
    store: Any, patient_id: int, data: Mapping[str, Any], *, caller: Caller, gen: Generation
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Record a hospitalisation (holiday, respite...) from/to: its visits are cancelled."""
    suspension: dict[str, Any] = store.add_suspension(
        patient_id,
        dict(data) if isinstance(data, Mapping) else data,
        structures=caller.structures,
        actor=caller.actor,
        role=caller.role,
        ip=caller.ip,
    )
    return suspension, regenerate(store, caller, gen, patient_ids=[patient_id])


def end_suspension(
    store: Any, patient_id: int, suspension_id: int, *, caller: Caller, gen: Generation
) -> tuple[dict[str, Any], dict[str, Any]]:
    """End (or cancel, if not begun) a suspension: the visits it cancelled come back."""
    suspension: dict[str, Any] = store.end_suspension(
        patient_id,
        suspension_id,
        structures=caller.structures,
        actor=caller.actor,
        role=caller.role,
        ip=caller.ip,
        today=_today(gen),
    )
    return suspension, regenerate(store, caller, gen, patient_ids=[patient_id])


# -- care plans ------------------------------------------------------------------------------------
def add_care_plan(
    store: Any,
    patient_id: int,
    data: Mapping[str, Any],
    *,
    caller: Caller,
    gen: Generation,
    demo: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Add a care plan; its visits over the horizon are generated."""
    plan: dict[str, Any] = store.add_care_plan(
        patient_id,
        dict(data) if isinstance(data, Mapping) else data,
        structures=caller.structures,
        actor=caller.actor,
        role=caller.role,
        ip=caller.ip,
        demo=demo,
    )
    return plan, regenerate(store, caller, gen, care_plan_ids=[plan["id"]])


def update_care_plan(
    store: Any,
    patient_id: int,
    plan_id: int,
    data: Mapping[str, Any],
    *,
    caller: Caller,
    gen: Generation,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Change a care plan: its future visits not edited by hand follow."""
    plan: dict[str, Any] = store.update_care_plan(
        patient_id,
        plan_id,
        dict(data) if isinstance(data, Mapping) else data,
        structures=caller.structures,
        actor=caller.actor,
        role=caller.role,
        ip=caller.ip,
    )
    return plan, regenerate(store, caller, gen, care_plan_ids=[plan_id])


def end_care_plan(
    store: Any, patient_id: int, plan_id: int, *, caller: Caller, gen: Generation
) -> tuple[dict[str, Any], dict[str, Any]]:
    """End a care plan: its future visits are cancelled."""
    plan: dict[str, Any] = store.end_care_plan(
        patient_id,
        plan_id,
        structures=caller.structures,
        actor=caller.actor,
        role=caller.role,
        ip=caller.ip,
    )
    return plan, regenerate(store, caller, gen, care_plan_ids=[plan_id])


# -- sharing ---------------------------------------------------------------------------------------
def share_patient(
    store: Any,
    patient_id: int,
    data: Mapping[str, Any],
    *,
    caller: Caller,
    today: str | None = None,
) -> dict[str, Any]:
    """Record the patient's consent (dated) to let another structure (a DAC) read the record."""
    sharing: dict[str, Any] = store.add_sharing(
        patient_id,
        dict(data) if isinstance(data, Mapping) else data,
        structures=caller.structures,
        actor=caller.actor,
        role=caller.role,
        ip=caller.ip,
        today=today,
    )
    return sharing


def revoke_sharing(
    store: Any, patient_id: int, sharing_id: int, *, caller: Caller
) -> dict[str, Any]:
    """The patient withdrew consent: the other structure no longer reads the record."""
    sharing: dict[str, Any] = store.revoke_sharing(
        patient_id,
        sharing_id,
        structures=caller.structures,
        actor=caller.actor,
        role=caller.role,
        ip=caller.ip,
    )
    return sharing


# -- CSV import ------------------------------------------------------------------------------------
#: Columns of a CSV of patients. ``id_<SYSTEM>`` columns (id_INS, id_HAD...) give external
#: identifiers; contact_name/contact_relation/contact_phone one contact.
CSV_COLUMNS = (
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
    "access_notes",
    "referring_doctor",
    "admitted_on",
    "contact_name",
    "contact_relation",
    "contact_phone",
)
_ID_COLUMN = re.compile(r"^id_([A-Za-z0-9][A-Za-z0-9_.\-]{0,39})$")
_SEX_WORDS = {
    "f": "female",
    "femme": "female",
    "female": "female",
    "m": "male",
    "h": "male",
    "homme": "male",
    "male": "male",
    "other": "other",
    "autre": "other",
    "": "unknown",
    "unknown": "unknown",
    "inconnu": "unknown",
}
_FRENCH_DAY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")


@dataclass
class PatientRow:
    """One CSV line under review: the patient's fields (placed when possible), the geocoder's
    match, what is wrong, a warning to check on the map, the patient it probably repeats."""

    line: int
    patient: dict[str, Any] = field(default_factory=dict)
    match: dict[str, Any] | None = None
    error: str | None = None
    warning: str | None = None
    duplicate_of: dict[str, Any] | None = None

    @property
    def importable(self) -> bool:
        return self.error is None and "lon" in self.patient and "lat" in self.patient

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "patient": self.patient,
            "match": self.match,
            "error": self.error,
            "warning": self.warning,
            "duplicate_of": self.duplicate_of,
            "importable": self.importable,
        }


def read_patient_csv(text: str) -> list[tuple[int, dict[str, str]]]:
    """(line, row) of each non-empty line; columns checked, cells stripped."""
    reader = csv.DictReader(io.StringIO(text), delimiter=csv_delimiter(text))
    try:
        raw_header = [h.strip() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise ValidationError(f"the CSV header cannot be read: {exc}") from None
    if not raw_header:
        raise ValidationError("the CSV has no header line: the first line must name the columns")
    header = [h if _ID_COLUMN.match(h) else h.lower() for h in raw_header]
    unknown = sorted(h for h in header if h not in CSV_COLUMNS and not _ID_COLUMN.match(h))
    if unknown:
        raise ValidationError(
            f"unknown CSV column(s) {', '.join(shown(u, 40) for u in unknown[:5])}; known:"
            f" {', '.join(CSV_COLUMNS)} and id_SYSTEM (e.g. id_INS)"
        )
    if "family_name" not in header:
        raise ValidationError("the CSV has no family_name column: it names each patient")
    reader.fieldnames = header
    rows: list[tuple[int, dict[str, str]]] = []
    while True:
        try:
            raw = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise ValidationError(
                f"line {reader.line_num}: the CSV cannot be read ({exc}): check the quotes"
            ) from None
        row = {k: (v or "").strip() for k, v in raw.items() if isinstance(k, str)}
        if not any(row.values()):
            continue
        for key in ("lon", "lat"):
            if _DECIMAL_COMMA.match(row.get(key) or ""):
                row[key] = row[key].replace(",", ".")
        rows.append((reader.line_num, row))
        if len(rows) > MAX_ROWS:
            raise ValidationError(f"more than {MAX_ROWS} rows: split the file")
    if not rows:
        raise ValidationError("the CSV has a header but no patient rows")
    return rows


def _day(value: str) -> str:
    m = _FRENCH_DAY.match(value)
    return f"{m[3]}-{int(m[2]):02d}-{int(m[1]):02d}" if m else value


def _row_patient(row: Mapping[str, str], *, label: str) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key in ("pseudonym", "family_name", "given_name", "phone", "address", "commune",
                "access_notes", "referring_doctor"):  # fmt: skip
        if row.get(key):
            data[key] = row[key]
    for key in ("birth_date", "admitted_on"):
        if row.get(key):
            data[key] = _day(row[key])
    sex = (row.get("sex") or "").strip().lower()
    if sex not in _SEX_WORDS:
        raise ValidationError(
            f"{label}: sex {shown(row['sex'])}: use F, M, other or leave it empty"
        )
    data["sex"] = _SEX_WORDS[sex]
    if bool(row.get("lon")) != bool(row.get("lat")):
        raise ValidationError(f"{label}: give both lon and lat, or neither (then the address)")
    if row.get("lon"):
        try:
            data["lon"], data["lat"] = float(row["lon"]), float(row["lat"])
        except ValueError:
            raise ValidationError(
                f"{label}: lon and lat must be numbers, e.g. 9.45 and 42.70"
            ) from None
    ids = {m[1]: v for k, v in row.items() if (m := _ID_COLUMN.match(k)) and v}
    if ids:
        data["external_ids"] = ids
    if row.get("contact_name"):
        data["contacts"] = [
            {
                "name": row["contact_name"],
                "relation": row.get("contact_relation") or None,
                "phone": row.get("contact_phone") or None,
            }
        ]
    elif row.get("contact_phone") or row.get("contact_relation"):
        raise ValidationError(f"{label}: contact_name is empty: name the contact")
    # Checked as the store will (a stand-in place until the address gives one).
    try:
        parse_patient({**data, "structure_id": 1, "lon": data.get("lon", 0.0),
                       "lat": data.get("lat", 0.0), "geocode_precision": "manual"})  # fmt: skip
    except ValidationError as exc:
        raise ValidationError(f"{label}: {exc.message}") from None
    return data


def _identity_key(p: Mapping[str, Any]) -> tuple[str, str, str] | None:
    def norm(text: Any) -> str:
        plain = unicodedata.normalize("NFKD", str(text or ""))
        return "".join(c for c in plain if c.isalnum()).casefold()

    family = norm(p.get("family_name"))
    if not family:
        return None
    return family, norm(p.get("given_name")), str(p.get("birth_date") or "")


def _flag_duplicates(rows: list[PatientRow], existing: Iterable[Mapping[str, Any]]) -> None:
    """Same family name, given name and birth date as a stored patient or an earlier line."""
    seen: dict[tuple[str, str, str], dict[str, Any]] = {}
    for p in existing:
        key = _identity_key(p)
        if key is not None:
            seen.setdefault(key, {"patient_id": p["id"], "pseudonym": p.get("pseudonym")})
    for row in rows:
        key = _identity_key(row.patient)
        if key is None:
            continue
        if key in seen:
            row.duplicate_of = seen[key]
        else:
            seen[key] = {"line": row.line, "pseudonym": row.patient.get("pseudonym")}


class _Memo:
    def __init__(self, geocoder: GeocoderLike) -> None:
        self.geocoder = geocoder
        self.answers: dict[tuple[str, int], list[Any]] = {}

    def geocode(self, text: str, *, limit: int = 5) -> list[Any]:
        key = (text.strip().casefold(), limit)
        if key not in self.answers:
            self.answers[key] = self.geocoder.geocode(text, limit=limit)
        return self.answers[key]


def preview_patients_csv(
    text: str,
    *,
    geocoder: GeocoderLike | None,
    existing: Iterable[Mapping[str, Any]] = (),
    area: ServiceArea | None = None,
) -> list[PatientRow]:
    """One reviewed row per CSV line (nothing stored): fields, place and precision or error,
    the stored patient or earlier line it probably repeats (``existing``: the structure's
    patients with id, pseudonym, family_name, given_name, birth_date)."""
    memo = _Memo(geocoder) if geocoder is not None else None
    rows: list[PatientRow] = []
    for line, raw in read_patient_csv(text):
        label = f"line {line}"
        row = PatientRow(line)
        try:
            row.patient = _row_patient(raw, label=label)
        except DispatchError as exc:
            row.error = exc.message
            row.patient = {
                k: raw[k] for k in ("family_name", "given_name", "address", "commune") if raw.get(k)
            }
            rows.append(row)
            continue
        try:
            placed = place(row.patient, memo, area=area, label=label)
            row.patient = placed
            if placed["geocode_precision"] == "manual":
                row.match = {"precision": "given", "lon": placed["lon"], "lat": placed["lat"]}
            else:
                assert memo is not None
                found = memo.geocode(
                    ", ".join(p for p in (raw.get("address"), raw.get("commune")) if p), limit=1
                )
                row.match = found[0].to_dict()
                if placed["geocode_precision"] == "commune" and raw.get("address"):
                    row.warning = (
                        f"{label}: street of {shown(raw['address'])} not found, the pin is at the"
                        f" centre of {row.match['label']}: place it on the map"
                    )
        except DispatchError as exc:
            row.error = exc.message
        rows.append(row)
    _flag_duplicates(rows, existing)
    return rows


def confirm_patient_rows(
    items: Any, *, geocoder: GeocoderLike | None, area: ServiceArea | None = None
) -> tuple[list[dict[str, Any]], list[str], list[dict[str, Any]]]:
    """(patients placed, labels, errors) from reviewed rows ``[{"line", "patient"}]``; a row
    placed only at its commune's centre must have its pin placed (an error otherwise)."""
    if not isinstance(items, list) or not items:
        raise ValidationError("rows must be a non-empty list of {line, patient}: tick some rows")
    if len(items) > MAX_ROWS:
        raise ValidationError(f"more than {MAX_ROWS} rows: split the file")
    memo = _Memo(geocoder) if geocoder is not None else None
    patients, labels, errors = [], [], []
    for k, item in enumerate(items):
        line = item.get("line") if isinstance(item, Mapping) else None
        line = line if isinstance(line, int) and not isinstance(line, bool) else None
        label = f"line {line}" if line is not None else f"row {k + 1}"
        try:
            if not isinstance(item, Mapping) or not isinstance(item.get("patient"), Mapping):
                raise ValidationError(f"{label}: send {{line, patient}} with the patient's fields")
            data = {key: v for key, v in item["patient"].items() if key in PATIENT_FIELDS}
            data.pop("structure_id", None)
            placed = place(data, memo, area=area, label=label)
            if placed["geocode_precision"] == "commune" and placed.get("address"):
                raise ValidationError(
                    f"{label}: street of {shown(placed['address'])} not found: place the pin on the map"
                )
            parse_patient({**placed, "structure_id": 1})
            patients.append(placed)
            labels.append(label)
        except DispatchError as exc:
            errors.append({"line": line, "error": exc.message})
    return patients, labels, errors


def import_patients(
    store: Any,
    items: Any,
    *,
    caller: Caller,
    structure_id: int,
    geocoder: GeocoderLike | None,
    area: ServiceArea | None = None,
    today: str | None = None,
) -> list[dict[str, Any]]:
    """Admit the reviewed rows in one transaction (all or none; per-row errors in details)."""
    patients, labels, errors = confirm_patient_rows(items, geocoder=geocoder, area=area)
    if errors:
        raise ValidationError(
            f"{len(errors)} row(s) cannot be imported; nothing was imported: place their pins"
            " or leave them out",
            details=errors,
        )
    created: list[dict[str, Any]] = store.add_patients(
        [{**p, "structure_id": structure_id} for p in patients],
        actor=caller.actor,
        role=caller.role,
        ip=caller.ip,
        today=today,
        labels=labels,
    )
    store.audit(
        caller.actor, "patient.import", role=caller.role, ip=caller.ip,
        detail={"rows": len(created), "structure_id": structure_id},
    )  # fmt: skip
    return created
