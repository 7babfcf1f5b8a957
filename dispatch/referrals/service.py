"""Referrers' requests: one method per user action, called by the web API, the FHIR API and
tests (no Flask here).

A referrer (role ``referrer``) invited by a structure's coordinator submits requests to that
structure, reads only their own requests, books one of the slots the slot finder offers (or
one the coordinator proposed), and may cancel. A coordinator reads their structures' requests,
accepts (placing the visit in a slot, or creating the patient's care plan for a request with a
recurrence), proposes other times or declines. Accepting or booking creates the patient in the
structure or matches an existing one (same family name, given name and birth date), then the
visit through the slot finder's ``book`` (which inserts it in the published round).

Every read of a request is audited; every step is written in the request's history and
e-mailed to the other side (no patient name in e-mails; a failed e-mail never fails the step).
"""

from __future__ import annotations

import builtins
import datetime as dt
import functools
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from dispatch.care import acts
from dispatch.care import patients as care
from dispatch.errors import (
    ConflictError,
    DispatchError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from dispatch.mail import MailNotConfigured, check_address
from dispatch.referrals import core, texts
from dispatch.referrals.core import Viewer
from dispatch.referrals.vault import PayloadTooLarge, Vault, clean_filename, sniff
from dispatch.store.models import CARE_KINDS

log = logging.getLogger(__name__)

#: Orders of a list of requests (see Referrals.list).
ORDERS = ("newest", "urgency")
#: Requests whose offered slots are remembered (to book or propose them without a new search).
_OFFERED_MAX = 500
#: Visit statuses a cancellation still stops (not started yet).
_CANCELLABLE_VISIT = ("planned", "assigned")
#: Outcomes of a request's visit told to the referrer: visit status -> history event.
_OUTCOMES = {"done": "visit_done", "missed": "visit_missed"}
_SLOT_ID = re.compile(r"^\d{4}-\d{2}-\d{2}\.\d+\.\d+$")


class SlotTaken(ConflictError):
    """The slot is no longer free (or no longer offered): choose another."""

    code = "slot_taken"


def _slot_taken(locale: str) -> SlotTaken:
    return SlotTaken(
        "ce créneau n'est plus libre : choisissez-en un autre"
        if locale == "fr"
        else "this slot is no longer free: choose another slot"
    )


_F = TypeVar("_F", bound=Callable[..., Any])


def _one_at_a_time(action: _F) -> _F:
    """Run an action on a request while no other action runs on the same request in this
    process (two people acting at once: the second sees the first's result, and no visit is
    placed twice); across processes the state check of the final update still refuses."""

    @functools.wraps(action)
    def wrapper(self: Referrals, viewer: Viewer, referral_id: int, *args: Any, **kw: Any) -> Any:
        with self._lock:
            lock = self._acting.setdefault(referral_id, threading.Lock())
        with lock:
            return action(self, viewer, referral_id, *args, **kw)

    return wrapper  # type: ignore[return-value]


class Referrals:
    """The referral service of one deployment.

    Parameters
    ----------
    store
        The Store.
    finder
        A slot finder (``propose``/``book`` of :mod:`dispatch.referrals.slots`), or a
        callable returning one (built on first use: it needs the rounds service).
    vault
        Where attachments are kept, encrypted.
    mailer
        A :class:`dispatch.mail.Mailer` (or None: no e-mail).
    today, now_s_of_day, now_s
        The local day, the seconds since local midnight and the Unix time of the service's
        clock (a demonstration's clock may stand on another day).
    tz
        The local time zone of slots.
    base_url
        A callable giving the service's public address (links in e-mails).
    bus
        Publishes changed visits (``publish(topic, payload)``), or None.
    max_attachment_bytes, horizon_days
        The settings ``referral_attachment_max_bytes`` and ``generation_horizon_days``.
    geocoder
        A callable giving the territory's offline geocoder (or None): a request sent without
        its address's precision gets the one of the match at its point.
    """

    def __init__(
        self,
        store: Any,
        *,
        finder: Any,
        vault: Vault,
        mailer: Any = None,
        today: Callable[[], str],
        now_s_of_day: Callable[[], int] | None = None,
        now_s: Callable[[], float] | None = None,
        tz: str = "Europe/Paris",
        base_url: Callable[[], str] = lambda: "",
        bus: Any = None,
        max_attachment_bytes: int = 5 * 1024 * 1024,
        horizon_days: int = 14,
        geocoder: Callable[[], Any] | None = None,
    ) -> None:
        self.store = store
        self._finder = finder
        self.vault = vault
        self.mailer = mailer
        self.today = today
        self.now_s_of_day = now_s_of_day or (lambda: 0)
        self.now_s = now_s
        self.tz = tz
        self.base_url = base_url
        self.bus = bus
        self.max_attachment_bytes = int(max_attachment_bytes)
        self.horizon_days = int(horizon_days)
        self._geocoder = geocoder
        self._offered: OrderedDict[int, dict[str, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()
        # One lock per request acted on (a few bytes each, kept: dropping one while a
        # second caller waits on it would let a third run beside the second).
        self._acting: dict[int, threading.Lock] = {}

    # -- helpers ---------------------------------------------------------------------------------
    @property
    def finder(self) -> Any:
        """The slot finder (built on first use when a factory was given)."""
        if callable(self._finder) and not hasattr(self._finder, "propose"):
            self._finder = self._finder()
        return self._finder

    def _audit(
        self, viewer: Viewer, action: str, target: str | None, detail: dict[str, Any] | None = None
    ) -> None:
        self.store.audit(
            viewer.actor, action, role=viewer.role, target=target, ip=viewer.ip, detail=detail
        )

    def _load(self, viewer: Viewer, referral_id: int) -> dict[str, Any]:
        """A request the viewer may see; 404 for any other (its existence is not revealed)."""
        try:
            row = self.store.get_referral(referral_id)
        except NotFoundError:
            row = None
        visible = row is not None and (
            (viewer.is_referrer and row["referrer_id"] == viewer.user_id)
            or (viewer.is_coordinator and row["structure_id"] in viewer.structure_ids)
        )
        if not visible:
            raise NotFoundError(f"request {referral_id} does not exist")
        assert row is not None
        return row

    def _need(self, viewer: Viewer, *roles: str) -> None:
        if viewer.role not in roles:
            raise PermissionDeniedError(
                f"this action needs the role {' or '.join(roles)}; you are {viewer.role}"
            )

    def _structure_name(self, structure_id: int) -> str:
        try:
            return str(self.store.get_structure(structure_id)["name"])
        except NotFoundError:
            return f"structure {structure_id}"

    def _team_name(self, team_id: int) -> str | None:
        try:
            return str(self.store.get_team(team_id)["name"])
        except NotFoundError:
            return None

    def _slot_view(self, slot: Mapping[str, Any], viewer: Viewer) -> dict[str, Any]:
        team = self._team_name(int(slot["team_id"])) if viewer.is_coordinator else None
        return core.slot_view(slot, tz=self.tz, team_name=team)

    def _still_ahead(self, slot: Mapping[str, Any]) -> bool:
        today = self.today()
        return slot["day"] > today or (
            slot["day"] == today and int(slot["start_s"]) > self.now_s_of_day()
        )

    def _remember(self, referral_id: int, slots: list[dict[str, Any]]) -> None:
        with self._lock:
            known = self._offered.setdefault(referral_id, {})
            known.update({s["slot_id"]: s for s in slots})
            self._offered.move_to_end(referral_id)
            while len(self._offered) > _OFFERED_MAX:
                self._offered.popitem(last=False)

    def _url(self, role: str, referral_id: int) -> str:
        page = "referrer" if role == "referrer" else "requests"
        return f"{self.base_url().rstrip('/')}/{page}/#request-{referral_id}"

    # -- views -----------------------------------------------------------------------------------
    def _view(self, row: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
        referrer = self.store.get_user(row["referrer_id"])
        profession = self.store.referrer_professions([row["referrer_id"]]).get(
            row["referrer_id"], "other"
        )
        visit = None
        if row["visit_id"] is not None:
            try:
                found = self.store.get_visit(row["visit_id"])
            except NotFoundError:
                found = None
            if found is not None:
                visit = self._visit_view(row, found, viewer)
                if found["status"] in _OUTCOMES:
                    self._visit_outcome(row, found)
        events = self.store.referral_events(row["id"])
        proposed = row["proposed_slots"] or []
        return {
            "id": row["id"],
            "structure_id": row["structure_id"],
            "structure_name": self._structure_name(row["structure_id"]),
            "state": row["state"],
            "kind": row["kind"],
            "urgency": row["urgency"],
            "patient": row["patient"],
            "address": row["address"],
            "address_precision": row.get("address_precision"),
            "commune": row.get("commune"),
            "lon": row["lon"],
            "lat": row["lat"],
            "access_notes": row["access_notes"],
            "reason": row["reason"],
            "act": row.get("act") or "other",
            "care_kind": row["care_kind"],
            "duration_min": row["duration_min"],
            "period_from": row["period_from"],
            "period_to": row["period_to"],
            "time_of_day": row["time_of_day"],
            "recurrence": row["recurrence"],
            "prescription": row["prescription"],
            "referrer": {
                "id": referrer["id"],
                "display_name": referrer["display_name"] or referrer["username"],
                "profession": profession,
            },
            "patient_id": row["patient_id"] if viewer.is_coordinator else None,
            "care_plan_id": row["care_plan_id"] if viewer.is_coordinator else None,
            "visit": visit,
            "proposed_slots": [self._slot_view(s, viewer) for s in proposed],
            "message": row["message"],
            "decline_reason": row["decline_reason"],
            "created_at": _iso(row["created_at_s"], self.tz),
            "updated_at": _iso(row["updated_at_s"], self.tz),
            "events": [
                {
                    "at": _iso(e["at_s"], self.tz),
                    "actor_role": e["actor_role"],
                    "kind": e["kind"],
                    "text_fr": texts.event_text(e["kind"], e["detail"], "fr"),
                    "text_en": texts.event_text(e["kind"], e["detail"], "en"),
                }
                for e in events
            ],
            "attachments": [
                {k: a[k] for k in ("id", "filename", "media_type", "size_bytes")}
                for a in self.store.list_referral_attachments(row["id"])
            ],
        }

    def _visit_view(
        self, row: Mapping[str, Any], found: Mapping[str, Any], viewer: Viewer
    ) -> dict[str, Any]:
        """REFERRAL.visit: the booked slot's times and the arrival window promised (the slot
        as offered: [start, latest start]); the team for coordinators (the round's, else the
        slot's, which holds it until the day is planned)."""
        slot = row["booked_slot"] or {}
        team_name = None
        if viewer.is_coordinator:
            team_id = found.get("team_id") or found.get("preferred_team_id") or slot.get("team_id")
            team_name = self._team_name(int(team_id)) if team_id else None
        arrival: tuple[int, int] | None
        if slot:
            arrival = (int(slot["start_s"]), int(slot.get("latest_start_s") or slot["start_s"]))
        else:
            windows = found.get("windows") or []
            arrival = (int(windows[0][0]), int(windows[-1][1])) if windows else None
        return {
            "id": found["id"],
            "day": found["day"],
            "start": core.hhmm(slot["start_s"]) if slot else None,
            "end": core.hhmm(slot["end_s"]) if slot else None,
            "status": found["status"],
            "arrival_from": core.hhmm(arrival[0]) if arrival else None,
            "arrival_to": core.hhmm(arrival[1]) if arrival else None,
            "team_name": team_name,
        }

    def referrer_view(self, user: Mapping[str, Any]) -> dict[str, Any]:
        """REFERRER of the API."""
        profession = self.store.referrer_professions([user["id"]]).get(user["id"], "other")
        return {
            "id": user["id"],
            "display_name": user["display_name"] or user["username"],
            "email": user["email"],
            "profession": profession,
            "active": bool(user["active"]),
            "structure_ids": list(user["structure_ids"]),
        }

    # -- e-mails ---------------------------------------------------------------------------------
    def _send(self, to: str, subject: str, text: str) -> str:
        """ "sent", "not_configured" or "failed" (logged, never raised)."""
        if self.mailer is None:
            return "not_configured"
        try:
            self.mailer.send(to, subject, text)
        except MailNotConfigured:
            return "not_configured"
        except DispatchError as exc:
            log.warning("referral e-mail not sent: %s", exc.code)
            return "failed"
        return "sent"

    def _step(self, row: dict[str, Any], viewer: Viewer, kind: str, detail: dict[str, Any]) -> None:
        """Write one step in the history and e-mail it to the other side."""
        coordinators = kind == "submitted" or (kind == "cancelled" and viewer.is_referrer)
        sides: list[tuple[str, list[str]]] = []
        if coordinators or texts.MAIL_TO.get(kind) == "both":
            sides.append(
                ("coordinator", self.store.structure_coordinator_emails(row["structure_id"]))
            )
        if not coordinators:
            email = self.store.get_user(row["referrer_id"]).get("email")
            sides.append(("referrer", [email] if email else []))
        statuses = []
        for role, to in sides:
            if to:
                subject, text = texts.mail(kind, row["id"], detail, self._url(role, row["id"]))
                statuses += [self._send(address, subject, text) for address in to]
        mail = (
            "sent"
            if statuses and all(s == "sent" for s in statuses)
            else ("none" if not statuses else next(s for s in statuses if s != "sent"))
        )
        self.store.add_referral_event(
            row["id"],
            kind,
            actor=viewer.actor,
            actor_role=viewer.role,
            detail={**detail, "mail": mail},
        )

    # -- referrers -------------------------------------------------------------------------------
    def invite_referrer(
        self,
        viewer: Viewer,
        *,
        email: Any,
        display_name: Any,
        profession: Any,
        structure_id: int,
        link: Callable[[int], tuple[str, tuple[str, str]]],
    ) -> tuple[dict[str, Any], str, str | None]:
        """Invite a referrer into ``structure_id`` (one of the coordinator's): a new account
        without password whose activation link is e-mailed, or one more structure for an
        existing referrer. ``link(user_id)`` makes the account's one-time activation link
        (its URL and expiry texts fr/en). Returns (REFERRER, mail status, the link's URL when
        it could not be e-mailed)."""
        self._need(viewer, "coordinator")
        if structure_id not in viewer.structure_ids:
            raise PermissionDeniedError(f"structure {structure_id} is not one of yours")
        email = check_address(email)
        if not isinstance(display_name, str) or not 1 <= len(display_name.strip()) <= 80:
            raise ValidationError("display_name must be text of 1 to 80 characters")
        display_name = display_name.strip()
        if profession not in core.PROFESSIONS:
            raise ValidationError(f"profession must be one of {', '.join(core.PROFESSIONS)}")
        existing = self.store.user_by_email(email)
        if existing is not None and existing["role"] != "referrer":
            raise ConflictError(
                f"{email} is the address of a staff account: a referrer needs an address of"
                " their own"
            )
        if existing is None:
            user = self.store.add_user(
                self._username(email),
                role="referrer",
                email=email,
                display_name=display_name,
                structure_ids=[structure_id],
            )
            self.store.set_referrer_profile(
                user["id"], profession=profession, invited_by=viewer.actor
            )
            action = "referrer.invite"
        else:
            user = existing
            self.store.add_user_structure(user["id"], structure_id)
            action = "referrer.add_structure"
        user = self.store.get_user(user["id"])
        url = None
        inviter = viewer.actor if not viewer.user_id else self._name_of(viewer.user_id)
        if not user["has_password"]:
            url, expires = link(user["id"])
            subject, text = texts.invitation(
                display_name=user["display_name"],
                structure_name=self._structure_name(structure_id),
                inviter=inviter,
                url=url,
                expires=expires,
                login=user["username"],
            )
        else:
            # An account in use: its owner learns they may now address this structure too.
            subject, text = texts.added(
                display_name=user["display_name"],
                structure_name=self._structure_name(structure_id),
                inviter=inviter,
                url=f"{self.base_url().rstrip('/')}/referrer/",
            )
        status = self._send(email, subject, text)
        self._audit(
            viewer,
            action,
            f"user:{user['id']}",
            {"structure_id": structure_id, "email": email, "mail": status},
        )
        return self.referrer_view(user), status, (url if status != "sent" else None)

    def _name_of(self, user_id: int) -> str:
        user = self.store.get_user(user_id)
        return str(user["display_name"] or user["username"])

    def _username(self, email: str) -> str:
        # A login name starts with a letter or a digit, 64 characters at most (the referrer
        # logs in with their e-mail address when it fits, else this name).
        base = re.sub(r"[^a-z0-9._@-]", "-", email.lower()).lstrip("._@-")[:56] or "referrer"
        name, n = base, 1
        while self.store.user_exists(name):
            n += 1
            name = f"{base}-{n}"
        return name

    def list_referrers(self, viewer: Viewer) -> list[dict[str, Any]]:
        """The referrers of the coordinator's structures."""
        self._need(viewer, "coordinator")
        ids = self.store.list_referrer_ids(structures=viewer.structure_ids)
        out = []
        for user_id in ids:
            view = self.referrer_view(self.store.get_user(user_id))
            view["structure_ids"] = [s for s in view["structure_ids"] if s in viewer.structure_ids]
            out.append(view)
        return out

    def options(self, viewer: Viewer) -> dict[str, Any]:
        """What the request form offers this viewer."""
        self._need(viewer, "referrer", "coordinator")
        return {
            "structures": [
                {
                    "id": s,
                    "name": self._structure_name(s),
                    "care_kinds": list(CARE_KINDS),
                    "acts": self._acts_of(s),
                }
                for s in viewer.structure_ids
            ],
            "professions": list(core.PROFESSIONS),
            "urgencies": list(core.URGENCIES),
            "times_of_day": list(core.TIMES_OF_DAY),
            "acts": acts.catalogue(),
            "max_attachment_bytes": self.max_attachment_bytes,
        }

    # -- requests --------------------------------------------------------------------------------
    def submit(self, viewer: Viewer, data: Any, *, area: Any = None) -> dict[str, Any]:
        """A referrer's new request (state ``submitted``); its coordinators are told.
        ``area`` (a ServiceArea): a home outside the served territory is refused."""
        self._need(viewer, "referrer")
        if not isinstance(data, Mapping):
            raise ValidationError("send the request as a JSON object")
        structure_id = _target(data.get("structure_id"), viewer)
        fields = self._placed(core.parse_request(data, today=self.today()))
        if area is not None:
            area.check(fields["lon"], fields["lat"], what="the patient's home")
        referral_id = self.store.add_referral(
            {
                **fields,
                "structure_id": structure_id,
                "referrer_id": viewer.user_id,
                "state": "submitted",
                "proposed_slots": [],
            }
        )
        row = self.store.get_referral(referral_id)
        self._audit(
            viewer, "referral.submit", f"referral:{referral_id}", {"structure_id": structure_id}
        )
        self._step(row, viewer, "submitted", {"structure_name": self._structure_name(structure_id)})
        return self._view(self.store.get_referral(referral_id), viewer)

    def _placed(self, fields: dict[str, Any]) -> dict[str, Any]:
        """A request's precision and commune, when not sent, from the geocoder's best match
        for its address when that match is at its point (else the pin was moved by hand:
        the precision stays unknown)."""
        if fields["address_precision"] is not None and fields["commune"]:
            return fields
        geocoder = self._geocoder() if self._geocoder is not None else None
        if geocoder is None:
            return fields
        try:
            found = geocoder.geocode(fields["address"], limit=1)
        except DispatchError:
            return fields
        if not found:
            return fields
        match = found[0]
        if _distance_m((match.lon, match.lat), (fields["lon"], fields["lat"])) > _SAME_PLACE_M:
            return fields
        out = dict(fields)
        if out["address_precision"] is None:
            out["address_precision"] = match.precision
        if not out["commune"]:
            out["commune"] = care._commune_of(match.label)
        return out

    def list(
        self,
        viewer: Viewer,
        state: str | None = None,
        *,
        limit: int | None = None,
        offset: int | None = None,
        order: str = "newest",
    ) -> tuple[list[dict[str, Any]], int]:
        """The viewer's requests (a referrer: their own; a coordinator: their structures'),
        newest first, or (``order`` "urgency") those awaiting an answer first, urgent ones
        first; (items, total). Audited (the list shows patients' identities)."""
        self._need(viewer, "referrer", "coordinator")
        if state is not None and state not in core.STATES:
            raise ValidationError(f"state must be one of {', '.join(core.STATES)}")
        if order not in ORDERS:
            raise ValidationError(f"order must be one of {', '.join(ORDERS)}")
        rows, total = self.store.list_referrals(
            referrer_id=viewer.user_id if viewer.is_referrer else None,
            structures=None if viewer.is_referrer else viewer.structure_ids,
            state=state,
            limit=limit,
            offset=offset,
            order=order,
        )
        self._audit(viewer, "referral.list", None, {"ids": [r["id"] for r in rows], "state": state})
        return [self._view(r, viewer) for r in rows], total

    def get(self, viewer: Viewer, referral_id: int) -> dict[str, Any]:
        """One request (audited)."""
        row = self._load(viewer, referral_id)
        self._audit(viewer, "referral.read", f"referral:{referral_id}")
        return self._view(row, viewer)

    # -- slots -----------------------------------------------------------------------------------
    def slots(self, viewer: Viewer, referral_id: int, n: int = 5) -> dict[str, Any]:
        """``{"slots": [SLOT], "reason": str|None}``: the best ``n`` slots over the request's
        period (its first 7 days from today), in its time of day; a referrer on a request
        with proposed times gets those still ahead."""
        row = self._load(viewer, referral_id)
        fr = viewer.locale == "fr"
        if row["state"] == "proposed" and viewer.is_referrer:
            slots = [
                s for s in row["proposed_slots"] if self._still_ahead(s) and self._free(row, s)
            ]
            reason = (
                None
                if slots
                else (
                    "les créneaux proposés sont passés : attendez la structure ou annulez"
                    if fr
                    else "the proposed times are over: wait for the service or cancel"
                )
            )
            return {"slots": [self._slot_view(s, viewer) for s in slots], "reason": reason}
        if row["state"] not in ("submitted", "proposed"):
            return {
                "slots": [],
                "reason": f"la demande est {core._STATE_FR[row['state']]}"
                if fr
                else f"the request is {row['state']}",
            }
        found = self._search(row, n)
        reason = None
        needed = acts.skills_of(row.get("act"))
        if not found and acts.missing_skills(needed, self._skill_holders(row["structure_id"])):
            reason = acts.no_skill_reason(row["act"], needed, viewer.locale)
        elif not found:
            reason = (
                "aucun créneau libre sur les 7 premiers jours de la période : la structure vous"
                " répondra"
                if fr
                else "no free slot over the period's first 7 days: the service will answer"
            )
        return {"slots": [self._slot_view(s, viewer) for s in found], "reason": reason}

    def _search(self, row: dict[str, Any], n: int) -> builtins.list[dict[str, Any]]:
        first, days = core.slot_days(row["period_from"], row["period_to"], today=self.today())
        if days <= 0:
            return []
        finder = self.finder
        kwargs: dict[str, Any] = {
            "structure_id": row["structure_id"],
            "lonlat": (row["lon"], row["lat"]),
            "duration_s": int(row["duration_min"]) * 60,
            "skills": acts.skills_of(row.get("act")),
            "from_day": first,
            "days": days,
            "window_s": core.TIME_OF_DAY_WINDOWS_S[row["time_of_day"]],
            "n": n,
        }
        kwargs["urgent"] = row["urgency"] == "urgent"
        found = [core.stored_slot(s) for s in finder.propose(**kwargs)]
        found = [s for s in found if self._still_ahead(s)]
        self._remember(row["id"], found)
        return found

    def _acts_of(self, structure_id: int) -> builtins.list[str]:
        """The acts some staff member or team of the structure can do (their skills cover
        the act's): the others can never get a slot there."""
        holders = self._skill_holders(structure_id)
        return [
            a["id"]
            for a in acts.catalogue()
            if not acts.missing_skills(acts.skills_of(a["id"]), holders)
        ]

    def _skill_holders(self, structure_id: int) -> builtins.list[builtins.list[str]]:
        """The skills of each active staff member and team of the structure (a request whose
        act needs skills none of them has can never get a slot there)."""
        holders = [s["skills"] for s in self.store.list_staff(structures=[structure_id])]
        teams = self.store.list_teams(active=True, structures=[structure_id], limit=1000)
        return holders + [t.get("skills") or [] for t in teams]

    def _resolve(self, row: dict[str, Any], slot_id: Any, locale: str) -> dict[str, Any]:
        """The slot ``slot_id`` as offered for this request (remembered, else searched
        again); SlotTaken when it is no longer offered."""
        if not isinstance(slot_id, str) or not _SLOT_ID.match(slot_id.strip()):
            raise ValidationError(
                "slot_id must be a slot's id as GET /api/referrals/ID/slots gives it"
            )
        slot_id = slot_id.strip()
        with self._lock:
            known = dict(self._offered.get(row["id"], {}))
        for slot in row["proposed_slots"] or []:
            known.setdefault(slot["slot_id"], slot)
        if slot_id not in known:
            known.update(self._check(row, slot_id))
        slot = known.get(slot_id)
        if slot is None or not self._still_ahead(slot):
            raise _slot_taken(locale)
        if not row["period_from"] <= slot["day"] <= row["period_to"]:
            raise _slot_taken(locale)
        return slot

    def _free(self, row: dict[str, Any], slot: Mapping[str, Any]) -> bool:
        """Whether a proposed slot still fits the current round (booking checks it again)."""
        return bool(self._check(row, slot["slot_id"], search=False)) or not hasattr(
            self.finder, "check"
        )

    def _check(
        self, row: dict[str, Any], slot_id: str, *, search: bool = True
    ) -> dict[str, dict[str, Any]]:
        """{slot_id: slot} of a slot not offered before, as it stands now on the round (the
        finder's ``check``; a finder without it searches again)."""
        finder = self.finder
        if not hasattr(finder, "check"):
            return {s["slot_id"]: s for s in self._search(row, 10)} if search else {}
        try:
            found = finder.check(
                structure_id=row["structure_id"],
                slot_id=slot_id,
                lonlat=(row["lon"], row["lat"]),
                duration_s=int(row["duration_min"]) * 60,
                skills=acts.skills_of(row.get("act")),
                window_s=core.TIME_OF_DAY_WINDOWS_S[row["time_of_day"]],
            )
        except ConflictError:
            return {}
        slot = core.stored_slot(found)
        return {slot["slot_id"]: slot}

    # -- placing ---------------------------------------------------------------------------------
    def _caller(self, viewer: Viewer, structure_id: int) -> care.Caller:
        return care.Caller(
            actor=viewer.actor, role=viewer.role, ip=viewer.ip, structures=[structure_id]
        )

    def _generation(self) -> care.Generation:
        return care.Generation(
            today=self.today(),
            horizon_days=self.horizon_days,
            tz=self.tz,
            now_s=self.now_s() if self.now_s is not None else None,
            bus=self.bus,
        )

    def _patient(self, row: dict[str, Any], viewer: Viewer) -> dict[str, Any]:
        """The patient of a request in its structure: matched (same family name, given name
        and birth date, normalised) or admitted now."""
        structure_id = row["structure_id"]
        identity = row["patient"]
        key = care._identity_key(identity)
        for known in self.store.patient_identities(structures=[structure_id]):
            if key is not None and care._identity_key(known) == key:
                return {"id": known["id"], "pseudonym": known["pseudonym"], "matched": True}
        referrer = self.store.get_user(row["referrer_id"])
        data = {
            "family_name": identity["family_name"],
            "given_name": identity["given_name"],
            "birth_date": identity["birth_date"],
            "sex": identity.get("gender") or "unknown",
            "phone": identity.get("phone"),
            "address": row["address"],
            "lon": row["lon"],
            "lat": row["lat"],
            "commune": row.get("commune"),
            "geocode_precision": row.get("address_precision") or "manual",
            "pin_corrected": False,
            "access_notes": row["access_notes"],
            "referring_doctor": (referrer["display_name"] or referrer["username"])[:200],
        }
        created = care.create_patient(
            self.store,
            {k: v for k, v in data.items() if v is not None},
            caller=self._caller(viewer, structure_id),
            structure_id=structure_id,
            today=self.today(),
        )
        return {"id": created["id"], "pseudonym": created["pseudonym"], "matched": False}

    def _place_visit(
        self, row: dict[str, Any], slot: dict[str, Any], patient: dict[str, Any], viewer: Viewer
    ) -> int:
        identity = row["patient"]
        protected = {
            "name": f"{identity['given_name']} {identity['family_name']}",
            "phone": identity.get("phone"),
            "notes": row["access_notes"],
        }
        visit_fields = {
            "pseudonym": patient["pseudonym"],
            "care_kind": row["care_kind"],
            "skills": list(acts.skills_of(row.get("act"))),
            "address": row["address"],
            **({"commune": row["commune"]} if row.get("commune") else {}),
            "lon": row["lon"],
            "lat": row["lat"],
            "duration_s": int(row["duration_min"]) * 60,
            # A booked visit is a promise to the referrer: the day's planning must keep it (it
            # may move it within its window, never leave it out).
            "mandatory": True,
            "priority": 3 if row["urgency"] == "urgent" else 2,
            "protected": {k: v for k, v in protected.items() if v},
            "patient_id": patient["id"],
        }
        try:
            visit_id = self.finder.book(
                structure_id=row["structure_id"],
                slot_id=slot["slot_id"],
                visit_fields=visit_fields,
                by=viewer.actor,
                window_s=core.TIME_OF_DAY_WINDOWS_S[row["time_of_day"]],
                locale=viewer.locale,
                latest_start_s=int(slot.get("latest_start_s") or slot["start_s"]),
            )
        except ConflictError as exc:
            if exc.code == "slot_taken":
                raise _slot_taken(viewer.locale) from None
            raise
        return int(visit_id)

    def _care_plan(
        self, row: dict[str, Any], patient: dict[str, Any], viewer: Viewer, *, start_day: str
    ) -> int | None:
        if start_day > row["recurrence"]["until"]:
            return None
        plan, _ = care.add_care_plan(
            self.store,
            patient["id"],
            core.care_plan_fields(row, start_day=start_day),
            caller=self._caller(viewer, row["structure_id"]),
            gen=self._generation(),
        )
        return int(plan["id"])

    def _settle(
        self, viewer: Viewer, row: dict[str, Any], action: str, slot: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Book or accept: the patient, then the visit in ``slot`` and/or the care plan."""
        state = "booked" if action == "book" else "accepted"
        patient = self._patient(row, viewer)
        columns: dict[str, Any] = {"state": state, "patient_id": patient["id"]}
        detail: dict[str, Any] = {}
        if slot is not None:
            columns["visit_id"] = self._place_visit(row, slot, patient, viewer)
            columns["booked_slot"] = slot
            detail.update(
                day=slot["day"],
                start=core.hhmm(slot["start_s"]),
                arrival_to=core.hhmm(slot.get("latest_start_s") or slot["start_s"]),
            )
        if row["kind"] == "care_plan":
            start = max(row["period_from"], self.today())
            if slot is not None:
                start = (dt.date.fromisoformat(slot["day"]) + dt.timedelta(days=1)).isoformat()
            columns["care_plan_id"] = self._care_plan(row, patient, viewer, start_day=start)
            detail.update(care_plan_from=start, care_plan_until=row["recurrence"]["until"])
        if not self.store.update_referral(
            row["id"], columns, expect_states=core.FROM_STATES[action]
        ):
            raise ConflictError(f"request {row['id']} changed meanwhile: reload it")
        self._audit(
            viewer,
            f"referral.{action}",
            f"referral:{row['id']}",
            {"patient_id": patient["id"], "matched": patient["matched"],
             "visit_id": columns.get("visit_id"), "care_plan_id": columns.get("care_plan_id")},
        )  # fmt: skip
        fresh = self.store.get_referral(row["id"])
        self._step(fresh, viewer, state, detail)
        return self._view(self.store.get_referral(row["id"]), viewer)

    # -- actions ---------------------------------------------------------------------------------
    @_one_at_a_time
    def book(self, viewer: Viewer, referral_id: int, slot_id: Any) -> dict[str, Any]:
        """The referrer books a slot: the visit is placed in the round (state ``booked``)."""
        self._need(viewer, "referrer")
        row = self._load(viewer, referral_id)
        core.check_action("book", row["state"], referral_id)
        if row["state"] == "proposed":
            offered = {s["slot_id"] for s in row["proposed_slots"] or []}
            if not isinstance(slot_id, str) or slot_id.strip() not in offered:
                raise _slot_taken(viewer.locale)
        slot = self._resolve(row, slot_id, viewer.locale)
        return self._settle(viewer, row, "book", slot)

    @_one_at_a_time
    def accept(self, viewer: Viewer, referral_id: int, slot_id: Any = None) -> dict[str, Any]:
        """The coordinator accepts: a one-off request's visit in ``slot_id``; a request with a
        recurrence creates the patient's care plan (``slot_id``, if given, its first visit)."""
        self._need(viewer, "coordinator")
        row = self._load(viewer, referral_id)
        core.check_action("accept", row["state"], referral_id)
        if slot_id is None and row["kind"] == "visit":
            raise ValidationError(
                "a one-off request needs a slot: give slot_id, one of GET"
                f" /api/referrals/{referral_id}/slots"
            )
        slot = None if slot_id is None else self._resolve(row, slot_id, viewer.locale)
        return self._settle(viewer, row, "accept", slot)

    @_one_at_a_time
    def propose(
        self, viewer: Viewer, referral_id: int, slot_ids: Any, message: Any = None
    ) -> dict[str, Any]:
        """The coordinator proposes 1 to 5 other times; the referrer books one of them."""
        self._need(viewer, "coordinator")
        row = self._load(viewer, referral_id)
        core.check_action("propose", row["state"], referral_id)
        if (
            not isinstance(slot_ids, list)
            or not 1 <= len(slot_ids) <= core.MAX_PROPOSED
            or len(set(map(str, slot_ids))) != len(slot_ids)
        ):
            raise ValidationError(
                f"slot_ids must list 1 to {core.MAX_PROPOSED} different slots of GET"
                f" /api/referrals/{referral_id}/slots"
            )
        message = _free_text(message, what="message", max_len=1000, required=False)
        slots = [self._resolve(row, s, viewer.locale) for s in slot_ids]
        slots.sort(key=lambda s: (s["day"], s["start_s"]))
        if not self.store.update_referral(
            referral_id,
            {"state": "proposed", "proposed_slots": slots, "message": message},
            expect_states=core.FROM_STATES["propose"],
        ):
            raise ConflictError(f"request {referral_id} changed meanwhile: reload it")
        self._audit(viewer, "referral.propose", f"referral:{referral_id}", {"slots": len(slots)})
        fresh = self.store.get_referral(referral_id)
        times = [
            {
                "day": s["day"],
                "start": core.hhmm(s["start_s"]),
                "arrival_to": core.hhmm(s.get("latest_start_s") or s["start_s"]),
            }
            for s in slots
        ]
        self._step(
            fresh, viewer, "proposed", {"count": len(slots), "times": times, "message": message}
        )
        return self._view(self.store.get_referral(referral_id), viewer)

    @_one_at_a_time
    def decline(self, viewer: Viewer, referral_id: int, reason: Any) -> dict[str, Any]:
        """The coordinator declines, saying why."""
        self._need(viewer, "coordinator")
        row = self._load(viewer, referral_id)
        core.check_action("decline", row["state"], referral_id)
        reason = _free_text(reason, what="reason", max_len=1000, required=True)
        if not self.store.update_referral(
            referral_id,
            {"state": "declined", "decline_reason": reason},
            expect_states=core.FROM_STATES["decline"],
        ):
            raise ConflictError(f"request {referral_id} changed meanwhile: reload it")
        self._audit(viewer, "referral.decline", f"referral:{referral_id}")
        self._step(self.store.get_referral(referral_id), viewer, "declined", {"reason": reason})
        return self._view(self.store.get_referral(referral_id), viewer)

    @_one_at_a_time
    def cancel(self, viewer: Viewer, referral_id: int, reason: Any = None) -> dict[str, Any]:
        """The referrer (or a coordinator) cancels; a booked visit not started is cancelled
        too, and a care plan created for it ends."""
        self._need(viewer, "referrer", "coordinator")
        row = self._load(viewer, referral_id)
        core.check_action("cancel", row["state"], referral_id)
        reason = _free_text(reason, what="reason", max_len=1000, required=False)
        visit_cancelled = False
        if row["visit_id"] is not None:
            try:
                visit = self.store.get_visit(row["visit_id"])
            except NotFoundError:
                visit = None
            if (
                visit is not None
                and visit["status"] in _CANCELLABLE_VISIT
                and visit["day"] >= self.today()
            ):
                changed = self.store.update_visit(row["visit_id"], {"status": "cancelled"})
                visit_cancelled = True
                if self.bus is not None:
                    self.bus.publish("visit", changed)
        if row["care_plan_id"] is not None and row["patient_id"] is not None:
            try:
                care.end_care_plan(
                    self.store,
                    row["patient_id"],
                    row["care_plan_id"],
                    caller=self._caller(viewer, row["structure_id"]),
                    gen=self._generation(),
                )
            except (NotFoundError, ConflictError):
                pass  # already ended
        if not self.store.update_referral(
            referral_id, {"state": "cancelled"}, expect_states=core.FROM_STATES["cancel"]
        ):
            raise ConflictError(f"request {referral_id} changed meanwhile: reload it")
        self._audit(
            viewer,
            "referral.cancel",
            f"referral:{referral_id}",
            {"visit_cancelled": visit_cancelled},
        )
        self._step(
            self.store.get_referral(referral_id),
            viewer,
            "cancelled",
            {"reason": reason, "by": "referrer" if viewer.is_referrer else "coordinator",
             "visit_cancelled": visit_cancelled},
        )  # fmt: skip
        return self._view(self.store.get_referral(referral_id), viewer)

    # -- attachments -----------------------------------------------------------------------------
    def add_attachment(
        self, viewer: Viewer, referral_id: int, *, filename: str | None, content: bytes
    ) -> dict[str, Any]:
        """The referrer attaches a PDF, PNG or JPEG (by content) of at most the setting's
        size; stored encrypted."""
        self._need(viewer, "referrer")
        row = self._load(viewer, referral_id)
        if row["state"] in ("declined", "cancelled"):
            raise ConflictError(
                f"request {referral_id} is {row['state']}: nothing more can be attached"
            )
        if len(content) > self.max_attachment_bytes:
            raise PayloadTooLarge(
                f"the file is larger than {self.max_attachment_bytes // (1024 * 1024)} MB:"
                " scan it at a lower resolution or split it"
            )
        if not content:
            raise ValidationError("the file is empty: choose the document again")
        media_type = sniff(content)
        if len(self.store.list_referral_attachments(referral_id)) >= 10:
            raise ConflictError("a request holds at most 10 attachments")
        stored_name = self.vault.put(referral_id, content)
        attachment = self.store.add_referral_attachment(
            referral_id,
            filename=clean_filename(filename, media_type),
            media_type=media_type,
            size_bytes=len(content),
            stored_name=stored_name,
        )
        self._audit(
            viewer,
            "referral.attach",
            f"referral:{referral_id}",
            {"attachment_id": attachment["id"]},
        )
        self.store.add_referral_event(
            referral_id,
            "attachment",
            actor=viewer.actor,
            actor_role=viewer.role,
            detail={"media_type": media_type, "size_bytes": len(content)},
        )
        return {k: attachment[k] for k in ("id", "filename", "media_type", "size_bytes")}

    def attachment(
        self, viewer: Viewer, referral_id: int, attachment_id: int
    ) -> tuple[dict[str, Any], bytes]:
        """An attachment's record and decrypted content (audited)."""
        self._load(viewer, referral_id)
        found = self.store.get_referral_attachment(referral_id, attachment_id)
        content = self.vault.get(referral_id, found["stored_name"])
        self._audit(
            viewer,
            "referral.attachment_read",
            f"referral:{referral_id}",
            {"attachment_id": attachment_id},
        )
        return found, content

    # -- retention -------------------------------------------------------------------------------
    def purge(self, *, retention_days: float, now: float | None = None) -> dict[str, int]:
        """Storage limitation: the patient's identity and attachments of requests finished more
        than ``retention_days`` ago are erased (the patient's own record follows the patients'
        retention). ``{"requests", "attachments"}`` erased."""
        count, files = self.store.purge_referrals(retention_days=retention_days, now=now)
        removed = sum(self.vault.delete(name) for _, name in files)
        return {"requests": count, "attachments": removed}

    # -- visits done or missed --------------------------------------------------------------------
    def visit_changed(self, visit: Mapping[str, Any]) -> None:
        """A visit changed (bus): a request's visit done or missed is told to its referrer,
        once (a read of the request notices it too, for changes that reach no bus)."""
        if not isinstance(visit, Mapping) or visit.get("status") not in _OUTCOMES:
            return
        found = self.store.referral_ids_for_visits([visit["id"]])
        if visit["id"] in found:
            self._visit_outcome(self.store.get_referral(found[visit["id"]]), visit)

    def _visit_outcome(self, row: dict[str, Any], visit: Mapping[str, Any]) -> None:
        kind = _OUTCOMES[visit["status"]]
        with self._lock:
            if any(e["kind"] == kind for e in self.store.referral_events(row["id"])):
                return
            system = Viewer(user_id=None, role="system", actor="system")
            self._step(row, system, kind, {"day": visit["day"]})


#: A geocoder's match this close to a request's point is where the point came from (m).
_SAME_PLACE_M = 30.0


def _distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Metres between two lon/lat points (equirectangular: short distances)."""
    import math

    lat = math.radians((a[1] + b[1]) / 2)
    dx = math.radians(b[0] - a[0]) * math.cos(lat)
    dy = math.radians(b[1] - a[1])
    return 6_371_000.0 * math.hypot(dx, dy)


def _iso(at_s: float | None, tz: str) -> str | None:
    if at_s is None:
        return None
    from zoneinfo import ZoneInfo

    return dt.datetime.fromtimestamp(at_s, ZoneInfo(tz)).isoformat(timespec="seconds")


def _free_text(value: Any, *, what: str, max_len: int, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be text")
    text = value.strip()
    if not text:
        if required:
            raise ValidationError(f"{what} is required: say why in a few words")
        return None
    if len(text) > max_len:
        raise ValidationError(f"{what} is longer than {max_len} characters: shorten it")
    return text


def _target(value: Any, viewer: Viewer) -> int:
    """The structure a referrer addresses: one of theirs (absent: their only one)."""
    mine = viewer.structure_ids
    if value is None:
        if len(mine) == 1:
            return mine[0]
        if not mine:
            raise PermissionDeniedError(
                "this account belongs to no structure: ask a structure to invite you again"
            )
        raise ValidationError(
            f"give structure_id: you may address several structures ({', '.join(map(str, mine))})"
        )
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("structure_id must be a whole number")
    if value not in mine:
        raise PermissionDeniedError(f"structure {value} did not invite you: choose one of yours")
    return value


def parse_state(value: Any) -> str | None:
    """A state filter (empty: all)."""
    if value in (None, ""):
        return None
    if value not in core.STATES:
        raise ValidationError(f"state must be one of {', '.join(core.STATES)}")
    return str(value)


__all__ = ["Referrals", "SlotTaken", "Viewer", "parse_state"]
