"""KSR.uac and KSR.tm.t_uac_send through real Lua scripts routing the real Core
in-process (tests/support/luanet.py), checked on the wire: the requests geosip
originates ($uac_req + uac_req_send, Kamailio's uac README §4.8; t_uac_send), the
uac:reply event (README §6.1), From/To rewriting and its restore in replies
(README §4.1-4.6), and the answers to upstream challenges (README §4.7; RFC 3261 §22.2),
whose digests are verified with geosip/sip/digest.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import gevent
import pytest

from geosip.modules.uac import mod as uac_mod
from geosip.sip import Request, Response, digest, parse_address
from tests.support.luanet import UAC, UAS, UAS2, LuaNet, request

MODULES = ("tm", "tmx", "sl", "rr", "uac")
CHALLENGE = 'Digest realm="upstream.example", nonce="n0nce-1", qop="auth", algorithm=MD5'


@pytest.fixture
def lua(tmp_path: Path) -> Iterator:
    nets: list[LuaNet] = []

    def make(script: str, **params: object) -> LuaNet:
        uac_mod.init(params)
        nets.append(LuaNet(script, tmp_path, modules=MODULES))
        return nets[-1]

    yield make
    for net in nets:
        net.stop()
    uac_mod.init()


def requests(net: LuaNet, dest=UAS, method: str | None = None) -> list[Request]:
    got = [m for m in net.take(dest) if isinstance(m, Request)]
    return [m for m in got if method is None or m.method == method]


def wait_for(net: LuaNet, dest, method: str, timeout: float = 2.0) -> Request:
    """The first `method` request sent to dest (the send runs in its own greenlet)."""
    seen: list[Request] = []
    with gevent.Timeout(timeout):
        while True:
            seen += requests(net, dest)
            found = [m for m in seen if m.method == method]
            if found:
                return found[0]
            gevent.sleep(0.005)


def reply(net: LuaNet, req: Request, status: str, source=UAS, extra: str = "") -> None:
    """The peer answers `req` (a request geosip sent) with Via, From, To+tag, Call-ID
    and CSeq copied."""
    head = [f"SIP/2.0 {status}"]
    head += [f"Via: {v}" for v in req.header_all("via")]
    head += [f"From: {req.header('from')}", f"To: {req.header('to')};tag=peer1",
             f"Call-ID: {req.call_id}", f"CSeq: {req.header('cseq')}"]
    if extra:
        head.append(extra)
    net.deliver("\r\n".join([*head, "Content-Length: 0", "", ""]), source)


# ---- uac_req_send ------------------------------------------------------------------------

SEND = """
function ksr_request_route()
  KSR.pv.sets("$uac_req(method)", "ACCOUNTING")
  KSR.pv.sets("$uac_req(ruri)", "sip:store@127.0.0.1:5080")
  KSR.pv.sets("$uac_req(furi)", "sip:server@proxy.example")
  KSR.pv.sets("$uac_req(turi)", "sip:store@accounting.example")
  KSR.pv.sets("$uac_req(callid)", "acc-" .. KSR.pv.get("$ci"))
  KSR.pv.sets("$uac_req(hdrs)", "Content-Type: text/accounting-csv\\r\\nX-Acc: 1\\r\\n")
  KSR.pv.sets("$uac_req(body)", KSR.pv.get("$ci") .. "," .. KSR.pv.get("$fu"))
  KSR.test.record(KSR.uac.uac_req_send())
  KSR.test.record(KSR.pv.get("$uac_req(method)"))
  KSR.sl.sl_send_reply(200, "OK")
end
"""


def test_uac_req_send_puts_the_prepared_request_on_the_wire(lua) -> None:
    net = lua(SEND)
    net.deliver(request("MESSAGE"))
    sent = wait_for(net, UAS, "ACCOUNTING")
    assert net.recorded == [1, "ACCOUNTING"]  # returned at once; $uac_req is kept
    assert sent.uri_text == "sip:store@127.0.0.1:5080"
    assert str(sent.from_.uri) == "sip:server@proxy.example" and sent.from_tag
    assert str(sent.to.uri) == "sip:store@accounting.example" and sent.to_tag is None
    assert sent.call_id == "acc-1-call@127.0.0.1"
    assert sent.cseq.number == 1 and sent.cseq.method == "ACCOUNTING"
    assert sent.header("content-type") == "text/accounting-csv"
    assert sent.header("x-acc") == "1"
    assert sent.body == b"1-call@127.0.0.1,sip:sipp@127.0.0.1:5070"
    assert sent.content_length == len(sent.body)


def test_ouri_is_the_next_hop_and_missing_fields_fail(lua) -> None:
    net = lua("""
