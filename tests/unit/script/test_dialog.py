"""KSR.dialog through a real Lua script routing the real Core in-process
(tests/support/luanet.py): states with the responses, in-dialog matching, profiles,
$dlg/$dlg_var, dialog:* events, dlg_bye and the timeout (the BYEs on the wire, as
RFC 3261 §12.2.1.1 and Kamailio's dlg_bye build them), RPC dlg.list/end_dlg,
statistics and persistence (db_mode 1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gevent
import pytest

from geosip.db import schema
from geosip.db.connect import open_database
from geosip.db.models import Dialog as DialogRow
from geosip.db.models import DialogVars
from geosip.modules.dialog import api, mod, rpc, store, table
from geosip.sip import Request, Response
from tests.support.callflow import IN_DIALOG
from tests.support.luanet import UAC, UAS, LuaNet, request

MODULES = ("tm", "tmx", "sl", "rr", "dialog")

SCRIPT = """
function ksr_request_route()
  if KSR.is_INVITE() and KSR.pv.get("$tt") == nil then
    KSR.test.record(KSR.dialog.dlg_manage())
    KSR.test.record(KSR.dialog.set_dlg_profile("caller", KSR.pv.get("$fU")))
    KSR.test.record(KSR.dialog.set_dlg_profile_static("calls"))
    KSR.test.record(KSR.dialog.set_dlg_profile("nosuch", "x"))
    KSR.pv.sets("$dlg_var(account)", "A-" .. KSR.pv.get("$fU"))
    local t = KSR.pv.get("$hdr(X-Timeout)")
    if t then KSR.dialog.dlg_set_timeout(tonumber(t)) end
    KSR.dialog.get_profile_size("caller", KSR.pv.get("$fU"), "$var(n)")
    KSR.test.record("size " .. KSR.pv.get("$var(n)"))
    KSR.rr.record_route()
    KSR.tm.t_relay()
    return
  end
  KSR.test.record(KSR.pv.get("$rm") .. " known " .. KSR.dialog.is_known_dlg())
  if KSR.dialog.is_known_dlg() > 0 then
    KSR.test.record("var " .. KSR.pv.get("$dlg_var(account)") .. " state " ..
                    KSR.pv.get("$dlg(state)"))
  end
  if KSR.is_method("INFO") then
    KSR.test.record(KSR.dialog.dlg_bye(KSR.pv.get("$hdr(X-Side)")))
    KSR.sl.sl_send_reply(200, "OK")
    return
  end
  KSR.rr.loose_route()
  KSR.tm.t_relay()
end

function ksr_dialog_event(evname)
  KSR.test.record(evname .. " " .. (KSR.pv.get("$dlg(callid)") or "-") .. " " ..
                  (KSR.pv.get("$dlg_var(account)") or "-"))
