"""Staff (skills, contracts, rotas, personal teams), two-person teams, absences.

A member of staff is created with their personal team (a ``teams`` row of one member, named
after them): their phone pairs to that team, visits are assigned to it. A two-person team is a
``teams`` row with two ``team_members``: on a day both work, they go out together (their common
hours) and their personal teams stay home. Rotas are stored as the JSON of
:mod:`dispatch.care.rota` patterns; who works a day comes from :func:`dispatch.care.rota.works_on`.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dispatch.care import rota as core
from dispatch.care.times import TimeRange, parse_day
from dispatch.errors import ConflictError, NotFoundError, ValidationError
from dispatch.store.core import now_s
from dispatch.store.models import (
    VEHICLE_PROFILES,
    _number,
    _text,
    free_team_color,
    local_today,
    parse_skills,
    shown,
)
from dispatch.store.rows import dumps

if TYPE_CHECKING:
    from dispatch.store.core import Engine

#: What a member of staff does (the week screen groups and labels them by it).
STAFF_JOBS = ("nurse", "care_aide", "doctor", "psychologist", "other")
#: Fields of a staff member a client may send (``structure_id`` only on creation).
STAFF_INPUT = (
    "structure_id",
    "name",
    "gender",
    "job",
    "skills",
    "contract_h_per_week",
    "rotas",
    "user_id",
    "active",
    "base_name",
    "base_lon",
    "base_lat",
    "vehicle_profile",
)
#: The team kind of a structure's personal teams.
TEAM_KIND_OF_STRUCTURE = {
    "ssiad": "nursing",
    "had": "had",
    "nursing_centre": "nursing_centre",
    "saad": "saad",
    "palliative_team": "palliative",
    "geriatric_team": "geriatric",
    "dac": "dac",
}
#: A team's shift when its member has no rota yet.
DEFAULT_SHIFT_S = (7 * 3600, 19 * 3600)
ABSENCE_INPUT = ("kind", "from_day", "to_day", "part", "note")
#: Most rotas kept for one person (the latest started is in force).
MAX_ROTAS = 6
#: Most breaks in a day's shift.
MAX_BREAKS = 8


def _structure_filter(
    structures: Collection[int] | None, column: str = "structure_id"
) -> tuple[str, list[Any]]:
    if structures is None:
        return "", []
    ids = [int(s) for s in structures]
    if not ids:
        return " AND 0", []
    return f" AND {column} IN ({', '.join('?' for _ in ids)})", ids


def _check_weekdays(rota: Any, index: int) -> None:
    """A clear message for an unknown weekday before the pattern's own checks."""
    if not isinstance(rota, Mapping) or rota.get("weekdays") is None:
        return
    weekdays = rota["weekdays"]
    # A day named twice counts once ("MO,MO" is Mondays), as the rota reads it; a list holds
    # at most the seven days.
    tokens = weekdays if isinstance(weekdays, list | tuple) else str(weekdays).split(",")
    if isinstance(weekdays, list | tuple) and len(tokens) > len(core.WEEKDAYS):
        raise ValidationError(f"rotas[{index}]: weekdays: give each day once, at most 7")
    for token in tokens:
        if str(token).strip().upper() not in core.WEEKDAYS:
            raise ValidationError(
                f"rotas[{index}]: weekdays {str(token).strip()!r}: use {','.join(core.WEEKDAYS)}"
            )


