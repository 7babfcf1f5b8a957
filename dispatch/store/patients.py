"""Patients (identity, address, access notes, contacts, status), suspensions, care plans, archive, purge and export."""

from __future__ import annotations


class PatientsMixin:
    """Store methods for this group (mixed into :class:`dispatch.store.Store`)."""
