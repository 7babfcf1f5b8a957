"""Issue 23 item 4: the independent checker learns synchronisation, excluded staff, daily rest
and weekly hours; each broken plan is refused with a message naming the rule.

Plans are built by hand (exact timing, no solver) on a line of places 10 minutes apart.
"""

from __future__ import annotations

import dataclasses

from optimise_world import H, line_problem

from dispatch.optimise import Team, TimeWindow, Visit
from dispatch.optimise.check import plan_findings
from dispatch.optimise.check_week import StaffWeek, check_week, hours_report
from dispatch.optimise.model import Break
from dispatch.optimise.plan import Plan
from dispatch.optimise.schedule import build_route


def _team(tid: str, size: int = 1, **kw) -> Team:
    base = dict(id=tid, start_location=0, end_location=0, shift_start_s=8 * H, shift_end_s=17 * H)
    base.update(kw)
    return Team(size=size, **base)


def _plan(problem, items_by_team) -> Plan:
    return Plan(
        routes=tuple(
            build_route(problem, problem.team(tid), list(items))
            for tid, items in items_by_team.items()
        )
    )


def _findings(problem, plan, locale="en"):
    return plan_findings(problem, plan, locale=locale)


def _rules(problem, plan) -> set[str]:
    return {f.rule for f in _findings(problem, plan)}


def _pair_visit(**kw) -> Visit:
    return Visit("duo", 3, 1800, windows=(TimeWindow(9 * H, 9 * H),), staff_count=2, **kw)


def _teams():
    return [_team("A"), _team("B"), _team("P", size=2)]


def test_two_single_teams_at_the_same_second_or_a_pair_pass():
    problem = line_problem([_pair_visit()], _teams())
    assert _findings(problem, _plan(problem, {"A": ["duo"], "B": ["duo"]})) == []
    assert _findings(problem, _plan(problem, {"P": ["duo"]})) == []


def test_a_two_person_visit_served_by_one_person_breaks_synchronisation():
    problem = line_problem([_pair_visit()], _teams())
    found = _findings(problem, _plan(problem, {"A": ["duo"]}))
    assert [f.rule for f in found] == ["synchronisation"]
    assert "synchronisation" in found[0].message and "only one person" in found[0].message
    fr = plan_findings(problem, _plan(problem, {"A": ["duo"]}), locale="fr")
    assert fr[0].message.startswith("synchronisation : la visite à deux duo")


def test_two_person_visit_started_at_different_times_breaks_synchronisation():
    visit = Visit("duo", 3, 1800, windows=(TimeWindow(9 * H, 11 * H),), staff_count=2)
    other = Visit("x", 6, 600, windows=(TimeWindow(8 * H, 9 * H),))
    problem = line_problem([visit, other], _teams())
    # A goes straight there (09:00); B first goes to place 6 (later at place 3).
    plan = _plan(problem, {"A": ["duo"], "B": ["x", "duo"]})
    starts = {r.team_id: r.stops[-1].start_s for r in plan.routes}
    assert starts["A"] != starts["B"]
    found = _findings(problem, plan)
    assert [f.rule for f in found] == ["synchronisation"]
    assert "starts at 09:00 for A and at 09:40 for B" in found[0].message


def test_one_team_holding_a_two_person_visit_twice_breaks_synchronisation():
    problem = line_problem([_pair_visit()], _teams())
    plan = _plan(problem, {"A": ["duo"]})
    route = plan.routes[0]
    doubled = dataclasses.replace(route, stops=route.stops + route.stops)
    rules = _rules(problem, Plan(routes=(doubled,)))
    assert "synchronisation" in rules


def test_a_one_person_visit_in_two_routes_is_still_a_duplicate():
    visit = Visit("solo", 3, 1800, windows=(TimeWindow(9 * H, 9 * H),))
    problem = line_problem([visit], _teams())
    assert _rules(problem, _plan(problem, {"A": ["solo"], "B": ["solo"]})) == {"duplicates"}


def test_a_team_the_visit_excludes_breaks_excluded_staff():
    visit = Visit("v", 2, 1200, excluded_team_ids=frozenset({"A"}))
    problem = line_problem([visit], _teams())
    assert _findings(problem, _plan(problem, {"B": ["v"]})) == []
    found = _findings(problem, _plan(problem, {"A": ["v"]}))
    assert [f.rule for f in found] == ["excluded_staff"]
    assert found[0].message == "excluded staff: visit v excludes team A"
    fr = plan_findings(problem, _plan(problem, {"A": ["v"]}), locale="fr")
    assert fr[0].message == "personnel exclu : la visite v exclut l'équipe A"


# --- over several days -----------------------------------------------------------------


def _day(start_h: float, end_h: float):
    """A day where team A leaves at ``start_h`` and is back by ``end_h`` (one visit)."""
    start, end = int(start_h * H), int(end_h * H)
    visit = Visit("v", 1, end - start - 1200, windows=(TimeWindow(start + 600, start + 600),))
    team = _team("A", shift_start_s=start, shift_end_s=end)
    problem = line_problem([visit], [team])
    plan = _plan(problem, {"A": ["v"]})
    assert plan.routes[0].start_s == start and plan.routes[0].end_s == end
    return problem, plan