function ksr_request_route()
  KSR.pv.sets("$uac_req(method)", "OPTIONS")
  KSR.test.record(KSR.uac.uac_req_send())          -- no R-URI yet
  KSR.pv.sets("$uac_req(ruri)", "sip:svc@far.example")
  KSR.pv.sets("$uac_req(ouri)", "sip:127.0.0.1:5090")
  KSR.test.record(KSR.uac.uac_req_send())
  KSR.pv.sets("$uac_req(method)", "INVITE")         -- geosip originates no INVITE
  KSR.test.record(KSR.uac.uac_req_send())
  KSR.pv.unset("$uac_req(all)")
  KSR.test.record(KSR.pv.get("$uac_req(ruri)") == nil)
  KSR.sl.sl_send_reply(200, "OK")
end
""")
    net.deliver(request("MESSAGE"))
    sent = wait_for(net, UAS2, "OPTIONS")
    assert sent.uri_text == "sip:svc@far.example"
    assert str(sent.from_.uri) == "sip:svc@far.example"  # furi defaults to ruri
    assert net.recorded == [-1, 1, -1, True]


EVENT = """
function ksr_request_route()
  KSR.pv.sets("$uac_req(method)", "OPTIONS")
  KSR.pv.sets("$uac_req(ruri)", "sip:probe@127.0.0.1:5080")
  KSR.pv.seti("$uac_req(evroute)", 1)
  KSR.uac.uac_req_send()
  KSR.pv.sets("$uac_req(ruri)", "sip:other@127.0.0.1:5080")  -- the event keeps its own
  KSR.sl.sl_send_reply(200, "OK")
end
function ksr_uac_event(evname)
  KSR.test.record(evname)
  KSR.test.record(KSR.pv.get("$uac_req(evcode)"))
  KSR.test.record(KSR.pv.get("$uac_req(evtype)"))
  KSR.test.record(KSR.pv.get("$uac_req(ruri)"))
  KSR.test.record(KSR.pv.get("$rs") or "no reply")
end
"""


def test_the_reply_runs_the_uac_reply_event(lua) -> None:
    net = lua(EVENT, event_callback="ksr_uac_event")
    net.deliver(request("MESSAGE"))
    sent = wait_for(net, UAS, "OPTIONS")
    reply(net, sent, "404 Not Here")
    gevent.sleep(0.05)
    assert net.recorded == ["uac:reply", 404, 1, "sip:probe@127.0.0.1:5080", 404]


def test_no_reply_runs_the_event_with_a_local_timeout(lua) -> None:
    net = lua(EVENT, event_callback="ksr_uac_event")
    net.deliver(request("MESSAGE"))
    wait_for(net, UAS, "OPTIONS")
    with gevent.Timeout(3):
        while not net.recorded:
            gevent.sleep(0.02)
    assert net.recorded == ["uac:reply", 408, 2, "sip:probe@127.0.0.1:5080", "no reply"]


def test_auser_apasswd_answer_a_challenge_once(lua) -> None:
    net = lua(EVENT.replace('KSR.pv.seti("$uac_req(evroute)", 1)',
                            'KSR.pv.seti("$uac_req(evroute)", 1)\n'
                            '  KSR.pv.sets("$uac_req(auser)", "alice")\n'
                            '  KSR.pv.sets("$uac_req(apasswd)", "secret")'),
              event_callback="ksr_uac_event")
    net.deliver(request("MESSAGE"))
    first = wait_for(net, UAS, "OPTIONS")
    assert first.header("proxy-authorization") is None
    reply(net, first, "407 Proxy Authentication Required", extra=f"Proxy-Authenticate: {CHALLENGE}")
    second = wait_for(net, UAS, "OPTIONS")
    cred = digest.parse_credentials(second.header("proxy-authorization"))
    assert (cred.username, cred.realm, cred.uri, cred.qop) == (
        "alice", "upstream.example", "sip:probe@127.0.0.1:5080", "auth")
    assert digest.verify(cred, method="OPTIONS", password="secret")
    assert second.call_id == first.call_id and second.from_tag == first.from_tag
    assert second.cseq.number == first.cseq.number + 1
    reply(net, second, "200 OK")
    gevent.sleep(0.05)
    assert net.recorded[0::5] == ["uac:reply", "uac:reply"]
    assert net.recorded[1::5] == [407, 200]


# ---- t_uac_send ----------------------------------------------------------------------------

def test_t_uac_send(lua) -> None:
    net = lua("""
