"""A viewer's SRTP for the fan-out's hot loop, without a copy and an allocation per packet
that the encryption does not need.

pylibsrtp's `Session.protect` takes a whole packet as bytes (the pacer concatenated header
and payload for it: one copy), allocates an `int *` for the length, copies the packet into
the session's buffer, encrypts it there and copies the result out as new bytes. At 100
viewers of a 720p rung (scripts/bench_send.py, py-spy) that wrapper was 14 % of the event
loop's samples, beside 19 % for libsrtp's own work. A `Sealer` writes the header parts and
the shared payload straight into a scratch buffer, has libsrtp encrypt them in place (the
same call `protect` makes, on the same session, so the stream's state stays one) and hands
back a view of the result: one copy of the payload, no allocation but the view.

The views are valid until the buffer is rewound, which `Wire.send_all` does once the packets
are sent: by then the kernel has copied them, or asyncio's transport has (it keeps `bytes`
of what it must queue). The scratch buffer is one per thread, shared by every viewer sent
from that thread (the event loop's): the pacers send one after the other, each to the end.
Each packet starts at a multiple of 8 (libsrtp reads the header as 32-bit words), so a run
is handed to the kernel as one view per packet, which GSO joins as it joined the bytes.

It reads two pylibsrtp internals (pinned in pyproject.toml): the session's `srtp_t` and the
binding's `srtp_protect`. `Sealer.of` returns None without them, and the pacer seals with
`Session.protect` as before.
"""

from __future__ import annotations

import threading
from typing import Any

from pylibsrtp import SRTP_MAX_TRAILER_LEN  # what libsrtp may append: the tag and an MKI

SCRATCH_BYTES = 256 * 1024  # a pacing slot's run at the fastest pace fits many times over
MAX_CLEAR = 1500 - SRTP_MAX_TRAILER_LEN  # the longest packet protect takes (its 1500 bytes)
_ALIGN = 8

try:
    from pylibsrtp import Error as SrtpError
    from pylibsrtp._binding import ffi, lib

    _SRTP_PROTECT: Any = lib.srtp_protect
except (ImportError, AttributeError):  # another pylibsrtp: Sealer.of says None
    _SRTP_PROTECT = None


class _Scratch:
    """One thread's buffer for sealed packets (see the module's text)."""

    def __init__(self) -> None:
        self.buffer = bytearray(SCRATCH_BYTES)
        self.view = memoryview(self.buffer)
        self.base = ffi.from_buffer(self.buffer)
        self.used = 0


_local = threading.local()


def _scratch() -> _Scratch:
    scratch: _Scratch | None = getattr(_local, "scratch", None)
    if scratch is None:
        scratch = _local.scratch = _Scratch()
    return scratch


class Sealer:
    """Protects one viewer's RTP packets into the thread's scratch buffer. Use it only on the
    thread that made it (the event loop's)."""

    def __init__(self, session: Any) -> None:
        self._protect = session.protect  # for what does not fit; keeps its srtp_t alive
        self._context = session._srtp[0]
        self._length = ffi.new("int *")
        self._scratch = _scratch()

    @classmethod
    def of(cls, session: Any) -> Sealer | None:
        """A sealer for a pylibsrtp session, or None when this pylibsrtp lacks the internals."""
        if _SRTP_PROTECT is None or not hasattr(session, "_srtp"):
            return None
        return cls(session)

    def __call__(self, head: bytes, tail: bytes, payload: bytes) -> memoryview | bytes:
        """The SRTP packet of head + tail + payload: a view of the scratch buffer, or bytes
        when it is full (a burst larger than SCRATCH_BYTES) or the packet too long for SRTP
        (protect raises as it always did)."""
        scratch = self._scratch
        start = scratch.used
        body = start + len(head)
        at = body + len(tail)
        end = at + len(payload)
        if end - start > MAX_CLEAR or end + SRTP_MAX_TRAILER_LEN > SCRATCH_BYTES:
            whole: bytes = self._protect(head + tail + payload)
            return whole
        buffer = scratch.buffer
        buffer[start:body] = head
        buffer[body:at] = tail
        buffer[at:end] = payload
        length = self._length
        length[0] = end - start
        status = _SRTP_PROTECT(self._context, scratch.base + start, length)
        if status:
            raise SrtpError(f"srtp_protect failed: status {status}")
        end = start + length[0]
        scratch.used = (end + _ALIGN - 1) & -_ALIGN
        return scratch.view[start:end]

    def rewind(self) -> None:
        """The sealed packets have been sent: their space is free again."""
        self._scratch.used = 0
