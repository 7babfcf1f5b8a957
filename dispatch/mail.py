"""Account e-mails over SMTP (standard library): activation and password-reset links.

Configured by the settings ``smtp_host``, ``smtp_port``, ``smtp_starttls``, ``smtp_from`` and
``smtp_user``; the password comes from the environment variable ``DISPATCH_SMTP_PASSWORD``
only, and never appears in a message or a log line. Without ``smtp_host`` and ``smtp_from``
no e-mail is sent and :meth:`Mailer.send` raises :class:`MailNotConfigured`, whose message
says how to configure it.
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import ssl
import time
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any

from dispatch.errors import DispatchError, ValidationError

log = logging.getLogger(__name__)

PASSWORD_ENV = "DISPATCH_SMTP_PASSWORD"
#: Seconds to wait for the SMTP server at each step.
SMTP_TIMEOUT_S = 15.0

HOW_TO_CONFIGURE = (
    "set smtp_host and smtp_from in the settings file (or DISPATCH_SMTP_HOST and"
    " DISPATCH_SMTP_FROM; smtp_port, smtp_starttls, smtp_user, and the password in the"
    f" environment variable {PASSWORD_ENV}), then restart the server; until then the server"
    " operator creates accounts with `dispatch user add NAME --role ROLE`"
)


class MailNotConfigured(DispatchError):
    """No SMTP server is configured: nothing can be e-mailed."""

    status = 503
    code = "mail_not_configured"


class MailError(DispatchError):
    """The SMTP server refused the message or could not be reached; it may be sent again."""

    status = 503
    code = "mail_failed"
    retry_after_s = 60.0


#: A plain e-mail address: a dot-atom name (RFC 5322 atext without quotes), ``@``, and a host
#: name of two labels or more (letters, digits, inner hyphens), the last one alphabetic or
#: ``xn--``. The OpenAPI document gives the same pattern, so that both agree on every address.
ADDRESS_PATTERN = (
    r"^[A-Za-z0-9!#$%&*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})$"
)
_ADDRESS = re.compile(ADDRESS_PATTERN)


def check_address(address: Any) -> str:
    """A plain e-mail address (``name@domain.tld``), stripped; ValidationError otherwise."""
    if not isinstance(address, str):
        raise ValidationError("email must be an e-mail address (text), e.g. marie@example.fr")
    address = address.strip()
    if len(address) > 254 or not _ADDRESS.match(address):
        raise ValidationError(f"email {address[:80]!r} is not an e-mail address (marie@example.fr)")
    return address


class Mailer:
    """Sends plain-text e-mails through the configured SMTP server (one connection each)."""

    def __init__(self, settings: Any, env: Mapping[str, str] | None = None) -> None:
        self.host = settings.smtp_host
        self.port = int(settings.smtp_port)
        self.starttls = bool(settings.smtp_starttls)
        self.sender = settings.smtp_from
        self.user = settings.smtp_user
        self._env = os.environ if env is None else env

    @property
    def configured(self) -> bool:
        """True when a server and a sender address are set."""
        return bool(self.host and self.sender)

    def status(self) -> dict[str, Any]:
        """What the admin screen shows (never the password)."""
        return {
            "configured": self.configured,
            "host": self.host or None,
            "port": self.port,
            "from": self.sender or None,
            "how": None if self.configured else HOW_TO_CONFIGURE,
        }

    def require(self) -> None:
        """Raise MailNotConfigured (with how to configure it) when no server is set."""
        if not self.configured:
            raise MailNotConfigured(f"no SMTP server is configured for e-mails: {HOW_TO_CONFIGURE}")

    def send(self, to: str, subject: str, text: str) -> None:
        """Send one message; MailError (503, retryable) when the server fails."""
        self.require()
        to = check_address(to)
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=True)
        message["Message-ID"] = make_msgid(
            domain=parseaddr(self.sender)[1].partition("@")[2] or None
        )
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(text)
        started = time.perf_counter()
        try:
            self._deliver(message)
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            # The exception text is the server's answer (no credentials in it).
            reason = f"{type(exc).__name__}: {exc}"[:300]
            log.warning("e-mail to a user not sent: %s", reason)
            raise MailError(
                f"the e-mail could not be sent through {self.host}:{self.port} ({reason}):"
                " check the SMTP settings and send the link again"
            ) from None
        log.info("account e-mail sent in %.0f ms", (time.perf_counter() - started) * 1000)

    def _deliver(self, message: EmailMessage) -> None:
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.port == 465:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=SMTP_TIMEOUT_S, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT_S)
        with smtp:
            smtp.ehlo()
            if self.port != 465 and self.starttls:
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.user:
                smtp.login(self.user, self._env.get(PASSWORD_ENV, ""))
            smtp.send_message(message)
