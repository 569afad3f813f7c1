"""Property tests (hypothesis): the binning against an obvious reference, and the spike-time round trip.

(a) ``ns1nwb.read.bin_spike_times`` equals a direct transcription of the seed's recipe:
    ``np.round`` to whole ms, keep ``[0, T*dt)``, one-hot per ms, reshape-sum per ``dt``,
    then ``np.convolve`` with the unnormalised ``np.hanning(K)`` on a zero-padded row.
(b) Any spike times written into a raw spike file come back from the NWB file, sorted,
    within 1e-6 ms, through ``convert`` and ``ns1nwb.open(...).trial_spike_times_ms``.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.io as sio
from hypothesis import example, given, settings
from hypothesis import strategies as st

import ns1nwb
from ns1nwb.constants import METADATA_FILE, RESPONSE_WINDOW_MS, SPIKES_DIR, STIMULI, WAV_DIR
from ns1nwb.exceptions import Ns1Warning
from ns1nwb import convert
from ns1nwb.read import bin_spike_times, hanning_kernel
from ns1nwb.sample_data import write_sample_tree

DTS = (1, 2, 5, 10, 20)
WINDOWS = (0, 5, 21, 41)


# --------------------------------------------------------------------------- (a) binning


def reference_grid(times: np.ndarray, rows: np.ndarray, n_rows: int, dt: int, window: float | None) -> np.ndarray:
    """The seed's recipe, one row at a time, written the obvious way."""
    n_bins = RESPONSE_WINDOW_MS // dt
    span = n_bins * dt
    grid = np.zeros((n_rows, n_bins))
    rounded = np.round(times).astype(np.int64)
    for r in range(n_rows):
        onehot = np.zeros(span)
        ms = rounded[rows == r]
        onehot[ms[(ms >= 0) & (ms < span)]] = 1.0  # two spikes in one rounded ms count once
        counts = onehot.reshape(n_bins, dt).sum(axis=1)
        if window is not None:
            k = int(window // dt)
            k += k % 2 == 0
            kernel = np.hanning(k)
            counts = np.convolve(np.pad(counts, k // 2), kernel, mode="valid")
        grid[r] = counts
    return grid.astype(np.float32)


#: Anywhere in [-10, 5100) ms, exact .5 ties (round half to even), a dense cluster (duplicates after
#: rounding) and the edges of the kept span for every dt.
spike_time = st.one_of(
    st.floats(-10.0, 5100.0, exclude_max=True, allow_nan=False),
    st.integers(-20, 10199).map(lambda k: k / 2.0),
    st.floats(995.0, 1003.0),
    st.sampled_from([-0.5, -0.49, 0.0, 0.4999, 0.5, 4979.5, 4980.0, 4989.5, 4990.0, 4993.5, 4994.5, 4995.0]),
)


@st.composite
def spikes(draw) -> tuple[np.ndarray, np.ndarray, int]:
    n_rows = draw(st.integers(1, 5))
    times = draw(st.lists(spike_time, max_size=150))
    rows = draw(st.lists(st.integers(0, n_rows - 1), min_size=len(times), max_size=len(times)))
    return np.asarray(times, dtype=np.float64), np.asarray(rows, dtype=np.int64), n_rows


def _arrange(times: np.ndarray, rows: np.ndarray, n_rows: int, presorted: bool, seed: int):
    """presorted: each row's spikes consecutive and in time order (rows in a random order); else shuffled."""
    rng = np.random.default_rng(seed)
    if presorted:
        rank = np.empty(n_rows, dtype=np.int64)
        rank[rng.permutation(n_rows)] = np.arange(n_rows)
        order = np.lexsort((times, rank[rows]))
    else:
        order = rng.permutation(times.size)
    return times[order], rows[order]


def _bin(data, dt, presorted, seed, window):
    times, rows, n_rows = data
    shuffled_times, shuffled_rows = _arrange(times, rows, n_rows, presorted, seed)
    kernel = None if window is None else hanning_kernel(window, dt)
    got = bin_spike_times(shuffled_times, shuffled_rows, n_rows, dt, kernel=kernel)
    expected = reference_grid(times, rows, n_rows, dt, window)
    assert got.dtype == np.float32 and got.shape == expected.shape == (n_rows, RESPONSE_WINDOW_MS // dt)
    return got, expected


@settings(max_examples=50, deadline=None)
@given(data=spikes(), dt=st.sampled_from(DTS), presorted=st.booleans(), seed=st.integers(0, 2**32 - 1))
@example(data=(np.array([999.997, 1000.24, 640.0, 639.5, -0.5, 4994.5]), np.zeros(6, np.int64), 1),
         dt=5, presorted=True, seed=0)
def test_counts_equal_reference(data, dt, presorted, seed):
    """smooth=False: exactly the one-hot counts."""
    got, expected = _bin(data, dt, presorted, seed, None)
    np.testing.assert_array_equal(got, expected)


@settings(max_examples=50, deadline=None)
@given(data=spikes(), presorted=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_default_smoothing_equals_reference_exactly(data, presorted, seed):
    """The default dt=5 ms, window=21 ms kernel ([0, .5, 1, .5, 0]): exact, halves of small integers."""
    np.testing.assert_array_equal(hanning_kernel(21.0, 5.0), [0.0, 0.5, 1.0, 0.5, 0.0])
    got, expected = _bin(data, 5, presorted, seed, 21.0)
    np.testing.assert_array_equal(got, expected)


@settings(max_examples=50, deadline=None)
@given(data=spikes(), dt=st.sampled_from(DTS), window=st.sampled_from(WINDOWS), presorted=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_smoothing_equals_reference(data, dt, window, presorted, seed):
    """Any dt and window: the zero-padded convolution with np.hanning(K), K = window // dt made odd."""
    got, expected = _bin(data, dt, presorted, seed, float(window))
    if dt == 5 and window == 21:
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------- (b) round trip


@pytest.fixture(scope="module")
def one_unit_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated 1-unit tree. Its wavs are removed: spike times do not depend on them, and a file
    without audio converts about five times faster. Read-only: every example copies it."""
    root = write_sample_tree(tmp_path_factory.mktemp("roundtrip") / "raw", n_units=1, seed=0,
                             with_spectrogram=False)
    shutil.rmtree(root / SPIKES_DIR / WAV_DIR)
    return root


def _spike_path(root: Path) -> Path:
    neuron = sio.loadmat(root / METADATA_FILE)["neuron"]
    return root / SPIKES_DIR / str(neuron[0, 0]["path"].item())


#: Times anywhere in a sweep and beyond it (the next presentation may start before 6000 ms).
any_times = st.lists(st.floats(0.0, 6000.0, exclude_max=True, allow_nan=False, allow_infinity=False), max_size=40)
edits_strategy = st.lists(
    st.tuples(st.integers(0, 31), st.integers(0, 19), any_times).map(
        lambda e: (e[0], e[1] % STIMULI[e[0]].n_repeats, e[2])),
    min_size=1, max_size=3, unique_by=lambda e: (e[0], e[1]))


@settings(max_examples=5, deadline=None)
@given(edits=edits_strategy)
@example(edits=[(0, 0, [4994.999999, 0.0, 5999.999, 1e-9, 2500.5, 2500.5]), (31, 4, [])])
def test_spike_times_round_trip(one_unit_raw, edits):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(shutil.copytree(one_unit_raw, Path(tmp) / "raw"))
        spike_file = _spike_path(root)
        mat = sio.loadmat(spike_file)
        sets = mat["data"][0, 0]["set"]
        for s, r, times in edits:
            sets[0, s]["repeats"]["t"][0, r] = np.asarray(times, dtype=np.float64).reshape(1, -1)
        sio.savemat(spike_file, {k: v for k, v in mat.items() if not k.startswith("__")})
        stored = sum(t.size for s in range(sets.shape[1]) for t in sets[0, s]["repeats"]["t"].ravel())

        out = Path(tmp) / "ns1.nwb"
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*wavs missing", category=Ns1Warning)
            convert(root, out, audio_rate_hz=None)
        with ns1nwb.open(out) as rec:
            assert int(rec.units["n_spikes"].iloc[0]) == stored
            for s, r, times in edits:
                got = rec.trial_spike_times_ms(0, s, r)
                expected = np.sort(np.asarray(times, dtype=np.float64))
                assert got.dtype == np.float64 and got.shape == expected.shape
                np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
