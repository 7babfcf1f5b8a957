"""A structure's activity over a period, as the CSV a service sends its funder.

Two views of the same rows:

- ``visits``: one line per visit — day, team, pseudonym, kind of care and care act in
  words (the act as the patients screen names it: its care plan's kind, or the act a
  referrer asked for), outcome (done,
  missed, cancelled, not recorded), planned start, check-in and check-out times, minutes on
  site, the reason of a missed visit, and the km the published round planned to reach it;
- ``summary``: one line per day and team — visits planned, done, missed, cancelled, hours
  on site, km of the published round, km of the GPS track (when the positions are still
  kept), then a total line (with the number of distinct patients seen).

Semicolon-separated, UTF-8 with a byte-order mark, decimal comma in French: what a French
spreadsheet opens as is. Patients appear by pseudonym only (the file is still patient data:
the edges audit every export).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from dispatch.care import acts
from dispatch.store.models import format_hhmm

DETAILS = ("visits", "summary")
OUTCOMES = ("done", "missed", "cancelled", "not_recorded")

OUTCOME_TEXT = {
    "fr": {
        "done": "réalisée",
        "missed": "manquée",
        "cancelled": "annulée",
        "not_recorded": "non renseignée",
    },
    "en": {
        "done": "done",
        "missed": "missed",
        "cancelled": "cancelled",
        "not_recorded": "not recorded",
    },
}
REASON_TEXT = {
    "fr": {
        "absent": "patient absent",
        "refused": "soin refusé",
        "hospitalised": "patient hospitalisé",
        "no_access": "accès impossible",
        "other": "autre",
    },
    "en": {
        "absent": "patient not at home",
        "refused": "care refused",
        "hospitalised": "patient in hospital",
        "no_access": "no access",
        "other": "other",
    },
}
#: A visit's coarse kind of care in words (the patients screen's ``pt.kind.*``).
CARE_KIND_TEXT = {
    "fr": {
        "nursing": "Soins infirmiers",
        "palliative": "Soins palliatifs",
        "geriatric": "Gériatrie",
        "other": "Autre soin",
    },
    "en": {
        "nursing": "Nursing care",
        "palliative": "Palliative care",
        "geriatric": "Geriatric care",
        "other": "Other care",
    },
}
VISIT_COLUMNS = {
    "fr": (
        "jour",
        "équipe",
        "visite",
        "patient (pseudonyme)",
        "soin",
        "acte",
        "résultat",
        "heure prévue",
        "arrivée (check-in)",
        "départ (check-out)",
        "minutes sur place",
        "motif si manquée",
        "km prévus pour s'y rendre",
    ),
    "en": (
        "day",
        "team",
        "visit",
        "patient (pseudonym)",
        "care",
        "care act",
        "outcome",
        "planned start",
        "check-in",
        "check-out",
        "minutes on site",
        "reason if missed",
        "planned km to get there",
    ),
}
SUMMARY_COLUMNS = {
    "fr": (
        "jour",
        "équipe",
        "visites prévues",
        "visites réalisées",
        "visites manquées",
        "visites annulées",
        "patients vus",
        "heures sur place",
        "km prévus (tournée publiée)",
        "km parcourus (trace GPS)",
    ),
    "en": (
        "day",
        "team",
        "visits planned",
        "visits done",
        "visits missed",
        "visits cancelled",
        "patients seen",
        "hours on site",
        "planned km (published round)",
        "km driven (GPS track)",
    ),
}
TOTAL = {"fr": "TOTAL", "en": "TOTAL"}
UNASSIGNED = {"fr": "(sans équipe)", "en": "(no team)"}


@dataclass(frozen=True)
class ActivityVisit:
    """One visit of the period with what was recorded at it.

    ``check_in_at_s`` / ``check_out_at_s`` are Unix times (the phone's clock when it sent
    them); ``planned_start_s`` local seconds since midnight (the published round's start).
    """

    visit_id: int
    day: str
    team_id: int | None
    pseudonym: str
    status: str
    patient_id: int | None = None
    partner_team_id: int | None = None
    care_kind: str | None = None
    planned_start_s: int | None = None
    check_in_at_s: float | None = None
    check_out_at_s: float | None = None
    missed_reason: str | None = None
    planned_distance_m: int | None = None
    #: The care act: the kind of the visit's care plan, else the act its request asked for.
    act: str | None = None
    #: The care plan's own label, shown for a kind the catalogue of acts does not know.
    act_label: str | None = None

    @property
    def outcome(self) -> str:
        """done, missed, cancelled or not_recorded."""
        if self.status == "cancelled":
            return "cancelled"
        if self.status == "done" or self.check_out_at_s is not None:
            return "done"
        if self.status == "missed":
            return "missed"
        return "not_recorded"

    @property
    def on_site_s(self) -> float | None:
        """Seconds between check-in and check-out (None unless both were recorded)."""
        if self.check_in_at_s is None or self.check_out_at_s is None:
            return None
        return max(0.0, self.check_out_at_s - self.check_in_at_s)


@dataclass(frozen=True)
class TeamDay:
    """One line of the summary."""

    day: str
    team_id: int | None
    planned: int = 0
    done: int = 0
    missed: int = 0
    cancelled: int = 0
    patients: int = 0
    on_site_s: float = 0.0
    planned_m: float | None = None
    gps_m: float | None = None


def summarise(
    visits: Iterable[ActivityVisit],
    *,
    planned_m: Mapping[tuple[str, int], float],
    gps_m: Mapping[tuple[str, int], float | None],
) -> tuple[list[TeamDay], TeamDay]:
    """Lines per (day, team) sorted, and the total line.

    A two-person visit served by two teams counts in both teams' lines (each went) and once
    in the total. ``planned_m``: metres of each team's published route of the day (to its
    stops); ``gps_m``: metres of its GPS track (None where no positions are kept).
    """
    items = list(visits)
    keys: set[tuple[str, int | None]] = set(planned_m) | {k for k, v in gps_m.items() if v}
    per: dict[tuple[str, int | None], list[ActivityVisit]] = {}
    for v in items:
        teams = [v.team_id] + ([v.partner_team_id] if v.partner_team_id is not None else [])
        for team in teams:
            per.setdefault((v.day, team), []).append(v)
    keys |= set(per)

    def line(day: str, team: int | None, rows: list[ActivityVisit]) -> TeamDay:
        outcomes = [r.outcome for r in rows]
        return TeamDay(
            day=day,
            team_id=team,
            planned=sum(o != "cancelled" for o in outcomes),
            done=outcomes.count("done"),
            missed=outcomes.count("missed"),
            cancelled=outcomes.count("cancelled"),
            patients=len({_patient(r) for r in rows if r.outcome == "done"}),
            on_site_s=sum(r.on_site_s or 0.0 for r in rows),
            planned_m=None if team is None else planned_m.get((day, team)),
            gps_m=None if team is None else gps_m.get((day, team)),
        )

    lines = [
        line(day, team, per.get((day, team), []))
        for day, team in sorted(keys, key=lambda k: (k[0], k[1] is None, k[1] or 0))
    ]
    gps = [x.gps_m for x in lines if x.gps_m is not None]
    total = line("", None, items)
    total = TeamDay(
        **{
            **total.__dict__,
            "planned_m": sum(x.planned_m or 0.0 for x in lines) if planned_m else None,
            "gps_m": sum(gps) if gps else None,
        }
    )
    return lines, total


def _patient(v: ActivityVisit) -> object:
    return ("patient", v.patient_id) if v.patient_id is not None else ("pseudonym", v.pseudonym)


def _number(value: float | None, locale: str, digits: int = 1) -> str:
    if value is None:
        return ""
    text = f"{value:.{digits}f}"
    return text.replace(".", ",") if locale == "fr" else text


def care_text(care_kind: str | None, locale: str) -> str:
    """The kind of care in words (an unknown code as it is)."""
    if not care_kind:
        return ""
    return CARE_KIND_TEXT[locale].get(care_kind, care_kind)


def act_text(v: ActivityVisit, locale: str) -> str:
    """The visit's care act in words: the catalogue's name in ``locale`` (the patients
    screen's), else the care plan's label, else the code; empty when the visit has none."""
    if not v.act:
        return ""
    if v.act in acts.BY_ID:
        return acts.BY_ID[v.act].label(locale)
    return v.act_label or v.act


def _clock(t: float | None, tz: ZoneInfo, offset_s: float) -> str:
    if t is None:
        return ""
    return dt.datetime.fromtimestamp(t + offset_s, tz).strftime("%H:%M")


def visit_lines(
    visits: Iterable[ActivityVisit],
    *,
    team_names: Mapping[int, str],
    locale: str = "fr",
    timezone: str = "Europe/Paris",
    offset_s: float = 0.0,
) -> list[list[str]]:
    """The ``visits`` view's rows (without the header)."""
    tz = ZoneInfo(timezone)
    outcomes, reasons = OUTCOME_TEXT[locale], REASON_TEXT[locale]
    rows = []
    for v in sorted(visits, key=lambda v: (v.day, v.planned_start_s or 0, v.visit_id)):
        team = _team(v.team_id, team_names, locale)
        if v.partner_team_id is not None:
            team += " + " + _team(v.partner_team_id, team_names, locale)
        rows.append(
            [
                v.day,
                team,
                str(v.visit_id),
                v.pseudonym,
                care_text(v.care_kind, locale),
                act_text(v, locale),
                outcomes[v.outcome],
                "" if v.planned_start_s is None else format_hhmm(v.planned_start_s),
                _clock(v.check_in_at_s, tz, offset_s),
                _clock(v.check_out_at_s, tz, offset_s),
                "" if v.on_site_s is None else str(round(v.on_site_s / 60)),
                reasons.get(v.missed_reason or "", v.missed_reason or "")
                if v.outcome == "missed"
                else "",
                ""
                if v.planned_distance_m is None
                else _number(v.planned_distance_m / 1000, locale),
            ]
        )
    return rows


def summary_lines(
    lines: list[TeamDay], total: TeamDay, *, team_names: Mapping[int, str], locale: str = "fr"
) -> list[list[str]]:
    """The ``summary`` view's rows (without the header), the total last."""

    def row(x: TeamDay, day: str, team: str) -> list[str]:
        return [
            day,
            team,
            str(x.planned),
            str(x.done),
            str(x.missed),
            str(x.cancelled),
            str(x.patients),
            _number(x.on_site_s / 3600, locale, 2),
            "" if x.planned_m is None else _number(x.planned_m / 1000, locale),
            "" if x.gps_m is None else _number(x.gps_m / 1000, locale),
        ]

    out = [row(x, x.day, _team(x.team_id, team_names, locale)) for x in lines]
    out.append(row(total, TOTAL[locale], ""))
    return out


def _team(team_id: int | None, names: Mapping[int, str], locale: str) -> str:
    if team_id is None:
        return UNASSIGNED[locale]
    return names.get(team_id, f"#{team_id}")


def to_csv(header: Iterable[str], rows: Iterable[Iterable[str]]) -> bytes:
    """Semicolon-separated UTF-8 with a byte-order mark, CRLF line ends."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(list(header))
    for r in rows:
        writer.writerow([_safe(cell) for cell in r])
    return "\ufeff".encode() + buffer.getvalue().encode("utf-8")


def _safe(cell: str) -> str:
    """A cell a spreadsheet will not run as a formula (CSV injection: =, +, -, @ first)."""
    text = str(cell)
    if text and text[0] in "=+@\t\r" or (text.startswith("-") and not _is_number(text)):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", "."))
    except ValueError:
        return False
    return True


def activity_csv(
    visits: Iterable[ActivityVisit],
    *,
    detail: str,
    team_names: Mapping[int, str],
    planned_m: Mapping[tuple[str, int], float],
    gps_m: Mapping[tuple[str, int], float | None],
    locale: str = "fr",
    timezone: str = "Europe/Paris",
    offset_s: float = 0.0,
) -> bytes:
    """The whole file for ``detail`` ``visits`` or ``summary``."""
    locale = locale if locale in VISIT_COLUMNS else "fr"
    items = list(visits)
    if detail == "visits":
        return to_csv(
            VISIT_COLUMNS[locale],
            visit_lines(
                items, team_names=team_names, locale=locale, timezone=timezone, offset_s=offset_s
            ),
        )
    lines, total = summarise(items, planned_m=planned_m, gps_m=gps_m)
    return to_csv(
        SUMMARY_COLUMNS[locale], summary_lines(lines, total, team_names=team_names, locale=locale)
    )
