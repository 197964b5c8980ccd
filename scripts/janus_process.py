"""A real Janus for the tests and the Janus benchmark: Debian's janus (1.1) with only its
streaming plugin and HTTP transport, a config folder of its own and free ports; an RTP
mountpoint for the relay's output, and a small client of Janus's HTTP API that watches it
with an aiortc peer (Janus makes the offer, the viewer answers with "start").

    with janus() as engine:   # JanusMissing when Debian's janus is not installed
        ... rtp://127.0.0.1:{engine.video_port}?pt=96 feeds mountpoint MOUNTPOINT ...
        await JanusWatcher(engine.url, pc).watch(MOUNTPOINT)
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.relay_process import free_port  # noqa: E402  (after the path is set)

LIBS = Path("/usr/lib/x86_64-linux-gnu/janus")
MOUNTPOINT = 1
KEEPALIVE_S = 25.0  # Janus ends a session silent for 60 s (its session_timeout)

JANUS = """general: {{
    configs_folder = "{folder}"
    plugins_folder = "{folder}/plugins"
    transports_folder = "{folder}/transports"
    events_folder = "{folder}/events"
    loggers_folder = "{folder}/loggers"
    log_to_stdout = true
    debug_level = 4
{event_loops}}}
nat: {{
    ignore_mdns = true
    ice_enforce_list = "lo"
}}
"""
HTTP = """general: {{
    base_path = "/janus"
    http = true
    port = {port}
    https = false
}}
admin: {{
    admin_http = false
}}
"""
STREAMING = """general: {{
}}
drone: {{
    type = "rtp"
    id = {id}
    description = "drone-relay output"
    media = (
        {{
            type = "video"
            mid = "v"
            port = {video}
            rtcpport = {rtcp}
            pt = 96
            codec = "h264"
            fmtp = "profile-level-id=42e01f;packetization-mode=1"
        }}
    )
}}
"""


class JanusMissing(RuntimeError):
    """Debian's janus (and its streaming plugin) is not installed here."""


