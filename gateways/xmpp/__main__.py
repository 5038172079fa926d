"""`python -m geosip.gateways.xmpp --config JSON`: the gateway process.

`geosip run` starts it (geosip/cli/children.py) with the script's
`geosip.gateways.xmpp` table as JSON; it may be run by hand the same way. Exit codes:
0 on SIGTERM/SIGINT, 1 when the SIP port cannot be bound, 2 for bad settings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys

from .gateway import Gateway
from .settings import Settings


async def _serve(settings: Settings) -> int:
    gateway = Gateway(settings)
    try:
        await gateway.start()
    except OSError as e:
        print(f"xmpp gateway: cannot listen on {settings.sip_listen}: {e.strerror or e}",
              file=sys.stderr)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    logging.getLogger("geosip.gateways.xmpp").info("XMPP gateway stopping")
    await gateway.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m geosip.gateways.xmpp")
    parser.add_argument("--config", required=True,
                        help="the geosip.gateways.xmpp table as a JSON object")
    args = parser.parse_args(argv)
    try:
        values = json.loads(args.config)
        if not isinstance(values, dict):
            raise ValueError("--config must be a JSON object")
        settings = Settings.from_dict(values)
    except ValueError as e:
        print(f"xmpp gateway: {e}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    if settings.log_level != "debug":  # slixmpp logs every reconnect attempt at length
        logging.getLogger("slixmpp").setLevel(logging.WARNING)
    return asyncio.run(_serve(settings))


if __name__ == "__main__":
    sys.exit(main())
