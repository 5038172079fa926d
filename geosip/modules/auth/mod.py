"""auth's exports (STYLE.md item 4): KSR.auth, digest challenges and the credential
checks shared by password backends (auth_db). See README.md."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from geosip.script.exports import ModuleExports, Param
from geosip.sip import digest

from . import challenge, credentials
from .config import configure

PARAMS = (
    Param("secret", "", "HMAC key of the nonces; \"\" = 32 random bytes per process "
          "(set it when nonces must survive a restart)"),
    Param("nonce_expire", 300, "seconds a nonce is accepted; older ones get stale=true"),
    Param("nonce_count", 1, "1: remember the highest nc per nonce and refuse one not "
          "above it (-6); Kamailio's default is 0"),
    Param("one_time_nonce", 0, "1: a nonce used without qop is accepted once"),
    Param("nc_array_size", 65536, "how many nonces nonce_count/one_time_nonce remember"),
    Param("algorithm", "MD5", "digest algorithm of challenges and accepted credentials: "
          "MD5, SHA-256 or SHA-512-256 (RFC 8760)"),
)


def init(params: Mapping[str, Any] | None = None) -> None:
    """Apply the modparams (a new nonce secret unless `secret` is set, forgetting
    every nc). ValueError for an unknown algorithm or a non-positive size/expire."""
    settings = {p.name: p.default for p in PARAMS} | dict(params or {})
    try:
        digest.ha1("", "", "", str(settings["algorithm"]))
    except ValueError:
        raise ValueError(f"auth.algorithm {settings['algorithm']!r} is not MD5, SHA-256 "
                         "or SHA-512-256") from None
    if str(settings["algorithm"]).lower().endswith("-sess"):
        raise ValueError("auth.algorithm: -sess variants are not offered")
    for name in ("nonce_expire", "nc_array_size"):
        if int(settings[name]) <= 0:
            raise ValueError(f"auth.{name} must be > 0, not {settings[name]}")
    for name in ("nonce_count", "one_time_nonce"):
        if settings[name] not in (0, 1):
            raise ValueError(f"auth.{name} must be 0 or 1, not {settings[name]}")
    configure(settings)


init()  # defaults until the configuration's geosip.modules.auth applies

EXPORTS = ModuleExports(
    name="auth",
    ksr=(*challenge.FUNCTIONS, *credentials.FUNCTIONS),
    params=PARAMS,
    init=init,
    doc="Digest authentication (RFC 3261 §22, RFC 8760): challenges, nonces, nc.",
)
