"""KSR.registrar over usrloc through a real Lua script routing the real Core
in-process (tests/support/luanet.py): REGISTER then INVITE reaches the contact,
expires rules, '*', q-ordered forking, Call-ID/CSeq ordering, max_contacts, outbound
instances, Path, expiry on the timer, method filtering, and 404 when not registered.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gevent
import pytest

from geosip.modules.registrar import mod as registrar_mod
from geosip.modules.usrloc import api as ul
from geosip.modules.usrloc import mod as usrloc_mod
from geosip.sip import Request, Response
from geosip.transport.base import Endpoint
from tests.support.luanet import UAC, UAS, UAS2, LuaNet, request, statuses

MODULES = ("tm", "tmx", "sl", "registrar", "usrloc")

SCRIPT = """
function ksr_request_route()
  if KSR.is_REGISTER() then
    local flags = tonumber(KSR.pv.get("$hdr(X-Flags)") or "0")
    KSR.test.record(KSR.registrar.save("location", flags))
    return
  end
  local rc = KSR.registrar.lookup("location")
  KSR.test.record(rc)
  if KSR.pv.get("$du") then KSR.test.record(KSR.pv.get("$du")) end
  if rc == -1 then KSR.sl.sl_send_reply(404, "Not Found") return end
  if rc == -2 then KSR.sl.sl_send_reply(405, "Method Not Allowed") return end
  if rc < 0 then KSR.sl.sl_send_reply(500, "Lookup Failed") return end
  KSR.tm.t_relay()
