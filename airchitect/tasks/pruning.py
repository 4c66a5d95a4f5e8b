"""Exact evaluation of ranked candidates, skipping those a lower bound rules out.

A model ranks candidates; the best of them is wanted by exact cost. Evaluating
them in the model's order, a few at a time, lets every candidate whose lower
bound shows it cannot beat the least cost found so far be skipped unevaluated.
The answer is the one evaluating every candidate would give.

>>> import numpy as np
>>> cost = np.array([5.0, 9.0, 4.0, 7.0])
>>> bound = np.array([5.0, 8.0, 3.0, 6.0])
>>> done, least = evaluate_in_order(bound, lambda idx: cost[idx])
>>> done.tolist(), least  # 1 and 3 are bound above 5, the first cost found
([0, 2], 4.0)
"""

from __future__ import annotations

import numpy as np


def evaluate_in_order(bound, evaluate, keep_ties=False):
    """Evaluate candidates ``0..n-1`` in order in batches of 1, 2, 4, ... candidates.

    Parameters
    ----------
    bound : array (n,)
        A lower bound of each candidate's cost.
    evaluate : callable
        ``evaluate(indices)`` returns the exact costs ``(len(indices),)`` of those
        candidates (and may record more about them).
    keep_ties : bool
        Also evaluate candidates whose bound equals the least cost found (where
        a tie is broken by something other than the order).

    Returns
    -------
    (evaluated, least)
        The indices evaluated, in order, and the least cost among them.
    """
    bound = np.asarray(bound, dtype=np.float64)
    todo, batch, least, done = np.arange(bound.size), 1, np.inf, []
    while todo.size:
        now, todo, batch = todo[:batch], todo[batch:], 2 * batch
        least = min(least, float(np.min(evaluate(now))))
        done.append(now)
        todo = todo[bound[todo] <= least] if keep_ties else todo[bound[todo] < least]
    return (np.concatenate(done) if done else np.zeros(0, dtype=np.int64)), least
