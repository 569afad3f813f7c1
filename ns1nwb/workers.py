"""How ns1nwb uses several cores and forks: one setting for the reader's threads, the check that makes
forking the isolated writer safe, the signals that stop a command (which the writer must handle alike),
when they are held or deferred, and a progress bar that starts no thread.

Once a command's output is in place a stop can no longer stop anything: from just before the final rename
to the end of the command (:func:`stop_deferral_scope`, :func:`defer_stops`), Ctrl-C and termination
signals are recorded and acted on when the command ends, as a :class:`StoppedAfterOutput`, instead of
landing anywhere (in a finaliser that swallows it with a traceback, or in a line that then says "nothing
was written").

``$NS1NWB_WORKERS`` (a whole number >= 1) sets the number of workers, e.g. 1 on a shared node; by
default it is the cores this process may run on, at most 4 (more gives nothing measurable on this data).
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from .exceptions import SettingError

__all__ = ["WORKERS_ENV", "worker_count", "can_fork", "progress_bar", "stop_signals", "hold_stop_signals",
           "StoppedAfterOutput", "stop_deferral_scope", "defer_stops", "output_placed"]

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


@contextlib.contextmanager
def hold_stop_signals() -> Iterator[None]:
    """Block the stop signals (POSIX) for a few system calls; one that came meanwhile is delivered when the
    block ends."""
    import signal

    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, set(stop_signals()))
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class StoppedAfterOutput(KeyboardInterrupt):
    """Ctrl-C or a termination signal that came once the output was in place: the output is complete."""


@dataclass
class _Deferral:
    scopes: int = 0
    #: defer_stops() was called in the current (or last) outermost scope: the output is (being) put in place.
    placed: bool = False
    #: signal -> its handler before deferral, restored at the end of the outermost scope.
    previous: dict[int, Callable[..., Any]] = field(default_factory=dict)
    received: list[int] = field(default_factory=list)


_DEFERRAL = _Deferral()


def _record(signum: int, frame: Any) -> None:
    if not _DEFERRAL.received:
        _DEFERRAL.received.append(signum)


@contextlib.contextmanager
def stop_deferral_scope() -> Iterator[None]:
    """The span of a command, or of a library call that writes an output, that :func:`defer_stops` may defer
    stops to (scopes nest; the outermost one counts).

    When the outermost scope ends the handlers come back, and a stop recorded meanwhile is acted on: its
    handler is called, and the KeyboardInterrupt it raises is a :class:`StoppedAfterOutput`. When the scope
    ends with an error, the error is what the caller sees and the stop is dropped.
    """
    state = _DEFERRAL
    if state.scopes == 0:
        state.placed = False
    state.scopes += 1
    succeeded = False
    try:
        yield
        succeeded = True
    finally:
        state.scopes -= 1
        if state.scopes == 0 and state.previous:
            _end_deferral(act=succeeded)


def _end_deferral(*, act: bool) -> None:
    import signal

    state = _DEFERRAL
    previous, received = dict(state.previous), list(state.received)
    state.previous.clear()
    state.received.clear()
    for signum, handler in previous.items():
        signal.signal(signum, handler)
    if act and received:
        try:
            previous[received[0]](received[0], None)
        except StoppedAfterOutput:
            raise
        except KeyboardInterrupt:
            raise StoppedAfterOutput() from None


def defer_stops() -> None:
    """From now to the end of the outermost :func:`stop_deferral_scope`, record Ctrl-C and termination
    signals instead of acting on them. Call it just before the final rename of an output.

    A no-op outside a scope and outside the main thread (Python runs handlers there only); handlers that
    are not Python functions (SIG_DFL ends the process at once, SIG_IGN ignores) are left alone.
    """
    import signal

    state = _DEFERRAL
    if state.scopes == 0 or threading.current_thread() is not threading.main_thread():
        return
    state.placed = True
    for signum in stop_signals():
        handler = signal.getsignal(signum)
        if callable(handler) and signum not in state.previous:
            state.previous[signum] = handler
            signal.signal(signum, _record)


def output_placed() -> bool:
    """Whether the current (or last) outermost :func:`stop_deferral_scope` reached :func:`defer_stops`:
    a KeyboardInterrupt seen after it came once the output was in place."""
    return _DEFERRAL.placed


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