end
"""

NATTED = Endpoint("udp", "192.0.2.7", 40000)


def register(contacts: str | list[str] = "<sip:alice@127.0.0.1:5080>", *,
             user: str = "alice", callid: str = "reg-1", cseq: int = 1,
             expires: int | None = None, extra: str = "", source_port: int = 5080) -> bytes:
    lines = [contacts] if isinstance(contacts, str) else contacts
    head = (f"REGISTER sip:127.0.0.1:5060 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{source_port};branch=z9hG4bK-{callid}-{cseq}\r\n"
            f"From: <sip:{user}@127.0.0.1>;tag=r{cseq}\r\nTo: <sip:{user}@127.0.0.1>\r\n"
            f"Call-ID: {callid}\r\nCSeq: {cseq} REGISTER\r\nMax-Forwards: 70\r\n"
            + "".join(f"Contact: {c}\r\n" for c in lines)
            + (f"Expires: {expires}\r\n" if expires is not None else "")
            + extra + "Content-Length: 0\r\n\r\n")
    return head.encode()


def invite(user: str = "alice", n: int = 1, method: str = "INVITE") -> bytes:
    return request(method, n=n, uri=f"sip:{user}@127.0.0.1:5060")


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Any]:
    nets: list[LuaNet] = []

    def make(registrar: dict[str, Any] | None = None, usrloc: dict[str, Any] | None = None,
             script: str = SCRIPT) -> LuaNet:
        usrloc_mod.init(usrloc)
        registrar_mod.init(registrar)
        nets.append(LuaNet(script, tmp_path, modules=MODULES))
        return nets[-1]

    yield make
    for made in nets:
        made.stop()
    usrloc_mod.destroy()
    registrar_mod.init()


def ok(net: LuaNet, data: bytes, source: Endpoint = UAS) -> Response:
    net.deliver(data, source)
    [reply] = net.take(source)
    assert isinstance(reply, Response)
    return reply


def contact_lines(reply: Response) -> list[str]:
    return reply.values("contact")


def test_register_then_invite_reaches_the_contact(net) -> None:
    n = net()
    reply = ok(n, register(expires=600))
    assert reply.status == 200
    assert contact_lines(reply) == ["<sip:alice@127.0.0.1:5080>;expires=600"]
    n.deliver(invite())
    [forwarded] = n.take(UAS)
    assert isinstance(forwarded, Request) and forwarded.uri_text == "sip:alice@127.0.0.1:5080"
    assert statuses(n.take(UAC)) == [100]
    assert n.recorded == [1, 1]
    assert (ul.registered_users(), ul.location_contacts()) == (1, 1)
    # the same contact again: updated (2), not inserted
    assert ok(n, register(expires=600, cseq=2)).status == 200
    assert n.recorded[-1] == 2


def test_unknown_user_gets_404(net) -> None:
    n = net()
    n.deliver(invite("bob"))
    assert statuses(n.take(UAC)) == [404]
    assert n.recorded == [-1]


@pytest.mark.parametrize("contact,expires_header,expected", [
    ("<sip:alice@127.0.0.1:5080>;expires=120", 300, 120),   # param beats header
    ("<sip:alice@127.0.0.1:5080>", 300, 300),               # header
    ("<sip:alice@127.0.0.1:5080>", None, 3600),             # default_expires
    ("<sip:alice@127.0.0.1:5080>", 99999, 3600),            # max_expires clamps
    ("<sip:alice@127.0.0.1:5080>", 10, 60),                 # min_expires_mode 0 raises
])
def test_expires(net, contact: str, expires_header: int | None, expected: int) -> None:
    n = net()
    reply = ok(n, register(contact, expires=expires_header))
    assert reply.status == 200
    assert contact_lines(reply) == [f"<sip:alice@127.0.0.1:5080>;expires={expected}"]


def test_too_brief_is_423_with_min_expires(net) -> None:
    n = net({"min_expires_mode": 1, "min_expires": 120})
    reply = ok(n, register(expires=30))
    assert (reply.status, reply.reason, reply.header("Min-Expires")) == \
        (423, "Interval Too Brief", "120")
    assert n.recorded == [-1] and ul.location_contacts() == 0


def test_star_with_expires_0_removes_all(net) -> None:
    n = net()
    ok(n, register(["<sip:alice@127.0.0.1:5080>", "<sip:alice@127.0.0.1:5090>"]))
    assert ul.location_contacts() == 2
    reply = ok(n, register("*", expires=0, callid="reg-2"))
    assert reply.status == 200 and contact_lines(reply) == []
    assert ul.location_contacts() == 0 and n.recorded == [1, 3]
    n.deliver(invite())
    assert statuses(n.take(UAC)) == [404]


@pytest.mark.parametrize("contacts,expires", [
    ("*", None), ("*", 60), (["*", "<sip:alice@127.0.0.1:5080>"], 0)])
def test_star_without_expires_0_is_400(net, contacts: Any, expires: int | None) -> None:
    n = net()
    reply = ok(n, register(contacts, expires=expires))
    assert reply.status == 400
    assert n.recorded == [-1]


def test_contact_expires_0_removes_one(net) -> None:
    n = net()
    ok(n, register(["<sip:alice@127.0.0.1:5080>", "<sip:alice@127.0.0.1:5090>"]))
    reply = ok(n, register("<sip:alice@127.0.0.1:5090>;expires=0", cseq=2))
    assert contact_lines(reply) == ["<sip:alice@127.0.0.1:5080>;expires=3600"]
    assert n.recorded == [1, 3]


def test_query_lists_the_bindings(net) -> None:
    n = net()
    ok(n, register(expires=300))
    n.deliver(register([], callid="q"))
    [reply] = n.take(UAS)
    assert contact_lines(reply) == ["<sip:alice@127.0.0.1:5080>;expires=300"]
    assert n.recorded == [1, 4]


def test_q_order_for_lookup_and_parallel_branches(net) -> None:
    n = net()
    ok(n, register(["<sip:alice@127.0.0.1:5080>;q=0.5", "<sip:alice@127.0.0.1:5090>;q=1.0"]))
    n.deliver(invite())
    [first] = n.take(UAS2)    # the R-URI: the highest q
    [second] = n.take(UAS)    # the appended branch, forked in parallel
    assert first.uri_text == "sip:alice@127.0.0.1:5090"  # type: ignore[union-attr]
    assert second.uri_text == "sip:alice@127.0.0.1:5080"  # type: ignore[union-attr]
    assert n.out.sent == [] or statuses(n.take(UAC)) == [100]


def test_q_order_in_serial_forking(net) -> None:
    script = SCRIPT.replace("KSR.tm.t_relay()", """
      KSR.tm.t_load_contacts()
      KSR.tm.t_next_contacts()
      KSR.tm.t_relay()""")
    n = net(script=script)
    ok(n, register(["<sip:alice@127.0.0.1:5080>;q=0.5", "<sip:alice@127.0.0.1:5090>;q=1.0"]))
    n.deliver(invite())
    assert statuses(n.take(UAS2)) == ["INVITE"]   # q=1.0 only, first
    assert n.take(UAS) == []


def test_callid_cseq_ordering(net) -> None:
    n = net()
    assert ok(n, register(expires=300, cseq=5)).status == 200
    # same Call-ID, lower CSeq: aborted (RFC 3261 §10.3 step 7)
    reply = ok(n, register(expires=0, cseq=4))
    assert (reply.status, reply.reason) == (400, "Invalid CSeq number")
    # equal CSeq: a retransmission (its 200 lost): answered again, binding untouched
    reply = ok(n, register(expires=0, cseq=5))
    assert contact_lines(reply) == ["<sip:alice@127.0.0.1:5080>;expires=300"]
    assert ul.location_contacts() == 1
    # another Call-ID may update whatever its CSeq
    reply = ok(n, register(expires=200, cseq=1, callid="other"))
    assert contact_lines(reply) == ["<sip:alice@127.0.0.1:5080>;expires=200"]
    assert n.recorded == [1, -1, 2, 2]


def test_max_contacts(net) -> None:
    n = net({"max_contacts": 2})
    ok(n, register(["<sip:alice@127.0.0.1:5080>", "<sip:alice@127.0.0.1:5090>"]))
    reply = ok(n, register("<sip:alice@127.0.0.1:5100>", callid="third"))
    assert (reply.status, reply.reason) == (503, "Too many registered contacts")
    # replacing one within the limit is fine
    reply = ok(n, register(["<sip:alice@127.0.0.1:5090>;expires=0",
                            "<sip:alice@127.0.0.1:5100>"], callid="third", cseq=2))
    assert reply.status == 200 and len(contact_lines(reply)) == 2
    assert n.recorded == [1, -1, 1]


def test_flag_replace_all_and_no_reply(net) -> None:
    n = net()
    ok(n, register(["<sip:alice@127.0.0.1:5080>", "<sip:alice@127.0.0.1:5090>"]))
    reply = ok(n, register("<sip:alice@127.0.0.1:5100>", callid="r", extra="X-Flags: 4\r\n"))
    assert contact_lines(reply) == ["<sip:alice@127.0.0.1:5100>;expires=3600"]
    n.deliver(register("<sip:alice@127.0.0.1:5110>", callid="s", extra="X-Flags: 2\r\n"))
    assert n.take(UAS) == []
    assert ul.location_contacts() == 2 and n.recorded == [1, 1, 1]


def test_outbound_instance_keeps_one_contact(net) -> None:
    n = net()
    instance = '+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"'
    ok(n, register(f"<sip:alice@127.0.0.1:5080>;{instance};reg-id=1"))
    # the same instance and flow from a new address replaces the binding (RFC 5626 §6)
    reply = ok(n, register(f"<sip:alice@127.0.0.1:5090>;{instance};reg-id=1", callid="2"))
    assert contact_lines(reply) == [
        f"<sip:alice@127.0.0.1:5090>;expires=3600;{instance};reg-id=1"]
    # another reg-id is another flow: kept side by side
    reply = ok(n, register(f"<sip:alice@127.0.0.1:5100>;{instance};reg-id=2", callid="3"))
    assert len(contact_lines(reply)) == 2
    assert n.recorded == [1, 2, 1]


def test_path_stored_returned_and_used(net) -> None:
    n = net({"use_path": 1, "path_mode": 2})
    edge = "<sip:edge.example;lr>"
    # strict mode: Path without Supported: path is refused
    reply = ok(n, register(extra=f"Path: {edge}\r\n"))
    assert (reply.status, reply.header("Unsupported")) == (420, "path")
    reply = ok(n, register(cseq=2, extra=f"Path: {edge}\r\nSupported: path\r\n"))
    assert reply.status == 200 and reply.values("path") == [edge]
    [binding] = ul.table("location").lookup("alice")
    assert binding.path == ("sip:edge.example;lr",)
    n.deliver(invite())
    # the first Path hop is the destination ($du): edge.example does not resolve here,
    # so the script records what lookup left rather than the test reading the wire
    assert n.recorded[-2:] == [1, "sip:edge.example;lr"]


def test_natted_contact_gets_received(net) -> None:
    n = net()
    ok(n, register("<sip:alice@10.0.0.5:5060>", source_port=40000), source=NATTED)
    [binding] = ul.table("location").lookup("alice")
    assert binding.received == "sip:192.0.2.7:40000"  # no ;transport=udp: Kamailio's get_src_uri
    assert binding.socket == "udp:127.0.0.1:5060"
    n.deliver(invite())
    [forwarded] = n.take(NATTED)     # sent to where the REGISTER came from
    assert forwarded.uri_text == "sip:alice@10.0.0.5:5060"  # type: ignore[union-attr]


def test_contacts_expire_on_the_timer(net) -> None:
    n = net({"min_expires": 0}, {"timer_interval": 0.1})
    reply = ok(n, register(expires=1))
    assert contact_lines(reply) == ["<sip:alice@127.0.0.1:5080>;expires=1"]
    assert ul.location_contacts() == 1
    gevent.sleep(1.3)
    assert ul.location_contacts() == 0 and ul.registered_users() == 0
    n.deliver(invite())
    assert statuses(n.take(UAC)) == [404]


def test_method_filtering_gives_minus_2(net) -> None:
    n = net({"method_filtering": 1})
    ok(n, register(extra="Allow: INVITE, ACK, BYE, CANCEL\r\n"))
    n.deliver(invite(method="MESSAGE"))
    assert statuses(n.take(UAC)) == [405]
    n.deliver(invite(n=2))
    assert statuses(n.take(UAS)) == ["INVITE"]
    assert n.recorded == [1, -2, 1]


def test_use_domain(net) -> None:
    n = net(usrloc={"use_domain": 1})
    ok(n, register())
    assert ul.table("location").aors() == ["alice@127.0.0.1"]


def test_registered_unregister_lookup_uri(net) -> None:
    script = """
