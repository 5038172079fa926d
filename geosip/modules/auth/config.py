"""auth's run-time configuration: the modparams (filled by mod.init) and the nonce
codec and nonce-count memory built from them. One per process, as in Kamailio."""

from __future__ import annotations

from typing import Any

from .nonce import NonceCodec, NonceCounts

SETTINGS: dict[str, Any] = {}


class _Runtime:
    codec = NonceCodec()
    counts = NonceCounts()


RUNTIME = _Runtime()


def configure(settings: dict[str, Any]) -> None:
    SETTINGS.clear()
    SETTINGS.update(settings)
    secret = str(settings["secret"]).encode() or None
    RUNTIME.codec = NonceCodec(secret, int(settings["nonce_expire"]))
    RUNTIME.counts = NonceCounts(int(settings["nc_array_size"]))
