"""Read-only REST endpoints for plans and a team's round of the day.

A plan belongs to one structure; a plan or team of a structure the caller does not work for
is answered 404, as if it did not exist.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, request
from flask.typing import ResponseReturnValue

from dispatch.errors import PermissionDeniedError
from dispatch.store.models import local_today
from dispatch.store.plans import PLAN_STATUSES
from dispatch.web.api_visits import visit_view
from dispatch.web.auth import current_principal, get_store, require
from dispatch.web.openapi import (
    DAY_QUERY,
    ID_QUERY,
    PAGE_PARAMS,
    operation,
    path_param,
    query_param,
)
from dispatch.web.rest import arg_choice, arg_day, ok, page_args, paged
from dispatch.web.scope import target_structure, visible_structures

bp = Blueprint("api_plans", __name__)

OPENAPI_PATHS = {
    "/api/plans": {
        "get": operation(
            "List plans (without stops)",
            roles=("coordinator", "planner", "admin"),
            tags=["plans"],
            params=[
                *PAGE_PARAMS,
                query_param("day", DAY_QUERY),
                query_param("status", {"enum": list(PLAN_STATUSES)}),
                query_param(
                    "structure_id", ID_QUERY, "the structure's plans (default: all of yours)"
                ),
            ],
            paged=True,
        )
    },
    "/api/plans/{plan_id}": {
        "get": operation(
            "A plan with its routes (a team member sees only their own team's route)",
            roles=("coordinator", "planner", "team_member", "admin"),
            tags=["plans"],
            params=[path_param("plan_id")],
            response={
                "type": "object",
                "properties": {"ok": {"const": True}, "plan": {"type": "object"}},
            },
        )
    },
    "/api/teams/{team_id}/round": {
        "get": operation(
            "A team's round of the day: the published plan's stops with their visits",
            roles=("coordinator", "team_member", "admin"),
            tags=["plans"],
            params=[
                path_param("team_id"),
                query_param("day", DAY_QUERY, "default: today in Europe/Paris"),
            ],
            response={
                "type": "object",
                "properties": {"ok": {"const": True}, "round": {"type": "object"}},
            },
        )
    },
}


@bp.get("/api/plans")
@require("coordinator", "planner", admin=False)
def list_plans() -> ResponseReturnValue:
    limit, offset = page_args()
    raw = request.args.get("structure_id")
    return paged(
        get_store().list_plans(
            day=arg_day(),
            status=arg_choice("status", PLAN_STATUSES),
            structure_id=target_structure(raw) if raw else None,
            structures=visible_structures(),
            limit=limit,
            offset=offset,
        )
    )


@bp.get("/api/plans/<int:plan_id>")
@require("coordinator", "planner", "team_member", admin=False)
def get_plan(plan_id: int) -> ResponseReturnValue:
    principal = current_principal()
    team_id = principal.team_id if principal.role == "team_member" else None
    return ok(plan=get_store().get_plan(plan_id, team_id=team_id, structures=visible_structures()))


@bp.get("/api/teams/<int:team_id>/round")
@require("coordinator", "team_member", admin=False)
def team_round(team_id: int) -> ResponseReturnValue:
    principal = current_principal()
    if principal.role == "team_member" and team_id != principal.team_id:
        raise PermissionDeniedError("a team member sees only their own team's round")
    store = get_store()
    team = store.get_team(team_id, structures=visible_structures(principal))
    day = arg_day() or local_today()
    plan = store.published_plan(day, team_id=team_id, structure_id=team["structure_id"])
    stops = plan["routes"][0]["stops"] if plan and plan["routes"] else []
    visits = {v["id"]: v for v in store.get_visits([s["visit_id"] for s in stops])}
    return ok(
        round={
            "day": day,
            "team": team,
            "plan_id": plan["id"] if plan else None,
            "stops": [
                {**s, "visit": visit_view(visits[s["visit_id"]], principal)}
                for s in stops
                if s["visit_id"] in visits
            ],
        }
    )


def register(app: Flask, socketio: Any) -> None:
    """Add the routes."""
    get_store(app)
    app.register_blueprint(bp)
