"""RFC 3261 §17 transaction state machines, with the RFC 6026 corrections (sans-I/O).

Each machine takes events with the caller's `now` (seconds, monotonic) and returns the
actions for its driver to carry out in order (actions.py). Messages are opaque: the caller
passes in the few facts the machines need (status code, is-ACK) and the factories that
build the ACK (client INVITE) and 100 Trying (server INVITE). No I/O, no clock, no gevent:
tm/ drives these with real timers and sockets, the tests with a fake clock.

Transaction keys (§17.1.3, §17.2.3) need the parser and live with the matching code.
"""

from .actions import (
    Action,
    CancelTimer,
    Send,
    StartTimer,
    Terminated,
    TimedOut,
    ToTU,
    TransportFailed,
)
from .client_invite import ClientInvite, ClientInviteState
from .client_non_invite import ClientNonInvite, ClientNonInviteState
from .server_invite import ServerInvite, ServerInviteState
from .server_non_invite import ServerNonInvite, ServerNonInviteState
from .timers import Timer, TimerConfig

__all__ = [
    "Action", "CancelTimer", "ClientInvite", "ClientInviteState", "ClientNonInvite",
    "ClientNonInviteState", "Send", "ServerInvite", "ServerInviteState", "ServerNonInvite",
    "ServerNonInviteState", "StartTimer", "Terminated", "TimedOut", "Timer", "TimerConfig",
    "ToTU", "TransportFailed",
]
