"""A synthetic aerial scene: terrain panning and turning below the drone, a moving hot spot.

It stands in for a drone's wide camera in tests, demos and benchmarks. The picture has real
texture (so the encoder works as on a real flight), the frame marks at the top
(see relay.media.frame_marks) and a readable counter and clock below them.
"""

from __future__ import annotations

import math
import time

import av
import cv2
import numpy as np
import numpy.typing as npt

from relay.media.frame_marks import band_height, write_marks

TEXTURE = 2048  # luma texture side; wraps around, so the flight never ends


def _noise(rng: np.random.Generator, size: int, cells: int) -> npt.NDArray[np.float32]:
    small = rng.random((cells, cells), dtype=np.float32)
    # Tile 3x3 before scaling so that the texture wraps without a seam.
    tiled = np.tile(small, (3, 3))
    big = cv2.resize(tiled, (size * 3, size * 3), interpolation=cv2.INTER_CUBIC)
    out: npt.NDArray[np.float32] = np.asarray(big[size : 2 * size, size : 2 * size], np.float32)
    return out


def _terrain(
    seed: int,
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    rng = np.random.default_rng(seed)
    fields = _noise(rng, TEXTURE, 12) * 0.6 + _noise(rng, TEXTURE, 48) * 0.3
    fields += rng.random((TEXTURE, TEXTURE), dtype=np.float32) * 0.1  # sensor-like grain
    y = (40 + fields * 140).astype(np.uint8)
    for _ in range(14):  # roads
        p1 = tuple(int(v) for v in rng.integers(0, TEXTURE, 2))
        p2 = tuple(int(v) for v in rng.integers(0, TEXTURE, 2))
        cv2.line(y, p1, p2, 200, int(rng.integers(6, 14)), cv2.LINE_AA)
    for _ in range(400):  # houses
        x, yy = (int(v) for v in rng.integers(0, TEXTURE - 40, 2))
        w, h = (int(v) for v in rng.integers(10, 36, 2))
        cv2.rectangle(y, (x, yy), (x + w, yy + h), int(rng.integers(90, 230)), -1)
    half = TEXTURE // 2
    green = _noise(rng, half, 10)
    u = (118 + green * 14).astype(np.uint8)  # greens and browns of fields
    v = (122 + (1 - green) * 14).astype(np.uint8)
    return y, u, v


class SimScene:
    """Renders frame N of the synthetic flight as a yuv420p VideoFrame."""

    def __init__(self, width: int, height: int, fps: float, seed: int = 7) -> None:
        self.width, self.height, self.fps = width, height, fps
        self.tex_y, self.tex_u, self.tex_v = _terrain(seed)
        self.buffer = np.empty((height * 3 // 2, width), np.uint8)
        self.font_scale = max(0.5, height / 720 * 1.1)

    def _views(self) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
        w, h = self.width, self.height
        y = self.buffer[:h]
        chroma = self.buffer[h:].reshape(2, h // 2, w // 2)
        return y, chroma[0], chroma[1]

    def render(self, index: int, unix_ms: int | None = None) -> av.VideoFrame:
        """Frame `index` of the flight; marks carry `unix_ms` (default: now)."""
        if unix_ms is None:
            unix_ms = time.time_ns() // 1_000_000
        t = index / self.fps
        y, u, v = self._views()
        angle = 12 * math.sin(t / 9)  # degrees: the drone turns slowly back and forth
        cx = TEXTURE / 2 + 260 * t  # and flies east at a steady pace
        cy = TEXTURE / 2 + 120 * math.sin(t / 5)
        m = cv2.getRotationMatrix2D((self.width / 2, self.height / 2), angle, 1.0)
        m[0, 2] += cx - self.width / 2
        m[1, 2] += cy - self.height / 2
        # m takes output pixels to texture pixels ("where the camera looks"), hence the
        # inverse-map flag: OpenCV then samples the texture without inverting anything.
        # Nearest-texel sampling: a third less CPU than bilinear for the whole sim (measured),
        # and the sim runs inside the relay process it is there to load-test.
        flags = cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP
        cv2.warpAffine(
            self.tex_y, m, (self.width, self.height), dst=y, flags=flags, borderMode=cv2.BORDER_WRAP
        )
        m_chroma = m.astype(np.float64)
        m_chroma[:, 2] = m[:, 2] / 2
        half = (self.width // 2, self.height // 2)
        cv2.warpAffine(self.tex_u, m_chroma, half, dst=u, flags=flags, borderMode=cv2.BORDER_WRAP)
        cv2.warpAffine(self.tex_v, m_chroma, half, dst=v, flags=flags, borderMode=cv2.BORDER_WRAP)
        self._hot_spot(t, y, u, v)
        self._labels(index, unix_ms, y)
        return av.VideoFrame.from_ndarray(self.buffer, format="yuv420p")

    def _hot_spot(
        self, t: float, y: npt.NDArray[np.uint8], u: npt.NDArray[np.uint8], v: npt.NDArray[np.uint8]
    ) -> None:
        # A fire moving through the picture on a slow Lissajous path.
        hx = int(self.width * (0.5 + 0.35 * math.sin(t * 0.7)))
        hy = int(self.height * (0.55 + 0.3 * math.sin(t * 0.45 + 1)))
        r = max(6, self.height // 24)
        for k, level in ((3, 170), (2, 210), (1, 245)):
            cv2.circle(y, (hx, hy), r * k // 2 + 2, level, -1, cv2.LINE_AA)
        cv2.circle(v, (hx // 2, hy // 2), r, 200, -1)
        cv2.circle(u, (hx // 2, hy // 2), r, 90, -1)

    def _labels(self, index: int, unix_ms: int, y: npt.NDArray[np.uint8]) -> None:
        band = band_height(self.width)
        write_marks(y, index, unix_ms)
        clock = time.strftime("%H:%M:%S", time.gmtime(unix_ms / 1000)) + f".{unix_ms % 1000:03d}"
        text = f"#{index:07d}  {clock} UTC"
        base = band + int(30 * self.font_scale)
        cv2.putText(
            y,
            text,
            (10, base),
            cv2.FONT_HERSHEY_SIMPLEX,
            self.font_scale,
            16,
            max(3, int(5 * self.font_scale)),
            cv2.LINE_AA,
        )
        cv2.putText(
            y,
            text,
            (10, base),
            cv2.FONT_HERSHEY_SIMPLEX,
            self.font_scale,
            235,
            max(1, int(2 * self.font_scale)),
            cv2.LINE_AA,
        )
