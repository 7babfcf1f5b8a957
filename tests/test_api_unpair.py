"""A phone unpairing itself revokes its own device token on the server."""

from __future__ import annotations

from api_world import fast_password_hashing, make_world


def test_a_phone_unpairing_itself_loses_its_token(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """DELETE /api/devices/self with the device token revokes it (then 401), is audited, and is
    refused to users (only a phone unpairs itself)."""
    fast_password_hashing()
    world = make_world(tmp_path)
    client = world.app.test_client()
    phone = world.headers("device_b")
    assert client.get("/api/live/config", headers=phone).status_code == 200
    refused = client.delete("/api/devices/self", headers=world.headers("coordinator"))
    assert refused.status_code == 403 and refused.json["ok"] is False
    done = client.delete("/api/devices/self", headers=phone)
    assert done.status_code == 200 and done.json["device"]["revoked"] is True
    assert client.get("/api/live/config", headers=phone).status_code == 401
    actions = [line["action"] for line in world.store.list_audit(limit=50)]
    assert "device.unpair" in actions
