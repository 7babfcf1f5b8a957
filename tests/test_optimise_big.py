"""Large days: teams alike share the solver's tables, each team keeps its own breaks, and the
search processes are sent one problem and say where their time and memory went."""

from __future__ import annotations

import time

import pytest
from optimise_world import H, random_day

from dispatch.optimise import Break, Problem, Team, TimeWindow, Visit, check_plan, solve
from dispatch.optimise.pyvrp_model import FORBIDDEN, _break_signature, decode, encode


class _Stop:
    """A stopping criterion for the search run in this process (the solver's own reports to
    its parent through a pipe), in CPU seconds (the same search on a busy machine)."""

    def __init__(self, seconds: float) -> None:
        self.clock = time.process_time
        self.end = time.process_time() + seconds

    def __call__(self, best_cost: float) -> bool:
        return self.clock() >= self.end


def _search(problem: Problem, enc, seconds: float = 0.8, seed: int = 0):
    """The solver's search (neighbour lists, start from the breaks, polish) on ``enc``, in
    this process; returns PyVRP's best solution."""
    from dispatch.optimise.solver import POLISH_NEIGHBOURS, _run_ils, care_day_params

    params, penalties = care_day_params(enc.data)
    best, _, _ = _run_ils(
        enc,
        problem,
        _Stop(seconds),
        seed=seed,
        params=params,
        initial=None,
        penalties=penalties,
        polish_neighbours=POLISH_NEIGHBOURS,
        polish_s=0.05,
    )
    return best


@pytest.fixture(scope="module")
def day() -> Problem:
    # 120 visits, 20 teams at 3 bases: nurses and care aides of several skill sets.
    return random_day(123, bases=3, teams=20, seed=5)


def _tables_bytes(n_places: int, profiles: int) -> int:
    return 16 * n_places * n_places * profiles


def test_a_day_whose_tables_fit_keeps_a_profile_per_team(day):
    """Within the budget every team has its own profile (as before: continuity per team)."""
    enc = encode(day, list(day.visits), list(day.teams))
    assert enc.data.num_profiles == len(day.teams)


def test_teams_alike_share_profiles_when_the_tables_would_not_fit(day):
    """Over the budget, teams share profiles: no more than the budget holds (or one per class
    of alike teams), and never teams that may serve different visits."""
    n = encode(day, list(day.visits), list(day.teams)).data.num_locations
    budget = _tables_bytes(n, 8)
    enc = encode(day, list(day.visits), list(day.teams), budget_bytes=budget)
    assert 1 < enc.data.num_profiles <= 8
    data = enc.data
    visit_clients = enc.visit_clients
    for k in range(data.num_vehicle_types):
        vt = data.vehicle_type(k)
        cost = data.distance_matrix(vt.profile)
        for tid in enc.type_teams[k]:
            team = day.team(tid)
            for c, v in visit_clients.items():
                loc = data.client(c).location
                forbidden = cost[vt.start_depot, loc] >= FORBIDDEN
                able = v.skills <= team.skills
                assert forbidden == (not able), (tid, v.id)


def test_each_team_keeps_its_own_breaks_in_a_shared_profile(day):
    """Teams sharing a profile carry only breaks of their own signature (their place and
    rules): the capacity of a break's load dimension is 1 for its team and 0 for the others."""
    enc = encode(day, list(day.visits), list(day.teams), budget_bytes=_tables_bytes(200, 4))
    data = enc.data
    shared = [ids for ids in enc.type_teams if len(ids) > 1]
    assert enc.data.num_profiles < len(day.teams)
    for c, owner in enc.break_team.items():
        delivery = data.client(c).delivery
        assert sum(delivery) == 1
        dim = list(delivery).index(1)
        for k in range(data.num_vehicle_types):
            vt = data.vehicle_type(k)
            team = day.team(enc.type_teams[k][0])
            may = (
                vt.capacity[dim] > 0
                and data.distance_matrix(vt.profile)[vt.start_depot, data.client(c).location]
                < FORBIDDEN
            )
            if owner.id in enc.type_teams[k]:
                assert may, owner.id
            elif may:
                assert _break_signature(team) == _break_signature(owner), (team.id, owner.id)
    # Teams sharing a vehicle type are alike in every respect (their breaks too).
    for ids in shared:
        assert len({_break_signature(day.team(t)) for t in ids}) == 1


