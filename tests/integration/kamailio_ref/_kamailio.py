"""Kamailio 5.6 (Debian kamailio + kamailio-lua-modules) as the reference server of the
kamailio_ref tests: `kamailio -f CFG` in the foreground, run as BENCH-NOTES.md says
(-DD foreground, -E log to stderr, its own runtime dir -Y and pid file -P), on a free
loopback port, with the KEMI Lua script and any other values given as -A defines.
Stopped by its pid (SIGTERM, then SIGKILL to the process group it leads)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from .._proxy import HOST
from .._sipp import is_bound

KAMAILIO = "/usr/sbin/kamailio"
MODULES = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")


def require(*modules: str) -> None:
    """Fails (never skips) when Kamailio or one of its modules is missing: they are
    peers of the tests, installed by .ci/install-peers."""
    missing = [m for m in ("app_lua", *modules) if not (MODULES / f"{m}.so").exists()]
    assert shutil.which(KAMAILIO) and not missing, (
        f"Kamailio or its modules {missing} missing: they are peers of the tests, run "
        "`make peers` (Debian packages kamailio kamailio-lua-modules kamailio-sqlite-modules)")


class Kamailio:
    """kamailio -f `cfg` with -A SCRIPT="script", PORT and `defines` (NAME: value, or
    None for a bare #!define); its stderr in `folder`/kamailio.log."""

    def __init__(self, folder: Path, port: int, cfg: Path, script: Path,
                 defines: dict[str, str | None] | None = None) -> None:
        self.port = port
        self.folder = folder
        run_dir = folder / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = folder / "kamailio.log"
        command = [KAMAILIO, "-f", str(cfg), "-A", f"PORT={port}",
                   "-A", f'SCRIPT="{script}"', "-DD", "-E", "-Y", str(run_dir),
                   "-P", str(run_dir / "kamailio.pid"), "-w", str(run_dir)]
        for name, value in (defines or {}).items():
            command += ["-A", name if value is None else f"{name}={value}"]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def addr(self) -> str:
        return f"{HOST}:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if is_bound("udp", self.port):
                time.sleep(0.3)  # children forked after the bind: give them a moment
                return
            time.sleep(0.05)
        raise AssertionError(f"kamailio did not start (exit {self.proc.poll()}):\n"
                             + self.log()[-6000:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        # its children are in the process group it leads (start_new_session)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
