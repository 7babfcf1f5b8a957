"""solve(): PyVRP in worker processes under a time budget, then exact re-timing and repair."""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import pickle
import resource
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from multiprocessing import connection as mp_connection
from multiprocessing.reduction import ForkingPickler
from typing import Any, Literal

from dispatch.errors import SolverError
from dispatch.optimise.insertion import (
    TeamState,
    best_break_positions,
    current_cost,
    importance,
    insert_all,
    insert_by_ejection,
    plan_from_states,
    states_from_plan,
)
from dispatch.optimise.model import Problem, Team, visit_worth_s
from dispatch.optimise.plan import Plan, Stop, Unassigned
from dispatch.optimise.reasons import explain, precheck
from dispatch.optimise.relocation import serve_by_relocation
from dispatch.optimise.schedule import Item, time_route

Progress = Callable[[dict[str, Any]], None]
#: A job sent to a search process: the arguments of :func:`_worker` after the pipe, the
#: seed apart and the others pickled once for every search (a 1,000-visit day's problem
#: and its finishing hold 16 MB of matrices).
_Job = tuple[bytes, int]
#: What those pickled bytes hold: every argument of :func:`_worker` after the pipe but the seed.
_Common = tuple[
    Problem,
    list[str],
    list[str],
    float,
    dict[str, list[Item]] | None,
    bool,
    bool,
    float | None,
    "Finishing | None",
]
#: What a search process sends back: its progress (any number of times), then its routes and
#: statistics, or the error that stopped it.
_Message = (
    tuple[Literal["progress"], dict[str, Any]]
    | tuple[Literal["done"], dict[str, list[Item]], dict[str, Any]]
    | tuple[Literal["error"], str]
)
#: Seconds the worker may overrun its budget (process start, model building) before it is killed.
GRACE_S = 30.0
_CTX: Any = None
#: Upper bound of PyVRP's adaptive penalties when visits carry prizes (its default, 1e5, lets a
#: prize outweigh a late arrival or a missing break).
MAX_PENALTY = 10_000_000.0
PENALTY_UPDATE_EVERY = 20
#: Late-acceptance history of the search on care days. PyVRP's default (300) suits runs of tens
#: of thousands of iterations; a 500-visit day with breaks gets about 100 to 150 per second, so
#: with 300 the search mostly accepts worse solutions in a short budget. Haute-Corse day,
#: 3 CPU-s, seeds 3-6: 10 serves 8 more visits on average than 300 (30 and 3 did no better
#: on seeds 0-1); at 10 CPU-s (seeds 3-5) the two are even. (With the smaller
#: perturbations below the search now does about 1,000 iterations per second there; 30 and
#: 100 did no better at 3 s either.)
CARE_DAY_HISTORY = 10
#: Share of a wall-clock budget kept for the work after the search, its upper bound, and
#: what it takes per visit. The chains of moves after the search use what the rest leaves:
#: Haute-Corse days 0-5 x 4 seeds, 3 s, 0.55 s kept: 474.4 visits served on average against
#: 473.4 with 0.35 s (paired runs); 0.75 s did no better.
FINISHING_SHARE = 0.25
FINISHING_MAX_S = 1.5
FINISHING_PER_VISIT_S = 0.0011
#: Seconds kept at the end of a wall budget for what follows the chains of moves: the last
#: tries of the visits left out in the routes that changed, the routes sent back by the
#: worker, the reasons and the plan (a 500-visit day: with 0.08 s, 3 s plans came back 2.60
#: to 3.00 s after the call; with this, 2.92-2.93 s over 8 runs).
REASONS_S = 0.12
#: Seconds past the finishing's deadline after which a search still working is not waited
#: for when another has answered (wall budgets of at least LATE_CUT_MIN_BUDGET_S): when the
#: budget is spent.
LATE_SEARCH_S = REASONS_S
#: Shorter budgets (a first plan, tests) wait for both searches: their plan does not depend
#: on which search a busy machine served first (with the cut, 0.3 s plans of a two-visit
#: day came back in either order of two equal routes under a load of 10).
LATE_CUT_MIN_BUDGET_S = 2.0
#: Teams tried for each visit reinserted after the search: those whose routes pass nearest.
FINISHING_TEAMS = 10
#: Most clients a perturbation of the search moves on care days. PyVRP's default (25) makes
#: each iteration's repair by local search long on a 500-visit day with breaks: with 8 the
#: search does four to five times as many iterations and the Haute-Corse day's
#: plans serve more: 30 s, seed 0: 462 visits (12 mandatory left out) against 451 (21);
#: 3 s, seeds 0-1: 448 and 445 against 443 and 448, fewer mandatory visits left out
#: (26-27 against 31-32). 3 to 5 did about as well, 60 worse.
CARE_DAY_MAX_PERTURBATIONS = 8
#: Penalties the search starts from on care days, per second late and per unit of load over
#: capacity. PyVRP starts halfway to the maximum (5 million here), where they take some 4 s of
#: a 500-visit day to come down to where they settle (time: 100 to 2,000 per second): a short
#: search never left the feasible region. Haute-Corse day, seeds 0-5: 3 s plans serve 444 to
#: 447 visits on average against 439, and a 10 s plan 461 against 452 (seed 0); starting
#: from 10, 30, 100 or 1,000 per second did about as well as 300.
CARE_DAY_TIME_WARP_PENALTY = 300.0
CARE_DAY_LOAD_PENALTY = 1000.0
#: On care days an exhaustive local search whose neighbour lists hold this many visits each
#: (the search itself keeps PyVRP's 50, which it runs faster) builds the search's start and
#: polishes its result: it finds room in routes that the short lists never pair with a visit
#: left out. Haute-Corse day, 3 s plans, days 0-5 with seeds +0, +10, +20 and +30 (24 runs):
#: 456.1 visits served on average against 453.5 (mandatory left out 24.0 against 25.8) when
#: it polished the start and the result; polishing the result alone did not help (+0.8 and
#: -0.9 in two sets of 12 runs), the polished start did. 100 neighbours did a little less;
#: 400 or every visit about as well, for twice the time or more. Building the start with it
#: from the teams' breaks alone, rather than polishing a first local search over the short
#: lists, takes the same 0.25 s and starts lower (16.2 million against 16.7 on average, 24
#: seeds): 96 runs of 3 s (days 0-5 x 16 seeds), 475.2 visits served against 474.7,
#: mandatory ones left out 13.1 against 15.4. Each pass on the result takes about 0.1 s.
POLISH_NEIGHBOURS = 200
#: Seconds of the search's budget kept for the last pass, per visit (the first is skipped
#: when the budget has no room for it).
POLISH_PER_VISIT_S = 0.0003
#: What building the start with the wide lists takes, per visit squared (it grows with the
#: visits and the routes: 0.25 s on a 500-visit, 40-team day, 0.8 to 1.2 s on a 1,000-visit,
#: 80-team one, four to five times a local search over the search's own lists): it is built
#: so when it takes at most half of what is left of the search's time, and with the search's
#: own lists otherwise. A 500-visit day's 3 s plan has the time (0.5 s, about the 0.45 s the
#: last pass's reserve asked before); a 1,000-visit day's does not (with it, the search never
#: started: 0 iterations).
WIDE_START_PER_VISIT2_S = 1.0e-6
#: The last pass takes at most this share of the time the first took (Haute-Corse days:
#: about 0.4 on 500 visits, 0.1 to 0.3 on 1,000); the search keeps that much when it is
#: more than the time per visit above.
POLISH_START_SHARE = 0.4
#: Most searches a care day runs side by side (one per core), keeping the best result. Each
#: search's working set now fits the cache well enough that two do not slow each other:
#: Haute-Corse days 0-5, 3 s, 24 runs: 458.0 visits served by the better of two (by the
#: solver's objective) against 456.8 by one.
MAX_SEARCHES = 2
#: A CPU-second budget may take this many wall seconds on a crowded machine before the
#: worker is given up on.
CPU_BUDGET_WALL_FACTOR = 40
#: Search processes are kept between solves (at most one per core) with the memory they
#: had: the next model's tables are copied into pages the process already has rather than
#: fresh ones (Haute-Corse day: the model built in 0.055 s instead of 0.18 to 0.20 s) and no
#: process is started. One holding more than this many megabytes after a solve gives the
#: free part back to the system.
KEEP_MEMORY_MB = 1024


