"""The prompt decoder (relay.transcode.prompt_decoder) on real x264 clips: every picture
comes out, bit-exact to FFmpeg's own output, as soon as every picture before it in display
order has been fed, where FFmpeg alone holds it back for its reorder depth."""

from __future__ import annotations

import dataclasses
import hashlib

import av
import pytest

from relay.media.access_unit import TIME_BASE, AccessUnit
from relay.media.bits import BitReader, BitWriter, unescape
from relay.media.h264 import NAL_PPS, nal_type, split_nal_units
from relay.media.skip_picture import START_CODE
from relay.transcode.prompt_decoder import PromptDecoder
from tests.media_gen import access_units, make_clip


def digest(frame: av.VideoFrame) -> str:
    return hashlib.sha256(b"".join(bytes(plane) for plane in frame.planes)).hexdigest()


def decode(
    units: list[AccessUnit], prompt: bool
) -> tuple[PromptDecoder, dict[int, int], dict[int, str]]:
    """Per picture (pts): the index of the unit whose feeding let it out, and its digest."""
    decoder = PromptDecoder(TIME_BASE)
    out_after: dict[int, int] = {}
    pictures: dict[int, str] = {}
    for index, unit in enumerate(units):
        for frame in decoder.decode(unit.data, unit.pts, prompt):
            assert frame.pts is not None and frame.pts not in pictures, "twice, or no pts"
            out_after[frame.pts] = index
            pictures[frame.pts] = digest(frame)
    return decoder, out_after, pictures


def floor(units: list[AccessUnit]) -> dict[int, int]:
    """The display-order floor: a picture can come out once it and every picture before it
    in display order are in (the index of the last of those units)."""
    arrived = {unit.pts: index for index, unit in enumerate(units)}
    result, latest = {}, 0
    for pts in sorted(arrived):
        latest = result[pts] = max(arrived[pts], latest)
    return result


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[AccessUnit]]:
    folder = tmp_path_factory.mktemp("prompt")
    return {
        # Two B-frames (x264 declares a reorder depth of 2), and a B-pyramid of three.
        "ibbp": access_units(make_clip(folder / "ibbp.mp4", 3.0, (320, 240), gop=30)),
        "pyramid": access_units(
            make_clip(folder / "pyramid.mp4", 3.0, (320, 240), gop=30, bframes=3)
        ),
        "no_b": access_units(
            make_clip(folder / "no_b.mp4", 2.0, (320, 240), gop=30, high_bframes=False)
        ),
    }


@pytest.mark.parametrize("clip", ["ibbp", "pyramid"])
def test_b_frame_pictures_come_out_at_the_display_order_floor(
    clips: dict[str, list[AccessUnit]], clip: str
) -> None:
    units = clips[clip]
    ffmpeg, ffmpeg_after, ffmpeg_pictures = decode(units, prompt=False)
    prompt, prompt_after, prompt_pictures = decode(units, prompt=True)
    assert prompt.prompt and prompt.pictures_lost == 0
    # Every picture, none lost or repeated, in display order, and the same pixels as
    # FFmpeg's (the skip pictures change no reference); FFmpeg holds its last ones back
    # for a flush that a live stream never sends.
    assert list(prompt_pictures) == sorted(unit.pts for unit in units)
    assert {pts: prompt_pictures[pts] for pts in ffmpeg_pictures} == ffmpeg_pictures
    # Each picture out with the unit that completes it in display order, not later.
    assert prompt_after == floor(units)
    # FFmpeg alone is later for most pictures (what the prompt decoder is for).
    later = sum(1 for pts, index in ffmpeg_after.items() if index > floor(units)[pts])
    assert later > len(units) // 2, later
    # About one skip picture per picture; never the cap of four.
    assert 0 < prompt.skip_pictures <= 2 * len(units)


def test_without_b_frames_no_skip_picture_is_fed(clips: dict[str, list[AccessUnit]]) -> None:
    units = clips["no_b"]
    decoder, out_after, pictures = decode(units, prompt=True)
    assert decoder.skip_pictures == 0 and decoder.prompt
    assert out_after == {unit.pts: index for index, unit in enumerate(units)}
    assert pictures == decode(units, prompt=False)[2]


def test_a_decoder_started_at_a_later_idr_is_prompt_from_there(
    clips: dict[str, list[AccessUnit]],
) -> None:
    """A source restart or a cold start begins mid-stream, at an IDR."""
    units = clips["ibbp"]
    second_idr = next(i for i, unit in enumerate(units) if unit.keyframe and i > 0)
    tail = units[second_idr:]
    decoder, out_after, _ = decode(tail, prompt=True)
    assert decoder.pictures_lost == 0
    assert out_after == floor(tail)


