"""A real SMTP server on loopback (aiosmtpd) for the account e-mail tests."""

from __future__ import annotations

import email
import re
import socket
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller

LINK = re.compile(r"(https?://\S+/account/#token=(\S+))")


class Inbox:
    """Keeps every message it receives as (recipients, message)."""

    def __init__(self, login: tuple[str, str] | None = None) -> None:
        """``login``: (user, password) the server then requires (AUTH LOGIN/PLAIN)."""
        self.messages: list[tuple[list[str], Message]] = []
        self.logins: list[str] = []
        inbox = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                inbox.messages.append(
                    (list(envelope.rcpt_tos), email.message_from_bytes(envelope.content))
                )
                return "250 OK"

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        options: dict[str, Any] = {}
        if login is not None:
            from aiosmtpd.smtp import AuthResult, LoginPassword

            def authenticator(
                server: Any, session: Any, envelope: Any, mechanism: str, data: Any
            ) -> Any:
                ok = (
                    isinstance(data, LoginPassword)
                    and (
                        data.login.decode(),
                        data.password.decode(),
                    )
                    == login
                )
                if ok:
                    inbox.logins.append(data.login.decode())
                return AuthResult(success=ok)

            options = {
                "authenticator": authenticator,
                "auth_required": True,
                "auth_require_tls": False,
            }
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **options)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def body(self, i: int = -1) -> str:
        payload = self.messages[i][1].get_payload(decode=True)
        assert isinstance(payload, bytes)
        return payload.decode()

    def link(self, i: int = -1) -> str:
        """The account link of message ``i`` (the whole URL)."""
        match = LINK.search(self.body(i))
        assert match, self.body(i)
        return match.group(1)

    def link_token(self, i: int = -1) -> str:
        match = LINK.search(self.body(i))
        assert match, self.body(i)
        return match.group(2)
