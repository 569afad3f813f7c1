"""The response-grid algorithm: spikes -> binned (and smoothed) counts, exactly as the seed computes them.

The response grid follows the seed (deepSTRF ``NS1Dataset``) exactly: spike
times in ms after onset rounded to integer ms (``np.round``), kept in
``[0, T * dt_ms)``, one-hot per ms (two spikes in one rounded ms count once),
summed per ``dt_ms`` bin, then optionally smoothed with the unnormalised
``np.hanning(K)`` kernel, ``K = int(window_ms // dt_ms)`` made odd, zero padded.

One numpy path, whatever the order of the spikes: each spike's (row, rounded ms) becomes one integer;
sorted, two spikes of a row in one rounded ms are neighbours and count once; the count of each bin
holding spikes is then added to its neighbours, tap by tap of the kernel, within its row. The work
grows with the spikes and the kernel's taps, not with the grid's size.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..constants import DEFAULT_DT_MS, RESPONSE_WINDOW_MS

__all__ = ["hanning_kernel", "bin_layout", "bin_spike_times"]


def hanning_kernel(window_ms: float, dt_ms: float) -> np.ndarray:
    """The seed's smoothing kernel: ``np.hanning(K)``, ``K = int(window_ms // dt_ms)`` made odd, unnormalised."""
    width = int(window_ms // dt_ms)
    if width % 2 == 0:
        width += 1
    return np.hanning(width)


def bin_layout(dt_ms: float) -> tuple[int, int]:
    """(bin width in whole ms, number of bins T = floor(4995 / dt_ms)): the reader's one check of ``dt_ms``.

    Used for the response grid and for cochleagrams framed on it.

    Raises
    ------
    ValueError
        One line, when ``dt_ms`` is not a whole number of milliseconds from 1 to 4995 (the response window).
    """
    if isinstance(dt_ms, (bool, np.bool_)) or not isinstance(dt_ms, numbers.Real) or not math.isfinite(dt_ms) \
            or not float(dt_ms).is_integer() or not 1 <= dt_ms <= RESPONSE_WINDOW_MS:
        raise ValueError(f"dt_ms={dt_ms!r}: bins are sums of whole milliseconds, so dt_ms must be a whole number "
                         f"from 1 to the {RESPONSE_WINDOW_MS}-ms response window")
    width = int(dt_ms)
    return width, RESPONSE_WINDOW_MS // width


def bin_spike_times(relative_ms: np.ndarray, row: np.ndarray, n_rows: int, dt_ms: float = DEFAULT_DT_MS,
                    kernel: np.ndarray | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """Count spikes per (row, bin) the seed's way, optionally smoothed.

    Parameters
    ----------
    relative_ms : np.ndarray, shape (n_spikes,)
        Spike times, ms after the onset of their presentation, in any order; NaN and
        infinite times are dropped.
    row : np.ndarray of int, shape (n_spikes,)
        Output row of each spike (e.g. a flattened (stimulus, repeat)); rows outside
        ``[0, n_rows)`` are dropped.
    n_rows : int
    dt_ms : float, whole milliseconds
    kernel : np.ndarray, optional
        Smoothing kernel (odd length, symmetric), e.g. :func:`hanning_kernel`; None or
        empty for raw counts.
    out : np.ndarray, float32, shape (n_rows, T), optional
        Where to write the grid (every value is written); a new array when None.

    Returns
    -------
    np.ndarray, float32, shape (n_rows, T)
        T = floor(4995 / dt_ms); a rounded millisecond holding two spikes of a row counts once.
        Smoothed values are summed in float64 over the kernel's taps in kernel order and rounded
        once to float32, as the seed does; for kernels in multiples of 1/256 (the default
        ``np.hanning(5)`` = (0, 0.5, 1, 0.5, 0)) float32 sums are exact, so they are summed in float32.
    """
    width, n_bins = bin_layout(dt_ms)
    relative_ms = np.asarray(relative_ms, dtype=np.float64)
    row = np.asarray(row)
    if row.shape != relative_ms.shape:
        raise ValueError(f"{row.size} rows for {relative_ms.size} spike times")
    if row.dtype.kind not in "iu":
        raise TypeError(f"spike rows must be integers, got {row.dtype}")
    if out is None:
        out = np.empty((n_rows, n_bins), dtype=np.float32)
    elif out.dtype != np.float32 or out.shape != (n_rows, n_bins) or not out.flags.c_contiguous:
        raise ValueError(f"out must be C-contiguous float32 ({n_rows}, {n_bins}), got {out.dtype} {out.shape}")
    kernel = np.ones(1) if kernel is None or np.size(kernel) == 0 else np.asarray(kernel, dtype=np.float64)
    taps = [(offset - kernel.size // 2, float(weight)) for offset, weight in enumerate(kernel) if weight != 0.0]

    ms = np.rint(relative_ms)
    kept = (ms >= 0) & (ms < n_bins * width)  # False for NaN too
    kept &= row.astype(np.int64, copy=False).view(np.uint64) < n_rows  # a negative row is huge unsigned
    # (row, rounded ms) as one integer (exact in float64), whose quotient by the bin width is row * T + bin.
    keys = np.multiply(row, float(n_bins * width))
    keys += ms
    keys = keys[kept].astype(np.int64)
    keys.sort(kind="stable")  # timsort: a file's spikes come in runs already in order
    places = keys[_firsts(keys)] // width  # one spike per (row, rounded ms)
    starts = np.flatnonzero(_firsts(places))
    counts = np.diff(starts, append=places.size)
    places = places[starts]
    columns = places % n_bins

    if _exact_in_float32(taps, width):
        out[...] = 0.0
        sums = out
    else:
        sums = np.zeros(out.shape, dtype=np.float64)
    flat = sums.reshape(-1)
    counts = counts.astype(sums.dtype)
    for shift, weight in taps:  # in kernel order: each value's terms are summed in the seed's order
        # Zero padding: what a tap would carry past either end of a row is dropped.
        inside = slice(None) if shift == 0 else columns >= -shift if shift < 0 else columns < n_bins - shift
        flat[places[inside] + shift] += counts[inside] * sums.dtype.type(weight)
    if sums is not out:
        out[...] = sums
    return out


def _firsts(ordered: np.ndarray) -> np.ndarray:
    """True where a value of a sorted array differs from the one before it (the first of each run)."""
    first = np.empty(ordered.size, dtype=bool)
    first[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return first


def _exact_in_float32(taps: list[tuple[int, float]], width: int) -> bool:
    """Whether float32 sums of spike counts times these weights are exact, in any order.

    True of weights in multiples of 1/256 (the default ``np.hanning(5)`` and raw counts) whose
    sums stay below 2**16 (a bin holds at most ``width`` spikes): every partial sum then fits
    float32's 24 bits.
    """
    return all(weight * 256.0 == round(weight * 256.0) for _, weight in taps) and \
        width * sum(abs(weight) for _, weight in taps) < 2.0 ** 16
