"""Pure planning functions on small synthetic inputs: coverage, E2SFCA, demand, scenarios, siting."""

from __future__ import annotations

import numpy as np
import pytest

from dispatch.errors import NotFoundError, ValidationError
from dispatch.planning.accessibility import e2sfca, step_weights
from dispatch.planning.coverage import band_index, coverage_from_times
from dispatch.planning.demand import DemandModel, draw_requests, parse_hhmm
from dispatch.planning.scenario import BaseSite, scenarios_from_toml, with_extra_base
from dispatch.planning.simulate import spread_teams
from dispatch.planning.siting import commune_demand, grid_demand, solve_siting


def test_band_index_puts_limits_in_their_band_and_inf_beyond():
    """A node exactly at a band limit is in that band; inf and beyond-last are uncovered."""
    idx = band_index(np.array([0, 600, 601, 1200, 1800, 1801, np.inf]), (600, 1200, 1800))
    assert idx.tolist() == [0, 0, 1, 1, 2, 3, 3]


def test_coverage_table_partitions_population():
    """Bands plus uncovered sum to the total, overall and per commune, with a no-commune row."""
    times = np.array([100, 700, 1300, np.inf, 500, 2000])
    pop = np.array([10.0, 20.0, 30.0, 40.0, 5.0, 7.5])
    com = np.array([0, 0, 1, 1, -1, 1])
    res = coverage_from_times(times, pop, com, ["2B001", "2B002"], ["A", "B"], (600, 1200, 1800))
    assert res.band_population == (15.0, 20.0, 30.0)
    assert res.uncovered_population == 47.5
    assert res.covered_population + res.uncovered_population == pytest.approx(pop.sum())
    by_name = {c.name: c for c in res.communes}
    assert by_name["B"].uncovered_population == 47.5
    assert by_name["A"].covered_share == 1.0
    assert by_name["(hors commune)"].population == 5.0
    assert sum(c.population for c in res.communes) == pytest.approx(pop.sum())
    assert res.least_covered(1)[0].name == "B"
    assert res.cumulative() == (15.0, 35.0, 65.0)


def test_coverage_rejects_bad_bands():
    """Bands must be positive and increasing."""
    with pytest.raises(ValidationError, match="increasing"):
        coverage_from_times(np.zeros(1), np.ones(1), np.zeros(1), ["x"], ["x"], (1200, 600))


def test_step_weights_follow_the_steps():
    """Weights are 1, 0.66, 0.33 by step and 0 beyond the last step or unreachable."""
    w = step_weights(
        np.array([0, 600, 900, 1500, 1800, 1801, np.inf]), ((600, 1), (1200, 0.66), (1800, 0.33))
    )
    assert w.tolist() == [1, 1, 0.66, 0.33, 0.33, 0, 0]


def test_e2sfca_two_bases_hand_computed():
    """Two bases, three nodes: the indicator matches the two-step formula computed by hand."""
    steps = ((600, 1.0), (1200, 0.5))
    times = np.array([[0, 900, np.inf], [np.inf, 300, 300]])
    supply = np.array([10.0, 20.0])
    pop = np.array([100.0, 200.0, 100.0])
    a = e2sfca(times, supply, pop, steps)
    r1 = 10 / (100 + 0.5 * 200)
    r2 = 20 / (200 + 100)
    assert a == pytest.approx([r1, 0.5 * r1 + r2, r2])
    # Total supply is conserved: sum of population x accessibility equals the supply reached.
    assert float(np.dot(pop, a)) == pytest.approx(30.0)


def test_e2sfca_base_with_nobody_in_reach_gives_nothing():
    """A base with no population within the last step contributes zero, without dividing by 0."""
    a = e2sfca(np.array([[np.inf, np.inf]]), np.array([5.0]), np.array([10.0, 10.0]))
    assert a.tolist() == [0.0, 0.0]


def _sample(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(9.0, 9.5, n), rng.uniform(42.0, 42.5, n)])


def test_demand_draw_is_reproducible_and_follows_the_rate():
    """Same seed and day give the same requests; the mean count follows rate x population."""
    model = DemandModel(rate_per_1000_per_day=0.5)
    a = draw_requests(model, 100_000, _sample, day_index=0, seed=3)
    b = draw_requests(model, 100_000, _sample, day_index=0, seed=3)
    c = draw_requests(model, 100_000, _sample, day_index=1, seed=3)
    assert a == b and a != c
    counts = [
        len(draw_requests(model, 100_000, _sample, day_index=d, seed=1)) for d in range(0, 35, 7)
    ]
    assert 35 < np.mean(counts) < 65
    for r in a:
        assert r.window_end_s - r.window_start_s >= r.duration_s
        assert r.skill in model.skills


def test_demand_weekend_factor():
    """Saturdays and Sundays carry weekend_factor times the weekday mean."""
    model = DemandModel(rate_per_1000_per_day=1.0, weekend_factor=0.25)
    assert model.expected_requests(10_000, 0) == 10.0
    assert model.expected_requests(10_000, 5) == 2.5
    assert model.expected_requests(10_000, 13) == 2.5


