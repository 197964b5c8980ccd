"""Secrets never leave: a relay whose RTMP key, RTSP password and camera token are unique
strings answers every route (walked from the route table), records an incident, watches its
RTSP camera fail, and runs its CLI commands; then every answer body and header, the text log,
the audit log, every manifest and /metrics are searched for those strings: zero hits."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from relay.api.middleware import decision_for
from relay.sources.redact import RedactingFilter, redact_text, redact_url, secrets_of
from tests.api.test_route_table import BODY, route_key
from tests.conftest import SHAREABLE, RelayFactory, RunningRelay, free_port, wait_for
from tests.e2e.test_ingest import push_until_live, stop

KEY = f"rtmpkey{secrets.token_hex(6)}"
PASSWORD = f"rtsppw{secrets.token_hex(6)}"
CAM_TOKEN = f"camtoken{secrets.token_hex(6)}"
TURN_SECRET = f"turnsecret{secrets.token_hex(6)}"  # viewers get credentials minted from it
SECRETS = (KEY, PASSWORD, CAM_TOKEN, TURN_SECRET)


def test_redact_url_hides_key_password_and_tokens_only() -> None:
    cases = {
        f"rtmp://0.0.0.0:1935/live/{KEY}": "rtmp://0.0.0.0:1935/live/***",
        f"rtsp://admin:{PASSWORD}@10.0.0.2:554/h264?transport=tcp&token={CAM_TOKEN}": (
            "rtsp://***@10.0.0.2:554/h264?transport=tcp&token=***"
        ),
        "sim://?size=320x240&fps=10&gop=10": "sim://?size=320x240&fps=10&gop=10",
        "udp://0.0.0.0:5000": "udp://0.0.0.0:5000",
        "file:clips/flight.mp4": "file:clips/flight.mp4",
        "whip:": "whip:",
        "rtsp://[broken": "rtsp:***",
    }
    for url, shown in cases.items():
        assert redact_url(url) == shown, url
    # FFmpeg quotes the URL it failed on, sometimes percent-decoded: both are scrubbed.
    url = f"rtsp://admin:{PASSWORD}%40x@cam:554/s"
    error = f"Connection refused: 'rtsp://admin:{PASSWORD}@x@cam:554/s' ({PASSWORD}@x)"
    scrubbed = redact_text(error, secrets_of(url))
    assert PASSWORD not in scrubbed and "Connection refused" in scrubbed, scrubbed
    # A URL ending a clause keeps the clause's punctuation.
    said = redact_text(f"rtmp://h:1/live/{KEY}: refused. See rtsp://u:{PASSWORD}@h/x.")
    assert said == "rtmp://h:1/live/***: refused. See rtsp://***@h/x.", said


def _fill(canonical: str, values: dict[str, str], default: str) -> str:
    return re.sub(r"\{(\w+)(:[^}]*)?\}", lambda m: values.get(m.group(1), default), canonical)


class Seen:
    """Everything the relay said, tagged with where it was said."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []

    def add(self, where: str, text: str | bytes) -> None:
        if isinstance(text, bytes):
            text = text.decode("latin-1")  # byte for byte: a secret is ASCII
        self.texts.append((where, text))

    def leaks(self) -> list[str]:
        return [f"{s!r} in {where}" for where, text in self.texts for s in SECRETS if s in text]


async def _answer(seen: Seen, resp: aiohttp.ClientResponse, what: str) -> None:
    seen.add(f"{what} headers", "\n".join(f"{k}: {v}" for k, v in resp.headers.items()))
    if resp.content_type == "text/event-stream":  # endless: its first events
        body = b""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.5):
                while len(body) < 64_000 and (chunk := await resp.content.readany()):
                    body += chunk
        seen.add(f"{what} body", body)
        return
    seen.add(f"{what} body", await resp.read())


