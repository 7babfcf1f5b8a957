"""`dispatch user | team | device | db` commands against a temporary database."""

from __future__ import annotations

import pytest
from api_world import fast_password_hashing
from click.testing import CliRunner

from dispatch.cli import cli
from dispatch.store import Store
from dispatch.store.schema import MIGRATIONS
from dispatch.web.auth import principal_from_token


@pytest.fixture
def run(tmp_path, monkeypatch):
    fast_password_hashing()
    monkeypatch.setenv("DISPATCH_VAR_DIR", str(tmp_path / "var"))

    def invoke(*args: str, input: str | None = None):
        result = CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)
        return result

    return invoke


def test_user_team_device_round_trip(run, tmp_path):
    """Users, tokens, teams and pairing codes made by the CLI work against the same database."""
    assert f"schema version {len(MIGRATIONS)}" in run("db", "migrate").output
    made = run(
        "user",
        "add",
        "marie",
        "--role",
        "coordinator",
        "--password-stdin",
        input="un mot de passe long\n",
    )
    assert made.exit_code == 0 and "user marie created" in made.output
    token = run("user", "token", "marie").output.strip()
    assert token.startswith("dsp_u_")
    team = run(
        "team",
        "add",
        "IDE Bastia",
        "--lon",
        "9.45",
        "--lat",
        "42.70",
        "--skills",
        "insulin,wound_care",
        "--shift",
        "07:00-19:30",
    )
    assert team.exit_code == 0 and "07:00-19:30" in team.output
    assert "IDE Bastia" in run("team", "list").output
    paired = run("device", "pair", "IDE Bastia", "--base-url", "https://dispatch.example.org")
    lines = dict(line.split(": ", 1) for line in paired.output.splitlines() if ": " in line)
    assert lines["link"] == f"https://dispatch.example.org/pair?code={lines['code']}"
    with Store(tmp_path / "var" / "dispatch.sqlite") as store:
        assert principal_from_token(store, token).name == "marie"
        assert store.pair_device(lines["code"])["device"]["team_id"] == 1
        assert store.verify_password("marie", "un mot de passe long")["role"] == "coordinator"
    member = run(
        "user", "add", "paul", "--role", "team_member", "--team", "IDE Bastia", "--no-password"
    )
    assert member.exit_code == 0 and "team IDE Bastia" in member.output


def test_cli_errors_are_clean_messages(run):
    """Mistakes give one line saying what to do, exit code 1, no traceback."""
    missing = run("user", "token", "nobody")
    assert missing.exit_code == 1 and "does not exist" in missing.output
    assert "Traceback" not in missing.output
    no_team = run("user", "add", "x", "--role", "team_member", "--no-password")
    assert "needs a team" in no_team.output
    bad_shift = run("team", "add", "T", "--lon", "9", "--lat", "42", "--shift", "19:00-07:00")
    assert "ends before it starts" in bad_shift.output
    assert "Example: dispatch" in run("db", "--help").output


def test_db_backup_and_purge(run, tmp_path):
    """Backup writes a readable copy; purge reports what it removed."""
    run("team", "add", "T", "--lon", "9", "--lat", "42")
    out = run("db", "backup", str(tmp_path / "b.sqlite"))
    assert out.exit_code == 0 and "backup written" in out.output
    with Store(tmp_path / "b.sqlite") as copy:
        assert copy.counts()["teams"] == 1
    purged = run("db", "purge", "--days", "7")
    assert purged.exit_code == 0 and "purged 0 positions older than 7 days" in purged.output


def test_every_admin_command_help_ends_with_an_example():
    """Each group and sub-command of user/team/device/db/demo ends its help with an example."""
    from dispatch.cli import admin

    for group in (admin.user, admin.team, admin.device, admin.db, admin.demo):
        commands = [group, *group.commands.values()]
        for command in commands:
            last = (command.help or "").strip().splitlines()[-1].strip()
            assert last.startswith("Example: dispatch "), f"{command.name}: {last}"
