"""TLS contexts for tls and wss (RFC 3261 §26.2, RFC 5922, RFC 7118 §4.2).

gevent's own SSLContext is used on purpose: `gevent.ssl.create_default_context()`
returns the stdlib class, whose sockets would block the hub.

Server side: our certificate and key from the config; client certificates only when
tls_require_client_cert (then verified against tls_ca_file, or the system store).
Client side: the chain is verified when tls_verify_server; the name is checked, and
sent as SNI, only when we connect to a name. The core resolves names before sending
(RFC 3263) and passes IP literals, so for those only the chain is verified: RFC 5922
§7.2 wants the SIP domain matched, which only the core knows.
"""

from __future__ import annotations

from gevent import ssl

from .config import TransportConfig

_MIN_VERSION = ssl.TLSVersion.TLSv1_2


def server_context(config: TransportConfig) -> ssl.SSLContext:
    """Raises ValueError without tls_certificate/tls_private_key; OSError (ssl.SSLError,
    FileNotFoundError) when they cannot be loaded."""
    if not (config.tls_certificate and config.tls_private_key):
        raise ValueError("tls and wss listeners need tls_certificate and tls_private_key "
                         "in the configuration")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = _MIN_VERSION
    ctx.load_cert_chain(config.tls_certificate, config.tls_private_key)
    if config.tls_require_client_cert:
        ctx.verify_mode = ssl.CERT_REQUIRED
        _load_trust(ctx, config, ssl.Purpose.CLIENT_AUTH)
    return ctx


def client_contexts(config: TransportConfig) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(context for names, context for IP literals). Raises OSError when the CA file or
    our certificate cannot be loaded."""
    by_name = _client_context(config, check_hostname=config.tls_verify_server)
    by_ip = _client_context(config, check_hostname=False)
    return by_name, by_ip


def _client_context(config: TransportConfig, check_hostname: bool) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = _MIN_VERSION
    ctx.check_hostname = check_hostname
    if config.tls_verify_server:
        _load_trust(ctx, config, ssl.Purpose.SERVER_AUTH)
    else:
        ctx.verify_mode = ssl.CERT_NONE
    if config.tls_certificate and config.tls_private_key:
        # Offered when a server asks (mutual TLS between proxies, RFC 5922 §7.3).
        ctx.load_cert_chain(config.tls_certificate, config.tls_private_key)
    return ctx


def _load_trust(ctx: ssl.SSLContext, config: TransportConfig, purpose: ssl.Purpose) -> None:
    if config.tls_ca_file:
        ctx.load_verify_locations(cafile=config.tls_ca_file)
    else:
        ctx.load_default_certs(purpose)
