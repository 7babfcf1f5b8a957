"""The live board: each team's newest drawn position, its age, and when it becomes unknown."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from dispatch.live.quality import Fix, QualityRules, TrackFilter, Verdict, bearing_deg

#: Presence of a team on the map.
LIVE = "live"
UNKNOWN = "unknown"  # "position inconnue": no fix for longer than the stale limit
NEVER = "never"  # no fix at all today


@dataclass
class TeamPosition:
    """What the map shows for one team (lon/lat of the newest drawn fix)."""

    team_id: int
    lon: float | None = None
    lat: float | None = None
    heading_deg: float | None = None
    speed_mps: float | None = None
    accuracy_m: float | None = None
    battery_pct: float | None = None
    fix_at: float | None = None  # device time of the drawn fix
    seen_at: float | None = None  # device time of the newest fix confirming it (jitter included)
    source: str | None = None
    presence: str = NEVER

    def to_dict(self, now: float) -> dict[str, Any]:
        """JSON form with the age of the last confirmed fix in seconds."""
        body = asdict(self)
        body["age_s"] = None if self.seen_at is None else max(0.0, now - self.seen_at)
        return body


def presence_of(seen_at: float | None, now: float, *, stale_s: float) -> str:
    """``live`` if a fix confirmed the position less than ``stale_s`` ago, else ``unknown``."""
    if seen_at is None:
        return NEVER
    return LIVE if now - seen_at <= stale_s else UNKNOWN


@dataclass
class Board:
    """Thread-safe positions of every team, fed fix by fix through the quality filter."""

    stale_s: float = 300.0
    rules: QualityRules = field(default_factory=QualityRules)
    teams: dict[int, TeamPosition] = field(default_factory=dict)
    filters: dict[int, TrackFilter] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def seed(self, team_id: int, fix: Fix, *, source: str | None = None) -> None:
        """Start a team from its last stored drawn fix (after a restart)."""
        with self._lock:
            track = self.filters.setdefault(team_id, TrackFilter(self.rules))
            if track.last is None or track.last.recorded_at < fix.recorded_at:
                track.last, track.last_seen_at = fix, fix.recorded_at
                self.teams[team_id] = self._position(team_id, fix, fix.recorded_at, source)

    def ingest(self, team_id: int, fix: Fix, *, source: str) -> tuple[Verdict, TeamPosition | None]:
        """Assess ``fix``; return the verdict and the team's new position if it changed."""
        with self._lock:
            track = self.filters.setdefault(team_id, TrackFilter(self.rules))
            previous = track.last
            verdict = track.assess(fix)
            if verdict.moves_marker:
                heading = fix.heading_deg
                if heading is None and previous is not None:
                    heading = bearing_deg(previous.lon, previous.lat, fix.lon, fix.lat)
                    if previous.lon == fix.lon and previous.lat == fix.lat:
                        heading = self.teams[team_id].heading_deg if team_id in self.teams else None
                pos = self._position(team_id, fix, fix.recorded_at, source, heading=heading)
                self.teams[team_id] = pos
                return verdict, pos
            if verdict.refreshes and team_id in self.teams:
                pos = self.teams[team_id]
                pos.seen_at = max(pos.seen_at or 0.0, fix.recorded_at)
                pos.battery_pct = (
                    fix.battery_pct if fix.battery_pct is not None else pos.battery_pct
                )
                pos.presence = LIVE
                return verdict, pos
            return verdict, None

    def sweep(self, now: float) -> list[TeamPosition]:
        """Update presences; return the teams whose presence changed (e.g. became unknown)."""
        changed = []
        with self._lock:
            for pos in self.teams.values():
                presence = presence_of(pos.seen_at, now, stale_s=self.stale_s)
                if presence != pos.presence:
                    pos.presence = presence
                    changed.append(pos)
        return changed

    def snapshot(self, now: float, team_ids: set[int] | None = None) -> list[dict[str, Any]]:
        """Every team's position (or only ``team_ids``) with presence and age."""
        with self._lock:
            out = []
            for team_id, pos in self.teams.items():
                if team_ids is not None and team_id not in team_ids:
                    continue
                pos.presence = presence_of(pos.seen_at, now, stale_s=self.stale_s)
                out.append(pos.to_dict(now))
            return out

    def _position(
        self,
        team_id: int,
        fix: Fix,
        seen_at: float,
        source: str | None,
        *,
        heading: float | None = None,
    ) -> TeamPosition:
        return TeamPosition(
            team_id=team_id,
            lon=fix.lon,
            lat=fix.lat,
            heading_deg=fix.heading_deg if heading is None else heading,
            speed_mps=fix.speed_mps,
            accuracy_m=fix.accuracy_m,
            battery_pct=fix.battery_pct,
            fix_at=fix.recorded_at,
            seen_at=seen_at,
            source=source,
            presence=LIVE,
        )
