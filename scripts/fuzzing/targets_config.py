"""Config files: mutated TOML into the relay's config loader (in this process, fast), and
now and then into `python -m relay serve --config` itself. A bad file must end in
ConfigError (the CLI: exit 2 and one message), never another exception or a traceback."""

from __future__ import annotations

import asyncio
import json
import math
import random
import subprocess
import sys
import tempfile
import tomllib
import traceback
from pathlib import Path
from typing import Any

from relay.config import load_config
from relay.errors import ConfigError
from relay.tls import server_ssl_context
from scripts.fuzzing.mutate import mutate
from scripts.fuzzing.relay_proc import ROOT
from scripts.fuzzing.target import Ctx, Failure, Target

FULL_SEED = """
[server]
host = "127.0.0.1"
port = 8080
data_dir = "data"

[webrtc]
ice_addresses = ["127.0.0.1"]
ice_servers = ["stun:127.0.0.1:3478"]

[[streams]]
name = "fritz"
source = "rtmp://0.0.0.0:1935/live/fritz-key-0123456789"
renditions = ["720p", {name = "360p", bitrate = 500000}, "source"]

[[streams]]
name = "thermal"
source = "udp://0.0.0.0:5000"
renditions = ["480p"]

[[streams]]
name = "cam"
source = "whip:"
renditions = ["source"]

[recording]
dir = "data/recordings"
retention_days = 60

[limits]
max_viewers_per_stream = 200
max_viewers = 500
login_per_minute = 5
whep_per_minute = 600
whip_per_minute = 30

[auth]
session_hours = 12

[[auth.tokens]]
name = "elw-tablet-1"
token = "0123456789abcdef0123"
role = "viewer"
streams = ["fritz"]
publish = []

[[auth.users]]
name = "leitstelle"
password_hash = "scrypt$32768$8$1$c2FsdA$aGFzaA"
role = "operator"
streams = ["*"]
"""
CONFIG_VALUES: tuple[Any, ...] = (
    "",
    "x" * 5000,
    "sim://?size=99999x99999&fps=0&gop=-1",
    "rtmp://0.0.0.0:99999/live/k",
    "rtmp://0.0.0.0:1935/",
    "rtmp://[::1/live/k",
    "udp://:0",
    "file:/dev/zero",
    "whip:x",
    "rtsp://u:p@h:1/x?transport=sctp",
    "4k",
    "*",
    "/etc/passwd",
    "/dev/null",
    "..",
    "\u00e4\U0001f525",
    0,
    -1,
    2**63 - 1,
    -(2**63),
    1.5,
    math.inf,
    math.nan,
    True,
    [],
    {},
    ["*", "*"],
    [{"name": "720p", "bitrate": -1}],
    {"name": "4k"},
)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
        )
    return '""'


def dump_toml(data: dict[str, Any], prefix: str = "") -> str:
    """A small TOML writer: scalars and arrays inline, tables and arrays of tables as
    sections (enough for every shape the relay's config has)."""
    lines, later = [], []
    for key, value in data.items():
        name = f"{prefix}.{json.dumps(key)}" if prefix else json.dumps(key)
        if isinstance(value, dict) and value:
            later.append(f"\n[{name}]\n" + dump_toml(value, name))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                later.append(f"\n[[{name}]]\n" + dump_toml(item, name))
        else:
            lines.append(f"{json.dumps(key)} = {_toml_value(value)}")
    return "\n".join(lines) + "\n" + "".join(later)


def _mutate_tree(rng: random.Random, value: Any) -> Any:
    if isinstance(value, dict) and value and rng.random() < 0.8:
        out = dict(value)
        key = rng.choice(list(out))
        op = rng.randrange(5)
        if op == 0:
            del out[key]
        elif op == 1:
            out[key + "_x"] = rng.choice(CONFIG_VALUES)
        else:
            out[key] = _mutate_tree(rng, out[key])
        return out
    if isinstance(value, list) and value and rng.random() < 0.7:
        out_list = list(value)
        i = rng.randrange(len(out_list))
        if rng.random() < 0.2:
            out_list.append(out_list[i])  # a stream or token twice
        else:
            out_list[i] = _mutate_tree(rng, out_list[i])
        return out_list
    return rng.choice(CONFIG_VALUES)


def mutate_config(rng: random.Random, seeds: list[str]) -> bytes:
    text = rng.choice(seeds)
    if rng.random() < 0.7:
        tree = tomllib.loads(text)
        for _ in range(rng.randint(1, 4)):
            mutated = _mutate_tree(rng, tree)
            tree = mutated if isinstance(mutated, dict) else tree  # a file is a table
        text = dump_toml(tree)
    data = text.encode("utf-8", "surrogatepass")
    if rng.random() < 0.3:
        lines = data.split(b"\n")
        for _ in range(rng.randint(1, 3)):
            if not lines:  # every line deleted already: an empty file is a case too
                break
            i = rng.randrange(len(lines))
            if rng.random() < 0.5:
                del lines[i]
            else:
                lines.insert(i, lines[i])
        data = b"\n".join(lines)
    if rng.random() < 0.3:
        data = mutate(rng, data, others=[s.encode() for s in seeds], rounds=2)
    return data


def check_config(path: Path) -> str | None:
    """None when the loader accepts the file or refuses it with a ConfigError; otherwise
    the traceback of what escaped."""
    try:
        config = load_config(path)
        server_ssl_context(config.server, config.origin)
    except ConfigError:
        return None
    except Exception:
        return traceback.format_exc()
    return None


class ConfigFiles(Target):
    name = "config"
    check_every = 100
    judges_stream = False  # each case is a fresh loader (or a fresh `serve`), not the relay
    cli_every = 50  # one case in 50 also goes through the real command

    def __init__(self) -> None:
        self.seeds = [FULL_SEED] + [
            p.read_text() for p in sorted((ROOT / "configs").glob("*.toml"))
        ]
        self.folder = Path(tempfile.mkdtemp(prefix="fuzz-config-"))

    async def case(self, ctx: Ctx, rng: random.Random, index: int) -> None:
        path = self.folder / f"case-{index}.toml"
        path.write_bytes(mutate_config(rng, self.seeds))
        try:
            escaped = await asyncio.to_thread(check_config, path)
            if escaped:
                raise Failure(f"config loader: {escaped[-1500:]}")
            if index % self.cli_every == 0:
                await asyncio.to_thread(self._cli, path)
        finally:
            path.unlink(missing_ok=True)

    def _cli(self, path: Path) -> None:
        try:
            load_config(path)
        except ConfigError:
            pass
        else:
            return  # a valid config would start a relay: the loader's check is enough
        run = subprocess.run(
            ["nice", "-n", "19", sys.executable, "-m", "relay", "serve", "--config", str(path)],
            capture_output=True,
            timeout=60,
            cwd=self.folder,
        )
        err = run.stderr.decode("utf-8", "replace")
        if run.returncode != 2 or "Traceback" in err or "config error" not in err:
            raise Failure(f"drone-relay serve --config: exit {run.returncode}: {err[-1500:]}")
