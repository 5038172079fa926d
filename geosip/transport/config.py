"""Tunables of the transport layer, named after Kamailio's core parameters where one
exists (tcp_connection_lifetime, tcp_connect_timeout, tcp_send_timeout, tcp_max_connections)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TransportConfig:
    """Timeouts are in seconds. Raises ValueError for a value that cannot work."""

    # Close an established connection after this long without a read or a write
    # (Kamailio's tcp_connection_lifetime).
    connection_lifetime: float = 120.0
    # Close a new inbound connection that has not delivered one complete message (for
    # TLS/WSS including the handshake, for WS/WSS the HTTP upgrade) within this time:
    # a half-open or silent peer must not hold a connection slot.
    first_message_timeout: float = 10.0
    # Outbound connect, including the TLS handshake.
    connect_timeout: float = 5.0
    # One write on a stream (a peer that stops reading); the connection is closed then.
    send_timeout: float = 10.0
    # Open stream connections in all, inbound and outbound; beyond it new ones are refused.
    max_connections: int = 4096
    # Open inbound connections from one IP address.
    max_connections_per_ip: int = 1024
    # Largest message on a stream or WebSocket (StreamFramer's limit); bigger resets it.
    max_message_size: int = 65535
    # SO_RCVBUF for UDP sockets, so a burst is queued rather than dropped (best effort).
    udp_rcvbuf: int = 1 << 20
    # PEM files for tls/wss listeners (and our client certificate on outbound TLS).
    tls_certificate: str | None = None
    tls_private_key: str | None = None
    # CA bundle to verify peers against; None = the system's default store.
    tls_ca_file: str | None = None
    # Verify the certificate chain of servers we connect to (and the name, when we
    # connect to a name rather than an IP literal).
    tls_verify_server: bool = True
    # Ask inbound TLS clients for a certificate and refuse those without a valid one.
    tls_require_client_cert: bool = False

    def __post_init__(self) -> None:
        for name in ("connection_lifetime", "first_message_timeout", "connect_timeout",
                     "send_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        for name in ("max_connections", "max_connections_per_ip", "max_message_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
