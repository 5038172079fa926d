"""KSR.acc and flag-driven accounting through a real Lua script routing the real Core
in-process (tests/support/luanet.py) over SQLite: rows in acc and missed_calls with
the extra columns of Kamailio's documented example, the log lines in Kamailio's
format, report_ack, acc_db_request/acc_log_request, and CDRs from dialogs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gevent
import pytest

from geosip.db import schema
from geosip.db.connect import open_database
from geosip.modules.acc import mod as acc_mod
from geosip.modules.acc.record import WRITER
from geosip.modules.dialog import mod as dialog_mod
from geosip.sip import Request
from tests.support.callflow import IN_DIALOG
from tests.support.luanet import UAC, UAS, LuaNet, request

MODULES = ("tm", "tmx", "sl", "rr", "dialog", "acc")

SCRIPT = """
function ksr_request_route()
  if KSR.is_method("MESSAGE") then
    KSR.test.record(KSR.acc.acc_db_request("403 Forbidden", "acc"))
    KSR.test.record(KSR.acc.acc_log_request("checked $rm"))
    KSR.sl.sl_send_reply(403, "Forbidden")
    return
  end
  if KSR.is_INVITE() and KSR.pv.get("$tt") == nil then
    KSR.setflag(1)
    KSR.setflag(2)
    KSR.dialog.dlg_manage()
    KSR.rr.record_route()
    KSR.pv.sets("$rd", "127.0.0.1")
    KSR.tm.t_relay()
    return
  end
  KSR.rr.loose_route()
  if KSR.is_BYE() then KSR.setflag(1) end
  KSR.tm.t_relay()
