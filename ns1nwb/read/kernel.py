"""The binning loop, compiled (numba): spikes -> one-hot per ms -> counts per bin -> smoothed, unit by unit.

One pass over each unit's spikes, without the GIL, so the reader's threads bin units in parallel
and each unit's rows stay in the core's cache while they are filled. Imported only when a grid
is computed (numba takes a quarter of a second to import); compiled once and cached on disk.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["bin_units_into"]


def _compiled(function):
    """``function`` compiled without the GIL, cached on disk where numba finds a writable place."""
    try:
        return numba.njit(nogil=True, cache=True)(function)
    except RuntimeError:  # "no locator available": no writable cache directory, so compile in each process
        return numba.njit(nogil=True)(function)


def bin_units_into(times: np.ndarray, trials: np.ndarray, starts: np.ndarray, ends: np.ndarray, first_rows: np.ndarray,
                   onset: np.ndarray, slot: np.ndarray, scale: float, n_rows: int, width: int,
                   shifts: np.ndarray, weights: np.ndarray, exact: bool, out: np.ndarray) -> None:
    """Fill ``out[first_rows[i]:first_rows[i] + n_rows]`` with the grid of the spikes ``starts[i]:ends[i]``.

    Spike j is ``(times[j] - onset[trials[j]]) * scale`` ms after its onset, in row
    ``slot[trials[j]]`` of its unit (dropped unless in ``[0, n_rows)``); ``trials`` must index
    ``onset`` and ``slot`` (checked by the caller). The rest is the seed's recipe: ``np.rint`` to
    whole ms, kept in ``[0, T * width)``, one-hot per (row, ms), counted per ``width``-ms bin, then
    spread over the taps (``shifts``, ``weights``: the kernel's non-zero weights in kernel order),
    zero padded. ``exact``: the weights are multiples of 1/256, so float32 sums are exact in any
    order and spikes are added straight into ``out``; else each value is summed in float64 over
    the taps in kernel order and rounded once, as the seed does.
    """
    n_bins = out.shape[1]
    span = width * n_bins
    n_taps = shifts.shape[0]
    seen = np.zeros((n_rows * span + 7) // 8, dtype=np.uint8)  # one bit per (row, ms)
    counts = np.zeros((n_rows, n_bins), dtype=np.int32) if not exact else np.zeros((0, 0), dtype=np.int32)
    for unit in range(first_rows.shape[0]):
        top = first_rows[unit]
        out[top:top + n_rows, :] = 0.0
        seen[:] = 0
        if not exact:
            counts[:, :] = 0
        for j in range(starts[unit], ends[unit]):
            trial = trials[j]
            row = slot[trial]
            if row < 0 or row >= n_rows:
                continue
            ms_float = np.rint((times[j] - onset[trial]) * scale)
            if not (ms_float >= 0.0 and ms_float < span):  # also drops NaN
                continue
            ms = int(ms_float)
            bit = row * span + ms
            mask = np.uint8(1 << (bit & 7))
            if seen[bit >> 3] & mask:  # a second spike in one rounded ms counts once
                continue
            seen[bit >> 3] |= mask
            spike_bin = ms // width
            if not exact:
                counts[row, spike_bin] += 1
                continue
            for k in range(n_taps):
                target = spike_bin + shifts[k]
                if 0 <= target < n_bins:  # zero padding: what passes a row's ends is dropped
                    out[top + row, target] += np.float32(weights[k])
        if not exact:
            for row in range(n_rows):
                for target in range(n_bins):
                    total = 0.0
                    for k in range(n_taps):
                        source = target - shifts[k]
                        if 0 <= source < n_bins:
                            total += counts[row, source] * weights[k]
                    out[top + row, target] = np.float32(total)


bin_units_into = _compiled(bin_units_into)
