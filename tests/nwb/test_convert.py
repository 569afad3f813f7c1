"""convert: the pooled NWB file is lossless, timed right, Inspector-clean and valid; what the raw tree
tolerates (fewer repeats, a missing wav, older exports) converts.

Files of the same tree are the session fixtures of tests/conftest.py (``sample_nwb``, ``real_nwb``); a test that
converts a tree of its own converts the smallest that shows the behaviour (``lean_tree``: 2 units, no wavs).
"""

from __future__ import annotations

import shutil
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import h5py
import numpy as np
import pytest
import scipy.io as sio
import soundfile

import ns1nwb
from ns1nwb import MetadataError, Ns1Warning, OutputError, read_raw_tree
from ns1nwb.constants import N_NATURAL, POOLED_TIMELINE, SPIKE_CLOCK_HZ
from ns1nwb import convert
from rawedit import load_spikes, save, unit_paths, unit_spike_file, wav_links, without_stim_params
from reference import raw_repeat_times

LONDON = ZoneInfo("Europe/London")


def _text(values) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def _convert(raw: Path, out: Path, **kwargs) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        convert(raw, out, **kwargs)
    return out


def _convert_lean(raw: Path, out: Path, **kwargs) -> Any:
    """``convert`` of a tree without wavs: its one Ns1Warning says so (any other would fail the test);
    the ConversionResult."""
    with pytest.warns(Ns1Warning, match="20 of 20 natural-sound wavs missing"):
        return convert(raw, out, **kwargs)


def _inspector_findings(path: Path) -> list[tuple[str, str, str]]:
    from nwbinspector import inspect_nwbfile, load_config

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        messages = list(inspect_nwbfile(nwbfile_path=str(path), config=load_config("dandi")))
    return [(m.importance.name, m.check_function_name, m.message) for m in messages]


def _assert_inspector_clean(path: Path) -> None:
    serious = [f for f in _inspector_findings(path) if f[0] in ("CRITICAL", "BEST_PRACTICE_VIOLATION", "ERROR",
                                                                 "PYNWB_VALIDATION")]
    assert serious == []


def _assert_pynwb_valid(path: Path) -> None:
    from pynwb import validate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        errors = validate(path=str(path))
    assert list(errors) == []


def _assert_lossless(raw: Path, nwb: Path, tolerance_ms: float = 1e-6, raw_times: dict | None = None) -> int:
    """Every raw spike is in the file, in its trial, within ``tolerance_ms``; returns the spike count
    (``raw_times``: ``raw_repeat_times(raw)`` when given)."""
    raw_times = raw_repeat_times(raw) if raw_times is None else raw_times
    with h5py.File(nwb, "r") as f:
        units, trials = f["units"], f["intervals/trials"]
        names = _text(units["unit_name"][:])
        ends = units["spike_times_index"][:]
        times = units["spike_times"][:]
        trial_of = units["spike_trial"][:]
        start = trials["start_time"][:]
        stimulus = trials["stimulus_index"][:]
        repeat = trials["repeat_index"][:]
        resolution = units["spike_times"].attrs["resolution"]
    assert resolution == pytest.approx(1 / SPIKE_CLOCK_HZ)
    assert names == [p[:-4] for p in raw_times]
    begin = 0
    total = 0
    for (path, per_set), end in zip(raw_times.items(), ends):
        unit_times, unit_trials = times[begin:end], trial_of[begin:end]
        assert np.all(np.diff(unit_times) >= 0), f"{path}: spike_times not ascending"
        relative = (unit_times - start[unit_trials]) * 1000.0
        # The unit's spikes grouped by the (stimulus, repeat) of their trial, each group in file order.
        key = stimulus[unit_trials].astype(np.int64) * 1_000_000 + repeat[unit_trials]
        order = np.argsort(key, kind="stable")
        sorted_keys = key[order]
        for s, repeats in enumerate(per_set):
            for r, raw_ms in enumerate(repeats):
                first, last = np.searchsorted(sorted_keys, [s * 1_000_000 + r, s * 1_000_000 + r + 1])
                got = relative[order[first:last]]
                assert got.size == raw_ms.size, f"{path} set {s} repeat {r}"
                np.testing.assert_allclose(got, np.sort(raw_ms), rtol=0, atol=tolerance_ms)
                total += got.size
        begin = end
    assert total == times.size
    return total