end
"""

EXTRA_COLUMNS = ("src_user", "src_domain", "dst_user", "dst_domain", "src_ip")
PARAMS = {"log_flag": 1, "db_flag": 1, "log_missed_flag": 2, "db_missed_flag": 2,
          "report_ack": 1, "log_extra": "src_user=$fU;dst_user=$tU",
          "db_extra": "src_user=$fU;src_domain=$fd;dst_user=$tU;dst_domain=$rd;src_ip=$si",
          "cdr_enable": 1,
          "cdr_extra": "src_username=$fU;src_domain=$fd;dst_username=$tU;dst_domain=$rd"}


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Any]:
    database = open_database(f"sqlite:///{tmp_path / 'geosip.sqlite'}")
    schema.init(database)
    with database.connection_context():
        for table in ("acc", "missed_calls"):
            for column in EXTRA_COLUMNS:
                database.execute_sql(f"ALTER TABLE {table} ADD COLUMN {column} "
                                     "VARCHAR(128) NOT NULL DEFAULT ''")
        for column in ("src_username", "src_domain", "dst_username", "dst_domain"):
            database.execute_sql(f"ALTER TABLE acc_cdrs ADD COLUMN {column} "
                                 "VARCHAR(128) NOT NULL DEFAULT ''")
    made: list[LuaNet] = []

    def make(params: dict[str, Any] | None = None) -> LuaNet:
        dialog_mod.init()
        acc_mod.init({**PARAMS, **(params or {})})
        made.append(LuaNet(SCRIPT, tmp_path, modules=MODULES))
        acc_mod.start(made[-1].core)
        dialog_mod.start(made[-1].core)
        return made[-1]

    def rows(table: str) -> list[dict[str, Any]]:
        WRITER.sync()
        with database.connection_context():
            cursor = database.execute_sql(f"SELECT * FROM {table} ORDER BY id")
            names = [c[0] for c in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    make.rows = rows  # type: ignore[attr-defined]
    yield make
    for n in made:
        n.stop()
    acc_mod.destroy()
    dialog_mod.destroy()
    database.close()


def in_dialog(method: str, cseq: int) -> bytes:
    return IN_DIALOG.format(method=method, n=1, cseq=cseq).encode()


def test_answered_call_acc_rows_log_and_cdr(net: Any, caplog: Any) -> None:
    caplog.set_level(logging.INFO, "geosip.acc")
    n = net()
    n.deliver(request())
    [invite] = [m for m in n.take(UAS) if isinstance(m, Request)]
    n.reply_to(invite, "200 OK")
    n.deliver(in_dialog("ACK", 1))
    gevent.sleep(0.2)
    n.deliver(in_dialog("BYE", 2))
    [bye] = [m for m in n.take(UAS) if isinstance(m, Request) and m.method == "BYE"][:1]
    n.reply_to(bye, "200 OK")
    acc = net.rows("acc")
    assert [(r["method"], r["sip_code"], r["sip_reason"]) for r in acc] == [
        ("INVITE", "200", "OK"), ("ACK", "200", "OK"), ("BYE", "200", "OK")]
    invite_row = acc[0]
    assert (invite_row["from_tag"], invite_row["to_tag"], invite_row["callid"]) == (
        "1SIPpTag001", "1SIPpTag011", "1-call@127.0.0.1")
    assert {k: invite_row[k] for k in EXTRA_COLUMNS} == {
        "src_user": "sipp", "src_domain": "127.0.0.1", "dst_user": "service",
        "dst_domain": "127.0.0.1", "src_ip": "127.0.0.1"}
    assert invite_row["time"]
    assert acc[2]["to_tag"] == "1SIPpTag011"
    assert net.rows("missed_calls") == []
    [cdr] = net.rows("acc_cdrs")
    assert (cdr["src_username"], cdr["src_domain"], cdr["dst_username"],
            cdr["dst_domain"]) == ("sipp", "127.0.0.1", "service", "127.0.0.1")
    assert 0.15 <= cdr["duration"] < 5
    assert cdr["start_time"] <= cdr["end_time"]
    lines = [r.getMessage() for r in caplog.records if r.name == "geosip.acc"]
    assert any(line.startswith("ACC: transaction answered: timestamp=") and
               line.endswith(";method=INVITE;from_tag=1SIPpTag001;to_tag=1SIPpTag011;"
                             "call_id=1-call@127.0.0.1;code=200;reason=OK;src_user=sipp;"
                             "dst_user=service") for line in lines), lines
    assert any(line.startswith("ACC: request acknowledged: ") for line in lines)
    assert any(line.startswith("start_time=") and "src_username=sipp" in line
               for line in lines)


def test_busy_call_is_missed(net: Any, caplog: Any) -> None:
    caplog.set_level(logging.INFO, "geosip.acc")
    n = net()
    n.deliver(request())
    [invite] = [m for m in n.take(UAS) if isinstance(m, Request)]
    n.reply_to(invite, "486 Busy Here")
    [missed] = net.rows("missed_calls")
    assert (missed["method"], missed["sip_code"], missed["sip_reason"], missed["to_tag"],
            missed["src_user"]) == ("INVITE", "486", "Busy Here", "1SIPpTag011", "sipp")
    assert net.rows("acc") == [] and net.rows("acc_cdrs") == []
    assert any(r.getMessage().startswith("ACC: call missed: timestamp=")
               for r in caplog.records)


def test_failed_transaction_flag_accounts_failures_too(net: Any) -> None:
    n = net({"failed_transaction_flag": 1})
    n.deliver(request())
    [invite] = [m for m in n.take(UAS) if isinstance(m, Request)]
    n.reply_to(invite, "486 Busy Here")
    assert [r["sip_code"] for r in net.rows("acc")] == ["486"]
    assert [r["sip_code"] for r in net.rows("missed_calls")] == ["486"]


def test_acc_db_request_and_log_request(net: Any, caplog: Any) -> None:
    caplog.set_level(logging.INFO, "geosip.acc")
    n = net()
    n.deliver(request("MESSAGE"))
    assert n.recorded == [1, 1]
    [row] = net.rows("acc")
    assert (row["method"], row["sip_code"], row["sip_reason"]) == ("MESSAGE", "403", "Forbidden")
    assert any(r.getMessage().startswith("ACC: request accounted: timestamp=") and
               ";code=;reason=checked MESSAGE;" in r.getMessage() for r in caplog.records)


def test_bad_extra_is_refused() -> None:
    with pytest.raises(ValueError):
        acc_mod.init({"db_extra": "src_user"})
    with pytest.raises(ValueError):
        acc_mod.init({"log_flag": 40})
    acc_mod.destroy()
