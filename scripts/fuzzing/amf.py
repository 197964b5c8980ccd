"""An AMF0 writer for seeds that remembers where its length and count fields are, so that
the mutators can set exactly those to their maximum."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from scripts.fuzzing.mutate import Field


@dataclass(frozen=True)
class Ecma:
    """An ECMA array (marker 0x08): an object with a count in front."""

    items: dict[str, Any]


@dataclass(frozen=True)
class Date:
    ms: float


class AmfWriter:
    def __init__(self) -> None:
        self.buf = bytearray()
        self.fields: list[Field] = []

    def _len(self, value: int, size: int) -> None:
        self.fields.append(Field(len(self.buf), size))
        self.buf += value.to_bytes(size, "big")

    def _key(self, key: str) -> None:
        raw = key.encode()
        self._len(len(raw), 2)
        self.buf += raw

    def _props(self, items: dict[str, Any]) -> None:
        for key, value in items.items():
            self._key(key)
            self.value(value)
        self.buf += b"\x00\x00\x09"

    def value(self, v: Any) -> AmfWriter:
        b = self.buf
        if v is None:
            b.append(0x05)
        elif isinstance(v, bool):
            b += bytes((0x01, int(v)))
        elif isinstance(v, int | float):
            b += b"\x00" + struct.pack(">d", float(v))
        elif isinstance(v, str):
            raw = v.encode("utf-8", "surrogatepass")
            if len(raw) > 0xFFFF:
                b.append(0x0C)
                self._len(len(raw), 4)
            else:
                b.append(0x02)
                self._len(len(raw), 2)
            b += raw
        elif isinstance(v, Ecma):
            b.append(0x08)
            self._len(len(v.items), 4)
            self._props(v.items)
        elif isinstance(v, dict):
            b.append(0x03)
            self._props(v)
        elif isinstance(v, list):
            b.append(0x0A)
            self._len(len(v), 4)
            for item in v:
                self.value(item)
        elif isinstance(v, Date):
            b += b"\x0b" + struct.pack(">d", v.ms) + b"\x00\x00"
        else:
            raise TypeError(type(v).__name__)
        return self


def encode(*values: Any) -> tuple[bytes, list[Field]]:
    writer = AmfWriter()
    for v in values:
        writer.value(v)
    return bytes(writer.buf), writer.fields
