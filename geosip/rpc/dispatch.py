"""The JSON-RPC 2.0 dispatcher: bytes in, bytes out (no sockets here).

Contract (https://www.jsonrpc.org/specification). `handle(data)` takes one request
object or a batch (an array of them) and returns the response bytes, or None when
nothing is to be answered (only notifications: requests without an "id"). Bad JSON is
-32700 (so is JSON nested deeper than the decoder follows); a request that is not an
object with "jsonrpc": "2.0" and a string "method" is -32600 (an empty batch too); an
unknown method -32601; params that do not fit the command's signature (or that are
neither an array nor an object) -32602. A command
raises RpcError for Kamailio's application errors (its code and message are the
answer); LookupError counts as 404 and ValueError as 400 with the exception's text,
as usrloc's functions document; any other exception is a bug: logged with its
traceback and answered -32603. Nothing raises out of handle().
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Iterable
from typing import Any

from geosip.script.exports import RpcCommand

from .errors import (BAD_REQUEST, INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST,
                     METHOD_NOT_FOUND, NOT_FOUND, PARSE_ERROR, RpcError)

log = logging.getLogger("geosip.rpc")

MAX_BATCH = 100  # requests in one batch; more is refused as a whole (-32600)


class Dispatcher:
    """Commands by name, and the context each one is called with."""

    def __init__(self, commands: Iterable[RpcCommand], context: Any = None) -> None:
        self.context = context
        self.commands: dict[str, RpcCommand] = {}
        for command in commands:
            self.add(command)

    def add(self, command: RpcCommand) -> None:
        """Register `command`; ValueError when its name is taken (two modules declaring
        one command is a bug to see at start, not a silent override)."""
        if command.name in self.commands:
            raise ValueError(f"RPC command {command.name} declared twice")
        self.commands[command.name] = command

    # ---- the wire ----------------------------------------------------------------------

    def handle(self, data: bytes | str) -> bytes | None:
        try:
            message = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            return _dump(_error(None, PARSE_ERROR, f"Parse error: {exc}"))
        except RecursionError:  # [[[[... nested deeper than the decoder's stack
            return _dump(_error(None, PARSE_ERROR, "Parse error: nested too deep"))
        if isinstance(message, list):
            if not message:
                return _dump(_error(None, INVALID_REQUEST, "Invalid Request: empty batch"))
            if len(message) > MAX_BATCH:
                return _dump(_error(None, INVALID_REQUEST,
                                    f"Invalid Request: more than {MAX_BATCH} in a batch"))
            answers = [a for a in (self.one(m) for m in message) if a is not None]
            return _dump(answers) if answers else None
        answer = self.one(message)
        return None if answer is None else _dump(answer)

    def one(self, request: Any) -> dict[str, Any] | None:
        """The response object to one request, None for a notification."""
        if not isinstance(request, dict):
            return _error(None, INVALID_REQUEST, "Invalid Request: not an object")
        rid = request.get("id")
        if not isinstance(rid, str | int | float | type(None)) or isinstance(rid, bool):
            return _error(None, INVALID_REQUEST, "Invalid Request: id must be a string, "
                          "a number or null")
        method = request.get("method")
        if request.get("jsonrpc") != "2.0" or not isinstance(method, str):
            return _error(rid, INVALID_REQUEST,
                          'Invalid Request: needs "jsonrpc": "2.0" and a string "method"')
        notification = "id" not in request
        try:
            result = self.call(method, request.get("params", []))
        except RpcError as exc:
            answer = _error(rid, exc.code, exc.message)
        else:
            answer = {"jsonrpc": "2.0", "result": result, "id": rid}
        return None if notification else answer

    # ---- calling -----------------------------------------------------------------------

    def call(self, method: str, params: Any = ()) -> Any:
        """Run a command; raises RpcError for every failure (see the contract)."""
        command = self.commands.get(method)
        if command is None:
            raise RpcError(METHOD_NOT_FOUND, f"Method not found: {method}")
        if isinstance(params, dict):
            args: list[Any] = []
            kwargs = params
        elif isinstance(params, list | tuple):
            args, kwargs = list(params), {}
        else:
            raise RpcError(INVALID_PARAMS, "Invalid params: give an array or an object")
        if command.context:
            args.insert(0, self.context)
        try:
            inspect.signature(command.fn).bind(*args, **kwargs)
        except TypeError as exc:
            usage = f"{method} {command.params_doc}".strip()
            raise RpcError(INVALID_PARAMS, f"Invalid params: {exc} (usage: {usage})") from None
        try:
            return command.fn(*args, **kwargs)
        except RpcError:
            raise
        except LookupError as exc:
            raise RpcError(NOT_FOUND, _text(exc)) from None
        except ValueError as exc:
            raise RpcError(BAD_REQUEST, _text(exc)) from None
        except TypeError as exc:  # e.g. a string where the command needs a number
            raise RpcError(BAD_REQUEST, f"bad parameter type: {_text(exc)}") from None
        except Exception:
            log.exception("RPC command %s failed", method)
            raise RpcError(INTERNAL_ERROR, f"Internal error in {method} (see geosip's log)") \
                from None


def _text(exc: Exception) -> str:
    # KeyError's str() is the repr of the key: say it plainly.
    return str(exc.args[0]) if exc.args else type(exc).__name__


def _error(rid: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": rid}


def _dump(value: Any) -> bytes:
    return json.dumps(value, default=str).encode()
