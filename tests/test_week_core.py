"""The week planning's pure core on handmade weeks: legal hours cut the shifts (daily rest,
48 h, contract), continuity of care makes the next day keep the patient's caregiver, the
week's figures count distinct staff per patient, hours and what moved."""

from __future__ import annotations

import datetime as dt

import numpy as np

from dispatch.optimise.model import Problem, Team, TimeWindow, Visit
from dispatch.optimise.plan import Plan, Route, Stop
from dispatch.optimise.solver import solve
from dispatch.optimise.week import (
    Continuity,
    PlannedDay,
    due_hours,
    legal_shifts,
    moves,
    slot_of,
    week_metrics,
    with_continuity,
    work_in,
)

H = 3600
DAYS = [f"2027-01-{d:02d}" for d in range(4, 11)]  # Monday 4 to Sunday 10 January


def test_daily_rest_moves_the_next_start_later() -> None:
    shifts = {1: {DAYS[0]: (14 * H, 22 * H, []), DAYS[1]: (7 * H, 15 * H, [])}}
    legal, cuts = legal_shifts(shifts, {}, DAYS)
    # 22:00 + 11 h = 09:00 the next day.
    assert legal[1][DAYS[1]] == (9 * H, 15 * H)
    assert [(c.rule, c.day, c.cut_s) for c in cuts] == [("daily_rest", DAYS[1], 2 * H)]


def test_a_week_over_48_hours_is_cut_on_every_day() -> None:
    shifts = {1: {d: (7 * H, 16 * H, []) for d in DAYS[:6]}}  # 6 x 9 h = 54 h
    legal, cuts = legal_shifts(shifts, {}, DAYS)
    assert sum(e - s for s, e in legal[1].values()) == 48 * H
    # Each day gives its share: an hour off its end.
    assert set(legal[1].values()) == {(7 * H, 15 * H)}
    assert [c.rule for c in cuts] == ["weekly_hours"] * 6


def test_the_contract_caps_the_week_with_its_margin() -> None:
    shifts = {1: {d: (7 * H, 15 * H, []) for d in DAYS[:5]}}  # 40 h
    legal, cuts = legal_shifts(shifts, {1: 30 * H}, DAYS)  # owes 30 h: at most 33 h
    assert sum(e - s for s, e in legal[1].values()) == 33 * H
    assert {c.rule for c in cuts} == {"contract"}
    # A split shift's hours off are not work: cutting 3 h of work skips the afternoon off.
    split = {2: {DAYS[0]: (7 * H, 20 * H, [(12 * H, 17 * H)])}}
    legal, _ = legal_shifts(split, {2: 5 * H}, DAYS, margin=0.0)
    assert legal[2][DAYS[0]] == (7 * H, 12 * H)
    assert work_in(7 * H, 20 * H, [(12 * H, 17 * H)]) == 8 * H


def test_what_a_cycle_worker_owes_follows_their_rota() -> None:
    # 7 days on, 7 off: 70 h over the two weeks, a 35 h contract.
    assert due_hours(35 * H, 70 * H, 35 * H, 7) == 70 * H
    assert due_hours(35 * H, 0, 35 * H, 7) == 0
    assert due_hours(35 * H, 0, 0, 7) == 35 * H


def _problem(bases: list[int], patients: list[int]) -> Problem:
    """Two teams (bases at points ``bases``) and one visit per patient point on a line of
    points 10 min apart."""
    n = 6
    m = np.array([[abs(i - j) * 600 for j in range(n)] for i in range(n)], dtype=np.int64)
    teams = tuple(
        Team(id=tid, start_location=b, end_location=b, shift_start_s=7 * H, shift_end_s=13 * H)
        for tid, b in zip(("A", "B"), bases, strict=True)
    )
    visits = tuple(
        Visit(id=f"v{p}", location=p, duration_s=1200, windows=(TimeWindow(8 * H, 11 * H),))
        for p in patients
    )
    return Problem(teams=teams, visits=visits, travel_time_s={"car": m}, continuity_cost_s=0)


