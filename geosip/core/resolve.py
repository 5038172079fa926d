"""Where a SIP URI is sent: RFC 3263 §4 (transport, then port and address).

- Transport: the `transport` uri-parameter; else TLS for sips:; else, when the host is
  a name without a port, the first of `_sips._tcp`, `_sip._udp`, `_sip._tcp` SRV records
  that exists (NAPTR is not consulted: few deployments publish it); else UDP.
- Address: `maddr` when present, else the host. An IP literal is used as it is; a
  name with SRV records gives their targets in priority/weight order; otherwise the
  name's A/AAAA records (through getaddrinfo, so /etc/hosts counts) with the URI's port
  or the transport's default port.

Runs in the greenlet of the request (dnspython and getaddrinfo block only that greenlet
once gevent has patched sockets). Raises ResolveError when nothing can be found; the
transaction layer answers 503 then, as Kamailio does for an unresolvable next hop.
"""

from __future__ import annotations

import random
import socket

import dns.exception
import dns.resolver

from geosip.sip import SipUri
from geosip.sip.uri import Uri
from geosip.transport.base import Endpoint, normalize_host

from .via import DEFAULT_PORTS

_SRV_BY_PROTO = {"udp": "_sip._udp", "tcp": "_sip._tcp", "tls": "_sips._tcp"}


class ResolveError(Exception):
    """No destination for a URI: not a SIP URI, or DNS had no answer."""


def resolve(uri: Uri) -> list[Endpoint]:
    """Destinations to try for `uri`, best first (RFC 3263 §4). Raises ResolveError."""
    if not isinstance(uri, SipUri):
        raise ResolveError(f"cannot route to a {uri.scheme}: URI")
    host = normalize_host(uri.params.get("maddr") or uri.host)
    proto = uri.transport or ("tls" if uri.scheme == "sips" else None)
    if is_ip(host):
        proto = proto or "udp"
        return [Endpoint(proto, host, uri.port or DEFAULT_PORTS[proto])]
    if uri.port is None:
        for srv_proto in ([proto] if proto else ["tls", "udp", "tcp"] if uri.secure
                          else ["udp", "tcp"]):
            found = _srv(host, srv_proto)
            if found:
                return found
    proto = proto or "udp"
    return [Endpoint(proto, ip, uri.port or DEFAULT_PORTS[proto]) for ip in _addresses(host)]


def is_ip(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        return False
    return True


def _srv(host: str, proto: str) -> list[Endpoint]:
    prefix = _SRV_BY_PROTO.get(proto)
    if prefix is None:
        return []
    try:
        answer = dns.resolver.resolve(f"{prefix}.{host}", "SRV", lifetime=3.0)
    except (dns.exception.DNSException, OSError):
        return []
    records = sorted(answer, key=lambda r: (r.priority, -r.weight * random.random()))
    out: list[Endpoint] = []
    for record in records:
        target = str(record.target).rstrip(".")
        try:
            out += [Endpoint(proto, ip, record.port) for ip in _addresses(target)]
        except ResolveError:
            continue
    return out


def _addresses(host: str) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, None, 0, socket.SOCK_DGRAM)
    except OSError as exc:
        raise ResolveError(f"cannot resolve {host}: {exc}") from exc
    seen: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        ip = normalize_host(str(sockaddr[0]))
        if ip not in seen:
            seen.append(ip)
    return seen
