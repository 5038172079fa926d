"""`geosip`: the server's command line.

`geosip run` must monkey-patch with gevent before anything that matters is imported, so
this file imports only argparse and the pure listen parser at the top; the run path
patches first and imports the rest after (DESIGN.md, Stack: monkey-patch before peewee).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from geosip import __version__
from geosip.cli.listen import EXPECTED, Listen, parse_listen

DEFAULT_LISTEN = ("udp:127.0.0.1:5060", "tcp:127.0.0.1:5060")
DEFAULT_DATA_DIR = "./geosip-data"


def _listen_arg(spec: str) -> Listen:
    # argparse shows the text of ArgumentTypeError only; a ValueError becomes "invalid value".
    try:
        return parse_listen(spec)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="geosip",
        description="SIP proxy, registrar and IM server routed by a Lua script.",
    )
    parser.add_argument("--version", action="version", version=f"geosip {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser("run", help="run the server in the foreground")
    run.add_argument(
        "-c", "--config", metavar="FILE",
        help="Lua routing script and config (only checked for readability so far)",
    )
    run.add_argument(
        "-l", "--listen", metavar="PROTO:ADDR:PORT", action="append", type=_listen_arg,
        help=f"address to listen on, repeatable; PROTO is udp, tcp, tls, ws or wss; "
        f"{EXPECTED} (default: {' and '.join(DEFAULT_LISTEN)})",
    )
    run.add_argument(
        "--data-dir", metavar="DIR", default=DEFAULT_DATA_DIR,
        help=f"folder for the server's data, created if missing (default: {DEFAULT_DATA_DIR})",
    )
    run.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"],
        help="logging threshold (default: info; debug logs every dropped message)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "run":
        # Patch before the run path imports sockets, threading users or peewee.
        from gevent import monkey

        monkey.patch_all()
        from geosip.cli.run import run

        listens = args.listen or [parse_listen(s) for s in DEFAULT_LISTEN]
        return run(args.config, listens, args.data_dir, args.log_level)
    raise AssertionError(f"unhandled command {args.command}")  # argparse requires one


if __name__ == "__main__":
    sys.exit(main())
