"""A child process that runs SCALE-Sim 3.0.0 for ``airchitect demo``.

It reads one JSON job a line on stdin (``{"args": [...], "kwargs": {...}}``, the
arguments of :func:`airchitect.targets.systolic.scalesim.run_scalesim` for one
layer) and answers each, in order, with one JSON line on stdout: the layer's report
as ``{field: value}``. It ignores Ctrl-C (the command that started it stops it),
ends at the end of its input, and on SIGTERM ends at once, removing the temporary
folder of the run it was in. Only JSON crosses the pipe.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys


#: seconds :meth:`Reference.stop` waits for the child to clean up before it kills it
STOP_S = 10


def _end(signum, frame):
    raise SystemExit(128 + signum)  # unwinds through run_scalesim, which removes its folder


def main():
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _end)
    from airchitect.targets.systolic.scalesim import run_scalesim

    for line in sys.stdin:
        job = json.loads(line)
        report = run_scalesim(*job["args"], **job["kwargs"]).iloc[0].to_dict()
        sys.stdout.write(json.dumps(report, default=_plain) + "\n")
        sys.stdout.flush()


def _plain(value):
    return value.item()


class Reference:
    """SCALE-Sim's runs in one child process, so that they overlap with this process's work.

    :meth:`submit` sends a job and returns its index; :meth:`result` waits for that job's
    report (a ``pandas.Series``). :meth:`stop` ends the child (also on an error or Ctrl-C).
    """

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, "-m", "airchitect.cli.scalesim_worker"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.sent, self.reports = 0, []

    def submit(self, *args, **kwargs):
        args = [[list(layer) for layer in args[0]], *args[1:]]
        self.proc.stdin.write(json.dumps({"args": args, "kwargs": kwargs}) + "\n")
        self.proc.stdin.flush()
        self.sent += 1
        return self.sent - 1

    def result(self, index):
        import pandas as pd

        while len(self.reports) <= index:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"the SCALE-Sim process ended (exit code {self.proc.wait()}) before "
                                   f"answering job {len(self.reports)}")
            self.reports.append(pd.Series(json.loads(line)))
        return self.reports[index]

    def stop(self):
        """End the child: SIGTERM, so that it removes its temporary files, then SIGKILL
        after :data:`STOP_S` seconds (or at once, on an error or a second Ctrl-C here)."""
        try:
            if self.proc.poll() is None:
                self.proc.terminate()
                self.proc.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            pass
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


if __name__ == "__main__":
    main()
