"""Small kernels run on one thread.

Waking a thread pool (numba's, torch's, BLAS's) for a few items costs more than it
saves, and on a busy machine a parallel region waits for a free core (a single
``ac.predict`` of ``codesign`` took 13-14 ms instead of 5-7 ms with two other
processes busy; one whose scorer's products woke BLAS's threads took 24 ms instead
of 1.4 ms).
"""

import contextlib
import ctypes
import importlib
import threading

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


_local_setters = []


def _blas_local_setters():
    """``openblas_set_num_threads_local`` of every OpenBLAS loaded that has it (0.3.26
    and later), SciPy's loaded first (numba's ``np.dot`` calls it). It sets the
    process's count (0.3.30 here), and, unlike ``openblas_set_num_threads``, also
    from a thread other than the one that set the count last."""
    if not _local_setters:
        from threadpoolctl import ThreadpoolController

        importlib.import_module("scipy.linalg.cython_blas")  # load the BLAS numba's np.dot calls
        for controller in ThreadpoolController().lib_controllers:
            setter = getattr(controller.dynlib, "openblas_set_num_threads_local", None)
            if controller.internal_api == "openblas" and setter is not None:
                setter.argtypes, setter.restype = [ctypes.c_int], ctypes.c_int
                _local_setters.append(setter)
        _local_setters.append(None)  # looked up once, even where none was found
    return _local_setters[:-1]


_blas = threading.Lock()
_blas_open = {"blocks": 0, "saved": ()}


@contextlib.contextmanager
def blas_one_thread():
    """Run OpenBLAS (numpy's and SciPy's, which numba's ``np.dot`` calls) on one
    thread inside the block. The setting is the process's: while a block is open
    in one thread, BLAS calls of other threads run on one thread too; the thread
    counts are restored when the last open block closes. Where no OpenBLAS of
    0.3.26 or later is loaded, the block changes nothing.

    >>> from threadpoolctl import threadpool_info
    >>> with blas_one_thread():
    ...     {i["num_threads"] for i in threadpool_info() if i["internal_api"] == "openblas"}
    {1}
    """
    with _blas:  # the lookup, once, and the counts under one lock
        if _blas_open["blocks"] == 0:
            _blas_open["saved"] = [(setter, setter(1)) for setter in _blas_local_setters()]
        _blas_open["blocks"] += 1
    try:
        yield
    finally:
        with _blas:
            _blas_open["blocks"] -= 1
            if _blas_open["blocks"] == 0:
                for setter, threads in _blas_open["saved"]:
                    setter(threads)
