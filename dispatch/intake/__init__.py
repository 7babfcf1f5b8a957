"""Visit intake: addressed CSV rows geocoded, checked and flagged for review before import."""

from dispatch.intake.review import (
    DUPLICATE_RADIUS_M,
    IntakeRow,
    confirm_rows,
    find_duplicates,
    locate,
    preview_csv,
    read_csv_rows,
)

__all__ = [
    "DUPLICATE_RADIUS_M",
    "IntakeRow",
    "confirm_rows",
    "find_duplicates",
    "locate",
    "preview_csv",
    "read_csv_rows",
]
