"""MISB ST 0601 parsing: the standard's own example values and checksum, the encoder's round
trip, and every kind of bad packet ending as a cause, never as an exception."""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime

import pytest

from relay.telemetry.klv import (
    ber_length,
    ber_oid,
    checksum,
    decode_payload,
    parse_local_set,
)
from scripts.klv_make import KEY, ber, circle, make_packet, st0601_sum

# The standard's example items (ST 0601, "conversions and mappings"): raw bytes -> value.
EXAMPLES = {
    "platform_heading": ("0502 71C2", 159.9744, 1e-4),
    "platform_pitch": ("0602 FD3D", -0.4315, 1e-4),
    "platform_roll": ("0702 08B8", 3.405814, 1e-3),
    "sensor_latitude": ("0D04 5595B66D", 60.1768229669783, 1e-9),
    "sensor_longitude": ("0E04 5B5360C4", 128.426759042045, 1e-9),
    "sensor_true_altitude": ("0F02 C221", 14190.72, 0.2),
    "sensor_hfov": ("1002 CD9C", 144.5713, 1e-3),
    "sensor_vfov": ("1102 D917", 152.6436, 1e-3),
    "sensor_relative_azimuth": ("1204 724A0A20", 160.719211474396, 1e-7),
    "sensor_relative_elevation": ("1304 87F84B86", -168.792324833941, 1e-7),
    "frame_center_latitude": ("1704 F101A229", -10.5423886331461, 1e-9),
    "frame_center_longitude": ("1804 14BC082B", 29.157890122923, 1e-9),
    "frame_center_elevation": ("1902 34F3", 3216.037, 0.2),
}


def _wrap(items: bytes) -> bytes:
    """A packet around raw items, with its checksum item."""
    head = KEY + ber(len(items) + 4) + items + b"\x01\x02"
    return head + st0601_sum(head).to_bytes(2, "big")


def test_checksum_is_the_standards_running_sum() -> None:
    # ST 0601's own example: 060E 2B34 0200 81BB sums to B4FD.
    assert checksum(bytes.fromhex("060E2B34020081BB")) == 0xB4FD
    assert checksum(bytes.fromhex("060E2B34020081")) == (0xB4FD - 0xBB) & 0xFFFF  # odd length
    data = os.urandom(301)
    assert checksum(data) == st0601_sum(data)  # the reference loop, byte by byte


def test_the_standards_example_values() -> None:
    stamp = "0208 000459F4A6AA4AA8"  # 2008-10-24 00:13:29.913 UTC
    items = bytes.fromhex(stamp + "".join(raw for raw, _, _ in EXAMPLES.values()) + "4101 11")
    values = parse_local_set(_wrap(items))
    for name, (_, want, tolerance) in EXAMPLES.items():
        assert values[name] == pytest.approx(want, abs=tolerance), name
    when = datetime.fromtimestamp(values["precision_time_stamp"] / 1e6, UTC)
    assert when == datetime(2008, 10, 24, 0, 13, 29, 913000, UTC)
    assert values["version"] == 17


def test_encoder_round_trip_to_telemetry() -> None:
    values = circle(12.5)
    samples, causes = decode_payload(make_packet(values, time_us=1_764_500_000_123_456), 0.0)
    assert causes == []
    (sample,) = samples
    assert sample.source == "klv"
    assert sample.time == pytest.approx(1_764_500_000.123456)
    assert sample.lat == pytest.approx(values[13], abs=1e-7)
    assert sample.lon == pytest.approx(values[14], abs=1e-7)
    assert sample.alt_msl_m == pytest.approx(120.0, abs=0.2)
    assert sample.heading_deg == pytest.approx(values[5], abs=0.01)
    assert sample.hfov_deg == pytest.approx(62.0, abs=0.01)
    assert sample.gimbal_pitch_deg == pytest.approx(-45.0, abs=1e-6)
    assert sample.gimbal_yaw_deg == pytest.approx(90.0, abs=1e-6)
    assert sample.ground_speed_mps == pytest.approx(21.0)
    assert sample.target_lat == pytest.approx(48.137, abs=1e-7)
    assert sample.target_lon == pytest.approx(11.575, abs=1e-7)


