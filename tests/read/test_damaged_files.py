"""Issue 25, items 4, 9 and 12 (and their LOW rows): a damaged file is the damaged-file error naming it, in one line.

- Opening checks that each trial's (recording block, stimulus, repeat) is unique and that each block's repeats
  of a sound count 0 to k - 1 (item 4), that every trial's stimulus is a row of the stimuli table, and the
  shapes of every column it reads, from the dataset headers, before reading them (item 9).
- Every read (a grid of one unit or of scattered units, ``trial_spike_times_ms``, ``to_neo``, waveforms and
  spectrograms) turns a chunk HDF5 cannot decompress into that error (item 12); ``to_neo`` refuses a spike
  outside the presentations its unit was recorded in.
- A file another program holds open for writing says so.

Each row edits a copy of the shared sample file with h5py (tests/readedit.py).
"""

from __future__ import annotations

import fcntl
import os
import tracemalloc
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from readedit import copy, replace_dataset

import ns1nwb
from ns1nwb import NwbContentError
from ns1nwb.cli import cli

TRIALS = "intervals/trials"


def _refused(path: Path, pattern: str, call=None) -> str:
    """The one-line damaged-file error naming ``path`` that opening it (or ``call(rec)``) raises."""
    with pytest.raises(NwbContentError, match=pattern) as caught:
        if call is None:
            ns1nwb.open(path).close()
        else:
            with ns1nwb.open(path) as rec:
                call(rec)
    text = str(caught.value)
    assert text.startswith(f"{path}: ") and "\n" not in text, text
    return text


