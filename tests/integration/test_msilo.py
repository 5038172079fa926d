"""Offline messages with `geosip run` as a real process (scripts/default.lua with msilo
loaded), sipp as alice's and bob's phones, on SQLite and PostgreSQL:

- a MESSAGE to bob, who is not registered, is answered 202 and kept in the silo table
  (the row field by field, Kamailio's columns); bob registers (a sipp UAS that answers
  MESSAGE 200) and receives it, body and Content-Type unchanged, with a Date header
  of the time it arrived; the row is deleted after the 200 (geosipctl msilo.count);
- bob's phone answers 480: the row stays, and msilo's timer delivers it again later
  (check_time 1 s) to the phone, which now answers 200;
- geosip stopped with two messages stored and started again still delivers them, in
  the order they arrived.
Kamailio's msilo README and RFC 3428 are the reference.
"""

from __future__ import annotations

import email.utils
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from geosip.db.connect import open_database
from tests.support.accounts import GEOSIPCTL, make_accounts, sqlite_url

from ._proxy import HOST, Proxy
from ._sipp import SCENARIOS, Sipp, SippResult
from .conftest import fresh_pg_database
from .test_usrloc_db import script

MSILO = 'msilo = { check_time = 1 }'


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return make_accounts(sqlite_url(tmp_path), tmp_path).url
    url = fresh_pg_database(request.getfixturevalue("postgres_url"), "silo")
    return make_accounts(url, tmp_path).url


