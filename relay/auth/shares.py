"""Share links: a signed, expiring, revocable right to watch one stream, or (kind "kiosk", a
screen in public: relay/api/routes_kiosk.py) several streams' public renditions for months.

A link's token is ``STREAM.ID.EXPIRES.SIGNATURE``, the signature HMAC-SHA256 over the rest
with a secret kept in ``<data_dir>/share-secret`` (0600). Links and revocations are kept in
``<data_dir>/shares.json`` so that a revocation survives a restart. A kiosk link's token names
its first stream; the others, its title and cycle are kept in the store under its signed id.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from relay.auth.bootstrap import secret_file
from relay.auth.files import read_json, write_json

log = logging.getLogger(__name__)

SECRET_FILE = "share-secret"
STORE_FILE = "shares.json"
MIN_EXPIRY_S = 60
MAX_EXPIRY_S = 30 * 24 * 3600
# A kiosk is a screen on a wall: made once, it should not go dark every month.
MAX_KIOSK_EXPIRY_S = 365 * 24 * 3600
DEFAULT_KIOSK_EXPIRY_S = 30 * 24 * 3600
KINDS = ("watch", "kiosk")
MAX_LINKS = 1000  # unexpired ones; expired links are forgotten a day after their end
KEEP_EXPIRED_S = 24 * 3600


def now() -> float:
    """The clock links expire by (a seam for tests that cannot wait an hour)."""
    return time.time()


@dataclass(frozen=True)
class ShareLink:
    id: str
    stream: str
    expires: int  # Unix time, whole seconds (it is signed)
    created_by: str
    created: int
    revoked: bool = False
    kind: str = "watch"  # one of KINDS
    streams: tuple[str, ...] = ()  # a kiosk's streams, the first one being `stream`
    title: str = ""  # a kiosk's heading (the brigade's name when empty)
    cycle_s: int = 20  # a kiosk showing several streams moves on after this long

    def watches(self) -> tuple[str, ...]:
        """The streams this link lets its holder watch."""
        return self.streams or (self.stream,)

    def public(self, token: str) -> dict[str, object]:
        return {
            "id": self.id,
            "kind": self.kind,
            "stream": self.stream,
            "streams": list(self.watches()),
            "title": self.title,
            "expires": self.expires,
            "created_by": self.created_by,
            "created": self.created,
            "revoked": self.revoked,
            "url": self.path(token),
        }

    def path(self, token: str) -> str:
        """Where the link's holder goes: a kiosk opens its screen at once."""
        return f"/kiosk/{token}" if self.kind == "kiosk" else f"/s/{token}"


class ShareError(Exception):
    """A share link that does not grant anything; the message says why."""


class ShareLinks:
    """Makes, checks, lists and revokes share links."""

    def __init__(self, data_dir: Path) -> None:
        secret, _ = secret_file(data_dir / SECRET_FILE)
        self._key = secret.encode()
        self.path = data_dir / STORE_FILE
        self._links: dict[str, ShareLink] = {}
        for raw in read_json(self.path, []):
            try:
                link = ShareLink(**{**raw, "streams": tuple(raw.get("streams", ()))})
            except (TypeError, AttributeError):
                continue
            self._links[link.id] = link
        self._lock = asyncio.Lock()

    def _sign(self, stream: str, link_id: str, expires: int) -> str:
        mac = hmac.new(self._key, f"{stream}.{link_id}.{expires}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")

    def token(self, link: ShareLink) -> str:
        signature = self._sign(link.stream, link.id, link.expires)
        return f"{link.stream}.{link.id}.{link.expires}.{signature}"

    def create(
        self,
        stream: str,
        expires_in_s: int,
        created_by: str,
        *,
        kind: str = "watch",
        streams: tuple[str, ...] = (),
        title: str = "",
        cycle_s: int = 20,
    ) -> ShareLink:
        self._prune()
        if sum(1 for link in self._links.values() if link.expires > now()) >= MAX_LINKS:
            raise ShareError(f"{MAX_LINKS} share links are active: revoke some first")
        at = int(now())
        link = ShareLink(
            secrets.token_hex(8),
            stream,
            at + expires_in_s,
            created_by,
            at,
            kind=kind,
            streams=streams if kind == "kiosk" else (),
            title=title,
            cycle_s=cycle_s,
        )
        self._links[link.id] = link
        return link

    def verify(self, token: str) -> ShareLink:
        """The link a token stands for; ShareError when forged, expired or revoked."""
        parts = token.split(".")
        # isdigit() alone takes "²" and other digits int() cannot read: ASCII only.
        if len(parts) != 4 or not (parts[2].isascii() and parts[2].isdigit()) or len(token) > 200:
            raise ShareError("not a share link")
        stream, link_id, expires_text, signature = parts
        expires = int(expires_text)
        if not hmac.compare_digest(signature, self._sign(stream, link_id, expires)):
            raise ShareError("not a valid share link")
        link = self._links.get(link_id) or ShareLink(link_id, stream, expires, "?", 0)
        self.check(link)
        return link

    def check(self, link: ShareLink) -> None:
        """Raises ShareError when `link` no longer grants anything."""
        if self._links.get(link.id, link).revoked:
            raise ShareError("this share link was revoked")
        if link.expires <= now():
            raise ShareError("this share link has expired")

    def get(self, link_id: str) -> ShareLink | None:
        return self._links.get(link_id)

    def active(self) -> list[ShareLink]:
        """Links not yet expired (revoked ones too, marked), newest first."""
        at = now()
        return sorted(
            (x for x in self._links.values() if x.expires > at),
            key=lambda x: x.created,
            reverse=True,
        )

    def revoke(self, link_id: str) -> ShareLink | None:
        link = self._links.get(link_id)
        if link is None:
            return None
        self._links[link_id] = replace(link, revoked=True)
        return self._links[link_id]

    def _prune(self) -> None:
        cutoff = now() - KEEP_EXPIRED_S
        for link_id in [k for k, x in self._links.items() if x.expires < cutoff]:
            del self._links[link_id]

    async def save(self) -> bool:
        """Persists links and revocations (0600) in a thread; False when that failed."""
        async with self._lock:
            snapshot = [asdict(x) for x in self._links.values()]
            try:
                await asyncio.to_thread(write_json, self.path, snapshot)
            except OSError as exc:
                log.error("[auth] cannot save share links to %s: %s", self.path, exc)
                return False
        return True
