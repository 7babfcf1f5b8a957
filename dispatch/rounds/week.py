"""Planning a structure's week through the rounds service, and the week's jobs.

:func:`plan_week` plans consecutive days one after the other (see
:mod:`dispatch.optimise.week` for why): each day is built as the rounds service sees it (today
from now: nothing of the past moves), its teams' shifts clipped to the legal limits, each visit
given the team of the patient's usual caregiver as preferred one, routed by the day solver and
saved as a DRAFT plan for the coordinator to review and apply (:func:`apply_week`).
:class:`WeekJobs` runs it in a background thread with its progress (``done_days``).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from dispatch.errors import DispatchError, NotFoundError, ValidationError
from dispatch.optimise.check import check_plan
from dispatch.optimise.model import UNREACHABLE_S, Problem, Team
from dispatch.optimise.solver import solve
from dispatch.optimise.week import (
    WEEKLY_MAX_S,
    Continuity,
    PlannedDay,
    ShiftCut,
    due_hours,
    legal_shifts,
    monday_of,
    moves,
    week_metrics,
    with_continuity,
    work_in,
)

#: Days a week planning may cover (the API's bound).
MAX_WEEK_DAYS = 14
#: Days before the first one whose published plans seed who has seen each patient.
MEMORY_DAYS = 7


def error_text(exc: DispatchError, locale: str) -> str:
    """``exc``'s message in ``locale`` when it has one (:class:`NoTeamWorks`), else as is."""
    localised = getattr(exc, "localised", None)
    return str(localised(locale)) if callable(localised) else exc.message


def week_days(from_day: Any, days: Any) -> list[str]:
    """``days`` consecutive ISO days from ``from_day`` (1 to :data:`MAX_WEEK_DAYS`)."""
    try:
        start = dt.date.fromisoformat(str(from_day))
    except ValueError:
        raise ValidationError(f"from {from_day!r}: give a day as YYYY-MM-DD") from None
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_WEEK_DAYS:
        raise ValidationError(f"days {days!r}: give 1 to {MAX_WEEK_DAYS} days")
    return [(start + dt.timedelta(days=i)).isoformat() for i in range(days)]


def _team_staff(entries: Sequence[Mapping[str, Any]]) -> dict[str, list[int]]:
    return {str(e["team_id"]): [int(s) for s in e.get("staff_ids") or ()] for e in entries}


def clip_teams(
    problem: Problem,
    staff_of_team: Mapping[str, Sequence[int]],
    shifts: Mapping[int, Any],
    day: str,
) -> Problem:
    """``problem`` with each team's shift inside its members' legal shifts of ``day``
    (:func:`dispatch.optimise.week.legal_shifts`): a pair works their common legal hours; a
    team whose member has no legal hours left that day does not go out. A team already at
    work (started visits) keeps its shift. Breaks are kept inside the shift."""
    out: list[Team] = []
    for t in problem.teams:
        staff = staff_of_team.get(t.id, ())
        if not staff or t.fixed_visit_ids or not t.available:
            out.append(t)
            continue
        spans = [shifts.get(s, {}).get(day) for s in staff]
        if any(sp is None for sp in spans):
            out.append(replace(t, available=False, breaks=()))
            continue
        start = max([t.shift_start_s] + [sp[0] for sp in spans])
        end = min([t.shift_end_s] + [sp[1] for sp in spans])
        if (start, end) == (t.shift_start_s, t.shift_end_s):
            out.append(t)
            continue
        if end <= start:
            out.append(replace(t, available=False, breaks=()))
            continue
        breaks = []
        for b in t.breaks:
            lo, hi = max(b.earliest_start_s, start), min(b.latest_end_s, end)
            if hi - lo >= b.duration_s:
                breaks.append(replace(b, earliest_start_s=lo, latest_end_s=hi))
        avail = t.available_from_s
        out.append(
            replace(
                t,
                shift_start_s=start,
                shift_end_s=end,
                breaks=tuple(breaks),
                available_from_s=None if avail is None else max(avail, start),
            )
        )
    return problem.with_changes(teams=tuple(out))


