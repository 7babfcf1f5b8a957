"""Tests of `fetch`: download from the origin, checksum verification, offline errors."""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from dispatch.errors import DataMissingError, ValidationError
from dispatch.settings import PROJECT_ROOT
from dispatch.territory.fetch import download, fetch_road_file


@pytest.fixture
def local_server(tmp_path):
    """A loopback HTTP server serving a folder (no internet involved)."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def offline_settings(settings, tmp_path):
    """Settings whose data path holds nothing yet (downloads land in its last folder)."""
    return settings.replace(data_path=(tmp_path / "empty", tmp_path / "downloads"))


def _pbf(shared_dir) -> Path:
    return shared_dir / "territories" / "saint-barthelemy" / "saint_barthelemy.osm.pbf"


def test_fetch_over_http_checks_sha256(local_server, offline_settings, shared_dir):
    """A missing road file is downloaded from the origin into the download folder."""
    served, base = local_server
    shutil.copy(_pbf(shared_dir), served / "sbh.pbf")
    path = fetch_road_file("saint-barthelemy", offline_settings, url=f"{base}/sbh.pbf")
    assert path == offline_settings.downloads / "saint-barthelemy" / "saint_barthelemy.osm.pbf"
    assert path.read_bytes() == _pbf(shared_dir).read_bytes()
    # Present now: a second fetch does not download (the server could be gone).
    assert fetch_road_file("saint-barthelemy", offline_settings, url=f"{base}/gone") == path


def test_fetch_rejects_a_wrong_file(local_server, offline_settings):
    """A download whose sha256 differs is refused and nothing is kept."""
    served, base = local_server
    (served / "bad.pbf").write_bytes(b"not the extract")
    with pytest.raises(ValidationError, match="sha256"):
        fetch_road_file("saint-barthelemy", offline_settings, url=f"{base}/bad.pbf")
    target_dir = offline_settings.downloads / "saint-barthelemy"
    assert not any(target_dir.iterdir()) if target_dir.exists() else True


def test_fetch_from_file_url(tmp_path, shared_dir):
    """file:// origins work too (a mirror on a shared drive)."""
    source = _pbf(shared_dir)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    target = download(source.as_uri(), tmp_path / "copy.pbf", sha256=digest)
    assert target.read_bytes() == source.read_bytes()


def test_offline_error_says_where_to_put_the_file(offline_settings):
    """Without network (connection refused) the error names the target path."""
    with pytest.raises(DataMissingError) as info:
        fetch_road_file("melun", offline_settings, url="http://127.0.0.1:9/network.xml.gz")
    assert str(offline_settings.downloads / "melun" / "melun_network.xml.gz") in str(info.value)


def test_present_file_with_wrong_checksum_is_reported(offline_settings, tmp_path):
    """A corrupted local copy is not silently accepted."""
    folder = offline_settings.downloads / "melun"
    folder.mkdir(parents=True)
    (folder / "melun_network.xml.gz").write_bytes(b"corrupted")
    with pytest.raises(ValidationError, match="delete it"):
        fetch_road_file("melun", offline_settings)


def test_definitions_origin_urls_are_raw_github_at_a_commit():
    """Origins are raw.githubusercontent.com URLs pinned to a 40-hex commit."""
    import re
    import tomllib

    for toml in (PROJECT_ROOT / "data" / "territories").glob("*/territory.toml"):
        url = tomllib.loads(toml.read_text())["road"]["url"]
        assert re.match(r"https://raw\.githubusercontent\.com/[\w-]+/[\w-]+/[0-9a-f]{40}/", url)
