"""TimerConfig and Timer: RFC 3261 Table 4 and RFC 6026 §8.11."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from geosip.sip.txn import Timer, TimerConfig

A, B, D, E, F, G, H, I, J, K, L, M = (
    Timer.TIMER_A, Timer.TIMER_B, Timer.TIMER_D, Timer.TIMER_E, Timer.TIMER_F, Timer.TIMER_G,
    Timer.TIMER_H, Timer.TIMER_I, Timer.TIMER_J, Timer.TIMER_K, Timer.TIMER_L, Timer.TIMER_M,
)

# timer, unreliable, reliable: Table 4 with T1=0.5, T2=4, T4=5 (the defaults).
TABLE_4 = [
    (A, 0.5, 0.5),  # initially T1 (never started on a reliable transport)
    (B, 32.0, 32.0),  # 64*T1
    (D, 32.0, 0.0),  # > 32 s unreliable, 0 reliable
    (E, 0.5, 0.5),  # initially T1
    (F, 32.0, 32.0),  # 64*T1
    (G, 0.5, 0.5),  # initially T1
    (H, 32.0, 32.0),  # 64*T1
    (I, 5.0, 0.0),  # T4 unreliable, 0 reliable
    (J, 32.0, 0.0),  # 64*T1 unreliable, 0 reliable
    (K, 5.0, 0.0),  # T4 unreliable, 0 reliable
    (L, 32.0, 32.0),  # 64*T1 (RFC 6026)
    (M, 32.0, 32.0),  # 64*T1 (RFC 6026)
]


@pytest.mark.parametrize(("timer", "unreliable", "reliable"), TABLE_4)
def test_table_4_defaults(timer: Timer, unreliable: float, reliable: float) -> None:
    config = TimerConfig()
    assert config.delay(timer, reliable=False) == unreliable
    assert config.delay(timer, reliable=True) == reliable
    assert getattr(config, timer.value.lower()) == unreliable


def test_every_timer_is_named_as_the_rfc_names_it() -> None:
    assert [timer.name for timer in Timer] == [f"TIMER_{c}" for c in "ABDEFGHIJKLM"]


# config, timer, expected (unreliable transport)
SCALED = [
    (TimerConfig(t1=1.0), B, 64.0),
    (TimerConfig(t1=1.0), F, 64.0),
    (TimerConfig(t1=1.0), H, 64.0),
    (TimerConfig(t1=1.0), J, 64.0),
    (TimerConfig(t1=1.0), L, 64.0),
    (TimerConfig(t1=1.0), M, 64.0),
    (TimerConfig(t1=1.0), A, 1.0),
    (TimerConfig(t4=2.5), I, 2.5),
    (TimerConfig(t4=2.5), K, 2.5),
    (TimerConfig(timer_b=120.0), B, 120.0),  # Kamailio's fr_inv_timer style
    (TimerConfig(timer_b=120.0), H, 32.0),  # ... touches nothing else
    (TimerConfig(timer_f=10.0), F, 10.0),  # Kamailio's fr_timer style
    (TimerConfig(timer_f=10.0), J, 32.0),
    (TimerConfig(t1=1.0, timer_b=5.0), B, 5.0),
    (TimerConfig(timer_d=40.0), D, 40.0),
]


@pytest.mark.parametrize(("config", "timer", "expected"), SCALED)
def test_derived_values_and_overrides(config: TimerConfig, timer: Timer, expected: float) -> None:
    assert config.delay(timer, reliable=False) == expected


def test_overrides_stay_per_instance() -> None:
    short, default = TimerConfig(timer_b=4.0, timer_f=2.0), TimerConfig()
    assert (short.b, short.f) == (4.0, 2.0)
    assert (default.b, default.f) == (32.0, 32.0)


def test_frozen_and_slotted() -> None:
    config = TimerConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.t1 = 1.0  # type: ignore[misc]
    assert not hasattr(config, "__dict__")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"t1": 0.0},
        {"t1": -0.5},
        {"t2": 0.25},  # below T1
        {"t4": 0.0},
        {"timer_b": 0.0},
        {"timer_f": -1.0},
        {"timer_d": -1.0},
        {"t1": float("nan")},
    ],
)
def test_invalid_values_raise_value_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        TimerConfig(**kwargs)