def silo_rows(url: str, expected: int | None = None, timeout: float = 8.0) -> list[dict[str, Any]]:
    """The silo table's rows, oldest first; with `expected`, polled until there are
    that many (or the timeout passes)."""
    db = open_database(url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with db.connection_context():
                cursor = db.execute_sql("SELECT * FROM silo ORDER BY id")
                names = [c[0] for c in cursor.description]
                found = [dict(zip(names, row)) for row in cursor.fetchall()]
            if expected is None or len(found) == expected or time.monotonic() > deadline:
                return found
            time.sleep(0.1)
    finally:
        db.close()


def ctl(tmp_path: Path, *args: str) -> Any:
    done = subprocess.run([GEOSIPCTL, "-s", str(tmp_path / "ctl.sock"), "--json", *args],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def explain(p: Proxy, *results: SippResult) -> str:
    return "\n\n".join([*(r.report(80) for r in results), "==== geosip log:",
                        p.log()[-8000:]])


def start_proxy(proxy: Callable[..., Proxy], tmp_path: Path, url: str) -> Proxy:
    lua = script(tmp_path, "msilo", MSILO)
    return proxy("-c", str(lua), "--db", url, "--rpc-socket", str(tmp_path / "ctl.sock"))


def send_message(sipp: Callable[..., Sipp], p: Proxy, free_port: Callable[..., int],
                 text: str, thread: str = "t-1") -> SippResult:
    return sipp(f"alice-{thread}", SCENARIOS / "msilo_message_uac.xml", port=free_port(),
                remote=p.addr(), keys={"callee": "bob", "text": text,
                                       "thread": thread}).run()


def bobs_phone(sipp: Callable[..., Sipp], free_port: Callable[..., int], code: int,
               calls: int = 1, port: int | None = None, name: str = "bob") -> Sipp:
    scenario = "msilo_message_uas.xml" if code == 200 else "msilo_message_480_uas.xml"
    return sipp(name, SCENARIOS / scenario, port=port or free_port(),
                calls=calls).start().wait_listening()


def register_bob(sipp: Callable[..., Sipp], p: Proxy, free_port: Callable[..., int],
                 phone: Sipp) -> SippResult:
    return sipp(f"register-{phone.name}", SCENARIOS / "register_uac.xml", port=free_port(),
                remote=p.addr(), keys={"user": "bob",
                                       "contact_port": str(phone.port)}).run()


def body(message: Any) -> str:
    return message.text.split("\n\n", 1)[1].strip()


def test_a_stored_message_reaches_bob_when_he_registers(
    db_url: str, proxy: Callable[..., Proxy], sipp: Callable[..., Sipp],
    free_port: Callable[..., int], tmp_path: Path,
) -> None:
    p = start_proxy(proxy, tmp_path, db_url)
    before = int(time.time())
    sent = send_message(sipp, p, free_port, "hello bob")
    assert (sent.returncode, sent.successful) == (0, 1), explain(p, sent)
    [row] = silo_rows(db_url)
    assert before <= row["inc_time"] <= int(time.time())
    assert row["exp_time"] == row["inc_time"] + 259200, row
    assert {k: row[k] for k in ("src_addr", "dst_addr", "username", "domain", "snd_time",
                                "ctype", "extra_hdrs", "callid", "status")} == {
        "src_addr": f"sip:alice@{HOST}", "dst_addr": f"sip:bob@{HOST}", "username": "bob",
        "domain": HOST, "snd_time": 0, "ctype": "text/plain;charset=UTF-8",
        "extra_hdrs": "X-Chat-Thread: t-1\r\n", "callid": "", "status": 0}
    assert bytes(row["body"]).strip() == b"hello bob"
    assert ctl(tmp_path, "msilo.count", f"bob@{HOST}")["messages"] == 1

    phone = bobs_phone(sipp, free_port, 200)
    registered = register_bob(sipp, p, free_port, phone)
    assert (registered.returncode, registered.successful) == (0, 1), explain(p, registered)
    got = phone.wait()
    context = explain(p, got)
    assert got.returncode == 0, context
    [delivered] = got.received("MESSAGE")
    assert delivered.uri == f"sip:bob@{HOST}:{phone.port}", context
    assert body(delivered) == "hello bob", context
    assert delivered.values("Content-Type") == ["text/plain;charset=UTF-8"], context
    assert delivered.header("Date") == [email.utils.formatdate(row["inc_time"],
                                                               usegmt=True)], context
    assert f"sip:alice@{HOST}" in delivered.values("From")[0], context
    assert silo_rows(db_url, expected=0) == [], context
    assert ctl(tmp_path, "msilo.count")["messages"] == 0
    p.assert_no_tracebacks()


def test_a_480_keeps_the_message_and_it_is_delivered_again_later(
    db_url: str, proxy: Callable[..., Proxy], sipp: Callable[..., Sipp],
    free_port: Callable[..., int], tmp_path: Path,
) -> None:
    p = start_proxy(proxy, tmp_path, db_url)
    sent = send_message(sipp, p, free_port, "are you there")
    assert (sent.returncode, sent.successful) == (0, 1), explain(p, sent)
    refusing = bobs_phone(sipp, free_port, 480, name="bob-480")
    assert register_bob(sipp, p, free_port, refusing).returncode == 0, explain(p)
    refused = refusing.wait()
    assert [body(m) for m in refused.received("MESSAGE")] == ["are you there"], \
        explain(p, refused)
    [kept] = silo_rows(db_url)
    assert bytes(kept["body"]).strip() == b"are you there"

    # the same phone, now answering 200: msilo's timer tries again (check_time 1 s)
    answering = bobs_phone(sipp, free_port, 200, port=refusing.port, name="bob-200")
    got = answering.wait()
    context = explain(p, refused, got)
    assert got.returncode == 0, context
    assert [body(m) for m in got.received("MESSAGE")] == ["are you there"], context
    assert silo_rows(db_url, expected=0) == [], context
    p.assert_no_tracebacks()


def test_messages_stored_before_a_restart_arrive_in_order(
    db_url: str, proxy: Callable[..., Proxy], sipp: Callable[..., Sipp],
    free_port: Callable[..., int], tmp_path: Path,
) -> None:
    first = start_proxy(proxy, tmp_path, db_url)
    for n, text in enumerate(("first message", "second message")):
        sent = send_message(sipp, first, free_port, text, thread=f"t-{n}")
        assert (sent.returncode, sent.successful) == (0, 1), explain(first, sent)
    assert first.server.stop() == 0
    assert len(silo_rows(db_url)) == 2

    second = start_proxy(proxy, tmp_path, db_url)
    phone = bobs_phone(sipp, free_port, 200, calls=2)
    assert register_bob(sipp, second, free_port, phone).returncode == 0, explain(second)
    got = phone.wait()
    context = explain(second, got)
    assert got.returncode == 0, context
    assert [body(m) for m in got.received("MESSAGE")] == ["first message",
                                                          "second message"], context
    assert silo_rows(db_url, expected=0) == [], context
    second.assert_no_tracebacks()
