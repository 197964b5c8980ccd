"""Access to incidents: operators and admins only; hold is admin's."""

from __future__ import annotations

from pathlib import Path

from relay.api import routes_incidents
from relay.api.access import access_of
from tests.conftest import ADMIN_TOKEN, TOKENS, RelayFactory, wait_for
from tests.recording.api import call, sections

SIM = {"name": "demo", "source": "sim://?size=320x240&fps=15&gop=15", "renditions": ["360p"]}
VIEWER = "viewer-token-for-demo-0123456789"
OPERATOR = "operator-token-0123456789abcdef"
TOKENS_HERE = [
    *TOKENS,
    {"name": "tablet", "token": VIEWER, "role": "viewer", "streams": ["demo"]},
    {"name": "leitstelle", "token": OPERATOR, "role": "operator", "streams": ["*"]},
]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_every_incident_route_declares_its_access() -> None:
    for route in routes_incidents.routes:
        decision = access_of(route.handler)  # type: ignore[attr-defined]
        assert decision is not None, route
        expected = "admin" if route.path.endswith("/hold") else "operator"  # type: ignore[attr-defined]
        assert decision.need == expected, route


async def test_viewers_cannot_reach_incidents_operators_can_admins_hold(
    start_relay: RelayFactory, tmp_path: Path
) -> None:
    relay = await start_relay([SIM], **sections(tmp_path), auth={"tokens": TOKENS_HERE})
    await wait_for(lambda: relay.relay.streams["demo"].state == "live", 20, "the sim drone")
    status, body = await call(
        relay.base_url,
        "POST",
        "/api/incidents",
        {"title": "Hochwasser", "streams": ["demo"]},
        bearer(OPERATOR),
    )
    assert status == 201, body
    incident = body["id"]
    recorder = relay.relay.incidents.get(incident).recorders["demo"]
    await wait_for(lambda: recorder.written >= 15, 20, "a second recorded")
    status, _ = await call(
        relay.base_url, "POST", f"/api/incidents/{incident}/stop", None, bearer(OPERATOR)
    )
    assert status == 200
    status, detail = await call(
        relay.base_url, "GET", f"/api/incidents/{incident}", None, bearer(OPERATOR)
    )
    segment = detail["recordings"][0]["segments"][0]["url"]
    for method, path in [
        ("GET", "/api/incidents"),
        ("GET", f"/api/incidents/{incident}"),
        ("POST", "/api/incidents"),
        ("GET", segment),
        ("POST", f"/api/incidents/{incident}/hold"),
    ]:
        anonymous, _ = await call(relay.base_url, method, path, {}, {})
        viewer, answer = await call(relay.base_url, method, path, {}, bearer(VIEWER))
        assert (anonymous, viewer) == (401, 403), (method, path, anonymous, viewer, answer)
    status, answer = await call(relay.base_url, "GET", segment, None, bearer(OPERATOR))
    assert status == 200 and isinstance(answer, bytes) and len(answer) > 1000
    status, answer = await call(
        relay.base_url, "POST", f"/api/incidents/{incident}/hold", {"hold": True}, bearer(OPERATOR)
    )
    assert status == 403, answer
    status, answer = await call(
        relay.base_url,
        "POST",
        f"/api/incidents/{incident}/hold",
        {"hold": True},
        bearer(ADMIN_TOKEN),
    )
    assert status == 200, answer
    events = {(e["event"], e["who"]) for e in relay.relay.audit.read()}
    assert ("incident_start", "leitstelle") in events, events
