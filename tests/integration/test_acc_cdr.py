"""Accounting and CDRs after real calls (issue 6 items 2 and 3): `geosip run -c
scripts/acc-cdr.lua` between a sipp caller and a sipp callee, on SQLite and on
PostgreSQL, with the extra columns an operator adds (Kamailio's documented ALTER TABLE).
What a user notices: the acc rows (INVITE, ACK, BYE) and the CDR of an answered call,
field by field; a busy and a cancelled call in missed_calls; the call listed by
`geosipctl dlg.list` while it is up; `geosipctl dlg.end_dlg` ending a call with a BYE
to both phones."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import peewee as pw
import pytest

from geosip.db.connect import open_database
from tests.support.accounts import GEOSIPCTL, Accounts, make_accounts, sqlite_url

from ._proxy import HOST, Proxy
from ._sipp import SCENARIOS, Sipp, SippResult
from .conftest import fresh_pg_database

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "acc-cdr.lua"
ACC_EXTRA = ("src_user", "src_domain", "dst_user", "dst_domain", "src_ip")
CDR_EXTRA = ("src_username", "src_domain", "dst_username", "dst_domain")


@pytest.fixture(params=["sqlite", "postgres"])
def accounts(request: pytest.FixtureRequest, tmp_path: Path) -> Accounts:
    if request.param == "sqlite":
        url = sqlite_url(tmp_path)
    else:
        url = fresh_pg_database(request.getfixturevalue("postgres_url"), "acc")
    made = make_accounts(url, tmp_path)
    db = open_database(url)
    with db.connection_context():
        for table, columns in (("acc", ACC_EXTRA), ("missed_calls", ACC_EXTRA),
                               ("acc_cdrs", CDR_EXTRA)):
            for column in columns:
                db.execute_sql(f"ALTER TABLE {table} ADD COLUMN {column} "
                               "VARCHAR(64) NOT NULL DEFAULT ''")
    db.close()
    return made


def rows(url: str, table: str, expected: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The table's rows once it holds `expected` of them (writes are asynchronous)."""
    db = open_database(url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with db.connection_context():
                cursor = db.execute_sql(f"SELECT * FROM {table} ORDER BY id")
                names = [c[0] for c in cursor.description]
                found = [dict(zip(names, row)) for row in cursor.fetchall()]
            if len(found) >= expected or time.monotonic() > deadline:
                return found
            time.sleep(0.1)
    finally:
        db.close()


def explain(p: Proxy, *results: SippResult) -> str:
    return "\n\n".join([*(r.report(80) for r in results), "==== geosip log:",
                        p.log()[-12000:]])


def ctl(tmp_path: Path, *args: str) -> Any:
    done = subprocess.run([GEOSIPCTL, "-s", str(tmp_path / "ctl.sock"), "--json", *args],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def server(accounts: Accounts, proxy: Callable[..., Proxy], tmp_path: Path) -> Proxy:
    return proxy("-c", str(SCRIPT), "--db", accounts.url,
                 "--rpc-socket", str(tmp_path / "ctl.sock"))


def test_answered_busy_and_cancelled_calls(server: Proxy, accounts: Accounts,
                                           sipp: Callable[..., Sipp],
                                           free_port: Callable[..., int]) -> None:
    p, url = server, accounts.url
    uas_port = free_port()
    uas = sipp("uas", SCENARIOS / "answer_uas.xml", port=uas_port).start().wait_listening()
    uac = sipp("uac", SCENARIOS / "call_uac.xml", port=free_port(),
               remote=f"{HOST}:{uas_port}", proxy=p.addr(), keys={"extra": ""}).run()
    assert uac.successful == 1, explain(p, uac, uas.wait())
    uas.wait()
    acc = rows(url, "acc", 3)
    assert [(r["method"], r["sip_code"], r["sip_reason"]) for r in acc] == [
        ("INVITE", "200", "OK"), ("ACK", "200", "OK"), ("BYE", "200", "OK")], explain(p, uac)
    invite = uac.sent("INVITE")[0]
    callid = invite.header("Call-ID")[0]
    from_tag = invite.header("From")[0].split("tag=")[1]
    for row in acc:
        assert row["callid"] == callid
        assert (row["from_tag"], row["src_user"], row["src_domain"]) == (
            from_tag, "sipp", HOST)
        assert (row["dst_user"], row["dst_domain"], row["src_ip"]) == (
            "service", HOST, HOST)
        assert row["to_tag"] and row["to_tag"] != from_tag
    [cdr] = rows(url, "acc_cdrs", 1)
    assert {k: cdr[k] for k in CDR_EXTRA} == {"src_username": "sipp", "src_domain": HOST,
                                             "dst_username": "service", "dst_domain": HOST}
    assert 0 <= float(cdr["duration"]) < 10 and cdr["start_time"] <= cdr["end_time"]
    assert rows(url, "missed_calls", 0) == []

    # busy: missed_calls only
    busy_uas = sipp("busy", SCENARIOS / "reject_uas.xml", port=uas_port).start().wait_listening()
    busy = sipp("busy_uac", SCENARIOS / "reject_uac.xml", port=free_port(),
                remote=f"{HOST}:{uas_port}", proxy=p.addr()).run()
    busy_uas.wait()
    [missed] = rows(url, "missed_calls", 1)
    assert (missed["method"], missed["sip_code"], missed["sip_reason"], missed["src_user"]) == (
        "INVITE", "486", "Busy Here", "sipp"), explain(p, busy)
    # cancelled while ringing: 487 in missed_calls
    cancel_uas = sipp("cancel", SCENARIOS / "cancel_uas.xml",
                      port=uas_port).start().wait_listening()
    cancel = sipp("cancel_uac", SCENARIOS / "cancel_uac.xml", port=free_port(),
                  remote=f"{HOST}:{uas_port}", proxy=p.addr()).run()
    cancel_uas.wait()
    missed_rows = rows(url, "missed_calls", 2)
    assert [r["sip_code"] for r in missed_rows] == ["486", "487"], explain(p, cancel)
    assert len(rows(url, "acc", 3)) == 3 and len(rows(url, "acc_cdrs", 1)) == 1
    p.assert_no_tracebacks()


def test_dlg_list_then_end_dlg_sends_bye_both_ways(server: Proxy, accounts: Accounts,
                                                   sipp: Callable[..., Sipp],
                                                   free_port: Callable[..., int],
                                                   tmp_path: Path) -> None:
    p, url = server, accounts.url
    uas_port = free_port()
    uas = sipp("uas", SCENARIOS / "answer_uas.xml", port=uas_port).start().wait_listening()
    uac = sipp("uac", SCENARIOS / "bye_wait_uac.xml", port=free_port(),
               remote=f"{HOST}:{uas_port}", proxy=p.addr()).start()
    deadline = time.monotonic() + 10
    listed: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        listed = ctl(tmp_path, "dlg.list")
        if listed and listed[0]["state"] == 4:
            break
        time.sleep(0.1)
    assert len(listed) == 1 and listed[0]["state"] == 4, explain(p)
    [dialog] = listed
    assert dialog["from_uri"].startswith("sip:sipp@") and dialog["to_uri"].startswith(
        "sip:service@")
    assert dialog["profiles"] == [{"caller": dialog["from_uri"]}]
    ctl(tmp_path, "dlg.end_dlg", str(dialog["h_entry"]), str(dialog["h_id"]))
    caller, callee = uac.wait(), uas.wait()
    assert caller.successful == 1 and callee.successful == 1, explain(p, caller, callee)
    [bye_to_caller] = caller.received("BYE")
    [bye_to_callee] = callee.received("BYE")
    assert bye_to_caller.header("Call-ID") == bye_to_callee.header("Call-ID") == [
        dialog["call-id"]]
    assert ctl(tmp_path, "dlg.list") == []
    [cdr] = rows(url, "acc_cdrs", 1)
    assert cdr["src_username"] == "sipp"
    p.assert_no_tracebacks()
