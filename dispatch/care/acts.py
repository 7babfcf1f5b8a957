"""The catalogue of care acts: what a visit is for, the skills it needs, how long it usually
takes, and its French and English names.

The same ids and skills as the patients screen's care plan kinds (static/map/patients.js
``KINDS`` and ``KIND_SKILLS``; tests/test_care_acts.py checks that both agree). A referrer's
request names one act: its slots are searched with the act's skills, the visit booked carries
them, and a care plan created from a recurring request has the act as its kind.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dispatch.errors import ValidationError
from dispatch.optimise.messages import skill_name


@dataclass(frozen=True)
class CareAct:
    """One act: ``id`` (a care plan's kind), the ``skills`` a team needs for it, a typical
    ``duration_min``, the coarse ``care_kind`` of a request for it, and its names."""

    id: str
    skills: tuple[str, ...]
    duration_min: int
    care_kind: str
    label_fr: str
    label_en: str

    def label(self, locale: str | None) -> str:
        return self.label_en if locale == "en" else self.label_fr

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label_fr": self.label_fr,
            "label_en": self.label_en,
            "skills": list(self.skills),
            "duration_min": self.duration_min,
        }


#: The acts, in the order the forms offer them (the durations are the demonstration
#: service's usual ones).
ACTS: tuple[CareAct, ...] = (
    CareAct("hygiene", ("hygiene",), 30, "nursing", "Toilette", "Personal care"),
    CareAct("evening_care", ("hygiene",), 20, "nursing", "Aide au coucher", "Help to bed"),
    CareAct("insulin", ("insulin",), 15, "nursing", "Insuline", "Insulin"),
    CareAct("dressing", ("wound_care",), 20, "nursing", "Pansement", "Wound dressing"),
    CareAct("injection", ("injection",), 10, "nursing", "Injection", "Injection"),
    CareAct("blood_test", ("blood_test",), 10, "nursing", "Prise de sang", "Blood test"),
    CareAct(
        "medication",
        (),
        15,
        "nursing",
        "Aide à la prise de médicaments",
        "Help with medication",
    ),
    CareAct("infusion", ("infusion",), 45, "nursing", "Perfusion", "Infusion"),
    CareAct("assessment", ("assessment",), 30, "nursing", "Bilan de soins", "Nursing assessment"),
    CareAct(
        "palliative_assessment",
        ("palliative",),
        60,
        "palliative",
        "Évaluation palliative",
        "Palliative assessment",
    ),
    CareAct("other", (), 30, "other", "Autre soin", "Other care"),
)

BY_ID: Mapping[str, CareAct] = {a.id: a for a in ACTS}
ACT_IDS: tuple[str, ...] = tuple(a.id for a in ACTS)


def get(act_id: Any) -> CareAct:
    """The act ``act_id``; ValidationError naming the known ones otherwise."""
    if not isinstance(act_id, str) or act_id not in BY_ID:
        raise ValidationError(f"act must be one of {', '.join(ACT_IDS)}")
    return BY_ID[act_id]


def skills_of(act_id: str | None) -> tuple[str, ...]:
    """The skills an act needs (none for an unknown or missing act)."""
    act = BY_ID.get(act_id or "")
    return act.skills if act else ()


def label(act_id: str | None, locale: str | None = "fr") -> str | None:
    act = BY_ID.get(act_id or "")
    return act.label(locale) if act else act_id


def catalogue() -> list[dict[str, Any]]:
    """The acts as the API lists them."""
    return [a.as_dict() for a in ACTS]


def missing_skills(needed: Collection[str], holders: Iterable[Collection[str]]) -> bool:
    """Whether no holder (a team's or a staff member's skills) has all the ``needed``
    skills: then no slot can ever be found for the act in that structure."""
    want = set(needed)
    if not want:
        return False
    return not any(want <= set(h) for h in holders)


def no_skill_reason(act_id: str, skills: Collection[str], locale: str | None) -> str:
    """Why a request for ``act_id`` has no slot when no team of the structure has its skills,
    in words a referrer understands."""
    act = BY_ID[act_id]
    lang = "en" if locale == "en" else "fr"
    names = ", ".join(sorted(skill_name(s, lang) for s in skills))
    if locale == "en":
        return (
            f"no team of this service does « {act.label_en} » (skills needed: {names}): the"
            " service will answer, or address the request to another service"
        )
    return (
        f"aucune équipe de cette structure ne réalise « {act.label_fr} » (compétences"
        f" requises : {names}) : la structure vous répondra, ou adressez la demande à une"
        " autre structure"
    )
