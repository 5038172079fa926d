"""Serving the control interface from `geosip run` (gevent; imported after patching).

Unix socket (default <data-dir>/geosip_ctl, mode 0660): one JSON-RPC request per
connection, as Kamailio's jsonrpcs socket transports: the client writes the request (a
batch counts as one), the server answers once the bytes parse as JSON or the client
half-closes, then closes. A stale socket file (no one listening) is replaced; a live
one means another geosip uses it: refused.

HTTP (only when asked, ADDR:PORT): POST / or /RPC with a JSON-RPC body, GET /metrics
for Prometheus. On a non-loopback address it needs basic auth or an allow-list (an
open control port would let anyone change the server); every request is checked
against both when set.

Commands run in the connection's greenlet; they may wait (a database), never block
the hub.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import hmac
import ipaddress
import json
import logging
import os
import socket
import stat
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gevent
from gevent.pywsgi import WSGIHandler, WSGIServer
from gevent.server import StreamServer

from .address import default_socket, is_loopback, parse_http, short_path
from .context import RpcContext, build
from .dispatch import Dispatcher
from .metrics import CONTENT_TYPE_LATEST, render

log = logging.getLogger("geosip.rpc")

MAX_REQUEST = 1024 * 1024   # bytes of one request (either transport)
READ_TIMEOUT = 10.0         # seconds a client may take to send its request


class ControlError(Exception):
    """The control interface cannot start (a one-line reason)."""


@dataclass(frozen=True)
class HttpAccess:
    """Basic auth ("user:password") and the networks allowed, both optional."""

    auth: str | None = None
    allow: tuple[str, ...] = ()
    networks: tuple[Any, ...] = field(default=(), compare=False)

    @classmethod
    def make(cls, auth: str | None, allow: Iterable[str]) -> "HttpAccess":
        allow = tuple(allow)
        try:
            networks = tuple(ipaddress.ip_network(a, strict=False) for a in allow)
        except ValueError as exc:
            raise ControlError(f"rpc allow-list: {exc}") from None
        if auth is not None and ":" not in auth:
            raise ControlError("rpc auth must be \"user:password\"")
        return cls(auth, allow, networks)

    def refusal(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]]] | None:
        """None when the request may go on, else the HTTP status and headers."""
        if self.networks:
            try:
                peer = ipaddress.ip_address(environ.get("REMOTE_ADDR", ""))
            except ValueError:
                return "403 Forbidden", []
            if not any(peer in net for net in self.networks):
                return "403 Forbidden", []
        if self.auth is not None:
            given = environ.get("HTTP_AUTHORIZATION", "")
            scheme, _, token = given.partition(" ")
            try:
                decoded = base64.b64decode(token, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            if scheme.lower() != "basic" or not hmac.compare_digest(
                    decoded.encode(), self.auth.encode()):
                return "401 Unauthorized", [("WWW-Authenticate", 'Basic realm="geosip"')]
        return None


class Control:
    """The running control interface: its dispatcher, sockets and servers."""

    def __init__(self, context: RpcContext, dispatcher: Dispatcher) -> None:
        self.context = context
        self.dispatcher = dispatcher
        self.socket_path: str | None = None
        self.http: tuple[str, int] | None = None
        self._servers: list[Any] = []

    # -- Unix socket -----------------------------------------------------------------

    def serve_unix(self, path: str) -> None:
        try:
            bind_path = short_path(path)
        except ValueError as exc:
            raise ControlError(str(exc)) from None
        _remove_stale(bind_path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(bind_path)
            os.chmod(bind_path, 0o660)  # owner and group: the operators
            sock.listen(64)
        except OSError as exc:
            sock.close()
            raise ControlError(f"cannot serve the control socket {path}: "
                               f"{exc.strerror or exc}") from None
        server = StreamServer(sock, self._unix_connection)
        server.start()
        self._servers.append(server)
        self.socket_path = path
        self._bound = os.path.abspath(bind_path)
        log.info("control interface: JSON-RPC on unix:%s", path)

    def _unix_connection(self, sock: socket.socket, _address: Any) -> None:
        # READ_TIMEOUT bounds the whole request, not each recv: a client trickling a
        # byte at a time (slow loris) would otherwise hold the connection for hours.
        deadline = time.monotonic() + READ_TIMEOUT
        data = b""
        try:
            while len(data) <= MAX_REQUEST:
                sock.settimeout(max(deadline - time.monotonic(), 0.001))
                chunk = sock.recv(65536)
                data += chunk
                if not chunk or _complete(data):
                    break
            if not data.strip():
                return
            answer = self.dispatcher.handle(data[:MAX_REQUEST + 1])
            if answer is not None:
                sock.sendall(answer)
        except OSError as exc:  # the client went away or was too slow
            log.debug("control socket client: %s", exc)
        finally:
            sock.close()

    # -- HTTP ------------------------------------------------------------------------

    def serve_http(self, spec: str, access: HttpAccess) -> None:
        try:
            host, port = parse_http(spec)
        except ValueError as exc:
            raise ControlError(str(exc)) from None
        if not is_loopback(host) and access.auth is None and not access.networks:
            raise ControlError(f"rpc http {spec} is not a loopback address: give it basic "
                               "auth (rpc.auth) or an allow-list (rpc.allow)")
        self.access = access
        server = _TimedWSGIServer((host, port), self._wsgi, log=None, error_log=log)
        try:
            server.start()
        except OSError as exc:
            raise ControlError(f"cannot serve RPC over HTTP on {spec}: "
                               f"{exc.strerror or exc}") from None
        self._servers.append(server)
        self.http = (host, server.server_port)
        log.info("control interface: JSON-RPC on http://%s:%d/RPC, metrics on /metrics",
                 host, server.server_port)

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        refused = self.access.refusal(environ)
        if refused is not None:
            status, headers = refused
            start_response(status, [("Content-Type", "text/plain"), *headers])
            return [status.encode() + b"\n"]
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/")
        if path == "/metrics" and method == "GET":
            body = render(self.context.stats)
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
            return [body]
        if path in ("/", "/RPC") and method == "POST":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_REQUEST:
                start_response("413 Payload Too Large", [("Content-Type", "text/plain")])
                return [b"request too large\n"]
            try:
                body = environ["wsgi.input"].read(length)
            except OSError:  # the body never came (READ_TIMEOUT) or the client left
                start_response("408 Request Timeout", [("Content-Type", "text/plain"),
                                                       ("Connection", "close")])
                return [b"request body incomplete\n"]
            answer = self.dispatcher.handle(body)
            start_response("200 OK", [("Content-Type", "application/json")])
            return [answer or b""]
        if path in ("/", "/RPC", "/metrics"):
            start_response("405 Method Not Allowed", [("Content-Type", "text/plain")])
            return [b"POST JSON-RPC to /RPC, GET /metrics\n"]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"POST JSON-RPC to /RPC, GET /metrics\n"]

    def stop(self) -> None:
        for server in self._servers:
            with contextlib.suppress(Exception):
                server.stop(timeout=1)
        self._servers.clear()
        if self.socket_path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._bound)


class _Handler(WSGIHandler):
    def _handle_client_error(self, ex: BaseException) -> Any:
        if isinstance(ex, OSError):  # timed out or gone: nobody to answer, no traceback
            log.debug("rpc http client %s: %s", self.client_address, ex)
            return None  # close the connection
        return super()._handle_client_error(ex)


class _TimedWSGIServer(WSGIServer):
    """pywsgi waits for ever on a silent client: each connection's reads time out
    after READ_TIMEOUT (an idle keep-alive connection too), so a slow loris cannot keep
    thousands of connections, and the process's file descriptors, for itself."""

    handler_class = _Handler

    def handle(self, sock: socket.socket, address: Any) -> None:
        sock.settimeout(READ_TIMEOUT)
        super().handle(sock, address)


