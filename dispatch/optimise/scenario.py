"""A realistic day of home visits (teams, skills, windows, breaks) over a given travel matrix."""

from __future__ import annotations

import numpy as np

from dispatch.optimise.model import Break, Problem, Team, TimeWindow, Visit

#: Share of the teams that are care aides (hygiene visits are about 22 % of the day).
AIDE_SHARE = 0.35


def _h(hours: float) -> int:
    return int(round(hours * 3600))


def care_day(
    travel_time_s: np.ndarray,
    *,
    base_locations: list[int],
    visit_locations: list[int],
    n_teams: int,
    seed: int = 0,
    distance_m: np.ndarray | None = None,
    home_share: float = 0.0,
) -> Problem:
    """A day shaped like a bassin's home care: nurses, care aides, palliative skills.

    Matrix indices ``base_locations`` hold the teams' bases (teams spread over them in
    proportion to the visits nearest to each),
    ``visit_locations`` one visit each. The team mix follows the demand (about a third care aides),
    and late nurses can do the evening visits (dressings, insulin), so that a full team
    can serve nearly the whole day. Care aides (skill "toilette") work 07:00-14:00 with a
    20 min break; nurses ("infirmier", some also "palliatif" or "pansement_complexe") work
    07:00-15:00 or 12:00-20:00 with a 45 min meal break. Hygiene visits have a 2 h window
    starting 07:00-11:00; nurse visits a morning, afternoon or evening window, or two
    alternatives (insulin); a tenth are optional; some prefer a team (continuity of care). A ``home_share`` of the
    nurse teams start and end at home instead of at a base: in the villages the bases reach
    worst (:func:`nurse_homes`), where they also give hygiene care.
    """
    rng = np.random.default_rng(seed)
    teams: list[Team] = []
    # About a fifth of the visits are hygiene care, but care aides do at most ten visits and
    # longer ones: about a third of the teams are care aides, the rest nurses.
    n_aides = max(1, round(n_teams * AIDE_SHARE))
    # Teams are spread over the bases in proportion to the visits each base is nearest to.
    m = np.asarray(travel_time_s)
    nearest = np.argmin(m[np.ix_(base_locations, visit_locations)], axis=0)
    share = np.bincount(nearest, minlength=len(base_locations)) / max(1, len(visit_locations))
    quota = np.floor(share * n_teams).astype(int)
    for i in np.argsort(-(share * n_teams - quota))[: n_teams - quota.sum()]:
        quota[i] += 1
    team_base = [base_locations[i] for i in range(len(base_locations)) for _ in range(quota[i])]
    order = rng.permutation(n_teams)
    at_home = [k for k in range(n_aides, n_teams) if home_share and rng.random() < home_share]
    homes = dict(
        zip(at_home, nurse_homes(m, base_locations, visit_locations, len(at_home)), strict=True)
    )
    for k in range(n_teams):
        base = homes.get(k, team_base[order[k]])
        if k < n_aides:
            teams.append(
                Team(
                    id=f"AS{k + 1:02d}",
                    name=f"Aides-soignants {k + 1}",
                    start_location=base,
                    end_location=base,
                    shift_start_s=_h(7),
                    shift_end_s=_h(14),
                    skills=frozenset({"toilette"}),
                    breaks=(Break(_h(9.5), _h(12), 20 * 60),),
                    max_visits=10,
                )
            )
        else:
            skills: set[str] = {"infirmier"}
            # A third of the nurses work the late shift (evening insulin and dressings).
            late = k % 3 == 2
            if k in homes:
                # Nurses working from home in the villages also give hygiene care there.
                skills.add("toilette")
            if k % 2 == 1:
                # Half of the nurses, on both shifts, are trained in palliative care.
                skills.add("palliatif")
            if k % 4 != 0 or late:
                # Three nurses in four, every late one among them, dress complex wounds: half
                # of those visits may be in the evening.
                skills.add("pansement_complexe")
            start, end = (_h(12), _h(20)) if late else (_h(7), _h(15))
            meal = (
                Break(_h(12), _h(14.5), 45 * 60) if not late else Break(_h(14.5), _h(17), 45 * 60)
            )
            teams.append(
                Team(
                    id=f"IDE{k + 1:02d}",
                    name=f"Infirmiers {k + 1}",
                    start_location=base,
                    end_location=base,
                    shift_start_s=start,
                    shift_end_s=end,
                    skills=frozenset(skills),
                    breaks=(meal,),
                    mode="car",
                )
            )
    visits: list[Visit] = []
    for i, loc in enumerate(visit_locations):
        r = rng.random()
        vid = f"V{i + 1:04d}"
        optional = rng.random() < 0.1
        priority = int(rng.integers(1, 6))
        preferred = None
        windows: tuple[TimeWindow, ...]
        vskills: frozenset[str]
        if r < 0.22:
            dur = int(rng.choice([30, 35, 40])) * 60
            # Hygiene care starts between 07:00 and 11:00 (care aides work until 14:00).
            a = _h(7) + int(rng.integers(0, 9)) * 1800
            windows = (TimeWindow(a, a + _h(2)),)
            vskills = frozenset({"toilette"})
        elif r < 0.28:
            dur = int(rng.choice([30, 45])) * 60
            a = _h(9) + int(rng.integers(0, 14)) * 1800
            windows = (TimeWindow(a, a + _h(2)),)
            vskills = frozenset({"infirmier", "palliatif"})
        elif r < 0.41:
            dur = 20 * 60
            windows = (TimeWindow(_h(8), _h(11)), TimeWindow(_h(16), _h(18.5)))
            vskills = frozenset({"infirmier", "pansement_complexe"})
        elif r < 0.55:
            dur = 10 * 60
            windows = (TimeWindow(_h(7), _h(9)), TimeWindow(_h(17), _h(19)))
            vskills = frozenset({"infirmier"})
        else:
            dur = int(rng.choice([10, 15, 20])) * 60
            kind = rng.random()
            if kind < 0.4:
                windows = (TimeWindow(_h(7.5), _h(11)),)
            elif kind < 0.8:
                windows = (TimeWindow(_h(13.5), _h(18)),)
            else:
                windows = ()
            vskills = frozenset({"infirmier"})
        if rng.random() < 0.15:
            able = [t.id for t in teams if vskills <= t.skills]
            if able:
                preferred = str(rng.choice(able))
        visits.append(
            Visit(
                id=vid,
                location=int(loc),
                duration_s=dur,
                windows=windows,
                skills=vskills,
                priority=priority,
                mandatory=not optional,
                preferred_team_id=preferred,
            )
        )
    matrices = {"car": np.asarray(travel_time_s, dtype=np.int64)}
    dist = {"car": np.asarray(distance_m, dtype=np.int64)} if distance_m is not None else {}
    return Problem(
        teams=tuple(teams), visits=tuple(visits), travel_time_s=matrices, distance_m=dist
    )


