"""Tests of ns1nwb.sample_data: the synthetic tree must be indistinguishable in structure from the real one."""

from __future__ import annotations

import datetime as dt
import hashlib
import struct
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import scipy.io as sio
import soundfile as sf

from ns1nwb.constants import (
    METADATA_FILE,
    N_BANDS,
    SPECTROGRAM_FILE,
    SPIKE_CLOCK_HZ,
    SPIKES_DIR,
    STIMULI,
    WAV_DIR,
    WAV_HEADER_RATE_HZ,
)
from ns1nwb.sample_data import write_sample_tree

META_FIELDS = ("path", "NrOfElectrodes", "ElectrodeNumber", "depth", "NoiseRatio", "singleT", "singleN")
TICKS_PER_MS = SPIKE_CLOCK_HZ / 1000.0


@pytest.fixture(scope="module")
def tree(sample_raw) -> Path:
    """The 8-unit tree of seed 0 (the suite's shared one: the same call)."""
    return sample_raw


@pytest.fixture(scope="module")
def units(tree):
    """(path, loaded data.set) for every unit, in metadata order."""
    neurons = sio.loadmat(tree / METADATA_FILE)["neuron"][0]
    paths = [str(n["path"].item()) for n in neurons]
    return [(p, sio.loadmat(tree / SPIKES_DIR / p)["data"]["set"][0, 0]) for p in paths]


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _block_of(path: str) -> str:
    """experiment/penetration: the folder name without its shank or direction suffix."""
    experiment, folder = path.split("/")[:2]
    for suffix in (".D", ".U", ".L.SH.En.C", ".R.SH.En.C", ".Lsh1", ".Lsh2", ".Lsh3", ".Lsh4", ".Rsh3", ".Rsh4"):
        if folder.endswith(suffix):
            return f"{experiment}/{folder[:-len(suffix)]}"
    return f"{experiment}/{folder}"


def _signature(value, name: str = ""):
    """Structure of a spike file as loadmat shows it: struct names and shapes, dtypes, shapes and the
    values of the stimulus parameters; only the length of spike vectors is free."""
    if isinstance(value, np.ndarray) and value.dtype.names:
        return ("struct", value.shape, value.dtype.names,
                tuple(tuple(_signature(el[f], f) for f in value.dtype.names) for el in value.ravel()))
    if isinstance(value, np.ndarray) and value.dtype == object:
        return ("cell", value.shape, tuple(_signature(el) for el in value.ravel()))
    if name in ("t", "repeat_id"):
        return ("vector", value.dtype.str, value.shape[0], value.ndim)
    if value.dtype.kind == "U":
        return ("char", value.shape)
    return ("numeric", value.dtype.str, value.shape, value.ravel().tolist())


def _matlab_int_dtype(value: int) -> str:
    return "<i2" if value < 0 else "|u1" if value <= 255 else "<u2"


# ---------------------------------------------------------------- layout

def test_layout_and_names(tree):
    assert (tree / METADATA_FILE).is_file()
    assert (tree / SPECTROGRAM_FILE).is_file()
    wav_dir = tree / SPIKES_DIR / WAV_DIR
    assert sorted(p.name for p in wav_dir.iterdir()) == sorted(s.wav_name for s in STIMULI[:20])
    neurons = sio.loadmat(tree / METADATA_FILE)["neuron"][0]
    paths = [str(n["path"].item()) for n in neurons]
    assert len(paths) == 8 and len(set(paths)) == 8
    spike_files = {str(p.relative_to(tree / SPIKES_DIR)) for p in (tree / SPIKES_DIR).rglob("*.data.mat")}
    assert spike_files == set(paths)
    for p in paths:
        assert p.endswith(".data.mat") and p.split("/")[-1].startswith("cluster.")
        assert len(p.split("/")) in (2, 3) and not p.startswith(WAV_DIR)
    assert len({p.split("/")[0] for p in paths}) >= 2
    assert len({_block_of(p) for p in paths}) >= 2
    assert paths != sorted(paths)  # sorted by NoiseRatio like the real file, not by path
    assert set(_files(tree)) == {METADATA_FILE, SPECTROGRAM_FILE, *(f"{SPIKES_DIR}/{p}" for p in paths),
                                 *(f"{SPIKES_DIR}/{WAV_DIR}/{s.wav_name}" for s in STIMULI[:20])}


