"""The response-grid algorithm: spikes -> binned (and smoothed) counts, exactly as the seed computes them.

The response grid follows the seed (deepSTRF ``NS1Dataset``) exactly: spike
times in ms after onset rounded to integer ms (``np.round``), kept in
``[0, T * dt_ms)``, one-hot per ms (two spikes in one rounded ms count once),
summed per ``dt_ms`` bin, then optionally smoothed with the unnormalised
``np.hanning(K)`` kernel, ``K = int(window_ms // dt_ms)`` made odd, zero padded.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..constants import DEFAULT_DT_MS, RESPONSE_WINDOW_MS

__all__ = ["hanning_kernel", "bin_spike_times", "bin_layout", "exact_in_float32", "fill_rows"]


def hanning_kernel(window_ms: float, dt_ms: float) -> np.ndarray:
    """The seed's smoothing kernel: ``np.hanning(K)``, ``K = int(window_ms // dt_ms)`` made odd, unnormalised."""
    width = int(window_ms // dt_ms)
    if width % 2 == 0:
        width += 1
    return np.hanning(width)


def bin_layout(dt_ms: float) -> tuple[int, int]:
    """(bin width in whole ms, number of bins T = floor(4995 / dt_ms)); dt_ms a whole number in [1, 4995]."""
    if isinstance(dt_ms, (bool, np.bool_)) or not isinstance(dt_ms, numbers.Real):
        raise TypeError(f"dt_ms must be a number of milliseconds, got {dt_ms!r}")
    if not float(dt_ms).is_integer() or dt_ms < 1:
        raise ValueError(f"dt_ms={dt_ms!r}: bins are sums of whole milliseconds, so dt_ms must be a whole number >= 1")
    if dt_ms > RESPONSE_WINDOW_MS:  # no bin would fit in the response window
        raise ValueError(f"dt_ms={dt_ms!r}: a bin cannot be longer than the {RESPONSE_WINDOW_MS}-ms response window")
    width = int(dt_ms)
    return width, RESPONSE_WINDOW_MS // width


def bin_spike_times(relative_ms: np.ndarray, row: np.ndarray, n_rows: int, dt_ms: float = DEFAULT_DT_MS,
                    kernel: np.ndarray | None = None, presorted: bool = False) -> np.ndarray:
    """Count spikes per (row, bin) the seed's way, optionally smoothed.

    Parameters
    ----------
    relative_ms : np.ndarray, shape (n_spikes,)
        Spike times, ms after the onset of their presentation.
    row : np.ndarray of int, shape (n_spikes,)
        Output row of each spike (e.g. a flattened (stimulus, repeat)); rows outside
        ``[0, n_rows)`` are dropped.
    n_rows : int
    dt_ms : float, whole milliseconds
    kernel : np.ndarray, optional
        Smoothing kernel (odd length, symmetric); None or empty for raw counts.
    presorted : bool, default False
        Accepted for compatibility; the spikes may come in any order.

    Returns
    -------
    np.ndarray, float32, shape (n_rows, T)
        T = floor(4995 / dt_ms); a rounded millisecond holding two spikes of a row counts once.
    """
    relative_ms = np.ascontiguousarray(relative_ms, dtype=np.float64)
    row = np.asarray(row)
    if row.shape != relative_ms.shape:
        raise ValueError(f"{row.shape[0] if row.ndim else 1} rows for {relative_ms.shape[0]} spike times")
    out = np.empty((n_rows, bin_layout(dt_ms)[1]), dtype=np.float32)
    # Spike i is alone in "trial" i, whose onset is 0 ms and whose row is row[i].
    fill_rows(out, relative_ms, np.arange(relative_ms.size), np.array([0]), np.array([relative_ms.size]),
              np.array([0]), np.zeros(relative_ms.size), np.clip(row, -1, n_rows).astype(np.int64), 1.0, n_rows,
              dt_ms, kernel)
    return out


def fill_rows(out: np.ndarray, times: np.ndarray, trials: np.ndarray, starts: np.ndarray, ends: np.ndarray,
              first_rows: np.ndarray, onset: np.ndarray, slot: np.ndarray, scale: float, n_rows: int, dt_ms: float,
              kernel: np.ndarray | None) -> None:
    """Write the grid rows of several units into ``out`` (float32, (rows, T)), every value of them.

    Unit i's spikes are ``times[starts[i]:ends[i]]``; spike j lies ``(times[j] -
    onset[trials[j]]) * scale`` ms after its onset, in row ``first_rows[i] + slot[trials[j]]``
    of ``out`` (dropped unless ``slot`` is in ``[0, n_rows)``). Units must not share rows.
    """
    from .kernel import bin_units_into

    width, n_bins = bin_layout(dt_ms)
    if out.dtype != np.float32 or out.ndim != 2 or out.shape[1] != n_bins or not out.flags.c_contiguous:
        raise ValueError(f"out must be C-contiguous float32 (rows, {n_bins}), got {out.dtype} {out.shape}")
    if first_rows.size and (first_rows.min() < 0 or first_rows.max() + n_rows > out.shape[0]):
        raise IndexError("a unit's rows lie outside the output")
    if starts.shape != ends.shape or starts.shape != first_rows.shape or (starts.size and (
            starts.min() < 0 or ends.max() > min(times.size, trials.size) or np.any(ends < starts))):
        raise IndexError("a unit's spikes lie outside the spike arrays")
    used = trials[starts.min():ends.max()] if starts.size else trials[:0]  # what the units' spikes span
    if used.dtype.kind not in "iu" or used.size and (
            used.min() < 0 or used.max() >= min(onset.shape[0], slot.shape[0])):
        raise IndexError("a spike's trial is not a row of the trials table")
    taps = [(0, 1.0)] if kernel is None or kernel.size == 0 else [
        (offset - kernel.size // 2, float(weight)) for offset, weight in enumerate(kernel) if weight != 0.0]
    shifts = np.array([shift for shift, _ in taps], dtype=np.int64)
    weights = np.array([weight for _, weight in taps], dtype=np.float64)
    bin_units_into(times, trials, starts.astype(np.int64), ends.astype(np.int64), first_rows.astype(np.int64), onset,
                   slot.astype(np.int64, copy=False), float(scale), int(n_rows), int(width), shifts, weights,
                   exact_in_float32(weights), out)


def exact_in_float32(kernel: np.ndarray | None) -> bool:
    """Whether float32 sums of small spike counts times these weights are exact.

    True of the default ``np.hanning(5)`` = (0, 0.5, 1, 0.5, 0) and of every kernel
    with weights in quarters; such grids can be summed in place in float32, in any order.
    """
    return kernel is None or bool(np.all(kernel * 256.0 == np.rint(kernel * 256.0)))