def test_continuity_keeps_yesterdays_caregiver_when_the_roads_say_otherwise() -> None:
    staff = {"A": [1], "B": [2]}
    patient_of = {"v1": 101, "v4": 104}
    # Monday: A lives at 0 and B at 5; A sees patient 1, B patient 4.
    monday = solve(_problem([0, 5], [1, 4]), time_limit_s=0.3, searches=1)
    assert monday.assignment() == {"v1": "A", "v4": "B"}
    memory = Continuity()
    memory.record_plan(_problem([0, 5], [1, 4]), monday, patient_of, staff)
    # Tuesday they leave from each other's side: alone, each day swaps the patients.
    tuesday = _problem([5, 0], [1, 4])
    alone = solve(tuesday, time_limit_s=0.3, searches=1)
    assert alone.assignment() == {"v1": "B", "v4": "A"}
    kept, chosen = with_continuity(tuesday, memory, patient_of, staff, weight_s=7200)
    assert chosen == {"v1": "A", "v4": "B"}
    planned = solve(kept, time_limit_s=0.3, searches=1)
    assert planned.assignment() == {"v1": "A", "v4": "B"}
    # A small weight gives way to the roads.
    cheap, _ = with_continuity(tuesday, memory, patient_of, staff, weight_s=60)
    assert solve(cheap, time_limit_s=0.3, searches=1).assignment() == {"v1": "B", "v4": "A"}


def test_continuity_never_prefers_a_team_that_may_not_serve() -> None:
    problem = _problem([0, 5], [1])
    memory = Continuity()
    memory.record(101, "morning", [1])
    staff = {"A": [1], "B": [2]}
    # A's shift ends before the visit can: B is no one's preference either (nobody saw it).
    short = problem.with_changes(
        teams=(
            Team(id="A", start_location=0, end_location=0, shift_start_s=7 * H, shift_end_s=8 * H),
            problem.teams[1],
        )
    )
    _, chosen = with_continuity(short, memory, {"v1": 101}, staff, weight_s=900)
    assert chosen == {}
    _, chosen = with_continuity(problem, memory, {"v1": 101}, staff, weight_s=900)
    assert chosen == {"v1": "A"}
    # What the current plan says comes first (re-planning that changes little).
    _, chosen = with_continuity(problem, memory, {"v1": 101}, staff, weight_s=900, keep={"v1": "B"})
    assert chosen == {"v1": "B"}
    assert slot_of(problem.visits[0]) == "morning"


def _route(team: str, visits: list[str], start: int, end: int) -> Route:
    stops = tuple(
        Stop(
            kind="visit",
            location=1,
            arrival_s=start + 600 * k,
            start_s=start + 600 * k,
            departure_s=start + 600 * k + 300,
            travel_time_s=100,
            visit_id=v,
        )
        for k, v in enumerate(visits)
    )
    return Route(
        team_id=team, start_location=0, end_location=0, start_s=start, end_s=end, stops=stops
    )


def test_week_metrics_count_distinct_staff_hours_and_moves() -> None:
    problem = _problem([0, 5], [1, 4])
    staff = {"A": [1], "B": [2]}
    day1 = Plan(routes=(_route("A", ["v1"], 8 * H, 12 * H), _route("B", ["v4"], 8 * H, 10 * H)))
    day2 = Plan(routes=(_route("B", ["w1"], 8 * H, 12 * H), _route("A", ["w4"], 8 * H, 9 * H)))
    patient_of = {"v1": 101, "w1": 101, "v4": 104, "w4": 104}
    days = {
        DAYS[0]: PlannedDay(problem, day1, staff),
        DAYS[1]: PlannedDay(problem, day2, staff),
    }
    m = week_metrics(days, patient_of, {1: 4 * H, 2: 6 * H})
    assert m["distinct_staff_per_patient"] == 2.0
    assert m["planned"] == 4 and m["travel_s"] == 400
    assert m["staff_h"] == {1: 5.0, 2: 6.0}
    assert m["max_contract_excess_pct"] == 25.0  # 5 h worked for 4 h owed
    assert m["hours_spread_h"] == 1.0
    assert moves({DAYS[0]: {"v1": "A", "v4": "B"}}, {DAYS[0]: {"v1": "B", "v4": "B"}}) == [
        {"day": DAYS[0], "visit_id": "v1", "from": "A", "to": "B"}
    ]


