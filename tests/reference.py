"""Independent references the tests compare ns1nwb against, computed straight from the raw .mat files.

Deliberately written the slow, obvious way (one loop per repeat, as the seed does)
and sharing no code with ns1nwb.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io as sio


def raw_repeat_times(root: Path) -> dict[str, list[list[np.ndarray]]]:
    """unit path -> [set][repeat] -> spike times (ms) exactly as loadmat returns them."""
    meta = sio.loadmat(Path(root) / "MetadataSHEnCneurons.mat")
    out = {}
    for neuron in meta["neuron"][0]:
        path = str(neuron["path"].item())
        mat = sio.loadmat(Path(root) / "spikesandwav" / path)
        sets = mat["data"]["set"][0, 0]
        out[path] = [
            [np.asarray(sets["repeats"][0, s][0]["t"][r], dtype=float).ravel()
             for r in range(sets["repeats"][0, s].shape[1])]
            for s in range(sets.shape[1])
        ]
    return out


def seed_response(times_by_repeat: list[np.ndarray], dt_ms: int = 5, smooth: bool = True,
                  window_ms: float = 21.0) -> np.ndarray:
    """The seed's (R, T) matrix for one unit and one stimulus."""
    n_bins = 4995 // dt_ms
    span = n_bins * dt_ms
    matrix = np.zeros((len(times_by_repeat), n_bins), dtype=np.float32)
    for r, times in enumerate(times_by_repeat):
        st = np.round(times).astype(np.int64)
        st = st[(st >= 0) & (st < span)]
        one_hot = np.zeros(span, dtype=np.float32)
        one_hot[st] = 1.0
        matrix[r] = one_hot.reshape(-1, dt_ms).sum(axis=1)
    if smooth:
        width = int(window_ms // dt_ms)
        width += 1 - width % 2
        kernel = np.hanning(width)
        half = width // 2
        padded = np.pad(matrix.astype(np.float64), ((0, 0), (half, half)))
        matrix = np.stack([np.convolve(row, kernel, mode="valid") for row in padded]).astype(np.float32)
    return matrix


def seed_grid(root: Path, stimuli=range(20), dt_ms: int = 5, smooth: bool = True,
              window_ms: float = 21.0, times: dict[str, list[list[np.ndarray]]] | None = None) -> np.ndarray:
    """(N, S, R, T) grid of every unit in metadata order (``times``: ``raw_repeat_times(root)`` when given)."""
    times = raw_repeat_times(root) if times is None else times
    return np.stack([
        np.stack([seed_response(per_set[s], dt_ms, smooth, window_ms) for s in stimuli])
        for per_set in times.values()
    ])