# --------------------------------------------------------------------------- generated data


def test_sample_is_lossless_and_sorted(sample_raw, sample_nwb):
    n = _assert_lossless(sample_raw, sample_nwb)
    assert n == read_raw_tree(sample_raw).n_spikes


def test_sample_passes_inspector_and_validation(sample_nwb):
    _assert_inspector_clean(sample_nwb)
    _assert_pynwb_valid(sample_nwb)


def test_trials_sit_at_raw_timestamps(sample_raw, sample_nwb):
    release = read_raw_tree(sample_raw)
    stamps = sorted({r.timestamp for u in release.units for s in u.sets for r in s.repeats})
    earliest = datetime.strptime(stamps[0], "%Y%m%d-%H%M%S%f").replace(tzinfo=LONDON)
    with h5py.File(sample_nwb, "r") as f:
        start_time = datetime.fromisoformat(f["session_start_time"][()].decode())
        trials = f["intervals/trials"]
        onset = _text(trials["onset_timestamp"][:])
        start = trials["start_time"][:]
        session = _text(trials["session_id"][:])
        stop = trials["stop_time"][:]
        length = trials["length_signal_ms"][:]
    assert start_time == earliest
    assert sorted(set(onset)) == stamps
    assert np.all(np.diff(start) > 0)
    np.testing.assert_allclose(stop - start, length / 1000.0, atol=1e-9)
    # Within a block, onsets are the raw timestamps' exact offsets from the block's first one.
    for block in set(session):
        rows = [i for i, s in enumerate(session) if s == block]
        wall = [datetime.strptime(onset[i], "%Y%m%d-%H%M%S%f") for i in rows]
        offsets = np.array([(w - wall[0]).total_seconds() for w in wall])
        np.testing.assert_allclose(start[rows] - start[rows[0]], offsets, atol=1e-9)
        assert len(rows) == 460


def test_units_columns_and_electrodes(sample_raw, sample_nwb):
    meta = sio.loadmat(sample_raw / "MetadataSHEnCneurons.mat")["neuron"][0]
    with h5py.File(sample_nwb, "r") as f:
        units = f["units"]
        for column in ("unit_name", "depth_um", "noise_ratio", "single_unit_label", "single_unit_code",
                       "probe_site_count", "site_number", "subject_id", "session_id", "is_good"):
            assert column in units, column
            assert units[column].attrs["description"], column
        np.testing.assert_array_equal(units["depth_um"][:], [int(n["depth"].item()) for n in meta])
        np.testing.assert_array_equal(units["noise_ratio"][:], [float(n["NoiseRatio"].item()) for n in meta])
        labels = [str(n["singleT"].item()) for n in meta]
        assert _text(units["single_unit_label"][:]) == labels
        good = [lab in ("Yes", "Maybe") and int(n["depth"].item()) >= 0 for lab, n in zip(labels, meta)]
        np.testing.assert_array_equal(units["is_good"][:], good)
        assert _text(units["subject_id"][:]) == [str(n["path"].item()).split("/")[0].split("_")[0] for n in meta]
        # One observation interval per recorded sweep (each unit heard its block's 460 presentations); one
        # electrode per unit, on the unit's site.
        per_unit = np.diff(np.concatenate([[0], units["obs_intervals_index"][:].astype(int)]))
        assert per_unit.tolist() == [460] * len(meta)
        electrode_rows = units["electrodes"][:]
        sites = f["general/extracellular_ephys/electrodes/site_number"][:]
        np.testing.assert_array_equal(sites[electrode_rows], [int(n["ElectrodeNumber"].item()) for n in meta])


