"""Translate a Problem into PyVRP data (skills, locks, breaks, continuity) and read routes back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pyvrp import Client, ClientGroup, Depot, Location, ProblemData, Solution, VehicleType
from pyvrp import Route as PyRoute

from dispatch.optimise.model import (
    UNREACHABLE_S,
    Problem,
    Team,
    Visit,
    can_serve,
    overqualified_cost,
    visit_worth_s,
)

#: Cost of an edge a team may not use (a skill it lacks, a visit locked to another team).
FORBIDDEN = 10**8
UNLIMITED = 10**9


@dataclass
class Encoded:
    """PyVRP data plus the maps back to our ids."""

    data: ProblemData
    client_item: list[str | tuple[tuple[int, int], int]]  # visit id, or (break place, index)
    type_teams: list[list[str]]  # vehicle type index -> the team ids sharing it
    team_vehicle: dict[str, int] = field(default_factory=dict)
    break_class_teams: dict[tuple[int, int], list[str]] = field(default_factory=dict)
    break_team: dict[int, Team] = field(default_factory=dict)  # break client -> its team
    visit_clients: dict[int, Visit] = field(default_factory=dict)  # visit client -> visit
    team_breaks: dict[str, int] = field(default_factory=dict)  # team id -> its breaks
    # Cheapest cost of each edge over the profiles, and the duration matrix they all share
    # (teams of one mode; see :func:`neighbours`).
    min_cost: np.ndarray | None = None
    duration: np.ndarray | None = None


#: Bytes the solver's tables (a cost and a duration matrix per profile) may take before teams
#: share profiles (see :func:`team_groups`). A 500-visit, 40-team day (561 places: 5 MB a
#: profile) keeps one profile per team; a 1,000-visit, 80-team one shares them in 16 or so
#: groups rather than 80 tables of 20 MB, which took 2.4 GB per search process.
PROFILE_TABLES_BYTES = 320 * 2**20


def team_groups(
    classes: dict[tuple, list[Team]], n_places: int, *, budget_bytes: int = PROFILE_TABLES_BYTES
) -> list[list[Team]]:
    """Teams that share one profile: each team alone when the tables fit ``budget_bytes``,
    else each class of alike teams (same mode, visits forbidden and skill costs) split into
    as few groups as the budget asks, teams leaving from the same place together (their
    breaks share a place and they are each other's natural replacements).

    A profile costs a cost and a duration matrix of ``n_places`` squared 8-byte integers.
    """
    n_teams = sum(len(ts) for ts in classes.values())
    per_profile = 16 * n_places * n_places
    most = max(len(classes), budget_bytes // max(1, per_profile))
    if n_teams <= most:
        return [[t] for ts in classes.values() for t in ts]
    # One group per class, then one more each time to the class with the most teams per group.
    count = {k: 1 for k in classes}
    for _ in range(most - len(classes)):
        k = max(classes, key=lambda c: (len(classes[c]) / count[c], -count[c]))
        if count[k] >= len(classes[k]):
            break
        count[k] += 1
    groups: list[list[Team]] = []
    for k, ts in classes.items():
        ordered = sorted(ts, key=_signature_order)
        n, g = len(ordered), count[k]
        bounds = [round(i * n / g) for i in range(g + 1)]
        groups += [ordered[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]
    return groups


def _break_key(group: int, team: Team) -> tuple[int, int]:
    # Breaks are placed where their team's route starts; a group's teams leaving from one
    # place share it, other groups' profiles forbid it.
    return (group, team.departure_location)


def _signature_order(team: Team) -> tuple:
    return (team.departure_location, team.shift_start_s, _break_signature(team), team.id)


def _break_signature(team: Team) -> tuple:
    """Teams with the same signature may take each other's breaks (same place, same rules)."""
    return (
        team.departure_location,
        tuple((b.earliest_start_s, b.latest_end_s, b.duration_s) for b in team.breaks),
    )


def locality_order(travel_time_s: np.ndarray, visits: list[Visit]) -> list[Visit]:
    """``visits`` along a nearest-neighbour chain over ``travel_time_s``, so that visits near
    each other on the road are near each other in the solver's matrices.

    A care day has a cost matrix per team (skills, continuity and breaks differ): 40 of
    2.5 MB for 40 teams, far more than the processor's cache. The search mostly reads the
    costs between a visit and its nearest neighbours; numbered along the chain, those share
    cache lines, and an iteration of the search takes about a quarter less time (Haute-Corse
    days 0-2, 600 iterations: 0.83 ms against 1.07 ms). Benchmarks have a single matrix that
    fits in the cache and keep the file's order.
    """
    n = len(visits)
    if n < 3:
        return list(visits)
    locs = np.array([v.location for v in visits], dtype=np.int64)
    sub = travel_time_s[np.ix_(locs, locs)].astype(np.float64)
    sub += sub.T
    seen = np.zeros(n, dtype=bool)
    order = [0]
    seen[0] = True
    for _ in range(n - 1):
        row = np.where(seen, np.inf, sub[order[-1]])
        nxt = int(np.argmin(row))
        order.append(nxt)
        seen[nxt] = True
    return [visits[i] for i in order]


def encode(
    problem: Problem,
    visits: list[Visit],
    teams: list[Team],
    *,
    all_required: bool = False,
    budget_bytes: int = PROFILE_TABLES_BYTES,
) -> Encoded:
    """PyVRP data for routing ``visits`` with ``teams`` (fixed visits are left out by the caller).

    Every team is one vehicle type (its own shift, start and end); skills, locks, exclusions,
    the continuity wish and the cost of skills a visit does not need become profiles
    (forbidden edges cost :data:`FORBIDDEN`), one per team while their tables fit
    ``budget_bytes``, else one per group of alike teams (:func:`team_groups`; continuity then
    costs only across groups). Breaks are pseudo-clients, one per team and break, that only
    their team may take, placed where the team's route starts (its base or home, or where it
    stands on a re-plan): other groups' profiles forbid that place, and within a group a
    load dimension per break signature and break (capacity 1 for the teams of that
    signature, 0 for the others) keeps each team to its own. The solver
    sees a detour there; the exact timing takes the break on the road instead, which travel
    times obeying the triangle inequality make no later (unless the break's window closes
    during the drive), so the routes hardly ever need repair. With no travel to a break, the
    search hid its longest drives in the breaks and a fifth of the visits of a 3 s plan came
    out again.
    Visits are optional with a large prize when mandatory (so infeasible ones are left out, not
    forced in) unless ``all_required`` (benchmarks, where every customer must be served).
    On care days the visits are numbered in :func:`locality_order`.
    """
    if not all_required:
        visits = locality_order(problem.matrix(teams[0].mode if teams else "car"), visits)
    # Locations: team places first (depots), then one per visit, then one per break class.
    depot_locs: list[int] = []
    depot_index: dict[int, int] = {}

    def depot_of(loc: int) -> int:
        if loc not in depot_index:
            depot_index[loc] = len(depot_locs)
            depot_locs.append(loc)
        return depot_index[loc]

    starts: list[tuple[int, int, int]] = []  # (start depot, end depot, start time)
    for t in teams:
        s_loc = t.departure_location
        starts.append(
            (depot_of(s_loc), depot_of(t.end_location), t.available_from_s or t.shift_start_s)
        )
    n_dep = len(depot_locs)
    visit_loc = {v.id: n_dep + i for i, v in enumerate(visits)}
    # Visits alike to the teams' profiles (skills, lock, exclusions, worth): each team looks
    # at one visit of each kind rather than at every visit (a tenth of the time on a
    # 500-visit day).
    kinds: dict[tuple, tuple[Visit, list[int]]] = {}
    preferred: dict[str, list[int]] = {}
    for v in visits:
        excluded: frozenset[str] = getattr(v, "excluded_team_ids", frozenset())
        kind = (v.skills, v.locked_team_id, excluded, visit_worth_s(v))
        kinds.setdefault(kind, (v, []))[1].append(visit_loc[v.id])
        if v.preferred_team_id is not None:
            preferred.setdefault(v.preferred_team_id, []).append(visit_loc[v.id])
    # Teams alike (mode, the visits they may not take, those they take at a cost) form a
    # class; a class shares its profiles (see team_groups).
    classes: dict[tuple, list[Team]] = {}
    for t in teams:
        # The visits the team may not take, those it takes at a cost.
        forbidden_l: list[int] = []
        overqualified_l: list[tuple[int, int]] = []
        for v, locs in kinds.values():
            if not can_serve(t, v):
                forbidden_l += locs
            elif c := overqualified_cost(problem, t, v):
                overqualified_l += [(loc, c) for loc in locs]
        ckey = (t.mode, tuple(sorted(forbidden_l)), tuple(sorted(overqualified_l)))
        classes.setdefault(ckey, []).append(t)
    n_break_teams = sum(1 for t in teams if t.breaks)
    position = {t.id: i for i, t in enumerate(teams)}
    team_sets = sorted(
        team_groups(classes, n_dep + len(visits) + n_break_teams, budget_bytes=budget_bytes),
        key=lambda ts: min(position[t.id] for t in ts),
    )
    group_of = {t.id: g for g, ts in enumerate(team_sets) for t in ts}
    class_of = {t.id: k for k, ts in classes.items() for t in ts}
    # Breaks: one place per group and team place (its rows those of the place), and within a
    # group one slot of load dimensions per break signature, which only the teams of that
    # signature can carry: a team takes its own breaks (or those of a team alike in every
    # respect), never another's.
    break_classes: dict[tuple, list[Team]] = {}
    slot_of: dict[str, int] = {}
    group_slots: dict[int, dict[tuple, int]] = {}
    for t in teams:
        if t.breaks:
            g = group_of[t.id]
            break_classes.setdefault(_break_key(g, t), []).append(t)
            slots = group_slots.setdefault(g, {})
            slot_of[t.id] = slots.setdefault(_break_signature(t), len(slots))
    n_slots = max((len(sl) for sl in group_slots.values()), default=0)
    class_keys = list(break_classes)
    matrix_locs = depot_locs + [v.location for v in visits]
    n_real = len(matrix_locs)
    n_loc = n_real + len(class_keys)
    idx = np.array(matrix_locs, dtype=np.int64)

    has_load = any(v.load for v in visits) or any(t.capacity is not None for t in teams)
    has_count = any(t.max_visits is not None for t in teams)
    n_break_dims = max((len(t.breaks) for t in teams), default=0)
    break_dim0 = int(has_load) + int(has_count)
    dims = break_dim0 + n_slots * n_break_dims

    clients: list[Client] = []
    client_item: list[str | tuple[tuple[int, int], int]] = []
    groups: list[ClientGroup] = []
    for i, v in enumerate(visits):
        loc = n_dep + i
        delivery = []
        if has_load:
            delivery.append(v.load)
        if has_count:
            delivery.append(1)
        delivery += [0] * (n_slots * n_break_dims)
        prize = visit_worth_s(v)
        windows = v.windows_or_day()
        required = all_required and len(windows) == 1
        group = len(groups) if len(windows) > 1 else None
        members = []
        for w in windows:
            members.append(len(clients))
            clients.append(
                Client(
                    location=loc,
                    delivery=delivery,
                    service_duration=v.duration_s,
                    tw_early=w.start_s,
                    tw_late=w.end_s,
                    prize=0 if required else prize,
                    required=required,
                    group=group,
                    name=v.id,
                )
            )
            client_item.append(v.id)
        if group is not None:
            groups.append(ClientGroup(members, required=all_required))
    break_loc: dict[tuple[int, int], int] = {}
    break_team: dict[int, Team] = {}
    for c, key in enumerate(class_keys):
        loc = n_real + c
        break_loc[key] = loc
        for t in break_classes[key]:
            for j, brk in enumerate(t.breaks):
                delivery = [0] * dims
                delivery[break_dim0 + slot_of[t.id] * n_break_dims + j] = 1
                clients.append(
                    Client(
                        location=loc,
                        delivery=delivery,
                        service_duration=brk.duration_s,
                        tw_early=brk.earliest_start_s,
                        tw_late=brk.latest_start_s,
                        required=True,
                        name=f"break:{t.id}:{j}",
                    )
                )
                client_item.append((key, j))
                break_team[len(clients) - 1] = t

    locations = [Location(0.0, 0.0) for _ in range(n_loc)]
    depots = [Depot(location=i) for i in range(n_dep)]

    # One duration matrix per mode, shared by its profiles; one cost matrix per distinct team
    # profile. A team's breaks are where its route starts (its base or home, or where it
    # stands when the day is re-planned), as far as the solver knows: their rows and columns
    # are those of that place (other teams' profiles forbid them).
    durations: dict[str, np.ndarray] = {}
    base_cost: dict[str, np.ndarray] = {}
    for mode in dict.fromkeys(t.mode for t in teams):
        m = problem.matrix(mode)
        costs = problem.cost_matrix(mode)
        d = np.zeros((n_loc, n_loc), dtype=np.int64)
        d[:n_real, :n_real] = m[np.ix_(idx, idx)]
        cm = np.zeros((n_loc, n_loc), dtype=np.int64)
        cm[:n_real, :n_real] = costs[np.ix_(idx, idx)]
        for t in teams:
            if t.mode == mode and t.breaks:
                own, home = break_loc[_break_key(group_of[t.id], t)], t.departure_location
                d[:n_real, own], d[own, :n_real] = m[idx, home], m[home, idx]
                cm[:n_real, own], cm[own, :n_real] = costs[idx, home], costs[home, idx]
        cm[d >= UNREACHABLE_S] = FORBIDDEN
        durations[mode], base_cost[mode] = d, cm
    dist_mats: list[np.ndarray] = []
    dur_mats: list[np.ndarray] = []
    min_cost: np.ndarray | None = None
    vehicle_types: list[VehicleType] = []
    type_index: dict[tuple, int] = {}
    type_teams: list[list[str]] = []
    break_class_teams = {k: [t.id for t in ts] for k, ts in break_classes.items()}
    profile_of_group: list[int] = []
    profiles: dict[tuple, int] = {}
    for g, group_teams in enumerate(team_sets):
        mode, forbidden, overqualified = class_of[group_teams[0].id]
        ids = {t.id for t in group_teams}
        other_breaks = tuple(loc for k, loc in break_loc.items() if k[0] != g)
        # Continuity: visits another group's team would rather have cost this group's teams.
        penalised = tuple(
            sorted(loc for tid, locs in preferred.items() if tid not in ids for loc in locs)
        )
        pkey = (mode, forbidden + other_breaks, penalised, overqualified)
        if pkey not in profiles:
            if penalised or overqualified:
                # What reaching each visit costs this group on top of the travel (one pass
                # over the table rather than one per column).
                extra = np.zeros(n_loc, dtype=np.int64)
                extra[list(penalised)] += problem.continuity_cost_s
                for loc, c in overqualified:
                    extra[loc] += c
                cost = base_cost[mode] + extra
            else:
                cost = base_cost[mode].copy()
            blocked = list(forbidden + other_breaks)
            if blocked:
                cost[:, blocked] = FORBIDDEN
                cost[blocked, :] = FORBIDDEN
            np.fill_diagonal(cost, 0)
            profiles[pkey] = len(dist_mats)
            dist_mats.append(cost)
            dur_mats.append(durations[mode])
            if min_cost is None:
                min_cost = cost.copy()
            else:
                np.minimum(min_cost, cost, out=min_cost)
        profile_of_group.append(profiles[pkey])
    for t, (sd, ed, st) in zip(teams, starts, strict=True):
        profile = profile_of_group[group_of[t.id]]
        capacity = []
        if has_load:
            capacity.append(t.capacity if t.capacity is not None else UNLIMITED)
        if has_count:
            capacity.append(t.max_visits if t.max_visits is not None else UNLIMITED)
        for slot in range(n_slots):
            own = slot_of.get(t.id) == slot
            capacity += [int(own and j < len(t.breaks)) for j in range(n_break_dims)]
        # Identical teams share one vehicle type: PyVRP searches a shared fleet much faster.
        vkey = (sd, ed, st, t.shift_end_s, tuple(capacity), profile)
        if vkey in type_index:
            k = type_index[vkey]
            type_teams[k].append(t.id)
            continue
        type_index[vkey] = len(vehicle_types)
        type_teams.append([t.id])
        vehicle_types.append(
            VehicleType(
                num_available=1,
                capacity=capacity,
                start_depot=sd,
                end_depot=ed,
                tw_early=st,
                tw_late=t.shift_end_s,
                unit_distance_cost=1,
                unit_duration_cost=0,
                profile=profile,
                name=t.id,
            )
        )
    vehicle_types = [
        vt.replace(num_available=len(ids))
        for vt, ids in zip(vehicle_types, type_teams, strict=True)
    ]
    by_visit = {v.id: v for v in visits}
    # PyVRP's stub (0.14) types a matrix as np.ndarray[int], which numpy reads as an array
    # of shape "int" rather than of integers: no real array matches it.
    data = ProblemData(
        locations=locations,
        clients=clients,
        depots=depots,
        vehicle_types=vehicle_types,
        distance_matrices=dist_mats,  # type: ignore[arg-type]
        duration_matrices=dur_mats,  # type: ignore[arg-type]
        groups=groups,
    )
    return Encoded(
        data=data,
        client_item=client_item,
        type_teams=type_teams,
        team_vehicle={tid: k for k, ids in enumerate(type_teams) for tid in ids},
        break_class_teams=break_class_teams,
        break_team=break_team,
        visit_clients={
            i: by_visit[item] for i, item in enumerate(client_item) if isinstance(item, str)
        },
        team_breaks={t.id: len(t.breaks) for t in teams},
        min_cost=min_cost if len(dist_mats) > 1 and len(durations) == 1 else None,
        duration=next(iter(durations.values())) if len(durations) == 1 else None,
    )


def neighbours(enc: Encoded, params: Any) -> dict:
    """PyVRP's granular neighbour lists (``params``: its NeighbourhoodParams), computed fast.

    PyVRP measures how close two clients are by the cheapest edge between them over every
    vehicle type, which on a care day means reading all 40 cost matrices: a fifth of a
    second. When the teams share one mode (one duration matrix), the same lists come from a
    copy of the problem with one profile holding the cheapest cost of each edge, in about a
    quarter of the time.
    """
    from pyvrp.search import compute_neighbours

    data = enc.data
    if enc.min_cost is None or enc.duration is None:
        return compute_neighbours(data, params)
    # The matrices' ignores: PyVRP's stub is wrong (see encode).
    one = data.replace(
        vehicle_types=[data.vehicle_type(0).replace(num_available=1, profile=0)],
        distance_matrices=[enc.min_cost],  # type: ignore[list-item]
        duration_matrices=[enc.duration],  # type: ignore[list-item]
    )
    return compute_neighbours(one, params)


def decode(enc: Encoded, solution: Solution) -> dict[str, list[str | int]]:
    """team id -> ordered items (visit ids, break indices) of a PyVRP solution.

    A solution the search could not make feasible may give a team a break of another team of
    its signature on top of its own (a load excess): each break index is kept once, where it
    first comes, and a team's breaks missing from its route are the exact timing's to place.
    """
    out: dict[str, list[str | int]] = {}
    free = [list(ids) for ids in enc.type_teams]
    for route in solution.routes():
        team_id = free[route.vehicle_type()].pop(0)
        n_breaks = enc.team_breaks.get(team_id, 0)
        items: list[str | int] = []
        for act in route:
            if not act.is_client():
                continue
            item = enc.client_item[act.idx]
            if isinstance(item, str):
                items.append(item)
            elif item[1] < n_breaks and item[1] not in items:
                items.append(item[1])
        out[team_id] = items
    return out


def warm_start(enc: Encoded, routes: dict[str, list[str | int]]) -> Solution:
    """A PyVRP solution from routes (visits not encoded are skipped), to start the search from.

    A visit with several windows is one client per window: each route takes the client of
    the first window not over when the team gets there, as the exact timing does (the first
    client alone put afternoon visits in their morning window: a plan the search had found
    feasible came back 340,000 s late in all on the Haute-Corse day), or of the last window
    when the team gets there after all of them (the exact timing's breaks on the road make
    routes a little tighter than the solver's model: 3 s plans of that day came back
    150,000 to 250,000 s late in all with the first window, 16,000 to 27,000 s with the last).
    """
    data = enc.data
    clients_of: dict[str, list[int]] = {}
    for i, item in enumerate(enc.client_item):
        if isinstance(item, str):
            clients_of.setdefault(item, []).append(i)
    break_client: dict[tuple[str, int], int] = {}
    for i, item in enumerate(enc.client_item):
        if not isinstance(item, str):
            name = data.client(i).name  # break:<team>:<j>
            team_id, j = name[len("break:") :].rsplit(":", 1)
            break_client[(team_id, int(j))] = i
    py_routes = []
    for team_id, items in routes.items():
        if team_id not in enc.team_vehicle:
            continue
        vt = data.vehicle_type(enc.team_vehicle[team_id])
        duration = data.duration_matrix(vt.profile)
        loc, t = data.depot(vt.start_depot).location, vt.tw_early
        clients = []
        for it in items:
            if isinstance(it, int):
                c = break_client.get((team_id, it))
            else:
                options = clients_of.get(it, [])
                # The first window still open on arrival, else the one the team is least
                # late for (the last).
                c = options[-1] if options else None
                for option in options:
                    if (
                        t + int(duration[loc, data.client(option).location])
                        <= data.client(option).tw_late
                    ):
                        c = option
                        break
            if c is not None:
                clients.append(c)
                client = data.client(c)
                arrival = t + int(duration[loc, client.location])
                t = max(arrival, client.tw_early) + client.service_duration
                loc = client.location
        if clients:
            py_routes.append(PyRoute(data, clients, enc.team_vehicle[team_id]))
    return Solution(data, py_routes)


def break_neighbours(enc: Encoded, problem: Problem, lists: list[dict], *, k: int = 40) -> None:
    """Make each of the neighbour ``lists`` (PyVRP's, from :func:`neighbours`) let a break
    meet the visits its team may do.

    PyVRP's granular neighbourhood knows nothing of skills, so a break's nearest clients
    may be visits its team may not do (or other teams' breaks) and the search could not move
    it into its own team's route. Each break gets the ``k`` visits nearest to its team's
    start that the team may serve, and those visits get the break.
    """
    from pyvrp import Activity, ActivityType

    def act(i: int) -> Activity:
        return Activity(ActivityType.CLIENT, i)

    # Visit clients in index order, their places, and the kind of each (what can_serve reads):
    # each team is asked once per kind rather than once per visit (80 teams and 1,300
    # clients: a tenth of a second).
    ids = sorted(enc.visit_clients)
    idx = np.array(ids, dtype=np.int64)
    locs = np.array([enc.visit_clients[i].location for i in ids], dtype=np.int64)
    kind_keys: dict[tuple, int] = {}
    kind_visit: list[Visit] = []
    kind_idx = np.empty(len(ids), dtype=np.int64)
    for n, i in enumerate(ids):
        v = enc.visit_clients[i]
        excluded: frozenset[str] = getattr(v, "excluded_team_ids", frozenset())
        key = (v.skills, v.locked_team_id, excluded)
        if key not in kind_keys:
            kind_keys[key] = len(kind_visit)
            kind_visit.append(v)
        kind_idx[n] = kind_keys[key]
    near_of: dict[str, list[Activity]] = {}
    for c, team in enc.break_team.items():
        near = near_of.get(team.id)
        if near is None:
            able = np.array([can_serve(team, v) for v in kind_visit], dtype=bool)[kind_idx]
            dist = problem.matrix(team.mode)[team.departure_location, locs][able]
            # Nearest first, the lower client index on ties.
            order = np.lexsort((idx[able], dist))[:k]
            near = near_of[team.id] = [act(int(i)) for i in idx[able][order]]
        brk = act(c)
        for neighbours in lists:
            neighbours[brk] = near
            for a in near:
                lst = neighbours.get(a)
                if lst is not None:
                    neighbours[a] = [*lst, brk]


def break_routes(enc: Encoded) -> list[PyRoute]:
    """One route per team holding just its break pseudo-clients (the search's starting point)."""
    per_team: dict[str, list[int]] = {}
    for c, team in enc.break_team.items():
        per_team.setdefault(team.id, []).append(c)
    routes = []
    for team_id, clients in per_team.items():
        clients.sort(key=lambda c: enc.data.client(c).tw_early)
        routes.append(PyRoute(enc.data, clients, enc.team_vehicle[team_id]))
    return routes