class Janus:
    """Janus on a free HTTP port with one RTP mountpoint fed at `video_port` (RTCP + 1).
    `event_loops`: Janus's static event loops (0: its default, a thread per viewer);
    `nice`: its niceness (a benchmark lets the relay under test go first)."""

    def __init__(self, event_loops: int = 0, nice: int = 0) -> None:
        binary = shutil.which("janus")
        if binary is None or not (LIBS / "plugins" / "libjanus_streaming.so").exists():
            raise JanusMissing("Debian's janus is not installed (scripts/test installs it)")
        self.folder = Path(tempfile.mkdtemp(prefix="janus-"))
        self.http_port = free_port()
        self.video_port = _free_udp_pair()
        for kind, name in (
            ("plugins", "libjanus_streaming.so"),
            ("transports", "libjanus_http.so"),
        ):
            (self.folder / kind).mkdir()
            (self.folder / kind / name).symlink_to(LIBS / kind / name)
        for kind in ("events", "loggers"):
            (self.folder / kind).mkdir()
        f = self.folder
        loops = f"    event_loops = {event_loops}\n" if event_loops else ""
        (f / "janus.jcfg").write_text(JANUS.format(folder=f, event_loops=loops))
        (f / "janus.transport.http.jcfg").write_text(HTTP.format(port=self.http_port))
        streaming = STREAMING.format(id=MOUNTPOINT, video=self.video_port, rtcp=self.video_port + 1)
        (f / "janus.plugin.streaming.jcfg").write_text(streaming)
        self.log = f / "janus.log"
        niced = ["nice", "-n", str(nice)] if nice else []  # nice execs: the same pid
        self.proc = subprocess.Popen(
            [*niced, binary, "-F", str(f), "-C", str(f / "janus.jcfg"), "-L", str(self.log)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{self.http_port}/janus"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.folder, ignore_errors=True)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _free_udp_pair() -> int:
    """An even port whose next one is free too (RTP and RTCP)."""
    for _ in range(50):
        port = free_port(socket.SOCK_DGRAM) & ~1
        with contextlib.suppress(OSError):
            a, b = socket.socket(type=socket.SOCK_DGRAM), socket.socket(type=socket.SOCK_DGRAM)
            try:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
                return port
            finally:
                a.close()
                b.close()
    raise AssertionError("no free pair of UDP ports")


@contextlib.contextmanager
def janus(event_loops: int = 0) -> Iterator[Janus]:
    server = Janus(event_loops)
    try:
        yield server
    finally:
        server.stop()


class JanusWatcher:
    """A viewer of a Janus streaming mountpoint over Janus's HTTP API, with an aiortc peer
    (without one it can only ask: mountpoint_info())."""

    def __init__(self, url: str, pc: RTCPeerConnection | None = None) -> None:
        self.url, self.pc = url, pc
        self.session = self.handle = 0
        self.offer_sdp = ""

    async def _post(self, http: aiohttp.ClientSession, path: str, body: dict[str, Any]) -> Any:
        body = {**body, "transaction": secrets.token_hex(6)}
        async with http.post(self.url + path, json=body) as resp:
            return await resp.json()

    async def _attach(self, http: aiohttp.ClientSession, wait_s: float) -> None:
        deadline = time.monotonic() + wait_s
        while True:  # Janus takes a moment to open its HTTP port
            try:
                created = await self._post(http, "", {"janus": "create"})
                break
            except aiohttp.ClientConnectorError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        self.session = created["data"]["id"]
        attached = await self._post(
            http, f"/{self.session}", {"janus": "attach", "plugin": "janus.plugin.streaming"}
        )
        self.handle = attached["data"]["id"]

    async def watch(self, mountpoint: int, wait_s: float = 20.0) -> None:
        assert self.pc is not None, "a viewer needs its peer"
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + wait_s
            await self._attach(http, wait_s)
            path = f"/{self.session}/{self.handle}"
            await self._post(
                http, path, {"janus": "message", "body": {"request": "watch", "id": mountpoint}}
            )
            offer = await self._event_with_jsep(http, deadline)
            self.offer_sdp = offer["sdp"]
            await self.pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
            await self.pc.setLocalDescription(await self.pc.createAnswer())
            answer = {"type": "answer", "sdp": self.pc.localDescription.sdp}
            await self._post(
                http, path, {"janus": "message", "body": {"request": "start"}, "jsep": answer}
            )
            # The answer carries every candidate (aiortc gathers before it answers); Janus
            # waits for the end of trickling before it lets ICE fail or succeed.
            await self._post(http, path, {"janus": "trickle", "candidate": {"completed": True}})

    async def keepalive(self) -> None:
        """Until cancelled: keeps the session alive without a long poll open."""
        async with aiohttp.ClientSession() as http:
            while True:
                await asyncio.sleep(KEEPALIVE_S)
                await self._post(http, f"/{self.session}", {"janus": "keepalive"})

    async def leave(self) -> None:
        """Ends the session in Janus (its viewer goes at once, not at a timeout)."""
        if self.session:
            async with aiohttp.ClientSession() as http:
                await self._post(http, f"/{self.session}", {"janus": "destroy"})

    async def mountpoint_info(self, mountpoint: int, wait_s: float = 20.0) -> Any:
        """The streaming plugin's "info" on a mountpoint (its viewers among them)."""
        async with aiohttp.ClientSession() as http:
            if not self.session:
                await self._attach(http, wait_s)
            reply = await self._post(
                http,
                f"/{self.session}/{self.handle}",
                {"janus": "message", "body": {"request": "info", "id": mountpoint}},
            )
            return reply["plugindata"]["data"]["info"]

    async def _event_with_jsep(self, http: aiohttp.ClientSession, deadline: float) -> Any:
        while time.monotonic() < deadline:
            async with http.get(f"{self.url}/{self.session}?maxev=1") as resp:
                event = await resp.json()
            for e in event if isinstance(event, list) else [event]:
                if "jsep" in e:
                    return e["jsep"]
        raise AssertionError("Janus sent no offer")
