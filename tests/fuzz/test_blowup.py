"""No quadratic blow-up: a 64 KB header line costs about four times a 16 KB one.

Each case builds a message around a filler of n octets: one long header value, 64 KB
of commas in a Via or Contact, of ';' parameters, of quotes and backslashes in a
display name, of '<' in an unknown header, and so on. The message is parsed (lenient
and strict) and every accessor called (tests/fuzz/_checks.py): it may parse or raise
ParseError, within a generous bound, and the CPU time for 64 KB over that for 16 KB
must stay under 8 (linear work gives about 4, quadratic 16). Timing is
time.process_time, the least of 3 runs, repeated until the 16 KB run takes 10 ms, with
the garbage collector off, so that a noisy VM does not decide. The same holds for
StreamFramer fed 100 octets at a time. Last, the size limits: over 65535 octets is
ParseError 513 (DESIGN.md, Bad input).
"""

from __future__ import annotations

import gc
import time
from typing import Callable

import pytest

from geosip.sip import ParseError, StreamFramer, parse
from geosip.sip.parser import Limits

from ._checks import exercise

MAX = 65535
# Linear work gives a ratio near 4 (the inputs differ fourfold), quadratic near 16.
LINEAR_BOUND = 8.0
# What one 64 KB input may cost at most, in CPU seconds: generous, blow-ups are worse.
ABSOLUTE_BOUND = 1.0

HEAD = ("INVITE sip:bob@example.com SIP/2.0\r\n"
        "Via: SIP/2.0/UDP pc.example.com:5060;branch=z9hG4bK776asdhds\r\n"
        "From: \"Alice\" <sip:alice@example.com>;tag=1928301774\r\n"
        "To: <sip:bob@example.com>\r\n"
        "Call-ID: a84b4c76e66710@pc33.example.com\r\n"
        "CSeq: 314159 INVITE\r\n"
        "Max-Forwards: 70\r\n")


def message(line: str, *, replace: str | None = None) -> bytes:
    """HEAD plus `line` (or with the line starting like `replace` swapped for it),
    then Content-Length: 0 and the empty line."""
    head = HEAD
    if replace is not None:
        start = head.index(replace)
        end = head.index("\r\n", start)
        head = head[:start] + line + head[end:]
    else:
        head += line + "\r\n"
    return (head + "Content-Length: 0\r\n\r\n").encode("utf-8", "surrogateescape")


