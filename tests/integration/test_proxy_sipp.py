"""geosip as a stateful proxy between real SIP peers (issue 3, item 5): sipp callers and
callees, a WebSocket client, and a flood of junk, against `geosip run` on loopback.

Each test checks what a user of the proxy notices: whether every call went through
(sipp's exit code and its SuccessfulCall/FailedCall counters), which status the caller
got, and the headers that crossed the wire (sipp's message traces: Record-Route, Route,
Via). Every peer is bounded in time (see _sipp.py) and killed at the end of the test.
Scenarios are bench/sipp/uac.xml and uas.xml where they fit, else tests/integration/sipp/.

A failing assertion prints sipp's reports and geosip's log.
"""

from __future__ import annotations

import contextlib
import random
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme
from tests.support.wsclient import HOST as WS_HOST
from tests.support.wsclient import WsSipClient

from ._proxy import HOST, Proxy
from ._sipp import BENCH, SCENARIOS, Sipp, SippResult, SipMessage
from ._tls_relay import TlsRelay


def explain(proxy: Proxy, *results: SippResult) -> str:
    return "\n\n".join([*(r.report() for r in results), *proxy.notes,
                        "==== geosip log:", proxy.log()[-20000:]])


def assert_calls(proxy: Proxy, calls: int, *results: SippResult) -> None:
    """Every sipp ended with exit 0 and `calls` successful, 0 failed calls."""
    for result in results:
        counted = (result.returncode, result.successful, result.failed)
        assert counted == (0, calls, 0), (
            f"sipp {result.name}: (exit, successful, failed) = {counted}, expected "
            f"(0, {calls}, 0)\n" + explain(proxy, *results))


def call_ids(messages: list[SipMessage]) -> set[str]:
    return {m.header("Call-ID")[0] for m in messages}


def to_tag(message: SipMessage) -> str:
    found = re.search(r";tag=([^;>\s]+)", message.header("To")[0])
    assert found, f"no To tag in\n{message}"
    return found.group(1)


def no_ftag(values: list[str]) -> list[str]:
    """Record-Route/Route values without rr's ftag parameter (default.lua's
    record_route() appends the From tag, Kamailio's append_fromtag)."""
    return [re.sub(r";ftag=[^;>]*", "", v) for v in values]


def check_all(messages: list[SipMessage], count: int, what: str,
              test: Callable[[SipMessage], bool], context: str) -> None:
    """At least `count` messages, and `test` holds for each of them."""
    assert len(messages) >= count, f"{len(messages)} {what}, expected {count}\n{context}"
    bad = [m for m in messages if not test(m)]
    assert not bad, f"{len(bad)} {what} fail the check, first:\n{bad[0]}\n{context}"


# ---- 1. INVITE/ACK/BYE with Record-Route over UDP, TCP and TLS ---------------------------

CALLS = 20


@pytest.fixture
def tls_files(tmp_path: Path) -> dict[str, Path]:
    """A test CA and one certificate for 127.0.0.1 (trustme), as PEM files."""
    ca = trustme.CA()
    cert = ca.issue_cert(HOST, "localhost")
    files = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    ca.cert_pem.write_to_path(str(files["ca"]))
    cert.private_key_pem.write_to_path(str(files["key"]))
    for i, pem in enumerate(cert.cert_chain_pems):
        pem.write_to_path(str(files["cert"]), append=i > 0)
    return files


@pytest.fixture
def tls_relay() -> Iterator[Callable[..., TlsRelay]]:
    relays: list[TlsRelay] = []

    def make(*args: object, **kwargs: object) -> TlsRelay:
        relays.append(TlsRelay(*args, **kwargs))  # type: ignore[arg-type]
        return relays[-1]

    yield make
    for relay in relays:
        relay.close()


def derived_scenario(source: Path, target: Path, old: str, new: str) -> Path:
    """The scenario with `old` replaced by `new` (asserted present, so a change of
    the bench file shows here instead of silently testing something else)."""
    text = source.read_text()
    assert old in text, f"{source} no longer contains {old!r}: update this test"
    target.write_text(text.replace(old, new))
    return target


