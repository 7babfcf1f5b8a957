"""Issue 21 items 20 and 21: one licence everywhere, and an installed (non-editable) dispatch
that serves its pages, static files and territory definitions from any folder."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import requests
from live_support import PASSWORD

from dispatch.settings import PROJECT_ROOT
from dispatch.store import Store

PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
README = (PROJECT_ROOT / "README.md").read_text()


# --- item 21: one licence --------------------------------------------------------------------


def test_pyproject_licence_file_and_readme_agree_on_agpl() -> None:
    assert PYPROJECT["project"]["license"] == {"text": "AGPL-3.0-or-later"}
    text = (PROJECT_ROOT / "LICENSE").read_text()
    assert text.startswith("GNU AFFERO GENERAL PUBLIC LICENSE\nVersion 3, 19 November 2007")
    assert "13. Remote Network Interaction" in text and "END OF TERMS AND CONDITIONS" in text
    licence = README[README.index("## Licence") :]
    assert "AGPL-3.0-or-later" in licence
    assert not re.search(r"\bMIT\b", README), "the README still names the MIT licence"


def test_the_readme_calls_pinned_only_what_pyproject_pins() -> None:
    pins = {}
    for requirement in PYPROJECT["project"]["dependencies"]:
        match = re.match(r"([A-Za-z0-9_.\[\]-]+)\s*(==)?", requirement)
        assert match
        pins[match.group(1).split("[")[0].lower()] = bool(match.group(2))
    for line in README.splitlines():
        row = re.match(r"\| ([^|]+) \|", line)
        if not row or "(pinned)" not in row.group(1):
            continue
        names = [part.strip() for part in row.group(1).split(",")]
        marked = [n for n in names if n.endswith("(pinned)")]
        # "a, b (pinned)" reads as both pinned; "a (pinned), b" as a only.
        said = names if marked == names[-1:] else marked
        for name in said:
            name = name.removesuffix("(pinned)").strip().lower()
            assert pins.get(name), f"the README calls {name} pinned; pyproject.toml does not pin it"


# --- item 20: a non-editable install ---------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def installed(tmp_path_factory):  # type: ignore[no-untyped-def]
    """dispatch installed from the checkout (not editable) into a new virtualenv, offline:
    its dependencies come from the project's .venv (a path in a .pth file)."""
    root = tmp_path_factory.mktemp("installed")
    venv = root / "venv"
    # No pip of its own: the project's pip installs into it (--python), building with the
    # project's setuptools.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    ours = subprocess.run(
        [sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # A plain path: the editable install's own .pth (pointing at the checkout) is not run.
    (Path(site) / "dispatch-test-deps.pth").write_text(ours + "\n")
    # What a source distribution holds, without caches, builds or the developer's venv.
    build = root / "build"
    build.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md", "LICENSE"):
        shutil.copy2(PROJECT_ROOT / name, build / name)
    for folder in ("dispatch", "static", "data"):
        shutil.copytree(
            PROJECT_ROOT / folder, build / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            str(build),
        ],
        check=True,
        cwd=root,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    shutil.rmtree(build)  # nothing may be read from a source tree any more
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    return {"python": python, "bin": venv / "bin", "cwd": elsewhere, "site": Path(site)}


@pytest.mark.slow
def test_the_installed_package_finds_its_pages_and_territories(installed) -> None:  # type: ignore[no-untyped-def]
    code = (
        "from dispatch.settings import PROJECT_ROOT, Settings\n"
        "import dispatch.web.pages as pages\n"
        "s = Settings()\n"
        "print(PROJECT_ROOT)\n"
        "print((pages.STATIC_MAP / 'index.html').is_file())\n"
        "print((s.territories_dir / 'melun' / 'territory.toml').is_file())\n"
    )
    out = subprocess.run(
        [str(installed["python"]), "-c", code],
        cwd=installed["cwd"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert Path(out[0]).is_relative_to(installed["site"]), out
    assert out[1:] == ["True", "True"], out


@pytest.mark.slow
def test_dispatch_serve_from_another_folder(installed, melun, territory_cache, shared_dir) -> None:  # type: ignore[no-untyped-def]
    """The installed command serves the pages, static files and the territory's definition."""
    port = _free_port()
    var = installed["cwd"] / "var"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DISPATCH_")},
        "DISPATCH_VAR_DIR": str(var),
        "DISPATCH_CACHE_DIR": str(territory_cache),
        "DISPATCH_DATA_PATH": str(Path(shared_dir) / "territories"),
        "DISPATCH_TERRITORY": "melun",
    }
    log = (installed["cwd"] / "serve.log").open("w")
    proc = subprocess.Popen(
        [str(installed["bin"] / "dispatch"), "serve", "--port", str(port), "--no-demo"],
        cwd=installed["cwd"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            assert proc.poll() is None, (installed["cwd"] / "serve.log").read_text()[-3000:]
            try:
                if requests.get(f"{url}/api/health", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            assert time.time() < deadline, "dispatch serve did not answer in 120 s"
            time.sleep(0.3)
        for path in ("/map/", "/phone/", "/admin/", "/planner/"):
            page = requests.get(f"{url}{path}", timeout=5)
            assert page.status_code == 200 and "<html" in page.text, path
        script = requests.get(f"{url}/static/map/map.js", timeout=5)
        assert script.content == (PROJECT_ROOT / "static" / "map" / "map.js").read_bytes()
        vendor = requests.get(f"{url}/static/map/vendor/maplibre-gl.js", timeout=5)
        assert vendor.status_code == 200
        session = requests.Session()
        with Store(var / "dispatch.sqlite") as store:
            store.add_user("planner-i", role="planner", password=PASSWORD)
        login = session.post(
            f"{url}/api/session", json={"username": "planner-i", "password": PASSWORD}, timeout=10
        )
        assert login.ok, login.text
        territory = session.get(f"{url}/api/planning/territory", timeout=30)
        assert territory.ok and "melun" in territory.text.lower(), territory.text[:300]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
