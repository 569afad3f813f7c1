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

__all__ = ["hanning_kernel", "bin_spike_times", "bin_layout", "add_binned", "exact_in_float32"]


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
        Output row of each spike (e.g. a flattened (stimulus, repeat)); negative rows are dropped.
    n_rows : int
    dt_ms : float, whole milliseconds
    kernel : np.ndarray, optional
        Smoothing kernel (odd length, symmetric); None for raw counts.
    presorted : bool, default False
        The spikes of each row are consecutive and in time order (true of ns1nwb
        files, whose spikes are sorted within trials): duplicates are then found
        by comparing neighbours instead of sorting.

    Returns
    -------
    np.ndarray, float32, shape (n_rows, T)
        T = floor(4995 / dt_ms); a rounded millisecond holding two spikes counts once.
    """
    _, n_bins = bin_layout(dt_ms)
    out = np.zeros((n_rows, n_bins), dtype=np.float32)
    if kernel is not None and kernel.size == 0:  # no kernel: raw counts
        kernel = None
    add_binned(out, relative_ms, row, dt_ms, kernel, presorted)
    return out


def exact_in_float32(kernel: np.ndarray | None) -> bool:
    """Whether float32 sums of small spike counts times these weights are exact.

    True of the default ``np.hanning(5)`` = (0, 0.5, 1, 0.5, 0) and of every kernel
    with weights in quarters; such grids can be summed in place in float32, in any order.
    """
    return kernel is None or bool(np.all(kernel * 256.0 == np.rint(kernel * 256.0)))


def add_binned(out: np.ndarray, relative_ms: np.ndarray, row: np.ndarray, dt_ms: float,
                kernel: np.ndarray | None, presorted: bool) -> None:
    """Add the binned (smoothed) spikes into ``out`` (float32, C-contiguous, (n_rows, T), zero-filled).

    Spikes whose row is outside ``[0, n_rows)`` or whose rounded time is outside
    ``[0, T * dt_ms)`` are dropped.
    """
    width, n_bins = bin_layout(dt_ms)
    span = width * n_bins
    n_rows = out.shape[0]
    # Half the memory traffic when every key fits in 32 bits (the full default grid: 2.4e8).
    signed, unsigned = (np.int32, np.uint32) if n_rows * span < 2**31 else (np.int64, np.uint64)
    with np.errstate(invalid="ignore"):  # NaN/inf/huge become out-of-range integers, dropped below
        ms = np.rint(relative_ms).astype(signed)  # np.rint = np.round: half to even
    row = np.asarray(row)
    if row.dtype != signed:  # rows past the grid stay past it (or negative) when narrowed
        row = np.clip(row, -1, n_rows).astype(signed)
    # As unsigned, negatives are huge: one comparison per bound.
    keep = ms.view(unsigned) < span
    keep &= row.view(unsigned) < n_rows
    # key = (row, ms) in one integer; key // width = row * T + bin.
    key = row * span
    key += ms
    key = key[keep]
    # One-hot per (row, ms): a second spike in the same rounded millisecond is dropped.
    if not presorted:
        key = np.unique(key)
    elif key.size > 1:
        first = np.empty(key.size, dtype=bool)
        first[0] = True
        np.not_equal(key[1:], key[:-1], out=first[1:])
        key = key[first]
    flat = key // width if width > 1 else key
    taps = [(0, 1.0)] if kernel is None else [
        (offset - kernel.size // 2, float(weight)) for offset, weight in enumerate(kernel) if weight != 0.0]
    spike_bin = flat % n_bins if any(shift for shift, _ in taps) else flat

    def targets(shift: int) -> np.ndarray:
        if shift == 0:
            return flat
        # Zero padding: what a tap would carry past either end of its row is dropped.
        inside = spike_bin >= -shift if shift < 0 else spike_bin < n_bins - shift
        return flat[inside] + shift

    flat_out = out.reshape(-1)
    if not exact_in_float32(kernel):
        # Irrational weights (e.g. np.hanning(21) for 1-ms bins): sum in float64, round once, as the seed does.
        total = np.zeros(flat_out.size, dtype=np.float64)
        for shift, weight in taps:
            total += np.bincount(targets(shift), minlength=total.size) * weight
        flat_out += total.astype(np.float32)
        return
    # Smoothing is linear: spread each spike over the kernel's taps. Exact in float32,
    # so scattered straight into ``out``.
    for shift, weight in taps:
        np.add.at(flat_out, targets(shift), np.float32(weight))  # a numpy scalar keeps add.at on its fast path
