"""Structures, users' memberships and consent-based sharing of patients between structures."""

from __future__ import annotations


class StructuresMixin:
    """Store methods for this group (mixed into :class:`dispatch.store.Store`)."""
