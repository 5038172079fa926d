"""The gateway's settings: the script's `geosip.gateways.xmpp` table (script/config.py
calls check() when it reads the script; __main__ gets them back as JSON).

Pure (no asyncio, no gevent): the core imports it to refuse a bad table at start.
Names follow the brief and map onto Kamailio's xmpp modparams (README.md).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from typing import Any

# What a JID localpart cannot hold (RFC 7622 §3.3.1), nor a domain: the separator
# sits between a user and a domain inside one localpart.
_BAD_SEPARATOR = re.compile(r"""[\s"&'/:<>@.\[\]]""")
_LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True, slots=True)
class Settings:
    component: str                        # the component's JID domain (Kamailio xmpp_domain)
    secret: str                           # XEP-0114 shared secret (xmpp_password)
    server: str = "127.0.0.1:5347"        # XMPP server's component port (xmpp_host:xmpp_port)
    sip_listen: str = "127.0.0.1:5090"    # where the core relays MESSAGEs to the gateway
    proxy: str = "127.0.0.1:5060"         # the core, where XMPP chat goes as SIP (outbound_proxy)
    gateway_domain: str = "xmpp-gw.example.com"  # host of SIP URIs naming XMPP users
    domain_separator: str = "*"           # user<sep>domain in one URI user / JID localpart
    retry_after: int = 30                 # Retry-After of the 503 while the XMPP link is down
    log_level: str = "info"
    enabled: bool = True                  # false: geosip run does not start the gateway
    control_socket: str | None = None     # geosip run's: where the counters go (report.py)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Settings":
        """Raises ValueError naming the setting that is wrong."""
        known = {f.name for f in fields(cls)}
        for key in values:
            if key not in known:
                raise ValueError(f"unknown setting {key} (known: {', '.join(sorted(known))})")
        for key in ("component", "secret"):
            if not isinstance(values.get(key), str) or not values[key]:
                raise ValueError(f"{key} must be a non-empty string")
        settings = cls(**values)
        for key in ("server", "sip_listen", "proxy"):
            host_port(getattr(settings, key), key)
        for key in ("gateway_domain", "component"):
            if not isinstance(getattr(settings, key), str) or "@" in getattr(settings, key):
                raise ValueError(f"{key} must be a domain name")
        sep = settings.domain_separator
        if not isinstance(sep, str) or not sep or _BAD_SEPARATOR.search(sep):
            raise ValueError(f"domain_separator {sep!r} must be non-empty, without spaces, "
                             """dots or any of " & ' / : < > @""")
        if type(settings.retry_after) is not int or not 0 < settings.retry_after < 86400:
            raise ValueError("retry_after must be a whole number of seconds (1-86399)")
        if settings.log_level not in _LOG_LEVELS:
            raise ValueError(f"log_level must be one of {', '.join(_LOG_LEVELS)}")
        if not isinstance(settings.enabled, bool):
            raise ValueError("enabled must be true or false")
        if settings.control_socket is not None and (
                not isinstance(settings.control_socket, str) or not settings.control_socket):
            raise ValueError("control_socket must be a socket path")
        return settings


def host_port(text: Any, name: str = "address") -> tuple[str, int]:
    """'127.0.0.1:5090' -> ('127.0.0.1', 5090); ValueError otherwise."""
    if not isinstance(text, str):
        raise ValueError(f"{name} must be a string HOST:PORT")
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{name} {text!r} must be HOST:PORT")
    return host, int(port)


def check(values: dict[str, Any]) -> dict[str, Any]:
    """The `geosip.gateways.xmpp` table, checked and with its defaults filled in;
    ValueError names what is wrong."""
    return asdict(Settings.from_dict(dict(values)))