def bench_uac(folder: Path, transport: str) -> Path:
    """bench/sipp/uac.xml, calling the callee over `transport`: a SIP URI without
    transport= means UDP (RFC 3263 §4.1), so for TCP and TLS the Request-URI says so."""
    if transport == "udp":
        return BENCH / "uac.xml"
    return derived_scenario(
        BENCH / "uac.xml", folder / f"uac_{transport}.xml",
        "INVITE sip:service@[remote_ip]:[remote_port] SIP/2.0",
        f"INVITE sip:service@[remote_ip]:[remote_port];transport={transport} SIP/2.0")


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
def test_calls_keep_the_record_routed_path(
    proxy: Callable[..., Proxy], sipp: Callable[..., Sipp], free_port: Callable[..., int],
    tls_files: dict[str, Path], tls_relay: Callable[..., TlsRelay], tmp_path: Path,
    transport: str,
) -> None:
    uas_scenario = BENCH / "uas.xml"
    mode = "u1" if transport == "udp" else "t1"
    uas_port, uac_port = free_port(), free_port()
    callee = f"{HOST}:{uas_port}"  # the Request-URI's host:port
    if transport == "tls":
        # Debian's sipp has no TLS: sipp talks TCP to a TLS relay on each side, and the
        # callee's Contact names its relay with transport=tls.
        tls_port, front_port, back_port = free_port(), free_port(), free_port()
        p = proxy("--tls-cert", str(tls_files["cert"]), "--tls-key", str(tls_files["key"]),
                  "--tls-ca", str(tls_files["ca"]), tls_port=tls_port)
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(tls_files["cert"], tls_files["key"])
        client_ctx = ssl.create_default_context(cafile=str(tls_files["ca"]))
        client_ctx.check_hostname = False  # an IP literal; the chain is still verified
        relays = [tls_relay(front_port, (HOST, uas_port), accept_tls=server_ctx),
                  tls_relay(back_port, (HOST, tls_port), connect_tls=client_ctx)]
        callee, sent_to = f"{HOST}:{front_port}", f"{HOST}:{back_port}"
        uas_scenario = derived_scenario(
            BENCH / "uas.xml", tmp_path / "uas_tls.xml",
            "Contact: <sip:[local_ip]:[local_port];transport=[transport]>",
            f"Contact: <sip:[local_ip]:{front_port};transport=tls>")
        record_route = f"<sip:{HOST}:{tls_port};transport=tls;lr>"
        via = f"SIP/2.0/TLS {HOST}:{tls_port};branch=z9hG4bK"
    else:
        p, relays = proxy(), []
        sent_to = p.addr(transport)
        param = "" if transport == "udp" else f";transport={transport}"
        record_route = f"<sip:{p.addr()}{param};lr>"
        via = f"SIP/2.0/{transport.upper()} {p.addr()};branch=z9hG4bK"

    uac_scenario = bench_uac(tmp_path, transport)
    uas = sipp("uas", uas_scenario, port=uas_port, transport=mode, calls=CALLS)
    uas.start().wait_listening()
    uac = sipp("uac", uac_scenario, port=uac_port, transport=mode, calls=CALLS, rate=20,
               remote=callee, proxy=sent_to).run()
    callee_seen = uas.wait()
    for relay in relays:
        p.notes += [f"TLS relay on {relay.port}: {error}" for error in relay.errors]
    assert_calls(p, CALLS, uac, callee_seen)
    context = explain(p, uac, callee_seen)

    # The callee got our Record-Route (with lr, RFC 3261 §16.6 item 4) on each INVITE...
    check_all(callee_seen.received("INVITE"), CALLS, "INVITEs at the callee",
              lambda m: no_ftag(m.values("Record-Route")) == [record_route], context)
    # ...the caller got it back in the 200 and used it as its route set...
    check_all(uac.received("INVITE", 200), CALLS, "200s at the caller",
              lambda m: no_ftag(m.values("Record-Route")) == [record_route], context)
    for method in ("ACK", "BYE"):
        check_all(uac.sent(method), CALLS, f"{method}s from the caller",
                  lambda m: no_ftag(m.values("Route")) == [record_route], context)
        # ...so ACK and BYE reached the callee through the proxy (our Via on top).
        arrived = callee_seen.received(method)
        check_all(arrived, CALLS, f"{method}s at the callee",
                  lambda m: len(m.vias()) == 2 and m.vias()[0].startswith(via), context)
        assert call_ids(arrived) == call_ids(callee_seen.received("INVITE")), context
    p.assert_no_tracebacks()


