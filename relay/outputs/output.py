"""One output of a stream: a rung's frames handed on to another engine (an RTMP server, a
CDN), reconnecting by itself, never slowing the local viewers.

The output subscribes to its rung like a viewer (so a lazy rung runs while it does) and
writes each frame to a process of its own (relay.outputs.pusher: FFmpeg's connection code
holds the GIL, so it must not run in the relay's). A server that is slow or gone fills the
pipe: over PIPE_BYTES frames are dropped and counted, and the output resumes at the next
keyframe, which it asks the rung's encoder for. A connection that fails, or that is not on
the wire CONNECT_S after its first keyframe, is retried with backoff (1 s doubling to
30 s); each start and stop of a connection is audited. URLs are shown redacted everywhere
(an RTMP key publishes), and the errors the process reports are scrubbed of its secrets.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from typing import Any

from relay.fanout.rendition import Rendition, Subscriber
from relay.media.packet import EncodedPacket
from relay.outputs.muxer import OutputClock
from relay.outputs.pusher import FRAME
from relay.sources.redact import redact_text, redact_url, secrets_of
from relay.sources.scheme import Audit

log = logging.getLogger(__name__)

PIPE_BYTES = 2_000_000  # waiting for the process (~8 s of a 2 Mbit/s rung); over it, drop
CONNECT_S = 10.0  # from the first keyframe handed over to "live"; else the process is stuck
BACKOFF_S, BACKOFF_MAX_S = 1.0, 30.0
STOP_S = 2.0  # a process that does not end this long after its stdin closed is killed


class Output:
    """A running output: `run()` until cancelled; `status()` for /api/streams and /metrics."""

    def __init__(
        self, stream: str, url: str, rendition: Rendition, audit: Audit | None, token: str = ""
    ) -> None:
        self.stream, self.url, self.rendition, self.audit = stream, url, rendition, audit
        self.token = token  # WHIP's Bearer token: secret, never shown
        self.scheme = url.split(":", 1)[0].lower()
        self.shown = redact_url(url)
        self.state = "starting"
        self.frames = self.dropped = self.reconnects = self.bytes = 0
        self.last_error = ""
        self.since = time.time()
        self.clock = OutputClock()  # continuous across reconnects and source restarts
        self._skipping = True  # until a keyframe: a connection must start with one
        self._handed_at: float | None = None  # when the first keyframe went to the process

    def status(self) -> dict[str, Any]:
        return {
            "url": self.shown,
            "rendition": self.rendition.name,
            "state": self.state,
            "since": round(self.since, 3),
            "frames": self.frames,
            "bytes": self.bytes,
            "dropped": self.dropped,
            "reconnects": self.reconnects,
            "last_error": self.last_error,
        }

    async def run(self) -> None:
        wake = asyncio.Event()
        subscriber = self.rendition.subscribe(f"output {self.shown}", wake.set)
        backoff = BACKOFF_S
        try:
            while True:
                started = time.monotonic()
                why = await self._connection(subscriber, wake)
                self._set_state("retrying", why)
                if time.monotonic() - started > BACKOFF_MAX_S:
                    backoff = BACKOFF_S  # it ran a good while: a fresh failure
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                self.reconnects += 1
        finally:
            subscriber.close()
            if self.state == "live":
                self._set_state("stopped", "stream stopped")

    async def _connection(self, subscriber: Subscriber, wake: asyncio.Event) -> str:
        """One process, from start to end; returns why it ended."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "relay.outputs.pusher",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        size = (self.rendition.width, self.rendition.height)
        setup = {"url": self.url, "scheme": self.scheme, "size": size, "token": self.token}
        proc.stdin.write(json.dumps(setup).encode() + b"\n")
        said = asyncio.ensure_future(proc.stdout.readline())
        told = asyncio.ensure_future(proc.stderr.read())
        ended = asyncio.ensure_future(proc.wait())
        self._skipping, self._handed_at = True, None
        self.rendition.request_keyframe()  # start on a keyframe now, not within a GOP
        try:
            while not ended.done():
                wake.clear()
                while (item := subscriber.pop()) is not None:
                    self._hand(proc.stdin, item)
                if said.done() and said.result().strip() == b"live":
                    self._set_state("live", "")
                elif self._handed_at and time.monotonic() - self._handed_at > CONNECT_S:
                    proc.kill()
                    return f"not connected {CONNECT_S:.0f} s after its first frame"
                waiter = asyncio.ensure_future(wake.wait())
                await asyncio.wait({waiter, ended}, timeout=0.5, return_when="FIRST_COMPLETED")
                waiter.cancel()
            error = (await told).decode(errors="replace").strip().splitlines()
            return self._scrub(error[-1] if error else f"ended ({proc.returncode})")
        finally:
            await self._end(proc)
            for task in (said, told, ended):
                task.cancel()

    def _hand(self, pipe: asyncio.StreamWriter, item: EncodedPacket) -> None:
        """On the loop: a frame to the process, or dropped (and the rest to a keyframe)."""
        if self._skipping and not item.keyframe:
            return
        if pipe.transport.get_write_buffer_size() > PIPE_BYTES:
            self.dropped += 1
            if not self._skipping:
                self._skipping = True
                self.rendition.request_keyframe()
            return
        data = bytes(item.packet)
        pts = self.clock.advance(item.rtp_timestamp)
        pipe.write(FRAME.pack(len(data), pts, item.keyframe) + data)
        self._skipping = False
        if self._handed_at is None:
            self._handed_at = time.monotonic()
        self.frames += 1
        self.bytes += len(data)

    @staticmethod
    async def _end(proc: asyncio.subprocess.Process) -> None:
        if proc.returncode is None and proc.stdin is not None:
            proc.stdin.close()  # the end of its input: it closes the connection properly
            try:
                await asyncio.wait_for(proc.wait(), STOP_S)
            except TimeoutError:
                proc.kill()
                await proc.wait()

    def _set_state(self, state: str, why: str) -> None:
        """A connection started or ended: logged and audited, with the URL redacted."""
        if state == self.state:
            return
        was, self.state, self.since = self.state, state, time.time()
        if state != "live":
            self.last_error = why
            if was != "live":
                return  # a retry that never connected: counted, not audited each time
            log.warning("[stream %s] output %s: %s", self.stream, self.shown, why)
        else:
            log.info("[stream %s] output %s live", self.stream, self.shown)
        if self.audit is not None:
            event = "output_start" if state == "live" else "output_stop"
            self.audit(event, "relay", "-", stream=self.stream, output=self.shown, reason=why)

    def _scrub(self, text: str) -> str:
        secrets = secrets_of(self.url) | ({self.token} if self.token else set())
        return redact_text(text, frozenset(secrets))[:300]