def test_a_missing_picture_holds_the_later_ones_until_ffmpeg_lets_them_out(
    clips: dict[str, list[AccessUnit]],
) -> None:
    """A B-frame lost on the link: no skip picture jumps the gap (the pictures after it
    would be taken as out of order), FFmpeg's own rule lets them out, nothing else lost."""
    units = clips["ibbp"]
    b_frames = [i for i, unit in enumerate(units[1:], 1) if unit.pts < units[i - 1].pts]
    gone = b_frames[3]
    rest = units[:gone] + units[gone + 1 :]
    decoder, out_after, pictures = decode(rest, prompt=True)
    assert decoder.pictures_lost == 0 and decoder.prompt
    assert units[gone].pts not in pictures
    assert len(pictures) == len(rest)
    assert list(pictures) == sorted(pictures)


def test_a_broken_slice_header_leaves_ffmpeg_in_charge(
    clips: dict[str, list[AccessUnit]],
) -> None:
    """A slice whose parameter set was never seen: the decoder stops telling and decodes as
    FFmpeg would (the unit itself is FFmpeg's to refuse)."""
    units = clips["ibbp"]
    decoder = PromptDecoder(TIME_BASE)
    for unit in units[:10]:
        decoder.decode(unit.data, unit.pts)
    bogus = b"\x00\x00\x00\x01\x01\x88\x84"  # non-IDR slice naming PPS 2, never sent
    with pytest.raises(av.error.FFmpegError):
        decoder.decode(bogus, units[10].pts)
    assert not decoder.prompt


def _renumbered(nal: bytes, fields_before: int, pps_id: int) -> bytes:
    """A PPS or slice NAL unit naming PPS `pps_id` where it named PPS 0. ue(0) is one bit and
    ue(255) seventeen: what follows moves by two whole bytes, so a CABAC slice's data stays
    byte-aligned and every other bit stays as it was."""
    rbsp = unescape(nal.rstrip(b"\x00"))  # trailing zeros belong to the byte stream
    reader, writer = BitReader(rbsp), BitWriter()
    for _ in range(fields_before):
        writer.ue(reader.ue())
    assert reader.ue() == 0, "the clip names PPS 0"
    assert (2 * (pps_id + 1).bit_length() - 2) % 8 == 0, "the slice data would move off a byte"
    writer.ue(pps_id)
    # The rest up to the stop bit (the lowest bit set), which writer.nal() writes again.
    value, size = int.from_bytes(rbsp, "big"), 8 * len(rbsp)
    stop = size - (value & -value).bit_length()
    rest = stop - reader.pos
    writer.u(rest, value >> (size - stop))
    return writer.nal(nal[0])


def with_pps_id(unit: AccessUnit, pps_id: int) -> AccessUnit:
    """The unit with its PPS and its slices renumbered (first_mb_in_slice and slice_type come
    before a slice's pic_parameter_set_id, a PPS's own id comes first)."""
    fields_before = {NAL_PPS: 0, 1: 2, 5: 2}
    out = []
    for nal in split_nal_units(unit.data):
        kind = nal_type(nal)
        if kind in fields_before:
            nal = _renumbered(nal, fields_before[kind], pps_id)
        out.append(START_CODE + nal)
    return dataclasses.replace(unit, data=b"".join(out))


def test_a_stream_using_the_skip_pictures_pps_id_keeps_its_own_pps(
    clips: dict[str, list[AccessUnit]],
) -> None:
    """The skip pictures bring a PPS of their own, by default id 255. A stream whose PPS is
    255 must not have it replaced by the skip pictures' (CAVLC, other settings): its slices
    would be decoded under the wrong one. The decoder takes another id for its own."""
    units = clips["ibbp"]
    renumbered = [with_pps_id(unit, 255) for unit in units]
    assert renumbered[0].data != units[0].data
    _, _, ffmpeg_pictures = decode(units, prompt=False)
    # The rewrite changes no picture: FFmpeg decodes the renumbered stream bit for bit.
    assert decode(renumbered, prompt=False)[2] == ffmpeg_pictures
    prompt, prompt_after, prompt_pictures = decode(renumbered, prompt=True)
    assert prompt.prompt and prompt.pictures_lost == 0 and prompt.skip_pictures > 0
    assert {pts: prompt_pictures[pts] for pts in ffmpeg_pictures} == ffmpeg_pictures
    assert prompt_after == floor(renumbered)
