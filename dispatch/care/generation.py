"""Visits generated from care plans over a horizon, as a pure diff against those already stored."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from dispatch.care.recurrence import (
    MAX_DAYS,
    Occurrence,
    OccurrenceKey,
    VisitTemplate,
    occurrences,
)
from dispatch.care.times import parse_day
from dispatch.errors import ValidationError

DEFAULT_HORIZON_DAYS = 14
#: The visit statuses of the store (dispatch.store.models.VISIT_STATUSES).
VISIT_STATUSES = ("planned", "assigned", "arrived", "in_progress", "done", "missed", "cancelled")
#: Statuses generation may change: a visit under way, done or missed is history.
OPEN_STATUSES = ("planned", "assigned", "cancelled")
CancelReason = Literal["suspended", "no_longer_planned"]
UpdateReason = Literal["plan_changed", "reinstated"]


@dataclass(frozen=True)
class Suspension:
    """A patient away from home (hospitalisation...) from ``from_day`` to ``to_day`` included.

    ``to_day`` None: until further notice.

    Examples
    --------
    >>> s = Suspension(3, dt.date(2026, 3, 25), dt.date(2026, 3, 27), "hospitalisation")
    >>> s.covers(3, dt.date(2026, 3, 27)), s.covers(3, dt.date(2026, 3, 28))
    (True, False)
    """

    patient_id: int
    from_day: dt.date
    to_day: dt.date | None
    reason: str

    def __post_init__(self) -> None:
        start = parse_day(self.from_day, what="suspension from_day")
        if self.to_day is not None:
            end = parse_day(self.to_day, what="suspension to_day")
            if end < start:
                raise ValidationError(
                    f"suspension of patient {self.patient_id}: to_day {end} is before from_day "
                    f"{start}: give the last day away, or none while it lasts"
                )
        if not isinstance(self.reason, str) or not self.reason.strip():
            raise ValidationError(
                f"suspension of patient {self.patient_id}: give a reason, e.g. hospitalisation"
            )

    def to_dict(self) -> dict[str, Any]:
        """``{"patient_id", "from_day", "to_day" (or null), "reason"}``."""
        return {
            "patient_id": self.patient_id,
            "from_day": self.from_day.isoformat(),
            "to_day": self.to_day.isoformat() if self.to_day else None,
            "reason": self.reason,
        }

    def covers(self, patient_id: int, day: dt.date) -> bool:
        """Whether the patient ``patient_id`` is away on ``day``."""
        return (
            patient_id == self.patient_id
            and self.from_day <= day
            and (self.to_day is None or day <= self.to_day)
        )


SUSPENSION_FIELDS = ("patient_id", "from_day", "to_day", "reason")


def suspension_from_dict(data: Any, *, label: str = "suspension") -> Suspension:
    """A suspension from JSON (``to_day`` null or absent: until further notice).

    Examples
    --------
    >>> suspension_from_dict({"patient_id": 3, "from_day": "2026-03-25",
    ...     "reason": "hospitalisation"}).to_day is None
    True
    """
    try:
        if not isinstance(data, Mapping):
            raise ValidationError("send a JSON object")
        for key in data:
            if key not in SUSPENSION_FIELDS:
                raise ValidationError(
                    f"unknown field {key!r}: the fields are {', '.join(SUSPENSION_FIELDS)}"
                )
        patient_id = data.get("patient_id")
        if isinstance(patient_id, bool) or not isinstance(patient_id, int) or patient_id < 1:
            raise ValidationError(f"patient_id {patient_id!r}: give the patient's id")
        to_day = data.get("to_day")
        return Suspension(
            patient_id,
            parse_day(data.get("from_day"), what="from_day"),
            None if to_day in (None, "") else parse_day(to_day, what="to_day"),
            data.get("reason"),  # type: ignore[arg-type]
        )
    except ValidationError as exc:
        raise ValidationError(f"{label}: {exc.message}") from None


@dataclass(frozen=True)
class ExistingOccurrence:
    """A visit generated earlier, as the store keeps it for the next generation.

    ``fingerprint`` is the :attr:`Occurrence.fingerprint` it was generated with (a hand edit
    leaves it and sets ``hand_edited``); ``cancelled_by`` says that generation cancelled it
    (and may bring it back), None for a visit cancelled by hand.
    """

    key: OccurrenceKey
    fingerprint: str
    start_epoch_s: int
    status: str = "planned"
    hand_edited: bool = False
    cancelled_by: CancelReason | None = None

    def __post_init__(self) -> None:
        if self.status not in VISIT_STATUSES:
            raise ValidationError(
                f"visit {self.key}: status {self.status!r}: use {', '.join(VISIT_STATUSES)}"
            )
        if self.cancelled_by not in (None, "suspended", "no_longer_planned"):
            raise ValidationError(
                f"visit {self.key}: cancelled_by {self.cancelled_by!r}: use suspended, "
                "no_longer_planned or none"
            )
        if self.cancelled_by is not None and self.status != "cancelled":
            raise ValidationError(f"visit {self.key}: cancelled_by is only for a cancelled visit")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (the key as ``PLAN/YYYY-MM-DD/WINDOW``)."""
        return {
            "key": str(self.key),
            "fingerprint": self.fingerprint,
            "start_epoch_s": self.start_epoch_s,
            "status": self.status,
            "hand_edited": self.hand_edited,
            "cancelled_by": self.cancelled_by,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExistingOccurrence:
        """The stored visit :meth:`to_dict` writes."""
        return cls(
            key=OccurrenceKey.parse(data["key"]),
            fingerprint=str(data["fingerprint"]),
            start_epoch_s=int(data["start_epoch_s"]),
            status=data.get("status", "planned"),
            hand_edited=bool(data.get("hand_edited", False)),
            cancelled_by=data.get("cancelled_by"),
        )

    @classmethod
    def from_occurrence(cls, occurrence: Occurrence) -> ExistingOccurrence:
        """The stored form of a visit just created from ``occurrence``."""
        return cls(occurrence.key, occurrence.fingerprint, occurrence.start_epoch_s)


@dataclass(frozen=True)
class Update:
    """A stored visit to change: ``occurrence`` is its new content.

    ``occurrence`` None (a visit edited by hand that a suspension had cancelled): only the
    status goes back to planned, the edited content stays.
    """

    key: OccurrenceKey
    reason: UpdateReason
    occurrence: Occurrence | None


@dataclass(frozen=True)
class Cancellation:
    """A stored visit to cancel, and why (``detail``: the suspension's reason)."""

    key: OccurrenceKey
    reason: CancelReason
    detail: str = ""


@dataclass(frozen=True)
class GenerationPlan:
    """What a generation changes: visits to create, update and cancel, and those left as they are.

    ``kept`` lists the visits edited by hand that differ from the plan (part of ``unchanged``);
    ``suspended`` the visits not created because the patient is away.
    """

    from_day: dt.date
    days: int
    create: tuple[Occurrence, ...]
    update: tuple[Update, ...]
    cancel: tuple[Cancellation, ...]
    unchanged: tuple[OccurrenceKey, ...]
    kept: tuple[OccurrenceKey, ...]
    suspended: tuple[OccurrenceKey, ...]

    def counts(self) -> dict[str, int]:
        """``{"created", "unchanged", "cancelled", "updated"}``: the answer of the CLI and REST."""
        return {
            "created": len(self.create),
            "unchanged": len(self.unchanged),
            "cancelled": len(self.cancel),
            "updated": len(self.update),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: the counts, the horizon and the keys of each change."""
        return {
            **self.counts(),
            "from": self.from_day.isoformat(),
            "days": self.days,
            "kept": [str(k) for k in self.kept],
            "suspended": [str(k) for k in self.suspended],
            "cancel": [{"key": str(c.key), "reason": c.reason} for c in self.cancel],
            "update": [{"key": str(u.key), "reason": u.reason} for u in self.update],
        }

    def apply(self, existing: Iterable[ExistingOccurrence]) -> tuple[ExistingOccurrence, ...]:
        """The stored visits after this plan, sorted by key: what a store must do, in memory.

        Examples
        --------
        >>> generate([], (), dt.date(2026, 3, 23)).apply(())
        ()
        """
        stored = {e.key: e for e in existing}
        for o in self.create:
            stored[o.key] = ExistingOccurrence.from_occurrence(o)
        for u in self.update:
            before = stored[u.key]
            if u.occurrence is None:
                stored[u.key] = dataclasses.replace(before, status="planned", cancelled_by=None)
            else:
                stored[u.key] = dataclasses.replace(
                    ExistingOccurrence.from_occurrence(u.occurrence), hand_edited=before.hand_edited
                )
        for c in self.cancel:
            stored[c.key] = dataclasses.replace(
                stored[c.key], status="cancelled", cancelled_by=c.reason
            )
        return tuple(stored[k] for k in sorted(stored))


def generate(
    templates: Sequence[VisitTemplate],
    existing: Iterable[ExistingOccurrence],
    from_day: dt.date | str,
    days: int = DEFAULT_HORIZON_DAYS,
    *,
    suspensions: Iterable[Suspension] = (),
    now_s: float | None = None,
    tz: str = "Europe/Paris",
) -> GenerationPlan:
    """The changes that bring the stored visits of ``templates`` in line with them over a horizon.

    Rules, for the ``days`` days from ``from_day`` and the visits of the templates given (the
    visits of other care plans and of other days are not looked at):

    - A visit the plan gives and the store lacks is created; running again creates nothing.
    - A suspension cancels the visits of its days, those edited by hand included (the patient
      is not at home), and none is created meanwhile. When it is shortened or removed, the
      visits it cancelled come back (an edited one with its edits).
    - A visit edited by hand is kept, whatever the plan now says.
    - A visit whose plan changed is updated; one the plan no longer gives is cancelled.
    - The past is left alone: a visit starting before ``now_s`` (None: all are future), or
      under way, done or missed, is never changed, and none is created before ``now_s``.

    A window that falls in the hour the clocks skip shifts forward (see
    :func:`dispatch.care.recurrence.occurrences`): generation never fails on DST.

    Examples
    --------
    >>> from dispatch.care.recurrence import LocalWindow
    >>> t = VisitTemplate(template_id=1, patient_id=3, kind="insulin", duration_s=900,
    ...     windows=(LocalWindow.parse("08:00-10:00"),), rrule="FREQ=DAILY",
    ...     start_day=dt.date(2026, 3, 1))
    >>> first = generate([t], (), dt.date(2026, 3, 23))
    >>> first.counts()
    {'created': 14, 'unchanged': 0, 'cancelled': 0, 'updated': 0}
    >>> generate([t], first.apply(()), dt.date(2026, 3, 23)).counts()["created"]
    0
    """
    first = parse_day(from_day, what="from")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise ValidationError(f"days {days!r}: give 1 to {MAX_DAYS} days ahead (14 by default)")
    by_id: dict[int, VisitTemplate] = {}
    for t in templates:
        if t.template_id in by_id:
            raise ValidationError(f"care plan {t.template_id} is given twice: give each plan once")
        by_id[t.template_id] = t
    desired: dict[OccurrenceKey, Occurrence] = {}
    for t in by_id.values():
        for o in occurrences(t, first, days, tz):
            desired[o.key] = o
    last = first + dt.timedelta(days=days - 1)
    away = tuple(suspensions)

    def suspension(template_id: int, day: dt.date) -> Suspension | None:
        patient_id = by_id[template_id].patient_id
        return next((s for s in away if s.covers(patient_id, day)), None)

    create: list[Occurrence] = []
    update: list[Update] = []
    cancel: list[Cancellation] = []
    unchanged: list[OccurrenceKey] = []
    kept: list[OccurrenceKey] = []
    suspended: list[OccurrenceKey] = []
    seen: set[OccurrenceKey] = set()
    for e in existing:
        key = e.key
        if key.template_id not in by_id or not first <= key.day <= last:
            continue
        if key in seen:
            raise ValidationError(f"visit {key} is stored twice: keep one")
        seen.add(key)
        wanted = desired.get(key)
        if e.status not in OPEN_STATUSES or (now_s is not None and e.start_epoch_s < now_s):
            unchanged.append(key)
            continue
        away_for = suspension(key.template_id, key.day)
        if away_for is not None:
            if e.status == "cancelled":
                unchanged.append(key)
            else:
                cancel.append(Cancellation(key, "suspended", away_for.reason))
            continue
        if e.status == "cancelled":
            if e.cancelled_by is not None and wanted is not None:
                update.append(Update(key, "reinstated", None if e.hand_edited else wanted))
            else:
                unchanged.append(key)
            continue
        if e.hand_edited:
            unchanged.append(key)
            if wanted is None or wanted.fingerprint != e.fingerprint:
                kept.append(key)
        elif wanted is None:
            cancel.append(Cancellation(key, "no_longer_planned"))
        elif wanted.fingerprint != e.fingerprint:
            update.append(Update(key, "plan_changed", wanted))
        else:
            unchanged.append(key)
    for key, o in desired.items():
        if key in seen or (now_s is not None and o.start_epoch_s < now_s):
            continue
        if suspension(key.template_id, key.day) is not None:
            suspended.append(key)
        else:
            create.append(o)
    return GenerationPlan(
        from_day=first,
        days=days,
        create=tuple(sorted(create, key=lambda o: o.key)),
        update=tuple(sorted(update, key=lambda u: u.key)),
        cancel=tuple(sorted(cancel, key=lambda c: c.key)),
        unchanged=tuple(sorted(unchanged)),
        kept=tuple(sorted(kept)),
        suspended=tuple(sorted(suspended)),
    )
