"""Validation of teams, visits, positions and events: plain dicts in, clean rows or clear errors."""

from __future__ import annotations

import colorsys
import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from dispatch.errors import ValidationError

ROLES = ("admin", "coordinator", "planner", "team_member", "referrer")
#: Kinds of care service a team belongs to: home nursing (SSIAD), hospital at home (HAD),
#: nursing centre, care aides (SAAD), palliative, geriatric, coordination (DAC), other.
TEAM_KINDS = (
    "nursing",
    "had",
    "nursing_centre",
    "saad",
    "palliative",
    "geriatric",
    "dac",
    "other",
)
#: Kinds of structure (organisation) sharing a deployment: home nursing service (SSIAD),
#: hospital at home (HAD), nursing centre, care-aide service (SAAD), mobile palliative team,
#: mobile geriatric team, coordination support service (DAC).
STRUCTURE_KINDS = (
    "ssiad",
    "had",
    "nursing_centre",
    "saad",
    "palliative_team",
    "geriatric_team",
    "dac",
)
#: Kinds of care a visit needs.
CARE_KINDS = ("nursing", "palliative", "geriatric", "other")
#: Colours given to new teams, in order: the first one no active team uses (distinct on the
#: map's light base and readable as a 3:1 marker outline).
TEAM_PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#17becf",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#7f7f7f",
    "#393b79",
    "#637939",
    "#8c6d31",
    "#843c39",
    "#7b4173",
    "#3182bd",
)
VEHICLE_PROFILES = ("car", "bike", "foot")
VISIT_STATUSES = ("planned", "assigned", "arrived", "in_progress", "done", "missed", "cancelled")
EVENT_KINDS = ("arrival", "check_in", "check_out", "missed", "note")
#: Status a visit takes after each event kind.
EVENT_STATUS = {
    "arrival": "arrived",
    "check_in": "in_progress",
    "check_out": "done",
    "missed": "missed",
}
PROTECTED_FIELDS = ("name", "phone", "address_details", "notes")
DAY_S = 86_400
#: YYYY-MM-DD only (Python also reads "20261123" and "2026-W48-1" as dates).
_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_HHMM = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_SKILL = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,39}$")
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-@]{0,63}$")


def format_hhmm(seconds: int) -> str:
    """``30600`` -> ``"08:30"`` (seconds since midnight)."""
    seconds = int(seconds)
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def parse_time_s(value: Any, *, what: str) -> int:
    """Seconds since midnight from ``"HH:MM"``, ``"HH:MM:SS"`` or an int of seconds."""
    if isinstance(value, bool):
        raise ValidationError(f'{what}: {shown(value)} is not a time: write "HH:MM" (e.g. "08:30")')
    if isinstance(value, int) and not -(2**63) < value < 2**63:
        raise ValidationError(f"{what}: the number is far too large")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value != int(value):
            raise ValidationError(f"{what}: {shown(value)} is not a whole number of seconds")
        seconds = int(value)
    elif isinstance(value, str):
        m = _HHMM.match(value.strip())
        if not m:
            raise ValidationError(
                f'{what}: {shown(value)} is not a time: write "HH:MM" (e.g. "08:30")'
            )
        hours, minutes, secs = int(m[1]), int(m[2]), int(m[3] or 0)
        if minutes > 59 or secs > 59:
            raise ValidationError(f"{what}: {shown(value)} has minutes or seconds above 59")
        seconds = hours * 3600 + minutes * 60 + secs
    else:
        raise ValidationError(f'{what}: {shown(value)} is not a time: write "HH:MM" (e.g. "08:30")')
    if not 0 <= seconds <= DAY_S:
        raise ValidationError(f"{what}: {shown(value)} is outside the day (00:00 to 24:00)")
    return seconds


