"""Kamailio's shmem:* statistics for a Python process: there is no shared memory pool,
so they describe the process's memory, read from /proc/self/status (Linux; 0 where
that file is missing) when asked. total_size is the machine's memory (/proc/meminfo)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def _kib(path: str, field: str) -> int:
    """`field` of a /proc file in bytes (the kernel writes kB), 0 when unreadable."""
    try:
        text = Path(path).read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def real_used_size() -> int:
    return _kib("/proc/self/status", "VmRSS")       # resident, as Kamailio's real_used


def used_size() -> int:
    return _kib("/proc/self/status", "RssAnon")     # the heap part of it


def max_used_size() -> int:
    return _kib("/proc/self/status", "VmHWM")       # peak resident


def total_size() -> int:
    return _kib("/proc/meminfo", "MemTotal")


def free_size() -> int:
    return max(0, total_size() - real_used_size())


GAUGES: dict[str, Callable[[], int]] = {
    "shmem:total_size": total_size, "shmem:used_size": used_size,
    "shmem:real_used_size": real_used_size, "shmem:max_used_size": max_used_size,
    "shmem:free_size": free_size,
}