def _complete(data: bytes) -> bool:
    """The bytes so far are one whole JSON document (so the client need not half-close)."""
    text = data.rstrip()
    if not text.endswith((b"}", b"]")):
        return False
    try:
        json.loads(text)
    except ValueError:
        return False
    except RecursionError:  # nested too deep ever to parse: let handle() answer -32700
        return True
    return True


def _remove_stale(path: str) -> None:
    """Unlink a socket file nobody listens on; ControlError if someone does, or if the
    path is something else than a socket."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise ControlError(f"control socket path {path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError as exc:
        if exc.errno not in (errno.ECONNREFUSED, errno.ENOENT):
            raise ControlError(f"control socket {path}: {exc.strerror or exc}") from None
        os.unlink(path)
        return
    finally:
        probe.close()
    raise ControlError(f"control socket {path} is in use: is another geosip running "
                       "with this data dir?")


def start_control(core: Any, router: Any, modules: Sequence[Any],
                  configured_params: Any, *, socket_path: str | None, data_dir: str,
                  http: str | None = None, auth: str | None = None,
                  allow: Iterable[str] = ()) -> Control:
    """Build the context and dispatcher (context.build: core commands and the modules'
    EXPORTS.rpc, their statistics into core.stats), and serve on the Unix socket
    (socket_path, else the data dir's) and on HTTP when `http` is given. Raises
    ControlError with what to fix."""
    try:
        context = build(core, router, modules, configured_params)
    except ValueError as exc:
        raise ControlError(str(exc)) from None
    dispatcher = context.dispatcher
    control = Control(context, dispatcher)
    try:
        control.serve_unix(socket_path or default_socket(data_dir))
        if http:
            control.serve_http(http, HttpAccess.make(auth, allow))
    except ControlError:
        control.stop()
        raise
    gevent.sleep(0)  # let the servers' accept loops start
    return control
