"""Hypothesis strategies for well-formed SIP messages, written as wire bytes from their
parts (RFC 3261 §7, §19.1, §20, §25.1).

`requests()`, `responses()` and `messages()` draw (wire, expected): the bytes of one
message and a dict of the parts the parser must report. Each header value is built
as a list of pieces whose single-space join is the value the parser reports; the
writer joins them with one SP or folds them (CRLF + SP/HT, RFC 3261 §7.3.1), and both
unfold to the same text. Pieces split only where LWS is legal: after the colon, after
a list comma, between display name and '<', before a ';'.

The parts that matter are drawn with hypothesis (so they shrink); cosmetic choices
(letter case, optional escapes, spacing, folds) come from one drawn `random.Random`,
which keeps a message at a few dozen draws instead of hundreds.
"""

from __future__ import annotations

import ipaddress
import os
import random
import string
from typing import Any, Callable

from hypothesis import strategies as st

from geosip.sip.grammar import CANONICAL_NAMES, HEADER_KEYS

# GEOSIP_FUZZ_SCALE=20 multiplies every test's max_examples, for a long local run.
SCALE = float(os.environ.get("GEOSIP_FUZZ_SCALE", "1"))


def examples(n: int) -> int:
    """`n` examples, scaled by GEOSIP_FUZZ_SCALE."""
    return max(1, int(n * SCALE))


Draw = Callable[[st.SearchStrategy[Any]], Any]
Expected = dict[str, Any]

TOKEN_CHARS = string.ascii_letters + string.digits + "-.!%*_+`'~"
ALNUM = string.ascii_letters + string.digits
# RFC 3261 §25.1 word (Call-ID): token characters plus these.
WORD_CHARS = TOKEN_CHARS + '()<>:\\"/[]?{}'
# unreserved / user-unreserved: what a user part may carry unescaped (RFC 3261 §25.1).
USER_SAFE = ALNUM + "-_.!~*'()" + "&=+$,;?/"
PASSWORD_SAFE = ALNUM + "-_.!~*'()" + "&=+$,"
# uri-parameter characters drawn here: unreserved / param-unreserved, but no '%' (the
# parsed value then equals the written one) and no '@' (it would end a user part).
PARAM_CHARS = ALNUM + "-_.!~*'()[]/:&+$"

KNOWN_METHODS = ["INVITE", "REGISTER", "OPTIONS", "MESSAGE", "BYE", "ACK", "CANCEL"]
COMPACT = {"via": "v", "from": "f", "to": "t", "call-id": "i", "contact": "m",
           "content-length": "l", "content-type": "c", "supported": "k"}
# Header parameters whose presence the tests check: never drawn as generic ones.
RESERVED_PARAMS = frozenset(("tag", "branch", "rport", "received", "maddr", "ttl", "q",
                             "expires", "+sip.instance"))
# A Contact parameter whose quoted value holds '<', '>' and ':' (RFC 5626 §4.1).
INSTANCE = '"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"'

tokens = st.text(TOKEN_CHARS, min_size=1, max_size=12)
# Text of a header value or quoted string: anything but CR and LF (and surrogates,
# which UTF-8 cannot carry).
any_char = st.characters(codec="utf-8")  # no surrogates: UTF-8 cannot carry them
line_text = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=24)
# A word of an unknown header's value, which may be folded: no whitespace at all.
value_word = st.text(any_char.filter(lambda c: not c.isspace()), min_size=1, max_size=8)
cosmetics = st.randoms(use_true_random=True)  # seeded by hypothesis: replays, cheap calls


def canonical(key: str) -> str:
    return CANONICAL_NAMES.get(key) or "-".join(p.capitalize() for p in key.split("-"))


def quoted_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ---- URIs -----------------------------------------------------------------------------

def escape(rnd: random.Random, text: str, safe: str) -> str:
    """%HH-escape what must be escaped, and now and then what need not be (RFC 3261
    §19.1.2: the parser unescapes once, so both read the same)."""
    hexfmt = rnd.choice(("%%%02X", "%%%02x"))
    out = []
    for char in text:
        if char in safe and rnd.random() > 0.1:
            out.append(char)
        else:
            out.append("".join(hexfmt % b for b in char.encode("utf-8")))
    return "".join(out)


_label = st.text(ALNUM + "-", min_size=1, max_size=10).filter(
    lambda s: s[0] != "-" and s[-1] != "-")
