"""ns1nwb.open: grids equal the seed's algorithm value for value; spikes, stimuli and Neo come back right."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.io as sio
import soundfile
from scipy.signal import resample_poly

import ns1nwb
from ns1nwb import NwbContentError
from ns1nwb import convert
from reference import raw_repeat_times, seed_grid, seed_response

#: Crafted spike times (ms): bin edges, two spikes in one rounded ms, the 4995-ms cut, out of order.
EDGE_CASE_TIMES = np.array([5.0, 0.0, 9.6, 10.4, 4994.4, 4994.6, 4995.0, 0.3, 14.999, 15.0, 5100.2, 2.2, 2.4, 7.49])


@pytest.fixture(scope="module")
def edge_case_tree(base_raw, tmp_path_factory) -> tuple[Path, Path]:
    """A 2-unit tree whose first unit's set 0 has the crafted repeat 0 and an empty (0x0) repeat 1 (no sounds:
    the row is about spikes)."""
    from ns1nwb.constants import SPECTROGRAM_FILE, WAV_DIR
    from ns1nwb.exceptions import Ns1Warning

    root = tmp_path_factory.mktemp("edge")
    raw = Path(shutil.copytree(base_raw, root / "raw", ignore=shutil.ignore_patterns(WAV_DIR, SPECTROGRAM_FILE)))
    path = str(sio.loadmat(raw / "MetadataSHEnCneurons.mat")["neuron"][0][0]["path"].item())
    spike_file = raw / "spikesandwav" / path
    mat = sio.loadmat(spike_file)
    repeats = mat["data"]["set"][0, 0]["repeats"][0, 0]
    repeats[0, 0]["t"] = EDGE_CASE_TIMES[None, :]
    repeats[0, 0]["repeat_id"] = np.ones((1, EDGE_CASE_TIMES.size), dtype=np.uint8)
    repeats[0, 1]["t"] = np.zeros((0, 0))
    repeats[0, 1]["repeat_id"] = np.zeros((0, 0), dtype=np.uint8)
    sio.savemat(spike_file, {"data": mat["data"]})
    out = root / "edge.nwb"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", ".*20 of 20 natural-sound wavs missing", Ns1Warning)
        convert(raw, out)
    return raw, out


def test_default_grid_equals_seed_exactly(sample_raw, sample_nwb):
    expected = seed_grid(sample_raw)
    with ns1nwb.open(sample_nwb) as rec:
        grid = rec.response_grid()
    assert grid.dtype == np.float32
    assert grid.shape == (8, 20, 20, 999)
    np.testing.assert_array_equal(grid, expected)


def test_edge_cases_equal_seed_exactly(edge_case_tree):
    raw, nwb = edge_case_tree
    with ns1nwb.open(nwb) as rec:
        counts = rec.response_grid(units=[0], stimuli=[0], smooth=False)[0, 0]
        smoothed = rec.response_grid(units=[0], stimuli=[0])[0, 0]
        assert counts[1].sum() == 0  # the empty repeat
        np.testing.assert_allclose(rec.trial_spike_times_ms(0, 0, 0), np.sort(EDGE_CASE_TIMES), rtol=0, atol=1e-6)
        assert rec.trial_spike_times_ms(0, 0, 1).size == 0
    times = list(raw_repeat_times(raw).values())[0][0]
    np.testing.assert_array_equal(counts, seed_response(times, smooth=False))
    np.testing.assert_array_equal(smoothed, seed_response(times))
    # By hand: ms 0 (0.0, 0.3 once), 2 (2.2, 2.4 once), 5, 7, 10 (9.6, 10.4 once), 15 (14.999, 15.0 once), 4994.
    first = counts[0]
    assert first[0] == 2 and first[1] == 2 and first[2] == 1 and first[3] == 1 and first[998] == 1
    assert first.sum() == 7


@pytest.mark.parametrize("dt_ms", [1, 2, 10, 20])
def test_other_bin_widths_follow_the_same_rules(sample_raw, sample_nwb, dt_ms):
    expected_counts = seed_grid(sample_raw, stimuli=[0, 7], dt_ms=dt_ms, smooth=False)
    expected_smooth = seed_grid(sample_raw, stimuli=[0, 7], dt_ms=dt_ms, window_ms=41.0)
    with ns1nwb.open(sample_nwb) as rec:
        counts = rec.response_grid(stimuli=[0, 7], dt_ms=dt_ms, smooth=False)
        smooth = rec.response_grid(stimuli=[0, 7], dt_ms=dt_ms, window_ms=41.0)
    assert counts.shape[-1] == 4995 // dt_ms
    np.testing.assert_array_equal(counts, expected_counts)
    np.testing.assert_allclose(smooth, expected_smooth, rtol=1e-6, atol=1e-6)


def test_drc_grid_has_five_repeats(sample_raw, sample_nwb):
    expected = seed_grid(sample_raw, stimuli=range(20, 32))
    with ns1nwb.open(sample_nwb) as rec:
        grid = rec.response_grid(stimuli=range(20, 32))
        assert grid.shape == (8, 12, 5, 999)
        np.testing.assert_array_equal(grid, expected)
        # Natural and DRC together: R = 20, the DRC's repeats 5-19 are NaN (not presented).
        mixed = rec.response_grid(stimuli=[0, 25])
        assert mixed.shape == (8, 2, 20, 999)
        np.testing.assert_array_equal(mixed[:, 1, :5], expected[:, 5])
        assert np.isnan(mixed[:, 1, 5:]).all() and not np.isnan(mixed[:, 0]).any()


def test_unit_selection(sample_nwb):
    with ns1nwb.open(sample_nwb) as rec:
        everything = rec.response_grid(stimuli=[1])
        good = rec.units.is_good
        assert good.dtype == bool and 0 < good.sum() < len(good)
        np.testing.assert_array_equal(rec.response_grid(units=good, stimuli=[1]), everything[good.to_numpy()])
        np.testing.assert_array_equal(rec.response_grid(units=[3, 1], stimuli=[1]), everything[[3, 1]])
        name = rec.units.unit_name[2]
        np.testing.assert_array_equal(rec.response_grid(units=name, stimuli=[1]), everything[[2]])
        with pytest.raises(IndexError):
            rec.response_grid(units=[99])
        with pytest.raises(ValueError, match="whole number"):
            rec.response_grid(dt_ms=2.5)


@pytest.mark.parametrize("spikes_per_step", [1, 10**9])
def test_grid_in_any_steps_and_unit_order_equals_seed_exactly(sample_raw, sample_nwb, monkeypatch, spikes_per_step):
    """Units binned one by one, or all neighbours in one step, in every unit order asked for."""
    from ns1nwb.read import recording

    monkeypatch.setattr(recording, "SPIKES_PER_STEP", spikes_per_step)
    expected = seed_grid(sample_raw)
    expected_1ms = seed_grid(sample_raw, stimuli=[4], dt_ms=1)
    order = [5, 0, 7, 7, 2, 1, 6, 3, 4]
    with ns1nwb.open(sample_nwb) as rec:
        np.testing.assert_array_equal(rec.response_grid(), expected)
        np.testing.assert_array_equal(rec.response_grid(units=order), expected[order])
        np.testing.assert_array_equal(rec.response_grid(units=order, stimuli=[4], dt_ms=1), expected_1ms[order])


def test_empty_kernel_gives_raw_counts():
    from ns1nwb.read import bin_spike_times

    times, rows = np.array([1.0, 7.0, 7.2, 12.0]), np.array([0, 0, 0, 1])
    counts = bin_spike_times(times, rows, 2)
    assert counts.sum() == 3  # 7.0 and 7.2 round to one ms
    np.testing.assert_array_equal(bin_spike_times(times, rows, 2, kernel=np.array([])), counts)


def test_trial_spike_times_equal_raw(sample_raw, sample_nwb):
    raw = list(raw_repeat_times(sample_raw).values())
    with ns1nwb.open(sample_nwb) as rec:
        for unit in range(len(raw)):
            for stimulus, repeat in [(0, 0), (5, 19), (19, 7), (20, 0), (31, 4)]:
                got = rec.trial_spike_times_ms(unit, stimulus, repeat)
                assert got.dtype == np.float64
                np.testing.assert_allclose(got, np.sort(raw[unit][stimulus][repeat]), rtol=0, atol=1e-6)


def test_tables(sample_raw, sample_nwb):
    meta = sio.loadmat(sample_raw / "MetadataSHEnCneurons.mat")["neuron"][0]
    with ns1nwb.open(sample_nwb) as rec:
        units, stimuli = rec.units, rec.stimuli
    assert list(units.unit_name) == [str(n["path"].item())[:-4] for n in meta]
    assert list(units.metadata_row) == list(range(len(meta)))
    assert {"depth_um", "noise_ratio", "single_unit_label", "is_good", "session_id", "subject_id",
            "electrode_group", "n_spikes"} <= set(units.columns)
    assert len(stimuli) == 32 and list(stimuli.index) == list(range(32))
    assert list(stimuli.stimulus_name[:2]) == ["nat01", "nat02"] and stimuli.stimulus_type[20] == "drc"
    assert stimuli.sound_category[3] == "ferret_vocalization"


def test_spectrogram_and_waveform(sample_raw, sample_nwb):
    x_nfht = sio.loadmat(sample_raw / "test_data_5ms.mat")["X_nfht"]
    wav, _ = soundfile.read(sample_raw / "spikesandwav/SH.En.C/source.1.sound.0.snr.0.token.0.fw.2.frozen.4",
                            dtype="float32")
    with ns1nwb.open(sample_nwb) as rec:
        assert rec.audio_rate == 48828.125  # the default: the native samples
        spectrogram = rec.spectrogram(3)
        waveform = rec.waveform(3)
        with pytest.raises(KeyError, match="no stored"):
            rec.waveform(25)
    assert spectrogram.dtype == np.float32 and spectrogram.shape == (34, 999)
    np.testing.assert_array_equal(spectrogram, x_nfht[3, :, 0, :].astype(np.float32))
    assert waveform.dtype == np.float32 and waveform.shape == (243_896,)  # the 4995-ms window
    np.testing.assert_array_equal(waveform, wav[:243_896])


@pytest.mark.parametrize("rate_hz", [44100.0, 96000.0, 16000.0])
def test_resampling_equals_scipys_default(rate_hz):
    """The filter designed once per ratio is resample_poly's own default: the same samples, bit for bit."""
    from fractions import Fraction

    from ns1nwb.cochleagram import resample_waveform

    samples = np.random.default_rng(3).standard_normal(50_000).astype(np.float32)
    ratio = Fraction(str(rate_hz)) / Fraction("48828.125")
    expected = resample_poly(samples.astype(np.float64), ratio.numerator, ratio.denominator).astype(np.float32)
    np.testing.assert_array_equal(resample_waveform(samples, rate_hz), expected)
    np.testing.assert_array_equal(resample_waveform(samples, rate_hz), expected)  # the cached filter is unchanged


