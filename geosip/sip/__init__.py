"""The sans-I/O SIP layer: parse and serialize messages, URIs, addresses, Via, digest,
stream framing and (in txn/) the RFC 3261 transaction state machines. No gevent, no
sockets, no clocks here (DESIGN.md, Layers).
"""

from .address import Address, parse_address
from .errors import LocalProtocolError, ParseError, SipError, TransactionError
from .framing import KEEPALIVE, StreamFramer, split_messages
from .headers import CSeq, Field
from .message import REASONS, Message, Request, Response
from .params import Params, parse_params
from .parser import DEFAULT_LIMITS, Limits, parse
from .uri import AbsoluteUri, SipUri, TelUri, Uri, parse_uri
from .via import Via, parse_via

__all__ = [
    "AbsoluteUri", "Address", "CSeq", "DEFAULT_LIMITS", "Field", "KEEPALIVE", "Limits",
    "LocalProtocolError", "Message", "Params", "ParseError", "REASONS", "Request",
    "Response", "SipError", "SipUri", "StreamFramer", "TelUri", "TransactionError", "Uri",
    "Via", "parse", "parse_address", "parse_params", "parse_uri", "parse_via",
    "split_messages",
]
