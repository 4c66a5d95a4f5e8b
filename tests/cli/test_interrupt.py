"""Ctrl-C at any moment of an ``airchitect`` command: one line on stderr, exit 130."""

import signal
import subprocess
import sys
import time

import pytest

COMMAND = [sys.executable, "-c", "import sys; from airchitect.cli import main; sys.exit(main())",
           "simulate", "--M", "64", "--N", "64", "--K", "64", "--rows", "8", "--cols", "8",
           "--dataflow", "os"]


def test_importing_the_command_loads_no_cost_model():
    code = ("import sys, airchitect.cli; "
            "print(sorted(m for m in ('pandas', 'numba', 'torch', 'airchitect.targets.systolic') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("delay", [0.15, 0.4, 0.8])
def test_sigint_while_starting_is_one_line_and_130(delay):
    proc = subprocess.Popen(COMMAND, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:  # finished before the signal (a fast machine): nothing to check
        assert err == ""
        return
    assert proc.returncode == 130
    assert err.count("\n") == 1 and err.endswith(": interrupted\n") and "Traceback" not in err


def _command_with(body, after=""):
    """Run ``airchitect simulate`` as the installed command, with ``body`` as its handler."""
    code = ("import os, signal, sys, time\n"
            "import airchitect.cli.simulate as simulate\n"
            "from airchitect.cli import main\n"
            "def run(args):\n"
            + "".join(f"    {line}\n" for line in body) +
            "simulate.run = run\n"
            "code = main()\n"
            + after +
            "sys.exit(code)\n")
    return subprocess.run([sys.executable, "-c", code, "simulate"], capture_output=True,
                          text=True, timeout=120)


def _interrupt_self():
    return ["os.kill(os.getpid(), signal.SIGINT)", "time.sleep(5)"]


def test_an_interrupt_a_library_turns_into_another_error_is_still_130():
    body = ["class HalfBuilt:",
            "    def __del__(self):",
            "        raise AttributeError('no _ptr')",  # an 'Exception ignored' report
            "try:",
            "    half = HalfBuilt()",
            *("    " + line for line in _interrupt_self()),
            "except KeyboardInterrupt:",
            "    raise ImportError('numba could not be imported')"]
    out = _command_with(body)
    assert (out.returncode, out.stderr) == (130, "airchitect simulate: interrupted\n")


def test_an_interrupt_a_library_swallows_is_still_130():
    body = ["try:", *("    " + line for line in _interrupt_self()),
            "except KeyboardInterrupt:", "    pass", "print('done')", "return 0"]
    out = _command_with(body)
    assert (out.returncode, out.stdout, out.stderr) == (130, "done\n",
                                                       "airchitect simulate: interrupted\n")


def test_an_interrupt_after_the_work_is_ignored():
    out = _command_with(["print('done')", "return 0"],
                        after="os.kill(os.getpid(), signal.SIGINT)\ntime.sleep(0.2)\n")
    assert (out.returncode, out.stdout, out.stderr) == (0, "done\n", "")


def test_bad_input_keeps_its_one_line_and_2():
    out = _command_with(["raise ValueError('--M: must be >= 1, got 0')"])
    assert (out.returncode, out.stderr) == (2, "airchitect simulate: error: --M: must be >= 1, got 0\n")
