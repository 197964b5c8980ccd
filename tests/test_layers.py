"""The layers point one way: no import cycle inside relay/, and no import against the grain.

Static, from the source (ast over relay/**/*.py): every import counts, also one inside a
function or under TYPE_CHECKING, since each of them is a dependency a reader has to follow.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "relay"

# package -> prefixes it must not import (None: anything of relay but itself)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    # Encoded media and clocks: the bottom layer, it imports nothing of the relay above it.
    "relay.media": ("relay.",),
    # Decode once, encode per rung: no transport, no fan-out policy.
    "relay.transcode": ("relay.webrtc", "aiortc", "relay.fanout", "relay.api", "relay.stream"),
    # Fan-out policy: no transport, no codec work.
    "relay.fanout": ("relay.webrtc", "aiortc", "relay.transcode", "relay.api", "relay.stream"),
    # WebRTC only carries packets: what a stream is and how it is transcoded is not its
    # business (a publisher sees its stream through a Protocol).
    "relay.webrtc": ("relay.stream", "relay.transcode", "relay.api", "relay.recording"),
    # The WebSocket/MSE fallback carries a rung's packets as fMP4, like WebRTC as RTP.
    "relay.mse": ("relay.webrtc", "aiortc", "relay.transcode", "relay.api", "relay.stream"),
    # Sources deliver access units; what happens to them later is none of their business.
    "relay.sources": ("relay.transcode", "relay.fanout", "relay.webrtc", "relay.api"),
}
ALLOWED_INSIDE = {"relay.media": ("relay.media",)}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(path: Path) -> Iterator[str]:
    """Every module name `path` imports (absolute, relative ones resolved)."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph() -> dict[str, set[str]]:
    """relay module -> the relay modules it imports."""
    paths = {module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        deps = set()
        for name in imported_names(path):
            # `from relay.x import y` names module relay.x.y, or attribute y of relay.x.
            while name and name not in paths:
                name = name.rpartition(".")[0]
            if name and name != module:
                deps.add(name)
        graph[module] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def layer(module: str) -> str:
    """relay.webrtc.track -> relay.webrtc; relay.stream -> relay.stream."""
    return ".".join(module.split(".")[:2])


def test_no_import_cycle_between_modules() -> None:
    assert cycles(import_graph()) == []


def test_no_import_cycle_between_layers() -> None:
    layers: dict[str, set[str]] = {}
    for module, deps in import_graph().items():
        layers.setdefault(layer(module), set()).update(
            layer(d) for d in deps if layer(d) != layer(module)
        )
    assert cycles(layers) == []


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_against_the_grain(package: str) -> None:
    wrong = []
    for path in sorted(ROOT.rglob("*.py")):
        module = module_name(path)
        if layer(module) != package:
            continue
        for name in set(imported_names(path)):
            inside = name.startswith(ALLOWED_INSIDE.get(package, (package,)))
            if not inside and name.startswith(FORBIDDEN[package]):
                wrong.append(f"{module} imports {name}")
    assert sorted(set(wrong)) == []


def test_the_checks_see_a_cycle_and_a_wrong_import() -> None:
    # The checks themselves: a cycle of three is found, and a direction rule matches.
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert "aiortc".startswith(FORBIDDEN["relay.fanout"])
