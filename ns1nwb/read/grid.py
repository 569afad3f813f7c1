"""The response-grid algorithm: spikes -> binned (and smoothed) counts, exactly as the seed computes them.

The response grid follows the seed (deepSTRF ``NS1Dataset``) exactly: spike
times in ms after onset rounded to integer ms (``np.round``), kept in
``[0, T * dt_ms)``, one-hot per ms (two spikes in one rounded ms count once),
summed per ``dt_ms`` bin, then optionally smoothed with the unnormalised
``np.hanning(K)`` kernel, ``K = int(window_ms // dt_ms)`` made odd, zero padded.

One numpy path, whatever the order of the spikes (:class:`Binning`):

1. counts: each spike's (row, rounded ms) becomes one key; two spikes of a row in one rounded ms must
   be neighbours to count once. They are in a file's order (each unit's spikes ascending in time, its
   trials one after the other), which a few passes check; in any other order the keys are sorted first.
   The bins' counts go into a dense array of small integers, one zero-padded row per row;
2. smoothing: a kernel in 1/256ths (the default ``np.hanning(5)`` = (0, 0.5, 1, 0.5, 0)) is exact in
   integers: the counts, shifted by each tap, are added as whole arrays. Other kernels of fewer than
   :data:`PREFIX_SUM_TAPS` taps are summed in float64 in kernel order, as the seed's, at the bins holding
   spikes (whole-array adds would cost bins x taps). Longer Hann kernels (wide windows, small dt_ms) are
   summed with prefix sums, at a cost that does not grow with the window: ``np.hanning(K)[n] = 0.5 - 0.5
   cos(2 pi n / (K - 1))``, so each value is a window sum of the counts, and of the counts times a cosine and
   a sine, in exact fixed point (:meth:`Binning.hann_sums`): within one float32 rounding of the seed's values
   (equal on the tests' data), zeros exactly zero;
3. the sums are written to the float32 grid.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from ..constants import DEFAULT_DT_MS, RESPONSE_WINDOW_MS

__all__ = ["hanning_kernel", "bin_layout", "bin_spike_times", "Binning", "PREFIX_SUM_TAPS"]

#: Hann kernels (``np.hanning(K)``) from this many taps on are summed with prefix sums (their cost does not grow
#: with K); shorter kernels tap by tap at the bins holding spikes (cost spikes x taps, quicker up to about 65 taps
#: on the release at dt_ms 1 and 5).
PREFIX_SUM_TAPS = 65
#: The Hann sums' cosines and sines in whole 2**-50 ths (int64 prefix sums of at most 4995 counts a row stay
#: below 2**63), and how many values they sum at a time (their arrays stay in the cache).
_FIXED_POINT = 2.0 ** 50
_HANN_VALUES_PER_STEP = 1 << 15


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
        raise ValueError(f"dt_ms={dt_ms!r} is not a whole number of milliseconds from 1 to {RESPONSE_WINDOW_MS} "
                         f"(bins are sums of whole milliseconds, within the {RESPONSE_WINDOW_MS}-ms response window)")
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
        once to float32, as the seed does; for kernels whose weights are multiples of 1/256 (the
        default ``np.hanning(5)`` = (0, 0.5, 1, 0.5, 0)) every sum is a whole number of 1/256ths below
        2**24 (exact in float32, whatever the order), so they are summed as integers. Hann kernels of
        :data:`PREFIX_SUM_TAPS` taps or more are summed with prefix sums (a cost independent of the
        width): the same values to within one float32 rounding, zeros exactly zero.
    """
    binning = Binning(dt_ms, kernel)
    relative_ms = np.asarray(relative_ms, dtype=np.float64)
    row = np.asarray(row)
    if row.shape != relative_ms.shape:
        raise ValueError(f"{row.size} rows for {relative_ms.size} spike times")
    if row.dtype.kind not in "iu":
        raise TypeError(f"spike rows must be integers, got {row.dtype}")
    if out is None:
        out = np.empty((n_rows, binning.n_bins), dtype=np.float32)
    elif out.dtype != np.float32 or out.shape != (n_rows, binning.n_bins) or not out.flags.c_contiguous:
        raise ValueError(f"out must be C-contiguous float32 ({n_rows}, {binning.n_bins}), got {out.dtype} {out.shape}")
    binning.write(binning.smoothed(binning.counts(relative_ms, row, n_rows)), out)
    return out


