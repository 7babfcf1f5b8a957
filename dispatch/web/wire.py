"""Socket.IO wire format on the hot path: a cheaper packet class and orjson for JSON.

At a few thousand position reports a second, python-socketio's generic code shows up in
profiles: ``Packet.data_is_binary`` walks every payload through ``functools.reduce`` and
temporary lists (about a tenth of the server's time), and the standard ``json`` module
encodes and decodes every packet. Same wire format, same results, less work.
"""

from __future__ import annotations

import json as _json
from typing import Any

import orjson
from socketio import packet as _packet

_SCALARS = (str, int, float, bool, type(None))


class FastPacket(_packet.Packet):
    """python-socketio's packet with an iterative binary check (same answer, no temporaries)."""

    @classmethod
    def data_is_binary(cls, data: Any) -> bool:
        kind = type(data)
        if kind in _SCALARS:
            return False
        if kind is dict or (kind is not list and isinstance(data, dict)):
            values = data.values()
        elif kind is list or isinstance(data, list):
            values = data
        else:
            return isinstance(data, (bytes, bytearray))
        for value in values:
            # Leaves are checked here, without a call each (most of an ack or a push).
            if type(value) in _SCALARS:
                continue
            if cls.data_is_binary(value):
                return True
        return False


class OrjsonCodec:
    """The ``json`` module interface Socket.IO and Engine.IO call (``dumps``/``loads``).

    What orjson refuses (``NaN`` in a client's text, an integer beyond 64 bits to write) goes
    through the standard module. Two differences with ``json``, both harmless here: a
    non-finite float is written ``null`` (``json`` writes ``Infinity``, which a browser's
    ``JSON.parse`` rejects), and an integer beyond 64 bits in a client's text is read as a
    float (no field takes one: validation refuses it as it would refuse any float id). Checking
    each text for such integers first cost a third of a coordinator client's time.
    """

    @staticmethod
    def dumps(obj: Any, **kwargs: Any) -> str:
        try:
            return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS).decode()
        except TypeError:
            return _json.dumps(obj, **kwargs)

    @staticmethod
    def loads(text: str | bytes, **kwargs: Any) -> Any:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            return _json.loads(text, **kwargs)
