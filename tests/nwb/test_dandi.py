"""convert --dandi: per-session files in DANDI's layout that `dandi validate` accepts; ns1nwb inspect; a
folder written all or nothing.

The folders are made once per run (tests/conftest.py) and validated once: the 2-block tree's, with its sounds
(``two_block_conversion``), the real release's (``real_dandi``, without its sounds); the 8-unit sample's without
its sounds (``sample_dandi``) is compared with the pooled file. A test that converts a folder of its own
converts the 2-unit tree without wavs (``lean_tree``), where the audio plays no part.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import warnings
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

import ns1nwb
from ns1nwb import Ns1Warning, OutputError, RawFormatError
from ns1nwb.cli import cli
from ns1nwb import convert
from ns1nwb.constants import SPECTROGRAM_FILE, WAV_DIR
from cliharness import ENOSPC, Spy, fault_in_nwb_write, leftovers
from rawedit import truncate, unit_spike_file
from shared import made_once


def _text(values) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def _convert_dandi(raw: Path, folder: Path, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return convert(raw, folder, dandi=True, **kwargs)


def _convert_lean(raw: Path, folder: Path, **kwargs):
    """--dandi of a tree without wavs: the one Ns1Warning says so (any other fails the test)."""
    with pytest.warns(Ns1Warning, match="natural-sound wavs missing"):
        return convert(raw, folder, dandi=True, audio_rate_hz=None, **kwargs)


def _dandi_validate(folder: Path) -> subprocess.CompletedProcess:
    dandi = Path(sys.executable).with_name("dandi")
    env = {**os.environ, "DANDI_NO_ET": "1", "DANDI_CACHE": "ignore"}
    return subprocess.run([str(dandi), "validate", "--min-severity", "ERROR", str(folder)],
                          capture_output=True, text=True, env=env)


@pytest.fixture(scope="session")
def sample_dandi(sample_raw, tmp_path_factory) -> Path:
    """The 8-unit sample tree (3 blocks of 1-4 units) without its sounds, converted with --dandi: the folder."""
    def make(base: Path) -> Path:
        raw = shutil.copytree(sample_raw, base / "raw", ignore=shutil.ignore_patterns(WAV_DIR, SPECTROGRAM_FILE))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its wavs are missing
            convert(raw, base / "000000", dandi=True)
        return base / "000000"

    return made_once(tmp_path_factory, "sample_dandi", make)


def test_layout_one_file_per_block(two_block_conversion):
    base, result = two_block_conversion
    folder = base / "dandiset"
    files = sorted(folder.rglob("*.nwb"))
    release = ns1nwb.read_raw_tree(base / "raw")
    assert len(files) == len(release.recording_blocks) == result.n_sessions
    assert sorted(result.output_paths) == files
    for file in files:
        subject = file.parent.name.removeprefix("sub-")
        assert file.name.startswith(f"sub-{subject}_ses-") and file.name.endswith("_ecephys.nwb")
        with h5py.File(file, "r") as f:
            assert f["general/subject/subject_id"][()].decode() == subject
            assert set(_text(f["units/subject_id"][:])) == {subject}
            session = f["general/session_id"][()].decode()
            assert f"_ses-{session}_" in file.name
            assert set(_text(f["intervals/trials/session_id"][:])) == {session}
            assert len(f["intervals/trials/id"]) == 460
            # The block's real start: its first raw onset, and the first trial at 0 s.
            first = min(_text(f["intervals/trials/onset_timestamp"][:]))
            start = datetime.strptime(first, "%Y%m%d-%H%M%S%f").replace(tzinfo=ZoneInfo("Europe/London"))
            assert datetime.fromisoformat(f["session_start_time"][()].decode()) == start
            assert f["intervals/trials/start_time"][0] == 0.0
            assert len(f["stimulus/templates"]) == 40
            # Provenance: this block's spike files only, with their checksums.
            sources = _text(f["processing/provenance/source_files/file_name"][:])
            spike_sources = [s for s in sources if s.endswith(".data.mat")]
            assert sorted(spike_sources) == sorted("spikesandwav/" + p for p in _text(f["units/spike_file"][:]))
    assert (folder / "dandiset.yaml").read_text().startswith("identifier: DANDI:000000")


def test_dandi_validate_accepts_the_folder(two_block_dandi):
    """The folder of files with their sounds and a dandiset.yaml (the real release's without sounds: below)."""
    result = _dandi_validate(two_block_dandi / "dandiset")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ERROR" not in result.stdout


def test_folder_reads_like_the_pooled_file(sample_dandi, sample_nwb):
    with ns1nwb.open(sample_nwb) as pooled, ns1nwb.open(sample_dandi) as sessions:
        np.testing.assert_array_equal(pooled.response_grid(), sessions.response_grid())
        np.testing.assert_array_equal(pooled.response_grid(stimuli=range(20, 32)),
                                      sessions.response_grid(stimuli=range(20, 32)))
        assert list(pooled.units.unit_name) == list(sessions.units.unit_name)
        np.testing.assert_allclose(pooled.trial_spike_times_ms(3, 7, 2), sessions.trial_spike_times_ms(3, 7, 2),
                                   atol=1e-9)


def test_identifiers_are_stable_and_distinct(lean_tree, tmp_path):
    folder, again = tmp_path / "first", tmp_path / "again"
    _convert_lean(lean_tree, folder)
    _convert_lean(lean_tree, again)

    def identifiers(root: Path) -> dict[str, str]:
        found = {}
        for file in root.rglob("*.nwb"):
            with h5py.File(file, "r") as f:
                found[file.name] = f["identifier"][()].decode()
        return found

    first, second = identifiers(folder), identifiers(again)
    assert first == second
    assert len(set(first.values())) == len(first)


def test_keeps_other_files_and_refuses_to_replace(lean_tree, tmp_path):
    folder = tmp_path / "dandiset"
    folder.mkdir()
    (folder / "dandiset.yaml").write_text("identifier: DANDI:123456\n")
    _convert_lean(lean_tree, folder)
    assert (folder / "dandiset.yaml").read_text() == "identifier: DANDI:123456\n"
    with pytest.raises(OutputError, match="--overwrite"):
        _convert_lean(lean_tree, folder)
    _convert_lean(lean_tree, folder, overwrite=True)
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


def test_subject_metadata_per_ferret(lean_tree, tmp_path):
    metadata = tmp_path / "meta.yaml"
    metadata.write_text("subjects:\n  exp45:\n    sex: F\n    age: P8M\n    weight: 0.7 kg\n    description: Jill\n")
    result = _convert_lean(lean_tree, tmp_path / "out", metadata_path=metadata)
    assert result.defaulted_subject_fields["exp45"] == []
    assert result.defaulted_subject_fields["exp57"] == ["sex", "age", "weight", "description"]
    (exp45,) = [p for p in result.output_paths if p.parent.name == "sub-exp45"][:1]
    with h5py.File(exp45, "r") as f:
        assert f["general/subject/sex"][()].decode() == "F"
        assert f["general/subject/age"][()].decode() == "P8M"
    lines = result.summary().splitlines()  # a line per ferret left at a default
    assert "  exp57  sex, age, weight, description" in lines and not any("exp45" in line for line in lines[1:])


def test_inspect_command(cluster_dandi, tmp_path):
    """``ns1nwb inspect`` on a folder of a session file (a ferret's folder of the --all-clusters dandiset; the
    files with sounds are inspected by ``dandi validate`` above), then on a file the Inspector finds CRITICAL."""
    folder = cluster_dandi / "sub-exp57"
    assert len(list(folder.rglob("*.nwb"))) == 1
    result = CliRunner().invoke(cli, ["inspect", str(folder)])
    assert result.exit_code == 0, result.output
    assert "CRITICAL" not in result.output and "inspected" in result.output

    # A file whose spike times are obviously not in seconds is CRITICAL: exit 1.
    from pynwb import NWBHDF5IO, NWBFile

    bad = NWBFile(session_description="bad", identifier="bad", session_start_time=datetime(2020, 1, 1,
                                                                                            tzinfo=ZoneInfo("UTC")))
    bad.add_unit(spike_times=[0.0, 5e7])
    with NWBHDF5IO(tmp_path / "bad.nwb", "w") as io:
        io.write(bad)
    result = CliRunner().invoke(cli, ["inspect", str(tmp_path / "bad.nwb")])
    assert result.exit_code == 1 and "CRITICAL" in result.output


@pytest.mark.realdata
def test_real_release_dandi_folder(real_dandi, tmp_path):
    """The real release's --dandi folder: a file per recording block, as many per ferret as it has blocks, and
    ``dandi validate`` (pynwb's validation, the Inspector on every file, DANDI's layout) accepts it.

    Validated: ``dandiset.yaml`` and two of the five ferrets, one session file each (hard links): every file
    is the same code path, and validating all 15 cost 20 s of the suite's 2 minutes."""
    result = real_dandi
    folder = result.output_paths[0].parents[1]
    assert result.n_sessions == 15 and len(result.output_paths) == 15
    assert sorted(folder.rglob("*.nwb")) == sorted(result.output_paths)
    subjects = [p.parent.name for p in result.output_paths]
    assert {s: subjects.count(s) for s in set(subjects)} == {
        "sub-dataAC": 3, "sub-exp42": 2, "sub-exp45": 5, "sub-exp53": 1, "sub-exp57": 4}
    kept = {"sub-dataAC", "sub-exp53"}
    part = Path(shutil.copytree(folder, tmp_path / folder.name, copy_function=os.link, ignore=lambda parent, names: [
        name for name in names if Path(parent) == folder and name.startswith("sub-") and name not in kept]))
    for extra in sorted((part / "sub-dataAC").glob("*.nwb"))[1:]:
        extra.unlink()
    assert len(list(part.rglob("*.nwb"))) == 2 and (part / "dandiset.yaml").is_file()
    validation = _dandi_validate(part)
    assert validation.returncode == 0, validation.stdout + validation.stderr


@pytest.mark.realdata
def test_real_release_dandi_folder_reads_like_the_pooled_file(real_dandi, real_nwb):
    folder = real_dandi.output_paths[0].parents[1]
    with ns1nwb.open(real_nwb) as pooled, ns1nwb.open(folder) as sessions:
        np.testing.assert_array_equal(pooled.response_grid(), sessions.response_grid())


# --------------------------------------------------------------------------- all files or none
#
# These rows were ``ns1nwb convert --dandi`` runs (tests/test_faults.py); the command line prints the errors
# as one ``error:`` line (tests/cli/test_faults.py, tests/cli/test_output_safety.py).


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _disk_full(monkeypatch, folder: Path, on_call: int = 2) -> Spy:
    spy = Spy(folder)
    fault_in_nwb_write(monkeypatch, spy, OSError(errno.ENOSPC, ENOSPC), on_call=on_call)
    return spy


def test_a_failed_second_session_changes_nothing(lean_tree, out_dir, monkeypatch):
    """A dandiset converted once; a re-run with --overwrite whose second session hits a full disk changes
    nothing."""
    dandiset = out_dir / "000000"
    dandiset.mkdir()
    (dandiset / "dandiset.yaml").write_text("identifier: DANDI:000000\nname: mine, do not touch\n")
    (dandiset / "README.md").write_text("other files stay\n")
    _convert_lean(lean_tree, dandiset)
    before = _files(dandiset)
    sessions = [name for name in before if name.endswith(".nwb")]
    assert len(sessions) == 2

    spy = _disk_full(monkeypatch, dandiset)
    with pytest.raises(OutputError, match=f"{ENOSPC}") as caught:
        _convert_lean(lean_tree, dandiset, overwrite=True)
    assert str(dandiset) in str(caught.value) and "\n" not in str(caught.value)
    # The fault struck mid-way, with the first session complete in the staging folder.
    assert spy.calls == 2
    assert _files(dandiset) == before
    assert leftovers(dandiset) == [] and sorted(p.name for p in dandiset.iterdir()) == \
        sorted(["README.md", "dandiset.yaml", *{Path(s).parts[0] for s in sessions}])


def test_a_failed_second_session_leaves_no_session_files(lean_tree, out_dir, monkeypatch):
    dandiset = out_dir / "000000"
    dandiset.mkdir()
    (dandiset / "dandiset.yaml").write_text("identifier: DANDI:000000\n")
    before = _files(dandiset)
    spy = _disk_full(monkeypatch, dandiset)
    with pytest.raises(OutputError, match=f"{ENOSPC}") as caught:
        _convert_lean(lean_tree, dandiset, dandiset_id="000001")
    assert str(dandiset) in str(caught.value)
    assert spy.calls == 2
    assert _files(dandiset) == before and [p.name for p in dandiset.iterdir()] == ["dandiset.yaml"]


def test_ctrl_c_in_the_second_session(lean_tree, out_dir, monkeypatch):
    dandiset = out_dir / "000000"
    dandiset.mkdir()
    (dandiset / "dandiset.yaml").write_text("identifier: DANDI:000000\n")
    fault_in_nwb_write(monkeypatch, Spy(dandiset), KeyboardInterrupt(), on_call=2)
    with pytest.raises(KeyboardInterrupt):
        _convert_lean(lean_tree, dandiset)
    assert [p.name for p in dandiset.iterdir()] == ["dandiset.yaml"]


def test_bad_raw_input_leaves_the_dandiset_untouched(tree, out_dir):
    dandiset = out_dir / "000000"
    dandiset.mkdir()
    (dandiset / "dandiset.yaml").write_text("identifier: DANDI:000000\n")
    spike_file = unit_spike_file(tree, 1)
    truncate(spike_file)
    with pytest.raises(RawFormatError, match="not a readable MAT") as caught:
        _convert_dandi(tree, dandiset, audio_rate_hz=None)
    assert str(spike_file) in str(caught.value)
    assert _files(dandiset) == {"dandiset.yaml": b"identifier: DANDI:000000\n"}


def test_output_problems(tree, out_dir):
    target = out_dir / "missing-parent" / "000000"
    with pytest.raises(OutputError, match="does not exist") as caught:
        _convert_dandi(tree, target, audio_rate_hz=None)
    assert str(target) in str(caught.value) and not target.exists()
    a_file = out_dir / "000000"
    a_file.write_text("a file, not a folder")
    with pytest.raises(OutputError, match="not a folder") as caught:
        _convert_dandi(tree, a_file, audio_rate_hz=None)
    assert str(a_file) in str(caught.value)
    assert a_file.read_text() == "a file, not a folder"


def test_a_failure_into_a_new_folder_leaves_nothing(lean_tree, out_dir, monkeypatch):
    dandiset = out_dir / "000000"
    _disk_full(monkeypatch, out_dir)
    with pytest.raises(OutputError, match=f"{ENOSPC}") as caught:
        _convert_lean(lean_tree, dandiset)
    assert str(dandiset) in str(caught.value)
    assert not dandiset.exists() and leftovers(out_dir) == []
