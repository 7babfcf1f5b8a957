"""Staff (skills, contracts, rotas, personal teams), absences."""

from __future__ import annotations


class StaffMixin:
    """Store methods for this group (mixed into :class:`dispatch.store.Store`)."""
