"""Edit raw NS1 MAT files in tests: read, change and write back metadata and spike files.

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


def copy_tree_sharing_wavs(source: Path, destination: Path) -> Path:
    """Copy a raw tree whose MAT files a test may change; the wav folder is a symlink to the source's
    (copying 20 MB per test is slow: tests that change wavs need a full copy)."""
    wav_dir = Path(SPIKES_DIR, WAV_DIR)
    root = Path(shutil.copytree(source, destination, ignore=shutil.ignore_patterns(WAV_DIR)))
    (root / wav_dir).symlink_to((source / wav_dir).resolve(), target_is_directory=True)
    return root
