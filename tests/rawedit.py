"""Edit raw NS1 MAT files in tests: read, change and write back metadata and spike files; and what the
conversion makes of a tree before it writes anything (:func:`assert_refused`).

Shared by the tests that build broken or unusual raw trees.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io as sio

from ns1nwb.constants import METADATA_FILE, SPIKES_DIR, WAV_DIR


def neurons(root: Path) -> np.ndarray:
    return sio.loadmat(root / METADATA_FILE)["neuron"]


def save_neurons(root: Path, neuron: np.ndarray) -> None:
    sio.savemat(root / METADATA_FILE, {"neuron": neuron})


def unit_paths(root: Path) -> list[str]:
    return [str(n["path"].item()) for n in neurons(root).ravel()]


def unit_spike_file(root: Path, unit: int = 0) -> Path:
    return root / SPIKES_DIR / unit_paths(root)[unit]


def load_spikes(path: Path) -> tuple[dict, np.ndarray]:
    """(the loadmat dict, its ``data.set`` struct array); edit the sets in place, then ``_save``."""
    mat = sio.loadmat(path)
    return mat, mat["data"][0, 0]["set"]


def save(path: Path, mat: dict) -> None:
    """Write back what loadmat returned (without its ``__header__`` etc.)."""
    sio.savemat(path, {k: v for k, v in mat.items() if not k.startswith("__")})


def struct(shape: tuple[int, ...], columns: dict[str, list]) -> np.ndarray:
    """A MATLAB struct array for savemat: fields in the given order, one object per record."""
    arr = np.empty(shape, dtype=[(name, object) for name in columns])
    flat = arr.reshape(-1)
    for name, values in columns.items():
        column = flat[name]
        for i, value in enumerate(values):
            column[i] = value
    return arr


def mat_value(value: Any) -> np.ndarray:
    """``value`` as savemat stores a MATLAB value: text as char, a list as a row, a number as 1x1."""
    if isinstance(value, str):
        return np.array([value])
    if isinstance(value, (list, tuple)):
        return np.array([value], dtype=np.float64) if value else np.zeros((0, 0))
    return np.array([[value]])


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def times_to_seconds(spike_file: Path) -> None:
    mat, sets = load_spikes(spike_file)
    for s in range(sets.shape[1]):
        times = sets[0, s]["repeats"]["t"]
        for r in range(times.shape[1]):
            times[0, r] = times[0, r] / 1000.0
    save(spike_file, mat)


def set_metadata(root: Path, unit: int, field: str, value: Any) -> None:
    """Metadata field ``field`` of unit ``unit`` becomes ``value``."""
    neuron = neurons(root)
    neuron[0, unit][field] = mat_value(value)
    save_neurons(root, neuron)


def set_sweep(spike_file: Path, position: int, value: Any) -> None:
    """``length_signal_ms`` of set ``position`` becomes ``value``."""
    mat, sets = load_spikes(spike_file)
    sets[0, position]["length_signal_ms"] = mat_value(value)
    save(spike_file, mat)


def set_stim_param(spike_file: Path, position: int, name: str, value: Any) -> None:
    """``stim_params.<name>`` of set ``position`` becomes ``value``."""
    mat, sets = load_spikes(spike_file)
    sets[0, position]["stim_params"][0, 0][name] = mat_value(value)
    save(spike_file, mat)


def set_first_spike(spike_file: Path, position: int, value: float) -> None:
    """The first spike of the first non-empty repeat of set ``position`` becomes ``value``."""
    mat, sets = load_spikes(spike_file)
    times = sets[0, position]["repeats"]["t"]
    r = next(i for i in range(times.shape[1]) if times[0, i].size)
    times[0, r] = times[0, r].copy()
    times[0, r][0, 0] = value
    save(spike_file, mat)


def set_timestamps(spike_file: Path, stamps: dict[tuple[int, int], Any]) -> None:
    """The timestamp of repeat ``r`` of set ``s`` becomes ``stamps[s, r]`` (text, or any MAT value)."""
    mat, sets = load_spikes(spike_file)
    for (s, r), stamp in stamps.items():
        sets[0, s]["repeats"][0, r]["timestamp"] = mat_value(stamp)
    save(spike_file, mat)


def timestamps_of(spike_file: Path) -> list[list[str]]:
    """Every repeat's timestamp, set by set."""
    _, sets = load_spikes(spike_file)
    return [[str(stamp.item()) for stamp in sets[0, s]["repeats"]["timestamp"].ravel()]
            for s in range(sets.shape[1])]


