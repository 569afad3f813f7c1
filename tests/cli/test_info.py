"""``ns1nwb info``: a one-screen summary of a pooled file or a per-session folder."""

from __future__ import annotations

from pathlib import Path

import h5py
import pytest
from click.testing import CliRunner

import ns1nwb
from ns1nwb.cli import cli
from ns1nwb.constants import POOLED_TIMELINE
from ns1nwb.info import summarize


@pytest.fixture(scope="module")
def session_folder(two_block_dandi: Path) -> Path:
    """The --dandi folder of a 2-unit tree: one file per recording block (2 blocks)."""
    return two_block_dandi / "dandiset"


def test_summary_of_the_pooled_file(sample_nwb):
    info = summarize(sample_nwb, inspect=False)
    with ns1nwb.open(sample_nwb) as rec, h5py.File(sample_nwb, "r") as f:
        units = rec.units
        assert info.n_units == len(units) == 8
        assert info.n_good_units == int(units.is_good.sum())
        assert info.n_blocks == units.session_id.nunique()
        assert info.subjects == sorted(set(units.subject_id))
        assert info.n_spikes == int(units.n_spikes.sum())
        assert info.n_trials == f["intervals/trials/id"].shape[0]
        assert info.session_starts == [f["session_start_time"][()].decode()]
    assert (info.n_stimuli, info.n_natural, info.n_with_waveform, info.n_with_spectrogram) == (32, 20, 20, 20)
    assert info.file_size_bytes == sample_nwb.stat().st_size and info.n_files == 1
    assert info.clock == "wall-clock" and info.software.startswith("ns1nwb ")
    assert info.notes.startswith("Converted by ns1nwb")

    report = info.report()
    lines = report.splitlines()
    assert len(lines) <= 24 and max(map(len, lines)) <= 120  # one screen
    for word in ("units", "good", "recording blocks", "subjects", "trials", "stimuli", "with waveform",
                 "spikes", "session start", "clock", "notes", "inspector"):
        assert word in report, word
    assert f"{info.n_spikes:,}" in report and "not run (--no-inspect)" in report
    # A pooled file of several blocks has no real clock, and info says so where users read it.
    assert f"clock            {POOLED_TIMELINE} ({info.n_blocks} blocks end to end" in report


def test_summary_of_a_per_session_folder(session_folder):
    info = summarize(session_folder, inspect=False)
    files = sorted(session_folder.rglob("*.nwb"))
    assert info.n_files == len(files) == 2 and info.n_units == 2 and info.n_blocks == 2
    assert info.file_size_bytes == sum(f.stat().st_size for f in files)
    n_trials = 0
    for file in files:
        with h5py.File(file, "r") as f:
            n_trials += f["intervals/trials/id"].shape[0]
    assert info.n_trials == n_trials == 2 * 460
    report = info.report()
    assert "folder of 2 per-session file(s)" in report and "(2 sessions)" in report
    assert "wall clock (true times, each file its own block)" in report and POOLED_TIMELINE not in report
    assert "(first file)" in report and "48828.125 Hz" in report


def test_a_file_without_is_good_counts_no_good_units(session_folder, tmp_path):
    """A folder whose files disagree (one without ``is_good``, as another writer may leave it): that file's
    units are missing values in ``rec.units.is_good``, counted as not good, and refused as a mask in one line."""
    import shutil

    from readedit import remove_unit_columns

    folder = Path(shutil.copytree(session_folder, tmp_path / "mixed"))
    files = sorted(folder.rglob("*.nwb"))
    counts = []
    for path in files:
        with h5py.File(path, "r") as f:
            counts.append(int(f["units/is_good"][:].sum()))
    remove_unit_columns(files[0], "is_good")
    assert summarize(folder, inspect=False).n_good_units == sum(counts[1:])
    with ns1nwb.open(folder) as rec:
        with pytest.raises(ValueError, match=r"holds 1 missing values .*fillna\(False\)"):
            rec.response_grid(units=rec.units.is_good)
        filled = rec.units.is_good.fillna(False)
        assert rec.response_grid(units=filled, stimuli=[0]).shape[0] == sum(counts[1:])


