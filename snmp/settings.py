"""The SNMP agent's settings: the `snmp` table of the script's `geosip` table, or
`geosip run --snmp ADDR:PORT` (which sets `listen`). Pure: no pysnmp, no sockets, so
geosip.script.config can check the table at start.

    snmp = {
      listen = "127.0.0.1:1161",          -- UDP (default 127.0.0.1); default port 161
                                          -- only when root, else 1161
      community = "public",               -- SNMPv2c read community
      v3 = { user = "ops", auth_key = "authpass1", priv_key = "privpass1",
             auth_protocol = "SHA", priv_protocol = "AES" },                -- USM
      trap_sink = "127.0.0.1:1162",       -- v2c traps go there (none without it)
      trap_community = "public",          -- default: community
      thresholds = { active_dialogs = 100, transactions = { rising = 500, falling = 400 } },
    }

Thresholds name a statistic (active_dialogs = dialog:active_dialogs, transactions =
tm:inuse_transactions, or any "group:name"): a trap when it rises to `rising` or more,
another when it falls back to `falling` or less (default 90 % of rising), as RMON's
rising/falling alarms (RFC 2819 alarmTable) so a value hovering at the limit does not
flood the manager.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

DEFAULT_PORT_ROOT = 161    # the well-known port needs root (RFC 3417 section 3)
DEFAULT_PORT_USER = 1161   # net-snmp's habit for unprivileged agents
KEYS = ("listen", "community", "v3", "trap_sink", "trap_community", "thresholds")
V3_KEYS = ("user", "auth_key", "priv_key", "auth_protocol", "priv_protocol")
AUTH_PROTOCOLS = ("MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512")
PRIV_PROTOCOLS = ("DES", "AES", "AES192", "AES256")
# Friendly threshold names -> statistics (Kamailio's names).
THRESHOLD_STATS = {"active_dialogs": "dialog:active_dialogs",
                   "transactions": "tm:inuse_transactions"}


class SettingError(ValueError):
    """A refused setting; `where` is the key path inside the snmp table."""

    def __init__(self, message: str, *where: str) -> None:
        super().__init__(message)
        self.where = where


@dataclass(frozen=True, slots=True)
class V3User:
    """An SNMPv3 USM user (RFC 3414): auth and priv keys are passphrases of at least
    8 characters (RFC 3414 section 11.2); no auth_key means noAuthNoPriv."""

    user: str
    auth_key: str | None = None
    priv_key: str | None = None
    auth_protocol: str = "SHA"
    priv_protocol: str = "AES"


@dataclass(frozen=True, slots=True)
class Threshold:
    stat: str       # group:name
    rising: int
    falling: int


@dataclass(frozen=True, slots=True)
class SnmpSettings:
    listen: str | None = None          # "ADDR:PORT"; None: no agent
    community: str = "public"
    v3: V3User | None = None
    trap_sink: str | None = None       # "ADDR:PORT"
    trap_community: str | None = None  # None: community
    thresholds: tuple[Threshold, ...] = field(default_factory=tuple)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "SnmpSettings":
        raw = json.loads(text)
        v3 = V3User(**raw["v3"]) if raw.get("v3") else None
        thresholds = tuple(Threshold(**t) for t in raw.get("thresholds", ()))
        return cls(**{**raw, "v3": v3, "thresholds": thresholds})


def parse_address(text: str, default_port: int | None = None) -> tuple[str, int]:
    """"host:port", "[v6]:port" or just "host" (default_port: 161 as root, else 1161).
    Raises ValueError saying what is expected."""
    if default_port is None:
        default_port = DEFAULT_PORT_ROOT if os.geteuid() == 0 else DEFAULT_PORT_USER
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise ValueError(f"expected [ADDR]:PORT, not {text!r}")
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, ""
    if not host:
        raise ValueError(f"expected ADDR:PORT, not {text!r}")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"port must be 1-65535 in {text!r}")
    return host, int(port_text)


def privilege_problem(settings: SnmpSettings) -> str | None:
    """Why the agent cannot bind its port (a port below 1024 without root), or None."""
    if settings.listen is None:
        return None
    _, port = parse_address(settings.listen)
    if port < 1024 and os.geteuid() != 0:
        return (f"snmp listen port {port} needs root; use a port above 1023 "
                f"(e.g. {DEFAULT_PORT_USER})")
    return None


def with_listen(settings: SnmpSettings | None, listen: str) -> SnmpSettings:
    """--snmp ADDR:PORT on the command line: wins over the table's listen."""
    try:
        parse_address(listen)
    except ValueError as exc:
        raise SettingError(f"--snmp: {exc}") from None
    return replace(settings or SnmpSettings(), listen=listen)


