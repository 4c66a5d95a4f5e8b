"""Print a benchmark's Markdown report and, with ``--out``, write it to a file."""

from airchitect._files import write_atomic


def emit(text, out=None):
    """Print ``text``; write it (plus a newline) to ``out`` when given."""
    print(text)
    if out:
        write_atomic(out, (text + "\n").encode())
