"""The ``airchitect`` command.

Each sub-command lives in its own module of this package and exposes
``add_parser(subparsers)``, which registers the sub-command and sets
``func(args) -> int`` as its handler.

Exit codes: 0 on success; 2 on bad input (``ValueError``, ``TypeError``, or an
``OSError`` such as a missing, unreadable or unwritable path), with one line
``airchitect <cmd>: error: <message>`` on stderr; 130 on ``KeyboardInterrupt``
(one line ``airchitect <cmd>: interrupted``); 141 (128 + SIGPIPE, what a shell
reports for a program killed by a broken pipe) when the reader of stdout
goes away, as in ``airchitect predict ... --json | head -c 10``, silently.
The message names the flag where the library named its argument
(``--ifmap-kb must be ...``, not ``ifmap_kb must be ...``; a sub-command maps the names
that differ more with ``set_defaults(flag_for={...})``).
Any other exception is a bug and keeps its traceback. An option given as an
empty string is bad input (``--out must not be empty``). ``--json`` output is
strict JSON, serialised in full before it is printed, with NaN and infinities
as null.

As the installed command (``main()`` with no arguments) it owns SIGINT: a
Ctrl-C at any moment of the run gives that one line and 130, also when it
lands inside a library that turns it into another error (an ``ImportError``
from an interrupted import, say). Once the interrupt has unwound the stack
(every temporary file removed), the process exits at once, without the
interpreter's teardown, which an import cut short can leave unable to finish.
A Ctrl-C after the work is done is ignored, so that it cannot break the exit.
``main(argv)`` with a list leaves the caller's signal handlers alone.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import signal
import sys

COMMANDS = ["simulate", "dataset", "train", "evaluate", "predict", "compile", "codesign", "demo"]


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit code 2.

    An option given as an empty string (``--out ''``) is refused: no path,
    name or choice of the command is empty, and "" must not stand for "not given".
    """

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        self._check_not_empty(namespace)
        return namespace, extras

    def _check_not_empty(self, namespace):
        for action in self._actions:
            if not action.option_strings:
                continue
            value = getattr(namespace, action.dest, None)
            values = value if isinstance(value, list) else [value]
            if "" in values:
                self.error(f"{'/'.join(action.option_strings)} must not be empty")


def finite_json(value):
    """``value`` with every NaN or infinite float (nested in dicts, lists and tuples) as None,
    and numpy scalars as Python numbers, so that it serialises as strict JSON."""
    if hasattr(value, "item") and not hasattr(value, "__len__"):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(item) for item in value]
    return value


def print_json(value, indent=None):
    """Print ``value`` as strict JSON (non-finite floats as null), serialised in full before
    anything is written, so that a failure never leaves half a document on stdout."""
    import json

    text = json.dumps(finite_json(value), indent=indent, allow_nan=False)
    print(text)  # text and newline written apart: one write of both lost a broken pipe's error here


def print_record(record, as_json):
    """Print one result: a JSON object with ``as_json``, else ``key=value`` pairs."""
    if as_json:
        print_json(record)
    else:
        print(" ".join(f"{k}={v}" for k, v in record.items()))


def json_records(table):
    """JSON-ready records of ``table`` with full float precision (NaN and infinities as null)."""
    return [finite_json(record) for record in table.to_dict(orient="records")]


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


#: exit code when stdout's reader has gone (128 + SIGPIPE)
EXIT_BROKEN_PIPE = 141
#: exit code on KeyboardInterrupt (128 + SIGINT)
EXIT_INTERRUPTED = 130
#: exceptions that bad input raises: exit code 2 and one line on stderr
BAD_INPUT = (ValueError, TypeError, OSError)


def _one_line(err):
    return " ".join(str(err).split()) or type(err).__name__