hostnames = st.lists(_label, min_size=1, max_size=4).map(".".join)
ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: "%d.%d.%d.%d" % t)
ipv6 = st.one_of(
    st.sampled_from(["2001:db8::1", "::1", "::ffff:192.0.2.128", "2001:db8:0:0:0:0:0:1"]),
    st.integers(0, 2**128 - 1).map(lambda n: str(ipaddress.IPv6Address(n))))
hosts = st.one_of(hostnames, ipv4, ipv6.map(lambda a: f"[{a}]"))
ports = st.none() | st.integers(0, 65535)
_param_value = st.text(PARAM_CHARS, min_size=1, max_size=10)
uri_params = st.lists(
    st.sampled_from([("lr", None), ("transport", "tcp"), ("transport", "TLS"),
                     ("user", "phone"), ("maddr", "192.0.2.1"), ("ttl", "16"),
                     ("method", "INVITE"), ("ob", None)])
    | st.tuples(st.text(PARAM_CHARS, min_size=1, max_size=8), st.none() | _param_value),
    max_size=4)
uri_headers = st.lists(st.tuples(st.text(ALNUM, min_size=1, max_size=8),
                                 st.text(PARAM_CHARS.replace("&", ""), max_size=8)),
                       max_size=2)
users = st.none() | st.text(any_char, min_size=1, max_size=12)
passwords = st.none() | st.text(any_char, max_size=8)
sip_schemes = st.sampled_from(["sip", "sips", "SIP", "sIpS"])


@st.composite
def sip_uris(draw: Draw, *, headers: bool = False) -> tuple[str, Expected]:
    """A sip:/sips: URI as text and its expected parts."""
    rnd = draw(cosmetics)
    scheme = draw(sip_schemes)
    user = draw(users)
    password = draw(passwords) if user is not None else None
    host = draw(hosts)
    port = draw(ports)
    params = draw(uri_params)
    out = [scheme, ":"]
    if user is not None:
        out.append(escape(rnd, user, USER_SAFE))
        if password is not None:
            out += [":", escape(rnd, password, PASSWORD_SAFE)]
        out.append("@")
    out.append(host)
    if port is not None:
        out.append(f":{port}")
    for name, value in params:
        out.append(f";{name}" if value is None else f";{name}={value}")
    hdrs = draw(uri_headers) if headers else []
    if hdrs:
        out.append("?" + "&".join(f"{k}={v}" for k, v in hdrs))
    return "".join(out), {"scheme": scheme.lower(), "user": user, "password": password,
                          "host": host, "port": port, "params": params, "headers": hdrs}


_tel_digits = st.text("0123456789-.()", min_size=1, max_size=12).filter(
    lambda s: any(c.isdigit() for c in s))
_tel_params = st.lists(st.tuples(st.text(ALNUM + "-", min_size=1, max_size=6),
                                 st.none() | st.text(ALNUM, min_size=1, max_size=6)),
                       max_size=2)


@st.composite
def tel_uris(draw: Draw) -> tuple[str, Expected]:
    """tel: URIs (RFC 3966), global or local with a phone-context."""
    params: list[tuple[str, str | None]] = []
    if draw(st.booleans()):
        number = "+" + draw(_tel_digits)
    else:
        number = draw(_tel_digits)
        params.append(("phone-context", draw(st.sampled_from(["example.com", "+1-201"]))))
    params += draw(_tel_params)
    text = "tel:" + number + "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params)
    return text, {"scheme": "tel", "number": number}


request_uris = st.one_of(sip_uris(), sip_uris(), tel_uris())


# ---- header values --------------------------------------------------------------------

_generic_params = st.lists(
    st.tuples(tokens.filter(lambda n: n.lower() not in RESERVED_PARAMS),
              st.none() | tokens | line_text.map(quoted_string)),
    max_size=2)


def header_params(draw: Draw, rnd: random.Random,
                  fixed: list[tuple[str, str | None]]) -> list[str]:
    """';name[=value]' pieces: `fixed` plus a few generic ones (a token, or a quoted
    string), in random order, with optional LWS around '=' (RFC 3261 §25.1 EQUAL)."""
    items = fixed + draw(_generic_params)
    rnd.shuffle(items)
    return [f";{name}" if value is None else f";{name}{rnd.choice(('=', '=', ' = '))}{value}"
            for name, value in items]


