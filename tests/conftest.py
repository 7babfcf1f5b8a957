"""Shared fixtures: settings in a temporary folder, the shared data folder, built territories."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from dispatch.settings import PROJECT_ROOT, Settings

SHARED = Path(os.environ.get("DISPATCH_SHARED_DIR", PROJECT_ROOT.parent / "shared"))


#: A JavaScript function as Playwright recognises one (``() => ...``, ``function () {}``).
_JS_FUNCTION = re.compile(r"^\s*(async\s+)?(function\b|\([^()]*\)\s*=>|[A-Za-z_$][\w$]*\s*=>)")


def _csp_safe_wait_for_function() -> None:
    """Make Playwright's ``wait_for_function("expression")`` work under the pages' policy.

    Playwright polls an expression string with ``eval`` inside the page, which the pages'
    Content-Security-Policy refuses (no ``'unsafe-eval'``); a function is called without it.
    Expression strings are wrapped in ``() => (...)``: the tests keep the real policy.
    """
    try:
        from playwright.sync_api import Frame, Page
    except ImportError:
        return
    for cls in (Page, Frame):
        original = cls.wait_for_function
        if getattr(original, "csp_safe", False):
            continue

        def wait_for_function(
            self: Any, expression: str, *args: Any, _original: Any = original, **kwargs: Any
        ) -> Any:
            if not _JS_FUNCTION.match(expression):
                expression = f"() => ({expression})"
            return _original(self, expression, *args, **kwargs)

        wait_for_function.csp_safe = True  # type: ignore[attr-defined]
        cls.wait_for_function = wait_for_function  # type: ignore[method-assign]


_csp_safe_wait_for_function()


def _csp_safe_add_script_tag() -> None:
    """Make ``page.add_script_tag(path=...)`` (axe-core's injection) work under the policy.

    An inline ``<script>`` is refused by ``script-src 'self'``; the file's code is run in the
    page through the DevTools protocol instead, which the policy does not govern.
    """
    try:
        from playwright.sync_api import Page
    except ImportError:
        return
    original = Page.add_script_tag
    if getattr(original, "csp_safe", False):
        return

    def add_script_tag(self: Any, *args: Any, path: Any = None, **kwargs: Any) -> Any:
        if path is None or args or kwargs.get("url") or kwargs.get("content"):
            return original(self, *args, path=path, **kwargs)
        session = self.context.new_cdp_session(self)
        try:
            reply = session.send("Runtime.evaluate", {"expression": Path(path).read_text()})
        finally:
            session.detach()
        if "exceptionDetails" in reply:
            raise RuntimeError(f"{path}: {reply['exceptionDetails']}")
        return None

    add_script_tag.csp_safe = True  # type: ignore[attr-defined]
    Page.add_script_tag = add_script_tag  # type: ignore[method-assign]


_csp_safe_add_script_tag()
SHARED_TERRITORIES = SHARED / "territories"


# -- two workers (pytest-xdist) -------------------------------------------------------------------
#: Tests that run with no other test beside them when the suite runs on two workers, besides
#: those marked ``load`` (drills, load and latency measurements): time-bounded runs whose reach
#: shrinks when the other core is busy (node id prefixes).
RUN_ALONE = (
    "tests/test_api_fuzz.py::test_contract_",
    # A 10 ms ticker never late by 100 ms: missed by 80 ms with the other worker busy.
    "tests/test_drills_store.py::",
    # A bisection over plans of 0.5 wall-seconds each: with the other worker busy, the search
    # processes' start takes most of each budget and the service levels it compares drift.
    "tests/test_planning_cli.py::test_teams_needed_finds_the_smallest_team_count",
)
#: The slowest modules, slowest first (measured on two workers, 2026-12-07): started first, so
#: that no long module is left for the end while the other worker has nothing more to run.
SLOW_MODULES = (
    "test_api_fuzz.py",
    "test_drills_store.py",
    "test_hardening_server.py",
    "test_browser_rounds_coordinator.py",
    "test_browser_i18n.py",
    "test_browser_admin.py",
    "test_multiprocess_redis.py",
    "test_browser_planner_scenarios.py",
    "test_rounds_structures_browser.py",
    "test_browser_history.py",
    "test_browser_details.py",
    "test_browser_week.py",
    "test_browser_rounds_day.py",
    "test_browser_intake.py",
    "test_browser_live.py",
    "test_browser_patients.py",
    "test_planning_browser.py",
    "test_planning_web.py",
    "test_planning_cli.py",
)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto`` (pyproject's addopts): the whole suite (``pytest`` with no paths) runs on
    two workers, one per core; tests chosen by path run in this one process, as before.
    PYTEST_XDIST_AUTO_NUM_WORKERS still decides when it is set."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    if config.args_source is not pytest.Config.ArgsSource.TESTPATHS:
        return 0
    return min(2, len(os.sched_getaffinity(0)))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist, the slowest modules first (each module stays whole and in its order: the
    workers take one module at a time, ``--dist loadfile``)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    rank = {name: i for i, name in enumerate(SLOW_MODULES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def _runs_alone(item: pytest.Item) -> bool:
    return item.get_closest_marker("load") is not None or item.nodeid.startswith(RUN_ALONE)


class _WorkerLock:
    """A readers-writer lock between the xdist workers of one run (two files under the run's
    shared temporary folder, flock): a test that runs alone holds it exclusively, any other
    shared. The turnstile, taken briefly by readers and held by a waiting writer, keeps the
    other worker from starting test after test while a drill waits for its turn."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.turnstile = open(folder / "dispatch-turnstile.lock", "a+")  # noqa: SIM115
        self.resource = open(folder / "dispatch-alone.lock", "a+")  # noqa: SIM115

    def acquire(self, alone: bool) -> None:
        import fcntl

        fcntl.flock(self.turnstile, fcntl.LOCK_EX)
        if alone:
            fcntl.flock(self.resource, fcntl.LOCK_EX)
        else:
            fcntl.flock(self.resource, fcntl.LOCK_SH)
            fcntl.flock(self.turnstile, fcntl.LOCK_UN)

    def release(self, alone: bool) -> None:
        import fcntl

        fcntl.flock(self.resource, fcntl.LOCK_UN)
        if alone:
            fcntl.flock(self.turnstile, fcntl.LOCK_UN)


_worker_lock: _WorkerLock | None = None


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):  # type: ignore[no-untyped-def]
    """Under xdist, hold the workers' lock around a test's whole protocol (its module's
    fixtures set up or torn down with it included); outermost, so that waiting for the other
    worker does not count in the test's timeout."""
    global _worker_lock
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield
        return
    if _worker_lock is None:
        # Each worker's basetemp is <the run's basetemp>/gwN: the parent is the run's own.
        _worker_lock = _WorkerLock(item.config._tmp_path_factory.getbasetemp().parent)
    alone = _runs_alone(item)
    _worker_lock.acquire(alone)
    try:
        yield
    finally:
        _worker_lock.release(alone)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared beside the checkout (developers and CI have it)."""
    if not SHARED_TERRITORIES.is_dir():
        pytest.fail(f"{SHARED_TERRITORIES} is missing: clone the project beside ../shared")
    return SHARED


@pytest.fixture(scope="session")
def territory_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache folder for the whole session (building a territory once is enough).

    Set DISPATCH_TEST_CACHE to a folder to keep builds between runs while developing.
    """
    keep = os.environ.get("DISPATCH_TEST_CACHE")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        return Path(keep)
    return tmp_path_factory.mktemp("territory-cache")


