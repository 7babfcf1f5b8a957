"""`dispatch serve`: the web server (Flask + Flask-SocketIO), first-run territory build and demo."""

from __future__ import annotations

import logging
import secrets
from typing import Any

import click

from dispatch.cli import get_settings
from dispatch.errors import DispatchError
from dispatch.settings import Settings


def prepare(settings: Settings, *, demo: bool = True, echo: Any = click.echo) -> dict[str, Any]:
    """Build the territory if needed, open the store, seed demo data into an empty database.

    Returns ``{"territory", "store", "admin_password"}`` (the password only when this call
    created the first administrator).
    """
    from dispatch.store import Store
    from dispatch.territory import build_territory, load_territory

    try:
        territory = load_territory(settings.territory, settings)
    except FileNotFoundError:
        echo(f"Building territory {settings.territory} (first run, about a minute)...")
        build_territory(settings.territory, settings, progress=lambda m: echo(f"  {m}"))
        territory = load_territory(settings.territory, settings)
    store = Store(settings.database)
    admin_password = None
    empty = not store.list_teams(limit=1) and not store.list_users(limit=1)
    if empty and demo:
        from dispatch.demo import plan_demo_service_day, seed_demo_service

        summary = seed_demo_service(store, territory)
        generated = summary["generation"]
        echo(
            f"Empty database: seeded the demonstration service ({len(summary['structures'])} "
            f"structures, {summary['patients']} patients, {summary['care_plans']} care plans, "
            f"{summary['staff']} staff) and generated {generated['created']} visits over "
            f"{generated['days']} days from {summary['day']} (remove them with "
            "`dispatch demo clear`)."
        )
        planned = plan_demo_service_day(store, territory, day=summary["day"], time_limit_s=5.0)
        echo(
            f"Demo day planned and published: {planned['stops']} visits in "
            f"{planned['routes']} rounds."
        )
    if not store.list_users(limit=1):
        admin_password = secrets.token_urlsafe(12)
        # The administrator manages every structure of the deployment.
        store.add_user(
            "admin",
            role="admin",
            password=admin_password,
            display_name="Administrateur",
            structure_ids=[s["id"] for s in store.list_structures()],
        )
    return {"territory": territory, "store": store, "admin_password": admin_password}


def _start_generation(app: Any, store: Any, settings: Settings) -> Any:
    """Generate the care plans' visits now and every day at ``generation_hour``, on the
    rounds' clock, telling the live screens (the app's bus) what changed."""
    from dispatch.care.schedule import start_generation_schedule
    from dispatch.web.live import get_clock
    from dispatch.web.rest import get_bus

    clock = get_clock(app)
    bus = get_bus(app)

    class AppBus:
        """The app's bus, its listeners called inside the app's context."""

        def publish(self, topic: str, payload: Any) -> int:
            with app.app_context():
                return bus.publish(topic, payload)

    return start_generation_schedule(
        store,
        settings,
        bus=AppBus(),
        tz=clock.tz.key,
        now=lambda: clock.local().timestamp(),
    )


#: The gevent process's program: patch before anything is imported (``-m
#: dispatch.web.gevent_main`` would import dispatch.web, and with it ssl, first), then run
#: the command line. Its first line names the module in `ps` listings. Processes the solver
#: spawns from it are not patched.
GEVENT_FIRST = (
    "# dispatch.web.gevent_main\n"
    "from gevent import monkey; monkey.patch_all(); "
    "from dispatch.web.gevent_main import main; main()"
)


def _restart_under_gevent(server: str) -> None:
    """Run this same command again in a process gevent patches before any import."""
    import os
    import sys

    from dispatch.web.app import missing_for_gevent

    missing = missing_for_gevent()
    if missing:
        raise click.ClickException(
            f"the gevent server needs {' and '.join(missing)}, which dispatch installs: "
            "install dispatch again (pip install .), or run `dispatch serve --server threading`"
        )
    os.environ["DISPATCH_SERVER"] = server
    os.execv(sys.executable, [sys.executable, "-c", GEVENT_FIRST, *sys.argv[1:]])


