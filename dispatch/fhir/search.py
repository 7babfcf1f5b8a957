"""Search parameters of the FHIR API: which a search takes, references, date prefixes, pages.

A parameter a search does not support is refused (400 with an OperationOutcome naming the
supported ones) rather than ignored: a client filtering on it would otherwise take every
record for the filtered ones.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from dispatch.errors import ValidationError
from dispatch.store.models import shown

#: Parameters any search accepts (``_format`` only as JSON: this server speaks no XML).
GENERAL = ("_count", "_offset", "_format")
JSON_FORMATS = ("json", "application/json", "application/fhir+json")
DEFAULT_COUNT = 100
MAX_COUNT = 1000
_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
_OPERATORS = ((">=", "ge"), ("<=", "le"), (">", "gt"), ("<", "lt"))
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def check_params(args: Mapping[str, Any], allowed: Collection[str], resource_type: str) -> None:
    """Refuse a parameter the search of ``resource_type`` does not support, or sent twice."""
    for name in args:
        if name not in allowed and name not in GENERAL:
            known = ", ".join([*allowed, "_count", "_offset"])
            raise ValidationError(
                f"search parameter {shown(name)} is not supported on {resource_type}: use {known}"
            )
    fmt = args.get("_format")
    if fmt is not None and fmt not in JSON_FORMATS:
        raise ValidationError(f"_format {shown(fmt)}: this server answers JSON only")


def reference_id(value: str | None, resource_type: str, *, what: str) -> str:
    """The id in a reference parameter (``Patient/12``, ``12`` or a URL ending with it)."""
    if value is None or not value.strip():
        raise ValidationError(f"give {what}: {resource_type}/<id>")
    text = value.strip()
    match = re.match(rf"^(?:.*/)?{resource_type}/([A-Za-z0-9\-.]{{1,64}})$", text)
    if match:
        return match.group(1)
    if re.match(r"^[A-Za-z0-9\-.]{1,64}$", text):
        return text
    raise ValidationError(f"{what} {shown(text)} is not a reference to a {resource_type}")


def int_id(text: str) -> int | None:
    """A record's number from a FHIR id (None when it is none: such a record is not found)."""
    if not re.fullmatch(r"[1-9][0-9]{0,15}", text):
        return None
    value = int(text)
    return value if value < 2**53 else None


def page(args: Mapping[str, Any]) -> tuple[int, int]:
    """``_count`` (0..1000, default 100) and ``_offset`` (default 0)."""
    out = []
    for name, default, hi in (("_count", DEFAULT_COUNT, MAX_COUNT), ("_offset", 0, 2**53)):
        raw = args.get(name)
        if raw is None or raw == "":
            out.append(default)
            continue
        if not re.fullmatch(r"[0-9]{1,16}", raw) or int(raw) > hi:
            raise ValidationError(f"{name}={shown(raw)} must be a whole number from 0 to {hi}")
        out.append(int(raw))
    return out[0], out[1]


class DateBound:
    """One ``date`` search value: a prefix and the interval its date or date-time stands for."""

    def __init__(self, raw: str, *, tz: str, what: str) -> None:
        prefix, text = "eq", raw.strip()
        if text[:2] in _PREFIXES:
            prefix, text = text[:2], text[2:]
        else:
            # The comparison operators of early FHIR drafts, which fhirclient still writes
            # ({"$gte": ...} -> ">=2026-12-08").
            for operator, name in _OPERATORS:
                if text.startswith(operator):
                    prefix, text = name, text[len(operator) :]
                    break
        if prefix not in ("eq", "gt", "lt", "ge", "le"):
            raise ValidationError(
                f"{what}: prefix {prefix} is not supported: use ge, gt, le, lt, eq"
            )
        try:
            if _DATE.match(text):
                day = dt.date.fromisoformat(text)
                start = dt.datetime.combine(day, dt.time(0), tzinfo=ZoneInfo(tz))
                end = dt.datetime.combine(
                    day + dt.timedelta(days=1), dt.time(0), tzinfo=ZoneInfo(tz)
                )
            else:
                start = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
                if start.tzinfo is None:
                    start = start.replace(tzinfo=ZoneInfo(tz))
                end = start + dt.timedelta(seconds=1)
        except ValueError:
            raise ValidationError(
                f"{what}={shown(raw)} is not a date (YYYY-MM-DD) or date-time with a prefix"
                " (e.g. ge2026-12-08)"
            ) from None
        self.prefix, self.start, self.end = prefix, start, end

    def admits(self, instant: dt.datetime) -> bool:
        """True when ``instant`` satisfies this bound."""
        if self.prefix == "ge":
            return instant >= self.start
        if self.prefix == "gt":
            return instant >= self.end
        if self.prefix == "le":
            return instant < self.end
        if self.prefix == "lt":
            return instant < self.start
        return self.start <= instant < self.end


def date_bounds(values: list[str], *, tz: str, what: str) -> list[DateBound]:
    """The bounds of a repeated ``date`` parameter (``start=ge...&start=le...``)."""
    return [DateBound(v, tz=tz, what=what) for v in values if v is not None]