def _person(days, contract_h=35):
    return StaffWeek(7, "Anne", contract_h * H, {d: "A" for d in days})


def test_a_week_within_the_rules_passes():
    days = {f"2026-12-0{i}": _day(8, 16) for i in range(1, 6)}
    assert check_week(days, [_person(days)]) == []


def test_less_than_eleven_hours_between_two_days_breaks_daily_rest():
    days = {"2026-12-01": _day(12, 22), "2026-12-02": _day(7, 15)}
    found = check_week(days, [_person(days)], locale="en")
    assert [f["rule"] for f in found] == ["daily_rest"]
    assert found[0]["staff_id"] == 7 and found[0]["day"] == "2026-12-01"
    assert "daily rest: Anne has 9 h 00 of rest" in found[0]["message"]
    fr = check_week(days, [_person(days)])
    assert fr[0]["message"].startswith("repos quotidien : Anne a 9 h 00 de repos")
    # Eleven hours exactly is enough.
    days = {"2026-12-01": _day(12, 20), "2026-12-02": _day(7, 15)}
    assert check_week(days, [_person(days)]) == []


def test_more_than_48_hours_in_a_civil_week_breaks_weekly_hours():
    days = {f"2026-12-0{i}": _day(7, 17) for i in range(1, 6)}  # Tuesday-Saturday, 50 h
    found = check_week(days, [_person(days)], locale="en")
    assert [f["rule"] for f in found] == ["weekly_hours"]
    assert found[0]["day"] == "2026-12-01"  # the first day worked in that week
    assert found[0]["message"] == (
        "weekly hours: Anne works 50 h 00 (breaks not counted) in the civil week from "
        "Monday 2026-11-30 to Sunday 2026-12-06, more than the 48 h allowed"
    )
    assert check_week(days, [_person(days)])[0]["message"] == (
        "heures hebdomadaires : Anne travaille 50 h 00 (pauses non comptées) dans la semaine "
        "civile du lundi 2026-11-30 au dimanche 2026-12-06, plus que les 48 h permises"
    )
    # Days of another civil week do not count with it.
    spread = {
        "2026-12-01": _day(7, 17),
        "2026-12-02": _day(7, 17),
        "2026-12-03": _day(7, 17),
        "2026-12-04": _day(7, 17),
        "2026-12-08": _day(7, 17),
    }
    assert check_week(spread, [_person(spread)]) == []


def test_48_hours_hold_per_civil_week_not_per_run_of_seven_days():
    # Thursday to Wednesday: 70 h over seven days in a row, but 40 h in the week of
    # Monday 30 November and 30 h in the week of Monday 7 December.
    days = {f"2026-12-{d:02d}": _day(7, 17) for d in range(3, 10)}
    assert check_week(days, [_person(days)]) == []
    # Each civil week over 48 h is named once.
    both = {f"2026-12-{d:02d}": _day(7, 17) for d in (1, 2, 3, 4, 5, 7, 8, 9, 10, 11)}
    found = check_week(both, [_person(both)], locale="en")
    assert [(f["rule"], f["day"]) for f in found] == [
        ("weekly_hours", "2026-12-01"),
        ("weekly_hours", "2026-12-07"),
    ]
    assert "from Monday 2026-12-07 to Sunday 2026-12-13" in found[1]["message"]


def _split_day():
    """A split shift 07:00-12:00 and 17:00-20:00: one team shift 07:00-20:00 whose rota
    break of 5 h is a break stop of the route (8 h of work)."""
    morning = Visit("m", 1, 4 * H + 2400, windows=(TimeWindow(7 * H + 600, 7 * H + 600),))
    evening = Visit("e", 1, 2 * H + 3000, windows=(TimeWindow(17 * H, 17 * H),))
    team = _team(
        "A", shift_start_s=7 * H, shift_end_s=20 * H, breaks=(Break(12 * H, 17 * H, 5 * H),)
    )
    problem = line_problem([morning, evening], [team])
    plan = _plan(problem, {"A": ["m", 0, "e"]})
    route = plan.routes[0]
    assert (route.start_s, route.end_s) == (7 * H, 20 * H)
    assert [(s.kind, s.start_s, s.departure_s) for s in route.stops if s.kind == "break"] == [
        ("break", 12 * H, 17 * H)
    ]
    assert _findings(problem, plan) == []
    return problem, plan


def test_a_split_shift_counts_its_work_not_its_break():
    # Monday to Saturday: 6 x 8 h = 48 h of work (78 h from departure to return).
    week = {"2026-11-30": _split_day()} | {f"2026-12-0{i}": _split_day() for i in range(1, 6)}
    assert check_week(week, [_person(week)]) == []
    (row,) = hours_report(week, [_person(week, contract_h=48)])
    assert row["planned_h"] == 48 and row["days"]["2026-11-30"] == 8
    # Sunday too: 56 h.
    week["2026-12-06"] = _split_day()
    found = check_week(week, [_person(week)], locale="en")
    assert [f["rule"] for f in found] == ["weekly_hours"]
    assert "Anne works 56 h 00 (breaks not counted)" in found[0]["message"]
    # Daily rest still runs from one day's return (20:00) to the next departure: a start at
    # 06:00 the next day leaves 10 h.
    early = {"2026-12-07": _split_day(), "2026-12-08": _day(6, 14)}
    found = check_week(early, [_person(early)], locale="en")
    assert [f["rule"] for f in found] == ["daily_rest"]
    assert (
        "10 h 00 of rest between 2026-12-07 (20:00) and 2026-12-08 (06:00)" in found[0]["message"]
    )