end
"""

PARAMS = {"profiles_with_value": "caller", "profiles_no_value": "calls",
          "event_callback": "ksr_dialog_event"}


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Any]:
    made: list[LuaNet] = []

    def make(params: dict[str, Any] | None = None) -> LuaNet:
        mod.init({**PARAMS, **(params or {})})
        made.append(LuaNet(SCRIPT, tmp_path, modules=MODULES))
        return made[-1]

    yield make
    for n in made:
        n.stop()
    mod.destroy()


def in_dialog(method: str, cseq: int, n: int = 1, extra: str = "") -> bytes:
    text = IN_DIALOG.format(method=method, n=n, cseq=cseq)
    return text.replace("Max-Forwards: 70\r\n", f"Max-Forwards: 70\r\n{extra}").encode()


def call(n: LuaNet, status: str = "200 OK", extra: str = "") -> Request:
    """INVITE relayed to the UAS, answered with `status`; the forwarded INVITE."""
    n.deliver(request(extra=extra))
    [invite] = [m for m in n.take(UAS) if isinstance(m, Request)]
    n.reply_to(invite, "180 Ringing")
    n.reply_to(invite, status)
    return invite


def test_states_profiles_vars_and_bye(net: Any) -> None:
    n = net()
    n.deliver(request())
    assert n.recorded[:5] == [1, 1, 1, -1, "size 1"]
    [dialog] = table.DIALOGS.values()
    assert dialog.state == api.UNCONFIRMED
    [invite] = n.take(UAS)
    n.reply_to(invite, "180 Ringing")
    assert dialog.state == api.EARLY
    assert table.early_dialogs() == 1
    n.reply_to(invite, "200 OK")
    gevent.sleep(0.05)  # the event callback runs in its own greenlet
    assert dialog.state == api.CONFIRMED_NA
    assert dialog.callee.tag == "1SIPpTag011"
    assert dialog.callee.contact == "sip:127.0.0.1:5080"
    assert "dialog:start 1-call@127.0.0.1 A-sipp" in n.recorded
    assert table.active_dialogs() == 1
    n.deliver(in_dialog("ACK", 1))
    assert dialog.state == api.CONFIRMED
    assert "ACK known 1" in n.recorded and "var A-sipp state 4" in n.recorded
    entry = rpc.dlg_list()[0]
    assert (entry["call-id"], entry["state"], entry["from_uri"]) == (
        "1-call@127.0.0.1", 4, "sip:sipp@127.0.0.1:5070")
    assert entry["profiles"] == [{"caller": "sipp"}, {"calls": ""}]
    assert entry["variables"] == [{"account": "A-sipp"}]
    assert rpc.dlg_profile_get_size(None, "calls")["profile"]["count"] == 1
    n.deliver(in_dialog("BYE", 2))
    gevent.sleep(0.05)
    assert dialog.state == api.DELETED and not table.DIALOGS
    assert "dialog:end 1-call@127.0.0.1 A-sipp" in n.recorded
    assert rpc.dlg_list() == [] and table.active_dialogs() == 0
    assert n.core.stats.get("dialog:processed_dialogs") == 1


def test_failed_dialog(net: Any) -> None:
    n = net()
    call(n, "486 Busy Here")
    gevent.sleep(0.05)
    assert not table.DIALOGS
    assert "dialog:failed 1-call@127.0.0.1 A-sipp" in n.recorded
    assert n.core.stats.get("dialog:failed_dialogs") == 1


def test_unknown_in_dialog_request(net: Any) -> None:
    n = net()
    n.deliver(in_dialog("BYE", 2, n=7))
    assert "BYE known -1" in n.recorded


def sent_requests(n: LuaNet, dest: Any) -> list[Request]:
    """Requests sent to dest, retransmissions (UDP, no answer here) counted once."""
    seen: dict[bytes, Request] = {}
    for m in n.take(dest):
        if isinstance(m, Request):
            seen.setdefault(m.to_bytes(), m)
    return list(seen.values())


def _check_bye(bye: Request, ruri: str, from_tag: str, to_tag: str, cseq: int) -> None:
    assert bye.method == "BYE" and bye.uri_text == ruri
    assert (bye.from_tag, bye.to_tag, bye.call_id) == (from_tag, to_tag, "1-call@127.0.0.1")
    assert bye.cseq.number == cseq and bye.cseq.method == "BYE"


def test_dlg_bye_all_sends_bye_both_ways(net: Any) -> None:
    n = net()
    call(n)
    n.deliver(in_dialog("ACK", 1))
    n.take(UAS)
    n.deliver(in_dialog("INFO", 5, extra="X-Side: all\r\n"))
    gevent.sleep(0.05)
    assert 1 in n.recorded[-3:]
    [to_callee] = sent_requests(n, UAS)
    _check_bye(to_callee, "sip:127.0.0.1:5080", "1SIPpTag001", "1SIPpTag011", 6)
    [to_caller] = sent_requests(n, UAC)
    _check_bye(to_caller, "sip:sipp@127.0.0.1:5070", "1SIPpTag011", "1SIPpTag001", 2)
    assert not to_caller.has("route") and not to_callee.has("route")
    assert not table.DIALOGS
    assert any(str(r).startswith("dialog:end") for r in n.recorded)


def test_route_sets_of_the_bye(net: Any) -> None:
    """Record-Route from a proxy before us (in the INVITE) and one after us (added
    above ours in the 200): each BYE goes through its side's proxy (RFC 3261 §12)."""
    n = net()
    n.deliver(request(extra="Record-Route: <sip:up.example.com;lr>\r\n"))
    [invite] = n.take(UAS)
    data = invite.to_bytes().replace(b"Record-Route: ",
                                     b"Record-Route: <sip:down.example.com;lr>\r\nRecord-Route: ", 1)
    n.reply_to(_parse(data), "200 OK")
    [dialog] = table.DIALOGS.values()
    assert dialog.caller.route_set == ["<sip:up.example.com;lr>"]
    assert dialog.callee.route_set == ["<sip:down.example.com;lr>"]
    from geosip.modules.dialog.bye import bye_request
    assert bye_request(dialog, "callee").header("route") == "<sip:down.example.com;lr>"
    assert bye_request(dialog, "caller").header("route") == "<sip:up.example.com;lr>"


