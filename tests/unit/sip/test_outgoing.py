"""geosip.sip.outgoing.new_request: the requests geosip and its gateways start. What a
peer supplies (an SMS sender, an XMPP JID, a script's $uac_req) must never make an
unparsable message or inject a header line: such URIs are refused with ValueError."""

from __future__ import annotations

import pytest

from geosip.sip import Request, parse
from geosip.sip.outgoing import new_request


def test_a_new_request_round_trips_with_its_mandatory_headers() -> None:
    request = new_request("MESSAGE", "sip:bob@example.com", "sip:alice@example.com",
                          body=b"hi", content_type="text/plain")
    request.prepend_value("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1")  # as sent
    again = parse(request.to_bytes())
    assert isinstance(again, Request) and again.method == "MESSAGE"
    assert again.max_forwards == 70 and again.from_tag and again.to_tag is None
    assert again.cseq.number == 1 and again.call_id.endswith("@geosip")
    assert again.header("content-type") == "text/plain" and again.body == b"hi"


@pytest.mark.parametrize("uri", ["sip:a b@x", "sip:<>@x", "sip:x@y@x", "sip:a\x00@x",
                                 "sip:a\r\nX-Evil: 1@x", "sip:a\x7f@x", "not a uri"])
def test_uris_that_cannot_be_written_are_refused(uri: str) -> None:
    for args in (("sip:b@x", uri), (uri, "sip:a@x")):
        with pytest.raises(ValueError, match="cannot build MESSAGE"):
            new_request("MESSAGE", *args)
    with pytest.raises(ValueError):
        new_request("MESSAGE", "sip:b@x", "sip:a@x", to_uri=uri)
