"""Tests of ns1nwb.read_raw_tree (``ns1nwb/release/tree.py``): every tolerance of the raw format, the folder,
the metadata file, the paths and the wavs it refuses, what it warns about, the real release.

Each test that changes files works on its own copy of a small generated tree (3 units) and
rewrites spike files or the metadata with scipy.io.loadmat/savemat, keeping the structure
loadmat shows on the real files. Expected values come from loadmat/soundfile, not from the reader.
Refusals of single values are in test_validate.py, of spike files in test_spike_files.py; the rows that
were ``ns1nwb convert`` runs (tests/test_faults.py, tests/test_validation.py) check here the same words on
the exception the command line prints.
"""

from __future__ import annotations

import os
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.io as sio
import soundfile as sf

from ns1nwb.constants import METADATA_FILE, N_BANDS, N_NATURAL, SPECTROGRAM_FILE, SPIKES_DIR, STIMULI, WAV_DIR
from ns1nwb.exceptions import Ns1Warning, RawFileNotFoundError, RawFormatError, StrictModeError
from ns1nwb import read_raw_tree
from ns1nwb.nwb.naming import check_nwb_names
from ns1nwb.release import plan_blocks
from rawedit import (assert_refused, copy_tree_sharing_wavs, load_spikes, loop_folders, neurons, save, save_neurons,
                     struct, times_to_seconds, truncate, unit_paths, unit_spike_file, wav_links)

META_FIELDS = ["path", "NrOfElectrodes", "ElectrodeNumber", "depth", "NoiseRatio", "singleT", "singleN"]
INT_FIELDS = ("NrOfElectrodes", "ElectrodeNumber", "depth", "singleN")


# --------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture
def tree(small_raw: Path, tmp_path: Path) -> Path:
    """A private copy of ``small_raw`` (conftest.py: 3 units, no test_data_5ms.mat) whose MAT files may be changed.

    Its wav folder is a symlink to the shared one (copying 20 MB per test is slow): tests that remove a wav
    make it a folder of links first (``rawedit.wav_links``).
    """
    return copy_tree_sharing_wavs(small_raw, tmp_path / "raw")


def _without(arr: np.ndarray, *drop: str) -> np.ndarray:
    """The same struct array without the fields ``drop``."""
    records = arr.reshape(-1)
    return struct(arr.shape, {n: [rec[n] for rec in records] for n in arr.dtype.names if n not in drop})


def _stored_times(path: Path) -> list[list[np.ndarray]]:
    """``repeats(r).t`` of every set exactly as loadmat returns them."""
    sets = sio.loadmat(path)["data"][0, 0]["set"]
    return [list(sets[0, s]["repeats"]["t"].ravel()) for s in range(sets.shape[1])]


def _first_nonempty(repeats: np.ndarray) -> int:
    return next(r for r in range(repeats.shape[1]) if repeats[0, r]["t"].size)


def _wav_path(root: Path, index: int) -> Path:
    return root / SPIKES_DIR / WAV_DIR / STIMULI[index].wav_name


# --------------------------------------------------------------------------- baseline


def test_generated_tree_read_in_metadata_order(small_raw):
    """Units come in metadata order with every field, 32 sets, the protocol's repeats and stored set values."""
    release = read_raw_tree(small_raw)
    paths = unit_paths(small_raw)
    assert [u.path for u in release.units] == paths
    assert [u.metadata_row for u in release.units] == list(range(len(paths)))
    assert release.metadata_fields == META_FIELDS
    assert release.skipped_units == [] and release.warnings == []
    for unit in release.units:
        assert list(unit.metadata) == META_FIELDS and unit.metadata["path"] == unit.path
        assert unit.unit_name == unit.path[: -len(".mat")]
        stored = sio.loadmat(small_raw / SPIKES_DIR / unit.path)["data"][0, 0]["set"]
        assert [s.position for s in unit.sets] == list(range(32))
        assert [s.stimulus_index for s in unit.sets] == list(range(32))
        for s, raw_set in enumerate(unit.sets):
            assert len(raw_set.repeats) == STIMULI[s].n_repeats
            assert raw_set.length_signal_ms == float(stored[0, s]["length_signal_ms"].item())
            stim = stored[0, s]["stim_params"][0, 0]
            for name in ("Source", "Set", "StimID", "Token", "NominalLevel", "Level"):
                assert raw_set.stim_params[name] == int(stim[name].item())
            for r, rep in enumerate(raw_set.repeats):
                assert rep.timestamp == str(stored[0, s]["repeats"][0, r]["timestamp"].item())
    # A 1x0 repeat (the generator always writes one) is an empty float64 array.
    empties = [r for u in release.units for s in u.sets for r in s.repeats if r.spike_times_ms.size == 0]
    assert empties and all(r.spike_times_ms.dtype == np.float64 and r.spike_times_ms.shape == (0,) for r in empties)


