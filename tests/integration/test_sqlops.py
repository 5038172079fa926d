"""sqlops in `geosip run` on PostgreSQL: 50 requests whose route each waits on a
0.2 s query (pg_sleep) are answered together, not one after another (10 s), because
the query runs outside Lua and its greenlet waits cooperatively (psycopg 3 pool)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

from ._proxy import HOST, Proxy

SCRIPT = """
geosip = { modules = { "tm", "sl", sqlops = { sqlcon = { ca = "geosip" } } } }
function ksr_request_route()
  local rc = KSR.sqlops.sql_query("ca", "select pg_sleep(0.2) is null as slept, 7 as n", "r")
  KSR.sl.sl_send_reply(200, "rc=" .. rc .. " n=" .. KSR.pv.get("$dbr(r=>[0,1])"))
end
"""


def options(n: int, port: int) -> bytes:
    return (f"OPTIONS sip:ping@{HOST} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {HOST}:{port};branch=z9hG4bK-sq{n}\r\n"
            f"From: <sip:t@{HOST}>;tag=t{n}\r\nTo: <sip:ping@{HOST}>\r\n"
            f"Call-ID: sq-{n}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n").encode()


def test_fifty_slow_queries_are_answered_together(
    tmp_path: Path, proxy: Callable[..., Proxy], postgres_url: str,
) -> None:
    from .conftest import fresh_pg_database

    script = tmp_path / "sql.lua"
    script.write_text(SCRIPT)
    p = proxy("-c", str(script), "--db", fresh_pg_database(postgres_url, "sq"))
    host, port = p.addr().rsplit(":", 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        sock.settimeout(8)
        mine = sock.getsockname()[1]
        started = time.monotonic()
        for n in range(50):
            sock.sendto(options(n, mine), (host, int(port)))
        answers = set()
        while len(answers) < 50:
            data = sock.recv(65535).decode()
            assert data.startswith("SIP/2.0 200 rc=0 n=7\r\n"), data + p.log()[-4000:]
            answers.add(data.split("Call-ID: ", 1)[1].split("\r\n", 1)[0])
        elapsed = time.monotonic() - started
    # one after another would take 50 x 0.2 = 10 s; the pool holds 20 connections
    assert elapsed < 5, f"{elapsed:.1f} s\n" + p.log()[-4000:]
    p.assert_no_tracebacks()
