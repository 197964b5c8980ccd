"""MISB ST 0601 UAS Datalink Local Set: the KLV telemetry a drone carries in its own MPEG-TS.

One packet is the 16-byte universal key, a BER length and a run of local-set items, each a
BER-OID tag, a BER length and a value; the last item is the checksum (tag 1). Values are
integers the standard maps onto ranges (tag 13: int32 onto +/-90 degrees); the most negative
signed value means "error/unknown" and becomes an absent field, never a number.

The checksum is ST 0601's 16-bit running sum, not a CRC: the bytes from the first byte of
the key through the checksum item's length byte are read as big-endian 16-bit words (an odd
last byte as a high byte) and added modulo 2^16 (the standard's own example: the bytes
06 0E 2B 34 02 00 81 BB sum to B4FD).

Nothing here raises out of `decode_payload`: a bad packet becomes a cause string that the
caller counts, and the packets after it in the same payload are still read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import msgspec

from relay.telemetry.model import Telemetry

UAS_LS_KEY = bytes.fromhex("060E2B34020B01010E01030101000000")
CHECKSUM_TAG = 1
MAX_PACKET = 65_535  # far above any real local set; a larger length is a corrupt one


class KlvError(ValueError):
    """A packet that cannot be read; str() is the cause as counted (short, no values)."""


def checksum(data: bytes) -> int:
    """ST 0601's running 16-bit sum over `data` (key through the checksum's length byte)."""
    return ((sum(data[0::2]) << 8) + sum(data[1::2])) & 0xFFFF


def ber_length(buf: bytes, pos: int) -> tuple[int, int]:
    """(length, position after it): short form (one byte < 0x80) or long form (0x8N and N
    bytes, big-endian). Indefinite length (0x80) is not allowed in KLV."""
    if pos >= len(buf):
        raise KlvError("klv truncated length")
    first = buf[pos]
    if first < 0x80:
        return first, pos + 1
    count = first & 0x7F
    if count == 0 or count > 4:
        raise KlvError("klv bad BER length")
    if pos + 1 + count > len(buf):
        raise KlvError("klv truncated length")
    return int.from_bytes(buf[pos + 1 : pos + 1 + count], "big"), pos + 1 + count


def ber_oid(buf: bytes, pos: int) -> tuple[int, int]:
    """(tag, position after it): 7 bits a byte, high bit set on every byte but the last."""
    tag = 0
    for i in range(pos, min(pos + 4, len(buf))):
        tag = (tag << 7) | (buf[i] & 0x7F)
        if buf[i] < 0x80:
            return tag, i + 1
    raise KlvError("klv bad tag")


def _unsigned(size: int, low: float, high: float) -> Callable[[bytes], float | None]:
    """An unsigned integer mapped linearly onto low..high (its full range is the span)."""
    scale = (high - low) / ((1 << (8 * size)) - 1)
    return lambda raw: int.from_bytes(raw, "big") * scale + low


def _signed(size: int, span: float) -> Callable[[bytes], float | None]:
    """A signed integer mapped onto +/-span/2 over +/-(2^(n-1)-1); the most negative value
    is the standard's "out of range / error" marker: absent."""
    error = -(1 << (8 * size - 1))
    scale = span / ((1 << (8 * size)) - 2)

    def decode(raw: bytes) -> float | None:
        value = int.from_bytes(raw, "big", signed=True)
        return None if value == error else value * scale

    return decode


def _integer(raw: bytes) -> float | None:
    return int.from_bytes(raw, "big")


# tag: (name, size in bytes, decoder). ST 0601's mappings for the tags the relay uses; other
# tags are skipped by their length. Names are ST 0601's, in snake case.
TAGS: dict[int, tuple[str, int, Callable[[bytes], float | None]]] = {
    2: ("precision_time_stamp", 8, _integer),  # microseconds since 1970, UTC
    5: ("platform_heading", 2, _unsigned(2, 0.0, 360.0)),
    6: ("platform_pitch", 2, _signed(2, 40.0)),
    7: ("platform_roll", 2, _signed(2, 100.0)),
    13: ("sensor_latitude", 4, _signed(4, 180.0)),
    14: ("sensor_longitude", 4, _signed(4, 360.0)),
    15: ("sensor_true_altitude", 2, _unsigned(2, -900.0, 19_000.0)),  # m above MSL
    16: ("sensor_hfov", 2, _unsigned(2, 0.0, 180.0)),
    17: ("sensor_vfov", 2, _unsigned(2, 0.0, 180.0)),
    18: ("sensor_relative_azimuth", 4, _unsigned(4, 0.0, 360.0)),
    19: ("sensor_relative_elevation", 4, _signed(4, 360.0)),
    23: ("frame_center_latitude", 4, _signed(4, 180.0)),
    24: ("frame_center_longitude", 4, _signed(4, 360.0)),
    25: ("frame_center_elevation", 2, _unsigned(2, -900.0, 19_000.0)),
    56: ("platform_ground_speed", 1, _unsigned(1, 0.0, 255.0)),  # m/s
    65: ("version", 1, _integer),
}


