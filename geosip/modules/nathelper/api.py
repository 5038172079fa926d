"""What other modules use of nathelper (STYLE.md item 4): which addresses count as
private (is_private, Kamailio's is_rfc1918 with nat_addr_mode), the source URI
fix_nated_register stores ("sip:ip:port;transport=x", Kamailio's get_src_uri), and the
;alias=ip~port~proto value of add_contact_alias / handle_ruri_alias."""

from __future__ import annotations

import ipaddress

from geosip.transport.base import Endpoint, normalize_host

# Kamailio's nat_addr_mode 0 nets: RFC 1918, RFC 6598 (carrier-grade NAT) and the
# RFC 7335 IPv4 service continuity prefix; mode 1 adds RFC 7335's 192.0.0.0/24.
_PRIVATE = tuple(ipaddress.ip_network(n) for n in
                 ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
                  "192.0.0.0/29"))
_RESERVED = (ipaddress.ip_network("192.0.0.0/24"),)

# Kamailio's proto numbers in an alias (ip~port~N): enum sip_protos in ip_addr.h.
ALIAS_PROTOS = {"udp": 1, "tcp": 2, "tls": 3, "sctp": 4, "ws": 5, "wss": 6}
_BY_NUMBER = {str(n): p for p, n in ALIAS_PROTOS.items()}

# nat_addr_mode (mod.init sets it)
SETTINGS = {"nat_addr_mode": 1}


def is_private(host: str) -> bool:
    """An IPv4 literal in a private range (as Kamailio, IPv6 is never private here);
    False for names."""
    try:
        ip = ipaddress.ip_address(host.strip().strip("[]"))
    except ValueError:
        return False
    if ip.version != 4:
        return False
    nets = _PRIVATE + _RESERVED if SETTINGS["nat_addr_mode"] else _PRIVATE
    return any(ip in net for net in nets)


def source_uri(source: Endpoint) -> str:
    """The URI of a message's source: sip:ip:port, with ;transport= unless UDP."""
    transport = "" if source.proto == "udp" else f";transport={source.proto}"
    return f"sip:{source.hostport}{transport}"


def alias_value(host: str, port: int, proto: str) -> str:
    """ip~port~N as add_contact_alias writes it. Raises ValueError for an unknown
    transport."""
    number = ALIAS_PROTOS.get(proto.lower())
    if number is None:
        raise ValueError(f"unknown transport {proto!r}")
    return f"{host}~{port}~{number}"


def alias_destination(value: str) -> str:
    """The $du an alias value names: sip:ip:port[;transport=x]. Raises ValueError when
    it is not ip~port~N."""
    parts = value.split("~")
    if len(parts) != 3 or not parts[1].isdigit() or parts[2] not in _BY_NUMBER:
        raise ValueError(f"malformed alias {value!r}")
    host = normalize_host(parts[0])
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"alias host {parts[0]!r} is not an IP address") from None
    return source_uri(Endpoint(_BY_NUMBER[parts[2]], host, int(parts[1])))
