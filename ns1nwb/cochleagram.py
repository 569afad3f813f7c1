"""The stimuli as sound: resampling the wavs, and the 'spec-log' cochleagram that Rahman et al. (2019,
2020) fed their models of the NS1 neurons.

The cochleagram is our own implementation of the recipe the authors published as MATLAB in
github.com/monzilur/cochlear_models (``cochleagram_spec_log.m`` with its filter bank
``Spectrogram/melbankbw.m``, a variant of VOICEBOX's ``melbankm`` called with the options ``'lusc'``).
It only needs numpy; the resampling uses scipy.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .constants import WAV_TRUE_RATE_HZ

__all__ = ["resample_waveform", "cochleagram", "cochleagram_filterbank", "cochleagram_bands", "COCHLEAGRAM_RECIPE"]


#: 34 bands, 1/6 octave apart, centres from 500 Hz to 500 * 2**(33/6) Hz (about 22,627 Hz).
DEFAULT_N_BANDS = 34
DEFAULT_F_LO_HZ = 500.0
DEFAULT_F_HI_HZ = 500.0 * 2.0 ** (33 / 6)
DEFAULT_FLOOR_DB = -70.0
#: The FFT is 4 times the window (zero padded) so that the narrow low bands still cover FFT bins.
FFT_LENGTH_FACTOR = 4

#: Written into an NWB description when the cochleagram is computed here.
COCHLEAGRAM_RECIPE = (
    "'spec-log' cochleagram of Rahman et al. (PLoS Comput Biol 2019; PNAS 2020), computed by ns1nwb "
    "following the authors' MATLAB (github.com/monzilur/cochlear_models, cochleagram_spec_log.m with the "
    "VOICEBOX-derived filter bank melbankbw.m, options 'lusc'): the wav at its header rate fs = 48828 Hz is cut "
    "into frames of 2h samples every h = round(dt * fs) samples (h = 244 at 5 ms), starting at sample 0 without "
    "padding, so there are floor((N - h) / h) frames; each frame is multiplied by a symmetric Hamming window, "
    "zero padded to an FFT of 4 * 2h points, and its magnitude |X| (not power) is kept; 34 triangular filters, "
    "triangles in log10 frequency with centres 500 * 2**(k/6) Hz (k = 0..33, 500-22627 Hz) and feet at the "
    "neighbouring centres (the top one cut at the Nyquist frequency), are sampled at the FFT bins and scaled "
    "so that each filter's weights sum to 1 (each band is a weighted mean of |X|); then 20*log10 of each band, "
    "floored at -70 dB."
)


def _check_bands(n_bands: int, f_lo_hz: float, f_hi_hz: float) -> None:
    if isinstance(n_bands, bool) or not isinstance(n_bands, (int, np.integer)) or n_bands < 2:
        raise ValueError(f"n_bands must be an integer >= 2 (the band spacing comes from the outer centres), "
                         f"got {n_bands!r}")
    if not (math.isfinite(f_lo_hz) and math.isfinite(f_hi_hz) and 0.0 < f_lo_hz < f_hi_hz):
        raise ValueError(f"need 0 < f_lo_hz < f_hi_hz (finite, Hz), got f_lo_hz={f_lo_hz!r}, f_hi_hz={f_hi_hz!r}")


def _log10_centres_and_step(n_bands: int, f_lo_hz: float, f_hi_hz: float) -> tuple[np.ndarray, float]:
    _check_bands(n_bands, f_lo_hz, f_hi_hz)
    log_lo, log_hi = math.log10(f_lo_hz), math.log10(f_hi_hz)
    step = (log_hi - log_lo) / (n_bands - 1)
    return log_lo + step * np.arange(n_bands), step


def cochleagram_bands(n_bands: int = DEFAULT_N_BANDS, f_lo_hz: float = DEFAULT_F_LO_HZ,
                      f_hi_hz: float = DEFAULT_F_HI_HZ) -> tuple[np.ndarray, np.ndarray]:
    """Centres and edges of the cochleagram's triangular bands.

    Parameters
    ----------
    n_bands : int
        Number of bands (>= 2).
    f_lo_hz, f_hi_hz : float
        Centres of the lowest and highest band, Hz; the centres in between are equally spaced in log frequency.

    Returns
    -------
    centres_hz : np.ndarray, float64, shape (n_bands,)
        Band centres, Hz (where each triangle's weight peaks).
    edges_hz : np.ndarray, float64, shape (n_bands, 2)
        Lower and upper foot of each triangle, Hz: the neighbouring centres (one log step beyond the outer
        centres for the first and last band), so adjacent bands overlap by half. The filter bank uses FFT bins
        strictly inside these feet; an upper foot above the Nyquist frequency (the top band at 48828 Hz) is
        simply cut there.
    """
    log_centres, step = _log10_centres_and_step(n_bands, f_lo_hz, f_hi_hz)
    edges = np.stack([log_centres - step, log_centres + step], axis=1)
    return 10.0 ** log_centres, 10.0 ** edges


def _frame_geometry(rate_hz: float, dt_ms: float) -> tuple[int, int, int]:
    """Hop, window length and FFT length in samples, after checking the rate and the bin width."""
    if isinstance(rate_hz, bool) or not isinstance(rate_hz, (int, float, np.integer, np.floating)) \
            or not math.isfinite(rate_hz) or rate_hz <= 0:
        raise ValueError(f"rate_hz must be a positive finite number (Hz), got {rate_hz!r}")
    if isinstance(dt_ms, bool) or not isinstance(dt_ms, (int, float, np.integer, np.floating)) \
            or not math.isfinite(dt_ms) or dt_ms <= 0 or float(dt_ms) != round(float(dt_ms)):
        raise ValueError(f"dt_ms must be a positive whole number of milliseconds, got {dt_ms!r}")
    hop = round(float(dt_ms) / 1000.0 * float(rate_hz))  # the recipe's dt is a whole number of samples
    if hop < 1:
        raise ValueError(f"dt_ms={dt_ms} ms is less than one sample at {rate_hz} Hz")
    window = 2 * hop
    return hop, window, FFT_LENGTH_FACTOR * window


def cochleagram_filterbank(rate_hz: float, dt_ms: float = 5.0, *, n_bands: int = DEFAULT_N_BANDS,
                           f_lo_hz: float = DEFAULT_F_LO_HZ, f_hi_hz: float = DEFAULT_F_HI_HZ) -> np.ndarray:
    """Weights that turn one frame's FFT magnitudes into the cochleagram's bands.

    Parameters
    ----------
    rate_hz : float
        Sample rate, Hz (48828 for the NS1 wavs, their header rate).
    dt_ms : float
        Frame step, a whole number of ms; it fixes the FFT length ``4 * 2 * round(dt_ms / 1000 * rate_hz)``.
    n_bands, f_lo_hz, f_hi_hz
        As in :func:`cochleagram_bands`.

    Returns
    -------
    np.ndarray, float64, shape (n_bands, n_fft // 2 + 1)
        Row k holds band k's triangle (in log10 frequency, peak at its centre, zero at its feet) sampled at
        the one-sided FFT bins ``j * rate_hz / n_fft``, divided by its sum so that every row sums to 1. No
        factor 2 for negative frequencies (one-sided); the DC bin always has weight 0.

    Raises
    ------
    ValueError
        On bad arguments, or when a band covers no FFT bin (too short a frame, or a band above Nyquist).
    """
    _, _, n_fft = _frame_geometry(rate_hz, dt_ms)
    log_centres, step = _log10_centres_and_step(n_bands, f_lo_hz, f_hi_hz)
    bin_hz = np.arange(n_fft // 2 + 1) * (float(rate_hz) / n_fft)
    with np.errstate(divide="ignore"):  # log10(0) = -inf at DC: infinitely far below every band
        bin_position = (np.log10(bin_hz) - log_centres[0]) / step  # in band steps from the lowest centre
    weights = np.clip(1.0 - np.abs(bin_position[None, :] - np.arange(n_bands)[:, None]), 0.0, None)
    totals = weights.sum(axis=1)
    empty = np.flatnonzero(totals == 0)
    if empty.size:
        centres_hz = 10.0 ** log_centres[empty]
        raise ValueError(
            f"{empty.size} band(s) cover no FFT bin at {rate_hz} Hz and dt_ms={dt_ms} (bins every "
            f"{rate_hz / n_fft:.1f} Hz up to {rate_hz / 2:.1f} Hz), e.g. the band centred at {centres_hz[0]:.1f} Hz; "
            "use a longer dt_ms or bands below the Nyquist frequency"
        )
    return weights / totals[:, None]


def cochleagram(samples: np.ndarray, rate_hz: float, dt_ms: float = 5.0, *, n_bands: int = DEFAULT_N_BANDS,
                f_lo_hz: float = DEFAULT_F_LO_HZ, f_hi_hz: float = DEFAULT_F_HI_HZ,
                floor_db: float = DEFAULT_FLOOR_DB) -> np.ndarray:
    """The 'spec-log' cochleagram of a sound, as Rahman et al. computed it for their models.

    Follows ``cochleagram_spec_log(x, fs, dt, 'log', n_bands, f_lo_hz, f_hi_hz)`` of the authors' MATLAB
    repository github.com/monzilur/cochlear_models (Rahman et al., PLoS Comput Biol 2019, "A dynamic network
    model of temporal receptive fields in primary auditory cortex"; Rahman et al., PNAS 2020, "Simple
    transformations capture auditory input to cortex"):

    1. hop ``h = round(dt_ms / 1000 * rate_hz)`` samples; frames of ``2h`` samples start at samples 0, h, 2h, ...
       with no padding, so ``n_frames = (n_samples - h) // h`` (999 for the 244140-sample NS1 wavs at 5 ms);
    2. each frame times a symmetric Hamming window of ``2h`` points (MATLAB's ``spectrogram`` default), zero
       padded to an FFT of ``4 * 2h`` points; the magnitude |X| is kept (not the power);
    3. ``n_bands`` triangular filters on a log10-frequency axis (see :func:`cochleagram_filterbank`), each
       scaled so that its weights sum to 1: a band is a weighted mean of |X| over the bins it covers;
    4. ``20 * log10`` of each band, floored at ``floor_db`` (an absolute floor, -70 dB).

    Parameters
    ----------
    samples : np.ndarray, shape (n_samples,)
        The waveform, finite values (the NS1 wavs hold float32 pressure in arbitrary units).
    rate_hz : float
        Sample rate, Hz. For the NS1 wavs the authors used what MATLAB's ``audioread`` reports, the header rate
        48828 Hz (the true rate is 48828.125 Hz); the difference shifts band edges by 3 ppm.
    dt_ms : float
        Frame step, a whole number of ms (5 for the published models).
    n_bands, f_lo_hz, f_hi_hz
        Number of bands and the centres of the lowest and highest band, Hz (defaults: 34 bands at 1/6 octave,
        500 Hz to about 22,627 Hz).
    floor_db : float
        Lowest value returned, dB.

    Returns
    -------
    np.ndarray, float32, shape (n_bands, n_frames), dB re 1 (amplitude)
        Row k is the band centred at ``cochleagram_bands(...)[0][k]``; column n is the frame covering samples
        ``[n*h, n*h + 2h)``, i.e. centred at ``(n + 1) * h / rate_hz`` s (MATLAB's time vector).

    Raises
    ------
    ValueError
        If ``samples`` is not 1-D or not finite, ``rate_hz`` is not positive, ``dt_ms`` is not a positive whole
        number of ms, the sound is shorter than one frame (``2h`` samples), or a band covers no FFT bin.
    """
    waveform = np.asarray(samples)
    if waveform.ndim != 1:
        raise ValueError(f"samples must be 1-D (one channel), got shape {waveform.shape}")
    if not np.issubdtype(waveform.dtype, np.number) or np.iscomplexobj(waveform):
        raise ValueError(f"samples must be real numbers, got dtype {waveform.dtype}")
    waveform = waveform.astype(np.float64, copy=False)  # MATLAB's audioread gives doubles
    if not np.all(np.isfinite(waveform)):
        raise ValueError(f"samples must be finite; {int(np.count_nonzero(~np.isfinite(waveform)))} are NaN or inf")
    if not math.isfinite(floor_db):
        raise ValueError(f"floor_db must be finite, got {floor_db!r}")
    hop, window_len, n_fft = _frame_geometry(rate_hz, dt_ms)
    weights = cochleagram_filterbank(rate_hz, dt_ms, n_bands=n_bands, f_lo_hz=f_lo_hz, f_hi_hz=f_hi_hz)
    n_frames = (waveform.size - hop) // hop
    if n_frames < 1:
        raise ValueError(f"{waveform.size} samples are shorter than one {window_len}-sample frame "
                         f"(2 x {dt_ms} ms at {rate_hz} Hz)")

    frames = sliding_window_view(waveform, window_len)[::hop][:n_frames]  # a view: (n_frames, window_len)
    magnitude = np.abs(np.fft.rfft(frames * np.hamming(window_len), n=n_fft, axis=1))
    band_amplitude = weights @ magnitude.T
    with np.errstate(divide="ignore"):  # silence gives log10(0) = -inf, which the floor replaces
        level_db = 20.0 * np.log10(band_amplitude)
    return np.maximum(level_db, floor_db).astype(np.float32)


# --------------------------------------------------------------------------- resampling

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
