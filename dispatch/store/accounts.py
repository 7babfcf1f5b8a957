"""Users, API tokens, browser sessions, paired devices and pairing codes."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from dispatch.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    RateLimitedError,
    ValidationError,
)
from dispatch.mail import check_address
from dispatch.store.core import now_s
from dispatch.store.models import check_password, parse_id, parse_role, parse_username
from dispatch.store.rows import Page, clamp_page, select_page, to_dict, where_clause
from dispatch.store.schema import new_traccar_id
from dispatch.store.structures import (
    check_structure_ids,
    in_structures,
    replace_memberships,
    scoped,
    structure_filter,
)

if TYPE_CHECKING:
    from dispatch.store.core import Engine

USER_TOKEN_PREFIX = "dsp_u_"
DEVICE_TOKEN_PREFIX = "dsp_d_"
#: Pairing codes avoid look-alike characters (0/O, 1/I/L) so they can be typed from a screen.
PAIRING_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
PAIRING_TTL_S = 15 * 60
SESSION_TTL_S = 12 * 3600
ACCOUNT_LINK_PREFIX = "dsp_a_"
#: How long an activation link (new account) and a password-reset link work.
ACTIVATION_TTL_S = 72 * 3600
RESET_TTL_S = 2 * 3600
LINK_PURPOSES = ("activate", "reset")
#: Audit actions about accounts that coordinators are shown (who did what to which account).
ACCOUNT_ACTIONS = (
    "user.create",
    "user.update",
    "user.password_link",
    "user.activated",
    "user.password_reset",
    "user.password_refused",
    "user.password",
    "user.disable",
    "token.create",
    "token.revoke",
)
#: Seconds between two "last used" updates of a token (no write on every request).
TOUCH_EVERY_S = 60.0

_hasher = PasswordHasher()
_dummy_hash: list[str] = []


def _dummy() -> str:
    """A hash of a random password: failed logins for unknown users cost the same time."""
    if not _dummy_hash:
        _dummy_hash.append(_hasher.hash(secrets.token_hex(16)))
    return _dummy_hash[0]


def token_hash(token: str) -> str:
    """SHA-256 of a token (tokens are random, so no salt or KDF is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def normalise_pairing_code(code: str) -> str:
    """Upper-case code without separators ("k7qd-3mzp" -> "K7QD3MZP")."""
    return "".join(ch for ch in str(code).upper() if ch.isalnum())


def format_pairing_code(code: str) -> str:
    """ "K7QD3MZP" -> "K7QD-3MZP" (easier to read aloud)."""
    return f"{code[:4]}-{code[4:]}"


class AccountsMixin:
    """Who may call the service: users, their tokens and sessions, and team devices."""

    engine: Engine

    # -- users ---------------------------------------------------------------------------------
    def add_user(
        self,
        username: str,
        *,
        role: str,
        team_id: int | None = None,
        password: str | None = None,
        display_name: str | None = None,
        email: str | None = None,
        structure_ids: list[int] | None = None,
    ) -> dict[str, Any]:
        """Create a user; a ``team_member`` must name its team. Returns the user (no hash).

        ``email`` is where activation and password-reset links are sent. ``structure_ids``:
        the structures the user works for (None: a team member's team's structure, else the
        only structure of the deployment; with several, they must be given)."""
        username = parse_username(username)
        email = check_address(email) if email is not None else None
        role = parse_role(role)
        team_id = parse_id(team_id, what="team_id")
        if display_name is not None and (
            not isinstance(display_name, str) or not 1 <= len(display_name) <= 80
        ):
            raise ValidationError("display_name must be text of 1 to 80 characters")
        if role == "team_member" and team_id is None:
            raise ValidationError(f"user {username}: a team_member needs a team (--team NAME)")
        if role != "team_member" and team_id is not None:
            raise ValidationError(f"user {username}: only a team_member belongs to a team")
        password_hash = _hasher.hash(check_password(password)) if password is not None else None

        def job(conn: sqlite3.Connection) -> int:
            if conn.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone():
                raise ConflictError(f"user {username!r} already exists: choose another name")
            if (
                team_id is not None
                and not conn.execute("SELECT 1 FROM teams WHERE id = ?", (team_id,)).fetchone()
            ):
                raise NotFoundError(f"team {team_id} does not exist")
            members = _memberships(conn, structure_ids, team_id=team_id, username=username)
            cur = conn.execute(
                "INSERT INTO users (username, display_name, role, team_id, password_hash, active,"
                " created_at_s, email) VALUES (?, ?, ?, ?, ?, 1, ?, ?)",
                (username, display_name or username, role, team_id, password_hash, now_s(), email),
            )
            user_id = int(cur.lastrowid or 0)
            conn.executemany(
                "INSERT INTO user_structures (user_id, structure_id) VALUES (?, ?)",
                [(user_id, structure_id) for structure_id in members],
            )
            return user_id

        return self.get_user(self.engine.write(job))

    def get_user(self, user_id: int) -> dict[str, Any]:
        """A user by id (NotFoundError if none)."""
        with self.engine.read() as conn:
            row = conn.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
        user = to_dict(row, drop=("password_hash",))
        if user is None:
            raise NotFoundError(f"user {user_id} does not exist")
        user["has_password"] = row["password_hash"] is not None
        user["active"] = bool(user["active"])
        user["structure_ids"] = user_structure_ids(self.engine, user_id)
        return user

    def find_user(self, username: str) -> dict[str, Any]:
        """A user by login name (NotFoundError if none)."""
        with self.engine.read() as conn:
            row = conn.execute("SELECT id FROM users WHERE username = ?", (username,)).fetchone()
        if row is None:
            raise NotFoundError(
                f"user {username!r} does not exist: create it with `dispatch user add {username}"
                " --role coordinator`"
            )
        return self.get_user(row["id"])

    def list_users(self, *, limit: int | None = None, offset: int | None = None) -> Page:
        """Users ordered by id."""
        limit, offset = clamp_page(limit, offset)
        with self.engine.snapshot() as conn:
            total = conn.execute("SELECT count(*) FROM users").fetchone()[0]
            ids = [
                r[0]
                for r in conn.execute(
                    "SELECT id FROM users ORDER BY id LIMIT ? OFFSET ?", (limit, offset)
                )
            ]
        return Page([self.get_user(i) for i in ids], total=total, limit=limit, offset=offset)

    def update_user(self, user_id: int, **changes: Any) -> dict[str, Any]:
        """Change ``role``, ``team_id``, ``display_name``, ``active``, ``email``, ``password``
        or ``structure_ids`` (the structures the user works for)."""
        current = self.get_user(user_id)
        sets: dict[str, Any] = {}
        if "role" in changes:
            sets["role"] = parse_role(changes["role"])
        if "team_id" in changes:
            sets["team_id"] = parse_id(changes["team_id"], what="team_id")
        role = sets.get("role", current["role"])
        team_id = sets.get("team_id", current["team_id"])
        if role == "team_member" and team_id is None:
            raise ValidationError(f"user {current['username']}: a team_member needs a team_id")
        if role != "team_member" and team_id is not None:
            if "team_id" in changes:
                raise ValidationError(
                    f"user {current['username']}: only a team_member belongs to a team"
                )
            sets["team_id"] = None
        if "display_name" in changes:
            name = changes["display_name"]
            if not isinstance(name, str) or not 1 <= len(name) <= 80:
                raise ValidationError("display_name must be text of 1 to 80 characters")
            sets["display_name"] = name
        if "active" in changes:
            if not isinstance(changes["active"], bool):
                raise ValidationError("active must be true or false")
            sets["active"] = int(changes["active"])
        if changes.get("password") is not None:
            sets["password_hash"] = _hasher.hash(check_password(changes["password"]))
        if "email" in changes:
            sets["email"] = check_address(changes["email"]) if changes["email"] else None
        members = (
            check_structure_ids(changes["structure_ids"]) if "structure_ids" in changes else None
        )
        known = {"role", "team_id", "display_name", "active", "password", "email", "structure_ids"}
        unknown = set(changes) - known
        if unknown:
            raise ValidationError(
                f"user: unknown field(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(known))}"
            )
        if not sets and members is None:
            return current

        role_changed = "role" in sets and sets["role"] != current["role"]

        def job(conn: sqlite3.Connection) -> None:
            if (
                sets.get("team_id") is not None
                and not conn.execute(
                    "SELECT 1 FROM teams WHERE id = ?", (sets["team_id"],)
                ).fetchone()
            ):
                raise NotFoundError(f"team {sets['team_id']} does not exist")
            if sets:
                cols = ", ".join(f"{k} = ?" for k in sets)
                conn.execute(f"UPDATE users SET {cols} WHERE id = ?", (*sets.values(), user_id))
            structures_changed = False
            if members is not None:
                before = [
                    int(r[0])
                    for r in conn.execute(
                        "SELECT structure_id FROM user_structures WHERE user_id = ?"
                        " ORDER BY structure_id",
                        (user_id,),
                    )
                ]
                # Memberships decide which patients the user sees: a change ends the open
                # sessions, as a change of role does (their pages hold what they may no
                # longer see).
                structures_changed = before != members
                replace_memberships(conn, user_id, members)
            if "email" in sets:
                # Links already sent went to the old address: they stop working.
                conn.execute(
                    "UPDATE account_links SET used_at_s = ? WHERE user_id = ? AND used_at_s IS NULL",
                    (now_s(), user_id),
                )
            if (
                sets.get("active") == 0
                or "password_hash" in sets
                or role_changed
                or structures_changed
            ):
                # Disabling, re-keying or changing role ends every open session.
                conn.execute(
                    "UPDATE sessions SET revoked_at_s = ? WHERE user_id = ? AND revoked_at_s IS NULL",
                    (now_s(), user_id),
                )
            if sets.get("active") == 0 or role_changed:
                # Disabling or changing role also revokes the API tokens: a token minted for
                # the old role must not keep its rights (create a new one if still needed).
                conn.execute(
                    "UPDATE api_tokens SET revoked_at_s = ? WHERE user_id = ? AND revoked_at_s IS NULL",
                    (now_s(), user_id),
                )

        self.engine.write(job)
        return self.get_user(user_id)

    # -- passwords and rate limiting --------------------------------------------------------------
    def check_login_rate(self, key: str, *, per_min: int) -> None:
        """Raise RateLimitedError when ``key`` has ``per_min`` attempts in the last minute.

        Read-only: to limit a login use :meth:`register_login_attempt`, which counts and
        records atomically (a check followed by a separate record lets parallel guesses through).
        """
        since = now_s() - 60
        with self.engine.read() as conn:
            count = conn.execute(
                "SELECT count(*) FROM login_attempts WHERE key = ? AND at_s > ?", (key, since)
            ).fetchone()[0]
        if count >= per_min:
            raise RateLimitedError(
                f"too many failed attempts ({count} in the last minute): wait a minute and retry"
            )

    def register_login_attempt(self, limits: dict[str, int]) -> None:
        """Count and record one attempt under each key in one writer job, BEFORE any check.

        Parameters
        ----------
        limits
            ``{key: attempts allowed per minute}``, e.g. one key per (username, address) and
            one per username. If any key already reached its limit, nothing is recorded and
            RateLimitedError is raised; otherwise the attempt is recorded under every key.
            Because the single writer thread runs the count and the insert together, N
            parallel requests cannot all see "under the limit". Call
            :meth:`clear_login_attempts` after a success.
        """

        def job(conn: sqlite3.Connection) -> None:
            now = now_s()
            for key, per_min in limits.items():
                count = conn.execute(
                    "SELECT count(*) FROM login_attempts WHERE key = ? AND at_s > ?",
                    (key, now - 60),
                ).fetchone()[0]
                if count >= per_min:
                    raise RateLimitedError(
                        f"too many attempts ({count} in the last minute): wait a minute and retry"
                    )
            conn.executemany(
                "INSERT INTO login_attempts (key, at_s) VALUES (?, ?)",
                [(key, now) for key in limits],
            )

        self.engine.write(job)

    def clear_login_attempts(self, key: str) -> None:
        """Forget the attempts recorded under ``key`` (after a successful login or pairing)."""
        self.engine.write(
            lambda conn: conn.execute("DELETE FROM login_attempts WHERE key = ?", (key,))
        )

    def record_login_failure(self, key: str) -> None:
        """Count one failed attempt for ``key`` (username and address)."""
        self.engine.write(
            lambda conn: conn.execute(
                "INSERT INTO login_attempts (key, at_s) VALUES (?, ?)", (key, now_s())
            )
        )

    def known_login_address(self, username: str, ip: str, *, within_s: float) -> bool:
        """True when ``username`` (any case) logged in (opened a session) from ``ip`` in the
        last ``within_s`` seconds: its owner's usual address, which strangers' failures must
        not lock out."""
        with self.engine.read() as conn:
            row = conn.execute(
                "SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id"
                " WHERE lower(u.username) = ? AND s.ip = ? AND s.created_at_s > ? LIMIT 1",
                (username.strip().lower(), ip, now_s() - within_s),
            ).fetchone()
        return row is not None

    def user_exists(self, username: str) -> bool:
        """True when a user has exactly this login name (no details returned)."""
        with self.engine.read() as conn:
            return (
                conn.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone()
                is not None
            )

    def verify_password(self, username: str, password: str) -> dict[str, Any]:
        """The active user whose password matches (AuthenticationError otherwise)."""
        with self.engine.read() as conn:
            row = conn.execute(
                "SELECT u.id, u.password_hash, u.active, u.role, t.active AS team_active"
                " FROM users u LEFT JOIN teams t ON t.id = u.team_id WHERE u.username = ?",
                (username,),
            ).fetchone()
        stored = row["password_hash"] if row is not None else None
        try:
            _hasher.verify(stored or _dummy(), password)
            ok = stored is not None and bool(row["active"])
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
        if not ok:
            raise AuthenticationError("wrong username or password")
        assert row is not None and stored is not None
        if row["role"] == "team_member" and not row["team_active"]:
            # The password is right: say why (like the team's phones, its members lose access).
            raise AuthenticationError(
                "your team is deactivated: ask the coordinator to reactivate it or move you"
                " to another team"
            )
        if _hasher.check_needs_rehash(stored):
            new_hash = _hasher.hash(password)
            self.engine.write(
                lambda conn: conn.execute(
                    "UPDATE users SET password_hash = ? WHERE id = ?", (new_hash, row["id"])
                )
            )
        self.engine.write(
            lambda conn: conn.execute(
                "UPDATE users SET last_login_at_s = ? WHERE id = ?", (now_s(), row["id"])
            )
        )
        return self.get_user(row["id"])

    # -- one-time account links (activation, password reset) ------------------------------------
    def create_account_link(
        self, user_id: int, *, purpose: str, created_by: str, ttl_s: float | None = None
    ) -> dict[str, Any]:
        """A one-time link token for ``user_id`` to choose their password (shown once).

        ``purpose`` is ``activate`` (the account has no password yet) or ``reset``. Earlier
        unused links of the user stop working. Returns ``{"token", "purpose", "expires_at_s",
        "user"}``; only the token's SHA-256 is stored.
        """
        if purpose not in LINK_PURPOSES:
            raise ValidationError(f"purpose must be one of {', '.join(LINK_PURPOSES)}")
        user = self.get_user(user_id)
        ttl_s = (
            ttl_s
            if ttl_s is not None
            else (ACTIVATION_TTL_S if purpose == "activate" else RESET_TTL_S)
        )
        token = ACCOUNT_LINK_PREFIX + secrets.token_urlsafe(32)
        now = now_s()

        def job(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE account_links SET used_at_s = ? WHERE user_id = ? AND used_at_s IS NULL",
                (now, user_id),
            )
            conn.execute(
                "INSERT INTO account_links (user_id, token_hash, purpose, created_by,"
                " created_at_s, expires_at_s) VALUES (?, ?, ?, ?, ?, ?)",
                (user_id, token_hash(token), purpose, created_by, now, now + ttl_s),
            )

        self.engine.write(job)
        return {"token": token, "purpose": purpose, "expires_at_s": now + ttl_s, "user": user}

    def _live_link(self, conn: sqlite3.Connection, token: str) -> sqlite3.Row:
        row = None
        if isinstance(token, str) and token.startswith(ACCOUNT_LINK_PREFIX) and len(token) < 200:
            row = conn.execute(
                "SELECT l.*, u.active FROM account_links l JOIN users u ON u.id = l.user_id"
                " WHERE l.token_hash = ? AND l.used_at_s IS NULL AND l.expires_at_s > ?",
                (token_hash(token), now_s()),
            ).fetchone()
        if row is None or not row["active"]:
            raise NotFoundError(
                "this link is unknown, expired or already used: ask an administrator to send"
                " a new one"
            )
        return row

    def account_link(self, token: str) -> dict[str, Any]:
        """What a live link is for: ``{"purpose", "expires_at_s", "user": {username,
        display_name}}``; NotFoundError when it is unknown, expired or used."""
        with self.engine.read() as conn:
            row = self._live_link(conn, token)
        user = self.get_user(row["user_id"])
        return {
            "purpose": row["purpose"],
            "expires_at_s": row["expires_at_s"],
            "user": {"username": user["username"], "display_name": user["display_name"]},
        }

    def complete_account_link(self, token: str, password: str) -> dict[str, Any]:
        """Set the password chosen through a live link, once: the link and the user's other
        links stop working, and the user's open sessions end. Returns the user and the
        link's purpose."""
        new_hash = _hasher.hash(check_password(password))

        def job(conn: sqlite3.Connection) -> tuple[int, str]:
            row = self._live_link(conn, token)
            now = now_s()
            conn.execute(
                "UPDATE account_links SET used_at_s = ? WHERE user_id = ? AND used_at_s IS NULL",
                (now, row["user_id"]),
            )
            conn.execute(
                "UPDATE users SET password_hash = ? WHERE id = ?", (new_hash, row["user_id"])
            )
            conn.execute(
                "UPDATE sessions SET revoked_at_s = ? WHERE user_id = ? AND revoked_at_s IS NULL",
                (now, row["user_id"]),
            )
            return int(row["user_id"]), str(row["purpose"])

        user_id, purpose = self.engine.write(job)
        return {"user": self.get_user(user_id), "purpose": purpose}

    def account_events(
        self,
        *,
        since_s: float,
        limit: int = 200,
        structures: Collection[int] | None = None,
    ) -> list[dict[str, Any]]:
        """Audit lines about accounts (see ACCOUNT_ACTIONS) since ``since_s``, newest first,
        with the names of the actor and of the account concerned.

        ``structures``: only the lines about accounts of users of those structures (another
        structure's staff is not revealed)."""
        marks = ", ".join("?" for _ in ACCOUNT_ACTIONS)
        scope, scope_args = "1", []
        if structures is not None:
            members, member_args = structure_filter(structures)
            teams, team_args = structure_filter(structures, "t.structure_id")
            scope = (
                "target IN (SELECT 'user:' || user_id FROM user_structures WHERE"
                f" {members} UNION SELECT 'user:' || u.id FROM users u JOIN teams t"
                f" ON t.id = u.team_id WHERE {teams})"
            )
            scope_args = [*member_args, *team_args]
        with self.engine.read() as conn:
            rows = conn.execute(
                f"SELECT * FROM audit_log WHERE action IN ({marks}) AND at_s >= ? AND {scope}"
                " ORDER BY id DESC LIMIT ?",
                (*ACCOUNT_ACTIONS, float(since_s), *scope_args, int(limit)),
            ).fetchall()
            names = {
                f"user:{r['id']}": r["username"]
                for r in conn.execute("SELECT id, username FROM users")
            }
        events = []
        for row in rows:
            item = to_dict(row)
            assert item is not None
            item["actor_name"] = names.get(item.get("actor") or "", item.get("actor"))
            item["target_name"] = names.get(item.get("target") or "", item.get("target"))
            events.append(item)
        return events

    # -- API tokens ----------------------------------------------------------------------------
    def create_api_token(self, user_id: int, *, label: str = "cli") -> str:
        """A new bearer token for ``user_id`` (shown once; only its hash is kept)."""
        self.get_user(user_id)
        token = USER_TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.engine.write(
            lambda conn: conn.execute(
                "INSERT INTO api_tokens (user_id, token_hash, label, created_at_s)"
                " VALUES (?, ?, ?, ?)",
                (user_id, token_hash(token), label, now_s()),
            )
        )
        return token

    def list_api_tokens(self, user_id: int) -> list[dict[str, Any]]:
        """The tokens of a user (without hashes)."""
        with self.engine.read() as conn:
            rows = conn.execute(
                "SELECT * FROM api_tokens WHERE user_id = ? ORDER BY id", (user_id,)
            ).fetchall()
        return [to_dict(r, drop=("token_hash",)) for r in rows]  # type: ignore[misc]

    def revoke_api_token(self, token_id: int) -> None:
        """Revoke one API token."""

        def job(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                "UPDATE api_tokens SET revoked_at_s = ? WHERE id = ? AND revoked_at_s IS NULL",
                (now_s(), token_id),
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"API token {token_id} does not exist or is already revoked")

        self.engine.write(job)

    def user_for_token(self, token: str) -> dict[str, Any] | None:
        """The active user owning a live API token, or None."""
        digest = token_hash(token)
        with self.engine.read() as conn:
            row = conn.execute(
                "SELECT t.id AS token_id, t.last_used_at_s, u.id AS user_id FROM api_tokens t"
                " JOIN users u ON u.id = t.user_id LEFT JOIN teams tm ON tm.id = u.team_id"
                " WHERE t.token_hash = ? AND t.revoked_at_s IS NULL AND u.active = 1"
                " AND (u.team_id IS NULL OR tm.active = 1)",
                (digest,),
            ).fetchone()
        if row is None:
            return None
        if (row["last_used_at_s"] or 0) < now_s() - TOUCH_EVERY_S:
            self.engine.write(
                lambda conn: conn.execute(
                    "UPDATE api_tokens SET last_used_at_s = ? WHERE id = ?",
                    (now_s(), row["token_id"]),
                )
            )
        return self.get_user(row["user_id"])

    # -- browser sessions ----------------------------------------------------------------------
    def create_session(
        self, user_id: int, *, ip: str | None = None, ttl_s: float = SESSION_TTL_S
    ) -> tuple[str, str]:
        """Open a session; returns (session id for the cookie, CSRF token for the page)."""
        sid = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = now_s()
        self.engine.write(
            lambda conn: conn.execute(
                "INSERT INTO sessions (sid_hash, user_id, csrf_token, created_at_s, expires_at_s, ip)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (token_hash(sid), user_id, csrf, now, now + ttl_s, ip),
            )
        )
        return sid, csrf

    def get_session(self, sid: str) -> dict[str, Any] | None:
        """The live session ``sid`` with its ``user`` and ``csrf_token``, or None."""
        with self.engine.read() as conn:
            row = conn.execute(
                "SELECT s.id, s.user_id, s.csrf_token, s.expires_at_s FROM sessions s"
                " JOIN users u ON u.id = s.user_id LEFT JOIN teams tm ON tm.id = u.team_id"
                " WHERE s.sid_hash = ? AND s.revoked_at_s IS NULL AND s.expires_at_s > ?"
                " AND u.active = 1 AND (u.team_id IS NULL OR tm.active = 1)",
                (token_hash(sid), now_s()),
            ).fetchone()
        if row is None:
            return None
        return {
            "id": row["id"],
            "csrf_token": row["csrf_token"],
            "expires_at_s": row["expires_at_s"],
            "user": self.get_user(row["user_id"]),
        }

    def revoke_session(self, sid: str) -> None:
        """Log a session out."""
        self.engine.write(
            lambda conn: conn.execute(
                "UPDATE sessions SET revoked_at_s = ? WHERE sid_hash = ?",
                (now_s(), token_hash(sid)),
            )
        )

    # -- devices and pairing -------------------------------------------------------------------
    def create_pairing(
        self, team_id: int, *, created_by: int | None = None, ttl_s: float = PAIRING_TTL_S
    ) -> dict[str, Any]:
        """A one-time pairing code for a phone of ``team_id``: ``{code, team_id, expires_at_s}``."""
        code = "".join(secrets.choice(PAIRING_ALPHABET) for _ in range(8))
        now = now_s()

        def job(conn: sqlite3.Connection) -> None:
            if not conn.execute("SELECT 1 FROM teams WHERE id = ?", (team_id,)).fetchone():
                raise NotFoundError(f"team {team_id} does not exist")
            conn.execute(
                "INSERT INTO pairing_codes (code_hash, team_id, created_by, created_at_s,"
                " expires_at_s) VALUES (?, ?, ?, ?, ?)",
                (token_hash(code), team_id, created_by, now, now + ttl_s),
            )

        self.engine.write(job)
        return {"code": format_pairing_code(code), "team_id": team_id, "expires_at_s": now + ttl_s}

    def pairing_team(self, code: str) -> int | None:
        """The team of a live (unused, unexpired) pairing code, or None."""
        with self.engine.read() as conn:
            row = conn.execute(
                "SELECT team_id FROM pairing_codes WHERE code_hash = ? AND used_at_s IS NULL"
                " AND expires_at_s > ?",
                (token_hash(normalise_pairing_code(code)), now_s()),
            ).fetchone()
        return None if row is None else int(row["team_id"])

    def pair_device(self, code: str, *, label: str | None = None) -> dict[str, Any]:
        """Exchange a pairing code (once) for a device: ``{token, device}``."""
        digest = token_hash(normalise_pairing_code(code))
        token = DEVICE_TOKEN_PREFIX + secrets.token_urlsafe(32)

        def job(conn: sqlite3.Connection) -> int:
            now = now_s()
            row = conn.execute(
                "SELECT id, team_id, created_by FROM pairing_codes WHERE code_hash = ?"
                " AND used_at_s IS NULL AND expires_at_s > ?",
                (digest, now),
            ).fetchone()
            if row is None:
                raise AuthenticationError(
                    "this pairing code is unknown, expired or already used: ask the coordinator"
                    " for a new one"
                )
            cur = conn.execute(
                "INSERT INTO devices (team_id, label, token_hash, paired_by, created_at_s,"
                " last_seen_at_s, traccar_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    row["team_id"],
                    label or "téléphone",
                    token_hash(token),
                    row["created_by"],
                    now,
                    now,
                    new_traccar_id(),
                ),
            )
            device_id = int(cur.lastrowid or 0)
            conn.execute(
                "UPDATE pairing_codes SET used_at_s = ?, device_id = ? WHERE id = ?",
                (now, device_id, row["id"]),
            )
            return device_id

        device_id = self.engine.write(job)
        return {"token": token, "device": self.get_device(device_id)}

    def get_device(
        self, device_id: int, *, structures: Collection[int] | None = None
    ) -> dict[str, Any]:
        """A device by id (NotFoundError if none, or its team's structure is not in
        ``structures``)."""
        with self.engine.read() as conn:
            row = conn.execute(
                "SELECT d.*, t.structure_id AS structure_id FROM devices d"
                " JOIN teams t ON t.id = d.team_id WHERE d.id = ?",
                (device_id,),
            ).fetchone()
        device = to_dict(row, drop=("token_hash",))
        if device is None or not in_structures(device["structure_id"], structures):
            raise NotFoundError(f"device {device_id} does not exist")
        device["revoked"] = device["revoked_at_s"] is not None
        return device

    def list_devices(
        self,
        *,
        team_id: int | None = None,
        limit: int | None = None,
        offset: int | None = None,
        structures: Collection[int] | None = None,
    ) -> Page:
        """Paired devices, newest first (``structures``: of those structures' teams)."""
        limit, offset = clamp_page(limit, offset)
        where, args = scoped(
            *where_clause([("team_id = ?", team_id)]),
            structures,
            "(SELECT structure_id FROM teams WHERE teams.id = devices.team_id)",
        )
        with self.engine.snapshot() as conn:
            total, rows = select_page(
                conn,
                table="devices",
                where=where,
                args=args,
                order_by="id DESC",
                limit=limit,
                offset=offset,
            )
        items = []
        for r in rows:
            device = to_dict(r, drop=("token_hash",))
            assert device is not None
            device["revoked"] = device["revoked_at_s"] is not None
            items.append(device)
        return Page(items, total=total, limit=limit, offset=offset)

    def revoke_device(
        self, device_id: int, *, structures: Collection[int] | None = None
    ) -> dict[str, Any]:
        """Revoke a device token (a lost phone stops working at once)."""
        self.get_device(device_id, structures=structures)

        def job(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                "UPDATE devices SET revoked_at_s = coalesce(revoked_at_s, ?) WHERE id = ?",
                (now_s(), device_id),
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"device {device_id} does not exist")

        self.engine.write(job)
        return self.get_device(device_id)

    def device_for_traccar_id(self, traccar_id: str) -> dict[str, Any] | None:
        """The live device whose OsmAnd/Traccar identifier is ``traccar_id``, or None.

        That identifier travels in URLs (``/osmand?id=...``), so it only lets its holder post
        positions of the device's team; it is never a bearer token.
        """
        if not isinstance(traccar_id, str) or not traccar_id.strip():
            return None
        with self.engine.read() as conn:
            row = conn.execute(
                "SELECT d.*, t.structure_id AS structure_id FROM devices d"
                " JOIN teams t ON t.id = d.team_id"
                " WHERE d.traccar_id = ? AND d.revoked_at_s IS NULL AND t.active = 1",
                (traccar_id.strip(),),
            ).fetchone()
        device = to_dict(row, drop=("token_hash",))
        if device is not None:
            device["revoked"] = False
        return device

    def device_for_token(self, token: str) -> dict[str, Any] | None:
        """The live (not revoked) device holding ``token``, or None."""
        with self.engine.read() as conn:
            row = conn.execute(
                "SELECT d.*, t.structure_id AS structure_id FROM devices d"
                " JOIN teams t ON t.id = d.team_id"
                " WHERE d.token_hash = ? AND d.revoked_at_s IS NULL AND t.active = 1",
                (token_hash(token),),
            ).fetchone()
        device = to_dict(row, drop=("token_hash",))
        if device is None:
            return None
        if (device["last_seen_at_s"] or 0) < now_s() - TOUCH_EVERY_S:
            self.engine.write(
                lambda conn: conn.execute(
                    "UPDATE devices SET last_seen_at_s = ? WHERE id = ?", (now_s(), device["id"])
                )
            )
        device["revoked"] = False
        return device


