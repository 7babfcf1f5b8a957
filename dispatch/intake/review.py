"""Addressed visit rows: read from CSV, placed by the offline geocoder, likely duplicates flagged.

A preview reads a CSV into one :class:`IntakeRow` per line (its visit fields, the geocoder's
match and precision or the line's error, and the visit or line it probably repeats); nothing is
stored. The coordinator reviews the rows (moves a pin, leaves rows out) and sends them back;
:func:`confirm_rows` turns them into visits, geocoding rows that still have no coordinates.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from dispatch.errors import DispatchError, ValidationError
from dispatch.store.models import ServiceArea, format_hhmm, parse_visit, parse_windows, shown

#: Columns of an intake CSV (those of POST /api/visits/import).
CSV_COLUMNS = (
    "day",
    "pseudonym",
    "care_kind",
    "address",
    "commune",
    "lon",
    "lat",
    "duration_min",
    "duration_s",
    "windows",
    "skills",
    "priority",
    "mandatory",
    "preferred_team",
    "external_ref",
    "name",
    "phone",
    "address_details",
    "notes",
)
PROTECTED_COLUMNS = ("name", "phone", "address_details", "notes")
#: Most rows in one file.
MAX_ROWS = 5000
#: Two visits of one day this close (metres) with overlapping windows are likely one.
DUPLICATE_RADIUS_M = 50.0
#: Statuses of stored visits that no longer count as duplicates.
IGNORED_STATUSES = ("cancelled",)
_DECIMAL_COLUMNS = ("lon", "lat", "duration_min", "duration_s")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")


class GeocoderLike(Protocol):
    """What intake needs of :class:`dispatch.territory.Geocoder`."""

    def geocode(self, text: str, *, limit: int = 5) -> list[Any]: ...


class _Memo:
    """A geocoder that answers each distinct query once (files repeat addresses)."""

    def __init__(self, geocoder: GeocoderLike) -> None:
        self.geocoder = geocoder
        self.answers: dict[tuple[str, int], list[Any]] = {}

    def geocode(self, text: str, *, limit: int = 5) -> list[Any]:
        key = (text.strip().casefold(), limit)
        if key not in self.answers:
            self.answers[key] = self.geocoder.geocode(text, limit=limit)
        return self.answers[key]


@dataclass
class IntakeRow:
    """One CSV line under review.

    Attributes
    ----------
    line
        Line number in the file (the header is line 1).
    visit
        Visit fields as POST /api/visits takes them (windows as "HH:MM" pairs); lon and lat are
        the match's unless the file gave them.
    match
        The geocoder's answer (label, lon, lat, precision, score, commune) or ``{"precision":
        "given"}`` for coordinates from the file; None when the line could not be placed.
    error
        What is wrong with the line and how to fix it (None when it can be imported).
    warning
        A match to check on the map (the street was not found, only the commune).
    duplicate_of
        ``{"visit_id", "pseudonym"}`` of a stored visit or ``{"line", "pseudonym"}`` of an
        earlier line that this one probably repeats, else None.
    """

    line: int
    visit: dict[str, Any] = field(default_factory=dict)
    match: dict[str, Any] | None = None
    error: str | None = None
    warning: str | None = None
    duplicate_of: dict[str, Any] | None = None

    @property
    def importable(self) -> bool:
        """Whether the line can be imported as it is (placed, valid)."""
        return self.error is None and "lon" in self.visit and "lat" in self.visit

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "visit": self.visit,
            "match": self.match,
            "error": self.error,
            "warning": self.warning,
            "duplicate_of": self.duplicate_of,
            "importable": self.importable,
        }


# -- reading -------------------------------------------------------------------------------------
def csv_delimiter(text: str) -> str:
    """The separator of a CSV: the most frequent of ``;``, tab and ``,`` in its header line.

    Column names contain none of them, so the header tells the separator even when the rows
    hold decimal commas (French Excel writes ``;`` between fields and ``,`` in numbers).
    """
    first = text.split("\n", 1)[0]
    counts = {sep: first.count(sep) for sep in (";", "\t", ",")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def read_csv_rows(text: str) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) of each non-empty CSV line, with known lower-case column names.

    Decimal commas in lon, lat and durations become points ("2,65" -> "2.65").
    """
    reader = csv.DictReader(io.StringIO(text), delimiter=csv_delimiter(text))
    try:
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise ValidationError(f"the CSV header cannot be read: {exc}") from None
    if not header:
        raise ValidationError("the CSV has no header line: the first line must name the columns")
    unknown = sorted(set(header) - set(CSV_COLUMNS))
    if unknown:
        raise ValidationError(
            f"unknown CSV column(s) {', '.join(unknown)}; known: {', '.join(CSV_COLUMNS)}"
        )
    reader.fieldnames = header
    rows: list[tuple[int, dict[str, str]]] = []
    while True:
        try:
            raw = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise ValidationError(
                f"line {reader.line_num}: the CSV cannot be read ({exc}): check the quotes"
            ) from None
        row = {k: (v or "").strip() for k, v in raw.items() if isinstance(k, str)}
        if not any(row.values()):
            continue
        for key in _DECIMAL_COLUMNS:
            if _DECIMAL_COMMA.match(row.get(key) or ""):
                row[key] = row[key].replace(",", ".")
        rows.append((reader.line_num, row))
        if len(rows) > MAX_ROWS:
            raise ValidationError(f"more than {MAX_ROWS} rows: split the file")
    return rows