def week_findings(
    days: Mapping[str, PlannedDay],
    staff: Sequence[Mapping[str, Any]],
    locale: str = "fr",
    *,
    before: Before | None = None,
) -> list[dict[str, Any]]:
    """The week checker's findings (daily rest, weekly hours) over the planned days, the
    work published before the first of them counted (``before``, see :func:`worked_before`)
    when that first day is among ``days``."""
    from dispatch.optimise.check_week import StaffWeek, check_week

    people = []
    for s in staff:
        by_day = {
            day: tid
            for day, d in days.items()
            for tid, ids in d.staff_of_team.items()
            if int(s["id"]) in ids
        }
        people.append(
            StaffWeek(
                staff_id=int(s["id"]),
                label=str(s.get("name") or s["id"]),
                contract_s=int(round(float(s.get("contract_h_per_week") or 0) * 3600)),
                team_by_day=by_day,
            )
        )
    known = before is not None and bool(days) and min(days) == before.first
    return check_week(
        {k: (d.problem, d.plan) for k, d in days.items()},
        people,
        locale=locale,
        worked_before_s=before.worked_s if known and before else None,
        end_before_s=before.end_s if known and before else None,
    )


def _violation_count(
    days: Mapping[str, PlannedDay],
    staff: Sequence[Mapping[str, Any]],
    before: Before | None = None,
) -> int:
    """The checker's violations over the days: each day's, and the week's rules (daily rest,
    weekly hours, the work published before the first day counted)."""
    total = sum(len(check_plan(d.problem, d.plan)) for d in days.values())
    return total + len(week_findings(days, staff, before=before))


@dataclass(frozen=True)
class Before:
    """What the published plans say of each person before the ``first`` day planned:
    ``worked_s``, their work in its civil week (Monday on), and ``end_s``, the return of
    their round the day before (seconds since that day's midnight); by staff id."""

    first: str
    worked_s: dict[int, int] = field(default_factory=dict)
    end_s: dict[int, int] = field(default_factory=dict)


@dataclass
class WeekRun:
    """What :func:`plan_week` computed: the answer, and each day as planned (for benchmarks
    and the checker)."""

    result: dict[str, Any]
    proposed: dict[str, PlannedDay] = field(default_factory=dict)
    current: dict[str, PlannedDay] = field(default_factory=dict)
    patient_of: dict[str, int] = field(default_factory=dict)
    cuts: list[ShiftCut] = field(default_factory=list)
    moved: list[dict[str, Any]] = field(default_factory=list)
    contract_s: dict[int, int] = field(default_factory=dict)
    staff: list[dict[str, Any]] = field(default_factory=list)
    before: Before | None = None
    wall_s: float = 0.0


def _seed_memory(rounds: Any, memory: Continuity, sid: int, first: str, *, after: int = 0) -> None:
    """Count who saw each patient in the published plans of the days before ``first``, and
    of the ``after`` days from ``first`` (a week re-planned keeps to who sees whom now)."""
    store = rounds.store
    start = dt.date.fromisoformat(first)
    for k in range(-MEMORY_DAYS, after):
        day = (start + dt.timedelta(days=k)).isoformat()
        stored = store.published_plan(day, structure_id=sid)
        if not stored:
            continue
        staff = _team_staff(store.day_teams(day, structures=[sid]))
        ids = [int(s["visit_id"]) for r in stored["routes"] for s in r.get("stops", [])]
        rows = {int(v["id"]): v for v in store.get_visits(ids)}
        for r in stored["routes"]:
            who = staff.get(str(r["team_id"]), ())
            for s in r.get("stops", []):
                row = rows.get(int(s["visit_id"]))
                if row and row.get("patient_id"):
                    windows = row.get("windows") or []
                    start_s = int(windows[0][0]) if windows else 0
                    slot = (
                        "morning"
                        if start_s < 11 * 3600
                        else ("midday" if start_s < 16 * 3600 else "evening")
                    )
                    memory.record(int(row["patient_id"]), slot, who)


def _return_legs(rounds: Any, day: str, sid: int) -> dict[str, int]:
    """Each team's road home from its last visit of ``day``'s published plan (seconds): the
    store keeps the visits' times, not the return, which the day's roads give."""
    try:
        d = rounds.day(day, structure_id=sid, whole_day=True)
    except DispatchError:
        return {}
    problem = d.problem
    visits = problem.visits_by_id()
    teams = {t.id: t for t in problem.teams}
    out: dict[str, int] = {}
    for r in (d.stored or {}).get("routes", []):
        team, stops = teams.get(str(r["team_id"])), r.get("stops") or []
        last = visits.get(str(stops[-1]["visit_id"])) if stops else None
        if team is not None and last is not None:
            back = int(problem.matrix(team.mode)[last.location][team.end_location])
            out[team.id] = back if back < UNREACHABLE_S else 0
    return out


