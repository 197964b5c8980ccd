"""H.264 Annex B helpers: split NAL units, drop vendor SEI, keep SPS/PPS before every IDR.

Drones send quirky bitstreams (FIELD-NOTES): DJI adds a user-data SEI that stalls browser
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


def _is_vendor_sei(nal: bytes) -> bool:
    # Only the first SEI message's type is checked: DJI sends one message per NAL.
    return len(nal) > 1 and nal_type(nal) == NAL_SEI and nal[1] == SEI_USER_DATA_UNREGISTERED


class AnnexBRepair:
    """Per-stream repair of access units: drops vendor SEI, puts SPS/PPS before each IDR."""

    def __init__(self) -> None:
        self.sps: bytes | None = None
        self.pps: bytes | None = None
        self.dropped_sei = 0

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
        vendor_sei = any(t == NAL_SEI and _is_vendor_sei(n) for n, t in zip(nals, types,
                                                                           strict=True))
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
