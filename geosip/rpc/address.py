"""Where the control interface listens, shared by the server and geosipctl (pure: no
sockets opened here). The Unix socket defaults to <data-dir>/geosip_ctl (Kamailio names
its control socket kamailio_ctl); HTTP is ADDR:PORT, loopback unless told otherwise."""

from __future__ import annotations

import ipaddress
import os

SOCKET_NAME = "geosip_ctl"
_SUN_PATH_MAX = 107  # sockaddr_un.sun_path holds 108 bytes with the final NUL


def default_socket(data_dir: str) -> str:
    return os.path.join(data_dir, SOCKET_NAME)


def short_path(path: str) -> str:
    """`path` as bind()/connect() can take it: a path longer than sun_path allows is
    given relative to the working directory when that is short enough (deep test or
    container folders). ValueError when neither fits."""
    if len(os.fsencode(path)) <= _SUN_PATH_MAX:
        return path
    relative = os.path.relpath(path)
    if len(os.fsencode(relative)) <= _SUN_PATH_MAX:
        return relative
    raise ValueError(f"socket path too long for a Unix socket ({len(path)} bytes): {path}")


def parse_http(spec: str) -> tuple[str, int]:
    """"ADDR:PORT" or "[v6]:PORT" (an http:// prefix and a path are ignored) ->
    (host, port); ValueError saying what is wrong."""
    text = spec.removeprefix("http://").split("/", 1)[0]
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"bad RPC HTTP address {spec!r}: expected ADDR:PORT, "
                         "e.g. 127.0.0.1:5080")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if ":" in host and not text.startswith("["):
        raise ValueError(f"bad RPC HTTP address {spec!r}: an IPv6 address needs brackets, "
                         "as in [::1]:5080")
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