def _context() -> Any:
    global _CTX
    if _CTX is None:
        try:
            _CTX = mp.get_context("forkserver")
            _CTX.set_forkserver_preload(["dispatch.optimise.solver", "pyvrp"])
        except ValueError:  # pragma: no cover - platforms without forkserver
            _CTX = mp.get_context("spawn")
    return _CTX


class _ReportingStop:
    """PyVRP stopping criterion: the time budget, reporting the best cost as it goes.

    The budget ends at ``end`` on ``clock``: ``time.monotonic`` for wall budgets (users wait
    on them; the initial local search counts) or ``time.process_time`` for CPU budgets
    (benchmarks on a busy machine). ``t0`` (``time.perf_counter``) is the solve's start, from
    which the reported times are counted.
    """

    def __init__(
        self,
        conn: mp_connection.Connection[_Message, _Job],
        end: float,
        clock: Callable[[], float],
        t0: float,
        every_s: float = 0.25,
    ) -> None:
        self.conn, self.end, self.clock, self.t0, self.every_s = conn, end, clock, t0, every_s
        self.last = 0.0
        self.first_feasible_s: float | None = None
        self.iterations = 0

    def __call__(self, best_cost: float) -> bool:
        now = time.perf_counter()
        elapsed = now - self.t0
        self.iterations += 1
        feasible = best_cost < 2**62
        if feasible and self.first_feasible_s is None:
            self.first_feasible_s = elapsed
        if now - self.last >= self.every_s:
            self.last = now
            self.conn.send(
                (
                    "progress",
                    {
                        "elapsed_s": round(elapsed, 2),
                        "best_cost": int(best_cost) if feasible else None,
                        "feasible": feasible,
                        "iterations": self.iterations,
                    },
                )
            )
        return self.clock() >= self.end