# --------------------------------------------------------------------------- 1. column and 0x0 times


def test_column_spike_times_read_flat(tree):
    """Spike times stored as n x 1 columns read as the same flat float64 values."""
    spike_file = unit_spike_file(tree)
    expected = _stored_times(spike_file)
    mat, sets = load_spikes(spike_file)
    for s in range(sets.shape[1]):
        times = sets[0, s]["repeats"]["t"]
        for r in range(times.shape[1]):
            times[0, r] = times[0, r].reshape(-1, 1)
    save(spike_file, mat)
    assert sio.loadmat(spike_file)["data"][0, 0]["set"][0, 0]["repeats"][0, 0]["t"].shape[1] == 1

    unit = read_raw_tree(tree).units[0]
    for s, raw_set in enumerate(unit.sets):
        for r, rep in enumerate(raw_set.repeats):
            assert rep.spike_times_ms.dtype == np.float64 and rep.spike_times_ms.ndim == 1
            np.testing.assert_array_equal(rep.spike_times_ms, expected[s][r].ravel())


def test_0x0_spike_times_read_empty(tree):
    """A 0x0 ``[]`` repeat reads as an empty flat float64 array; its neighbours are unchanged."""
    spike_file = unit_spike_file(tree)
    expected = _stored_times(spike_file)
    mat, sets = load_spikes(spike_file)
    times = sets[0, 2]["repeats"]["t"]
    r = _first_nonempty(sets[0, 2]["repeats"])
    times[0, r] = np.zeros((0, 0))
    save(spike_file, mat)

    raw_set = read_raw_tree(tree).units[0].sets[2]
    empty = raw_set.repeats[r].spike_times_ms
    assert empty.shape == (0,) and empty.dtype == np.float64
    assert len(raw_set.repeats) == STIMULI[2].n_repeats
    for other in range(len(raw_set.repeats)):
        if other != r:
            np.testing.assert_array_equal(raw_set.repeats[other].spike_times_ms, expected[2][other].ravel())


# --------------------------------------------------------------------------- 2. `_1` fallback


def test_spike_file_1_fallback(tree):
    """A spike file saved as ``<stem>_1.mat`` is read in its place; the unit keeps its metadata path."""
    path = unit_paths(tree)[1]
    original = tree / SPIKES_DIR / path
    expected = _stored_times(original)
    fallback = original.with_name(original.stem + "_1.mat")
    original.rename(fallback)

    release = read_raw_tree(tree)  # silently: any Ns1Warning would fail the test
    assert release.skipped_units == []
    unit = release.units[1]
    assert unit.path == path and unit.metadata["path"] == path and unit.metadata_row == 1
    assert unit.unit_name == path[: -len(".mat")]
    assert unit.spike_file.name == fallback.name and unit.spike_file.resolve() == fallback.resolve()
    assert [len(s.repeats) for s in unit.sets] == [len(reps) for reps in expected]
    np.testing.assert_array_equal(unit.sets[0].repeats[0].spike_times_ms, expected[0][0].ravel())


def test_spike_file_preferred_over_fallback(tree):
    """When both exist, the file named in the metadata is read, not ``<stem>_1.mat``."""
    original = unit_spike_file(tree, 0)
    shutil.copy(unit_spike_file(tree, 1), original.with_name(original.stem + "_1.mat"))
    unit = read_raw_tree(tree).units[0]
    assert unit.spike_file.resolve() == original.resolve()
    np.testing.assert_array_equal(unit.sets[0].repeats[0].spike_times_ms, _stored_times(original)[0][0].ravel())


# --------------------------------------------------------------------------- 3. missing spike file


def test_missing_spike_file_skipped_with_warning(tree):
    """A unit without spike file (nor fallback) is skipped with a warning naming the file."""
    paths = unit_paths(tree)
    missing = tree / SPIKES_DIR / paths[1]
    missing.unlink()
    with pytest.warns(Ns1Warning, match=re.escape(missing.name)):
        release = read_raw_tree(tree)
    assert [u.path for u in release.units] == [paths[0], paths[2]]
    assert [u.metadata_row for u in release.units] == [0, 2]
    assert len(release.skipped_units) == 1
    skipped = release.skipped_units[0]
    assert skipped.path == paths[1] and skipped.metadata_row == 1 and skipped.reason
    assert len(release.warnings) == 1 and missing.name in release.warnings[0]
    summary = release.summary()
    assert "2 units read" in summary and "1 skipped" in summary and paths[1] in summary


