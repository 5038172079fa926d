"""Proxy routing rules of RFC 3261 §16: who we are (is_myself), Record-Route (§16.6
item 4, with a double Record-Route when the transport or address family changes, RFC
5658), loose routing and strict-router compatibility (§16.4, §16.6 item 6), and the
next hop a request goes to (§16.6 item 7 and RFC 3263 resolution in resolve.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from geosip.sip import Request, SipUri, parse_uri
from geosip.sip.uri import Uri
from geosip.transport.base import Listener, normalize_host

from .via import DEFAULT_PORTS


@dataclass(slots=True)
class Myself:
    """The names and addresses geosip answers to: every listener's address and
    advertised name, plus configured aliases (Kamailio's `alias`)."""

    listeners: list[Listener] = field(default_factory=list)
    aliases: set[str] = field(default_factory=set)  # lower-case host or host:port

    def is_myself(self, uri: Uri) -> bool:
        """Kamailio's is_myself(): the URI's host (and port, when given) is ours."""
        if not isinstance(uri, SipUri):
            return False
        host = normalize_host(uri.host).lower()
        if host in self.aliases or f"{host}:{uri.port}" in self.aliases:
            return True
        for listener in self.listeners:
            local = listener.local
            if host != local.host.lower() and host != _advertised_host(listener):
                continue
            port = uri.port
            if port is None:
                port = DEFAULT_PORTS["tls" if uri.scheme == "sips" else "udp"]
            if port == local.port:
                return True
        return False

    def socket(self, spec: str) -> Listener | None:
        """The listener a Kamailio socket name designates: "proto:host:port",
        "proto:host", "host:port" or "host" (IPv6 in brackets; without a port the
        transport's default), as force_send_socket/set_send_socket take it; None when
        no listener matches."""
        proto, sep, rest = spec.strip().partition(":")
        if not sep or proto.lower() not in DEFAULT_PORTS or rest.startswith(":"):
            proto, rest = "", spec.strip()   # no transport given (or a bare IPv6)
        proto = proto.lower()
        if rest.startswith("["):
            close = rest.find("]")
            host, port_text = rest[1:close], rest[close + 1:].lstrip(":")
        elif rest.count(":") == 1:
            host, port_text = rest.split(":")
        else:
            host, port_text = rest, ""
        if port_text and not port_text.isdigit():
            return None
        host = normalize_host(host).lower()
        for listener in self.listeners:
            local = listener.local
            port = int(port_text) if port_text else DEFAULT_PORTS.get(local.proto, 5060)
            if ((not proto or proto == local.proto) and port == local.port and
                    host == normalize_host(local.host).lower()):
                return listener
        return None

    def is_local(self, host: str, port: int | None, proto: str) -> bool:
        """True when host:port (a Via sent-by) names one of our listeners."""
        host = normalize_host(host).lower()
        port = port or DEFAULT_PORTS.get(proto, 5060)
        for listener in self.listeners:
            if port == listener.local.port and (
                    host == listener.local.host.lower() or host == _advertised_host(listener)):
                return True
        return False


def _advertised_host(listener: Listener) -> str | None:
    """The host part of a listener's advertised 'host[:port]', lower-cased."""
    advertise = listener.advertise
    if not advertise:
        return None
    if advertise.startswith("["):
        return normalize_host(advertise[:advertise.find("]") + 1]).lower()
    return advertise.split(":", 1)[0].lower()


def record_route_value(listener: Listener, params: str = "") -> str:
    """Our Record-Route value on `listener` (RFC 3261 §16.6 item 4, lr per §19.1.1);
    `params` (";ftag=...;nat=yes", the script's) go after lr, as Kamailio's rr puts
    them."""
    proto = listener.proto
    transport = "" if proto == "udp" else f";transport={proto}"
    return f"<sip:{listener.sent_by}{transport};lr{params}>"


def add_record_route(request: Request, inbound: Listener, outbound: Listener,
                     params: str = "", preset: tuple[str, ...] = ()) -> None:
    """Record-Route this request. When it leaves on another transport or address family
    than it came in on, add two entries (RFC 5658 §3.2): the one facing the next hop on
    top, the one facing the previous hop under it; each side of the dialog then reaches
    us on its own side. `params` go into each (Kamailio's rr adds them to both). A
    `preset` (rr's record_route_preset: whole values, the outbound one first) is used
    as given instead."""
    if preset:
        for value in reversed(preset):
            request.prepend_value("Record-Route", value)
        return
    inbound, outbound = inbound.public, outbound.public  # not a worker's own socket
    if inbound is not outbound and (inbound.proto != outbound.proto or
                                    inbound.local.ipv6 != outbound.local.ipv6 or
                                    inbound.local.host != outbound.local.host):
        request.prepend_value("Record-Route", record_route_value(inbound, params))
    request.prepend_value("Record-Route", record_route_value(outbound, params))


def loose_route(request: Request, myself: Myself) -> bool:
    """Kamailio's loose_route(): process the Route set of a request (RFC 3261 §16.4).

    - A Request-URI that is ours came from a strict router: the real Request-URI is the
      last Route value, which is moved back (§16.4 second paragraph).
    - Top Route values that are ours are removed (a double Record-Route put two).
    Returns True when the request carried a Route set (it then follows the route set,
    not a lookup); False when it had none left to follow.
    """
    routes = request.route
    if not routes and not request.has("route"):
        return False
    if myself.is_myself(request.uri) and routes:
        last = routes[-1]
        _remove_last_route(request, len(routes))
        request.uri = last.uri
        routes = request.route
        if not routes:
            return True
    removed = False
    while routes and myself.is_myself(routes[0].uri):
        request.pop_value("Route")
        routes = routes[1:]
        removed = True
    return bool(routes) or removed


def _remove_last_route(request: Request, count: int) -> None:
    values = request.values("route")
    request.remove_header("route")
    for value in values[:count - 1]:
        request.add_header("Route", value)


def next_hop(request: Request, dst_uri: str | None = None) -> tuple[Uri, bool]:
    """The URI the request is sent to (RFC 3261 §16.6 items 6-7): the destination set
    by the script ($du) if any, else the top Route, else the Request-URI. A strict
    router at the top (no lr) gets the Request-URI and the Request-URI goes to the end
    of the Route set (§16.6 item 6). Returns (uri, via_route)."""
    if dst_uri:
        return parse_uri(dst_uri), False
    routes = request.route
    if routes:
        top = routes[0]
        if isinstance(top.uri, SipUri) and not top.uri.lr:
            request.pop_value("Route")
            request.add_header("Route", f"<{request.uri_text}>")
            request.uri = top.uri
            return top.uri, False
        return top.uri, True
    return request.uri, False