def _worker(
    conn: mp_connection.Connection[_Message, _Job],
    problem: Problem,
    visit_ids: list[str],
    team_ids: list[str],
    time_limit_s: float,
    seed: int,
    warm: dict[str, list[Item]] | None,
    all_required: bool,
    cpu_time: bool = False,
    deadline: float | None = None,
    finishing: Finishing | None = None,
) -> None:
    try:
        import pyvrp

        from dispatch.optimise.pyvrp_model import decode, encode, warm_start

        t0 = time.perf_counter()
        wall0, cpu0 = time.monotonic(), time.process_time()
        by_id = problem.visits_by_id()
        visits = [by_id[v] for v in visit_ids]
        teams = [problem.team(t) for t in team_ids]
        enc = encode(problem, visits, teams, all_required=all_required)
        build_s = time.perf_counter() - t0
        marks = {"received": wall0, "built": time.monotonic()}
        init = warm_start(enc, warm) if warm else None
        # The budget covers the model, the first local search and the last one (care days);
        # a wall budget ends at the caller's deadline when given (process start included).
        polish = not all_required
        reserve_s = POLISH_PER_VISIT_S * len(visit_ids) if polish else 0.0
        if cpu_time:
            stop = _ReportingStop(conn, cpu0 + time_limit_s - reserve_s, time.process_time, t0)
        else:
            end = deadline if deadline is not None else wall0 + time_limit_s
            stop = _ReportingStop(conn, end - reserve_s, time.monotonic, t0)
        params, penalties = (
            (pyvrp.SolveParams(), None) if all_required else care_day_params(enc.data)
        )
        best, iterations, polish_stats = _run_ils(
            enc,
            problem,
            stop,
            seed=seed,
            params=params,
            initial=init,
            penalties=penalties,
            polish_neighbours=POLISH_NEIGHBOURS if polish else None,
            polish_s=reserve_s,
        )
        marks |= polish_stats.pop("marks", {})
        stats = {
            "solver_s": round(time.perf_counter() - t0, 3),
            "build_s": round(build_s, 3),
            "profiles": enc.data.num_profiles,
            "iterations": iterations,
            "solver_feasible": bool(best.is_feasible()),
            "solver_cost": int(best.distance_cost()) if best.is_feasible() else None,
            "solver_objective": int(best.distance_cost() + best.uncollected_prizes())
            if best.is_feasible()
            else None,
            "first_feasible_s": None
            if stop.first_feasible_s is None
            else round(stop.first_feasible_s, 3),
            **polish_stats,
        }
        routes = decode(enc, best)
        del enc, best, init
        if finishing is not None:
            routes, more = finishing.run(routes)
            stats |= more
        marks["finished"] = time.monotonic()
        # CPU seconds this process spent on the job: on a busy machine the wall time is
        # several times as much.
        stats["cpu_s"] = round(time.process_time() - cpu0, 3)
        # Peak memory of this process (kilobytes on Linux), and when each step ended
        # (``time.monotonic``: solve turns them into seconds from its start).
        stats["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        stats["marks"] = marks
        conn.send(("done", routes, stats))
    except Exception as exc:  # the parent turns it into a SolverError
        conn.send(("error", f"{type(exc).__name__}: {exc}"))


def _serve(conn: mp_connection.Connection[_Message, _Job]) -> None:
    """A search process: run each job the parent sends (the arguments of :func:`_worker`
    after the pipe) until the pipe closes, keeping its memory from one to the next."""
    os.set_blocking(conn.fileno(), True)
    libc = _libc()
    if libc is not None:
        # Large blocks come from the heap and stay there once freed (glibc would otherwise
        # map each table afresh and give it back after the solve).
        libc.mallopt(_M_MMAP_THRESHOLD, 32 * 2**20)
        libc.mallopt(_M_TRIM_THRESHOLD, KEEP_MEMORY_MB * 2**20)
    while True:
        try:
            common, seed = conn.recv()
        except (EOFError, OSError):
            return
        problem, visit_ids, team_ids, limit_s, warm, required, cpu, deadline, fin = pickle.loads(
            common
        )
        del common
        _worker(
            conn, problem, visit_ids, team_ids, limit_s, seed, warm, required, cpu, deadline, fin
        )
        del problem, warm, fin
        if libc is not None and _rss_mb() > KEEP_MEMORY_MB:
            libc.malloc_trim(0)


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def _libc() -> Any:
    """glibc, to tune its allocator (None elsewhere)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 - both exist in glibc only
    except (OSError, AttributeError):
        return None
    return libc


def _rss_mb() -> float:
    """The process's resident memory in megabytes (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


class _Searcher:
    """A search process (running :func:`_serve`) and the parent's end of its pipe."""

    def __init__(self, ctx: Any) -> None:
        self.conn: mp_connection.Connection[_Job, _Message]
        child: mp_connection.Connection[_Message, _Job]
        self.conn, child = ctx.Pipe(duplex=True)
        # Under gevent's monkey-patching the pipe's sockets are non-blocking, and a large job
        # fails half-sent (BlockingIOError). Both ends block; the parent only reads after
        # ``poll`` (cooperative under gevent) says a message is there.
        for end in (self.conn, child):
            os.set_blocking(end.fileno(), True)
        self.proc = ctx.Process(target=_serve, args=(child,), daemon=True)
        self.proc.start()
        child.close()
        self.reused = False

    def stop(self) -> None:
        self.conn.close()
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(timeout=2)


_IDLE: list[_Searcher] = []
_IDLE_LOCK = threading.Lock()


def _take_searchers(n: int) -> list[_Searcher]:
    """``n`` search processes: idle ones kept from earlier solves first, then new ones."""
    taken: list[_Searcher] = []
    with _IDLE_LOCK:
        while _IDLE and len(taken) < n:
            searcher = _IDLE.pop()
            if searcher.proc.is_alive():
                searcher.reused = True
                taken.append(searcher)
            else:
                searcher.stop()
    ctx = _context()
    taken += [_Searcher(ctx) for _ in range(n - len(taken))]
    return taken


def _give_back(searcher: _Searcher) -> None:
    """Keep a search process that answered its last job for the next solve (one per core at
    most), or stop it."""
    with _IDLE_LOCK:
        if searcher.proc.is_alive() and len(_IDLE) < _cores():
            _IDLE.append(searcher)
            return
    searcher.stop()


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - platforms without sched_getaffinity
        return os.cpu_count() or 1


def care_day_params(data: Any) -> tuple[Any, tuple[list[float], float, float]]:
    """PyVRP's parameters for a care day, and the penalties its search starts from (load,
    time, distance; care days set no distance limit, so that penalty never applies)."""
    import pyvrp
    import pyvrp.search

    params = pyvrp.SolveParams(
        # Large days get few iterations in a short budget: let the penalties adapt quickly.
        penalty=pyvrp.PenaltyParams(
            max_penalty=MAX_PENALTY, solutions_between_updates=PENALTY_UPDATE_EVERY
        ),
        ils=pyvrp.IteratedLocalSearchParams(history_length=CARE_DAY_HISTORY),
        perturbation=pyvrp.search.PerturbationParams(1, CARE_DAY_MAX_PERTURBATIONS),
    )
    penalties = (
        [CARE_DAY_LOAD_PENALTY] * data.num_load_dimensions,
        CARE_DAY_TIME_WARP_PENALTY,
        CARE_DAY_TIME_WARP_PENALTY,
    )
    return params, penalties


def _run_ils(
    enc: Any,
    problem: Problem,
    stop: Any,
    *,
    seed: int,
    params: Any,
    initial: Any,
    penalties: tuple[list[float], float, float] | None = None,
    polish_neighbours: int | None = None,
    polish_s: float = 0.0,
) -> tuple[Any, int, dict[str, Any]]:
    """pyvrp.solve, with neighbour lists that know where each team's breaks belong, starting
    from ``penalties`` (load, time, distance) when given. With ``polish_neighbours``, an
    exhaustive local search over that many neighbours per visit builds the start (or
    polishes ``initial``) when ``stop``, a :class:`_ReportingStop`, leaves more than three
    times ``polish_s``, and polishes the result. Returns the best solution, the number of
    iterations and the polishing's statistics."""
    from pyvrp import RandomNumberGenerator, Solution
    from pyvrp.IteratedLocalSearch import IteratedLocalSearch
    from pyvrp.PenaltyManager import PenaltyManager
    from pyvrp.search import (
        LocalSearch,
        NeighbourhoodParams,
        PerturbationManager,
    )

    from dispatch.optimise.pyvrp_model import break_neighbours, break_routes
    from dispatch.optimise.pyvrp_model import neighbours as neighbours_of

    def local_search(near: dict) -> Any:
        ls = LocalSearch(data, rng, near, PerturbationManager(params.perturbation))
        for op in params.operators:
            if op.supports(data):
                ls.add_operator(op(data))
        return ls

    data = enc.data
    rng = RandomNumberGenerator(seed=seed)
    nbp = params.neighbourhood
    wide = None
    n_visits = len(enc.visit_clients)
    # The wide lists give the search a better start when the budget leaves time for them
    # (it is checked again once the lists are made).
    wide_start_s = max(3 * polish_s, 2 * WIDE_START_PER_VISIT2_S * n_visits**2)
    # A day whose wide pass fits the time kept for the last pass (up to about 900 visits)
    # always ends with one, as a short budget's plan needs it (busy machine, 500-visit day,
    # 3 s: 401 and 414 visits served without it against 444 to 453 with it); a larger one
    # only after a start built with the wide lists (from a short-lists start the pass takes
    # as long as that start: a 1,000-visit day's 3 s plan came back 1 s late).
    small_pass = WIDE_START_PER_VISIT2_S * n_visits**2 <= 3 * polish_s
    if (
        polish_neighbours is not None
        and polish_neighbours > nbp.num_neighbours
        and (small_pass or stop.clock() + wide_start_s < stop.end)
    ):
        wide = neighbours_of(
            enc,
            NeighbourhoodParams(nbp.weight_wait_time, polish_neighbours, nbp.symmetric_proximity),
        )
        # Each list is ordered by proximity: the search's lists are the first entries.
        neighbours = {act: list(near)[: nbp.num_neighbours] for act, near in wide.items()}
    else:
        neighbours = neighbours_of(enc, nbp)
    if enc.break_team:
        break_neighbours(enc, problem, [neighbours] if wide is None else [neighbours, wide])
    ls = local_search(neighbours)
    pm = PenaltyManager(penalties or params.penalty.midpoint_penalties(data), params.penalty)
    wide_ls = local_search(wide) if wide is not None else None
    # The start with the wide lists is built at the starting penalties (it may be a little
    # late somewhere, which the search then mends).
    roomy = wide_ls is not None and stop.clock() + wide_start_s < stop.end
    polished: dict[str, Any] = {}
    init, fallback = initial, None
    t = time.perf_counter()
    if init is None:
        if enc.break_team:
            # Start with every team holding only its own breaks: a random start scatters the
            # breaks over the wrong teams and the search spends its budget moving them back.
            start = Solution(data, break_routes(enc))
        else:
            start = Solution.make_random(data, rng)
        if roomy:
            assert wide_ls is not None  # roomy needs the wide lists
            # Built with the wide lists from the start rather than polished after a first
            # local search: each visit then meets the routes with room for it first.
            init = wide_ls(start, pm.cost_evaluator(), exhaustive=True)
            polished["start_s"] = round(time.perf_counter() - t, 3)
        else:
            init = ls(start, pm.max_cost_evaluator(), exhaustive=True)
    elif roomy:
        assert wide_ls is not None  # roomy needs the wide lists
        fallback = init if init.is_feasible() else None
        init = wide_ls(init, pm.cost_evaluator(), exhaustive=True)
        polished["start_s"] = round(time.perf_counter() - t, 3)
    # The last pass takes up to POLISH_START_SHARE of what building the start took: the
    # search ends early enough for it (a 1,000-visit day's start takes about 1 s, more
    # than its share per visit). Without a start built with the wide lists, a large day's
    # pass would be as long as that building: there is no time for it (see small_pass).
    polish_end = stop.end + polish_s
    if roomy:
        stop.end = min(stop.end, polish_end - POLISH_START_SHARE * (time.perf_counter() - t))
    elif not small_pass:
        stop.end = polish_end  # no last pass: the search has its time
    if init.is_feasible():
        fallback = init
    marks = {"started": time.monotonic()}
    result = IteratedLocalSearch(data, pm, ls, init, params.ils).run(stop, False, False)
    marks["searched"] = time.monotonic()
    best = result.best
    if not best.is_feasible():
        # A search too short to mend a start that is late somewhere keeps the feasible start
        # it had, or takes what it can out of its best at the highest penalties (the exact
        # timing's repair then takes out whatever is still late).
        best = fallback if fallback is not None else ls(best, pm.max_cost_evaluator(), True)
    if wide_ls is not None and (
        small_pass or (roomy and stop.clock() < stop.end + (polish_end - stop.end) / 2)
    ):
        t = time.perf_counter()
        cost = pm.cost_evaluator()
        cand = wide_ls(best, cost, exhaustive=True)
        gain: int | None = 0
        if cand.is_feasible() and cost.cost(cand) < cost.cost(best):
            gain = int(cost.cost(best) - cost.cost(cand)) if best.is_feasible() else None
            best = cand
        polished |= {"polish_s": round(time.perf_counter() - t, 3), "polish_gain": gain}
    elif polish_neighbours is not None:
        polished |= {"polish_s": 0.0, "polish_gain": 0, "polish_skipped": True}
    marks["polished"] = time.monotonic()
    return best, result.num_iterations, polished | {"marks": marks}


def parallel_searches(*, all_required: bool, cpu_time: bool, wanted: int | None = None) -> int:
    """How many searches a care day runs side by side: ``wanted`` (default
    :data:`MAX_SEARCHES`), at most one per core. Benchmarks (every customer required, or
    CPU-second budgets) run one.
    """
    if all_required or cpu_time:
        return 1
    return max(1, min(MAX_SEARCHES if wanted is None else wanted, _cores()))


def _better(stats: dict[str, Any], than: dict[str, Any]) -> bool:
    """Whether a search's result beats another's: by the objective of the finished plans when
    both were finished, else feasible first, then the solver's objective."""
    if "plan_objective" in stats and "plan_objective" in than:
        return stats["plan_objective"] < than["plan_objective"]
    a, b = stats.get("solver_objective"), than.get("solver_objective")
    if a is None:
        return False
    return b is None or a < b


def run_worker(
    problem: Problem,
    visit_ids: list[str],
    team_ids: list[str],
    *,
    time_limit_s: float,
    seed: int = 0,
    warm: dict[str, list[Item]] | None = None,
    all_required: bool = False,
    progress: Progress | None = None,
    cpu_time: bool = False,
    deadline: float | None = None,
    searches: int = 1,
    finishing: Finishing | None = None,
) -> tuple[dict[str, list[Item]], dict[str, Any]]:
    """Run PyVRP in other processes (it holds the GIL) and return the best routes found and
    their statistics.

    ``searches`` processes search side by side from seeds ``seed * searches``,
    ``seed * searches + 1``... (runs with different seeds share none); the best result wins
    (``stats["search_objectives"]`` lists each one's, ``stats["iterations"]`` is their sum).
    ``deadline`` (``time.monotonic()``, shared by the processes of a machine) ends a
    wall-clock search at that instant rather than ``time_limit_s`` after the model is built.
    With ``finishing`` each process also finishes its routes (``stats["finished"]``; the
    routes are then every team's, and the best finished plan wins).
    """
    searchers = _take_searchers(searches)
    common: _Common = (
        problem,
        visit_ids,
        team_ids,
        time_limit_s,
        warm,
        all_required,
        cpu_time,
        deadline,
        finishing,
    )
    pickled = bytes(ForkingPickler.dumps(common))
    for k in range(searches):
        job: _Job = (pickled, seed * searches + k)
        try:
            searchers[k].conn.send(job)
        except OSError:  # it stopped while idle: another one takes the job
            searchers[k].stop()
            searchers[k] = _Searcher(_context())
            searchers[k].conn.send(job)
    pipes = [sr.conn for sr in searchers]
    reused = sum(sr.reused for sr in searchers)
    # A CPU budget on a busy machine can take several times as long on the wall clock.
    give_up = (
        time.monotonic() + time_limit_s * (CPU_BUDGET_WALL_FACTOR if cpu_time else 1) + GRACE_S
    )
    # On a wall budget, once one search has answered, another still finishing its plan when
    # the budget is spent is not waited for: the coordinator gets the plan in time (a
    # core taken by other work slows one search, not the answer).
    late_after = (
        finishing.finish_by + LATE_SEARCH_S
        if finishing is not None
        and finishing.finish_by is not None
        and not cpu_time
        and time_limit_s >= LATE_CUT_MIN_BUDGET_S
        else None
    )
    results: dict[int, tuple[dict[str, list[Item]], dict[str, Any]]] = {}
    answered: set[int] = set()  # the searches whose last message came (result or error)
    latest: dict[int, dict[str, Any]] = {}
    try:
        while len(results) < searches:
            now = time.monotonic()
            remaining = give_up - now
            if remaining <= 0:
                raise SolverError(
                    f"the solver did not answer within {time_limit_s + GRACE_S:.0f} s: try a smaller day or a shorter budget"
                )
            wait_s = min(remaining, 0.5)
            if results and late_after is not None:
                if now >= late_after:
                    break  # the late search is stopped below
                wait_s = min(wait_s, late_after - now)
            waiting = [pipes[k] for k in range(searches) if k not in results]
            ready = mp_connection.wait(waiting, timeout=wait_s)
            if not ready:
                for k, sr in enumerate(searchers):
                    if k not in results and not sr.proc.is_alive() and not pipes[k].poll(0):
                        raise SolverError(
                            f"the solver process stopped unexpectedly (exit code {sr.proc.exitcode})"
                        )
                continue
            for conn in ready:
                k = next(i for i, pipe in enumerate(pipes) if pipe is conn)
                try:
                    message = pipes[k].recv()
                except (EOFError, OSError):
                    raise SolverError("the solver process stopped before answering") from None
                if message[0] == "progress":
                    latest[k] = message[1]
                    if progress is not None:
                        progress(_merged_progress(latest))
                    continue
                answered.add(k)
                if message[0] == "done":
                    results[k] = (message[1], message[2])
                else:
                    raise SolverError(f"the solver failed: {message[1]}")
    finally:
        # A process still searching would answer the next solve with this one's messages.
        for k, sr in enumerate(searchers):
            if k in answered:
                _give_back(sr)
            else:
                sr.stop()
    done = sorted(results)
    best = done[0]
    for k in done[1:]:
        if _better(results[k][1], results[best][1]):
            best = k
    routes, stats = results[best]
    stats = {**stats, "reused_searches": reused}
    if searches > 1:
        got = [results[k][1] if k in results else {} for k in range(searches)]
        stats = {
            **stats,
            "searches": searches,
            "searches_answered": len(done),
            "search_objectives": [r.get("solver_objective") for r in got],
            "plan_objectives": [r.get("plan_objective") for r in got],
            "peak_rss_mb": max(r.get("peak_rss_mb", 0) for r in got),
            "iterations": sum(r.get("iterations", 0) for r in got),
        }
    return routes, stats


def _merged_progress(latest: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """One progress report out of the latest of each search: the best cost among them."""
    costs = [p["best_cost"] for p in latest.values() if p.get("best_cost") is not None]
    return {
        "elapsed_s": max(p["elapsed_s"] for p in latest.values()),
        "best_cost": min(costs) if costs else None,
        "feasible": bool(costs),
        "iterations": sum(p.get("iterations", 0) for p in latest.values()),
    }


def finishing_s(time_limit_s: float, n_visits: int) -> float:
    """Seconds of a wall budget kept for the exact timing, repairs, reinsertions and chains of
    moves after the search (0.55 s on a 500-visit day, a few hundredths on a 60-visit one;
    the exchanges and the chains stop at the end of the budget)."""
    return min(FINISHING_MAX_S, FINISHING_SHARE * time_limit_s, FINISHING_PER_VISIT_S * n_visits)


@dataclass(frozen=True)
class Finishing:
    """The work after a search, as :func:`solve` does it, for a worker to do on its own
    routes (the searches side by side then each finish theirs, and the best plan wins).

    ``taken`` shifts the solver's break indices back past the breaks already taken;
    ``finish_by`` (``time.monotonic()``) ends the exchanges and chains on a wall budget;
    on a CPU budget (None) the chains get ``chains_s`` seconds.
    """

    problem: Problem
    prefixes: dict[str, tuple[Stop, ...]]
    taken: dict[str, int]
    candidates: tuple[str, ...]
    finish_by: float | None
    chains_s: float

    def run(self, routes: dict[str, list[Item]]) -> tuple[dict[str, list[Item]], dict[str, Any]]:
        """The finished routes (every team's items) and the statistics of the finishing,
        with the visits left out (``left``) and the plan's objective (``plan_objective``)."""
        t = time.perf_counter()
        shifted = {
            tid: [i + self.taken.get(tid, 0) if isinstance(i, int) else i for i in items]
            for tid, items in routes.items()
        }
        states, left, stats = finish(
            self.problem,
            shifted,
            self.prefixes,
            list(self.candidates),
            finish_by=self.finish_by,
            chains_by=self.finish_by
            if self.finish_by is not None
            else time.monotonic() + self.chains_s,
        )
        stats |= {
            "finished": True,
            "left": left,
            "plan_objective": plan_objective(self.problem, states, left),
            "finishing_s": round(time.perf_counter() - t, 3),
        }
        return {tid: st.items for tid, st in states.items()}, stats


def plan_objective(problem: Problem, states: dict[str, TeamState], left: list[str]) -> int:
    """What the solver minimises, for a finished plan: the routes' costs (travel, continuity,
    skills) and what the visits left out are worth."""
    by_id = problem.visits_by_id()
    return sum(current_cost(st) for st in states.values()) + sum(
        visit_worth_s(by_id[v]) for v in left
    )


def team_states(
    problem: Problem, prefixes: dict[str, tuple[Stop, ...]], routes: dict[str, list[Item]]
) -> dict[str, TeamState]:
    """Every team's state: its started stops, then its items in ``routes`` (none if it is
    not available), timed exactly."""
    states: dict[str, TeamState] = {}
    for team in problem.teams:
        items = list(routes.get(team.id, [])) if team.available else []
        prefix = prefixes.get(team.id, ())
        states[team.id] = TeamState(
            team, prefix, items, time_route(problem, team, items, prefix=prefix)
        )
    return states


def finish(
    problem: Problem,
    routes: dict[str, list[Item]],
    prefixes: dict[str, tuple[Stop, ...]],
    candidates: list[str],
    *,
    finish_by: float | None,
    chains_by: float | None,
) -> tuple[dict[str, TeamState], list[str], dict[str, Any]]:
    """Time the search's ``routes`` exactly, repair them, and bring in what they leave out of
    ``candidates``: reinsertions, exchanges with optional visits (until ``finish_by``) and
    chains of moves (until ``chains_by``). Returns the teams' states, the visits still left
    out and statistics."""
    states = team_states(problem, prefixes, routes)
    ejected = repair(problem, states)
    served = {i for st in states.values() for i in st.items if isinstance(i, str)}
    # Visits the repair took out get another chance elsewhere, and so do those the solver
    # left out: its model of breaks is approximate, so the exact routes often have room left
    # (a few visits on a full day, for a few tenths of a second).
    dropped = [v for v in candidates if v not in served and v not in ejected]
    left = _insert_until(problem, states, ejected + dropped, finish_by)
    left, swapped = make_room(problem, states, left, deadline=finish_by)
    left, relocated = serve_by_relocation(problem, states, left, deadline=chains_by)
    return (
        states,
        left,
        {
            "repaired": len(ejected),
            "swapped_in": swapped,
            "relocated_in": relocated,
            "reinserted": len(ejected) + len(dropped) - len(left),
        },
    )


def _insert_until(
    problem: Problem, states: dict[str, TeamState], visit_ids: list[str], deadline: float | None
) -> list[str]:
    """:func:`insert_all` over the nearest teams, most important visits first, until
    ``deadline`` (``time.monotonic()``); returns the visits left out (those not tried too).
    A 1,000-visit day's search leaves a hundred or so out, too many to try them all in a
    3 s budget on a busy machine."""
    by_id = problem.visits_by_id()
    order = sorted(visit_ids, key=lambda v: importance(by_id[v]))
    left: list[str] = []
    for n, vid in enumerate(order):
        if deadline is not None and time.monotonic() >= deadline:
            return left + order[n:]
        left += insert_all(problem, states, [vid], max_teams=FINISHING_TEAMS)
    return left


def repair(problem: Problem, states: dict[str, TeamState]) -> list[str]:
    """Make every route feasible under exact timing; returns the visits taken out."""
    ejected: list[str] = []
    by_id = problem.visits_by_id()
    for st in states.values():
        if not any(isinstance(i, str) for i in st.items):
            st.items = []
            st.timing = time_route(problem, st.team, [], prefix=st.prefix)
            continue
        items, timing = best_break_positions(problem, st, st.items)
        while not timing.feasible:
            visits = [i for i in items if isinstance(i, str)]
            if not visits:
                break
            victim = timing.late_visit_id if timing.late_visit_id in visits else None
            if victim is None:
                victim = min(visits, key=lambda v: (by_id[v].mandatory, by_id[v].priority))
            items = [i for i in items if i != victim]
            ejected.append(victim)
            if not any(isinstance(i, str) for i in items):
                items = []
            items, timing = (
                best_break_positions(problem, st, items)
                if items
                else (items, time_route(problem, st.team, [], prefix=st.prefix))
            )
        st.items, st.timing = items, timing
    return ejected


def make_room(
    problem: Problem,
    states: dict[str, TeamState],
    left: list[str],
    *,
    deadline: float | None = None,
) -> tuple[list[str], int]:
    """Serve the mandatory visits left out in place of optional ones where an exchange fits.

    A short search often leaves a mandatory visit out while a nearby route serves an optional
    one; the exchange is cheap to find and always worth it. Returns the visits still left out
    and the number of mandatory visits brought in (those tried before ``deadline``).
    """
    by_id = problem.visits_by_id()
    left = list(left)
    brought = 0
    for vid in sorted((v for v in left if by_id[v].mandatory), key=lambda v: importance(by_id[v])):
        if deadline is not None and time.monotonic() >= deadline:
            break
        out = insert_by_ejection(problem, states, by_id[vid])
        if out is None:
            continue
        brought += 1
        left.remove(vid)
        left += insert_all(problem, states, [out], max_teams=FINISHING_TEAMS)
    return left, brought


def unassigned_reasons(
    problem: Problem,
    states: dict[str, TeamState],
    visit_ids: list[str],
    lost_team: str | None = None,
) -> list[Unassigned]:
    n_visits = {tid: st.n_visits for tid, st in states.items()}
    by_id = problem.visits_by_id()
    load = {
        tid: sum(by_id[i].load for i in st.items if isinstance(i, str))
        for tid, st in states.items()
    }
    return [
        explain(problem, by_id[v], n_visits=n_visits, load=load, lost_team=lost_team)
        for v in visit_ids
    ]


def fixed_prefixes(problem: Problem, current: Plan | None) -> dict[str, tuple[Stop, ...]]:
    """Started/done stops per team, taken from the current plan (they never move)."""
    out: dict[str, tuple[Stop, ...]] = {}
    for team in problem.teams:
        if not team.fixed_visit_ids:
            continue
        route = current.route(team.id) if current is not None else None
        if route is None:
            # No record of when they were done: time them from the start of the shift.
            t = time_route(
                problem,
                replace(team, available_location=None, available_from_s=None),
                list(team.fixed_visit_ids),
            )
            out[team.id] = tuple(replace(s, status="done") for s in t.stops if s.kind == "visit")
            continue
        fixed = set(team.fixed_visit_ids)
        prefix = []
        for s in route.stops:
            if (s.visit_id in fixed) or (s.kind == "break" and s.status in ("started", "done")):
                prefix.append(s if s.status != "planned" else replace(s, status="started"))
            else:
                break
        out[team.id] = tuple(prefix)
    return out


def _with_teams(problem: Problem, teams: tuple[Team, ...]) -> Problem:
    """``problem`` with ``teams``, holding the same matrices (the search processes are sent
    the two, and Problem's constructor copies its matrices: 32 MB instead of 16 on a
    1,000-visit day)."""
    if len(teams) == len(problem.teams) and all(
        a is b for a, b in zip(teams, problem.teams, strict=True)
    ):
        return problem
    out = problem.with_changes(teams=teams)
    object.__setattr__(out, "travel_time_s", problem.travel_time_s)
    object.__setattr__(out, "distance_m", problem.distance_m)
    return out


def solve(
    problem: Problem,
    *,
    time_limit_s: float,
    seed: int = 0,
    progress: Progress | None = None,
    current: Plan | None = None,
    all_required: bool = False,
    cpu_time: bool = False,
    searches: int | None = None,
) -> Plan:
    """Assign and order the day's visits for ``problem``'s teams within ``time_limit_s`` seconds.

    Visits that no team could ever serve are set aside with their reason first; PyVRP (in a
    worker process) routes the rest; every route is then re-timed exactly (breaks on the road),
    repaired if needed, and the visits left out get a reason. ``current`` (a live plan) keeps
    started visits in place and warm-starts the search. ``all_required`` forces every visit in
    (benchmarks). The budget is wall seconds from the call to the plan, the search ending
    early enough for the exact timing and repairs; ``cpu_time`` counts it instead in CPU
    seconds of the solver process (fair benchmarks on a shared machine). ``searches`` caps the
    searches run side by side (see :func:`parallel_searches`). ``progress`` receives
    dicts ``{"elapsed_s", "best_cost", "feasible", "iterations"}`` while the solver runs.
    """
    if any(v.staff_count > 1 for v in problem.visits):  # two-person visits: see sync.py
        from dispatch.optimise.sync import solve_synchronised  # (it solves one-person copies)

        return solve_synchronised(
            problem, time_limit_s=time_limit_s, seed=seed, progress=progress, current=current,
            all_required=all_required, cpu_time=cpu_time, searches=searches,
        )  # fmt: skip
    if time_limit_s <= 0:
        raise SolverError("time_limit_s must be more than 0 s")
    t0 = time.perf_counter()
    t_wall = time.monotonic()
    prefixes = fixed_prefixes(problem, current)
    fixed = {vid for t in problem.teams for vid in t.fixed_visit_ids}
    unassigned: list[Unassigned] = []
    candidates: list[str] = []
    for v in problem.visits:
        if v.id in fixed:
            continue
        reason = precheck(problem, v)
        if reason is not None:
            unassigned.append(reason)
        else:
            candidates.append(v.id)
    # The solver routes what is left: from where the started part ends, with the breaks not
    # yet taken (their indices shifted back afterwards).
    taken = {tid: sum(1 for s in pre if s.kind == "break") for tid, pre in prefixes.items()}
    solver_teams = []
    for t in problem.teams:
        pre = prefixes.get(t.id, ())
        if pre:
            t = replace(
                t,
                breaks=t.breaks[taken[t.id] :],
                available_location=t.available_location
                if t.available_location is not None
                else pre[-1].location,
                available_from_s=max(pre[-1].departure_s, t.available_from_s or 0),
            )
        solver_teams.append(t)
    # A team that is free only once its shift is over (its started part ends late) takes
    # nothing more; PyVRP refuses a vehicle that starts after its own end.
    teams = [
        t
        for t in solver_teams
        if t.available and (t.available_from_s or t.shift_start_s) < t.shift_end_s
    ]
    solver_problem = _with_teams(problem, tuple(solver_teams))
    warm = None
    if current is not None:
        keep = set(candidates)
        cur_states = states_from_plan(problem, current)
        warm = {
            tid: [
                i - taken.get(tid, 0) if isinstance(i, int) else i
                for i in st.items
                if (isinstance(i, int) and i >= taken.get(tid, 0)) or i in keep
            ]
            for tid, st in cur_states.items()
        }
    routes: dict[str, list[Item]] = {}
    stats: dict[str, Any] = {}
    after_search_s = finishing_s(time_limit_s, len(candidates))
    # On a wall budget the exchanges and chains after the search stop in time for the
    # reasons and the plan (every visit left out has been tried in the routes as they
    # stand: its reason holds); on a CPU budget the chains get the time a wall budget keeps.
    # The reasons' share is at most half the finishing's, so that a small day's search
    # (whose finishing is a few hundredths of a second) still leaves time to bring its
    # left-out visits back in.
    reasons_s = min(REASONS_S, after_search_s / 2)
    finishing = Finishing(
        problem,
        prefixes,
        taken,
        tuple(candidates),
        finish_by=None if cpu_time else t_wall + time_limit_s - reasons_s,
        chains_s=after_search_s,
    )
    if candidates and teams:
        routes, stats = run_worker(
            solver_problem,
            candidates,
            [t.id for t in teams],
            time_limit_s=time_limit_s,
            seed=seed,
            warm=warm,
            all_required=all_required,
            progress=progress,
            cpu_time=cpu_time,
            deadline=None if cpu_time else t_wall + time_limit_s - after_search_s,
            searches=parallel_searches(
                all_required=all_required, cpu_time=cpu_time, wanted=searches
            ),
            finishing=finishing,
        )
    if not stats.get("finished"):
        # Nothing searched (or routes from elsewhere): finish here.
        routes, more = finishing.run(routes)
        stats |= more
    # The plan of the search that finished best (each finished its own, side by side).
    left = stats.pop("left")
    stats.pop("finished")
    marks = stats.pop("marks", {})
    marks["returned"] = time.monotonic()
    states = team_states(problem, prefixes, routes)
    unassigned += unassigned_reasons(problem, states, left)
    marks["planned"] = time.monotonic()
    # Where the time went: when each step of the winning search ended, from the call.
    stats["timeline_s"] = {k: round(at - t_wall, 3) for k, at in marks.items()}
    stats["time_s"] = round(time.perf_counter() - t0, 3)
    return plan_from_states(problem, states, unassigned, stats)
