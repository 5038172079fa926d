"""Requests geosip originates (geosip/tm/uac.py): on the wire, their final response,
retransmissions on UDP, the local 408 and 503, and nothing left behind."""

from __future__ import annotations

import gevent
import pytest

from geosip.sip import Request, parse
from geosip.tm.manager import TmConfig
from geosip.sip.outgoing import new_request
from geosip.transport.base import Inbound
from tests.support.callflow import PROXY, UAS, answer, make_core

FAST = TmConfig(t1=0.02, t2=0.08, t4=0.05, fr_timer=0.3, wt_timer=0.05)


def _options() -> Request:
    return new_request("OPTIONS", "sip:service@127.0.0.1:5080", "sip:ping@geosip.test")


def test_a_local_request_on_the_wire_and_its_answer() -> None:
    core, out = make_core(FAST)
    finals = []
    local = core.tm.send_local(_options(), on_final=finals.append)
    data, dest = out.sent[0]
    assert dest == UAS
    sent = parse(data)
    assert isinstance(sent, Request) and sent.method == "OPTIONS"
    assert sent.top_via.branch.startswith("z9hG4bK")
    assert sent.top_via.host == "127.0.0.1" and sent.top_via.port == 5060
    assert sent.from_tag and sent.to_tag is None and sent.max_forwards == 70
    core.on_message(Inbound(answer(data, "200 OK", 1), UAS, PROXY))
    assert local.result.get(timeout=1).status == 200
    assert [r.status for r in finals] == [200]
    gevent.sleep(0.2)  # Timer K
    assert core.tm.live() == 0 and local.done
    core.tm.stop()


def test_udp_retransmits_then_times_out_with_a_local_408() -> None:
    core, out = make_core(FAST)
    response = core.tm.request(_options())
    assert response.status == 408
    assert len([d for d, _ in out.sent if d.startswith(b"OPTIONS")]) > 3  # Timer E
    gevent.sleep(0.1)
    assert core.tm.live() == 0
    core.tm.stop()


def test_no_route_is_a_local_503() -> None:
    core, out = make_core(FAST)
    request = new_request("MESSAGE", "sip:bob@unresolvable.invalid", "sip:a@geosip.test",
                          body=b"hi", content_type="text/plain")
    assert core.tm.request(request).status == 503
    assert out.sent == [] and core.tm.live() == 0
    core.tm.stop()


def test_dst_uri_wins_and_a_body_keeps_its_type() -> None:
    core, out = make_core(FAST)
    request = new_request("MESSAGE", "sip:bob@example.com", "sip:alice@example.com",
                          body=b"hello", content_type="text/plain")
    core.tm.send_local(request, "sip:127.0.0.1:5080")
    data, dest = out.sent[0]
    assert dest == UAS
    sent = parse(data)
    assert sent.uri_text == "sip:bob@example.com"
    assert sent.header("content-type") == "text/plain" and sent.body == b"hello"
    core.tm.stop()


def test_invite_is_refused_and_bad_uris_are_value_errors() -> None:
    core, _ = make_core(FAST)
    with pytest.raises(ValueError):
        core.tm.send_local(new_request("INVITE", "sip:b@example.com", "sip:a@example.com"))
    with pytest.raises(ValueError):
        new_request("MESSAGE", "sip:b@exa mple.com", "sip:a@example.com")
    core.tm.stop()
