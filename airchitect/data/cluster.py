"""Connecting to a Dask cluster that computes dataset shards.

The scheduler is trusted: Dask moves tasks and results pickled, so connect
only to a cluster you control, on a network you trust (docs/data.md).
"""

from __future__ import annotations

#: Seconds to wait for a Dask scheduler to answer before giving up.
CONNECT_TIMEOUT_S = 5


class SchedulerError(ValueError):
    """A Dask scheduler that could not be reached within ``timeout_s`` seconds."""

    def __init__(self, address, reason, timeout_s):
        self.address, self.reason, self.timeout_s = address, reason, timeout_s
        super().__init__(self.describe("scheduler"))

    def describe(self, name):
        """The message, naming the argument ``name`` (``scheduler`` or ``--scheduler``)."""
        return (f"{name}: cannot reach the Dask scheduler at {self.address!r} within "
                f"{self.timeout_s} s: {self.reason}")


def connect(scheduler, timeout_s=CONNECT_TIMEOUT_S):
    """A ``dask.distributed.Client`` of the scheduler at the address ``scheduler``.

    A client is returned unchanged. The scheduler is trusted: results come
    back pickled, so connect only to a cluster you control. Raises
    :class:`SchedulerError` (a ``ValueError``) when it does not answer within
    ``timeout_s`` seconds or the address is malformed.
    """
    try:
        from dask.distributed import Client
    except ImportError as err:
        raise SchedulerError(scheduler, f"dask.distributed is not installed ({err})", 0) from None
    if isinstance(scheduler, Client):
        return scheduler
    if not isinstance(scheduler, str):
        raise TypeError(
            f"scheduler must be an address (str) or a dask.distributed.Client, "
            f"got {type(scheduler).__name__}"
        )
    try:
        return Client(scheduler, timeout=timeout_s)
    except Exception as err:  # noqa: BLE001 - any failure to connect is reported alike
        reason = " ".join(str(err).split()) or type(err).__name__
        raise SchedulerError(scheduler, reason, timeout_s) from None