def test_hours_against_contract_are_reported():
    days = {f"2026-12-0{i}": _day(8, 16) for i in range(1, 6)}  # 40 h
    (row,) = hours_report(days, [_person(days, contract_h=35)])
    assert row["planned_h"] == 40 and row["days"]["2026-12-01"] == 8
    assert row["contract_h"] == 25  # five days of a 35 h week
    assert row["excess_pct"] == 60.0


def test_a_visit_only_excluded_teams_could_serve_says_so():
    from dispatch.optimise import solve

    visit = Visit("v", 2, 1200, skills=frozenset({"soin"}), excluded_team_ids=frozenset({"A"}))
    problem = line_problem([visit], [_team("A", skills=frozenset({"soin"})), _team("B")])
    plan = solve(problem, time_limit_s=0.3)
    (left,) = plan.unassigned
    assert left.code == "excluded_staff"
    assert left.message("fr").startswith("les seules équipes avec la compétence « soin »")
    assert "excluded by the patient's wishes" in left.message("en")


def test_starts_a_few_seconds_apart_break_synchronisation_too():
    problem = line_problem([_pair_visit()], _teams())
    plan = _plan(problem, {"A": ["duo"], "B": ["duo"]})
    late = plan.routes[1]
    stops = tuple(
        dataclasses.replace(s, start_s=s.start_s + 30, departure_s=s.departure_s + 30)
        if s.visit_id == "duo"
        else s
        for s in late.stops
    )
    plan = Plan(
        routes=(plan.routes[0], dataclasses.replace(late, stops=stops, end_s=late.end_s + 30))
    )
    found = [f for f in _findings(problem, plan) if f.rule == "synchronisation"]
    assert len(found) == 1
    assert "starts at 09:00:00 for A and at 09:00:30 for B" in found[0].message


def test_the_work_published_before_the_first_day_counts_in_its_civil_week():
    # Thursday 3 and Friday 4 December, 9 h each, after 44 h published Monday-Wednesday.
    days = {"2026-12-03": _day(7, 16), "2026-12-04": _day(7, 16)}
    assert check_week(days, [_person(days)]) == []  # the days alone: 18 h
    found = check_week(days, [_person(days)], locale="en", worked_before_s={7: 44 * H})
    assert [(f["rule"], f["day"]) for f in found] == [("weekly_hours", "2026-12-03")]
    assert found[0]["message"] == (
        "weekly hours: Anne works 62 h 00 (breaks not counted, 44 h 00 of them before "
        "2026-12-03) in the civil week from Monday 2026-11-30 to Sunday 2026-12-06, more "
        "than the 48 h allowed"
    )
    fr = check_week(days, [_person(days)], worked_before_s={7: 44 * H})
    assert (
        "travaille 62 h 00 (pauses non comptées, dont 44 h 00 avant le 2026-12-03)"
        in (fr[0]["message"])
    )
    # 4 h in all on Thursday and Friday keeps to the 48 h.
    short = {"2026-12-03": _day(7, 9), "2026-12-04": _day(7, 9)}
    assert check_week(short, [_person(short)], worked_before_s={7: 44 * H}) == []
    # The work before counts in the first day's civil week only.
    across = {"2026-12-04": _day(7, 9), "2026-12-07": _day(7, 16)}
    assert check_week(across, [_person(across)], worked_before_s={7: 44 * H}) == []
    across["2026-12-04"] = _day(7, 16)
    found = check_week(across, [_person(across)], worked_before_s={7: 44 * H})
    assert [(f["rule"], f["day"]) for f in found] == [("weekly_hours", "2026-12-04")]


def test_the_rest_after_the_day_before_the_first_counts():
    # Tuesday 1 December published until 21:00: Wednesday at 07:00 leaves 10 h.
    days = {"2026-12-02": _day(7, 15), "2026-12-03": _day(7, 15)}
    assert check_week(days, [_person(days)]) == []
    found = check_week(days, [_person(days)], locale="en", end_before_s={7: 21 * H})
    assert [(f["rule"], f["day"]) for f in found] == [("daily_rest", "2026-12-01")]
    assert (
        "10 h 00 of rest between 2026-12-01 (21:00) and 2026-12-02 (07:00)" in (found[0]["message"])
    )
    late = {"2026-12-02": _day(8, 15)}
    assert check_week(late, [_person(late)], end_before_s={7: 21 * H}) == []
    # Not working on the first day: the rest runs to the first day worked.
    off = StaffWeek(7, "Anne", 35 * H, {"2026-12-03": "A"})
    assert check_week(days, [off], end_before_s={7: 21 * H}) == []