def test_error_marker_is_absent_not_zero_and_time_defaults_to_arrival() -> None:
    packet = make_packet({13: None, 14: 11.5, 19: None, 16: 0.0})
    (sample,), causes = decode_payload(packet, 1_764_500_000.0)
    assert causes == []
    assert sample.lat is None and sample.gimbal_pitch_deg is None
    assert sample.hfov_deg is None  # 0: the camera does not know it
    assert sample.lon == pytest.approx(11.5, abs=1e-7)
    assert sample.time == 1_764_500_000.0


def test_ber_forms_and_long_packets() -> None:
    assert ber_length(b"\x7f", 0) == (127, 1)
    assert ber_length(b"\x81\x80", 0) == (128, 2)
    assert ber_length(b"\x82\x01\x00", 0) == (256, 3)
    assert ber_oid(b"\x81\x48", 0) == (200, 2)  # a two-byte tag
    mission = b"\x03\x81\xc8" + b"M" * 200  # tag 3, a 200-byte mission id: long-form length
    unknown = b"\x81\x48\x01\x00"  # tag 200, unknown here: skipped
    for long_length in (False, True):
        packet = make_packet({13: 47.0}, extra=mission + unknown, long_length=long_length)
        assert packet[16] == 0x81  # the set's own length in long form
        (sample,), causes = decode_payload(packet, 1_764_500_000.0)
        assert causes == [] and sample.lat == pytest.approx(47.0, abs=1e-7)


def test_several_packets_and_a_header_before_the_key() -> None:
    first = make_packet({13: 10.0})
    second = make_packet({13: 20.0})
    header = bytes.fromhex("0001DF0000")  # a metadata access unit's 5-byte cell header
    samples, causes = decode_payload(header + first + second, 1_764_500_000.0)
    assert causes == []
    assert [round(s.lat or 0, 5) for s in samples] == [10.0, 20.0]


BAD = [
    (make_packet({13: 10.0}, bad_checksum=True), "klv checksum mismatch"),
    (make_packet({13: 10.0})[:-1], "klv packet truncated"),
    (make_packet({13: 10.0}, time_us=0), "klv value out of range"),
    (KEY + b"\x06" + bytes.fromhex("0D04000000004101"), "klv checksum missing"),
    (KEY + b"\x04" + bytes.fromhex("0D02 0000"), "klv tag 13 has length 2, want 4"),
    (KEY + b"\x80", "klv bad BER length"),
    (KEY + b"\x03" + bytes.fromhex("0D0500"), "klv item overruns packet"),
    (b"\x00" * 40, "klv no UAS local set in data packet"),
]


@pytest.mark.parametrize(("payload", "cause"), BAD, ids=[cause for _, cause in BAD])
def test_bad_packets_become_causes(payload: bytes, cause: str) -> None:
    samples, causes = decode_payload(payload, 1_764_500_000.0)
    assert samples == [] and causes == [cause]


def test_a_flipped_bit_anywhere_is_caught() -> None:
    packet = bytearray(make_packet(circle(3.0), time_us=1_764_500_000_000_000))
    for index in range(17, len(packet)):  # after key and length: values and tags
        corrupt = bytearray(packet)
        corrupt[index] ^= 0x04
        samples, causes = decode_payload(bytes(corrupt), 1_764_500_000.0)
        assert samples == [] and causes, index


def test_fuzzed_payloads_never_raise() -> None:
    packet = make_packet(circle(7.0), time_us=1_764_500_000_000_000)
    rng = random.Random(14)
    for _ in range(2000):
        data = bytearray(packet[: rng.randrange(len(packet) + 1)])
        for _ in range(rng.randrange(4)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
        decode_payload(bytes(data), 1_764_500_000.0)
