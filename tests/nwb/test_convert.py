"""convert: the pooled NWB file is lossless, timed right, Inspector-clean and valid."""

from __future__ import annotations

import shutil
import warnings
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import h5py
import numpy as np
import pytest
import scipy.io as sio
import soundfile

from ns1nwb import MetadataError, OutputError, read_raw_tree
from ns1nwb.constants import SPIKE_CLOCK_HZ
from ns1nwb import convert
from reference import raw_repeat_times

LONDON = ZoneInfo("Europe/London")


def _text(values) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def _convert(raw: Path, out: Path, **kwargs) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        convert(raw, out, **kwargs)
    return out


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


def _assert_lossless(raw: Path, nwb: Path, tolerance_ms: float = 1e-6) -> int:
    """Every raw spike is in the file, in its trial, within ``tolerance_ms``; returns the spike count."""
    raw_times = raw_repeat_times(raw)
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
        for s, repeats in enumerate(per_set):
            for r, raw_ms in enumerate(repeats):
                in_trial = (stimulus[unit_trials] == s) & (repeat[unit_trials] == r)
                got = relative[in_trial]
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


def test_native_audio_is_bit_exact(sample_raw, tmp_path):
    out = _convert(sample_raw, tmp_path / "native.nwb", audio_rate_hz=None)
    samples, _ = soundfile.read(sample_raw / "spikesandwav/SH.En.C/source.2.sound.0.snr.0.token.0.fw.1.frozen.5",
                                dtype="float32")
    with h5py.File(out, "r") as f:
        stored = f["stimulus/templates/nat17_waveform"]
        assert stored["starting_time"].attrs["rate"] == 48828.125
        np.testing.assert_array_equal(stored["data"][:], samples)


