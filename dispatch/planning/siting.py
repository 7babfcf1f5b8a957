"""Base siting: where to put k more bases (maximal coverage or p-median, solved by spopt/PuLP).

Demand is the territory's population aggregated on a grid (``cell_m``, 3 km by default: each
cell's population sits on its most populated road node); candidate sites are, for each commune,
its most populated road node, plus the existing bases (kept, as predefined facilities). Travel
times come from the router's matrix (car, from the site to the demand). The p-median model
aggregates demand per commune to stay small enough for CBC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dispatch.errors import SolverError, ValidationError

METHODS = ("mclp", "pmedian")


@dataclass(frozen=True)
class DemandPoints:
    """Aggregated demand: a road node and the population it stands for."""

    nodes: np.ndarray  # int64
    weights: np.ndarray  # float64


def grid_demand(
    node_lon: np.ndarray, node_lat: np.ndarray, node_population: np.ndarray, *, cell_m: float
) -> DemandPoints:
    """Population summed on a square grid, each cell put on its most populated node."""
    pop = np.asarray(node_population, dtype=np.float64)
    idx = np.flatnonzero(pop > 0)
    if len(idx) == 0:
        raise ValidationError("the territory has no population to site bases for")
    lat0 = float(np.mean(node_lat[idx]))
    x = np.asarray(node_lon)[idx] * 111_320.0 * np.cos(np.radians(lat0))
    y = np.asarray(node_lat)[idx] * 110_574.0
    keys = np.floor(x / cell_m).astype(np.int64) * 1_000_003 + np.floor(y / cell_m).astype(np.int64)
    return _aggregate(keys, idx, pop)


def commune_demand(node_commune: np.ndarray, node_population: np.ndarray) -> DemandPoints:
    """Population summed per commune, each commune put on its most populated node."""
    pop = np.asarray(node_population, dtype=np.float64)
    idx = np.flatnonzero(pop > 0)
    if len(idx) == 0:
        raise ValidationError("the territory has no population to site bases for")
    return _aggregate(np.asarray(node_commune, dtype=np.int64)[idx], idx, pop)


def _aggregate(keys: np.ndarray, idx: np.ndarray, pop: np.ndarray) -> DemandPoints:
    order = np.lexsort((-pop[idx], keys))
    k_sorted = keys[order]
    first = np.flatnonzero(np.r_[True, k_sorted[1:] != k_sorted[:-1]])
    weights = np.add.reduceat(pop[idx][order], first)
    return DemandPoints(nodes=idx[order][first].astype(np.int64), weights=weights)


@dataclass(frozen=True)
class Site:
    """A base site of the solution."""

    node: int
    lon: float
    lat: float
    commune: str
    existing: bool
    base_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "lon": round(self.lon, 6),
            "lat": round(self.lat, 6),
            "commune": self.commune,
            "existing": self.existing,
            "base_id": self.base_id,
        }


@dataclass(frozen=True)
class SitingResult:
    """Proposed sites, with the model's own estimate of what they achieve."""

    method: str
    k: int
    radius_s: int
    sites: tuple[Site, ...]
    covered_population: float
    total_population: float
    mean_travel_time_s: float

    @property
    def new_sites(self) -> list[Site]:
        return [s for s in self.sites if not s.existing]

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "k": self.k,
            "radius_s": self.radius_s,
            "sites": [s.to_dict() for s in self.sites],
            "covered_population": round(self.covered_population, 1),
            "total_population": round(self.total_population, 1),
            "mean_travel_time_s": round(self.mean_travel_time_s, 1),
        }