def _trials(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as f:
        return {name: f[f"{TRIALS}/{name}"][:] for name in ("stimulus_index", "repeat_index", "session_id")}


def _set(path: Path, location: str, row: int, value) -> None:
    with h5py.File(path, "r+") as f:
        f[location][row] = value


# --------------------------------------------------------------------------- item 4: each trial's key is unique


def _same_stimulus_rows(trials: dict[str, np.ndarray]) -> tuple[int, int]:
    """Two trial rows of one session and stimulus: (repeat 0, repeat 1)."""
    key = list(zip(trials["session_id"], trials["stimulus_index"], trials["repeat_index"]))
    first = key.index((trials["session_id"][0], trials["stimulus_index"][0], 0))
    second = key.index((trials["session_id"][0], trials["stimulus_index"][0], 1))
    return first, second


def _repeat_onto_another(path: Path) -> None:
    first, second = _same_stimulus_rows(_trials(path))
    _set(path, f"{TRIALS}/repeat_index", second, 0)


def _stimulus_onto_another(path: Path) -> None:
    trials = _trials(path)
    row = int(np.flatnonzero((trials["stimulus_index"] == 3) & (trials["repeat_index"] == 5))[0])
    _set(path, f"{TRIALS}/stimulus_index", row, 4)


def _session_onto_another(path: Path) -> None:
    trials = _trials(path)
    sessions = sorted(set(trials["session_id"]))
    if len(sessions) < 2:
        pytest.skip("the sample file has one recording block")
    row = int(np.flatnonzero(trials["session_id"] == sessions[0])[0])
    other = sessions[1]
    _set(path, f"{TRIALS}/session_id", row, other.decode() if isinstance(other, bytes) else other)


def _trials_written_twice(path: Path) -> None:
    """Every column the reader reads, its rows twice."""
    for name in ("id", "start_time", "stop_time", "stimulus_index", "repeat_index", "session_id", "length_signal_ms"):
        with h5py.File(path, "r") as f:
            values = f[f"{TRIALS}/{name}"][:]
        if values.dtype.kind == "O":  # text
            values = np.array([v.decode() for v in values], dtype=h5py.string_dtype())
        replace_dataset(path, f"{TRIALS}/{name}", np.concatenate([values, values]))


def _repeat(value: int):
    def edit(path: Path) -> None:
        _set(path, f"{TRIALS}/repeat_index", _same_stimulus_rows(_trials(path))[1], value)
    return edit


def _stimulus(value: int):
    def edit(path: Path) -> None:
        _set(path, f"{TRIALS}/stimulus_index", 7, value)
    return edit


def _stimulus_ids_reversed(path: Path) -> None:
    with h5py.File(path, "r+") as f:
        ids = f["processing/stimuli/stimuli/id"]
        ids[:] = ids[:][::-1]


TRIAL_KEYS = {
    "a repeat relabelled onto another": (_repeat_onto_another, r"trial rows \d+ and \d+ are both session .* repeat 0"),
    "a stimulus relabelled onto another": (_stimulus_onto_another, r"are both session .* stimulus 4 repeat 5"),
    "a session relabelled onto another": (_session_onto_another, r"are both session"),
    "the trials table written twice": (_trials_written_twice, r"are both session .* repeat 0"),
    "repeat index 2000 among 20": (_repeat(2000), r"repeat 2000, but its session has 20 presentations"),
    "repeat index one past the last": (_repeat(20), r"repeat 20, but its session has 20 presentations"),
    "a negative repeat index": (_repeat(-1), r"has repeat_index -1"),
    "stimulus index at the end of the stimuli table": (_stimulus(32), r"stimulus_index 32, not a row of the 32-row"),
    "stimulus index far past it": (_stimulus(40), r"stimulus_index 40, not a row"),
    "stimulus ids not the indices": (_stimulus_ids_reversed, r"stimuli/id is not 0-31 in order"),
}


@pytest.mark.parametrize("name", list(TRIAL_KEYS))
def test_a_trial_key_that_is_not_unique_is_refused_at_open(name, sample_nwb, tmp_path):
    edit, pattern = TRIAL_KEYS[name]
    path = copy(sample_nwb, tmp_path / "trials.nwb")
    edit(path)
    _refused(path, f"damaged ns1nwb file \\(.*{pattern}")


def test_a_folder_names_its_damaged_file(two_block_dandi, tmp_path):
    """Another place: each file of a --dandi folder is checked when the folder is opened."""
    import shutil

    folder = Path(shutil.copytree(two_block_dandi / "dandiset", tmp_path / "dandiset"))
    damaged = sorted(folder.rglob("*.nwb"))[-1]
    _repeat_onto_another(damaged)
    text = _refused_folder(folder)
    assert text.startswith(f"{damaged}: damaged ns1nwb file (trial rows")


def _refused_folder(folder: Path) -> str:
    with pytest.raises(NwbContentError) as caught:
        ns1nwb.open(folder).close()
    return str(caught.value)


# --------------------------------------------------------------------------- item 9: shapes before reading


def _inflate(path: Path, location: str, n_values: int) -> None:
    """Replace ``location`` with ``n_values`` values never written (HDF5 fills them: a few bytes on disk, many
    megabytes once read), keeping its type and attributes."""
    with h5py.File(path, "r+") as f:
        old = f[location]
        dtype, attrs = old.dtype, {k: v for k, v in old.attrs.items() if not isinstance(v, h5py.Reference)}
        del f[location]
        new = f.create_dataset(location, shape=(n_values,), dtype=dtype, chunks=(1 << 16,), compression="gzip")
        new.attrs.update(attrs)


#: location -> (values, what the error says, the call that reads it; None: opening)
INFLATED = {
    "units/spike_times_index": (50_000_000, r"units/spike_times_index has 50,000,000 values for the 8 rows", None),
    "units/spike_trial_index": (50_000_000, r"units/spike_trial_index has 50,000,000 values", None),
    "units/metadata_row": (50_000_000, r"units/metadata_row has 50,000,000 values", None),
    "units/session_id": (2_000_000, r"units/session_id has 2,000,000 values", None),
    "intervals/trials/repeat_index": (50_000_000, r"intervals/trials/repeat_index has 50,000,000 values", None),
    "intervals/trials/start_time": (50_000_000, r"intervals/trials/start_time has 50,000,000 values", None),
    "processing/stimuli/stimuli/id": (50_000_000, r"stimuli/n_repeats has 32 values for the 50,000,000 rows", None),
    "units/obs_intervals_index": (50_000_000, r"units/obs_intervals does not match its index",
                                  lambda rec: rec.response_grid(units=[0], stimuli=[0])),
    "units/unit_name": (2_000_000, r"units/unit_name has shape \(2000000,\) for 8 units", lambda rec: rec.units),
}


@pytest.mark.parametrize("location", list(INFLATED))
def test_a_column_too_long_is_refused_without_reading_it(location, sample_nwb, tmp_path):
    n_values, pattern, call = INFLATED[location]
    path = copy(sample_nwb, tmp_path / "long.nwb")
    _inflate(path, location, n_values)
    tracemalloc.start()
    try:
        _refused(path, f"damaged ns1nwb file \\(.*{pattern}", call)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20e6, f"{peak / 1e6:.0f} MB allocated: the column was read"  # read, it is 100-400 MB


def test_reading_such_a_column_would_show_in_the_measure(sample_nwb, tmp_path):
    """The measure above can fail: reading one inflated column whole is seen."""
    path = copy(sample_nwb, tmp_path / "long.nwb")
    _inflate(path, "units/metadata_row", 50_000_000)
    tracemalloc.start()
    try:
        with h5py.File(path, "r") as f:
            f["units/metadata_row"][:]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak > 50e6


@pytest.mark.parametrize("location, shape, pattern", [
    ("units/spike_trial", 2, r"units/spike_trial is 2-D \(shape \(\d+, 2\)\), not one value per spike"),
    ("units/spike_times", 2, r"units/spike_times is 2-D \(shape \(\d+, 2\)\), not one value per spike"),
    ("intervals/trials/stimulus_index", 2, r"stimulus_index is 2-D .*not one value per row of intervals/trials"),
    ("units/spike_times_index", 0, r"units/spike_times_index is 0-D"),
    ("intervals/trials/repeat_index", "float", r"intervals/trials/repeat_index holds float64, not integers"),
    ("units/spike_trial", "float", r"units/spike_trial holds float64, not integers"),
])
def test_a_column_of_another_shape_or_type_says_what_it_is(location, shape, pattern, sample_nwb, tmp_path):
    """The LOW row: a 2-D spike_trial says it is 2-D (it said it had as many values as there are spikes)."""
    path = copy(sample_nwb, tmp_path / "shape.nwb")
    with h5py.File(path, "r") as f:
        values = f[location][:]
    if shape == 2:
        values = np.stack([values, values], axis=1)
    elif shape == 0:
        values = values[-1]
    else:
        values = values.astype(np.float64)
    replace_dataset(path, location, values)
    _refused(path, f"damaged ns1nwb file \\(.*{pattern}")


# --------------------------------------------------------------------------- item 12: every read


def _corrupt_chunks(path: Path, location: str) -> None:
    """Overwrite the middle of every compressed chunk of ``location``: HDF5 cannot decompress it."""
    with h5py.File(path, "r") as f:
        data = f[location]
        assert data.compression is not None, f"{location} is not compressed"
        chunks = [data.id.get_chunk_info(i) for i in range(data.id.get_num_chunks())]
    with open(path, "r+b") as raw:
        for chunk in chunks:
            raw.seek(chunk.byte_offset + chunk.size // 4)
            raw.write((bytes(range(256)) * (chunk.size // 512 + 1))[: chunk.size // 2])


SPIKE_READS = {
    "one unit's grid": lambda rec: rec.response_grid(units=[0], stimuli=[0]),
    "scattered units' grid": lambda rec: rec.response_grid(units=[7, 2, 5]),
    "the whole grid": lambda rec: rec.response_grid(),
    "trial_spike_times_ms": lambda rec: rec.trial_spike_times_ms(0, 0, 0),
    "to_neo of a unit": lambda rec: rec.to_neo(unit=3),
}


@pytest.mark.parametrize("location", ["units/spike_times", "units/spike_trial"])
@pytest.mark.parametrize("read", list(SPIKE_READS))
def test_a_corrupt_spike_chunk_is_the_damaged_file_error(location, read, sample_nwb, tmp_path):
    pytest.importorskip("neo")
    path = copy(sample_nwb, tmp_path / "chunks.nwb")
    _corrupt_chunks(path, location)
    _refused(path, r"damaged ns1nwb file \(cannot read its data: ", SPIKE_READS[read])


def _template(path: Path, column: str, stimulus: int = 0) -> str:
    with h5py.File(path, "r") as f:
        name = f[f"processing/stimuli/stimuli/{column}"][stimulus]
    return f"stimulus/templates/{name.decode() if isinstance(name, bytes) else name}"


@pytest.mark.parametrize("column, read", [
    ("waveform_series", lambda rec: rec.waveform(0)),
    ("waveform_series", lambda rec: rec.waveform(0, rate_hz=16000)),
    ("waveform_series", lambda rec: rec.spectrogram(0, dt_ms=10)),
    ("spectrogram_series", lambda rec: rec.spectrogram(0)),
])
def test_a_corrupt_sound_chunk_is_the_damaged_file_error(column, read, sample_nwb, tmp_path):
    path = copy(sample_nwb, tmp_path / "sounds.nwb")
    _corrupt_chunks(path, _template(path, column) + "/data")
    _refused(path, r"damaged ns1nwb file \(cannot read its data: ", read)


def test_plot_on_a_corrupt_chunk_is_one_line(sample_nwb, tmp_path):
    pytest.importorskip("matplotlib")
    path = copy(sample_nwb, tmp_path / "chunks.nwb")
    _corrupt_chunks(path, "units/spike_times")
    result = CliRunner().invoke(cli, ["plot", str(path), "-u", "0", "-s", "0", "-o", str(tmp_path / "x.png")])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "chunks.nwb" in result.stderr, result.output


def _spike_rows(path: Path, unit: int) -> tuple[int, int]:
    with h5py.File(path, "r") as f:
        ends = f["units/spike_times_index"][:]
    return (int(ends[unit - 1]) if unit else 0), int(ends[unit])


def test_to_neo_refuses_a_spike_in_another_blocks_trial(sample_nwb, tmp_path):
    """neo raised a ValueError listing every spike time (KBs); one line naming the file instead."""
    pytest.importorskip("neo")
    path = copy(sample_nwb, tmp_path / "block.nwb")
    trials = _trials(path)
    with h5py.File(path, "r") as f:
        unit_session = f["units/session_id"][0]
    others = np.flatnonzero(trials["session_id"] != unit_session)
    if not others.size:
        pytest.skip("the sample file has one recording block")
    first, _ = _spike_rows(path, 0)
    _set(path, "units/spike_trial", first, others[0])
    for call in (lambda rec: rec.to_neo(unit=0), lambda rec: rec.to_neo()):
        _refused(path, f"damaged ns1nwb file \\(unit .* has spikes in trial row {others[0]} .*not recorded in", call)


def test_to_neo_refuses_a_spike_before_its_trials_onset(sample_nwb, tmp_path):
    pytest.importorskip("neo")
    path = copy(sample_nwb, tmp_path / "early.nwb")
    first, _ = _spike_rows(path, 2)
    with h5py.File(path, "r+") as f:
        trial = f["units/spike_trial"][first]
        f["units/spike_times"][first] = f[f"{TRIALS}/start_time"][trial] - 0.5
    _refused(path, r"damaged ns1nwb file \(unit .* has a spike before the onset of its trial row",
             lambda rec: rec.to_neo(unit=2))


# --------------------------------------------------------------------------- waveform rates, templates, locks


@pytest.mark.parametrize("rate", [0.0, -48000.0, float("nan"), float("inf")])
@pytest.mark.parametrize("read", [lambda rec: rec.waveform(0), lambda rec: rec.audio_rate,
                                  lambda rec: rec.spectrogram(0, dt_ms=10)])
def test_a_stored_rate_that_is_not_positive_is_the_damaged_file_error(rate, read, sample_nwb, tmp_path):
    path = copy(sample_nwb, tmp_path / "rate.nwb")
    series = _template(path, "waveform_series")
    with h5py.File(path, "r+") as f:
        f[series + "/starting_time"].attrs["rate"] = rate
    _refused(path, r"damaged ns1nwb file \(stimulus/templates/.* has no positive sampling rate", read)


def test_a_missing_rate_or_template_is_the_damaged_file_error(sample_nwb, tmp_path):
    path = copy(sample_nwb, tmp_path / "rate.nwb")
    waveform, spectrogram = _template(path, "waveform_series"), _template(path, "spectrogram_series", 4)
    with h5py.File(path, "r+") as f:
        del f[waveform + "/starting_time"].attrs["rate"]
        del f[spectrogram]
    _refused(path, r"has no positive sampling rate \(rate nan Hz\)", lambda rec: rec.waveform(0))
    _refused(path, r"stimulus/templates/.*/data, named by the stimuli table, is missing",
             lambda rec: rec.spectrogram(4))


@pytest.mark.parametrize("rate_hz, error", [(0, ValueError), (-1.0, ValueError), (float("nan"), ValueError),
                                            (float("inf"), ValueError), ("48000", TypeError), (True, TypeError)])
def test_a_waveform_rate_asked_for_must_be_positive(rate_hz, error, sample_nwb):
    with ns1nwb.open(sample_nwb) as rec, pytest.raises(error, match="rate_hz") as caught:
        rec.waveform(0, rate_hz=rate_hz)
    assert "\n" not in str(caught.value)


def test_a_file_open_for_writing_elsewhere_says_so(sample_nwb, tmp_path):
    """HDF5 locks a file it writes (flock); a reader then cannot lock it: not 'not an HDF5 file'."""
    if os.environ.get("HDF5_USE_FILE_LOCKING", "").upper() == "FALSE":
        pytest.skip("HDF5 file locking is off")
    path = copy(sample_nwb, tmp_path / "busy.nwb")
    holder = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a writer's HDF5 holds it
        with pytest.raises(NwbContentError, match="busy.nwb: is open for writing by another program") as caught:
            ns1nwb.open(path)
        assert "not an HDF5" not in str(caught.value)
    finally:
        os.close(holder)
    ns1nwb.open(path).close()  # fine once it is closed there
