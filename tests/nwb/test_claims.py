"""What the file says must be true (issue 15): observation intervals, clocks, references, names, identifiers,
missing values, per-file descriptions and UTC clock arithmetic. Checked as a raw HDF5 reader sees the file.

One file of a 3-unit tree without its wavs is shared (``small_nwb``); a test that converts a variant of its own
converts it without wavs too (``lean``: no stimulus templates, several times faster), where the audio plays no
part; the trials' references to the sounds are read in the sample file.
"""

from __future__ import annotations

import datetime as dt
import shutil
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

import ns1nwb
from ns1nwb.constants import POOLED_TIMELINE, SPIKES_DIR, WAV_DIR
from ns1nwb.exceptions import Ns1Warning
from ns1nwb.sample_data import write_sample_tree
from rawedit import load_spikes, neurons, save, save_neurons, unit_paths
from shared import made_once


def _text(values) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def _convert(raw: Path, out: Path, **options) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ns1nwb.convert(raw, out, audio_rate_hz=None, **options)
    return out


def _convert_lean(raw: Path, out: Path, **options) -> Path:
    """``_convert`` of a tree without wavs: the one Ns1Warning says so (any other fails the test)."""
    with pytest.warns(Ns1Warning, match="natural-sound wavs missing"):
        ns1nwb.convert(raw, out, audio_rate_hz=None, **options)
    return out


@pytest.fixture(scope="session")
def small_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return made_once(tmp_path_factory, "claims_raw", lambda folder: write_sample_tree(
        folder / "raw", n_units=3, seed=1, with_spectrogram=False))


