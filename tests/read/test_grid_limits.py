"""Issue 25, items 7 and 8: a grid's size is checked before it is allocated, and smoothing costs the same
whatever the window.

- A grid larger than the memory available is one ``MemoryError`` line (its size, and how to ask for less),
  before anything is allocated (the memory is made small here, so that nothing large is ever allocated).
- Hann kernels of :data:`PREFIX_SUM_TAPS` taps or more are summed with prefix sums: within one float32 rounding
  of the seed's ``np.convolve`` (zeros exactly zero), at a cost that does not grow with the window; the default
  kernel stays exact (tests/read/test_reader.py, test_properties.py).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import ns1nwb
from ns1nwb.read import bin_spike_times, hanning_kernel
from ns1nwb.read.grid import PREFIX_SUM_TAPS, Binning
from ns1nwb.read.selection import available_memory_bytes
from reference import seed_grid


@pytest.fixture(scope="module")
def rec(sample_nwb):
    with ns1nwb.open(sample_nwb) as recording:
        yield recording


# --------------------------------------------------------------------------- item 7: the size first


def _memory(monkeypatch, n_bytes: int) -> None:
    monkeypatch.setattr("ns1nwb.read.selection.available_memory_bytes", lambda: n_bytes)
    monkeypatch.setattr("ns1nwb.read.selection._CHECKED_FROM_BYTES", 0)


@pytest.mark.parametrize("kwargs, shape", [
    (dict(units=[0, 1, 2], stimuli=[0, 1]), "3 units x 2 stimuli x 20 repeats x 999 bins"),
    (dict(units=[0] * 10, stimuli=range(32), dt_ms=1), "10 units x 32 stimuli x 20 repeats x 4,995 bins"),
    (dict(units=None, stimuli=range(20, 32), smooth=False), "8 units x 12 stimuli x 5 repeats x 999 bins"),
])
def test_a_grid_larger_than_the_memory_is_refused_first(rec, monkeypatch, kwargs, shape):
    _memory(monkeypatch, 100_000)
    with pytest.raises(MemoryError, match=f"the response grid of {shape} needs .* GiB, more than the 0.0 GiB of "
                                          "memory available; ask for fewer units or stimuli, or a larger dt_ms"):
        rec.response_grid(**kwargs)


def test_a_stimulus_asked_for_twice_counts_its_copy(rec, monkeypatch):
    one = 2 * 20 * 999 * 4  # bytes of a stimulus for 2 units
    _memory(monkeypatch, 3 * one)
    assert rec.response_grid(units=[0, 1], stimuli=[4, 5, 6]).shape == (2, 3, 20, 999)
    with pytest.raises(MemoryError, match="2 units x 4 stimuli"):
        rec.response_grid(units=[0, 1], stimuli=[4, 5, 4, 5])  # 2 binned and 4 copied: 6 stimuli at once


def test_a_grid_that_fits_is_not_checked_against_the_memory(rec, monkeypatch):
    """Small grids skip reading the memory (it costs more than they do)."""
    monkeypatch.setattr("ns1nwb.read.selection.available_memory_bytes", lambda: 0)
    assert rec.response_grid(units=[0], stimuli=[0]).shape == (1, 1, 20, 999)


def test_the_memory_available_is_known_here():
    available = available_memory_bytes()
    assert available is None or 0 < available < 2**50


# --------------------------------------------------------------------------- item 8: smoothing by prefix sums


def _spikes(seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Random spikes in 4 rows, a dense row (every ms), an empty row and lone spikes at each end."""
    rng = np.random.default_rng(seed)
    times = [rng.uniform(-10, 5010, 2000), np.arange(0.0, 4995.0), np.array([0.0, 4994.0, 2500.0])]
    rows = [rng.integers(0, 4, 2000), np.full(4995, 4), np.full(3, 6)]
    return np.concatenate(times), np.concatenate(rows), 7


@pytest.mark.parametrize("dt_ms, window_ms", [(1, 4995.0), (1, 2500.0), (1, 1001.0), (1, float(PREFIX_SUM_TAPS)),
                                              (2, 301.0), (3, 4995.0), (5, 4995.0), (5, 500.0), (20, 4995.0),
                                              (50, 4995.0)])
def test_long_hann_kernels_are_the_seeds_within_one_float32_rounding(dt_ms, window_ms):
    kernel = hanning_kernel(window_ms, dt_ms)
    assert kernel.size >= PREFIX_SUM_TAPS and Binning(dt_ms, kernel).hann is not None
    times, rows, n_rows = _spikes(dt_ms)
    counts = bin_spike_times(times, rows, n_rows, dt_ms).astype(np.float64)
    half = kernel.size // 2
    expected = np.stack([np.convolve(np.pad(row, half), kernel, mode="valid") for row in counts]).astype(np.float32)
    got = bin_spike_times(times, rows, n_rows, dt_ms, kernel=kernel)
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_array_equal(got == 0, expected == 0)  # zeros exactly zero (taps 0 and K-1 weigh 0)
    np.testing.assert_array_max_ulp(got, expected, maxulp=1)
    assert not got[5].any()


def test_short_and_other_kernels_keep_the_tap_by_tap_sums():
    assert Binning(1, hanning_kernel(float(PREFIX_SUM_TAPS - 2), 1)).hann is None  # shorter: kernel-order sums
    assert Binning(1, np.ones(101)).hann is None  # not a Hann kernel
    assert Binning(5, hanning_kernel(21.0, 5)).hann is None  # the default: exact integer sums


def test_a_wide_window_grid_is_the_seeds(sample_raw, sample_nwb):
    """The reader at dt 1 ms and the widest window against the seed, from the raw files."""
    expected = seed_grid(sample_raw, stimuli=[0, 7], dt_ms=1, window_ms=4995.0)
    with ns1nwb.open(sample_nwb) as rec:
        got = rec.response_grid(stimuli=[0, 7], dt_ms=1, window_ms=4995.0)
    np.testing.assert_array_equal(got == 0, expected == 0)
    np.testing.assert_array_max_ulp(got, expected, maxulp=1)


def test_the_widest_window_costs_about_what_a_narrow_one_does(rec):
    """Was 11 s a unit at dt 1 ms and window 4995 ms (taps x spikes); now independent of the window."""
    rec.response_grid(units=[0], stimuli=[0], dt_ms=1, window_ms=4995.0)  # warm up
    start = time.perf_counter()
    rec.response_grid(dt_ms=1, window_ms=4995.0)
    wide = time.perf_counter() - start
    start = time.perf_counter()
    rec.response_grid(dt_ms=1, window_ms=float(PREFIX_SUM_TAPS))
    narrow = time.perf_counter() - start
    assert wide < 10.0 and wide < 4 * narrow + 1.0, (wide, narrow)
