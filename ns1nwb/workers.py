"""How many cores ns1nwb uses: one setting for the reader's threads, the raw reader's processes and the
writer's compression threads.

``$NS1NWB_WORKERS`` (a whole number >= 1) sets it, e.g. 1 on a shared node; by default it is the
cores this process may run on, at most 4 (more gives nothing measurable on this data).
"""

from __future__ import annotations

import os
import threading

__all__ = ["WORKERS_ENV", "worker_count", "can_fork_workers"]

#: Environment variable that sets how many cores ns1nwb uses.
WORKERS_ENV = "NS1NWB_WORKERS"
_DEFAULT_MAX = 4


def worker_count() -> int:
    """``$NS1NWB_WORKERS`` if set, else the usable cores (at most 4).

    Raises
    ------
    ValueError
        ``$NS1NWB_WORKERS`` is set but not a whole number >= 1.
    """
    setting = os.environ.get(WORKERS_ENV, "").strip()
    if setting:
        if not setting.isdigit() or int(setting) < 1:
            raise ValueError(f"{WORKERS_ENV}={setting!r}: expected a whole number >= 1")
        return int(setting)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(_DEFAULT_MAX, cores))


def can_fork_workers() -> bool:
    """Whether worker processes may be forked: POSIX, and no other thread (a fork copies held locks)."""
    return hasattr(os, "fork") and threading.active_count() == 1