@st.composite
def quoted_display(draw: Draw) -> tuple[str, str]:
    """A quoted-string display name: (as written, expected text). Besides '"' and '\\',
    any ASCII character but CR/LF may be written as a quoted-pair (RFC 3261 §25.1)."""
    rnd = draw(cosmetics)
    text = draw(line_text)
    out = ['"']
    for char in text:
        if char in '"\\' or (char < "\x80" and rnd.random() < 0.15):
            out.append("\\" + char)
        else:
            out.append(char)
    out.append('"')
    return "".join(out), text


_ADDRESS_URIS = {(True, False): st.one_of(sip_uris(), tel_uris()),
                 (True, True): st.one_of(sip_uris(headers=True), tel_uris()),
                 (False, False): sip_uris(), (False, True): sip_uris(headers=True)}
_display_kinds = st.sampled_from(["none", "token", "quoted"])
_display_words = st.lists(tokens, min_size=1, max_size=3)


@st.composite
def addresses(draw: Draw, params: list[tuple[str, str | None]], *,
              tel: bool = True, uri_headers: bool = False) -> tuple[list[str], Expected]:
    """A name-addr or addr-spec with header parameters `params` (and generic ones):
    (pieces, expected)."""
    rnd = draw(cosmetics)
    uri, parts = draw(_ADDRESS_URIS[tel, uri_headers])
    kind = draw(_display_kinds)
    pieces: list[str] = []
    display: str | None = None
    if kind == "token":
        words = draw(_display_words)
        pieces += words
        display = " ".join(words)
    elif kind == "quoted":
        written, display = draw(quoted_display())
        pieces.append(written)
    # addr-spec only for a URI without ';', '?' and ',': in addr-spec form its
    # parameters would be header parameters (RFC 4475 cparam01), a '?' is not allowed
    # (regbadct) and a ',' would split a list.
    if kind == "none" and not any(c in uri for c in ";?,") and rnd.random() < 0.5:
        pieces.append(uri)
    elif kind == "quoted" and rnd.random() < 0.2:
        pieces[-1] += f"<{uri}>"   # LAQUOT = SWS "<": no LWS needed after a quoted-string
    else:
        pieces.append(f"<{uri}>")
    pieces += header_params(draw, rnd, params)
    return pieces, {"display": display, "uri": uri, "uri_parts": parts,
                    "params": {k.lower(): v for k, v in params}}


_q_values = st.sampled_from(["0", "1", "0.5", "1.000", "0.001"])
_uint32 = st.integers(0, 2**32 - 1)


@st.composite
def contact_values(draw: Draw) -> tuple[list[str], Expected]:
    """A Contact value (RFC 3261 §20.10) with q, expires or +sip.instance (RFC 5626)."""
    fixed: list[tuple[str, str | None]] = []
    if draw(st.booleans()):
        fixed.append(("q", draw(_q_values)))
    if draw(st.booleans()):
        fixed.append(("expires", str(draw(_uint32))))
    if draw(st.booleans()):
        fixed.append(("+sip.instance", INSTANCE))
    return draw(addresses(fixed, tel=False, uri_headers=True))


_transports = (st.sampled_from(["UDP", "TCP", "TLS", "WS", "WSS", "SCTP", "udp", "tls"])
               | st.text(ALNUM, min_size=1, max_size=5))
_rport_kinds = st.sampled_from(["absent", "flag", "value"])
_received = st.none() | ipv4 | ipv6 | ipv6.map(lambda a: f"[{a}]")


@st.composite
def via_values(draw: Draw) -> tuple[list[str], Expected]:
    """One Via value (RFC 3261 §20.42, RFC 3581 rport, RFC 5118 received), with LWS
    around '/' and ':' now and then (RFC 4475 wsinv)."""
    rnd = draw(cosmetics)
    transport = draw(_transports)
    sp = rnd.choice(("", "", "", " "))
    proto = f"SIP{sp}/{sp}2.0{sp}/{sp}{transport}"
    host = draw(hosts)
    port = draw(ports)
    branch = "z9hG4bK" + draw(tokens)
    fixed: list[tuple[str, str | None]] = [("branch", branch)]
    rport_kind = draw(_rport_kinds)
    rport: str | None = None
    if rport_kind == "flag":
        fixed.append(("rport", None))
        rport = ""
    elif rport_kind == "value":
        rport = str(draw(ports.filter(lambda p: p is not None)))
        fixed.append(("rport", rport))
    received = draw(_received)
    if received is not None:
        fixed.append(("received", received))
    if draw(st.booleans()):
        fixed.append(("ttl", str(draw(st.integers(0, 255)))))
    sent_by = host if port is None else f"{host}{rnd.choice((':', ':', ' : '))}{port}"
    pieces = [proto, sent_by] + header_params(draw, rnd, fixed)
    return pieces, {"transport": transport.upper(), "host": host, "port": port,
                    "branch": branch, "rport": rport, "received": received}


