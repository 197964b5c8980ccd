"""One rung of the ladder: scale the processed frame and encode it, in a thread of its own.

One RungEncoder per rendition, never per viewer (docs/architecture.md, rule 1). Its input
queue holds at most a couple of frames: when encoding falls behind, the oldest frame is
dropped and counted (rule 4: latest beats complete).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from fractions import Fraction

import av
from av.video.reformatter import VideoReformatter

from relay.config import Rung
from relay.media.access_unit import CLOCK_RATE, TIME_BASE
from relay.media.packet import EncodedPacket, encoded_packet
from relay.metrics import Histogram
from relay.queues import put_dropping_oldest
from relay.supervise import WorkerThread
from relay.threads import codec_nice
from relay.transcode.processors.osd import OsdProcessor, Processor, private_copy
from relay.transcode.processors.privacy import PrivacyStage

log = logging.getLogger(__name__)

# Keyframes every 4 s, not every second: joins, PLIs and losses force theirs at once, and
# each periodic one is a burst a weak link queues for a few hundred milliseconds.
KEYFRAME_INTERVAL_S = 4
# The VBV buffer in seconds of the rung's rate: it caps a keyframe at about this much
# (720p: 50 kB, not 125 kB). Chromium's jitter buffer holds every frame back by what the
# largest frames take to arrive, so big keyframes cost all frames delay (bench_lte's clean
# link, median of two 18 s runs each: p95 270 ms at 0.5 s, 192 ms at 0.2 s).
VBV_S = 0.2
# Where the rungs' x264 departs from veryfast, each measured on the 1080p sim clip scaled down
# to the rungs and encoded at their rates (docs/tight-path.md). On a box for three drones the
# encoders are most of the relay's CPU.
# - subme=1: one quarter-pixel refinement step, not two: a quarter to a third less CPU a frame
#   for 0.16 dB of luma PSNR at 720p and 0.04 dB at 360p; subme 0 (whole pixels) 1.8-2.6 dB.
# - me=dia: the small diamond motion search, not the hexagon: 8-9 % fewer x264 instructions
#   a frame (counted under valgrind: timing on a shared box cannot see it) for 0.05 dB; at
#   three times the sim's pace 0.07-0.11 dB, and no saving two timed runs could show.
CHEAPER_THAN_VERYFAST = ("subme=1", "me=dia")
ENCODERS_CREATED = 0  # process-wide: tests assert "one encoder per rung, not per viewer"
PAUSE = "pause"  # queued by pause(): the encoder thread lets its x264 go
# A frame queued for the encoder thread: (frame, arrival_ns, generation, live, still_s).
Submitted = tuple[av.VideoFrame, int, int, bool, float | None]


def always() -> bool:
    return True


def make_rung_encoder(width: int, height: int, fps: int, bitrate: int) -> av.VideoCodecContext:
    """x264 for browsers: Constrained Baseline (every WebRTC peer plays it), no B-frames,
    zero-latency tuning, a 4 s GOP, SPS/PPS before every IDR and a small VBV for LTE links."""
    global ENCODERS_CREATED
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
    enc.time_base = TIME_BASE
    enc.framerate = Fraction(fps, 1)
    enc.bit_rate = bitrate
    keyint = fps * KEYFRAME_INTERVAL_S
    enc.gop_size = keyint
    enc.max_b_frames = 0
    enc.options = {
        # x264's "baseline" is Constrained Baseline (constraint_set1): what aiortc offers
        # (42e01f) and every browser decodes in hardware or software.
        "profile": "baseline",
        "preset": "veryfast",
        "tune": "zerolatency",
        "forced-idr": "1",
        "x264-params": (
            f"keyint={keyint}:min-keyint={keyint}:scenecut=0:repeat-headers=1"
            f":vbv-maxrate={bitrate // 1000}:vbv-bufsize={int(bitrate * VBV_S) // 1000}"
            f":nal-hrd=none:aud=0:{':'.join(CHEAPER_THAN_VERYFAST)}"
        ),
    }
    # Small rungs encode fast on one thread; slices (zerolatency threads) cost them quality.
    enc.thread_count = 2 if height > 480 else 1
    ENCODERS_CREATED += 1
    return enc


# Frames waiting for this rung's encoder; more are dropped, oldest first (a slow encoder
# must not build up delay). Three: a B-frame drone's pictures leave the decoder in groups,
# the P-frame and the two B-frames shown before it at once (relay.transcode.prompt_decoder),
# and with two the group's first was dropped whenever the encoder thread had not yet
# taken it (a third of alpha's pictures in bench_fleet, 3 December).
QUEUE_FRAMES = 3


class RungEncoder:
    """Scales and encodes frames for one rung; hands packets to `publish` (any thread)."""

    def __init__(
        self,
        stream: str,
        rung: Rung,
        fps: int,
        publish: Callable[[EncodedPacket], None],
        want_keyframe: Callable[[], bool],
        lossless: bool = False,
        wanted: Callable[[], bool] = always,
    ) -> None:
        self.stream, self.rung = stream, rung
        # A rung may cap the frame rate (240p: 15 fps for the edge of a cell); the frames
        # between are skipped here, before scaling, and counted as `skipped`, not dropped.
        self.fps = min(fps, rung.fps) if rung.fps else fps
        self._interval = CLOCK_RATE / self.fps if self.fps < fps else 0.0
        self._next_pts: float | None = None
        self.skipped = 0
        self.lossless = lossless  # benchmarks: wait for room instead of dropping
        self.publish = publish
        self.want_keyframe = want_keyframe
        # Whether anybody consumes this rung (lazy rungs): the transcoder asks before each
        # frame, submits only to rungs that are wanted and pauses the others.
        self.wanted = wanted
        self.running = False  # frames are being submitted (written by the transcoder)
        self.starts = 0
        self._generation = 0  # bumped by pause(): a frame of a new run gets a fresh x264
        self._encoded_generation = 0
        self.frames_in = 0
        self.frames_out = 0
        self.dropped = 0
        self.forced_keyframes = 0
        # Set when a cold start's still is encoded: the catch-up waits for it (cold_start).
        self.still_encoded = threading.Event()
        self.size: tuple[int, int] | None = None
        self.scale_ms = Histogram()
        self.encode_ms = Histogram()
        self.latency_ms = Histogram()
        self.overlay_ms = Histogram()
        # The OSD, drawn on this rung's own scaled picture: sized for it, and the shared
        # decoded picture is never written (no 1080p copy per frame).
        self.overlay = OsdProcessor(stream)
        # This rung's own processors before the OSD, on its scaled picture (a thermal rung
        # in a palette of its own); the shared ones ran once, in the transcoder.
        self.processors: list[Processor] = []
        # Masks and face anonymisation, on this rung's picture only (docs/privacy.md): after
        # its palette (the masks cover the coloured picture), before the OSD, which stays
        # readable.
        self.privacy = PrivacyStage(stream, rung.name, rung.privacy) if rung.privacy else None
        self.privacy_ms = Histogram()
        # (frame, arrival, generation, live, still_s) or PAUSE
        self._queue: queue.Queue[Submitted | str | None] = queue.Queue(QUEUE_FRAMES)
        # Supervised: a crash restarts the loop with a new x264 (its first frame is an IDR).
        self.worker = WorkerThread(
            stream,
            f"encoder-{rung.name}",
            f"enc-{rung.name}-{stream}",
            self._run,
            self._reset,
            nice=codec_nice(),
        )
        self._encoder: av.VideoCodecContext | None = None
        self._scaler = VideoReformatter()
        self._started = False

    def start(self) -> None:
        self._started = True
        self.worker.start()

    def submit(
        self, frame: av.VideoFrame, arrival_ns: int, live: bool = True, still_s: float | None = None
    ) -> None:
        """Queues a processed frame (pts on the 90 kHz output clock; never written here);
        drops the oldest if full. `live` False: the slate; `still_s`: a cold start's still,
        that old (the OSD says so). The first frame after a pause starts a fresh x264, so it
        is encoded as an IDR."""
        if not self.running:
            self.running = True
            self.starts += 1
            self._next_pts = None
        self.frames_in += 1
        if self._interval and not self._due(frame.pts):
            self.skipped += 1
            return
        item = (frame, arrival_ns, self._generation, live, still_s)
        if self.lossless:
            self._queue.put(item)
            return
        self.dropped += put_dropping_oldest(self._queue, item)

    def pause(self) -> None:
        """Nobody consumes the rung: no more frames until the next submit(); the encoder
        thread lets its x264 go (memory, and a new run must begin with an IDR)."""
        if not self.running:
            return
        self.running = False
        self._generation += 1
        put_dropping_oldest(self._queue, PAUSE)  # a frame it displaces was not wanted

    def _due(self, pts: int | None) -> bool:
        """Whether the frame at `pts` keeps the rung's frame rate: frames leave on a fixed
        schedule, so a source's jitter neither doubles nor starves the output."""
        if pts is None:
            return True
        slot = self._next_pts
        if slot is None or not -2 * self._interval <= pts - slot <= self._interval:
            slot = float(pts)  # the first frame, or a jump (a restart, the slate)
        elif pts - slot < -self._interval / 4:  # a little early for its slot still takes it
            return False
        self._next_pts = slot + self._interval
        return True

    def close(self) -> None:
        """Stops the thread after the frame in hand; safe to call twice."""
        if not self._started:
            return
        self._started = False
        self.worker.stop()
        put_dropping_oldest(self._queue, None)
        self.worker.join(timeout=2.0)
        if self.privacy is not None:
            self.privacy.close()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                # Closed: x264's threads end with its context, not when the garbage
                # collector finds this encoder.
                self._encoder = None
                return
            if isinstance(item, str):  # PAUSE
                self._encoder = None
                continue
            frame, arrival_ns, generation, live, still_s = item
            if generation != self._encoded_generation:
                self._encoded_generation = generation
                self._encoder = None  # paused since the last frame: a new run, a new IDR
            self._encode(frame, arrival_ns, live, still_s)

    def _reset(self) -> None:
        """After a crash: the encoder may be in any state; the next frame opens a new one."""
        self._encoder = None
        self._scaler = VideoReformatter()

    def _encoder_for(self, frame: av.VideoFrame) -> av.VideoCodecContext:
        size = self.rung.size_for(frame.width, frame.height)
        if self._encoder is None or size != self.size:
            # A source that changes resolution (another drone, another camera) gets a new
            # encoder; the new SPS reaches viewers with the next IDR, which this forces.
            self.size = size
            self._encoder = make_rung_encoder(*size, self.fps, self.rung.bitrate)
            log.info(
                "[stream %s] encoder %s: %dx%d at %d kbit/s",
                self.stream,
                self.rung.name,
                size[0],
                size[1],
                self.rung.bitrate // 1000,
            )
        return self._encoder

    def _encode(
        self, frame: av.VideoFrame, arrival_ns: int, live: bool, still_s: float | None = None
    ) -> None:
        encoder = self._encoder_for(frame)
        width, height = encoder.width, encoder.height
        t0 = time.perf_counter()
        if (frame.width, frame.height) != (width, height):
            # Our own reformatter: frame.reformat() caches one scaler on the frame, and the
            # rungs scale the same frame at once in their threads: sharing it crashed (SIGSEGV).
            out = self._scaler.reformat(
                frame, width=width, height=height, format="yuv420p", interpolation="AREA"
            )
            out.pts, out.time_base = frame.pts, frame.time_base
        else:
            out = private_copy(frame)  # the rung's size is the source's: draw on a copy
        t1 = time.perf_counter()
        for processor in self.processors:
            processor.process(out, live)
        if self.privacy is not None:
            t_privacy = time.perf_counter()
            self.privacy.process(out, live)
            self.privacy_ms.observe((time.perf_counter() - t_privacy) * 1000)
        t_osd = time.perf_counter()
        self.overlay.process(out, live, still_s)
        t2 = time.perf_counter()
        if self.want_keyframe():
            out.pict_type = av.video.frame.PictureType.I
            self.forced_keyframes += 1
        else:
            out.pict_type = av.video.frame.PictureType.NONE
        packets = encoder.encode(out)
        t3 = time.perf_counter()
        still = still_s is not None
        for packet in packets:
            self.frames_out += 1
            self.publish(
                encoded_packet(
                    bytes(packet), packet.pts or 0, packet.is_keyframe, arrival_ns, still
                )
            )
        self.scale_ms.observe((t1 - t0) * 1000)
        self.overlay_ms.observe((t2 - t_osd) * 1000)
        self.encode_ms.observe((t3 - t2) * 1000)
        if packets:
            self.latency_ms.observe((time.monotonic_ns() - arrival_ns) / 1e6)
        if still:
            self.still_encoded.set()