def solve_siting(
    cost_s: np.ndarray,
    weights: np.ndarray,
    *,
    k_total: int,
    radius_s: float,
    method: str = "mclp",
    predefined: np.ndarray | None = None,
    time_limit_s: float = 60.0,
) -> np.ndarray:
    """Indices of the chosen candidates for a ``(n_demand, n_candidates)`` cost matrix."""
    import pulp
    from spopt.locate import MCLP, PMedian

    if method not in METHODS:
        raise ValidationError(f"siting method {method!r} is unknown: use {' or '.join(METHODS)}")
    n_cand = cost_s.shape[1]
    if not 0 < k_total <= n_cand:
        raise ValidationError(f"cannot choose {k_total} sites among {n_cand} candidates")
    solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit_s)
    cost = np.asarray(cost_s, dtype=np.float64)
    pre = None if predefined is None or not predefined.any() else predefined.astype(int)
    if method == "mclp":
        model: Any = MCLP.from_cost_matrix(
            cost,
            np.asarray(weights, dtype=np.float64),
            float(radius_s),
            int(k_total),
            predefined_facilities_arr=pre,
        )
    else:
        model = PMedian.from_cost_matrix(
            cost,
            np.asarray(weights, dtype=np.float64),
            int(k_total),
            predefined_facilities_arr=pre,
        )
    try:
        model.solve(solver)
    except Exception as exc:  # spopt raises plain exceptions for infeasible/failed models
        raise SolverError(f"base siting ({method}) failed: {exc}") from None
    chosen = [j for j in range(n_cand) if _is_open(model, j)]
    if not chosen:
        status = pulp.LpStatus.get(model.problem.status, str(model.problem.status))
        raise SolverError(
            f"base siting ({method}) found no solution (CBC status {status}): "
            "raise the time limit or reduce the number of candidates"
        )
    return np.asarray(sorted(chosen), dtype=np.int64)


def _is_open(model: Any, j: int) -> bool:
    var = model.fac_vars[j]
    return bool(var.value() is not None and var.value() > 0.5)


def site_bases(
    territory: Any,
    router: Any,
    existing_nodes: Sequence[int],
    *,
    k: int,
    radius_s: float = 1800,
    method: str = "mclp",
    cell_m: float = 3000.0,
    existing_ids: Sequence[str] = (),
    time_limit_s: float = 60.0,
) -> SitingResult:
    """Propose ``k`` new bases in ``territory`` keeping the bases at ``existing_nodes``.

    ``mclp`` maximises the population within ``radius_s`` of a base; ``pmedian`` minimises the
    population-weighted travel time to the nearest base.
    """
    if k < 1:
        raise ValidationError("k (the number of bases to add) must be at least 1")
    g = territory.graph
    pop = territory.node_population
    if method == "pmedian":
        demand = commune_demand(territory.node_commune, pop)
    else:
        demand = grid_demand(g.node_lon, g.node_lat, pop, cell_m=cell_m)
    per_commune = commune_demand(territory.node_commune, pop).nodes
    existing = [int(n) for n in existing_nodes]
    candidates = np.array(
        list(dict.fromkeys(existing + [int(n) for n in per_commune])), dtype=np.int64
    )
    predefined = np.zeros(len(candidates), dtype=bool)
    predefined[: len(existing)] = True
    time_s = np.asarray(router.matrix(candidates, demand.nodes), dtype=np.float64).T
    chosen = solve_siting(
        time_s,
        demand.weights,
        k_total=len(set(existing)) + k,
        radius_s=radius_s,
        method=method,
        predefined=predefined,
        time_limit_s=time_limit_s,
    )
    nearest = time_s[:, chosen].min(axis=1)
    total = float(demand.weights.sum())
    covered = float(demand.weights[nearest <= radius_s].sum())
    mean_t = float(np.dot(demand.weights, np.minimum(nearest, 86_400)) / total)
    names = [c.name for c in territory.communes]
    sites = []
    id_of = dict(zip(existing, existing_ids, strict=False))
    for j in chosen:
        node = int(candidates[j])
        ci = int(territory.node_commune[node])
        sites.append(
            Site(
                node=node,
                lon=float(g.node_lon[node]),
                lat=float(g.node_lat[node]),
                commune=names[ci] if ci >= 0 else "",
                existing=bool(predefined[j]),
                base_id=id_of.get(node, ""),
            )
        )
    return SitingResult(
        method=method,
        k=k,
        radius_s=int(radius_s),
        sites=tuple(sites),
        covered_population=covered,
        total_population=total,
        mean_travel_time_s=mean_t,
    )
