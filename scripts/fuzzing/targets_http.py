"""HTTP targets: every JSON body route and the query parameters and path segments of every
GET route, found by walking the relay's own route table (SDP offers: targets_sdp.py)."""

from __future__ import annotations

import json
import random
import re
import tempfile
from typing import Any
from urllib.parse import quote

from scripts.fuzzing.http_request import request
from scripts.fuzzing.mutate import mutate
from scripts.fuzzing.target import Ctx, Target

SDP_ROUTES = ("/whep/{stream}", "/whip/{stream}")


def routes() -> list[tuple[str, str]]:
    """(method, canonical path) of every route of an app built as the relay builds it."""
    from relay.api.factory import create_app
    from relay.config import parse_config

    with tempfile.TemporaryDirectory(prefix="fuzz-routes-") as folder:
        config = parse_config(
            {
                "server": {"data_dir": folder},
                "recording": {"dir": folder + "/rec"},
                "streams": [{"name": "x", "source": "sim://", "renditions": ["source"]}],
                "auth": {
                    "tokens": [{"name": "r", "token": "r" * 32, "role": "admin", "streams": ["*"]}]
                },
            },
            "<routes>",
        )
        app = create_app(config)
        found = {
            (r.method, r.resource.canonical)
            for r in app.router.routes()
            if r.resource is not None and not r.resource.canonical.startswith("/static")
        }
    return sorted(found)


# --- JSON bodies ---------------------------------------------------------------------------

SEED_BODIES: dict[str, list[dict[str, Any]]] = {
    "/api/login": [{"name": "fuzz", "password": "wrong-password"}],
    "/api/logout": [{}],
    "/api/share": [{"stream": "watch", "expires_in_s": 3600}],
    "/api/incidents": [{"title": "Fuzz", "streams": ["watch"], "note": "n"}],
    "/api/incidents/{id}/stop": [{}],
    "/api/incidents/{id}/hold": [{"hold": True}],
    "/api/incidents/{id}/clips": [{"stream": "watch", "from_s": 0, "to_s": 1}],
    "/api/incidents/{id}/snapshots": [{"stream": "watch"}],
}
EXTREMES: tuple[Any, ...] = (
    None,
    True,
    0,
    -1,
    1e308,
    -1e308,
    2**64,
    -(2**63),
    0.5,
    "",
    "x" * 20000,
    "watch\x00",
    "../../etc/passwd",
    "\u202e\U0001f525",
    "line\nforged",
    [],
    {},
    ["watch"] * 500,
    {"a": {"b": {"c": [1, [2, [3]]]}}},
)


def _mutate_tree(rng: random.Random, value: Any, depth: int = 0) -> Any:
    if isinstance(value, dict) and value and rng.random() < 0.7:
        key = rng.choice(list(value))
        out = dict(value)
        op = rng.randrange(4)
        if op == 0:
            del out[key]
        elif op == 1:
            out[key + rng.choice(("", "_", "\u00e4"))] = rng.choice(EXTREMES)
        else:
            out[key] = _mutate_tree(rng, out[key], depth + 1)
        return out
    if isinstance(value, list) and value and rng.random() < 0.5:
        out_list = list(value)
        i = rng.randrange(len(out_list))
        out_list[i] = _mutate_tree(rng, out_list[i], depth + 1)
        return out_list
    return rng.choice(EXTREMES)


def mutate_json(rng: random.Random, seed: dict[str, Any], known_too: bool) -> bytes:
    tree: Any = seed
    for _ in range(rng.randint(1, 3)):
        tree = _mutate_tree(rng, tree)
    if rng.random() < 0.1:
        tree = rng.choice(([tree], "text", 7, None, [[[[tree]]]] * 3))
    data = json.dumps(tree, ensure_ascii=rng.random() < 0.5).encode()
    if rng.random() < 0.3:
        data = mutate(rng, data, rounds=2)
    if known_too and rng.random() < 0.02:  # the filed ones, so that their fix shows here
        data = rng.choice((b"[" * 20000, b'{"name": "\\ud800", "password": "x"}'))
    return data