# ---- 2. CANCEL before the answer ---------------------------------------------------------


def test_cancel_before_the_answer(
    proxy: Callable[..., Proxy], sipp: Callable[..., Sipp], free_port: Callable[..., int],
) -> None:
    p = proxy()
    calls, uas_port = 5, free_port()
    uas = sipp("uas", SCENARIOS / "cancel_uas.xml", port=uas_port, calls=calls)
    uas.start().wait_listening()
    uac = sipp("uac", SCENARIOS / "cancel_uac.xml", port=free_port(), calls=calls,
               remote=f"{HOST}:{uas_port}", proxy=p.addr()).run()
    callee_seen = uas.wait()
    assert_calls(p, calls, uac, callee_seen)
    context = explain(p, uac, callee_seen)
    assert len(uac.received("CANCEL", 200)) >= calls, context
    assert len(uac.received("INVITE", 487)) >= calls, context
    # The CANCEL the callee got is the proxy's own (RFC 3261 §16.10): one Via, ours.
    check_all(callee_seen.received("CANCEL"), calls, "CANCELs at the callee",
              lambda m: len(m.vias()) == 1 and p.addr() in m.vias()[0], context)
    p.assert_no_tracebacks()


# ---- 3. a refusal from the callee --------------------------------------------------------


def test_busy_callee(
    proxy: Callable[..., Proxy], sipp: Callable[..., Sipp], free_port: Callable[..., int],
) -> None:
    p = proxy()
    calls, uas_port = 3, free_port()
    uas = sipp("uas", SCENARIOS / "reject_uas.xml", port=uas_port, calls=calls)
    uas.start().wait_listening()
    uac = sipp("uac", SCENARIOS / "reject_uac.xml", port=free_port(), calls=calls,
               remote=f"{HOST}:{uas_port}", proxy=p.addr()).run()
    callee_seen = uas.wait()
    assert_calls(p, calls, uac, callee_seen)
    context = explain(p, uac, callee_seen)
    finals = [m.status for m in uac.finals()]
    assert finals and set(finals) == {486}, f"finals at the caller: {finals}\n{context}"
    # The ACK is absorbed hop by hop (RFC 3261 §17.1.1.3): the callee gets the proxy's
    # ACK, with the branch of the proxy's INVITE and no Via of the caller, once per call.
    invite_via = {m.header("Call-ID")[0]: m.vias()[0] for m in callee_seen.received("INVITE")}
    acks = callee_seen.received("ACK")
    check_all(acks, calls, "ACKs at the callee",
              lambda m: m.vias() == [invite_via[m.header("Call-ID")[0]]], context)
    assert len(acks) == calls, context
    p.assert_no_tracebacks()


# ---- 4. a callee that never answers ------------------------------------------------------


