"""Writing NWB files to disk safely: the one place where ns1nwb touches its outputs.

- **One writer per output.** :func:`output_lock` holds ``.<name>.ns1nwb.lock`` beside the output (a file, or
  the folder of ``convert --dandi``) with :mod:`filelock` (``flock``: the kernel frees it when its holder
  ends, however it ends); a second conversion of the same output is refused at once.
- **Nothing half-written.** Each file is built by pynwb in memory, written to a hidden temporary name beside its
  target (:func:`write_to`) and renamed into place only when every file of the call is complete (:func:`staged_files`); a set of files is
  placed all or none, an existing file is only replaced with ``overwrite``, and the temporaries are removed on
  every way out. Temporaries of killed conversions of the same output are removed by the next one.
- **Only regular files replaced; never an input.** Symbolic links (even dangling), folders, devices and FIFOs
  are refused (:func:`check_replaceable`), and so is an output that is a file the conversion reads or lies in
  a folder it reads (:func:`refuse_inputs`).

A stop (Ctrl-C; SIGTERM and SIGHUP through the command line) while the files are being placed waits for the
placing to end; one that came then raises :class:`~ns1nwb.exceptions.OutputComplete`, since the output is
complete.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import signal
import stat
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from .exceptions import OutputComplete, OutputError

if TYPE_CHECKING:
    from pynwb import NWBFile

__all__ = ["write_nwbfile", "write_to", "output_lock", "staged_files", "check_replaceable", "refuse_inputs",
           "lock_path", "temporary_name"]

#: Longest output name used as it is in the names of its lock and temporaries (file systems take 255 bytes).
_MAX_NAME = 200
#: What names a temporary file or folder of ns1nwb (tests and users recognise it by this).
PARTIAL = ".ns1nwb-partial"
#: HDF5 metadata aggregation block of the files written (see :func:`write_to`): all of a file's metadata fits
#: in the first (about 0.75 MB for the pooled file); the default, 2 kB, scatters it through the whole file.
METADATA_BLOCK_BYTES = 1 << 20
#: Errors of os.link that mean "this file system has no hard links", not "the target exists".
_NO_HARD_LINKS = (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK, errno.EXDEV)


def write_nwbfile(nwbfile: "NWBFile", file_path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write an in-memory NWB file to ``file_path`` safely (see the module).

    Raises
    ------
    OutputError
        The folder does not exist, the output exists without ``overwrite`` or is not a regular file, another
        process writes it, or writing failed (nothing is left at or beside the output).
    """
    path = Path(file_path)
    with output_lock(path):
        check_replaceable(path, overwrite=overwrite)
        with staged_files([path], overwrite=overwrite) as (temporary,):
            write_to(nwbfile, temporary, path)
    return path


def write_to(nwbfile: "NWBFile", temporary: Path, target: Path) -> None:
    """Write ``nwbfile`` to ``temporary`` with pynwb; a failure of the disk names ``target``.

    The HDF5 file is built in memory (HDF5's core driver) and written with one plain write: a full disk or an
    I/O error is then an ``OSError`` of that write. Inside HDF5 it would leave h5py in a state that floods
    stderr with tracebacks and crashes the interpreter at exit. HDF5 keeps the metadata (every group's and
    dataset's header) together in blocks of :data:`METADATA_BLOCK_BYTES`, the first at the start of the file,
    so that a reader over HTTP finds it in one request (ns1nwb/read/remote.py).
    """
    import h5py
    from pynwb import NWBHDF5IO

    memory = h5py.File(temporary.name, "w", driver="core", backing_store=False, meta_block_size=METADATA_BLOCK_BYTES)
    try:
        with NWBHDF5IO(file=memory, mode="w") as io:
            io.write(nwbfile)
            memory.flush()
            image = memory.id.get_file_image()
    finally:
        memory.close()
    try:
        with open(temporary, "wb") as file:
            file.write(image)
    except OSError as err:
        raise OutputError(f"{target}: writing failed ({err.strerror or err}); nothing was written") from err


# ----------------------------------------------------------------------------------------- the lock

def _short_name(output: Path) -> str:
    """``output``'s name, or a hash of it when a name built from it could pass the file system's 255 bytes."""
    if len(os.fsencode(output.name)) > _MAX_NAME:
        return hashlib.sha256(os.fsencode(output.name)).hexdigest()[:16]
    return output.name


def lock_path(output: Path) -> Path:
    """``.<name>.ns1nwb.lock`` beside ``output`` (a hashed name when the output's name is very long)."""
    return output.parent / f".{_short_name(output)}.ns1nwb.lock"


@contextlib.contextmanager
def output_lock(output: Path) -> Iterator[None]:
    """Hold ``output``'s lock for the block (nested holds in one process are free); on entering, remove what
    killed conversions of the same output left.

    Raises
    ------
    OutputError
        ``output``'s folder does not exist, another process writes ``output``, or the lock file cannot be made
        (a read-only folder).
    """
    from filelock import FileLock, Timeout

    if not output.parent.is_dir():  # (filelock would make it)
        raise OutputError(f"{output}: output folder {output.parent} does not exist; create it first")
    lock = FileLock(lock_path(output), blocking=False, is_singleton=True)
    try:
        lock.acquire()
    except Timeout:
        raise OutputError(f"{output}: another ns1nwb process is writing it; wait for it to end or choose "
                          "another output") from None
    except OSError as err:
        raise OutputError(f"{output}: cannot create the lock file {lock_path(output).name} beside it "
                          f"({err.strerror or err})") from None
    try:
        if lock.lock_counter == 1:
            _remove_leftovers(output)
        yield
    finally:
        if lock.lock_counter == 1:  # removed while held: a waiting process then takes a fresh file
            with contextlib.suppress(OSError):
                os.unlink(lock_path(output))
        lock.release()


