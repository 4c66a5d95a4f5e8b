"""Thread limits around small kernels: set inside the block, in the calling thread
only, and restored after."""

import importlib
import threading

from threadpoolctl import threadpool_info, threadpool_limits

from airchitect._threads import blas_one_thread

importlib.import_module("scipy.linalg.cython_blas")  # its BLAS, which numba's products call, loaded


def _blas_threads():
    return sorted(i["num_threads"] for i in threadpool_info() if i["internal_api"] == "openblas")


def test_blas_runs_on_one_thread_inside_and_is_restored_after():
    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        assert len(before) == 2 and set(before) == {2}  # numpy's and SciPy's OpenBLAS
        with blas_one_thread():
            assert _blas_threads() == [1, 1]
            with blas_one_thread():  # nested: still one, and the outer block restores
                assert _blas_threads() == [1, 1]
            assert _blas_threads() == [1, 1]
        assert _blas_threads() == before


def test_overlapping_blocks_in_two_threads_restore_the_counts_once():
    # the setting is the process's: the first block to close leaves one thread while
    # the other is open; the last restores the counts
    with threadpool_limits(limits=2, user_api="blas"):
        inside, release = threading.Event(), threading.Event()
        seen = []

        def hold():
            with blas_one_thread():
                inside.set()
                release.wait(10)

        t = threading.Thread(target=hold)
        t.start()
        assert inside.wait(10)
        seen.append(_blas_threads())  # another thread's block is open
        with blas_one_thread():
            seen.append(_blas_threads())
        seen.append(_blas_threads())  # closed first: the other still holds one thread
        release.set()
        t.join(10)
        assert seen == [[1, 1]] * 3
        assert _blas_threads() == [2, 2]


def test_an_error_inside_the_block_still_restores():
    with threadpool_limits(limits=2, user_api="blas"):
        try:
            with blas_one_thread():
                raise KeyError("x")
        except KeyError:
            pass
        assert _blas_threads() == [2, 2]
