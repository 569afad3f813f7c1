"""A noise ratio for every cluster (issue 22, item E): the Sahani & Linden estimate for unequal repeat counts,
per sound with >= 2 repeats and pooled over those sounds; NaN only where no natural sound has 2 repeats."""

from __future__ import annotations

import math
import shutil
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io as sio

import ns1nwb
from ns1nwb.constants import SPECTROGRAM_FILE, SPIKES_DIR, WAV_DIR
from ns1nwb.metrics import noise_ratio, pooled_noise_ratio, sweep_counts, unit_noise_ratio
from clusters import add_cluster
from rawedit import unit_paths

# Worked by hand (5-ms bins over a 10-ms sweep: 2 bins and histc's last-edge bin, always 0 here):
#   A, 2 repeats: [3, 1, 0], [1, 1, 0];  B, 4 repeats of [0, 0, 0];  C, 1 repeat (left out);  D, none.
#   Row means (repeat n over the sounds that have it): m0 = 4/6, m1 = 2/6, m2 = m3 = 0.
#   A centred: [7/3, 1/3, -2/3], [2/3, 2/3, -1/3]: S_tot = (54/9 + 9/9) / 2 = 3.5, mean [1.5, .5, -.5] gives
#     S_mean = 2.75, S_signal = (2 * 2.75 - 3.5) / 1 = 2.
#   B centred: 3 x -2/3, 3 x -1/3, 0, 0: S_tot = (12/9 + 3/9) / 4 = 5/12, mean -1/4 a bin gives S_mean = 3/16,
#     S_signal = (4 * 3/16 - 5/12) / 3 = 1/9.
#   Ratio = (3.5 + 5/12 - 2 - 1/9) / (2 + 1/9) = (65/36) / (19/9) = 65/76.
HAND = 65 / 76
SPIKES = [[np.array([1.0, 2.0, 3.0, 7.0]), np.array([1.0, 6.0])],   # A
          [np.array([])] * 4,                                         # B
          [np.array([1.0, 2.0])],                                     # C
          []]                                                         # D


def test_hand_worked_value():
    counts = [sweep_counts(reps, 10.0) for reps in SPIKES]
    np.testing.assert_array_equal(counts[0], [[3, 1, 0], [1, 1, 0]])
    assert pooled_noise_ratio(counts) == pytest.approx(HAND, rel=1e-12)
    assert unit_noise_ratio(SPIKES, 10.0) == pytest.approx(HAND, rel=1e-12)


def test_equal_repeats_is_the_published_recipe():
    rng = np.random.default_rng(2)
    counts = [rng.poisson(rng.uniform(0, 3, 40), size=(7, 40)).astype(float) for _ in range(5)]
    assert pooled_noise_ratio(counts) == pytest.approx(noise_ratio(np.concatenate(counts, axis=1)), rel=1e-12)


@pytest.mark.parametrize("order", ["stored in time order", "shuffled", "reversed"])
@pytest.mark.parametrize("repeats", [(20, 20, 20), (2, 5, 1, 0, 3), (4,)])
def test_the_spikes_sums_give_the_counts_ratio(order, repeats):
    """unit_noise_ratio sums the spikes' bins without a dense count array: the same value as the dense counts
    (spikes in any order, on the last edge, before 0 and after the sweep included)."""
    rng = np.random.default_rng(len(repeats) * 7 + len(order))
    sweeps = [rng.choice([5200.0, 5242.0, 1000.0]) for _ in repeats]
    spikes = []
    for n, sweep in zip(repeats, sweeps):
        sound = []
        for _ in range(n):
            times = np.sort(np.concatenate([rng.uniform(-50, sweep + 50, rng.integers(0, 300)),
                                            [sweep - sweep % 5.0, 0.0, 2.5]]))
            sound.append(times if order == "stored in time order" else
                         rng.permutation(times) if order == "shuffled" else times[::-1].copy())
        spikes.append(sound)
    dense = [sweep_counts(reps, sweep) for reps, sweep in zip(spikes, sweeps)]
    expected = pooled_noise_ratio(dense)
    assert unit_noise_ratio(spikes, sweeps) == pytest.approx(expected, rel=1e-12)
    if all(n == repeats[0] for n in repeats) and repeats[0] >= 2:  # the published recipe on the joined rows
        assert expected == pytest.approx(noise_ratio(np.concatenate(dense, axis=1)), rel=1e-12)


