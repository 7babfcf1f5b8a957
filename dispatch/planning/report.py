"""Self-contained HTML report of planning scenarios (maps and charts as embedded PNG), CSV, JSON."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dispatch.errors import ValidationError

TEXT = {
    "fr": {
        "title": "Rapport de planification",
        "territory": "Territoire",
        "population": "Population",
        "compare": "Comparaison des scénarios",
        "coverage": "Couverture",
        "access": "Accessibilité (E2SFCA, type APL)",
        "simulation": "Simulation de la demande",
        "days": "Jours simulés",
        "map_cov": "Isochrones depuis les bases et part de la population couverte par commune",
        "map_acc": "Indicateur d'accessibilité par commune (visites/jour pour 1 000 habitants)",
        "map_dem": "Demandes du premier jour simulé",
        "chart_bands": "Population par tranche de temps de trajet",
        "chart_kpis": "Indicateurs de service",
        "chart_days": "Visites servies et refusées par jour",
        "least": "Communes les moins couvertes (population hors de la dernière tranche)",
        "uncovered": "non couverte",
        "covered_share": "part couverte",
        "served": "servies",
        "refused": "refusées",
        "on_time": "à l'heure",
        "late": "en retard",
        "service_level": "taux de service",
        "on_time_share": "part à l'heure",
        "travel_share": "part de trajet",
        "bases": "Bases",
        "method": "Méthode",
        "files": "Fichiers",
        "within": "≤ {m} min",
        "beyond": "> {m} min",
        "none": "aucune",
        "generated": "Produit par dispatch",
        "attribution": "Réseau routier © contributeurs OpenStreetMap (ODbL)",
        "teams_needed": "Équipes nécessaires pour un taux de service de {t:.0%}",
        "day": "jour",
    },
    "en": {
        "title": "Planning report",
        "territory": "Territory",
        "population": "Population",
        "compare": "Scenario comparison",
        "coverage": "Coverage",
        "access": "Accessibility (E2SFCA, APL-like)",
        "simulation": "Demand simulation",
        "days": "Simulated days",
        "map_cov": "Isochrones from the bases and share of population covered per commune",
        "map_acc": "Accessibility indicator per commune (visits/day per 1,000 inhabitants)",
        "map_dem": "Requests of the first simulated day",
        "chart_bands": "Population by travel-time band",
        "chart_kpis": "Service indicators",
        "chart_days": "Visits served and refused per day",
        "least": "Least covered communes (population beyond the last band)",
        "uncovered": "uncovered",
        "covered_share": "covered share",
        "served": "served",
        "refused": "refused",
        "on_time": "on time",
        "late": "late",
        "service_level": "service level",
        "on_time_share": "on-time share",
        "travel_share": "travel share",
        "bases": "Bases",
        "method": "Method",
        "files": "Files",
        "within": "≤ {m} min",
        "beyond": "> {m} min",
        "none": "none",
        "generated": "Made by dispatch",
        "attribution": "Road network © OpenStreetMap contributors (ODbL)",
        "teams_needed": "Teams needed for a {t:.0%} service level",
        "day": "day",
    },
}

COLUMNS = {
    "fr": {
        "scenario": "scénario",
        "bases": "bases",
        "teams": "équipes",
        "uncovered_population": "population non couverte",
        "apl_mean_per_1000": "APL moyen /1000 hab.",
        "days": "jours",
        "requested": "demandes",
        "served": "servies",
        "refused": "refusées",
        "service_level": "taux de service",
        "on_time_share": "part à l'heure",
        "travel_share": "part de trajet",
        "distance_km": "km",
        "travel_time_h": "heures de route",
        "visits_per_team_day": "visites/équipe/jour",
        "violations": "violations",
        "teams_needed": "équipes nécessaires",
        "service_level_target": "taux visé",
        "day": "jour",
        "km": "km",
        "refused_reasons": "motifs de refus",
        "name": "nom",
        "commune": "commune",
        "id": "id",
    },
    "en": {},
}


def _label(key: str, locale: str) -> str:
    m = re.fullmatch(r"covered_(\d+)min_share", key)
    if m:
        return f"part ≤ {m.group(1)} min" if locale == "fr" else f"share ≤ {m.group(1)} min"
    return COLUMNS.get(locale, {}).get(key, key.replace("_", " "))


METHOD_TEXT = {
    "fr": (
        "Couverture : temps de trajet en voiture depuis la base la plus proche (plus courts "
        "chemins exacts sur le réseau routier), population de chaque nœud routier selon le "
        "modèle de population du territoire ; les tranches et la population non couverte "
        "somment exactement à la population du territoire. Accessibilité : E2SFCA (deux étapes, "
        "zones de chalandise flottantes, pondération par paliers), offre = capacité des équipes "
        "en visites/jour à chaque base, demande = population, paliers {steps}. Simulation : "
        "demandes tirées du modèle de population ({rate} visites/jour pour 1 000 habitants en "
        "semaine), réparties chaque jour par l'optimiseur ; graine {seed}."
    ),
    "en": (
        "Coverage: car travel time from the nearest base (exact shortest paths on the road "
        "network), population of each road node from the territory's population model; the "
        "bands and the uncovered population sum exactly to the territory's population. "
        "Accessibility: E2SFCA (two-step floating catchment with step weights), supply = team "
        "capacity in visits/day at each base, demand = population, steps {steps}. Simulation: "
        "requests drawn from the population model ({rate} visits/day per 1,000 inhabitants on "
        "weekdays), dispatched each day by the optimiser; seed {seed}."
    ),
}


def slug(text: str) -> str:
    """A file-name-safe version of a scenario name."""
    s = re.sub(r"[^a-zA-Z0-9]+", "-", text.lower()).strip("-")
    return s[:60] or "scenario"


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(width: float = 7.0, height: float = 7.0) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


_SHAPES: dict[int, list[Any]] = {}


def _commune_shapes(territory: Any) -> tuple[list[Any], np.ndarray, np.ndarray]:
    # Outlines simplified to about 100 m: plenty for a 7-inch map, several times faster to draw.
    key = id(territory)
    if key not in _SHAPES:
        _SHAPES.clear()
        _SHAPES[key] = [
            None if c.geometry is None else c.geometry.simplify(0.001, preserve_topology=True)
            for c in territory.communes
        ]
    geoms = _SHAPES[key]
    lons = np.array([c.lon for c in territory.communes], dtype=float)
    lats = np.array([c.lat for c in territory.communes], dtype=float)
    return geoms, lons, lats


def _rings(geom: Any) -> list[np.ndarray]:
    """Exterior rings of a (Multi)Polygon as (n, 2) arrays (holes are not drawn)."""
    polys = getattr(geom, "geoms", [geom])
    return [
        np.asarray(p.exterior.coords) for p in polys if hasattr(p, "exterior") and not p.is_empty
    ]


def _lines(geom: Any) -> list[np.ndarray]:
    """Every ring (exterior and holes) of a (Multi)Polygon, for outlines."""
    out = []
    for p in getattr(geom, "geoms", [geom]):
        if hasattr(p, "exterior") and not p.is_empty:
            out.append(np.asarray(p.exterior.coords))
            out.extend(np.asarray(r.coords) for r in p.interiors)
    return out


def _draw_communes(
    ax: Any, territory: Any, values: np.ndarray, cmap: str, vmin: float, vmax: float, label: str
) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection
    from matplotlib.colors import Normalize

    geoms, lons, lats = _commune_shapes(territory)
    norm = Normalize(vmin=vmin, vmax=vmax if vmax > vmin else vmin + 1)
    colormap = plt.get_cmap(cmap)
    verts, colours = [], []
    for g, v in zip(geoms, values, strict=True):
        if g is None:
            continue
        for ring in _rings(g):
            verts.append(ring)
            colours.append(colormap(norm(v)))
    if verts:
        ax.add_collection(
            PolyCollection(verts, facecolors=colours, edgecolors="#666", linewidths=0.2)
        )
    missing = [i for i, g in enumerate(geoms) if g is None]
    if missing:
        ax.scatter(
            lons[missing],
            lats[missing],
            c=values[missing],
            cmap=cmap,
            norm=norm,
            s=25,
            edgecolors="#333",
            linewidths=0.3,
        )
    ax.autoscale_view()
    sm = plt.cm.ScalarMappable(cmap=colormap, norm=norm)
    cb = ax.figure.colorbar(sm, ax=ax, shrink=0.6)
    cb.set_label(label)


def _outline(ax: Any, geom: Any, **kwargs: Any) -> None:
    from matplotlib.collections import LineCollection

    lines = _lines(geom)
    if lines:
        ax.add_collection(LineCollection(lines, **kwargs))


def _finish_map(ax: Any, territory: Any) -> None:
    if getattr(territory, "boundary", None) is not None:
        _outline(ax, territory.boundary.simplify(0.001), colors="#222", linewidths=0.6)
    ax.autoscale_view()
    lat0 = float(np.mean(territory.graph.node_lat))
    ax.set_aspect(1 / np.cos(np.radians(lat0)))
    ax.set_xlabel("lon")
    ax.set_ylabel("lat")


def coverage_map(territory: Any, result: Any, t: dict[str, str]) -> str:
    """PNG data URL: commune covered share, isochrones and bases."""
    from shapely.geometry import shape

    fig, ax = _figure()
    share = np.array([_share(result.coverage, c.code_insee) for c in territory.communes])
    _draw_communes(ax, territory, share * 100, "RdYlGn", 0, 100, t["covered_share"] + " (%)")
    colours = ["#08519c", "#3182bd", "#6baed6", "#9ecae1", "#c6dbef"]
    for k, f in enumerate(result.isochrones["features"]):
        geom = shape(f["geometry"]).simplify(0.002)
        if geom.is_empty:
            continue
        colour = colours[min(k, len(colours) - 1)]
        _outline(ax, geom, colors=colour, linewidths=1.0)
        ax.plot([], [], color=colour, label=t["within"].format(m=f["properties"]["limit_min"]))
    bx = [b["lon"] for b in result.bases]
    by = [b["lat"] for b in result.bases]
    ax.scatter(
        bx, by, marker="*", s=160, c="#d62728", edgecolors="black", zorder=5, label=t["bases"]
    )
    ax.legend(loc="lower left", fontsize=8)
    ax.set_title(result.scenario.name, fontsize=10)
    _finish_map(ax, territory)
    return _png(fig)


def _share(cov: Any, code: str) -> float:
    for c in cov.communes:
        if c.code_insee == code:
            return c.covered_share
    return 0.0


def accessibility_map(territory: Any, result: Any, t: dict[str, str], vmax: float) -> str:
    """PNG data URL: E2SFCA choropleth with the bases."""
    fig, ax = _figure()
    values = np.asarray(result.accessibility.per_1000, dtype=float)
    _draw_communes(
        ax, territory, values, "viridis", 0, vmax, t["map_acc"].split("(")[-1].rstrip(")")
    )
    ax.scatter(
        [b["lon"] for b in result.bases],
        [b["lat"] for b in result.bases],
        marker="*",
        s=160,
        c="#d62728",
        edgecolors="black",
        zorder=5,
    )
    ax.set_title(result.scenario.name, fontsize=10)
    _finish_map(ax, territory)
    return _png(fig)


def demand_map(territory: Any, result: Any, t: dict[str, str]) -> str | None:
    """PNG data URL: the first day's requests by outcome, or None without simulated days."""
    if not result.days or not result.days[0].points:
        return None
    fig, ax = _figure()
    _finish_map(ax, territory)
    pts = result.days[0].points
    for status, colour in (("on_time", "#2ca02c"), ("late", "#ff7f0e"), ("refused", "#d62728")):
        sel = [p for p in pts if p["status"] == status]
        if sel:
            ax.scatter(
                [p["lon"] for p in sel],
                [p["lat"] for p in sel],
                s=14,
                c=colour,
                label=f"{t[status]} ({len(sel)})",
                zorder=4,
            )
    ax.scatter(
        [b["lon"] for b in result.bases],
        [b["lat"] for b in result.bases],
        marker="*",
        s=160,
        c="#1f77b4",
        edgecolors="black",
        zorder=5,
        label=t["bases"],
    )
    ax.legend(loc="lower left", fontsize=8)
    ax.set_title(f"{result.scenario.name} - {t['day']} 1", fontsize=10)
    return _png(fig)


