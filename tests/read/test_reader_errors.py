"""Issue 16 (readers, items 8 and 14): anything that is not a readable ns1nwb file or folder is one line.

``ns1nwb.open`` raises NwbContentError naming the file or URL; ``ns1nwb info``, ``inspect`` and ``plot``
print one line and exit 2. URLs go to 127.0.0.1 only: a local server answering 404, a closed port, a
socket that never answers.
"""

from __future__ import annotations

import shutil
import socket
import time
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from readedit import copy, replace_dataset
from localserver import closed_port_url, serve_files

import ns1nwb
from ns1nwb import NwbContentError
from ns1nwb.cli import cli
from ns1nwb.read.files import nwb_files_in


# --------------------------------------------------------------------------- damaged and foreign files


def _truncated(sample_nwb: Path, out: Path) -> None:
    data = sample_nwb.read_bytes()
    out.write_bytes(data[: len(data) // 2])


def _empty(sample_nwb: Path, out: Path) -> None:
    out.write_bytes(b"")


def _text(sample_nwb: Path, out: Path) -> None:
    out.write_text("this is not an NWB file\n")


def _plain_hdf5(sample_nwb: Path, out: Path) -> None:
    with h5py.File(out, "w") as f:
        f["x"] = np.arange(3)


def _units_is_a_dataset(sample_nwb: Path, out: Path) -> None:
    with h5py.File(out, "w") as f:
        f.attrs["nwb_version"] = "2.8.0"
        f["units"] = np.arange(3)
        f.create_group("intervals/trials")


def _no_stimuli_table(sample_nwb: Path, out: Path) -> None:
    copy(sample_nwb, out)
    with h5py.File(out, "r+") as f:
        del f["processing/stimuli"]


def _short_trial_column(sample_nwb: Path, out: Path) -> None:
    copy(sample_nwb, out)
    with h5py.File(out, "r") as f:
        values = f["units/spike_trial"][:-10]
    replace_dataset(out, "units/spike_trial", values)


def _spike_times_index_past_the_end(sample_nwb: Path, out: Path) -> None:
    copy(sample_nwb, out)
    with h5py.File(out, "r+") as f:
        f["units/spike_times_index"][-1] += 5


DAMAGED = {
    "truncated": (_truncated, "not an HDF5/NWB file"),
    "empty": (_empty, "not an HDF5/NWB file"),
    "text": (_text, "not an HDF5/NWB file"),
    "plain HDF5": (_plain_hdf5, "missing units"),
    "units is a dataset": (_units_is_a_dataset, "units is not a table"),
    "no processing/stimuli": (_no_stimuli_table, "missing processing/stimuli/stimuli"),
    "spike trial column too short": (_short_trial_column, "spike_trial has .* values for the .* spikes"),
    "spike_times_index past the end": (_spike_times_index_past_the_end, "spike_times_index"),
}


@pytest.fixture(params=list(DAMAGED))
def damaged(request, sample_nwb, tmp_path) -> tuple[Path, str]:
    make, message = DAMAGED[request.param]
    out = tmp_path / "damaged.nwb"
    make(sample_nwb, out)
    return out, message


def _one_line_exit_2(result, name: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert name in result.stderr and "Traceback" not in result.output and "internal error" not in result.stderr


def test_open_names_the_file_and_the_problem(damaged):
    path, message = damaged
    with pytest.raises(NwbContentError, match=message) as caught:
        ns1nwb.open(path)
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)


def test_info_and_plot_on_a_damaged_file_are_one_line(damaged, tmp_path):
    path, _ = damaged
    _one_line_exit_2(CliRunner().invoke(cli, ["info", str(path), "--no-inspect"]), path.name)
    pytest.importorskip("matplotlib")
    result = CliRunner().invoke(cli, ["plot", str(path), "-u", "0", "-s", "3", "-o", str(tmp_path / "x.png")])
    _one_line_exit_2(result, path.name)
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("kind", ["truncated", "empty", "text", "plain HDF5", "units is a dataset"])
def test_inspect_on_a_file_that_is_not_nwb_is_one_line(kind, sample_nwb, tmp_path):
    path = tmp_path / "bad.nwb"
    DAMAGED[kind][0](sample_nwb, path)
    _one_line_exit_2(CliRunner().invoke(cli, ["inspect", str(path)]), "bad.nwb")


def test_inspect_on_an_nwb_file_pynwb_cannot_read_is_one_line(tmp_path):
    path = tmp_path / "hollow.nwb"
    with h5py.File(path, "w") as f:
        f.attrs["nwb_version"] = "2.8.0"  # claims to be NWB, holds nothing
    result = CliRunner().invoke(cli, ["inspect", str(path)])
    _one_line_exit_2(result, "hollow.nwb")
    assert "pynwb cannot read it" in result.stderr


def test_inspect_on_a_folder_names_the_bad_file(sample_nwb, tmp_path):
    folder = tmp_path / "folder"
    (folder / "sub-x").mkdir(parents=True)
    copy(sample_nwb, folder / "sub-x" / "good.nwb")
    (folder / "sub-x" / "zz.nwb").write_text("not hdf5")
    _one_line_exit_2(CliRunner().invoke(cli, ["inspect", str(folder)]), "zz.nwb")


def _corrupt_rows(sample_nwb: Path, out: Path, value: int, dtype: str) -> Path:
    copy(sample_nwb, out)
    with h5py.File(out, "r") as f:
        rows = f["units/spike_trial"][:].astype(dtype)
    rows[123] = value
    return replace_dataset(out, "units/spike_trial", rows)


@pytest.mark.parametrize("spikes_per_step", [1, 10**9])
@pytest.mark.parametrize("value, dtype", [(60_000, "uint16"), (-1, "int32"), (1380, "int64")])
def test_trial_rows_outside_the_trials_table_are_a_damaged_file(sample_nwb, tmp_path, value, dtype,
                                                                spikes_per_step, monkeypatch):
    """Found when the spikes are read (checking every row at open would read the whole column), whether
    the units are binned one by one or in one step (all units in a row, or scattered)."""
    monkeypatch.setattr("ns1nwb.read.recording.SPIKES_PER_STEP", spikes_per_step)
    path = _corrupt_rows(sample_nwb, tmp_path / "rows.nwb", value, dtype)
    with ns1nwb.open(path) as rec:
        for call in (lambda: rec.response_grid(units=[0], stimuli=[0]), lambda: rec.response_grid(),
                     lambda: rec.response_grid(units=[7, 0, 1, 2, 3, 4, 5, 6]),
                     lambda: rec.to_neo(unit=0), lambda: rec.trial_spike_times_ms(0, 0, 0)):
            with pytest.raises(NwbContentError, match="damaged ns1nwb file .*trial row") as caught:
                call()
            assert str(caught.value).startswith(str(path))
    pytest.importorskip("matplotlib")
    result = CliRunner().invoke(cli, ["plot", str(path), "-u", "0", "-s", "0", "-o", str(tmp_path / "x.png")])
    _one_line_exit_2(result, "rows.nwb")


# --------------------------------------------------------------------------- a folder holding a recording twice


def test_a_folder_with_two_copies_of_a_file_is_an_error(sample_nwb, tmp_path):
    folder = tmp_path / "twice"
    folder.mkdir()
    copy(sample_nwb, folder / "a.nwb")
    copy(sample_nwb, folder / "b.nwb")
    with pytest.raises(NwbContentError, match="the same file twice") as caught:
        ns1nwb.open(folder)
    assert "a.nwb" in str(caught.value) and "b.nwb" in str(caught.value)
    result = CliRunner().invoke(cli, ["info", str(folder), "--no-inspect"])
    _one_line_exit_2(result, "a.nwb")
    assert "b.nwb" in result.stderr


def test_a_copy_with_another_identifier_is_found_by_its_units(sample_nwb, tmp_path):
    folder = tmp_path / "twice"
    folder.mkdir()
    copy(sample_nwb, folder / "a.nwb")
    with h5py.File(copy(sample_nwb, folder / "b.nwb"), "r+") as f:
        del f["identifier"]
        f["identifier"] = "another-identifier"
    with pytest.raises(NwbContentError, match="both hold unit") as caught:
        ns1nwb.open(folder)
    assert "a.nwb" in str(caught.value) and "b.nwb" in str(caught.value)




def test_the_pooled_file_inside_a_dandi_folder_is_an_error(two_block_dandi, tmp_path):
    """A --dandi folder of a 2-unit tree, and the pooled file of the same tree put in it."""
    folder = tmp_path / "dandiset"
    shutil.copytree(two_block_dandi / "dandiset", folder)
    with ns1nwb.open(folder) as rec:  # as written: fine
        assert len(rec.units) == 2
    raw = shutil.copytree(two_block_dandi / "raw", tmp_path / "raw",  # its sounds play no part here
                          ignore=shutil.ignore_patterns("SH.En.C", "test_data_5ms.mat"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its wavs are missing
        ns1nwb.convert(raw, folder / "pooled.nwb", audio_rate_hz=None)
    with pytest.raises(NwbContentError, match="both hold unit") as caught:
        ns1nwb.open(folder)
    assert "pooled.nwb" in str(caught.value) and "_ecephys.nwb" in str(caught.value)
    _one_line_exit_2(CliRunner().invoke(cli, ["info", str(folder), "--no-inspect"]), "pooled.nwb")


def _hidden_entries(folder: Path, sample_nwb: Path) -> None:
    """What macOS and a conversion under way (or killed) leave in a folder: an AppleDouble ``._x.nwb``, a
    temporary beside a target, its backup, and a hidden staging folder holding a whole copy of a file."""
    (folder / "._sample.nwb").write_bytes(b"\x00\x05\x16\x07" + bytes(4092))  # AppleDouble header, not HDF5
    (folder / ".sample.nwb.0123456789ab.ns1nwb-partial").write_bytes(b"half an HDF5 file")
    copy(sample_nwb, folder / ".sample.nwb.0123456789ab.ns1nwb-partial.old")
    staging = folder / "sub-x" / ".dandiset.0123456789ab.ns1nwb-partial" / "sub-x"
    staging.mkdir(parents=True)
    copy(sample_nwb, staging / "sub-x_ses-1_ecephys.nwb")  # read, it would be "the same file twice"
    (staging / "._sub-x_ses-1_ecephys.nwb").write_text("x")
    (folder / "sub-x" / "not-a-file.nwb").mkdir()


def test_a_folder_read_ignores_hidden_entries(sample_nwb, tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    copy(sample_nwb, folder / "sample.nwb")
    _hidden_entries(folder, sample_nwb)
    assert nwb_files_in(folder) == [folder / "sample.nwb"]  # what `ns1nwb inspect` lists too
    with ns1nwb.open(folder) as rec, ns1nwb.open(sample_nwb) as alone:
        assert [source for source, _ in rec.files] == [str(folder / "sample.nwb")]
        np.testing.assert_array_equal(rec.response_grid(stimuli=[1]), alone.response_grid(stimuli=[1]))
    result = CliRunner().invoke(cli, ["info", str(folder), "--no-inspect"])
    assert result.exit_code == 0, result.output
    pytest.importorskip("matplotlib")
    result = CliRunner().invoke(cli, ["plot", str(folder), "-u", "0", "-s", "3", "-o", str(tmp_path / "x.png")])
    assert result.exit_code == 0, result.output


def test_a_folder_of_hidden_entries_only_says_so(sample_nwb, tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    _hidden_entries(folder, sample_nwb)
    with pytest.raises(NwbContentError, match=r"folder has no .nwb files \(only hidden entries, ignored: "):
        ns1nwb.open(folder)


def test_a_hidden_folder_given_itself_is_read(sample_nwb, tmp_path):
    """Only names below the folder asked for count: a folder that is itself hidden is read."""
    folder = tmp_path / ".hidden"
    folder.mkdir()
    copy(sample_nwb, folder / "sample.nwb")
    with ns1nwb.open(folder) as rec:
        assert len(rec.units) == 8


# --------------------------------------------------------------------------- URLs (127.0.0.1 only)


@pytest.fixture()
def server(sample_nwb, tmp_path):
    text = tmp_path / "text.bin"
    text.write_text("not hdf5 " * 100)
    with serve_files({"/data/sample.nwb": sample_nwb, "/data/text.nwb": text}) as state:
        yield state


def test_a_url_answering_404_is_one_line(server, tmp_path):
    url = f"{server.base_url}/data/missing.nwb"
    start = time.monotonic()
    with pytest.raises(NwbContentError, match="HTTP 404") as caught:
        ns1nwb.open(url)
    assert time.monotonic() - start < 5 and str(caught.value).startswith(url)
    _one_line_exit_2(CliRunner().invoke(cli, ["info", url]), url)
    pytest.importorskip("matplotlib")
    result = CliRunner().invoke(cli, ["plot", url, "-u", "0", "-s", "0", "-o", str(tmp_path / "x.png")])
    _one_line_exit_2(result, url)


def test_a_url_that_is_not_hdf5_is_one_line(server):
    url = f"{server.base_url}/data/text.nwb"
    with pytest.raises(NwbContentError, match="not an HDF5/NWB file"):
        ns1nwb.open(url)


def test_a_server_ignoring_ranges_is_one_line(server):
    server.ignore_range = True
    url = f"{server.base_url}/data/sample.nwb"
    start = time.monotonic()
    with pytest.raises(NwbContentError, match="byte-range"):
        ns1nwb.open(url)
    assert time.monotonic() - start < 5


def test_nothing_listening_fails_within_seconds():
    url = f"{closed_port_url()}/ns1.nwb"
    start = time.monotonic()
    with pytest.raises(NwbContentError, match="cannot connect") as caught:
        ns1nwb.open(url)
    assert time.monotonic() - start < 5 and str(caught.value).startswith(url)
    start = time.monotonic()
    _one_line_exit_2(CliRunner().invoke(cli, ["info", url]), url)
    assert time.monotonic() - start < 5


def test_a_server_that_never_answers_times_out(monkeypatch):
    """Connected (the kernel accepts into the backlog) but never answered: the read timeout ends it."""
    from ns1nwb.read import remote

    monkeypatch.setenv(remote.TIMEOUT_ENV, "1")  # each request's overall deadline, its tries included
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/ns1.nwb"
        start = time.monotonic()
        with pytest.raises(NwbContentError, match="no answer within") as caught:
            ns1nwb.open(url)
        assert time.monotonic() - start < 4 and str(caught.value).startswith(url)


def test_a_good_url_still_reads_with_timeouts_set(server, sample_nwb):
    with ns1nwb.open(f"{server.base_url}/data/sample.nwb") as remote, ns1nwb.open(sample_nwb) as local:
        np.testing.assert_array_equal(remote.response_grid(units=[2], stimuli=[3]),
                                      local.response_grid(units=[2], stimuli=[3]))
        session = remote.files[0].h5.id  # the file is open
        assert session.valid
    full_gets = [r for r in server.requests if r[0] == "GET" and not r[2]]
    assert not full_gets  # the size comes from a one-range probe: every request is a range


@pytest.mark.parametrize("text, expected", [
    ("http://host/ns1.nwb", True), ("https://host/ns1.nwb", True), ("HTTP://host/ns1.nwb", True),
    ("Https://host/ns1.nwb", True), ("ftp://host/ns1.nwb", False), ("http:/host/ns1.nwb", False),
    ("data/http://x.nwb", False), ("ns1.nwb", False), (Path("http:/host/ns1.nwb"), False),
])
def test_what_is_a_url(text, expected):
    from ns1nwb.read.files import is_url

    assert is_url(text) is expected


def test_an_upper_case_url_is_a_url(server):
    from ns1nwb.info import summarize

    url = f"{server.base_url.replace('http://', 'HTTP://')}/data/sample.nwb"
    with ns1nwb.open(url) as rec:
        assert rec.response_grid(units=[2], stimuli=[3]).shape == (1, 1, 20, 999)
    assert "remote file" in summarize(url, inspect=False).report()
