#!/usr/bin/env python3
"""What an x264 option costs and buys on the rungs: CPU, instructions, PSNR and SSIM.

    .venv/bin/python scripts/bench_x264_options.py [--variants relay veryfast me=hex ...]
        [--rungs 720p,360p] [--seconds 10] [--pace 1] [--runs 4] [--instructions]

The sim scene's flight, rendered at 1080p30 (--pace 3: three times as fast) and scaled with
area averaging to each rung, is encoded by the rung's own encoder (relay.transcode.encoder),
with its options changed per variant:
- `relay`: exactly what the relay opens;
- `veryfast`: without the relay's departures from the preset (CHEAPER_THAN_VERYFAST);
- anything else, x264-params such as `me=hex` or `aq-mode=0:subme=2`, appended to the
  relay's options (x264 takes the last value given).
CPU is the process's CPU time per frame, the variants interleaved in each of --runs (the
machine is shared: only the medians compare). --instructions also counts the instructions
x264 executes per frame under valgrind (one thread, deterministic to a few per cent, unlike
time on a busy machine): slow, about half a minute per variant and rung. Quality is luma PSNR
and SSIM against the scaled pictures, and the bitrate reached. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import av
import av.logging
import cv2
import numpy as np
import numpy.typing as npt
from av.video.reformatter import VideoReformatter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from relay.config import RUNGS  # noqa: E402
from relay.sources.sim_scene import SimScene  # noqa: E402
from relay.transcode.encoder import CHEAPER_THAN_VERYFAST, make_rung_encoder  # noqa: E402

FPS = 30
Gray = npt.NDArray[np.uint8]


def cpu_now() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def render(seconds: float, pace: float) -> list[av.VideoFrame]:
    scene = SimScene(1920, 1080, FPS)
    frames = []
    for index in range(round(seconds * FPS)):
        # A fixed clock: the labels, and so the pictures, are the same in every run.
        frames.append(scene.render(round(index * pace), unix_ms=index * 1000 // FPS))
    return frames


def scaled(frames: list[av.VideoFrame], rung: str) -> list[av.VideoFrame]:
    width, height = RUNGS[rung].size_for(1920, 1080)
    scaler = VideoReformatter()
    return [
        scaler.reformat(f, width=width, height=height, format="yuv420p", interpolation="AREA")
        for f in frames
    ]


def encoder_for(rung: str, variant: str, threads: int | None = None) -> av.VideoCodecContext:
    width, height = RUNGS[rung].size_for(1920, 1080)
    encoder = make_rung_encoder(width, height, FPS, RUNGS[rung].bitrate)
    options = dict(encoder.options)
    params = options["x264-params"].split(":")
    if variant == "veryfast":
        params = [p for p in params if p not in CHEAPER_THAN_VERYFAST]
    elif variant != "relay":
        params += variant.split(":")
    options["x264-params"] = ":".join(params)
    encoder.options = options
    if threads is not None:
        encoder.thread_count = threads
    return encoder


def refused(rung: str, variant: str) -> str | None:
    """Why x264 refuses `variant`, or None: FFmpeg only logs an unknown option's name and
    opens the encoder anyway, which would measure the relay's options under another name."""
    level = av.logging.get_level()
    av.logging.set_level(av.logging.WARNING)
    try:
        with av.logging.Capture(local=False) as logs:
            encoder_for(rung, variant).open()
    except av.error.FFmpegError as exc:
        return str(exc)
    finally:
        av.logging.set_level(level)
    errors = [message.strip() for _, _, message in logs if "Error parsing option" in message]
    return "; ".join(errors) or None


def encode(encoder: av.VideoCodecContext, frames: list[av.VideoFrame]) -> bytes:
    out = bytearray()
    for index, frame in enumerate(frames):
        frame.pts = index
        for packet in encoder.encode(frame):
            out += bytes(packet)
    for packet in encoder.encode(None):
        out += bytes(packet)
    return bytes(out)


def decoded_luma(data: bytes) -> list[Gray]:
    decoder = av.CodecContext.create("h264", "r")
    frames = []
    for packet in [*decoder.parse(data), *decoder.parse(None)]:  # None: the parser's last
        frames += decoder.decode(packet)
    frames += decoder.decode(None)
    return [luma(f) for f in frames]


# One scaler for every frame's luma: frame.to_ndarray(format="gray") opened and closed one
# (with its threads) per frame. "gray" is full range, as bench_transcode's PSNR reads it, so
# the two benches' figures compare (the Y plane as decoded reads 1.3 dB higher).
_GRAY = VideoReformatter()


def luma(frame: av.VideoFrame) -> Gray:
    return np.asarray(_GRAY.reformat(frame, format="gray").to_ndarray(), np.uint8)


