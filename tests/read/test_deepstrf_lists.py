"""The lists behind ``ns1nwb.deepstrf.NS1Dataset``, without torch: the seed's values, read from ns1nwb files.

Expected values come from the raw .mat and .wav files (``reference.py``, loadmat, soundfile) and from the seed's
own tables, not from the reader. The deepSTRF class itself is tested in ``test_deepstrf_real.py``.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io as sio
import soundfile

import ns1nwb
from ns1nwb import MissingDependencyError, NwbContentError
from ns1nwb.deepstrf import NS1_RAHMAN_TEST_INDICES, NS1_RAHMAN_TRAINVAL_INDICES, read_lists
from clusters import add_cluster
from reference import raw_repeat_times, seed_response
from rawedit import unit_paths
from shared import made_once

#: The seed's published split and sound categories (deepSTRF ``ns1.py``), written out here as the seed has them.
SEED_TRAINVAL = [0, 1, 2, 4, 5, 7, 8, 10, 11, 12, 13, 14, 15, 16, 17, 18]
SEED_TEST = [3, 6, 9, 19]
SEED_TYPES = {0: "water_sounds", 3: "ferret_vocalization", 6: "insects_buzzing", 19: "water_sounds",
              8: "human_speech", 9: "human_speech", 10: "human_speech", 11: "human_speech"}
#: The seed's wav of each natural sound.
SEED_WAVS = [f"source.1.sound.0.snr.0.token.0.fw.2.frozen.{i + 1}" for i in range(12)] + \
            [f"source.2.sound.0.snr.0.token.0.fw.1.frozen.{i + 1}" for i in range(8)]


def _converted(raw: Path, out: Path, **options) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ns1nwb.convert(raw, out, **options)
    return out


def _seed_nrn_meta(raw: Path) -> list[dict]:
    """The seed's nrn_meta, straight from MetadataSHEnCneurons.mat."""
    out = []
    for neuron in sio.loadmat(raw / "MetadataSHEnCneurons.mat")["neuron"][0]:
        out.append({"cell_id": str(neuron["path"].item())[:-4], "area": "A1", "depth_um": int(neuron["depth"].item()),
                    "noise_ratio": float(neuron["NoiseRatio"].item()), "single_n": int(neuron["singleN"].item()),
                    "single_t": str(neuron["singleT"].item()), "n_electrodes": int(neuron["NrOfElectrodes"].item()),
                    "electrode_number": int(neuron["ElectrodeNumber"].item())})
    return out


def _assert_seed_responses(responses, raw_times, dt_ms=5, smooth=True):
    """``responses[s][n]`` equal the seed's (R, T) matrix for every stimulus and unit (``raw_times`` in order)."""
    assert len(responses) == 20
    for s, row in enumerate(responses):
        assert len(row) == len(raw_times)
        for n, times in enumerate(raw_times):
            assert row[n].dtype == np.float32
            np.testing.assert_array_equal(row[n], seed_response(times[s], dt_ms, smooth), err_msg=f"stim {s} unit {n}")


# --------------------------------------------------------------------------- equal to the seed


def test_lists_equal_the_seed(sample_raw, sample_nwb):
    lists = read_lists(sample_nwb)
    _assert_seed_responses(lists.responses, list(raw_repeat_times(sample_raw).values()))
    assert lists.nrn_meta == _seed_nrn_meta(sample_raw)
    assert lists.stim_meta == [{"name": f"nat{s + 1:02d}", "type": SEED_TYPES.get(s, "unknown")} for s in range(20)]
    published = sio.loadmat(sample_raw / "test_data_5ms.mat")["X_nfht"]
    for s, stim in enumerate(lists.stims):
        assert stim.shape == (1, 34, 999) and stim.dtype == np.float32
        np.testing.assert_array_equal(stim[0], published[s, :, 0, :].astype(np.float32))
    assert lists.dt_ms == 5.0 and lists.waveform_rate_hz is None and lists.source == str(sample_nwb)


def test_raw_counts_without_smoothing(sample_raw, sample_nwb):
    raw_times = list(raw_repeat_times(sample_raw).values())
    _assert_seed_responses(read_lists(sample_nwb, smooth=False).responses, raw_times, smooth=False)


def test_rahman_split_is_the_seeds():
    assert NS1_RAHMAN_TRAINVAL_INDICES == SEED_TRAINVAL and NS1_RAHMAN_TEST_INDICES == SEED_TEST


@pytest.mark.parametrize("dt_ms", [1, 7, 10.0])  # 20 ms: a 7816-point FFT (977 is prime), 3 s
def test_any_whole_ms_step(sample_raw, sample_nwb, dt_ms):
    lists = read_lists(sample_nwb, dt_ms=dt_ms, units=[0, 5])
    times = list(raw_repeat_times(sample_raw).values())
    n_bins = 4995 // int(dt_ms)
    for s in (0, 13):
        for n, unit in enumerate((0, 5)):
            assert lists.responses[s][n].shape == (20, n_bins)
            np.testing.assert_array_equal(lists.responses[s][n], seed_response(times[unit][s], int(dt_ms)))
    with ns1nwb.open(sample_nwb) as rec:
        for s in (0, 13):
            # Frame n with bin n: the cochleagram of the stored waveform at this step (its values are tested in
            # test_spectrogram.py).
            assert lists.stims[s].shape == (1, 34, n_bins)
            np.testing.assert_array_equal(lists.stims[s][0], rec.spectrogram(s, dt_ms=dt_ms))
    assert lists.dt_ms == float(dt_ms)


