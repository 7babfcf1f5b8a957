"""A team's day: the drawn trail, km driven, visit times, and its GPX and GeoJSON exports.

Pure functions of stored rows (fixes with their quality flags, the team's visits of the day,
their events and the published plan's stops): the web edge loads them, this module never
touches the store. Exports leave the service, so they carry pseudonyms only: no name, address,
phone number or note of a patient.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import gpxpy.gpx

from dispatch.errors import ValidationError
from dispatch.live.quality import FLAG_LATE, distance_m
from dispatch.store.models import format_hhmm, parse_day

#: Visit events that set a time of the day's table (notes carry no time of the visit).
TIMED_EVENTS = ("arrival", "check_in", "check_out", "missed")


@dataclass(frozen=True)
class DayFrame:
    """One local day of the rounds: its bounds in Unix time and its clock.

    Parameters
    ----------
    day
        ``YYYY-MM-DD``.
    timezone
        The territory's IANA time zone (days and windows are local).
    offset_s
        The service clock's offset (``clock_start``, demonstrations): a fix stamped at Unix
        time ``t`` happened at local time ``t + offset_s`` of the rounds.
    """

    day: str
    timezone: str = "Europe/Paris"
    offset_s: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "day", parse_day(self.day))
        if not 1970 <= int(self.day[:4]) <= 9998:
            raise ValidationError(f"day {self.day} is out of range: choose a day from 1970 on")
        try:
            ZoneInfo(self.timezone)
        except (KeyError, ValueError):
            raise ValidationError(
                f"time zone {self.timezone!r} is unknown: use an IANA name like Europe/Paris"
            ) from None

    @property
    def tz(self) -> ZoneInfo:
        """The time zone object."""
        return ZoneInfo(self.timezone)

    def bounds(self) -> tuple[float, float]:
        """``(start_s, end_s)``: Unix times of the day's local midnights (23 or 25 h on DST days)."""
        date = dt.date.fromisoformat(self.day)
        start = dt.datetime.combine(date, dt.time(), self.tz).timestamp()
        end = dt.datetime.combine(date + dt.timedelta(days=1), dt.time(), self.tz).timestamp()
        return start - self.offset_s, end - self.offset_s

    def clock_s(self, t: float) -> int:
        """Seconds since the day's local midnight (wall clock) of Unix time ``t``."""
        local = dt.datetime.fromtimestamp(t + self.offset_s, self.tz)
        days = (local.date() - dt.date.fromisoformat(self.day)).days
        return days * 86_400 + local.hour * 3600 + local.minute * 60 + local.second


@dataclass(frozen=True)
class DayVisit:
    """One visit of the team's day: what was planned and when it was done."""

    visit_id: int
    pseudonym: str
    lon: float | None
    lat: float | None
    status: str
    windows: list[list[int]] = field(default_factory=list)
    planned_arrival_s: int | None = None
    arrival_at_s: float | None = None
    check_in_at_s: float | None = None
    check_out_at_s: float | None = None
    missed_at_s: float | None = None


@dataclass(frozen=True)
class TeamDay:
    """A team's day: drawn trail ``[(lon, lat, t), ...]`` (Unix s), km driven and visits."""

    team_id: int
    team_name: str
    frame: DayFrame
    trail: list[tuple[float, float, float]]
    visits: list[DayVisit]
    fixes_total: int = 0

    @property
    def distance_m(self) -> float:
        """Metres along the drawn trail (flagged fixes are not in it)."""
        return trail_distance_m(self.trail)

    def to_dict(self) -> dict[str, Any]:
        """The JSON view for the coordinator's screen (times in Unix s and local clock s)."""
        frame = self.frame
        start_s, end_s = frame.bounds()

        def clock(t: float | None) -> int | None:
            return None if t is None else frame.clock_s(t)

        return {
            "team_id": self.team_id,
            "team_name": self.team_name,
            "day": frame.day,
            "timezone": frame.timezone,
            "start_s": start_s,
            "end_s": end_s,
            "distance_m": round(self.distance_m, 1),
            "fixes_total": self.fixes_total,
            "fixes_drawn": len(self.trail),
            # [lon, lat, Unix time, seconds since local midnight]
            "trail": [[lon, lat, t, frame.clock_s(t)] for lon, lat, t in self.trail],
            "visits": [
                {
                    "visit_id": v.visit_id,
                    "pseudonym": v.pseudonym,
                    "lon": v.lon,
                    "lat": v.lat,
                    "status": v.status,
                    "windows": v.windows,
                    "planned_arrival_s": v.planned_arrival_s,
                    "arrival_at_s": v.arrival_at_s,
                    "check_in_at_s": v.check_in_at_s,
                    "check_out_at_s": v.check_out_at_s,
                    "missed_at_s": v.missed_at_s,
                    "arrival_s": clock(v.arrival_at_s),
                    "check_in_s": clock(v.check_in_at_s),
                    "check_out_s": clock(v.check_out_at_s),
                    "missed_s": clock(v.missed_at_s),
                }
                for v in self.visits
            ],
        }


