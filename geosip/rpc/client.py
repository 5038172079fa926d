"""A JSON-RPC client for geosipctl and the SNMP agent: one request to a running geosip
over its Unix socket (one JSON request per connection: write it, half-close, read the
answer to EOF) or over HTTP (POST /RPC). Blocking plain sockets: no gevent needed.
Raises Unreachable with a one-line reason when geosip cannot be asked at all."""

from __future__ import annotations

import base64
import errno
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from .address import short_path

TIMEOUT = 30.0
MAX_ANSWER = 64 * 1024 * 1024


class Unreachable(Exception):
    """geosip is not running there, or the socket cannot be used."""


def request(method: str, params: Any = (), rid: int = 1) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "method": method, "params": list(params)
                       if not isinstance(params, dict) else params, "id": rid}).encode()


def exchange(target: str, data: bytes, timeout: float = TIMEOUT) -> bytes:
    """Send `data` to the server at `target` (a socket path or http://host:port[/path])
    and return its raw answer (b"" for a notification)."""
    if target.startswith(("http://", "https://")):
        return _http(target, data, timeout)
    return _unix(target, data, timeout)


def call(target: str, method: str, params: Any = (), timeout: float = TIMEOUT) -> dict[str, Any]:
    """The response object of one call ({"result": ...} or {"error": {code, message}})."""
    answer = exchange(target, request(method, params), timeout)
    try:
        found = json.loads(answer)
    except ValueError:
        raise Unreachable(f"{target} answered something that is not JSON-RPC: "
                          f"{answer[:80]!r}") from None
    if not isinstance(found, dict):
        raise Unreachable(f"{target} answered something that is not JSON-RPC")
    return found


def _unix(path: str, data: bytes, timeout: float) -> bytes:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(short_path(path))
        except ValueError as exc:
            raise Unreachable(str(exc)) from None
        except OSError as exc:
            raise Unreachable(_why(path, exc)) from None
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks, size = [], 0
        while chunk := sock.recv(65536):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_ANSWER:
                raise Unreachable(f"answer from {path} larger than {MAX_ANSWER} bytes")
        return b"".join(chunks)
    except socket.timeout:
        raise Unreachable(f"geosip at {path} did not answer within {timeout:g}s") from None
    finally:
        sock.close()


def _why(path: str, exc: OSError) -> str:
    if exc.errno in (errno.ENOENT, errno.ECONNREFUSED):
        return f"geosip is not running (no control socket at {path})"
    if exc.errno == errno.EACCES:
        return f"cannot use the control socket {path}: permission denied"
    return f"cannot connect to {path}: {exc.strerror or exc}"


def _http(url: str, data: bytes, timeout: float) -> bytes:
    """POST to url (path /RPC when it has none); user:password@ in it is sent as basic
    auth and left out of every message."""
    parts = urllib.parse.urlsplit(url)
    headers = {"Content-Type": "application/json"}
    if parts.username is not None:
        secret = f"{urllib.parse.unquote(parts.username)}:" \
                 f"{urllib.parse.unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(secret.encode()).decode()
    host = parts.netloc.rpartition("@")[2]
    url = urllib.parse.urlunsplit((parts.scheme, host, parts.path or "/RPC", "", ""))
    req = urllib.request.Request(url, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as answer:
            return answer.read(MAX_ANSWER)
    except urllib.error.HTTPError as exc:
        raise Unreachable(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ConnectionRefusedError):
            raise Unreachable(f"geosip is not running (nothing listens at {url})") from None
        raise Unreachable(f"cannot reach {url}: {reason}") from None
    except (socket.timeout, TimeoutError):
        raise Unreachable(f"geosip at {url} did not answer within {timeout:g}s") from None
