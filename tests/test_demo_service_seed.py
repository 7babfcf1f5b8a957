"""The first start seeds the demonstration service (issue 22, item 8): structures, patients,
care plans, staff with rotas, absences and personal teams, 14 days of generated visits, all
flagged demo; the day is planned and the demo phones drive it."""

from __future__ import annotations

import datetime as dt

import pytest

from dispatch.care.demo_service import demo_services
from dispatch.care.service import generate_visits
from dispatch.demo import clear_demo_all, seed_demo_service
from dispatch.demo_live import DemoMovement, build_itineraries
from dispatch.errors import ConflictError
from dispatch.routing import Router
from dispatch.settings import Settings
from dispatch.store import Store
from dispatch.store.models import local_today
from tests.generation_support import sql

SEED = 2


@pytest.fixture(scope="module")
def seeded(melun, tmp_path_factory, territory_cache, shared_dir):
    """`dispatch serve`'s first start on an empty database (territory Melun): the service is
    seeded and its first day planned (a short solver budget here)."""
    from dispatch import demo
    from dispatch.cli.serve import prepare

    settings = Settings(
        var_dir=tmp_path_factory.mktemp("demo_service") / "var",
        cache_dir=territory_cache,
        data_path=(shared_dir / "territories",),
        territory="melun",
        server="threading",
    )
    quick = demo.plan_demo_service_day
    patch = pytest.MonkeyPatch()
    patch.setattr(
        demo, "plan_demo_service_day", lambda *a, **k: quick(*a, **{**k, "time_limit_s": 0.5})
    )
    said: list[str] = []
    try:
        ready = prepare(settings, echo=said.append)
    finally:
        patch.undo()
    store = ready["store"]
    yield {
        "store": store,
        "said": said,
        "day": local_today(),
        "router": Router.for_territory(melun),
    }
    store.close()


def count(store: Store, table: str, where: str = "1") -> int:
    return int(sql(store, f"SELECT count(*) AS n FROM {table} WHERE {where}")[0]["n"])


def test_the_service_is_seeded_as_demo_services_builds_it(seeded, melun):
    store = seeded["store"]
    expected = demo_services(melun, seed=0, start_day=seeded["day"])
    assert "seeded the demonstration service (3 structures" in seeded["said"][0]
    structures = [s for s in store.list_structures() if s["demo"]]
    assert sorted(s["kind"] for s in structures) == ["nursing_centre", "palliative_team", "ssiad"]
    assert count(store, "patients") == len(expected.patients)
    assert count(store, "care_plans") == len(expected.templates)
    assert count(store, "staff") == len(expected.staff)
    absences = sum(len(s.absences) for s in expected.staff)
    assert absences >= 1 and count(store, "absences") == absences
    # Each member of staff has their personal team at the structure's base.
    assert count(store, "team_members") == len(expected.staff)
    assert count(store, "teams", "demo = 1") == len(expected.staff)
    for built in expected.structures:
        sid = next(s["id"] for s in structures if s["kind"] == built.kind)
        assert count(store, "staff", f"structure_id = {sid}") == len(built.staff)
        assert count(store, "patients", f"structure_id = {sid}") == len(built.patients)
        bases = sql(
            store, f"SELECT DISTINCT base_lon, base_lat FROM teams WHERE structure_id = {sid}"
        )
        assert [(b["base_lon"], b["base_lat"]) for b in bases] == [(built.base_lon, built.base_lat)]


def test_every_row_says_demo(seeded):
    store = seeded["store"]
    for table in ("structures", "patients", "care_plans", "staff", "teams", "visits"):
        assert (
            count(store, table, "demo = 0 AND id > 1" if table == "structures" else "demo = 0") == 0
        ), table
    assert all("(démo)" in s["name"] for s in store.list_structures() if s["demo"])
    assert all(
        r["family_name"].startswith("DÉMO") for r in sql(store, "SELECT family_name FROM patients")
    )
    assert all("(démo)" in r["name"] for r in sql(store, "SELECT name FROM staff"))


