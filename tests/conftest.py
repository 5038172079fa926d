"""Fixtures shared by every test folder."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest


def _free_port(host: str = "127.0.0.1") -> int:
    # A port free for TCP and UDP at once, as SIP listens on both with one number. The
    # kernel picks it; another process may still take it before the test binds (rare).
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(50):
        with socket.socket(family, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port: int = tcp.getsockname()[1]
            with socket.socket(family, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((host, port))
                except OSError:
                    continue
        return port
    raise RuntimeError(f"no port free for both TCP and UDP on {host}")


@pytest.fixture
def free_port() -> Callable[..., int]:
    """Returns a function: free_port(host="127.0.0.1") -> a port free for TCP and UDP."""
    return _free_port
