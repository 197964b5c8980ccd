"""An output's own process: `python -m relay.outputs.pusher`, fed by relay.outputs.output.

Why a process: FFmpeg's RTMP code holds the GIL through its connection and handshake
(measured: a server that accepts and then stays silent froze the relay's event loop for
over 25 s, and FFmpeg's rw_timeout did not end it). In a process of its own an output that
hangs costs nothing but itself, and the relay kills it.

stdin: one JSON line (url, scheme, size, token: the URL's key and the token never go on a
command line, which other users can read), then frames: a header (length, pts on the output's
90 kHz clock, keyframe) and the Annex B bytes. stdout: "live" once the first frame is on
the wire. stderr: why it ended. Ends at the end of stdin.
"""

from __future__ import annotations

import json
import struct
import sys
import tempfile
from typing import BinaryIO

import av
import av.logging

from relay.outputs.muxer import Muxer
from relay.outputs.whip_cert import ecdsa_certificate

FRAME = struct.Struct("!IqB")  # length, pts (90 kHz), keyframe


def main() -> int:
    av.logging.set_level(av.logging.PANIC)  # the relay reports the error it is handed
    stdin = sys.stdin.buffer
    setup = json.loads(stdin.readline())
    with tempfile.TemporaryDirectory(prefix="relay-output-") as folder:
        extra = {"token": setup.get("token", "")}
        if setup["scheme"].startswith("whip"):
            extra |= ecdsa_certificate(folder)
        return push(stdin, Muxer(setup["url"], setup["scheme"], setup["size"], **extra))


def push(stdin: BinaryIO, muxer: Muxer) -> int:
    """Frames from stdin onto the wire until stdin ends (0) or the connection fails (1)."""
    live = False
    try:
        while len(head := stdin.read(FRAME.size)) == FRAME.size:
            length, pts, keyframe = FRAME.unpack(head)
            muxer.write(stdin.read(length), pts, bool(keyframe))
            if not live:
                live = True
                print("live", flush=True)
    except (OSError, av.error.FFmpegError) as exc:
        print(exc, file=sys.stderr, flush=True)
        return 1
    finally:
        muxer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