def worked_before(rounds: Any, sid: int, first: str) -> Before:
    """The work published in the civil week of ``first`` before it (Monday on), per person,
    and the return of each person's round the day before ``first``: the week's 48 h, its
    contract and the daily rest count them. A round runs from its departure (the first
    visit's arrival less the road to it) to its return (the last visit's end and the road
    home), less the rota's breaks, as the week checker counts it."""
    store = rounds.store
    start = dt.date.fromisoformat(first)
    monday = start - dt.timedelta(days=start.weekday())
    out = Before(first=first)
    earliest = min(monday, start - dt.timedelta(days=1))
    n = (start - earliest).days
    for day, stored, members, rests in _published_days(store, earliest.isoformat(), n, sid):
        if not stored:
            continue
        back = _return_legs(rounds, day, sid)
        for r in stored.get("routes", []):
            stops = r.get("stops") or []
            if not stops:
                continue
            arrive = stops[0].get("arrival_s")
            arrive = stops[0].get("start_s") if arrive is None else arrive
            begin = int(arrive or 0) - int(stops[0].get("travel_time_s") or 0)
            end = int(stops[-1].get("end_s") or stops[-1].get("start_s") or 0)
            end += back.get(str(r["team_id"]), 0)
            for person in members.get(str(r["team_id"]), []):
                if dt.date.fromisoformat(day) >= monday:
                    out.worked_s[person] = out.worked_s.get(person, 0) + work_in(
                        begin, end, rests.get(str(r["team_id"]), ())
                    )
                if dt.date.fromisoformat(day) == start - dt.timedelta(days=1):
                    out.end_s[person] = max(out.end_s.get(person, 0), end)
    return out


def due_by_week(
    staff: Sequence[Mapping[str, Any]], day_list: Sequence[str]
) -> dict[int, dict[str, int]]:
    """What each person owes over each whole civil week the days touch (staff id -> Monday's
    ISO day -> seconds, :func:`due_of` over its seven days)."""
    out: dict[int, dict[str, int]] = {}
    for monday in sorted({monday_of(d) for d in day_list}):
        for sid, due in due_of(staff, week_days(monday, 7)).items():
            out.setdefault(sid, {})[monday] = due
    return out


def due_of(staff: Sequence[Mapping[str, Any]], day_list: Sequence[str]) -> dict[int, int]:
    """What each person's contract makes them owe over ``day_list`` (seconds of work; see
    :func:`dispatch.optimise.week.due_hours`): their rota's work on these days (absences
    less) against its mean per week over four weeks from the first day's Monday, at most
    48 h a week."""
    from dispatch.care import rota as core
    from dispatch.store.staff import core_staff

    first = dt.date.fromisoformat(day_list[0])
    monday = first - dt.timedelta(days=first.weekday())
    out: dict[int, int] = {}
    for row in staff:
        person = core_staff(row)
        regular = replace(person, absences=())
        contract = int(round(float(row.get("contract_h_per_week") or 0) * 3600))
        in_days = 0
        for day in day_list:
            shift = core.works_on(person, dt.date.fromisoformat(day))
            in_days += shift.work_s if shift is not None else 0
        cycle = 0
        for k in range(28):
            shift = core.works_on(regular, monday + dt.timedelta(days=k))
            cycle += shift.work_s if shift is not None else 0
        # Nobody owes more than the law lets them work (48 h a week).
        legal = WEEKLY_MAX_S * max(1, len(day_list)) // 7 if len(day_list) >= 7 else WEEKLY_MAX_S
        out[int(row["id"])] = min(due_hours(contract, in_days, cycle / 4, len(day_list)), legal)
    return out


