"""The response-grid algorithm: spikes -> binned (and smoothed) counts, exactly as the seed computes them.

The response grid follows the seed (deepSTRF ``NS1Dataset``) exactly: spike
times in ms after onset rounded to integer ms (``np.round``), kept in
``[0, T * dt_ms)``, one-hot per ms (two spikes in one rounded ms count once),
summed per ``dt_ms`` bin, then optionally smoothed with the unnormalised
``np.hanning(K)`` kernel, ``K = int(window_ms // dt_ms)`` made odd, zero padded.

One numpy path, whatever the order of the spikes: each spike's (row, rounded ms) becomes one integer;
sorted, two spikes of a row in one rounded ms are neighbours and count once; the counts per bin are
then spread over the kernel's taps into rows padded by the kernel's reach on each side, which is the
zero padding, and the middle of each row is the grid's. The work grows with the spikes and the taps,
not with the grid's size.
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
    elif out.dtype != np.float32 or out.shape != (n_rows, n_bins):
        raise ValueError(f"out must be float32 ({n_rows}, {n_bins}), got {out.dtype} {out.shape}")
    kernel = np.ones(1) if kernel is None or np.size(kernel) == 0 else np.asarray(kernel, dtype=np.float64)
    taps = [(offset - kernel.size // 2, float(weight)) for offset, weight in enumerate(kernel) if weight != 0.0]
    reach = max((abs(shift) for shift, _ in taps), default=0)
    padded = n_bins + 2 * reach  # a row of the buffer: the T bins and the kernel's reach on each side

    ms = np.rint(relative_ms)
    kept = (ms >= 0) & (ms < n_bins * width)  # False for NaN too
    kept &= (row >= 0) & (row < n_rows)
    # (row, ms) as one integer whose quotient by the bin width is the spike's place in the padded buffer.
    keys = row[kept].astype(np.int64) * (padded * width) + ms[kept].astype(np.int64) + reach * width
    keys.sort(kind="stable")  # timsort: a file's spikes come in runs already in order
    places = keys[_firsts(keys)] // width  # one spike per (row, rounded ms)
    starts = np.flatnonzero(_firsts(places))
    counts = np.diff(starts, append=places.size)
    places = places[starts]

    dtype = np.float32 if _exact_in_float32(taps, width) else np.float64
    buffer = np.zeros(n_rows * padded, dtype=dtype)
    counts = counts.astype(dtype)
    for shift, weight in taps:  # in kernel order: each value's terms are summed in the seed's order
        buffer[places + shift] += counts * dtype(weight)
    out[...] = buffer.reshape(n_rows, padded)[:, reach:reach + n_bins]
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
