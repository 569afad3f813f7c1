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

from shared import made_once

pytest_plugins = ("pytester",)  # tests/test_open_handles.py runs the fixture below on leaky tests

#: The real NS1 release sits beside the checkout (../shared/ns1-raw); CI has it.
REAL_RAW = Path(os.environ.get("NS1_RAW", Path(__file__).resolve().parents[2] / "shared" / "ns1-raw"))


def _converted_quietly(raw: Path, out: Path, **options: Any) -> Any:
    """``convert(raw, out, **options)``, its warnings silenced (ns1nwb's own are asserted elsewhere); the
    :class:`ns1nwb.ConversionResult`."""
    from ns1nwb import convert

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return convert(raw, out, **options)


@pytest.fixture(scope="session")
def real_raw() -> Path:
    """The real release folder, or a skip saying where it was looked for."""
    if not (REAL_RAW / "MetadataSHEnCneurons.mat").is_file():
        pytest.skip(f"real NS1 release not found at {REAL_RAW} (set NS1_RAW to its folder)")
    return REAL_RAW


# Every fixture below is made once per run (tests/shared.py: once for all pytest-xdist workers) and is
# read-only: a test that changes files works on its own copy.


#: The sample's first steps as the README and docs/tour.md show them. The docs' tests (tests/test_docs.py) reuse
#: what they made and printed rather than converting the sample again.
SAMPLE_COMMANDS = ("ns1nwb sample-data raw", "ns1nwb convert raw ns1.nwb")


@pytest.fixture(scope="session")
def sample_workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A folder where :data:`SAMPLE_COMMANDS` ran as a user runs them (the command line): ``raw``, an 8-unit
    tree with test_data_5ms.mat (seed 0), and ``ns1.nwb``, converted with the defaults. (The folder, each
    command -> what it printed.)"""
    from cliharness import run_in

    return made_once(tmp_path_factory, "sample", lambda folder: (
        folder, {command: run_in(folder, command) for command in SAMPLE_COMMANDS}))


@pytest.fixture(scope="session")
def sample_raw(sample_workspace: tuple[Path, dict[str, str]]) -> Path:
    """A generated 8-unit raw tree with test_data_5ms.mat (seed 0): ``ns1nwb sample-data raw``."""
    return sample_workspace[0] / "raw"


@pytest.fixture(scope="session")
def sample_nwb(sample_workspace: tuple[Path, dict[str, str]]) -> Path:
    """``sample_raw`` converted with the defaults: ``ns1nwb convert raw ns1.nwb``."""
    return sample_workspace[0] / "ns1.nwb"


@pytest.fixture(scope="session")
def sample_48k_nwb(sample_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``sample_raw`` converted with ``audio_rate_hz=48000``: its waveforms resampled."""
    return made_once(tmp_path_factory, "nwb_48k_sample", lambda folder: _converted_quietly(
        sample_raw, folder / "48k.nwb", audio_rate_hz=48000).output_paths[0])