def test_without_spectrogram_and_small_trees(tmp_path):
    for n in (1, 2, 4):
        root = write_sample_tree(tmp_path / f"n{n}", n_units=n, seed=3, with_spectrogram=False)
        assert not (root / SPECTROGRAM_FILE).exists()
        neurons = sio.loadmat(root / METADATA_FILE)["neuron"][0]
        paths = [str(x["path"].item()) for x in neurons]
        assert len(paths) == n
        if n >= 2:
            assert len({p.split("/")[0] for p in paths}) >= 2 and len({_block_of(p) for p in paths}) >= 2
        if n >= 4:
            assert min(int(x["depth"].item()) for x in neurons) < 0


# ---------------------------------------------------------------- MAT structure

def test_metadata_structure(tree):
    mat = sio.loadmat(tree / METADATA_FILE)
    assert [k for k in mat if not k.startswith("__")] == ["neuron"]
    neuron = mat["neuron"]
    assert neuron.shape == (1, 8) and neuron.dtype.names == META_FIELDS
    ratios = []
    for row in neuron[0]:
        n_el, el, depth = (int(row[f].item()) for f in ("NrOfElectrodes", "ElectrodeNumber", "depth"))
        for f in ("NrOfElectrodes", "ElectrodeNumber", "singleN"):
            assert row[f].dtype == np.uint8 and row[f].shape == (1, 1)
        assert row["depth"].shape == (1, 1) and row["depth"].dtype.str == _matlab_int_dtype(depth)
        assert row["NoiseRatio"].dtype == np.float64 and row["NoiseRatio"].shape == (1, 1)
        assert row["path"].shape == (1,) and row["singleT"].shape == (1,)
        assert n_el in (8, 16, 32) and 1 <= el <= n_el
        first = 3 if str(row["path"].item()).startswith("dataAC") else 2  # as in the release
        assert depth == (el - first) * 1600 // n_el and (el - first) * 1600 % n_el == 0
        assert {"Yes": 2, "Maybe": 1, "No": 0}[str(row["singleT"].item())] == int(row["singleN"].item())
        ratios.append(float(row["NoiseRatio"].item()))
    assert ratios == sorted(ratios)
    assert min(int(r["depth"].item()) for r in neuron[0]) < 0


@pytest.mark.realdata
def test_metadata_matches_real(tree, real_raw):
    real = sio.loadmat(real_raw / METADATA_FILE)["neuron"]
    ours = sio.loadmat(tree / METADATA_FILE)["neuron"]
    assert ours.dtype.names == real.dtype.names
    assert ours.ndim == real.ndim == 2 and ours.shape[0] == real.shape[0] == 1
    # The integer type of depth follows MATLAB's storage rule in the real file too.
    for row in real[0]:
        assert row["depth"].dtype.str == _matlab_int_dtype(int(row["depth"].item()))
    for f in META_FIELDS:
        if f != "depth":
            assert {r[f].dtype.kind for r in ours[0]} == {r[f].dtype.kind for r in real[0]}, f
            assert {r[f].shape for r in ours[0]} == {r[f].shape for r in real[0]}, f
    real_head = (real_raw / METADATA_FILE).read_bytes()[:136]
    our_head = (tree / METADATA_FILE).read_bytes()[:136]
    assert our_head[116:128] == real_head[116:128]  # version and endianness
    assert our_head[128:132] == real_head[128:132]  # compressed (miCOMPRESSED) like MATLAB -v7