async def _walk_routes(relay: RunningRelay, seen: Seen, objects: dict[str, str]) -> int:
    """Every route, as the admin, once per stream (path placeholders filled from `objects`)."""
    assert relay.app is not None
    count = 0
    async with relay.http() as http:
        for route in relay.app.router.routes():
            method, canonical = route_key(route)
            decision = decision_for(route)
            if isinstance(route.resource, web.StaticResource) or decision is None:
                continue
            for stream in ("drone", "cam"):
                path = _fill(canonical, {**objects, "stream": stream, "name": stream}, stream)
                if canonical.startswith("/api/share/"):
                    path = _fill(canonical, {"id": objects["share"]}, stream)
                if canonical.startswith("/recordings/"):
                    path = objects["segment_url"]
                body = {**BODY, "stream": stream, "streams": [stream]}
                if method == "DELETE" and canonical.startswith("/api/share/"):
                    continue  # revoked at the end: the link's other answers come first
                async with http.request(
                    method, relay.base_url + path, json=body, allow_redirects=False
                ) as resp:
                    await _answer(seen, resp, f"{method} {path} -> {resp.status}")
                count += 1
        # The 409 of WHIP for a stream that is not whip: (it named the source URL).
        for stream in ("drone", "cam"):
            async with http.post(
                f"{relay.base_url}/whip/{stream}",
                data="v=0\r\n",
                headers={"Content-Type": "application/sdp"},
            ) as resp:
                assert resp.status == 409
                await _answer(seen, resp, f"POST /whip/{stream}")
        async with http.delete(f"{relay.base_url}/api/share/{objects['share']}") as resp:
            await _answer(seen, resp, "DELETE /api/share")
    return count


def _cli(seen: Seen, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "relay", *args], capture_output=True, text=True, timeout=120
    )
    seen.add(f"drone-relay {' '.join(args)}", done.stdout + done.stderr)
    return done


