"""Kannel connector: SMS out through smsbox's sendsms interface, SMS in through an
sms-service get-url pointing at the gateway (Kannel 1.4 user guide, "SMS Push" and
"SMS service configuration").

Out: GET <sendsms_url>?username&password&from&to&text&charset=UTF-8&coding[&smsc]
(coding 0 = GSM 7-bit when the text fits the default alphabet, 2 = UCS-2; Kannel splits
long texts itself, up to its sendsms-user `max-messages`, with `concatenation = true`).
"0: Accepted for delivery" (HTTP 202) or "3: Queued for later delivery" are accepted;
errors.from_kannel maps the rest. A sendsms interface that does not answer is 503.

In: the gateway serves HTTP on `listen`; smsbox's get-url names it, e.g.
    get-url = "http://127.0.0.1:28080/mo?from=%p&to=%P&text=%b&charset=%C"
(%b the message as received, %C its charset: decoded here; `text` is taken as UTF-8 when
no charset comes). The answer is sent once the SIP side has spoken: 200 on a 2xx,
404 for a number nobody has, 503 otherwise. Set `max-messages = 0` in that sms-service
so Kannel sends no reply SMS with the answer's body.

The HTTP pieces are the standard library's (urllib in a worker thread, http.server in a
thread of its own handing each request to the asyncio loop).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from . import encoding
from .errors import SubmitError, from_kannel

log = logging.getLogger("geosip.gateways.sms.kannel")

_ACCEPTED = ("0:", "3:")  # Kannel's sendsms: accepted / queued for later delivery


class KannelConnector:
    """See the module doc. `cfg` is settings.KANNEL; `gateway` the SmsGateway."""

    def __init__(self, cfg: dict[str, Any], gateway: Any, *, retry_after: int) -> None:
        self.cfg = cfg
        self.gateway = gateway
        self.retry_after = retry_after
        self._server: ThreadingHTTPServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # HTTP has no session: "bound" is whether sendsms answered the last request
        self.bound = True
        self.reconnects = 0

    async def start(self) -> None:
        """Serve the get-url endpoint (raises OSError when `listen` is taken)."""
        self._loop = asyncio.get_running_loop()
        host, _, port = self.cfg["listen"].rpartition(":")
        self._server = ThreadingHTTPServer((host.strip("[]"), int(port)), self._handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="kannel-get-url",
                         daemon=True).start()

    async def close(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            await asyncio.to_thread(server.shutdown)
            server.server_close()

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    # ---- MT ----------------------------------------------------------------------------

    async def submit(self, source: str, dest: str, text: str) -> list[str]:
        coding, _, _ = encoding.split(text, 0)
        query = {"username": self.cfg["username"], "password": self.cfg["password"],
                 "from": source, "to": dest, "text": text, "charset": "UTF-8",
                 "coding": "2" if coding == encoding.DC_UCS2 else "0"}
        if self.cfg["smsc"]:
            query["smsc"] = self.cfg["smsc"]
        url = f"{self.cfg['sendsms_url']}?{urlencode(query)}"
        status, body = await asyncio.to_thread(self._get, url)
        self.bound = status is not None
        if status is None:
            raise SubmitError(503, "Kannel Not Answering", self.retry_after)
        if 200 <= status < 300 and body.startswith(_ACCEPTED):
            return []  # Kannel gives no message id to match receipts with
        raise from_kannel(status, body, self.retry_after)

    def _get(self, url: str) -> tuple[int | None, str]:
        try:
            with urllib.request.urlopen(url, timeout=self.cfg["timeout"]) as resp:
                return resp.status, resp.read().decode("utf-8", "replace").strip()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8", "replace").strip()
        except (OSError, ValueError) as exc:
            log.warning("Kannel sendsms %s: %s", self.cfg["sendsms_url"], exc)
            return None, ""

    # ---- MO ----------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        connector = self

        class GetUrl(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 -- http.server's name
                status = connector._on_get(self.path)
                body = {200: b"", 404: b"unknown number"}.get(status, b"try later")
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("get-url: " + format, *args)

        return GetUrl

    def _on_get(self, path: str) -> int:
        """Runs in an HTTP thread: hand the SMS to the loop and wait for the outcome."""
        # latin-1 keeps every percent-decoded octet as it came; charset decodes below.
        query = parse_qs(urlsplit(path).query, encoding="latin-1", keep_blank_values=True)
        source = query.get("from", [""])[0]
        dest = query.get("to", [""])[0]
        raw = query.get("text", [""])[0].encode("latin-1")
        charset = query.get("charset", ["UTF-8"])[0] or "UTF-8"
        try:
            text = raw.decode(charset)
        except (LookupError, UnicodeDecodeError):
            text = raw.decode("latin-1")
        if not source or not dest or self._loop is None:
            return 400
        future = asyncio.run_coroutine_threadsafe(
            self.gateway.deliver(source, dest, text), self._loop)
        try:
            sip = future.result(timeout=self.cfg["timeout"] + 35)  # beyond SIP Timer F
        except Exception:
            log.exception("SMS from %s to %s not delivered", source, dest)
            return 503
        if 200 <= sip < 300:
            return 200
        return 404 if sip == 404 else 503