function ksr_request_route()
  if KSR.is_REGISTER() then KSR.registrar.save("location", 0) return end
  KSR.test.record(KSR.registrar.registered("location"))
  KSR.test.record(KSR.registrar.lookup_uri("location", "sip:alice@elsewhere"))
  KSR.test.record(KSR.pv.get("$ru"))
  KSR.test.record(KSR.registrar.unregister("location", "sip:alice@x"))
  KSR.test.record(KSR.registrar.unregister("location", "sip:alice@x"))
  KSR.test.record(KSR.registrar.registered("location"))
  KSR.test.record(KSR.registrar.lookup_uri("location", "sip:alice@elsewhere"))
  KSR.sl.sl_send_reply(200, "Done")
end
"""
    n = net(script=script)
    ok(n, register())
    n.deliver(invite())
    assert n.recorded == [1, 1, "sip:alice@127.0.0.1:5080", 1, -1, -1, -1]


def test_ul_functions() -> None:
    usrloc_mod.init()
    try:
        ul.ul_add("location", "carol", "sip:carol@192.0.2.1", 0, q=0.7)
        dump = ul.ul_dump()
        [domain] = dump["Domains"]
        assert domain["AoRs"][0]["Contacts"][0]["Expires"] == "permanent"
        assert ul.ul_lookup("location", "carol")["Contacts"][0]["Q"] == 0.7
        assert ul.ul_rm("location", "carol") == 1
        with pytest.raises(LookupError):
            ul.ul_lookup("location", "carol")
        with pytest.raises(ValueError):
            usrloc_mod.init({"db_mode": 4})  # Kamailio's load-only mode: not offered
    finally:
        usrloc_mod.destroy()


def test_expiry_does_not_depend_on_the_timer() -> None:
    location = ul.Location("t")
    now = time.time()
    location.save(ul.Contact("a", "sip:a@h", now + 10, last_modified=now))
    assert location.lookup("a", now + 9) and not location.lookup("a", now + 11)
    assert [c.contact for c in location.sweep(now + 11)] == ["sip:a@h"]
    assert location.users() == 0