def repeat(unit: str, n: int) -> str:
    """`unit` repeated to n characters (cut at n)."""
    return (unit * (n // len(unit) + 1))[:n]


# name -> builder of a message whose filler is n characters long.
CASES: dict[str, Callable[[int], bytes]] = {
    "unknown-value": lambda n: message("X-Long: " + repeat("a", n)),
    "subject-words": lambda n: message("Subject: " + repeat("ab ", n).strip()),
    "via-commas": lambda n: message(
        "Via: SIP/2.0/UDP h;branch=z9hG4bK1" + repeat(",", n), replace="Via:"),
    "via-many-values": lambda n: message(
        "Via: " + repeat("SIP/2.0/UDP h;branch=z9hG4bK1, ", n).rstrip(", "),
        replace="Via:"),
    "second-via-commas": lambda n: message("Via: SIP/2.0/UDP h" + repeat(",", n)),
    "contact-commas": lambda n: message("Contact: <sip:a@b>" + repeat(",", n)),
    "contact-many-values": lambda n: message(
        "Contact: " + repeat("<sip:a@b>,", n).rstrip(",")),
    "contact-only-commas": lambda n: message("Contact: " + repeat(",", n)),
    "via-semicolons": lambda n: message(
        "Via: SIP/2.0/UDP h;branch=z9hG4bK1" + repeat(";", n), replace="Via:"),
    "via-many-params": lambda n: message(
        "Via: SIP/2.0/UDP h;branch=z9hG4bK1" + repeat(";a", n), replace="Via:"),
    "via-rport-params": lambda n: message(
        "Via: SIP/2.0/UDP h;branch=z9hG4bK1" + repeat(";rport=1", n), replace="Via:"),
    "to-semicolons": lambda n: message("To: <sip:bob@example.com>" + repeat(";", n),
                                       replace="To:"),
    "to-many-params": lambda n: message("To: <sip:bob@example.com>" + repeat(";a=b", n),
                                        replace="To:"),
    "contact-many-params": lambda n: message("Contact: <sip:a@b>" + repeat(" ; a = b", n)),
    "param-quoted-escapes": lambda n: message(
        'Contact: <sip:a@b>;p="' + repeat('\\"', n) + '"'),
    "param-unterminated-quote": lambda n: message('Contact: <sip:a@b>;p="' + repeat("a", n)),
    "param-unterminated-ipv6": lambda n: message(
        "Via: SIP/2.0/UDP h;branch=z9hG4bK1;received=[" + repeat(":", n), replace="Via:"),
    "display-escaped-quotes": lambda n: message(
        'From: "' + repeat('\\"', n) + '" <sip:a@b>;tag=1', replace="From:"),
    "display-backslashes": lambda n: message(
        'From: "' + repeat("\\", n) + '" <sip:a@b>;tag=1', replace="From:"),
    "display-unterminated": lambda n: message(
        'From: "' + repeat("\\", n - 1) + "x", replace="From:"),
    "contact-quotes": lambda n: message("Contact: " + repeat('"', n)),
    "contact-quoted-commas": lambda n: message("Contact: " + repeat('"a,b",', n)),
    "display-token-words": lambda n: message(
        "From: " + repeat("a ", n) + "<sip:a@b>;tag=1", replace="From:"),
    "unknown-angles": lambda n: message("X-Angle: " + repeat("<", n)),
    "contact-angles": lambda n: message("Contact: " + repeat("<", n)),
    "route-angles-commas": lambda n: message("Route: " + repeat("<,", n)),
    "to-angles": lambda n: message("To: " + repeat("<", n), replace="To:"),
    "ruri-long-user": lambda n: message(
        "INVITE sip:" + repeat("a", n) + "@example.com SIP/2.0", replace="INVITE"),
    "ruri-escapes": lambda n: message(
        "INVITE sip:" + repeat("%41", n) + "@example.com SIP/2.0", replace="INVITE"),
    "ruri-params": lambda n: message(
        "INVITE sip:bob@example.com" + repeat(";a", n) + " SIP/2.0", replace="INVITE"),
    "ruri-at-signs": lambda n: message(
        "INVITE sip:" + repeat("@", n) + " SIP/2.0", replace="INVITE"),
    "ruri-ipv6-colons": lambda n: message(
        "INVITE sip:[" + repeat(":", n) + "] SIP/2.0", replace="INVITE"),
    "via-spaces": lambda n: message(
        "Via: SIP/2.0/UDP" + repeat(" ", n) + "h;branch=z9hG4bK1", replace="Via:"),
    "via-spaces-before-slash": lambda n: message(
        "Via: SIP" + repeat(" ", n) + "/2.0/UDP h;branch=z9hG4bK1", replace="Via:"),
    "via-long-token": lambda n: message("Via: SIP/2.0/" + repeat("U", n), replace="Via:"),
    "via-long-host": lambda n: message(
        "Via: SIP/2.0/UDP " + repeat("a-", n) + "!;branch=z9hG4bK1", replace="Via:"),
    "call-id": lambda n: message("Call-ID: " + repeat("x", n), replace="Call-ID:"),
    "cseq-digits": lambda n: message("CSeq: " + repeat("1", n) + " INVITE",
                                     replace="CSeq:"),
    "cseq-spaces": lambda n: message("CSeq: 1" + repeat(" ", n) + "INVITE",
                                     replace="CSeq:"),
    "max-forwards-zeros": lambda n: message("Max-Forwards: " + repeat("0", n),
                                            replace="Max-Forwards:"),
    "date": lambda n: message("Date: Sat, 13 Nov 2010 " + repeat("1", n) + " GMT"),
    "supported-tokens": lambda n: message("Supported: " + repeat("a,", n).rstrip(",")),
    "folded-lines": lambda n: message(
        "X-Folded: a" + "".join("\r\n " + "b" * (n // 200) for _ in range(200))),
    "many-short-headers": lambda n: message(
        "\r\n".join("X-%d: %s" % (i, "a" * (n // 200)) for i in range(200))),
}


def fill(build: Callable[[int], bytes]) -> tuple[int, int]:
    """Filler lengths: the largest that keeps the message within 65535 octets, and a
    quarter of it."""
    big = MAX - len(build(0)) - 8   # a folded or repeated unit may overshoot a little
    return big // 4, big


def cpu(fn: Callable[[], object], reps: int, runs: int = 3) -> float:
    """Least CPU time of `runs` runs of `reps` calls, with the garbage collector off."""
    best = float("inf")
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(runs):
            start = time.process_time()
            for _ in range(reps):
                fn()
            best = min(best, time.process_time() - start)
    finally:
        if enabled:
            gc.enable()
    return best


def assert_linear(small: Callable[[], object], big: Callable[[], object],
                  bound: float = LINEAR_BOUND) -> None:
    reps = 1
    while cpu(small, reps, runs=1) < 0.01 and reps < 4096:
        reps *= 2
    t_small = cpu(small, reps)
    t_big = cpu(big, reps)
    assert t_big / reps < ABSOLUTE_BOUND, f"{t_big / reps:.3f} s for one 64 KB input"
    ratio = t_big / max(t_small, 1e-9)
    assert ratio < bound, f"64 KB took {ratio:.1f}x the time of 16 KB ({t_small:.4f} s)"


@pytest.mark.parametrize("name", list(CASES))
def test_parse_is_linear(name: str) -> None:
    build = CASES[name]
    n_small, n_big = fill(build)
    small, big = build(n_small), build(n_big)
    assert len(big) <= MAX
    exercise(small)  # checks the outcome too: parsed, or ParseError and nothing else
    exercise(big)
    assert_linear(lambda: exercise(small), lambda: exercise(big))


def chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def feed_all(pieces: list[bytes]) -> list[bytes]:
    framer = StreamFramer()
    out: list[bytes] = []
    for piece in pieces:
        out += framer.feed(piece)
    return out


# StreamFramer: linear gives ~4 here too. `bytes + data` on every feed gives ~8 for
# 100-octet chunks (measured), hence a tighter bound that tells the two apart.
FRAMER_BOUND = 6.0


@pytest.mark.parametrize("what", ["header", "body"])
def test_framer_is_linear_in_100_octet_chunks(what: str) -> None:
    def build(n: int) -> bytes:
        if what == "header":
            return message("X-Long: " + "a" * n)
        head = message("Content-Type: text/plain").replace(
            b"Content-Length: 0", b"Content-Length: %05d" % n)
        return head + b"a" * n

    n_small, n_big = fill(build)
    small, big = build(n_small), build(n_big)
    small_chunks, big_chunks = chunks(small, 100), chunks(big, 100)
    assert feed_all(small_chunks) == [small] and feed_all(big_chunks) == [big]
    assert_linear(lambda: feed_all(small_chunks), lambda: feed_all(big_chunks),
                  FRAMER_BOUND)


# ---- Limits ---------------------------------------------------------------------------

def padded(size: int) -> bytes:
    """A valid message of exactly `size` octets (the padding is in an unknown header)."""
    base = message("X-Pad: ")
    return message("X-Pad: " + "p" * (size - len(base)))


def test_over_65535_octets_is_513() -> None:
    assert len(padded(MAX)) == MAX
    parse(padded(MAX), strict=True)
    for data in (padded(MAX + 1), b"x" * (MAX + 1), b"\r\n" * 40000,
                 padded(MAX - 10) + b"0123456789" + b"extra"):
        with pytest.raises(ParseError) as err:
            parse(data)
        assert err.value.status == 513


def test_limits_are_honoured() -> None:
    data = padded(1000)
    parse(data, limits=Limits(max_size=1000))
    with pytest.raises(ParseError) as err:
        parse(data, limits=Limits(max_size=999))
    assert err.value.status == 513
    many = message("\r\n".join(f"X-{i}: a" for i in range(300)))
    with pytest.raises(ParseError) as err:
        parse(many)
    assert err.value.status == 513
    parse(many, limits=Limits(max_headers=400))


def test_framer_513_on_endless_header_and_huge_length() -> None:
    framer = StreamFramer()
    with pytest.raises(ParseError) as err:
        for piece in chunks(b"INVITE sip:a@b SIP/2.0\r\nX: " + b"a" * MAX, 1000):
            framer.feed(piece)
    assert err.value.status == 513
    huge = message("X: a").replace(b"Content-Length: 0", b"Content-Length: 65535")
    with pytest.raises(ParseError) as err:
        StreamFramer().feed(huge)
    assert err.value.status == 513
    exact = padded(MAX)
    assert feed_all(chunks(exact, 100)) == [exact]
