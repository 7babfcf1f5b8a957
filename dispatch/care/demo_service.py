"""A realistic demonstration service: an SSIAD, a nursing centre and a palliative team (pure).

:func:`demo_services` builds, for a territory, three structures with their patients (homes
drawn from the population model, on roads), care plans (:class:`VisitTemplate`), staff with
skills, contracts, rotas and a few absences. Nothing is stored: a later step seeds them.
Every record carries ``demo=True`` and pseudonyms only.

Figures are rules of thumb of French home-care services, not statistics:

- SSIAD (service de soins infirmiers à domicile), 120 places, one patient per place: elderly
  and dependent people (GIR 1-4, mostly over 75), hygiene care every morning (30-45 min),
  an evening visit (coucher) for about a third, insulin twice a day for about 15 %, dressings
  on Monday, Wednesday and Friday for about 20 % (by the service's nurses), a two-person
  transfer (lift, hemiplegia) for a few. An aide-soignante sees 8 to 10 patients in a morning;
  aides work 7 days on and 7 off (split shift, morning and evening) or 4 days a week
  (mornings); nurses 5 days a week on rotating days, so that weekends are covered.
- Centre de soins infirmiers, about 80 patients of all ages: short nursing acts (an injection
  10 min, a fasting blood test 10 min before 09:00, a dressing 20 min every other day or
  Monday-Wednesday-Friday), insulin twice a day for some, an assessment every other week
  (30 min); courses of injections end after 10 to 30 days. Nurses work 5 days a week.
- Équipe mobile de soins palliatifs (EMSP), about 15 patients followed at home: an
  assessment of 60-90 min once or twice a week on weekdays, by two (doctor and nurse) for
  about a third. Staff: a doctor and a psychologist half-time on home visits (the team
  also works in the hospital), nurses 5 weekdays.

Staff numbers follow the workload: the week's hours of visits plus a travel estimate (road
factor 1.3 at 30 km/h between neighbouring homes, 45 km/h from base and back for the mobile
team; 5 min at least) over 80 % of contract hours, the rest being handovers, records and
coordination (an SSIAD's coordinating nurse is not counted: she does not go out).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from dispatch.care.generation import generate
from dispatch.care.recurrence import LocalWindow, StaffWishes, VisitTemplate
from dispatch.care.rota import Absence, CyclePattern, Gender, Shift, Staff, WeeklyPattern, works_on
from dispatch.care.times import parse_day
from dispatch.demo import nearest_addresses
from dispatch.errors import ValidationError

StructureKind = Literal["ssiad", "nursing_centre", "palliative_team"]

#: Patients per structure (an SSIAD's places are about its patients).
SSIAD_PLACES = 120
NURSING_CENTRE_PATIENTS = 80
PALLIATIVE_PATIENTS = 15
#: Share of contract hours spent at patients' homes and on the road.
PRODUCTIVE_SHARE = 0.8
ROAD_FACTOR = 1.3
ROUND_SPEED_KMH = 30.0
MOBILE_SPEED_KMH = 45.0
MIN_TRAVEL_S = 300
#: Radius (km, straight line) of each structure's area around its base.
AREA_KM: dict[StructureKind, float] = {
    "ssiad": 25.0,
    "nursing_centre": 12.0,
    "palliative_team": 45.0,
}
STRUCTURE_NAMES: dict[StructureKind, str] = {
    "ssiad": "SSIAD",
    "nursing_centre": "Centre de soins infirmiers",
    "palliative_team": "Équipe mobile de soins palliatifs",
}

_FEMALE = (
    "Marie", "Julie", "Laetitia", "Nathalie", "Sandrine", "Céline", "Sophie", "Anne",
    "Stéphanie", "Élodie", "Audrey", "Vanessa", "Christelle", "Valérie", "Camille", "Laura",
    "Pauline", "Émilie", "Isabelle", "Caroline", "Marina", "Sylvie", "Chloé", "Lucie",
)  # fmt: skip
_MALE = (
    "Jean", "Paul", "Pierre", "Antoine", "Laurent", "Nicolas", "Julien", "Sébastien",
    "Thomas", "François", "Dominique", "Ange", "Marc", "Olivier", "Xavier", "Mathieu",
)  # fmt: skip
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


@dataclass(frozen=True)
class DemoPatient:
    """A fictitious patient: pseudonym, home on a road of the territory, age and sex."""

    patient_id: int
    structure: StructureKind
    pseudonym: str
    name: str
    sex: Gender
    birth_year: int
    lon: float
    lat: float
    commune: str | None
    address: str | None
    phone: str = "00 00 00 00 00 (démo)"
    demo: bool = True

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class DemoCarePlan:
    """A care-plan template with its French label (what the act is)."""

    template: VisitTemplate
    label: str
    demo: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The template's fields (read back by ``template_from_dict``), label and flag."""
        return {**self.template.to_dict(), "label": self.label, "demo": self.demo}