def _row_fields(
    row: Mapping[str, str], *, label: str, default_day: str | None, team_ids: Mapping[str, int]
) -> dict[str, Any]:
    """Visit input fields of one CSV row (lon and lat only when the file gives both)."""
    data: dict[str, Any] = {}
    for key in ("pseudonym", "care_kind", "address", "commune", "external_ref", "skills"):
        if row.get(key):
            data[key] = row[key]
    if row.get("windows"):
        data["windows"] = row["windows"]
    if row.get("priority"):
        data["priority"] = row["priority"]
    if row.get("mandatory"):
        data["mandatory"] = row["mandatory"]
    if bool(row.get("lon")) != bool(row.get("lat")):
        raise ValidationError(f"{label}: give both lon and lat, or neither (then the address)")
    if row.get("lon"):
        data["lon"], data["lat"] = row["lon"], row["lat"]
    data["day"] = row.get("day") or default_day
    if not data["day"]:
        raise ValidationError(f"{label}: day is empty: fill the column or choose the day")
    if row.get("duration_min"):
        data["duration_s"] = f"{row['duration_min']}min"
    elif row.get("duration_s"):
        data["duration_s"] = row["duration_s"]
    else:
        raise ValidationError(f"{label}: give duration_min or duration_s")
    team = row.get("preferred_team")
    if team:
        if team in team_ids:
            data["preferred_team_id"] = team_ids[team]
        elif team.isdigit() and int(team) in team_ids.values():
            data["preferred_team_id"] = int(team)
        else:
            raise ValidationError(
                f"{label}: preferred_team {shown(team)} is not a team: use a team's name"
            )
    protected = {k: row[k] for k in PROTECTED_COLUMNS if row.get(k)}
    if protected:
        data["protected"] = protected
    return data


def _normalised(data: Mapping[str, Any], *, label: str) -> dict[str, Any]:
    """``data`` checked by the store's rules, in the shape POST /api/visits takes."""
    placed = "lon" in data and "lat" in data
    # Checked with a stand-in place when the line has none yet (the address gives it later).
    parsed = parse_visit({**data, **({} if placed else {"lon": 0, "lat": 0})}, label=label)
    out = {k: v for k, v in parsed.items() if v not in (None, {}, [])}
    out["windows"] = [[format_hhmm(a), format_hhmm(b)] for a, b in parsed["windows"]]
    out["skills"] = parsed.get("skills") or []
    if "mandatory" in parsed:
        out["mandatory"] = bool(parsed["mandatory"])
    if not placed:
        out.pop("lon", None)
        out.pop("lat", None)
    return out


# -- placing -------------------------------------------------------------------------------------
def locate(
    visit: Mapping[str, Any], geocoder: GeocoderLike | None, *, label: str
) -> tuple[dict[str, Any] | None, str | None]:
    """(match, warning) for a visit's address; raises ValidationError when it cannot be placed.

    The warning says the street was not found and the point is the commune's centre: the
    coordinator must place the pin.
    """
    if "lon" in visit and "lat" in visit:
        return {"precision": "given", "lon": visit["lon"], "lat": visit["lat"]}, None
    address = str(visit.get("address") or "").strip()
    commune = str(visit.get("commune") or "").strip()
    if not address and not commune:
        raise ValidationError(f"{label}: no address and no lon/lat: give one of them")
    if geocoder is None:
        raise ValidationError(
            f"{label}: the territory is not built, addresses cannot be placed: give lon and lat"
        )
    query = ", ".join(p for p in (address, commune) if p)
    found = geocoder.geocode(query, limit=1)
    if not found:
        raise ValidationError(
            f"{label}: address {shown(query)} not found in the territory: correct it or place the pin"
            " on the map"
        )
    match = found[0].to_dict()
    warning = None
    if match["precision"] == "commune" and address:
        warning = (
            f"{label}: street of {shown(address)} not found, the pin is at the centre of"
            f" {match['label']}: place it on the map"
        )
    return match, warning