def test_stimuli_templates_and_table(sample_raw, sample_nwb):
    x_nfht = sio.loadmat(sample_raw / "test_data_5ms.mat")["X_nfht"]
    with h5py.File(sample_nwb, "r") as f:
        templates = f["stimulus/templates"]
        waveforms = sorted(k for k in templates if k.endswith("_waveform"))
        assert len(waveforms) == 20
        nat01 = templates["nat01_waveform"]
        assert nat01["starting_time"].attrs["rate"] == 48828.125  # the default: the sound as played
        assert nat01["data"].dtype == np.float32
        spectrogram = templates["nat05_spectrogram"]
        np.testing.assert_array_equal(spectrogram["data"][:, 0, :], x_nfht[4, :, 0, :].T)
        assert "X_nfht" in spectrogram.attrs["description"]
        np.testing.assert_allclose(spectrogram["bands/band_mean"][:], 500 * 2 ** (np.arange(34) / 6))
        table = f["processing/stimuli/stimuli"]
        assert len(table["id"]) == 32
        assert table["has_waveform"][:].tolist() == [True] * 20 + [False] * 12
        # Trials link to their template, as a raw HDF5 reader sees it: the ragged column gives each natural
        # sound's row one reference to its whole waveform and a dynamic random chord's row none.
        trials = f["intervals/trials"]
        references = trials["timeseries"][:]
        ends = trials["timeseries_index"][:].astype(np.int64)
        starts = np.concatenate([[0], ends[:-1]])
        stimulus = trials["stimulus_index"][:]
        assert np.array_equal(ends - starts, (stimulus < 20).astype(np.int64))
        assert references.size == int((stimulus < 20).sum())
        for row in np.flatnonzero(stimulus < 20)[:50]:
            reference = references[starts[row]]
            target = f[reference["timeseries"]]
            assert target.name == f"/stimulus/templates/nat{stimulus[row] + 1:02d}_waveform"
            assert (reference["idx_start"], reference["count"]) == (0, target["data"].shape[0])
    # pynwb sees the same: a list of one reference per natural row, an empty list for a DRC row.
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(sample_nwb, "r") as io:
        nwbfile = io.read()
        column = nwbfile.trials["timeseries"]
        rows = nwbfile.trials["stimulus_index"][:]
        drc_row = int(np.flatnonzero(np.asarray(rows) >= 20)[0])
        natural_row = int(np.flatnonzero(np.asarray(rows) == 4)[0])
        assert len(column[drc_row]) == 0
        assert [r.timeseries.name for r in column[natural_row]] == ["nat05_waveform"]


def test_native_audio_is_bit_exact(sample_raw, sample_nwb):
    """The default (``audio_rate_hz=None``) stores the wav's samples as they are, at the true rate."""
    samples, _ = soundfile.read(sample_raw / "spikesandwav/SH.En.C/source.2.sound.0.snr.0.token.0.fw.1.frozen.5",
                                dtype="float32")
    with h5py.File(sample_nwb, "r") as f:
        stored = f["stimulus/templates/nat17_waveform"]
        assert stored["starting_time"].attrs["rate"] == 48828.125
        np.testing.assert_array_equal(stored["data"][:], samples)


def test_metadata_file_overrides_defaults(lean_tree, tmp_path):
    metadata = tmp_path / "meta.yaml"
    metadata.write_text("experimenter: ['Doe, Jane']\nlab: Test lab\nsubject:\n  sex: F\n  age: P1Y\n")
    out = tmp_path / "meta.nwb"
    _convert_lean(lean_tree, out, metadata_path=metadata)
    with h5py.File(out, "r") as f:
        assert _text(f["general/experimenter"][:]) == ["Doe, Jane"]
        assert f["general/lab"][()].decode() == "Test lab"
        assert f["general/subject/sex"][()].decode() == "F"
        assert f["general/subject/species"][()].decode() == "http://purl.obolibrary.org/obo/NCBITaxon_9669"


