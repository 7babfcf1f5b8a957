"""The OsmAnd protocol of the Traccar Client app: query/form parameters or its JSON body."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dispatch.errors import ValidationError
from dispatch.live.quality import Fix

#: One knot in metres per second (the protocol's ``speed`` parameter is in knots).
KNOT_MPS = 1852.0 / 3600.0
#: Most locations read from one JSON body (as many as a REST batch of the phone page).
MAX_LOCATIONS = 5000


@dataclass(frozen=True)
class OsmandReport:
    """One position report: the device identifier it names and the fixes it carries (one,
    or a Traccar Client batch sent after a time offline, in the order received)."""

    device_id: str
    fixes: tuple[Fix, ...]

    @property
    def fix(self) -> Fix:
        """The report's only fix (the newest one of a batch)."""
        return max(self.fixes, key=lambda f: f.recorded_at)


def _number(params: Mapping[str, Any], *names: str) -> float | None:
    for name in names:
        raw = params.get(name)
        if raw is None or raw == "":
            continue
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise ValidationError(f"parameter {name}={raw!r} is not a number") from None
        if not math.isfinite(value):
            raise ValidationError(f"parameter {name}={raw!r} is not a finite number")
        return value
    return None


def _parse_iso(text: str) -> float:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T"))
    except ValueError:
        raise ValidationError(
            f"timestamp {text!r} is neither epoch seconds, milliseconds nor ISO 8601"
        ) from None
    if parsed.tzinfo is None:
        raise ValidationError(f"timestamp {text!r} has no time zone: add Z or +01:00")
    return parsed.timestamp()


def parse_time(raw: Any, *, now: float) -> float:
    """Epoch seconds from the protocol's ``timestamp``: seconds, milliseconds or ISO 8601."""
    if raw is None or raw == "":
        return now
    text = str(raw).strip()
    try:
        value = float(text)
    except ValueError:
        return _parse_iso(text)
    # Above ~year 2286 in seconds means the value is in milliseconds.
    return value / 1000.0 if value > 1e10 else value


def parse_osmand(params: Mapping[str, Any], *, now: float) -> OsmandReport:
    """Read a request in the OsmAnd format (GET query or POST form parameters).

    Parameters: ``id`` (device identifier), ``lat``, ``lon``, ``timestamp`` (epoch s or ms,
    or ISO 8601), ``speed`` (knots), ``bearing`` (degrees), ``altitude`` (m), ``accuracy``
    (m), ``batt`` (percent). ``location=lat,lon`` is accepted in place of lat/lon, as the
    Traccar server does.
    """
    device_id = str(params.get("id") or params.get("deviceid") or "").strip()
    if not device_id:
        raise ValidationError(
            "missing id: set the Traccar Client 'Device identifier' to the device token "
            "or identifier shown when the phone was paired"
        )
    lat, lon = _number(params, "lat"), _number(params, "lon")
    if (lat is None or lon is None) and params.get("location"):
        parts = str(params["location"]).split(",")
        if len(parts) == 2:
            lat, lon = _number({"lat": parts[0]}, "lat"), _number({"lon": parts[1]}, "lon")
    if lat is None or lon is None:
        raise ValidationError("missing lat or lon: the request carries no position")
    speed_kn = _number(params, "speed")
    fix = Fix(
        lon=lon,
        lat=lat,
        recorded_at=parse_time(params.get("timestamp"), now=now),
        accuracy_m=_number(params, "accuracy", "hdop"),
        speed_mps=None if speed_kn is None else speed_kn * KNOT_MPS,
        heading_deg=_number(params, "bearing", "heading"),
        altitude_m=_number(params, "altitude"),
        battery_pct=_number(params, "batt", "battery"),
    )
    return OsmandReport(device_id=device_id, fixes=(fix,))


def parse_osmand_json(body: Mapping[str, Any], *, now: float) -> OsmandReport:
    """Read the JSON body that Traccar Client 9 and later POST.

    ``{"device_id": ..., "location": {"timestamp": ISO, "coords": {"latitude", "longitude",
    "accuracy", "speed" (m/s), "heading", "altitude"}, "battery": {"level": 0..1}}}``;
    ``location`` is a list of such objects when the client sends the fixes it kept while
    offline in one request (batch sync): every one of them is read.
    """
    device_id = str(body.get("device_id") or "").strip()
    if not device_id:
        raise ValidationError(
            "missing device_id: set the Traccar Client 'Device identifier' to the device token"
        )
    location = body.get("location")
    if isinstance(location, list):
        if not location:
            raise ValidationError("location is an empty list: the request carries no position")
        if len(location) > MAX_LOCATIONS:
            raise ValidationError(
                f"{len(location)} locations in one request: send at most {MAX_LOCATIONS}"
            )
        fixes = tuple(
            _location_fix(item, label=f"location[{i}]", now=now) for i, item in enumerate(location)
        )
    else:
        fixes = (_location_fix(location, label="location", now=now),)
    return OsmandReport(device_id=device_id, fixes=fixes)


def _location_fix(location: Any, *, label: str, now: float) -> Fix:
    """One location object of the JSON body; errors name it (``location[3]: ...``)."""
    if not isinstance(location, Mapping) or not isinstance(location.get("coords"), Mapping):
        raise ValidationError(f"missing {label}.coords: the request carries no position")
    try:
        coords = location["coords"]
        lat, lon = _number(coords, "latitude"), _number(coords, "longitude")
        if lat is None or lon is None:
            raise ValidationError(f"missing {label}.coords.latitude or longitude")
        speed = _number(coords, "speed")
        heading = _number(coords, "heading")
        battery = location.get("battery") if isinstance(location.get("battery"), Mapping) else {}
        level = _number(battery or {}, "level")
        return Fix(
            lon=lon,
            lat=lat,
            recorded_at=parse_time(location.get("timestamp"), now=now),
            accuracy_m=_number(coords, "accuracy"),
            # The library reports -1 for "unknown" speed and heading.
            speed_mps=None if speed is None or speed < 0 else speed,
            heading_deg=None if heading is None or heading < 0 else heading,
            altitude_m=_number(coords, "altitude"),
            battery_pct=None if level is None or level < 0 else level * 100.0,
        )
    except ValidationError as exc:
        message = str(exc)
        if message.startswith(("missing", label)):
            raise
        raise ValidationError(f"{label}: {message}") from None