def _parse(data: bytes) -> Any:
    from geosip.sip import parse
    return parse(data)


def test_timeout_ends_with_bye(net: Any) -> None:
    n = net({"default_timeout": 1})
    call(n)
    n.take(UAC)
    gevent.sleep(1.3)
    assert not table.DIALOGS
    assert [m.method for m in sent_requests(n, UAS)] == ["BYE"]
    assert [m.method for m in sent_requests(n, UAC)] == ["BYE"]
    assert n.core.stats.get("dialog:expired_dialogs") == 1


def test_rpc_end_dlg(net: Any) -> None:
    n = net()
    call(n)
    n.take(UAC), n.take(UAS)
    [entry] = rpc.dlg_list()
    with pytest.raises(LookupError):
        rpc.dlg_end_dlg(SimpleNamespace(core=n.core), entry["h_entry"], entry["h_id"] + 1)
    rpc.dlg_end_dlg(SimpleNamespace(core=n.core), entry["h_entry"], entry["h_id"])
    assert [m.method for m in sent_requests(n, UAS)] == ["BYE"]
    assert [m.method for m in sent_requests(n, UAC)] == ["BYE"]
    assert rpc.dlg_list() == []


def test_active_calls_for_the_dispatcher(net: Any) -> None:
    n = net()
    call(n)
    [dialog] = table.DIALOGS.values()
    dialog.vars["ds:duid"] = "media1"
    assert api.active_calls("media1") == 1 and api.active_calls("media2") == 0


def test_db_mode_1_persists_and_loads(net: Any, tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'geosip.sqlite'}")
    schema.init(database)
    try:
        n = net({"db_mode": 1})
        call(n)
        store.WRITER.sync()
        with database.connection_context():
            [row] = DialogRow.select()
            [var] = DialogVars.select()
        assert (row.callid, row.from_tag, row.to_tag, row.state) == (
            "1-call@127.0.0.1", "1SIPpTag001", "1SIPpTag011", 3)
        assert row.callee_contact == "sip:127.0.0.1:5080"
        assert row.timeout == row.start_time + 43200
        assert (var.dialog_key, var.dialog_value) == ("account", "A-sipp")
        # a restart: the dialog comes back from the table and can still be ended
        mod.init({**PARAMS, "db_mode": 1})
        mod.start(n.core)
        [loaded] = table.DIALOGS.values()
        assert (loaded.callid, loaded.callee.tag, loaded.vars) == (
            "1-call@127.0.0.1", "1SIPpTag011", {"account": "A-sipp"})
        n.take(UAS)
        n.deliver(in_dialog("BYE", 2))
        store.WRITER.sync()
        with database.connection_context():
            assert DialogRow.select().count() == 0 and DialogVars.select().count() == 0
    finally:
        database.close()