def _silence_stdout():
    """Point stdout at /dev/null, so that the interpreter's final flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


class _Interrupt:
    """The command's SIGINT handler: raises ``KeyboardInterrupt`` until the work is done,
    and remembers that it was called."""

    def __init__(self):
        self.seen = False
        self.done = False
        self.command = "airchitect"

    def __call__(self, signum, frame):
        self.seen = True
        if not self.done:
            raise KeyboardInterrupt

    def quiet(self, hook):
        """``sys.unraisablehook`` that, after a Ctrl-C, drops the 'Exception ignored' reports
        of what it cut short (the interrupt itself, destructors of half-built objects)."""
        def unraisablehook(unraisable):
            if not self.seen:
                hook(unraisable)
        return unraisablehook


def main(argv=None):
    """Run the ``airchitect`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit code.

    With ``argv=None`` it runs as the installed command and owns SIGINT (see the module doc).
    """
    if argv is not None:
        return _main(argv, _Interrupt())
    interrupt = _Interrupt()
    sys.unraisablehook = interrupt.quiet(sys.unraisablehook)
    signal.signal(signal.SIGINT, interrupt)
    try:
        try:
            code = _main(None, interrupt)
        finally:
            interrupt.done = True
    except BaseException:  # an error the interrupt became, or one in its last instant
        if not interrupt.seen:
            raise
        code = None
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if not interrupt.seen:
        return code
    if code != EXIT_INTERRUPTED:
        print(f"{interrupt.command}: interrupted", file=sys.stderr)
    _flush_stdout()
    sys.stderr.flush()
    # Every cleanup (temporary files, worker pools) ran as the interrupt unwound the
    # stack; the interpreter's own teardown is skipped, because an import cut short
    # (numba's LLVM, say) can leave it unable to finish.
    os._exit(EXIT_INTERRUPTED)


def flag_names(parser, command):
    """``{argument: flag}`` of every long option of the sub-command ``command`` (and of
    the sub-commands below it): ``{"ifmap_kb": "--ifmap-kb", ...}``."""
    names = {}
    stack = [action.choices[command] for action in parser._actions
             if isinstance(action, argparse._SubParsersAction)]
    while stack:
        for action in stack.pop()._actions:
            if isinstance(action, argparse._SubParsersAction):
                stack.extend(action.choices.values())
            long = [option for option in action.option_strings if option.startswith("--")]
            if long:
                names.setdefault(action.dest, long[0])
    return names


def with_flag(text, names):
    """``text`` with the argument name of ``names`` that leads ``"NAME must ..."`` (at the
    start, or after one ``"where: "`` prefix) written as its flag.

    >>> with_flag("ifmap_kb must be integers in [1, 2147483647], got 0", {"ifmap_kb": "--ifmap-kb"})
    '--ifmap-kb must be integers in [1, 2147483647], got 0'
    >>> with_flag("resnet50: max_macs must be one of 256, 512", {"max_macs": "--max-macs"})
    'resnet50: --max-macs must be one of 256, 512'
    """
    where, _, rest = text.partition(": ")
    for head, body in (("", text), (f"{where}: ", rest)):
        for name, flag in names.items():
            if body.startswith(f"{name} must "):
                return head + flag + body[len(name):]
    return text


def _main(argv, interrupt):
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        interrupt.command = f"airchitect {args.command}"
        args.flag_names = {**flag_names(parser, args.command), **getattr(args, "flag_for", {})}
        return _run(args, interrupt)
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print(f"{interrupt.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SystemExit:
        _flush_stdout()
        raise


def _run(args, interrupt):
    """Run the sub-command; bad input is one line on stderr and exit code 2."""
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        raise
    except BAD_INPUT as err:
        if interrupt.seen:
            raise KeyboardInterrupt from err
        message = with_flag(_one_line(err), getattr(args, "flag_names", {}))
        print(f"{interrupt.command}: error: {message}", file=sys.stderr)
        return 2


def _flush_stdout():
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()


if __name__ == "__main__":
    sys.exit(main())