@pytest.fixture(scope="session")
def small_nwb(small_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    def make(folder: Path) -> Path:
        raw = Path(shutil.copytree(small_raw, folder / "raw", ignore=shutil.ignore_patterns(WAV_DIR)))
        return _convert(raw, folder / "ns1.nwb")  # (its warnings silenced: the wavs are missing)

    return made_once(tmp_path_factory, "claims_nwb", make)


@pytest.fixture
def lean(small_raw: Path, tmp_path: Path) -> Path:
    """A private copy of ``small_raw`` without its wavs."""
    return Path(shutil.copytree(small_raw, tmp_path / "raw", ignore=shutil.ignore_patterns(WAV_DIR)))


def test_obs_intervals_are_the_recorded_sweeps(small_nwb):
    """One interval per presentation the unit was recorded in, [start_time, stop_time] of its trial: the gaps
    between sweeps are not observed time."""
    with h5py.File(small_nwb, "r") as f:
        units, trials = f["units"], f["intervals/trials"]
        obs_ends = np.concatenate([[0], units["obs_intervals_index"][:].astype(int)])
        obs = units["obs_intervals"][:]
        spike_ends = np.concatenate([[0], units["spike_times_index"][:].astype(int)])
        rows, starts, stops = units["spike_trial"][:].astype(int), trials["start_time"][:], trials["stop_time"][:]
        sessions, trial_sessions = _text(units["session_id"][:]), np.array(_text(trials["session_id"][:]))
        for u in range(len(sessions)):
            mine = obs[obs_ends[u]:obs_ends[u + 1]]
            own_trials = np.flatnonzero(trial_sessions == sessions[u])
            np.testing.assert_array_equal(mine, np.stack([starts[own_trials], stops[own_trials]], axis=1))
            assert (mine[1:, 0] >= mine[:-1, 1]).all()  # disjoint sweeps, gaps left out
            assert (mine[:, 1] - mine[:, 0]).sum() < (mine[-1, 1] - mine[0, 0])
            # Every spike lies inside one of them.
            times = f["units/spike_times"][spike_ends[u]:spike_ends[u + 1]]
            mine_rows = rows[spike_ends[u]:spike_ends[u + 1]]
            assert ((times >= starts[mine_rows]) & (times <= stops[mine_rows])).all()


def test_recording_blocks_table_and_true_onsets(small_raw, small_nwb):
    """The pooled clock is not a real clock and says so; each block's true start and each presentation's
    true onset are stored as ISO 8601 with their UTC offset."""
    with h5py.File(small_nwb, "r") as f:
        blocks, trials = f["intervals/recording_blocks"], f["intervals/trials"]
        n_blocks = len(blocks["id"])
        assert n_blocks > 1
        raw_stamps, iso = _text(trials["onset_timestamp"][:]), _text(trials["onset_wall_clock"][:])
        for stamp, text in zip(raw_stamps, iso):
            moment = dt.datetime.fromisoformat(text)
            assert moment.utcoffset() is not None
            local = dt.datetime.strptime(stamp[:15], "%Y%m%d-%H%M%S") + dt.timedelta(milliseconds=int(stamp[15:]))
            assert moment.replace(tzinfo=None) == local
        starts = _text(blocks["wall_clock_start"][:])
        trial_sessions = np.array(_text(trials["session_id"][:]))
        for b, session in enumerate(_text(blocks["session_id"][:])):
            own = np.flatnonzero(trial_sessions == session)
            first = own[np.argmin(trials["start_time"][own])]
            assert starts[b] == iso[first]
            assert blocks["start_time"][b] == trials["start_time"][first]
            assert blocks["stop_time"][b] == trials["stop_time"][own].max()
        for where in (f["units"].attrs["description"], f["units/spike_times"].attrs["description"],
                      f["units/obs_intervals"].attrs["description"], trials.attrs["description"],
                      blocks.attrs["description"]):
            assert "file clock" in where
        notes = f["general/notes"][()].decode()
        assert "POOLED CONVENIENCE FILE" in notes and "--dandi" in notes
        assert POOLED_TIMELINE in trials.attrs["description"] and POOLED_TIMELINE in notes  # one name for it


def _converted_files(request: pytest.FixtureRequest, name: str) -> list[Path]:
    if name == "cluster_nwbs":
        return list(request.getfixturevalue(name)[:2])
    if name == "two_block_dandi":
        return sorted((request.getfixturevalue(name) / "dandiset").rglob("*.nwb"))
    return [request.getfixturevalue(name)]


@pytest.mark.parametrize("name", ["small_nwb", "sample_nwb", "cluster_nwbs", "two_block_dandi",
                                  pytest.param("real_nwb", marks=pytest.mark.realdata)])
def test_each_block_spans_its_trials(request, name):
    """Issue 25: a block's stop_time was 1 ulp before its last trial's stop_time on some trees (the same times
    summed in another order). Every block starts at or before each of its trials and stops at or after each."""
    for path in _converted_files(request, name):
        with h5py.File(path, "r") as f:
            blocks, trials = f["intervals/recording_blocks"], f["intervals/trials"]
            trial_sessions = np.array(_text(trials["session_id"][:]))
            starts, stops = trials["start_time"][:], trials["stop_time"][:]
            for b, session in enumerate(_text(blocks["session_id"][:])):
                own = trial_sessions == session
                assert own.any(), (path, session)
                assert blocks["start_time"][b] == starts[own].min() and blocks["stop_time"][b] == stops[own].max(), \
                    (path.name, session, blocks["stop_time"][b] - stops[own].max())


def test_per_session_files_describe_themselves(lean, tmp_path):
    with pytest.warns(Ns1Warning, match="natural-sound wavs missing"):
        result = ns1nwb.convert(lean, tmp_path / "dandiset", audio_rate_hz=None, dandi=True)
    descriptions = set()
    for path in result.output_paths:
        with h5py.File(path, "r") as f:
            session = f["general/session_id"][()].decode()
            description = f["session_description"][()].decode()
            notes = f["general/notes"][()].decode()
            n_units = len(f["units/id"])
            assert session in description and f"{n_units} unit" in description
            assert "1 recording block)" in notes and "recording blocks" not in notes.split(")")[0]
            assert POOLED_TIMELINE not in f["intervals/trials"].attrs["description"]
            descriptions.add(description)
    assert len(descriptions) == len(result.output_paths)


def test_trial_references_as_raw_hdf5_sees_them(sample_nwb):
    """Natural rows reference their waveform; DRC rows hold no reference at all (not (-1, -1) to nat01)."""
    with h5py.File(sample_nwb, "r") as f:
        trials = f["intervals/trials"]
        ends = trials["timeseries_index"][:].astype(int)
        counts = np.diff(np.concatenate([[0], ends]))
        stimulus = trials["stimulus_index"][:]
        assert (counts[stimulus >= 20] == 0).all() and (counts[stimulus < 20] == 1).all()
        references = trials["timeseries"][:]
        assert (references["idx_start"] == 0).all() and (references["count"] > 0).all()
        assert "own zero" in trials["timeseries"].attrs["description"]


def test_no_column_name_ends_in_index_but_hdmf_indexes(small_nwb):
    """spike_trial (not spike_trial_index, which made hdmf write spike_trial_index_index) and metadata_row
    (SpikeInterface skips columns ending in _index)."""
    with h5py.File(small_nwb, "r") as f:
        names = list(f["units"])
        assert "spike_trial" in names and "metadata_row" in names
        assert "spike_trial_index_index" not in names and "metadata_index" not in names
        assert f["units/spike_trial_index"].attrs["neurodata_type"] == "VectorIndex"
        for name in names:
            if name.endswith("_index"):
                assert f["units"][name].attrs["neurodata_type"] == "VectorIndex", name


def test_identifier_changes_with_the_ns1nwb_version(lean, tmp_path, monkeypatch):
    """The same tree gives the same identifier and source checksums; another ns1nwb version another identifier."""
    from ns1nwb.nwb import context

    first = _convert_lean(lean, tmp_path / "first.nwb")
    again = _convert_lean(lean, tmp_path / "again.nwb")
    monkeypatch.setattr(context, "__version__", "99.0.0")
    newer = _convert_lean(lean, tmp_path / "newer.nwb")
    with h5py.File(first, "r") as a, h5py.File(again, "r") as b, h5py.File(newer, "r") as c:
        assert a["identifier"][()] == b["identifier"][()]
        assert _text(a["processing/provenance/source_files/sha256"][:]) == \
            _text(b["processing/provenance/source_files/sha256"][:])
        assert c["identifier"][()] != a["identifier"][()]


def test_missing_values_are_missing(lean, tmp_path):
    """A stim parameter the raw file lacks is NaN (Level is a real negative number), a missing depth NaN."""
    raw = lean
    spike_file = raw / SPIKES_DIR / unit_paths(raw)[0]
    mat, sets = load_spikes(spike_file)
    params = sets[0, 0]["stim_params"]
    kept = [n for n in params.dtype.names if n != "Level"]
    without = np.empty((1, 1), dtype=[(n, object) for n in kept])
    for n in kept:
        without[0, 0][n] = params[0, 0][n]
    sets[0, 0]["stim_params"] = without
    save(spike_file, mat)
    out = _convert_lean(raw, tmp_path / "out.nwb")
    with h5py.File(out, "r") as f:
        trials = f["intervals/trials"]
        level, stimulus = trials["stim_level"][:], trials["stimulus_index"][:]
        sessions = np.array(_text(trials["session_id"][:]))
        first_session = _text(f["units/session_id"][:])[0]
        assert np.isnan(level[(stimulus == 0) & (sessions == first_session)]).all()
        others = level[stimulus != 0]
        assert np.isfinite(others).all() and (others < 0).all()
        assert "NaN" in trials["stim_source"].attrs["description"]
        # Units of numeric columns are in their descriptions.
        assert "Unit: dB SPL." in trials["nominal_level_db_spl"].attrs["description"]
        assert "Unit: um." in f["units/depth_um"].attrs["description"]
        assert "Unit: ms." in trials["length_signal_ms"].attrs["description"]


def test_a_block_across_the_daylight_saving_change(lean):
    """Europe/London went from GMT to BST at 2013-03-31 01:00 UTC: onsets 20 min apart in UTC are 80 min
    apart in local wall time. Offsets must be computed in UTC."""
    raw = lean  # one unit of it: its block is the file's only one
    for path in unit_paths(raw)[1:]:
        (raw / SPIKES_DIR / path).unlink()
    save_neurons(raw, neurons(raw)[:, :1])
    spike_file = raw / SPIKES_DIR / unit_paths(raw)[0]
    mat, sets = load_spikes(spike_file)
    first_utc = dt.datetime(2013, 3, 31, 0, 50, tzinfo=dt.timezone.utc)
    london = ns1nwb.release.blocks.LOCAL_TZ
    onsets: list[dt.datetime] = []
    k = 0
    for s in range(sets.shape[1]):
        reps = sets[0, s]["repeats"]
        for r in range(reps.shape[1]):
            moment = (first_utc + dt.timedelta(seconds=7 * k)).astimezone(london)
            reps[0, r]["timestamp"] = np.array([moment.strftime("%Y%m%d-%H%M%S") + f"{moment.microsecond // 1000:03d}"])
            onsets.append(moment)
            k += 1
    save(spike_file, mat)
    out = _convert_lean(raw, raw.parent / "dst.nwb")
    with h5py.File(out, "r") as f:
        start = f["intervals/trials/start_time"][:]
        iso = _text(f["intervals/trials/onset_wall_clock"][:])
        # (Two aware datetimes of one zone subtract as wall time in Python: compare in UTC.)
        expected = sorted((m.astimezone(dt.timezone.utc) - first_utc).total_seconds() for m in onsets)
        np.testing.assert_allclose(np.sort(start), expected, atol=1e-9)
        # Before the change the offset is +00:00, after it +01:00.
        assert any(text.endswith("+00:00") for text in iso) and any(text.endswith("+01:00") for text in iso)
        assert f["session_start_time"][()].decode().startswith("2013-03-31T00:50:00")


def test_date_of_birth_reaches_the_subject(lean, tmp_path):
    """The metadata schema's ``date`` is text; pynwb's Subject wants a datetime (this was an internal error)."""
    metadata = tmp_path / "meta.yaml"
    metadata.write_text("subject:\n  date_of_birth: 2011-06-15\n")
    out = _convert_lean(lean, tmp_path / "dob.nwb", metadata_path=metadata)
    with h5py.File(out, "r") as f:
        assert f["general/subject/date_of_birth"][()].decode().startswith("2011-06-15T00:00:00")
