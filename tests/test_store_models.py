"""Input validation of the store: time windows, skills, visits, teams; messages say what to fix."""

from __future__ import annotations

import pytest

from dispatch.errors import ValidationError
from dispatch.store.models import (
    format_hhmm,
    parse_position,
    parse_team,
    parse_time_s,
    parse_visit,
    parse_windows,
)

VISIT = {
    "day": "2026-11-23",
    "pseudonym": "Patient 7F3A",
    "lon": 9.4,
    "lat": 42.6,
    "duration_s": 1200,
    "windows": [["08:00", "10:00"]],
}


def test_windows_accept_hhmm_and_seconds():
    """ "HH:MM" strings, seconds and "08:00-10:00;17:00-18:00" text all give seconds pairs."""
    assert parse_windows([["08:00", "10:00"]], label="v") == [[28800, 36000]]
    assert parse_windows([[28800, 36000]], label="v") == [[28800, 36000]]
    assert parse_windows("17:00-18:00; 08:00-10:00", label="v") == [[28800, 36000], [61200, 64800]]
    assert format_hhmm(61200) == "17:00" and parse_time_s("24:00", what="t") == 86400


@pytest.mark.parametrize(
    ("windows", "message"),
    [
        ([["14:00", "13:00"]], "visit 42: time window 14:00-13:00 ends before it starts"),
        ([["08:00", "10:00"], ["09:00", "11:00"]], "visit 42: time windows overlap"),
        ([["8h", "10:00"]], 'is not a time: write "HH:MM"'),
        ([["08:61", "10:00"]], "minutes or seconds above 59"),
        ([["08:00", "25:00"]], "outside the day"),
        ([], "non-empty list"),
        ([["08:00"]], "is not a [start, end] pair"),
    ],
)
def test_window_errors_say_what_to_fix(windows, message):
    """Each malformed window gets a message naming the visit and the fault."""
    with pytest.raises(ValidationError) as info:
        parse_windows(windows, label="visit 42")
    assert message in str(info.value)


def test_visit_parsing_and_errors():
    """A full visit parses; missing or unknown fields are named in the error."""
    row = parse_visit({**VISIT, "skills": "Insulin, wound_care", "duration_s": "20min"})
    assert row["skills"] == ["insulin", "wound_care"] and row["duration_s"] == 1200
    assert row["protected"] == {} and row["priority"] == 1
    with pytest.raises(ValidationError, match="lat is required"):
        parse_visit({k: v for k, v in VISIT.items() if k != "lat"})
    with pytest.raises(ValidationError, match="unknown field.*'nom'"):
        parse_visit({**VISIT, "nom": "x"})
    with pytest.raises(ValidationError, match="protected: unknown field"):
        parse_visit({**VISIT, "protected": {"ssn": "1"}})
    with pytest.raises(ValidationError, match="day: '23/11/2026' is not a date"):
        parse_visit({**VISIT, "day": "23/11/2026"})
    assert parse_visit({"priority": 3}, partial=True) == {"priority": 3}


def test_team_shift_and_fields():
    """Shifts are validated like windows; vehicle profile and colour are checked."""
    team = parse_team(
        {
            "name": "A",
            "base_lon": 9,
            "base_lat": 42,
            "shift_start": "07:30",
            "shift_end": "19:00",
            "color": "#aabbcc",
        }
    )
    assert (team["shift_start_s"], team["shift_end_s"]) == (27000, 68400)
    with pytest.raises(ValidationError, match="shift 19:00-07:00 ends before it starts"):
        parse_team(
            {
                "name": "A",
                "base_lon": 9,
                "base_lat": 42,
                "shift_start": "19:00",
                "shift_end": "07:00",
            }
        )
    with pytest.raises(ValidationError, match="vehicle_profile: 'plane' is not one of"):
        parse_team({"name": "A", "base_lon": 9, "base_lat": 42, "vehicle_profile": "plane"})


def test_position_parsing_bounds():
    """Fixes outside physical bounds are refused with the fix index and field."""
    ok = parse_position({"lon": 9.4, "lat": 42.6, "device_time_s": 1.8e9}, index=0)
    assert ok["client_id"] is None and ok["speed_mps"] is None
    with pytest.raises(ValidationError, match="position 7: speed_mps"):
        parse_position({"lon": 9.4, "lat": 42.6, "device_time_s": 1.8e9, "speed_mps": 900}, index=7)
    with pytest.raises(ValidationError, match="not between 2000 and 2100"):
        parse_position({"lon": 9.4, "lat": 42.6, "device_time_s": 12}, index=0)
    with pytest.raises(ValidationError, match="lon: nan"):
        parse_position({"lon": float("nan"), "lat": 42.6, "device_time_s": 1.8e9}, index=0)
