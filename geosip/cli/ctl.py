"""`geosipctl`: the control CLI (like kamcmd/kamctl).

The database commands work (geosip.cli.ctl_db: `db init|migrate|show`, `subscriber
add|rm|passwd|list`, `domain add|rm|list`, with `--db URL` / `--data-dir DIR` before them).
Every other command needs the JSON-RPC interface, which is not built yet (issue 8): those
say so and exit 2 rather than pretend (README, Status).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from geosip import __version__

NOT_BUILT = "geosipctl: the control interface is not built yet (see README, Status)"
# Options before the command that take a value (the database commands' globals).
_VALUE_OPTIONS = ("--db", "--data-dir")


def _command_word(argv: Sequence[str]) -> str | None:
    """The first word that is not an option (or an option's value)."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in _VALUE_OPTIONS:
            skip = True
            continue
        if arg.startswith("-"):
            # --db=URL / --data-dir=DIR carry their value; -s SOCKET and the like belong
            # to the JSON-RPC commands (not built): those stay with the old answer.
            if arg.split("=", 1)[0] in _VALUE_OPTIONS:
                continue
            return None
        return arg
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    from geosip.cli import ctl_db

    if _command_word(args) in ctl_db.COMMANDS:
        return ctl_db.main(args)
    parser = argparse.ArgumentParser(
        prog="geosipctl",
        description="Control geosip: database commands (db, subscriber, domain; see "
        "`geosipctl db --help`) and, over JSON-RPC (not built yet), a running server.",
    )
    parser.add_argument("--version", action="version", version=f"geosipctl {__version__}")
    parser.add_argument("command", nargs="*",
                        help="db init|migrate|show, subscriber add|rm|passwd|list, "
                        "domain add|rm|list; later core.uptime, ul.dump, ...")
    # Unknown options (e.g. -s SOCKET) fall through: every other command ends the same way.
    parser.parse_known_args(args)
    print(NOT_BUILT, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
