"""An incident spanning streams, seen by an operator allowed only one of them (audit finding 1:
this operator used to record, snapshot, list, watch and stop the other stream's incidents)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.api.test_route_table import ALPHA, BRAVO
from tests.conftest import TOKENS, RelayFactory, wait_for
from tests.recording.api import call

ALPHA_OPERATOR = "alpha-operator-token-0123456789"
AS_ALPHA = {"Authorization": f"Bearer {ALPHA_OPERATOR}"}
TOKENS_HERE = [
    *TOKENS,
    {"name": "alpha-op", "token": ALPHA_OPERATOR, "role": "operator", "streams": ["alpha"]},
]


async def test_an_incident_is_shown_with_the_permitted_streams_only(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    relay = await start_relay(
        [ALPHA, BRAVO], auth={"tokens": TOKENS_HERE}, recording={"dir": str(tmp_path / "rec")}
    )
    for name in ("alpha", "bravo"):
        stream = relay.relay.streams[name]
        await wait_for(lambda s=stream: s.state == "live", 30, f"{name} live")  # type: ignore[misc]
    base = relay.base_url
    status, body = await call(
        base, "POST", "/api/incidents", {"title": "Brand", "streams": ["alpha", "bravo"]}
    )
    assert status == 201, body
    both = body["id"]
    status, body = await call(base, "POST", "/api/incidents", {"title": "B", "streams": ["bravo"]})
    bravo_only = body["id"]
    recorders = relay.relay.incidents.get(both).recorders
    await wait_for(lambda: min(r.written for r in recorders.values()) >= 15, 30, "a second")

    # Starting a recording of bravo, or one that includes bravo: refused.
    for streams in (["bravo"], ["alpha", "bravo"]):
        status, body = await call(
            base, "POST", "/api/incidents", {"title": "x", "streams": streams}, AS_ALPHA
        )
        assert status == 403 and "bravo" in body["reason"], body

    # The list: the shared incident with alpha only; bravo's own incident not at all.
    status, body = await call(base, "GET", "/api/incidents", None, AS_ALPHA)
    assert status == 200
    listed: dict[str, Any] = {i["id"]: i for i in body["incidents"]}
    assert set(listed) == {both}, listed
    assert listed[both]["streams"] == ["alpha"]
    assert [r["stream"] for r in listed[both]["recordings"]] == ["alpha"]

    # bravo's clip and closed segment leave audit events (segment_closed names its file).
    status, body = await call(
        base, "POST", f"/api/incidents/{both}/clips", {"stream": "bravo", "from_s": 0, "to_s": 1}
    )
    assert status in (201, 409), body
    await call(base, "POST", f"/api/incidents/{both}/snapshots", {"stream": "bravo"})

    # The detail: alpha's recordings and audit events, not a word of bravo.
    status, detail = await call(base, "GET", f"/api/incidents/{both}", None, AS_ALPHA)
    assert status == 200 and "bravo" not in str(detail), detail
    assert detail["audit"], "the incident's own events are shown (cut to alpha)"
    status, body = await call(base, "GET", f"/api/incidents/{bravo_only}", None, AS_ALPHA)
    assert status == 403, body

    # Snapshots and files: alpha's yes, bravo's no.
    status, snap = await call(
        base, "POST", f"/api/incidents/{both}/snapshots", {"stream": "alpha"}, AS_ALPHA
    )
    assert status == 201, snap
    status, body = await call(
        base, "POST", f"/api/incidents/{both}/snapshots", {"stream": "bravo"}, AS_ALPHA
    )
    assert status == 403, body
    _, full = await call(base, "GET", f"/api/incidents/{both}")  # the admin sees both
    urls = {r["stream"]: r["segments"][0]["url"] for r in full["recordings"]}
    status, data = await call(base, "GET", urls["alpha"], None, AS_ALPHA)
    assert status == 200 and isinstance(data, bytes) and len(data) > 1000
    status, _ = await call(base, "GET", urls["bravo"], None, AS_ALPHA)
    assert status == 403

    # Stopping ends bravo's recording too: only who may watch every stream may stop it.
    status, body = await call(base, "POST", f"/api/incidents/{both}/stop", None, AS_ALPHA)
    assert status == 403, body
    assert relay.relay.incidents.get(both).active
    status, body = await call(base, "POST", f"/api/incidents/{both}/stop")
    assert status == 200 and body["status"] != "recording", body

    # Stopped: every segment closed (segment_closed names bravo's files); still not a word.
    _, full = await call(base, "GET", f"/api/incidents/{both}")
    kinds = {e["event"] for e in full["audit"]}
    assert {"segment_closed", "snapshot"} <= kinds and "bravo/" in str(full["audit"]), kinds
    status, detail = await call(base, "GET", f"/api/incidents/{both}", None, AS_ALPHA)
    assert status == 200 and "bravo" not in str(detail), detail["audit"]
    assert "alpha/" in str(detail["audit"])


async def test_the_scope_check_reads_a_body_as_the_handler_does(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    relay = await start_relay(
        [ALPHA, BRAVO], auth={"tokens": TOKENS_HERE}, recording={"dir": str(tmp_path / "rec")}
    )
    url = relay.base_url + "/api/incidents"
    # Not UTF-8, but valid in its declared charset: the handler would read streams=["bravo"].
    latin1 = '{"title": "Br\xe4nde", "streams": ["bravo"]}'.encode("latin-1")
    sent = [
        (latin1, "application/json; charset=latin-1", 403),
        (latin1, "application/json", 400),  # not UTF-8: unreadable, refused
        (b'{"title": "t", "streams": ["bravo"]}', "application/json; charset=bogus", 415),
        (b"[" * 20000, "application/json", 400),
        (b"title=t&streams=bravo", "application/x-www-form-urlencoded", 415),
    ]
    async with relay.http(ALPHA_OPERATOR) as http:
        for body, content_type, status in sent:
            async with http.post(url, data=body, headers={"Content-Type": content_type}) as resp:
                answer = await resp.json()
                assert resp.status == status, (content_type, body[:40], answer)
    assert not relay.relay.incidents.incidents


async def test_free_text_about_a_stream_it_may_not_watch_is_withheld(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    """Titles and notes are typed by people and name whatever they like: an identity that
    may watch only part of an incident sees its free text nowhere (list, detail, audit)."""
    relay = await start_relay(
        [ALPHA, BRAVO], auth={"tokens": TOKENS_HERE}, recording={"dir": str(tmp_path / "rec")}
    )
    base = relay.base_url
    body = {"title": "Brand, bravo filmt hinten", "note": "bravo: Dach", "streams": ["alpha"]}
    status, own = await call(base, "POST", "/api/incidents", body)
    assert status == 201, own
    status, both = await call(
        base, "POST", "/api/incidents", {**body, "streams": ["alpha", "bravo"]}
    )
    assert status == 201, both
    status, _ = await call(base, "POST", f"/api/incidents/{both['id']}/stop")
    assert status == 200

    status, listed = await call(base, "GET", "/api/incidents", None, AS_ALPHA)
    assert status == 200
    shown = {i["id"]: i for i in listed["incidents"]}
    # An incident of alpha alone is alpha's: its text is shown, whatever it names.
    assert shown[own["id"]]["title"] == body["title"], shown
    assert "bravo" not in str(shown[both["id"]]), shown[both["id"]]
    assert shown[both["id"]]["withheld"] == ["title", "note"]
    status, detail = await call(base, "GET", f"/api/incidents/{both['id']}", None, AS_ALPHA)
    assert status == 200 and "bravo" not in str(detail), detail
    kinds = {e["event"] for e in detail["audit"]}
    assert {"incident_start", "incident_stop"} <= kinds, detail["audit"]
    start = next(e for e in detail["audit"] if e["event"] == "incident_start")
    assert start["streams"] == ["alpha"] and "title" in start["withheld"], start
    # Who may watch every stream sees it all.
    status, full = await call(base, "GET", f"/api/incidents/{both['id']}")
    assert full["title"] == body["title"] and "withheld" not in full, full
    start = next(e for e in full["audit"] if e["event"] == "incident_start")
    assert start["title"] == body["title"], start
    # The whole audit log names every stream and login: not for a scoped identity.
    status, answer = await call(base, "GET", "/api/audit", None, AS_ALPHA)
    assert status == 403, answer


async def test_the_incidents_page_says_when_free_text_is_withheld(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    """The page shows the label, not a blank title, and never the text itself."""
    from tests.e2e.browser import chromium, until

    relay = await start_relay(
        [ALPHA, BRAVO], auth={"tokens": TOKENS_HERE}, recording={"dir": str(tmp_path / "rec")}
    )
    body = {"title": "Brand, bravo filmt hinten", "streams": ["alpha", "bravo"]}
    status, both = await call(relay.base_url, "POST", "/api/incidents", body)
    assert status == 201, both
    async with chromium() as context:
        page = await context.new_page()  # type: ignore[attr-defined]
        await page.goto(f"{relay.base_url}/login?token={ALPHA_OPERATOR}")
        await page.goto(relay.base_url + "/incidents")
        titles = await until(
            page,
            "() => [...document.querySelectorAll('.inc-item-title')].map((e) => e.textContent)",
            lambda shown: len(shown) == 1,
            15,
            "the incident in the list",
        )
        assert titles == ["(verborgen: betrifft Streams ohne Freigabe)"], titles
        assert "bravo" not in await page.content()
