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


def test_more_than_48_hours_in_seven_days_breaks_weekly_hours():
    days = {f"2026-12-0{i}": _day(7, 17) for i in range(1, 6)}  # 50 h
    found = check_week(days, [_person(days)], locale="en")
    assert [f["rule"] for f in found] == ["weekly_hours"]
    assert "weekly hours: Anne works 50 h 00 from 2026-12-01 to 2026-12-05" in found[0]["message"]
    assert check_week(days, [_person(days)])[0]["message"].startswith("heures hebdomadaires")
    # Days outside the seven-day run do not count with it.
    spread = {
        "2026-12-01": _day(7, 17),
        "2026-12-02": _day(7, 17),
        "2026-12-03": _day(7, 17),
        "2026-12-04": _day(7, 17),
        "2026-12-08": _day(7, 17),
    }
    assert check_week(spread, [_person(spread)]) == []


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