@pytest.mark.realdata
def test_spike_files_match_real_structure(tree, units, real_raw):
    real_root = real_raw / SPIKES_DIR
    real_paths = [str(n["path"].item()) for n in sio.loadmat(real_raw / METADATA_FILE)["neuron"][0]]
    real_by_sweep = {}
    for p in real_paths:  # one real file per rig (sweep length)
        sweep = float(sio.loadmat(real_root / p)["data"]["set"][0, 0][0, 0]["length_signal_ms"].item())
        real_by_sweep.setdefault(sweep, p)
        if len(real_by_sweep) == 2:
            break
    for path, _ in units:
        ours = sio.loadmat(tree / SPIKES_DIR / path)
        sweep = float(ours["data"]["set"][0, 0][0, 0]["length_signal_ms"].item())
        ref = path if (real_root / path).is_file() else real_by_sweep[sweep]
        real = sio.loadmat(real_root / ref)
        assert [k for k in ours if not k.startswith("__")] == [k for k in real if not k.startswith("__")] == ["data"]
        assert _signature(ours["data"]) == _signature(real["data"]), path
        real_bytes = (real_root / ref).read_bytes()
        our_bytes = (tree / SPIKES_DIR / path).read_bytes()
        assert our_bytes[116:132] == real_bytes[116:132]  # uncompressed (MATLAB -v6) like the real files


def test_spike_file_fields(units):
    for _, sets in units:
        assert sets.shape == (1, 32)
        assert sets.dtype.names == ("spikes", "repeats", "stim_params", "length_signal_ms")
        for s, stim in enumerate(STIMULI):
            st = sets[0, s]
            rep = st["repeats"]
            assert rep.shape == (1, stim.n_repeats)
            assert rep.dtype.names == ("t", "repeat_id", "timestamp")
            assert st["spikes"].shape == (1, 1) and st["spikes"].dtype.names == ("t", "repeat_id")
            sp = st["stim_params"][0, 0]
            assert st["stim_params"].dtype.names == ("all", "Source", "Mode", "BF", "Token", "Set", "StimID",
                                                      "NominalLevel", "Level")
            assert (int(sp["Source"].item()), int(sp["Set"].item()), int(sp["StimID"].item()),
                    int(sp["Token"].item())) == stim.key
            assert int(sp["NominalLevel"].item()) == stim.nominal_level_db_spl
            assert sp["NominalLevel"].dtype == np.uint8 and sp["Level"].dtype == np.int16
            assert [str(x.item()) for x in sp["all"][0, 0]["names"][0]] == [
                "Source", "Mode", "BF", "Token", "Set", "StimID", "NominalLevel", "Level", "length_signal_ms"]
            values = sp["all"][0, 0]["values"]
            assert values.shape == (1, 9) and values.dtype == np.int16
            sweep = float(st["length_signal_ms"].item())
            assert sweep in (5199.994762141659, 5200.03572214073, 5241.937801191016)
            assert values[0, 8] == round(sweep)
            pooled_t, pooled_id = st["spikes"][0, 0]["t"], st["spikes"][0, 0]["repeat_id"]
            for r in range(stim.n_repeats):
                t, rid = rep[0, r]["t"], rep[0, r]["repeat_id"]
                assert t.shape[0] == 1 and t.dtype == np.float64 and rid.shape == t.shape
                assert rid.dtype == np.uint8 and np.all(rid == r + 1)
                # The pooled list holds the same spikes of repeat r in the same order.
                assert np.array_equal(pooled_t[pooled_id == r + 1], t.ravel())
            assert pooled_t.shape[1] == sum(rep[0, r]["t"].size for r in range(stim.n_repeats))


# ---------------------------------------------------------------- seed loader and content

