"""JSON-RPC 2.0 error codes (https://www.jsonrpc.org/specification, section 5.1) and
the application errors of commands, which use Kamailio's codes (jsonrpcs passes a
command's rpc->fault(code, text) through as the error: 400 bad argument, 404 not
found, 500 failure)."""

from __future__ import annotations

PARSE_ERROR = -32700       # the text is not JSON
INVALID_REQUEST = -32600   # JSON, but not a request object
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603    # a bug in a command: logged with its traceback

BAD_REQUEST = 400
NOT_FOUND = 404
FAILED = 500


class RpcError(Exception):
    """Raised by a command (or the dispatcher) to answer with error {code, message}."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
