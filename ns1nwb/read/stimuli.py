"""Stimulus arrays computed from a file's stored waveforms: the authors' cochleagram on the response grid.

Only the reading side: the recipe itself is :func:`ns1nwb.cochleagram.cochleagram` (numpy only, no writer code).
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

from ..cochleagram import DEFAULT_FLOOR_DB, cochleagram
from ..constants import WAV_HEADER_RATE_HZ, WAV_TRUE_RATE_HZ
from .grid import bin_layout

__all__ = ["check_dt_ms", "recipe_rate_hz", "cochleagram_on_grid"]


def check_dt_ms(dt_ms: float) -> tuple[int, int]:
    """(frame step in whole ms, T = floor(4995 / dt_ms)), the response grid's layout.

    Raises
    ------
    ValueError
        One line, when ``dt_ms`` is not a positive whole number of milliseconds.
    """
    if isinstance(dt_ms, bool) or not isinstance(dt_ms, Real) or not math.isfinite(dt_ms) \
            or not float(dt_ms).is_integer() or dt_ms < 1:
        raise ValueError(f"dt_ms={dt_ms!r}: a cochleagram on the response grid needs a whole number of "
                         "milliseconds >= 1 (or dt_ms=None for the stored spectrogram)")
    return bin_layout(dt_ms)


def recipe_rate_hz(stored_rate_hz: float) -> float:
    """The rate handed to the recipe for a waveform stored at ``stored_rate_hz`` (Hz).

    Native samples (48828.125 Hz, ``--audio-rate native``) go in at the wav header's 48828 Hz, the rate MATLAB's
    ``audioread`` reported to the authors, so that their numbers come out exactly; any other stored rate
    (48000 Hz by default, resampled on the true clock) is its own rate.
    """
    return float(WAV_HEADER_RATE_HZ) if stored_rate_hz == WAV_TRUE_RATE_HZ else float(stored_rate_hz)


def cochleagram_on_grid(samples: np.ndarray, stored_rate_hz: float, dt_ms: float) -> np.ndarray:
    """The 'spec-log' cochleagram of a whole stored waveform, cut or padded to the response grid's T frames.

    Parameters
    ----------
    samples : np.ndarray, shape (n_samples,)
        The whole stored waveform (pascals), not cropped to the 4995-ms window: the recipe's frame count
        ``(n_samples - h) // h`` assumes the whole sound, as the authors had it.
    stored_rate_hz : float
        Its rate in the file, Hz; see :func:`recipe_rate_hz` for the rate the recipe is given.
    dt_ms : float
        Frame step, a whole number of ms (:func:`check_dt_ms`).

    Returns
    -------
    np.ndarray, float32, shape (34, T), dB re 1
        ``T = floor(4995 / dt_ms)``. Frames past T are dropped; when the recipe gives fewer than T frames, the
        missing last ones are -70 dB (the recipe's floor, what silence gives).
    """
    width, n_frames = check_dt_ms(dt_ms)
    levels = cochleagram(samples, recipe_rate_hz(stored_rate_hz), float(width))
    if levels.shape[1] >= n_frames:
        return np.ascontiguousarray(levels[:, :n_frames])
    padding = np.full((levels.shape[0], n_frames - levels.shape[1]), DEFAULT_FLOOR_DB, dtype=np.float32)
    return np.concatenate([levels, padding], axis=1)
