"""The self-hosted base map's labels in Chromium: street names at z15 over Melun, commune names
at z10, glyphs from our own server, and no request to any other server."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from axe_support import check_axe
from live_support import MELUN, RealServer, module_settings

from dispatch.store import Store
from dispatch.web.app import create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = Path(__file__).parent / "screenshots"
WIDE = {"width": 1400, "height": 900}
PHONE = {"width": 360, "height": 780}
TEST_PAGE = "/basemap-labels-test"

#: A page of the test only (map.js belongs to the coordinator map): the territory's tiles, the
#: road layers and the label layers of static/map/basemap-style.js, as the real pages use them.
PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>Fond de carte</title>
<link rel="stylesheet" href="/static/map/vendor/maplibre-gl.css">
<script src="/static/map/vendor/maplibre-gl.js"></script>
<script src="/static/map/vendor/pmtiles.js"></script>
<style>html, body, main, #map { margin: 0; height: 100%; }</style>
</head><body><main><div id="map" role="region" aria-label="Carte"></div></main>
<script type="module">
import { GLYPHS_URL, LABEL_LAYER_IDS, labelLayers } from "/static/map/basemap-style.js";
const params = new URLSearchParams(location.search);
const protocol = new pmtiles.Protocol();
maplibregl.addProtocol("pmtiles", protocol.tile);
const basemap_url = `/tiles/${params.get("territory") || "melun"}.pmtiles`;
const road = (id, classes, color, w) => ({
  id, type: "line", source: "base", "source-layer": "roads",
  filter: ["in", ["get", "class"], ["literal", classes]],
  paint: { "line-color": color, "line-width": ["interpolate", ["exponential", 1.6], ["zoom"], 6, w[0], 16, w[1]] },
});
const style = {
  version: 8,
  glyphs: GLYPHS_URL,
  sources: { base: { type: "vector", url: `pmtiles://${location.origin}${basemap_url}` } },
  layers: [
    { id: "background", type: "background", paint: { "background-color": "#f3f1ec" } },
    { id: "areas-line", type: "line", source: "base", "source-layer": "areas", paint: { "line-color": "#c9c0ae", "line-dasharray": [3, 2] } },
    road("roads-minor", ["residential", "living_street", "unclassified", "service", "track", "other"], "#ffffff", [0.4, 6]),
    road("roads-main", ["tertiary", "secondary", "primary", "trunk", "motorway"], "#f7e08f", [0.8, 10]),
    ...labelLayers({ basemap_url }, (key) => key),
  ],
};
window.mapErrors = [];
const map = new maplibregl.Map({
  container: "map", style, center: [Number(params.get("lon")), Number(params.get("lat"))],
  zoom: Number(params.get("z")), attributionControl: false,
});
map.on("error", (ev) => window.mapErrors.push(String(ev.error && ev.error.message)));
window.labels = () => map.queryRenderedFeatures({ layers: LABEL_LAYER_IDS })
  .map((f) => ({ layer: f.layer.id, name: f.properties.name }));
map.once("idle", () => { window.mapIdle = true; });
</script></body></html>"""


