// Labels of the self-hosted base map: commune, base and street names from the territory's own
// PMTiles (layers `places` and `street_names`, built by dispatch/live/basemap.py), drawn with
// self-hosted SDF glyphs (GET /glyphs/{fontstack}/{range}.pbf): no third-party server.
//
// Use in a MapLibre style whose vector source of the territory's tiles is named `base`:
//   import { GLYPHS_URL, labelLayers } from "./basemap-style.js";
//   const style = { version: 8, glyphs: GLYPHS_URL, sources, layers: [...layers, ...labelLayers(config, t)] };
// The names are the territory's own (French) names; MapLibre's collision keeps labels from
// overlapping, and layers later in the list win: communes first, then towns and villages, bases,
// hamlets and neighbourhoods, and streets last.

/** The glyphs URL template for the style's `glyphs` field (absolute: MapLibre needs one). */
export const GLYPHS_URL = `${location.origin}/glyphs/{fontstack}/{range}.pbf`;

/** The font stacks the server has glyphs for (dispatch.live.basemap.GLYPH_FONTS). */
export const FONT_REGULAR = ["DejaVu Sans Book"];
export const FONT_BOLD = ["DejaVu Sans Bold"];

/** Ids of the label layers, for map.queryRenderedFeatures and visibility toggles. */
export const LABEL_LAYER_IDS = ["label-streets", "label-localities", "label-bases", "label-places", "label-communes"];

const HALO = "rgba(255, 255, 255, 0.92)";

/**
 * The symbol layers of the base map's labels (append them after the base map's own layers).
 * @param {object} config page config (unused today: the labels are the territory's names)
 * @param {Function} [t] i18n function (unused: names are shown as the territory spells them)
 * @param {{source?: string}} [options] name of the vector source of the territory's tiles
 */
export function labelLayers(config, t, { source = "base" } = {}) {
  if (config && config.basemap_url === null) return [];
  return [
    {
      id: "label-streets",
      type: "symbol",
      source,
      "source-layer": "street_names",
      minzoom: 13,
      layout: {
        "symbol-placement": "line",
        "symbol-spacing": 350,
        "symbol-sort-key": ["match", ["get", "class"], ["motorway", "trunk", "primary"], 0, ["secondary", "tertiary"], 1, 2],
        "text-field": ["get", "name"],
        "text-font": FONT_REGULAR,
        "text-size": ["interpolate", ["linear"], ["zoom"], 13, 10, 16, 12.5, 18, 14],
        "text-max-angle": 30,
        "text-padding": 2,
        "text-rotation-alignment": "map",
        "text-pitch-alignment": "viewport",
      },
      paint: {
        "text-color": "#3d3d3d",
        "text-halo-color": HALO,
        "text-halo-width": 1.6,
        "text-halo-blur": 0.3,
      },
    },
    {
      // OpenStreetMap hamlets, neighbourhoods, localities (raw OSM sources only).
      id: "label-localities",
      type: "symbol",
      source,
      "source-layer": "places",
      filter: ["all", ["==", ["get", "kind"], "place"], ["!", ["in", ["get", "place"], ["literal", ["city", "town", "village", "suburb"]]]]],
      layout: {
        "symbol-sort-key": ["match", ["get", "place"], "city", 0, "town", 1, "village", 2, "suburb", 3, "hamlet", 4, 5],
        "text-field": ["get", "name"],
        "text-font": FONT_REGULAR,
        "text-size": 11,
        "text-transform": "uppercase",
        "text-letter-spacing": 0.08,
        "text-max-width": 9,
        "text-padding": 4,
      },
      paint: {
        "text-color": "#5a5a5a",
        "text-halo-color": HALO,
        "text-halo-width": 1.8,
      },
    },
    {
      id: "label-bases",
      type: "symbol",
      source,
      "source-layer": "places",
      minzoom: 11,
      filter: ["==", ["get", "kind"], "base"],
      layout: {
        "text-field": ["get", "name"],
        "text-font": FONT_REGULAR,
        "text-size": 11.5,
        // The base's dot is drawn by the page: its name goes beside it, where there is room.
        "text-variable-anchor": ["top", "bottom", "left", "right"],
        "text-radial-offset": 0.8,
        "text-justify": "auto",
        "text-max-width": 12,
        "text-padding": 3,
        "text-optional": true,
      },
      paint: {
        "text-color": "#123a5a",
        "text-halo-color": HALO,
        "text-halo-width": 1.6,
      },
    },
    {
      // OpenStreetMap towns and villages (raw OSM sources only): above the bases' names.
      id: "label-places",
      type: "symbol",
      source,
      "source-layer": "places",
      filter: ["all", ["==", ["get", "kind"], "place"], ["in", ["get", "place"], ["literal", ["city", "town", "village", "suburb"]]]],
      layout: {
        "symbol-sort-key": ["match", ["get", "place"], "city", 0, "town", 1, "village", 2, "suburb", 3, "hamlet", 4, 5],
        "text-field": ["get", "name"],
        "text-font": FONT_REGULAR,
        "text-size": ["match", ["get", "place"], ["city", "town"], 15, 13],
        "text-transform": "none",
        "text-letter-spacing": 0.02,
        "text-max-width": 9,
        "text-padding": 4,
      },
      paint: {
        "text-color": "#333333",
        "text-halo-color": HALO,
        "text-halo-width": 1.8,
      },
    },
    {
      id: "label-communes",
      type: "symbol",
      source,
      "source-layer": "places",
      filter: ["==", ["get", "kind"], "commune"],
      layout: {
        "symbol-sort-key": ["get", "rank"],
        "text-field": ["get", "name"],
        "text-font": FONT_BOLD,
        "text-size": [
          "interpolate", ["linear"], ["zoom"],
          7, ["step", ["get", "population"], 10, 2000, 11, 10000, 13],
          12, ["step", ["get", "population"], 13, 2000, 15, 10000, 18],
          15, ["step", ["get", "population"], 14, 2000, 16, 10000, 19],
        ],
        "text-max-width": 10,
        "text-padding": 6,
        "text-letter-spacing": 0.02,
      },
      paint: {
        "text-color": "#2b2b2b",
        "text-halo-color": HALO,
        "text-halo-width": 2,
        // Towns fade out once the streets tell where one is: names stay readable but quieter.
        "text-opacity": ["interpolate", ["linear"], ["zoom"], 14, 1, 16, 0.75],
      },
    },
  ];
}