class Binning:
    """The seed's binning and smoothing for one bin width and kernel, in three steps: :meth:`counts`,
    :meth:`smoothed`, :meth:`write`.

    Each row is one row of ``stride`` values in a flat array: ``pad`` zeros, the T bins, ``pad`` zeros,
    so that shifting the whole array by up to ``pad`` (a kernel tap) never carries a value into another
    row's bins: the seed's zero padding. The arrays are reused from one call to the next (new memory
    costs a page fault per 4 kB, more than the sums), so each step's result must be written before the
    next step's counts.
    """

    def __init__(self, dt_ms: float, kernel: np.ndarray | None):
        self.width, self.n_bins = bin_layout(dt_ms)
        weights = np.ones(1) if kernel is None or np.size(kernel) == 0 else np.asarray(kernel, dtype=np.float64)
        self.taps = [(offset - weights.size // 2, float(weight)) for offset, weight in enumerate(weights.reshape(-1))
                     if weight != 0.0]
        #: Integer sums in 1/denominator ths (exact), or None: float64 sums in kernel order, as the seed's.
        self.denominator = _integer_denominator(self.taps, self.width)
        #: A long Hann kernel's (half width, factors; see _hann_terms): summed with prefix sums; or None.
        self.hann = _hann_terms(weights, self.n_bins) if self.denominator is None and weights.size % 2 and \
            weights.size >= PREFIX_SUM_TAPS and np.array_equal(weights, np.hanning(weights.size)) else None
        # Prefix sums clip each window at a row's ends: no padding needed.
        self.pad = 0 if self.hann is not None else max((abs(shift) for shift, _ in self.taps), default=0)
        self.stride = self.n_bins + 2 * self.pad
        # A bin counts at most ``width`` spikes; integer sums reach at most ``most``.
        most = self.width * sum(abs(weight) for _, weight in self.taps) * (self.denominator or 1)
        self.count_type = _small_int_type(self.width if self.denominator is None else max(self.width, most))
        self.sum_type = self.count_type if self.denominator is not None else np.float64
        self._arrays: dict[str, np.ndarray] = {}

    def _array(self, name: str, size: int, dtype: Any) -> np.ndarray:
        """``size`` values of the array ``name``, reused (grown when too small), not cleared."""
        array = self._arrays.get(name)
        if array is None or array.size < size:
            # With room to spare: each new array costs its page faults again.
            array = self._arrays[name] = np.empty(size + size // 2, dtype=dtype)
        return array[:size]

    def counts(self, relative_ms: np.ndarray, row: np.ndarray, n_rows: int) -> np.ndarray:
        """Spikes per (row, bin), each rounded ms of a row once: flat, ``n_rows * stride`` small integers."""
        ms = np.rint(relative_ms)
        kept = ms >= 0
        kept &= ms < self.n_bins * self.width  # False for NaN too
        kept &= row.astype(np.int64, copy=False).view(np.uint64) < n_rows  # a negative row is huge unsigned
        # (row, rounded ms) as one integer, whose quotient by the bin width is the bin's place.
        keys = np.multiply(row, float(self.stride * self.width))  # whole numbers below 2**53: exact
        keys += ms
        keys = keys[kept]
        if not _grouped(keys, row[kept]):
            keys.sort()
        places = keys.astype(np.int64)
        places //= self.width
        counts = self._array("counts", n_rows * self.stride, self.count_type)
        counts.fill(0)
        # Places count from the first bin of row 0, after its padding; np.add.at counts a place twice if asked.
        np.add.at(counts[self.pad:], places, self.count_type(1))
        # Each spike in the rounded ms of the one before it is taken back (few: removing them from the keys
        # first would copy them all). The integers wrap on the way if need be, and end at most ``width``.
        repeats = np.flatnonzero(keys[1:] == keys[:-1])
        if repeats.size:
            np.subtract.at(counts[self.pad:], places[repeats + 1], self.count_type(1))
        return counts

    def smoothed(self, counts: np.ndarray) -> np.ndarray:
        """The kernel's weighted sum of the counts shifted by each tap (the counts themselves without a kernel)."""
        if self.taps == [(0, 1.0)]:
            return counts
        if self.hann is not None:
            return self.hann_sums(counts)
        sums = self._array("sums", counts.size, self.sum_type)
        if self.denominator is None:
            # Float64 sums in kernel order, as the seed's: such kernels are long (dt_ms < 4 or a wide window),
            # so each tap is added at the bins that hold spikes only, not shifted over the whole array.
            sums.fill(0)
            places = np.flatnonzero(counts != 0)  # quicker than nonzero on integers
            values = counts[places].astype(np.float64)
            for shift, weight in self.taps:
                sums[places + shift] += values * weight
            return sums
        # Integer sums do not depend on the order: the centre tap's product fills the sums, and the taps of
        # one weight share one product.
        term = self._array("term", counts.size, self.sum_type)
        centre = [weight for shift, weight in self.taps if shift == 0]
        if centre:
            np.multiply(counts, self.sum_type(round(centre[0] * self.denominator)), out=sums)
        else:
            sums.fill(0)
        factor_in_term = None
        for shift, weight in sorted(self.taps, key=lambda tap: tap[1]):
            factor = round(weight * self.denominator)
            if shift == 0:
                continue
            if factor != 1 and factor != factor_in_term:
                np.multiply(counts, self.sum_type(factor), out=term)
                factor_in_term = factor
            _add_shifted(sums, counts if factor == 1 else term, shift)
        return sums

    def hann_sums(self, counts: np.ndarray) -> np.ndarray:
        """The counts smoothed with a Hann kernel ``np.hanning(K)``, by prefix sums along each row.

        With ``h = K // 2`` and ``theta = 2 pi / (K - 1)``, value t is the sum over the bins j of the window
        ``t - h < j < t + h`` (taps 0 and K - 1 weigh 0) of ``x[j] (0.5 - 0.5 cos(theta (j - t + h)))``
        = ``0.5 S - 0.5 cos(theta (h - t)) C + 0.5 sin(theta (h - t)) D``, where S, C and D are the window's
        sums of ``x[j]``, ``x[j] cos(theta j)`` and ``x[j] sin(theta j)``: each the difference of two prefix
        sums. The cosines and sines are taken in 2**-50 ths, so that the prefix sums are exact int64 sums
        (at most 4995 counts a row: below 2**63): a window without spikes is exactly 0, and a value's error is
        that of its own window's few terms, not of the whole row's.
        """
        half, terms = self.hann
        n_bins = self.n_bins
        n_rows = counts.size // n_bins
        sums = self._array("sums", counts.size, np.float64).reshape(n_rows, n_bins)
        inside = max(n_bins - half, 0)  # the values whose window ends inside the row
        start = min(half - 1, n_bins)  # those from which it starts inside the row
        step = max(1, _HANN_VALUES_PER_STEP // n_bins)  # rows at a time: arrays that stay in the cache
        prefix = np.zeros((step, n_bins + 1), dtype=np.int64)
        window = np.empty((step, n_bins), dtype=np.int64)
        term = np.empty((step, n_bins), dtype=np.float64)
        for first in range(0, n_rows, step):
            rows = counts[first * n_bins:(first + step) * n_bins].reshape(-1, n_bins)
            n = rows.shape[0]
            for at_bin, at_value in terms:  # S, then C and D
                if at_bin is None:
                    np.cumsum(rows, axis=1, out=prefix[:n, 1:])
                else:
                    np.multiply(rows, at_bin, out=prefix[:n, 1:])
                    np.cumsum(prefix[:n, 1:], axis=1, out=prefix[:n, 1:])
                window[:n, :inside] = prefix[:n, half:half + inside]
                window[:n, inside:] = prefix[:n, n_bins:]
                window[:n, start:] -= prefix[:n, :n_bins - start]
                if at_bin is None:
                    np.multiply(window[:n], at_value, out=sums[first:first + n])
                else:
                    sums[first:first + n] += np.multiply(window[:n], at_value, out=term[:n])
        return sums.reshape(-1)

    def write(self, sums: np.ndarray, out: np.ndarray) -> None:
        """The bins of ``sums`` (from :meth:`smoothed`) as float32 into ``out`` (n_rows, T)."""
        out[...] = sums.reshape(-1, self.stride)[:, self.pad:self.pad + self.n_bins]  # exact (see bin_spike_times)
        if self.denominator not in (None, 1):
            out *= np.float32(1.0 / self.denominator)  # a power of two: exact


def _hann_terms(weights: np.ndarray, n_bins: int) -> tuple[int, list[tuple[Any, Any]]]:
    """What :meth:`Binning.hann_sums` needs for ``np.hanning(K)`` over rows of ``n_bins``: ``h = K // 2``, and
    for the plain sum, the cosine and the sine, (the factor of each bin, in 2**-50 ths; the factor of each value).
    """
    half = weights.size // 2
    theta = 2.0 * np.pi / (weights.size - 1)
    bins = np.arange(n_bins)
    phase = theta * (half - bins)
    return half, [(None, 0.5),
                  (np.rint(np.cos(theta * bins) * _FIXED_POINT).astype(np.int64), -0.5 / _FIXED_POINT * np.cos(phase)),
                  (np.rint(np.sin(theta * bins) * _FIXED_POINT).astype(np.int64), 0.5 / _FIXED_POINT * np.sin(phase))]


def _add_shifted(sums: np.ndarray, term: np.ndarray, shift: int) -> None:
    """``sums[j] += term[j - shift]`` wherever both exist (flat arrays of equal size)."""
    if shift >= 0:
        np.add(sums[shift:], term[:term.size - shift], out=sums[shift:])
    else:
        np.add(sums[:shift], term[-shift:], out=sums[:shift])


def _grouped(keys: np.ndarray, rows: np.ndarray) -> bool:
    """Whether each row's keys come in one run, ascending: then two equal keys are neighbours, as in sorted
    keys. True of a file's spikes binned unit by unit (each unit's spikes ascending in time, its trials one
    after the other), and cheaper to check than to sort."""
    new_row = rows[1:] != rows[:-1]
    if not np.all(new_row | (keys[1:] >= keys[:-1])):
        return False
    run_rows = np.sort(np.concatenate((rows[:1], rows[np.flatnonzero(new_row) + 1])))
    return not np.any(run_rows[1:] == run_rows[:-1])


def _integer_denominator(taps: list[tuple[int, float]], width: int) -> int | None:
    """The smallest power of two ``d`` <= 256 making every weight times ``d`` an integer, when the sums
    (at most ``width`` counts a bin) then stay below 2**24, exact in float32; else None.

    1 for raw counts, 2 for the default ``np.hanning(5)`` (0.5, 1, 0.5).
    """
    for denominator in (1, 2, 4, 8, 16, 32, 64, 128, 256):
        if all(float(weight * denominator).is_integer() for _, weight in taps):
            most = width * sum(abs(weight) for _, weight in taps) * denominator
            return denominator if most < 2 ** 24 else None
    return None


def _small_int_type(most: float) -> type:
    """The smallest signed integer type holding every value from -most to most."""
    for int_type in (np.int8, np.int16, np.int32):
        if most <= np.iinfo(int_type).max:
            return int_type
    return np.int64
