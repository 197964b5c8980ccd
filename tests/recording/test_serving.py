"""Recording files over HTTP: Range into a growing segment, no way out of the folder,
clear errors for bad requests."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tests.conftest import ADMIN_TOKEN, RelayFactory, wait_for
from tests.recording.api import SIM, call, sections


async def raw_get(base: str, target: str) -> tuple[int, bytes]:
    """GET with the request target sent exactly as given (no client-side normalising), as
    the tests' admin: the path checks, not the auth check, must refuse traversal."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
        f"Authorization: Bearer {ADMIN_TOKEN}\r\n\r\n".encode()
    )
    await writer.drain()
    data = await reader.read()
    writer.close()
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1]


async def start_recording(relay: object, base: str) -> str:
    status, body = await call(
        base, "POST", "/api/incidents", {"title": "Range", "streams": ["demo"]}
    )
    assert status == 201, body
    return str(body["id"])


async def test_range_request_seeks_into_a_segment_being_written(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    relay = await start_relay([SIM], **sections(tmp_path))
    await wait_for(lambda: relay.relay.streams["demo"].state == "live", 20, "the sim drone")
    incident_id = await start_recording(relay, relay.base_url)
    path = tmp_path / "rec" / incident_id / "demo" / "seg-00001.mp4"
    await wait_for(
        lambda: path.exists() and path.stat().st_size > 400_000,
        20,
        "the first segment to grow past 400 kB",
    )
    status, detail = await call(relay.base_url, "GET", f"/api/incidents/{incident_id}")
    seg = detail["recordings"][0]["segments"][0]
    assert seg["open"] is True and seg["sha256"] is None and seg["bytes"] > 400_000
    async with relay.http() as http:
        async with http.get(
            relay.base_url + seg["url"], headers={"Range": "bytes=300000-349999"}
        ) as resp:
            assert resp.status == 206
            assert resp.headers["Content-Type"] == "video/mp4"
            assert resp.headers["Content-Range"].startswith("bytes 300000-349999/")
            middle = await resp.read()
        assert middle == path.read_bytes()[300000:350000]
        size_then = int(resp.headers["Content-Range"].rsplit("/", 1)[1])
        await wait_for(
            lambda: path.stat().st_size > size_then + 100_000, 20, "the segment to keep growing"
        )
        # An open-ended range past the earlier end: the new bytes are there.
        async with http.get(
            relay.base_url + seg["url"], headers={"Range": f"bytes={size_then}-"}
        ) as resp:
            assert resp.status == 206
            tail = await resp.read()
        assert len(tail) >= 100_000
        assert tail == path.read_bytes()[size_then : size_then + len(tail)]
        async with http.get(
            relay.base_url + seg["url"], headers={"Range": "bytes=999999999-"}
        ) as resp:
            assert resp.status == 416
    await call(relay.base_url, "POST", f"/api/incidents/{incident_id}/stop")


async def test_path_traversal_is_refused(start_relay: RelayFactory, tmp_path: Path) -> None:
    relay = await start_relay([SIM], **sections(tmp_path))
    await wait_for(lambda: relay.relay.streams["demo"].state == "live", 20, "the sim drone")
    incident_id = await start_recording(relay, relay.base_url)
    folder = tmp_path / "rec" / incident_id
    await wait_for(lambda: (folder / "demo" / "seg-00001.mp4").exists(), 20, "a segment")
    await call(relay.base_url, "POST", f"/api/incidents/{incident_id}/stop")
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(b"SECRET-BYTES")
    os.symlink(secret, folder / "demo" / "seg-00099.mp4")
    os.symlink(tmp_path, folder / "demo2")
    (tmp_path / "seg-00001.mp4").write_bytes(b"SECRET-BYTES")
    ok_url = f"/recordings/{incident_id}/demo/seg-00001.mp4"
    assert (await raw_get(relay.base_url, ok_url))[0] == 200
    targets = [
        f"/recordings/{incident_id}/demo/../manifest.json",
        f"/recordings/{incident_id}/../../data/audit.jsonl",
        f"/recordings/{incident_id}/demo/..%2Fmanifest.json",
        f"/recordings/{incident_id}/demo/%2e%2e%2fmanifest.json",
        f"/recordings/{incident_id}/%2e%2e/{incident_id}/manifest.json",
        f"/recordings/%2e%2e/{incident_id}/seg-00001.mp4",
        f"/recordings/{incident_id}/demo/%2e%2e%2f%2e%2e%2f%2e%2e%2fseg-00001.mp4",
        f"/recordings/{incident_id}/demo/%252e%252e%252fmanifest.json",
        f"/recordings/{incident_id}/demo/{tmp_path}/seg-00001.mp4",
        f"/recordings/{incident_id}/demo/%2F{str(tmp_path).lstrip('/')}%2Fseg-00001.mp4",
        "/recordings//etc/passwd/x",
        f"/recordings/{incident_id}/demo/seg-00001.mp4%00.jpg",
        f"/recordings/{incident_id}/demo/seg-00099.mp4",  # symlink to a file outside
        f"/recordings/{incident_id}/demo2/seg-00001.mp4",  # symlinked folder
        f"/recordings/{incident_id}/demo/..\\manifest.json",
        f"/recordings/{incident_id}/manifest.json/x",
    ]
    for target in targets:
        status, body = await raw_get(relay.base_url, target)
        assert 400 <= status < 500 and status not in (401, 403), (target, status)
        assert b"SECRET" not in body and b"root:" not in body and b'"recordings"' not in body


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"streams": ["demo"]}, 400, "bad_title"),
        ({"title": "", "streams": ["demo"]}, 400, "bad_title"),
        ({"title": "x" * 201, "streams": ["demo"]}, 400, "bad_title"),
        ({"title": "a\x00b", "streams": ["demo"]}, 400, "bad_title"),
        ({"title": "t", "streams": []}, 400, "bad_streams"),
        ({"title": "t", "streams": "demo"}, 400, "bad_streams"),
        ({"title": "t", "streams": ["demo", "demo"]}, 400, "bad_streams"),
        ({"title": "t", "streams": ["demo"] * 17}, 400, "bad_streams"),
        ({"title": "t", "streams": ["nosuch"]}, 404, "unknown_stream"),
        ({"title": "t", "streams": ["demo"], "note": 5}, 400, "bad_note"),
        ({"title": "t", "streams": ["demo"], "note": "n" * 2001}, 400, "bad_note"),
        ([1, 2], 400, "bad_json"),
    ],
)
async def test_bad_incident_requests(
    start_relay: RelayFactory, tmp_path: Path, body: object, status: int, error: str
) -> None:
    relay = await start_relay([SIM], **sections(tmp_path))
    got, reply = await call(relay.base_url, "POST", "/api/incidents", body)
    assert (got, reply["error"]) == (status, error), reply
    assert reply["reason"]
    assert not relay.relay.incidents.incidents