def parse_windows(value: Any, *, label: str) -> list[list[int]]:
    """Time windows as ``[[start_s, end_s], ...]`` from seconds or "HH:MM" pairs (or "08:00-10:00")."""
    if isinstance(value, str):
        parts = [p.strip() for p in re.split(r"[;,]", value) if p.strip()]
        value = [p.split("-", 1) if "-" in p else [p] for p in parts]
    if not isinstance(value, list) or not value:
        raise ValidationError(
            f"{label}: time windows must be a non-empty list of [start, end] pairs, "
            'e.g. [["08:00", "10:00"]]'
        )
    if len(value) > 8:
        raise ValidationError(f"{label}: at most 8 time windows, got {len(value)}")
    windows: list[list[int]] = []
    for item in value:
        if not isinstance(item, list | tuple) or len(item) != 2:
            raise ValidationError(
                f'{label}: time window {shown(item)} is not a [start, end] pair, e.g. ["08:00", "10:00"]'
            )
        start = parse_time_s(item[0], what=f"{label}: time window start")
        end = parse_time_s(item[1], what=f"{label}: time window end")
        if end <= start:
            raise ValidationError(
                f"{label}: time window {format_hhmm(start)}-{format_hhmm(end)} "
                "ends before it starts"
            )
        windows.append([start, end])
    windows.sort()
    for (_, end_a), (start_b, _) in zip(windows, windows[1:], strict=False):
        if start_b < end_a:
            raise ValidationError(f"{label}: time windows overlap; merge them into one")
    return windows


def parse_skills(value: Any, *, label: str) -> list[str]:
    """A sorted list of skill names (lowercase, letters/digits/_/-)."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = [s for s in re.split(r"[;,\s]+", value) if s]
    if not isinstance(value, list):
        raise ValidationError(f'{label}: skills must be a list of names, e.g. ["insulin"]')
    out = set()
    for skill in value:
        if not isinstance(skill, str) or not _SKILL.match(skill.strip().lower()):
            raise ValidationError(
                f"{label}: skill {shown(skill)} is not a name (lowercase letters, digits, _ or -)"
            )
        out.add(skill.strip().lower())
    return sorted(out)


def _choice(value: Any, choices: tuple[str, ...], *, what: str) -> str:
    if value not in choices:
        raise ValidationError(f"{what}: {shown(value)} is not one of {', '.join(choices)}")
    return str(value)


def _text(value: Any, *, what: str, max_len: int = 200, required: bool = False) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationError(f"{what} is required")
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{what}: {shown(value)} is not text")
    if len(value) > max_len:
        raise ValidationError(f"{what} is longer than {max_len} characters")
    return value.strip()


def _number(value: Any, *, what: str, lo: float, hi: float, required: bool = False) -> float | None:
    if value is None or value == "":
        if required:
            raise ValidationError(f"{what} is required")
        return None
    if isinstance(value, bool):
        raise ValidationError(f"{what}: {shown(value)} is not a number")
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float (e.g. 10**400)
        raise ValidationError(f"{what}: the number is far too large") from None
    except (TypeError, ValueError):
        raise ValidationError(f"{what}: {_short(value)} is not a number") from None
    if not math.isfinite(number) or not lo <= number <= hi:
        raise ValidationError(f"{what}: {shown(value)} is not between {lo:g} and {hi:g}")
    return number


#: Longest piece of a client's input quoted back in an error message (characters).
SHOWN_CHARS = 80


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """``repr(value)`` cut to ``limit`` characters: error messages quote what was sent, but
    a field name or value of megabytes must not come back whole."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**30:
        return "a huge number"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short(value: Any) -> str:
    """``repr(value)`` cut to 40 characters (error messages must stay readable)."""
    return shown(value, 40)


def _int(value: Any, *, what: str, lo: int, hi: int, required: bool = False) -> int | None:
    number = _number(value, what=what, lo=lo, hi=hi, required=required)
    if number is None:
        return None
    if number != int(number):
        raise ValidationError(f"{what}: {shown(value)} is not a whole number")
    return int(number)


def parse_id(value: Any, *, what: str) -> int | None:
    """An optional positive integer id."""
    return _int(value, what=what, lo=1, hi=2**53, required=False)


#: Time zone of the service's calendar days ("today" is the day in France, not in UTC).
LOCAL_TZ = "Europe/Paris"


def local_today(tz: str = LOCAL_TZ, *, now_s: float | None = None) -> str:
    """Today's date (``YYYY-MM-DD``) in ``tz``: between 00:00 and 01:00/02:00 in Paris the
    UTC date is still yesterday, and a round asked for "today" must be the French day."""
    when = dt.datetime.now(dt.UTC) if now_s is None else dt.datetime.fromtimestamp(now_s, dt.UTC)
    return when.astimezone(ZoneInfo(tz)).date().isoformat()