def test_a_patients_wishes_exclude_the_teams_holding_someone_refused() -> None:
    from dispatch.rounds.day import excluded_teams

    members = {10: [1], 11: [2], 12: [1, 3], 13: [3]}
    gender = {1: "female", 2: "male", 3: "female"}
    wishes = {
        100: {"excluded_staff_ids": [1]},  # the pair holding 1 is refused too
        101: {"gender": "female"},  # every member counts
        102: {"preferred_staff_ids": [2]},  # a wish to favour, never a rule
    }
    assert excluded_teams(wishes, members, gender) == {
        100: frozenset({"10", "12"}),
        101: frozenset({"11"}),
    }


def test_a_two_person_visit_keeps_both_staff_together_in_a_planned_week() -> None:
    from dispatch.optimise.check import check_plan

    base = _problem([0, 5], [1, 4])
    transfer = Visit(
        id="t2",
        location=2,
        duration_s=1800,
        windows=(TimeWindow(9 * H, 10 * H),),
        staff_count=2,
    )
    problem = base.with_changes(visits=(*base.visits, transfer))
    staff = {"A": [1], "B": [2]}
    patient_of = {"v1": 101, "v4": 104, "t2": 102}
    memory = Continuity()
    memory.record(102, "morning", [1])
    memory.record(101, "morning", [2])
    day, chosen = with_continuity(problem, memory, patient_of, staff, weight_s=900)
    assert chosen["t2"] == "A" and chosen["v1"] == "B"
    plan = solve(day, time_limit_s=0.5, searches=1)
    starts = {r.team_id: s.start_s for r in plan.routes for s in r.stops if s.visit_id == "t2"}
    # Both staff there, starting together: the checker finds nothing to say.
    assert set(starts) == {"A", "B"} and len(set(starts.values())) == 1, plan
    assert check_plan(day, plan) == []


def test_48_hours_hold_per_civil_week_counting_the_work_done_before() -> None:
    # Two weeks of 5 x 9 h: 45 h each, nothing to cut (the span is not one week).
    fortnight = [f"2027-01-{d:02d}" for d in range(4, 18)]
    workdays = [d for d in fortnight if dt.date.fromisoformat(d).weekday() < 5]
    legal, cuts = legal_shifts({1: {d: (7 * H, 16 * H, []) for d in workdays}}, {}, fortnight)
    assert cuts == [] and len(legal[1]) == 10
    # Planned from Saturday after 40 h worked since Monday: 8 h left for the weekend.
    weekend = {1: {DAYS[5]: (7 * H, 16 * H, []), DAYS[6]: (7 * H, 16 * H, [])}}
    legal, cuts = legal_shifts(
        weekend, {}, DAYS[5:], worked_before_s={1: 40 * H}, end_before_s={1: 21 * H}
    )
    assert sum(work_in(s, e) for s, e in legal[1].values()) == 8 * H
    # Friday ended at 21:00: Saturday starts at 08:00 at the earliest.
    assert legal[1][DAYS[5]][0] == 8 * H
    assert {c.rule for c in cuts} == {"daily_rest", "weekly_hours"}


