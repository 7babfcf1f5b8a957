"""Demo data on a real territory: teams at its bases, a realistic day of visits, all flagged."""

from __future__ import annotations

import pytest

from dispatch.demo import seed_demo
from dispatch.errors import ConflictError
from dispatch.store import Store

DAY = "2026-11-23"


@pytest.mark.slow
def test_demo_seed_on_haute_corse(haute_corse, tmp_path):
    """Teams sit at the real bases; visits have home-care durations, windows and skills."""
    with Store(tmp_path / "db.sqlite") as store:
        summary = seed_demo(store, haute_corse, day=DAY, seed=3)
        teams = list(store.list_teams(limit=1000))
        bases = {(round(b.lon, 6), round(b.lat, 6)) for b in haute_corse.bases}
        assert {(round(t["base_lon"], 6), round(t["base_lat"], 6)) for t in teams} == bases
        assert all(t["demo"] for t in teams)
        assert {t["kind"] for t in teams} == {"nursing", "palliative", "geriatric"}
        visits = list(store.list_visits(day=DAY, limit=1000))
        assert len(visits) == summary["visits"] >= 50
        assert all(v["demo"] and v["pseudonym"].startswith("Patient ") for v in visits)
        west, south, east, north = haute_corse.boundary.bounds
        assert all(west <= v["lon"] <= east and south <= v["lat"] <= north for v in visits)
        by_kind: dict[str, list[dict]] = {}
        for v in visits:
            by_kind.setdefault(v["care_kind"], []).append(v)
        assert all(15 * 60 <= v["duration_s"] <= 30 * 60 for v in by_kind["nursing"])
        assert all(45 * 60 <= v["duration_s"] <= 90 * 60 for v in by_kind["palliative"])
        assert all(60 * 60 <= v["duration_s"] <= 90 * 60 for v in by_kind["geriatric"])
        insulin = [v for v in by_kind["nursing"] if v["skills"] == ["insulin"]]
        per_patient: dict[str, list[int]] = {}
        for v in insulin:
            per_patient.setdefault(v["pseudonym"], []).append(v["windows"][0][0])
        assert per_patient and all(
            len(s) == 2 and min(s) < 12 * 3600 < max(s) for s in per_patient.values()
        )
        assert sum(v["windows"][0][0] < 12 * 3600 for v in visits) > len(visits) / 2
        assert sum(v["commune"] is not None for v in visits) > 0.9 * len(visits)
        details = store.visit_details(visits[0]["id"], actor="test", role="coordinator")
        assert details["name"].startswith("DÉMO")
        with pytest.raises(ConflictError, match="dispatch demo clear"):
            seed_demo(store, haute_corse, day=DAY)
        removed = store.clear_demo()
        assert removed["teams"] == len(teams) and store.counts()["visits"] == 0
