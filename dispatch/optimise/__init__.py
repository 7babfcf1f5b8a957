"""Assign the day's home visits to teams over road times, keep the plan true live, offer slots."""

from dispatch.optimise.check import check_plan
from dispatch.optimise.messages import render
from dispatch.optimise.model import (
    UNREACHABLE_S,
    Break,
    Problem,
    Team,
    TimeWindow,
    Visit,
    can_serve,
    hhmm,
)
from dispatch.optimise.plan import Plan, PlanDiff, Route, Slot, Stop, Unassigned, diff_plans
from dispatch.optimise.realtime import (
    compare_plans,
    insert_visit,
    move_visit,
    plan_metrics,
    propose_slots,
    replan_after_delay,
    retime,
    set_status,
    team_unavailable,
)
from dispatch.optimise.solver import solve

__all__ = [
    "UNREACHABLE_S",
    "Break",
    "Plan",
    "PlanDiff",
    "Problem",
    "Route",
    "Slot",
    "Stop",
    "Team",
    "TimeWindow",
    "Unassigned",
    "Visit",
    "can_serve",
    "check_plan",
    "compare_plans",
    "diff_plans",
    "hhmm",
    "insert_visit",
    "move_visit",
    "plan_metrics",
    "propose_slots",
    "render",
    "replan_after_delay",
    "retime",
    "set_status",
    "solve",
    "team_unavailable",
]
