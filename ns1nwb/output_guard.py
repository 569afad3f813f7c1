"""Guarding an output: one writer at a time, only regular files replaced, never an input of the run.

Exclusive output
    A conversion holds the lock file ``.<name>.ns1nwb.lock`` beside its output (a file, or the folder of
    ``convert --dandi``) from its first look at the output to its end. A second conversion to the same
    output finds the lock held and is refused at once with one line (exit 2), before any work, instead of
    racing the first: only one of them ever writes the file and says "wrote". The lock is ``fcntl.flock``
    on that file, not the file's mere existence: the kernel releases it when its holder ends, however it
    ends (SIGKILL included), so a lock file left by a killed conversion is simply taken over, with no guess
    about whether a recorded pid is still alive (pids are reused). The file records the holder's pid for the
    message only. The holder removes it on every way out (success, error, Ctrl-C, SIGTERM). Where ``fcntl``
    is missing (Windows) the lock file is created with ``O_CREAT | O_EXCL`` instead, and one left by a
    crash must be removed by hand (the message says so).
Placement
    The finished temporary file becomes the output with ``os.link`` when not overwriting (atomic; it fails
    if anything appeared at the output meanwhile, whoever made it, and then nothing is replaced), and with
    ``os.replace`` after checking again that the output is a regular file when overwriting.
What may be replaced
    Only a regular file. Never a symbolic link, dangling or not (a rename replaces the link, not what it
    points to; ``/proc/self/fd/1`` would become a file), a folder, a device, a FIFO or a socket; and never a
    file the conversion reads, nor anything inside a folder it reads (:func:`refuse_inputs`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import uuid
from pathlib import Path
from typing import Iterable, Iterator

from .exceptions import OutputError
from .workers import hold_stop_signals

__all__ = ["lock_path", "output_lock", "temporary_name", "check_replaceable", "place", "refuse_inputs"]

#: Lock files held by this process (real path -> open descriptor): a nested lock of one output is free.
_HELD: dict[str, int] = {}
#: Longest lock-file name built from the output's name (most file systems take 255 bytes).
_MAX_LOCK_NAME = 200


def lock_path(output: Path) -> Path:
    """``.<name>.ns1nwb.lock`` beside ``output`` (a hashed name when the output's name is very long)."""
    name = f".{output.name}.ns1nwb.lock"
    if len(os.fsencode(name)) > _MAX_LOCK_NAME:
        name = f".{hashlib.sha256(os.fsencode(output.name)).hexdigest()[:16]}.ns1nwb.lock"
    return output.parent / name


@contextlib.contextmanager
def output_lock(output: Path) -> Iterator[None]:
    """Hold ``output``'s lock file for the block: refuse if another process holds it (see the module).

    Raises
    ------
    OutputError
        Another conversion writes ``output``, or the lock file cannot be made (the folder is missing or
        read-only).
    """
    lock = lock_path(output)
    key = os.path.realpath(lock)
    if key in _HELD:  # this process has it already (convert -> write_nwbfile)
        yield
        return
    with hold_stop_signals():  # no lock file left behind by a Ctrl-C between creating and recording it
        fd = _acquire(lock, output)
        _HELD[key] = fd
    try:
        yield
    finally:
        with hold_stop_signals():
            del _HELD[key]
            _release(lock, fd)


def _acquire(lock: Path, output: Path) -> int:
    try:
        import fcntl
    except ImportError:  # Windows
        return _acquire_exclusive(lock, output)
    for _ in range(100):
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as err:
            raise OutputError(f"{output}: cannot create the lock file {lock.name} beside it "
                              f"({err.strerror or err})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            holder = _holder(fd)
            os.close(fd)
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise _busy(output, holder) from None
            raise OutputError(f"{output}: cannot lock {lock.name} ({err.strerror or err})") from None
        # The previous holder removes the file before releasing it: a lock taken on a removed file
        # protects nothing (a third process may have made a new one), so open the path again.
        try:
            current = os.stat(lock, follow_symlinks=False)
        except OSError:
            current = None
        if current is not None and os.path.samestat(os.fstat(fd), current):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)
    raise OutputError(f"{output}: cannot lock {lock.name}: it keeps being replaced")  # pragma: no cover


def _acquire_exclusive(lock: Path, output: Path) -> int:  # pragma: no cover  (no fcntl: Windows)
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise _busy(output, _holder_of(lock), f"; if no conversion runs, remove {lock}") from None
    except OSError as err:
        raise OutputError(f"{output}: cannot create the lock file {lock.name} beside it "
                          f"({err.strerror or err})") from None
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _busy(output: Path, holder: str, hint: str = "") -> OutputError:
    who = f"another ns1nwb process ({holder})" if holder else "another ns1nwb process"
    return OutputError(f"{output}: {who} is writing it; wait for it to end or choose another output{hint}")


def _holder(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        text = os.pread(fd, 32, 0).decode().strip()
        if text.isdigit():
            return f"pid {text}"
    return ""


def _holder_of(lock: Path) -> str:  # pragma: no cover  (Windows)
    with contextlib.suppress(OSError, ValueError):
        text = lock.read_text()[:32].strip()
        if text.isdigit():
            return f"pid {text}"
    return ""


def _release(lock: Path, fd: int) -> None:
    # Remove the file while still holding it (see _acquire), and only if it is still ours.
    with contextlib.suppress(OSError):
        if os.path.samestat(os.fstat(fd), os.stat(lock, follow_symlinks=False)):
            os.unlink(lock)
    with contextlib.suppress(OSError):
        os.close(fd)


def temporary_name(output: Path, suffix: str = "") -> Path:
    """A hidden name beside ``output`` for what becomes it (a file, or a staging folder): short (a long output
    name must not grow too long for the file system), in the same folder (the final rename is atomic),
    unique to this process and call, and with ``partial`` in it, so that what a stopped run leaves is
    recognisable."""
    return output.with_name(f".ns1nwb-{os.getpid()}-{uuid.uuid4().hex[:8]}.partial{suffix}")


def check_replaceable(path: Path, *, overwrite: bool, what: str = "file", suffix: str = ".nwb") -> bool:
    """Whether ``path`` exists; raise unless it is nothing, or a regular file and ``overwrite``.

    Parameters
    ----------
    what : str
        How the messages call the expected kind of output (``file``, ``session file``).
    suffix : str
        The suffix(es) a file name should have, for the message about a folder.

    Raises
    ------
    OutputError
        ``path`` is a symbolic link, a folder, a device, a FIFO or a socket; or a file and not ``overwrite``.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    except OSError as err:
        raise OutputError(f"{path}: cannot look at the output ({err.strerror or err})") from None
    if stat.S_ISLNK(info.st_mode):
        raise OutputError(f"{path}: is a symbolic link; ns1nwb neither replaces nor writes through links, "
                          "give the real path")
    if stat.S_ISDIR(info.st_mode):
        raise OutputError(f"{path}: is a folder; give a file name ending in {suffix}")
    if not stat.S_ISREG(info.st_mode):
        raise OutputError(f"{path}: is not a regular {what} (a device, FIFO or socket); refusing to replace it")
    if not overwrite:
        raise OutputError(f"{path}: already exists; pass --overwrite to replace it")
    return True


def place(tmp: Path, path: Path, *, overwrite: bool) -> None:
    """Make the finished ``tmp`` the output ``path`` (see the module); ``tmp`` is gone on success.

    Raises
    ------
    OutputError
        Something appeared at ``path`` meanwhile (it is left as is), or it is not a regular file.
    OSError
        The rename failed.
    """
    if not overwrite:
        try:
            os.link(tmp, path)  # atomic, and never replaces anything (a dangling link neither)
        except FileExistsError:
            raise OutputError(f"{path}: appeared while converting (another program made it) and is left as "
                              "it is; pass --overwrite to replace it") from None
        except OSError as err:  # a file system without hard links: check, then rename
            if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK,
                                 errno.EXDEV):
                raise
        else:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            return
    check_replaceable(path, overwrite=overwrite)
    os.replace(tmp, path)


def refuse_inputs(output: Path, *, files: Iterable[Path] = (), folders: Iterable[Path] = ()) -> None:
    """Refuse an output that is one of ``files`` or lies in one of ``folders`` (links followed, hard links
    of an input too): a conversion never replaces what it reads.

    Raises
    ------
    OutputError
        Naming the output and the input.
    """
    target = Path(os.path.realpath(output))
    for file in files:
        if target == Path(os.path.realpath(file)) or _same_file(output, file):
            alias = f" ({file})" if str(file) != str(output) else ""
            raise OutputError(f"{output}: is an input of this conversion{alias}; choose another output")
    for folder in folders:
        for real in _folders_under(Path(folder)):
            if target == real or real in target.parents:
                raise OutputError(f"{output}: lies inside {folder}, which this conversion reads; "
                                  "choose an output outside it")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samestat(os.stat(a), os.stat(b))
    except (OSError, ValueError):
        return False


def _folders_under(folder: Path, limit: int = 10_000) -> list[Path]:
    """``folder`` and every folder under it, links followed (each real folder once, so a link loop ends),
    as real paths; at most ``limit``."""
    found: list[Path] = []
    seen: set[tuple[int, int]] = set()
    pending = [folder]
    while pending and len(found) < limit:
        current = pending.pop()
        try:
            info = os.stat(current)
        except (OSError, ValueError):
            continue
        if not stat.S_ISDIR(info.st_mode) or (info.st_dev, info.st_ino) in seen:
            continue
        seen.add((info.st_dev, info.st_ino))
        found.append(Path(os.path.realpath(current)))
        with contextlib.suppress(OSError):
            with os.scandir(current) as entries:
                pending.extend(Path(e.path) for e in entries if _is_folder(e))
    return found


def _is_folder(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=True)
    except OSError:  # a link loop, no permission
        return False
