#!/usr/bin/env python3
"""Does this relay serve pictures? One WHEP viewer that waits for decoded frames.

    python scripts/whep_probe.py http://127.0.0.1:8080/whep/demo --token-file data/admin-token

Exits 0 after `--frames` decoded frames (printing their size and the time to the first one),
1 when the relay answers the offer with an error or no frame arrives in `--timeout` seconds,
2 on bad arguments. It needs only aiortc and aiohttp, not the relay's own package, so that
scripts/check_wheel can run it with the python of a venv that holds nothing but the
installed wheel: the script's folder, not the repository, is first on sys.path.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import aiohttp
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from yarl import URL


async def _decode(track: MediaStreamTrack, wanted: int, sizes: list[tuple[int, int]]) -> None:
    try:
        while len(sizes) < wanted:
            frame = await track.recv()
            sizes.append((frame.width, frame.height))  # type: ignore[union-attr]
    except MediaStreamError:
        pass


async def probe(url: str, token: str | None, frames: int, wait_s: float) -> int:
    """Posts a WHEP offer to `url`, decodes until `frames` frames; returns the exit status."""
    # No ICE servers: aiortc would otherwise ask a public STUN server, and the relay runs
    # offline.
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    sizes: list[tuple[int, int]] = []
    done = asyncio.get_running_loop().create_future()

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        task = asyncio.ensure_future(_decode(track, frames, sizes))
        task.add_done_callback(lambda _: done.done() or done.set_result(None))

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    started = time.monotonic()
    location = None
    async with aiohttp.ClientSession() as http:
        try:
            await pc.setLocalDescription(await pc.createOffer())
            async with http.post(
                url,
                data=pc.localDescription.sdp,
                headers={"Content-Type": "application/sdp", **headers},
            ) as resp:
                body = await resp.text()
                if resp.status != 201:
                    print(f"whep_probe: {url} answered {resp.status}: {body}", file=sys.stderr)
                    return 1
                location = resp.headers.get("Location")
            await pc.setRemoteDescription(RTCSessionDescription(body, "answer"))
            try:
                await asyncio.wait_for(done, wait_s)
            except TimeoutError:
                pass
            if len(sizes) < frames:
                print(
                    f"whep_probe: {len(sizes)} of {frames} frames in {wait_s:g} s",
                    file=sys.stderr,
                )
                return 1
            width, height = sizes[-1]
            print(
                f"whep_probe: {len(sizes)} frames {width}x{height}, "
                f"{time.monotonic() - started:.2f} s after the offer"
            )
            return 0
        finally:
            if location:  # free the relay's session now, not after its timeout
                async with http.delete(URL(url).join(URL(location)), headers=headers):
                    pass
            await pc.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the stream's WHEP endpoint, e.g. http://host:8080/whep/demo")
    auth = parser.add_mutually_exclusive_group()
    auth.add_argument("--token", help="Bearer token")
    auth.add_argument("--token-file", type=Path, help="file holding the Bearer token")
    parser.add_argument("--frames", type=int, default=5, help="frames to decode (default 5)")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds (default 20)")
    args = parser.parse_args(argv)
    token = args.token
    if args.token_file is not None:
        try:
            token = args.token_file.read_text("utf-8").strip()
        except OSError as exc:
            parser.error(f"--token-file: {exc}")
    if args.frames < 1 or args.timeout <= 0:
        parser.error("--frames and --timeout must be positive")
    return asyncio.run(probe(args.url, token, args.frames, args.timeout))


if __name__ == "__main__":
    sys.exit(main())
