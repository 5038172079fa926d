"""Message framing on stream transports (TCP, TLS): RFC 3261 §18.3, RFC 5626 §3.5.1.

A stream carries messages back to back; each one's end is its header section's empty
line plus Content-Length octets, so Content-Length is mandatory here. Between
messages a peer may send keep-alives: a double CRLF "ping", which the transport
answers with a single CRLF "pong" (RFC 5626 §3.5.1), and lone CRLFs, which are skipped.

`StreamFramer.feed(data)` returns the complete messages (and `KEEPALIVE` for each
ping) and keeps the rest. Work is linear in the bytes received: a partial header is
never rescanned from its start. A stream that cannot be framed (no or bad
Content-Length, a message over the size limit) raises ParseError; the only safe answer
is to close that connection, as RFC 4475 ncl/mcl01 say.
"""

from __future__ import annotations

import re

from .errors import ParseError

KEEPALIVE = b"\r\n\r\n"
_CRLF = b"\r\n"

# A Content-Length (or compact 'l') header line inside a header section; the value
# may sit on a continuation line. Checked for digits after matching.
_CL_RE = re.compile(rb"\r\n(?:content-length|l)[ \t]*:[ \t]*(?:\r\n[ \t]+)?([^\r\n]*)",
                    re.IGNORECASE)


class StreamFramer:
    """Cuts one stream's bytes into messages. One instance per connection."""

    __slots__ = ("max_size", "_buf", "_searched", "_need")

    def __init__(self, max_size: int = 65535) -> None:
        self.max_size = max_size
        self._buf = bytearray()  # grown in place: `bytes + data` per feed is quadratic
        self._searched = 0   # header-end search resumes here (minus 3 for a split CRLFCRLF)
        self._need = 0       # total length of the message at the front, once known

    @property
    def pending(self) -> bytes:
        """Bytes received but not yet part of a complete message."""
        return bytes(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; returns complete messages and KEEPALIVE pings, in order.

        Raises ParseError (400 bad or missing Content-Length, 513 too large): the caller
        closes the connection.
        """
        buf = self._buf
        buf += data
        out: list[bytes] = []
        pos = 0
        while True:
            if self._need:
                if len(buf) - pos < self._need:
                    break
                out.append(bytes(buf[pos:pos + self._need]))
                pos += self._need
                self._need = 0
                self._searched = 0
            while buf.startswith(_CRLF, pos):
                if buf.startswith(KEEPALIVE, pos):
                    out.append(KEEPALIVE)
                    pos += 4
                elif len(buf) - pos < 4 and KEEPALIVE.startswith(buf[pos:]):
                    break  # maybe the first half of a ping: wait for the rest
                else:
                    pos += 2  # a lone CRLF (a pong, or padding)
            if pos >= len(buf) or (len(buf) - pos < 4 and KEEPALIVE.startswith(buf[pos:])):
                break
            end = buf.find(KEEPALIVE, max(pos, pos + self._searched - 3))
            if end < 0:
                self._searched = len(buf) - pos
                if self._searched > self.max_size:
                    raise ParseError(f"header section exceeds {self.max_size} octets", 513)
                break
            length = _content_length(buf, pos, end)
            total = end + 4 + length - pos
            if total > self.max_size:
                raise ParseError(f"message of {total} octets exceeds {self.max_size}", 513)
            self._need = total
        del buf[:pos]  # a bytearray drops a prefix without copying the rest
        return out


def _content_length(buf: bytearray, start: int, end: int) -> int:
    values = {bytes(m.group(1)).strip() for m in _CL_RE.finditer(buf, start, end + 2)}
    if not values:
        raise ParseError("Content-Length is mandatory on stream transports (RFC 3261 §18.3)")
    if len(values) > 1:
        raise ParseError("conflicting Content-Length headers")
    value = values.pop()
    if not value.isdigit() or len(value) > 10:
        raise ParseError(f"malformed Content-Length {value[:20]!r}")
    return int(value)


def split_messages(buf: bytes, max_size: int = 65535) -> tuple[list[bytes], bytes]:
    """Complete messages (and KEEPALIVE pings) at the front of `buf`, and the remainder."""
    framer = StreamFramer(max_size)
    messages = framer.feed(buf)
    return messages, framer.pending
