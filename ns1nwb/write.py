"""Writing one NWB file safely: a temporary name beside the output, an isolated writer process, a rename.

:func:`write_nwbfile` is the only function of ns1nwb that writes an NWB file to disk. On POSIX, in a
single-threaded process, the HDF5 write runs in a forked child: when HDF5 fails half-way (a full disk)
its state cannot be trusted, and in-process it can crash the interpreter at exit. An error, a crash or
Ctrl-C while writing removes the temporary file, so nothing half-written is ever left at the output path.
The output is exclusive (a lock file beside it: a second process writing it is refused), only a regular
file is ever replaced, and without ``overwrite`` the rename is a hard link that fails if anything appeared
at the output meanwhile (:mod:`ns1nwb.output_guard`). Once the file is in place, a Ctrl-C or SIGTERM waits
for the end of the call (:func:`ns1nwb.workers.defer_stops`).
The file is written by pynwb as it is, with no tricks.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .exceptions import OutputError
from .output_guard import check_replaceable, output_lock, place, temporary_name
from .workers import can_fork, defer_stops, hold_stop_signals, stop_deferral_scope, stop_signals

if TYPE_CHECKING:
    from pynwb import NWBFile

__all__ = ["write_nwbfile", "check_output_path", "WriterProcessError", "ISOLATED_WRITE"]

#: Write HDF5 in a forked child (POSIX): a failed HDF5 write cannot take the process down.
ISOLATED_WRITE = hasattr(os, "fork")


def write_nwbfile(nwbfile: "NWBFile", file_path: str | os.PathLike, *, overwrite: bool = False,
                  finish: Callable[[Path], None] | None = None, final: bool = True) -> Path:
    """Write ``nwbfile`` to a temporary name beside ``file_path``, then rename it into place.

    On POSIX, in a single-threaded process, the HDF5 write runs in a forked child (see the module's
    docstring); elsewhere, or with other threads running (a fork would copy their locks), here.
    ``finish``, if given, is called with the temporary file's path once pynwb has written and closed it,
    by the same process (e.g. :func:`ns1nwb.trial_references.write_trial_references`).
    The output's lock is held throughout (:mod:`ns1nwb.output_guard`). With ``final`` (the file is what
    the caller set out to write, not a staging copy), a Ctrl-C or SIGTERM from the rename on is acted on
    when the call (or the command around it) ends, as :class:`ns1nwb.workers.StoppedAfterOutput`.

    Raises
    ------
    OutputError
        The folder does not exist, the output exists without ``overwrite`` or is not a regular file,
        another process writes it, or writing failed.
    """
    path = Path(file_path)
    check_output_path(path, overwrite=overwrite)
    with stop_deferral_scope(), output_lock(path):
        check_output_path(path, overwrite=overwrite)  # again, now that no other ns1nwb process can make it
        tmp = temporary_name(path, ".nwb")
        try:
            failure = (_write_in_child(nwbfile, tmp, finish) if ISOLATED_WRITE and can_fork()
                       else _write_here(nwbfile, tmp, finish))
            if failure is not None:
                raise OutputError(f"{path}: writing failed ({failure}); nothing was written")
            if final:
                defer_stops()  # from the rename on, a stop cannot stop anything: it waits for the end
            place(tmp, path, overwrite=overwrite)
        except OSError as err:
            if isinstance(err, OutputError):
                raise
            raise OutputError(f"{path}: writing failed ({err.strerror or err}); nothing was written") from err
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
    return path


def _failure_text(err: BaseException) -> str | None:
    """A short reason for a failed write, or None when the error is not about the output."""
    chain: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    for item in chain:
        if isinstance(item, OSError) and (item.errno or item.strerror):
            return item.strerror or os.strerror(item.errno)
        match = re.search(r"errno = (\d+)", str(item))
        if match:
            return os.strerror(int(match.group(1)))
    return None


def _write_here(nwbfile: "NWBFile", tmp: Path, finish: Callable[[Path], None] | None = None) -> str | None:
    """Write ``nwbfile`` to ``tmp`` with pynwb, then ``finish(tmp)``; None on success, else why writing failed
    (an error about the output)."""
    from pynwb import NWBHDF5IO

    try:
        with NWBHDF5IO(tmp, mode="w") as io:
            io.write(nwbfile)
        if finish is not None:
            finish(tmp)
    except Exception as err:
        reason = _failure_text(err)
        if reason is None:
            raise
        return reason
    return None


class WriterProcessError(RuntimeError):
    """A forked writer failed with an error that is not about the output (a bug): its report."""

    def __init__(self, report: str):
        super().__init__(f"writing the NWB file failed in the writer process: {report}")
        self.report = report


@dataclass
class _WriterProcess:
    """A forked writer (:func:`_start_writer`): its pid and the read end of its report pipe."""

    pid: int
    pipe: int
    reaped: bool = False

    def result(self) -> str | None:
        """Wait for the writer; None on success, else why writing failed (an error about the output).

        Raises
        ------
        KeyboardInterrupt
            Ctrl-C here (the writer is stopped) or in the writer.
        WriterProcessError
            The writer failed otherwise.
        """
        import signal

        pipe_fd, self.pipe = self.pipe, -1  # the file object below owns (and closes) it
        try:
            with os.fdopen(pipe_fd, "rb") as pipe:
                report = pipe.read().decode(errors="replace")
            _, status = os.waitpid(self.pid, 0)
            self.reaped = True
        except KeyboardInterrupt:
            self.kill()
            raise
        if os.WIFSIGNALED(status):
            if os.WTERMSIG(status) == signal.SIGINT:
                raise KeyboardInterrupt
            return f"the HDF5 writer died with signal {os.WTERMSIG(status)}"
        code = os.WEXITSTATUS(status)
        if code == 0:
            return None
        if code == 3:
            return report
        if code == 4:
            raise KeyboardInterrupt
        raise WriterProcessError(report)

    def kill(self) -> None:
        """Stop the writer at once."""
        import signal

        if self.pipe >= 0:
            with contextlib.suppress(OSError):
                os.close(self.pipe)
            self.pipe = -1
        if self.reaped:  # its pid may belong to another process by now
            return
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(self.pid, 0)
        self.reaped = True


def _die_with_parent(parent_pid: int) -> None:
    """In a forked writer (Linux): be killed when the process that forked it dies (say, killed itself),
    instead of writing on as an orphan."""
    import ctypes
    import signal

    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent_pid:  # it died before the request took effect
        os._exit(4)


def _start_writer(nwbfile: "NWBFile", tmp: Path, finish: Callable[[Path], None] | None) -> _WriterProcess:
    """Fork a process that writes ``nwbfile`` to ``tmp`` (:func:`_write_here`) and reports through a pipe.

    Call it inside :func:`ns1nwb.workers.hold_stop_signals`. The writer stays in its caller's process group, so a
    terminal's Ctrl-C or a signal to the whole group reaches it too; on Linux it also dies with the
    process that forked it.

    Raises
    ------
    OSError
        The fork failed (no pipe is left open).
    """
    read_end, write_end = os.pipe()
    parent_pid = os.getpid()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        raise
    if pid == 0:  # the child: write, report, and leave without running the parent's cleanup
        code, report = 4, b""
        try:
            import signal

            os.close(read_end)
            _die_with_parent(parent_pid)
            # After an HDF5 failure h5py prints a traceback for every object it cannot free; the
            # child's failures travel through the pipe and the parent reports them once.
            with contextlib.suppress(OSError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 2)
            if hasattr(signal, "pthread_sigmask"):  # the parent held them while forking
                signal.pthread_sigmask(signal.SIG_UNBLOCK, set(stop_signals()))
            reason = _write_here(nwbfile, tmp, finish)
            code = 0
            if reason is not None:
                code, report = 3, reason.encode()
        except KeyboardInterrupt:
            code = 4
        except BaseException as err:  # noqa: BLE001  (reported to the parent, which raises it)
            code, report = 5, f"{type(err).__name__}: {err}".encode()
        finally:
            with contextlib.suppress(BaseException):
                os.write(write_end, report[:4000])
            os._exit(code)
    os.close(write_end)
    return _WriterProcess(pid, read_end)


def _write_in_child(nwbfile: "NWBFile", tmp: Path, finish: Callable[[Path], None] | None) -> str | None:
    """Write in a forked child; None on success or the reason it failed."""
    writer: _WriterProcess | None = None
    try:
        with hold_stop_signals():
            writer = _start_writer(nwbfile, tmp, finish)
        return writer.result()
    except KeyboardInterrupt:
        if writer is not None:
            writer.kill()
        raise


def check_output_path(path: Path, *, overwrite: bool) -> None:
    """Refuse an output whose folder is missing, that exists (without ``overwrite``), or that is not a
    regular file: a symbolic link (even dangling), a folder, a device, a FIFO
    (:func:`ns1nwb.output_guard.check_replaceable`)."""
    if not path.parent.is_dir():
        raise OutputError(f"{path}: output folder {path.parent} does not exist; create it first")
    check_replaceable(path, overwrite=overwrite)