def test_missing_spike_file_strict_raises(tree):
    """With ``strict=True`` a missing spike file is an error, not a skip."""
    missing = unit_spike_file(tree, 1)
    missing.unlink()
    with pytest.raises(StrictModeError) as caught:
        read_raw_tree(tree, strict=True)
    message = str(caught.value)
    assert str(missing) in message and "not found" in message and "--strict" in message and "\n" not in message


def test_all_spike_files_missing_raises(tree):
    """A release without any readable unit is an error after the per-unit warnings."""
    for path in unit_paths(tree):
        (tree / SPIKES_DIR / path).unlink()
    with pytest.warns(Ns1Warning, match="spike file not found"):
        with pytest.raises(RawFormatError, match=re.escape(METADATA_FILE)):
            read_raw_tree(tree)


# --------------------------------------------------------------------------- 4. fewer sets / repeats


def test_fewer_sets_and_repeats(tree):
    """A file with 20 sets, one of them with 3 repeats, reads without error and keeps those counts."""
    spike_file = unit_spike_file(tree)
    expected = _stored_times(spike_file)
    mat, sets = load_spikes(spike_file)
    sets = sets[:, :20].copy()
    sets[0, 5]["repeats"] = sets[0, 5]["repeats"][:, :3].copy()
    mat["data"]["set"][0, 0] = sets
    save(spike_file, mat)

    release = read_raw_tree(tree)
    unit = release.units[0]
    assert len(unit.sets) == 20
    assert [len(s.repeats) for s in unit.sets] == [3 if s == 5 else STIMULI[s].n_repeats for s in range(20)]
    assert [s.stimulus_index for s in unit.sets] == list(range(20))
    for r in range(3):
        np.testing.assert_array_equal(unit.sets[5].repeats[r].spike_times_ms, expected[5][r].ravel())
    assert unit.n_spikes == sum(t.size for s in range(20) for t in expected[s][: 3 if s == 5 else None])
    assert [len(u.sets) for u in release.units[1:]] == [32, 32]


def test_reordered_sets_identified_by_stim_params(tree):
    """Sets stored in another order are identified by their ``stim_params``, not their position."""
    spike_file = unit_spike_file(tree)
    mat, sets = load_spikes(spike_file)
    mat["data"]["set"][0, 0] = sets[:, ::-1].copy()
    save(spike_file, mat)
    unit = read_raw_tree(tree).units[0]
    assert [s.position for s in unit.sets] == list(range(32))
    assert [s.stimulus_index for s in unit.sets] == list(range(31, -1, -1))


# --------------------------------------------------------------------------- 5. integer dtypes


@pytest.mark.parametrize("dtype", ["int8", "int16", "uint32", "uint64"])
def test_metadata_integer_fields_any_dtype(tree, dtype):
    """NrOfElectrodes/ElectrodeNumber/depth/singleN of any integer dtype read as the same Python ints."""
    neuron = neurons(tree)
    info = np.iinfo(dtype)
    expected = []
    for rec in neuron.ravel():
        row = {}
        for name in INT_FIELDS:
            value = int(rec[name].item())
            value = value if info.min <= value <= info.max else abs(value)  # negative depth in unsigned
            value = min(value, int(info.max))  # depth > 127 in int8
            rec[name] = np.array([[value]], dtype=dtype)
            row[name] = value
        expected.append(row)
    save_neurons(tree, neuron)
    assert neurons(tree)[0, 0]["depth"].dtype == np.dtype(dtype)

    release = read_raw_tree(tree)
    for unit, row in zip(release.units, expected, strict=True):
        for name in INT_FIELDS:
            assert type(unit.metadata[name]) is int and unit.metadata[name] == row[name]


def test_metadata_mixed_integer_dtypes(tree):
    """A different integer dtype per field (int8, int32, uint16, int64) reads as the same Python ints."""
    neuron = neurons(tree)
    dtypes = dict(zip(INT_FIELDS, ("int8", "int32", "uint16", "int64")))
    expected = []
    for rec in neuron.ravel():
        row = {name: int(rec[name].item()) for name in INT_FIELDS}
        row["depth"] = abs(row["depth"])
        for name, dtype in dtypes.items():
            rec[name] = np.array([[row[name]]], dtype=dtype)
        expected.append(row)
    save_neurons(tree, neuron)
    release = read_raw_tree(tree)
    assert [{n: u.metadata[n] for n in INT_FIELDS} for u in release.units] == expected
    assert all(type(u.metadata[n]) is int for u in release.units for n in INT_FIELDS)


