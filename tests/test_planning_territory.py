"""Planning on the real Haute-Corse territory: coverage, isochrones, E2SFCA, siting, a simulated day."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import shape

from dispatch.planning.accessibility import accessibility
from dispatch.planning.coverage import coverage, isochrone_features
from dispatch.planning.demand import DemandModel
from dispatch.planning.scenario import BaseSite, Scenario, with_extra_base
from dispatch.planning.simulate import prepare, simulate_day
from dispatch.planning.siting import site_bases


@pytest.fixture(scope="module")
def hc(haute_corse):
    """Haute-Corse with its router and its default bases snapped."""
    from dispatch.routing import Router

    router = Router.for_territory(haute_corse)
    setup = prepare(Scenario(name="défaut", territory="haute-corse", seed=3), haute_corse, router)
    return haute_corse, router, setup


def test_coverage_table_sums_to_territory_population(hc):
    """With the default bases, bands plus uncovered sum to the territory's population, per commune too."""
    territory, router, setup = hc
    cov = coverage(territory, router, setup.base_nodes)
    total = float(territory.node_population.sum())
    assert sum(cov.band_population) + cov.uncovered_population == pytest.approx(total, rel=1e-9)
    assert sum(c.population for c in cov.communes) == pytest.approx(total, rel=1e-9)
    for c in cov.communes:
        assert sum(c.band_population) + c.uncovered_population == pytest.approx(c.population)
    # The bases' own towns are covered; the table is not trivially all covered or all uncovered.
    assert 0 < cov.uncovered_population < total
    bastia = next(c for c in cov.communes if c.name == "Bastia")
    assert bastia.covered_share == pytest.approx(1.0)


def test_isochrones_are_valid_and_nested(hc):
    """Isochrone polygons are valid, non-empty and each band contains the smaller ones."""
    _, router, setup = hc
    fc = isochrone_features(router, setup.base_nodes, (600, 1800))
    polys = {f["properties"]["limit_s"]: shape(f["geometry"]) for f in fc["features"]}
    assert all(p.is_valid and not p.is_empty for p in polys.values())
    assert polys[1800].area > polys[600].area
    assert polys[1800].buffer(1e-6).contains(polys[600])


def test_adding_a_base_in_the_least_covered_area_raises_coverage(hc):
    """A base placed in the commune with most uncovered inhabitants raises the covered population."""
    territory, router, setup = hc
    before = coverage(territory, router, setup.base_nodes)
    worst = before.least_covered(1)[0]
    commune = next(c for c in territory.communes if c.code_insee == worst.code_insee)
    # Put the base on the most populated road node of that commune.
    idx = np.flatnonzero(territory.node_commune == territory.communes.index(commune))
    node = int(idx[np.argmax(territory.node_population[idx])])
    site = BaseSite(
        "new",
        commune.name,
        float(territory.graph.node_lon[node]),
        float(territory.graph.node_lat[node]),
    )
    more = prepare(with_extra_base(setup.scenario, site, territory.bases), territory, router)
    after = coverage(territory, router, more.base_nodes)
    assert after.covered_population > before.covered_population + 0.5 * worst.uncovered_population
    assert after.total_population == pytest.approx(before.total_population)


def test_e2sfca_distributes_the_supply_within_reach(hc):
    """Population-weighted accessibility sums to the supply of bases that reach anyone; more teams, more access."""
    territory, router, setup = hc
    teams = setup.scenario.teams_at(setup.bases)
    acc = accessibility(territory, router, setup.base_nodes, teams, visits_per_team_day=8)
    supply = 8.0 * sum(teams)
    assert float(np.dot(territory.node_population, acc.node_access)) == pytest.approx(
        supply, rel=1e-6
    )
    assert max(acc.per_1000) > 0 and min(acc.per_1000) == 0  # remote communes get nothing
    doubled = accessibility(
        territory, router, setup.base_nodes, [2 * t for t in teams], visits_per_team_day=8
    )
    assert doubled.territory_mean == pytest.approx(2 * acc.territory_mean)


@pytest.mark.slow
def test_mclp_siting_proposes_a_site_that_raises_coverage(hc):
    """The MCLP site for one more base raises the exact covered population within 30 min."""
    territory, router, setup = hc
    before = coverage(territory, router, setup.base_nodes)
    result = site_bases(territory, router, setup.base_nodes, k=1, radius_s=1800, cell_m=5000)
    assert len(result.new_sites) == 1 and sum(s.existing for s in result.sites) == len(
        setup.base_nodes
    )
    after = coverage(territory, router, list(setup.base_nodes) + [result.new_sites[0].node])
    assert after.covered_population > before.covered_population


def test_simulated_day_end_to_end(hc):
    """A Haute-Corse day: every request served or refused, no plan violation, KPIs consistent."""
    territory, router, setup = hc
    day = simulate_day(setup, territory, router, day_index=0, time_limit_s=1.0)
    assert day.requested > 20
    assert day.served + day.refused == day.requested
    assert day.violations == 0
    assert 0 < day.served and 0 <= day.on_time <= day.served
    assert 0 < day.travel_share < 1 and day.distance_m > 0
    assert day.teams_on_duty == sum(setup.scenario.teams_at(setup.bases))
    assert len(day.points) == day.requested


def test_simulated_day_refuses_when_teams_are_short(hc):
    """With one team for a heavy day, visits are refused with reasons instead of failing."""
    territory, router, setup = hc
    heavy = Scenario(
        name="court",
        territory="haute-corse",
        seed=3,
        teams_per_base=0,
        demand=DemandModel(rate_per_1000_per_day=0.3),
    )
    from dispatch.planning.simulate import scaled_groups

    small = prepare(heavy, territory, router)
    day = simulate_day(
        small, territory, router, day_index=0, time_limit_s=1.0, groups=scaled_groups(setup, 1)
    )
    assert day.teams_on_duty == 1
    assert day.refused > 0 and sum(day.refused_reasons.values()) == day.refused
    assert day.served + day.refused == day.requested