call_ids = st.builds(lambda a, b: a if b is None else f"{a}@{b}",
                     st.text(WORD_CHARS, min_size=1, max_size=20),
                     st.none() | st.text(WORD_CHARS, min_size=1, max_size=12))


# ---- header lines ---------------------------------------------------------------------

def header_name(rnd: random.Random, key: str) -> str:
    """How a peer may spell a known header: canonical, compact, in any letter case."""
    forms = [canonical(key), canonical(key), key.upper(), key]
    if key in COMPACT:
        forms += [COMPACT[key], COMPACT[key].upper()]
    name = rnd.choice(forms)
    if rnd.random() < 0.3:
        name = "".join(c.swapcase() if rnd.random() < 0.5 else c for c in name)
    return name


def write_line(rnd: random.Random, name: str, pieces: list[str],
               fold: bool = True) -> tuple[str, str]:
    """The header line (folded or not, without its CRLF) and its unfolded value."""
    out = [name, rnd.choice(("", "", "", " ", "\t")), ":"]
    if fold and rnd.random() < 0.1:
        out.append("\r\n" + rnd.choice((" ", "\t", "   ")))
    else:
        out.append(rnd.choice((" ", " ", " ", "", "  ", "\t")))
    for i, piece in enumerate(pieces):
        if i:
            folded = fold and rnd.random() < 0.1
            out.append("\r\n" + rnd.choice((" ", "\t", " \t ")) if folded else " ")
        out.append(piece)
    return "".join(out), " ".join(pieces)


def list_pieces(values: list[list[str]]) -> list[str]:
    """Pieces of a comma-separated list: a ',' ends the last piece of every value but
    the last, so a fold after a comma unfolds to ', '."""
    pieces: list[str] = []
    for i, value in enumerate(values):
        value = list(value)
        if i < len(values) - 1:
            value[-1] += ","
        pieces += value
    return pieces


def group_sizes(rnd: random.Random, count: int) -> list[int]:
    """Split `count` list values into fields of 1-2 values: their sizes, in order."""
    sizes = []
    while count:
        size = min(count, rnd.choice((1, 1, 2)))
        sizes.append(size)
        count -= size
    return sizes


unknown_names = st.text(TOKEN_CHARS, min_size=1, max_size=16).filter(
    lambda name: name.lower() not in HEADER_KEYS)
unknown_headers = st.lists(
    st.tuples(unknown_names,
              st.one_of(st.lists(value_word, min_size=1, max_size=4),  # may be folded
                        line_text)),                                   # written as is
    max_size=4)
_methods = st.sampled_from(KNOWN_METHODS) | tokens
_statuses = st.integers(100, 699)
_contacts = st.none() | st.just("*") | st.lists(contact_values(), min_size=1, max_size=3)
_routes = st.lists(sip_uris().map(lambda u: u[0]), max_size=2)
_timestamps = st.none() | st.builds("{}.{} {}".format, st.integers(0, 10**9),
                                    st.integers(0, 999), st.integers(0, 9))
_bodies = st.binary(max_size=200)
_content_types = st.sampled_from(["application/sdp", "text/plain",
                                  "application/octet-stream"])


