"""Instant messages through scripts/default.lua's MESSAGE and gateway sections (issue 7),
with `geosip run` as a real process, sipp as the phones, SQLite, and the SMSC simulator:

- a MESSAGE to a registered user is relayed: the phone's 200 reaches the sender, and
  the body and Content-Type arrive unchanged (RFC 3428 §4, §7);
- one over 1300 bytes for a UDP next hop is answered 513 and not relayed (RFC 3428 §7);
- one to a tel: URI without an SMS gateway: 416, not t_relay's 500;
- a registered phone that answers 480: msilo keeps the message (the silo row) and the
  sender gets 202 (ksr_failure_message: Kamailio's msilo README, failure_route with
  m_store); the phone registers again, now answering 200, and gets it; the row goes;
  a registered phone that does not answer at all (tm's 408): kept too, 202;
- geosip.gateways.sms enabled (SMPP against tests/support/smsc.py): a MESSAGE to
  sip:+447700900123@<sms domain> reaches the SMSC as submit_sm and the sender gets 202;
  to tel:+447700900123 with the SMSC throttling, 503 with the gateway's Retry-After
  (ksr_failure_gateway), and 202 when sent again.
The script is default.lua itself, with msilo added and auth removed (the sipp peers
are strangers), derived at run time (test_usrloc_db.script).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from smpplib import consts as c

from tests.support.accounts import make_accounts, sqlite_url
from tests.support.smsc import Smsc

from ._proxy import HOST, Proxy
from ._sipp import SCENARIOS, Sipp, SippResult
from .test_msilo import bobs_phone, register_bob, silo_rows
from .test_sms import lua
from .test_usrloc_db import script

# check_time: msilo's timer stays out of the way, so a delivery here is m_dump's at REGISTER
MSILO = "msilo = { check_time = 3600 }"
SMS_DOMAIN = "sms.test"
ALICE_NUMBER = "+447700900001"
PHONE = "+447700900123"
CTYPE = "text/plain;charset=UTF-8"

# alice's phone: one MESSAGE to -key ruri, any of the answers the tests expect (the
# test reads which from the trace)
UAC = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="geosip test: one MESSAGE">
  <send retrans="500"><![CDATA[

      MESSAGE [ruri] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: Alice <sip:alice@[remote_ip]>;tag=[pid]SIPpTag00[call_number]
      To: <[ruri]>
      Call-ID: [call_id]
      CSeq: 1 MESSAGE
      Max-Forwards: 70
      Content-Type: [ctype]
      Content-Length: [len]

      [text]
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="200" optional="true" next="end"/>
  <recv response="202" optional="true" next="end"/>
  <recv response="416" optional="true" next="end"/>
  <recv response="503" optional="true" next="end"/>
  <recv response="513" next="end"/>
  <label id="end"/>
</scenario>
"""


# bob's phone, registered and switched off: takes the MESSAGE (and its retransmissions)
# and says nothing, longer than geosip's fr_timer in the test
SILENT_UAS = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="geosip test: a phone that does not answer MESSAGE">
  <recv request="MESSAGE"/>
  <pause milliseconds="4000"/>
</scenario>
"""


def send(sipp: Callable[..., Sipp], p: Proxy, free_port: Callable[..., int], tmp_path: Path,
         ruri: str, text: str, name: str = "alice") -> SippResult:
    scenario = tmp_path / "message_uac.xml"
    scenario.write_text(UAC)
    return sipp(name, scenario, port=free_port(), remote=p.addr(),
                keys={"ruri": ruri, "text": text, "ctype": CTYPE}).run()


def final(result: SippResult) -> Any:
    [answer] = [m for m in result.received() if m.is_response and m.status >= 200]
    return answer


def body(message: Any) -> str:
    return message.text.split("\n\n", 1)[1].strip()


def explain(p: Proxy, *results: SippResult) -> str:
    return "\n\n".join([*(r.report(80) for r in results), "==== geosip log:",
                        p.log()[-8000:]])


def start_proxy(proxy: Callable[..., Proxy], tmp_path: Path, *args: str,
                append: str = "") -> tuple[Proxy, str]:
    url = make_accounts(sqlite_url(tmp_path), tmp_path).url
    lua_script = script(tmp_path, "message", MSILO, append=append)
    return proxy("-c", str(lua_script), "--db", url, *args), url


def registered_bob(sipp: Callable[..., Sipp], p: Proxy, free_port: Callable[..., int],
                   code: int, calls: int = 1, port: int | None = None) -> Sipp:
    """bob's phone (a sipp UAS answering MESSAGE with `code`), registered at p."""
    phone = bobs_phone(sipp, free_port, code, calls=calls, port=port, name=f"bob-{code}")
    registered = register_bob(sipp, p, free_port, phone)
    assert (registered.returncode, registered.successful) == (0, 1), explain(p, registered)
    return phone


