"""Visit requests drawn from the population model: rates, durations, windows and skills mix.

Defaults (documented, all configurable in a scenario's ``[demand]`` table):

- ``rate_per_1000_per_day = 0.4`` visit requests per 1,000 inhabitants on a weekday. In France
  about 0.3 patients per 1,000 inhabitants are in hospital-at-home care on any given day
  (ATIH: about 7 million HAD days a year for 68 million people), most with one visit a day; the
  mobile palliative and geriatric teams add a smaller flow. 0.4 is that order of magnitude.
- ``weekend_factor = 0.5``: Saturdays and Sundays carry half the weekday demand.
- ``kinds``: four visit kinds with their share, duration, skill and time windows:
  nursing care 55 % (30 min, skill ``nursing``, morning 07:30-11:30 or 08:00-17:00),
  blood test 15 % (15 min, ``nursing``, 07:30-10:00), palliative care 15 % (60 min,
  ``palliative``, 09:00-17:00), geriatric assessment 15 % (75 min, ``geriatric``, 09:00-16:00).

Draws are reproducible: the same seed and day give the same requests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dispatch.errors import ValidationError


def parse_hhmm(value: str | int | float) -> int:
    """Seconds since midnight of ``"HH:MM"`` (numbers are taken as seconds already)."""
    if isinstance(value, int | float):
        return int(value)
    text = str(value).strip()
    try:
        hh, mm = text.split(":")
        h, m = int(hh), int(mm)
    except ValueError:
        raise ValidationError(f"time {text!r} is not HH:MM (for example 08:30)") from None
    if not (0 <= h <= 24 and 0 <= m < 60) or h * 3600 + m * 60 > 86400:
        raise ValidationError(f"time {text!r} is outside 00:00-24:00")
    return h * 3600 + m * 60


def format_hhmm(seconds: float) -> str:
    """``"HH:MM"`` of seconds since midnight."""
    s = int(round(seconds))
    return f"{s // 3600:02d}:{(s % 3600) // 60:02d}"


@dataclass(frozen=True)
class WindowChoice:
    """One possible time window of a visit kind, with its relative weight."""

    start_s: int
    end_s: int
    weight: float = 1.0

    def __post_init__(self) -> None:
        if self.end_s <= self.start_s:
            raise ValidationError(
                f"time window {format_hhmm(self.start_s)}-{format_hhmm(self.end_s)} "
                "ends before it starts"
            )
        if self.weight <= 0:
            raise ValidationError("a window weight must be positive")


@dataclass(frozen=True)
class VisitKind:
    """A kind of visit: its share of requests, duration, required skill and windows."""

    name: str
    share: float
    duration_s: int
    skill: str
    windows: tuple[WindowChoice, ...]
    priority: int = 1

    def __post_init__(self) -> None:
        if self.share < 0:
            raise ValidationError(f"visit kind {self.name}: share must not be negative")
        if self.duration_s <= 0:
            raise ValidationError(f"visit kind {self.name}: duration must be positive")
        if not self.windows:
            raise ValidationError(f"visit kind {self.name}: give at least one time window")
        for w in self.windows:
            if w.end_s - w.start_s < self.duration_s:
                raise ValidationError(
                    f"visit kind {self.name}: window {format_hhmm(w.start_s)}-"
                    f"{format_hhmm(w.end_s)} is shorter than the visit"
                )


def _w(start: str, end: str, weight: float = 1.0) -> WindowChoice:
    return WindowChoice(parse_hhmm(start), parse_hhmm(end), weight)


DEFAULT_KINDS: tuple[VisitKind, ...] = (
    VisitKind(
        "soins", 0.55, 1800, "nursing", (_w("07:30", "11:30", 0.7), _w("08:00", "17:00", 0.3))
    ),
    VisitKind("prise_de_sang", 0.15, 900, "nursing", (_w("07:30", "10:00"),)),
    VisitKind("palliatif", 0.15, 3600, "palliative", (_w("09:00", "17:00"),), priority=2),
    VisitKind("evaluation_geriatrique", 0.15, 4500, "geriatric", (_w("09:00", "16:00"),)),
)


@dataclass(frozen=True)
class DemandModel:
    """How many visits are requested per day, and of which kinds."""

    rate_per_1000_per_day: float = 0.4
    weekend_factor: float = 0.5
    kinds: tuple[VisitKind, ...] = DEFAULT_KINDS

    def __post_init__(self) -> None:
        if self.rate_per_1000_per_day < 0:
            raise ValidationError("demand rate_per_1000_per_day must not be negative")
        if self.weekend_factor < 0:
            raise ValidationError("demand weekend_factor must not be negative")
        if not self.kinds or sum(k.share for k in self.kinds) <= 0:
            raise ValidationError("demand: give at least one visit kind with a positive share")

    @property
    def skills(self) -> tuple[str, ...]:
        """Every skill a visit may require, in order of first appearance."""
        return tuple(dict.fromkeys(k.skill for k in self.kinds))

    def expected_requests(self, population: float, day_index: int) -> float:
        """Mean number of requests on day ``day_index`` (0 = a Monday) for ``population``."""
        factor = self.weekend_factor if day_index % 7 in (5, 6) else 1.0
        return self.rate_per_1000_per_day * population / 1000.0 * factor

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> DemandModel:
        """A model from a scenario's ``[demand]`` table (missing keys take the defaults)."""
        known = {"rate_per_1000_per_day", "weekend_factor", "kinds"}
        unknown = set(data) - known
        if unknown:
            raise ValidationError(
                f"[demand]: unknown key(s) {sorted(unknown)} (known: {sorted(known)})"
            )
        kwargs: dict[str, Any] = {}
        for key in ("rate_per_1000_per_day", "weekend_factor"):
            if key in data:
                kwargs[key] = float(data[key])
        if "kinds" in data:
            kinds = []
            for i, k in enumerate(data["kinds"]):
                try:
                    windows = tuple(
                        WindowChoice(
                            parse_hhmm(w["start"]), parse_hhmm(w["end"]), float(w.get("weight", 1))
                        )
                        for w in k["windows"]
                    )
                    kinds.append(
                        VisitKind(
                            name=str(k["name"]),
                            share=float(k["share"]),
                            duration_s=int(round(float(k["duration_min"]) * 60)),
                            skill=str(k["skill"]),
                            windows=windows,
                            priority=int(k.get("priority", 1)),
                        )
                    )
                except KeyError as exc:
                    raise ValidationError(
                        f"[[demand.kinds]] #{i + 1}: missing {exc.args[0]!r} (needs name, share, "
                        "duration_min, skill, windows = [{start, end}])"
                    ) from None
            kwargs["kinds"] = tuple(kinds)
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """JSON/TOML-ready description."""
        return {
            "rate_per_1000_per_day": self.rate_per_1000_per_day,
            "weekend_factor": self.weekend_factor,
            "kinds": [
                {
                    "name": k.name,
                    "share": k.share,
                    "duration_min": k.duration_s / 60,
                    "skill": k.skill,
                    "priority": k.priority,
                    "windows": [
                        {
                            "start": format_hhmm(w.start_s),
                            "end": format_hhmm(w.end_s),
                            "weight": w.weight,
                        }
                        for w in k.windows
                    ],
                }
                for k in self.kinds
            ],
        }