def test_cli_info_runs_the_inspector(cluster_nwbs):
    """(A 2-unit file without sounds: the sample file is inspected in tests/nwb/test_convert.py.)"""
    default, _, _ = cluster_nwbs
    result = CliRunner().invoke(cli, ["info", str(default)])
    assert result.exit_code == 0, result.output
    assert "inspected 1 file(s) with the DANDI configuration" in result.output
    assert "2 (" in result.output  # units line


@pytest.mark.parametrize("flags, runs", [([], False), (["--inspect"], True), (["--no-inspect"], False)])
def test_cli_info_inspects_a_folder_when_asked(session_folder, flags, runs):
    """On a folder the Inspector (about 2 s a file) runs only when asked, with a bar over the files; the
    note says how to ask."""
    result = CliRunner().invoke(cli, ["info", str(session_folder), *flags])
    assert result.exit_code == 0, result.output
    assert ("inspected 2 file(s) with the DANDI configuration" in result.stdout) is runs
    assert ("inspecting" in result.stderr and "2/2" in result.stderr) is runs  # the bar reaches the end
    if not flags:
        assert "not run on a folder (2 files, about 2 s each): add --inspect" in result.stdout


@pytest.mark.parametrize("which", ["sample", "folder"])
def test_cli_info_units_lists_every_unit(which, sample_nwb, session_folder):
    """``info --units``: one line per unit, its index the one ``--unit`` and ``response_grid`` take, with name,
    subject, session and quality; what the plot error points to."""
    path = sample_nwb if which == "sample" else session_folder
    result = CliRunner().invoke(cli, ["info", str(path), "--units"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header = lines[0].split()
    assert header[:4] == ["unit_name", "subject_id", "session_id", "single_unit_label"]
    with ns1nwb.open(path) as rec:
        units = rec.units
        rows = [line.split() for line in lines[2:]]  # pandas: the header, then the index's name
        assert lines[1].split() == ["index"] and len(rows) == len(units)
        for position, row in enumerate(rows):
            assert row[:4] == [str(position), units.unit_name[position], units.subject_id[position],
                               units.session_id[position]]
            assert row[5] == str(units.is_good[position])
    plot = CliRunner().invoke(cli, ["plot", str(path), "--unit", "99", "--stimulus", "0", "-o", "x.png"])
    assert plot.exit_code == 2 and "`ns1nwb info FILE --units` lists them" in plot.stderr


def test_cli_info_no_inspect_and_errors(session_folder, tmp_path):
    result = CliRunner().invoke(cli, ["info", str(session_folder), "--no-inspect"])
    assert result.exit_code == 0, result.output
    assert "not run (--no-inspect)" in result.output
    missing = CliRunner().invoke(cli, ["info", str(tmp_path / "nope.nwb")])
    assert missing.exit_code == 2 and missing.stderr.startswith("error: ") and missing.stderr.count("\n") == 1
    (tmp_path / "not.nwb").write_text("hello")
    bad = CliRunner().invoke(cli, ["info", str(tmp_path / "not.nwb"), "--no-inspect"])
    assert bad.exit_code == 2 and "not.nwb" in bad.stderr


@pytest.mark.realdata
def test_summary_of_the_real_release(real_nwb):
    info = summarize(real_nwb, inspect=False)
    assert (info.n_units, info.n_good_units, info.n_blocks, info.n_trials) == (119, 73, 15, 6900)
    assert info.subjects == ["dataAC", "exp42", "exp45", "exp53", "exp57"]
    assert info.n_spikes == 3_627_155
    assert (info.n_with_waveform, info.n_with_spectrogram) == (20, 20)