def bands_chart(results: Sequence[Any], t: dict[str, str]) -> str:
    """PNG data URL: stacked bars of population per band, one bar per scenario."""
    fig, ax = _figure(8, 1.2 + 0.6 * len(results))
    names = [r.scenario.name for r in results]
    bands = results[0].coverage.bands_s
    left = np.zeros(len(results))
    colours = ["#08519c", "#3182bd", "#6baed6", "#9ecae1", "#c6dbef"]
    for k, b in enumerate(bands):
        vals = np.array(
            [
                r.coverage.band_population[k] if len(r.coverage.band_population) > k else 0
                for r in results
            ]
        )
        ax.barh(
            names, vals, left=left, color=colours[min(k, 4)], label=t["within"].format(m=b // 60)
        )
        left += vals
    unc = np.array([r.coverage.uncovered_population for r in results])
    ax.barh(names, unc, left=left, color="#bbbbbb", label=t["beyond"].format(m=bands[-1] // 60))
    ax.set_xlabel(t["population"])
    ax.legend(fontsize=8, ncol=len(bands) + 1, loc="upper center", bbox_to_anchor=(0.5, -0.35))
    ax.invert_yaxis()
    return _png(fig)


def kpi_chart(results: Sequence[Any], t: dict[str, str]) -> str:
    """PNG data URL: grouped bars of service level, on-time and travel shares per scenario."""
    fig, ax = _figure(8, 3.5)
    keys = ("service_level", "on_time_share", "travel_share")
    x = np.arange(len(keys))
    width = 0.8 / max(1, len(results))
    for i, r in enumerate(results):
        s = r.summary
        ax.bar(x + i * width, [s[k] * 100 for k in keys], width, label=r.scenario.name)
    ax.set_xticks(x + width * (len(results) - 1) / 2, [t[k] for k in keys])
    ax.set_ylabel("%")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=8)
    return _png(fig)


def days_chart(results: Sequence[Any], t: dict[str, str]) -> str:
    """PNG data URL: served (solid) and refused (dashed) visits per simulated day."""
    fig, ax = _figure(8, 3.5)
    for r in results:
        days = [d.day + 1 for d in r.days]
        line = ax.plot(
            days, [d.served for d in r.days], marker="o", label=f"{r.scenario.name} - {t['served']}"
        )
        ax.plot(
            days,
            [d.refused for d in r.days],
            marker="x",
            linestyle="--",
            color=line[0].get_color(),
            label=f"{r.scenario.name} - {t['refused']}",
        )
    ax.set_xlabel(t["day"])
    ax.set_ylabel("visites" if t is TEXT["fr"] else "visits")
    ax.legend(fontsize=8)
    return _png(fig)


def _table(rows: Sequence[dict[str, Any]], *, table_id: str = "", locale: str = "fr") -> str:
    if not rows:
        return "<p>-</p>"
    cols = list(rows[0])
    head = "".join(f"<th>{html.escape(_label(str(c), locale))}</th>" for c in cols)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(_local(_fmt(r.get(c), str(c)), r.get(c), locale))}</td>"
            for c in cols
        )
        + "</tr>"
        for r in rows
    )
    ident = f' id="{table_id}"' if table_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _local(text: str, value: Any, locale: str) -> str:
    """A number written by :func:`_fmt` the French way in French (1 234,5 ; 50,6 %)."""
    if locale != "fr" or not isinstance(value, float):
        return text
    return french_number(text)