_EARTH_M = 6_371_008.8


def _distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat = math.radians((a[1] + b[1]) / 2)
    dx = math.radians(b[0] - a[0]) * math.cos(lat) * _EARTH_M
    dy = math.radians(b[1] - a[1]) * _EARTH_M
    return math.hypot(dx, dy)


def _seconds(windows: Any) -> list[tuple[int, int]]:
    try:
        return [(int(a), int(b)) for a, b in parse_windows(windows, label="windows")]
    except (DispatchError, TypeError, ValueError):
        return []


def _overlap(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> bool:
    return any(s1 < e2 and s2 < e1 for s1, e1 in a for s2, e2 in b)


@dataclass(frozen=True)
class _Seen:
    """A visit as duplicate detection compares it."""

    order: int
    ref: dict[str, Any]
    day: str
    windows: list[tuple[int, int]]
    name: str
    lonlat: tuple[float, float] | None


def _seen(order: int, ref: dict[str, Any], visit: Mapping[str, Any]) -> _Seen:
    lonlat = None
    if visit.get("lon") is not None and visit.get("lat") is not None:
        lonlat = (float(visit["lon"]), float(visit["lat"]))
    return _Seen(
        order,
        ref,
        str(visit.get("day")),
        _seconds(visit.get("windows")),
        str(visit.get("pseudonym") or "").strip().casefold(),
        lonlat,
    )


class _Index:
    """Visits by day and pseudonym, and by day and grid cell at least ``radius_m`` metres wide.

    ``max_abs_lat_deg`` is the latitude farthest from the equator among the visits: a cell
    spans as many degrees of longitude as ``radius_m`` takes there, so it is at least
    ``radius_m`` wide everywhere else.
    """

    def __init__(self, radius_m: float, max_abs_lat_deg: float) -> None:
        self.radius_m = radius_m
        self.lat_cell_rad = radius_m / _EARTH_M
        self.lon_cell_rad = self.lat_cell_rad / math.cos(math.radians(min(max_abs_lat_deg, 89.0)))
        self.by_name: dict[tuple[str, str], list[_Seen]] = {}
        self.by_cell: dict[tuple[str, int, int], list[_Seen]] = {}

    def _cell(self, lonlat: tuple[float, float]) -> tuple[int, int]:
        # Cells only pick candidates; the distance is then checked exactly.
        return (
            int(math.radians(lonlat[0]) // self.lon_cell_rad),
            int(math.radians(lonlat[1]) // self.lat_cell_rad),
        )

    def add(self, item: _Seen) -> None:
        if item.name:
            self.by_name.setdefault((item.day, item.name), []).append(item)
        if item.lonlat is not None:
            cx, cy = self._cell(item.lonlat)
            self.by_cell.setdefault((item.day, cx, cy), []).append(item)

    def first_same(self, item: _Seen) -> _Seen | None:
        """The earliest indexed visit that ``item`` probably repeats."""
        found: list[_Seen] = []
        if item.name:
            found += self.by_name.get((item.day, item.name), [])
        if item.lonlat is not None:
            cx, cy = self._cell(item.lonlat)
            for dx in (-1, 0, 1):
                for dy in (-1, 0, 1):
                    for other in self.by_cell.get((item.day, cx + dx, cy + dy), []):
                        assert other.lonlat is not None
                        if _distance_m(item.lonlat, other.lonlat) <= self.radius_m:
                            found.append(other)
        same = [o for o in found if _overlap(item.windows, o.windows)]
        return min(same, key=lambda o: o.order) if same else None


def find_duplicates(
    rows: list[IntakeRow],
    existing: Iterable[Mapping[str, Any]],
    *,
    radius_m: float = DUPLICATE_RADIUS_M,
) -> None:
    """Set ``duplicate_of`` on rows that probably repeat a stored visit or an earlier row.

    Likely the same visit: same day, overlapping windows, and the same pseudonym or places
    within ``radius_m`` metres. Two visits of one patient in the morning and the evening are
    not duplicates. A stored visit is named before an earlier row.
    """
    kept = [v for v in existing if v.get("status") not in IGNORED_STATUSES]
    seen_stored = [
        _seen(k, {"visit_id": v["id"], "pseudonym": v.get("pseudonym")}, v)
        for k, v in enumerate(kept)
    ]
    seen_rows = [
        (row, _seen(k, {"line": row.line, "pseudonym": row.visit.get("pseudonym")}, row.visit))
        for k, row in enumerate(rows)
        if row.visit
    ]
    lats = [abs(s.lonlat[1]) for s in seen_stored if s.lonlat]
    lats += [abs(s.lonlat[1]) for _, s in seen_rows if s.lonlat]
    max_lat = max(lats, default=0.0)
    stored = _Index(radius_m, max_lat)
    for item in seen_stored:
        stored.add(item)
    earlier = _Index(radius_m, max_lat)
    for row, item in seen_rows:
        same = stored.first_same(item) or earlier.first_same(item)
        row.duplicate_of = dict(same.ref) if same else None
        earlier.add(item)


# -- the two steps -------------------------------------------------------------------------------
def preview_csv(
    text: str,
    *,
    default_day: str | None,
    team_ids: Mapping[str, int],
    geocoder: GeocoderLike | None,
    existing: Iterable[Mapping[str, Any]] = (),
    area: ServiceArea | None = None,
) -> list[IntakeRow]:
    """One reviewed row per CSV line: fields, place and precision or error, likely duplicate.

    ``area``: the served territory; a line placed outside it is an error of that line.
    """
    geocoder = _Memo(geocoder) if geocoder is not None else None
    rows: list[IntakeRow] = []
    for line, raw in read_csv_rows(text):
        label = f"line {line}"
        row = IntakeRow(line)
        try:
            data = _row_fields(raw, label=label, default_day=default_day, team_ids=team_ids)
            row.visit = _normalised(data, label=label)
        except DispatchError as exc:
            row.error = exc.message
            row.visit = {k: raw[k] for k in ("pseudonym", "address", "commune") if raw.get(k)}
            rows.append(row)
            continue
        try:
            row.match, row.warning = locate(row.visit, geocoder, label=label)
        except DispatchError as exc:
            row.error = exc.message
        if row.match is not None:
            row.visit["lon"], row.visit["lat"] = row.match["lon"], row.match["lat"]
            if area is not None and row.error is None:
                try:
                    area.check(row.visit["lon"], row.visit["lat"], what=f"{label}: home")
                except DispatchError as exc:
                    row.error = exc.message
        rows.append(row)
    if not rows:
        raise ValidationError("the CSV has a header but no visit rows")
    find_duplicates(rows, existing)
    return rows


def confirm_rows(
    items: Any, *, geocoder: GeocoderLike | None
) -> tuple[list[dict[str, Any]], list[str], list[dict[str, Any]]]:
    """(visits, labels, errors) from reviewed rows ``[{"line": 3, "visit": {...}}, ...]``.

    A row without lon/lat is placed from its address; one whose street is not found (only
    its commune) is an error: the coordinator must place its pin.
    """
    if not isinstance(items, list) or not items:
        raise ValidationError("rows must be a non-empty list of {line, visit}: tick some rows")
    if len(items) > MAX_ROWS:
        raise ValidationError(f"more than {MAX_ROWS} rows: split the file")
    geocoder = _Memo(geocoder) if geocoder is not None else None
    visits: list[dict[str, Any]] = []
    labels: list[str] = []
    errors: list[dict[str, Any]] = []
    for k, item in enumerate(items):
        line = item.get("line") if isinstance(item, Mapping) else None
        line = line if isinstance(line, int) and not isinstance(line, bool) else None
        label = f"line {line}" if line is not None else f"row {k + 1}"
        try:
            if not isinstance(item, Mapping) or not isinstance(item.get("visit"), Mapping):
                raise ValidationError(f"{label}: send {{line, visit}} with the visit's fields")
            data = dict(item["visit"])
            if data.get("lon") is None or data.get("lat") is None:
                data.pop("lon", None)
                data.pop("lat", None)
                match, warning = locate(data, geocoder, label=label)
                if warning or match is None:
                    raise ValidationError(warning or f"{label}: place the pin on the map")
                data["lon"], data["lat"] = match["lon"], match["lat"]
            parse_visit(data, label=label)
            visits.append(data)
            labels.append(label)
        except DispatchError as exc:
            errors.append({"line": line, "error": exc.message})
    return visits, labels, errors
