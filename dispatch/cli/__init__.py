"""The `dispatch` command: each sub-command lives in its own module, loaded when used."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any

import click

from dispatch.errors import DispatchError
from dispatch.settings import Settings, load_settings

#: command name -> "module:attribute" (modules under dispatch.cli)
COMMANDS: dict[str, str] = {
    "territory": "dispatch.cli.territory:territory",
    "route": "dispatch.cli.route:route",
    "serve": "dispatch.cli.serve:serve",
    "structure": "dispatch.cli.admin:structure",
    "user": "dispatch.cli.admin:user",
    "team": "dispatch.cli.admin:team",
    "device": "dispatch.cli.admin:device",
    "db": "dispatch.cli.admin:db",
    "demo": "dispatch.cli.admin:demo",
    "solve": "dispatch.cli.optimise:solve",
    "plan": "dispatch.cli.planning:plan",
    "simulate": "dispatch.cli.planning:simulate",
    "coverage": "dispatch.cli.planning:coverage",
    "bench": "dispatch.cli.bench:bench",
    "visits": "dispatch.cli.visits:visits",
    "patient": "dispatch.cli.patients:patient",
    "staff": "dispatch.cli.staff:staff",
    "export": "dispatch.cli.export:export",
}


class LazyGroup(click.Group):
    """A group whose sub-commands are imported only when named (fast `--help`, no cycles)."""

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._available()))

    def _available(self) -> list[str]:
        found = []
        for name, target in self.lazy.items():
            module = target.split(":")[0]
            if importlib.util.find_spec(module) is not None:
                found.append(name)
        return found

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            module_name, attr = self.lazy[cmd_name].split(":")
            if importlib.util.find_spec(module_name) is None:
                return None
            return getattr(importlib.import_module(module_name), attr)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DispatchError as exc:
            raise click.ClickException(exc.message) from None


def get_settings(ctx: click.Context) -> Settings:
    """The Settings of this invocation (built once, from --config and the environment)."""
    root = ctx.find_root()
    obj = root.ensure_object(dict)
    if "settings" not in obj:
        try:
            obj["settings"] = load_settings(obj.get("config"))
        except DispatchError as exc:
            raise click.ClickException(exc.message) from None
    settings: Settings = obj["settings"]
    return settings


pass_settings = click.make_pass_decorator(dict)


@click.group(cls=LazyGroup, lazy=COMMANDS)
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    envvar="DISPATCH_CONFIG",
    help="TOML settings file (DISPATCH_* environment variables override it).",
)
@click.version_option(package_name="dispatch")
@click.pass_context
def cli(ctx: click.Context, config: str | None) -> None:
    """Géolocalisation et répartition des équipes mobiles de soins.

    Example: dispatch territory build haute-corse && dispatch serve
    """
    ctx.ensure_object(dict)["config"] = config


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    try:
        cli.main(args=argv, prog_name="dispatch")
    except DispatchError as exc:  # raised outside a group's invoke (e.g. in callbacks)
        click.echo(f"Error: {exc.message}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
