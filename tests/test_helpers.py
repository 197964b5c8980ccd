"""The helpers written once: drop-oldest queues (relay.queues), synced files (relay.durable)."""

from __future__ import annotations

import os
import queue
import stat
from pathlib import Path

import pytest

from relay.durable import append_synced, create_synced, replace_synced, truncate_synced
from relay.queues import drain, put_dropping_oldest


def test_a_full_queue_loses_its_oldest_items_and_counts_them() -> None:
    q: queue.Queue[int] = queue.Queue(maxsize=2)
    assert [put_dropping_oldest(q, i) for i in range(5)] == [0, 0, 1, 1, 1]
    assert [q.get_nowait(), q.get_nowait()] == [3, 4]  # the latest two
    for i in range(2):
        q.put_nowait(i)
    assert drain(q) == 2 and q.empty() and drain(q) == 0


def test_synced_files(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    append_synced(log, b"a\n")
    append_synced(log, b"b\n")
    assert log.read_bytes() == b"a\nb\n" and stat.S_IMODE(log.stat().st_mode) == 0o600

    manifest = tmp_path / "manifest.json"
    replace_synced(manifest, b"old")
    replace_synced(manifest, b"new", 0o640)
    assert manifest.read_bytes() == b"new"
    assert sorted(os.listdir(tmp_path)) == ["audit.jsonl", "manifest.json"]  # no temp left

    snap = tmp_path / "snap.jpg"
    create_synced(snap, b"\xff\xd8" * 100_000)
    assert snap.stat().st_size == 200_000
    with pytest.raises(FileExistsError):
        create_synced(snap, b"again")  # never overwrites
    truncate_synced(snap, 10)
    assert snap.read_bytes() == b"\xff\xd8" * 5