# -- building the day ----------------------------------------------------------------------------
def is_drawn(fix: Mapping[str, Any]) -> bool:
    """Whether the map draws a stored fix: ``display`` when given, else no flag but "late"."""
    if "display" in fix:
        return bool(fix["display"])
    return not set(fix.get("flags") or ()) - {FLAG_LATE}


def drawn_trail(fixes: Iterable[Mapping[str, Any]]) -> list[tuple[float, float, float]]:
    """The drawn fixes as ``(lon, lat, t)`` in time order, one per instant."""
    points = [
        (float(f["lon"]), float(f["lat"]), float(f["device_time_s"])) for f in fixes if is_drawn(f)
    ]
    points.sort(key=lambda p: p[2])
    out: list[tuple[float, float, float]] = []
    for p in points:
        if out and out[-1][2] == p[2]:
            continue
        out.append(p)
    return out


def trail_distance_m(trail: list[tuple[float, float, float]]) -> float:
    """Sum of the great-circle lengths of the trail's segments, in metres."""
    return sum(distance_m(a[0], a[1], b[0], b[1]) for a, b in zip(trail, trail[1:], strict=False))


def _event_time(event: Mapping[str, Any]) -> float | None:
    value = event.get("device_time_s")
    if value is None:
        value = event.get("server_time_s")
    return None if value is None else float(value)


def day_visit(
    visit: Mapping[str, Any],
    events: Iterable[Mapping[str, Any]],
    *,
    planned_arrival_s: int | None = None,
) -> DayVisit:
    """A visit with the times of its first arrival, first check-in, last check-out, missed."""
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for event in events:
        kind, when = event.get("kind"), _event_time(event)
        if kind not in TIMED_EVENTS or when is None:
            continue
        first[kind] = min(first.get(kind, when), when)
        last[kind] = max(last.get(kind, when), when)
    return DayVisit(
        visit_id=int(visit["id"]),
        pseudonym=str(visit.get("pseudonym") or f"#{visit['id']}"),
        lon=visit.get("lon"),
        lat=visit.get("lat"),
        status=str(visit.get("status") or "planned"),
        windows=[list(w) for w in visit.get("windows") or []],
        planned_arrival_s=planned_arrival_s,
        arrival_at_s=first.get("arrival"),
        check_in_at_s=first.get("check_in"),
        check_out_at_s=last.get("check_out"),
        missed_at_s=first.get("missed"),
    )


def team_day(
    team: Mapping[str, Any],
    frame: DayFrame,
    *,
    fixes: Iterable[Mapping[str, Any]],
    visits: Iterable[Mapping[str, Any]] = (),
    events: Mapping[int, Iterable[Mapping[str, Any]]] | None = None,
    stops: Iterable[Mapping[str, Any]] = (),
) -> TeamDay:
    """Put a team's day together.

    Parameters
    ----------
    team
        The team row (``id``, ``name``).
    frame
        The day and its clock.
    fixes
        The team's stored fixes of the day (``lon, lat, device_time_s`` and ``display`` or
        ``flags``); flagged fixes are counted but not drawn nor measured.
    visits
        The team's visits of the day (public view: pseudonym, place, status, windows).
    events
        ``visit_id -> events`` (arrival, check_in, check_out, missed, note).
    stops
        The team's stops in the day's published plan (``visit_id``, ``arrival_s``).

    Visits come in the order of the plan, then by the time they were started.
    """
    fixes = list(fixes)
    events = events or {}
    planned = {int(s["visit_id"]): s.get("arrival_s") for s in stops}
    seq = {int(s["visit_id"]): i for i, s in enumerate(stops)}
    rows = [
        day_visit(v, events.get(int(v["id"]), ()), planned_arrival_s=planned.get(int(v["id"])))
        for v in visits
    ]

    def order(v: DayVisit) -> tuple[float, float, float, int]:
        started = v.arrival_at_s or v.check_in_at_s or v.missed_at_s or float("inf")
        window = v.windows[0][0] if v.windows else float("inf")
        return (seq.get(v.visit_id, len(seq)), started, window, v.visit_id)

    return TeamDay(
        team_id=int(team["id"]),
        team_name=str(team.get("name") or f"#{team['id']}"),
        frame=frame,
        trail=drawn_trail(fixes),
        visits=sorted(rows, key=order),
        fixes_total=len(fixes),
    )


