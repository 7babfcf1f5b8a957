"""Which structures a request may see, and which structure a new record belongs to.

Every route that reads or writes patients, care plans, staff, teams, visits or plans passes
:func:`visible_structures` to the store, which answers NotFoundError (404) for a record of
another structure: its existence is not revealed.
"""

from __future__ import annotations

from typing import Any

from dispatch.errors import PermissionDeniedError, ValidationError
from dispatch.store.models import parse_id
from dispatch.web.auth import Principal, current_principal

#: JSON Schema of a body's ``structure_id`` read by :func:`target_structure` (null or absent:
#: the caller's only structure).
TARGET_STRUCTURE_SCHEMA = {
    "type": ["integer", "null"],
    "minimum": 1,
    "maximum": 2**53,
    "description": "one of your structures (null or absent: your only one; needed if you work"
    " for several)",
}


def visible_structures(principal: Principal | None = None) -> tuple[int, ...]:
    """The structures of the caller (empty: it sees no structure's records)."""
    return (principal or current_principal()).structure_ids


def target_structure(value: Any = None, principal: Principal | None = None) -> int:
    """The structure a record created by the caller belongs to.

    ``value`` (a ``structure_id`` field or query argument) must be one of the caller's
    structures; absent, the caller's only structure (a caller of several must choose).
    """
    principal = principal or current_principal()
    mine = principal.structure_ids
    if value is None or value == "":
        if len(mine) == 1:
            return mine[0]
        if not mine:
            raise PermissionDeniedError(
                "this account belongs to no structure: ask an administrator to add it to one"
            )
        raise ValidationError(
            f"give structure_id: you work for several structures ({', '.join(map(str, mine))})"
        )
    structure_id = parse_id(value, what="structure_id")
    if structure_id not in mine:
        raise PermissionDeniedError(
            f"structure {structure_id} is not one of yours ({', '.join(map(str, mine))})"
        )
    assert structure_id is not None
    return structure_id
