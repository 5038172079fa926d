"""Nonces that carry their own integrity and age, and nonce-count replay protection.

Theory of operation. A nonce is base64url(ts | random | mac): `ts` the issue time
(8 bytes, whole seconds, big-endian), 16 random bytes, and mac = HMAC-SHA256(secret,
ts | random). The secret is the `secret` modparam, or 32 random bytes per process.
So check() needs no state to refuse a nonce we did not issue (bad length, bad base64,
bad mac, issued in the future: INVALID) and to tell an old but genuine one (older
than `expire` seconds: STALE, answered with stale=true as RFC 7616 §3.3 says).

Replays need state: `NonceCounts` remembers the highest nc accepted per nonce
(RFC 7616 §3.4: the server SHOULD check that nc grows), in a bounded LRU. A nonce
pushed out of it may be one a client still uses, so the issue time of the newest
nonce ever pushed out is kept as a watermark: a nonce issued at or before it that is
no longer remembered is answered STALE (the client gets a fresh nonce), never
accepted again with an nc we forgot.

The clock (`now`) is an argument everywhere, so tests run on any time they like.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import os
import struct
from collections import OrderedDict

_TS = struct.Struct(">Q")
_RANDOM = 16
_MAC = 32
_RAW = _TS.size + _RANDOM + _MAC
MAX_SKEW = 5  # seconds a nonce may seem to come from the future (clock steps)


class NonceState(enum.Enum):
    OK = "ok"
    STALE = "stale"      # genuine, but too old (or forgotten by NonceCounts)
    INVALID = "invalid"  # not ours: malformed or a bad mac


class NonceCodec:
    """Issues and checks nonces with one secret and one lifetime (seconds)."""

    def __init__(self, secret: bytes | None = None, expire: int = 300) -> None:
        self.secret = secret or os.urandom(32)
        self.expire = expire

    def _mac(self, head: bytes) -> bytes:
        return hmac.new(self.secret, head, hashlib.sha256).digest()

    def issue(self, now: float) -> str:
        head = _TS.pack(int(now)) + os.urandom(_RANDOM)
        return base64.urlsafe_b64encode(head + self._mac(head)).decode().rstrip("=")

    def issued_at(self, nonce: str) -> int | None:
        """The issue time of a nonce we made, or None for any other string."""
        if len(nonce) != (_RAW * 4 + 2) // 3:
            return None
        try:
            raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        except (binascii.Error, ValueError):
            return None
        if len(raw) != _RAW:
            return None
        # Only the canonical spelling: base64 ignores the unused low bits of the last
        # character, so "...A" and "...B" can decode alike, and NonceCounts (keyed by
        # the string) would take the twin for a fresh nonce: a replay with a new nc.
        if base64.urlsafe_b64encode(raw).decode().rstrip("=") != nonce:
            return None
        head, mac = raw[:-_MAC], raw[-_MAC:]
        if not hmac.compare_digest(mac, self._mac(head)):
            return None
        return int(_TS.unpack_from(head)[0])

    def check(self, nonce: str, now: float) -> NonceState:
        ts = self.issued_at(nonce)
        if ts is None or ts > now + MAX_SKEW:
            return NonceState.INVALID
        if now - ts > self.expire:
            return NonceState.STALE
        return NonceState.OK


class NonceCounts:
    """The highest nc accepted per nonce, for at most `size` nonces (LRU)."""

    def __init__(self, size: int = 65536) -> None:
        self.size = size
        self.seen: OrderedDict[str, tuple[int, int]] = OrderedDict()  # nonce: (ts, nc)
        self.watermark = -1  # newest issue time of a nonce pushed out

    def forgotten(self, nonce: str, ts: int) -> bool:
        """True when this nonce may have been used and pushed out since."""
        return nonce not in self.seen and ts <= self.watermark

    def fresh(self, nonce: str, nc: int) -> bool:
        """True when nc is above every nc accepted for this nonce (nc 0: no qop, the
        nonce must never have been accepted)."""
        entry = self.seen.get(nonce)
        return entry is None or nc > entry[1]

    def accept(self, nonce: str, ts: int, nc: int) -> bool:
        """Record an accepted nc; False if another request took it meanwhile."""
        if not self.fresh(nonce, nc) or self.forgotten(nonce, ts):
            return False
        self.seen[nonce] = (ts, nc)
        self.seen.move_to_end(nonce)
        while len(self.seen) > self.size:
            _, (old_ts, _) = self.seen.popitem(last=False)
            self.watermark = max(self.watermark, old_ts)
        return True