def _text(value: Any, *where: str) -> str:
    if not isinstance(value, str) or not value:
        raise SettingError(f"{'.'.join(where)} must be a non-empty string, not {value!r}",
                           *where)
    return value


def _v3(value: Any) -> V3User:
    if not isinstance(value, Mapping):
        raise SettingError("v3 must be a table { user = ..., auth_key = ..., ... }", "v3")
    for key in value:
        if key not in V3_KEYS:
            raise SettingError(f"unknown v3 setting {key} (known: {', '.join(V3_KEYS)})",
                               "v3", str(key))
    fields = {key: _text(value[key], "v3", key) for key in value}
    if "user" not in fields:
        raise SettingError("v3 needs a user", "v3")
    for key in ("auth_key", "priv_key"):
        if key in fields and len(fields[key]) < 8:  # RFC 3414 section 11.2
            raise SettingError(f"v3.{key} must have at least 8 characters", "v3", key)
    if "priv_key" in fields and "auth_key" not in fields:
        raise SettingError("v3.priv_key needs an auth_key (no privacy without "
                           "authentication, RFC 3414)", "v3", "priv_key")
    for key, known in (("auth_protocol", AUTH_PROTOCOLS), ("priv_protocol", PRIV_PROTOCOLS)):
        if key in fields:
            fields[key] = fields[key].upper()
            if fields[key] not in known:
                raise SettingError(f"v3.{key} must be one of {', '.join(known)}", "v3", key)
    return V3User(**fields)


def _threshold(name: Any, value: Any) -> Threshold:
    if not isinstance(name, str):
        raise SettingError("thresholds are keyed by statistic names", "thresholds")
    stat = THRESHOLD_STATS.get(name, name)
    if ":" not in stat:
        raise SettingError(f"unknown threshold {name} (known: "
                           f"{', '.join(THRESHOLD_STATS)} or a group:name statistic)",
                           "thresholds", name)
    if isinstance(value, Mapping):
        rising, falling = value.get("rising"), value.get("falling")
        extra = set(value) - {"rising", "falling"}
        if extra:
            raise SettingError(f"thresholds.{name}: unknown keys {sorted(map(str, extra))}",
                               "thresholds", name)
    else:
        rising, falling = value, None
    if type(rising) is not int or rising < 1:
        raise SettingError(f"thresholds.{name} must be a whole number above 0 or "
                           "{ rising = N, falling = M }", "thresholds", name)
    if falling is None:
        falling = rising * 9 // 10
    if type(falling) is not int or not 0 <= falling < rising:
        raise SettingError(f"thresholds.{name}.falling must be a whole number below "
                           "rising", "thresholds", name)
    return Threshold(stat, rising, falling)


def parse(table: Any) -> SnmpSettings:
    """The snmp table (already converted to dicts) -> SnmpSettings. Raises
    SettingError with what to fix."""
    if not isinstance(table, Mapping):
        raise SettingError("must be a table, e.g. { listen = \"127.0.0.1:1161\" }")
    for key in table:
        if key not in KEYS:
            raise SettingError(f"unknown setting {key} (known: {', '.join(KEYS)})", str(key))
    fields: dict[str, Any] = {}
    for key in ("listen", "trap_sink"):
        if key in table:
            fields[key] = _text(table[key], key)
            try:
                parse_address(fields[key], default_port=162 if key == "trap_sink" else None)
            except ValueError as exc:
                raise SettingError(f"{key}: {exc}", key) from None
    for key in ("community", "trap_community"):
        if key in table:
            fields[key] = _text(table[key], key)
    if "v3" in table:
        fields["v3"] = _v3(table["v3"])
    if "thresholds" in table:
        value = table["thresholds"]
        if not isinstance(value, Mapping):
            raise SettingError("thresholds must be a table { active_dialogs = N, ... }",
                               "thresholds")
        fields["thresholds"] = tuple(_threshold(k, v) for k, v in sorted(value.items()))
    fields.setdefault("listen", "127.0.0.1")  # a table enables the agent, on loopback
    return SnmpSettings(**fields)
