"""Visits generated from care plans: the stored occurrences and the apply step of a generation.

:meth:`GeneratedVisitsMixin.generation_inputs` reads what a generation needs for the care
plans in scope (templates, suspensions, the visits already generated over the horizon, and
the patients', plans' and structures' fields a visit copies); the pure
:func:`dispatch.care.generation.generate` turns that into a :class:`GenerationPlan`;
:meth:`GeneratedVisitsMixin.apply_generation` writes it in one transaction.

The plan is computed outside the write transaction (the writer thread also stores the
phones' positions: it must not wait on the recurrence arithmetic), so each write is guarded
by what the plan was computed from: a visit created meanwhile is not created twice (the
unique ``occurrence_key``), a visit edited by hand meanwhile is not overwritten, a visit
started meanwhile is not cancelled. The counts returned are those of the rows written.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dispatch.care.generation import (
    Cancellation,
    ExistingOccurrence,
    GenerationPlan,
    Suspension,
)
from dispatch.care.recurrence import (
    TEMPLATE_FIELDS,
    Occurrence,
    OccurrenceKey,
    VisitTemplate,
    template_from_dict,
)
from dispatch.errors import ConflictError, NotFoundError, ValidationError
from dispatch.store.core import now_s as clock_s
from dispatch.store.rows import dumps

if TYPE_CHECKING:
    from dispatch.store.core import Engine

log = logging.getLogger(__name__)

#: The care kind of a generated visit, from its structure's kind (others: nursing).
CARE_KIND_BY_STRUCTURE = {"palliative_team": "palliative", "geriatric_team": "geriatric"}
#: Reason of the suspension that stands for a discharge (from the discharge day, for good).
DISCHARGED = "discharged"
#: Ids per ``IN (...)`` list (below SQLite's limit on bound parameters).
_CHUNK = 500


@dataclass(frozen=True)
class PlanInfo:
    """What a generated visit copies from its care plan."""

    care_plan_id: int
    patient_id: int
    structure_id: int
    label: str
    active: bool
    demo: bool


@dataclass
class GenerationInputs:
    """What a generation over ``first``..``last`` reads from the store, for the plans in scope.

    ``templates``: the active care plans of patients who can be visited (placed on the map);
    ``retired``: plans in scope that give no visit any more (deleted, or their patient has no
    place): their open visits are cancelled; ``existing``: the generated visits of all of them
    over the horizon, and ``visit_ids`` their ids.
    """

    first: dt.date
    last: dt.date
    templates: list[VisitTemplate] = field(default_factory=list)
    retired: list[int] = field(default_factory=list)
    suspensions: list[Suspension] = field(default_factory=list)
    existing: list[ExistingOccurrence] = field(default_factory=list)
    visit_ids: dict[OccurrenceKey, int] = field(default_factory=dict)
    plans: dict[int, PlanInfo] = field(default_factory=dict)
    patients: dict[int, dict[str, Any]] = field(default_factory=dict)
    structure_kinds: dict[int, str] = field(default_factory=dict)
    staff_teams: dict[int, int] = field(default_factory=dict)

    @property
    def existing_by_key(self) -> dict[OccurrenceKey, ExistingOccurrence]:
        return {e.key: e for e in self.existing}


@dataclass(frozen=True)
class AppliedGeneration:
    """Ids of the visits a generation wrote: created, updated (content or reinstated),
    cancelled; and the planned changes it left because the visit changed meanwhile."""

    created: tuple[int, ...]
    updated: tuple[int, ...]
    cancelled: tuple[int, ...]
    skipped: int = 0

    @property
    def changed(self) -> tuple[int, ...]:
        """Every visit written, in id order."""
        return tuple(sorted({*self.created, *self.updated, *self.cancelled}))


def _ids_filter(column: str, ids: Collection[int] | None) -> tuple[str, list[int]]:
    """An SQL condition restricting ``column`` to ``ids`` (None: no restriction)."""
    if ids is None:
        return "1", []
    unique = sorted({int(i) for i in ids})
    if not unique:
        return "0", []
    return f"{column} IN ({', '.join('?' for _ in unique)})", unique


def _chunks(values: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _template(row: Mapping[str, Any]) -> VisitTemplate:
    """The stored template of a care plan, with the plan's and the patient's ids."""
    data = json.loads(row["template"])
    if not isinstance(data, dict):
        raise ValidationError("its template is not a JSON object")
    fields = {k: v for k, v in data.items() if k in TEMPLATE_FIELDS}
    fields.update(template_id=int(row["id"]), patient_id=int(row["patient_id"]))
    return template_from_dict(fields, label=f"care plan {row['id']}")


def _existing(row: sqlite3.Row) -> ExistingOccurrence:
    status = row["status"]
    cancelled_by = row["cancelled_by"] if status == "cancelled" else None
    if cancelled_by not in (None, "suspended", "no_longer_planned"):
        cancelled_by = None
    return ExistingOccurrence(
        key=OccurrenceKey.parse(row["occurrence_key"]),
        fingerprint=row["fingerprint"] or "",
        start_epoch_s=int(row["start_epoch_s"] or 0),
        status=status,
        hand_edited=bool(row["hand_edited"]),
        cancelled_by=cancelled_by,
    )


def visit_values(o: Occurrence, inputs: GenerationInputs) -> dict[str, Any]:
    """The columns of the visit generated from occurrence ``o`` (content, place, identity).

    The window is the occurrence's wall-clock window of its day (shifted forward when it
    fell in the hour the clocks skip); the protected details carry the patient's name,
    phone and access notes and the care plan's label.
    """
    plan = inputs.plans[o.key.template_id]
    patient = inputs.patients[plan.patient_id]
    wall = o.wall_window
    preferred = next(
        (inputs.staff_teams[s] for s in o.wishes.preferred_staff_ids if s in inputs.staff_teams),
        None,
    )
    name = " ".join(p for p in (patient.get("given_name"), patient.get("family_name")) if p)
    protected = {
        "name": name or None,
        "phone": patient.get("phone") or None,
        "address_details": patient.get("access_notes") or None,
        "notes": plan.label or None,
    }
    return {
        "day": o.key.day.isoformat(),
        "pseudonym": str(patient["pseudonym"])[:40],
        "care_kind": CARE_KIND_BY_STRUCTURE.get(
            inputs.structure_kinds.get(plan.structure_id, ""), "nursing"
        ),
        "address": patient.get("address"),
        "commune": patient.get("commune"),
        "lon": float(patient["lon"]),
        "lat": float(patient["lat"]),
        "duration_s": o.duration_s,
        "windows": dumps([[wall.start_s, wall.end_s]]),
        "skills": dumps(list(o.skills)),
        "priority": o.priority,
        "staff_count": o.staff_count,
        "wishes": dumps(o.wishes.to_dict()),
        "preferred_team_id": preferred,
        "protected": dumps({k: v for k, v in protected.items() if v is not None}),
        "structure_id": plan.structure_id,
        "patient_id": plan.patient_id,
        "care_plan_id": plan.care_plan_id,
        "occurrence_key": str(o.key),
        "fingerprint": o.fingerprint,
        "start_epoch_s": o.start_epoch_s,
        "demo": int(plan.demo),
    }


#: Columns a change of the care plan rewrites on a visit not edited by hand (not its day,
#: key, status or team: a planned round keeps it until the next optimisation; nor its
#: protected details, where a coordinator may have noted something: the patient's identity
#: in them follows the patient, see :func:`_refresh_places`).
_UPDATED_COLUMNS = (
    "pseudonym",
    "care_kind",
    "address",
    "commune",
    "lon",
    "lat",
    "duration_s",
    "windows",
    "skills",
    "priority",
    "staff_count",
    "wishes",
    "preferred_team_id",
    "fingerprint",
    "start_epoch_s",
)


def _day(value: str) -> dt.date:
    return dt.date.fromisoformat(str(value))


def _place_values(patient: Mapping[str, Any]) -> dict[str, Any]:
    """What a generated visit copies from its patient (besides the plan's content)."""
    name = " ".join(p for p in (patient.get("given_name"), patient.get("family_name")) if p)
    return {
        "patient_id": int(patient["id"]),
        "pseudonym": str(patient["pseudonym"])[:40],
        "address": patient.get("address"),
        "commune": patient.get("commune"),
        "lon": float(patient["lon"]),
        "lat": float(patient["lat"]),
        # A JSON merge patch: a null removes the detail.
        "identity": dumps(
            {
                "name": name or None,
                "phone": patient.get("phone") or None,
                "address_details": patient.get("access_notes") or None,
            }
        ),
    }


def _refresh_places(
    conn: sqlite3.Connection,
    places: list[dict[str, Any]],
    inputs: GenerationInputs,
    *,
    now_s: float | None,
    at_s: float,
) -> list[int]:
    """Give the open, future generated visits of the horizon not edited by hand their
    patient's current pseudonym, place and identity; the ids changed."""
    changed: list[int] = []
    for p in places:
        rows = conn.execute(
            "UPDATE visits SET pseudonym = :pseudonym, address = :address, commune = :commune,"
            " lon = :lon, lat = :lat,"
            " protected = json_patch(coalesce(protected, '{}'), :identity), updated_at_s = :at"
            " WHERE patient_id = :patient_id AND occurrence_key IS NOT NULL AND hand_edited = 0"
            " AND status IN ('planned', 'assigned') AND day >= :first AND day <= :last"
            " AND start_epoch_s >= :now AND (pseudonym IS NOT :pseudonym"
            " OR address IS NOT :address OR commune IS NOT :commune OR lon != :lon"
            " OR lat != :lat OR protected IS NOT json_patch(coalesce(protected, '{}'), :identity))"
            " RETURNING id",
            {
                **p,
                "at": at_s,
                "first": inputs.first.isoformat(),
                "last": inputs.last.isoformat(),
                "now": -1 if now_s is None else now_s,
            },
        ).fetchall()
        changed += [int(r[0]) for r in rows]
    return changed


class GeneratedVisitsMixin:
    """Store methods for this group (mixed into :class:`dispatch.store.Store`)."""

    engine: Engine

    def generation_inputs(
        self,
        first: dt.date,
        last: dt.date,
        *,
        structures: Collection[int] | None = None,
        patient_ids: Collection[int] | None = None,
        care_plan_ids: Collection[int] | None = None,
    ) -> GenerationInputs:
        """What a generation from ``first`` to ``last`` (both included) needs.

        The care plans in scope are those of ``structures`` (None: all), narrowed to the
        patients ``patient_ids`` and the plans ``care_plan_ids`` when given; a patient or plan
        named but not in ``structures`` is a NotFoundError, as if it did not exist. A
        discharged patient counts as suspended from the discharge day on; a plan whose
        template cannot be read is left out (logged), its visits untouched.
        """
        inputs = GenerationInputs(first, last)
        in_structures, structure_args = _ids_filter("cp.structure_id", structures)
        by_patient, patient_args = _ids_filter("cp.patient_id", patient_ids)
        by_plan, plan_args = _ids_filter("cp.id", care_plan_ids)
        with self.engine.snapshot() as conn:
            for what, ids, table in (
                ("patient", patient_ids, "patients"),
                ("care plan", care_plan_ids, "care_plans"),
            ):
                for chunk in _chunks(sorted({int(i) for i in ids or ()})):
                    where, args = _ids_filter("id", chunk)
                    scope, scope_args = _ids_filter("structure_id", structures)
                    found = {
                        r[0]
                        for r in conn.execute(
                            f"SELECT id FROM {table} WHERE {where} AND {scope}",
                            [*args, *scope_args],
                        )
                    }
                    missing = [i for i in chunk if i not in found]
                    if missing:
                        raise NotFoundError(f"{what} {missing[0]} does not exist")
            rows = conn.execute(
                "SELECT cp.id, cp.patient_id, cp.structure_id, cp.label, cp.template, cp.active,"
                " cp.demo FROM care_plans cp"
                f" WHERE {in_structures} AND {by_patient} AND {by_plan} ORDER BY cp.id",
                [*structure_args, *patient_args, *plan_args],
            ).fetchall()
            patient_set = sorted({int(r["patient_id"]) for r in rows})
            for chunk in _chunks(patient_set):
                marks = ", ".join("?" for _ in chunk)
                for p in conn.execute(
                    "SELECT id, structure_id, pseudonym, family_name, given_name, phone, address,"
                    " commune, lon, lat, access_notes, status, discharged_on, archived_at_s"
                    f" FROM patients WHERE id IN ({marks})",
                    chunk,
                ):
                    inputs.patients[int(p["id"])] = dict(p)
                for s in conn.execute(
                    "SELECT patient_id, from_day, to_day, reason FROM suspensions"
                    f" WHERE patient_id IN ({marks}) AND cancelled_at_s IS NULL"
                    " AND from_day <= ? AND (to_day IS NULL OR to_day >= ?)",
                    [*chunk, last.isoformat(), first.isoformat()],
                ):
                    try:
                        inputs.suspensions.append(
                            Suspension(
                                int(s["patient_id"]),
                                _day(s["from_day"]),
                                _day(s["to_day"]) if s["to_day"] else None,
                                s["reason"] or "other",
                            )
                        )
                    except (ValidationError, ValueError) as exc:
                        log.warning("suspension of patient %s ignored: %s", s["patient_id"], exc)
            for p in inputs.patients.values():
                if p["status"] == "discharged" or p["archived_at_s"] is not None:
                    since = p["discharged_on"] or first.isoformat()
                    inputs.suspensions.append(
                        Suspension(int(p["id"]), _day(since), None, DISCHARGED)
                    )
            for kind in conn.execute("SELECT id, kind FROM structures"):
                inputs.structure_kinds[int(kind["id"])] = kind["kind"]
            for s in conn.execute("SELECT id, team_id FROM staff WHERE team_id IS NOT NULL"):
                inputs.staff_teams[int(s["id"])] = int(s["team_id"])
            for r in rows:
                plan_id = int(r["id"])
                patient = inputs.patients.get(int(r["patient_id"]))
                info = PlanInfo(
                    plan_id,
                    int(r["patient_id"]),
                    int(r["structure_id"]),
                    r["label"] or "",
                    bool(r["active"]),
                    bool(r["demo"]),
                )
                inputs.plans[plan_id] = info
                placed = (
                    patient is not None
                    and patient["lon"] is not None
                    and patient["lat"] is not None
                )
                if not info.active or not placed:
                    if info.active:
                        log.warning("care plan %s: its patient has no place: no visit", plan_id)
                    inputs.retired.append(plan_id)
                    continue
                try:
                    inputs.templates.append(_template(r))
                except (ValidationError, ValueError, TypeError) as exc:
                    log.warning("care plan %s left out of generation: %s", plan_id, exc)
                    del inputs.plans[plan_id]
            plan_ids = sorted(inputs.plans)
            for chunk in _chunks(plan_ids):
                marks = ", ".join("?" for _ in chunk)
                for v in conn.execute(
                    "SELECT id, occurrence_key, fingerprint, start_epoch_s, status, hand_edited,"
                    " cancelled_by FROM visits"
                    f" WHERE care_plan_id IN ({marks}) AND occurrence_key IS NOT NULL"
                    " AND day >= ? AND day <= ?",
                    [*chunk, first.isoformat(), last.isoformat()],
                ):
                    try:
                        existing = _existing(v)
                    except ValidationError as exc:
                        log.warning("visit %s left out of generation: %s", v["id"], exc)
                        continue
                    inputs.existing.append(existing)
                    inputs.visit_ids[existing.key] = int(v["id"])
        return inputs

    def apply_generation(
        self, plan: GenerationPlan, inputs: GenerationInputs, *, now_s: float | None = None
    ) -> AppliedGeneration:
        """Write ``plan`` (computed from ``inputs``) in one transaction; see the module's
        docstring for the guards. Returns the ids written.

        The open visits of the horizon from ``now_s`` (None: all) that were not edited by
        hand also take their patient's current pseudonym, place, name, phone and access
        notes (a patient who moved is visited at the new address): counted as updated.
        """
        before = inputs.existing_by_key
        places = [_place_values(p) for p in inputs.patients.values() if p["lon"] is not None]
        creates = [visit_values(o, inputs) for o in plan.create]
        updates: list[tuple[OccurrenceKey, str, dict[str, Any] | None]] = []
        for u in plan.update:
            values = None if u.occurrence is None else visit_values(u.occurrence, inputs)
            updates.append((u.key, u.reason, values))
        cancels: list[Cancellation] = list(plan.cancel)

        def job(conn: sqlite3.Connection) -> AppliedGeneration:
            now = clock_s()
            created: list[int] = []
            updated: list[int] = []
            cancelled: list[int] = []
            skipped = 0
            for new in creates:
                if conn.execute(
                    "SELECT 1 FROM visits WHERE occurrence_key = ?", (new["occurrence_key"],)
                ).fetchone():
                    skipped += 1
                    continue
                row = {**new, "status": "planned", "created_at_s": now, "updated_at_s": now}
                cols = ", ".join(row)
                marks = ", ".join("?" for _ in row)
                cur = conn.execute(
                    f"INSERT INTO visits ({cols}) VALUES ({marks})", list(row.values())
                )
                created.append(int(cur.lastrowid or 0))
            for key, reason, values in updates:
                was = before[key]
                if reason == "reinstated":
                    # Back on the list of the day, waiting for a round (its old round dropped it).
                    sets: dict[str, Any] = {
                        "status": "planned",
                        "cancelled_by": None,
                        "team_id": None,
                    }
                    guard = "status = 'cancelled' AND cancelled_by IS NOT NULL"
                    guard_args: list[Any] = []
                else:
                    sets = {}
                    guard = (
                        "status IN ('planned', 'assigned') AND hand_edited = 0 AND fingerprint IS ?"
                    )
                    guard_args = [was.fingerprint]
                if values is not None:
                    sets.update({k: values[k] for k in _UPDATED_COLUMNS})
                cols = ", ".join(f"{k} = ?" for k in sets)
                cur = conn.execute(
                    f"UPDATE visits SET {cols}, updated_at_s = ? WHERE occurrence_key = ?"
                    f" AND {guard}",
                    [*sets.values(), now, str(key), *guard_args],
                )
                if cur.rowcount:
                    updated.append(inputs.visit_ids[key])
                else:
                    skipped += 1
            for c in cancels:
                # A suspension cancels edited visits too (the patient is away); a plan that no
                # longer gives a visit leaves one edited by hand meanwhile.
                edited = "" if c.reason == "suspended" else " AND hand_edited = 0"
                cur = conn.execute(
                    "UPDATE visits SET status = 'cancelled', cancelled_by = ?, updated_at_s = ?"
                    f" WHERE occurrence_key = ? AND status IN ('planned', 'assigned'){edited}",
                    (c.reason, now, str(c.key)),
                )
                if cur.rowcount:
                    cancelled.append(inputs.visit_ids[c.key])
                else:
                    skipped += 1
            moved = _refresh_places(conn, places, inputs, now_s=now_s, at_s=now)
            updated += [i for i in moved if i not in set(updated)]
            return AppliedGeneration(tuple(created), tuple(updated), tuple(cancelled), skipped)

        return self.engine.write(job)

    def clear_demo_care(self) -> dict[str, int]:
        """Delete the demo structures' patients, care plans, suspensions, sharings, staff,
        their absences and team memberships, and the demo structures (with their users'
        memberships): every row flagged demo that :meth:`Store.clear_demo` (teams, visits,
        plans) does not know. Run it first: staff lean on their teams."""

        def job(conn: sqlite3.Connection) -> dict[str, int]:
            staff = "(SELECT id FROM staff WHERE demo = 1)"
            patients = "(SELECT id FROM patients WHERE demo = 1)"
            structures = "(SELECT id FROM structures WHERE demo = 1)"
            # Real records kept in a demo structure would lose their structure: refuse, and
            # say which, as clear_demo does for real rows leaning on demo teams.
            real = {
                table: conn.execute(
                    f"SELECT count(*) FROM {table} WHERE demo = 0 AND structure_id IN {structures}"
                ).fetchone()[0]
                for table in ("patients", "staff", "teams", "visits")
            }
            real["sharings"] = conn.execute(
                f"SELECT count(*) FROM sharings WHERE structure_id IN {structures}"
                f" AND patient_id NOT IN {patients}"
            ).fetchone()[0]
            if any(real.values()):
                found = ", ".join(f"{n} {table}" for table, n in real.items() if n)
                raise ConflictError(
                    f"real records were added to the demonstration structures ({found}):"
                    " nothing was deleted; move them to a structure of yours or delete them"
                    " first, or keep the demonstration"
                )
            steps = (
                ("absences", f"DELETE FROM absences WHERE staff_id IN {staff}"),
                ("team_members", f"DELETE FROM team_members WHERE staff_id IN {staff}"),
                ("staff", "DELETE FROM staff WHERE demo = 1"),
                ("sharings", f"DELETE FROM sharings WHERE patient_id IN {patients}"),
                ("suspensions", f"DELETE FROM suspensions WHERE patient_id IN {patients}"),
                (
                    "care_plans",
                    f"DELETE FROM care_plans WHERE demo = 1 OR patient_id IN {patients}",
                ),
                ("patients", "DELETE FROM patients WHERE demo = 1"),
                # A coordinator's drafts of a demo structure's days go with it.
                (
                    "plan_stops",
                    "DELETE FROM plan_stops WHERE plan_id IN"
                    f" (SELECT id FROM plans WHERE structure_id IN {structures})",
                ),
                (
                    "plan_unassigned",
                    "DELETE FROM plan_unassigned WHERE plan_id IN"
                    f" (SELECT id FROM plans WHERE structure_id IN {structures})",
                ),
                ("plans", f"DELETE FROM plans WHERE structure_id IN {structures}"),
                (
                    "user_structures",
                    f"DELETE FROM user_structures WHERE structure_id IN {structures}",
                ),
                ("structures", "DELETE FROM structures WHERE demo = 1"),
            )
            return {name: conn.execute(sql).rowcount for name, sql in steps}

        removed: dict[str, int] = self.engine.write(job)
        return removed
