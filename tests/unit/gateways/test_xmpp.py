"""gateways/xmpp: the address mapping (Kamailio's xmpp module, domain_separator), the
settings and the `geosip.gateways` table that carries them, and the SIP answers the
gateway gives without an XMPP server (503 + Retry-After, 404, 415)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from geosip.gateways.xmpp.gateway import Gateway
from geosip.gateways.xmpp.mapping import AddressMap
from geosip.gateways.xmpp.settings import Settings, check
from geosip.script.config import ConfigError, read_config
from geosip.sip import Request, parse_uri

MAP = AddressMap("sip.example.com", "xmpp-gw.example.com", "*")


@pytest.mark.parametrize("sip_user, jid", [
    ("juliet*xmpp.example.com", "juliet@xmpp.example.com"),
    ("a*b*xmpp.example.com", "a*b@xmpp.example.com"),   # the last separator splits
    ("*xmpp.example.com", "xmpp.example.com"),          # the server itself
])
def test_sip_target_to_jid(sip_user: str, jid: str) -> None:
    assert MAP.xmpp_target(sip_user) == jid


@pytest.mark.parametrize("sip_user", [None, "juliet", "juliet*", "juli:et*x.org",
                                      "juliet*bad_domain!"])
def test_sip_targets_that_name_no_jid(sip_user: str | None) -> None:
    with pytest.raises(ValueError):
        MAP.xmpp_target(sip_user)


def test_both_ways_round_trip() -> None:
    romeo = parse_uri("sip:romeo@SIP.example.com")
    jid = MAP.xmpp_sender(romeo)
    assert jid == "romeo*sip.example.com@sip.example.com"
    assert MAP.sip_target(jid.split("@")[0]) == "sip:romeo@sip.example.com"
    assert MAP.sip_sender("juliet@xmpp.example.com") == \
        "sip:juliet*xmpp.example.com@xmpp-gw.example.com"
    assert MAP.xmpp_target("juliet*xmpp.example.com") == "juliet@xmpp.example.com"


def test_another_separator() -> None:
    other = AddressMap("sip.example.com", "gw.example.com", "%")
    assert other.xmpp_target("juliet%xmpp.example.com") == "juliet@xmpp.example.com"
    assert other.sip_sender("juliet@xmpp.example.com") == \
        "sip:juliet%25xmpp.example.com@gw.example.com"  # '%' escaped in a SIP user


def test_settings_defaults_and_refusals() -> None:
    filled = check({"component": "sip.example.com", "secret": "s"})
    assert filled["server"] == "127.0.0.1:5347" and filled["domain_separator"] == "*"
    for bad, says in [({"secret": "s"}, "component"),
                      ({"component": "c", "secret": "s", "port": 1}, "unknown setting port"),
                      ({"component": "c", "secret": "s", "server": "nohost"}, "HOST:PORT"),
                      ({"component": "c", "secret": "s", "domain_separator": "."},
                       "domain_separator"),
                      ({"component": "c", "secret": "s", "retry_after": 0}, "retry_after")]:
        with pytest.raises(ValueError, match=says):
            check(bad)


def _script(tmp_path: Path, table: str) -> Path:
    path = tmp_path / "gw.lua"
    path.write_text(f"geosip = {{\n  gateways = {table},\n}}\n"
                    "function ksr_request_route() end\n")
    return path


def test_the_gateways_table(tmp_path: Path) -> None:
    config = read_config(_script(tmp_path, '{ xmpp = { component = "sip.example.com", '
                                           'secret = "s", retry_after = 7 } }'))
    assert config.gateways["xmpp"]["retry_after"] == 7
    assert config.gateways["xmpp"]["sip_listen"] == "127.0.0.1:5090"  # filled in


@pytest.mark.parametrize("table, says", [
    ('{ jabber = {} }', "unknown gateway jabber"),
    ('{ xmpp = { secret = "s" } }', "geosip.gateways.xmpp: component"),
    ('{ xmpp = "on" }', "must be a table"),
])
def test_gateways_table_refused_with_its_line(tmp_path: Path, table: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says) as caught:
        read_config(_script(tmp_path, table))
    assert caught.value.line == 2


def _message(uri: str, body: bytes = b"hi", content_type: str = "text/plain") -> Request:
    return Request("MESSAGE", uri, [
        ("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx1"),
        ("From", "<sip:romeo@sip.example.com>;tag=a"), ("To", f"<{uri}>"),
        ("Call-ID", "c1"), ("CSeq", "1 MESSAGE"), ("Content-Type", content_type)], body)


def _gateway() -> Any:
    async def make() -> Gateway:  # slixmpp wants a running loop at construction
        return Gateway(Settings.from_dict({"component": "sip.example.com", "secret": "s",
                                           "retry_after": 9}))
    return asyncio.run(make())


def test_sip_answers_without_an_xmpp_link() -> None:
    gateway = _gateway()
    down = gateway.on_sip_message(_message("sip:juliet*xmpp.example.com@xmpp-gw.example.com"))
    assert (down.status, down.header("Retry-After")) == (503, "9")  # not connected
    assert down.to_tag is not None
    nobody = gateway.on_sip_message(_message("sip:juliet@xmpp-gw.example.com"))
    assert nobody.status == 404
    html = gateway.on_sip_message(_message("sip:j*x.org@xmpp-gw.example.com",
                                           b"<b>hi</b>", "text/html"))
    assert (html.status, html.header("Accept")) == (415, "text/plain")
    latin = gateway.on_sip_message(_message("sip:j*x.org@xmpp-gw.example.com", b"caf\xe9"))
    assert latin.status == 400
