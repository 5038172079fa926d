"""The seed's "Extensibility: accounting server" example (issue 6 item 7b): two
`geosip run` processes, scripts/accounting-proxy.lua relaying sipp calls and, on each
200 OK to an INVITE, sending an ACCOUNTING request (uac_req_send) to
scripts/accounting-server.lua, which stores it with sqlops in an SQLite `accounting`
table and answers 200 Stored. Each row is checked field by field against what the
sipp caller and callee put on the wire.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from ._proxy import HOST, Proxy
from ._sipp import BENCH, Sipp
from .conftest import Server

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
TABLE = ("CREATE TABLE accounting (id INTEGER PRIMARY KEY, timeval INTEGER NOT NULL, "
         "callid VARCHAR(255) NOT NULL, ftag VARCHAR(128) NOT NULL, "
         "ttag VARCHAR(128) NOT NULL, src VARCHAR(255) NOT NULL, dst VARCHAR(255) NOT NULL)")
CALLS = 3


def copy_script(name: str, folder: Path, old: str, new: str) -> str:
    """scripts/<name> into the server's folder, with one setting changed."""
    text = (SCRIPTS / name).read_text()
    assert old in text, f"scripts/{name} changed: update this test"
    (folder / name).write_text(text.replace(old, new, 1))
    return name


def rows(db: Path, want: int, timeout: float = 10.0) -> list[tuple]:
    """The accounting rows once `want` are there (the ACCOUNTING requests trail the
    calls), ordered by Call-ID."""
    deadline = time.monotonic() + timeout
    while True:
        with sqlite3.connect(db) as con:
            found = con.execute("select timeval, callid, ftag, ttag, src, dst "
                                "from accounting order by callid").fetchall()
        if len(found) >= want or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def tag(header: str) -> str:
    match = re.search(r";\s*tag=([^;\s]+)", header)
    assert match, header
    return match.group(1)


def test_answered_calls_are_stored_by_the_accounting_server(
    start: Callable[..., Server], proxy: Callable[..., Proxy], sipp: Callable[..., Sipp],
    free_port: Callable[..., int], tmp_path: Path,
) -> None:
    db = tmp_path / "accounting.sqlite"
    with sqlite3.connect(db) as con:
        con.execute(TABLE)
    acc_port = free_port()
    server_script = copy_script("accounting-server.lua", tmp_path,
                                "sqlite:////var/lib/geosip/accounting.sqlite",
                                f"sqlite:///{db}")
    # its own data directory: the proxy, started in the same folder, has the default one
    server = start("-c", server_script, "-l", f"udp:{HOST}:{acc_port}",
                   "--data-dir", str(tmp_path / "server-data"))
    server.wait_for("geosip ready")
    proxy_script = copy_script("accounting-proxy.lua", tmp_path,
                               'ACCOUNTING_URI = "sip:store@127.0.0.1:5070"',
                               f'ACCOUNTING_URI = "sip:store@{HOST}:{acc_port}"')
    p = proxy("-c", proxy_script)

    began = int(time.time())
    uas_port = free_port()
    callee = sipp("uas", BENCH / "uas.xml", port=uas_port, calls=CALLS)
    callee.start().wait_listening()
    uac_port = free_port()
    caller = sipp("uac", BENCH / "uac.xml", port=uac_port, calls=CALLS, rate=10,
                  remote=f"{HOST}:{uas_port}", proxy=p.addr()).run()
    answered = callee.wait()
    stored = rows(db, CALLS)
    ended = int(time.time())
    context = "\n\n".join([caller.report(), answered.report(), "==== proxy:", p.log(),
                           "==== accounting server:", "\n".join(server.lines)])
    for result in (caller, answered):
        assert (result.returncode, result.successful, result.failed) == (0, CALLS, 0), context

    # one INVITE per call (a retransmission would repeat its Call-ID: keep the first)
    invites = {}
    for message in caller.sent("INVITE"):
        invites.setdefault(message.header("Call-ID")[0], message)
    oks = {m.header("Call-ID")[0]: m for m in answered.sent("INVITE", 200)}
    assert len(invites) == CALLS and len(stored) == CALLS, context
    for row, call_id in zip(stored, sorted(invites)):
        timeval, callid, ftag, ttag, src, dst = row
        invite = invites[call_id]
        assert began <= timeval <= ended, (row, context)
        assert callid == call_id, (row, context)
        assert ftag == tag(invite.header("From")[0]), (row, context)
        assert ttag == tag(oks[call_id].header("To")[0]), (row, context)
        assert src == f"sip:sipp@{HOST}:{uac_port}", (row, context)
        assert dst == invite.uri, (row, context)
    # the proxy heard 200 Stored for each ACCOUNTING request (its uac:reply callback)
    p.server.wait_for_count("accounting: record stored", CALLS, timeout=5)
    assert "record not stored" not in p.log(), context
    p.assert_no_tracebacks()
    assert "Traceback" not in "\n".join(server.lines), context
