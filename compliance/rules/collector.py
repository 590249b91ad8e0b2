"""Building a rule set without the cyclic garbage collector walking it as it grows.

Loading and compiling a rule set allocates hundreds of thousands of small,
long-lived, acyclic objects (nodes, patterns, rules, the index). Left on, the
collector runs its generations many times over them during the build (most of a
large load's time), and later full passes walk all of them again, holding the
GIL on whatever thread triggers them: a serving thread stalls for tens of
milliseconds. `collector_paused()` keeps the collector off during the build;
`settle()` then moves every object alive into the permanent generation
(`gc.freeze()`), where later passes no longer walk them. Objects of a replaced
rule set are freed by reference counting as before (a rule set holds no cycles).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused", "settle"]


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection while the block runs (reference counting goes on); as before afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def settle() -> None:
    """After a build: what is alive now stays out of the collector's later passes."""
    gc.freeze()