def nurse_homes(
    travel_time_s: np.ndarray,
    base_locations: list[int],
    visit_locations: list[int],
    n: int,
    *,
    radius_s: int = 20 * 60,
) -> list[int]:
    """Where ``n`` nurses working from home live: among the visits' places, each chosen where
    it brings the most visits within ``radius_s`` of a team (greedy coverage, bases first).

    Nurses in private practice settle where patients are beyond the reach of the bases, so
    the villages far from a base get their own nurses, as they do in a real bassin.
    """
    if n <= 0:
        return []
    m = np.asarray(travel_time_s)
    visits = np.asarray(visit_locations)
    bases = np.asarray(base_locations, dtype=np.intp)
    between = m[np.ix_(visits, visits)]
    reach = np.minimum(between, between.T) <= radius_s
    covered = (m[np.ix_(bases, visits)] <= radius_s).any(axis=0)
    taken = np.zeros(len(visits), dtype=bool)
    homes: list[int] = []
    for _ in range(n):
        best = int(np.argmax(np.where(taken, -1, reach[:, ~covered].sum(axis=1))))
        taken[best] = True
        homes.append(int(visits[best]))
        covered |= reach[best]
    return homes


def euclidean_matrix(
    n: int, *, seed: int = 0, size_m: float = 30_000, speed_kmh: float = 40
) -> tuple[np.ndarray, np.ndarray]:
    """Travel times and distances between ``n`` random points of a square (for tests and demos)."""
    rng = np.random.default_rng(seed)
    pts = rng.random((n, 2)) * size_m
    d = np.sqrt(((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1)) * 1.3
    t = np.ceil(d / (speed_kmh / 3.6)).astype(np.int64)
    return t, np.ceil(d).astype(np.int64)
