"""`python -m geosip.gateways.sms --config JSON`: the SMS gateway process, as `geosip run`
starts it (geosip/cli/children.py). `--config @file.json` reads the JSON from a file.
SIGTERM or SIGINT stops it cleanly; a bad config exits 2, a taken address 1."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys

from .gateway import SmsGateway
from .kannel import KannelConnector
from .settings import Settings
from .smpp import SmppConnector

log = logging.getLogger("geosip.gateways.sms")


def make_connector(settings: Settings, gateway: SmsGateway) -> SmppConnector | KannelConnector:
    if settings.connector == "kannel":
        return KannelConnector(settings.kannel, gateway, retry_after=settings.retry_after)
    return SmppConnector(settings.smpp, gateway, retry_after=settings.retry_after,
                         receipts=settings.receipts == "message")


async def run(settings: Settings) -> None:
    gateway = SmsGateway(settings)
    await gateway.start(make_connector(settings, gateway))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("SMS gateway stopping")
    await gateway.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m geosip.gateways.sms")
    parser.add_argument("--config", required=True, help="settings as JSON, or @file")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s sms-gateway %(levelname)s %(name)s: %(message)s")
    try:
        text = args.config
        if text.startswith("@"):
            with open(text[1:], encoding="utf-8") as f:
                text = f.read()
        settings = Settings.from_dict(json.loads(text))
    except (ValueError, OSError) as exc:
        print(f"sms gateway: bad config: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(run(settings))
    except OSError as exc:
        print(f"sms gateway: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
