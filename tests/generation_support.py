"""Rows for the generation tests: a structure, patients and care plans written straight into
the tables of migration 0008 (the generation reads them; the patients' own API is tested in
tests/test_patients*.py)."""

from __future__ import annotations

import json
from typing import Any

from dispatch.store import Store


def add_structure(store: Store, name: str, kind: str = "ssiad") -> int:
    def job(conn: Any) -> int:
        cur = conn.execute(
            "INSERT INTO structures (name, kind, demo, created_at_s, updated_at_s)"
            " VALUES (?, ?, 0, 0, 0)",
            (name, kind),
        )
        return int(cur.lastrowid)

    return store.engine.write(job)


def add_patient(
    store: Store,
    structure_id: int,
    pseudonym: str = "Patient 0A1B",
    *,
    lon: float | None = 9.45,
    lat: float | None = 42.70,
    **fields: Any,
) -> int:
    row = {
        "structure_id": structure_id,
        "pseudonym": pseudonym,
        "family_name": "Santoni",
        "given_name": "Marie",
        "phone": "04 95 00 00 00",
        "address": "1 rue du Port",
        "commune": "Bastia",
        "lon": lon,
        "lat": lat,
        "access_notes": "code 1234",
        "status": "admitted",
        "created_at_s": 0,
        "updated_at_s": 0,
        **fields,
    }

    def job(conn: Any) -> int:
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        return int(
            conn.execute(
                f"INSERT INTO patients ({cols}) VALUES ({marks})", list(row.values())
            ).lastrowid
        )

    return store.engine.write(job)


def add_care_plan(
    store: Store,
    patient_id: int,
    structure_id: int,
    *,
    label: str = "Insuline matin et soir",
    **template: Any,
) -> int:
    data = {
        "template_id": 1,
        "patient_id": patient_id,
        "kind": "insulin",
        "duration_s": 900,
        "windows": ["08:00-09:00", "18:00-19:00"],
        "rrule": "FREQ=DAILY",
        "start_day": "2026-03-01",
        "skills": ["insulin"],
        "priority": 3,
        **template,
    }

    def job(conn: Any) -> int:
        cur = conn.execute(
            "INSERT INTO care_plans (patient_id, structure_id, label, template, active,"
            " created_at_s, updated_at_s) VALUES (?, ?, ?, ?, 1, 0, 0)",
            (patient_id, structure_id, label, json.dumps(data)),
        )
        return int(cur.lastrowid)

    return store.engine.write(job)


def set_template(store: Store, plan_id: int, **changes: Any) -> None:
    def job(conn: Any) -> None:
        data = json.loads(
            conn.execute("SELECT template FROM care_plans WHERE id = ?", (plan_id,)).fetchone()[0]
        )
        data.update(changes)
        conn.execute("UPDATE care_plans SET template = ? WHERE id = ?", (json.dumps(data), plan_id))

    store.engine.write(job)


def sql(store: Store, query: str, args: tuple = ()) -> list[dict[str, Any]]:
    with store.engine.read() as conn:
        return [dict(r) for r in conn.execute(query, args)]


def execute(store: Store, query: str, args: tuple = ()) -> None:
    store.engine.write(lambda conn: conn.execute(query, args))
