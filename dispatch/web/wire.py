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


class Unreadable(list):
    """The data of an event packet whose JSON could not be read: ``[reason]``.

    python-socketio lets a decoding error escape (a traceback per packet, and no answer to the
    client); with this marker the event handler answers the packet's acknowledgement with an
    error instead (``dispatch.web.sockets``).
    """


class FastPacket(_packet.Packet):
    """python-socketio's packet with an iterative binary check (same answer, no temporaries),
    and event packets whose JSON cannot be read kept as :class:`Unreadable` data."""

    def decode(self, encoded_packet: Any) -> int:
        try:
            return int(super().decode(encoded_packet) or 0)
        except (ValueError, RecursionError) as exc:
            if getattr(self, "packet_type", None) != _packet.EVENT:
                raise
            reason = "nested too deeply" if isinstance(exc, RecursionError) else "not valid JSON"
            self.data = Unreadable([reason])
            return 0

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
            # The standard module reads what orjson refuses on purpose (NaN); a text nested
            # beyond orjson's 1,024 levels would make it recurse until RecursionError.
            if _too_deep(text):
                raise ValueError("JSON nested too deeply") from None
            return _json.loads(text, **kwargs)


#: Nesting beyond which a client's JSON is refused without being parsed (orjson's own limit).
MAX_JSON_DEPTH = 1024


def _too_deep(text: str | bytes) -> bool:
    """True when ``text`` opens more than MAX_JSON_DEPTH arrays or objects in a row somewhere
    (a cheap upper bound of its nesting: brackets inside strings count too, which only makes a
    pathological but valid text fall back to being refused)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    depth = 0
    for char in text:
        if char in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        elif char in "]}":
            depth -= 1
    return False