@pytest.mark.parametrize("seed", [0, 1])
def test_shared_profiles_give_routes_as_feasible_as_own_profiles(day, seed):
    """The search on shared profiles finds routes the exact timing accepts as they are (no
    repair), with each team's breaks its own, and the plan passes the independent checker."""
    from dispatch.optimise.insertion import plan_from_states
    from dispatch.optimise.solver import finish

    enc = encode(day, list(day.visits), list(day.teams), budget_bytes=_tables_bytes(200, 4))
    best = _search(day, enc, seed=seed)
    assert best.is_feasible()
    for route in best.routes():
        team = day.team(enc.type_teams[route.vehicle_type()][0])
        for act in route:
            if act.is_client() and act.idx in enc.break_team:
                assert _break_signature(enc.break_team[act.idx]) == _break_signature(team)
    routes = decode(enc, best)
    served = sum(isinstance(i, str) for items in routes.values() for i in items)
    assert served > len(day.visits) // 2
    states, left, stats = finish(
        day, routes, {}, [v.id for v in day.visits], finish_by=None, chains_by=None
    )
    assert stats["repaired"] == 0
    plan = plan_from_states(day, states, [])
    assert check_plan(day, plan) == []


def _two_nurses(budget_bytes: int | None = None) -> tuple[Problem, object]:
    """Two nurses of one base with the same skills, one with a morning break and one with an
    afternoon break, and visits all day."""
    import numpy as np

    n = 14
    times = np.abs(np.subtract.outer(np.arange(n), np.arange(n))) * 300
    teams = [
        Team(
            id=tid,
            start_location=0,
            end_location=0,
            shift_start_s=8 * H,
            shift_end_s=17 * H,
            skills=frozenset({"infirmier"}),
            breaks=(brk,),
        )
        for tid, brk in (
            ("matin", Break(10 * H, 11 * H, 30 * 60)),
            ("soir", Break(15 * H, 16 * H, 30 * 60)),
        )
    ]
    visits = [
        Visit(
            id=f"v{i}",
            location=i,
            duration_s=20 * 60,
            skills=frozenset({"infirmier"}),
            windows=(TimeWindow(8 * H, 16 * H),),
        )
        for i in range(1, n)
    ]
    problem = Problem(teams=tuple(teams), visits=tuple(visits), travel_time_s=times)
    kwargs = {} if budget_bytes is None else {"budget_bytes": budget_bytes}
    return problem, encode(problem, list(problem.visits), list(problem.teams), **kwargs)


def test_two_teams_of_one_profile_never_swap_breaks():
    """Forced into one profile, a morning break and an afternoon break each stay with their
    team: separate load dimensions, each team able to carry only its own."""
    problem, enc = _two_nurses(budget_bytes=1)
    data = enc.data
    assert data.num_profiles == 1
    dims = {enc.break_team[c].id: list(data.client(c).delivery).index(1) for c in enc.break_team}
    assert dims["matin"] != dims["soir"]
    for k, ids in enumerate(enc.type_teams):
        cap = data.vehicle_type(k).capacity
        assert [cap[dims["matin"]], cap[dims["soir"]]] == ([1, 0] if ids == ["matin"] else [0, 1])
    best = _search(problem, enc, seconds=0.3)
    assert best.is_feasible()
    routes = decode(enc, best)
    from dispatch.optimise.insertion import plan_from_states
    from dispatch.optimise.solver import finish

    states, _, stats = finish(
        problem, routes, {}, [v.id for v in problem.visits], finish_by=None, chains_by=None
    )
    assert stats["repaired"] == 0
    assert check_plan(problem, plan_from_states(problem, states, [])) == []


def test_visits_excluding_a_team_are_a_kind_of_their_own():
    """Two visits alike but for the teams they exclude get different profiles' columns: the
    excluded team's profile forbids its visit, not the other."""
    problem, _ = _two_nurses()
    visits = list(problem.visits)
    visits[0] = Visit(
        id=visits[0].id,
        location=visits[0].location,
        duration_s=visits[0].duration_s,
        skills=visits[0].skills,
        windows=visits[0].windows,
        excluded_team_ids=frozenset({"soir"}),
    )
    problem = problem.with_changes(visits=tuple(visits))
    enc = encode(problem, visits, list(problem.teams))
    data = enc.data
    client_of = {v.id: c for c, v in enc.visit_clients.items()}
    for k, ids in enumerate(enc.type_teams):
        vt = data.vehicle_type(k)
        cost = data.distance_matrix(vt.profile)
        loc0 = data.client(client_of[visits[0].id]).location
        loc1 = data.client(client_of[visits[1].id]).location
        assert (cost[vt.start_depot, loc0] >= FORBIDDEN) == (ids == ["soir"])
        assert cost[vt.start_depot, loc1] < FORBIDDEN


