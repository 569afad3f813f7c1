"""Windowed-sinc resampling as the modelling community does it: the algorithm of
``torchaudio.functional.resample`` (Hann-windowed sinc, ``lowpass_filter_width=6``, ``rolloff=0.99``), which
deepSTRF applies to the NS1 wavs, written in numpy so that reading a file needs no torch.

The output is the input's band-limited interpolation at the new rate, sample 0 at the input's sample 0:
``y[j] = sum_i x[i] * h(i / orig - j / new)``, ``h`` a sinc cut off at ``rolloff`` times the lower Nyquist
frequency and windowed over ``lowpass_filter_width`` of its zero crossings on each side. Like torchaudio, the
rates are reduced by their greatest common divisor, the input is zero padded at both ends, and the output has
``ceil(n * new / orig)`` samples. torchaudio builds the kernel and sums in the waveform's dtype (float32 for
deepSTRF); this module does both in float64 and returns float32.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

__all__ = ["sinc_resample"]


def _kernel(orig: int, new: int, lowpass_filter_width: int, rolloff: float) -> tuple[np.ndarray, np.ndarray, int]:
    """(taps (new, M), first input offset of each output phase (new,), width) of torchaudio's kernel, keeping
    for each phase only the M taps its window can reach (torchaudio's dense kernel is zero elsewhere)."""
    base = min(orig, new) * rolloff
    width = math.ceil(lowpass_filter_width * orig / base)
    n_taps = 2 * width + 2  # covers |t| < lowpass_filter_width around every phase's centre
    phase = np.arange(new)
    first = (phase * orig) // new  # offset of the phase's window in the padded input (of its block)
    k = first[:, None] + np.arange(n_taps)[None, :]  # torchaudio's tap index, 0 .. 2 * width + orig
    t = ((k - width) / orig - phase[:, None] / new) * base
    t = np.clip(t, -lowpass_filter_width, lowpass_filter_width)
    window = np.cos(t * math.pi / lowpass_filter_width / 2) ** 2
    t = t * math.pi
    with np.errstate(invalid="ignore", divide="ignore"):
        sinc = np.where(t == 0, 1.0, np.sin(t) / t)
    taps = sinc * window * (base / orig)
    taps[k >= 2 * width + orig] = 0.0  # past torchaudio's kernel
    return taps, first, width


def sinc_resample(samples: np.ndarray, orig_hz: float, new_hz: float, *, lowpass_filter_width: int = 6,
                  rolloff: float = 0.99) -> np.ndarray:
    """``samples`` at ``orig_hz`` resampled to ``new_hz`` with torchaudio's windowed-sinc resampler.

    Parameters
    ----------
    samples : np.ndarray, shape (n,)
        The waveform.
    orig_hz, new_hz : float
        Rates, Hz; any two whose ratio is a fraction of modest terms (48828 -> 48000 is 4069 : 4000).
    lowpass_filter_width : int, default 6
        Zero crossings of the sinc kept on each side (torchaudio's default).
    rolloff : float, default 0.99
        Cut-off as a fraction of the lower rate's Nyquist frequency (torchaudio's default).

    Returns
    -------
    np.ndarray, float32, shape (ceil(n * new_hz / orig_hz),)
    """
    if orig_hz <= 0 or new_hz <= 0:
        raise ValueError(f"rates must be positive, got {orig_hz!r} -> {new_hz!r} Hz")
    ratio = Fraction(str(new_hz)) / Fraction(str(orig_hz))
    new, orig = ratio.numerator, ratio.denominator
    x = np.asarray(samples, dtype=np.float64).ravel()
    if new == orig:
        return x.astype(np.float32)
    if max(new, orig) > 1_000_000:
        raise ValueError(f"{orig_hz!r} -> {new_hz!r} Hz is a ratio of {orig}:{new}; give rates with a simpler ratio")
    taps, first, width = _kernel(orig, new, lowpass_filter_width, rolloff)
    n_out = math.ceil(new * x.size / orig)
    n_blocks = math.ceil(n_out / new)
    # torchaudio pads width zeros before and width + orig after; one more block of zeros for the extra tap.
    padded = np.zeros(n_blocks * orig + 2 * width + orig + taps.shape[1] + orig)
    padded[width:width + x.size] = x
    out = np.empty(n_blocks * new)
    # Output j = block * new + phase reads the inputs from block * orig + first[phase] on; blocks go in groups
    # of about 64k outputs (a few MB of gathered inputs at a time).
    gather = first[:, None] + np.arange(taps.shape[1])[None, :]
    group = max(1, 65536 // new)
    for block in range(0, n_blocks, group):
        blocks = np.arange(block, min(block + group, n_blocks))
        windows = padded[blocks[:, None, None] * orig + gather[None, :, :]]
        out[block * new:(blocks[-1] + 1) * new] = np.einsum("bpm,pm->bp", windows, taps).ravel()
    return out[:n_out].astype(np.float32)
