"""KSR.hdr through a real Lua script and the real Core (kemi_harness.py): each case is
a script line, what it returns to the script, and the header lines, in order, of the
request forwarded on the wire."""

from __future__ import annotations

from pathlib import Path

import pytest

from geosip.sip import Message, Response
from tests.unit.script.kemi_harness import UAC, UAS, Proxy, run, wire

ORIGINAL = ["Via: SIP/2.0/UDP 127.0.0.1:5060", "Via: SIP/2.0/UDP 127.0.0.1:5070",
            "From:", "To:", "Call-ID:", "CSeq:", "Contact:", "Max-Forwards:",
            "X-Foo: one", "X-Foo: two", "Content-Type:", "Content-Length: 26"]


def lines(message: Message) -> list[str]:
    head = message.to_bytes().split(b"\r\n\r\n", 1)[0].decode()
    return head.split("\r\n")[1:]


def in_order(expected: list[str], actual: list[str]) -> bool:
    """Each expected line starts some actual line, in this order, none skipped twice."""
    pos = 0
    for want in expected:
        while pos < len(actual) and not actual[pos].startswith(want):
            pos += 1
        if pos == len(actual):
            return False
        pos += 1
    return True


CASES = [
    # (script line, returned, forwarded header lines in order[, lines that must be gone])
    ('KSR.t.out(KSR.hdr.append("X-A: 1\\r\\n"))', [1], [*ORIGINAL, "X-A: 1"]),
    ('KSR.t.out(KSR.hdr.append("X-A: 1"))', [1], [*ORIGINAL, "X-A: 1"]),
    ('KSR.t.out(KSR.hdr.append("X-A: 1\\r\\nX-B: two words\\r\\n"))', [1],
     [*ORIGINAL, "X-A: 1", "X-B: two words"]),
    ('KSR.t.out(KSR.hdr.append("X-A: first\\r\\n  folded\\r\\n"))', [1],
     [*ORIGINAL, "X-A: first folded"]),
    ('KSR.t.out(KSR.hdr.append("no colon here\\r\\n"))', [-1], ORIGINAL),
    ('KSR.t.out(KSR.hdr.append("Bad Name: x\\r\\n"))', [-1], ORIGINAL),
    ('KSR.t.out(KSR.hdr.append("X-A: a\\rb\\r\\n"))', [-1], ORIGINAL),
    ('KSR.t.out(KSR.hdr.append_after("X-A: 1\\r\\n", "Call-ID"))', [1],
     ["Call-ID:", "X-A: 1", "CSeq:"]),
    ('KSR.t.out(KSR.hdr.append_after("X-A: 1\\r\\n", "i"))', [1],
     ["Call-ID:", "X-A: 1", "CSeq:"]),
    ('KSR.t.out(KSR.hdr.append_after("X-A: 1\\r\\n", "x-foo"))', [1],
     ["X-Foo: one", "X-A: 1", "X-Foo: two"]),
    ('KSR.t.out(KSR.hdr.append_after("X-A: 1\\r\\n", "X-None"))', [1],
     [*ORIGINAL, "X-A: 1"]),
    ('KSR.t.out(KSR.hdr.insert("X-A: 1\\r\\n"))', [1], ["X-A: 1", *ORIGINAL]),
    ('KSR.t.out(KSR.hdr.insert("X-A: 1\\r\\nX-B: 2\\r\\n"))', [1],
     ["X-A: 1", "X-B: 2", *ORIGINAL]),
    ('KSR.t.out(KSR.hdr.insert_before("X-A: 1\\r\\n", "CSeq"))', [1],
     ["Call-ID:", "X-A: 1", "CSeq:"]),
    ('KSR.t.out(KSR.hdr.insert_before("X-A: 1\\r\\n", "X-None"))', [1],
     ["X-A: 1", *ORIGINAL]),
    ('KSR.t.out(KSR.hdr.remove("x-foo"))', [1],
     ["Max-Forwards:", "Content-Type:", "Content-Length: 26"], ["X-Foo"]),
    ('KSR.t.out(KSR.hdr.remove("X-None"))', [1], ORIGINAL),
    ('KSR.t.out(KSR.hdr.rmappend("X-Foo", "X-Foo: three\\r\\n"))', [1],
     ["Max-Forwards:", "Content-Type:", "Content-Length: 26", "X-Foo: three"],
     ["X-Foo: one", "X-Foo: two"]),
    ('KSR.t.out(KSR.hdr.rminsert("X-Foo", "X-Foo: zero\\r\\n"))', [1],
     ["X-Foo: zero", "Via:", "Max-Forwards:", "Content-Type:"], ["X-Foo: one"]),
    ('KSR.t.out(KSR.hdr.rmappend("X-Foo", "garbage"))', [-1], ORIGINAL),
]


