"""What every fuzz test asks of geosip.sip, whatever the bytes: ParseError (with a
status in 400..599) or success, never another exception (STYLE.md §6, parser.py's
contract). Shared by test_garbage.py and test_blowup.py.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

from geosip.sip import (DEFAULT_LIMITS, Limits, Message, ParseError, Request, StreamFramer,
                        parse)

TOKEN_LISTS = ("require", "proxy-require", "supported", "unsupported", "allow")


def check_error(exc: ParseError) -> None:
    assert isinstance(exc.status, int) and 400 <= exc.status <= 599, exc.status
    assert exc.fields is None or isinstance(exc.fields, list)
    str(exc)


def attempt(fn: Callable[[], Any]) -> Any:
    """fn(), or None when it raises ParseError; any other exception propagates."""
    try:
        return fn()
    except ParseError as exc:
        check_error(exc)
        return None


def exercise_message(msg: Message) -> None:
    """Every accessor a layer above may call on a message from a peer."""
    names = {f.name for f in msg.fields}
    getters: list[Callable[[], Any]] = [
        msg.validate, lambda: msg.via, lambda: msg.top_via, lambda: msg.contact,
        lambda: msg.route, lambda: msg.record_route, lambda: msg.path,
        lambda: msg.from_, lambda: msg.to, lambda: msg.from_tag, lambda: msg.to_tag,
        lambda: msg.call_id, lambda: msg.cseq, lambda: msg.max_forwards,
        lambda: msg.expires, lambda: msg.date, lambda: msg.is_contact_star,
        lambda: msg.content_type, lambda: msg.content_length, msg.start_line,
    ]
    if isinstance(msg, Request):
        getters.append(lambda: msg.uri)
    for name in names:
        getters += [partial(msg.values, name), partial(msg.header_all, name),
                    partial(msg.header, name)]
    getters += [partial(msg.tokens, name) for name in TOKEN_LISTS]
    for get in getters:
        value = attempt(get)
        # Parsed values must print (a proxy writes them back): str() of every one.
        for item in value if isinstance(value, list) else [value]:
            str(item)
    assert isinstance(msg.to_bytes(), bytes)


def exercise(data: bytes, limits: Limits = DEFAULT_LIMITS) -> None:
    """parse (lenient and strict), then every accessor; for a request also the
    responses a server builds from it, which must parse back."""
    lenient = attempt(lambda: parse(data, limits=limits))
    strict = attempt(lambda: parse(data, strict=True, limits=limits))
    if strict is not None:
        assert lenient is not None, "strict parse accepted what lenient parse refused"
    if lenient is None:
        return
    # The original octets come back (minus leading CRLFs and octets past the body), and
    # parse again to the same fields.
    wire = lenient.to_bytes()
    assert wire in data
    same = parse(wire, limits=limits)
    assert same.fields == lenient.fields and same.body == lenient.body
    exercise_message(lenient)
    if strict is not None:
        exercise_message(strict)
    stamp_received(wire)
    if isinstance(lenient, Request):
        # What the core does with an addressable bad request: a stateless answer
        # (RFC 3261 §8.2.6). It must build, and parse back.
        to = attempt(lambda: lenient.to)
        for status, tag in ((400, None), (100, None), (200, "t0")):
            resp = attempt(lambda: lenient.make_response(status, to_tag=tag))
            if resp is None:
                continue
            again = reparse(resp)
            if again is not None and tag is not None and to is not None:
                # A To rewritten with our tag reads back as the request's, plus the tag.
                new_to = again.to
                assert new_to.tag == (to.tag if to.tag is not None else tag)
                assert new_to.display == to.display and new_to.params.has("tag")


def reparse(msg: Message) -> Message | None:
    """Parse what we built from a peer's message; only a message near the size limit
    may fail (513), as ours can be a little longer."""
    try:
        return parse(msg.to_bytes())
    except ParseError as exc:
        assert exc.status == 513, exc
        return None


def stamp_received(wire: bytes) -> None:
    """What every server does to a request's top Via (RFC 3261 §18.2.1, RFC 3581):
    replace it by itself plus received and rport. The result must parse back."""
    msg = parse(wire)
    top = msg.top_via
    new = top.with_param("received", "192.0.2.1").with_param("rport", "5060")
    popped = attempt(lambda: msg.pop_value("Via"))
    if popped is None:
        return  # the first Via field does not split (a second value is unreadable)
    msg.prepend_value("Via", str(new))
    again = reparse(msg)
    if again is not None:
        assert again.top_via == new


def feed_in_chunks(data: bytes, sizes: list[int], max_size: int = 65535) -> None:
    """StreamFramer over `data` cut in chunks of `sizes` (cycled); every message it
    returns is exercised. A ParseError ends the stream, as closing the connection would."""
    framer = StreamFramer(max_size)
    pos = i = 0
    try:
        while pos < len(data):
            size = sizes[i % len(sizes)]
            for message in framer.feed(data[pos:pos + size]):
                assert len(message) <= max_size
                if message != b"\r\n\r\n":
                    assert not message.startswith(b"\r\n")
                    exercise(message)
                    # Framer and parser read the same Content-Length: nothing is cut.
                    msg = attempt(lambda: parse(message))
                    assert msg is None or msg.to_bytes() == message
            pos += size
            i += 1
    except ParseError as exc:
        check_error(exc)
        return
    assert len(framer.pending) <= max_size  # what is kept stays bounded