@st.composite
def messages_of(draw: Draw, kind: str) -> tuple[bytes, Expected]:
    """A well-formed request (kind 'request') or response ('response')."""
    rnd = draw(cosmetics)
    exp: Expected = {"kind": kind}
    lines: list[str] = []
    keys: list[str] = []
    fields: list[tuple[str, str]] = []   # (name, unfolded value), as parse reports them

    def add(key: str, pieces: list[str], name: str | None = None, fold: bool = True) -> None:
        name = header_name(rnd, key) if name is None else name
        line, value = write_line(rnd, name, pieces, fold)
        lines.append(line)
        keys.append(key)
        fields.append((name, value))

    method = draw(_methods)
    number = draw(_uint32)
    exp["cseq"] = (number, method)
    if kind == "request":
        uri, parts = draw(request_uris)
        exp.update(method=method, uri=uri, uri_parts=parts)
        start = f"{method} {uri} SIP/2.0"
    else:
        status = draw(_statuses)
        reason = draw(line_text)
        exp.update(status=status, reason=reason)
        start = f"SIP/2.0 {status} {reason}"

    vias = draw(st.lists(via_values(), min_size=1, max_size=4))
    exp["vias"] = [v for _, v in vias]
    via_fields: list[list[str]] = []
    exp["via_fields"] = []   # per Via field, the text of each of its values
    i = 0
    for size in group_sizes(rnd, len(vias)):
        via_fields.append(list_pieces([p for p, _ in vias[i:i + size]]))
        exp["via_fields"].append([" ".join(p) for p, _ in vias[i:i + size]])
        i += size

    from_pieces, exp["from"] = draw(addresses([("tag", draw(tokens))]))
    exp["from"]["tag"] = exp["from"]["params"]["tag"]
    to_tag = draw(st.none() | tokens)
    to_pieces, exp["to"] = draw(addresses([] if to_tag is None else [("tag", to_tag)]))
    exp["to"]["tag"] = to_tag
    exp["call_id"] = draw(call_ids)
    exp["max_forwards"] = draw(st.none() | st.integers(0, 255))
    contacts = draw(_contacts)
    exp["contacts"] = (None if contacts is None else "*" if contacts == "*"
                       else [c for _, c in contacts])
    exp["routes"] = routes = draw(_routes)
    unknown = draw(unknown_headers)
    expires = draw(st.none() | _uint32)
    supported = draw(st.none() | st.lists(tokens, min_size=1, max_size=3))
    exp["timestamp"] = timestamp = draw(_timestamps)
    exp["body"] = body = draw(_bodies)
    exp["content_type"] = content_type = draw(_content_types) if body else None

    # Every header but Via in any order; the Via fields keep theirs (top first).
    plan = ["from", "to", "call-id", "cseq", "content-length"]
    plan += [name for name, value in (
        ("max-forwards", exp["max_forwards"]), ("contact", contacts), ("route", routes),
        ("expires", expires), ("supported", supported), ("timestamp", timestamp),
        ("content-type", content_type)) if value not in (None, [])]
    plan += ["unknown"] * len(unknown) + ["via"] * len(via_fields)
    rnd.shuffle(plan)

    via_iter = iter(via_fields)
    unknown_iter = iter(unknown)
    exp["unknown"] = []
    for key in plan:
        if key == "via":
            add("via", next(via_iter))
        elif key == "from":
            add("from", from_pieces)
        elif key == "to":
            add("to", to_pieces)
        elif key == "call-id":
            add("call-id", [exp["call_id"]], fold=False)
        elif key == "cseq":
            add("cseq", [f"{number}{rnd.choice((' ', ' ', '  ', chr(9)))}{method}"],
                fold=False)
        elif key == "max-forwards":
            add("max-forwards", [str(exp["max_forwards"])])
        elif key == "contact":
            add("contact", ["*"] if contacts == "*"
                else list_pieces([p for p, _ in contacts]))
        elif key == "route":
            add("route", list_pieces([[f"<{r}>"] for r in routes]))
        elif key == "expires":
            add("expires", [str(expires)])
        elif key == "supported":
            add("supported", list_pieces([[t] for t in supported]))
        elif key == "timestamp":
            add("timestamp", [timestamp])
        elif key == "content-type":
            add("content-type", [str(content_type)])
        elif key == "content-length":
            add("content-length", ["0" * rnd.choice((0, 0, 0, 1, 2)) + str(len(body))])
        else:
            name, value = next(unknown_iter)
            if isinstance(value, list):
                add(name.lower(), value, name=name)
            else:
                text = value.strip(" \t")
                add(name.lower(), [text] if text else [], name=name, fold=False)
            exp["unknown"].append(fields[-1])

    exp["start"] = start
    exp["fields"] = fields
    exp["keys"] = keys
    wire = "\r\n".join([start] + lines).encode("utf-8") + b"\r\n\r\n" + body
    return wire, exp


def requests() -> st.SearchStrategy[tuple[bytes, Expected]]:
    return messages_of("request")


def responses() -> st.SearchStrategy[tuple[bytes, Expected]]:
    return messages_of("response")


def messages() -> st.SearchStrategy[tuple[bytes, Expected]]:
    return st.one_of(requests(), responses())
