"""Shared fixtures: generated raw trees (fast, seeded) and the real release when it is there."""

from __future__ import annotations

import gc
import os
import shutil
import sys
import warnings
from pathlib import Path
from typing import Any, Iterator

import pytest

pytest_plugins = ("pytester",)  # tests/test_open_handles.py runs the fixture below on leaky tests

#: The real NS1 release sits beside the checkout (../shared/ns1-raw); CI has it.
REAL_RAW = Path(os.environ.get("NS1_RAW", Path(__file__).resolve().parents[2] / "shared" / "ns1-raw"))


def _converted_quietly(raw: Path, out: Path, **options: Any) -> Path:
    """``convert(raw, out, **options)``, its warnings silenced (ns1nwb's own are asserted elsewhere)."""
    from ns1nwb import convert

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        convert(raw, out, **options)
    return out


@pytest.fixture(scope="session")
def real_raw() -> Path:
    """The real release folder, or a skip saying where it was looked for."""
    if not (REAL_RAW / "MetadataSHEnCneurons.mat").is_file():
        pytest.skip(f"real NS1 release not found at {REAL_RAW} (set NS1_RAW to its folder)")
    return REAL_RAW


@pytest.fixture(scope="session")
def sample_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated 8-unit raw tree with test_data_5ms.mat (seed 0). Treat as read-only."""
    from ns1nwb.sample_data import write_sample_tree

    return write_sample_tree(tmp_path_factory.mktemp("raw") / "ns1", n_units=8, seed=0)


@pytest.fixture(scope="session")
def sample_nwb(sample_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``sample_raw`` converted with the defaults. Treat as read-only."""
    return _converted_quietly(sample_raw, tmp_path_factory.mktemp("nwb") / "sample.nwb")