def test_nan_only_without_a_sound_of_two_repeats():
    one_each = [[np.array([1.0, 7.0])], [np.array([2.0])], []]
    assert math.isnan(unit_noise_ratio(one_each, 10.0))
    assert not math.isnan(unit_noise_ratio(one_each + [[np.array([1.0]), np.array([6.0])]], 10.0))


def test_inf_when_the_pooled_signal_is_not_positive():
    # Two repeats that swap: the mean response is flat, all power is noise.
    assert pooled_noise_ratio([np.array([[1.0, 0.0], [0.0, 1.0]]), np.ones((3, 2))]) == math.inf


def _natural_times(path):
    """(spike times per repeat, sweep) of each natural set of a spike file, from loadmat."""
    from ns1nwb.constants import STIMULUS_BY_KEY

    sets = sio.loadmat(path)["data"]["set"][0, 0]
    out = {}
    for s in range(sets.shape[1]):
        params = sets["stim_params"][0, s]
        key = tuple(int(np.asarray(params[f][0, 0]).ravel()[0]) for f in ("Source", "Set", "StimID", "Token"))
        index = STIMULUS_BY_KEY[key].index
        reps = sets["repeats"][0, s]
        if index < 20 and reps.size:
            out[index] = ([np.asarray(reps[0, r]["t"], dtype=float).ravel() for r in range(reps.shape[1])],
                          float(np.asarray(sets["length_signal_ms"][0, s]).ravel()[0]))
    return [out[i] for i in sorted(out)]


def test_clusters_with_unequal_repeats_get_a_value(base_raw, tmp_path):
    # base_raw's 2 units without the sounds (the row is about spikes)
    root = Path(shutil.copytree(base_raw, tmp_path / "raw",
                                ignore=shutil.ignore_patterns(WAV_DIR, SPECTROGRAM_FILE)))
    first = root / SPIKES_DIR / unit_paths(root)[0]
    rng = np.random.default_rng(3)
    few = add_cluster(first, first.with_name("cluster.09.data.mat"), hours=2.0, drop_sets=(21,),
                      repeats={s: int(rng.integers(0, 5)) for s in range(32)})  # 31 sets, 0-4 repeats
    single = add_cluster(first, first.with_name("cluster.03.data.mat"), hours=4.0,
                         repeats={s: 1 for s in range(32)})  # one repeat of every sound
    out = tmp_path / "all.nwb"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ns1nwb.convert(root, out, all_clusters=True, audio_rate_hz=None)
    with h5py.File(out, "r") as f:
        files = [v.decode() for v in f["units/spike_file"][:]]
        computed = dict(zip(files, f["units/noise_ratio_computed"][:]))
    few_name = few.relative_to(root / SPIKES_DIR).as_posix()
    sounds = _natural_times(few)
    assert len({len(reps) for reps, _ in sounds}) > 1 and max(len(reps) for reps, _ in sounds) >= 2
    expected = unit_noise_ratio([reps for reps, _ in sounds], [sweep for _, sweep in sounds])
    assert np.isfinite(computed[few_name]) and computed[few_name] == pytest.approx(expected, rel=1e-12)
    assert math.isnan(computed[single.relative_to(root / SPIKES_DIR).as_posix()])
    assert all(np.isfinite(v) for name, v in computed.items() if name not in (few_name,)
               and "cluster.03" not in name)
