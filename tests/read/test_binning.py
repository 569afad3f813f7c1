"""The binning (``ns1nwb.read.bin_spike_times``), case by case against grids worked out by hand.

Its values are also checked against the seed's recipe on random spikes in ``test_properties.py`` and
against the seed itself, from the raw files, in ``test_reader.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from ns1nwb.read import bin_spike_times, hanning_kernel


def _row(n_bins: int, values: dict[int, float]) -> np.ndarray:
    row = np.zeros(n_bins, dtype=np.float32)
    for index, value in values.items():
        row[index] = value
    return row


HALF = np.array([0.5, 1.0, 0.5])

#: (name, spike times ms, spike rows, n_rows, dt_ms, kernel, {row: {bin: value}}); unlisted values are 0.
CASES = [
    ("one spike per bin", [1.0, 7.0, 12.0], [0, 0, 1], 2, 5, None, {0: {0: 1, 1: 1}, 1: {2: 1}}),
    ("two spikes in one rounded ms count once", [7.0, 7.2, 6.6], [0, 0, 0], 1, 5, None, {0: {1: 1}}),
    ("one rounded ms, two rows: once each", [7.0, 7.2], [0, 1], 2, 5, None, {0: {1: 1}, 1: {1: 1}}),
    ("distinct ms of one bin add up", [5.0, 6.0, 9.4, 9.6], [0, 0, 0, 0], 1, 5, None, {0: {1: 3, 2: 1}}),
    ("round half to even", [0.5, 1.5, 3.5, 6.5], [0, 0, 0, 0], 1, 1, None, {0: {0: 1, 2: 1, 4: 1, 6: 1}}),
    ("-0.5 rounds to 0 and is kept", [-0.5, -0.51], [0, 0], 1, 5, None, {0: {0: 1}}),
    ("the 4995-ms cut", [4994.4, 4994.6, 4995.0], [0, 0, 0], 1, 5, None, {0: {998: 1}}),
    ("the cut at T * dt_ms, below 4995", [4989.4, 4989.6], [0, 0], 1, 10, None, {0: {498: 1}}),
    ("rows outside the grid are dropped", [1.0, 2.0, 3.0], [-1, 2, 1], 2, 5, None, {1: {0: 1}}),
    ("smoothing spreads a count over the taps", [10.0], [0], 1, 5, HALF, {0: {1: 0.5, 2: 1, 3: 0.5}}),
    ("smoothing weighs each count", [10.0, 11.0], [0], 1, 5, HALF, {0: {1: 1, 2: 2, 3: 1}}),
    ("zero padding at a row's ends", [0.0, 4994.0], [0, 0], 1, 5, HALF, {0: {0: 1, 1: 0.5, 997: 0.5, 998: 1}}),
    ("nothing spills into the next row", [4994.0, 0.0], [0, 1], 2, 5, HALF,
     {0: {997: 0.5, 998: 1}, 1: {0: 1, 1: 0.5}}),
    ("an empty kernel gives raw counts", [1.0, 7.0], [0, 0], 1, 5, np.array([]), {0: {0: 1, 1: 1}}),
    ("a kernel of zeros gives zeros", [1.0, 7.0], [0, 0], 1, 5, np.zeros(3), {}),
    ("no spikes", [], [], 3, 5, HALF, {}),
    # A file's order (each row's spikes in one run, ascending, rows in any order) is counted as it comes;
    # any other order is sorted first: the same counts.
    ("each row in one ascending run", [7.0, 7.2, 9.0, 1.0, 1.2], [1, 1, 1, 0, 0], 2, 5, None,
     {0: {0: 1}, 1: {1: 2}}),
    ("a row's spikes in two runs", [7.0, 3.0, 7.2, 9.0], [0, 1, 0, 0], 2, 5, None, {0: {1: 2}, 1: {0: 1}}),
    ("a row's first run after another row", [7.0, 3.0, 7.2], [0, 1, 0], 2, 5, None, {0: {1: 1}, 1: {0: 1}}),
    ("a later row in two runs", [1.0, 7.0, 3.0, 7.2], [2, 0, 1, 0], 3, 5, None, {0: {1: 1}, 1: {0: 1}, 2: {0: 1}}),
    ("descending times", [12.0, 7.4, 9.0, 6.6], [0], 1, 5, None, {0: {1: 2, 2: 1}}),
    # Kernels in 1/256ths are summed as integers (several weights: several products), others in float64.
    ("a kernel in quarters", [10.0, 11.0], [0], 1, 5, hanning_kernel(35.0, 5.0),
     {0: {0: 0.5, 1: 1.5, 2: 2, 3: 1.5, 4: 0.5}}),
    ("negative weights", [10.0], [0], 1, 5, np.array([-0.5, 1.0, -0.5]), {0: {1: -0.5, 2: 1, 3: -0.5}}),
    ("a float64 kernel: zero padding, nothing spills", [0.0, 4994.0], [0, 1], 2, 5, hanning_kernel(45.0, 5.0),
     {0: {i: hanning_kernel(45.0, 5.0)[4 + i] for i in range(4)},
      1: {998 - i: hanning_kernel(45.0, 5.0)[4 - i] for i in range(4)}}),
    ("one bin of 4995 ms holds 4995 counts", list(np.arange(4995.0)), [0], 1, 4995, None, {0: {0: 4995}}),
    # Spikes in the rounded ms of the one before are taken back after counting: hundreds of them (past what the
    # bins' small integers hold) still count once, in either order of the rows' runs.
    ("300 spikes in one rounded ms, then 500 in the next", [12.2] * 300 + [13.0] * 500, [0], 1, 5, None,
     {0: {2: 2}}),
    ("the same, smoothed, in two rows' runs", [12.2] * 300 + [3.0] * 200 + [13.0] * 500, [0] * 300 + [1] * 200
     + [0] * 500, 2, 5, HALF, {0: {1: 1, 2: 2, 3: 1}, 1: {0: 1, 1: 0.5}}),
]


@pytest.mark.parametrize("name, times, rows, n_rows, dt_ms, kernel, expected", CASES, ids=[c[0] for c in CASES])
def test_cases(name, times, rows, n_rows, dt_ms, kernel, expected):
    # Rows given as one value apply to every spike.
    rows = np.resize(np.asarray(rows, dtype=np.int64), len(times))
    got = bin_spike_times(np.array(times, dtype=np.float64), rows, n_rows, dt_ms, kernel=kernel)
    n_bins = 4995 // dt_ms
    assert got.dtype == np.float32 and got.shape == (n_rows, n_bins)
    np.testing.assert_array_equal(got, np.stack([_row(n_bins, expected.get(r, {})) for r in range(n_rows)]))


def test_times_that_are_not_numbers_or_far_away_are_dropped():
    times = np.array([np.nan, np.inf, -np.inf, 1e300, -1e300, 2.0**62, -(2.0**62), 7.0, -0.5, 4994.5, 4995.0])
    counts = bin_spike_times(times, np.zeros(times.size, dtype=np.int64), 1, kernel=None)
    # 7.0 -> bin 1; -0.5 rounds (half to even) to -0.0 -> bin 0; 4994.5 -> 4994 -> bin 998.
    np.testing.assert_array_equal(counts[0], _row(999, {0: 1, 1: 1, 998: 1}))


def test_huge_and_unsigned_rows_are_dropped_not_wrapped():
    times = np.array([1.0, 2.0, 3.0, 4.0])
    for rows in (np.array([-1, 2, 2**40, np.iinfo(np.int64).min]), np.array([2, 3, 2**63, 2**64 - 1], np.uint64)):
        assert bin_spike_times(times, rows, 2).sum() == 0


def test_a_spike_order_does_not_change_the_counts():
    """One-hot per (row, ms) whatever the order: two spikes of a row in one rounded ms count once,
    even when other rows' spikes come between them."""
    times = np.array([10.2, 50.0, 9.8, 50.4, 10.0])
    rows = np.array([0, 1, 0, 1, 1])
    counts = bin_spike_times(times, rows, 2, kernel=None)
    assert counts[0, 2] == 1 and counts[1, 10] == 1 and counts[1, 2] == 1
    order = [4, 3, 2, 1, 0]
    np.testing.assert_array_equal(bin_spike_times(times[order], rows[order], 2, kernel=None), counts)


