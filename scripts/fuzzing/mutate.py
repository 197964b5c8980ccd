"""Mutators: byte-level (bit flips, truncation, inserted or repeated bytes), field-level
(a length field set to its maximum, zero or off by one) and message-level (splicing one
message into another). Targets know where their fields are and say so through `Field`."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

INTERESTING = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF)


@dataclass(frozen=True)
class Field:
    """A length or count field inside a message: byte offset, size in bytes, big endian."""

    offset: int
    size: int
    little: bool = False


def bit_flips(rng: random.Random, data: bytes, max_flips: int = 8) -> bytes:
    out = bytearray(data)
    if not out:
        return bytes(out)
    for _ in range(rng.randint(1, max_flips)):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data))] if data else data


def insert_bytes(rng: random.Random, data: bytes) -> bytes:
    at = rng.randint(0, len(data))
    kind = rng.randrange(3)
    if kind == 0:
        blob = rng.randbytes(rng.randint(1, 64))
    elif kind == 1:
        blob = bytes([rng.choice((0, 0xFF))]) * rng.randint(1, 4096)
    else:  # repeat a piece of the message itself
        start = rng.randrange(len(data)) if data else 0
        blob = data[start : start + rng.randint(1, 256)] * rng.randint(1, 8)
    return data[:at] + blob + data[at:]


def delete_bytes(rng: random.Random, data: bytes) -> bytes:
    if len(data) < 2:
        return data
    start = rng.randrange(len(data))
    return data[:start] + data[start + rng.randint(1, min(64, len(data) - start)) :]


def set_field(rng: random.Random, data: bytes, field: Field) -> bytes:
    """A length/count field set to its maximum (most often), zero, one, or off by one."""
    if field.offset + field.size > len(data):
        return data
    order = "little" if field.little else "big"
    top = (1 << (8 * field.size)) - 1
    old = int.from_bytes(data[field.offset : field.offset + field.size], order)
    value = rng.choice(
        (top, top, top, 0, 1, top >> 1, (old + 1) & top, (old - 1) & top)
        + tuple(v for v in INTERESTING if v <= top)
    )
    return (
        data[: field.offset] + value.to_bytes(field.size, order) + data[field.offset + field.size :]
    )


def splice(rng: random.Random, data: bytes, other: bytes) -> bytes:
    """The head of one message with the tail of another (or of itself)."""
    if not data or not other:
        return data + other
    return data[: rng.randint(0, len(data))] + other[rng.randrange(len(other)) :]


def mutate(
    rng: random.Random,
    data: bytes,
    fields: Sequence[Field] = (),
    others: Sequence[bytes] = (),
    rounds: int = 3,
) -> bytes:
    """One to `rounds` mutations of any kind; fields and splice partners make them
    structure-aware."""
    for _ in range(rng.randint(1, rounds)):
        op = rng.randrange(7)
        if op == 0 and fields:
            data = set_field(rng, data, rng.choice(fields))
        elif op == 1 and others:
            data = splice(rng, data, rng.choice(others))
        elif op == 2:
            data = truncate(rng, data)
        elif op == 3:
            data = insert_bytes(rng, data)
        elif op == 4:
            data = delete_bytes(rng, data)
        else:
            data = bit_flips(rng, data)
    return data


def case_seed(seed: int, target: str, index: int) -> int:
    """A case's own seed: stable across runs and Python versions (no hash())."""
    h = seed * 1_000_003 + index
    for ch in target:
        h = (h * 131 + ord(ch)) & 0xFFFFFFFFFFFF
    return (h * 2_654_435_761 + index) & 0xFFFFFFFFFFFF
