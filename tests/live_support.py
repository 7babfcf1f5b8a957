"""Helpers of the live tests: a small world (teams, users, phones, visits) and a real server."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from dispatch.settings import Settings
from dispatch.store import Store
from dispatch.web.headers import QuietRequestHandler

PASSWORD = "correct-horse-battery"
#: Debian's chromium, driven by Playwright in the browser tests.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Headless Chromium always refuses the Screen Wake Lock: stand in for it.
WAKE_LOCK_STUB = """
Object.defineProperty(navigator, 'wakeLock', {configurable: true, value: {
  request: async () => ({released: false, release: async () => {}, addEventListener() {}}),
}});
"""
#: Melun centre and two patients' homes nearby (lon, lat).
MELUN = (2.6555, 48.5400)
HOME_A = (2.6600, 48.5430)
HOME_B = (2.6450, 48.5350)


@dataclass
class World:
    """Two teams with a phone each, a coordinator, a team member of B, one visit per team."""

    store: Store
    team_a: dict[str, Any]
    team_b: dict[str, Any]
    token_a: str
    token_b: str
    visit_a: dict[str, Any]
    visit_b: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


def make_world(store: Store, day: str) -> World:
    """Create the world in ``store`` for ``day`` (the territory's current day)."""
    team_a = store.add_team(
        {"name": "Équipe A", "base_lon": MELUN[0], "base_lat": MELUN[1], "color": "#d62728"}
    )
    team_b = store.add_team(
        {"name": "Équipe B", "base_lon": MELUN[0], "base_lat": MELUN[1], "color": "#1f77b4"}
    )
    store.add_user("coord", role="coordinator", password=PASSWORD)
    store.add_user("membre-b", role="team_member", team_id=team_b["id"], password=PASSWORD)
    token_a = store.pair_device(store.create_pairing(team_a["id"])["code"])["token"]
    token_b = store.pair_device(store.create_pairing(team_b["id"])["code"])["token"]
    visits = []
    for name, team, home in (("MME-ALPHA", team_a, HOME_A), ("M-BRAVO", team_b, HOME_B)):
        visits.append(
            store.add_visit(
                {
                    "day": day,
                    "pseudonym": name,
                    "lon": home[0],
                    "lat": home[1],
                    "address": f"12 rue secrète de {name}",
                    "commune": "Melun",
                    "duration_s": 1800,
                    "windows": [["00:00", "23:59"]],
                    "team_id": team["id"],
                }
            )
        )
    return World(store, team_a, team_b, token_a, token_b, visits[0], visits[1])


def add_team_with_phone(store: Store, name: str) -> tuple[dict[str, Any], str]:
    """A new team and the device token of a phone paired to it."""
    team = store.add_team({"name": name, "base_lon": MELUN[0], "base_lat": MELUN[1]})
    token = store.pair_device(store.create_pairing(team["id"])["code"])["token"]
    return team, token


def module_settings(tmp_dir: Path, territory_cache: Path, shared_dir: Path) -> Settings:
    """Settings of a test module: its own database, the session's territory cache, Melun."""
    return Settings(
        var_dir=tmp_dir / "var",
        cache_dir=territory_cache,
        data_path=(shared_dir / "territories",),
        territory="melun",
        # The app is built in this (unpatched) process and served by Werkzeug's threads.
        server="threading",
    )


class RealServer:
    """The app served by Werkzeug's threaded server (websockets through simple-websocket), as
    `dispatch serve --server threading` does."""

    def __init__(self, app: Any, host: str = "127.0.0.1") -> None:
        self.app = app
        self.server: BaseWSGIServer = make_server(
            host, 0, app, threaded=True, request_handler=QuietRequestHandler
        )
        self.base_url = f"http://{host}:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)
        self.app.extensions["dispatch.live"].stop()
