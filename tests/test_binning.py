"""The compiled binning (``ns1nwb.read.kernel``) and its guard (``ns1nwb.read.grid.fill_rows``).

The kernel indexes without bounds checks, so every index it will use is checked before it runs;
these tests show each check refuses what would otherwise be a wild write. Its values are checked
against the seed's recipe in ``test_properties.py`` and against the seed itself in ``test_reader.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from ns1nwb.read import bin_spike_times, hanning_kernel
from ns1nwb.read.grid import fill_rows


def _args(n_units: int = 2, n_rows: int = 3, n_trials: int = 4) -> dict:
    rng = np.random.default_rng(7)
    per_unit = 50
    times = np.sort(rng.uniform(0.0, 20.0, n_units * per_unit))
    return dict(out=np.full((n_units * n_rows, 999), -1.0, dtype=np.float32), times=times,
                trials=rng.integers(0, n_trials, times.size).astype(np.uint16),
                starts=np.arange(n_units) * per_unit, ends=np.arange(1, n_units + 1) * per_unit,
                first_rows=np.arange(n_units) * n_rows, onset=np.sort(rng.uniform(0.0, 15.0, n_trials)),
                slot=np.arange(n_trials) % n_rows, scale=1000.0, n_rows=n_rows, dt_ms=5,
                kernel=hanning_kernel(21.0, 5.0))


def test_every_value_of_the_units_rows_is_written():
    args = _args()
    fill_rows(**args)
    assert not np.any(args["out"] == -1.0)
    assert args["out"].sum() > 0


@pytest.mark.parametrize("change, message", [
    (dict(first_rows=np.array([0, 4])), "rows lie outside"),
    (dict(first_rows=np.array([-1, 3])), "rows lie outside"),
    (dict(ends=np.array([50, 101])), "spikes lie outside"),
    (dict(starts=np.array([-1, 50])), "spikes lie outside"),
    (dict(starts=np.array([0, 60]), ends=np.array([50, 55])), "spikes lie outside"),
    (dict(onset=np.zeros(2)), "not a row of the trials table"),
    (dict(slot=np.zeros(3, dtype=np.int64)), "not a row of the trials table"),
    (dict(trials=np.zeros(100)), "not a row of the trials table"),  # float rows: never indices
])
def test_indices_the_kernel_would_use_are_checked_first(change, message):
    args = _args()
    before = args["out"].copy()
    args.update(change)
    with pytest.raises(IndexError, match=message):
        fill_rows(**args)
    np.testing.assert_array_equal(args["out"], before)  # nothing written


def test_negative_trial_rows_are_refused():
    args = _args()
    args["trials"] = args["trials"].astype(np.int64)
    args["trials"][10] = -1
    with pytest.raises(IndexError, match="not a row of the trials table"):
        fill_rows(**args)


@pytest.mark.parametrize("out", [np.zeros((6, 999), np.float64), np.zeros((6, 998), np.float32),
                                 np.zeros((6, 1998), np.float32)[:, ::2]])
def test_the_output_must_be_a_contiguous_float32_grid(out):
    args = _args()
    args["out"] = out
    with pytest.raises(ValueError, match="C-contiguous float32"):
        fill_rows(**args)


def test_times_that_are_not_numbers_or_far_away_are_dropped():
    times = np.array([np.nan, np.inf, -np.inf, 1e300, -1e300, 2.0**62, -(2.0**62), 7.0, -0.5, 4994.5, 4995.0])
    counts = bin_spike_times(times, np.zeros(times.size, dtype=np.int64), 1, kernel=None)
    expected = np.zeros(999, np.float32)
    expected[[1, 0]] += 1  # 7.0 -> bin 1; -0.5 rounds (half to even) to -0.0 -> bin 0; 4994.5 -> 4994 -> bin 998
    expected[998] += 1
    np.testing.assert_array_equal(counts[0], expected)


def test_rows_outside_the_grid_are_dropped_not_wrapped():
    times = np.array([1.0, 2.0, 3.0, 4.0])
    rows = np.array([-1, 2, 2**40, np.iinfo(np.int64).min])
    counts = bin_spike_times(times, rows, 2)
    assert counts.sum() == 0


def test_a_spike_order_does_not_change_the_counts():
    """One-hot per (row, ms) whatever the order: two spikes of a row in one rounded ms count once,
    even when other rows' spikes come between them."""
    times = np.array([10.2, 50.0, 9.8, 50.4, 10.0])
    rows = np.array([0, 1, 0, 1, 1])
    counts = bin_spike_times(times, rows, 2, kernel=None)
    assert counts[0, 2] == 1 and counts[1, 10] == 1 and counts[1, 2] == 1
    order = [4, 3, 2, 1, 0]
    np.testing.assert_array_equal(bin_spike_times(times[order], rows[order], 2, kernel=None), counts)


def test_without_a_writable_cache_the_kernel_still_compiles(monkeypatch):
    import numba

    from ns1nwb.read import kernel

    calls = []

    def njit(**options):
        calls.append(options)
        if options.get("cache"):
            raise RuntimeError("cannot cache function 'f': no locator available for file 'f.py'")
        return lambda function: function

    monkeypatch.setattr(numba, "njit", njit)
    compiled = kernel._compiled(lambda: 3)
    assert compiled() == 3
    assert calls == [{"nogil": True, "cache": True}, {"nogil": True}]