async def test_no_secret_leaves_the_relay(
    start_relay: RelayFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rtmp = f"rtmp://127.0.0.1:{free_port()}/live/{KEY}"
    # Nothing listens there: the camera "cannot be reached", its error names the URL.
    rtsp = f"rtsp://brigade:{PASSWORD}@127.0.0.1:{free_port()}/cam?transport=tcp&token={CAM_TOKEN}"
    relay = await start_relay(
        [
            {
                "name": "drone",
                "source": rtmp,
                "renditions": ["360p"],
                # Handed on to a server that is not there: its errors name the URL.
                "outputs": [{"url": f"rtmp://127.0.0.1:{free_port()}/live/{KEY}"}],
                **SHAREABLE,
            },
            {"name": "cam", "source": rtsp, "renditions": ["360p"]},
        ],
        recording={"dir": str(tmp_path / "rec")},
        webrtc={
            "ice_addresses": ["127.0.0.1"],
            "ice_servers": ["turn:127.0.0.1:3478?transport=udp"],
            "turn_secret": TURN_SECRET,
        },
    )
    seen = Seen()
    drone, cam = relay.relay.streams["drone"], relay.relay.streams["cam"]
    pusher = await push_until_live(rtmp, lambda: drone.state == "live")
    try:
        await wait_for(lambda: cam.supervisor.restarts >= 2, 30, "the camera to fail twice")
        assert "Connection refused" in cam.supervisor.last_error, cam.supervisor.last_error
        async with relay.http() as http:

            async def post(path: str, body: dict[str, object]) -> dict[str, str]:
                async with http.post(relay.base_url + path, json=body) as resp:
                    await _answer(seen, resp, f"POST {path}")
                    assert resp.status == 201, await resp.text()
                    answer: dict[str, str] = await resp.json()
                    return answer

            incident = (
                await post("/api/incidents", {"title": "Brand", "streams": ["drone", "cam"]})
            )["id"]
            recorder = relay.relay.incidents.get(incident).recorders["drone"]
            await wait_for(lambda: recorder.written >= 75, 30, "2.5 s recorded")
            await post(f"/api/incidents/{incident}/snapshots", {"stream": "drone"})
            share = (await post("/api/share", {"stream": "drone", "expires_in_s": 600}))["id"]
            async with http.post(f"{relay.base_url}/api/incidents/{incident}/stop") as resp:
                await _answer(seen, resp, "stop")
            async with http.get(f"{relay.base_url}/api/incidents/{incident}") as resp:
                detail = await resp.json()
            segment_url = detail["recordings"][0]["segments"][0]["url"]
            async with http.post(
                f"{relay.base_url}/api/incidents/{incident}/clips",
                json={"stream": "drone", "from_s": 0, "to_s": 1},
            ) as resp:
                await _answer(seen, resp, "clip")
            async with http.get(relay.base_url + "/metrics") as resp:
                assert resp.status == 200
                await _answer(seen, resp, "/metrics")
        objects = {"id": incident, "share": share, "segment_url": segment_url, "session": "x"}
        walked = await _walk_routes(relay, seen, objects)
        assert walked > 40
    finally:
        stop(pusher)
    folder = tmp_path / "rec" / incident
    manifests = list((tmp_path / "rec").rglob("manifest.json"))
    assert manifests
    for manifest in manifests:
        seen.add(str(manifest), manifest.read_bytes())
    seen.add("audit log", relay.relay.audit.path.read_bytes())
    # The CLI: verify (with the audit log), and config errors that quote a source.
    assert _cli(seen, "verify", str(folder), "--audit", str(relay.relay.audit.path)).returncode == 0
    for bad in (f"rtmp://0.0.0.0:1935/a/b/{KEY}", f"rtsp://u:{PASSWORD}@cam:nope/x"):
        config = tmp_path / "bad.toml"
        config.write_text(f'[[streams]]\nname = "x"\nsource = "{bad}"\nrenditions = ["360p"]\n')
        done = _cli(seen, "serve", "--config", str(config), "--port", "0")
        assert done.returncode == 2 and "config error" in done.stderr, done.stderr
    seen.add("text log", caplog.text)
    assert seen.leaks() == []
    assert sum(1 for _, text in seen.texts if "***" in text) >= 5, "no redaction was seen"


def test_drone_relay_serve_prints_and_logs_no_secret(tmp_path: Path) -> None:
    """The real command, with its own logging set-up at debug: the start-up lines, the
    stream lines and the camera's failures are printed without the secrets."""
    rtsp = f"rtsp://brigade:{PASSWORD}@127.0.0.1:{free_port()}/cam?token={CAM_TOKEN}"
    config = tmp_path / "relay.toml"
    config.write_text(
        f'[server]\nhost = "127.0.0.1"\nport = {free_port()}\ndata_dir = "{tmp_path}/data"\n'
        f'[webrtc]\nice_addresses = ["127.0.0.1"]\n'
        f'ice_servers = ["turn:127.0.0.1:3478"]\nturn_secret = "{TURN_SECRET}"\n'
        f'[[streams]]\nname = "drone"\nsource = "rtmp://127.0.0.1:{free_port()}/live/{KEY}"\n'
        f'renditions = ["360p"]\n'
        f'[[streams]]\nname = "cam"\nsource = "{rtsp}"\nrenditions = ["360p"]\n'
        f'[recording]\ndir = "{tmp_path}/rec"\n'
    )
    out = tmp_path / "out.txt"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "relay",
                "serve",
                "--config",
                str(config),
                "--log-level",
                "debug",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while "[stream cam] source failed" not in out.read_text("latin-1"):
                assert proc.poll() is None, out.read_text("latin-1")
                assert time.monotonic() < deadline, out.read_text("latin-1")
                time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
    text = out.read_text("latin-1")
    assert "drone-relay" in text and "serving" in text, text
    assert "[stream drone] started: rtmp://127.0.0.1" in text and "/live/***" in text, text
    assert [s for s in SECRETS if s in text] == [], text


def test_the_log_filter_hides_secrets_a_library_would_log() -> None:
    """What the relay logs itself is redacted where it is said; a library quoting the URL
    (here: a message and a traceback) is caught by the handler's filter."""
    rtsp = f"rtsp://brigade:{PASSWORD}@cam:554/x?token={CAM_TOKEN}"
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactingFilter(secrets_of(rtsp) | secrets_of(f"rtmp://h:1/live/{KEY}")))
    library = logging.getLogger("some.library")
    library.addHandler(handler)
    try:
        library.warning("could not open %s (key %s)", rtsp, KEY)
        try:
            raise OSError(f"Connection refused: '{rtsp}'")
        except OSError:
            library.exception("reading failed")
    finally:
        library.removeHandler(handler)
    text = out.getvalue()
    assert "could not open rtsp://***@cam:554/x" in text and "OSError" in text, text
    assert [s for s in SECRETS if s in text] == [], text