class JsonBodies(Target):
    """Every POST route except WHEP/WHIP (their bodies are SDP), from the route table: a
    route added later is fuzzed with generic bodies until it gets seeds of its own. Path
    ids are a real incident's or garbage; incidents a case starts are stopped again."""

    name = "json"
    concurrency = 4
    check_every = 100

    def __init__(self, known_too: bool = True) -> None:
        self.known_too = known_too

    async def setup(self, ctx: Ctx) -> None:
        self.routes = [
            p for m, p in routes() if m in ("POST", "PUT", "PATCH") and p not in SDP_ROUTES
        ]
        self.routes = [p for p in self.routes if not p.endswith("/{session}")]
        status, _, body = await request(
            ctx,
            "POST",
            "/api/incidents",
            json.dumps({"title": "fuzz", "streams": ["watch"]}).encode(),
            "application/json",
        )
        self.incident = json.loads(body)["id"] if status == 201 else "none"

    async def case(self, ctx: Ctx, rng: random.Random, index: int) -> None:
        route = rng.choice(self.routes)
        seeds = SEED_BODIES.get(route, [{}, {"name": "x", "stream": "watch"}])
        body = mutate_json(rng, rng.choice(seeds), self.known_too)
        ident = (
            self.incident if rng.random() < 0.7 else rng.choice(("x", "..", "%2e%2e", "0" * 300))
        )
        path = re.sub(r"\{\w+(:[^}]*)?\}", ident, route)
        content_type = "application/json"
        if rng.random() < 0.05:
            content_type = rng.choice(("text/plain", "application/json; charset=utf-8", ""))
        if self.known_too and rng.random() < 0.01:
            content_type = "application/json; charset=bogus"
        status, _, answer = await request(ctx, "POST", path, body, content_type)
        if route == "/api/incidents" and status == 201:
            ident = json.loads(answer)["id"]
            await request(ctx, "POST", f"/api/incidents/{ident}/stop", b"{}", "application/json")


# --- query parameters and path segments of GET routes --------------------------------------

QUERY_KEYS = ("limit", "event", "rendition", "token", "stream", "from", "to", "x")
QUERY_VALUES = (
    "500",
    "-1",
    "0",
    "99999999999999999999",
    "1e3",
    "",
    "login",
    "%00",
    "%ff%fe",
    "%C2%B2",
    "\u00e4",
    "a" * 5000,
    "240p",
    "source",
    "..%2f..%2f",
    "[]",
    "{}",
)


class QueryParams(Target):
    """Every GET route, its path ids filled with valid or mutated values, its query with
    known and unknown keys, repeated keys, odd escapes and values at their extremes."""

    name = "query"
    concurrency = 4
    check_every = 100

    async def setup(self, ctx: Ctx) -> None:
        self.routes = [p for m, p in routes() if m == "GET"]

    def _value(self, rng: random.Random) -> str:
        value = rng.choice(QUERY_VALUES)
        if rng.random() < 0.3:
            value = mutate(rng, value.encode(), rounds=2).decode("latin-1")
        return quote(value, safe="%") if rng.random() < 0.8 else value

    async def case(self, ctx: Ctx, rng: random.Random, index: int) -> None:
        route = rng.choice(self.routes)
        fills = ("watch", "udp", "nosuch", "seg-00000.mp4", "a.b.c.d") + QUERY_VALUES[:4]

        def fill(_m: re.Match[str]) -> str:
            return rng.choice(fills) if rng.random() < 0.6 else self._value(rng)

        path = re.sub(r"\{\w+(:[^}]*)?\}", fill, route)
        pairs = [f"{rng.choice(QUERY_KEYS)}={self._value(rng)}" for _ in range(rng.randint(0, 4))]
        if rng.random() < 0.1:
            pairs.append(rng.choice(("&&", "=", "a", "%", "limit", "limit=1&limit=2")))
        url = path + ("?" + "&".join(pairs) if pairs else "")
        headers: dict[str, str] = {}
        if rng.random() < 0.2:  # no credentials, or wrong ones
            headers["Authorization"] = rng.choice(
                ("", "Bearer x", "Basic a", "Bearer " + "y" * 300)
            )
        if rng.random() < 0.1:
            headers["Range"] = rng.choice(
                ("bytes=0-", "bytes=-1", "bytes=9-2", "bytes=x", "bytes=0-99999999999999999999")
            )
        if rng.random() < 0.1:
            headers["Accept"] = "text/html"
        try:
            url.encode("ascii")
        except UnicodeEncodeError:
            url = quote(url, safe="/?&=%")
        await request(ctx, "GET", url, headers=headers)