def test_a_message_to_a_registered_user_is_relayed_unchanged(
    proxy: Callable[..., Proxy], sipp: Callable[..., Sipp], free_port: Callable[..., int],
    tmp_path: Path,
) -> None:
    p, url = start_proxy(proxy, tmp_path)
    phone = registered_bob(sipp, p, free_port, 200)
    sent = send(sipp, p, free_port, tmp_path, f"sip:bob@{p.addr()}", "hello bob, it's alice")
    got = phone.wait()
    context = explain(p, sent, got)
    assert final(sent).status == 200, context
    [relayed] = got.received("MESSAGE")
    assert relayed.uri == f"sip:bob@{HOST}:{phone.port}", context
    assert body(relayed) == "hello bob, it's alice", context
    assert relayed.values("Content-Type") == [CTYPE], context
    assert silo_rows(url) == [], context
    p.assert_no_tracebacks()


def test_a_number_without_an_sms_gateway_is_answered_416(
    proxy: Callable[..., Proxy], sipp: Callable[..., Sipp], free_port: Callable[..., int],
    tmp_path: Path,
) -> None:
    """Not 500: the proxy has no route for tel: (RFC 3261 §16.3 step 2)."""
    p, _ = start_proxy(proxy, tmp_path)
    sent = send(sipp, p, free_port, tmp_path, f"tel:{PHONE}", "anyone?")
    assert final(sent).status == 416, explain(p, sent)
    p.assert_no_tracebacks()


def test_a_message_over_1300_bytes_for_udp_is_answered_513(
    proxy: Callable[..., Proxy], sipp: Callable[..., Sipp], free_port: Callable[..., int],
    tmp_path: Path,
) -> None:
    p, _ = start_proxy(proxy, tmp_path)
    phone = registered_bob(sipp, p, free_port, 200)
    big = send(sipp, p, free_port, tmp_path, f"sip:bob@{p.addr()}", "x" * 1400, name="big")
    assert final(big).status == 513, explain(p, big)
    # the phone gets only the next, small one (its scenario takes one MESSAGE)
    small = send(sipp, p, free_port, tmp_path, f"sip:bob@{p.addr()}", "short", name="small")
    got = phone.wait()
    context = explain(p, big, small, got)
    assert final(small).status == 200, context
    assert [body(m) for m in got.received("MESSAGE")] == ["short"], context
    p.assert_no_tracebacks()


def test_a_480_from_a_registered_phone_keeps_the_message_until_it_registers_again(
    proxy: Callable[..., Proxy], sipp: Callable[..., Sipp], free_port: Callable[..., int],
    tmp_path: Path,
) -> None:
    p, url = start_proxy(proxy, tmp_path)
    refusing = registered_bob(sipp, p, free_port, 480)
    sent = send(sipp, p, free_port, tmp_path, f"sip:bob@{p.addr()}", "call me back")
    refused = refusing.wait()
    context = explain(p, sent, refused)
    assert [body(m) for m in refused.received("MESSAGE")] == ["call me back"], context
    assert (final(sent).status, final(sent).header("CSeq")) == (202, ["1 MESSAGE"]), context
    [kept] = silo_rows(url, expected=1)
    assert (kept["username"], kept["domain"], kept["src_addr"], kept["ctype"]) == (
        "bob", HOST, f"sip:alice@{HOST}", CTYPE), kept
    assert bytes(kept["body"]).strip() == b"call me back"

    # bob's phone registers again, now answering 200: m_dump at REGISTER delivers it
    answering = registered_bob(sipp, p, free_port, 200, port=refusing.port)
    got = answering.wait()
    context = explain(p, got)
    assert got.returncode == 0, context
    [delivered] = got.received("MESSAGE")
    assert body(delivered) == "call me back", context
    assert delivered.values("Content-Type") == [CTYPE], context
    assert silo_rows(url, expected=0) == [], context
    p.assert_no_tracebacks()