def plan_week(
    rounds: Any,
    from_day: Any,
    days: Any = 7,
    *,
    structure_id: int | None = None,
    continuity_weight_s: int = 900,
    time_limit_s: float = 2.0,
    by: str,
    locale: str | None = None,
    save: bool = True,
    searches: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    baseline: bool = False,
    keep: Mapping[str, Mapping[str, str]] | None = None,
    whole_day: bool = False,
) -> WeekRun:
    """Plan ``days`` days from ``from_day`` for a structure; each day saved as a draft.

    ``baseline`` plans each day alone, with no continuity cost and the rotas' shifts as they
    are (what the week planning is compared with). ``keep`` (ISO day -> visit id -> team id)
    is a plan to change little (re-planning after an absence): each visit prefers its team
    there, at ``continuity_weight_s`` per visit moved. ``progress(done_days, total_days)``
    is called after each day. Days before today are refused; today is planned from now
    (``whole_day``: from its start, for demonstrations and benchmarks).
    """
    t0 = time.perf_counter()
    day_list = week_days(from_day, days)
    today = rounds.clock.today()
    if day_list[0] < today and not whole_day:
        raise ValidationError(
            f"{day_list[0]} is over: plan from today ({today}) on, the past is not re-planned"
        )
    sid = rounds.structure_of(structure_id)
    if sid is None:
        raise ValidationError(
            "give structure_id: this deployment hosts several structures, each planned apart"
        )
    store = rounds.store
    locale = locale or rounds.options.locale
    staff = store.list_staff(structures=[sid], active=True)
    contract = due_of(staff, day_list)
    rota = {day: store.day_teams(day, structures=[sid]) for day in day_list}
    team_staff = {day: _team_staff(entries) for day, entries in rota.items()}
    shifts: dict[int, dict[str, tuple[int, int, Any]]] = {}
    for day, entries in rota.items():
        for e in entries:
            breaks = [(int(b[0]), int(b[1])) for b in e.get("breaks") or ()]
            for s in e.get("staff_ids") or ():
                shifts.setdefault(int(s), {})[day] = (
                    int(e["shift_start_s"]),
                    int(e["shift_end_s"]),
                    breaks,
                )
    # The civil week's work published before the first day, and the day before's end.
    earlier = worked_before(rounds, sid, day_list[0])
    legal, cuts = legal_shifts(
        shifts,
        contract,
        day_list,
        worked_before_s=earlier.worked_s,
        end_before_s=earlier.end_s,
        due_by_week_s=due_by_week(staff, day_list),
    )
    memory = Continuity()
    if not baseline:
        _seed_memory(rounds, memory, sid, day_list[0], after=len(day_list))
    run = WeekRun(
        result={}, cuts=[] if baseline else cuts, contract_s=contract, staff=staff, before=earlier
    )
    out_days: list[dict[str, Any]] = []
    before: dict[str, dict[str, str]] = {}
    after: dict[str, dict[str, str]] = {}
    for n, day in enumerate(day_list, start=1):
        entry: dict[str, Any] = {
            "day": day,
            "plan_id": None,
            "error": None,
            "visits": 0,
            "unassigned": 0,
            "travel_s": 0,
            "current_travel_s": None,
            "moved": 0,
        }
        try:
            d = rounds.day(day, structure_id=sid, whole_day=whole_day)
            patient_of = {
                str(vid): int(row["patient_id"])
                for vid, row in d.visits.items()
                if row.get("patient_id") is not None
            }
            run.patient_of.update({f"{day}/{k}": v for k, v in patient_of.items()})
            staff_of = team_staff[day]
            problem = d.problem
            if baseline:
                problem = problem.with_changes(continuity_cost_s=0)
            else:
                problem = clip_teams(problem, staff_of, legal, day)
                problem, _ = with_continuity(
                    problem,
                    memory,
                    patient_of,
                    staff_of,
                    weight_s=continuity_weight_s,
                    keep=(keep or {}).get(day),
                )
            live = d.problem.now_s is not None and bool(d.current.routes)
            plan = solve(
                problem,
                time_limit_s=time_limit_s,
                current=d.current if live else None,
                searches=searches,
            )
            memory.record_plan(problem, plan, patient_of, staff_of)
            run.proposed[day] = PlannedDay(problem, plan, staff_of)
            if d.current.routes:
                run.current[day] = PlannedDay(d.problem, d.current, staff_of)
                entry["current_travel_s"] = int(sum(r.travel_time_s for r in d.current.routes))
            before[day] = d.current.assignment()
            after[day] = plan.assignment()
            entry["moved"] = sum(
                1 for v, t in after[day].items() if v in before[day] and before[day][v] != t
            )
            entry["visits"] = len(problem.visits)
            entry["unassigned"] = len(plan.unassigned)
            entry["travel_s"] = int(sum(r.travel_time_s for r in plan.routes))
            if save:
                saved = rounds.save_draft(d, plan, by=by, locale=locale)
                entry["plan_id"] = int(saved["id"])
        except DispatchError as exc:
            entry["error"] = error_text(exc, locale or rounds.options.locale)
        out_days.append(entry)
        if progress is not None:
            progress(n, len(day_list))
    run.moved = [m for m in moves(before, after) if m["from"] is not None]
    patients = _patients_by_day(run)
    run.result = {
        "from": day_list[0],
        "days": out_days,
        "comparison": {
            "current": _metrics(run.current, patients, contract, staff, earlier),
            "proposed": _metrics(run.proposed, patients, contract, staff, earlier),
        },
    }
    run.wall_s = time.perf_counter() - t0
    return run


def _patients_by_day(run: WeekRun) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for key, patient in run.patient_of.items():
        day, vid = key.split("/", 1)
        out.setdefault(day, {})[vid] = patient
    return out