def test_spectrogram_computed_when_no_x_nfht(sample_raw, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(sample_raw, raw)
    (raw / "test_data_5ms.mat").unlink()
    out = _convert(raw, tmp_path / "computed.nwb")
    with h5py.File(out, "r") as f:
        series = f["stimulus/templates/nat01_spectrogram"]
        assert series["data"].shape == (999, 1, 34)
        assert "computed by ns1nwb" in series.attrs["description"]
        assert np.isfinite(series["data"][:]).all()


def test_identifier_is_deterministic(sample_raw, sample_nwb, tmp_path):
    again = _convert(sample_raw, tmp_path / "again.nwb")
    with h5py.File(sample_nwb, "r") as a, h5py.File(again, "r") as b:
        assert a["identifier"][()] == b["identifier"][()]
        assert _text(a["processing/provenance/source_files/sha256"][:]) == \
            _text(b["processing/provenance/source_files/sha256"][:])


def test_metadata_file_overrides_defaults(sample_raw, tmp_path):
    metadata = tmp_path / "meta.yaml"
    metadata.write_text("experimenter: ['Doe, Jane']\nlab: Test lab\nsubject:\n  sex: F\n  age: P1Y\n")
    out = _convert(sample_raw, tmp_path / "meta.nwb", metadata_path=metadata)
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


def test_interrupted_write_removes_its_temporary_file(sample_raw, tmp_path, monkeypatch):
    from pynwb import NWBHDF5IO

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(NWBHDF5IO, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        convert(sample_raw, tmp_path / "out.nwb")
    assert list(tmp_path.iterdir()) == []


def test_synthetic_clock_without_timestamps(tmp_path):
    from ns1nwb.sample_data import write_sample_tree

    raw = write_sample_tree(tmp_path / "raw", n_units=2, seed=3)
    for spike_file in (raw / "spikesandwav").rglob("*.mat"):
        mat = sio.loadmat(spike_file)
        sets = mat["data"]["set"][0, 0]
        for s in range(sets.shape[1]):
            repeats = sets["repeats"][0, s]
            stripped = np.empty(repeats.shape, dtype=[("t", "O"), ("repeat_id", "O")])
            stripped["t"], stripped["repeat_id"] = repeats["t"], repeats["repeat_id"]
            sets[0, s]["repeats"] = stripped
        sio.savemat(spike_file, {"data": mat["data"]})
    out = _convert(raw, tmp_path / "synthetic.nwb")
    with h5py.File(out, "r") as f:
        assert "SYNTHETIC" in f["general/notes"][()].decode()
        assert set(_text(f["intervals/trials/onset_timestamp"][:])) == {""}
    _assert_lossless(raw, out)


# --------------------------------------------------------------------------- the real release


@pytest.mark.realdata
def test_real_release_counts_and_round_trip(real_raw, real_nwb):
    assert _assert_lossless(real_raw, real_nwb) == 3_627_155
    with h5py.File(real_nwb, "r") as f:
        assert len(f["units/id"]) == 119
        assert len(f["intervals/trials/id"]) == 6_900
        assert len(set(_text(f["units/session_id"][:]))) == 15
        assert int(f["units/is_good"][:].sum()) == 73
        assert datetime.fromisoformat(f["session_start_time"][()].decode()) == \
            datetime(2012, 1, 18, 20, 58, 39, 354000, tzinfo=LONDON)


@pytest.mark.realdata
def test_real_release_passes_inspector_and_validation(real_nwb):
    _assert_inspector_clean(real_nwb)
    _assert_pynwb_valid(real_nwb)


def test_unknown_metadata_fields_become_unit_columns(sample_raw, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(sample_raw, raw)
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
    out = _convert(raw, tmp_path / "extra.nwb")
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
            return h5[value].name if value else None
        if isinstance(value, np.ndarray):
            return [plain(v, h5) for v in value.tolist()] if value.dtype.kind in "OV" else value.tolist()
        if isinstance(value, (bytes, np.bytes_)):
            return value.decode()
        if isinstance(value, tuple):
            return tuple(plain(v, h5) for v in value)
        return value

    layout: dict[str, object] = {}
    with h5py.File(path, "r") as h5:
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


@pytest.mark.parametrize("tree", ["sample", "real"])
def test_conversion_writes_what_pynwb_writes(tree, request, tmp_path):
    """convert() writes in a forked child after reading the release once: the file must be the one pynwb
    writes from build_nwbfile(), dataset for dataset and attribute for attribute."""
    from pynwb import NWBHDF5IO

    from ns1nwb import build_nwbfile

    raw = request.getfixturevalue(f"{tree}_raw")
    converted = request.getfixturevalue(f"{tree}_nwb")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        nwbfile = build_nwbfile(read_raw_tree(raw))
        with NWBHDF5IO(tmp_path / "pynwb.nwb", mode="w") as io:
            io.write(nwbfile)
    expected, got = _hdf5_layout(tmp_path / "pynwb.nwb"), _hdf5_layout(converted)
    assert sorted(got) == sorted(expected)
    assert "intervals/trials/timeseries" in got and "units/spike_times" in got
    assert got["stimulus/templates/nat01_spectrogram/source_timeseries"] == {
        "soft_link": "/stimulus/templates/nat01_waveform"}
    differ = [name for name in expected if got[name] != expected[name]]
    assert differ == []


def test_write_nwbfile_of_a_plain_build(sample_raw, tmp_path, monkeypatch):
    """write_nwbfile() (the forked writer) of a plain build_nwbfile() writes the file pynwb writes."""
    from pynwb import NWBHDF5IO

    from ns1nwb import build_nwbfile, write_nwbfile

    monkeypatch.setenv("NS1NWB_WORKERS", "2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        write_nwbfile(build_nwbfile(read_raw_tree(sample_raw)), tmp_path / "ours.nwb")
        with NWBHDF5IO(tmp_path / "pynwb.nwb", mode="w") as io:
            io.write(build_nwbfile(read_raw_tree(sample_raw)))
    expected, got = _hdf5_layout(tmp_path / "pynwb.nwb"), _hdf5_layout(tmp_path / "ours.nwb")
    assert sorted(got) == sorted(expected) and "intervals/trials/timeseries" in got
    assert [name for name in expected if got[name] != expected[name]] == []