# --------------------------------------------------------------------------- units


def test_unit_selection_by_mask_indices_and_names(sample_raw, sample_nwb):
    seed_meta = _seed_nrn_meta(sample_raw)
    with ns1nwb.open(sample_nwb) as rec:
        mask = rec.units.is_good
        names = list(rec.units.unit_name)
    good = [m for m, keep in zip(seed_meta, mask) if keep]
    assert 0 < len(good) < len(seed_meta)
    assert read_lists(sample_nwb, units=mask).nrn_meta == good
    assert read_lists(sample_nwb, units=[4, -1, 4]).nrn_meta == [seed_meta[4], seed_meta[-1], seed_meta[4]]
    by_name = read_lists(sample_nwb, units=[names[6], names[2]])
    assert [m["cell_id"] for m in by_name.nrn_meta] == [names[6], names[2]]
    np.testing.assert_array_equal(by_name.responses[3][1], read_lists(sample_nwb, units=2).responses[3][0])


@pytest.fixture(scope="session")
def sparse_nwb(base_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(raw tree, --all-clusters file): 2 metadata units and one more cluster with 0-19 repeats of each sound
    (``base_raw``: its test_data_5ms.mat gives the spectrograms)."""
    from rawedit import copy_tree_sharing_wavs

    def make(base: Path) -> tuple[Path, Path]:
        raw = copy_tree_sharing_wavs(base_raw, base / "raw")
        first = raw / "spikesandwav" / unit_paths(raw)[0]
        # Sound 2 not recorded at all, sound 5 twice, sound 7 nineteen times.
        add_cluster(first, first.with_name("cluster.03.data.mat"), repeats={2: 0, 5: 2, 7: 19})
        return raw, _converted(raw, base / "all.nwb", all_clusters=True, audio_rate_hz=None)

    return made_once(tmp_path_factory, "deepstrf_sparse", make)


def test_every_cluster_with_ragged_repeats_and_nan_sentinels(sparse_nwb):
    raw, path = sparse_nwb
    lists = read_lists(path)
    with ns1nwb.open(path) as rec:
        units = rec.units
    extra = int(np.flatnonzero(~units.in_metadata.to_numpy())[0])
    assert len(lists.nrn_meta) == 3 and lists.nrn_meta[extra]["cell_id"].endswith("cluster.03.data")
    meta = lists.nrn_meta[extra]
    assert math.isnan(meta["depth_um"]) and math.isnan(meta["noise_ratio"]) and meta["single_t"] == ""
    cluster = sio.loadmat(raw / "spikesandwav" / (meta["cell_id"] + ".mat"))["data"][0, 0]["set"]
    sentinel = lists.responses[2][extra]
    assert sentinel.shape == (1, 1) and np.isnan(sentinel).all()
    for s, n_repeats in ((5, 2), (7, 19), (0, 20)):
        times = [np.asarray(cluster[0, s]["repeats"][0, r]["t"], float).ravel() for r in range(n_repeats)]
        np.testing.assert_array_equal(lists.responses[s][extra], seed_response(times))
    for n in range(3):  # the metadata units heard everything
        if n != extra:
            assert all(lists.responses[s][n].shape == (20, 999) for s in range(20))


# --------------------------------------------------------------------------- waveforms


def test_native_waveforms_are_the_whole_wavs(two_block_dandi):
    """A --dandi folder at the native rate: the stims are the wav files' samples, whole, at the header rate."""
    raw, folder = two_block_dandi / "raw", two_block_dandi / "dandiset"
    lists = read_lists(folder, waveforms=True)
    assert lists.waveform_rate_hz == 48828
    for s, stim in enumerate(lists.stims):
        expected, rate = soundfile.read(raw / "spikesandwav" / "SH.En.C" / SEED_WAVS[s], dtype="float32")
        assert rate == 48828 and stim.dtype == np.float32
        np.testing.assert_array_equal(stim, expected)
    assert len(lists.nrn_meta) == 2 and lists.nrn_meta == _seed_nrn_meta(raw)


def test_resampled_waveforms_are_refused(sample_48k_nwb):
    resampled = sample_48k_nwb
    with pytest.raises(NwbContentError, match="resampled to 48000 Hz.*without --audio-rate") as caught:
        read_lists(resampled, waveforms=True)
    assert str(caught.value).startswith(str(resampled)) and "\n" not in str(caught.value)


def test_a_file_without_sounds(base_raw, tmp_path):
    """Converted from a tree without wavs: no waveform, no spectrogram; each mode says what is missing."""
    import shutil

    raw = shutil.copytree(base_raw, tmp_path / "raw", ignore=shutil.ignore_patterns("SH.En.C", "test_data_5ms.mat"))
    path = _converted(raw, tmp_path / "lean.nwb")
    with pytest.raises(NwbContentError, match="holds no stimulus waveforms") as caught:
        read_lists(path, waveforms=True)
    assert str(caught.value).startswith(str(path))
    with pytest.raises(NwbContentError, match="stimulus 0 has no stored spectrogram"):
        read_lists(path)
    with pytest.raises(NwbContentError, match="no stored waveform to compute a 10-ms cochleagram"):
        read_lists(path, dt_ms=10)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("kwargs, error, message", [
    ({"dt_ms": 2.5}, ValueError, "dt_ms=2.5 is not a whole number"),
    ({"dt_ms": 0}, ValueError, "dt_ms=0 is not a whole number"),
    ({"dt_ms": 4996}, ValueError, "from 1 to 4995"),
    ({"dt_ms": True}, ValueError, "dt_ms=True"),
    ({"dt_ms": float("nan")}, ValueError, "dt_ms=nan"),
    ({"units": ["no/such/cluster"]}, KeyError, "no unit named 'no/such/cluster'"),
    ({"units": [8]}, IndexError, "unit index 8 out of range for 8 units"),
    ({"units": [1.0]}, TypeError, "must be an integer"),
    ({"units": [True, False]}, ValueError, "needs 8 values"),
    ({"units": []}, ValueError, "selects no unit"),
    ({"units": [[0, 1]]}, ValueError, "one-dimensional"),
    ({"units": True}, ValueError, "needs 8 values"),
    ({"units": object()}, TypeError, "units must be None, a unit"),
])
def test_bad_input_is_one_error_naming_the_file(sample_nwb, kwargs, error, message):
    with pytest.raises(error) as caught:
        read_lists(sample_nwb, **kwargs)
    text = caught.value.args[0]
    assert text.startswith(str(sample_nwb)) and message in text and "\n" not in text


def test_a_missing_file_is_the_readers_error(tmp_path):
    with pytest.raises(NwbContentError, match="missing.nwb"):
        read_lists(tmp_path / "missing.nwb")


# --------------------------------------------------------------------------- a URL, torch, deepSTRF


def test_a_url_reads_only_what_it_needs(sample_nwb):
    from localserver import serve_files

    with h5py.File(sample_nwb, "r") as f:  # where the sounds' bytes lie: [start, stop) of each stored chunk
        sounds = [f[f"stimulus/templates/{name}/data"].id for name in f["stimulus/templates"]
                  if name.endswith("_waveform")]
        chunks = [(c.byte_offset, c.byte_offset + c.size)
                  for data in sounds for c in (data.get_chunk_info(i) for i in range(data.get_num_chunks()))]
    waveform_bytes = sum(stop - start for start, stop in chunks)
    with serve_files({"/data/sample.nwb": sample_nwb}) as server:
        remote = read_lists(f"{server.base_url}/data/sample.nwb", units=[3])
        ranges = []
        for _, _, header in server.requests:
            first, last = re.fullmatch(r"bytes=(\d+)-(\d+)", header).groups()  # every read is a range
            ranges.append((int(first), int(last) + 1))
    local = read_lists(sample_nwb, units=[3])
    assert remote.nrn_meta == local.nrn_meta
    for s in range(20):
        np.testing.assert_array_equal(remote.responses[s][0], local.responses[s][0])
        np.testing.assert_array_equal(remote.stims[s], local.stims[s])
    # The waveforms are most of the file; the spectrograms and one unit's spikes are read, not the sounds (a
    # few of their bytes come along, next to what is read).
    assert waveform_bytes > sample_nwb.stat().st_size / 2
    sound_bytes_read = sum(max(0, min(stop, last) - max(start, first))
                           for start, stop in chunks for first, last in ranges)
    assert sound_bytes_read < waveform_bytes / 4, (sound_bytes_read, waveform_bytes)
    assert sum(last - first for first, last in ranges) < sample_nwb.stat().st_size / 2


def test_the_lists_import_no_torch(sample_nwb):
    code = ("import sys; from ns1nwb.deepstrf import read_lists; "
            f"read_lists({str(sample_nwb)!r}, units=[0]); "
            "print(sorted(m for m in ('torch', 'deepSTRF', 'torchaudio') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_without_deepstrf_the_import_says_what_to_install(monkeypatch):
    for name in [m for m in sys.modules if m.startswith("deepSTRF.")]:  # where it is installed and imported
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "deepSTRF", None)  # as if not installed: its import raises ImportError
    monkeypatch.delitem(sys.modules, "ns1nwb.deepstrf.dataset", raising=False)
    with pytest.raises(MissingDependencyError) as caught:
        from ns1nwb.deepstrf import NS1Dataset  # noqa: F401
    text = str(caught.value)
    assert "pip install '.[deepstrf]'" in text and "deepSTRF" in text and "\n" not in text
