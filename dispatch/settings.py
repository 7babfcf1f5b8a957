"""Frozen Settings built from defaults, then a TOML file, then DISPATCH_* environment variables."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from dispatch.errors import ValidationError


def _project_root() -> Path:
    """The folder holding ``static/map`` and ``data/territories``: the checkout (beside
    ``dispatch/``), else the copy an installed package carries in ``dispatch/_project``."""
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "static" / "map").is_dir():
        return checkout
    from importlib.resources import files

    installed = Path(str(files("dispatch").joinpath("_project")))
    return installed if (installed / "static" / "map").is_dir() else checkout


#: The pages, static files and territory definitions live under it (see :func:`_project_root`).
PROJECT_ROOT = _project_root()


def _default_data_path() -> tuple[Path, ...]:
    # ../shared/territories beside the checkout first (developers and CI have it), then the
    # user's own data folder, where `dispatch territory fetch` downloads to.
    return (
        PROJECT_ROOT.parent / "shared" / "territories",
        Path.home() / ".local" / "share" / "dispatch" / "territories",
    )


#: Web servers `dispatch serve` can run.
SERVERS = ("threading", "gevent")


@dataclass(frozen=True)
class Settings:
    """Every tunable of the service, passed explicitly (never read from a global).

    Build one with :func:`load_settings`; tests use ``Settings(var_dir=tmp_path)`` or
    :meth:`replace`.
    """

    #: Folder for the database, caches and the generated secret key.
    var_dir: Path = field(default_factory=lambda: Path("var").resolve())
    #: Folders searched, in order, for road files and population tables.
    data_path: tuple[Path, ...] = field(default_factory=_default_data_path)
    #: Folder holding the territory definitions (one sub-folder per territory).
    territories_dir: Path = PROJECT_ROOT / "data" / "territories"
    #: Territory served when none is named.
    territory: str = "haute-corse"
    #: SQLite database file; empty means ``var_dir / "dispatch.sqlite"``.
    db_path: Path | None = None
    #: Folder of built territory caches; empty means ``var_dir / "cache"``.
    cache_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = 5000
    #: Flask secret key; empty means a random key kept in ``var_dir / "secret_key"``.
    secret_key: str = ""
    #: Positions older than this are purged (RGPD: keep only what is needed).
    position_retention_days: int = 30
    #: Days a discharged patient's archived record keeps its identity before it is erased
    #: (pseudonym, dates and care plans stay for the rounds' history). 1095 (3 years): this
    #: service holds the planning of visits, not the medical record (the structure keeps
    #: that one in its care record, 20 years under R.1112-7 CSP); who was visited when is
    #: needed to answer the Assurance Maladie's claims on billed acts, which lapse after
    #: 3 years (L.133-4 CSS), and no longer (RGPD art. 5: storage limitation).
    patient_retention_days: int = 1095
    #: A team with no fix for this long is shown as "position unknown".
    position_stale_s: int = 300
    #: Fixes less accurate than this are kept but not drawn.
    position_max_accuracy_m: float = 100.0
    #: Fixes dated more than this before the server clock are refused (a wrong phone clock, or
    #: a fix kept offline too long); 7 days by default.
    position_max_age_s: int = 7 * 86_400
    #: Offer the online OpenStreetMap tile layer (off: no third-party server by default).
    online_tiles: bool = False
    #: Apply re-optimisation changes without a coordinator's confirmation.
    auto_apply_changes: bool = False
    #: First language of every screen.
    locale: str = "fr"
    #: Redis URL shared by several server processes (Flask-SocketIO message queue).
    redis_url: str = ""
    #: Web server of `dispatch serve`: "gevent" (the default: one greenlet per socket; with
    #: 1,000 map sockets a phone's acknowledgement stays in milliseconds) or "threading"
    #: (werkzeug and simple-websocket, three threads per socket: fine for a few screens).
    server: str = "gevent"
    #: Mark the session cookie Secure on every response (it is already Secure on a request that
    #: came over HTTPS, directly or through a trusted proxy's X-Forwarded-Proto).
    cookie_secure: bool = False
    #: Login attempts allowed per username and address per minute.
    login_attempts_per_min: int = 5
    #: Reverse proxies whose X-Forwarded-For header is believed: IP addresses or CIDR networks
    #: (e.g. ["127.0.0.1", "10.0.0.0/8"]; environment: comma-separated). Empty: the TCP peer is
    #: the client. Per-address limits (log-in, /osmand) use the client found through them.
    trusted_proxies: tuple[str, ...] = ()
    #: Address of the service as users reach it (e.g. "https://dispatch.example.fr"), for the
    #: links sent by e-mail; empty: the address of the request that sends them.
    public_url: str = ""
    #: SMTP server for account e-mails (activation and password-reset links); empty: no e-mail,
    #: accounts are then created on the server (`dispatch user add`). Its password is read from
    #: the environment variable DISPATCH_SMTP_PASSWORD only (never from a file, never logged).
    smtp_host: str = ""
    #: SMTP port: 587 (submission with STARTTLS), 465 (TLS from the start) or 25.
    smtp_port: int = 587
    #: Upgrade the SMTP connection with STARTTLS (ignored on port 465, TLS from the start).
    smtp_starttls: bool = True
    #: Sender address of account e-mails, e.g. "Dispatch <dispatch@example.fr>".
    smtp_from: str = ""
    #: SMTP login name; empty: no authentication (a local relay).
    smtp_user: str = ""
    #: Seconds the solver may spend on "optimise the day".
    solver_time_limit_s: float = 10.0
    #: What serving a visit by another caregiver than the patient's usual one costs when the
    #: week is planned, in seconds of travel (0: continuity of care is not sought).
    continuity_weight_s: int = 900
    #: Seconds the solver spends on each day when the week is planned (a week of 7 days and
    #: 3 structures is 21 days to route).
    week_day_time_limit_s: float = 2.0
    #: Start the rounds' clock at this local date and time and let it run from there (ISO 8601,
    #: e.g. "2026-12-06T17:05:00+01:00"): demonstrations, training, browser tests. Empty: now.
    clock_start: str = ""
    #: Searches "optimise the day" runs side by side, keeping the best (at most one per core;
    #: each takes a core and about 260 MB on a 500-visit day).
    solver_searches: int = 2
    #: Planners see the teams' live positions and trails (off: least privilege, they plan on
    #: places and times; a structure that needs it turns it on).
    planner_live_positions: bool = False
    #: Seconds between two checks of every live socket's credentials (user disabled, token
    #: revoked, session expired): a change made outside this process (the CLI) ends a socket
    #: within about this long.
    socket_recheck_s: float = 15.0
    #: Local hour (0-23) at which the server generates the visits of the care plans each day
    #: (it also does at start).
    generation_hour: int = 3
    #: Days ahead the server keeps generated from the care plans (1 to 62).
    generation_horizon_days: int = 14
    #: Largest file a referrer may attach to a request (bytes; PDF, PNG or JPEG), stored
    #: encrypted at rest.
    referral_attachment_max_bytes: int = 5 * 1024 * 1024

    def __post_init__(self) -> None:
        # Accept plain strings for paths (tests and callers write Settings(var_dir="/tmp/x")).
        object.__setattr__(self, "var_dir", Path(self.var_dir))
        object.__setattr__(self, "territories_dir", Path(self.territories_dir))
        object.__setattr__(self, "data_path", tuple(Path(p) for p in self.data_path))
        for name in ("db_path", "cache_dir"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value) if str(value) else None)
        if not self.data_path:
            raise ValidationError("data_path is empty: give at least one folder to search")
        if not (0 < self.port < 65536):
            raise ValidationError(f"port {self.port} is not between 1 and 65535")
        if self.position_retention_days < 1:
            raise ValidationError(
                "position_retention_days must be at least 1 (positions are needed for the live map)"
            )
        if self.patient_retention_days < 1:
            raise ValidationError(
                "patient_retention_days must be at least 1 (days an archived record keeps its"
                " identity after discharge)"
            )
        if self.position_max_age_s < 60:
            raise ValidationError(
                "position_max_age_s must be at least 60 (seconds a fix may be late to be stored)"
            )
        if self.solver_searches < 1:
            raise ValidationError("solver_searches must be at least 1")
        if self.continuity_weight_s < 0:
            raise ValidationError("continuity_weight_s must be 0 or more (seconds of travel)")
        if not 0.2 <= self.week_day_time_limit_s <= 120:
            raise ValidationError("week_day_time_limit_s: give 0.2 to 120 seconds")
        if self.socket_recheck_s <= 0:
            raise ValidationError(
                "socket_recheck_s must be more than 0 (seconds between two checks of each live"
                " socket's credentials)"
            )
        if not 0 <= self.generation_hour <= 23:
            raise ValidationError(
                f"generation_hour {self.generation_hour} is not an hour of the day: give 0 to 23"
            )
        if not 1 <= self.generation_horizon_days <= 62:
            raise ValidationError(
                f"generation_horizon_days {self.generation_horizon_days}: give 1 to 62 days"
            )
        if not 1024 <= self.referral_attachment_max_bytes <= 50 * 1024 * 1024:
            raise ValidationError(
                f"referral_attachment_max_bytes {self.referral_attachment_max_bytes}: give"
                " 1024 to 52428800 bytes"
            )
        if self.server not in SERVERS:
            raise ValidationError(
                f"server {self.server!r} is not known: use {' or '.join(map(repr, SERVERS))}"
            )
        proxies = self.trusted_proxies
        if isinstance(proxies, str):
            proxies = proxies.split(",")
        proxies = tuple(str(p).strip() for p in proxies if str(p).strip())
        for proxy in proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValidationError(
                    f"trusted_proxies: {proxy!r} is not an IP address or network"
                    " (e.g. 10.0.0.1 or 10.0.0.0/8)"
                ) from None
        object.__setattr__(self, "trusted_proxies", proxies)
        if not (0 < self.smtp_port < 65536):
            raise ValidationError(f"smtp_port {self.smtp_port} is not between 1 and 65535")
        if self.public_url and not self.public_url.startswith(("http://", "https://")):
            raise ValidationError(
                f"public_url {self.public_url!r} must start with https:// (or http://)"
            )
        if self.locale not in ("fr", "en"):
            raise ValidationError(f"locale {self.locale!r} is not supported: use 'fr' or 'en'")

    @property
    def database(self) -> Path:
        """The SQLite file actually used."""
        return Path(self.db_path) if self.db_path else self.var_dir / "dispatch.sqlite"

    @property
    def cache(self) -> Path:
        """The folder of built territory caches actually used."""
        return Path(self.cache_dir) if self.cache_dir else self.var_dir / "cache"

    @property
    def downloads(self) -> Path:
        """Where `dispatch territory fetch` writes: the last folder of the data path."""
        return self.data_path[-1]

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def flask_secret(self) -> str:
        """The configured secret key, or one generated once and kept out of the repository."""
        if self.secret_key:
            return self.secret_key
        key_file = self.var_dir / "secret_key"
        if key_file.exists():
            return key_file.read_text().strip()
        self.var_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32)
        key_file.write_text(key)
        key_file.chmod(0o600)
        return key


def _coerce(name: str, raw: Any, kind: Any) -> Any:
    kind_s = str(kind)
    try:
        if kind_s in ("bool", "<class 'bool'>"):
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on", "oui"):
                return True
            if text in ("0", "false", "no", "off", "non", ""):
                return False
            raise ValueError(raw)
        if kind_s in ("int", "<class 'int'>"):
            return int(raw)
        if kind_s in ("float", "<class 'float'>"):
            return float(raw)
        if "tuple[str" in kind_s:
            parts = raw.split(",") if isinstance(raw, str) else list(raw)
            return tuple(str(p).strip() for p in parts if str(p).strip())
        if "tuple[Path" in kind_s:
            if isinstance(raw, str):
                parts = [p for p in raw.split(os.pathsep) if p]
            else:
                parts = list(raw)
            return tuple(Path(p).expanduser().resolve() for p in parts)
        if "Path" in kind_s:
            return Path(raw).expanduser().resolve() if str(raw) else None
        return str(raw)
    except (TypeError, ValueError):
        raise ValidationError(f"setting {name}: {raw!r} is not a valid {kind_s}") from None


def load_settings(
    file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Settings from defaults, then ``file`` (TOML, or ``DISPATCH_CONFIG``), then ``DISPATCH_*``.

    ``DISPATCH_DATA_PATH`` is a list of folders separated by ``:``; keyword ``overrides`` win
    over everything (the CLI uses them for its options).
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    by_name = {f.name: f for f in fields(Settings)}
    file = file or env.get("DISPATCH_CONFIG")
    if file:
        path = Path(file)
        if not path.exists():
            raise ValidationError(f"settings file {path} does not exist")
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ValidationError(f"settings file {path}: {exc}") from None
        for key, raw in data.items():
            if key not in by_name:
                raise ValidationError(
                    f"settings file {path}: unknown setting {key!r} "
                    f"(known: {', '.join(sorted(by_name))})"
                )
            values[key] = _coerce(key, raw, by_name[key].type)
    for name, f in by_name.items():
        raw = env.get(f"DISPATCH_{name.upper()}")
        if raw is not None:
            values[name] = _coerce(name, raw, f.type)
    for key, raw in overrides.items():
        if raw is not None:
            values[key] = _coerce(key, raw, by_name[key].type) if key in by_name else raw
    return Settings(**values)
