"""Territory planning: coverage, accessibility, demand simulation, scenarios, siting, reports."""

from __future__ import annotations

from dispatch.planning.accessibility import AccessibilityResult, accessibility, e2sfca
from dispatch.planning.coverage import (
    DEFAULT_BANDS_S,
    CoverageResult,
    coverage,
    coverage_from_times,
    isochrone_features,
)
from dispatch.planning.demand import DemandModel, VisitKind, VisitRequest, draw_requests
from dispatch.planning.scenario import BaseSite, Scenario, load_scenarios, scenarios_from_toml
from dispatch.planning.simulate import DayResult, prepare, simulate_day, summarise, teams_needed
from dispatch.planning.siting import SitingResult, site_bases

__all__ = [
    "DEFAULT_BANDS_S",
    "AccessibilityResult",
    "BaseSite",
    "CoverageResult",
    "DayResult",
    "DemandModel",
    "Scenario",
    "SitingResult",
    "VisitKind",
    "VisitRequest",
    "accessibility",
    "coverage",
    "coverage_from_times",
    "draw_requests",
    "e2sfca",
    "isochrone_features",
    "load_scenarios",
    "prepare",
    "scenarios_from_toml",
    "simulate_day",
    "site_bases",
    "summarise",
    "teams_needed",
]
