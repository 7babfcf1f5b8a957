"""Demo data: teams at a territory's real bases and a realistic day of home-care visits."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from dispatch.errors import ConflictError, ValidationError
from dispatch.store import Store
from dispatch.store.models import local_today

#: Team kinds created at each kind of base (hospitals host every mobile team).
TEAMS_BY_BASE_KIND: dict[str, tuple[str, ...]] = {
    "hospital": ("nursing", "palliative", "geriatric"),
    "health_centre": ("nursing",),
}
TEAM_LABEL = {
    "nursing": "Soins infirmiers",
    "palliative": "Équipe mobile de soins palliatifs",
    "geriatric": "Équipe mobile de gériatrie",
}
TEAM_SKILLS = {
    "nursing": ["injection", "insulin", "wound_care"],
    "palliative": ["injection", "pain_management", "palliative"],
    "geriatric": ["geriatric_assessment"],
}
TEAM_SHIFT = {
    "nursing": ("07:00", "19:30"),
    "palliative": ("08:30", "18:00"),
    "geriatric": ("08:30", "17:30"),
}
TEAM_COLORS = [
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#17becf",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
]
#: Visits per team and day (a home-nursing round is long; mobile teams see few patients).
VISITS_PER_TEAM = {"nursing": 14, "palliative": 4, "geriatric": 4}


@dataclass(frozen=True)
class CareAct:
    """A kind of visit: duration range (minutes), windows, skills, priority, share of visits."""

    label: str
    care_kind: str
    minutes: tuple[int, int]
    windows: tuple[tuple[tuple[str, str], ...], ...]
    skills: tuple[str, ...]
    priority: int
    weight: float


#: Typical acts per team kind (soins infirmiers à domicile, palliatif, gériatrie).
ACTS: dict[str, tuple[CareAct, ...]] = {
    "nursing": (
        CareAct(
            "Insuline matin et soir",
            "nursing",
            (15, 20),
            ((("07:00", "09:00"),), (("17:30", "19:00"),)),
            ("insulin",),
            3,
            0.30,
        ),
        CareAct(
            "Pansement", "nursing", (20, 30), ((("08:00", "11:30"),),), ("wound_care",), 1, 0.25
        ),
        CareAct(
            "Injection / prise de sang",
            "nursing",
            (15, 20),
            ((("07:00", "10:00"),),),
            ("injection",),
            2,
            0.20,
        ),
        CareAct("Aide à la toilette", "nursing", (25, 30), ((("07:30", "10:30"),),), (), 1, 0.15),
        CareAct(
            "Surveillance et traitement",
            "nursing",
            (15, 25),
            ((("08:00", "12:00"), ("14:00", "17:00")),),
            (),
            0,
            0.10,
        ),
    ),
    "palliative": (
        CareAct(
            "Soins palliatifs : évaluation douleur",
            "palliative",
            (45, 90),
            ((("09:00", "12:00"),), (("14:00", "17:00"),)),
            ("palliative",),
            3,
            0.6,
        ),
        CareAct(
            "Soins palliatifs : accompagnement famille",
            "palliative",
            (60, 90),
            ((("10:00", "12:30"), ("14:00", "17:00")),),
            ("palliative",),
            2,
            0.4,
        ),
    ),
    "geriatric": (
        CareAct(
            "Évaluation gériatrique standardisée",
            "geriatric",
            (60, 90),
            ((("09:00", "12:00"),), (("14:00", "16:30"),)),
            ("geriatric_assessment",),
            1,
            0.7,
        ),
        CareAct(
            "Réévaluation après hospitalisation",
            "geriatric",
            (60, 75),
            ((("09:30", "12:00"), ("14:00", "16:30")),),
            ("geriatric_assessment",),
            2,
            0.3,
        ),
    ),
}


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def _distance_m(lon1: np.ndarray, lat1: np.ndarray, lon2: float, lat2: float) -> np.ndarray:
    """Equirectangular distance (good to a few metres at these ranges)."""
    k = 111_320.0
    x = (lon1 - lon2) * k * math.cos(math.radians(lat2))
    y = (lat1 - lat2) * k
    return np.hypot(x, y)


def _nearest_node(territory: Any, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    from scipy.spatial import cKDTree

    graph = territory.graph
    scale = math.cos(math.radians(float(np.mean(graph.node_lat))))
    tree = cKDTree(np.column_stack([graph.node_lon * scale, graph.node_lat]))
    _, idx = tree.query(np.column_stack([lons * scale, lats]))
    return np.asarray(idx)


def nearest_addresses(territory: Any, lons: np.ndarray, lats: np.ndarray) -> list[str | None]:
    """The nearest OSM address within 150 m of each point (None where there is none)."""
    if not territory.addresses or not len(lons):
        return [None] * len(lons)
    from scipy.spatial import cKDTree

    scale = math.cos(math.radians(float(np.mean(lats))))
    pts = np.array([(a[2] * scale, a[3]) for a in territory.addresses])
    dist, idx = cKDTree(pts).query(np.column_stack([lons * scale, lats]))
    out: list[str | None] = []
    for d, i in zip(dist, idx, strict=True):
        number, street = territory.addresses[i][0], territory.addresses[i][1]
        out.append(f"{number} {street}".strip() if d * 111_320 < 150 else None)
    return out


def seed_demo(
    store: Store,
    territory: Any,
    *,
    day: str | dt.date | None = None,
    seed: int = 0,
    replace: bool = False,
    scale: float = 1.0,
) -> dict[str, Any]:
    """Create demo teams at the territory's bases and one day of visits around them.

    Parameters
    ----------
    store
        Where to write (every row is flagged ``demo``).
    territory
        A built :class:`~dispatch.territory.Territory` (its ``bases`` and population model).
    day
        The day of the visits (default: today).
    seed
        Random seed: the same seed gives the same demo.
    replace
        Delete earlier demo rows first (otherwise refuse when demo teams exist).
    scale
        Multiplies the number of visits per team (0.5 for a lighter day).

    Returns
    -------
    dict
        ``{"teams": n, "visits": n, "day": "YYYY-MM-DD", "by_kind": {...}}``.
    """
    from dispatch.territory import sample_points

    day_s = day if isinstance(day, str) else (day.isoformat() if day else local_today())
    if scale <= 0:
        raise ValidationError("scale must be positive")
    if not territory.bases:
        raise ValidationError(
            f"territory {territory.id} has no bases: add data/territories/{territory.id}/bases.csv"
        )
    existing = [t for t in store.list_teams(limit=1000) if t["demo"]]
    if existing:
        if not replace:
            raise ConflictError(
                f"{len(existing)} demo teams already exist: run `dispatch demo clear` first"
                " or pass --replace"
            )
        store.clear_demo()
    rng = np.random.default_rng(seed)

    team_specs = []
    for base in territory.bases:
        for kind in TEAMS_BY_BASE_KIND.get(base.kind, ("nursing",)):
            team_specs.append((base, kind))
    need = sum(max(1, round(VISITS_PER_TEAM[k] * scale)) for _, k in team_specs)
    # Draw plenty of visit-like points from the population model, then give each team the
    # points of its own sector (nearest base), so rounds stay local as they are in reality.
    points = np.asarray(sample_points(territory, max(need * 4, 200), seed=seed))
    lons, lats = points[:, 0], points[:, 1]
    base_dist = np.column_stack([_distance_m(lons, lats, b.lon, b.lat) for b in territory.bases])
    nearest_base = np.argmin(base_dist, axis=1)
    nodes = _nearest_node(territory, lons, lats)
    commune_idx = np.asarray(territory.node_commune)[nodes]
    addresses = nearest_addresses(territory, lons, lats)
    taken = np.zeros(len(points), dtype=bool)

    teams = []
    for i, (base, kind) in enumerate(team_specs):
        start, end = TEAM_SHIFT[kind]
        suffix = base.commune if isinstance(base.commune, str) else ""
        commune_name = next((c.name for c in territory.communes if c.code_insee == suffix), suffix)
        name = f"{TEAM_LABEL[kind]} – {commune_name or base.name} (démo)"
        team = store.add_team(
            {
                "name": name[:80],
                "kind": kind,
                "skills": TEAM_SKILLS[kind],
                "base_name": base.name,
                "base_lon": base.lon,
                "base_lat": base.lat,
                "shift_start": start,
                "shift_end": end,
                "vehicle_profile": "car",
                "color": TEAM_COLORS[i % len(TEAM_COLORS)],
            },
            demo=True,
        )
        teams.append((team, territory.bases.index(base), kind))

    visits: list[dict[str, Any]] = []
    used_pseudonyms: set[str] = set()
    for team, base_index, kind in teams:
        count = max(1, round(VISITS_PER_TEAM[kind] * scale))
        # Mobile palliative and geriatric teams cover the whole bassin from their hospital;
        # nursing rounds stay in their sector.
        order = np.argsort(
            base_dist[:, base_index]
            + np.where(nearest_base == base_index, 0, 5e4 if kind == "nursing" else 0)
        )
        picked = [int(j) for j in order if not taken[j]][:count]
        acts = ACTS[kind]
        weights = np.array([a.weight for a in acts])
        for j in picked:
            taken[j] = True
            act = acts[int(rng.choice(len(acts), p=weights / weights.sum()))]
            while True:
                pseudonym = f"Patient {int(rng.integers(0, 16**4)):04X}"
                if pseudonym not in used_pseudonyms:
                    used_pseudonyms.add(pseudonym)
                    break
            ci = int(commune_idx[j])
            commune = territory.communes[ci].name if ci >= 0 else None
            # One visit per window option: insulin twice a day is two visits to one patient.
            options = (
                act.windows
                if len(act.windows) > 1 and act.skills == ("insulin",)
                else (act.windows[int(rng.integers(len(act.windows)))],)
            )
            for windows in options:
                low, high = act.minutes
                minutes = int(rng.integers(low // 5, high // 5 + 1)) * 5
                visits.append(
                    {
                        "day": day_s,
                        "pseudonym": pseudonym,
                        "care_kind": act.care_kind,
                        "address": addresses[j],
                        "commune": commune,
                        "lon": round(float(lons[j]), 6),
                        "lat": round(float(lats[j]), 6),
                        "duration_s": minutes * 60,
                        "windows": [list(w) for w in windows],
                        "skills": list(act.skills),
                        "priority": act.priority,
                        "preferred_team_id": team["id"],
                        "team_id": team["id"],
                        "protected": {
                            "name": f"DÉMO – patient fictif {pseudonym[-4:]}",
                            "phone": "00 00 00 00 00 (démo)",
                            "notes": f"Données de démonstration, pas un vrai patient. Acte : {act.label}.",
                        },
                    }
                )
    visits.sort(key=lambda v: (_minutes(v["windows"][0][0]), v["pseudonym"]))
    created = store.add_visits(visits, demo=True)
    store.audit(
        "cli",
        "demo.seed",
        detail={
            "territory": territory.id,
            "day": day_s,
            "teams": len(teams),
            "visits": len(created),
        },
    )
    by_kind: dict[str, int] = {}
    for v in created:
        by_kind[v["care_kind"]] = by_kind.get(v["care_kind"], 0) + 1
    return {
        "territory": territory.id,
        "day": day_s,
        "teams": len(teams),
        "visits": len(created),
        "by_kind": by_kind,
    }


def plan_demo_day(
    store: Store,
    territory: Any,
    *,
    router: Any = None,
    day: str | None = None,
    time_limit_s: float = 5.0,
    publish: bool = True,
    locale: str = "fr",
) -> dict[str, Any]:
    """Plan the demo day with the real optimiser and publish it (as `dispatch plan --publish`).

    Parameters
    ----------
    store
        The store holding the seeded demo teams and visits.
    territory
        The territory they are on (its router gives the road times).
    router
        A ready :class:`~dispatch.routing.Router` (default: ``Router.for_territory``).
    day
        The day to plan (default: today in Paris).
    time_limit_s
        Solver budget; a few seconds keeps the first start quick.
    publish
        Publish the plan (so the map draws the rounds), else keep it as a draft.
    locale
        Language of the reasons given for visits left out.

    Returns
    -------
    dict
        ``{"plan_id", "day", "routes": n teams with stops, "stops": n, "unassigned": n}``.
    """
    from dispatch.rounds import Rounds
    from dispatch.routing import Router

    day_s = day or local_today()
    router = router or Router.for_territory(territory)
    rounds = Rounds(store, lambda: (router, territory.id))
    proposal = rounds.optimise(
        day_s, by="demo", time_limit_s=time_limit_s, locale=locale, whole_day=True, demo=True
    )
    if publish:
        rounds.apply(
            proposal["plan_id"],
            by="demo",
            confirm_dropped=[d["visit_id"] for d in proposal["dropped"]],
            locale=locale,
        )
    routes = [
        r for r in proposal["plan"]["routes"] if any(s["kind"] == "visit" for s in r["stops"])
    ]
    return {
        "plan_id": proposal["plan_id"],
        "day": day_s,
        "routes": len(routes),
        "stops": sum(1 for r in routes for s in r["stops"] if s["kind"] == "visit"),
        "unassigned": len(proposal["plan"]["unassigned"]),
    }


#: Staff job of each demonstration role (dispatch.care.demo_service).
DEMO_JOBS = {"aide": "care_aide", "nurse": "nurse", "doctor": "doctor", "psychologist": "other"}
#: Days generated when the demonstration service is seeded (the server keeps them coming).
DEMO_HORIZON_DAYS = 14


def clear_demo_all(store: Store) -> dict[str, int]:
    """Delete every demo row: the demonstration service (structures, patients, care plans,
    staff) first, then the demo teams, visits and plans."""
    removed = store.clear_demo_care()
    removed.update(store.clear_demo())
    return removed


def seed_demo_service(
    store: Store,
    territory: Any,
    *,
    seed: int = 0,
    start_day: str | dt.date | None = None,
    days: int = DEMO_HORIZON_DAYS,
    replace: bool = False,
) -> dict[str, Any]:
    """Seed the demonstration service of ``territory`` and generate its visits.

    The structures of :func:`dispatch.care.demo_service.demo_services` (an SSIAD, a nursing
    centre, a palliative team) with their patients, care plans, staff (rotas, absences,
    each with their personal team at the structure's base), then ``days`` days of visits
    from ``start_day`` (default: today), the whole first day included. Every row is flagged
    demo; names say « démo ».

    Returns
    -------
    dict
        ``{"territory", "day", "structures": [{id, name, kind, patients, care_plans,
        staff}], "patients", "care_plans", "staff", "teams", "generation": {...}}``.
    """
    from dispatch.care.demo_service import demo_services
    from dispatch.care.service import generate_visits
    from dispatch.care.times import parse_day

    start = parse_day(start_day or local_today(), what="start_day")
    if any(s["demo"] for s in store.list_structures()) or any(
        t["demo"] for t in store.list_teams(limit=1000)
    ):
        if not replace:
            raise ConflictError(
                "demo data already exist: run `dispatch demo clear` first or pass --replace"
            )
        clear_demo_all(store)
    services = demo_services(territory, seed=seed, start_day=start)
    summary: list[dict[str, Any]] = []
    for structure in services.structures:
        row = store.add_structure({"name": structure.name[:120], "kind": structure.kind}, demo=True)
        sid = int(row["id"])
        patients = store.add_patients(
            [
                {
                    "structure_id": sid,
                    "pseudonym": p.pseudonym,
                    "family_name": p.name,
                    "given_name": "",
                    "birth_date": f"{p.birth_year}-01-01",
                    "sex": p.sex,
                    "phone": p.phone,
                    "address": p.address,
                    "commune": p.commune,
                    "lon": p.lon,
                    "lat": p.lat,
                    "geocode_precision": "street" if p.address else "commune",
                    "access_notes": "Données de démonstration, pas un vrai patient.",
                }
                for p in structure.patients
            ],
            actor="demo",
            demo=True,
            today=start.isoformat(),
        )
        patient_ids = {
            p.patient_id: int(stored["id"])
            for p, stored in zip(structure.patients, patients, strict=True)
        }
        staff_ids: dict[int, int] = {}
        for member in structure.staff:
            person = member.staff
            stored = store.add_staff(
                {
                    "name": person.name[:80],
                    "gender": person.gender,
                    "job": DEMO_JOBS.get(member.role, "other"),
                    "skills": list(person.skills),
                    "contract_h_per_week": person.contract_h_per_week,
                    "rotas": [r.to_dict() for r in person.rotas],
                    "base_name": structure.base_name,
                    "base_lon": structure.base_lon,
                    "base_lat": structure.base_lat,
                },
                structure_id=sid,
                demo=True,
            )
            staff_ids[person.staff_id] = int(stored["id"])
            for absence in person.absences:
                store.add_absence(
                    int(stored["id"]),
                    {**absence.to_dict(), "note": "démo"},
                    actor="demo",
                )
        for plan in structure.care_plans:
            fields = plan.template.to_dict()
            wishes = fields["wishes"]
            for key in ("preferred_staff_ids", "excluded_staff_ids"):
                wishes[key] = [staff_ids[s] for s in wishes[key] if s in staff_ids]
            body = {k: v for k, v in fields.items() if k not in ("template_id", "patient_id")}
            store.add_care_plan(
                patient_ids[plan.template.patient_id],
                {**body, "label": plan.label},
                structures=None,
                actor="demo",
                demo=True,
            )
        summary.append(
            {
                "id": sid,
                "name": row["name"],
                "kind": structure.kind,
                "patients": len(structure.patients),
                "care_plans": len(structure.care_plans),
                "staff": len(structure.staff),
            }
        )
    # now_s 0: the whole first day is generated, its morning included (the demo replays it).
    generation = generate_visits(
        store,
        from_day=start,
        days=days,
        structures=[s["id"] for s in summary],
        now_s=0,
        actor="demo",
    )
    store.audit(
        "demo",
        "demo.seed",
        detail={"territory": territory.id, "day": start.isoformat(), "structures": len(summary)},
    )
    return {
        "territory": territory.id,
        "day": start.isoformat(),
        "structures": summary,
        "patients": sum(s["patients"] for s in summary),
        "care_plans": sum(s["care_plans"] for s in summary),
        "staff": sum(s["staff"] for s in summary),
        "teams": sum(s["staff"] for s in summary),
        "generation": generation.to_dict(),
    }


def plan_demo_service_day(
    store: Store,
    territory: Any,
    *,
    router: Any = None,
    day: str | None = None,
    time_limit_s: float = 5.0,
    locale: str = "fr",
) -> dict[str, Any]:
    """Plan ``day`` (default: today) for each demo structure and publish it, so that the map
    draws the rounds and the demo teams drive them (see :func:`plan_demo_day`).

    Returns ``{"day", "routes", "stops", "unassigned", "plans": [plan ids]}``.
    """
    from dispatch.rounds import Rounds
    from dispatch.routing import Router

    day_s = day or local_today()
    router = router or Router.for_territory(territory)
    rounds = Rounds(store, lambda: (router, territory.id))
    totals: dict[str, Any] = {"day": day_s, "routes": 0, "stops": 0, "unassigned": 0, "plans": []}
    for structure in store.list_structures():
        if not structure["demo"]:
            continue
        proposal = rounds.optimise(
            day_s,
            by="demo",
            structure_id=int(structure["id"]),
            time_limit_s=time_limit_s,
            locale=locale,
            whole_day=True,
            demo=True,
        )
        rounds.apply(
            proposal["plan_id"],
            by="demo",
            confirm_dropped=[d["visit_id"] for d in proposal["dropped"]],
            locale=locale,
        )
        routes = [
            r for r in proposal["plan"]["routes"] if any(s["kind"] == "visit" for s in r["stops"])
        ]
        totals["routes"] += len(routes)
        totals["stops"] += sum(1 for r in routes for s in r["stops"] if s["kind"] == "visit")
        totals["unassigned"] += len(proposal["plan"]["unassigned"])
        totals["plans"].append(proposal["plan_id"])
    return totals