@pytest.mark.parametrize("callee", ["silent", "nothing-listening", "ringing"])
def test_unanswered_call_times_out(
    proxy: Callable[..., Proxy], sipp: Callable[..., Sipp], free_port: Callable[..., int],
    callee: str,
) -> None:
    p = proxy("--fr-timer", "2", "--fr-inv-timer", "2")
    uas_port = free_port()
    uas = None
    if callee != "nothing-listening":
        scenario = "silent_uas.xml" if callee == "silent" else "cancel_uas.xml"
        uas = sipp("uas", SCENARIOS / scenario, port=uas_port).start().wait_listening()
    uac = sipp("uac", SCENARIOS / "reject_uac.xml", port=free_port(),
               remote=f"{HOST}:{uas_port}", proxy=p.addr()).run()
    results = [uac] + ([uas.wait()] if uas else [])
    assert_calls(p, 1, *results)
    context = explain(p, *results)
    finals = uac.finals()
    assert [m.status for m in finals] == [408], context
    waited = finals[0].when - uac.sent("INVITE")[0].when
    # fr_timer (or fr_inv_timer after the 180) is 2 s: the caller hears within a few.
    assert 1.5 <= waited <= 5, f"408 after {waited:.2f}s\n{context}"
    if callee == "ringing":  # the proxy cancels the ringing branch (Timer C, §16.8)
        assert uas is not None
        assert len(results[1].received("CANCEL")) == 1, context
    p.assert_no_tracebacks()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_unanswered_options_times_out(
    proxy: Callable[..., Proxy], sipp: Callable[..., Sipp], free_port: Callable[..., int],
    transport: str,
) -> None:
    """A request other than INVITE to a callee that never answers gets 408 after
    fr_timer (Timer F). Over TCP the proxy's server transaction ends the moment it has
    answered (Timer J is 0 on a reliable transport, RFC 3261 §17.2.2), in the middle of
    the branch's own timeout handling."""
    p = proxy("--fr-timer", "2")
    uac = sipp("uac", SCENARIOS / "options_uac.xml", port=free_port(),
               transport="u1" if transport == "udp" else "t1",
               remote=f"{HOST}:{free_port()}", proxy=p.addr()).run()  # nothing listens
    assert_calls(p, 1, uac)
    context = explain(p, uac)
    finals = uac.finals()
    assert [m.status for m in finals] == [408], context
    waited = finals[0].when - uac.sent("OPTIONS")[0].when
    assert 1.5 <= waited <= 5, f"408 after {waited:.2f}s\n{context}"
    p.assert_no_tracebacks()


# ---- 5. parallel forking -----------------------------------------------------------------


def test_parallel_fork_answered_by_one(
    proxy: Callable[..., Proxy], sipp: Callable[..., Sipp], free_port: Callable[..., int],
) -> None:
    p = proxy("--router", "tests.integration.routers:ForkRouter")
    calls, a_port, b_port = 3, free_port(), free_port()
    a = sipp("uas-a", SCENARIOS / "answer_uas.xml", port=a_port, calls=calls)
    b = sipp("uas-b", SCENARIOS / "cancel_uas.xml", port=b_port, calls=calls)
    a.start().wait_listening()
    b.start().wait_listening()
    uac = sipp("uac", SCENARIOS / "call_uac.xml", port=free_port(), calls=calls,
               remote=f"{HOST}:{a_port}", proxy=p.addr(),
               keys={"extra": f"X-Fork: <sip:service@{HOST}:{b_port}>"}).run()
    a_seen, b_seen = a.wait(), b.wait()
    assert_calls(p, calls, uac, a_seen, b_seen)
    context = explain(p, uac, a_seen, b_seen)
    # One answer per call reached the caller, A's; B rang, was cancelled, answered 487.
    a_tags = {to_tag(m) for m in a_seen.sent("INVITE", 200)}
    check_all(uac.received("INVITE", 200), calls, "200s at the caller",
              lambda m: to_tag(m) in a_tags, context)
    assert len(call_ids(uac.received("INVITE", 200))) == calls, context
    assert not b_seen.sent("INVITE", 200), context
    assert len(b_seen.received("CANCEL")) >= calls, context
    assert len(b_seen.sent("INVITE", 487)) >= calls, context
    # The dialog is A's: ACK and BYE went there, and none to B.
    assert call_ids(a_seen.received("ACK")) == call_ids(a_seen.received("BYE")), context
    assert len(call_ids(a_seen.received("BYE"))) == calls, context
    assert not b_seen.received("BYE"), context
    p.assert_no_tracebacks()


# ---- 6. packet loss ----------------------------------------------------------------------


