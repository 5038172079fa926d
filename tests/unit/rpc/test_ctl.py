"""geosipctl's kamcmd-like parts: how it types parameters and prints results, and the
address helpers it shares with the server."""

from __future__ import annotations

import os

import pytest

from geosip.cli.ctl import readable, typed
from geosip.rpc.address import parse_http, short_path


@pytest.mark.parametrize("text, value", [
    ("42", 42), ("-3", -3), ("1.5", 1.5), ("s:42", "42"), ("location", "location"),
    ("sip:alice@example.com", "sip:alice@example.com"), ("s:", ""), ("1.2.3.4", "1.2.3.4"),
])
def test_params_are_typed_like_kamcmd(text: str, value: object) -> None:
    assert typed(text) == value and type(typed(text)) is type(value)


def test_readable_output() -> None:
    assert readable(None) == []
    assert readable(["core:a = 1", "core:b = 2"]) == ["core:a = 1", "core:b = 2"]
    assert readable({"now": "x", "uptime": 3, "nested": {"a": True}, "empty": []}) == [
        "{", "\tnow: x", "\tuptime: 3", "\tnested: {", "\t\ta: true", "\t}", "\tempty: ", "}"]


@pytest.mark.parametrize("spec, found", [
    ("127.0.0.1:5080", ("127.0.0.1", 5080)), ("[::1]:80", ("::1", 80)),
    ("http://localhost:8080/RPC", ("localhost", 8080)),
])
def test_parse_http(spec: str, found: tuple[str, int]) -> None:
    assert parse_http(spec) == found


@pytest.mark.parametrize("spec, says", [
    ("127.0.0.1", "expected ADDR:PORT"), ("::1:80", "needs brackets"),
    ("h:0", "expected ADDR:PORT"), (":80", "expected ADDR:PORT"),
])
def test_parse_http_refuses(spec: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_http(spec)


def test_long_socket_paths_become_relative(tmp_path: os.PathLike[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    deep = os.path.join(str(tmp_path), "d" * 80, "geosip_ctl")
    monkeypatch.chdir(tmp_path)
    assert short_path(deep) == os.path.join("d" * 80, "geosip_ctl")
    assert short_path("/run/geosip_ctl") == "/run/geosip_ctl"
    monkeypatch.chdir("/")
    with pytest.raises(ValueError, match="too long"):
        short_path(os.path.join("/x" * 60, "geosip_ctl"))