def test_to_neo(sample_raw, sample_nwb):
    import quantities as pq

    raw = list(raw_repeat_times(sample_raw).values())
    with ns1nwb.open(sample_nwb) as rec:
        block = rec.to_neo(unit=0)
        session = rec.units.session_id[0]
    assert len(block.segments) == 460
    segment = next(s for s in block.segments
                   if s.annotations["stimulus_index"] == 2 and s.annotations["repeat_index"] == 3)
    assert segment.annotations["session_id"] == session
    (train,) = segment.spiketrains
    np.testing.assert_allclose(train.rescale(pq.ms).magnitude, np.sort(raw[0][2][3]), atol=1e-6)
    assert segment.epochs[0].labels[0] == "nat03"


def test_open_errors(tmp_path, sample_raw):
    with pytest.raises(NwbContentError, match="no such"):
        ns1nwb.open(tmp_path / "missing.nwb")
    (tmp_path / "text.nwb").write_text("not hdf5")
    with pytest.raises(NwbContentError, match="not an HDF5"):
        ns1nwb.open(tmp_path / "text.nwb")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NwbContentError, match="no .nwb"):
        ns1nwb.open(empty)


def test_folder_of_one_file_reads_like_the_file(sample_nwb, tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    shutil.copy(sample_nwb, folder / "a.nwb")
    with ns1nwb.open(sample_nwb) as one, ns1nwb.open(folder) as many:
        np.testing.assert_array_equal(one.response_grid(stimuli=[4]), many.response_grid(stimuli=[4]))


@pytest.mark.realdata
def test_real_grid_equals_seed_exactly(real_raw, real_nwb, real_raw_times):
    expected = seed_grid(real_raw, times=real_raw_times)
    with ns1nwb.open(real_nwb) as rec:
        grid = rec.response_grid()
        assert int(rec.units.is_good.sum()) == 73
        good = rec.response_grid(units=rec.units.is_good)
    assert grid.shape == (119, 20, 20, 999)
    np.testing.assert_array_equal(grid, expected)
    assert good.shape[0] == 73


def test_a_grid_imports_only_the_reader(sample_nwb):
    """import ns1nwb, open, grid: none of the writer's heavy packages (issue 21: one grid per session)."""
    import subprocess
    import sys

    code = ("import sys, ns1nwb\n"
            f"with ns1nwb.open({str(sample_nwb)!r}) as rec:\n"
            "    rec.response_grid()\n"
            "print(sorted(m for m in ('pynwb', 'hdmf', 'pandas', 'scipy', 'numba', 'yaml', 'matplotlib')"
            " if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