@click.command()
@click.option("--host", help="Address to listen on (default: the setting, 127.0.0.1).")
@click.option("--port", type=int, help="Port (default: the setting, 5000).")
@click.option("--territory", "territory_id", help="Territory served (default: the setting).")
@click.option(
    "--no-demo",
    is_flag=True,
    help="Do not seed demo data into an empty database, and do not move demo teams.",
)
@click.option("--debug", is_flag=True, help="Flask debug mode (never in production).")
@click.option(
    "--server",
    "server",
    type=click.Choice(["threading", "gevent"]),
    default=None,
    help="gevent (the default: one process holds thousands of sockets and about twice the "
    "reports per second) or threading (werkzeug and simple-websocket: a few screens).",
)
@click.pass_context
def serve(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    territory_id: str | None,
    no_demo: bool,
    debug: bool,
    server: str | None,
) -> None:
    """Serve the live map, the phone page, the REST API and Socket.IO.

    The gevent server by default (the command restarts itself in a process gevent patches
    first); `--server threading` for Werkzeug's threads. In production, behind a TLS reverse
    proxy (see the README).

    Example: dispatch serve --territory haute-corse --port 5000
    """
    from dispatch.live.basemap import ensure_basemap
    from dispatch.store import start_retention
    from dispatch.web.app import create_app, gevent_patched, socketio, tune_gc
    from dispatch.web.headers import QuietRequestHandler
    from dispatch.web.live import TERRITORY_KEY, get_hub

    settings = get_settings(ctx)
    changes = {
        k: v
        for k, v in {
            "host": host,
            "port": port,
            "territory": territory_id,
            "server": server,
        }.items()
        if v is not None
    }
    try:
        settings = settings.replace(**changes)
    except DispatchError as exc:
        raise click.ClickException(exc.message) from None
    if settings.server == "gevent" and not gevent_patched():
        _restart_under_gevent(settings.server)
    logging.basicConfig(
        level=logging.INFO if debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    ready = prepare(settings, demo=not no_demo)
    territory, store = ready["territory"], ready["store"]
    if not settings.online_tiles:
        click.echo("Base map: building self-hosted vector tiles...", nl=False)
        path = ensure_basemap(territory, settings.cache)
        click.echo(f" {path.stat().st_size / 1e6:.1f} MB")
    app = create_app(settings, **{"dispatch.store": store, TERRITORY_KEY: territory})
    from dispatch.web.api_referrals import get_referrals

    referrals = get_referrals(app)
    start_retention(
        store,
        settings,
        others={
            # Finished requests keep the patient's identity as long as an archived patient does.
            "referrals": lambda: referrals.purge(retention_days=settings.patient_retention_days)
        },
    )
    get_hub(app)
    schedule = _start_generation(app, store, settings)
    mover = None
    if not no_demo:
        from dispatch.demo_live import app_publisher, has_demo_teams, start_demo_movement
        from dispatch.routing import Router

        if has_demo_teams(store):
            mover = start_demo_movement(
                store,
                territory,
                router=Router.for_territory(territory),
                publish=app_publisher(app),
            )
            click.echo("Demo: demo teams drive their published rounds (positions labelled demo).")
    base = f"http://{settings.host}:{settings.port}"
    click.echo(
        f"{territory.name}: coordinators {base}/map/  phones {base}/phone/  "
        f"Traccar Client {base}/osmand"
    )
    if ready["admin_password"]:
        click.echo(
            f"First run: log in as 'admin' with password {ready['admin_password']} "
            "(change it with `dispatch user passwd admin`)."
        )
    tune_gc()
    # Werkzeug's handler without its Server header (versions); gevent's sends none.
    handler = {} if gevent_patched() else {"request_handler": QuietRequestHandler}
    try:
        socketio.run(
            app,
            host=settings.host,
            port=settings.port,
            debug=debug,
            use_reloader=False,
            allow_unsafe_werkzeug=True,
            log_output=debug,
            **handler,
        )
    finally:
        schedule.stop()
        if mover is not None:
            mover.stop()
