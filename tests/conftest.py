"""Shared fixtures: settings in a temporary folder, the shared data folder, built territories."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dispatch.settings import PROJECT_ROOT, Settings

SHARED = Path(os.environ.get("DISPATCH_SHARED_DIR", PROJECT_ROOT.parent / "shared"))
SHARED_TERRITORIES = SHARED / "territories"


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


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    """One Chromium for the module (Playwright and the browser)."""
    from live_support import CHROMIUM, CHROMIUM_ARGS
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield p, instance
        instance.close()