def _metrics(
    days: Mapping[str, PlannedDay],
    patients: Mapping[str, Mapping[str, int]],
    contract: Mapping[int, int],
    staff: Sequence[Mapping[str, Any]],
    before: Before | None = None,
) -> dict[str, Any]:
    """The METRICS of the week API over ``days`` (patients keyed per day, visit ids being
    unique across days anyway); ``violations`` count the work published before them."""
    patient_of = {vid: p for by_day in patients.values() for vid, p in by_day.items()}
    m = week_metrics(days, patient_of, contract)
    m.pop("staff_h", None)
    m["violations"] = _violation_count(days, staff, before) if days else 0
    return m


def apply_week(
    rounds: Any,
    plan_ids: Mapping[str, int | None],
    *,
    by: str,
    confirm_dropped: Collection[int] = (),
    structures: Collection[int] | None = None,
    locale: str | None = None,
) -> dict[str, Any]:
    """Publish each day's draft through :meth:`Rounds.apply`; a day refused (stale, visits
    dropped not confirmed: ``dropped`` lists them) says why and the others go on. A day
    whose draft is already its published plan counts as applied (the week applied again
    once its drops are confirmed)."""
    applied: list[str] = []
    refused: list[dict[str, Any]] = []
    for day, plan_id in sorted(plan_ids.items()):
        if plan_id is None:
            continue
        try:
            draft = rounds.store.get_plan(int(plan_id), structures=structures)
            if draft["status"] == "published" and rounds.store.published_plan_id(
                day, structure_id=int(draft["structure_id"])
            ) == int(plan_id):
                # Applied by an earlier call (the week applied again once drops confirmed).
                applied.append(day)
                continue
            rounds.apply(
                int(plan_id),
                by=by,
                confirm_dropped=confirm_dropped,
                locale=locale,
                change="optimise",
                structures=structures,
            )
            applied.append(day)
        except DispatchError as exc:
            entry: dict[str, Any] = {
                "day": day,
                "code": exc.code,
                "message": error_text(exc, locale or rounds.options.locale),
            }
            details = getattr(exc, "details", None)
            if isinstance(details, dict) and isinstance(details.get("dropped"), list):
                entry["dropped"] = details["dropped"]
            refused.append(entry)
    return {"applied": applied, "refused": refused}


# -- background jobs -----------------------------------------------------------------------------
@dataclass
class WeekJob:
    job_id: str
    structure_id: int
    total_days: int
    state: str = "running"
    done_days: int = 0
    error: str | None = None
    result: dict[str, Any] | None = None
    created_s: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "state": self.state,
            "done_days": self.done_days,
            "total_days": self.total_days,
            "error": self.error,
            "result": self.result,
        }


class WeekJobs:
    """Week plannings running or done in this process (kept an hour after they end)."""

    KEEP_S = 3600.0

    def __init__(self) -> None:
        self._jobs: dict[str, WeekJob] = {}
        self._lock = threading.Lock()

    def start(
        self,
        rounds: Any,
        from_day: Any,
        days: Any,
        *,
        structure_id: int,
        by: str,
        continuity_weight_s: int,
        time_limit_s: float,
        locale: str | None = None,
    ) -> WeekJob:
        """Check the request, then plan the week in a background thread."""
        day_list = week_days(from_day, days)
        today = rounds.clock.today()
        if day_list[0] < today:
            raise ValidationError(
                f"{day_list[0]} is over: plan from today ({today}) on, the past is not re-planned"
            )
        job = WeekJob(uuid.uuid4().hex, int(structure_id), len(day_list))
        with self._lock:
            now = time.time()
            for k in [
                k
                for k, j in self._jobs.items()
                if j.state != "running" and now - j.created_s > self.KEEP_S
            ]:
                del self._jobs[k]
            self._jobs[job.job_id] = job

        def progress(done: int, total: int) -> None:
            job.done_days = done

        def work() -> None:
            try:
                run = plan_week(
                    rounds,
                    day_list[0],
                    len(day_list),
                    structure_id=structure_id,
                    continuity_weight_s=continuity_weight_s,
                    time_limit_s=time_limit_s,
                    by=by,
                    locale=locale,
                    progress=progress,
                )
                job.result = run.result
                job.state = "done"
            except DispatchError as exc:
                job.error, job.state = exc.message, "failed"
            except Exception as exc:  # noqa: BLE001 - a job reports its failure, never hangs
                job.error, job.state = f"the week could not be planned: {exc}", "failed"

        threading.Thread(target=work, name=f"week-{job.job_id[:8]}", daemon=True).start()
        return job

    def get(self, job_id: str, structures: Collection[int] | None) -> WeekJob:
        """The job (a job of a structure the caller does not belong to does not exist)."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or (structures is not None and job.structure_id not in structures):
            raise NotFoundError(f"week planning {job_id} does not exist")
        return job


# -- reading the published week ------------------------------------------------------------------
def _published_days(
    store: Any, from_day: Any, days: Any, structure_id: int
) -> list[tuple[str, dict[str, Any] | None, dict[str, list[int]], dict[str, list[Any]]]]:
    """Each day's published plan of the structure, its teams' staff (team id -> ids: the
    day's rota teams, and every other team's members) and the rota teams' breaks."""
    members: dict[str, list[int]] = {}
    out = []
    for day in week_days(from_day, days):
        stored = store.published_plan(day, structure_id=structure_id)
        entries = store.day_teams(day, structures=[structure_id])
        staff = _team_staff(entries)
        breaks = {
            str(e["team_id"]): [(int(b[0]), int(b[1])) for b in e.get("breaks") or ()]
            for e in entries
        }
        if stored:
            if not members:
                members = {
                    str(t): [m["staff_id"] for m in ms]
                    for t, ms in store.day_team_members(day, structure_id).items()
                }
            for tid, ids in members.items():
                staff.setdefault(tid, ids)
        out.append((day, stored, staff, breaks))
    return out


