"""Subscriber accounts for the integration tests, made as an operator makes them: with
`geosipctl db init` and `geosipctl subscriber add USER@DOMAIN PASSWORD` run as
subprocesses on the database that `geosip run --db URL` then opens."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

GEOSIPCTL = str(Path(sys.executable).parent / "geosipctl")


@dataclass(frozen=True)
class Accounts:
    url: str     # the database: sqlite:////... or postgres://...
    cwd: Path

    def ctl(self, *args: str) -> str:
        """Run `geosipctl --db URL *args`; its stdout. Fails the test when it fails."""
        done = subprocess.run([GEOSIPCTL, "--db", self.url, *args], cwd=self.cwd,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (f"geosipctl {' '.join(args)} exited "
                                      f"{done.returncode}:\n{done.stdout}{done.stderr}")
        return done.stdout

    def add(self, aor: str, password: str) -> None:
        self.ctl("subscriber", "add", aor, password)


def make_accounts(url: str, cwd: Path) -> Accounts:
    """The tables created on an empty database (`geosipctl db init`)."""
    accounts = Accounts(url, cwd)
    accounts.ctl("db", "init")
    return accounts


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'geosip.sqlite'}"