@pytest.mark.parametrize("text, field", [
    ("subject:\n  age: six months\n", "subject.age"),
    ("subject:\n  sex: X\n", "subject.sex"),
    ("lab: 3\n", "lab"),
    ("colour: red\n", "colour"),
])
def test_invalid_metadata_names_the_field(sample_raw, tmp_path, text, field):
    metadata = tmp_path / "bad.yaml"
    metadata.write_text(text)
    with pytest.raises(MetadataError, match=field):
        convert(sample_raw, tmp_path / "x.nwb", metadata_path=metadata)
    assert not (tmp_path / "x.nwb").exists()


def test_refuses_to_overwrite_and_leaves_no_partial_file(sample_raw, sample_nwb, tmp_path):
    out = tmp_path / "out.nwb"
    out.write_bytes(b"keep me")
    with pytest.raises(OutputError, match="already exists"):
        convert(sample_raw, out)
    assert out.read_bytes() == b"keep me"
    with pytest.raises(OutputError, match="does not exist"):
        convert(sample_raw, tmp_path / "missing" / "out.nwb")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.nwb"]


def test_interrupted_write_removes_its_temporary_file(lean_tree, out_dir, monkeypatch):
    from pynwb import NWBHDF5IO

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(NWBHDF5IO, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _convert_lean(lean_tree, out_dir / "out.nwb")
    assert list(out_dir.iterdir()) == []


def test_synthetic_clock_without_timestamps(lean_tree, tmp_path):
    raw = lean_tree
    for spike_file in (raw / "spikesandwav").rglob("*.mat"):
        mat = sio.loadmat(spike_file)
        sets = mat["data"]["set"][0, 0]
        for s in range(sets.shape[1]):
            repeats = sets["repeats"][0, s]
            stripped = np.empty(repeats.shape, dtype=[("t", "O"), ("repeat_id", "O")])
            stripped["t"], stripped["repeat_id"] = repeats["t"], repeats["repeat_id"]
            sets[0, s]["repeats"] = stripped
        sio.savemat(spike_file, {"data": mat["data"]})
    out = tmp_path / "synthetic.nwb"
    _convert_lean(raw, out)
    with h5py.File(out, "r") as f:
        assert "SYNTHETIC" in f["general/notes"][()].decode()
        assert set(_text(f["intervals/trials/onset_timestamp"][:])) == {""}
    _assert_lossless(raw, out)


# --------------------------------------------------------------------------- what the raw tree tolerates
#
# These rows were ``ns1nwb convert`` runs (tests/test_faults.py, tests/test_validation.py). What ``convert``
# prints is the result's summary; an Ns1Warning other than the one expected fails the test (pyproject).


def _stored_counts(path: Path) -> list[list[int]]:
    sets = sio.loadmat(path)["data"][0, 0]["set"]
    return [[t.size for t in sets[0, s]["repeats"]["t"].ravel()] for s in range(sets.shape[1])]


def test_set_with_fewer_repeats_is_tolerated(lean_tree, tmp_path):
    """Set 5 of unit 0 keeps 3 of its 20 repeats: every stored spike kept, the missing repeats NaN in the grid."""
    spike_file = unit_spike_file(lean_tree, 0)
    mat, sets = load_spikes(spike_file)
    sets[0, 5]["repeats"] = sets[0, 5]["repeats"][:, :3].copy()
    save(spike_file, mat)
    counts = [_stored_counts(unit_spike_file(lean_tree, u)) for u in range(2)]
    assert [len(c) for c in counts[0][5:6]] == [3]
    total = sum(n for unit in counts for s in unit for n in s)

    out = tmp_path / "ns1.nwb"
    result = _convert_lean(lean_tree, out, audio_rate_hz=None)
    # 460 presentations per block, 17 missing from unit 0's block (it is alone in it).
    assert f"2 units, {total:,} spikes, 903 trials" in result.summary()
    with ns1nwb.open(out) as rec:
        assert list(rec.units["n_spikes"]) == [sum(n for s in unit for n in s) for unit in counts]
        expected = sio.loadmat(spike_file)["data"][0, 0]["set"][0, 5]["repeats"]["t"][0, 2].ravel()
        np.testing.assert_allclose(rec.trial_spike_times_ms(0, 5, 2), np.sort(expected), rtol=0, atol=1e-6)
        with pytest.raises(KeyError):
            rec.trial_spike_times_ms(0, 5, 3)
        grid = rec.response_grid(units=[0], smooth=False)
        assert np.isnan(grid[0, 5, 3:]).all() and not np.isnan(grid[0, 5, :3]).any()
        assert not np.isnan(np.delete(grid[0], 5, axis=0)).any()


@pytest.mark.filterwarnings("ignore:Neither source_timeseries nor source_channels:UserWarning")  # pynwb: nat08
def test_a_missing_wav_is_a_stimulus_without_waveform(tree, tmp_path):
    """One warning naming the wav; the file says which stimulus has no waveform."""
    wav_links(tree)
    missing = tree / "spikesandwav" / "SH.En.C" / "source.1.sound.0.snr.0.token.0.fw.2.frozen.8"
    missing.unlink()
    out = tmp_path / "ns1.nwb"
    with pytest.warns(Ns1Warning, match="1 of 20 natural-sound wavs missing .*" + missing.name):
        convert(tree, out, audio_rate_hz=None)
    with ns1nwb.open(out) as rec:
        assert not rec.stimuli.loc[7, "has_waveform"] and rec.stimuli["has_waveform"].sum() == N_NATURAL - 1


def test_32_sets_without_stim_params_convert(lean_tree, tmp_path):
    """Older exports without ``stim_params``: identified by position (tests/release/test_blocks.py), written
    with the parameters they lack missing."""
    without_stim_params(unit_spike_file(lean_tree, 0), 32)
    out = tmp_path / "ns1.nwb"
    assert "2 units" in _convert_lean(lean_tree, out, audio_rate_hz=None).summary()
    with h5py.File(out, "r") as f:
        trials = f["intervals/trials"]
        sessions = np.array(_text(trials["session_id"][:]))
        first = sessions == _text(f["units/session_id"][:])[0]
        assert np.isnan(trials["stim_level"][:][first]).all() and np.isfinite(trials["stim_level"][:][~first]).all()


def test_a_lower_case_date_time_in_the_metadata(lean_tree, tmp_path):
    """``t`` and ``z`` in ``session_start_time``: the schema takes them (tests/test_user_metadata.py), and so
    does the writer (a mismatch was an internal error)."""
    metadata = tmp_path / "meta.yaml"
    metadata.write_text('session_start_time: "2020-01-01t10:00:00z"\n')
    out = tmp_path / "ns1.nwb"
    _convert_lean(lean_tree, out, audio_rate_hz=None, metadata_path=metadata)
    assert out.is_file()


# --------------------------------------------------------------------------- the real release


@pytest.mark.realdata
def test_real_release_counts_and_round_trip(real_raw, real_nwb, real_raw_times):
    assert _assert_lossless(real_raw, real_nwb, raw_times=real_raw_times) == 3_627_155
    with h5py.File(real_nwb, "r") as f:
        assert len(f["units/id"]) == 119
        assert len(f["intervals/trials/id"]) == 6_900
        assert len(set(_text(f["units/session_id"][:]))) == 15
        assert int(f["units/is_good"][:].sum()) == 73
        assert datetime.fromisoformat(f["session_start_time"][()].decode()) == \
            datetime(2012, 1, 18, 20, 58, 39, 354000, tzinfo=LONDON)


@pytest.mark.realdata
def test_real_release_converts_without_a_warning(real_raw, real_conversion):
    """The real release (119 units, every raw value) passes every check: no Ns1Warning, every unit (the
    summary is what ``ns1nwb convert`` prints)."""
    result, ns1_warnings = real_conversion
    assert ns1_warnings == [] and result.warnings == [] and result.skipped_units == []
    assert result.n_units == len(unit_paths(real_raw)) == 119
    assert f"{result.n_units} units" in result.summary()


@pytest.mark.realdata
def test_real_release_passes_inspector_and_validation(real_nwb):
    _assert_inspector_clean(real_nwb)
    _assert_pynwb_valid(real_nwb)


def test_unknown_metadata_fields_become_unit_columns(lean_tree, tmp_path):
    raw = lean_tree
    meta_path = raw / "MetadataSHEnCneurons.mat"
    neuron = sio.loadmat(meta_path)["neuron"]
    n = neuron.shape[1]
    extended = np.empty(neuron.shape, dtype=neuron.dtype.descr + [("BestFreqHz", "O"), ("Area", "O")])
    for name in neuron.dtype.names:
        extended[name] = neuron[name]
    for i in range(n):
        extended[0, i]["BestFreqHz"] = np.array([[1000.0 * (i + 1)]])
        extended[0, i]["Area"] = np.array(["A1" if i % 2 else "AAF"])
    sio.savemat(meta_path, {"neuron": extended})
    out = tmp_path / "extra.nwb"
    _convert_lean(raw, out)
    with h5py.File(out, "r") as f:
        np.testing.assert_array_equal(f["units/best_freq_hz"][:], 1000.0 * np.arange(1, n + 1))
        assert _text(f["units/area"][:]) == ["A1" if i % 2 else "AAF" for i in range(n)]
        assert "BestFreqHz" in f["units/best_freq_hz"].attrs["description"]


# --------------------------------------------------------------------------- the conversion's own write path


def _hdf5_layout(path: Path) -> dict[str, object]:
    """Every group, dataset and soft link (its target): attributes (object ids left out, references as
    paths), dtype, shape, storage settings and values (references as paths; file dates and identifier
    left out)."""

    def plain(value: object, h5: h5py.File) -> object:
        if isinstance(value, h5py.Reference):
            if not value:
                return None
            # its target's name: found by address (looking a name up in HDF5 takes ~0.5 ms per reference)
            address = h5py.h5o.get_info(h5py.h5r.dereference(value, h5.id)).addr
            return names.get(address) or h5[value].name
        if isinstance(value, np.ndarray):
            # numbers as arrays (compared by _same, element for element), the rest element by element
            return [plain(v, h5) for v in value.tolist()] if value.dtype.kind in "OV" else value
        if isinstance(value, (bytes, np.bytes_)):
            return value.decode()
        if isinstance(value, tuple):
            return tuple(plain(v, h5) for v in value)
        return value

    layout: dict[str, object] = {}
    names: dict[int, str] = {}  # object address -> its path (the first, in visiting order)

    def name_of(name: str, obj: object) -> None:
        names.setdefault(h5py.h5o.get_info(obj.id).addr, f"/{name}")

    with h5py.File(path, "r") as h5:
        h5.visititems(name_of)
        def visit(name: str, obj: object) -> None:
            if isinstance(obj, h5py.Group):  # visititems skips soft links
                for key in obj:
                    link = obj.get(key, getlink=True)
                    if isinstance(link, h5py.SoftLink):
                        layout[f"{name}/{key}".lstrip("/")] = {"soft_link": link.path}
            entry: dict[str, object] = {"attrs": {k: plain(v, h5) for k, v in obj.attrs.items() if k != "object_id"}}
            if isinstance(obj, h5py.Dataset):
                entry["storage"] = (str(obj.dtype), obj.shape, obj.maxshape, obj.chunks, obj.compression,
                                    obj.compression_opts, obj.shuffle)
                if name not in ("file_create_date", "identifier"):
                    entry["values"] = plain(obj[()], h5)
            layout[name] = entry

        visit("/", h5)
        h5.visititems(visit)
    return layout


def _same(a: object, b: object) -> bool:
    """``a == b`` for the layouts above: arrays equal in dtype, shape and every element (NaN never equal, as in
    lists), containers item by item."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype
                and a.shape == b.shape and bool(np.array_equal(a, b)))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


@pytest.mark.parametrize("tree", ["sample"])
def test_conversion_writes_what_pynwb_writes(tree, request, tmp_path):
    """convert() builds the file in memory and writes its image in one go: the file must be the one pynwb
    writes from build_nwbfile(), dataset for dataset and attribute for attribute. (The sample tree holds every
    kind of dataset the real release gives; the real file is the same code path at 40x the bytes.)"""
    from pynwb import NWBHDF5IO

    from ns1nwb import build_nwbfile

    converted = request.getfixturevalue(f"{tree}_nwb")
    release = request.getfixturevalue("real_release") if tree == "real" else read_raw_tree(
        request.getfixturevalue("sample_raw"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        nwbfile = build_nwbfile(release)
        with NWBHDF5IO(tmp_path / "pynwb.nwb", mode="w") as io:
            io.write(nwbfile)
    expected, got = _hdf5_layout(tmp_path / "pynwb.nwb"), _hdf5_layout(converted)
    assert sorted(got) == sorted(expected)
    assert "intervals/trials/timeseries" in got and "units/spike_times" in got
    assert got["stimulus/templates/nat01_spectrogram/source_timeseries"] == {
        "soft_link": "/stimulus/templates/nat01_waveform"}
    differ = [name for name in expected if not _same(got[name], expected[name])]
    assert differ == []


def test_write_nwbfile_of_a_plain_build(base_raw, tmp_path, monkeypatch):
    """write_nwbfile() of a plain build_nwbfile() writes the file pynwb writes (a 2-unit
    tree with 2 of its wavs: every kind of dataset, template and trial reference, 10x fewer bytes)."""
    from pynwb import NWBHDF5IO

    from ns1nwb import build_nwbfile, write_nwbfile
    from ns1nwb.constants import SPECTROGRAM_FILE, WAV_DIR

    raw = Path(shutil.copytree(base_raw, tmp_path / "raw", ignore=shutil.ignore_patterns(WAV_DIR, SPECTROGRAM_FILE)))
    (raw / "spikesandwav" / WAV_DIR).mkdir()
    for wav in sorted((base_raw / "spikesandwav" / WAV_DIR).iterdir())[:2]:
        (raw / "spikesandwav" / WAV_DIR / wav.name).symlink_to(wav)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", ".*18 of 20 natural-sound wavs missing", Ns1Warning)
        write_nwbfile(build_nwbfile(read_raw_tree(raw)), tmp_path / "ours.nwb")
        with NWBHDF5IO(tmp_path / "pynwb.nwb", mode="w") as io:
            io.write(build_nwbfile(read_raw_tree(raw)))
    expected, got = _hdf5_layout(tmp_path / "pynwb.nwb"), _hdf5_layout(tmp_path / "ours.nwb")
    assert sorted(got) == sorted(expected) and "intervals/trials/timeseries" in got
    assert [name for name in expected if not _same(got[name], expected[name])] == []


@pytest.mark.parametrize("paths, blocks, clock, says", [
    (["ns1.nwb"], 3, "wall-clock", f"3 recording blocks on a {POOLED_TIMELINE}"),
    (["ns1.nwb"], 1, "wall-clock", "1 recording block on the wall clock"),
    (["d/sub-a/a.nwb", "d/sub-b/b.nwb"], 2, "wall-clock", "2 recording blocks on their own wall clocks"),
    (["ns1.nwb"], 3, "synthetic", "3 recording blocks on a synthetic clock (the raw files carry no timestamps)"),
])
def test_summary_names_the_time_axis(paths, blocks, clock, says):
    """convert's line calls the pooled file's time axis what info and the file's descriptions call it."""
    result = ns1nwb.ConversionResult([Path(p) for p in paths], 8, 1000, 1380, blocks, clock, [], [])
    assert result.summary().splitlines()[0].endswith(says)


def test_summary_lists_defaulted_subject_fields_a_line_per_ferret():
    fields = ["sex", "age", "weight", "description"]
    result = ns1nwb.ConversionResult([Path("d/sub-dataAC/a.nwb"), Path("d/sub-exp42/b.nwb")], 2, 10, 920, 2,
                                     "wall-clock", [], [], defaulted_subject_fields={"exp42": fields, "dataAC": fields,
                                                                                     "exp45": []})
    assert result.summary().splitlines()[1:] == [
        "subject fields left at their defaults (set them under `subjects:` in --metadata):",
        "  dataAC  sex, age, weight, description",
        "  exp42   sex, age, weight, description"]
