"""The JSON-RPC 2.0 dispatcher against the specification's cases
(https://www.jsonrpc.org/specification, section 7 examples): single calls, batches,
notifications, and the error codes -32700/-32600/-32601/-32602/-32603, plus
Kamailio-style application errors (jsonrpcs passes rpc->fault's code through)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from geosip.rpc.dispatch import Dispatcher
from geosip.rpc.errors import RpcError
from geosip.script.exports import RpcCommand, rpc


@rpc("test.subtract", "minuend subtrahend")
def subtract(ctx: Any, minuend: int, subtrahend: int) -> int:
    """minuend - subtrahend."""
    return minuend - subtrahend


@rpc("test.fault")
def fault(ctx: Any, code: int) -> None:
    raise RpcError(code, "AOR not found")


def _lookup() -> None:
    raise LookupError("AOR alice not found in location")


def _bad() -> None:
    raise ValueError("expires must be >= 0")


def _bug() -> None:
    raise ZeroDivisionError("oops")


def _ctx(ctx: Any) -> Any:
    return ctx


COMMANDS = (subtract, fault, RpcCommand("test.lookup", _lookup, context=False),
            RpcCommand("test.bad", _bad, context=False),
            RpcCommand("test.bug", _bug, context=False),
            RpcCommand("test.ctx", _ctx))


@pytest.fixture
def dispatcher() -> Dispatcher:
    return Dispatcher(COMMANDS, context="the context")


def ask(dispatcher: Dispatcher, payload: Any) -> Any:
    raw = payload if isinstance(payload, str) else json.dumps(payload)
    answer = dispatcher.handle(raw.encode())
    return None if answer is None else json.loads(answer)


def req(method: str, params: Any = None, rid: Any = 1) -> dict[str, Any]:
    out: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": rid}
    if params is not None:
        out["params"] = params
    return out


@pytest.mark.parametrize("params, result", [([42, 23], 19), ({"subtrahend": 23, "minuend": 42}, 19)])
def test_positional_and_named_params(dispatcher: Dispatcher, params: Any, result: int) -> None:
    assert ask(dispatcher, req("test.subtract", params)) == {
        "jsonrpc": "2.0", "result": result, "id": 1}


def test_context_is_passed_first(dispatcher: Dispatcher) -> None:
    assert ask(dispatcher, req("test.ctx"))["result"] == "the context"


@pytest.mark.parametrize("payload, rid, code", [
    ('{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]', None, -32700),
    ('{"jsonrpc": "2.0", "method": 1, "params": "bar"}', None, -32600),
    ('{"method": "test.subtract", "params": [1, 2], "id": 3}', 3, -32600),   # no "jsonrpc"
    ("[]", None, -32600),
    ('"just a string"', None, -32600),
    ('{"jsonrpc": "2.0", "method": "test.subtract", "id": {"x": 1}}', None, -32600),
    ('{"jsonrpc": "2.0", "method": "foobar", "id": "1"}', "1", -32601),
    ('{"jsonrpc": "2.0", "method": "test.subtract", "params": [1], "id": 4}', 4, -32602),
    ('{"jsonrpc": "2.0", "method": "test.subtract", "params": 5, "id": 5}', 5, -32602),
    ('{"jsonrpc": "2.0", "method": "test.bug", "id": 6}', 6, -32603),
    ('{"jsonrpc": "2.0", "method": "test.fault", "params": [500], "id": 7}', 7, 500),
    ('{"jsonrpc": "2.0", "method": "test.lookup", "id": 8}', 8, 404),
    ('{"jsonrpc": "2.0", "method": "test.bad", "id": 9}', 9, 400),
])
def test_errors(dispatcher: Dispatcher, payload: str, rid: Any, code: int) -> None:
    answer = ask(dispatcher, payload)
    assert answer["jsonrpc"] == "2.0" and answer["id"] == rid
    assert answer["error"]["code"] == code
    assert answer["error"]["message"]
    assert "result" not in answer


def test_error_messages_say_what_was_wrong(dispatcher: Dispatcher) -> None:
    assert ask(dispatcher, req("test.lookup"))["error"]["message"] == \
        "AOR alice not found in location"
    assert ask(dispatcher, req("test.bad"))["error"]["message"] == "expires must be >= 0"
    message = ask(dispatcher, req("test.subtract", [1]))["error"]["message"]
    assert "subtrahend" in message and "usage: test.subtract minuend subtrahend" in message
    assert ask(dispatcher, req("nope.nope"))["error"]["message"] == "Method not found: nope.nope"


def test_a_bug_is_logged_with_its_traceback(dispatcher: Dispatcher,
                                            caplog: pytest.LogCaptureFixture) -> None:
    ask(dispatcher, req("test.bug"))
    assert any(r.exc_info and r.exc_info[0] is ZeroDivisionError for r in caplog.records)


def test_notifications_get_no_answer(dispatcher: Dispatcher) -> None:
    assert ask(dispatcher, {"jsonrpc": "2.0", "method": "test.subtract", "params": [1, 2]}) is None
    # even a failing one (the spec: the client is not informed)
    assert ask(dispatcher, {"jsonrpc": "2.0", "method": "nope"}) is None
    assert ask(dispatcher, [{"jsonrpc": "2.0", "method": "test.subtract", "params": [1, 2]}]) is None


def test_batch_mixes_results_errors_and_notifications(dispatcher: Dispatcher) -> None:
    answer = ask(dispatcher, [
        req("test.subtract", [5, 3], rid="a"),
        {"jsonrpc": "2.0", "method": "test.subtract", "params": [7, 1]},   # notification
        {"foo": "boo"},
        req("nope", rid="b"),
        1,
    ])
    assert answer == [
        {"jsonrpc": "2.0", "result": 2, "id": "a"},
        {"jsonrpc": "2.0", "error": {"code": -32600, "message": answer[1]["error"]["message"]},
         "id": None},
        {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found: nope"},
         "id": "b"},
        {"jsonrpc": "2.0", "error": {"code": -32600, "message": answer[3]["error"]["message"]},
         "id": None},
    ]


def test_a_command_declared_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="test.subtract declared twice"):
        Dispatcher([subtract, subtract])