@pytest.fixture(scope="session")
def two_block_conversion(base_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """``base_raw`` (2 units in 2 recording blocks, with test_data_5ms.mat) and its ``convert --dandi
    --dandiset-id 000000`` folder: ``<base>/raw`` (a link to base_raw) and ``<base>/dandiset`` (one file per
    block, dandiset.yaml); (base, the ConversionResult)."""
    def make(base: Path) -> tuple[Path, Any]:
        (base / "raw").symlink_to(base_raw, target_is_directory=True)
        return base, _converted_quietly(base_raw, base / "dandiset", dandi=True, dandiset_id="000000")

    return made_once(tmp_path_factory, "two_block_dandi", make)


@pytest.fixture(scope="session")
def two_block_dandi(two_block_conversion: tuple[Path, Any]) -> Path:
    """``<base>`` of ``two_block_conversion``: ``<base>/raw`` and its ``--dandi`` folder ``<base>/dandiset``."""
    return two_block_conversion[0]


@pytest.fixture(scope="session")
def real_conversion(real_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, list[str]]:
    """The real release converted with the defaults (about 10 s): the :class:`ns1nwb.ConversionResult` and
    the messages of the Ns1Warnings the conversion gave (there should be none)."""
    from ns1nwb import Ns1Warning, convert

    def make(folder: Path) -> tuple[Any, list[str]]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = convert(real_raw, folder / "ns1.nwb")
        return result, [str(w.message) for w in caught if issubclass(w.category, Ns1Warning)]

    return made_once(tmp_path_factory, "real", make)


@pytest.fixture(scope="session")
def real_raw_times(real_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[list[Any]]]:
    """``reference.raw_repeat_times(real_raw)``: every spike of the release as loadmat gives it (unit path ->
    [set][repeat] -> ms), read once for the tests that compare files or grids with it."""
    from reference import raw_repeat_times

    return made_once(tmp_path_factory, "real_raw_times", lambda folder: raw_repeat_times(real_raw))


@pytest.fixture(scope="session")
def real_nwb(real_conversion: tuple[Any, list[str]]) -> Path:
    """The real release converted with the defaults: the pooled file."""
    return real_conversion[0].output_paths[0]


@pytest.fixture(scope="session")
def real_all_nwb(real_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real release converted with ``all_clusters=True`` (279 units)."""
    return made_once(tmp_path_factory, "real_all", lambda folder: _converted_quietly(
        real_raw, folder / "all.nwb", all_clusters=True).output_paths[0])


@pytest.fixture(scope="session")
def real_dandi(real_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The real release's units converted with ``--dandi --dandiset-id 000000`` (15 session files): the
    :class:`ns1nwb.ConversionResult`; the folder is ``output_paths[0].parents[1]``.

    Converted from a copy of the release without its wavs: a session file holds every unit, trial and name of
    its block as read from the real files, and no stimulus templates (the same 20 sounds in all 15 files;
    written for DANDI in tests/nwb/test_dandi.py's folder, and inspected from the real wavs in the pooled file:
    tests/nwb/test_convert.py). That makes the folder 4x faster to write and ``dandi validate`` 2x faster.
    """
    import scipy.io as sio

    from ns1nwb.constants import METADATA_FILE, SPIKES_DIR

    def make(folder: Path) -> Any:
        raw = folder / "raw"
        (raw / SPIKES_DIR).mkdir(parents=True)
        shutil.copy(real_raw / METADATA_FILE, raw)
        for neuron in sio.loadmat(real_raw / METADATA_FILE)["neuron"].ravel():  # each unit's file, its folder's codes
            source = real_raw / SPIKES_DIR / str(neuron["path"].item())
            target = raw / SPIKES_DIR / str(neuron["path"].item())
            target.parent.mkdir(parents=True, exist_ok=True)
            for name in (source.name, f"{source.stem}_1.mat", "clusterquality.mat"):
                if (source.parent / name).is_file() and not (target.parent / name).exists():
                    shutil.copy(source.parent / name, target.parent / name)
        return _converted_quietly(raw, folder / "000000", dandi=True, dandiset_id="000000")

    return made_once(tmp_path_factory, "real_dandi", make)


@pytest.fixture(scope="session")
def real_release(real_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``read_raw_tree(real_raw)``, read once (treat it as read-only)."""
    from ns1nwb import read_raw_tree

    return made_once(tmp_path_factory, "real_release", lambda folder: read_raw_tree(real_raw))


@pytest.fixture(scope="session")
def small_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated 3-unit tree (2 recording blocks) without test_data_5ms.mat."""
    from ns1nwb.sample_data import write_sample_tree

    return made_once(tmp_path_factory, "small_raw", lambda folder: write_sample_tree(
        folder / "raw", n_units=3, seed=0, with_spectrogram=False))


# --------------------------------------------------------------------------- trees for the refusal rows
#
# A small tree and an output folder per test, for the rows that change one raw value and check what the
# reader (tests/release, tests/nwb/test_naming.py) or the command line (tests/cli) makes of it.


@pytest.fixture(scope="session")
def base_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated 2-unit tree (seed 0: 2 recording blocks, 2 ferrets, exp45 and exp57) with test_data_5ms.mat
    (so a conversion computes no cochleagram)."""
    from ns1nwb.sample_data import write_sample_tree

    return made_once(tmp_path_factory, "base_raw", lambda folder: write_sample_tree(folder / "raw", n_units=2,
                                                                                     seed=0))


@pytest.fixture(scope="session")
def cluster_raw(base_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``base_raw`` without wavs and test_data_5ms.mat (the audio plays no part), plus 3 clusters the metadata
    does not name: one with 16-19 / 3-4 repeats in the first unit's block, one 31-set file with 0-4 repeats in
    a later block, one in a folder without clusterquality.mat; clusterquality.mat in the units' folders."""
    import numpy as np

    from clusters import add_cluster, write_quality
    from ns1nwb.constants import SPECTROGRAM_FILE, SPIKES_DIR, WAV_DIR
    from rawedit import unit_paths

    def make(folder: Path) -> Path:
        root = Path(shutil.copytree(base_raw, folder / "raw", ignore=shutil.ignore_patterns(WAV_DIR,
                                                                                             SPECTROGRAM_FILE)))
        first = root / SPIKES_DIR / unit_paths(root)[0]  # exp45_1x32/P04-SH.En.C.U/cluster.07.data.mat
        second = root / SPIKES_DIR / unit_paths(root)[1]  # exp57_B4x8/P03-SH_En_C.Rsh3/cluster.12.data.mat
        rng = np.random.default_rng(3)
        fewer = {s: int(rng.integers(16, 20)) if s < 20 else int(rng.integers(3, 5)) for s in range(32)}
        add_cluster(first, first.with_name("cluster.03.data.mat"), repeats=fewer)
        # A later recording of the same penetration, 31 sets: DRC set 21 missing, the sets after it one earlier.
        add_cluster(first, first.with_name("cluster.09.data.mat"), hours=2.0, drop_sets=(21,),
                    repeats={s: int(rng.integers(0, 5)) for s in range(32)})
        add_cluster(first, root / SPIKES_DIR / "exp45_1x32" / "P05-SH.En.C.D" / "cluster.01.data.mat", hours=5.0)
        write_quality(first.parent, [3, 3, 3, 3, 3, 3, 2, 3, 1])
        write_quality(second.parent, [3] * 11 + [1])
        return root

    return made_once(tmp_path_factory, "cluster_raw", make)


@pytest.fixture(scope="session")
def cluster_nwbs(cluster_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Any]:
    """(the default file, the --all-clusters file, the default conversion's result) of ``cluster_raw``."""
    def make(out: Path) -> tuple[Path, Path, Any]:
        result = _converted_quietly(cluster_raw, out / "default.nwb", audio_rate_hz=None)
        _converted_quietly(cluster_raw, out / "all.nwb", audio_rate_hz=None, all_clusters=True)
        return out / "default.nwb", out / "all.nwb", result

    return made_once(tmp_path_factory, "cluster_nwb", make)


@pytest.fixture(scope="session")
def cluster_dandi(cluster_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``cluster_raw`` converted with ``--dandi --all-clusters`` at the native rate: a file per recording block
    (4), two of them holding only clusters the metadata does not name. The folder."""
    def make(folder: Path) -> Path:
        _converted_quietly(cluster_raw, folder / "dandiset", dandi=True, all_clusters=True, audio_rate_hz=None)
        return folder / "dandiset"

    return made_once(tmp_path_factory, "cluster_dandi", make)


@pytest.fixture
def tree(base_raw: Path, tmp_path: Path) -> Path:
    """A private copy whose MAT files may change; its wav folder is a symlink to the shared one."""
    from rawedit import copy_tree_sharing_wavs

    return copy_tree_sharing_wavs(base_raw, tmp_path / "raw")


@pytest.fixture
def lean_tree(base_raw: Path, tmp_path: Path) -> Path:
    """A private copy without wavs and test_data_5ms.mat (so without stimulus templates): fast to write;
    rows that use it let the 'wavs missing' warning through. For the writer, where the audio plays no part."""
    from ns1nwb.constants import SPECTROGRAM_FILE, WAV_DIR

    return Path(shutil.copytree(base_raw, tmp_path / "raw", ignore=shutil.ignore_patterns(WAV_DIR,
                                                                                          SPECTROGRAM_FILE)))


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


# --------------------------------------------------------------------------- the slowest data first
#
# With pytest-xdist each worker runs a share of the tests in collection order. The first test that needs one
# of these fixtures is moved to the front, the slowest first: each is then made at the start of the run (by one
# worker, while the other goes on with its own tests: tests/shared.py), not near its end with a worker idle.

_SLOWEST_FIXTURES = ("real_dandi", "real_all_nwb", "real_conversion", "real_raw_times")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    first: list[pytest.Item] = []
    for name in _SLOWEST_FIXTURES:
        if any(name in item.fixturenames for item in first):
            continue  # made by a test already in front
        user = next((item for item in items if name in getattr(item, "fixturenames", ())), None)
        if user is not None:
            first.append(user)
    chosen = set(map(id, first))
    items[:] = first + [item for item in items if id(item) not in chosen]


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
