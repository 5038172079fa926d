"""`python -m geosip.snmp --config FILE --rpc TARGET [--parent PID]`: the SNMP agent
process that `geosip run` starts (snmp/child.py). FILE holds SnmpSettings as JSON
(written 0600 by geosip run: it holds the community and the v3 keys, which would show
in `ps` as arguments); TARGET is the core's control socket or http://ADDR:PORT.
Exit codes: 0 on SIGTERM/SIGINT or when the parent is gone, 1 when the port cannot be
had, 2 for a bad settings file."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from .agent import serve
from .settings import SnmpSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m geosip.snmp")
    parser.add_argument("--config", required=True, metavar="FILE")
    parser.add_argument("--rpc", required=True, metavar="TARGET")
    parser.add_argument("--parent", type=int, metavar="PID",
                        help="stop when this process is no longer the parent")
    parser.add_argument("--log-level", default="info",
                        choices=["debug", "info", "warning", "error"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        with open(args.config, encoding="utf-8") as f:
            settings = SnmpSettings.from_json(f.read())
    except (OSError, ValueError, TypeError, KeyError) as exc:
        print(f"geosip-snmp: cannot read settings {args.config}: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_run(settings, args.rpc, args.parent))


async def _run(settings: SnmpSettings, rpc: str, parent: int | None) -> int:
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)  # type: ignore[union-attr]
    try:
        await serve(settings, rpc, parent)
    except OSError as exc:
        print(f"geosip-snmp: cannot listen on {settings.listen}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    except asyncio.CancelledError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
