"""H.264 Annex B helpers: split NAL units, drop vendor SEI, keep SPS/PPS before every IDR.

Drones send quirky bitstreams (docs/measured-facts.md): DJI adds a user-data SEI that stalls browser
decoders, and not every IDR carries its parameter sets. Browsers need both repaired before a
passthrough packet reaches them; the decoder of the transcoder likes them too.
"""

from __future__ import annotations

from collections.abc import Iterator

NAL_SLICE = 1
NAL_IDR = 5
NAL_SEI = 6
NAL_SPS = 7
NAL_PPS = 8
NAL_AUD = 9
SEI_USER_DATA_UNREGISTERED = 5


def split_nal_units(data: bytes) -> Iterator[bytes]:
    """Yields each NAL unit of an Annex B buffer without its start code."""
    start = data.find(b"\x00\x00\x01")
    while start != -1:
        begin = start + 3
        end = data.find(b"\x00\x00\x01", begin)
        if end == -1:
            nal = data[begin:]
        else:
            # A 4-byte start code leaves a trailing zero on the previous unit.
            nal = data[begin : end - 1] if data[end - 1] == 0 else data[begin:end]
        if nal:
            yield nal
        start = end


def nal_type(nal: bytes) -> int:
    return nal[0] & 0x1F


def nal_header_offsets(data: bytes) -> Iterator[int]:
    """The offset of each NAL unit's header byte in an Annex B buffer, without copying the
    units (the checks below run on every picture a source hands on)."""
    start = data.find(b"\x00\x00\x01")
    while start != -1:
        if start + 3 < len(data):
            yield start + 3
        start = data.find(b"\x00\x00\x01", start + 3)


def has_slice(unit: bytes) -> bool:
    """True when an Annex B access unit holds a coded slice (NAL types 1-5): a picture."""
    return any(1 <= unit[at] & 0x1F <= 5 for at in nal_header_offsets(unit))


def picture_starts(unit: bytes) -> int:
    """How many coded pictures begin in an Annex B buffer: slices whose first_mb_in_slice is
    0 (its ue(v) code is the single bit 1, the first bit after the NAL header). One for a
    whole picture, none for a continuation, two for two pictures (or a frame's two fields)."""
    return sum(
        1
        for at in nal_header_offsets(unit)
        # Types 1 and 5, and 2 (data partition A; B and C begin with slice_id instead).
        if unit[at] & 0x1F in (1, 2, 5) and at + 1 < len(unit) and unit[at + 1] & 0x80
    )


def first_sps(unit: bytes) -> bytes | None:
    """The first SPS NAL unit of an Annex B access unit, or None."""
    return next((n for n in split_nal_units(unit) if nal_type(n) == NAL_SPS), None)


def profile_level_id(unit: bytes) -> str | None:
    """The SDP profile-level-id ("640c1f": profile_idc, constraint flags, level_idc) of the
    first SPS in an Annex B access unit, or None when it carries none."""
    for nal in split_nal_units(unit):
        if nal_type(nal) == NAL_SPS and len(nal) >= 4:
            return nal[1:4].hex()
    return None


def _is_vendor_sei(nal: bytes) -> bool:
    # Only the first SEI message's type is checked: DJI sends one message per NAL.
    return len(nal) > 1 and nal_type(nal) == NAL_SEI and nal[1] == SEI_USER_DATA_UNREGISTERED


def parameter_sets(extradata: bytes | None) -> list[bytes]:
    """SPS/PPS NAL units from a stream's extradata, Annex B or avcC (MP4/FLV) form."""
    if not extradata:
        return []
    if extradata[0] != 1:  # Annex B (RTSP's sprop-parameter-sets, MPEG-TS)
        return [n for n in split_nal_units(extradata) if nal_type(n) in (NAL_SPS, NAL_PPS)]
    units: list[bytes] = []
    pos = 5
    try:
        for count_mask in (0x1F, 0xFF):  # SPS count (5 bits), then PPS count (8 bits)
            count = extradata[pos] & count_mask
            pos += 1
            for _ in range(count):
                size = int.from_bytes(extradata[pos : pos + 2], "big")
                if pos + 2 + size > len(extradata):
                    return units  # truncated avcC: keep what was complete
                units.append(extradata[pos + 2 : pos + 2 + size])
                pos += 2 + size
    except IndexError:
        pass  # truncated avcC: keep what was complete
    return [u for u in units if u]


class AnnexBRepair:
    """Per-stream repair of access units: drops vendor SEI, puts SPS/PPS before each IDR."""

    def __init__(self) -> None:
        self.sps: bytes | None = None
        self.pps: bytes | None = None
        self.dropped_sei = 0

    def seed(self, extradata: bytes | None) -> None:
        """Learns SPS/PPS from the container (RTSP sends them in the SDP only)."""
        for nal in parameter_sets(extradata):
            if nal_type(nal) == NAL_SPS:
                self.sps = nal
            else:
                self.pps = nal

    def repair(self, data: bytes) -> tuple[bytes, bool]:
        """Returns the repaired access unit and whether it holds an IDR."""
        nals = list(split_nal_units(data))
        types = [nal_type(n) for n in nals]
        for nal, t in zip(nals, types, strict=True):
            if t == NAL_SPS:
                self.sps = nal
            elif t == NAL_PPS:
                self.pps = nal
        keyframe = NAL_IDR in types
        vendor_sei = any(
            t == NAL_SEI and _is_vendor_sei(n) for n, t in zip(nals, types, strict=True)
        )
        needs_params = keyframe and (NAL_SPS not in types or NAL_PPS not in types)
        if not vendor_sei and not needs_params:
            return data, keyframe
        out: list[bytes] = []
        if needs_params and self.sps and self.pps:
            out += [self.sps, self.pps]
        for nal, t in zip(nals, types, strict=True):
            if t == NAL_SEI and _is_vendor_sei(nal):
                self.dropped_sei += 1
                continue
            if needs_params and t in (NAL_SPS, NAL_PPS):
                continue  # re-added in front, in the right order
            out.append(nal)
        return b"".join(b"\x00\x00\x00\x01" + n for n in out), keyframe
