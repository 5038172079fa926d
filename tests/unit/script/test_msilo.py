"""KSR.msilo through a real Lua script routing the real Core in-process
(tests/support/luanet.py) over SQLite: a MESSAGE for a user who is not registered is
stored (the silo row field by field, Kamailio's columns), 202 to the sender, the
offline notice and the msilo:stored event; the user registers and m_dump delivers the
messages one by one as new MESSAGEs (body and Content-Type as sent, Date from
inc_time), each row deleted only after its 2xx; a 480 keeps the row for the timer's
next try; expiry, max_messages, add_date, the REGISTER checks of m_dump, the RPC and
the statistics. Kamailio's msilo README §3-§5 is the reference."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gevent
import pytest

from geosip.db import models, schema
from geosip.db.connect import open_database
from geosip.modules.msilo import deliver, mod as msilo_mod, rpc
from geosip.modules.registrar import mod as registrar_mod
from geosip.modules.usrloc import mod as usrloc_mod
from geosip.sip import Request, Response
from geosip.transport.base import Endpoint
from tests.support.luanet import UAC, LuaNet

MODULES = ("tm", "tmx", "sl", "usrloc", "registrar", "msilo")
BOB = Endpoint("udp", "127.0.0.1", 5092)   # bob's phone, once it registers

SCRIPT = """
function ksr_request_route()
  if KSR.is_REGISTER() then
    KSR.registrar.save("location", 0)
    KSR.test.record("dump " .. KSR.msilo.m_dump())
    return
  end
  if KSR.is_method("MESSAGE") then
    if KSR.registrar.lookup("location") < 0 then
      KSR.tm.t_newtran()
      local rc = KSR.msilo.m_store()
      KSR.test.record("store " .. rc)
      if rc > 0 then
        KSR.tm.t_reply(202, "Accepted")
      else
        KSR.tm.t_reply(503, "Service Unavailable")
      end
      return
    end
    KSR.tm.t_relay()
  end
end

function ksr_msilo_stored(evname)
  KSR.test.record(evname .. " " .. KSR.pv.get("$avp(msilo_owner)") .. " "
                  .. KSR.pv.get("$fu") .. " " .. KSR.pv.get("$rb"))