def test_demand_from_mapping_reads_kinds_and_rejects_unknown_keys():
    """Custom kinds are read (minutes, HH:MM windows); a typo is an error naming the key."""
    m = DemandModel.from_mapping(
        {
            "rate_per_1000_per_day": 1.0,
            "kinds": [
                {
                    "name": "soins",
                    "share": 1,
                    "duration_min": 20,
                    "skill": "nursing",
                    "windows": [{"start": "08:00", "end": "12:00"}],
                }
            ],
        }
    )
    assert m.kinds[0].duration_s == 1200 and m.kinds[0].windows[0].start_s == parse_hhmm("08:00")
    with pytest.raises(ValidationError, match="rate_per_1000"):
        DemandModel.from_mapping({"rate_per_1000": 1.0})


SCENARIO = """
name = "Base"
territory = "t"
teams_per_base = 1
[shift]
start = "08:00"
end = "17:00"
[demand]
rate_per_1000_per_day = 0.3

[[variants]]
name = "Plus"
add_bases = [{ id = "new", name = "New", lon = 9.3, lat = 42.3 }]
demand = { rate_per_1000_per_day = 0.6 }

[[variants]]
name = "Teams"
teams = [{ base = "a", count = 3, skills = ["nursing"] }]
"""


class _TBase:
    def __init__(self, id: str, lon: float, lat: float) -> None:
        self.id, self.name, self.lon, self.lat = id, id.upper(), lon, lat


def test_scenario_variants_merge_over_the_base_scenario():
    """Variants inherit the base scenario, add bases, merge demand keys and replace teams."""
    base, plus, teams = scenarios_from_toml(SCENARIO)
    tb = [_TBase("a", 9.0, 42.0), _TBase("b", 9.1, 42.1)]
    assert [b.id for b in base.resolve_bases(tb)] == ["a", "b"]
    assert [b.id for b in plus.resolve_bases(tb)] == ["a", "b", "new"]
    assert plus.demand.rate_per_1000_per_day == 0.6 and base.demand.rate_per_1000_per_day == 0.3
    assert plus.shift.start_s == 8 * 3600
    assert base.teams_at(base.resolve_bases(tb)) == [1, 1]
    assert teams.teams_at(teams.resolve_bases(tb)) == [3, 0]
    more = with_extra_base(base, BaseSite("x", "X", 9.2, 42.2), tb)
    assert more.teams_at(more.resolve_bases(tb)) == [1, 1, 1]


def test_scenario_errors_say_what_to_fix():
    """Unknown keys, unknown base ids and missing territory are reported clearly."""
    with pytest.raises(ValidationError, match="unknown key"):
        scenarios_from_toml('territory = "t"\nname = "x"\nbasez = []')
    with pytest.raises(ValidationError, match="territory"):
        scenarios_from_toml('name = "x"')
    sc = scenarios_from_toml('territory = "t"\nname = "x"\nbases = [{ id = "zz" }]')[0]
    with pytest.raises(NotFoundError, match="zz"):
        sc.resolve_bases([_TBase("a", 9.0, 42.0)])


def test_spread_teams_is_proportional_and_exact():
    """Largest-remainder apportionment gives exactly n teams, proportional to the weights."""
    assert spread_teams(10, [2, 2, 1]) == [4, 4, 2]
    assert sum(spread_teams(7, [3, 1, 1])) == 7
    assert spread_teams(3, [0, 0, 0]) == [1, 1, 1]


def test_siting_mclp_picks_the_site_covering_most_weight():
    """With one existing site, MCLP adds the candidate that covers the heaviest uncovered demand."""
    # 4 demand points, 3 candidates; candidate 0 is existing and covers demand 0 only.
    cost = np.array(
        [[0, 5000, 5000], [5000, 100, 5000], [5000, 5000, 100], [5000, 5000, 100]], float
    )
    weights = np.array([10.0, 50.0, 30.0, 30.0])
    chosen = solve_siting(
        cost, weights, k_total=2, radius_s=1000, predefined=np.array([1, 0, 0], bool)
    )
    assert chosen.tolist() == [0, 2]
    chosen = solve_siting(
        cost,
        weights,
        k_total=2,
        radius_s=1000,
        method="pmedian",
        predefined=np.array([1, 0, 0], bool),
    )
    assert 0 in chosen.tolist() and len(chosen) == 2


def test_demand_aggregation_keeps_total_population():
    """Grid and commune aggregation keep every inhabitant, each on a populated node."""
    rng = np.random.default_rng(0)
    lon, lat = rng.uniform(9, 9.2, 200), rng.uniform(42, 42.2, 200)
    pop = rng.uniform(0, 10, 200) * (rng.uniform(size=200) > 0.3)
    g = grid_demand(lon, lat, pop, cell_m=3000)
    assert g.weights.sum() == pytest.approx(pop.sum())
    assert (pop[g.nodes] > 0).all()
    c = commune_demand(rng.integers(0, 5, 200), pop)
    assert c.weights.sum() == pytest.approx(pop.sum()) and len(c.nodes) == 5