def test_44_hours_published_monday_to_wednesday_leave_4_hours_for_thursday_and_friday() -> None:
    # Thursday and Friday of the week of Monday 4 January, 9 h each on the rota.
    planned = {1: {DAYS[3]: (7 * H, 16 * H, []), DAYS[4]: (7 * H, 16 * H, [])}}
    legal, cuts = legal_shifts(planned, {}, DAYS[3:5], worked_before_s={1: 44 * H})
    assert sum(work_in(s, e) for s, e in legal[1].values()) == 4 * H
    assert {c.rule for c in cuts} == {"weekly_hours"}
    # Each day keeps a share (2 h), from its start.
    assert legal[1] == {DAYS[3]: (7 * H, 9 * H), DAYS[4]: (7 * H, 9 * H)}


def test_a_tuesday_published_until_21_00_makes_wednesday_start_at_08_00() -> None:
    planned = {1: {DAYS[2]: (7 * H, 15 * H, []), DAYS[3]: (7 * H, 15 * H, [])}}
    legal, cuts = legal_shifts(planned, {}, DAYS[2:4], end_before_s={1: 21 * H})
    assert legal[1][DAYS[2]] == (8 * H, 15 * H)
    assert legal[1][DAYS[3]] == (7 * H, 15 * H)  # Wednesday ends at 15:00: 16 h of rest
    assert [(c.rule, c.day, c.cut_s) for c in cuts] == [("daily_rest", DAYS[2], H)]
    # Someone who did not work on Tuesday keeps their shift.
    legal, cuts = legal_shifts(planned, {}, DAYS[2:4], end_before_s={2: 21 * H})
    assert legal[1][DAYS[2]] == (7 * H, 15 * H) and cuts == []


def test_the_contract_is_owed_over_the_civil_week_counting_the_work_published_before() -> None:
    # Owes 35 h over the week of Monday 4 January (38.5 h with the margin), 30 h published
    # Monday to Wednesday: Thursday and Friday (8 h each on the rota) hold 8.5 h.
    planned = {1: {DAYS[3]: (7 * H, 15 * H, []), DAYS[4]: (7 * H, 15 * H, [])}}
    legal, cuts = legal_shifts(
        planned,
        {},
        DAYS[3:5],
        worked_before_s={1: 30 * H},
        due_by_week_s={1: {DAYS[0]: 35 * H}},
    )
    assert sum(work_in(s, e) for s, e in legal[1].values()) == int(8.5 * H)
    assert {c.rule for c in cuts} == {"contract"}
    # Nothing published before: the rota's 16 h are under the week's contract.
    legal, cuts = legal_shifts(planned, {}, DAYS[3:5], due_by_week_s={1: {DAYS[0]: 35 * H}})
    assert cuts == [] and sum(work_in(s, e) for s, e in legal[1].values()) == 16 * H


def test_a_plan_into_the_next_civil_week_holds_each_week_on_its_own() -> None:
    # Saturday 9 to Tuesday 12 January, 9 h a day; 40 h published Monday to Friday 8 and a
    # 35 h contract owed in each week.
    days = ["2027-01-09", "2027-01-10", "2027-01-11", "2027-01-12"]
    planned = {1: {d: (7 * H, 16 * H, []) for d in days}}
    legal, cuts = legal_shifts(
        planned,
        {},
        days,
        worked_before_s={1: 40 * H},
        end_before_s={1: 16 * H},
        due_by_week_s={1: {"2027-01-04": 35 * H, "2027-01-11": 35 * H}},
    )
    first = sum(work_in(*legal[1][d]) for d in days[:2] if d in legal[1])
    second = sum(work_in(*legal[1][d]) for d in days[2:] if d in legal[1])
    # The first week is over its contract already (40 h > 38.5 h): nothing left on the weekend.
    assert first == 0 and set(legal[1]) == set(days[2:])
    # The next week starts afresh: Monday and Tuesday keep their 18 h.
    assert second == 18 * H
    assert {(c.rule, c.day) for c in cuts} == {("contract", days[0]), ("contract", days[1])}
