"""`geosipctl`: the control CLI (like kamcmd and kamctl).

    geosipctl [-s PATH|http://ADDR:PORT] [--json] [--data-dir DIR] METHOD [PARAM...]
    geosipctl completion bash
    geosipctl db|subscriber|domain ...        (geosip.cli.ctl_db, on the database)

A METHOD is a JSON-RPC command of the running geosip (`geosipctl system.listMethods`
lists them), sent to its control socket: -s, else <data-dir>/geosip_ctl with the same
default data dir as `geosip run`. Params are typed as kamcmd types them: a number is an
integer (or a float with a dot), anything else a string, and an `s:` prefix forces a
string (`s:123`). The result is printed readably (structs as `name: value` lines in
braces, arrays one item a line, as kamcmd does) or, with --json, as the raw JSON result.

Exit codes: 0 success; 1 the command answered an error (printed as kamcmd does,
`error: CODE - message`) or geosip could not be asked (one line saying why: not
running, socket not readable); 2 a usage error.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from typing import Any

from geosip import __version__

DEFAULT_DATA_DIR = "./geosip-data"  # geosip run's (geosip.cli.main, kept import-free)
# Options before the command that take a value: the database commands' and the RPC's.
_VALUE_OPTIONS = ("--db", "--data-dir", "-s", "--socket", "--timeout")
_NUMBER = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.\d*|\.\d+)$")

COMPLETION_BASH = r"""# bash completion for geosipctl: eval "$(geosipctl completion bash)"
_geosipctl() {
    local cur="${COMP_WORDS[COMP_CWORD]}" word i
    local -a server=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${COMP_WORDS[i]}"
        case "$word" in
            -s|--socket|--data-dir) server+=("$word" "${COMP_WORDS[i+1]}"); ((i++)) ;;
            --db|--timeout) ((i++)) ;;
            -*) ;;
            *) return 0 ;;
        esac
    done
    local methods
    methods="$(geosipctl "${server[@]}" system.listMethods 2>/dev/null)"
    COMPREPLY=($(compgen -W "$methods db subscriber domain completion" -- "$cur"))
}
complete -F _geosipctl geosipctl
"""


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
            continue
        return arg
    return None


def typed(param: str) -> Any:
    """kamcmd's typing of a command-line parameter."""
    if param.startswith("s:"):
        return param[2:]
    if _NUMBER.match(param):
        return int(param)
    if _FLOAT.match(param):
        return float(param)
    return param


def readable(value: Any, indent: int = 0) -> list[str]:
    """kamcmd-like lines of a result: structs in braces with `name: value` lines,
    arrays one item a line, nothing for an empty result."""
    pad = "\t" * indent
    if value is None:
        return []
    if isinstance(value, dict):
        lines = [pad + "{"]
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                inner = readable(item, indent + 1)
                lines.append(f"{pad}\t{key}: {inner[0].lstrip()}")
                lines += inner[1:]
            else:
                shown = "" if item is None else _scalar(item) if not isinstance(
                    item, dict | list) else ("{}" if isinstance(item, dict) else "")
                lines.append(f"{pad}\t{key}: {shown}")
        return lines + [pad + "}"]
    if isinstance(value, list):
        return [line for item in value for line in readable(item, indent)]
    return [pad + _scalar(value)]


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="geosipctl",
        description="Control a running geosip over JSON-RPC (METHOD: core.uptime, "
        "stats.get_statistics all, ul.dump, cfg.set tm fr_inv_timer 20000, "
        "app_lua.reload...; `geosipctl system.listMethods` lists them), and the database "
        "(db, subscriber, domain: see `geosipctl db --help`).")
    parser.add_argument("--version", action="version", version=f"geosipctl {__version__}")
    parser.add_argument("-s", "--socket", metavar="PATH|URL",
                        help="geosip's control socket, or http://ADDR:PORT (default: "
                        "geosip_ctl in --data-dir)")
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR, metavar="DIR",
                        help=f"geosip run's --data-dir (default: {DEFAULT_DATA_DIR})")
    parser.add_argument("--db", help=argparse.SUPPRESS)  # the database commands' option
    parser.add_argument("--json", action="store_true", help="print the raw JSON result")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                        help="how long to wait for the answer (default 30)")
    parser.add_argument("method", help="a JSON-RPC command, or `completion bash`")
    parser.add_argument("params", nargs="*",
                        help="its parameters: numbers are integers, s:TEXT forces a string")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    from geosip.cli import ctl_db

    if _command_word(args) in ctl_db.COMMANDS:
        return ctl_db.main(args)
    options = _parser().parse_args(args)
    if options.method == "completion":
        if options.params != ["bash"]:
            print("geosipctl: usage: geosipctl completion bash", file=sys.stderr)
            return 2
        sys.stdout.write(COMPLETION_BASH)
        return 0
    from geosip.rpc.address import default_socket
    from geosip.rpc.client import Unreachable, call

    target = options.socket or default_socket(options.data_dir)
    try:
        answer = call(target, options.method, [typed(p) for p in options.params],
                      timeout=options.timeout)
    except Unreachable as exc:
        print(f"geosipctl: {exc}", file=sys.stderr)
        return 1
    error = answer.get("error")
    if error is not None:
        code = error.get("code") if isinstance(error, dict) else None
        message = error.get("message") if isinstance(error, dict) else error
        print(f"error: {code} - {message}", file=sys.stderr)
        return 1
    result = answer.get("result")
    lines = [json.dumps(result, indent=2)] if options.json else readable(result)
    try:
        for line in lines:
            print(line)
        sys.stdout.flush()
    except BrokenPipeError:  # `geosipctl ... | head`: the reader has all it wanted
        sys.stderr.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
