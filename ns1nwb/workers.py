"""How ns1nwb uses several cores and forks: one setting for the reader's threads, the check that makes
forking the isolated writer safe, the signals that stop a command (which the writer must handle alike),
and a progress bar that starts no thread.

``$NS1NWB_WORKERS`` (a whole number >= 1) sets the number of workers, e.g. 1 on a shared node; by
default it is the cores this process may run on, at most 4 (more gives nothing measurable on this data).
"""

from __future__ import annotations

import os
import threading
from typing import Any, Iterable

from .exceptions import SettingError

__all__ = ["WORKERS_ENV", "worker_count", "can_fork", "progress_bar", "stop_signals"]

#: Environment variable that sets how many cores ns1nwb uses.
WORKERS_ENV = "NS1NWB_WORKERS"
_DEFAULT_MAX = 4


def worker_count() -> int:
    """``$NS1NWB_WORKERS`` if set, else the usable cores (at most 4).

    Raises
    ------
    SettingError
        ``$NS1NWB_WORKERS`` is set but not a whole number >= 1.
    """
    setting = os.environ.get(WORKERS_ENV, "").strip()
    if setting:
        if not setting.isdigit() or int(setting) < 1:
            raise SettingError(f"{WORKERS_ENV}={setting!r}: expected a whole number >= 1 (or leave it unset)")
        return int(setting)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(_DEFAULT_MAX, cores))


def stop_signals(*, interrupt: bool = True) -> list[int]:
    """Ctrl-C (SIGINT, unless ``interrupt`` is False) and the termination signals that the command line
    treats like it (SIGTERM, SIGHUP), those this platform has."""
    import signal

    names = ("SIGINT", "SIGTERM", "SIGHUP") if interrupt else ("SIGTERM", "SIGHUP")
    return [getattr(signal, name) for name in names if hasattr(signal, name)]


def can_fork() -> bool:
    """Whether this process may fork: POSIX, and no other thread (a fork copies locks other threads hold)."""
    return hasattr(os, "fork") and threading.active_count() == 1


def progress_bar(iterable: Iterable[Any] | None = None, **kwargs: Any) -> Any:
    """A tqdm bar without tqdm's monitor thread: that thread would make :func:`can_fork` false for the
    rest of the process (no isolated write, no worker processes)."""
    from tqdm import tqdm

    class _Bar(tqdm):  # type: ignore[misc, valid-type]
        monitor_interval = 0

    return _Bar(iterable, **kwargs)
