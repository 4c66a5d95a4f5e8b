"""The ``airchitect`` command.

Each sub-command lives in its own module of this package and exposes
``add_parser(subparsers)``, which registers the sub-command and sets
``func(args) -> int`` as its handler. Bad input (``ValueError``,
``TypeError``) ends the command with exit code 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ["simulate", "dataset", "train", "evaluate", "predict", "compile", "demo"]


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def print_record(record, as_json):
    """Print one result: a JSON object with ``as_json``, else ``key=value`` pairs."""
    import json

    if as_json:
        print(json.dumps(record))
    else:
        print(" ".join(f"{k}={v}" for k, v in record.items()))


def build_parser():
    parser = _Parser(prog="airchitect", description=__doc__.splitlines()[0])
    from airchitect import __version__

    parser.add_argument("--version", action="version", version=f"airchitect {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"airchitect.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"airchitect.cli.{name}":
                raise
            continue
        module.add_parser(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, FileNotFoundError, FileExistsError, PermissionError) as err:
        message = " ".join(str(err).split())
        print(f"airchitect {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