def drop_timestamps(spike_file: Path) -> None:
    """Rewrite ``spike_file`` without the ``timestamp`` field (an older export: the synthetic clock)."""
    mat, sets = load_spikes(spike_file)
    for s in range(sets.shape[1]):
        repeats = sets[0, s]["repeats"]
        sets[0, s]["repeats"] = struct(repeats.shape, {name: [rec[name] for rec in repeats.ravel()]
                                                       for name in repeats.dtype.names if name != "timestamp"})
    save(spike_file, mat)


def without_stim_params(spike_file: Path, n_sets: int) -> None:
    """Rewrite ``spike_file`` with ``n_sets`` sets (set 0 again after the 32nd) and no ``stim_params``."""
    mat, sets = load_spikes(spike_file)
    chosen = [sets[0, s % sets.shape[1]] for s in range(n_sets)]
    mat["data"][0, 0]["set"] = struct((1, n_sets), {name: [rec[name] for rec in chosen]
                                                    for name in sets.dtype.names if name != "stim_params"})
    save(spike_file, mat)


def unit_in_first_block(root: Path) -> Path:
    """Make unit 1 a second cluster of unit 0's penetration with the same presentations (one recording block
    of one ferret holding two files); returns its spike file (``cluster.08.data.mat``)."""
    first = unit_spike_file(root, 0)
    second = first.with_name("cluster.08.data.mat")
    shutil.copy(first, second)
    neuron = neurons(root)
    neuron[0, 1]["path"] = np.array([second.relative_to(root / SPIKES_DIR).as_posix()])
    save_neurons(root, neuron)
    return second


def move_unit(root: Path, unit: int, rel_path: str) -> Path:
    """Move unit ``unit``'s spike file to ``spikesandwav/<rel_path>`` and point the metadata there."""
    target = root / SPIKES_DIR / rel_path
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(unit_spike_file(root, unit), target)
    neuron = neurons(root)
    neuron[0, unit]["path"] = np.array([rel_path])
    save_neurons(root, neuron)
    return target


def loop_folders(root: Path) -> None:
    """Folder links that loop under spikesandwav/: ``exp45_1x32/loop -> ..`` and ``self -> self``."""
    (root / SPIKES_DIR / "exp45_1x32" / "loop").symlink_to("..", target_is_directory=True)
    (root / SPIKES_DIR / "self").symlink_to("self")


def wav_links(root: Path) -> Path:
    """Replace the copy's link to a shared wav folder by a folder of links, one per wav: a test may then remove
    a wav (never write one: that would change the shared file). Returns the wav folder."""
    wav_dir = root / SPIKES_DIR / WAV_DIR
    shared = wav_dir.resolve()
    wav_dir.unlink()
    wav_dir.mkdir()
    for wav in sorted(shared.iterdir()):
        (wav_dir / wav.name).symlink_to(wav)
    return wav_dir


def copy_tree_sharing_wavs(source: Path, destination: Path) -> Path:
    """Copy a raw tree whose MAT files a test may change; the wav folder is a symlink to the source's
    (copying 20 MB per test is slow: tests that change wavs need a full copy)."""
    wav_dir = Path(SPIKES_DIR, WAV_DIR)
    root = Path(shutil.copytree(source, destination, ignore=shutil.ignore_patterns(WAV_DIR)))
    (root / wav_dir).symlink_to((source / wav_dir).resolve(), target_is_directory=True)
    return root


def assert_refused(root: Path, *needles: str, error: type[Exception] | None = None, strict: bool = False,
                   all_clusters: bool = False) -> str:
    """What ``ns1nwb convert`` checks before it writes anything (:func:`ns1nwb.read_raw_tree`,
    :func:`ns1nwb.release.plan_blocks`, :func:`ns1nwb.nwb.naming.check_nwb_names`, in that order) refuses
    ``root``: with an ``error`` (default :class:`ns1nwb.exceptions.RawFormatError`) that the command line prints
    as one ``error: <message>`` line with exit code 2, the message holding every needle. Returns the message.
    """
    import pytest

    from ns1nwb.exceptions import Ns1Error, RawFormatError
    from ns1nwb.nwb.naming import check_nwb_names
    from ns1nwb.release import plan_blocks, read_raw_tree

    with pytest.raises(Ns1Error) as caught:
        release = read_raw_tree(root, strict=strict, all_clusters=all_clusters)
        check_nwb_names(release, plan_blocks(release))
    message = str(caught.value)
    assert isinstance(caught.value, error or RawFormatError), f"{type(caught.value).__name__}: {message}"
    assert caught.value.exit_code == 2 and message and "\n" not in message, message
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"
    return message