def parse_local_set(packet: bytes) -> dict[str, float]:
    """The values of one whole packet (key, length, items), by name; checksum verified.
    Raises KlvError with the cause."""
    if not packet.startswith(UAS_LS_KEY):
        raise KlvError("klv not a UAS local set")
    length, start = ber_length(packet, len(UAS_LS_KEY))
    end = start + length
    if end != len(packet):
        raise KlvError("klv length mismatch")
    values: dict[str, float] = {}
    seen_checksum = False
    pos = start
    while pos < end:
        tag, at = ber_oid(packet, pos)
        size, at = ber_length(packet, at)
        if at + size > end:
            raise KlvError("klv item overruns packet")
        raw = packet[at : at + size]
        if tag == CHECKSUM_TAG:
            # The last item by the standard; the sum covers everything before its value.
            if size != 2 or at + size != end:
                raise KlvError("klv checksum item malformed")
            if checksum(packet[:at]) != int.from_bytes(raw, "big"):
                raise KlvError("klv checksum mismatch")
            seen_checksum = True
        elif tag in TAGS:
            name, want, decode = TAGS[tag]
            if size != want:
                raise KlvError(f"klv tag {tag} has length {size}, want {want}")
            value = decode(raw)
            if value is not None:
                values[name] = value
        pos = at + size
    if not seen_checksum:
        raise KlvError("klv checksum missing")
    return values


def to_telemetry(values: Mapping[str, float], received: float) -> Telemetry:
    """The normalised sample; its time is the packet's own (tag 2) or `received`. Raises
    msgspec.ValidationError when a value is outside the model's ranges."""
    stamp = values.get("precision_time_stamp")
    raw: dict[str, Any] = {"time": stamp / 1e6 if stamp is not None else received}
    raw["source"] = "klv"
    pairs = (
        ("lat", "sensor_latitude"),
        ("lon", "sensor_longitude"),
        ("alt_msl_m", "sensor_true_altitude"),
        ("ground_speed_mps", "platform_ground_speed"),
        # Relative to the platform, as a stabilised gimbal reports its own angles.
        ("gimbal_pitch_deg", "sensor_relative_elevation"),
        ("gimbal_yaw_deg", "sensor_relative_azimuth"),
        ("target_lat", "frame_center_latitude"),
        ("target_lon", "frame_center_longitude"),
    )
    for out, name in pairs:
        if name in values:
            raw[out] = values[name]
    if "platform_heading" in values:
        raw["heading_deg"] = values["platform_heading"] % 360.0  # 65535 maps to 360.0
    if values.get("sensor_hfov", 0.0) > 0.0:  # 0 is a camera that does not know it
        raw["hfov_deg"] = values["sensor_hfov"]
    return msgspec.convert(raw, Telemetry)


def split_packets(payload: bytes) -> Iterator[bytes | KlvError]:
    """The UAS local sets in one data packet of the TS: there may be several, and bytes
    before a key (a metadata access unit's header, another standard's set) are skipped."""
    pos = payload.find(UAS_LS_KEY)
    while pos >= 0:
        try:
            length, start = ber_length(payload, pos + len(UAS_LS_KEY))
        except KlvError as exc:
            yield exc
            return
        end = start + length
        if length > MAX_PACKET or end > len(payload):
            yield KlvError("klv packet truncated")
            return
        yield payload[pos:end]
        pos = payload.find(UAS_LS_KEY, end)


def decode_payload(payload: bytes, received: float) -> tuple[list[Telemetry], list[str]]:
    """(samples, causes) for one data packet of the TS; never raises."""
    samples: list[Telemetry] = []
    causes: list[str] = []
    for item in split_packets(payload):
        if isinstance(item, KlvError):
            causes.append(str(item))
            continue
        try:
            samples.append(to_telemetry(parse_local_set(item), received))
        except KlvError as exc:
            causes.append(str(exc))
        except msgspec.ValidationError:
            causes.append("klv value out of range")
    if not samples and not causes:
        causes.append("klv no UAS local set in data packet")
    return samples, causes
