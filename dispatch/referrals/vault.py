"""Attachments of requests, encrypted at rest (AES-256-GCM, the ``cryptography`` package).

The key is the environment variable ``DISPATCH_ATTACHMENT_KEY`` (32 bytes, URL-safe base64),
else a key file ``attachment_key`` in the var dir, created 0600 on first use. It never
appears in the repository, a log line or an answer. Each file is stored as ``nonce (12 bytes)
|| ciphertext+tag`` under a random name in ``<var_dir>/attachments/``; the request's id and the
attachment's stored name are the associated data, so that a file moved to another record does
not decrypt.

The type of a file is decided by its first bytes (PDF, PNG, JPEG), never by its name or the
type the browser sent.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dispatch.errors import DispatchError, InternalError, ValidationError
from dispatch.store.core import create_private

KEY_ENV = "DISPATCH_ATTACHMENT_KEY"
KEY_FILE = "attachment_key"
FOLDER = "attachments"
_NONCE_BYTES = 12
#: Media types accepted, by their first bytes.
_MAGIC = (
    (b"%PDF-", "application/pdf", ".pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
)
MEDIA_TYPES = tuple(m for _, m, _ in _MAGIC)


class PayloadTooLarge(DispatchError):
    """A file larger than the setting ``referral_attachment_max_bytes``."""

    status = 413
    code = "too_large"


class UnsupportedMediaType(DispatchError):
    """A file that is not a PDF, a PNG or a JPEG by its content."""

    status = 415
    code = "unsupported_media_type"


def sniff(content: bytes) -> str:
    """The media type of ``content`` by its first bytes; UnsupportedMediaType otherwise."""
    for magic, media_type, _ in _MAGIC:
        if content.startswith(magic):
            return media_type
    raise UnsupportedMediaType(
        "the file is not a PDF, a PNG or a JPEG (judged by its content): scan or export the"
        " document as PDF, or photograph it (JPEG)"
    )


def clean_filename(name: str | None, media_type: str) -> str:
    """A file name to show: the base name without path or control characters, at most 120
    characters, with the extension of its real type."""
    base = os.path.basename((name or "").replace("\\", "/"))
    base = "".join(c for c in base if c.isprintable() and c not in '<>:"|?*').strip(" .")
    ext = next(e for _, m, e in _MAGIC if m == media_type)
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return (stem[:110] or "document") + ext


class Vault:
    """Writes and reads encrypted attachments under ``var_dir``."""

    def __init__(self, var_dir: Path, env: Mapping[str, str] | None = None) -> None:
        self.folder = Path(var_dir) / FOLDER
        self._key_file = Path(var_dir) / KEY_FILE
        self._env = os.environ if env is None else env
        self._aead: AESGCM | None = None

    def _cipher(self) -> AESGCM:
        if self._aead is None:
            self._aead = AESGCM(self._key())
        return self._aead

    def _key(self) -> bytes:
        text = self._env.get(KEY_ENV, "").strip()
        if text:
            try:
                key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            except (binascii.Error, ValueError):
                key = b""
            if len(key) != 32:
                raise InternalError(
                    f"{KEY_ENV} must be 32 bytes in URL-safe base64 (make one with python -c"
                    ' "import base64,os;print(base64.urlsafe_b64encode(os.urandom(32)).decode())")'
                )
            return key
        if not self._key_file.exists():
            create_private(self._key_file)
            with open(self._key_file, "wb") as out:
                out.write(base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)))
        return base64.urlsafe_b64decode(self._key_file.read_bytes().strip())

    def put(self, referral_id: int, content: bytes) -> str:
        """Encrypt and write ``content``; the stored name."""
        stored_name = secrets.token_hex(16)
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._cipher().encrypt(nonce, content, self._aad(referral_id, stored_name))
        path = self.folder / stored_name
        create_private(path)
        with open(path, "wb") as out:
            out.write(nonce + sealed)
        return stored_name

    def get(self, referral_id: int, stored_name: str) -> bytes:
        """The decrypted content of a stored attachment."""
        if not stored_name or not all(c in "0123456789abcdef" for c in stored_name):
            raise ValidationError("bad stored attachment name")
        raw = (self.folder / stored_name).read_bytes()
        try:
            return self._cipher().decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], self._aad(referral_id, stored_name)
            )
        except InvalidTag:
            raise InternalError(
                "an attachment could not be decrypted: its file or the key"
                f" ({KEY_ENV} or the key file) changed"
            ) from None

    def delete(self, stored_name: str) -> bool:
        """Remove a stored attachment's file; False when it was already gone."""
        if not stored_name or not all(c in "0123456789abcdef" for c in stored_name):
            raise ValidationError("bad stored attachment name")
        try:
            (self.folder / stored_name).unlink()
        except FileNotFoundError:
            return False
        return True

    def path(self, stored_name: str) -> Path:
        """Where a stored attachment is (its ciphertext)."""
        return self.folder / stored_name

    @staticmethod
    def _aad(referral_id: int, stored_name: str) -> bytes:
        return f"referral:{referral_id}:{stored_name}".encode()