@pytest.fixture(scope="module")
def server(melun, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    settings = module_settings(tmp_path_factory.mktemp("basemap"), territory_cache, shared_dir)
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    server = RealServer(app)
    yield server
    server.stop()
    store.close()


def _open(  # type: ignore[no-untyped-def]
    browser, server, viewport: dict[str, int], zoom: float, *, at=MELUN, territory="melun"
) -> tuple[Any, Any, list[str]]:
    _, instance = browser
    context = instance.new_context(viewport=viewport, locale="fr-FR")
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.route(
        f"{server.base_url}{TEST_PAGE}*",
        lambda route: route.fulfill(status=200, content_type="text/html", body=PAGE),
    )
    page.goto(
        f"{server.base_url}{TEST_PAGE}?territory={territory}&lon={at[0]}&lat={at[1]}&z={zoom}"
    )
    page.wait_for_function("window.mapIdle === true", timeout=30_000)
    return context, page, requests


def _labels(page) -> dict[str, set[str]]:  # type: ignore[no-untyped-def]
    found: dict[str, set[str]] = {}
    for feature in page.evaluate("window.labels()"):
        found.setdefault(feature["layer"], set()).add(feature["name"])
    return found


def test_street_names_show_at_z15_over_melun(browser, server) -> None:  # type: ignore[no-untyped-def]
    """At z15 street names are drawn (French, from the territory), with our glyphs only."""
    SCREENSHOTS.mkdir(exist_ok=True)
    context, page, requests = _open(browser, server, WIDE, 15)
    try:
        page.screenshot(path=str(SCREENSHOTS / "basemap-z15-melun-1400.png"))
        labels = _labels(page)
        streets = labels.get("label-streets", set())
        assert len(streets) >= 10, labels
        assert any(name.startswith(("Rue ", "Avenue ", "Boulevard ", "Quai ")) for name in streets)
        assert page.evaluate("window.mapErrors") == []
        glyphs = [url for url in requests if "/glyphs/" in url]
        assert glyphs and all("DejaVu%20Sans" in url for url in glyphs), glyphs
        assert all(url.startswith(server.base_url) for url in requests), [
            url for url in requests if not url.startswith(server.base_url)
        ]
    finally:
        context.close()


def test_commune_names_show_at_z10_and_not_streets(browser, server) -> None:  # type: ignore[no-untyped-def]
    """At z10 the communes around Melun are named; street names wait for z13 and more."""
    SCREENSHOTS.mkdir(exist_ok=True)
    context, page, _ = _open(browser, server, WIDE, 10)
    try:
        page.screenshot(path=str(SCREENSHOTS / "basemap-z10-melun-1400.png"))
        labels = _labels(page)
        # The territory is about 110 px wide at z10: collision keeps the biggest communes.
        assert {"Melun", "Dammarie-les-Lys"} <= labels.get("label-communes", set()), labels
        assert not labels.get("label-streets"), labels
    finally:
        context.close()


def test_all_communes_are_named_at_z12(browser, server) -> None:  # type: ignore[no-untyped-def]
    """Closer in, every commune of the territory in view has its name."""
    context, page, _ = _open(browser, server, WIDE, 12)
    try:
        page.screenshot(path=str(SCREENSHOTS / "basemap-z12-melun-1400.png"))
        communes = _labels(page).get("label-communes", set())
        assert len(communes) >= 7, communes
    finally:
        context.close()


def test_phone_size_shows_street_names(browser, server) -> None:  # type: ignore[no-untyped-def]
    """On a phone at z15 the street names are still drawn (fewer: MapLibre's collision drops
    the ones that would overlap)."""
    context, page, _ = _open(browser, server, PHONE, 15)
    try:
        page.screenshot(path=str(SCREENSHOTS / "basemap-z15-melun-360.png"))
        assert _labels(page).get("label-streets"), "no street name on the phone view"
        check_axe(page)
    finally:
        context.close()


@pytest.fixture(scope="module")
def island(saint_barthelemy, tmp_path_factory, territory_cache, shared_dir):  # type: ignore[no-untyped-def]
    """A server of Saint-Barthélemy, whose raw OSM source names its neighbourhoods."""
    settings = dataclasses.replace(
        module_settings(tmp_path_factory.mktemp("basemap-sb"), territory_cache, shared_dir),
        territory="saint-barthelemy",
    )
    store = Store(settings.database)
    app = create_app(settings, **{"dispatch.store": store})
    server = RealServer(app)
    yield server
    server.stop()
    store.close()


def test_osm_places_are_named_on_the_island(browser, island) -> None:  # type: ignore[no-untyped-def]
    """Saint-Barthélemy at z14: Gustavia and the neighbourhoods (« quartiers ») are named."""
    SCREENSHOTS.mkdir(exist_ok=True)
    context, page, requests = _open(
        browser, island, WIDE, 14, at=(-62.845, 17.905), territory="saint-barthelemy"
    )
    try:
        page.screenshot(path=str(SCREENSHOTS / "basemap-z14-saint-barthelemy-1400.png"))
        labels = _labels(page)
        assert labels.get("label-places") == {"Gustavia"}, labels
        assert len(labels.get("label-localities", set())) >= 8, labels
        assert {"Colombier", "Corossol"} <= labels["label-localities"], labels
        assert all(url.startswith(island.base_url) for url in requests)
    finally:
        context.close()