def test_calls_survive_ten_percent_loss(
    proxy: Callable[..., Proxy], sipp: Callable[..., Sipp], free_port: Callable[..., int],
) -> None:
    p = proxy()
    calls, uas_port = 50, free_port()
    lost = ["-lost", "10"]
    # Not bench/sipp/uas.xml: it ends the call with its 200 for the BYE, so when that
    # 200 is lost the proxy's BYE retransmissions find no call and the caller gets 408
    # (3 to 8 calls in 50 when tried). lossy_uas.xml stays 16 s in the call.
    uas = sipp("uas", SCENARIOS / "lossy_uas.xml", port=uas_port, calls=calls, extra=lost,
               recv_timeout=30, wall=60)
    uas.start().wait_listening()
    uac = sipp("uac", BENCH / "uac.xml", port=free_port(), calls=calls, rate=10, extra=lost,
               remote=f"{HOST}:{uas_port}", proxy=p.addr(), recv_timeout=30, wall=60).run()
    assert_calls(p, calls, uac, uas.wait())
    assert uac.counter("Retransmissions") > 0, "no loss happened\n" + explain(p, uac)
    p.assert_no_tracebacks()


def answer_200(request: bytes) -> bytes:
    """The 200 a UAS sends for `request` (Via, From, To with a tag, Call-ID, CSeq)."""
    lines = request.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]
    keep = [line for line in lines
            if line.split(b":", 1)[0].lower() in (b"via", b"from", b"call-id", b"cseq")]
    to = next(line for line in lines if line.lower().startswith(b"to:"))
    return b"\r\n".join([b"SIP/2.0 200 OK", *keep, to + b";tag=callee",
                          b"Content-Length: 0", b"", b""])


