"""Hostile input on the control interface (DESIGN.md "Bad input"): `geosip run` with
the JSON-RPC Unix socket and HTTP (--rpc-http), every module with RPC commands loaded,
attacked with real bytes on its real sockets.

What must hold (https://www.jsonrpc.org/specification §5.1; geosip/rpc/dispatch.py's
contract "Nothing raises out of handle()"): JSON that does not parse, however it is
broken (truncated, nested 100k levels deep, not UTF-8) is answered -32700; a body over
the size limit is refused (HTTP 413) or the connection is closed; wrong params for any
command are -32602 or the command's 400/404, never -32603 (a command that raised); a
client that never finishes its request (slow loris) is dropped after READ_TIMEOUT, and
while such clients wait, RPC and SIP are served. After each attack a registration
made before is still there, the server answers RPC and SIP, and no traceback was
logged.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from geosip.rpc.server import MAX_REQUEST, READ_TIMEOUT
from tests.support.hostile import (UdpPeer, keepalive, rpc_call, rpc_http_raw, rpc_unix_raw,
                                   sip_request)

from ._proxy import HOST, Proxy
from .test_usrloc_db import script

# Every module with RPC commands besides default.lua's (usrloc, nathelper).
MODULES = 'htable = { htable = "t=>size=4" }'
MORE = ', "msilo", "dispatcher", "dialog", "domain"'
DANGEROUS = {"core.kill", "core.shutdown", "app_lua.reload"}  # they end or swap the server


class Control:
    def __init__(self, p: Proxy, sock: str, http: tuple[str, int]) -> None:
        self.p, self.sock, self.http = p, sock, http

    def healthy(self) -> None:
        """RPC over both transports, SIP, and the registration made at the start."""
        ok = b'{"jsonrpc": "2.0", "method": "core.uptime", "id": 1}'
        assert "uptime" in json.loads(rpc_unix_raw(self.sock, ok))["result"]
        status, body = rpc_http_raw(self.http, ok)
        assert status == 200 and "uptime" in json.loads(body)["result"], body
        peer = UdpPeer((HOST, self.p.port))
        try:
            answer = peer.final(keepalive((HOST, self.p.port)))
        finally:
            peer.close()
        assert answer is not None and answer.status == 200, self.p.log()[-3000:]
        found = rpc_call(self.sock, "ul.lookup", "location", "alice")
        assert [c["Address"] for c in found["result"]["Contacts"]] == [
            "sip:alice@127.0.0.1:7777"], found
        self.p.assert_no_tracebacks()


@pytest.fixture
def control(proxy: Callable[..., Proxy], free_port: Callable[..., int],
            tmp_path: Path) -> Control:
    lua = script(tmp_path, "rpc-all", MODULES, more_modules=MORE)
    port = free_port()
    sock = str(tmp_path / "ctl.sock")
    p = proxy("-c", str(lua), "--alias", "example.com", "--rpc-socket", sock,
              "--rpc-http", f"{HOST}:{port}")
    peer = UdpPeer((HOST, p.port))
    answer = peer.final(sip_request("REGISTER", "sip:example.com",
                                    from_uri="sip:alice@example.com",
                                    headers=["Contact: <sip:alice@127.0.0.1:7777>"]))
    peer.close()
    assert answer is not None and answer.status == 200, p.log()
    return Control(p, sock, (HOST, port))


def error_code(raw: bytes) -> int:
    return int(json.loads(raw)["error"]["code"])


BROKEN_JSON = {
    "truncated": b'{"jsonrpc": "2.0", "method": "core.uptime", "id": 1',
    "nested arrays": b"[" * 100_000 + b"]" * 100_000,
    "nested objects": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "nested params": (b'{"jsonrpc": "2.0", "method": "core.uptime", "params": '
                      + b"[" * 50_000 + b"]" * 50_000 + b', "id": 1}'),
    "not utf-8": b'{"jsonrpc": "2.0", "method": "\xff\xfe", "id": 1}',
    "nul bytes": b"\x00" * 1000,
}


@pytest.mark.parametrize("transport", ["unix", "http"])
def test_broken_json_is_a_parse_error(control: Control, transport: str) -> None:
    for name, data in BROKEN_JSON.items():
        if transport == "unix":
            raw = rpc_unix_raw(control.sock, data)
        else:
            status, raw = rpc_http_raw(control.http, data)
            assert status == 200, (name, status, raw)
        assert error_code(raw) == -32700, (name, raw[:300], control.p.log()[-3000:])
    control.healthy()


def test_ten_megabytes_are_refused(control: Control) -> None:
    big = (b'{"jsonrpc": "2.0", "method": "core.uptime", "params": ["'
           + b"a" * (10 * 1024 * 1024) + b'"], "id": 1}')
    status, body = rpc_http_raw(control.http, big)
    assert status == 413, body
    # The socket reads MAX_REQUEST and answers what it read (a truncated document), or
    # closes before the client could read the answer.
    raw = rpc_unix_raw(control.sock, big)
    assert raw == b"" or error_code(raw) == -32700, raw[:300]
    assert len(big) > MAX_REQUEST
    control.healthy()


GARBAGE = [None, 1, -1, 1e308, True, "", " ", "*", "x" * 3000, "\u0000", "sip:a@b",
           "a@b:99999", "' OR 1=1 --", "$(ru)", {"a": 1}, [1, 2]]


def test_every_command_with_garbage_params(control: Control) -> None:
    methods = rpc_call(control.sock, "system.listMethods")["result"]
    assert {"msilo.count", "htable.dump", "dispatcher.list", "dlg.list",
            "domain.dump", "ul.dump"} <= set(methods), methods
    internal = []
    for method in sorted(set(methods) - DANGEROUS):
        for arity in (1, 2, 3):
            for value in GARBAGE:
                request = {"jsonrpc": "2.0", "method": method, "params": [value] * arity,
                           "id": 7}
                raw = rpc_unix_raw(control.sock, json.dumps(request).encode())
                answer = json.loads(raw)  # always a JSON-RPC answer
                assert answer["id"] == 7 and ("result" in answer) != ("error" in answer)
                if answer.get("error", {}).get("code") == -32603:
                    internal.append((method, arity, repr(value)[:40]))
        # params neither array nor object (§4.2): -32602
        raw = rpc_unix_raw(control.sock, json.dumps(
            {"jsonrpc": "2.0", "method": method, "params": 5, "id": 1}).encode())
        assert error_code(raw) == -32602, (method, raw)
    assert not internal, f"commands that raised: {internal}\n{control.p.log()[-5000:]}"
    control.healthy()


def test_slow_loris_clients_are_dropped_and_others_served(control: Control) -> None:
    waiting: list[socket.socket] = []
    try:
        for _ in range(150):  # a header that never ends, a body that never comes
            for opening in (b"POST /RPC HTTP/1.1\r\nHost: x\r\n",
                            b"POST /RPC HTTP/1.1\r\nHost: x\r\nContent-Length: 99\r\n\r\n{"):
                sock = socket.create_connection(control.http)
                sock.sendall(opening)
                waiting.append(sock)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(control.sock)
            sock.sendall(b'{"jsonrpc": "2.0", ')
            waiting.append(sock)
        control.healthy()  # served meanwhile
        # Each is dropped once READ_TIMEOUT has passed since it connected.
        deadline = time.monotonic() + READ_TIMEOUT + 5
        open_ones = list(waiting)
        while open_ones and time.monotonic() < deadline:
            time.sleep(0.5)
            open_ones = [s for s in open_ones if not _closed_by_peer(s)]
        assert not open_ones, f"{len(open_ones)} of {len(waiting)} slow clients still held"
    finally:
        for sock in waiting:
            sock.close()
    control.healthy()


def _closed_by_peer(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        while sock.recv(65536):  # a 408 or error page may come first
            pass
    except BlockingIOError:
        return False
    except OSError:
        return True
    return True
