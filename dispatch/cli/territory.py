"""`dispatch territory ...`: list, fetch, build and describe territories."""

from __future__ import annotations

import json
import time

import click

from dispatch.cli import get_settings


def _progress(start: float):  # type: ignore[no-untyped-def]
    def say(message: str) -> None:
        click.echo(f"[{time.perf_counter() - start:6.1f} s] {message}", err=True)

    return say


@click.group()
def territory() -> None:
    """Territoires : définitions, données routières, cache construit.

    Example: dispatch territory build haute-corse
    """


@territory.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def list_cmd(ctx: click.Context, as_json: bool) -> None:
    """List the defined territories and whether each is built and its data present.

    Example: dispatch territory list
    """
    from dispatch.errors import DispatchError
    from dispatch.territory import find_data_file, list_territories, load_territory

    settings = get_settings(ctx)
    rows = []
    for d in list_territories(settings):
        try:
            find_data_file(d.road, settings)
            data = "ok"
        except DispatchError:
            data = "missing"
        try:
            built = f"{load_territory(d.id, settings).info['nodes']} nodes"
        except DispatchError:
            built = "not built"
        rows.append(
            {
                "id": d.id,
                "name": d.name,
                "communes": len(d.communes),
                "road_file": d.road.file,
                "data": data,
                "built": built,
            }
        )
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    for r in rows:
        click.echo(
            f"{r['id']:<18} {r['name']:<20} {r['communes']:>4} communes  "
            f"{r['road_file']:<28} data {r['data']:<8} {r['built']}"
        )


@territory.command()
@click.argument("territory_id")
@click.option("--url", help="Download from this URL instead of the definition's origin.")
@click.pass_context
def fetch(ctx: click.Context, territory_id: str, url: str | None) -> None:
    """Download the road file of a territory (when missing) and check its sha256.

    Example: dispatch territory fetch saint-barthelemy
    """
    from dispatch.territory.fetch import fetch_road_file

    settings = get_settings(ctx)
    path = fetch_road_file(territory_id, settings, url=url, progress=_progress(time.perf_counter()))
    click.echo(str(path))


@territory.command()
@click.argument("territory_id")
@click.option("--force", is_flag=True, help="Rebuild even if the cache is up to date.")
@click.option(
    "--place",
    help="Build from OpenStreetMap online (osmnx) for this place instead "
    "of the road file, e.g. 'Melun, France' (needs internet).",
)
@click.pass_context
def build(ctx: click.Context, territory_id: str, force: bool, place: str | None) -> None:
    """Import the roads, clip them to the communes, spread the population, write the cache.

    Example: dispatch territory build haute-corse --force
    """
    from dispatch.territory import build_territory

    settings = get_settings(ctx)
    start = time.perf_counter()
    if place:
        from dispatch.territory.build import build_territory_from_place

        built = build_territory_from_place(
            territory_id, settings, place=place, progress=_progress(start)
        )
    else:
        built = build_territory(territory_id, settings, force=force, progress=_progress(start))
    # Prepare the routing index now, so the first route or matrix after a build is fast.
    from dispatch.routing import Router

    _progress(start)("preparing the routing index (contraction hierarchies)")
    Router.for_territory(built)
    info = built.info
    click.echo(
        f"{built.id}: {info['nodes']} nodes, {info['arcs']} arcs, "
        f"population {info['population']:,.0f}, {len(built.bases)} bases, "
        f"built in {info['build_s']} s -> {built.cache_dir}"
    )


@territory.command()
@click.argument("territory_id")
@click.option("--json", "as_json", is_flag=True, help="Print the build information as JSON.")
@click.pass_context
def info(ctx: click.Context, territory_id: str, as_json: bool) -> None:
    """Describe a built territory: size, population, bbox, what was dropped, sources.

    Example: dispatch territory info haute-corse --json
    """
    from dispatch.territory import load_territory

    built = load_territory(territory_id, get_settings(ctx))
    data = dict(built.info)
    data["bases"] = [b.to_dict() for b in built.bases]
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=1))
        return
    click.echo(f"{built.name} ({built.id})")
    click.echo(
        f"  roads       {data['nodes']} nodes, {data['arcs']} arcs, {data['road_length_km']} km"
    )
    click.echo(f"  population  {data['population']:,.0f} in {data['communes']} communes")
    click.echo("  bbox        " + ", ".join(f"{v:.4f}" for v in data["bbox"]))
    click.echo("  dropped     " + ", ".join(f"{k} {v}" for k, v in data["dropped"].items()))
    src = data["source"]
    click.echo(f"  source      {src['file']} sha256 {src['sha256'][:12]}…  {src['attribution']}")
    click.echo(f"  built       {data['built_at']} in {data['build_s']} s")
    for b in built.bases:
        click.echo(f"  base        {b.name} ({b.kind}) snapped {b.snap_distance_m:.0f} m")
