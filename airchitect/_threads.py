"""Small kernels run on one thread.

Waking a thread pool (numba's, torch's) for a few items costs more than it saves,
and on a busy machine a parallel region waits for a free core (a single
``ac.predict`` of ``codesign`` took 13-14 ms instead of 5-7 ms with two other
processes busy).
"""

import contextlib

import numba


@contextlib.contextmanager
def _one_thread(get, set_, serial):
    threads = get()
    serial = serial and threads != 1
    if serial:
        set_(1)
    try:
        yield
    finally:
        if serial:
            set_(threads)


def numba_serial_below(n_items, limit):
    """Run numba's parallel kernels on one thread inside the block when
    ``n_items < limit``; the thread count is restored after.

    >>> with numba_serial_below(3, 64):
    ...     numba.get_num_threads()
    1
    """
    return _one_thread(numba.get_num_threads, numba.set_num_threads, n_items < limit)


def torch_serial_below(n_items, limit):
    """Run torch on one thread inside the block when ``n_items < limit``."""
    import torch

    return _one_thread(torch.get_num_threads, torch.set_num_threads, n_items < limit)


def torch_one_thread():
    """Run torch on one thread inside the block (small models run faster so, and
    more threads slow them under load)."""
    import torch

    return _one_thread(torch.get_num_threads, torch.set_num_threads, True)
