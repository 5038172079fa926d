"""KSR.domain: is_from_local, is_uri_host_local, is_domain_local, lookup_domain,
lookup_domain_prefix (Kamailio's domain module). All read the cache only (cache.py),
so none waits. Return codes: 1 the domain is local, -1 it is not (or there is no host
to test)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from geosip.script.exports import ksr

from . import cache

if TYPE_CHECKING:
    from geosip.core.context import RequestContext


def _host(uri: Any) -> str | None:
    host = getattr(uri, "host", None)
    return str(host).strip("[]") if host else None


def _local(domain: str | None) -> int:
    return 1 if cache.did(domain) is not None else -1


@ksr("is_from_local", returns="1 the From URI's host is a local domain, -1 not")
def is_from_local(ctx: "RequestContext") -> int:
    """Whether the host of the From URI is in the domain table."""
    return _local(_host(ctx.msg.from_.uri))


@ksr("is_uri_host_local", returns="1 the Request-URI's host is a local domain, -1 not")
def is_uri_host_local(ctx: "RequestContext") -> int:
    """Whether the host of the Request-URI is in the domain table."""
    return _local(_host(ctx.msg.uri))


@ksr("is_domain_local", "s", returns="1 the domain is local, -1 not")
def is_domain_local(ctx: "RequestContext", domain: str) -> int:
    """Whether `domain` is in the domain table (KEMI takes the value: pass
    KSR.pv.get("$fd") for what Kamailio writes is_domain_local("$fd"))."""
    return _local(domain)


def _lookup(ctx: "RequestContext", domain: str, prefix: str) -> int:
    found = cache.did(domain)
    if found is None:
        return -1
    avps = ctx.script.avps
    # Kamailio adds each attribute as an AVP named prefix+name, and prefix+"did";
    # a new AVP goes on top of others of the same name
    for name, value in [*cache.ATTRS.get(found, []), ("did", found)]:
        avps.setdefault(f"{prefix}{name}", []).insert(0, value)
    return 1


@ksr("lookup_domain", "s",
     returns="1 local (its did and attributes are set as AVPs), -1 not local")
def lookup_domain(ctx: "RequestContext", domain: str, prefix: str = "") -> int:
    """If `domain` is local, set $avp(did) to its did and $avp(NAME) for each of its
    domain_attrs rows (integers for type 0, strings otherwise); an optional second
    argument prefixes the AVP names (as lookup_domain_prefix)."""
    return _lookup(ctx, domain, str(prefix or ""))


@ksr("lookup_domain_prefix", "ss", returns="as lookup_domain")
def lookup_domain_prefix(ctx: "RequestContext", domain: str, prefix: str) -> int:
    """lookup_domain with the AVP names prefixed: ("$fd", "from_") sets
    $avp(from_did)."""
    return _lookup(ctx, domain, prefix)


FUNCTIONS = (is_from_local, is_uri_host_local, is_domain_local, lookup_domain,
             lookup_domain_prefix)