def _whole(value: Any) -> Any:
    """A JSON whole number written ``7.0`` as the int ``7`` (JSON Schema's integer)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _check_rota_shape(rota: Any, index: int) -> Any:
    """The rota with exactly the fields of its form (as the OpenAPI document states them),
    cycle counts as ints; a clear message otherwise."""
    where = f"rotas[{index}]"
    if not isinstance(rota, Mapping):
        raise ValidationError(f"{where}: send an object with start_day and cycle, days or weekdays")
    forms = [key for key in ("cycle", "days", "weekdays") if key in rota]
    if len(forms) != 1:
        raise ValidationError(f"{where}: give one of cycle, days or weekdays")
    form = forms[0]
    known = {"start_day", form} | ({"shift", "breaks"} if form != "days" else set())
    extra = sorted(set(rota) - known)
    if extra:
        raise ValidationError(
            f"{where}: unknown field(s) {', '.join(map(shown, extra[:5]))} for a rota by "
            f"{form}; known: {', '.join(sorted(known))}"
        )
    if "start_day" not in rota:
        raise ValidationError(f"{where}: give start_day, the first day of the rota")
    out = dict(rota)
    shifts = [(where, rota)] if form != "days" else []
    if form == "days":
        days = rota["days"]
        if not isinstance(days, list | tuple):
            raise ValidationError(f"{where}: days must be a list of shifts or nulls")
        for i, day in enumerate(days):
            if day is None:
                continue
            if not isinstance(day, Mapping) or set(day) - {"shift", "breaks"}:
                raise ValidationError(
                    f'{where}: days[{i}]: give null (off) or {{"shift": "07:00-15:00", '
                    '"breaks": [...]}'
                )
            shifts.append((f"{where}: days[{i}]", day))
    if form == "cycle" and isinstance(rota["cycle"], list | tuple):
        out["cycle"] = [_whole(c) for c in rota["cycle"]]
    for label, shift in shifts:
        if not isinstance(shift.get("shift"), str):
            raise ValidationError(f'{label}: give shift as "HH:MM-HH:MM", e.g. "07:00-15:00"')
        if "breaks" in shift and not isinstance(shift["breaks"], list | tuple):
            raise ValidationError(f'{label}: breaks must be a list, e.g. ["12:00-12:30"]')
        if len(shift.get("breaks") or ()) > MAX_BREAKS:
            raise ValidationError(f"{label}: at most {MAX_BREAKS} breaks a day")
    return out


def parse_rotas(value: Any) -> tuple[core.RotaPattern, ...]:
    """Rota patterns from JSON, each message naming its place: ``rotas[0]: ...``.

    Examples
    --------
    >>> parse_rotas([{"start_day": "2027-01-04", "weekdays": "MO,XY", "shift": "08:00-16:00"}])
    Traceback (most recent call last):
    ...
    dispatch.errors.ValidationError: rotas[0]: weekdays 'XY': use MO,TU,WE,TH,FR,SA,SU
    """
    if isinstance(value, list | tuple) and len(value) > MAX_ROTAS:
        raise ValidationError(f"rotas: at most {MAX_ROTAS}: remove the old ones")
    if not isinstance(value, list | tuple):
        raise ValidationError(
            'rotas must be a list, e.g. [{"start_day": "2027-01-04", "weekdays": "MO,TU,TH,FR",'
            ' "shift": "08:00-16:00"}]'
        )
    out = []
    for i, rota in enumerate(value):
        rota = _check_rota_shape(rota, i)
        _check_weekdays(rota, i)
        try:
            out.append(core.rota_from_dict(rota))
        except ValidationError as exc:
            raise ValidationError(f"rotas[{i}]: {exc.message}") from None
    starts = Counter(r.start_day for r in out)
    for day, n in starts.items():
        if n > 1:
            raise ValidationError(f"rotas: {n} rotas start on {day}: keep one per start day")
    return tuple(sorted(out, key=lambda r: r.start_day))


def usual_shift(rotas: tuple[core.RotaPattern, ...]) -> tuple[int, int]:
    """The most frequent shift span of the latest rota (a team's default hours)."""
    if not rotas:
        return DEFAULT_SHIFT_S
    latest = rotas[-1]
    shifts = (
        [latest.shift] if isinstance(latest, core.WeeklyPattern) else [d for d in latest.days if d]
    )
    span = Counter((s.span.start_s, s.span.end_s) for s in shifts).most_common(1)[0][0]
    return span


def parse_staff(data: Any, *, partial: bool = False) -> dict[str, Any]:
    """A staff row (and its team's base fields) from API input; messages say what to fix."""
    if not isinstance(data, Mapping):
        raise ValidationError("staff: send a JSON object")
    unknown = sorted(set(data) - set(STAFF_INPUT))
    if unknown:
        raise ValidationError(
            f"staff: unknown field(s) {', '.join(map(shown, unknown[:5]))}; known: "
            f"{', '.join(STAFF_INPUT)}"
        )
    row: dict[str, Any] = {}
    if not partial or "name" in data:
        row["name"] = _text(data.get("name"), what="staff: name", max_len=80, required=True)
    if "gender" in data and data["gender"] is not None:
        if data["gender"] not in core.GENDERS:
            raise ValidationError(
                f"staff: gender {shown(data['gender'])}: use {', '.join(core.GENDERS)} or null"
            )
    if "gender" in data:
        row["gender"] = data["gender"]
    if not partial or "job" in data:
        job = data.get("job", "nurse")
        if job not in STAFF_JOBS:
            raise ValidationError(f"staff: job {shown(job)}: use {', '.join(STAFF_JOBS)}")
        row["job"] = job
    if not partial or "skills" in data:
        row["skills"] = parse_skills(data.get("skills"), label="staff")
    if not partial or "contract_h_per_week" in data:
        hours = data.get("contract_h_per_week")
        if isinstance(hours, bool) or not isinstance(hours, int | float):
            raise ValidationError(
                f"staff: contract_h_per_week {shown(hours)}: give hours per week, e.g. 35"
            )
        if not 0 <= hours <= core.MAX_CONTRACT_H:
            raise ValidationError(
                f"staff: contract_h_per_week {hours:g}: give 0 to {core.MAX_CONTRACT_H:g} hours"
            )
        row["contract_h_per_week"] = float(hours)
    if "rotas" in data:
        row["rotas"] = parse_rotas(data["rotas"])
    elif not partial:
        row["rotas"] = ()
    if "user_id" in data:
        user_id = _whole(data["user_id"])
        if user_id is not None and (
            isinstance(user_id, bool) or not isinstance(user_id, int) or user_id < 1
        ):
            raise ValidationError(f"staff: user_id {shown(user_id)}: give a user id or null")
        row["user_id"] = user_id
    if "active" in data:
        if not isinstance(data["active"], bool):
            raise ValidationError("staff: active must be true or false")
        row["active"] = int(data["active"])
    if "base_name" in data:
        row["base_name"] = _text(data["base_name"], what="staff: base_name")
    for key, lo, hi in (("base_lon", -180, 180), ("base_lat", -90, 90)):
        if key in data:
            row[key] = _number(data[key], what=f"staff: {key}", lo=lo, hi=hi)
    if ("base_lon" in row) != ("base_lat" in row) and not partial:
        raise ValidationError("staff: give base_lon and base_lat together")
    if "vehicle_profile" in data:
        if data["vehicle_profile"] not in VEHICLE_PROFILES:
            raise ValidationError(
                f"staff: vehicle_profile {shown(data['vehicle_profile'])}: use "
                f"{', '.join(VEHICLE_PROFILES)}"
            )
        row["vehicle_profile"] = data["vehicle_profile"]
    return row


def parse_absence(data: Any) -> tuple[core.Absence, str | None]:
    """An absence and its note from API input (``to_day`` defaults to ``from_day``)."""
    if not isinstance(data, Mapping):
        raise ValidationError("absence: send an object with kind, from_day, to_day, part, note")
    unknown = sorted(set(data) - set(ABSENCE_INPUT))
    if unknown:
        raise ValidationError(
            f"absence: unknown field(s) {', '.join(map(shown, unknown[:5]))}; known: "
            f"{', '.join(ABSENCE_INPUT)}"
        )
    if data.get("kind") not in core.ABSENCE_KINDS:
        raise ValidationError(
            f"absence: kind {shown(data.get('kind'))}: use {', '.join(core.ABSENCE_KINDS)}"
        )
    for key, example in (("to_day", "2027-01-15"), ("part", "13:00-15:00")):
        value = data.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ValidationError(f"absence: {key} {shown(value)}: give e.g. {example} or null")
    note = _text(data.get("note"), what="absence: note", max_len=500)
    try:
        absence = core.Absence.from_dict({k: v for k, v in data.items() if k != "note"})
    except ValidationError as exc:
        message = exc.message.removeprefix("absence ")
        raise ValidationError(f"absence: {message}") from None
    return absence, note


def _absence_row(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "staff_id": row["staff_id"],
        "kind": row["kind"],
        "from_day": row["from_day"],
        "to_day": row["to_day"],
        "part": row["part"],
        "note": row["note"],
        "cancelled": row["cancelled_at_s"] is not None,
    }


def _core_absence(a: Mapping[str, Any]) -> core.Absence:
    return core.Absence(
        a["kind"],
        dt.date.fromisoformat(a["from_day"]),
        dt.date.fromisoformat(a["to_day"]),
        TimeRange.parse(a["part"]) if a["part"] else None,
    )


def core_staff(staff: Mapping[str, Any]) -> core.Staff:
    """The :class:`dispatch.care.rota.Staff` of a staff dict (its live absences included)."""
    return core.Staff(
        staff_id=staff["id"],
        name=staff["name"],
        contract_h_per_week=staff["contract_h_per_week"],
        rotas=tuple(core.rota_from_dict(r) for r in staff["rotas"]),
        absences=tuple(
            _core_absence(a) for a in staff.get("absences", ()) if not a.get("cancelled")
        ),
        skills=tuple(staff["skills"]),
        gender=staff["gender"],
    )


def _unique_team_name(conn: sqlite3.Connection, name: str, team_id: int | None = None) -> str:
    candidate, n = name, 1
    while conn.execute(
        "SELECT 1 FROM teams WHERE name = ? AND id IS NOT ?", (candidate, team_id)
    ).fetchone():
        n += 1
        candidate = f"{name} ({n})"
    return candidate


class StaffMixin:
    """Store methods for staff, their teams and absences (mixed into :class:`dispatch.store.Store`)."""

    engine: Engine

    # -- staff ---------------------------------------------------------------------------------
    def add_staff(
        self,
        data: dict[str, Any],
        *,
        structure_id: int | None = None,
        demo: bool = False,
    ) -> dict[str, Any]:
        """Create a member of staff and their personal team; returns the staff JSON.

        ``structure_id`` (else ``data["structure_id"]``) is the structure they work for.
        """
        row = parse_staff(data)
        if structure_id is None:
            structure_id = data.get("structure_id")
        if isinstance(structure_id, bool) or not isinstance(structure_id, int):
            raise ValidationError("staff: give structure_id, the structure they work for")
        rotas = row.pop("rotas")
        start_s, end_s = usual_shift(rotas)
        team_fields = {
            k: row.pop(k)
            for k in ("base_name", "base_lon", "base_lat", "vehicle_profile")
            if k in row
        }

        def job(conn: sqlite3.Connection) -> int:
            structure = conn.execute(
                "SELECT kind FROM structures WHERE id = ?", (structure_id,)
            ).fetchone()
            if structure is None:
                raise NotFoundError(f"structure {structure_id} does not exist")
            if row.get("user_id") is not None:
                _check_user(conn, row["user_id"], None, structure_id)
            if team_fields.get("base_lon") is None:
                # No base given: the structure's office, that of its first team with one.
                office = conn.execute(
                    "SELECT base_name, base_lon, base_lat FROM teams WHERE structure_id = ?"
                    " AND base_lon IS NOT NULL ORDER BY id LIMIT 1",
                    (structure_id,),
                ).fetchone()
                if office is not None:
                    team_fields.update(dict(office))
            now = now_s()
            used = {r[0] for r in conn.execute("SELECT color FROM teams WHERE active = 1")}
            team = {
                "name": _unique_team_name(conn, row["name"]),
                "kind": TEAM_KIND_OF_STRUCTURE.get(structure["kind"], "other"),
                "skills": dumps(row["skills"]),
                "shift_start_s": start_s,
                "shift_end_s": end_s,
                "vehicle_profile": team_fields.get("vehicle_profile", "car"),
                "base_name": team_fields.get("base_name"),
                "base_lon": team_fields.get("base_lon"),
                "base_lat": team_fields.get("base_lat"),
                "color": free_team_color(used),
                "active": row.get("active", 1),
                "demo": int(demo),
                "structure_id": structure_id,
                "created_at_s": now,
                "updated_at_s": now,
            }
            team_id = _insert(conn, "teams", team)
            staff_id = _insert(
                conn,
                "staff",
                {
                    **row,
                    "structure_id": structure_id,
                    "skills": dumps(row["skills"]),
                    "rotas": dumps([r.to_dict() for r in rotas]),
                    "team_id": team_id,
                    "demo": int(demo),
                    "created_at_s": now,
                    "updated_at_s": now,
                },
            )
            conn.execute(
                "INSERT INTO team_members (team_id, staff_id) VALUES (?, ?)", (team_id, staff_id)
            )
            if row.get("user_id") is not None:
                conn.execute("UPDATE users SET team_id = ? WHERE id = ?", (team_id, row["user_id"]))
            return staff_id

        return self.get_staff(self.engine.write(job))

    def get_staff(
        self, staff_id: int, *, structures: Collection[int] | None = None
    ) -> dict[str, Any]:
        """A member of staff with their absences (NotFoundError if none, or of another
        structure than ``structures``)."""
        sql, args = _structure_filter(structures)
        with self.engine.snapshot() as conn:
            row = conn.execute(
                f"SELECT * FROM staff WHERE id = ?{sql}", (staff_id, *args)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"staff member {staff_id} does not exist")
            absences = _absences_of(conn, [staff_id])
        return _staff_dict(row, absences.get(staff_id, []))

    def list_staff(
        self,
        *,
        structures: Collection[int] | None = None,
        active: bool | None = True,
        team_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """Staff of ``structures`` by name (``active`` None: also those who left), each with
        their live absences; ``team_id``: the members of that team."""
        sql, args = _structure_filter(structures)
        if active is not None:
            sql += " AND active = ?"
            args.append(int(active))
        if team_id is not None:
            sql += " AND id IN (SELECT staff_id FROM team_members WHERE team_id = ?)"
            args.append(team_id)
        with self.engine.snapshot() as conn:
            rows = conn.execute(
                f"SELECT * FROM staff WHERE 1{sql} ORDER BY name, id", args
            ).fetchall()
            absences = _absences_of(conn, [r["id"] for r in rows])
        return [_staff_dict(r, absences.get(r["id"], [])) for r in rows]

    def update_staff(
        self,
        staff_id: int,
        data: dict[str, Any],
        *,
        structures: Collection[int] | None = None,
    ) -> dict[str, Any]:
        """Change some fields; the personal team follows (name, skills, usual shift, base,
        active)."""
        if isinstance(data, Mapping) and "structure_id" in data:
            raise ValidationError("staff: structure_id cannot change: create them in the other one")
        row = parse_staff(data, partial=True)
        current = self.get_staff(staff_id, structures=structures)
        team: dict[str, Any] = {
            k: row.pop(k)
            for k in ("base_name", "base_lon", "base_lat", "vehicle_profile")
            if k in row
        }
        if "rotas" in row:
            rotas = row.pop("rotas")
            team["shift_start_s"], team["shift_end_s"] = usual_shift(rotas)
            row["rotas"] = dumps([r.to_dict() for r in rotas])
        if "skills" in row:
            team["skills"] = row["skills"] = dumps(row["skills"])
        if "active" in row:
            team["active"] = row["active"]
        # The rules of the whole record (e.g. a gender the patients' wishes compare).
        core_staff({**current, **{k: v for k, v in row.items() if k not in ("rotas", "skills")}})

        def job(conn: sqlite3.Connection) -> None:
            if row.get("user_id") is not None:
                _check_user(conn, row["user_id"], staff_id, current["structure_id"])
            now = now_s()
            if "name" in row:
                team["name"] = _unique_team_name(conn, row["name"], current["team_id"])
            if row:
                cols = ", ".join(f"{k} = ?" for k in row)
                conn.execute(
                    f"UPDATE staff SET {cols}, updated_at_s = ? WHERE id = ?",
                    (*row.values(), now, staff_id),
                )
            if team and current["team_id"] is not None:
                cols = ", ".join(f"{k} = ?" for k in team)
                conn.execute(
                    f"UPDATE teams SET {cols}, updated_at_s = ? WHERE id = ?",
                    (*team.values(), now, current["team_id"]),
                )
            if "user_id" in row:
                if current["user_id"] is not None and current["user_id"] != row["user_id"]:
                    conn.execute(
                        "UPDATE users SET team_id = NULL WHERE id = ? AND team_id = ?",
                        (current["user_id"], current["team_id"]),
                    )
                if row["user_id"] is not None:
                    conn.execute(
                        "UPDATE users SET team_id = ? WHERE id = ?",
                        (current["team_id"], row["user_id"]),
                    )

        self.engine.write(job)
        return self.get_staff(staff_id)

    def deactivate_staff(
        self,
        staff_id: int,
        *,
        structures: Collection[int] | None = None,
        last_day: str | dt.date | None = None,
        today: str | dt.date | None = None,
    ) -> dict[str, Any]:
        """A member of staff who left after ``last_day`` (their last working day, default
        ``today``): inactive with their teams, so their pairs end and the partner goes out
        alone.

        Their visits (of their own team or a pair's) on the days after ``last_day``, from
        today on, not yet started or done, lose their team (``planned`` again): the week
        counts them without a team and the next planning gives them to others. Days already
        gone keep their visits as they were (history). A ``last_day`` after ``today`` is
        refused (ConflictError): until then the person works as rostered.

        Returns the staff record with ``departure``: ``{last_day, unassigned, pairs_ended,
        unassigned_ids}`` (``unassigned_ids``: the visits now without a team).
        """
        current = self.get_staff(staff_id, structures=structures)
        now_day = parse_day(today if today is not None else local_today(), what="today")
        last = parse_day(last_day, what="last_day") if last_day is not None else now_day
        if last > now_day:
            raise ConflictError(
                f"last_day {last.isoformat()} is after today ({now_day.isoformat()}): record the"
                " departure on the last working day or after it (until then, an absence keeps"
                f" {current['name']} out of the planning)"
            )
        first = max(last + dt.timedelta(days=1), now_day).isoformat()

        def job(conn: sqlite3.Connection) -> dict[str, Any]:
            now = now_s()
            teams = [
                int(r[0])
                for r in conn.execute(
                    "SELECT team_id FROM team_members WHERE staff_id = ? ORDER BY team_id",
                    (staff_id,),
                )
            ]
            pairs = [
                int(r[0])
                for r in conn.execute(
                    "SELECT t.id FROM teams t JOIN team_members m ON m.team_id = t.id"
                    " WHERE t.active = 1 AND t.id IN (SELECT team_id FROM team_members"
                    " WHERE staff_id = ?) GROUP BY t.id HAVING count(*) = 2 ORDER BY t.id",
                    (staff_id,),
                )
            ]
            unassigned: list[int] = []
            if teams:
                marks = ", ".join("?" for _ in teams)
                unassigned = [
                    int(r[0])
                    for r in conn.execute(
                        f"SELECT id FROM visits WHERE team_id IN ({marks}) AND day >= ?"
                        " AND status IN ('planned', 'assigned') ORDER BY day, id",
                        (*teams, first),
                    )
                ]
                conn.execute(
                    f"UPDATE visits SET team_id = NULL, status = 'planned', updated_at_s = ?"
                    f" WHERE team_id IN ({marks}) AND day >= ?"
                    " AND status IN ('planned', 'assigned')",
                    (now, *teams, first),
                )
            conn.execute(
                "UPDATE staff SET active = 0, updated_at_s = ? WHERE id = ?", (now, staff_id)
            )
            conn.execute(
                "UPDATE teams SET active = 0, updated_at_s = ? WHERE id IN"
                " (SELECT team_id FROM team_members WHERE staff_id = ?)",
                (now, staff_id),
            )
            return {
                "last_day": last.isoformat(),
                "unassigned": len(unassigned),
                "pairs_ended": pairs,
                "unassigned_ids": unassigned,
            }

        departure: dict[str, Any] = self.engine.write(job)
        return {**current, "active": False, "departure": departure}

    def staff_of_team(
        self, team_id: int, *, structures: Collection[int] | None = None
    ) -> list[dict[str, Any]]:
        """The members of a team (one, or two for a pair); empty for a team without staff."""
        return self.list_staff(structures=structures, active=None, team_id=team_id)

    # -- two-person teams ----------------------------------------------------------------------
    def add_pair(
        self,
        staff_ids: Collection[int],
        *,
        name: str | None = None,
        structures: Collection[int] | None = None,
        demo: bool = False,
    ) -> dict[str, Any]:
        """A two-person team: on days both work, they go out together (their common hours).

        Returns ``{team_id, name, staff_ids}``. Both must belong to one structure.
        """
        ids = sorted({int(i) for i in staff_ids})
        if len(ids) != 2:
            raise ValidationError("a pair is two different members of staff")
        members = [self.get_staff(i, structures=structures) for i in ids]
        if members[0]["structure_id"] != members[1]["structure_id"]:
            raise ValidationError("a pair is two members of staff of one structure")
        label = _text(name, what="pair: name", max_len=80) or " & ".join(m["name"] for m in members)
        skills = sorted(set(members[0]["skills"]) | set(members[1]["skills"]))
        rotas = tuple(core.rota_from_dict(r) for r in members[0]["rotas"])
        start_s, end_s = usual_shift(rotas)

        def job(conn: sqlite3.Connection) -> dict[str, Any]:
            now = now_s()
            used = {r[0] for r in conn.execute("SELECT color FROM teams WHERE active = 1")}
            team_id = _insert(
                conn,
                "teams",
                {
                    "name": _unique_team_name(conn, label),
                    "kind": conn.execute(
                        "SELECT kind FROM teams WHERE id = ?", (members[0]["team_id"],)
                    ).fetchone()[0],
                    "skills": dumps(skills),
                    "shift_start_s": start_s,
                    "shift_end_s": end_s,
                    "vehicle_profile": "car",
                    "color": free_team_color(used),
                    "active": 1,
                    "demo": int(demo),
                    "structure_id": members[0]["structure_id"],
                    "created_at_s": now,
                    "updated_at_s": now,
                },
            )
            for staff_id in ids:
                conn.execute(
                    "INSERT INTO team_members (team_id, staff_id) VALUES (?, ?)",
                    (team_id, staff_id),
                )
            name_ = conn.execute("SELECT name FROM teams WHERE id = ?", (team_id,)).fetchone()[0]
            return {"team_id": team_id, "name": name_, "staff_ids": ids}

        return self.engine.write(job)

    def list_pairs(self, *, structures: Collection[int] | None = None) -> list[dict[str, Any]]:
        """Active two-person teams: ``[{team_id, name, staff_ids}]`` by team id."""
        sql, args = _structure_filter(structures, "t.structure_id")
        with self.engine.read() as conn:
            rows = conn.execute(
                "SELECT t.id, t.name, group_concat(m.staff_id) AS ids FROM teams t"
                " JOIN team_members m ON m.team_id = t.id"
                f" WHERE t.active = 1{sql} GROUP BY t.id HAVING count(*) = 2 ORDER BY t.id",
                args,
            ).fetchall()
        return [
            {
                "team_id": r["id"],
                "name": r["name"],
                "staff_ids": sorted(int(i) for i in r["ids"].split(",")),
            }
            for r in rows
        ]

    def remove_pair(self, team_id: int, *, structures: Collection[int] | None = None) -> None:
        """The pair no longer goes out together (its team becomes inactive)."""
        if not any(p["team_id"] == team_id for p in self.list_pairs(structures=structures)):
            raise NotFoundError(f"pair {team_id} does not exist")
        self.engine.write(
            lambda conn: conn.execute(
                "UPDATE teams SET active = 0, updated_at_s = ? WHERE id = ?", (now_s(), team_id)
            )
        )

    # -- absences ------------------------------------------------------------------------------
    def add_absence(
        self,
        staff_id: int,
        data: dict[str, Any],
        *,
        structures: Collection[int] | None = None,
        actor: str = "system",
    ) -> dict[str, Any]:
        """Record leave, sickness or training; an overlap with a live absence is refused."""
        absence, note = parse_absence(data)
        staff = self.get_staff(staff_id, structures=structures)
        for other in staff["absences"]:
            if (
                other["from_day"] <= absence.to_day.isoformat()
                and absence.from_day.isoformat() <= other["to_day"]
            ):
                raise ConflictError(
                    f"{staff['name']} is already absent from {other['from_day']} to "
                    f"{other['to_day']} (absence {other['id']}): cancel it or choose other days"
                )

        def job(conn: sqlite3.Connection) -> int:
            return _insert(
                conn,
                "absences",
                {
                    "staff_id": staff_id,
                    "kind": absence.kind,
                    "from_day": absence.from_day.isoformat(),
                    "to_day": absence.to_day.isoformat(),
                    "part": str(absence.part) if absence.part else None,
                    "note": note,
                    "created_by": actor,
                    "created_at_s": now_s(),
                },
            )

        absence_id = self.engine.write(job)
        return self.get_absence(staff_id, absence_id)

    def get_absence(
        self, staff_id: int, absence_id: int, *, structures: Collection[int] | None = None
    ) -> dict[str, Any]:
        """One absence of a member of staff (cancelled ones too)."""
        self.get_staff(staff_id, structures=structures)
        with self.engine.read() as conn:
            row = conn.execute(
                "SELECT * FROM absences WHERE id = ? AND staff_id = ?", (absence_id, staff_id)
            ).fetchone()
        if row is None:
            raise NotFoundError(f"absence {absence_id} of staff member {staff_id} does not exist")
        return _absence_row(row)

    def list_absences(
        self,
        staff_id: int,
        *,
        structures: Collection[int] | None = None,
        include_cancelled: bool = False,
    ) -> list[dict[str, Any]]:
        """A member of staff's absences by first day."""
        self.get_staff(staff_id, structures=structures)
        with self.engine.read() as conn:
            rows = conn.execute(
                "SELECT * FROM absences WHERE staff_id = ?"
                + ("" if include_cancelled else " AND cancelled_at_s IS NULL")
                + " ORDER BY from_day, id",
                (staff_id,),
            ).fetchall()
        return [_absence_row(r) for r in rows]

    def cancel_absence(
        self, staff_id: int, absence_id: int, *, structures: Collection[int] | None = None
    ) -> dict[str, Any]:
        """Cancel an absence (kept, marked cancelled): the rota applies again."""
        current = self.get_absence(staff_id, absence_id, structures=structures)
        if current["cancelled"]:
            return current
        self.engine.write(
            lambda conn: conn.execute(
                "UPDATE absences SET cancelled_at_s = ? WHERE id = ?", (now_s(), absence_id)
            )
        )
        return {**current, "cancelled": True}

    # -- the day's teams -----------------------------------------------------------------------
    def day_teams(
        self, day: str | dt.date, structures: Collection[int] | None = None
    ) -> list[dict[str, Any]]:
        """Who works on ``day`` after rotas and absences, as teams:
        ``[{team_id, staff_ids, shift_start_s, shift_end_s, breaks, skills}]`` by team id.

        Times are local wall-clock seconds since midnight; ``breaks`` ``[[start_s, end_s]]``.
        A pair whose members both work goes out together on their common hours (their
        personal teams are left out); otherwise each goes alone in their personal team.
        """
        date = parse_day(day, what="day")
        staff = self.list_staff(structures=structures, active=True)
        return teams_of_day(staff, self.list_pairs(structures=structures), date)

    # -- visits of staff -----------------------------------------------------------------------
    def staff_visits(
        self,
        from_day: str | dt.date,
        to_day: str | dt.date,
        *,
        structures: Collection[int] | None = None,
        team_ids: Collection[int] | None = None,
        unassigned: bool = False,
    ) -> list[dict[str, Any]]:
        """Visits not cancelled from ``from_day`` to ``to_day`` (included), by day and start:
        ``{id, day, team_id, partner_team_id, pseudonym, duration_s, windows, status,
        staff_count}`` (no protected details). ``team_ids``: of those teams, as the team or
        as the partner team (a two-person visit served by two single-person teams is both
        people's); ``unassigned``: of no team."""
        first = parse_day(from_day, what="from").isoformat()
        last = parse_day(to_day, what="to").isoformat()
        sql, args = _structure_filter(structures)
        if team_ids is not None:
            ids = [int(t) for t in team_ids]
            marks = ", ".join("?" for _ in ids)
            sql += (
                f" AND (team_id IN ({marks}) OR partner_team_id IN ({marks}))" if ids else " AND 0"
            )
            args += ids + ids
        if unassigned:
            sql += " AND team_id IS NULL"
        with self.engine.read() as conn:
            rows = conn.execute(
                "SELECT id, day, team_id, partner_team_id, pseudonym, duration_s, windows,"
                " status, staff_count"
                f" FROM visits WHERE day BETWEEN ? AND ? AND status != 'cancelled'{sql}"
                " ORDER BY day, json_extract(windows, '$[0][0]'), id",
                (first, last, *args),
            ).fetchall()
        return [{**dict(r), "windows": json.loads(r["windows"] or "[]")} for r in rows]

    def teams_of_staff(self, staff_ids: Collection[int]) -> dict[int, list[int]]:
        """The teams (personal and pairs, active or not) of each member of staff."""
        ids = [int(i) for i in staff_ids]
        out: dict[int, list[int]] = {i: [] for i in ids}
        if not ids:
            return out
        with self.engine.read() as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ", ".join("?" for _ in chunk)
                for row in conn.execute(
                    f"SELECT staff_id, team_id FROM team_members WHERE staff_id IN ({marks})"
                    " ORDER BY team_id",
                    chunk,
                ):
                    out[row[0]].append(row[1])
        return out


def teams_of_day(
    staff: Sequence[Mapping[str, Any]],
    pairs: Sequence[Mapping[str, Any]],
    date: dt.date,
    parsed: Mapping[int, core.Staff] | None = None,
) -> list[dict[str, Any]]:
    """The day's teams of ``staff`` (staff JSON with absences) and ``pairs`` (see
    :meth:`StaffMixin.day_teams`); ``parsed``: their :func:`core_staff`, when already made."""
    people = {
        s["id"]: parsed[s["id"]] if parsed is not None else core_staff(s)
        for s in staff
        if s["active"]
    }
    personal = {s["id"]: s["team_id"] for s in staff}
    shifts = {i: core.works_on(p, date) for i, p in people.items()}
    out: list[dict[str, Any]] = []
    paired: set[int] = set()
    for pair in pairs:
        ids = pair["staff_ids"]
        if any(i not in people or shifts[i] is None or i in paired for i in ids):
            continue
        try:
            (team,) = core.day_teams([people[i] for i in ids], date, pairs=[tuple(ids)])
        except ValidationError:
            continue  # no hours in common that day: each goes alone
        paired.update(ids)
        out.append(_day_team(pair["team_id"], team))
    for staff_id, shift in shifts.items():
        if shift is None or staff_id in paired or personal[staff_id] is None:
            continue
        person = people[staff_id]
        out.append(_day_team(personal[staff_id], core.DayTeam((staff_id,), shift, person.skills)))
    return sorted(out, key=lambda t: t["team_id"])


def _day_team(team_id: int, team: core.DayTeam) -> dict[str, Any]:
    return {
        "team_id": team_id,
        "staff_ids": list(team.staff_ids),
        "shift_start_s": team.shift.span.start_s,
        "shift_end_s": team.shift.span.end_s,
        "breaks": [[b.start_s, b.end_s] for b in team.shift.breaks],
        "skills": list(team.skills),
    }


def _insert(conn: sqlite3.Connection, table: str, values: dict[str, Any]) -> int:
    cols = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    cur = conn.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", list(values.values()))
    return int(cur.lastrowid or 0)


def _check_user(
    conn: sqlite3.Connection, user_id: int, staff_id: int | None, structure_id: int
) -> None:
    """The account exists and works for the staff member's structure (a user of another
    structure is not revealed), and is no one else's."""
    works_here = conn.execute(
        "SELECT 1 FROM users u WHERE u.id = ? AND (EXISTS (SELECT 1 FROM user_structures m"
        " WHERE m.user_id = u.id AND m.structure_id = ?) OR EXISTS (SELECT 1 FROM teams t"
        " WHERE t.id = u.team_id AND t.structure_id = ?))",
        (user_id, structure_id, structure_id),
    ).fetchone()
    if works_here is None:
        raise NotFoundError(f"user {user_id} does not exist")
    other = conn.execute(
        "SELECT id, name FROM staff WHERE user_id = ? AND id IS NOT ?", (user_id, staff_id)
    ).fetchone()
    if other is not None:
        raise ConflictError(
            f"user {user_id} is already the account of staff member {other['id']}: one account "
            "per person"
        )


def _absences_of(conn: sqlite3.Connection, staff_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    for start in range(0, len(staff_ids), 500):
        chunk = staff_ids[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        for row in conn.execute(
            f"SELECT * FROM absences WHERE staff_id IN ({marks}) AND cancelled_at_s IS NULL"
            " ORDER BY from_day, id",
            chunk,
        ):
            out.setdefault(row["staff_id"], []).append(_absence_row(row))
    return out


def _staff_dict(row: sqlite3.Row, absences: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "structure_id": row["structure_id"],
        "name": row["name"],
        "gender": row["gender"],
        "job": row["job"],
        "skills": json.loads(row["skills"] or "[]"),
        "contract_h_per_week": row["contract_h_per_week"],
        "rotas": json.loads(row["rotas"] or "[]"),
        "team_id": row["team_id"],
        "user_id": row["user_id"],
        "active": bool(row["active"]),
        "demo": bool(row["demo"]),
        "absences": [
            {k: a[k] for k in ("id", "kind", "from_day", "to_day", "part", "note")}
            for a in absences
        ],
    }
