"""The reads of the FHIR API that no store method answers as such: a patient's visits done or
under way, with the times the team arrived, checked in and out and the staff of the team(s)
that made them."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from dispatch.store.structures import structure_filter

if TYPE_CHECKING:
    from dispatch.store import Store

#: Most visits of one patient returned by one search (the newest first).
MAX_ENCOUNTERS = 500
#: Visit statuses that are encounters: done, the team checked in, the team arrived.
ENCOUNTER_STATUSES = ("done", "in_progress", "arrived")


def done_visits(
    store: Store, patient_id: int, *, structures: Collection[int] | None
) -> list[dict[str, Any]]:
    """The visits of ``patient_id`` done (checked out) or under way (arrived, checked in) in
    ``structures``, newest first: ``{id, day, status, patient_id, structure_id, care_kind,
    check_in_s, check_out_s, staff_ids}``.

    The times are the device's of the first check-in (else the arrival) and the last
    check-out; the staff those of the visit's team and partner team."""
    where, args = structure_filter(structures, "v.structure_id")
    with store.engine.snapshot() as conn:
        rows = conn.execute(
            "SELECT v.id, v.day, v.status, v.patient_id, v.structure_id, v.care_kind, v.team_id,"
            " v.partner_team_id,"
            " (SELECT min(coalesce(e.device_time_s, e.server_time_s)) FROM visit_events e"
            "   WHERE e.visit_id = v.id AND e.kind = 'check_in') AS check_in_s,"
            " (SELECT min(coalesce(e.device_time_s, e.server_time_s)) FROM visit_events e"
            "   WHERE e.visit_id = v.id AND e.kind = 'arrival') AS arrival_s,"
            " (SELECT max(coalesce(e.device_time_s, e.server_time_s)) FROM visit_events e"
            "   WHERE e.visit_id = v.id AND e.kind = 'check_out') AS check_out_s"
            f" FROM visits v WHERE v.patient_id = ? AND v.status IN (?, ?, ?) AND {where}"
            " ORDER BY v.day DESC, v.id DESC LIMIT ?",
            (patient_id, *ENCOUNTER_STATUSES, *args, MAX_ENCOUNTERS),
        ).fetchall()
        teams = {t for r in rows for t in (r["team_id"], r["partner_team_id"]) if t is not None}
        members: dict[int, list[int]] = {}
        if teams:
            marks = ", ".join("?" for _ in teams)
            for team_id, staff_id in conn.execute(
                f"SELECT team_id, staff_id FROM team_members WHERE team_id IN ({marks})"
                " ORDER BY staff_id",
                sorted(teams),
            ):
                members.setdefault(int(team_id), []).append(int(staff_id))
    out = []
    for r in rows:
        staff: list[int] = []
        for team_id in (r["team_id"], r["partner_team_id"]):
            for staff_id in members.get(team_id, []) if team_id is not None else []:
                if staff_id not in staff:
                    staff.append(staff_id)
        out.append(
            {
                "id": int(r["id"]),
                "day": r["day"],
                "status": r["status"],
                "patient_id": int(r["patient_id"]),
                "structure_id": int(r["structure_id"]),
                "care_kind": r["care_kind"],
                "check_in_s": r["check_in_s"] if r["check_in_s"] is not None else r["arrival_s"],
                "check_out_s": r["check_out_s"],
                "staff_ids": staff,
            }
        )
    return out