def test_seed_loader_indexing(tree):
    """The seed's own loop (deepSTRF NS1Dataset) over the generated tree."""
    meta = sio.loadmat(str(tree / "MetadataSHEnCneurons.mat"))
    grids = []
    for neuron in meta["neuron"][0]:
        uid = str(neuron[0].item())[:-4]
        nrn_meta = {
            "cell_id": uid,
            "depth_um": int(neuron["depth"].item()),
            "noise_ratio": float(neuron["NoiseRatio"].item()),
            "single_n": int(neuron["singleN"].item()),
            "single_t": str(neuron["singleT"].item()),
            "n_electrodes": int(neuron["NrOfElectrodes"].item()),
            "electrode_number": int(neuron["ElectrodeNumber"].item()),
        }
        assert nrn_meta["cell_id"].endswith(".data") and nrn_meta["single_t"] in ("Yes", "Maybe", "No")
        temp = sio.loadmat(str(tree / "spikesandwav" / str(neuron["path"].item())))
        for s in range(20):
            repeats_grp = temp["data"]["set"][0, 0]["repeats"][0, s]
            n_rep = int(repeats_grp.shape[1])
            spike_matrix = np.zeros((n_rep, 999), dtype=np.float32)
            for r in range(n_rep):
                spiketimes = np.round(repeats_grp[0]["t"][r][0]).astype(np.int64)
                spiketimes = spiketimes[(spiketimes >= 0) & (spiketimes < 4995)]
                one_hot = np.zeros(4995, dtype=np.float32)
                one_hot[spiketimes] = 1.0
                spike_matrix[r] = one_hot.reshape(-1, 5).sum(axis=1)
            grids.append(spike_matrix)
    assert len(grids) == 8 * 20 and all(g.shape == (20, 999) for g in grids)
    psth = np.array([g.mean(axis=0) for g in grids])
    assert psth.sum() > 0
    # Stimulus-locked: the repeat-averaged response varies in time far beyond Poisson noise.
    assert np.median(psth.std(axis=1) / np.maximum(psth.mean(axis=1), 1e-9)) > 0.3


def test_rates_are_plausible(units):
    for _, sets in units:
        n_spikes = sum(sets[0, s]["repeats"][0, r]["t"].size for s in range(32) for r in range(STIMULI[s].n_repeats))
        duration_s = sum(STIMULI[s].n_repeats * float(sets[0, s]["length_signal_ms"].item()) for s in range(32)) / 1000
        assert 1.0 < n_spikes / duration_s < 45.0


def test_spike_times_on_clock_grid(units):
    late = 0
    for _, sets in units:
        for s in range(32):
            sweep = float(sets[0, s]["length_signal_ms"].item())
            for r in range(STIMULI[s].n_repeats):
                t = sets[0, s]["repeats"][0, r]["t"].ravel()
                if t.size:
                    grid = np.round(t * TICKS_PER_MS) / TICKS_PER_MS
                    assert np.max(np.abs(t - grid)) < 1e-9
                    assert t.min() >= 0.5 and t.max() < sweep
                    late += int(np.sum(t > 4995))
    assert late > 0


def test_reader_edge_cases(units):
    unsorted = empty = same_ms = on_edge = 0
    for _, sets in units:
        for s in range(32):
            for r in range(STIMULI[s].n_repeats):
                t = sets[0, s]["repeats"][0, r]["t"]
                if t.size == 0:
                    assert t.shape == (1, 0)
                    empty += 1
                    continue
                t = t.ravel()
                unsorted += bool(np.any(np.diff(t) < 0))
                rounded = np.round(t)
                same_ms += rounded.size - np.unique(rounded).size
                on_edge += int(np.sum(t % 5.0 == 0.0))
    assert unsorted >= 1 and empty >= 1 and same_ms >= 1 and on_edge >= 1
    n_repeats = 8 * sum(s.n_repeats for s in STIMULI)
    assert 0.02 < unsorted / n_repeats < 0.15


def test_timestamps_shared_within_block(units):
    by_block = defaultdict(list)
    for path, sets in units:
        stamps = tuple(str(sets[0, s]["repeats"][0, r]["timestamp"].item())
                       for s in range(32) for r in range(STIMULI[s].n_repeats))
        by_block[_block_of(path)].append(stamps)
    assert len(by_block) >= 2
    starts = set()
    for stamps in by_block.values():
        assert len(set(stamps)) == 1  # identical for every unit of the block
        when = sorted(dt.datetime.strptime(x[:15], "%Y%m%d-%H%M%S") + dt.timedelta(milliseconds=int(x[15:]))
                      for x in stamps[0])
        assert len(stamps[0]) == 460 and len(set(stamps[0])) == 460
        assert all(len(x) == 18 and x[8] == "-" for x in stamps[0])
        gaps = np.diff([w.timestamp() for w in when])
        assert gaps.min() >= 5.3 - 1e-3 and gaps.max() <= 7.9 + 1e-3
        assert 2012 <= when[0].year <= 2013
        starts.add(when[0])
    assert len(starts) == len(by_block)
    # Presentations of different stimuli are interleaved, and repeats are numbered in time order.
    path, sets = units[0]
    first_set = [str(sets[0, 0]["repeats"][0, r]["timestamp"].item()) for r in range(20)]
    assert first_set == sorted(first_set)
    assert max(first_set) > min(str(sets[0, 31]["repeats"][0, r]["timestamp"].item()) for r in range(5))


