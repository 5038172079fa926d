"""Telephone numbers from SIP and tel: URIs, and the number <-> SIP user mapping.

A MESSAGE for SMS names its recipient as `sip:+447700900123@sms.example.com` (the user
part, RFC 3261 §19.1.6 telephone-subscriber) or `tel:+447700900123` (RFC 3966). Visual
separators (RFC 3966 §5.1.1: - . ( ) and spaces) are dropped; what is left must be an
optional '+' and 3 to 20 digits (SMPP 3.4 §5.2.8 gives an address 20 characters), else
BadNumber (answered 484 Address Incomplete, RFC 3261 §21.4.22).

The config's `numbers` table maps each number to its SIP user; read backwards, it gives a
SIP sender its number for the SMS it sends (MT) and the inbound SMS (MO) its recipient.
"""

from __future__ import annotations

import re

from geosip.sip import SipUri, TelUri, Uri, parse_uri

_NUMBER_RE = re.compile(r"\+?[0-9]{3,20}")
_VISUAL = str.maketrans("", "", "-.() ")


class BadNumber(ValueError):
    """The URI does not name a telephone number."""


def normalize(text: str) -> str:
    """'+44 7700-900123' -> '+447700900123'; raises BadNumber."""
    number = text.translate(_VISUAL)
    if _NUMBER_RE.fullmatch(number) is None:
        raise BadNumber(f"{text[:40]!r} is not a telephone number")
    return number


def number_of(uri: Uri) -> str:
    """The telephone number a request URI names; raises BadNumber."""
    if isinstance(uri, TelUri):
        return normalize(uri.number)
    if isinstance(uri, SipUri) and uri.user:
        return normalize(uri.user.split(";", 1)[0])
    raise BadNumber(f"{str(uri)[:60]!r} has no telephone number")


def _aor(uri: str) -> str:
    parsed = parse_uri(uri)
    if isinstance(parsed, SipUri):
        return f"{parsed.user or ''}@{parsed.host.lower()}"
    return str(parsed)


class NumberMap:
    """`numbers`: {number: SIP URI}. Raises ValueError at construction for a malformed
    number or URI, or one SIP user given two numbers."""

    def __init__(self, numbers: dict[str, str]) -> None:
        self._uri: dict[str, str] = {}
        self._number: dict[str, str] = {}
        for number, uri in numbers.items():
            try:
                key = normalize(number)
                aor = _aor(uri)
            except Exception as exc:
                raise ValueError(f"numbers[{number!r}] = {uri!r}: {exc}") from None
            if aor in self._number:
                raise ValueError(f"{uri} has two numbers: {self._number[aor]} and {key}")
            self._uri[key] = uri
            self._number[aor] = key

    def uri_for(self, number: str) -> str | None:
        """The SIP URI an inbound SMS to `number` goes to ('+44...' and '44...' alike)."""
        found = self._uri.get(number)
        if found is None:
            found = self._uri.get(number[1:] if number.startswith("+") else "+" + number)
        return found

    def number_for(self, uri: Uri | str) -> str | None:
        """The number of the SIP user `uri` (user@host compared), None when unmapped."""
        try:
            return self._number.get(_aor(str(uri)))
        except Exception:
            return None
