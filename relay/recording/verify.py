"""Checks an incident folder against its manifest: every file present, same size, same hash."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from relay.recording.manifest import MANIFEST, all_files, manifest_sha256, read_manifest
from relay.recording.segment import sha256_file


@dataclass
class Report:
    """What `drone-relay verify` found; ok when `problems` is empty."""

    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    manifest_sha256: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_incident(folder: Path, audit_log: Path | None = None) -> Report:
    """Re-hashes every file the manifest lists (blocking); raises ValueError/OSError when
    the folder holds no readable manifest."""
    report = Report()
    manifest = read_manifest(folder)
    report.manifest_sha256 = manifest_sha256(folder)
    root = folder.resolve()
    listed = {MANIFEST}
    for entry in all_files(manifest):
        name = str(entry.get("file", ""))
        listed.add(name)
        path = (folder / name).resolve()
        if not name or path.parent == root.parent or root not in path.parents:
            report.problems.append(f"{name}: path outside the incident folder")
            continue
        if entry.get("open"):
            report.notes.append(f"{name}: still being recorded, not sealed yet")
            continue
        if not path.is_file():
            report.problems.append(f"{name}: missing")
            continue
        digest, size = sha256_file(path)
        if size != entry.get("bytes"):
            report.problems.append(f"{name}: {size} bytes, manifest says {entry.get('bytes')}")
        elif digest != entry.get("sha256"):
            report.problems.append(
                f"{name}: SHA-256 {digest} does not match the manifest's {entry.get('sha256')}"
            )
        else:
            report.checked.append(name)
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and rel not in listed and not rel.startswith(f".{MANIFEST}"):
            report.problems.append(f"{rel}: not in the manifest")
    if audit_log is not None:
        _check_audit(manifest["id"], report, audit_log)
    return report


def _check_audit(incident: str, report: Report, audit_log: Path) -> None:
    logged = ""
    for line in audit_log.read_text("utf-8").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if (
            isinstance(event, dict)
            and event.get("incident") == incident
            and (event.get("manifest_sha256"))
        ):
            logged = str(event["manifest_sha256"])
    if not logged:
        report.problems.append(f"{MANIFEST}: no hash of it in {audit_log}")
    elif logged != report.manifest_sha256:
        report.problems.append(
            f"{MANIFEST}: SHA-256 {report.manifest_sha256} differs from "
            f"the last one in the audit log ({logged})"
        )
