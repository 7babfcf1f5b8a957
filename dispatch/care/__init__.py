"""Care plans, staff rotas and the visits generated from them: the pure core, no store or web.

- :mod:`dispatch.care.times`: wall-clock ranges of a local day and their instants (DST rules);
- :mod:`dispatch.care.recurrence`: care-plan templates (RFC 5545 rules) and their visits;
- :mod:`dispatch.care.rota`: shifts, rota patterns, absences, hours per week, the day's teams;
- :mod:`dispatch.care.generation`: visits to create, update and cancel over a horizon;
- :mod:`dispatch.care.matching`: which team may take a visit, what an absence leaves to reassign.
"""

from dispatch.care.generation import (
    DEFAULT_HORIZON_DAYS,
    ExistingOccurrence,
    GenerationPlan,
    Suspension,
    generate,
    suspension_from_dict,
)
from dispatch.care.matching import AbsenceImpact, AssignedVisit, Fit, absence_impact, team_fit
from dispatch.care.recurrence import (
    LocalWindow,
    Occurrence,
    OccurrenceKey,
    StaffWishes,
    VisitTemplate,
    occurrences,
    template_from_dict,
)
from dispatch.care.rota import (
    Absence,
    CyclePattern,
    DayTeam,
    Shift,
    Staff,
    WeekHours,
    WeeklyPattern,
    day_teams,
    hours_in_week,
    staff_from_dict,
    works_on,
)
from dispatch.care.times import TimeRange

__all__ = [
    "DEFAULT_HORIZON_DAYS",
    "Absence",
    "AbsenceImpact",
    "AssignedVisit",
    "CyclePattern",
    "DayTeam",
    "ExistingOccurrence",
    "Fit",
    "GenerationPlan",
    "LocalWindow",
    "Occurrence",
    "OccurrenceKey",
    "Shift",
    "Staff",
    "StaffWishes",
    "Suspension",
    "TimeRange",
    "VisitTemplate",
    "WeekHours",
    "WeeklyPattern",
    "absence_impact",
    "day_teams",
    "generate",
    "hours_in_week",
    "occurrences",
    "staff_from_dict",
    "suspension_from_dict",
    "team_fit",
    "template_from_dict",
    "works_on",
]
