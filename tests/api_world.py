"""A small populated app for the API tests: two teams, one user per role, tokens, visits, a plan."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher

from dispatch.settings import Settings
from dispatch.store import Store, accounts
from dispatch.web.app import create_app

DAY = "2026-11-23"
PASSWORD = "correct-horse-battery"


@dataclass
class World:
    app: Any
    store: Store
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        """Authorization headers of ``who`` (a role name, ``device_b`` or ``anonymous``)."""
        if who == "anonymous":
            return {}
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def fast_password_hashing() -> None:
    """Cheap Argon2 parameters for tests (hashes stay valid Argon2id; production keeps the
    library defaults, about 0.1-0.5 s per hash)."""
    accounts._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def make_world(tmp_path: Path, **settings_changes: Any) -> World:
    """Build the app on a fresh database in ``tmp_path``."""
    fast_password_hashing()
    # The rounds' clock stands on DAY, so that a team member's round (today's) is DAY's.
    settings = Settings(
        var_dir=tmp_path / "var",
        secret_key="test-secret",
        # Built and served in this (unpatched) process: Werkzeug's threads, not gevent.
        **{"clock_start": f"{DAY}T08:30:00+01:00", "server": "threading", **settings_changes},
    )
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    app.config["TESTING"] = True
    world = World(app=app, store=store)
    team_a = store.add_team(
        {"name": "Équipe A", "base_lon": 9.45, "base_lat": 42.70, "skills": ["insulin"]}
    )
    team_b = store.add_team(
        {"name": "Équipe B", "base_lon": 9.15, "base_lat": 42.30, "kind": "palliative"}
    )
    world.ids.update(team_a=team_a["id"], team_b=team_b["id"])
    for role, name, team in (
        ("admin", "admin", None),
        ("coordinator", "coordinator", None),
        ("planner", "planner", None),
        ("team_member", "member_a", team_a["id"]),
        ("team_member", "member_b", team_b["id"]),
    ):
        password = PASSWORD if name in ("coordinator", "planner") else None
        user = store.add_user(name, role=role, team_id=team, password=password)
        world.ids[name] = user["id"]
        world.tokens[name] = store.create_api_token(user["id"], label="test")
    code = store.create_pairing(team_b["id"])["code"]
    paired = store.pair_device(code, label="phone B")
    world.tokens["device_b"] = paired["token"]
    world.ids["device_b"] = paired["device"]["id"]
    visits = store.add_visits(
        [
            {
                "day": DAY,
                "pseudonym": "Patient 0A0A",
                "lon": 9.44,
                "lat": 42.69,
                "duration_s": 1200,
                "windows": [["08:00", "10:00"]],
                "skills": ["insulin"],
                "protected": {"name": "Test A", "phone": "0000"},
            },
            {
                "day": DAY,
                "pseudonym": "Patient 0B0B",
                "lon": 9.16,
                "lat": 42.31,
                "duration_s": 3600,
                "windows": [["14:00", "17:00"]],
                "protected": {"name": "Test B", "notes": "private"},
            },
            {
                "day": DAY,
                "pseudonym": "Patient 0C0C",
                "lon": 9.30,
                "lat": 42.50,
                "duration_s": 1800,
                "windows": [[32400, 39600]],
            },
        ]
    )
    world.ids.update(visit_a=visits[0]["id"], visit_b=visits[1]["id"], visit_u=visits[2]["id"])
    plan = store.save_plan(
        DAY,
        [
            {"team_id": team_a["id"], "stops": [{"visit_id": visits[0]["id"], "arrival_s": 29000}]},
            {"team_id": team_b["id"], "stops": [{"visit_id": visits[1]["id"], "arrival_s": 50400}]},
        ],
        unassigned=[{"visit_id": visits[2]["id"], "reason": "test"}],
        publish=True,
    )
    world.ids["plan"] = plan["id"]
    return world