@dataclass(frozen=True)
class DemoStaff:
    """A member of staff with their role (``aide``, ``nurse``, ``doctor``, ``psychologist``)."""

    staff: Staff
    role: str
    demo: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The staff fields (read back by ``staff_from_dict``), role and flag."""
        return {**self.staff.to_dict(), "role": self.role, "demo": self.demo}


@dataclass(frozen=True)
class DemoStructure:
    """One structure: its base, patients, care plans and staff."""

    kind: StructureKind
    name: str
    base_name: str
    base_lon: float
    base_lat: float
    commune: str
    places: int
    patients: tuple[DemoPatient, ...]
    care_plans: tuple[DemoCarePlan, ...]
    staff: tuple[DemoStaff, ...]
    demo: bool = True

    @property
    def templates(self) -> list[VisitTemplate]:
        """The care-plan templates, ready for :func:`dispatch.care.generation.generate`."""
        return [p.template for p in self.care_plans]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the structure's fields, its patients, care plans and staff."""
        return {
            "kind": self.kind,
            "name": self.name,
            "base_name": self.base_name,
            "base_lon": self.base_lon,
            "base_lat": self.base_lat,
            "commune": self.commune,
            "places": self.places,
            "demo": self.demo,
            "patients": [p.to_dict() for p in self.patients],
            "care_plans": [c.to_dict() for c in self.care_plans],
            "staff": [m.to_dict() for m in self.staff],
        }


@dataclass(frozen=True)
class WeekLoad:
    """A structure's week: visits, staff-hours at homes and on the road, staff hours."""

    kind: StructureKind
    week_start: dt.date
    visits: int
    visit_h: float
    travel_h: float
    contract_h: float
    rostered_h: float

    @property
    def need_h(self) -> float:
        """Staff-hours of visits and travel (a two-person visit counts twice)."""
        return self.visit_h + self.travel_h


