"""Download a territory's road file from its public origin and check its sha256."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from dispatch.errors import DataMissingError, ValidationError
from dispatch.settings import Settings
from dispatch.territory.definitions import (
    DataSource,
    find_data_file,
    load_definition,
    sha256_file,
)


def download(
    url: str,
    target: Path,
    *,
    sha256: str = "",
    timeout_s: float = 60.0,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Download ``url`` (http, https or file) to ``target``, checking ``sha256`` when given.

    The file is written to ``target.part`` and renamed only once complete and verified.

    Raises
    ------
    DataMissingError
        The URL cannot be read (offline, not found): the message says where to put the file.
    ValidationError
        The downloaded file's checksum differs from ``sha256``.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            next_report = 0
            while chunk := response.read(1 << 16):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None and done >= next_report:
                    size = f" of {total / 1e6:.1f} MB" if total else ""
                    progress(f"downloaded {done / 1e6:.1f} MB{size}")
                    next_report = done + (1 << 20)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        part.unlink(missing_ok=True)
        raise DataMissingError(
            f"cannot download {url} ({exc}): if this machine is offline, get the file "
            f"elsewhere and put it at {target}"
        ) from None
    actual = digest.hexdigest()
    if sha256 and actual != sha256:
        part.unlink(missing_ok=True)
        raise ValidationError(
            f"{url} gave a file with sha256 {actual}, expected {sha256}: the origin changed or "
            "the download was corrupted; nothing was kept"
        )
    os.replace(part, target)
    return target


def fetch_road_file(
    territory_id: str,
    settings: Settings,
    *,
    url: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Make sure the road file of a territory is on the data path, downloading it if missing.

    A file already present is checked against the definition's sha256. Downloads go to
    ``settings.downloads / <folder> / <file>``.
    """
    definition = load_definition(territory_id, settings)
    source: DataSource = definition.road
    try:
        path = find_data_file(source, settings)
    except DataMissingError:
        path = None
    if path is not None:
        if source.sha256 and sha256_file(path) != source.sha256:
            raise ValidationError(
                f"{path} is present but its sha256 differs from the definition's "
                f"{source.sha256}: delete it and run `dispatch territory fetch {territory_id}` again"
            )
        if progress is not None:
            progress(f"{path} is already present and its sha256 matches")
        return path
    origin = url or source.url
    if not origin:
        raise DataMissingError(
            f"territory {territory_id} has no download URL for {source.file}: put the file in "
            f"{settings.downloads / source.folder}"
        )
    target = settings.downloads / source.folder / source.file
    if progress is not None:
        progress(f"downloading {origin} to {target}")
    return download(origin, target, sha256=source.sha256, progress=progress)


__all__ = ["download", "fetch_road_file"]
