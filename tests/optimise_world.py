"""Small optimiser worlds shared by the tests: places on a line, random care days."""

from __future__ import annotations

import numpy as np

from dispatch.optimise import Problem, Team, Visit
from dispatch.optimise.scenario import care_day, euclidean_matrix

H = 3600


def line_problem(visits: list[Visit], teams: list[Team], n: int = 12) -> Problem:
    """Places 0..n-1 on a line, 10 minutes apart (place 0 is the base)."""
    pos = np.arange(n)
    matrix = (np.abs(pos[:, None] - pos[None, :]) * 600).astype(np.int64)
    return Problem(
        teams=tuple(teams),
        visits=tuple(visits),
        travel_time_s={"car": matrix},
        distance_m={"car": matrix * 10},
    )


def random_day(
    n_places: int,
    *,
    bases: int,
    teams: int,
    seed: int,
    size_m: int = 20_000,
    visits: int | None = None,
) -> Problem:
    """A care day (skills, windows, breaks) on ``n_places`` random places of a square
    ``size_m`` wide: the first ``bases`` are bases, the next ``visits`` (all the others by
    default) are visits."""
    times, dist = euclidean_matrix(n_places, seed=seed, size_m=size_m)
    last = n_places if visits is None else bases + visits
    return care_day(
        times,
        base_locations=list(range(bases)),
        visit_locations=list(range(bases, last)),
        n_teams=teams,
        seed=seed,
        distance_m=dist,
    )