function ksr_request_route()
  KSR.test.record(KSR.tm.t_uac_send("MESSAGE", "sip:bob@b.example", "sip:127.0.0.1:5080", "",
      "From: \\"Alice\\" <sip:alice@a.example>\\r\\nTo: <sip:bob@b.example>\\r\\n" ..
      "Content-Type: text/plain\\r\\nSubject: hi\\r\\n", "hello bob"))
  KSR.test.record(KSR.tm.t_uac_send("MESSAGE", "sip:bob@b.example", "", "",
      "To: <sip:bob@b.example>\\r\\n", ""))                  -- no From
  KSR.test.record(KSR.tm.t_uac_send("MESSAGE", "sip:bob@b.example", "", "udp:10.9.9.9:5060",
      "From: <sip:a@a.example>\\r\\nTo: <sip:bob@b.example>\\r\\n", ""))  -- not our socket
  KSR.sl.sl_send_reply(200, "OK")
end
""")
    net.deliver(request("OPTIONS"))
    sent = wait_for(net, UAS, "MESSAGE")
    assert net.recorded == [1, -1, -1]
    assert sent.uri_text == "sip:bob@b.example"
    assert sent.from_.display == "Alice" and str(sent.from_.uri) == "sip:alice@a.example"
    assert sent.from_tag  # a tag was added
    assert sent.header("to") == "<sip:bob@b.example>"
    assert sent.header("subject") == "hi" and sent.header("content-type") == "text/plain"
    assert sent.body == b"hello bob" and sent.cseq.method == "MESSAGE"
    assert sent.call_id and sent.max_forwards == 70


# ---- uac_replace_from / uac_replace_to ------------------------------------------------------

REPLACE = """
function ksr_request_route()
  KSR.rr.record_route()
  KSR.test.record(KSR.uac.uac_replace_from("Batman", "sip:batman@gotham.example"))
  KSR.test.record(KSR.uac.uac_replace_to_uri("sip:robin@gotham.example"))
  KSR.test.record(KSR.pv.get("$fu"))       -- the request the script reads is unchanged
  KSR.tm.t_on_reply("seen")
  KSR.tm.t_relay()
end
function seen()
  KSR.test.record(KSR.pv.get("$fu") .. " " .. KSR.pv.get("$tu"))
end
"""


def test_replace_from_and_to_on_the_wire_and_restored_in_replies(lua) -> None:
    net = lua(REPLACE)
    net.deliver(request("INVITE"))
    sent = requests(net, UAS, "INVITE")[0]
    assert sent.header("from") == "Batman <sip:batman@gotham.example>;tag=1SIPpTag001"
    assert str(sent.to.uri) == "sip:robin@gotham.example"
    assert sent.to.display == "service"
    # the original pair rides in our Record-Route for uac_restore_* (vsf/vst)
    rr_uri = parse_address(sent.header("record-route")).uri
    assert rr_uri.params.get("vsf") and rr_uri.params.get("vst")
    net.reply_to(sent, "200 OK")
    got = [m for m in net.take(UAC) if isinstance(m, Response) and m.status == 200][0]
    assert got.header("from") == "sipp <sip:sipp@127.0.0.1:5070>;tag=1SIPpTag001"
    assert str(got.to.uri) == "sip:service@127.0.0.1:5080" and got.to_tag == "1SIPpTag011"
    assert net.recorded == [1, 1, "sip:sipp@127.0.0.1:5070",
                            "sip:sipp@127.0.0.1:5070 sip:service@127.0.0.1:5080"]


def test_restore_from_in_a_request_of_the_dialog(lua) -> None:
    net = lua(REPLACE.replace("function ksr_request_route()", """
