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
        help="Lua routing script (Kamailio KEMI: ksr_request_route...); SIGHUP reloads it",
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
        "--router", default=None, metavar="NAME",
        help="route with Python instead of the -c script: relay (stateful t_relay to the "
        "Request-URI; the default without -c), forward (stateless), or module:attribute "
        "of a Python router; -c is then only checked for readability",
    )
    run.add_argument(
        "--alias", action="append", default=[], metavar="HOST[:PORT]",
        help="another name this server answers to (is_myself), repeatable",
    )
    run.add_argument("--workers", type=_workers, metavar="N",
                     help="worker processes sharing the SIP ports (default 1; more needs "
                     "usrloc db_mode 3 when usrloc is loaded)")
    run.add_argument("--fr-timer", type=float, metavar="SECONDS",
                     help="wait for any reply to a forwarded request (default 30)")
    run.add_argument("--fr-inv-timer", type=float, metavar="SECONDS",
                     help="wait for a final reply after a provisional one (default 120)")
    run.add_argument("--db", metavar="URL",
                     help="database: sqlite:///relative/file, sqlite:////absolute/file or "
                     "postgres://user:pw@host:port/db (default: geosip.sqlite in --data-dir)")
    run.add_argument("--tcp-accept-aliases", action="store_true",
                     help="reuse a TCP/TLS connection for requests to the Via sent-by of a "
                     "request that carried ;alias (RFC 5923; Kamailio's tcp_accept_aliases)")
    run.add_argument("--tls-cert", metavar="PEM", help="certificate for tls/wss listeners")
    run.add_argument("--tls-key", metavar="PEM", help="private key for tls/wss listeners")
    run.add_argument("--tls-ca", metavar="PEM",
                     help="CA bundle to verify TLS peers (default: the system store)")
    run.add_argument("--no-tls-verify", action="store_true",
                     help="do not verify certificates of TLS servers we connect to")
    run.add_argument("--rpc-socket", metavar="PATH",
                     help="JSON-RPC control socket (default: geosip_ctl in --data-dir; "
                     "geosipctl's default too)")
    run.add_argument("--rpc-http", metavar="ADDR:PORT",
                     help="also serve JSON-RPC (POST /RPC) and Prometheus metrics (GET "
                     "/metrics) over HTTP; a non-loopback address needs rpc.auth or rpc.allow "
                     "in the script's geosip table")
    run.add_argument("--snmp", metavar="ADDR:PORT",
                     help="start the SNMP agent there (UDP; SNMPv2c community \"public\" "
                     "unless the script's geosip.snmp table says otherwise; port 161 needs "
                     "root)")
    run.add_argument(
        "--log-level", choices=["debug", "info", "warning", "error"],
        help="logging threshold (default: info; debug logs every dropped message)",
    )
    return parser


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to 64, not {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "run":
        # Patch before the run path imports sockets, threading users or peewee.
        from gevent import monkey

        monkey.patch_all()
        from geosip.cli.run import RunOptions, run

        # What the command line gave explicitly wins over the script's geosip table.
        given = {name for name, value in (
            ("listens", args.listen), ("aliases", args.alias), ("log_level", args.log_level),
            ("workers", args.workers),
            ("fr_timer", args.fr_timer), ("fr_inv_timer", args.fr_inv_timer),
            ("tls_certificate", args.tls_cert), ("tls_private_key", args.tls_key),
            ("tls_ca_file", args.tls_ca), ("tls_verify", args.no_tls_verify or None))
            if value}
        listens = args.listen or [parse_listen(s) for s in DEFAULT_LISTEN]
        return run(RunOptions(
            config=args.config, listens=listens, data_dir=args.data_dir,
            log_level=args.log_level or "info", router=args.router, aliases=args.alias,
            workers=args.workers or 1,
            fr_timer=args.fr_timer or 30.0, fr_inv_timer=args.fr_inv_timer or 120.0,
            tls_certificate=args.tls_cert, tls_private_key=args.tls_key,
            tls_ca_file=args.tls_ca, tls_verify=not args.no_tls_verify,
            accept_aliases=args.tcp_accept_aliases, db_url=args.db, given=frozenset(given),
            rpc_socket=args.rpc_socket, rpc_http=args.rpc_http, snmp=args.snmp))
    raise AssertionError(f"unhandled command {args.command}")  # argparse requires one


if __name__ == "__main__":
    sys.exit(main())
