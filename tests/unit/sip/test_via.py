"""geosip.sip.via: Via values (RFC 3261 §20.42, RFC 3581, RFC 5118)."""

from __future__ import annotations

import pytest

from geosip.sip import ParseError, Params, Via, parse_via

VALID = [
    # text, transport, host, port, branch, received, rport
    ("SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds", "UDP", "pc33.atlanta.com",
     None, "z9hG4bK776asdhds", None, None),
    ("SIP/2.0/UDP 192.0.2.1:5060;received=192.0.2.207;branch=z9hG4bK77asjd;rport=5070",
     "UDP", "192.0.2.1", 5060, "z9hG4bK77asjd", "192.0.2.207", "5070"),
    ("SIP/2.0/tcp client.biloxi.com:5060;rport;branch=z9hG4bKnashds7", "TCP",
     "client.biloxi.com", 5060, "z9hG4bKnashds7", None, ""),
    ("SIP  /   2.0 /UDP 192.0.2.2;branch=390skdjuw", "UDP", "192.0.2.2", None,
     "390skdjuw", None, None),
    ("SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKasudf", "WSS", "df7jal23ls0d.invalid",
     None, "z9hG4bKasudf", None, None),
    ("SIP/2.0/UDP [2001:db8::9:1]:6050;branch=z9hG4bKas3-111", "UDP", "[2001:db8::9:1]",
     6050, "z9hG4bKas3-111", None, None),
    ("SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255];branch=z9hG4bKas3",
     "UDP", "[2001:db8::9:1]", None, "z9hG4bKas3", "[2001:db8::9:255]", None),
    ("SIP/2.0/UDP h.example.com : 5060 ; branch = z9hG4bK1", "UDP", "h.example.com", 5060,
     "z9hG4bK1", None, None),
]


@pytest.mark.parametrize("text,transport,host,port,branch,received,rport", VALID)
def test_parse_via(text: str, transport: str, host: str, port: int | None, branch: str,
                   received: str | None, rport: str | None) -> None:
    via = parse_via(text)
    assert (via.transport, via.host, via.port) == (transport, host, port)
    assert (via.branch, via.received, via.rport) == (branch, received, rport)
    assert str(via) == text


INVALID = [
    "SIP/2.0/UDP",
    "SIP/2.0 192.0.2.1",
    "SIP/2.0/UDP 192.0.2.15;;,;,,",       # RFC 4475 badinv01
    "SIP/2.0/UDP host;branch=",
    "SIP/2.0/UDP host:99999",
    "SIP/2.0/UDP host;rport=abc",
    "SIP/2.0/UDP ho<st",
    "garbage",
]


@pytest.mark.parametrize("text", INVALID)
def test_invalid_via_raises_400(text: str) -> None:
    with pytest.raises(ParseError) as err:
        parse_via(text)
    assert err.value.status == 400


def test_build_and_change_via() -> None:
    via = Via("UDP", "192.0.2.1", 5060, Params([("branch", "z9hG4bKabc"), ("rport", None)]))
    assert str(via) == "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc;rport"
    assert via.rfc3261_branch
    answered = parse_via(str(via)).with_param("rport", "5071").with_param("received", "10.0.0.1")
    assert str(answered) == ("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc;rport=5071"
                             ";received=10.0.0.1")
    assert not parse_via("SIP/2.0/UDP h;branch=z9hG4bK").rfc3261_branch
