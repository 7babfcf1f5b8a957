"""iCalendar (RFC 5545) calendars of visits: a member of staff's feed and a structure's week.

Each visit is one VEVENT whose DTSTART/DTEND carry ``TZID=Europe/Paris`` (the territory's
zone) with the zone's VTIMEZONE in the calendar, so that a calendar application shows the
right hour on both sides of a daylight-saving change. The UID of a visit never changes
(``visit-<id>@<domain>``): a moved visit updates its event (SEQUENCE and LAST-MODIFIED go
up, see :func:`fingerprint`), a cancelled one stays with ``STATUS:CANCELLED`` so that
subscribed calendars drop it.

Feeds leave the service: by default an event names the patient by pseudonym and the commune
only. The name, address and phone number are given (``CalendarVisit.name`` ...) only for what
the caller needs to know: the edge decides (today's visits, on the member's own phone).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, Timezone, vDuration

from dispatch.store.models import format_hhmm

#: Days a member's feed looks ahead (today included).
FEED_DAYS = 14
#: How often a subscribed calendar application should fetch the feed again.
REFRESH_INTERVAL = dt.timedelta(hours=1)
PRODID = "-//dispatch//Tournees des equipes mobiles//FR"

CARE_KINDS = {
    "fr": {
        "nursing": "soins infirmiers",
        "palliative": "soins palliatifs",
        "geriatric": "gériatrie",
        "other": "autre soin",
    },
    "en": {
        "nursing": "nursing care",
        "palliative": "palliative care",
        "geriatric": "geriatric care",
        "other": "other care",
    },
}
TEXTS = {
    "fr": {
        "visit": "Visite",
        "cancelled": "Annulée : {text}",
        "duration": "Durée : {min} min",
        "window": "Créneau du patient : {start}–{end}",
        "team": "Équipe : {team}",
        "phone": "Téléphone : {phone}",
        "pseudonymised": "Patient désigné par son pseudonyme : le nom et l'adresse sont dans"
        " l'application, le jour de la visite.",
        "not_planned": "Heure à confirmer : la tournée de ce jour n'est pas encore publiée.",
    },
    "en": {
        "visit": "Visit",
        "cancelled": "Cancelled: {text}",
        "duration": "Duration: {min} min",
        "window": "Patient's time window: {start}–{end}",
        "team": "Team: {team}",
        "phone": "Phone: {phone}",
        "pseudonymised": "Patient named by pseudonym: the name and address are in the app on"
        " the day of the visit.",
        "not_planned": "Time to be confirmed: this day's round is not published yet.",
    },
}


@dataclass(frozen=True)
class CalendarVisit:
    """One visit as a calendar shows it.

    ``start_s`` is the local wall-clock start (seconds since the day's midnight): the
    published round's planned start, else the start of the visit's first window
    (``planned`` False). ``name``, ``address`` and ``phone`` are None in a pseudonymised
    feed.
    """

    visit_id: int
    day: str
    start_s: int
    duration_s: int
    status: str
    pseudonym: str
    care_kind: str | None = None
    commune: str | None = None
    team_name: str | None = None
    window: tuple[int, int] | None = None
    planned: bool = True
    sequence: int = 0
    last_modified_s: float | None = None
    name: str | None = None
    address: str | None = None
    phone: str | None = None


def visit_start_s(visit: dict, stop_start_s: int | None) -> tuple[int, bool]:
    """``(start_s, planned)``: the round's planned start if the visit is in a published
    round, else the start of its first time window (or 08:00 without one)."""
    if stop_start_s is not None:
        return int(stop_start_s), True
    windows = visit.get("windows") or []
    return (int(windows[0][0]) if windows else 8 * 3600), False


def fingerprint(visit: CalendarVisit) -> str:
    """What a change of makes calendars update the event (SEQUENCE + 1): day, start,
    duration, status and team (not the identity fields, which differ between feeds)."""
    text = "|".join(
        str(x) for x in (visit.day, visit.start_s, visit.duration_s, visit.status, visit.team_name)
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def local_datetime(day: str, seconds: int, timezone: str = "Europe/Paris") -> dt.datetime:
    """The aware local date-time ``seconds`` after the wall-clock midnight of ``day``."""
    date = dt.date.fromisoformat(day) + dt.timedelta(days=seconds // 86_400)
    rest = seconds % 86_400
    naive = dt.datetime.combine(date, dt.time(rest // 3600, rest % 3600 // 60, rest % 60))
    return naive.replace(tzinfo=ZoneInfo(timezone))


@lru_cache(maxsize=32)
def _vtimezone(timezone: str, first_year: int, last_year: int) -> bytes:
    return bytes(
        Timezone.from_tzid(
            timezone,
            first_date=dt.date(first_year, 1, 1),
            last_date=dt.date(last_year + 1, 1, 1),
        ).to_ical()
    )


def _summary(v: CalendarVisit, texts: dict[str, str], kinds: dict[str, str]) -> str:
    who = f"{v.name} ({v.pseudonym})" if v.name else v.pseudonym
    kind = kinds.get(v.care_kind or "", "")
    text = f"{texts['visit']} {who}" + (f" · {kind}" if kind else "")
    return texts["cancelled"].format(text=text) if v.status == "cancelled" else text


def _description(v: CalendarVisit, texts: dict[str, str]) -> str:
    lines = [texts["duration"].format(min=round(v.duration_s / 60))]
    if v.window is not None:
        lines.append(
            texts["window"].format(start=format_hhmm(v.window[0]), end=format_hhmm(v.window[1]))
        )
    if v.team_name:
        lines.append(texts["team"].format(team=v.team_name))
    if v.phone:
        lines.append(texts["phone"].format(phone=v.phone))
    if not v.planned:
        lines.append(texts["not_planned"])
    if not v.name:
        lines.append(texts["pseudonymised"])
    return "\n".join(lines)


def visit_event(
    v: CalendarVisit,
    *,
    uid_domain: str,
    stamp: dt.datetime,
    timezone: str = "Europe/Paris",
    locale: str = "fr",
) -> Event:
    """The VEVENT of one visit."""
    texts, kinds = TEXTS.get(locale, TEXTS["fr"]), CARE_KINDS.get(locale, CARE_KINDS["fr"])
    tz = ZoneInfo(timezone)
    start = local_datetime(v.day, v.start_s, timezone)
    # The end is the start's instant plus the duration, shown in local time (a visit across
    # a daylight-saving change lasts its duration, not its wall-clock difference).
    end = dt.datetime.fromtimestamp(start.timestamp() + max(int(v.duration_s), 60), tz)
    event = Event()
    event.add("uid", f"visit-{v.visit_id}@{uid_domain}")
    event.add("dtstamp", stamp)
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("summary", _summary(v, texts, kinds))
    event.add("description", _description(v, texts))
    location = v.address if v.address else v.commune
    if location:
        event.add("location", location)
    event.add("sequence", int(v.sequence))
    if v.last_modified_s is not None:
        event.add("last-modified", dt.datetime.fromtimestamp(v.last_modified_s, dt.UTC))
    if v.status == "cancelled":
        event.add("status", "CANCELLED")
    else:
        event.add("status", "CONFIRMED" if v.planned else "TENTATIVE")
    event.add("class", "CONFIDENTIAL" if v.name else "PRIVATE")
    event.add("transp", "OPAQUE")
    return event


def build_calendar(
    visits: Iterable[CalendarVisit],
    *,
    name: str,
    uid_domain: str = "dispatch",
    timezone: str = "Europe/Paris",
    locale: str = "fr",
    now_s: float | None = None,
) -> bytes:
    """An RFC 5545 calendar (bytes, CRLF lines) of ``visits``, with the VTIMEZONE of
    ``timezone`` covering their years."""
    items: Sequence[CalendarVisit] = list(visits)
    stamp = dt.datetime.fromtimestamp(
        dt.datetime.now(dt.UTC).timestamp() if now_s is None else now_s, dt.UTC
    ).replace(microsecond=0)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", timezone)
    cal.add("refresh-interval", REFRESH_INTERVAL, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", vDuration(REFRESH_INTERVAL))
    years = [int(v.day[:4]) for v in items] or [stamp.year]
    cal.add_component(Timezone.from_ical(_vtimezone(timezone, min(years) - 1, max(years) + 1)))
    for v in items:
        cal.add_component(
            visit_event(v, uid_domain=uid_domain, stamp=stamp, timezone=timezone, locale=locale)
        )
    return bytes(cal.to_ical())


def feed_name(who: str, locale: str = "fr") -> str:
    """The calendar's display name."""
    return f"Tournées — {who}" if locale == "fr" else f"Rounds — {who}"