@dataclass(frozen=True)
class DemoServices:
    """The demonstration service of a territory: its structures, built from ``seed``."""

    territory_id: str
    seed: int
    start_day: dt.date
    structures: tuple[DemoStructure, ...]
    demo: bool = True
    _travel_s: dict[int, int] = field(default_factory=dict, repr=False, compare=False)

    def structure(self, kind: StructureKind) -> DemoStructure:
        """The structure of ``kind``."""
        for s in self.structures:
            if s.kind == kind:
                return s
        raise KeyError(kind)

    @property
    def patients(self) -> list[DemoPatient]:
        return [p for s in self.structures for p in s.patients]

    @property
    def templates(self) -> list[VisitTemplate]:
        return [t for s in self.structures for t in s.templates]

    @property
    def staff(self) -> list[Staff]:
        return [m.staff for s in self.structures for m in s.staff]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: territory, seed, start day and the structures."""
        return {
            "territory": self.territory_id,
            "seed": self.seed,
            "start_day": self.start_day.isoformat(),
            "demo": self.demo,
            "structures": [s.to_dict() for s in self.structures],
        }

    def travel_s(self, patient_id: int) -> int:
        """Estimated road time (s) a visit to ``patient_id`` adds to a round."""
        return self._travel_s[patient_id]

    def week_load(self, kind: StructureKind, week_start: dt.date | None = None) -> WeekLoad:
        """Visits and hours of the 7 days from ``week_start`` (default ``start_day``)."""
        return _week_load(self.structure(kind), week_start or self.start_day, self._travel_s)


def _week_load(structure: DemoStructure, week_start: dt.date, travel: dict[int, int]) -> WeekLoad:
    plan = generate(structure.templates, (), week_start, 7)
    visit_s = sum(o.duration_s * o.staff_count for o in plan.create)
    travel_s = sum(travel[o.patient_id] * o.staff_count for o in plan.create)
    rostered_s = 0
    for member in structure.staff:
        for i in range(7):
            day = week_start + dt.timedelta(days=i)
            shift = works_on(member.staff, day)
            rostered_s += shift.work_s_on(day, "Europe/Paris") if shift else 0
    return WeekLoad(
        kind=structure.kind,
        week_start=week_start,
        visits=len(plan.create),
        visit_h=visit_s / 3600,
        travel_h=travel_s / 3600,
        contract_h=sum(m.staff.contract_h_per_week for m in structure.staff),
        rostered_h=rostered_s / 3600,
    )


# -- homes ---------------------------------------------------------------------------------


def _km(lons: np.ndarray, lats: np.ndarray, lon: float, lat: float) -> np.ndarray:
    x = (lons - lon) * 111.32 * math.cos(math.radians(lat))
    y = (lats - lat) * 111.32
    return np.asarray(np.hypot(x, y))


def _communes(territory: Any, lons: np.ndarray, lats: np.ndarray) -> list[str | None]:
    from scipy.spatial import cKDTree

    graph = territory.graph
    scale = math.cos(math.radians(float(np.mean(graph.node_lat))))
    tree = cKDTree(np.column_stack([graph.node_lon * scale, graph.node_lat]))
    _, nodes = tree.query(np.column_stack([lons * scale, lats]))
    out: list[str | None] = []
    for node in np.atleast_1d(nodes):
        ci = int(territory.node_commune[int(node)])
        out.append(territory.communes[ci].name if ci >= 0 else None)
    return out


def _bases(territory: Any) -> dict[StructureKind, Any]:
    """Each structure's base: the SSIAD and the palliative team at the base of the most
    populated commune (a hospital town), the nursing centre at a health centre if any."""
    if not territory.bases:
        raise ValidationError(
            f"territory {territory.id} has no bases: add data/territories/{territory.id}/bases.csv"
        )
    population = {c.code_insee: c.population for c in territory.communes}

    def size(base: Any) -> int:
        return int(population.get(base.commune, 0))

    main = max(territory.bases, key=size)
    hospitals = [b for b in territory.bases if b.kind == "hospital"] or [main]
    centres = [b for b in territory.bases if b.kind == "health_centre"]
    return {
        "ssiad": main,
        "nursing_centre": max(centres, key=size) if centres else main,
        "palliative_team": max(hospitals, key=size),
    }


def _homes(points: np.ndarray, taken: np.ndarray, base: Any, n: int, radius_km: float) -> list[int]:
    """``n`` untaken points within ``radius_km`` of the base, in draw order (population
    weighted); the nearest others when the area holds too few."""
    dist = _km(points[:, 0], points[:, 1], base.lon, base.lat)
    inside = [int(i) for i in np.flatnonzero((dist <= radius_km) & ~taken)]
    picked = inside[:n]
    if len(picked) < n:
        rest = [int(i) for i in np.argsort(dist) if not taken[i] and int(i) not in picked]
        picked += rest[: n - len(picked)]
    taken[picked] = True
    return picked


# -- builder -------------------------------------------------------------------------------


def _w(*texts: str) -> tuple[LocalWindow, ...]:
    return tuple(LocalWindow.parse(t) for t in texts)


class _Builder:
    def __init__(self, territory: Any, seed: int, start_day: dt.date) -> None:
        self.territory = territory
        self.rng = np.random.default_rng(seed)
        self.start = start_day
        self.next_patient = 1
        self.next_template = 1
        self.next_staff = 1
        self.pseudonyms: set[str] = set()
        self.staff_names: set[str] = set()

    def pseudonym(self) -> str:
        while True:
            p = f"Patient {int(self.rng.integers(0, 16**4)):04X}"
            if p not in self.pseudonyms:
                self.pseudonyms.add(p)
                return p

    def template(
        self,
        plans: list[DemoCarePlan],
        patient: DemoPatient,
        label: str,
        kind: str,
        minutes: int,
        windows: tuple[LocalWindow, ...],
        rrule: str,
        **extra: Any,
    ) -> None:
        template = VisitTemplate(
            template_id=self.next_template,
            patient_id=patient.patient_id,
            kind=kind,
            duration_s=minutes * 60,
            windows=windows,
            rrule=rrule,
            start_day=extra.pop("start_day", self.start),
            **extra,
        )
        self.next_template += 1
        plans.append(DemoCarePlan(template, label))

    def staff(
        self,
        role: str,
        hours: float,
        rota: CyclePattern | WeeklyPattern,
        skills: tuple[str, ...],
        female_share: float,
    ) -> DemoStaff:
        gender: Gender = "female" if self.rng.random() < female_share else "male"
        names = _FEMALE if gender == "female" else _MALE
        while True:
            first = names[int(self.rng.integers(len(names)))]
            name = f"{first} {chr(65 + int(self.rng.integers(26)))}. (démo)"
            if name not in self.staff_names:
                self.staff_names.add(name)
                break
        member = Staff(
            staff_id=self.next_staff,
            name=name,
            contract_h_per_week=hours,
            rotas=(rota,),
            skills=skills,
            gender=gender,
        )
        self.next_staff += 1
        return DemoStaff(member, role)


def _rotating_days(index: int, pattern: tuple[int, ...]) -> str:
    """Weekdays of ``pattern`` turned by ``index``: over 7 staff, each day is covered alike."""
    return ",".join(_WEEKDAYS[(d + index) % 7] for d in sorted(pattern))


def demo_services(territory: Any, *, seed: int = 0, start_day: dt.date | str) -> DemoServices:
    """The demonstration SSIAD, nursing centre and palliative team of ``territory``.

    Parameters
    ----------
    territory
        A built :class:`~dispatch.territory.Territory` (bases, population model, roads).
    seed
        The same seed (and territory and day) gives the same service.
    start_day
        First day of the care plans and the rotas' reference (a Monday reads best).

    Returns
    -------
    DemoServices
        Patients, care plans and staff per structure; ids are unique across structures
        (patients, templates and staff each numbered from 1).
    """
    from dispatch.territory import sample_points

    start = parse_day(start_day, what="start_day")
    builder = _Builder(territory, seed, start)
    bases = _bases(territory)
    counts: dict[StructureKind, int] = {
        "ssiad": SSIAD_PLACES,
        "nursing_centre": NURSING_CENTRE_PATIENTS,
        "palliative_team": PALLIATIVE_PATIENTS,
    }
    points = np.asarray(sample_points(territory, 6000, seed=seed))
    taken = np.zeros(len(points), dtype=bool)
    travel: dict[int, int] = {}
    structures = []
    for kind in ("ssiad", "nursing_centre", "palliative_team"):
        base = bases[kind]
        idx = _homes(points, taken, base, counts[kind], AREA_KM[kind])
        lons, lats = points[idx, 0], points[idx, 1]
        patients = _patients(builder, kind, territory, lons, lats)
        travel.update(_travel(kind, patients, base))
        plans = _care_plans(builder, kind, patients)
        staff = _staff_for(builder, kind, plans, travel)
        commune = next(
            (c.name for c in territory.communes if c.code_insee == base.commune), base.commune
        )
        structures.append(
            DemoStructure(
                kind=kind,
                name=f"{STRUCTURE_NAMES[kind]} de {commune} (démo)",
                base_name=base.name,
                base_lon=base.lon,
                base_lat=base.lat,
                commune=commune,
                places=counts[kind],
                patients=tuple(patients),
                care_plans=tuple(plans),
                staff=tuple(staff),
            )
        )
    return DemoServices(territory.id, seed, start, tuple(structures), _travel_s=travel)


def _patients(
    b: _Builder, kind: StructureKind, territory: Any, lons: np.ndarray, lats: np.ndarray
) -> list[DemoPatient]:
    addresses = nearest_addresses(territory, lons, lats)
    communes = _communes(territory, lons, lats)
    # Ages: SSIAD patients are mostly over 75; the centre's patients are of all adult ages.
    age_lo, age_hi = {"ssiad": (65, 98), "nursing_centre": (25, 95), "palliative_team": (45, 95)}[
        kind
    ]
    female_share = {"ssiad": 0.65, "nursing_centre": 0.55, "palliative_team": 0.5}[kind]
    out = []
    for lon, lat, address, commune in zip(lons, lats, addresses, communes, strict=True):
        age = int(
            b.rng.triangular(
                age_lo, age_hi - 12 if kind == "ssiad" else (age_lo + age_hi) / 2 + 10, age_hi
            )
        )
        pseudonym = b.pseudonym()
        out.append(
            DemoPatient(
                patient_id=b.next_patient,
                structure=kind,
                pseudonym=pseudonym,
                name=f"DÉMO – patient fictif {pseudonym[-4:]}",
                sex="female" if b.rng.random() < female_share else "male",
                birth_year=b.start.year - age,
                lon=round(float(lon), 6),
                lat=round(float(lat), 6),
                commune=commune,
                address=address,
            )
        )
        b.next_patient += 1
    return out


def _travel(kind: StructureKind, patients: list[DemoPatient], base: Any) -> dict[int, int]:
    """Road time (s) each visit adds: to the nearest neighbour's home on a round, from the
    base and back for the mobile team (it goes out for one or two patients)."""
    lons = np.array([p.lon for p in patients])
    lats = np.array([p.lat for p in patients])
    out: dict[int, int] = {}
    for i, p in enumerate(patients):
        if kind == "palliative_team":
            km = 2 * float(_km(lons[i : i + 1], lats[i : i + 1], base.lon, base.lat)[0])
            speed = MOBILE_SPEED_KMH
        else:
            d = _km(lons, lats, p.lon, p.lat)
            d[i] = np.inf
            km = float(d.min()) if len(d) > 1 else 5.0
            speed = ROUND_SPEED_KMH
        out[p.patient_id] = max(MIN_TRAVEL_S, round(km * ROAD_FACTOR / speed * 3600))
    return out


def _care_plans(
    b: _Builder, kind: StructureKind, patients: list[DemoPatient]
) -> list[DemoCarePlan]:
    plans: list[DemoCarePlan] = []
    rng = b.rng
    if kind == "ssiad":
        mornings = ("07:30-09:30", "08:30-10:30", "09:30-11:30")
        for i, p in enumerate(patients):
            heavy = rng.random() < 0.04
            wishes = (
                StaffWishes(gender="female")
                if p.sex == "female" and rng.random() < 0.08
                else StaffWishes()
            )
            b.template(
                plans, p,
                "Transfert lourd et toilette (à deux)" if heavy else "Aide à la toilette",
                "hygiene", 45 if heavy else int(rng.choice([30, 30, 35, 40, 45])),
                _w(mornings[i % 3]), "FREQ=DAILY",
                skills=("hygiene",), staff_count=2 if heavy else 1, wishes=wishes,
            )  # fmt: skip
            if heavy or rng.random() < 0.3:
                b.template(
                    plans, p, "Aide au coucher", "evening_care", 20 if not heavy else 30,
                    _w("17:30-19:30"), "FREQ=DAILY", skills=("hygiene",),
                    staff_count=2 if heavy else 1, wishes=wishes,
                )  # fmt: skip
            if rng.random() < 0.15:
                b.template(
                    plans, p, "Insuline matin et soir", "insulin", 15,
                    _w("07:30-09:00", "18:00-19:30"), "FREQ=DAILY",
                    skills=("insulin",), priority=3,
                )  # fmt: skip
            if rng.random() < 0.2:
                b.template(
                    plans, p, "Pansement", "dressing", int(rng.choice([20, 25, 30])),
                    _w("09:00-12:00"), "FREQ=WEEKLY;BYDAY=MO,WE,FR",
                    skills=("wound_care",), priority=2,
                )  # fmt: skip
    elif kind == "nursing_centre":
        for p in patients:
            acts = 0
            if rng.random() < 0.25:
                b.template(
                    plans, p, "Insuline matin et soir", "insulin", 10,
                    _w("07:00-09:00", "18:00-20:00"), "FREQ=DAILY",
                    skills=("insulin",), priority=3,
                )  # fmt: skip
                acts += 1
            if rng.random() < 0.3:
                rule = (
                    "FREQ=WEEKLY;BYDAY=MO,WE,FR" if rng.random() < 0.5 else "FREQ=DAILY;INTERVAL=2"
                )
                b.template(
                    plans, p, "Pansement", "dressing", int(rng.choice([15, 20, 25])),
                    _w("08:00-12:00"), rule, skills=("wound_care",), priority=2,
                )  # fmt: skip
                acts += 1
            if rng.random() < 0.25:
                b.template(
                    plans, p, "Injection (anticoagulant)", "injection", 10,
                    _w("08:00-11:00"), "FREQ=DAILY", skills=("injection",), priority=2,
                    end_day=b.start + dt.timedelta(days=int(rng.integers(10, 31))),
                )  # fmt: skip
                acts += 1
            if acts == 0 or rng.random() < 0.2:
                day = _WEEKDAYS[int(rng.integers(0, 5))]
                b.template(
                    plans, p, "Prise de sang à jeun", "blood_test", 10,
                    _w("07:00-09:00"), f"FREQ=WEEKLY;BYDAY={day}",
                    skills=("blood_test",), priority=2,
                )  # fmt: skip
            if rng.random() < 0.35:
                # Every other week from a weekday of the first two weeks.
                weekdays = [b.start + dt.timedelta(days=i) for i in range(14)]
                weekdays = [d for d in weekdays if d.weekday() < 5]
                first = weekdays[int(rng.integers(len(weekdays)))]
                b.template(
                    plans, p, "Bilan de soins infirmiers", "assessment", 30,
                    _w("10:00-12:00", "14:00-17:00")[int(rng.integers(2)) :][:1],
                    f"FREQ=WEEKLY;INTERVAL=2;BYDAY={_WEEKDAYS[first.weekday()]}",
                    skills=("assessment",), start_day=first,
                )  # fmt: skip
    else:
        for p in patients:
            twice = rng.random() < 0.4
            days = "TU,FR" if twice else _WEEKDAYS[int(rng.integers(0, 5))]
            pair = rng.random() < 0.35
            b.template(
                plans, p,
                "Évaluation palliative (médecin et infirmier)" if pair else "Évaluation palliative",
                "palliative_assessment", int(rng.choice([60, 75, 90])),
                _w(("09:30-12:00", "14:00-16:30")[int(rng.integers(2))]),
                f"FREQ=WEEKLY;BYDAY={days}", skills=("palliative",), priority=2,
                staff_count=2 if pair else 1,
            )  # fmt: skip
    return plans


def _need_h(
    plans: list[DemoCarePlan], kinds: set[str], travel: dict[int, int], start: dt.date
) -> float:
    """Staff-hours a week of the plans of ``kinds``, visits and travel (two-person twice)."""
    chosen = [p.template for p in plans if p.template.kind in kinds]
    if not chosen:
        return 0.0
    # Two weeks halved: an assessment every other week counts by half.
    plan = generate(chosen, (), start, 14)
    total = sum((o.duration_s + travel[o.patient_id]) * o.staff_count for o in plan.create)
    return total / 2 / 3600


def _headcount(need_h: float, hours: float) -> int:
    return max(1, math.ceil(need_h / (hours * PRODUCTIVE_SHARE)))


def _staff_for(
    b: _Builder, kind: StructureKind, plans: list[DemoCarePlan], travel: dict[int, int]
) -> list[DemoStaff]:
    start = b.start
    out: list[DemoStaff] = []
    nurse_shift = Shift.parse("07:00-19:30", breaks=("11:30-17:00",))  # 7 h
    if kind == "ssiad":
        aide_h = _need_h(plans, {"hygiene", "evening_care"}, travel, start)
        nurse_h = _need_h(plans, {"insulin", "dressing"}, travel, start)
        # Half the aides on 7 on / 7 off with a split shift (8.5 h a day, 29.75 h a week on
        # average), half on 4 mornings a week (7 h, 28 h a week).
        split = Shift.parse("07:00-20:00", breaks=("12:30-17:00",))
        morning = Shift.parse("07:00-14:00")
        per_pair = 29.75 + 28.0
        n = max(2, math.ceil(aide_h / (per_pair / 2 * PRODUCTIVE_SHARE)))
        for i in range(n):
            if i % 2 == 0:
                phase = start - dt.timedelta(days=7 * ((i // 2) % 2 + 1))
                rota: CyclePattern | WeeklyPattern = CyclePattern.from_counts(phase, (7, 7), split)
                out.append(b.staff("aide", 29.75, rota, ("hygiene",), 0.9))
            else:
                days = _rotating_days(i // 2, (0, 1, 3, 5))
                rota = WeeklyPattern.parse(start, days, morning)
                out.append(b.staff("aide", 28.0, rota, ("hygiene",), 0.9))
        for i in range(_headcount(nurse_h, 35.0)):
            rota = WeeklyPattern.parse(start, _rotating_days(i, (0, 1, 2, 3, 4)), nurse_shift)
            out.append(b.staff("nurse", 35.0, rota, ("hygiene", "insulin", "wound_care"), 0.85))
    elif kind == "nursing_centre":
        need = _need_h(plans, {p.template.kind for p in plans}, travel, start)
        for i in range(_headcount(need, 35.0)):
            rota = WeeklyPattern.parse(start, _rotating_days(i, (0, 1, 2, 3, 4)), nurse_shift)
            acts = ("assessment", "blood_test", "injection", "insulin", "wound_care")
            out.append(b.staff("nurse", 35.0, rota, acts, 0.8))
    else:
        need = _need_h(plans, {"palliative_assessment"}, travel, start)
        day = Shift.parse("09:00-17:00", breaks=("12:30-13:30",))  # 7 h
        weekdays = "MO,TU,WE,TH,FR"
        # A doctor and a psychologist half-time on home visits (3 days of 6 h), nurses for the
        # rest, at least two so that a visit by two is possible any weekday.
        half = Shift.parse("09:00-15:30", breaks=("12:30-13:00",))
        nurses = max(2, math.ceil((need - 18.0 * PRODUCTIVE_SHARE) / (35.0 * PRODUCTIVE_SHARE)))
        for role, hours in [("doctor", 18.0), *[("nurse", 35.0)] * nurses, ("psychologist", 18.0)]:
            skills: tuple[str, ...] = {
                "doctor": ("medical", "pain_management", "palliative"),
                "nurse": ("injection", "pain_management", "palliative"),
                "psychologist": ("psychology",),
            }[role]
            if hours < 35.0:
                rota = WeeklyPattern.parse(start, "MO,TU,TH", half)
            else:
                rota = WeeklyPattern.parse(start, weekdays, day)
            out.append(b.staff(role, hours, rota, skills, 0.7))
    return _with_absences(b, out)


def _with_absences(b: _Builder, staff: list[DemoStaff]) -> list[DemoStaff]:
    """A few absences in the first two weeks: leave, a sick spell, a training day."""
    rng = b.rng
    picks = rng.choice(len(staff), size=min(len(staff), max(1, len(staff) // 8)), replace=False)
    kinds = ("leave", "sickness", "training")
    out = list(staff)
    for n, i in enumerate(sorted(int(i) for i in picks)):
        kind = kinds[n % 3]
        first = b.start + dt.timedelta(days=int(rng.integers(0, 10)))
        length = {"leave": 5, "sickness": int(rng.integers(2, 4)), "training": 1}[kind]
        absence = Absence(kind, first, first + dt.timedelta(days=length - 1))  # type: ignore[arg-type]
        member = out[i]
        staff_record = Staff(
            staff_id=member.staff.staff_id,
            name=member.staff.name,
            contract_h_per_week=member.staff.contract_h_per_week,
            rotas=member.staff.rotas,
            absences=(absence,),
            skills=member.staff.skills,
            gender=member.staff.gender,
        )
        out[i] = DemoStaff(staff_record, member.role)
    return out