def test_late_retransmission_is_absorbed(proxy: Callable[..., Proxy]) -> None:
    """Found by the loss test. A UDP client whose 200s are all lost retransmits its
    request at 0.5, 1.5, 3.5 and 7.5 s (T1 doubling up to T2, RFC 3261 §17.1.2.2), and
    may go on until Timer F, 32 s. The proxy's server transaction must keep its final
    response for them for Timer J, 64*T1 = 32 s (§17.2.2); or, if it forgets sooner,
    forward a late one with the branch it used before, so that the callee's own server
    transaction absorbs it. geosip forgets after wt_timer, 5 s, and forwards the 7.5 s
    retransmission with a new branch: the callee sees a second, unrelated request (a UA
    answers a second BYE with 481, sipp counts a failed call)."""
    p = proxy()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as caller, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as callee:
        caller.bind((HOST, 0))
        callee.bind((HOST, 0))
        caller.settimeout(2)
        callee.settimeout(2)
        request = (f"OPTIONS sip:service@{HOST}:{callee.getsockname()[1]} SIP/2.0\r\n"
                   f"Via: SIP/2.0/UDP {HOST}:{caller.getsockname()[1]};branch=z9hG4bK-late\r\n"
                   f"From: <sip:caller@{HOST}>;tag=1\r\nTo: <sip:service@{HOST}>\r\n"
                   "Call-ID: late-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                   "Content-Length: 0\r\n\r\n").encode()
        start = time.monotonic()
        caller.sendto(request, (HOST, p.port))
        first, proxy_addr = callee.recvfrom(65535)
        callee.sendto(answer_200(first), proxy_addr)
        answers = [caller.recv(65535)]
        caller.settimeout(1)
        callee.settimeout(0.2)
        new_requests: list[bytes] = []
        for at in (0.5, 1.5, 3.5, 7.5):  # every 200 "lost": the client retransmits
            time.sleep(max(0.0, start + at - time.monotonic()))
            caller.sendto(request, (HOST, p.port))
            with contextlib.suppress(TimeoutError):
                forwarded = callee.recv(65535)
                # The callee answers like a UA: a retransmission (its top Via is the
                # first one's) from its transaction, anything else as a new request.
                if forwarded.split(b"\r\n")[1] != first.split(b"\r\n")[1]:
                    new_requests.append(forwarded)
                callee.sendto(answer_200(forwarded), proxy_addr)
            try:
                answers.append(caller.recv(65535))
            except TimeoutError:
                answers.append(f"(no answer to the retransmission at {at} s)".encode())
    context = ("the callee got first:\n" + first.decode(errors="replace") + "\nthen:\n"
               + "\n".join(r.decode(errors="replace") for r in new_requests)
               + "\nthe caller got:\n" + "\n".join(a.decode(errors="replace")
                                                  for a in answers))
    assert not new_requests, "a retransmission reached the callee as a new request\n" + context
    assert all(a.startswith(b"SIP/2.0 200 ") for a in answers), context
    p.assert_no_tracebacks()


# ---- 7. serial forking -------------------------------------------------------------------


def test_failover_to_the_next_target(
    proxy: Callable[..., Proxy], sipp: Callable[..., Sipp], free_port: Callable[..., int],
    tmp_path: Path,
) -> None:
    p = proxy("--router", "tests.integration.routers:FailoverRouter")
    calls, a_port, b_port = 3, free_port(), free_port()
    unavailable = derived_scenario(SCENARIOS / "reject_uas.xml", tmp_path / "unavailable.xml",
                                   "SIP/2.0 486 Busy Here", "SIP/2.0 503 Service Unavailable")
    a = sipp("uas-a", unavailable, port=a_port, calls=calls)
    b = sipp("uas-b", BENCH / "uas.xml", port=b_port, calls=calls)
    a.start().wait_listening()
    b.start().wait_listening()
    uac = sipp("uac", SCENARIOS / "call_uac.xml", port=free_port(), calls=calls,
               remote=f"{HOST}:{a_port}", proxy=p.addr(),
               keys={"extra": f"X-Next: <sip:service@{HOST}:{b_port}>"}).run()
    a_seen, b_seen = a.wait(), b.wait()
    assert_calls(p, calls, uac, a_seen, b_seen)
    context = explain(p, uac, a_seen, b_seen)
    assert not uac.received("INVITE", 503), context
    assert len(a_seen.received("ACK")) == calls, context  # the proxy ACKed the 503s
    check_all(b_seen.received("INVITE"), calls, "INVITEs at B",
              lambda m: m.uri == f"sip:service@{HOST}:{b_port}", context)
    assert len(call_ids(b_seen.received("BYE"))) == calls, context
    p.assert_no_tracebacks()


# ---- 8. a WebSocket client (RFC 7118) ----------------------------------------------------
# The client is tests/support/wsclient.py; its registering and being called through the
# registrar is in test_register_auth.py.


def test_websocket_client_calls_through_the_proxy(
    proxy: Callable[..., Proxy], sipp: Callable[..., Sipp], free_port: Callable[..., int],
) -> None:
    ws_port, uas_port = free_port(), free_port()
    p = proxy(ws_port=ws_port)
    uas = sipp("uas", BENCH / "uas.xml", port=uas_port).start().wait_listening()
    call_id = f"ws-{random.getrandbits(32):x}"
    target = f"sip:service@{HOST}:{uas_port}"

    with WsSipClient(p.addr("ws")) as ws:
        def context() -> str:
            return ws.transcript() + "\n\n" + explain(p, uas.result())

        assert ws.ws.subprotocol == "sip"
        ws.request("OPTIONS", f"sip:{p.addr('ws')};transport=ws", 1, "ka1", call_id,
                   f"sip:{p.addr('ws')}")
        assert ws.response("OPTIONS", 200).start == "SIP/2.0 200 Keepalive", context()

        ws.request("INVITE", target, 1, "inv1", call_id, target)
        ws.response("INVITE", 180)
        ok = ws.response("INVITE", 200)
        # The request changed transport: two Record-Routes (RFC 5658), the one facing
        # the callee on top, the one facing us (transport=ws) under it.
        # (rr's ftag parameter, when appended, is left out of the comparison)
        record_route = ok.values("record-route")
        assert [re.sub(r";ftag=[^;>]*", "", r) for r in record_route] == [
            f"<sip:{p.addr()};lr>", f"<sip:{p.addr('ws')};transport=ws;lr>"], context()
        contact = ok.values("contact")[0].strip("<>")
        callee_tag = ok.first("to").split(";tag=")[1]
        routes = "".join(f"Route: {r}\r\n" for r in reversed(record_route))  # §12.1.2
        ws.request("ACK", contact, 1, "ack1", call_id, target, routes, callee_tag)
        ws.request("BYE", contact, 2, "bye1", call_id, target, routes, callee_tag)
        ws.response("BYE", 200)
        client_port = ws.local_port

    callee_seen = uas.wait()
    assert_calls(p, 1, callee_seen)
    invite = callee_seen.received("INVITE")[0]
    assert invite.values("Record-Route") == record_route, context()
    # RFC 3581: our Via got the address and port the WebSocket came from.
    assert invite.vias()[1] == (f"SIP/2.0/WS {WS_HOST};branch=z9hG4bKinv1;"
                                f"rport={client_port};received={HOST}"), context()
    for method in ("ACK", "BYE"):
        arrived = callee_seen.received(method)
        assert len(arrived) == 1 and arrived[0].vias()[0].startswith(
            f"SIP/2.0/UDP {p.addr()};"), context()
    p.assert_no_tracebacks()


# ---- 9. junk and idle connections --------------------------------------------------------


def junk(rng: random.Random, proxy_addr: str, dead_addr: str) -> Iterator[bytes]:
    """Random datagrams, and SIP messages truncated or mangled in a random place."""
    def message(method: str, target: str, n: int) -> bytes:
        body = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        return (f"{method} sip:x{n}@{target} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKjunk{n};rport\r\n"
                f"From: <sip:junk@127.0.0.1>;tag=j{n}\r\nTo: <sip:x{n}@{target}>\r\n"
                f"Call-ID: junk-{n}\r\nCSeq: {n} {method}\r\nMax-Forwards: 70\r\n"
                f"Contact: <sip:junk@127.0.0.1:9>\r\nContent-Type: application/sdp\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    for n in range(10_000):
        kind = n % 4
        template = message(rng.choice(["INVITE", "OPTIONS", "BYE", "REGISTER", "ACK"]),
                           rng.choice([proxy_addr, dead_addr]), n)
        if kind == 0:
            yield rng.randbytes(rng.randint(1, 1400))
        elif kind == 1:
            yield template[:rng.randint(1, len(template) - 1)]
        elif kind == 2:  # a few bytes overwritten
            data = bytearray(template)
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            yield bytes(data)
        else:  # a line dropped, doubled or cut
            lines = template.split(b"\r\n")
            i = rng.randrange(len(lines))
            action = rng.randrange(3)
            if action == 0:
                del lines[i]
            elif action == 1:
                lines.insert(i, lines[i])
            else:
                lines[i] = lines[i][:rng.randint(0, len(lines[i]))]
            yield b"\r\n".join(lines)


def test_flood_of_junk_and_idle_connections(
    proxy: Callable[..., Proxy], sipp: Callable[..., Sipp], free_port: Callable[..., int],
    tmp_path: Path,
) -> None:
    p = proxy("--fr-timer", "5")
    host, port = HOST, p.port
    rng = random.Random(3261)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for i, data in enumerate(junk(rng, p.addr(), f"{HOST}:{free_port()}")):
            udp.sendto(data, (host, port))
            if i % 200 == 199:
                time.sleep(0.01)  # bursts, not one burst: most of it gets read
    idle: list[socket.socket] = []
    try:
        for _ in range(500):
            idle.append(socket.create_connection((host, port), timeout=5))
        for transport, mode, calls in (("udp", "u1", 10), ("tcp", "t1", 5)):
            uas_port = free_port()
            uas = sipp(f"uas-{transport}", BENCH / "uas.xml", port=uas_port, transport=mode,
                       calls=calls, recv_timeout=15)
            uas.start().wait_listening()
            uac = sipp(f"uac-{transport}", bench_uac(tmp_path, transport), port=free_port(),
                       transport=mode, calls=calls, remote=f"{HOST}:{uas_port}", proxy=p.addr(),
                       recv_timeout=15).run()
            assert_calls(p, calls, uac, uas.wait())
    finally:
        for sock in idle:
            sock.close()
    assert p.server.proc.poll() is None, "geosip died\n" + p.log()
    p.assert_no_tracebacks()  # test_proxy_junk.py has a message for each one found

