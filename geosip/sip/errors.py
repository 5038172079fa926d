"""Errors of the sans-I/O SIP layer.

Every error carries the status a server should answer with (h11's idea): the
transport/core boundary turns a ParseError into a stateless reply when the message
is addressable, and drops (and counts) it otherwise. Any other exception escaping
`geosip.sip` is a bug.
"""

from __future__ import annotations


class SipError(Exception):
    """Base class. `status` is the SIP status code to answer with, `reason` says why."""

    status: int = 400

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        if status is not None:
            self.status = status

    def __str__(self) -> str:
        return f"{self.status}: {self.reason}"


class ParseError(SipError):
    """Bad bytes from a peer: 400, 413, 414, 416, 505, 513...

    `fields` holds the header fields that could be read before the error (or None),
    so the core can still address a stateless reply when Via, From, To, Call-ID and
    CSeq are among them.
    """

    def __init__(self, reason: str, status: int = 400, fields: object = None) -> None:
        super().__init__(reason, status)
        self.fields = fields


class LocalProtocolError(SipError):
    """A message we built wrongly (a programming error above the sip layer)."""

    status = 500


class TransactionError(SipError):
    """A transaction failed: timeout (408), transport failure (503), cancel failure."""

    status = 408
