"""The rounds service: every change of a day's plan, from the store to the published change.

One function per user action (optimise, apply, move, insert, delay, a team lost, a visit
changed). A day's plan belongs to one structure: each action works on (day, structure), with
that structure's teams and visits only (``structure_id``; None: the structure of the team or
visit acted on, else the deployment's only structure). Each builds the day from the store as
it stands now, calls the pure optimiser,
checks, saves, publishes the new version of the plan and announces the change once on the
bus (topic ``plan_change``). The REST API, the CLI and the demo all call it; none of them
knows Flask here.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from dispatch.bus import Bus
from dispatch.clock import ServiceClock
from dispatch.errors import (
    ConfirmationRequired,
    DispatchError,
    NotFoundError,
    StalePlanError,
    ValidationError,
)
from dispatch.optimise import (
    Plan,
    Visit,
    check_plan,
    compare_plans,
    diff_plans,
    hhmm,
    insert_visit,
    move_visit,
    replan_after_delay,
    solve,
    team_unavailable,
)
from dispatch.optimise.check import plan_findings
from dispatch.optimise.insertion import insertions, states_from_plan
from dispatch.optimise.messages import render
from dispatch.optimise.model import can_serve
from dispatch.optimise.plan import Unassigned
from dispatch.optimise.reasons import explain
from dispatch.optimise.rows import plan_from_stored, plan_rows
from dispatch.optimise.schedule import time_route
from dispatch.rounds.day import Day, Fix, MatrixCache, Unroutable, build_day, service_area_of
from dispatch.rounds.texts import text

log = logging.getLogger(__name__)

#: Statuses of a visit nobody has started yet (one a round may still give to another team).
OPEN = ("planned", "assigned")

#: Bus topic of every applied change of a plan.
PLAN_CHANGE = "plan_change"
#: Bus topic of arrival times recomputed from live positions.
ETAS = "etas"
#: A planned start moved by more than this is announced as re-timed (seconds).
RETIMED_S = 120
#: Kinds of change, as the screens name them.
CHANGES = ("optimise", "move", "insert", "delay", "team_unavailable", "visit", "edit")

#: ``router_source() -> (router, territory id)``: the served territory's router.
RouterSource = Callable[[], tuple[Any, str]]


@dataclass(frozen=True)
class RoundsOptions:
    """How the service plans: language of stored reasons, solver effort, live rules."""

    locale: str = "fr"
    auto_apply: bool = False
    solver_searches: int | None = None
    solver_time_limit_s: float = 10.0
    #: A position older than this is not where the team is any more (seconds).
    position_fresh_s: float = 300.0

    def __post_init__(self) -> None:
        if self.locale not in ("fr", "en"):
            raise ValidationError(f"locale {self.locale!r} is not supported: use 'fr' or 'en'")

    @classmethod
    def from_settings(cls, settings: Any) -> RoundsOptions:
        """The options a :class:`dispatch.settings.Settings` sets."""
        return cls(
            locale=settings.locale,
            auto_apply=settings.auto_apply_changes,
            solver_searches=settings.solver_searches,
            solver_time_limit_s=settings.solver_time_limit_s,
            position_fresh_s=float(settings.position_stale_s),
        )


def _holders(routes: dict[Any, list[Any]]) -> Counter[int]:
    """How many rounds of ``routes`` hold each visit (two for a two-person visit)."""
    return Counter(v for stops in routes.values() for v in _stop_ids(stops))


def _routes_of(stored: dict[str, Any] | None) -> dict[int, list[dict[str, Any]]]:
    if not stored:
        return {}
    return {int(r["team_id"]): list(r["stops"]) for r in stored.get("routes", [])}


def _stop_ids(stops: Iterable[dict[str, Any]]) -> list[int]:
    return [int(s["visit_id"]) for s in stops]


class Rounds:
    """Plans of the days in ``store``, kept true as the day goes.

    Parameters
    ----------
    store
        A :class:`dispatch.store.Store`.
    router_source
        Gives the served territory's router and its id (built lazily by the caller).
    bus
        Where applied changes are announced (``plan_change``, ``etas``).
    clock
        Today and the time of day of the rounds, and real time for positions.
    options
        :class:`RoundsOptions`.
    """

    def __init__(
        self,
        store: Any,
        router_source: RouterSource,
        bus: Bus | None = None,
        *,
        clock: ServiceClock | None = None,
        options: RoundsOptions | None = None,
    ) -> None:
        self.store = store
        self.router_source = router_source
        self.bus = bus or Bus()
        self.clock = clock or ServiceClock()
        self.options = options or RoundsOptions()
        self._locks: dict[tuple[str, int | None], threading.Lock] = {}
        self._matrices: MatrixCache | None = None
        self._locks_lock = threading.Lock()

    # -- the day as it stands ------------------------------------------------------------------
    def _day_lock(self, day: str, structure_id: int | None) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault((day, structure_id), threading.Lock())

    def structure_of(
        self,
        structure_id: int | None = None,
        *,
        team_id: int | None = None,
        visit_id: int | None = None,
    ) -> int | None:
        """The structure planned: ``structure_id`` when given, else the team's or the visit's
        (None when unknown: :func:`build_day` takes the deployment's only structure)."""
        if structure_id is not None:
            return int(structure_id)
        try:
            if team_id is not None:
                row = self.store.get_team(team_id)
            elif visit_id is not None:
                row = self.store.get_visit(visit_id)
            else:
                row = {}
        except NotFoundError:
            row = {}
        found = row.get("structure_id")
        if found is None:
            found = self.store.sole_structure_id()
        return None if found is None else int(found)

    def now_s(self, day: str) -> int | None:
        """Seconds since midnight if ``day`` is today; None for another day, planned whole
        (a day to come, or a past day replayed)."""
        if day == self.clock.today():
            return self.clock.seconds_of_day()
        return None

    def fixes(self) -> dict[int, Fix]:
        """The fresh last position of each team."""
        now = self.clock.now()
        out: dict[int, Fix] = {}
        for row in self.store.latest_positions():
            at_s = float(row["device_time_s"])
            if now - at_s <= self.options.position_fresh_s:
                out[int(row["team_id"])] = Fix(float(row["lon"]), float(row["lat"]), at_s)
        return out

    def day(
        self,
        day: str,
        *,
        structure_id: int | None = None,
        extra: Sequence[tuple[float, float]] = (),
        whole_day: bool = False,
    ) -> Day:
        """The structure's day as it stands now (see :func:`build_day`).

        ``whole_day`` plans it from the start, as it was planned the evening before (the
        demonstration day, seeded at any hour).
        """
        now_s = None if whole_day else self.now_s(day)
        router, territory_id = self.router_source()
        matrices = self.matrix_cache()
        return build_day(
            self.store,
            router,
            territory_id,
            day,
            structure_id=structure_id,
            now_s=now_s,
            fixes=self.fixes() if now_s is not None else None,
            extra=extra,
            matrices=matrices,
        )

    def matrix_cache(self) -> MatrixCache:
        """The road times and distances kept between builds of a day (for the territory's
        router), shared with whoever adds places to a built day (slot offers)."""
        router, _ = self.router_source()
        with self._locks_lock:
            if self._matrices is None or self._matrices.router is not router:
                self._matrices = MatrixCache(router)
            return self._matrices

    # -- optimise and apply --------------------------------------------------------------------
    def optimise(
        self,
        day: str,
        *,
        by: str,
        structure_id: int | None = None,
        time_limit_s: float | None = None,
        progress: Callable[[dict[str, Any]], None] | None = None,
        locale: str | None = None,
        whole_day: bool = False,
        demo: bool = False,
        stable: bool = False,
    ) -> dict[str, Any]:
        """Optimise the rest of ``day`` for ``structure_id`` and save the proposal as a draft.

        ``stable`` changes as little as possible (after an absence): every visit prefers
        its current team, one whose team is gone the patient's usual caregiver
        (:func:`dispatch.rounds.week.stable_problem`).

        Returns the proposal: ``plan_id`` (the draft), ``base_plan_id`` (the version it was
        computed from), ``dropped`` (visits now planned that it leaves out, each with its
        reason), ``reassigned`` (visits it puts in another team's round, from and to),
        ``comparison``, ``violations`` and ``plan`` (routes with their geometry).
        With the ``auto_apply`` option a proposal that drops nothing is applied at once.
        """
        locale = locale or self.options.locale
        limit = time_limit_s or self.options.solver_time_limit_s
        d = self.day(day, structure_id=self.structure_of(structure_id), whole_day=whole_day)
        problem = d.problem
        if stable:
            from dispatch.rounds.week import stable_problem

            problem = stable_problem(self, d)
        plan = solve(
            problem,
            time_limit_s=limit,
            progress=progress,
            current=d.current if d.current.routes else None,
            searches=self.options.solver_searches,
        )
        saved = self.save_draft(d, plan, by=by, locale=locale, demo=demo)
        dropped = self._dropped(d.stored, saved, ignore=d.unroutable_ids("visit"))
        body: dict[str, Any] = {
            "day": day,
            "structure_id": d.structure_id,
            "plan_id": saved["id"],
            "base_plan_id": d.plan_id,
            "applied": False,
            "dropped": dropped,
            "reassigned": self._reassigned(d, d.stored, saved),
            "violations": check_plan(d.problem, plan, locale=locale),
            "comparison": self._compare(d, plan),
            "plan": self.plan_payload(d, self.with_geometry(plan, d), locale),
            "summary": plan.summary(),
            "unroutable": self.unroutable(d, locale),
        }
        if self.options.auto_apply and not dropped:
            self.apply(saved["id"], by=by, locale=locale)
            body["applied"] = True
        return body

    def save_draft(
        self, d: Day, plan: Plan, *, by: str, locale: str | None = None, demo: bool = False
    ) -> dict[str, Any]:
        """Save ``plan`` (computed elsewhere on ``d``'s problem, e.g. by the week planning) as
        a draft of the day, as :meth:`optimise` does with its own: the rounds of unroutable
        teams kept, unroutable visits left out with their reason. Returns the stored plan."""
        locale = locale or self.options.locale
        routes, unassigned = self._rows_with_unroutable(d, plan, locale)
        saved: dict[str, Any] = self.store.save_plan(
            d.day,
            routes,
            unassigned=unassigned,
            summary=_summary_with_reasons(plan),
            territory=d.ctx.territory,
            created_by=by,
            base_plan_id=d.plan_id,
            demo=demo,
            structure_id=d.structure_id,
        )
        return saved

    def apply(
        self,
        plan_id: int,
        *,
        by: str,
        confirm_dropped: Iterable[int] = (),
        locale: str | None = None,
        change: str = "optimise",
        structures: Collection[int] | None = None,
    ) -> dict[str, Any]:
        """Publish a proposed plan and announce the change.

        Visits now planned that the proposal leaves out must each be named in
        ``confirm_dropped`` (else :class:`ConfirmationRequired`, code ``confirm_dropped``,
        listing them). A proposal computed from an older version of the day's plan is merged
        when the two changed different teams, else refused (:class:`StalePlanError`).
        ``structures``: the caller's (a plan of another structure does not exist for them).
        """
        locale = locale or self.options.locale
        draft = self.store.get_plan(plan_id, structures=structures)
        day, sid = draft["day"], int(draft["structure_id"])
        with self._day_lock(day, sid):
            if draft["status"] != "draft":
                raise StalePlanError(text("already_applied", locale, plan=plan_id))
            current_id = self.store.published_plan_id(day, structure_id=sid)
            before = self.store.published_plan(day, structure_id=sid)
            base_id = draft.get("base_plan_id")
            if base_id != current_id:
                draft = self._merge(draft, before, locale=locale, by=by)
            dropped = self._dropped(before, draft)
            _require_confirmed(dropped, confirm_dropped, locale)
            self.store.publish_plan(draft["id"], if_current=current_id)
            after = self.store.get_plan(draft["id"])
        return self._announce(day, change, before, after, by=by, dropped=dropped)

    def proposal(
        self,
        plan_id: int,
        *,
        locale: str | None = None,
        structures: Collection[int] | None = None,
    ) -> dict[str, Any]:
        """A saved plan as :meth:`optimise` answers it, against the day as it stands now: a
        draft proposal made elsewhere (a staff absence's replanning) reviewed before it is
        applied. ``applied`` is true once it is no longer a draft (``plan_status``: draft,
        published or archived)."""
        locale = locale or self.options.locale
        saved = self.store.get_plan(plan_id, structures=structures)
        d = self.day(saved["day"], structure_id=int(saved["structure_id"]))
        # The reasons in the reader's language, from the codes saved with the draft (the stored
        # text is in the language of whoever made it).
        codes = (saved.get("summary") or {}).get("reasons") or {}
        plan = _recoded(plan_from_stored(d.problem, saved), codes)
        dropped = self._dropped(d.stored, saved, ignore=d.unroutable_ids("visit"))
        for x in dropped:
            coded = codes.get(str(x["visit_id"]))
            if coded:
                x["reason"] = render(coded["code"], coded.get("params") or {}, locale)
        return {
            "day": d.day,
            "structure_id": d.structure_id,
            "plan_id": int(saved["id"]),
            "base_plan_id": saved.get("base_plan_id"),
            "plan_status": saved["status"],
            "applied": saved["status"] != "draft",
            "created_by": saved.get("created_by"),
            "dropped": dropped,
            "reassigned": self._reassigned(d, d.stored, saved),
            "violations": check_plan(d.problem, plan, locale=locale),
            "comparison": self._compare(d, plan),
            "plan": self.plan_payload(d, self.with_geometry(plan, d), locale),
            "summary": plan.summary(),
            "unroutable": self.unroutable(d, locale),
        }

    def _merge(
        self, draft: dict[str, Any], current: dict[str, Any] | None, *, locale: str, by: str
    ) -> dict[str, Any]:
        """``draft`` laid over the changes made since its base, if they touch other teams."""
        base = (
            self.store.get_plan(draft["base_plan_id"])
            if draft.get("base_plan_id") is not None
            else None
        )
        base_r, cur_r, new_r = _routes_of(base), _routes_of(current), _routes_of(draft)
        teams = set(base_r) | set(cur_r) | set(new_r)
        since = {t for t in teams if _stop_ids(base_r.get(t, [])) != _stop_ids(cur_r.get(t, []))}
        ours = {t for t in teams if _stop_ids(base_r.get(t, [])) != _stop_ids(new_r.get(t, []))}
        who = (current or {}).get("created_by") or "?"
        if since & ours:
            raise StalePlanError(
                text("stale_plan", locale, version=(current or {}).get("id"), by=who)
            )
        merged = {t: (cur_r if t in since else new_r).get(t, []) for t in teams}
        # A visit in more rounds than either plan gives it was placed by both changes: the
        # proposal is stale. A two-person visit is in two rounds of one plan, and stays so.
        held = Counter(v for stops in merged.values() for v in _stop_ids(stops))
        allowed = _holders(cur_r) | _holders(new_r)
        if any(n > allowed[vid] for vid, n in held.items()):
            raise StalePlanError(
                text("stale_plan", locale, version=(current or {}).get("id"), by=who)
            )
        seen = set(held)
        routes = [{"team_id": t, "stops": s} for t, s in sorted(merged.items()) if s]
        unassigned = [u for u in draft.get("unassigned", []) if int(u["visit_id"]) not in seen]
        return self.store.save_plan(
            draft["day"],
            routes,
            unassigned=unassigned,
            summary=draft.get("summary") or {},
            territory=draft.get("territory"),
            created_by=by,
            base_plan_id=None if current is None else current["id"],
            structure_id=draft["structure_id"],
        )

    def _reassigned(
        self, d: Day, before: dict[str, Any] | None, after: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Visits that ``after`` puts in another team's round than ``before`` (or in a round
        when they had none), in the order of the new rounds: what a coordinator reviews."""
        old = {vid: tid for tid, stops in _routes_of(before).items() for vid in _stop_ids(stops)}
        left_out = {u.id: u.name for u in d.unroutable if u.kind == "team"}

        def name(tid: int | None) -> str | None:
            if tid is None:
                return None
            return left_out.get(int(tid)) or d.team_name(tid)

        out = []
        for tid, stops in sorted(_routes_of(after).items()):
            for vid in _stop_ids(stops):
                if old.get(vid) == tid:
                    continue
                out.append(
                    {
                        "visit_id": vid,
                        "label": d.visit_label(vid),
                        "from_team_id": old.get(vid),
                        "from_team": name(old.get(vid)),
                        "to_team_id": tid,
                        "to_team": name(tid),
                    }
                )
        return out

    def _dropped(
        self,
        before: dict[str, Any] | None,
        after: dict[str, Any],
        *,
        ignore: Iterable[int] = (),
    ) -> list[dict[str, Any]]:
        """Visits in a round of ``before`` that ``after`` leaves out of every round (except
        ``ignore``: visits that cannot be routed, reported apart, not the change's doing)."""
        planned = {vid for stops in _routes_of(after).values() for vid in _stop_ids(stops)}
        planned |= set(ignore)
        reasons = {int(u["visit_id"]): u.get("reason") or "" for u in after.get("unassigned", [])}
        out = []
        for team_id, stops in _routes_of(before).items():
            for vid in _stop_ids(stops):
                if vid in planned:
                    continue
                # A two-person visit leaves two rounds: it is one visit to confirm.
                planned.add(vid)
                try:
                    visit = self.store.get_visit(vid)
                except NotFoundError:
                    continue
                if visit.get("status") in ("cancelled", "missed", "done"):
                    continue
                out.append(
                    {
                        "visit_id": vid,
                        "label": str(visit.get("pseudonym") or vid),
                        "team_id": team_id,
                        "reason": reasons.get(vid, ""),
                    }
                )
        return out

    # -- live changes --------------------------------------------------------------------------
    def move(
        self,
        day: str,
        visit_id: int,
        team_id: int,
        *,
        position: int | None = None,
        apply: bool = False,
        force: bool = False,
        by: str,
        locale: str | None = None,
        structure_id: int | None = None,
    ) -> dict[str, Any]:
        """A visit to another team or place; feasibility for the teams concerned only.

        Without ``apply`` nothing is saved: the answer says whether it holds (``feasible``,
        ``violations`` of the old and the new team that the move brings) and where the visit
        would be (``slot``). With ``apply`` a move that breaks something needs ``force``
        (else :class:`ConfirmationRequired`, code ``confirm_violations``).
        """
        locale = locale or self.options.locale
        sid = self.structure_of(structure_id, visit_id=visit_id)
        with self._day_lock(day, sid):
            d = self.day(day, structure_id=sid)
            vid = self._visit_of(d, visit_id, locale)
            tid = self._team_of(d, team_id, locale)
            old_team = d.current.assignment().get(vid)
            movable = self._movable_position(d, vid, tid, position, locale)
            new, _ = move_visit(d.problem, d.current, vid, tid, movable, locale=locale)
            self._keep_two_people(d, new, vid, locale)
            concerned = {t for t in (old_team, tid) if t is not None}
            violations = self._new_violations(d, new, concerned, locale)
            if not apply:
                return {
                    "day": day,
                    "structure_id": d.structure_id,
                    "feasible": not violations,
                    "violations": violations,
                    "slot": _slot(new, vid),
                    "comparison": self._compare(d, new),
                    "diff": diff_plans(d.current, new).to_dict(),
                    "plan": self.plan_payload(d, new, locale),
                    "unroutable": self.unroutable(d, locale),
                }
            if violations and not force:
                raise _violations_to_confirm(violations, locale)
            body = self._commit(d, new, "move", by=by, locale=locale)
        return {**body, "violations": violations, "slot": _slot(new, vid)}

    def insert_options(
        self,
        day: str,
        visit_id: int,
        *,
        n: int = 3,
        urgent: bool = True,
        locale: str | None = None,
        structure_id: int | None = None,
    ) -> dict[str, Any]:
        """The best places for a visit of the day not yet in a round: one per team, cheapest
        first, each with its arrival and what it adds to the team's driving. When none is on
        time, the least bad place of each team able to serve the visit, with what it breaks."""
        locale = locale or self.options.locale
        if not 1 <= n <= 20:
            raise ValidationError("n must be a whole number between 1 and 20")
        d = self.day(day, structure_id=self.structure_of(structure_id, visit_id=visit_id))
        vid = self._visit_of(d, visit_id, locale)
        team = d.current.assignment().get(vid)
        if team is not None:
            raise ValidationError(
                text("already_planned", locale, visit=d.visit_label(vid), team=d.team_name(team))
            )
        problem, visit = self._urgent(d, vid, urgent)
        states = states_from_plan(problem, d.current)
        options: list[dict[str, Any]] = []
        for ins in insertions(problem, states, visit):
            if any(o["team_id"] == int(ins.team_id) for o in options):
                continue
            st = states[ins.team_id]
            timing = time_route(problem, st.team, list(ins.items), prefix=st.prefix)
            stop = next(s for s in timing.stops if s.visit_id == vid)
            before = time_route(problem, st.team, list(st.items), prefix=st.prefix)
            options.append(
                {
                    "team_id": int(ins.team_id),
                    "team_name": d.team_name(ins.team_id),
                    "position": sum(1 for p in st.prefix if p.kind == "visit")
                    + sum(1 for i in ins.items[: ins.items.index(vid)] if isinstance(i, str)),
                    "arrival_s": stop.arrival_s,
                    "start_s": stop.start_s,
                    "extra_travel_time_s": _travel(timing.stops, timing.end_travel_time_s)
                    - (
                        _travel(before.stops, before.end_travel_time_s)
                        if st.n_visits or st.prefix
                        else 0
                    ),
                    "feasible": True,
                    "violations": [],
                }
            )
            if len(options) >= n:
                break
        reason = None
        if not options:
            why = explain(problem, visit)
            reason = why.to_dict(locale) if why is not None else None
            for t in problem.teams:
                if not t.available or not can_serve(t, visit) or len(options) >= n:
                    continue
                new, _ = move_visit(problem, d.current, vid, t.id, None, locale=locale)
                slot = _slot(new, vid)
                options.append(
                    {
                        "team_id": int(t.id),
                        "team_name": d.team_name(t.id),
                        "position": slot["position"] if slot else None,
                        "arrival_s": slot["arrival_s"] if slot else None,
                        "start_s": slot["start_s"] if slot else None,
                        "extra_travel_time_s": None,
                        "feasible": False,
                        "violations": self._new_violations(d, new, {t.id}, locale),
                    }
                )
        return {
            "day": day,
            "structure_id": d.structure_id,
            "visit_id": int(vid),
            "options": options,
            "reason": reason,
            "unroutable": self.unroutable(d, locale),
        }

    def insert(
        self,
        day: str,
        visit_id: int,
        *,
        team_id: int | None = None,
        position: int | None = None,
        urgent: bool = True,
        force: bool = False,
        confirm_dropped: Iterable[int] = (),
        by: str,
        locale: str | None = None,
        structure_id: int | None = None,
    ) -> dict[str, Any]:
        """Put a visit of the day into a round and publish it at once.

        With ``team_id`` (and ``position``, among that team's visits) it goes there, as the
        coordinator chose; without, where it disturbs least (an urgent visit may take the
        place of a less urgent one, which must then be confirmed in ``confirm_dropped``).
        """
        locale = locale or self.options.locale
        sid = self.structure_of(structure_id, visit_id=visit_id)
        with self._day_lock(day, sid):
            d = self.day(day, structure_id=sid)
            vid = self._visit_of(d, visit_id, locale)
            if d.current.assignment().get(vid) is not None:
                raise ValidationError(
                    text(
                        "already_planned",
                        locale,
                        visit=d.visit_label(vid),
                        team=d.team_name(d.current.assignment()[vid]),
                    )
                )
            problem, visit = self._urgent(d, vid, urgent)
            d = replace(d, problem=problem)
            violations: list[str] = []
            if team_id is None:
                new = insert_visit(problem, d.current, visit)
                if new.assignment().get(vid) is None:
                    reason = next((u for u in new.unassigned if u.visit_id == vid), None)
                    raise ValidationError(
                        text(
                            "not_inserted",
                            locale,
                            visit=d.visit_label(vid),
                            reason=reason.message(locale) if reason else "?",
                        )
                    )
            else:
                tid = self._team_of(d, team_id, locale)
                movable = self._movable_position(d, vid, tid, position, locale)
                new, _ = move_visit(problem, d.current, vid, tid, movable, locale=locale)
                violations = self._new_violations(d, new, {tid}, locale)
            self._keep_two_people(d, new, vid, locale)
            if violations and not force:
                raise _violations_to_confirm(violations, locale)
            body = self._commit(
                d, new, "insert", by=by, locale=locale, confirm_dropped=confirm_dropped
            )
        return {**body, "violations": violations, "slot": _slot(new, vid)}

    def delay(
        self,
        day: str,
        team_id: int,
        *,
        lonlat: tuple[float, float] | None = None,
        by: str,
        locale: str | None = None,
        confirm_dropped: Iterable[int] = (),
        structure_id: int | None = None,
    ) -> dict[str, Any]:
        """A team is late: its times from where it is now; visits it would miss go to others."""
        locale = locale or self.options.locale
        sid = self.structure_of(structure_id, team_id=team_id)
        with self._day_lock(day, sid):
            d = self.day(day, structure_id=sid, extra=[lonlat] if lonlat else [])
            now_s = self.now_s(day)
            if now_s is None:
                raise ValidationError(text("not_today", locale, day=day))
            tid = self._team_of(d, team_id, locale)
            new = replan_after_delay(
                d.problem,
                d.current,
                tid,
                now_s=now_s,
                location=d.extra_locations[0] if lonlat else None,
            )
            return self._commit(
                d, new, "delay", by=by, locale=locale, confirm_dropped=confirm_dropped
            )

    def team_unavailable(
        self,
        day: str,
        team_id: int,
        *,
        by: str,
        locale: str | None = None,
        confirm_dropped: Iterable[int] = (),
        structure_id: int | None = None,
        apply: bool = True,
    ) -> dict[str, Any]:
        """A team stops for the day: its visits not yet started go to others or are reported.

        Without ``apply`` the change is saved as a draft proposal (``plan_id``) for the
        coordinator to review and apply, as an optimisation is (a staff absence's replanning).
        """
        locale = locale or self.options.locale
        sid = self.structure_of(structure_id, team_id=team_id)
        with self._day_lock(day, sid):
            d = self.day(day, structure_id=sid)
            tid = self._team_of(d, team_id, locale)
            problem, new = team_unavailable(d.problem, d.current, tid)
            if not apply:
                return self._propose(replace(d, problem=problem), new, by=by, locale=locale)
            return self._commit(
                replace(d, problem=problem),
                new,
                "team_unavailable",
                by=by,
                locale=locale,
                confirm_dropped=confirm_dropped,
            )

    def teams_left(
        self,
        team_ids: Collection[int],
        days: Iterable[str],
        *,
        structure_id: int,
        by: str,
        locale: str | None = None,
    ) -> list[str]:
        """The published rounds of ``team_ids`` on ``days`` (today on), whose teams no longer
        work those days (a departure), are taken out of the day's plan: each such day is
        published again with their visits not started waiting for a team, with the reason
        (« l'équipe … ne travaille plus ce jour-là »), the other rounds as they were (taking
        a whole round out changes no other), and announced, so that maps and phones stop
        showing a round nobody will do. Returns the days published again."""
        locale = locale or self.options.locale
        wanted = {int(t) for t in team_ids}
        done: list[str] = []
        for day in sorted(set(days)):
            if day < self.clock.today():
                continue
            with self._day_lock(day, structure_id):
                stored = self.store.published_plan(day, structure_id=structure_id)
                if not stored or not any(int(r["team_id"]) in wanted for r in stored["routes"]):
                    continue
                ids = [int(s["visit_id"]) for r in stored["routes"] for s in r["stops"]]
                status = {int(v["id"]): v["status"] for v in self.store.get_visits(ids)}
                routes, waiting = [], []
                for r in stored["routes"]:
                    tid = int(r["team_id"])
                    if tid not in wanted:
                        routes.append({"team_id": tid, "stops": r["stops"]})
                        continue
                    kept = [s for s in r["stops"] if status.get(int(s["visit_id"])) not in OPEN]
                    if kept:
                        routes.append({"team_id": tid, "stops": kept})
                    name = self._team_name(tid)
                    reason = render("team_off", {"team": name, "why": "inactive"}, locale)
                    waiting += [
                        {"visit_id": int(s["visit_id"]), "reason": reason}
                        for s in r["stops"]
                        if status.get(int(s["visit_id"])) in OPEN
                    ]
                saved = self.store.save_plan(
                    day,
                    routes,
                    unassigned=list(stored.get("unassigned") or []) + waiting,
                    summary=stored.get("summary") or {},
                    territory=stored.get("territory"),
                    created_by=by,
                    publish=True,
                    base_plan_id=int(stored["id"]),
                    if_current=int(stored["id"]),
                    structure_id=structure_id,
                )
                self._announce(day, "team_unavailable", stored, saved, by=by, dropped=[])
                done.append(day)
        return done

    def _team_name(self, team_id: int) -> str:
        try:
            return str(self.store.get_team(team_id).get("name") or team_id)
        except DispatchError:
            return f"#{team_id}"

    def visit_changed(self, visit: dict[str, Any], *, by: str) -> dict[str, Any] | None:
        """A visit of a published round was edited, cancelled or given to another team by
        hand: its round (and the new team's) are re-timed, published and announced.

        Nothing happens for a visit in no published round (a new visit waits to be inserted).
        """
        day = visit.get("day")
        if not isinstance(day, str) or day < self.clock.today():
            return None
        vid = int(visit["id"])
        stored = self.store.published_plan(day)
        in_team = next(
            (tid for tid, stops in _routes_of(stored).items() if vid in _stop_ids(stops)), None
        )
        if in_team is None:
            return None
        sid = self.structure_of(visit.get("structure_id"), team_id=in_team)
        wanted = visit.get("team_id")
        if visit.get("status") in ("planned", "assigned") and wanted not in (None, in_team):
            # Given to another team by hand (a coordinator's edit): a move, applied as asked.
            change = self.move(
                day, vid, int(wanted), apply=True, force=True, by=by, structure_id=sid
            )
            return change
        with self._day_lock(day, sid):
            d = self.day(day, structure_id=sid)
            new = d.current
            if visit.get("status") == "planned" and wanted is None:
                # Taken out of its round by hand: it waits, unassigned, to be planned again.
                new = Plan(
                    routes=tuple(
                        r if r.team_id != str(in_team) else _route_without(d, r, str(vid))
                        for r in d.current.routes
                    ),
                    unassigned=d.current.unassigned,
                )
            return self._commit(d, new, "visit", by=by, locale=self.options.locale, force_drop=True)

    # -- arrival times -------------------------------------------------------------------------
    def etas(
        self, day: str | None = None, *, structure_id: int | None = None
    ) -> dict[int, dict[int, int]]:
        """Arrival times of the stops not yet reached, from where each team is now.

        The published rounds (of ``structure_id``, else of every structure) re-timed from the
        present (see :meth:`day`), team by team: ``{team_id: {visit_id: arrival_s}}``.
        """
        day = day or self.clock.today()
        out: dict[int, dict[int, int]] = {}
        for sid in sorted(self.store.published_plan_ids(day, structure_id)):
            try:
                out.update(self._etas_of(day, sid))
            except ValidationError:
                continue  # a structure with no team working now: nothing to time
        return out

    def _etas_of(self, day: str, structure_id: int) -> dict[int, dict[int, int]]:
        d = self.day(day, structure_id=structure_id)
        out: dict[int, dict[int, int]] = {}
        for route in d.current.routes:
            arrivals = {
                int(s.visit_id): int(s.arrival_s)
                for s in route.stops
                if s.kind == "visit" and s.visit_id is not None and s.status == "planned"
            }
            if arrivals:
                out[int(route.team_id)] = arrivals
        return out

    def publish_etas(self, day: str | None = None) -> int:
        """Announce the arrival times of today's rounds on the bus; returns how many teams."""
        etas = self.etas(day)
        at = self.clock.now()
        for team_id, arrivals in etas.items():
            self.bus.publish(ETAS, {"team_id": team_id, "at": at, "etas": arrivals})
        return len(etas)

    # -- shared steps --------------------------------------------------------------------------
    def _visit_of(self, d: Day, visit_id: int, locale: str | None = None) -> str:
        vid = str(visit_id)
        if vid not in d.problem.visits_by_id():
            for u in d.unroutable:
                if u.kind == "visit" and u.id == int(visit_id):
                    raise ValidationError(self._reason(d, u, locale or self.options.locale))
            raise NotFoundError(
                f"visit {visit_id} is not an open visit of {d.day}: create it first, or check "
                "that it is not cancelled"
            )
        return vid

    def _team_of(self, d: Day, team_id: int, locale: str | None = None) -> str:
        tid = str(team_id)
        if tid not in {t.id for t in d.problem.teams}:
            for u in d.unroutable:
                if u.kind == "team" and u.id == int(team_id):
                    raise ValidationError(self._reason(d, u, locale or self.options.locale))
            raise NotFoundError(f"team {team_id} is not an active team: activate it first")
        return tid

    def _movable_position(
        self, d: Day, vid: str, tid: str, position: int | None, locale: str
    ) -> int | None:
        """``position`` counts the visits of the team's round as the screens list them (done
        ones included, the visit moved left out); the optimiser counts those still to do."""
        if position is None:
            return None
        route = d.current.route(tid)
        stops = [s for s in route.stops if s.kind == "visit" and s.visit_id != vid] if route else []
        done = [s for s in stops if s.status != "planned"]
        if position > len(stops):
            raise ValidationError(
                text("position_out", locale, position=position, team=d.team_name(tid), n=len(stops))
            )
        if position < len(done):
            raise ValidationError(
                text(
                    "position_done",
                    locale,
                    team=d.team_name(tid),
                    after=d.visit_label(done[-1].visit_id or ""),
                )
            )
        return position - len(done)

    def _urgent(self, d: Day, vid: str, urgent: bool) -> tuple[Any, Visit]:
        visit = d.problem.visits_by_id()[vid]
        if not urgent:
            return d.problem, visit
        visit = replace(visit, priority=5)
        problem = d.problem.with_changes(
            visits=tuple(visit if v.id == vid else v for v in d.problem.visits)
        )
        return problem, visit

    def _keep_two_people(self, d: Day, new: Plan, vid: str, locale: str) -> None:
        """Refuse a move or an insertion that leaves a two-person visit half served.

        Both put the visit in one round (a move takes it out of every round first): a pair
        keeps it whole, one person alone cannot do it (and which of its two people to
        replace is not said). The whole plan's ``synchronisation`` rule decides (the move's
        own check sees only the teams concerned, not the partner); ``force`` does not
        override it."""
        if d.problem.visits_by_id()[vid].staff_count < 2:
            return

        def broken(plan: Plan) -> set[str]:
            return {
                f.message
                for f in plan_findings(d.problem, plan, locale=locale, scope="plan")
                if f.rule == "synchronisation"
            }

        if broken(new) - broken(d.current):
            raise ValidationError(text("two_person_move", locale, visit=d.visit_label(vid)))

    def _new_violations(self, d: Day, new: Plan, team_ids: set[str], locale: str) -> list[str]:
        """What ``new`` breaks in the rounds of ``team_ids`` that the current plan did not."""
        if not team_ids:
            return []

        def of(plan: Plan) -> list[str]:
            routes = tuple(r for r in plan.routes if r.team_id in team_ids)
            return check_plan(
                d.problem, Plan(routes=routes), locale=locale, labels=True, scope="routes"
            )

        before = set(of(d.current))
        return [v for v in of(new) if v not in before]

    def _commit(
        self,
        d: Day,
        new: Plan,
        change: str,
        *,
        by: str,
        locale: str,
        confirm_dropped: Iterable[int] = (),
        force_drop: bool = False,
    ) -> dict[str, Any]:
        """Save ``new`` as the day's plan if the day is still at ``d``'s version; announce it."""
        routes, unassigned = self._rows_with_unroutable(d, new, locale)
        draft = {
            "routes": routes,
            "unassigned": unassigned,
        }
        dropped = self._dropped(d.stored, draft, ignore=d.unroutable_ids("visit"))
        if not force_drop:
            _require_confirmed(dropped, confirm_dropped, locale)
        saved = self.store.save_plan(
            d.day,
            routes,
            unassigned=unassigned,
            summary=new.summary(),
            territory=d.ctx.territory,
            created_by=by,
            publish=True,
            base_plan_id=d.plan_id,
            if_current=d.plan_id,
            structure_id=d.structure_id,
        )
        body = self._announce(d.day, change, d.stored, saved, by=by, dropped=dropped)
        return {**body, "unroutable": self.unroutable(d, locale)}

    def _propose(self, d: Day, new: Plan, *, by: str, locale: str) -> dict[str, Any]:
        """Save ``new`` as a draft proposal of ``d``'s day, as :meth:`optimise` answers it."""
        routes, unassigned = self._rows_with_unroutable(d, new, locale)
        saved = self.store.save_plan(
            d.day,
            routes,
            unassigned=unassigned,
            summary=_summary_with_reasons(new),
            territory=d.ctx.territory,
            created_by=by,
            base_plan_id=d.plan_id,
            structure_id=d.structure_id,
        )
        return {
            "day": d.day,
            "structure_id": d.structure_id,
            "plan_id": saved["id"],
            "base_plan_id": d.plan_id,
            "applied": False,
            "dropped": self._dropped(d.stored, saved, ignore=d.unroutable_ids("visit")),
            "reassigned": self._reassigned(d, d.stored, saved),
            "violations": check_plan(d.problem, new, locale=locale),
            "comparison": self._compare(d, new),
            "summary": new.summary(),
            "unroutable": self.unroutable(d, locale),
        }

    def _announce(
        self,
        day: str,
        change: str,
        before: dict[str, Any] | None,
        after: dict[str, Any],
        *,
        by: str,
        dropped: list[dict[str, Any]],
    ) -> dict[str, Any]:
        """The change from ``before`` to ``after``, team by team, published once on the bus."""
        old, new = _routes_of(before), _routes_of(after)
        old_start = {
            int(s["visit_id"]): int(s["start_s"])
            for r in old.values()
            for s in r
            if s.get("start_s") is not None
        }
        added: dict[str, list[int]] = {}
        removed: dict[str, list[int]] = {}
        retimed: dict[str, list[int]] = {}
        teams: list[int] = []
        for tid in sorted(set(old) | set(new)):
            a, b = _stop_ids(old.get(tid, [])), _stop_ids(new.get(tid, []))
            plus = [v for v in b if v not in a]
            minus = [v for v in a if v not in b]
            moved_times = [
                int(s["visit_id"])
                for s in new.get(tid, [])
                if int(s["visit_id"]) in a
                and s.get("start_s") is not None
                and int(s["visit_id"]) in old_start
                and abs(int(s["start_s"]) - old_start[int(s["visit_id"])]) > RETIMED_S
            ]
            # Team ids as strings: the payload crosses JSON (REST, Socket.IO, Redis) as it is.
            if plus:
                added[str(tid)] = plus
            if minus:
                removed[str(tid)] = minus
            if moved_times:
                retimed[str(tid)] = moved_times
            if plus or minus or moved_times or a != b:
                teams.append(tid)
        moved = sorted(
            {v for vs in added.values() for v in vs} | {v for vs in removed.values() for v in vs}
        )
        payload = {
            "day": day,
            "structure_id": after.get("structure_id"),
            "plan_id": int(after["id"]),
            "base_plan_id": None if before is None else int(before["id"]),
            "change": change,
            "by": by,
            "at": self.clock.now(),
            "teams": teams,
            "added": added,
            "removed": removed,
            "retimed": retimed,
            "visits": moved,
            "dropped": [
                {"visit_id": x["visit_id"], "label": x["label"], "team_id": x["team_id"]}
                for x in dropped
            ],
        }
        self.bus.publish(PLAN_CHANGE, payload)
        return {**payload, "applied": True}

    # -- what the screens draw -----------------------------------------------------------------
    def with_geometry(self, plan: Plan, d: Day) -> Plan:
        """Each route with its road geometry (GeoJSON LineString)."""
        router, _ = self.router_source()
        routes = []
        for r in plan.routes:
            if not r.stops:
                routes.append(r)
                continue
            seq = [r.start_location] + [s.location for s in r.stops] + [r.end_location]
            coords: list[list[float]] = []
            for a, b in zip(seq, seq[1:], strict=False):
                if a == b:
                    continue
                leg = router.route_lonlat(d.ctx.lonlat(a), d.ctx.lonlat(b))
                part = [[float(x), float(y)] for x, y in leg.coordinates]
                coords.extend(part[1:] if coords else part)
            geometry = {"type": "LineString", "coordinates": coords} if len(coords) > 1 else None
            routes.append(replace(r, geometry=geometry))
        return replace(plan, routes=tuple(routes))

    def plan_payload(self, d: Day, plan: Plan, locale: str) -> dict[str, Any]:
        """A plan as the screens show it: team names, visit labels, places, times."""
        body = plan.to_dict(locale)
        for r in body["routes"]:
            r["team_name"] = d.team_name(r["team_id"])
            for s in r["stops"]:
                s["lon"], s["lat"] = d.ctx.lonlat(s["location"])
                if s["visit_id"]:
                    s["label"] = d.visit_label(s["visit_id"])
        for u in body["unassigned"]:
            u["label"] = d.visit_label(u["visit_id"])
        for u in d.unroutable:
            if u.kind == "visit":
                body["unassigned"].append(
                    {
                        "visit_id": str(u.id),
                        "code": "unroutable",
                        "params": {"why": u.why},
                        "message": self._reason(d, u, locale),
                        "label": u.name,
                    }
                )
        return body

    # -- places that cannot be routed ----------------------------------------------------------
    def _compare(self, d: Day, proposed: Plan) -> dict[str, Any]:
        """The current and proposed plans' figures, with the day's unroutable visits counted
        as unassigned in both (the solver never saw them, the coordinator must)."""
        comparison = compare_plans(d.problem, d.current, proposed)
        left_out = len(d.unroutable_ids("visit"))
        if left_out:
            for column in ("current", "proposed"):
                comparison[column]["visits_unassigned"] += left_out
        return comparison

    def _reason(self, d: Day, u: Unroutable, locale: str) -> str:
        if u.why in ("off", "absent", "no_base"):
            return text(
                f"unroutable.{u.kind}.{u.why}",
                locale,
                name=u.name,
                day=d.day,
                absence=text(f"absence.{u.absence}", locale) if u.absence else "",
            )
        router, _ = self.router_source()
        return text(
            f"unroutable.{u.kind}.{u.why}",
            locale,
            name=u.name,
            place=f"{u.lon:.5f},{u.lat:.5f}",
            territory=service_area_of(router).where(locale),
        )

    def unroutable(self, d: Day, locale: str | None = None) -> list[dict[str, Any]]:
        """The day's teams and visits left out (a place that cannot be routed, a team whose
        staff do not work that day), each with its reason for the coordinator (``kind``,
        ``id``, ``name``, ``why``, ``absence``, ``reason``)."""
        locale = locale or self.options.locale
        return [
            {
                "kind": u.kind,
                "id": u.id,
                "name": u.name,
                "lon": u.lon,
                "lat": u.lat,
                "why": u.why,
                "absence": u.absence,
                "day": d.day,
                "reason": self._reason(d, u, locale),
            }
            for u in d.unroutable
        ]

    def _rows_with_unroutable(
        self, d: Day, plan: Plan, locale: str
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """``plan_rows`` of ``plan``, with the rounds of unroutable teams kept as stored and
        the unroutable visits left out with their reason."""
        routes, unassigned = plan_rows(plan, locale=locale)
        routes += [{"team_id": int(r["team_id"]), "stops": r["stops"]} for r in d.carried_routes]
        unassigned += [
            {"visit_id": u.id, "reason": self._reason(d, u, locale)}
            for u in d.unroutable
            if u.kind == "visit"
        ]
        return routes, unassigned


def _summary_with_reasons(plan: Plan) -> dict[str, Any]:
    """The plan's totals, with each unassigned visit's reason code and parameters: a saved
    proposal's reasons are then written in the language of whoever reviews it."""
    return {
        **plan.summary(),
        "reasons": {
            str(u.visit_id): {"code": u.code, "params": u.params}
            for u in plan.unassigned
            if u.code != "stored"
        },
    }


def _recoded(plan: Plan, codes: dict[str, Any]) -> Plan:
    """``plan`` read back from the store, its unassigned visits given their saved reason codes."""
    if not codes:
        return plan
    unassigned = tuple(
        Unassigned(
            u.visit_id, codes[u.visit_id]["code"], dict(codes[u.visit_id].get("params") or {})
        )
        if u.visit_id in codes
        else u
        for u in plan.unassigned
    )
    return replace(plan, unassigned=unassigned)


def _require_confirmed(
    dropped: list[dict[str, Any]], confirmed: Iterable[int], locale: str
) -> None:
    """Refuse a change that takes planned visits out of the rounds unless each is confirmed."""
    ids = set(map(int, confirmed))
    missing = [x for x in dropped if x["visit_id"] not in ids]
    if missing:
        raise ConfirmationRequired(
            text(
                "confirm_dropped",
                locale,
                n=len(missing),
                names=", ".join(x["label"] for x in missing),
            ),
            code="confirm_dropped",
            details={"dropped": dropped},
        )


def _violations_to_confirm(violations: list[str], locale: str) -> ConfirmationRequired:
    """The refusal of a change that breaks rules, until the user confirms it (force)."""
    return ConfirmationRequired(
        text("confirm_violations", locale, what="; ".join(violations[:5])),
        code="confirm_violations",
        details={"violations": violations},
    )


def _route_without(d: Day, route: Any, vid: str) -> Any:
    """``route`` re-timed without visit ``vid``."""
    from dispatch.optimise.insertion import best_break_positions
    from dispatch.optimise.schedule import build_route

    states = states_from_plan(d.problem, Plan(routes=(route,)))
    st = states[route.team_id]
    items = [i for i in st.items if i != vid]
    movable, _ = best_break_positions(d.problem, st, items) if items else ([], None)
    return build_route(d.problem, st.team, movable, st.prefix)


def _travel(stops: Sequence[Any], end_travel_s: int) -> int:
    return sum(int(s.travel_time_s) for s in stops) + int(end_travel_s)


def _slot(plan: Plan, vid: str) -> dict[str, Any] | None:
    """Where ``vid`` stands in ``plan``: team, position among its visits, arrival, start."""
    found = plan.stop_of(vid)
    if found is None:
        return None
    route, index = found
    stop = route.stops[index]
    position = sum(1 for s in route.stops[:index] if s.kind == "visit")
    return {
        "team_id": int(route.team_id),
        "position": position,
        "arrival_s": stop.arrival_s,
        "start_s": stop.start_s,
        "arrival": hhmm(stop.arrival_s),
    }