async def test_bad_requests_on_an_incident(start_relay: RelayFactory, tmp_path: Path) -> None:
    relay = await start_relay([SIM], **sections(tmp_path))
    base = relay.base_url
    assert (await call(base, "POST", "/api/incidents/nosuch/stop"))[0] == 404
    assert (await call(base, "GET", "/api/incidents/20260101T000000Z-abcdef"))[0] == 404
    async with relay.http() as http:
        async with http.post(base + "/api/incidents", data="title=x") as resp:
            assert resp.status == 415
        async with http.post(
            base + "/api/incidents", data="{nope", headers={"Content-Type": "application/json"}
        ) as resp:
            assert resp.status == 400 and (await resp.json())["error"] == "bad_json"
    await wait_for(lambda: relay.relay.streams["demo"].state == "live", 20, "the sim drone")
    _, body = await call(base, "POST", "/api/incidents", {"title": "t", "streams": ["demo"]})
    path = f"/api/incidents/{body['id']}"
    for clip, error in (
        ({"stream": "demo", "from_s": 5, "to_s": 3}, "bad_range"),
        ({"stream": "demo", "from_s": "0", "to_s": 3}, "bad_range"),
        ({"stream": "demo", "from_s": 0, "to_s": 4000}, "bad_range"),
        ({"stream": "other", "from_s": 0, "to_s": 3}, "bad_stream"),
    ):
        status, reply = await call(base, "POST", path + "/clips", clip)
        assert (status, reply["error"]) == (400, error), reply
    status, reply = await call(base, "POST", path + "/hold", {"hold": "yes"})
    assert (status, reply["error"]) == (400, "bad_hold")
    assert (await call(base, "POST", path + "/stop"))[0] == 200
    status, reply = await call(base, "POST", path + "/stop")
    assert (status, reply["error"]) == (409, "not_recording")
    status, reply = await call(base, "POST", path + "/snapshots", {"stream": "demo"})
    assert (status, reply["error"]) == (409, "not_recording")
