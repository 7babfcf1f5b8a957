"""Position quality: decide which raw fixes are drawn (accuracy, jumps, duplicates, jitter)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from dispatch.errors import ValidationError

#: Flags a raw fix may carry (stored with it; every fix is kept, flagged or not).
FLAG_INACCURATE = "inaccurate"
FLAG_JUMP = "jump"
FLAG_DUPLICATE = "duplicate"
FLAG_STATIONARY = "stationary"
FLAG_LATE = "late"

EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class Fix:
    """One raw position report of a team (lon/lat in WGS84, times in epoch seconds)."""

    lon: float
    lat: float
    recorded_at: float
    accuracy_m: float | None = None
    speed_mps: float | None = None
    heading_deg: float | None = None
    altitude_m: float | None = None
    battery_pct: float | None = None

    def __post_init__(self) -> None:
        if not (-180.0 <= self.lon <= 180.0) or not (-90.0 <= self.lat <= 90.0):
            raise ValidationError(
                f"position lon={self.lon}, lat={self.lat} is outside the globe: "
                "send longitude in [-180, 180] and latitude in [-90, 90]"
            )
        if not math.isfinite(self.recorded_at) or self.recorded_at <= 0:
            raise ValidationError(
                f"position time {self.recorded_at!r} is not a valid epoch time in seconds"
            )
        if self.accuracy_m is not None and self.accuracy_m < 0:
            raise ValidationError(f"accuracy {self.accuracy_m} m is negative")


@dataclass(frozen=True)
class QualityRules:
    """Thresholds of the display filter.

    Parameters
    ----------
    max_accuracy_m
        Fixes with a larger accuracy radius are kept but not drawn.
    max_speed_mps
        A move implying a faster speed than this from the last drawn fix is an impossible jump
        (60 m/s = 216 km/h: no care team drives that fast on the bassin's roads).
    jitter_m
        Moves shorter than ``max(jitter_m, accuracy)`` while the phone reports no speed are
        stationary jitter: the team is still there, the dot does not wander.
    duplicate_s
        Fixes at the same place within this many seconds of the last one are duplicates.
    """

    max_accuracy_m: float = 100.0
    max_speed_mps: float = 60.0
    jitter_m: float = 15.0
    duplicate_s: float = 1.0

    def __post_init__(self) -> None:
        if self.max_accuracy_m <= 0 or self.max_speed_mps <= 0 or self.jitter_m < 0:
            raise ValidationError("quality thresholds must be positive")


@dataclass(frozen=True)
class Verdict:
    """What the filter decided about one fix.

    ``display``: the fix is drawn (trail point and marker); ``moves_marker``: it is the
    team's newest drawn position; ``refreshes``: the team's last known position is confirmed
    at this time (drawn fixes and stationary jitter); ``flags``: why it was not drawn.
    """

    display: bool
    moves_marker: bool
    refreshes: bool
    flags: tuple[str, ...] = ()


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def bearing_deg(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Initial bearing from the first point to the second, degrees clockwise from north."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return (math.degrees(math.atan2(x, y)) + 360.0) % 360.0


@dataclass
class TrackFilter:
    """The display filter of one team: remembers the last drawn fix and a suspected jump.

    A jump is confirmed (and drawn) when the next fix agrees with it, so that one bad fix
    never freezes the marker for good.
    """

    rules: QualityRules = field(default_factory=QualityRules)
    last: Fix | None = None
    last_seen_at: float | None = None
    _suspect: Fix | None = None

    def assess(self, fix: Fix) -> Verdict:
        """Classify ``fix`` against the team's history and update that history."""
        rules, last = self.rules, self.last
        if fix.accuracy_m is not None and fix.accuracy_m > rules.max_accuracy_m:
            return Verdict(False, False, False, (FLAG_INACCURATE,))
        if last is None:
            return self._accept(fix)
        if fix.recorded_at < last.recorded_at - 1e-6:
            # An old fix arriving after a newer one (a phone's buffer replayed late): a valid
            # trail point, but the marker stays on the newest position.
            return Verdict(True, False, False, (FLAG_LATE,))
        moved_m = distance_m(last.lon, last.lat, fix.lon, fix.lat)
        dt_s = fix.recorded_at - last.recorded_at
        if moved_m < 0.5 and dt_s <= rules.duplicate_s:
            return Verdict(False, False, False, (FLAG_DUPLICATE,))
        if moved_m > 0 and dt_s >= 0 and moved_m / max(dt_s, 1.0) > rules.max_speed_mps:
            suspect = self._suspect
            if suspect is not None and fix.recorded_at >= suspect.recorded_at:
                again_m = distance_m(suspect.lon, suspect.lat, fix.lon, fix.lat)
                again_s = max(fix.recorded_at - suspect.recorded_at, 1.0)
                if again_m / again_s <= rules.max_speed_mps:
                    return self._accept(fix)
            self._suspect = fix
            return Verdict(False, False, False, (FLAG_JUMP,))
        moving = fix.speed_mps is not None and fix.speed_mps >= 1.0
        if not moving and moved_m < max(rules.jitter_m, fix.accuracy_m or 0.0):
            self.last_seen_at = fix.recorded_at
            self._suspect = None
            return Verdict(False, False, True, (FLAG_STATIONARY,))
        return self._accept(fix)

    def _accept(self, fix: Fix) -> Verdict:
        self.last = fix
        self.last_seen_at = fix.recorded_at
        self._suspect = None
        return Verdict(True, True, True, ())
