"""FlvPipe: hands one publisher's FLV bytes from its media thread to the demuxer thread.

The RTMP publisher's media thread (relay.sources.rtmp_receive) feeds FLV tags; PyAV reads
them as a file object in the source's thread. The buffer is bounded: a demuxer that stops
reading costs the publisher its connection, never the relay its memory.
"""

from __future__ import annotations

import threading
import time

FLV_HEADER = b"FLV\x01\x01\x00\x00\x00\x09" + bytes(4)  # version 1, video only, no tag yet
MAX_BUFFERED = 16 * 1024 * 1024


def flv_tag(tag_type: int, timestamp: int, payload: bytes) -> bytes:
    """One FLV tag with its trailing previous-tag-size, as libavformat's RTMP reader makes."""
    ts = timestamp & 0xFFFFFFFF
    header = (
        bytes((tag_type,))
        + len(payload).to_bytes(3, "big")
        + (ts & 0xFFFFFF).to_bytes(3, "big")
        + bytes((ts >> 24,))
        + bytes(3)
    )
    return header + payload + (len(payload) + 11).to_bytes(4, "big")


class FlvPipe:
    """A bounded byte pipe with a file object's read() for PyAV; safe across threads."""

    def __init__(self, peer: str, read_timeout_s: float) -> None:
        self.peer = peer
        self.read_timeout_s = read_timeout_s
        self.stalled = False  # the publisher sent nothing for read_timeout_s
        self._buf = bytearray(FLV_HEADER)
        self._cond = threading.Condition()
        self._ended = False  # the publisher is gone (or was dropped)
        self._reader_gone = False
        self._stop: threading.Event | None = None

    def feed(self, data: bytes) -> bool:
        """Appends data (the publisher's thread); False when the reader is gone or too far
        behind."""
        with self._cond:
            if self._reader_gone or self._ended:
                return False
            if len(self._buf) + len(data) > MAX_BUFFERED:
                return False
            self._buf += data
            self._cond.notify()
            return True

    def end(self) -> None:
        """No more data will come: the reader gets the rest, then end of file."""
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def reader_gone(self) -> bool:
        return self._reader_gone

    def attach(self, stop: threading.Event) -> None:
        """The reader's stop event: read() returns end of file soon after it is set."""
        self._stop = stop

    def close_reader(self) -> None:
        """The demuxer is done; further feed() calls fail, so the publisher is dropped."""
        with self._cond:
            self._reader_gone = True
            self._buf.clear()
            self._cond.notify_all()

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes; blocks until some arrive; b"" at the end (or stop, or stall)."""
        deadline = time.monotonic() + self.read_timeout_s
        with self._cond:
            while not self._buf:
                if self._ended or self._reader_gone or (self._stop and self._stop.is_set()):
                    return b""
                if time.monotonic() > deadline:
                    self.stalled = True
                    return b""
                self._cond.wait(0.1)
            n = len(self._buf) if size < 0 else min(size, len(self._buf))
            out = bytes(self._buf[:n])
            del self._buf[:n]
            return out
