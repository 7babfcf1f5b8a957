"""`dispatch structure | user | team | device | db | demo`: administration commands."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from dispatch.cli import get_settings
from dispatch.errors import ValidationError
from dispatch.settings import Settings
from dispatch.store import Store
from dispatch.store.models import (
    LOCAL_TZ,
    ROLES,
    STRUCTURE_KINDS,
    TEAM_KINDS,
    VEHICLE_PROFILES,
    format_hhmm,
)


def _open(ctx: click.Context) -> Store:
    settings: Settings = get_settings(ctx)
    store = Store(settings.database)
    ctx.call_on_close(store.close)
    return store


def _structure_ids(store: Store, keys: tuple[str, ...]) -> list[int] | None:
    """Ids of the structures named by ``--structure`` options (id or name); None if none."""
    return [store.find_structure(key)["id"] for key in keys] if keys else None


# -- structures -------------------------------------------------------------------------------
@click.group()
def structure() -> None:
    """Manage structures: the SSIAD, HAD, nursing centre... sharing this deployment.

    Each has its own patients, staff, teams, visits and users.

    Example: dispatch structure add "SSIAD du Cap" --kind ssiad --finess 2B0001234
    """


@structure.command("add")
@click.argument("name")
@click.option("--kind", type=click.Choice(STRUCTURE_KINDS), required=True, help="What it is.")
@click.option("--finess", help="Its FINESS number (9 characters).")
@click.pass_context
def structure_add(ctx: click.Context, name: str, kind: str, finess: str | None) -> None:
    """Create a structure.

    Example: dispatch structure add "HAD Haute-Corse" --kind had
    """
    store = _open(ctx)
    created = store.add_structure({"name": name, "kind": kind, "finess": finess})
    store.audit("cli", "structure.create", target=f"structure:{created['id']}")
    click.echo(f"structure {created['name']} created (id {created['id']}, {kind})")


@structure.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def structure_list(ctx: click.Context, as_json: bool) -> None:
    """List structures with their numbers of users, teams, patients and staff.

    Example: dispatch structure list
    """
    items = _open(ctx).list_structures()
    if as_json:
        click.echo(json.dumps(items, ensure_ascii=False, indent=2))
        return
    for s in items:
        c = s["counts"]
        finess = s["finess"] or "-"
        click.echo(
            f"{s['id']:>4}  {s['name']:<40} {s['kind']:<16} {finess:<10} users {c['users']},"
            f" teams {c['teams']}, patients {c['patients']}, staff {c['staff']}"
        )


@structure.command("rename")
@click.argument("key", metavar="STRUCTURE")
@click.argument("name")
@click.pass_context
def structure_rename(ctx: click.Context, key: str, name: str) -> None:
    """Rename a structure (STRUCTURE: its id or current name).

    Example: dispatch structure rename 1 "SSIAD de Bastia"
    """
    store = _open(ctx)
    found = store.find_structure(key)
    store.update_structure(found["id"], {"name": name})
    store.audit("cli", "structure.update", target=f"structure:{found['id']}")
    click.echo(f"structure {found['id']} renamed {name}")


# -- users ------------------------------------------------------------------------------------
@click.group()
def user() -> None:
    """Manage user accounts (coordinators, planners, team members, admins).

    Example: dispatch user add marie --role coordinator
    """


@user.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the user may do.")
@click.option("--team", "team_name", help="Team of a team_member (its name).")
@click.option("--display-name", help="Name shown on screens (default: NAME).")
@click.option("--email", help="E-mail address for the password links of the admin screen.")
@click.option(
    "--structure",
    "structures",
    multiple=True,
    help="A structure the user works for (id or name; repeat for several).",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input instead of prompting.",
)
@click.option("--no-password", is_flag=True, help="No password: API token access only.")
@click.pass_context
def user_add(
    ctx: click.Context,
    name: str,
    role: str,
    team_name: str | None,
    display_name: str | None,
    email: str | None,
    structures: tuple[str, ...],
    password_stdin: bool,
    no_password: bool,
) -> None:
    """Create a user; asks for a password (at least 10 characters).

    With several structures in the deployment, say which the user works for (--structure).

    Example: dispatch user add marie --role coordinator --structure "SSIAD du Cap"
    """
    store = _open(ctx)
    team_id = store.find_team(team_name)["id"] if team_name else None
    structure_ids = _structure_ids(store, structures)
    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif not no_password:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    created = store.add_user(
        name,
        role=role,
        team_id=team_id,
        password=password,
        display_name=display_name,
        email=email,
        structure_ids=structure_ids,
    )
    store.audit("cli", "user.create", target=f"user:{created['id']}", detail={"role": role})
    team = f", team {team_name}" if team_name else ""
    where = ", ".join(map(str, created["structure_ids"]))
    click.echo(
        f"user {created['username']} created (id {created['id']}, {role}{team}, structures {where})"
    )


@user.command("structures")
@click.argument("name")
@click.argument("keys", nargs=-1, required=True, metavar="STRUCTURE...")
@click.pass_context
def user_structures(ctx: click.Context, name: str, keys: tuple[str, ...]) -> None:
    """Set the structures NAME works for (ids or names; replaces the current ones).

    Example: dispatch user structures marie 1 "HAD Haute-Corse"
    """
    store = _open(ctx)
    found = store.find_user(name)
    updated = store.update_user(found["id"], structure_ids=_structure_ids(store, keys))
    store.audit(
        "cli", "user.update", target=f"user:{found['id']}", detail={"fields": ["structure_ids"]}
    )
    click.echo(f"{name} works for structures {', '.join(map(str, updated['structure_ids']))}")


@user.command("token")
@click.argument("name")
@click.option("--label", default="cli", show_default=True, help="What the token is for.")
@click.pass_context
def user_token(ctx: click.Context, name: str, label: str) -> None:
    """Print a new API bearer token for NAME (shown once; only its hash is kept).

    Example: dispatch user token marie --label tableur-export
    """
    store = _open(ctx)
    found = store.find_user(name)
    token = store.create_api_token(found["id"], label=label)
    store.audit("cli", "token.create", target=f"user:{found['id']}", detail={"label": label})
    click.echo(token)


@user.command("list")
@click.pass_context
def user_list(ctx: click.Context) -> None:
    """List users.

    Example: dispatch user list
    """
    store = _open(ctx)
    for u in store.list_users(limit=1000):
        state = "" if u["active"] else "  (disabled)"
        team = f"  team {u['team_id']}" if u["team_id"] else ""
        where = ",".join(map(str, u["structure_ids"])) or "-"
        click.echo(
            f"{u['id']:>4}  {u['username']:<24} {u['role']:<12} structures {where}{team}{state}"
        )


@user.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_context
def user_passwd(ctx: click.Context, name: str, password_stdin: bool) -> None:
    """Set a user's password (ends their open sessions).

    Example: dispatch user passwd marie
    """
    store = _open(ctx)
    found = store.find_user(name)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    store.update_user(found["id"], password=password)
    store.audit("cli", "user.password", target=f"user:{found['id']}")
    click.echo(f"password of {name} changed")


@user.command("email")
@click.argument("name")
@click.argument("address")
@click.pass_context
def user_email(ctx: click.Context, name: str, address: str) -> None:
    """Set the e-mail address that receives NAME's activation and password-reset links.

    The admin screen cannot change it once the account is in use (a new address would let
    whoever holds it choose the password); links already sent stop working.

    Example: dispatch user email marie marie.dupont@ssiad-exemple.fr
    """
    store = _open(ctx)
    found = store.find_user(name)
    store.update_user(found["id"], email=address)
    store.audit("cli", "user.update", target=f"user:{found['id']}", detail={"fields": ["email"]})
    click.echo(f"e-mail address of {name} set")


@user.command("disable")
@click.argument("name")
@click.pass_context
def user_disable(ctx: click.Context, name: str) -> None:
    """Disable a user: sessions and tokens stop working at once.

    Example: dispatch user disable marie
    """
    store = _open(ctx)
    found = store.find_user(name)
    store.update_user(found["id"], active=False)
    store.audit("cli", "user.disable", target=f"user:{found['id']}")
    click.echo(f"user {name} disabled")


# -- teams ------------------------------------------------------------------------------------
def _shift(value: str) -> tuple[str, str]:
    start, sep, end = value.partition("-")
    if not sep:
        raise ValidationError(f"--shift {value!r}: write START-END, e.g. 07:00-19:00")
    return start.strip(), end.strip()


@click.group()
def team() -> None:
    """Manage care teams.

    Example: dispatch team add "IDE Bastia" --kind nursing --base ch-bastia
    """


@team.command("add")
@click.argument("name")
@click.option("--kind", type=click.Choice(TEAM_KINDS), default="nursing", show_default=True)
@click.option("--base", "base_id", help="A base id of the territory (sets the base's place).")
@click.option("--territory", "territory_id", help="Territory of --base (default: the setting).")
@click.option("--lon", type=float, help="Base longitude (without --base).")
@click.option("--lat", type=float, help="Base latitude (without --base).")
@click.option("--skills", default="", help="Comma-separated skills, e.g. insulin,wound_care.")
@click.option("--shift", default="07:00-19:00", show_default=True, help="Working hours.")
@click.option("--vehicle", type=click.Choice(VEHICLE_PROFILES), default="car", show_default=True)
@click.option("--structure", "structure_key", help="Its structure (id or name; default: 1).")
@click.pass_context
def team_add(
    ctx: click.Context,
    name: str,
    kind: str,
    base_id: str | None,
    territory_id: str | None,
    lon: float | None,
    lat: float | None,
    skills: str,
    shift: str,
    vehicle: str,
    structure_key: str | None,
) -> None:
    """Create a team based at a territory base (--base) or at --lon/--lat.

    Example: dispatch team add "IDE Bastia" --kind nursing --base ch-bastia --skills insulin
    """
    settings = get_settings(ctx)
    base_name = None
    if base_id:
        from dispatch.territory import load_definition

        definition = load_definition(territory_id or settings.territory, settings)
        bases = {b.id: b for b in getattr(definition, "bases", [])}
        if base_id not in bases:
            raise ValidationError(
                f"base {base_id!r} is not in {definition.id}; known: {', '.join(sorted(bases))}"
            )
        base = bases[base_id]
        lon, lat, base_name = base.lon, base.lat, base.name
    if lon is None or lat is None:
        raise ValidationError("give --base BASE_ID or both --lon and --lat")
    start, end = _shift(shift)
    store = _open(ctx)
    created = store.add_team(
        {
            "name": name,
            "kind": kind,
            "skills": skills,
            "base_name": base_name,
            "base_lon": lon,
            "base_lat": lat,
            "shift_start": start,
            "shift_end": end,
            "vehicle_profile": vehicle,
        },
        structure_id=store.find_structure(structure_key)["id"] if structure_key else None,
    )
    store.audit("cli", "team.create", target=f"team:{created['id']}")
    click.echo(
        f"team {created['name']} created (id {created['id']}, {kind}, "
        f"{format_hhmm(created['shift_start_s'])}-{format_hhmm(created['shift_end_s'])})"
    )


@team.command("list")
@click.pass_context
def team_list(ctx: click.Context) -> None:
    """List teams.

    Example: dispatch team list
    """
    store = _open(ctx)
    for t in store.list_teams(limit=1000):
        shift = f"{format_hhmm(t['shift_start_s'])}-{format_hhmm(t['shift_end_s'])}"
        skills = ",".join(t["skills"]) or "-"
        demo = "  (démo)" if t["demo"] else ""
        click.echo(
            f"{t['id']:>4}  {t['name']:<48} {t['kind']:<10} {shift}  structure"
            f" {t['structure_id']}  {skills}{demo}"
        )


# -- devices ----------------------------------------------------------------------------------
@click.group()
def device() -> None:
    """Pair, list and revoke team phones.

    Example: dispatch device pair "IDE Bastia"
    """


@device.command("pair")
@click.argument("team_name", metavar="TEAM")
@click.option("--base-url", help="Address phones use to reach the server (default: host:port).")
@click.option("--qr", is_flag=True, help="Also draw the QR code in the terminal.")
@click.option(
    "--traccar",
    is_flag=True,
    help="Pair a phone running only Traccar Client now: print its server URL and identifier.",
)
@click.pass_context
def device_pair(
    ctx: click.Context, team_name: str, base_url: str | None, qr: bool, traccar: bool
) -> None:
    """Print a one-time pairing code and link (valid 15 minutes) for a phone of TEAM.

    A phone paired with the link shows its Traccar identifier in the phone page's settings.
    With --traccar the device is created at once for Traccar Client (OsmAnd protocol): its
    identifier may only post positions of TEAM, never read anything.

    Example: dispatch device pair "IDE Bastia" --base-url https://dispatch.example.org --qr
    """
    from dispatch.web.api_teams import PAIR_PAGE_PATH

    settings = get_settings(ctx)
    store = _open(ctx)
    found = store.find_team(team_name)
    pairing = store.create_pairing(found["id"])
    store.audit("cli", "device.pairing.create", target=f"team:{found['id']}")
    url = (base_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    if traccar:
        paired = store.pair_device(pairing["code"], label="Traccar Client")
        store.audit("cli", "device.pair", target=f"device:{paired['device']['id']}")
        click.echo(f"device: {paired['device']['id']} (team {found['name']})")
        click.echo(f"Traccar Client server URL: {url}/osmand")
        click.echo(f"Traccar Client device identifier: {paired['device']['traccar_id']}")
        return
    link = f"{url}{PAIR_PAGE_PATH}?code={pairing['code']}"
    expires = dt.datetime.fromtimestamp(pairing["expires_at_s"], ZoneInfo(LOCAL_TZ)).strftime(
        "%H:%M"
    )
    click.echo(f"code: {pairing['code']}")
    click.echo(f"link: {link}")
    click.echo(f"valid until {expires}, once")
    if qr:
        import qrcode

        code = qrcode.QRCode(border=1)
        code.add_data(link)
        code.print_ascii(out=sys.stdout, invert=True)


@device.command("list")
@click.pass_context
def device_list(ctx: click.Context) -> None:
    """List paired devices.

    Example: dispatch device list
    """
    store = _open(ctx)
    for d in store.list_devices(limit=1000):
        state = "revoked" if d["revoked"] else "active"
        seen = dt.datetime.fromtimestamp(d["last_seen_at_s"] or 0, ZoneInfo(LOCAL_TZ)).strftime(
            "%Y-%m-%d %H:%M"
        )
        click.echo(
            f"{d['id']:>4}  team {d['team_id']:<4} {d['label'] or '':<20} {state:<8} {seen}"
            f"  traccar {d.get('traccar_id') or '-'}"
        )


@device.command("revoke")
@click.argument("device_id", type=int)
@click.pass_context
def device_revoke(ctx: click.Context, device_id: int) -> None:
    """Revoke a device token (lost or replaced phone).

    Example: dispatch device revoke 3
    """
    store = _open(ctx)
    store.revoke_device(device_id)
    store.audit("cli", "device.revoke", target=f"device:{device_id}")
    click.echo(f"device {device_id} revoked")


# -- database ---------------------------------------------------------------------------------
@click.group()
def db() -> None:
    """Database maintenance: migrate, back up, purge old positions.

    Example: dispatch db backup var/backup-$(date +%F).sqlite
    """


@db.command("migrate")
@click.pass_context
def db_migrate(ctx: click.Context) -> None:
    """Create the database or bring its schema up to date.

    Example: dispatch db migrate
    """
    settings = get_settings(ctx)
    store = Store(settings.database, migrate_now=False)
    ctx.call_on_close(store.close)
    applied = store.migrate()
    version, latest = store.schema_version()
    if applied:
        click.echo(f"{settings.database}: applied {', '.join(applied)}")
    click.echo(f"{settings.database}: schema version {version} (latest {latest})")


@db.command("backup")
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def db_backup(ctx: click.Context, target: Path) -> None:
    """Copy the database to TARGET (safe while the server runs).

    Example: dispatch db backup var/backup-2026-11-23.sqlite
    """
    store = _open(ctx)
    out = store.backup(target)
    store.audit("cli", "db.backup", detail={"target": str(out)})
    click.echo(f"backup written to {out} ({out.stat().st_size // 1024} KiB)")


@db.command("purge")
@click.option("--days", type=int, help="Keep positions of the last N days (default: the setting).")
@click.pass_context
def db_purge(ctx: click.Context, days: int | None) -> None:
    """Delete positions older than the retention period, expired sessions and codes, and
    erase the identity of patients discharged longer ago than patient_retention_days.

    Example: dispatch db purge --days 30
    """
    settings = get_settings(ctx)
    days = settings.position_retention_days if days is None else days
    if days < 1:
        raise ValidationError("--days must be at least 1")
    store = _open(ctx)
    removed = store.purge(position_retention_days=days)
    patients = store.purge_patients(retention_days=settings.patient_retention_days, actor="cli")
    click.echo(
        f"purged {removed['positions']} positions older than {days} days, "
        f"{removed['sessions']} sessions, {removed['pairing_codes']} pairing codes; "
        f"erased the identity of {patients['patients']} patients discharged more than "
        f"{settings.patient_retention_days} days ago"
    )


@db.command("info")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def db_info(ctx: click.Context, as_json: bool) -> None:
    """Show the database file, schema version and row counts.

    Example: dispatch db info
    """
    settings = get_settings(ctx)
    store = _open(ctx)
    version, latest = store.schema_version()
    counts = store.counts()
    if as_json:
        click.echo(json.dumps({"path": str(settings.database), "version": version, **counts}))
        return
    click.echo(f"{settings.database}: schema {version}/{latest}")
    for name, count in counts.items():
        click.echo(f"  {name:<14} {count}")


# -- demo -------------------------------------------------------------------------------------
@click.group()
def demo() -> None:
    """Demo data: teams at real bases and a realistic day of visits (flagged as demo).

    Example: dispatch demo seed --territory haute-corse
    """


@demo.command("seed")
@click.option("--territory", "territory_id", help="Territory (default: the setting).")
@click.option("--day", help="Day of the visits, YYYY-MM-DD (default: today in Paris).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--scale", type=float, default=1.0, show_default=True, help="Visits multiplier.")
@click.option("--replace", is_flag=True, help="Delete earlier demo data first.")
@click.pass_context
def demo_seed(
    ctx: click.Context,
    territory_id: str | None,
    day: str | None,
    seed: int,
    scale: float,
    replace: bool,
) -> None:
    """Create demo teams at the territory's bases and one day of home-care visits.

    Example: dispatch demo seed --territory haute-corse --day 2026-11-23
    """
    from dispatch.demo import seed_demo
    from dispatch.territory import load_territory

    settings = get_settings(ctx)
    territory = load_territory(territory_id or settings.territory, settings)
    store = _open(ctx)
    summary = seed_demo(store, territory, day=day, seed=seed, replace=replace, scale=scale)
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(summary["by_kind"].items()))
    click.echo(
        f"{territory.name}: {summary['teams']} demo teams, {summary['visits']} visits on "
        f"{summary['day']} ({kinds})"
    )


@demo.command("clear")
@click.pass_context
def demo_clear(ctx: click.Context) -> None:
    """Delete every row flagged as demo: the demonstration structures with their patients,
    care plans and staff, then the demo teams, visits, plans, their positions and devices.

    Example: dispatch demo clear
    """
    from dispatch.demo import clear_demo_all

    store = _open(ctx)
    removed = clear_demo_all(store)
    click.echo(
        f"removed {removed.get('structures', 0)} demo structures, "
        f"{removed.get('patients', 0)} demo patients, {removed.get('staff', 0)} demo staff, "
        f"{removed['teams']} demo teams and {removed['visits']} demo visits"
    )


@demo.command("plan")
@click.option("--territory", "territory_id", help="Territory (default: the setting).")
@click.option("--day", help="Day to plan, YYYY-MM-DD (default: today in Paris).")
@click.option(
    "--time-limit",
    "time_limit",
    type=float,
    default=5.0,
    show_default=True,
    help="Solver budget (s).",
)
@click.option("--draft", is_flag=True, help="Keep the plan as a draft instead of publishing it.")
@click.pass_context
def demo_plan(
    ctx: click.Context, territory_id: str | None, day: str | None, time_limit: float, draft: bool
) -> None:
    """Plan the demo day with the optimiser and publish it, so the map draws the rounds.

    Example: dispatch demo plan --territory haute-corse --time-limit 5
    """
    from dispatch.demo import plan_demo_day
    from dispatch.territory import load_territory

    settings = get_settings(ctx)
    territory = load_territory(territory_id or settings.territory, settings)
    store = _open(ctx)
    out = plan_demo_day(store, territory, day=day, time_limit_s=time_limit, publish=not draft)
    click.echo(
        f"plan {out['plan_id']} of {out['day']} {'saved as draft' if draft else 'published'}:"
        f" {out['stops']} visits in {out['routes']} rounds, {out['unassigned']} left out"
    )


@demo.command("run")
@click.option("--territory", "territory_id", help="Territory (default: the setting).")
@click.option("--day", help="Day whose published plan is replayed (default: today in Paris).")
@click.option(
    "--speedup", type=float, default=1.0, show_default=True, help="Simulated seconds per second."
)
@click.option(
    "--start",
    "start_hhmm",
    help="Simulated time of day to start from, HH:MM (default: now in Paris).",
)
@click.option(
    "--interval", type=float, default=5.0, show_default=True, help="Seconds between fixes."
)
@click.option(
    "--duration",
    type=float,
    default=None,
    help="Stop after this many seconds (default: when every round is over).",
)
@click.pass_context
def demo_run(
    ctx: click.Context,
    territory_id: str | None,
    day: str | None,
    speedup: float,
    start_hhmm: str | None,
    interval: float,
    duration: float | None,
) -> None:
    """Move the demo teams along their published rounds, writing positions and visit events.

    Every fix is stored with source "demo" and every event with actor "demo". This fills the
    database only: a `dispatch serve` running in another terminal shows the new positions when
    the map reloads, but pushes live only what its own demo thread writes (`dispatch serve`
    moves the demo teams itself). Stop with Ctrl-C.

    Example: dispatch demo run --territory haute-corse --speedup 10 --duration 600
    """
    import threading

    from dispatch.demo_live import DemoMovement, has_demo_teams
    from dispatch.errors import ValidationError
    from dispatch.routing import Router
    from dispatch.store.models import local_today, parse_time_s
    from dispatch.territory import load_territory

    settings = get_settings(ctx)
    territory = load_territory(territory_id or settings.territory, settings)
    store = _open(ctx)
    day = day or local_today()
    if not has_demo_teams(store):
        raise ValidationError("no demo team in the database: run `dispatch demo seed` first")
    if store.published_plan(day) is None:
        raise ValidationError(
            f"no published plan on {day}: run `dispatch demo plan --day {day}` first"
        )
    start_s = None if start_hhmm is None else parse_time_s(start_hhmm, what="--start")
    mover = DemoMovement(
        store,
        territory,
        router=Router.for_territory(territory),
        speedup=speedup,
        interval_s=interval,
        start_s=start_s,
        day=day,
        stop_when_done=True,
        duration_s=duration,
        stop_event=threading.Event(),
    )
    click.echo(f"{territory.name}: replaying the demo plan of {day} at x{speedup:g} (Ctrl-C stops)")
    mover.start()
    try:
        while mover.is_alive():
            mover.join(1.0)
    except KeyboardInterrupt:
        mover.stop()
    if mover.error is not None:
        raise mover.error
    s = mover.stats
    click.echo(
        f"{s['teams']} demo teams moved: {s['positions']} positions and {s['events']} visit"
        f" events written in {s['ticks']} ticks"
    )
