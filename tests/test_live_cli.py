"""`dispatch device pair --traccar`: a Traccar-only phone gets its identifier, not a token."""

from __future__ import annotations

from click.testing import CliRunner

from dispatch.cli import cli
from dispatch.settings import load_settings
from dispatch.store import Store


def test_traccar_pairing_prints_an_identifier_that_posts_positions_only(
    tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """The printed identifier is the device's Traccar id, listed by `device list`, not a token."""
    monkeypatch.setenv("DISPATCH_VAR_DIR", str(tmp_path / "var"))
    runner = CliRunner()
    assert (
        runner.invoke(cli, ["team", "add", "IDE Test", "--lon", "2.65", "--lat", "48.54"]).exit_code
        == 0
    )
    result = runner.invoke(
        cli, ["device", "pair", "IDE Test", "--traccar", "--base-url", "https://d.example.org"]
    )
    assert result.exit_code == 0, result.output
    assert "https://d.example.org/osmand" in result.output
    traccar_id = result.output.rsplit("identifier: ", 1)[1].strip()
    assert traccar_id.isdigit() and "dsp_" not in result.output
    with Store(load_settings().database) as store:
        device = store.device_for_traccar_id(traccar_id)
        assert device is not None and device["label"] == "Traccar Client"
    listed = runner.invoke(cli, ["device", "list"]).output
    assert f"traccar {traccar_id}" in listed
