"""Choosing the response a forking proxy sends back (RFC 3261 §16.7 steps 6-7).

Among the final responses of the branches (local 408/503 for branches that timed out
or failed included): a 6xx wins; otherwise the lowest class (3xx < 4xx < 5xx), and
within 4xx a 401/407 first because the caller can act on it (its challenges are merged
from every branch, step 7). Within a class the lowest code wins, which favours the
precise answers (404 over 480, 486 over 487). A 503 chosen for forwarding becomes 500
(step 6: a 503 would make the caller think this proxy is overloaded).
"""

from __future__ import annotations

from geosip.sip import Response

_CHALLENGES = ("www-authenticate", "proxy-authenticate")


def _rank(status: int) -> tuple[int, int, int]:
    klass = status // 100
    class_rank = 0 if klass == 6 else klass
    challenge = 0 if status in (401, 407) else 1
    return (class_rank, challenge, status)


def best_response(responses: list[Response]) -> Response:
    """The response to forward upstream; the input list is not changed."""
    best = min(responses, key=lambda r: _rank(r.status))
    if best.status in (401, 407):
        best = best.copy()  # type: ignore[assignment]
        for other in responses:
            if other is best or other.status not in (401, 407):
                continue
            for name in _CHALLENGES:
                for value in other.header_all(name):
                    if value not in best.header_all(name):
                        best.add_header(name, value)
    return best


def final_status(response: Response) -> int:
    """The status to send upstream for the chosen response (§16.7 step 6: 503 -> 500)."""
    return 500 if response.status == 503 else response.status
