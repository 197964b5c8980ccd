"""AMF0, the value encoding of RTMP commands (connect, createStream, publish …).

Only what an RTMP publisher sends and a server answers: numbers, booleans, strings, objects,
null, arrays. Decoding is bounded (depth, item count) because the bytes come from the network.
"""

from __future__ import annotations

import struct
from typing import Any

MAX_DEPTH = 8
MAX_ITEMS = 256


class AmfError(ValueError):
    """The bytes are not (supported) AMF0."""


def decode_all(data: bytes) -> list[Any]:
    """Every value in `data`, in order (a command: name, transaction id, arguments …)."""
    values: list[Any] = []
    pos = 0
    while pos < len(data):
        if len(values) >= MAX_ITEMS:
            raise AmfError("too many values")
        value, pos = _decode(data, pos, 0)
        values.append(value)
    return values


def _need(data: bytes, pos: int, n: int) -> None:
    if pos + n > len(data):
        raise AmfError("truncated")


def _string(data: bytes, pos: int, wide: bool = False) -> tuple[str, int]:
    size_len = 4 if wide else 2
    _need(data, pos, size_len)
    n = int.from_bytes(data[pos : pos + size_len], "big")
    pos += size_len
    _need(data, pos, n)
    return data[pos : pos + n].decode("utf-8", "replace"), pos + n


def _properties(data: bytes, pos: int, depth: int) -> tuple[dict[str, Any], int]:
    out: dict[str, Any] = {}
    while True:
        _need(data, pos, 3)
        if data[pos : pos + 3] == b"\x00\x00\x09":
            return out, pos + 3
        if len(out) >= MAX_ITEMS:
            raise AmfError("object too large")
        key, pos = _string(data, pos)
        out[key], pos = _decode(data, pos, depth + 1)


def _decode(data: bytes, pos: int, depth: int) -> tuple[Any, int]:
    if depth > MAX_DEPTH:
        raise AmfError("nested too deep")
    _need(data, pos, 1)
    marker = data[pos]
    pos += 1
    if marker == 0x00:  # number
        _need(data, pos, 8)
        return struct.unpack(">d", data[pos : pos + 8])[0], pos + 8
    if marker == 0x01:  # boolean
        _need(data, pos, 1)
        return data[pos] != 0, pos + 1
    if marker == 0x02:
        return _string(data, pos)
    if marker == 0x0C:  # long string
        return _string(data, pos, wide=True)
    if marker == 0x03:  # object
        return _properties(data, pos, depth)
    if marker == 0x08:  # ECMA array: a count (advisory), then properties like an object
        _need(data, pos, 4)
        return _properties(data, pos + 4, depth)
    if marker == 0x0A:  # strict array
        _need(data, pos, 4)
        count = int.from_bytes(data[pos : pos + 4], "big")
        if count > MAX_ITEMS:
            raise AmfError("array too large")
        pos += 4
        items = []
        for _ in range(count):
            item, pos = _decode(data, pos, depth + 1)
            items.append(item)
        return items, pos
    if marker in (0x05, 0x06):  # null, undefined
        return None, pos
    if marker == 0x0B:  # date: ms since the epoch and a time zone
        _need(data, pos, 10)
        return struct.unpack(">d", data[pos : pos + 8])[0], pos + 10
    raise AmfError(f"unsupported AMF0 marker 0x{marker:02x}")


def encode(*values: Any) -> bytes:
    """AMF0 bytes of `values` (None, bool, int/float, str, dict)."""
    out = bytearray()
    for value in values:
        _encode(out, value)
    return bytes(out)


def _encode(out: bytearray, value: Any) -> None:
    if value is None:
        out.append(0x05)
    elif isinstance(value, bool):
        out += bytes((0x01, 1 if value else 0))
    elif isinstance(value, int | float):
        out.append(0x00)
        out += struct.pack(">d", float(value))
    elif isinstance(value, str):
        raw = value.encode("utf-8")
        if len(raw) > 0xFFFF:
            out.append(0x0C)
            out += len(raw).to_bytes(4, "big")
        else:
            out.append(0x02)
            out += len(raw).to_bytes(2, "big")
        out += raw
    elif isinstance(value, dict):
        out.append(0x03)
        for key, item in value.items():
            raw_key = str(key).encode("utf-8")
            out += len(raw_key).to_bytes(2, "big") + raw_key
            _encode(out, item)
        out += b"\x00\x00\x09"
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as AMF0")
