"""E2SFCA accessibility to mobile care teams per commune, in the spirit of the DREES APL.

Method (two-step floating catchment area with distance-decay steps, Luo & Qi 2009; the DREES
"accessibilité potentielle localisée" uses the same construction for general practitioners):

1. For each base ``j`` with supply ``S_j``, the supply-to-demand ratio
   ``R_j = S_j / sum_k W(t_kj) P_k`` over every populated road node ``k`` (``P_k`` inhabitants,
   ``t_kj`` car travel time from the base to the node, ``W`` the step weight).
2. For each node ``i``, ``A_i = sum_j W(t_ij) R_j``; a commune's indicator is the
   population-weighted mean of ``A_i`` over its nodes, expressed per 1,000 inhabitants.

Parameters chosen (defaults, all configurable):

- supply ``S_j``: the visit capacity per day of the teams based at ``j`` (teams x
  ``visits_per_team_day``, 8 by default: a 7-8 h shift of 30-45 min visits and travel);
  the APL counts full-time equivalents, mobile teams are better counted in visits;
- demand ``P_k``: resident population of the territory's population model. The APL
  standardises demand by age (consumption by age group); no age structure is available here,
  so the indicator is unstandardised;
- step weights on car travel time from the base: 1 up to 10 min, 0.66 up to 20 min, 0.33 up
  to 30 min, 0 beyond. These are the APL weights (0-10 / 10-15 / 15-20 min) widened to the
  30-minute radius a home-visit team realistically serves, because the team drives to the
  patient rather than the patient to a practice.

The result reads "visits per day available per 1,000 inhabitants"; 0 means no base within
the last step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dispatch.errors import ValidationError

#: (upper limit in seconds, weight) steps: APL weights widened to a 30-minute radius.
DEFAULT_STEPS: tuple[tuple[int, float], ...] = ((600, 1.0), (1200, 0.66), (1800, 0.33))

#: Visits one team can make in a day, the supply unit of the indicator.
DEFAULT_VISITS_PER_TEAM_DAY = 8.0


def validate_steps(steps: Sequence[tuple[float, float]]) -> tuple[tuple[int, float], ...]:
    """Steps as increasing limits with weights in (0, 1], or a ValidationError."""
    out = tuple((int(round(limit)), float(w)) for limit, w in steps)
    if not out:
        raise ValidationError("no E2SFCA step given: pass for example ((600, 1.0), (1200, 0.66))")
    limits = [s[0] for s in out]
    if any(b <= a for a, b in zip(limits, limits[1:], strict=False)) or limits[0] <= 0:
        raise ValidationError(f"E2SFCA step limits {limits} must be positive and increasing")
    if any(not (0 < w <= 1) for _, w in out):
        raise ValidationError("E2SFCA step weights must be in (0, 1]")
    return out


def step_weights(times_s: np.ndarray, steps: Sequence[tuple[int, float]]) -> np.ndarray:
    """Weight ``W(t)`` of each travel time (``t <= limit`` takes that step's weight; 0 beyond)."""
    limits = np.array([s[0] for s in steps], dtype=np.float64)
    weights = np.append(np.array([s[1] for s in steps], dtype=np.float64), 0.0)
    t = np.asarray(times_s, dtype=np.float64)
    idx = np.searchsorted(limits, np.where(np.isfinite(t), t, np.inf), side="left")
    return weights[idx]


def e2sfca(
    times_s: np.ndarray,
    supply: np.ndarray,
    population: np.ndarray,
    steps: Sequence[tuple[float, float]] = DEFAULT_STEPS,
) -> np.ndarray:
    """Accessibility ``A_i`` of every node (supply units per inhabitant).

    Parameters
    ----------
    times_s
        ``(n_bases, n_nodes)`` travel times from each base to each node (``inf``: out of reach).
    supply
        ``(n_bases,)`` capacity of each base.
    population
        ``(n_nodes,)`` inhabitants per node.
    steps
        ``(limit_s, weight)`` pairs.
    """
    steps_v = validate_steps(steps)
    t = np.atleast_2d(np.asarray(times_s, dtype=np.float64))
    s = np.asarray(supply, dtype=np.float64)
    p = np.asarray(population, dtype=np.float64)
    if t.shape != (len(s), len(p)):
        raise ValidationError(f"times_s has shape {t.shape}, expected {(len(s), len(p))}")
    w = step_weights(t, steps_v)
    weighted_demand = w @ p
    ratio = np.divide(s, weighted_demand, out=np.zeros_like(s), where=weighted_demand > 0)
    return np.asarray(ratio @ w, dtype=np.float64)


@dataclass(frozen=True)
class AccessibilityResult:
    """E2SFCA indicator per commune (visits per day per 1,000 inhabitants)."""

    codes: tuple[str, ...]
    names: tuple[str, ...]
    population: tuple[float, ...]
    per_1000: tuple[float, ...]
    steps: tuple[tuple[int, float], ...]
    visits_per_team_day: float
    node_access: np.ndarray = field(repr=False, compare=False)

    @property
    def territory_mean(self) -> float:
        """Population-weighted mean over the territory (per 1,000 inhabitants)."""
        pop = np.asarray(self.population)
        if pop.sum() <= 0:
            return 0.0
        return float(np.dot(pop, self.per_1000) / pop.sum())

    def rows(self) -> list[dict[str, Any]]:
        """One dict per commune for tables and CSV."""
        return [
            {
                "code_insee": c,
                "commune": n,
                "population": round(p, 1),
                "apl_visits_per_day_per_1000": round(a, 4),
            }
            for c, n, p, a in zip(
                self.codes, self.names, self.population, self.per_1000, strict=True
            )
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready result with its parameters."""
        return {
            "method": "E2SFCA (APL-like)",
            "unit": "visits per day per 1000 inhabitants",
            "steps": [{"limit_s": s, "weight": w} for s, w in self.steps],
            "visits_per_team_day": self.visits_per_team_day,
            "territory_mean": round(self.territory_mean, 4),
            "communes": self.rows(),
        }


def commune_mean(
    node_values: np.ndarray, node_population: np.ndarray, node_commune: np.ndarray, n_communes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Population-weighted mean of a node value per commune, and each commune's population."""
    com = np.asarray(node_commune, dtype=np.int64)
    pop = np.asarray(node_population, dtype=np.float64)
    ok = com >= 0
    pop_c = np.bincount(com[ok], weights=pop[ok], minlength=n_communes)
    val_c = np.bincount(com[ok], weights=(pop * node_values)[ok], minlength=n_communes)
    mean = np.divide(val_c, pop_c, out=np.zeros_like(val_c), where=pop_c > 0)
    return mean, pop_c


def accessibility(
    territory: Any,
    router: Any,
    base_nodes: Sequence[int],
    teams_per_base: Sequence[float],
    *,
    visits_per_team_day: float = DEFAULT_VISITS_PER_TEAM_DAY,
    steps: Sequence[tuple[float, float]] = DEFAULT_STEPS,
) -> AccessibilityResult:
    """E2SFCA indicator of ``territory`` for teams at ``base_nodes`` (see the module docstring)."""
    steps_v = validate_steps(steps)
    if len(base_nodes) != len(teams_per_base):
        raise ValidationError("give one team count per base")
    if visits_per_team_day <= 0:
        raise ValidationError("visits_per_team_day must be positive")
    limit = float(steps_v[-1][0])
    times = np.vstack(
        [router.one_to_all(np.array([int(b)], dtype=np.int64), limit_s=limit) for b in base_nodes]
    )
    supply = np.asarray(teams_per_base, dtype=np.float64) * visits_per_team_day
    node_access = e2sfca(times, supply, territory.node_population, steps_v)
    mean, pop_c = commune_mean(
        node_access, territory.node_population, territory.node_commune, len(territory.communes)
    )
    return AccessibilityResult(
        codes=tuple(c.code_insee for c in territory.communes),
        names=tuple(c.name for c in territory.communes),
        population=tuple(float(x) for x in pop_c),
        per_1000=tuple(float(x) * 1000 for x in mean),
        steps=steps_v,
        visits_per_team_day=float(visits_per_team_day),
        node_access=node_access,
    )
