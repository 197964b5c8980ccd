"""The text log's format: one record is one line, whatever text it carries.

Log messages quote what users typed (incident titles, login names, share-link paths). A
newline in such text would start a line that looks like the relay's own ("2026-… ERROR
relay…: …") and forge an event in the log; escaping here, in the one formatter, covers
every message without each call site having to remember it. A traceback appended to a
record keeps its lines (it comes from the relay, not from a user).
"""

from __future__ import annotations

import logging
import re

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# C0 and C1 controls, DEL, the Unicode line and paragraph separators, lone surrogates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def escape(text: str) -> str:
    """`text` with every character that could break or fake a log line escaped."""
    return _UNSAFE.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class SafeFormatter(logging.Formatter):
    """A Formatter whose message part is always one line."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        record.message = escape(record.message)
        return super().formatMessage(record)


def configure(level: str) -> None:
    """The process's logging: stderr, the relay's format, escaped messages."""
    handler = logging.StreamHandler()
    handler.setFormatter(SafeFormatter(FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler])
