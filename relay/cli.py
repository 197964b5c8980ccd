"""The `drone-relay` command: serve the relay; usage errors exit with status 2."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import ssl
import sys
from collections.abc import Callable, Sequence

from aiohttp import web
from msgspec.structs import replace

from relay import __version__, logs, selfsigned
from relay.config import Config, load_config
from relay.config.base import Invalid
from relay.errors import ConfigError
from relay.tls import server_ssl_context

log = logging.getLogger("relay")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="drone-relay",
        description="Real-time video relay for fire-brigade drones (WebRTC, WHEP).",
    )
    parser.add_argument("--version", action="version", version=f"drone-relay {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser("serve", help="run the relay")
    serve.add_argument(
        "--config", metavar="FILE", help="TOML config (default: the built-in configs/default.toml)"
    )
    serve.add_argument("--host", help="address to listen on (overrides [server] host)")
    serve.add_argument("--port", type=int, help="port to listen on (overrides [server] port)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    sub.add_parser(
        "hash-password",
        help="print a password hash for [[auth.users]] "
        "(reads the password from stdin, or asks without echo)",
    )
    selfsigned.add_parser(sub)
    verify = sub.add_parser("verify", help="check an incident folder against its manifest")
    verify.add_argument("incident_dir", metavar="INCIDENT_DIR")
    verify.add_argument(
        "--audit", metavar="FILE", help="also check the manifest's hash against this audit log"
    )
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


def _urls(host: str, port: int, scheme: str = "http") -> list[str]:
    if host not in ("0.0.0.0", "::", ""):
        shown = f"[{host}]" if ":" in host else host
        return [f"{scheme}://{shown}:{port}/"]
    urls = [f"{scheme}://127.0.0.1:{port}/"]
    try:
        # The address a tablet on the vehicle's LAN would use (no packet is sent).
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.255.255.255", 1))
            urls.append(f"{scheme}://{probe.getsockname()[0]}:{port}/")
    except OSError:
        pass
    return urls


def serve(config: Config, ssl_context: ssl.SSLContext | None = None) -> int:
    from relay.api.factory import create_app
    from relay.api.keys import AUTH

    host, port = config.server.host, config.server.port
    app = create_app(config)
    # No [auth] configured: the URL logs the browser in with the bootstrap admin token.
    token = app[AUTH].bootstrap_token
    login = f"login?token={token}" if token else ""

    def announce() -> None:
        # Called once the socket listens: the URL printed is ready to open.
        for url in _urls(host, port, "https" if ssl_context else "http"):
            print(f"drone-relay {__version__} serving: open {url}{login}", flush=True)

    try:
        asyncio.run(_run(app, host, port, ssl_context, announce))
    except OSError as exc:
        print(f"drone-relay: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 2
    return 0


async def _run(
    app: web.Application,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None,
    announce: Callable[[], None],
) -> None:
    """Serves `app` until SIGINT or SIGTERM, then closes every peer, source and socket.
    (web.run_app would do the same with aiohttp's plain runner; RelayRunner adds the
    security headers to aiohttp's own error answers.)"""
    from relay.api.server import RelayRunner
    from relay.gc_tuning import settle_after_start

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = RelayRunner(app, access_log=None, shutdown_timeout=3.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, ssl_context=ssl_context).start()
        settle_after_start()  # relay.gc_tuning: no full collections walking start-up's objects
        announce()
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "hash-password":
        from relay.auth.cli import hash_password_command

        return hash_password_command()
    if args.command == "selfsigned":
        return selfsigned.run(args)
    logs.configure(getattr(args, "log_level", "warning"))
    logging.getLogger("aioice").setLevel(logging.WARNING)
    logging.getLogger("aiortc").setLevel(logging.WARNING)
    if args.command == "serve":
        try:
            config = load_config(args.config)
            ssl_context = server_ssl_context(config.server, config.origin)
        except ConfigError as exc:
            print(f"drone-relay: config error: {exc}", file=sys.stderr)
            return 2
        from relay.sources.redact import redact_log

        redact_log([s.source for s in config.streams])
        if args.host is not None:
            config = replace(config, server=replace(config.server, host=args.host))
        if args.port is not None:
            if not 0 <= args.port <= 65535:
                print("drone-relay: --port must be within 0..65535", file=sys.stderr)
                return 2
            try:
                config = replace(config, server=replace(config.server, port=args.port))
            except Invalid as exc:  # the config's rules hold for the override too
                print(f"drone-relay: --port {args.port}: {exc.why}", file=sys.stderr)
                return 2
        return serve(config, ssl_context)
    if args.command == "verify":
        return verify(args.incident_dir, args.audit)
    return 2