def user_structure_ids(engine: Engine, user_id: int) -> list[int]:
    """The structures a user works for (sorted): their memberships, plus their team's."""
    with engine.read() as conn:
        rows = conn.execute(
            "SELECT structure_id FROM user_structures WHERE user_id = ?"
            " UNION SELECT t.structure_id FROM users u JOIN teams t ON t.id = u.team_id"
            " WHERE u.id = ?",
            (user_id, user_id),
        ).fetchall()
    return sorted({int(r[0]) for r in rows})


def _memberships(
    conn: sqlite3.Connection, structure_ids: list[int] | None, *, team_id: int | None, username: str
) -> list[int]:
    """The structures a new user joins (see :meth:`AccountsMixin.add_user`)."""
    known = [int(r[0]) for r in conn.execute("SELECT id FROM structures ORDER BY id")]
    if structure_ids is None:
        if team_id is not None:
            row = conn.execute("SELECT structure_id FROM teams WHERE id = ?", (team_id,)).fetchone()
            return [int(row[0])]
        if len(known) == 1:
            return known
        raise ValidationError(
            f"user {username}: give the structures this user works for (structure_ids;"
            f" on the command line --structure ID); known structures:"
            f" {', '.join(map(str, known))}"
        )
    if isinstance(structure_ids, list | tuple) and not structure_ids:
        raise ValidationError(f"user {username}: give at least one structure")
    wanted = check_structure_ids(structure_ids)
    missing = [s for s in wanted if s not in known]
    if missing:
        raise NotFoundError(f"structure {missing[0]} does not exist")
    return wanted
