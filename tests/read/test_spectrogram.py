"""The authors' cochleagram in the files and in the reader: stored spectrograms, band tables, any time step."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile

import ns1nwb
from ns1nwb import cochleagram, cochleagram_bands
from ns1nwb.constants import SPIKES_DIR, STIMULI, WAV_DIR
from ns1nwb.exceptions import Ns1Warning
from ns1nwb.sample_data import write_sample_tree
from shared import made_once

#: The rate MATLAB's audioread reports for the NS1 wavs (their RIFF header), which the authors computed at.
HEADER_RATE_HZ = 48828
FLOOR_DB = -70.0
DTS_MS = (1, 5, 10, 20)


def _convert(raw: Path, out: Path, **kwargs) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ns1nwb.convert(raw, out, **kwargs)
    return out


@pytest.fixture(scope="session")
def raw_no_x_nfht(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-unit sample tree without test_data_5ms.mat: the conversion computes the spectrograms."""
    return made_once(tmp_path_factory, "raw_no_x_nfht", lambda folder: write_sample_tree(
        folder / "ns1", n_units=1, seed=5, with_spectrogram=False))


@pytest.fixture(scope="session")
def nwb_48k(raw_no_x_nfht: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return made_once(tmp_path_factory, "nwb_48k", lambda folder: _convert(raw_no_x_nfht, folder / "48k.nwb",
                                                                          audio_rate_hz=48000))


@pytest.fixture(scope="session")
def nwb_native(raw_no_x_nfht: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return made_once(tmp_path_factory, "nwb_native", lambda folder: _convert(raw_no_x_nfht, folder / "native.nwb",
                                                                             audio_rate_hz=None))


def _wav(raw: Path, index: int) -> np.ndarray:
    samples, rate = soundfile.read(raw / SPIKES_DIR / WAV_DIR / STIMULI[index].wav_name, dtype="float32")
    assert rate == HEADER_RATE_HZ
    return samples


def _on_grid(levels: np.ndarray, dt_ms: int) -> np.ndarray:
    """What the reader documents: cut to T = floor(4995 / dt_ms) frames, or pad the end with -70 dB frames."""
    n_frames = 4995 // dt_ms
    out = np.full((levels.shape[0], n_frames), FLOOR_DB, dtype=np.float32)
    kept = min(n_frames, levels.shape[1])
    out[:, :kept] = levels[:, :kept]
    return out


# --------------------------------------------------------------------------- the converted file


def test_computed_spectrograms_are_the_authors_cochleagram_of_the_raw_wav(raw_no_x_nfht, nwb_48k):
    """Without test_data_5ms.mat the spectrograms are computed (and say so), from the native samples at the
    header rate, not the file's 48-kHz waveform: bit for bit the recipe's output."""
    with h5py.File(nwb_48k, "r") as f:
        assert f["stimulus/templates/nat01_waveform/starting_time"].attrs["rate"] == 48000.0
        for index in range(20):
            series = f[f"stimulus/templates/{STIMULI[index].name}_spectrogram"]
            assert "computed by ns1nwb" in series.attrs["description"]
            stored = series["data"][:]
            assert stored.shape == (999, 1, 34) and stored.dtype == np.float32 and np.isfinite(stored).all()
            np.testing.assert_array_equal(stored[:, 0, :], cochleagram(_wav(raw_no_x_nfht, index), HEADER_RATE_HZ).T)


def test_computed_spectrogram_series_says_what_it_is(nwb_48k):
    with h5py.File(nwb_48k, "r") as f:
        series = f["stimulus/templates/nat04_spectrogram"]
        description = series.attrs["description"]
        assert series["data"].attrs["unit"] == "dB"
        assert series["starting_time"].attrs["rate"] == 200.0
        for words in ("spec-log", "Rahman et al.", "PNAS 2020", "PLoS Comput Biol 2019", "cochlear_models",
                      "dB re 1", "20*log10", "pascals", "-70 dB", "native samples", "[n*h, n*h+2h)",
                      "h=244 at 48828 Hz", "4.997 ms", "48828.125 Hz", "response bin n"):
            assert words in description, words
        assert "Hann" not in description and "below the sound's maximum" not in description  # the old recipe


@pytest.mark.parametrize("which", ["computed", "x_nfht"])
def test_band_table_is_the_filter_bank(which, nwb_48k, sample_nwb):
    """Both sources carry the published recipe's bands: centres and triangle feet of cochleagram_bands()."""
    centres, edges = cochleagram_bands()
    path = nwb_48k if which == "computed" else sample_nwb
    with h5py.File(path, "r") as f:
        bands = f["stimulus/templates/nat07_spectrogram/bands"]
        np.testing.assert_array_equal(bands["band_mean"][:], centres)
        np.testing.assert_array_equal(bands["band_limits"][:], edges)
        names = [n.decode() if isinstance(n, bytes) else n for n in bands["band_name"][:]]
        assert names[0] == "500 Hz" and names[-1] == "22627 Hz" and len(names) == 34
        assert ("X_nfht" in f["stimulus/templates/nat07_spectrogram"].attrs["description"]) == (which == "x_nfht")


# --------------------------------------------------------------------------- the reader


def test_stored_spectrogram_is_read_as_is(nwb_48k):
    with ns1nwb.open(nwb_48k) as rec, h5py.File(nwb_48k, "r") as f:
        for index in (0, 13, 19):
            got = rec.spectrogram(index)
            assert got.dtype == np.float32 and got.shape == (34, 999) and got.flags.c_contiguous
            np.testing.assert_array_equal(got, f[f"stimulus/templates/{STIMULI[index].name}_spectrogram/data"][:, 0].T)
            np.testing.assert_array_equal(rec.spectrogram(index, dt_ms=None), got)


@pytest.mark.parametrize("dt_ms", DTS_MS)
@pytest.mark.parametrize("which", ["48k", "native"])
def test_any_step_is_the_cochleagram_of_the_stored_waveform(which, dt_ms, nwb_48k, nwb_native):
    """Whole stored waveform, stored rate (48828.125 -> the header's 48828), cut or padded to T frames."""
    path = nwb_48k if which == "48k" else nwb_native
    recipe_rate = 48000.0 if which == "48k" else HEADER_RATE_HZ
    with ns1nwb.open(path) as rec, h5py.File(path, "r") as f:
        for index in (3, 17):  # a 244140- and a 244141-sample wav
            got = rec.spectrogram(index, dt_ms=dt_ms)
            waveform = f[f"stimulus/templates/{STIMULI[index].name}_waveform/data"][:]
            expected = _on_grid(cochleagram(waveform, recipe_rate, dt_ms), dt_ms)
            assert got.shape == (34, 4995 // dt_ms) and got.dtype == np.float32
            np.testing.assert_array_equal(got, expected)
        grid = rec.response_grid(units=[0], stimuli=[3], dt_ms=dt_ms, smooth=False)
    assert grid.shape[-1] == got.shape[1]  # frame n is bin n


@pytest.mark.parametrize("which, dt_ms, n_padded, n_cut", [
    ("48k", 1, 0, 4),       # 240,000 samples, h = 48: 4999 frames for 4995 bins
    ("48k", 5, 0, 0),
    ("native", 1, 14, 0),   # h = 49 at 48828 Hz: 4981 frames
    ("native", 20, 1, 0),   # h = 977: 248 frames for 249 bins
])
def test_cut_and_padding_are_as_documented(which, dt_ms, n_padded, n_cut, nwb_48k, nwb_native):
    path = nwb_48k if which == "48k" else nwb_native
    with ns1nwb.open(path) as rec, h5py.File(path, "r") as f:
        got = rec.spectrogram(2, dt_ms=dt_ms)
        waveform = f["stimulus/templates/nat03_waveform/data"][:]
        rate = f["stimulus/templates/nat03_waveform/starting_time"].attrs["rate"]
    full = cochleagram(waveform, 48000.0 if which == "48k" else HEADER_RATE_HZ, dt_ms)
    assert full.shape[1] == 4995 // dt_ms - n_padded + n_cut
    assert rate == (48000.0 if which == "48k" else 48828.125)
    if n_padded:
        assert np.all(got[:, -n_padded:] == FLOOR_DB)
    assert np.all(got[:, -n_padded - 1] > FLOOR_DB)  # the last real frame is the sound, not the floor
    np.testing.assert_array_equal(got[:, :full.shape[1] - n_cut], full[:, :full.shape[1] - n_cut])


def test_native_file_at_5_ms_reproduces_the_stored_spectrogram(nwb_native, nwb_48k):
    with ns1nwb.open(nwb_native) as native, ns1nwb.open(nwb_48k) as default:
        for index in range(20):
            stored = native.spectrogram(index)
            np.testing.assert_allclose(native.spectrogram(index, dt_ms=5), stored, rtol=0, atol=0.01)
            # the default file's stored spectrograms are the same numbers (computed from the raw wav)
            np.testing.assert_array_equal(default.spectrogram(index), stored)
        # 48 kHz frames are 5 ms apart, the authors' 4.997 ms: close at the start, not identical
        resampled = default.spectrogram(5, dt_ms=5)
        assert not np.array_equal(resampled, native.spectrogram(5))
        assert np.median(np.abs(resampled[:, :100] - native.spectrogram(5)[:, :100])) < 1.0


@pytest.mark.parametrize("dt_ms", [2.5, 0, -5, 0.0, float("nan"), float("inf"), True, "5", 5000])
def test_bad_step_is_a_one_line_value_error(dt_ms, nwb_48k):
    with ns1nwb.open(nwb_48k) as rec, pytest.raises(ValueError) as caught:
        rec.spectrogram(3, dt_ms=dt_ms)
    assert "dt_ms" in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("which", ["48k", "native"])
def test_the_longest_step_is_half_the_sound(which, nwb_48k, nwb_native):
    """Issue 25 (LOW): a frame spans 2 x dt_ms, so the recipe has frames up to dt_ms = 2500 for the NS1 sounds
    (T = 1 there); above, one line says so and gives the bound (it raised from inside the cochleagram)."""
    with ns1nwb.open(nwb_48k if which == "48k" else nwb_native) as rec:
        assert rec.spectrogram(3, dt_ms=2500).shape == (34, 1)
        for dt_ms in (2501, 3000, 4995):
            with pytest.raises(ValueError, match=f"dt_ms={dt_ms}: a cochleagram frame spans 2 x dt_ms, longer than "
                                                 "stimulus 3's .* samples .*; dt_ms may be at most 2500 here"):
                rec.spectrogram(3, dt_ms=dt_ms)


def test_whole_float_and_numpy_steps_are_accepted(nwb_48k):
    with ns1nwb.open(nwb_48k) as rec:
        expected = rec.spectrogram(3, dt_ms=10)
        np.testing.assert_array_equal(rec.spectrogram(3, dt_ms=10.0), expected)
        np.testing.assert_array_equal(rec.spectrogram(3, dt_ms=np.int64(10)), expected)


def test_a_sound_without_waveform_is_a_key_error(nwb_48k):
    with ns1nwb.open(nwb_48k) as rec:
        with pytest.raises(KeyError, match="stimulus 25 has no stored waveform"):
            rec.spectrogram(25, dt_ms=5)
        with pytest.raises(KeyError, match="no stored spectrogram"):
            rec.spectrogram(25)


def test_too_low_a_stored_rate_says_why(raw_no_x_nfht, tmp_path):
    """At 32 kHz the top bands lie above Nyquist: a clear ValueError naming the rate, not an empty band.
    (The tree holds nat01's wav alone: the row asks nothing of the others.)"""
    raw = Path(shutil.copytree(raw_no_x_nfht, tmp_path / "raw", ignore=shutil.ignore_patterns(WAV_DIR)))
    (raw / SPIKES_DIR / WAV_DIR).mkdir()
    shutil.copy(raw_no_x_nfht / SPIKES_DIR / WAV_DIR / STIMULI[0].wav_name, raw / SPIKES_DIR / WAV_DIR)
    with pytest.warns(Ns1Warning, match="19 of 20 natural-sound wavs missing"):
        path = _convert(raw, tmp_path / "32k.nwb", audio_rate_hz=32000.0)
    with ns1nwb.open(path) as rec:
        assert rec.spectrogram(0).shape == (34, 999)  # stored: from the native wav, whatever the audio rate
        with pytest.raises(ValueError, match="32000 Hz.*cover no FFT bin"):
            rec.spectrogram(0, dt_ms=5)


# --------------------------------------------------------------------------- the figure


def test_plot_shows_the_cochleagram_in_db_with_its_bands(sample_nwb):
    pytest.importorskip("matplotlib")
    from ns1nwb.plot import response_figure

    centres, edges = cochleagram_bands()
    with ns1nwb.open(sample_nwb) as rec:
        fig = response_figure(rec, 0, 3)
        spec_ax = fig.axes[0]
        colorbar_ax = fig.axes[-1]
        assert "dB" in colorbar_ax.get_ylabel()
        assert "cochleagram" in spec_ax.get_title(loc="right")
        # rows end where neighbouring triangles cross, half-way (in log frequency) to the outer feet
        lo, hi = spec_ax.get_ylim()
        assert lo == pytest.approx(np.sqrt(edges[0, 0] * centres[0]))
        assert hi == pytest.approx(np.sqrt(centres[-1] * edges[-1, 1]))
        mesh = spec_ax.collections[0]
        np.testing.assert_array_equal(np.asarray(mesh.get_array()).reshape(34, 999), rec.spectrogram(3))


# --------------------------------------------------------------------------- the real release


@pytest.mark.realdata
def test_real_file_stores_the_cochleagram_and_computes_any_step(real_raw, real_nwb):
    with ns1nwb.open(real_nwb) as rec:
        for index in (0, 19):
            stored = rec.spectrogram(index)
            assert stored.shape == (34, 999)
            np.testing.assert_array_equal(stored, cochleagram(_wav(real_raw, index), HEADER_RATE_HZ))
            assert rec.spectrogram(index, dt_ms=10).shape == (34, 499)
            assert rec.spectrogram(index, dt_ms=5).shape == (34, 999)
