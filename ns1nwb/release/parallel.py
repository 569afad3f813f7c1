"""Reading many spike files in forked reader processes.

A speed device that earns its place (``benchmarks/README.md``): loadmat's parsing holds the GIL, so
threads would not help; forked processes (``$NS1NWB_WORKERS``, default one per core, at most 4) read and
send each file back as a :class:`~ns1nwb.release.spike_files.SpikeFileContent` (a few arrays: ~10^4 small
ones would pickle far slower). fork is used only where it is safe (no other thread, not a daemon process).
"""

from __future__ import annotations

import os
import threading
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ..exceptions import SettingError
from .model import SourceFile
from .spike_files import SpikeFileContent, read_spike_file

__all__ = ["spike_file_results", "worker_count", "WORKERS_ENV"]

#: Environment variable that sets how many processes read spike files (e.g. 1 on a shared node).
WORKERS_ENV = "NS1NWB_WORKERS"


#: Fewer spike files than this are read in this process (starting workers would cost more).
_PARALLEL_MIN_FILES = 16


@contextmanager
def spike_file_results(spike_files: list[Path]) -> Iterator[Iterator[tuple[SpikeFileContent, SourceFile]]]:
    """The content and the checksum of each file, in order; read in forked worker processes when that pays
    (16 files or more, fork safe, more than one worker).

    The workers start on entering the block (before any progress bar's thread) and stop on
    leaving it, also when the block stops early: files not yet started are not read.
    """
    if len(spike_files) < _PARALLEL_MIN_FILES or _worker_processes() < 2:
        yield map(read_spike_file, spike_files)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(max_workers=_worker_processes(), mp_context=multiprocessing.get_context("fork"),
                               initializer=_ignore_sigint)
    try:
        # Every file submitted now: the workers are forked here, before the caller starts a progress bar's thread.
        results = pool.map(_read_in_worker, spike_files, chunksize=4)
        yield _pool_results(results, spike_files)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _pool_results(results: Iterator[Any], spike_files: list[Path]) -> Iterator[tuple[SpikeFileContent, SourceFile]]:
    from concurrent.futures.process import BrokenProcessPool

    done = 0
    try:
        for content, source, caught in results:
            for message, category in caught:  # what loadmat warned about, as if read here
                warnings.warn(message, category, stacklevel=2)
            done += 1
            yield content, source
    except BrokenProcessPool:
        # A worker died (killed for memory, say): read the rest here, where an error names its file.
        yield from map(read_spike_file, spike_files[done:])


def _ignore_sigint() -> None:
    """In a worker: Ctrl-C is the parent's to handle (it stops the pool), not a traceback per worker; a
    termination signal ends the worker at once (also without a traceback)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)


def _worker_processes() -> int:
    """How many reader processes: 1 (read here) where forking is not safe (other threads; a daemon
    ``multiprocessing.Pool`` worker may not have children)."""
    import multiprocessing

    # A fork copies the locks other threads hold; a daemon multiprocessing worker may have no children.
    if not hasattr(os, "fork") or threading.active_count() > 1 or multiprocessing.current_process().daemon:
        return 1
    return worker_count()


def worker_count() -> int:
    """``$NS1NWB_WORKERS`` if set, else the usable cores (at most 4: more gives nothing measurable here).

    Raises
    ------
    SettingError
        ``$NS1NWB_WORKERS`` is set but not a whole number from 1 to 1024.
    """
    setting = os.environ.get(WORKERS_ENV, "").strip()
    if setting:
        if not setting.isdigit() or not 1 <= int(setting) <= 1024:
            raise SettingError(f"{WORKERS_ENV}={setting!r}: expected a whole number from 1 to 1024 (or leave it "
                               "unset)")
        return int(setting)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(4, cores))


def _read_in_worker(spike_file: Path) -> tuple[SpikeFileContent, SourceFile, list[tuple[str, type[Warning]]]]:
    """:func:`read_spike_file` in a worker, with the warnings it raised (the parent raises them again)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        content, source = read_spike_file(spike_file)
    return content, source, [(str(w.message), w.category) for w in caught]

