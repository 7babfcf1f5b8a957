"""Generating the visits of care plans: one service function for the web, the CLI, the
schedule and the demo (no Flask here: changed visits go out on a :class:`dispatch.bus.Bus`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Protocol

from dispatch.care.generation import (
    DEFAULT_HORIZON_DAYS,
    Cancellation,
    ExistingOccurrence,
    GenerationPlan,
    generate,
)
from dispatch.care.times import parse_day, zone
from dispatch.errors import ValidationError

log = logging.getLogger(__name__)

#: Longest horizon of one generation (days): two months of visits at most per run.
MAX_GENERATION_DAYS = 62


class Publisher(Protocol):
    """What the service publishes changed visits on (a :class:`dispatch.bus.Bus`)."""

    def publish(self, topic: str, payload: Any) -> int: ...


@dataclass(frozen=True)
class GenerationResult:
    """What a generation did over ``days`` days from ``from_day`` (counts of visits).

    ``unchanged`` includes ``kept`` (visits edited by hand that now differ from their plan);
    ``suspended``: visits not created because the patient is away. ``visit_ids``: the visits
    written (created, updated or cancelled), for the caller to publish or show.
    """

    from_day: dt.date
    days: int
    created: int
    updated: int
    unchanged: int
    cancelled: int
    kept: int
    suspended: int
    duration_s: float
    visit_ids: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """``{"from", "days", "created", "updated", "unchanged", "cancelled", "kept",
        "suspended", "duration_s"}``: the answer of the CLI and the REST API."""
        return {
            "from": self.from_day.isoformat(),
            "days": self.days,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "cancelled": self.cancelled,
            "kept": self.kept,
            "suspended": self.suspended,
            "duration_s": round(self.duration_s, 3),
        }


def retire(
    plan: GenerationPlan,
    retired: Collection[int],
    existing: Collection[ExistingOccurrence],
    *,
    now_s: float | None,
) -> GenerationPlan:
    """``plan`` plus the cancellation of the open visits of care plans that give no visit any
    more (``retired``: deleted plans), under the rules of a plan that no longer gives a visit:
    the past, visits under way or done, and visits edited by hand are left as they are.
    """
    gone = set(retired)
    if not gone:
        return plan
    cancel = list(plan.cancel)
    unchanged = list(plan.unchanged)
    kept = list(plan.kept)
    for e in existing:
        if e.key.template_id not in gone or not plan.from_day <= e.key.day:
            continue
        if (e.key.day - plan.from_day).days >= plan.days:
            continue
        past = now_s is not None and e.start_epoch_s < now_s
        if e.status in ("planned", "assigned") and not past and not e.hand_edited:
            cancel.append(Cancellation(e.key, "no_longer_planned"))
        else:
            unchanged.append(e.key)
            if e.hand_edited and e.status in ("planned", "assigned"):
                kept.append(e.key)
    return dataclasses.replace(
        plan,
        cancel=tuple(sorted(cancel, key=lambda c: c.key)),
        unchanged=tuple(sorted(unchanged)),
        kept=tuple(sorted(kept)),
    )


def check_days(days: Any) -> int:
    """``days`` as a horizon of 1 to :data:`MAX_GENERATION_DAYS` days, or a ValidationError."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_GENERATION_DAYS:
        raise ValidationError(
            f"days {days!r}: give 1 to {MAX_GENERATION_DAYS} days ahead "
            f"({DEFAULT_HORIZON_DAYS} by default)"
        )
    return days


def generate_visits(
    store: Any,
    bus: Publisher | None = None,
    *,
    from_day: dt.date | str,
    days: int = DEFAULT_HORIZON_DAYS,
    structures: Collection[int] | None = None,
    patient_ids: Collection[int] | None = None,
    care_plan_ids: Collection[int] | None = None,
    now_s: float | None = None,
    tz: str = "Europe/Paris",
    actor: str = "system",
) -> GenerationResult:
    """Bring the stored visits of the care plans in scope in line with them over ``days``
    days from ``from_day`` (see :func:`dispatch.care.generation.generate` for the rules).

    Scope: the care plans of ``structures`` (None: every structure), narrowed to
    ``patient_ids`` and ``care_plan_ids`` when given (one outside ``structures`` is a
    NotFoundError). ``now_s``: the present (Unix seconds; None: now): nothing before it is
    created or changed; 0 treats every day of the horizon as future (the demo's first day).
    Running it twice creates nothing the second time. Each visit written is published on
    ``bus`` (topic ``visit``, its public view); the run is audited when it changed anything.
    """
    started = time.perf_counter()
    first = parse_day(from_day, what="from")
    days = check_days(days)
    zone(tz)
    now = time.time() if now_s is None else float(now_s)
    last = first + dt.timedelta(days=days - 1)
    inputs = store.generation_inputs(
        first,
        last,
        structures=structures,
        patient_ids=patient_ids,
        care_plan_ids=care_plan_ids,
    )
    plan = generate(
        inputs.templates,
        [e for e in inputs.existing if e.key.template_id not in set(inputs.retired)],
        first,
        days,
        suspensions=inputs.suspensions,
        now_s=now,
        tz=tz,
    )
    plan = retire(plan, inputs.retired, inputs.existing, now_s=now)
    applied = store.apply_generation(plan, inputs, now_s=now)
    result = GenerationResult(
        from_day=first,
        days=days,
        created=len(applied.created),
        updated=len(applied.updated),
        unchanged=len(plan.unchanged) + applied.skipped,
        cancelled=len(applied.cancelled),
        kept=len(plan.kept),
        suspended=len(plan.suspended),
        duration_s=time.perf_counter() - started,
        visit_ids=applied.changed,
    )
    if applied.changed:
        store.audit(
            actor,
            "visits.generate",
            detail={
                k: v
                for k, v in result.to_dict().items()
                if k in ("from", "days", "created", "updated", "cancelled")
            }
            | {"structures": None if structures is None else sorted(structures)},
        )
        if bus is not None:
            for visit in store.get_visits(list(applied.changed)):
                bus.publish("visit", visit)
    log.info(
        "generation from %s, %d days: %d created, %d updated, %d cancelled in %.2f s",
        first,
        days,
        result.created,
        result.updated,
        result.cancelled,
        result.duration_s,
    )
    return result