def test_the_search_processes_say_their_peak_memory_and_where_the_time_went(day):
    """Each plan's statistics hold the search process's peak memory and, from the call,
    when each step ended, in order."""
    plan = solve(day, time_limit_s=1.0)
    assert plan.stats["peak_rss_mb"] > 0
    timeline = plan.stats["timeline_s"]
    steps = ["received", "built", "started", "searched", "polished", "finished", "returned"]
    assert list(timeline)[: len(steps)] == steps
    at = [timeline[s] for s in [*steps, "planned"]]
    assert at == sorted(at)
    assert check_plan(day, plan) == []


def test_matrices_are_shared_with_the_solvers_copy_of_the_problem(day):
    """The solver's copy of a problem (its teams changed for a re-plan) holds the same
    matrices, so that the search processes are sent them once."""
    import dataclasses

    from dispatch.optimise.solver import _with_teams

    teams = tuple(dataclasses.replace(t, available_from_s=10 * H) for t in day.teams)
    copy = _with_teams(day, teams)
    assert copy.teams == teams
    assert copy.travel_time_s["car"] is day.travel_time_s["car"]
    assert copy.distance_m["car"] is day.distance_m["car"]
    assert _with_teams(day, day.teams) is day


def test_reinsertion_after_the_search_stops_at_its_deadline(day):
    """Past its deadline the finishing tries no more visits: they stay left out, the most
    important first."""
    from dispatch.optimise.solver import _insert_until, team_states

    states = team_states(day, {}, {})
    ids = [v.id for v in day.visits]
    left = _insert_until(day, states, ids, time.monotonic() - 1)
    assert sorted(left) == sorted(ids)
    assert all(not st.items for st in states.values())
    left = _insert_until(day, states, ids[:5], None)
    assert len(left) < 5


def test_a_break_taken_twice_by_a_team_alike_comes_back_once():
    """A search that could not become feasible may leave a team with the break of a team
    alike on top of its own: the routes read back hold each break once (the exact timing
    gives the other team its own)."""
    import numpy as np
    from pyvrp import Route as PyRoute
    from pyvrp import Solution

    times = np.abs(np.subtract.outer(np.arange(6), np.arange(6))) * 300
    teams = tuple(
        Team(
            id=tid,
            start_location=0,
            end_location=0,
            shift_start_s=8 * H,
            shift_end_s=17 * H,
            breaks=(Break(12 * H, 14 * H, 30 * 60),),
        )
        for tid in ("a", "b")
    )
    visits = tuple(Visit(id=f"v{i}", location=i, duration_s=600) for i in range(1, 6))
    problem = Problem(teams=teams, visits=visits, travel_time_s=times)
    enc = encode(problem, list(visits), list(teams), budget_bytes=1)
    breaks = sorted(enc.break_team)
    assert len(breaks) == 2 and enc.data.num_vehicle_types == 1  # alike: one vehicle type
    visit = next(iter(enc.visit_clients))
    solution = Solution(enc.data, [PyRoute(enc.data, [visit, *breaks], 0)])
    routes = decode(enc, solution)
    assert routes == {"a": [enc.visit_clients[visit].id, 0]}


class _SilentSearch:
    """A search process that never answers (a core taken by other work, at worst)."""

    def __init__(self) -> None:
        import multiprocessing as mp
        import threading
        import types

        self.conn, other = mp.Pipe()
        self.proc = types.SimpleNamespace(is_alive=lambda: True, exitcode=None)
        self.reused = False
        self.stopped = False

        def drain() -> None:
            try:
                while True:
                    other.recv_bytes()
            except (EOFError, OSError):
                pass

        threading.Thread(target=drain, daemon=True).start()

    def stop(self) -> None:
        self.stopped = True
        self.conn.close()


def test_a_search_late_past_its_deadline_is_not_waited_for(day, monkeypatch):
    """With two searches side by side (a budget of 2 s or more), the plan comes back on time
    from the one that answered; the late one is stopped (not kept for the next solve)."""
    from dispatch.optimise import solver

    silent = _SilentSearch()
    real = solver._take_searchers(1)[0]
    monkeypatch.setattr(solver, "_cores", lambda: 2)
    monkeypatch.setattr(solver, "_take_searchers", lambda n: [real, silent][:n])
    t = time.perf_counter()
    plan = solve(day, time_limit_s=2.0, searches=2)
    wall = time.perf_counter() - t
    assert plan.stats["searches"] == 2 and plan.stats["searches_answered"] == 1
    assert silent.stopped
    assert wall < 2.0 + solver.GRACE_S / 2  # not the give-up time
    assert check_plan(day, plan) == []