@pytest.mark.parametrize("dtype", ["uint16", "int32"])
def test_integer_spike_times_read_as_float64(tree, dtype):
    """Spike times stored as integers (whole ms) read as float64 with the same values."""
    spike_file = unit_spike_file(tree)
    mat, sets = load_spikes(spike_file)
    expected = []
    for s in range(sets.shape[1]):
        times = sets[0, s]["repeats"]["t"]
        for r in range(times.shape[1]):
            times[0, r] = np.round(times[0, r]).astype(dtype)
            expected.append(times[0, r].ravel())
    save(spike_file, mat)
    assert sio.loadmat(spike_file)["data"][0, 0]["set"][0, 0]["repeats"][0, 0]["t"].dtype == np.dtype(dtype)

    unit = read_raw_tree(tree).units[0]
    got = [rep.spike_times_ms for s in unit.sets for rep in s.repeats]
    assert len(got) == len(expected)
    for times, want in zip(got, expected):
        assert times.dtype == np.float64
        np.testing.assert_array_equal(times, want.astype(np.float64))


# --------------------------------------------------------------------------- 6. extra metadata fields


def test_extra_metadata_fields_kept_in_file_order(tree):
    """Extra fields (text and numbers) are kept with their values and listed in file order."""
    neuron = neurons(tree)
    records = neuron.reshape(-1)
    n = records.size
    comments = [f"cell {i} looks fine" for i in range(n)]
    snr = [1.5 + i for i in range(n)]
    ids = [100 + i for i in range(n)]
    fields = ["path", "Comment", *META_FIELDS[1:5], "SNR", *META_FIELDS[5:], "CellID"]
    columns = {}
    for name in fields:
        if name == "Comment":
            columns[name] = [np.array([c]) for c in comments]
        elif name == "SNR":
            columns[name] = [np.array([[v]]) for v in snr]
        elif name == "CellID":
            columns[name] = [np.array([[v]], dtype=np.uint16) for v in ids]
        else:
            columns[name] = [rec[name] for rec in records]
    save_neurons(tree, struct(neuron.shape, columns))

    release = read_raw_tree(tree)
    assert release.metadata_fields == fields
    for i, unit in enumerate(release.units):
        assert list(unit.metadata) == fields
        assert unit.metadata["Comment"] == comments[i]
        assert unit.metadata["SNR"] == snr[i]
        assert unit.metadata["CellID"] == ids[i] and type(unit.metadata["CellID"]) is int
        assert unit.metadata["NoiseRatio"] == float(records[i]["NoiseRatio"].item())


# --------------------------------------------------------------------------- 7. paths leaving spikesandwav/


@pytest.mark.parametrize("bad", ["../x.mat", "/etc/passwd", "a/../../x.mat", "..\\x.mat", "C:/x.mat",
                                 "../outside.data.mat", "exp45_1x32/../../outside.data.mat",
                                 "C:\\data\\cluster.01.data.mat"])
def test_path_leaving_spikesandwav_rejected_before_reading(tree, monkeypatch, bad):
    """A unit path outside spikesandwav/ is an error naming the metadata file, raised before any spike file is read."""
    paths = unit_paths(tree)
    # A valid spike file where the escaping paths point, so following them would "work".
    shutil.copy(tree / SPIKES_DIR / paths[2], tree / "x.mat")
    # The first unit's file is unreadable: reading it before checking all paths gives another error.
    first = tree / SPIKES_DIR / paths[0]
    first.write_text("not a MAT file\n")
    neuron = neurons(tree)
    neuron[0, 1]["path"] = np.array([bad])
    save_neurons(tree, neuron)

    from ns1nwb.release import matfile, spike_files, tree as tree_module

    loaded = []
    real_read_source = matfile.read_source

    def spy(path):
        loaded.append(Path(path))
        return real_read_source(path)

    for module in (tree_module, spike_files):  # every file the reader opens goes through it
        monkeypatch.setattr(module, "read_source", spy)
    with pytest.raises(RawFormatError) as excinfo:
        read_raw_tree(tree)
    message = str(excinfo.value)
    assert str(tree / METADATA_FILE) in message and repr(bad) in message and "leaves" in message
    assert "\n" not in message
    assert first.name not in message
    assert all(SPIKES_DIR not in p.parts and p.name != "x.mat" for p in loaded), loaded


