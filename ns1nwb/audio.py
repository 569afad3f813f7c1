"""Stimulus audio: resampling the wavs and the 34-band spectrogram recipe of Rahman et al. (2019)."""

from __future__ import annotations

import functools
from fractions import Fraction

import numpy as np

from .constants import BAND_CENTRES_HZ, WAV_TRUE_RATE_HZ

__all__ = ["resample_waveform", "compute_spectrogram", "band_edges_hz", "SPECTROGRAM_RECIPE"]

#: Written into the spectrogram series' description when it is computed here.
SPECTROGRAM_RECIPE = (
    "computed by ns1nwb from the wav: Hann-windowed FFT (zero padded to 512 points) of 10-ms frames every "
    "5 ms (frame n covers [5n, 5n+10) ms of the true-rate 48828.125 Hz signal), power summed in 34 bands "
    "with centres 500 * 2**(k/6) Hz (500-22627 Hz, edges half-way in log frequency; each FFT bin weighted "
    "by its overlap with the band), 10*log10 of the power, floored at 40 dB below the sound's maximum"
)


def _rate_ratio(target_rate_hz: float, source_rate_hz: float) -> tuple[int, int]:
    ratio = Fraction(str(target_rate_hz)) / Fraction(str(source_rate_hz))
    return ratio.numerator, ratio.denominator


def resample_waveform(samples: np.ndarray, target_rate_hz: float,
                      source_rate_hz: float = WAV_TRUE_RATE_HZ) -> np.ndarray:
    """Resample with scipy's polyphase filter at the exact rational rate ratio.

    Parameters
    ----------
    samples : np.ndarray, shape (n_samples,)
        Waveform at ``source_rate_hz``.
    target_rate_hz : float
        Wanted rate, Hz (48000 gives 3072/3125 of the true 48828.125 Hz).

    Returns
    -------
    np.ndarray, float32, shape (ceil(n_samples * up / down),)
    """
    from scipy.signal import resample_poly

    up, down = _rate_ratio(target_rate_hz, source_rate_hz)
    if up == down:
        return np.asarray(samples, dtype=np.float32).copy()
    return resample_poly(np.asarray(samples, dtype=np.float64), up, down,
                         window=_resample_filter(up, down)).astype(np.float32)


@functools.lru_cache(maxsize=2)  # an odd ratio's filter can be tens of MB
def _resample_filter(up: int, down: int) -> np.ndarray:
    """resample_poly's own default low-pass filter, designed once per ratio (the design costs more than
    filtering a 5-s sound); resample_poly copies it, so the cached array is never changed."""
    from scipy.signal import firwin

    max_rate = max(up, down)
    filter_taps = firwin(2 * 10 * max_rate + 1, 1.0 / max_rate, window=("kaiser", 5.0))
    filter_taps.setflags(write=False)
    return filter_taps


def band_edges_hz() -> np.ndarray:
    """Lower and upper edge of each of the 34 bands, shape (34, 2), Hz."""
    centres = np.asarray(BAND_CENTRES_HZ)
    half_step = 2.0 ** (1.0 / 12.0)  # half of a 1/6-octave step
    return np.stack([centres / half_step, centres * half_step], axis=1)


def compute_spectrogram(samples: np.ndarray, rate_hz: float = WAV_TRUE_RATE_HZ, n_frames: int = 999,
                        frame_ms: float = 10.0, hop_ms: float = 5.0, floor_db: float = 40.0) -> np.ndarray:
    """The 34-band log-power spectrogram of a sound (see ``SPECTROGRAM_RECIPE``).

    Returns
    -------
    np.ndarray, float32, shape (34, n_frames), dB
    """
    samples = np.asarray(samples, dtype=np.float32)
    frame_len = int(round(frame_ms * rate_hz / 1000.0))
    n_fft = 1 << (frame_len - 1).bit_length()
    starts = np.round(np.arange(n_frames) * hop_ms * rate_hz / 1000.0).astype(np.int64)
    padded = np.zeros(int(starts[-1]) + frame_len, dtype=np.float32)
    available = min(samples.size, padded.size)
    padded[:available] = samples[:available]
    frames = padded[starts[:, None] + np.arange(frame_len)[None, :]] * np.hanning(frame_len).astype(np.float32)
    spectrum = np.fft.rfft(frames, n_fft, axis=1)
    power = spectrum.real.astype(np.float64) ** 2 + spectrum.imag.astype(np.float64) ** 2  # (frames, bins)
    # Each FFT bin counts with the fraction of its width inside the band: the lowest bands
    # are narrower than one bin and would otherwise be empty.
    freqs = np.fft.rfftfreq(n_fft, d=1.0 / rate_hz)
    half_bin = freqs[1] / 2.0
    edges = band_edges_hz()
    overlap = np.minimum(edges[:, 1:2], freqs + half_bin) - np.maximum(edges[:, 0:1], freqs - half_bin)
    bank = np.clip(overlap, 0.0, None) / (2.0 * half_bin)  # (34, bins)
    level_db = 10.0 * np.log10(bank @ power.T + 1e-30)
    return np.maximum(level_db, level_db.max() - floor_db).astype(np.float32)