def continuity_of(store: Any, from_day: Any, days: Any, *, structure_id: int) -> dict[str, Any]:
    """Who saw each patient in the structure's published plans over the days (GET
    /api/week/continuity): ``{from, days, mean_distinct_staff, patients: [{patient_id, name,
    visits, distinct_staff, staff: [{staff_id, name, visits}]}]}``, most staff first. A
    two-person visit in two routes is one visit of the patient, and one for each person."""
    published = _published_days(store, from_day, days, structure_id)
    seen: dict[int, dict[int, int]] = {}
    visits: dict[int, set[int]] = {}
    for _day, stored, staff, _breaks in published:
        if not stored:
            continue
        ids = [int(s["visit_id"]) for r in stored["routes"] for s in r.get("stops", [])]
        rows = {int(v["id"]): v for v in store.get_visits(ids)}
        for r in stored["routes"]:
            who = staff.get(str(r["team_id"]), [])
            for s in r.get("stops", []):
                row = rows.get(int(s["visit_id"]))
                if not row or row.get("patient_id") is None:
                    continue
                p = int(row["patient_id"])
                visits.setdefault(p, set()).add(int(s["visit_id"]))
                for person in who:
                    seen.setdefault(p, {})[person] = seen.setdefault(p, {}).get(person, 0) + 1
    names = {
        int(r["id"]): " ".join(x for x in (r.get("given_name"), r.get("family_name")) if x)
        or str(r.get("pseudonym") or r["id"])
        for r in store.patient_identities(structures=[structure_id])
    }
    staff_names = {
        int(s["id"]): str(s["name"]) for s in store.list_staff(structures=[structure_id])
    }
    patients: list[dict[str, Any]] = [
        {
            "patient_id": p,
            "name": names.get(p, str(p)),
            "visits": len(visits.get(p, ())),
            "distinct_staff": len(by),
            "staff": [
                {"staff_id": s, "name": staff_names.get(s, str(s)), "visits": n}
                for s, n in sorted(by.items(), key=lambda kv: (-kv[1], kv[0]))
            ],
        }
        for p, by in seen.items()
    ]
    patients.sort(key=lambda p: (-p["distinct_staff"], p["name"], p["patient_id"]))
    mean = sum(p["distinct_staff"] for p in patients) / len(patients) if patients else 0.0
    return {
        "from": published[0][0],
        "days": len(published),
        "mean_distinct_staff": round(mean, 3),
        "patients": patients,
    }


