"""Which structures' teams and visits a caller of the live endpoints sees.

Coordinators and planners see the teams, positions, tracks, alerts and visits of their own
structures; a team or visit of another structure is answered 404, as if it did not exist.
Admins manage every structure's accounts and phones: they see every structure's teams (positions,
presences, alerts), never a visit's details (the routes refuse them anyway).
"""

from __future__ import annotations

from typing import Any

from dispatch.errors import NotFoundError
from dispatch.web.auth import Principal, current_principal, get_store
from dispatch.web.scope import visible_structures


def team_scope(principal: Principal | None = None) -> tuple[int, ...] | None:
    """The structures whose teams the caller sees (None: every structure, for admins)."""
    principal = principal or current_principal()
    if principal.role == "admin":
        return None
    return visible_structures(principal)


def scoped_team(team_id: int, structures: tuple[int, ...] | None) -> dict[str, Any]:
    """The team ``team_id`` if it belongs to ``structures`` (None: any), else NotFoundError."""
    team = get_store().get_team(team_id)
    if structures is not None and team.get("structure_id") not in structures:
        raise NotFoundError(f"team {team_id} does not exist")
    return team


def scoped_visit(visit_id: int, structures: tuple[int, ...] | None) -> None:
    """NotFoundError unless the visit exists and belongs to ``structures`` (None: any)."""
    store = get_store()
    found = store.visit_structure_ids([visit_id])
    if visit_id not in found or (structures is not None and found[visit_id] not in structures):
        raise NotFoundError(f"visit {visit_id} does not exist")
