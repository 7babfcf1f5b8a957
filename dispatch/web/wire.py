"""Socket.IO wire format on the hot path: a cheaper packet class and orjson for JSON.

At a few thousand position reports a second, python-socketio's generic code shows up in
profiles: ``Packet.data_is_binary`` walks every payload through ``functools.reduce`` and
temporary lists (about a tenth of the server's time), and the standard ``json`` module
encodes and decodes every packet. Same wire format, same results, less work.
"""

from __future__ import annotations

import json as _json
import re
from typing import Any

import orjson
from socketio import packet as _packet

_SCALARS = (str, int, float, bool, type(None))
#: 19 digits in a row may be an integer beyond 64 bits, which orjson would read as a float.
_LONG_DIGITS = re.compile(r"\d{19}")
_LONG_DIGITS_B = re.compile(rb"\d{19}")


class FastPacket(_packet.Packet):
    """python-socketio's packet with an iterative binary check (same answer, no temporaries)."""

    @classmethod
    def data_is_binary(cls, data: Any) -> bool:
        stack = [data]
        while stack:
            item = stack.pop()
            kind = type(item)
            if kind in _SCALARS:
                continue
            if kind is dict:
                stack.extend(item.values())
            elif kind is list:
                stack.extend(item)
            elif isinstance(item, (bytes, bytearray)):
                return True
            elif isinstance(item, dict):
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
        return False


class OrjsonCodec:
    """The ``json`` module interface Socket.IO and Engine.IO call (``dumps``/``loads``).

    Anything orjson refuses or would read differently (an integer beyond 64 bits, ``NaN`` in a
    client's text) goes through the standard module, so the accepted input and the output are
    those of ``json``; one difference on output: a non-finite float is written ``null``
    (``json`` writes ``Infinity``, which a browser's ``JSON.parse`` rejects).
    """

    @staticmethod
    def dumps(obj: Any, **kwargs: Any) -> str:
        try:
            return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS).decode()
        except TypeError:
            return _json.dumps(obj, **kwargs)

    @staticmethod
    def loads(text: str | bytes, **kwargs: Any) -> Any:
        long_digits = _LONG_DIGITS_B if isinstance(text, bytes | bytearray) else _LONG_DIGITS
        if long_digits.search(text):  # type: ignore[arg-type]
            return _json.loads(text, **kwargs)
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            return _json.loads(text, **kwargs)
