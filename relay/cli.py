"""The `drone-relay` command: serve the relay; usage errors exit with status 2."""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from collections.abc import Sequence
from dataclasses import replace

from aiohttp import web

from relay import __version__
from relay.config import Config, load_config
from relay.errors import ConfigError

log = logging.getLogger("relay")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="drone-relay",
        description="Real-time video relay for fire-brigade drones (WebRTC, WHEP).")
    parser.add_argument("--version", action="version", version=f"drone-relay {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser("serve", help="run the relay")
    serve.add_argument("--config", metavar="FILE",
                       help="TOML config (default: the built-in configs/default.toml)")
    serve.add_argument("--host", help="address to listen on (overrides [server] host)")
    serve.add_argument("--port", type=int, help="port to listen on (overrides [server] port)")
    serve.add_argument("--log-level", default="info",
                       choices=["debug", "info", "warning", "error"])
    verify = sub.add_parser("verify", help="check an incident folder against its manifest")
    verify.add_argument("incident_dir", metavar="INCIDENT_DIR")
    verify.add_argument("--audit", metavar="FILE",
                        help="also check the manifest's hash against this audit log")
    return parser


def verify(folder: str, audit: str | None) -> int:
    """Exit 0 when every file matches the manifest, 1 on a mismatch, 2 on bad arguments."""
    from pathlib import Path

    from relay.recording.verify import verify_incident

    if not Path(folder).is_dir():
        print(f"drone-relay: {folder}: not a folder", file=sys.stderr)
        return 2
    if audit is not None and not Path(audit).is_file():
        print(f"drone-relay: {audit}: no such audit log", file=sys.stderr)
        return 2
    try:
        report = verify_incident(Path(folder), Path(audit) if audit else None)
    except (OSError, ValueError) as exc:
        print(f"drone-relay: {folder}: no readable manifest.json: {exc}", file=sys.stderr)
        return 2
    for name in report.checked:
        print(f"ok        {name}")
    for note in report.notes:
        print(f"note      {note}")
    for problem in report.problems:
        print(f"MISMATCH  {problem}")
    print(f"manifest.json sha256 {report.manifest_sha256}")
    print(f"{len(report.checked)} files ok, {len(report.problems)} problems")
    return 0 if report.ok else 1


def _urls(host: str, port: int) -> list[str]:
    if host not in ("0.0.0.0", "::", ""):
        shown = f"[{host}]" if ":" in host else host
        return [f"http://{shown}:{port}/"]
    urls = [f"http://127.0.0.1:{port}/"]
    try:
        # The address a tablet on the vehicle's LAN would use (no packet is sent).
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.255.255.255", 1))
            urls.append(f"http://{probe.getsockname()[0]}:{port}/")
    except OSError:
        pass
    return urls


def serve(config: Config) -> int:
    from relay.api.factory import create_app

    host, port = config.server.host, config.server.port
    app = create_app(config)

    def announce(_aiohttp_banner: str) -> None:
        # run_app calls this once its sockets listen: the URL printed is ready to open.
        for url in _urls(host, port):
            print(f"drone-relay {__version__} serving: open {url}", flush=True)

    try:
        # run_app closes every peer, source and socket on SIGINT/SIGTERM, then returns.
        web.run_app(app, host=host, port=port, print=announce, shutdown_timeout=3.0,
                    handle_signals=True, access_log=None)
    except OSError as exc:
        print(f"drone-relay: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=getattr(args, "log_level", "warning").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aioice").setLevel(logging.WARNING)
    logging.getLogger("aiortc").setLevel(logging.WARNING)
    if args.command == "serve":
        try:
            config = load_config(args.config)
        except ConfigError as exc:
            print(f"drone-relay: config error: {exc}", file=sys.stderr)
            return 2
        if args.host is not None:
            config = replace(config, server=replace(config.server, host=args.host))
        if args.port is not None:
            if not 0 <= args.port <= 65535:
                print("drone-relay: --port must be within 0..65535", file=sys.stderr)
                return 2
            config = replace(config, server=replace(config.server, port=args.port))
        return serve(config)
    if args.command == "verify":
        return verify(args.incident_dir, args.audit)
    return 2