def parse_day(value: Any, *, what: str = "day") -> str:
    """A calendar day as ``YYYY-MM-DD``."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if not isinstance(value, str) or not _DAY.match(value.strip()):
        raise ValidationError(f"{what}: {shown(value)} is not a date: write YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise ValidationError(f"{what}: {shown(value)} is not a date: write YYYY-MM-DD") from None


def parse_duration_s(value: Any, *, label: str) -> int:
    """A duration in seconds (int) or minutes written ``"30min"``."""
    if isinstance(value, str) and value.strip().endswith("min"):
        value = _number(value.strip()[:-3], what=f"{label}: duration", lo=1, hi=720) * 60  # type: ignore[operator]
    duration = _int(value, what=f"{label}: duration_s", lo=60, hi=12 * 3600, required=True)
    assert duration is not None
    return duration


@dataclass(frozen=True)
class ServiceArea:
    """Where the service's places may be: the served territory's outline (or its box).

    ``bbox`` is ``(west, south, east, north)`` in degrees; ``boundary`` a shapely geometry in
    lon/lat (None: the box alone). A place outside cannot be routed, and one such place would
    otherwise reach the day's planning; it is refused where it is entered, with a message
    that says where the territory is.
    """

    name: str
    bbox: tuple[float, float, float, float]
    boundary: Any = None
    #: Places this close outside the outline are accepted (piers, slivers between communes).
    tolerance_m: float = 200.0

    @classmethod
    def of_territory(cls, territory: Any) -> ServiceArea:
        """The area of a built :class:`~dispatch.territory.model.Territory`."""
        info = getattr(territory, "info", None)
        bbox = info.get("bbox") if isinstance(info, dict) else None
        if not bbox:
            bbox = territory.graph.bbox()
        boundary = getattr(territory, "boundary", None)
        if boundary is not None and getattr(boundary, "is_empty", False):
            boundary = None
        if boundary is not None:
            import shapely

            shapely.prepare(boundary)
        name = str(getattr(territory, "name", "") or getattr(territory, "id", "the territory"))
        w, s, e, n = (float(v) for v in bbox)
        return cls(name=name, bbox=(w, s, e, n), boundary=boundary)

    def contains(self, lon: float, lat: float) -> bool:
        """Whether ``lon``/``lat`` is in the territory (within the tolerance)."""
        if not (math.isfinite(lon) and math.isfinite(lat)):
            return False
        # Degrees of latitude: an overestimate of the degrees the tolerance spans, never an
        # underestimate of how far a refused place is.
        tol_deg = self.tolerance_m / 111_320.0
        w, s, e, n = self.bbox
        if not (w - tol_deg <= lon <= e + tol_deg and s - tol_deg <= lat <= n + tol_deg):
            return False
        if self.boundary is None:
            return True
        import shapely

        point = shapely.Point(lon, lat)
        return bool(
            shapely.contains(self.boundary, point) or shapely.dwithin(self.boundary, point, tol_deg)
        )

    def where(self, locale: str = "en") -> str:
        """Where the territory is, for messages ("fr": French words and decimal commas)."""
        w, s, e, n = self.bbox
        if locale == "fr":
            w_, s_, e_, n_ = (f"{x:.3f}".replace(".", ",") for x in (w, s, e, n))
            return f"{self.name} (longitude {w_} à {e_}, latitude {s_} à {n_})"
        return f"{self.name} (longitude {w:.3f} to {e:.3f}, latitude {s:.3f} to {n:.3f})"

    def check(self, lon: Any, lat: Any, *, what: str) -> None:
        """Refuse ``lon``/``lat`` outside the territory (ValidationError saying where it is)."""
        if lon is None or lat is None:
            return
        lon, lat = float(lon), float(lat)
        if self.contains(lon, lat):
            return
        swapped = " (swapped? the order is longitude, latitude)" if self.contains(lat, lon) else ""
        raise ValidationError(
            f"{what} {lon:.5f},{lat:.5f} is outside the territory{swapped}: "
            f"choose a place in {self.where()}",
            details={"territory": self.name, "bbox": list(self.bbox)},
        )


def _unknown(data: Mapping[str, Any], known: set[str], *, label: str) -> None:
    extra = sorted(set(data) - known)
    if extra:
        raise ValidationError(
            f"{label}: unknown field(s) {', '.join(map(shown, extra[:5]))}"
            f"{' and more' if len(extra) > 5 else ''}; known: {', '.join(sorted(known))}"
        )


TEAM_FIELDS = {
    "name",
    "kind",
    "skills",
    "base_name",
    "base_lon",
    "base_lat",
    "shift_start",
    "shift_end",
    "vehicle_profile",
    "color",
    "active",
}


def parse_team(data: Any, *, partial: bool = False) -> dict[str, Any]:
    """A team row from API/CLI input (``shift_start``/``shift_end`` as "HH:MM" or seconds)."""
    if not isinstance(data, Mapping):
        raise ValidationError("team: send a JSON object")
    label = f"team {shown(data.get('name'))}" if isinstance(data.get("name"), str) else "team"
    _unknown(data, TEAM_FIELDS, label=label)
    row: dict[str, Any] = {}
    if not partial or "name" in data:
        row["name"] = _text(data.get("name"), what=f"{label}: name", max_len=80, required=True)
    if not partial or "kind" in data:
        row["kind"] = _choice(data.get("kind", "nursing"), TEAM_KINDS, what=f"{label}: kind")
    if not partial or "skills" in data:
        row["skills"] = parse_skills(data.get("skills"), label=label)
    if "base_name" in data:
        row["base_name"] = _text(data["base_name"], what=f"{label}: base_name")
    for key, lo, hi in (("base_lon", -180, 180), ("base_lat", -90, 90)):
        if not partial or key in data:
            row[key] = _number(data.get(key), what=f"{label}: {key}", lo=lo, hi=hi, required=True)
    if not partial or "shift_start" in data:
        row["shift_start_s"] = parse_time_s(
            data.get("shift_start", "07:00"), what=f"{label}: shift_start"
        )
    if not partial or "shift_end" in data:
        row["shift_end_s"] = parse_time_s(
            data.get("shift_end", "19:00"), what=f"{label}: shift_end"
        )
    if (
        "shift_start_s" in row
        and "shift_end_s" in row
        and row["shift_end_s"] <= row["shift_start_s"]
    ):
        raise ValidationError(
            f"{label}: shift {format_hhmm(row['shift_start_s'])}-{format_hhmm(row['shift_end_s'])} "
            "ends before it starts"
        )
    if not partial or "vehicle_profile" in data:
        row["vehicle_profile"] = _choice(
            data.get("vehicle_profile", "car"), VEHICLE_PROFILES, what=f"{label}: vehicle_profile"
        )
    if "color" in data:
        color = _text(data["color"], what=f"{label}: color", max_len=7)
        if color is not None and not re.match(r"^#[0-9a-fA-F]{6}$", color):
            raise ValidationError(f"{label}: color {shown(color)} is not #rrggbb")
        row["color"] = color
    if "active" in data:
        if not isinstance(data["active"], bool):
            raise ValidationError(f"{label}: active must be true or false")
        row["active"] = int(data["active"])
    return row


def free_team_color(used: set[str]) -> str:
    """The first colour of :data:`TEAM_PALETTE` not in ``used`` (lower-case ``#rrggbb``);
    past the palette, hues spread by the golden angle so that new teams still differ."""
    taken = {c.lower() for c in used if c}
    for color in TEAM_PALETTE:
        if color not in taken:
            return color
    for i in range(1, 360):
        hue = (i * 137.508) % 360
        color = _hsl_hex(hue, 0.65, 0.38)
        if color not in taken:
            return color
    return TEAM_PALETTE[0]


def _hsl_hex(hue: float, sat: float, light: float) -> str:
    r, g, b = colorsys.hls_to_rgb(hue / 360, light, sat)
    return "#" + "".join(f"{round(v * 255):02x}" for v in (r, g, b))


VISIT_FIELDS = {
    "day",
    "pseudonym",
    "care_kind",
    "address",
    "commune",
    "lon",
    "lat",
    "duration_s",
    "windows",
    "skills",
    "priority",
    "mandatory",
    "preferred_team_id",
    "team_id",
    "status",
    "protected",
    "external_ref",
}


def parse_protected(value: Any, *, label: str, keep_nulls: bool = False) -> dict[str, str | None]:
    """Protected patient details: name, phone, address_details, notes (text, all optional).

    With ``keep_nulls`` (a PATCH), a key sent as null or "" is kept with the value None,
    meaning "remove this detail"; keys not sent are left out (unchanged).
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError(
            f"{label}: protected must be an object with {', '.join(PROTECTED_FIELDS)}"
        )
    _unknown(value, set(PROTECTED_FIELDS), label=f"{label}: protected")
    out: dict[str, str | None] = {}
    for key in PROTECTED_FIELDS:
        text = _text(value.get(key), what=f"{label}: protected.{key}", max_len=2000)
        if text is not None or (keep_nulls and key in value):
            out[key] = text
    return out


def parse_flag(value: Any, *, what: str) -> bool:
    """A yes/no value: true/false, or as a CSV writes it (1/0, oui/non, yes/no)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "oui", "yes", "o", "y"):
        return True
    if text in ("0", "false", "non", "no", "n"):
        return False
    raise ValidationError(f"{what}: {shown(value)} is not yes or no (true/false, oui/non, 1/0)")


def parse_visit(data: Any, *, partial: bool = False, label: str = "visit") -> dict[str, Any]:
    """A visit row (windows as seconds) from API, CSV or CLI input."""
    if not isinstance(data, Mapping):
        raise ValidationError(f"{label}: send a JSON object")
    _unknown(data, VISIT_FIELDS, label=label)
    row: dict[str, Any] = {}
    if not partial or "day" in data:
        row["day"] = parse_day(data.get("day"), what=f"{label}: day")
    if not partial or "pseudonym" in data:
        row["pseudonym"] = _text(
            data.get("pseudonym"), what=f"{label}: pseudonym", max_len=40, required=True
        )
    if not partial or "care_kind" in data:
        row["care_kind"] = _choice(
            data.get("care_kind", "nursing"), CARE_KINDS, what=f"{label}: care_kind"
        )
    for key in ("address", "commune", "external_ref"):
        if key in data:
            row[key] = _text(data[key], what=f"{label}: {key}")
    for key, lo, hi in (("lon", -180, 180), ("lat", -90, 90)):
        if not partial or key in data:
            row[key] = _number(data.get(key), what=f"{label}: {key}", lo=lo, hi=hi, required=True)
    if not partial or "duration_s" in data:
        row["duration_s"] = parse_duration_s(data.get("duration_s"), label=label)
    if not partial or "windows" in data:
        row["windows"] = parse_windows(data.get("windows"), label=label)
    if not partial or "skills" in data:
        row["skills"] = parse_skills(data.get("skills"), label=label)
    if not partial or "priority" in data:
        # Missing, null or "" means the default priority 1 (never a NULL in the database).
        priority = data.get("priority")
        row["priority"] = _int(
            1 if priority is None or priority == "" else priority,
            what=f"{label}: priority",
            lo=0,
            hi=3,
        )
    if "mandatory" in data:
        row["mandatory"] = int(parse_flag(data["mandatory"], what=f"{label}: mandatory"))
    for key in ("preferred_team_id", "team_id"):
        if key in data:
            row[key] = parse_id(data[key], what=f"{label}: {key}")
    if "status" in data:
        row["status"] = _choice(data["status"], VISIT_STATUSES, what=f"{label}: status")
    if not partial or "protected" in data:
        row["protected"] = parse_protected(data.get("protected"), label=label, keep_nulls=partial)
    return row


POSITION_FIELDS = {
    "client_id",
    "lon",
    "lat",
    "device_time_s",
    "time",
    "accuracy_m",
    "speed_mps",
    "heading_deg",
    "battery_pct",
}


def parse_time_unix_s(value: Any, *, what: str) -> float:
    """Unix seconds from a number (seconds, or milliseconds if > 1e11) or an ISO 8601 string."""
    if isinstance(value, str):
        try:
            when = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(
                f"{what}: {shown(value)} is not a time: send Unix seconds or ISO 8601"
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        number = when.timestamp()
    else:
        got = _number(value, what=what, lo=0, hi=1e14, required=True)
        assert got is not None
        number = got / 1000 if got > 1e11 else got
    if not 946_684_800 <= number <= 4_102_444_800:  # 2000-01-01 .. 2100-01-01
        raise ValidationError(f"{what}: {shown(value)} is not between 2000 and 2100")
    return number


def parse_position(data: Any, *, index: int) -> dict[str, Any]:
    """One fix of a positions batch."""
    label = f"position {index}"
    if not isinstance(data, Mapping):
        raise ValidationError(f"{label}: send an object with lon, lat and device_time_s")
    _unknown(data, POSITION_FIELDS, label=label)
    client_id = data.get("client_id")
    if client_id is not None and (not isinstance(client_id, str) or not 1 <= len(client_id) <= 100):
        raise ValidationError(f"{label}: client_id must be text of 1 to 100 characters")
    when = data.get("device_time_s", data.get("time"))
    return {
        "client_id": client_id,
        "lon": _number(data.get("lon"), what=f"{label}: lon", lo=-180, hi=180, required=True),
        "lat": _number(data.get("lat"), what=f"{label}: lat", lo=-90, hi=90, required=True),
        "device_time_s": parse_time_unix_s(when, what=f"{label}: device_time_s"),
        "accuracy_m": _number(data.get("accuracy_m"), what=f"{label}: accuracy_m", lo=0, hi=1e6),
        "speed_mps": _number(data.get("speed_mps"), what=f"{label}: speed_mps", lo=0, hi=500),
        "heading_deg": _number(data.get("heading_deg"), what=f"{label}: heading_deg", lo=0, hi=360),
        "battery_pct": _number(data.get("battery_pct"), what=f"{label}: battery_pct", lo=0, hi=100),
    }


EVENT_FIELDS = {"kind", "note", "client_id", "device_time_s", "lon", "lat"}


def parse_event(data: Any, *, label: str) -> dict[str, Any]:
    """A visit event (arrival, check_in, check_out, missed, note)."""
    if not isinstance(data, Mapping):
        raise ValidationError(f"{label}: send an object with kind and an optional note")
    _unknown(data, EVENT_FIELDS, label=label)
    kind = _choice(data.get("kind"), EVENT_KINDS, what=f"{label}: kind")
    note = _text(data.get("note"), what=f"{label}: note", max_len=2000)
    if kind in ("missed", "note") and not note:
        raise ValidationError(f"{label}: a {kind} event needs a note saying why")
    client_id = data.get("client_id")
    if client_id is not None and (not isinstance(client_id, str) or not 1 <= len(client_id) <= 100):
        raise ValidationError(f"{label}: client_id must be text of 1 to 100 characters")
    when = data.get("device_time_s")
    return {
        "kind": kind,
        "note": note,
        "client_id": client_id,
        "device_time_s": None
        if when is None
        else parse_time_unix_s(when, what=f"{label}: device_time_s"),
        "lon": _number(data.get("lon"), what=f"{label}: lon", lo=-180, hi=180),
        "lat": _number(data.get("lat"), what=f"{label}: lat", lo=-90, hi=90),
    }


def parse_username(value: Any) -> str:
    """A login name: letters, digits, and . _ - @ (1 to 64 characters)."""
    if not isinstance(value, str) or not _USERNAME.match(value):
        raise ValidationError(
            f"username {shown(value)} is not valid: use letters, digits, '.', '_', '-' or '@'"
        )
    return value


def parse_role(value: Any) -> str:
    """One of :data:`ROLES`."""
    return _choice(value, ROLES, what="role")


def check_password(value: Any) -> str:
    """A password of at least 10 characters."""
    if not isinstance(value, str) or len(value) < 10:
        raise ValidationError("password must be at least 10 characters long")
    if len(value) > 1024:
        raise ValidationError("password must be at most 1024 characters long")
    return value


STRUCTURE_FIELDS = {"name", "kind", "finess"}
_FINESS = re.compile(r"^[0-9][0-9AB][0-9]{7}$")


def parse_structure(data: Any, *, partial: bool = False) -> dict[str, Any]:
    """A structure's row from ``{name, kind, finess}`` (``partial``: only the fields given).

    ``finess``: the 9-character FINESS number (digits; the 2nd may be A or B for Corsica),
    empty or null for none.
    """
    if not isinstance(data, Mapping):
        raise ValidationError("structure: send a JSON object {name, kind, finess}")
    _unknown(data, STRUCTURE_FIELDS, label="structure")
    row: dict[str, Any] = {}
    if not partial or "name" in data:
        name = _text(data.get("name"), what="structure: name", max_len=120, required=True)
        row["name"] = name
    if not partial or "kind" in data:
        row["kind"] = _choice(data.get("kind"), STRUCTURE_KINDS, what="structure: kind")
    if "finess" in data:
        finess = data["finess"]
        if finess is None or (isinstance(finess, str) and not finess.strip()):
            row["finess"] = None
        elif isinstance(finess, str) and _FINESS.match(finess.strip().upper()):
            row["finess"] = finess.strip().upper()
        else:
            raise ValidationError(
                f"structure: finess {shown(finess)} is not a FINESS number: 9 characters,"
                " digits (2A or 2B for Corsica), e.g. 2B0001234"
            )
    return row