@dataclass(frozen=True)
class VisitRequest:
    """One requested visit of a simulated day."""

    id: str
    day: int
    lon: float
    lat: float
    kind: str
    skill: str
    duration_s: int
    window_start_s: int
    window_end_s: int
    priority: int = 1
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


def day_rng(seed: int, day_index: int) -> np.random.Generator:
    """The random generator of one simulated day (independent of how many days are run)."""
    return np.random.default_rng([int(seed), int(day_index), 7919])


def draw_requests(
    model: DemandModel,
    population: float,
    sample: Callable[[int, int], np.ndarray],
    *,
    day_index: int,
    seed: int,
) -> list[VisitRequest]:
    """The visit requests of one day.

    Parameters
    ----------
    model
        Rates, kinds and windows.
    population
        Inhabitants of the area (the expected count is ``rate * population / 1000``).
    sample
        ``sample(n, seed) -> (n, 2)`` lon/lat points drawn from the population model
        (``dispatch.territory.sample_points`` bound to a territory).
    day_index, seed
        Which day (0 = Monday) and which random stream.
    """
    rng = day_rng(seed, day_index)
    n = int(rng.poisson(model.expected_requests(population, day_index)))
    if n == 0:
        return []
    points = np.asarray(sample(n, int(rng.integers(0, 2**31 - 1))), dtype=np.float64)
    if points.shape != (n, 2):
        raise ValidationError(f"sample returned shape {points.shape}, expected {(n, 2)}")
    shares = np.array([k.share for k in model.kinds], dtype=np.float64)
    kind_idx = rng.choice(len(model.kinds), size=n, p=shares / shares.sum())
    out = []
    for i in range(n):
        kind = model.kinds[int(kind_idx[i])]
        wts = np.array([w.weight for w in kind.windows])
        win = kind.windows[int(rng.choice(len(kind.windows), p=wts / wts.sum()))]
        out.append(
            VisitRequest(
                id=f"d{day_index}-v{i + 1}",
                day=day_index,
                lon=float(points[i, 0]),
                lat=float(points[i, 1]),
                kind=kind.name,
                skill=kind.skill,
                duration_s=kind.duration_s,
                window_start_s=win.start_s,
                window_end_s=win.end_s,
                priority=kind.priority,
            )
        )
    return out


def requests_table(requests: Sequence[VisitRequest]) -> list[dict[str, Any]]:
    """Requests as flat dicts (for CSV or JSON)."""
    return [
        {
            "id": r.id,
            "day": r.day,
            "lon": round(r.lon, 6),
            "lat": round(r.lat, 6),
            "kind": r.kind,
            "skill": r.skill,
            "duration_min": r.duration_s / 60,
            "window": f"{format_hhmm(r.window_start_s)}-{format_hhmm(r.window_end_s)}",
            "priority": r.priority,
        }
        for r in requests
    ]