# -- exports ---------------------------------------------------------------------------------------
def _utc(t: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, dt.UTC)


def _iso(t: float | None) -> str | None:
    return None if t is None else _utc(t).isoformat().replace("+00:00", "Z")


def _visit_summary(v: DayVisit, frame: DayFrame) -> str:
    """``planned 09:00; check-in 09:05; check-out 09:40; done`` (local times, no patient data)."""
    parts = []
    if v.planned_arrival_s is not None:
        parts.append(f"planned {format_hhmm(v.planned_arrival_s)}")
    for label, t in (
        ("arrival", v.arrival_at_s),
        ("check-in", v.check_in_at_s),
        ("check-out", v.check_out_at_s),
        ("missed", v.missed_at_s),
    ):
        if t is not None:
            parts.append(f"{label} {format_hhmm(frame.clock_s(t))}")
    parts.append(v.status)
    return "; ".join(parts)


def export_name(day: TeamDay, ext: str) -> str:
    """A file name for the export: ``team-3-2026-12-06.gpx`` (no free text from users)."""
    return f"team-{day.team_id}-{day.frame.day}.{ext}"


def to_gpx(day: TeamDay) -> str:
    """GPX 1.1: one track of the drawn fixes, one waypoint per visit placed on the map."""
    gpx = gpxpy.gpx.GPX()
    gpx.creator = "dispatch"
    gpx.name = f"{day.team_name} {day.frame.day}"
    gpx.description = f"{day.distance_m / 1000:.1f} km driven, {len(day.trail)} drawn fixes"
    track = gpxpy.gpx.GPXTrack(name=gpx.name)
    gpx.tracks.append(track)
    segment = gpxpy.gpx.GPXTrackSegment()
    track.segments.append(segment)
    for lon, lat, t in day.trail:
        segment.points.append(gpxpy.gpx.GPXTrackPoint(latitude=lat, longitude=lon, time=_utc(t)))
    for v in day.visits:
        if v.lon is None or v.lat is None:
            continue
        when = v.check_in_at_s or v.arrival_at_s or v.missed_at_s
        gpx.waypoints.append(
            gpxpy.gpx.GPXWaypoint(
                latitude=float(v.lat),
                longitude=float(v.lon),
                time=None if when is None else _utc(when),
                name=v.pseudonym,
                description=_visit_summary(v, day.frame),
                type=v.status,
            )
        )
    return str(gpx.to_xml(version="1.1"))


def to_geojson(day: TeamDay) -> dict[str, Any]:
    """A FeatureCollection: the trail as a LineString with ``coordTimes``, visits as Points."""
    features: list[dict[str, Any]] = []
    if day.trail:
        features.append(
            {
                "type": "Feature",
                "id": f"trail-{day.team_id}",
                "geometry": {
                    "type": "LineString" if len(day.trail) > 1 else "Point",
                    "coordinates": (
                        [[lon, lat] for lon, lat, _ in day.trail]
                        if len(day.trail) > 1
                        else [day.trail[0][0], day.trail[0][1]]
                    ),
                },
                "properties": {
                    "kind": "trail",
                    "team_id": day.team_id,
                    "team": day.team_name,
                    "day": day.frame.day,
                    "distance_m": round(day.distance_m, 1),
                    # One ISO 8601 UTC time per coordinate (togeojson's convention).
                    "coordTimes": [_iso(t) for _, _, t in day.trail],
                },
            }
        )
    for v in day.visits:
        if v.lon is None or v.lat is None:
            continue
        features.append(
            {
                "type": "Feature",
                "id": f"visit-{v.visit_id}",
                "geometry": {"type": "Point", "coordinates": [float(v.lon), float(v.lat)]},
                "properties": {
                    "kind": "visit",
                    "visit_id": v.visit_id,
                    "pseudonym": v.pseudonym,
                    "status": v.status,
                    "planned_arrival": None
                    if v.planned_arrival_s is None
                    else format_hhmm(v.planned_arrival_s),
                    "arrival_at": _iso(v.arrival_at_s),
                    "check_in_at": _iso(v.check_in_at_s),
                    "check_out_at": _iso(v.check_out_at_s),
                    "missed_at": _iso(v.missed_at_s),
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}
