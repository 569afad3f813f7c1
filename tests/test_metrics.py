"""Tests for ns1nwb.metrics: the Sahani & Linden (2003) noise ratio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ns1nwb.metrics import noise_ratio, sweep_counts, unit_noise_ratio


def _poisson_repeats(rate: np.ndarray, n_repeats: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).poisson(rate, size=(n_repeats, rate.size)).astype(float)


# --- the estimator -------------------------------------------------------------------------------

def test_pure_signal_gives_zero() -> None:
    signal = np.sin(np.linspace(0, 20, 500)) + 2.0
    assert noise_ratio(np.tile(signal, (20, 1))) == pytest.approx(0.0, abs=1e-9)


def test_pure_poisson_noise_is_huge_or_inf() -> None:
    counts = _poisson_repeats(np.full(5000, 2.0), 20, seed=1)
    # The true signal power is 0, so the estimate hovers around 0: the ratio is huge or inf.
    assert noise_ratio(counts) > 100


@pytest.mark.parametrize("n_repeats", [5, 20, 40])
def test_poisson_mixture_matches_analytic_ratio(n_repeats: int) -> None:
    # The rate alternates 1, 3: signal power = var(rate) = 1, Poisson noise power = mean(rate) = 2.
    rate = np.tile([1.0, 3.0], 20000)
    got = noise_ratio(_poisson_repeats(rate, n_repeats, seed=n_repeats))
    # The N-1 correction makes the value independent of N. The naive ratio
    # (total - var(mean)) / var(mean) would give 2 (N-1) / (N + 2): 0.57 for N = 5.
    assert got == pytest.approx(2.0, rel=0.05)


def test_gaussian_mixture_matches_analytic_ratio() -> None:
    rng = np.random.default_rng(7)
    t = np.arange(30000)
    signal = 2.0 * np.sin(2 * np.pi * t / 50)          # power A**2 / 2 = 2
    counts = signal + rng.normal(0.0, 3.0, (20, t.size))  # noise power 9
    assert noise_ratio(counts) == pytest.approx(4.5, rel=0.05)


def test_invariant_to_repeat_order_bin_order_and_scale() -> None:
    rng = np.random.default_rng(3)
    counts = _poisson_repeats(rng.uniform(0, 4, 800), 20, seed=4)
    ref = noise_ratio(counts)
    assert np.isfinite(ref) and ref > 0
    assert noise_ratio(counts[rng.permutation(20)]) == pytest.approx(ref, rel=1e-12)
    assert noise_ratio(counts[:, rng.permutation(800)]) == pytest.approx(ref, rel=1e-12)
    assert noise_ratio(counts / 0.005) == pytest.approx(ref, rel=1e-12)  # counts vs rates in Hz


def test_degenerate_inputs() -> None:
    assert np.isnan(noise_ratio(np.ones((1, 100))))           # one repeat: N - 1 = 0
    assert np.isnan(noise_ratio(np.ones((20, 1))))            # one bin: no variance over time
    assert np.isnan(noise_ratio(np.zeros((20, 100))))         # no spikes: 0 / 0
    assert np.isnan(noise_ratio(np.arange(20.0)[:, None] * np.ones((20, 50))))  # flat rows
    # The rows vary but their mean is flat, so the signal power is negative and the ratio is inf.
    anti = np.array([[1.0, 0.0] * 50, [0.0, 1.0] * 50])
    assert noise_ratio(anti) == np.inf


@pytest.mark.parametrize("bad", [np.ones(10), np.ones((2, 3, 4)), np.array([[1.0, np.nan], [0.0, 1.0]])])
def test_rejects_bad_arrays(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        noise_ratio(bad)


# --- binning and pooling ---------------------------------------------------------------------------

def test_sweep_counts_follows_histc() -> None:
    # The edges are 0:5:5199.99 = 0..5195 (1039 bins), plus histc's bin for t == 5195 exactly.
    reps = [np.array([5195.0, 4.99, 0.0, 5.0, 5194.9, 5197.0, -1.0]), np.array([])]
    c = sweep_counts(reps, 5199.995)
    assert c.shape == (2, 1040)
    assert c[0, 0] == 2 and c[0, 1] == 1 and c[0, 1038] == 1
    assert c[0, 1039] == 1        # only the spike exactly on the last edge
    assert c[0].sum() == 5        # 5197 (after the last edge) and -1 are dropped
    assert not c[1].any()
    assert sweep_counts([[]], 5200.036).shape == (1, 1041)
    assert sweep_counts([[]], 5241.938).shape == (1, 1049)
    with pytest.raises(ValueError):
        sweep_counts([[]], 3.0)


def test_unit_noise_ratio_joins_sounds_per_repeat() -> None:
    rng = np.random.default_rng(11)
    sounds = [[np.sort(rng.uniform(0, 5200, rng.poisson(40))) for _ in range(6)] for _ in range(3)]
    sweeps = [5199.995, 5200.036, 5241.938]
    joined = np.concatenate([sweep_counts(s, w) for s, w in zip(sounds, sweeps)], axis=1)
    assert joined.shape == (6, 1040 + 1041 + 1049)
    assert unit_noise_ratio(sounds, sweeps) == pytest.approx(noise_ratio(joined), rel=1e-12)
    # A single sweep length applies to every sound.
    assert unit_noise_ratio(sounds, 5200.036) == unit_noise_ratio(sounds, [5200.036] * 3)
    # Shuffling spikes within a repeat changes nothing; unsorted input is allowed.
    shuffled = [[rng.permutation(t) for t in s] for s in sounds]
    assert unit_noise_ratio(shuffled, sweeps) == unit_noise_ratio(sounds, sweeps)


def test_joined_counts_equal_per_sound_counts_at_the_edges() -> None:
    """The one-pass matrix behind unit_noise_ratio is the per-sound sweep_counts side by side, also for
    spikes before 0, on a bin edge, on the last edge (histc's extra bin) and after it, and empty repeats."""
    from ns1nwb.metrics import _sound_counts

    rng = np.random.default_rng(5)
    edges = np.array([-1.0, -0.0, 0.0, 4.99, 5.0, 5195.0, 5195.1, 5200.0, 5235.0, 5240.0, 5241.9, 9999.0])
    sweeps = [5199.995, 5200.036, 5241.938, 12.5]
    sounds = [[np.concatenate([rng.uniform(-5, 5250, rng.poisson(25)), rng.choice(edges, 4)]) for _ in range(4)]
              for _ in sweeps]
    sounds[1][2] = np.array([])
    expected = np.concatenate([sweep_counts(reps, w) for reps, w in zip(sounds, sweeps)], axis=1)
    got = np.concatenate(_sound_counts(sounds, sweeps, 5.0), axis=1)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
    assert got[:, 1039].sum() == sum(np.count_nonzero(r == 5195.0) for r in sounds[0])  # the last-edge bin


def test_unit_noise_ratio_validates() -> None:
    with pytest.raises(ValueError, match="sweep lengths"):
        unit_noise_ratio([[np.array([1.0])] * 3] * 2, [5200.0])
    with pytest.raises(ValueError):
        unit_noise_ratio([], 5200.0)


# --- the published values ----------------------------------------------------------------------

#: stim_params (Source, Set, StimID) -> natural-sound index 0..19.
_NATURAL = {**{(1, 2, k): k - 1 for k in range(1, 13)}, **{(2, 1, k): 11 + k for k in range(1, 9)}}


def _scalar(x: object) -> float:
    return float(np.asarray(x).ravel()[0])


def _natural_sounds(path: Path) -> tuple[list[list[np.ndarray]], list[float]]:
    import scipy.io as sio

    sets = sio.loadmat(path)["data"]["set"][0, 0]
    found: dict[int, tuple[list[np.ndarray], float]] = {}
    for s in range(sets.shape[1]):
        params = sets["stim_params"][0, s]
        key = tuple(int(_scalar(params[f][0, 0])) for f in ("Source", "Set", "StimID"))
        if key in _NATURAL:
            rep = sets["repeats"][0, s]
            times = [np.asarray(rep[0]["t"][r], dtype=float).ravel() for r in range(rep.shape[1])]
            found[_NATURAL[key]] = (times, _scalar(sets["length_signal_ms"][0, s]))
    assert sorted(found) == list(range(20)), f"{path}: natural sounds {sorted(found)}"
    return [found[i][0] for i in range(20)], [found[i][1] for i in range(20)]


@pytest.mark.realdata
def test_reproduces_published_noise_ratio(real_raw: Path) -> None:
    import scipy.io as sio

    neurons = sio.loadmat(real_raw / "MetadataSHEnCneurons.mat")["neuron"][0]
    assert len(neurons) == 119
    rel = []
    for n in neurons:
        path = str(np.asarray(n["path"]).ravel()[0])
        sounds, sweeps = _natural_sounds(real_raw / "spikesandwav" / path)
        rel.append((unit_noise_ratio(sounds, sweeps) / _scalar(n["NoiseRatio"]) - 1, path))
    errors = np.abs([r for r, _ in rel])
    worst = max(rel, key=lambda x: abs(x[0]))
    assert errors.max() < 0.02, f"worst {worst}"
    # The recipe's worst error is 0.21 % (median 0.03 %). Every other window tried had a worst of
    # at least 0.34 %, so this tighter bound catches a change to the recipe.
    assert errors.max() < 0.003, f"worst {worst}"
