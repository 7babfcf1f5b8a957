"""Small helpers shared by the REST modules: JSON bodies, query arguments, pages, listeners."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from flask import Flask, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from dispatch.bus import Bus
from dispatch.errors import ValidationError
from dispatch.store.models import ServiceArea, parse_day, shown
from dispatch.store.rows import MAX_LIMIT, Page

log = logging.getLogger(__name__)
BUS_KEY = "dispatch.bus"


def ok(status: int = 200, **payload: Any) -> ResponseReturnValue:
    """``{"ok": true, **payload}`` with ``status``."""
    return jsonify({"ok": True, **payload}), status


def json_body(*, expect: type = dict) -> Any:
    """The request's JSON body, checked to be an object (or a list with ``expect=list``)."""
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # a body nested thousands of levels deep
        raise ValidationError(
            "the JSON body is nested too deeply: send plain objects and lists"
        ) from None
    if data is None:
        raise ValidationError("send a JSON body with the header 'Content-Type: application/json'")
    if not isinstance(data, expect):
        kind = "an object {...}" if expect is dict else "a list [...]"
        raise ValidationError(f"the JSON body must be {kind}")
    return data


def whole_number(value: Any) -> int | None:
    """``value`` as an int if it is a whole number in JSON (``3`` or ``3.0``: JSON Schema's
    integer), else None (booleans are not numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def arg_int(name: str, *, lo: int = 0, hi: int = 2**53, default: int | None = None) -> int | None:
    """An integer query argument within [lo, hi]."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(f"query argument {name}={shown(raw)} is not a whole number") from None
    if not lo <= value <= hi:
        raise ValidationError(f"query argument {name}={shown(value)} is not between {lo} and {hi}")
    return value


def arg_float(name: str) -> float | None:
    """A finite number query argument (absent: None; present but empty is not a number)."""
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValidationError(f"query argument {name}={shown(raw)} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValidationError(f"query argument {name}={shown(raw)} is not a finite number")
    return value


def arg_day(name: str = "day") -> str | None:
    """A ``YYYY-MM-DD`` query argument."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    return parse_day(raw, what=f"query argument {name}")


def arg_bool(name: str, default: bool = False) -> bool:
    """A true/false query argument (true, 1, yes / false, 0, no)."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    text = raw.strip().lower()
    if text in ("1", "true", "yes", "oui"):
        return True
    if text in ("0", "false", "no", "non"):
        return False
    raise ValidationError(f"query argument {name}={shown(raw)} must be true or false")


def arg_choice(name: str, choices: tuple[str, ...]) -> str | None:
    """A query argument among ``choices``."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if raw not in choices:
        raise ValidationError(
            f"query argument {name}={shown(raw)} is not one of {', '.join(choices)}"
        )
    return raw


def page_args() -> tuple[int, int]:
    """``limit`` (1..1000, default 100) and ``offset`` (default 0) from the query string."""
    limit = arg_int("limit", lo=1, hi=MAX_LIMIT, default=100)
    offset = arg_int("offset", lo=0, default=0)
    assert limit is not None and offset is not None
    return limit, offset


def paged(page: Page, *, items: list[Any] | None = None) -> ResponseReturnValue:
    """A list response: ``{"ok": true, "items", "total", "limit", "offset", "next"}``.

    ``next`` is the URL of the following page (same query, next offset) or null.
    """
    nxt = None
    if page.next_offset is not None:
        args = request.args.to_dict()
        args.update(limit=str(page.limit), offset=str(page.next_offset))
        nxt = f"{request.path}?{urlencode(args)}"
    return ok(
        items=list(page) if items is None else items,
        total=page.total,
        limit=page.limit,
        offset=page.offset,
        next=nxt,
    )


AREA_KEY = "dispatch.service_area"


def service_area(app: Flask | None = None) -> ServiceArea | None:
    """The served territory's area, for refusing places outside it (None: not built, so
    nothing to check against; the day's planning then reports such places instead)."""
    from dispatch.web.live import get_territory

    app = app or current_app
    territory = get_territory(app)
    if territory is None:
        return None
    cached = app.extensions.get(AREA_KEY)
    if cached is None or cached[0] is not territory:
        cached = (territory, ServiceArea.of_territory(territory))
        app.extensions[AREA_KEY] = cached
    area: ServiceArea = cached[1]
    return area


def get_bus(app: Flask | None = None) -> Bus:
    """The app's event bus (created on first use)."""
    app = app or current_app
    bus = app.extensions.get(BUS_KEY)
    if bus is None:
        bus = app.extensions.setdefault(BUS_KEY, Bus())
    return bus


def subscribe(app: Flask, topic: str, fn: Callable[[Any], None]) -> None:
    """Call ``fn(payload)`` after each committed change of ``topic`` (see :class:`Bus`)."""
    get_bus(app).subscribe(topic, fn)


def publish(topic: str, payload: Any) -> None:
    """Tell the listeners of ``topic`` (a failing listener is logged, never fails the request)."""
    get_bus().publish(topic, payload)
