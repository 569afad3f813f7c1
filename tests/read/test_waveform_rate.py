"""The stimulus as played, by default (issue 22, item D): files store each natural sound's native samples,
a spectrogram links only to the series it was computed from, and the reader resamples on request with
torchaudio's windowed-sinc algorithm (written in numpy: ns1nwb.resample)."""

from __future__ import annotations

import inspect
import math

import h5py
import numpy as np
import pytest
import soundfile

import ns1nwb
from ns1nwb.cli import cli
from ns1nwb.constants import WAV_TRUE_RATE_HZ
from ns1nwb.resample import sinc_resample

WAV = "spikesandwav/SH.En.C/source.2.sound.0.snr.0.token.0.fw.1.frozen.5"  # nat17, stimulus 16


def _torchaudio_by_its_formula(x: np.ndarray, orig: int, new: int, width_zeros: int = 6,
                               rolloff: float = 0.99) -> np.ndarray:
    """torchaudio's resampler as its documentation states it, one output at a time (slow, float64):
    y[j] = sum_i x[i] sinc(base (i/orig - j/new)) hann(...) base/orig, over |base (i/orig - j/new)| <= width."""
    g = math.gcd(orig, new)
    orig, new = orig // g, new // g
    base = min(orig, new) * rolloff
    out = np.empty(math.ceil(new * x.size / orig))
    i = np.arange(x.size)
    for j in range(out.size):
        t = np.clip((i / orig - j / new) * base, -width_zeros, width_zeros)
        window = np.cos(t * np.pi / width_zeros / 2) ** 2
        sinc = np.sinc(t)  # sin(pi t) / (pi t)
        out[j] = np.sum(x * sinc * window) * base / orig
    return out


@pytest.mark.parametrize("orig, new", [(48828, 48000), (48000, 48828), (44100, 48000), (3, 1), (1, 2)])
def test_resampler_is_torchaudios_formula(orig, new):
    x = np.random.default_rng(orig + new).standard_normal(1500)
    expected = _torchaudio_by_its_formula(x, orig, new)
    got = sinc_resample(x.astype(np.float32), orig, new)
    assert got.shape == expected.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-6)


def test_resampler_matches_torchaudio_when_installed():
    torch = pytest.importorskip("torch")
    torchaudio = pytest.importorskip("torchaudio")
    x = np.random.default_rng(0).standard_normal(30011)
    expected = torchaudio.functional.resample(torch.from_numpy(x), 48828, 48000).numpy()
    np.testing.assert_allclose(sinc_resample(x, 48828, 48000), expected, rtol=0, atol=1e-6)


def test_bad_rates_are_refused():
    for orig, new in [(0, 48000), (48828, -1)]:
        with pytest.raises(ValueError, match="positive"):
            sinc_resample(np.zeros(10), orig, new)


def test_native_is_the_default_everywhere():
    assert inspect.signature(ns1nwb.convert).parameters["audio_rate_hz"].default is None
    assert inspect.signature(ns1nwb.build_nwbfile).parameters["audio_rate_hz"].default is None
    option = next(p for p in cli.commands["convert"].params if p.name == "audio_rate")
    assert option.default == "native"


def test_default_file_stores_the_sound_as_played(sample_raw, sample_nwb):
    played, rate = soundfile.read(sample_raw / WAV, dtype="float32")
    with h5py.File(sample_nwb, "r") as f:
        series = f["stimulus/templates/nat17_waveform"]
        assert series["starting_time"].attrs["rate"] == WAV_TRUE_RATE_HZ
        np.testing.assert_array_equal(series["data"][:], played)
        link = f["stimulus/templates/nat17_spectrogram"].get("source_timeseries", getlink=True)
        assert link.path == "/stimulus/templates/nat17_waveform"


def test_a_resampled_file_links_no_spectrogram_to_its_waveform(sample_48k_nwb):
    with h5py.File(sample_48k_nwb, "r") as f:
        assert f["stimulus/templates/nat01_waveform/starting_time"].attrs["rate"] == 48000.0
        assert "source_timeseries" not in f["stimulus/templates/nat01_spectrogram"]


def test_reader_resamples_on_request(sample_raw, sample_nwb):
    played, _ = soundfile.read(sample_raw / WAV, dtype="float32")
    with ns1nwb.open(sample_nwb) as rec:
        stored = rec.waveform(16)
        at_48k = rec.waveform(16, rate_hz=48000)
        at_16k = rec.waveform(16, rate_hz=16000)
    assert stored.shape == (round(4.995 * WAV_TRUE_RATE_HZ),)
    np.testing.assert_array_equal(stored, played[:stored.size])
    # As deepSTRF: the native samples from the header's 48828 Hz, cropped to the 4995-ms window.
    assert at_48k.shape == (239760,) and at_16k.shape == (79920,)
    np.testing.assert_array_equal(at_48k, sinc_resample(played, 48828, 48000)[:239760])
    # A few outputs against the formula over the whole sound (4000 outputs per 4069 inputs).
    x, (orig, new), base = played.astype(np.float64), (4069, 4000), 4000 * 0.99
    i = np.arange(x.size)
    for j in (0, 1, 12345, 120001, 239759):
        t = np.clip((i / orig - j / new) * base, -6, 6)
        expected = np.sum(x * np.sinc(t) * np.cos(t * np.pi / 12) ** 2) * base / orig
        assert abs(at_48k[j] - expected) < 2e-5


def test_deepstrf_waveforms_come_from_a_default_file(sample_nwb):
    """NS1Dataset(return_waveform=True) takes a default file, and its torchaudio waveforms are the reader's
    rate_hz=48000 ones within torchaudio's float32 kernel rounding (0.0023 on the release, peaks 14)."""
    pytest.importorskip("torchaudio")
    from ns1nwb.deepstrf import NS1Dataset

    dataset = NS1Dataset(sample_nwb, return_waveform=True, units=[0])
    with ns1nwb.open(sample_nwb) as rec:
        ours = rec.waveform(16, rate_hz=48000)
    theirs = dataset.stims[16][0].numpy()
    assert theirs.shape == ours.shape
    np.testing.assert_allclose(theirs, ours, rtol=0, atol=3e-3 * max(1.0, float(np.abs(ours).max()) / 14))
