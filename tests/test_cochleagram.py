"""The 'spec-log' cochleagram (ns1nwb.cochleagram.cochleagram) against the recipe, a naive reference and the real wavs."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest

from ns1nwb.cochleagram import COCHLEAGRAM_RECIPE, cochleagram, cochleagram_bands, cochleagram_filterbank

#: What MATLAB's audioread reports for the NS1 wavs (their header rate).
HEADER_RATE_HZ = 48828
N_BANDS = 34
#: The recipe's centres, written out independently of the module: 500 Hz times 2**(k/6).
RECIPE_CENTRES_HZ = np.array([500.0 * 2.0 ** (k / 6.0) for k in range(N_BANDS)])


def _hop(dt_ms: float, rate_hz: float = HEADER_RATE_HZ) -> int:
    return int(round(dt_ms / 1000.0 * rate_hz))


def _naive_cochleagram(x: np.ndarray, rate_hz: float, dt_ms: float) -> np.ndarray:
    """The recipe spelled out with loops: frames one by one, numpy.fft.fft, filters built bin by bin."""
    hop = _hop(dt_ms, rate_hz)
    window_len = 2 * hop
    n_fft = 4 * window_len
    hamming = [0.54 - 0.46 * math.cos(2.0 * math.pi * i / (window_len - 1)) for i in range(window_len)]
    n_bins = n_fft // 2 + 1
    octave_step = 1.0 / 6.0

    filters = np.zeros((N_BANDS, n_bins))
    for band in range(N_BANDS):
        centre_oct = math.log2(RECIPE_CENTRES_HZ[band])
        for j in range(1, n_bins):  # DC is at -inf on a log axis: never inside a band
            distance = abs(math.log2(j * rate_hz / n_fft) - centre_oct) / octave_step
            if distance < 1.0:
                filters[band, j] = 1.0 - distance
        filters[band] /= filters[band].sum()

    n_frames = 0
    while n_frames * hop + window_len <= x.size:  # whole frames only, starting at sample 0
        n_frames += 1
    out = np.empty((N_BANDS, n_frames))
    for frame in range(n_frames):
        segment = np.array([x[frame * hop + i] * hamming[i] for i in range(window_len)])
        padded = np.concatenate([segment, np.zeros(n_fft - window_len)])
        magnitude = np.abs(np.fft.fft(padded))[:n_bins]
        for band in range(N_BANDS):
            amplitude = float(np.dot(filters[band], magnitude))
            out[band, frame] = max(20.0 * math.log10(amplitude), -70.0) if amplitude > 0 else -70.0
    return out


def test_matches_a_naive_reference_on_a_random_signal() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(scale=0.05, size=HEADER_RATE_HZ // 2)  # 0.5 s
    x[3000:6000] = 0.0  # a silent stretch, so the floor is reached too
    x[8000:9000] *= 1e-4  # and a very quiet one, just above it
    expected = _naive_cochleagram(x, HEADER_RATE_HZ, 5.0)
    got = cochleagram(x, HEADER_RATE_HZ, 5.0)
    assert got.shape == expected.shape
    assert np.any(expected == -70.0) and np.any(expected > 0.0)
    np.testing.assert_allclose(got, expected, rtol=0, atol=0.01)


@pytest.mark.parametrize("dt_ms", [5.0, 10.0])
@pytest.mark.parametrize("band", [0, 5, 12, 20, 27, 33])
@pytest.mark.parametrize("offset_steps", [-0.3, 0.0, 0.3])
def test_pure_tone_peaks_in_the_nearest_band(band: int, offset_steps: float, dt_ms: float) -> None:
    freq_hz = RECIPE_CENTRES_HZ[band] * 2.0 ** (offset_steps / 6.0)
    if freq_hz >= HEADER_RATE_HZ / 2:
        pytest.skip("above Nyquist")
    nearest = int(np.argmin(np.abs(np.log(RECIPE_CENTRES_HZ) - np.log(freq_hz))))
    t = np.arange(HEADER_RATE_HZ) / HEADER_RATE_HZ
    coch = cochleagram(0.1 * np.sin(2 * np.pi * freq_hz * t + 0.3), HEADER_RATE_HZ, dt_ms)
    per_band = coch.mean(axis=1)
    assert int(np.argmax(per_band)) == nearest
    # every frame agrees, not just the mean
    assert np.all(np.argmax(coch, axis=0) == nearest)


def test_silence_is_the_floor_everywhere() -> None:
    coch = cochleagram(np.zeros(HEADER_RATE_HZ), HEADER_RATE_HZ, 5.0)
    assert coch.shape == (N_BANDS, (HEADER_RATE_HZ - 244) // 244)
    assert np.all(coch == np.float32(-70.0))
    assert np.all(cochleagram(np.zeros(5000), HEADER_RATE_HZ, 5.0, floor_db=-90.0) == np.float32(-90.0))


@pytest.mark.parametrize("dt_ms", [1, 2, 5, 10, 20])
@pytest.mark.parametrize("n_samples", [244140, 244141, 100_003, 2 * 977, 2 * 977 - 1])
def test_frame_count(dt_ms: int, n_samples: int) -> None:
    hop = _hop(dt_ms)
    if n_samples < 2 * hop:
        with pytest.raises(ValueError, match="shorter than one"):
            cochleagram(np.zeros(n_samples), HEADER_RATE_HZ, dt_ms)
        return
    coch = cochleagram(np.zeros(n_samples, dtype=np.float32), HEADER_RATE_HZ, dt_ms)
    assert coch.dtype == np.float32
    assert coch.shape == (N_BANDS, (n_samples - hop) // hop)


def test_frame_count_of_the_documented_case() -> None:
    assert _hop(5.0) == 244
    assert cochleagram(np.zeros(244140), HEADER_RATE_HZ, 5.0).shape == (34, 999)


@pytest.mark.parametrize("dt_ms", [1, 2, 5, 10, 20])
def test_filter_weights_sum_to_one(dt_ms: int) -> None:
    weights = cochleagram_filterbank(HEADER_RATE_HZ, dt_ms)
    n_fft = 8 * _hop(dt_ms)
    assert weights.shape == (N_BANDS, n_fft // 2 + 1)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert np.all(weights >= 0.0) and np.all(weights[:, 0] == 0.0)
    # each band's weight peaks at the FFT bin nearest (in log frequency) to its centre
    bin_hz = np.arange(1, n_fft // 2 + 1) * HEADER_RATE_HZ / n_fft
    for band, centre in enumerate(RECIPE_CENTRES_HZ):
        inside = weights[band, 1:] > 0
        nearest_inside = np.argmin(np.where(inside, np.abs(np.log(bin_hz / centre)), np.inf))
        assert np.argmax(weights[band, 1:]) == nearest_inside


def test_bands_are_the_recipe() -> None:
    centres, edges = cochleagram_bands()
    np.testing.assert_allclose(centres, RECIPE_CENTRES_HZ, rtol=1e-12)
    assert edges.shape == (N_BANDS, 2)
    # triangles' feet are the neighbouring centres (1/6 octave either side)
    np.testing.assert_allclose(edges[:, 0], RECIPE_CENTRES_HZ / 2 ** (1 / 6), rtol=1e-12)
    np.testing.assert_allclose(edges[:, 1], RECIPE_CENTRES_HZ * 2 ** (1 / 6), rtol=1e-12)
    # no weight outside a band's feet
    weights = cochleagram_filterbank(HEADER_RATE_HZ, 5.0)
    bin_hz = np.arange(weights.shape[1]) * HEADER_RATE_HZ / (8 * 244)
    for band in range(N_BANDS):
        covered = bin_hz[weights[band] > 0]
        assert covered.min() > edges[band, 0] and covered.max() < edges[band, 1]
    assert "monzilur/cochlear_models" in COCHLEAGRAM_RECIPE and "-70 dB" in COCHLEAGRAM_RECIPE


@pytest.mark.parametrize(
    ("samples", "rate_hz", "dt_ms", "message"),
    [
        (np.zeros((2, 5000)), HEADER_RATE_HZ, 5.0, "1-D"),
        (np.array([0.0, np.nan] * 2000), HEADER_RATE_HZ, 5.0, "finite"),
        (np.array([0.0, np.inf] * 2000), HEADER_RATE_HZ, 5.0, "finite"),
        (np.zeros(5000), 0.0, 5.0, "rate_hz"),
        (np.zeros(5000), -48828.0, 5.0, "rate_hz"),
        (np.zeros(5000), HEADER_RATE_HZ, 2.5, "whole number"),
        (np.zeros(5000), HEADER_RATE_HZ, 0.0, "whole number"),
        (np.zeros(5000), HEADER_RATE_HZ, -5.0, "whole number"),
        (np.zeros(400), HEADER_RATE_HZ, 5.0, "shorter than one"),
        (np.zeros(5000), 8000.0, 5.0, "cover no FFT bin"),  # the upper bands lie above Nyquist
    ],
)
def test_bad_input_is_refused(samples: np.ndarray, rate_hz: float, dt_ms: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cochleagram(samples, rate_hz, dt_ms)


def _real_wavs(real_raw: Path) -> list[Path]:
    wav_dir = real_raw / "spikesandwav" / "SH.En.C"
    wavs = sorted(p for p in wav_dir.glob("source.*") if p.is_file())
    if not wavs:
        pytest.skip(f"no stimulus wavs in {wav_dir}")
    return wavs


@pytest.mark.realdata
def test_real_wavs(real_raw: Path) -> None:
    import soundfile

    wavs = _real_wavs(real_raw)
    assert len(wavs) == 20
    slowest_s = 0.0
    for wav in wavs:
        samples, rate = soundfile.read(wav, dtype="float32")
        assert rate == HEADER_RATE_HZ and samples.ndim == 1
        started = time.perf_counter()
        coch_5 = cochleagram(samples, rate, 5.0)
        slowest_s = max(slowest_s, time.perf_counter() - started)
        coch_10 = cochleagram(samples, rate, 10.0)
        assert coch_5.shape == (34, 999)
        assert coch_10.shape == (34, 499)
        for coch in (coch_5, coch_10):
            assert coch.dtype == np.float32
            assert np.all(np.isfinite(coch)) and coch.min() >= -70.0
            assert coch.max() > -70.0  # real sound, not the floor
    assert slowest_s < 1.0, f"slowest wav took {slowest_s:.2f} s at 5 ms"