@pytest.mark.parametrize("case", CASES, ids=[str(c[0])[10:60] for c in CASES])
def test_hdr_changes_on_the_wire(tmp_path: Path, case: tuple) -> None:  # type: ignore[type-arg]
    line, returned, forwarded, *gone = case
    out, proxy = run(tmp_path, f"{line}\nKSR.t.forward()", wire())
    assert out == returned
    [sent] = proxy.take(UAS)
    assert in_order(forwarded, lines(sent)), lines(sent)
    for prefix in (gone[0] if gone else []):
        assert not any(x.startswith(prefix) for x in lines(sent)), lines(sent)
    assert proxy.violations == 0


READS = [
    # (expression, value the script sees)
    ('KSR.hdr.is_present("X-Foo")', 1),
    ('KSR.hdr.is_present("x-foo")', 1),
    ('KSR.hdr.is_present("v")', 1),            # compact form of Via
    ('KSR.hdr.is_present("X-Bar")', -1),
    ('KSR.hdr.get("X-Foo")', "one"),
    ('KSR.hdr.get("f")', '"Alice" <sip:alice@atlanta.example.com>;tag=f1'),
    ('KSR.hdr.get("X-Bar")', None),
    ('KSR.hdr.gete("X-Bar")', ""),
    ('KSR.hdr.getw("X-Bar")', "<null>"),
    ('KSR.hdr.get_idx("X-Foo", 1)', "two"),
    ('KSR.hdr.get_idx("X-Foo", -1)', "two"),
    ('KSR.hdr.get_idx("X-Foo", -2)', "one"),
    ('KSR.hdr.get_idx("X-Foo", 2)', None),
    ('KSR.hdr.get_idx("X-Foo", -3)', None),
    ('KSR.hdr.gete_idx("X-Foo", 5)', ""),
    ('KSR.hdr.getw_idx("X-Foo", 5)', "<null>"),
    ('KSR.hdr.match_content("X-Foo", "eq", "ONE", "f")', True),
    ('KSR.hdr.match_content("X-Foo", "eq", "two", "f")', False),
    ('KSR.hdr.match_content("X-Foo", "eq", "two", "l")', True),
    ('KSR.hdr.match_content("X-Foo", "sw", "o", "a")', False),
    ('KSR.hdr.match_content("X-Foo", "in", "w", "o")', True),
    ('KSR.hdr.match_content("X-Foo", "ne", "three", "a")', True),
    ('KSR.hdr.match_content("X-Foo", "re", "one", "f")', False),
    ('KSR.hdr.match_content("X-Bar", "eq", "one", "o")', False),
]


@pytest.mark.parametrize("expr,value", READS)
def test_hdr_reads(tmp_path: Path, expr: str, value: object) -> None:
    out, proxy = run(tmp_path, f"KSR.t.out({expr})", wire())
    assert out == [value]
    assert proxy.violations == 0


def test_changes_are_visible_at_once(tmp_path: Path) -> None:
    # Kamailio applies header changes when it sends; geosip at once (hdr.py contract)
    route = ('KSR.hdr.append("X-New: 1\\r\\n") KSR.t.out(KSR.hdr.get("X-New"))\n'
             'KSR.hdr.remove("X-Foo") KSR.t.out(KSR.hdr.is_present("X-Foo"))')
    out, _ = run(tmp_path, route, wire())
    assert out == ["1", -1]


def test_append_to_reply_goes_into_the_reply(tmp_path: Path) -> None:
    route = ('KSR.t.out(KSR.hdr.append_to_reply("X-Reason: closed\\r\\nRetry-After: 60\\r\\n"))\n'
             'KSR.t.out(KSR.hdr.append_to_reply("not a header"))\n'
             'KSR.t.reply(480, "Gone Fishing")')
    out, proxy = run(tmp_path, route, wire())
    assert out == [1, -1]
    [reply] = proxy.take(UAC)
    assert isinstance(reply, Response) and reply.status == 480
    assert reply.header("X-Reason") == "closed" and reply.header("Retry-After") == "60"
    assert proxy.take(UAS) == []


def test_unchanged_headers_keep_their_bytes(tmp_path: Path) -> None:
    # a positional insert rebuilds the field list; untouched fields keep their raw text
    data = wire(("To: <sip:bob@example.com>", "tO :   <sip:bob@example.com>"))
    out, proxy = run(tmp_path, 'KSR.hdr.insert_before("X-A: 1\\r\\n", "CSeq")\n'
                               'KSR.t.forward()', data)
    [sent] = proxy.take(UAS)
    assert b"\r\ntO :   <sip:bob@example.com>\r\n" in sent.to_bytes()


def test_bad_argument_types_end_the_route(tmp_path: Path) -> None:
    proxy = Proxy(tmp_path, 'KSR.hdr.get_idx("X-Foo", "x")')
    try:
        proxy.send(wire())
        [reply] = proxy.take(UAC)
        assert isinstance(reply, Response) and reply.status == 500
    finally:
        proxy.close()