def psnr(a: Gray, b: Gray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * float(np.log10(255 * 255 / max(mse, 1e-9)))


def ssim(a: Gray, b: Gray) -> float:
    """Wang et al.'s SSIM with the usual 11x11 Gaussian window (sigma 1.5)."""
    x, y = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(img: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.asarray(cv2.GaussianBlur(img, (11, 11), 1.5), np.float64)

    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    num = (2 * mx * my + c1) * (2 * cov + c2)
    return float(np.mean(num / ((mx * mx + my * my + c1) * (vx + vy + c2))))


def instructions(raw: Path, rung: str, variant: str, encode_it: bool) -> int:
    """Instructions valgrind counts for this script's --encode-raw (or its setup alone)."""
    cmd = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--encode-raw",
        str(raw),
        "--rungs",
        rung,
        "--variants",
        variant if encode_it else "none",
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stderr
    line = next(line for line in out.splitlines() if "I refs" in line or "I   refs" in line)
    return int(line.split(":")[1].replace(",", "").split()[0])


def encode_raw(raw: Path, rung: str, variant: str) -> None:
    """Under valgrind: the scaled pictures from `raw`, encoded on one thread."""
    frames = [av.VideoFrame.from_ndarray(a, format="yuv420p") for a in np.load(raw)]
    if variant != "none":
        encode(encoder_for(rung, variant, threads=1), frames)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    source = render(args.seconds, args.pace)
    result: dict[str, Any] = {
        "seconds": args.seconds,
        "pace": args.pace,
        "runs": args.runs,
        "relay_departures": list(CHEAPER_THAN_VERYFAST),
        "rungs": {},
    }
    for rung in args.rungs:
        pictures = scaled(source, rung)
        refs = [luma(f) for f in pictures]
        cpu: dict[str, list[float]] = {v: [] for v in args.variants}
        rung_result: dict[str, dict[str, Any]] = {}
        for _ in range(args.runs):
            for variant in args.variants:
                encoder = encoder_for(rung, variant)
                t0 = cpu_now()
                data = encode(encoder, pictures)
                cpu[variant].append((cpu_now() - t0) / len(pictures) * 1000)
                if variant not in rung_result:
                    decoded = decoded_luma(data)
                    rung_result[variant] = {
                        "psnr_y_db": round(
                            statistics.mean(psnr(a, b) for a, b in zip(decoded, refs, strict=True)),
                            3,
                        ),
                        # Every fifth picture: SSIM's blurs cost more than the encode.
                        "ssim_y": round(
                            statistics.mean(
                                ssim(a, b) for a, b in zip(decoded[::5], refs[::5], strict=True)
                            ),
                            4,
                        ),
                        "kbit_s": round(len(data) * 8 / args.seconds / 1000),
                    }
        for variant in args.variants:
            rung_result[variant]["cpu_ms_per_frame"] = round(statistics.median(cpu[variant]), 2)
            rung_result[variant]["cpu_ms_runs"] = [round(t, 2) for t in cpu[variant]]
        if args.instructions:
            with tempfile.TemporaryDirectory(prefix="bench-x264-") as tmp:
                raw = Path(tmp) / "pictures.npy"
                np.save(raw, np.stack([f.to_ndarray() for f in pictures]))
                setup = instructions(raw, rung, "none", encode_it=False)
                for variant in args.variants:
                    total = instructions(raw, rung, variant, encode_it=True)
                    rung_result[variant]["instructions_per_frame"] = (total - setup) // len(
                        pictures
                    )
        result["rungs"][rung] = rung_result
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=["relay", "veryfast", "me=hex"])
    parser.add_argument("--rungs", type=lambda s: s.split(","), default=["720p", "360p"])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--pace", type=float, default=1.0, help="speed of the flight")
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--instructions", action="store_true", help="count them (valgrind)")
    parser.add_argument("--encode-raw", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    unknown = [r for r in args.rungs if r not in RUNGS]
    if unknown:
        parser.error(f"unknown rung(s) {', '.join(unknown)}; known: {', '.join(RUNGS)}")
    if args.encode_raw is not None:
        encode_raw(args.encode_raw, args.rungs[0], args.variants[0])
        return 0
    if args.runs < 1 or not 1 <= args.seconds <= 60 or not 0 < args.pace <= 10:
        parser.error("--runs must be >= 1, --seconds within 1..60, --pace within 0..10")
    for variant in args.variants:
        problem = refused(args.rungs[0], variant)
        if problem:
            parser.error(f"x264 does not take variant {variant!r}: {problem}")
    if args.instructions and not shutil.which("valgrind"):
        print(
            "bench_x264_options: --instructions needs valgrind (Debian: apt-get install valgrind)",
            file=sys.stderr,
        )
        return 2
    print(json.dumps(measure(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