end
"""


def message(text: str, n: int = 1, ctype: str = "text/plain;charset=utf-8",
            extra: str = "") -> bytes:
    body = text.encode()
    return (f"MESSAGE sip:bob@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-m{n}\r\n"
            f"From: Alice <sip:alice@127.0.0.1>;tag=a{n}\r\nTo: <sip:bob@127.0.0.1>\r\n"
            f"Call-ID: msg-{n}@127.0.0.1\r\nCSeq: 1 MESSAGE\r\n"
            f"Contact: <sip:alice@127.0.0.1:5070>\r\nMax-Forwards: 70\r\n{extra}"
            f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


def register(expires: int = 300, n: int = 1, extra: str = "") -> bytes:
    return (f"REGISTER sip:127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:5092;branch=z9hG4bK-r{n}-{time.time_ns()}\r\n"
            f"From: <sip:bob@127.0.0.1>;tag=b{n}\r\nTo: <sip:bob@127.0.0.1>\r\n"
            f"Call-ID: reg-bob\r\nCSeq: {n} REGISTER\r\n"
            f"Contact: <sip:bob@127.0.0.1:5092>\r\nExpires: {expires}\r\n{extra}"
            "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()


def rows() -> list[dict[str, Any]]:
    with models.database.connection_context():
        cursor = models.database.execute_sql("SELECT * FROM silo ORDER BY id")
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Any]:
    database = open_database(f"sqlite:///{tmp_path / 'geosip.sqlite'}")
    schema.init(database)
    made: list[LuaNet] = []

    def make(**params: Any) -> LuaNet:
        usrloc_mod.init()
        registrar_mod.init()
        msilo_mod.init({"event_callback": "ksr_msilo_stored", **params})
        made.append(LuaNet(SCRIPT, tmp_path, modules=MODULES))
        msilo_mod.start(made[-1].core)
        return made[-1]

    yield make
    for n in made:
        n.stop()
    msilo_mod.destroy()
    usrloc_mod.destroy()
    database.close()


def finals(n: LuaNet, dest: Endpoint = UAC) -> list[int]:
    return [m.status for m in n.take(dest) if isinstance(m, Response) and m.status >= 200]


def sent_requests(n: LuaNet, dest: Endpoint) -> list[Request]:
    """The requests sent to dest, each once (retransmissions left out: tm's timers are
    fast here)."""
    seen: dict[tuple[str, int], Request] = {}
    for m in n.take(dest):
        if isinstance(m, Request):
            seen.setdefault((m.call_id, m.cseq.number), m)
    return list(seen.values())


def test_a_message_for_an_offline_user_is_stored_field_by_field(net: Any) -> None:
    n = net()
    before = int(time.time())
    n.deliver(message("hello bob", extra="X-Chat-Id: 42\r\nSubject: hi\r\n"), wait=0.1)
    assert finals(n) == [202]
    [row] = rows()
    assert before <= row["inc_time"] <= int(time.time())
    assert row["exp_time"] == row["inc_time"] + 259200        # expire_time's default
    assert {k: row[k] for k in ("src_addr", "dst_addr", "username", "domain",
                                "snd_time", "ctype", "extra_hdrs", "callid",
                                "status")} == {
        "src_addr": "sip:alice@127.0.0.1", "dst_addr": "sip:bob@127.0.0.1",
        "username": "bob", "domain": "127.0.0.1", "snd_time": 0,
        # the whole Content-Type (Kamailio keeps the media type only), and the headers
        # Kamailio's parser has no type for
        "ctype": "text/plain;charset=utf-8", "extra_hdrs": "X-Chat-Id: 42\r\n", "callid": "",
        "status": 0}
    assert bytes(row["body"]) == b"hello bob"
    assert "store 1" in n.recorded
    # the push hook: the event ran on the stored MESSAGE
    assert "msilo:stored sip:bob@127.0.0.1 sip:alice@127.0.0.1 hello bob" in n.recorded
    assert n.core.stats.counters["msilo:stored_messages"] == 1


def test_registering_delivers_the_message_and_the_row_goes_after_the_200(net: Any) -> None:
    n = net()
    n.deliver(message("hello bob", ctype="application/im-iscomposing+xml"), wait=0.1)
    [row] = rows()
    n.deliver(register(), source=BOB, wait=0.2)
    assert "dump 1" in n.recorded
    [delivered] = sent_requests(n, BOB)
    assert delivered.method == "MESSAGE"
    assert delivered.uri_text == "sip:bob@127.0.0.1:5092"
    assert delivered.body == b"hello bob"
    assert delivered.header("content-type") == "application/im-iscomposing+xml"
    assert delivered.header("date") == email.utils.formatdate(row["inc_time"], usegmt=True)
    assert str(delivered.from_.uri) == "sip:alice@127.0.0.1"
    assert str(delivered.to.uri) == "sip:bob@127.0.0.1"
    assert len(rows()) == 1                          # not before the 2xx
    n.reply_to(delivered, "200 OK", source=BOB, wait=0.1)
    assert rows() == []
    assert n.core.stats.counters["msilo:dumped_messages"] == 1


def test_two_messages_arrive_in_order_one_after_the_other(net: Any) -> None:
    n = net()
    n.deliver(message("first", 1), wait=0.1)
    n.deliver(message("second", 2), wait=0.1)
    n.deliver(register(), source=BOB, wait=0.2)
    [one] = sent_requests(n, BOB)                   # the second waits for the first's 2xx
    assert one.body == b"first"
    n.reply_to(one, "202 Accepted", source=BOB, wait=0.2)
    [two] = sent_requests(n, BOB)
    assert two.body == b"second"
    n.reply_to(two, "200 OK", source=BOB, wait=0.1)
    assert rows() == []


def test_a_480_keeps_the_row_and_the_timer_delivers_it_later(net: Any) -> None:
    n = net()
    n.deliver(message("try again"), wait=0.1)
    n.deliver(register(), source=BOB, wait=0.2)
    [first] = sent_requests(n, BOB)
    n.reply_to(first, "480 Temporarily Unavailable", source=BOB, wait=0.1)
    [row] = rows()
    assert bytes(row["body"]) == b"try again"
    assert n.core.stats.counters["msilo:failed_messages"] == 1
    deliver.run_timer_once(1)                        # check_time later: bob is registered
    gevent.sleep(0.1)
    [again] = sent_requests(n, BOB)
    assert again.body == b"try again"
    n.reply_to(again, "200 OK", source=BOB, wait=0.1)
    assert rows() == []


def test_expired_messages_are_removed_and_never_delivered(net: Any) -> None:
    n = net(expire_time=1, clean_period=1)
    n.deliver(message("stale"), wait=0.1)
    assert len(rows()) == 1
    gevent.sleep(1.1)
    n.deliver(register(), source=BOB, wait=0.2)
    assert sent_requests(n, BOB) == []
    deliver.run_timer_once(1)
    assert rows() == []


def test_max_messages_refuses_more(net: Any) -> None:
    n = net(max_messages=1)
    n.deliver(message("one", 1), wait=0.1)
    n.deliver(message("two", 2), wait=0.1)
    assert finals(n) == [202, 503]
    assert [n for n in n.recorded if str(n).startswith("store")] == ["store 1", "store -1"]
    assert [bytes(r["body"]) for r in rows()] == [b"one"]


def test_add_date_prefixes_a_text_body(net: Any) -> None:
    n = net(add_date=1)
    n.deliver(message("dated"), wait=0.1)
    [row] = rows()
    n.deliver(register(), source=BOB, wait=0.2)
    [delivered] = sent_requests(n, BOB)
    assert delivered.body == (f"[Offline message - {time.ctime(row['inc_time'])}] "
                              "dated").encode()


def test_the_offline_notice_goes_back_to_the_sender(net: Any) -> None:
    n = net(from_address="sip:registrar@127.0.0.1",
            offline_message="*** User $rU is offline!",
            content_type_hdr="Content-Type: text/plain\r\n",
            contact_hdr="Contact: <sip:registrar@127.0.0.1>\r\n")
    n.deliver(message("anyone?"), wait=0.2)
    notices = sent_requests(n, UAC)
    assert [m.method for m in notices] == ["MESSAGE"]
    notice = notices[0]
    assert notice.uri_text == "sip:alice@127.0.0.1:5070"      # use_contact 1
    assert notice.body == b"*** User bob is offline!"
    assert str(notice.from_.uri) == "sip:registrar@127.0.0.1"
    assert notice.header("contact") == "<sip:registrar@127.0.0.1>"


def test_m_dump_refuses_a_register_that_takes_no_message(net: Any) -> None:
    n = net()
    n.deliver(message("kept"), wait=0.1)
    n.deliver(register(extra="Allow: INVITE, ACK, BYE\r\n"), source=BOB, wait=0.2)
    n.deliver(register(0, n=2), source=BOB, wait=0.2)
    assert [r for r in n.recorded if str(r).startswith("dump")] == ["dump -1", "dump -1"]
    assert sent_requests(n, BOB) == []
    assert len(rows()) == 1


def test_rpc_dump_and_count(net: Any) -> None:
    n = net()
    n.deliver(message("one", 1), wait=0.1)
    n.deliver(message("two", 2), wait=0.1)
    assert rpc.msilo_count() == {"messages": 2}
    assert rpc.msilo_count("bob@127.0.0.1") == {"AoR": "bob@127.0.0.1", "messages": 2}
    assert rpc.msilo_count("carol@127.0.0.1")["messages"] == 0
    dumped = rpc.msilo_dump("sip:bob@127.0.0.1")
    assert [(d["body"], d["username"], d["src_addr"]) for d in dumped] == [
        ("one", "bob", "sip:alice@127.0.0.1"), ("two", "bob", "sip:alice@127.0.0.1")]
    with pytest.raises(ValueError):
        rpc.msilo_count("not an aor")


def test_parameters_are_checked() -> None:
    with pytest.raises(ValueError):
        msilo_mod.init({"offline_message": "offline"})   # needs content_type_hdr
    with pytest.raises(ValueError):
        msilo_mod.init({"skip_notification_flag": 40})
    with pytest.raises(ValueError):
        msilo_mod.init({"snd_time_avp": "$var(x)"})
    msilo_mod.init()
