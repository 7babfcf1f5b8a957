"""Settings: defaults, then a TOML file, then DISPATCH_* variables; bad values are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatch.errors import ValidationError
from dispatch.settings import Settings, load_settings


def test_defaults_are_safe() -> None:
    """By default the service listens on loopback, keeps positions 30 days, speaks French,
    and uses no third-party tile server."""
    s = load_settings(env={})
    assert s.host == "127.0.0.1"
    assert s.port == 5000
    assert s.position_retention_days == 30
    assert s.locale == "fr"
    assert s.online_tiles is False
    assert s.territory == "haute-corse"
    assert any(p.name == "territories" and p.parent.name == "shared" for p in s.data_path)


def test_file_then_environment(tmp_path: Path) -> None:
    """A value in the environment wins over the same value in the settings file."""
    cfg = tmp_path / "dispatch.toml"
    cfg.write_text('port = 8000\nterritory = "melun"\nonline_tiles = true\n')
    s = load_settings(cfg, env={"DISPATCH_PORT": "9000"})
    assert s.port == 9000
    assert s.territory == "melun"
    assert s.online_tiles is True


def test_data_path_is_a_list_of_folders(tmp_path: Path) -> None:
    """DISPATCH_DATA_PATH is split on ':' into absolute folders, in order."""
    s = load_settings(env={"DISPATCH_DATA_PATH": f"{tmp_path}/a:{tmp_path}/b"})
    assert s.data_path == (tmp_path / "a", tmp_path / "b")
    assert s.downloads == tmp_path / "b"


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"DISPATCH_PORT": "http"}, "port"),
        ({"DISPATCH_PORT": "70000"}, "between 1 and 65535"),
        ({"DISPATCH_LOCALE": "de"}, "'fr' or 'en'"),
        ({"DISPATCH_POSITION_RETENTION_DAYS": "0"}, "at least 1"),
        ({"DISPATCH_ONLINE_TILES": "maybe"}, "online_tiles"),
        ({"DISPATCH_SOLVER_SEARCHES": "0"}, "solver_searches must be at least 1"),
    ],
)
def test_bad_values_say_what_is_wrong(env: dict[str, str], fragment: str) -> None:
    """Every refused value names the setting or the accepted range."""
    with pytest.raises(ValidationError, match=fragment):
        load_settings(env=env)


def test_unknown_key_in_file(tmp_path: Path) -> None:
    """A misspelt key in the settings file is refused with the list of known keys."""
    cfg = tmp_path / "dispatch.toml"
    cfg.write_text("prot = 8000\n")
    with pytest.raises(ValidationError, match="unknown setting 'prot'"):
        load_settings(cfg, env={})


def test_secret_key_generated_once_and_private(tmp_path: Path) -> None:
    """Without a configured key, one is generated, kept in var_dir (mode 600) and reused."""
    s = Settings(var_dir=tmp_path)
    first = s.flask_secret()
    assert len(first) == 64
    assert s.flask_secret() == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_paths_follow_var_dir(tmp_path: Path) -> None:
    """Database and cache default to var_dir unless set."""
    s = Settings(var_dir=tmp_path)
    assert s.database == tmp_path / "dispatch.sqlite"
    assert s.cache == tmp_path / "cache"
    assert s.replace(db_path=tmp_path / "x.db").database == tmp_path / "x.db"
