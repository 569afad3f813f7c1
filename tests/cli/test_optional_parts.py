"""``ns1nwb info`` and ``ns1nwb plot`` on files that lack optional parts or hold them damaged (issue 25 item 11):
what can be shown is shown ("unknown", "absent"), a damaged part the figure needs is the damaged-file error
(exit 2, one line naming the file), never an internal error (exit 1).

Each row edits an h5py copy of the one shared converted sample file (``sample_nwb``: 8 units, waveforms at
48828.125 Hz and the published spectrograms).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import h5py
import numpy as np
import pytest

from cliharness import assert_error, run
from ns1nwb.exceptions import NwbContentError
from ns1nwb.info import summarize
from readedit import remove_columns, remove_unit_columns, replace_dataset

STIMULI = "processing/stimuli/stimuli"


def _names(path: Path, column: str) -> list[str]:
    with h5py.File(path, "r") as f:
        return [v.decode() if isinstance(v, bytes) else str(v) for v in f[f"{STIMULI}/{column}"][:]]


def _template(path: Path, column: str, stimulus: int = 0) -> str:
    return f"stimulus/templates/{_names(path, column)[stimulus]}"


def _rename_first_waveform(path: Path) -> None:
    names = _names(path, "waveform_series")
    names[0] = "no_such_series"  # the first named one: the one audio_rate reads
    replace_dataset(path, f"{STIMULI}/waveform_series", np.array(names, dtype=h5py.string_dtype()))


def _rate(value: object) -> Callable[[Path], None]:
    def edit(path: Path) -> None:
        with h5py.File(path, "r+") as f:
            attrs = f[_template(path, "waveform_series") + "/starting_time"].attrs
            if value is None:
                del attrs["rate"]
            else:
                attrs["rate"] = value
    return edit


def _without_starting_time(path: Path) -> None:
    with h5py.File(path, "r+") as f:
        del f[_template(path, "waveform_series") + "/starting_time"]


def _text(location: str, value: bytes) -> Callable[[Path], None]:
    return lambda path: replace_dataset(path, location, np.bytes_(value))


def _script(value: object) -> Callable[[Path], None]:
    return _text("general/source_script", json.dumps(value).encode() if not isinstance(value, bytes) else value)


# (edit of the copy, text the report must hold, what the summary must say)
INFO_ROWS = [
    pytest.param(_rename_first_waveform, "with waveform at an unknown rate", {"audio_rate_hz": "nan"},
                 id="waveform-names-a-missing-template"),
    pytest.param(_rate(None), "with waveform at an unknown rate", {"audio_rate_hz": "nan"}, id="no-rate"),
    pytest.param(_rate(0.0), "with waveform at an unknown rate", {"audio_rate_hz": "nan"}, id="rate-0"),
    pytest.param(_rate(b"fast"), "with waveform at an unknown rate", {"audio_rate_hz": "nan"}, id="rate-text"),
    pytest.param(_without_starting_time, "with waveform at an unknown rate", {"audio_rate_hz": "nan"},
                 id="no-starting-time"),
    pytest.param(_script(["ns1nwb", "1.0"]), "clock            not recorded", {"clock": None, "software": None},
                 id="source-script-a-list"),
    pytest.param(_script(None), "unknown software", {"clock": None, "software": None}, id="source-script-null"),
    pytest.param(_script(b"{not json"), "unknown software", {"clock": None}, id="source-script-not-json"),
    pytest.param(_script({"clock": 5, "software": "x"}), "clock            not recorded",
                 {"clock": None, "software": "x"}, id="source-script-clock-a-number"),
    pytest.param(_text("general/notes", b"caf\xe9 notes"), "caf\ufffd notes", {}, id="notes-not-utf8"),
    pytest.param(_text("session_start_time", b"2012-01-18T20:58:39\xff"), "2012-01-18T20:58:39\ufffd", {},
                 id="session-start-not-utf8"),
    pytest.param(lambda p: remove_unit_columns(p, "unit_name"), "units            8", {}, id="no-unit_name"),
    pytest.param(lambda p: remove_columns(p, STIMULI, "stimulus_name", "stimulus_type"), "32 (types unknown)",
                 {"n_natural": None}, id="no-stimulus_name-nor-type"),
    pytest.param(lambda p: remove_columns(p, STIMULI, "has_waveform", "spectrogram_series"),
                 "waveforms unknown; spectrograms unknown", {"n_with_waveform": None, "n_with_spectrogram": None},
                 id="no-waveform-or-spectrogram-flags"),
    pytest.param(lambda p: remove_columns(p, STIMULI, "waveform_series"), "20 with waveform, 12 without",
                 {"audio_rate_hz": None}, id="no-waveform_series"),
    pytest.param(lambda p: replace_dataset(p, _template(p, "spectrogram_series") + "/data", np.zeros((999, 34))),
                 "20 with spectrogram", {}, id="2d-spectrogram"),
]


@pytest.fixture
def copy_of_sample(sample_nwb: Path, tmp_path: Path) -> Path:
    return Path(shutil.copy(sample_nwb, tmp_path / "edited.nwb"))


@pytest.mark.parametrize("edit, shown, fields", INFO_ROWS)
def test_info_shows_what_it_can(copy_of_sample, edit, shown, fields):
    edit(copy_of_sample)
    info = summarize(copy_of_sample, inspect=False)
    report = info.report()
    assert shown in report, report
    for name, value in fields.items():
        got = getattr(info, name)
        assert (str(got) == value) if value == "nan" else got == value, (name, got)
    assert info.n_units == 8 and info.n_stimuli == 32  # the rest as before


def test_cli_info_of_a_file_without_optional_parts(copy_of_sample):
    """In-process: exit 0, the summary printed (it was exit 1, 'internal error')."""
    _rate(None)(copy_of_sample)
    _script([1, 2])(copy_of_sample)
    result = run("info", copy_of_sample, "--no-inspect")
    assert result.exit_code == 0, result.output
    assert "at an unknown rate" in result.stdout and "internal error" not in result.output


# --------------------------------------------------------------------------- plot


def _spectrogram_data(values: np.ndarray) -> Callable[[Path], None]:
    return lambda path: replace_dataset(path, _template(path, "spectrogram_series", 3) + "/data", values)


def _rename_spectrogram(path: Path) -> None:
    names = _names(path, "spectrogram_series")
    names[3] = "no_such_series"
    replace_dataset(path, f"{STIMULI}/spectrogram_series", np.array(names, dtype=h5py.string_dtype()))


@pytest.mark.parametrize("edit, needle", [
    pytest.param(_spectrogram_data(np.zeros((999, 34))), "stimulus 3's spectrogram", id="2d-spectrogram"),
    pytest.param(_spectrogram_data(np.zeros((999, 1, 20))), "not 34 bands", id="20-bands"),
    pytest.param(_spectrogram_data(np.zeros((999, 34, 1, 1))), "stimulus 3's spectrogram", id="4d-spectrogram"),
    pytest.param(_rename_spectrogram, "'no_such_series' cannot be read", id="spectrogram-names-a-missing-template"),
])
def test_plot_of_a_damaged_spectrogram_is_the_damaged_file_error(copy_of_sample, tmp_path, edit, needle):
    pytest.importorskip("matplotlib")
    from ns1nwb.plot import plot_response

    edit(copy_of_sample)
    out = tmp_path / "fig.png"
    with pytest.raises(NwbContentError) as caught:
        plot_response(copy_of_sample, 0, 3, out, dpi=20)
    message = str(caught.value)
    assert message.startswith(f"{copy_of_sample}: damaged ns1nwb file") and needle in message and "\n" not in message
    assert not out.exists()


@pytest.mark.parametrize("columns, table, unit, stimulus, title", [
    pytest.param(("unit_name",), "units", 2, 3, "unit 2: (no unit_name)", id="no-unit_name"),
    pytest.param(("stimulus_name", "sound_category"), STIMULI, 2, 3, "sound 3: stimulus 3 (category unknown)",
                 id="no-stimulus_name"),
    pytest.param(("spectrogram_series",), STIMULI, 2, "nat04", "no stored spectrogram", id="no-spectrogram_series"),
])
def test_plot_without_optional_columns_labels_by_index(copy_of_sample, columns, table, unit, stimulus, title):
    pytest.importorskip("matplotlib")
    import ns1nwb
    from ns1nwb.plot import response_figure

    remove_columns(copy_of_sample, table, *columns)
    with ns1nwb.open(copy_of_sample) as rec:
        fig = response_figure(rec, unit, stimulus)
    texts = [fig.get_suptitle()] + [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any(title in text for text in texts), texts


@pytest.mark.parametrize("column, unit, stimulus, needle", [
    pytest.param("unit_name", "exp45/x", 3, "no unit_name column to find the unit by name", id="unit-by-name"),
    pytest.param("stimulus_name", 0, "nat04", "no stimulus_name column to find the stimulus by name",
                 id="stimulus-by-name"),
])
def test_cli_plot_by_a_name_the_file_lacks(copy_of_sample, tmp_path, column, unit, stimulus, needle):
    pytest.importorskip("matplotlib")
    table = "units" if column == "unit_name" else STIMULI
    remove_columns(copy_of_sample, table, column)
    out = tmp_path / "fig.png"
    result = run("plot", copy_of_sample, "-u", unit, "-s", stimulus, "-o", out)
    assert_error(result, 2, str(copy_of_sample), needle, output=out)


# --------------------------------------------------------------------------- a folder mixing older files


@pytest.fixture
def mixed_folder(two_block_dandi: Path, tmp_path: Path) -> tuple[Path, list[Path]]:
    folder = Path(shutil.copytree(two_block_dandi / "dandiset", tmp_path / "mixed"))
    return folder, sorted(folder.rglob("*.nwb"))


def _units(path: Path) -> int:
    with h5py.File(path, "r") as f:
        return len(f["units/id"])


def test_info_counts_a_missing_in_metadata_as_unknown(mixed_folder):
    """A file of the folder written without ``in_metadata`` (or ``cluster_quality``): its units are unknown,
    not in the metadata (NaN was counted as True)."""
    folder, files = mixed_folder
    with h5py.File(files[1], "r") as f:
        listed = int(f["units/in_metadata"][:].sum())
        codes = f["units/cluster_quality"][:].tolist()
    remove_unit_columns(files[0], "in_metadata", "cluster_quality")
    info = summarize(folder, inspect=False)
    n_unknown = _units(files[0])
    assert (info.n_metadata_units, info.n_metadata_unknown) == (listed, n_unknown)
    assert sum(info.quality_counts.values()) == len(codes) and info.n_quality_unknown == n_unknown
    assert f"{listed} in the metadata, 0 other clusters;" in info.report()
    assert (f"unknown: {n_unknown} unit without in_metadata, {n_unknown} unit without cluster_quality"
            in info.report())