def hours_of(store: Any, from_day: Any, days: Any, *, structure_id: int) -> dict[str, Any]:
    """Each person's hours over the days (GET /api/week/hours): ``{from, days, staff:
    [{staff_id, name, contract_h, rota_h, planned_h, excess_pct, days: [{day,
    planned_h}]}]}``. ``contract_h`` is what the contract makes them owe over these days
    (:func:`due_of`), ``rota_h`` their rota's work, ``planned_h`` the published rounds'
    (departure to return, less the rota's breaks)."""
    from dispatch.care import rota as core
    from dispatch.store.staff import core_staff

    published = _published_days(store, from_day, days, structure_id)
    day_list = [d for d, _, _, _ in published]
    staff = store.list_staff(structures=[structure_id], active=True)
    due = due_of(staff, day_list)
    planned: dict[int, dict[str, int]] = {}
    for day, stored, members, rests in published:
        for r in (stored or {}).get("routes", []):
            stops = r.get("stops") or []
            if not stops:
                continue
            first, last = stops[0], stops[-1]
            start = int(first.get("start_s") or 0) - int(first.get("travel_time_s") or 0)
            end = int(last.get("end_s") or last.get("start_s") or 0)
            # The rota's breaks (a split shift's hours off) are rest, not work.
            worked = work_in(start, end, rests.get(str(r["team_id"]), ()))
            for person in members.get(str(r["team_id"]), []):
                by = planned.setdefault(person, {})
                by[day] = by.get(day, 0) + worked
    rows = []
    for s in staff:
        sid = int(s["id"])
        rostered = core_staff(s)
        rota_s = 0
        for day in day_list:
            shift = core.works_on(rostered, dt.date.fromisoformat(day))
            rota_s += shift.work_s if shift is not None else 0
        by = planned.get(sid, {})
        total = sum(by.values())
        owed = due.get(sid, 0)
        rows.append(
            {
                "staff_id": sid,
                "name": str(s["name"]),
                "contract_h": round(owed / 3600, 2),
                "rota_h": round(rota_s / 3600, 2),
                "planned_h": round(total / 3600, 2),
                "excess_pct": round(max(0.0, 100 * (total - owed) / owed), 1) if owed else 0.0,
                "days": [{"day": d, "planned_h": round(by.get(d, 0) / 3600, 2)} for d in day_list],
            }
        )
    return {"from": day_list[0], "days": len(day_list), "staff": rows}


# -- re-planning that changes little ---------------------------------------------------------------
#: What moving a visit out of its current round costs when a day is re-planned after an
#: absence or a hospitalisation (seconds of travel): more than any detour of the area, far
#: less than a visit's worth, so that only what must move moves.
STABILITY_WEIGHT_S = 3600


def current_teams(rounds: Any, d: Any) -> dict[str, str]:
    """Each visit's current team on the day: its round in the published plan (a team no
    longer in the day's teams included), else the team the visit is assigned to (a day not
    yet planned, or a visit the last republishing left out of every round without making it
    unassigned: a round of a team off that day is not carried over)."""
    out = {
        str(s["visit_id"]): str(r["team_id"])
        for r in (d.stored or {}).get("routes", [])
        for s in r.get("stops", [])
    }
    for vid, row in d.visits.items():
        if row.get("team_id") is not None:
            out.setdefault(str(vid), str(row["team_id"]))
    return out


def stable_problem(rounds: Any, d: Any, *, weight_s: int = STABILITY_WEIGHT_S) -> Problem:
    """``d``'s problem with every visit preferring its current team (:func:`current_teams`)
    and, when that team is gone, the patient's usual caregiver of the days before."""
    staff_of = _team_staff(rounds.store.day_teams(d.day, structures=[d.structure_id]))
    patient_of = {
        str(vid): int(row["patient_id"])
        for vid, row in d.visits.items()
        if row.get("patient_id") is not None
    }
    memory = Continuity()
    _seed_memory(rounds, memory, d.structure_id, d.day, after=MEMORY_DAYS)
    problem, _ = with_continuity(
        d.problem, memory, patient_of, staff_of, weight_s=weight_s, keep=current_teams(rounds, d)
    )
    return problem


def replan_stable(
    rounds: Any,
    day: str,
    *,
    structure_id: int,
    by: str,
    locale: str | None = None,
    weight_s: int = STABILITY_WEIGHT_S,
    time_limit_s: float | None = None,
) -> dict[str, Any]:
    """Re-plan ``day`` changing as little as possible and save it as a draft: every visit
    prefers its current team (``weight_s`` per visit moved); a visit whose team no longer
    works (absence) or cannot hold it prefers the patient's usual caregiver of the days
    before (continuity), else goes where it fits best. Today is re-planned from now.

    Returns ``{day, plan_id, base_plan_id, moves: [{day, visit_id, from, to}], dropped:
    [visit ids], unassigned}`` (``from``/``to`` team ids; ``from`` None: a visit in no round
    of the published plan, such as one a lifted suspension reinstated or one left unassigned
    when its team was off, that the draft places; ``to`` None: left out).
    """
    locale = locale or rounds.options.locale
    d = rounds.day(day, structure_id=structure_id)
    # Visits cancelled since (a hospitalisation) are no move: they are not to plan.
    planned = {v.id for v in d.problem.visits}
    before = {v: t for v, t in current_teams(rounds, d).items() if v in planned}
    problem = stable_problem(rounds, d, weight_s=weight_s)
    live = d.problem.now_s is not None and bool(d.current.routes)
    plan = solve(
        problem,
        time_limit_s=time_limit_s or rounds.options.solver_time_limit_s,
        current=d.current if live else None,
        searches=rounds.options.solver_searches,
    )
    saved = rounds.save_draft(d, plan, by=by, locale=locale)
    after = plan.assignment()
    found = moves({day: before}, {day: after})
    dropped = [
        int(x["visit_id"])
        for x in rounds._dropped(d.stored, saved, ignore=d.unroutable_ids("visit"))
    ]
    return {
        "day": day,
        "plan_id": int(saved["id"]),
        "base_plan_id": d.plan_id,
        "moves": found,
        "dropped": dropped,
        "unassigned": len(plan.unassigned),
    }