def french_number(text: str) -> str:
    """``1,234.5`` / ``50.6%`` written the French way: ``1 234,5`` / ``50,6 %`` (narrow
    no-break spaces)."""
    return text.replace(",", "\u202f").replace(".", ",").replace("%", "\u202f%")


def _fmt(v: Any, key: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and key.endswith(("_share", "service_level", "_target")):
        return f"{v:.1%}"
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 10 else f"{v:,.0f}"
    if isinstance(v, dict):
        return ", ".join(f"{k}: {n}" for k, n in v.items()) or "-"
    return str(v)


def _img(src: str | None, alt: str, cls: str) -> str:
    if not src:
        return ""
    return f'<figure><img class="{cls}" alt="{html.escape(alt)}" src="{src}"><figcaption>{html.escape(alt)}</figcaption></figure>'


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Rows as a UTF-8 CSV with a header (nested values as JSON)."""
    cols: list[str] = []
    for r in rows:
        cols.extend(k for k in r if k not in cols)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow(
                {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in r.items()}
            )


def write_report(
    results: Sequence[Any], territory: Any, out_dir: str | Path, *, locale: str = "fr"
) -> Path:
    """Write ``report.html``, ``kpis.csv``, ``kpis.json``, ``days.csv`` and per-scenario tables.

    Returns the path of the HTML report.
    """
    if locale not in TEXT:
        raise ValidationError(f"report language {locale!r} is not supported: use fr or en")
    if not results:
        raise ValidationError("no scenario result to report")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    kpis = [r.kpis() for r in results]
    write_csv(out / "kpis.csv", kpis)
    (out / "kpis.json").write_text(
        json.dumps(
            {"territory": territory.id, "kpis": kpis, "scenarios": [r.to_dict() for r in results]},
            ensure_ascii=False,
            indent=1,
        ),
        encoding="utf-8",
    )
    day_rows = []
    for r in results:
        for d in r.days:
            row = d.to_dict()
            row.pop("timings_s")
            day_rows.append(row)
    write_csv(out / "days.csv", day_rows)
    files = ["kpis.csv", "kpis.json", "days.csv"]
    for r in results:
        s = slug(r.scenario.name)
        write_csv(out / f"coverage-{s}.csv", r.coverage.rows())
        write_csv(out / f"accessibility-{s}.csv", r.accessibility.rows())
        (out / f"isochrones-{s}.geojson").write_text(json.dumps(r.isochrones), encoding="utf-8")
        files += [f"coverage-{s}.csv", f"accessibility-{s}.csv", f"isochrones-{s}.geojson"]

    doc = report_html(results, territory, locale=locale, files=files)
    path = out / "report.html"
    path.write_text(doc, encoding="utf-8")
    return path


#: KPI columns that come from simulated days (left out of a report without simulation).
SIMULATION_KEYS = frozenset(
    {
        "days",
        "requested",
        "served",
        "refused",
        "service_level",
        "on_time_share",
        "travel_share",
        "distance_km",
        "travel_time_h",
        "visits_per_team_day",
        "violations",
        "teams_needed",
        "service_level_target",
    }
)


def report_html(
    results: Sequence[Any], territory: Any, *, locale: str = "fr", files: Sequence[str] = ()
) -> str:
    """The report's HTML document (maps and charts embedded), linking to ``files`` if any.

    The planner page serves it as is; :func:`write_report` writes it beside its tables.
    """
    if locale not in TEXT:
        raise ValidationError(f"report language {locale!r} is not supported: use fr or en")
    if not results:
        raise ValidationError("no scenario result to report")
    t = TEXT[locale]
    kpis = [r.kpis() for r in results]
    simulated = any(r.days for r in results)
    if not simulated:  # coverage only (the planner page): no empty simulation figures
        kpis = [{k: v for k, v in row.items() if k not in SIMULATION_KEYS} for row in kpis]
    vmax = max(max(r.accessibility.per_1000, default=0) for r in results)
    sections = []
    pop = results[0].coverage.total_population
    first = results[0].scenario
    steps = ", ".join(f"≤{s // 60} min: {w:g}" for s, w in results[0].accessibility.steps)
    sections.append(
        f"<section id='compare'><h2>{t['compare']}</h2>{_table(kpis, table_id='kpi-table', locale=locale)}"
        f"{_img(bands_chart(results, t), t['chart_bands'], 'chart')}"
        + (
            f"{_img(kpi_chart(results, t), t['chart_kpis'], 'chart')}"
            f"{_img(days_chart(results, t), t['chart_days'], 'chart')}"
            if any(r.days for r in results)
            else ""
        )
        + "</section>"
    )
    for r in results:
        least = [
            {
                "commune": c.name,
                t["population"]: round(c.population),
                t["uncovered"]: round(c.uncovered_population),
            }
            for c in r.coverage.least_covered(10)
        ]
        tn = r.teams_needed or {}
        tn_text = ""
        if tn:
            tn_text = (
                f"<p>{t['teams_needed'].format(t=tn.get('target', 0))} : "
                f"<strong>{tn.get('teams_needed') or '> ' + str(tn.get('searched_up_to'))}</strong></p>"
            )
        bases = [{"id": b["id"], "name": b["name"], "teams": b["teams"]} for b in r.bases]
        sections.append(
            f"<section class='scenario'><h2>{html.escape(r.scenario.name)}</h2>"
            f"<p>{html.escape(r.scenario.description)}</p>"
            f"<h3>{t['bases']}</h3>{_table(bases, locale=locale)}"
            f"<h3>{t['coverage']}</h3><div class='maps'>"
            f"{_img(coverage_map(territory, r, t), t['map_cov'], 'map')}"
            f"{_img(accessibility_map(territory, r, t, vmax), t['map_acc'], 'map')}"
            f"{_img(demand_map(territory, r, t), t['map_dem'], 'map')}</div>"
            f"<h3>{t['least']}</h3>{_table(least, locale=locale)}"
            + (
                f"<h3>{t['simulation']}</h3>{tn_text}"
                f"{_table([_day_row(d) for d in r.days], locale=locale)}"
                if simulated
                else ""
            )
            + "</section>"
        )
    rate = f"{first.demand.rate_per_1000_per_day:g}"
    if locale == "fr":
        steps = " ; ".join(
            f"≤{s // 60} min : {french_number(f'{w:g}')}" for s, w in results[0].accessibility.steps
        )
        rate = french_number(rate)
    method = METHOD_TEXT[locale].format(steps=steps, rate=rate, seed=first.seed)
    links = " ".join(f"<a href='{html.escape(f)}'>{html.escape(f)}</a>" for f in files)
    files_line = f"<p>{t['files']} : {links}</p>" if files else ""
    days_text = f" · {t['days']} : {max(len(r.days) for r in results)}" if simulated else ""
    doc = f"""<!doctype html>
<html lang="{locale}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t["title"]} - {html.escape(territory.name)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:1.5rem auto;max-width:1200px;padding:0 1rem;color:#222}}
table{{border-collapse:collapse;font-size:.85rem;margin:.5rem 0 1rem;display:block;overflow-x:auto}}
th,td{{border:1px solid #ccc;padding:.2rem .45rem;text-align:right}} th{{background:#f2f2f2}}
td:first-child,th:first-child{{text-align:left}}
.maps{{display:flex;flex-wrap:wrap;gap:1rem}} figure{{margin:0}} img.map{{max-width:380px}}
img.chart{{max-width:100%}} figcaption{{font-size:.8rem;color:#555;max-width:380px}}
section{{border-top:2px solid #ddd;margin-top:1.5rem}} footer{{font-size:.8rem;color:#666;margin-top:2rem}}
</style></head><body>
<h1>{t["title"]} - {html.escape(territory.name)}</h1>
<p>{t["territory"]} : {html.escape(territory.id)} · {t["population"]} : {_local(f"{pop:,.0f}", pop, locale)}{days_text}</p>
<p><strong>{t["method"]}</strong> : {html.escape(method)}</p>
{"".join(sections)}
<footer>{files_line}<p>{t["generated"]} · {t["attribution"]}</p></footer>
</body></html>"""
    return doc


def _day_row(d: Any) -> dict[str, Any]:
    return {
        "day": d.day + 1,
        "requested": d.requested,
        "served": d.served,
        "refused": d.refused,
        "on_time_share": round(d.on_time_share, 3),
        "teams": d.teams_on_duty,
        "travel_share": round(d.travel_share, 3),
        "km": round(d.distance_m / 1000, 1),
        "refused_reasons": d.refused_reasons,
    }