def _temporary_prefix(target: Path) -> str:
    return f".{_short_name(target)}."


def _remove_leftovers(output: Path) -> None:
    """Remove the temporaries a killed conversion of ``output`` left beside it (the caller holds its lock)."""
    import shutil

    prefix = _temporary_prefix(output)
    with contextlib.suppress(OSError):
        for entry in output.parent.iterdir():
            if entry.name.startswith(prefix) and entry.name.endswith(PARTIAL) and not entry.is_symlink():
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)


def temporary_name(target: Path) -> Path:
    """A hidden, unique name beside ``target`` that says whose temporary it is."""
    return target.with_name(f"{_temporary_prefix(target)}{uuid.uuid4().hex[:12]}{PARTIAL}")


# -------------------------------------------------------------------------------- placing files

@contextlib.contextmanager
def staged_files(targets: list[Path], *, overwrite: bool, staging: Path | None = None) -> Iterator[list[Path]]:
    """Temporary paths for ``targets``; when the block ends without an error, every target is put in place at
    once (all or none), else nothing is. The temporaries are gone on every way out.

    Parameters
    ----------
    staging : Path, optional
        A folder, on the targets' file system, to hold the temporaries (e.g. for targets in folders that do not
        exist yet); by default each sits beside its target.

    Raises
    ------
    OutputError
        A target exists without ``overwrite`` (or appeared meanwhile), or is not a regular file, or placing
        failed (what was placed is undone).
    OutputComplete
        A stop came while the files were being placed: they are all in place.
    """
    temporaries = [temporary_name(staging / f"{i}" if staging else target) for i, target in enumerate(targets)]
    try:
        yield temporaries
        placed = False
        try:
            with _stops_held():  # a stop that comes meanwhile is delivered as the block ends
                _place_all(temporaries, targets, overwrite=overwrite)
                placed = True
        except KeyboardInterrupt:
            if placed:
                raise OutputComplete(targets) from None
            raise
    finally:
        for temporary in temporaries:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def _stops_held() -> Iterator[None]:
    """Hold Ctrl-C and the termination signals for a few renames: one that comes meanwhile is acted on at the
    end. Python handlers only, in the main thread (where Python runs them); SIG_DFL and SIG_IGN stay."""
    import threading

    received: list[int] = []
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for name in ("SIGINT", "SIGTERM", "SIGHUP"):
            signum = getattr(signal, name, None)
            if signum is not None and callable(signal.getsignal(signum)):
                previous[signum] = signal.signal(signum, lambda number, frame: received.append(number))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if received:
            previous[received[0]](received[0], None)


def _place_all(temporaries: list[Path], targets: list[Path], *, overwrite: bool) -> None:
    """Rename each temporary to its target; on any failure, undo what was done (old files come back)."""
    done: list[tuple[Path, Path | None]] = []  # (target, the old file's backup or None)
    made_folders: list[Path] = []
    try:
        for temporary, target in zip(temporaries, targets):
            if not target.parent.is_dir():
                target.parent.mkdir()
                made_folders.append(target.parent)
            backup = None
            if check_replaceable(target, overwrite=overwrite):
                backup = temporary.with_name(temporary.name + ".old")
                os.rename(target, backup)
            done.append((target, backup))
            _link_or_rename(temporary, target)
    except BaseException as err:
        for target, backup in reversed(done):
            with contextlib.suppress(OSError):
                if backup is not None:
                    os.replace(backup, target)
                elif target.exists():
                    target.unlink()
        for folder in reversed(made_folders):
            with contextlib.suppress(OSError):
                folder.rmdir()
        if isinstance(err, OSError) and not isinstance(err, OutputError):
            where = getattr(err, "filename", None) or targets[len(done) - 1 if done else 0]
            raise OutputError(f"{where}: cannot put the new file in place ({err.strerror or err}); nothing was "
                              "changed") from err
        raise
    for _, backup in done:
        if backup is not None:
            with contextlib.suppress(OSError):
                backup.unlink()


def _link_or_rename(temporary: Path, target: Path) -> None:
    """Make ``temporary`` the ``target``: a hard link, which never replaces anything (a file that appeared at
    the target meanwhile is left as it is), or a rename where the file system has no hard links."""
    try:
        os.link(temporary, target)
    except FileExistsError:
        raise OutputError(f"{target}: appeared while converting (another program made it) and is left as it "
                          "is; pass --overwrite to replace it") from None
    except OSError as err:
        if err.errno not in _NO_HARD_LINKS:
            raise
        os.rename(temporary, target)
    else:
        os.unlink(temporary)


# ----------------------------------------------------------------------------------- what may be replaced

def check_replaceable(path: Path, *, overwrite: bool, suffix: str = ".nwb") -> bool:
    """Whether ``path`` exists; raise unless it is nothing, or a regular file and ``overwrite``.

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
        raise OutputError(f"{path}: is not a regular file (a device, FIFO or socket); refusing to replace it")
    if not overwrite:
        raise OutputError(f"{path}: already exists; pass --overwrite to replace it")
    return True


def refuse_inputs(output: Path, *, files: Iterable[Path] = (), folders: Iterable[Path] = ()) -> None:
    """Refuse an output that is one of ``files`` or lies in one of ``folders`` (links followed, hard links of an
    input too): a conversion never replaces what it reads.

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
    """``folder`` and every folder under it, links followed (each real folder once, so a link loop ends), as
    real paths; at most ``limit``."""
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
                for entry in entries:
                    with contextlib.suppress(OSError):
                        if entry.is_dir(follow_symlinks=True):
                            pending.append(Path(entry.path))
    return found