def test_symlink_leaving_spikesandwav_rejected(tree, tmp_path):
    """A folder inside spikesandwav/ that links outside the release is refused too."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copy(unit_spike_file(tree, 0), outside / "cluster.99.data.mat")
    (tree / SPIKES_DIR / "linked").symlink_to(outside, target_is_directory=True)
    neuron = neurons(tree)
    neuron[0, 1]["path"] = np.array(["linked/cluster.99.data.mat"])
    save_neurons(tree, neuron)
    assert_refused(tree, str(tree / METADATA_FILE), "'linked/cluster.99.data.mat'", "outside")


def test_file_symlink_leaving_spikesandwav_rejected(tree, tmp_path):
    """A path inside spikesandwav/ that is a symlink to a file outside it is refused too."""
    outside = tmp_path / "outside.data.mat"
    shutil.copy(unit_spike_file(tree, 1), outside)
    (tree / SPIKES_DIR / "evil.data.mat").symlink_to(outside)
    neuron = neurons(tree)
    neuron[0, 1]["path"] = np.array(["evil.data.mat"])
    save_neurons(tree, neuron)
    assert_refused(tree, str(tree / METADATA_FILE), "evil.data.mat", "outside")


# Symlink loops (issue 16 item 10): never a hang (the timeout), never an internal error.


@pytest.mark.timeout(120)
@pytest.mark.parametrize("all_clusters", [False, True], ids=["metadata-units", "all-clusters"])
def test_folder_symlink_loops_are_not_followed(tree, all_clusters):
    """Folder links looping under spikesandwav/ are not followed: the tree reads and plans, with or without
    ``all_clusters`` (the output check walks them too: tests/nwb/test_write.py)."""
    loop_folders(tree)
    release = read_raw_tree(tree, all_clusters=all_clusters)
    check_nwb_names(release, plan_blocks(release))
    assert [u.path for u in release.units] == unit_paths(tree)


@pytest.mark.timeout(120)
def test_file_symlink_loop_is_counted(tree):
    """A ``cluster.99.data.mat`` that links to itself, without ``all_clusters``: counted, not read (it was an
    internal error: pathlib's RuntimeError 'Symlink loop')."""
    loop_folders(tree)
    loop = unit_spike_file(tree, 0).with_name("cluster.99.data.mat")
    loop.symlink_to(loop.name)
    release = read_raw_tree(tree)
    check_nwb_names(release, plan_blocks(release))
    assert loop.relative_to(tree / SPIKES_DIR).as_posix() in release.unread_clusters


@pytest.mark.timeout(120)
def test_file_symlink_loop_with_all_clusters(tree):
    """With ``all_clusters`` the looping cluster file is read: one line naming it."""
    loop = unit_spike_file(tree, 0).with_name("cluster.99.data.mat")
    loop.symlink_to(loop.name)
    assert_refused(tree, str(loop), "symbolic links", all_clusters=True)


@pytest.mark.timeout(120)
def test_unit_path_into_a_symlink_loop(tree):
    """A metadata path through a looping link: naming the metadata file and the path (it was an internal
    error)."""
    loop_folders(tree)
    neuron = neurons(tree)
    neuron[0, 1]["path"] = np.array(["self/P01/cluster.01.data.mat"])
    save_neurons(tree, neuron)
    assert_refused(tree, str(tree / METADATA_FILE), "'self/P01/cluster.01.data.mat'", "symlink loop")


# --------------------------------------------------------------------------- 8. missing optional fields


def test_missing_optional_fields(tree):
    """Without timestamp, repeat_id, spikes, stim_params and length_signal_ms a file still reads.

    The sets are also stored in reverse order: with no ``stim_params`` nothing but the
    position identifies a set, so ``stimulus_index`` must fall back to it.
    """
    spike_file = unit_spike_file(tree)
    expected = _stored_times(spike_file)[::-1]
    mat, sets = load_spikes(spike_file)
    for rec in sets.reshape(-1):
        rec["repeats"] = _without(rec["repeats"], "timestamp", "repeat_id")
    sets = _without(sets[:, ::-1].copy(), "spikes", "stim_params", "length_signal_ms")
    assert sets.dtype.names == ("repeats",)
    mat["data"]["set"][0, 0] = sets
    save(spike_file, mat)

    release = read_raw_tree(tree)
    unit = release.units[0]
    assert len(unit.sets) == 32 and unit.timestamps == []
    for s, raw_set in enumerate(unit.sets):
        assert raw_set.stimulus_index == s == raw_set.position
        assert raw_set.length_signal_ms is None and raw_set.stim_params == {}
        assert len(raw_set.repeats) == len(expected[s])
        for r, rep in enumerate(raw_set.repeats):
            assert rep.timestamp is None
            np.testing.assert_array_equal(rep.spike_times_ms, expected[s][r].ravel())
    # The other units still carry theirs.
    assert all(s.length_signal_ms is not None and s.stim_params for s in release.units[1].sets)
    assert len(release.units[1].timestamps) == sum(s.n_repeats for s in STIMULI)


# --------------------------------------------------------------------------- 9. stored order, late spikes


def test_spike_times_bit_identical_to_loadmat(small_raw):
    """Every repeat's times are loadmat's values in stored order, unsorted ones and those after 4995 ms included."""
    release = read_raw_tree(small_raw)
    n_unsorted = n_late = 0
    for unit in release.units:
        stored = _stored_times(small_raw / SPIKES_DIR / unit.path)
        assert [len(s.repeats) for s in unit.sets] == [len(reps) for reps in stored]
        for raw_set, reps in zip(unit.sets, stored):
            for rep, times in zip(raw_set.repeats, reps):
                want = np.ascontiguousarray(times.ravel(), dtype=np.float64)
                assert rep.spike_times_ms.tobytes() == want.tobytes()
                n_unsorted += bool(np.any(np.diff(want) < 0))
                n_late += int(np.sum(want > 4995))
    # The comparison above covered both cases.
    assert n_unsorted > 0 and n_late > 0


def test_unsorted_and_late_spikes_kept(tree):
    """An explicitly unsorted repeat with spikes after 4995 ms is kept as written."""
    spike_file = unit_spike_file(tree)
    times = np.array([[3000.5, 12.25, 5100.75, 4995.0, 0.625, 5241.9, 4994.99]])
    mat, sets = load_spikes(spike_file)
    sets[0, 4]["repeats"]["t"][0, 7] = times
    save(spike_file, mat)
    got = read_raw_tree(tree).units[0].sets[4].repeats[7].spike_times_ms
    assert got.tobytes() == times.ravel().tobytes()


# --------------------------------------------------------------------------- 10. every spike kept


def test_every_spike_kept(small_raw):
    """n_spikes and n_repeats equal the counts loadmat gives on the files."""
    release = read_raw_tree(small_raw)
    total_spikes = total_repeats = 0
    for unit in release.units:
        sets = sio.loadmat(small_raw / SPIKES_DIR / unit.path)["data"][0, 0]["set"]
        spikes = sum(t.size for s in range(sets.shape[1]) for t in sets[0, s]["repeats"]["t"].ravel())
        assert unit.n_spikes == spikes
        total_spikes += spikes
        total_repeats += sum(sets[0, s]["repeats"].size for s in range(sets.shape[1]))
    assert len(release.units) == len(unit_paths(small_raw))
    assert release.n_spikes == total_spikes > 0
    assert release.n_repeats == total_repeats
    assert f"{total_spikes:,} spikes" in release.summary()


# --------------------------------------------------------------------------- 11. corrupt input


def test_times_in_seconds_warn(tree):
    """Times that all look like seconds (< 6) are read but warned about."""
    spike_file = unit_spike_file(tree, 1)
    times_to_seconds(spike_file)
    with pytest.warns(Ns1Warning, match=re.escape(str(spike_file)) + ".*seconds"):
        release = read_raw_tree(tree)
    assert len(release.units) == 3 and len(release.warnings) == 1 and str(spike_file) in release.warnings[0]
    assert release.units[1].sets[0].repeats[0].spike_times_ms.max() < 6


def test_times_in_seconds_strict_raises(tree):
    """Under ``strict`` the seconds warning is an error naming the file."""
    spike_file = unit_spike_file(tree, 1)
    times_to_seconds(spike_file)
    assert_refused(tree, str(spike_file), "seconds", "--strict", error=StrictModeError, strict=True)


def test_duplicate_unit_paths(tree):
    """Two units naming the same spike file are an error naming the metadata file."""
    neuron = neurons(tree)
    neuron[0, 2]["path"] = neuron[0, 0]["path"]
    save_neurons(tree, neuron)
    assert_refused(tree, str(tree / METADATA_FILE), "same spike file")


def _read_distinct_files_or_reject(root: Path) -> None:
    """Reading either fails with RawFormatError or gives every unit its own spike file."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Ns1Warning)
        try:
            release = read_raw_tree(root)
        except RawFormatError:
            return
    files = [u.spike_file.resolve() for u in release.units]
    assert len(set(files)) == len(files), f"units share a spike file: {[f.name for f in files]}"


@pytest.mark.parametrize("spelling", ["./{p}", "{d}//{f}", "{p_win}"])
def test_duplicate_unit_paths_spelled_differently(tree, spelling):
    """Two paths that name the same spike file are duplicates too (each unit needs its own file)."""
    path = unit_paths(tree)[0]
    folder, name = path.rsplit("/", 1)
    neuron = neurons(tree)
    neuron[0, 2]["path"] = np.array([spelling.format(p=path, d=folder, f=name, p_win=path.replace("/", "\\"))])
    save_neurons(tree, neuron)
    _read_distinct_files_or_reject(tree)


def test_fallback_to_another_units_file(tree):
    """A missing ``x.mat`` must not fall back to ``x_1.mat`` when another unit is ``x_1.mat``."""
    paths = unit_paths(tree)
    spike_file = tree / SPIKES_DIR / paths[0]
    spike_file.rename(spike_file.with_name(spike_file.stem + "_1.mat"))
    neuron = neurons(tree)
    neuron[0, 2]["path"] = np.array([paths[0][: -len(".mat")] + "_1.mat"])
    save_neurons(tree, neuron)
    _read_distinct_files_or_reject(tree)


def test_empty_unit_path(tree):
    """A unit without a path is an error naming the metadata file."""
    neuron = neurons(tree)
    neuron[0, 1]["path"] = np.array([""])
    save_neurons(tree, neuron)
    assert_refused(tree, str(tree / METADATA_FILE), "unit 1 has no spike-file path")


def test_metadata_without_path_field(tree):
    """No ``path`` field and a numeric first field: the fallback finds no usable path."""
    neuron = neurons(tree)
    fields = [n for n in neuron.dtype.names if n != "path"]
    assert fields[0] == "NrOfElectrodes"
    save_neurons(tree, struct(neuron.shape, {n: [rec[n] for rec in neuron.ravel()] for n in fields}))
    assert_refused(tree, str(tree / METADATA_FILE), "no spike-file path", "NrOfElectrodes")


def test_missing_folder(tmp_path):
    """A folder that does not exist is RawFileNotFoundError naming it."""
    missing = tmp_path / "nope"
    assert_refused(missing, str(missing), "raw folder not found", error=RawFileNotFoundError)


def test_missing_metadata(tree):
    """A folder without MetadataSHEnCneurons.mat is RawFileNotFoundError naming it."""
    (tree / METADATA_FILE).unlink()
    assert_refused(tree, str(tree / METADATA_FILE), "not found", error=RawFileNotFoundError)


def test_metadata_without_neuron(tree):
    """A metadata file without the ``neuron`` variable is an error naming the file."""
    sio.savemat(tree / METADATA_FILE, {"cells": neurons(tree)})
    assert_refused(tree, str(tree / METADATA_FILE), "no variable 'neuron'")


def test_metadata_neuron_not_struct(tree):
    """``neuron`` that is not a struct array is an error naming the file."""
    sio.savemat(tree / METADATA_FILE, {"neuron": np.arange(3.0)})
    assert_refused(tree, str(tree / METADATA_FILE), "not a struct array")


@pytest.mark.parametrize("damage", [
    pytest.param(truncate, id="truncated"),
    pytest.param(lambda p: p.write_bytes(b""), id="empty"),
    pytest.param(lambda p: p.write_text("neuron = struct('path', {})\n" * 20), id="text"),
])
def test_unreadable_metadata(tree, damage):
    """A metadata file that is not a readable MAT file is an error naming it."""
    damage(tree / METADATA_FILE)
    assert_refused(tree, str(tree / METADATA_FILE), "not a readable MAT file")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads a chmod-000 file anyway")
def test_metadata_without_read_permission(tree):
    meta = tree / METADATA_FILE
    meta.chmod(0)
    try:
        assert_refused(tree, str(meta))
    finally:
        meta.chmod(0o644)


def test_numeric_timestamp_is_not_a_crash(tree):
    """A timestamp stored as a number (e.g. a datenum) is tolerated or a RawFormatError, never a crash."""
    spike_file = unit_spike_file(tree)
    mat, sets = load_spikes(spike_file)
    sets[0, 0]["repeats"]["timestamp"][0, 0] = np.array([[735000.5]])
    save(spike_file, mat)
    try:
        read_raw_tree(tree)
    except RawFormatError:
        pass


# --------------------------------------------------------------------------- 12. wavs and spectrogram


def test_wavs_bit_identical(small_raw):
    """All 20 wavs: header rate 48828, true rate 48828.125, float32 samples as soundfile and the bytes give."""
    wavs = read_raw_tree(small_raw).wavs
    assert sorted(wavs) == list(range(N_NATURAL))
    for index, wav in wavs.items():
        path = _wav_path(small_raw, index)
        assert wav.stimulus_index == index and wav.path.resolve() == path.resolve()
        assert wav.header_rate_hz == 48828 and type(wav.header_rate_hz) is int
        assert wav.sample_rate_hz == 48828.125
        expected, rate = sf.read(path, dtype="float32")
        assert rate == 48828
        assert wav.samples.dtype == np.float32 and wav.samples.shape == expected.shape
        assert wav.samples.tobytes() == expected.tobytes()
        # And independently of soundfile: the data chunk after the 44-byte header.
        assert wav.samples.tobytes() == np.frombuffer(path.read_bytes()[44:], "<f4").tobytes()


def test_missing_wav_warns(tree):
    """A missing wav is a warning naming it; the other 19 are read."""
    wav_links(tree)
    missing = _wav_path(tree, 7)
    missing.unlink()
    with pytest.warns(Ns1Warning, match="wavs missing .*" + re.escape(missing.name)):
        release = read_raw_tree(tree)
    assert sorted(release.wavs) == [i for i in range(N_NATURAL) if i != 7]
    assert "19 wavs" in release.summary()


def test_missing_wav_strict_raises(tree):
    """Under ``strict`` a missing wav is an error."""
    wav_links(tree)
    _wav_path(tree, 7).unlink()
    assert_refused(tree, _wav_path(tree, 7).name, "missing", "--strict", error=StrictModeError, strict=True)


def test_spectrogram_absent(tree):
    """Without test_data_5ms.mat the spectrogram is None (and no warning)."""
    assert not (tree / SPECTROGRAM_FILE).exists()
    release = read_raw_tree(tree)
    assert release.spectrogram_x_nfht is None and release.spectrogram_file is None
    assert "spectrogram absent" in release.summary()


def test_spectrogram_read(tree):
    """X_nfht of the right shape is read with its values."""
    x_nfht = np.random.default_rng(1).normal(size=(N_NATURAL, N_BANDS, 1, 999))
    sio.savemat(tree / SPECTROGRAM_FILE, {"X_nfht": x_nfht, "y_nt": np.zeros((N_NATURAL, 999))})
    release = read_raw_tree(tree)
    assert release.spectrogram_file.resolve() == (tree / SPECTROGRAM_FILE).resolve()
    assert release.spectrogram_x_nfht.tobytes() == x_nfht.tobytes()
    assert release.spectrogram_x_nfht.shape == (N_NATURAL, N_BANDS, 1, 999)


# --------------------------------------------------------------------------- 13. the real release


# (real_release: tests/conftest.py)


@pytest.mark.realdata
def test_real_release_counts(real_release):
    """The real release: 119 units x 32 sets, every spike, repeat, block and wav."""
    release = real_release
    assert len(release.units) == 119 and release.skipped_units == [] and release.warnings == []
    assert all(len(u.sets) == 32 for u in release.units)
    assert all([s.stimulus_index for s in u.sets] == list(range(32)) for u in release.units)
    assert release.n_spikes == 3_627_155
    natural = sum(r.spike_times_ms.size for u in release.units for s in u.sets[:20] for r in s.repeats)
    assert natural == 3_164_715
    assert release.n_repeats == 54_740
    assert sum(r.spike_times_ms.size == 0 for u in release.units for s in u.sets for r in s.repeats) == 103
    assert len(release.recording_blocks) == 15
    assert sorted(release.wavs) == list(range(20))
    assert all(w.header_rate_hz == 48828 for w in release.wavs.values())


@pytest.mark.realdata
def test_real_release_metadata(real_release):
    """Every metadata field is present for every unit; 73 units are 'good' (singleT Yes/Maybe, depth >= 0)."""
    release = real_release
    assert release.metadata_fields == META_FIELDS
    for unit in release.units:
        assert list(unit.metadata) == META_FIELDS
        assert all(unit.metadata[name] is not None for name in META_FIELDS)
        assert all(type(unit.metadata[name]) is int for name in INT_FIELDS)
        assert unit.metadata["singleT"] in ("Yes", "Maybe", "No")
    good = [u for u in release.units if u.metadata["singleT"] in ("Yes", "Maybe") and u.metadata["depth"] >= 0]
    assert len(good) == 73