def test_a_registered_phone_that_does_not_answer_gets_the_message_kept(
    proxy: Callable[..., Proxy], sipp: Callable[..., Sipp], free_port: Callable[..., int],
    tmp_path: Path,
) -> None:
    """No answer within fr_timer: tm's local 408 reaches ksr_failure_message, which
    stores the message and answers 202 (not the 408)."""
    p, url = start_proxy(proxy, tmp_path, "--fr-timer", "2")
    scenario = tmp_path / "silent_uas.xml"
    scenario.write_text(SILENT_UAS)
    phone = sipp("bob-silent", scenario, port=free_port()).start().wait_listening()
    registered = register_bob(sipp, p, free_port, phone)
    assert registered.returncode == 0, explain(p, registered)
    sent = send(sipp, p, free_port, tmp_path, f"sip:bob@{p.addr()}", "are you there?")
    context = explain(p, sent, phone.wait())
    assert final(sent).status == 202, context
    [kept] = silo_rows(url, expected=1)
    assert (kept["username"], bytes(kept["body"]).strip()) == ("bob", b"are you there?")
    p.assert_no_tracebacks()


def test_messages_to_phone_numbers_go_out_as_sms(
    proxy: Callable[..., Proxy], sipp: Callable[..., Sipp], free_port: Callable[..., int],
    tmp_path: Path,
) -> None:
    with Smsc() as smsc:
        settings = {"listen": f"{HOST}:{free_port()}", "domain": SMS_DOMAIN,
                    "numbers": {ALICE_NUMBER: f"sip:alice@{HOST}"}, "retry_after": 9,
                    "connector": "smpp",
                    "smpp": {"host": smsc.host, "port": smsc.port, "system_id": "geosip",
                             "password": "pw", "reconnect": 0.5}}
        # the block default.lua's header has commented out, as an operator enables it
        p, _ = start_proxy(proxy, tmp_path,
                           append=f"\ngeosip.gateways = {{ sms = {lua(settings)} }}\n")
        p.server.wait_for("SMS gateway on")
        smsc.wait_bound()

        sent = send(sipp, p, free_port, tmp_path, f"sip:{PHONE}@{SMS_DOMAIN}", "Hello SMS")
        assert final(sent).status == 202, explain(p, sent)
        [pdu] = smsc.pdus("submit_sm")
        assert (pdu.destination_addr, pdu.source_addr) == (b"447700900123", b"447700900001")
        assert pdu.short_message == b"Hello SMS\r\n"  # sipp ends the body with CRLF

        # a tel: URI (no host: $rz is tested before $rd); the SMSC throttles it
        smsc.refuse(c.SMPP_ESME_RTHROTTLED)
        busy = send(sipp, p, free_port, tmp_path, f"tel:{PHONE}", "again", name="busy")
        answer = final(busy)
        assert (answer.status, answer.header("Retry-After")) == (503, ["9"]), explain(p, busy)
        assert "SMS Centre Busy" in answer.start_line, explain(p, busy)
        retry = send(sipp, p, free_port, tmp_path, f"tel:{PHONE}", "again", name="retry")
        assert final(retry).status == 202, explain(p, retry)
        assert [x.short_message for x in smsc.pdus("submit_sm")] == [
            b"Hello SMS\r\n", b"again\r\n", b"again\r\n"]
        p.assert_no_tracebacks()
