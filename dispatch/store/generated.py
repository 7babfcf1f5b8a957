"""Visits generated from care plans: the stored occurrences and the apply step of a generation."""

from __future__ import annotations


class GeneratedVisitsMixin:
    """Store methods for this group (mixed into :class:`dispatch.store.Store`)."""