def test_fourteen_days_are_generated_whole(seeded):
    store, day = seeded["store"], dt.date.fromisoformat(seeded["day"])
    assert "over 14 days from" in seeded["said"][0]
    days = {r["day"] for r in sql(store, "SELECT DISTINCT day FROM visits")}
    assert days == {(day + dt.timedelta(days=i)).isoformat() for i in range(14)}
    assert count(store, "visits", "occurrence_key IS NULL") == 0
    # Today's mornings too, even when seeded in the afternoon: the demo replays the day.
    assert count(store, "visits", f"day = '{day}' AND json_extract(windows, '$[0][0]') < 36000") > 0
    again = generate_visits(store, from_day=day, days=14, now_s=0)
    assert (again.created, again.cancelled, again.updated) == (0, 0, 0)


def test_the_day_is_planned_and_the_demo_phones_drive_it(seeded, melun):
    store, day = seeded["store"], seeded["day"]
    assert "Demo day planned and published" in seeded["said"][1]
    assert len(store.published_plan_ids(day)) == 3
    itineraries = build_itineraries(store, seeded["router"], day)
    staff_teams = {r["team_id"] for r in sql(store, "SELECT team_id FROM staff")}
    assert itineraries and {it.team_id for it in itineraries} <= staff_teams
    mover = DemoMovement(
        store,
        melun,
        router=seeded["router"],
        speedup=20_000.0,
        interval_s=0.02,
        start_s=6 * 3600,
        day=day,
        stop_when_done=True,
    )
    mover.start()
    mover.join(90)
    assert not mover.is_alive() and mover.error is None
    assert mover.stats["teams"] == len(itineraries)
    assert mover.stats["positions"] > 0 and mover.stats["events"] > 0
    moved = {r["team_id"] for r in sql(store, "SELECT DISTINCT team_id FROM positions")}
    assert moved == {it.team_id for it in itineraries}


def test_seeding_twice_is_refused_and_clear_removes_everything(melun, tmp_path):
    with Store(tmp_path / "db.sqlite") as store:
        seed_demo_service(store, melun, seed=SEED, start_day="2026-11-23", days=1)
        with pytest.raises(ConflictError, match="demo data already exist"):
            seed_demo_service(store, melun, seed=SEED, start_day="2026-11-23", days=1)
        removed = clear_demo_all(store)
        assert removed["structures"] == 3 and removed["staff"] > 0 and removed["visits"] > 0
        for table in (
            "patients",
            "care_plans",
            "staff",
            "absences",
            "team_members",
            "teams",
            "visits",
        ):
            assert count(store, table) == 0, table
        assert [s["id"] for s in store.list_structures()] == [1]
        again = seed_demo_service(
            store, melun, seed=SEED, start_day="2026-11-23", days=1, replace=True
        )
        assert again["generation"]["created"] > 0
        replaced = seed_demo_service(
            store, melun, seed=SEED, start_day="2026-11-23", days=1, replace=True
        )
        assert replaced["patients"] == count(store, "patients")


def test_the_admin_sees_every_structure(seeded):
    store = seeded["store"]
    structures = sorted(s["id"] for s in store.list_structures())
    ids = sql(
        store,
        "SELECT structure_id FROM user_structures WHERE user_id ="
        " (SELECT id FROM users WHERE username = 'admin') ORDER BY structure_id",
    )
    assert [r["structure_id"] for r in ids] == structures and len(structures) == 4


def test_clear_refuses_while_real_records_live_in_a_demo_structure(melun, tmp_path):
    """`dispatch demo clear` never deletes a real patient added to a demonstration structure
    (it failed on a foreign key before); a coordinator's draft of a demo day goes with it."""
    with Store(tmp_path / "db.sqlite") as store:
        seed_demo_service(store, melun, seed=SEED, start_day="2026-11-23", days=1)
        demo_structure = next(s["id"] for s in store.list_structures() if s["demo"])
        store.engine.write(
            lambda conn: conn.execute(
                "INSERT INTO patients (structure_id, pseudonym, status, demo)"
                " VALUES (?, 'Patient réel', 'admitted', 0)",
                (demo_structure,),
            )
        )
        store.engine.write(
            lambda conn: conn.execute(
                "INSERT INTO plans (day, status, structure_id, demo) VALUES"
                " ('2026-11-23', 'draft', ?, 0)",
                (demo_structure,),
            )
        )
        with pytest.raises(ConflictError, match="1 patients"):
            clear_demo_all(store)
        assert count(store, "structures") == 4  # nothing deleted
        store.engine.write(lambda conn: conn.execute("DELETE FROM patients WHERE demo = 0"))
        clear_demo_all(store)
        assert count(store, "structures") == 1 and count(store, "plans") == 0