function ksr_request_route()
  if KSR.pv.get("$tt") ~= nil then
    KSR.rr.loose_route()
    KSR.test.record(KSR.uac.uac_restore_from())
    KSR.tm.t_relay()
    return
  end""", 1))
    net.deliver(request("INVITE"))
    rr_value = requests(net, UAS, "INVITE")[0].header("record-route")
    net.recorded.clear()
    bye = request("BYE", to_tag="1SIPpTag011", extra=f"Route: {rr_value}\r\n")
    net.deliver(bye)
    sent = requests(net, UAS, "BYE")[0]
    assert net.recorded == [1]
    assert (sent.from_.display, str(sent.from_.uri), sent.from_tag) == (
        "sipp", "sip:batman@gotham.example", "1SIPpTag001")
    net.reply_to(sent, "200 OK")
    got = [m for m in net.take(UAC) if isinstance(m, Response)][0]
    assert str(got.from_.uri) == "sip:sipp@127.0.0.1:5070"


def test_bad_replacement_uri_fails(lua) -> None:
    net = lua("""
function ksr_request_route()
  KSR.test.record(KSR.uac.uac_replace_from("", "not a uri"))
  KSR.sl.sl_send_reply(403, "No")
end
""")
    net.deliver(request("MESSAGE"))
    assert net.recorded == [-1]


# ---- uac_auth --------------------------------------------------------------------------------

AUTH = """
function ksr_request_route()
  KSR.tm.t_on_failure("trunkauth")
  KSR.tm.t_relay()
end
function trunkauth()
  if KSR.tm.t_check_status("401|407") > 0 then
    KSR.pv.sets("$avp(auser)", "bob")
    KSR.pv.sets("$avp(apasswd)", "bobpw")
    KSR.test.record(KSR.uac.uac_auth())
    KSR.tm.t_relay()
  end
end
"""


@pytest.mark.parametrize("params, user, password", [
    ({"credential": "trunk:upstream.example:trunkpw"}, "trunk", "trunkpw"),
    ({"auth_username_avp": "$avp(auser)", "auth_password_avp": "$avp(apasswd)",
      "auth_realm_avp": "$avp(arealm)"}, "bob", "bobpw"),
])
def test_uac_auth_answers_a_407_on_the_next_branch(lua, params, user, password) -> None:
    net = lua(AUTH, **params)
    net.deliver(request("INVITE"))
    first = requests(net, UAS, "INVITE")[0]
    net.reply_to(first, "407 Proxy Authentication Required".replace(
        "Required", f"Required\r\nProxy-Authenticate: {CHALLENGE}"))
    second = requests(net, UAS, "INVITE")[0]
    assert net.recorded == [1]
    cred = digest.parse_credentials(second.header("proxy-authorization"))
    assert (cred.username, cred.realm, cred.uri) == (user, "upstream.example",
                                                     "sip:service@127.0.0.1:5080")
    assert digest.verify(cred, method="INVITE", password=password)
    assert second.top_via.branch != first.top_via.branch  # a new branch
    net.reply_to(second, "200 OK")
    assert [m.status for m in net.take(UAC) if isinstance(m, Response)][-1] == 200


def test_uac_auth_without_credentials_for_the_realm(lua) -> None:
    net = lua(AUTH, credential="trunk:elsewhere.example:pw")
    net.deliver(request("INVITE"))
    first = requests(net, UAS, "INVITE")[0]
    net.reply_to(first, f"407 Proxy Authentication Required\r\nProxy-Authenticate: {CHALLENGE}")
    assert net.recorded == [-1]
    second = requests(net, UAS, "INVITE")[0]   # relayed again, without credentials
    assert second.header("proxy-authorization") is None