@pytest.mark.parametrize("dt_ms, window_ms", [(1, 41.0), (2, 21.0), (5, 41.0), (10, 100.0)])
def test_other_kernels_sum_in_float64_and_round_once(dt_ms, window_ms):
    """Weights that are not multiples of 1/256: each value is the float64 sum over the taps, in kernel order,
    of count x weight, rounded once to float32."""
    rng = np.random.default_rng(dt_ms)
    times = rng.uniform(0, 4995, 3000)
    rows = rng.integers(0, 3, times.size)
    kernel = hanning_kernel(window_ms, dt_ms)
    assert np.any(kernel * 256 != np.round(kernel * 256))
    counts = bin_spike_times(times, rows, 3, dt_ms).astype(np.float64)
    half = kernel.size // 2
    padded = np.pad(counts, ((0, 0), (half, half)))
    expected = np.zeros_like(counts)
    for offset, weight in enumerate(kernel):  # tap at shift offset - half: source bin = target - shift
        if weight != 0.0:
            expected += padded[:, 2 * half - offset:2 * half - offset + counts.shape[1]] * weight
    np.testing.assert_array_equal(bin_spike_times(times, rows, 3, dt_ms, kernel=kernel),
                                  expected.astype(np.float32))


def test_out_is_written_whole_and_returned():
    out = np.full((2, 999), -1.0, dtype=np.float32)
    got = bin_spike_times(np.array([7.0]), np.array([1]), 2, kernel=hanning_kernel(21.0, 5.0), out=out)
    assert got is out
    np.testing.assert_array_equal(out, np.stack([_row(999, {}), _row(999, {0: 0.5, 1: 1, 2: 0.5})]))


@pytest.mark.parametrize("call, error, message", [
    (lambda: bin_spike_times(np.zeros(3), np.zeros(2, int), 1), ValueError, "2 rows for 3 spike times"),
    (lambda: bin_spike_times(np.zeros(3), np.zeros(3), 1), TypeError, "spike rows must be integers"),
    (lambda: bin_spike_times(np.zeros(1), np.zeros(1, int), 1, dt_ms=2.5), ValueError, "dt_ms=2.5"),
    (lambda: bin_spike_times(np.zeros(1), np.zeros(1, int), 1, out=np.zeros((1, 999))), ValueError,
     "out must be C-contiguous float32 \\(1, 999\\)"),
    (lambda: bin_spike_times(np.zeros(1), np.zeros(1, int), 2, out=np.zeros((1, 999), np.float32)), ValueError,
     "out must be C-contiguous float32 \\(2, 999\\)"),
])
def test_bad_arguments_are_refused(call, error, message):
    with pytest.raises(error, match=message):
        call()

