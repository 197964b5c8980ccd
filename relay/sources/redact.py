"""Source URLs with their secrets taken out: the one function every message, answer, log line,
audit event and manifest uses before a source URL (or an error text that may embed one) leaves.

The secrets of a source URL are: user and password (rtsp://user:pass@cam), the RTMP stream
key (the last path segment of rtmp[s]://host:port/app/KEY: whoever knows it may publish), and
query values other than the few harmless parameters our own schemes define (a camera's
``?token=…``). FFmpeg's errors quote the URL they failed on, sometimes percent-decoded, so
error texts are scrubbed twice: every URL in them is redacted, and every secret of the
configured URL is replaced wherever it appears.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, quote, unquote, urlsplit

HIDDEN = "***"

# Query parameters our schemes define (sim://?size=&fps=&gop=, rtsp://…?transport=, an RTP
# output's ?pt=): not secret.
HARMLESS_QUERY = frozenset({"size", "fps", "gop", "transport", "pt"})

# scheme://rest-of-URL inside free text, up to whitespace or a quote/bracket that ends it;
# a trailing ':' '.' '!' '?' is the sentence's, not the URL's.
_URL_IN_TEXT = re.compile(
    r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>()\[\]{},;]*[^\s'\"<>()\[\]{},;:.!?]"
)

_MIN_SECRET = 3  # shorter "secrets" (an empty password, "a") would shred every message


def redact_url(url: str) -> str:
    """The URL without user:password, RTMP key or query tokens; other text is unchanged."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return _scheme_only(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{HIDDEN}@" + (f"{host}:{port}" if port else (host or ""))
    path = parts.path
    if parts.scheme.lower() in ("rtmp", "rtmps"):
        head, _, key = path.rstrip("/").rpartition("/")
        if key:
            path = f"{head}/{HIDDEN}"
    query = "&".join(
        f"{k}={v if k in HARMLESS_QUERY else HIDDEN}"
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    )
    if parts.query and not query:
        query = HIDDEN  # a bare ?secret with no name=value pairs
    # Put together by hand: urlunsplit would turn sim://?… into sim:?… and file:x into file:///x.
    slashes = "//" if url[len(parts.scheme) + 1 :].startswith("//") else ""
    return f"{parts.scheme}:{slashes}{netloc}{path}" + (f"?{query}" if query else "")


def secrets_of(url: str) -> frozenset[str]:
    """The secret strings of a source URL, as written and percent-decoded."""
    try:
        parts = urlsplit(url)
        found = {parts.username or "", parts.password or ""}
    except ValueError:
        return frozenset()
    if parts.scheme.lower() in ("rtmp", "rtmps"):
        found.add(parts.path.rstrip("/").rpartition("/")[2])
    found.update(
        v for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in HARMLESS_QUERY
    )
    both = {s for f in found for s in (f, unquote(f), quote(unquote(f), safe=""))}
    return frozenset(s for s in both if len(s) >= _MIN_SECRET)


def redact_text(text: str, secrets: frozenset[str] = frozenset()) -> str:
    """An error or log text with every URL in it redacted and each of `secrets` hidden."""
    text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
    for secret in sorted(secrets, key=len, reverse=True):  # the longest first
        text = text.replace(secret, HIDDEN)
    return text


def _scheme_only(url: str) -> str:
    scheme, sep, _ = url.partition(":")
    return f"{scheme}:{HIDDEN}" if sep else HIDDEN


class RedactingFilter(logging.Filter):
    """The text log's last line of defence: a handler filter that hides the configured
    sources' secrets in any record, also from libraries that quote a URL (aiortc, PyAV,
    aiohttp). The relay's own messages are redacted where they are made; this catches the rest.
    """

    def __init__(self, secrets: frozenset[str]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        if any(s in message for s in self.secrets):
            record.msg, record.args = redact_text(message, self.secrets), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text, self.secrets)
        return True


def redact_log(urls: list[str]) -> None:
    """Puts a RedactingFilter for the secrets of `urls` on every handler of the root logger."""
    found = frozenset(s for url in urls for s in secrets_of(url))
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter(found))
