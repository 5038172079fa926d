"""The action values the machines return."""

from __future__ import annotations

import dataclasses

import pytest

from geosip.sip.txn import (
    CancelTimer,
    Send,
    StartTimer,
    Terminated,
    TimedOut,
    Timer,
    ToTU,
    TransportFailed,
)

ACTIONS = [
    Send("INVITE"),
    StartTimer(Timer.TIMER_A, 0.5),
    CancelTimer(Timer.TIMER_A),
    ToTU("180"),
    TimedOut(),
    TransportFailed(),
    Terminated(),
]


@pytest.mark.parametrize("action", ACTIONS)
def test_actions_are_frozen_slotted_values(action: object) -> None:
    assert not hasattr(action, "__dict__")
    assert action == dataclasses.replace(action)  # type: ignore[type-var]
    assert hash(action) == hash(dataclasses.replace(action))  # type: ignore[type-var]
    fields = dataclasses.fields(action)  # type: ignore[arg-type]
    if fields:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(action, fields[0].name, None)


def test_messages_are_compared_not_inspected() -> None:
    send: object = Send("x")
    assert send != ToTU("x")
    assert send == Send("x")
    assert StartTimer(Timer.TIMER_B, 32.0) != StartTimer(Timer.TIMER_B, 16.0)
