"""The stimuli's stored sounds as :class:`~ns1nwb.Recording` gives them: spectrograms, cochleagrams on the
response grid's bins, and waveforms cut to the response window.

Every read goes through :meth:`NwbFile.read`, so a chunk HDF5 cannot read is the damaged-file error.
"""

from __future__ import annotations

import numpy as np

from ..constants import RESPONSE_WINDOW_MS, WAV_HEADER_RATE_HZ, WAV_TRUE_RATE_HZ
from .files import NwbFile
from .grid import bin_layout

__all__ = ["stored_spectrogram", "cochleagram_on_grid", "window_samples", "recipe_rate"]


def recipe_rate(stored_rate_hz: float) -> float:
    """The rate a stored waveform is read at: native samples (48828.125 Hz) at the wav header's 48828 Hz, as
    MATLAB's ``audioread`` and deepSTRF read them; any other rate as it is."""
    return float(WAV_HEADER_RATE_HZ) if stored_rate_hz == WAV_TRUE_RATE_HZ else float(stored_rate_hz)


def stored_spectrogram(nwb: NwbFile, name: str) -> np.ndarray:
    """The stored spectrogram template ``name``: float32 (bands, frames)."""
    data = nwb.template_data(name)
    if data.ndim != 3:
        raise nwb.damaged_error(f"stimulus/templates/{name}/data has shape {data.shape}, not (frames, 1, bands)")
    return np.ascontiguousarray(nwb.read(data)[:, 0, :].T, dtype=np.float32)


def cochleagram_on_grid(nwb: NwbFile, name: str, dt_ms: float, what: str) -> np.ndarray:
    """The 'spec-log' cochleagram of the whole stored waveform ``name``, cut or padded to the response grid's
    T frames.

    The whole waveform (pascals), not cropped to the 4995-ms window: the recipe's frame count
    ``(n_samples - h) // h`` assumes the whole sound, as the authors had it. Native samples (48828.125 Hz,
    ``--audio-rate native``) go in at the wav header's 48828 Hz, the rate MATLAB's ``audioread`` reported to the
    authors, so that their numbers come out exactly; any other stored rate (``--audio-rate 48000``, resampled on
    the true clock) is its own rate. Returns float32 (34, T), dB re 1; frames past T are dropped, missing last
    ones are -70 dB (the recipe's floor, what silence gives).

    Raises
    ------
    ValueError
        One line naming ``what`` (the stimulus): a frame (2 x ``dt_ms``) longer than the sound, or a stored rate
        too low for the 34 bands.
    """
    from ..cochleagram import DEFAULT_FLOOR_DB, cochleagram

    width, n_frames = bin_layout(dt_ms)
    data, rate = nwb.template_data(name), nwb.template_rate(name)
    hop = round(width / 1000.0 * recipe_rate(rate))
    if data.shape[0] < 2 * hop:  # the recipe has no frame then; known from the shape, before reading
        longest = data.shape[0] / 2 / recipe_rate(rate) * 1000.0
        raise ValueError(f"dt_ms={dt_ms!r}: a cochleagram frame spans 2 x dt_ms, longer than {what}'s "
                         f"{data.shape[0]:,} samples at {rate:g} Hz; dt_ms may be at most {int(longest)} here")
    samples = nwb.read(data)
    try:
        levels = cochleagram(samples, recipe_rate(rate), float(width))
    except ValueError as err:
        raise ValueError(f"{what}: no cochleagram from a waveform stored at {rate:g} Hz: {err}") from None
    if levels.shape[1] >= n_frames:
        return np.ascontiguousarray(levels[:, :n_frames])
    padding = np.full((levels.shape[0], n_frames - levels.shape[1]), DEFAULT_FLOOR_DB, dtype=np.float32)
    return np.concatenate([levels, padding], axis=1)


def window_samples(nwb: NwbFile, name: str, rate_hz: float | None) -> np.ndarray:
    """The stored waveform ``name`` (float32), resampled to ``rate_hz`` when given (see
    :meth:`Recording.waveform`), then cropped or zero padded to the 4995-ms window."""
    samples, rate = nwb.template_data(name), nwb.template_rate(name)
    if rate_hz is not None:
        from ..resample import sinc_resample

        n_samples = int(round(RESPONSE_WINDOW_MS / 1000.0 * rate_hz))
        data = sinc_resample(nwb.read(samples), recipe_rate(rate), rate_hz)[:n_samples]
    else:
        n_samples = int(round(RESPONSE_WINDOW_MS / 1000.0 * rate))
        data = nwb.read(samples, slice(0, n_samples)).astype(np.float32)
    if data.size < n_samples:
        data = np.concatenate([data, np.zeros(n_samples - data.size, dtype=np.float32)])
    return data
