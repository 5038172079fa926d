"""What a child process prints, line by line: a thread reads its stdout into a queue,
so a test can wait for a line without blocking on the pipe (geosip run in the
integration fixtures, Kannel's fakesmsc...)."""

from __future__ import annotations

import queue
import subprocess
import threading
import time


class ProcessLines:
    """Lines printed by `proc` (text mode, stdout piped). `who` names it in failures."""

    def __init__(self, proc: subprocess.Popen, who: str) -> None:
        self.proc = proc
        self.who = who
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def _next(self, timeout: float) -> str | None:
        """The next line within `timeout` (kept in `lines`), or None."""
        try:
            line = self._queue.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None
        if line is not None:
            self.lines.append(line)
        return line

    def wait_for(self, text: str, timeout: float) -> str:
        """The first line, seen before or within `timeout`, that contains `text`."""
        for line in self.lines:  # a process's greenlets log in no fixed order
            if text in line:
                return line
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            line = self._next(left)
            if line is None:
                break
            if text in line:
                return line
        raise AssertionError(f"no {text!r} from {self.who}; it said:\n" + "\n".join(self.lines))

    def wait_for_count(self, text: str, count: int, timeout: float) -> None:
        """Until `count` lines contain `text` (e.g. each worker's "geosip ready")."""
        deadline = time.monotonic() + timeout
        while sum(text in line for line in self.lines) < count:
            if self._next(deadline - time.monotonic()) is None:
                raise AssertionError(f"fewer than {count} {text!r} lines from {self.who}; "
                                     "it said:\n" + "\n".join(self.lines))
