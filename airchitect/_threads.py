"""Small numba kernels run on one thread.

Waking numba's thread pool for a few items costs more than it saves, and on a busy
machine a parallel region waits for a free core (a single ``ac.predict`` of
``codesign`` took 13-14 ms instead of 5-7 ms with two other processes busy).
"""

import contextlib

import numba


@contextlib.contextmanager
def numba_serial_below(n_items, limit):
    """Run numba's parallel kernels on one thread inside the block when
    ``n_items < limit``; the thread count is restored after.

    >>> with numba_serial_below(3, 64):
    ...     numba.get_num_threads()
    1
    """
    threads = numba.get_num_threads()
    serial = n_items < limit and threads != 1
    if serial:
        numba.set_num_threads(1)
    try:
        yield
    finally:
        if serial:
            numba.set_num_threads(threads)
