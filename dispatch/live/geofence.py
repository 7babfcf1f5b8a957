"""Arrival geofence: a team coming within a radius of a patient's home records one arrival."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from dispatch.live.quality import Fix, distance_m

#: Radius around a patient's home inside which a team has arrived (and check-in is suggested).
ARRIVAL_RADIUS_M = 50.0


@dataclass(frozen=True)
class Place:
    """A visit's home location."""

    visit_id: int
    lon: float
    lat: float


@dataclass(frozen=True)
class Arrival:
    """A team found within the radius of a visit's home."""

    team_id: int
    visit_id: int
    distance_m: float
    fix: Fix


@dataclass
class Geofence:
    """Detect arrivals once per team and visit.

    The fix's accuracy widens the radius by at most half of it (a 30 m fix 60 m away may be
    at the door); a fix worse than ``max_accuracy_m`` never counts.
    """

    radius_m: float = ARRIVAL_RADIUS_M
    max_accuracy_m: float = 60.0
    _arrived: set[tuple[int, int]] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def mark(self, team_id: int, visit_id: int) -> None:
        """Remember an arrival already recorded (after a restart, or by a manual check-in)."""
        with self._lock:
            self._arrived.add((team_id, visit_id))

    def check(self, team_id: int, fix: Fix, places: list[Place]) -> list[Arrival]:
        """Arrivals of ``team_id`` at ``places`` implied by ``fix`` (each reported once)."""
        accuracy = fix.accuracy_m or 0.0
        if accuracy > self.max_accuracy_m:
            return []
        reach_m = self.radius_m + min(accuracy, self.radius_m) / 2
        found = []
        with self._lock:
            for place in places:
                if (team_id, place.visit_id) in self._arrived:
                    continue
                d = distance_m(fix.lon, fix.lat, place.lon, place.lat)
                if d <= reach_m:
                    self._arrived.add((team_id, place.visit_id))
                    found.append(Arrival(team_id, place.visit_id, d, fix))
        return found