def replan_suspension(
    rounds: Any,
    patient_id: int,
    from_day: str,
    to_day: str | None,
    *,
    structure_id: int,
    by: str,
    locale: str | None = None,
    horizon_days: int = 7,
    time_limit_s: float | None = None,
) -> list[dict[str, Any]]:
    """After a patient's hospitalisation (a suspension, whose visits are cancelled), a draft
    of each day from today (or ``from_day``) to ``to_day`` (at most ``horizon_days``) whose
    published rounds held the patient: the others' visits keep their teams
    (:func:`replan_stable`), the rounds close the gap. Days the patient was not in are not
    touched; a day that cannot be planned says why in ``locale``.

    A day's published rounds held the patient when its published plan holds one of their
    visits, or when a visit of theirs that day is cancelled and was either cancelled by a
    suspension (``cancelled_by = 'suspended'``) or held by an earlier published version of
    the day's plan: recording the suspension already re-timed and republished each round
    the rounds service could rebuild without the visit (:meth:`Rounds.visit_changed`), and
    that round still has the time freed to use.

    Once the suspension is lifted, its visits are back (planned, in no round) while the days'
    rounds were published without them: a day whose published plan leaves out a live visit
    of the patient is drafted too, the stable replan placing it (a move from no round) or
    counting it unassigned.
    """
    locale = locale or rounds.options.locale
    today = rounds.clock.today()
    start = max(dt.date.fromisoformat(from_day), dt.date.fromisoformat(today))
    last = start + dt.timedelta(days=horizon_days - 1)
    if to_day:
        last = min(last, dt.date.fromisoformat(to_day))
    with rounds.store.engine.read() as conn:
        rows = conn.execute(
            "SELECT id, day, status, cancelled_by FROM visits"
            " WHERE patient_id = ? AND structure_id = ? AND day BETWEEN ? AND ?",
            (int(patient_id), int(structure_id), start.isoformat(), last.isoformat()),
        ).fetchall()
        theirs = {int(r["id"]) for r in rows}
        by_suspension = {
            str(r["day"])
            for r in rows
            if r["status"] == "cancelled" and r["cancelled_by"] == "suspended"
        }
        cancelled = [int(r["id"]) for r in rows if r["status"] == "cancelled"]
        live: dict[str, set[int]] = {}
        for r in rows:
            if r["status"] in ("planned", "assigned"):
                live.setdefault(str(r["day"]), set()).add(int(r["id"]))
        held_before = (
            {
                str(r["day"])
                for r in conn.execute(
                    "SELECT DISTINCT p.day FROM plan_stops s JOIN plans p ON p.id = s.plan_id"
                    " WHERE p.structure_id = ? AND p.published_at_s IS NOT NULL"
                    f" AND s.visit_id IN ({', '.join('?' for _ in cancelled)})",
                    (int(structure_id), *cancelled),
                )
            }
            if cancelled
            else set()
        )
    out = []
    day = start
    while day <= last:
        iso = day.isoformat()
        stored = rounds.store.published_plan(iso, structure_id=structure_id)
        held = {int(s["visit_id"]) for r in (stored or {}).get("routes", []) for s in r["stops"]}
        waiting = live.get(iso, set()) - held
        if stored and (held & theirs or iso in by_suspension or iso in held_before or waiting):
            try:
                out.append(
                    replan_stable(
                        rounds,
                        iso,
                        structure_id=structure_id,
                        by=by,
                        locale=locale,
                        time_limit_s=time_limit_s,
                    )
                )
            except DispatchError as exc:
                out.append({"day": iso, "plan_id": None, "error": error_text(exc, locale)})
        day += dt.timedelta(days=1)
    return out


def patient_structure(store: Any, patient_id: int, structures: Collection[int] | None) -> int:
    """The structure of a patient of ``structures`` (another structure's is not found)."""
    with store.engine.read() as conn:
        row = conn.execute(
            "SELECT structure_id FROM patients WHERE id = ?", (int(patient_id),)
        ).fetchone()
    if row is None or (structures is not None and int(row[0]) not in set(structures)):
        raise NotFoundError(f"patient {patient_id} does not exist")
    return int(row[0])