# ---------------------------------------------------------------- wavs and spectrogram

def test_wavs(tree):
    for stim in STIMULI[:20]:
        path = tree / SPIKES_DIR / WAV_DIR / stim.wav_name
        info = sf.info(str(path))
        assert (info.samplerate, info.channels, info.subtype, info.format) == (WAV_HEADER_RATE_HZ, 1, "FLOAT", "WAV")
        assert info.frames == (244141 if stim.index in range(16, 20) else 244140)
        x, _ = sf.read(str(path), dtype="float32")
        assert x.dtype == np.float32 and np.all(np.isfinite(x))
        level = 94 + 20 * np.log10(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
        assert abs(level - stim.nominal_level_db_spl) < 0.05
        head = path.read_bytes()[:44]
        assert head[36:40] == b"data" and struct.unpack("<I", head[28:32])[0] == 195313
        assert path.stat().st_size == 44 + 4 * info.frames


@pytest.mark.realdata
def test_wav_header_matches_real(tree, real_raw):
    real_dir = real_raw / SPIKES_DIR / WAV_DIR
    for stim in (STIMULI[0], STIMULI[16]):
        real = (real_dir / stim.wav_name).read_bytes()[:44]
        ours = (tree / SPIKES_DIR / WAV_DIR / stim.wav_name).read_bytes()[:44]
        assert ours == real  # same sizes, format, rates: the headers are byte-identical


def test_spectrogram(tree):
    mat = sio.loadmat(tree / SPECTROGRAM_FILE)
    assert mat["X_nfht"].shape == (20, N_BANDS, 1, 999) and mat["X_nfht"].dtype == np.float64
    assert mat["y_nt"].shape == (20, 999) and mat["y_nt"].dtype == np.float64
    assert np.all(np.isfinite(mat["X_nfht"])) and np.all(mat["y_nt"] >= 0)
    assert np.all(mat["X_nfht"].std(axis=3) > 0)


# ---------------------------------------------------------------- determinism and validation

def test_deterministic(tree, tmp_path):
    again = write_sample_tree(tmp_path / "again", n_units=8, seed=0)
    assert _files(again) == _files(tree)
    # MAT headers carry a seeded date, not the wall clock.
    for mat in tree.rglob("*.mat"):
        header = mat.read_bytes()[:116].decode("ascii")
        assert header.startswith("MATLAB 5.0 MAT-file, Platform: GLNXA64, Created on: ")
        assert header.rstrip()[-4:] in ("2012", "2013", "2014")
    other = _files(write_sample_tree(tmp_path / "other", n_units=2, seed=1))
    ours = _files(tree)
    assert other[METADATA_FILE] != ours[METADATA_FILE]
    assert all(other[k] != v for k, v in ours.items() if k in other)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "8", None])
def test_bad_n_units(tmp_path, bad):
    with pytest.raises(ValueError, match="n_units"):
        write_sample_tree(tmp_path / "x", n_units=bad)
    assert not (tmp_path / "x").exists()


def test_existing_folder(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert write_sample_tree(empty, n_units=1, with_spectrogram=False) == empty
    with pytest.raises(FileExistsError, match="NS1 tree"):
        write_sample_tree(empty, n_units=1)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("x")
    with pytest.raises(FileExistsError, match="not empty"):
        write_sample_tree(busy, n_units=1)
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        write_sample_tree(tmp_path / "file", n_units=1)