@pytest.fixture
def settings(tmp_path: Path, territory_cache: Path, shared_dir: Path) -> Settings:
    """Settings whose database and secrets live in a fresh temporary folder."""
    return Settings(
        var_dir=tmp_path / "var",
        cache_dir=territory_cache,
        data_path=(shared_dir / "territories", tmp_path / "downloads"),
        # Apps built from it run in this (unpatched) process, on Werkzeug's threads.
        server="threading",
    )


def _built(territory_id: str, tmp_path_factory: pytest.TempPathFactory, cache: Path):
    from dispatch.territory import build_territory, load_territory

    settings = Settings(
        var_dir=tmp_path_factory.mktemp("var"),
        cache_dir=cache,
        data_path=(SHARED_TERRITORIES,),
    )
    try:
        return load_territory(territory_id, settings)
    except FileNotFoundError:
        build_territory(territory_id, settings)
        return load_territory(territory_id, settings)


@pytest.fixture(scope="session")
def melun(tmp_path_factory: pytest.TempPathFactory, territory_cache: Path):
    """The Melun territory, built once per session (small, urban, fast)."""
    return _built("melun", tmp_path_factory, territory_cache)


@pytest.fixture(scope="session")
def haute_corse(tmp_path_factory: pytest.TempPathFactory, territory_cache: Path):
    """The default bassin (Haute-Corse), built once per session."""
    return _built("haute-corse", tmp_path_factory, territory_cache)


@pytest.fixture(scope="session")
def saint_barthelemy(tmp_path_factory: pytest.TempPathFactory, territory_cache: Path):
    """The tiny raw-OSM territory, built once per session."""
    return _built("saint-barthelemy", tmp_path_factory, territory_cache)


@pytest.fixture(scope="session")
def _chromium() -> Any:
    """Playwright and one Chromium for the whole session (per xdist worker): starting one per
    module cost 1.5 to 3 s each (about 20 modules) on the 2-core machine."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        held: dict[str, Any] = {"p": p, "instance": None}
        yield held
        if held["instance"] is not None and held["instance"].is_connected():
            held["instance"].close()


@pytest.fixture(scope="module")
def browser(_chromium: dict[str, Any]) -> Any:
    """Playwright and the session's Chromium, as ``(p, instance)``; launched again if a
    previous module's test crashed it. The contexts a module opened are closed at its end, so
    no page of one module lives on (polling its stopped server) while the next one runs."""
    from live_support import CHROMIUM, CHROMIUM_ARGS

    p, instance = _chromium["p"], _chromium["instance"]
    if instance is None or not instance.is_connected():
        instance = _chromium["instance"] = p.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
    before = set(instance.contexts)
    yield p, instance
    if instance.is_connected():
        for context in instance.contexts:
            if context not in before:
                context.close()