@pytest.fixture(scope="session")
def two_block_dandi(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated 2-unit tree (seed 5: 2 recording blocks) and its ``--dandi`` folder at the native audio rate
    (no resampling: faster): ``<base>/raw`` and ``<base>/dandiset``, one file per block. Read-only."""
    from ns1nwb.sample_data import write_sample_tree

    base = tmp_path_factory.mktemp("two_block_dandi")
    raw = write_sample_tree(base / "raw", n_units=2, seed=5)
    _converted_quietly(raw, base / "dandiset", dandi=True, audio_rate_hz=None)
    return base


@pytest.fixture(scope="session")
def real_nwb(real_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real release converted with the defaults (about 10 s). Read-only."""
    return _converted_quietly(real_raw, tmp_path_factory.mktemp("real") / "ns1.nwb")


@pytest.fixture(scope="session")
def real_all_nwb(real_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real release converted with ``all_clusters=True`` (279 units). Read-only."""
    return _converted_quietly(real_raw, tmp_path_factory.mktemp("real_all") / "all.nwb", all_clusters=True)


# --------------------------------------------------------------------------- the command line's fault rows
#
# A small tree and an output folder per test, for the rows that run ``ns1nwb convert`` and check what the
# user sees (tests/cliharness.py): test_faults, test_validation, test_output_safety, test_bounded_work.


@pytest.fixture(scope="module")
def base_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated 2-unit tree (2 recording blocks, 2 subjects), no spectrogram. Read-only."""
    from ns1nwb.sample_data import write_sample_tree

    return write_sample_tree(tmp_path_factory.mktemp("faults") / "raw", n_units=2, seed=0, with_spectrogram=False)


@pytest.fixture
def tree(base_raw: Path, tmp_path: Path) -> Path:
    """A private copy whose MAT files may change; its wav folder is a symlink to the shared one."""
    from rawedit import copy_tree_sharing_wavs

    return copy_tree_sharing_wavs(base_raw, tmp_path / "raw")


@pytest.fixture
def lean_tree(base_raw: Path, tmp_path: Path) -> Path:
    """A private copy without wavs (so without stimulus templates): fast to write; rows that use it let the
    'wavs missing' warning through. For faults of the writer, where the audio plays no part."""
    from ns1nwb.constants import WAV_DIR

    return Path(shutil.copytree(base_raw, tmp_path / "raw", ignore=shutil.ignore_patterns(WAV_DIR)))


@pytest.fixture
def wav_tree(base_raw: Path, tmp_path: Path) -> Path:
    """A full private copy, wavs included."""
    return Path(shutil.copytree(base_raw, tmp_path / "raw"))


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


@pytest.fixture
def out(out_dir: Path) -> Path:
    return out_dir / "ns1.nwb"


# --------------------------------------------------------------------------- a hang ends
#
# pytest-timeout (SIGALRM) fails a test stuck in Python code at its timeout; a main thread stuck in a
# C-level lock never runs that handler. pyproject.toml has faulthandler end the process then (a C-level
# dump of every thread first); here its deadline follows each test's own timeout (a timeout marker of
# 600 s must not be cut at the ini's 360), and goes with it when timeouts are off (--timeout=0).

_HARD_EXIT_AFTER_TIMEOUT_S = 60.0


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    import faulthandler

    try:
        from _pytest.faulthandler import fault_handler_stderr_fd_key
        stderr = item.config.stash[fault_handler_stderr_fd_key]
        if not item.config.getini("faulthandler_exit_on_timeout"):
            return
    except (ImportError, KeyError, ValueError):  # pytest < 9, or -p no:faulthandler: keep what pytest armed
        return
    marker = item.get_closest_marker("timeout")
    if marker is not None and (marker.args or "timeout" in marker.kwargs):
        timeout = marker.args[0] if marker.args else marker.kwargs["timeout"]
    else:
        option = item.config.getoption("timeout", None)  # --timeout, over the ini's
        timeout = option if option is not None else item.config.getini("timeout")
    timeout = float(timeout or 0)
    if timeout > 0:
        faulthandler.dump_traceback_later(timeout + _HARD_EXIT_AFTER_TIMEOUT_S, file=stderr, exit=True)
    else:
        faulthandler.cancel_dump_traceback_later()


# --------------------------------------------------------------------------- no handle outlives its test
#
# A file handle left for the garbage collector can hang the suite (issue 12): h5py's one global lock is
# taken by every h5py object's finaliser and by HDMFIO.__del__ (its is_open check), and the collector runs
# on whichever thread happens to allocate. With pynwb over fsspec the main thread holds that lock while it
# waits for fsspec's IO thread; if the IO thread collects such an object, both wait forever. Closing is
# not enough: a pynwb/hdmf io sits in reference cycles, so even a closed one is freed (and its __del__
# run) only by the collector. So each test starts and ends with a collection on the main thread (nothing
# from one test is left for a later test's threads to finalise), and fails, with an error at teardown,
# when it opened a handle and did not close it.
#
# Cheap because of gc.freeze(): after the collection at setup every live object is moved to the
# permanent generation, so the collections and the gc.get_objects() scan at teardown only walk the
# objects made during the test (a few ms instead of ~0.25 s each on a full heap). Frozen objects are
# not collected at all; a full collection every _FULL_COLLECT_EVERY tests (on the main thread, between
# tests) gives back what they leave behind.

_FULL_COLLECT_EVERY = 50
_tests_since_full_collect = 0
#: (module, class) of the handles checked; a module not imported yet cannot have made one.
_HANDLE_TYPES = (("h5py", "File"), ("hdmf.backends.io", "HDMFIO"), ("fsspec.spec", "AbstractBufferedFile"),
                 ("remfile", "File"))


def _still_open(obj: Any) -> str | None:
    """What ``obj`` (an instance of one of _HANDLE_TYPES) is, if it is still open; else None."""
    kind = type(obj)
    name = f"{kind.__module__}.{kind.__qualname__}"
    h5py = sys.modules.get("h5py")
    if h5py is not None and isinstance(obj, h5py.File):
        fid = getattr(obj, "_id", None)  # None: a File whose __init__ failed (not an HDF5 file...)
        return f"h5py.File {fid.name.decode(errors='replace')!r}" if fid is not None and fid.valid else None
    io = sys.modules.get("hdmf.backends.io")
    if io is not None and isinstance(obj, io.HDMFIO):  # pynwb.NWBHDF5IO, hdmf's HDF5IO, ...
        try:
            still = bool(obj.is_open())
        except Exception:  # noqa: BLE001  (an io whose __init__ failed half-way)
            still = False
        return f"{name} (source {getattr(obj, 'source', None)!r})" if still else None
    spec = sys.modules.get("fsspec.spec")
    if spec is not None and isinstance(obj, spec.AbstractBufferedFile):
        return None if obj.closed else f"{name} {getattr(obj, 'path', '?')!r}"
    # remfile.File: its close() does nothing; what it holds open is its requests session's connections.
    adapters = getattr(getattr(obj, "session", None), "adapters", None) or {}
    pools = sum(len(getattr(getattr(a, "poolmanager", None), "pools", ())) for a in adapters.values())
    return f"{name} {getattr(obj, '_url', '?')!r} (its session's connections)" if pools else None


def _open_hdf5_files() -> dict[int, str]:
    h5py = sys.modules.get("h5py")
    if h5py is None:
        return {}
    names = {}
    for fid in h5py.h5f.get_obj_ids(types=h5py.h5f.OBJ_FILE):
        names[fid.id] = fid.name.decode(errors="replace") if isinstance(fid.name, bytes) else str(fid.name)
    return names


@pytest.fixture(autouse=True)
def _no_open_handles() -> Iterator[None]:
    """Fail a test that leaves an h5py file, an hdmf/pynwb io, a remfile or an fsspec file open.

    Also fails on any ResourceWarning during the test (an unclosed io, file or socket that was
    garbage-collected: HDMFIO.__del__ warns so). Other warnings pass through to pytest unchanged.
    """
    global _tests_since_full_collect
    _tests_since_full_collect += 1
    if _tests_since_full_collect >= _FULL_COLLECT_EVERY:
        _tests_since_full_collect = 0
        gc.unfreeze()
    gc.collect()
    gc.freeze()
    files_before = _open_hdf5_files()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        yield
        # Before collecting: what the test kept, and what it dropped open in a reference cycle (which only
        # the collector would close, on whatever thread it happens to run). gc.get_objects() lists only
        # what was made since the freeze at setup.
        types = tuple(getattr(sys.modules[m], c) for m, c in _HANDLE_TYPES if m in sys.modules)
        problems = [what for what in (_still_open(o) for o in gc.get_objects() if isinstance(o, types)) if what]
        gc.collect()  # the test's cyclic garbage, finalised here, on the main thread
    problems += [f"{w.category.__name__}: {w.message}" for w in caught if issubclass(w.category, ResourceWarning)]
    for w in caught:  # every other warning goes on to pytest's own record
        if not issubclass(w.category, ResourceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    shown = "\n".join(problems)
    problems += [f"HDF5 file {name!r} (id {fid})" for fid, name in _open_hdf5_files().items()
                 if fid not in files_before and name not in shown]
    if problems:
        pytest.fail("left open by this test (close it, use `with`, or a fixture that closes it):\n  "
                    + "\n  ".join(problems), pytrace=False)
