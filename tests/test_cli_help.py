"""Every `dispatch` command answers --help, and every help text ends with an example."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from dispatch.cli import cli


def _walk(group: click.Group, ctx: click.Context, prefix: tuple[str, ...] = ()):
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, f"dispatch {' '.join(prefix + (name,))} does not load"
        yield prefix + (name,), command
        if isinstance(command, click.Group):
            sub_ctx = click.Context(command, info_name=name, parent=ctx)
            yield from _walk(command, sub_ctx, prefix + (name,))


def _all_commands():
    ctx = click.Context(cli, info_name="dispatch")
    return list(_walk(cli, ctx))


def test_top_level_commands_exist() -> None:
    """The commands the README and the issues name are all there."""
    names = {path[0] for path, _ in _all_commands()}
    for expected in (
        "territory",
        "route",
        "serve",
        "user",
        "team",
        "device",
        "db",
        "demo",
        "solve",
        "simulate",
        "bench",
    ):
        assert expected in names, f"dispatch {expected} is missing"


@pytest.mark.parametrize("path", [p for p, _ in _all_commands()], ids=" ".join)
def test_help_ends_with_an_example(path: tuple[str, ...]) -> None:
    """`dispatch ... --help` works and its text shows an example command line."""
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output or "Exemple" in result.output, (
        f"dispatch {' '.join(path)} --help has no example"
    )
