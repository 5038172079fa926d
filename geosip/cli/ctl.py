"""`geosipctl`: the control CLI (like kamcmd/kamctl), a placeholder until the JSON-RPC
interface exists. It says so and exits 2 rather than pretend (README, Status)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from geosip import __version__

NOT_BUILT = "geosipctl: the control interface is not built yet (see README, Status)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="geosipctl",
        description="Control a running geosip over its JSON-RPC interface (not built yet).",
    )
    parser.add_argument("--version", action="version", version=f"geosipctl {__version__}")
    parser.add_argument("command", nargs="*", help="e.g. core.uptime, ul.dump, subscriber add ...")
    # Unknown options (e.g. -s SOCKET) fall through: every command ends the same way.
    parser.parse_known_args(argv)
    print(NOT_BUILT, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
