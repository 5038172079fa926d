"""Why an SMS was not accepted, and the SIP answer for it (README.md, "Error mapping").

A connector raises `SubmitError(status, reason, retry_after)`; the gateway answers the
MESSAGE with that status (and Retry-After, RFC 3261 §20.33, on 503). The tables below
are the whole mapping: SMPP command_status (SMPP 3.4 §5.1.3) and Kannel's sendsms HTTP
status. Anything not listed is 502 Bad Gateway (the SMSC refused for a reason the sender
cannot fix); a submit with no answer in time is 504 Server Time-out; an SMSC that is not
connected (or an HTTP interface that does not answer) is 503 with Retry-After.
"""

from __future__ import annotations

from smpplib import consts as c


class SubmitError(Exception):
    """The SMS was not accepted; `status` is the SIP status to answer."""

    def __init__(self, status: int, reason: str, retry_after: int | None = None, *,
                 throttled: bool = False) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.retry_after = retry_after
        self.throttled = throttled  # the SMSC asked to slow down (the `throttled` counter)


# SMPP command_status -> (SIP status, temporary: answer with Retry-After)
SMPP_TO_SIP: dict[int, tuple[int, bool]] = {
    c.SMPP_ESME_RTHROTTLED: (503, True),   # 0x58 throttling: the SMSC asks to slow down
    c.SMPP_ESME_RMSGQFUL: (503, True),     # 0x14 message queue full
    c.SMPP_ESME_RX_T_APPN: (503, True),    # 0x64 temporary application error
    c.SMPP_ESME_RINVDSTADR: (404, False),  # 0x0B invalid destination address
    c.SMPP_ESME_RINVDSTTON: (484, False),  # 0x50 invalid destination TON
    c.SMPP_ESME_RINVDSTNPI: (484, False),  # 0x51 invalid destination NPI
    c.SMPP_ESME_RINVSRCADR: (403, False),  # 0x0A the sender's number is refused
    c.SMPP_ESME_RINVMSGLEN: (513, False),  # 0x01 message too long
    c.SMPP_ESME_RSYSERR: (500, False),     # 0x08 the SMSC's own failure
}


# The SMSC pushing back (not a fault): counted as throttled.
SMPP_THROTTLING = (c.SMPP_ESME_RTHROTTLED, c.SMPP_ESME_RMSGQFUL)


def from_smpp(status: int, retry_after: int) -> SubmitError:
    sip, temporary = SMPP_TO_SIP.get(status, (502, False))
    desc = c.DESCRIPTIONS.get(status, f"command_status 0x{status:08X}")
    return SubmitError(sip, f"SMSC: {desc}", retry_after if temporary else None,
                       throttled=status in SMPP_THROTTLING)


def from_kannel(http_status: int, text: str, retry_after: int) -> SubmitError:
    """Kannel's sendsms answers 202 '0: Accepted for delivery' or '3: Queued for later
    delivery'; 503 when it cannot queue; 4xx with a reason for bad requests."""
    if http_status == 503:  # Kannel cannot queue more: its way of slowing us down
        return SubmitError(503, f"Kannel: {text}", retry_after, throttled=True)
    lowered = text.lower()
    if http_status in (400, 404) and ("receiver" in lowered or "number" in lowered):
        return SubmitError(484, f"Kannel: {text}")
    return SubmitError(502, f"Kannel: HTTP {http_status} {text}")
