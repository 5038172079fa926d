"""The `sms` gateway's settings: `geosip.gateways.sms` in the script's config table,
checked by `check()` when geosip reads the script (geosip/script/config.py) and again by
the gateway process, which gets them as JSON (`--config`). Pure: no asyncio, no gevent.

    geosip = { gateways = { sms = {
        listen = "127.0.0.1:5090",          -- the gateway's SIP address (UDP)
        proxy = "127.0.0.1:5060",           -- the core, where inbound SMS go as MESSAGE
        domain = "sms.example.com",         -- From host of inbound SMS: sip:+4930123@domain
        numbers = { ["+447700900001"] = "sip:alice@example.com" },   -- both ways
        receipts = "message",               -- or "none": delivery receipts to the sender
        retry_after = 30,                   -- Retry-After of a 503 (seconds)
        connector = "smpp",                 -- or "kannel"
        smpp = { host = "127.0.0.1", port = 2775, system_id = "geosip", password = "pw",
                 system_type = "", enquire_link = 30, submit_timeout = 10, reconnect = 5 },
        kannel = { sendsms_url = "http://127.0.0.1:13013/cgi-bin/sendsms",
                   username = "geosip", password = "pw", smsc = nil,
                   listen = "127.0.0.1:28080", timeout = 10 },
    } } }

Raises ValueError naming the setting for anything unknown or malformed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .numbers import NumberMap

TOP = {"enabled", "listen", "proxy", "domain", "numbers", "receipts", "retry_after",
       "connector", "smpp", "kannel", "control_socket"}
SMPP = {"host": "127.0.0.1", "port": 2775, "system_id": "geosip", "password": "",
        "system_type": "", "enquire_link": 30, "submit_timeout": 10, "reconnect": 5}
KANNEL = {"sendsms_url": "http://127.0.0.1:13013/cgi-bin/sendsms", "username": "geosip",
          "password": "", "smsc": None, "listen": "127.0.0.1:28080", "timeout": 10}


def _hostport(value: Any, name: str) -> tuple[str, int]:
    host, sep, port = str(value).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{name} must be 'host:port', not {value!r}")
    return host.strip("[]"), int(port)


def _number(value: Any, name: str, minimum: float = 0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ValueError(f"{name} must be a number >= {minimum}, not {value!r}")
    return value


def _section(value: Any, defaults: dict[str, Any], name: str) -> dict[str, Any]:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a table")
    unknown = sorted(set(map(str, value)) - set(defaults))
    if unknown:
        raise ValueError(f"unknown setting {name}.{unknown[0]}")
    out = {**defaults, **value}
    for key, default in defaults.items():
        if isinstance(default, (int, float)) and key != "port":
            _number(out[key], f"{name}.{key}")
        elif isinstance(default, str) and not isinstance(out[key], str):
            raise ValueError(f"{name}.{key} must be a string, not {out[key]!r}")
    return out


def check(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings with defaults filled in (JSON-ready); ValueError when refused."""
    if not isinstance(settings, dict):
        raise ValueError("the sms gateway's settings must be a table")
    unknown = sorted(set(map(str, settings)) - TOP)
    if unknown:
        raise ValueError(f"unknown setting {unknown[0]}")
    out: dict[str, Any] = {
        "enabled": settings.get("enabled", True),
        "listen": settings.get("listen", "127.0.0.1:5090"),
        "proxy": settings.get("proxy", "127.0.0.1:5060"),
        "domain": settings.get("domain", "sms.localhost"),
        "numbers": dict(settings.get("numbers") or {}),
        "receipts": settings.get("receipts", "none"),
        "retry_after": settings.get("retry_after", 30),
        "connector": settings.get("connector", "smpp"),
        # geosip run sets it: where the gateway pushes its counters (gateways/report.py)
        "control_socket": settings.get("control_socket"),
    }
    if out["control_socket"] is not None and (
            not isinstance(out["control_socket"], str) or not out["control_socket"]):
        raise ValueError("control_socket must be a socket path")
    _hostport(out["listen"], "listen")
    _hostport(out["proxy"], "proxy")
    if not isinstance(out["domain"], str) or not out["domain"]:
        raise ValueError("domain must be a host name")
    if out["receipts"] not in ("message", "none"):
        raise ValueError(f"receipts must be 'message' or 'none', not {out['receipts']!r}")
    out["retry_after"] = int(_number(out["retry_after"], "retry_after"))
    if out["connector"] not in ("smpp", "kannel"):
        raise ValueError(f"connector must be 'smpp' or 'kannel', not {out['connector']!r}")
    out["numbers"] = {str(k): v for k, v in out["numbers"].items()}
    NumberMap(out["numbers"])  # raises ValueError naming the bad entry
    out["smpp"] = _section(settings.get("smpp"), SMPP, "smpp")
    out["kannel"] = _section(settings.get("kannel"), KANNEL, "kannel")
    _number(out["smpp"]["port"], "smpp.port", 1)
    _hostport(out["kannel"]["listen"], "kannel.listen")
    return out


@dataclass(frozen=True)
class Settings:
    """The checked settings as the gateway process uses them."""

    listen: tuple[str, int]
    proxy: tuple[str, int]
    domain: str
    numbers: NumberMap
    receipts: str
    retry_after: int
    connector: str
    smpp: dict[str, Any] = field(default_factory=dict)
    kannel: dict[str, Any] = field(default_factory=dict)
    control_socket: str | None = None

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "Settings":
        """Raises ValueError (see check)."""
        s = check(raw)
        return cls(listen=_hostport(s["listen"], "listen"), proxy=_hostport(s["proxy"], "proxy"),
                   domain=s["domain"], numbers=NumberMap(s["numbers"]),
                   receipts=s["receipts"], retry_after=s["retry_after"],
                   connector=s["connector"], smpp=s["smpp"], kannel=s["kannel"],
                   control_socket=s["control_socket"])
