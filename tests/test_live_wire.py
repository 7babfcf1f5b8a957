"""The cheaper Socket.IO wire code gives the same answers as python-socketio's own."""

from __future__ import annotations

import json
import math

from hypothesis import given
from hypothesis import strategies as st
from socketio import packet

from dispatch.web.wire import FastPacket, OrjsonCodec

_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
) | st.text()
_payloads = st.recursive(
    _leaves | st.binary(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=5), inner, max_size=4)
        | st.tuples(inner, inner)
    ),
    max_leaves=25,
)


@given(_payloads)
def test_binary_check_matches_python_socketio(data):
    assert FastPacket.data_is_binary(data) == packet.Packet.data_is_binary(data)


@given(
    st.recursive(
        _leaves,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
        ),
        max_leaves=25,
    )
)
def test_codec_round_trips_like_json(data):
    text = OrjsonCodec.dumps(data, separators=(",", ":"))
    assert OrjsonCodec.loads(text) == json.loads(json.dumps(data))


def test_codec_falls_back_to_json_for_what_orjson_refuses():
    assert OrjsonCodec.dumps({"big": 2**70}) == json.dumps({"big": 2**70})
    assert math.isnan(OrjsonCodec.loads('{"x": NaN}')["x"])
    # Read beyond 64 bits: a float, which validation refuses wherever an integer is expected.
    assert isinstance(OrjsonCodec.loads('{"id": 123456789012345678901234}')["id"], float)
    assert OrjsonCodec.dumps({1: "a"}) == '{"1":"a"}'


def test_codec_writes_valid_json_where_json_would_not():
    """Infinity is not JSON (a browser's JSON.parse rejects it): it goes out as null."""
    assert OrjsonCodec.dumps([float("inf"), float("nan")]) == "[null,null]"


def test_packets_encode_the_same_with_both_classes():
    data = ["live", {"positions": [{"team_id": 3, "lon": 9.45, "lat": 42.7}], "n": None}]
    fast = FastPacket(packet.EVENT, data=data, namespace="/", id=7)
    fast.json = OrjsonCodec
    slow = packet.Packet(packet.EVENT, data=data, namespace="/", id=7)
    head = f"{packet.EVENT}7"
    assert fast.encode().startswith(head) and slow.encode().startswith(head)
    assert json.loads(fast.encode()[len(head) :]) == json.loads(slow.encode()[len(head) :])
