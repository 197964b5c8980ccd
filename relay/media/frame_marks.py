"""Burned-in frame marks: a frame counter and the capture time, readable from decoded pixels.

Layout (it scales with the picture, so any rung of the ladder reads back the same):
the top band of the frame, as tall as one slot, is cut into 80 equal slots across the width.
A slot is white (luma 235) for bit 1 and black (luma 16) for bit 0; read its centre.

    slot 0..1    sync pattern 1, 0
    slot 2..33   frame counter, 32 bits, most significant first
    slot 34..75  capture time, Unix epoch milliseconds (wall clock), 42 bits, MSB first
    slot 76..79  checksum: number of 1 bits in slots 2..75, modulo 16, MSB first

The slot size is width / 80 pixels (16 px at 1280 wide). The same band is drawn a second
time lower down, starting at 5/8 of the height: an encoder that cuts a picture into slices
puts the two in different slices, so a picture assembled from parts of different pictures
(or missing a part) reads back None. Delay at a receiver is its wall clock at receipt minus
the capture time; frame loss is a gap in the counter.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

SLOTS = 80
COUNTER_BITS = 32
TIME_BITS = 42
CHECK_BITS = 4
WHITE, BLACK = 235, 16
LOWER_AT = 5 / 8


def slot_size(width: int) -> float:
    return width / SLOTS


def band_height(width: int) -> int:
    """Height in pixels of the band the marks occupy at the top of the frame."""
    return max(2, int(round(slot_size(width))) + 1) & ~1


def lower_top(height: int) -> int:
    """The first row of the second band (scales with the picture like the slots)."""
    return int(round(height * LOWER_AT))


def _bits(value: int, count: int) -> list[int]:
    return [(value >> (count - 1 - i)) & 1 for i in range(count)]


def _encode(counter: int, unix_ms: int) -> list[int]:
    payload = _bits(counter & 0xFFFFFFFF, COUNTER_BITS) + _bits(unix_ms, TIME_BITS)
    return [1, 0, *payload, *_bits(sum(payload) % 16, CHECK_BITS)]


def write_marks(y_plane: npt.NDArray[np.uint8], counter: int, unix_ms: int) -> None:
    """Draws the marks into the top band and the lower band of a luma plane, in place."""
    height, width = y_plane.shape[:2]
    band = band_height(width)
    step = slot_size(width)
    edges = [int(round(i * step)) for i in range(SLOTS + 1)]
    lower = lower_top(height)
    for i, bit in enumerate(_encode(counter, unix_ms)):
        y_plane[:band, edges[i] : edges[i + 1]] = WHITE if bit else BLACK
        y_plane[lower : lower + band, edges[i] : edges[i + 1]] = WHITE if bit else BLACK


def read_marks(y_plane: npt.NDArray[np.uint8]) -> tuple[int, int] | None:
    """Reads (counter, capture Unix ms) from a luma plane; None if either band is damaged or
    the two disagree (a picture pieced together from different ones)."""
    height = y_plane.shape[0]
    top = _read_band(y_plane, 0)
    if top is None or _read_band(y_plane, lower_top(height)) != top:
        return None
    return top


def _read_band(y_plane: npt.NDArray[np.uint8], first_row: int) -> tuple[int, int] | None:
    height, width = y_plane.shape[:2]
    step = slot_size(width)
    row = min(height - 1, first_row + int(step / 2))
    xs = (np.arange(SLOTS) * step + step / 2).astype(np.intp)
    # Average a 3x3 neighbourhood around each centre to ride over compression noise.
    rows = y_plane[max(0, row - 1) : row + 2].astype(np.int32)
    samples = np.stack([rows[:, np.clip(xs + dx, 0, width - 1)] for dx in (-1, 0, 1)])
    bits = (samples.mean(axis=(0, 1)) > 128).astype(int).tolist()
    if bits[:2] != [1, 0]:
        return None
    payload = bits[2 : 2 + COUNTER_BITS + TIME_BITS]
    check = int("".join(map(str, bits[SLOTS - CHECK_BITS :])), 2)
    if sum(payload) % 16 != check:
        return None
    counter = int("".join(map(str, payload[:COUNTER_BITS])), 2)
    unix_ms = int("".join(map(str, payload[COUNTER_BITS:])), 2)
    return counter, unix_ms
